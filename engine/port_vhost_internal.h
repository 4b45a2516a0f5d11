/*
 * port_vhost_internal.h — the wire formats of the vhost-user-net backend
 * (engine/port_vhost.c): vhost-user messages (QEMU docs/interop/vhost-user.rst)
 * and split virtqueues (virtio 1.1 §2.6). Shared with its fuzz target
 * (tests/fuzz/fuzz_vhost.c), which plays a hostile front-end and guest, so
 * that both speak the one definition.
 */
#ifndef VMNET_ENGINE_PORT_VHOST_INTERNAL_H
#define VMNET_ENGINE_PORT_VHOST_INTERNAL_H

#include <stdint.h>

enum vhost_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_VRING_NOFD (1ull << 8) /* SET_VRING_KICK/CALL: no descriptor (polling) */
#define VHOST_USER_VRING_IDX_MASK 0xffull

#define VIRTIO_NET_F_CSUM 0       /* the guest may send partial checksums (and, with HOST_TSO*, super-frames) */
#define VIRTIO_NET_F_GUEST_CSUM 1 /* the guest takes partial checksums */
#define VIRTIO_NET_F_GUEST_TSO4 7 /* the guest takes TCP super-frames */
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11 /* the guest may send TCP super-frames */
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VHOST_OFFLOAD_FEATURES                                                                          \
	((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) | (1ull << VIRTIO_NET_F_GUEST_TSO4) | \
	 (1ull << VIRTIO_NET_F_GUEST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_ECN) | (1ull << VIRTIO_NET_F_HOST_TSO4) |  \
	 (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN))
#define VHOST_FEATURES ((1ull << VIRTIO_NET_F_MRG_RXBUF) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | \
			(1ull << VIRTIO_F_VERSION_1) | VHOST_OFFLOAD_FEATURES)
#define VHOST_PROTOCOL_FEATURES 0ull

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

#define VHOST_MAX_REGIONS 8
#define VHOST_MAX_QUEUE 32768 /* virtio's largest split queue */
#define VHOST_RXQ 0
#define VHOST_TXQ 1
#define VHOST_NET_HDR 12 /* struct virtio_net_hdr_mrg_rxbuf (VERSION_1 always has num_buffers) */
#define VHOST_NET_HDR_LEGACY 10 /* neither VERSION_1 nor MRG_RXBUF: no num_buffers */
#define VHOST_MAX_FRAME 65550u

struct vhost_msg_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct vhost_msg_hdr) == 12, "vhost-user header");

struct vhost_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));
_Static_assert(sizeof(struct vhost_vring_state) == 8, "vhost-user vring state");

struct vhost_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc, used, avail, log;
} __attribute__((packed));
_Static_assert(sizeof(struct vhost_vring_addr) == 40, "vhost-user vring address");

struct vhost_mem_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
} __attribute__((packed));
_Static_assert(sizeof(struct vhost_mem_region) == 32, "vhost-user memory region");

struct vhost_mem {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_mem_region r[VHOST_MAX_REGIONS];
} __attribute__((packed));
_Static_assert(sizeof(struct vhost_mem) == 8 + 32 * VHOST_MAX_REGIONS, "vhost-user memory table");

#define VHOST_MAX_PAYLOAD sizeof(struct vhost_mem)

/* virtio 1.1 §2.6: split virtqueue layout (little endian) */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vring_desc) == 16, "virtio descriptor");

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};
_Static_assert(sizeof(struct vring_used_elem) == 8, "virtio used element");

#endif
