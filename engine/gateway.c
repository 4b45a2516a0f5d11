/*
 * gateway.c — the gateway port: the host side of a network with a subnet.
 *
 * Theory of operation: the gateway is a port like any other, flagged
 * host_side. The switch hands it broadcasts, multicasts and frames for its
 * MAC. It copies each frame it cares about into private memory (guest frames
 * may live in shared memory, see struct frame) and gives it to one service by
 * protocol: ARP (arp.c), ICMP echo (icmp.c), DHCPv4 (dhcp.c), the DNS proxy
 * (dns.c, UDP and TCP port 53), and for IPv6 neighbour discovery, router
 * advertisements and ICMPv6 echo (ndp.c) and stateless DHCPv6 (dhcp6.c).
 * Replies are queued and fed into the switch from the gateway's flush(), at
 * the end of the batch, so the switch is never re-entered while it forwards.
 * Frames that services send on their own (DNS answers arriving from an
 * upstream, periodic router advertisements) are pushed at once, outside any
 * batch. The queue is fixed-size (GW_TXQ frames): no allocation per packet;
 * overflow drops.
 *
 * Port forwards (shared mode). A forward sends what reaches a port of the
 * host to a guest's address and port; nat_kernel.c does it with DNAT rules
 * in the network's nftables table. The gateway owns the list: it lives in
 * its gateway_config (so `vmnet config`, which replaces the gateway, and the
 * settings file keep it) and is re-applied when a gateway is attached. For
 * every rule in force the gateway holds the host port: a socket bound to the
 * wildcard address of that family and protocol (IPv6 sockets are v6-only), never
 * listened on or read. Binding it is also the conflict check: a host service
 * already on the port makes the bind, and so the rule, fail; while the rule
 * lives no host service can take the port and then silently lose its
 * traffic to the DNAT. A rule whose port is taken when the gateway is
 * attached (after a restart) is kept in the list but not put in force
 * (logged; gateway_forward_active() says so). The host's own 127.0.0.1
 * reaches IPv4 forwards through the DNAT (nat_kernel.c); ::1 cannot be
 * rewritten, so for IPv6 forwards the held socket itself serves [::1]:PORT
 * and a relay carries it to the guest (fwd_relay.c).
 */
#include "engine/gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cursor.h"
#include "common/log.h"
#include "engine/coalesce.h"
#include "engine/dhcp.h"
#include "engine/dns.h"
#include "engine/fwd_relay.h"
#include "engine/ip6.h"
#include "engine/loop.h"
#include "engine/nat_kernel.h"
#include "engine/offload.h"
#include "engine/port_host.h"
#include "engine/switch.h"
#include "engine/wire.h"

#define GW_TXQ 64
#define GW_FRAME_MAX 1514
#define DHCP_SERVER_PORT 67
#define DHCP6_SERVER_PORT 547
/* Router advertisements (RFC 4861 §6.2.1/§10): the first few come faster. */
#define RA_INITIAL_COUNT 3
#define RA_INITIAL_INTERVAL 16
#define RA_MIN_INTERVAL 200
#define RA_MAX_INTERVAL 600

const char *engine_state_dir;
const char *engine_dns_upstreams;
const char *engine_resolv_conf;
uint32_t engine_dhcp_rate = GATEWAY_DHCP_RATE;
bool engine_host_tap = true;

struct gateway {
	struct port base; /* first */
	struct in_addr addr, mask;
	uint8_t mac[ETH_ALEN];
	struct gateway_config cfg;
	struct dhcp_server *dhcp;
	struct dns_proxy *dns;
	bool has_ip6;
	struct ip6_config ip6;
	unsigned ra_sent;
	uint64_t ra_next;
	bool in_output; /* inside the switch's batch: replies wait for flush() */
	struct host_tap *host; /* the host's side, when vmnetd may create it */
	struct nat_kernel *nat; /* its nftables table */
	int fwd_hold[GATEWAY_FORWARD_MAX]; /* the held host port of cfg.fwd[i]; -1: the rule is not in force */
	struct fwd_relay *fwd_relay[GATEWAY_FORWARD_MAX]; /* IPv6 rules: the host's [::1] relayed (fwd_relay.c) */
	unsigned txq_len;
	uint16_t txq_size[GW_TXQ];
	uint8_t txq[GW_TXQ][GW_FRAME_MAX];
	uint8_t rx[GW_FRAME_MAX]; /* private copy of the frame being served */
	uint8_t reply[GW_FRAME_MAX];
	/* Plain TCP segments for the host tap, merged per batch (engine/coalesce.h): the host's
	 * stack sees (and ACKs) one super-frame per batch from guests without offloads. */
	struct coalesce co;
	uint64_t host_drops; /* frames the host tap refused (its queue full, metadata refused) */
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

const struct gateway_config *gateway_cfg(const struct gateway *gw)
{
	return &gw->cfg;
}

bool gateway_ip6(const struct gateway *gw, uint8_t ll[16], uint8_t global[16], uint8_t prefix[16])
{
	if (!gw->has_ip6)
		return false;
	memcpy(ll, gw->ip6.ll, 16);
	memcpy(global, gw->ip6.global, 16);
	memcpy(prefix, gw->ip6.prefix, 16);
	return true;
}

void gateway_config_default(struct gateway_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->dhcp = true;
	cfg->nat44 = cfg->nat66 = true;
	cfg->lease_time = GATEWAY_LEASE_TIME;
	cfg->dns = true;
	cfg->ipv6 = true;
	cfg->router_adv = true;
}

int gateway_send(struct gateway *gw, const uint8_t *frame, size_t len)
{
	if (gw->txq_len == GW_TXQ || len > GW_FRAME_MAX || len < ETH_HLEN)
		return -ENOBUFS;
	memcpy(gw->txq[gw->txq_len], frame, len);
	gw->txq_size[gw->txq_len++] = (uint16_t)len;
	return 0;
}

static void gw_flush(struct port *p);

/* Send what services queued now, when not inside the switch's batch. */
static void gw_push(struct gateway *gw)
{
	if (gw->in_output || !gw->txq_len || !gw->base.net)
		return;
	gw_flush(&gw->base);
	switch_flush(gw->base.net);
}

/* dns.c's way out: answers may come from an upstream socket, outside any batch. */
static void gw_dns_send(void *ctx, const uint8_t *frame, size_t len)
{
	struct gateway *gw = ctx;

	if (gateway_send(gw, frame, len) < 0)
		gw->base.st.tx_drops++;
	gw_push(gw);
}

/*
 * Per-interface flood limit: at most engine_dhcp_rate DHCP messages a second
 * from one port, so one guest flooding DISCOVERs cannot use up the server's
 * own budget for new clients (dhcp.c) and starve the other interfaces.
 */
static bool gw_dhcp_port_ok(struct gateway *gw)
{
	struct port *src = gw->base.net ? gw->base.net->input_port : NULL;

	if (!engine_dhcp_rate || !src)
		return true;
	if (src->dhcp_tokens_at != engine_now_sec) {
		src->dhcp_tokens_at = engine_now_sec;
		src->dhcp_tokens = engine_dhcp_rate;
	}
	if (!src->dhcp_tokens)
		return false;
	src->dhcp_tokens--;
	return true;
}

/* An IPv4 frame to us: ICMP echo, DHCP or DNS. frame/len are a private copy. */
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
	/* UDP and TCP both start with the two ports. */
	if ((ip->proto != IPPROTO_UDP_ && ip->proto != IPPROTO_TCP_) || !(uh = cur_pull(&c, sizeof(*uh))))
		return;
	if (ntohs(uh->dport) == DNS_PORT && ip->daddr == gw->addr.s_addr) {
		if (gw->dns)
			dns_input(gw->dns, frame, len, engine_now_sec);
		return;
	}
	if (ip->proto != IPPROTO_UDP_ || !gw->dhcp || ntohs(uh->dport) != DHCP_SERVER_PORT)
		return;
	if (!gw_dhcp_port_ok(gw)) {
		gw->base.st.rx_errors++;
		return;
	}
	n = dhcp_input(gw->dhcp, frame, len, gw->reply, sizeof(gw->reply), engine_now_sec);
	if (n > 0)
		gateway_send(gw, gw->reply, (size_t)n);
	else if (n < 0)
		gw->base.st.rx_errors++;
}

static bool is_our_ip6(const struct gateway *gw, const uint8_t a[16])
{
	return gw->has_ip6 && (!memcmp(a, gw->ip6.ll, 16) || !memcmp(a, gw->ip6.global, 16));
}

/* An IPv6 frame for our MAC or a multicast group: NDP/echo, DHCPv6 or DNS. */
static void ipv6_input(struct gateway *gw, const uint8_t *frame, size_t len)
{
	struct cursor c = cur_init(frame, len);
	const struct ipv6_hdr *ip;
	const struct udp_hdr *uh;
	int n = 0;

	if (!cur_pull(&c, ETH_HLEN) || !(ip = cur_pull(&c, sizeof(*ip))) || (ip->ver_tc_flow & 0xf0) != 0x60)
		return;
	if (ip->next == IPPROTO_ICMPV6_) {
		n = ndp_input(&gw->ip6, frame, len, gw->reply, sizeof(gw->reply));
	} else if (ip->next == IPPROTO_UDP_ || ip->next == IPPROTO_TCP_) {
		if (!(uh = cur_pull(&c, sizeof(*uh))))
			return;
		if (ntohs(uh->dport) == DNS_PORT && is_our_ip6(gw, ip->daddr)) {
			if (gw->dns)
				dns_input(gw->dns, frame, len, engine_now_sec);
			return;
		}
		if (ip->next == IPPROTO_UDP_ && ntohs(uh->dport) == DHCP6_SERVER_PORT)
			n = dhcp6_input(&gw->ip6, frame, len, gw->reply, sizeof(gw->reply));
	}
	if (n > 0)
		gateway_send(gw, gw->reply, (size_t)n);
	else if (n < 0)
		gw->base.st.rx_errors++;
}

/*
 * With a host tap the host's kernel owns the gateway's addresses (ARP, NDP,
 * ICMP, TCP/UDP services of the host); the gateway's own services keep only
 * what the kernel does not do: DHCP, DHCPv6, the DNS proxy and router
 * solicitations. frame/len: a private copy.
 */
static bool gw_takes(const struct gateway *gw, const uint8_t *frame, size_t len)
{
	struct cursor c = cur_init(frame, len);
	const struct eth_hdr *eth = cur_pull(&c, sizeof(*eth));
	const struct udp_hdr *uh;

	if (!eth)
		return false;
	if (eth->type == htons(ETHERTYPE_IPV4)) {
		const struct ipv4_hdr *ip = cur_pull(&c, sizeof(*ip));
		size_t ihl;

		if (!ip || (ihl = (size_t)(ip->ver_ihl & 0x0f) * 4) < sizeof(*ip) || !cur_pull(&c, ihl - sizeof(*ip)))
			return false;
		if ((ip->proto != IPPROTO_UDP_ && ip->proto != IPPROTO_TCP_) || !(uh = cur_pull(&c, sizeof(*uh))))
			return false;
		if (ntohs(uh->dport) == DNS_PORT)
			return ip->daddr == gw->addr.s_addr && gw->dns;
		return ip->proto == IPPROTO_UDP_ && ntohs(uh->dport) == DHCP_SERVER_PORT;
	}
	if (eth->type == htons(ETHERTYPE_IPV6)) {
		const struct ipv6_hdr *ip = cur_pull(&c, sizeof(*ip));

		if (!ip)
			return false;
		if (ip->next == IPPROTO_ICMPV6_) {
			const uint8_t *type = cur_pull(&c, 1);

			return type && *type == 133; /* router solicitation */
		}
		if ((ip->next != IPPROTO_UDP_ && ip->next != IPPROTO_TCP_) || !(uh = cur_pull(&c, sizeof(*uh))))
			return false;
		if (ntohs(uh->dport) == DNS_PORT)
			return is_our_ip6(gw, ip->daddr) && gw->dns;
		return ip->next == IPPROTO_UDP_ && ntohs(uh->dport) == DHCP6_SERVER_PORT;
	}
	return false; /* ARP and the rest: the kernel's */
}

static void gw_host_emit(void *ctx, const uint8_t *frame, uint32_t len, const struct ring_vnet_hdr *vnet)
{
	struct gateway *gw = ctx;

	if (host_tap_write(gw->host, frame, len, vnet) < 0)
		gw->host_drops++;
}

static int gw_output(struct port *p, const struct frame *f)
{
	struct gateway *gw = (struct gateway *)p;
	struct eth_hdr eth;

	if (f->len < ETH_HLEN)
		return 0;
	memcpy(&eth, f->data, sizeof(eth));
	if (!(eth.dst[0] & 1) && memcmp(eth.dst, gw->mac, ETH_ALEN))
		return 0; /* flooded unicast for someone else */
	if (f->len <= GW_FRAME_MAX) {
		/* From here on only a private copy: the guest may rewrite shared memory under us. */
		memcpy(gw->rx, f->data, f->len);
		if (gw->host && !gw_takes(gw, gw->rx, f->len)) {
			if (!f->vnet.flags && f->vnet.gso_type == VNET_GSO_NONE) {
				coalesce_add(&gw->co, gw->rx, f->len, gw_host_emit, gw);
			} else {
				coalesce_flush(&gw->co, gw_host_emit, gw); /* keep the order */
				gw_host_emit(gw, gw->rx, f->len, &f->vnet);
			}
			return 0;
		}
		/* For a service: a partial checksum (a port with offloads sent it) is finished first;
		 * a TCP super-frame this short is an ordinary segment to the services. */
		if ((f->vnet.flags & VNET_F_NEEDS_CSUM) &&
		    offload_finish_csum(gw->rx, f->len, f->vnet.csum_start, f->vnet.csum_offset) < 0)
			return 0;
	} else {
		if (gw->host) { /* super-frames and jumbo frames are never for a service */
			coalesce_flush(&gw->co, gw_host_emit, gw);
			gw_host_emit(gw, f->data, f->len, &f->vnet);
		}
		return 0;
	}
	if (eth.type != htons(ETHERTYPE_ARP) && eth.type != htons(ETHERTYPE_IPV4) &&
	    (eth.type != htons(ETHERTYPE_IPV6) || !gw->has_ip6))
		return 0;
	gw->in_output = true;
	if (eth.type == htons(ETHERTYPE_ARP))
		arp_input(gw, gw->rx, f->len);
	else if (eth.type == htons(ETHERTYPE_IPV4))
		ipv4_input(gw, gw->rx, f->len);
	else
		ipv6_input(gw, gw->rx, f->len);
	gw->in_output = false;
	return 0;
}

/* The host's kernel sent a frame into the network: it enters the switch from the gateway's port. */
static void gw_host_input(void *ctx, const uint8_t *frame, size_t len, const struct ring_vnet_hdr *vnet)
{
	struct gateway *gw = ctx;
	struct frame f = { .data = frame, .len = (uint32_t)len, .vnet = *vnet };

	if (!gw->base.net || gw->base.removed)
		return;
	switch_input(gw->base.net, &gw->base, &f);
	switch_flush(gw->base.net);
}

/* End of the batch: the replies enter the switch like frames from any port. */
static void gw_flush(struct port *p)
{
	struct gateway *gw = (struct gateway *)p;
	unsigned n = gw->txq_len;

	if (gw->host)
		coalesce_flush(&gw->co, gw_host_emit, gw); /* the batch's merged segments to the host */
	dhcp_flush(gw->dhcp); /* leases on disk before their ACKs go out */
	gw->txq_len = 0;
	for (unsigned i = 0; i < n; i++) {
		struct frame f = { .data = gw->txq[i], .len = gw->txq_size[i] };

		switch_input(p->net, p, &f);
	}
}

static void forward_release_all(struct gateway *gw);

static void gw_destroy(struct port *p)
{
	struct gateway *gw = (struct gateway *)p;

	forward_release_all(gw);
	if (p->net && p->net->gateway == gw)
		p->net->gateway = NULL;
	dhcp_server_free(gw->dhcp);
	dns_proxy_free(gw->dns);
	if (gw->host)
		log_info("host tap %s removed", host_tap_name(gw->host));
	nat_kernel_remove(gw->nat);
	host_tap_close(gw->host);
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
	int r;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.server_mac, gw->mac, ETH_ALEN);
	cfg.server = net->start;
	cfg.mask = net->mask;
	cfg.pool_start.s_addr = htonl(ntohl(net->start.s_addr) + 1);
	cfg.pool_end = net->end;
	cfg.rate_limit = engine_dhcp_rate ? 0 : UINT32_MAX; /* unlimited per interface: no server-wide limit either */
	cfg.lease_time = gw->cfg.lease_time ? gw->cfg.lease_time : GATEWAY_LEASE_TIME;
	cfg.mtu = (uint16_t)net->mtu;
	if (gw->cfg.dns)
		cfg.dns = net->start;
	snprintf(cfg.domain, sizeof(cfg.domain), "%s", gw->cfg.domain);
	if (engine_state_dir) {
		struct in_addr base = { .s_addr = net->start.s_addr & net->mask.s_addr };

		inet_ntop(AF_INET, &base, a, sizeof(a));
		snprintf(path, sizeof(path), "%s/leases-%s", engine_state_dir, a);
		cfg.lease_file = path;
	}
	if (ntohl(cfg.pool_start.s_addr) > ntohl(cfg.pool_end.s_addr))
		return 0; /* no room for a pool: no DHCP */
	r = dhcp_server_new(&cfg, &gw->dhcp);
	dhcp_defer_saves(gw->dhcp, true); /* one write per batch: gw_flush */
	return r;
}

/* The seed of the network's ULA: its identifier, or its mode and subnet (stable across restarts). */
static void ula_seed(const struct network *net, uint8_t seed[16])
{
	memset(seed, 0, 16);
	if (net->has_uuid) {
		memcpy(seed, net->uuid, 16);
		return;
	}
	memcpy(seed, &net->mode, 4);
	memcpy(seed + 4, &net->start.s_addr, 4);
	memcpy(seed + 8, &net->mask.s_addr, 4);
	memcpy(seed + 12, "vmnt", 4);
}

static void gateway_ip6_new(struct gateway *gw, const struct network *net)
{
	struct ip6_config *c = &gw->ip6;
	uint8_t seed[16];

	memset(c, 0, sizeof(*c));
	memcpy(c->mac, gw->mac, ETH_ALEN);
	if (gw->cfg.has_prefix) {
		memcpy(c->prefix, gw->cfg.prefix, 8);
	} else {
		ula_seed(net, seed);
		ip6_ula_prefix(seed, c->prefix);
	}
	ip6_gateway_addrs(gw->mac, c->prefix, c->ll, c->global);
	c->mtu = net->mtu ? net->mtu : 1500;
	c->router_adv = gw->cfg.router_adv;
	/* Host mode: guests reach no one through us; shared mode: we are their default router. */
	c->router_lifetime = net->mode == VMNET_SHARED_MODE_ ? 1800 : 0;
	c->dns = gw->cfg.dns;
	snprintf(c->domain, sizeof(c->domain), "%s", gw->cfg.domain);
	gw->has_ip6 = true;
	gw->ra_next = engine_now_sec + 1;
}

static int gateway_dns_new(struct gateway *gw)
{
	struct dns_config c;

	memset(&c, 0, sizeof(c));
	memcpy(c.mac, gw->mac, ETH_ALEN);
	c.addr4 = gw->addr;
	if (gw->has_ip6) {
		c.has_addr6 = true;
		memcpy(c.addr6[0], gw->ip6.ll, 16);
		memcpy(c.addr6[1], gw->ip6.global, 16);
	}
	c.upstreams = engine_dns_upstreams;
	c.resolv_conf = engine_resolv_conf;
	c.send = gw_dns_send;
	c.ctx = gw;
	return dns_proxy_new(&c, &gw->dns);
}

/* The host tap, when this daemon may create one (root, or CAP_NET_ADMIN). */
static void gateway_host_new(struct gateway *gw, const struct network *net)
{
	static bool told;
	struct host_tap_config hc;
	char a[INET_ADDRSTRLEN];
	int r;

	memset(&hc, 0, sizeof(hc));
	memcpy(hc.mac, gw->mac, ETH_ALEN);
	hc.addr = gw->addr;
	hc.mask = gw->mask;
	if (gw->has_ip6) {
		hc.has_addr6 = true;
		memcpy(hc.addr6, gw->ip6.global, 16);
	}
	hc.mtu = net->mtu;
	hc.input = gw_host_input;
	hc.ctx = gw;
	r = host_tap_open(&hc, &gw->host);
	inet_ntop(AF_INET, &gw->addr, a, sizeof(a));
	/* With a host tap the gateway's port passes offloaded frames between guests and the host's
	 * stack (engine/port_host.h); its own services see them finished (gw_output). */
	gw->base.offload = gw->base.offload_src = r == 0;
	if (r == 0)
		log_info("network %s: host tap %s carries %s", net->name, host_tap_name(gw->host), a);
	else if (r == -EADDRINUSE)
		log_warn("network %s: no host tap: a host interface already has an address in its subnet", net->name);
	else if ((r == -EPERM || r == -EACCES) && !told)
		log_info("no host taps (they need CAP_NET_ADMIN): the host reaches guests only through attachments");
	else if (r != -EPERM && r != -EACCES)
		log_warn("network %s: no host tap: %s", net->name, strerror(-r));
	told |= r == -EPERM || r == -EACCES;
}

uint64_t gateway_host_merged(const struct gateway *gw)
{
	return gw->co.merged;
}

uint64_t gateway_host_drops(const struct gateway *gw)
{
	return gw->host_drops;
}

const char *gateway_host_tap(const struct gateway *gw)
{
	return gw->host ? host_tap_name(gw->host) : NULL;
}

struct nat_kernel *gateway_nat(const struct gateway *gw)
{
	return gw->nat;
}

static const char *attach_error = "";

const char *gateway_attach_error(void)
{
	return attach_error;
}

/* ---- port forwards ---- */

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : "udp";
}

/* Is the IPv6 address a possible guest address (unicast, not loopback, link-local or v4-mapped)? */
static bool addr6_unicast(const uint8_t a[16])
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	bool low_zero = true;

	for (int i = 0; i < 15; i++)
		low_zero &= a[i] == 0;
	if (low_zero) /* :: and ::1 */
		return false;
	return a[0] != 0xff && !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80) && memcmp(a, v4mapped, sizeof(v4mapped));
}

const char *gateway_forward_invalid(const struct nat_forward *f, struct in_addr gw4, struct in_addr mask,
				    const uint8_t *prefix6)
{
	static const uint8_t iid_zero[8], iid_gateway[8] = { [7] = 1 };

	if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		return "the protocol must be tcp (6) or udp (17)";
	if (f->ext_port == 0 || f->int_port == 0)
		return "ports must be 1-65535 (port 0 cannot be forwarded)";
	if (f->family == AF_INET) {
		uint32_t a, g = ntohl(gw4.s_addr), m = ntohl(mask.s_addr);

		memcpy(&a, f->addr, 4);
		a = ntohl(a);
		if ((a & m) != (g & m))
			return "the guest address is outside the network's subnet";
		if ((a & ~m) == 0 || (a & ~m) == ~m)
			return "the guest address is the subnet's network or broadcast address";
		if (a == g)
			return "the guest address is the gateway's (the host's own address on the network)";
		return NULL;
	}
	if (f->family != AF_INET6)
		return "the address family must be IPv4 or IPv6";
	if (!addr6_unicast(f->addr))
		return "the guest address must be a global or unique-local IPv6 unicast address";
	if (prefix6 && memcmp(f->addr, prefix6, 8))
		return "the guest address is outside the network's /64 prefix";
	if (prefix6 && !memcmp(f->addr + 8, iid_gateway, 8))
		return "the guest address is the gateway's (the host's own address on the network)";
	if (prefix6 && !memcmp(f->addr + 8, iid_zero, 8))
		return "the guest address is the prefix's subnet-router anycast address";
	return NULL;
}

/* Bind the host port of f (wildcard address, v6-only for IPv6; never listened on). Return: the socket or -errno. */
static int forward_hold(const struct nat_forward *f)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(f->ext_port) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(f->ext_port) };
	int type = f->proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM, one = 1, r;
	int fd = socket(f->family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	/*
	 * No SO_REUSEADDR: any other socket on the port, listening or not, makes this fail, and
	 * while we hold it no other socket can bind it. The exception is IPv6 TCP, whose socket
	 * listens for the [::1] relay: a listener already keeps everyone else out, and without
	 * the flag the TIME_WAIT of a relayed connection would block the port for a minute
	 * after its rule went (or the daemon restarted).
	 */
	if (f->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (f->family == AF_INET6 && f->proto == IPPROTO_TCP &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* IPv4: never read, a datagram that got past the DNAT is not kept for long (IPv6: the relay reads). */
	if (f->family == AF_INET)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one));
	if (f->family == AF_INET ? bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0
				 : bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

/* Why a host port could not be held, for logs and clients. Return: msg. */
static const char *forward_hold_error(const struct nat_forward *f, int r, char *msg, size_t len)
{
	if (r == -EADDRINUSE)
		snprintf(msg, len, "%s port %u (IPv%d) is in use on the host", proto_name(f->proto), f->ext_port,
			 f->family == AF_INET ? 4 : 6);
	else if (r == -EACCES || r == -EPERM)
		snprintf(msg, len, "%s port %u is a privileged port that vmnetd may not bind", proto_name(f->proto),
			 f->ext_port);
	else
		snprintf(msg, len, "cannot hold %s port %u on the host: %s", proto_name(f->proto), f->ext_port,
			 strerror(-r));
	return msg;
}

static int forward_find(const struct gateway_config *c, uint8_t proto, uint8_t family, uint16_t ext_port)
{
	for (unsigned i = 0; i < c->nfwd; i++)
		if (c->fwd[i].proto == proto && c->fwd[i].family == family && c->fwd[i].ext_port == ext_port)
			return (int)i;
	return -1;
}

/* Rule i is in force: for IPv6 the host's [::1] gets a relay (without one it just does not reach the guest). */
static void forward_relay_start(struct gateway *gw, unsigned i)
{
	const struct nat_forward *f = &gw->cfg.fwd[i];
	int r;

	if (f->family != AF_INET6)
		return;
	if ((r = fwd_relay_new(gw->fwd_hold[i], f, &gw->fwd_relay[i])) < 0)
		log_warn("port forward %s %u: no relay for the host's [::1]: %s", proto_name(f->proto), f->ext_port,
			 strerror(-r));
}

/* Rule i is no longer in force: its relay and held port go. */
static void forward_release(struct gateway *gw, unsigned i)
{
	fwd_relay_free(gw->fwd_relay[i]);
	gw->fwd_relay[i] = NULL;
	if (gw->fwd_hold[i] >= 0)
		close(gw->fwd_hold[i]);
	gw->fwd_hold[i] = -1;
}

static void forward_release_all(struct gateway *gw)
{
	for (unsigned i = 0; i < GATEWAY_FORWARD_MAX; i++)
		forward_release(gw, i);
}

/*
 * A new gateway's forwards: hold the host port of every valid rule and list
 * those in `on` for the new table. A rule that cannot be put in force stays
 * in the configuration, logged. Return: how many are in `on`.
 */
static unsigned forward_hold_all(struct gateway *gw, const struct network *net, struct nat_forward *on)
{
	const struct gateway_config *c = &gw->cfg;
	unsigned n = 0;
	char msg[160], a[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < c->nfwd; i++) {
		const struct nat_forward *f = &c->fwd[i];
		const char *bad = gateway_forward_invalid(f, gw->addr, gw->mask, gw->has_ip6 ? gw->ip6.prefix : NULL);
		int fd = -1;

		if (!bad && f->family == AF_INET6 && !gw->has_ip6)
			bad = "IPv6 is off on this network";
		if (!bad && forward_find(c, f->proto, f->family, f->ext_port) != (int)i)
			bad = "a duplicate of an earlier rule";
		if (!bad && (fd = forward_hold(f)) < 0)
			bad = forward_hold_error(f, fd, msg, sizeof(msg));
		if (bad) {
			log_warn("network %s: port forward %s %u -> %s port %u not in force: %s", net->name,
				 proto_name(f->proto), f->ext_port, inet_ntop(f->family, f->addr, a, sizeof(a)),
				 f->int_port, bad);
			continue;
		}
		gw->fwd_hold[i] = fd;
		on[n++] = *f;
	}
	return n;
}

int gateway_forward_add(struct gateway *gw, const struct nat_forward *f, const char **why)
{
	static char msg[200];
	struct gateway_config *c = &gw->cfg;
	char a[INET6_ADDRSTRLEN];
	int i, fd, r;

	*why = NULL;
	if (!gw->nat || !gw->base.net || gw->base.net->mode != VMNET_SHARED_MODE_) {
		*why = "port forwarding needs a shared-mode network";
		return -EINVAL;
	}
	if ((*why = gateway_forward_invalid(f, gw->addr, gw->mask, gw->has_ip6 ? gw->ip6.prefix : NULL)))
		return -EINVAL;
	if (f->family == AF_INET6 && !gw->has_ip6) {
		*why = "IPv6 is off on this network";
		return -EINVAL;
	}
	if ((i = forward_find(c, f->proto, f->family, f->ext_port)) >= 0) {
		snprintf(msg, sizeof(msg), "%s port %u (IPv%d) is already forwarded, to %s port %u%s", proto_name(f->proto),
			 f->ext_port, f->family == AF_INET ? 4 : 6,
			 inet_ntop(f->family, c->fwd[i].addr, a, sizeof(a)), c->fwd[i].int_port,
			 gw->fwd_hold[i] < 0 ? " (not in force)" : "");
		*why = msg;
		return -EEXIST;
	}
	if (c->nfwd == GATEWAY_FORWARD_MAX) {
		*why = "too many port forwards on this network";
		return -ENOSPC;
	}
	if ((fd = forward_hold(f)) < 0) {
		*why = forward_hold_error(f, fd, msg, sizeof(msg));
		return fd;
	}
	if ((r = nat_kernel_forward_add(gw->nat, f)) < 0) {
		close(fd);
		*why = r == -EEXIST ? "the rule is already installed" : "nftables refused the rule (see the daemon log)";
		return r;
	}
	c->fwd[c->nfwd] = *f;
	gw->fwd_hold[c->nfwd] = fd;
	forward_relay_start(gw, c->nfwd++);
	return 0;
}

int gateway_forward_remove(struct gateway *gw, uint8_t proto, uint8_t family, uint16_t ext_port, const char **why)
{
	static char msg[120];
	struct gateway_config *c = &gw->cfg;
	int i = forward_find(c, proto, family, ext_port), r;

	*why = NULL;
	if (i < 0) {
		snprintf(msg, sizeof(msg), "no forward of %s port %u (IPv%d) on this network",
			 proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?", ext_port,
			 family == AF_INET ? 4 : 6);
		*why = msg;
		return -ENOENT;
	}
	if (gw->fwd_hold[i] >= 0) {
		r = gw->nat ? nat_kernel_forward_remove(gw->nat, proto, family, ext_port) : 0;
		if (r < 0 && r != -ENOENT) {
			*why = "nftables refused to remove the rule (see the daemon log)";
			return r;
		}
	}
	forward_release(gw, (unsigned)i);
	c->nfwd--;
	c->fwd[i] = c->fwd[c->nfwd];
	gw->fwd_hold[i] = gw->fwd_hold[c->nfwd];
	gw->fwd_relay[i] = gw->fwd_relay[c->nfwd];
	gw->fwd_hold[c->nfwd] = -1;
	gw->fwd_relay[c->nfwd] = NULL;
	return 0;
}

bool gateway_forward_active(const struct gateway *gw, unsigned i)
{
	return i < gw->cfg.nfwd && gw->fwd_hold[i] >= 0;
}

/* The host tap's nftables table: NAT for shared networks, the forwarding filter for host ones. */
static int gateway_nat_new(struct gateway *gw, const struct network *net)
{
	static struct nat_forward on[GATEWAY_FORWARD_MAX];
	const struct nat_forward *installed;
	struct nat_kernel_config nc;
	const char *why = NULL;
	int r;

	memset(&nc, 0, sizeof(nc));
	nc.host_if = host_tap_name(gw->host);
	nc.shared = net->mode == VMNET_SHARED_MODE_;
	nc.subnet.s_addr = gw->addr.s_addr & gw->mask.s_addr;
	nc.mask = gw->mask;
	nc.nat44 = gw->cfg.nat44;
	nc.nat66 = gw->cfg.nat66 && gw->has_ip6;
	if (gw->has_ip6) {
		nc.has_prefix6 = true;
		memcpy(nc.prefix6, gw->ip6.prefix, 16);
	}
	nc.external_if = gw->cfg.external_if;
	if (nc.shared) {
		nc.nfwd = forward_hold_all(gw, net, on);
		nc.fwd = on;
	}
	r = nat_kernel_add(&nc, &gw->nat, &why);
	if (r < 0)
		attach_error = why ? why : "kernel NAT failed";
	else if (nc.nfwd && nat_kernel_forwards(gw->nat, &installed) == 0)
		forward_release_all(gw); /* nftables took the table but not the forwards (logged) */
	else
		for (unsigned i = 0; i < gw->cfg.nfwd; i++)
			if (gw->fwd_hold[i] >= 0)
				forward_relay_start(gw, i);
	return r;
}

int gateway_attach(struct network *net, const struct gateway_config *cfg)
{
	struct gateway *gw;
	int r;

	if (!net->has_subnet || net->gateway)
		return -EINVAL;
	gw = calloc(1, sizeof(*gw));
	if (!gw)
		return -ENOMEM;
	gw->cfg = *cfg;
	for (unsigned i = 0; i < GATEWAY_FORWARD_MAX; i++)
		gw->fwd_hold[i] = -1;
	if (gw->cfg.nfwd > GATEWAY_FORWARD_MAX)
		gw->cfg.nfwd = GATEWAY_FORWARD_MAX;
	gw->base.ops = &gateway_ops;
	gw->base.host_side = true;
	gw->base.max_frame = 65550; /* takes every frame; serves only those up to GW_FRAME_MAX */
	gw->addr = net->start;
	gw->mask = net->mask;
	gateway_mac_for(gw->addr, gw->mac);
	memcpy(gw->base.mac, gw->mac, ETH_ALEN);
	gw->base.has_mac = true;
	snprintf(gw->base.name, sizeof(gw->base.name), "gateway");
	if (cfg->ipv6)
		gateway_ip6_new(gw, net);
	r = cfg->dhcp ? gateway_dhcp_new(gw, net) : 0;
	for (unsigned i = 0; r == 0 && gw->dhcp && i < cfg->nres && i < GATEWAY_RESERVE_MAX; i++) {
		char a[INET_ADDRSTRLEN];

		if (dhcp_reserve(gw->dhcp, cfg->res[i].mac, cfg->res[i].ip) < 0)
			log_warn("network %s: reservation of %s ignored (outside the subnet, the gateway's, or taken)",
				 net->name, inet_ntop(AF_INET, &cfg->res[i].ip, a, sizeof(a)));
	}
	if (r == 0 && cfg->dns && (r = gateway_dns_new(gw)) < 0) {
		log_warn("network %s: no DNS proxy: %s", net->name, strerror(-r));
		gw->cfg.dns = false;
		r = 0;
	}
	/* The host's side before the network sees the port: a failure leaves the network as it was. */
	attach_error = "";
	if (r == 0 && engine_host_tap)
		gateway_host_new(gw, net);
	if (r == 0 && net->mode == VMNET_SHARED_MODE_ && !gw->host) {
		attach_error = engine_host_tap ? "shared mode: the host tap could not be created (see the daemon log)"
					       : "shared mode needs the system vmnetd (root, for the host tap and kernel NAT); "
						 "the rootless user NAT is not available yet";
		r = -EPERM;
	}
	if (r == 0 && gw->host && nat_kernel_available())
		r = gateway_nat_new(gw, net);
	else if (r == 0 && net->mode == VMNET_SHARED_MODE_) {
		attach_error = "shared mode: kernel NAT (nftables) is not available (see the daemon log)";
		r = -EPERM;
	}
	if (r == 0)
		r = network_add_port(net, &gw->base);
	if (r < 0) {
		log_warn("network %s: no gateway: %s", net->name, *attach_error ? attach_error : strerror(-r));
		forward_release_all(gw);
		nat_kernel_remove(gw->nat);
		host_tap_close(gw->host);
		dhcp_server_free(gw->dhcp);
		dns_proxy_free(gw->dns);
		loop_defer_free(gw); /* the host tap's callback may already be queued */
		return r;
	}
	net->gateway = gw;
	return 0;
}

int gateway_reconfigure(struct network *net, const struct gateway_config *cfg)
{
	bool guests = false;

	for (struct port *p = net->ports; p; p = p->next)
		guests |= !p->host_side;
	if (!guests)
		return -EBUSY; /* removing the gateway would free the network */
	if (net->gateway) {
		/* Guests remain, so the network stays; the old gateway saves its leases as it goes. */
		network_remove_port(&net->gateway->base);
		net->gateway = NULL;
	}
	return gateway_attach(net, cfg);
}

/* Router advertisements: RA_INITIAL_COUNT fast ones, then every 200-600 s (RFC 4861 §6.2.4). */
static void gateway_ra_tick(struct gateway *gw)
{
	int n;

	if (!gw->has_ip6 || !gw->cfg.router_adv || engine_now_sec < gw->ra_next)
		return;
	n = ndp_build_ra(&gw->ip6, gw->reply, sizeof(gw->reply));
	if (n > 0)
		gateway_send(gw, gw->reply, (size_t)n);
	gw->ra_sent++;
	if (gw->ra_sent < RA_INITIAL_COUNT)
		gw->ra_next = engine_now_sec + RA_INITIAL_INTERVAL;
	else
		gw->ra_next = engine_now_sec + RA_MIN_INTERVAL + (uint64_t)(random() % (RA_MAX_INTERVAL - RA_MIN_INTERVAL));
}

void gateway_tick_all(void)
{
	for (struct network *n = network_list; n; n = n->next) {
		struct gateway *gw = n->gateway;

		if (!gw)
			continue;
		if (gw->dns)
			dns_tick(gw->dns, engine_now_sec);
		for (unsigned i = 0; i < gw->cfg.nfwd; i++)
			fwd_relay_tick(gw->fwd_relay[i], engine_now_sec);
		gateway_ra_tick(gw);
		gw_push(gw);
	}
}
