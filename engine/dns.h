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

/*
 * Parse the nameserver lines of a resolv.conf(5) file (at most max; port 53;
 * IPv6 link-local addresses may carry %SCOPE). Bad lines are skipped.
 * Return: the count (0..max), or -errno when the file cannot be read.
 */
int dns_resolv_conf_parse(const char *path, struct sockaddr_storage *out, unsigned max);
/* The upstreams in use now. Return: their count (0..max). */
unsigned dns_proxy_upstreams(const struct dns_proxy *p, struct sockaddr_storage *out, unsigned max);

/* What the proxy did since it was created (`vmnet status`, tests). */
struct dns_stats {
	uint64_t queries;    /* guest queries forwarded upstream (UDP and TCP) */
	uint64_t answers;    /* answers relayed to guests (a TC stand-in counts too) */
	uint64_t truncated;  /* UDP answers too large for the guest: replaced by header + question, TC set */
	uint64_t dropped;    /* guest frames dropped: malformed, bad checksum, not a query, ... */
	uint64_t evicted;    /* pending UDP queries dropped for newer ones (table full) */
	uint64_t timeouts;   /* queries given up without an answer */
	uint64_t bad_source; /* upstream replies from an address or port a query was not sent to */
	uint64_t mismatched; /* upstream replies with an unknown ID or another question */
	uint64_t tcp_accepted; /* TCP connections from guests */
	uint64_t tcp_resets;   /* TCP connections reset by the proxy */
};
void dns_proxy_stats(const struct dns_proxy *p, struct dns_stats *out);

/*
 * --- Between dns.c and dns_tcp.c only (the gateway has no use for these) ---
 */

/* Pending UDP queries and TCP connections at most: fixed tables, see dns.c / dns_tcp.c. */
#define DNS_PENDING_MAX 1024
#define DNS_TCP_CONN_MAX 64

/* One guest endpoint talking to one of the gateway's addresses. */
struct dns_flow {
	uint8_t mac[6];   /* the guest's */
	bool v6;
	uint8_t guest[16]; /* IPv4: the first 4 bytes, network order */
	uint8_t gw[16];    /* the gateway address the guest used */
	uint16_t port;     /* the guest's port, host order */
};

/* Seconds without an answer before the next upstream is tried, and before a query is given up. */
#define DNS_RETRY_AFTER 2
#define DNS_GIVE_UP 5

struct cursor;
struct dns_tcp;

/*
 * Check a guest's query: header (QR clear, opcode QUERY, one question) and
 * an uncompressed question. Return: the question's length (it starts right
 * after the 12-byte header), or -EINVAL.
 */
int dns_query_parse(struct cursor msg);
/* Is msg an answer with ID id whose question is question[0..qlen) (the name compared case-insensitively)? */
bool dns_answer_matches(struct cursor msg, uint16_t id, const uint8_t *question, size_t qlen);
/* Random bytes for IDs and initial sequence numbers (never blocks). */
void dns_random(struct dns_proxy *p, void *buf, size_t n);
/* Upstream i (0..count-1) of the list in use. Return: it, or NULL. */
const struct sockaddr_storage *dns_upstream(const struct dns_proxy *p, unsigned i);
unsigned dns_upstream_count(const struct dns_proxy *p);
struct dns_stats *dns_stats_of(struct dns_proxy *p);
/*
 * Send one segment to a guest: Ethernet + IPv4/IPv6 headers around the
 * transport header hdr (its checksum is filled in here) and data.
 * Return: 0, or -EMSGSIZE when it would not fit a 1514-byte frame.
 */
int dns_emit(struct dns_proxy *p, const struct dns_flow *f, uint8_t proto, void *hdr, size_t hlen,
	     const void *data, size_t dlen);

/* The TCP endpoint (dns_tcp.c). Return: 0 or -ENOMEM. */
int dns_tcp_new(struct dns_proxy *p, struct dns_tcp **out);
void dns_tcp_free(struct dns_tcp *t);
/* One TCP segment from f to port 53, checksum already checked; seg is the whole segment. */
void dns_tcp_input(struct dns_tcp *t, const struct dns_flow *f, struct cursor seg, uint64_t now);
void dns_tcp_tick(struct dns_tcp *t, uint64_t now);

#endif
