/* test_gateway.c — the gateway port with hand-built frames: ARP, ICMP echo, what it ignores. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/csum.h"
#include "engine/gateway.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/switch.h"
#include "engine/wire.h"

struct rec_port {
	struct port base;
	int got;
	size_t len;
	uint8_t last[1514];
};

static int rec_output(struct port *p, const struct frame *f)
{
	struct rec_port *r = (struct rec_port *)p;

	r->got++;
	r->len = f->len;
	memcpy(r->last, f->data, f->len);
	return 0;
}

static void rec_destroy(struct port *p)
{
	free(p);
}

static const struct port_ops rec_ops = { "rec", rec_output, NULL, rec_destroy };
static const uint8_t guest_mac[6] = { 2, 0, 0, 0, 0, 0x42 };
static const uint8_t gw_mac[6] = { 0x02, 0x76, 0x6d, 0xa8, 0x80, 0x01 };

static void send_frame(struct network *n, struct rec_port *from, const uint8_t *buf, size_t len)
{
	struct frame f = { .data = buf, .len = (uint32_t)len, .shared = true };

	from->got = 0;
	switch_input(n, &from->base, &f);
	switch_flush(n);
}

static size_t arp_request(uint8_t *b, uint32_t target)
{
	struct eth_hdr *e = (void *)b;
	struct arp_pkt *a = (void *)(b + ETH_HLEN);
	uint32_t me = htonl(0xc0a8800a);

	memset(b, 0, 60);
	memset(e->dst, 0xff, 6);
	memcpy(e->src, guest_mac, 6);
	e->type = htons(ETHERTYPE_ARP);
	a->htype = htons(1);
	a->ptype = htons(ETHERTYPE_IPV4);
	a->hlen = 6;
	a->plen = 4;
	a->op = htons(ARP_OP_REQUEST);
	memcpy(a->sha, guest_mac, 6);
	memcpy(a->spa, &me, 4);
	memcpy(a->tpa, &target, 4);
	return 60;
}

static size_t echo_request(uint8_t *b, size_t payload, int corrupt)
{
	struct eth_hdr *e = (void *)b;
	struct ipv4_hdr *ip = (void *)(b + ETH_HLEN);
	struct icmp_hdr *ic = (void *)(b + ETH_HLEN + sizeof(*ip));

	memcpy(e->dst, gw_mac, 6);
	memcpy(e->src, guest_mac, 6);
	e->type = htons(ETHERTYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + sizeof(*ic) + payload));
	ip->ttl = 64;
	ip->proto = 1;
	ip->saddr = htonl(0xc0a8800a);
	ip->daddr = htonl(0xc0a88001);
	ip->check = htons(csum_fold(csum_partial(ip, sizeof(*ip), 0)));
	memset(ic, 0, sizeof(*ic));
	ic->type = ICMP_ECHO_REQUEST;
	ic->id = htons(0x1234);
	ic->seq = htons(7);
	memset(ic + 1, 0xab, payload);
	ic->check = htons(csum_fold(csum_partial(ic, sizeof(*ic) + payload, 0)));
	if (corrupt)
		ic->check ^= 1;
	return ETH_HLEN + sizeof(*ip) + sizeof(*ic) + payload;
}

/* A DHCPDISCOVER from MAC 02:00:00:00:xx:yy (client), broadcast. */
static size_t dhcp_discover(uint8_t *b, unsigned client)
{
	struct eth_hdr *e = (void *)b;
	struct ipv4_hdr *ip = (void *)(b + ETH_HLEN);
	struct udp_hdr *u = (void *)(b + ETH_HLEN + sizeof(*ip));
	uint8_t *d = (uint8_t *)(u + 1);
	uint8_t mac[6] = { 2, 0, 0, 0, (uint8_t)(client >> 8), (uint8_t)client };
	size_t dl = 300;

	memset(b, 0, ETH_HLEN + sizeof(*ip) + sizeof(*u) + dl);
	memset(e->dst, 0xff, 6);
	memcpy(e->src, mac, 6);
	e->type = htons(ETHERTYPE_IPV4);
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + sizeof(*u) + dl));
	ip->ttl = 64;
	ip->proto = IPPROTO_UDP_;
	ip->daddr = htonl(0xffffffff);
	ip->check = htons(csum_fold(csum_partial(ip, sizeof(*ip), 0)));
	u->sport = htons(68);
	u->dport = htons(67);
	u->len = htons((uint16_t)(sizeof(*u) + dl));
	d[0] = 1, d[1] = 1, d[2] = 6;
	memcpy(d + 4, &client, 4); /* xid */
	memcpy(d + 28, mac, 6);
	d[236] = 0x63, d[237] = 0x82, d[238] = 0x53, d[239] = 0x63;
	d[240] = 53, d[241] = 1, d[242] = 1; /* DISCOVER */
	d[243] = 255;
	return ETH_HLEN + sizeof(*ip) + sizeof(*u) + dl;
}

/* One interface flooding DISCOVERs is cut off at engine_dhcp_rate a second; another is still served. */
static void test_dhcp_port_rate(void)
{
	struct network *n;
	struct gateway_config gcfg;
	struct rec_port *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	uint8_t buf[1514];
	unsigned answered = 0;

	CHECK(network_new(1000, &n) == 0);
	n->has_subnet = true;
	n->start.s_addr = htonl(0xc0a88001);
	n->end.s_addr = htonl(0xc0a880fe);
	n->mask.s_addr = htonl(0xffffff00);
	gateway_config_default(&gcfg);
	gcfg.dns = gcfg.ipv6 = false;
	CHECK(gateway_attach(n, &gcfg) == 0);
	a->base.ops = b->base.ops = &rec_ops;
	a->base.max_frame = b->base.max_frame = 1514;
	CHECK(network_add_port(n, &a->base) == 0);
	CHECK(network_add_port(n, &b->base) == 0);
	engine_now_sec = 1000;
	for (unsigned i = 0; i < 150; i++) {
		send_frame(n, a, buf, dhcp_discover(buf, i));
		answered += a->got > 0;
	}
	CHECK(engine_dhcp_rate == GATEWAY_DHCP_RATE && answered == GATEWAY_DHCP_RATE);
	send_frame(n, b, buf, dhcp_discover(buf, 500));
	CHECK(b->got == 1); /* the other interface is unaffected */
	engine_now_sec = 1001; /* a new second: the flooding interface is served again */
	send_frame(n, a, buf, dhcp_discover(buf, 600));
	CHECK(a->got == 1);
	network_remove_port(&a->base);
	network_remove_port(&b->base);
	CHECK(network_list == NULL);
	loop_free_deferred();
}

int main(void)
{
	engine_host_tap = false; /* no host devices from a unit test */
	test_dhcp_port_rate();
	struct network *n;
	struct gateway_config gcfg;
	struct rec_port *g = calloc(1, sizeof(*g));
	uint8_t buf[1514];
	size_t len;

	CHECK(network_new(1000, &n) == 0);
	n->has_subnet = true;
	n->start.s_addr = htonl(0xc0a88001);
	n->end.s_addr = htonl(0xc0a880fe);
	n->mask.s_addr = htonl(0xffffff00);
	gateway_config_default(&gcfg);
	gcfg.dhcp = gcfg.dns = gcfg.ipv6 = false; /* each service has its own test */
	CHECK(gateway_attach(n, &gcfg) == 0);
	CHECK(gateway_attach(n, &gcfg) == -EINVAL); /* one gateway per network */
	g->base.ops = &rec_ops;
	g->base.max_frame = 1514;
	CHECK(network_add_port(n, &g->base) == 0);

	/* ARP for the gateway: answered, from the gateway's MAC */
	len = arp_request(buf, htonl(0xc0a88001));
	send_frame(n, g, buf, len);
	CHECK(g->got == 1 && g->len >= ETH_HLEN + sizeof(struct arp_pkt));
	CHECK(!memcmp(g->last, guest_mac, 6) && !memcmp(g->last + 6, gw_mac, 6));
	CHECK(((struct arp_pkt *)(void *)(g->last + ETH_HLEN))->op == htons(ARP_OP_REPLY));
	CHECK(!memcmp(((struct arp_pkt *)(void *)(g->last + ETH_HLEN))->sha, gw_mac, 6));
	/* ARP for someone else: not ours */
	len = arp_request(buf, htonl(0xc0a88009));
	send_frame(n, g, buf, len);
	CHECK(g->got == 0);
	/* bogus hardware length / truncated */
	len = arp_request(buf, htonl(0xc0a88001));
	((struct arp_pkt *)(void *)(buf + ETH_HLEN))->hlen = 7;
	send_frame(n, g, buf, len);
	CHECK(g->got == 0);
	len = arp_request(buf, htonl(0xc0a88001));
	send_frame(n, g, buf, ETH_HLEN + 10);
	CHECK(g->got == 0);

	/* ICMP echo: answered with the same id, seq and data, valid checksums */
	len = echo_request(buf, 56, 0);
	send_frame(n, g, buf, len);
	CHECK(g->got == 1 && g->len == len);
	{
		struct ipv4_hdr *ip = (void *)(g->last + ETH_HLEN);
		struct icmp_hdr *ic = (void *)(g->last + ETH_HLEN + sizeof(*ip));

		CHECK(ic->type == ICMP_ECHO_REPLY && ic->id == htons(0x1234) && ic->seq == htons(7));
		CHECK(ip->saddr == htonl(0xc0a88001) && ip->daddr == htonl(0xc0a8800a));
		CHECK(csum_fold(csum_partial(ip, sizeof(*ip), 0)) == 0);
		CHECK(csum_fold(csum_partial(ic, sizeof(*ic) + 56, 0)) == 0);
		CHECK(((uint8_t *)(ic + 1))[55] == 0xab);
	}
	/* bad checksum, truncated total length, fragment: dropped */
	len = echo_request(buf, 56, 1);
	send_frame(n, g, buf, len);
	CHECK(g->got == 0);
	len = echo_request(buf, 56, 0);
	send_frame(n, g, buf, len - 10);
	CHECK(g->got == 0);
	len = echo_request(buf, 56, 0);
	((struct ipv4_hdr *)(void *)(buf + ETH_HLEN))->frag_off = htons(IPV4_FLAG_MF);
	send_frame(n, g, buf, len);
	CHECK(g->got == 0);
	/* every truncation of a valid echo request is handled without a reply or crash */
	for (size_t l = 0; l < len; l++) {
		len = echo_request(buf, 56, 0);
		send_frame(n, g, buf, l);
		CHECK(g->got == 0);
	}
	/* the last guest leaving takes the gateway and the network */
	network_remove_port(&g->base);
	CHECK(network_list == NULL);
	loop_free_deferred();
	return check_done();
}
