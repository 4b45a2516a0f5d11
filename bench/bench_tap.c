/*
 * bench_tap.c — the kernel's path for the job bench_ring measures: frames
 * written to one tap device and read from another, both ports of a Linux
 * bridge (set up by run.sh: `ip tuntap add`, `ip link add type bridge`).
 *
 * The sender opens tap A (IFF_TAP | IFF_NO_PI) and write()s frames, one frame
 * per write() (a tap takes exactly one frame per call; "batch" = that many
 * write() calls per loop iteration). The kernel forwards each frame through
 * the bridge in the writer's context and queues it on tap B. The receiver
 * opens tap B non-blocking, poll()s, then read()s `batch` frames at a time
 * until read() says EAGAIN — the same drain-until-empty rule the vmnet
 * receiver follows. Frames are unicast to a MAC the bridge learned on tap B:
 * the receiver first writes broadcasts from that MAC into tap B until the
 * sender sees one arrive on tap A.
 *
 * Output: one "RESULT key=value ..." line on stdout, same fields as bench_ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bench_common.h"

/* Locally administered, fixed: the bridge learns them on tap A / tap B. */
static const uint8_t TX_MAC[6] = { 0x02, 0xbe, 0x4c, 0x00, 0x00, 0x01 };
static const uint8_t RX_MAC[6] = { 0x02, 0xbe, 0x4c, 0x00, 0x00, 0x02 };

static struct bench_shared *sh;
static struct bench_opts opt;

/* Attach to an existing (persistent) tap. Return: the fd, or -1 (bench_fail called). */
static int tap_open(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		bench_fail(sh, "open /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		bench_fail(sh, "TUNSETIFF %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int rx_send_learn(void *ctx)
{
	int fd = *(int *)ctx;
	uint8_t frame[BENCH_MIN_FRAME];

	bench_learn_fill(frame, RX_MAC);
	if (write(fd, frame, sizeof(frame)) < 0 && errno != EAGAIN) {
		bench_fail(sh, "receiver: write(learn): %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int rx_main(void)
{
	static uint8_t buf[BENCH_MAX_BATCH][2048];
	uint64_t frames = 0, bytes = 0, other = 0, wakeups = 0, calls = 0;
	struct pollfd p;
	int fd;

	sh->rx_pid = getpid();
	fd = tap_open(opt.tap_b);
	if (fd < 0)
		return 1;
	memcpy(sh->rx_mac, RX_MAC, 6);
	atomic_store(&sh->rx_up, 1);
	if (bench_learn(sh, rx_send_learn, &fd) < 0) {
		bench_fail(sh, "receiver: the sender never saw the learn broadcast");
		return 1;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (!atomic_load_explicit(&sh->rx_stop, memory_order_relaxed)) {
		bool empty = false;

		if (poll(&p, 1, 50) <= 0)
			continue;
		wakeups++;
		atomic_store_explicit(&sh->rx_wakeups, wakeups, memory_order_relaxed);
		while (!empty) {
			unsigned i;

			for (i = 0; i < opt.batch; i++) {
				ssize_t n = read(fd, buf[i], sizeof(buf[i]));

				calls++;
				if (n < 0) {
					if (errno != EAGAIN && errno != EINTR) {
						bench_fail(sh, "receiver: read: %s", strerror(errno));
						return 1;
					}
					empty = true;
					break;
				}
				if (bench_frame_is_ours(buf[i], (size_t)n, RX_MAC)) {
					frames++;
					bytes += (uint64_t)n;
				} else {
					other++;
				}
			}
			atomic_store_explicit(&sh->rx_frames, frames, memory_order_relaxed);
			atomic_store_explicit(&sh->rx_bytes, bytes, memory_order_relaxed);
			atomic_store_explicit(&sh->rx_calls, calls, memory_order_relaxed);
			atomic_store_explicit(&sh->rx_other, other, memory_order_relaxed);
		}
	}
	close(fd);
	return 0;
}

struct txctx {
	int fd;
	uint8_t frames[BENCH_MAX_BATCH][2048];
};

static int tx_send(void *ctx, uint64_t seq, unsigned n, uint64_t *full, uint64_t *err)
{
	struct txctx *t = ctx;
	int sent = 0;

	(void)full;
	for (unsigned i = 0; i < n; i++) {
		memcpy(t->frames[i] + 14, &(uint64_t){ seq + i }, 8);
		if (write(t->fd, t->frames[i], opt.size) == (ssize_t)opt.size) {
			sent++;
		} else {
			/* A tap never pushes back on write (it drops at the far queue); count and go on. */
			(*err)++;
			if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
				fprintf(stderr, "sender: write: %s\n", strerror(errno));
				return -1;
			}
		}
	}
	return sent;
}

static int tx_main(void)
{
	static struct txctx t;
	uint8_t buf[2048];
	double end;

	sh->tx_pid = getpid();
	t.fd = tap_open(opt.tap_a);
	if (t.fd < 0)
		return 1;
	memcpy(sh->tx_mac, TX_MAC, 6);
	atomic_store(&sh->tx_up, 1);
	/* Wait for the receiver's learn broadcast to come out of tap A: the bridge now knows RX_MAC is on B. */
	end = bench_now() + 20;
	while (!atomic_load(&sh->learned)) {
		struct pollfd p = { .fd = t.fd, .events = POLLIN };
		ssize_t n;

		if (atomic_load(&sh->failed) || bench_now() > end)
			return 1;
		if (poll(&p, 1, 10) <= 0)
			continue;
		while ((n = read(t.fd, buf, sizeof(buf))) > 0)
			if (atomic_load(&sh->rx_up) && bench_frame_is_learn(buf, (size_t)n, RX_MAC))
				atomic_store(&sh->learned, 1);
	}
	for (unsigned i = 0; i < opt.batch; i++)
		bench_frame_fill(t.frames[i], opt.size, RX_MAC, TX_MAC);
	bench_send_loop(sh, &opt, tx_send, &t);
	atomic_store(&sh->tx_done, 1);
	while (!atomic_load(&sh->rx_stop) && !atomic_load(&sh->failed))
		usleep(2000);
	close(t.fd);
	return 0;
}

int main(int argc, char **argv)
{
	bench_parse(argc, argv, &opt, "-A TAP_A -B TAP_B  (persistent taps, both ports of one bridge)");
	if (!opt.tap_a || !opt.tap_b) {
		fprintf(stderr, "bench_tap: -A TAP_A and -B TAP_B are required\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = bench_shared_new();
	return bench_launch(sh, &opt, "bench_tap", "kernel", tx_main, rx_main);
}
