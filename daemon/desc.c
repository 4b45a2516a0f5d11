/*
 * desc.c — reading an interface_desc dictionary and writing interface_param.
 *
 * Keys are parsed from one table: key string, the xpc type it must have, and
 * a small function storing it in struct iface_req. A known key of the wrong
 * type is VMNET_INVALID_ARGUMENT; unknown keys are ignored (as macOS does).
 * Cross-key rules (start/end/mask all or none, identifiers only in host mode,
 * ...) are checked after the table pass.
 *
 * Two private keys come from vmnet_interface_start_with_network:
 * vmnet.network.id (uuid) and vmnet.network.token (16 bytes of data) name a
 * network object (daemon/netdef.c checks them); with them no address keys
 * are accepted, since the network has its own.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <vmnet/vmnet.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "engine/port.h"

#define MTU_MIN 1280
#define MTU_MAX 9000

struct desc_ctx {
	struct iface_req *req;
	const char *why;
	uint32_t status;
};

typedef uint32_t (*desc_fn)(struct iface_req *req, xpc_object_t v, const char **why);

static uint32_t set_mode(struct iface_req *r, xpc_object_t v, const char **why)
{
	uint64_t m = xpc_uint64_get_value(v);

	if (m != VMNET_HOST_MODE && m != VMNET_SHARED_MODE && m != VMNET_BRIDGED_MODE) {
		*why = "vmnet_operation_mode is not one of host (1000), shared (1001), bridged (1002)";
		return VMNET_INVALID_ARGUMENT;
	}
	r->mode = (uint32_t)m;
	return VMNET_SUCCESS;
}

static uint32_t set_mtu(struct iface_req *r, xpc_object_t v, const char **why)
{
	uint64_t m = xpc_uint64_get_value(v);

	if (m < MTU_MIN || m > MTU_MAX) {
		*why = "vmnet_mtu must be between 1280 and 9000";
		return VMNET_INVALID_ARGUMENT;
	}
	r->has_mtu = true;
	r->mtu = (uint32_t)m;
	return VMNET_SUCCESS;
}

static uint32_t parse_v4(xpc_object_t v, struct in_addr *a, const char **why, const char *msg)
{
	const char *s = xpc_string_get_string_ptr(v);

	if (!s || inet_pton(AF_INET, s, a) != 1) {
		*why = msg;
		return VMNET_INVALID_ARGUMENT;
	}
	return VMNET_SUCCESS;
}

static uint32_t set_start(struct iface_req *r, xpc_object_t v, const char **why)
{
	r->has_range = true;
	return parse_v4(v, &r->start, why, "vmnet_start_address is not a dotted IPv4 address");
}

static uint32_t set_end(struct iface_req *r, xpc_object_t v, const char **why)
{
	r->has_range = true;
	return parse_v4(v, &r->end, why, "vmnet_end_address is not a dotted IPv4 address");
}

static uint32_t set_mask(struct iface_req *r, xpc_object_t v, const char **why)
{
	r->has_range = true;
	return parse_v4(v, &r->mask, why, "vmnet_subnet_mask is not a dotted IPv4 mask");
}

static uint32_t set_host_ip(struct iface_req *r, xpc_object_t v, const char **why)
{
	r->has_host_ip = true;
	return parse_v4(v, &r->host_ip, why, "vmnet_host_ip_address is not a dotted IPv4 address");
}

static uint32_t set_host_mask(struct iface_req *r, xpc_object_t v, const char **why)
{
	r->has_host_mask = true;
	return parse_v4(v, &r->host_mask, why, "vmnet_host_subnet_mask is not a dotted IPv4 mask");
}

static uint32_t parse_v6(xpc_object_t v, struct in6_addr *a, const char **why, const char *msg)
{
	const char *s = xpc_string_get_string_ptr(v);

	if (!s || inet_pton(AF_INET6, s, a) != 1) {
		*why = msg;
		return VMNET_INVALID_ARGUMENT;
	}
	return VMNET_SUCCESS;
}

static uint32_t set_host_ip6(struct iface_req *r, xpc_object_t v, const char **why)
{
	r->has_host_ip6 = true;
	return parse_v6(v, &r->host_ip6, why, "vmnet_host_ipv6_address is not an IPv6 address");
}

static uint32_t set_nat66(struct iface_req *r, xpc_object_t v, const char **why)
{
	uint32_t st = parse_v6(v, &r->nat66, why, "vmnet_nat66_prefix is not an IPv6 prefix");

	if (st != VMNET_SUCCESS)
		return st;
	if (r->nat66.s6_addr[0] != 0xfd) {
		*why = "vmnet_nat66_prefix must be a ULA inside fd00::/8";
		return VMNET_INVALID_ARGUMENT;
	}
	r->has_nat66 = true;
	return st;
}

static uint32_t set_nat66_len(struct iface_req *r, xpc_object_t v, const char **why)
{
	if (xpc_uint64_get_value(v) != 64) {
		*why = "vmnet_nat66_prefix_length must be 64";
		return VMNET_INVALID_ARGUMENT;
	}
	return VMNET_SUCCESS;
}

static uint32_t set_id(struct iface_req *r, xpc_object_t v, const char **why)
{
	memcpy(r->id, xpc_uuid_get_bytes(v), sizeof(uuid_t));
	r->has_id = true;
	return VMNET_SUCCESS;
}

static uint32_t set_net_id(struct iface_req *r, xpc_object_t v, const char **why)
{
	memcpy(r->net_id, xpc_uuid_get_bytes(v), sizeof(uuid_t));
	r->has_net_id = true;
	return VMNET_SUCCESS;
}

/* vmnet.network.id / vmnet.network.token: private keys of vmnet_interface_start_with_network. */
static uint32_t set_obj_id(struct iface_req *r, xpc_object_t v, const char **why)
{
	memcpy(r->obj_id, xpc_uuid_get_bytes(v), sizeof(uuid_t));
	r->has_obj = true;
	return VMNET_SUCCESS;
}

static uint32_t set_obj_token(struct iface_req *r, xpc_object_t v, const char **why)
{
	if (xpc_data_get_length(v) != sizeof(r->obj_token)) {
		*why = "vmnet.network.token must be 16 bytes";
		return VMNET_INVALID_ARGUMENT;
	}
	memcpy(r->obj_token, xpc_data_get_bytes_ptr(v), sizeof(r->obj_token));
	r->has_obj_token = true;
	return VMNET_SUCCESS;
}

static uint32_t set_shared_if(struct iface_req *r, xpc_object_t v, const char **why)
{
	const char *s = xpc_string_get_string_ptr(v);

	if (!s || !*s || strlen(s) >= 16) {
		*why = "vmnet_shared_interface_name must be an interface name shorter than 16 bytes";
		return VMNET_INVALID_ARGUMENT;
	}
	snprintf(r->shared_if, sizeof(r->shared_if), "%s", s);
	return VMNET_SUCCESS;
}

#define BOOL_SETTER(fn, field) \
	static uint32_t fn(struct iface_req *r, xpc_object_t v, const char **why) \
	{ \
		r->field = xpc_bool_get_value(v); \
		return VMNET_SUCCESS; \
	}
BOOL_SETTER(set_alloc_mac, allocate_mac)
BOOL_SETTER(set_isolation, isolation)
BOOL_SETTER(set_tso, tso)
BOOL_SETTER(set_csum, csum_offload)
BOOL_SETTER(set_virtio, virtio_hdr)

static const struct desc_key {
	const char *key;
	xpc_type_t type;
	desc_fn fn;
} desc_keys[] = {
	{ "vmnet_operation_mode", XPC_TYPE_UINT64, set_mode },
	{ "vmnet_mtu", XPC_TYPE_UINT64, set_mtu },
	{ "vmnet_start_address", XPC_TYPE_STRING, set_start },
	{ "vmnet_end_address", XPC_TYPE_STRING, set_end },
	{ "vmnet_subnet_mask", XPC_TYPE_STRING, set_mask },
	{ "vmnet_nat66_prefix", XPC_TYPE_STRING, set_nat66 },
	{ "vmnet_nat66_prefix_length", XPC_TYPE_UINT64, set_nat66_len },
	{ "vmnet_interface_id", XPC_TYPE_UUID, set_id },
	{ "vmnet_network_identifier", XPC_TYPE_UUID, set_net_id },
	{ "vmnet_host_ip_address", XPC_TYPE_STRING, set_host_ip },
	{ "vmnet_host_subnet_mask", XPC_TYPE_STRING, set_host_mask },
	{ "vmnet_host_ipv6_address", XPC_TYPE_STRING, set_host_ip6 },
	{ "vmnet_shared_interface_name", XPC_TYPE_STRING, set_shared_if },
	{ "vmnet_allocate_mac_address", XPC_TYPE_BOOL, set_alloc_mac },
	{ "vmnet_enable_isolation", XPC_TYPE_BOOL, set_isolation },
	{ "vmnet_enable_tso", XPC_TYPE_BOOL, set_tso },
	{ "vmnet_enable_checksum_offload", XPC_TYPE_BOOL, set_csum },
	{ "vmnet_enable_virtio_header", XPC_TYPE_BOOL, set_virtio },
	{ "vmnet.network.id", XPC_TYPE_UUID, set_obj_id },
	{ "vmnet.network.token", XPC_TYPE_DATA, set_obj_token },
};

static bool apply_key(void *ctx, const char *key, xpc_object_t v)
{
	struct desc_ctx *c = ctx;
	static char msg[160];

	for (size_t i = 0; i < sizeof(desc_keys) / sizeof(desc_keys[0]); i++) {
		if (strcmp(desc_keys[i].key, key))
			continue;
		if (xpc_get_type(v) != desc_keys[i].type) {
			snprintf(msg, sizeof(msg), "%s has the wrong xpc type (expected %s)", key,
				 xpc_type_get_name(desc_keys[i].type));
			c->why = msg;
			c->status = VMNET_INVALID_ARGUMENT;
			return false;
		}
		c->status = desc_keys[i].fn(c->req, v, &c->why);
		return c->status == VMNET_SUCCESS;
	}
	log_debug("interface_desc: ignoring unknown key %s", key);
	return true;
}

static bool is_rfc1918(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	return (h >> 24) == 10 || (h >> 20) == 0xac1 || (h >> 16) == 0xc0a8;
}

/* start/end/mask: all three or none, contiguous mask, same private subnet, start < end. */
static uint32_t check_range(const struct iface_req *r, const char **why)
{
	uint32_t s = ntohl(r->start.s_addr), e = ntohl(r->end.s_addr), m = ntohl(r->mask.s_addr);

	if (!r->start.s_addr || !r->end.s_addr || !r->mask.s_addr) {
		*why = "vmnet_start_address, vmnet_end_address and vmnet_subnet_mask go together: give all three or none";
		return VMNET_INVALID_ARGUMENT;
	}
	if (m == 0 || ((~m + 1) & ~m) != 0 || m == 0xffffffffu || m == 0xfffffffeu) {
		*why = "vmnet_subnet_mask is not a contiguous mask of /1 to /30";
		return VMNET_INVALID_ARGUMENT;
	}
	if ((s & m) != (e & m) || s >= e || (s & ~m) == 0 || (e & ~m) == ~m) {
		*why = "vmnet_start_address and vmnet_end_address must be host addresses of one subnet, start below end";
		return VMNET_INVALID_ARGUMENT;
	}
	if (!is_rfc1918(r->start)) {
		*why = "the address range must be private (RFC 1918)";
		return VMNET_INVALID_ARGUMENT;
	}
	return VMNET_SUCCESS;
}

static uint32_t check_combinations(const struct iface_req *r, const char **why)
{
	if (!r->mode) {
		*why = "vmnet_operation_mode is required";
		return VMNET_INVALID_ARGUMENT;
	}
	if (r->has_range && r->mode != VMNET_BRIDGED_MODE && check_range(r, why) != VMNET_SUCCESS)
		return VMNET_INVALID_ARGUMENT;
	if (r->has_obj != r->has_obj_token) {
		*why = "vmnet.network.id and vmnet.network.token go together";
		return VMNET_INVALID_ARGUMENT;
	}
	if (r->has_obj && (r->has_range || r->has_net_id || r->has_nat66 || r->shared_if[0])) {
		*why = "an interface on a network object takes its addresses from the network: no address keys";
		return VMNET_INVALID_ARGUMENT;
	}
	if (r->has_net_id && r->mode != VMNET_HOST_MODE) {
		*why = "vmnet_network_identifier is only for host mode";
		return VMNET_INVALID_ARGUMENT;
	}
	if ((r->has_host_ip || r->has_host_mask || r->has_host_ip6) && !r->has_net_id) {
		*why = "vmnet_host_ip_address/_subnet_mask/_ipv6_address need vmnet_network_identifier";
		return VMNET_INVALID_ARGUMENT;
	}
	if (r->has_host_ip != r->has_host_mask) {
		*why = "vmnet_host_ip_address and vmnet_host_subnet_mask go together";
		return VMNET_INVALID_ARGUMENT;
	}
	if (r->has_host_ip) {
		uint32_t m = ntohl(r->host_mask.s_addr), a = ntohl(r->host_ip.s_addr);

		if (m == 0 || (m | (m - 1)) != 0xffffffffu || m > 0xfffffffcu || (a & ~m) == 0 || (a & ~m) == ~m ||
		    (a >> 28) >= 14 || (a >> 24) == 127 || (a >> 24) == 0) {
			*why = "vmnet_host_ip_address/_subnet_mask must be a unicast host address with a contiguous mask of /1 to /30";
			return VMNET_INVALID_ARGUMENT;
		}
	}
	if (r->has_host_ip6 && (r->host_ip6.s6_addr[0] == 0xff || IN6_IS_ADDR_UNSPECIFIED(&r->host_ip6) ||
				IN6_IS_ADDR_LOOPBACK(&r->host_ip6) || IN6_IS_ADDR_LINKLOCAL(&r->host_ip6))) {
		*why = "vmnet_host_ipv6_address must be a global or unique-local unicast address";
		return VMNET_INVALID_ARGUMENT;
	}
	if (r->mode == VMNET_BRIDGED_MODE && r->has_mtu) {
		*why = "vmnet_mtu cannot be set in bridged mode (the interface's MTU applies)";
		return VMNET_INVALID_ARGUMENT;
	}
	if (r->virtio_hdr && r->csum_offload) {
		*why = "vmnet_enable_virtio_header and vmnet_enable_checksum_offload are mutually exclusive";
		return VMNET_INVALID_ARGUMENT;
	}
	return VMNET_SUCCESS;
}


uint32_t desc_parse(void *dict, struct iface_req *req, const char **why)
{
	struct desc_ctx c = { .req = req, .status = VMNET_SUCCESS };
	uint32_t st;

	memset(req, 0, sizeof(*req));
	req->allocate_mac = true;
	*why = NULL;
	if (!dict || xpc_get_type(dict) != XPC_TYPE_DICTIONARY) {
		*why = "interface_desc is not a dictionary";
		return VMNET_INVALID_ARGUMENT;
	}
	xpc_dictionary_apply_f(dict, &c, apply_key);
	if (c.status != VMNET_SUCCESS) {
		*why = c.why;
		return c.status;
	}
	st = check_combinations(req, why);
	return st;
}

void *desc_param(const struct iface_req *req, const struct network *net, const struct port *p)
{
	xpc_object_t d = xpc_dictionary_create_empty();
	uint32_t mtu = req->has_mtu ? req->mtu : net->mtu;
	char buf[64];

	if (p->has_mac) {
		util_mac_to_string(p->mac, buf);
		xpc_dictionary_set_string(d, "vmnet_mac_address", buf);
	}
	xpc_dictionary_set_uint64(d, "vmnet_mtu", mtu);
	/* With TSO a packet may be a 64 KiB super-frame; with the virtio header the 12 bytes before the
	 * frame count too, so a buffer of vmnet_max_packet_size always takes a whole packet. */
	xpc_dictionary_set_uint64(d, "vmnet_max_packet_size",
				  (req->tso && p->max_frame < 65550 ? 65550 : p->max_frame) + (req->virtio_hdr ? 12 : 0));
	xpc_dictionary_set_uuid(d, "vmnet_interface_id", req->id);
	if (net->has_subnet) {
		xpc_dictionary_set_string(d, "vmnet_start_address", inet_ntop(AF_INET, &net->start, buf, sizeof(buf)));
		xpc_dictionary_set_string(d, "vmnet_end_address", inet_ntop(AF_INET, &net->end, buf, sizeof(buf)));
		xpc_dictionary_set_string(d, "vmnet_subnet_mask", inet_ntop(AF_INET, &net->mask, buf, sizeof(buf)));
	}
	if (req->has_net_id)
		xpc_dictionary_set_uuid(d, "vmnet_network_identifier", req->net_id);
	xpc_dictionary_set_uint64(d, "vmnet_read_max_packets", 256);
	xpc_dictionary_set_uint64(d, "vmnet_write_max_packets", 256);
	return d;
}
