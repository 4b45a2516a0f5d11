/* test_segment.c — software TCP segmentation: sizes, sequence numbers, flags, checksums, refusals. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "bytes.h"
#include "check.h"
#include "engine/segment.h"

#define PAYLOAD 10000
static uint8_t big[14 + 60 + 60 + PAYLOAD];

struct got {
	int n;
	size_t total;
	uint32_t next_seq;
	int fin, psh, cwr, bad;
	size_t maxlen;
	uint8_t data[PAYLOAD];
	bool v6;
};

/* Check each segment as a receiver would: lengths, checksums, sequence continuity. */
static void take(void *ctx, const uint8_t *s, size_t len)
{
	struct got *g = ctx;
	size_t iphl = g->v6 ? 40 : (size_t)(s[14] & 0x0f) * 4;
	const uint8_t *ip = s + 14, *tcp = s + 14 + iphl;
	size_t tcphl = (size_t)(tcp[12] >> 4) * 4, data = len - 14 - iphl - tcphl;
	uint32_t sum;

	if (g->v6) {
		g->bad += get16(ip + 4) != tcphl + data;
		sum = sum16(ip + 8, 32, 0) + 6 + (uint32_t)(tcphl + data);
	} else {
		g->bad += get16(ip + 2) != len - 14;
		g->bad += sum16(ip, iphl, 0) != 0xffff; /* IPv4 header checksum */
		sum = sum16(ip + 12, 8, 0) + 6 + (uint32_t)(tcphl + data);
	}
	g->bad += sum16(tcp, tcphl + data, sum) != 0xffff; /* TCP checksum over pseudo-header + segment */
	g->bad += get32(tcp + 4) != g->next_seq;
	g->next_seq += (uint32_t)data;
	memcpy(g->data + g->total, tcp + tcphl, data);
	g->total += data;
	g->fin += (tcp[13] & 0x01) != 0;
	g->psh += (tcp[13] & 0x08) != 0;
	g->cwr += (tcp[13] & 0x80) != 0;
	if (len > g->maxlen)
		g->maxlen = len;
	g->n++;
}

static size_t build(bool v6, size_t payload)
{
	uint8_t *ip = big + 14, *tcp;
	size_t iphl = v6 ? 40 : 20;

	memset(big, 0, sizeof(big));
	big[12] = v6 ? 0x86 : 0x08, big[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60, ip[6] = 6, ip[7] = 64;
		ip[8] = 0xfd, ip[23] = 1, ip[24] = 0xfd, ip[39] = 2;
	} else {
		ip[0] = 0x45, ip[8] = 64, ip[9] = 6, put16(ip + 4, 0x1234);
		put32(ip + 12, 0x0a000001), put32(ip + 16, 0x0a000002);
		put16(ip + 2, 0); /* a GSO super-frame larger than 64 KiB may say 0 here */
	}
	tcp = ip + iphl;
	put16(tcp, 80), put16(tcp + 2, 40000), put32(tcp + 4, 0xfffff000u); /* sequence wraps */
	tcp[12] = 8 << 4;                    /* 32-byte header: 12 bytes of options */
	tcp[13] = 0x10 | 0x08 | 0x01 | 0x80; /* ACK PSH FIN CWR */
	tcp[20] = 1, tcp[21] = 1, tcp[22] = 8, tcp[23] = 10; /* NOP NOP timestamps */
	for (size_t i = 0; i < payload; i++)
		tcp[32 + i] = (uint8_t)(i * 7);
	return 14 + iphl + 32 + payload;
}

static void check_family(bool v6)
{
	static struct got g;
	size_t len = build(v6, PAYLOAD), hdr = (v6 ? 40 : 20) + 32, mss = 1500 - hdr;

	memset(&g, 0, sizeof(g));
	g.v6 = v6;
	g.next_seq = 0xfffff000u;
	CHECK(segment_tcp(big, len, 1500, take, &g) == (int)((PAYLOAD + mss - 1) / mss));
	CHECK(g.bad == 0 && g.total == PAYLOAD && g.maxlen == 1514);
	CHECK(!memcmp(g.data, big + 14 + hdr, PAYLOAD));
	CHECK(g.fin == 1 && g.psh == 1 && g.cwr == 1); /* FIN/PSH on the last, CWR on the first only */
}

int main(void)
{
	static struct got g;
	size_t len;

	check_family(false);
	check_family(true);
	/* a frame that fits is passed on unchanged, once */
	len = build(false, 100);
	memset(&g, 0, sizeof(g));
	CHECK(segment_tcp(big, len, 1500, take, &g) == 1 && g.n == 1);
	/* refusals: not TCP, fragments, truncated headers, an MTU too small or too large */
	len = build(false, 3000);
	big[14 + 9] = 17;
	CHECK(segment_tcp(big, len, 1500, take, &g) == -EINVAL);
	len = build(false, 3000);
	big[14 + 6] = 0x20; /* more fragments */
	CHECK(segment_tcp(big, len, 1500, take, &g) == -EINVAL);
	len = build(false, 3000);
	for (size_t l = 0; l < 14 + 20 + 32; l++)
		CHECK(segment_tcp(big, l, 1500, take, &g) == -EINVAL);
	CHECK(segment_tcp(big, len, 100, take, &g) == -EINVAL);
	CHECK(segment_tcp(big, len, 100000, take, &g) == -EINVAL);
	return check_done();
}
