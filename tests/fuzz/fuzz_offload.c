/*
 * fuzz_offload.c — libFuzzer target: a frame and its virtio-net header as a
 * port with offloads hands them to the switch (a guest's tap, the bridged
 * uplink, later VMM ports), through offload_check() and offload_resolve()
 * (engine/offload.c) and the TCP segmenter behind it.
 *
 * Input: 2 bytes of MTU (taken into 576..9216), 12 bytes of header, then the
 * frame. Every frame the header passes is resolved; each result must lie in
 * 14..mtu+14 bytes (or be the whole frame when it was not cut) and carry no
 * offload metadata. The frame also goes through offload_infer() (what a
 * libvmnet client with checksum offload or TSO hands in), whose metadata must
 * then pass offload_check() and resolve the same way.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "engine/offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t copy[OFFLOAD_MAX_FRAME];

struct seen {
	uint32_t mtu, in_len;
	unsigned n;
};

static void on_frame(void *ctx, const struct frame *f)
{
	struct seen *s = ctx;
	static const struct ring_vnet_hdr zero;

	assert(f->len >= 14);
	assert(f->len <= s->mtu + 14 || f->len == s->in_len);
	assert(!memcmp(&f->vnet, &zero, sizeof(zero)));
	s->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame f = { 0 };
	struct seen s = { 0 };
	int n;

	if (size < 14 || size - 14 > OFFLOAD_MAX_FRAME)
		return 0;
	s.mtu = 576 + (uint32_t)(data[0] << 8 | data[1]) % (9216 - 576 + 1);
	memcpy(&f.vnet, data + 2, sizeof(f.vnet));
	f.data = data + 14;
	f.len = (uint32_t)(size - 14);
	s.in_len = f.len;
	if (offload_check(&f) == 0) {
		n = offload_resolve(&f, s.mtu, on_frame, &s);
		assert(n < 0 ? s.n == 0 || f.vnet.gso_type != VNET_GSO_NONE : (unsigned)n == s.n);
	}
	if (f.len > sizeof(copy))
		return 0;
	memcpy(copy, f.data, f.len);
	f.data = copy;
	if (offload_infer(copy, f.len, s.mtu, &f.vnet) < 0)
		return 0;
	assert(offload_check(&f) == 0);
	memset(&s, 0, sizeof(s));
	s.mtu = 576 + (uint32_t)(data[0] << 8 | data[1]) % (9216 - 576 + 1);
	s.in_len = f.len;
	n = offload_resolve(&f, s.mtu, on_frame, &s);
	assert(n < 0 ? s.n == 0 : (unsigned)n == s.n);
	return 0;
}
