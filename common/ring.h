/*
 * ring.h — the shared-memory frame rings between libvmnet and vmnetd.
 *
 * Theory of operation
 * -------------------
 * Each interface has one memfd holding a small header page and two
 * single-producer/single-consumer rings of fixed-size slots:
 *
 *   TX  client -> network   (producer: libvmnet, consumer: vmnetd)
 *   RX  network -> client   (producer: vmnetd,   consumer: libvmnet)
 *
 * A slot is a struct ring_rec (frame length + the 12-byte virtio-net header
 * fields, so offloads need no format change) followed by the frame bytes.
 * Indices are free-running 32-bit counters; slot = index & (nslots - 1).
 * prod, cons and need_wakeup each sit on their own cache line.
 *
 * Doorbells: one per direction, a pipe (common/util.h). A
 * consumer about to sleep sets need_wakeup, issues a full fence, and re-checks
 * for work; a producer, after publishing, fences and rings only when
 * need_wakeup is set. A
 * busy path therefore makes no syscalls.
 *
 * Trust: vmnetd never trusts the shared memory. It keeps its own copy of the
 * layout (never re-read from the header) and of its own index, validates the
 * peer's index (at most nslots ahead) and every record length, and copies a
 * frame out before looking at it. A client that scribbles on the ring can only
 * lose its own frames or be disconnected.
 */
#ifndef VMNET_COMMON_RING_H
#define VMNET_COMMON_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RING_MAGIC 0x564d4e52u /* "VMNR" */
#define RING_VERSION 1u
#define RING_CACHELINE 64

/* The 12-byte virtio-net header (virtio 1.1 §5.1.6, with num_buffers), little endian. */
struct ring_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));
_Static_assert(sizeof(struct ring_vnet_hdr) == 12, "virtio 1.1 5.1.6");

/* One slot's header; the frame follows at offset sizeof(struct ring_rec). */
struct ring_rec {
	uint32_t len; /* frame bytes, Ethernet header first, no FCS */
	struct ring_vnet_hdr vnet;
};
_Static_assert(sizeof(struct ring_rec) == 16, "ring record header");

/* One direction's control block; the slots follow it. */
struct ring_ctl {
	_Alignas(RING_CACHELINE) _Atomic uint32_t prod;
	_Alignas(RING_CACHELINE) _Atomic uint32_t cons;
	_Alignas(RING_CACHELINE) _Atomic uint32_t need_wakeup;
	/* Packets the producer dropped because the ring was full (informational). */
	_Atomic uint32_t dropped;
};
_Static_assert(sizeof(struct ring_ctl) == 3 * RING_CACHELINE, "ring control block");

/* Page 0 of the memfd, written once by vmnetd. */
struct ring_shm_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t nslots;    /* power of two */
	uint32_t slot_size; /* bytes per slot incl. struct ring_rec, multiple of 64 */
	uint64_t tx_off;    /* offset of the TX struct ring_ctl */
	uint64_t rx_off;    /* offset of the RX struct ring_ctl */
	uint64_t total;     /* size of the memfd */
};

enum ring_dir { RING_TX = 0, RING_RX = 1 };

/* Geometry, computed by both sides from nslots and the largest frame. */
struct ring_layout {
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t max_frame; /* slot_size - sizeof(struct ring_rec) */
	uint64_t tx_off, rx_off, total;
};

/* A process's private view of one direction. Its index is never re-read from shared memory. */
struct ring {
	struct ring_ctl *ctl;
	uint8_t *slots;
	uint32_t nslots;
	uint32_t mask;
	uint32_t slot_size;
	uint32_t max_frame;
	uint32_t prod; /* producer: next index to fill (private copy) */
	uint32_t cons; /* consumer: next index to read (private copy) */
};

/* Compute a layout for nslots (power of two, 2..65536) slots holding frames up to max_frame bytes.
 * Return: 0, or -EINVAL for an impossible geometry. */
int ring_layout_init(struct ring_layout *l, uint32_t nslots, uint32_t max_frame);

/* Create a memfd sized and initialised for l. Return: the fd, or -errno. */
int ring_memfd_create(const struct ring_layout *l, const char *name);

/* Map fd (size l->total) shared read/write. Return: the mapping, or NULL (errno set). */
void *ring_map(int fd, const struct ring_layout *l);
void ring_unmap(void *base, const struct ring_layout *l);

/* Check a received mapping's header against the layout we were told. Return: 0 or -EPROTO. */
int ring_shm_check(const void *base, const struct ring_layout *l);

/* Bind a private view of direction dir in a mapping. */
void ring_attach(struct ring *r, void *base, const struct ring_layout *l, enum ring_dir dir);

static inline struct ring_rec *ring_slot(const struct ring *r, uint32_t idx)
{
	return (struct ring_rec *)(void *)(r->slots + (size_t)(idx & r->mask) * r->slot_size);
}

static inline uint8_t *ring_rec_data(struct ring_rec *rec)
{
	return (uint8_t *)(rec + 1);
}

/* ---- producer side ---- */

/* Free slots, or -EPROTO when the consumer's index is impossible (corrupt peer). */
static inline int ring_prod_space(struct ring *r)
{
	uint32_t cons = atomic_load_explicit(&r->ctl->cons, memory_order_acquire);
	uint32_t used = r->prod - cons;

	if (used > r->nslots)
		return -71; /* -EPROTO */
	return (int)(r->nslots - used);
}

/* Make n filled slots visible to the consumer. */
static inline void ring_prod_publish(struct ring *r, uint32_t n)
{
	r->prod += n;
	atomic_store_explicit(&r->ctl->prod, r->prod, memory_order_release);
}

/* After publishing: does the consumer want a doorbell ring? Taking the request
 * (exchange to 0) means one ring per sleep, not one per batch while the
 * consumer is still waking up. */
static inline int ring_prod_need_kick(struct ring *r)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&r->ctl->need_wakeup, memory_order_relaxed))
		return 0;
	return atomic_exchange_explicit(&r->ctl->need_wakeup, 0, memory_order_seq_cst) != 0;
}

/* Fill without publishing (the private index advances; ring_prod_commit() publishes). */
static inline void ring_prod_advance(struct ring *r, uint32_t n)
{
	r->prod += n;
}

/* Publish everything advanced so far. */
static inline void ring_prod_commit(struct ring *r)
{
	atomic_store_explicit(&r->ctl->prod, r->prod, memory_order_release);
}

/* ---- consumer side ---- */

/* Filled slots ready to read, or -EPROTO when the producer's index is impossible. */
static inline int ring_cons_avail(struct ring *r)
{
	uint32_t prod = atomic_load_explicit(&r->ctl->prod, memory_order_acquire);
	uint32_t n = prod - r->cons;

	if (n > r->nslots)
		return -71; /* -EPROTO */
	return (int)n;
}

/* Hand n consumed slots back to the producer. */
static inline void ring_cons_release(struct ring *r, uint32_t n)
{
	r->cons += n;
	atomic_store_explicit(&r->ctl->cons, r->cons, memory_order_release);
}

/* Announce that we are going to sleep on the doorbell.
 * Return: frames available after the announcement; when non-zero, do not sleep
 * (call ring_cons_awake() and consume). */
static inline int ring_cons_prepare_sleep(struct ring *r)
{
	atomic_store_explicit(&r->ctl->need_wakeup, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return ring_cons_avail(r);
}

/* We are awake and polling: producers need not kick. */
static inline void ring_cons_awake(struct ring *r)
{
	atomic_store_explicit(&r->ctl->need_wakeup, 0, memory_order_relaxed);
}

#endif
