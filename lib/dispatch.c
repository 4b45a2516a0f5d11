/*
 * dispatch.c — the subset of Apple's libdispatch that vmnet programs use,
 * implemented on POSIX threads (contract: include/dispatch/dispatch.h).
 *
 * Queues (serial, concurrent, global, main), async/sync/after/barrier,
 * dispatch_time, counting semaphores, groups, and reference counting of
 * queues, semaphores and groups. Every block-taking function is a thin
 * wrapper around its *_f twin, which does the real work.
 *
 * Theory of operation
 * -------------------
 * Work item. A malloc'd struct dispatch_item {queue, function, context,
 * flags}. It holds a reference on its queue from submission until it has
 * run, so a queue released by its client stays alive until its pending work
 * is done. dispatch_sync() uses an item on the caller's stack instead.
 *
 * Queue. A FIFO of pending items plus the number of items started and not yet
 * finished ("running") and whether a barrier runs. A queue has a width: 1 for
 * serial queues (and the main queue), unlimited for concurrent and global
 * queues. queue_pump() starts items from the head of the FIFO, in order, as
 * long as the head may start: nothing starts while a barrier runs, a barrier
 * starts only when nothing runs, any other item when running < width.
 * Starting an item means one of:
 *   - a dispatch_sync() item: its waiting caller is woken and runs the work on
 *     its own thread (as libdispatch does), the queue counting it as running;
 *   - an item of the main queue: it goes to the main queue's ready list,
 *     drained by the thread inside dispatch_main();
 *   - any other item: it goes to the worker pool's job list.
 * When an item finishes, its queue's running count drops and the queue is
 * pumped again. A worker that finished an item keeps the first item that
 * pump started on the same queue and runs it directly, so a busy serial
 * queue drains on one thread without handing over to the pool per item.
 * Serial order thus follows from width 1 and the FIFO; no thread belongs to
 * a queue, so an idle or released queue costs no thread.
 *
 * Worker pool. One process-wide FIFO of started items and a set of detached
 * threads taking from it. While queued jobs outnumber idle workers a new
 * thread is started (up to POOL_MAX_THREADS), so blocking work items on a
 * concurrent queue really run side by side. Threads are added one at a time:
 * the next is started when the previous one has begun taking jobs and a
 * backlog remains, so a burst of short items grows the pool gradually
 * instead of creating a thread per item. A worker idle for POOL_IDLE_NSEC
 * exits. Nothing spins: idle threads sleep on condition variables.
 *
 * Timers. dispatch_after_f() puts an entry on one deadline-sorted list served
 * by one lazily created timer thread, which sleeps until the earliest
 * deadline and then calls dispatch_async_f(); it exits after being idle for a
 * while and is re-created on demand.
 *
 * Signals. Every thread created here starts with all signals blocked, so a
 * process that waits for signals (sigwait, signalfd) gets them on its own
 * threads. The main queue runs on the caller of dispatch_main(), whose
 * signal mask is left alone. Library threads are named "dispatch-worker" and
 * "dispatch-timer".
 *
 * Lifetime. Nothing is torn down at exit (no destructors): an atexit handler
 * may still submit work and wait for it. After fork() the child resets the
 * pool and timer bookkeeping (their threads do not exist in the child);
 * work items that were running in the parent at the time of the fork never
 * finish in the child, so a child should not rely on such queues.
 *
 * NULL tolerance. A NULL queue, group, semaphore or work function makes a
 * call a no-op that runs nothing: submission functions return without
 * effect, dispatch_semaphore_wait() and dispatch_group_wait() return
 * non-zero, dispatch_semaphore_signal() returns 0, dispatch_retain() and
 * dispatch_release() ignore NULL, dispatch_queue_get_label(NULL) returns "".
 * Nothing is logged for these.
 *
 * Client bugs that would hang forever (dispatch_sync onto a queue the calling
 * thread holds exclusively) or corrupt state (unbalanced dispatch_group_leave)
 * print a message and abort(), as libdispatch does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setname_np */
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BLOCKS__)
#include <Block.h>
#endif

#include <dispatch/dispatch.h>

#include "dispatch_internal.h"

#define POOL_MAX_THREADS 512u
#define POOL_IDLE_NSEC (5ull * NSEC_PER_SEC)
#define TIMER_IDLE_NSEC (5ull * NSEC_PER_SEC)
#define QUEUE_WIDTH_UNLIMITED UINT_MAX
/* What libdispatch returns for a timed-out wait (KERN_OPERATION_TIMED_OUT). */
#define DISPATCH_WAIT_TIMED_OUT 49L

enum dispatch_kind { KIND_QUEUE = 1, KIND_SEMAPHORE, KIND_GROUP };

/* Common head of every dispatch object. */
struct dispatch_object_s {
	atomic_long refcnt;
	enum dispatch_kind kind;
	bool immortal; /* global and main queues: retain/release do nothing */
};

struct dispatch_queue_attr_s {
	bool concurrent;
};

struct dispatch_queue_attr_s _dispatch_queue_attr_concurrent = { .concurrent = true };

/* A caller of dispatch_sync_f() waiting for its turn on a queue. */
struct sync_waiter {
	pthread_cond_t cond; /* used with the queue's lock */
	bool granted;
};

struct dispatch_item {
	struct dispatch_item *next;
	struct dispatch_queue_s *queue;
	dispatch_function_t work;
	void *context;
	struct dispatch_group_s *group; /* dispatch_group_async: leave when done */
	struct sync_waiter *waiter;	/* dispatch_sync item (on the caller's stack) */
	bool barrier;
};

struct item_list {
	struct dispatch_item *head, *tail;
};

struct dispatch_queue_s {
	struct dispatch_object_s base;
	pthread_mutex_t lock;
	const char *label;
	bool label_owned;
	bool global;
	unsigned width;
	unsigned running;
	bool barrier_active;
	struct item_list pending;
	/* main queue only: started items for the dispatch_main() thread */
	struct item_list ready;
	pthread_cond_t ready_cond;
};

struct dispatch_semaphore_s {
	struct dispatch_object_s base;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long value;   /* negative: number of waiters not yet given a wakeup */
	long wakeups; /* signals handed to waiters and not yet consumed */
};

struct dispatch_group_s {
	struct dispatch_object_s base;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long count;		  /* entered and not yet left */
	struct item_list notify;  /* queue holds a reference */
};

struct timer_entry {
	struct timer_entry *next;
	dispatch_time_t deadline;
	struct dispatch_queue_s *queue; /* holds a reference */
	dispatch_function_t work;
	void *context;
};

/* One element of the per-thread stack of queues whose work is running. */
struct queue_frame {
	struct queue_frame *prev;
	struct dispatch_queue_s *queue;
	bool exclusive; /* serial queue or barrier: nothing else runs on it */
};

static __thread struct queue_frame *current_frames;

#define STATIC_QUEUE(name, w, is_global) \
	{ \
		.base = { .refcnt = 1, .kind = KIND_QUEUE, .immortal = true }, \
		.lock = PTHREAD_MUTEX_INITIALIZER, .label = (name), .global = (is_global), \
		.width = (w), .ready_cond = PTHREAD_COND_INITIALIZER, \
	}

struct dispatch_queue_s _dispatch_main_q = STATIC_QUEUE("com.apple.main-thread", 1, false);

enum { GLOBAL_HIGH, GLOBAL_DEFAULT, GLOBAL_LOW, GLOBAL_BACKGROUND, GLOBAL_COUNT };

static struct dispatch_queue_s global_queues[GLOBAL_COUNT] = {
	[GLOBAL_HIGH] = STATIC_QUEUE("com.apple.root.user-initiated-qos", QUEUE_WIDTH_UNLIMITED, true),
	[GLOBAL_DEFAULT] = STATIC_QUEUE("com.apple.root.default-qos", QUEUE_WIDTH_UNLIMITED, true),
	[GLOBAL_LOW] = STATIC_QUEUE("com.apple.root.utility-qos", QUEUE_WIDTH_UNLIMITED, true),
	[GLOBAL_BACKGROUND] = STATIC_QUEUE("com.apple.root.background-qos", QUEUE_WIDTH_UNLIMITED, true),
};

/* The worker pool (see theory of operation). cond uses CLOCK_MONOTONIC. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item_list jobs;
	unsigned njobs;
	unsigned nthreads;
	unsigned nidle;	    /* threads not running an item (incl. ones starting up) */
	unsigned nstarting; /* created threads that have not yet reached pool_take() */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The dispatch_after timer list. cond uses CLOCK_MONOTONIC. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct timer_entry *head; /* sorted by deadline, FIFO among equals */
	bool thread_running;
} timers = { .lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static void dispatch_crash(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Reports a client bug that cannot be survived, then aborts. */
static void dispatch_crash(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("dispatch: BUG IN CLIENT: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* Return: newly allocated zeroed memory; aborts when out of memory. */
static void *xcalloc(size_t size)
{
	void *p = calloc(1, size);

	if (p == NULL) {
		fputs("dispatch: out of memory\n", stderr);
		abort();
	}
	return p;
}

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_now(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

/*
 * Waits on a CLOCK_MONOTONIC @cond until @deadline (dispatch_time units;
 * DISPATCH_TIME_FOREVER waits without limit).
 * Return: 0 when woken, ETIMEDOUT when the deadline passed.
 */
static int cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, dispatch_time_t deadline)
{
	struct timespec ts;

	if (deadline == DISPATCH_TIME_FOREVER)
		return pthread_cond_wait(cond, lock);
	ts.tv_sec = (time_t)(deadline / NSEC_PER_SEC);
	ts.tv_nsec = (long)(deadline % NSEC_PER_SEC);
	return pthread_cond_timedwait(cond, lock, &ts);
}

static void list_push(struct item_list *l, struct dispatch_item *it)
{
	it->next = NULL;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
}

static struct dispatch_item *list_pop(struct item_list *l)
{
	struct dispatch_item *it = l->head;

	if (it) {
		l->head = it->next;
		if (l->head == NULL)
			l->tail = NULL;
		it->next = NULL;
	}
	return it;
}

/*
 * Starts a detached thread running @fn(@arg) with every signal blocked; the
 * caller's signal mask is restored afterwards.
 * Return: true when the thread was created.
 */
static bool spawn_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t tid;
	int rc;

	if (pthread_attr_init(&attr) != 0)
		return false;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&tid, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc == 0;
}

/* ------------------------------------------------------------------ */
/* process-wide setup and fork handling                                */
/* ------------------------------------------------------------------ */

static void *worker_main(void *arg);
static void *timer_main(void *arg);
static bool pool_need_worker(void);
static void pool_start_worker(void);

static void atfork_prepare(void)
{
	pthread_mutex_lock(&timers.lock);
	pthread_mutex_lock(&pool.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&pool.lock);
	pthread_mutex_unlock(&timers.lock);
}

/*
 * In the child only the forking thread exists: forget the parent's pool and
 * timer threads and start fresh ones for work that is already queued.
 */
static void atfork_child(void)
{
	pthread_mutex_init(&pool.lock, NULL);
	cond_init_monotonic(&pool.cond);
	pthread_mutex_init(&timers.lock, NULL);
	cond_init_monotonic(&timers.cond);
	pool.nthreads = 0;
	pool.nidle = 0;
	pool.nstarting = 0;
	if (pool_need_worker())
		pool_start_worker(); /* more follow while a backlog remains */
	timers.thread_running = timers.head != NULL && spawn_detached(timer_main, NULL);
}

static void lib_init(void)
{
	cond_init_monotonic(&pool.cond);
	cond_init_monotonic(&timers.cond);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ------------------------------------------------------------------ */
/* worker pool                                                         */
/* ------------------------------------------------------------------ */

static struct dispatch_item *item_run(struct dispatch_item *it);

/*
 * Reserves a new worker when queued jobs outnumber idle workers and no other
 * new worker is still starting (threads are added one after another: each
 * new worker checks again once it runs, so a backlog of blocking items gets
 * one thread each, while a burst of short items does not get a thread per
 * item).
 * Called with pool.lock held.
 * Return: true when the caller must call pool_start_worker() after unlocking.
 */
static bool pool_need_worker(void)
{
	if (pool.njobs <= pool.nidle || pool.nstarting > 0 || pool.nthreads >= POOL_MAX_THREADS)
		return false;
	pool.nthreads++;
	pool.nidle++;
	pool.nstarting++;
	return true;
}

/* Starts the worker reserved by pool_need_worker(). */
static void pool_start_worker(void)
{
	/* On failure queued jobs wait for the threads that exist (the next submission retries). */
	if (!spawn_detached(worker_main, NULL)) {
		pthread_mutex_lock(&pool.lock);
		pool.nthreads--;
		pool.nidle--;
		pool.nstarting--;
		pthread_mutex_unlock(&pool.lock);
	}
}

/* Queues a started item for the workers, adding a worker when none is idle. */
static void pool_submit(struct dispatch_item *it)
{
	bool spawn;

	pthread_once(&lib_once, lib_init);
	pthread_mutex_lock(&pool.lock);
	list_push(&pool.jobs, it);
	pool.njobs++;
	pthread_cond_signal(&pool.cond);
	spawn = pool_need_worker();
	pthread_mutex_unlock(&pool.lock);
	if (spawn)
		pool_start_worker();
}

/*
 * Takes the next job for a worker, sleeping while there is none.
 * @fresh: first call of a new worker; otherwise the worker comes back from
 * running items and becomes idle again.
 * Return: the job, or NULL when the worker idled too long and must exit.
 */
static struct dispatch_item *pool_take(bool fresh)
{
	dispatch_time_t deadline = mono_now() + POOL_IDLE_NSEC;
	struct dispatch_item *it;
	bool spawn;

	pthread_mutex_lock(&pool.lock);
	if (fresh)
		pool.nstarting--; /* already counted idle */
	else
		pool.nidle++;
	while (pool.jobs.head == NULL) {
		if (cond_wait_until(&pool.cond, &pool.lock, deadline) == ETIMEDOUT && pool.jobs.head == NULL) {
			pool.nthreads--;
			pool.nidle--;
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
	}
	it = list_pop(&pool.jobs);
	pool.njobs--;
	pool.nidle--;
	spawn = pool_need_worker(); /* continue the chain while a backlog remains */
	pthread_mutex_unlock(&pool.lock);
	if (spawn)
		pool_start_worker();
	return it;
}

static void *worker_main(void *arg)
{
	struct dispatch_item *it;
	bool fresh = true;

	(void)arg;
	pthread_setname_np(pthread_self(), "dispatch-worker");
	while ((it = pool_take(fresh)) != NULL) {
		fresh = false;
		while (it != NULL)
			it = item_run(it);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* queues                                                              */
/* ------------------------------------------------------------------ */

static bool queue_can_start(const struct dispatch_queue_s *q, const struct dispatch_item *it)
{
	if (q->barrier_active)
		return false;
	if (it->barrier)
		return q->running == 0;
	return q->running < q->width;
}

/*
 * Starts, in FIFO order, every pending item of @q that may start now (see
 * theory of operation). Called with q->lock held. @want_one: the caller is a
 * worker that will run one started item itself.
 * Return: the item the caller must run, or NULL.
 */
static struct dispatch_item *queue_pump(struct dispatch_queue_s *q, bool want_one)
{
	struct dispatch_item *keep = NULL, *it;

	while (q->pending.head != NULL && queue_can_start(q, q->pending.head)) {
		it = list_pop(&q->pending);
		q->running++;
		if (it->barrier)
			q->barrier_active = true;
		if (it->waiter != NULL) {
			it->waiter->granted = true;
			pthread_cond_signal(&it->waiter->cond);
		} else if (q == &_dispatch_main_q) {
			list_push(&q->ready, it);
			pthread_cond_signal(&q->ready_cond);
		} else if (want_one && keep == NULL) {
			keep = it;
		} else {
			pool_submit(it);
		}
	}
	return keep;
}

/* Appends @it to @q and starts what can start. */
static void queue_enqueue(struct dispatch_queue_s *q, struct dispatch_item *it)
{
	pthread_mutex_lock(&q->lock);
	list_push(&q->pending, it);
	queue_pump(q, false);
	pthread_mutex_unlock(&q->lock);
}

/*
 * Records that an item of @q (a barrier if @barrier) finished and starts
 * what may start now. Return: as queue_pump().
 */
static struct dispatch_item *queue_finish(struct dispatch_queue_s *q, bool barrier, bool want_one)
{
	struct dispatch_item *next;

	pthread_mutex_lock(&q->lock);
	q->running--;
	if (barrier)
		q->barrier_active = false;
	next = queue_pump(q, want_one);
	pthread_mutex_unlock(&q->lock);
	return next;
}

/* Calls @work(@context) marked as running on @q for dispatch_queue_is_current(). */
static void run_on_queue(struct dispatch_queue_s *q, bool exclusive, dispatch_function_t work, void *context)
{
	struct queue_frame frame = { .prev = current_frames, .queue = q, .exclusive = exclusive };

	current_frames = &frame;
	work(context);
	current_frames = frame.prev;
}

/*
 * Runs a started item, finishes it on its queue and frees it.
 * Return: the next item of the same queue the calling worker should run, or
 * NULL (always NULL for the main queue, whose items go to its ready list).
 */
static struct dispatch_item *item_run(struct dispatch_item *it)
{
	struct dispatch_queue_s *q = it->queue;
	struct dispatch_item *next;

	run_on_queue(q, q->width == 1 || it->barrier, it->work, it->context);
	if (it->group != NULL)
		dispatch_group_leave(it->group);
	next = queue_finish(q, it->barrier, q != &_dispatch_main_q);
	free(it);
	dispatch_release(q); /* the item's reference */
	return next;
}

/* Creates and enqueues an item on @q, which must not be NULL. */
static void queue_submit(struct dispatch_queue_s *q, void *context, dispatch_function_t work, bool barrier,
			 struct dispatch_group_s *group)
{
	struct dispatch_item *it = xcalloc(sizeof(*it));

	it->queue = q;
	it->work = work;
	it->context = context;
	it->group = group;
	it->barrier = barrier && !q->global; /* barriers mean nothing on global queues */
	dispatch_retain(q);
	queue_enqueue(q, it);
}

static void queue_destroy(struct dispatch_queue_s *q)
{
	pthread_mutex_destroy(&q->lock);
	if (q->label_owned)
		free((char *)q->label);
	free(q);
}

bool dispatch_queue_is_current(dispatch_queue_t q)
{
	const struct queue_frame *f;

	for (f = current_frames; q != NULL && f != NULL; f = f->prev)
		if (f->queue == q)
			return true;
	return false;
}

/* Return: true when the calling thread runs work of @q that excludes all else on @q. */
static bool queue_held_exclusively(const struct dispatch_queue_s *q)
{
	const struct queue_frame *f;

	for (f = current_frames; f != NULL; f = f->prev)
		if (f->queue == q && f->exclusive)
			return true;
	return false;
}

dispatch_queue_t dispatch_queue_create(const char *label, dispatch_queue_attr_t attr)
{
	struct dispatch_queue_s *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	atomic_init(&q->base.refcnt, 1);
	q->base.kind = KIND_QUEUE;
	pthread_mutex_init(&q->lock, NULL);
	q->width = (attr != NULL && attr->concurrent) ? QUEUE_WIDTH_UNLIMITED : 1;
	q->label = "";
	if (label != NULL && label[0] != '\0') {
		char *copy = strdup(label);

		if (copy != NULL) {
			q->label = copy;
			q->label_owned = true;
		}
	}
	return q;
}

dispatch_queue_t dispatch_get_global_queue(long identifier, unsigned long flags)
{
	(void)flags;
	switch (identifier) {
	case DISPATCH_QUEUE_PRIORITY_HIGH:
	case QOS_CLASS_USER_INTERACTIVE:
	case QOS_CLASS_USER_INITIATED:
		return &global_queues[GLOBAL_HIGH];
	case DISPATCH_QUEUE_PRIORITY_LOW:
	case QOS_CLASS_UTILITY:
		return &global_queues[GLOBAL_LOW];
	case DISPATCH_QUEUE_PRIORITY_BACKGROUND:
	case QOS_CLASS_BACKGROUND:
		return &global_queues[GLOBAL_BACKGROUND];
	default:
		return &global_queues[GLOBAL_DEFAULT];
	}
}

dispatch_queue_t dispatch_get_main_queue(void)
{
	return &_dispatch_main_q;
}

const char *dispatch_queue_get_label(dispatch_queue_t queue)
{
	return queue != NULL ? queue->label : "";
}

void dispatch_async_f(dispatch_queue_t queue, void *context, dispatch_function_t work)
{
	if (queue != NULL && work != NULL)
		queue_submit(queue, context, work, false, NULL);
}

void dispatch_barrier_async_f(dispatch_queue_t queue, void *context, dispatch_function_t work)
{
	if (queue != NULL && work != NULL)
		queue_submit(queue, context, work, true, NULL);
}

/*
 * Waits, in FIFO order with the queue's other items, until the queue lets
 * this call run, then runs the work on the calling thread.
 */
void dispatch_sync_f(dispatch_queue_t queue, void *context, dispatch_function_t work)
{
	struct sync_waiter waiter = { .granted = false };
	struct dispatch_item it = { .queue = queue, .waiter = &waiter };

	if (queue == NULL || work == NULL)
		return;
	if (queue_held_exclusively(queue))
		dispatch_crash("dispatch_sync onto queue \"%s\" already held by the calling thread (deadlock)",
			       queue->label);
	pthread_cond_init(&waiter.cond, NULL);
	pthread_mutex_lock(&queue->lock);
	list_push(&queue->pending, &it);
	queue_pump(queue, false);
	while (!waiter.granted)
		pthread_cond_wait(&waiter.cond, &queue->lock);
	pthread_mutex_unlock(&queue->lock);
	pthread_cond_destroy(&waiter.cond);

	run_on_queue(queue, queue->width == 1, work, context);
	queue_finish(queue, false, false);
}

/* Runs the main queue's items on the calling thread, forever. */
void dispatch_main(void)
{
	struct dispatch_queue_s *q = &_dispatch_main_q;
	struct dispatch_item *it;

	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (q->ready.head == NULL)
			pthread_cond_wait(&q->ready_cond, &q->lock);
		it = list_pop(&q->ready);
		pthread_mutex_unlock(&q->lock);
		item_run(it);
	}
}

/* ------------------------------------------------------------------ */
/* time and timers                                                     */
/* ------------------------------------------------------------------ */

/*
 * Return: @base + @delta in dispatch_time units (monotonic nanoseconds).
 * As in libdispatch, a time that does not fit in int64_t means "forever";
 * below, the result saturates to 1 ("long ago", never DISPATCH_TIME_NOW).
 */
static dispatch_time_t time_add(uint64_t base, int64_t delta)
{
	uint64_t d;

	if (base > (uint64_t)INT64_MAX)
		return DISPATCH_TIME_FOREVER;
	if (delta >= 0) {
		if ((uint64_t)delta > (uint64_t)INT64_MAX - base)
			return DISPATCH_TIME_FOREVER;
		return base + (uint64_t)delta;
	}
	d = (uint64_t)0 - (uint64_t)delta;
	return d >= base ? 1 : base - d;
}

dispatch_time_t dispatch_time(dispatch_time_t when, int64_t delta)
{
	uint64_t base = when;

	if (when == DISPATCH_TIME_FOREVER)
		return DISPATCH_TIME_FOREVER;
	if (when == DISPATCH_TIME_NOW || when == DISPATCH_WALLTIME_NOW)
		base = mono_now();
	return time_add(base, delta);
}

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/*
 * Wall-clock deadlines are converted to the monotonic clock at call time
 * (later changes of the wall clock are not followed).
 */
dispatch_time_t dispatch_walltime(const struct timespec *when, int64_t delta)
{
	int64_t offset = delta, target;

	if (when != NULL) {
		int64_t now = (int64_t)clock_ns(CLOCK_REALTIME);

		if (__builtin_mul_overflow((int64_t)when->tv_sec, (int64_t)NSEC_PER_SEC, &target))
			target = when->tv_sec > 0 ? INT64_MAX : INT64_MIN;
		target = sat_add(target, when->tv_nsec);
		offset = sat_add(sat_add(target, -now), delta);
	}
	return time_add(mono_now(), offset);
}

/* Pops due timers and hands them to their queues. Called and returns with timers.lock held. */
static void timers_fire_due(void)
{
	struct timer_entry *t;

	while (timers.head != NULL && timers.head->deadline <= mono_now()) {
		t = timers.head;
		timers.head = t->next;
		pthread_mutex_unlock(&timers.lock);
		dispatch_async_f(t->queue, t->context, t->work);
		dispatch_release(t->queue);
		free(t);
		pthread_mutex_lock(&timers.lock);
	}
}

static void *timer_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "dispatch-timer");
	pthread_mutex_lock(&timers.lock);
	for (;;) {
		timers_fire_due();
		if (timers.head != NULL) {
			cond_wait_until(&timers.cond, &timers.lock, timers.head->deadline);
			continue;
		}
		if (cond_wait_until(&timers.cond, &timers.lock, mono_now() + TIMER_IDLE_NSEC) == ETIMEDOUT &&
		    timers.head == NULL)
			break;
	}
	timers.thread_running = false;
	pthread_mutex_unlock(&timers.lock);
	return NULL;
}

/* Inserts @t in deadline order (after equal deadlines) and wakes or starts the timer thread. */
static void timer_add(struct timer_entry *t)
{
	struct timer_entry **pp;

	pthread_once(&lib_once, lib_init);
	pthread_mutex_lock(&timers.lock);
	for (pp = &timers.head; *pp != NULL && (*pp)->deadline <= t->deadline; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	if (!timers.thread_running)
		timers.thread_running = spawn_detached(timer_main, NULL);
	else if (timers.head == t)
		pthread_cond_signal(&timers.cond);
	pthread_mutex_unlock(&timers.lock);
}

void dispatch_after_f(dispatch_time_t when, dispatch_queue_t queue, void *context, dispatch_function_t work)
{
	struct timer_entry *t;

	if (queue == NULL || work == NULL || when == DISPATCH_TIME_FOREVER)
		return;
	if (when == DISPATCH_TIME_NOW || when == DISPATCH_WALLTIME_NOW || when <= mono_now()) {
		dispatch_async_f(queue, context, work);
		return;
	}
	t = xcalloc(sizeof(*t));
	t->deadline = when;
	t->queue = queue;
	t->context = context;
	t->work = work;
	dispatch_retain(queue);
	timer_add(t);
}

/* ------------------------------------------------------------------ */
/* semaphores                                                          */
/* ------------------------------------------------------------------ */

dispatch_semaphore_t dispatch_semaphore_create(long value)
{
	struct dispatch_semaphore_s *s;

	if (value < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	atomic_init(&s->base.refcnt, 1);
	s->base.kind = KIND_SEMAPHORE;
	pthread_mutex_init(&s->lock, NULL);
	cond_init_monotonic(&s->cond);
	s->value = value;
	return s;
}

static dispatch_time_t wait_deadline(dispatch_time_t timeout)
{
	return timeout == DISPATCH_WALLTIME_NOW ? DISPATCH_TIME_NOW : timeout;
}

/*
 * Decrements the semaphore, waiting until @timeout for a signal when it was
 * not positive. Return: 0 on success, non-zero when the timeout expired.
 */
long dispatch_semaphore_wait(dispatch_semaphore_t dsema, dispatch_time_t timeout)
{
	dispatch_time_t deadline = wait_deadline(timeout);
	long rc = 0;

	if (dsema == NULL)
		return DISPATCH_WAIT_TIMED_OUT;
	pthread_mutex_lock(&dsema->lock);
	if (--dsema->value < 0) {
		for (;;) {
			if (dsema->wakeups > 0) {
				dsema->wakeups--;
				break;
			}
			if (deadline != DISPATCH_TIME_FOREVER && mono_now() >= deadline) {
				dsema->value++; /* give up our place */
				rc = DISPATCH_WAIT_TIMED_OUT;
				break;
			}
			cond_wait_until(&dsema->cond, &dsema->lock, deadline);
		}
	}
	pthread_mutex_unlock(&dsema->lock);
	return rc;
}

/* Return: non-zero when a waiter was woken. */
long dispatch_semaphore_signal(dispatch_semaphore_t dsema)
{
	long woke = 0;

	if (dsema == NULL)
		return 0;
	pthread_mutex_lock(&dsema->lock);
	if (++dsema->value <= 0) {
		dsema->wakeups++;
		pthread_cond_signal(&dsema->cond);
		woke = 1;
	}
	pthread_mutex_unlock(&dsema->lock);
	return woke;
}

static void semaphore_destroy(struct dispatch_semaphore_s *s)
{
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ------------------------------------------------------------------ */
/* groups                                                              */
/* ------------------------------------------------------------------ */

dispatch_group_t dispatch_group_create(void)
{
	struct dispatch_group_s *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	atomic_init(&g->base.refcnt, 1);
	g->base.kind = KIND_GROUP;
	pthread_mutex_init(&g->lock, NULL);
	cond_init_monotonic(&g->cond);
	return g;
}

/* A non-empty group holds a reference on itself, so it outlives its client's. */
void dispatch_group_enter(dispatch_group_t group)
{
	if (group == NULL)
		return;
	pthread_mutex_lock(&group->lock);
	if (group->count++ == 0)
		dispatch_retain(group); /* under the lock: a racing leave must not drop it first */
	pthread_mutex_unlock(&group->lock);
}

void dispatch_group_leave(dispatch_group_t group)
{
	struct item_list notify = { NULL, NULL };
	struct dispatch_item *n;
	long count;

	if (group == NULL)
		return;
	pthread_mutex_lock(&group->lock);
	count = --group->count;
	if (count < 0)
		dispatch_crash("unbalanced dispatch_group_leave()");
	if (count == 0) {
		notify = group->notify;
		group->notify.head = group->notify.tail = NULL;
		pthread_cond_broadcast(&group->cond);
	}
	pthread_mutex_unlock(&group->lock);
	if (count != 0)
		return;
	while ((n = list_pop(&notify)) != NULL) {
		dispatch_async_f(n->queue, n->context, n->work);
		dispatch_release(n->queue);
		free(n);
	}
	dispatch_release(group); /* the reference taken by the first enter */
}

/* Return: 0 when the group is empty, non-zero when @timeout expired first. */
long dispatch_group_wait(dispatch_group_t group, dispatch_time_t timeout)
{
	dispatch_time_t deadline = wait_deadline(timeout);
	long rc = 0;

	if (group == NULL)
		return DISPATCH_WAIT_TIMED_OUT;
	pthread_mutex_lock(&group->lock);
	while (group->count > 0) {
		if (deadline != DISPATCH_TIME_FOREVER && mono_now() >= deadline) {
			rc = DISPATCH_WAIT_TIMED_OUT;
			break;
		}
		cond_wait_until(&group->cond, &group->lock, deadline);
	}
	pthread_mutex_unlock(&group->lock);
	return rc;
}

void dispatch_group_async_f(dispatch_group_t group, dispatch_queue_t queue, void *context, dispatch_function_t work)
{
	if (group == NULL || queue == NULL || work == NULL)
		return;
	dispatch_group_enter(group);
	queue_submit(queue, context, work, false, group);
}

void dispatch_group_notify_f(dispatch_group_t group, dispatch_queue_t queue, void *context, dispatch_function_t work)
{
	struct dispatch_item *n;

	if (group == NULL || queue == NULL || work == NULL)
		return;
	pthread_mutex_lock(&group->lock);
	if (group->count == 0) {
		pthread_mutex_unlock(&group->lock);
		dispatch_async_f(queue, context, work);
		return;
	}
	n = xcalloc(sizeof(*n));
	n->queue = queue;
	n->context = context;
	n->work = work;
	dispatch_retain(queue);
	list_push(&group->notify, n);
	pthread_mutex_unlock(&group->lock);
}

static void group_destroy(struct dispatch_group_s *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* ------------------------------------------------------------------ */
/* objects                                                             */
/* ------------------------------------------------------------------ */

void dispatch_retain(dispatch_object_t object)
{
	struct dispatch_object_s *o = object._do;

	if (o != NULL && !o->immortal)
		atomic_fetch_add_explicit(&o->refcnt, 1, memory_order_relaxed);
}

void dispatch_release(dispatch_object_t object)
{
	struct dispatch_object_s *o = object._do;

	if (o == NULL || o->immortal)
		return;
	if (atomic_fetch_sub_explicit(&o->refcnt, 1, memory_order_acq_rel) != 1)
		return;
	switch (o->kind) {
	case KIND_QUEUE:
		queue_destroy(object._dq);
		break;
	case KIND_SEMAPHORE:
		semaphore_destroy(object._dsema);
		break;
	case KIND_GROUP:
		group_destroy(object._dg);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* blocks                                                              */
/* ------------------------------------------------------------------ */

#if defined(__BLOCKS__)

/* Runs and frees a block copied by one of the asynchronous functions. */
static void block_run_release(void *context)
{
	dispatch_block_t block = (dispatch_block_t)context;

	block();
	Block_release(block);
}

static void block_run(void *context)
{
	dispatch_block_t block = (dispatch_block_t)context;

	block();
}

void dispatch_async(dispatch_queue_t queue, dispatch_block_t block)
{
	if (queue != NULL && block != NULL)
		dispatch_async_f(queue, (void *)Block_copy(block), block_run_release);
}

void dispatch_sync(dispatch_queue_t queue, dispatch_block_t block)
{
	if (queue != NULL && block != NULL)
		dispatch_sync_f(queue, (void *)block, block_run);
}

void dispatch_after(dispatch_time_t when, dispatch_queue_t queue, dispatch_block_t block)
{
	if (queue != NULL && block != NULL && when != DISPATCH_TIME_FOREVER)
		dispatch_after_f(when, queue, (void *)Block_copy(block), block_run_release);
}

void dispatch_barrier_async(dispatch_queue_t queue, dispatch_block_t block)
{
	if (queue != NULL && block != NULL)
		dispatch_barrier_async_f(queue, (void *)Block_copy(block), block_run_release);
}

void dispatch_group_async(dispatch_group_t group, dispatch_queue_t queue, dispatch_block_t block)
{
	if (group != NULL && queue != NULL && block != NULL)
		dispatch_group_async_f(group, queue, (void *)Block_copy(block), block_run_release);
}

void dispatch_group_notify(dispatch_group_t group, dispatch_queue_t queue, dispatch_block_t block)
{
	if (group != NULL && queue != NULL && block != NULL)
		dispatch_group_notify_f(group, queue, (void *)Block_copy(block), block_run_release);
}

#endif /* __BLOCKS__ */
