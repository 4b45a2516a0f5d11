/* forward.c — CTL_FORWARD: port forwarding (placeholder until it lands; see daemon.h). */
#include "daemon/daemon.h"
#include <vmnet/vmnet.h>

void forward_handle(struct conn *c, const struct ctl_hdr *h, void *dict)
{
	(void)dict;
	control_reply_error(c, h, VMNET_INVALID_ARGUMENT, "port forwarding is not available in this release yet");
}
