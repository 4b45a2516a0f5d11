/*
 * port_dgram.c — one Ethernet frame per datagram on a UNIX datagram socket.
 *
 * Theory of operation. vmnetd binds the attachment's path; the VMM sends
 * each frame as one datagram to it, with no header. Frames are read in
 * batches of DGRAM_BATCH with recvmmsg into one static area (the daemon is
 * single-threaded and the switch copies what it keeps) and sent in batches
 * with sendmmsg at the end of the switch's batch.
 *
 * Who the peer is. A datagram socket has no connection, so the port learns
 * its peer from the source address of what arrives, and answers to the last
 * address it heard from:
 *  - QEMU `-netdev dgram,local.type=unix,local.path=L,remote.type=unix,
 *    remote.path=OURS` binds L and sends from it: L is the peer;
 *  - vfkit/krunkit bind a path of their own, connect to ours and send the
 *    4-byte hello "VFKT" first (dropped here, but it teaches us the peer
 *    before the guest has said anything).
 * A sender without a bound address cannot be answered: its datagrams are
 * dropped with a log line. A datagram from another address than the current
 * peer makes that address the peer (a restarted VMM), so one attachment
 * serves one VM at a time. Until a peer is known, frames for it are dropped.
 *
 * Back-pressure. AF_UNIX datagrams queue in the receiver, which accepts at
 * most net.unix.max_dgram_qlen of them (10 by default); beyond that a send
 * fails with EAGAIN. Frames that did not go out wait in a queue of DGRAM_TXQ
 * frames; to learn when the peer has read, the socket is connected to the
 * peer while it is backed up (only then does poll report a full peer) and
 * EPOLLOUT is armed; once the queue is empty the socket is disconnected
 * again (AF_UNSPEC), so that a restarted VMM can reach it. A full queue drops
 * and counts; the switch never waits. A peer that went away (ECONNREFUSED,
 * ENOENT) is forgotten and its queue dropped.
 */
#include "engine/port_dgram.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/switch.h"

/* recvmmsg calls per wakeup, so that one busy VM cannot starve the others. */
#define DGRAM_READS 4
/* Socket buffers asked for (the kernel caps them at net.core.[rw]mem_max). */
#define DGRAM_SOCKBUF (4 * 1024 * 1024)
#define DGRAM_SLOT (DGRAM_MAX_FRAME + 2) /* one byte more than the largest frame: MSG_TRUNC tells the rest */

_Static_assert((DGRAM_TXQ & (DGRAM_TXQ - 1)) == 0, "DGRAM_TXQ must be a power of two");
_Static_assert(DGRAM_BATCH <= DGRAM_TXQ, "a send batch comes from the queue");

struct port_dgram {
	struct port base; /* first: struct port * <-> struct port_dgram * */
	struct loop_src src;
	int fd;
	struct sockfile sf;
	struct sockaddr_un peer;
	socklen_t peer_len;   /* 0: no peer yet */
	bool connected;       /* connected to the peer while it is backed up; EPOLLOUT armed */
	uint32_t tx_head, tx_count;
	uint32_t tx_len[DGRAM_TXQ];
	uint8_t *tx;          /* DGRAM_TXQ slots of base.max_frame bytes */
	uint64_t logged_at;   /* rate limit: one line per second per port */
};

/* The receive area, shared by all dgram ports (one thread, consumed before the next read). */
static uint8_t rx_area[DGRAM_BATCH][DGRAM_SLOT];
static struct sockaddr_un rx_from[DGRAM_BATCH];

static bool may_log(struct port_dgram *pd)
{
	if (pd->logged_at == engine_now_sec)
		return false;
	pd->logged_at = engine_now_sec;
	return true;
}

static const char *addr_text(const struct sockaddr_un *sa, socklen_t len, char *buf, size_t size)
{
	size_t n = len - offsetof(struct sockaddr_un, sun_path);

	if (len <= offsetof(struct sockaddr_un, sun_path))
		return "(unbound)";
	if (sa->sun_path[0] == 0) /* abstract */
		snprintf(buf, size, "@%.*s", (int)(n - 1), sa->sun_path + 1);
	else
		snprintf(buf, size, "%.*s", (int)strnlen(sa->sun_path, n), sa->sun_path);
	return buf;
}

/* Stop waiting for a backed-up peer: disconnect so that any VMM may send to us again. */
static void dgram_unconnect(struct port_dgram *pd)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	if (!pd->connected)
		return;
	(void)connect(pd->fd, &sa, sizeof(sa));
	(void)loop_mod(&pd->src, EPOLLIN);
	pd->connected = false;
}

static void dgram_forget_peer(struct port_dgram *pd, int err)
{
	char a[sizeof(pd->peer.sun_path) + 2];

	if (may_log(pd))
		log_info("dgram %s: peer %s is gone (%s); waiting for a new one", pd->base.name,
			 addr_text(&pd->peer, pd->peer_len, a, sizeof(a)), strerror(err));
	pd->base.st.tx_drops += pd->tx_count;
	pd->tx_count = 0;
	pd->peer_len = 0;
	dgram_unconnect(pd);
}

/* Send what is queued, DGRAM_BATCH at a time, until the peer is full. */
static void dgram_send(struct port_dgram *pd)
{
	struct mmsghdr mm[DGRAM_BATCH];
	struct iovec iov[DGRAM_BATCH];

	while (pd->tx_count && pd->peer_len) {
		unsigned n = pd->tx_count < DGRAM_BATCH ? pd->tx_count : DGRAM_BATCH;
		int sent;

		for (unsigned i = 0; i < n; i++) {
			uint32_t slot = (pd->tx_head + i) & (DGRAM_TXQ - 1);

			iov[i] = (struct iovec){ pd->tx + (size_t)slot * pd->base.max_frame, pd->tx_len[slot] };
			mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &pd->peer, .msg_namelen = pd->peer_len,
							       .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		sent = sendmmsg(pd->fd, mm, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS) {
				/* The peer's queue is full: connect to it so that poll tells us when it has read. */
				if (!pd->connected && connect(pd->fd, (struct sockaddr *)&pd->peer, pd->peer_len) == 0 &&
				    loop_mod(&pd->src, EPOLLIN | EPOLLOUT) == 0)
					pd->connected = true;
				if (!pd->connected) { /* cannot wait for it: drop rather than spin */
					pd->base.st.tx_drops += pd->tx_count;
					pd->tx_count = 0;
				}
				return;
			}
			if (errno == EMSGSIZE) { /* the peer's buffer is smaller than this frame: drop it */
				pd->base.st.tx_drops++;
				pd->tx_head = (pd->tx_head + 1) & (DGRAM_TXQ - 1);
				pd->tx_count--;
				continue;
			}
			dgram_forget_peer(pd, errno);
			return;
		}
		pd->tx_head = (pd->tx_head + (uint32_t)sent) & (DGRAM_TXQ - 1);
		pd->tx_count -= (uint32_t)sent;
	}
	if (!pd->tx_count)
		dgram_unconnect(pd);
}

static int dgram_output(struct port *p, const struct frame *f)
{
	struct port_dgram *pd = (struct port_dgram *)p;
	uint32_t slot;

	if (!pd->peer_len)
		return -ENOBUFS; /* nobody to send to yet */
	if (pd->tx_count == DGRAM_TXQ && !pd->connected)
		dgram_send(pd); /* a big batch: make room while the peer takes more */
	if (pd->tx_count == DGRAM_TXQ || f->len > p->max_frame)
		return -ENOBUFS;
	slot = (pd->tx_head + pd->tx_count) & (DGRAM_TXQ - 1);
	memcpy(pd->tx + (size_t)slot * p->max_frame, f->data, f->len);
	pd->tx_len[slot] = f->len;
	pd->tx_count++;
	return 0;
}

static void dgram_flush(struct port *p)
{
	struct port_dgram *pd = (struct port_dgram *)p;

	if (!pd->connected)
		dgram_send(pd);
}

/* A datagram from `from`: make it the peer if it is a new one. Return: false to drop the datagram. */
static bool dgram_learn(struct port_dgram *pd, const struct sockaddr_un *from, socklen_t len)
{
	char a[sizeof(from->sun_path) + 2];

	if (len <= offsetof(struct sockaddr_un, sun_path) || len > sizeof(*from)) {
		if (may_log(pd))
			log_info("dgram %s: datagram from a socket without an address dropped (the VMM must bind a "
				 "path of its own, e.g. QEMU's local.path)",
				 pd->base.name);
		pd->base.st.rx_errors++;
		return false;
	}
	if (len == pd->peer_len && !memcmp(from, &pd->peer, len))
		return true;
	pd->tx_count = 0; /* frames queued for the previous peer */
	dgram_unconnect(pd);
	memcpy(&pd->peer, from, len);
	pd->peer_len = len;
	log_info("dgram %s: peer is %s", pd->base.name, addr_text(from, len, a, sizeof(a)));
	return true;
}

static void dgram_input(struct port_dgram *pd, unsigned n, struct mmsghdr *mm)
{
	struct port *p = &pd->base;

	for (unsigned i = 0; i < n; i++) {
		uint32_t len = mm[i].msg_len;
		struct frame f = { .data = rx_area[i], .len = len };

		if (!dgram_learn(pd, &rx_from[i], mm[i].msg_hdr.msg_namelen))
			continue;
		if (len == 4 && !memcmp(rx_area[i], DGRAM_VFKIT_MAGIC, 4))
			continue; /* vfkit's hello: it only introduced the peer */
		if (len < 14 || len > p->max_frame || (mm[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			p->st.rx_errors++;
			if (may_log(pd))
				log_info("dgram %s: %u-byte datagram dropped (frames are 14 to %u bytes)", p->name, len,
					 p->max_frame);
			continue;
		}
		switch_input(p->net, p, &f);
	}
}

static void dgram_event(struct loop_src *s, uint32_t events)
{
	struct port_dgram *pd = s->obj;
	struct mmsghdr mm[DGRAM_BATCH];
	struct iovec iov[DGRAM_BATCH];

	if (events & EPOLLOUT)
		dgram_send(pd);
	for (int round = 0; round < DGRAM_READS && (events & (EPOLLIN | EPOLLERR)); round++) {
		int n;

		for (unsigned i = 0; i < DGRAM_BATCH; i++) {
			iov[i] = (struct iovec){ rx_area[i], DGRAM_SLOT };
			mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &rx_from[i], .msg_namelen = sizeof(rx_from[i]),
							       .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		n = recvmmsg(pd->fd, mm, DGRAM_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR && may_log(pd))
				log_info("dgram %s: receive: %m", pd->base.name);
			break;
		}
		dgram_input(pd, (unsigned)n, mm);
		switch_flush(pd->base.net);
		if (n < DGRAM_BATCH)
			break;
	}
}

static void dgram_destroy(struct port *p)
{
	struct port_dgram *pd = (struct port_dgram *)p;

	loop_del(&pd->src);
	close(pd->fd);
	sockfile_remove(&pd->sf);
	free(pd->tx);
	loop_defer_free(pd);
}

static const struct port_ops dgram_ops = {
	.kind = "dgram",
	.output = dgram_output,
	.flush = dgram_flush,
	.destroy = dgram_destroy,
};

int port_dgram_new(int fd, struct sockfile *sf, const char *name, uint32_t max_frame, struct port **out)
{
	struct port_dgram *pd = calloc(1, sizeof(*pd));
	int v = DGRAM_SOCKBUF;

	if (max_frame > DGRAM_MAX_FRAME)
		max_frame = DGRAM_MAX_FRAME;
	if (pd)
		pd->tx = malloc((size_t)DGRAM_TXQ * max_frame);
	if (!pd || !pd->tx) {
		if (pd)
			free(pd);
		close(fd);
		sockfile_remove(sf);
		return -ENOMEM;
	}
	pd->fd = fd;
	pd->sf = *sf;
	sf->dirfd = -1; /* ours now */
	pd->base.ops = &dgram_ops;
	pd->base.max_frame = max_frame;
	snprintf(pd->base.name, sizeof(pd->base.name), "%s", name);
	pd->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = pd, .cb = dgram_event };
	/* Best effort: the defaults work, only slower. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	*out = &pd->base;
	return 0;
}

int port_dgram_start(struct port *p)
{
	return loop_add(&((struct port_dgram *)p)->src, EPOLLIN);
}

bool port_is_dgram(const struct port *p)
{
	return p->ops == &dgram_ops;
}
