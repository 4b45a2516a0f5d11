/*
 * segment.h — software TCP segmentation: one oversized TCP frame (a GSO/GRO
 * "super-frame" as the kernel hands it to a packet socket or a tap) becomes
 * frames that fit a port's MTU, as a NIC with TSO would cut it.
 */
#ifndef VMNET_ENGINE_SEGMENT_H
#define VMNET_ENGINE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

/* Called once per segment; seg is valid only during the call. */
typedef void (*segment_fn)(void *ctx, const uint8_t *seg, size_t len);

/*
 * Cut an Ethernet + IPv4/IPv6 + TCP frame into segments whose IP packets are
 * at most mtu bytes: each gets the headers of the original with its own IP
 * total length (IPv4: identification + i, header checksum) and TCP sequence
 * number; FIN and PSH only on the last segment, CWR only on the first; TCP
 * checksums computed in full. IPv6 with extension headers and IPv4 with
 * fragments are refused.
 * Return: the number of segments emitted (1 when the frame already fits: emitted
 * as is), or -EINVAL (not TCP over plain IPv4/IPv6, malformed, or mtu too small).
 */
int segment_tcp(const uint8_t *frame, size_t len, uint32_t mtu, segment_fn fn, void *ctx);

/*
 * Cut an Ethernet + IPv4/IPv6 + UDP super-frame (UDP segmentation offload:
 * one datagram per gso_size bytes of payload, as the sender's UDP_SEGMENT
 * asked) into datagrams of at most gso_size payload bytes and at most mtu
 * bytes of IP: each with the original's headers, its own lengths (IPv4:
 * identification + i, header checksum) and a UDP checksum computed in full.
 * Return: datagrams emitted, or -EINVAL (not UDP over plain IPv4/IPv6,
 * malformed, gso_size 0, or mtu too small).
 */
int segment_udp(const uint8_t *frame, size_t len, uint32_t gso_size, uint32_t mtu, segment_fn fn, void *ctx);

#endif
