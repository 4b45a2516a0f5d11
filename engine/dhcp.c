/*
 * dhcp.c — the DHCPv4 server of a network (RFC 2131; options RFC 2132).
 *
 * The gateway gives dhcp_input() each IPv4/UDP frame to port 67 (a private
 * copy); the reply, if any, is built into the caller's buffer as a complete
 * Ethernet frame. Leases live in a fixed table (lease.c), one slot per pool
 * address, persisted to a file; reservations are a small fixed array.
 *
 * Theory of operation
 *
 * Clients. A client is known by its identity: the client identifier
 * (option 61) when it sends one, else 01 + chaddr — the form RFC 2132 §9.14
 * suggests for Ethernet, so a client that starts or stops sending option 61
 * made of its MAC keeps its address. Reservations are by chaddr and beat
 * everything else. A client holds at most one slot.
 *
 * Lease states (lease.h), per pool address:
 *
 *   FREE --DISCOVER--> OFFERED --REQUEST--> BOUND --REQUEST (renew)--> BOUND
 *   OFFERED --DHCP_OFFER_HOLD (60 s) or REQUEST for another server--> expired offer
 *   BOUND --lease time or RELEASE--> expired lease, still the client's
 *   OFFERED/BOUND --DECLINE--> DECLINED --DHCP_DECLINE_HOLD (600 s)--> expired
 *   BLOCKED: the server's own address and reservations, never handed out
 *
 * An expired lease keeps its client until its address is needed by someone
 * else, so a guest coming back days later usually gets its old address.
 *
 * Address for a DISCOVER (RFC 2131 §4.3.1), the first that applies:
 *   1. the client's reservation;
 *   2. the client's slot, whatever its state or expiry;
 *   3. the requested address (option 50), if in the pool and available
 *      (free, or its holder expired);
 *   4. the lowest never-used address; else the oldest expired offer, then
 *      decline, then lease (offers go first: they never were a binding).
 * Unexpired leases and offers are never taken. Nothing left: the pool is
 * full — one warning a minute, no reply.
 *
 * REQUEST (§4.3.2): with a server identifier (SELECTING) the client answers
 * one server's offer: not ours, drop silently (and free our offer). Otherwise
 * the address is option 50 (SELECTING, INIT-REBOOT) or ciaddr (RENEWING,
 * REBINDING). ACK when it is the client's reservation or slot, or, for a
 * client without slot or reservation, when it is a pool address available
 * now (we are the only server on this link, so a guest whose lease file was
 * lost keeps its address); NAK for everything else, including addresses
 * outside the subnet. RFC 2131 asks INIT-REBOOT servers without a record of
 * the client to stay silent so that servers can share a wire; the virtual
 * link has one server, and silence would cost the guest a long timeout.
 *
 * Flood control. The table never grows: a flood of DISCOVERs with random
 * MACs fills the free addresses with 60-second offers, then gets nothing
 * (-ENOSPC) until they expire; established leases are never evicted before
 * they expire. A token bucket (cfg.rate_limit, default 200 messages/s, burst
 * as large) limits messages from clients that hold neither a reservation nor
 * an unexpired lease, so known guests keep renewing during a flood. The
 * bucket is per server — per network — because the gateway serves all of a
 * network's interfaces through one server; a fair per-interface limit belongs
 * in the caller, which knows the ports.
 *
 * Persistence. A change of binding (new lease, lease moved, RELEASE, DECLINE
 * of a lease, reservation taking a lease) rewrites the lease file at once.
 * A renewal only moves an expiry: it is written at once when the last save
 * is DHCP_SAVE_DELAY (60 s) old, else by the first message handled after
 * that, or by dhcp_server_free — so a guest renewing in a loop cannot make
 * the daemon fsync in a loop. After a crash a renewed lease may come back
 * with its previous expiry; it still belongs to its client. Offers are never
 * written.
 *
 * Replies (§4.1): a NAK is broadcast; a reply to a client that has an
 * address (ciaddr) is unicast to it at chaddr; anything else is broadcast to
 * ff:ff:ff:ff:ff:ff / 255.255.255.255 whether or not the broadcast bit is
 * set (every client can receive a broadcast; the RFC's unicast to yiaddr is
 * an optimisation). Checksums are computed; those of requests are not
 * checked (a virtual link does not corrupt, and checksum offload leaves UDP
 * sums of guests partial).
 *
 * Not implemented: relayed requests (giaddr set: dropped, the link has no
 * relay), option overload (52: sname and file are never parsed for options),
 * long options split over several instances (RFC 3396: the first instance
 * wins).
 */
#include "engine/dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/csum.h"
#include "common/cursor.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/lease.h"
#include "engine/wire.h"

#define DHCP_OFFER_HOLD 60     /* seconds an unanswered offer holds its address */
#define DHCP_DECLINE_HOLD 600  /* seconds a declined address stays unused */
#define DHCP_SAVE_DELAY 60     /* longest a renewal waits to be written */
#define DHCP_WARN_INTERVAL 60  /* at most one pool-full / save-failed warning per interval */

/* The options built into a reply must fit a 576-byte datagram (RFC 2131 §2). */
static_assert(DHCP_REPLY_MAX >= ETH_HLEN + sizeof(struct ipv4_hdr) + sizeof(struct udp_hdr) + DHCP_BOOTP_MIN,
	      "reply buffer");

struct dhcp_reservation {
	uint8_t mac[6];
	uint32_t ip; /* host order */
	char hostname[LEASE_HOSTNAME_MAX];
};

struct dhcp_server {
	uint8_t mac[6];
	uint32_t server, mask, net, bcast, dns; /* host order */
	uint32_t lease_time, rate;
	uint16_t mtu;
	char domain[64];
	char *lease_file; /* NULL: memory only */
	struct lease_table t;
	unsigned nres;
	struct dhcp_reservation res[DHCP_RESERVE_MAX];
	uint32_t tokens; /* token bucket of new-client messages */
	uint64_t tokens_at;
	uint64_t now; /* of the last dhcp_input, 0 before */
	uint64_t saved_at, full_warned_at, save_warned_at, decline_warned_at;
	bool dirty; /* the file is behind the table */
	bool defer; /* dhcp_defer_saves: bindings are written by dhcp_flush */
	bool save_due; /* a binding changed since the last dhcp_flush */
};

/* --- the parsed request --- */

/* The options read from a request; table-driven by dhcp_req_opts. */
enum dhcp_req_opt {
	RQ_MESSAGE_TYPE,
	RQ_REQUESTED_IP,
	RQ_SERVER_ID,
	RQ_CLIENT_ID,
	RQ_HOSTNAME,
	RQ_PARAM_REQUEST,
	RQ__N,
};

/* Accepted lengths; an option outside them is ignored, as if absent. */
static const struct dhcp_opt_rule {
	uint8_t code, min, max;
} dhcp_req_opts[RQ__N] = {
	[RQ_MESSAGE_TYPE] = { DHCP_OPT_MESSAGE_TYPE, 1, 1 },
	[RQ_REQUESTED_IP] = { DHCP_OPT_REQUESTED_IP, 4, 4 },
	[RQ_SERVER_ID] = { DHCP_OPT_SERVER_ID, 4, 4 },
	[RQ_CLIENT_ID] = { DHCP_OPT_CLIENT_ID, 2, 255 }, /* RFC 2132 §9.14: at least type + one byte */
	[RQ_HOSTNAME] = { DHCP_OPT_HOSTNAME, 1, 255 },
	[RQ_PARAM_REQUEST] = { DHCP_OPT_PARAM_REQUEST, 1, 255 },
};

struct dhcp_req {
	const struct dhcp_msg *msg; /* fixed header, in the caller's frame */
	uint32_t ciaddr; /* host order */
	uint32_t daddr; /* IPv4 destination, host order */
	uint8_t type; /* enum dhcp_msg_type */
	uint32_t reqip, server_id; /* host order, when has[] says so */
	bool has[RQ__N];
	struct cursor opt[RQ__N]; /* each option's value */
	struct lease_id id;
	const char *why; /* why it was dropped */
};

/* What to answer. */
struct dhcp_reply {
	uint8_t type; /* DHCP_OFFER, DHCP_ACK or DHCP_NAK */
	uint32_t yiaddr; /* host order; 0 for NAK and INFORM */
	bool lease; /* with lease time, T1 and T2 */
	const char *message; /* option 56, NAK only */
};

static int dhcp_bad(struct dhcp_req *rq, int r, const char *why)
{
	rq->why = why;
	return r;
}

/* Ethernet, IPv4 and UDP down to the UDP payload (left in *c). Return: 0 or -errno. */
static int dhcp_parse_l3(struct cursor *c, struct dhcp_req *rq)
{
	const struct eth_hdr *eth = cur_pull(c, sizeof(*eth));
	const struct ipv4_hdr *ip;
	const struct udp_hdr *uh;
	struct cursor ipc;
	size_t ihl, tot, ulen;

	if (!eth || eth->type != htons(ETHERTYPE_IPV4))
		return dhcp_bad(rq, -EPROTO, "not IPv4");
	if (!(ip = cur_pull(c, sizeof(*ip))))
		return dhcp_bad(rq, -EINVAL, "short IPv4 header");
	ihl = (size_t)(ip->ver_ihl & 0x0f) * 4;
	tot = ntohs(ip->tot_len);
	/* The datagram must lie inside the frame; what follows it is Ethernet padding. */
	if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip) || tot < ihl + sizeof(*uh) || tot - sizeof(*ip) > c->left)
		return dhcp_bad(rq, -EINVAL, "bad IPv4 lengths");
	if (ntohs(ip->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK))
		return dhcp_bad(rq, -EINVAL, "fragment");
	if (ip->proto != IPPROTO_UDP_)
		return dhcp_bad(rq, -EPROTO, "not UDP");
	rq->daddr = ntohl(ip->daddr);
	if (cur_sub(c, tot - sizeof(*ip), &ipc) < 0 || !cur_pull(&ipc, ihl - sizeof(*ip)) ||
	    !(uh = cur_pull(&ipc, sizeof(*uh))))
		return dhcp_bad(rq, -EINVAL, "short datagram");
	ulen = ntohs(uh->len);
	if (ntohs(uh->dport) != DHCP_PORT_SERVER)
		return dhcp_bad(rq, -EPROTO, "not to port 67");
	if (ulen < sizeof(*uh) || cur_sub(&ipc, ulen - sizeof(*uh), c) < 0)
		return dhcp_bad(rq, -EINVAL, "bad UDP length");
	/* No checksum check: a virtual link does not corrupt, and offloads leave UDP sums partial. */
	return 0;
}

static void dhcp_opt_store(struct dhcp_req *rq, uint8_t code, struct cursor v)
{
	for (size_t i = 0; i < RQ__N; i++) {
		const struct dhcp_opt_rule *ru = &dhcp_req_opts[i];

		if (ru->code != code)
			continue;
		if (!rq->has[i] && v.left >= ru->min && v.left <= ru->max) {
			rq->has[i] = true;
			rq->opt[i] = v;
		}
		return;
	}
}

/* The options after the magic cookie (RFC 2132 §2). Return: 0 or -EINVAL. */
static int dhcp_parse_options(struct cursor *c, struct dhcp_req *rq)
{
	uint8_t code, len;
	struct cursor v;

	/* Every pass consumes at least one byte: no loop can spin. A missing END is tolerated. */
	while (cur_u8(c, &code) == 0) {
		if (code == DHCP_OPT_PAD)
			continue;
		if (code == DHCP_OPT_END)
			break;
		if (cur_u8(c, &len) < 0 || cur_sub(c, len, &v) < 0)
			return dhcp_bad(rq, -EINVAL, "option runs past the end");
		dhcp_opt_store(rq, code, v); /* zero-length options are fine: ignored unless one we read */
	}
	return 0;
}

/* Decode the values the handlers use and the client identity. Return: 0 or -EINVAL. */
static int dhcp_parse_values(struct dhcp_req *rq)
{
	struct cursor v;
	uint8_t hw[1 + DHCP_HLEN_ETHER] = { DHCP_HTYPE_ETHER };

	v = rq->opt[RQ_MESSAGE_TYPE];
	if (!rq->has[RQ_MESSAGE_TYPE] || cur_u8(&v, &rq->type) < 0)
		return dhcp_bad(rq, -EINVAL, "no message type");
	v = rq->opt[RQ_REQUESTED_IP];
	if (rq->has[RQ_REQUESTED_IP])
		cur_be32(&v, &rq->reqip); /* length checked by the rule */
	v = rq->opt[RQ_SERVER_ID];
	if (rq->has[RQ_SERVER_ID])
		cur_be32(&v, &rq->server_id);
	if (rq->has[RQ_CLIENT_ID]) {
		lease_id_from(&rq->id, rq->opt[RQ_CLIENT_ID]);
	} else {
		memcpy(hw + 1, rq->msg->chaddr, DHCP_HLEN_ETHER);
		lease_id_from(&rq->id, cur_init(hw, sizeof(hw)));
	}
	return 0;
}

/* A whole request frame. Return: 0 or a negative errno (rq->why says why). */
static int dhcp_parse(const uint8_t *frame, size_t len, struct dhcp_req *rq)
{
	struct cursor c = cur_init(frame, len);
	const struct dhcp_msg *m;
	uint32_t cookie;
	int r;

	memset(rq, 0, sizeof(*rq));
	r = dhcp_parse_l3(&c, rq);
	if (r < 0)
		return r;
	if (!(m = cur_pull(&c, sizeof(*m))) || cur_be32(&c, &cookie) < 0)
		return dhcp_bad(rq, -EINVAL, "short BOOTP message");
	if (cookie != DHCP_MAGIC_COOKIE)
		return dhcp_bad(rq, -EINVAL, "no DHCP magic cookie");
	if (m->op != DHCP_OP_BOOTREQUEST)
		return dhcp_bad(rq, -EINVAL, "not a BOOTREQUEST");
	if (m->htype != DHCP_HTYPE_ETHER || m->hlen != DHCP_HLEN_ETHER)
		return dhcp_bad(rq, -EINVAL, "not Ethernet");
	if (m->giaddr)
		return dhcp_bad(rq, -EPROTO, "relayed");
	rq->msg = m;
	rq->ciaddr = ntohl(m->ciaddr);
	r = dhcp_parse_options(&c, rq);
	return r < 0 ? r : dhcp_parse_values(rq);
}

/* Return: whether the client asked for option code, or sent no parameter request list at all. */
static bool dhcp_asked(const struct dhcp_req *rq, uint8_t code)
{
	struct cursor c = rq->opt[RQ_PARAM_REQUEST];
	uint8_t v;

	if (!rq->has[RQ_PARAM_REQUEST])
		return true;
	while (cur_u8(&c, &v) == 0)
		if (v == code)
			return true;
	return false;
}

/* --- building replies --- */

static void dhcp_put_u32(struct writer *w, uint8_t code, uint32_t v)
{
	wr_u8(w, code);
	wr_u8(w, 4);
	wr_be32(w, v);
}

static void put_lease_time(struct writer *w, const struct dhcp_server *s)
{
	dhcp_put_u32(w, DHCP_OPT_LEASE_TIME, s->lease_time);
}

/* T1 = 50 % and T2 = 87.5 % of the lease (RFC 2131 §4.4.5). */
static void put_renewal_time(struct writer *w, const struct dhcp_server *s)
{
	dhcp_put_u32(w, DHCP_OPT_RENEWAL_TIME, s->lease_time / 2);
}

static void put_rebinding_time(struct writer *w, const struct dhcp_server *s)
{
	dhcp_put_u32(w, DHCP_OPT_REBINDING_TIME, (uint32_t)((uint64_t)s->lease_time * 7 / 8));
}

static void put_subnet_mask(struct writer *w, const struct dhcp_server *s)
{
	dhcp_put_u32(w, DHCP_OPT_SUBNET_MASK, s->mask);
}

static void put_router(struct writer *w, const struct dhcp_server *s)
{
	dhcp_put_u32(w, DHCP_OPT_ROUTER, s->server);
}

static void put_dns(struct writer *w, const struct dhcp_server *s)
{
	if (s->dns)
		dhcp_put_u32(w, DHCP_OPT_DNS_SERVER, s->dns);
}

static void put_domain(struct writer *w, const struct dhcp_server *s)
{
	size_t n = strlen(s->domain);

	if (!n)
		return;
	wr_u8(w, DHCP_OPT_DOMAIN_NAME);
	wr_u8(w, (uint8_t)n);
	wr_bytes(w, s->domain, n);
}

static void put_mtu(struct writer *w, const struct dhcp_server *s)
{
	if (s->mtu < 68)
		return; /* unset, or below the legal minimum (RFC 2132 §5.1) */
	wr_u8(w, DHCP_OPT_INTERFACE_MTU);
	wr_u8(w, 2);
	wr_be16(w, s->mtu);
}

static void put_broadcast(struct writer *w, const struct dhcp_server *s)
{
	dhcp_put_u32(w, DHCP_OPT_BROADCAST, s->bcast);
}

/* When an option goes into an OFFER or ACK. */
enum { RO_CORE, RO_LEASE, RO_ASKED };

/* Options after 53 and 54, in this order. Each put_* omits what is not configured. */
static const struct dhcp_reply_opt {
	uint8_t code;
	uint8_t when; /* RO_CORE: always; RO_LEASE: with a lease (not INFORM); RO_ASKED: when asked */
	void (*put)(struct writer *w, const struct dhcp_server *s);
} dhcp_reply_opts[] = {
	{ DHCP_OPT_LEASE_TIME, RO_LEASE, put_lease_time },
	{ DHCP_OPT_RENEWAL_TIME, RO_LEASE, put_renewal_time },
	{ DHCP_OPT_REBINDING_TIME, RO_LEASE, put_rebinding_time },
	{ DHCP_OPT_SUBNET_MASK, RO_CORE, put_subnet_mask },
	{ DHCP_OPT_ROUTER, RO_CORE, put_router },
	{ DHCP_OPT_DNS_SERVER, RO_CORE, put_dns },
	{ DHCP_OPT_DOMAIN_NAME, RO_ASKED, put_domain },
	{ DHCP_OPT_INTERFACE_MTU, RO_ASKED, put_mtu },
	{ DHCP_OPT_BROADCAST, RO_ASKED, put_broadcast },
};

/* Options of a reply, END included (RFC 2131 §4.3.1 table 3 says which go where). */
static void dhcp_put_options(struct writer *w, const struct dhcp_server *s, const struct dhcp_req *rq,
			     const struct dhcp_reply *rp)
{
	wr_u8(w, DHCP_OPT_MESSAGE_TYPE);
	wr_u8(w, 1);
	wr_u8(w, rp->type);
	dhcp_put_u32(w, DHCP_OPT_SERVER_ID, s->server);
	if (rp->type == DHCP_NAK) {
		size_t n = strlen(rp->message);

		wr_u8(w, DHCP_OPT_MESSAGE);
		wr_u8(w, (uint8_t)n);
		wr_bytes(w, rp->message, n);
	} else {
		for (size_t i = 0; i < sizeof(dhcp_reply_opts) / sizeof(dhcp_reply_opts[0]); i++) {
			const struct dhcp_reply_opt *o = &dhcp_reply_opts[i];

			if ((o->when == RO_LEASE && !rp->lease) || (o->when == RO_ASKED && !dhcp_asked(rq, o->code)))
				continue;
			o->put(w, s);
		}
	}
	wr_u8(w, DHCP_OPT_END);
}

/* The BOOTP header, cookie, options and padding (RFC 2131 table 3). */
static void dhcp_put_bootp(struct writer *w, const struct dhcp_server *s, const struct dhcp_req *rq,
			   const struct dhcp_reply *rp)
{
	size_t start = w->len;
	struct dhcp_msg *m = wr_put(w, sizeof(*m));
	uint8_t *pad;

	if (!m)
		return;
	memset(m, 0, sizeof(*m));
	m->op = DHCP_OP_BOOTREPLY;
	m->htype = DHCP_HTYPE_ETHER;
	m->hlen = DHCP_HLEN_ETHER;
	m->xid = rq->msg->xid;
	m->flags = rq->msg->flags;
	if (rp->type != DHCP_NAK && rq->type != DHCP_DISCOVER)
		m->ciaddr = rq->msg->ciaddr;
	m->yiaddr = htonl(rp->yiaddr);
	memcpy(m->chaddr, rq->msg->chaddr, sizeof(m->chaddr));
	wr_be32(w, DHCP_MAGIC_COOKIE);
	dhcp_put_options(w, s, rq, rp);
	if (w->len - start < DHCP_BOOTP_MIN) {
		size_t need = DHCP_BOOTP_MIN - (w->len - start);

		if ((pad = wr_put(w, need)))
			memset(pad, DHCP_OPT_PAD, need);
	}
}

/*
 * RFC 2131 §4.1 (giaddr is always 0 here): a NAK is broadcast; a reply to a
 * client with an address (ciaddr) is unicast to it; otherwise broadcast,
 * whatever the broadcast bit — every client can receive a broadcast.
 */
static void dhcp_put_l3(const struct dhcp_server *s, const struct dhcp_req *rq, const struct dhcp_reply *rp,
			struct eth_hdr *eth, struct ipv4_hdr *ip, struct udp_hdr *uh, size_t ulen)
{
	bool bcast = rp->type == DHCP_NAK || !rq->ciaddr;
	uint32_t sum;
	uint16_t check;

	memset(eth->dst, 0xff, ETH_ALEN);
	if (!bcast)
		memcpy(eth->dst, rq->msg->chaddr, ETH_ALEN);
	memcpy(eth->src, s->mac, ETH_ALEN);
	eth->type = htons(ETHERTYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + ulen));
	ip->ttl = 64;
	ip->proto = IPPROTO_UDP_;
	ip->saddr = htonl(s->server);
	ip->daddr = bcast ? htonl(INADDR_BROADCAST) : htonl(rq->ciaddr);
	ip->check = htons(csum_fold(csum_partial(ip, sizeof(*ip), 0)));
	uh->sport = htons(DHCP_PORT_SERVER);
	uh->dport = htons(DHCP_PORT_CLIENT);
	uh->len = htons((uint16_t)ulen);
	uh->check = 0;
	sum = csum_ipv4_pseudo(ip->saddr, ip->daddr, IPPROTO_UDP_, (uint16_t)ulen);
	check = csum_fold(csum_partial(uh, ulen, sum));
	uh->check = htons(check ? check : 0xffff); /* RFC 768: 0 means "no checksum" */
}

/* The reply frame into out. Return: its length, or -ENOBUFS. */
static int dhcp_build(const struct dhcp_server *s, const struct dhcp_req *rq, const struct dhcp_reply *rp,
		      uint8_t *out, size_t cap)
{
	struct writer w = wr_init(out, cap);
	struct eth_hdr *eth = wr_put(&w, sizeof(*eth));
	struct ipv4_hdr *ip = wr_put(&w, sizeof(*ip));
	struct udp_hdr *uh = wr_put(&w, sizeof(*uh));
	size_t body = w.len;

	dhcp_put_bootp(&w, s, rq, rp);
	if (w.bad || w.len > DHCP_REPLY_MAX)
		return -ENOBUFS;
	dhcp_put_l3(s, rq, rp, eth, ip, uh, sizeof(*uh) + (w.len - body));
	return (int)w.len;
}

/* --- helpers of the server --- */

/* Return: whether ip (host order) is a host address of the subnet net/mask. */
static bool dhcp_addr_in(uint32_t ip, uint32_t net, uint32_t mask)
{
	return (ip & mask) == net && ip != net && ip != (net | ~mask);
}

static void dhcp_ntoa(uint32_t ip, char buf[INET_ADDRSTRLEN])
{
	struct in_addr a = { .s_addr = htonl(ip) };

	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* Return: true (and remember now) when a warning may be logged: at most one per DHCP_WARN_INTERVAL. */
static bool dhcp_warn_ok(uint64_t *last, uint64_t now)
{
	if (*last && now >= *last && now - *last < DHCP_WARN_INTERVAL)
		return false;
	*last = now ? now : 1;
	return true;
}

/* The monotonic time of the last message, or the clock's before the first one. */
static uint64_t dhcp_clock(const struct dhcp_server *s)
{
	struct timespec ts;

	if (s->now)
		return s->now;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static struct dhcp_reservation *dhcp_res_by_mac(struct dhcp_server *s, const uint8_t mac[6])
{
	for (unsigned i = 0; i < s->nres; i++)
		if (!memcmp(s->res[i].mac, mac, ETH_ALEN))
			return &s->res[i];
	return NULL;
}

/* Write the lease file now (a failure is logged, at most once a minute, and retried later). */
static void dhcp_save(struct dhcp_server *s, uint64_t now)
{
	int r;

	s->saved_at = now;
	if (!s->lease_file) {
		s->dirty = false;
		return;
	}
	r = lease_save(&s->t, s->lease_file, now);
	if (r == 0)
		s->dirty = false;
	else if (dhcp_warn_ok(&s->save_warned_at, now))
		log_warn("dhcp: cannot save leases to %s: %s", s->lease_file, strerror(-r));
}

/* The table changed. binding: a client gained or lost an address (written now); else an expiry moved. */
static void dhcp_commit(struct dhcp_server *s, uint64_t now, bool binding)
{
	s->dirty = true;
	if (binding && s->defer)
		s->save_due = true;
	else if (binding || now - s->saved_at >= DHCP_SAVE_DELAY)
		dhcp_save(s, now);
}

void dhcp_defer_saves(struct dhcp_server *s, bool on)
{
	if (s)
		s->defer = on;
}

void dhcp_flush(struct dhcp_server *s)
{
	if (s && s->save_due) {
		s->save_due = false;
		dhcp_save(s, s->now);
	}
}

/*
 * Flood limit for clients without reservation or unexpired lease: at most
 * s->rate messages per second (a token bucket refilled every second, burst
 * as large). Return: whether this message may go on.
 */
static bool dhcp_rate_ok(struct dhcp_server *s, const struct dhcp_req *rq, uint64_t now)
{
	const struct lease *l;

	if (dhcp_res_by_mac(s, rq->msg->chaddr))
		return true;
	l = lease_by_id(&s->t, &rq->id);
	if (l && l->state == LEASE_BOUND && l->expires > now)
		return true;
	if (now != s->tokens_at) {
		s->tokens_at = now;
		s->tokens = s->rate;
	}
	if (!s->tokens)
		return false;
	s->tokens--;
	return true;
}

static void dhcp_note_hostname(const struct dhcp_req *rq, char hostname[LEASE_HOSTNAME_MAX])
{
	if (rq->has[RQ_HOSTNAME])
		lease_hostname_from(hostname, rq->opt[RQ_HOSTNAME]);
}

static int dhcp_answer(struct dhcp_reply *rp, uint8_t type, uint32_t yiaddr, bool lease)
{
	rp->type = type;
	rp->yiaddr = yiaddr;
	rp->lease = lease;
	return 1;
}

/* RFC 2131 §4.3.2: NAK with a reason (option 56), no address. */
static int dhcp_nak(struct dhcp_reply *rp, const char *message)
{
	rp->message = message;
	return dhcp_answer(rp, DHCP_NAK, 0, false);
}

/* --- message handlers: return 1 with *rp to reply, 0 for no reply, or -errno --- */

static void dhcp_warn_full(struct dhcp_server *s, const struct dhcp_req *rq, uint64_t now)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], mac[UTIL_MAC_STRLEN];

	if (!dhcp_warn_ok(&s->full_warned_at, now))
		return;
	dhcp_ntoa(s->t.first, a);
	dhcp_ntoa(s->t.first + s->t.n - 1, b);
	util_mac_to_string(rq->msg->chaddr, mac);
	log_warn("dhcp: address pool %s-%s is full (all leases and offers current): no address for %s "
		 "(next warning in %d s at the earliest)", a, b, mac, DHCP_WARN_INTERVAL);
}

/* The slot to offer a client without reservation (allocation order: theory of operation). */
static struct lease *dhcp_offer_slot(struct dhcp_server *s, const struct dhcp_req *rq, uint64_t now)
{
	struct lease *l = lease_by_id(&s->t, &rq->id);

	if (l)
		return l;
	if (rq->has[RQ_REQUESTED_IP] && (l = lease_by_ip(&s->t, rq->reqip)) && lease_available(l, now))
		return l;
	return lease_pick(&s->t, now);
}

/* DHCPDISCOVER (RFC 2131 §4.3.1). */
static int dhcp_discover(struct dhcp_server *s, const struct dhcp_req *rq, struct dhcp_reply *rp, uint64_t now)
{
	struct dhcp_reservation *res = dhcp_res_by_mac(s, rq->msg->chaddr);
	struct lease *l;

	if (res) {
		dhcp_note_hostname(rq, res->hostname);
		return dhcp_answer(rp, DHCP_OFFER, res->ip, true);
	}
	l = dhcp_offer_slot(s, rq, now);
	if (!l) {
		dhcp_warn_full(s, rq, now);
		return -ENOSPC;
	}
	/* The client's own lease stays BOUND; anything else becomes a short-lived offer. */
	if (l->state != LEASE_BOUND || !lease_id_eq(&l->id, &rq->id)) {
		if (l->state == LEASE_BOUND)
			s->dirty = true; /* another client's expired lease is reclaimed */
		lease_assign(&s->t, l, LEASE_OFFERED, &rq->id, rq->msg->chaddr, now + DHCP_OFFER_HOLD);
	}
	dhcp_note_hostname(rq, l->hostname);
	return dhcp_answer(rp, DHCP_OFFER, lease_ip(&s->t, l), true);
}

/* ACK a client's reservation; a dynamic slot it still holds is given back. */
static int dhcp_bind_reserved(struct dhcp_server *s, const struct dhcp_req *rq, struct dhcp_reply *rp,
			      struct dhcp_reservation *res, uint32_t ip, uint64_t now)
{
	struct lease *l;

	if (ip != res->ip)
		return dhcp_nak(rp, "another address is reserved for this client");
	if ((l = lease_by_id(&s->t, &rq->id))) {
		lease_clear(&s->t, l, LEASE_FREE, 0);
		dhcp_commit(s, now, true);
	}
	dhcp_note_hostname(rq, res->hostname);
	return dhcp_answer(rp, DHCP_ACK, ip, true);
}

static void dhcp_log_bound(const struct dhcp_server *s, const struct lease *l)
{
	char a[INET_ADDRSTRLEN], mac[UTIL_MAC_STRLEN];

	dhcp_ntoa(lease_ip(&s->t, l), a);
	util_mac_to_string(l->mac, mac);
	log_info("dhcp: %s leased to %s%s%s", a, mac, l->hostname[0] ? " " : "", l->hostname);
}

/* ACK or NAK a client asking for ip (every REQUEST state, RFC 2131 §4.3.2). */
static int dhcp_bind(struct dhcp_server *s, const struct dhcp_req *rq, struct dhcp_reply *rp, uint32_t ip,
		     uint64_t now)
{
	struct dhcp_reservation *res = dhcp_res_by_mac(s, rq->msg->chaddr);
	struct lease *l;
	bool fresh;

	if (!dhcp_addr_in(ip, s->net, s->mask) || ip == s->server)
		return dhcp_nak(rp, "address not on this network");
	if (res)
		return dhcp_bind_reserved(s, rq, rp, res, ip, now);
	l = lease_by_id(&s->t, &rq->id);
	if (l && lease_ip(&s->t, l) != ip)
		return dhcp_nak(rp, "address not leased to this client");
	if (!l && (!(l = lease_by_ip(&s->t, ip)) || !lease_available(l, now)))
		return dhcp_nak(rp, "address not available");
	fresh = l->state != LEASE_BOUND || !lease_id_eq(&l->id, &rq->id);
	lease_assign(&s->t, l, LEASE_BOUND, &rq->id, rq->msg->chaddr, now + s->lease_time);
	dhcp_note_hostname(rq, l->hostname);
	if (fresh)
		dhcp_log_bound(s, l);
	dhcp_commit(s, now, fresh);
	return dhcp_answer(rp, DHCP_ACK, ip, true);
}

/* DHCPREQUEST (RFC 2131 §4.3.2): which state the client is in decides the address. */
static int dhcp_request(struct dhcp_server *s, const struct dhcp_req *rq, struct dhcp_reply *rp, uint64_t now)
{
	struct lease *l;

	if (rq->has[RQ_SERVER_ID]) {
		/* SELECTING. Another server's identifier: the client declined our offer (§3.1 step 4). */
		if (rq->server_id != s->server) {
			if ((l = lease_by_id(&s->t, &rq->id)) && l->state == LEASE_OFFERED)
				lease_clear(&s->t, l, LEASE_FREE, 0);
			return 0;
		}
		if (!rq->has[RQ_REQUESTED_IP])
			return -EINVAL; /* SELECTING MUST carry the requested address */
		return dhcp_bind(s, rq, rp, rq->reqip, now);
	}
	if (rq->ciaddr)
		return dhcp_bind(s, rq, rp, rq->ciaddr, now); /* RENEWING (unicast) or REBINDING (broadcast) */
	if (rq->has[RQ_REQUESTED_IP])
		return dhcp_bind(s, rq, rp, rq->reqip, now); /* INIT-REBOOT */
	return -EINVAL;
}

/* The slot a RELEASE or DECLINE names, when it is this client's. Return: 0 and *out, or -errno. */
static int dhcp_owned_slot(struct dhcp_server *s, const struct dhcp_req *rq, uint32_t ip, struct lease **out)
{
	struct lease *l = lease_by_ip(&s->t, ip);
	char a[INET_ADDRSTRLEN];

	if (!l || (l->state != LEASE_BOUND && l->state != LEASE_OFFERED))
		return -ENOENT;
	if (!lease_id_eq(&l->id, &rq->id)) {
		dhcp_ntoa(ip, a);
		log_debug("dhcp: ignored %s for %s from a client that does not hold it",
			  rq->type == DHCP_RELEASE ? "DHCPRELEASE" : "DHCPDECLINE", a);
		return -EPERM;
	}
	*out = l;
	return 0;
}

/* DHCPRELEASE (RFC 2131 §4.3.4): only from the client holding the lease. */
static int dhcp_release(struct dhcp_server *s, const struct dhcp_req *rq, struct dhcp_reply *rp, uint64_t now)
{
	struct dhcp_reservation *res = dhcp_res_by_mac(s, rq->msg->chaddr);
	struct lease *l;
	int r;

	if (rq->has[RQ_SERVER_ID] && rq->server_id != s->server)
		return 0; /* a lease of another server */
	if (res && res->ip == rq->ciaddr)
		return 0; /* a reservation outlives releases */
	r = dhcp_owned_slot(s, rq, rq->ciaddr, &l);
	if (r < 0)
		return r;
	/* Not allocated any more, but remembered: the client gets it back unless someone needs it. */
	if (l->state == LEASE_OFFERED)
		lease_clear(&s->t, l, LEASE_FREE, 0);
	else
		l->expires = now;
	dhcp_commit(s, now, true);
	return 0;
}

/* DHCPDECLINE (RFC 2131 §4.3.3): the client found its address in use; keep it out of the pool a while. */
static int dhcp_decline(struct dhcp_server *s, const struct dhcp_req *rq, struct dhcp_reply *rp, uint64_t now)
{
	struct dhcp_reservation *res = dhcp_res_by_mac(s, rq->msg->chaddr);
	char a[INET_ADDRSTRLEN], mac[UTIL_MAC_STRLEN];
	struct lease *l;
	bool bound;
	int r;

	if (rq->has[RQ_SERVER_ID] && rq->server_id != s->server)
		return 0;
	if (!rq->has[RQ_REQUESTED_IP])
		return -EINVAL; /* DECLINE MUST carry the address */
	dhcp_ntoa(rq->reqip, a);
	util_mac_to_string(rq->msg->chaddr, mac);
	if (res && res->ip == rq->reqip) {
		if (dhcp_warn_ok(&s->decline_warned_at, now))
			log_warn("dhcp: %s declined its reserved address %s: another host uses it", mac, a);
		return 0;
	}
	r = dhcp_owned_slot(s, rq, rq->reqip, &l);
	if (r < 0)
		return r;
	bound = l->state == LEASE_BOUND;
	lease_clear(&s->t, l, LEASE_DECLINED, now + DHCP_DECLINE_HOLD);
	if (dhcp_warn_ok(&s->decline_warned_at, now)) /* a guest could decline in a loop: rate-limited */
		log_warn("dhcp: %s declined %s: another host uses it; not handed out for %d s", mac, a,
			 DHCP_DECLINE_HOLD);
	dhcp_commit(s, now, bound);
	return 0;
}

/* DHCPINFORM (RFC 2131 §4.3.5): configuration only — no lease time, no yiaddr; unicast to ciaddr. */
static int dhcp_inform(struct dhcp_server *s, const struct dhcp_req *rq, struct dhcp_reply *rp, uint64_t now)
{
	return dhcp_answer(rp, DHCP_ACK, 0, false);
}

typedef int (*dhcp_handler)(struct dhcp_server *s, const struct dhcp_req *rq, struct dhcp_reply *rp,
			    uint64_t now);

static const dhcp_handler dhcp_handlers[] = {
	[DHCP_DISCOVER] = dhcp_discover,
	[DHCP_REQUEST] = dhcp_request,
	[DHCP_DECLINE] = dhcp_decline,
	[DHCP_RELEASE] = dhcp_release,
	[DHCP_INFORM] = dhcp_inform,
};

/* Parse and admit one request. Return: 0, or -errno with rq->why. */
static int dhcp_admit(struct dhcp_server *s, const uint8_t *frame, size_t len, struct dhcp_req *rq,
		      uint64_t now)
{
	int r = dhcp_parse(frame, len, rq);

	if (r < 0)
		return r;
	/* Broadcast, or unicast to us (RENEWING): a request for another server is not ours to answer. */
	if (rq->daddr != INADDR_BROADCAST && rq->daddr != s->server && rq->daddr != s->bcast)
		return dhcp_bad(rq, -EPROTO, "not to this server");
	if (rq->type >= sizeof(dhcp_handlers) / sizeof(dhcp_handlers[0]) || !dhcp_handlers[rq->type])
		return dhcp_bad(rq, -EPROTO, "not a client message type");
	if (!dhcp_rate_ok(s, rq, now))
		return dhcp_bad(rq, -EAGAIN, "rate limit");
	return 0;
}

int dhcp_input(struct dhcp_server *s, const uint8_t *frame, size_t len, uint8_t *out, size_t outcap, uint64_t now)
{
	struct dhcp_reply rp = { 0 };
	struct dhcp_req rq;
	int r;

	if (!s || !out || outcap < DHCP_REPLY_MAX)
		return -ENOBUFS;
	s->now = now;
	r = dhcp_admit(s, frame, len, &rq, now);
	if (r < 0) {
		log_debug("dhcp: dropped a request: %s", rq.why);
		return r;
	}
	r = dhcp_handlers[rq.type](s, &rq, &rp, now);
	if (s->dirty && now - s->saved_at >= DHCP_SAVE_DELAY)
		dhcp_save(s, now); /* renewals waiting to be written */
	return r > 0 ? dhcp_build(s, &rq, &rp, out, outcap) : r;
}

/* --- set-up --- */

/* Return: 0 and the pool as first/n, or -EINVAL for an inconsistent configuration. */
static int dhcp_config_check(const struct dhcp_config *cfg, uint32_t *first, uint32_t *n)
{
	uint32_t mask = ntohl(cfg->mask.s_addr), host = ~mask, srv = ntohl(cfg->server.s_addr);
	uint32_t a = ntohl(cfg->pool_start.s_addr), b = ntohl(cfg->pool_end.s_addr), net = srv & mask;
	char sa[INET_ADDRSTRLEN], sb[INET_ADDRSTRLEN];

	if (!mask || (host & (host + 1)) || host < 3)
		return -EINVAL; /* not contiguous, or no room for hosts */
	if (!dhcp_addr_in(srv, net, mask) || !dhcp_addr_in(a, net, mask) || !dhcp_addr_in(b, net, mask) || a > b)
		return -EINVAL;
	*first = a;
	*n = b - a + 1;
	if (*n > LEASE_MAX) {
		dhcp_ntoa(a, sa);
		dhcp_ntoa(b, sb);
		log_warn("dhcp: pool %s-%s has %u addresses; serving the first %d", sa, sb, *n, LEASE_MAX);
		*n = LEASE_MAX;
	}
	return 0;
}

static void dhcp_config_copy(struct dhcp_server *s, const struct dhcp_config *cfg)
{
	memcpy(s->mac, cfg->server_mac, sizeof(s->mac));
	s->server = ntohl(cfg->server.s_addr);
	s->mask = ntohl(cfg->mask.s_addr);
	s->net = s->server & s->mask;
	s->bcast = s->net | ~s->mask;
	s->dns = ntohl(cfg->dns.s_addr);
	s->lease_time = cfg->lease_time ? cfg->lease_time : DHCP_LEASE_TIME_DEFAULT;
	s->rate = cfg->rate_limit ? cfg->rate_limit : DHCP_RATE_DEFAULT;
	s->tokens = s->rate;
	s->mtu = cfg->mtu;
	memcpy(s->domain, cfg->domain, sizeof(s->domain) - 1); /* always NUL-terminated */
}

int dhcp_server_new(const struct dhcp_config *cfg, struct dhcp_server **out)
{
	struct dhcp_server *s;
	struct lease *l;
	uint32_t first, n;
	int r;

	if (!cfg || !out)
		return -EINVAL;
	*out = NULL;
	r = dhcp_config_check(cfg, &first, &n);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	dhcp_config_copy(s, cfg);
	r = lease_table_init(&s->t, first, n);
	if (r == 0 && cfg->lease_file && !(s->lease_file = strdup(cfg->lease_file)))
		r = -ENOMEM;
	if (r == 0 && (l = lease_by_ip(&s->t, s->server)))
		lease_clear(&s->t, l, LEASE_BLOCKED, 0); /* the gateway's own address */
	if (r == 0 && s->lease_file) {
		r = lease_load(&s->t, s->lease_file, dhcp_clock(s));
		if (r > 0)
			log_info("dhcp: %d lease%s loaded from %s", r, r == 1 ? "" : "s", s->lease_file);
		r = r < 0 ? r : 0;
	}
	if (r < 0) {
		dhcp_server_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void dhcp_server_free(struct dhcp_server *s)
{
	if (!s)
		return;
	if (s->dirty)
		dhcp_save(s, dhcp_clock(s));
	lease_table_fini(&s->t);
	free(s->lease_file);
	free(s);
}

/* A new reservation ends the dynamic leases in its way: on its address, and of its MAC. */
static void dhcp_reserve_evict(struct dhcp_server *s, const struct dhcp_reservation *res)
{
	struct lease *l = lease_by_ip(&s->t, res->ip);
	bool binding = false;

	if (l) {
		binding = l->state == LEASE_BOUND;
		lease_clear(&s->t, l, LEASE_BLOCKED, 0);
	}
	for (uint32_t i = 0; i < s->t.n; i++) {
		l = &s->t.slot[i];
		if ((l->state == LEASE_BOUND || l->state == LEASE_OFFERED) && !memcmp(l->mac, res->mac, ETH_ALEN)) {
			binding |= l->state == LEASE_BOUND;
			lease_clear(&s->t, l, LEASE_FREE, 0);
		}
	}
	if (binding)
		dhcp_commit(s, dhcp_clock(s), true);
}

int dhcp_reserve(struct dhcp_server *s, const uint8_t mac[6], struct in_addr ip)
{
	uint32_t a = ntohl(ip.s_addr);
	struct dhcp_reservation *res;
	struct lease *l;

	if (!s || !mac || (mac[0] & 1) || !dhcp_addr_in(a, s->net, s->mask) || a == s->server)
		return -EINVAL; /* multicast MAC, or not a host address of the subnet */
	for (unsigned i = 0; i < s->nres; i++)
		if (s->res[i].ip == a && memcmp(s->res[i].mac, mac, ETH_ALEN))
			return -EINVAL; /* reserved for another MAC */
	res = dhcp_res_by_mac(s, mac);
	if (!res) {
		if (s->nres == DHCP_RESERVE_MAX)
			return -ENOSPC;
		res = &s->res[s->nres++];
		memset(res, 0, sizeof(*res));
		memcpy(res->mac, mac, ETH_ALEN);
	} else if ((l = lease_by_ip(&s->t, res->ip)) && l->state == LEASE_BLOCKED) {
		lease_clear(&s->t, l, LEASE_FREE, 0); /* the old reserved address returns to the pool */
	}
	res->ip = a;
	dhcp_reserve_evict(s, res);
	return 0;
}

void dhcp_leases(struct dhcp_server *s, void *ctx, dhcp_lease_fn fn)
{
	struct in_addr a;

	if (!s || !fn)
		return;
	for (unsigned i = 0; i < s->nres; i++) {
		a.s_addr = htonl(s->res[i].ip);
		fn(ctx, s->res[i].mac, a, s->res[i].hostname, 0);
	}
	for (uint32_t i = 0; i < s->t.n; i++) {
		const struct lease *l = &s->t.slot[i];

		if (l->state != LEASE_BOUND)
			continue;
		a.s_addr = htonl(lease_ip(&s->t, l));
		fn(ctx, l->mac, a, l->hostname, l->expires ? l->expires : 1);
	}
}
