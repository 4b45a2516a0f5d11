/*
 * nat_kernel.h — the kernel side of a network, through nftables: NAT44 and
 * NAT66 of a shared-mode network's traffic to the outside world, port
 * forwards (DNAT) to its guests, and the forwarding filter that keeps
 * networks apart (host-mode networks get only the filter: guests reach no one
 * through the host). One nftables table per network, named after the daemon
 * instance and the network's host tap, so that each daemon sees and cleans
 * only its own tables. Needs CAP_NET_ADMIN.
 */
#ifndef VMNET_ENGINE_NAT_KERNEL_H
#define VMNET_ENGINE_NAT_KERNEL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* Port forwards per network. */
#define NAT_FORWARD_MAX 256

struct nat_kernel;

struct nat_kernel_config {
	const char *host_if;     /* the network's host tap (vmnet-hostN) */
	bool shared;             /* NAT the subnet and prefix; false: host mode, filter only */
	struct in_addr subnet;   /* network address (network order) */
	struct in_addr mask;
	bool nat44, nat66;       /* (shared) masquerade IPv4 / IPv6 */
	bool has_prefix6;
	uint8_t prefix6[16];     /* /64 */
	const char *external_if; /* (shared) only this uplink; NULL = any interface but ours */
	const struct nat_forward *fwd; /* (shared) port forwards installed with the table (copied) */
	unsigned nfwd;
};

struct nat_forward {
	uint8_t proto;       /* IPPROTO_TCP, IPPROTO_UDP */
	uint8_t family;      /* AF_INET, AF_INET6 (Linux values) */
	uint16_t ext_port;   /* host order */
	uint16_t int_port;   /* host order */
	uint8_t addr[16];    /* the guest's address: 4 or 16 bytes by family */
};

/*
 * Once, at start-up. instance: a short tag unique to this daemon (its socket
 * path, hashed). Removes tables a crashed daemon of the same instance left.
 * Return: 0, or -errno (-EPERM without CAP_NET_ADMIN, -EPROTONOSUPPORT
 * without nftables in the kernel).
 */
int nat_kernel_init(const char *instance);
/* At exit: remove every table of this instance. */
void nat_kernel_shutdown(void);
/* Is kernel NAT usable (nat_kernel_init succeeded)? */
bool nat_kernel_available(void);

/*
 * Install a network's table and, for shared networks, switch on IPv4 (and,
 * with nat66, IPv6) forwarding. The port forwards of cfg go in with the table
 * in the same transaction; should nftables refuse them, the table is installed
 * without them (logged) and nat_kernel_forwards() tells which are in.
 * Return: 0 and *out, or -errno; why: a sentence for the client when it fails.
 */
int nat_kernel_add(const struct nat_kernel_config *cfg, struct nat_kernel **out, const char **why);
/* Remove a network's table (NULL is fine). */
void nat_kernel_remove(struct nat_kernel *nk);
/*
 * Port forwards: traffic to a host address on ext_port (from outside and from
 * the host itself, 127.0.0.1 included for IPv4; not ::1, which the kernel
 * cannot send to another host) goes to the guest.
 * Return: 0, -EEXIST (same protocol, family and port), -ENOENT (remove: no
 * such rule), -ENOSPC, or -errno from nftables.
 */
int nat_kernel_forward_add(struct nat_kernel *nk, const struct nat_forward *f);
int nat_kernel_forward_remove(struct nat_kernel *nk, uint8_t proto, uint8_t family, uint16_t ext_port);
/* The rules, for listing. Return: count; *rules valid until the next change. */
unsigned nat_kernel_forwards(const struct nat_kernel *nk, const struct nat_forward **rules);

#endif
