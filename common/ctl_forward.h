/*
 * ctl_forward.h — the keys of CTL_FORWARD (port forwarding) messages, shared
 * by libvmnet (lib/forward.c), the `vmnet forward` command (cli/forward.c)
 * and vmnetd (daemon/forward.c). docs/protocol.md describes the messages.
 *
 * A rule travels as a dictionary of the five FWD_KEY_* rule keys; it is also
 * the dictionary the API hands to programs, which decode it with
 * vmnet_port_forwarding_rule_get_details / vmnet_ip_port_forwarding_rule_get_details
 * (Apple keeps the keys of its rule dictionaries private; these are ours).
 */
#ifndef VMNET_COMMON_CTL_FORWARD_H
#define VMNET_COMMON_CTL_FORWARD_H

/* Request: which operation, on which network. */
#define FWD_KEY_OP "op"           /* string: FWD_OP_ADD, FWD_OP_REMOVE, FWD_OP_LIST */
#define FWD_KEY_NETWORK "network" /* string: a network's name (the CLI) */
/* ... or CTL_KEY_PORT_ID (uint64): the caller's interface, whose network is meant (the API). */

#define FWD_OP_ADD "add"
#define FWD_OP_REMOVE "remove"
#define FWD_OP_LIST "list"

/* A rule (request of add/remove; each element of a list reply's "rules"). */
#define FWD_KEY_PROTOCOL "protocol"                 /* uint64: 6 (TCP) or 17 (UDP) */
#define FWD_KEY_EXTERNAL_PORT "external_port"       /* uint64: 1-65535, the host's port */
#define FWD_KEY_ADDRESS_FAMILY "address_family"     /* uint64: 2 (IPv4), 10 or 30 (IPv6) */
#define FWD_KEY_INTERNAL_ADDRESS "internal_address" /* string: the guest's address */
#define FWD_KEY_INTERNAL_PORT "internal_port"       /* uint64: 1-65535, the guest's port */
#define FWD_KEY_ACTIVE "active" /* bool (list replies): in force (false: its host port was taken) */

/* List reply: FWD_KEY_NETWORKS, an array of {name, subnet, prefix, rules}. */
#define FWD_KEY_NETWORKS "networks"
#define FWD_KEY_RULES "rules"

#endif
