/*
 * port_stream.c — QEMU's `-netdev stream` framing on UNIX stream sockets.
 *
 * Theory of operation. The wire carries frames as a 4-byte big-endian
 * length followed by that many bytes (QEMU's stream netdev, socket_vmnet and
 * passt use the same framing). An attachment is a listening socket (a port
 * with no output of its own, so that it is listed, counted and detached like
 * any port); every connection it accepts is a port of the same network, and
 * a VMM that reconnects (lima-style) simply becomes a new port with the same
 * MAC. A connected socket can also be handed over directly (`vmnet run --fd`).
 *
 * Receiving: each connection has one buffer of STREAM_RX_CAP bytes. A read
 * appends to it, stream_rx_parse() hands every complete frame to the switch
 * straight from the buffer and moves the partial rest (less than one frame)
 * to the front. The buffer is larger than the largest frame, so a partial
 * frame always fits. A length of 0 or above STREAM_MAX_FRAME means the
 * stream is corrupt: that client is disconnected with a log line. A frame
 * whose length is sane but is a runt or larger than the port's max_frame is
 * skipped and counted (the framing is intact, the VM stays connected). At
 * most STREAM_READS reads per wakeup keep one busy VM from starving others.
 *
 * Sending: output() appends length + frame to a circular queue of
 * STREAM_TX_CAP bytes; flush() (end of the switch's batch) writes it with
 * one sendmsg of at most two iovecs. A partial write keeps the rest and
 * arms EPOLLOUT; while the peer does not read, the queue fills and further
 * frames are dropped and counted. The switch never waits for a VMM.
 *
 * Without a copy: a frame whose bytes stay put until the switch's flush
 * (frame.keep, which this port's own receive side promises: it parses in
 * place and compacts or refills its buffer only after a switch_flush) and
 * of at least STREAM_ZC_MIN bytes is not copied into the queue while the
 * queue is empty: output() notes an iovec for its bytes, and copies its
 * length header (and any small or unkept frame that follows) into a staging
 * area, each run of copied bytes one iovec. flush() sends them all with one
 * sendmsg, the big frames straight from the sender's receive buffer.
 * Whatever the socket does not take is copied into the queue then, while
 * the bytes are still valid, and waits there as above. VM to VM over stream
 * sockets this saves one of the three copies vmnetd makes of a big frame;
 * small frames are cheaper to copy than to describe to the kernel.
 *
 * Nothing is allocated per frame: both buffers are allocated with the
 * connection.
 */
#include "engine/port_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/cursor.h"
#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/switch.h"

/* Reads per wakeup of one connection (each up to the free part of the RX buffer). */
#define STREAM_READS 4
/* Connections accepted per wakeup of a listener. */
#define STREAM_ACCEPTS 16
/* Socket buffers asked for (the kernel caps them at net.core.[rw]mem_max). */
#define STREAM_SOCKBUF (1024 * 1024)
/* Without a copy: frames of at least STREAM_ZC_MIN bytes are referenced (smaller ones cost less
 * to copy than an iovec costs the kernel); at most STREAM_ZC_IOV iovecs (<= IOV_MAX) and
 * STREAM_ZC_STAGE bytes of copied headers and small frames between two sends. */
#define STREAM_ZC_MIN 512
#define STREAM_ZC_IOV 512
#define STREAM_ZC_STAGE (32u * 1024)

_Static_assert(STREAM_RX_CAP >= STREAM_HDR + STREAM_MAX_FRAME, "a whole frame must fit in the RX buffer");
_Static_assert(STREAM_TX_CAP >= STREAM_HDR + STREAM_MAX_FRAME, "a whole frame must fit in the TX queue");

struct stream_listener;

struct stream_conn {
	struct port base; /* first: struct port * <-> struct stream_conn * */
	struct loop_src src;
	int fd;
	struct stream_listener *listener; /* NULL for a socket handed over, or once the listener left */
	struct stream_conn *next;         /* the listener's connections */
	struct stream_rx rx;
	uint8_t *tx;                      /* circular: tx_len bytes from tx_head */
	uint32_t tx_head, tx_len;
	bool out_armed;                   /* EPOLLOUT is watched: the peer's socket was full */
	bool warned_size;
	/* Gathering (zn > 0, only while the TX queue is empty): frames referenced in place
	 * (frame.keep), with headers and small frames between them copied into zstage. */
	uint32_t zn, zbytes, zstage_len; /* iovecs; bytes they hold; bytes used in zstage */
	struct iovec zv[STREAM_ZC_IOV];
	uint8_t zstage[STREAM_ZC_STAGE];
};

struct stream_listener {
	struct port base;
	struct loop_src src;
	int fd;
	struct sockfile sf;
	struct stream_conn *conns;
	unsigned nconns, seq;
	uint64_t refused_logged_at;
};

static const struct port_ops conn_ops, listen_ops;

/* ---- framing ---- */

int stream_rx_parse(struct stream_rx *rx, stream_frame_fn fn, void *ctx)
{
	struct cursor c = cur_init(rx->buf + rx->start, rx->fill - rx->start);
	int n = 0, r = 0;

	for (;;) {
		struct cursor save = c;
		const uint8_t *frame;
		uint32_t len;

		if (cur_be32(&c, &len) < 0)
			break;
		if (len == 0 || len > STREAM_MAX_FRAME) {
			rx->bad_len = len;
			c = save;
			r = -EPROTO;
			break;
		}
		frame = cur_pull(&c, len);
		if (!frame) {
			c = save; /* incomplete: wait for the rest */
			break;
		}
		fn(ctx, frame, len);
		n++;
	}
	/* Keep the rest (a partial frame, or the bad header onwards) at the front. */
	rx->start = (uint32_t)(c.p - rx->buf);
	if (!rx->keep)
		stream_rx_compact(rx);
	return r < 0 ? r : n;
}

void stream_rx_compact(struct stream_rx *rx)
{
	uint32_t rest = rx->fill - rx->start;

	if (rest && rx->start)
		memmove(rx->buf, rx->buf + rx->start, rest);
	rx->fill = rest;
	rx->start = 0;
}

/* ---- connections ---- */

static void conn_frame(void *ctx, const uint8_t *data, uint32_t len)
{
	struct stream_conn *sc = ctx;
	struct port *p = &sc->base;
	/* keep: conn_read() flushes the switch before it compacts or refills the buffer. */
	struct frame f = { .data = data, .len = len, .keep = true };

	if (len < 14 || len > p->max_frame) {
		p->st.rx_errors++;
		if (!sc->warned_size) {
			sc->warned_size = true;
			log_info("stream %s: %u-byte frame skipped (this port takes 14 to %u bytes)", p->name, len,
				 p->max_frame);
		}
		return;
	}
	switch_input(p->net, p, &f);
}

static void conn_arm_out(struct stream_conn *sc, bool on)
{
	if (sc->out_armed == on)
		return;
	if (loop_mod(&sc->src, EPOLLIN | (on ? EPOLLOUT : 0)) == 0)
		sc->out_armed = on;
}

/* Write as much of the TX queue as the socket takes. */
static void conn_write(struct stream_conn *sc)
{
	while (sc->tx_len && !sc->base.broken) {
		uint32_t first = STREAM_TX_CAP - sc->tx_head;
		struct iovec iov[2] = {
			{ sc->tx + sc->tx_head, first < sc->tx_len ? first : sc->tx_len },
			{ sc->tx, first < sc->tx_len ? sc->tx_len - first : 0 },
		};
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1 };
		ssize_t n = sendmsg(sc->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				conn_arm_out(sc, true);
				return;
			}
			log_info("stream %s: send: %m; disconnecting", sc->base.name);
			sc->tx_len = 0;
			port_mark_broken(&sc->base);
			return;
		}
		sc->tx_head = (uint32_t)((sc->tx_head + (size_t)n) % STREAM_TX_CAP);
		sc->tx_len -= (uint32_t)n;
	}
	if (!sc->tx_len)
		sc->tx_head = 0;
	conn_arm_out(sc, false);
}

/* Copy n bytes into the circular queue at its tail (the caller checked the room). */
static void tx_put(struct stream_conn *sc, const uint8_t *src, uint32_t n)
{
	uint32_t tail = (sc->tx_head + sc->tx_len) % STREAM_TX_CAP, first = STREAM_TX_CAP - tail;

	if (first > n)
		first = n;
	memcpy(sc->tx + tail, src, first);
	memcpy(sc->tx, src + first, n - first);
	sc->tx_len += n;
}

/* Copy n bytes into zstage, extending the last iovec when it ends there. */
static void stage_put(struct stream_conn *sc, const void *src, uint32_t n)
{
	uint8_t *at = sc->zstage + sc->zstage_len;
	struct iovec *last = sc->zn ? &sc->zv[sc->zn - 1] : NULL;

	memcpy(at, src, n);
	sc->zstage_len += n;
	if (last && (uint8_t *)last->iov_base >= sc->zstage && (uint8_t *)last->iov_base + last->iov_len == at)
		last->iov_len += n;
	else
		sc->zv[sc->zn++] = (struct iovec){ at, n };
}

/* Send the frames referenced in place; copy what the socket does not take into the (empty) TX queue. */
static void conn_send_refs(struct stream_conn *sc)
{
	struct msghdr m = { .msg_iov = sc->zv, .msg_iovlen = sc->zn };
	size_t done = 0;
	ssize_t n;

	if (!sc->zn)
		return;
	do
		n = sendmsg(sc->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN) {
		log_info("stream %s: send: %m; disconnecting", sc->base.name);
		port_mark_broken(&sc->base);
	} else {
		if (n > 0)
			done = (size_t)n;
		/* tx_len is 0 here and zbytes <= STREAM_TX_CAP: the rest fits. */
		for (uint32_t i = 0; i < sc->zn; i++) {
			size_t l = sc->zv[i].iov_len;

			if (done >= l) {
				done -= l;
				continue;
			}
			tx_put(sc, (const uint8_t *)sc->zv[i].iov_base + done, (uint32_t)(l - done));
			done = 0;
		}
	}
	sc->zn = 0;
	sc->zbytes = 0;
	sc->zstage_len = 0;
	if (sc->tx_len)
		conn_write(sc); /* the socket was full: this arms EPOLLOUT */
}

static int conn_output(struct port *p, const struct frame *f)
{
	struct stream_conn *sc = (struct stream_conn *)p;
	uint32_t need = STREAM_HDR + f->len;
	uint8_t hdr[STREAM_HDR] = { (uint8_t)(f->len >> 24), (uint8_t)(f->len >> 16), (uint8_t)(f->len >> 8),
				     (uint8_t)f->len };

	if (p->broken)
		return -ENOBUFS;
	bool ref = f->keep && f->len >= STREAM_ZC_MIN;
	uint32_t stage = ref ? STREAM_HDR : need;

	/* Gathering starts with a frame to reference, and only behind an empty queue (order). */
	if (!sc->zn && !(ref && !sc->tx_len && !sc->out_armed))
		goto queue;
	/* Gathering: reference a big kept frame, copy anything else into zstage; send first what
	 * would not fit (what a send leaves is copied into the queue, which must hold it). */
	if (sc->zn + 2 > STREAM_ZC_IOV || sc->zbytes + need > STREAM_TX_CAP ||
	    sc->zstage_len + stage > STREAM_ZC_STAGE) {
		conn_send_refs(sc);
		if (p->broken)
			return -ENOBUFS;
		if (!ref || sc->tx_len || sc->out_armed)
			goto queue;
	}
	stage_put(sc, hdr, STREAM_HDR);
	if (ref)
		sc->zv[sc->zn++] = (struct iovec){ (void *)f->data, f->len };
	else
		stage_put(sc, f->data, f->len);
	sc->zbytes += need;
	return 0;
queue:
	if (STREAM_TX_CAP - sc->tx_len < need && !sc->out_armed)
		conn_write(sc); /* a big batch: make room rather than drop while the socket takes more */
	if (STREAM_TX_CAP - sc->tx_len < need)
		return -ENOBUFS;
	tx_put(sc, hdr, STREAM_HDR);
	tx_put(sc, f->data, f->len);
	return 0;
}

static void conn_flush(struct port *p)
{
	struct stream_conn *sc = (struct stream_conn *)p;

	conn_send_refs(sc);
	if (!sc->out_armed)
		conn_write(sc);
}

static void conn_read(struct stream_conn *sc)
{
	struct port *p = &sc->base;

	for (int i = 0; i < STREAM_READS && !p->broken; i++) {
		size_t room;

		if (sc->rx.start) {
			/* The frames of the last read may still be referenced (frame.keep): send them first. */
			switch_flush(p->net);
			stream_rx_compact(&sc->rx);
		}
		room = sc->rx.cap - sc->rx.fill;
		/* MSG_DONTWAIT: a handed-over socket shares its file flags with the client. */
		ssize_t n = recv(sc->fd, sc->rx.buf + sc->rx.fill, room, MSG_DONTWAIT);

		if (n < 0 && errno != ECONNRESET) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			log_info("stream %s: read: %m; disconnecting", p->name);
			port_mark_broken(p);
			break;
		}
		if (n <= 0) { /* EOF, or a reset: a client that closed with our frames still unread */
			if (sc->rx.fill)
				log_info("stream %s: client disconnected in the middle of a frame (%u bytes pending)",
					 p->name, sc->rx.fill);
			else
				log_info("stream %s: client disconnected", p->name);
			port_mark_broken(p);
			break;
		}
		sc->rx.fill += (uint32_t)n;
		if (stream_rx_parse(&sc->rx, conn_frame, sc) < 0) {
			log_warn("stream %s: bad frame length %u (valid: 1 to %u); disconnecting", p->name, sc->rx.bad_len,
				 STREAM_MAX_FRAME);
			p->st.rx_errors++;
			port_mark_broken(p);
			break;
		}
		if ((size_t)n < room)
			break; /* the socket is drained */
	}
}

static void conn_event(struct loop_src *s, uint32_t events)
{
	struct stream_conn *sc = s->obj;

	if (events & EPOLLOUT)
		conn_write(sc);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(sc);
	if (sc->base.net)
		switch_flush(sc->base.net);
}

static void conn_destroy(struct port *p)
{
	struct stream_conn *sc = (struct stream_conn *)p;

	if (sc->listener) {
		struct stream_conn **pp;

		for (pp = &sc->listener->conns; *pp; pp = &(*pp)->next)
			if (*pp == sc) {
				*pp = sc->next;
				sc->listener->nconns--;
				break;
			}
	}
	loop_del(&sc->src);
	close(sc->fd);
	loop_defer_free(sc);
}

static const struct port_ops conn_ops = {
	.kind = "stream",
	.output = conn_output,
	.flush = conn_flush,
	.destroy = conn_destroy,
};

static void sock_buffers(int fd)
{
	int v = STREAM_SOCKBUF;

	/* Best effort: the defaults work, only slower. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

int port_stream_new(int fd, const char *name, uint32_t max_frame, struct port **out)
{
	/* One allocation: the port, then its RX buffer and TX queue. */
	struct stream_conn *sc = calloc(1, sizeof(*sc) + STREAM_RX_CAP + STREAM_TX_CAP);

	if (!sc) {
		close(fd);
		return -ENOMEM;
	}
	sc->fd = fd;
	sc->rx.buf = (uint8_t *)(sc + 1);
	sc->rx.cap = STREAM_RX_CAP;
	sc->rx.keep = true;
	sc->tx = sc->rx.buf + STREAM_RX_CAP;
	sc->base.ops = &conn_ops;
	sc->base.max_frame = max_frame < STREAM_MAX_FRAME ? max_frame : STREAM_MAX_FRAME;
	snprintf(sc->base.name, sizeof(sc->base.name), "%s", name);
	sc->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = sc, .cb = conn_event };
	sock_buffers(fd);
	*out = &sc->base;
	return 0;
}

/* ---- listening attachments ---- */

static void listener_accept_one(struct stream_listener *l, int fd)
{
	struct network *net = l->base.net;
	struct stream_conn *sc;
	struct port *p;
	char name[sizeof(l->base.name)];

	if (l->nconns >= STREAM_MAX_CONNS) {
		if (l->refused_logged_at != engine_now_sec) {
			l->refused_logged_at = engine_now_sec;
			log_warn("stream %s: %u clients already connected; connection refused", l->base.name, l->nconns);
		}
		close(fd);
		return;
	}
	snprintf(name, sizeof(name), "%.30s.%u", l->base.name, ++l->seq);
	if (port_stream_new(fd, name, net->mtu + 14, &p) < 0)
		return;
	p->owner = l->base.owner;
	p->isolated = l->base.isolated;
	if (network_add_port(net, p) < 0) {
		log_warn("stream %s: network %s is full; connection refused", l->base.name, net->name);
		p->ops->destroy(p);
		return;
	}
	if (port_stream_start(p) < 0) {
		network_remove_port(p);
		return;
	}
	sc = (struct stream_conn *)p;
	sc->listener = l;
	sc->next = l->conns;
	l->conns = sc;
	l->nconns++;
	log_info("stream %s: client connected: port %u (%s) on network %s", l->base.name, p->id, p->name, net->name);
}

static void listener_event(struct loop_src *s, uint32_t events)
{
	struct stream_listener *l = s->obj;

	for (int i = 0; i < STREAM_ACCEPTS; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
			    l->refused_logged_at != engine_now_sec) {
				l->refused_logged_at = engine_now_sec;
				log_warn("stream %s: accept: %m", l->base.name);
			}
			break;
		}
		listener_accept_one(l, fd);
	}
}

static void listener_destroy(struct port *p)
{
	struct stream_listener *l = (struct stream_listener *)p;

	loop_del(&l->src);
	close(l->fd);
	sockfile_remove(&l->sf);
	/* The connections go too, after this batch: they are ports of the network on their own. */
	for (struct stream_conn *sc = l->conns; sc; sc = sc->next) {
		sc->listener = NULL;
		port_mark_broken(&sc->base);
	}
	l->conns = NULL;
	loop_defer_free(l);
}

static const struct port_ops listen_ops = {
	.kind = "stream",
	.output = NULL, /* the connections are the ports that carry frames */
	.flush = NULL,
	.destroy = listener_destroy,
};

int port_stream_listen_new(int fd, struct sockfile *sf, const char *name, struct port **out)
{
	struct stream_listener *l = calloc(1, sizeof(*l));

	if (!l) {
		close(fd);
		sockfile_remove(sf);
		return -ENOMEM;
	}
	l->fd = fd;
	l->sf = *sf;
	sf->dirfd = -1; /* ours now */
	l->base.ops = &listen_ops;
	snprintf(l->base.name, sizeof(l->base.name), "%s", name);
	l->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = l, .cb = listener_event };
	*out = &l->base;
	return 0;
}

int port_stream_start(struct port *p)
{
	if (p->ops == &listen_ops)
		return loop_add(&((struct stream_listener *)p)->src, EPOLLIN);
	return loop_add(&((struct stream_conn *)p)->src, EPOLLIN);
}

bool port_is_stream(const struct port *p)
{
	return p->ops == &conn_ops || p->ops == &listen_ops;
}
