/*
 * xpc_wire.c — byte encoding of xpc objects (xpc_vmnet_encode/_decode).
 *
 * Used to carry xpc dictionaries between libvmnet and vmnetd. The decoder
 * faces untrusted bytes, so every read goes through a bounds-checked cursor
 * and any irregularity makes the whole decode fail. Full description:
 * docs/xpc-encoding.md.
 *
 * Format (version 1), all integers little-endian:
 *
 *   message  := "VXP1" value                    (nothing may follow the value)
 *   value    := tag:u8 payload
 *
 *   tag   type        payload
 *   0x01  null        (none)
 *   0x02  bool        u8, 0 or 1 (anything else is rejected)
 *   0x03  int64       8 bytes, two's complement
 *   0x04  uint64      8 bytes
 *   0x05  double      8 bytes, IEEE 754 binary64 bit pattern
 *   0x06  string      len:u32, len bytes (UTF-8 expected, no NUL allowed)
 *   0x07  uuid        16 bytes
 *   0x08  data        len:u32, len bytes
 *   0x09  array       count:u32, count values
 *   0x0a  dictionary  count:u32, count x (keylen:u32, key bytes, value)
 *
 * Rules enforced by the decoder: lengths and counts may not exceed what the
 * remaining input could hold; dictionary keys are unique and contain no NUL;
 * containers nest at most WIRE_MAX_DEPTH deep (the top-level value is at
 * depth 1); unknown tags are rejected. The encoding is canonical: decoding
 * and re-encoding valid input gives back the same bytes.
 *
 * Objects with no tag (error, connection, date, fd), strings or data of 4 GiB
 * or more, and nesting beyond WIRE_MAX_DEPTH are not encodable.
 */
#include <xpc/xpc.h>

#include <stdlib.h>
#include <string.h>

#define WIRE_MAGIC "VXP1"
#define WIRE_MAGIC_LEN 4
#define WIRE_MAX_DEPTH 32

enum wire_tag {
	TAG_NULL = 0x01,
	TAG_BOOL = 0x02,
	TAG_INT64 = 0x03,
	TAG_UINT64 = 0x04,
	TAG_DOUBLE = 0x05,
	TAG_STRING = 0x06,
	TAG_UUID = 0x07,
	TAG_DATA = 0x08,
	TAG_ARRAY = 0x09,
	TAG_DICT = 0x0a,
};

/* Smallest encoded sizes, used to reject counts the input cannot hold. */
#define MIN_VALUE_SIZE 1u    /* a tag */
#define MIN_PAIR_SIZE 5u     /* keylen + empty key + a tag */
#define UUID_SIZE 16u

/* ---------------------------------------------------------------------- */
/* encoding                                                                */
/* ---------------------------------------------------------------------- */

/* Growable output buffer; once bad is set every further put is dropped. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool bad;
};

static void put_bytes(struct wbuf *w, const void *src, size_t n)
{
	if (w->bad || n == 0)
		return;
	if (n > w->cap - w->len) {
		size_t ncap = w->cap ? w->cap : 64;
		while (ncap - w->len < n) {
			if (ncap > SIZE_MAX / 2) {
				w->bad = true;
				return;
			}
			ncap *= 2;
		}
		uint8_t *np = realloc(w->p, ncap);
		if (!np) {
			w->bad = true;
			return;
		}
		w->p = np;
		w->cap = ncap;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_u8(struct wbuf *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(w, b, sizeof(b));
}

static void put_u64(struct wbuf *w, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(w, b, sizeof(b));
}

/* Writes a u32 length/count; marks the buffer bad if n does not fit. */
static void put_len(struct wbuf *w, size_t n)
{
	if (n > UINT32_MAX)
		w->bad = true;
	else
		put_u32(w, (uint32_t)n);
}

/* Writes len:u32 followed by the bytes. */
static void put_blob(struct wbuf *w, const void *p, size_t n)
{
	put_len(w, n);
	put_bytes(w, p, n);
}

static void enc_value(struct wbuf *w, xpc_object_t o, int depth);

struct enc_ctx {
	struct wbuf *w;
	int depth;
};

static bool enc_array_item(void *context, size_t index, xpc_object_t value)
{
	struct enc_ctx *c = context;
	enc_value(c->w, value, c->depth);
	return !c->w->bad;
}

static bool enc_dict_pair(void *context, const char *key, xpc_object_t value)
{
	struct enc_ctx *c = context;
	put_blob(c->w, key, strlen(key));
	enc_value(c->w, value, c->depth);
	return !c->w->bad;
}

/* Encodes an array or dictionary found at the given depth. */
static void enc_container(struct wbuf *w, xpc_object_t o, int depth)
{
	struct enc_ctx ctx = { w, depth + 1 };
	if (depth > WIRE_MAX_DEPTH) {
		w->bad = true;
	} else if (xpc_get_type(o) == XPC_TYPE_ARRAY) {
		put_u8(w, TAG_ARRAY);
		put_len(w, xpc_array_get_count(o));
		xpc_array_apply_f(o, &ctx, enc_array_item);
	} else {
		put_u8(w, TAG_DICT);
		put_len(w, xpc_dictionary_get_count(o));
		xpc_dictionary_apply_f(o, &ctx, enc_dict_pair);
	}
}

/* Encodes one value; depth is 1 for the top-level value. */
static void enc_value(struct wbuf *w, xpc_object_t o, int depth)
{
	xpc_type_t t = xpc_get_type(o);
	double d;
	uint64_t bits;

	if (w->bad)
		return;
	if (t == XPC_TYPE_NULL) {
		put_u8(w, TAG_NULL);
	} else if (t == XPC_TYPE_BOOL) {
		put_u8(w, TAG_BOOL);
		put_u8(w, xpc_bool_get_value(o) ? 1 : 0);
	} else if (t == XPC_TYPE_INT64) {
		put_u8(w, TAG_INT64);
		put_u64(w, (uint64_t)xpc_int64_get_value(o));
	} else if (t == XPC_TYPE_UINT64) {
		put_u8(w, TAG_UINT64);
		put_u64(w, xpc_uint64_get_value(o));
	} else if (t == XPC_TYPE_DOUBLE) {
		d = xpc_double_get_value(o);
		memcpy(&bits, &d, sizeof(bits));
		put_u8(w, TAG_DOUBLE);
		put_u64(w, bits);
	} else if (t == XPC_TYPE_STRING) {
		put_u8(w, TAG_STRING);
		put_blob(w, xpc_string_get_string_ptr(o), xpc_string_get_length(o));
	} else if (t == XPC_TYPE_UUID) {
		put_u8(w, TAG_UUID);
		put_bytes(w, xpc_uuid_get_bytes(o), UUID_SIZE);
	} else if (t == XPC_TYPE_DATA) {
		put_u8(w, TAG_DATA);
		put_blob(w, xpc_data_get_bytes_ptr(o), xpc_data_get_length(o));
	} else if (t == XPC_TYPE_ARRAY || t == XPC_TYPE_DICTIONARY) {
		enc_container(w, o, depth);
	} else {
		w->bad = true; /* NULL, error, connection, date, fd */
	}
}

void *xpc_vmnet_encode(xpc_object_t object, size_t *length)
{
	struct wbuf w = { 0 };
	if (length)
		*length = 0;
	if (!object || !length)
		return NULL;
	put_bytes(&w, WIRE_MAGIC, WIRE_MAGIC_LEN);
	enc_value(&w, object, 1);
	if (w.bad) {
		free(w.p);
		return NULL;
	}
	*length = w.len;
	return w.p;
}

/* ---------------------------------------------------------------------- */
/* decoding                                                                */
/* ---------------------------------------------------------------------- */

/* Read cursor over the untrusted input: the only place that moves a pointer. */
struct wcur {
	const uint8_t *p;
	size_t left;
};

/* Takes the next n bytes (pointer in *out); false if fewer remain. */
static bool pull_bytes(struct wcur *c, size_t n, const uint8_t **out)
{
	if (n > c->left)
		return false;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return true;
}

static bool pull_u8(struct wcur *c, uint8_t *v)
{
	const uint8_t *b;
	if (!pull_bytes(c, 1, &b))
		return false;
	*v = b[0];
	return true;
}

static bool pull_u32(struct wcur *c, uint32_t *v)
{
	const uint8_t *b;
	if (!pull_bytes(c, 4, &b))
		return false;
	*v = 0;
	for (int i = 3; i >= 0; i--)
		*v = (*v << 8) | b[i];
	return true;
}

static bool pull_u64(struct wcur *c, uint64_t *v)
{
	const uint8_t *b;
	if (!pull_bytes(c, 8, &b))
		return false;
	*v = 0;
	for (int i = 7; i >= 0; i--)
		*v = (*v << 8) | b[i];
	return true;
}

/* Takes len:u32 plus that many bytes; the length is checked against the input. */
static bool pull_blob(struct wcur *c, const uint8_t **out, size_t *len)
{
	uint32_t n;
	if (!pull_u32(c, &n) || !pull_bytes(c, n, out))
		return false;
	*len = n;
	return true;
}

/* Takes a length-prefixed string as a malloc'd C string; NULL if it holds a NUL. */
static char *pull_cstr(struct wcur *c)
{
	const uint8_t *b;
	size_t n;
	if (!pull_blob(c, &b, &n) || (n && memchr(b, 0, n)))
		return NULL;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, b, n);
	s[n] = '\0';
	return s;
}

/* Takes a u32 count and checks that count items of min_size bytes could follow. */
static bool pull_count(struct wcur *c, size_t min_size, size_t *count)
{
	uint32_t n;
	if (!pull_u32(c, &n) || n > c->left / min_size)
		return false;
	*count = n;
	return true;
}

static xpc_object_t dec_value(struct wcur *c, int depth);

static xpc_object_t dec_array(struct wcur *c, int depth)
{
	size_t count;
	if (!pull_count(c, MIN_VALUE_SIZE, &count))
		return NULL;
	xpc_object_t a = xpc_array_create_empty();
	for (size_t i = 0; a && i < count; i++) {
		xpc_object_t v = dec_value(c, depth + 1);
		size_t before = xpc_array_get_count(a);
		if (v)
			xpc_array_append_value(a, v);
		if (!v || xpc_array_get_count(a) != before + 1) {
			xpc_release(a);
			a = NULL;
		}
		xpc_release(v);
	}
	return a;
}

/* Decodes one key/value pair into d; false on any error or a duplicate key. */
static bool dec_pair(struct wcur *c, xpc_object_t d, int depth)
{
	char *key = pull_cstr(c);
	if (!key || xpc_dictionary_get_value(d, key)) {
		free(key);
		return false;
	}
	xpc_object_t v = dec_value(c, depth + 1);
	if (v)
		xpc_dictionary_set_value(d, key, v);
	bool ok = v && xpc_dictionary_get_value(d, key) == v;
	xpc_release(v);
	free(key);
	return ok;
}

static xpc_object_t dec_dict(struct wcur *c, int depth)
{
	size_t count;
	if (!pull_count(c, MIN_PAIR_SIZE, &count))
		return NULL;
	xpc_object_t d = xpc_dictionary_create_empty();
	for (size_t i = 0; d && i < count; i++) {
		if (!dec_pair(c, d, depth)) {
			xpc_release(d);
			d = NULL;
		}
	}
	return d;
}

/* Decodes a length-prefixed string value. */
static xpc_object_t dec_string(struct wcur *c)
{
	char *s = pull_cstr(c);
	xpc_object_t o = s ? xpc_string_create(s) : NULL;
	free(s);
	return o;
}

/* Decodes the payload of an 8-byte scalar tag. */
static xpc_object_t dec_scalar64(struct wcur *c, uint8_t tag)
{
	uint64_t v;
	double d;
	if (!pull_u64(c, &v))
		return NULL;
	if (tag == TAG_INT64)
		return xpc_int64_create((int64_t)v);
	if (tag == TAG_UINT64)
		return xpc_uint64_create(v);
	memcpy(&d, &v, sizeof(d));
	return xpc_double_create(d);
}

/* Decodes one value; depth is 1 for the top-level value. */
static xpc_object_t dec_value(struct wcur *c, int depth)
{
	uint8_t tag, b;
	const uint8_t *p;
	size_t n;

	if (!pull_u8(c, &tag))
		return NULL;
	switch (tag) {
	case TAG_NULL:
		return xpc_null_create();
	case TAG_BOOL:
		if (!pull_u8(c, &b) || b > 1)
			return NULL;
		return xpc_bool_create(b == 1);
	case TAG_INT64:
	case TAG_UINT64:
	case TAG_DOUBLE:
		return dec_scalar64(c, tag);
	case TAG_STRING:
		return dec_string(c);
	case TAG_UUID:
		return pull_bytes(c, UUID_SIZE, &p) ? xpc_uuid_create(p) : NULL;
	case TAG_DATA:
		return pull_blob(c, &p, &n) ? xpc_data_create(p, n) : NULL;
	case TAG_ARRAY:
		return depth > WIRE_MAX_DEPTH ? NULL : dec_array(c, depth);
	case TAG_DICT:
		return depth > WIRE_MAX_DEPTH ? NULL : dec_dict(c, depth);
	default:
		return NULL;
	}
}

xpc_object_t xpc_vmnet_decode(const void *bytes, size_t length)
{
	struct wcur c = { bytes, length };
	const uint8_t *magic;
	if (!bytes || !pull_bytes(&c, WIRE_MAGIC_LEN, &magic) || memcmp(magic, WIRE_MAGIC, WIRE_MAGIC_LEN) != 0)
		return NULL;
	xpc_object_t o = dec_value(&c, 1);
	if (o && c.left != 0) {
		xpc_release(o);
		o = NULL;
	}
	return o;
}
