/*
 * dns.h — the DNS proxy on the gateway address (UDP and TCP port 53).
 *
 * Guests send queries to the gateway's IPv4 (or IPv6) address; the proxy
 * forwards each to the host's upstream resolvers from its own sockets, with
 * a query ID of its own so that guests cannot collide, and relays the answer
 * byte-exact except for the ID. Only frames handed in by the gateway are
 * served (guests of this network): the proxy never listens on a host
 * interface, so it is never an open resolver. Self-contained like dhcp.c:
 * frames in through dns_input(), frames out through cfg->send().
 */
#ifndef VMNET_ENGINE_DNS_H
#define VMNET_ENGINE_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_PORT 53

struct dns_config {
	uint8_t mac[6];         /* the gateway's MAC: source of replies */
	struct in_addr addr4;   /* the gateway's IPv4 address (network order) */
	bool has_addr6;         /* addr6[] are valid */
	uint8_t addr6[2][16];   /* the gateway's IPv6 addresses (link-local, global) */
	/*
	 * Upstream resolvers, "ADDR[#PORT],..." (IPv4 or IPv6 literals), or NULL:
	 * the nameserver lines of resolv_conf (default /etc/resolv.conf), read
	 * again when that file changes.
	 */
	const char *upstreams;
	const char *resolv_conf;
	/* Emit one Ethernet frame to a guest (copied by the callee). */
	void (*send)(void *ctx, const uint8_t *frame, size_t len);
	void *ctx;
};

struct dns_proxy;
struct sockaddr_storage;

/* Upstreams at most (more in a list or resolv.conf are ignored). */
#define DNS_UPSTREAM_MAX 4

/*
 * Parse "ADDR[#PORT],..." (IPv4/IPv6 literals, port default 53) into out[].
 * Return: the count (1..max), or -EINVAL with nothing usable or any bad entry.
 */
int dns_upstreams_parse(const char *list, struct sockaddr_storage *out, unsigned max);

/* Return: 0 and *out, -EINVAL (bad upstream list), -ENOMEM, or -errno from socket(). */
int dns_proxy_new(const struct dns_config *cfg, struct dns_proxy **out);
/* Close every socket and connection; NULL is fine. */
void dns_proxy_free(struct dns_proxy *p);
/*
 * One frame from a guest: a private copy of an IPv4 or IPv6 frame to UDP or
 * TCP port 53 of one of the gateway's addresses. now: monotonic seconds.
 */
void dns_input(struct dns_proxy *p, const uint8_t *frame, size_t len, uint64_t now);
/* Once a second: time out queries, retransmit/close TCP connections. */
void dns_tick(struct dns_proxy *p, uint64_t now);

#endif
