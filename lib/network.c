/*
 * network.c — the macOS 26 network objects in the vmnet API (spec section 7):
 * configurations, networks, serialization, vmnet_interface_start_with_network,
 * CFRelease/CFRetain. Until the daemon side lands they fail cleanly with a
 * warning; handlers are never called.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <vmnet/vmnet.h>

#include "common/log.h"

static void net_unavailable(const char *fn)
{
	log_warn("%s: not implemented yet (network configuration API arrives with shared mode)", fn);
}

/* Return: NULL, with *status = VMNET_FAILURE when status is non-NULL. */
static void *net_fail(const char *fn, vmnet_return_t *status)
{
	net_unavailable(fn);
	if (status)
		*status = VMNET_FAILURE;
	return NULL;
}

vmnet_network_configuration_ref vmnet_network_configuration_create(vmnet_mode_t mode, vmnet_return_t *status)
{
	return net_fail(__func__, status);
}

vmnet_return_t vmnet_network_configuration_set_external_interface(vmnet_network_configuration_ref config,
								  const char *interface_name)
{
	net_unavailable(__func__);
	return VMNET_FAILURE;
}

void vmnet_network_configuration_disable_nat44(vmnet_network_configuration_ref config)
{
}

void vmnet_network_configuration_disable_nat66(vmnet_network_configuration_ref config)
{
}

void vmnet_network_configuration_disable_dhcp(vmnet_network_configuration_ref config)
{
}

void vmnet_network_configuration_disable_dns_proxy(vmnet_network_configuration_ref config)
{
}

void vmnet_network_configuration_disable_router_advertisement(vmnet_network_configuration_ref config)
{
}

vmnet_return_t vmnet_network_configuration_set_ipv4_subnet(vmnet_network_configuration_ref config,
							   const struct in_addr *subnet_addr,
							   const struct in_addr *subnet_mask)
{
	net_unavailable(__func__);
	return VMNET_FAILURE;
}

vmnet_return_t vmnet_network_configuration_set_ipv6_prefix(vmnet_network_configuration_ref config,
							   const struct in6_addr *prefix, uint8_t len)
{
	net_unavailable(__func__);
	return VMNET_FAILURE;
}

vmnet_return_t vmnet_network_configuration_set_mtu(vmnet_network_configuration_ref config, uint32_t mtu)
{
	net_unavailable(__func__);
	return VMNET_FAILURE;
}

vmnet_return_t vmnet_network_configuration_add_port_forwarding_rule(vmnet_network_configuration_ref config,
								    uint8_t protocol, sa_family_t address_family,
								    uint16_t internal_port, uint16_t external_port,
								    const void *internal_address)
{
	net_unavailable(__func__);
	return VMNET_FAILURE;
}

vmnet_return_t vmnet_network_configuration_add_dhcp_reservation(vmnet_network_configuration_ref config,
								const ether_addr_t *client,
								const struct in_addr *reservation)
{
	net_unavailable(__func__);
	return VMNET_FAILURE;
}

vmnet_network_ref vmnet_network_create(vmnet_network_configuration_ref configuration, vmnet_return_t *status)
{
	return net_fail(__func__, status);
}

xpc_object_t vmnet_network_copy_serialization(vmnet_network_ref network, vmnet_return_t *status)
{
	return net_fail(__func__, status);
}

vmnet_network_ref vmnet_network_create_with_serialization(xpc_object_t network, vmnet_return_t *status)
{
	return net_fail(__func__, status);
}

void vmnet_network_get_ipv4_subnet(vmnet_network_ref network, struct in_addr *subnet, struct in_addr *mask)
{
	if (subnet)
		memset(subnet, 0, sizeof(*subnet));
	if (mask)
		memset(mask, 0, sizeof(*mask));
}

void vmnet_network_get_ipv6_prefix(vmnet_network_ref network, struct in6_addr *prefix, uint8_t *prefix_len)
{
	if (prefix)
		memset(prefix, 0, sizeof(*prefix));
	if (prefix_len)
		*prefix_len = 0;
}

interface_ref vmnet_interface_start_with_network(vmnet_network_ref network, xpc_object_t interface_desc,
						 dispatch_queue_t queue,
						 vmnet_start_interface_completion_handler_t start_block)
{
	return net_fail(__func__, NULL);
}

interface_ref vmnet_interface_start_with_network_f(vmnet_network_ref network, xpc_object_t interface_desc,
						   dispatch_queue_t queue, void *context,
						   vmnet_start_interface_completion_handler_f handler)
{
	return net_fail(__func__, NULL);
}

/* ---- CoreFoundation reference counting: no network objects exist yet ---- */

void CFRelease(CFTypeRef cf)
{
}

CFTypeRef CFRetain(CFTypeRef cf)
{
	return cf;
}
