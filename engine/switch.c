/*
 * switch.c — MAC learning, forwarding and flooding for one network.
 *
 * Theory of operation: every frame entering from a port teaches the
 * forwarding table (fdb) where its source MAC lives. A unicast frame to a
 * known MAC goes to that one port; broadcast, multicast and unknown unicast
 * are flooded to every other port. A frame is never sent back to the port it
 * came from. An isolated port reaches no other guest port (only the host side
 * and services). A frame larger than a receiving port's max_frame is
 * dropped for that port and counted.
 *
 * Offloads (engine/offload.h): a frame may carry virtio-net metadata (a
 * partial checksum, a TCP super-frame) when its port may make them
 * (offload_src); it is checked once on input. A receiving port with offloads gets it whole (a
 * super-frame may exceed that port's max_frame); any other port gets it made
 * plain: checksum finished, super-frame cut to the network's MTU.
 *
 * The fdb is a fixed array (no allocation per packet): open addressing with a
 * probe window of FDB_PROBE slots; when the window is full the oldest entry
 * is replaced; entries age out after FDB_AGE_SEC.
 */
#include "engine/switch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/offload.h"

#define FDB_PROBE 8
_Static_assert((FDB_SIZE & (FDB_SIZE - 1)) == 0, "FDB_SIZE must be a power of two");

struct fdb_entry {
	uint8_t mac[6];
	struct port *port; /* NULL = empty */
	uint64_t seen;
};

struct fdb {
	struct fdb_entry e[FDB_SIZE];
};

struct fdb *fdb_new(void)
{
	return calloc(1, sizeof(struct fdb));
}

void fdb_free(struct fdb *t)
{
	free(t);
}

static uint32_t mac_hash(const uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 6; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h;
}

void fdb_forget_port(struct fdb *t, const struct port *p)
{
	for (size_t i = 0; i < FDB_SIZE; i++)
		if (t->e[i].port == p)
			t->e[i].port = NULL;
}

struct port *fdb_lookup(struct fdb *t, const uint8_t mac[6], uint64_t now_sec)
{
	uint32_t h = mac_hash(mac);

	for (uint32_t i = 0; i < FDB_PROBE; i++) {
		struct fdb_entry *e = &t->e[(h + i) & (FDB_SIZE - 1)];

		if (e->port && !memcmp(e->mac, mac, 6)) {
			if (now_sec - e->seen > FDB_AGE_SEC) {
				e->port = NULL;
				return NULL;
			}
			return e->port;
		}
	}
	return NULL;
}

void fdb_learn(struct fdb *t, const uint8_t mac[6], struct port *p, uint64_t now_sec)
{
	uint32_t h = mac_hash(mac);
	struct fdb_entry *victim = NULL;

	for (uint32_t i = 0; i < FDB_PROBE; i++) {
		struct fdb_entry *e = &t->e[(h + i) & (FDB_SIZE - 1)];

		if (e->port && !memcmp(e->mac, mac, 6)) {
			e->port = p;
			e->seen = now_sec;
			return;
		}
		if (!e->port) {
			if (!victim || victim->port)
				victim = e;
		} else if (!victim || (victim->port && e->seen < victim->seen)) {
			victim = e;
		}
	}
	memcpy(victim->mac, mac, 6);
	victim->port = p;
	victim->seen = now_sec;
}

static void deliver_one(struct network *net, struct port *dst, const struct frame *f)
{
	if (dst->ops->output(dst, f) < 0) {
		dst->st.tx_drops++;
		return;
	}
	dst->st.tx_frames++;
	dst->st.tx_bytes += f->len;
	if (!dst->dirty) {
		dst->dirty = true;
		dst->flush_next = net->flush_list;
		net->flush_list = dst;
	}
}

struct plain_ctx {
	struct network *net;
	struct port *dst;
};

static void deliver_plain(void *c, const struct frame *f)
{
	struct plain_ctx *pc = c;

	if (f->len > pc->dst->max_frame) {
		pc->dst->st.tx_drops++;
		return;
	}
	deliver_one(pc->net, pc->dst, f);
}

/*
 * Hand one frame to one port, respecting isolation and the port's size limit.
 * A port without offloads gets offloaded frames made plain (engine/offload.c);
 * a port with them takes super-frames up to OFFLOAD_MAX_FRAME.
 */
static void deliver(struct network *net, struct port *src, struct port *dst, const struct frame *f)
{
	if (!dst->ops->output)
		return; /* a listening attachment: its connections are the ports */
	if ((src->isolated || dst->isolated) && !src->host_side && !dst->host_side)
		return;
	if ((!dst->offload && frame_needs_resolve(f)) || frame_is_uso(f)) {
		struct plain_ctx pc = { net, dst };

		if (offload_resolve(f, net->mtu ? net->mtu : 1500, deliver_plain, &pc) < 0)
			dst->st.tx_drops++;
		return;
	}
	if (f->len > dst->max_frame && !(dst->offload && f->vnet.gso_type != VNET_GSO_NONE)) {
		dst->st.tx_drops++;
		return;
	}
	if (!dst->offload && f->vnet.flags) {
		struct frame g = *f; /* DATA_VALID alone: nothing to do, but a plain port sees no header */

		memset(&g.vnet, 0, sizeof(g.vnet));
		deliver_one(net, dst, &g);
		return;
	}
	deliver_one(net, dst, f);
}

void switch_input(struct network *net, struct port *src, const struct frame *f)
{
	uint8_t dmac[6], smac[6]; /* read once: f->data may be shared memory */
	struct port *dst;

	/* Offload metadata only from ports that have offloads, and then well-formed. */
	if (f->len < 14 || (src->offload_src ? offload_check(f) < 0 : frame_needs_resolve(f))) {
		src->st.rx_errors++;
		return;
	}
	memcpy(dmac, f->data, 6);
	memcpy(smac, f->data + 6, 6);
	src->st.rx_frames++;
	src->st.rx_bytes += f->len;
	net->input_port = src;
	if (!(smac[0] & 1) && !src->uplink)
		fdb_learn(net->fdb, smac, src, engine_now_sec);
	if (!(dmac[0] & 1)) {
		dst = fdb_lookup(net->fdb, dmac, engine_now_sec);
		if (dst) {
			if (dst != src)
				deliver(net, src, dst, f);
			return;
		}
		if (src->uplink) {
			net->unknown_drops++; /* the LAN's own traffic: not for our guests */
			return;
		}
	}
	net->flood_frames++;
	for (dst = net->ports; dst; dst = dst->next)
		if (dst != src)
			deliver(net, src, dst, f);
}

void switch_flush(struct network *net)
{
	/* A flush may feed frames back in (the gateway's replies), dirtying ports
	 * again: go on until nothing is left. Replies never trigger replies, so
	 * this ends after a round or two. */
	for (int round = 0; net->flush_list && round < 4; round++) {
		struct port *p = net->flush_list;

		net->flush_list = NULL;
		while (p) {
			struct port *next = p->flush_next;

			p->dirty = false;
			p->flush_next = NULL;
			if (p->ops->flush)
				p->ops->flush(p);
			p = next;
		}
	}
}
