/*
 * port.h — the one interface between the switch and every kind of port.
 *
 * A port is where frames enter and leave a network: a libvmnet ring
 * (port_ring.c), a tap device (port_tap.c), later QEMU sockets, vhost-user,
 * the host tap and uplinks. The switch calls ops->output() for each frame a
 * port should receive and ops->flush() once at the end of a batch (doorbells,
 * batched sends). Ports feed frames in with switch_input().
 */
#ifndef VMNET_ENGINE_PORT_H
#define VMNET_ENGINE_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/ring.h"

struct network;
struct port;

/*
 * A frame as it crosses the switch. When `shared` is set, data points into a
 * client's shared memory: the bytes may change while we look at them. Read
 * each field you decide on once (the switch copies the MAC addresses), and
 * copy the frame to private memory before parsing it (gateway services do).
 * len and vnet are always private copies. vnet is all zero unless the port
 * that made the frame has offloads (port.offload, engine/offload.h).
 * Without `keep`, data is valid only during the output() call. With `keep`,
 * the port that made the frame promises the bytes stay valid and unchanged
 * until switch_flush() returns (it flushes before reusing its buffer), so an
 * output may queue a reference instead of a copy and send it at flush.
 * Anything that makes a new frame from another starts without keep.
 */
struct frame {
	const uint8_t *data;
	uint32_t len;
	bool shared;
	bool keep;
	struct ring_vnet_hdr vnet;
};

struct port_ops {
	const char *kind;
	/* Queue one frame for this port. Return: 0, or -ENOBUFS when full (the frame is dropped).
	 * NULL: the port takes no frames (a listening socket attachment, listed and detached
	 * like a port while each accepted connection is a port of its own). */
	int (*output)(struct port *p, const struct frame *f);
	/* End of a batch: ring the doorbell / send what was queued. May be NULL. */
	void (*flush)(struct port *p);
	/* Release everything the port owns (called once, after it left its network). */
	void (*destroy)(struct port *p);
};

struct port_stats {
	uint64_t rx_frames, rx_bytes; /* from the port into the switch */
	uint64_t tx_frames, tx_bytes; /* from the switch out of the port */
	uint64_t tx_drops;            /* port full or frame too big for it */
	uint64_t rx_errors;           /* malformed frames the port handed in */
};

struct port {
	const struct port_ops *ops;
	struct network *net;
	uint32_t id;
	char name[40];
	bool isolated;  /* vmnet_enable_isolation: only the host side, never other guests */
	bool host_side; /* the host's own port (host tap, services): isolation does not apply */
	bool uplink;    /* a physical LAN (bridged mode): its MACs are not learned, and of its unicast
			 * frames only those for a known guest are delivered (never flooded) */
	bool has_mac;
	uint8_t mac[6];
	uint32_t max_frame; /* largest plain frame this port takes (MTU + 14) */
	bool offload;       /* takes frames with virtio-net offload metadata (engine/offload.h) whole:
			     * partial checksums and TCP super-frames up to OFFLOAD_MAX_FRAME */
	bool offload_src;   /* may hand the switch such frames (checked on input). Frames from a port
			     * without it carry a zeroed vnet header. */
	struct port_stats st;
	/* gateway services: DHCP messages left this second from this port (per-interface flood limit) */
	uint32_t dhcp_tokens;
	uint64_t dhcp_tokens_at;
	/* owner (the daemon's connection or attachment) and failure reporting */
	void *owner;
	bool broken;
	bool removed; /* left its network; memory freed after the current event batch */
	struct port *broken_next;
	/* switch bookkeeping */
	bool dirty;
	struct port *flush_next;
	struct port *next;
};

/* A port whose peer misbehaved (corrupt ring, dead device): queue it for the
 * daemon to tear down after the current batch. Idempotent. */
void port_mark_broken(struct port *p);
/* Take the list of broken ports (linked by broken_next). */
struct port *port_take_broken(void);

#endif
