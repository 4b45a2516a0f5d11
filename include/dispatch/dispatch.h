/*
 * <dispatch/dispatch.h> — the subset of libdispatch that vmnet programs use.
 *
 * Serial and concurrent queues (a concurrent queue runs blocking work items
 * side by side, each on its own thread when needed), global queues, the main
 * queue with dispatch_main(), async/sync/after, dispatch_time, semaphores with
 * timeouts, and retain/release of queues and semaphores.
 *
 * With clang -fblocks the block-taking functions (dispatch_async, ...) are
 * available (Apple block ABI, libBlocksRuntime). Every one of them has a *_f
 * twin taking a function pointer and a context pointer for plain C.
 */
#ifndef VMNET_COMPAT_DISPATCH_H
#define VMNET_COMPAT_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DISPATCH_EXPORT
#define DISPATCH_EXPORT extern
#endif

typedef struct dispatch_queue_s *dispatch_queue_t;
typedef struct dispatch_semaphore_s *dispatch_semaphore_t;
typedef struct dispatch_group_s *dispatch_group_t;
typedef struct dispatch_queue_attr_s *dispatch_queue_attr_t;
typedef struct dispatch_object_s *dispatch_object_s_ptr;

/* dispatch_retain/release accept any dispatch object without a cast. */
#if !defined(__cplusplus)
typedef union {
	struct dispatch_object_s *_do;
	struct dispatch_queue_s *_dq;
	struct dispatch_semaphore_s *_dsema;
	struct dispatch_group_s *_dg;
} dispatch_object_t __attribute__((__transparent_union__));
#else
typedef void *dispatch_object_t;
#endif

typedef uint64_t dispatch_time_t;
typedef void (*dispatch_function_t)(void *context);
typedef long dispatch_queue_priority_t;
typedef unsigned int dispatch_qos_class_t;

#define DISPATCH_TIME_NOW (0ull)
#define DISPATCH_TIME_FOREVER (~0ull)
#define DISPATCH_WALLTIME_NOW (~1ull)

#ifndef NSEC_PER_SEC
#define NSEC_PER_SEC 1000000000ull
#endif
#ifndef NSEC_PER_MSEC
#define NSEC_PER_MSEC 1000000ull
#endif
#ifndef USEC_PER_SEC
#define USEC_PER_SEC 1000000ull
#endif
#ifndef NSEC_PER_USEC
#define NSEC_PER_USEC 1000ull
#endif

#define DISPATCH_QUEUE_PRIORITY_HIGH 2
#define DISPATCH_QUEUE_PRIORITY_DEFAULT 0
#define DISPATCH_QUEUE_PRIORITY_LOW (-2)
#define DISPATCH_QUEUE_PRIORITY_BACKGROUND (-32768)

#define QOS_CLASS_USER_INTERACTIVE 0x21u
#define QOS_CLASS_USER_INITIATED 0x19u
#define QOS_CLASS_DEFAULT 0x15u
#define QOS_CLASS_UTILITY 0x11u
#define QOS_CLASS_BACKGROUND 0x09u
#define QOS_CLASS_UNSPECIFIED 0x00u

extern struct dispatch_queue_attr_s _dispatch_queue_attr_concurrent;
#define DISPATCH_QUEUE_SERIAL ((dispatch_queue_attr_t)0)
#define DISPATCH_QUEUE_CONCURRENT (&_dispatch_queue_attr_concurrent)

extern struct dispatch_queue_s _dispatch_main_q;

/* ---- time ---- */
dispatch_time_t dispatch_time(dispatch_time_t when, int64_t delta);
dispatch_time_t dispatch_walltime(const struct timespec *when, int64_t delta);

/* ---- queues ---- */
dispatch_queue_t dispatch_queue_create(const char *label, dispatch_queue_attr_t attr);
dispatch_queue_t dispatch_get_global_queue(long identifier, unsigned long flags);
dispatch_queue_t dispatch_get_main_queue(void);
const char *dispatch_queue_get_label(dispatch_queue_t queue);
void dispatch_async_f(dispatch_queue_t queue, void *context, dispatch_function_t work);
void dispatch_sync_f(dispatch_queue_t queue, void *context, dispatch_function_t work);
void dispatch_after_f(dispatch_time_t when, dispatch_queue_t queue, void *context, dispatch_function_t work);
void dispatch_barrier_async_f(dispatch_queue_t queue, void *context, dispatch_function_t work);
/* Runs the main queue on the calling thread; never returns. */
void dispatch_main(void) __attribute__((__noreturn__));

/* ---- semaphores ---- */
dispatch_semaphore_t dispatch_semaphore_create(long value);
/* Returns 0 on success, non-zero when the timeout expired. */
long dispatch_semaphore_wait(dispatch_semaphore_t dsema, dispatch_time_t timeout);
/* Returns non-zero when a waiter was woken. */
long dispatch_semaphore_signal(dispatch_semaphore_t dsema);

/* ---- groups ---- */
dispatch_group_t dispatch_group_create(void);
void dispatch_group_enter(dispatch_group_t group);
void dispatch_group_leave(dispatch_group_t group);
long dispatch_group_wait(dispatch_group_t group, dispatch_time_t timeout);
void dispatch_group_async_f(dispatch_group_t group, dispatch_queue_t queue, void *context, dispatch_function_t work);
void dispatch_group_notify_f(dispatch_group_t group, dispatch_queue_t queue, void *context, dispatch_function_t work);

/* ---- objects ---- */
void dispatch_retain(dispatch_object_t object);
void dispatch_release(dispatch_object_t object);

#if defined(__BLOCKS__)
typedef void (^dispatch_block_t)(void);
void dispatch_async(dispatch_queue_t queue, dispatch_block_t block);
void dispatch_sync(dispatch_queue_t queue, dispatch_block_t block);
void dispatch_after(dispatch_time_t when, dispatch_queue_t queue, dispatch_block_t block);
void dispatch_barrier_async(dispatch_queue_t queue, dispatch_block_t block);
void dispatch_group_async(dispatch_group_t group, dispatch_queue_t queue, dispatch_block_t block);
void dispatch_group_notify(dispatch_group_t group, dispatch_queue_t queue, dispatch_block_t block);
#else
typedef struct _dispatch_block_opaque *dispatch_block_t;
#endif

#ifdef __cplusplus
}
#endif
#endif
