/*
 * keys.c — the vmnet key strings and vmnet_strerror().
 *
 * A key's string is its identifier without "_key" (spec §2): that is what
 * Apple's interface_param dumps print, and what the daemon expects on the
 * control protocol.
 */
#include <vmnet/vmnet.h>

const char *vmnet_operation_mode_key = "vmnet_operation_mode";
const char *vmnet_shared_interface_name_key = "vmnet_shared_interface_name";
const char *vmnet_mac_address_key = "vmnet_mac_address";
const char *vmnet_allocate_mac_address_key = "vmnet_allocate_mac_address";
const char *vmnet_interface_id_key = "vmnet_interface_id";
const char *vmnet_mtu_key = "vmnet_mtu";
const char *vmnet_max_packet_size_key = "vmnet_max_packet_size";
const char *vmnet_start_address_key = "vmnet_start_address";
const char *vmnet_end_address_key = "vmnet_end_address";
const char *vmnet_subnet_mask_key = "vmnet_subnet_mask";
const char *vmnet_nat66_prefix_key = "vmnet_nat66_prefix";
const char *vmnet_nat66_prefix_length_key = "vmnet_nat66_prefix_length";
const char *vmnet_estimated_packets_available_key = "vmnet_estimated_packets_available";
const char *vmnet_read_max_packets_key = "vmnet_read_max_packets";
const char *vmnet_write_max_packets_key = "vmnet_write_max_packets";
const char *vmnet_network_identifier_key = "vmnet_network_identifier";
const char *vmnet_host_ip_address_key = "vmnet_host_ip_address";
const char *vmnet_host_subnet_mask_key = "vmnet_host_subnet_mask";
const char *vmnet_host_ipv6_address_key = "vmnet_host_ipv6_address";
const char *vmnet_enable_tso_key = "vmnet_enable_tso";
const char *vmnet_enable_isolation_key = "vmnet_enable_isolation";
const char *vmnet_enable_checksum_offload_key = "vmnet_enable_checksum_offload";
const char *vmnet_enable_virtio_header_key = "vmnet_enable_virtio_header";

/* Indexed by status - VMNET_SUCCESS. */
static const char *const status_names[] = {
	"VMNET_SUCCESS",
	"VMNET_FAILURE",
	"VMNET_MEM_FAILURE",
	"VMNET_INVALID_ARGUMENT",
	"VMNET_SETUP_INCOMPLETE",
	"VMNET_INVALID_ACCESS",
	"VMNET_PACKET_TOO_BIG",
	"VMNET_BUFFER_EXHAUSTED",
	"VMNET_TOO_MANY_PACKETS",
	"VMNET_SHARING_SERVICE_BUSY",
	"VMNET_NOT_AUTHORIZED",
};
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == VMNET_NOT_AUTHORIZED - VMNET_SUCCESS + 1,
	       "one name per vmnet_return_t");

const char *vmnet_strerror(vmnet_return_t status)
{
	if (status < VMNET_SUCCESS || status > VMNET_NOT_AUTHORIZED)
		return "unknown vmnet status";
	return status_names[status - VMNET_SUCCESS];
}
