/*
 * dhcp6.c — the gateway's stateless DHCPv6 server (RFC 8415 §6.1): DNS
 * configuration for guests that got their addresses by SLAAC.
 *
 * Theory of operation
 *
 * Guests learn from the router advertisement (ndp.c) that addresses come
 * from SLAAC (M = 0) and other configuration from DHCPv6 (O = 1). A client
 * then multicasts an Information-request to ff02::1:2; we answer with a
 * Reply carrying our DUID, its own client identifier, the DNS server
 * (option 23, the gateway's global address), the domain search list (24)
 * and an information refresh time (32). There are no leases, so no state:
 * each call reads one frame and writes at most one reply.
 *
 * A client configured for stateful DHCPv6 sends a Solicit. It gets an
 * Advertise without any IA and with the status NoAddrsAvail (RFC 8415
 * §18.3.9), plus the DNS options, so it learns at once that no addresses are
 * handed out here instead of soliciting into the void. Request, Renew,
 * Rebind, Confirm, Release and Decline therefore never concern us and are
 * ignored, as are relay messages (the link has no relay) and server
 * messages.
 *
 * Validation, before anything is answered:
 *   - IPv6 with UDP directly after the fixed header, to port 547, to
 *     ff02::1:2 or one of our addresses, from a unicast address;
 *   - the UDP length equal to the IPv6 payload length, and a non-zero,
 *     correct checksum (mandatory over IPv6, RFC 8200 §8.1). Guests give us
 *     complete checksums: the ports do not offer checksum offload yet;
 *   - options (RFC 8415 §21.1) read with one cursor: an option running past
 *     its container drops the message; so does a client or server
 *     identifier outside the DUID lengths (§11.1: 2-byte type and 1 to 128
 *     bytes), including zero-length ones, and a malformed IA. IA_NA, IA_TA
 *     and IA_PD are walked down to the options of their addresses and
 *     prefixes (depth two at most: the recursion is bounded); an IA inside
 *     an IA, or an address inside an address, drops the message. Other
 *     options, zero-length ones included (Rapid Commit is one), are skipped;
 *   - per message (§16): a Solicit needs a client identifier and no server
 *     identifier; an Information-request carries no IA, and one with
 *     another server's identifier is not for us.
 *
 * Our DUID is DUID-LL (§11.4) made of the gateway's MAC: stable as long as
 * the network's gateway address is.
 */
#include "engine/ip6.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common/cursor.h"
#include "common/log.h"
#include "engine/wire.h"

#define DHCP6_PORT_CLIENT 546
#define DHCP6_PORT_SERVER 547
#define DHCP6_HOP_LIMIT 64

/* Message types (RFC 8415 §7.3). */
enum dhcp6_msg_type {
	DHCP6_SOLICIT = 1,
	DHCP6_ADVERTISE = 2,
	DHCP6_REQUEST = 3,
	DHCP6_CONFIRM = 4,
	DHCP6_RENEW = 5,
	DHCP6_REBIND = 6,
	DHCP6_REPLY = 7,
	DHCP6_RELEASE = 8,
	DHCP6_DECLINE = 9,
	DHCP6_RECONFIGURE = 10,
	DHCP6_INFORMATION_REQUEST = 11,
	DHCP6_RELAY_FORW = 12,
	DHCP6_RELAY_REPL = 13,
};

/* Option codes (RFC 8415 §21, RFC 3646). */
#define DHCP6_OPT_CLIENTID 1
#define DHCP6_OPT_SERVERID 2
#define DHCP6_OPT_IA_NA 3
#define DHCP6_OPT_IA_TA 4
#define DHCP6_OPT_IAADDR 5
#define DHCP6_OPT_STATUS_CODE 13
#define DHCP6_OPT_DNS_SERVERS 23
#define DHCP6_OPT_DOMAIN_LIST 24
#define DHCP6_OPT_IA_PD 25
#define DHCP6_OPT_IAPREFIX 26
#define DHCP6_OPT_INFORMATION_REFRESH_TIME 32

#define DHCP6_STATUS_NO_ADDRS_AVAIL 2 /* RFC 8415 §21.13 */
#define DHCP6_NO_ADDRS_MESSAGE "stateless DHCPv6 only: use SLAAC"
#define DHCP6_INFO_REFRESH 86400      /* seconds */

#define DUID_TYPE_LL 3 /* RFC 8415 §11.4 */
#define DUID_HWTYPE_ETHER 1
#define DUID_MIN 3     /* 2-byte type + at least one byte (§11.1) */
#define DUID_MAX 130   /* 2-byte type + at most 128 bytes */

struct dhcp6_hdr {
	uint8_t type; /* enum dhcp6_msg_type */
	uint8_t xid[3];
} __attribute__((packed));
static_assert(sizeof(struct dhcp6_hdr) == 4, "RFC 8415 §8");

struct dhcp6_opt_hdr {
	uint16_t code, len; /* network order; len of the value only */
} __attribute__((packed));
static_assert(sizeof(struct dhcp6_opt_hdr) == 4, "RFC 8415 §21.1");

struct dhcp6_duid_ll {
	uint16_t type, hwtype;
	uint8_t mac[ETH_ALEN];
} __attribute__((packed));
static_assert(sizeof(struct dhcp6_duid_ll) == 10, "RFC 8415 §11.4");

/* Fixed parts before the nested options of the container options. */
#define DHCP6_IA_NA_FIXED 12   /* IAID, T1, T2 (§21.4) */
#define DHCP6_IA_TA_FIXED 4    /* IAID (§21.5) */
#define DHCP6_IA_PD_FIXED 12   /* IAID, T1, T2 (§21.21) */
#define DHCP6_IAADDR_FIXED 24  /* address, preferred and valid lifetimes (§21.6) */
#define DHCP6_IAPREFIX_FIXED 25 /* lifetimes, prefix length, prefix (§21.22) */
#define DHCP6_NEST_MAX 2       /* IA → address or prefix → their options */

static const uint8_t all_dhcp_agents[16] = { 0xff, 0x02, [13] = 0x01, [15] = 0x02 }; /* ff02::1:2 */

/* The options kept from a request. */
enum dhcp6_req_opt {
	RQ6_CLIENT_ID,
	RQ6_SERVER_ID,
	RQ6__N,
};

static const struct dhcp6_opt_rule {
	uint16_t code, min, max;
} dhcp6_req_opts[RQ6__N] = {
	[RQ6_CLIENT_ID] = { DHCP6_OPT_CLIENTID, DUID_MIN, DUID_MAX },
	[RQ6_SERVER_ID] = { DHCP6_OPT_SERVERID, DUID_MIN, DUID_MAX },
};

struct dhcp6_req {
	struct ip6_pkt pkt;
	const struct dhcp6_hdr *msg;
	bool has[RQ6__N];
	struct cursor opt[RQ6__N]; /* each kept option's value */
	bool has_ia;
	const char *why;
};

static int dhcp6_bad(struct dhcp6_req *rq, int r, const char *why)
{
	rq->why = why;
	return r;
}

/* Return: the reply type, 0 for no reply, or -errno (handlers at the end of the file). */
typedef int (*dhcp6_handler)(const struct ip6_config *cfg, struct dhcp6_req *rq);

/* Return: the handler of a message type, or NULL when we do not answer it. */
static dhcp6_handler dhcp6_handler_of(uint8_t type);

/* Return: the fixed length of a container option (IA, address, prefix), or 0 for any other. */
static size_t dhcp6_container_fixed(uint16_t code)
{
	switch (code) {
	case DHCP6_OPT_IA_NA:
		return DHCP6_IA_NA_FIXED;
	case DHCP6_OPT_IA_TA:
		return DHCP6_IA_TA_FIXED;
	case DHCP6_OPT_IA_PD:
		return DHCP6_IA_PD_FIXED;
	case DHCP6_OPT_IAADDR:
		return DHCP6_IAADDR_FIXED;
	case DHCP6_OPT_IAPREFIX:
		return DHCP6_IAPREFIX_FIXED;
	default:
		return 0;
	}
}

static bool dhcp6_is_ia(uint16_t code)
{
	return code == DHCP6_OPT_IA_NA || code == DHCP6_OPT_IA_TA || code == DHCP6_OPT_IA_PD;
}

/* Take one option from c. Return: 0 with its code and value, or -1 when it does not fit. */
static int dhcp6_opt_next(struct cursor *c, uint16_t *code, struct cursor *v)
{
	uint16_t len;

	if (cur_be16(c, code) < 0 || cur_be16(c, &len) < 0 || cur_sub(c, len, v) < 0)
		return -1;
	return 0;
}

/*
 * The options inside a container at depth (1: in an IA; 2: in an address or
 * prefix). Return: 0 or -EINVAL.
 */
static int dhcp6_walk_nested(struct dhcp6_req *rq, struct cursor c, int depth)
{
	struct cursor v;
	uint16_t code;
	size_t fixed;
	int r;

	while (c.left) {
		if (dhcp6_opt_next(&c, &code, &v) < 0)
			return dhcp6_bad(rq, -EINVAL, "nested option runs past its container");
		if (dhcp6_is_ia(code))
			return dhcp6_bad(rq, -EINVAL, "IA inside an IA");
		if (!(fixed = dhcp6_container_fixed(code)))
			continue;
		if (depth >= DHCP6_NEST_MAX)
			return dhcp6_bad(rq, -EINVAL, "address inside an address");
		if (!cur_pull(&v, fixed))
			return dhcp6_bad(rq, -EINVAL, "short address or prefix option");
		r = dhcp6_walk_nested(rq, v, depth + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Keep an option the rules name; one outside its lengths drops the message. Return: 0 or -EINVAL. */
static int dhcp6_opt_store(struct dhcp6_req *rq, uint16_t code, struct cursor v)
{
	for (size_t i = 0; i < RQ6__N; i++) {
		const struct dhcp6_opt_rule *ru = &dhcp6_req_opts[i];

		if (ru->code != code)
			continue;
		if (v.left < ru->min || v.left > ru->max)
			return dhcp6_bad(rq, -EINVAL, "identifier option of a bad length");
		if (!rq->has[i]) { /* the first instance wins */
			rq->has[i] = true;
			rq->opt[i] = v;
		}
		return 0;
	}
	return 0;
}

/* The options of the message (RFC 8415 §21.1). Return: 0 or -EINVAL. */
static int dhcp6_parse_options(struct dhcp6_req *rq, struct cursor c)
{
	struct cursor v;
	uint16_t code;
	size_t fixed;
	int r;

	/* Every pass consumes at least the 4-byte option header: no loop can spin. */
	while (c.left) {
		if (dhcp6_opt_next(&c, &code, &v) < 0)
			return dhcp6_bad(rq, -EINVAL, "option runs past the end");
		r = dhcp6_opt_store(rq, code, v);
		if (r < 0)
			return r;
		if (!dhcp6_is_ia(code))
			continue; /* addresses and prefixes outside an IA mean nothing: skipped */
		rq->has_ia = true;
		fixed = dhcp6_container_fixed(code);
		if (!cur_pull(&v, fixed))
			return dhcp6_bad(rq, -EINVAL, "short IA option");
		r = dhcp6_walk_nested(rq, v, 1);
		if (r < 0)
			return r;
	}
	return 0;
}

/* UDP down to the DHCPv6 message (left in *c). Return: 0, -EPROTO (not for us) or -EINVAL. */
static int dhcp6_parse_udp(const struct ip6_config *cfg, struct dhcp6_req *rq, struct cursor *c)
{
	const struct ipv6_hdr *ip = rq->pkt.ip;
	struct cursor all = rq->pkt.payload;
	size_t len = all.left;
	const void *dgram = cur_pull(&all, len); /* the whole datagram, for the checksum */
	const struct udp_hdr *uh;

	*c = rq->pkt.payload;
	if (!(uh = cur_pull(c, sizeof(*uh))))
		return dhcp6_bad(rq, -EINVAL, "short UDP header");
	if (ntohs(uh->dport) != DHCP6_PORT_SERVER)
		return dhcp6_bad(rq, -EPROTO, "not to port 547");
	if (memcmp(ip->daddr, all_dhcp_agents, 16) && !ip6_is_ours(cfg, ip->daddr))
		return dhcp6_bad(rq, -EPROTO, "not to ff02::1:2 or the gateway");
	if (ip6_is_unspecified(ip->saddr))
		return dhcp6_bad(rq, -EINVAL, "from ::"); /* §13.1: clients use their link-local address */
	if (ntohs(uh->len) != len)
		return dhcp6_bad(rq, -EINVAL, "UDP length is not the IPv6 payload length");
	if (!uh->check || !ip6_csum_ok(ip, dgram, len))
		return dhcp6_bad(rq, -EINVAL, "bad UDP checksum");
	return 0;
}

/* A whole request frame. Return: 0, -EPROTO (not for us) or -EINVAL; rq->why says why. */
static int dhcp6_parse(const struct ip6_config *cfg, const uint8_t *frame, size_t len, struct dhcp6_req *rq)
{
	struct cursor c;
	int r;

	memset(rq, 0, sizeof(*rq));
	r = ip6_parse(frame, len, IPPROTO_UDP_, &rq->pkt, &rq->why);
	if (r == 0)
		r = dhcp6_parse_udp(cfg, rq, &c);
	if (r < 0)
		return r;
	if (!(rq->msg = cur_pull(&c, sizeof(*rq->msg))))
		return dhcp6_bad(rq, -EINVAL, "short DHCPv6 header");
	if (!dhcp6_handler_of(rq->msg->type))
		return dhcp6_bad(rq, -EPROTO, "a message type not answered here");
	return dhcp6_parse_options(rq, c);
}

/* --- building replies --- */

static void dhcp6_duid(const struct ip6_config *cfg, struct dhcp6_duid_ll *d)
{
	d->type = htons(DUID_TYPE_LL);
	d->hwtype = htons(DUID_HWTYPE_ETHER);
	memcpy(d->mac, cfg->mac, ETH_ALEN);
}

static void dhcp6_put_opt(struct writer *w, uint16_t code, const void *v, size_t len)
{
	wr_be16(w, code);
	wr_be16(w, (uint16_t)len); /* len is at most a DUID, a name or a short text */
	wr_bytes(w, v, len);
}

static void put_server_id(const struct ip6_config *cfg, const struct dhcp6_req *rq, uint8_t type,
			  struct writer *w)
{
	struct dhcp6_duid_ll d;

	dhcp6_duid(cfg, &d);
	dhcp6_put_opt(w, DHCP6_OPT_SERVERID, &d, sizeof(d));
}

static void put_client_id(const struct ip6_config *cfg, const struct dhcp6_req *rq, uint8_t type,
			  struct writer *w)
{
	struct cursor v = rq->opt[RQ6_CLIENT_ID];
	size_t n = v.left;

	if (rq->has[RQ6_CLIENT_ID])
		dhcp6_put_opt(w, DHCP6_OPT_CLIENTID, cur_pull(&v, n), n);
}

static void put_status(const struct ip6_config *cfg, const struct dhcp6_req *rq, uint8_t type,
		       struct writer *w)
{
	if (type != DHCP6_ADVERTISE)
		return;
	wr_be16(w, DHCP6_OPT_STATUS_CODE);
	wr_be16(w, (uint16_t)(2 + sizeof(DHCP6_NO_ADDRS_MESSAGE) - 1));
	wr_be16(w, DHCP6_STATUS_NO_ADDRS_AVAIL);
	wr_bytes(w, DHCP6_NO_ADDRS_MESSAGE, sizeof(DHCP6_NO_ADDRS_MESSAGE) - 1);
}

static void put_dns_servers(const struct ip6_config *cfg, const struct dhcp6_req *rq, uint8_t type,
			    struct writer *w)
{
	if (cfg->dns)
		dhcp6_put_opt(w, DHCP6_OPT_DNS_SERVERS, cfg->global, 16);
}

static void put_domain_list(const struct ip6_config *cfg, const struct dhcp6_req *rq, uint8_t type,
			    struct writer *w)
{
	uint8_t name[IP6_DOMAIN_MAX + 1];
	int n = ip6_domain_encode(cfg->domain, name, sizeof(name));

	if (n > 0) /* none configured, or not a valid name: left out */
		dhcp6_put_opt(w, DHCP6_OPT_DOMAIN_LIST, name, (size_t)n);
}

/* §21.23: only in a Reply to an Information-request. */
static void put_refresh(const struct ip6_config *cfg, const struct dhcp6_req *rq, uint8_t type,
			struct writer *w)
{
	if (type != DHCP6_REPLY)
		return;
	wr_be16(w, DHCP6_OPT_INFORMATION_REFRESH_TIME);
	wr_be16(w, 4);
	wr_be32(w, DHCP6_INFO_REFRESH);
}

/* The options of every answer, in this order; each omits itself when it does not apply. */
static void (*const dhcp6_reply_opts[])(const struct ip6_config *cfg, const struct dhcp6_req *rq, uint8_t type,
					struct writer *w) = {
	put_server_id, put_client_id, put_status, put_dns_servers, put_domain_list, put_refresh,
};

/* The answer of the given type, from our link-local address to the client's port 546. Return: length or -ENOBUFS. */
static int dhcp6_build(const struct ip6_config *cfg, const struct dhcp6_req *rq, uint8_t type, uint8_t *out,
		       size_t cap)
{
	struct writer w = wr_init(out, out ? cap : 0);
	struct udp_hdr uh = { htons(DHCP6_PORT_SERVER), htons(DHCP6_PORT_CLIENT), 0, 0 };

	ip6_start(&w, rq->pkt.eth->src, cfg->mac, cfg->ll, rq->pkt.ip->saddr, IPPROTO_UDP_, DHCP6_HOP_LIMIT);
	wr_bytes(&w, &uh, sizeof(uh)); /* length and checksum: ip6_finish */
	wr_u8(&w, type);
	wr_bytes(&w, rq->msg->xid, sizeof(rq->msg->xid));
	for (size_t i = 0; i < sizeof(dhcp6_reply_opts) / sizeof(dhcp6_reply_opts[0]); i++)
		dhcp6_reply_opts[i](cfg, rq, type, &w);
	return ip6_finish(&w, offsetof(struct udp_hdr, check));
}

/* --- message handlers: return the reply type, 0 for no reply, or -errno --- */

/* Solicit (§16.2, §18.3.9): NoAddrsAvail, no IA. */
static int dhcp6_solicit(const struct ip6_config *cfg, struct dhcp6_req *rq)
{
	if (!rq->has[RQ6_CLIENT_ID])
		return dhcp6_bad(rq, -EINVAL, "Solicit without client identifier");
	if (rq->has[RQ6_SERVER_ID])
		return dhcp6_bad(rq, -EINVAL, "Solicit with a server identifier");
	return DHCP6_ADVERTISE;
}

/* Information-request (§16.12, §18.3.6). */
static int dhcp6_inform(const struct ip6_config *cfg, struct dhcp6_req *rq)
{
	struct dhcp6_duid_ll d;
	struct cursor v = rq->opt[RQ6_SERVER_ID];

	if (rq->has_ia)
		return dhcp6_bad(rq, -EINVAL, "Information-request with an IA");
	dhcp6_duid(cfg, &d);
	if (rq->has[RQ6_SERVER_ID] && (v.left != sizeof(d) || memcmp(cur_pull(&v, sizeof(d)), &d, sizeof(d))))
		return 0; /* for another server */
	return DHCP6_REPLY;
}

/* The messages answered; stateful, relay and server messages are not. */
static const dhcp6_handler dhcp6_handlers[] = {
	[DHCP6_SOLICIT] = dhcp6_solicit,
	[DHCP6_INFORMATION_REQUEST] = dhcp6_inform,
};

static dhcp6_handler dhcp6_handler_of(uint8_t type)
{
	return type < sizeof(dhcp6_handlers) / sizeof(dhcp6_handlers[0]) ? dhcp6_handlers[type] : NULL;
}

int dhcp6_input(const struct ip6_config *cfg, const uint8_t *frame, size_t len, uint8_t *out, size_t cap)
{
	struct dhcp6_req rq;
	int r;

	if (!cfg)
		return -EINVAL;
	r = dhcp6_parse(cfg, frame, len, &rq);
	if (r == -EPROTO)
		return 0; /* not for us, or not a message we answer */
	if (r == 0)
		r = dhcp6_handler_of(rq.msg->type)(cfg, &rq);
	if (r < 0) {
		log_debug("dhcp6: dropped a message: %s", rq.why);
		return r;
	}
	return r ? dhcp6_build(cfg, &rq, (uint8_t)r, out, cap) : 0;
}
