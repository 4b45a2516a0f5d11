/*
 * client.h — how libvmnet finds (and if need be starts) vmnetd, and one
 * request/reply exchange on a control connection.
 */
#ifndef VMNET_LIB_CLIENT_H
#define VMNET_LIB_CLIENT_H

#include <stdint.h>

#include "common/ctl.h"

#define CLIENT_SYSTEM_SOCKET "/run/vmnet/vmnetd.sock"
#define CLIENT_REPLY_TIMEOUT_MS 10000 /* a wedged daemon yields -ETIMEDOUT, never a hang */
#define CLIENT_AUTOSTART_WAIT_MS 5000
#define CLIENT_IDLE_TIMEOUT "30"

/*
 * Connect a new SOCK_SEQPACKET control connection to vmnetd.
 *
 * Order: $VMNET_SOCKET alone when set (no fallback; autostart there only with
 * VMNET_AUTOSTART=1); else the system socket, then the per-user socket
 * ($XDG_RUNTIME_DIR/vmnet/vmnetd.sock or /tmp/vmnet-UID/vmnetd.sock). When
 * none answers, a per-user vmnetd is started (root: the system daemon) and
 * connected to, waiting up to 5 s for it.
 * Return: 0 with *fd set (close-on-exec), or -errno.
 */
int client_connect(int *fd);

/*
 * Send one request and wait (10 s at most) for its reply; other messages are
 * discarded. fds/nfds receive the reply's descriptors (may be NULL: they are
 * closed); *reply_payload is a new dictionary the caller releases.
 * Return: 0, -ETIMEDOUT, -ECONNRESET when the daemon closed the connection,
 * or another -errno.
 */
int client_request(int fd, uint16_t type, void *payload, struct ctl_hdr *reply_hdr, void **reply_payload, int *fds,
		   int *nfds);

/* Write the per-user socket path into buf. Return: 0 or -ENAMETOOLONG. */
int client_user_socket_path(char *buf, size_t len);

#endif
