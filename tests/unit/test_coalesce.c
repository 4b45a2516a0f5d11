/*
 * test_coalesce.c — TCP receive coalescing (engine/coalesce.c): which
 * segments merge, what a super-frame looks like, and that cutting it again
 * (engine/offload.c) gives back the original segments.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "check.h"
#include "engine/coalesce.h"
#include "engine/offload.h"

#define MSS 1448
#define MAXF 80

static struct coalesce co;

/* What came out. */
struct out {
	int n;
	uint32_t len[MAXF];
	struct ring_vnet_hdr v[MAXF];
	uint8_t *data[MAXF];
};

static void emit(void *ctx, const uint8_t *f, uint32_t len, const struct ring_vnet_hdr *v)
{
	struct out *o = ctx;

	if (o->n == MAXF)
		return;
	o->data[o->n] = malloc(len);
	memcpy(o->data[o->n], f, len);
	o->len[o->n] = len;
	o->v[o->n] = *v;
	o->n++;
}

static void out_free(struct out *o)
{
	for (int i = 0; i < o->n; i++)
		free(o->data[i]);
	memset(o, 0, sizeof(*o));
}

/* One TCP segment with a full checksum: 12 bytes of timestamp option, payload bytes (seq + i). */
static uint32_t seg(uint8_t *f, bool v6, uint32_t seq, uint32_t payload, uint8_t flags, uint16_t sport)
{
	uint32_t iphl = v6 ? 40 : 20, l4len = 32 + payload, sum;
	uint8_t *ip = f + 14, *t = ip + iphl;

	memset(f, 0, 14 + iphl + l4len);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	f[12] = v6 ? 0x86 : 0x08, f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)l4len);
		ip[6] = 6, ip[7] = 64;
		ip[8] = 0xfd, ip[23] = 1, ip[24] = 0xfd, ip[39] = 2;
		sum = sum16(ip + 8, 32, 0);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + l4len));
		put16(ip + 4, (uint16_t)seq); /* a different identification each time */
		ip[6] = 0x40, ip[8] = 64, ip[9] = 6;
		memcpy(ip + 12, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
		put16(ip + 10, (uint16_t)~sum16(ip, 20, 0));
		sum = sum16(ip + 12, 8, 0);
	}
	put16(t, sport), put16(t + 2, 80);
	put32(t + 4, seq), put32(t + 8, 777);
	t[12] = 8 << 4, t[13] = flags;
	put16(t + 14, 502);
	t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10, put32(t + 24, 12345);
	for (uint32_t i = 0; i < payload; i++)
		t[32 + i] = (uint8_t)(seq + i);
	put16(t + 16, (uint16_t)~sum16(t, l4len, sum + 6 + l4len));
	return 14 + iphl + l4len;
}

static uint8_t fb[2000];

static void add(bool v6, uint32_t seq, uint32_t payload, uint8_t flags, uint16_t sport, struct out *o)
{
	uint32_t len = seg(fb, v6, seq, payload, flags, sport);

	coalesce_add(&co, fb, len, emit, o);
}

/* Cut a super-frame again and check the pieces: sequence, payload bytes, checksums. */
struct cut {
	uint32_t seq;
	int n, bad;
};

static void take(void *ctx, const struct frame *f)
{
	struct cut *c = ctx;
	bool v6 = f->data[12] == 0x86;
	const uint8_t *ip = f->data + 14, *t = ip + (v6 ? 40 : 20);
	uint32_t l4len = f->len - 14 - (v6 ? 40 : 20), payload = l4len - 32;
	uint32_t sum = (v6 ? sum16(ip + 8, 32, 0) : sum16(ip + 12, 8, 0)) + 6 + l4len;

	c->bad += sum16(t, l4len, sum) != 0xffff || get32(t + 4) != c->seq;
	for (uint32_t i = 0; i < payload; i++)
		c->bad += t[32 + i] != (uint8_t)(c->seq + i);
	c->seq += payload;
	c->n++;
}

static void test_merge(bool v6)
{
	uint32_t mss = v6 ? MSS - 20 : MSS; /* what fits a 1500-byte MTU with a 32-byte TCP header */
	struct out o = { 0 };
	struct cut c = { .seq = 1000 };
	struct frame f;

	co.merged = 0;
	for (int i = 0; i < 10; i++)
		add(v6, 1000 + (uint32_t)i * mss, mss, 0x10, 5000, &o);
	CHECK(o.n == 0); /* all pending */
	coalesce_flush(&co, emit, &o);
	CHECK(o.n == 1 && co.merged == 10);
	CHECK(o.len[0] == 14u + (v6 ? 40 : 20) + 32 + 10 * mss);
	CHECK(o.v[0].gso_type == (v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4) && o.v[0].gso_size == mss);
	CHECK(o.v[0].flags == VNET_F_NEEDS_CSUM && o.v[0].csum_offset == 16 && o.v[0].csum_start == (v6 ? 54 : 34));
	if (!v6)
		CHECK(sum16(o.data[0] + 14, 20, 0) == 0xffff && get16(o.data[0] + 16) == o.len[0] - 14);
	f = (struct frame){ .data = o.data[0], .len = o.len[0], .vnet = o.v[0] };
	CHECK(offload_check(&f) == 0);
	CHECK(offload_resolve(&f, 1500, take, &c) == 10 && c.n == 10 && c.bad == 0 && c.seq == 1000 + 10 * mss);
	out_free(&o);
}

static void test_rules(void)
{
	struct out o = { 0 };

	/* A run of one goes out byte for byte, plain. */
	add(false, 1, MSS, 0x10, 5000, &o);
	coalesce_flush(&co, emit, &o);
	CHECK(o.n == 1 && o.v[0].gso_type == VNET_GSO_NONE && !memcmp(o.data[0], fb, o.len[0]));
	out_free(&o);
	/* Another flow, or a gap in the sequence: the run ends. */
	add(false, 1, MSS, 0x10, 5000, &o);
	add(false, 1 + MSS, MSS, 0x10, 5001, &o);
	add(false, 1 + 3 * MSS, MSS, 0x10, 5001, &o);
	coalesce_flush(&co, emit, &o);
	CHECK(o.n == 3);
	out_free(&o);
	/* PSH ends a run (and is kept); a shorter segment ends it too. */
	add(false, 1, MSS, 0x10, 5000, &o);
	add(false, 1 + MSS, MSS, 0x18, 5000, &o);
	CHECK(o.n == 1 && o.v[0].gso_type == VNET_GSO_TCPV4 && (o.data[0][34 + 13] & 0x08));
	add(false, 1 + 2 * MSS, MSS, 0x10, 5000, &o);
	add(false, 1 + 3 * MSS, 100, 0x10, 5000, &o);
	CHECK(o.n == 2 && o.len[1] == 14 + 20 + 32 + MSS + 100);
	out_free(&o);
	/* SYN, FIN and pure ACKs pass as they are, in order. */
	add(false, 1, MSS, 0x10, 5000, &o);
	add(false, 1 + MSS, MSS, 0x11, 5000, &o);
	CHECK(o.n == 2 && o.v[0].gso_type == VNET_GSO_NONE && o.v[1].gso_type == VNET_GSO_NONE);
	out_free(&o);
	/* A damaged segment is not merged: it goes on as it came, for the receiver to drop. */
	add(false, 1, MSS, 0x10, 5000, &o);
	uint32_t len = seg(fb, false, 1 + MSS, MSS, 0x10, 5000);
	fb[100] ^= 0x40;
	coalesce_add(&co, fb, len, emit, &o);
	CHECK(o.n == 2 && o.len[1] == len && o.data[1][100] == fb[100]);
	coalesce_flush(&co, emit, &o);
	CHECK(o.n == 2);
	out_free(&o);
	/* Not more than 64 KiB of IP: 50 segments make two super-frames. */
	for (int i = 0; i < 50; i++)
		add(false, 1 + (uint32_t)i * MSS, MSS, 0x10, 5000, &o);
	coalesce_flush(&co, emit, &o);
	CHECK(o.n == 2 && o.len[0] - 14 <= COALESCE_MAX && o.len[1] - 14 <= COALESCE_MAX);
	CHECK(o.len[0] + o.len[1] == 2 * (14 + 20 + 32) + 50 * MSS);
	out_free(&o);
	/* Not TCP, or a runt: passed on. */
	uint8_t arp[42] = { 0 };
	arp[12] = 0x08, arp[13] = 0x06;
	coalesce_add(&co, arp, sizeof(arp), emit, &o);
	coalesce_add(&co, arp, 10, emit, &o);
	CHECK(o.n == 2 && o.len[0] == 42 && o.len[1] == 10);
	out_free(&o);
}

int main(void)
{
	test_merge(false);
	test_merge(true);
	test_rules();
	return check_done();
}
