/*
 * bench_ring.c — frames per second between two vmnet interfaces in two
 * processes, through vmnetd's switch (libvmnet rings).
 *
 * The parent forks a sender and a receiver; each uses only the public API,
 * the way a VMM does: vmnet_start_interface() on a serial dispatch queue,
 * waiting on a dispatch semaphore for the start handler. The receiver
 * registers a VMNET_INTERFACE_PACKETS_AVAILABLE callback and, inside it,
 * drains with vmnet_read() of `batch` frames until a read returns none (as
 * vmnet-helper does). The sender calls vmnet_write() with `batch` frames as
 * fast as it can; on VMNET_BUFFER_EXHAUSTED (TX ring full) it yields and
 * retries (-W). Frames are unicast from the sender's MAC to the receiver's
 * MAC; before the run the receiver broadcasts until the sender has seen one,
 * so the switch has learned the receiver's port (see bench_common.h).
 *
 * vmnetd must be running and reachable ($VMNET_SOCKET); run.sh starts a
 * private one. Output: one "RESULT key=value ..." line on stdout.
 */
#include <Block.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "bench_common.h"

struct iface {
	interface_ref ifc;
	dispatch_queue_t q;
	uint8_t mac[6];
	uint64_t max_packet_size;
};

static struct bench_shared *sh;
static struct bench_opts opt;

/* Start a host-mode interface and wait for its start handler. Return: 0 or -1 (bench_fail called). */
static int iface_start(struct iface *it, const char *label)
{
	xpc_object_t desc = xpc_dictionary_create(NULL, NULL, 0);
	dispatch_semaphore_t sem = dispatch_semaphore_create(0);
	__block vmnet_return_t status = VMNET_FAILURE;
	char macbuf[32] = "";
	char *mac = macbuf;
	__block uint64_t mps = 0;

	it->q = dispatch_queue_create(label, DISPATCH_QUEUE_SERIAL);
	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key, VMNET_HOST_MODE);
	it->ifc = vmnet_start_interface(desc, it->q, ^(vmnet_return_t st, xpc_object_t param) {
		status = st;
		if (st == VMNET_SUCCESS && param) {
			const char *m = xpc_dictionary_get_string(param, vmnet_mac_address_key);

			if (m)
				snprintf(mac, sizeof(macbuf), "%s", m);
			mps = xpc_dictionary_get_uint64(param, vmnet_max_packet_size_key);
		}
		dispatch_semaphore_signal(sem);
	});
	xpc_release(desc);
	if (!it->ifc) {
		bench_fail(sh, "%s: vmnet_start_interface returned NULL", label);
		return -1;
	}
	if (dispatch_semaphore_wait(sem, dispatch_time(DISPATCH_TIME_NOW, 10 * (int64_t)NSEC_PER_SEC))) {
		bench_fail(sh, "%s: no start handler within 10 s", label);
		return -1;
	}
	dispatch_release(sem);
	if (status != VMNET_SUCCESS) {
		bench_fail(sh, "%s: vmnet_start_interface failed: status %u (is vmnetd running at $VMNET_SOCKET?)",
			   label, status);
		return -1;
	}
	if (bench_parse_mac(mac, it->mac) < 0) {
		bench_fail(sh, "%s: no MAC address in interface_param", label);
		return -1;
	}
	it->max_packet_size = mps;
	if (mps && mps < opt.size) {
		bench_fail(sh, "%s: max packet size %llu < frame size %u", label, (unsigned long long)mps, opt.size);
		return -1;
	}
	return 0;
}

static void iface_stop(struct iface *it)
{
	dispatch_semaphore_t sem = dispatch_semaphore_create(0);
	vmnet_return_t st;

	vmnet_interface_set_event_callback(it->ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL);
	st = vmnet_stop_interface(it->ifc, it->q, ^(vmnet_return_t s) {
		(void)s;
		dispatch_semaphore_signal(sem);
	});
	if (st == VMNET_SUCCESS)
		dispatch_semaphore_wait(sem, dispatch_time(DISPATCH_TIME_NOW, 10 * (int64_t)NSEC_PER_SEC));
	dispatch_release(sem);
}

/* Receive buffers: `batch` descriptors of one iovec each, large enough for any frame. */
struct rxbufs {
	struct vmpktdesc pk[BENCH_MAX_BATCH];
	struct iovec iov[BENCH_MAX_BATCH];
	uint8_t *mem;
	size_t bufsz;
};

static void rxbufs_init(struct rxbufs *r, size_t bufsz)
{
	r->bufsz = bufsz;
	r->mem = aligned_alloc(64, bufsz * BENCH_MAX_BATCH);
	if (!r->mem) {
		perror("aligned_alloc");
		exit(1);
	}
}

/* Re-arm descriptors before each vmnet_read (it overwrites sizes), as a VMM refills its RX queue. */
static void rxbufs_arm(struct rxbufs *r, int n)
{
	for (int i = 0; i < n; i++) {
		r->iov[i].iov_base = r->mem + (size_t)i * r->bufsz;
		r->iov[i].iov_len = r->bufsz;
		r->pk[i].vm_pkt_iov = &r->iov[i];
		r->pk[i].vm_pkt_iovcnt = 1;
		r->pk[i].vm_pkt_size = r->bufsz;
		r->pk[i].vm_flags = 0;
	}
}

/* ------------------------------------------------------------------ */
/* receiver                                                            */
/* ------------------------------------------------------------------ */

static int rx_send_learn(void *ctx)
{
	struct iface *it = ctx;
	uint8_t frame[BENCH_MIN_FRAME];
	struct iovec iov = { frame, sizeof(frame) };
	struct vmpktdesc pk = { .vm_pkt_size = sizeof(frame), .vm_pkt_iov = &iov, .vm_pkt_iovcnt = 1 };
	int n = 1;
	vmnet_return_t st;

	bench_learn_fill(frame, it->mac);
	st = vmnet_write(it->ifc, &pk, &n);
	if (st != VMNET_SUCCESS && st != VMNET_BUFFER_EXHAUSTED) {
		bench_fail(sh, "receiver: vmnet_write(learn) failed: status %u", st);
		return -1;
	}
	return 0;
}

static int rx_main(void)
{
	static struct rxbufs rb;
	struct iface it;
	__block uint64_t frames = 0, bytes = 0, other = 0, wakeups = 0, calls = 0;
	const unsigned batch = opt.batch;

	sh->rx_pid = getpid();
	if (iface_start(&it, "bench.rx") < 0)
		return 1;
	rxbufs_init(&rb, it.max_packet_size > 2048 ? it.max_packet_size : 2048);
	memcpy(sh->rx_mac, it.mac, 6);
	vmnet_return_t st = vmnet_interface_set_event_callback(
		it.ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, it.q, ^(interface_event_t mask, xpc_object_t ev) {
			(void)mask;
			(void)ev;
			wakeups++;
			atomic_store_explicit(&sh->rx_wakeups, wakeups, memory_order_relaxed);
			for (;;) {
				int n = (int)batch;
				vmnet_return_t s;

				rxbufs_arm(&rb, n);
				s = vmnet_read(it.ifc, rb.pk, &n);
				calls++;
				if (s != VMNET_SUCCESS) {
					bench_fail(sh, "receiver: vmnet_read failed: status %u", s);
					break;
				}
				for (int i = 0; i < n; i++) {
					if (bench_frame_is_ours(rb.iov[i].iov_base, rb.pk[i].vm_pkt_size, sh->rx_mac)) {
						frames++;
						bytes += rb.pk[i].vm_pkt_size;
					} else {
						other++;
					}
				}
				atomic_store_explicit(&sh->rx_frames, frames, memory_order_relaxed);
				atomic_store_explicit(&sh->rx_bytes, bytes, memory_order_relaxed);
				atomic_store_explicit(&sh->rx_calls, calls, memory_order_relaxed);
				if (n == 0)
					break;
			}
			atomic_store_explicit(&sh->rx_other, other, memory_order_relaxed);
		});
	if (st != VMNET_SUCCESS) {
		bench_fail(sh, "receiver: set_event_callback failed: status %u", st);
		return 1;
	}
	atomic_store(&sh->rx_up, 1);
	if (bench_learn(sh, rx_send_learn, &it) < 0) {
		bench_fail(sh, "receiver: the sender never saw the learn broadcast");
		return 1;
	}
	/* Everything else happens in the callback; wait for the parent's stop. */
	while (!atomic_load(&sh->rx_stop) && !atomic_load(&sh->failed))
		usleep(2000);
	iface_stop(&it);
	return atomic_load(&sh->failed) ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* sender                                                              */
/* ------------------------------------------------------------------ */

struct txctx {
	struct iface *it;
	struct vmpktdesc pk[BENCH_MAX_BATCH];
	struct iovec iov[BENCH_MAX_BATCH];
	uint8_t *mem;
};

static int tx_send(void *ctx, uint64_t seq, unsigned n, uint64_t *full, uint64_t *err)
{
	struct txctx *t = ctx;
	int cnt = (int)n;
	vmnet_return_t st;

	/* Stamp a sequence number, as a guest would have written its own payload. */
	for (unsigned i = 0; i < n; i++)
		memcpy((uint8_t *)t->iov[i].iov_base + 14, &(uint64_t){ seq + i }, 8);
	st = vmnet_write(t->it->ifc, t->pk, &cnt);
	if (st == VMNET_SUCCESS)
		return cnt;
	if (st == VMNET_BUFFER_EXHAUSTED) {
		(*full)++;
		return 0;
	}
	(*err)++;
	fprintf(stderr, "sender: vmnet_write failed: status %u\n", st);
	return -1;
}

static int tx_main(void)
{
	static struct txctx t;
	struct iface it;

	sh->tx_pid = getpid();
	if (iface_start(&it, "bench.tx") < 0)
		return 1;
	memcpy(sh->tx_mac, it.mac, 6);
	/* A VMM has a callback too; here it only watches for the receiver's learn broadcast. */
	vmnet_return_t st = vmnet_interface_set_event_callback(
		it.ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, it.q, ^(interface_event_t mask, xpc_object_t ev) {
			static uint8_t buf[2048];
			struct iovec iov;
			struct vmpktdesc pk;
			int n;

			(void)mask;
			(void)ev;
			do {
				iov = (struct iovec){ buf, sizeof(buf) };
				pk = (struct vmpktdesc){ .vm_pkt_size = sizeof(buf), .vm_pkt_iov = &iov, .vm_pkt_iovcnt = 1 };
				n = 1;
				if (vmnet_read(it.ifc, &pk, &n) != VMNET_SUCCESS)
					break;
				if (n == 1 && atomic_load(&sh->rx_up) &&
				    bench_frame_is_learn(buf, pk.vm_pkt_size, sh->rx_mac))
					atomic_store(&sh->learned, 1);
			} while (n > 0);
		});
	if (st != VMNET_SUCCESS) {
		bench_fail(sh, "sender: set_event_callback failed: status %u", st);
		return 1;
	}
	atomic_store(&sh->tx_up, 1);
	if (!bench_wait_flag(&sh->learned, sh, 20))
		return 1;

	t.it = &it;
	t.mem = aligned_alloc(64, (size_t)BENCH_MAX_BATCH * 2048);
	for (unsigned i = 0; i < opt.batch; i++) {
		uint8_t *f = t.mem + (size_t)i * 2048;

		bench_frame_fill(f, opt.size, sh->rx_mac, sh->tx_mac);
		t.iov[i] = (struct iovec){ f, opt.size };
		t.pk[i] = (struct vmpktdesc){ .vm_pkt_size = opt.size, .vm_pkt_iov = &t.iov[i], .vm_pkt_iovcnt = 1 };
	}
	bench_send_loop(sh, &opt, tx_send, &t);
	atomic_store(&sh->tx_done, 1);
	while (!atomic_load(&sh->rx_stop) && !atomic_load(&sh->failed))
		usleep(2000);
	iface_stop(&it);
	return atomic_load(&sh->failed) ? 1 : 0;
}

int main(int argc, char **argv)
{
	bench_parse(argc, argv, &opt, "(needs a vmnetd at $VMNET_SOCKET)");
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = bench_shared_new();
	/* The parent never touches libvmnet or dispatch: the children start from a clean slate. */
	return bench_launch(sh, &opt, "bench_ring", "ours", tx_main, rx_main);
}
