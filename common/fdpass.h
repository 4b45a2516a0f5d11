/*
 * fdpass.h — descriptors attached to a message on a UNIX socket (SCM_RIGHTS):
 * the control protocol, the vhost-user front-ends of the benchmark and the
 * fuzzer, and the hostile test client all send them the same way.
 */
#ifndef VMNET_COMMON_FDPASS_H
#define VMNET_COMMON_FDPASS_H

#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

/* A control-data buffer with room for n descriptors, aligned for a cmsghdr. */
#define FDPASS_BUF(n)                                                                                                  \
	union {                                                                                                        \
		char buf[CMSG_SPACE(sizeof(int) * (n))];                                                                \
		struct cmsghdr align;                                                                                  \
	}

/* Attach nfds descriptors to m as one SCM_RIGHTS message in buf, which has room for them
 * (an FDPASS_BUF of at least nfds). nfds 0: m carries no control data. */
static inline void fdpass_attach(struct msghdr *m, void *buf, const int *fds, size_t nfds)
{
	struct cmsghdr *c;

	if (!nfds) {
		m->msg_control = NULL;
		m->msg_controllen = 0;
		return;
	}
	memset(buf, 0, CMSG_SPACE(sizeof(int) * nfds));
	m->msg_control = buf;
	m->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	c = CMSG_FIRSTHDR(m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
}

#endif
