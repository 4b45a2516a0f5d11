/*
 * test_xpc_wire.c — unit tests for the xpc byte encoding (common/xpc_wire.c).
 *
 * Round trips of every type, exact bytes of a small message, rejection of
 * malformed input (truncation, bad magic, over-deep nesting, oversize lengths
 * and counts, trailing bytes, duplicate keys, unknown tags, embedded NULs)
 * and a deterministic mutation loop meant to run under ASan/UBSan.
 *
 * Exits 1 at the first failed check, naming file:line.
 */
#include <xpc/xpc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks;

#define CHECK(cond) \
	do { \
		checks++; \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1); \
		} \
	} while (0)

/* Hand-built byte strings for malformed input. */
struct hb {
	uint8_t b[4096];
	size_t n;
};

static void hb_raw(struct hb *h, const void *p, size_t n)
{
	CHECK(h->n + n <= sizeof(h->b));
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void hb_u8(struct hb *h, uint8_t v)
{
	hb_raw(h, &v, 1);
}

static void hb_u32(struct hb *h, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	hb_raw(h, b, 4);
}

static void hb_magic(struct hb *h)
{
	h->n = 0;
	hb_raw(h, "VXP1", 4);
}

static void hb_str(struct hb *h, const char *s, size_t n)
{
	hb_u32(h, (uint32_t)n);
	hb_raw(h, s, n);
}

static bool decodes(const struct hb *h)
{
	xpc_object_t o = xpc_vmnet_decode(h->b, h->n);
	xpc_release(o);
	return o != NULL;
}

/* Encodes o, decodes the result, checks equality and byte-identical re-encoding. */
static void check_round_trip(xpc_object_t o)
{
	size_t n = 0, n2 = 0;
	uint8_t *buf = xpc_vmnet_encode(o, &n);
	CHECK(buf != NULL && n > 4 && memcmp(buf, "VXP1", 4) == 0);
	xpc_object_t back = xpc_vmnet_decode(buf, n);
	CHECK(back != NULL);
	CHECK(xpc_equal(o, back));
	CHECK(xpc_hash(o) == xpc_hash(back));
	uint8_t *buf2 = xpc_vmnet_encode(back, &n2);
	CHECK(buf2 != NULL && n2 == n && memcmp(buf, buf2, n) == 0);
	free(buf);
	free(buf2);
	xpc_release(back);
}

static const uuid_t sample_uuid = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* A dictionary holding every encodable type, nested a few levels. */
static xpc_object_t make_tree(void)
{
	xpc_object_t d = xpc_dictionary_create_empty();
	const uint8_t bin[] = { 0, 1, 2, 0xff, 0 };
	xpc_dictionary_set_value(d, "null", xpc_null_create());
	xpc_dictionary_set_bool(d, "t", true);
	xpc_dictionary_set_bool(d, "f", false);
	xpc_dictionary_set_int64(d, "imin", INT64_MIN);
	xpc_dictionary_set_int64(d, "imax", INT64_MAX);
	xpc_dictionary_set_uint64(d, "umax", UINT64_MAX);
	xpc_dictionary_set_double(d, "pi", 3.14159);
	xpc_dictionary_set_double(d, "nan", NAN);
	xpc_dictionary_set_double(d, "-inf", -INFINITY);
	xpc_dictionary_set_double(d, "negzero", -0.0);
	xpc_dictionary_set_string(d, "s", "h\xc3\xa9llo \"w\"");
	xpc_dictionary_set_string(d, "", "");
	xpc_dictionary_set_uuid(d, "uuid", sample_uuid);
	xpc_dictionary_set_data(d, "bin", bin, sizeof(bin));
	xpc_dictionary_set_data(d, "empty", NULL, 0);

	xpc_object_t a = xpc_array_create_empty(), e = xpc_array_create_empty();
	xpc_object_t sub = xpc_dictionary_create_empty(), esub = xpc_dictionary_create_empty();
	xpc_array_append_value(a, e);
	xpc_array_append_value(a, esub);
	xpc_array_set_int64(a, XPC_ARRAY_APPEND, -1);
	xpc_dictionary_set_uint64(sub, "x", 5);
	xpc_dictionary_set_value(sub, "arr", a);
	xpc_array_append_value(e, XPC_BOOL_TRUE);
	xpc_dictionary_set_value(d, "sub", sub);
	xpc_release(a);
	xpc_release(e);
	xpc_release(sub);
	xpc_release(esub);
	return d;
}

static void test_round_trip(void)
{
	xpc_object_t t = make_tree();
	check_round_trip(t);
	xpc_object_t scalars[] = {
		xpc_null_create(), xpc_bool_create(true), xpc_int64_create(-5), xpc_uint64_create(5),
		xpc_double_create(1e300), xpc_string_create("top"), xpc_uuid_create(sample_uuid),
		xpc_data_create("d", 1), xpc_array_create_empty(), xpc_dictionary_create_empty(),
	};
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		check_round_trip(scalars[i]);
		xpc_release(scalars[i]);
	}
	/* Insertion order survives. */
	size_t n;
	uint8_t *buf = xpc_vmnet_encode(t, &n);
	xpc_object_t back = xpc_vmnet_decode(buf, n);
	char order[512] = "";
	char *op = order;
	xpc_dictionary_apply(back, ^bool(const char *key, xpc_object_t value) {
		strcat(op, key);
		strcat(op, "|");
		return true;
	});
	CHECK(strcmp(order, "null|t|f|imin|imax|umax|pi|nan|-inf|negzero|s||uuid|bin|empty|sub|") == 0);
	CHECK(signbit(xpc_dictionary_get_double(back, "negzero")));
	free(buf);
	xpc_release(back);
	xpc_release(t);
}

/* The documented layout, byte for byte. */
static void test_exact_bytes(void)
{
	xpc_object_t d = xpc_dictionary_create_empty();
	xpc_dictionary_set_int64(d, "a", 1);
	xpc_dictionary_set_bool(d, "b", true);
	xpc_dictionary_set_string(d, "c", "hi");
	const uint8_t want[] = {
		'V', 'X', 'P', '1', 0x0a, 3, 0, 0, 0,
		1, 0, 0, 0, 'a', 0x03, 1, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 'b', 0x02, 1,
		1, 0, 0, 0, 'c', 0x06, 2, 0, 0, 0, 'h', 'i',
	};
	size_t n = 0;
	uint8_t *buf = xpc_vmnet_encode(d, &n);
	CHECK(buf && n == sizeof(want) && memcmp(buf, want, n) == 0);
	free(buf);
	xpc_release(d);
}

static void test_encode_unsupported(void)
{
	size_t n = 123;
	CHECK(xpc_vmnet_encode(XPC_ERROR_CONNECTION_INVALID, &n) == NULL && n == 0);
	CHECK(xpc_vmnet_encode(NULL, &n) == NULL);
	xpc_object_t d = xpc_dictionary_create_empty();
	CHECK(xpc_vmnet_encode(d, NULL) == NULL);
	xpc_dictionary_set_value(d, "err", XPC_ERROR_CONNECTION_INTERRUPTED);
	n = 7;
	CHECK(xpc_vmnet_encode(d, &n) == NULL && n == 0);
	xpc_release(d);
	CHECK(xpc_vmnet_decode(NULL, 0) == NULL);
	CHECK(xpc_vmnet_decode(NULL, 10) == NULL);
}

static void test_truncation_and_trailing(void)
{
	xpc_object_t t = make_tree();
	size_t n;
	uint8_t *buf = xpc_vmnet_encode(t, &n);
	CHECK(buf != NULL);
	for (size_t len = 0; len < n; len++) {
		xpc_object_t o = xpc_vmnet_decode(buf, len);
		CHECK(o == NULL);
	}
	uint8_t *longer = malloc(n + 1);
	memcpy(longer, buf, n);
	longer[n] = 0x01;
	CHECK(xpc_vmnet_decode(longer, n + 1) == NULL);
	longer[n] = 0x00;
	CHECK(xpc_vmnet_decode(longer, n + 1) == NULL);
	free(longer);
	free(buf);
	xpc_release(t);
}

static void test_bad_magic(void)
{
	struct hb h;
	const char *magics[] = { "VXP0", "VXP2", "vxp1", "XPC1", "\0\0\0\0" };
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		h.n = 0;
		hb_raw(&h, magics[i], 4);
		hb_u8(&h, 0x01);
		CHECK(!decodes(&h));
	}
	hb_magic(&h);
	hb_u8(&h, 0x01);
	CHECK(decodes(&h));
	hb_magic(&h);
	CHECK(!decodes(&h)); /* magic only, no value */
}

/* Builds levels nested containers (arrays or dictionaries) around a null. */
static void hb_nested(struct hb *h, int levels, bool dicts)
{
	hb_magic(h);
	for (int i = 0; i < levels; i++) {
		hb_u8(h, dicts ? 0x0a : 0x09);
		hb_u32(h, 1);
		if (dicts)
			hb_str(h, "k", 1);
	}
	hb_u8(h, 0x01);
}

static xpc_object_t make_nested(int levels)
{
	xpc_object_t o = xpc_null_create();
	for (int i = 0; i < levels; i++) {
		xpc_object_t a = xpc_array_create(&o, 1);
		xpc_release(o);
		o = a;
	}
	return o;
}

static void test_depth(void)
{
	struct hb h;
	hb_nested(&h, 32, false);
	CHECK(decodes(&h));
	hb_nested(&h, 33, false);
	CHECK(!decodes(&h));
	hb_nested(&h, 32, true);
	CHECK(decodes(&h));
	hb_nested(&h, 33, true);
	CHECK(!decodes(&h));
	hb_nested(&h, 500, false);
	CHECK(!decodes(&h));

	size_t n;
	xpc_object_t o = make_nested(32);
	uint8_t *buf = xpc_vmnet_encode(o, &n);
	CHECK(buf != NULL);
	free(buf);
	xpc_release(o);
	o = make_nested(33);
	CHECK(xpc_vmnet_encode(o, &n) == NULL);
	xpc_release(o);
}

static void test_lengths_and_counts(void)
{
	struct hb h;
	/* String / data / key lengths beyond the buffer. */
	hb_magic(&h);
	hb_u8(&h, 0x06);
	hb_u32(&h, 0xffffffffu);
	hb_raw(&h, "abc", 3);
	CHECK(!decodes(&h));
	hb_magic(&h);
	hb_u8(&h, 0x06);
	hb_u32(&h, 4);
	hb_raw(&h, "abc", 3);
	CHECK(!decodes(&h));
	hb_magic(&h);
	hb_u8(&h, 0x08);
	hb_u32(&h, 4);
	hb_raw(&h, "abc", 3);
	CHECK(!decodes(&h));
	hb_magic(&h);
	hb_u8(&h, 0x08);
	hb_u32(&h, 3);
	hb_raw(&h, "abc", 3);
	CHECK(decodes(&h));
	hb_magic(&h);
	hb_u8(&h, 0x0a);
	hb_u32(&h, 1);
	hb_u32(&h, 0x7fffffffu);
	hb_raw(&h, "k", 1);
	hb_u8(&h, 0x01);
	CHECK(!decodes(&h));
	/* Short fixed-size payloads. */
	const uint8_t fixed_tags[] = { 0x02, 0x03, 0x04, 0x05, 0x07 };
	for (size_t i = 0; i < sizeof(fixed_tags); i++) {
		hb_magic(&h);
		hb_u8(&h, fixed_tags[i]);
		CHECK(!decodes(&h));
	}
	/* Huge counts. */
	hb_magic(&h);
	hb_u8(&h, 0x09);
	hb_u32(&h, 0xffffffffu);
	hb_u8(&h, 0x01);
	CHECK(!decodes(&h));
	hb_magic(&h);
	hb_u8(&h, 0x0a);
	hb_u32(&h, 0xffffffffu);
	hb_str(&h, "k", 1);
	hb_u8(&h, 0x01);
	CHECK(!decodes(&h));
	/* Count one larger than present. */
	hb_magic(&h);
	hb_u8(&h, 0x09);
	hb_u32(&h, 3);
	hb_u8(&h, 0x01);
	hb_u8(&h, 0x01);
	CHECK(!decodes(&h));
	/* Many-element array that is valid. */
	hb_magic(&h);
	hb_u8(&h, 0x09);
	hb_u32(&h, 1000);
	for (int i = 0; i < 1000; i++)
		hb_u8(&h, 0x01);
	CHECK(decodes(&h));
}

static void test_bad_content(void)
{
	struct hb h;
	/* Duplicate keys. */
	hb_magic(&h);
	hb_u8(&h, 0x0a);
	hb_u32(&h, 2);
	hb_str(&h, "a", 1);
	hb_u8(&h, 0x01);
	hb_str(&h, "a", 1);
	hb_u8(&h, 0x02);
	hb_u8(&h, 0x01);
	CHECK(!decodes(&h));
	h.b[4 + 1 + 4 + 4 + 1 + 1 + 4] = 'b'; /* second key -> "b" */
	CHECK(decodes(&h));
	/* Unknown tags. */
	const uint8_t bad_tags[] = { 0x00, 0x0b, 0x0c, 0x7f, 0x80, 0xff };
	for (size_t i = 0; i < sizeof(bad_tags); i++) {
		hb_magic(&h);
		hb_u8(&h, bad_tags[i]);
		hb_raw(&h, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
		CHECK(!decodes(&h));
		hb_magic(&h);
		hb_u8(&h, 0x09);
		hb_u32(&h, 1);
		hb_u8(&h, bad_tags[i]);
		CHECK(!decodes(&h));
	}
	/* Bool must be 0 or 1. */
	hb_magic(&h);
	hb_u8(&h, 0x02);
	hb_u8(&h, 0x02);
	CHECK(!decodes(&h));
	/* Embedded NUL in a string value and in a key. */
	hb_magic(&h);
	hb_u8(&h, 0x06);
	hb_str(&h, "a\0b", 3);
	CHECK(!decodes(&h));
	hb_magic(&h);
	hb_u8(&h, 0x06);
	hb_str(&h, "ab\0", 3);
	CHECK(!decodes(&h));
	hb_magic(&h);
	hb_u8(&h, 0x0a);
	hb_u32(&h, 1);
	hb_str(&h, "k\0", 2);
	hb_u8(&h, 0x01);
	CHECK(!decodes(&h));
	/* NUL inside data is fine. */
	hb_magic(&h);
	hb_u8(&h, 0x08);
	hb_str(&h, "a\0b", 3);
	CHECK(decodes(&h));
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Mutates a valid encoding many times; every result must be handled safely. */
static void test_mutations(void)
{
	xpc_object_t t = make_tree();
	size_t n;
	uint8_t *valid = xpc_vmnet_encode(t, &n);
	uint8_t *work = calloc(1, n + 8);
	int accepted = 0;
	CHECK(valid && work);
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(work, valid, n);
		size_t len = n;
		int flips = 1 + (int)(rng() % 4);
		for (int i = 0; i < flips; i++) {
			size_t pos = 4 + rng() % (n - 4);
			if (rng() % 2)
				work[pos] ^= (uint8_t)(1u << (rng() % 8));
			else
				work[pos] = (uint8_t)rng();
		}
		if (rng() % 8 == 0)
			len = rng() % (n + 8);
		xpc_object_t o = xpc_vmnet_decode(work, len);
		if (!o)
			continue;
		accepted++;
		size_t n2;
		uint8_t *again = xpc_vmnet_encode(o, &n2);
		CHECK(again != NULL);
		xpc_object_t o2 = xpc_vmnet_decode(again, n2);
		CHECK(o2 != NULL && xpc_equal(o, o2));
		free(again);
		xpc_release(o2);
		xpc_release(o);
	}
	printf("test_xpc_wire: mutation loop accepted %d of 20000 inputs\n", accepted);
	free(work);
	free(valid);
	xpc_release(t);
}

int main(void)
{
	test_round_trip();
	test_exact_bytes();
	test_encode_unsupported();
	test_truncation_and_trailing();
	test_bad_magic();
	test_depth();
	test_lengths_and_counts();
	test_bad_content();
	test_mutations();
	printf("test_xpc_wire: all %d checks passed\n", checks);
	return 0;
}
