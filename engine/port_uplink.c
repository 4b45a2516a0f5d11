/*
 * port_uplink.c — a host interface as the uplink of a bridged network.
 *
 * Theory of operation. One AF_PACKET socket bound to the interface, in
 * promiscuous mode, sees every frame on its LAN. Receive is batched with
 * recvmmsg(): one syscall takes up to UPLINK_RXB frames, each into a buffer
 * that holds a 64 KiB super-frame. (A TPACKET_V3 ring saves that syscall but
 * hands a block over only when it is full or its timer expires: sparse
 * traffic such as the ACKs of a guest's upload waited a millisecond or more,
 * and TCP slowed down with it. A TPACKET_V2 ring would need a 64 KiB slot per
 * frame, pinned in the kernel.) The switch delivers only
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

#define UPLINK_RXB 32                /* frames per recvmmsg */
#define UPLINK_RX_BATCHES 4          /* recvmmsg calls per wakeup at most: other ports get their turn */
#define UPLINK_RX_SLOT 65568u        /* OFFLOAD_MAX_FRAME, rounded up */
#define UPLINK_RCVBUF (4 << 20)      /* socket receive buffer: a burst waits here, not dropped */
#define UPLINK_TXQ 256
#define UPLINK_TXQ_BYTES (2u << 20)  /* 32 super-frames, or 256 MTU-sized frames; a full queue is sent early */
#define UPLINK_VNET_HDR ((uint32_t)sizeof(struct virtio_net_hdr)) /* 10 bytes: no num_buffers */

struct port_uplink {
	struct port base; /* first */
	struct loop_src src;
	int fd, ifindex;
	uint8_t *rxbuf;                      /* UPLINK_RXB slots of UPLINK_RX_SLOT bytes */
	struct virtio_net_hdr rx_vnet[UPLINK_RXB];
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

static void uplink_send_error(struct port_uplink *u);

/* Frames are waiting: take them in batches, each into the switch. */
static void uplink_readable(struct loop_src *s, uint32_t events)
{
	struct port_uplink *u = s->obj;
	struct mmsghdr msgs[UPLINK_RXB];
	struct iovec iov[UPLINK_RXB][2];

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
	for (int batch = 0; batch < UPLINK_RX_BATCHES && u->base.net && !u->base.broken; batch++) {
		int n;

		for (unsigned i = 0; i < UPLINK_RXB; i++) {
			iov[i][0] = (struct iovec){ &u->rx_vnet[i], UPLINK_VNET_HDR };
			iov[i][1] = (struct iovec){ u->rxbuf + (size_t)i * UPLINK_RX_SLOT, UPLINK_RX_SLOT };
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = iov[i];
			msgs[i].msg_hdr.msg_iovlen = 2;
		}
		n = recvmmsg(u->fd, msgs, UPLINK_RXB, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == ENODEV || errno == ENXIO || errno == ENETDOWN)
				uplink_send_error(u);
			break;
		}
		for (int i = 0; i < n && u->base.net; i++) {
			uint32_t len = msgs[i].msg_len;
			struct frame f = { .data = iov[i][1].iov_base };

			if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len < UPLINK_VNET_HDR + 14) {
				u->base.st.rx_errors++; /* larger than a slot, or a runt */
				continue;
			}
			f.len = len - UPLINK_VNET_HDR;
			memcpy(&f.vnet, &u->rx_vnet[i], UPLINK_VNET_HDR); /* the same first 10 bytes; num_buffers 0 */
			u->st.rx_frames++;
			switch_input(u->base.net, &u->base, &f);
		}
		if (n < (int)UPLINK_RXB)
			break;
	}
	if (u->base.net)
		switch_flush(u->base.net);
}

static void uplink_flush(struct port *p);
static void uplink_sent(struct port_uplink *u);

/* A super-frame in private memory goes out at once, without a copy into the queue: one
 * sendmsg per 64 KiB costs less than copying it. Return: 0, or -ENOBUFS (dropped, counted). */
static int uplink_send_now(struct port_uplink *u, const struct frame *f)
{
	struct iovec iov[2] = { { (void *)&f->vnet, UPLINK_VNET_HDR }, { (void *)f->data, f->len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	if (u->txq_len)
		uplink_flush(&u->base); /* keep the order of what is queued */
	if (sendmsg(u->fd, &m, MSG_DONTWAIT) < 0) {
		uplink_send_error(u);
		u->st.tx_errors++;
		return -ENOBUFS;
	}
	u->st.tx_frames++;
	uplink_sent(u);
	return 0;
}

static int uplink_output(struct port *p, const struct frame *f)
{
	struct port_uplink *u = (struct port_uplink *)p;
	bool gso = f->vnet.gso_type != VNET_GSO_NONE;

	if ((!gso && f->len > u->mtu + 14 + 4) || f->len > OFFLOAD_MAX_FRAME)
		return -ENOBUFS;
	if (gso && !f->shared)
		return uplink_send_now(u, f);
	if (u->txq_len == UPLINK_TXQ || UPLINK_TXQ_BYTES - u->txq_used < f->len)
		uplink_flush(p); /* the queue is full: send what is there now */
	memcpy(u->txbuf + u->txq_used, f->data, f->len);
	memcpy(&u->txq_vnet[u->txq_len], &f->vnet, sizeof(u->txq_vnet[0]));
	u->txq_off[u->txq_len] = u->txq_used;
	u->txq_size[u->txq_len++] = f->len;
	u->txq_used += f->len;
	return 0;
}

/* A send failed with errno: a removed interface breaks the port, a down link is noted once. */
static void uplink_send_error(struct port_uplink *u)
{
	if (errno == ENODEV || errno == ENXIO) {
		log_info("uplink %s: the interface is gone; detaching", u->base.name);
		port_mark_broken(&u->base);
	} else if (errno == ENETDOWN && u->link_up) {
		u->link_up = false;
		u->st.link_downs++;
		log_info("uplink %s: link down; frames are dropped until it comes back", u->base.name);
	}
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
		if (r < 0 && errno == EINVAL) {
			/* The kernel refused this frame's offload metadata: drop it alone, send the rest. */
			u->st.tx_errors++;
			p->st.tx_drops++;
			off++;
			continue;
		}
		if (r < 0)
			uplink_send_error(u);
		/* EAGAIN (device queue full), ENETDOWN, ENOBUFS: drop the rest of the batch. */
		u->st.tx_errors += n - off;
		p->st.tx_drops += n - off;
		break;
	}
	if (off == n && n)
		uplink_sent(u);
}

/* Frames went out: a link seen down is up again. */
static void uplink_sent(struct port_uplink *u)
{
	if (!u->link_up) {
		u->link_up = true;
		log_info("uplink %s: link up", u->base.name);
	}
}

static void uplink_destroy(struct port *p)
{
	struct port_uplink *u = (struct port_uplink *)p;

	loop_del(&u->src);
	close(u->fd); /* leaves promiscuous mode */
	free(u->txbuf);
	free(u->rxbuf);
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
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	int one = 1, rcvbuf = UPLINK_RCVBUF;

	if (setsockopt(u->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		return -errno;
	/* Beyond net.core.rmem_max as root (SO_RCVBUFFORCE); the default otherwise. */
	if (setsockopt(u->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
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

/* Undo a half-made uplink. */
static void uplink_free(struct port_uplink *u)
{
	if (u->fd >= 0)
		close(u->fd);
	free(u->txbuf);
	free(u->rxbuf);
	free(u);
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
	u->fd = -1;
	u->txbuf = malloc(UPLINK_TXQ_BYTES);
	u->rxbuf = malloc((size_t)UPLINK_RXB * UPLINK_RX_SLOT);
	if (!u->txbuf || !u->rxbuf) {
		uplink_free(u);
		return -ENOMEM;
	}
	u->ifindex = (int)if_nametoindex(ifname);
	if (!u->ifindex) {
		uplink_free(u);
		return -ENODEV;
	}
	u->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (u->fd < 0) {
		r = -errno;
		uplink_free(u);
		return r;
	}
	snprintf(u->base.name, sizeof(u->base.name), "%s", ifname);
	if ((r = uplink_setup(u)) < 0) {
		uplink_free(u);
		return r;
	}
	u->link_up = link_is_up(u->fd, ifname, &u->mtu);
	if (!u->mtu)
		u->mtu = 1500;
	u->base.ops = &uplink_ops;
	u->base.uplink = true;
	u->base.host_side = true; /* not a guest: isolation lets guests reach it, and it does not keep the network */
	u->base.max_frame = u->mtu + 14 + 4;
	u->base.offload = u->base.offload_src = true;
	u->src = (struct loop_src){ .type = EV_CALLBACK, .fd = u->fd, .obj = u, .cb = uplink_readable };
	if ((r = loop_add(&u->src, EPOLLIN)) < 0) {
		uplink_free(u);
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
	struct tpacket_stats ks;
	socklen_t len = sizeof(ks);

	if (getsockopt(u->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
		u->st.rx_drops += ks.tp_drops; /* the kernel resets its counters on read */
	*st = u->st;
	st->link_up = link_is_up(u->fd, u->base.name, NULL);
}
