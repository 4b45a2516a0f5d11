/*
 * lease.h — the DHCPv4 lease table of one network (used by dhcp.c only):
 * one slot per pool address, allocated once at start-up, never grown, and
 * its persistence in a text file (format: see the header of lease.c).
 *
 * Slot i holds address first + i, so lookups by address are an index and the
 * "first free address" is the first free slot. Lookups by client identity
 * scan a compact array of identity hashes (LEASE_MAX x 4 bytes).
 */
#ifndef VMNET_ENGINE_LEASE_H
#define VMNET_ENGINE_LEASE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"

/* Slots per table: a larger pool is served from its first LEASE_MAX addresses. */
#define LEASE_MAX 4096
static_assert(LEASE_MAX > 0 && LEASE_MAX <= 65536, "lease table: bounded, and a slot index fits in 16 bits");

/* A client identity is at most one option's worth of bytes (RFC 2132 §2: length is one octet). */
#define LEASE_ID_MAX 255
/* Hostname kept per lease, NUL included. */
#define LEASE_HOSTNAME_MAX 64

enum lease_state {
	LEASE_FREE = 0, /* never used (or given back by a reservation) */
	LEASE_OFFERED,  /* in a DHCPOFFER, held until expires */
	LEASE_BOUND,    /* acknowledged; after expires the client keeps it until someone needs it */
	LEASE_DECLINED, /* a client found it in use (DHCPDECLINE): unusable until expires */
	LEASE_BLOCKED,  /* never dynamic: the server's own address or a reservation */
};

/* Who a lease belongs to: option 61 (client identifier), or 01 + chaddr without one. */
struct lease_id {
	uint8_t len; /* 0 = nobody */
	uint8_t b[LEASE_ID_MAX];
};

struct lease {
	uint8_t state; /* enum lease_state */
	uint8_t mac[6]; /* chaddr when last seen */
	uint64_t expires; /* monotonic seconds (OFFERED, BOUND, DECLINED) */
	char hostname[LEASE_HOSTNAME_MAX]; /* sanitised, "" = unknown */
	struct lease_id id;
};

struct lease_table {
	uint32_t first; /* address of slot 0, host order */
	uint32_t n; /* slots: addresses first .. first + n - 1 */
	struct lease *slot;
	uint32_t *idhash; /* idhash[i]: hash of slot[i].id, 0 when the slot has no client */
};

/* Allocate n (1..LEASE_MAX) free slots for first.. Return: 0, -EINVAL or -ENOMEM. */
int lease_table_init(struct lease_table *t, uint32_t first, uint32_t n);
void lease_table_fini(struct lease_table *t);

/* Return: the slot of ip (host order), or NULL outside the table. */
struct lease *lease_by_ip(struct lease_table *t, uint32_t ip);
/* Return: the slot holding this client (any state, expired or not), or NULL. */
struct lease *lease_by_id(struct lease_table *t, const struct lease_id *id);
/* Return: the address (host order) of slot l. */
uint32_t lease_ip(const struct lease_table *t, const struct lease *l);

/* Return: whether l may be given to a new client now (free, or an expired offer, decline or lease). */
bool lease_available(const struct lease *l, uint64_t now);
/*
 * The slot to give a client that has none, in allocation order: the lowest
 * free address; else the oldest expired offer, then decline, then lease.
 * Return: the slot, or NULL when the pool is full.
 */
struct lease *lease_pick(struct lease_table *t, uint64_t now);

/* Give l to client id (with chaddr mac) in state st until expires. The hostname survives for the same client. */
void lease_assign(struct lease_table *t, struct lease *l, enum lease_state st, const struct lease_id *id,
		  const uint8_t mac[6], uint64_t expires);
/* Take l from its client: state st (FREE, DECLINED or BLOCKED) until expires. */
void lease_clear(struct lease_table *t, struct lease *l, enum lease_state st, uint64_t expires);

/* Identity from untrusted bytes (at most LEASE_ID_MAX are kept). */
void lease_id_from(struct lease_id *id, struct cursor c);
bool lease_id_eq(const struct lease_id *a, const struct lease_id *b);
/* Hostname from untrusted bytes: up to the first NUL, [A-Za-z0-9._-] kept, other bytes become '-', bounded. */
void lease_hostname_from(char out[LEASE_HOSTNAME_MAX], struct cursor c);

/*
 * Write every BOUND slot to path atomically (temporary file, fsync, rename,
 * fsync of the directory). now: the monotonic time expiries are relative to.
 * No allocation: safe on the packet path. Return: 0 or -errno.
 */
int lease_save(const struct lease_table *t, const char *path, uint64_t now);
/*
 * Load BOUND slots from path into a table whose slots are FREE or BLOCKED.
 * Bad, conflicting or out-of-pool lines are skipped (one warning with the count).
 * Return: the number loaded, 0 when the file does not exist, or -errno when it cannot be read.
 */
int lease_load(struct lease_table *t, const char *path, uint64_t now);

#endif
