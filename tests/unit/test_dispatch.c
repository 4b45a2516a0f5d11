/*
 * test_dispatch.c — unit test of the libdispatch subset (lib/dispatch.c),
 * using the block API (clang -fblocks) and every *_f twin.
 *
 * Plain main(); exits 1 at the first failed check, naming file:line, and
 * prints a summary when everything passed. The tests that fork run first,
 * while the process is still single-threaded (ThreadSanitizer cannot start
 * threads in the child of a multi-threaded fork).
 */
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>

#include <dispatch/dispatch.h>

#include "lib/dispatch_internal.h"

static atomic_int checks; /* CHECK runs in work items too */

#define CHECK(cond) \
	do { \
		checks++; \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			fflush(NULL); \
			_exit(1); \
		} \
	} while (0)

#define MSEC(ms) ((int64_t)(ms) * (int64_t)NSEC_PER_MSEC)

static uint64_t now_ns(void)
{
	return dispatch_time(DISPATCH_TIME_NOW, 0);
}

static dispatch_time_t in_ms(int ms)
{
	return dispatch_time(DISPATCH_TIME_NOW, MSEC(ms));
}

/* Waits for @s for at most 5 s and fails the test on timeout. */
#define WAIT_SEM(s) CHECK(dispatch_semaphore_wait((s), in_ms(5000)) == 0)

/* Return: true when the calling thread blocks every blockable signal. */
static bool all_signals_blocked(void)
{
	sigset_t cur;
	int sig;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (sig = 1; sig <= SIGRTMAX; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || (sig > 31 && sig < SIGRTMIN))
			continue;
		if (!sigismember(&cur, sig))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- */
/* forked tests (run first, single-threaded parent)                  */
/* ---------------------------------------------------------------- */

static int main_order[16];
static int main_count;

static void main_append_f(void *ctx)
{
	main_order[main_count++] = (int)(intptr_t)ctx;
}

/* Child: main-queue items run in order on the dispatch_main() thread. */
static void __attribute__((noreturn)) child_main_queue(void)
{
	dispatch_queue_t mq = dispatch_get_main_queue();
	pthread_t main_thread = pthread_self();

	CHECK(mq != NULL && mq == dispatch_get_main_queue());
	CHECK(strlen(dispatch_queue_get_label(mq)) > 0);
	for (int i = 0; i < 4; i++)
		dispatch_async(mq, ^{
			CHECK(pthread_equal(pthread_self(), main_thread));
			CHECK(dispatch_queue_is_current(mq));
			sigset_t cur;
			pthread_sigmask(SIG_BLOCK, NULL, &cur);
			CHECK(!sigismember(&cur, SIGTERM));
			main_order[main_count++] = i;
		});
	dispatch_async_f(mq, (void *)(intptr_t)4, main_append_f);
	dispatch_after(in_ms(50), mq, ^{
		main_order[main_count++] = 100;
		dispatch_async(dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_DEFAULT, 0), ^{
			/* dispatch_sync onto the main queue while dispatch_main runs */
			dispatch_sync(mq, ^{ main_order[main_count++] = 200; });
			dispatch_async(mq, ^{
				static const int want[] = { 0, 1, 2, 3, 4, 100, 200 };
				CHECK(main_count == 7);
				CHECK(memcmp(main_order, want, sizeof(want)) == 0);
				exit(0);
			});
		});
	});
	dispatch_main();
}

static void test_main_queue(void)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(10);
		child_main_queue();
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int atexit_fd = -1;

/* atexit handler in the child: queues must still work during exit(). */
static void atexit_uses_dispatch(void)
{
	dispatch_queue_t q = dispatch_queue_create("test.atexit", NULL);
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	__block int v = 0;

	dispatch_async(q, ^{
		v = 7;
		dispatch_semaphore_signal(s);
	});
	if (dispatch_semaphore_wait(s, in_ms(5000)) != 0 || v != 7)
		_exit(3);
	dispatch_async(dispatch_get_global_queue(QOS_CLASS_UTILITY, 0), ^{ dispatch_semaphore_signal(s); });
	if (dispatch_semaphore_wait(s, in_ms(5000)) != 0)
		_exit(4);
	dispatch_release(q);
	dispatch_release(s);
	if (write(atexit_fd, "k", 1) != 1)
		_exit(5);
}

static void test_atexit(void)
{
	int fds[2], status;
	char c = 0;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dispatch_semaphore_t s = dispatch_semaphore_create(0);

		alarm(10);
		close(fds[0]);
		atexit_fd = fds[1];
		atexit(atexit_uses_dispatch);
		/* leave an idle worker behind, as a real program would */
		dispatch_async(dispatch_get_global_queue(0, 0), ^{ dispatch_semaphore_signal(s); });
		WAIT_SEM(s);
		dispatch_release(s);
		exit(0);
	}
	close(fds[1]);
	CHECK(read(fds[0], &c, 1) == 1 && c == 'k');
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* dispatch_sync onto a serial queue from its own work item aborts instead of hanging. */
static void test_sync_deadlock_aborts(void)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dispatch_queue_t q = dispatch_queue_create("test.deadlock", NULL);

		alarm(10);
		if (!freopen("/dev/null", "w", stderr))
			_exit(2);
		dispatch_sync(q, ^{ dispatch_sync(q, ^{}); });
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

/* ---------------------------------------------------------------- */
/* queues                                                            */
/* ---------------------------------------------------------------- */

static void test_serial_order(void)
{
	dispatch_queue_t q = dispatch_queue_create("test.serial", DISPATCH_QUEUE_SERIAL);
	int *arr = calloc(1000, sizeof(*arr));
	__block int n = 0;
	__block bool overlap = false;
	__block atomic_int active = 0;

	CHECK(q != NULL && arr != NULL);
	for (int i = 0; i < 1000; i++)
		dispatch_async(q, ^{
			if (atomic_fetch_add(&active, 1) != 0)
				overlap = true;
			arr[n++] = i;
			atomic_fetch_sub(&active, 1);
		});
	dispatch_sync(q, ^{});
	CHECK(n == 1000);
	CHECK(!overlap);
	for (int i = 0; i < 1000; i++)
		CHECK(arr[i] == i);
	free(arr);
	dispatch_release(q);
}

static void test_sync(void)
{
	dispatch_queue_t q = dispatch_queue_create("test.sync", NULL);
	dispatch_queue_t cq = dispatch_queue_create("test.sync.concurrent", DISPATCH_QUEUE_CONCURRENT);
	__block int n = 0, seen = -1, done = 0;

	for (int i = 0; i < 100; i++)
		dispatch_async(q, ^{
			if (i == 0)
				usleep(20000); /* make the sync caller arrive while items are queued */
			n++;
		});
	dispatch_sync(q, ^{ seen = n; });
	CHECK(seen == 100);
	dispatch_sync(q, ^{
		usleep(50000);
		done = 1;
	});
	CHECK(done == 1);
	dispatch_sync(cq, ^{
		usleep(20000);
		done = 2;
	});
	CHECK(done == 2);
	dispatch_sync(dispatch_get_global_queue(0, 0), ^{ done = 3; });
	CHECK(done == 3);

	/* nested: sync onto another queue from a work item; sync into own concurrent queue */
	dispatch_sync(q, ^{
		CHECK(dispatch_queue_is_current(q));
		CHECK(!dispatch_queue_is_current(cq));
		dispatch_sync(cq, ^{
			CHECK(dispatch_queue_is_current(q));
			CHECK(dispatch_queue_is_current(cq));
			dispatch_sync(cq, ^{ done = 4; });
		});
		CHECK(!dispatch_queue_is_current(cq));
	});
	CHECK(done == 4);
	CHECK(!dispatch_queue_is_current(q));
	CHECK(!dispatch_queue_is_current(NULL));
	dispatch_release(q);
	dispatch_release(cq);
}

struct rendezvous {
	atomic_int arrived;
	atomic_int passed;
	int n;
	dispatch_semaphore_t gate;
};

/*
 * Runs @n items on @q that each block until all @n are running at once; fails
 * (within ~5 s, without hanging) unless @q runs them in parallel.
 */
static void check_parallel(dispatch_queue_t q, int n)
{
	struct rendezvous rv = { .n = n, .gate = dispatch_semaphore_create(0) };
	struct rendezvous *r = &rv;
	dispatch_group_t g = dispatch_group_create();

	for (int i = 0; i < n; i++)
		dispatch_group_async(g, q, ^{
			if (atomic_fetch_add(&r->arrived, 1) + 1 == r->n)
				for (int k = 0; k < r->n; k++)
					dispatch_semaphore_signal(r->gate);
			if (dispatch_semaphore_wait(r->gate, in_ms(3000)) == 0)
				atomic_fetch_add(&r->passed, 1);
		});
	CHECK(dispatch_group_wait(g, in_ms(5000)) == 0);
	CHECK(atomic_load(&rv.passed) == n);
	dispatch_release(g);
	dispatch_release(rv.gate);
}

static void test_concurrent(void)
{
	dispatch_queue_t cq = dispatch_queue_create("test.concurrent", DISPATCH_QUEUE_CONCURRENT);
	uint64_t t0 = now_ns();

	check_parallel(cq, 8);
	check_parallel(cq, 100); /* no small thread cap */
	check_parallel(dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_DEFAULT, 0), 32);
	CHECK(now_ns() - t0 < 3 * NSEC_PER_SEC);
	dispatch_release(cq);
}

static void test_global_queues(void)
{
	static const long ids[] = {
		DISPATCH_QUEUE_PRIORITY_HIGH, DISPATCH_QUEUE_PRIORITY_DEFAULT, DISPATCH_QUEUE_PRIORITY_LOW,
		DISPATCH_QUEUE_PRIORITY_BACKGROUND, QOS_CLASS_USER_INTERACTIVE, QOS_CLASS_USER_INITIATED,
		QOS_CLASS_DEFAULT, QOS_CLASS_UTILITY, QOS_CLASS_BACKGROUND, QOS_CLASS_UNSPECIFIED, 12345,
	};
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	__block atomic_int ran = 0;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		dispatch_queue_t q = dispatch_get_global_queue(ids[i], 0);

		CHECK(q != NULL);
		CHECK(q == dispatch_get_global_queue(ids[i], 0));
		CHECK(strlen(dispatch_queue_get_label(q)) > 0);
		/* global queues are immortal */
		dispatch_release(q);
		dispatch_release(q);
		dispatch_retain(q);
		dispatch_async(q, ^{
			CHECK(dispatch_queue_is_current(q));
			atomic_fetch_add(&ran, 1);
			dispatch_semaphore_signal(s);
		});
		WAIT_SEM(s);
		dispatch_barrier_async(q, ^{ dispatch_semaphore_signal(s); }); /* plain async there */
		WAIT_SEM(s);
	}
	CHECK(atomic_load(&ran) == (int)(sizeof(ids) / sizeof(ids[0])));
	CHECK(dispatch_get_global_queue(QOS_CLASS_DEFAULT, 0) == dispatch_get_global_queue(0, 0));
	dispatch_release(s);
}

static void test_labels(void)
{
	char name[] = "test.label";
	dispatch_queue_t q = dispatch_queue_create(name, NULL);
	dispatch_queue_t anon = dispatch_queue_create(NULL, DISPATCH_QUEUE_CONCURRENT);

	name[0] = 'X';
	CHECK(strcmp(dispatch_queue_get_label(q), "test.label") == 0);
	CHECK(strcmp(dispatch_queue_get_label(anon), "") == 0);
	CHECK(strcmp(dispatch_queue_get_label(NULL), "") == 0);
	dispatch_release(q);
	dispatch_release(anon);
}

/* ---------------------------------------------------------------- */
/* time and dispatch_after                                           */
/* ---------------------------------------------------------------- */

static void test_time(void)
{
	dispatch_time_t a = dispatch_time(DISPATCH_TIME_NOW, 0);
	dispatch_time_t b = dispatch_time(a, (int64_t)NSEC_PER_SEC);
	dispatch_time_t w;

	CHECK(a != DISPATCH_TIME_NOW && a != DISPATCH_TIME_FOREVER);
	CHECK(b == a + NSEC_PER_SEC);
	CHECK(dispatch_time(b, -(int64_t)NSEC_PER_SEC) == a);
	CHECK(dispatch_time(DISPATCH_TIME_NOW, 0) >= a);
	CHECK(dispatch_time(DISPATCH_TIME_FOREVER, 5) == DISPATCH_TIME_FOREVER);
	CHECK(dispatch_time(DISPATCH_TIME_FOREVER, -5) == DISPATCH_TIME_FOREVER);
	CHECK(dispatch_time(DISPATCH_TIME_NOW, INT64_MAX) == DISPATCH_TIME_FOREVER);
	CHECK(dispatch_time(a, INT64_MIN) != DISPATCH_TIME_NOW);
	CHECK(dispatch_time(a, INT64_MIN) < a);
	w = dispatch_walltime(NULL, MSEC(100));
	CHECK(w >= a + NSEC_PER_SEC / 10 && w < a + NSEC_PER_SEC);
}

static void set_flag_f(void *p)
{
	atomic_store((atomic_int *)p, 1);
}

static void test_after(void)
{
	static atomic_int forever_f_ran;
	dispatch_queue_t q = dispatch_queue_create("test.after", NULL);
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	__block atomic_int forever_ran = 0;
	__block uint64_t fired = 0;
	__block struct {
		int v[3], n;
	} ord = { { 0 }, 0 };
	dispatch_time_t deadline;
	struct timespec ts;

	dispatch_after(DISPATCH_TIME_FOREVER, q, ^{ atomic_store(&forever_ran, 1); });
	dispatch_after_f(DISPATCH_TIME_FOREVER, q, &forever_f_ran, set_flag_f);
	dispatch_after_f(dispatch_time(DISPATCH_TIME_FOREVER, -1), q, &forever_f_ran, set_flag_f);

	deadline = in_ms(200);
	dispatch_after(deadline, q, ^{
		fired = now_ns();
		dispatch_semaphore_signal(s);
	});
	WAIT_SEM(s);
	CHECK(fired >= deadline);
	CHECK(fired - deadline < NSEC_PER_SEC);

	/* fire in deadline order, not submission order */
	dispatch_after(in_ms(150), q, ^{ ord.v[ord.n++] = 150; });
	dispatch_after(in_ms(50), q, ^{ ord.v[ord.n++] = 50; });
	dispatch_after(in_ms(100), q, ^{ ord.v[ord.n++] = 100; });
	dispatch_after(in_ms(200), q, ^{ dispatch_semaphore_signal(s); });
	WAIT_SEM(s);
	dispatch_sync(q, ^{
		CHECK(ord.n == 3);
		CHECK(ord.v[0] == 50 && ord.v[1] == 100 && ord.v[2] == 150);
	});

	/* past deadline and DISPATCH_TIME_NOW run promptly */
	dispatch_after(DISPATCH_TIME_NOW, q, ^{ dispatch_semaphore_signal(s); });
	WAIT_SEM(s);
	dispatch_after(dispatch_time(DISPATCH_TIME_NOW, -MSEC(10)), q, ^{ dispatch_semaphore_signal(s); });
	CHECK(dispatch_semaphore_wait(s, in_ms(500)) == 0);

	/* wall-clock deadline */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	deadline = in_ms(90);
	dispatch_after(dispatch_walltime(&ts, 0), q, ^{
		fired = now_ns();
		dispatch_semaphore_signal(s);
	});
	WAIT_SEM(s);
	CHECK(fired >= deadline);

	CHECK(atomic_load(&forever_ran) == 0);
	CHECK(atomic_load(&forever_f_ran) == 0);
	dispatch_release(q);
	dispatch_release(s);
}

/* ---------------------------------------------------------------- */
/* semaphores and groups                                             */
/* ---------------------------------------------------------------- */

static void test_semaphore_counts(void)
{
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	dispatch_semaphore_t s3 = dispatch_semaphore_create(3);
	uint64_t t0;
	long rc;

	CHECK(dispatch_semaphore_create(-1) == NULL);
	CHECK(s != NULL && s3 != NULL);
	CHECK(dispatch_semaphore_wait(s, DISPATCH_TIME_NOW) != 0);
	CHECK(dispatch_semaphore_signal(s) == 0); /* nobody waiting */
	CHECK(dispatch_semaphore_wait(s, DISPATCH_TIME_NOW) == 0);
	CHECK(dispatch_semaphore_wait(s, DISPATCH_TIME_NOW) != 0);
	for (int i = 0; i < 3; i++)
		CHECK(dispatch_semaphore_wait(s3, DISPATCH_TIME_NOW) == 0);
	CHECK(dispatch_semaphore_wait(s3, DISPATCH_TIME_NOW) != 0);

	t0 = now_ns();
	rc = dispatch_semaphore_wait(s, in_ms(200));
	CHECK(rc != 0);
	CHECK(now_ns() - t0 >= 200 * NSEC_PER_MSEC);
	CHECK(now_ns() - t0 < 1500 * NSEC_PER_MSEC);
	/* a timed-out waiter leaves no trace */
	CHECK(dispatch_semaphore_signal(s) == 0);
	CHECK(dispatch_semaphore_wait(s, DISPATCH_TIME_NOW) == 0);
	dispatch_retain(s);
	dispatch_release(s);
	dispatch_release(s);
	dispatch_release(s3);
}

static void test_semaphore_wakeups(void)
{
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	dispatch_queue_t cq = dispatch_queue_create("test.sema", DISPATCH_QUEUE_CONCURRENT);
	dispatch_group_t g = dispatch_group_create();
	__block atomic_int woken = 0;
	bool saw_wakeup = false;

	/* signal() reports a woken waiter; retry with longer delays in case the waiter was late */
	for (int round = 1; round <= 10 && !saw_wakeup; round++) {
		__block long ret = -1;

		dispatch_group_async(g, cq, ^{
			usleep(20000 * round);
			ret = dispatch_semaphore_signal(s);
		});
		WAIT_SEM(s);
		CHECK(dispatch_group_wait(g, in_ms(5000)) == 0);
		saw_wakeup = ret != 0;
	}
	CHECK(saw_wakeup);

	/* several waiters, as many signals */
	for (int i = 0; i < 4; i++)
		dispatch_group_async(g, cq, ^{
			if (dispatch_semaphore_wait(s, in_ms(5000)) == 0)
				atomic_fetch_add(&woken, 1);
		});
	usleep(20000);
	for (int i = 0; i < 4; i++)
		dispatch_semaphore_signal(s);
	CHECK(dispatch_group_wait(g, in_ms(6000)) == 0);
	CHECK(atomic_load(&woken) == 4);
	CHECK(dispatch_semaphore_wait(s, DISPATCH_TIME_NOW) != 0);
	dispatch_release(g);
	dispatch_release(cq);
	dispatch_release(s);
}

static void test_groups(void)
{
	dispatch_queue_t cq = dispatch_queue_create("test.group", DISPATCH_QUEUE_CONCURRENT);
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	dispatch_group_t g = dispatch_group_create();
	__block atomic_int count = 0;
	__block int at_notify = -1;
	uint64_t t0;

	CHECK(g != NULL);
	CHECK(dispatch_group_wait(g, DISPATCH_TIME_NOW) == 0);
	for (int i = 0; i < 10; i++)
		dispatch_group_async(g, cq, ^{
			usleep(1000 * (i % 3));
			atomic_fetch_add(&count, 1);
		});
	dispatch_group_notify(g, cq, ^{
		at_notify = atomic_load(&count);
		dispatch_semaphore_signal(s);
	});
	CHECK(dispatch_group_wait(g, in_ms(5000)) == 0);
	CHECK(atomic_load(&count) == 10);
	WAIT_SEM(s);
	CHECK(at_notify == 10);

	/* notify on an empty group fires at once */
	dispatch_group_notify(g, cq, ^{ dispatch_semaphore_signal(s); });
	WAIT_SEM(s);

	/* manual enter/leave, wait timeout */
	dispatch_group_enter(g);
	t0 = now_ns();
	CHECK(dispatch_group_wait(g, in_ms(100)) != 0);
	CHECK(now_ns() - t0 >= 100 * NSEC_PER_MSEC);
	dispatch_async(cq, ^{
		usleep(30000);
		dispatch_group_leave(g);
	});
	CHECK(dispatch_group_wait(g, in_ms(5000)) == 0);

	/* a released group with a pending notify still notifies */
	dispatch_group_enter(g);
	dispatch_group_notify(g, cq, ^{ dispatch_semaphore_signal(s); });
	dispatch_async(cq, ^{
		usleep(30000);
		dispatch_group_leave(g);
	});
	dispatch_release(g);
	WAIT_SEM(s);

	dispatch_release(cq);
	dispatch_release(s);
}

/* ---------------------------------------------------------------- */
/* lifetime, barriers, blocks                                        */
/* ---------------------------------------------------------------- */

static void test_retain_release(void)
{
	dispatch_queue_t q = dispatch_queue_create("test.release", NULL);
	dispatch_semaphore_t gate = dispatch_semaphore_create(0);
	dispatch_semaphore_t done = dispatch_semaphore_create(0);
	__block int ran = 0;

	dispatch_retain(q);
	dispatch_release(q);
	dispatch_async(q, ^{
		if (dispatch_semaphore_wait(gate, in_ms(5000)) == 0)
			ran++;
	});
	for (int i = 0; i < 10; i++)
		dispatch_async(q, ^{ ran++; });
	dispatch_after(in_ms(100), q, ^{ dispatch_semaphore_signal(done); });
	dispatch_async(q, ^{ dispatch_semaphore_signal(done); });
	dispatch_release(q); /* pending work must still run */
	dispatch_semaphore_signal(gate);
	WAIT_SEM(done);
	WAIT_SEM(done);
	CHECK(ran == 11);

	/* many short-lived queues released right after use (leaks show under ASan) */
	dispatch_group_t g = dispatch_group_create();
	__block atomic_int total = 0;
	for (int i = 0; i < 100; i++) {
		dispatch_queue_t tq = dispatch_queue_create("test.tmp", i % 2 ? DISPATCH_QUEUE_CONCURRENT : NULL);

		for (int k = 0; k < 10; k++)
			dispatch_group_async(g, tq, ^{ atomic_fetch_add(&total, 1); });
		dispatch_release(tq);
	}
	CHECK(dispatch_group_wait(g, in_ms(5000)) == 0);
	CHECK(atomic_load(&total) == 1000);
	dispatch_release(g);
	dispatch_release(gate);
	dispatch_release(done);
}

static void test_barrier(void)
{
	dispatch_queue_t cq = dispatch_queue_create("test.barrier", DISPATCH_QUEUE_CONCURRENT);
	dispatch_queue_t sq = dispatch_queue_create("test.barrier.serial", NULL);
	dispatch_group_t g = dispatch_group_create();
	__block atomic_int active = 0, before_done = 0, after_bad = 0, max_active = 0;
	__block atomic_bool barrier_ok = false, barrier_done = false;
	__block struct {
		int v[3], n;
	} ord = { { 0 }, 0 };

	for (int i = 0; i < 4; i++)
		dispatch_group_async(g, cq, ^{
			int a = atomic_fetch_add(&active, 1) + 1;
			int m = atomic_load(&max_active);
			while (a > m && !atomic_compare_exchange_weak(&max_active, &m, a))
				;
			usleep(50000);
			atomic_fetch_add(&before_done, 1);
			atomic_fetch_sub(&active, 1);
		});
	dispatch_barrier_async(cq, ^{
		atomic_store(&barrier_ok, atomic_load(&active) == 0 && atomic_load(&before_done) == 4);
		usleep(30000);
		atomic_store(&barrier_done, true);
	});
	for (int i = 0; i < 4; i++)
		dispatch_group_async(g, cq, ^{
			if (!atomic_load(&barrier_done))
				atomic_fetch_add(&after_bad, 1);
		});
	CHECK(dispatch_group_wait(g, in_ms(5000)) == 0);
	CHECK(atomic_load(&max_active) > 1); /* items before the barrier ran side by side */
	CHECK(atomic_load(&barrier_ok));
	CHECK(atomic_load(&after_bad) == 0);

	/* on a serial queue a barrier is an ordinary item */
	dispatch_async(sq, ^{ ord.v[ord.n++] = 1; });
	dispatch_barrier_async(sq, ^{ ord.v[ord.n++] = 2; });
	dispatch_async(sq, ^{ ord.v[ord.n++] = 3; });
	dispatch_sync(sq, ^{ CHECK(ord.n == 3 && ord.v[0] == 1 && ord.v[1] == 2 && ord.v[2] == 3); });

	dispatch_release(g);
	dispatch_release(cq);
	dispatch_release(sq);
}

static void test_block_capture(void)
{
	dispatch_queue_t q = dispatch_queue_create("test.capture", NULL);
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	__block int x = 0;
	__block struct {
		char s[32];
	} text = { "" };
	int copied = 5;
	__block int seen = 0;

	dispatch_sync(q, ^{ x = 42; });
	CHECK(x == 42);
	dispatch_async(q, ^{ seen = copied; });
	copied = 6; /* not __block: the block captured 5 */
	dispatch_async(q, ^{
		strcpy(text.s, "from a block");
		/* nested block capturing the same __block variables */
		dispatch_async(dispatch_get_global_queue(0, 0), ^{
			x++;
			dispatch_semaphore_signal(s);
		});
	});
	WAIT_SEM(s);
	dispatch_sync(q, ^{});
	CHECK(seen == 5);
	CHECK(x == 43);
	CHECK(strcmp(text.s, "from a block") == 0);
	dispatch_release(q);
	dispatch_release(s);
}

/* ---------------------------------------------------------------- */
/* *_f variants                                                      */
/* ---------------------------------------------------------------- */

struct fctx {
	atomic_int count;
	dispatch_semaphore_t sem;
	dispatch_queue_t q;
	bool on_queue;
};

static void f_count(void *p)
{
	struct fctx *c = p;

	atomic_fetch_add(&c->count, 1);
}

static void f_count_signal(void *p)
{
	struct fctx *c = p;

	atomic_fetch_add(&c->count, 1);
	dispatch_semaphore_signal(c->sem);
}

static void f_check_queue(void *p)
{
	struct fctx *c = p;

	c->on_queue = dispatch_queue_is_current(c->q);
}

static void test_f_variants(void)
{
	struct fctx c = { .sem = dispatch_semaphore_create(0) };
	dispatch_queue_t q = dispatch_queue_create("test.f", NULL);
	dispatch_queue_t cq = dispatch_queue_create("test.f.concurrent", DISPATCH_QUEUE_CONCURRENT);
	dispatch_group_t g = dispatch_group_create();

	c.q = q;
	dispatch_async_f(q, &c, f_count);
	dispatch_sync_f(q, &c, f_check_queue);
	CHECK(c.on_queue);
	CHECK(atomic_load(&c.count) == 1);
	dispatch_async_f(q, &c, f_count_signal);
	WAIT_SEM(c.sem);
	dispatch_after_f(in_ms(20), q, &c, f_count_signal);
	WAIT_SEM(c.sem);
	dispatch_barrier_async_f(cq, &c, f_count_signal);
	WAIT_SEM(c.sem);
	for (int i = 0; i < 5; i++)
		dispatch_group_async_f(g, cq, &c, f_count);
	dispatch_group_notify_f(g, q, &c, f_count_signal);
	WAIT_SEM(c.sem);
	CHECK(dispatch_group_wait(g, DISPATCH_TIME_NOW) == 0);
	CHECK(atomic_load(&c.count) == 1 + 1 + 1 + 1 + 5 + 1);
	dispatch_after_f(DISPATCH_TIME_FOREVER, q, &c, f_count);
	dispatch_release(g);
	dispatch_release(q);
	dispatch_release(cq);
	dispatch_release(c.sem);
}

/* ---------------------------------------------------------------- */
/* signals, NULL tolerance                                           */
/* ---------------------------------------------------------------- */

/*
 * Return: the number of library threads ("dispatch-*") of this process,
 * or -1 when one of them does not block SIGTERM, SIGINT, SIGHUP, SIGUSR1,
 * SIGCHLD and SIGALRM.
 */
static int library_threads_blocking_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD, SIGALRM };
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int found = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[64], line[256];
		bool ours = false;
		unsigned long long blk = 0;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue; /* thread exited meanwhile */
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "Name:\tdispatch-", 15) == 0)
				ours = true;
			sscanf(line, "SigBlk: %llx", &blk);
		}
		fclose(f);
		if (!ours)
			continue;
		found++;
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			if (!(blk & (1ull << (sigs[i] - 1)))) {
				closedir(d);
				return -1;
			}
	}
	closedir(d);
	return found;
}

static void test_signal_masks(void)
{
	dispatch_queue_t q = dispatch_queue_create("test.signals", NULL);
	dispatch_queue_t cq = dispatch_queue_create("test.signals.concurrent", DISPATCH_QUEUE_CONCURRENT);
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	__block atomic_int ok = 0;
	sigset_t cur;

	dispatch_sync(dispatch_get_global_queue(0, 0), ^{}); /* runs on the caller: nothing to check */
	dispatch_async(q, ^{ atomic_fetch_add(&ok, all_signals_blocked()); dispatch_semaphore_signal(s); });
	dispatch_async(cq, ^{ atomic_fetch_add(&ok, all_signals_blocked()); dispatch_semaphore_signal(s); });
	dispatch_async(dispatch_get_global_queue(QOS_CLASS_BACKGROUND, 0), ^{
		atomic_fetch_add(&ok, all_signals_blocked());
		dispatch_semaphore_signal(s);
	});
	dispatch_after(in_ms(10), q, ^{ atomic_fetch_add(&ok, all_signals_blocked()); dispatch_semaphore_signal(s); });
	/* a timer pending for a while keeps the timer thread alive for the /proc check */
	dispatch_after(in_ms(300), q, ^{ dispatch_semaphore_signal(s); });
	for (int i = 0; i < 4; i++)
		WAIT_SEM(s);
	CHECK(atomic_load(&ok) == 4);
	CHECK(library_threads_blocking_signals() >= 2); /* a worker and the timer thread */
	WAIT_SEM(s);

	/* the caller's own mask is left as it was */
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	CHECK(!sigismember(&cur, SIGTERM) && !sigismember(&cur, SIGINT));
	dispatch_release(q);
	dispatch_release(cq);
	dispatch_release(s);
}

static void never_called(void *p)
{
	(void)p;
	abort();
}

static void test_null_tolerance(void)
{
	dispatch_queue_t q = dispatch_queue_create("test.null", NULL);
	dispatch_group_t g = dispatch_group_create();

	dispatch_async_f(NULL, NULL, never_called);
	dispatch_sync_f(NULL, NULL, never_called);
	dispatch_after_f(in_ms(1), NULL, NULL, never_called);
	dispatch_barrier_async_f(NULL, NULL, never_called);
	dispatch_group_async_f(NULL, q, NULL, never_called);
	dispatch_group_async_f(g, NULL, NULL, never_called);
	dispatch_group_notify_f(NULL, q, NULL, never_called);
	dispatch_group_notify_f(g, NULL, NULL, never_called);
	dispatch_async_f(q, NULL, NULL);
	dispatch_sync_f(q, NULL, NULL);
	dispatch_async(NULL, ^{ abort(); });
	dispatch_sync(NULL, ^{ abort(); });
	dispatch_after(in_ms(1), NULL, ^{ abort(); });
	dispatch_barrier_async(NULL, ^{ abort(); });
	dispatch_group_async(NULL, q, ^{ abort(); });
	dispatch_group_notify(g, NULL, ^{ abort(); });
	dispatch_async(q, NULL);
	dispatch_group_enter(NULL);
	dispatch_group_leave(NULL);
	CHECK(dispatch_group_wait(NULL, DISPATCH_TIME_NOW) != 0);
	CHECK(dispatch_semaphore_wait(NULL, DISPATCH_TIME_NOW) != 0);
	CHECK(dispatch_semaphore_signal(NULL) == 0);
	dispatch_retain((dispatch_queue_t)NULL);
	dispatch_release((dispatch_queue_t)NULL);
	CHECK(dispatch_group_wait(g, DISPATCH_TIME_NOW) == 0);
	dispatch_sync(q, ^{});
	dispatch_release(g);
	dispatch_release(q);
}

int main(void)
{
	uint64_t t0;

	alarm(60); /* last-resort watchdog: a hang kills the test */
	test_main_queue();
	test_atexit();
	test_sync_deadlock_aborts();

	t0 = now_ns();
	test_serial_order();
	test_sync();
	test_concurrent();
	test_global_queues();
	test_labels();
	test_time();
	test_after();
	test_semaphore_counts();
	test_semaphore_wakeups();
	test_groups();
	test_retain_release();
	test_barrier();
	test_block_capture();
	test_f_variants();
	test_signal_masks();
	test_null_tolerance();
	printf("test_dispatch: all %d checks passed (%.2f s)\n", atomic_load(&checks), (double)(now_ns() - t0) / 1e9);
	return 0;
}
