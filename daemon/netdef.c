/* netdef.c — CTL_NETWORK: network objects and named networks (placeholder; see daemon.h). */
#include "daemon/daemon.h"
#include <vmnet/vmnet.h>

void netdef_handle(struct conn *c, const struct ctl_hdr *h, void *dict, int *fds, int nfds)
{
	(void)dict, (void)fds, (void)nfds;
	control_reply_error(c, h, VMNET_FAILURE, "network objects are not available in this release yet");
}

void netdef_conn_closed(struct conn *c)
{
	(void)c;
}
