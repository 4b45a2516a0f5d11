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

#include "engine/network.h"

struct gateway;
struct dhcp_server;

/* DHCP lease time in seconds (macOS's default; not configurable yet). */
#define GATEWAY_LEASE_TIME 86400

/* Where services keep state (leases); set by the daemon before networks exist. */
extern const char *engine_state_dir;
/* DNS proxy upstreams ("ADDR[#PORT],...") and resolver file; NULL = /etc/resolv.conf. */
extern const char *engine_dns_upstreams;
extern const char *engine_resolv_conf;

/* Attach a gateway to a network that has a subnet. with_dhcp: serve DHCPv4 from start+1..end.
 * Return: 0 (net->gateway set), or -errno. */
int gateway_attach(struct network *net, bool with_dhcp);

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

#endif
