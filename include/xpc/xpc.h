/*
 * <xpc/xpc.h> — the subset of Apple's XPC object API that vmnet programs use.
 *
 * Reference-counted, immutable-type objects: dictionary, array, string,
 * int64, uint64, bool, double, uuid, data, null, plus an error type. The
 * connection API links but always fails (there is no XPC transport on Linux;
 * vmnet talks to vmnetd over its own control socket).
 *
 * Blocks-taking functions (xpc_dictionary_apply, xpc_array_apply) exist when
 * compiled with clang -fblocks; the *_f variants take a function pointer and a
 * context pointer and work from any C compiler.
 */
#ifndef VMNET_COMPAT_XPC_H
#define VMNET_COMPAT_XPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uuid/uuid.h>
#include <dispatch/dispatch.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef __nullable
#define __nullable
#endif
#ifndef __nonnull
#define __nonnull
#endif

typedef void *xpc_object_t;
typedef const struct _xpc_type_s *xpc_type_t;
struct _xpc_type_s {
	const char *name;
};

extern const struct _xpc_type_s _xpc_type_dictionary;
extern const struct _xpc_type_s _xpc_type_array;
extern const struct _xpc_type_s _xpc_type_string;
extern const struct _xpc_type_s _xpc_type_int64;
extern const struct _xpc_type_s _xpc_type_uint64;
extern const struct _xpc_type_s _xpc_type_bool;
extern const struct _xpc_type_s _xpc_type_double;
extern const struct _xpc_type_s _xpc_type_uuid;
extern const struct _xpc_type_s _xpc_type_data;
extern const struct _xpc_type_s _xpc_type_null;
extern const struct _xpc_type_s _xpc_type_error;
extern const struct _xpc_type_s _xpc_type_connection;
extern const struct _xpc_type_s _xpc_type_date;
extern const struct _xpc_type_s _xpc_type_fd;

#define XPC_TYPE_DICTIONARY (&_xpc_type_dictionary)
#define XPC_TYPE_ARRAY (&_xpc_type_array)
#define XPC_TYPE_STRING (&_xpc_type_string)
#define XPC_TYPE_INT64 (&_xpc_type_int64)
#define XPC_TYPE_UINT64 (&_xpc_type_uint64)
#define XPC_TYPE_BOOL (&_xpc_type_bool)
#define XPC_TYPE_DOUBLE (&_xpc_type_double)
#define XPC_TYPE_UUID (&_xpc_type_uuid)
#define XPC_TYPE_DATA (&_xpc_type_data)
#define XPC_TYPE_NULL (&_xpc_type_null)
#define XPC_TYPE_ERROR (&_xpc_type_error)
#define XPC_TYPE_CONNECTION (&_xpc_type_connection)
#define XPC_TYPE_DATE (&_xpc_type_date)
#define XPC_TYPE_FD (&_xpc_type_fd)

/* The two boolean singletons (never freed; retain/release are no-ops). */
extern const struct _xpc_bool_s _xpc_bool_true;
extern const struct _xpc_bool_s _xpc_bool_false;
#define XPC_BOOL_TRUE ((xpc_object_t)(void *)&_xpc_bool_true)
#define XPC_BOOL_FALSE ((xpc_object_t)(void *)&_xpc_bool_false)

/* Error singletons delivered to connection handlers. */
extern const struct _xpc_dictionary_s _xpc_error_connection_invalid;
extern const struct _xpc_dictionary_s _xpc_error_connection_interrupted;
#define XPC_ERROR_CONNECTION_INVALID ((xpc_object_t)(void *)&_xpc_error_connection_invalid)
#define XPC_ERROR_CONNECTION_INTERRUPTED ((xpc_object_t)(void *)&_xpc_error_connection_interrupted)
#define XPC_ERROR_KEY_DESCRIPTION "XPCErrorDescription"

#define XPC_ARRAY_APPEND ((size_t)(-1))

/* ---- generic object functions ---- */
xpc_object_t xpc_retain(xpc_object_t object);
void xpc_release(xpc_object_t object);
xpc_type_t xpc_get_type(xpc_object_t object);
const char *xpc_type_get_name(xpc_type_t type);
xpc_object_t __nullable xpc_copy(xpc_object_t object);
bool xpc_equal(xpc_object_t object1, xpc_object_t object2);
size_t xpc_hash(xpc_object_t object);
/* Returns a malloc'd, NUL-terminated description; free() it. */
char *xpc_copy_description(xpc_object_t object);

/* ---- scalars ---- */
xpc_object_t xpc_null_create(void);
xpc_object_t xpc_bool_create(bool value);
bool xpc_bool_get_value(xpc_object_t xbool);
xpc_object_t xpc_int64_create(int64_t value);
int64_t xpc_int64_get_value(xpc_object_t xint);
xpc_object_t xpc_uint64_create(uint64_t value);
uint64_t xpc_uint64_get_value(xpc_object_t xuint);
xpc_object_t xpc_double_create(double value);
double xpc_double_get_value(xpc_object_t xdouble);
xpc_object_t xpc_string_create(const char *string);
xpc_object_t xpc_string_create_with_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t xpc_string_get_length(xpc_object_t xstring);
const char *__nullable xpc_string_get_string_ptr(xpc_object_t xstring);
xpc_object_t xpc_uuid_create(const uuid_t uuid);
const uint8_t *__nullable xpc_uuid_get_bytes(xpc_object_t xuuid);
xpc_object_t xpc_data_create(const void *__nullable bytes, size_t length);
const void *__nullable xpc_data_get_bytes_ptr(xpc_object_t xdata);
size_t xpc_data_get_length(xpc_object_t xdata);
size_t xpc_data_get_bytes(xpc_object_t xdata, void *buffer, size_t off, size_t length);

/* ---- arrays ---- */
xpc_object_t xpc_array_create(const xpc_object_t __nullable *__nullable objects, size_t count);
xpc_object_t xpc_array_create_empty(void);
void xpc_array_set_value(xpc_object_t xarray, size_t index, xpc_object_t value);
void xpc_array_append_value(xpc_object_t xarray, xpc_object_t value);
size_t xpc_array_get_count(xpc_object_t xarray);
xpc_object_t __nullable xpc_array_get_value(xpc_object_t xarray, size_t index);
void xpc_array_set_bool(xpc_object_t xarray, size_t index, bool value);
void xpc_array_set_int64(xpc_object_t xarray, size_t index, int64_t value);
void xpc_array_set_uint64(xpc_object_t xarray, size_t index, uint64_t value);
void xpc_array_set_string(xpc_object_t xarray, size_t index, const char *string);
void xpc_array_set_uuid(xpc_object_t xarray, size_t index, const uuid_t uuid);
void xpc_array_set_data(xpc_object_t xarray, size_t index, const void *bytes, size_t length);
bool xpc_array_get_bool(xpc_object_t xarray, size_t index);
int64_t xpc_array_get_int64(xpc_object_t xarray, size_t index);
uint64_t xpc_array_get_uint64(xpc_object_t xarray, size_t index);
const char *__nullable xpc_array_get_string(xpc_object_t xarray, size_t index);
const uint8_t *__nullable xpc_array_get_uuid(xpc_object_t xarray, size_t index);
xpc_object_t __nullable xpc_array_get_dictionary(xpc_object_t xarray, size_t index);
xpc_object_t __nullable xpc_array_get_array(xpc_object_t xarray, size_t index);

typedef bool (*xpc_array_applier_f)(void *__nullable context, size_t index, xpc_object_t value);
bool xpc_array_apply_f(xpc_object_t xarray, void *__nullable context, xpc_array_applier_f applier);

/* ---- dictionaries ---- */
xpc_object_t xpc_dictionary_create(const char *const __nullable *__nullable keys,
				   const xpc_object_t __nullable *__nullable values, size_t count);
xpc_object_t xpc_dictionary_create_empty(void);
xpc_object_t __nullable xpc_dictionary_create_reply(xpc_object_t original);
void xpc_dictionary_set_value(xpc_object_t xdict, const char *key, xpc_object_t __nullable value);
xpc_object_t __nullable xpc_dictionary_get_value(xpc_object_t xdict, const char *key);
size_t xpc_dictionary_get_count(xpc_object_t xdict);
void xpc_dictionary_set_bool(xpc_object_t xdict, const char *key, bool value);
void xpc_dictionary_set_int64(xpc_object_t xdict, const char *key, int64_t value);
void xpc_dictionary_set_uint64(xpc_object_t xdict, const char *key, uint64_t value);
void xpc_dictionary_set_double(xpc_object_t xdict, const char *key, double value);
void xpc_dictionary_set_string(xpc_object_t xdict, const char *key, const char *string);
void xpc_dictionary_set_uuid(xpc_object_t xdict, const char *key, const uuid_t uuid);
void xpc_dictionary_set_data(xpc_object_t xdict, const char *key, const void *bytes, size_t length);
bool xpc_dictionary_get_bool(xpc_object_t xdict, const char *key);
int64_t xpc_dictionary_get_int64(xpc_object_t xdict, const char *key);
uint64_t xpc_dictionary_get_uint64(xpc_object_t xdict, const char *key);
double xpc_dictionary_get_double(xpc_object_t xdict, const char *key);
const char *__nullable xpc_dictionary_get_string(xpc_object_t xdict, const char *key);
const uint8_t *__nullable xpc_dictionary_get_uuid(xpc_object_t xdict, const char *key);
const void *__nullable xpc_dictionary_get_data(xpc_object_t xdict, const char *key, size_t *__nullable length);
xpc_object_t __nullable xpc_dictionary_get_dictionary(xpc_object_t xdict, const char *key);
xpc_object_t __nullable xpc_dictionary_get_array(xpc_object_t xdict, const char *key);

typedef bool (*xpc_dictionary_applier_f)(void *__nullable context, const char *key, xpc_object_t value);
bool xpc_dictionary_apply_f(xpc_object_t xdict, void *__nullable context, xpc_dictionary_applier_f applier);

#if defined(__BLOCKS__)
typedef bool (^xpc_array_applier_t)(size_t index, xpc_object_t value);
typedef bool (^xpc_dictionary_applier_t)(const char *key, xpc_object_t value);
typedef void (^xpc_handler_t)(xpc_object_t object);
bool xpc_array_apply(xpc_object_t xarray, xpc_array_applier_t applier);
bool xpc_dictionary_apply(xpc_object_t xdict, xpc_dictionary_applier_t applier);
#else
typedef struct _xpc_block_opaque *xpc_array_applier_t;
typedef struct _xpc_block_opaque *xpc_dictionary_applier_t;
typedef struct _xpc_block_opaque *xpc_handler_t;
#endif

/* ---- connections: present so programs link; every call fails cleanly ---- */
typedef xpc_object_t xpc_connection_t;
#define XPC_CONNECTION_MACH_SERVICE_LISTENER (1 << 0)
#define XPC_CONNECTION_MACH_SERVICE_PRIVILEGED (1 << 1)
/* Returns NULL: there is no XPC transport on Linux. */
xpc_connection_t __nullable xpc_connection_create_mach_service(const char *name, dispatch_queue_t __nullable targetq,
							       uint64_t flags);
xpc_connection_t __nullable xpc_connection_create(const char *__nullable name, dispatch_queue_t __nullable targetq);
void xpc_connection_set_event_handler_f(xpc_connection_t connection, void *__nullable context,
					void (*handler)(void *__nullable context, xpc_object_t object));
#if defined(__BLOCKS__)
void xpc_connection_set_event_handler(xpc_connection_t connection, xpc_handler_t handler);
void xpc_connection_send_message_with_reply(xpc_connection_t connection, xpc_object_t message,
					    dispatch_queue_t __nullable replyq, xpc_handler_t handler);
#endif
void xpc_connection_resume(xpc_connection_t connection);
void xpc_connection_suspend(xpc_connection_t connection);
void xpc_connection_cancel(xpc_connection_t connection);
void xpc_connection_send_message(xpc_connection_t connection, xpc_object_t message);
/* Always returns XPC_ERROR_CONNECTION_INVALID. */
xpc_object_t xpc_connection_send_message_with_reply_sync(xpc_connection_t connection, xpc_object_t message);
pid_t xpc_connection_get_pid(xpc_connection_t connection);
uid_t xpc_connection_get_euid(xpc_connection_t connection);

/*
 * Byte encoding of xpc objects (vmnet extension; docs/xpc-encoding.md).
 * xpc_vmnet_encode returns a malloc'd buffer (free()) and its length, or NULL
 * on an unsupported object. xpc_vmnet_decode returns a new object (+1) or NULL
 * for any malformed, truncated or over-deep input.
 */
void *__nullable xpc_vmnet_encode(xpc_object_t object, size_t *length);
xpc_object_t __nullable xpc_vmnet_decode(const void *bytes, size_t length);

#ifdef __cplusplus
}
#endif
#endif
