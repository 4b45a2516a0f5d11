/*
 * fwd_relay.h — the host's own [::1] reaching an IPv6 port forward.
 *
 * Port forwards are DNAT rules (nat_kernel.c). For IPv4 the host's loopback
 * works through them (route_localnet plus a masquerade), but Linux never lets
 * a packet from ::1 leave the host (RFC 4291 §2.5.3), so an IPv6 rule cannot
 * rewrite connections to [::1]:PORT. For those the daemon relays in user
 * space: the socket that holds the forward's host port ([::]:PORT, v6-only,
 * see gateway.c) listens (TCP) or reads (UDP); only traffic addressed to ::1
 * ever reaches it (every other local address is rewritten by the DNAT before
 * delivery) and only that is relayed, to the guest's address and port over
 * the network's host tap. The guest sees the host tap's address as source.
 */
#ifndef VMNET_ENGINE_FWD_RELAY_H
#define VMNET_ENGINE_FWD_RELAY_H

#include <stdint.h>

#include "engine/nat_kernel.h"

/* Relayed TCP connections per forward, UDP flows per forward. */
#define FWD_RELAY_CONN_MAX 64
#define FWD_RELAY_FLOW_MAX 64
/* A UDP flow without traffic for this long is forgotten (seconds). */
#define FWD_RELAY_FLOW_IDLE 60

struct fwd_relay;

/*
 * Relay [::1]:f->ext_port to the guest of the IPv6 forward f, on fd: the
 * forward's held socket, bound to [::]:f->ext_port (stays the caller's; for
 * TCP it is put in listening state). Needs the daemon's event loop.
 * Return: 0 and *out, or -errno.
 */
int fwd_relay_new(int fd, const struct nat_forward *f, struct fwd_relay **out);
/* Stop relaying: every relayed connection and flow is closed (NULL is fine). */
void fwd_relay_free(struct fwd_relay *r);
/* Once a second: forget idle UDP flows. */
void fwd_relay_tick(struct fwd_relay *r, uint64_t now_sec);

#endif
