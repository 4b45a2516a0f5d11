/*
 * api_plain.c — a plain-C vmnet client (no blocks): only the *_f variants
 * (vmnet_start_interface_f, vmnet_interface_set_event_callback_f,
 * vmnet_stop_interface_f) and dispatch_*_f. Built with gcc by
 * test_api_plain.sh, not through meson. Starts two interfaces, exchanges a
 * frame, gets the event, stops.
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vmnet/vmnet.h>

static int passed, failed;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (cond) {                                                                \
			passed++;                                                          \
		} else {                                                                   \
			failed++;                                                          \
			printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
		}                                                                          \
	} while (0)

#define TIMEOUT_MS 10000

static dispatch_time_t after_ms(int64_t ms)
{
	return dispatch_time(DISPATCH_TIME_NOW, ms * (int64_t)NSEC_PER_MSEC);
}

struct iface {
	const char *name;
	interface_ref ref;
	dispatch_queue_t q;
	dispatch_semaphore_t sem;
	vmnet_return_t status;
	uint8_t mac[6];
	int has_mac;
	uint64_t mps;
};

static void start_done(void *ctx, vmnet_return_t status, xpc_object_t param)
{
	struct iface *i = ctx;
	const char *mac;
	unsigned v[6];

	i->status = status;
	if (status == VMNET_SUCCESS && param) {
		mac = xpc_dictionary_get_string(param, vmnet_mac_address_key);
		if (mac && sscanf(mac, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6) {
			for (int k = 0; k < 6; k++)
				i->mac[k] = (uint8_t)v[k];
			i->has_mac = 1;
		}
		i->mps = xpc_dictionary_get_uint64(param, vmnet_max_packet_size_key);
	}
	dispatch_semaphore_signal(i->sem);
}

static void stop_done(void *ctx, vmnet_return_t status)
{
	struct iface *i = ctx;

	i->status = status;
	dispatch_semaphore_signal(i->sem);
}

static int start(struct iface *i, const char *name)
{
	xpc_object_t d = xpc_dictionary_create(NULL, NULL, 0);

	memset(i, 0, sizeof(*i));
	i->name = name;
	i->q = dispatch_queue_create(name, DISPATCH_QUEUE_SERIAL);
	i->sem = dispatch_semaphore_create(0);
	i->status = 0;
	xpc_dictionary_set_uint64(d, vmnet_operation_mode_key, VMNET_HOST_MODE);
	i->ref = vmnet_start_interface_f(d, i->q, i, start_done);
	CHECK(i->ref != NULL);
	if (!i->ref) {
		xpc_release(d);
		return 0;
	}
	CHECK(dispatch_semaphore_wait(i->sem, after_ms(TIMEOUT_MS)) == 0);
	xpc_release(d);
	CHECK(i->status == VMNET_SUCCESS);
	CHECK(i->has_mac);
	CHECK(i->mps == 1514);
	return i->status == VMNET_SUCCESS && i->has_mac;
}

static int stop(struct iface *i)
{
	vmnet_return_t st;

	i->status = 0;
	st = vmnet_stop_interface_f(i->ref, i->q, i, stop_done);
	CHECK(st == VMNET_SUCCESS);
	if (st != VMNET_SUCCESS)
		return 0;
	CHECK(dispatch_semaphore_wait(i->sem, after_ms(TIMEOUT_MS)) == 0);
	CHECK(i->status == VMNET_SUCCESS);
	return i->status == VMNET_SUCCESS;
}

/* The event callback: note the estimate and read what is there. */
struct rx_state {
	struct iface *ifc;
	dispatch_semaphore_t got;
	atomic_int events;
	uint64_t estimate;
	uint8_t frame[2048];
	size_t len;
	int frames;
};

static void on_packets(void *ctx, interface_event_t mask, xpc_object_t event)
{
	struct rx_state *s = ctx;
	struct iovec iov = { s->frame, sizeof(s->frame) };
	struct vmpktdesc d = { sizeof(s->frame), &iov, 1, 0 };
	int n = 1;

	if (mask != VMNET_INTERFACE_PACKETS_AVAILABLE)
		return;
	s->estimate = xpc_dictionary_get_uint64(event, vmnet_estimated_packets_available_key);
	atomic_fetch_add(&s->events, 1);
	if (vmnet_read(s->ifc->ref, &d, &n) == VMNET_SUCCESS && n == 1) {
		s->len = d.vm_pkt_size;
		s->frames++;
		dispatch_semaphore_signal(s->got);
	}
}

/* dispatch_async_f / dispatch_sync_f / dispatch_after_f with a plain function. */
static void bump(void *ctx)
{
	atomic_fetch_add((atomic_int *)ctx, 1);
}

static void signal_sem(void *ctx)
{
	dispatch_semaphore_signal(ctx);
}

int main(void)
{
	struct iface a, b;
	struct rx_state *s = calloc(1, sizeof(*s));
	dispatch_queue_t evq = dispatch_queue_create("plain-events", DISPATCH_QUEUE_SERIAL);
	dispatch_semaphore_t later = dispatch_semaphore_create(0);
	atomic_int counter = 0;
	uint8_t frame[300];
	struct iovec iov = { frame, sizeof(frame) };
	struct vmpktdesc d = { sizeof(frame), &iov, 1, 0 };
	int n = 1, ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("== plain C (gcc, *_f API only)\n");
	/* the dispatch _f functions themselves */
	dispatch_async_f(evq, &counter, bump);
	dispatch_sync_f(evq, &counter, bump);
	CHECK(atomic_load(&counter) == 2);
	dispatch_after_f(after_ms(20), evq, later, signal_sem);
	CHECK(dispatch_semaphore_wait(later, after_ms(TIMEOUT_MS)) == 0);

	ok = start(&a, "plain-a");
	ok = start(&b, "plain-b") && ok;
	if (!ok) {
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	s->ifc = &b;
	s->got = dispatch_semaphore_create(0);
	CHECK(vmnet_interface_set_event_callback_f(b.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, evq, s, on_packets) ==
	      VMNET_SUCCESS);
	/* mixed NULL/non-NULL is refused */
	CHECK(vmnet_interface_set_event_callback_f(b.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, evq, s, NULL) ==
	      VMNET_INVALID_ARGUMENT);

	memset(frame, 0xff, 6);
	memcpy(frame + 6, a.mac, 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	for (size_t i = 14; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	CHECK(vmnet_write(a.ref, &d, &n) == VMNET_SUCCESS);
	CHECK(n == 1);
	CHECK(dispatch_semaphore_wait(s->got, after_ms(TIMEOUT_MS)) == 0);
	/* the callback ran on evq: a sync barrier on it orders our reads after it */
	dispatch_sync_f(evq, &counter, bump);
	CHECK(atomic_load(&s->events) >= 1);
	CHECK(s->estimate == 1);
	CHECK(s->frames == 1);
	CHECK(s->len == sizeof(frame));
	CHECK(memcmp(s->frame, frame, sizeof(frame)) == 0);

	CHECK(vmnet_interface_set_event_callback_f(b.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL, NULL) ==
	      VMNET_SUCCESS);
	stop(&a);
	stop(&b);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
