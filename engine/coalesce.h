/*
 * coalesce.h — TCP receive coalescing ("GRO") for a port that takes
 * super-frames: consecutive MTU-sized segments of one TCP flow, handed over
 * in one batch, become one super-frame with offload metadata.
 *
 * Why: a guest without offloads (QEMU stream/dgram sockets, libvmnet clients
 * without TSO) sends 1514-byte frames. Written one by one into the host tap,
 * each costs the host's stack a trip, and the host answers every second one
 * with an ACK that the guest must process (under emulation, dearly). Merged
 * into one frame per batch, the host sees one segment per batch and ACKs it
 * once, as it would behind a NIC with GRO.
 *
 * What merges (the rules of the kernel's GRO, so nothing is merged that the
 * receiver would treat differently): IPv4 without options or fragments, or
 * IPv6 without extension headers; the same addresses, ports, TOS/traffic
 * class, TTL/hop limit, IPv4 DF bit, IPv6 flow label; TCP flags ACK (PSH
 * allowed on the last segment), identical header length, options, ACK number
 * and window; each segment's sequence number following the previous one;
 * payloads of the first segment's size (a shorter one ends the run); a
 * correct TCP checksum on each segment (a damaged segment is passed on as it
 * is, for the receiver to drop); at most COALESCE_MAX bytes of IP.
 */
#ifndef VMNET_ENGINE_COALESCE_H
#define VMNET_ENGINE_COALESCE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/ring.h"

#define COALESCE_MAX 65535u /* IP bytes of one super-frame (the IPv4 total length field) */

/* Called with each frame to send: a super-frame (vnet says TCP GSO with a partial checksum)
 * or a frame passed on as it came (vnet zero). Valid only during the call. */
typedef void (*coalesce_emit_fn)(void *ctx, const uint8_t *frame, uint32_t len, const struct ring_vnet_hdr *vnet);

struct coalesce {
	uint8_t buf[14 + COALESCE_MAX];
	uint32_t len;       /* bytes in buf; 0 = nothing pending */
	uint32_t l4;        /* offset of the TCP header */
	uint32_t hdrs;      /* Ethernet + IP + TCP header bytes */
	uint32_t mss;       /* payload of the first segment */
	uint32_t next_seq;  /* sequence number the next segment must carry */
	unsigned segs;
	bool v6;
	uint64_t merged;    /* segments that joined a super-frame (counters, for tests and status) */
};

/*
 * Offer one plain frame (private memory, full checksums). It joins the
 * pending super-frame, starts a new one (after emitting the pending one), or
 * when it cannot merge is emitted as it is (after the pending one: order is
 * kept).
 */
void coalesce_add(struct coalesce *c, const uint8_t *frame, uint32_t len, coalesce_emit_fn emit, void *ctx);
/* End of a batch: emit what is pending. */
void coalesce_flush(struct coalesce *c, coalesce_emit_fn emit, void *ctx);

#endif
