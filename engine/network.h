/*
 * network.h — a network: one switch, its ports, its addressing.
 *
 * Networks live in vmnetd and are found by key: the default network of a mode,
 * a network with an explicit IPv4 subnet, or a host network named by a
 * vmnet_network_identifier UUID. A network exists while it has ports (or is
 * pinned by a persistent attachment) and is freed with its last port.
 */
#ifndef VMNET_ENGINE_NETWORK_H
#define VMNET_ENGINE_NETWORK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "engine/port.h"

#define NETWORK_MAX_PORTS 1024
/* Modes, with vmnet's values (operating_modes_t). */
#define VMNET_HOST_MODE_ 1000u
#define VMNET_SHARED_MODE_ 1001u
#define VMNET_BRIDGED_MODE_ 1002u

struct fdb;

struct network {
	uint32_t mode;      /* VMNET_HOST_MODE, ... */
	bool has_uuid;      /* keyed by vmnet_network_identifier */
	uuid_t uuid;
	bool has_subnet;    /* start/end/mask below are valid */
	struct in_addr start, end, mask;
	uint32_t mtu;
	char name[48];      /* for logs and `vmnet status` */
	struct port *ports;
	unsigned nports;
	struct fdb *fdb;
	struct gateway *gateway; /* the gateway port (also on the port list), or NULL */
	struct port *flush_list;
	struct port *input_port; /* whose frame the switch is forwarding (during output calls) */
	unsigned pins;      /* holders besides guest ports (network objects, named networks): see network_pin */
	bool exclusive;     /* a network object or named network: reached only through it, never by subnet */
	uint64_t flood_frames, unknown_drops;
	struct network *next;
};

/* Monotonic seconds, refreshed by the event loop once per iteration. */
extern uint64_t engine_now_sec;

/* Every network of the daemon (a short list). */
extern struct network *network_list;

/* Find a network by mode + identifier, or by mode + subnet (start & mask; exclusive networks are
 * skipped: their subnet is reserved, not shared). Return: it, or NULL. */
struct network *network_find_uuid(uint32_t mode, const uuid_t id);
struct network *network_find_subnet(uint32_t mode, struct in_addr start, struct in_addr mask);
/* Does any network other than `except` overlap this IPv4 range? */
struct network *network_find_overlap(struct in_addr start, struct in_addr mask, const struct network *except);

/* Create an empty network. Return: 0 and *out, or -ENOMEM. */
int network_new(uint32_t mode, struct network **out);
/* Attach a port (assigns p->id). Return: 0, or -ENOSPC when the network is full. */
int network_add_port(struct network *net, struct port *p);
/* Detach and destroy a port; frees the network (and its gateway) when no guest port is left. */
void network_remove_port(struct port *p);
/* Free a network that has no ports (a start that failed half-way) and no pins. */
void network_release_if_empty(struct network *net);
/*
 * Keep a network (and its gateway) alive without guests: a vmnet_network_ref
 * or a named network holds a pin. Unpinning the last pin of a network without
 * guests frees it.
 */
void network_pin(struct network *net);
void network_unpin(struct network *net);
/* Find a port by id or name across all networks. */
struct port *network_port_by_id(uint32_t id);
struct port *network_port_by_name(const char *name);
/* Is this MAC the MAC of a live port (other than `except`)? */
bool network_mac_in_use(const uint8_t mac[6], const struct port *except);
/* Guest ports of all networks (the gateways do not count). */
unsigned network_count_ports(void);

#endif
