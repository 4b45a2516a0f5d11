/*
 * test_dispatch_gcc.c — the libdispatch subset used from plain C without
 * blocks: proves that <dispatch/dispatch.h> compiles with gcc (no -fblocks)
 * and that the *_f functions work on their own.
 *
 *   gcc -std=gnu11 -Wall -Wextra -Werror -Iinclude tests/unit/test_dispatch_gcc.c \
 *       dispatch.o -lBlocksRuntime -lpthread
 *
 * Exits 1 at the first failed check, naming file:line.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <dispatch/dispatch.h>

#if defined(__BLOCKS__)
#error "this test must be built without blocks support"
#endif

static atomic_int checks;

#define CHECK(cond) \
	do { \
		atomic_fetch_add(&checks, 1); \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			fflush(NULL); \
			_exit(1); \
		} \
	} while (0)

static dispatch_time_t in_ms(int ms)
{
	return dispatch_time(DISPATCH_TIME_NOW, (int64_t)ms * (int64_t)NSEC_PER_MSEC);
}

struct order {
	int v[1000];
	int n;
	dispatch_semaphore_t done;
	dispatch_time_t fired;
};

struct order_item {
	struct order *o;
	int value;
};

static void append(void *p)
{
	struct order_item *it = p;

	it->o->v[it->o->n++] = it->value;
	free(it);
}

static void read_count(void *p)
{
	int *out = p;

	*out = -1;
}

static void test_serial_and_sync(void)
{
	dispatch_queue_t q = dispatch_queue_create("gcc.serial", NULL);
	struct order *o = calloc(1, sizeof(*o));
	int i;

	CHECK(q != NULL && o != NULL);
	for (i = 0; i < 1000; i++) {
		struct order_item *it = malloc(sizeof(*it));

		CHECK(it != NULL);
		it->o = o;
		it->value = i;
		dispatch_async_f(q, it, append);
	}
	dispatch_sync_f(q, &i, read_count); /* runs after the 1000 items, returns after it ran */
	CHECK(i == -1);
	CHECK(o->n == 1000);
	for (i = 0; i < 1000; i++)
		CHECK(o->v[i] == i);
	free(o);
	dispatch_release(q);
}

static void fire(void *p)
{
	struct order *o = p;

	o->fired = dispatch_time(DISPATCH_TIME_NOW, 0);
	dispatch_semaphore_signal(o->done);
}

static void test_after_and_timeout(void)
{
	dispatch_queue_t q = dispatch_queue_create("gcc.after", NULL);
	struct order o = { .done = dispatch_semaphore_create(0) };
	dispatch_time_t deadline = in_ms(150), t0;

	dispatch_after_f(deadline, q, &o, fire);
	CHECK(dispatch_semaphore_wait(o.done, in_ms(5000)) == 0);
	CHECK(o.fired >= deadline);
	CHECK(o.fired - deadline < NSEC_PER_SEC);

	t0 = dispatch_time(DISPATCH_TIME_NOW, 0);
	CHECK(dispatch_semaphore_wait(o.done, in_ms(150)) != 0);
	CHECK(dispatch_time(DISPATCH_TIME_NOW, 0) - t0 >= 150 * NSEC_PER_MSEC);
	CHECK(dispatch_semaphore_signal(o.done) == 0);
	CHECK(dispatch_semaphore_wait(o.done, DISPATCH_TIME_NOW) == 0);
	dispatch_release(o.done);
	dispatch_release(q);
}

struct rendezvous {
	atomic_int arrived;
	atomic_int passed;
	int n;
	dispatch_semaphore_t gate;
};

static void meet(void *p)
{
	struct rendezvous *r = p;
	int k;

	if (atomic_fetch_add(&r->arrived, 1) + 1 == r->n)
		for (k = 0; k < r->n; k++)
			dispatch_semaphore_signal(r->gate);
	if (dispatch_semaphore_wait(r->gate, in_ms(3000)) == 0)
		atomic_fetch_add(&r->passed, 1);
}

static void test_parallel(void)
{
	dispatch_queue_t cq = dispatch_queue_create("gcc.concurrent", DISPATCH_QUEUE_CONCURRENT);
	dispatch_group_t g = dispatch_group_create();
	struct rendezvous r = { .n = 16, .gate = dispatch_semaphore_create(0) };
	int i;

	for (i = 0; i < r.n; i++)
		dispatch_group_async_f(g, cq, &r, meet);
	CHECK(dispatch_group_wait(g, in_ms(5000)) == 0);
	CHECK(atomic_load(&r.passed) == r.n);
	dispatch_release(r.gate);
	dispatch_release(g);
	dispatch_release(cq);
}

int main(void)
{
	test_serial_and_sync();
	test_after_and_timeout();
	test_parallel();
	printf("test_dispatch_gcc: all %d checks passed\n", atomic_load(&checks));
	return 0;
}
