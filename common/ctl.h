/*
 * ctl.h — the control protocol between clients (libvmnet, vmnet) and vmnetd.
 *
 * Transport: a UNIX SOCK_SEQPACKET socket; one message per packet; file
 * descriptors travel as SCM_RIGHTS; the daemon learns the peer's uid/gid/pid
 * from SO_PEERCRED. A message is a struct ctl_hdr followed by `len` bytes of
 * payload: an xpc dictionary in the byte encoding of common/xpc_wire.c
 * (docs/protocol.md). Replies carry the request's type | CTL_REPLY, its seq,
 * and a vmnet_return_t in `status`.
 *
 * Any message that fails validation (magic, version, length, type, payload
 * that does not decode to a dictionary) closes that one connection.
 */
#ifndef VMNET_COMMON_CTL_H
#define VMNET_COMMON_CTL_H

#include <stddef.h>
#include <stdint.h>

#define CTL_MAGIC 0x564d4e43u /* "VMNC" */
#define CTL_VERSION 1u
#define CTL_MAX_MSG 65536u
#define CTL_MAX_FDS 4
#define CTL_REPLY 0x8000u

enum ctl_type {
	CTL_HELLO = 1,      /* -> {}; <- {protocol, version, pid, system} */
	CTL_START = 2,      /* -> interface_desc (+ vmnet.* private keys); <- interface_param + ring.*; fds memfd, kick_tx, kick_rx */
	CTL_STOP = 3,       /* -> {}; <- {} ; the interface of this connection is gone */
	CTL_STATUS = 4,     /* -> {skip}; <- {version, pid, ..., networks: [...], next} (paged, see docs/protocol.md) */
	CTL_ATTACH_TAP = 5, /* -> {network, name, persist, isolation, netns_path}; fd: tap; <- {vmnet.port, network} */
	CTL_DETACH = 6,     /* -> {name, save?}; <- {definition?} (save: out of a named network's definition too) */
	CTL_SHUTDOWN = 7,   /* -> {}; <- {} then the daemon exits (root or the daemon's owner) */
	CTL_LEASES = 8,     /* -> {network?}; <- {networks: [{name, gateway, leases: [{mac, ip, hostname, expires_in}]}]} */
	CTL_CONFIG = 9,     /* -> {network?, lines: ["key=value", ...]}; <- {network, subnet, running, file, settings...} */
	CTL_FORWARD = 10,   /* port forwarding: add/remove/list (daemon/forward.c, docs/protocol.md) */
	CTL_NETWORK = 11,   /* {op: create|join|define|list|show|delete, ...}: network objects, named networks (daemon/netdef.c, docs/protocol.md §8) */
	CTL_ATTACH_SOCKET = 12, /* VMM sockets: QEMU stream/dgram, vhost-user; save: into a named network's definition (daemon/attach_sock.c) */
};

struct ctl_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t seq;
	uint32_t status; /* vmnet_return_t in replies, 0 in requests */
	uint32_t len;    /* payload bytes following the header */
	uint32_t reserved;
};
_Static_assert(sizeof(struct ctl_hdr) == 24, "control header");

/* Private keys carried in CTL_START replies (not part of Apple's interface_param). */
#define CTL_KEY_RING_NSLOTS "vmnet.ring.nslots"
#define CTL_KEY_RING_MAX_FRAME "vmnet.ring.max_frame"
/* bool: every packet of vmnet_read/vmnet_write starts with the 12-byte virtio-net header,
 * carried in the ring record's vnet fields (vmnet_enable_virtio_header). */
#define CTL_KEY_RING_VNET_HDR "vmnet.ring.vnet_hdr"
#define CTL_KEY_PORT_ID "vmnet.port"
#define CTL_KEY_ERROR "vmnet.error" /* human-readable reason for a failure status */

/*
 * Send one message: header + encoded payload dictionary (NULL = empty) + fds.
 * Return: 0, or -errno (-EMSGSIZE when the payload is too large).
 */
int ctl_send(int sock, uint16_t type, uint32_t seq, uint32_t status, void *payload_dict, const int *fds, int nfds);

/*
 * Receive one message. On success *hdr is filled, *payload is a new
 * dictionary (+1 reference, empty when len is 0) and up to CTL_MAX_FDS
 * received descriptors are stored in fds (*nfds; extras are closed).
 * Return: 0, -ECONNRESET on orderly EOF, -EPROTO for a malformed message,
 * -EPROTONOSUPPORT for another protocol version (*hdr is filled), or -errno.
 */
int ctl_recv(int sock, struct ctl_hdr *hdr, void **payload, int *fds, int *nfds);

#endif
