/* bench_common.c — see bench_common.h. */
#include "bench_common.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const uint8_t bench_magic[8] = { 'v', 'm', 'n', 'b', 'e', 'n', 'c', 'h' };

static void usage_exit(const char *prog, const char *usage)
{
	fprintf(stderr,
		"usage: %s [-s SIZE] [-b BATCH] [-t SECS] [-w WARMUP] [-W yield|spin|sleep] [-p DAEMON_PID] %s\n"
		"  -s  frame size in bytes, %d..%d (default 64)\n"
		"  -b  frames per call / per loop, 1..%d (default 256)\n"
		"  -t  measured seconds (default 5)\n"
		"  -w  warm-up seconds before the window (default 0.5)\n"
		"  -W  sender behaviour when the path pushes back (ring full): yield (default), spin, sleep (50 us)\n"
		"  -p  PID of vmnetd, for its CPU %% over the window\n",
		prog, usage, BENCH_MIN_FRAME, BENCH_MAX_FRAME, BENCH_MAX_BATCH);
	exit(2);
}

void bench_parse(int argc, char **argv, struct bench_opts *o, const char *usage)
{
	int c;

	*o = (struct bench_opts){ .size = 64, .batch = 256, .secs = 5, .warmup = 0.5, .wait_mode = WAIT_YIELD };
	while ((c = getopt(argc, argv, "s:b:t:w:W:p:A:B:L:h")) != -1) {
		switch (c) {
		case 's': o->size = (unsigned)atoi(optarg); break;
		case 'b': o->batch = (unsigned)atoi(optarg); break;
		case 't': o->secs = atof(optarg); break;
		case 'w': o->warmup = atof(optarg); break;
		case 'p': o->daemon_pid = (pid_t)atoi(optarg); break;
		case 'A': o->tap_a = optarg; break;
		case 'B': o->tap_b = optarg; break;
		case 'L': o->label = optarg; break;
		case 'W':
			if (!strcmp(optarg, "yield"))
				o->wait_mode = WAIT_YIELD;
			else if (!strcmp(optarg, "spin"))
				o->wait_mode = WAIT_SPIN;
			else if (!strcmp(optarg, "sleep"))
				o->wait_mode = WAIT_SLEEP;
			else
				usage_exit(argv[0], usage);
			break;
		default: usage_exit(argv[0], usage);
		}
	}
	if (optind != argc || o->size < BENCH_MIN_FRAME || o->size > BENCH_MAX_FRAME || o->batch < 1 ||
	    o->batch > BENCH_MAX_BATCH || o->secs <= 0 || o->warmup < 0)
		usage_exit(argv[0], usage);
}

struct bench_shared *bench_shared_new(void)
{
	void *p = mmap(NULL, sizeof(struct bench_shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_cpu_secs(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p)
		return -1;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

void bench_frame_fill(uint8_t *buf, unsigned size, const uint8_t dst[6], const uint8_t src[6])
{
	memset(buf, 0, size);
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = BENCH_ETHERTYPE >> 8;
	buf[13] = BENCH_ETHERTYPE & 0xff;
	memcpy(buf + 22, bench_magic, sizeof(bench_magic));
	for (unsigned i = 30; i < size; i++)
		buf[i] = (uint8_t)i;
}

void bench_learn_fill(uint8_t *buf, const uint8_t src[6])
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	bench_frame_fill(buf, BENCH_MIN_FRAME, bcast, src);
}

bool bench_frame_is_ours(const uint8_t *buf, size_t len, const uint8_t mac[6])
{
	return len >= BENCH_MIN_FRAME && !memcmp(buf, mac, 6) && buf[12] == (BENCH_ETHERTYPE >> 8) &&
	       buf[13] == (BENCH_ETHERTYPE & 0xff) && !memcmp(buf + 22, bench_magic, sizeof(bench_magic));
}

bool bench_frame_is_learn(const uint8_t *buf, size_t len, const uint8_t mac[6])
{
	return len >= BENCH_MIN_FRAME && buf[0] == 0xff && !memcmp(buf + 6, mac, 6) &&
	       buf[12] == (BENCH_ETHERTYPE >> 8) && buf[13] == (BENCH_ETHERTYPE & 0xff);
}

int bench_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

void bench_fail(struct bench_shared *sh, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "bench: %s\n", msg);
	if (atomic_exchange(&sh->failed, 1) == 0)
		snprintf(sh->err, sizeof(sh->err), "%s", msg);
}

bool bench_wait_flag(_Atomic int *flag, struct bench_shared *sh, double timeout)
{
	double end = bench_now() + timeout;

	while (!atomic_load(flag)) {
		if (atomic_load(&sh->failed) || bench_now() > end)
			return false;
		usleep(1000);
	}
	return true;
}

int bench_learn(struct bench_shared *sh, int (*send_learn)(void *ctx), void *ctx)
{
	double end = bench_now() + 10;

	while (!atomic_load(&sh->learned)) {
		if (atomic_load(&sh->failed) || bench_now() > end)
			return -1;
		if (send_learn(ctx) < 0)
			return -1;
		atomic_fetch_add(&sh->rx_learn_sent, 1);
		usleep(10000);
	}
	return 0;
}

struct snap {
	double t, cpu_tx, cpu_rx, cpu_d;
	uint64_t tx_frames, tx_bytes, tx_full, tx_calls;
	uint64_t rx_frames, rx_bytes, rx_wakeups, rx_calls;
};

static void take_snap(struct snap *s, const struct bench_shared *sh, const struct bench_opts *o, uint64_t frames,
		      uint64_t full, uint64_t calls)
{
	s->cpu_tx = bench_cpu_secs(getpid());
	s->cpu_rx = bench_cpu_secs(sh->rx_pid);
	s->cpu_d = bench_cpu_secs(o->daemon_pid);
	s->rx_frames = atomic_load_explicit(&sh->rx_frames, memory_order_relaxed);
	s->rx_bytes = atomic_load_explicit(&sh->rx_bytes, memory_order_relaxed);
	s->rx_wakeups = atomic_load_explicit(&sh->rx_wakeups, memory_order_relaxed);
	s->rx_calls = atomic_load_explicit(&sh->rx_calls, memory_order_relaxed);
	s->tx_frames = frames;
	s->tx_bytes = frames * o->size;
	s->tx_full = full;
	s->tx_calls = calls;
	s->t = bench_now();
}

static double pct(double a, double b, double secs)
{
	return a < 0 || b < 0 ? -1 : (b - a) / secs * 100.0;
}

void bench_send_loop(struct bench_shared *sh, const struct bench_opts *o, bench_send_fn fn, void *ctx)
{
	double start = bench_now(), t;
	double open_at = start + o->warmup, close_at = open_at + o->secs;
	uint64_t seq = 0, full = 0, err = 0, calls = 0, iter = 0;
	/* Look at the clock about every 256 frames (or every pushed-back call). */
	unsigned every = o->batch >= 256 ? 1 : 256 / o->batch;
	struct snap a = { 0 }, b;
	bool open = o->warmup == 0;
	struct timespec nap = { 0, 50000 };

	if (open)
		take_snap(&a, sh, o, 0, 0, 0);
	for (;;) {
		int n = fn(ctx, seq, o->batch, &full, &err);

		calls++;
		if (n < 0) {
			bench_fail(sh, "send failed after %llu frames", (unsigned long long)seq);
			break;
		}
		seq += (unsigned)n;
		if (n == 0) {
			if (o->wait_mode == WAIT_YIELD)
				sched_yield();
			else if (o->wait_mode == WAIT_SLEEP)
				nanosleep(&nap, NULL);
		}
		if (n != 0 && ++iter % every)
			continue;
		t = bench_now();
		if (!open && t >= open_at) {
			take_snap(&a, sh, o, seq, full, calls);
			open = true;
		} else if (open && t >= close_at) {
			break;
		}
	}
	take_snap(&b, sh, o, seq, full, calls);
	sh->tx_frames_total = seq;
	sh->tx_bytes_total = seq * o->size;
	sh->tx_calls_total = calls;
	sh->tx_full_total = full;
	sh->tx_err_total = err;
	sh->win_secs = b.t - a.t;
	sh->win_tx_frames = b.tx_frames - a.tx_frames;
	sh->win_tx_bytes = b.tx_bytes - a.tx_bytes;
	sh->win_tx_full = b.tx_full - a.tx_full;
	sh->win_tx_calls = b.tx_calls - a.tx_calls;
	sh->win_rx_frames = b.rx_frames - a.rx_frames;
	sh->win_rx_bytes = b.rx_bytes - a.rx_bytes;
	sh->win_rx_wakeups = b.rx_wakeups - a.rx_wakeups;
	sh->win_rx_calls = b.rx_calls - a.rx_calls;
	sh->cpu_tx = pct(a.cpu_tx, b.cpu_tx, sh->win_secs);
	sh->cpu_rx = pct(a.cpu_rx, b.cpu_rx, sh->win_secs);
	sh->cpu_d = pct(a.cpu_d, b.cpu_d, sh->win_secs);
}

/* Reap a child, killing it if it does not exit in time. Return: its exit status, or -1. */
static int reap(pid_t pid, double timeout)
{
	double end = bench_now() + timeout;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (r < 0)
			return -1;
		if (bench_now() > end) {
			fprintf(stderr, "bench: child %d did not exit; killing it\n", (int)pid);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(2000);
	}
}

int bench_finish(struct bench_shared *sh, const struct bench_opts *o, const char *impl, pid_t tx, pid_t rx)
{
	double limit = o->warmup + o->secs + 30, mpps, gbps, loss;
	uint64_t last, now_rx, sent;
	int stable = 0, rtx, rrx;

	if (!bench_wait_flag(&sh->tx_done, sh, limit) && !atomic_load(&sh->failed))
		bench_fail(sh, "sender did not finish in %.0f s", limit);
	/* Drain: until everything sent arrived, or the count stood still for 200 ms (loss), at most 5 s. */
	last = atomic_load(&sh->rx_frames);
	for (int i = 0; i < 500 && !atomic_load(&sh->failed); i++) {
		usleep(10000);
		now_rx = atomic_load(&sh->rx_frames);
		if (now_rx >= sh->tx_frames_total)
			break;
		stable = now_rx == last ? stable + 1 : 0;
		if (stable >= 20)
			break;
		last = now_rx;
	}
	atomic_store(&sh->rx_stop, 1);
	rtx = reap(tx, 15);
	rrx = reap(rx, 15);
	if (atomic_load(&sh->failed) || rtx != 0 || rrx != 0) {
		fprintf(stderr, "bench: %s size=%u batch=%u FAILED: %s (sender exit %d, receiver exit %d)\n", impl,
			o->size, o->batch, sh->err[0] ? sh->err : "?", rtx, rrx);
		return 1;
	}
	sent = sh->tx_frames_total;
	loss = sent ? 100.0 * (double)(sent - atomic_load(&sh->rx_frames)) / (double)sent : 0;
	if (loss < 0)
		loss = 0;
	mpps = (double)sh->win_rx_frames / sh->win_secs / 1e6;
	gbps = (double)sh->win_rx_bytes * 8 / sh->win_secs / 1e9;
	printf("RESULT impl=%s size=%u batch=%u secs=%.3f tx_frames=%llu rx_frames=%llu tx_mpps=%.4f rx_mpps=%.4f "
	       "rx_gbps=%.4f loss_pct=%.3f tx_full=%llu tx_calls=%llu tx_err=%llu rx_wakeups=%llu rx_calls=%llu "
	       "rx_other=%llu cpu_tx=%.0f cpu_rx=%.0f cpu_d=%.0f%s%s\n",
	       impl, o->size, o->batch, sh->win_secs, (unsigned long long)sh->win_tx_frames,
	       (unsigned long long)sh->win_rx_frames, (double)sh->win_tx_frames / sh->win_secs / 1e6, mpps, gbps, loss,
	       (unsigned long long)sh->win_tx_full, (unsigned long long)sh->win_tx_calls,
	       (unsigned long long)sh->tx_err_total, (unsigned long long)sh->win_rx_wakeups,
	       (unsigned long long)sh->win_rx_calls, (unsigned long long)atomic_load(&sh->rx_other), sh->cpu_tx,
	       sh->cpu_rx, sh->cpu_d, o->label ? " label=" : "", o->label ? o->label : "");
	fprintf(stderr, "%-6s %4u B  batch %3u: %7.3f Mpps %7.3f Gbit/s  (sent %.3f Mpps, loss %.2f%%)\n", impl, o->size,
		o->batch, mpps, gbps, (double)sh->win_tx_frames / sh->win_secs / 1e6, loss);
	fflush(stdout);
	return 0;
}

int bench_launch(struct bench_shared *sh, const struct bench_opts *o, const char *prog, const char *impl,
		 int (*tx_main)(void), int (*rx_main)(void))
{
	pid_t tx, rx;

	tx = fork();
	if (tx == 0)
		_exit(tx_main());
	if (tx < 0 || !bench_wait_flag(&sh->tx_up, sh, 15)) {
		if (tx > 0)
			kill(tx, SIGKILL);
		fprintf(stderr, "%s: sender did not come up: %s\n", prog, sh->err);
		return 1;
	}
	rx = fork();
	if (rx == 0)
		_exit(rx_main());
	if (rx < 0) {
		kill(tx, SIGKILL);
		return 1;
	}
	sh->rx_pid = rx;
	fprintf(stderr, "%s: sender pid %d, receiver pid %d\n", prog, (int)tx, (int)rx);
	return bench_finish(sh, o, impl, tx, rx);
}
