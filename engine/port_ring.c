/*
 * port_ring.c — the switch side of a libvmnet interface.
 *
 * vmnetd consumes the TX ring (client -> network) and produces into the RX
 * ring (network -> client); see common/ring.h for the layout and the wakeup
 * protocol. The shared memory is hostile: indices are validated (a corrupt
 * index marks the port broken and the daemon disconnects the client), every
 * record length is checked against the slot size, and each frame is copied
 * into private memory before the switch looks at it.
 *
 * Offloads (the interface's keys, engine/offload.h):
 *  - virtio header: the record's virtio-net header is the client's; it is
 *    passed to the switch (which checks it) and filled in on the way out.
 *  - checksum offload or TSO without the header: the client's TCP/UDP frames
 *    get their checksums from vmnet. Such a frame is copied out of the ring
 *    and given the metadata a NIC driver would attach (offload_infer): a
 *    partial checksum, and for a TCP frame longer than the MTU the segment
 *    size. Receivers with offloads take it as is; others get it finished.
 *  - TSO: super-frames come to the client whole (PORT_RING_TSO_FRAME at
 *    most); without the header their checksums are finished in the slot.
 */
#include "engine/port_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/network.h"
#include "engine/offload.h"
#include "engine/switch.h"

struct port_ring {
	struct port base; /* first: struct port * <-> struct port_ring * */
	struct loop_src src;
	int memfd;
	int kick_tx, kick_rx;               /* our ends of the doorbells */
	int kick_tx_peer, kick_rx_peer;     /* the client's ends, handed over at start */
	void *map;
	struct ring_layout l;
	uint32_t slot_frame; /* what l was made from: the client makes the same layout from it */
	struct ring tx, rx;
	bool rx_published;
	unsigned offloads;  /* PORT_RING_* */
	bool pending;
	struct port_ring *pending_next;
};

static struct port_ring *pending_head;
/* A frame given checksums or segment metadata on its way in (offload_infer). */
static uint8_t infer_buf[PORT_RING_TSO_FRAME];

static int ring_output(struct port *p, const struct frame *f)
{
	struct port_ring *pr = (struct port_ring *)p;
	struct ring_rec *rec;
	int space = ring_prod_space(&pr->rx);

	if (space < 0) {
		log_warn("port %s: client corrupted its RX ring index; disconnecting", p->name);
		port_mark_broken(p);
		return -EPROTO;
	}
	if (space == 0 || f->len > pr->rx.max_frame) {
		/* Informational for the client; the daemon counts in p->st.tx_drops. */
		atomic_fetch_add_explicit(&pr->rx.ctl->dropped, 1, memory_order_relaxed);
		return -ENOBUFS;
	}
	rec = ring_slot(&pr->rx, pr->rx.prod);
	rec->len = f->len;
	memcpy(ring_rec_data(rec), f->data, f->len);
	if (pr->offloads & PORT_RING_VNET_HDR) {
		rec->vnet = f->vnet;
	} else {
		/* No header to carry a partial checksum: finish it (in the slot: only the client sees it). */
		memset(&rec->vnet, 0, sizeof(rec->vnet));
		if ((f->vnet.flags & VNET_F_NEEDS_CSUM) &&
		    offload_finish_csum(ring_rec_data(rec), f->len, f->vnet.csum_start, f->vnet.csum_offset) < 0)
			return -ENOBUFS;
	}
	ring_prod_advance(&pr->rx, 1); /* published once per batch, in ring_flush() */
	pr->rx_published = true;
	return 0;
}

static void ring_flush(struct port *p)
{
	struct port_ring *pr = (struct port_ring *)p;

	if (!pr->rx_published)
		return;
	pr->rx_published = false;
	ring_prod_commit(&pr->rx);
	if (ring_prod_need_kick(&pr->rx) && util_doorbell_ring(pr->kick_rx) < 0)
		log_debug("port %s: kick: %m", p->name);
}

static void pending_remove(struct port_ring *pr)
{
	struct port_ring **pp;

	for (pp = &pending_head; *pp; pp = &(*pp)->pending_next)
		if (*pp == pr) {
			*pp = pr->pending_next;
			break;
		}
	pr->pending = false;
}

static void ring_destroy(struct port *p)
{
	struct port_ring *pr = (struct port_ring *)p;

	if (pr->pending)
		pending_remove(pr);
	loop_del(&pr->src);
	ring_unmap(pr->map, &pr->l);
	if (pr->memfd >= 0)
		close(pr->memfd);
	if (pr->kick_tx >= 0)
		close(pr->kick_tx);
	if (pr->kick_rx >= 0)
		close(pr->kick_rx);
	if (pr->kick_tx_peer >= 0)
		close(pr->kick_tx_peer);
	if (pr->kick_rx_peer >= 0)
		close(pr->kick_rx_peer);
	loop_defer_free(pr);
}

static const struct port_ops ring_ops = {
	.kind = "ring",
	.output = ring_output,
	.flush = ring_flush,
	.destroy = ring_destroy,
};

int port_ring_new(uint32_t max_frame, unsigned offloads, struct port_ring **out)
{
	struct port_ring *pr = calloc(1, sizeof(*pr));
	bool tso = offloads & PORT_RING_TSO;
	int r;

	if (!pr)
		return -ENOMEM;
	pr->memfd = pr->kick_tx = pr->kick_rx = pr->kick_tx_peer = pr->kick_rx_peer = -1;
	pr->base.ops = &ring_ops;
	pr->base.max_frame = max_frame;
	pr->offloads = offloads;
	pr->base.offload = tso; /* super-frames whole; partial checksums finished in ring_output without the header */
	pr->base.offload_src = offloads != 0;
	pr->slot_frame = tso && max_frame < PORT_RING_TSO_FRAME ? PORT_RING_TSO_FRAME : max_frame;
	r = ring_layout_init(&pr->l, tso ? PORT_RING_SLOTS_TSO : PORT_RING_SLOTS, pr->slot_frame);
	if (r < 0)
		goto fail;
	r = ring_memfd_create(&pr->l, "vmnet-ring");
	if (r < 0)
		goto fail;
	pr->memfd = r;
	/* Pipes, not shared eventfds: the client must never control our fd flags. */
	r = util_doorbell_pair_sock(&pr->kick_tx, &pr->kick_tx_peer); /* we read, the client rings (no SIGPIPE) */
	if (r == 0)
		r = util_doorbell_pair(&pr->kick_rx_peer, &pr->kick_rx); /* we ring, the client reads */
	if (r < 0)
		goto fail;
	pr->map = ring_map(pr->memfd, &pr->l);
	if (!pr->map) {
		r = -errno;
		goto fail;
	}
	ring_attach(&pr->tx, pr->map, &pr->l, RING_TX);
	ring_attach(&pr->rx, pr->map, &pr->l, RING_RX);
	/* The daemon sleeps on TX until the client rings. */
	atomic_store(&pr->tx.ctl->need_wakeup, 1);
	pr->src = (struct loop_src){ .type = EV_RING, .fd = pr->kick_tx, .obj = pr };
	*out = pr;
	return 0;
fail:
	pr->src.fd = -1;
	ring_destroy(&pr->base);
	return r;
}

struct port *port_ring_port(struct port_ring *pr)
{
	return &pr->base;
}

struct port_ring *port_ring_from_port(struct port *p)
{
	return p->ops == &ring_ops ? (struct port_ring *)p : NULL;
}

void port_ring_fds(const struct port_ring *pr, int fds[3])
{
	fds[0] = pr->memfd;
	fds[1] = pr->kick_tx_peer;
	fds[2] = pr->kick_rx_peer;
}

void port_ring_handed_over(struct port_ring *pr)
{
	close(pr->kick_tx_peer);
	close(pr->kick_rx_peer);
	pr->kick_tx_peer = pr->kick_rx_peer = -1;
}

uint32_t port_ring_nslots(const struct port_ring *pr)
{
	return pr->l.nslots;
}

uint32_t port_ring_slot_frame(const struct port_ring *pr)
{
	/* Not l.max_frame: that is rounded up to the slot alignment (65584 for a TSO slot), more
	 * than ring_layout_init() takes, so the client could not make the layout from it. */
	return pr->slot_frame;
}

int port_ring_watch(struct port_ring *pr)
{
	return loop_add(&pr->src, EPOLLIN);
}

/* Move up to `budget` frames from TX into the switch. Return: frames moved, or -EPROTO. */
static int ring_drain(struct port_ring *pr, int budget)
{
	struct port *p = &pr->base;
	int avail = ring_cons_avail(&pr->tx), done = 0;

	if (avail < 0)
		return avail;
	while (done < avail && done < budget) {
		struct ring_rec *rec = ring_slot(&pr->tx, pr->tx.cons + (uint32_t)done);
		struct frame f;
		/* Read the length once: the client may change it under us. */
		uint32_t len = __atomic_load_n(&rec->len, __ATOMIC_RELAXED);

		if (len < 14 || len > pr->tx.max_frame || (len > p->max_frame && !(pr->offloads & PORT_RING_TSO))) {
			p->st.rx_errors++;
		} else if (pr->offloads & PORT_RING_VNET_HDR) {
			/* The client's header, checked by the switch. No private copy of the payload:
			 * it goes straight from this slot into the receivers (f.shared). */
			memcpy(&f.vnet, &rec->vnet, sizeof(f.vnet));
			f.vnet.num_buffers = 0;
			f.data = ring_rec_data(rec);
			f.len = len;
			f.shared = true;
			if (len > p->max_frame && f.vnet.gso_type == VNET_GSO_NONE)
				p->st.rx_errors++; /* longer than the MTU and not a super-frame */
			else
				switch_input(p->net, p, &f);
		} else if (pr->offloads & (PORT_RING_CSUM | PORT_RING_TSO) &&
			   (len > p->max_frame || (pr->offloads & PORT_RING_CSUM))) {
			/* vmnet fills in checksums / cuts: a private copy gets the metadata. */
			memcpy(infer_buf, ring_rec_data(rec), len);
			if (offload_infer(infer_buf, len, p->max_frame - 14, &f.vnet) < 0) {
				p->st.rx_errors++;
			} else {
				f.data = infer_buf;
				f.len = len;
				f.shared = false;
				switch_input(p->net, p, &f);
			}
		} else {
			/* No private copy of the payload: it goes straight from this slot
			 * into the receivers (f.shared tells them the bytes may change).
			 * Without offloads whatever the record's virtio-net header holds is ignored. */
			memset(&f.vnet, 0, sizeof(f.vnet));
			f.data = ring_rec_data(rec);
			f.len = len;
			f.shared = true;
			switch_input(p->net, p, &f);
		}
		done++;
	}
	/* The slots are free only once every receiver has copied out of them. */
	if (done)
		ring_cons_release(&pr->tx, (uint32_t)done);
	return done;
}

void port_ring_input(struct port_ring *pr, bool rang)
{
	struct port *p = &pr->base;
	int n;

	if (p->broken)
		return;
	ring_cons_awake(&pr->tx);
	if (rang)
		util_doorbell_drain(pr->kick_tx);
	n = ring_drain(pr, PORT_RING_BUDGET);
	switch_flush(p->net);
	if (n < 0) {
		log_warn("port %s: client corrupted its TX ring index; disconnecting", p->name);
		port_mark_broken(p);
		return;
	}
	if (n < PORT_RING_BUDGET) {
		n = ring_cons_prepare_sleep(&pr->tx);
		if (n == 0)
			return;
		ring_cons_awake(&pr->tx);
	}
	/* More to do: come back after the other ports had their turn. */
	if (!pr->pending) {
		pr->pending = true;
		pr->pending_next = pending_head;
		pending_head = pr;
	}
}

bool port_ring_run_pending(void)
{
	struct port_ring *list = pending_head;

	pending_head = NULL;
	while (list) {
		struct port_ring *pr = list;

		list = pr->pending_next;
		pr->pending = false;
		pr->pending_next = NULL;
		port_ring_input(pr, false);
	}
	return pending_head != NULL;
}
