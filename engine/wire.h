/*
 * wire.h — on-the-wire headers shared by the gateway services (packed, network
 * byte order, sizes asserted). Read them only through common/cursor.h.
 */
#ifndef VMNET_ENGINE_WIRE_H
#define VMNET_ENGINE_WIRE_H

#include <assert.h>
#include <stdint.h>

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IPV6 0x86dd

struct eth_hdr {
	uint8_t dst[ETH_ALEN];
	uint8_t src[ETH_ALEN];
	uint16_t type; /* network order */
} __attribute__((packed));
static_assert(sizeof(struct eth_hdr) == ETH_HLEN, "IEEE 802.3");

#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

struct arp_pkt {
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t op;
	uint8_t sha[ETH_ALEN];
	uint8_t spa[4];
	uint8_t tha[ETH_ALEN];
	uint8_t tpa[4];
} __attribute__((packed));
static_assert(sizeof(struct arp_pkt) == 28, "RFC 826");

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ICMPV6_ 58
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFF_MASK 0x1fff

struct ipv4_hdr {
	uint8_t ver_ihl;
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag_off;
	uint8_t ttl;
	uint8_t proto;
	uint16_t check;
	uint32_t saddr;
	uint32_t daddr;
} __attribute__((packed));
static_assert(sizeof(struct ipv4_hdr) == 20, "RFC 791");

#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8

struct icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t check;
	uint16_t id;
	uint16_t seq;
} __attribute__((packed));
static_assert(sizeof(struct icmp_hdr) == 8, "RFC 792");

struct udp_hdr {
	uint16_t sport, dport, len, check;
} __attribute__((packed));
static_assert(sizeof(struct udp_hdr) == 8, "RFC 768");

/* TCP flags (RFC 9293 §3.1). */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

struct tcp_hdr {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t off;   /* data offset in 32-bit words, high nibble */
	uint8_t flags; /* TCP_* */
	uint16_t win, check, urg;
} __attribute__((packed));
static_assert(sizeof(struct tcp_hdr) == 20, "RFC 9293");

struct ipv6_hdr {
	uint32_t ver_tc_flow; /* version 6 in the top nibble */
	uint16_t payload_len;
	uint8_t next;
	uint8_t hop_limit;
	uint8_t saddr[16];
	uint8_t daddr[16];
} __attribute__((packed));
static_assert(sizeof(struct ipv6_hdr) == 40, "RFC 8200");

/* ICMPv6 common header (RFC 4443 §2.1); NDP messages (RFC 4861) follow it. */
struct icmp6_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t check;
} __attribute__((packed));
static_assert(sizeof(struct icmp6_hdr) == 4, "RFC 4443");

#endif
