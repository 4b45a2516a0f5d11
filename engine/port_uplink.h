/*
 * port_uplink.h — a host interface as the uplink of a bridged network
 * (AF_PACKET): guests' frames go out on the interface's LAN with their own
 * MACs, and the LAN's frames for them (and broadcast/multicast) come back.
 * One uplink per host interface, shared by every bridged interface on it.
 * Needs CAP_NET_RAW.
 */
#ifndef VMNET_ENGINE_PORT_UPLINK_H
#define VMNET_ENGINE_PORT_UPLINK_H

#include <stdint.h>

#include "engine/port.h"

struct port_uplink;

/*
 * Open an uplink on host interface ifname (promiscuous while it exists: the
 * kernel drops the membership when the socket closes, also after a crash).
 * Return: 0 and *out (not yet in a network); -ENODEV (no such interface),
 * -EPERM (no CAP_NET_RAW), -ENAMETOOLONG, or another -errno.
 */
int port_uplink_new(const char *ifname, struct port_uplink **out);
struct port *port_uplink_port(struct port_uplink *u);
/* The interface's MTU when the uplink was opened. */
uint32_t port_uplink_mtu(const struct port_uplink *u);
/* Counters for `vmnet status`. */
struct uplink_stats {
	uint64_t rx_frames, tx_frames, rx_drops, tx_errors, link_downs;
	bool link_up;
};
void port_uplink_stats(struct port_uplink *u, struct uplink_stats *st);

#endif
