/*
 * rb_raw.c — a hostile client speaking vmnetd's control protocol and rings by hand.
 *
 * Talks to $VMNET_SOCKET. Each subcommand is one scenario and exits 0 when the
 * daemon behaved as the protocol promises (see common/ctl.h, common/ring.h),
 * 1 when it did not, 2 on a usage or local error. Diagnostics go to stdout.
 *
 * Ring scenarios (a CTL_START of our own, then abuse of the shared memory):
 *   ring-garbage HOLD     bad record lengths; print "PORT id", "READY"; keep the connection HOLD s
 *   ring-prod             impossible TX producer index -> must be disconnected
 *   ring-rxcons WAIT      impossible RX consumer index -> disconnected once the daemon produces
 *   ring-scribble SECS    random bytes over the whole mapping, kicking, for SECS s
 *   ring-seal             the memfd cannot be shrunk or grown
 *   ring-evblock-rx HOLD  clear O_NONBLOCK on the shared RX doorbell and saturate it
 *   ring-evblock-tx HOLD  clear O_NONBLOCK on the shared TX doorbell, publish > one budget, kick once
 *
 * Control scenarios (each on fresh connections; fds sent along are pipe ends or taps
 * whose closing we watch, so a descriptor the daemon keeps is caught):
 *   garbage short magic len-long len-short len-huge undecodable nondict
 *                         malformed messages: the connection is closed, fds too
 *   unknown-type          types 0, 99, a reply type, 0xffff: closed
 *   version               VMNET_FAILURE naming the version, then closed
 *   start-badtype start-twice stop-noif attach detach many-fds big
 *                         refused with VMNET_INVALID_ARGUMENT (or closed), connection usable
 *   storm                 264 short-lived connections; counts back to where they were
 *   slow-reader HOLD      3000 unread replies and 100 idle connections, held HOLD s
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>

#include "common/fdpass.h"
#include "common/ctl.h"
#include "tests/e2e/robust/rb_util.h"
#include "common/ring.h"

#define REPLY_WAIT_MS 3000


static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static int fails;

static void expect(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		fails++;
}

/* ------------------------------------------------------------------ */
/* connections and messages                                            */
/* ------------------------------------------------------------------ */

static int raw_connect(void)
{
	const char *path = getenv("VMNET_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "rb_raw: VMNET_SOCKET unset or too long\n");
		exit(2);
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("connect %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

/* Send raw bytes (+ fds) as one packet. Return: 0 or -errno. */
static int send_raw(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	FDPASS_BUF(64) cm;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	fdpass_attach(&msg, cm.buf, fds, nfds > 0 ? (size_t)nfds : 0);
	return sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Build header + payload bytes with the given header fields. Return: malloc'd message, *len set. */
static uint8_t *build_msg(uint32_t magic, uint16_t version, uint16_t type, uint32_t seq, const void *payload,
			  size_t plen, int64_t len_field, size_t *len)
{
	struct ctl_hdr h = { .magic = magic, .version = version, .type = type, .seq = seq };
	uint8_t *m = malloc(sizeof(h) + plen + 1);

	h.len = len_field >= 0 ? (uint32_t)len_field : (uint32_t)plen;
	memcpy(m, &h, sizeof(h));
	if (plen)
		memcpy(m + sizeof(h), payload, plen);
	*len = sizeof(h) + plen;
	return m;
}

/* Encode an xpc object (any type). Return: malloc'd bytes. */
static void *encode(xpc_object_t o, size_t *len)
{
	void *b = xpc_vmnet_encode(o, len);

	if (!b) {
		printf("encode failed\n");
		exit(2);
	}
	return b;
}

/*
 * Wait for one message. Return: 1 with the header, payload (and fds) filled, 0 on EOF,
 * -ETIMEDOUT, or another negative errno for a message we could not parse.
 */
static int wait_msg(int fd, int timeout_ms, struct ctl_hdr *hdr, xpc_object_t *payload, int *fds, int *nfds)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r, dummy[CTL_MAX_FDS], dn;

	*payload = NULL;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	r = ctl_recv(fd, hdr, (void **)payload, fds ? fds : dummy, nfds ? nfds : &dn);
	if (!fds)
		for (int i = 0; i < dn; i++)
			close(dummy[i]);
	if (r == -ECONNRESET || r == -EPIPE)
		return 0;
	return r < 0 ? r : 1;
}

/* Send a well-formed request. */
static void request(int fd, uint16_t type, uint32_t seq, xpc_object_t d, const int *fds, int nfds)
{
	int r = ctl_send(fd, type, seq, 0, d, fds, nfds);

	if (r < 0)
		printf("send type %u: %s\n", type, strerror(-r));
}

/* Send a well-formed request with any number of descriptors (up to 64; ctl_send stops at CTL_MAX_FDS). */
static void request_fds(int fd, uint16_t type, uint32_t seq, xpc_object_t d, const int *fds, int nfds)
{
	size_t plen = 0, len;
	void *pl = d ? encode(d, &plen) : NULL;
	uint8_t *m = build_msg(CTL_MAGIC, CTL_VERSION, type, seq, pl, plen, -1, &len);
	int r = send_raw(fd, m, len, fds, nfds);

	if (r < 0)
		printf("send type %u with %d fds: %s\n", type, nfds, strerror(-r));
	free(m);
	free(pl);
}

/* Wait for the reply to seq. Return: its status, 0 on EOF/timeout (message printed). */
static uint32_t reply_status(int fd, uint16_t type, uint32_t seq, xpc_object_t *payload, int *fds, int *nfds)
{
	struct ctl_hdr h;
	xpc_object_t d = NULL;
	int r = wait_msg(fd, REPLY_WAIT_MS, &h, &d, fds, nfds);

	if (payload)
		*payload = NULL;
	if (r <= 0) {
		printf("  (no reply: %s)\n", r == 0 ? "connection closed" : strerror(-r));
		return 0;
	}
	if (h.type != (type | CTL_REPLY) || h.seq != seq) {
		printf("  (reply has type %#x seq %u, expected %#x seq %u)\n", h.type, h.seq, type | CTL_REPLY, seq);
		xpc_release(d);
		return 0;
	}
	if (h.status != VMNET_SUCCESS) {
		const char *why = xpc_dictionary_get_string(d, CTL_KEY_ERROR);

		printf("  (status %u%s%s)\n", h.status, why ? ": " : "", why ? why : "");
	}
	if (payload)
		*payload = d;
	else
		xpc_release(d);
	return h.status;
}

/*
 * The daemon must close this connection within timeout_ms. Replies before the
 * close are allowed (counted). Return: true when EOF came.
 */
static bool wait_eof(int fd, int timeout_ms, int *replies, uint32_t *last_status, char *why, size_t whylen)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	if (replies)
		*replies = 0;
	if (why && whylen)
		why[0] = 0;
	while (now_ms() < end) {
		struct ctl_hdr h;
		xpc_object_t d;
		int r = wait_msg(fd, (int)(end - now_ms()) + 1, &h, &d, NULL, NULL);

		if (r == 0)
			return true;
		if (r == -ETIMEDOUT)
			return false;
		if (r == 1) {
			const char *w = xpc_dictionary_get_string(d, CTL_KEY_ERROR);

			if (replies)
				(*replies)++;
			if (last_status)
				*last_status = h.status;
			if (why && w)
				snprintf(why, whylen, "%s", w);
			xpc_release(d);
		} else {
			printf("  (unparsable message from the daemon: %s)\n", strerror(-r));
		}
	}
	return false;
}

/* Is the connection still served? (HELLO round trip) */
static bool still_usable(int fd, uint32_t seq)
{
	request(fd, CTL_HELLO, seq, NULL, NULL, 0);
	return reply_status(fd, CTL_HELLO, seq, NULL, NULL, NULL) == VMNET_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* descriptor leak probes                                              */
/* ------------------------------------------------------------------ */

/* A pipe whose write end we hand to the daemon: when every copy of it is closed, the read end sees EOF. */
struct probe {
	int rd, wr;
};

static void probe_new(struct probe *p)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0) {
		perror("pipe");
		exit(2);
	}
	p->rd = fds[0];
	p->wr = fds[1];
}

/* After sending: drop our write ends and wait until the daemon dropped its copies. Return: probes still open. */
static int probes_leaked(struct probe *p, int n, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int open_n = n;

	for (int i = 0; i < n; i++)
		if (p[i].wr >= 0) {
			close(p[i].wr);
			p[i].wr = -1;
		}
	while (now_ms() < end) {
		open_n = 0;
		for (int i = 0; i < n; i++) {
			struct pollfd pf = { .fd = p[i].rd, .events = POLLIN };

			if (poll(&pf, 1, 0) <= 0 || !(pf.revents & POLLHUP))
				open_n++;
		}
		if (!open_n)
			break;
		sleep_ms(20);
	}
	for (int i = 0; i < n; i++)
		close(p[i].rd);
	return open_n;
}

/* A non-persistent tap: its device vanishes when the last descriptor closes. Return: fd, name filled. */
static int tap_new(char name[IFNAMSIZ])
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("open /dev/net/tun: %s\n", strerror(errno));
		exit(2);
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "rbt%d", (int)(getpid() % 1000000));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		printf("TUNSETIFF: %s\n", strerror(errno));
		exit(2);
	}
	snprintf(name, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

/* Return: true when the tap device disappeared within timeout_ms. */
static bool tap_gone(const char *name, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	do {
		if (if_nametoindex(name) == 0)
			return true;
		sleep_ms(20);
	} while (now_ms() < end);
	return false;
}

/* ------------------------------------------------------------------ */
/* raw interface (CTL_START by hand)                                   */
/* ------------------------------------------------------------------ */

struct raw_if {
	int sock, memfd, kick_tx, kick_rx;
	uint8_t *map;
	struct ring_layout l;
	struct ring tx, rx;
	uint64_t port;
};

static xpc_object_t host_desc(void)
{
	xpc_object_t d = xpc_dictionary_create_empty();

	xpc_dictionary_set_uint64(d, "vmnet_operation_mode", VMNET_HOST_MODE);
	return d;
}

/* Start an interface on a new connection. Exits 2 when that fails. */
static void raw_start(struct raw_if *r)
{
	xpc_object_t d = host_desc(), rep;
	int fds[CTL_MAX_FDS], nfds = 0, geom;
	uint32_t st;

	memset(r, 0, sizeof(*r));
	r->sock = raw_connect();
	request(r->sock, CTL_START, 1, d, NULL, 0);
	xpc_release(d);
	st = reply_status(r->sock, CTL_START, 1, &rep, fds, &nfds);
	if (st != VMNET_SUCCESS || nfds != 3) {
		printf("raw CTL_START: status %u, %d fds\n", st, nfds);
		if (rep)
			xpc_release(rep);
		exit(2);
	}
	r->memfd = fds[0];
	r->kick_tx = fds[1];
	r->kick_rx = fds[2];
	r->port = xpc_dictionary_get_uint64(rep, CTL_KEY_PORT_ID);
	geom = ring_layout_init(&r->l, (uint32_t)xpc_dictionary_get_uint64(rep, CTL_KEY_RING_NSLOTS),
				(uint32_t)xpc_dictionary_get_uint64(rep, CTL_KEY_RING_MAX_FRAME));
	xpc_release(rep);
	if (geom < 0) {
		printf("raw CTL_START: bad geometry\n");
		exit(2);
	}
	r->map = ring_map(r->memfd, &r->l);
	if (!r->map || ring_shm_check(r->map, &r->l) < 0) {
		printf("raw CTL_START: cannot map the rings\n");
		exit(2);
	}
	ring_attach(&r->tx, r->map, &r->l, RING_TX);
	ring_attach(&r->rx, r->map, &r->l, RING_RX);
	printf("PORT %llu\n", (unsigned long long)r->port);
	fflush(stdout);
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		printf("kick: %s\n", strerror(errno));
}

/* Keep the connection for secs seconds (or until the daemon closes it). Return: true if it closed. */
static bool hold(int sock, int secs)
{
	uint64_t end = now_ms() + (uint64_t)secs * 1000;

	printf("READY\n");
	fflush(stdout);
	while (now_ms() < end) {
		struct pollfd p = { .fd = sock, .events = POLLRDHUP };

		if (poll(&p, 1, 100) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
			printf("EOF\n");
			return true;
		}
	}
	return false;
}

/* Wait for the daemon to close the connection. Return: ms it took, or -1. */
static long wait_disconnect(int sock, int timeout_ms)
{
	uint64_t t0 = now_ms();
	struct pollfd p = { .fd = sock, .events = POLLRDHUP };

	while (now_ms() - t0 < (uint64_t)timeout_ms) {
		if (poll(&p, 1, 50) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
			return (long)(now_ms() - t0);
	}
	return -1;
}

static int ring_garbage(int secs)
{
	static const uint32_t lens[] = { 0, 13, 65535, 0xffffffffu };
	struct raw_if r;

	raw_start(&r);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct ring_rec *rec = ring_slot(&r.tx, r.tx.prod);

		memset(rec, 0, r.l.slot_size);
		rec->len = lens[i];
		memset(ring_rec_data(rec), 0xff, 14);
		ring_prod_publish(&r.tx, 1);
	}
	kick(r.kick_tx);
	hold(r.sock, secs);
	return 0;
}

static int ring_prod(void)
{
	struct raw_if r;
	long ms;

	raw_start(&r);
	atomic_store(&r.tx.ctl->prod, atomic_load(&r.tx.ctl->cons) + 100000u);
	kick(r.kick_tx);
	ms = wait_disconnect(r.sock, 3000);
	expect(ms >= 0, "TX prod = cons + 100000: the daemon closed the connection (%ld ms)", ms);
	return fails ? 1 : 0;
}

static int ring_rxcons(int wait_s)
{
	struct raw_if r;
	long ms;

	raw_start(&r);
	atomic_store(&r.rx.ctl->cons, atomic_load(&r.rx.ctl->prod) + 0x40000000u);
	printf("READY\n");
	fflush(stdout);
	ms = wait_disconnect(r.sock, wait_s * 1000);
	expect(ms >= 0, "RX cons corrupted: the daemon closed the connection once it produced (%ld ms)", ms);
	return fails ? 1 : 0;
}

/* Fill [off, off+len) of the mapping with noise. */
static void noise(struct raw_if *r, uint64_t off, uint64_t len)
{
	uint64_t *w = (uint64_t *)(void *)(r->map + off);

	for (uint64_t i = 0; i < len / 8; i++)
		w[i] = rnd();
}

/*
 * First half: noise over the header page and every slot, with indices kept
 * plausible so the daemon keeps consuming random records. Second half: noise
 * over everything, indices included.
 */
static int ring_scribble(int secs)
{
	struct raw_if r;
	uint64_t t0, end, rounds = 0, ctl = sizeof(struct ring_ctl);
	uint64_t ring_bytes;
	bool closed = false;

	raw_start(&r);
	ring_bytes = r.l.rx_off - r.l.tx_off;
	t0 = now_ms();
	end = t0 + (uint64_t)secs * 1000;
	while (now_ms() < end) {
		struct pollfd p = { .fd = r.sock, .events = POLLRDHUP };

		if (now_ms() - t0 < (uint64_t)secs * 500) {
			noise(&r, 0, r.l.tx_off);
			noise(&r, r.l.tx_off + ctl, ring_bytes - ctl);
			noise(&r, r.l.rx_off + ctl, ring_bytes - ctl);
			atomic_store(&r.rx.ctl->cons, atomic_load(&r.rx.ctl->prod));
			atomic_store(&r.rx.ctl->need_wakeup, (uint32_t)rnd() & 1);
			atomic_store(&r.tx.ctl->prod,
				     atomic_load(&r.tx.ctl->cons) + (uint32_t)(rnd() % (r.l.nslots + 1)));
		} else {
			noise(&r, 0, r.l.total);
			for (int k = 0; k < 16; k++) {
				atomic_store(&r.tx.ctl->prod, (uint32_t)rnd());
				atomic_store(&r.rx.ctl->cons, (uint32_t)rnd());
				kick(r.kick_tx);
			}
		}
		kick(r.kick_tx);
		rounds++;
		if (!closed && poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
			closed = true;
			printf("the daemon disconnected us after %llu rounds (allowed)\n", (unsigned long long)rounds);
		}
		sleep_ms(1);
	}
	printf("scribbled %llu rounds over %llu bytes\n", (unsigned long long)rounds, (unsigned long long)r.l.total);
	return 0;
}

static int ring_seal(void)
{
	struct raw_if r;
	int seals;

	raw_start(&r);
	seals = fcntl(r.memfd, F_GET_SEALS);
	expect(seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_SEAL), "the memfd is sealed (seals %#x)", seals);
	expect(ftruncate(r.memfd, 4096) < 0, "shrinking the ring memfd is refused");
	expect(ftruncate(r.memfd, (off_t)r.l.total * 2) < 0, "growing the ring memfd is refused");
	expect(still_usable(r.sock, 2), "the connection is still served");
	return fails ? 1 : 0;
}

/*
 * The doorbell eventfds are shared open file descriptions: O_NONBLOCK set by
 * the daemon can be cleared by the client. With the RX doorbell counter at its
 * maximum, a blocking write() in the daemon would never return.
 */
static int ring_evblock_rx(int secs)
{
	struct raw_if r;
	uint64_t big = 0xfffffffffffffffeull;
	int fl;

	raw_start(&r);
	fl = fcntl(r.kick_rx, F_GETFL);
	if (fcntl(r.kick_rx, F_SETFL, fl & ~O_NONBLOCK) < 0)
		printf("F_SETFL: %s\n", strerror(errno));
	if (write(r.kick_rx, &big, sizeof(big)) < 0)
		printf("saturate: %s\n", strerror(errno));
	atomic_store(&r.rx.ctl->need_wakeup, 1);
	printf("doorbell flags now %#x\n", fcntl(r.kick_rx, F_GETFL));
	hold(r.sock, secs);
	return 0;
}

/*
 * The same on the TX doorbell: with O_NONBLOCK cleared, publish more frames than
 * one budget (PORT_RING_BUDGET, 256) and kick once. The daemon reads the doorbell
 * on the epoll wakeup, serves 256 frames and comes back for the rest from its
 * pending list, where it reads the (now empty) doorbell again: a blocking read().
 */
static int ring_evblock_tx(int secs)
{
	static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct raw_if r;
	uint32_t n;
	int fl;

	raw_start(&r);
	fl = fcntl(r.kick_tx, F_GETFL);
	if (fcntl(r.kick_tx, F_SETFL, fl & ~O_NONBLOCK) < 0)
		printf("F_SETFL: %s\n", strerror(errno));
	n = r.l.nslots - 1 < 1000 ? r.l.nslots - 1 : 1000;
	for (uint32_t i = 0; i < n; i++) {
		struct ring_rec *rec = ring_slot(&r.tx, r.tx.prod + i);
		uint8_t *f = ring_rec_data(rec);

		memset(rec, 0, sizeof(*rec) + 60);
		rec->len = 60;
		memcpy(f, bc, 6);
		f[6] = 0x02;
		f[11] = 0x01;
		f[12] = 0x88;
		f[13] = 0xb5;
	}
	ring_prod_publish(&r.tx, n);
	kick(r.kick_tx);
	printf("published %u frames with one kick; doorbell flags now %#x\n", n, fcntl(r.kick_tx, F_GETFL));
	hold(r.sock, secs);
	return 0;
}

/* ------------------------------------------------------------------ */
/* control scenarios                                                   */
/* ------------------------------------------------------------------ */

/* Send bytes (with optional leak probes attached); the daemon must close the connection and the fds. */
static int expect_closed(const char *what, const void *buf, size_t len, int nprobes)
{
	struct probe p[8];
	int fds[8], fd = raw_connect(), replies = 0, leaked = 0;
	bool eof;

	for (int i = 0; i < nprobes; i++) {
		probe_new(&p[i]);
		fds[i] = p[i].wr;
	}
	if (send_raw(fd, buf, len, fds, nprobes) < 0)
		printf("send: %s\n", strerror(errno));
	eof = wait_eof(fd, REPLY_WAIT_MS, &replies, NULL, NULL, 0);
	expect(eof, "%s: the daemon closed the connection (%d replies first)", what, replies);
	if (nprobes) {
		leaked = probes_leaked(p, nprobes, 2000);
		expect(!leaked, "%s: the daemon closed the %d descriptors we sent (%d still open)", what, nprobes, leaked);
	}
	close(fd);
	return fails ? 1 : 0;
}

static int ctl_garbage(void)
{
	uint8_t b[100];

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)rnd();
	b[0] = 'X'; /* never the magic */
	return expect_closed("100 garbage bytes with 2 descriptors", b, sizeof(b), 2);
}

static int ctl_short(void)
{
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = CTL_HELLO, .seq = 1 };

	return expect_closed("a 10-byte truncated header", &h, 10, 0);
}

static int ctl_magic(void)
{
	size_t len;
	uint8_t *m = build_msg(0xdeadbeefu, CTL_VERSION, CTL_HELLO, 1, NULL, 0, -1, &len);
	int r = expect_closed("wrong magic", m, len, 0);

	free(m);
	return r;
}

static int ctl_lenlong(void)
{
	size_t len;
	uint8_t *m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_HELLO, 1, NULL, 0, 100, &len);
	int r = expect_closed("length field 100 on an empty payload", m, len, 0);

	free(m);
	return r;
}

static int ctl_lenshort(void)
{
	xpc_object_t d = host_desc();
	size_t plen, len;
	void *pl = encode(d, &plen);
	uint8_t *m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_START, 1, pl, plen, (int64_t)plen - 3, &len);
	int r = expect_closed("length field 3 bytes short of the payload", m, len, 0);

	free(m);
	free(pl);
	xpc_release(d);
	return r;
}

static int ctl_lenhuge(void)
{
	size_t len;
	uint8_t *m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_HELLO, 1, "abcd", 4, 0xffffffffll, &len);
	int r = expect_closed("length field 0xffffffff", m, len, 0);

	free(m);
	return r;
}

static int ctl_undecodable(void)
{
	uint8_t pl[40];
	size_t len;
	uint8_t *m;

	for (size_t i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)rnd();
	m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_START, 1, pl, sizeof(pl), -1, &len);
	expect_closed("a random 40-byte payload", m, len, 1);
	free(m);
	/* A valid dictionary followed by a stray byte, and a dictionary claiming 1000 entries. */
	{
		xpc_object_t d = host_desc();
		size_t plen;
		uint8_t *p = encode(d, &plen), *q = malloc(plen + 1);

		memcpy(q, p, plen);
		q[plen] = 0;
		m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_START, 1, q, plen + 1, -1, &len);
		expect_closed("a dictionary followed by a stray byte", m, len, 0);
		free(m);
		q[5] = 0xe8;
		q[6] = 0x03;
		m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_START, 1, q, plen, -1, &len);
		expect_closed("a dictionary claiming 1000 entries", m, len, 0);
		free(m);
		free(q);
		free(p);
		xpc_release(d);
	}
	return fails ? 1 : 0;
}

static int ctl_nondict(void)
{
	xpc_object_t objs[3] = { xpc_array_create_empty(), xpc_string_create("hello"), xpc_uint64_create(1000) };
	static const char *names[3] = { "an array payload", "a string payload", "a uint64 payload" };

	for (int i = 0; i < 3; i++) {
		size_t plen, len;
		void *pl = encode(objs[i], &plen);
		uint8_t *m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_START, 1, pl, plen, -1, &len);

		expect_closed(names[i], m, len, i == 0 ? 1 : 0);
		free(m);
		free(pl);
		xpc_release(objs[i]);
	}
	return fails ? 1 : 0;
}

static int ctl_unknown(void)
{
	static const uint16_t types[] = { 0, 99, CTL_HELLO | CTL_REPLY, 0xffff };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		char what[64];
		size_t len;
		uint8_t *m = build_msg(CTL_MAGIC, CTL_VERSION, types[i], 1, NULL, 0, -1, &len);

		snprintf(what, sizeof(what), "unknown message type %#x", types[i]);
		expect_closed(what, m, len, i == 1 ? 1 : 0);
		free(m);
	}
	return fails ? 1 : 0;
}

static int ctl_version(void)
{
	static const uint16_t versions[] = { CTL_VERSION + 1, 0, 0xffff };

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		size_t len;
		uint8_t *m = build_msg(CTL_MAGIC, versions[i], CTL_HELLO, 7, NULL, 0, -1, &len);
		int fd = raw_connect(), replies = 0;
		uint32_t st = 0;
		char why[256];
		bool eof;

		send_raw(fd, m, len, NULL, 0);
		eof = wait_eof(fd, REPLY_WAIT_MS, &replies, &st, why, sizeof(why));
		expect(replies == 1 && st == VMNET_FAILURE, "version %u: one reply with VMNET_FAILURE (%d replies, status %u)",
		       versions[i], replies, st);
		expect(strstr(why, "version") != NULL, "version %u: the error names the version (\"%s\")", versions[i], why);
		expect(eof, "version %u: then the connection is closed", versions[i]);
		close(fd);
		free(m);
	}
	return fails ? 1 : 0;
}

/* Wrong-typed keys are VMNET_INVALID_ARGUMENT and the connection stays usable. */
static int ctl_start_badtype(void)
{
	int fd = raw_connect(), fds[CTL_MAX_FDS], nfds = 0;
	uint32_t seq = 1, st;
	struct {
		const char *what;
		xpc_object_t d;
	} cases[6];
	int n = 0;

	cases[n].what = "vmnet_operation_mode as a string";
	cases[n].d = xpc_dictionary_create_empty();
	xpc_dictionary_set_string(cases[n++].d, "vmnet_operation_mode", "1000");
	cases[n].what = "vmnet_operation_mode as an int64";
	cases[n].d = xpc_dictionary_create_empty();
	xpc_dictionary_set_int64(cases[n++].d, "vmnet_operation_mode", 1000);
	cases[n].what = "vmnet_mtu as a string";
	cases[n].d = host_desc();
	xpc_dictionary_set_string(cases[n++].d, "vmnet_mtu", "1500");
	cases[n].what = "vmnet_interface_id as a string";
	cases[n].d = host_desc();
	xpc_dictionary_set_string(cases[n++].d, "vmnet_interface_id", "00000000-0000-0000-0000-000000000000");
	cases[n].what = "vmnet_enable_isolation as a uint64";
	cases[n].d = host_desc();
	xpc_dictionary_set_uint64(cases[n++].d, "vmnet_enable_isolation", 1);
	cases[n].what = "vmnet_start_address as a uint64";
	cases[n].d = host_desc();
	xpc_dictionary_set_uint64(cases[n++].d, "vmnet_start_address", 0xc0a80001);

	for (int i = 0; i < n; i++) {
		request(fd, CTL_START, seq, cases[i].d, NULL, 0);
		st = reply_status(fd, CTL_START, seq, NULL, fds, &nfds);
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
		expect(st == VMNET_INVALID_ARGUMENT && nfds == 0, "CTL_START with %s: VMNET_INVALID_ARGUMENT (status %u, %d fds)",
		       cases[i].what, st, nfds);
		xpc_release(cases[i].d);
		seq++;
	}
	{
		xpc_object_t d = host_desc();

		request(fd, CTL_START, seq, d, NULL, 0);
		xpc_release(d);
		st = reply_status(fd, CTL_START, seq, NULL, fds, &nfds);
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
		expect(st == VMNET_SUCCESS && nfds == 3, "a correct CTL_START on the same connection then succeeds (status %u, %d fds)",
		       st, nfds);
	}
	close(fd);
	return fails ? 1 : 0;
}

static int ctl_start_twice(void)
{
	int fd = raw_connect(), fds[CTL_MAX_FDS], nfds = 0;
	xpc_object_t d = host_desc();
	uint32_t st;

	request(fd, CTL_START, 1, d, NULL, 0);
	st = reply_status(fd, CTL_START, 1, NULL, fds, &nfds);
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
	expect(st == VMNET_SUCCESS, "first CTL_START succeeds (status %u)", st);
	request(fd, CTL_START, 2, d, NULL, 0);
	st = reply_status(fd, CTL_START, 2, NULL, fds, &nfds);
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
	expect(st == VMNET_INVALID_ARGUMENT && nfds == 0, "second CTL_START on the connection: VMNET_INVALID_ARGUMENT (status %u)",
	       st);
	request(fd, CTL_STOP, 3, NULL, NULL, 0);
	st = reply_status(fd, CTL_STOP, 3, NULL, NULL, NULL);
	expect(st == VMNET_SUCCESS, "CTL_STOP of the first interface succeeds (status %u)", st);
	request(fd, CTL_STOP, 4, NULL, NULL, 0);
	st = reply_status(fd, CTL_STOP, 4, NULL, NULL, NULL);
	expect(st == VMNET_INVALID_ARGUMENT, "a second CTL_STOP: VMNET_INVALID_ARGUMENT (status %u)", st);
	request(fd, CTL_START, 5, d, NULL, 0);
	st = reply_status(fd, CTL_START, 5, NULL, fds, &nfds);
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
	expect(st == VMNET_SUCCESS, "after CTL_STOP a new CTL_START on the connection succeeds (status %u)", st);
	xpc_release(d);
	close(fd);
	return fails ? 1 : 0;
}

static int ctl_stop_noif(void)
{
	int fd = raw_connect();
	uint32_t st;

	request(fd, CTL_STOP, 1, NULL, NULL, 0);
	st = reply_status(fd, CTL_STOP, 1, NULL, NULL, NULL);
	expect(st == VMNET_INVALID_ARGUMENT, "CTL_STOP without an interface: VMNET_INVALID_ARGUMENT (status %u)", st);
	expect(still_usable(fd, 2), "the connection is still served afterwards");
	close(fd);
	return fails ? 1 : 0;
}

static xpc_object_t attach_req(const char *name)
{
	xpc_object_t d = xpc_dictionary_create_empty();

	xpc_dictionary_set_string(d, "network", "default");
	xpc_dictionary_set_string(d, "name", name);
	xpc_dictionary_set_bool(d, "persist", false);
	return d;
}

/* CTL_ATTACH_TAP with npipes pipe fds (+ a tap at position tap_pos when with_tap): expect
 * INVALID_ARGUMENT, every descriptor closed by the daemon, the connection still usable. */
static void attach_case(const char *what, int npipes, bool with_tap, int tap_pos, const char *name)
{
	int fd = raw_connect(), fds[8], n = 0, tapfd = -1;
	struct probe p[8];
	char tap[IFNAMSIZ] = "";
	xpc_object_t d = attach_req(name ? name : "rbattach");
	uint32_t st;

	for (int i = 0; i < npipes; i++)
		probe_new(&p[i]);
	for (int i = 0, k = 0; i < npipes + (with_tap ? 1 : 0); i++) {
		if (with_tap && i == tap_pos) {
			tapfd = tap_new(tap);
			fds[n++] = tapfd;
		} else {
			fds[n++] = p[k++].wr;
		}
	}
	request_fds(fd, CTL_ATTACH_TAP, 1, d, fds, n);
	xpc_release(d);
	st = reply_status(fd, CTL_ATTACH_TAP, 1, NULL, NULL, NULL);
	expect(st == VMNET_INVALID_ARGUMENT, "CTL_ATTACH_TAP %s: VMNET_INVALID_ARGUMENT (status %u)", what, st);
	if (npipes)
		expect(probes_leaked(p, npipes, 2000) == 0, "CTL_ATTACH_TAP %s: the daemon closed the pipe descriptors", what);
	if (with_tap) {
		close(tapfd);
		expect(tap_gone(tap, 2000), "CTL_ATTACH_TAP %s: the daemon closed the tap descriptor (device %s gone)", what, tap);
	}
	expect(still_usable(fd, 2), "CTL_ATTACH_TAP %s: the connection is still served", what);
	close(fd);
}

static int ctl_attach(void)
{
	attach_case("without a descriptor", 0, false, 0, NULL);
	attach_case("with a pipe", 1, false, 0, NULL);
	attach_case("with a tap and 3 pipes (4 fds)", 3, true, 0, NULL);
	attach_case("with a pipe first and a tap second", 1, true, 1, NULL);
	attach_case("with 8 descriptors (tap + 7 pipes)", 7, true, 0, NULL);
	attach_case("with a tap but an empty name", 0, true, 0, "");
	attach_case("with a tap but a 60-byte name", 0, true, 0, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz01234567");
	{
		char what[64], nm[] = "rbattach";
		xpc_object_t d = attach_req(nm);

		xpc_dictionary_set_string(d, "network", "not-a-uuid");
		snprintf(what, sizeof(what), "to network \"not-a-uuid\"");
		{
			int fd = raw_connect(), tapfd;
			char tap[IFNAMSIZ];
			uint32_t st;

			tapfd = tap_new(tap);
			request(fd, CTL_ATTACH_TAP, 1, d, &tapfd, 1);
			st = reply_status(fd, CTL_ATTACH_TAP, 1, NULL, NULL, NULL);
			expect(st == VMNET_INVALID_ARGUMENT, "CTL_ATTACH_TAP %s: VMNET_INVALID_ARGUMENT (status %u)", what, st);
			close(tapfd);
			expect(tap_gone(tap, 2000), "CTL_ATTACH_TAP %s: the tap descriptor was closed", what);
			close(fd);
		}
		xpc_release(d);
	}
	return fails ? 1 : 0;
}

/* More descriptors than the daemon's control buffer holds: closed connection, no fd kept. */
static int ctl_manyfds(void)
{
	struct probe p[32];
	int fds[32], fd = raw_connect(), replies;
	size_t len;
	uint8_t *m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_HELLO, 1, NULL, 0, -1, &len);
	bool eof;

	for (int i = 0; i < 32; i++) {
		probe_new(&p[i]);
		fds[i] = p[i].wr;
	}
	{
		/* send_raw handles up to 64 */
		int r = send_raw(fd, m, len, fds, 32);

		if (r < 0)
			printf("send: %s\n", strerror(-r));
	}
	eof = wait_eof(fd, REPLY_WAIT_MS, &replies, NULL, NULL, 0);
	if (eof)
		expect(true, "HELLO with 32 descriptors: connection closed (%d replies)", replies);
	else
		expect(replies == 1 && still_usable(fd, 2), "HELLO with 32 descriptors: answered or closed, never stuck");
	expect(probes_leaked(p, 32, 2000) == 0, "HELLO with 32 descriptors: the daemon kept none of them");
	close(fd);
	free(m);
	/* A valid HELLO carrying 2 descriptors: answered, descriptors closed. */
	{
		struct probe q[2];
		int f2 = raw_connect(), ff[2];
		uint32_t st;

		probe_new(&q[0]);
		probe_new(&q[1]);
		ff[0] = q[0].wr;
		ff[1] = q[1].wr;
		request(f2, CTL_HELLO, 1, NULL, ff, 2);
		st = reply_status(f2, CTL_HELLO, 1, NULL, NULL, NULL);
		expect(st == VMNET_SUCCESS, "HELLO with 2 stray descriptors is answered (status %u)", st);
		expect(probes_leaked(q, 2, 2000) == 0, "HELLO with 2 stray descriptors: both closed by the daemon");
		close(f2);
	}
	return fails ? 1 : 0;
}

static int ctl_big(void)
{
	/* A HELLO whose packet is exactly CTL_MAX_MSG bytes: legal, must be answered. */
	xpc_object_t d = xpc_dictionary_create_empty();
	size_t plen, len;
	char *pad;
	uint8_t *m, *pl;
	int fd = raw_connect(), replies;
	uint32_t st;
	bool eof;

	/* VXP1 + tag + count + keylen + "pad" + tag + strlen = 4+1+4+4+3+1+4 = 21 bytes around the string */
	pad = malloc(CTL_MAX_MSG);
	memset(pad, 'x', CTL_MAX_MSG);
	pad[CTL_MAX_MSG - sizeof(struct ctl_hdr) - 21] = 0;
	xpc_dictionary_set_string(d, "pad", pad);
	pl = encode(d, &plen);
	m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_HELLO, 1, pl, plen, -1, &len);
	printf("sending a %zu-byte message\n", len);
	send_raw(fd, m, len, NULL, 0);
	st = reply_status(fd, CTL_HELLO, 1, NULL, NULL, NULL);
	expect(len == CTL_MAX_MSG && st == VMNET_SUCCESS, "a %zu-byte (64 KiB) HELLO is answered (status %u)", len, st);
	close(fd);
	free(m);
	free(pl);
	/* One byte more: the daemon's receive truncates it -> malformed -> closed. */
	pad[CTL_MAX_MSG - sizeof(struct ctl_hdr) - 21] = 'x';
	pad[CTL_MAX_MSG - sizeof(struct ctl_hdr) - 20] = 0;
	xpc_dictionary_set_string(d, "pad", pad);
	pl = encode(d, &plen);
	m = build_msg(CTL_MAGIC, CTL_VERSION, CTL_HELLO, 1, pl, plen, -1, &len);
	fd = raw_connect();
	send_raw(fd, m, len, NULL, 0);
	eof = wait_eof(fd, REPLY_WAIT_MS, &replies, NULL, NULL, 0);
	expect(eof && replies == 0, "a %zu-byte message (64 KiB + 1) closes the connection without a reply (%d replies)", len,
	       replies);
	close(fd);
	free(m);
	free(pl);
	/* 200 KiB of garbage in one packet. */
	{
		size_t blen = 200 * 1024;
		uint8_t *b = malloc(blen);

		memset(b, 0x5a, blen);
		fd = raw_connect();
		if (send_raw(fd, b, blen, NULL, 0) < 0)
			printf("200 KiB send: %s (the socket buffer is smaller)\n", strerror(errno));
		eof = wait_eof(fd, REPLY_WAIT_MS, &replies, NULL, NULL, 0);
		expect(eof, "a 200 KiB garbage packet closes the connection");
		close(fd);
		free(b);
	}
	free(pad);
	xpc_release(d);
	return fails ? 1 : 0;
}

/* Find "connections" and the number of ports in a STATUS reply. */
static bool status_counts(uint64_t *conns, uint64_t *ports)
{
	int fd = raw_connect();
	xpc_object_t rep;
	uint32_t st;

	request(fd, CTL_STATUS, 1, NULL, NULL, 0);
	st = reply_status(fd, CTL_STATUS, 1, &rep, NULL, NULL);
	close(fd);
	if (st != VMNET_SUCCESS) {
		if (rep)
			xpc_release(rep);
		return false;
	}
	*conns = xpc_dictionary_get_uint64(rep, "connections");
	*ports = 0;
	{
		xpc_object_t nets = xpc_dictionary_get_array(rep, "networks");

		for (size_t i = 0; nets && i < xpc_array_get_count(nets); i++) {
			xpc_object_t n = xpc_array_get_dictionary(nets, i);
			xpc_object_t ps = n ? xpc_dictionary_get_array(n, "ports") : NULL;

			*ports += ps ? xpc_array_get_count(ps) : 0;
		}
	}
	xpc_release(rep);
	return true;
}

static int ctl_storm(void)
{
	int held[64];
	uint64_t c0, p0, c = 0, p = 0, end;
	xpc_object_t d = host_desc();

	if (!status_counts(&c0, &p0)) {
		expect(false, "STATUS before the storm");
		return 1;
	}
	for (int i = 0; i < 200; i++) {
		int fd = raw_connect();

		switch (i % 5) {
		case 0: /* connect and go */
			break;
		case 1: /* a request, gone before the reply */
			request(fd, CTL_HELLO, 1, NULL, NULL, 0);
			break;
		case 2: /* half a header */
			send_raw(fd, "VMNC\x01", 5, NULL, 0);
			break;
		case 3: /* an interface, gone before the reply */
			request(fd, CTL_START, 1, d, NULL, 0);
			break;
		case 4: /* an interface, reply read, then shutdown(2) and go */
			request(fd, CTL_START, 1, d, NULL, 0);
			reply_status(fd, CTL_START, 1, NULL, NULL, NULL);
			shutdown(fd, SHUT_RDWR);
			break;
		}
		close(fd);
	}
	for (int i = 0; i < 64; i++)
		held[i] = raw_connect();
	for (int i = 0; i < 64; i++)
		close(held[i]);
	end = now_ms() + 5000;
	while (now_ms() < end) {
		if (status_counts(&c, &p) && c <= c0 && p <= p0)
			break;
		sleep_ms(50);
	}
	expect(c <= c0 && p <= p0,
	       "after 264 short-lived connections the daemon is back to %llu connections and %llu ports (now %llu, %llu)",
	       (unsigned long long)c0, (unsigned long long)p0, (unsigned long long)c, (unsigned long long)p);
	xpc_release(d);
	return fails ? 1 : 0;
}

/* A client that never reads its replies, plus idle connections; held for secs seconds. */
static int ctl_slow_reader(int secs)
{
	struct timeval tv = { 2, 0 };
	int fd = raw_connect(), idle[100], sent = 0;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 3000; i++) {
		if (ctl_send(fd, CTL_STATUS, (uint32_t)i + 1, 0, NULL, NULL, 0) < 0)
			break;
		sent++;
	}
	for (int i = 0; i < 100; i++)
		idle[i] = raw_connect();
	printf("sent %d STATUS requests without reading; 100 idle connections\n", sent);
	hold(fd, secs);
	for (int i = 0; i < 100; i++)
		close(idle[i]);
	close(fd);
	return 0;
}

/* CTL_DETACH of things that are not ours to detach. */
static int ctl_detach(void)
{
	struct raw_if r;
	int fd;
	char name[64];
	const char *names[3];
	uint32_t st;

	raw_start(&r);
	snprintf(name, sizeof(name), "pid%d", (int)getpid());
	names[0] = name; /* our own ring port: not an attachment */
	names[1] = "no-such-attachment";
	names[2] = "";
	fd = raw_connect();
	for (int i = 0; i < 3; i++) {
		xpc_object_t d = xpc_dictionary_create_empty();

		xpc_dictionary_set_string(d, "name", names[i]);
		request(fd, CTL_DETACH, (uint32_t)i + 1, d, NULL, 0);
		st = reply_status(fd, CTL_DETACH, (uint32_t)i + 1, NULL, NULL, NULL);
		expect(st == VMNET_INVALID_ARGUMENT, "CTL_DETACH \"%s\": VMNET_INVALID_ARGUMENT (status %u)", names[i], st);
		xpc_release(d);
	}
	request(fd, CTL_DETACH, 9, NULL, NULL, 0);
	st = reply_status(fd, CTL_DETACH, 9, NULL, NULL, NULL);
	expect(st == VMNET_INVALID_ARGUMENT, "CTL_DETACH without a name: VMNET_INVALID_ARGUMENT (status %u)", st);
	expect(still_usable(r.sock, 2), "the ring interface survived the detach attempts");
	close(fd);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int arg = argc > 2 ? atoi(argv[2]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	rng_state = ((uint64_t)getpid() << 32) ^ now_ms() ^ 0x9e3779b97f4a7c15ull;
	if (!strcmp(cmd, "ring-garbage"))
		return ring_garbage(arg > 0 ? arg : 10);
	if (!strcmp(cmd, "ring-prod"))
		return ring_prod();
	if (!strcmp(cmd, "ring-rxcons"))
		return ring_rxcons(arg > 0 ? arg : 4);
	if (!strcmp(cmd, "ring-scribble"))
		return ring_scribble(arg > 0 ? arg : 2);
	if (!strcmp(cmd, "ring-seal"))
		return ring_seal();
	if (!strcmp(cmd, "ring-evblock-rx"))
		return ring_evblock_rx(arg > 0 ? arg : 5);
	if (!strcmp(cmd, "ring-evblock-tx"))
		return ring_evblock_tx(arg > 0 ? arg : 5);
	if (!strcmp(cmd, "garbage"))
		return ctl_garbage();
	if (!strcmp(cmd, "short"))
		return ctl_short();
	if (!strcmp(cmd, "magic"))
		return ctl_magic();
	if (!strcmp(cmd, "len-long"))
		return ctl_lenlong();
	if (!strcmp(cmd, "len-short"))
		return ctl_lenshort();
	if (!strcmp(cmd, "len-huge"))
		return ctl_lenhuge();
	if (!strcmp(cmd, "undecodable"))
		return ctl_undecodable();
	if (!strcmp(cmd, "nondict"))
		return ctl_nondict();
	if (!strcmp(cmd, "unknown-type"))
		return ctl_unknown();
	if (!strcmp(cmd, "version"))
		return ctl_version();
	if (!strcmp(cmd, "start-badtype"))
		return ctl_start_badtype();
	if (!strcmp(cmd, "start-twice"))
		return ctl_start_twice();
	if (!strcmp(cmd, "stop-noif"))
		return ctl_stop_noif();
	if (!strcmp(cmd, "attach"))
		return ctl_attach();
	if (!strcmp(cmd, "many-fds"))
		return ctl_manyfds();
	if (!strcmp(cmd, "big"))
		return ctl_big();
	if (!strcmp(cmd, "storm"))
		return ctl_storm();
	if (!strcmp(cmd, "slow-reader"))
		return ctl_slow_reader(arg > 0 ? arg : 5);
	if (!strcmp(cmd, "detach"))
		return ctl_detach();
	fprintf(stderr, "rb_raw: unknown scenario \"%s\" (see the comment at the top of rb_raw.c)\n", cmd);
	return 2;
}
