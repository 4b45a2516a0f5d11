/*
 * cursor.h — the one bounds-checked way to read untrusted bytes.
 *
 * Protocol code never does pointer arithmetic on a frame: it pulls fixed-size
 * pieces from a cursor, and a pull past the end returns NULL (the caller
 * drops the packet). Everything is inline: it sits on the per-packet path.
 *
 *   struct cursor c = cur_init(frame, len);
 *   const struct eth_hdr *eth = cur_pull(&c, sizeof(*eth));
 *   if (!eth) return drop(...);
 */
#ifndef VMNET_COMMON_CURSOR_H
#define VMNET_COMMON_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cursor {
	const uint8_t *p;
	size_t left;
};

static inline struct cursor cur_init(const void *data, size_t len)
{
	return (struct cursor){ .p = data, .left = data ? len : 0 };
}

/* Take n bytes. Return: a pointer to them, or NULL (cursor unchanged) when fewer remain. */
static inline const void *cur_pull(struct cursor *c, size_t n)
{
	const uint8_t *r;

	if (n > c->left)
		return NULL;
	r = c->p;
	c->p += n;
	c->left -= n;
	return r;
}

/* Copy n bytes out. Return: 0, or -1 when fewer remain. */
static inline int cur_copy(struct cursor *c, void *dst, size_t n)
{
	const void *s = cur_pull(c, n);

	if (!s)
		return -1;
	memcpy(dst, s, n);
	return 0;
}

static inline int cur_u8(struct cursor *c, uint8_t *v)
{
	return cur_copy(c, v, 1);
}

/* Big-endian (network order) integers. Return: 0, or -1 when fewer bytes remain. */
static inline int cur_be16(struct cursor *c, uint16_t *v)
{
	const uint8_t *b = cur_pull(c, 2);

	if (!b)
		return -1;
	*v = (uint16_t)(b[0] << 8 | b[1]);
	return 0;
}

static inline int cur_be32(struct cursor *c, uint32_t *v)
{
	const uint8_t *b = cur_pull(c, 4);

	if (!b)
		return -1;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

/* A sub-cursor over the next n bytes (e.g. one TLV's value). Return: 0, or -1 when fewer remain. */
static inline int cur_sub(struct cursor *c, size_t n, struct cursor *sub)
{
	const void *s = cur_pull(c, n);

	if (!s)
		return -1;
	*sub = cur_init(s, n);
	return 0;
}

/* A writer over a private buffer, for building replies. Overflow sets `bad`. */
struct writer {
	uint8_t *p;
	size_t len, cap;
	int bad;
};

static inline struct writer wr_init(void *buf, size_t cap)
{
	return (struct writer){ .p = buf, .cap = cap };
}

/* Reserve n bytes. Return: where to write them, or NULL (and w->bad) when full. */
static inline void *wr_put(struct writer *w, size_t n)
{
	void *r;

	if (w->bad || n > w->cap - w->len) {
		w->bad = 1;
		return NULL;
	}
	r = w->p + w->len;
	w->len += n;
	return r;
}

static inline void wr_bytes(struct writer *w, const void *src, size_t n)
{
	void *d = wr_put(w, n);

	if (d)
		memcpy(d, src, n);
}

static inline void wr_u8(struct writer *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

static inline void wr_be16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	wr_bytes(w, b, 2);
}

static inline void wr_be32(struct writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	wr_bytes(w, b, 4);
}

#endif
