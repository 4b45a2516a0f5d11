/*
 * <vmnet/vmnet.h> — Apple's vmnet framework API, for Linux.
 *
 * Names, types, numeric values and key strings are Apple's (a key's string is
 * its identifier without "_key"). Handlers are clang blocks when compiled with
 * -fblocks; every block-taking function also has a *_f twin that takes a plain
 * function pointer and a void *context, for any C compiler (docs/api.md).
 *
 * The library is a thin client of vmnetd, which owns the networks.
 */
#ifndef VMNET_VMNET_H
#define VMNET_VMNET_H

/* What Darwin's include chain makes visible to vmnet clients. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <net/ethernet.h>
#include <uuid/uuid.h>
#include <xpc/xpc.h>
#include <dispatch/dispatch.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- availability: clients test these; define only what is not defined ---- */
#ifndef __MAC_10_10
#define __MAC_10_10 101000
#endif
#ifndef __MAC_10_15
#define __MAC_10_15 101500
#endif
#ifndef __MAC_11_0
#define __MAC_11_0 110000
#endif
#ifndef __MAC_12_0
#define __MAC_12_0 120000
#endif
#ifndef __MAC_15_0
#define __MAC_15_0 150000
#endif
#ifndef __MAC_15_4
#define __MAC_15_4 150400
#endif
#ifndef __MAC_26_0
#define __MAC_26_0 260000
#endif
#ifndef MAC_OS_X_VERSION_10_10
#define MAC_OS_X_VERSION_10_10 101000
#endif
#ifndef MAC_OS_X_VERSION_10_15
#define MAC_OS_X_VERSION_10_15 101500
#endif
#ifndef MAC_OS_VERSION_11_0
#define MAC_OS_VERSION_11_0 110000
#endif
#ifndef MAC_OS_VERSION_12_0
#define MAC_OS_VERSION_12_0 120000
#endif
#ifndef MAC_OS_VERSION_15_0
#define MAC_OS_VERSION_15_0 150000
#endif
#ifndef MAC_OS_VERSION_15_4
#define MAC_OS_VERSION_15_4 150400
#endif
#ifndef MAC_OS_VERSION_26_0
#define MAC_OS_VERSION_26_0 260000
#endif
/* The newest API level this implementation provides. */
#define VMNET_LINUX_API_LEVEL 260000
#ifndef __MAC_OS_X_VERSION_MAX_ALLOWED
#define __MAC_OS_X_VERSION_MAX_ALLOWED VMNET_LINUX_API_LEVEL
#endif
#ifndef __MAC_OS_X_VERSION_MIN_REQUIRED
#define __MAC_OS_X_VERSION_MIN_REQUIRED VMNET_LINUX_API_LEVEL
#endif
#ifndef MAC_OS_X_VERSION_MAX_ALLOWED
#define MAC_OS_X_VERSION_MAX_ALLOWED __MAC_OS_X_VERSION_MAX_ALLOWED
#endif
#ifndef MAC_OS_X_VERSION_MIN_REQUIRED
#define MAC_OS_X_VERSION_MIN_REQUIRED __MAC_OS_X_VERSION_MIN_REQUIRED
#endif
#ifndef API_AVAILABLE
#define API_AVAILABLE(...)
#endif
#ifndef API_DEPRECATED
#define API_DEPRECATED(...)
#endif
#ifndef API_UNAVAILABLE
#define API_UNAVAILABLE(...)
#endif
#ifndef __nullable
#define __nullable
#endif
#ifndef __nonnull
#define __nonnull
#endif
#ifndef _Nullable
#define _Nullable
#endif
#ifndef _Nonnull
#define _Nonnull
#endif

/* ---- CoreFoundation reference counting for the network objects ---- */
#ifndef VMNET_HAVE_CFTYPEREF
#define VMNET_HAVE_CFTYPEREF 1
typedef const void *CFTypeRef;
#endif
/* Release/retain a vmnet_network_ref or vmnet_network_configuration_ref. NULL is ignored. */
void CFRelease(CFTypeRef cf);
CFTypeRef CFRetain(CFTypeRef cf);

/* ---- Darwin types used by the API ---- */
#ifndef VMNET_HAVE_ETHER_ADDR_T
#define VMNET_HAVE_ETHER_ADDR_T 1
typedef struct ether_addr ether_addr_t;
#endif

/* ---- enums (32-bit, Apple values) ---- */
typedef uint32_t operating_modes_t;
enum {
	VMNET_HOST_MODE = 1000,
	VMNET_SHARED_MODE = 1001,
	VMNET_BRIDGED_MODE = 1002,
};
typedef operating_modes_t vmnet_mode_t;

typedef uint32_t interface_event_t;
enum {
	VMNET_INTERFACE_PACKETS_AVAILABLE = 1 << 0,
};

typedef uint32_t vmnet_return_t;
enum {
	VMNET_SUCCESS = 1000,
	VMNET_FAILURE = 1001,
	VMNET_MEM_FAILURE = 1002,
	VMNET_INVALID_ARGUMENT = 1003,
	VMNET_SETUP_INCOMPLETE = 1004,
	VMNET_INVALID_ACCESS = 1005,
	VMNET_PACKET_TOO_BIG = 1006,
	VMNET_BUFFER_EXHAUSTED = 1007,
	VMNET_TOO_MANY_PACKETS = 1008,
	VMNET_SHARING_SERVICE_BUSY = 1009,
	VMNET_NOT_AUTHORIZED = 1010,
};

/* macOS spells AF_INET6 as 30; the *_ip_* functions accept 30 and Linux's 10. */
#define VMNET_DARWIN_AF_INET6 30

/* ---- packet descriptor ---- */
struct vmpktdesc {
	size_t vm_pkt_size;
	struct iovec *vm_pkt_iov;
	uint32_t vm_pkt_iovcnt;
	uint32_t vm_flags;
};

typedef struct vmnet_interface *interface_ref;
typedef struct vmnet_network *vmnet_network_ref;
typedef struct vmnet_network_configuration *vmnet_network_configuration_ref;

/* ---- keys ---- */
extern const char *vmnet_operation_mode_key;
extern const char *vmnet_shared_interface_name_key;
extern const char *vmnet_mac_address_key;
extern const char *vmnet_allocate_mac_address_key;
extern const char *vmnet_interface_id_key;
extern const char *vmnet_mtu_key;
extern const char *vmnet_max_packet_size_key;
extern const char *vmnet_start_address_key;
extern const char *vmnet_end_address_key;
extern const char *vmnet_subnet_mask_key;
extern const char *vmnet_nat66_prefix_key;
extern const char *vmnet_nat66_prefix_length_key;
extern const char *vmnet_estimated_packets_available_key;
extern const char *vmnet_read_max_packets_key;
extern const char *vmnet_write_max_packets_key;
extern const char *vmnet_network_identifier_key;
extern const char *vmnet_host_ip_address_key;
extern const char *vmnet_host_subnet_mask_key;
extern const char *vmnet_host_ipv6_address_key;
extern const char *vmnet_enable_tso_key;
extern const char *vmnet_enable_isolation_key;
extern const char *vmnet_enable_checksum_offload_key;
extern const char *vmnet_enable_virtio_header_key;

/* ---- function-pointer handler types (plain C) ---- */
typedef void (*vmnet_start_interface_completion_handler_f)(void *context, vmnet_return_t status,
							    xpc_object_t __nullable interface_param);
typedef void (*vmnet_interface_event_callback_f)(void *context, interface_event_t event_mask, xpc_object_t event);
typedef void (*vmnet_interface_completion_handler_f)(void *context, vmnet_return_t status);
typedef void (*vmnet_interface_get_port_forwarding_rules_handler_f)(void *context, xpc_object_t __nullable rules);
typedef void (*vmnet_interface_get_ip_port_forwarding_rules_handler_f)(void *context,
								      xpc_object_t __nullable rules);

/* ---- block handler types ---- */
#if defined(__BLOCKS__)
typedef void (^vmnet_start_interface_completion_handler_t)(vmnet_return_t status, xpc_object_t __nullable interface_param);
typedef void (^vmnet_interface_event_callback_t)(interface_event_t event_mask, xpc_object_t event);
typedef void (^vmnet_interface_completion_handler_t)(vmnet_return_t status);
typedef void (^vmnet_interface_get_port_forwarding_rules_handler_t)(xpc_object_t __nullable rules);
typedef void (^vmnet_interface_get_ip_port_forwarding_rules_handler_t)(xpc_object_t __nullable rules);
#else
/* Without blocks these are opaque: use the *_f functions. */
typedef struct _vmnet_block_opaque *vmnet_start_interface_completion_handler_t;
typedef struct _vmnet_block_opaque *vmnet_interface_event_callback_t;
typedef struct _vmnet_block_opaque *vmnet_interface_completion_handler_t;
typedef struct _vmnet_block_opaque *vmnet_interface_get_port_forwarding_rules_handler_t;
typedef struct _vmnet_block_opaque *vmnet_interface_get_ip_port_forwarding_rules_handler_t;
#endif

/* ---- interface lifecycle ---- */
interface_ref __nullable vmnet_start_interface(xpc_object_t interface_desc, dispatch_queue_t queue,
					       vmnet_start_interface_completion_handler_t handler);
interface_ref __nullable vmnet_start_interface_f(xpc_object_t interface_desc, dispatch_queue_t queue, void *context,
						 vmnet_start_interface_completion_handler_f handler);

vmnet_return_t vmnet_interface_set_event_callback(interface_ref interface, interface_event_t event_mask,
						  dispatch_queue_t __nullable queue,
						  vmnet_interface_event_callback_t __nullable callback);
vmnet_return_t vmnet_interface_set_event_callback_f(interface_ref interface, interface_event_t event_mask,
						    dispatch_queue_t __nullable queue, void *context,
						    vmnet_interface_event_callback_f __nullable callback);

vmnet_return_t vmnet_read(interface_ref interface, struct vmpktdesc *packets, int *pktcnt);
vmnet_return_t vmnet_write(interface_ref interface, struct vmpktdesc *packets, int *pktcnt);

vmnet_return_t vmnet_stop_interface(interface_ref interface, dispatch_queue_t queue,
				    vmnet_interface_completion_handler_t handler);
vmnet_return_t vmnet_stop_interface_f(interface_ref interface, dispatch_queue_t queue, void *context,
				      vmnet_interface_completion_handler_f handler);

/* Host interfaces usable for VMNET_BRIDGED_MODE, as an xpc array of strings (caller releases). */
xpc_object_t __nullable vmnet_copy_shared_interface_list(void);

/* ---- port forwarding, IPv4 (macOS 10.15) ---- */
vmnet_return_t vmnet_interface_add_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							uint16_t external_port, struct in_addr internal_address,
							uint16_t internal_port,
							vmnet_interface_completion_handler_t __nullable handler);
vmnet_return_t vmnet_interface_add_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							  uint16_t external_port, struct in_addr internal_address,
							  uint16_t internal_port, void *context,
							  vmnet_interface_completion_handler_f __nullable handler);
vmnet_return_t vmnet_interface_remove_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							   uint16_t external_port,
							   vmnet_interface_completion_handler_t __nullable handler);
vmnet_return_t vmnet_interface_remove_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							     uint16_t external_port, void *context,
							     vmnet_interface_completion_handler_f __nullable handler);
vmnet_return_t vmnet_interface_get_port_forwarding_rules(interface_ref interface,
							 vmnet_interface_get_port_forwarding_rules_handler_t handler);
vmnet_return_t vmnet_interface_get_port_forwarding_rules_f(interface_ref interface, void *context,
							   vmnet_interface_get_port_forwarding_rules_handler_f handler);
vmnet_return_t vmnet_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol, uint16_t *external_port,
						      struct in_addr *internal_address, uint16_t *internal_port);

/* ---- port forwarding with address family (macOS 11) ---- */
vmnet_return_t vmnet_interface_add_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							   uint16_t external_port, uint8_t address_family,
							   const void *internal_address, uint16_t internal_port,
							   vmnet_interface_completion_handler_t __nullable handler);
vmnet_return_t vmnet_interface_add_ip_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							     uint16_t external_port, uint8_t address_family,
							     const void *internal_address, uint16_t internal_port,
							     void *context,
							     vmnet_interface_completion_handler_f __nullable handler);
vmnet_return_t vmnet_interface_remove_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							      uint16_t external_port, uint8_t address_family,
							      vmnet_interface_completion_handler_t __nullable handler);
vmnet_return_t vmnet_interface_remove_ip_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
								uint16_t external_port, uint8_t address_family,
								void *context,
								vmnet_interface_completion_handler_f __nullable handler);
vmnet_return_t vmnet_interface_get_ip_port_forwarding_rules(interface_ref interface, uint8_t address_family,
							    vmnet_interface_get_ip_port_forwarding_rules_handler_t handler);
vmnet_return_t vmnet_interface_get_ip_port_forwarding_rules_f(interface_ref interface, uint8_t address_family,
							      void *context,
							      vmnet_interface_get_ip_port_forwarding_rules_handler_f handler);
vmnet_return_t vmnet_ip_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol, uint16_t *external_port,
							 uint8_t address_family, void *internal_address,
							 uint16_t *internal_port);

/* ---- network configuration API (macOS 26) ---- */
vmnet_network_configuration_ref __nullable vmnet_network_configuration_create(vmnet_mode_t mode,
									      vmnet_return_t *__nullable status);
vmnet_return_t vmnet_network_configuration_set_external_interface(vmnet_network_configuration_ref config,
								  const char *interface_name);
void vmnet_network_configuration_disable_nat44(vmnet_network_configuration_ref config);
void vmnet_network_configuration_disable_nat66(vmnet_network_configuration_ref config);
void vmnet_network_configuration_disable_dhcp(vmnet_network_configuration_ref config);
void vmnet_network_configuration_disable_dns_proxy(vmnet_network_configuration_ref config);
void vmnet_network_configuration_disable_router_advertisement(vmnet_network_configuration_ref config);
vmnet_return_t vmnet_network_configuration_set_ipv4_subnet(vmnet_network_configuration_ref config,
							   const struct in_addr *subnet_addr,
							   const struct in_addr *subnet_mask);
vmnet_return_t vmnet_network_configuration_set_ipv6_prefix(vmnet_network_configuration_ref config,
							   const struct in6_addr *prefix, uint8_t len);
vmnet_return_t vmnet_network_configuration_set_mtu(vmnet_network_configuration_ref config, uint32_t mtu);
vmnet_return_t vmnet_network_configuration_add_port_forwarding_rule(vmnet_network_configuration_ref config,
								    uint8_t protocol, sa_family_t address_family,
								    uint16_t internal_port, uint16_t external_port,
								    const void *internal_address);
vmnet_return_t vmnet_network_configuration_add_dhcp_reservation(vmnet_network_configuration_ref config,
								const ether_addr_t *client,
								const struct in_addr *reservation);
vmnet_network_ref __nullable vmnet_network_create(vmnet_network_configuration_ref configuration,
						  vmnet_return_t *__nullable status);
xpc_object_t __nullable vmnet_network_copy_serialization(vmnet_network_ref network, vmnet_return_t *__nullable status);
vmnet_network_ref __nullable vmnet_network_create_with_serialization(xpc_object_t network,
								     vmnet_return_t *__nullable status);
void vmnet_network_get_ipv4_subnet(vmnet_network_ref network, struct in_addr *subnet, struct in_addr *mask);
void vmnet_network_get_ipv6_prefix(vmnet_network_ref network, struct in6_addr *prefix, uint8_t *prefix_len);
interface_ref __nullable vmnet_interface_start_with_network(vmnet_network_ref network, xpc_object_t interface_desc,
							    dispatch_queue_t queue,
							    vmnet_start_interface_completion_handler_t start_block);
interface_ref __nullable vmnet_interface_start_with_network_f(vmnet_network_ref network, xpc_object_t interface_desc,
							      dispatch_queue_t queue, void *context,
							      vmnet_start_interface_completion_handler_f handler);

/* ---- Linux extension: a human-readable name for a status ---- */
const char *vmnet_strerror(vmnet_return_t status);

#ifdef __cplusplus
}
#endif
#endif
