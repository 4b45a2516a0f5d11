/*
 * netser.h — the serialization of a network object: what
 * vmnet_network_copy_serialization() returns and
 * vmnet_network_create_with_serialization() accepts (docs/networks.md §3).
 *
 * An xpc dictionary, self-describing (a "format" key names the version), that
 * carries the network's identity (UUID), a 128-bit secret token that vmnetd
 * checks before it lets anyone join, and the network's addresses so that the
 * receiver can answer vmnet_network_get_ipv4_subnet() at once. vmnetd's word
 * is final: it refuses a serialization whose addresses do not match.
 */
#ifndef VMNET_COMMON_NETSER_H
#define VMNET_COMMON_NETSER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uuid/uuid.h>

#define NETSER_FORMAT "vmnet.network/1"
#define NETSER_TOKEN_LEN 16 /* 128 bits from getrandom() */
#define NETSER_NAME_MAX 48  /* as struct network's name */

struct netser {
	uuid_t id;
	uint8_t token[NETSER_TOKEN_LEN];
	char name[NETSER_NAME_MAX]; /* the network's name in vmnetd (informational) */
	uint32_t mode;              /* VMNET_HOST_MODE or VMNET_SHARED_MODE */
	struct in_addr base, mask;  /* the effective IPv4 subnet */
	bool has_prefix;
	uint8_t prefix[16];         /* the effective IPv6 /64 */
	uint32_t mtu;
};

/* Return: a new dictionary (+1) describing s. */
void *netser_build(const struct netser *s);
/*
 * Parse a serialization (untrusted): a dictionary with format ==
 * NETSER_FORMAT, a uuid id, a 16-byte data token, a name, mode host or shared,
 * a subnet "A.B.C.D/N" (N 8..30), an mtu of 1280..9000 and optionally a
 * prefix "P::/64". Unknown keys are ignored.
 * Return: 0, or -EINVAL with *why set.
 */
int netser_parse(void *obj, struct netser *s, const char **why);

#endif
