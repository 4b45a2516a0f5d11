/*
 * bench_sock.c — frames per second between two VMM socket ports through
 * vmnetd's switch, speaking the protocols QEMU speaks (docs/vmm.md):
 *
 *   stream  QEMU -netdev stream: 4-byte big-endian length + frame on a UNIX
 *           stream socket. The sender and the receiver both connect to the
 *           same `vmnet attach --qemu-stream PATH` socket: two connections =
 *           two ports of the network.
 *   dgram   QEMU -netdev dgram: one frame per datagram. Two attachments
 *           (`vmnet attach --dgram A`, `--dgram B`); the sender binds a path of
 *           its own and sends to A, the receiver binds one and sends to B
 *           (vmnetd answers the address it last heard from).
 *
 * The parent forks a sender and a receiver (bench_common: same scoreboard,
 * learn handshake, window, drain and RESULT line as bench_ring). The sender
 * writes `batch` frames per call — one write() of `batch` length-prefixed
 * frames (stream) or one sendmmsg() of `batch` datagrams (dgram) — on a
 * blocking socket, as a VMM does: when vmnetd does not keep up, the socket
 * pushes back. The receiver poll()s a non-blocking socket and drains it with
 * read() (stream, parsing the framing) or recvmmsg() of `batch` (dgram) until
 * EAGAIN. Frames are unicast from the sender's MAC to the receiver's MAC; the
 * receiver first sends broadcast learn frames until the sender has seen one,
 * so the switch has learned the receiver's port and the run measures unicast
 * forwarding. MACs are fixed (02:be:4c:00:01:01 sender, :02 receiver).
 *
 * Direct modes (stream-direct, dgram-direct) take vmnetd out: the sender and
 * the receiver hold the two ends of one socketpair() of that type, with the
 * same buffer sizes vmnetd's port asks for, and move the same frames the same
 * way. They measure what the kernel itself allows for one hop between two
 * processes on this machine: a port through vmnetd needs two such hops (VMM
 * to vmnetd, vmnetd to VMM), so it can reach at best about half of it.
 *
 * Usage: bench_sock stream -A PATH [common options]
 *        bench_sock dgram -A PATH_A -B PATH_B [common options]
 *        bench_sock stream-direct|dgram-direct [common options]
 * Output: one "RESULT impl=stream|dgram|stream-direct|dgram-direct ..." line on stdout.
 */

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_common.h"

enum { MODE_STREAM, MODE_DGRAM };

#define SLOT 2048                /* per-frame buffer (dgram) and spacing */
#define STREAM_RXBUF (512 * 1024) /* receive buffer for the stream framing */
/* Direct modes: the socket buffers vmnetd's stream and dgram ports ask for. */
#define DIRECT_SOCKBUF_STREAM (1024 * 1024)
#define DIRECT_SOCKBUF_DGRAM (4 * 1024 * 1024)

static struct bench_shared *sh;
static struct bench_opts opt;
static int mode;
static int direct_fd[2] = { -1, -1 }; /* direct modes: [0] the sender's end, [1] the receiver's */
static const uint8_t mac_tx[6] = { 0x02, 0xbe, 0x4c, 0x00, 0x01, 0x01 };
static const uint8_t mac_rx[6] = { 0x02, 0xbe, 0x4c, 0x00, 0x01, 0x02 };

/* One client socket: a connection (stream) or a bound datagram socket with a fixed destination. */
struct client {
	int fd;
	struct sockaddr_un dst, local;
	socklen_t dst_len;
	/* receive side */
	uint8_t *buf; /* stream: STREAM_RXBUF; dgram: BENCH_MAX_BATCH slots of SLOT */
	size_t have;
	struct mmsghdr msg[BENCH_MAX_BATCH];
	struct iovec iov[BENCH_MAX_BATCH];
};

static int un_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -1;
	strcpy(a->sun_path, path);
	return (int)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

/* Direct modes: take our end of the socketpair, close the other. */
static int client_open_direct(struct client *c, const char *who)
{
	bool tx = !strcmp(who, "tx");

	memset(c, 0, sizeof(*c));
	c->fd = direct_fd[tx ? 0 : 1];
	close(direct_fd[tx ? 1 : 0]);
	c->buf = malloc(mode == MODE_STREAM ? STREAM_RXBUF : (size_t)BENCH_MAX_BATCH * SLOT);
	if (!c->buf) {
		bench_fail(sh, "%s: out of memory", who);
		return -1;
	}
	return 0;
}

/* Open the client. who: "tx"/"rx" (names the bound dgram path). Return: 0 or -1 (bench_fail called). */
static int client_open(struct client *c, const char *path, const char *who)
{
	int len;

	if (!path)
		return client_open_direct(c, who);
	memset(c, 0, sizeof(*c));
	len = un_addr(&c->dst, path);
	if (len < 0) {
		bench_fail(sh, "%s: path too long: %s", who, path);
		return -1;
	}
	c->dst_len = (socklen_t)len;
	c->fd = socket(AF_UNIX, (mode == MODE_STREAM ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		bench_fail(sh, "%s: socket: %s", who, strerror(errno));
		return -1;
	}
	if (mode == MODE_STREAM) {
		if (connect(c->fd, (struct sockaddr *)&c->dst, c->dst_len) < 0) {
			bench_fail(sh, "%s: connect %s: %s", who, path, strerror(errno));
			return -1;
		}
		c->buf = malloc(STREAM_RXBUF);
	} else {
		char local[sizeof(c->local.sun_path)];

		/* QEMU dgram style: bind a path of our own, so vmnetd can answer. */
		snprintf(local, sizeof(local), "%s.%s%d", path, who, (int)getpid());
		if (un_addr(&c->local, local) < 0) {
			bench_fail(sh, "%s: path too long: %s", who, local);
			return -1;
		}
		unlink(local);
		if (bind(c->fd, (struct sockaddr *)&c->local, sizeof(c->local)) < 0) {
			bench_fail(sh, "%s: bind %s: %s", who, local, strerror(errno));
			return -1;
		}
		c->buf = malloc((size_t)BENCH_MAX_BATCH * SLOT);
	}
	if (!c->buf) {
		bench_fail(sh, "%s: out of memory", who);
		return -1;
	}
	return 0;
}

static void client_close(struct client *c)
{
	if (mode == MODE_DGRAM && c->local.sun_path[0])
		unlink(c->local.sun_path);
	close(c->fd);
	free(c->buf);
}

/* Send one frame (learn/hello), blocking. Return: 0 or -1. */
static int client_send1(struct client *c, const uint8_t *frame, size_t len)
{
	if (mode == MODE_STREAM) {
		uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
		struct iovec iov[2] = { { hdr, 4 }, { (void *)frame, len } };
		ssize_t n = writev(c->fd, iov, 2);

		return n == (ssize_t)(len + 4) ? 0 : -1;
	}
	return sendto(c->fd, frame, len, 0, c->dst_len ? (struct sockaddr *)&c->dst : NULL, c->dst_len) ==
			       (ssize_t)len
		       ? 0
		       : -1;
}

typedef void (*frame_fn)(const uint8_t *f, size_t len, void *ctx);

/* One non-blocking receive call; hands every complete frame to fn.
 * Return: frames handed, 0 when nothing was there (EAGAIN), -1 on error/EOF. */
static int client_recv(struct client *c, unsigned batch, frame_fn fn, void *ctx)
{
	int frames = 0;

	if (mode == MODE_STREAM) {
		ssize_t n = recv(c->fd, c->buf + c->have, STREAM_RXBUF - c->have, MSG_DONTWAIT);
		size_t off = 0;

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0)
			return -1;
		c->have += (size_t)n;
		while (c->have - off >= 4) {
			const uint8_t *p = c->buf + off;
			size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];

			if (len == 0 || len > STREAM_RXBUF - 4)
				return -1; /* corrupt stream */
			if (c->have - off - 4 < len)
				break;
			fn(p + 4, len, ctx);
			frames++;
			off += 4 + len;
		}
		memmove(c->buf, c->buf + off, c->have - off);
		c->have -= off;
		return frames;
	}
	for (unsigned i = 0; i < batch; i++) {
		c->iov[i] = (struct iovec){ c->buf + (size_t)i * SLOT, SLOT };
		c->msg[i].msg_hdr = (struct msghdr){ .msg_iov = &c->iov[i], .msg_iovlen = 1 };
	}
	int n = recvmmsg(c->fd, c->msg, batch, MSG_DONTWAIT, NULL);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++)
		fn(c->buf + (size_t)i * SLOT, c->msg[i].msg_len, ctx);
	return n;
}

static const char *path_a, *path_b;

/* ------------------------------------------------------------------ */
/* receiver                                                            */
/* ------------------------------------------------------------------ */

struct rxstat {
	uint64_t frames, bytes, other;
};

static void rx_frame(const uint8_t *f, size_t len, void *ctx)
{
	struct rxstat *s = ctx;

	if (bench_frame_is_ours(f, len, mac_rx)) {
		s->frames++;
		s->bytes += len;
	} else {
		s->other++;
	}
}

static int rx_send_learn(void *ctx)
{
	struct client *c = ctx;
	uint8_t frame[BENCH_MIN_FRAME];

	bench_learn_fill(frame, mac_rx);
	if (client_send1(c, frame, sizeof(frame)) < 0) {
		bench_fail(sh, "receiver: sending the learn frame failed: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int rx_main(void)
{
	struct client c;
	struct rxstat s = { 0 };
	uint64_t wakeups = 0, calls = 0;
	const char *path = mode == MODE_STREAM ? path_a : path_b;

	sh->rx_pid = getpid();
	if (client_open(&c, path, "rx") < 0)
		return 1;
	memcpy(sh->rx_mac, mac_rx, 6);
	atomic_store(&sh->rx_up, 1);
	if (bench_learn(sh, rx_send_learn, &c) < 0) {
		bench_fail(sh, "receiver: the sender never saw the learn broadcast");
		client_close(&c);
		return 1;
	}
	while (!atomic_load(&sh->rx_stop) && !atomic_load(&sh->failed)) {
		struct pollfd p = { c.fd, POLLIN, 0 };

		if (poll(&p, 1, 10) <= 0)
			continue;
		wakeups++;
		atomic_store_explicit(&sh->rx_wakeups, wakeups, memory_order_relaxed);
		for (;;) {
			int n = client_recv(&c, opt.batch, rx_frame, &s);

			calls++;
			if (n < 0) {
				bench_fail(sh, "receiver: receive failed or vmnetd closed the connection");
				break;
			}
			atomic_store_explicit(&sh->rx_frames, s.frames, memory_order_relaxed);
			atomic_store_explicit(&sh->rx_bytes, s.bytes, memory_order_relaxed);
			atomic_store_explicit(&sh->rx_calls, calls, memory_order_relaxed);
			if (n == 0)
				break;
		}
		atomic_store_explicit(&sh->rx_other, s.other, memory_order_relaxed);
	}
	client_close(&c);
	return atomic_load(&sh->failed) ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* sender                                                              */
/* ------------------------------------------------------------------ */

struct txctx {
	struct client *c;
	uint8_t *mem;   /* stream: batch x (4 + size) contiguous; dgram: batch slots of SLOT */
	size_t stride;  /* distance between frames in mem */
	size_t hdr;     /* 4 (stream) or 0 */
	struct mmsghdr msg[BENCH_MAX_BATCH];
	struct iovec iov[BENCH_MAX_BATCH];
};

static void tx_watch(const uint8_t *f, size_t len, void *ctx)
{
	(void)ctx;
	if (atomic_load(&sh->rx_up) && bench_frame_is_learn(f, len, mac_rx))
		atomic_store(&sh->learned, 1);
}

static int tx_send(void *ctx, uint64_t seq, unsigned n, uint64_t *full, uint64_t *err)
{
	struct txctx *t = ctx;

	(void)full;
	for (unsigned i = 0; i < n; i++)
		memcpy(t->mem + (size_t)i * t->stride + t->hdr + 14, &(uint64_t){ seq + i }, 8);
	if (mode == MODE_STREAM) {
		/* One write of n length-prefixed frames; blocking, so it returns with all of it written. */
		size_t want = (size_t)n * t->stride, done = 0;

		while (done < want) {
			ssize_t w = write(t->c->fd, t->mem + done, want - done);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				(*err)++;
				fprintf(stderr, "sender: write: %s\n", strerror(errno));
				return -1;
			}
			done += (size_t)w;
		}
		return (int)n;
	}
	int s = sendmmsg(t->c->fd, t->msg, n, 0);

	if (s < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		(*err)++;
		fprintf(stderr, "sender: sendmmsg: %s\n", strerror(errno));
		return -1;
	}
	return s;
}

static int tx_main(void)
{
	static struct txctx t;
	static struct client c;
	uint8_t hello[BENCH_MIN_FRAME];
	double end;

	sh->tx_pid = getpid();
	if (client_open(&c, path_a, "tx") < 0)
		return 1;
	memcpy(sh->tx_mac, mac_tx, 6);
	/* Say hello first (a broadcast from our MAC): a dgram port learns its peer's address from it. */
	bench_learn_fill(hello, mac_tx);
	if (client_send1(&c, hello, sizeof(hello)) < 0) {
		bench_fail(sh, "sender: hello failed: %s", strerror(errno));
		return 1;
	}
	atomic_store(&sh->tx_up, 1);
	end = bench_now() + 20;
	while (!atomic_load(&sh->learned)) {
		struct pollfd p = { c.fd, POLLIN, 0 };

		if (atomic_load(&sh->failed) || bench_now() > end) {
			bench_fail(sh, "sender: no learn frame from the receiver");
			return 1;
		}
		if (poll(&p, 1, 10) > 0 && client_recv(&c, 16, tx_watch, NULL) < 0) {
			bench_fail(sh, "sender: receive failed");
			return 1;
		}
	}

	t.c = &c;
	t.hdr = mode == MODE_STREAM ? 4 : 0;
	t.stride = mode == MODE_STREAM ? 4 + opt.size : SLOT;
	t.mem = aligned_alloc(64, (size_t)BENCH_MAX_BATCH * SLOT);
	if (!t.mem) {
		bench_fail(sh, "sender: out of memory");
		return 1;
	}
	for (unsigned i = 0; i < opt.batch; i++) {
		uint8_t *f = t.mem + (size_t)i * t.stride;

		if (mode == MODE_STREAM) {
			f[0] = (uint8_t)(opt.size >> 24);
			f[1] = (uint8_t)(opt.size >> 16);
			f[2] = (uint8_t)(opt.size >> 8);
			f[3] = (uint8_t)opt.size;
		}
		bench_frame_fill(f + t.hdr, opt.size, mac_rx, mac_tx);
		t.iov[i] = (struct iovec){ f, opt.size };
		t.msg[i].msg_hdr = (struct msghdr){ .msg_name = c.dst_len ? &c.dst : NULL, .msg_namelen = c.dst_len,
						    .msg_iov = &t.iov[i],
						    .msg_iovlen = 1 };
	}
	bench_send_loop(sh, &opt, tx_send, &t);
	atomic_store(&sh->tx_done, 1);
	while (!atomic_load(&sh->rx_stop) && !atomic_load(&sh->failed))
		usleep(2000);
	client_close(&c);
	return atomic_load(&sh->failed) ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const char *usage = "stream|dgram -A PATH [-B PATH] | stream-direct|dgram-direct   (first argument; dgram "
				   "needs -B)";
	char *av[64];
	int ac = 0;
	bool direct;

	if (argc < 2 || argc > 62 ||
	    (strcmp(argv[1], "stream") && strcmp(argv[1], "dgram") && strcmp(argv[1], "stream-direct") &&
	     strcmp(argv[1], "dgram-direct"))) {
		fprintf(stderr, "usage: %s %s [common options, see -h]\n", argv[0], usage);
		return 2;
	}
	mode = strncmp(argv[1], "stream", 6) ? MODE_DGRAM : MODE_STREAM;
	direct = strstr(argv[1], "-direct") != NULL;
	av[ac++] = argv[0];
	for (int i = 2; i < argc; i++)
		av[ac++] = argv[i];
	av[ac] = NULL;
	bench_parse(ac, av, &opt, usage);
	path_a = opt.tap_a;
	path_b = opt.tap_b;
	if (direct) {
		int v = mode == MODE_STREAM ? DIRECT_SOCKBUF_STREAM : DIRECT_SOCKBUF_DGRAM;

		if (path_a || path_b) {
			fprintf(stderr, "%s: %s takes no -A/-B (no vmnetd in between)\n", argv[0], argv[1]);
			return 2;
		}
		if (socketpair(AF_UNIX, (mode == MODE_STREAM ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0, direct_fd) <
		    0) {
			fprintf(stderr, "%s: socketpair: %s\n", argv[0], strerror(errno));
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			(void)setsockopt(direct_fd[i], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
			(void)setsockopt(direct_fd[i], SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		}
	} else if (!path_a || (mode == MODE_DGRAM && !path_b)) {
		fprintf(stderr, "usage: %s %s\n", argv[0], usage);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = bench_shared_new();
	return bench_launch(sh, &opt, "bench_sock", argv[1], tx_main, rx_main);
}
