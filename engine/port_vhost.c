/*
 * port_vhost.c — a vhost-user-net backend (QEMU -netdev vhost-user,
 * cloud-hypervisor): the guest's virtio-net queues, served from its memory.
 *
 * Theory of operation. vmnetd listens on the attachment's path; a front-end
 * (QEMU) connects and drives the vhost-user protocol over that socket
 * (QEMU docs/interop/vhost-user.rst): it negotiates features, hands over the
 * guest's memory as file descriptors with a table of regions, and for each
 * of the two queues (0: receive, device -> guest; 1: transmit) its size,
 * the addresses of its descriptor table, available and used rings, and two
 * eventfds: "kick" (the guest added buffers) and "call" (we used some). The
 * connection is one switch port; when it closes, the port goes.
 *
 * Offered: VIRTIO_F_VERSION_1 (so a 12-byte virtio-net header precedes every
 * frame), VIRTIO_NET_F_MRG_RXBUF (a frame may fill several receive buffers)
 * and VHOST_USER_F_PROTOCOL_FEATURES with no protocol feature (queues start
 * disabled until SET_VRING_ENABLE), and the offloads: VIRTIO_NET_F_CSUM and
 * HOST_TSO4/6/ECN (the guest may send partial checksums and 64 KiB TCP
 * super-frames: its header becomes the frame's offload metadata, checked by
 * the switch) and GUEST_CSUM and GUEST_TSO4/6/ECN (the guest takes them: a
 * frame's metadata is written into the header it receives; without all
 * three, the switch hands the guest plain frames). See engine/offload.h.
 * Split rings only; no indirect descriptors, no event index, one queue pair.
 *
 * Guest memory is hostile. A region is mapped only from a sealed memfd that
 * cannot shrink (F_SEAL_SHRINK, the default of memory-backend-memfd), so the
 * guest cannot make vmnetd fault by truncating it; every address (ring or
 * buffer) is translated through the region table and must lie wholly inside
 * one region; every index read from the rings is checked against the queue
 * size, chains are at most queue-size long, each field is read once. A
 * queue's rings are mapped all three or not at all. A malformed message,
 * memory table or ring disconnects that front-end with a log line; nothing
 * else is affected, and a front-end marked for disconnection is not served
 * again in the same event batch.
 *
 * Data path. Transmit: on a kick, each available chain is walked and checked
 * without copying, its header copied to private memory, and the frame handed
 * to the switch: straight from guest memory when one descriptor holds it all
 * (a shared frame, as from a ring slot: the guest may change it meanwhile, so
 * the switch reads what it decides on once and every port copies it out
 * before the chain is published used), else gathered into one private buffer
 * first; the chain is returned used; a kick
 * serves what was available when it came (at most a queue's worth, each
 * chain at most VHOST_TX_SEGS descriptors: the work of a kick is bounded). The
 * eventfds come from the front-end and share their file flags with it: the
 * kick is watched edge-triggered and never read, the call must stay
 * non-blocking (a front-end that clears O_NONBLOCK is disconnected; the
 * check and the write are two system calls, so a front-end racing them and
 * saturating its own eventfd could still stall one write). Receive: output() takes
 * as many available buffers as the frame needs (one without MRG_RXBUF),
 * writes header and frame into them and records them used; flush()
 * publishes the used index and signals the guest once per batch, unless it
 * asked not to be interrupted. With no buffer, the frame is dropped and
 * counted. No allocation per frame.
 */
#include "engine/port_vhost.h"
#include "engine/port_vhost_internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/switch.h"

/* The wire formats (vhost-user messages, split virtqueues) are in
 * engine/port_vhost_internal.h, shared with the fuzz target tests/fuzz/fuzz_vhost.c. */

/* ---- state ---- */

#define VHOST_RX_SEGS 64 /* buffers one received frame may take */
/* Descriptors one transmitted frame may take. Without offloads a frame spans at
 * most 17 pages and its header (Linux guests use at most MAX_SKB_FRAGS + 2); the
 * cap keeps the work of one kick at a queue's worth of heads times this, where
 * chains as long as the queue (32768) would make it a billion descriptor reads. */
#define VHOST_TX_SEGS 64

struct vhost_region {
	uint64_t gpa, size, uva;
	uint8_t *base;    /* host address of gpa */
	void *map;
	size_t map_len;
};

struct vhost_vq {
	uint32_t num;
	bool enabled, started;
	bool has_addr;
	uint64_t desc_uva, avail_uva, used_uva;
	struct vring_desc *desc;
	uint16_t *avail; /* flags, idx, ring[num] */
	uint16_t *used;  /* flags, idx, then struct vring_used_elem[num] */
	uint16_t last_avail, used_idx;
	bool used_dirty;
	bool call_broken; /* the call eventfd was made blocking behind our back */
	int kick_fd, call_fd;
	struct loop_src src; /* the transmit queue's kick */
	bool kick_watched;   /* src is in the event loop (never for the receive queue) */
};

struct vhost_listener;

struct port_vhost {
	struct port base; /* first: struct port * <-> struct port_vhost * */
	struct loop_src src;
	int fd;
	struct vhost_listener *listener;
	struct port_vhost *next;
	uint64_t features, protocol_features;
	struct vhost_region regions[VHOST_MAX_REGIONS];
	unsigned nregions;
	struct vhost_vq vq[2];
	uint64_t logged_at;
};

struct vhost_listener {
	struct port base;
	struct loop_src src;
	int fd;
	struct sockfile sf;
	struct port_vhost *conns;
	unsigned nconns, seq;
};

static uint8_t tx_buf[VHOST_NET_HDR + VHOST_MAX_FRAME];

static const struct port_ops vhost_ops, vhost_listen_ops;

static bool may_log(struct port_vhost *v)
{
	if (v->logged_at == engine_now_sec)
		return false;
	v->logged_at = engine_now_sec;
	return true;
}

/* The front-end or its guest broke the protocol: disconnect it (once, with a log line). */
static void vhost_fail(struct port_vhost *v, const char *why)
{
	if (!v->base.broken)
		log_warn("vhost %s: %s; disconnecting", v->base.name, why);
	port_mark_broken(&v->base);
}

/* ---- guest memory ---- */

/* [addr, addr + len) of one region's space (guest-physical or front-end virtual). Return: host pointer or NULL. */
static void *translate(const struct port_vhost *v, uint64_t addr, uint64_t len, bool uva)
{
	for (unsigned i = 0; i < v->nregions; i++) {
		const struct vhost_region *r = &v->regions[i];
		uint64_t start = uva ? r->uva : r->gpa;

		if (addr >= start && addr - start < r->size && len <= r->size - (addr - start))
			return r->base + (addr - start);
	}
	return NULL;
}

static void unmap_regions(struct port_vhost *v)
{
	for (unsigned i = 0; i < v->nregions; i++)
		munmap(v->regions[i].map, v->regions[i].map_len);
	v->nregions = 0;
}

/*
 * Map the rings of a queue from its addresses: all three, whole and aligned,
 * or none. A queue left half-mapped by a bad address would still look ready
 * (desc set) to a kick handled later in the same event batch, before the
 * front-end is torn down. Return: 0 (mapped, or not configured yet) or
 * -EFAULT (nothing mapped).
 */
static int vq_translate(struct port_vhost *v, struct vhost_vq *vq)
{
	struct vring_desc *desc;
	uint16_t *avail, *used;

	vq->desc = NULL;
	vq->avail = vq->used = NULL;
	if (!vq->has_addr || !vq->num)
		return 0;
	desc = translate(v, vq->desc_uva, (uint64_t)vq->num * sizeof(struct vring_desc), true);
	avail = translate(v, vq->avail_uva, 4 + 2ull * vq->num + 2, true);
	used = translate(v, vq->used_uva, 4 + 8ull * vq->num + 2, true);
	if (!desc || !avail || !used || ((uintptr_t)avail & 1) || ((uintptr_t)used & 3))
		return -EFAULT;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return 0;
}

/* Map one region: a sealed memfd that cannot shrink, large enough. Return: 0 or -errno. */
static int map_region(struct vhost_region *r, const struct vhost_mem_region *m, int fd)
{
	uint64_t gpa = le64toh(m->guest_addr), size = le64toh(m->size), uva = le64toh(m->user_addr),
		 off = le64toh(m->mmap_offset);
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (!size || gpa + size < gpa || uva + size < uva || off + size < off || off + size > (uint64_t)SIZE_MAX)
		return -EINVAL;
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EPERM; /* a region that may shrink could make us fault */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < off + size)
		return -EINVAL;
	r->map_len = (size_t)(off + size);
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->map == MAP_FAILED)
		return -errno;
	r->gpa = gpa;
	r->size = size;
	r->uva = uva;
	r->base = (uint8_t *)r->map + off;
	return 0;
}

/* ---- virtqueues ---- */

/* Queue eventfds come from the front-end: eventfds only, made non-blocking. */
static bool is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return !strcmp(target, "anon_inode:[eventfd]") && fcntl(fd, F_SETFL, O_NONBLOCK) == 0;
}

static uint16_t ld16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

/* virtio 1.1 §5.1.6: the header is 12 bytes with VERSION_1 or MRG_RXBUF, else 10. */
static uint32_t hdr_len(const struct port_vhost *v)
{
	return v->features & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF)) ? VHOST_NET_HDR
												 : VHOST_NET_HDR_LEGACY;
}

static bool vq_ready(const struct vhost_vq *vq)
{
	return vq->started && vq->enabled && vq->desc;
}

/* Entries the guest made available. Return: count, or -1 when its index is impossible. */
static int vq_avail(struct vhost_vq *vq)
{
	uint16_t idx = le16toh(__atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE));
	uint16_t n = (uint16_t)(idx - vq->last_avail);

	return n > vq->num ? -1 : n;
}

static uint16_t vq_head(struct vhost_vq *vq, uint16_t i)
{
	return ld16(&vq->avail[2 + (uint16_t)(vq->last_avail + i) % vq->num]);
}

static void vq_push_used(struct vhost_vq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *ring = (struct vring_used_elem *)(vq->used + 2);
	struct vring_used_elem e = { htole32(head), htole32(len) };

	memcpy(&ring[vq->used_idx % vq->num], &e, sizeof(e));
	vq->used_idx++;
	vq->used_dirty = true;
}

/* Publish the used entries and interrupt the guest unless it asked us not to. */
static void vq_publish(struct vhost_vq *vq)
{
	uint64_t one = 1;

	if (!vq->used_dirty)
		return;
	vq->used_dirty = false;
	__atomic_store_n(&vq->used[1], htole16(vq->used_idx), __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->call_fd < 0 || (ld16(&vq->avail[0]) & VRING_AVAIL_F_NO_INTERRUPT))
		return;
	if (!(fcntl(vq->call_fd, F_GETFL) & O_NONBLOCK)) {
		vq->call_broken = true; /* the front-end made it blocking: it goes (see the header) */
		return;
	}
	if (write(vq->call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("vhost: call: %m");
}

/* One transmit chain, walked and checked but not copied: where its bytes are in guest memory. */
struct tx_chain {
	struct iovec seg[VHOST_TX_SEGS];
	unsigned nseg;
	uint32_t total; /* at most sizeof(tx_buf) */
};

/* Walk one transmit chain: each descriptor read once, checked and translated.
 * Return: 0, -EFAULT/-EPROTO (a broken ring), or -EMSGSIZE (a frame too big or in
 * too many pieces: dropped and counted). */
static int tx_walk(struct port_vhost *v, struct vhost_vq *vq, uint16_t head, struct tx_chain *c)
{
	uint16_t idx = head;

	c->nseg = 0;
	c->total = 0;
	for (uint32_t n = 0;; n++) {
		struct vring_desc d;
		uint16_t flags;
		uint32_t len;
		void *src;

		if (n >= vq->num || idx >= vq->num)
			return -EPROTO; /* a loop or an index past the table */
		if (n == VHOST_TX_SEGS)
			return -EMSGSIZE;
		memcpy(&d, &vq->desc[idx], sizeof(d)); /* read once */
		flags = le16toh(d.flags);
		len = le32toh(d.len);
		if (flags & (VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE))
			return -EPROTO;
		if (len > sizeof(tx_buf) - c->total)
			return -EMSGSIZE;
		src = translate(v, le64toh(d.addr), len, false);
		if (!src)
			return -EFAULT;
		c->seg[c->nseg++] = (struct iovec){ src, len };
		c->total += len;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		idx = le16toh(d.next);
	}
}

/* Copy bytes [off, off + len) of a chain (len + off <= c->total) to private memory. */
static void tx_copy(const struct tx_chain *c, uint32_t off, uint8_t *dst, uint32_t len)
{
	for (unsigned i = 0; i < c->nseg && len; i++) {
		size_t k;

		if (off >= c->seg[i].iov_len) {
			off -= (uint32_t)c->seg[i].iov_len;
			continue;
		}
		k = c->seg[i].iov_len - off < len ? c->seg[i].iov_len - off : len;
		memcpy(dst, (const uint8_t *)c->seg[i].iov_base + off, k);
		dst += k;
		len -= (uint32_t)k;
		off = 0;
	}
}

/* Bytes [off, off + len) of a chain, when one descriptor holds them all. Return: where, or NULL. */
static const uint8_t *tx_span(const struct tx_chain *c, uint32_t off, uint32_t len)
{
	for (unsigned i = 0; i < c->nseg; i++) {
		if (off < c->seg[i].iov_len)
			return len <= c->seg[i].iov_len - off ? (const uint8_t *)c->seg[i].iov_base + off : NULL;
		off -= (uint32_t)c->seg[i].iov_len;
	}
	return NULL;
}

static void vq_tx_drain(struct port_vhost *v)
{
	struct vhost_vq *vq = &v->vq[VHOST_TXQ];
	struct port *p = &v->base;
	struct tx_chain c;
	int n;
	uint32_t hl = hdr_len(v);

	if (!vq_ready(vq) || p->broken)
		return; /* a front-end that failed is going: its rings are not walked again (as in output()) */
	/* While we drain, the guest need not kick (virtio 1.1 §2.6.10.2, VRING_USED_F_NO_NOTIFY):
	 * a guest sending one frame at a time would otherwise wake us once per frame. */
	__atomic_store_n(&vq->used[0], htole16(VRING_USED_F_NO_NOTIFY), __ATOMIC_RELEASE);
	n = vq_avail(vq);
	if (n < 0) {
		vhost_fail(v, "the guest's transmit index is impossible");
		return;
	}
	/* At most a queue's worth per kick: the guest kicks again for what it adds later. */
	for (int done = 0; done < n; done++) {
		uint16_t head = vq_head(vq, 0);
		int r = tx_walk(v, vq, head, &c), len = r < 0 ? r : (int)c.total;
		struct frame f = { .data = NULL };

		if (r == -EFAULT || r == -EPROTO) {
			vhost_fail(v, r == -EFAULT ? "a transmit descriptor points outside guest memory"
						   : "a transmit descriptor chain is malformed");
			return;
		}
		vq->last_avail++;
		vq_push_used(vq, head, 0); /* published after the loop: the buffers stay ours until then */
		if (len >= (int)hl && p->offload_src) {
			tx_copy(&c, 0, (uint8_t *)&f.vnet, VHOST_NET_HDR_LEGACY); /* the 10 bytes both layouts share */
			f.vnet.num_buffers = 0;
		}
		if (len < (int)hl + 14 ||
		    ((uint32_t)len - hl > p->max_frame && f.vnet.gso_type == 0 /* a super-frame may be longer */)) {
			p->st.rx_errors++;
			if (may_log(v))
				log_info("vhost %s: %d-byte transmit buffer skipped", p->name, len);
			continue;
		}
		f.len = (uint32_t)len - hl;
		/* A frame in one descriptor goes straight from guest memory into the receivers, as
		 * from a ring slot (f.shared: the guest may change it meanwhile; len and vnet are
		 * private). A frame in pieces is gathered into tx_buf first. */
		f.data = tx_span(&c, hl, f.len);
		f.shared = f.data != NULL;
		if (!f.data) {
			tx_copy(&c, hl, tx_buf, f.len);
			f.data = tx_buf;
		}
		switch_input(p->net, p, &f);
	}
	vq_publish(vq);
	if (vq->call_broken) {
		vhost_fail(v, "a call eventfd was made blocking");
		return;
	}
	/* Kicks back on; what the guest added meanwhile came without a kick: wake ourselves for it
	 * (a write to the kick eventfd, watched edge-triggered), after the other ports had their turn. */
	__atomic_store_n(&vq->used[0], 0, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq_avail(vq) > 0 && vq->kick_fd >= 0) {
		uint64_t one = 1;

		/* Never a blocking write: the front-end shares the descriptor's flags (as for call). */
		if (!(fcntl(vq->kick_fd, F_GETFL) & O_NONBLOCK)) {
			vhost_fail(v, "a kick eventfd was made blocking");
			return;
		}
		if (write(vq->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_debug("vhost %s: self-kick: %m", p->name);
	}
}

/* Walk one receive chain, appending its buffers. Return: 0, -EFAULT/-EPROTO, or -ENOSPC (too many). */
static int rx_collect(struct port_vhost *v, struct vhost_vq *vq, uint16_t head, struct iovec *seg, unsigned *nseg,
		      uint64_t *cap)
{
	uint16_t idx = head;

	for (uint32_t n = 0;; n++) {
		struct vring_desc d;
		uint16_t flags;
		uint32_t len;
		void *dst;

		if (n >= vq->num || idx >= vq->num)
			return -EPROTO;
		if (*nseg == VHOST_RX_SEGS)
			return -ENOSPC;
		memcpy(&d, &vq->desc[idx], sizeof(d));
		flags = le16toh(d.flags);
		len = le32toh(d.len);
		if ((flags & VRING_DESC_F_INDIRECT) || !(flags & VRING_DESC_F_WRITE))
			return -EPROTO;
		dst = translate(v, le64toh(d.addr), len, false);
		if (!dst)
			return -EFAULT;
		seg[(*nseg)++] = (struct iovec){ dst, len };
		*cap += len;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		idx = le16toh(d.next);
	}
}

static int vhost_output(struct port *p, const struct frame *f)
{
	struct port_vhost *v = (struct port_vhost *)p;
	struct vhost_vq *vq = &v->vq[VHOST_RXQ];
	bool mrg = v->features & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	uint32_t hl = hdr_len(v), need = hl + f->len;
	uint64_t cap = 0, heads_cap[VHOST_RX_SEGS]; /* 64 buffers of up to 4 GiB each: no wrap */
	uint16_t heads[VHOST_RX_SEGS];
	struct iovec seg[VHOST_RX_SEGS];
	unsigned nseg = 0, nheads = 0;
	uint8_t hdr[VHOST_NET_HDR] = { 0 };
	int avail;

	if (!vq_ready(vq) || p->broken)
		return -ENOBUFS;
	avail = vq_avail(vq);
	if (avail < 0) {
		vhost_fail(v, "the guest's receive index is impossible");
		return -ENOBUFS;
	}
	while (cap < need) {
		uint64_t before = cap;
		int r;

		if ((int)nheads == avail || (!mrg && nheads == 1) || nheads == VHOST_RX_SEGS)
			return -ENOBUFS; /* not enough buffers: the frame is dropped, none taken */
		heads[nheads] = vq_head(vq, (uint16_t)nheads);
		r = rx_collect(v, vq, heads[nheads], seg, &nseg, &cap);
		if (r == -ENOSPC)
			return -ENOBUFS;
		if (r < 0) {
			vhost_fail(v, r == -EFAULT ? "a receive descriptor points outside guest memory"
						   : "a receive descriptor chain is malformed");
			return -ENOBUFS;
		}
		heads_cap[nheads++] = cap - before;
	}
	/* The frame's offload metadata (zero for a guest without offloads: the switch made it plain). */
	if (p->offload || (v->features & (1ull << VIRTIO_NET_F_GUEST_CSUM)))
		memcpy(hdr, &f->vnet, VHOST_NET_HDR_LEGACY);
	/* virtio 1.1 §5.1.6.4: num_buffers (little endian) says how many heads this frame used
	 * (not sent with the legacy 10-byte header, which only MRG_RXBUF-less front-ends use). */
	hdr[10] = (uint8_t)nheads;
	hdr[11] = (uint8_t)(nheads >> 8);
	{
		const uint8_t *src[2] = { hdr, f->data };
		uint32_t left[2] = { hl, f->len }, h = 0;
		unsigned s = 0, i = 0;
		size_t off = 0;

		while (i < 2 && s < nseg) {
			size_t k = seg[s].iov_len - off < left[i] ? seg[s].iov_len - off : left[i];

			memcpy((uint8_t *)seg[s].iov_base + off, src[i], k);
			src[i] += k;
			left[i] -= (uint32_t)k;
			off += k;
			if (!left[i])
				i++;
			if (off == seg[s].iov_len) {
				s++;
				off = 0;
			}
		}
		/* Used lengths per head: fill heads in order up to their capacity. */
		for (uint32_t written = need; h < nheads; h++) {
			uint32_t len = written < heads_cap[h] ? written : (uint32_t)heads_cap[h];

			vq_push_used(vq, heads[h], len);
			written -= len;
		}
	}
	vq->last_avail = (uint16_t)(vq->last_avail + nheads);
	return 0;
}

static void vhost_flush(struct port *p)
{
	struct port_vhost *v = (struct port_vhost *)p;

	vq_publish(&v->vq[VHOST_RXQ]);
	if (v->vq[VHOST_RXQ].call_broken || v->vq[VHOST_TXQ].call_broken)
		vhost_fail(v, "a call eventfd was made blocking");
}

static void vq_kick(struct loop_src *s, uint32_t events)
{
	struct port_vhost *v = s->obj;

	/* Edge-triggered and never read: every kick is an edge, and a blocking read
	 * of a descriptor the front-end shares could stall vmnetd. */
	vq_tx_drain(v);
	if (v->base.net)
		switch_flush(v->base.net);
}

/* ---- queue setup ---- */

static void vq_stop(struct vhost_vq *vq)
{
	/* Only a source that was added is deleted: an unused one (zeroed: fd 0, not
	 * dead) would take whatever descriptor 0 is out of the event loop. */
	if (vq->kick_watched)
		loop_del(&vq->src);
	vq->kick_watched = false;
	if (vq->kick_fd >= 0)
		close(vq->kick_fd);
	vq->kick_fd = -1;
	vq->started = false;
}

/* Forget a queue (RESET_OWNER, teardown). Its loop source survives the reset: a kick
 * already fetched in this event batch must still find it dead (loop_del), not zeroed. */
static void vq_reset(struct vhost_vq *vq)
{
	struct loop_src src;

	vq_stop(vq);
	if (vq->call_fd >= 0)
		close(vq->call_fd);
	src = vq->src;
	memset(vq, 0, sizeof(*vq));
	vq->src = src;
	vq->kick_fd = vq->call_fd = -1;
}

/* Start a queue once its kick arrived: read the guest's used index as ours. Return: 0 or -errno. */
static int vq_start(struct port_vhost *v, unsigned q, int fd)
{
	struct vhost_vq *vq = &v->vq[q];

	vq_stop(vq);
	vq->kick_fd = fd;
	if (vq_translate(v, vq) < 0 || !vq->desc)
		return -EFAULT;
	vq->used_idx = ld16(&vq->used[1]);
	vq->started = true;
	if (!(v->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		vq->enabled = true; /* without protocol features a queue runs once kicked */
	if (q == VHOST_TXQ) {
		int r;

		vq->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = v, .cb = vq_kick };
		r = loop_add(&vq->src, EPOLLIN | EPOLLET);
		vq->kick_watched = r == 0;
		return r;
	}
	return 0; /* receive kicks only say "more buffers": we look when a frame comes */
}

/* ---- the vhost-user protocol ---- */

static int reply_u64(struct port_vhost *v, const struct vhost_msg_hdr *h, uint64_t val)
{
	struct {
		struct vhost_msg_hdr h;
		uint64_t val;
	} __attribute__((packed)) m = { { h->request, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, 8 }, htole64(val) };

	return send(v->fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(m) ? 0 : -EIO;
}

static int reply_state(struct port_vhost *v, const struct vhost_msg_hdr *h, uint32_t index, uint32_t num)
{
	struct {
		struct vhost_msg_hdr h;
		struct vhost_vring_state s;
	} __attribute__((packed)) m = { { h->request, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, 8 },
					 { htole32(index), htole32(num) } };

	return send(v->fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(m) ? 0 : -EIO;
}

static int set_mem_table(struct port_vhost *v, const uint8_t *pl, uint32_t size, int *fds, int nfds)
{
	struct vhost_mem m;
	uint32_t n;
	int r;

	memset(&m, 0, sizeof(m));
	if (size < 8 || size > sizeof(m))
		return -EPROTO;
	memcpy(&m, pl, size);
	n = le32toh(m.nregions);
	if (!n || n > VHOST_MAX_REGIONS || size < 8 + 32 * n || (uint32_t)nfds != n)
		return -EPROTO;
	for (unsigned q = 0; q < 2; q++)
		v->vq[q].desc = NULL; /* the old mapping goes */
	unmap_regions(v);
	for (uint32_t i = 0; i < n; i++) {
		r = map_region(&v->regions[i], &m.r[i], fds[i]);
		if (r < 0) {
			unmap_regions(v);
			return r == -EPERM ? -EPERM : -EFAULT;
		}
		v->nregions = i + 1;
	}
	for (unsigned q = 0; q < 2; q++)
		if (vq_translate(v, &v->vq[q]) < 0)
			return -EFAULT;
	return 0;
}

/* Which queue a message names. Return: the index, or -1. */
static int queue_of(uint64_t v)
{
	return (v & VHOST_USER_VRING_IDX_MASK) < 2 ? (int)(v & VHOST_USER_VRING_IDX_MASK) : -1;
}

/* Handle one message. Return: 0, or why the front-end must go. */
static const char *vhost_handle(struct port_vhost *v, const struct vhost_msg_hdr *h, const uint8_t *pl, int *fds,
				int nfds)
{
	struct vhost_vring_state st = { 0 };
	struct vhost_vring_addr a;
	uint64_t u = 0;
	int q, r;

	if (h->size >= 8)
		memcpy(&u, pl, 8), u = le64toh(u), memcpy(&st, pl, 8);
	st.index = le32toh(st.index);
	st.num = le32toh(st.num);
	switch (h->request) {
	case VHOST_USER_GET_FEATURES:
		return reply_u64(v, h, VHOST_FEATURES) < 0 ? "cannot reply" : NULL;
	case VHOST_USER_SET_FEATURES:
		if (h->size != 8 || (u & ~VHOST_FEATURES))
			return "features we did not offer";
		v->features = u;
		/* Offloads as negotiated: sending them needs CSUM; taking super-frames needs GUEST_CSUM and
		 * both GUEST_TSOs (else the switch gives this guest plain frames). */
		v->base.offload_src = u & (1ull << VIRTIO_NET_F_CSUM);
		v->base.offload = (u & (1ull << VIRTIO_NET_F_GUEST_CSUM)) && (u & (1ull << VIRTIO_NET_F_GUEST_TSO4)) &&
				  (u & (1ull << VIRTIO_NET_F_GUEST_TSO6));
		log_info("vhost %s: features 0x%llx: the guest %s offloaded frames and %s them", v->base.name,
			 (unsigned long long)u, v->base.offload_src ? "sends" : "does not send",
			 v->base.offload ? "takes" : "does not take");
		return NULL;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return reply_u64(v, h, VHOST_PROTOCOL_FEATURES) < 0 ? "cannot reply" : NULL;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (h->size != 8 || (u & ~VHOST_PROTOCOL_FEATURES))
			return "protocol features we did not offer";
		v->protocol_features = u;
		return NULL;
	case VHOST_USER_GET_QUEUE_NUM:
		return reply_u64(v, h, 1) < 0 ? "cannot reply" : NULL;
	case VHOST_USER_SET_OWNER:
		return NULL;
	case VHOST_USER_RESET_OWNER:
		vq_reset(&v->vq[0]);
		vq_reset(&v->vq[1]);
		return NULL;
	case VHOST_USER_SET_MEM_TABLE:
		r = set_mem_table(v, pl, h->size, fds, nfds);
		for (int i = 0; i < nfds; i++) /* mapped: the descriptors are no longer needed */
			close(fds[i]), fds[i] = -1;
		return r == -EPERM ? "guest memory is not a sealed memfd (use memory-backend-memfd)"
		       : r < 0     ? "bad memory table"
				   : NULL;
	case VHOST_USER_SET_VRING_NUM:
		if (h->size != 8 || st.index > 1 || !st.num || st.num > VHOST_MAX_QUEUE || (st.num & (st.num - 1)))
			return "bad queue size";
		v->vq[st.index].num = st.num;
		v->vq[st.index].desc = NULL;
		return NULL;
	case VHOST_USER_SET_VRING_ADDR:
		if (h->size != sizeof(a))
			return "bad queue address message";
		memcpy(&a, pl, sizeof(a));
		q = le32toh(a.index) < 2 ? (int)le32toh(a.index) : -1;
		if (q < 0)
			return "bad queue index";
		v->vq[q].desc_uva = le64toh(a.desc);
		v->vq[q].avail_uva = le64toh(a.avail);
		v->vq[q].used_uva = le64toh(a.used);
		v->vq[q].has_addr = true;
		return vq_translate(v, &v->vq[q]) < 0 ? "queue outside guest memory" : NULL;
	case VHOST_USER_SET_VRING_BASE:
		if (h->size != 8 || st.index > 1 || st.num > 0xffff)
			return "bad queue base";
		v->vq[st.index].last_avail = (uint16_t)st.num;
		return NULL;
	case VHOST_USER_GET_VRING_BASE:
		if (h->size != 8 || st.index > 1)
			return "bad queue index";
		vq_publish(&v->vq[st.index]);
		vq_stop(&v->vq[st.index]);
		return reply_state(v, h, st.index, v->vq[st.index].last_avail) < 0 ? "cannot reply" : NULL;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		q = queue_of(u);
		if (h->size != 8 || q < 0 || ((u & VHOST_USER_VRING_NOFD) ? nfds != 0 : nfds != 1))
			return "bad queue descriptor message";
		if (nfds && !is_eventfd(fds[0]))
			return "a queue descriptor that is not an eventfd";
		if (u & VHOST_USER_VRING_NOFD)
			return h->request == VHOST_USER_SET_VRING_KICK ? "polling queues are not supported" : NULL;
		if (h->request == VHOST_USER_SET_VRING_KICK) {
			r = vq_start(v, (unsigned)q, fds[0]);
			fds[0] = -1;
			return r < 0 ? "cannot start a queue (rings outside guest memory?)" : NULL;
		}
		if (h->request == VHOST_USER_SET_VRING_CALL) {
			if (v->vq[q].call_fd >= 0)
				close(v->vq[q].call_fd);
			v->vq[q].call_fd = fds[0];
			fds[0] = -1;
		}
		return NULL;
	case VHOST_USER_SET_VRING_ENABLE:
		if (h->size != 8 || st.index > 1)
			return "bad queue index";
		v->vq[st.index].enabled = st.num != 0;
		return NULL;
	default:
		return "unsupported request";
	}
}

/* Read and handle the messages waiting on the socket. */
static void vhost_control(struct loop_src *s, uint32_t events)
{
	struct port_vhost *v = s->obj;

	for (int round = 0; round < 16 && !v->base.broken; round++) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VHOST_MAX_REGIONS)];
			struct cmsghdr align;
		} cm;
		struct vhost_msg_hdr h = { 0 }; /* named in the log line even when nothing came */
		uint8_t pl[VHOST_MAX_PAYLOAD];
		struct iovec iov = { &h, sizeof(h) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
		int fds[VHOST_MAX_REGIONS], nfds = 0;
		const char *why = NULL;
		ssize_t n = recvmsg(v->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

				for (int i = 0; i < k; i++) {
					int fd;

					memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
					if (nfds < VHOST_MAX_REGIONS)
						fds[nfds++] = fd;
					else
						close(fd);
				}
			}
		if (n == 0) {
			log_info("vhost %s: front-end disconnected", v->base.name);
			port_mark_broken(&v->base);
		} else if (n < 0) {
			why = "receive error";
		} else if (n != sizeof(h) || m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
			why = "short or truncated message";
		} else if ((h.flags & 3) != VHOST_USER_VERSION || h.size > sizeof(pl)) {
			why = "bad message header";
		} else if (h.size && recv(v->fd, pl, h.size, MSG_DONTWAIT) != (ssize_t)h.size) {
			why = "message payload missing";
		} else {
			log_debug("vhost %s: request %u, %u bytes, %d fds", v->base.name, h.request, h.size, nfds);
			why = vhost_handle(v, &h, pl, fds, nfds);
		}
		for (int i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (why) {
			char b[96];

			snprintf(b, sizeof(b), "%s (request %u)", why, h.request);
			vhost_fail(v, b);
		}
	}
}

static void vhost_destroy(struct port *p)
{
	struct port_vhost *v = (struct port_vhost *)p;

	if (v->listener) {
		struct port_vhost **pp;

		for (pp = &v->listener->conns; *pp; pp = &(*pp)->next)
			if (*pp == v) {
				*pp = v->next;
				v->listener->nconns--;
				break;
			}
	}
	vq_reset(&v->vq[0]);
	vq_reset(&v->vq[1]);
	unmap_regions(v);
	loop_del(&v->src);
	close(v->fd);
	loop_defer_free(v);
}

static const struct port_ops vhost_ops = {
	.kind = "vhost",
	.output = vhost_output,
	.flush = vhost_flush,
	.destroy = vhost_destroy,
};

/* ---- listening attachments ---- */

static void vhost_accept(struct loop_src *s, uint32_t events)
{
	struct vhost_listener *l = s->obj;
	struct network *net = l->base.net;
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct port_vhost *v;

	if (fd < 0)
		return;
	if (l->nconns >= VHOST_MAX_CONNS || !(v = calloc(1, sizeof(*v)))) {
		log_warn("vhost %s: connection refused (%u front-ends connected)", l->base.name, l->nconns);
		close(fd);
		return;
	}
	v->fd = fd;
	v->vq[0].kick_fd = v->vq[0].call_fd = v->vq[1].kick_fd = v->vq[1].call_fd = -1;
	v->base.ops = &vhost_ops;
	v->base.max_frame = net->mtu + 14 < VHOST_MAX_FRAME ? net->mtu + 14 : VHOST_MAX_FRAME;
	v->base.owner = l->base.owner;
	v->base.isolated = l->base.isolated;
	snprintf(v->base.name, sizeof(v->base.name), "%.30s.%u", l->base.name, ++l->seq);
	v->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = v, .cb = vhost_control };
	if (network_add_port(net, &v->base) < 0) {
		close(fd);
		free(v);
		return;
	}
	if (loop_add(&v->src, EPOLLIN) < 0) {
		network_remove_port(&v->base);
		return;
	}
	v->listener = l;
	v->next = l->conns;
	l->conns = v;
	l->nconns++;
	log_info("vhost %s: front-end connected: port %u (%s) on network %s", l->base.name, v->base.id, v->base.name,
		 net->name);
}

static void vhost_listen_destroy(struct port *p)
{
	struct vhost_listener *l = (struct vhost_listener *)p;

	loop_del(&l->src);
	close(l->fd);
	sockfile_remove(&l->sf);
	for (struct port_vhost *v = l->conns; v; v = v->next) {
		v->listener = NULL;
		port_mark_broken(&v->base);
	}
	l->conns = NULL;
	loop_defer_free(l);
}

static const struct port_ops vhost_listen_ops = {
	.kind = "vhost",
	.output = NULL, /* the front-ends' ports carry the frames */
	.flush = NULL,
	.destroy = vhost_listen_destroy,
};

int port_vhost_listen_new(int fd, struct sockfile *sf, const char *name, struct port **out)
{
	struct vhost_listener *l = calloc(1, sizeof(*l));

	if (!l) {
		close(fd);
		sockfile_remove(sf);
		return -ENOMEM;
	}
	l->fd = fd;
	l->sf = *sf;
	sf->dirfd = -1;
	l->base.ops = &vhost_listen_ops;
	snprintf(l->base.name, sizeof(l->base.name), "%s", name);
	l->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = l, .cb = vhost_accept };
	*out = &l->base;
	return 0;
}

int port_vhost_start(struct port *p)
{
	return loop_add(&((struct vhost_listener *)p)->src, EPOLLIN);
}

bool port_is_vhost(const struct port *p)
{
	return p->ops == &vhost_ops || p->ops == &vhost_listen_ops;
}
