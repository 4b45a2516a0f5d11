/*
 * ip6.h — the gateway's IPv6 services: neighbour discovery for its own
 * addresses, ICMPv6 echo, router advertisements (ndp.c, RFC 4861, RDNSS and
 * DNSSL from RFC 8106) and stateless DHCPv6 (dhcp6.c, RFC 8415
 * Information-request). Self-contained like dhcp.c: each call takes a private
 * copy of one frame and builds at most one reply frame.
 */
#ifndef VMNET_ENGINE_IP6_H
#define VMNET_ENGINE_IP6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/cursor.h"
#include "engine/wire.h"

/* Largest reply frame any of these builds. */
#define IP6_REPLY_MAX 1514
/* Size of ip6_config.domain, the terminating NUL included. */
#define IP6_DOMAIN_MAX 64

struct ip6_config {
	uint8_t mac[6];        /* the gateway's MAC */
	uint8_t prefix[16];    /* the network's /64 (low 8 bytes zero) */
	uint8_t ll[16];        /* the gateway's link-local address */
	uint8_t global[16];    /* the gateway's address in the prefix (prefix::1) */
	uint32_t mtu;          /* advertised MTU option (0 = omit) */
	bool router_adv;       /* answer router solicitations (periodic RAs: ndp_build_ra) */
	uint16_t router_lifetime; /* seconds; 0 = not a default router (host mode) */
	bool dns;              /* advertise the gateway's global address as DNS server (RDNSS, DHCPv6) */
	char domain[IP6_DOMAIN_MAX]; /* search domain (DNSSL, DHCPv6 domain list); "" = none */
};

/* Fill ll (fe80::/64 + modified EUI-64 of mac, RFC 4291 App. A) and global (prefix::1). */
void ip6_gateway_addrs(const uint8_t mac[6], const uint8_t prefix[16], uint8_t ll[16], uint8_t global[16]);
/* A ULA /64 (RFC 4193: fd00::/8, 40-bit global ID, subnet ID 0) derived from a 16-byte seed. */
void ip6_ula_prefix(const uint8_t seed[16], uint8_t prefix[16]);

/*
 * An ICMPv6 frame from a guest (private copy): neighbour solicitation for
 * one of the gateway's addresses → advertisement; router solicitation →
 * advertisement (when cfg->router_adv); echo request to one of our
 * addresses → echo reply. Everything else, and anything malformed
 * (RFC 4861 §6.1/§7.1 validity checks: hop limit 255, code 0, checksum,
 * option lengths non-zero and inside the message), is dropped.
 * out must not overlap frame.
 * Return: reply length, 0 for nothing to send (including frames that are
 * not IPv6/ICMPv6 at all, or carry extension headers), -EINVAL (malformed,
 * counted), or -ENOBUFS when the reply does not fit cap (IP6_REPLY_MAX fits
 * every reply to a frame of at most IP6_REPLY_MAX bytes).
 */
int ndp_input(const struct ip6_config *cfg, const uint8_t *frame, size_t len, uint8_t *out, size_t cap);
/* Build an unsolicited router advertisement to all-nodes. Return: length, or -ENOBUFS. */
int ndp_build_ra(const struct ip6_config *cfg, uint8_t *out, size_t cap);
/*
 * A UDP frame to port 547 from a guest: Information-request (and Solicit,
 * answered with an Advertise carrying only a status NoAddrsAvail plus DNS)
 * → Reply with DNS servers (option 23) and domain list (24).
 * out must not overlap frame.
 * Return: reply length, 0 (another message type, not to us, not DHCPv6),
 * -EINVAL (malformed, counted), or -ENOBUFS (cap below IP6_REPLY_MAX may not fit).
 */
int dhcp6_input(const struct ip6_config *cfg, const uint8_t *frame, size_t len, uint8_t *out, size_t cap);

/* --- Internal: shared by ndp.c and dhcp6.c (defined in ndp.c) --- */

/* An IPv6 packet in a guest's frame. The headers point into the frame. */
struct ip6_pkt {
	const struct eth_hdr *eth;
	const struct ipv6_hdr *ip;
	struct cursor payload; /* exactly payload_len bytes: Ethernet padding cut off */
};

/*
 * The Ethernet and IPv6 headers of a frame whose IPv6 header is followed
 * directly by protocol next (no extension headers).
 * Return: 0; -EPROTO (not IPv6, or another next header); -EINVAL (malformed:
 * bad version, payload length 0 or past the frame, multicast source); *why
 * says why.
 */
int ip6_parse(const uint8_t *frame, size_t len, uint8_t next, struct ip6_pkt *p, const char **why);
/* Return: whether the upper-layer checksum (RFC 8200 §8.1) of a received payload is right. */
bool ip6_csum_ok(const struct ipv6_hdr *ip, const void *payload, size_t len);
/* Start a reply frame in w (at its start): Ethernet, then IPv6 with payload length left for ip6_finish. */
void ip6_start(struct writer *w, const uint8_t dmac[6], const uint8_t smac[6], const uint8_t src[16],
	       const uint8_t dst[16], uint8_t next, uint8_t hop_limit);
/*
 * Finish a frame begun by ip6_start: IPv6 payload length, the UDP length for
 * UDP, and the checksum at csum_off in the payload.
 * Return: frame length, or -ENOBUFS when it overflowed w.
 */
int ip6_finish(struct writer *w, size_t csum_off);
/*
 * One domain name in DNS wire format (RFC 1035 §3.1: length-prefixed labels
 * and a zero byte), as DNSSL and DHCPv6 option 24 carry it. A trailing dot is
 * allowed; empty or over-long labels and non-printable bytes are not.
 * Return: length (0 for ""), or -EINVAL.
 */
int ip6_domain_encode(const char domain[IP6_DOMAIN_MAX], uint8_t *out, size_t cap);

static inline bool ip6_is_multicast(const uint8_t a[16])
{
	return a[0] == 0xff;
}

static inline bool ip6_is_unspecified(const uint8_t a[16])
{
	static const uint8_t zero[16];

	return !memcmp(a, zero, 16);
}

/* Return: whether a is the gateway's link-local or global address. */
static inline bool ip6_is_ours(const struct ip6_config *cfg, const uint8_t a[16])
{
	return !memcmp(a, cfg->ll, 16) || !memcmp(a, cfg->global, 16);
}

#endif
