/* ctl.c — framing of control messages over SOCK_SEQPACKET (see ctl.h). */
#include "common/ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xpc/xpc.h>

#include "common/fdpass.h"

int ctl_send(int sock, uint16_t type, uint32_t seq, uint32_t status, void *payload_dict, const int *fds, int nfds)
{
	struct ctl_hdr hdr = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = type, .seq = seq, .status = status };
	FDPASS_BUF(CTL_MAX_FDS) cm;
	struct iovec iov[2];
	struct msghdr msg = { 0 };
	void *body = NULL;
	size_t blen = 0;
	ssize_t n;

	if (nfds < 0 || nfds > CTL_MAX_FDS)
		return -EINVAL;
	if (payload_dict) {
		body = xpc_vmnet_encode(payload_dict, &blen);
		if (!body)
			return -EINVAL;
		if (blen > CTL_MAX_MSG - sizeof(hdr)) {
			free(body);
			return -EMSGSIZE;
		}
	}
	hdr.len = (uint32_t)blen;
	iov[0] = (struct iovec){ .iov_base = &hdr, .iov_len = sizeof(hdr) };
	iov[1] = (struct iovec){ .iov_base = body, .iov_len = blen };
	msg.msg_iov = iov;
	msg.msg_iovlen = blen ? 2 : 1;
	fdpass_attach(&msg, cm.buf, fds, (size_t)nfds);
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	free(body);
	if (n < 0)
		return -errno;
	return 0;
}

/* Collect SCM_RIGHTS descriptors; close any beyond what the caller can take. */
static void take_fds(struct msghdr *msg, int *fds, int *nfds)
{
	struct cmsghdr *c;

	*nfds = 0;
	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fds && *nfds < CTL_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
}

static void close_fds(int *fds, int *nfds)
{
	for (int i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

int ctl_recv(int sock, struct ctl_hdr *hdr, void **payload, int *fds, int *nfds)
{
	FDPASS_BUF(CTL_MAX_FDS * 2) cm;
	int dummy_n = 0;
	int *pn = nfds ? nfds : &dummy_n;
	struct iovec iov;
	struct msghdr msg = { 0 };
	uint8_t *buf;
	ssize_t n;

	*payload = NULL;
	*pn = 0;
	buf = malloc(CTL_MAX_MSG);
	if (!buf)
		return -ENOMEM;
	iov = (struct iovec){ .iov_base = buf, .iov_len = CTL_MAX_MSG };
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int r = -errno;

		free(buf);
		return r;
	}
	take_fds(&msg, fds, pn);
	if (n == 0) {
		free(buf);
		close_fds(fds, pn);
		return -ECONNRESET;
	}
	if ((size_t)n < sizeof(*hdr) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		goto bad;
	memcpy(hdr, buf, sizeof(*hdr));
	if (hdr->magic != CTL_MAGIC || hdr->len != (size_t)n - sizeof(*hdr))
		goto bad;
	if (hdr->version != CTL_VERSION) {
		free(buf);
		close_fds(fds, pn);
		return -EPROTONOSUPPORT;
	}
	if (hdr->len)
		*payload = xpc_vmnet_decode(buf + sizeof(*hdr), hdr->len);
	else
		*payload = xpc_dictionary_create_empty();
	if (!*payload || xpc_get_type(*payload) != XPC_TYPE_DICTIONARY) {
		if (*payload)
			xpc_release(*payload);
		*payload = NULL;
		goto bad;
	}
	free(buf);
	return 0;
bad:
	free(buf);
	close_fds(fds, pn);
	return -EPROTO;
}
