/*
 * dispatch_internal.h — extras of the libdispatch subset (lib/dispatch.c)
 * that the vmnet library uses itself but that are not part of Apple's
 * public <dispatch/dispatch.h>.
 */
#ifndef VMNET_LIB_DISPATCH_INTERNAL_H
#define VMNET_LIB_DISPATCH_INTERNAL_H

#include <stdbool.h>

#include <dispatch/dispatch.h>

/*
 * dispatch_queue_is_current() - is the calling thread running work of @q?
 *
 * True inside a work item running on @q, including while that item is
 * nested in dispatch_sync() calls onto other queues, and inside a
 * dispatch_sync() work function targeting @q. Useful to avoid dispatch_sync()
 * deadlocks (a dispatch_sync() onto a serial queue the caller already holds
 * never returns).
 *
 * Return: true when the calling thread currently runs work of @q; false for
 * any other thread and for a NULL @q.
 */
bool dispatch_queue_is_current(dispatch_queue_t q);

#endif
