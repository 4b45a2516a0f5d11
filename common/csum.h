/*
 * csum.h — the Internet checksum (RFC 1071) for IPv4, ICMP, UDP and TCP.
 */
#ifndef VMNET_COMMON_CSUM_H
#define VMNET_COMMON_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Add len bytes to a running 32-bit one's-complement sum (big-endian 16-bit words). */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);
/* Fold a running sum into the final 16-bit checksum, in host order (store with htons). */
uint16_t csum_fold(uint32_t sum);
/* Pseudo-header sum for UDP/TCP over IPv4; saddr/daddr in network order. */
uint32_t csum_ipv4_pseudo(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len);
/* Pseudo-header sum for UDP/TCP/ICMPv6 over IPv6 (RFC 8200 §8.1); len = upper-layer length. */
uint32_t csum_ipv6_pseudo(const uint8_t saddr[16], const uint8_t daddr[16], uint8_t next, uint32_t len);

#endif
