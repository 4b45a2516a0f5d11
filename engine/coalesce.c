/*
 * coalesce.c — TCP receive coalescing (see coalesce.h).
 *
 * The pending super-frame is the first segment, copied whole, with the
 * payloads of the following segments appended. Nothing in it is changed
 * until it is emitted: a run of one segment goes out byte for byte. A run of
 * several gets its IP length (and IPv4 header checksum) for the whole, the
 * PSH flag of its last segment, and a partial checksum (the pseudo-header
 * sum) with virtio-net metadata saying "TCP, cut at the first segment's
 * size", which is what a receiver with offloads expects.
 */
#include "engine/coalesce.h"

#include <string.h>

#include "common/csum.h"
#include "common/cursor.h"
#include "engine/offload.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* What one segment is made of; offsets into the frame. */
struct seg {
	bool v6;
	uint32_t l4, hdrs, payload;
	uint32_t seq;
	uint8_t flags;
};

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A TCP segment that may take part at all, with a correct checksum. Return: whether it is one. */
static bool seg_parse(const uint8_t *f, uint32_t len, struct seg *s)
{
	struct cursor c = cur_init(f, len);
	const uint8_t *eth = cur_pull(&c, 14), *ip, *tcp;
	uint32_t l4len, doff, sum;

	if (!eth)
		return false;
	if (eth[12] == 0x08 && eth[13] == 0x00) {
		/* No options, no fragment (DF alone is fine), TCP, the length the frame has (no padding). */
		if (!(ip = cur_pull(&c, 20)) || ip[0] != 0x45 || (ip[6] & 0x3f) || ip[7] || ip[9] != 6 ||
		    (uint32_t)(ip[2] << 8 | ip[3]) != len - 14)
			return false;
		s->v6 = false;
		s->l4 = 34;
		l4len = len - 34;
		uint32_t sa, da;

		memcpy(&sa, ip + 12, 4);
		memcpy(&da, ip + 16, 4);
		sum = csum_ipv4_pseudo(sa, da, 6, (uint16_t)l4len);
	} else if (eth[12] == 0x86 && eth[13] == 0xdd) {
		if (!(ip = cur_pull(&c, 40)) || (ip[0] >> 4) != 6 || ip[6] != 6 || (uint32_t)(ip[4] << 8 | ip[5]) != len - 54)
			return false;
		s->v6 = true;
		s->l4 = 54;
		l4len = len - 54;
		sum = csum_ipv6_pseudo(ip + 8, ip + 24, 6, l4len);
	} else {
		return false;
	}
	if (!(tcp = cur_pull(&c, 20)))
		return false;
	doff = (uint32_t)(tcp[12] >> 4) * 4;
	if (doff < 20 || doff > l4len)
		return false;
	s->hdrs = s->l4 + doff;
	s->payload = len - s->hdrs;
	s->seq = get32(tcp + 4);
	s->flags = tcp[13];
	/* Only plain data: ACK, and PSH on the last; no SYN, FIN, RST, URG, ECE, CWR. */
	if (!s->payload || (s->flags & (uint8_t)~TCP_PSH) != TCP_ACK)
		return false;
	return csum_fold(csum_partial(f + s->l4, l4len, sum)) == 0;
}

/* Does segment s (in f) continue the pending run? */
static bool seg_follows(const struct coalesce *c, const uint8_t *f, uint32_t len, const struct seg *s)
{
	const uint8_t *p = c->buf;

	if (s->v6 != c->v6 || s->hdrs != c->hdrs || s->seq != c->next_seq || s->payload > c->mss ||
	    c->len + s->payload > 14 + COALESCE_MAX || (p[c->l4 + 13] & TCP_PSH))
		return false;
	if (memcmp(f, p, 14)) /* the same MACs and type */
		return false;
	if (s->v6) {
		/* version, traffic class, flow label; next header and hop limit; both addresses */
		if (memcmp(f + 14, p + 14, 4) || memcmp(f + 20, p + 20, 34))
			return false;
	} else {
		/* TOS; DF; TTL and protocol; both addresses (the identification may differ) */
		if (f[15] != p[15] || f[20] != p[20] || memcmp(f + 22, p + 22, 2) || memcmp(f + 26, p + 26, 8))
			return false;
	}
	/* ports; ACK number; header length, flags but PSH, window; options (the checksum and urgent
	 * pointer are left out) */
	return !memcmp(f + s->l4, p + c->l4, 4) && !memcmp(f + s->l4 + 8, p + c->l4 + 8, 5) &&
	       (f[s->l4 + 13] & (uint8_t)~TCP_PSH) == (p[c->l4 + 13] & (uint8_t)~TCP_PSH) &&
	       !memcmp(f + s->l4 + 14, p + c->l4 + 14, 2) && !memcmp(f + s->l4 + 20, p + c->l4 + 20, s->hdrs - s->l4 - 20) &&
	       len == s->hdrs + s->payload;
}

void coalesce_flush(struct coalesce *c, coalesce_emit_fn emit, void *ctx)
{
	static const struct ring_vnet_hdr plain;
	struct ring_vnet_hdr v;
	uint8_t *p = c->buf;
	uint32_t l4len, sum;

	if (!c->len)
		return;
	if (c->segs == 1) {
		emit(ctx, p, c->len, &plain);
		c->len = 0;
		return;
	}
	l4len = c->len - c->l4;
	if (c->v6) {
		put16(p + 18, l4len);
		sum = csum_ipv6_pseudo(p + 22, p + 38, 6, l4len);
	} else {
		uint32_t sa, da;

		put16(p + 16, c->len - 14);
		p[24] = p[25] = 0;
		put16(p + 24, csum_fold(csum_partial(p + 14, 20, 0)));
		memcpy(&sa, p + 26, 4);
		memcpy(&da, p + 30, 4);
		sum = csum_ipv4_pseudo(sa, da, 6, (uint16_t)l4len);
	}
	put16(p + c->l4 + 16, (uint16_t)~csum_fold(sum)); /* the partial checksum: folded, not complemented */
	memset(&v, 0, sizeof(v));
	v.flags = VNET_F_NEEDS_CSUM;
	v.gso_type = c->v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
	v.gso_size = (uint16_t)c->mss;
	v.hdr_len = (uint16_t)c->hdrs;
	v.csum_start = (uint16_t)c->l4;
	v.csum_offset = 16;
	emit(ctx, p, c->len, &v);
	c->merged += c->segs;
	c->len = 0;
}

void coalesce_add(struct coalesce *c, const uint8_t *frame, uint32_t len, coalesce_emit_fn emit, void *ctx)
{
	static const struct ring_vnet_hdr plain;
	struct seg s;

	if (!seg_parse(frame, len, &s)) {
		coalesce_flush(c, emit, ctx);
		emit(ctx, frame, len, &plain);
		return;
	}
	if (c->len && seg_follows(c, frame, len, &s)) {
		memcpy(c->buf + c->len, frame + s.hdrs, s.payload);
		c->len += s.payload;
		c->next_seq = s.seq + s.payload;
		c->buf[c->l4 + 13] |= s.flags & TCP_PSH;
		c->segs++;
		if (s.payload < c->mss || (s.flags & TCP_PSH))
			coalesce_flush(c, emit, ctx); /* the end of a burst: nothing can follow it */
		return;
	}
	coalesce_flush(c, emit, ctx);
	if (len > sizeof(c->buf) || (s.flags & TCP_PSH)) {
		emit(ctx, frame, len, &plain);
		return;
	}
	memcpy(c->buf, frame, len);
	c->len = len;
	c->l4 = s.l4;
	c->hdrs = s.hdrs;
	c->mss = s.payload;
	c->next_seq = s.seq + s.payload;
	c->segs = 1;
	c->v6 = s.v6;
}
