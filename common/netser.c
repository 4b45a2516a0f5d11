/*
 * netser.c — building and checking the serialization of a network object
 * (see netser.h and docs/networks.md §3).
 *
 * The parser reads untrusted input (whatever a program hands to
 * vmnet_network_create_with_serialization, and what vmnetd receives in a
 * CTL_NETWORK "join"): every key is fetched with its expected type and its
 * value range-checked; a missing or malformed key refuses the whole object.
 * Nothing here decides whether the token is right — only vmnetd knows.
 */
#include "common/netser.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>

#include "common/netconf.h"

void *netser_build(const struct netser *s)
{
	xpc_object_t d = xpc_dictionary_create_empty();
	char a[INET6_ADDRSTRLEN + 4];

	xpc_dictionary_set_string(d, "format", NETSER_FORMAT);
	xpc_dictionary_set_uuid(d, "id", s->id);
	xpc_dictionary_set_data(d, "token", s->token, sizeof(s->token));
	xpc_dictionary_set_string(d, "name", s->name);
	xpc_dictionary_set_uint64(d, "mode", s->mode);
	inet_ntop(AF_INET, &s->base, a, INET_ADDRSTRLEN);
	snprintf(a + strlen(a), 4, "/%d", __builtin_popcount(s->mask.s_addr));
	xpc_dictionary_set_string(d, "subnet", a);
	if (s->has_prefix) {
		inet_ntop(AF_INET6, s->prefix, a, INET6_ADDRSTRLEN);
		strcat(a, "/64");
		xpc_dictionary_set_string(d, "prefix", a);
	}
	xpc_dictionary_set_uint64(d, "mtu", s->mtu);
	return d;
}

/* Return: the value of key when it has type t, else NULL. */
static xpc_object_t get_typed(xpc_object_t d, const char *key, xpc_type_t t)
{
	xpc_object_t v = xpc_dictionary_get_value(d, key);

	return v && xpc_get_type(v) == t ? v : NULL;
}

static int refuse(const char **why, const char *msg)
{
	*why = msg;
	return -EINVAL;
}

/* The address fields: mode, subnet, prefix, mtu. Return: 0 or -EINVAL. */
static int parse_addressing(xpc_object_t d, struct netser *s, const char **why)
{
	xpc_object_t mode = get_typed(d, "mode", XPC_TYPE_UINT64), mtu = get_typed(d, "mtu", XPC_TYPE_UINT64);
	xpc_object_t subnet = get_typed(d, "subnet", XPC_TYPE_STRING), prefix = xpc_dictionary_get_value(d, "prefix");
	int bits;

	if (!mode || (xpc_uint64_get_value(mode) != VMNET_HOST_MODE && xpc_uint64_get_value(mode) != VMNET_SHARED_MODE))
		return refuse(why, "the serialization's mode is missing or not host/shared");
	s->mode = (uint32_t)xpc_uint64_get_value(mode);
	if (!subnet || netconf_parse_cidr(xpc_string_get_string_ptr(subnet), &s->base, &s->mask) < 0)
		return refuse(why, "the serialization's subnet is missing or malformed");
	bits = __builtin_popcount(s->mask.s_addr);
	if (bits < 8 || bits > 30)
		return refuse(why, "the serialization's subnet is not a /8 to /30");
	if (!mtu || xpc_uint64_get_value(mtu) < NETCONF_MTU_MIN || xpc_uint64_get_value(mtu) > NETCONF_MTU_MAX)
		return refuse(why, "the serialization's mtu is missing or out of range");
	s->mtu = (uint32_t)xpc_uint64_get_value(mtu);
	if (prefix) {
		if (xpc_get_type(prefix) != XPC_TYPE_STRING ||
		    netconf_parse_prefix(xpc_string_get_string_ptr(prefix), s->prefix) < 0)
			return refuse(why, "the serialization's prefix is malformed");
		s->has_prefix = true;
	}
	return 0;
}

int netser_parse(void *obj, struct netser *s, const char **why)
{
	xpc_object_t id, token, name;
	const char *fmt, *nm;

	memset(s, 0, sizeof(*s));
	if (!obj || xpc_get_type(obj) != XPC_TYPE_DICTIONARY)
		return refuse(why, "a network serialization is a dictionary");
	fmt = xpc_dictionary_get_string(obj, "format");
	if (!fmt || strcmp(fmt, NETSER_FORMAT))
		return refuse(why, "not a network serialization of format " NETSER_FORMAT);
	id = get_typed(obj, "id", XPC_TYPE_UUID);
	token = get_typed(obj, "token", XPC_TYPE_DATA);
	name = get_typed(obj, "name", XPC_TYPE_STRING);
	if (!id)
		return refuse(why, "the serialization has no network id");
	if (!token || xpc_data_get_length(token) != NETSER_TOKEN_LEN)
		return refuse(why, "the serialization's token is missing or not 16 bytes");
	nm = name ? xpc_string_get_string_ptr(name) : NULL;
	if (!nm || !*nm || strlen(nm) >= sizeof(s->name))
		return refuse(why, "the serialization's name is missing or too long");
	memcpy(s->id, xpc_uuid_get_bytes(id), sizeof(s->id));
	memcpy(s->token, xpc_data_get_bytes_ptr(token), NETSER_TOKEN_LEN);
	memcpy(s->name, nm, strlen(nm) + 1);
	return parse_addressing(obj, s, why);
}
