/*
 * rb_api.c — a vmnet API client for the robustness tests (public API only).
 *
 *   rb_api start [HOLD_SECS]   start a host-mode interface, print "status=N", optionally
 *                              keep it HOLD_SECS seconds ("READY" once started), stop it;
 *                              exit 0 only when the start succeeded
 *   rb_api exchange [N]        two interfaces; N unicast frames from one reach the other
 *   rb_api chaos               start / write / read / stop forever (meant to be SIGKILLed)
 *   rb_api flood SECS          one interface flooding broadcast frames for SECS seconds
 *   rb_api death DAEMON_PID    event callback + traffic, SIGKILL the daemon, then check
 *                              that read/write fail fast, no events follow and stop completes
 *
 * Every wait is bounded. Results of `death` are printed as "CHECK 0|1 what"
 * lines for the shell wrapper; the other modes report through their exit status:
 * 0 success, 1 failure (reason on stdout), 2 usage. Every exit path, failed or not,
 * stops its interfaces and frees what it allocated (see "Ownership" below), so under
 * LeakSanitizer a non-zero status other than 1 or 2 means a crash or a leak.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dispatch/dispatch.h>
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>

#include "tests/e2e/robust/rb_util.h"

#define ETYPE 0x88b5 /* IEEE local experimental: ignored by the kernel stacks of the test namespaces */
#define FRAME_LEN 64
#define MAX_BATCH 32
#define BUF_LEN 2048

/*
 * Ownership. Every start and stop handler gets its own reference-counted context
 * (one reference for the waiter, one for the handler): a handler that runs late,
 * after its wait timed out, still finds valid memory, and whoever lets go last
 * frees it. A handle whose start failed is stopped at once (the library keeps
 * such a handle until it is stopped); a handle whose start timed out is stopped
 * too (the stop waits for the start). Running interfaces are listed in `live`
 * so that die() can stop them before exiting: every exit, failed or not, leaves
 * nothing behind for LeakSanitizer except what the library itself still owns.
 */
struct iface {
	interface_ref ref; /* NULL when not started or stopped */
	uint8_t mac[6];
	uint64_t mps;
	uint64_t start_ms; /* how long the start took (until the handler ran) */
};

/* Context of one start or stop handler. */
struct done_ctx {
	_Atomic int refs;
	dispatch_semaphore_t sem;
	vmnet_return_t status;
	uint8_t mac[6];
	uint64_t mps;
	bool have_param;
};

#define MAX_LIVE 8

static dispatch_queue_t q;
static struct iface *live[MAX_LIVE];
static int cleanup_errors; /* handles that could not be released */


static dispatch_time_t in_ms(int64_t ms)
{
	return dispatch_time(DISPATCH_TIME_NOW, ms * 1000000LL);
}

static void check(int ok, const char *what)
{
	printf("CHECK %d %s\n", ok ? 1 : 0, what);
	fflush(stdout);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* Return: a context with two references (waiter, handler), or NULL. */
static struct done_ctx *done_new(void)
{
	struct done_ctx *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->sem = dispatch_semaphore_create(0);
	if (!d->sem) {
		free(d);
		return NULL;
	}
	atomic_init(&d->refs, 2);
	return d;
}

static void done_unref(struct done_ctx *d)
{
	if (atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	dispatch_release(d->sem);
	free(d);
}

static void live_add(struct iface *ifc)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (!live[i]) {
			live[i] = ifc;
			return;
		}
}

static void live_del(struct iface *ifc)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == ifc)
			live[i] = NULL;
}

static void stop_done(void *ctx, vmnet_return_t status)
{
	struct done_ctx *d = ctx;

	d->status = status;
	dispatch_semaphore_signal(d->sem);
	done_unref(d);
}

/*
 * Stop a handle (running, failed or still starting); the handle is gone afterwards.
 * Return: the stop handler's status, or 0 when the handler did not run within
 * timeout_ms or vmnet_stop_interface_f refused (reason on stderr).
 */
static vmnet_return_t stop_handle(interface_ref ref, int timeout_ms)
{
	struct done_ctx *d = done_new();
	vmnet_return_t st;

	if (!d) {
		fprintf(stderr, "rb_api: out of memory\n");
		exit(2);
	}
	st = vmnet_stop_interface_f(ref, q, d, stop_done);
	if (st != VMNET_SUCCESS) {
		fprintf(stderr, "rb_api: vmnet_stop_interface_f: %u %s\n", st, vmnet_strerror(st));
		done_unref(d); /* the handler will not run */
		done_unref(d);
		return 0;
	}
	st = dispatch_semaphore_wait(d->sem, in_ms(timeout_ms)) == 0 ? d->status : 0;
	done_unref(d);
	return st;
}

/* Stop a started interface. Return: as stop_handle(). */
static vmnet_return_t stop_iface(struct iface *ifc, int timeout_ms)
{
	vmnet_return_t st;

	if (!ifc->ref)
		return 0;
	live_del(ifc);
	/* ifc->ref stays valid until the stop handler ran: an event callback may still use it. */
	st = stop_handle(ifc->ref, timeout_ms);
	ifc->ref = NULL;
	return st;
}

/* A handle we do not keep (failed or timed-out start): stop it so the library frees it. */
static void discard_handle(interface_ref ref, const char *why)
{
	vmnet_return_t st = stop_handle(ref, 3000);

	if (st != VMNET_SUCCESS) {
		fprintf(stderr, "rb_api: stopping a handle whose start %s: %s (%u)\n", why,
			st ? vmnet_strerror(st) : "no handler within 3 s", st);
		cleanup_errors++;
	}
}

static void start_done(void *ctx, vmnet_return_t status, xpc_object_t param)
{
	struct done_ctx *d = ctx;

	d->status = status;
	if (status == VMNET_SUCCESS && param) {
		d->have_param = true;
		if (parse_mac(xpc_dictionary_get_string(param, vmnet_mac_address_key), d->mac) < 0) {
			d->mac[0] = 0x02;
			for (int i = 1; i < 6; i++)
				d->mac[i] = (uint8_t)rand();
		}
		d->mps = xpc_dictionary_get_uint64(param, vmnet_max_packet_size_key);
	}
	dispatch_semaphore_signal(d->sem);
	done_unref(d);
}

/*
 * Start a host-mode interface into *ifc. On failure nothing is kept (the handle is stopped).
 * Return: the start status, or 0 when the handler did not run within timeout_ms.
 */
static vmnet_return_t start_iface(struct iface *ifc, int timeout_ms)
{
	xpc_object_t desc = xpc_dictionary_create_empty();
	struct done_ctx *d = done_new();
	uint64_t t0 = now_ms();
	interface_ref ref;
	vmnet_return_t st;

	memset(ifc, 0, sizeof(*ifc));
	if (!desc || !d) {
		fprintf(stderr, "rb_api: out of memory\n");
		exit(2);
	}
	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key, VMNET_HOST_MODE);
	ref = vmnet_start_interface_f(desc, q, d, start_done);
	xpc_release(desc);
	if (!ref) {
		done_unref(d); /* the handler will not run */
		done_unref(d);
		return VMNET_FAILURE;
	}
	if (dispatch_semaphore_wait(d->sem, in_ms(timeout_ms)) != 0) {
		done_unref(d);
		discard_handle(ref, "timed out");
		return 0;
	}
	ifc->start_ms = now_ms() - t0;
	st = d->status;
	if (st == VMNET_SUCCESS) {
		memcpy(ifc->mac, d->mac, 6);
		ifc->mps = d->have_param && d->mps ? d->mps : 1514;
		ifc->ref = ref;
		live_add(ifc);
	}
	done_unref(d);
	if (st != VMNET_SUCCESS)
		discard_handle(ref, "failed");
	return st;
}

/* Stop every running interface, release the queue, exit 1 (a failed run still leaks nothing). */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i])
			stop_iface(live[i], 3000);
	dispatch_release(q);
	exit(1);
}

static void make_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint32_t nonce, uint32_t seq)
{
	memset(f, 0, FRAME_LEN);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETYPE >> 8;
	f[13] = ETYPE & 0xff;
	memcpy(f + 14, "RBT1", 4);
	memcpy(f + 18, &nonce, 4);
	memcpy(f + 22, &seq, 4);
}

/* Write n frames to dst in one batch. Return: the vmnet_write status. */
static vmnet_return_t send_frames(struct iface *ifc, const uint8_t dst[6], int n, uint32_t nonce, uint32_t *seq)
{
	static _Thread_local uint8_t buf[MAX_BATCH][FRAME_LEN];
	struct iovec iov[MAX_BATCH];
	struct vmpktdesc pk[MAX_BATCH];
	int cnt = n;

	for (int i = 0; i < n; i++) {
		make_frame(buf[i], dst, ifc->mac, nonce, (*seq)++);
		iov[i] = (struct iovec){ buf[i], FRAME_LEN };
		pk[i] = (struct vmpktdesc){ .vm_pkt_size = FRAME_LEN, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
	}
	return vmnet_write(ifc->ref, pk, &cnt);
}

/* Read up to max frames; count those carrying nonce. Return: the vmnet_read status. */
static vmnet_return_t recv_frames(struct iface *ifc, int max, uint32_t nonce, int *got, int *matched)
{
	static _Thread_local uint8_t buf[MAX_BATCH][BUF_LEN];
	struct iovec iov[MAX_BATCH];
	struct vmpktdesc pk[MAX_BATCH];
	vmnet_return_t st;
	int cnt = max > MAX_BATCH ? MAX_BATCH : max;

	for (int i = 0; i < cnt; i++) {
		iov[i] = (struct iovec){ buf[i], BUF_LEN };
		pk[i] = (struct vmpktdesc){ .vm_pkt_size = BUF_LEN, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
	}
	st = vmnet_read(ifc->ref, pk, &cnt);
	*got = st == VMNET_SUCCESS ? cnt : 0;
	if (matched)
		for (int i = 0; i < *got; i++)
			if (pk[i].vm_pkt_size >= 26 && !memcmp(buf[i] + 14, "RBT1", 4) && !memcmp(buf[i] + 18, &nonce, 4))
				(*matched)++;
	return st;
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ------------------------------------------------------------------ */

static int cmd_start(int hold)
{
	struct iface a;
	vmnet_return_t st = start_iface(&a, 12000);

	printf("status=%u %s\n", st, st ? vmnet_strerror(st) : "timeout");
	fflush(stdout);
	if (st != VMNET_SUCCESS)
		return 1;
	if (hold > 0) {
		printf("READY\n");
		fflush(stdout);
		sleep_ms((unsigned)hold * 1000);
	}
	st = stop_iface(&a, 5000);
	if (st != VMNET_SUCCESS) {
		printf("stop status=%u %s\n", st, st ? vmnet_strerror(st) : "no handler within 5 s");
		return 1;
	}
	return 0;
}

static int cmd_exchange(int n)
{
	struct iface a, b;
	uint32_t nonce = (uint32_t)rand(), seq = 0;
	int matched = 0, got, sent = 0;
	uint64_t deadline;
	vmnet_return_t st;

	st = start_iface(&a, 6000);
	if (st != VMNET_SUCCESS)
		die("exchange: start A: %u", st);
	st = start_iface(&b, 6000);
	if (st != VMNET_SUCCESS)
		die("exchange: start B: %u", st);
	deadline = now_ms() + 4000;
	while (matched < n && now_ms() < deadline) {
		if (sent < n) {
			int k = n - sent > 8 ? 8 : n - sent;

			st = send_frames(&a, b.mac, k, nonce, &seq);
			if (st == VMNET_SUCCESS)
				sent += k;
			else if (st != VMNET_BUFFER_EXHAUSTED)
				die("exchange: write: %u", st);
		}
		st = recv_frames(&b, MAX_BATCH, nonce, &got, &matched);
		if (st != VMNET_SUCCESS)
			die("exchange: read: %u", st);
		if (!got)
			sleep_ms(1);
	}
	printf("exchange: sent %d, received %d\n", sent, matched);
	fflush(stdout);
	if (matched < n)
		die("exchange: %d of %d frames missing", n - matched, n);
	st = stop_iface(&a, 5000);
	if (st != VMNET_SUCCESS)
		die("exchange: stop A: %u", st);
	st = stop_iface(&b, 5000);
	if (st != VMNET_SUCCESS)
		die("exchange: stop B: %u", st);
	return 0;
}

/* Runs until SIGKILLed; a handle whose start failed or timed out is released by start_iface. */
static int cmd_chaos(void)
{
	struct iface ifs[3];
	int live_n = 0;
	uint32_t seq = 0;

	srand((unsigned)getpid() ^ (unsigned)now_ms());
	for (;;) {
		struct iface *ifc = &ifs[live_n];
		int iters = rand() % 40, got;

		if (start_iface(ifc, 6000) != VMNET_SUCCESS) {
			sleep_ms(10);
			continue;
		}
		live_n++;
		for (int i = 0; i < iters; i++) {
			send_frames(ifc, bcast, 4, 0, &seq);
			recv_frames(ifc, MAX_BATCH, 0, &got, NULL);
			sleep_ms(1);
		}
		/* Usually stop; sometimes keep the interface and start another next to it. */
		if (live_n == 3 || rand() % 4) {
			while (live_n > 0)
				stop_iface(&ifs[--live_n], 3000);
		}
	}
}

static int cmd_flood(int secs)
{
	struct iface a;
	uint32_t seq = 0;
	uint64_t end;
	vmnet_return_t st = start_iface(&a, 6000);
	int got;

	if (st != VMNET_SUCCESS)
		die("flood: start: %u", st);
	printf("READY\n");
	fflush(stdout);
	end = now_ms() + (uint64_t)secs * 1000;
	while (now_ms() < end) {
		st = send_frames(&a, bcast, MAX_BATCH, 0, &seq);
		if (st != VMNET_SUCCESS && st != VMNET_BUFFER_EXHAUSTED)
			die("flood: write: %u", st);
		recv_frames(&a, MAX_BATCH, 0, &got, NULL);
		usleep(200);
	}
	st = stop_iface(&a, 3000);
	if (st != VMNET_SUCCESS)
		die("flood: stop: %u", st);
	return 0;
}

/* ---- death ---- */

static _Atomic uint64_t events, events_after_dead;
static _Atomic bool dead_seen;
static struct iface *death_a;

static void on_event(void *ctx, interface_event_t mask, xpc_object_t ev)
{
	int got;

	atomic_fetch_add(&events, 1);
	if (atomic_load(&dead_seen))
		atomic_fetch_add(&events_after_dead, 1);
	/* Read one frame only: the backlog stays, so a wrong re-notification rule would keep firing. */
	recv_frames(death_a, 1, 0, &got, NULL);
}

static int cmd_death(pid_t daemon)
{
	struct iface a, b, c;
	uint32_t seq = 0;
	uint64_t t0, t_err = 0, worst = 0, deadline;
	vmnet_return_t st, stw = VMNET_SUCCESS, str = VMNET_SUCCESS, stb = VMNET_SUCCESS;
	int got;
	char what[200];

	death_a = &a;
	if (start_iface(&a, 6000) != VMNET_SUCCESS || start_iface(&b, 6000) != VMNET_SUCCESS) {
		check(0, "two interfaces start before the daemon dies");
		die("death: cannot start the interfaces");
	}
	st = vmnet_interface_set_event_callback_f(a.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q, NULL, on_event);
	check(st == VMNET_SUCCESS, "event callback registered");
	deadline = now_ms() + 2000;
	while (atomic_load(&events) == 0 && now_ms() < deadline) {
		send_frames(&b, a.mac, 8, 0, &seq);
		sleep_ms(5);
	}
	check(atomic_load(&events) > 0, "events arrive while the daemon runs");
	/* Leave a backlog in A's ring, then kill the daemon. */
	send_frames(&b, a.mac, 16, 0, &seq);
	sleep_ms(50);
	if (kill(daemon, SIGKILL) < 0) {
		check(0, "SIGKILL the daemon");
		die("death: kill %d: %s", (int)daemon, strerror(errno));
	}
	t0 = now_ms();
	deadline = t0 + 3000;
	while (now_ms() < deadline) {
		uint64_t c0 = now_ms(), d;

		stw = send_frames(&a, bcast, 1, 0, &seq);
		str = recv_frames(&a, 1, 0, &got, NULL);
		stb = send_frames(&b, a.mac, 1, 0, &seq);
		d = now_ms() - c0;
		if (d > worst)
			worst = d;
		if (stw != VMNET_SUCCESS && stw != VMNET_BUFFER_EXHAUSTED && str != VMNET_SUCCESS &&
		    stb != VMNET_SUCCESS && stb != VMNET_BUFFER_EXHAUSTED) {
			t_err = now_ms();
			atomic_store(&dead_seen, true);
			break;
		}
		sleep_ms(2);
	}
	snprintf(what, sizeof(what), "vmnet_write/vmnet_read fail within 1 s of the daemon's death (%lld ms; write %u, read %u)",
		 t_err ? (long long)(t_err - t0) : -1LL, stw, str);
	check(t_err && t_err - t0 <= 1000, what);
	snprintf(what, sizeof(what), "no packet I/O call blocks (longest %llu ms)", (unsigned long long)worst);
	check(worst < 200, what);
	snprintf(what, sizeof(what), "the error is VMNET_FAILURE (write %u, read %u)", stw, str);
	check(stw == VMNET_FAILURE && str == VMNET_FAILURE, what);
	/* Errors stay errors. */
	sleep_ms(100);
	stw = send_frames(&a, bcast, 1, 0, &seq);
	str = recv_frames(&a, 1, 0, &got, NULL);
	check(stw != VMNET_SUCCESS && str != VMNET_SUCCESS, "packet I/O keeps failing afterwards");
	sleep_ms(400);
	snprintf(what, sizeof(what), "no event callback after the daemon died (%llu)",
		 (unsigned long long)atomic_load(&events_after_dead));
	check(atomic_load(&events_after_dead) == 0, what);
	t0 = now_ms();
	st = stop_iface(&a, 3000);
	snprintf(what, sizeof(what), "vmnet_stop_interface completes its handler (status %u, %llu ms)", st,
		 (unsigned long long)(now_ms() - t0));
	check(st != 0 && now_ms() - t0 < 3000, what);
	st = stop_iface(&b, 3000);
	snprintf(what, sizeof(what), "stop of an interface without callback completes too (status %u)", st);
	check(st != 0, what);
	st = start_iface(&c, 5000);
	snprintf(what, sizeof(what), "a new start after the daemon died fails cleanly within 2 s (status %u, %llu ms)",
		 st, (unsigned long long)c.start_ms);
	check(st != 0 && st != VMNET_SUCCESS && c.start_ms < 2000, what);
	if (st == VMNET_SUCCESS)
		stop_iface(&c, 3000);
	check(cleanup_errors == 0, "the handle of the failed start is released by vmnet_stop_interface");
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int arg = argc > 2 ? atoi(argv[2]) : 0, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	srand((unsigned)getpid() * 2654435761u ^ (unsigned)now_ms());
	q = dispatch_queue_create("rb_api", DISPATCH_QUEUE_SERIAL);
	if (!strcmp(cmd, "start"))
		rc = cmd_start(arg);
	else if (!strcmp(cmd, "exchange"))
		rc = cmd_exchange(arg > 0 ? arg : 32);
	else if (!strcmp(cmd, "chaos"))
		rc = cmd_chaos();
	else if (!strcmp(cmd, "flood"))
		rc = cmd_flood(arg > 0 ? arg : 5);
	else if (!strcmp(cmd, "death") && arg > 0)
		rc = cmd_death((pid_t)arg);
	else {
		fprintf(stderr, "usage: rb_api start [HOLD] | exchange [N] | chaos | flood SECS | death DAEMON_PID\n");
		rc = 2;
	}
	if (rc == 0 && cleanup_errors)
		rc = 1;
	dispatch_release(q); /* the library holds its own references while handlers are pending */
	return rc;
}
