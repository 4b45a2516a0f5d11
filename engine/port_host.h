/*
 * port_host.h — the host's side of a network: a tap device on the host
 * ("vmnet-hostN", as macOS's bridge100) that carries the gateway's addresses,
 * so that the host reaches guests at their addresses and guests reach the
 * host's services at the gateway address. Created by vmnetd when it may
 * (CAP_NET_ADMIN); the gateway port owns it and sends it every frame for
 * the gateway that its own services (DHCP, DNS, router solicitations) do not
 * take.
 *
 * The device speaks the virtio-net header with checksum and TCP segmentation
 * offloads (as guests' taps do, engine/port_tap.c): the host's stack and
 * guests with offloads exchange 64 KiB super-frames whole, so a guest's
 * upload through the kernel's NAT costs one write per 64 KiB.
 */
#ifndef VMNET_ENGINE_PORT_HOST_H
#define VMNET_ENGINE_PORT_HOST_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct host_tap;

#include "common/ring.h"

/* Frames the host's kernel sends into the network, with their offload metadata (engine/offload.h). */
typedef void (*host_tap_input_fn)(void *ctx, const uint8_t *frame, size_t len, const struct ring_vnet_hdr *vnet);

struct host_tap_config {
	uint8_t mac[6];          /* the gateway's MAC: the kernel's frames come from it */
	struct in_addr addr;     /* IPv4 address on the host (network order) */
	struct in_addr mask;
	bool has_addr6;
	uint8_t addr6[16];       /* IPv6 address on the host, /64 (the link-local follows from mac) */
	uint32_t mtu;            /* 0 = the device default (1500) */
	host_tap_input_fn input;
	void *ctx;
};

/*
 * Create vmnet-hostN (the first free N), configure and bring it up.
 * Return: 0 and *out; -EPERM (no CAP_NET_ADMIN), -EADDRINUSE (a host
 * interface already has an address in the subnet), or another -errno.
 */
int host_tap_open(const struct host_tap_config *cfg, struct host_tap **out);
/* Does an interface of the host already have an IPv4 address in addr/mask? */
bool host_tap_subnet_in_use(struct in_addr addr, struct in_addr mask);
/* Remove the device (NULL is fine). */
void host_tap_close(struct host_tap *h);
const char *host_tap_name(const struct host_tap *h);
/* Hand one frame to the host, with its offload metadata (NULL: a plain frame).
 * Return: 0, or -ENOBUFS (device queue full, or metadata the kernel refused; dropped). */
int host_tap_write(struct host_tap *h, const uint8_t *frame, size_t len, const struct ring_vnet_hdr *vnet);

/*
 * A network without a gateway (one named by vmnet_network_identifier) whose
 * creator gave vmnet_host_ip_address/_subnet_mask/_ipv6_address: a host tap
 * with that address as a plain host-side port of the network (no services).
 * cfg->input/ctx are not used. Return: 0, or -errno as host_tap_open.
 */
struct network;
int host_port_attach(struct network *net, const struct host_tap_config *cfg);

#endif
