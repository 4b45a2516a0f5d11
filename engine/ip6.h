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

/* Largest reply frame any of these builds. */
#define IP6_REPLY_MAX 1514

struct ip6_config {
	uint8_t mac[6];        /* the gateway's MAC */
	uint8_t prefix[16];    /* the network's /64 (low 8 bytes zero) */
	uint8_t ll[16];        /* the gateway's link-local address */
	uint8_t global[16];    /* the gateway's address in the prefix (prefix::1) */
	uint32_t mtu;          /* advertised MTU option (0 = omit) */
	bool router_adv;       /* answer router solicitations (periodic RAs: ndp_build_ra) */
	uint16_t router_lifetime; /* seconds; 0 = not a default router (host mode) */
	bool dns;              /* advertise the gateway's global address as DNS server (RDNSS, DHCPv6) */
	char domain[64];       /* search domain (DNSSL, DHCPv6 domain list); "" = none */
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
 * Return: reply length, 0 for nothing to send, or -EINVAL (malformed, counted).
 */
int ndp_input(const struct ip6_config *cfg, const uint8_t *frame, size_t len, uint8_t *out, size_t cap);
/* Build an unsolicited router advertisement to all-nodes. Return: length, or -ENOBUFS. */
int ndp_build_ra(const struct ip6_config *cfg, uint8_t *out, size_t cap);
/*
 * A UDP frame to port 547 from a guest: Information-request (and Solicit,
 * answered with an Advertise carrying only a status NoAddrsAvail plus DNS)
 * → Reply with DNS servers (option 23) and domain list (24).
 * Return: reply length, 0, or -EINVAL.
 */
int dhcp6_input(const struct ip6_config *cfg, const uint8_t *frame, size_t len, uint8_t *out, size_t cap);

#endif
