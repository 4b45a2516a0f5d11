/*
 * netconf.h — the configuration of a network as the network-configuration
 * API builds it (vmnet_network_configuration_ref), as CTL_NETWORK carries it
 * (an xpc dictionary) and as a named network's definition file stores it (one
 * "key=value" per line). One structure, one set of checks, three forms:
 *
 *   library:  netconf_default(), the netconf_set_*() checks, netconf_to_xpc()
 *   vmnetd:   netconf_from_xpc() (untrusted), netconf_check(), netconf_format()
 *             and netconf_parse() for <state>/networks/NAME.conf
 *
 * Every form is described in docs/networks.md.
 */
#ifndef VMNET_COMMON_NETCONF_H
#define VMNET_COMMON_NETCONF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uuid/uuid.h>

#define NETCONF_RESERVE_MAX 256 /* as the gateway's reservation table */
#define NETCONF_FORWARD_MAX 64
#define NETCONF_MTU_MIN 1280
#define NETCONF_MTU_MAX 9000
#define NETCONF_MTU_DEFAULT 1500
#define NETCONF_NAME_MAX 32     /* named networks: longest name, in bytes */
#define NETCONF_IFNAME_MAX 16   /* IFNAMSIZ */
#define NETCONF_FILE_MAX 65536  /* a definition file is never longer */

#define NETCONF_PROTO_TCP 6
#define NETCONF_PROTO_UDP 17

struct netconf_reservation {
	uint8_t mac[6];
	struct in_addr ip;
};

/* A port-forwarding rule: TCP/UDP external_port on the host -> internal_address:internal_port. */
struct netconf_forward {
	uint8_t protocol;   /* NETCONF_PROTO_TCP or _UDP */
	uint8_t family;     /* AF_INET or AF_INET6 (Linux numbering) */
	uint16_t external_port, internal_port;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

struct netconf {
	uint32_t mode;           /* VMNET_HOST_MODE or VMNET_SHARED_MODE */
	bool has_subnet;         /* else vmnetd picks a free /24 */
	struct in_addr base;     /* network address (host bits zero) */
	struct in_addr mask;
	bool has_prefix;         /* else a ULA /64 derived from the network */
	uint8_t prefix[16];      /* a /64: the low 8 bytes are zero */
	uint32_t mtu;
	bool dhcp, dns, nat44, nat66, router_adv;
	char external_if[NETCONF_IFNAME_MAX]; /* "" = the default route's interface */
	unsigned nres;
	struct netconf_reservation res[NETCONF_RESERVE_MAX];
	unsigned nfwd;
	struct netconf_forward fwd[NETCONF_FORWARD_MAX];
};

/* A fresh configuration of mode: every service on, no subnet, no prefix, MTU 1500. */
void netconf_default(struct netconf *c, uint32_t mode);

/* The mode's default /24 (shared 192.168.64.0, host 192.168.128.0): where an unset subnet starts. */
void netconf_default_subnet(uint32_t mode, struct in_addr *base, struct in_addr *mask);

/*
 * Set the subnet: a contiguous mask of /8 to /30 and a private (RFC 1918)
 * address; host bits of addr are ignored (base+1 works as well as base).
 * Return: 0, or -EINVAL (nothing changed).
 */
int netconf_set_subnet(struct netconf *c, struct in_addr addr, struct in_addr mask);
/* Set the IPv6 prefix: len must be 64; not multicast, link-local or ::/64. Return: 0 or -EINVAL. */
int netconf_set_prefix(struct netconf *c, const uint8_t prefix[16], unsigned len);
/* Return: 0, or -EINVAL outside NETCONF_MTU_MIN..NETCONF_MTU_MAX. */
int netconf_set_mtu(struct netconf *c, uint32_t mtu);
/* An interface name (not checked for existence here). Return: 0 or -EINVAL. */
int netconf_set_external(struct netconf *c, const char *ifname);
/*
 * Reserve ip for mac (a unicast MAC); reserving a MAC again moves it. The
 * subnet is checked by netconf_check().
 * Return: 0, -EINVAL (multicast/zero MAC, address reserved for another MAC), -ENOSPC.
 */
int netconf_reserve(struct netconf *c, const uint8_t mac[6], struct in_addr ip);
/* Add a rule. Return: 0, -EINVAL (bad protocol/family/port, same external port twice), -ENOSPC. */
int netconf_add_forward(struct netconf *c, const struct netconf_forward *f);

/* Is ip an address a guest of base/mask can have (not the network, gateway = base+1, or broadcast)? */
bool netconf_host_ok(struct in_addr ip, struct in_addr base, struct in_addr mask);
/*
 * Cross-field checks against the subnet base/mask (the configured one, or
 * the one vmnetd picked): every reservation and IPv4 forward lies in it.
 * Return: 0, or -EINVAL with *why set.
 */
int netconf_check(const struct netconf *c, struct in_addr base, struct in_addr mask, const char **why);

/* The CTL_NETWORK form: a new xpc dictionary (+1). */
void *netconf_to_xpc(const struct netconf *c);
/*
 * Parse the CTL_NETWORK form (untrusted): every known key must have its type
 * and a valid value; unknown keys are ignored; mode is required; when a
 * subnet is given, netconf_check() must pass.
 * Return: 0, or -EINVAL with *why set.
 */
int netconf_from_xpc(void *dict, struct netconf *c, const char **why);

/* Format a definition file (id first). Return: its length (the text is cut at len - 1). */
size_t netconf_format(const struct netconf *c, const uuid_t id, char *buf, size_t len);
/*
 * Parse a definition file: id= and mode= are required, unknown keys and bad
 * values are errors, the subnet is required and checked with netconf_check().
 * Return: 0, or -EINVAL with a message naming the line in err.
 */
int netconf_parse(const char *text, struct netconf *c, uuid_t id, char *err, size_t errlen);

/*
 * A named network's name: 1 to NETCONF_NAME_MAX bytes of [A-Za-z0-9_.-], not
 * starting with '.' or '-', not a UUID, not one of the names the daemon gives
 * its own networks ("default", "host", "shared" and those starting with
 * "host-", "shared-" or "net-").
 */
bool netconf_name_ok(const char *name);

/* "A.B.C.D/N" -> base (host bits cleared) and mask. Return: 0 or -EINVAL (mask /0../32 syntax only). */
int netconf_parse_cidr(const char *s, struct in_addr *base, struct in_addr *mask);
/* "P::/64" -> prefix. Return: 0 or -EINVAL (any other length, bad address). */
int netconf_parse_prefix(const char *s, uint8_t prefix[16]);

#endif
