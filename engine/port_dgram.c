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
 * How answers go out. A datagram sent with a destination path costs the
 * kernel a path walk per datagram (unix_find_other): 1.6 us per 64-byte
 * send against 0.7 us on a connected socket, measured on a 2-vCPU VM, and a
 * quarter of vmnetd's time when it forwarded dgram to dgram that way. So the
 * port sends from a second socket of its own, unbound and connected to the
 * peer (`direct`): the path is looked up once, when the peer is learned, and
 * the bound socket stays unconnected, so that any VMM can reach it at any
 * time. QEMU does not look at where a datagram comes from. A peer that
 * connected its socket to ours (vfkit, krunkit) takes datagrams from our
 * bound socket only: connecting to it fails with EPERM, and its frames go
 * out from the bound socket with the peer's address on every datagram.
 *
 * Back-pressure. AF_UNIX datagrams queue in the receiver, which accepts at
 * most net.unix.max_dgram_qlen of them (10 by default); beyond that a send
 * fails with EAGAIN. Frames that did not go out wait in a queue of DGRAM_TXQ
 * frames and the port waits for EPOLLOUT (`waiting`): on the sending socket,
 * which is connected, so poll reports a full peer; or, sending from the bound
 * socket, by connecting that one to the peer while it is backed up and
 * disconnecting it (AF_UNSPEC) once the queue is empty, so that a restarted
 * VMM can reach it again. A full queue drops and counts; the switch never
 * waits. A peer that went away (ECONNREFUSED, ENOENT) is forgotten and its
 * queue dropped; when the connected socket's peer closed, its path is looked
 * up once more first, since a restarted VMM binds the same path again.
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
	struct loop_src src;     /* the bound socket: frames in, EPOLLOUT while waiting and not direct */
	struct loop_src out_src; /* the sending socket: EPOLLOUT while waiting and direct */
	int fd;                  /* bound to the attachment's path */
	int out_fd;              /* unbound; connected to the peer while direct */
	struct sockfile sf;
	struct sockaddr_un peer;
	socklen_t peer_len;   /* 0: no peer yet */
	bool direct;          /* frames leave from out_fd, connected to the peer (else from fd, addressed) */
	bool waiting;         /* the peer is backed up: EPOLLOUT armed (fd connected to it when not direct) */
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

static void dgram_disconnect(int fd)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	(void)connect(fd, &sa, sizeof(sa));
}

/* The peer is backed up: ask for EPOLLOUT. Return: false when we cannot wait for it. */
static bool dgram_wait(struct port_dgram *pd)
{
	if (pd->direct)
		pd->waiting = loop_mod(&pd->out_src, EPOLLOUT) == 0;
	else /* only a connected socket hears from poll that its peer has room again */
		pd->waiting = connect(pd->fd, (struct sockaddr *)&pd->peer, pd->peer_len) == 0 &&
			      loop_mod(&pd->src, EPOLLIN | EPOLLOUT) == 0;
	return pd->waiting;
}

/* Stop waiting for a backed-up peer (and let any VMM send to the bound socket again). */
static void dgram_stop_waiting(struct port_dgram *pd)
{
	if (!pd->waiting)
		return;
	if (pd->direct) {
		(void)loop_mod(&pd->out_src, 0);
	} else {
		dgram_disconnect(pd->fd);
		(void)loop_mod(&pd->src, EPOLLIN);
	}
	pd->waiting = false;
}

/* Choose where frames for the (new) peer leave from: out_fd connected to it when it takes that. */
static void dgram_route(struct port_dgram *pd)
{
	dgram_stop_waiting(pd);
	pd->direct = connect(pd->out_fd, (struct sockaddr *)&pd->peer, pd->peer_len) == 0;
	if (!pd->direct) /* EPERM: the peer is connected to our bound socket; else it is gone (see the send) */
		dgram_disconnect(pd->out_fd);
}

static void dgram_forget_peer(struct port_dgram *pd, int err)
{
	char a[sizeof(pd->peer.sun_path) + 2];

	if (may_log(pd))
		log_info("dgram %s: peer %s is gone (%s); waiting for a new one", pd->base.name,
			 addr_text(&pd->peer, pd->peer_len, a, sizeof(a)), strerror(err));
	pd->base.st.tx_drops += pd->tx_count;
	pd->tx_count = 0;
	dgram_stop_waiting(pd);
	if (pd->direct)
		dgram_disconnect(pd->out_fd);
	pd->direct = false;
	pd->peer_len = 0;
}

/* One sendmmsg of up to DGRAM_BATCH queued frames. Return: frames sent, or -errno. */
static int dgram_send_batch(struct port_dgram *pd)
{
	struct mmsghdr mm[DGRAM_BATCH];
	struct iovec iov[DGRAM_BATCH];
	unsigned n = pd->tx_count < DGRAM_BATCH ? pd->tx_count : DGRAM_BATCH;
	int sent;

	for (unsigned i = 0; i < n; i++) {
		uint32_t slot = (pd->tx_head + i) & (DGRAM_TXQ - 1);

		iov[i] = (struct iovec){ pd->tx + (size_t)slot * pd->base.max_frame, pd->tx_len[slot] };
		mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		if (!pd->direct) {
			mm[i].msg_hdr.msg_name = &pd->peer;
			mm[i].msg_hdr.msg_namelen = pd->peer_len;
		}
	}
	sent = sendmmsg(pd->direct ? pd->out_fd : pd->fd, mm, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return sent < 0 ? -errno : sent;
}

/* Send what is queued, DGRAM_BATCH at a time, until the peer is full. */
static void dgram_send(struct port_dgram *pd)
{
	bool rerouted = false;

	while (pd->tx_count && pd->peer_len) {
		int r = dgram_send_batch(pd);

		if (r >= 0) {
			pd->tx_head = (pd->tx_head + (uint32_t)r) & (DGRAM_TXQ - 1);
			pd->tx_count -= (uint32_t)r;
			continue;
		}
		switch (r) {
		case -EINTR:
			continue;
		case -EAGAIN:
		case -ENOBUFS: /* the peer's queue is full */
			if (!pd->waiting && !dgram_wait(pd)) { /* cannot wait for it: drop rather than spin */
				pd->base.st.tx_drops += pd->tx_count;
				pd->tx_count = 0;
			}
			return;
		case -EMSGSIZE: /* the peer's buffer is smaller than this frame: drop it */
			pd->base.st.tx_drops++;
			pd->tx_head = (pd->tx_head + 1) & (DGRAM_TXQ - 1);
			pd->tx_count--;
			continue;
		case -ECONNREFUSED: /* direct: the peer's socket closed (the kernel disconnected ours) */
		case -EPERM:        /* direct: the peer has since connected to our bound socket */
			if (pd->direct && !rerouted) {
				rerouted = true; /* once: a restarted VMM may have bound the same path */
				dgram_route(pd);
				continue;
			}
			/* fall through */
		default:
			dgram_forget_peer(pd, -r);
			return;
		}
	}
	if (!pd->tx_count)
		dgram_stop_waiting(pd);
}

static int dgram_output(struct port *p, const struct frame *f)
{
	struct port_dgram *pd = (struct port_dgram *)p;
	uint32_t slot;

	if (!pd->peer_len)
		return -ENOBUFS; /* nobody to send to yet */
	if (pd->tx_count == DGRAM_TXQ && !pd->waiting)
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

	if (!pd->waiting)
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
	memcpy(&pd->peer, from, len);
	pd->peer_len = len;
	dgram_route(pd);
	log_info("dgram %s: peer is %s%s", pd->base.name, addr_text(from, len, a, sizeof(a)),
		 pd->direct ? "" : " (answered from the attachment's socket)");
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

/* The sending socket: the peer has room again. */
static void dgram_out_event(struct loop_src *s, uint32_t events)
{
	struct port_dgram *pd = s->obj;
	int err;

	if (events & EPOLLERR) /* not expected on an unbound socket; clear it so that it does not fire again */
		(void)getsockopt(pd->out_fd, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){ sizeof(err) });
	dgram_send(pd);
}

static void dgram_destroy(struct port *p)
{
	struct port_dgram *pd = (struct port_dgram *)p;

	loop_del(&pd->src);
	loop_del(&pd->out_src);
	close(pd->fd);
	close(pd->out_fd);
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
	int r = -ENOMEM;

	if (max_frame > DGRAM_MAX_FRAME)
		max_frame = DGRAM_MAX_FRAME;
	if (pd && (pd->tx = malloc((size_t)DGRAM_TXQ * max_frame))) {
		pd->out_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		r = pd->out_fd < 0 ? -errno : 0;
	}
	if (r < 0) {
		if (pd)
			free(pd->tx);
		free(pd);
		close(fd);
		sockfile_remove(sf);
		return r;
	}
	pd->fd = fd;
	pd->sf = *sf;
	sf->dirfd = -1; /* ours now */
	pd->base.ops = &dgram_ops;
	pd->base.max_frame = max_frame;
	snprintf(pd->base.name, sizeof(pd->base.name), "%s", name);
	pd->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = pd, .cb = dgram_event };
	pd->out_src = (struct loop_src){ .type = EV_CALLBACK, .fd = pd->out_fd, .obj = pd, .cb = dgram_out_event };
	/* Best effort: the defaults work, only slower. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	(void)setsockopt(pd->out_fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	*out = &pd->base;
	return 0;
}

int port_dgram_start(struct port *p)
{
	struct port_dgram *pd = (struct port_dgram *)p;
	int r = loop_add(&pd->src, EPOLLIN);

	/* The sending socket watches nothing until a peer backs up (dgram_wait). */
	return r < 0 ? r : loop_add(&pd->out_src, 0);
}

bool port_is_dgram(const struct port *p)
{
	return p->ops == &dgram_ops;
}
