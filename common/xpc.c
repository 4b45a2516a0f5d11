/*
 * xpc.c — the XPC object model of <xpc/xpc.h> for Linux.
 *
 * Every object starts with a common header (struct xobj) holding its type and
 * an atomic reference count. Scalars (string, int64, uint64, double, uuid,
 * data) are immutable; arrays and dictionaries are mutable containers that
 * retain their values. Booleans, null and the two connection errors are
 * static singletons whose retain/release do nothing.
 *
 * Unlike Apple's implementation nothing here traps: a NULL argument or an
 * object of the wrong type yields the neutral result (0, false, NULL) and
 * mutators ignore it. Inserting a container into itself (directly or through
 * a child) is ignored as well, so every object graph stays acyclic and the
 * recursive walks (copy, equal, hash, description, release) terminate.
 *
 * Containers are not internally locked: as on macOS, concurrent mutation of
 * one container needs the caller's synchronisation. Reference counting is
 * thread-safe.
 *
 * The connection API links but never connects (there is no XPC transport on
 * Linux); see the end of this file.
 */
#include <xpc/xpc.h>

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---------------------------------------------------------------------- */
/* types and object layouts                                                */
/* ---------------------------------------------------------------------- */

const struct _xpc_type_s _xpc_type_dictionary = { "dictionary" };
const struct _xpc_type_s _xpc_type_array = { "array" };
const struct _xpc_type_s _xpc_type_string = { "string" };
const struct _xpc_type_s _xpc_type_int64 = { "int64" };
const struct _xpc_type_s _xpc_type_uint64 = { "uint64" };
const struct _xpc_type_s _xpc_type_bool = { "bool" };
const struct _xpc_type_s _xpc_type_double = { "double" };
const struct _xpc_type_s _xpc_type_uuid = { "uuid" };
const struct _xpc_type_s _xpc_type_data = { "data" };
const struct _xpc_type_s _xpc_type_null = { "null" };
const struct _xpc_type_s _xpc_type_error = { "error" };
const struct _xpc_type_s _xpc_type_connection = { "connection" };
const struct _xpc_type_s _xpc_type_date = { "date" };
const struct _xpc_type_s _xpc_type_fd = { "fd" };

/* Header flag: statically allocated object, never counted nor freed. */
#define XOBJ_STATIC 1u

/* The header every object starts with. */
struct xobj {
	xpc_type_t type;
	_Atomic uint32_t refcnt;
	uint32_t flags;
};

#define STATIC_HDR(t) { .type = (t), .refcnt = 1, .flags = XOBJ_STATIC }

struct xpc_int64 {
	struct xobj h;
	int64_t value;
};

struct xpc_uint64 {
	struct xobj h;
	uint64_t value;
};

struct xpc_double {
	struct xobj h;
	double value;
};

struct _xpc_bool_s {
	struct xobj h;
	bool value;
};

/* String: bytes (NUL-terminated) normally live right after the struct. */
struct xpc_string {
	struct xobj h;
	size_t length;
	const char *str;
};

struct xpc_uuid {
	struct xobj h;
	uuid_t bytes;
};

/* Data: bytes live right after the struct. */
struct xpc_data {
	struct xobj h;
	size_t length;
	const uint8_t *bytes;
};

struct xpc_array {
	struct xobj h;
	struct xobj **items;
	size_t count, cap;
};

/* One dictionary slot; khash is only valid once the hash index exists. */
struct dict_entry {
	char *key;
	size_t khash;
	struct xobj *value;
};

/*
 * Dictionary: entries in insertion order. From DICT_INDEX_MIN entries on, an
 * open-addressing hash index (slots hold entry index + 1, 0 = empty) speeds
 * up lookups; it is only an accelerator, a failed allocation falls back to a
 * linear scan.
 */
struct _xpc_dictionary_s {
	struct xobj h;
	struct dict_entry *ents;
	size_t count, cap;
	size_t *slots;
	size_t nslots;
};

#define DICT_INDEX_MIN 16
#define NPOS ((size_t)-1)

const struct _xpc_bool_s _xpc_bool_true = { STATIC_HDR(&_xpc_type_bool), true };
const struct _xpc_bool_s _xpc_bool_false = { STATIC_HDR(&_xpc_type_bool), false };
static const struct xobj xpc_null_singleton = STATIC_HDR(&_xpc_type_null);

#define ERR_INVALID_TEXT "Connection invalid"
#define ERR_INTERRUPTED_TEXT "Connection interrupted"

static const struct xpc_string err_invalid_str = {
	STATIC_HDR(&_xpc_type_string), sizeof(ERR_INVALID_TEXT) - 1, ERR_INVALID_TEXT
};
static const struct xpc_string err_interrupted_str = {
	STATIC_HDR(&_xpc_type_string), sizeof(ERR_INTERRUPTED_TEXT) - 1, ERR_INTERRUPTED_TEXT
};
static struct dict_entry err_invalid_ents[] = {
	{ XPC_ERROR_KEY_DESCRIPTION, 0, (struct xobj *)&err_invalid_str },
};
static struct dict_entry err_interrupted_ents[] = {
	{ XPC_ERROR_KEY_DESCRIPTION, 0, (struct xobj *)&err_interrupted_str },
};

const struct _xpc_dictionary_s _xpc_error_connection_invalid = {
	.h = STATIC_HDR(&_xpc_type_error), .ents = err_invalid_ents, .count = 1, .cap = 1,
};
const struct _xpc_dictionary_s _xpc_error_connection_interrupted = {
	.h = STATIC_HDR(&_xpc_type_error), .ents = err_interrupted_ents, .count = 1, .cap = 1,
};

/* ---------------------------------------------------------------------- */
/* generic helpers                                                         */
/* ---------------------------------------------------------------------- */

/* Returns the object if it is non-NULL and of type t, else NULL. */
static struct xobj *obj_typed(xpc_object_t object, xpc_type_t t)
{
	struct xobj *o = object;
	return (o && o->type == t) ? o : NULL;
}

#define AS_ARRAY(o) ((struct xpc_array *)obj_typed((o), XPC_TYPE_ARRAY))

/* Dictionary for writing: only real dictionaries (never the error singletons). */
static struct _xpc_dictionary_s *dict_rw(xpc_object_t object)
{
	return (struct _xpc_dictionary_s *)obj_typed(object, XPC_TYPE_DICTIONARY);
}

/* Dictionary for reading: dictionaries and error objects. */
static struct _xpc_dictionary_s *dict_ro(xpc_object_t object)
{
	struct xobj *o = object;
	if (o && (o->type == XPC_TYPE_DICTIONARY || o->type == XPC_TYPE_ERROR))
		return (struct _xpc_dictionary_s *)o;
	return NULL;
}

static bool is_dict_like(const struct xobj *o)
{
	return o->type == XPC_TYPE_DICTIONARY || o->type == XPC_TYPE_ERROR;
}

/* Allocates a zeroed object of the given size with refcount 1. */
static void *obj_alloc(xpc_type_t type, size_t size)
{
	struct xobj *o = calloc(1, size);
	if (!o)
		return NULL;
	o->type = type;
	atomic_init(&o->refcnt, 1);
	return o;
}

/* 64-bit FNV-1a over a byte range, starting from h. */
static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define HASH_SEED 0xcbf29ce484222325ull

/*
 * Per-process secret mixed into key hashes, so that input from a peer cannot
 * be crafted to collide in a dictionary's hash index (quadratic lookups).
 */
static _Atomic uint64_t key_seed;

static uint64_t key_seed_get(void)
{
	uint64_t seed = atomic_load_explicit(&key_seed, memory_order_relaxed);
	if (seed)
		return seed;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&seed;
	seed |= 1; /* never 0, which means "not yet chosen" */
	uint64_t expected = 0;
	if (!atomic_compare_exchange_strong(&key_seed, &expected, seed))
		seed = expected; /* another thread won */
	return seed;
}

/* Seeded FNV-1a with a final avalanche step (MurmurHash3's fmix64). */
static size_t key_hash(const char *key)
{
	uint64_t h = hash_bytes(key, strlen(key), HASH_SEED ^ key_seed_get());
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (size_t)h;
}

static size_t hash_mix(size_t h, size_t v)
{
	return h ^ (v + (size_t)0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

/* True if needle is hay itself or is reachable from hay's contents. */
static bool obj_reaches(const struct xobj *hay, const struct xobj *needle)
{
	if (hay == needle)
		return true;
	if (hay->type == XPC_TYPE_ARRAY) {
		const struct xpc_array *a = (const struct xpc_array *)hay;
		for (size_t i = 0; i < a->count; i++)
			if (obj_reaches(a->items[i], needle))
				return true;
	} else if (is_dict_like(hay)) {
		const struct _xpc_dictionary_s *d = (const struct _xpc_dictionary_s *)hay;
		for (size_t i = 0; i < d->count; i++)
			if (obj_reaches(d->ents[i].value, needle))
				return true;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* retain / release                                                        */
/* ---------------------------------------------------------------------- */

static void dict_free_contents(struct _xpc_dictionary_s *d)
{
	for (size_t i = 0; i < d->count; i++) {
		free(d->ents[i].key);
		xpc_release(d->ents[i].value);
	}
	free(d->ents);
	free(d->slots);
}

/* Frees an object whose last reference went away. */
static void obj_destroy(struct xobj *o)
{
	if (o->type == XPC_TYPE_ARRAY) {
		struct xpc_array *a = (struct xpc_array *)o;
		for (size_t i = 0; i < a->count; i++)
			xpc_release(a->items[i]);
		free(a->items);
	} else if (o->type == XPC_TYPE_DICTIONARY) {
		dict_free_contents((struct _xpc_dictionary_s *)o);
	}
	free(o);
}

xpc_object_t xpc_retain(xpc_object_t object)
{
	struct xobj *o = object;
	if (o && !(o->flags & XOBJ_STATIC))
		atomic_fetch_add_explicit(&o->refcnt, 1, memory_order_relaxed);
	return object;
}

void xpc_release(xpc_object_t object)
{
	struct xobj *o = object;
	if (!o || (o->flags & XOBJ_STATIC))
		return;
	if (atomic_fetch_sub_explicit(&o->refcnt, 1, memory_order_acq_rel) == 1) {
		obj_destroy(o);
	}
}

xpc_type_t xpc_get_type(xpc_object_t object)
{
	struct xobj *o = object;
	return o ? o->type : NULL;
}

const char *xpc_type_get_name(xpc_type_t type)
{
	return type ? type->name : NULL;
}

/* ---------------------------------------------------------------------- */
/* scalars                                                                 */
/* ---------------------------------------------------------------------- */

xpc_object_t xpc_null_create(void)
{
	return (xpc_object_t)&xpc_null_singleton;
}

xpc_object_t xpc_bool_create(bool value)
{
	return value ? XPC_BOOL_TRUE : XPC_BOOL_FALSE;
}

bool xpc_bool_get_value(xpc_object_t xbool)
{
	struct _xpc_bool_s *b = (struct _xpc_bool_s *)obj_typed(xbool, XPC_TYPE_BOOL);
	return b ? b->value : false;
}

xpc_object_t xpc_int64_create(int64_t value)
{
	struct xpc_int64 *o = obj_alloc(XPC_TYPE_INT64, sizeof(*o));
	if (o)
		o->value = value;
	return o;
}

int64_t xpc_int64_get_value(xpc_object_t xint)
{
	struct xpc_int64 *o = (struct xpc_int64 *)obj_typed(xint, XPC_TYPE_INT64);
	return o ? o->value : 0;
}

xpc_object_t xpc_uint64_create(uint64_t value)
{
	struct xpc_uint64 *o = obj_alloc(XPC_TYPE_UINT64, sizeof(*o));
	if (o)
		o->value = value;
	return o;
}

uint64_t xpc_uint64_get_value(xpc_object_t xuint)
{
	struct xpc_uint64 *o = (struct xpc_uint64 *)obj_typed(xuint, XPC_TYPE_UINT64);
	return o ? o->value : 0;
}

xpc_object_t xpc_double_create(double value)
{
	struct xpc_double *o = obj_alloc(XPC_TYPE_DOUBLE, sizeof(*o));
	if (o)
		o->value = value;
	return o;
}

double xpc_double_get_value(xpc_object_t xdouble)
{
	struct xpc_double *o = (struct xpc_double *)obj_typed(xdouble, XPC_TYPE_DOUBLE);
	return o ? o->value : 0.0;
}

/* Creates a string object from len bytes (no NUL needed at s[len]). */
static xpc_object_t string_create_len(const char *s, size_t len)
{
	if (len > SIZE_MAX - sizeof(struct xpc_string) - 1)
		return NULL;
	struct xpc_string *o = obj_alloc(XPC_TYPE_STRING, sizeof(*o) + len + 1);
	if (!o)
		return NULL;
	char *buf = (char *)(o + 1);
	if (len)
		memcpy(buf, s, len);
	buf[len] = '\0';
	o->length = len;
	o->str = buf;
	return o;
}

xpc_object_t xpc_string_create(const char *string)
{
	return string ? string_create_len(string, strlen(string)) : NULL;
}

xpc_object_t xpc_string_create_with_format(const char *fmt, ...)
{
	if (!fmt)
		return NULL;
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	xpc_object_t result = NULL;
	char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && vsnprintf(buf, (size_t)n + 1, fmt, ap2) == n)
		result = string_create_len(buf, (size_t)n);
	va_end(ap2);
	free(buf);
	return result;
}

size_t xpc_string_get_length(xpc_object_t xstring)
{
	struct xpc_string *o = (struct xpc_string *)obj_typed(xstring, XPC_TYPE_STRING);
	return o ? o->length : 0;
}

const char *xpc_string_get_string_ptr(xpc_object_t xstring)
{
	struct xpc_string *o = (struct xpc_string *)obj_typed(xstring, XPC_TYPE_STRING);
	return o ? o->str : NULL;
}

xpc_object_t xpc_uuid_create(const uuid_t uuid)
{
	if (!uuid)
		return NULL;
	struct xpc_uuid *o = obj_alloc(XPC_TYPE_UUID, sizeof(*o));
	if (o)
		memcpy(o->bytes, uuid, sizeof(o->bytes));
	return o;
}

const uint8_t *xpc_uuid_get_bytes(xpc_object_t xuuid)
{
	struct xpc_uuid *o = (struct xpc_uuid *)obj_typed(xuuid, XPC_TYPE_UUID);
	return o ? o->bytes : NULL;
}

/* NULL bytes are accepted only with length 0 (an empty data object). */
xpc_object_t xpc_data_create(const void *bytes, size_t length)
{
	if ((!bytes && length) || length > SIZE_MAX - sizeof(struct xpc_data))
		return NULL;
	struct xpc_data *o = obj_alloc(XPC_TYPE_DATA, sizeof(*o) + length);
	if (!o)
		return NULL;
	uint8_t *buf = (uint8_t *)(o + 1);
	if (length)
		memcpy(buf, bytes, length);
	o->length = length;
	o->bytes = buf;
	return o;
}

const void *xpc_data_get_bytes_ptr(xpc_object_t xdata)
{
	struct xpc_data *o = (struct xpc_data *)obj_typed(xdata, XPC_TYPE_DATA);
	return o ? o->bytes : NULL;
}

size_t xpc_data_get_length(xpc_object_t xdata)
{
	struct xpc_data *o = (struct xpc_data *)obj_typed(xdata, XPC_TYPE_DATA);
	return o ? o->length : 0;
}

/* Copies up to length bytes starting at off into buffer; returns the count copied. */
size_t xpc_data_get_bytes(xpc_object_t xdata, void *buffer, size_t off, size_t length)
{
	struct xpc_data *o = (struct xpc_data *)obj_typed(xdata, XPC_TYPE_DATA);
	if (!o || !buffer || off >= o->length)
		return 0;
	size_t n = o->length - off;
	if (n > length)
		n = length;
	if (n)
		memcpy(buffer, o->bytes + off, n);
	return n;
}

/* ---------------------------------------------------------------------- */
/* arrays                                                                  */
/* ---------------------------------------------------------------------- */

/* Appends value (retaining it); returns false on allocation failure. */
static bool array_push(struct xpc_array *a, struct xobj *value)
{
	if (a->count == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 4;
		if (ncap > SIZE_MAX / sizeof(*a->items))
			return false;
		struct xobj **n = realloc(a->items, ncap * sizeof(*n));
		if (!n)
			return false;
		a->items = n;
		a->cap = ncap;
	}
	a->items[a->count++] = xpc_retain(value);
	return true;
}

/* NULL entries of objects are skipped. */
xpc_object_t xpc_array_create(const xpc_object_t *objects, size_t count)
{
	struct xpc_array *a = obj_alloc(XPC_TYPE_ARRAY, sizeof(*a));
	if (!a || !objects)
		return a;
	for (size_t i = 0; i < count; i++) {
		if (objects[i] && !array_push(a, objects[i])) {
			xpc_release(a);
			return NULL;
		}
	}
	return a;
}

xpc_object_t xpc_array_create_empty(void)
{
	return xpc_array_create(NULL, 0);
}

/* Replaces the value at index, or appends for XPC_ARRAY_APPEND; other indexes are ignored. */
void xpc_array_set_value(xpc_object_t xarray, size_t index, xpc_object_t value)
{
	struct xpc_array *a = AS_ARRAY(xarray);
	if (!a || !value || obj_reaches(value, &a->h))
		return;
	if (index == XPC_ARRAY_APPEND) {
		array_push(a, value);
	} else if (index < a->count) {
		struct xobj *old = a->items[index];
		a->items[index] = xpc_retain(value);
		xpc_release(old);
	}
}

void xpc_array_append_value(xpc_object_t xarray, xpc_object_t value)
{
	xpc_array_set_value(xarray, XPC_ARRAY_APPEND, value);
}

size_t xpc_array_get_count(xpc_object_t xarray)
{
	struct xpc_array *a = AS_ARRAY(xarray);
	return a ? a->count : 0;
}

xpc_object_t xpc_array_get_value(xpc_object_t xarray, size_t index)
{
	struct xpc_array *a = AS_ARRAY(xarray);
	return (a && index < a->count) ? a->items[index] : NULL;
}

/* Stores a freshly created object (consuming its reference); NULL is ignored. */
static void array_set_new(xpc_object_t xarray, size_t index, xpc_object_t value)
{
	if (value) {
		xpc_array_set_value(xarray, index, value);
		xpc_release(value);
	}
}

void xpc_array_set_bool(xpc_object_t xarray, size_t index, bool value)
{
	xpc_array_set_value(xarray, index, xpc_bool_create(value));
}

void xpc_array_set_int64(xpc_object_t xarray, size_t index, int64_t value)
{
	if (AS_ARRAY(xarray))
		array_set_new(xarray, index, xpc_int64_create(value));
}

void xpc_array_set_uint64(xpc_object_t xarray, size_t index, uint64_t value)
{
	if (AS_ARRAY(xarray))
		array_set_new(xarray, index, xpc_uint64_create(value));
}

void xpc_array_set_string(xpc_object_t xarray, size_t index, const char *string)
{
	if (AS_ARRAY(xarray))
		array_set_new(xarray, index, xpc_string_create(string));
}

void xpc_array_set_uuid(xpc_object_t xarray, size_t index, const uuid_t uuid)
{
	if (AS_ARRAY(xarray))
		array_set_new(xarray, index, xpc_uuid_create(uuid));
}

void xpc_array_set_data(xpc_object_t xarray, size_t index, const void *bytes, size_t length)
{
	if (AS_ARRAY(xarray))
		array_set_new(xarray, index, xpc_data_create(bytes, length));
}

bool xpc_array_get_bool(xpc_object_t xarray, size_t index)
{
	return xpc_bool_get_value(xpc_array_get_value(xarray, index));
}

int64_t xpc_array_get_int64(xpc_object_t xarray, size_t index)
{
	return xpc_int64_get_value(xpc_array_get_value(xarray, index));
}

uint64_t xpc_array_get_uint64(xpc_object_t xarray, size_t index)
{
	return xpc_uint64_get_value(xpc_array_get_value(xarray, index));
}

const char *xpc_array_get_string(xpc_object_t xarray, size_t index)
{
	return xpc_string_get_string_ptr(xpc_array_get_value(xarray, index));
}

const uint8_t *xpc_array_get_uuid(xpc_object_t xarray, size_t index)
{
	return xpc_uuid_get_bytes(xpc_array_get_value(xarray, index));
}

xpc_object_t xpc_array_get_dictionary(xpc_object_t xarray, size_t index)
{
	return obj_typed(xpc_array_get_value(xarray, index), XPC_TYPE_DICTIONARY);
}

xpc_object_t xpc_array_get_array(xpc_object_t xarray, size_t index)
{
	return obj_typed(xpc_array_get_value(xarray, index), XPC_TYPE_ARRAY);
}

/*
 * Calls applier for each element in order; stops and returns false as soon as
 * it returns false. The array and the current element are retained during the
 * call; elements appended by the applier are visited too.
 */
bool xpc_array_apply_f(xpc_object_t xarray, void *context, xpc_array_applier_f applier)
{
	struct xpc_array *a = AS_ARRAY(xarray);
	if (!a || !applier)
		return false;
	bool ok = true;
	xpc_retain(a);
	for (size_t i = 0; ok && i < a->count; i++) {
		struct xobj *v = xpc_retain(a->items[i]);
		ok = applier(context, i, v);
		xpc_release(v);
	}
	xpc_release(a);
	return ok;
}

/* ---------------------------------------------------------------------- */
/* dictionaries                                                            */
/* ---------------------------------------------------------------------- */

/* (Re)builds the hash index with nslots slots (a power of two); false on OOM. */
static bool dict_index_build(struct _xpc_dictionary_s *d, size_t nslots)
{
	size_t *slots = nslots <= SIZE_MAX / sizeof(*slots) ? calloc(nslots, sizeof(*slots)) : NULL;
	free(d->slots);
	d->slots = slots;
	d->nslots = slots ? nslots : 0;
	if (!slots)
		return false;
	size_t mask = nslots - 1;
	for (size_t i = 0; i < d->count; i++) {
		size_t s = d->ents[i].khash & mask;
		while (slots[s])
			s = (s + 1) & mask;
		slots[s] = i + 1;
	}
	return true;
}

/* Keeps the index in step with count: built at DICT_INDEX_MIN, load factor <= 1/2. */
static void dict_index_fit(struct _xpc_dictionary_s *d)
{
	if (d->count < DICT_INDEX_MIN) {
		free(d->slots);
		d->slots = NULL;
		d->nslots = 0;
		return;
	}
	size_t want = d->nslots ? d->nslots : 32;
	while (want / 2 < d->count && want <= SIZE_MAX / 4)
		want *= 2;
	if (want != d->nslots || !d->slots)
		dict_index_build(d, want);
}

/* Returns the entry index of key, or NPOS. */
static size_t dict_find(const struct _xpc_dictionary_s *d, const char *key)
{
	if (!d->slots) {
		for (size_t i = 0; i < d->count; i++)
			if (strcmp(d->ents[i].key, key) == 0)
				return i;
		return NPOS;
	}
	size_t h = key_hash(key), mask = d->nslots - 1;
	for (size_t s = h & mask; d->slots[s]; s = (s + 1) & mask) {
		const struct dict_entry *e = &d->ents[d->slots[s] - 1];
		if (e->khash == h && strcmp(e->key, key) == 0)
			return d->slots[s] - 1;
	}
	return NPOS;
}

/* Appends a new key (copied) with value (retained); the key must not exist yet. */
static bool dict_append(struct _xpc_dictionary_s *d, const char *key, struct xobj *value)
{
	if (d->count == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 4;
		if (ncap > SIZE_MAX / sizeof(*d->ents))
			return false;
		struct dict_entry *n = realloc(d->ents, ncap * sizeof(*n));
		if (!n)
			return false;
		d->ents = n;
		d->cap = ncap;
	}
	char *k = strdup(key);
	if (!k)
		return false;
	d->ents[d->count++] = (struct dict_entry){ k, key_hash(k), xpc_retain(value) };
	if (d->slots && d->count * 2 <= d->nslots) {
		size_t mask = d->nslots - 1, s = d->ents[d->count - 1].khash & mask;
		while (d->slots[s])
			s = (s + 1) & mask;
		d->slots[s] = d->count;
	} else {
		dict_index_fit(d);
	}
	return true;
}

/* Removes entry i, keeping the order of the others. */
static void dict_remove_at(struct _xpc_dictionary_s *d, size_t i)
{
	struct dict_entry e = d->ents[i];
	memmove(&d->ents[i], &d->ents[i + 1], (d->count - i - 1) * sizeof(*d->ents));
	d->count--;
	if (d->slots) {
		free(d->slots);
		d->slots = NULL;
		dict_index_fit(d);
	}
	free(e.key);
	xpc_release(e.value);
}

xpc_object_t xpc_dictionary_create_empty(void)
{
	return obj_alloc(XPC_TYPE_DICTIONARY, sizeof(struct _xpc_dictionary_s));
}

/* Pairs with a NULL key or NULL value are skipped; later duplicates replace earlier ones. */
xpc_object_t xpc_dictionary_create(const char *const *keys, const xpc_object_t *values, size_t count)
{
	xpc_object_t d = xpc_dictionary_create_empty();
	if (!d || !keys || !values)
		return d;
	for (size_t i = 0; i < count; i++)
		if (keys[i] && values[i])
			xpc_dictionary_set_value(d, keys[i], values[i]);
	return d;
}

/* No connection ever delivers a message here, so there is nothing to reply to. */
xpc_object_t xpc_dictionary_create_reply(xpc_object_t original)
{
	return NULL;
}

/* Sets, replaces (releasing the old value) or, with a NULL value, removes key. */
void xpc_dictionary_set_value(xpc_object_t xdict, const char *key, xpc_object_t value)
{
	struct _xpc_dictionary_s *d = dict_rw(xdict);
	if (!d || !key)
		return;
	size_t i = dict_find(d, key);
	if (!value) {
		if (i != NPOS)
			dict_remove_at(d, i);
		return;
	}
	if (obj_reaches(value, &d->h))
		return;
	if (i == NPOS) {
		dict_append(d, key, value);
		return;
	}
	struct xobj *old = d->ents[i].value;
	d->ents[i].value = xpc_retain(value);
	xpc_release(old);
}

xpc_object_t xpc_dictionary_get_value(xpc_object_t xdict, const char *key)
{
	struct _xpc_dictionary_s *d = dict_ro(xdict);
	if (!d || !key)
		return NULL;
	size_t i = dict_find(d, key);
	return i == NPOS ? NULL : d->ents[i].value;
}

size_t xpc_dictionary_get_count(xpc_object_t xdict)
{
	struct _xpc_dictionary_s *d = dict_ro(xdict);
	return d ? d->count : 0;
}

/* Stores a freshly created object (consuming its reference); NULL is ignored. */
static void dict_set_new(xpc_object_t xdict, const char *key, xpc_object_t value)
{
	if (value) {
		xpc_dictionary_set_value(xdict, key, value);
		xpc_release(value);
	}
}

void xpc_dictionary_set_bool(xpc_object_t xdict, const char *key, bool value)
{
	xpc_dictionary_set_value(xdict, key, xpc_bool_create(value));
}

void xpc_dictionary_set_int64(xpc_object_t xdict, const char *key, int64_t value)
{
	if (dict_rw(xdict) && key)
		dict_set_new(xdict, key, xpc_int64_create(value));
}

void xpc_dictionary_set_uint64(xpc_object_t xdict, const char *key, uint64_t value)
{
	if (dict_rw(xdict) && key)
		dict_set_new(xdict, key, xpc_uint64_create(value));
}

void xpc_dictionary_set_double(xpc_object_t xdict, const char *key, double value)
{
	if (dict_rw(xdict) && key)
		dict_set_new(xdict, key, xpc_double_create(value));
}

void xpc_dictionary_set_string(xpc_object_t xdict, const char *key, const char *string)
{
	if (dict_rw(xdict) && key)
		dict_set_new(xdict, key, xpc_string_create(string));
}

void xpc_dictionary_set_uuid(xpc_object_t xdict, const char *key, const uuid_t uuid)
{
	if (dict_rw(xdict) && key)
		dict_set_new(xdict, key, xpc_uuid_create(uuid));
}

void xpc_dictionary_set_data(xpc_object_t xdict, const char *key, const void *bytes, size_t length)
{
	if (dict_rw(xdict) && key)
		dict_set_new(xdict, key, xpc_data_create(bytes, length));
}

bool xpc_dictionary_get_bool(xpc_object_t xdict, const char *key)
{
	return xpc_bool_get_value(xpc_dictionary_get_value(xdict, key));
}

int64_t xpc_dictionary_get_int64(xpc_object_t xdict, const char *key)
{
	return xpc_int64_get_value(xpc_dictionary_get_value(xdict, key));
}

uint64_t xpc_dictionary_get_uint64(xpc_object_t xdict, const char *key)
{
	return xpc_uint64_get_value(xpc_dictionary_get_value(xdict, key));
}

double xpc_dictionary_get_double(xpc_object_t xdict, const char *key)
{
	return xpc_double_get_value(xpc_dictionary_get_value(xdict, key));
}

const char *xpc_dictionary_get_string(xpc_object_t xdict, const char *key)
{
	return xpc_string_get_string_ptr(xpc_dictionary_get_value(xdict, key));
}

const uint8_t *xpc_dictionary_get_uuid(xpc_object_t xdict, const char *key)
{
	return xpc_uuid_get_bytes(xpc_dictionary_get_value(xdict, key));
}

/* *length (if given) is set to the data length, or 0 when there is no data under key. */
const void *xpc_dictionary_get_data(xpc_object_t xdict, const char *key, size_t *length)
{
	xpc_object_t v = obj_typed(xpc_dictionary_get_value(xdict, key), XPC_TYPE_DATA);
	if (length)
		*length = xpc_data_get_length(v);
	return xpc_data_get_bytes_ptr(v);
}

xpc_object_t xpc_dictionary_get_dictionary(xpc_object_t xdict, const char *key)
{
	return obj_typed(xpc_dictionary_get_value(xdict, key), XPC_TYPE_DICTIONARY);
}

xpc_object_t xpc_dictionary_get_array(xpc_object_t xdict, const char *key)
{
	return obj_typed(xpc_dictionary_get_value(xdict, key), XPC_TYPE_ARRAY);
}

/*
 * Calls applier for each pair in insertion order; stops and returns false as
 * soon as it returns false. The dictionary and the current value are retained
 * during the call. The key pointer is only valid until the pair is removed.
 */
bool xpc_dictionary_apply_f(xpc_object_t xdict, void *context, xpc_dictionary_applier_f applier)
{
	struct _xpc_dictionary_s *d = dict_ro(xdict);
	if (!d || !applier)
		return false;
	bool ok = true;
	xpc_retain(d);
	for (size_t i = 0; ok && i < d->count; i++) {
		struct xobj *v = xpc_retain(d->ents[i].value);
		ok = applier(context, d->ents[i].key, v);
		xpc_release(v);
	}
	xpc_release(d);
	return ok;
}

#if defined(__BLOCKS__)
struct array_block_ctx {
	xpc_array_applier_t block;
};

static bool array_block_tramp(void *context, size_t index, xpc_object_t value)
{
	return ((struct array_block_ctx *)context)->block(index, value);
}

bool xpc_array_apply(xpc_object_t xarray, xpc_array_applier_t applier)
{
	if (!applier)
		return false;
	struct array_block_ctx ctx = { applier };
	return xpc_array_apply_f(xarray, &ctx, array_block_tramp);
}

struct dict_block_ctx {
	xpc_dictionary_applier_t block;
};

static bool dict_block_tramp(void *context, const char *key, xpc_object_t value)
{
	return ((struct dict_block_ctx *)context)->block(key, value);
}

bool xpc_dictionary_apply(xpc_object_t xdict, xpc_dictionary_applier_t applier)
{
	if (!applier)
		return false;
	struct dict_block_ctx ctx = { applier };
	return xpc_dictionary_apply_f(xdict, &ctx, dict_block_tramp);
}
#endif

/* ---------------------------------------------------------------------- */
/* copy / equal / hash                                                     */
/* ---------------------------------------------------------------------- */

static xpc_object_t array_copy(const struct xpc_array *src)
{
	struct xpc_array *a = xpc_array_create_empty();
	for (size_t i = 0; a && i < src->count; i++) {
		struct xobj *c = xpc_copy(src->items[i]);
		bool ok = c && array_push(a, c);
		xpc_release(c);
		if (!ok) {
			xpc_release(a);
			a = NULL;
		}
	}
	return a;
}

static xpc_object_t dict_copy(const struct _xpc_dictionary_s *src)
{
	struct _xpc_dictionary_s *d = xpc_dictionary_create_empty();
	for (size_t i = 0; d && i < src->count; i++) {
		struct xobj *c = xpc_copy(src->ents[i].value);
		bool ok = c && dict_append(d, src->ents[i].key, c);
		xpc_release(c);
		if (!ok) {
			xpc_release(d);
			d = NULL;
		}
	}
	return d;
}

/*
 * Deep-copies arrays and dictionaries. Every other object is immutable, so
 * its "copy" is the same object with one more reference.
 */
xpc_object_t xpc_copy(xpc_object_t object)
{
	struct xobj *o = object;
	if (!o)
		return NULL;
	if (o->type == XPC_TYPE_ARRAY)
		return array_copy((struct xpc_array *)o);
	if (o->type == XPC_TYPE_DICTIONARY)
		return dict_copy((struct _xpc_dictionary_s *)o);
	return xpc_retain(o);
}

/* Doubles are equal when == holds or both are NaN (so that equal is reflexive). */
static bool double_equal(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

static bool array_equal(const struct xpc_array *a, const struct xpc_array *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (!xpc_equal(a->items[i], b->items[i]))
			return false;
	return true;
}

/* Order-insensitive: same key set and equal values. */
static bool dict_equal(const struct _xpc_dictionary_s *a, const struct _xpc_dictionary_s *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		size_t j = dict_find(b, a->ents[i].key);
		if (j == NPOS || !xpc_equal(a->ents[i].value, b->ents[j].value))
			return false;
	}
	return true;
}

/* Both objects have the same scalar type. */
static bool scalar_equal(const struct xobj *a, const struct xobj *b)
{
	xpc_type_t t = a->type;
	if (t == XPC_TYPE_INT64)
		return ((const struct xpc_int64 *)a)->value == ((const struct xpc_int64 *)b)->value;
	if (t == XPC_TYPE_UINT64)
		return ((const struct xpc_uint64 *)a)->value == ((const struct xpc_uint64 *)b)->value;
	if (t == XPC_TYPE_DOUBLE)
		return double_equal(((const struct xpc_double *)a)->value, ((const struct xpc_double *)b)->value);
	if (t == XPC_TYPE_BOOL)
		return ((const struct _xpc_bool_s *)a)->value == ((const struct _xpc_bool_s *)b)->value;
	if (t == XPC_TYPE_NULL)
		return true;
	if (t == XPC_TYPE_UUID)
		return memcmp(((const struct xpc_uuid *)a)->bytes, ((const struct xpc_uuid *)b)->bytes,
			      sizeof(uuid_t)) == 0;
	if (t == XPC_TYPE_STRING) {
		const struct xpc_string *x = (const void *)a, *y = (const void *)b;
		return x->length == y->length && memcmp(x->str, y->str, x->length) == 0;
	}
	if (t == XPC_TYPE_DATA) {
		const struct xpc_data *x = (const void *)a, *y = (const void *)b;
		return x->length == y->length && memcmp(x->bytes, y->bytes, x->length) == 0;
	}
	return false; /* connection, date, fd: identity only */
}

bool xpc_equal(xpc_object_t object1, xpc_object_t object2)
{
	const struct xobj *a = object1, *b = object2;
	if (a == b)
		return a != NULL;
	if (!a || !b || a->type != b->type)
		return false;
	if (a->type == XPC_TYPE_ARRAY)
		return array_equal((const void *)a, (const void *)b);
	if (is_dict_like(a))
		return dict_equal((const void *)a, (const void *)b);
	return scalar_equal(a, b);
}

static size_t double_hash(double v)
{
	if (v == 0.0)
		v = 0.0; /* -0.0 == 0.0 must hash alike */
	if (isnan(v))
		return 0x7ff8;
	return hash_bytes(&v, sizeof(v), HASH_SEED);
}

/* Hash of a scalar: consistent with scalar_equal. */
static size_t scalar_hash(const struct xobj *o)
{
	xpc_type_t t = o->type;
	size_t h = hash_bytes(t->name, strlen(t->name), HASH_SEED);
	const void *p = NULL;
	size_t n = 0;
	if (t == XPC_TYPE_INT64 || t == XPC_TYPE_UINT64) {
		p = &((const struct xpc_int64 *)o)->value; /* same layout for both */
		n = sizeof(int64_t);
	} else if (t == XPC_TYPE_DOUBLE) {
		return hash_mix(h, double_hash(((const struct xpc_double *)o)->value));
	} else if (t == XPC_TYPE_BOOL) {
		return hash_mix(h, ((const struct _xpc_bool_s *)o)->value);
	} else if (t == XPC_TYPE_UUID) {
		p = ((const struct xpc_uuid *)o)->bytes;
		n = sizeof(uuid_t);
	} else if (t == XPC_TYPE_STRING) {
		p = ((const struct xpc_string *)o)->str;
		n = ((const struct xpc_string *)o)->length;
	} else if (t == XPC_TYPE_DATA) {
		p = ((const struct xpc_data *)o)->bytes;
		n = ((const struct xpc_data *)o)->length;
	} else if (t != XPC_TYPE_NULL) {
		return hash_mix(h, (size_t)(uintptr_t)o); /* identity-compared types */
	}
	return p ? hash_mix(h, hash_bytes(p, n, HASH_SEED)) : h;
}

/* Equal objects hash alike; dictionary hashes do not depend on key order. */
size_t xpc_hash(xpc_object_t object)
{
	const struct xobj *o = object;
	if (!o)
		return 0;
	if (o->type == XPC_TYPE_ARRAY) {
		const struct xpc_array *a = (const void *)o;
		size_t h = hash_mix(0x41, a->count);
		for (size_t i = 0; i < a->count; i++)
			h = hash_mix(h, xpc_hash(a->items[i]));
		return h;
	}
	if (is_dict_like(o)) {
		const struct _xpc_dictionary_s *d = (const void *)o;
		size_t sum = 0;
		for (size_t i = 0; i < d->count; i++)
			sum += hash_mix(key_hash(d->ents[i].key), xpc_hash(d->ents[i].value));
		return hash_mix(hash_mix(o->type == XPC_TYPE_ERROR ? 0x45 : 0x44, d->count), sum);
	}
	return scalar_hash(o);
}

/* ---------------------------------------------------------------------- */
/* description                                                             */
/* ---------------------------------------------------------------------- */

/* Growable text buffer; after an allocation failure it stops growing and oom is set. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool sb_reserve(struct sbuf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (extra < b->cap - b->len)
		return true;
	size_t ncap = b->cap ? b->cap : 128;
	while (ncap - b->len <= extra) {
		if (ncap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		ncap *= 2;
	}
	char *n = realloc(b->p, ncap);
	if (!n) {
		b->oom = true;
		return false;
	}
	b->p = n;
	b->cap = ncap;
	return true;
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sb_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sb_putc(struct sbuf *b, char c)
{
	if (sb_reserve(b, 1)) {
		b->p[b->len++] = c;
		b->p[b->len] = '\0';
	}
}

static void sb_indent(struct sbuf *b, int depth)
{
	for (int i = 0; i < depth; i++)
		sb_putc(b, '\t');
}

/* Appends s[0..len) in double quotes, escaping quotes, backslashes and control bytes. */
static void sb_quoted(struct sbuf *b, const char *s, size_t len)
{
	sb_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c == '\n')
			sb_printf(b, "\\n");
		else if (c == '\t')
			sb_printf(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			sb_printf(b, "\\x%02x", c);
		else
			sb_putc(b, (char)c);
	}
	sb_putc(b, '"');
}

#define DESC_DATA_MAX 64

static void describe(struct sbuf *b, const struct xobj *o, int depth);

static void describe_array(struct sbuf *b, const struct xpc_array *a, int depth)
{
	sb_printf(b, "<array: %p> { count = %zu, contents =\n", (const void *)a, a->count);
	for (size_t i = 0; i < a->count; i++) {
		sb_indent(b, depth + 1);
		sb_printf(b, "%zu: ", i);
		describe(b, a->items[i], depth + 1);
		sb_printf(b, "\n");
	}
	sb_indent(b, depth);
	sb_printf(b, "}");
}

static void describe_dict(struct sbuf *b, const struct _xpc_dictionary_s *d, int depth)
{
	sb_printf(b, "<%s: %p> { count = %zu, contents =\n", d->h.type->name, (const void *)d, d->count);
	for (size_t i = 0; i < d->count; i++) {
		sb_indent(b, depth + 1);
		sb_quoted(b, d->ents[i].key, strlen(d->ents[i].key));
		sb_printf(b, " => ");
		describe(b, d->ents[i].value, depth + 1);
		sb_printf(b, "\n");
	}
	sb_indent(b, depth);
	sb_printf(b, "}");
}

static void describe_data(struct sbuf *b, const struct xpc_data *d)
{
	sb_printf(b, "<data: %p> { length = %zu bytes, contents = 0x", (const void *)d, d->length);
	for (size_t i = 0; i < d->length && i < DESC_DATA_MAX; i++)
		sb_printf(b, "%02x", d->bytes[i]);
	sb_printf(b, "%s }", d->length > DESC_DATA_MAX ? "..." : "");
}

/* Appends the description of one object (nested lines indented by depth tabs). */
static void describe(struct sbuf *b, const struct xobj *o, int depth)
{
	xpc_type_t t = o->type;
	const void *p = o;
	if (t == XPC_TYPE_ARRAY) {
		describe_array(b, p, depth);
	} else if (is_dict_like(o)) {
		describe_dict(b, p, depth);
	} else if (t == XPC_TYPE_STRING) {
		const struct xpc_string *s = p;
		sb_printf(b, "<string: %p> { length = %zu, contents = ", p, s->length);
		sb_quoted(b, s->str, s->length);
		sb_printf(b, " }");
	} else if (t == XPC_TYPE_DATA) {
		describe_data(b, p);
	} else if (t == XPC_TYPE_UUID) {
		char text[37];
		uuid_unparse_upper(((const struct xpc_uuid *)p)->bytes, text);
		sb_printf(b, "<uuid: %p> %s", p, text);
	} else if (t == XPC_TYPE_INT64) {
		sb_printf(b, "<int64: %p>: %lld", p, (long long)((const struct xpc_int64 *)p)->value);
	} else if (t == XPC_TYPE_UINT64) {
		sb_printf(b, "<uint64: %p>: %llu", p, (unsigned long long)((const struct xpc_uint64 *)p)->value);
	} else if (t == XPC_TYPE_DOUBLE) {
		sb_printf(b, "<double: %p>: %.17g", p, ((const struct xpc_double *)p)->value);
	} else if (t == XPC_TYPE_BOOL) {
		sb_printf(b, "<bool: %p>: %s", p, ((const struct _xpc_bool_s *)p)->value ? "true" : "false");
	} else {
		sb_printf(b, "<%s: %p>", t && t->name ? t->name : "unknown", p);
	}
}

char *xpc_copy_description(xpc_object_t object)
{
	if (!object)
		return NULL;
	struct sbuf b = { 0 };
	describe(&b, object, 0);
	if (b.oom || !b.p) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* ---------------------------------------------------------------------- */
/* connections: there is no XPC transport on Linux, every call fails       */
/* ---------------------------------------------------------------------- */

xpc_connection_t xpc_connection_create_mach_service(const char *name, dispatch_queue_t targetq, uint64_t flags)
{
	return NULL;
}

xpc_connection_t xpc_connection_create(const char *name, dispatch_queue_t targetq)
{
	return NULL;
}

void xpc_connection_set_event_handler_f(xpc_connection_t connection, void *context,
					void (*handler)(void *context, xpc_object_t object))
{
}

#if defined(__BLOCKS__)
void xpc_connection_set_event_handler(xpc_connection_t connection, xpc_handler_t handler)
{
}

void xpc_connection_send_message_with_reply(xpc_connection_t connection, xpc_object_t message,
					    dispatch_queue_t replyq, xpc_handler_t handler)
{
}
#endif

void xpc_connection_resume(xpc_connection_t connection)
{
}

void xpc_connection_suspend(xpc_connection_t connection)
{
}

void xpc_connection_cancel(xpc_connection_t connection)
{
}

void xpc_connection_send_message(xpc_connection_t connection, xpc_object_t message)
{
}

xpc_object_t xpc_connection_send_message_with_reply_sync(xpc_connection_t connection, xpc_object_t message)
{
	return XPC_ERROR_CONNECTION_INVALID;
}

pid_t xpc_connection_get_pid(xpc_connection_t connection)
{
	return 0;
}

uid_t xpc_connection_get_euid(xpc_connection_t connection)
{
	return (uid_t)-1;
}
