/*
 * network.c — the macOS 26 network objects in the vmnet API (spec section 7):
 * network configurations, networks, their serialization,
 * vmnet_interface_start_with_network, and CFRetain/CFRelease for both kinds
 * of object. docs/networks.md describes the behaviour, docs/api.md §4 the
 * statuses.
 *
 * Theory of operation
 * -------------------
 * Objects. Both kinds start with `struct obj_hdr`: a type tag (magic) and an
 * atomic reference count. CFRetain/CFRelease dispatch on the tag; NULL is
 * ignored, and a pointer with an unknown tag is logged and left alone rather
 * than freed. A freed object's tag is overwritten first.
 *
 * Configurations are plain memory: a `struct netconf` (common/netconf.h)
 * behind a mutex, checked call by call with the same functions vmnetd uses.
 * A reservation or IPv4 forward given before any subnet is checked against
 * the mode's default /24, which vmnetd then uses for that network.
 *
 * Networks live in vmnetd. vmnet_network_create sends CTL_NETWORK "create"
 * on a control connection of its own and keeps that connection open inside
 * the vmnet_network_ref: vmnetd holds the network for exactly as long as the
 * connection is open, so the last CFRelease (or the process's exit, or a
 * crash) closes it and the network goes — for every process using it, as on
 * macOS. create_with_serialization sends "join" on its own connection; a
 * joiner's release only drops its hold.
 *
 * Interfaces. vmnet_interface_start_with_network starts an ordinary
 * interface whose interface_desc names the object (private keys
 * vmnet.network.id and vmnet.network.token, which vmnetd checks) instead of
 * addresses; the interface retains the network until it is stopped (or its
 * start fails), so a caller may CFRelease its own reference right after the
 * start.
 */
#include <Block.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "common/ctl.h"
#include "common/log.h"
#include "common/netconf.h"
#include "common/netser.h"
#include "lib/client.h"
#include "lib/network_internal.h"

#define OBJ_CONFIG 0x564e4366u  /* "VNCf" */
#define OBJ_NETWORK 0x564e4e77u /* "VNNw" */
#define OBJ_FREED 0x64656164u   /* "dead" */

struct obj_hdr {
	uint32_t magic;
	_Atomic int refs;
};

struct vmnet_network_configuration {
	struct obj_hdr hdr;
	pthread_mutex_t lock;
	struct netconf cfg;
};

struct vmnet_network {
	struct obj_hdr hdr;
	int sock;          /* the control connection that holds the network in vmnetd */
	bool creator;
	struct netser ser; /* identity, token and effective addresses, as vmnetd replied */
};

/* Keys of a caller's interface_desc that a network object decides instead. */
static const char *const network_owned_keys[] = {
	"vmnet_operation_mode",	      "vmnet_start_address",	     "vmnet_end_address",
	"vmnet_subnet_mask",	      "vmnet_network_identifier",    "vmnet_nat66_prefix",
	"vmnet_nat66_prefix_length",  "vmnet_shared_interface_name", "vmnet_host_ip_address",
	"vmnet_host_subnet_mask",     "vmnet_host_ipv6_address",
};

static void set_status(vmnet_return_t *status, vmnet_return_t st)
{
	if (status)
		*status = st;
}

/* Map an internal -errno. Return: the vmnet_return_t. */
static vmnet_return_t errno_status(int r)
{
	switch (-r) {
	case 0: return VMNET_SUCCESS;
	case ENOMEM: return VMNET_MEM_FAILURE;
	case EINVAL: return VMNET_INVALID_ARGUMENT;
	case EACCES:
	case EPERM: return VMNET_NOT_AUTHORIZED;
	case EBUSY:
	case EADDRINUSE: return VMNET_SHARING_SERVICE_BUSY;
	default: return VMNET_FAILURE;
	}
}

static struct vmnet_network_configuration *as_config(const void *p)
{
	const struct obj_hdr *h = p;

	return h && h->magic == OBJ_CONFIG ? (struct vmnet_network_configuration *)p : NULL;
}

static struct vmnet_network *as_network(const void *p)
{
	const struct obj_hdr *h = p;

	return h && h->magic == OBJ_NETWORK ? (struct vmnet_network *)p : NULL;
}

/* ------------------------------------------------------------------ */
/* configurations                                                      */
/* ------------------------------------------------------------------ */

vmnet_network_configuration_ref vmnet_network_configuration_create(vmnet_mode_t mode, vmnet_return_t *status)
{
	struct vmnet_network_configuration *c;

	if (mode != VMNET_HOST_MODE && mode != VMNET_SHARED_MODE) {
		log_warn("%s: only host and shared mode networks can be configured", __func__);
		set_status(status, VMNET_INVALID_ARGUMENT);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		set_status(status, VMNET_MEM_FAILURE);
		return NULL;
	}
	c->hdr.magic = OBJ_CONFIG;
	atomic_init(&c->hdr.refs, 1);
	pthread_mutex_init(&c->lock, NULL);
	netconf_default(&c->cfg, mode);
	set_status(status, VMNET_SUCCESS);
	return c;
}

/* Run fn on the configuration under its lock. Return: VMNET_INVALID_ARGUMENT for a bad ref, else fn's mapped result. */
static vmnet_return_t with_config(vmnet_network_configuration_ref ref, int (*fn)(struct netconf *c, const void *arg),
				  const void *arg)
{
	struct vmnet_network_configuration *c = as_config(ref);
	int r;

	if (!c)
		return VMNET_INVALID_ARGUMENT;
	pthread_mutex_lock(&c->lock);
	r = fn(&c->cfg, arg);
	pthread_mutex_unlock(&c->lock);
	return errno_status(r == -ENOSPC ? -EINVAL : r);
}

static int do_external(struct netconf *c, const void *arg)
{
	const char *name = arg;

	if (!name || netconf_set_external(c, name) < 0)
		return -EINVAL;
	if (!if_nametoindex(name)) {
		log_warn("vmnet_network_configuration_set_external_interface: no interface %s", name);
		return -EINVAL;
	}
	return 0;
}

vmnet_return_t vmnet_network_configuration_set_external_interface(vmnet_network_configuration_ref config,
								  const char *interface_name)
{
	return with_config(config, do_external, interface_name);
}

/* The disable_* switches: which field to clear. */
enum service { SVC_NAT44, SVC_NAT66, SVC_DHCP, SVC_DNS, SVC_RA };

static int do_disable(struct netconf *c, const void *arg)
{
	switch (*(const enum service *)arg) {
	case SVC_NAT44: c->nat44 = false; break;
	case SVC_NAT66: c->nat66 = false; break;
	case SVC_DHCP: c->dhcp = false; break;
	case SVC_DNS: c->dns = false; break;
	case SVC_RA: c->router_adv = false; break;
	}
	return 0;
}

static void disable(vmnet_network_configuration_ref config, enum service s)
{
	if (with_config(config, do_disable, &s) != VMNET_SUCCESS)
		log_warn("vmnet_network_configuration_disable_*: not a network configuration");
}

void vmnet_network_configuration_disable_nat44(vmnet_network_configuration_ref config)
{
	disable(config, SVC_NAT44);
}

void vmnet_network_configuration_disable_nat66(vmnet_network_configuration_ref config)
{
	disable(config, SVC_NAT66);
}

void vmnet_network_configuration_disable_dhcp(vmnet_network_configuration_ref config)
{
	disable(config, SVC_DHCP);
}

void vmnet_network_configuration_disable_dns_proxy(vmnet_network_configuration_ref config)
{
	disable(config, SVC_DNS);
}

void vmnet_network_configuration_disable_router_advertisement(vmnet_network_configuration_ref config)
{
	disable(config, SVC_RA);
}

struct subnet_arg {
	const struct in_addr *addr, *mask;
};

/* A new subnet must keep every reservation and IPv4 forward inside it. */
static int do_subnet(struct netconf *c, const void *arg)
{
	const struct subnet_arg *a = arg;
	struct netconf *tmp;
	const char *why = NULL;
	int r;

	if (!a->addr || !a->mask)
		return -EINVAL;
	tmp = malloc(sizeof(*tmp)); /* a few KiB: not on a caller's (maybe small) stack */
	if (!tmp)
		return -ENOMEM;
	*tmp = *c;
	r = netconf_set_subnet(tmp, *a->addr, *a->mask);
	if (r == 0)
		r = netconf_check(tmp, tmp->base, tmp->mask, &why);
	if (r == 0)
		*c = *tmp;
	free(tmp);
	if (why)
		log_warn("vmnet_network_configuration_set_ipv4_subnet: %s", why);
	return r;
}

vmnet_return_t vmnet_network_configuration_set_ipv4_subnet(vmnet_network_configuration_ref config,
							   const struct in_addr *subnet_addr,
							   const struct in_addr *subnet_mask)
{
	struct subnet_arg a = { subnet_addr, subnet_mask };

	return with_config(config, do_subnet, &a);
}

struct prefix_arg {
	const struct in6_addr *prefix;
	uint8_t len;
};

static int do_prefix(struct netconf *c, const void *arg)
{
	const struct prefix_arg *a = arg;

	return a->prefix ? netconf_set_prefix(c, a->prefix->s6_addr, a->len) : -EINVAL;
}

vmnet_return_t vmnet_network_configuration_set_ipv6_prefix(vmnet_network_configuration_ref config,
							   const struct in6_addr *prefix, uint8_t len)
{
	struct prefix_arg a = { prefix, len };

	return with_config(config, do_prefix, &a);
}

static int do_mtu(struct netconf *c, const void *arg)
{
	return netconf_set_mtu(c, *(const uint32_t *)arg);
}

vmnet_return_t vmnet_network_configuration_set_mtu(vmnet_network_configuration_ref config, uint32_t mtu)
{
	return with_config(config, do_mtu, &mtu);
}

/* Is ip a guest address of the configured subnet (or, with none yet, of the mode's default /24)? */
static bool in_subnet(const struct netconf *c, struct in_addr ip)
{
	struct in_addr base = c->base, mask = c->mask;

	if (!c->has_subnet)
		netconf_default_subnet(c->mode, &base, &mask);
	return netconf_host_ok(ip, base, mask);
}

static int do_forward(struct netconf *c, const void *arg)
{
	const struct netconf_forward *f = arg;

	if (c->mode != VMNET_SHARED_MODE) {
		log_warn("vmnet_network_configuration_add_port_forwarding_rule: port forwarding needs shared mode");
		return -EINVAL;
	}
	if (f->family == AF_INET && !in_subnet(c, f->addr.v4)) {
		log_warn("vmnet_network_configuration_add_port_forwarding_rule: the address is not a guest address "
			 "of the subnet (set the subnet first)");
		return -EINVAL;
	}
	return netconf_add_forward(c, f);
}

vmnet_return_t vmnet_network_configuration_add_port_forwarding_rule(vmnet_network_configuration_ref config,
								    uint8_t protocol, sa_family_t address_family,
								    uint16_t internal_port, uint16_t external_port,
								    const void *internal_address)
{
	struct netconf_forward f;

	if (!internal_address)
		return VMNET_INVALID_ARGUMENT;
	memset(&f, 0, sizeof(f));
	f.protocol = protocol;
	f.family = address_family == VMNET_DARWIN_AF_INET6 ? AF_INET6 : (uint8_t)address_family;
	if (address_family > 255 || (f.family != AF_INET && f.family != AF_INET6))
		return VMNET_INVALID_ARGUMENT;
	f.internal_port = internal_port; /* note the order: internal before external, as Apple's */
	f.external_port = external_port;
	memcpy(&f.addr, internal_address, f.family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr));
	return with_config(config, do_forward, &f);
}

static int do_reserve(struct netconf *c, const void *arg)
{
	const struct netconf_reservation *r = arg;

	if (!in_subnet(c, r->ip)) {
		log_warn("vmnet_network_configuration_add_dhcp_reservation: the address is not a guest address of "
			 "the subnet (set the subnet first)");
		return -EINVAL;
	}
	return netconf_reserve(c, r->mac, r->ip);
}

vmnet_return_t vmnet_network_configuration_add_dhcp_reservation(vmnet_network_configuration_ref config,
								const ether_addr_t *client,
								const struct in_addr *reservation)
{
	struct netconf_reservation r;

	if (!client || !reservation)
		return VMNET_INVALID_ARGUMENT;
	memcpy(r.mac, client->ether_addr_octet, 6);
	r.ip = *reservation;
	return with_config(config, do_reserve, &r);
}

/* ------------------------------------------------------------------ */
/* networks                                                            */
/* ------------------------------------------------------------------ */

/*
 * Send a CTL_NETWORK request on a new connection and keep the connection.
 * Return: VMNET_SUCCESS with *net (a new object, creator as given), or the status.
 */
static vmnet_return_t network_request(xpc_object_t req, bool creator, struct vmnet_network **net)
{
	struct vmnet_network *n;
	struct ctl_hdr hdr;
	xpc_object_t reply = NULL;
	const char *why = NULL;
	vmnet_return_t st;
	int fd, r;

	r = client_connect(&fd);
	if (r < 0) {
		log_warn("cannot reach vmnetd: %s", strerror(-r));
		return errno_status(r);
	}
	r = client_request(fd, CTL_NETWORK, req, &hdr, &reply, NULL, NULL);
	if (r < 0) {
		log_warn("CTL_NETWORK failed: %s", strerror(-r));
		close(fd);
		return errno_status(r);
	}
	if (hdr.status != VMNET_SUCCESS) {
		why = xpc_dictionary_get_string(reply, CTL_KEY_ERROR);
		log_warn("vmnetd refused the network: %s (%s)", why ? why : "no reason given",
			 vmnet_strerror(hdr.status));
		st = hdr.status >= VMNET_FAILURE && hdr.status <= VMNET_NOT_AUTHORIZED ? hdr.status : VMNET_FAILURE;
		goto fail;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		st = VMNET_MEM_FAILURE;
		goto fail;
	}
	if (netser_parse(xpc_dictionary_get_value(reply, "serialization"), &n->ser, &why) < 0) {
		log_warn("malformed CTL_NETWORK reply from vmnetd: %s", why);
		free(n);
		st = VMNET_FAILURE;
		goto fail;
	}
	xpc_release(reply);
	n->hdr.magic = OBJ_NETWORK;
	atomic_init(&n->hdr.refs, 1);
	n->sock = fd;
	n->creator = creator;
	*net = n;
	return VMNET_SUCCESS;
fail:
	xpc_release(reply);
	close(fd);
	return st;
}

vmnet_network_ref vmnet_network_create(vmnet_network_configuration_ref configuration, vmnet_return_t *status)
{
	struct vmnet_network_configuration *c = as_config(configuration);
	struct vmnet_network *n = NULL;
	xpc_object_t req, cfg;
	vmnet_return_t st;

	if (!c) {
		set_status(status, VMNET_INVALID_ARGUMENT);
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	cfg = netconf_to_xpc(&c->cfg);
	pthread_mutex_unlock(&c->lock);
	req = xpc_dictionary_create_empty();
	xpc_dictionary_set_string(req, "op", "create");
	xpc_dictionary_set_value(req, "config", cfg);
	xpc_release(cfg);
	st = network_request(req, true, &n);
	xpc_release(req);
	set_status(status, st);
	return st == VMNET_SUCCESS ? n : NULL;
}

xpc_object_t vmnet_network_copy_serialization(vmnet_network_ref network, vmnet_return_t *status)
{
	struct vmnet_network *n = as_network(network);
	xpc_object_t s;

	if (!n) {
		set_status(status, VMNET_INVALID_ARGUMENT);
		return NULL;
	}
	s = netser_build(&n->ser);
	set_status(status, s ? VMNET_SUCCESS : VMNET_MEM_FAILURE);
	return s;
}

vmnet_network_ref vmnet_network_create_with_serialization(xpc_object_t network, vmnet_return_t *status)
{
	struct vmnet_network *n = NULL;
	const char *why = NULL;
	xpc_object_t req, ser;
	struct netser s;
	vmnet_return_t st;

	if (netser_parse(network, &s, &why) < 0) {
		log_warn("%s: %s", __func__, why);
		set_status(status, VMNET_INVALID_ARGUMENT);
		return NULL;
	}
	ser = netser_build(&s); /* only what we understood goes to vmnetd */
	req = xpc_dictionary_create_empty();
	xpc_dictionary_set_string(req, "op", "join");
	xpc_dictionary_set_value(req, "serialization", ser);
	xpc_release(ser);
	st = network_request(req, false, &n);
	xpc_release(req);
	set_status(status, st);
	return st == VMNET_SUCCESS ? n : NULL;
}

void vmnet_network_get_ipv4_subnet(vmnet_network_ref network, struct in_addr *subnet, struct in_addr *mask)
{
	struct vmnet_network *n = as_network(network);

	if (subnet)
		subnet->s_addr = n ? n->ser.base.s_addr : 0;
	if (mask)
		mask->s_addr = n ? n->ser.mask.s_addr : 0;
}

void vmnet_network_get_ipv6_prefix(vmnet_network_ref network, struct in6_addr *prefix, uint8_t *prefix_len)
{
	struct vmnet_network *n = as_network(network);
	bool have = n && n->ser.has_prefix;

	if (prefix) {
		memset(prefix, 0, sizeof(*prefix));
		if (have)
			memcpy(prefix->s6_addr, n->ser.prefix, 16);
	}
	if (prefix_len)
		*prefix_len = have ? 64 : 0;
}

/* ------------------------------------------------------------------ */
/* interfaces on a network                                             */
/* ------------------------------------------------------------------ */

static bool copy_desc_key(void *ctx, const char *key, xpc_object_t value)
{
	if (!strncmp(key, "vmnet.", 6))
		return true; /* private keys are ours to set */
	for (size_t i = 0; i < sizeof(network_owned_keys) / sizeof(network_owned_keys[0]); i++)
		if (!strcmp(key, network_owned_keys[i]))
			return true;
	xpc_dictionary_set_value(ctx, key, value);
	return true;
}

/* The interface_desc sent for an interface on n: the caller's keys minus the network's, plus n's identity. */
static xpc_object_t network_desc(const struct vmnet_network *n, xpc_object_t desc)
{
	xpc_object_t d = xpc_dictionary_create_empty();

	xpc_dictionary_apply_f(desc, d, copy_desc_key);
	xpc_dictionary_set_uint64(d, "vmnet_operation_mode", n->ser.mode);
	xpc_dictionary_set_uuid(d, "vmnet.network.id", n->ser.id);
	xpc_dictionary_set_data(d, "vmnet.network.token", n->ser.token, sizeof(n->ser.token));
	return d;
}

static void network_release_hold(void *net)
{
	CFRelease(net);
}

static interface_ref start_with_network(vmnet_network_ref network, xpc_object_t desc, dispatch_queue_t queue,
					vmnet_start_interface_completion_handler_f fn, void *ctx, void *block)
{
	struct vmnet_network *n = as_network(network);
	interface_ref ifc;
	xpc_object_t d;

	if (!n || !desc || xpc_get_type(desc) != XPC_TYPE_DICTIONARY || !queue || !fn)
		return NULL;
	d = network_desc(n, desc);
	CFRetain(n); /* the interface's, until it stops */
	ifc = iface_start_on_network(d, queue, fn, ctx, block, n, network_release_hold);
	if (!ifc)
		CFRelease(n);
	xpc_release(d);
	return ifc;
}

interface_ref vmnet_interface_start_with_network_f(vmnet_network_ref network, xpc_object_t interface_desc,
						   dispatch_queue_t queue, void *context,
						   vmnet_start_interface_completion_handler_f handler)
{
	return start_with_network(network, interface_desc, queue, handler, context, NULL);
}

static void call_start_block(void *ctx, vmnet_return_t status, xpc_object_t param)
{
	((vmnet_start_interface_completion_handler_t)ctx)(status, param);
}

interface_ref vmnet_interface_start_with_network(vmnet_network_ref network, xpc_object_t interface_desc,
						 dispatch_queue_t queue,
						 vmnet_start_interface_completion_handler_t start_block)
{
	interface_ref ifc;
	void *b;

	if (!start_block)
		return NULL;
	b = (void *)Block_copy(start_block);
	ifc = start_with_network(network, interface_desc, queue, call_start_block, b, b);
	if (!ifc)
		Block_release(b);
	return ifc;
}

/* ------------------------------------------------------------------ */
/* CoreFoundation reference counting                                   */
/* ------------------------------------------------------------------ */

CFTypeRef CFRetain(CFTypeRef cf)
{
	struct obj_hdr *h = (struct obj_hdr *)cf;

	if (!h)
		return NULL;
	if (h->magic != OBJ_CONFIG && h->magic != OBJ_NETWORK) {
		log_warn("CFRetain: %p is not a vmnet network or network configuration", cf);
		return cf;
	}
	atomic_fetch_add(&h->refs, 1);
	return cf;
}

void CFRelease(CFTypeRef cf)
{
	struct obj_hdr *h = (struct obj_hdr *)cf;
	struct vmnet_network_configuration *c = as_config(cf);
	struct vmnet_network *n = as_network(cf);

	if (!h)
		return;
	if (!c && !n) {
		log_warn("CFRelease: %p is not a vmnet network or network configuration (released twice?)", cf);
		return;
	}
	if (atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	h->magic = OBJ_FREED;
	if (c) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return;
	}
	close(n->sock); /* vmnetd: a creator's network goes, a joiner's hold is dropped */
	free(n);
}
