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
 * The kernel may hand over a TCP "super-frame" larger than the MTU (GRO on
 * the interface, GSO from a local sender or a veth peer): it is cut back to
 * MTU-sized segments in software (engine/segment.c) before guests see it.
 * A frame the kernel hands over with its TCP/UDP checksum not yet computed
 * (TP_STATUS_CSUMNOTREADY: the host's own outgoing traffic, veth peers) gets
 * it completed in software before guests see it.
 *
 * Transmit is batched: output() queues up to UPLINK_TXQ frames (copied, as a
 * ring port's frame lives in client memory) and flush() sends them with one
 * sendmmsg(). A full queue or a down link drops and counts; the switch never
 * waits. The interface going down is noticed by ENETDOWN on send and by the
 * link flag read once a second by the daemon; nothing needs to be redone when
 * it comes back. A removed interface (ENODEV/ENXIO) breaks the port, and the
 * daemon detaches it.
 *
 * Promiscuous mode is a membership of the socket (PACKET_MR_PROMISC): the
 * kernel counts it with everyone else's and drops ours when the socket
 * closes, whether vmnetd exits or crashes.
 */
#include "engine/port_uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
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
#include "engine/segment.h"
#include "engine/switch.h"

#define UPLINK_BLOCK_SIZE (1u << 20) /* 1 MiB blocks */
#define UPLINK_BLOCK_NR 8
#define UPLINK_FRAME_SIZE 2048       /* TPACKET_V3 packs frames; this is only the accounting unit */
#define UPLINK_BLOCK_TIMEOUT_MS 2    /* a partly filled block is handed over after this */
#define UPLINK_TXQ 256
#define UPLINK_MAX_FRAME 9216        /* jumbo frames at most; larger is dropped */

/* A frame whose checksum we complete: the host's own outgoing traffic (and veth) leaves it partial. */
static uint8_t csum_scratch[UPLINK_MAX_FRAME];

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
	uint16_t txq_size[UPLINK_TXQ];
	uint8_t (*txq)[UPLINK_MAX_FRAME];
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

/*
 * Complete the TCP or UDP checksum of a frame the kernel marked CSUMNOTREADY
 * (checksum offload: only the pseudo-header sum is there). The sum is computed
 * over the whole segment with the field zeroed. Frames that are not plain
 * IPv4/IPv6 TCP/UDP are left as they are. Return: false when malformed.
 */
static bool uplink_fix_csum(uint8_t *f, size_t len)
{
	struct cursor c = cur_init(f, len);
	const uint8_t *eth = cur_pull(&c, 14);
	uint16_t type = eth ? (uint16_t)(eth[12] << 8 | eth[13]) : 0;
	uint8_t proto = 0;
	size_t l4off = 0, l4len = 0;
	uint32_t sum = 0;

	if (type == 0x0800) {
		const uint8_t *ip = cur_pull(&c, 20);
		size_t ihl, tot;
		uint32_t sa, da;

		if (!ip)
			return false;
		ihl = (size_t)(ip[0] & 0x0f) * 4;
		tot = (size_t)(ip[2] << 8 | ip[3]);
		if (ihl < 20 || tot < ihl || 14 + tot > len)
			return false;
		proto = ip[9];
		l4off = 14 + ihl;
		l4len = tot - ihl;
		memcpy(&sa, ip + 12, 4);
		memcpy(&da, ip + 16, 4);
		sum = csum_ipv4_pseudo(sa, da, proto, (uint16_t)l4len);
	} else if (type == 0x86dd) {
		const uint8_t *ip = cur_pull(&c, 40);

		if (!ip)
			return false;
		proto = ip[6];
		l4off = 54;
		l4len = (size_t)(ip[4] << 8 | ip[5]);
		if (l4off + l4len > len)
			return false;
		sum = csum_ipv6_pseudo(ip + 8, ip + 24, proto, (uint32_t)l4len);
	} else {
		return true;
	}
	if (proto == 6 && l4len >= 20) {
		f[l4off + 16] = f[l4off + 17] = 0;
		sum = csum_partial(f + l4off, l4len, sum);
		uint16_t v = csum_fold(sum);

		f[l4off + 16] = (uint8_t)(v >> 8), f[l4off + 17] = (uint8_t)v;
	} else if (proto == 17 && l4len >= 8) {
		f[l4off + 6] = f[l4off + 7] = 0;
		sum = csum_partial(f + l4off, l4len, sum);
		uint16_t v = csum_fold(sum);

		if (!v)
			v = 0xffff; /* RFC 768: a computed zero goes out as all ones */
		f[l4off + 6] = (uint8_t)(v >> 8), f[l4off + 7] = (uint8_t)v;
	}
	return true;
}

/* One segment of a cut super-frame into the switch. */
static void uplink_segment(void *ctx, const uint8_t *seg, size_t len)
{
	struct port_uplink *u = ctx;
	struct frame f = { .data = seg, .len = (uint32_t)len };

	switch_input(u->base.net, &u->base, &f);
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

		/* The kernel wrote the ring, but check anyway that the frame lies in its block. */
		if (data < (const uint8_t *)h || data + h->tp_snaplen > block_end)
			break;
		if (h->tp_snaplen == h->tp_len && h->tp_snaplen > u->mtu + 14 + 4) {
			/* GRO/GSO merged segments into one super-frame: cut it back to the MTU (TCP only). */
			u->st.rx_frames++;
			if (segment_tcp(data, h->tp_snaplen, u->mtu, uplink_segment, u) < 0)
				u->base.st.rx_errors++;
		} else if (h->tp_snaplen == h->tp_len && h->tp_snaplen >= 14) {
			if ((h->tp_status & TP_STATUS_CSUMNOTREADY) && h->tp_snaplen <= sizeof(csum_scratch)) {
				memcpy(csum_scratch, data, h->tp_snaplen);
				f.data = csum_scratch;
				if (!uplink_fix_csum(csum_scratch, h->tp_snaplen))
					f.len = 0; /* malformed: dropped below */
			}
			u->st.rx_frames++;
			if (f.len)
				switch_input(u->base.net, &u->base, &f);
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

static int uplink_output(struct port *p, const struct frame *f)
{
	struct port_uplink *u = (struct port_uplink *)p;

	if (u->txq_len == UPLINK_TXQ || f->len > UPLINK_MAX_FRAME || f->len > u->mtu + 14 + 4)
		return -ENOBUFS;
	memcpy(u->txq[u->txq_len], f->data, f->len);
	u->txq_size[u->txq_len++] = (uint16_t)f->len;
	return 0;
}

static void uplink_flush(struct port *p)
{
	struct port_uplink *u = (struct port_uplink *)p;
	struct mmsghdr msgs[UPLINK_TXQ];
	struct iovec iov[UPLINK_TXQ];
	unsigned n = u->txq_len, off = 0;

	u->txq_len = 0;
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){ u->txq[i], u->txq_size[i] };
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
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
	free(u->txq);
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
	int v = TPACKET_V3;

	if (setsockopt(u->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
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
	u->txq = malloc(sizeof(*u->txq) * UPLINK_TXQ);
	u->ifindex = (int)if_nametoindex(ifname);
	u->fd = u->ifindex ? socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)) : -1;
	if (!u->txq || !u->ifindex || u->fd < 0) {
		r = !u->txq ? -ENOMEM : !u->ifindex ? -ENODEV : -errno;
		free(u->txq);
		free(u);
		return r;
	}
	snprintf(u->base.name, sizeof(u->base.name), "%s", ifname);
	if ((r = uplink_setup(u)) < 0) {
		if (u->ring)
			munmap(u->ring, u->ring_len);
		close(u->fd);
		free(u->txq);
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
	u->src = (struct loop_src){ .type = EV_CALLBACK, .fd = u->fd, .obj = u, .cb = uplink_readable };
	if ((r = loop_add(&u->src, EPOLLIN)) < 0) {
		munmap(u->ring, u->ring_len);
		close(u->fd);
		free(u->txq);
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
