/*
 * dns_tcp.c — DNS over TCP (RFC 7766) between guests and the proxy (dns.h).
 *
 * The gateway has no kernel stack behind it, so this is a TCP endpoint of its
 * own: passive only, for port 53 of the gateway's addresses, RFC 9293 cut
 * down to what a DNS server needs. dns.c has checked the frame, the addresses
 * and the checksum; this file sees the segment.
 *
 * Theory of operation
 *
 * Connections. A SYN to port 53 creates one: an allocation of its own with
 * its buffers, DNS_TCP_CONN_MAX at a time. When the table is full the oldest
 * half-open connection is reset for the newcomer; with none, the SYN gets a
 * RST. The SYN-ACK carries a random ISN and our MSS (1460 over IPv4, 1440
 * over IPv6: a segment always fits a 1514-byte frame); the guest's MSS option
 * (default 536, or 1220 over IPv6, RFC 9293 §3.7.1 and RFC 8200 §8.3)
 * lowers it. No other option is offered, so there is no window scaling, SACK
 * or timestamps, and options the guest sends after its SYN are ignored.
 * Data in a SYN is not taken (not acknowledged: the guest sends it again).
 *
 * Receiving. In order only. What a segment repeats of data already taken is
 * cut off; a segment starting beyond RCV.NXT is not kept and gets an ACK for
 * RCV.NXT, so that the guest retransmits. The window offered is the free
 * space of the receive buffer (DNS_TCP_IN_MAX bytes): pipelined queries wait
 * there and are answered one at a time (RFC 7766 §6.2.1.1 allows it). A
 * segment outside the window gets an ACK and is dropped; a RST is taken only
 * at RCV.NXT exactly, and a RST elsewhere in the window or a SYN on a
 * connection gets a challenge ACK (RFC 5961 §3.2, §4.2). An ACK for data not
 * yet sent gets an ACK and is dropped.
 *
 * Queries. When the receive buffer holds a whole query (two-byte length,
 * RFC 1035 §4.2.2) and the previous answer is acknowledged, the query is
 * checked like one over UDP (a bad one resets the connection), given a random
 * ID and sent over a new nonblocking TCP connection to an upstream, in the
 * event loop edge-triggered (each event writes and reads until EAGAIN). The
 * answer must carry that ID and the question; the upstream connection is
 * then closed and the answer, the guest's ID restored, goes to the guest. A
 * failure (refused, reset, closed early, a wrong answer) or DNS_RETRY_AFTER
 * seconds without an answer move on to the next upstream: max(2, upstreams)
 * attempts within DNS_GIVE_UP seconds, then the guest's connection is closed
 * with a FIN (TCP's way of saying "no answer"; its stub tries elsewhere).
 *
 * Sending. Segments of at most MSS bytes, inside the guest's window and at
 * most DNS_TCP_FLIGHT of them in flight (a bound on the burst the gateway
 * queues); a closed window is probed with one byte. Whatever is
 * unacknowledged (SYN-ACK, data, FIN) is sent again from SND.UNA, one segment
 * until an ACK comes, when a tick finds it a second old; after
 * DNS_TCP_RETRIES such retries the connection is reset. A guest that keeps
 * its window closed is reset the same way.
 *
 * Closing. A FIN from the guest is taken in order: queries before it are
 * answered, then we send ours. The connection is freed when both FINs are
 * acknowledged. There is no TIME-WAIT: when we closed first, the connection
 * goes as soon as we have acknowledged the guest's FIN, and if that ACK is
 * lost the guest's retransmitted FIN meets a RST, harmless for DNS. After
 * DNS_TCP_IDLE seconds without progress and nothing to do we close (RFC 7766
 * §6.2.3: servers close idle connections); after twice that without
 * progress, in any state, the connection is reset. A RST frees it at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cursor.h"
#include "common/log.h"
#include "engine/dns.h"
#include "engine/loop.h"
#include "engine/wire.h"

#define DNS_TCP_MSS4 1460        /* 1500 - 20 - 20 */
#define DNS_TCP_MSS6 1440        /* 1500 - 40 - 20 */
#define DNS_TCP_MSS_DEFAULT4 536 /* RFC 9293 §3.7.1 */
#define DNS_TCP_MSS_DEFAULT6 1220 /* RFC 8200 §8.3 */
#define DNS_TCP_MSS_MIN 64       /* a smaller guest MSS only multiplies our segments */
#define DNS_TCP_IN_MAX 4096      /* receive buffer: pipelined queries, each at most 4094 bytes */
#define DNS_TCP_OUT_MAX (2 + 65535)
#define DNS_TCP_FLIGHT 10        /* segments in flight at most (RFC 6928's initial window) */
#define DNS_TCP_RTO 1            /* seconds: the tick's granularity */
#define DNS_TCP_RETRIES 5
#define DNS_TCP_IDLE 10

/* TCP option kinds (RFC 9293 §3.2). */
#define DNS_TCP_OPT_EOL 0
#define DNS_TCP_OPT_NOP 1
#define DNS_TCP_OPT_MSS 2

static_assert(DNS_TCP_MSS4 + 20 + 20 + ETH_HLEN <= 1514 && DNS_TCP_MSS6 + 40 + 20 + ETH_HLEN <= 1514,
	      "a full segment fits a frame");
static_assert(DNS_TCP_IN_MAX <= UINT16_MAX, "the window is offered unscaled");

struct dns_conn {
	struct loop_src up; /* the upstream connection of the query in flight; fd -1: none */
	struct dns_tcp *t;
	struct dns_flow f;
	bool open;       /* handshake done (else SYN-RECEIVED) */
	bool peer_fin;   /* the guest's FIN is taken */
	bool fin_queued; /* ours follows the data in out[] */
	bool closed;     /* to be freed by the entry point that set it */
	uint16_t mss;
	uint32_t iss, snd_una, snd_nxt, snd_max, rcv_nxt;
	uint32_t wnd;    /* the guest's window */
	unsigned cwnd;   /* segments we may have in flight */
	unsigned retries;
	uint64_t rtx_since, last_active;
	/* The query in flight, at in[0..qsize). */
	bool busy;
	uint16_t guest_id, id, qlen;
	size_t qsize;
	unsigned attempts, up_next;
	uint64_t born, tried_at;
	size_t up_sent, up_got; /* bytes of the query sent, of the answer received (into out[]) */
	/* Buffers. out[0] has sequence number out_seq; the FIN, if queued, follows out[out_len - 1]. */
	size_t in_len, out_len;
	uint32_t out_seq;
	uint8_t in[DNS_TCP_IN_MAX];
	uint8_t out[DNS_TCP_OUT_MAX];
};

struct dns_tcp {
	struct dns_proxy *p;
	uint64_t now;
	unsigned n;
	struct dns_conn *conn[DNS_TCP_CONN_MAX];
};

static bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static bool seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static uint32_t dns_tcp_end(const struct dns_conn *c)
{
	return c->out_seq + (uint32_t)c->out_len;
}

static uint16_t dns_tcp_rwnd(const struct dns_conn *c)
{
	return (uint16_t)(sizeof(c->in) - c->in_len);
}

/* --- segments out --- */

/* One segment to guest f; mss: 0, or the value of an MSS option to add (SYN-ACK). */
static void dns_tcp_emit(struct dns_proxy *p, const struct dns_flow *f, uint32_t seq, uint32_t ack, uint8_t flags,
			 uint16_t win, uint16_t mss, const void *data, size_t n)
{
	struct {
		struct tcp_hdr h;
		uint8_t opt[4];
	} __attribute__((packed)) s;
	size_t hlen = sizeof(s.h) + (mss ? sizeof(s.opt) : 0);

	memset(&s, 0, sizeof(s));
	s.h.sport = htons(DNS_PORT);
	s.h.dport = htons(f->port);
	s.h.seq = htonl(seq);
	s.h.ack = htonl(ack);
	s.h.off = (uint8_t)(hlen / 4 << 4);
	s.h.flags = flags;
	s.h.win = htons(win);
	if (mss) {
		s.opt[0] = DNS_TCP_OPT_MSS;
		s.opt[1] = 4;
		s.opt[2] = (uint8_t)(mss >> 8);
		s.opt[3] = (uint8_t)mss;
	}
	dns_emit(p, f, IPPROTO_TCP_, &s, hlen, data, n); /* at most MSS bytes: always fits */
}

/* A segment of the connection: ACK of RCV.NXT and our window. */
static void dns_tcp_send(struct dns_conn *c, uint32_t seq, uint8_t flags, const void *data, size_t n)
{
	dns_tcp_emit(c->t->p, &c->f, seq, c->rcv_nxt, (uint8_t)(flags | TCP_ACK), dns_tcp_rwnd(c), 0, data, n);
}

static void dns_tcp_ack(struct dns_conn *c)
{
	dns_tcp_send(c, c->snd_nxt, 0, NULL, 0);
}

static void dns_tcp_synack(struct dns_conn *c)
{
	dns_tcp_emit(c->t->p, &c->f, c->iss, c->rcv_nxt, TCP_SYN | TCP_ACK, dns_tcp_rwnd(c),
		     c->f.v6 ? DNS_TCP_MSS6 : DNS_TCP_MSS4, NULL, 0);
}

/* Reset the connection (RST to the guest) and mark it for freeing. */
static void dns_tcp_reset(struct dns_conn *c)
{
	if (c->closed)
		return;
	dns_tcp_emit(c->t->p, &c->f, c->snd_nxt, c->rcv_nxt, TCP_RST | TCP_ACK, 0, 0, NULL, 0);
	dns_stats_of(c->t->p)->tcp_resets++;
	c->closed = true;
}

/* RFC 9293 §3.10.7.1: the RST for a segment that has no connection. */
static void dns_tcp_refuse(struct dns_tcp *t, const struct dns_flow *f, const struct tcp_hdr *th, size_t dlen)
{
	uint32_t len = (uint32_t)dlen + !!(th->flags & TCP_SYN) + !!(th->flags & TCP_FIN);

	if (th->flags & TCP_RST)
		return;
	if (th->flags & TCP_ACK)
		dns_tcp_emit(t->p, f, ntohl(th->ack), 0, TCP_RST, 0, 0, NULL, 0);
	else
		dns_tcp_emit(t->p, f, 0, ntohl(th->seq) + len, TCP_RST | TCP_ACK, 0, 0, NULL, 0);
}

/*
 * Send what the window and the flight limit allow of out[], then the FIN
 * when queued and due. Return: how many segments went out.
 */
static unsigned dns_tcp_push(struct dns_conn *c, uint64_t now)
{
	uint32_t end = dns_tcp_end(c);
	unsigned sent = 0;

	if (!c->open || c->closed)
		return 0;
	while (seq_lt(c->snd_nxt, end)) {
		uint32_t flight = c->snd_nxt - c->snd_una, limit = c->cwnd * c->mss, n;

		if (c->wnd < limit)
			limit = c->wnd;
		if (!limit && !flight)
			limit = 1; /* the window is closed: probe it with one byte */
		if (flight >= limit)
			break;
		n = end - c->snd_nxt;
		if (n > c->mss)
			n = c->mss;
		if (n > limit - flight)
			n = limit - flight;
		if (!flight)
			c->rtx_since = now;
		dns_tcp_send(c, c->snd_nxt, c->snd_nxt + n == end ? TCP_PSH : 0, c->out + (c->snd_nxt - c->out_seq), n);
		c->snd_nxt += n;
		if (seq_gt(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		sent++;
	}
	if (c->fin_queued && c->snd_nxt == end) {
		if (c->snd_nxt == c->snd_una)
			c->rtx_since = now;
		dns_tcp_send(c, end, TCP_FIN, NULL, 0);
		c->snd_nxt = end + 1;
		if (seq_gt(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		sent++;
	}
	return sent;
}

/* --- the upstream connection --- */

static void dns_tcp_up_close(struct dns_conn *c)
{
	if (c->up.fd < 0)
		return;
	loop_del(&c->up);
	close(c->up.fd);
	c->up.fd = -1;
}

/* No answer: close the guest's connection after what it was sent. */
static void dns_tcp_give_up(struct dns_conn *c, uint64_t now)
{
	dns_tcp_up_close(c);
	c->busy = false;
	c->in_len = 0; /* what the guest pipelined after the query goes unanswered too */
	c->fin_queued = true;
	dns_stats_of(c->t->p)->timeouts++;
	dns_tcp_push(c, now);
}

/* Connect to the next upstream for the query in flight, or give up. */
static void dns_tcp_up_connect(struct dns_conn *c, uint64_t now)
{
	struct dns_proxy *p = c->t->p;
	unsigned n = dns_upstream_count(p), budget = n > 2 ? n : 2;

	dns_tcp_up_close(c);
	while (n && c->attempts < budget && now < c->born + DNS_GIVE_UP) {
		const struct sockaddr_storage *ss = dns_upstream(p, c->up_next++ % n);
		socklen_t sl = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		int fd;

		c->attempts++;
		fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, (const struct sockaddr *)ss, sl) < 0 && errno != EINPROGRESS) {
			close(fd);
			continue;
		}
		/* The source may have been used before: its handlers cope with a stale event. */
		c->up.fd = fd;
		c->up.dead = false;
		if (loop_add(&c->up, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
			close(fd);
			c->up.fd = -1;
			continue;
		}
		c->up_sent = c->up_got = 0;
		c->tried_at = now;
		return;
	}
	dns_tcp_give_up(c, now);
}

/* Write what is left of the query. Return: 0 (all sent, or wait for the socket), or -errno. */
static int dns_tcp_up_send(struct dns_conn *c)
{
	while (c->up_sent < c->qsize) {
		ssize_t n = send(c->up.fd, c->in + c->up_sent, c->qsize - c->up_sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno; /* EAGAIN also while connecting */
		}
		c->up_sent += (size_t)n;
	}
	return 0;
}

/* Read the answer into out[]. Return: 1 when whole and right, 0 to wait, or -errno. */
static int dns_tcp_up_recv(struct dns_conn *c)
{
	struct dns_proxy *p = c->t->p;

	for (;;) {
		size_t want = c->up_got < 2 ? 2 : 2 + ((size_t)c->out[0] << 8 | c->out[1]);
		ssize_t n;

		if (c->up_got >= 2 && c->up_got == want) {
			if (dns_answer_matches(cur_init(c->out + 2, want - 2), c->id, c->in + 2 + 12, c->qlen))
				return 1;
			dns_stats_of(p)->mismatched++;
			log_debug("dns: dropped an upstream TCP answer: wrong ID or question");
			return -EBADMSG;
		}
		n = recv(c->up.fd, c->out + c->up_got, want - c->up_got, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET; /* closed before the whole answer */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		c->up_got += (size_t)n;
	}
}

static unsigned dns_tcp_run(struct dns_conn *c, uint64_t now);

/* The upstream's answer is in out[0..up_got): send it to the guest. */
static void dns_tcp_answered(struct dns_conn *c, uint64_t now)
{
	dns_tcp_up_close(c);
	c->out[2] = (uint8_t)(c->guest_id >> 8);
	c->out[3] = (uint8_t)c->guest_id;
	memmove(c->in, c->in + c->qsize, c->in_len - c->qsize);
	c->in_len -= c->qsize;
	c->busy = false;
	c->out_seq = c->snd_una; /* == SND.NXT: a query starts only when all was acknowledged */
	c->out_len = c->up_got;
	c->last_active = now;
	dns_stats_of(c->t->p)->answers++;
	dns_tcp_run(c, now);
}

static void dns_tcp_drop(struct dns_conn *c);

/* EV_CALLBACK of an upstream connection. */
static void dns_tcp_up_ready(struct loop_src *s, uint32_t events)
{
	struct dns_conn *c = s->obj;
	uint64_t now = c->t->now;
	int r;

	if (!c->busy || c->up.fd < 0 || c->closed)
		return; /* a stale event */
	r = dns_tcp_up_send(c);
	if (r == 0)
		r = dns_tcp_up_recv(c);
	if (r < 0)
		dns_tcp_up_connect(c, now); /* the next upstream, or give up */
	else if (r > 0)
		dns_tcp_answered(c, now);
	if (c->closed)
		dns_tcp_drop(c);
}

/* --- queries --- */

/* Return: 1 when in[] holds a whole query, 0 when not yet, -EINVAL when it never will. */
static int dns_tcp_query_ready(const struct dns_conn *c)
{
	size_t len;

	if (c->in_len < 2)
		return 0;
	len = (size_t)c->in[0] << 8 | c->in[1];
	if (!len || len > sizeof(c->in) - 2)
		return -EINVAL;
	return c->in_len >= 2 + len;
}

static void dns_tcp_query_start(struct dns_conn *c, uint64_t now)
{
	struct dns_proxy *p = c->t->p;
	size_t len = (size_t)c->in[0] << 8 | c->in[1];
	int qlen = dns_query_parse(cur_init(c->in + 2, len));

	if (qlen < 0) {
		dns_stats_of(p)->dropped++;
		log_debug("dns: reset a TCP connection: not a query with one question");
		dns_tcp_reset(c);
		return;
	}
	c->qsize = 2 + len;
	c->qlen = (uint16_t)qlen;
	c->guest_id = (uint16_t)(c->in[2] << 8 | c->in[3]);
	dns_random(p, &c->id, sizeof(c->id));
	c->in[2] = (uint8_t)(c->id >> 8);
	c->in[3] = (uint8_t)c->id;
	c->busy = true;
	c->born = now;
	c->attempts = c->up_next = 0;
	dns_stats_of(p)->queries++;
	dns_tcp_up_connect(c, now);
}

/* Start the next query when due, close when the guest is done; then send. Return: segments sent. */
static unsigned dns_tcp_run(struct dns_conn *c, uint64_t now)
{
	int r;

	if (!c->open || c->closed)
		return 0;
	if (!c->busy && !c->fin_queued && c->snd_una == dns_tcp_end(c)) {
		r = dns_tcp_query_ready(c);
		if (r > 0)
			dns_tcp_query_start(c, now);
		else if (r < 0)
			dns_tcp_reset(c); /* a query larger than we take */
		else if (c->peer_fin)
			c->fin_queued = true;
	}
	return dns_tcp_push(c, now);
}

/* --- segments in --- */

/* The MSS to send with: the guest's option (RFC 9293 §3.7.1), capped by ours. */
static uint16_t dns_tcp_mss(struct cursor o, bool v6)
{
	uint16_t mss = v6 ? DNS_TCP_MSS_DEFAULT6 : DNS_TCP_MSS_DEFAULT4, ours = v6 ? DNS_TCP_MSS6 : DNS_TCP_MSS4;
	struct cursor v;
	uint8_t kind, len;

	/* Every pass consumes at least one byte; a zero or overlong length ends the list. */
	while (cur_u8(&o, &kind) == 0 && kind != DNS_TCP_OPT_EOL) {
		if (kind == DNS_TCP_OPT_NOP)
			continue;
		if (cur_u8(&o, &len) < 0 || len < 2 || cur_sub(&o, len - 2u, &v) < 0)
			break;
		if (kind == DNS_TCP_OPT_MSS && len == 4)
			cur_be16(&v, &mss);
	}
	if (mss > ours)
		mss = ours;
	return mss < DNS_TCP_MSS_MIN ? DNS_TCP_MSS_MIN : mss;
}

static struct dns_conn *dns_tcp_find(struct dns_tcp *t, const struct dns_flow *f)
{
	for (unsigned i = 0; i < t->n; i++) {
		struct dns_conn *c = t->conn[i];

		if (c->f.v6 == f->v6 && c->f.port == f->port && !memcmp(c->f.guest, f->guest, 16) &&
		    !memcmp(c->f.gw, f->gw, 16))
			return c;
	}
	return NULL;
}

/* A full table: reset its oldest half-open connection. Return: whether one went. */
static bool dns_tcp_evict(struct dns_tcp *t)
{
	struct dns_conn *old = NULL;

	for (unsigned i = 0; i < t->n; i++)
		if (!t->conn[i]->open && (!old || t->conn[i]->last_active < old->last_active))
			old = t->conn[i];
	if (!old)
		return false;
	dns_tcp_reset(old);
	dns_tcp_drop(old);
	return true;
}

/* A SYN for no connection: a new one in SYN-RECEIVED. */
static void dns_tcp_accept(struct dns_tcp *t, const struct dns_flow *f, const struct tcp_hdr *th,
			   struct cursor opts, uint64_t now)
{
	struct dns_conn *c;

	if (t->n == DNS_TCP_CONN_MAX && !dns_tcp_evict(t)) {
		log_debug("dns: refused a TCP connection: %d connections", DNS_TCP_CONN_MAX);
		dns_tcp_refuse(t, f, th, 0);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		dns_tcp_refuse(t, f, th, 0);
		return;
	}
	c->up.type = EV_CALLBACK;
	c->up.fd = -1;
	c->up.obj = c;
	c->up.cb = dns_tcp_up_ready;
	c->t = t;
	c->f = *f;
	dns_random(t->p, &c->iss, sizeof(c->iss));
	c->rcv_nxt = ntohl(th->seq) + 1;
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->out_seq = c->iss + 1; /* the SYN takes iss */
	c->mss = dns_tcp_mss(opts, f->v6);
	c->wnd = ntohs(th->win);
	c->cwnd = DNS_TCP_FLIGHT;
	c->rtx_since = c->last_active = now;
	t->conn[t->n++] = c;
	dns_tcp_synack(c);
}

/* New acknowledged data (SND.UNA < ack <= SND.MAX). */
static void dns_tcp_acked(struct dns_conn *c, uint32_t ack, uint64_t now)
{
	c->snd_una = ack;
	if (seq_gt(ack, c->snd_nxt))
		c->snd_nxt = ack; /* acknowledges what was sent before a retransmission */
	c->retries = 0;
	c->cwnd = DNS_TCP_FLIGHT;
	c->rtx_since = c->last_active = now;
}

/*
 * Sequence and ACK checks of a segment on an open or half-open connection
 * (RFC 9293 §3.10.7.4, reduced). Return: 1 to go on with *data trimmed to
 * start at RCV.NXT, 0 when it was dealt with.
 */
static int dns_tcp_check(struct dns_conn *c, const struct tcp_hdr *th, struct cursor *data, uint64_t now)
{
	uint32_t seq = ntohl(th->seq), ack = ntohl(th->ack), rwnd = dns_tcp_rwnd(c) ? dns_tcp_rwnd(c) : 1;
	size_t seglen = data->left + !!(th->flags & TCP_FIN);

	if (th->flags & TCP_SYN) {
		if (!c->open && !(th->flags & TCP_ACK) && seq + 1 == c->rcv_nxt)
			dns_tcp_synack(c); /* the guest did not get ours */
		else
			dns_tcp_ack(c); /* RFC 5961 §4.2: challenge ACK */
		return 0;
	}
	if (seq_lt(seq, c->rcv_nxt)) {
		uint32_t dup = c->rcv_nxt - seq;

		if (dup >= seglen) {
			if (!(th->flags & TCP_RST))
				dns_tcp_ack(c); /* all old: our ACK was lost, or a keepalive */
			return 0;
		}
		cur_pull(data, dup); /* dup < seglen: at most data->left */
		seq = c->rcv_nxt;
	}
	if (seq - c->rcv_nxt >= rwnd) {
		if (!(th->flags & TCP_RST))
			dns_tcp_ack(c);
		return 0;
	}
	if (th->flags & TCP_RST) {
		if (seq == c->rcv_nxt)
			c->closed = true; /* RFC 5961 §3.2: only an exact RST resets */
		else
			dns_tcp_ack(c);
		return 0;
	}
	if (!(th->flags & TCP_ACK))
		return 0;
	if (!c->open) {
		if (ack != c->iss + 1) {
			dns_tcp_emit(c->t->p, &c->f, ack, 0, TCP_RST, 0, 0, NULL, 0);
			return 0;
		}
		c->open = true;
		dns_stats_of(c->t->p)->tcp_accepted++;
		dns_tcp_acked(c, ack, now);
	} else if (seq_gt(ack, c->snd_max)) {
		dns_tcp_ack(c); /* acknowledges what we never sent */
		return 0;
	} else if (seq_gt(ack, c->snd_una)) {
		dns_tcp_acked(c, ack, now);
	}
	if (ack == c->snd_una)
		c->wnd = ntohs(th->win); /* not from an old, reordered ACK */
	if (seq != c->rcv_nxt) {
		if (seglen)
			dns_tcp_ack(c); /* out of order: ask for RCV.NXT again */
		dns_tcp_run(c, now);
		return 0;
	}
	return 1;
}

/* Is everything done: both FINs acknowledged? */
static bool dns_tcp_finished(const struct dns_conn *c)
{
	return c->peer_fin && c->fin_queued && c->snd_una == dns_tcp_end(c) + 1;
}

static void dns_tcp_segment(struct dns_conn *c, const struct tcp_hdr *th, struct cursor data, uint64_t now)
{
	size_t room = sizeof(c->in) - c->in_len, take = 0;
	bool fin = th->flags & TCP_FIN, ack_due;

	if (!dns_tcp_check(c, th, &data, now))
		return;
	ack_due = data.left || fin;
	if (data.left && !c->peer_fin) {
		take = data.left < room ? data.left : room;
		cur_copy(&data, c->in + c->in_len, take);
		c->in_len += take;
		c->rcv_nxt += (uint32_t)take;
		c->last_active = now;
	}
	if (fin && !data.left && !c->peer_fin) {
		c->rcv_nxt++;
		c->peer_fin = true;
		c->last_active = now;
	}
	if (!dns_tcp_run(c, now) && ack_due && !c->closed)
		dns_tcp_ack(c);
	if (dns_tcp_finished(c))
		c->closed = true;
}

void dns_tcp_input(struct dns_tcp *t, const struct dns_flow *f, struct cursor seg, uint64_t now)
{
	const struct tcp_hdr *th = cur_pull(&seg, sizeof(*th));
	struct cursor opts;
	struct dns_conn *c;
	size_t off;

	t->now = now;
	if (!th || (off = (size_t)(th->off >> 4) * 4) < sizeof(*th) || cur_sub(&seg, off - sizeof(*th), &opts) < 0) {
		dns_stats_of(t->p)->dropped++;
		log_debug("dns: dropped a TCP segment: bad data offset");
		return;
	}
	c = dns_tcp_find(t, f);
	if (!c) {
		/* RFC 9293 §3.10.7.2, LISTEN: RST ignored, ACK refused, SYN accepted, anything else dropped. */
		if (th->flags & TCP_RST)
			return;
		if (th->flags & TCP_ACK)
			dns_tcp_refuse(t, f, th, seg.left);
		else if ((th->flags & (TCP_SYN | TCP_FIN)) == TCP_SYN)
			dns_tcp_accept(t, f, th, opts, now);
		return;
	}
	dns_tcp_segment(c, th, seg, now);
	if (c->closed)
		dns_tcp_drop(c);
}

/* --- timers --- */

static void dns_tcp_timers(struct dns_conn *c, uint64_t now)
{
	if (c->busy) {
		if (now >= c->born + DNS_GIVE_UP)
			dns_tcp_give_up(c, now);
		else if (now >= c->tried_at + DNS_RETRY_AFTER)
			dns_tcp_up_connect(c, now);
	}
	if (now >= c->last_active + 2 * DNS_TCP_IDLE) {
		dns_tcp_reset(c); /* no progress at all: a hung or hostile peer */
		return;
	}
	if (c->snd_una != c->snd_max && now >= c->rtx_since + DNS_TCP_RTO) {
		if (++c->retries > DNS_TCP_RETRIES) {
			dns_tcp_reset(c);
			return;
		}
		c->rtx_since = now;
		c->cwnd = 1;
		if (!c->open) {
			dns_tcp_synack(c);
			return;
		}
		c->snd_nxt = c->snd_una; /* go back; the FIN, if it was sent, goes again after the data */
	}
	if (c->open && !c->busy && !c->fin_queued && c->snd_una == dns_tcp_end(c) &&
	    now >= c->last_active + DNS_TCP_IDLE)
		c->fin_queued = true; /* idle: close */
	dns_tcp_push(c, now);
}

void dns_tcp_tick(struct dns_tcp *t, uint64_t now)
{
	if (!t)
		return;
	t->now = now;
	/* Backwards: dropping moves the last connection into the slot just visited. */
	for (unsigned i = t->n; i-- > 0;) {
		struct dns_conn *c = t->conn[i];

		dns_tcp_timers(c, now);
		if (c->closed)
			dns_tcp_drop(c);
	}
}

/* --- set-up --- */

static void dns_tcp_drop(struct dns_conn *c)
{
	struct dns_tcp *t = c->t;

	dns_tcp_up_close(c);
	for (unsigned i = 0; i < t->n; i++) {
		if (t->conn[i] == c) {
			t->conn[i] = t->conn[--t->n];
			break;
		}
	}
	loop_defer_free(c); /* an event already fetched may name its upstream source */
}

int dns_tcp_new(struct dns_proxy *p, struct dns_tcp **out)
{
	struct dns_tcp *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->p = p;
	*out = t;
	return 0;
}

void dns_tcp_free(struct dns_tcp *t)
{
	if (!t)
		return;
	while (t->n)
		dns_tcp_drop(t->conn[t->n - 1]);
	free(t);
}
