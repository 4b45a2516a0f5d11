/*
 * fuzz_vhost.c — libFuzzer target: a hostile vhost-user front-end and guest
 * against the vhost-user-net backend (engine/port_vhost.c).
 *
 * Theory of operation. The backend is driven as vmnetd drives it, through
 * its public entry points only: a listening attachment in a network, the
 * engine's event loop, and the daemon's dispatch (callbacks, then broken
 * ports torn down, then deferred frees: daemon/main.c run()). Besides the
 * attachment the network holds a "sink" port that takes every frame the
 * guest transmits. Each input is one front-end: it connects over a UNIX
 * socket, plays its script and hangs up.
 *
 * Guest memory is real shared memory that the harness maps too and hands
 * over with SCM_RIGHTS: a 128 KiB sealed memfd holding the rings and buffers
 * ("mem"), a sparse sealed memfd just over 4 GiB so that descriptor lengths
 * near 2^32 fit in a region ("huge"), and the kinds vmnetd must refuse: an
 * unsealed memfd, one shorter than the table claims, one sealed against
 * writes. Queue kick/call eventfds are made per input; a pipe stands in for
 * a descriptor of the wrong kind. Both memfds are zeroed (holes punched)
 * before every input, so an input replays the same way.
 *
 * The input. Byte 0 picks the opening: unless bit 6 is set, the handshake
 * QEMU does (features from bits 0-2: MRG_RXBUF, VERSION_1, PROTOCOL_FEATURES;
 * queue size 2^(bits 3-5); a table of "mem", plus "huge" when bit
 * 7 is set; both queues' rings in the standard layout below, call and kick
 * eventfds, enabled). Then operations follow until the input ends, each an
 * opcode byte (low 7 bits modulo OP_COUNT: enum op; bit 7: do not dispatch
 * afterwards, so that several messages and kicks reach vmnetd in one event
 * batch, in the order sent) and its
 * operands, read through one bounds-checked cursor (short reads give zeros).
 * Raw messages, raw bytes and raw memory writes reach every corner; the
 * structured operations (a memory table with chosen descriptors, ring
 * messages, descriptors, available entries, receive buffers, whole transmit
 * frames) get the fuzzer into the ring code quickly.
 *
 * Checked, besides what ASan and UBSan see:
 *  - every frame the guest transmits reaches the switch with
 *    14 <= length <= the port's max_frame, and is read whole;
 *  - replies are well-formed (version and reply flag, 8-byte payload);
 *  - while the standard layout is known to be intact, the used entries a batch
 *    of received frames produced tell what was written: each head filled up to
 *    what its chain holds, in order, exactly header + frame per frame taken
 *    (one head each without MRG_RXBUF);
 *  - the event loop goes quiet (no descriptor readable forever);
 *  - the listener, which is descriptor 0, keeps accepting: a backend that
 *    takes a source it never added out of the loop (a zeroed one has fd 0)
 *    deafens it, and the next input finds no port;
 *  - when the front-end hangs up, its port is gone and every descriptor vmnetd
 *    received from it is closed (the open descriptors are compared).
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/port_vhost.h"
#include "engine/port_vhost_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Guest memory: "mem" holds both queues' rings, then the buffers. */
#define MEM_SIZE 0x20000ull
#define MEM_GPA 0x100000ull
#define MEM_UVA 0x7f0000000000ull
#define HUGE_SIZE ((1ull << 32) + 0x20000ull)
#define HUGE_GPA 0x100000000ull
#define HUGE_UVA 0x7f1000000000ull
#define SMALL_SIZE 0x1000ull

/* The standard layout: queue q at q * Q_STRIDE; at most QMAX entries (more than a
 * transmit chain may take, VHOST_TX_SEGS in port_vhost.c). */
#define QMAX 128
#define Q_STRIDE 0x1000
#define DESC_OFF 0x000 /* QMAX * 16 bytes */
#define AVAIL_OFF 0x800 /* 4 + 2 * QMAX + 2 bytes */
#define USED_OFF 0xa00  /* 4 + 8 * QMAX + 2 bytes */
#define BUF_OFF 0x2000
#define SLOT 0x1e0 /* buffer bytes per descriptor of the layout: QMAX slots per queue */
_Static_assert(DESC_OFF + 16 * QMAX <= AVAIL_OFF && AVAIL_OFF + 4 + 2 * QMAX + 2 <= USED_OFF &&
		       USED_OFF + 4 + 8 * QMAX + 2 <= Q_STRIDE, "rings overlap");
_Static_assert(BUF_OFF + 2 * QMAX * SLOT <= MEM_SIZE, "buffers do not fit");

#define FDS_MAX 12 /* more than the backend takes (VHOST_MAX_REGIONS) */
#define PAYLOAD_MAX 320 /* a little more than the largest message */
#define FD_SCAN 128

/* The descriptors an input may pass. */
enum fd_kind {
	FDK_MEM,
	FDK_HUGE,
	FDK_UNSEALED,
	FDK_SHORT,
	FDK_WSEALED,
	FDK_KICK0,
	FDK_KICK1,
	FDK_CALL0,
	FDK_CALL1,
	FDK_PIPE,
	FDK_COUNT,
};

enum op {
	OP_MSG,       /* a message: request, flags, size, payload, descriptors, all chosen */
	OP_MEM_TABLE, /* SET_MEM_TABLE: regions from the standard geometries or raw, chosen descriptors */
	OP_VRING,     /* a queue message with chosen index and value */
	OP_WRITE,     /* bytes into guest memory */
	OP_DESC,      /* one descriptor of the layout */
	OP_AVAIL,     /* make a head available (chosen index, flags), kick */
	OP_KICK,      /* the guest kicks a queue */
	OP_RX,        /* frames for the guest, then the end of the batch */
	OP_POST,      /* receive buffers: chains of writable descriptors */
	OP_SEND,      /* a transmit frame in a chain of descriptors, kick */
	OP_RAW,       /* raw bytes on the socket */
	OP_FCNTL,     /* the front-end makes a call eventfd blocking (or not) */
	OP_DISPATCH,  /* let vmnetd run */
	OP_COUNT,
};

struct cursor {
	const uint8_t *p;
	size_t left;
};

/* One front-end (one input). */
struct fe {
	int sock;
	int kick[2], call[2];
	unsigned qsize;
	uint16_t avail_idx[2], next_desc[2];
	uint32_t hdr;  /* the virtio-net header length its features imply */
	bool mrg;
	bool layout;   /* the standard layout is intact: the accounting check applies */
};

static struct network *net;
static struct port sink;
static struct sockaddr_un addr;
static socklen_t addr_len;
static int mem_fd[FDK_PIPE], pipe_fd[2];
static uint8_t *mem, *huge;
static uint8_t frame_buf[VHOST_MAX_FRAME];
static volatile uint8_t sink_sum;

/* ---- input cursor ---- */

static bool take(struct cursor *c, void *out, size_t n)
{
	if (c->left < n) {
		memset(out, 0, n);
		c->left = 0;
		return false;
	}
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
	return true;
}

static uint8_t u8(struct cursor *c)
{
	uint8_t v;

	take(c, &v, 1);
	return v;
}

static uint16_t u16(struct cursor *c)
{
	uint16_t v;

	take(c, &v, 2);
	return le16toh(v);
}

static uint32_t u32(struct cursor *c)
{
	uint32_t v;

	take(c, &v, 4);
	return le32toh(v);
}

static uint64_t u64(struct cursor *c)
{
	uint64_t v;

	take(c, &v, 8);
	return le64toh(v);
}

/* ---- the sink port: what the guest transmits ---- */

static int sink_output(struct port *p, const struct frame *f)
{
	const struct port *src = net->input_port;

	assert(f->len >= 14 && f->len <= src->max_frame);
	for (uint32_t i = 0; i < f->len; i++) /* all of it must be readable */
		sink_sum += f->data[i];
	return 0;
}

static void sink_destroy(struct port *p)
{
}

static const struct port_ops sink_ops = {
	.kind = "sink",
	.output = sink_output,
	.destroy = sink_destroy,
};

/* ---- the daemon's part ---- */

/* The front-end's port, if it still exists. */
static struct port *conn(void)
{
	for (struct port *p = net->ports; p; p = p->next)
		if (port_is_vhost(p) && p->ops->output)
			return p;
	return NULL;
}

/* End of an event batch, as daemon/main.c: tear down broken ports, free what was deferred. */
static void reap(void)
{
	for (struct port *p = port_take_broken(), *next; p; p = next) {
		next = p->broken_next;
		network_remove_port(p);
	}
	loop_free_deferred();
}

/* Replies are whole 20-byte messages (a u64 or a queue state). */
static void drain(struct fe *fe)
{
	uint8_t b[20 * 200];
	ssize_t n;

	while ((n = recv(fe->sock, b, sizeof(b), MSG_DONTWAIT)) > 0) {
		assert(n % 20 == 0);
		for (ssize_t i = 0; i < n; i += 20) {
			struct vhost_msg_hdr h;

			memcpy(&h, b + i, sizeof(h));
			assert(le32toh(h.flags) == (VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY));
			assert(le32toh(h.size) == 8);
		}
	}
}

/* Run the event loop until nothing is ready, then read the replies. */
static void dispatch(struct fe *fe)
{
	struct epoll_event ev[16];

	for (int round = 0;; round++) {
		int n = loop_wait(ev, 16, 0);

		assert(n >= 0);
		if (!n)
			break;
		/* Every round consumes what the script sent (16 messages a round at
		 * least): a source that stays ready this long is one the backend never drains. */
		assert(round < 1000);
		for (int i = 0; i < n; i++) {
			struct loop_src *s = ev[i].data.ptr;

			if (!s->dead)
				s->cb(s, ev[i].events);
		}
		reap();
	}
	if (fe)
		drain(fe);
}

/* ---- the front-end's part ---- */

static int fd_of(const struct fe *fe, unsigned kind)
{
	switch (kind % FDK_COUNT) {
	case FDK_KICK0:
		return fe->kick[0];
	case FDK_KICK1:
		return fe->kick[1];
	case FDK_CALL0:
		return fe->call[0];
	case FDK_CALL1:
		return fe->call[1];
	case FDK_PIPE:
		return pipe_fd[0];
	default:
		return mem_fd[kind % FDK_COUNT];
	}
}

static void send_raw(struct fe *fe, const void *b, size_t n, const int *fds, unsigned nfds)
{
	FDPASS_BUF(FDS_MAX) cm;
	struct iovec iov = { (void *)(uintptr_t)b, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	fdpass_attach(&m, cm.buf, fds, (size_t)nfds);
	/* vmnetd may have hung up already (EPIPE): the script goes on regardless. */
	(void)sendmsg(fe->sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void send_msg(struct fe *fe, uint32_t req, uint32_t flags, uint32_t size, const void *pl, size_t plen,
		     const int *fds, unsigned nfds)
{
	uint8_t b[sizeof(struct vhost_msg_hdr) + PAYLOAD_MAX];
	struct vhost_msg_hdr h = { htole32(req), htole32(flags), htole32(size) };

	assert(plen <= PAYLOAD_MAX);
	memcpy(b, &h, sizeof(h));
	if (plen)
		memcpy(b + sizeof(h), pl, plen);
	send_raw(fe, b, sizeof(h) + plen, fds, nfds);
}

static void send_u64(struct fe *fe, uint32_t req, uint64_t v, const int *fds, unsigned nfds)
{
	v = htole64(v);
	send_msg(fe, req, VHOST_USER_VERSION, 8, &v, 8, fds, nfds);
}

static void send_state(struct fe *fe, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_vring_state s = { htole32(index), htole32(num) };

	send_msg(fe, req, VHOST_USER_VERSION, sizeof(s), &s, sizeof(s), NULL, 0);
}

static void send_addr(struct fe *fe, uint32_t index, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vhost_vring_addr a = { htole32(index), 0, htole64(desc), htole64(used), htole64(avail), 0 };

	send_msg(fe, VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, sizeof(a), &a, sizeof(a), NULL, 0);
}

/* The standard geometry of a memory kind (a too-short memfd claims more than it has). */
static struct vhost_mem_region geometry(unsigned kind, unsigned i)
{
	switch (kind % FDK_COUNT) {
	case FDK_MEM:
		return (struct vhost_mem_region){ MEM_GPA, MEM_SIZE, MEM_UVA, 0 };
	case FDK_HUGE:
		return (struct vhost_mem_region){ HUGE_GPA, HUGE_SIZE, HUGE_UVA, 0 };
	case FDK_SHORT:
		return (struct vhost_mem_region){ 0x40000000ull, 4 * SMALL_SIZE, 0x7f2000000000ull, 0 };
	default:
		return (struct vhost_mem_region){ 0x50000000ull + i * SMALL_SIZE, SMALL_SIZE,
						  0x7f3000000000ull + i * SMALL_SIZE, 0 };
	}
}

/* A region as it goes on the wire (little endian). */
static struct vhost_mem_region wire_region(struct vhost_mem_region r)
{
	return (struct vhost_mem_region){ htole64(r.guest_addr), htole64(r.size), htole64(r.user_addr),
					  htole64(r.mmap_offset) };
}

static uint8_t *ring(unsigned q, unsigned off)
{
	return mem + q * Q_STRIDE + off;
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static void put_desc(unsigned q, unsigned i, uint64_t a, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = { htole64(a), htole32(len), htole16(flags), htole16(next) };

	memcpy(ring(q, DESC_OFF) + 16 * (i % QMAX), &d, sizeof(d));
}

static void kick(struct fe *fe, unsigned q)
{
	uint64_t one = 1;

	if (write(fe->kick[q & 1], &one, sizeof(one)) < 0)
		assert(errno == EAGAIN);
}

static void make_avail(struct fe *fe, unsigned q, uint16_t head)
{
	put16(ring(q, AVAIL_OFF) + 4 + 2 * (fe->avail_idx[q] % fe->qsize), head);
	fe->avail_idx[q]++;
	put16(ring(q, AVAIL_OFF) + 2, fe->avail_idx[q]);
}

/* The handshake of QEMU, with the features, queue size and table that o picks. */
static void opening(struct fe *fe, uint8_t o)
{
	uint64_t features = (o & 1 ? 1ull << VIRTIO_NET_F_MRG_RXBUF : 0) | (o & 2 ? 1ull << VIRTIO_F_VERSION_1 : 0) |
			    (o & 4 ? 1ull << VHOST_USER_F_PROTOCOL_FEATURES : 0);
	struct vhost_mem table = { htole32(o & 0x80 ? 2 : 1), 0,
				   { wire_region(geometry(FDK_MEM, 0)), wire_region(geometry(FDK_HUGE, 1)) } };
	int fds[2] = { mem_fd[FDK_MEM], mem_fd[FDK_HUGE] };

	fe->qsize = 1u << (o >> 3 & 7);
	fe->mrg = o & 1;
	fe->hdr = o & 3 ? VHOST_NET_HDR : VHOST_NET_HDR_LEGACY;
	send_msg(fe, VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0, NULL, 0, NULL, 0);
	send_u64(fe, VHOST_USER_SET_FEATURES, features, NULL, 0);
	send_msg(fe, VHOST_USER_GET_PROTOCOL_FEATURES, VHOST_USER_VERSION, 0, NULL, 0, NULL, 0);
	send_u64(fe, VHOST_USER_SET_PROTOCOL_FEATURES, 0, NULL, 0);
	send_msg(fe, VHOST_USER_SET_OWNER, VHOST_USER_VERSION, 0, NULL, 0, NULL, 0);
	send_msg(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 8 + 32 * le32toh(table.nregions), &table,
		 8 + 32 * le32toh(table.nregions), fds, le32toh(table.nregions));
	for (unsigned q = 0; q < 2; q++) {
		uint64_t base = MEM_UVA + q * Q_STRIDE;

		send_state(fe, VHOST_USER_SET_VRING_NUM, q, fe->qsize);
		send_addr(fe, q, base + DESC_OFF, base + AVAIL_OFF, base + USED_OFF);
		send_state(fe, VHOST_USER_SET_VRING_BASE, q, 0);
		send_u64(fe, VHOST_USER_SET_VRING_CALL, q, &fe->call[q], 1);
		send_u64(fe, VHOST_USER_SET_VRING_KICK, q, &fe->kick[q], 1);
		send_state(fe, VHOST_USER_SET_VRING_ENABLE, q, 1);
	}
	dispatch(fe);
	fe->layout = true;
}

/* ---- operations ---- */

static void op_msg(struct fe *fe, struct cursor *c)
{
	uint8_t req = u8(c), fl = u8(c), pl[PAYLOAD_MAX], nfds = u8(c) % (FDS_MAX + 1);
	uint16_t plen = u16(c) % (PAYLOAD_MAX + 1), declared = u16(c);
	int fds[FDS_MAX];

	for (unsigned i = 0; i < nfds; i++)
		fds[i] = fd_of(fe, u8(c));
	if (plen > c->left)
		plen = (uint16_t)c->left;
	take(c, pl, plen);
	send_msg(fe, req, fl & 0x80 ? fl : VHOST_USER_VERSION, fl & 0x40 ? declared : plen, pl, plen, fds, nfds);
	fe->layout = false;
}

static void op_mem_table(struct fe *fe, struct cursor *c)
{
	uint8_t n = u8(c) % (VHOST_MAX_REGIONS + 2), extra = u8(c) % 3; /* 0..9 regions; fds n-1, n or n+1 */
	struct vhost_mem table = { htole32(n), 0, { { 0 } } };
	int fds[VHOST_MAX_REGIONS + 2];
	unsigned nfds = 0;

	for (unsigned i = 0; i < n; i++) {
		uint8_t kind = u8(c), mode = u8(c);
		struct vhost_mem_region r = geometry(kind, i);

		if (mode & 1) { /* raw */
			r.guest_addr = u64(c);
			r.size = u64(c);
			r.user_addr = u64(c);
			r.mmap_offset = u64(c);
		} else if (mode & 2) { /* nudged: off by a little */
			r.guest_addr += (int8_t)u8(c);
			r.size += (int8_t)u8(c);
			r.user_addr += (int8_t)u8(c);
			r.mmap_offset += u8(c);
		}
		if (i < VHOST_MAX_REGIONS)
			table.r[i] = wire_region(r);
		fds[nfds++] = fd_of(fe, kind);
	}
	if (extra == 0 && nfds)
		nfds--;
	else if (extra == 2)
		fds[nfds++] = fd_of(fe, u8(c));
	send_msg(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 8 + 32 * (n < VHOST_MAX_REGIONS ? n : VHOST_MAX_REGIONS),
		 &table, 8 + 32 * (n < VHOST_MAX_REGIONS ? n : VHOST_MAX_REGIONS), fds, nfds);
	fe->layout = false;
}

static void op_vring(struct fe *fe, struct cursor *c)
{
	static const uint32_t reqs[] = {
		VHOST_USER_SET_VRING_NUM,  VHOST_USER_SET_VRING_ADDR, VHOST_USER_SET_VRING_BASE,
		VHOST_USER_GET_VRING_BASE, VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
		VHOST_USER_SET_VRING_ERR,  VHOST_USER_SET_VRING_ENABLE,
	};
	uint32_t req = reqs[u8(c) % (sizeof(reqs) / sizeof(reqs[0]))];
	uint8_t qb = u8(c);
	uint32_t q = qb < 0xf0 ? qb & 1 : qb; /* mostly a real queue */
	int fd;

	switch (req) {
	case VHOST_USER_SET_VRING_ADDR: {
		uint64_t base = MEM_UVA;
		uint16_t d = u16(c), a = u16(c), u = u16(c);

		send_addr(fe, q, base + d, base + a, base + u);
		fe->layout = false;
		return;
	}
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR: {
		uint8_t k = u8(c);

		if (k == 0xff) {
			send_u64(fe, req, q | VHOST_USER_VRING_NOFD, NULL, 0);
		} else {
			fd = fd_of(fe, k);
			send_u64(fe, req, q, &fd, 1);
		}
		return;
	}
	case VHOST_USER_SET_VRING_NUM:
		fe->layout = false;
		/* fall through */
	default:
		send_state(fe, req, q, u8(c) & 0x80 ? u32(c) : u16(c));
		return;
	}
}

static void op_write(struct fe *fe, struct cursor *c)
{
	uint8_t where = u8(c), n = u8(c);
	uint32_t off = u32(c) % MEM_SIZE;
	uint8_t *base = where & 1 ? huge : mem;

	if (n > c->left)
		n = (uint8_t)c->left;
	if (off + n > MEM_SIZE)
		off = (uint32_t)(MEM_SIZE - n);
	take(c, base + off, n);
	if (base == mem)
		fe->layout = false;
}

/* A buffer address for a descriptor. The layout stays intact unless it may cover the rings. */
static uint64_t buffer_addr(struct fe *fe, struct cursor *c)
{
	uint8_t mode = u8(c);
	uint64_t a;

	switch (mode % 4) {
	case 0: /* in the buffer area of "mem" */
		return MEM_GPA + BUF_OFF + u32(c) % (MEM_SIZE - BUF_OFF);
	case 1: /* anywhere in "huge" */
		return HUGE_GPA + u32(c);
	case 2: /* anywhere in "mem" */
		a = MEM_GPA + u32(c) % MEM_SIZE;
		if (a < MEM_GPA + BUF_OFF)
			fe->layout = false;
		return a;
	default:
		fe->layout = false;
		return u64(c);
	}
}

static void op_desc(struct fe *fe, struct cursor *c)
{
	uint8_t q = u8(c) & 1, i = u8(c);
	uint64_t a = buffer_addr(fe, c);
	uint32_t len = u32(c);
	uint8_t flags = u8(c);
	uint16_t next = u16(c);

	put_desc(q, i, a, len, flags, next);
}

static void op_avail(struct fe *fe, struct cursor *c)
{
	uint8_t q = u8(c) & 1, mode = u8(c);
	uint16_t head = u16(c);

	if (!fe->qsize)
		return;
	make_avail(fe, q, head);
	if (mode & 1) /* an index the guest makes up */
		put16(ring(q, AVAIL_OFF) + 2, fe->avail_idx[q] = u16(c));
	put16(ring(q, AVAIL_OFF), mode & 2 ? VRING_AVAIL_F_NO_INTERRUPT : 0);
	kick(fe, q);
}

/* What a receive chain of the layout holds (as vmnetd took it: the chain is valid). */
static uint64_t chain_cap(const struct fe *fe, uint16_t head)
{
	uint64_t cap = 0;
	uint16_t i = head;

	for (unsigned n = 0; n < fe->qsize; n++) {
		struct vring_desc d;

		memcpy(&d, ring(VHOST_RXQ, DESC_OFF) + 16 * (i % QMAX), sizeof(d));
		cap += le32toh(d.len);
		if (!(le16toh(d.flags) & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d.next);
	}
	return cap;
}

/*
 * Frames for the guest, as the switch hands them over, then the end of the
 * batch. With the layout intact, the used entries must tell what was written:
 * a frame fills its heads in order, each up to what its chain holds, so every
 * used length is min(chain capacity, bytes of the frame still to place), and
 * the entries of the batch place exactly header + frame for each frame taken.
 */
static void op_rx(struct fe *fe, struct cursor *c)
{
	struct port *p = conn();
	unsigned n = u8(c) % 4 + 1, taken = 0, k = 0;
	uint32_t need[4];
	uint64_t left;
	uint16_t used0, used1;

	if (!p)
		return;
	used0 = get16(ring(VHOST_RXQ, USED_OFF) + 2);
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = u16(c) % (p->max_frame + 1);
		struct frame f = { .data = frame_buf + (i & 7), .len = len < 14 ? 14 : len };

		if (p->ops->output(p, &f) == 0)
			need[taken++] = fe->hdr + f.len;
	}
	if (taken)
		p->ops->flush(p);
	reap();
	p = conn();
	if (!fe->layout || !p || p->broken)
		return;
	used1 = get16(ring(VHOST_RXQ, USED_OFF) + 2);
	assert((uint16_t)(used1 - used0) <= fe->qsize);
	assert(fe->mrg ? (uint16_t)(used1 - used0) >= taken : (uint16_t)(used1 - used0) == taken);
	left = taken ? need[0] : 0;
	for (uint16_t u = used0; u != used1; u++) {
		struct vring_used_elem e;
		uint64_t cap;

		memcpy(&e, ring(VHOST_RXQ, USED_OFF) + 4 + 8 * (u % fe->qsize), sizeof(e));
		assert(le32toh(e.id) < fe->qsize && k < taken);
		cap = chain_cap(fe, (uint16_t)le32toh(e.id));
		assert(le32toh(e.len) == (cap < left ? cap : left));
		left -= le32toh(e.len);
		if (!left && ++k < taken)
			left = need[k];
	}
	assert(k == taken && !left);
}

/* Receive buffers: n chains of segs writable descriptors of len bytes each. */
static void op_post(struct fe *fe, struct cursor *c)
{
	uint8_t n = u8(c), segs = u8(c) % 8 + 1;
	uint16_t len = u16(c) % (SLOT + 1);

	if (!fe->qsize)
		return;
	n = (uint8_t)(n % fe->qsize + 1);
	for (unsigned k = 0; k < n; k++) {
		uint16_t head = fe->next_desc[VHOST_RXQ] % fe->qsize;

		for (unsigned s = 0; s < segs; s++) {
			uint16_t d = fe->next_desc[VHOST_RXQ]++ % fe->qsize;

			put_desc(VHOST_RXQ, d, MEM_GPA + BUF_OFF + d * SLOT, len,
				 VRING_DESC_F_WRITE | (s + 1 < segs ? VRING_DESC_F_NEXT : 0),
				 (uint16_t)(fe->next_desc[VHOST_RXQ] % fe->qsize));
		}
		make_avail(fe, VHOST_RXQ, head);
	}
}

/*
 * A transmit frame (virtio-net header, then a broadcast frame) spread evenly
 * over a chain of 1 to 80 descriptors (some empty when the frame is short;
 * more than VHOST_TX_SEGS, or than the queue has, are the guest's mistakes).
 */
static void op_send(struct fe *fe, struct cursor *c)
{
	uint8_t segs = u8(c) % 80 + 1;
	uint32_t room = segs * SLOT < 1600 ? segs * SLOT : 1600, total, done = 0; /* past 1514 + header too */
	uint16_t head;

	total = fe->hdr + u16(c) % (room - fe->hdr + 1);
	if (!fe->qsize)
		return;
	head = fe->next_desc[VHOST_TXQ] % fe->qsize;
	for (unsigned s = 0; s < segs; s++) {
		uint16_t d = fe->next_desc[VHOST_TXQ]++ % fe->qsize;
		uint32_t off = BUF_OFF + (QMAX + d) * SLOT, k = total * (s + 1) / segs - total * s / segs;

		assert(k <= SLOT);
		for (uint32_t i = 0; i < k; i++, done++)
			mem[off + i] = done < fe->hdr ? 0 : done < fe->hdr + 6 ? 0xff : (uint8_t)(done * 7);
		put_desc(VHOST_TXQ, d, MEM_GPA + off, k, s + 1 < segs ? VRING_DESC_F_NEXT : 0,
			 (uint16_t)(fe->next_desc[VHOST_TXQ] % fe->qsize));
	}
	make_avail(fe, VHOST_TXQ, head);
	kick(fe, VHOST_TXQ);
}

static void op_fcntl(struct fe *fe, struct cursor *c)
{
	uint8_t b = u8(c);
	int fd = fe->call[b & 1], fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, b & 2 ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static void run_op(struct fe *fe, struct cursor *c)
{
	uint8_t code = u8(c);

	switch ((code & 0x7f) % OP_COUNT) {
	case OP_MSG:
		op_msg(fe, c);
		break;
	case OP_MEM_TABLE:
		op_mem_table(fe, c);
		break;
	case OP_VRING:
		op_vring(fe, c);
		break;
	case OP_WRITE:
		op_write(fe, c);
		break;
	case OP_DESC:
		op_desc(fe, c);
		break;
	case OP_AVAIL:
		op_avail(fe, c);
		break;
	case OP_KICK:
		kick(fe, u8(c));
		break;
	case OP_RX:
		op_rx(fe, c);
		break;
	case OP_POST:
		op_post(fe, c);
		break;
	case OP_SEND:
		op_send(fe, c);
		break;
	case OP_RAW: {
		uint8_t b[256], n = u8(c), nfds = u8(c) % 3;
		int fds[2] = { fd_of(fe, u8(c)), fd_of(fe, u8(c)) };

		if (n > c->left)
			n = (uint8_t)c->left;
		take(c, b, n);
		send_raw(fe, b, n, fds, nfds);
		fe->layout = false;
		break;
	}
	case OP_FCNTL:
		op_fcntl(fe, c);
		break;
	case OP_DISPATCH:
		break;
	}
	if (!(code & 0x80))
		dispatch(fe);
}

/* ---- set-up, once ---- */

static int sealed_memfd(const char *name, uint64_t size, unsigned seals)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || (seals && fcntl(fd, F_ADD_SEALS, seals) < 0))
		abort();
	return fd;
}

static void init(void)
{
	struct sockfile sf = { .dirfd = -1 };
	struct port *l;
	int fd;

	log_level = LOG_LVL_ERR;
	engine_now_sec = 1000;
	if (loop_init() < 0 || network_new(VMNET_HOST_MODE_, &net) < 0)
		abort();
	network_pin(net);
	snprintf(net->name, sizeof(net->name), "fuzz");
	sink = (struct port){ .ops = &sink_ops, .max_frame = VHOST_MAX_FRAME, .host_side = true };
	snprintf(sink.name, sizeof(sink.name), "sink");
	/* An abstract socket: nothing in the file system. */
	addr.sun_family = AF_UNIX;
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			       (size_t)snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "vmnet-fuzz-vhost.%d", (int)getpid()));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, addr_len) < 0 || listen(fd, 4) < 0)
		abort();
	/* The listener becomes descriptor 0, as a socket can be in a daemon started with
	 * stdin closed: a backend that deletes a never-added event source (zeroed: fd 0)
	 * from the loop then stops accepting, which the next input notices. */
	if (dup2(fd, 0) < 0)
		abort();
	close(fd);
	fd = 0;
	if (port_vhost_listen_new(fd, &sf, "vu", &l) < 0 || network_add_port(net, l) < 0 || port_vhost_start(l) < 0 ||
	    network_add_port(net, &sink) < 0)
		abort();
	mem_fd[FDK_MEM] = sealed_memfd("mem", MEM_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	mem_fd[FDK_HUGE] = sealed_memfd("huge", HUGE_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	mem_fd[FDK_UNSEALED] = sealed_memfd("unsealed", SMALL_SIZE, 0);
	mem_fd[FDK_SHORT] = sealed_memfd("short", SMALL_SIZE, F_SEAL_SHRINK);
	mem_fd[FDK_WSEALED] = sealed_memfd("wsealed", SMALL_SIZE, F_SEAL_SHRINK | F_SEAL_WRITE);
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd[FDK_MEM], 0);
	huge = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd[FDK_HUGE], 0);
	if (mem == MAP_FAILED || huge == MAP_FAILED || pipe2(pipe_fd, O_CLOEXEC) < 0)
		abort();
	for (size_t i = 0; i < sizeof(frame_buf); i++)
		frame_buf[i] = (uint8_t)(i * 31 + 7);
}

/* Which descriptors are open (poll says POLLNVAL for the others). */
static void fd_snapshot(bool open[FD_SCAN])
{
	struct pollfd pfd[FD_SCAN];

	for (int i = 0; i < FD_SCAN; i++)
		pfd[i] = (struct pollfd){ .fd = i };
	poll(pfd, FD_SCAN, 0);
	for (int i = 0; i < FD_SCAN; i++)
		open[i] = !(pfd[i].revents & POLLNVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	bool before[FD_SCAN], after[FD_SCAN];
	struct cursor c = { data, size };
	struct fe fe = { .sock = -1 };
	uint8_t o;

	if (!ready) {
		init();
		ready = true;
	}
	if (!size)
		return 0;
	/* Zero guest memory: holes read as zeros, and "huge" gives back what an input touched. */
	if (fallocate(mem_fd[FDK_MEM], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)MEM_SIZE) < 0 ||
	    fallocate(mem_fd[FDK_HUGE], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)HUGE_SIZE) < 0)
		abort();
	fd_snapshot(before);
	for (unsigned q = 0; q < 2; q++) {
		fe.kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fe.call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert(fe.kick[q] >= 0 && fe.call[q] >= 0);
	}
	fe.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fe.sock < 0 || connect(fe.sock, (struct sockaddr *)&addr, addr_len) < 0)
		abort();
	dispatch(NULL);
	assert(conn()); /* accepted: the listener works and the last front-end's port is gone */

	o = u8(&c);
	if (!(o & 0x40))
		opening(&fe, o);
	while (c.left)
		run_op(&fe, &c);

	/* Hang up: the port and everything it received must go. */
	close(fe.sock);
	dispatch(NULL);
	assert(!conn());
	for (unsigned q = 0; q < 2; q++) {
		close(fe.kick[q]);
		close(fe.call[q]);
	}
	fd_snapshot(after);
	for (int i = 0; i < FD_SCAN; i++)
		if (after[i] && !before[i]) {
			fprintf(stderr, "fuzz_vhost: descriptor %d leaked\n", i);
			abort();
		}
	return 0;
}
