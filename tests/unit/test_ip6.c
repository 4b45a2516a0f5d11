/*
 * test_ip6.c — the gateway's IPv6 services (engine/ndp.c, engine/dhcp6.c)
 * with hand-built frames: address derivation against vectors worked out by
 * hand, neighbour and router discovery, ICMPv6 echo, stateless DHCPv6, the
 * RFC 4861 validity checks, hostile options and a mutation loop. Replies are
 * taken apart with a parser and a checksum of the test's own, not the
 * server's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "check.h"
#include "common/log.h"
#include "engine/ip6.h"

#define OUTCAP IP6_REPLY_MAX
#define HDRS 54 /* Ethernet + IPv6 */

static const uint8_t gw_mac[6] = { 0x02, 0x76, 0x6d, 0xa8, 0x80, 0x01 };
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
/* fe80::5054:ff:fe12:3456, the guest's own EUI-64 address */
static const uint8_t guest_ll[16] = { 0xfe, 0x80, [8] = 0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56 };
static const uint8_t unspec[16];
static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };
static const uint8_t all_dhcp[16] = { 0xff, 0x02, [13] = 0x01, [15] = 0x02 };
static const uint8_t mc_all_nodes[6] = { 0x33, 0x33, 0, 0, 0, 1 };
/* The seed whose ULA is fdf1:10b9:58da::/64 (see test_addresses). */
static const uint8_t seed0[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* The one's-complement sum of pseudo-header (RFC 8200 §8.1) and upper-layer bytes; 0xffff when valid. */
static uint16_t l4sum(const uint8_t src[16], const uint8_t dst[16], uint8_t next, const uint8_t *p, size_t n)
{
	uint8_t ph[40] = { 0 };

	memcpy(ph, src, 16);
	memcpy(ph + 16, dst, 16);
	put32(ph + 32, (uint32_t)n);
	ph[39] = next;
	return sum16(p, n, sum16(ph, sizeof(ph), 0));
}

static struct ip6_config config(void)
{
	struct ip6_config c;

	memset(&c, 0, sizeof(c));
	memcpy(c.mac, gw_mac, 6);
	ip6_ula_prefix(seed0, c.prefix);
	ip6_gateway_addrs(gw_mac, c.prefix, c.ll, c.global);
	c.mtu = 1500;
	c.router_adv = true;
	c.router_lifetime = 1800;
	c.dns = true;
	strcpy(c.domain, "vmnet.test");
	return c;
}

/* --- building frames --- */

struct hdr6 {
	const uint8_t *dmac, *smac, *src, *dst;
	uint8_t next, hop;
	int csum_off; /* where the checksum goes in the payload; -1: leave as given */
};

/* Ethernet + IPv6 + payload, checksum filled in. Return: frame length. */
static size_t frame6(uint8_t *f, const struct hdr6 *h, const uint8_t *pl, size_t n)
{
	memcpy(f, h->dmac, 6);
	memcpy(f + 6, h->smac, 6);
	put16(f + 12, 0x86dd);
	memset(f + 14, 0, 40);
	f[14] = 0x60;
	put16(f + 18, (uint16_t)n);
	f[20] = h->next;
	f[21] = h->hop;
	memcpy(f + 22, h->src, 16);
	memcpy(f + 38, h->dst, 16);
	memcpy(f + HDRS, pl, n);
	if (h->csum_off >= 0) {
		put16(f + HDRS + h->csum_off, 0);
		put16(f + HDRS + h->csum_off, (uint16_t)~l4sum(h->src, h->dst, h->next, f + HDRS, n));
		if (!get16(f + HDRS + h->csum_off))
			put16(f + HDRS + h->csum_off, 0xffff); /* RFC 768: 0 means "none" */
	}
	return HDRS + n;
}

/* Recompute the UDP checksum of a frame after a header was changed. */
static void resum_udp(uint8_t *f, size_t n)
{
	put16(f + HDRS + 6, 0);
	put16(f + HDRS + 6, (uint16_t)~l4sum(f + 22, f + 38, 17, f + HDRS, n - HDRS));
}

static void solicited_node(const uint8_t a[16], uint8_t g[16])
{
	static const uint8_t pfx[13] = { 0xff, 0x02, [11] = 0x01, 0xff };

	memcpy(g, pfx, 13);
	memcpy(g + 13, a + 13, 3);
}

/* An NS for target (with a source link-layer option when slla). Return: ICMPv6 length. */
static size_t ns_msg(uint8_t *m, const uint8_t target[16], bool slla)
{
	memset(m, 0, 32);
	m[0] = 135;
	memcpy(m + 8, target, 16);
	if (!slla)
		return 24;
	m[24] = 1;
	m[25] = 1;
	memcpy(m + 26, guest_mac, 6);
	return 32;
}

static size_t rs_msg(uint8_t *m, bool slla)
{
	memset(m, 0, 16);
	m[0] = 133;
	if (!slla)
		return 8;
	m[8] = 1;
	m[9] = 1;
	memcpy(m + 10, guest_mac, 6);
	return 16;
}

/* An ICMPv6 frame from the guest's link-local address, hop limit 255. */
static size_t icmp_frame(uint8_t *f, const uint8_t *src, const uint8_t *dst, const uint8_t *m, size_t n)
{
	uint8_t dmac[6];
	struct hdr6 h = { dmac, guest_mac, src, dst, 58, 255, 2 };

	if (dst[0] == 0xff) {
		dmac[0] = dmac[1] = 0x33;
		memcpy(dmac + 2, dst + 12, 4);
	} else {
		memcpy(dmac, gw_mac, 6);
	}
	return frame6(f, &h, m, n);
}

/* --- reading replies --- */

struct reply6 {
	uint8_t dmac[6], smac[6], src[16], dst[16];
	uint8_t next, hop;
	const uint8_t *pl;
	size_t plen;
};

/* Headers and upper-layer checksum of a reply. Return: 0, or the number of the failed check. */
static int parse6(const uint8_t *f, int n, struct reply6 *r)
{
	if (n < HDRS || n > OUTCAP)
		return 1;
	if (get16(f + 12) != 0x86dd || f[14] != 0x60 || f[15] || f[16] || f[17])
		return 2;
	if (memcmp(f + 6, gw_mac, 6))
		return 3;
	memcpy(r->dmac, f, 6);
	memcpy(r->smac, f + 6, 6);
	r->plen = get16(f + 18);
	r->next = f[20];
	r->hop = f[21];
	memcpy(r->src, f + 22, 16);
	memcpy(r->dst, f + 38, 16);
	r->pl = f + HDRS;
	if (r->plen != (size_t)n - HDRS)
		return 4;
	if (l4sum(r->src, r->dst, r->next, r->pl, r->plen) != 0xffff)
		return 5;
	return 0;
}

/* NDP options of a reply: the first of each type. Return: 0, or the number of the failed check. */
struct ndopts {
	const uint8_t *o[256];
	unsigned count;
};

static int parse_ndopts(const uint8_t *p, size_t n, struct ndopts *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n;) {
		if (i + 2 > n || p[i + 1] == 0 || i + p[i + 1] * 8u > n)
			return 1;
		if (!r->o[p[i]])
			r->o[p[i]] = p + i;
		r->count++;
		i += p[i + 1] * 8u;
	}
	return 0;
}

/* --- addresses --- */

static void test_addresses(void)
{
	static const uint8_t mac2[6] = { 0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c };
	static const uint8_t pfx[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x02, 0xff, 0xff };
	/* Worked out by hand: flip bit 0x02 of the first byte, ff:fe in the middle (RFC 4291 App. A). */
	static const uint8_t ll1[16] = { 0xfe, 0x80, [8] = 0x00, 0x76, 0x6d, 0xff, 0xfe, 0xa8, 0x80, 0x01 };
	static const uint8_t ll2[16] = { 0xfe, 0x80, [8] = 0x02, 0x1b, 0x21, 0xff, 0xfe, 0x0a, 0x0b, 0x0c };
	static const uint8_t g2[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x02, [15] = 0x01 };
	/*
	 * ULA global IDs: FNV-1a 64 (offset basis cbf29ce484222325, prime 100000001b3) over the 16
	 * seed bytes, then h ^= h >> 33, h *= ff51afd7ed558ccd, h ^= h >> 33, h *= c4ceb9fe1a85ec53,
	 * h ^= h >> 33; the top 40 bits. Computed outside this code base.
	 */
	static const struct {
		uint8_t seed[16];
		uint8_t id[5];
	} ula[] = {
		{ { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }, { 0xf1, 0x10, 0xb9, 0x58, 0xda } },
		{ { 0 }, { 0xa5, 0xe0, 0xdb, 0xa6, 0xc3 } },
		{ { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16 }, { 0xc5, 0xe7, 0x22, 0x68, 0x26 } },
		{ { 1 }, { 0xf0, 0x5d, 0x14, 0x06, 0x20 } },
	};
	uint8_t ll[16], g[16], p[16], q[16];
	unsigned differ = 0;

	ip6_gateway_addrs(gw_mac, pfx, ll, g);
	CHECK(!memcmp(ll, ll1, 16));
	ip6_gateway_addrs(mac2, pfx, ll, g);
	CHECK(!memcmp(ll, ll2, 16));
	CHECK(!memcmp(g, g2, 16)); /* prefix::1, the prefix's host half ignored */

	for (size_t i = 0; i < sizeof(ula) / sizeof(ula[0]); i++) {
		memset(p, 0xaa, 16);
		ip6_ula_prefix(ula[i].seed, p);
		CHECK(p[0] == 0xfd);
		CHECK(!memcmp(p + 1, ula[i].id, 5));
		CHECK(p[6] == 0 && p[7] == 0); /* subnet ID 0 */
		CHECK(!memcmp(p + 8, unspec, 8));
	}
	/* Every seed byte matters: flipping any one bit of any byte changes the prefix. */
	ip6_ula_prefix(seed0, p);
	for (unsigned byte = 0; byte < 16; byte++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			uint8_t s[16];

			memcpy(s, seed0, 16);
			s[byte] ^= (uint8_t)(1u << bit);
			ip6_ula_prefix(s, q);
			differ += memcmp(p, q, 8) != 0;
		}
	}
	CHECK(differ == 128);
	ip6_ula_prefix(seed0, q);
	CHECK(!memcmp(p, q, 16)); /* and it is stable */
}

static void test_domain_encode(void)
{
	char d[IP6_DOMAIN_MAX];
	uint8_t out[IP6_DOMAIN_MAX + 1];

	strcpy(d, "vmnet.test");
	CHECK(ip6_domain_encode(d, out, sizeof(out)) == 12 && !memcmp(out, "\5vmnet\4test\0", 12));
	strcpy(d, "a.b.");
	CHECK(ip6_domain_encode(d, out, sizeof(out)) == 5 && !memcmp(out, "\1a\1b\0", 5));
	strcpy(d, "");
	CHECK(ip6_domain_encode(d, out, sizeof(out)) == 0);
	strcpy(d, "a..b");
	CHECK(ip6_domain_encode(d, out, sizeof(out)) == -EINVAL);
	strcpy(d, ".");
	CHECK(ip6_domain_encode(d, out, sizeof(out)) == -EINVAL);
	strcpy(d, "a b");
	CHECK(ip6_domain_encode(d, out, sizeof(out)) == -EINVAL);
	memset(d, 'x', sizeof(d) - 1);
	d[sizeof(d) - 1] = 0; /* one 63-byte label: the longest allowed */
	CHECK(ip6_domain_encode(d, out, sizeof(out)) == 65 && out[0] == 63 && out[64] == 0);
	CHECK(ip6_domain_encode(d, out, 10) == -EINVAL);
}

/* --- neighbour discovery --- */

/* Check an NA reply. Return: 0, or the number of the failed check. */
static int check_na(const uint8_t *out, int n, const uint8_t target[16], const uint8_t dmac[6],
		    const uint8_t dst[16], uint8_t flags)
{
	struct reply6 r;
	struct ndopts o;

	if (parse6(out, n, &r))
		return 10 + parse6(out, n, &r);
	if (memcmp(r.dmac, dmac, 6) || memcmp(r.src, target, 16) || memcmp(r.dst, dst, 16))
		return 20;
	if (r.next != 58 || r.hop != 255 || r.plen != 32)
		return 21;
	if (r.pl[0] != 136 || r.pl[1] != 0 || r.pl[4] != flags || r.pl[5] || r.pl[6] || r.pl[7])
		return 22;
	if (memcmp(r.pl + 8, target, 16))
		return 23;
	if (parse_ndopts(r.pl + 24, r.plen - 24, &o) || o.count != 1 || !o.o[2] || o.o[2][1] != 1 ||
	    memcmp(o.o[2] + 2, gw_mac, 6))
		return 24;
	return 0;
}

static void test_ns(void)
{
	struct ip6_config c = config();
	uint8_t f[200], m[64], out[OUTCAP], group[16];
	size_t n;
	int r;

	/* NS for the link-local address, to its solicited-node group. */
	solicited_node(c.ll, group);
	n = icmp_frame(f, guest_ll, group, m, ns_msg(m, c.ll, true));
	r = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(r == HDRS + 32);
	CHECK(check_na(out, r, c.ll, guest_mac, guest_ll, 0xe0) == 0); /* R, S, O */

	/* NUD: unicast NS for the global address, no source link-layer option. */
	n = icmp_frame(f, guest_ll, c.global, m, ns_msg(m, c.global, false));
	r = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(check_na(out, r, c.global, guest_mac, guest_ll, 0xe0) == 0);

	/* Ethernet padding after the datagram is ignored. */
	n = icmp_frame(f, guest_ll, group, m, ns_msg(m, c.ll, true));
	memset(f + n, 0, 20);
	r = ndp_input(&c, f, n + 20, out, sizeof(out));
	CHECK(check_na(out, r, c.ll, guest_mac, guest_ll, 0xe0) == 0);

	/* A foreign target (another guest's address): not ours to answer. */
	solicited_node(guest_ll, group);
	n = icmp_frame(f, c.ll, group, m, ns_msg(m, guest_ll, true));
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == 0);
	n = icmp_frame(f, guest_ll, c.ll, m, ns_msg(m, all_nodes, false));
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL); /* multicast target */

	/* The reply must fit. */
	solicited_node(c.ll, group);
	n = icmp_frame(f, guest_ll, group, m, ns_msg(m, c.ll, true));
	CHECK(ndp_input(&c, f, n, out, HDRS + 31) == -ENOBUFS);
	CHECK(ndp_input(&c, f, n, out, HDRS + 32) == HDRS + 32);
}

static void test_dad(void)
{
	struct ip6_config c = config();
	uint8_t f[200], m[64], out[OUTCAP], group[16];
	size_t n;
	int r;

	/* A guest probing the gateway's address (DAD, RFC 4862 §5.4.2) learns it is taken. */
	solicited_node(c.global, group);
	n = icmp_frame(f, unspec, group, m, ns_msg(m, c.global, false));
	r = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(check_na(out, r, c.global, mc_all_nodes, all_nodes, 0xa0) == 0); /* R, O; no S */

	/* DAD probes must go to the solicited-node group and carry no source link-layer option. */
	n = icmp_frame(f, unspec, all_nodes, m, ns_msg(m, c.global, false));
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	n = icmp_frame(f, unspec, group, m, ns_msg(m, c.global, true));
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	/* A probe for a guest's tentative address is none of our business. */
	solicited_node(guest_ll, group);
	n = icmp_frame(f, unspec, group, m, ns_msg(m, guest_ll, false));
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == 0);
}

/* The RA in a reply, all options taken apart. Return: 0, or the number of the failed check. */
static int check_ra(const struct ip6_config *c, const uint8_t *out, int n, const uint8_t dmac[6],
		    const uint8_t dst[16])
{
	static const uint8_t dnssl_name[16] = "\5vmnet\4test\0\0\0\0"; /* padded to 8-byte units */
	struct reply6 r;
	struct ndopts o;
	const uint8_t *p;
	unsigned want = 2; /* source link-layer address and prefix always */

	if (parse6(out, n, &r))
		return 10 + parse6(out, n, &r);
	if (memcmp(r.dmac, dmac, 6) || memcmp(r.src, c->ll, 16) || memcmp(r.dst, dst, 16))
		return 20;
	if (r.next != 58 || r.hop != 255 || r.plen < 16)
		return 21;
	p = r.pl;
	if (p[0] != 134 || p[1] != 0 || p[4] != 64)
		return 22;
	if (p[5] != ((c->dns || c->domain[0]) ? 0x40 : 0)) /* M never; O for DHCPv6 DNS */
		return 23;
	if (get16(p + 6) != c->router_lifetime || get32(p + 8) || get32(p + 12))
		return 24;
	if (parse_ndopts(p + 16, r.plen - 16, &o))
		return 25;
	if (!o.o[1] || o.o[1][1] != 1 || memcmp(o.o[1] + 2, gw_mac, 6))
		return 26;
	if (c->mtu >= 1280) {
		want++;
		if (!o.o[5] || o.o[5][1] != 1 || get16(o.o[5] + 2) || get32(o.o[5] + 4) != c->mtu)
			return 27;
	} else if (o.o[5]) {
		return 28;
	}
	p = o.o[3];
	if (!p || p[1] != 4 || p[2] != 64 || p[3] != 0xc0 || get32(p + 4) != 86400 || get32(p + 8) != 14400 ||
	    get32(p + 12) || memcmp(p + 16, c->prefix, 8) || memcmp(p + 24, unspec, 8))
		return 29;
	if (c->dns) {
		want++;
		p = o.o[25];
		if (!p || p[1] != 3 || get16(p + 2) || get32(p + 4) != 1800 || memcmp(p + 8, c->global, 16))
			return 30;
	} else if (o.o[25]) {
		return 31;
	}
	if (!strcmp(c->domain, "vmnet.test")) {
		want++;
		p = o.o[31];
		if (!p || p[1] != 3 || get16(p + 2) || get32(p + 4) != 1800 || memcmp(p + 8, dnssl_name, 16))
			return 32;
	} else if (o.o[31]) {
		return 33;
	}
	return o.count == want ? 0 : 34;
}

static void test_rs(void)
{
	static const uint8_t all_routers[16] = { 0xff, 0x02, [15] = 0x02 };
	struct ip6_config c = config();
	uint8_t f[200], m[64], out[OUTCAP];
	size_t n;
	int r;

	/* To ff02::2 (all-routers), as guests send it. */
	n = icmp_frame(f, guest_ll, all_routers, m, rs_msg(m, true));
	r = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(r > 0);
	CHECK(check_ra(&c, out, r, guest_mac, guest_ll) == 0);

	/* From :: (no address yet): to all-nodes, and no source link-layer option allowed. */
	n = icmp_frame(f, unspec, all_nodes, m, rs_msg(m, false));
	r = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(check_ra(&c, out, r, mc_all_nodes, all_nodes) == 0);
	n = icmp_frame(f, unspec, all_nodes, m, rs_msg(m, true));
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);

	/* Router advertisements off: solicitations go unanswered. */
	c.router_adv = false;
	n = icmp_frame(f, guest_ll, all_nodes, m, rs_msg(m, true));
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == 0);

	/* Host mode, no DNS, no MTU, no domain: lifetime 0, O clear, fewer options. */
	c = config();
	c.router_lifetime = 0;
	c.dns = false;
	c.mtu = 0;
	c.domain[0] = 0;
	r = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(check_ra(&c, out, r, guest_mac, guest_ll) == 0);
	CHECK(r == HDRS + 16 + 8 + 32);
	/* A domain that is no valid name is left out; an MTU under 1280 too. */
	c = config();
	strcpy(c.domain, "bad..name");
	c.mtu = 1000;
	r = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(check_ra(&c, out, r, guest_mac, guest_ll) == 0);
}

static void test_build_ra(void)
{
	struct ip6_config c = config();
	uint8_t out[OUTCAP];
	int r;

	r = ndp_build_ra(&c, out, sizeof(out));
	CHECK(r == HDRS + 16 + 8 + 8 + 32 + 24 + 24);
	CHECK(check_ra(&c, out, r, mc_all_nodes, all_nodes) == 0);
	CHECK(ndp_build_ra(&c, out, (size_t)r - 1) == -ENOBUFS);
	CHECK(ndp_build_ra(&c, out, (size_t)r) == r);
	c.dns = false;
	r = ndp_build_ra(&c, out, sizeof(out));
	CHECK(check_ra(&c, out, r, mc_all_nodes, all_nodes) == 0);
}

/* RFC 4861 §6.1.1 and §7.1.1: each violation drops the message. */
static void test_ndp_validity(void)
{
	struct ip6_config c = config();
	uint8_t f[300], m[64], out[OUTCAP], group[16];
	struct hdr6 h = { gw_mac, guest_mac, guest_ll, NULL, 58, 255, 2 };
	size_t n, k;

	solicited_node(c.ll, group);
	h.dst = group;
	k = ns_msg(m, c.ll, true);
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) > 0); /* the baseline is answered */

	h.hop = 254; /* forwarded by a router: not from this link */
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	h.hop = 255;

	m[1] = 1; /* code */
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	m[1] = 0;

	n = frame6(f, &h, m, k);
	f[HDRS + 20] ^= 0x01; /* damage after the checksum was computed */
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);

	/* A zero-length option: the whole message goes (RFC 4861 §4.6), valid options before it or not. */
	m[25] = 0;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	memset(m + 32, 0, 8);
	m[25] = 1;
	m[32] = 14; /* a nonce option (RFC 3971) of length 0 after the valid one */
	n = frame6(f, &h, m, k + 8);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	m[33] = 1; /* the same with length 1: accepted */
	n = frame6(f, &h, m, k + 8);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) > 0);

	/* An option longer than the message. */
	m[25] = 2;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	m[25] = 1;
	/* A lone byte after the last option. */
	n = frame6(f, &h, m, k + 1);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);

	/* ICMPv6 length under 24 for an NS. */
	n = frame6(f, &h, m, 20);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);

	/* The same for an RS: zero-length option, hop limit. */
	k = rs_msg(m, true);
	m[9] = 0;
	n = icmp_frame(f, guest_ll, all_nodes, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	m[9] = 1;
	h.dst = all_nodes;
	h.hop = 254;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	h.hop = 255;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) > 0);
}

static void test_bad_headers(void)
{
	struct ip6_config c = config();
	uint8_t f[300], m[64], out[OUTCAP], group[16];
	struct hdr6 h = { gw_mac, guest_mac, guest_ll, NULL, 58, 255, 2 };
	size_t n, k;

	solicited_node(c.ll, group);
	h.dst = group;
	k = ns_msg(m, c.ll, true);
	n = frame6(f, &h, m, k);

	put16(f + 18, (uint16_t)(k + 1)); /* payload length past the frame */
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	put16(f + 18, 0); /* jumbogram */
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	put16(f + 18, (uint16_t)k);
	f[14] = 0x40; /* version 4 */
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	f[14] = 0x60;
	for (size_t i = 0; i < n; i++) /* every truncation: never a reply, never a crash */
		CHECK(ndp_input(&c, f, i, out, sizeof(out)) <= 0);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) > 0);

	/* Not ICMPv6 directly: extension headers and other protocols are not ours to judge. */
	h.next = 0;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == 0);
	h.next = 58;
	n = frame6(f, &h, m, k);
	put16(f + 12, 0x0800);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == 0);

	/* A multicast source. */
	h.src = all_nodes;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	h.src = guest_ll;

	/* Messages we never answer: NA, RA, redirect, echo reply. */
	for (unsigned t = 0; t < 4; t++) {
		static const uint8_t types[4] = { 136, 134, 137, 129 };

		m[0] = types[t];
		n = frame6(f, &h, m, k);
		CHECK(ndp_input(&c, f, n, out, sizeof(out)) == 0);
	}
	CHECK(ndp_input(&c, NULL, 0, out, sizeof(out)) == 0);
}

static void test_echo(void)
{
	struct ip6_config c = config();
	uint8_t f[1600], m[1500], out[OUTCAP], guest_g[16];
	struct hdr6 h = { gw_mac, guest_mac, NULL, NULL, 58, 64, 2 };
	struct reply6 r;
	size_t n, k = 8 + 100;
	int len;

	memcpy(guest_g, c.prefix, 8);
	memcpy(guest_g + 8, guest_ll + 8, 8);
	memset(m, 0, sizeof(m));
	m[0] = 128;
	put16(m + 4, 0x1234);
	put16(m + 6, 7);
	for (size_t i = 8; i < k; i++)
		m[i] = (uint8_t)i;
	h.src = guest_g;
	h.dst = c.global;
	n = frame6(f, &h, m, k);
	len = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(len == (int)(HDRS + k));
	CHECK(parse6(out, len, &r) == 0);
	CHECK(!memcmp(r.dmac, guest_mac, 6) && !memcmp(r.src, c.global, 16) && !memcmp(r.dst, guest_g, 16));
	CHECK(r.next == 58 && r.hop == 64 && r.plen == k);
	CHECK(r.pl[0] == 129 && r.pl[1] == 0 && get16(r.pl + 4) == 0x1234 && get16(r.pl + 6) == 7);
	CHECK(!memcmp(r.pl + 8, m + 8, k - 8));

	/* Some data makes the reply's checksum come out as 0: it goes as 0xffff, never 0. */
	{
		unsigned zero = 0, ones = 0;

		for (unsigned x = 0; x < 0x10000; x++) {
			put16(m + 8, (uint16_t)x);
			n = frame6(f, &h, m, 16);
			len = ndp_input(&c, f, n, out, sizeof(out));
			zero += len != HDRS + 16 || get16(out + HDRS + 2) == 0;
			ones += len == HDRS + 16 && get16(out + HDRS + 2) == 0xffff;
		}
		CHECK(zero == 0 && ones == 1);
		put16(m + 8, 0x0809); /* the pattern again */
	}

	/* To the link-local address, hop limit 1: echo is not NDP. */
	h.src = guest_ll;
	h.dst = c.ll;
	h.hop = 1;
	n = frame6(f, &h, m, 8);
	len = ndp_input(&c, f, n, out, sizeof(out));
	CHECK(len == HDRS + 8 && parse6(out, len, &r) == 0 && !memcmp(r.src, c.ll, 16));

	/* The largest echo that fits a 1514-byte frame. */
	n = frame6(f, &h, m, OUTCAP - HDRS);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == OUTCAP);

	/* Not to us (all-nodes, another host), a bad checksum, code 1: no reply. */
	h.dst = all_nodes;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == 0);
	h.dst = guest_g;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == 0);
	h.dst = c.global;
	n = frame6(f, &h, m, k);
	f[HDRS + 50] ^= 0xff;
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	m[1] = 1;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	m[1] = 0;
	h.src = unspec;
	n = frame6(f, &h, m, k);
	CHECK(ndp_input(&c, f, n, out, sizeof(out)) == -EINVAL);
}

/* --- DHCPv6 --- */

/* A client's DUID-LLT and option request (23, 24), elapsed time. */
static const uint8_t client_id[] = { 0, 1, 0, 14, 0, 1, 0, 1, 0x2c, 0x3d, 0x4e, 0x5f,
				     0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t oro_elapsed[] = { 0, 6, 0, 4, 0, 23, 0, 24, 0, 8, 0, 2, 0, 0 };
/* IA_NA (IAID 1, T1 T2 0) with one IAADDR inside, as a stateful client sends it. */
static const uint8_t ia_na[44] = { 0, 3, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
				   0, 5, 0, 24, 0xfd, [20 + 15] = 1 };

/* A DHCPv6 message (type, xid 0xabcdef, opts) in UDP 546 → 547 from the guest. Return: frame length. */
static size_t dhcp6_frame(uint8_t *f, const uint8_t *dst, uint8_t type, const uint8_t *opts, size_t n)
{
	uint8_t u[1500];
	struct hdr6 h = { NULL, guest_mac, guest_ll, dst, 17, 1, 6 };
	uint8_t dmac[6] = { 0x33, 0x33, 0, 1, 0, 2 };

	if (dst[0] != 0xff)
		memcpy(dmac, gw_mac, 6);
	h.dmac = dmac;
	put16(u, 546);
	put16(u + 2, 547);
	put16(u + 4, (uint16_t)(12 + n));
	put16(u + 6, 0);
	u[8] = type;
	u[9] = 0xab;
	u[10] = 0xcd;
	u[11] = 0xef;
	memcpy(u + 12, opts, n);
	return frame6(f, &h, u, 12 + n);
}

struct dh6 {
	uint8_t type;
	const uint8_t *opt[64]; /* value of the first instance of each code < 64 */
	uint16_t len[64];
	unsigned count;
};

/* A DHCPv6 reply to the guest. Return: 0, or the number of the failed check. */
static int parse_dhcp6(const uint8_t *out, int n, struct dh6 *d)
{
	struct reply6 r;
	const uint8_t *p;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (parse6(out, n, &r))
		return 10 + parse6(out, n, &r);
	if (memcmp(r.dmac, guest_mac, 6) || memcmp(r.dst, guest_ll, 16) || r.next != 17)
		return 20;
	if (r.src[0] != 0xfe || r.src[1] != 0x80)
		return 21; /* from our link-local address */
	p = r.pl;
	if (r.plen < 12 || get16(p) != 547 || get16(p + 2) != 546 || get16(p + 4) != r.plen || !get16(p + 6))
		return 22;
	if (p[9] != 0xab || p[10] != 0xcd || p[11] != 0xef)
		return 23;
	d->type = p[8];
	for (i = 12; i < r.plen;) {
		uint16_t code, len;

		if (i + 4 > r.plen)
			return 24;
		code = get16(p + i);
		len = get16(p + i + 2);
		if (i + 4 + len > r.plen)
			return 25;
		if (code < 64 && !d->opt[code]) {
			d->opt[code] = p + i + 4;
			d->len[code] = len;
		}
		d->count++;
		i += 4 + (size_t)len;
	}
	return 0;
}

/* Server ID, DNS server, domain list of a Reply or Advertise. Return: 0, or the number of the failed check. */
static int check_dhcp6_common(const struct ip6_config *c, const struct dh6 *d, bool with_client)
{
	static const uint8_t duid[10] = { 0, 3, 0, 1, 0x02, 0x76, 0x6d, 0xa8, 0x80, 0x01 };

	if (!d->opt[2] || d->len[2] != 10 || memcmp(d->opt[2], duid, 10))
		return 1;
	if (with_client && (!d->opt[1] || d->len[1] != sizeof(client_id) - 4 ||
			    memcmp(d->opt[1], client_id + 4, sizeof(client_id) - 4)))
		return 2;
	if (!with_client && d->opt[1])
		return 3;
	if (!d->opt[23] || d->len[23] != 16 || memcmp(d->opt[23], c->global, 16))
		return 4;
	if (!d->opt[24] || d->len[24] != 12 || memcmp(d->opt[24], "\5vmnet\4test\0", 12))
		return 5;
	if (d->opt[3] || d->opt[4] || d->opt[25])
		return 6; /* never an IA */
	return 0;
}

static void test_dhcp6_inform(void)
{
	struct ip6_config c = config();
	uint8_t f[600], o[300], out[OUTCAP];
	size_t n, k = 0;
	struct dh6 d;
	int r;

	memcpy(o, client_id, sizeof(client_id));
	k += sizeof(client_id);
	memcpy(o + k, oro_elapsed, sizeof(oro_elapsed));
	k += sizeof(oro_elapsed);
	n = dhcp6_frame(f, all_dhcp, 11, o, k);
	r = dhcp6_input(&c, f, n, out, sizeof(out));
	CHECK(r > 0);
	CHECK(parse_dhcp6(out, r, &d) == 0);
	CHECK(d.type == 7); /* Reply */
	CHECK(check_dhcp6_common(&c, &d, true) == 0);
	CHECK(d.opt[32] && d.len[32] == 4 && get32(d.opt[32]) == 86400);
	CHECK(!d.opt[13]); /* no status: success */
	CHECK(d.count == 5);

	/* Without a client identifier (allowed for Information-request), to our address. */
	n = dhcp6_frame(f, c.ll, 11, oro_elapsed, sizeof(oro_elapsed));
	r = dhcp6_input(&c, f, n, out, sizeof(out));
	CHECK(parse_dhcp6(out, r, &d) == 0 && d.type == 7 && check_dhcp6_common(&c, &d, false) == 0);

	/* With our server identifier: answered; with another's: not for us. */
	{
		uint8_t sid[14] = { 0, 2, 0, 10, 0, 3, 0, 1, 0x02, 0x76, 0x6d, 0xa8, 0x80, 0x01 };

		memcpy(o + k, sid, sizeof(sid));
		n = dhcp6_frame(f, all_dhcp, 11, o, k + sizeof(sid));
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0);
		o[k + 13] = 0x02;
		n = dhcp6_frame(f, all_dhcp, 11, o, k + sizeof(sid));
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == 0);
	}

	/* No DNS, no domain: only identifiers and refresh time. */
	c.dns = false;
	c.domain[0] = 0;
	n = dhcp6_frame(f, all_dhcp, 11, o, k);
	r = dhcp6_input(&c, f, n, out, sizeof(out));
	CHECK(parse_dhcp6(out, r, &d) == 0 && d.count == 3 && !d.opt[23] && !d.opt[24] && d.opt[32]);

	/* Information-request with an IA: discarded (RFC 8415 §16.12). */
	c = config();
	memcpy(o + k, ia_na, sizeof(ia_na));
	n = dhcp6_frame(f, all_dhcp, 11, o, k + sizeof(ia_na));
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
}

static void test_dhcp6_solicit(void)
{
	struct ip6_config c = config();
	uint8_t f[600], o[300], out[OUTCAP];
	size_t n, k = 0;
	struct dh6 d;
	int r;

	memcpy(o, client_id, sizeof(client_id));
	k += sizeof(client_id);
	memcpy(o + k, oro_elapsed, sizeof(oro_elapsed));
	k += sizeof(oro_elapsed);
	memcpy(o + k, ia_na, sizeof(ia_na));
	k += sizeof(ia_na);
	n = dhcp6_frame(f, all_dhcp, 1, o, k);
	r = dhcp6_input(&c, f, n, out, sizeof(out));
	CHECK(r > 0);
	CHECK(parse_dhcp6(out, r, &d) == 0);
	CHECK(d.type == 2); /* Advertise */
	CHECK(check_dhcp6_common(&c, &d, true) == 0);
	CHECK(d.opt[13] && d.len[13] >= 2 && get16(d.opt[13]) == 2); /* NoAddrsAvail */
	CHECK(!d.opt[32]); /* refresh time only in a Reply to Information-request */

	/* Solicit without client identifier, or with a server identifier: discarded (§16.2). */
	n = dhcp6_frame(f, all_dhcp, 1, o + sizeof(client_id), k - sizeof(client_id));
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	{
		uint8_t o2[300], sid[14] = { 0, 2, 0, 10, 0, 3, 0, 1, 0x02, 0x76, 0x6d, 0xa8, 0x80, 0x01 };

		memcpy(o2, o, k);
		memcpy(o2 + k, sid, sizeof(sid));
		n = dhcp6_frame(f, all_dhcp, 1, o2, k + sizeof(sid));
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	}

	/* Stateful follow-ups, relay and server messages: ignored. */
	for (uint8_t t = 2; t <= 13; t++) {
		if (t == 11)
			continue;
		n = dhcp6_frame(f, all_dhcp, t, o, k);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == 0);
	}
	n = dhcp6_frame(f, all_dhcp, 0, o, k);
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == 0);
	n = dhcp6_frame(f, all_dhcp, 200, o, k);
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == 0);
}

/* Hostile options: each drops the message. */
static void test_dhcp6_bad_options(void)
{
	struct ip6_config c = config();
	uint8_t f[600], o[300], out[OUTCAP];
	size_t n, k;

	/* An option running past the end, by one byte. */
	memcpy(o, client_id, sizeof(client_id));
	o[3] = 15;
	n = dhcp6_frame(f, all_dhcp, 11, o, sizeof(client_id));
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	/* Two bytes left over after the last option. */
	memcpy(o, client_id, sizeof(client_id));
	o[sizeof(client_id)] = 0;
	o[sizeof(client_id) + 1] = 8;
	n = dhcp6_frame(f, all_dhcp, 11, o, sizeof(client_id) + 2);
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	/* Every truncation of the options: no reply, no crash. */
	memcpy(o, client_id, sizeof(client_id));
	memcpy(o + sizeof(client_id), oro_elapsed, sizeof(oro_elapsed));
	k = sizeof(client_id) + sizeof(oro_elapsed);
	for (size_t i = 1; i < k; i++) {
		if (i == sizeof(client_id) || i == sizeof(client_id) + 8)
			continue; /* on an option boundary: still well-formed */
		n = dhcp6_frame(f, all_dhcp, 11, o, i);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	}
	/* Zero-length and over-long client identifiers. */
	{
		uint8_t z[4] = { 0, 1, 0, 0 };

		n = dhcp6_frame(f, all_dhcp, 11, z, sizeof(z));
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
		memset(o, 0x11, sizeof(o));
		put16(o, 1);
		put16(o + 2, 131);
		n = dhcp6_frame(f, all_dhcp, 11, o, 4 + 131);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
		put16(o + 2, 130);
		n = dhcp6_frame(f, all_dhcp, 11, o, 4 + 130);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0); /* the longest DUID is fine */
		/* A zero-length option we do not read (Rapid Commit) is fine too. */
		memcpy(o, client_id, sizeof(client_id));
		put16(o + sizeof(client_id), 14);
		put16(o + sizeof(client_id) + 2, 0);
		n = dhcp6_frame(f, all_dhcp, 1, o, sizeof(client_id) + 4);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0);
	}
	/* Malformed IAs in a Solicit. */
	memcpy(o, client_id, sizeof(client_id));
	k = sizeof(client_id);
	{
		uint8_t ia[96];

		memcpy(ia, ia_na, sizeof(ia_na));
		memcpy(o + k, ia, sizeof(ia_na));
		n = dhcp6_frame(f, all_dhcp, 1, o, k + sizeof(ia_na));
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0); /* the well-formed one */

		put16(ia + 2, 4); /* IA_NA shorter than IAID, T1, T2 */
		memcpy(o + k, ia, 8);
		n = dhcp6_frame(f, all_dhcp, 1, o, k + 8);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);

		memcpy(ia, ia_na, sizeof(ia_na));
		put16(ia + 18, 25); /* the IAADDR runs past its IA */
		memcpy(o + k, ia, sizeof(ia_na));
		n = dhcp6_frame(f, all_dhcp, 1, o, k + sizeof(ia_na));
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);

		/* An IA_NA, then an IA_PD, nested in the IA_NA: each well-formed in itself. */
		for (unsigned t = 0; t < 2; t++) {
			memset(ia, 0, sizeof(ia));
			put16(ia, 3);
			put16(ia + 2, 12 + 4 + 12);
			put16(ia + 16, t ? 25 : 3);
			put16(ia + 18, 12);
			memcpy(o + k, ia, 32);
			n = dhcp6_frame(f, all_dhcp, 1, o, k + 32);
			CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
		}

		/* An IAADDR inside the IAADDR: IA_NA 68 = 12 + IAADDR(4 + 24 + IAADDR(4 + 24)). */
		memset(ia, 0, sizeof(ia));
		put16(ia, 3);
		put16(ia + 2, 12 + 4 + 24 + 4 + 24);
		put16(ia + 16, 5);
		put16(ia + 18, 24 + 4 + 24);
		put16(ia + 44, 5);
		put16(ia + 46, 24);
		memcpy(o + k, ia, 72);
		n = dhcp6_frame(f, all_dhcp, 1, o, k + 72);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
		put16(ia + 44, 13); /* a status code there instead: fine */
		memcpy(o + k, ia, 72);
		n = dhcp6_frame(f, all_dhcp, 1, o, k + 72);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0);
		/* The same 52 bytes with a short status code inside the address. */
		memset(ia, 0, sizeof(ia));
		put16(ia, 3);
		put16(ia + 2, 12 + 4 + 24 + 8);
		put16(ia + 16, 5);
		put16(ia + 18, 24 + 8);
		put16(ia + 44, 13);
		put16(ia + 46, 4);
		put16(ia + 44, 13); /* a status code there instead: fine */
		memcpy(o + k, ia, 52);
		n = dhcp6_frame(f, all_dhcp, 1, o, k + 52);
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0);
	}
}

static void test_dhcp6_headers(void)
{
	struct ip6_config c = config();
	uint8_t f[600], out[OUTCAP], other[16];
	size_t n;

	n = dhcp6_frame(f, all_dhcp, 11, client_id, sizeof(client_id));
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0);
	CHECK(dhcp6_input(&c, f, n, out, 100) == -ENOBUFS);
	f[HDRS + 20] ^= 1; /* damaged payload: the UDP checksum is mandatory over IPv6 */
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	n = dhcp6_frame(f, all_dhcp, 11, client_id, sizeof(client_id));
	put16(f + HDRS + 6, 0); /* "no checksum": forbidden over IPv6 (RFC 8200 §8.1) */
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	n = dhcp6_frame(f, all_dhcp, 11, client_id, sizeof(client_id));
	put16(f + HDRS + 4, (uint16_t)(get16(f + HDRS + 4) - 1)); /* UDP length short of the payload */
	resum_udp(f, n);
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	put16(f + HDRS + 4, (uint16_t)(get16(f + HDRS + 4) + 2)); /* and past it */
	resum_udp(f, n);
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	/*
	 * A datagram whose checksum comes out as 0 goes with 0xffff (RFC 768): find one by
	 * trying transaction IDs. The same datagram with 0 in the field is refused.
	 */
	{
		uint8_t opts[sizeof(client_id)];
		unsigned found = 0;

		memcpy(opts, client_id, sizeof(opts));
		for (unsigned x = 0; x < 0x10000 && !found; x++) {
			put16(opts + 16, (uint16_t)x);
			n = dhcp6_frame(f, all_dhcp, 11, opts, sizeof(opts));
			if (get16(f + HDRS + 6) != 0xffff)
				continue;
			found = 1;
			CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0);
			put16(f + HDRS + 6, 0);
			CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
		}
		CHECK(found);
	}
	n = dhcp6_frame(f, all_dhcp, 11, client_id, sizeof(client_id));
	for (size_t i = 0; i < n; i++)
		CHECK(dhcp6_input(&c, f, i, out, sizeof(out)) <= 0);
	/* Another port, another destination, extension headers: not for us. */
	put16(f + HDRS + 2, 548);
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == 0);
	memcpy(other, c.global, 16);
	other[15] = 2;
	n = dhcp6_frame(f, other, 11, client_id, sizeof(client_id));
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == 0);
	n = dhcp6_frame(f, c.global, 11, client_id, sizeof(client_id));
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) > 0);
	f[20] = 0;
	CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == 0);
	/* From :: there is no one to answer. */
	{
		struct hdr6 h = { gw_mac, guest_mac, unspec, all_dhcp, 17, 1, 6 };
		uint8_t u[100] = { 2, 0x22, 2, 0x23, 0, 12 + sizeof(client_id), 0, 0, 11, 1, 2, 3 };

		memcpy(u + 12, client_id, sizeof(client_id));
		n = frame6(f, &h, u, 12 + sizeof(client_id));
		CHECK(dhcp6_input(&c, f, n, out, sizeof(out)) == -EINVAL);
	}
}

/* --- random damage --- */

static void mutate(uint8_t *f, size_t *n, size_t room, int csum_off)
{
	for (unsigned k = rnd() % 6; k; k--)
		f[rnd() % *n] ^= (uint8_t)(1u << (rnd() % 8));
	if (csum_off >= 0 && rnd() % 2 && *n >= (size_t)HDRS + csum_off + 2) {
		/* Re-sum over what the IPv6 header claims, so that damage gets past the checksum. */
		size_t pl = get16(f + 18);

		if (HDRS + pl <= *n) {
			put16(f + HDRS + csum_off, 0);
			put16(f + HDRS + csum_off, (uint16_t)~l4sum(f + 22, f + 38, f[20], f + HDRS, pl));
		}
	}
	if (rnd() % 4 == 0)
		*n = rnd() % (*n + 1);
	else if (rnd() % 8 == 0 && *n + 40 <= room)
		*n += rnd() % 40;
}

/* Random damage to valid requests: never a crash; every reply is a well-formed, correctly summed frame. */
static void test_mutations(void)
{
	struct ip6_config c = config();
	uint8_t f[600], m[300], out[OUTCAP], group[16];
	unsigned replies = 0, bad = 0;
	struct reply6 r;

	solicited_node(c.ll, group);
	for (unsigned i = 0; i < 30000; i++) {
		size_t n = 0, k;
		int len;

		switch (rnd() % 5) {
		case 0:
			n = icmp_frame(f, rnd() % 3 ? guest_ll : unspec, group, m, ns_msg(m, c.ll, rnd() & 1));
			break;
		case 1:
			n = icmp_frame(f, rnd() % 3 ? guest_ll : unspec, all_nodes, m, rs_msg(m, rnd() & 1));
			break;
		case 2:
			memset(m, 0x5a, 64);
			m[0] = 128;
			m[1] = 0;
			n = icmp_frame(f, guest_ll, c.ll, m, 8 + rnd() % 56);
			break;
		default:
			k = 0;
			memcpy(m, client_id, sizeof(client_id));
			k += sizeof(client_id);
			if (rnd() & 1) {
				memcpy(m + k, ia_na, sizeof(ia_na));
				k += sizeof(ia_na);
			}
			memcpy(m + k, oro_elapsed, sizeof(oro_elapsed));
			k += sizeof(oro_elapsed);
			n = dhcp6_frame(f, all_dhcp, rnd() & 1 ? 1 : 11, m, k);
			break;
		}
		mutate(f, &n, sizeof(f), f[20] == 17 ? 6 : 2);
		len = f[20] == 17 ? dhcp6_input(&c, f, n, out, sizeof(out)) : ndp_input(&c, f, n, out, sizeof(out));
		if (len > (int)sizeof(out) || (len < 0 && len != -EINVAL))
			bad++;
		if (len > 0) {
			replies++;
			bad += parse6(out, len, &r) != 0;
		}
	}
	CHECK(bad == 0);
	CHECK(replies > 3000);
}

int main(void)
{
	log_level = LOG_LVL_ERR;
	test_addresses();
	test_domain_encode();
	test_ns();
	test_dad();
	test_rs();
	test_build_ra();
	test_ndp_validity();
	test_bad_headers();
	test_echo();
	test_dhcp6_inform();
	test_dhcp6_solicit();
	test_dhcp6_bad_options();
	test_dhcp6_headers();
	test_mutations();
	return check_done();
}
