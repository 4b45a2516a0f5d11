/*
 * bench_common.h — what bench_ring (vmnet API through vmnetd) and bench_tap
 * (two taps on a Linux bridge) share: options, the frame format, the
 * shared-memory scoreboard between the sender and receiver processes, CPU
 * accounting, and the one-line result format that run.sh parses.
 *
 * Protocol between the processes (both programs):
 *   1. the sender comes up and publishes its MAC (tx_up);
 *   2. the receiver comes up, publishes its MAC (rx_up) and sends broadcast
 *      "learn" frames from its MAC until the sender has seen one (learned):
 *      the switch/bridge has then learned where the receiver lives, so the
 *      measured traffic is unicast forwarding, never flooding;
 *   3. the sender sends for warmup + T seconds; at the two window edges it
 *      snapshots its own count, the receiver's count and the CPU time of
 *      sender, receiver and (for ours) vmnetd (/proc/PID/stat);
 *   4. the parent waits until the receiver's count stops moving (drain), then
 *      tells the receiver to stop and prints the result line.
 */
#ifndef VMNET_BENCH_COMMON_H
#define VMNET_BENCH_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */
#define BENCH_MAX_BATCH 256
#define BENCH_MAX_FRAME 1514
#define BENCH_MIN_FRAME 60 /* 14 header + 8 seq + 8 magic, padded like a real minimum frame */

struct bench_opts {
	unsigned size;  /* frame bytes (Ethernet header included, no FCS) */
	unsigned batch; /* frames per vmnet_write/vmnet_read call (ours) or write()/read() per loop (tap) */
	double secs;    /* measured window */
	double warmup;  /* seconds sent before the window opens */
	int wait_mode;  /* what the sender does when the path pushes back */
	pid_t daemon_pid; /* vmnetd, for CPU accounting (0 = none) */
	const char *tap_a, *tap_b; /* bench_tap */
	const char *label;
};

enum { WAIT_YIELD, WAIT_SPIN, WAIT_SLEEP };

/* One cache line per writer so the scoreboard itself does not bounce lines in the hot path. */
struct bench_shared {
	_Alignas(64) _Atomic int tx_up, rx_up, learned, tx_done, rx_stop, tx_exit, rx_exit;
	_Atomic int failed;
	uint8_t tx_mac[6], rx_mac[6];
	pid_t tx_pid, rx_pid;

	/* receiver-written */
	_Alignas(64) _Atomic uint64_t rx_frames; /* bench frames received (whole run) */
	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t rx_other;   /* frames that were not ours (learn frames, noise) */
	_Atomic uint64_t rx_wakeups; /* callbacks (ours) / poll() returns (tap) */
	_Atomic uint64_t rx_calls;   /* vmnet_read() / read() calls */
	_Atomic uint64_t rx_learn_sent;

	/* sender-written */
	_Alignas(64) uint64_t tx_frames_total, tx_bytes_total, tx_calls_total, tx_full_total, tx_err_total;
	uint64_t win_tx_frames, win_tx_bytes, win_tx_full, win_tx_calls;
	uint64_t win_rx_frames, win_rx_bytes, win_rx_wakeups, win_rx_calls;
	double win_secs;
	double cpu_tx, cpu_rx, cpu_d; /* % of one core over the window */
	char err[256];
};

/* Parse the common options; exits on bad usage. */
void bench_parse(int argc, char **argv, struct bench_opts *o, const char *usage);
/* An anonymous shared mapping visible to forked children. */
struct bench_shared *bench_shared_new(void);
double bench_now(void);
/* Total CPU time (utime + stime, all threads) of pid in seconds, or -1. */
double bench_cpu_secs(pid_t pid);
/* Fill one frame: dst, src, ethertype, magic; the 8-byte sequence number lives at offset 14. */
void bench_frame_fill(uint8_t *buf, unsigned size, const uint8_t dst[6], const uint8_t src[6]);
/* A broadcast learn frame from src. */
void bench_learn_fill(uint8_t *buf, const uint8_t src[6]);
/* Is this a measured frame addressed to mac? */
bool bench_frame_is_ours(const uint8_t *buf, size_t len, const uint8_t mac[6]);
/* Is this a learn frame from mac? */
bool bench_frame_is_learn(const uint8_t *buf, size_t len, const uint8_t mac[6]);
int bench_parse_mac(const char *s, uint8_t mac[6]);
void bench_fail(struct bench_shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wait until *flag is non-zero or timeout; Return: true when set. */
bool bench_wait_flag(_Atomic int *flag, struct bench_shared *sh, double timeout);
/* Sender side: the measurement loop around send_batch(); fills the window fields. */
typedef int (*bench_send_fn)(void *ctx, uint64_t seq, unsigned n, uint64_t *full, uint64_t *err);
void bench_send_loop(struct bench_shared *sh, const struct bench_opts *o, bench_send_fn fn, void *ctx);
/* Parent: wait for the sender, drain, stop the receiver, reap, print. Return: exit status. */
int bench_finish(struct bench_shared *sh, const struct bench_opts *o, const char *impl, pid_t tx, pid_t rx);
/* Fork the sender, wait until it is up, fork the receiver, then bench_finish().
 * prog names the program in messages. Return: bench_finish()'s status, or 1. */
int bench_launch(struct bench_shared *sh, const struct bench_opts *o, const char *prog, const char *impl,
		 int (*tx_main)(void), int (*rx_main)(void));
/* The learn handshake, receiver side: call send_learn() until the sender confirms. Return: 0 or -1. */
int bench_learn(struct bench_shared *sh, int (*send_learn)(void *ctx), void *ctx);

#endif
