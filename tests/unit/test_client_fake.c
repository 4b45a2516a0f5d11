/*
 * test_client_fake.c — libvmnet against a fake vmnetd living in this process.
 *
 * The fake listens on a temporary SOCK_SEQPACKET socket (VMNET_SOCKET points
 * at it), answers CTL_START with a memfd ring and two eventfds and CTL_STOP
 * with success. The test itself plays the daemon's data plane on the shared
 * mapping: it consumes TX and produces RX, kicking as ring.h prescribes.
 *
 * Checked: interface_param (private keys removed), vmnet_write into TX (kick
 * only when asked, multi-iovec gather, all-or-nothing, BUFFER_EXHAUSTED, too
 * many / too big / too short / inconsistent sizes), vmnet_read from RX
 * (scatter, iov_len shrink, oversized frame dropped, limits), the event
 * callback (estimate, one at a time, re-fire only after new arrivals,
 * disable / re-enable, disable from inside), stop (also from inside the
 * callback and before the start completed) and daemon death.
 *
 * Build: link with libvmnet plus common/ring.c and common/ctl.c compiled into
 * the test (their xpc calls resolve to libvmnet's exported xpc_*).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <vmnet/vmnet.h>

#include "common/ctl.h"
#include "common/ring.h"
#include "common/util.h"

#define NSLOTS 512
#define MAX_FRAME 1514
#define WAIT_MS 3000

static int failures;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                        \
		}                                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                                                       \
	do {                                                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);                                          \
		if (_a != _b) {                                                                              \
			fprintf(stderr, "%s:%d: FAILED: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, \
				_a, _b);                                                                     \
			failures++;                                                                          \
		}                                                                                            \
	} while (0)

/* ---- the fake daemon ---- */

static struct {
	char path[108];
	int lfd;
	_Atomic int conn;
	_Atomic int starts, stops, start_delay_ms;
	xpc_object_t last_desc;
	/* the current interface's data plane, daemon side */
	struct ring_layout layout;
	void *shm;
	struct ring tx, rx; /* tx: we consume; rx: we produce */
	int kick_tx, kick_rx;
	_Atomic bool ready;
} fake = { .lfd = -1, .conn = -1 };

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Poll cond every millisecond for up to ms. */
#define WAIT_FOR(cond, ms)                                  \
	do {                                                \
		for (int _i = 0; _i < (ms) && !(cond); _i++) \
			sleep_ms(1);                        \
	} while (0)

/* Build the daemon's side of a new interface and send the CTL_START reply. */
static void fake_start(int c, const struct ctl_hdr *h, xpc_object_t desc)
{
	xpc_object_t p = xpc_dictionary_create_empty();
	uuid_t id;
	int fds[3];

	if (fake.last_desc)
		xpc_release(fake.last_desc);
	fake.last_desc = xpc_retain(desc);
	if (fake.start_delay_ms)
		sleep_ms(fake.start_delay_ms);
	if (fake.shm)
		ring_unmap(fake.shm, &fake.layout);
	ring_layout_init(&fake.layout, NSLOTS, MAX_FRAME);
	fds[0] = ring_memfd_create(&fake.layout, "fake-vmnetd");
	/* Doorbells as vmnetd makes them: we read kick_tx and ring kick_rx. */
	util_doorbell_pair_sock(&fake.kick_tx, &fds[1]);
	util_doorbell_pair(&fds[2], &fake.kick_rx);
	fake.shm = ring_map(fds[0], &fake.layout);
	ring_attach(&fake.tx, fake.shm, &fake.layout, RING_TX);
	ring_attach(&fake.rx, fake.shm, &fake.layout, RING_RX);
	uuid_generate(id);
	xpc_dictionary_set_string(p, vmnet_mac_address_key, "0a:d6:36:c1:ea:f3");
	xpc_dictionary_set_uint64(p, vmnet_mtu_key, 1500);
	xpc_dictionary_set_uint64(p, vmnet_max_packet_size_key, 1514);
	xpc_dictionary_set_uuid(p, vmnet_interface_id_key, id);
	xpc_dictionary_set_string(p, vmnet_start_address_key, "192.168.128.1");
	xpc_dictionary_set_string(p, vmnet_end_address_key, "192.168.128.254");
	xpc_dictionary_set_string(p, vmnet_subnet_mask_key, "255.255.255.0");
	xpc_dictionary_set_uint64(p, vmnet_read_max_packets_key, 256);
	xpc_dictionary_set_uint64(p, vmnet_write_max_packets_key, 256);
	xpc_dictionary_set_uint64(p, CTL_KEY_RING_NSLOTS, NSLOTS);
	xpc_dictionary_set_uint64(p, CTL_KEY_RING_MAX_FRAME, MAX_FRAME);
	xpc_dictionary_set_uint64(p, CTL_KEY_PORT_ID, 7);
	fake.ready = true;
	ctl_send(c, CTL_START | CTL_REPLY, h->seq, VMNET_SUCCESS, p, fds, 3);
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	xpc_release(p);
	fake.starts++;
}

/* Serve one connection until EOF. */
static void fake_serve(int c)
{
	struct ctl_hdr h;
	xpc_object_t msg;
	int fds[CTL_MAX_FDS], nfds;

	while (ctl_recv(c, &h, &msg, fds, &nfds) == 0) {
		if (h.type == CTL_START) {
			fake_start(c, &h, msg);
		} else if (h.type == CTL_STOP) {
			fake.stops++;
			ctl_send(c, CTL_STOP | CTL_REPLY, h.seq, VMNET_SUCCESS, NULL, NULL, 0);
		} else {
			ctl_send(c, h.type | CTL_REPLY, h.seq, VMNET_INVALID_ARGUMENT, NULL, NULL, 0);
		}
		xpc_release(msg);
	}
}

static void *fake_main(void *arg)
{
	for (;;) {
		int c = accept4(fake.lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0)
			return NULL;
		fake.conn = c;
		fake_serve(c);
		fake.conn = -1;
		close(c);
	}
}

static void fake_setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pthread_t t;

	snprintf(fake.path, sizeof(fake.path), "/tmp/vmnet-fake-%d.sock", (int)getpid());
	unlink(fake.path);
	memcpy(sa.sun_path, fake.path, strlen(fake.path) + 1);
	fake.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fake.lfd < 0 || bind(fake.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fake.lfd, 8) < 0) {
		perror("fake vmnetd");
		exit(1);
	}
	setenv("VMNET_SOCKET", fake.path, 1);
	unsetenv("VMNET_AUTOSTART");
	pthread_create(&t, NULL, fake_main, NULL);
	pthread_detach(t);
}

/* ---- the daemon's data plane, played by the test ---- */

/* Write RX frame number `pending` (not yet published) of len bytes whose bytes 14.. are tag. */
static uint32_t rx_pending;

static void rx_fill(uint32_t len, uint8_t tag)
{
	struct ring_rec *rec;

	CHECK(ring_prod_space(&fake.rx) > (int)rx_pending);
	rec = ring_slot(&fake.rx, fake.rx.prod + rx_pending++);
	memset(rec, 0, sizeof(*rec));
	rec->len = len;
	memset(ring_rec_data(rec), 0xff, 6);
	memset(ring_rec_data(rec) + 6, 0x02, 6);
	memset(ring_rec_data(rec) + 12, 0x08, 2);
	memset(ring_rec_data(rec) + 14, tag, len - 14);
}

/* Publish the filled frames at once; kick if the client sleeps. */
static void rx_publish(void)
{
	ring_prod_publish(&fake.rx, rx_pending);
	rx_pending = 0;
	if (ring_prod_need_kick(&fake.rx))
		util_doorbell_ring(fake.kick_rx);
}

static void rx_push(uint32_t len, uint8_t tag)
{
	rx_fill(len, tag);
	rx_publish();
}

static int rx_backlog(void)
{
	return (int)(fake.rx.prod - atomic_load(&fake.rx.ctl->cons));
}

/* Pop one TX frame into buf. Return: its length, or -1 when TX is empty. */
static int tx_pop(uint8_t *buf)
{
	struct ring_rec *rec;
	int len;

	if (ring_cons_avail(&fake.tx) <= 0)
		return -1;
	rec = ring_slot(&fake.tx, fake.tx.cons);
	len = (int)rec->len;
	CHECK(len >= 14 && len <= MAX_FRAME);
	CHECK(rec->vnet.flags == 0 && rec->vnet.gso_type == 0 && rec->vnet.num_buffers == 0);
	memcpy(buf, ring_rec_data(rec), (size_t)len);
	ring_cons_release(&fake.tx, 1);
	return len;
}

static bool kicked(int fd)
{
	return util_doorbell_drain(fd) > 0;
}

/* ---- client helpers ---- */

static dispatch_queue_t q;

static interface_ref start_iface(vmnet_return_t *status, xpc_object_t *param_copy)
{
	dispatch_semaphore_t done = dispatch_semaphore_create(0);
	xpc_object_t desc = xpc_dictionary_create_empty();
	__block vmnet_return_t st = 0;
	__block xpc_object_t pc = NULL;
	interface_ref ifc;

	fake.ready = false;
	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key, VMNET_HOST_MODE);
	ifc = vmnet_start_interface(desc, q, ^(vmnet_return_t s, xpc_object_t p) {
		st = s;
		pc = p ? xpc_copy(p) : NULL;
		dispatch_semaphore_signal(done);
	});
	CHECK(ifc != NULL);
	CHECK_EQ(dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 10 * NSEC_PER_SEC)), 0);
	*status = st;
	if (param_copy)
		*param_copy = pc;
	else if (pc)
		xpc_release(pc);
	xpc_release(desc);
	dispatch_release(done);
	return ifc;
}

static vmnet_return_t stop_iface(interface_ref ifc)
{
	dispatch_semaphore_t done = dispatch_semaphore_create(0);
	__block vmnet_return_t st = 0;

	CHECK_EQ(vmnet_stop_interface(ifc, q, ^(vmnet_return_t s) {
			 st = s;
			 dispatch_semaphore_signal(done);
		 }),
		 VMNET_SUCCESS);
	CHECK_EQ(dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 10 * NSEC_PER_SEC)), 0);
	dispatch_release(done);
	return st;
}

/* ---- tests ---- */

static void test_start_params(interface_ref *out)
{
	vmnet_return_t st;
	xpc_object_t p = NULL;
	interface_ref ifc = start_iface(&st, &p);

	CHECK_EQ(st, VMNET_SUCCESS);
	CHECK(p != NULL);
	if (p) {
		CHECK(!strcmp(xpc_dictionary_get_string(p, vmnet_mac_address_key), "0a:d6:36:c1:ea:f3"));
		CHECK_EQ(xpc_dictionary_get_uint64(p, vmnet_max_packet_size_key), 1514);
		CHECK_EQ(xpc_dictionary_get_uint64(p, vmnet_read_max_packets_key), 256);
		CHECK(xpc_dictionary_get_uuid(p, vmnet_interface_id_key) != NULL);
		CHECK(xpc_dictionary_get_value(p, CTL_KEY_RING_NSLOTS) == NULL);
		CHECK(xpc_dictionary_get_value(p, CTL_KEY_RING_MAX_FRAME) == NULL);
		CHECK(xpc_dictionary_get_value(p, CTL_KEY_PORT_ID) == NULL);
		xpc_release(p);
	}
	CHECK(fake.last_desc && xpc_dictionary_get_uint64(fake.last_desc, vmnet_operation_mode_key) == VMNET_HOST_MODE);
	*out = ifc;
}

static void fill_frame(uint8_t *f, size_t len, uint8_t tag)
{
	memset(f, 0xff, 6);
	memset(f + 6, 0x02, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(f + 14, tag, len - 14);
}

static void test_write(interface_ref ifc)
{
	uint8_t a[60], b1[20], b2[80], c[1514], got[MAX_FRAME], whole[100];
	struct iovec ia = { a, sizeof(a) }, ib[2] = { { b1, sizeof(b1) }, { b2, sizeof(b2) } }, ic = { c, sizeof(c) };
	struct vmpktdesc pk[3] = { { 60, &ia, 1, 0 }, { 100, ib, 2, 0 }, { 1514, &ic, 1, 0 } };
	int n = 3;

	fill_frame(a, sizeof(a), 1);
	fill_frame(whole, sizeof(whole), 2);
	memcpy(b1, whole, 20);
	memcpy(b2, whole + 20, 80);
	fill_frame(c, sizeof(c), 3);
	/* The daemon sleeps: the write must kick. */
	ring_cons_prepare_sleep(&fake.tx);
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 3);
	CHECK(kicked(fake.kick_tx));
	CHECK_EQ(tx_pop(got), 60);
	CHECK(!memcmp(got, a, 60));
	CHECK_EQ(tx_pop(got), 100);
	CHECK(!memcmp(got, whole, 100));
	CHECK_EQ(tx_pop(got), 1514);
	CHECK(!memcmp(got, c, 1514));
	CHECK_EQ(tx_pop(got), -1);
	/* The daemon polls: no kick. */
	ring_cons_awake(&fake.tx);
	n = 1;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_SUCCESS);
	CHECK(!kicked(fake.kick_tx));
	CHECK_EQ(tx_pop(got), 60);
	n = 0;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 0);
}

static void test_write_errors(interface_ref ifc)
{
	static uint8_t buf[256][64];
	static struct iovec iov[256];
	static struct vmpktdesc pk[257];
	uint8_t big[1600], got[MAX_FRAME];
	struct iovec ibig = { big, sizeof(big) };
	int n;

	for (int i = 0; i < 256; i++) {
		fill_frame(buf[i], 64, (uint8_t)i);
		iov[i] = (struct iovec){ buf[i], 64 };
		pk[i] = (struct vmpktdesc){ 64, &iov[i], 1, 0 };
	}
	pk[256] = pk[0];
	n = 257;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_TOO_MANY_PACKETS);
	CHECK_EQ(n, 0);
	n = -1;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_INVALID_ARGUMENT);

	/* one bad packet anywhere in the batch: nothing is written */
	struct vmpktdesc bad[3] = { pk[0], pk[1], pk[2] };
	bad[2] = (struct vmpktdesc){ 1515, &ibig, 1, 0 };
	n = 3;
	CHECK_EQ(vmnet_write(ifc, bad, &n), VMNET_PACKET_TOO_BIG);
	CHECK_EQ(n, 0);
	bad[2] = (struct vmpktdesc){ 13, &ibig, 1, 0 };
	n = 3;
	CHECK_EQ(vmnet_write(ifc, bad, &n), VMNET_INVALID_ARGUMENT);
	bad[2] = (struct vmpktdesc){ 65, &iov[0], 1, 0 }; /* more than its iovec holds */
	n = 3;
	CHECK_EQ(vmnet_write(ifc, bad, &n), VMNET_INVALID_ARGUMENT);
	bad[2] = (struct vmpktdesc){ 64, &iov[0], 0, 0 };
	n = 3;
	CHECK_EQ(vmnet_write(ifc, bad, &n), VMNET_INVALID_ARGUMENT);
	bad[2] = (struct vmpktdesc){ 64, NULL, 1, 0 };
	n = 3;
	CHECK_EQ(vmnet_write(ifc, bad, &n), VMNET_INVALID_ARGUMENT);
	n = 3;
	CHECK_EQ(vmnet_write(ifc, NULL, &n), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(tx_pop(got), -1);

	/* all or nothing against a full ring */
	n = 256;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_SUCCESS);
	n = 256;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_SUCCESS);
	n = 1;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_BUFFER_EXHAUSTED);
	CHECK_EQ(n, 0);
	CHECK_EQ(tx_pop(got), 64);
	CHECK_EQ(got[14], 0);
	n = 2;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_BUFFER_EXHAUSTED);
	n = 1;
	CHECK_EQ(vmnet_write(ifc, pk, &n), VMNET_SUCCESS);
	for (int i = 0; i < NSLOTS; i++)
		CHECK_EQ(tx_pop(got), 64);
	CHECK_EQ(tx_pop(got), -1);
}

static void test_read(interface_ref ifc)
{
	uint8_t b[4][1514], s1[60], s2[60], small[500];
	struct iovec iov[4], two[2] = { { s1, 60 }, { s2, 60 } }, ismall = { small, sizeof(small) };
	struct vmpktdesc pk[4];
	int n;

	for (int i = 0; i < 4; i++) {
		iov[i] = (struct iovec){ b[i], sizeof(b[i]) };
		pk[i] = (struct vmpktdesc){ sizeof(b[i]), &iov[i], 1, 0 };
	}
	n = 4;
	CHECK_EQ(vmnet_read(ifc, pk, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 0);
	rx_push(60, 1);
	rx_push(1514, 2);
	rx_push(100, 3);
	n = 2;
	CHECK_EQ(vmnet_read(ifc, pk, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 2);
	CHECK_EQ(pk[0].vm_pkt_size, 60);
	CHECK_EQ(iov[0].iov_len, 60);
	CHECK_EQ(b[0][14], 1);
	CHECK_EQ(pk[1].vm_pkt_size, 1514);
	CHECK_EQ(b[1][1513], 2);
	/* multi-iovec scatter: lengths of the iovecs stay */
	pk[0] = (struct vmpktdesc){ 120, two, 2, 0 };
	n = 1;
	CHECK_EQ(vmnet_read(ifc, pk, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(pk[0].vm_pkt_size, 100);
	CHECK_EQ(two[0].iov_len, 60);
	CHECK_EQ(two[1].iov_len, 60);
	CHECK_EQ(s1[59], 3);
	CHECK_EQ(s2[39], 3);
	CHECK_EQ(rx_backlog(), 0);
	/* a frame larger than the buffer is consumed and dropped */
	rx_push(1000, 4);
	rx_push(70, 5);
	pk[0] = (struct vmpktdesc){ sizeof(small), &ismall, 1, 0 };
	n = 1;
	CHECK_EQ(vmnet_read(ifc, pk, &n), VMNET_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(pk[0].vm_pkt_size, 70);
	CHECK_EQ(small[20], 5);
	CHECK_EQ(rx_backlog(), 0);
	/* limits and arguments */
	n = 257;
	CHECK_EQ(vmnet_read(ifc, pk, &n), VMNET_TOO_MANY_PACKETS);
	CHECK_EQ(n, 0);
	n = -1;
	CHECK_EQ(vmnet_read(ifc, pk, &n), VMNET_INVALID_ARGUMENT);
	n = 0;
	CHECK_EQ(vmnet_read(ifc, pk, &n), VMNET_SUCCESS);
	n = 1;
	CHECK_EQ(vmnet_read(ifc, NULL, &n), VMNET_INVALID_ARGUMENT);
}

/* ---- events ---- */

enum cb_mode { CB_NOTHING, CB_BLOCK_READ1, CB_DRAIN, CB_DISABLE };

static struct {
	_Atomic int count, active, max_active, mode;
	uint64_t est[64];
	dispatch_semaphore_t gate, entered;
	interface_ref ifc;
} cb;

static int drain(interface_ref ifc)
{
	uint8_t b[8][1514];
	struct iovec iov[8];
	struct vmpktdesc pk[8];
	int n, total = 0;

	do {
		for (int i = 0; i < 8; i++) {
			iov[i] = (struct iovec){ b[i], sizeof(b[i]) };
			pk[i] = (struct vmpktdesc){ sizeof(b[i]), &iov[i], 1, 0 };
		}
		n = 8;
		if (vmnet_read(ifc, pk, &n) != VMNET_SUCCESS)
			break;
		total += n;
	} while (n > 0);
	return total;
}

static void on_event(interface_event_t mask, xpc_object_t ev)
{
	int a = ++cb.active, i = cb.count;
	uint8_t b[1514];
	struct iovec iov = { b, sizeof(b) };
	struct vmpktdesc pk = { sizeof(b), &iov, 1, 0 };
	int n = 1;

	if (a > cb.max_active)
		cb.max_active = a;
	CHECK_EQ(mask, VMNET_INTERFACE_PACKETS_AVAILABLE);
	if (i < 64)
		cb.est[i] = xpc_dictionary_get_uint64(ev, vmnet_estimated_packets_available_key);
	dispatch_semaphore_signal(cb.entered);
	switch ((int)cb.mode) {
	case CB_BLOCK_READ1:
		dispatch_semaphore_wait(cb.gate, DISPATCH_TIME_FOREVER);
		CHECK_EQ(vmnet_read(cb.ifc, &pk, &n), VMNET_SUCCESS);
		break;
	case CB_DRAIN:
		drain(cb.ifc);
		break;
	case CB_DISABLE:
		CHECK_EQ(vmnet_interface_set_event_callback(cb.ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL),
			 VMNET_SUCCESS);
		break;
	default:
		break;
	}
	cb.active--;
	cb.count++;
}

static void cb_reset(interface_ref ifc, enum cb_mode mode)
{
	/* Plain fields first: the callback's atomic loads of count/mode order them. */
	memset(cb.est, 0, sizeof(cb.est));
	cb.ifc = ifc;
	cb.active = cb.max_active = 0;
	cb.mode = mode;
	cb.count = 0;
	while (dispatch_semaphore_wait(cb.entered, DISPATCH_TIME_NOW) == 0)
		;
}

static void test_events(interface_ref ifc, dispatch_queue_t evq)
{
	cb.gate = dispatch_semaphore_create(0);
	cb.entered = dispatch_semaphore_create(0);
	cb_reset(ifc, CB_NOTHING);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, 3, evq, ^(interface_event_t m, xpc_object_t e) {
		 }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, 0, evq, ^(interface_event_t m, xpc_object_t e) {
		 }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL,
						    ^(interface_event_t m, xpc_object_t e) {
						    }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, evq,
						    ^(interface_event_t m, xpc_object_t e) {
							    on_event(m, e);
						    }),
		 VMNET_SUCCESS);
	/* Nothing queued: no event. */
	sleep_ms(100);
	CHECK_EQ(cb.count, 0);
	/* 5 arrivals: one event, estimate 5; left unread and nothing new: no second event. */
	for (int i = 0; i < 5; i++)
		rx_fill(60, (uint8_t)i);
	rx_publish();
	WAIT_FOR(cb.count >= 1, WAIT_MS);
	sleep_ms(200);
	CHECK_EQ(cb.count, 1);
	CHECK_EQ(cb.est[0], 5);
	/* A new arrival: another event, the estimate counts the whole backlog. */
	rx_push(60, 9);
	WAIT_FOR(cb.count >= 2, WAIT_MS);
	sleep_ms(100);
	CHECK_EQ(cb.count, 2);
	CHECK_EQ(cb.est[1], 6);
	CHECK_EQ(drain(ifc), 6);

	/* Re-fire rule: arrivals during a (blocked) callback give exactly one more event; never two at once. */
	cb_reset(ifc, CB_BLOCK_READ1);
	rx_fill(60, 1);
	rx_fill(60, 2);
	rx_fill(60, 3);
	rx_publish();
	CHECK_EQ(dispatch_semaphore_wait(cb.entered, dispatch_time(DISPATCH_TIME_NOW, 3 * NSEC_PER_SEC)), 0);
	rx_fill(60, 4);
	rx_fill(60, 5);
	rx_publish();
	sleep_ms(100);
	CHECK_EQ(cb.active, 1);
	cb.mode = CB_DRAIN; /* the second invocation drains */
	dispatch_semaphore_signal(cb.gate);
	WAIT_FOR(cb.count >= 2, WAIT_MS);
	sleep_ms(200);
	CHECK_EQ(cb.count, 2);
	CHECK_EQ(cb.max_active, 1);
	CHECK_EQ(cb.est[0], 3);
	CHECK_EQ(cb.est[1], 4);
	CHECK_EQ(rx_backlog(), 0);

	/* Disabled: arrivals give no event. Re-enabled: the backlog is announced. */
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL), VMNET_SUCCESS);
	cb_reset(ifc, CB_DRAIN);
	rx_push(60, 1);
	rx_push(60, 2);
	sleep_ms(200);
	CHECK_EQ(cb.count, 0);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, evq,
						    ^(interface_event_t m, xpc_object_t e) {
							    on_event(m, e);
						    }),
		 VMNET_SUCCESS);
	WAIT_FOR(cb.count >= 1, WAIT_MS);
	CHECK_EQ(cb.count, 1);
	CHECK_EQ(cb.est[0], 2);
	CHECK_EQ(rx_backlog(), 0);

	/* Disable from inside the callback: no deadlock, no more events. */
	cb_reset(ifc, CB_DISABLE);
	rx_push(60, 1);
	WAIT_FOR(cb.count >= 1, WAIT_MS);
	rx_push(60, 2);
	sleep_ms(200);
	CHECK_EQ(cb.count, 1);
	CHECK_EQ(drain(ifc), 2);
}

static void test_stop(interface_ref ifc)
{
	dispatch_semaphore_t done = dispatch_semaphore_create(0), gate = dispatch_semaphore_create(0);
	__block vmnet_return_t st = 0;
	uint8_t b[64];
	struct iovec iov = { b, 64 };
	struct vmpktdesc pk = { 64, &iov, 1, 0 };
	int stops = fake.stops, n = 1;

	fill_frame(b, 64, 0);
	dispatch_async(q, ^{
		dispatch_semaphore_wait(gate, DISPATCH_TIME_FOREVER);
	});
	CHECK_EQ(vmnet_stop_interface(ifc, q, ^(vmnet_return_t s) {
			 st = s;
			 dispatch_semaphore_signal(done);
		 }),
		 VMNET_SUCCESS);
	CHECK_EQ(vmnet_read(ifc, &pk, &n), VMNET_INVALID_ARGUMENT);
	n = 1;
	CHECK_EQ(vmnet_write(ifc, &pk, &n), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_stop_interface(ifc, q, ^(vmnet_return_t s) {
			 failures++;
		 }),
		 VMNET_INVALID_ARGUMENT);
	dispatch_semaphore_signal(gate);
	CHECK_EQ(dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 10 * NSEC_PER_SEC)), 0);
	CHECK_EQ(st, VMNET_SUCCESS);
	CHECK_EQ(fake.stops, stops + 1);
	WAIT_FOR(fake.conn < 0, WAIT_MS);
	CHECK(fake.conn < 0); /* the library closed the connection */
	dispatch_release(done);
	dispatch_release(gate);
}

static void test_daemon_death(void)
{
	vmnet_return_t st;
	interface_ref ifc = start_iface(&st, NULL);
	uint8_t b[64];
	struct iovec iov = { b, 64 };
	struct vmpktdesc pk = { 64, &iov, 1, 0 };
	vmnet_return_t r = VMNET_SUCCESS;
	int n;

	CHECK_EQ(st, VMNET_SUCCESS);
	cb_reset(ifc, CB_NOTHING);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t m, xpc_object_t e) {
							    cb.count++;
						    }),
		 VMNET_SUCCESS);
	fill_frame(b, 64, 0);
	shutdown(fake.conn, SHUT_RDWR);
	for (int i = 0; i < WAIT_MS && r == VMNET_SUCCESS; i++) {
		n = 1;
		r = vmnet_read(ifc, &pk, &n);
		sleep_ms(1);
	}
	CHECK_EQ(r, VMNET_FAILURE);
	n = 1;
	CHECK_EQ(vmnet_write(ifc, &pk, &n), VMNET_FAILURE);
	rx_push(60, 1); /* the dead interface announces nothing */
	sleep_ms(100);
	CHECK_EQ(cb.count, 0);
	CHECK_EQ(stop_iface(ifc), VMNET_SUCCESS);
}

static _Atomic vmnet_return_t cb_stop_st;

/* Stop from inside the event callback: the stop handler runs, nothing hangs. */
static void test_stop_in_callback(void)
{
	dispatch_queue_t evq = dispatch_queue_create("test.ev2", DISPATCH_QUEUE_SERIAL);
	dispatch_semaphore_t done = dispatch_semaphore_create(0);
	__block int calls = 0;
	vmnet_return_t st;
	interface_ref ifc = start_iface(&st, NULL);

	CHECK_EQ(st, VMNET_SUCCESS);
	vmnet_interface_event_callback_t stopper = ^(interface_event_t m, xpc_object_t e) {
		vmnet_return_t r;
		long w;

		if (calls++)
			return;
		r = vmnet_stop_interface(ifc, q, ^(vmnet_return_t s) {
			cb_stop_st = s;
			dispatch_semaphore_signal(done);
		});
		CHECK_EQ(r, VMNET_SUCCESS);
		/* still inside the callback: wait for the stop to finish */
		w = dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 5 * NSEC_PER_SEC));
		CHECK_EQ(w, 0);
	};
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, evq, stopper),
		 VMNET_SUCCESS);
	rx_push(60, 1);
	WAIT_FOR(cb_stop_st != 0, WAIT_MS);
	CHECK_EQ(cb_stop_st, VMNET_SUCCESS);
	dispatch_sync(evq, ^{
	});
	CHECK_EQ(calls, 1);
	dispatch_release(evq);
	dispatch_release(done);
}

/* Stop before the start completed: the start handler runs first, then the stop handler. */
static void test_stop_during_start(void)
{
	dispatch_semaphore_t done = dispatch_semaphore_create(0);
	xpc_object_t desc = xpc_dictionary_create_empty();
	__block int order = 0, start_at = 0, stop_at = 0;
	__block vmnet_return_t start_st = 0, stop_st = 0;
	int stops = fake.stops;
	interface_ref ifc;

	fake.start_delay_ms = 200;
	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key, VMNET_HOST_MODE);
	ifc = vmnet_start_interface(desc, q, ^(vmnet_return_t s, xpc_object_t p) {
		start_st = s;
		start_at = ++order;
	});
	CHECK(ifc != NULL);
	uint8_t b[64];
	struct iovec iov = { b, 64 };
	struct vmpktdesc pk = { 64, &iov, 1, 0 };
	int n = 1;
	CHECK_EQ(vmnet_read(ifc, &pk, &n), VMNET_SETUP_INCOMPLETE);
	CHECK_EQ(vmnet_stop_interface(ifc, q, ^(vmnet_return_t s) {
			 stop_st = s;
			 stop_at = ++order;
			 dispatch_semaphore_signal(done);
		 }),
		 VMNET_SUCCESS);
	CHECK_EQ(dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 10 * NSEC_PER_SEC)), 0);
	CHECK_EQ(start_st, VMNET_SUCCESS);
	CHECK_EQ(stop_st, VMNET_SUCCESS);
	CHECK_EQ(start_at, 1);
	CHECK_EQ(stop_at, 2);
	CHECK_EQ(fake.stops, stops + 1);
	fake.start_delay_ms = 0;
	xpc_release(desc);
	dispatch_release(done);
}

/* ---- stop from an atexit handler (run in a child process: `test_client_fake atexit`) ---- */

static interface_ref exit_ifc;

static void stop_at_exit(void)
{
	dispatch_queue_t sq = dispatch_queue_create("test.atexit", DISPATCH_QUEUE_SERIAL);
	dispatch_semaphore_t done = dispatch_semaphore_create(0);

	if (vmnet_stop_interface(exit_ifc, sq, ^(vmnet_return_t s) {
		    if (s == VMNET_SUCCESS)
			    dispatch_semaphore_signal(done);
	    }) != VMNET_SUCCESS)
		_exit(2);
	if (dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 5 * NSEC_PER_SEC)))
		_exit(3);
}

static int atexit_child(void)
{
	vmnet_return_t st;

	q = dispatch_queue_create("test.child", DISPATCH_QUEUE_SERIAL);
	exit_ifc = start_iface(&st, NULL);
	if (st != VMNET_SUCCESS)
		return 1;
	atexit(stop_at_exit);
	exit(failures ? 1 : 0);
}

static void test_stop_at_exit(void)
{
	char *argv[] = { "test_client_fake", "atexit", NULL };
	int stops = fake.stops, status = -1;
	extern char **environ;
	pid_t pid;

	CHECK_EQ(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ), 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	WAIT_FOR(fake.stops == stops + 1, WAIT_MS);
	CHECK_EQ(fake.stops, stops + 1);
}

int main(int argc, char **argv)
{
	dispatch_queue_t evq;
	interface_ref ifc = NULL;

	if (argc > 1 && !strcmp(argv[1], "atexit"))
		return atexit_child();
	fake_setup();
	q = dispatch_queue_create("test.client", DISPATCH_QUEUE_SERIAL);
	evq = dispatch_queue_create("test.events", DISPATCH_QUEUE_SERIAL);
	test_start_params(&ifc);
	if (ifc && fake.ready) {
		test_write(ifc);
		test_write_errors(ifc);
		test_read(ifc);
		test_events(ifc, evq);
		test_stop(ifc);
		test_daemon_death();
		test_stop_in_callback();
		test_stop_during_start();
		test_stop_at_exit();
	}
	close(fake.lfd);
	unlink(fake.path);
	if (failures) {
		fprintf(stderr, "test_client_fake: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_client_fake: all passed\n");
	return 0;
}
