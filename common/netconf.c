/*
 * netconf.c — network configurations: checks, the CTL_NETWORK dictionary and
 * the definition file of a named network (see netconf.h, docs/networks.md).
 *
 * Theory of operation: the library checks every mutator call at once so a
 * program learns about a bad value where it made it; vmnetd never trusts
 * that and checks the dictionary it receives again with the same functions.
 * The dictionary parser walks a table of keys ({ key, xpc type, setter }),
 * collecting values first and checking cross-field rules (reservations and
 * forwards inside the subnet) at the end, since dictionary order is the
 * sender's choice. The text parser works line by line on a private copy and
 * refuses unknown keys: a definition file is written by vmnetd, and a line
 * it does not understand means the file is not what it wrote.
 */
#include "common/netconf.h"


#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>

#include "common/kvtext.h"
#include "common/util.h"

void netconf_default(struct netconf *c, uint32_t mode)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
	c->mtu = NETCONF_MTU_DEFAULT;
	c->dhcp = c->dns = c->nat44 = c->nat66 = c->router_adv = true;
}

void netconf_default_subnet(uint32_t mode, struct in_addr *base, struct in_addr *mask)
{
	base->s_addr = htonl(mode == VMNET_SHARED_MODE ? 0xc0a84000u : 0xc0a88000u);
	mask->s_addr = htonl(0xffffff00u);
}

static bool is_rfc1918(uint32_t h)
{
	return (h >> 24) == 10 || (h >> 20) == 0xac1 || (h >> 16) == 0xc0a8;
}

int netconf_set_subnet(struct netconf *c, struct in_addr addr, struct in_addr mask)
{
	uint32_t m = ntohl(mask.s_addr), a = ntohl(addr.s_addr);

	/* Contiguous: the complement plus one is a power of two. /8 .. /30. */
	if (m == 0 || ((~m + 1) & ~m) != 0 || __builtin_popcount(m) < 8 || __builtin_popcount(m) > 30)
		return -EINVAL;
	if (!is_rfc1918(a & m) || !is_rfc1918(a | ~m))
		return -EINVAL;
	c->has_subnet = true;
	c->base.s_addr = htonl(a & m);
	c->mask = mask;
	return 0;
}

int netconf_set_prefix(struct netconf *c, const uint8_t prefix[16], unsigned len)
{
	static const uint8_t zero[8];

	if (len != 64)
		return -EINVAL;
	if (prefix[0] == 0xff || (prefix[0] == 0xfe && (prefix[1] & 0xc0) == 0x80) || !memcmp(prefix, zero, 8))
		return -EINVAL; /* multicast, link-local, ::/64 */
	memcpy(c->prefix, prefix, 8);
	memset(c->prefix + 8, 0, 8);
	c->has_prefix = true;
	return 0;
}

int netconf_set_mtu(struct netconf *c, uint32_t mtu)
{
	if (mtu < NETCONF_MTU_MIN || mtu > NETCONF_MTU_MAX)
		return -EINVAL;
	c->mtu = mtu;
	return 0;
}

int netconf_set_external(struct netconf *c, const char *ifname)
{
	size_t n = ifname ? strlen(ifname) : 0;

	if (n == 0 || n >= NETCONF_IFNAME_MAX || strchr(ifname, '/') || strpbrk(ifname, " \t\n=,"))
		return -EINVAL;
	memcpy(c->external_if, ifname, n + 1);
	return 0;
}

int netconf_reserve(struct netconf *c, const uint8_t mac[6], struct in_addr ip)
{
	static const uint8_t zero[6];
	unsigned i;

	if ((mac[0] & 1) || !memcmp(mac, zero, 6))
		return -EINVAL;
	for (i = 0; i < c->nres; i++)
		if (c->res[i].ip.s_addr == ip.s_addr && memcmp(c->res[i].mac, mac, 6))
			return -EINVAL;
	for (i = 0; i < c->nres; i++)
		if (!memcmp(c->res[i].mac, mac, 6))
			break;
	if (i == c->nres) {
		if (c->nres == NETCONF_RESERVE_MAX)
			return -ENOSPC;
		c->nres++;
		memcpy(c->res[i].mac, mac, 6);
	}
	c->res[i].ip = ip;
	return 0;
}

int netconf_add_forward(struct netconf *c, const struct netconf_forward *f)
{
	if ((f->protocol != NETCONF_PROTO_TCP && f->protocol != NETCONF_PROTO_UDP) ||
	    (f->family != AF_INET && f->family != AF_INET6) || !f->external_port || !f->internal_port)
		return -EINVAL;
	for (unsigned i = 0; i < c->nfwd; i++)
		if (c->fwd[i].protocol == f->protocol && c->fwd[i].family == f->family &&
		    c->fwd[i].external_port == f->external_port)
			return -EINVAL;
	if (c->nfwd == NETCONF_FORWARD_MAX)
		return -ENOSPC;
	c->fwd[c->nfwd++] = *f;
	return 0;
}

bool netconf_host_ok(struct in_addr ip, struct in_addr base, struct in_addr mask)
{
	uint32_t a = ntohl(ip.s_addr), m = ntohl(mask.s_addr), b = ntohl(base.s_addr) & m;

	return (a & m) == b && a != b && a != b + 1 && (a & ~m) != ~m;
}

int netconf_check(const struct netconf *c, struct in_addr base, struct in_addr mask, const char **why)
{
	for (unsigned i = 0; i < c->nres; i++)
		if (!netconf_host_ok(c->res[i].ip, base, mask)) {
			*why = "a DHCP reservation is outside the subnet, or is its network, gateway or broadcast address";
			return -EINVAL;
		}
	for (unsigned i = 0; i < c->nfwd; i++)
		if (c->fwd[i].family == AF_INET && !netconf_host_ok(c->fwd[i].addr.v4, base, mask)) {
			*why = "a port-forwarding rule's internal address is outside the subnet";
			return -EINVAL;
		}
	return 0;
}

int netconf_parse_cidr(const char *s, struct in_addr *base, struct in_addr *mask)
{
	char buf[INET_ADDRSTRLEN + 4], *slash, *end;
	long bits;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	*slash = 0;
	bits = strtol(slash + 1, &end, 10);
	if (*end || bits < 0 || bits > 32 || slash[1] < '0' || slash[1] > '9' || inet_pton(AF_INET, buf, base) != 1)
		return -EINVAL;
	mask->s_addr = bits ? htonl(~0u << (32 - bits)) : 0;
	base->s_addr &= mask->s_addr;
	return 0;
}

int netconf_parse_prefix(const char *s, uint8_t prefix[16])
{
	char buf[INET6_ADDRSTRLEN + 4], *slash;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash || strcmp(slash, "/64"))
		return -EINVAL;
	*slash = 0;
	return inet_pton(AF_INET6, buf, prefix) == 1 ? 0 : -EINVAL;
}

bool netconf_name_ok(const char *name)
{
	static const char *const reserved[] = { "default", "host", "shared" };
	static const char *const prefixes[] = { "host-", "shared-", "net-" };
	size_t n = name ? strlen(name) : 0;
	uuid_t u;

	if (n == 0 || n > NETCONF_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return false;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(name, reserved[i]))
			return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return false;
	return uuid_parse(name, u) != 0;
}

/* ------------------------------------------------------------------ */
/* the CTL_NETWORK dictionary                                          */
/* ------------------------------------------------------------------ */

static void set_cidr(xpc_object_t d, const char *key, struct in_addr base, struct in_addr mask)
{
	char a[INET_ADDRSTRLEN + 4];

	inet_ntop(AF_INET, &base, a, INET_ADDRSTRLEN);
	snprintf(a + strlen(a), 4, "/%d", __builtin_popcount(mask.s_addr));
	xpc_dictionary_set_string(d, key, a);
}

static xpc_object_t reservations_to_xpc(const struct netconf *c)
{
	xpc_object_t arr = xpc_array_create_empty();
	char m[UTIL_MAC_STRLEN], a[INET_ADDRSTRLEN];

	for (unsigned i = 0; i < c->nres; i++) {
		xpc_object_t e = xpc_dictionary_create_empty();

		util_mac_to_string(c->res[i].mac, m);
		xpc_dictionary_set_string(e, "mac", m);
		xpc_dictionary_set_string(e, "ip", inet_ntop(AF_INET, &c->res[i].ip, a, sizeof(a)));
		xpc_array_append_value(arr, e);
		xpc_release(e);
	}
	return arr;
}

static xpc_object_t forwards_to_xpc(const struct netconf *c)
{
	xpc_object_t arr = xpc_array_create_empty();
	char a[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < c->nfwd; i++) {
		const struct netconf_forward *f = &c->fwd[i];
		xpc_object_t e = xpc_dictionary_create_empty();

		xpc_dictionary_set_uint64(e, "protocol", f->protocol);
		xpc_dictionary_set_uint64(e, "family", f->family);
		xpc_dictionary_set_uint64(e, "external_port", f->external_port);
		xpc_dictionary_set_string(e, "internal_address", inet_ntop(f->family, &f->addr, a, sizeof(a)));
		xpc_dictionary_set_uint64(e, "internal_port", f->internal_port);
		xpc_array_append_value(arr, e);
		xpc_release(e);
	}
	return arr;
}

void *netconf_to_xpc(const struct netconf *c)
{
	xpc_object_t d = xpc_dictionary_create_empty(), arr;
	char p[INET6_ADDRSTRLEN + 4];

	xpc_dictionary_set_uint64(d, "mode", c->mode);
	if (c->has_subnet)
		set_cidr(d, "subnet", c->base, c->mask);
	if (c->has_prefix) {
		inet_ntop(AF_INET6, c->prefix, p, INET6_ADDRSTRLEN);
		strcat(p, "/64");
		xpc_dictionary_set_string(d, "prefix", p);
	}
	xpc_dictionary_set_uint64(d, "mtu", c->mtu);
	xpc_dictionary_set_bool(d, "dhcp", c->dhcp);
	xpc_dictionary_set_bool(d, "dns", c->dns);
	xpc_dictionary_set_bool(d, "nat44", c->nat44);
	xpc_dictionary_set_bool(d, "nat66", c->nat66);
	xpc_dictionary_set_bool(d, "router_adv", c->router_adv);
	if (c->external_if[0])
		xpc_dictionary_set_string(d, "external", c->external_if);
	arr = reservations_to_xpc(c);
	xpc_dictionary_set_value(d, "reservations", arr);
	xpc_release(arr);
	arr = forwards_to_xpc(c);
	xpc_dictionary_set_value(d, "forwards", arr);
	xpc_release(arr);
	return d;
}

/* One key of the dictionary: its type and how it is stored. Return: 0 or -EINVAL with *why. */
typedef int (*cfg_fn)(struct netconf *c, xpc_object_t v, const char **why);

static int x_mode(struct netconf *c, xpc_object_t v, const char **why)
{
	uint64_t m = xpc_uint64_get_value(v);

	if (m != VMNET_HOST_MODE && m != VMNET_SHARED_MODE) {
		*why = "mode must be host (1000) or shared (1001)";
		return -EINVAL;
	}
	c->mode = (uint32_t)m;
	return 0;
}

static int x_subnet(struct netconf *c, xpc_object_t v, const char **why)
{
	struct in_addr base, mask;

	if (netconf_parse_cidr(xpc_string_get_string_ptr(v), &base, &mask) < 0 ||
	    netconf_set_subnet(c, base, mask) < 0) {
		*why = "subnet must be a private (RFC 1918) A.B.C.D/N with N from 8 to 30";
		return -EINVAL;
	}
	return 0;
}

static int x_prefix(struct netconf *c, xpc_object_t v, const char **why)
{
	uint8_t p[16];

	if (netconf_parse_prefix(xpc_string_get_string_ptr(v), p) < 0 || netconf_set_prefix(c, p, 64) < 0) {
		*why = "prefix must be a unicast, non-link-local IPv6 /64 (P::/64)";
		return -EINVAL;
	}
	return 0;
}

static int x_mtu(struct netconf *c, xpc_object_t v, const char **why)
{
	uint64_t m = xpc_uint64_get_value(v);

	if (m > UINT32_MAX || netconf_set_mtu(c, (uint32_t)m) < 0) {
		*why = "mtu must be between 1280 and 9000";
		return -EINVAL;
	}
	return 0;
}

static int x_external(struct netconf *c, xpc_object_t v, const char **why)
{
	if (netconf_set_external(c, xpc_string_get_string_ptr(v)) < 0) {
		*why = "external must be an interface name shorter than 16 bytes";
		return -EINVAL;
	}
	return 0;
}

#define X_BOOL(fn, field)                                                      \
	static int fn(struct netconf *c, xpc_object_t v, const char **why)     \
	{                                                                      \
		c->field = xpc_bool_get_value(v);                              \
		return 0;                                                      \
	}
X_BOOL(x_dhcp, dhcp)
X_BOOL(x_dns, dns)
X_BOOL(x_nat44, nat44)
X_BOOL(x_nat66, nat66)
X_BOOL(x_ra, router_adv)

static bool x_one_res(void *ctx, size_t i, xpc_object_t e)
{
	struct netconf *c = ctx;
	const char *mac = xpc_get_type(e) == XPC_TYPE_DICTIONARY ? xpc_dictionary_get_string(e, "mac") : NULL;
	const char *ip = mac ? xpc_dictionary_get_string(e, "ip") : NULL;
	uint8_t m[6];
	struct in_addr a;

	return ip && util_mac_from_string(mac, m) == 0 && inet_pton(AF_INET, ip, &a) == 1 &&
	       netconf_reserve(c, m, a) == 0;
}

static int x_res(struct netconf *c, xpc_object_t v, const char **why)
{
	if (xpc_array_get_count(v) > NETCONF_RESERVE_MAX || !xpc_array_apply_f(v, c, x_one_res)) {
		*why = "reservations must be at most 256 {mac, ip} entries, one address per unicast MAC";
		return -EINVAL;
	}
	return 0;
}

/* A uint64 field of a rule in 1..max. Return: true and *out when present and in range. */
static bool rule_u64(xpc_object_t e, const char *key, uint64_t max, uint64_t *out)
{
	xpc_object_t v = xpc_dictionary_get_value(e, key);

	if (!v || xpc_get_type(v) != XPC_TYPE_UINT64)
		return false;
	*out = xpc_uint64_get_value(v);
	return *out >= 1 && *out <= max;
}

static bool x_one_fwd(void *ctx, size_t i, xpc_object_t e)
{
	struct netconf *c = ctx;
	struct netconf_forward f;
	uint64_t proto, fam, ext, in;
	const char *addr;

	if (xpc_get_type(e) != XPC_TYPE_DICTIONARY || !rule_u64(e, "protocol", 255, &proto) ||
	    !rule_u64(e, "family", 255, &fam) || !rule_u64(e, "external_port", 65535, &ext) ||
	    !rule_u64(e, "internal_port", 65535, &in) || (fam != AF_INET && fam != AF_INET6))
		return false;
	memset(&f, 0, sizeof(f));
	f.protocol = (uint8_t)proto;
	f.family = (uint8_t)fam;
	f.external_port = (uint16_t)ext;
	f.internal_port = (uint16_t)in;
	addr = xpc_dictionary_get_string(e, "internal_address");
	return addr && inet_pton(f.family, addr, &f.addr) == 1 && netconf_add_forward(c, &f) == 0;
}

static int x_fwd(struct netconf *c, xpc_object_t v, const char **why)
{
	if (xpc_array_get_count(v) > NETCONF_FORWARD_MAX || !xpc_array_apply_f(v, c, x_one_fwd)) {
		*why = "forwards must be at most 64 valid {protocol, family, external_port, internal_address, "
		       "internal_port} rules, each external port once";
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_key {
	const char *key;
	xpc_type_t type;
	cfg_fn fn;
} cfg_keys[] = {
	{ "mode", XPC_TYPE_UINT64, x_mode },
	{ "subnet", XPC_TYPE_STRING, x_subnet },
	{ "prefix", XPC_TYPE_STRING, x_prefix },
	{ "mtu", XPC_TYPE_UINT64, x_mtu },
	{ "dhcp", XPC_TYPE_BOOL, x_dhcp },
	{ "dns", XPC_TYPE_BOOL, x_dns },
	{ "nat44", XPC_TYPE_BOOL, x_nat44 },
	{ "nat66", XPC_TYPE_BOOL, x_nat66 },
	{ "router_adv", XPC_TYPE_BOOL, x_ra },
	{ "external", XPC_TYPE_STRING, x_external },
	{ "reservations", XPC_TYPE_ARRAY, x_res },
	{ "forwards", XPC_TYPE_ARRAY, x_fwd },
};

struct cfg_ctx {
	struct netconf *c;
	const char *why;
};

static bool cfg_apply(void *ctx, const char *key, xpc_object_t v)
{
	struct cfg_ctx *x = ctx;

	for (size_t i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		if (strcmp(cfg_keys[i].key, key))
			continue;
		if (xpc_get_type(v) != cfg_keys[i].type) {
			x->why = "a configuration key has the wrong type";
			return false;
		}
		return cfg_keys[i].fn(x->c, v, &x->why) == 0;
	}
	return true; /* unknown keys: ignored, for newer senders */
}

int netconf_from_xpc(void *dict, struct netconf *c, const char **why)
{
	struct cfg_ctx x = { .c = c };

	netconf_default(c, 0);
	if (!dict || xpc_get_type(dict) != XPC_TYPE_DICTIONARY) {
		*why = "the configuration is not a dictionary";
		return -EINVAL;
	}
	if (!xpc_dictionary_apply_f(dict, &x, cfg_apply)) {
		*why = x.why ? x.why : "invalid configuration";
		return -EINVAL;
	}
	if (!c->mode) {
		*why = "the configuration has no mode";
		return -EINVAL;
	}
	if (c->has_subnet)
		return netconf_check(c, c->base, c->mask, why);
	return 0;
}

/* ------------------------------------------------------------------ */
/* definition files                                                    */
/* ------------------------------------------------------------------ */

size_t netconf_format(const struct netconf *c, const uuid_t id, char *buf, size_t len)
{
	char u[37], a[INET6_ADDRSTRLEN];
	size_t n = 0;

#define PUT(...) (n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__))
	uuid_unparse_lower(id, u);
	PUT("# vmnet named network (vmnet network create; see vmnet(1))\n");
	PUT("id=%s\nmode=%s\n", u, c->mode == VMNET_SHARED_MODE ? "shared" : "host");
	if (c->has_subnet)
		PUT("subnet=%s/%d\n", inet_ntop(AF_INET, &c->base, a, sizeof(a)), __builtin_popcount(c->mask.s_addr));
	if (c->has_prefix)
		PUT("prefix=%s/64\n", inet_ntop(AF_INET6, c->prefix, a, sizeof(a)));
	PUT("mtu=%u\n", c->mtu);
	PUT("dhcp=%s\ndns=%s\nnat44=%s\nnat66=%s\nrouter-adv=%s\n", c->dhcp ? "on" : "off", c->dns ? "on" : "off",
	    c->nat44 ? "on" : "off", c->nat66 ? "on" : "off", c->router_adv ? "on" : "off");
	if (c->external_if[0])
		PUT("external=%s\n", c->external_if);
	for (unsigned i = 0; i < c->nres; i++) {
		char m[UTIL_MAC_STRLEN];

		util_mac_to_string(c->res[i].mac, m);
		PUT("reserve=%s %s\n", m, inet_ntop(AF_INET, &c->res[i].ip, a, sizeof(a)));
	}
#undef PUT
	if (n >= len)
		n = len ? len - 1 : 0;
	return n;
}

static int t_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "off"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* What a definition file has seen so far. */
struct text_ctx {
	struct netconf *c;
	uint8_t *id;
	bool has_id;
};

/* One "key=value" line (cut up in place). Return: 0 or -EINVAL. */
static int text_line(struct text_ctx *t, char *line)
{
	struct netconf *c = t->c;
	char *v = strchr(line, '=');
	struct in_addr base, mask, ip;
	uint8_t buf[16];
	char *end;

	if (!v)
		return -EINVAL;
	*v++ = 0;
	if (!strcmp(line, "id")) {
		t->has_id = uuid_parse(v, t->id) == 0;
		return t->has_id ? 0 : -EINVAL;
	}
	if (!strcmp(line, "mode")) {
		c->mode = !strcmp(v, "shared") ? VMNET_SHARED_MODE : !strcmp(v, "host") ? VMNET_HOST_MODE : 0;
		return c->mode ? 0 : -EINVAL;
	}
	if (!strcmp(line, "subnet"))
		return netconf_parse_cidr(v, &base, &mask) < 0 ? -EINVAL : netconf_set_subnet(c, base, mask);
	if (!strcmp(line, "prefix"))
		return netconf_parse_prefix(v, buf) < 0 ? -EINVAL : netconf_set_prefix(c, buf, 64);
	if (!strcmp(line, "mtu")) {
		unsigned long m = strtoul(v, &end, 10);

		return *end || !*v || *v == '-' || m > UINT32_MAX ? -EINVAL : netconf_set_mtu(c, (uint32_t)m);
	}
	if (!strcmp(line, "dhcp"))
		return t_bool(v, &c->dhcp);
	if (!strcmp(line, "dns"))
		return t_bool(v, &c->dns);
	if (!strcmp(line, "nat44"))
		return t_bool(v, &c->nat44);
	if (!strcmp(line, "nat66"))
		return t_bool(v, &c->nat66);
	if (!strcmp(line, "router-adv"))
		return t_bool(v, &c->router_adv);
	if (!strcmp(line, "external"))
		return netconf_set_external(c, v);
	if (!strcmp(line, "reserve")) {
		char *sp = strpbrk(v, " ,");

		if (!sp)
			return -EINVAL;
		*sp++ = 0;
		if (util_mac_from_string(v, buf) < 0 || inet_pton(AF_INET, sp, &ip) != 1)
			return -EINVAL;
		return netconf_reserve(c, buf, ip);
	}
	return -EINVAL;
}

static int text_line_cb(void *ctx, char *line)
{
	return text_line(ctx, line);
}

int netconf_parse(const char *text, struct netconf *c, uuid_t id, char *err, size_t errlen)
{
	struct text_ctx t = { .c = c, .id = id };
	const char *why = NULL;

	netconf_default(c, 0);
	if (kvtext_lines(text, "line", text_line_cb, &t, err, errlen) < 0)
		return -EINVAL;
	if (!t.has_id || !c->mode || !c->has_subnet) {
		snprintf(err, errlen, "id=, mode= and subnet= are required");
		return -EINVAL;
	}
	if (netconf_check(c, c->base, c->mask, &why) < 0) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	return 0;
}
