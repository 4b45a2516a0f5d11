/*
 * gateway.c — the gateway port: the host side of a network with a subnet.
 *
 * Theory of operation: the gateway is a port like any other, flagged
 * host_side. The switch hands it broadcasts, multicasts and frames for its
 * MAC. It copies each frame it cares about into private memory (guest frames
 * may live in shared memory, see struct frame) and gives it to one service by
 * protocol: ARP (arp.c), ICMP echo (icmp.c), DHCPv4 (dhcp.c). Replies are
 * queued and fed into the switch from the gateway's flush(), at the end of
 * the batch, so the switch is never re-entered while it forwards. The queue is
 * fixed-size (GW_TXQ frames): no allocation per packet; overflow drops.
 */
#include "engine/gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cursor.h"
#include "common/log.h"
#include "engine/dhcp.h"
#include "engine/loop.h"
#include "engine/switch.h"
#include "engine/wire.h"

#define GW_TXQ 64
#define GW_FRAME_MAX 1514
#define DHCP_SERVER_PORT 67

const char *engine_state_dir;
const char *engine_dns_upstreams;
const char *engine_resolv_conf;

struct gateway {
	struct port base; /* first */
	struct in_addr addr, mask;
	uint8_t mac[ETH_ALEN];
	struct dhcp_server *dhcp;
	unsigned txq_len;
	uint16_t txq_size[GW_TXQ];
	uint8_t txq[GW_TXQ][GW_FRAME_MAX];
	uint8_t rx[GW_FRAME_MAX]; /* private copy of the frame being served */
	uint8_t reply[GW_FRAME_MAX];
};

void gateway_mac_for(struct in_addr addr, uint8_t mac[6])
{
	const uint8_t *a = (const uint8_t *)&addr.s_addr;

	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = 0x76;
	mac[2] = 0x6d;
	mac[3] = a[1];
	mac[4] = a[2];
	mac[5] = a[3];
}

struct in_addr gateway_addr(const struct gateway *gw)
{
	return gw->addr;
}

const uint8_t *gateway_hwaddr(const struct gateway *gw)
{
	return gw->mac;
}

struct dhcp_server *gateway_dhcp(const struct gateway *gw)
{
	return gw->dhcp;
}

int gateway_send(struct gateway *gw, const uint8_t *frame, size_t len)
{
	if (gw->txq_len == GW_TXQ || len > GW_FRAME_MAX || len < ETH_HLEN)
		return -ENOBUFS;
	memcpy(gw->txq[gw->txq_len], frame, len);
	gw->txq_size[gw->txq_len++] = (uint16_t)len;
	return 0;
}

/* An IPv4 frame to us: ICMP echo or DHCP. frame/len are a private copy. */
static void ipv4_input(struct gateway *gw, const uint8_t *frame, size_t len)
{
	struct cursor c = cur_init(frame, len);
	const struct ipv4_hdr *ip;
	const struct udp_hdr *uh;
	size_t ihl;
	int n;

	if (!cur_pull(&c, ETH_HLEN) || !(ip = cur_pull(&c, sizeof(*ip))))
		return;
	ihl = (size_t)(ip->ver_ihl & 0x0f) * 4;
	if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip) || !cur_pull(&c, ihl - sizeof(*ip)))
		return;
	if (ip->proto == IPPROTO_ICMP_ && ip->daddr == gw->addr.s_addr) {
		icmp_input(gw, frame, len);
		return;
	}
	if (ip->proto != IPPROTO_UDP_ || !gw->dhcp || !(uh = cur_pull(&c, sizeof(*uh))) ||
	    ntohs(uh->dport) != DHCP_SERVER_PORT)
		return;
	n = dhcp_input(gw->dhcp, frame, len, gw->reply, sizeof(gw->reply), engine_now_sec);
	if (n > 0)
		gateway_send(gw, gw->reply, (size_t)n);
	else if (n < 0)
		gw->base.st.rx_errors++;
}

static int gw_output(struct port *p, const struct frame *f)
{
	struct gateway *gw = (struct gateway *)p;
	struct eth_hdr eth;

	if (f->len < ETH_HLEN || f->len > GW_FRAME_MAX)
		return 0; /* not for a service (jumbo frames are never ARP/ICMP-to-us/DHCP here) */
	memcpy(&eth, f->data, sizeof(eth));
	if (!(eth.dst[0] & 1) && memcmp(eth.dst, gw->mac, ETH_ALEN))
		return 0; /* flooded unicast for someone else */
	if (eth.type != htons(ETHERTYPE_ARP) && eth.type != htons(ETHERTYPE_IPV4))
		return 0;
	/* From here on only a private copy: the guest may rewrite shared memory under us. */
	memcpy(gw->rx, f->data, f->len);
	if (eth.type == htons(ETHERTYPE_ARP))
		arp_input(gw, gw->rx, f->len);
	else
		ipv4_input(gw, gw->rx, f->len);
	return 0;
}

/* End of the batch: the replies enter the switch like frames from any port. */
static void gw_flush(struct port *p)
{
	struct gateway *gw = (struct gateway *)p;
	unsigned n = gw->txq_len;

	gw->txq_len = 0;
	for (unsigned i = 0; i < n; i++) {
		struct frame f = { .data = gw->txq[i], .len = gw->txq_size[i] };

		switch_input(p->net, p, &f);
	}
}

static void gw_destroy(struct port *p)
{
	struct gateway *gw = (struct gateway *)p;

	if (p->net && p->net->gateway == gw)
		p->net->gateway = NULL;
	dhcp_server_free(gw->dhcp);
	loop_defer_free(gw);
}

static const struct port_ops gateway_ops = {
	.kind = "gateway",
	.output = gw_output,
	.flush = gw_flush,
	.destroy = gw_destroy,
};

/* DHCP from start+1 to end, persisted in <state>/leases-<a.b.c.d>. */
static int gateway_dhcp_new(struct gateway *gw, const struct network *net)
{
	struct dhcp_config cfg;
	char path[4096], a[INET_ADDRSTRLEN];

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.server_mac, gw->mac, ETH_ALEN);
	cfg.server = net->start;
	cfg.mask = net->mask;
	cfg.pool_start.s_addr = htonl(ntohl(net->start.s_addr) + 1);
	cfg.pool_end = net->end;
	cfg.lease_time = GATEWAY_LEASE_TIME;
	cfg.mtu = (uint16_t)net->mtu;
	if (engine_state_dir) {
		struct in_addr base = { .s_addr = net->start.s_addr & net->mask.s_addr };

		inet_ntop(AF_INET, &base, a, sizeof(a));
		snprintf(path, sizeof(path), "%s/leases-%s", engine_state_dir, a);
		cfg.lease_file = path;
	}
	if (ntohl(cfg.pool_start.s_addr) > ntohl(cfg.pool_end.s_addr))
		return 0; /* no room for a pool: no DHCP */
	return dhcp_server_new(&cfg, &gw->dhcp);
}

int gateway_attach(struct network *net, bool with_dhcp)
{
	struct gateway *gw;
	int r;

	if (!net->has_subnet || net->gateway)
		return -EINVAL;
	gw = calloc(1, sizeof(*gw));
	if (!gw)
		return -ENOMEM;
	gw->base.ops = &gateway_ops;
	gw->base.host_side = true;
	gw->base.max_frame = 65550; /* takes every frame; serves only those up to GW_FRAME_MAX */
	gw->addr = net->start;
	gw->mask = net->mask;
	gateway_mac_for(gw->addr, gw->mac);
	memcpy(gw->base.mac, gw->mac, ETH_ALEN);
	gw->base.has_mac = true;
	snprintf(gw->base.name, sizeof(gw->base.name), "gateway");
	r = with_dhcp ? gateway_dhcp_new(gw, net) : 0;
	if (r == 0)
		r = network_add_port(net, &gw->base);
	if (r < 0) {
		log_warn("network %s: no gateway services: %s", net->name, strerror(-r));
		dhcp_server_free(gw->dhcp);
		free(gw);
		return r;
	}
	net->gateway = gw;
	return 0;
}
