/*
 * offload.c — making offloaded frames plain (see offload.h).
 *
 * The partial checksum convention is the kernel's: the checksum field holds
 * the one's-complement sum of the pseudo-header, and the final value is the
 * folded sum of everything from csum_start to the end of the frame. For a TCP
 * super-frame the work is left to segment_tcp(), which recomputes every
 * segment's checksums in full and so ignores whatever the field held.
 */
#include "engine/offload.h"

#include <errno.h>
#include <string.h>

#include "common/csum.h"
#include "common/cursor.h"
#include "engine/segment.h"

/* A private copy of the frame being resolved (the switch runs on one thread). */
static uint8_t resolve_buf[OFFLOAD_MAX_FRAME];

int offload_check(const struct frame *f)
{
	const struct ring_vnet_hdr *v = &f->vnet;
	uint8_t gso = v->gso_type & (uint8_t)~VNET_GSO_ECN;

	if (v->flags & ~(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID))
		return -EINVAL;
	if (v->flags & VNET_F_NEEDS_CSUM) {
		if ((uint32_t)v->csum_start + v->csum_offset + 2 > f->len || v->csum_start < 14)
			return -EINVAL;
	}
	if (v->gso_type == VNET_GSO_NONE)
		return f->len > OFFLOAD_MAX_FRAME ? -EINVAL : 0;
	if ((gso != VNET_GSO_TCPV4 && gso != VNET_GSO_TCPV6 && v->gso_type != VNET_GSO_UDP_L4) || !v->gso_size ||
	    !(v->flags & VNET_F_NEEDS_CSUM) || f->len > OFFLOAD_MAX_FRAME)
		return -EINVAL;
	/* A tiny segment size turns one frame into thousands (for us, or for the kernel behind a
	 * tap): TCP's smallest MSS is 88 bytes (Linux's TCP_MIN_MSS); a UDP super-frame may make at
	 * most OFFLOAD_MAX_SEGS datagrams. */
	if (v->gso_type == VNET_GSO_UDP_L4 ? f->len / v->gso_size > OFFLOAD_MAX_SEGS : v->gso_size < 88)
		return -EINVAL;
	return 0;
}

int offload_finish_csum(uint8_t *frame, uint32_t len, uint16_t csum_start, uint16_t csum_offset)
{
	uint32_t field = (uint32_t)csum_start + csum_offset;
	uint16_t v;

	if (csum_start < 14 || field + 2 > len)
		return -EINVAL;
	v = csum_fold(csum_partial(frame + csum_start, len - csum_start, 0));
	/* UDP (the field at offset 6) sends a computed zero as all ones (RFC 768); TCP has no such rule
	 * but 0xffff and 0 are the same sum, so doing it for every protocol is harmless. */
	if (!v)
		v = 0xffff;
	frame[field] = (uint8_t)(v >> 8);
	frame[field + 1] = (uint8_t)v;
	return 0;
}

int offload_infer(uint8_t *frame, uint32_t len, uint32_t mtu, struct ring_vnet_hdr *v)
{
	struct cursor c = cur_init(frame, len);
	const uint8_t *eth = cur_pull(&c, 14);
	bool big = len - 14 > mtu, v6;
	uint32_t iphl, l4len, sum, tot;
	uint8_t proto, *ip;

	memset(v, 0, sizeof(*v));
	if (!eth)
		return -EINVAL;
	v6 = eth[12] == 0x86 && eth[13] == 0xdd;
	if (eth[12] == 0x08 && eth[13] == 0x00) {
		if (!(ip = (uint8_t *)cur_pull(&c, 20)) || (ip[0] >> 4) != 4)
			return big ? -EINVAL : 0;
		iphl = (uint32_t)(ip[0] & 0x0f) * 4;
		tot = (uint32_t)(ip[2] << 8 | ip[3]);
		/* Shorter than the frame: Ethernet padding (a frame of 60 bytes); a super-frame has none. */
		if (iphl < 20 || !cur_pull(&c, iphl - 20) || tot < iphl || tot > len - 14 || (big && tot != len - 14))
			return big ? -EINVAL : 0;
		proto = ip[9];
		ip[10] = ip[11] = 0;
		sum = csum_fold(csum_partial(ip, iphl, 0));
		ip[10] = (uint8_t)(sum >> 8), ip[11] = (uint8_t)sum;
		if ((ip[6] & 0x3f) || ip[7]) /* a fragment: its header checksum is all we can do */
			return big ? -EINVAL : 0;
		l4len = tot - iphl;
		uint32_t sa, da;

		memcpy(&sa, ip + 12, 4);
		memcpy(&da, ip + 16, 4);
		sum = csum_ipv4_pseudo(sa, da, proto, (uint16_t)l4len);
	} else if (v6) {
		if (!(ip = (uint8_t *)cur_pull(&c, 40)) || (ip[0] >> 4) != 6)
			return big ? -EINVAL : 0;
		tot = 40 + (uint32_t)(ip[4] << 8 | ip[5]);
		if (tot > len - 14 || (big && tot != len - 14))
			return big ? -EINVAL : 0;
		iphl = 40;
		proto = ip[6]; /* extension headers: left as they are */
		l4len = tot - 40;
		sum = csum_ipv6_pseudo(ip + 8, ip + 24, proto, l4len);
	} else {
		return big ? -EINVAL : 0;
	}
	if (proto == 6 && l4len >= 20) {
		uint32_t tcphl = (uint32_t)(frame[14 + iphl + 12] >> 4) * 4;

		if (tcphl < 20 || tcphl > l4len)
			return big ? -EINVAL : 0;
		v->csum_offset = 16;
		if (big) {
			if (iphl + tcphl >= mtu)
				return -EINVAL;
			v->gso_type = (uint8_t)((v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4) |
						(frame[14 + iphl + 13] & 0x80 ? VNET_GSO_ECN : 0)); /* CWR */
			v->gso_size = (uint16_t)(mtu - iphl - tcphl);
			v->hdr_len = (uint16_t)(14 + iphl + tcphl);
		}
	} else if (proto == 17 && l4len >= 8 && !big) {
		v->csum_offset = 6;
	} else {
		return big ? -EINVAL : 0;
	}
	if (tot < len - 14) {
		/* Padded: the partial-checksum convention would sum the padding too. A small frame:
		 * its checksum is computed in full here, and it stays plain. */
		uint8_t *l4 = frame + 14 + iphl;
		uint16_t full;

		l4[v->csum_offset] = l4[v->csum_offset + 1] = 0;
		full = csum_fold(csum_partial(l4, l4len, sum));
		if (!full && proto == 17)
			full = 0xffff;
		l4[v->csum_offset] = (uint8_t)(full >> 8), l4[v->csum_offset + 1] = (uint8_t)full;
		memset(v, 0, sizeof(*v));
		return 0;
	}
	v->flags = VNET_F_NEEDS_CSUM;
	v->csum_start = (uint16_t)(14 + iphl);
	/* The partial checksum: the pseudo-header sum, folded, not complemented. */
	sum = (uint16_t)~csum_fold(sum);
	frame[14 + iphl + v->csum_offset] = (uint8_t)(sum >> 8);
	frame[14 + iphl + v->csum_offset + 1] = (uint8_t)sum;
	return 0;
}

struct resolve_ctx {
	offload_fn fn;
	void *ctx;
};

static void resolve_segment(void *c, const uint8_t *seg, size_t len)
{
	struct resolve_ctx *rc = c;
	struct frame f = { .data = seg, .len = (uint32_t)len };

	rc->fn(rc->ctx, &f);
}

/* The smallest MTU segment_tcp() cuts to (IPv4's minimum datagram, RFC 791). */
#define SEGMENT_MIN_MTU 576u

/*
 * The IP packet size to cut a super-frame to: the network's MTU, or less when
 * the sender asked for smaller segments. virtio 1.1 §5.1.6.2: gso_size is the
 * maximum segment size (payload, without headers) — the MSS the sender's TCP
 * agreed with its peer, which may be below what the MTU allows. Not below
 * SEGMENT_MIN_MTU, which segment_tcp() refuses (such a frame would be lost
 * for good; a segment larger than asked is the lesser harm).
 * Return: the size (mtu when the headers cannot be read: segment_tcp() refuses the frame then).
 */
static uint32_t gso_cut_mtu(const uint8_t *frame, uint32_t len, uint16_t gso_size, uint32_t mtu)
{
	struct cursor c = cur_init(frame, len);
	const uint8_t *eth = cur_pull(&c, 14), *ip, *tcp;
	uint32_t iphl, want;

	if (!eth)
		return mtu;
	if (eth[12] == 0x08 && eth[13] == 0x00) {
		if (!(ip = cur_pull(&c, 20)))
			return mtu;
		iphl = (uint32_t)(ip[0] & 0x0f) * 4;
		if (iphl < 20 || !cur_pull(&c, iphl - 20))
			return mtu;
	} else if (eth[12] == 0x86 && eth[13] == 0xdd) {
		if (!cur_pull(&c, 40))
			return mtu;
		iphl = 40;
	} else {
		return mtu;
	}
	if (!(tcp = cur_pull(&c, 20)))
		return mtu;
	want = iphl + (uint32_t)(tcp[12] >> 4) * 4 + gso_size;
	if (want < SEGMENT_MIN_MTU)
		want = SEGMENT_MIN_MTU;
	return want < mtu ? want : mtu;
}

int offload_resolve(const struct frame *f, uint32_t mtu, offload_fn fn, void *ctx)
{
	struct frame plain = { .data = resolve_buf, .len = f->len };
	struct ring_vnet_hdr v = f->vnet; /* a private copy already (port.h), but read it once here too */
	struct resolve_ctx rc = { fn, ctx };
	uint32_t cut;

	if (f->len > sizeof(resolve_buf) || f->len < 14)
		return -EINVAL;
	memcpy(resolve_buf, f->data, f->len);
	if (v.gso_type == VNET_GSO_UDP_L4)
		return segment_udp(resolve_buf, f->len, v.gso_size, mtu, resolve_segment, &rc);
	cut = v.gso_type != VNET_GSO_NONE ? gso_cut_mtu(resolve_buf, f->len, v.gso_size, mtu) : mtu;
	if (v.gso_type != VNET_GSO_NONE && f->len - 14 > cut)
		return segment_tcp(resolve_buf, f->len, cut, resolve_segment, &rc);
	if ((v.flags & VNET_F_NEEDS_CSUM) && offload_finish_csum(resolve_buf, f->len, v.csum_start, v.csum_offset) < 0)
		return -EINVAL;
	fn(ctx, &plain);
	return 1;
}
