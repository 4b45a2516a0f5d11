/*
 * port_ring.h — the port of a libvmnet interface: two shared-memory rings.
 */
#ifndef VMNET_ENGINE_PORT_RING_H
#define VMNET_ENGINE_PORT_RING_H

#include "engine/loop.h"
#include "engine/port.h"

/* Slots per ring direction: at least twice a 256-packet batch. */
#define PORT_RING_SLOTS 1024
/* With TSO a slot holds a 64 KiB super-frame: fewer slots (8 MiB per direction). */
#define PORT_RING_SLOTS_TSO 128
/* The largest super-frame a TSO interface takes and makes (vmnet_max_packet_size with TSO on macOS). */
#define PORT_RING_TSO_FRAME 65550u

/* Offloads of a libvmnet interface (its interface_desc keys). */
#define PORT_RING_VNET_HDR 1u /* vmnet_enable_virtio_header: every record carries the client's virtio-net header */
#define PORT_RING_TSO 2u      /* vmnet_enable_tso: TCP super-frames in both directions */
#define PORT_RING_CSUM 4u     /* vmnet_enable_checksum_offload: vmnet fills in checksums of what it is given */
/* Frames taken from one client per turn, so one busy client cannot starve others. */
#define PORT_RING_BUDGET 256

struct port_ring;

/* Create a ring port for an interface whose MTU-sized frames are at most max_frame bytes,
 * with PORT_RING_* offloads. Return: 0 and *out (not yet in a network), or -errno. */
int port_ring_new(uint32_t max_frame, unsigned offloads, struct port_ring **out);
struct port *port_ring_port(struct port_ring *pr);
struct port_ring *port_ring_from_port(struct port *p);
/* The descriptors handed to the client: memfd, kick_tx, kick_rx. */
void port_ring_fds(const struct port_ring *pr, int fds[3]);
/* The client has its descriptors now: drop our copies of its doorbell ends. */
void port_ring_handed_over(struct port_ring *pr);
uint32_t port_ring_nslots(const struct port_ring *pr);
/* The largest frame a slot holds (the port's max_frame, or PORT_RING_TSO_FRAME with TSO). */
uint32_t port_ring_slot_frame(const struct port_ring *pr);
/* Start watching the TX doorbell. Return: 0 or -errno. */
int port_ring_watch(struct port_ring *pr);
/* The TX doorbell rang (rang) or the port is on the pending list: move frames into the switch. */
void port_ring_input(struct port_ring *pr, bool rang);
/* Ports that stopped at their budget with frames left: serve them again. Return: whether any remain. */
bool port_ring_run_pending(void);

#endif
