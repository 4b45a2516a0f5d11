/*
 * fwd_relay.c — user-space relay from the host's [::1] to the guest of an
 * IPv6 port forward (why: fwd_relay.h).
 *
 * Theory of operation. TCP: the held socket listens; each accepted
 * connection whose local address is ::1 (anything else is closed: only a
 * guest of the network itself, talking to its gateway, could get here) gets
 * a non-blocking connection to the guest, and bytes are pumped both ways
 * through one fixed buffer per direction. Both sockets are registered
 * edge-triggered for input and output; on any event both directions are
 * pumped until a socket would block, so no edge is ever lost: a full buffer
 * is emptied when the destination becomes writable, and reading resumes
 * right after. A FIN is passed on as shutdown(SHUT_WR) once the buffer of
 * that direction is empty; the pair is closed when both directions are shut,
 * or at the first error (the peer then sees a reset or EOF).
 *
 * UDP: the held socket reads datagrams with their destination
 * (IPV6_PKTINFO); those to ::1 go out on a connected socket per client
 * address and port (a flow), and the guest's answers come back from the held
 * socket, so the client sees them from [::1]:PORT. Flows are forgotten after
 * FWD_RELAY_FLOW_IDLE seconds without traffic.
 *
 * Everything is bounded: FWD_RELAY_CONN_MAX connections and
 * FWD_RELAY_FLOW_MAX flows per forward (more are refused: connections
 * closed, datagrams dropped). Memory of closed connections and flows is
 * released after the loop's current batch (loop_defer_free).
 */
#include "engine/fwd_relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"

#define RELAY_BUF (32 * 1024)
#define RELAY_BACKLOG 16
#define RELAY_BATCH 64 /* accepts or datagrams per event */
#define RELAY_DGRAM_MAX 65536
#define RELAY_TCP_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

/* One direction of a relayed TCP connection. */
struct relay_pipe {
	uint32_t head, tail; /* bytes still to send: buf[head, tail) */
	bool eof;            /* the source closed its side */
	bool shut;           /* ... and the destination was told (shutdown SHUT_WR) */
	uint8_t buf[RELAY_BUF];
};

struct relay_conn {
	struct loop_src host;  /* the accepted connection of the host's client */
	struct loop_src guest; /* ours to the guest */
	struct fwd_relay *r;
	bool connected;        /* the connection to the guest is established */
	struct relay_conn *next;
	struct relay_pipe up;   /* host -> guest */
	struct relay_pipe down; /* guest -> host */
};

struct relay_flow {
	struct loop_src src; /* connected to the guest */
	struct fwd_relay *r;
	struct sockaddr_in6 peer; /* the host's client */
	uint64_t last;            /* last datagram either way (engine_now_sec) */
	struct relay_flow *next;
};

struct fwd_relay {
	struct loop_src held; /* the forward's held socket (the caller's) */
	struct nat_forward f;
	struct sockaddr_in6 guest;
	unsigned nconns, nflows;
	struct relay_conn *conns;
	struct relay_flow *flows;
};

static uint8_t dgram[RELAY_DGRAM_MAX];

/* ---- TCP ---- */

static void conn_close(struct relay_conn *c)
{
	struct fwd_relay *r = c->r;

	for (struct relay_conn **pp = &r->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	r->nconns--;
	loop_del(&c->host);
	close(c->host.fd);
	loop_del(&c->guest);
	close(c->guest.fd);
	loop_defer_free(c);
}

/* Move what src has to dst through p until one of them would block. Return: 0, or -1 on a socket error. */
static int pipe_pump(struct relay_pipe *p, int src, int dst)
{
	ssize_t n;

	for (;;) {
		while (p->head < p->tail) {
			n = send(dst, p->buf + p->head, p->tail - p->head, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0)
				return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
			p->head += (uint32_t)n;
		}
		p->head = p->tail = 0;
		if (p->eof) {
			if (!p->shut && shutdown(dst, SHUT_WR) < 0)
				return -1;
			p->shut = true;
			return 0;
		}
		n = recv(src, p->buf, sizeof(p->buf), MSG_DONTWAIT);
		if (n > 0)
			p->tail = (uint32_t)n;
		else if (n == 0)
			p->eof = true;
		else
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
}

/* Any event of either socket. Return: false when the pair is finished (closed by the caller). */
static bool conn_step(struct relay_conn *c, bool guest_side, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (!c->connected) {
		if (!guest_side || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return true; /* the host's bytes wait in the kernel until the guest answers */
		if (getsockopt(c->guest.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
			return false; /* refused or unreachable: the client sees its connection closed */
		c->connected = true;
	}
	if (pipe_pump(&c->up, c->host.fd, c->guest.fd) < 0 || pipe_pump(&c->down, c->guest.fd, c->host.fd) < 0)
		return false;
	return !(c->up.shut && c->down.shut);
}

static void conn_event(struct loop_src *s, uint32_t events)
{
	struct relay_conn *c = s->obj;

	if (!conn_step(c, s == &c->guest, events))
		conn_close(c);
}

/* Relay the accepted connection fd (taken). */
static void conn_new(struct fwd_relay *r, int fd)
{
	struct relay_conn *c = calloc(1, sizeof(*c));
	int g = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (!c || g < 0 ||
	    (connect(g, (struct sockaddr *)&r->guest, sizeof(r->guest)) < 0 && errno != EINPROGRESS)) {
		free(c);
		if (g >= 0)
			close(g);
		close(fd);
		return;
	}
	c->r = r;
	c->host = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = c, .cb = conn_event };
	c->guest = (struct loop_src){ .type = EV_CALLBACK, .fd = g, .obj = c, .cb = conn_event };
	if (loop_add(&c->host, RELAY_TCP_EVENTS) < 0) {
		close(fd);
		close(g);
		free(c);
		return;
	}
	if (loop_add(&c->guest, RELAY_TCP_EVENTS) < 0) {
		loop_del(&c->host);
		close(fd);
		close(g);
		loop_defer_free(c);
		return;
	}
	c->next = r->conns;
	r->conns = c;
	r->nconns++;
}

/* Connections on the held socket: those to ::1 are relayed. */
static void relay_accept(struct fwd_relay *r)
{
	for (int i = 0; i < RELAY_BATCH; i++) {
		struct sockaddr_in6 local;
		socklen_t len = sizeof(local);
		int fd = accept4(r->held.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		if (getsockname(fd, (struct sockaddr *)&local, &len) < 0 || local.sin6_family != AF_INET6 ||
		    !IN6_IS_ADDR_LOOPBACK(&local.sin6_addr) || r->nconns >= FWD_RELAY_CONN_MAX) {
			close(fd);
			continue;
		}
		conn_new(r, fd);
	}
}

/* ---- UDP ---- */

static void flow_free(struct relay_flow *fl)
{
	loop_del(&fl->src);
	close(fl->src.fd);
	fl->r->nflows--;
	loop_defer_free(fl);
}

/* Answers of the guest: back to the client, from [::1]:PORT. */
static void flow_event(struct loop_src *s, uint32_t events)
{
	struct relay_flow *fl = s->obj;

	(void)events;
	for (int i = 0; i < RELAY_BATCH; i++) {
		ssize_t n = recv(fl->src.fd, dgram, sizeof(dgram), MSG_DONTWAIT);

		if (n < 0)
			return; /* EAGAIN, or an ICMP error of the guest's: nothing to pass on */
		fl->last = engine_now_sec;
		sendto(fl->r->held.fd, dgram, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&fl->peer, sizeof(fl->peer));
	}
}

/* The flow of a client, found or made. Return: it, or NULL (table full, no socket). */
static struct relay_flow *flow_get(struct fwd_relay *r, const struct sockaddr_in6 *peer)
{
	struct relay_flow *fl;
	int fd;

	for (fl = r->flows; fl; fl = fl->next)
		if (fl->peer.sin6_port == peer->sin6_port && !memcmp(&fl->peer.sin6_addr, &peer->sin6_addr, 16))
			return fl;
	if (r->nflows >= FWD_RELAY_FLOW_MAX)
		return NULL;
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return NULL;
	fl = calloc(1, sizeof(*fl));
	if (!fl || connect(fd, (struct sockaddr *)&r->guest, sizeof(r->guest)) < 0) {
		free(fl);
		close(fd);
		return NULL;
	}
	fl->r = r;
	fl->peer = *peer;
	fl->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = fl, .cb = flow_event };
	if (loop_add(&fl->src, EPOLLIN) < 0) {
		close(fd);
		free(fl);
		return NULL;
	}
	fl->next = r->flows;
	r->flows = fl;
	r->nflows++;
	return fl;
}

/* Was the datagram of m addressed to ::1 (IPV6_PKTINFO)? */
static bool dgram_to_loopback(struct msghdr *m)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		struct in6_pktinfo pi;

		if (cm->cmsg_level != IPPROTO_IPV6 || cm->cmsg_type != IPV6_PKTINFO ||
		    cm->cmsg_len < CMSG_LEN(sizeof(pi)))
			continue;
		memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
		return IN6_IS_ADDR_LOOPBACK(&pi.ipi6_addr);
	}
	return false;
}

/* Datagrams on the held socket: those to ::1 go to the guest. */
static void relay_dgram(struct fwd_relay *r)
{
	for (int i = 0; i < RELAY_BATCH; i++) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		} ctl;
		struct sockaddr_in6 peer;
		struct iovec iov = { .iov_base = dgram, .iov_len = sizeof(dgram) };
		struct msghdr m = { .msg_name = &peer, .msg_namelen = sizeof(peer), .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		struct relay_flow *fl;
		ssize_t n = recvmsg(r->held.fd, &m, MSG_DONTWAIT);

		if (n < 0)
			return;
		if (m.msg_namelen != sizeof(peer) || !dgram_to_loopback(&m) || !(fl = flow_get(r, &peer)))
			continue;
		fl->last = engine_now_sec;
		send(fl->src.fd, dgram, (size_t)n, MSG_DONTWAIT);
	}
}

/* ---- the relay ---- */

static void relay_held_event(struct loop_src *s, uint32_t events)
{
	struct fwd_relay *r = s->obj;

	(void)events;
	if (r->f.proto == IPPROTO_TCP)
		relay_accept(r);
	else
		relay_dgram(r);
}

int fwd_relay_new(int fd, const struct nat_forward *f, struct fwd_relay **out)
{
	struct fwd_relay *r;
	int one = 1, rcvbuf = 256 * 1024, rc;

	if (f->family != AF_INET6 || (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP))
		return -EINVAL;
	if (f->proto == IPPROTO_UDP && (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0 ||
					setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0))
		return -errno;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->f = *f;
	r->guest.sin6_family = AF_INET6;
	r->guest.sin6_port = htons(f->int_port);
	memcpy(&r->guest.sin6_addr, f->addr, 16);
	r->held = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = r, .cb = relay_held_event };
	/* Watched first, listening second: a listening socket nobody serves would leave clients hanging. */
	if ((rc = loop_add(&r->held, EPOLLIN)) < 0) {
		free(r);
		return rc;
	}
	if (f->proto == IPPROTO_TCP && listen(fd, RELAY_BACKLOG) < 0) {
		rc = -errno;
		loop_del(&r->held);
		loop_defer_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void fwd_relay_free(struct fwd_relay *r)
{
	if (!r)
		return;
	while (r->conns)
		conn_close(r->conns);
	while (r->flows) {
		struct relay_flow *fl = r->flows;

		r->flows = fl->next;
		flow_free(fl);
	}
	loop_del(&r->held);
	loop_defer_free(r);
}

void fwd_relay_tick(struct fwd_relay *r, uint64_t now_sec)
{
	if (!r)
		return;
	for (struct relay_flow **pp = &r->flows; *pp;) {
		struct relay_flow *fl = *pp;

		if (fl->last + FWD_RELAY_FLOW_IDLE > now_sec) {
			pp = &fl->next;
			continue;
		}
		*pp = fl->next;
		flow_free(fl);
	}
}
