/*
 * test_stream.c — unit tests of the VMM socket ports: QEMU stream framing
 * (engine/port_stream.c) fed in every possible split, a stream port and a
 * datagram port (engine/port_dgram.c) on real sockets in a network with a
 * recording port, back-pressure, and bad lengths.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/port_dgram.h"
#include "engine/port_stream.h"
#include "engine/switch.h"

/* ---- the parser ---- */

struct got {
	int n;
	uint32_t len[16];
	uint8_t first[16];
};

static void on_frame(void *ctx, const uint8_t *f, uint32_t len)
{
	struct got *g = ctx;

	if (g->n < 16) {
		g->len[g->n] = len;
		g->first[g->n] = f[0];
	}
	g->n++;
}

static size_t put_frame(uint8_t *w, uint32_t len, uint8_t fill)
{
	w[0] = (uint8_t)(len >> 24), w[1] = (uint8_t)(len >> 16), w[2] = (uint8_t)(len >> 8), w[3] = (uint8_t)len;
	memset(w + 4, fill, len);
	return 4 + len;
}

static void test_parse_splits(void)
{
	static uint8_t wire[4096], buf[STREAM_RX_CAP];
	size_t n = 0;

	n += put_frame(wire + n, 60, 0xa1);
	n += put_frame(wire + n, 1514, 0xa2);
	n += put_frame(wire + n, 14, 0xa3);
	n += put_frame(wire + n, 1, 0xa4); /* the parser hands runts over: the port judges sizes */
	/* Every chunk size from 1 byte to all at once gives the same frames. */
	for (size_t chunk = 1; chunk <= n; chunk++) {
		struct stream_rx rx = { .buf = buf, .cap = sizeof(buf) };
		struct got g = { 0 };
		int total = 0, r = 0;

		for (size_t off = 0; off < n && r >= 0; off += chunk) {
			size_t k = off + chunk <= n ? chunk : n - off;

			memcpy(rx.buf + rx.fill, wire + off, k);
			rx.fill += (uint32_t)k;
			r = stream_rx_parse(&rx, on_frame, &g);
			total += r > 0 ? r : 0;
		}
		if (chunk == 1 || chunk == 7 || chunk == n) {
			CHECK(r >= 0 && total == 4 && g.n == 4 && rx.fill == 0);
			CHECK(g.len[0] == 60 && g.len[1] == 1514 && g.len[2] == 14 && g.len[3] == 1);
			CHECK(g.first[0] == 0xa1 && g.first[1] == 0xa2 && g.first[2] == 0xa3 && g.first[3] == 0xa4);
		} else if (g.n != 4 || rx.fill) {
			CHECK(!"a split changed the frames");
			break;
		}
	}
}

static void test_parse_bad(void)
{
	static uint8_t buf[STREAM_RX_CAP];
	struct stream_rx rx = { .buf = buf, .cap = sizeof(buf) };
	struct got g = { 0 };
	size_t n = put_frame(buf, 20, 1);

	/* A good frame, then a zero length: the good one is delivered, then -EPROTO. */
	memset(buf + n, 0, 4);
	rx.fill = (uint32_t)n + 4;
	CHECK(stream_rx_parse(&rx, on_frame, &g) == -EPROTO && g.n == 1 && rx.bad_len == 0);
	/* Too long by one. */
	rx.fill = (uint32_t)put_frame(buf, 0, 0);
	buf[0] = 0, buf[1] = 1, buf[2] = 0, buf[3] = 0x0f; /* 65551 */
	CHECK(stream_rx_parse(&rx, on_frame, &g) == -EPROTO && rx.bad_len == STREAM_MAX_FRAME + 1);
	CHECK(STREAM_MAX_FRAME + 1 == 65551);
	/* The largest frame is taken; an incomplete header waits. */
	g.n = 0;
	rx.fill = (uint32_t)put_frame(buf, STREAM_MAX_FRAME, 7);
	CHECK(stream_rx_parse(&rx, on_frame, &g) == 1 && g.n == 1 && g.len[0] == STREAM_MAX_FRAME && rx.fill == 0);
	buf[0] = 0, buf[1] = 0, rx.fill = 2;
	CHECK(stream_rx_parse(&rx, on_frame, &g) == 0 && rx.fill == 2);
	memset(buf, 0xff, 4), rx.fill = 4;
	CHECK(stream_rx_parse(&rx, on_frame, &g) == -EPROTO && rx.bad_len == 0xffffffffu);
}

/* ---- ports on real sockets ---- */

struct rec_port {
	struct port base;
	int got;
	uint32_t last_len;
	uint8_t last[64];
};

static int rec_output(struct port *p, const struct frame *f)
{
	struct rec_port *r = (struct rec_port *)p;

	r->got++;
	r->last_len = f->len;
	memcpy(r->last, f->data, f->len < 64 ? f->len : 64);
	return 0;
}

static void rec_destroy(struct port *p)
{
	free(p);
}

static const struct port_ops rec_ops = { "rec", rec_output, NULL, rec_destroy };

static struct rec_port *add_rec(struct network *n)
{
	struct rec_port *r = calloc(1, sizeof(*r));

	r->base.ops = &rec_ops;
	r->base.max_frame = 1514;
	CHECK(network_add_port(n, &r->base) == 0);
	return r;
}

/* Dispatch what the loop has (the daemon's main does this). */
static void pump(int timeout_ms)
{
	struct epoll_event ev[16];
	int n = loop_wait(ev, 16, timeout_ms);

	for (int i = 0; i < n; i++) {
		struct loop_src *s = ev[i].data.ptr;

		if (!s->dead && s->type == EV_CALLBACK)
			s->cb(s, ev[i].events);
	}
}

/* A frame from the recording port (its MAC 02:..:0r) to everyone. */
static void inject(struct network *n, struct rec_port *r, uint32_t len, uint8_t tag)
{
	uint8_t f[1514];
	struct frame fr = { .data = f, .len = len };

	memset(f, tag, sizeof(f));
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x02\0\0\0\0\x0e", 6);
	switch_input(n, &r->base, &fr);
	switch_flush(n);
}

static void test_stream_port(void)
{
	uint8_t wire[8192];
	struct network *n;
	struct rec_port *r;
	struct port *p, *b;
	int sp[2], sndbuf = 4096;
	size_t w = 0;
	ssize_t k;

	CHECK(network_new(1000, &n) == 0);
	r = add_rec(n);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
	CHECK(port_stream_new(sp[0], "s1", 1514, &p) == 0);
	CHECK(network_add_port(n, p) == 0 && port_stream_start(p) == 0);

	/* Two frames in, written in odd pieces. */
	for (int i = 0; i < 2; i++) {
		w += put_frame(wire + w, 100, (uint8_t)(0x10 + i));
		memcpy(wire + w - 100, "\xff\xff\xff\xff\xff\xff\x52\x54\x00\x00\x00\x01", 12);
	}
	CHECK(write(sp[1], wire, 3) == 3);
	pump(50);
	CHECK(r->got == 0);
	CHECK(write(sp[1], wire + 3, w - 3) == (ssize_t)(w - 3));
	pump(50);
	CHECK(r->got == 2 && r->last_len == 100 && r->last[12] == 0x11 && p->st.rx_frames == 2);

	/* Out: length-prefixed on the wire. */
	inject(n, r, 60, 0x5a);
	k = read(sp[1], wire, sizeof(wire));
	CHECK(k == 64 && wire[0] == 0 && wire[3] == 60 && wire[4 + 14] == 0x5a);

	/* The peer does not read: the queue fills, frames are dropped and counted, nothing blocks. */
	setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	for (int i = 0; i < 2000; i++)
		inject(n, r, 1514, (uint8_t)i);
	CHECK(p->st.tx_drops > 0 && p->st.tx_frames > 100);
	/* Now it reads: what arrives is whole frames, in order, and the queue drains through EPOLLOUT. */
	{
		static uint8_t in[STREAM_RX_CAP];
		struct stream_rx rx = { .buf = in, .cap = sizeof(in) };
		struct got g = { 0 };
		uint64_t want = p->st.tx_frames - 1; /* the 60-byte frame was read above */

		for (int rounds = 0; rounds < 2000 && (uint64_t)g.n < want; rounds++) {
			k = read(sp[1], in + rx.fill, rx.cap - rx.fill);
			if (k > 0) {
				rx.fill += (uint32_t)k;
				CHECK(stream_rx_parse(&rx, on_frame, &g) >= 0);
			}
			pump(k > 0 ? 0 : 10);
		}
		CHECK((uint64_t)g.n == want && rx.fill == 0);
	}

	/* A zero length: the port reports itself broken; the daemon would remove it. */
	memset(wire, 0, 4);
	CHECK(write(sp[1], wire, 4) == 4);
	pump(50);
	CHECK(p->broken);
	b = port_take_broken();
	CHECK(b == p && !b->broken_next);
	network_remove_port(p);
	close(sp[1]);
	loop_free_deferred();
	network_remove_port(&r->base);
}

/* Frame i of the zero-copy tests: 60 to ~1500 bytes (every 64th 1400, so that each batch
 * below starts with a frame sent by reference), every byte derived from i. */
static uint32_t zc_len(uint32_t i)
{
	return i % 64 == 0 ? 1400 : 60 + (i * 397) % 1440;
}

static void zc_fill(uint8_t *f, uint32_t i)
{
	uint32_t len = zc_len(i);

	for (uint32_t k = 0; k < len; k++)
		f[k] = (uint8_t)(i * 31 + k);
	memset(f, 0xff, 6);                                 /* broadcast */
	memcpy(f + 6, "\x52\x54\x00\x00\x00\x0a", 6);       /* from the writing VM */
	memcpy(f + 14, &i, sizeof(i));
}

struct zc_check {
	uint32_t next, bad;
};

static void zc_on_frame(void *ctx, const uint8_t *f, uint32_t len)
{
	struct zc_check *z = ctx;
	uint8_t want[1514];

	zc_fill(want, z->next);
	if (len != zc_len(z->next) || memcmp(f, want, len))
		z->bad++;
	z->next++;
}

/* Read what the peer end has, parse it and check each frame against zc_fill(i) in order. */
static void zc_drain(int fd, struct stream_rx *rx, struct zc_check *z)
{
	ssize_t k;

	while ((k = read(fd, rx->buf + rx->fill, rx->cap - rx->fill)) > 0) {
		rx->fill += (uint32_t)k;
		CHECK(stream_rx_parse(rx, zc_on_frame, z) >= 0);
	}
}

/*
 * Frames that stay valid until the flush (frame.keep) leave a stream port
 * without a copy; mixed with frames that must be copied, and with a peer
 * socket too small to take a batch at once (partial sends: the rest is
 * copied into the queue and goes out on EPOLLOUT), every byte arrives, in
 * order. Then VM to VM: one stream port's frames through the switch to
 * another, in place from the first one's receive buffer.
 */
static void test_stream_zero_copy(void)
{
	static uint8_t in[STREAM_RX_CAP], batch[64][1514], wire[2 * 1024 * 1024];
	struct stream_rx rx = { .buf = in, .cap = sizeof(in) };
	struct zc_check z = { 0 };
	struct network *n;
	struct port *b, *a;
	int sb[2], sa[2], small = 8192, big = 4 * 1024 * 1024;
	uint32_t sent = 0;

	CHECK(network_new(1500, &n) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sb) == 0);
	setsockopt(sb[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	CHECK(port_stream_new(sb[0], "zb", 1514, &b) == 0);
	setsockopt(sb[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)); /* after port_stream_new's own */
	CHECK(network_add_port(n, b) == 0 && port_stream_start(b) == 0);

	/* Direct: batches of 64, every third frame without keep (copied in between the references),
	 * the peer reading between batches. */
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 64; i++) {
			struct frame f = { .data = batch[i], .len = zc_len(sent), .keep = i % 3 != 1 };

			zc_fill(batch[i], sent);
			CHECK(b->ops->output(b, &f) == 0);
			sent++;
		}
		b->ops->flush(b);
		/* batch[] is rewritten next round: everything kept by reference must be out or copied by now. */
		memset(batch, 0xee, sizeof(batch));
		for (int t = 0; t < 200 && z.next < sent; t++) {
			zc_drain(sb[1], &rx, &z);
			pump(z.next < sent ? 1 : 0);
		}
	}
	CHECK(z.next == sent && z.bad == 0 && b->st.tx_drops == 0);

	/* VM to VM: a stream port's frames reach the other one from its receive buffer. Rounds
	 * of more than that buffer holds, so that one wakeup reads it several times. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sa) == 0);
	setsockopt(sa[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sb[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)); /* the switch never waits: room to forward it all */
	CHECK(port_stream_new(sa[0], "za", 1514, &a) == 0);
	CHECK(network_add_port(n, a) == 0 && port_stream_start(a) == 0);
	z.next = sent = 0;
	for (int round = 0; round < 6; round++) {
		size_t w = 0;

		while (w + 4 + 1514 <= sizeof(wire) && w < STREAM_RX_CAP * 3) {
			uint8_t *p = wire + w;

			put_frame(p, zc_len(sent), 0);
			zc_fill(p + 4, sent);
			w += 4 + zc_len(sent);
			sent++;
		}
		for (size_t off = 0; off < w;) {
			ssize_t k = write(sa[1], wire + off, w - off);

			if (k > 0)
				off += (size_t)k;
			pump(0);
			zc_drain(sb[1], &rx, &z);
		}
		for (int t = 0; t < 200 && z.next < sent; t++) {
			pump(z.next < sent ? 1 : 0);
			zc_drain(sb[1], &rx, &z);
		}
	}
	CHECK(z.next == sent && z.bad == 0);
	CHECK(a->st.rx_frames == sent && b->st.tx_drops == 0);
	network_remove_port(a);
	network_remove_port(b);
	close(sa[1]);
	close(sb[1]);
	loop_free_deferred();
}

static void test_dgram_port(void)
{
	char dir[] = "/tmp/vmnet-test-dgram.XXXXXX", path[128], peer[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t f[200];
	struct sockfile sf;
	struct network *n;
	struct rec_port *r;
	struct port *p;
	int fd, c, u;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/d.sock", dir);
	snprintf(peer, sizeof(peer), "%s/vm.sock", dir);
	CHECK(network_new(1000, &n) == 0);
	r = add_rec(n);
	CHECK(sockfile_open_dir(path, &sf) == 0 && sockfile_in_use(&sf) == 0);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	CHECK(sockfile_bind(&sf, fd) == 0 && access(path, F_OK) == 0);
	CHECK(sockfile_in_use(&sf) == 1);
	CHECK(port_dgram_new(fd, &sf, "d1", 1514, &p) == 0);
	CHECK(network_add_port(n, p) == 0 && port_dgram_start(p) == 0);

	/* Before any peer spoke, output drops. */
	inject(n, r, 60, 1);
	CHECK(p->st.tx_drops == 1);
	/* vfkit style: bind, connect, "VFKT", then frames. */
	c = socket(AF_UNIX, SOCK_DGRAM, 0);
	strcpy(sa.sun_path, peer);
	CHECK(bind(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	strcpy(sa.sun_path, path);
	CHECK(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(send(c, "VFKT", 4, 0) == 4);
	memset(f, 0x33, sizeof(f));
	memcpy(f, "\xff\xff\xff\xff\xff\xff\x52\x54\x00\x00\x00\x02", 12);
	CHECK(send(c, f, 100, 0) == 100);
	CHECK(send(c, f, 10, 0) == 10); /* a runt */
	pump(50);
	CHECK(r->got == 1 && r->last_len == 100 && p->st.rx_errors == 1);
	/* Replies go to the peer we learned. */
	inject(n, r, 60, 0x77);
	CHECK(recv(c, f, sizeof(f), MSG_DONTWAIT) == 60 && f[20] == 0x77);
	/* A sender without an address is not heard. */
	u = socket(AF_UNIX, SOCK_DGRAM, 0);
	memcpy(f, "\xff\xff\xff\xff\xff\xff\x52\x54\x00\x00\x00\x03", 12);
	CHECK(sendto(u, f, 80, 0, (struct sockaddr *)&sa, sizeof(sa)) == 80);
	pump(50);
	CHECK(r->got == 1 && p->st.rx_errors == 2);
	/* The peer goes away: the next send forgets it. */
	close(c);
	unlink(peer);
	inject(n, r, 60, 0x78);
	CHECK(p->st.tx_drops >= 1);
	network_remove_port(p);
	loop_free_deferred();
	CHECK(access(path, F_OK) < 0); /* the socket file went with the port */
	close(u);
	network_remove_port(&r->base);
	rmdir(dir);
}

static void test_sockfile(void)
{
	char dir[] = "/tmp/vmnet-test-sockfile.XXXXXX", path[300];
	struct sockfile sf;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(sockfile_open_dir("relative/x.sock", &sf) == -EINVAL);
	CHECK(sockfile_open_dir("/tmp/", &sf) == -EINVAL);
	memset(path, 'a', 120), path[0] = '/', path[120] = 0;
	CHECK(sockfile_open_dir(path, &sf) == -ENAMETOOLONG);
	/* A regular file there is never taken for a socket. */
	snprintf(path, sizeof(path), "%s/f", dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	CHECK(sockfile_open_dir(path, &sf) == 0 && sockfile_in_use(&sf) == -EEXIST);
	sockfile_remove(&sf);
	CHECK(access(path, F_OK) == 0);
	unlink(path);
	/* A file replaced after bind is not ours to remove. */
	snprintf(path, sizeof(path), "%s/s", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(sockfile_open_dir(path, &sf) == 0 && sockfile_bind(&sf, fd) == 0);
	unlink(path);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	sockfile_remove(&sf);
	CHECK(access(path, F_OK) == 0);
	unlink(path);
	close(fd);
	rmdir(dir);
}

int main(void)
{
	log_level = LOG_LVL_ERR;
	CHECK(loop_init() == 0);
	test_parse_splits();
	test_parse_bad();
	test_stream_port();
	test_stream_zero_copy();
	test_dgram_port();
	test_sockfile();
	return check_done();
}
