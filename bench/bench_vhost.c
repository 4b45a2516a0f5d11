/*
 * bench_vhost.c — frames per second between two vhost-user-net ports through
 * vmnetd's switch, with this program as the vhost-user front-end (the part
 * QEMU plays), so that no guest emulation limits the rate.
 *
 * Theory of operation. `vmnet attach --vhost-user PATH` makes vmnetd listen
 * on PATH; every connection is one switch port. The parent forks a sender and
 * a receiver (bench_common: scoreboard, learn handshake, window, drain and
 * RESULT line as bench_ring and bench_sock); each connects to PATH and is a
 * whole front-end of its own:
 *  - guest memory is one sealed memfd (F_SEAL_SHRINK | F_SEAL_GROW, as QEMU's
 *    memory-backend-memfd; vmnetd maps nothing else), mapped here and handed
 *    over with SET_MEM_TABLE. It holds both queues' split rings (virtio 1.1
 *    §2.6) and one buffer per descriptor;
 *  - the handshake is QEMU's: GET/SET_FEATURES (VERSION_1, MRG_RXBUF,
 *    PROTOCOL_FEATURES; -O adds the offloads), GET/SET_PROTOCOL_FEATURES (none),
 *    SET_OWNER, SET_MEM_TABLE, then per queue SET_VRING_NUM/ADDR/BASE/CALL/KICK
 *    and SET_VRING_ENABLE. A final GET_FEATURES is the barrier: its reply
 *    means vmnetd took every message before it.
 *
 * Transmit (the sender). Every descriptor of the transmit queue owns one
 * buffer that holds a 12-byte virtio-net header and a frame, written once at
 * start; per call the sender takes back what vmnetd used, stamps a sequence
 * number into up to `batch` free buffers, makes them available and kicks the
 * queue's eventfd once (vmnetd never sets VRING_USED_F_NO_NOTIFY, so a kick is
 * always wanted). It asks for no transmit interrupts (VRING_AVAIL_F_NO_INTERRUPT)
 * except when the queue is full: then, as a virtio-net driver stops its queue,
 * it enables the interrupt, looks once more, and sleeps on the call eventfd.
 *
 * Receive (the receiver). Every receive descriptor is a 2 KiB writable buffer
 * (4 KiB with -G), all made available at start. The receiver works like NAPI:
 * with interrupts off it takes every used buffer (a frame spans num_buffers of
 * them with MRG_RXBUF), counts it, gives the buffers straight back and kicks;
 * when nothing is left it enables the interrupt, looks once more and sleeps in
 * poll() on the call eventfd (and on the vhost-user socket: a hang-up fails
 * the run).
 *
 * -G sends 64 KiB TCP/IPv4 super-frames (virtio-net header with NEEDS_CSUM and
 * GSO_TCPV4, gso_size 1448) with the offloads negotiated on both ports, so
 * vmnetd hands them to the receiver whole (engine/offload.h). The TCP checksum
 * field holds the pseudo-header sum, as a Linux guest leaves it.
 *
 * Frames are unicast from the sender's MAC to the receiver's MAC; the receiver
 * first sends broadcast learn frames until the sender has seen one, so the
 * switch has learned the receiver's port. MACs are fixed (02:be:4c:00:02:01
 * sender, :02 receiver).
 *
 * Usage: bench_vhost -A PATH [-q QSIZE] [-O] [-G] [common options, see -h]
 * Output: one "RESULT impl=vhost ..." line on stdout (impl=vhost-tso with -G).
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_common.h"
#include "common/fdpass.h"
#include "common/ring.h"
#include "engine/port_vhost_internal.h"

#define VRING_USED_F_NO_NOTIFY 1 /* virtio 1.1 §2.6.10: the device needs no kick */

#define QSIZE_MAX 1024   /* QEMU's largest vhost-user queue size */
#define RX_SLOT 2048     /* one receive buffer (header + a 1514-byte frame fits one) */
#define RX_SLOT_GSO 4096 /* with -G: a 64 KiB super-frame takes 16 of them */
#define GPA_BASE 0x100000000ull /* guest-physical address of guest memory */

/* -G: one TCP/IPv4 super-frame of 45 full segments. */
#define GSO_MSS 1448
#define GSO_HDRS (14 + 20 + 20)
#define GSO_FRAME (GSO_HDRS + 45 * GSO_MSS) /* 65214 bytes */
#define GSO_MAGIC_OFF GSO_HDRS              /* magic, then the sequence number */
_Static_assert(VHOST_NET_HDR + GSO_FRAME <= 65536, "a super-frame fits one transmit buffer");
_Static_assert(GSO_FRAME - 14 <= 65535, "IPv4 total length");

/* The virtio-net header with num_buffers (virtio 1.1 §5.1.6): the project's own, common/ring.h. */
_Static_assert(sizeof(struct ring_vnet_hdr) == VHOST_NET_HDR, "virtio-net header with num_buffers");

#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_HDR_GSO_TCPV4 1

static struct bench_shared *sh;
static struct bench_opts opt;
static unsigned qsize = 1024;
static bool offloads, gso;
static const uint8_t mac_tx[6] = { 0x02, 0xbe, 0x4c, 0x00, 0x02, 0x01 };
static const uint8_t mac_rx[6] = { 0x02, 0xbe, 0x4c, 0x00, 0x02, 0x02 };
static const uint8_t gso_magic[8] = { 'v', 'm', 'n', 'b', 'e', 'n', 'c', 'h' };

/* One virtqueue as the driver (guest) side sees it. */
struct bvq {
	unsigned num;
	struct vring_desc *desc;
	uint16_t *avail; /* flags, idx, ring[num], used_event */
	uint16_t *used;  /* flags, idx, then struct vring_used_elem[num] */
	uint64_t desc_off, avail_off, used_off, buf_off;
	uint8_t *buf;    /* buffer of descriptor i at buf + i * slot */
	size_t slot;
	uint16_t avail_idx, last_used;
	uint16_t free[QSIZE_MAX]; /* transmit: descriptors not in flight */
	unsigned nfree;
	int kick, call;
};

/* One front-end: a vhost-user connection with its guest memory and two queues. */
struct fe {
	int sock, memfd;
	uint8_t *mem;
	size_t mem_len;
	uint64_t features;
	struct bvq q[2];
};

/* ------------------------------------------------------------------ */
/* vhost-user messages                                                 */
/* ------------------------------------------------------------------ */

/* Send one message with optional descriptors. Return: 0 or -errno. */
static int fe_send(struct fe *fe, uint32_t req, const void *pl, uint32_t len, const int *fds, unsigned nfds)
{
	FDPASS_BUF(VHOST_MAX_REGIONS) cm;
	struct vhost_msg_hdr h = { htole32(req), htole32(VHOST_USER_VERSION), htole32(len) };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)(uintptr_t)pl, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	fdpass_attach(&m, cm.buf, fds, (size_t)nfds);
	return sendmsg(fe->sock, &m, MSG_NOSIGNAL) == (ssize_t)(sizeof(h) + len) ? 0 : -EIO;
}

static int fe_send_u64(struct fe *fe, uint32_t req, uint64_t v, const int *fds, unsigned nfds)
{
	v = htole64(v);
	return fe_send(fe, req, &v, sizeof(v), fds, nfds);
}

static int fe_send_state(struct fe *fe, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_vring_state s = { htole32(index), htole32(num) };

	return fe_send(fe, req, &s, sizeof(s), NULL, 0);
}

/* A request with a u64 reply (GET_FEATURES, GET_PROTOCOL_FEATURES). Return: 0 or -errno. */
static int fe_get_u64(struct fe *fe, uint32_t req, uint64_t *out)
{
	struct {
		struct vhost_msg_hdr h;
		uint64_t v;
	} __attribute__((packed)) r;

	if (fe_send(fe, req, NULL, 0, NULL, 0) < 0)
		return -EIO;
	if (recv(fe->sock, &r, sizeof(r), MSG_WAITALL) != (ssize_t)sizeof(r))
		return -EIO; /* vmnetd hung up (it logs why) or did not answer in time */
	if (le32toh(r.h.request) != req || le32toh(r.h.flags) != (VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY) ||
	    le32toh(r.h.size) != 8)
		return -EPROTO;
	*out = le64toh(r.v);
	return 0;
}

/* ------------------------------------------------------------------ */
/* guest memory and queues                                             */
/* ------------------------------------------------------------------ */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Lay out both queues' rings, then their buffers, page-aligned. Return: bytes of guest memory. */
static size_t fe_layout(struct fe *fe, size_t rx_slot, size_t tx_slot)
{
	uint64_t off = 0;

	for (unsigned i = 0; i < 2; i++) {
		struct bvq *q = &fe->q[i];

		q->num = qsize;
		q->desc_off = off;
		off = align_up(off + 16ull * q->num, 4096);
		q->avail_off = off;
		off = align_up(off + 6 + 2ull * q->num, 4096);
		q->used_off = off;
		off = align_up(off + 6 + 8ull * q->num, 4096);
	}
	fe->q[VHOST_RXQ].slot = rx_slot;
	fe->q[VHOST_TXQ].slot = tx_slot;
	for (unsigned i = 0; i < 2; i++) {
		fe->q[i].buf_off = off;
		off = align_up(off + fe->q[i].slot * fe->q[i].num, 4096);
	}
	return off;
}

/* Guest memory: a sealed memfd (vmnetd refuses one that may shrink), mapped here too. Return: 0 or -errno. */
static int fe_mem(struct fe *fe)
{
	fe->memfd = memfd_create("bench-vhost-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fe->memfd < 0 || ftruncate(fe->memfd, (off_t)fe->mem_len) < 0 ||
	    fcntl(fe->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return -errno;
	fe->mem = mmap(NULL, fe->mem_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fe->memfd, 0);
	if (fe->mem == MAP_FAILED)
		return -errno;
	for (unsigned i = 0; i < 2; i++) {
		struct bvq *q = &fe->q[i];

		q->desc = (struct vring_desc *)(fe->mem + q->desc_off);
		q->avail = (uint16_t *)(fe->mem + q->avail_off);
		q->used = (uint16_t *)(fe->mem + q->used_off);
		q->buf = fe->mem + q->buf_off;
	}
	return 0;
}

static uint64_t q_gpa(const struct bvq *q, unsigned i)
{
	return GPA_BASE + q->buf_off + (uint64_t)i * q->slot;
}

/* Descriptors: receive buffers all writable and available; transmit buffers all free. */
static void fe_fill_queues(struct fe *fe)
{
	struct bvq *rx = &fe->q[VHOST_RXQ], *tx = &fe->q[VHOST_TXQ];

	for (unsigned i = 0; i < rx->num; i++) {
		rx->desc[i] = (struct vring_desc){ htole64(q_gpa(rx, i)), htole32((uint32_t)rx->slot),
						   htole16(VRING_DESC_F_WRITE), 0 };
		rx->avail[2 + i] = htole16((uint16_t)i);
	}
	rx->avail_idx = (uint16_t)rx->num;
	__atomic_store_n(&rx->avail[1], htole16(rx->avail_idx), __ATOMIC_RELEASE);
	for (unsigned i = 0; i < tx->num; i++) {
		tx->desc[i] = (struct vring_desc){ htole64(q_gpa(tx, i)), 0, 0, 0 };
		tx->free[i] = (uint16_t)(tx->num - 1 - i);
	}
	tx->nfree = tx->num;
	/* Interrupts off until we wait for one. */
	rx->avail[0] = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	tx->avail[0] = htole16(VRING_AVAIL_F_NO_INTERRUPT);
}

/* QEMU's handshake, then the GET_FEATURES barrier. Return: 0 or -errno. */
static int fe_handshake(struct fe *fe)
{
	uint64_t offered, proto, want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |
					  (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	struct vhost_mem table = { htole32(1), 0, { { 0 } } };
	int r;

	if (offloads)
		want |= VHOST_OFFLOAD_FEATURES;
	if ((r = fe_get_u64(fe, VHOST_USER_GET_FEATURES, &offered)) < 0)
		return r;
	if ((offered & want) != want)
		return -ENOTSUP;
	fe->features = want;
	if ((r = fe_send_u64(fe, VHOST_USER_SET_FEATURES, want, NULL, 0)) < 0 ||
	    (r = fe_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES, &proto)) < 0 ||
	    (r = fe_send_u64(fe, VHOST_USER_SET_PROTOCOL_FEATURES, 0, NULL, 0)) < 0 ||
	    (r = fe_send(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0)) < 0)
		return r;
	table.r[0] = (struct vhost_mem_region){ htole64(GPA_BASE), htole64(fe->mem_len),
						htole64((uint64_t)(uintptr_t)fe->mem), 0 };
	if ((r = fe_send(fe, VHOST_USER_SET_MEM_TABLE, &table, 8 + sizeof(table.r[0]), &fe->memfd, 1)) < 0)
		return r;
	for (unsigned i = 0; i < 2; i++) {
		struct bvq *q = &fe->q[i];
		uint64_t uva = (uint64_t)(uintptr_t)fe->mem;
		struct vhost_vring_addr a = { htole32(i), 0, htole64(uva + q->desc_off), htole64(uva + q->used_off),
					      htole64(uva + q->avail_off), 0 };

		if ((r = fe_send_state(fe, VHOST_USER_SET_VRING_NUM, i, q->num)) < 0 ||
		    (r = fe_send(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0)) < 0 ||
		    (r = fe_send_state(fe, VHOST_USER_SET_VRING_BASE, i, 0)) < 0 ||
		    (r = fe_send_u64(fe, VHOST_USER_SET_VRING_CALL, i, &q->call, 1)) < 0 ||
		    (r = fe_send_u64(fe, VHOST_USER_SET_VRING_KICK, i, &q->kick, 1)) < 0 ||
		    (r = fe_send_state(fe, VHOST_USER_SET_VRING_ENABLE, i, 1)) < 0)
			return r;
	}
	return fe_get_u64(fe, VHOST_USER_GET_FEATURES, &offered);
}

/* Connect to vmnetd's vhost-user socket and set everything up. who names the side in messages.
 * Return: 0 or -1 (bench_fail called). */
static int fe_open(struct fe *fe, const char *path, const char *who)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { 5, 0 };
	size_t tx_slot = align_up(VHOST_NET_HDR + (gso ? GSO_FRAME : BENCH_MAX_FRAME), 64);
	int r;

	memset(fe, 0, sizeof(*fe));
	fe->sock = fe->memfd = -1;
	if (strlen(path) >= sizeof(a.sun_path)) {
		bench_fail(sh, "%s: path too long: %s", who, path);
		return -1;
	}
	strcpy(a.sun_path, path);
	fe->mem_len = fe_layout(fe, gso ? RX_SLOT_GSO : RX_SLOT, tx_slot);
	for (unsigned i = 0; i < 2; i++) {
		fe->q[i].kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		fe->q[i].call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fe->q[i].kick < 0 || fe->q[i].call < 0) {
			bench_fail(sh, "%s: eventfd: %s", who, strerror(errno));
			return -1;
		}
	}
	if ((r = fe_mem(fe)) < 0) {
		bench_fail(sh, "%s: guest memory (%zu bytes): %s", who, fe->mem_len, strerror(-r));
		return -1;
	}
	fe_fill_queues(fe);
	fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fe->sock < 0 || connect(fe->sock, (struct sockaddr *)&a, sizeof(a)) < 0) {
		bench_fail(sh, "%s: connect %s: %s", who, path, strerror(errno));
		return -1;
	}
	setsockopt(fe->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((r = fe_handshake(fe)) < 0) {
		bench_fail(sh, "%s: vhost-user handshake failed: %s (see vmnetd's log)", who,
			   r == -ENOTSUP ? "features not offered" : strerror(-r));
		return -1;
	}
	return 0;
}

static void fe_close(struct fe *fe)
{
	if (fe->sock >= 0)
		close(fe->sock);
	for (unsigned i = 0; i < 2; i++) {
		close(fe->q[i].kick);
		close(fe->q[i].call);
	}
	if (fe->mem && fe->mem != MAP_FAILED)
		munmap(fe->mem, fe->mem_len);
	if (fe->memfd >= 0)
		close(fe->memfd);
}

/* Kick a queue unless the device said it needs none. */
static void q_kick(struct bvq *q)
{
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the avail index before the flags */
	if (!(le16toh(__atomic_load_n(&q->used[0], __ATOMIC_RELAXED)) & VRING_USED_F_NO_NOTIFY))
		(void)!write(q->kick, &one, sizeof(one)); /* EAGAIN: the counter is saturated, a kick is pending */
}

/* Wait for the device to use a buffer of q (interrupt on, look again, sleep), at most ms.
 * Return: 1 after a wakeup, 0 when the wait was not needed or timed out, -1 when vmnetd hung up. */
static int q_wait(struct fe *fe, struct bvq *q, int ms)
{
	struct pollfd p[2] = { { q->call, POLLIN, 0 }, { fe->sock, POLLIN, 0 } };
	uint64_t cnt;
	int n = 0;

	__atomic_store_n(&q->avail[0], 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with vmnetd's fence between used index and flags */
	if (le16toh(__atomic_load_n(&q->used[1], __ATOMIC_ACQUIRE)) == q->last_used) {
		n = poll(p, 2, ms);
		if (n > 0 && p[1].revents)
			return -1; /* the control socket never speaks unasked: a hang-up */
		if (n > 0)
			(void)!read(q->call, &cnt, sizeof(cnt));
	}
	__atomic_store_n(&q->avail[0], htole16(VRING_AVAIL_F_NO_INTERRUPT), __ATOMIC_RELAXED);
	return n > 0;
}

/* ------------------------------------------------------------------ */
/* receive                                                             */
/* ------------------------------------------------------------------ */

/* One received frame: its header, its first buffer's part and its whole length. */
typedef void (*rx_fn)(void *ctx, const struct ring_vnet_hdr *h, const uint8_t *f, size_t first, size_t len);

/*
 * Take every frame vmnetd put in the receive queue, hand each to fn, and make
 * its buffers available again (one kick for all of them).
 * Return: frames taken, or -1 when the used ring makes no sense.
 */
static int rx_take(struct fe *fe, rx_fn fn, void *ctx)
{
	struct bvq *q = &fe->q[VHOST_RXQ];
	const struct vring_used_elem *ue = (const struct vring_used_elem *)(q->used + 2);
	uint16_t end = le16toh(__atomic_load_n(&q->used[1], __ATOMIC_ACQUIRE));
	int frames = 0;

	while (q->last_used != end) {
		struct vring_used_elem e = ue[q->last_used % q->num];
		uint32_t id = le32toh(e.id), len = le32toh(e.len);
		const uint8_t *b;
		struct ring_vnet_hdr h;
		uint16_t nbuf;
		uint64_t total = 0;

		if (id >= q->num || len < VHOST_NET_HDR || len > q->slot)
			return -1;
		b = q->buf + (size_t)id * q->slot;
		memcpy(&h, b, sizeof(h));
		nbuf = le16toh(h.num_buffers);
		if (!nbuf || nbuf > (uint16_t)(end - q->last_used))
			return -1; /* vmnetd publishes whole frames */
		for (uint16_t k = 0; k < nbuf; k++) {
			struct vring_used_elem ek = ue[(uint16_t)(q->last_used + k) % q->num];
			uint32_t idk = le32toh(ek.id);

			if (idk >= q->num)
				return -1;
			total += le32toh(ek.len);
			q->avail[2 + q->avail_idx % q->num] = htole16((uint16_t)idk);
			q->avail_idx++;
		}
		fn(ctx, &h, b + VHOST_NET_HDR, len - VHOST_NET_HDR, total - VHOST_NET_HDR);
		q->last_used = (uint16_t)(q->last_used + nbuf);
		frames++;
	}
	if (frames) {
		__atomic_store_n(&q->avail[1], htole16(q->avail_idx), __ATOMIC_RELEASE);
		q_kick(q);
	}
	return frames;
}

struct rxstat {
	uint64_t frames, bytes, other;
};

static bool gso_frame_is_ours(const struct ring_vnet_hdr *h, const uint8_t *f, size_t first)
{
	return first >= GSO_MAGIC_OFF + 16 && h->gso_type == VNET_HDR_GSO_TCPV4 && !memcmp(f, mac_rx, 6) &&
	       f[12] == 0x08 && f[13] == 0x00 && !memcmp(f + GSO_MAGIC_OFF, gso_magic, sizeof(gso_magic));
}

static void rx_count(void *ctx, const struct ring_vnet_hdr *h, const uint8_t *f, size_t first, size_t len)
{
	struct rxstat *s = ctx;

	if (gso ? gso_frame_is_ours(h, f, first) : bench_frame_is_ours(f, first, mac_rx)) {
		s->frames++;
		s->bytes += len;
	} else {
		s->other++;
	}
}

/* ------------------------------------------------------------------ */
/* transmit                                                            */
/* ------------------------------------------------------------------ */

/* Take back the transmit buffers vmnetd used. Return: 0, or -1 when the used ring makes no sense. */
static int tx_reclaim(struct bvq *q)
{
	const struct vring_used_elem *ue = (const struct vring_used_elem *)(q->used + 2);
	uint16_t end = le16toh(__atomic_load_n(&q->used[1], __ATOMIC_ACQUIRE));

	for (; q->last_used != end; q->last_used++) {
		uint32_t id = le32toh(ue[q->last_used % q->num].id);

		if (id >= q->num || q->nfree == q->num)
			return -1;
		q->free[q->nfree++] = (uint16_t)id;
	}
	return 0;
}

/* Make one free buffer available after writing header + frame into it. Return: 0, -EAGAIN (full) or -EPROTO. */
static int tx_one(struct fe *fe, const uint8_t *frame, size_t len)
{
	struct bvq *q = &fe->q[VHOST_TXQ];
	uint16_t id;

	if (tx_reclaim(q) < 0)
		return -EPROTO;
	if (!q->nfree)
		return -EAGAIN;
	id = q->free[--q->nfree];
	memset(q->buf + (size_t)id * q->slot, 0, VHOST_NET_HDR);
	memcpy(q->buf + (size_t)id * q->slot + VHOST_NET_HDR, frame, len);
	q->desc[id].len = htole32((uint32_t)(VHOST_NET_HDR + len));
	q->avail[2 + q->avail_idx % q->num] = htole16(id);
	q->avail_idx++;
	__atomic_store_n(&q->avail[1], htole16(q->avail_idx), __ATOMIC_RELEASE);
	q_kick(q);
	return 0;
}

/* The sender's buffers: every transmit descriptor holds header + a measured frame, written once. */
static void tx_prepare(struct fe *fe)
{
	struct bvq *q = &fe->q[VHOST_TXQ];

	for (unsigned i = 0; i < q->num; i++) {
		uint8_t *b = q->buf + (size_t)i * q->slot;
		struct ring_vnet_hdr h = { 0 };

		if (gso) {
			uint8_t *f = b + VHOST_NET_HDR, *ip = f + 14, *tcp = ip + 20;
			uint32_t sum = 0;

			h = (struct ring_vnet_hdr){ .flags = VNET_HDR_F_NEEDS_CSUM, .gso_type = VNET_HDR_GSO_TCPV4,
					       .hdr_len = htole16(GSO_HDRS), .gso_size = htole16(GSO_MSS),
					       .csum_start = htole16(14 + 20), .csum_offset = htole16(16) };
			memset(f, 0, GSO_FRAME);
			memcpy(f, mac_rx, 6);
			memcpy(f + 6, mac_tx, 6);
			f[12] = 0x08;
			ip[0] = 0x45;
			ip[2] = (uint8_t)((GSO_FRAME - 14) >> 8);
			ip[3] = (uint8_t)(GSO_FRAME - 14);
			ip[6] = 0x40; /* DF */
			ip[8] = 64;
			ip[9] = 6; /* TCP */
			memcpy(ip + 12, (uint8_t[]){ 10, 9, 0, 1 }, 4);
			memcpy(ip + 16, (uint8_t[]){ 10, 9, 0, 2 }, 4);
			for (unsigned k = 0; k < 20; k += 2)
				sum += (uint32_t)(ip[k] << 8 | ip[k + 1]);
			while (sum >> 16)
				sum = (sum & 0xffff) + (sum >> 16);
			ip[10] = (uint8_t)(~sum >> 8);
			ip[11] = (uint8_t)~sum;
			tcp[0] = 0xc0, tcp[1] = 0x01; /* port 49153 -> 5001 */
			tcp[2] = 0x13, tcp[3] = 0x89;
			tcp[12] = 5 << 4;
			tcp[13] = 0x18; /* PSH ACK */
			tcp[14] = 0xff, tcp[15] = 0xff;
			/* Partial checksum: the pseudo-header sum (addresses, protocol, TCP length). */
			sum = 0x0a09 + 0x0001 + 0x0a09 + 0x0002 + 6 + (GSO_FRAME - 34);
			while (sum >> 16)
				sum = (sum & 0xffff) + (sum >> 16);
			tcp[16] = (uint8_t)(sum >> 8);
			tcp[17] = (uint8_t)sum;
			memcpy(f + GSO_MAGIC_OFF, gso_magic, sizeof(gso_magic));
			for (unsigned k = GSO_MAGIC_OFF + 16; k < GSO_FRAME; k++)
				f[k] = (uint8_t)k;
		} else {
			bench_frame_fill(b + VHOST_NET_HDR, opt.size, mac_rx, mac_tx);
		}
		memcpy(b, &h, sizeof(h));
		q->desc[i].len = htole32(VHOST_NET_HDR + opt.size);
	}
}

struct txctx {
	struct fe *fe;
	size_t seq_off; /* where the sequence number goes in a buffer */
	bool hung_up;
};

/*
 * bench_send_fn: make up to n prepared buffers available (sequence numbers
 * stamped), one kick. When none is free, wait for the transmit interrupt.
 * Return: frames queued (0 when full), or -1.
 */
static int tx_send(void *ctx, uint64_t seq, unsigned n, uint64_t *full, uint64_t *err)
{
	struct txctx *t = ctx;
	struct bvq *q = &t->fe->q[VHOST_TXQ];
	unsigned k;

	if (tx_reclaim(q) < 0) {
		(*err)++;
		fprintf(stderr, "sender: the transmit used ring makes no sense\n");
		return -1;
	}
	if (!q->nfree) {
		(*full)++;
		if (q_wait(t->fe, q, 10) < 0) {
			(*err)++;
			fprintf(stderr, "sender: vmnetd hung up\n");
			return -1;
		}
		return 0;
	}
	k = n < q->nfree ? n : q->nfree;
	for (unsigned i = 0; i < k; i++) {
		uint16_t id = q->free[--q->nfree];

		memcpy(q->buf + (size_t)id * q->slot + t->seq_off, &(uint64_t){ seq + i }, 8);
		q->avail[2 + q->avail_idx % q->num] = htole16(id);
		q->avail_idx++;
	}
	__atomic_store_n(&q->avail[1], htole16(q->avail_idx), __ATOMIC_RELEASE);
	q_kick(q);
	return (int)k;
}

/* ------------------------------------------------------------------ */
/* the two processes                                                   */
/* ------------------------------------------------------------------ */

static const char *path;

static int rx_send_learn(void *ctx)
{
	struct fe *fe = ctx;
	uint8_t frame[BENCH_MIN_FRAME];
	int r;

	bench_learn_fill(frame, mac_rx);
	r = tx_one(fe, frame, sizeof(frame));
	if (r == -EPROTO) {
		bench_fail(sh, "receiver: its transmit used ring makes no sense");
		return -1;
	}
	return 0; /* -EAGAIN: the queue is full, the next try goes */
}

static int rx_main(void)
{
	static struct fe fe;
	struct rxstat s = { 0 };
	uint64_t wakeups = 0, calls = 0;

	sh->rx_pid = getpid();
	if (fe_open(&fe, path, "receiver") < 0)
		return 1;
	memcpy(sh->rx_mac, mac_rx, 6);
	atomic_store(&sh->rx_up, 1);
	if (bench_learn(sh, rx_send_learn, &fe) < 0) {
		bench_fail(sh, "receiver: the sender never saw the learn broadcast");
		fe_close(&fe);
		return 1;
	}
	while (!atomic_load(&sh->rx_stop) && !atomic_load(&sh->failed)) {
		int n = rx_take(&fe, rx_count, &s);

		calls++;
		if (n < 0) {
			bench_fail(sh, "receiver: the receive used ring makes no sense");
			break;
		}
		atomic_store_explicit(&sh->rx_frames, s.frames, memory_order_relaxed);
		atomic_store_explicit(&sh->rx_bytes, s.bytes, memory_order_relaxed);
		atomic_store_explicit(&sh->rx_calls, calls, memory_order_relaxed);
		atomic_store_explicit(&sh->rx_other, s.other, memory_order_relaxed);
		if (n > 0)
			continue;
		n = q_wait(&fe, &fe.q[VHOST_RXQ], 10);
		if (n < 0) {
			bench_fail(sh, "receiver: vmnetd hung up (see its log)");
			break;
		}
		wakeups += (uint64_t)n;
		atomic_store_explicit(&sh->rx_wakeups, wakeups, memory_order_relaxed);
	}
	fe_close(&fe);
	return atomic_load(&sh->failed) ? 1 : 0;
}

static void tx_watch(void *ctx, const struct ring_vnet_hdr *h, const uint8_t *f, size_t first, size_t len)
{
	(void)ctx, (void)h, (void)len;
	if (atomic_load(&sh->rx_up) && bench_frame_is_learn(f, first, mac_rx))
		atomic_store(&sh->learned, 1);
}

static int tx_main(void)
{
	static struct fe fe;
	static struct txctx t;
	double end;

	sh->tx_pid = getpid();
	if (fe_open(&fe, path, "sender") < 0)
		return 1;
	memcpy(sh->tx_mac, mac_tx, 6);
	atomic_store(&sh->tx_up, 1);
	end = bench_now() + 20;
	while (!atomic_load(&sh->learned)) {
		if (atomic_load(&sh->failed) || bench_now() > end) {
			bench_fail(sh, "sender: no learn frame from the receiver");
			fe_close(&fe);
			return 1;
		}
		if (rx_take(&fe, tx_watch, NULL) < 0 || q_wait(&fe, &fe.q[VHOST_RXQ], 10) < 0) {
			bench_fail(sh, "sender: its receive queue broke or vmnetd hung up");
			fe_close(&fe);
			return 1;
		}
	}
	/* From here on the sender leaves its receive queue alone (nothing else is addressed to it). */
	tx_prepare(&fe);
	t.fe = &fe;
	t.seq_off = VHOST_NET_HDR + (gso ? GSO_MAGIC_OFF + 8 : 14);
	bench_send_loop(sh, &opt, tx_send, &t);
	atomic_store(&sh->tx_done, 1);
	while (!atomic_load(&sh->rx_stop) && !atomic_load(&sh->failed))
		usleep(2000);
	fe_close(&fe);
	return atomic_load(&sh->failed) ? 1 : 0;
}

/* Take this program's own options (-q N, -O, -G) out of argv; the rest is bench_parse's. Return: new argc. */
static int own_options(int argc, char **argv)
{
	int ac = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-q") && i + 1 < argc) {
			qsize = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "-O")) {
			offloads = true;
		} else if (!strcmp(argv[i], "-G")) {
			gso = offloads = true;
		} else {
			argv[ac++] = argv[i];
		}
	}
	argv[ac] = NULL;
	return ac;
}

int main(int argc, char **argv)
{
	static const char *usage = "-A PATH [-q QSIZE] [-O] [-G]\n"
				   "  -A  vmnetd's vhost-user socket (vmnet attach --vhost-user PATH)\n"
				   "  -q  queue size, a power of two 2..1024 (default 1024)\n"
				   "  -O  also negotiate the offloads (CSUM, GUEST_CSUM, HOST/GUEST_TSO4/6/ECN)\n"
				   "  -G  64 KiB TCP/IPv4 super-frames (GSO_TCPV4 + NEEDS_CSUM; implies -O; -s ignored)";

	argc = own_options(argc, argv);
	bench_parse(argc, argv, &opt, usage);
	path = opt.tap_a;
	if (!path || qsize < 2 || qsize > QSIZE_MAX || (qsize & (qsize - 1))) {
		fprintf(stderr, "usage: %s %s\n", argv[0], usage);
		return 2;
	}
	if (gso)
		opt.size = GSO_FRAME;
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = bench_shared_new();
	return bench_launch(sh, &opt, "bench_vhost", gso ? "vhost-tso" : "vhost", tx_main, rx_main);
}
