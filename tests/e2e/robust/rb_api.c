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
 * lines for the shell wrapper; the other modes report through their exit status.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dispatch/dispatch.h>
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>

#define ETYPE 0x88b5 /* IEEE local experimental: ignored by the kernel stacks of the test namespaces */
#define FRAME_LEN 64
#define MAX_BATCH 32
#define BUF_LEN 2048

struct iface {
	interface_ref ref;
	vmnet_return_t status;
	uint8_t mac[6];
	uint64_t mps;
	dispatch_semaphore_t sem;
};

static dispatch_queue_t q;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

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

static void start_done(void *ctx, vmnet_return_t status, xpc_object_t param)
{
	struct iface *ifc = ctx;

	ifc->status = status;
	if (status == VMNET_SUCCESS && param) {
		if (parse_mac(xpc_dictionary_get_string(param, vmnet_mac_address_key), ifc->mac) < 0) {
			ifc->mac[0] = 0x02;
			for (int i = 1; i < 6; i++)
				ifc->mac[i] = (uint8_t)rand();
		}
		ifc->mps = xpc_dictionary_get_uint64(param, vmnet_max_packet_size_key);
		if (!ifc->mps)
			ifc->mps = 1514;
	}
	dispatch_semaphore_signal(ifc->sem);
}

/* Return: the start status, or 0 when the handler did not run within timeout_ms. */
static vmnet_return_t start_iface(struct iface *ifc, int timeout_ms)
{
	xpc_object_t desc = xpc_dictionary_create_empty();

	memset(ifc, 0, sizeof(*ifc));
	ifc->sem = dispatch_semaphore_create(0);
	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key, VMNET_HOST_MODE);
	ifc->ref = vmnet_start_interface_f(desc, q, ifc, start_done);
	xpc_release(desc);
	if (!ifc->ref)
		return VMNET_FAILURE;
	if (dispatch_semaphore_wait(ifc->sem, in_ms(timeout_ms)) != 0)
		return 0;
	return ifc->status;
}

struct stop_ctx {
	dispatch_semaphore_t sem;
	vmnet_return_t status;
};

static void stop_done(void *ctx, vmnet_return_t status)
{
	struct stop_ctx *s = ctx;

	s->status = status;
	dispatch_semaphore_signal(s->sem);
}

/* Return: the stop handler's status, 0 when it did not run within timeout_ms, or the call's error. */
static vmnet_return_t stop_iface(struct iface *ifc, int timeout_ms)
{
	struct stop_ctx *s = calloc(1, sizeof(*s)); /* leaked on timeout: the handler may still run */
	vmnet_return_t st;

	s->sem = dispatch_semaphore_create(0);
	st = vmnet_stop_interface_f(ifc->ref, q, s, stop_done);
	if (st != VMNET_SUCCESS)
		return st;
	if (dispatch_semaphore_wait(s->sem, in_ms(timeout_ms)) != 0)
		return 0;
	return s->status;
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
		_exit(1);
	if (hold > 0) {
		printf("READY\n");
		fflush(stdout);
		sleep_ms((unsigned)hold * 1000);
	}
	st = stop_iface(&a, 5000);
	if (st != VMNET_SUCCESS) {
		printf("stop status=%u\n", st);
		fflush(stdout);
		_exit(1);
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
	if (st != VMNET_SUCCESS) {
		printf("exchange: start A: %u\n", st);
		_exit(1);
	}
	st = start_iface(&b, 6000);
	if (st != VMNET_SUCCESS) {
		printf("exchange: start B: %u\n", st);
		_exit(1);
	}
	deadline = now_ms() + 4000;
	while (matched < n && now_ms() < deadline) {
		if (sent < n) {
			int k = n - sent > 8 ? 8 : n - sent;

			st = send_frames(&a, b.mac, k, nonce, &seq);
			if (st == VMNET_SUCCESS)
				sent += k;
			else if (st != VMNET_BUFFER_EXHAUSTED) {
				printf("exchange: write: %u\n", st);
				_exit(1);
			}
		}
		st = recv_frames(&b, MAX_BATCH, nonce, &got, &matched);
		if (st != VMNET_SUCCESS) {
			printf("exchange: read: %u\n", st);
			_exit(1);
		}
		if (!got)
			sleep_ms(1);
	}
	printf("exchange: sent %d, received %d\n", sent, matched);
	fflush(stdout);
	if (matched < n)
		_exit(1);
	if (stop_iface(&a, 5000) != VMNET_SUCCESS || stop_iface(&b, 5000) != VMNET_SUCCESS) {
		printf("exchange: stop failed\n");
		_exit(1);
	}
	return 0;
}

static int cmd_chaos(void)
{
	struct iface ifs[3];
	int live = 0;
	uint32_t seq = 0;

	srand((unsigned)getpid() ^ (unsigned)now_ms());
	for (;;) {
		struct iface *ifc = &ifs[live];
		int iters = rand() % 40, got;

		if (start_iface(ifc, 6000) != VMNET_SUCCESS) {
			sleep_ms(10);
			continue;
		}
		live++;
		for (int i = 0; i < iters; i++) {
			send_frames(ifc, bcast, 4, 0, &seq);
			recv_frames(ifc, MAX_BATCH, 0, &got, NULL);
			sleep_ms(1);
		}
		/* Usually stop; sometimes keep the interface and start another next to it. */
		if (live == 3 || rand() % 4) {
			while (live > 0)
				stop_iface(&ifs[--live], 3000);
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

	if (st != VMNET_SUCCESS) {
		printf("flood: start: %u\n", st);
		_exit(1);
	}
	printf("READY\n");
	fflush(stdout);
	end = now_ms() + (uint64_t)secs * 1000;
	while (now_ms() < end) {
		st = send_frames(&a, bcast, MAX_BATCH, 0, &seq);
		if (st != VMNET_SUCCESS && st != VMNET_BUFFER_EXHAUSTED) {
			printf("flood: write: %u\n", st);
			_exit(2);
		}
		recv_frames(&a, MAX_BATCH, 0, &got, NULL);
		usleep(200);
	}
	stop_iface(&a, 3000);
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
		_exit(1);
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
		_exit(1);
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
	t0 = now_ms();
	st = start_iface(&c, 5000);
	snprintf(what, sizeof(what), "a new start after the daemon died fails cleanly within 2 s (status %u, %llu ms)",
		 st, (unsigned long long)(now_ms() - t0));
	check(st != 0 && st != VMNET_SUCCESS && now_ms() - t0 < 2000, what);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int arg = argc > 2 ? atoi(argv[2]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	srand((unsigned)getpid() * 2654435761u ^ (unsigned)now_ms());
	q = dispatch_queue_create("rb_api", DISPATCH_QUEUE_SERIAL);
	if (!strcmp(cmd, "start"))
		return cmd_start(arg);
	if (!strcmp(cmd, "exchange"))
		return cmd_exchange(arg > 0 ? arg : 32);
	if (!strcmp(cmd, "chaos"))
		return cmd_chaos();
	if (!strcmp(cmd, "flood"))
		return cmd_flood(arg > 0 ? arg : 5);
	if (!strcmp(cmd, "death") && arg > 0)
		return cmd_death((pid_t)arg);
	fprintf(stderr, "usage: rb_api start [HOLD] | exchange [N] | chaos | flood SECS | death DAEMON_PID\n");
	return 2;
}
