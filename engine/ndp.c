/*
 * ndp.c — the gateway's IPv6 presence on the link: its addresses, neighbour
 * discovery for them, router advertisements and ICMPv6 echo (RFC 4861,
 * RFC 4443, RDNSS and DNSSL from RFC 8106). Also the IPv6 framing helpers
 * that dhcp6.c shares (ip6.h, "Internal").
 *
 * Theory of operation
 *
 * Addresses. The gateway has two: fe80::/64 plus the modified EUI-64 of its
 * MAC (RFC 4291 App. A: the universal/local bit flipped, ff:fe in the
 * middle), and prefix::1 in the network's /64. The prefix is configured or
 * a ULA (RFC 4193) whose 40-bit global ID is the top of a hash (FNV-1a,
 * then a mixing finaliser) of a 16-byte seed that the gateway derives from
 * the network's identity, so a network keeps its prefix across restarts.
 * RFC 4193 §3.2.2 asks for a pseudo-random ID; a stable one serves guests
 * better (their addresses survive a daemon restart) and collides no more
 * often.
 *
 * Stateless. Every call looks at one frame (a private copy) and writes at
 * most one reply frame into the caller's buffer: no state, no allocation.
 * Timers (the periodic unsolicited RA, RFC 4861 §6.2.4) belong to the
 * caller, which calls ndp_build_ra().
 *
 * Validation. The frame must be IPv6 with ICMPv6 directly after the fixed
 * header; a packet with extension headers is ignored (NDP never needs them).
 * The payload length must fit the frame (what follows is padding). Only the
 * three messages we answer are examined further, each against its row of
 * ndp_kinds: ICMPv6 length at least the fixed part, code 0, checksum. For
 * the two NDP messages also RFC 4861 §6.1.1/§7.1.1: hop limit 255 (a packet
 * that crossed a router is not from the link), every option with a non-zero
 * length that fits the message (a zero length would make a naive walker
 * spin: the message is dropped), no source link-layer option from ::, and a
 * DAD solicitation must go to the target's solicited-node group.
 *
 * Answers.
 *   NS for ll or global → NA from the target: router and override flags,
 *     target link-layer option; solicited flag and unicast to the sender,
 *     or, for DAD (from ::), to all-nodes without it (RFC 4861 §7.2.4) — a
 *     guest probing our address learns it is taken.
 *   RS (when cfg->router_adv) → RA from ll, unicast to the sender (allowed
 *     by §6.2.6; to all-nodes when it comes from ::), the same RA
 *     ndp_build_ra() sends. No random delay: the caller sends at once.
 *   Echo request to ll or global → echo reply, identifier, sequence and
 *     data echoed (RFC 4443 §4.2).
 * Everything else (NAs, RAs from rogue guests, NS for guests' addresses,
 * echo to multicast) gets no reply and is not an error.
 *
 * The RA: cur hop limit 64, M=0, O=1 when DHCPv6 has something to tell
 * (DNS server or domain), router lifetime from the config (0 in host mode:
 * not a default router), then options: source link-layer address, MTU
 * (values under the IPv6 minimum of 1280 are omitted), the /64 with L and A
 * (SLAAC), RDNSS with the gateway's global address and DNSSL with the
 * domain (RFC 8106; lifetime 3 × MaxRtrAdvInterval per §5.1). A domain that
 * is not a valid name is left out rather than sent broken.
 */
#include "engine/ip6.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common/csum.h"
#include "common/cursor.h"
#include "common/log.h"
#include "engine/wire.h"

/* ICMPv6 types (RFC 4443 §2.1, RFC 4861 §4). */
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define ND_ROUTER_SOLICIT 133
#define ND_ROUTER_ADVERT 134
#define ND_NEIGHBOR_SOLICIT 135
#define ND_NEIGHBOR_ADVERT 136

/* NDP option types (RFC 4861 §4.6, RFC 8106 §5). */
#define ND_OPT_SOURCE_LLADDR 1
#define ND_OPT_TARGET_LLADDR 2
#define ND_OPT_PREFIX_INFO 3
#define ND_OPT_MTU 5
#define ND_OPT_RDNSS 25
#define ND_OPT_DNSSL 31
#define ND_OPT_UNIT 8 /* option lengths count 8-byte units */

#define ND_HOP_LIMIT 255          /* RFC 4861 §6.1: NDP never crosses a router */
#define ND_RA_MANAGED 0x80        /* M: addresses from DHCPv6 */
#define ND_RA_OTHER 0x40          /* O: other configuration from DHCPv6 */
#define ND_NA_ROUTER 0x80
#define ND_NA_SOLICITED 0x40
#define ND_NA_OVERRIDE 0x20
#define ND_PREFIX_ONLINK 0x80     /* L */
#define ND_PREFIX_AUTO 0x40       /* A: SLAAC */

#define NDP_CUR_HOP_LIMIT 64       /* advertised to guests */
#define NDP_ECHO_HOP_LIMIT 64
#define NDP_PREFIX_LEN 64
#define NDP_VALID_LIFETIME 86400   /* prefix information */
#define NDP_PREFERRED_LIFETIME 14400
#define NDP_MAX_RA_INTERVAL 600    /* MaxRtrAdvInterval, as the gateway schedules RAs */
#define NDP_DNS_LIFETIME (3 * NDP_MAX_RA_INTERVAL) /* RFC 8106 §5.1 */
#define IP6_MTU_MIN 1280           /* RFC 8200 §5 */

struct nd_ns {
	struct icmp6_hdr h;
	uint32_t reserved;
	uint8_t target[16];
} __attribute__((packed));
static_assert(sizeof(struct nd_ns) == 24, "RFC 4861 §4.3");

struct nd_na {
	struct icmp6_hdr h;
	uint8_t flags; /* ND_NA_* */
	uint8_t reserved[3];
	uint8_t target[16];
} __attribute__((packed));
static_assert(sizeof(struct nd_na) == 24, "RFC 4861 §4.4");

struct nd_rs {
	struct icmp6_hdr h;
	uint32_t reserved;
} __attribute__((packed));
static_assert(sizeof(struct nd_rs) == 8, "RFC 4861 §4.1");

struct nd_ra {
	struct icmp6_hdr h;
	uint8_t cur_hop_limit;
	uint8_t flags; /* ND_RA_* */
	uint16_t router_lifetime;
	uint32_t reachable_time, retrans_timer;
} __attribute__((packed));
static_assert(sizeof(struct nd_ra) == 16, "RFC 4861 §4.2");

struct icmp6_echo {
	struct icmp6_hdr h;
	uint16_t id, seq;
} __attribute__((packed));
static_assert(sizeof(struct icmp6_echo) == 8, "RFC 4443 §4.1");

struct nd_opt_hdr {
	uint8_t type, len; /* len in ND_OPT_UNITs, the header included */
} __attribute__((packed));
static_assert(sizeof(struct nd_opt_hdr) == 2, "RFC 4861 §4.6");

struct nd_opt_lladdr {
	uint8_t type, len;
	uint8_t mac[ETH_ALEN];
} __attribute__((packed));
static_assert(sizeof(struct nd_opt_lladdr) == 8, "RFC 4861 §4.6.1");

struct nd_opt_prefix_info {
	uint8_t type, len;
	uint8_t prefix_len, flags; /* ND_PREFIX_* */
	uint32_t valid, preferred, reserved;
	uint8_t prefix[16];
} __attribute__((packed));
static_assert(sizeof(struct nd_opt_prefix_info) == 32, "RFC 4861 §4.6.2");

struct nd_opt_mtu {
	uint8_t type, len;
	uint16_t reserved;
	uint32_t mtu;
} __attribute__((packed));
static_assert(sizeof(struct nd_opt_mtu) == 8, "RFC 4861 §4.6.4");

struct nd_opt_rdnss {
	uint8_t type, len;
	uint16_t reserved;
	uint32_t lifetime;
	uint8_t addr[16];
} __attribute__((packed));
static_assert(sizeof(struct nd_opt_rdnss) == 24, "RFC 8106 §5.1");

/* Followed by the names, zero-padded to a multiple of 8 bytes. */
struct nd_opt_dnssl {
	uint8_t type, len;
	uint16_t reserved;
	uint32_t lifetime;
} __attribute__((packed));
static_assert(sizeof(struct nd_opt_dnssl) == 8, "RFC 8106 §5.2");

static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };
static const uint8_t all_nodes_mac[ETH_ALEN] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };

/* --- addresses --- */

void ip6_gateway_addrs(const uint8_t mac[6], const uint8_t prefix[16], uint8_t ll[16], uint8_t global[16])
{
	memset(ll, 0, 16);
	ll[0] = 0xfe;
	ll[1] = 0x80;
	ll[8] = mac[0] ^ 0x02; /* the universal/local bit, inverted (RFC 4291 §2.5.1) */
	ll[9] = mac[1];
	ll[10] = mac[2];
	ll[11] = 0xff;
	ll[12] = 0xfe;
	ll[13] = mac[3];
	ll[14] = mac[4];
	ll[15] = mac[5];
	memset(global, 0, 16);
	memcpy(global, prefix, 8);
	global[15] = 1;
}

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull
#define MIX64_K1 0xff51afd7ed558ccdull
#define MIX64_K2 0xc4ceb9fe1a85ec53ull

void ip6_ula_prefix(const uint8_t seed[16], uint8_t prefix[16])
{
	uint64_t h = FNV64_OFFSET;

	/* FNV-1a over the whole seed, so that every byte counts... */
	for (size_t i = 0; i < 16; i++) {
		h ^= seed[i];
		h *= FNV64_PRIME;
	}
	/* ...then a 64-bit finaliser (xor-shift-multiply): seeds that differ only in a late byte
	 * would otherwise get IDs that differ in a byte or two. */
	h ^= h >> 33;
	h *= MIX64_K1;
	h ^= h >> 33;
	h *= MIX64_K2;
	h ^= h >> 33;
	memset(prefix, 0, 16);
	prefix[0] = 0xfd; /* fc00::/7 with L = 1 (RFC 4193 §3.1) */
	for (size_t i = 0; i < 5; i++)
		prefix[1 + i] = (uint8_t)(h >> (56 - 8 * i));
	/* prefix[6..7]: subnet ID 0; the interface ID half stays zero. */
}

/* ff02::1:ff00:0/104 + the low 24 bits of target (RFC 4291 §2.7.1). */
static void ip6_solicited_node(const uint8_t target[16], uint8_t group[16])
{
	memset(group, 0, 16);
	group[0] = 0xff;
	group[1] = 0x02;
	group[11] = 0x01;
	group[12] = 0xff;
	memcpy(group + 13, target + 13, 3);
}

/* --- IPv6 framing, shared with dhcp6.c --- */

static int ip6_bad(const char **why, int r, const char *reason)
{
	*why = reason;
	return r;
}

int ip6_parse(const uint8_t *frame, size_t len, uint8_t next, struct ip6_pkt *p, const char **why)
{
	struct cursor c = cur_init(frame, len);
	size_t plen;

	memset(p, 0, sizeof(*p));
	if (!(p->eth = cur_pull(&c, sizeof(*p->eth))) || p->eth->type != htons(ETHERTYPE_IPV6))
		return ip6_bad(why, -EPROTO, "not IPv6");
	if (!(p->ip = cur_pull(&c, sizeof(*p->ip))) || ntohl(p->ip->ver_tc_flow) >> 28 != 6)
		return ip6_bad(why, -EINVAL, "bad IPv6 header");
	if (p->ip->next != next)
		return ip6_bad(why, -EPROTO, "another protocol, or extension headers");
	plen = ntohs(p->ip->payload_len);
	/* Payload length 0 would be a jumbogram (RFC 2675): not on this link. */
	if (!plen || cur_sub(&c, plen, &p->payload) < 0)
		return ip6_bad(why, -EINVAL, "payload length 0 or past the frame");
	if (ip6_is_multicast(p->ip->saddr))
		return ip6_bad(why, -EINVAL, "multicast source"); /* RFC 4291 §2.7 */
	return 0;
}

static uint16_t ip6_csum(const uint8_t src[16], const uint8_t dst[16], uint8_t next, const void *payload,
			 size_t len)
{
	return csum_fold(csum_partial(payload, len, csum_ipv6_pseudo(src, dst, next, (uint32_t)len)));
}

bool ip6_csum_ok(const struct ipv6_hdr *ip, const void *payload, size_t len)
{
	return ip6_csum(ip->saddr, ip->daddr, ip->next, payload, len) == 0;
}

void ip6_start(struct writer *w, const uint8_t dmac[6], const uint8_t smac[6], const uint8_t src[16],
	       const uint8_t dst[16], uint8_t next, uint8_t hop_limit)
{
	struct eth_hdr eth;
	struct ipv6_hdr ip;

	memcpy(eth.dst, dmac, ETH_ALEN);
	memcpy(eth.src, smac, ETH_ALEN);
	eth.type = htons(ETHERTYPE_IPV6);
	memset(&ip, 0, sizeof(ip));
	ip.ver_tc_flow = htonl(6u << 28);
	ip.next = next;
	ip.hop_limit = hop_limit;
	memcpy(ip.saddr, src, 16);
	memcpy(ip.daddr, dst, 16);
	wr_bytes(w, &eth, sizeof(eth));
	wr_bytes(w, &ip, sizeof(ip));
}

int ip6_finish(struct writer *w, size_t csum_off)
{
	const size_t hdrs = ETH_HLEN + sizeof(struct ipv6_hdr);
	struct ipv6_hdr *ip;
	uint8_t *payload;
	uint16_t plen, sum;

	if (w->bad || w->len < hdrs + csum_off + 2 || w->len - hdrs > UINT16_MAX)
		return -ENOBUFS;
	ip = (struct ipv6_hdr *)(void *)(w->p + ETH_HLEN);
	payload = w->p + hdrs;
	plen = (uint16_t)(w->len - hdrs);
	ip->payload_len = htons(plen);
	if (ip->next == IPPROTO_UDP_)
		((struct udp_hdr *)(void *)payload)->len = htons(plen);
	payload[csum_off] = payload[csum_off + 1] = 0;
	sum = ip6_csum(ip->saddr, ip->daddr, ip->next, payload, plen);
	if (!sum)
		sum = 0xffff; /* a UDP checksum of 0 means "none", forbidden over IPv6 (RFC 8200 §8.1) */
	payload[csum_off] = (uint8_t)(sum >> 8);
	payload[csum_off + 1] = (uint8_t)sum;
	return (int)w->len;
}

int ip6_domain_encode(const char domain[IP6_DOMAIN_MAX], uint8_t *out, size_t cap)
{
	struct writer w = wr_init(out, cap);
	size_t len = strnlen(domain, IP6_DOMAIN_MAX - 1), i = 0, n;
	unsigned char ch;

	if (!len)
		return 0;
	while (i < len) {
		for (n = 0; i + n < len && domain[i + n] != '.'; n++) {
			ch = (unsigned char)domain[i + n];
			if (ch <= ' ' || ch >= 0x7f)
				return -EINVAL;
		}
		if (n == 0 || n > 63)
			return -EINVAL; /* empty or over-long label (RFC 1035 §2.3.4) */
		wr_u8(&w, (uint8_t)n);
		wr_bytes(&w, domain + i, n);
		i += n + 1; /* past the dot: a trailing one ends the name */
	}
	wr_u8(&w, 0);
	/* At most 63 characters: far below the 255-byte limit of a name. */
	return w.bad ? -EINVAL : (int)w.len;
}

/* --- router advertisements --- */

static void ra_put_source_lladdr(const struct ip6_config *cfg, struct writer *w)
{
	struct nd_opt_lladdr o = { ND_OPT_SOURCE_LLADDR, sizeof(o) / ND_OPT_UNIT, { 0 } };

	memcpy(o.mac, cfg->mac, ETH_ALEN);
	wr_bytes(w, &o, sizeof(o));
}

static void ra_put_mtu(const struct ip6_config *cfg, struct writer *w)
{
	struct nd_opt_mtu o = { ND_OPT_MTU, sizeof(o) / ND_OPT_UNIT, 0, htonl(cfg->mtu) };

	if (cfg->mtu >= IP6_MTU_MIN) /* hosts ignore smaller values (RFC 4861 §6.3.4) */
		wr_bytes(w, &o, sizeof(o));
}

static void ra_put_prefix(const struct ip6_config *cfg, struct writer *w)
{
	struct nd_opt_prefix_info o = {
		.type = ND_OPT_PREFIX_INFO,
		.len = sizeof(o) / ND_OPT_UNIT,
		.prefix_len = NDP_PREFIX_LEN,
		.flags = ND_PREFIX_ONLINK | ND_PREFIX_AUTO,
		.valid = htonl(NDP_VALID_LIFETIME),
		.preferred = htonl(NDP_PREFERRED_LIFETIME),
	};

	memcpy(o.prefix, cfg->prefix, NDP_PREFIX_LEN / 8); /* the host half goes out as zeros */
	wr_bytes(w, &o, sizeof(o));
}

static void ra_put_rdnss(const struct ip6_config *cfg, struct writer *w)
{
	struct nd_opt_rdnss o = { ND_OPT_RDNSS, sizeof(o) / ND_OPT_UNIT, 0, htonl(NDP_DNS_LIFETIME), { 0 } };

	if (!cfg->dns)
		return;
	memcpy(o.addr, cfg->global, 16);
	wr_bytes(w, &o, sizeof(o));
}

static void ra_put_dnssl(const struct ip6_config *cfg, struct writer *w)
{
	static const uint8_t pad[ND_OPT_UNIT];
	uint8_t name[IP6_DOMAIN_MAX + 1];
	int n = ip6_domain_encode(cfg->domain, name, sizeof(name));
	size_t total = (sizeof(struct nd_opt_dnssl) + (size_t)n + ND_OPT_UNIT - 1) / ND_OPT_UNIT * ND_OPT_UNIT;
	struct nd_opt_dnssl o = { ND_OPT_DNSSL, (uint8_t)(total / ND_OPT_UNIT), 0, htonl(NDP_DNS_LIFETIME) };

	if (n <= 0)
		return; /* no domain, or one that is not a valid name */
	wr_bytes(w, &o, sizeof(o));
	wr_bytes(w, name, (size_t)n);
	wr_bytes(w, pad, total - sizeof(o) - (size_t)n);
}

/* The options of every RA, in this order; each omits itself when not configured. */
static void (*const ra_options[])(const struct ip6_config *cfg, struct writer *w) = {
	ra_put_source_lladdr, ra_put_mtu, ra_put_prefix, ra_put_rdnss, ra_put_dnssl,
};

/* A router advertisement to dst at dmac, written into w for ip6_finish. */
static void ndp_put_ra(const struct ip6_config *cfg, const uint8_t dmac[6], const uint8_t dst[16],
		       struct writer *w)
{
	struct nd_ra ra = {
		.h.type = ND_ROUTER_ADVERT,
		.cur_hop_limit = NDP_CUR_HOP_LIMIT,
		/* M = 0: no addresses from DHCPv6 (SLAAC only). O: DHCPv6 has DNS to tell. */
		.flags = (cfg->dns || cfg->domain[0]) ? ND_RA_OTHER : 0,
		.router_lifetime = htons(cfg->router_lifetime),
	};

	ip6_start(w, dmac, cfg->mac, cfg->ll, dst, IPPROTO_ICMPV6_, ND_HOP_LIMIT);
	wr_bytes(w, &ra, sizeof(ra));
	for (size_t i = 0; i < sizeof(ra_options) / sizeof(ra_options[0]); i++)
		ra_options[i](cfg, w);
}

int ndp_build_ra(const struct ip6_config *cfg, uint8_t *out, size_t cap)
{
	struct writer w = wr_init(out, out ? cap : 0);

	if (!cfg)
		return -ENOBUFS;
	ndp_put_ra(cfg, all_nodes_mac, all_nodes, &w);
	return ip6_finish(&w, offsetof(struct icmp6_hdr, check));
}

/* --- incoming messages --- */

/* One validated ICMPv6 message. */
struct ndp_msg {
	struct ip6_pkt pkt;
	const void *fixed;   /* the type's fixed part (ndp_kind.min bytes) */
	struct cursor rest;  /* after it: NDP options, or echo data */
	bool has_src_lladdr; /* a source link-layer address option */
	const char *why;     /* why it was dropped */
};

static int ndp_bad(struct ndp_msg *m, const char *why)
{
	m->why = why;
	return -EINVAL;
}

/*
 * Walk the NDP options in m->rest (RFC 4861 §4.6): each has a non-zero length
 * and lies inside the message. Return: 0 or -EINVAL.
 */
static int ndp_options(struct ndp_msg *m)
{
	struct cursor c = m->rest;
	const struct nd_opt_hdr *o;

	while (c.left) {
		if (!(o = cur_pull(&c, sizeof(*o))))
			return ndp_bad(m, "option header past the end");
		if (!o->len)
			return ndp_bad(m, "zero-length option"); /* RFC 4861 §4.6: MUST be discarded */
		if (!cur_pull(&c, (size_t)o->len * ND_OPT_UNIT - sizeof(*o)))
			return ndp_bad(m, "option past the end");
		if (o->type == ND_OPT_SOURCE_LLADDR)
			m->has_src_lladdr = true;
	}
	return 0;
}

/* NS (RFC 4861 §7.1.1, §7.2.4). Return: 1 with a reply in w, 0, or -EINVAL. */
static int ndp_ns(const struct ip6_config *cfg, struct ndp_msg *m, struct writer *w)
{
	const struct nd_ns *ns = m->fixed;
	const struct ipv6_hdr *ip = m->pkt.ip;
	bool dad = ip6_is_unspecified(ip->saddr);
	struct nd_na na = { .h.type = ND_NEIGHBOR_ADVERT, .flags = ND_NA_ROUTER | ND_NA_OVERRIDE };
	struct nd_opt_lladdr tll = { ND_OPT_TARGET_LLADDR, sizeof(tll) / ND_OPT_UNIT, { 0 } };
	uint8_t group[16];

	if (ip6_is_multicast(ns->target))
		return ndp_bad(m, "NS for a multicast target");
	if (dad) {
		ip6_solicited_node(ns->target, group);
		if (memcmp(ip->daddr, group, 16))
			return ndp_bad(m, "DAD NS not to the solicited-node group");
		if (m->has_src_lladdr)
			return ndp_bad(m, "NS from :: with a source link-layer option");
	}
	if (!ip6_is_ours(cfg, ns->target))
		return 0; /* a guest's address: the guest answers */
	if (!dad)
		na.flags |= ND_NA_SOLICITED;
	memcpy(na.target, ns->target, 16);
	memcpy(tll.mac, cfg->mac, ETH_ALEN);
	/* §7.2.4: to the solicitor, or to all-nodes when it has no address yet (DAD). */
	ip6_start(w, dad ? all_nodes_mac : m->pkt.eth->src, cfg->mac, ns->target, dad ? all_nodes : ip->saddr,
		  IPPROTO_ICMPV6_, ND_HOP_LIMIT);
	wr_bytes(w, &na, sizeof(na));
	wr_bytes(w, &tll, sizeof(tll));
	return 1;
}

/* RS (RFC 4861 §6.1.1, §6.2.6). Return: 1 (reply built), 0, or -EINVAL. */
static int ndp_rs(const struct ip6_config *cfg, struct ndp_msg *m, struct writer *w)
{
	const struct ipv6_hdr *ip = m->pkt.ip;
	bool anon = ip6_is_unspecified(ip->saddr);

	if (anon && m->has_src_lladdr)
		return ndp_bad(m, "RS from :: with a source link-layer option");
	if (!cfg->router_adv)
		return 0;
	ndp_put_ra(cfg, anon ? all_nodes_mac : m->pkt.eth->src, anon ? all_nodes : ip->saddr, w);
	return 1;
}

/* Echo request (RFC 4443 §4.2). Return: 1 with a reply in w, 0, or -EINVAL. */
static int ndp_echo(const struct ip6_config *cfg, struct ndp_msg *m, struct writer *w)
{
	const struct ipv6_hdr *ip = m->pkt.ip;
	struct icmp6_echo rep = *(const struct icmp6_echo *)m->fixed;
	size_t n = m->rest.left;
	const void *data = cur_pull(&m->rest, n);

	if (!ip6_is_ours(cfg, ip->daddr))
		return 0; /* multicast, or another host */
	if (ip6_is_unspecified(ip->saddr))
		return ndp_bad(m, "echo request from ::");
	rep.h.type = ICMP6_ECHO_REPLY;
	ip6_start(w, m->pkt.eth->src, cfg->mac, ip->daddr, ip->saddr, IPPROTO_ICMPV6_, NDP_ECHO_HOP_LIMIT);
	wr_bytes(w, &rep, sizeof(rep));
	wr_bytes(w, data, n);
	return 1;
}

typedef int (*ndp_handler)(const struct ip6_config *cfg, struct ndp_msg *m, struct writer *w);

/* The messages answered; anything else is ignored. */
static const struct ndp_kind {
	uint8_t type;
	size_t min;    /* ICMPv6 length: the fixed part */
	bool nd;       /* NDP: hop limit 255 and options */
	ndp_handler fn;
} ndp_kinds[] = {
	{ ICMP6_ECHO_REQUEST, sizeof(struct icmp6_echo), false, ndp_echo },
	{ ND_ROUTER_SOLICIT, sizeof(struct nd_rs), true, ndp_rs },
	{ ND_NEIGHBOR_SOLICIT, sizeof(struct nd_ns), true, ndp_ns },
};

/* The checks common to a kind (theory of operation). Return: 0 or -EINVAL. */
static int ndp_check(const struct ndp_kind *k, struct ndp_msg *m)
{
	struct cursor c = m->pkt.payload;
	size_t len = c.left;
	const void *msg = cur_pull(&c, len); /* the whole message, for the checksum */
	const struct icmp6_hdr *h;

	c = m->pkt.payload;
	if (!(m->fixed = cur_pull(&c, k->min)))
		return ndp_bad(m, "short message");
	h = m->fixed;
	m->rest = c;
	if (h->code != 0)
		return ndp_bad(m, "code not 0");
	if (k->nd && m->pkt.ip->hop_limit != ND_HOP_LIMIT)
		return ndp_bad(m, "hop limit not 255");
	if (!ip6_csum_ok(m->pkt.ip, msg, len))
		return ndp_bad(m, "bad checksum");
	return k->nd ? ndp_options(m) : 0;
}

/* Return: the row of ndp_kinds for an ICMPv6 message, or NULL when we do not answer it. */
static const struct ndp_kind *ndp_kind_of(const struct ndp_msg *m)
{
	struct cursor c = m->pkt.payload;
	uint8_t type;

	if (cur_u8(&c, &type) < 0)
		return NULL;
	for (size_t i = 0; i < sizeof(ndp_kinds) / sizeof(ndp_kinds[0]); i++)
		if (ndp_kinds[i].type == type)
			return &ndp_kinds[i];
	return NULL;
}

int ndp_input(const struct ip6_config *cfg, const uint8_t *frame, size_t len, uint8_t *out, size_t cap)
{
	struct writer w = wr_init(out, out ? cap : 0);
	const struct ndp_kind *k;
	struct ndp_msg m = { 0 };
	int r;

	if (!cfg)
		return -EINVAL;
	r = ip6_parse(frame, len, IPPROTO_ICMPV6_, &m.pkt, &m.why);
	if (r == -EPROTO)
		return 0; /* not ours to judge */
	if (r == 0) {
		if (!(k = ndp_kind_of(&m)))
			return 0; /* a message we do not answer */
		r = ndp_check(k, &m);
		if (r == 0)
			r = k->fn(cfg, &m, &w);
	}
	if (r < 0) {
		log_debug("ndp: dropped a frame: %s", m.why);
		return r;
	}
	return r ? ip6_finish(&w, offsetof(struct icmp6_hdr, check)) : 0;
}
