/*
 * fuzz_stream.c — libFuzzer target: arbitrary bytes as what a VMM writes on
 * a QEMU stream socket, through stream_rx_parse() (engine/port_stream.c).
 *
 * The first byte picks how the bytes arrive: in reads of 1 to 256 bytes
 * (sizes taken cyclically from the next bytes) or all at once, into a buffer
 * of the port's size (STREAM_RX_CAP), as port_stream.c receives them; its
 * bit 3 parses in place (rx.keep) and compacts before each read, as the port
 * does. The
 * same stream is also parsed in one piece, and both must agree: the same
 * frames (count, lengths, content hash) and the same verdict on a bad
 * length. Checked on every frame: 1 <= length <= STREAM_MAX_FRAME and that
 * it lies inside the buffer; the kept rest never exceeds the buffer.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "engine/port_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tally {
	const uint8_t *lo, *hi;
	unsigned n;
	uint64_t hash;
};

static void on_frame(void *ctx, const uint8_t *f, uint32_t len)
{
	struct tally *t = ctx;

	assert(len >= 1 && len <= STREAM_MAX_FRAME);
	assert(f >= t->lo && f + len <= t->hi);
	t->n++;
	t->hash = t->hash * 1099511628211u ^ len;
	for (uint32_t i = 0; i < len; i += 97) /* sample: the content must be the same bytes */
		t->hash = t->hash * 31 + f[i];
}

/* Feed [data, data+size) in chunks; keep: parse in place and compact before the next chunk,
 * as the port does. Return: 0, or -EPROTO. */
static int feed(const uint8_t *data, size_t size, const uint8_t *sizes, size_t nsizes, struct tally *t, uint8_t *buf,
		bool keep)
{
	struct stream_rx rx = { .buf = buf, .cap = STREAM_RX_CAP, .keep = keep };
	size_t off = 0, k = 0;

	t->lo = buf;
	t->hi = buf + STREAM_RX_CAP;
	while (off < size) {
		size_t room, chunk;

		if (rx.start)
			stream_rx_compact(&rx);
		room = rx.cap - rx.fill;
		chunk = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : size - off;

		if (chunk > size - off)
			chunk = size - off;
		if (chunk > room)
			chunk = room;
		memcpy(rx.buf + rx.fill, data + off, chunk);
		rx.fill += (uint32_t)chunk;
		off += chunk;
		if (stream_rx_parse(&rx, on_frame, t) < 0)
			return -1;
		assert(rx.start <= rx.fill && rx.fill - rx.start < STREAM_HDR + STREAM_MAX_FRAME);
		assert(keep || rx.start == 0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf1[STREAM_RX_CAP], buf2[STREAM_RX_CAP];
	struct tally a = { 0 }, b = { 0 };
	size_t nsizes;
	int ra, rb;

	log_level = LOG_LVL_ERR;
	if (size < 2)
		return 0;
	nsizes = data[0] % 8; /* 0: all at once */
	if (1 + nsizes > size)
		return 0;
	/* The one-piece reference is limited to what one buffer holds. */
	if (size - 1 - nsizes > STREAM_RX_CAP)
		size = 1 + nsizes + STREAM_RX_CAP;
	ra = feed(data + 1 + nsizes, size - 1 - nsizes, data + 1, nsizes, &a, buf1, data[0] & 8);
	rb = feed(data + 1 + nsizes, size - 1 - nsizes, NULL, 0, &b, buf2, false);
	assert(ra == rb);
	assert(a.n == b.n && a.hash == b.hash);
	return 0;
}
