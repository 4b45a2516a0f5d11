/*
 * forward.c — port forwarding in the vmnet API (spec section 5): both API
 * generations and the rule dictionaries' parsers.
 *
 * The add/remove/get functions check their arguments and fail cleanly until
 * the daemon side lands; vmnet_*port_forwarding_rule_get_details are real:
 * the daemon hands out rules in exactly this shape.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <vmnet/vmnet.h>

#include "common/log.h"

/* Keys of a port-forwarding rule dictionary (private to vmnet; Apple's are undocumented). */
#define PF_KEY_PROTOCOL "protocol"
#define PF_KEY_EXTERNAL_PORT "external_port"
#define PF_KEY_ADDRESS_FAMILY "address_family"
#define PF_KEY_INTERNAL_ADDRESS "internal_address"
#define PF_KEY_INTERNAL_PORT "internal_port"

#define PROTO_TCP 6
#define PROTO_UDP 17

/* A parsed rule. */
struct pf_rule {
	uint8_t protocol;
	uint16_t external_port, internal_port;
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

/* Return: AF_INET / AF_INET6 for Linux's or Darwin's numbering, -1 for anything else. */
static int af_normalize(uint64_t af)
{
	if (af == AF_INET)
		return AF_INET;
	if (af == AF_INET6 || af == VMNET_DARWIN_AF_INET6)
		return AF_INET6;
	return -1;
}

static bool proto_ok(uint64_t protocol)
{
	return protocol == PROTO_TCP || protocol == PROTO_UDP;
}

/* The not-yet message. Return: VMNET_INVALID_ARGUMENT. */
static vmnet_return_t pf_unavailable(const char *fn)
{
	log_warn("%s: port forwarding needs a shared-mode interface (shared mode comes in a later release)", fn);
	return VMNET_INVALID_ARGUMENT;
}

/* Checks shared by add and remove (af already normalised). Return: VMNET_INVALID_ARGUMENT always. */
static vmnet_return_t pf_rule_args(const char *fn, interface_ref interface, uint8_t protocol, int af)
{
	if (!interface || !proto_ok(protocol) || af < 0)
		return VMNET_INVALID_ARGUMENT;
	return pf_unavailable(fn);
}

static vmnet_return_t pf_add(const char *fn, interface_ref interface, uint8_t protocol, int af, const void *addr)
{
	if (!addr)
		return VMNET_INVALID_ARGUMENT;
	return pf_rule_args(fn, interface, protocol, af);
}

vmnet_return_t vmnet_interface_add_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							uint16_t external_port, struct in_addr internal_address,
							uint16_t internal_port, vmnet_interface_completion_handler_t handler)
{
	return pf_add(__func__, interface, protocol, AF_INET, &internal_address);
}

vmnet_return_t vmnet_interface_add_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							  uint16_t external_port, struct in_addr internal_address,
							  uint16_t internal_port, void *context,
							  vmnet_interface_completion_handler_f handler)
{
	return pf_add(__func__, interface, protocol, AF_INET, &internal_address);
}

vmnet_return_t vmnet_interface_remove_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							   uint16_t external_port,
							   vmnet_interface_completion_handler_t handler)
{
	return pf_rule_args(__func__, interface, protocol, AF_INET);
}

vmnet_return_t vmnet_interface_remove_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							     uint16_t external_port, void *context,
							     vmnet_interface_completion_handler_f handler)
{
	return pf_rule_args(__func__, interface, protocol, AF_INET);
}

vmnet_return_t vmnet_interface_get_port_forwarding_rules(interface_ref interface,
							 vmnet_interface_get_port_forwarding_rules_handler_t handler)
{
	if (!interface || !handler)
		return VMNET_INVALID_ARGUMENT;
	return pf_unavailable(__func__);
}

vmnet_return_t vmnet_interface_get_port_forwarding_rules_f(interface_ref interface, void *context,
							   vmnet_interface_get_port_forwarding_rules_handler_f handler)
{
	if (!interface || !handler)
		return VMNET_INVALID_ARGUMENT;
	return pf_unavailable(__func__);
}

vmnet_return_t vmnet_interface_add_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							   uint16_t external_port, uint8_t address_family,
							   const void *internal_address, uint16_t internal_port,
							   vmnet_interface_completion_handler_t handler)
{
	return pf_add(__func__, interface, protocol, af_normalize(address_family), internal_address);
}

vmnet_return_t vmnet_interface_add_ip_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							     uint16_t external_port, uint8_t address_family,
							     const void *internal_address, uint16_t internal_port,
							     void *context, vmnet_interface_completion_handler_f handler)
{
	return pf_add(__func__, interface, protocol, af_normalize(address_family), internal_address);
}

vmnet_return_t vmnet_interface_remove_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							      uint16_t external_port, uint8_t address_family,
							      vmnet_interface_completion_handler_t handler)
{
	return pf_rule_args(__func__, interface, protocol, af_normalize(address_family));
}

vmnet_return_t vmnet_interface_remove_ip_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
								uint16_t external_port, uint8_t address_family,
								void *context,
								vmnet_interface_completion_handler_f handler)
{
	return pf_rule_args(__func__, interface, protocol, af_normalize(address_family));
}

vmnet_return_t vmnet_interface_get_ip_port_forwarding_rules(interface_ref interface, uint8_t address_family,
							    vmnet_interface_get_ip_port_forwarding_rules_handler_t handler)
{
	if (!interface || !handler || af_normalize(address_family) < 0)
		return VMNET_INVALID_ARGUMENT;
	return pf_unavailable(__func__);
}

vmnet_return_t vmnet_interface_get_ip_port_forwarding_rules_f(interface_ref interface, uint8_t address_family,
							      void *context,
							      vmnet_interface_get_ip_port_forwarding_rules_handler_f handler)
{
	if (!interface || !handler || af_normalize(address_family) < 0)
		return VMNET_INVALID_ARGUMENT;
	return pf_unavailable(__func__);
}

/* Fetch a uint64 field in 1..max (0 allowed when min0). Return: 0 or -EINVAL. */
static int rule_u64(xpc_object_t rule, const char *key, uint64_t max, bool min0, uint64_t *out)
{
	xpc_object_t v = xpc_dictionary_get_value(rule, key);

	if (!v || xpc_get_type(v) != XPC_TYPE_UINT64)
		return -EINVAL;
	*out = xpc_uint64_get_value(v);
	if (*out > max || (!min0 && *out == 0))
		return -EINVAL;
	return 0;
}

/* Parse and validate a rule dictionary. Return: 0, or -EINVAL when a field is missing or invalid. */
static int rule_parse(xpc_object_t rule, struct pf_rule *out)
{
	uint64_t proto, ext, in, af;
	const char *addr;

	if (!rule || xpc_get_type(rule) != XPC_TYPE_DICTIONARY)
		return -EINVAL;
	if (rule_u64(rule, PF_KEY_PROTOCOL, 255, false, &proto) || !proto_ok(proto) ||
	    rule_u64(rule, PF_KEY_EXTERNAL_PORT, 65535, false, &ext) ||
	    rule_u64(rule, PF_KEY_INTERNAL_PORT, 65535, false, &in) ||
	    rule_u64(rule, PF_KEY_ADDRESS_FAMILY, 255, false, &af) || af_normalize(af) < 0)
		return -EINVAL;
	addr = xpc_dictionary_get_string(rule, PF_KEY_INTERNAL_ADDRESS);
	out->family = af_normalize(af);
	if (!addr || inet_pton(out->family, addr, &out->addr) != 1)
		return -EINVAL;
	out->protocol = (uint8_t)proto;
	out->external_port = (uint16_t)ext;
	out->internal_port = (uint16_t)in;
	return 0;
}

vmnet_return_t vmnet_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol, uint16_t *external_port,
						      struct in_addr *internal_address, uint16_t *internal_port)
{
	struct pf_rule r;

	if (!protocol || !external_port || !internal_address || !internal_port)
		return VMNET_INVALID_ARGUMENT;
	if (rule_parse(rule, &r) < 0 || r.family != AF_INET)
		return VMNET_INVALID_ARGUMENT;
	*protocol = r.protocol;
	*external_port = r.external_port;
	*internal_address = r.addr.v4;
	*internal_port = r.internal_port;
	return VMNET_SUCCESS;
}

vmnet_return_t vmnet_ip_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol, uint16_t *external_port,
							 uint8_t address_family, void *internal_address,
							 uint16_t *internal_port)
{
	struct pf_rule r;

	if (!protocol || !external_port || !internal_address || !internal_port || af_normalize(address_family) < 0)
		return VMNET_INVALID_ARGUMENT;
	if (rule_parse(rule, &r) < 0 || r.family != af_normalize(address_family))
		return VMNET_INVALID_ARGUMENT;
	*protocol = r.protocol;
	*external_port = r.external_port;
	if (r.family == AF_INET)
		memcpy(internal_address, &r.addr.v4, sizeof(r.addr.v4));
	else
		memcpy(internal_address, &r.addr.v6, sizeof(r.addr.v6));
	*internal_port = r.internal_port;
	return VMNET_SUCCESS;
}

/* ---- network configuration API (macOS 26) ---- */

