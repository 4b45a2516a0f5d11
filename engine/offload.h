/*
 * offload.h — frames that carry virtio-net offload metadata.
 *
 * A frame crossing the switch may carry, in frame.vnet, the virtio-net header
 * (virtio 1.1 §5.1.6) its sender attached: "the TCP/UDP checksum is only
 * partial, finish it from csum_start" (NEEDS_CSUM) and/or "this is one TCP
 * super-frame of up to 64 KiB, to be cut into gso_size segments" (GSO). Taps
 * opened with a virtio-net header, the bridged uplink's packet socket and
 * offload-capable VMM ports produce and take such frames, so a guest's 64 KiB
 * TCP write crosses vmnetd as one frame instead of 45.
 *
 * A port that takes such frames sets port.offload. For every other port the
 * switch makes the frame plain first (offload_resolve): checksum completed,
 * super-frame cut to the network's MTU (engine/segment.c). The metadata of a
 * frame from a peer that may lie is checked once on input (offload_check).
 */
#ifndef VMNET_ENGINE_OFFLOAD_H
#define VMNET_ENGINE_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/port.h"

/* virtio-net header values (virtio 1.1 §5.1.6). */
#define VNET_F_NEEDS_CSUM 1
#define VNET_F_DATA_VALID 2
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_UDP 3
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5
#define VNET_GSO_ECN 0x80
/* The most datagrams one UDP super-frame may be cut into. */
#define OFFLOAD_MAX_SEGS 256u
/* The largest frame an offload-capable port may be handed: a 64 KiB IP packet + Ethernet + VLAN tag. */
#define OFFLOAD_MAX_FRAME 65553u

/* Does the frame need work before a port without offloads may take it (partial checksum or GSO)? */
static inline bool frame_needs_resolve(const struct frame *f)
{
	return (f->vnet.flags & VNET_F_NEEDS_CSUM) || f->vnet.gso_type != VNET_GSO_NONE;
}

/* UDP segmentation (USO) super-frames: no port takes them whole (taps are not asked for
 * TUN_F_USO*), so the switch cuts them for every receiver. They come from the bridged
 * uplink: the host's own UDP_SEGMENT senders, UDP GRO on the interface. */
static inline bool frame_is_uso(const struct frame *f)
{
	return f->vnet.gso_type == VNET_GSO_UDP_L4;
}

/*
 * Check a frame's offload metadata against the frame: known flags and GSO type
 * (TCPv4/TCPv6, with or without ECN, or UDP_L4), checksum start and offset inside the
 * frame, a GSO frame carrying a partial checksum and a sane gso_size (TCP:
 * at least 88; UDP: at most OFFLOAD_MAX_SEGS datagrams).
 * Return: 0, or -EINVAL (the frame is to be dropped).
 */
int offload_check(const struct frame *f);

/* Called once per plain frame made by offload_resolve; f is valid only during the call. */
typedef void (*offload_fn)(void *ctx, const struct frame *f);

/*
 * Make a frame plain for a port without offloads: the frame is copied to
 * private memory (it may live in a client's shared memory), its checksum
 * completed, and a super-frame longer than mtu (+ Ethernet header) cut into
 * segments of at most mtu bytes of IP, and of at most gso_size bytes of TCP
 * payload when the sender asked for smaller segments (but never cut below
 * 576 bytes of IP). Each result goes to fn with a zeroed
 * vnet header. Return: frames emitted, or -EINVAL (not cut: GSO of something
 * other than TCP over IPv4/IPv6, or malformed).
 */
int offload_resolve(const struct frame *f, uint32_t mtu, offload_fn fn, void *ctx);

/*
 * Give a frame from a sender that leaves work to vmnet (a libvmnet client
 * with vmnet_enable_checksum_offload_key or vmnet_enable_tso_key) the
 * metadata a port with offloads would have attached, in place (frame must be
 * private memory): a TCP or UDP frame over IPv4/IPv6 gets a partial checksum
 * (the pseudo-header sum in its checksum field, NEEDS_CSUM) and, IPv4, its
 * header checksum; a TCP frame longer than mtu (+ Ethernet header) becomes a
 * super-frame to cut into segments of at most mtu bytes of IP. Other frames
 * are left plain (*v zeroed). Return: 0, or -EINVAL (an oversized frame that
 * is not TCP, a length that disagrees with the IP header, IP fragments that
 * do not fit, or IPv6 extension headers in a super-frame).
 */
int offload_infer(uint8_t *frame, uint32_t len, uint32_t mtu, struct ring_vnet_hdr *v);

/* Finish a partial checksum in place: the 16-bit field at csum_start + csum_offset
 * gets the sum of everything from csum_start on. Return: 0, or -EINVAL. */
int offload_finish_csum(uint8_t *frame, uint32_t len, uint16_t csum_start, uint16_t csum_offset);

#endif
