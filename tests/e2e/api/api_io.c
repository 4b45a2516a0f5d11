/*
 * api_io.c — packet I/O, events and concurrency between interfaces of one
 * process, through the public API against a private vmnetd (spec §3.3, §4).
 *
 * usage: api_io
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include <Block.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_common.h"

#define BUF 2048

static struct tif A, B, C;

/* Wait until *c stops changing for quiet_ms (at most max_ms). Return: its value. */
static int settle(atomic_int *c, int quiet_ms, int max_ms)
{
	uint64_t end = t_now_ms() + (uint64_t)max_ms, last_change = t_now_ms();
	int v = atomic_load(c);

	while (t_now_ms() < end) {
		int w;

		t_sleep_ms(10);
		w = atomic_load(c);
		if (w != v) {
			v = w;
			last_change = t_now_ms();
		} else if (t_now_ms() - last_change >= (uint64_t)quiet_ms) {
			break;
		}
	}
	return v;
}

static void drain_all(void)
{
	t_drain(A.ref);
	t_drain(B.ref);
	if (C.running)
		t_drain(C.ref);
}

/* Collect exactly want frames on t (up to 3 s), then anything extra within 100 ms. */
static int expect_frames(struct tif *t, struct t_rx *r, int want)
{
	int n = t_collect(t->ref, r, want, 3000, BUF);

	if (want > 0)
		n += t_collect(t->ref, r, 0, 100, BUF);
	return n;
}

/* ------------------------------------------------------------------ */
/* 3. write/read semantics                                             */
/* ------------------------------------------------------------------ */

static void test_write_limits(void)
{
	enum { N = 257 };
	struct vmpktdesc d[N];
	struct iovec iov[N];
	static uint8_t f[N][64];
	uint8_t *big = calloc(1, 70000);
	struct t_rx r = { 0 };
	int n;

	t_section("vmnet_write / vmnet_read argument rules (spec 4)");
	drain_all();
	for (int i = 0; i < N; i++) {
		t_frame_build(f[i], 64, t_bcast, A.mac, 10, (uint32_t)i);
		iov[i] = (struct iovec){ f[i], 64 };
		d[i] = (struct vmpktdesc){ .vm_pkt_size = 64, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
	}
	n = 0;
	CHECK_ST(vmnet_write(A.ref, d, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 0);
	n = 0;
	CHECK_ST(vmnet_read(B.ref, d, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 0);
	n = 4;
	for (int i = 0; i < 4; i++)
		d[i].vm_pkt_size = 64;
	CHECK_ST(vmnet_read(B.ref, d, &n), VMNET_SUCCESS);
	CHECKF(n == 0, "reading an empty interface gives SUCCESS with 0 packets (got %d)", n);

	n = N;
	CHECK_ST(vmnet_write(A.ref, d, &n), VMNET_TOO_MANY_PACKETS);
	n = N;
	for (int i = 0; i < N; i++) {
		iov[i].iov_len = 64;
		d[i].vm_pkt_size = 64;
	}
	CHECK_ST(vmnet_read(B.ref, d, &n), VMNET_TOO_MANY_PACKETS);
	n = -1;
	CHECK_ST(vmnet_write(A.ref, d, &n), VMNET_INVALID_ARGUMENT);
	CHECKF(t_collect(B.ref, &r, 0, 200, BUF) == 0, "a refused batch of 257 sends nothing");
	t_rx_free(&r);

	/* sizes */
	t_frame_build(big, 64, t_bcast, A.mac, 11, 0);
	CHECK_ST(t_write1(A.ref, big, 13), VMNET_INVALID_ARGUMENT);
	CHECK_ST(t_write1(A.ref, big, 0), VMNET_INVALID_ARGUMENT);
	t_frame_build(big, A.mps + 1, t_bcast, A.mac, 11, 1);
	CHECK_ST(t_write1(A.ref, big, A.mps + 1), VMNET_PACKET_TOO_BIG);
	CHECK_ST(t_write1(A.ref, big, 65536), VMNET_PACKET_TOO_BIG);
	CHECKF(t_collect(B.ref, &r, 0, 200, BUF) == 0, "refused frames are not sent");
	t_rx_free(&r);

	/* all or nothing: one bad frame in a batch sends none */
	n = 3;
	iov[1].iov_len = 13;
	d[1].vm_pkt_size = 13;
	CHECK_ST(vmnet_write(A.ref, d, &n), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(n, 0);
	CHECKF(t_collect(B.ref, &r, 0, 200, BUF) == 0, "a batch with a 13-byte frame sends nothing");
	t_rx_free(&r);
	iov[1].iov_len = 64;
	d[1].vm_pkt_size = 64;

	/* exactly 14 bytes (an Ethernet header) and exactly max_packet_size pass */
	memcpy(big, t_bcast, 6);
	memcpy(big + 6, A.mac, 6);
	big[12] = 0x88;
	big[13] = 0xb6;
	CHECK_ST(t_write1(A.ref, big, 14), VMNET_SUCCESS);
	CHECK_EQ(expect_frames(&B, &r, 1), 1);
	if (r.n == 1) {
		CHECK_EQ(r.len[0], 14);
		CHECK(!memcmp(r.data[0], big, 14));
	}
	t_rx_free(&r);
	t_frame_build(big, A.mps, t_bcast, A.mac, 12, 7);
	CHECK_ST(t_write1(A.ref, big, A.mps), VMNET_SUCCESS);
	CHECK_EQ(expect_frames(&B, &r, 1), 1);
	if (r.n == 1) {
		uint32_t tg, sq;

		CHECK_EQ(r.len[0], A.mps);
		CHECKF(t_frame_parse(r.data[0], r.len[0], &tg, &sq) && tg == 12 && sq == 7,
		       "a max_packet_size frame arrives intact");
	}
	t_rx_free(&r);
	free(big);
	drain_all();
}

static void test_multi_iov_write(void)
{
	uint8_t frame[1000];
	struct iovec iov[4] = {
		{ frame, 14 }, { frame + 14, 100 }, { frame + 114, 0 }, { frame + 114, 886 },
	};
	struct vmpktdesc d = { .vm_pkt_size = sizeof(frame), .vm_pkt_iov = iov, .vm_pkt_iovcnt = 4 };
	struct t_rx r = { 0 };
	int n = 1;

	t_section("multi-iovec write");
	t_frame_build(frame, sizeof(frame), t_bcast, A.mac, 13, 1);
	CHECK_ST(vmnet_write(A.ref, &d, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(expect_frames(&B, &r, 1), 1);
	if (r.n == 1) {
		CHECK_EQ(r.len[0], sizeof(frame));
		CHECKF(r.len[0] == sizeof(frame) && !memcmp(r.data[0], frame, sizeof(frame)),
		       "the frame written from 4 iovecs arrives intact");
	}
	t_rx_free(&r);
	drain_all();
}

/* Read into caller-prepared descriptors until something comes (up to 3 s). */
static vmnet_return_t read_wait(interface_ref ifc, struct vmpktdesc *d, int cnt, int *n, void (^reset)(void))
{
	uint64_t end = t_now_ms() + 3000;
	vmnet_return_t st;

	do {
		reset();
		*n = cnt;
		st = vmnet_read(ifc, d, n);
		if (st != VMNET_SUCCESS || *n > 0)
			return st;
		t_sleep_ms(1);
	} while (t_now_ms() < end);
	return st;
}

static void test_read_semantics(void)
{
	static uint8_t bufs[4][BUF];
	static struct iovec iov[4];
	static struct vmpktdesc d[4];
	uint8_t frame[1000], small_frame[100];
	uint8_t *guarded = malloc(600);
	struct t_rx r = { 0 };
	uint32_t tg, sq;
	int n;
	bool got_small = false, truncated = false;

	t_section("vmnet_read output fields (spec 4.1, 12)");
	drain_all();
	t_frame_build(small_frame, sizeof(small_frame), t_bcast, A.mac, 14, 1);
	CHECK_ST(t_write1(A.ref, small_frame, sizeof(small_frame)), VMNET_SUCCESS);
	CHECK_ST(read_wait(B.ref, d, 4, &n, ^{
			 for (int i = 0; i < 4; i++) {
				 iov[i] = (struct iovec){ bufs[i], BUF };
				 d[i] = (struct vmpktdesc){ .vm_pkt_size = BUF, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1,
							    .vm_flags = 0 };
			 }
		 }),
		 VMNET_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(d[0].vm_pkt_size, sizeof(small_frame));
	CHECKF(iov[0].iov_len == sizeof(small_frame), "single iovec: iov_len shrunk to the frame length (got %zu)",
	       iov[0].iov_len);
	CHECK_EQ(d[0].vm_flags, 0);
	CHECK(!memcmp(bufs[0], small_frame, sizeof(small_frame)));
	for (int i = 1; i < 4; i++) {
		CHECKF(d[i].vm_pkt_size == BUF && iov[i].iov_len == BUF,
		       "unused descriptor %d untouched (vm_pkt_size %zu, iov_len %zu)", i, d[i].vm_pkt_size,
		       iov[i].iov_len);
	}
	drain_all();

	/*
	 * QEMU's read loop (net/vmnet-common.m): the iovecs are set up once with
	 * iov_len = max_packet_size; before every read only vm_pkt_size,
	 * vm_pkt_iovcnt and vm_flags are reset. After a short frame, a long
	 * frame read into the same descriptor must still arrive whole.
	 */
	{
		static uint8_t qbuf[2][1514];
		uint8_t big[1400];
		bool got_big = false;
		int reads = 0;

		t_frame_build(small_frame, 60, t_bcast, A.mac, 17, 1);
		t_frame_build(big, sizeof(big), t_bcast, A.mac, 17, 2);
		for (int i = 0; i < 2; i++) {
			iov[i] = (struct iovec){ qbuf[i], A.mps };
			d[i].vm_pkt_iov = &iov[i];
		}
		CHECK_ST(t_write1(A.ref, small_frame, 60), VMNET_SUCCESS);
		CHECK_ST(read_wait(B.ref, d, 2, &n, ^{
				 for (int i = 0; i < 2; i++) {
					 d[i].vm_pkt_size = A.mps;
					 d[i].vm_pkt_iovcnt = 1;
					 d[i].vm_flags = 0;
				 }
			 }),
			 VMNET_SUCCESS);
		CHECKF(n == 1 && d[0].vm_pkt_size == 60, "QEMU-style read: the 60-byte frame (n %d, size %zu)", n,
		       d[0].vm_pkt_size);
		CHECK_ST(t_write1(A.ref, big, sizeof(big)), VMNET_SUCCESS);
		t_sleep_ms(100);
		/* iov[0].iov_len is whatever the previous read left there, as in QEMU */
		for (uint64_t end = t_now_ms() + 500; !got_big && t_now_ms() < end; reads++) {
			for (int i = 0; i < 2; i++) {
				d[i].vm_pkt_size = A.mps;
				d[i].vm_pkt_iovcnt = 1;
				d[i].vm_flags = 0;
			}
			n = 2;
			if (vmnet_read(B.ref, d, &n) != VMNET_SUCCESS)
				break;
			for (int i = 0; i < n; i++)
				if (t_frame_parse(qbuf[i], d[i].vm_pkt_size, &tg, &sq) && tg == 17 && sq == 2)
					got_big = true;
			if (n == 0)
				t_sleep_ms(5);
		}
		CHECKF(got_big,
		       "QEMU-style read (iov_len not reset, vm_pkt_size reset to max_packet_size): a %zu-byte frame "
		       "after a 60-byte one is delivered (iov[0].iov_len is %zu)",
		       sizeof(big), iov[0].iov_len);
		drain_all();
	}

	/* multi-iovec read */
	t_frame_build(frame, sizeof(frame), t_bcast, A.mac, 15, 1);
	CHECK_ST(t_write1(A.ref, frame, sizeof(frame)), VMNET_SUCCESS);
	memset(bufs, 0, sizeof(bufs));
	CHECK_ST(read_wait(B.ref, d, 1, &n, ^{
			 iov[0] = (struct iovec){ bufs[0], 300 };
			 iov[1] = (struct iovec){ bufs[1], 300 };
			 iov[2] = (struct iovec){ bufs[2], 600 };
			 d[0] = (struct vmpktdesc){ .vm_pkt_size = 1200, .vm_pkt_iov = iov, .vm_pkt_iovcnt = 3 };
		 }),
		 VMNET_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(d[0].vm_pkt_size, sizeof(frame));
	CHECKF(!memcmp(bufs[0], frame, 300) && !memcmp(bufs[1], frame + 300, 300) && !memcmp(bufs[2], frame + 600, 400),
	       "a frame scattered over 3 iovecs is intact");
	drain_all();

	/* Buffers smaller than the frame: no overflow, no truncated frame, the next frame not blocked. */
	t_frame_build(frame, sizeof(frame), t_bcast, A.mac, 16, 1);
	t_frame_build(small_frame, sizeof(small_frame), t_bcast, A.mac, 16, 2);
	CHECK_ST(t_write1(A.ref, frame, sizeof(frame)), VMNET_SUCCESS);
	CHECK_ST(t_write1(A.ref, small_frame, sizeof(small_frame)), VMNET_SUCCESS);
	t_sleep_ms(200);
	memset(guarded, 0xa5, 600);
	iov[0] = (struct iovec){ guarded, 500 };
	d[0] = (struct vmpktdesc){ .vm_pkt_size = 500, .vm_pkt_iov = iov, .vm_pkt_iovcnt = 1 };
	n = 1;
	CHECK_ST(vmnet_read(B.ref, d, &n), VMNET_SUCCESS);
	{
		bool canary = true;

		for (int i = 500; i < 600; i++)
			canary &= guarded[i] == 0xa5;
		CHECKF(canary, "a 500-byte buffer for a 1000-byte frame: nothing written past the buffer");
	}
	if (n == 1) {
		CHECKF(d[0].vm_pkt_size <= 500, "returned size %zu fits the buffer", d[0].vm_pkt_size);
		if (t_frame_parse(guarded, d[0].vm_pkt_size, &tg, &sq))
			got_small = sq == 2;
		else
			truncated = true;
	}
	t_collect(B.ref, &r, 0, 300, BUF);
	for (int i = 0; i < r.n; i++) {
		if (!t_frame_parse(r.data[i], r.len[i], &tg, &sq))
			truncated = true;
		else if (tg == 16 && sq == 2)
			got_small = true;
		else if (tg == 16 && sq == 1)
			t_note("the 1000-byte frame was kept for a later read with a big buffer");
	}
	CHECKF(!truncated, "no truncated frame is ever returned");
	CHECKF(got_small, "the frame behind the too-big one is still delivered");
	t_note("read with a small buffer returned %d packet(s)", n);
	t_rx_free(&r);
	free(guarded);
	drain_all();
}

static void test_batch256(void)
{
	enum { N = 256 };
	struct vmpktdesc *d = calloc(N, sizeof(*d));
	struct iovec *iov = calloc(N, sizeof(*iov));
	uint8_t *mem = malloc((size_t)N * BUF);
	struct t_rx r = { 0 };
	int n = N, in_order = 0;

	t_section("a batch of 256 broadcast frames, one read of 256");
	drain_all();
	CHECK_ST(t_write_frames(A.ref, t_bcast, A.mac, 20, 0, N, 200), VMNET_SUCCESS);
	t_sleep_ms(500);
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ mem + (size_t)i * BUF, BUF };
		d[i] = (struct vmpktdesc){ .vm_pkt_size = BUF, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
	}
	CHECK_ST(vmnet_read(B.ref, d, &n), VMNET_SUCCESS);
	CHECK_EQ(n, N);
	for (int i = 0; i < n; i++) {
		uint32_t tg, sq;

		if (t_frame_parse(iov[i].iov_base, d[i].vm_pkt_size, &tg, &sq) && tg == 20 && sq == (uint32_t)i)
			in_order++;
	}
	CHECKF(in_order == N, "all 256 frames intact and in send order (%d)", in_order);
	/* Nothing more (the gateway's own router advertisements, 02:76:6d:..., do not count). */
	for (int tries = 0; tries < 8; tries++) {
		const uint8_t *f = iov[0].iov_base;

		n = 1;
		d[0].vm_pkt_size = BUF;
		iov[0].iov_len = BUF;
		CHECK_ST(vmnet_read(B.ref, d, &n), VMNET_SUCCESS);
		if (n != 1 || d[0].vm_pkt_size < 14 || f[6] != 0x02 || f[7] != 0x76 || f[8] != 0x6d)
			break;
	}
	CHECKF(n == 0, "nothing more than the 256 frames (got %d)", n);
	CHECKF(t_collect(C.ref, &r, N, 3000, BUF) == N && t_rx_count_tag(&r, 20) == N,
	       "the third interface got the 256 broadcasts too");
	t_rx_free(&r);
	free(d);
	free(iov);
	free(mem);
	drain_all();
}

static void test_unicast(void)
{
	static const uint8_t unknown[6] = { 0x02, 0x00, 0x5e, 0x10, 0x99, 0x01 };
	struct t_rx ra = { 0 }, rb = { 0 }, rc = { 0 };

	t_section("unicast to a learned MAC, flooding, no echo");
	drain_all();
	/* Everybody announces itself, so the switch learns the MACs. */
	CHECK_ST(t_write_frames(B.ref, t_bcast, B.mac, 30, 0, 1, 64), VMNET_SUCCESS);
	CHECK_ST(t_write_frames(C.ref, t_bcast, C.mac, 31, 0, 1, 64), VMNET_SUCCESS);
	CHECK_EQ(expect_frames(&A, &ra, 2), 2);
	t_rx_free(&ra);
	t_sleep_ms(50);
	drain_all();

	CHECK_ST(t_write_frames(A.ref, B.mac, A.mac, 32, 0, 3, 300), VMNET_SUCCESS);
	CHECK_EQ(expect_frames(&B, &rb, 3), 3);
	CHECK_EQ(t_rx_count_tag(&rb, 32), 3);
	CHECKF(t_collect(C.ref, &rc, 0, 300, BUF) == 0, "unicast to B's MAC does not reach C (got %d)", rc.n);
	CHECKF(t_collect(A.ref, &ra, 0, 0, BUF) == 0, "no echo of unicast to the sender");
	t_rx_free(&ra);
	t_rx_free(&rb);
	t_rx_free(&rc);

	CHECK_ST(t_write_frames(A.ref, unknown, A.mac, 33, 0, 1, 300), VMNET_SUCCESS);
	CHECKF(expect_frames(&B, &rb, 1) == 1 && expect_frames(&C, &rc, 1) == 1,
	       "unicast to an unknown MAC is flooded to B and C");
	t_rx_free(&rb);
	t_rx_free(&rc);

	CHECK_ST(t_write_frames(A.ref, t_bcast, A.mac, 34, 0, 5, 300), VMNET_SUCCESS);
	CHECK_EQ(expect_frames(&B, &rb, 5), 5);
	CHECKF(t_collect(A.ref, &ra, 0, 300, BUF) == 0, "no echo of broadcasts to the sender (got %d)", ra.n);
	t_rx_free(&ra);
	t_rx_free(&rb);
	drain_all();
}

static void test_isolation(void)
{
	struct tif D;
	xpc_object_t desc = t_desc_host();
	struct t_rx r = { 0 };
	vmnet_return_t st;

	t_section("vmnet_enable_isolation_key");
	xpc_dictionary_set_bool(desc, vmnet_enable_isolation_key, true);
	st = t_start(&D, "isolated", desc);
	xpc_release(desc);
	CHECK_ST(st, VMNET_SUCCESS);
	if (st != VMNET_SUCCESS)
		return;
	drain_all();
	t_drain(D.ref);
	CHECK_ST(t_write_frames(D.ref, t_bcast, D.mac, 40, 0, 3, 100), VMNET_SUCCESS);
	CHECK_ST(t_write_frames(D.ref, A.mac, D.mac, 41, 0, 1, 100), VMNET_SUCCESS);
	t_sleep_ms(300);
	CHECKF(t_collect(A.ref, &r, 0, 0, BUF) == 0, "A hears nothing from the isolated interface");
	t_rx_free(&r);
	CHECKF(t_collect(B.ref, &r, 0, 0, BUF) == 0, "B hears nothing from the isolated interface");
	t_rx_free(&r);
	CHECKF(t_collect(C.ref, &r, 0, 0, BUF) == 0, "C hears nothing from the isolated interface");
	t_rx_free(&r);

	CHECK_ST(t_write_frames(A.ref, t_bcast, A.mac, 42, 0, 3, 100), VMNET_SUCCESS);
	CHECK_ST(t_write_frames(A.ref, D.mac, A.mac, 43, 0, 1, 100), VMNET_SUCCESS);
	CHECKF(expect_frames(&B, &r, 3) == 3, "B still hears A (broadcast)");
	t_rx_free(&r);
	CHECKF(t_collect(D.ref, &r, 0, 300, BUF) == 0, "the isolated interface hears nothing from A (got %d)", r.n);
	t_rx_free(&r);
	CHECK_ST(t_stop(&D), VMNET_SUCCESS);
	drain_all();
}

/* ------------------------------------------------------------------ */
/* 4. events                                                           */
/* ------------------------------------------------------------------ */

#define MAXEV 256
static atomic_int ev_count, ev_read, ev_bad_mask, ev_bad_dict;
static uint64_t ev_est[MAXEV];

static void ev_reset(void)
{
	atomic_store(&ev_count, 0);
	atomic_store(&ev_read, 0);
	atomic_store(&ev_bad_mask, 0);
	atomic_store(&ev_bad_dict, 0);
	memset(ev_est, 0, sizeof(ev_est));
}

/* Record one event; return its index. */
static int ev_record(interface_event_t mask, xpc_object_t event)
{
	int i = atomic_load(&ev_count);
	xpc_object_t v = event ? xpc_dictionary_get_value(event, vmnet_estimated_packets_available_key) : NULL;

	if (mask != VMNET_INTERFACE_PACKETS_AVAILABLE)
		atomic_fetch_add(&ev_bad_mask, 1);
	if (!v || xpc_get_type(v) != XPC_TYPE_UINT64)
		atomic_fetch_add(&ev_bad_dict, 1);
	if (i < MAXEV)
		ev_est[i] = v ? xpc_uint64_get_value(v) : 0;
	atomic_store(&ev_count, i + 1);
	return i;
}

/* Read up to max frames now. Return: frames read. */
static int read_some(interface_ref ifc, int max)
{
	struct t_rx r = { 0 };
	int n = t_collect(ifc, &r, max, 0, BUF);

	t_rx_free(&r);
	return n;
}

static void disable_events(struct tif *t)
{
	CHECK_ST(vmnet_interface_set_event_callback(t->ref, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL),
		 VMNET_SUCCESS);
}

static void test_event_estimate(void)
{
	dispatch_queue_t q = t_queue("events");
	uint64_t max = 0;
	int n;

	t_section("event: vmnet_estimated_packets_available = backlog");
	drain_all();
	ev_reset();
	CHECK_ST(vmnet_interface_set_event_callback(B.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t mask, xpc_object_t event) {
							    ev_record(mask, event);
						    }),
		 VMNET_SUCCESS);
	t_sleep_ms(100);
	CHECKF(atomic_load(&ev_count) == 0, "no event while nothing arrived");
	CHECK_ST(t_write_frames(A.ref, B.mac, A.mac, 50, 0, 10, 100), VMNET_SUCCESS);
	CHECKF(t_wait_until(3000, ^bool(void) { return atomic_load(&ev_count) > 0; }), "the callback fired");
	n = settle(&ev_count, 300, 3000);
	for (int i = 0; i < n && i < MAXEV; i++)
		max = ev_est[i] > max ? ev_est[i] : max;
	CHECKF(n > 0 && ev_est[(n < MAXEV ? n : MAXEV) - 1] == 10,
	       "the last event (of %d) estimates 10 packets (got %llu)", n,
	       n > 0 ? (unsigned long long)ev_est[(n < MAXEV ? n : MAXEV) - 1] : 0ull);
	CHECKF(max == 10, "no event over-estimates a backlog of 10 (max %llu)", (unsigned long long)max);
	CHECK_EQ(atomic_load(&ev_bad_mask), 0);
	CHECKF(atomic_load(&ev_bad_dict) == 0, "every event carries vmnet_estimated_packets_available as uint64");
	t_note("%d event(s) for one write of 10 frames", n);
	CHECK_EQ(read_some(B.ref, 64), 10);
	disable_events(&B);
}

static void test_event_refire(void)
{
	dispatch_queue_t q = t_queue("events-refire");
	int n1, read1, remaining;

	t_section("event: re-fired on new arrivals while packets remain");
	drain_all();
	ev_reset();
	/* socket_vmnet-like: read a fixed small number per event, leave the rest. */
	CHECK_ST(vmnet_interface_set_event_callback(B.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t mask, xpc_object_t event) {
							    ev_record(mask, event);
							    atomic_fetch_add(&ev_read, read_some(B.ref, 3));
						    }),
		 VMNET_SUCCESS);
	CHECK_ST(t_write_frames(A.ref, B.mac, A.mac, 51, 0, 10, 100), VMNET_SUCCESS);
	CHECKF(t_wait_until(3000, ^bool(void) { return atomic_load(&ev_count) > 0; }), "the callback fired");
	n1 = settle(&ev_count, 300, 3000);
	read1 = atomic_load(&ev_read);
	remaining = 10 - read1;
	CHECKF(remaining > 0, "packets were left unread (%d read by %d event(s))", read1, n1);
	CHECK_ST(t_write_frames(A.ref, B.mac, A.mac, 51, 10, 5, 100), VMNET_SUCCESS);
	CHECKF(t_wait_until(3000, ^bool(void) { return atomic_load(&ev_count) > n1; }),
	       "a new event after new arrivals, with %d packets still queued", remaining);
	if (atomic_load(&ev_count) > n1 && n1 < MAXEV)
		CHECKF(ev_est[n1] == (uint64_t)(remaining + 5), "its estimate is the backlog %d (got %llu)",
		       remaining + 5, (unsigned long long)ev_est[n1]);
	settle(&ev_count, 300, 3000);
	disable_events(&B);
	t_sleep_ms(50);
	CHECK_EQ(atomic_load(&ev_read) + t_drain(B.ref), 15);
}

static void test_event_serialized(void)
{
	dispatch_queue_t cq = t_cqueue("events-concurrent");
	__block atomic_int inflight = 0, max_inflight = 0, received = 0, corrupt = 0, calls = 0;
	uint64_t end;
	int sent = 0;

	t_section("event: never two callbacks of one interface at once (concurrent queue, slow callback)");
	drain_all();
	CHECK_ST(vmnet_interface_set_event_callback(
			 B.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, cq, ^(interface_event_t mask, xpc_object_t event) {
				 int in = atomic_fetch_add(&inflight, 1) + 1;
				 int m = atomic_load(&max_inflight);
				 struct t_rx r = { 0 };

				 while (in > m && !atomic_compare_exchange_weak(&max_inflight, &m, in))
					 ;
				 atomic_fetch_add(&calls, 1);
				 t_sleep_ms(200);
				 t_collect(B.ref, &r, 0, 0, BUF);
				 for (int i = 0; i < r.n; i++) {
					 uint32_t tg, sq;

					 if (t_frame_parse(r.data[i], r.len[i], &tg, &sq) && tg == 52)
						 atomic_fetch_add(&received, 1);
					 else
						 atomic_fetch_add(&corrupt, 1);
				 }
				 t_rx_free(&r);
				 atomic_fetch_sub(&inflight, 1);
			 }),
		 VMNET_SUCCESS);
	end = t_now_ms() + 1000;
	while (t_now_ms() < end) {
		if (t_write_frames(A.ref, B.mac, A.mac, 52, (uint32_t)sent, 1, 80) == VMNET_SUCCESS)
			sent++;
		t_sleep_ms(20);
	}
	CHECKF(t_wait_until(3000, ^bool(void) { return atomic_load(&received) >= sent; }),
	       "every frame was read from callbacks alone: no lost wakeup (%d of %d)", atomic_load(&received), sent);
	CHECKF(atomic_load(&max_inflight) == 1, "at most one callback in flight (max %d)", atomic_load(&max_inflight));
	CHECKF(atomic_load(&calls) >= 2, "arrivals during a callback produce another one (%d calls)",
	       atomic_load(&calls));
	CHECK_EQ(atomic_load(&corrupt), 0);
	disable_events(&B);
	t_sleep_ms(250); /* let a running callback finish */
	drain_all();
}

static void test_event_exact_reader(void)
{
	dispatch_queue_t q = t_queue("events-socket_vmnet");
	__block atomic_int received = 0, corrupt = 0;
	const int total = 350;
	int sent = 0;

	t_section("event: a reader that reads exactly the estimate (socket_vmnet) gets every frame");
	drain_all();
	CHECK_ST(vmnet_interface_set_event_callback(
			 B.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q, ^(interface_event_t mask, xpc_object_t event) {
				 int left = (int)xpc_dictionary_get_uint64(event, vmnet_estimated_packets_available_key);

				 while (left > 0) {
					 struct t_rx r = { 0 };
					 int chunk = left < 32 ? left : 32;
					 int n = t_collect(B.ref, &r, chunk, 0, BUF);

					 for (int i = 0; i < r.n; i++) {
						 uint32_t tg, sq;

						 if (t_frame_parse(r.data[i], r.len[i], &tg, &sq) && tg == 56)
							 atomic_fetch_add(&received, 1);
						 else
							 atomic_fetch_add(&corrupt, 1);
					 }
					 t_rx_free(&r);
					 if (n < chunk)
						 break;
					 left -= n;
				 }
			 }),
		 VMNET_SUCCESS);
	while (sent < total) {
		int burst = total - sent < 7 ? total - sent : 7;

		if (t_write_frames(A.ref, B.mac, A.mac, 56, (uint32_t)sent, burst, 90) == VMNET_SUCCESS)
			sent += burst;
		t_sleep_ms(3);
	}
	CHECKF(t_wait_until(3000, ^bool(void) { return atomic_load(&received) >= total; }),
	       "all %d frames read by estimate-sized reads from callbacks alone (got %d)", total,
	       atomic_load(&received));
	CHECK_EQ(atomic_load(&corrupt), 0);
	disable_events(&B);
	CHECKF(t_flush(q, 5000), "queue q drained");
	CHECK_EQ(t_drain(B.ref), 0);
}

static void test_event_disable(void)
{
	dispatch_queue_t q = t_queue("events-disable");
	dispatch_semaphore_t hold = t_sem(0), entered = t_sem(0);
	__block atomic_int count = 0;
	int c;
	uint64_t t0;

	t_section("event: disable with NULL/NULL; mixed NULL is INVALID_ARGUMENT");
	drain_all();
	CHECK_ST(vmnet_interface_set_event_callback(B.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t mask, xpc_object_t event) {
							    atomic_fetch_add(&count, 1);
						    }),
		 VMNET_SUCCESS);
	CHECK_ST(t_write_frames(A.ref, B.mac, A.mac, 53, 0, 2, 100), VMNET_SUCCESS);
	CHECKF(t_wait_until(3000, ^bool(void) { return atomic_load(&count) > 0; }), "the callback fired");
	settle(&count, 200, 2000);
	disable_events(&B);
	c = atomic_load(&count);
	CHECK_ST(t_write_frames(A.ref, B.mac, A.mac, 53, 2, 5, 100), VMNET_SUCCESS);
	t_sleep_ms(400);
	CHECKF(atomic_load(&count) == c, "no callback after disabling (%d -> %d)", c, atomic_load(&count));
	CHECK_EQ(t_drain(B.ref), 7);

	CHECK_ST(vmnet_interface_set_event_callback(B.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_set_event_callback(B.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL,
						    ^(interface_event_t mask, xpc_object_t event) {
							    atomic_fetch_add(&count, 1000);
						    }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(t_write_frames(A.ref, B.mac, A.mac, 53, 7, 1, 100), VMNET_SUCCESS);
	t_sleep_ms(300);
	CHECKF(atomic_load(&count) == c, "a refused registration installs nothing");
	CHECK_EQ(t_drain(B.ref), 1);

	/* Disabling while a callback is blocked inside it returns at once (spec 3.3). */
	CHECK_ST(vmnet_interface_set_event_callback(B.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t mask, xpc_object_t event) {
							    dispatch_semaphore_signal(entered);
							    dispatch_semaphore_wait(hold, t_deadline_ms(5000));
						    }),
		 VMNET_SUCCESS);
	CHECK_ST(t_write_frames(A.ref, B.mac, A.mac, 53, 8, 1, 100), VMNET_SUCCESS);
	CHECKF(dispatch_semaphore_wait(entered, t_deadline_ms(3000)) == 0, "the blocking callback was entered");
	t0 = t_now_ms();
	disable_events(&B);
	CHECKF(t_now_ms() - t0 < 1000, "disabling does not wait for a blocked callback (%llu ms)",
	       (unsigned long long)(t_now_ms() - t0));
	dispatch_semaphore_signal(hold);
	t_sleep_ms(50);
	drain_all();
}

static void test_event_after_stop(void)
{
	dispatch_queue_t q = t_queue("events-stop"), sq = t_queue("stop-handler");
	dispatch_queue_t wq = t_cqueue("writer");
	dispatch_semaphore_t stopped = t_sem(0), wdone = t_sem(0), hdone = t_sem(0);
	__block atomic_int calls = 0, late = 0, stop_done = 0, writer_stop = 0, wsent = 0;
	__block atomic_int io_ok = 0, io_inval = 0, io_other = 0;
	__block bool hammer_ok = false;
	interface_ref eref;
	__block vmnet_return_t hst = T_TIMEOUT;
	struct tif E;
	interface_ref aref = A.ref;
	const uint8_t *emac;

	t_section("event: no callback after the stop handler ran");
	if (!t_start_host(&E, "event-stop"))
		return;
	emac = E.mac;
	eref = E.ref;
	CHECK_ST(vmnet_interface_set_event_callback(E.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t mask, xpc_object_t event) {
							    if (atomic_load(&stop_done))
								    atomic_fetch_add(&late, 1);
							    atomic_fetch_add(&calls, 1);
							    t_sleep_ms(2);
						    }),
		 VMNET_SUCCESS);
	/* E announces itself so that A's unicast reaches it. */
	CHECK_ST(t_write_frames(E.ref, t_bcast, E.mac, 54, 0, 1, 64), VMNET_SUCCESS);
	t_sleep_ms(50);
	dispatch_async(wq, ^{
		uint32_t seq = 0;

		while (!atomic_load(&writer_stop)) {
			if (t_write_frames(aref, emac, A.mac, 55, seq, 4, 100) == VMNET_SUCCESS) {
				seq += 4;
				atomic_fetch_add(&wsent, 4);
			}
			t_sleep_ms(2);
		}
		dispatch_semaphore_signal(wdone);
	});
	CHECKF(t_wait_until(3000, ^bool(void) { return atomic_load(&calls) > 3; }),
	       "callbacks flowing before stop (%d callbacks, %d frames sent to it)", atomic_load(&calls),
	       atomic_load(&wsent));
	/* Then another thread keeps calling vmnet_read/vmnet_write on E across the stop (started
	 * after the callbacks flow: a reader that drains every frame first leaves no event to send). */
	dispatch_async(wq, ^{
		uint8_t f[100];
		struct t_rx r = { 0 };

		t_frame_build(f, sizeof(f), A.mac, emac, 57, 0);
		while (!atomic_load(&stop_done)) {
			vmnet_return_t w = t_write1(eref, f, sizeof(f));
			int before = r.errors;

			t_collect(eref, &r, 8, 0, BUF);
			if (w == VMNET_SUCCESS || w == VMNET_BUFFER_EXHAUSTED)
				atomic_fetch_add(&io_ok, 1);
			else if (w == VMNET_INVALID_ARGUMENT)
				atomic_fetch_add(&io_inval, 1);
			else if (atomic_fetch_add(&io_other, 1) == 0)
				printf("   I/O during stop: vmnet_write returned %s\n", t_st_name(w));
			if (r.errors != before)
				atomic_fetch_add(&io_inval, 1);
			t_rx_free(&r);
		}
		dispatch_semaphore_signal(hdone);
	});
	t_sleep_ms(100); /* the I/O thread is busy when the stop begins */
	CHECK_ST(vmnet_stop_interface(E.ref, sq, ^(vmnet_return_t s) {
			 hst = s;
			 atomic_store(&stop_done, 1);
			 /* the handle stays valid until this handler returns: let the I/O thread finish first */
			 hammer_ok = dispatch_semaphore_wait(hdone, t_deadline_ms(5000)) == 0;
			 dispatch_semaphore_signal(stopped);
		 }),
		 VMNET_SUCCESS);
	CHECKF(dispatch_semaphore_wait(stopped, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0, "the stop handler ran");
	CHECK_ST(hst, VMNET_SUCCESS);
	t_sleep_ms(300);
	atomic_store(&writer_stop, 1);
	CHECKF(dispatch_semaphore_wait(wdone, t_deadline_ms(5000)) == 0, "writer finished");
	t_sleep_ms(100);
	CHECKF(atomic_load(&late) == 0, "no callback ran after the stop handler (%d late of %d)", atomic_load(&late),
	       atomic_load(&calls));
	t_note("%d callbacks, %d frames written during the test", atomic_load(&calls), atomic_load(&wsent));
	CHECKF(hammer_ok, "I/O on another thread across the stop ended");
	CHECKF(atomic_load(&io_other) == 0,
	       "I/O racing with stop: only SUCCESS/BUFFER_EXHAUSTED, then INVALID_ARGUMENT (%d ok, %d invalid, %d other)",
	       atomic_load(&io_ok), atomic_load(&io_inval), atomic_load(&io_other));
	drain_all();

	/* vmnet_stop_interface from inside the interface's own event callback */
	{
		struct tif F;
		dispatch_queue_t fq = t_queue("events-self-stop"), fsq = t_queue("self-stop-handler");
		dispatch_semaphore_t fdone = t_sem(0);
		__block atomic_int fcalls = 0, flate = 0, fstopped = 0;
		__block vmnet_return_t fst = T_TIMEOUT, fhst = T_TIMEOUT;
		__block interface_ref fref;

		t_section("event: vmnet_stop_interface from inside the event callback");
		if (!t_start_host(&F, "self-stop"))
			return;
		fref = F.ref;
		CHECK_ST(vmnet_interface_set_event_callback(
				 fref, VMNET_INTERFACE_PACKETS_AVAILABLE, fq, ^(interface_event_t m, xpc_object_t e) {
					 if (atomic_load(&fstopped))
						 atomic_fetch_add(&flate, 1);
					 if (atomic_fetch_add(&fcalls, 1) == 0)
						 fst = vmnet_stop_interface(fref, fsq, ^(vmnet_return_t st) {
							 fhst = st;
							 atomic_store(&fstopped, 1);
							 dispatch_semaphore_signal(fdone);
						 });
				 }),
			 VMNET_SUCCESS);
		CHECK_ST(t_write_frames(A.ref, t_bcast, A.mac, 58, 0, 3, 100), VMNET_SUCCESS);
		CHECKF(dispatch_semaphore_wait(fdone, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0,
		       "the stop requested from the callback completed (no deadlock)");
		CHECK_ST(fst, VMNET_SUCCESS);
		CHECK_ST(fhst, VMNET_SUCCESS);
		CHECK_ST(t_write_frames(A.ref, t_bcast, A.mac, 58, 3, 3, 100), VMNET_SUCCESS);
		t_sleep_ms(200);
		CHECKF(atomic_load(&flate) == 0, "no callback after that stop handler (%d)", atomic_load(&flate));
		drain_all();
	}
}

/* ------------------------------------------------------------------ */
/* 5. concurrency                                                      */
/* ------------------------------------------------------------------ */

#define NSTREAM 4 /* tags 1, 2 (S -> P), 3 (P -> S) */

struct stream {
	atomic_int sent, received, gaps, reorder, exhausted, errors;
	uint32_t next; /* touched only by the one reader of the stream */
};

static struct stream streams[NSTREAM];
static atomic_int conc_corrupt;

/* Verify everything queued on ifc (reader side of the event callback). */
static void conc_read(interface_ref ifc)
{
	enum { BATCH = 64 };
	uint8_t *mem = malloc(BATCH * BUF);
	struct vmpktdesc d[BATCH];
	struct iovec iov[BATCH];

	for (;;) {
		int n = BATCH;

		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ mem + (size_t)i * BUF, BUF };
			d[i] = (struct vmpktdesc){ .vm_pkt_size = BUF, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
		}
		if (vmnet_read(ifc, d, &n) != VMNET_SUCCESS || n == 0)
			break;
		for (int i = 0; i < n; i++) {
			uint32_t tg, sq;
			struct stream *s;

			if (!t_frame_parse(iov[i].iov_base, d[i].vm_pkt_size, &tg, &sq) || tg >= NSTREAM) {
				atomic_fetch_add(&conc_corrupt, 1);
				continue;
			}
			if (tg == 0) /* a late MAC announcement */
				continue;
			s = &streams[tg];
			if (sq < s->next)
				atomic_fetch_add(&s->reorder, 1);
			else if (sq > s->next)
				atomic_fetch_add(&s->gaps, (int)(sq - s->next));
			if (sq >= s->next)
				s->next = sq + 1;
			atomic_fetch_add(&s->received, 1);
		}
	}
	free(mem);
}

/* One "VM": write batches to ifc until the deadline. */
static void conc_writer(interface_ref ifc, const uint8_t dst[6], const uint8_t src[6], uint32_t tag, uint64_t end)
{
	enum { BATCH = 16 };
	struct stream *s = &streams[tag];
	struct vmpktdesc d[BATCH];
	struct iovec iov[BATCH];
	uint8_t *mem = malloc(BATCH * BUF);
	unsigned seed = tag * 7919u;
	uint32_t seq = 0;

	while (t_now_ms() < end) {
		vmnet_return_t st;
		int n = BATCH;

		for (int i = 0; i < BATCH; i++) {
			size_t len = 60 + (size_t)(rand_r(&seed) % (1514 - 60 + 1));

			t_frame_build(mem + (size_t)i * BUF, len, dst, src, tag, seq + (uint32_t)i);
			iov[i] = (struct iovec){ mem + (size_t)i * BUF, len };
			d[i] = (struct vmpktdesc){ .vm_pkt_size = len, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
		}
		st = vmnet_write(ifc, d, &n);
		if (st == VMNET_SUCCESS && n == BATCH) {
			seq += BATCH;
			atomic_fetch_add(&s->sent, BATCH);
			sched_yield();
		} else if (st == VMNET_BUFFER_EXHAUSTED) {
			atomic_fetch_add(&s->exhausted, 1);
			t_sleep_ms(1);
		} else {
			atomic_fetch_add(&s->errors, 1);
			printf("   writer %u: vmnet_write %s, n %d\n", tag, t_st_name(st), n);
			break;
		}
	}
	/* A final batch once the reader has caught up: it must arrive (no lost wakeup at the end). */
	t_sleep_ms(300);
	for (int tries = 0; tries < 1000; tries++) {
		vmnet_return_t st = t_write_frames(ifc, dst, src, tag, seq, 4, 100);

		if (st == VMNET_SUCCESS) {
			atomic_fetch_add(&s->sent, 4);
			break;
		}
		t_sleep_ms(1);
	}
	free(mem);
}

static void test_concurrency(void)
{
	struct tif S, P;
	uuid_t net;
	dispatch_queue_t sq = t_queue("S-events"), pq = t_queue("P-events");
	dispatch_queue_t vms = t_cqueue("vms");
	dispatch_group_t g = t_group();
	interface_ref sref, pref;
	uint64_t end;
	const uint8_t *smac, *pmac;

	t_section("concurrency: two writers on one interface, reads on the event queue (socket_vmnet pattern)");
	memset(streams, 0, sizeof(streams));
	uuid_generate_random(net);
	if (!t_start_netid(&S, "S", net))
		return;
	if (!t_start_netid(&P, "P", net)) {
		t_stop(&S);
		return;
	}
	sref = S.ref;
	pref = P.ref;
	smac = S.mac;
	pmac = P.mac;
	/* Learn both MACs first. */
	t_write_frames(sref, t_bcast, smac, 0, 0, 1, 64);
	t_write_frames(pref, t_bcast, pmac, 0, 0, 1, 64);
	t_sleep_ms(50);
	t_drain(sref);
	t_drain(pref);
	CHECK_ST(vmnet_interface_set_event_callback(sref, VMNET_INTERFACE_PACKETS_AVAILABLE, sq,
						    ^(interface_event_t m, xpc_object_t e) {
							    conc_read(sref);
						    }),
		 VMNET_SUCCESS);
	CHECK_ST(vmnet_interface_set_event_callback(pref, VMNET_INTERFACE_PACKETS_AVAILABLE, pq,
						    ^(interface_event_t m, xpc_object_t e) {
							    conc_read(pref);
						    }),
		 VMNET_SUCCESS);
	end = t_now_ms() + 2000;
	dispatch_group_async(g, vms, ^{ conc_writer(sref, pmac, smac, 1, end); });
	dispatch_group_async(g, vms, ^{ conc_writer(sref, pmac, smac, 2, end); });
	dispatch_group_async(g, vms, ^{ conc_writer(pref, smac, pmac, 3, end); });
	CHECKF(dispatch_group_wait(g, t_deadline_ms(10000)) == 0, "the writers finished");
	t_note("writers ran for 2 s, then sent a final batch after a 300 ms pause");
	/* Let the readers catch up. */
	t_wait_until(3000, ^bool(void) {
		for (int i = 1; i < NSTREAM; i++)
			if (atomic_load(&streams[i].received) + atomic_load(&streams[i].gaps) < atomic_load(&streams[i].sent))
				return false;
		return true;
	});
	t_sleep_ms(200);
	CHECK_ST(vmnet_interface_set_event_callback(sref, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL), VMNET_SUCCESS);
	CHECK_ST(vmnet_interface_set_event_callback(pref, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL), VMNET_SUCCESS);
	CHECKF(t_flush(sq, 5000), "queue sq drained");
	CHECKF(t_flush(pq, 5000), "queue pq drained");
	CHECKF(atomic_load(&conc_corrupt) == 0, "every frame received is intact (%d corrupt)", atomic_load(&conc_corrupt));
	for (int i = 1; i < NSTREAM; i++) {
		struct stream *s = &streams[i];
		int sent = atomic_load(&s->sent), rec = atomic_load(&s->received);

		CHECKF(sent > 0, "stream %d: frames were written (%d)", i, sent);
		CHECKF(rec > 0, "stream %d: frames were received (%d)", i, rec);
		CHECKF(rec <= sent, "stream %d: received %d <= sent %d", i, rec, sent);
		CHECKF(atomic_load(&s->reorder) == 0, "stream %d: per-writer order preserved (%d out of order)", i,
		       atomic_load(&s->reorder));
		CHECK_EQ(atomic_load(&s->errors), 0);
		CHECKF(s->next == (uint32_t)sent, "stream %d: the final frame (seq %d) arrived (last seen %u)", i,
		       sent - 1, s->next - 1);
		t_note("stream %d (%s): sent %d, received %d, lost %d (gaps %d), BUFFER_EXHAUSTED %d", i,
		       i < 3 ? "S->P" : "P->S", sent, rec, sent - rec, atomic_load(&s->gaps),
		       atomic_load(&s->exhausted));
	}
	CHECK_ST(t_stop(&S), VMNET_SUCCESS);
	CHECK_ST(t_stop(&P), VMNET_SUCCESS);
}

int main(void)
{
	bool ok = t_start_host(&A, "A");

	ok = t_start_host(&B, "B") && ok;
	ok = t_start_host(&C, "C") && ok;
	if (!ok)
		return t_done("api_io");
	CHECK_EQ(A.mps, 1514);
	CHECK_EQ(A.wmax, 256);
	CHECK_EQ(A.rmax, 256);
	test_write_limits();
	test_multi_iov_write();
	test_read_semantics();
	test_batch256();
	test_unicast();
	test_isolation();
	CHECK_ST(t_stop(&C), VMNET_SUCCESS);
	test_event_estimate();
	test_event_refire();
	test_event_serialized();
	test_event_exact_reader();
	test_event_disable();
	test_event_after_stop();
	test_concurrency();
	CHECK_ST(t_stop(&A), VMNET_SUCCESS);
	CHECK_ST(t_stop(&B), VMNET_SUCCESS);
	return t_done("api_io");
}
