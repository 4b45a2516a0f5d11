/*
 * test_offload.c — frames with virtio-net offload metadata (engine/offload.c)
 * and how the switch hands them to ports with and without offloads.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "check.h"
#include "engine/network.h"
#include "engine/offload.h"
#include "engine/switch.h"

#define PAYLOAD 20000
static uint8_t buf[14 + 40 + 32 + PAYLOAD];

/* Ethernet + IPv4/IPv6 + TCP (12 bytes of options) or UDP, payload bytes i*7; the checksum field
 * holds only the pseudo-header sum, as a sender with checksum offload leaves it. */
static uint32_t build(bool v6, bool udp, size_t payload, struct ring_vnet_hdr *v)
{
	size_t iphl = v6 ? 40 : 20, l4hl = udp ? 8 : 32, l4len = l4hl + payload;
	uint8_t *ip = buf + 14, *l4 = ip + iphl;
	uint32_t sum;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	buf[12] = v6 ? 0x86 : 0x08, buf[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)l4len);
		ip[6] = udp ? 17 : 6, ip[7] = 64;
		ip[8] = 0xfd, ip[23] = 1, ip[24] = 0xfd, ip[39] = 2;
		sum = sum16(ip + 8, 32, 0);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(iphl + l4len));
		put16(ip + 4, 0x1234);
		ip[6] = 0x40, ip[8] = 64, ip[9] = udp ? 17 : 6;
		memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		put16(ip + 10, (uint16_t)~sum16(ip, 20, 0));
		sum = sum16(ip + 12, 8, 0);
	}
	sum += (uint32_t)(udp ? 17 : 6) + (uint32_t)l4len;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(l4, 40000), put16(l4 + 2, 5201);
	if (udp) {
		put16(l4 + 4, (uint16_t)l4len);
		put16(l4 + 6, (uint16_t)sum);
	} else {
		put32(l4 + 4, 1000);
		l4[12] = 8 << 4, l4[13] = 0x18; /* 32-byte header, PSH ACK */
		l4[20] = 1, l4[21] = 1, l4[22] = 8, l4[23] = 10; /* NOP NOP timestamp */
		put16(l4 + 16, (uint16_t)sum);
	}
	for (size_t i = 0; i < payload; i++)
		l4[l4hl + i] = (uint8_t)(i * 7);
	memset(v, 0, sizeof(*v));
	v->flags = VNET_F_NEEDS_CSUM;
	v->csum_start = (uint16_t)(14 + iphl);
	v->csum_offset = udp ? 6 : 16;
	return (uint32_t)(14 + iphl + l4len);
}

/* Is the L4 checksum of a plain frame right (pseudo-header + segment sums to all ones)? */
static bool l4_ok(const uint8_t *f, size_t len)
{
	bool v6 = f[12] == 0x86;
	const uint8_t *ip = f + 14;
	size_t iphl = v6 ? 40 : (size_t)(ip[0] & 15) * 4;
	uint8_t proto = v6 ? ip[6] : ip[9];
	size_t l4len = len - 14 - iphl;
	uint32_t sum = (v6 ? sum16(ip + 8, 32, 0) : sum16(ip + 12, 8, 0)) + proto + (uint32_t)l4len;

	if (!v6 && (sum16(ip, iphl, 0) != 0xffff || get16(ip + 2) != len - 14))
		return false;
	if (v6 && get16(ip + 4) != l4len)
		return false;
	return sum16(ip + iphl, l4len, sum) == 0xffff;
}

struct got {
	int n, bad, vnet;
	size_t bytes, maxlen;
};

static void take(void *ctx, const struct frame *f)
{
	struct got *g = ctx;
	static const struct ring_vnet_hdr zero;

	g->n++;
	g->bytes += f->len;
	g->bad += !l4_ok(f->data, f->len);
	g->vnet += memcmp(&f->vnet, &zero, sizeof(zero)) != 0;
	if (f->len > g->maxlen)
		g->maxlen = f->len;
}

static void test_check(void)
{
	struct frame f = { .data = buf };

	f.len = build(false, false, 1000, &f.vnet);
	CHECK(offload_check(&f) == 0);
	f.vnet.gso_type = VNET_GSO_TCPV4, f.vnet.gso_size = 1448;
	CHECK(offload_check(&f) == 0);
	f.vnet.gso_type = VNET_GSO_TCPV4 | VNET_GSO_ECN;
	CHECK(offload_check(&f) == 0);
	f.vnet.gso_size = 0;
	CHECK(offload_check(&f) == -EINVAL); /* GSO needs a segment size */
	f.vnet.gso_size = 87;
	CHECK(offload_check(&f) == -EINVAL); /* below TCP's smallest MSS: a frame would become hundreds */
	f.vnet.gso_size = 88;
	CHECK(offload_check(&f) == 0);
	f.vnet.gso_size = 1448, f.vnet.gso_type = VNET_GSO_UDP;
	CHECK(offload_check(&f) == -EINVAL); /* UFO is not taken */
	f.vnet.gso_type = 9;
	CHECK(offload_check(&f) == -EINVAL);
	f.vnet.gso_type = VNET_GSO_TCPV4, f.vnet.flags = 0;
	CHECK(offload_check(&f) == -EINVAL); /* GSO without a partial checksum */
	f.vnet.flags = VNET_F_NEEDS_CSUM | 0x10;
	CHECK(offload_check(&f) == -EINVAL); /* unknown flag */
	f.vnet.flags = VNET_F_NEEDS_CSUM, f.vnet.csum_start = (uint16_t)(f.len - 10), f.vnet.csum_offset = 9;
	CHECK(offload_check(&f) == -EINVAL); /* the checksum field past the end */
	f.vnet.csum_start = 4, f.vnet.csum_offset = 16;
	CHECK(offload_check(&f) == -EINVAL); /* inside the Ethernet header */
	f.vnet.csum_start = 0xffff, f.vnet.csum_offset = 0xffff;
	CHECK(offload_check(&f) == -EINVAL); /* no 16-bit wrap-around */
	f.vnet = (struct ring_vnet_hdr){ .flags = VNET_F_DATA_VALID };
	CHECK(offload_check(&f) == 0);
	f.len = OFFLOAD_MAX_FRAME + 1;
	CHECK(offload_check(&f) == -EINVAL);
}

static void test_resolve(void)
{
	struct frame f = { .data = buf };
	struct got g;

	for (int v6 = 0; v6 < 2; v6++) {
		/* A partial checksum alone: completed, one frame, TCP and UDP. */
		for (int udp = 0; udp < 2; udp++) {
			memset(&g, 0, sizeof(g));
			f.len = build(v6, udp, 1000, &f.vnet);
			CHECK(!l4_ok(buf, f.len)); /* only the pseudo-header sum so far */
			CHECK(offload_resolve(&f, 1500, take, &g) == 1);
			CHECK(g.n == 1 && g.bad == 0 && g.vnet == 0 && g.bytes == f.len);
			CHECK(!l4_ok(buf, f.len)); /* the original is left alone */
		}
		/* A TCP super-frame: cut to the MTU, every segment complete. */
		memset(&g, 0, sizeof(g));
		f.len = build(v6, false, PAYLOAD, &f.vnet);
		f.vnet.gso_type = v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
		f.vnet.gso_size = 1448;
		int per = 1500 - (v6 ? 40 : 20) - 32, want = (PAYLOAD + per - 1) / per;
		CHECK(offload_resolve(&f, 1500, take, &g) == want);
		CHECK(g.n == want && g.bad == 0 && g.vnet == 0 && g.maxlen == 1514);
		/* A super-frame that already fits the MTU: only its checksum is finished. */
		memset(&g, 0, sizeof(g));
		f.len = build(v6, false, 500, &f.vnet);
		f.vnet.gso_type = v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
		f.vnet.gso_size = 1448;
		CHECK(offload_resolve(&f, 1500, take, &g) == 1 && g.bad == 0);
	}
	/* UDP segmentation (USO): datagrams of gso_size bytes of payload, or fewer to fit the MTU. */
	for (int v6 = 0; v6 < 2; v6++) {
		memset(&g, 0, sizeof(g));
		f.len = build(v6, true, PAYLOAD, &f.vnet);
		f.vnet.gso_type = VNET_GSO_UDP_L4, f.vnet.gso_size = 1000;
		CHECK(offload_check(&f) == 0);
		CHECK(offload_resolve(&f, 1500, take, &g) == PAYLOAD / 1000);
		CHECK(g.n == PAYLOAD / 1000 && g.bad == 0 && g.vnet == 0 && g.maxlen == 14u + (v6 ? 40 : 20) + 8 + 1000);
		memset(&g, 0, sizeof(g));
		f.vnet.gso_size = 4000; /* larger than the MTU allows: cut to the MTU */
		int per = 1500 - (v6 ? 40 : 20) - 8;
		CHECK(offload_resolve(&f, 1500, take, &g) == (PAYLOAD + per - 1) / per);
		CHECK(g.bad == 0 && g.maxlen == 1514);
	}
	/* A USO frame that would make more than OFFLOAD_MAX_SEGS datagrams: refused. */
	f.len = build(false, true, PAYLOAD, &f.vnet);
	f.vnet.gso_type = VNET_GSO_UDP_L4, f.vnet.gso_size = 50;
	CHECK(offload_check(&f) == -EINVAL);
	/* A USO frame that is really TCP: refused. */
	memset(&g, 0, sizeof(g));
	f.len = build(false, false, PAYLOAD, &f.vnet);
	f.vnet.gso_type = VNET_GSO_UDP_L4, f.vnet.gso_size = 1000;
	CHECK(offload_resolve(&f, 1500, take, &g) == -EINVAL && g.n == 0);
	/* GSO of UDP cannot be cut here: refused. */
	memset(&g, 0, sizeof(g));
	f.len = build(false, true, PAYLOAD, &f.vnet);
	f.vnet.gso_type = VNET_GSO_TCPV4, f.vnet.gso_size = 1448;
	CHECK(offload_resolve(&f, 1500, take, &g) == -EINVAL && g.n == 0);
	/* A runt. */
	f.len = 10;
	CHECK(offload_resolve(&f, 1500, take, &g) == -EINVAL);
}

/* Ports that record what the switch gives them. */
struct rec_port {
	struct port base;
	struct got g;
	int whole; /* frames that arrived with their GSO metadata */
};

static int rec_output(struct port *p, const struct frame *f)
{
	struct rec_port *r = (struct rec_port *)p;

	if (f->vnet.gso_type != VNET_GSO_NONE || (f->vnet.flags & VNET_F_NEEDS_CSUM)) {
		r->whole++;
		return 0;
	}
	take(&r->g, f);
	return 0;
}

static void rec_destroy(struct port *p)
{
	free(p);
}

static const struct port_ops rec_ops = { "rec", rec_output, NULL, rec_destroy };

static struct rec_port *add(struct network *n, bool offload)
{
	struct rec_port *r = calloc(1, sizeof(*r));

	r->base.ops = &rec_ops;
	r->base.max_frame = 1514;
	r->base.offload = r->base.offload_src = offload;
	CHECK(network_add_port(n, &r->base) == 0);
	return r;
}

static void test_switch(void)
{
	struct network *n;
	struct rec_port *src, *plain, *off;
	struct frame f = { .data = buf };

	CHECK(network_new(1000, &n) == 0);
	n->mtu = 1500;
	src = add(n, true);
	plain = add(n, false);
	off = add(n, true);
	/* An unknown destination: flooded to both; the offload port takes it whole, the other cut. */
	f.len = build(false, false, PAYLOAD, &f.vnet);
	f.vnet.gso_type = VNET_GSO_TCPV4, f.vnet.gso_size = 1448;
	switch_input(n, &src->base, &f);
	switch_flush(n);
	CHECK(off->whole == 1 && off->g.n == 0);
	CHECK(plain->whole == 0 && plain->g.n == 14 && plain->g.bad == 0 && plain->g.vnet == 0);
	CHECK(plain->base.st.tx_frames == 14 && off->base.st.tx_frames == 1);
	/* Bad metadata from an offload port: dropped at the door, counted. */
	f.vnet.gso_size = 0;
	switch_input(n, &src->base, &f);
	CHECK(src->base.st.rx_errors == 1 && off->whole == 1 && plain->g.n == 14);
	/* A port without offloads cannot make such frames: one that claims to is refused. */
	f.vnet.gso_size = 1448;
	switch_input(n, &plain->base, &f);
	CHECK(plain->base.st.rx_errors == 1 && off->whole == 1);
	/* A plain frame too big for a plain port is dropped for it, as before. */
	plain->base.st.tx_drops = 0;
	f.len = build(false, false, 3000, &f.vnet);
	memset(&f.vnet, 0, sizeof(f.vnet));
	switch_input(n, &src->base, &f);
	CHECK(plain->base.st.tx_drops == 1);
	/* A USO super-frame is cut for every receiver, offloads or not. */
	off->whole = 0, off->g.n = 0, plain->g.n = 0;
	f.len = build(false, true, 5000, &f.vnet);
	f.vnet.gso_type = VNET_GSO_UDP_L4, f.vnet.gso_size = 1000;
	switch_input(n, &src->base, &f);
	CHECK(off->whole == 0 && off->g.n == 5 && off->g.bad == 0);
	CHECK(plain->g.n == 5 && plain->g.bad == 0);
	network_remove_port(&src->base);
	network_remove_port(&plain->base);
	network_remove_port(&off->base);
}

int main(void)
{
	test_check();
	test_resolve();
	test_switch();
	return check_done();
}
