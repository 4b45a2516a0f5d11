/* attach_sock.c — CTL_ATTACH_SOCKET: VMM socket attachments (placeholder; see daemon.h). */
#include <vmnet/vmnet.h>

#include "daemon/daemon.h"

void attach_sock_handle(struct conn *c, const struct ctl_hdr *h, void *dict, int *fds, int nfds)
{
	(void)dict, (void)fds, (void)nfds;
	control_reply_error(c, h, VMNET_FAILURE, "socket attachments are not available in this release yet");
}
