/*
 * dhcp.h — the DHCPv4 server of a network (RFC 2131, options RFC 2132).
 *
 * A self-contained module: the gateway hands it one frame at a time and sends
 * the reply it builds. It never touches sockets or the switch. Leases persist
 * in a file (format in lease.c), reservations map a MAC to a fixed address.
 */
#ifndef VMNET_ENGINE_DHCP_H
#define VMNET_ENGINE_DHCP_H

#include <assert.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* UDP ports (RFC 2131 §4.1). */
#define DHCP_PORT_SERVER 67
#define DHCP_PORT_CLIENT 68

/* BOOTP fixed header fields. */
#define DHCP_OP_BOOTREQUEST 1
#define DHCP_OP_BOOTREPLY 2
#define DHCP_HTYPE_ETHER 1
#define DHCP_HLEN_ETHER 6
#define DHCP_FLAG_BROADCAST 0x8000
#define DHCP_MAGIC_COOKIE 0x63825363 /* 99.130.83.99, RFC 2131 §3 */

/* Message types: the value of DHCP_OPT_MESSAGE_TYPE (RFC 2132 §9.6). */
enum dhcp_msg_type {
	DHCP_DISCOVER = 1,
	DHCP_OFFER = 2,
	DHCP_REQUEST = 3,
	DHCP_DECLINE = 4,
	DHCP_ACK = 5,
	DHCP_NAK = 6,
	DHCP_RELEASE = 7,
	DHCP_INFORM = 8,
};

/* Option codes (RFC 2132 section in brackets). */
enum dhcp_opt {
	DHCP_OPT_PAD = 0,             /* §3.1 */
	DHCP_OPT_SUBNET_MASK = 1,     /* §3.3 */
	DHCP_OPT_ROUTER = 3,          /* §3.5 */
	DHCP_OPT_DNS_SERVER = 6,      /* §3.8 */
	DHCP_OPT_HOSTNAME = 12,       /* §3.14 */
	DHCP_OPT_DOMAIN_NAME = 15,    /* §3.17 */
	DHCP_OPT_INTERFACE_MTU = 26,  /* §5.1 */
	DHCP_OPT_BROADCAST = 28,      /* §5.3 */
	DHCP_OPT_REQUESTED_IP = 50,   /* §9.1 */
	DHCP_OPT_LEASE_TIME = 51,     /* §9.2 */
	DHCP_OPT_OVERLOAD = 52,       /* §9.3 (not honoured: sname/file are never parsed) */
	DHCP_OPT_MESSAGE_TYPE = 53,   /* §9.6 */
	DHCP_OPT_SERVER_ID = 54,      /* §9.7 */
	DHCP_OPT_PARAM_REQUEST = 55,  /* §9.8 */
	DHCP_OPT_MESSAGE = 56,        /* §9.9 */
	DHCP_OPT_MAX_MSG_SIZE = 57,   /* §9.10 */
	DHCP_OPT_RENEWAL_TIME = 58,   /* §9.11, T1 */
	DHCP_OPT_REBINDING_TIME = 59, /* §9.12, T2 */
	DHCP_OPT_CLIENT_ID = 61,      /* §9.14 */
	DHCP_OPT_END = 255,           /* §3.2 */
};

/* The BOOTP/DHCP fixed header (RFC 2131 §2, figure 1); options follow the magic cookie. */
struct dhcp_msg {
	uint8_t op, htype, hlen, hops;
	uint32_t xid;
	uint16_t secs, flags;
	uint32_t ciaddr, yiaddr, siaddr, giaddr;
	uint8_t chaddr[16];
	uint8_t sname[64];
	uint8_t file[128];
} __attribute__((packed));
static_assert(sizeof(struct dhcp_msg) == 236, "RFC 2131 §2");

/* Shortest BOOTP message sent (RFC 1542 §2.1: some clients drop anything shorter). */
#define DHCP_BOOTP_MIN 300
/* Largest reply frame dhcp_input builds: Ethernet + a 576-byte IP datagram (RFC 2131 §2). */
#define DHCP_REPLY_MAX (14 + 576)
/* Reservations per server. */
#define DHCP_RESERVE_MAX 256
/* Default lease time (as macOS) and flood limit. */
#define DHCP_LEASE_TIME_DEFAULT 86400
#define DHCP_RATE_DEFAULT 200

struct dhcp_config {
	uint8_t server_mac[6];     /* the gateway's MAC: source of replies */
	struct in_addr server;     /* gateway/router address = vmnet_start_address (network order) */
	struct in_addr mask;       /* subnet mask */
	struct in_addr pool_start; /* first address handed out (start + 1) */
	struct in_addr pool_end;   /* last (vmnet_end_address) */
	struct in_addr dns;        /* DNS server option (the gateway; 0 = omit) */
	uint32_t lease_time;       /* seconds; 0 = DHCP_LEASE_TIME_DEFAULT */
	uint16_t mtu;              /* interface MTU option (0 = omit) */
	char domain[64];           /* domain name option ("" = omit) */
	const char *lease_file;    /* where leases persist (NULL = memory only); copied */
	/*
	 * Messages per second from clients without a reservation or an unexpired
	 * lease (token bucket, burst as large): 0 = DHCP_RATE_DEFAULT. Known
	 * clients are never limited, so renewals go on during a flood.
	 */
	uint32_t rate_limit;
};

struct dhcp_server;

/*
 * Create a server; loads cfg->lease_file if it exists (bad lines skipped).
 * The pool must lie inside the subnet without its network and broadcast
 * addresses; a pool larger than LEASE_MAX (lease.h) is served from its first
 * LEASE_MAX addresses. Return: 0, -EINVAL (bad configuration), -ENOMEM, or
 * -errno when the lease file exists but cannot be read.
 */
int dhcp_server_new(const struct dhcp_config *cfg, struct dhcp_server **out);
/* Free s (NULL is fine), writing renewals not yet saved. */
void dhcp_server_free(struct dhcp_server *s);

/*
 * Reserve ip for the client with hardware address mac. The address must be in
 * the subnet and not the server, network or broadcast address; it may lie
 * outside the pool. Reserving a MAC again moves its reservation. A dynamic
 * lease on ip (another client's) or of this MAC ends at once.
 * Return: 0, -EINVAL (bad address or MAC, or ip already reserved for another
 * MAC) or -ENOSPC (DHCP_RESERVE_MAX reached).
 */
int dhcp_reserve(struct dhcp_server *s, const uint8_t mac[6], struct in_addr ip);

/*
 * One frame from a guest: a full Ethernet frame (private memory, len bytes)
 * that is IPv4/UDP to port 67. Builds at most one reply Ethernet frame into
 * out (outcap >= DHCP_REPLY_MAX) and returns its length. now: monotonic
 * seconds (CLOCK_MONOTONIC; lease expiries are converted to wall-clock time
 * in the lease file against it).
 * Return: the reply length; 0 when handled with nothing to send (RELEASE,
 * DECLINE, a REQUEST for another server); or a negative errno for a dropped
 * message: -EINVAL malformed, -EPROTO not a request this server serves,
 * -EAGAIN rate-limited, -ENOSPC pool full, -EPERM RELEASE/DECLINE not from
 * the lease owner, -ENOENT RELEASE/DECLINE of an address nobody holds,
 * -ENOBUFS outcap too small.
 */
int dhcp_input(struct dhcp_server *s, const uint8_t *frame, size_t len, uint8_t *out, size_t outcap, uint64_t now);

/*
 * Coalesce lease-file writes: with on, a change of binding is written by the
 * next dhcp_flush() instead of at once, so that a burst of messages handled
 * in one batch costs one write. The caller must flush before it sends the
 * replies of that batch (an ACK never goes out before its lease is on disk).
 */
void dhcp_defer_saves(struct dhcp_server *s, bool on);
void dhcp_flush(struct dhcp_server *s);

/*
 * Iterate leases for `vmnet leases`: reservations first (expires 0), then
 * acknowledged leases, expired ones included (expires <= now), with the MAC
 * last seen and the sanitised hostname ("" when unknown).
 */
typedef void (*dhcp_lease_fn)(void *ctx, const uint8_t mac[6], struct in_addr ip, const char *hostname,
			      uint64_t expires);
void dhcp_leases(struct dhcp_server *s, void *ctx, dhcp_lease_fn fn);

#endif
