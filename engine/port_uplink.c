/*
 * port_uplink.c — a host interface as the uplink of a bridged network.
 *
 * Theory of operation. One AF_PACKET socket bound to the interface, in
 * promiscuous mode, sees every frame on its LAN. Receive goes through a
 * TPACKET_V3 ring shared with the kernel: the kernel fills blocks of frames,
 * we walk each ready block once and hand it back, so a busy LAN costs one
 * wakeup per block instead of one syscall per frame. The switch delivers only
 * the frames meant for guests (their MACs, broadcast, multicast); the LAN's
 * MACs are never learned (see port.h: uplink). Frames the host itself sends
 * on the interface (PACKET_OUTGOING) are seen too, so a guest hears the
 * host's broadcasts; frames we send are not looped back to us by the kernel.
 *
 * Offloads. The socket speaks the virtio-net header (PACKET_VNET_HDR): the
 * kernel puts one before every frame it hands over and reads one before
 * every frame we send. A TCP "super-frame" of up to 64 KiB (GRO on the
 * interface, GSO from a local sender or a veth peer) and a frame whose
 * TCP/UDP checksum is not yet computed (the host's own outgoing traffic,
 * veth peers) therefore cross the switch whole, with that metadata
 * (engine/offload.h): a guest tap with offloads takes them as they are, any
 * other port gets them cut and completed by the switch. Frames the guests
 * send the same way go out as super-frames, and the kernel (or the NIC)
 * segments them.
 *
 * Transmit is batched: output() copies frames (a ring port's frame lives in
 * client memory) into a queue of up to UPLINK_TXQ frames and UPLINK_TXQ_BYTES
 * bytes, and flush() sends them with one sendmmsg(); a queue that fills up is
 * sent at once. A full device queue or a down link drops and counts; the
 * switch never waits. The interface going down is noticed by ENETDOWN on send
 * and by the link flag read once a second by the daemon; nothing needs to be
 * redone when it comes back. A removed interface (ENODEV/ENXIO) breaks the
 * port, and the daemon detaches it.
 *
 * Promiscuous mode is a membership of the socket (PACKET_MR_PROMISC): the
 * kernel counts it with everyone else's and drops ours when the socket
 * closes, whether vmnetd exits or crashes.
 */
#include "engine/port_uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/csum.h"
#include "common/cursor.h"
#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/offload.h"
#include "engine/switch.h"

#define UPLINK_BLOCK_SIZE (1u << 20) /* 1 MiB blocks */
#define UPLINK_BLOCK_NR 8
#define UPLINK_FRAME_SIZE 2048       /* TPACKET_V3 packs frames; this is only the accounting unit */
#define UPLINK_BLOCK_TIMEOUT_MS 2    /* a partly filled block is handed over after this */
#define UPLINK_TXQ 256
#define UPLINK_TXQ_BYTES (2u << 20)  /* 32 super-frames, or 256 MTU-sized frames; a full queue is sent early */
#define UPLINK_VNET_HDR ((uint32_t)sizeof(struct virtio_net_hdr)) /* 10 bytes: no num_buffers */

struct port_uplink {
	struct port base; /* first */
	struct loop_src src;
	int fd, ifindex;
	uint8_t *ring;
	size_t ring_len;
	unsigned next_block;
	uint32_t mtu;
	bool link_up;
	struct uplink_stats st;
	unsigned txq_len;
	uint32_t txq_used;                   /* bytes of txbuf taken */
	uint32_t txq_off[UPLINK_TXQ], txq_size[UPLINK_TXQ];
	struct virtio_net_hdr txq_vnet[UPLINK_TXQ];
	uint8_t *txbuf;                      /* UPLINK_TXQ_BYTES */
};

static bool link_is_up(int fd, const char *name, uint32_t *mtu)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (mtu && ioctl(fd, SIOCGIFMTU, &ifr) == 0)
		*mtu = (uint32_t)ifr.ifr_mtu;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return false;
	return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
}

/* One ready block: every frame into the switch, then the block back to the kernel. */
static void uplink_block(struct port_uplink *u, struct tpacket_block_desc *bd)
{
	struct tpacket3_hdr *h = (struct tpacket3_hdr *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
	uint32_t n = bd->hdr.bh1.num_pkts;
	const uint8_t *block_end = (const uint8_t *)bd + UPLINK_BLOCK_SIZE;

	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *data = (const uint8_t *)h + h->tp_mac;
		struct frame f = { .data = data, .len = h->tp_snaplen };

		/* The kernel wrote the ring, but check anyway that the frame and the virtio-net
		 * header before it lie in its block. */
		if (data < (const uint8_t *)h + sizeof(*h) + UPLINK_VNET_HDR || data + h->tp_snaplen > block_end)
			break;
		if (h->tp_snaplen == h->tp_len && h->tp_snaplen >= 14) {
			struct virtio_net_hdr vh;

			memcpy(&vh, data - UPLINK_VNET_HDR, sizeof(vh));
			memcpy(&f.vnet, &vh, sizeof(vh)); /* the same first 10 bytes; num_buffers stays 0 */
			u->st.rx_frames++;
			switch_input(u->base.net, &u->base, &f);
		} else {
			u->base.st.rx_errors++; /* truncated: larger than the ring takes */
		}
		if (!h->tp_next_offset)
			break;
		h = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
		if ((const uint8_t *)h >= block_end)
			break;
	}
	__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

static void uplink_readable(struct loop_src *s, uint32_t events)
{
	struct port_uplink *u = s->obj;
	unsigned done = 0;

	if (events & EPOLLERR) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err == ENODEV || err == ENXIO) {
			log_info("uplink %s: the interface is gone; detaching", u->base.name);
			port_mark_broken(&u->base);
			return;
		}
	}
	while (done < UPLINK_BLOCK_NR && u->base.net) {
		struct tpacket_block_desc *bd =
			(struct tpacket_block_desc *)(u->ring + (size_t)u->next_block * UPLINK_BLOCK_SIZE);

		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		uplink_block(u, bd);
		u->next_block = (u->next_block + 1) % UPLINK_BLOCK_NR;
		done++;
	}
	if (u->base.net)
		switch_flush(u->base.net);
}

static void uplink_flush(struct port *p);

static int uplink_output(struct port *p, const struct frame *f)
{
	struct port_uplink *u = (struct port_uplink *)p;
	bool gso = f->vnet.gso_type != VNET_GSO_NONE;

	if ((!gso && f->len > u->mtu + 14 + 4) || f->len > OFFLOAD_MAX_FRAME)
		return -ENOBUFS;
	if (u->txq_len == UPLINK_TXQ || UPLINK_TXQ_BYTES - u->txq_used < f->len)
		uplink_flush(p); /* the queue is full: send what is there now */
	memcpy(u->txbuf + u->txq_used, f->data, f->len);
	memcpy(&u->txq_vnet[u->txq_len], &f->vnet, sizeof(u->txq_vnet[0]));
	u->txq_off[u->txq_len] = u->txq_used;
	u->txq_size[u->txq_len++] = f->len;
	u->txq_used += f->len;
	return 0;
}

static void uplink_flush(struct port *p)
{
	struct port_uplink *u = (struct port_uplink *)p;
	struct mmsghdr msgs[UPLINK_TXQ];
	struct iovec iov[UPLINK_TXQ][2];
	unsigned n = u->txq_len, off = 0;

	u->txq_len = 0;
	u->txq_used = 0;
	for (unsigned i = 0; i < n; i++) {
		iov[i][0] = (struct iovec){ &u->txq_vnet[i], UPLINK_VNET_HDR };
		iov[i][1] = (struct iovec){ u->txbuf + u->txq_off[i], u->txq_size[i] };
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = iov[i];
		msgs[i].msg_hdr.msg_iovlen = 2;
	}
	while (off < n) {
		int r = sendmmsg(u->fd, msgs + off, n - off, MSG_DONTWAIT);

		if (r > 0) {
			u->st.tx_frames += (unsigned)r;
			off += (unsigned)r;
			continue;
		}
		if (r < 0 && (errno == ENODEV || errno == ENXIO)) {
			log_info("uplink %s: the interface is gone; detaching", p->name);
			port_mark_broken(p);
		} else if (r < 0 && errno == ENETDOWN && u->link_up) {
			u->link_up = false;
			u->st.link_downs++;
			log_info("uplink %s: link down; frames are dropped until it comes back", p->name);
		} else if (r < 0 && errno == EINVAL) {
			/* The kernel refused this frame's offload metadata: drop it alone, send the rest. */
			u->st.tx_errors++;
			p->st.tx_drops++;
			off++;
			continue;
		}
		/* EAGAIN (device queue full), ENETDOWN, ENOBUFS: drop the rest of the batch. */
		u->st.tx_errors += n - off;
		p->st.tx_drops += n - off;
		break;
	}
	if (off == n && n && !u->link_up) {
		u->link_up = true;
		log_info("uplink %s: link up", p->name);
	}
}

static void uplink_destroy(struct port *p)
{
	struct port_uplink *u = (struct port_uplink *)p;

	loop_del(&u->src);
	if (u->ring)
		munmap(u->ring, u->ring_len);
	close(u->fd); /* leaves promiscuous mode */
	free(u->txbuf);
	loop_defer_free(u);
}

static const struct port_ops uplink_ops = {
	.kind = "uplink",
	.output = uplink_output,
	.flush = uplink_flush,
	.destroy = uplink_destroy,
};

static int uplink_setup(struct port_uplink *u)
{
	struct tpacket_req3 req;
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	int v = TPACKET_V3, one = 1;

	if (setsockopt(u->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
		return -errno;
	/* Before the ring: the kernel refuses it on a socket that has one. */
	if (setsockopt(u->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = UPLINK_BLOCK_SIZE;
	req.tp_block_nr = UPLINK_BLOCK_NR;
	req.tp_frame_size = UPLINK_FRAME_SIZE;
	req.tp_frame_nr = UPLINK_BLOCK_SIZE / UPLINK_FRAME_SIZE * UPLINK_BLOCK_NR;
	req.tp_retire_blk_tov = UPLINK_BLOCK_TIMEOUT_MS;
	if (setsockopt(u->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		return -errno;
	u->ring_len = (size_t)UPLINK_BLOCK_SIZE * UPLINK_BLOCK_NR;
	u->ring = mmap(NULL, u->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, u->fd, 0);
	if (u->ring == MAP_FAILED) {
		u->ring = NULL;
		return -errno;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = u->ifindex;
	if (bind(u->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = u->ifindex;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(u->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		return -errno;
	return 0;
}

int port_uplink_new(const char *ifname, struct port_uplink **out)
{
	struct port_uplink *u;
	int r;

	if (strlen(ifname) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->txbuf = malloc(UPLINK_TXQ_BYTES);
	u->ifindex = (int)if_nametoindex(ifname);
	u->fd = u->ifindex ? socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)) : -1;
	if (!u->txbuf || !u->ifindex || u->fd < 0) {
		r = !u->txbuf ? -ENOMEM : !u->ifindex ? -ENODEV : -errno;
		free(u->txbuf);
		free(u);
		return r;
	}
	snprintf(u->base.name, sizeof(u->base.name), "%s", ifname);
	if ((r = uplink_setup(u)) < 0) {
		if (u->ring)
			munmap(u->ring, u->ring_len);
		close(u->fd);
		free(u->txbuf);
		free(u);
		return r;
	}
	u->link_up = link_is_up(u->fd, ifname, &u->mtu);
	if (!u->mtu)
		u->mtu = 1500;
	u->base.ops = &uplink_ops;
	u->base.uplink = true;
	u->base.host_side = true; /* not a guest: isolation lets guests reach it, and it does not keep the network */
	u->base.max_frame = u->mtu + 14 + 4;
	u->base.offload = true;
	u->src = (struct loop_src){ .type = EV_CALLBACK, .fd = u->fd, .obj = u, .cb = uplink_readable };
	if ((r = loop_add(&u->src, EPOLLIN)) < 0) {
		munmap(u->ring, u->ring_len);
		close(u->fd);
		free(u->txbuf);
		free(u);
		return r;
	}
	*out = u;
	return 0;
}

struct port *port_uplink_port(struct port_uplink *u)
{
	return &u->base;
}

uint32_t port_uplink_mtu(const struct port_uplink *u)
{
	return u->mtu;
}

void port_uplink_stats(struct port_uplink *u, struct uplink_stats *st)
{
	struct tpacket_stats_v3 ks;
	socklen_t len = sizeof(ks);

	if (getsockopt(u->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
		u->st.rx_ring_drops += ks.tp_drops; /* the kernel resets its counters on read */
	*st = u->st;
	st->link_up = link_is_up(u->fd, u->base.name, NULL);
}
