/*
 * test_xpc.c — unit tests for the XPC object model (common/xpc.c).
 *
 * Exits 1 at the first failed check, naming file:line; prints a summary line
 * when everything passed.
 */
#include <xpc/xpc.h>

#include <math.h>
#include <pthread.h>
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

static const uuid_t sample_uuid = { 0x6f, 0x3a, 0x01, 0x02, 0xaa, 0xbb, 0x4c, 0xdd,
				  0x8e, 0xff, 0x10, 0x20, 0x30, 0x40, 0x50, 0x6a };
#define TEST_UUID_TEXT "6F3A0102-AABB-4CDD-8EFF-10203040506A"

/* True if the description of o contains needle. */
static bool desc_has(xpc_object_t o, const char *needle)
{
	char *d = xpc_copy_description(o);
	bool found = d && strstr(d, needle);
	free(d);
	return found;
}

static void test_types(void)
{
	CHECK(XPC_TYPE_DICTIONARY == &_xpc_type_dictionary);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_DICTIONARY), "dictionary") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_ARRAY), "array") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_STRING), "string") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_INT64), "int64") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_UINT64), "uint64") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_BOOL), "bool") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_DOUBLE), "double") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_UUID), "uuid") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_DATA), "data") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_NULL), "null") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_ERROR), "error") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_CONNECTION), "connection") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_DATE), "date") == 0);
	CHECK(strcmp(xpc_type_get_name(XPC_TYPE_FD), "fd") == 0);
	CHECK(xpc_type_get_name(NULL) == NULL);
	CHECK(xpc_get_type(NULL) == NULL);

	xpc_object_t objs[] = {
		xpc_dictionary_create_empty(), xpc_array_create_empty(), xpc_string_create("s"),
		xpc_int64_create(1), xpc_uint64_create(1), xpc_bool_create(true), xpc_double_create(1),
		xpc_uuid_create(sample_uuid), xpc_data_create("x", 1), xpc_null_create(),
	};
	xpc_type_t types[] = {
		XPC_TYPE_DICTIONARY, XPC_TYPE_ARRAY, XPC_TYPE_STRING, XPC_TYPE_INT64, XPC_TYPE_UINT64,
		XPC_TYPE_BOOL, XPC_TYPE_DOUBLE, XPC_TYPE_UUID, XPC_TYPE_DATA, XPC_TYPE_NULL,
	};
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		CHECK(objs[i] != NULL);
		CHECK(xpc_get_type(objs[i]) == types[i]);
		xpc_release(objs[i]);
	}
	CHECK(xpc_get_type(XPC_ERROR_CONNECTION_INVALID) == XPC_TYPE_ERROR);
	CHECK(xpc_get_type(XPC_ERROR_CONNECTION_INTERRUPTED) == XPC_TYPE_ERROR);
}

static void test_scalars(void)
{
	xpc_object_t o = xpc_int64_create(INT64_MIN);
	CHECK(xpc_int64_get_value(o) == INT64_MIN);
	CHECK(xpc_uint64_get_value(o) == 0); /* wrong type */
	CHECK(desc_has(o, "-9223372036854775808"));
	xpc_release(o);

	o = xpc_uint64_create(UINT64_MAX);
	CHECK(xpc_uint64_get_value(o) == UINT64_MAX);
	CHECK(xpc_int64_get_value(o) == 0);
	CHECK(desc_has(o, "18446744073709551615"));
	xpc_release(o);

	o = xpc_double_create(2.5);
	CHECK(xpc_double_get_value(o) == 2.5);
	CHECK(xpc_int64_get_value(o) == 0);
	CHECK(desc_has(o, "2.5"));
	xpc_release(o);

	o = xpc_null_create();
	CHECK(xpc_get_type(o) == XPC_TYPE_NULL);
	CHECK(desc_has(o, "null"));
	xpc_release(o);

	CHECK(xpc_int64_get_value(NULL) == 0);
	CHECK(xpc_uint64_get_value(NULL) == 0);
	CHECK(xpc_double_get_value(NULL) == 0.0);
	CHECK(xpc_bool_get_value(NULL) == false);
}

static void test_bool(void)
{
	CHECK(xpc_bool_create(true) == XPC_BOOL_TRUE);
	CHECK(xpc_bool_create(false) == XPC_BOOL_FALSE);
	CHECK(xpc_bool_get_value(XPC_BOOL_TRUE) == true);
	CHECK(xpc_bool_get_value(XPC_BOOL_FALSE) == false);
	/* Singletons survive any number of releases. */
	for (int i = 0; i < 10; i++)
		xpc_release(XPC_BOOL_TRUE);
	CHECK(xpc_retain(XPC_BOOL_FALSE) == XPC_BOOL_FALSE);
	CHECK(xpc_bool_get_value(XPC_BOOL_TRUE) == true);
	CHECK(desc_has(XPC_BOOL_TRUE, "true"));
	CHECK(desc_has(XPC_BOOL_FALSE, "false"));
	CHECK(xpc_bool_get_value(xpc_null_create()) == false);
}

static void test_string(void)
{
	xpc_object_t s = xpc_string_create("hello");
	CHECK(xpc_string_get_length(s) == 5);
	CHECK(strcmp(xpc_string_get_string_ptr(s), "hello") == 0);
	CHECK(desc_has(s, "\"hello\""));
	CHECK(xpc_int64_get_value(s) == 0);
	xpc_release(s);

	s = xpc_string_create_with_format("%s-%d-%x", "ab", 42, 255);
	CHECK(strcmp(xpc_string_get_string_ptr(s), "ab-42-ff") == 0);
	CHECK(xpc_string_get_length(s) == 8);
	xpc_release(s);

	s = xpc_string_create("");
	CHECK(s && xpc_string_get_length(s) == 0 && strcmp(xpc_string_get_string_ptr(s), "") == 0);
	xpc_release(s);

	s = xpc_string_create("quote\" back\\ nl\n");
	CHECK(desc_has(s, "quote\\\" back\\\\ nl\\n"));
	xpc_release(s);

	CHECK(xpc_string_create(NULL) == NULL);
	CHECK(xpc_string_get_length(NULL) == 0);
	CHECK(xpc_string_get_string_ptr(NULL) == NULL);
	CHECK(xpc_string_get_string_ptr(XPC_BOOL_TRUE) == NULL);
	CHECK(xpc_string_get_length(XPC_BOOL_TRUE) == 0);
}

static void test_uuid(void)
{
	xpc_object_t u = xpc_uuid_create(sample_uuid);
	CHECK(memcmp(xpc_uuid_get_bytes(u), sample_uuid, sizeof(uuid_t)) == 0);
	CHECK(desc_has(u, TEST_UUID_TEXT));
	CHECK(xpc_string_get_string_ptr(u) == NULL);
	xpc_release(u);
	CHECK(xpc_uuid_create(NULL) == NULL);
	CHECK(xpc_uuid_get_bytes(NULL) == NULL);
	CHECK(xpc_uuid_get_bytes(XPC_BOOL_FALSE) == NULL);
}

static void test_data(void)
{
	const uint8_t bytes[] = { 1, 2, 3, 4, 5, 0xab };
	uint8_t buf[16];
	xpc_object_t d = xpc_data_create(bytes, sizeof(bytes));
	CHECK(xpc_data_get_length(d) == sizeof(bytes));
	CHECK(memcmp(xpc_data_get_bytes_ptr(d), bytes, sizeof(bytes)) == 0);
	memset(buf, 0, sizeof(buf));
	CHECK(xpc_data_get_bytes(d, buf, 0, sizeof(buf)) == sizeof(bytes));
	CHECK(memcmp(buf, bytes, sizeof(bytes)) == 0);
	memset(buf, 0, sizeof(buf));
	CHECK(xpc_data_get_bytes(d, buf, 2, 3) == 3);
	CHECK(buf[0] == 3 && buf[1] == 4 && buf[2] == 5 && buf[3] == 0);
	CHECK(xpc_data_get_bytes(d, buf, 4, 100) == 2);
	CHECK(buf[0] == 5 && buf[1] == 0xab);
	CHECK(xpc_data_get_bytes(d, buf, 6, 1) == 0);
	CHECK(xpc_data_get_bytes(d, buf, SIZE_MAX, SIZE_MAX) == 0);
	CHECK(xpc_data_get_bytes(d, NULL, 0, 4) == 0);
	CHECK(desc_has(d, "0x0102030405ab"));
	xpc_release(d);

	d = xpc_data_create(NULL, 0);
	CHECK(d && xpc_data_get_length(d) == 0);
	CHECK(xpc_data_get_bytes(d, buf, 0, 4) == 0);
	xpc_release(d);
	CHECK(xpc_data_create(NULL, 5) == NULL);
	CHECK(xpc_data_get_length(NULL) == 0);
	CHECK(xpc_data_get_bytes_ptr(NULL) == NULL);
	CHECK(xpc_data_get_bytes(NULL, buf, 0, 1) == 0);
	CHECK(xpc_data_get_length(XPC_BOOL_TRUE) == 0);
	CHECK(xpc_data_get_bytes_ptr(XPC_BOOL_TRUE) == NULL);
}

/* Fills d with one value of each settable kind. */
static void fill_dict(xpc_object_t d)
{
	xpc_dictionary_set_bool(d, "bool", true);
	xpc_dictionary_set_int64(d, "int64", -7);
	xpc_dictionary_set_uint64(d, "uint64", 7);
	xpc_dictionary_set_double(d, "double", 1.5);
	xpc_dictionary_set_string(d, "string", "abc");
	xpc_dictionary_set_uuid(d, "uuid", sample_uuid);
	xpc_dictionary_set_data(d, "data", "xyz", 3);
}

static void test_dict_getset(void)
{
	xpc_object_t d = xpc_dictionary_create_empty();
	size_t len = 99;
	fill_dict(d);
	CHECK(xpc_dictionary_get_count(d) == 7);
	CHECK(xpc_dictionary_get_bool(d, "bool") == true);
	CHECK(xpc_dictionary_get_int64(d, "int64") == -7);
	CHECK(xpc_dictionary_get_uint64(d, "uint64") == 7);
	CHECK(xpc_dictionary_get_double(d, "double") == 1.5);
	CHECK(strcmp(xpc_dictionary_get_string(d, "string"), "abc") == 0);
	CHECK(memcmp(xpc_dictionary_get_uuid(d, "uuid"), sample_uuid, 16) == 0);
	CHECK(memcmp(xpc_dictionary_get_data(d, "data", &len), "xyz", 3) == 0 && len == 3);
	CHECK(xpc_dictionary_get_data(d, "data", NULL) != NULL);

	/* Missing keys and wrong types give neutral values. */
	CHECK(xpc_dictionary_get_value(d, "missing") == NULL);
	CHECK(xpc_dictionary_get_int64(d, "string") == 0);
	CHECK(xpc_dictionary_get_uint64(d, "int64") == 0);
	CHECK(xpc_dictionary_get_bool(d, "int64") == false);
	CHECK(xpc_dictionary_get_double(d, "bool") == 0.0);
	CHECK(xpc_dictionary_get_string(d, "data") == NULL);
	CHECK(xpc_dictionary_get_uuid(d, "string") == NULL);
	len = 99;
	CHECK(xpc_dictionary_get_data(d, "string", &len) == NULL && len == 0);
	CHECK(xpc_dictionary_get_dictionary(d, "string") == NULL);
	CHECK(xpc_dictionary_get_array(d, "string") == NULL);

	/* Nested containers. */
	xpc_object_t sub = xpc_dictionary_create_empty(), arr = xpc_array_create_empty();
	xpc_dictionary_set_value(d, "sub", sub);
	xpc_dictionary_set_value(d, "arr", arr);
	CHECK(xpc_dictionary_get_dictionary(d, "sub") == sub);
	CHECK(xpc_dictionary_get_array(d, "arr") == arr);
	CHECK(xpc_dictionary_get_array(d, "sub") == NULL);
	CHECK(xpc_dictionary_get_dictionary(d, "arr") == NULL);
	xpc_release(sub);
	xpc_release(arr);

	/* Setting a NULL string/uuid does not remove or change anything. */
	xpc_dictionary_set_string(d, "string", NULL);
	xpc_dictionary_set_uuid(d, "uuid", NULL);
	CHECK(strcmp(xpc_dictionary_get_string(d, "string"), "abc") == 0);
	CHECK(xpc_dictionary_get_uuid(d, "uuid") != NULL);
	xpc_release(d);
}

static bool collect_keys(void *context, const char *key, xpc_object_t value)
{
	char *buf = context;
	strcat(buf, key);
	strcat(buf, ",");
	return true;
}

static void test_dict_order_replace_remove(void)
{
	char keys[256] = "";
	xpc_object_t d = xpc_dictionary_create_empty();
	xpc_dictionary_set_int64(d, "c", 1);
	xpc_dictionary_set_int64(d, "a", 2);
	xpc_dictionary_set_int64(d, "b", 3);
	CHECK(xpc_dictionary_apply_f(d, keys, collect_keys));
	CHECK(strcmp(keys, "c,a,b,") == 0);

	/* Replace keeps the position. */
	xpc_dictionary_set_string(d, "a", "x");
	CHECK(xpc_dictionary_get_count(d) == 3);
	CHECK(strcmp(xpc_dictionary_get_string(d, "a"), "x") == 0);
	keys[0] = '\0';
	xpc_dictionary_apply_f(d, keys, collect_keys);
	CHECK(strcmp(keys, "c,a,b,") == 0);

	/* NULL value removes; order of the rest kept. */
	xpc_dictionary_set_value(d, "c", NULL);
	xpc_dictionary_set_value(d, "nope", NULL);
	CHECK(xpc_dictionary_get_count(d) == 2);
	CHECK(xpc_dictionary_get_value(d, "c") == NULL);
	keys[0] = '\0';
	xpc_dictionary_apply_f(d, keys, collect_keys);
	CHECK(strcmp(keys, "a,b,") == 0);
	xpc_dictionary_set_int64(d, "c", 9);
	keys[0] = '\0';
	xpc_dictionary_apply_f(d, keys, collect_keys);
	CHECK(strcmp(keys, "a,b,c,") == 0);

	/* Keys are copied. */
	char key[] = "dyn";
	xpc_dictionary_set_int64(d, key, 5);
	key[0] = 'X';
	CHECK(xpc_dictionary_get_int64(d, "dyn") == 5);
	xpc_release(d);
}

/* Many keys: exercises the hash index through growth and removal. */
static void test_dict_large(void)
{
	char key[32];
	xpc_object_t d = xpc_dictionary_create_empty();
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		xpc_dictionary_set_int64(d, key, i);
	}
	CHECK(xpc_dictionary_get_count(d) == 2000);
	for (int i = 0; i < 2000; i += 2) {
		snprintf(key, sizeof(key), "k%d", i);
		xpc_dictionary_set_value(d, key, NULL);
	}
	CHECK(xpc_dictionary_get_count(d) == 1000);
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK(xpc_dictionary_get_int64(d, key) == (i % 2 ? i : 0));
		CHECK((xpc_dictionary_get_value(d, key) != NULL) == (i % 2 == 1));
	}
	for (int i = 1; i < 1990; i += 2) {
		snprintf(key, sizeof(key), "k%d", i);
		xpc_dictionary_set_value(d, key, NULL);
	}
	CHECK(xpc_dictionary_get_count(d) == 5);
	CHECK(xpc_dictionary_get_int64(d, "k1999") == 1999);
	CHECK(xpc_dictionary_get_value(d, "k1") == NULL);
	xpc_release(d);
}

static void test_dict_create(void)
{
	const char *keys[] = { "one", "two", NULL, "four" };
	xpc_object_t v1 = xpc_int64_create(1), v2 = xpc_string_create("2"), v4 = xpc_null_create();
	xpc_object_t values[] = { v1, v2, v1, v4 };
	xpc_object_t d = xpc_dictionary_create(keys, values, 4);
	CHECK(xpc_dictionary_get_count(d) == 3);
	CHECK(xpc_dictionary_get_int64(d, "one") == 1);
	CHECK(strcmp(xpc_dictionary_get_string(d, "two"), "2") == 0);
	CHECK(xpc_get_type(xpc_dictionary_get_value(d, "four")) == XPC_TYPE_NULL);
	xpc_release(v1);
	xpc_release(v2);
	CHECK(xpc_dictionary_get_int64(d, "one") == 1); /* still held by d */
	xpc_release(d);

	d = xpc_dictionary_create(NULL, NULL, 5);
	CHECK(d && xpc_dictionary_get_count(d) == 0);
	xpc_release(d);
	CHECK(xpc_dictionary_create_reply(NULL) == NULL);
	d = xpc_dictionary_create_empty();
	CHECK(xpc_dictionary_create_reply(d) == NULL);
	xpc_release(d);
}

static void test_dict_tolerance(void)
{
	xpc_object_t s = xpc_string_create("not a dict");
	size_t len = 5;
	/* NULL and wrong-type targets: setters ignore, getters return neutral. */
	xpc_object_t targets[] = { NULL, s, XPC_BOOL_TRUE };
	for (size_t i = 0; i < 3; i++) {
		xpc_object_t t = targets[i];
		xpc_dictionary_set_value(t, "k", s);
		xpc_dictionary_set_bool(t, "k", true);
		xpc_dictionary_set_int64(t, "k", 1);
		xpc_dictionary_set_uint64(t, "k", 1);
		xpc_dictionary_set_double(t, "k", 1);
		xpc_dictionary_set_string(t, "k", "v");
		xpc_dictionary_set_uuid(t, "k", sample_uuid);
		xpc_dictionary_set_data(t, "k", "v", 1);
		CHECK(xpc_dictionary_get_value(t, "k") == NULL);
		CHECK(xpc_dictionary_get_count(t) == 0);
		CHECK(xpc_dictionary_get_bool(t, "k") == false);
		CHECK(xpc_dictionary_get_int64(t, "k") == 0);
		CHECK(xpc_dictionary_get_uint64(t, "k") == 0);
		CHECK(xpc_dictionary_get_double(t, "k") == 0);
		CHECK(xpc_dictionary_get_string(t, "k") == NULL);
		CHECK(xpc_dictionary_get_uuid(t, "k") == NULL);
		CHECK(xpc_dictionary_get_data(t, "k", &len) == NULL && len == 0);
		CHECK(xpc_dictionary_get_dictionary(t, "k") == NULL);
		CHECK(xpc_dictionary_get_array(t, "k") == NULL);
		CHECK(xpc_dictionary_apply_f(t, NULL, collect_keys) == false);
	}
	/* NULL keys. */
	xpc_object_t d = xpc_dictionary_create_empty();
	xpc_dictionary_set_value(d, NULL, s);
	xpc_dictionary_set_int64(d, NULL, 3);
	CHECK(xpc_dictionary_get_count(d) == 0);
	CHECK(xpc_dictionary_get_value(d, NULL) == NULL);
	CHECK(xpc_dictionary_get_int64(d, NULL) == 0);
	CHECK(xpc_dictionary_apply_f(d, NULL, NULL) == false);
	/* A dictionary cannot be inserted into itself or its children. */
	xpc_object_t inner = xpc_dictionary_create_empty();
	xpc_dictionary_set_value(d, "inner", inner);
	xpc_dictionary_set_value(d, "self", d);
	xpc_dictionary_set_value(inner, "parent", d);
	CHECK(xpc_dictionary_get_count(d) == 1 && xpc_dictionary_get_count(inner) == 0);
	xpc_release(inner);
	xpc_release(d);
	xpc_release(s);
}

static void test_array(void)
{
	xpc_object_t a = xpc_array_create_empty();
	xpc_array_set_bool(a, XPC_ARRAY_APPEND, true);
	xpc_array_set_int64(a, XPC_ARRAY_APPEND, -3);
	xpc_array_set_uint64(a, XPC_ARRAY_APPEND, 3);
	xpc_array_set_string(a, XPC_ARRAY_APPEND, "s");
	xpc_array_set_uuid(a, XPC_ARRAY_APPEND, sample_uuid);
	xpc_array_set_data(a, XPC_ARRAY_APPEND, "dd", 2);
	xpc_object_t sub = xpc_array_create_empty(), dict = xpc_dictionary_create_empty();
	xpc_array_append_value(a, sub);
	xpc_array_append_value(a, dict);
	CHECK(xpc_array_get_count(a) == 8);
	CHECK(xpc_array_get_bool(a, 0) == true);
	CHECK(xpc_array_get_int64(a, 1) == -3);
	CHECK(xpc_array_get_uint64(a, 2) == 3);
	CHECK(strcmp(xpc_array_get_string(a, 3), "s") == 0);
	CHECK(memcmp(xpc_array_get_uuid(a, 4), sample_uuid, 16) == 0);
	CHECK(xpc_data_get_length(xpc_array_get_value(a, 5)) == 2);
	CHECK(xpc_array_get_array(a, 6) == sub);
	CHECK(xpc_array_get_dictionary(a, 7) == dict);
	/* Wrong types. */
	CHECK(xpc_array_get_bool(a, 1) == false);
	CHECK(xpc_array_get_int64(a, 2) == 0);
	CHECK(xpc_array_get_uint64(a, 1) == 0);
	CHECK(xpc_array_get_string(a, 4) == NULL);
	CHECK(xpc_array_get_uuid(a, 3) == NULL);
	CHECK(xpc_array_get_array(a, 7) == NULL);
	CHECK(xpc_array_get_dictionary(a, 6) == NULL);
	/* Replace in range. */
	xpc_array_set_int64(a, 1, 42);
	CHECK(xpc_array_get_int64(a, 1) == 42 && xpc_array_get_count(a) == 8);
	/* Out of range: ignored / neutral. */
	xpc_array_set_int64(a, 8, 1);
	xpc_array_set_value(a, 100, sub);
	xpc_array_set_string(a, 9, "x");
	CHECK(xpc_array_get_count(a) == 8);
	CHECK(xpc_array_get_value(a, 8) == NULL);
	CHECK(xpc_array_get_value(a, SIZE_MAX) == NULL);
	CHECK(xpc_array_get_int64(a, 1000) == 0);
	CHECK(xpc_array_get_string(a, 1000) == NULL);
	/* NULL value and cycles are ignored. */
	xpc_array_append_value(a, NULL);
	xpc_array_append_value(a, a);
	xpc_array_append_value(sub, a);
	xpc_array_set_value(a, 0, a);
	CHECK(xpc_array_get_count(a) == 8 && xpc_array_get_count(sub) == 0);
	CHECK(xpc_array_get_bool(a, 0) == true);
	CHECK(desc_has(a, "<array:") && desc_has(a, "\"s\"") && desc_has(a, "42"));
	xpc_release(sub);
	xpc_release(dict);
	xpc_release(a);
}

static void test_array_create_and_tolerance(void)
{
	xpc_object_t v[] = { xpc_int64_create(1), NULL, xpc_string_create("b") };
	xpc_object_t a = xpc_array_create(v, 3);
	CHECK(xpc_array_get_count(a) == 2); /* NULL skipped */
	CHECK(xpc_array_get_int64(a, 0) == 1);
	CHECK(strcmp(xpc_array_get_string(a, 1), "b") == 0);
	xpc_release(v[0]);
	xpc_release(v[2]);
	CHECK(xpc_array_get_int64(a, 0) == 1);
	xpc_release(a);
	a = xpc_array_create(NULL, 4);
	CHECK(a && xpc_array_get_count(a) == 0);
	xpc_release(a);

	xpc_object_t d = xpc_dictionary_create_empty();
	xpc_object_t targets[] = { NULL, d, XPC_BOOL_FALSE };
	for (size_t i = 0; i < 3; i++) {
		xpc_object_t t = targets[i];
		xpc_array_append_value(t, d);
		xpc_array_set_value(t, 0, d);
		xpc_array_set_bool(t, XPC_ARRAY_APPEND, true);
		xpc_array_set_int64(t, XPC_ARRAY_APPEND, 1);
		xpc_array_set_uint64(t, XPC_ARRAY_APPEND, 1);
		xpc_array_set_string(t, XPC_ARRAY_APPEND, "x");
		xpc_array_set_uuid(t, XPC_ARRAY_APPEND, sample_uuid);
		xpc_array_set_data(t, XPC_ARRAY_APPEND, "x", 1);
		CHECK(xpc_array_get_count(t) == 0);
		CHECK(xpc_array_get_value(t, 0) == NULL);
		CHECK(xpc_array_get_bool(t, 0) == false);
		CHECK(xpc_array_get_int64(t, 0) == 0);
		CHECK(xpc_array_get_uint64(t, 0) == 0);
		CHECK(xpc_array_get_string(t, 0) == NULL);
		CHECK(xpc_array_get_uuid(t, 0) == NULL);
		CHECK(xpc_array_get_array(t, 0) == NULL);
		CHECK(xpc_array_get_dictionary(t, 0) == NULL);
		CHECK(xpc_array_apply_f(t, NULL, NULL) == false);
	}
	CHECK(xpc_dictionary_get_count(d) == 0);
	a = xpc_array_create_empty();
	xpc_array_set_string(a, XPC_ARRAY_APPEND, NULL);
	xpc_array_set_uuid(a, XPC_ARRAY_APPEND, NULL);
	xpc_array_set_data(a, XPC_ARRAY_APPEND, NULL, 3);
	CHECK(xpc_array_get_count(a) == 0);
	xpc_release(a);
	xpc_release(d);
}

/* Builds a nested structure of every creatable type. */
static xpc_object_t make_tree(void)
{
	xpc_object_t d = xpc_dictionary_create_empty();
	fill_dict(d);
	xpc_object_t a = xpc_array_create_empty();
	xpc_object_t n = xpc_null_create();
	xpc_array_append_value(a, n);
	xpc_array_set_string(a, XPC_ARRAY_APPEND, "elem");
	xpc_object_t inner = xpc_dictionary_create_empty();
	xpc_dictionary_set_uint64(inner, "deep", 99);
	xpc_array_append_value(a, inner);
	xpc_dictionary_set_value(d, "list", a);
	xpc_release(inner);
	xpc_release(a);
	return d;
}

static void test_copy_equal_hash(void)
{
	xpc_object_t t = make_tree(), c = xpc_copy(t);
	CHECK(c != NULL && c != t);
	CHECK(xpc_equal(t, c));
	CHECK(xpc_hash(t) == xpc_hash(c));
	/* Deep: the nested containers are distinct objects. */
	xpc_object_t ta = xpc_dictionary_get_array(t, "list"), ca = xpc_dictionary_get_array(c, "list");
	CHECK(ta != ca && xpc_array_get_dictionary(ta, 2) != xpc_array_get_dictionary(ca, 2));
	xpc_dictionary_set_uint64(xpc_array_get_dictionary(ca, 2), "deep", 100);
	CHECK(!xpc_equal(t, c));
	CHECK(xpc_dictionary_get_uint64(xpc_array_get_dictionary(ta, 2), "deep") == 99);
	xpc_dictionary_set_uint64(xpc_array_get_dictionary(ca, 2), "deep", 99);
	CHECK(xpc_equal(t, c));

	/* Dictionary equality ignores insertion order; hash too. */
	xpc_object_t x = xpc_dictionary_create_empty(), y = xpc_dictionary_create_empty();
	xpc_dictionary_set_int64(x, "a", 1);
	xpc_dictionary_set_int64(x, "b", 2);
	xpc_dictionary_set_int64(y, "b", 2);
	xpc_dictionary_set_int64(y, "a", 1);
	CHECK(xpc_equal(x, y) && xpc_hash(x) == xpc_hash(y));
	xpc_dictionary_set_uint64(y, "a", 1); /* same number, other type */
	CHECK(!xpc_equal(x, y));
	xpc_release(x);
	xpc_release(y);

	/* Arrays are ordered. */
	x = xpc_array_create_empty();
	y = xpc_array_create_empty();
	xpc_array_set_int64(x, XPC_ARRAY_APPEND, 1);
	xpc_array_set_int64(x, XPC_ARRAY_APPEND, 2);
	xpc_array_set_int64(y, XPC_ARRAY_APPEND, 2);
	xpc_array_set_int64(y, XPC_ARRAY_APPEND, 1);
	CHECK(!xpc_equal(x, y));
	xpc_release(x);
	xpc_release(y);

	/* Scalars. */
	x = xpc_double_create(NAN);
	y = xpc_double_create(NAN);
	CHECK(xpc_equal(x, y) && xpc_hash(x) == xpc_hash(y));
	xpc_release(x);
	xpc_release(y);
	x = xpc_double_create(0.0);
	y = xpc_double_create(-0.0);
	CHECK(xpc_equal(x, y) && xpc_hash(x) == xpc_hash(y));
	xpc_release(x);
	xpc_release(y);
	x = xpc_string_create("ab");
	y = xpc_string_create("ab");
	xpc_object_t z = xpc_data_create("ab", 2);
	CHECK(xpc_equal(x, y) && xpc_hash(x) == xpc_hash(y) && !xpc_equal(x, z));
	xpc_release(x);
	xpc_release(y);
	xpc_release(z);
	CHECK(xpc_equal(xpc_null_create(), xpc_null_create()));
	CHECK(!xpc_equal(XPC_BOOL_TRUE, XPC_BOOL_FALSE));
	CHECK(!xpc_equal(NULL, NULL) && !xpc_equal(t, NULL) && !xpc_equal(NULL, t));
	CHECK(xpc_copy(NULL) == NULL && xpc_hash(NULL) == 0);
	CHECK(xpc_copy(XPC_BOOL_TRUE) == XPC_BOOL_TRUE);
	CHECK(xpc_copy(XPC_ERROR_CONNECTION_INVALID) == XPC_ERROR_CONNECTION_INVALID);
	xpc_release(t);
	xpc_release(c);
}

static void test_description(void)
{
	xpc_object_t t = make_tree();
	char *d = xpc_copy_description(t);
	CHECK(d != NULL);
	CHECK(strstr(d, "<dictionary: 0x") != NULL);
	CHECK(strstr(d, "count = 8") != NULL);
	CHECK(strstr(d, "\"string\" => <string: ") != NULL);
	CHECK(strstr(d, "contents = \"abc\"") != NULL);
	CHECK(strstr(d, "\"int64\" => <int64: ") != NULL && strstr(d, "-7") != NULL);
	CHECK(strstr(d, "\"uuid\" => <uuid: ") != NULL && strstr(d, TEST_UUID_TEXT) != NULL);
	CHECK(strstr(d, "\"list\" => <array: ") != NULL);
	CHECK(strstr(d, "\"deep\" => <uint64: ") != NULL && strstr(d, ": 99") != NULL);
	CHECK(strstr(d, "\"elem\"") != NULL && strstr(d, "<null: ") != NULL);
	CHECK(strstr(d, "\"data\" => <data: ") != NULL && strstr(d, "0x78797a") != NULL);
	free(d);
	xpc_release(t);
	CHECK(xpc_copy_description(NULL) == NULL);
	CHECK(desc_has(XPC_ERROR_CONNECTION_INVALID, "Connection invalid"));
	/* Large data is abbreviated. */
	uint8_t big[1000] = { 0 };
	xpc_object_t b = xpc_data_create(big, sizeof(big));
	d = xpc_copy_description(b);
	CHECK(d && strstr(d, "length = 1000") && strlen(d) < 300);
	free(d);
	xpc_release(b);
}

static void test_errors(void)
{
	xpc_object_t e = XPC_ERROR_CONNECTION_INVALID;
	CHECK(strcmp(xpc_dictionary_get_string(e, XPC_ERROR_KEY_DESCRIPTION), "Connection invalid") == 0);
	CHECK(strcmp(xpc_dictionary_get_string(XPC_ERROR_CONNECTION_INTERRUPTED, XPC_ERROR_KEY_DESCRIPTION),
		     "Connection interrupted") == 0);
	CHECK(xpc_dictionary_get_count(e) == 1);
	/* Read-only: setters are ignored, retain/release are no-ops. */
	xpc_dictionary_set_int64(e, "x", 1);
	xpc_dictionary_set_value(e, XPC_ERROR_KEY_DESCRIPTION, NULL);
	CHECK(xpc_dictionary_get_count(e) == 1);
	CHECK(xpc_retain(e) == e);
	for (int i = 0; i < 5; i++)
		xpc_release(e);
	CHECK(xpc_dictionary_get_string(e, XPC_ERROR_KEY_DESCRIPTION) != NULL);
	CHECK(!xpc_equal(XPC_ERROR_CONNECTION_INVALID, XPC_ERROR_CONNECTION_INTERRUPTED));
	CHECK(xpc_equal(e, e));
	/* Can be stored in containers and survives their release. */
	xpc_object_t d = xpc_dictionary_create_empty();
	xpc_dictionary_set_value(d, "err", e);
	CHECK(xpc_dictionary_get_value(d, "err") == e);
	xpc_release(d);
	CHECK(xpc_dictionary_get_count(e) == 1);
}

struct race_arg {
	xpc_object_t obj;
	int iterations;
};

static void *race_thread(void *p)
{
	struct race_arg *r = p;
	for (int i = 0; i < r->iterations; i++) {
		xpc_retain(r->obj);
		xpc_release(r->obj);
	}
	return NULL;
}

static void test_refcount(void)
{
	xpc_object_t s = xpc_string_create("shared");
	CHECK(xpc_retain(s) == s);
	xpc_release(s);
	CHECK(strcmp(xpc_string_get_string_ptr(s), "shared") == 0);

	/* A value stored in a container outlives the creator's reference. */
	xpc_object_t d = xpc_dictionary_create_empty();
	xpc_dictionary_set_value(d, "k", s);
	xpc_release(s);
	CHECK(strcmp(xpc_dictionary_get_string(d, "k"), "shared") == 0);
	s = xpc_retain(xpc_dictionary_get_value(d, "k"));
	xpc_release(d);
	CHECK(strcmp(xpc_string_get_string_ptr(s), "shared") == 0);

	/* Many threads hammering retain/release. */
	enum { NTHREADS = 4, ITER = 100000 };
	pthread_t th[NTHREADS];
	struct race_arg arg = { s, ITER };
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&th[i], NULL, race_thread, &arg) == 0);
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	CHECK(strcmp(xpc_string_get_string_ptr(s), "shared") == 0);
	CHECK(xpc_string_get_length(s) == 6);
	/* Same race on a container holding it. */
	d = xpc_array_create(&s, 1);
	arg.obj = d;
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&th[i], NULL, race_thread, &arg) == 0);
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	CHECK(xpc_array_get_string(d, 0) != NULL);
	xpc_release(d);
	xpc_release(s); /* last reference: LeakSanitizer checks it was freed */

	xpc_retain(NULL);
	xpc_release(NULL);
	CHECK(xpc_retain(NULL) == NULL);
}

static bool count_until(void *context, size_t index, xpc_object_t value)
{
	int *n = context;
	(*n)++;
	return index < 2;
}

static bool dict_stop_at_b(void *context, const char *key, xpc_object_t value)
{
	int *n = context;
	(*n)++;
	return strcmp(key, "b") != 0;
}

static void test_apply(void)
{
	xpc_object_t a = xpc_array_create_empty(), d = xpc_dictionary_create_empty();
	for (int i = 0; i < 5; i++)
		xpc_array_set_int64(a, XPC_ARRAY_APPEND, i * 10);
	xpc_dictionary_set_int64(d, "a", 1);
	xpc_dictionary_set_int64(d, "b", 2);
	xpc_dictionary_set_int64(d, "c", 3);

	int n = 0;
	CHECK(xpc_array_apply_f(a, &n, count_until) == false);
	CHECK(n == 3);
	n = 0;
	CHECK(xpc_dictionary_apply_f(d, &n, dict_stop_at_b) == false);
	CHECK(n == 2);

	__block int64_t sum = 0;
	__block size_t visits = 0;
	CHECK(xpc_array_apply(a, ^bool(size_t index, xpc_object_t value) {
		sum += xpc_int64_get_value(value);
		visits++;
		return true;
	}));
	CHECK(sum == 100 && visits == 5);
	visits = 0;
	CHECK(!xpc_array_apply(a, ^bool(size_t index, xpc_object_t value) {
		visits++;
		return index != 1;
	}));
	CHECK(visits == 2);

	sum = 0;
	visits = 0;
	CHECK(xpc_dictionary_apply(d, ^bool(const char *key, xpc_object_t value) {
		sum += xpc_int64_get_value(value);
		visits++;
		return true;
	}));
	CHECK(sum == 6 && visits == 3);
	visits = 0;
	CHECK(!xpc_dictionary_apply(d, ^bool(const char *key, xpc_object_t value) {
		visits++;
		return false;
	}));
	CHECK(visits == 1);

	/* Empty containers: applier never called, result true. */
	xpc_object_t e = xpc_array_create_empty();
	CHECK(xpc_array_apply(e, ^bool(size_t index, xpc_object_t value) { return false; }));
	xpc_release(e);
	/* NULL / wrong type / NULL block. */
	CHECK(!xpc_array_apply(NULL, ^bool(size_t index, xpc_object_t value) { return true; }));
	CHECK(!xpc_array_apply(d, ^bool(size_t index, xpc_object_t value) { return true; }));
	CHECK(!xpc_dictionary_apply(a, ^bool(const char *key, xpc_object_t value) { return true; }));
	CHECK(!xpc_array_apply(a, NULL));
	CHECK(!xpc_dictionary_apply(d, NULL));

	/* Mutating the container from inside the applier must not crash. */
	CHECK(xpc_dictionary_apply(d, ^bool(const char *key, xpc_object_t value) {
		xpc_dictionary_set_value(d, "a", NULL);
		return true;
	}));
	CHECK(xpc_dictionary_get_count(d) == 2);
	xpc_release(a);
	xpc_release(d);
}

static void test_connections(void)
{
	CHECK(xpc_connection_create_mach_service("com.example", NULL, XPC_CONNECTION_MACH_SERVICE_PRIVILEGED) ==
	      NULL);
	CHECK(xpc_connection_create("x", NULL) == NULL);
	CHECK(xpc_connection_create(NULL, NULL) == NULL);
	xpc_connection_set_event_handler_f(NULL, NULL, NULL);
	xpc_connection_set_event_handler(NULL, ^(xpc_object_t object) {
	});
	xpc_connection_resume(NULL);
	xpc_connection_suspend(NULL);
	xpc_connection_cancel(NULL);
	xpc_object_t msg = xpc_dictionary_create_empty();
	xpc_connection_send_message(NULL, msg);
	xpc_connection_send_message_with_reply(NULL, msg, NULL, ^(xpc_object_t object) {
	});
	xpc_object_t r = xpc_connection_send_message_with_reply_sync(NULL, msg);
	CHECK(r == XPC_ERROR_CONNECTION_INVALID);
	CHECK(xpc_get_type(r) == XPC_TYPE_ERROR);
	CHECK(xpc_dictionary_get_string(r, XPC_ERROR_KEY_DESCRIPTION) != NULL);
	xpc_release(r);
	xpc_release(msg);
	CHECK(xpc_connection_get_pid(NULL) == 0);
	CHECK(xpc_connection_get_euid(NULL) == (uid_t)-1);
}

int main(void)
{
	test_types();
	test_scalars();
	test_bool();
	test_string();
	test_uuid();
	test_data();
	test_dict_getset();
	test_dict_order_replace_remove();
	test_dict_large();
	test_dict_create();
	test_dict_tolerance();
	test_array();
	test_array_create_and_tolerance();
	test_copy_equal_hash();
	test_description();
	test_errors();
	test_refcount();
	test_apply();
	test_connections();
	printf("test_xpc: all %d checks passed\n", checks);
	return 0;
}
