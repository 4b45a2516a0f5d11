/*
 * gateway.h — the network's own host on the switch: it owns the gateway
 * address (vmnet_start_address) and runs the services guests talk to: ARP,
 * ICMP echo, DHCPv4 (more in later releases). It is a host-side port, so
 * isolated guests reach it too.
 */
#ifndef VMNET_ENGINE_GATEWAY_H
#define VMNET_ENGINE_GATEWAY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/nat_kernel.h"
#include "engine/network.h"

struct gateway;
struct dhcp_server;

/* DHCP lease time in seconds (macOS's default). */
#define GATEWAY_LEASE_TIME 86400

#define GATEWAY_RESERVE_MAX 256
/* Port forwards per network (shared mode). */
#define GATEWAY_FORWARD_MAX NAT_FORWARD_MAX

/* Which services a gateway runs, and how. gateway_config_default() fills the defaults. */
struct gateway_config {
	bool dhcp;            /* DHCPv4 server (off on networks named by an identifier, as macOS) */
	uint32_t lease_time;  /* seconds; 0 = GATEWAY_LEASE_TIME */
	bool dns;             /* DNS proxy on the gateway addresses (and as DHCP/RA DNS server) */
	bool ipv6;            /* IPv6: NDP, ICMPv6 echo, DHCPv6 (stateless) */
	bool router_adv;      /* router advertisements (needs ipv6) */
	bool has_prefix;      /* prefix is set; otherwise a ULA derived from the network */
	uint8_t prefix[16];   /* /64 */
	char domain[64];      /* search domain for guests ("" = none) */
	bool nat44, nat66;    /* shared mode: NAT to the outside world (kernel NAT, nat_kernel.c) */
	const char *external_if; /* shared mode: only this uplink (NULL = any); not copied */
	unsigned nres;        /* DHCP reservations: MAC -> address in the subnet */
	struct gateway_reservation {
		uint8_t mac[6];
		struct in_addr ip;
	} res[GATEWAY_RESERVE_MAX];
	unsigned nfwd;        /* shared mode: port forwards (host port -> guest), see gateway_forward_add */
	struct nat_forward fwd[GATEWAY_FORWARD_MAX];
};
void gateway_config_default(struct gateway_config *cfg);

/* Where services keep state (leases); set by the daemon before networks exist. */
extern const char *engine_state_dir;
/* DNS proxy upstreams ("ADDR[#PORT],...") and resolver file; NULL = /etc/resolv.conf. */
extern const char *engine_dns_upstreams;
extern const char *engine_resolv_conf;
/* DHCP messages per second accepted from one interface (0 = no limit). */
#define GATEWAY_DHCP_RATE 100
extern uint32_t engine_dhcp_rate;
/* Create a host tap (vmnet-hostN) for each network with a gateway, when allowed. */
extern bool engine_host_tap;

/* Attach a gateway to a network that has a subnet; DHCPv4 is served from start+1..end.
 * A shared-mode network needs its host tap and kernel NAT: without them this fails
 * (-EPERM, or -errno) and *why says why (may be NULL).
 * Return: 0 (net->gateway set), or -errno. */
int gateway_attach(struct network *net, const struct gateway_config *cfg);
/* Why the last gateway_attach failed, for the client ("" when unknown). */
const char *gateway_attach_error(void);
/* Replace the gateway of a running network by one with cfg (settings changed). Return: 0 or -errno. */
int gateway_reconfigure(struct network *net, const struct gateway_config *cfg);
/* Once a second for every network: periodic router advertisements, DNS timeouts. */
void gateway_tick_all(void);

/* The gateway's MAC: 02:76:6d + the low three bytes of its address, stable per subnet. */
void gateway_mac_for(struct in_addr addr, uint8_t mac[6]);

/* Queue a reply frame built by a service; sent into the switch at the end of the batch.
 * Return: 0, or -ENOBUFS when the queue is full (the reply is dropped). */
int gateway_send(struct gateway *gw, const uint8_t *frame, size_t len);

/* Services: each looks at a private copy of one frame addressed to the gateway. */
void arp_input(struct gateway *gw, const uint8_t *frame, size_t len);
void icmp_input(struct gateway *gw, const uint8_t *frame, size_t len);

/* What services need to know about their gateway. */
struct in_addr gateway_addr(const struct gateway *gw);
const uint8_t *gateway_hwaddr(const struct gateway *gw);
struct dhcp_server *gateway_dhcp(const struct gateway *gw);
const struct gateway_config *gateway_cfg(const struct gateway *gw);
/* The host tap's name, or NULL. */
const char *gateway_host_tap(const struct gateway *gw);
/* TCP segments from guests merged into super-frames for the host tap (engine/coalesce.h). */
uint64_t gateway_host_merged(const struct gateway *gw);
/* Frames for the host that its tap refused. */
uint64_t gateway_host_drops(const struct gateway *gw);
/* The network's kernel NAT (shared mode, and the filter of host-mode networks with a host tap), or NULL. */
struct nat_kernel *gateway_nat(const struct gateway *gw);
/* The gateway's IPv6 addresses (link-local, global) and /64; false when IPv6 is off. */
bool gateway_ip6(const struct gateway *gw, uint8_t ll[16], uint8_t global[16], uint8_t prefix[16]);

/*
 * Port forwards of a shared network (theory of operation in gateway.c).
 *
 * gateway_forward_invalid: can f be a forward of the network whose gateway has
 * address gw4 and netmask mask, and /64 prefix6 (NULL: not known yet, the
 * IPv6 address is then checked for its kind only)? TCP or UDP, AF_INET or
 * AF_INET6, both ports non-zero, the guest address a host address of the
 * subnet (or of the /64) other than the gateway's.
 * Return: NULL when it can, else a sentence saying why not.
 */
const char *gateway_forward_invalid(const struct nat_forward *f, struct in_addr gw4, struct in_addr mask,
				    const uint8_t *prefix6);
/*
 * Add a forward to a running shared network: checked as above, refused when
 * the same protocol, family and host port is forwarded already (-EEXIST) or
 * the host port is in use on the host (-EADDRINUSE; -EACCES for a privileged
 * port the daemon may not bind), then the host port is held (a socket bound
 * to it, so that no host service takes it while the rule lives) and the
 * nftables rules installed. On success the rule is part of gateway_cfg(gw).
 * Return: 0, or -errno with *why a sentence for the client.
 */
int gateway_forward_add(struct gateway *gw, const struct nat_forward *f, const char **why);
/* Remove one (by protocol, family, host port). Return: 0, -ENOENT (no such forward), or -errno; *why. */
int gateway_forward_remove(struct gateway *gw, uint8_t proto, uint8_t family, uint16_t ext_port, const char **why);
/* Is forward i of gateway_cfg(gw) in force (its host port held, its rules installed)? */
bool gateway_forward_active(const struct gateway *gw, unsigned i);

#endif
