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
	if ((gso != VNET_GSO_TCPV4 && gso != VNET_GSO_TCPV6) || !v->gso_size || !(v->flags & VNET_F_NEEDS_CSUM) ||
	    f->len > OFFLOAD_MAX_FRAME)
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

int offload_resolve(const struct frame *f, uint32_t mtu, offload_fn fn, void *ctx)
{
	struct frame plain = { .data = resolve_buf, .len = f->len };
	struct ring_vnet_hdr v = f->vnet; /* a private copy already (port.h), but read it once here too */
	struct resolve_ctx rc = { fn, ctx };

	if (f->len > sizeof(resolve_buf) || f->len < 14)
		return -EINVAL;
	memcpy(resolve_buf, f->data, f->len);
	if (v.gso_type != VNET_GSO_NONE && f->len - 14 > mtu) {
		int n = segment_tcp(resolve_buf, f->len, mtu, resolve_segment, &rc);

		return n;
	}
	if ((v.flags & VNET_F_NEEDS_CSUM) && offload_finish_csum(resolve_buf, f->len, v.csum_start, v.csum_offset) < 0)
		return -EINVAL;
	fn(ctx, &plain);
	return 1;
}
