/*
 * forward.c — CTL_FORWARD: port forwarding of shared-mode networks (add,
 * remove, list), for libvmnet's vmnet_interface_*port_forwarding_rule*
 * functions and `vmnet forward`.
 *
 * Theory of operation. A request names its network in one of two ways: by
 * the port id of an interface (CTL_KEY_PORT_ID, what libvmnet learnt at
 * start; the request may come on any connection, and is allowed for root and
 * for the uid that owns that interface), or by the network's name (the CLI;
 * changes are allowed for root, the daemon's owner, and users with an
 * interface of their own on that network). A host port below 1024 needs a
 * root requester, as binding it would. The rule itself is checked and put in
 * force by the gateway (engine/gateway.c: address in the subnet or /64,
 * duplicates, host port free and then held, nftables DNAT); this file then
 * saves the network's settings file, which holds its forwards (forward=
 * lines, daemon/settings.c), so that they come back with the network after a
 * restart. When the file cannot be written the change is undone: a rule is in
 * force only if it will survive a restart.
 *
 * Statuses: a bad argument, a non-shared network or an unknown rule is
 * VMNET_INVALID_ARGUMENT; a host port that is taken (by another forward or a
 * host service) is VMNET_SHARING_SERVICE_BUSY; a privileged port the daemon
 * cannot bind is VMNET_INVALID_ACCESS; a requester that may not change the
 * network is VMNET_NOT_AUTHORIZED. Every failure carries a sentence
 * (vmnet.error).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <vmnet/vmnet.h>

#include "common/ctl.h"
#include "common/ctl_forward.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "daemon/settings.h"
#include "engine/gateway.h"

/* Ports below this need a root requester (as binding them would). */
#define FWD_PRIVILEGED_PORT 1024

/* A request's target, once resolved. */
struct fwd_target {
	struct network *net;
	bool by_port; /* named by an interface (API) rather than by name (CLI) */
};

/* Return: the vmnet_return_t for a -errno of gateway_forward_add/remove. */
static uint32_t fwd_status(int r)
{
	switch (-r) {
	case EEXIST:
	case EADDRINUSE:
		return VMNET_SHARING_SERVICE_BUSY;
	case EACCES:
	case EPERM:
		return VMNET_INVALID_ACCESS;
	case EINVAL:
	case ENOENT:
		return VMNET_INVALID_ARGUMENT;
	default:
		return VMNET_FAILURE;
	}
}

/* Linux AF_INET / AF_INET6 for 2, 10 or 30 (Darwin's AF_INET6). Return: it, or 0. */
static uint8_t fwd_family(uint64_t af)
{
	if (af == AF_INET)
		return AF_INET;
	if (af == AF_INET6 || af == VMNET_DARWIN_AF_INET6)
		return AF_INET6;
	return 0;
}

/* Does the uid have an interface (or attachment) of its own on net? */
static bool owns_port_on(const struct network *net, uid_t uid)
{
	for (const struct port *p = net->ports; p; p = p->next)
		if (!p->host_side && p->owner && control_conn_uid(p->owner) == uid)
			return true;
	return false;
}

/*
 * Which network the request means, and may this requester change it.
 * Return: VMNET_SUCCESS with *t, or a status with *why.
 */
static uint32_t fwd_resolve(struct conn *c, xpc_object_t d, bool change, struct fwd_target *t, const char **why)
{
	xpc_object_t id = xpc_dictionary_get_value(d, CTL_KEY_PORT_ID);
	const char *name = xpc_dictionary_get_string(d, FWD_KEY_NETWORK);
	uid_t uid = control_conn_uid(c);

	memset(t, 0, sizeof(*t));
	if (id) {
		struct port *p = xpc_get_type(id) == XPC_TYPE_UINT64 && xpc_uint64_get_value(id) <= UINT32_MAX
					 ? network_port_by_id((uint32_t)xpc_uint64_get_value(id))
					 : NULL;

		if (!p || p->removed || !p->net || p->host_side || !p->owner) {
			*why = "no such interface (stopped?)";
			return VMNET_INVALID_ARGUMENT;
		}
		if (uid != 0 && control_conn_uid(p->owner) != uid) {
			*why = "the interface belongs to another user";
			return VMNET_NOT_AUTHORIZED;
		}
		t->net = p->net;
		t->by_port = true;
	} else if (name) {
		for (struct network *n = network_list; n && !t->net; n = n->next)
			if (!strcmp(n->name, name))
				t->net = n;
		if (!t->net) {
			*why = "no running network of that name (vmnet status lists them)";
			return VMNET_INVALID_ARGUMENT;
		}
		if (change && uid != 0 && uid != opts.owner && !owns_port_on(t->net, uid)) {
			*why = "only root, the daemon's owner and users with an interface on the network may change its forwards";
			return VMNET_NOT_AUTHORIZED;
		}
	} else {
		*why = "the request names no network and no interface";
		return VMNET_INVALID_ARGUMENT;
	}
	if (t->net->mode != VMNET_SHARED_MODE_ || !t->net->gateway || !gateway_nat(t->net->gateway)) {
		*why = "port forwarding needs a shared-mode network";
		return VMNET_INVALID_ARGUMENT;
	}
	return VMNET_SUCCESS;
}

/* Read a rule (or, with full false, its key: protocol, family, host port) from a request. Return: 0 or -EINVAL. */
static int fwd_rule_from(xpc_object_t d, struct nat_forward *f, bool full, const char **why)
{
	uint64_t proto = xpc_dictionary_get_uint64(d, FWD_KEY_PROTOCOL);
	uint64_t ext = xpc_dictionary_get_uint64(d, FWD_KEY_EXTERNAL_PORT);
	uint64_t in = xpc_dictionary_get_uint64(d, FWD_KEY_INTERNAL_PORT);
	const char *addr = xpc_dictionary_get_string(d, FWD_KEY_INTERNAL_ADDRESS);

	memset(f, 0, sizeof(*f));
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
		*why = "the protocol must be tcp (6) or udp (17)";
		return -EINVAL;
	}
	f->proto = (uint8_t)proto;
	if (!(f->family = fwd_family(xpc_dictionary_get_uint64(d, FWD_KEY_ADDRESS_FAMILY)))) {
		*why = "the address family must be IPv4 (2) or IPv6 (10, or Darwin's 30)";
		return -EINVAL;
	}
	if (ext == 0 || ext > 65535 || (full && (in == 0 || in > 65535))) {
		*why = "ports must be 1-65535 (port 0 cannot be forwarded)";
		return -EINVAL;
	}
	f->ext_port = (uint16_t)ext;
	f->int_port = (uint16_t)in;
	if (full && (!addr || inet_pton(f->family, addr, f->addr) != 1)) {
		*why = f->family == AF_INET ? "the guest address is not an IPv4 address"
					    : "the guest address is not an IPv6 address";
		return -EINVAL;
	}
	return 0;
}

/* Save the network's settings (its forwards with them). Return: 0 or -errno. */
static int fwd_save(const struct network *net)
{
	struct in_addr base = { .s_addr = net->start.s_addr & net->mask.s_addr };
	char path[4200];
	int r;

	settings_path(base, net->mask, path, sizeof(path));
	r = settings_save(path, gateway_cfg(net->gateway));
	if (r < 0)
		log_warn("network %s: cannot save %s: %s", net->name, path, strerror(-r));
	return r;
}

static void fwd_log(const struct conn *c, const struct network *net, bool added, const struct nat_forward *f)
{
	const char *l4 = f->proto == IPPROTO_TCP ? "tcp" : "udp";
	char a[INET6_ADDRSTRLEN];

	if (added)
		log_info("network %s: pid %d added forward %s port %u -> %s%s%s port %u", net->name,
			 (int)control_conn_pid(c), l4, f->ext_port, f->family == AF_INET6 ? "[" : "",
			 inet_ntop(f->family, f->addr, a, sizeof(a)), f->family == AF_INET6 ? "]" : "", f->int_port);
	else
		log_info("network %s: pid %d removed forward %s port %u (IPv%d)", net->name, (int)control_conn_pid(c), l4,
			 f->ext_port, f->family == AF_INET ? 4 : 6);
}

static void fwd_add(struct conn *c, const struct ctl_hdr *h, xpc_object_t d, const struct fwd_target *t)
{
	struct gateway *gw = t->net->gateway;
	const char *why = NULL;
	struct nat_forward f;
	int r;

	if (fwd_rule_from(d, &f, true, &why) < 0) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, why);
		return;
	}
	if (f.ext_port < FWD_PRIVILEGED_PORT && control_conn_uid(c) != 0) {
		control_reply_error(c, h, VMNET_NOT_AUTHORIZED, "forwarding a host port below 1024 needs root");
		return;
	}
	if ((r = gateway_forward_add(gw, &f, &why)) < 0) {
		control_reply_error(c, h, fwd_status(r), why);
		return;
	}
	if (fwd_save(t->net) < 0) {
		gateway_forward_remove(gw, f.proto, f.family, f.ext_port, &why);
		control_reply_error(c, h, VMNET_FAILURE, "the network's settings file cannot be written (see the daemon log)");
		return;
	}
	fwd_log(c, t->net, true, &f);
	control_reply(c, h, VMNET_SUCCESS, NULL, NULL, 0);
}

/* The rule with this key in the gateway's configuration. Return: its index or -1. */
static int fwd_index(const struct gateway_config *cfg, const struct nat_forward *key)
{
	for (unsigned i = 0; i < cfg->nfwd; i++)
		if (cfg->fwd[i].proto == key->proto && cfg->fwd[i].family == key->family &&
		    cfg->fwd[i].ext_port == key->ext_port)
			return (int)i;
	return -1;
}

static void fwd_remove(struct conn *c, const struct ctl_hdr *h, xpc_object_t d, const struct fwd_target *t)
{
	struct gateway *gw = t->net->gateway;
	const char *why = NULL;
	struct nat_forward key, old;
	int i, r;

	if (fwd_rule_from(d, &key, false, &why) < 0) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, why);
		return;
	}
	i = fwd_index(gateway_cfg(gw), &key);
	if (i >= 0)
		old = gateway_cfg(gw)->fwd[i];
	if ((r = gateway_forward_remove(gw, key.proto, key.family, key.ext_port, &why)) < 0) {
		control_reply_error(c, h, fwd_status(r), why);
		return;
	}
	if (fwd_save(t->net) < 0) {
		if (i >= 0 && gateway_forward_add(gw, &old, &why) < 0)
			log_warn("network %s: forward could not be restored: %s", t->net->name, why);
		control_reply_error(c, h, VMNET_FAILURE, "the network's settings file cannot be written (see the daemon log)");
		return;
	}
	fwd_log(c, t->net, false, &key);
	control_reply(c, h, VMNET_SUCCESS, NULL, NULL, 0);
}

/* One rule as a dictionary (+1), in the shape vmnet_*port_forwarding_rule_get_details read. */
static xpc_object_t fwd_rule_dict(const struct nat_forward *f, bool active)
{
	xpc_object_t r = xpc_dictionary_create_empty();
	char a[INET6_ADDRSTRLEN];

	xpc_dictionary_set_uint64(r, FWD_KEY_PROTOCOL, f->proto);
	xpc_dictionary_set_uint64(r, FWD_KEY_EXTERNAL_PORT, f->ext_port);
	xpc_dictionary_set_uint64(r, FWD_KEY_ADDRESS_FAMILY, f->family);
	xpc_dictionary_set_string(r, FWD_KEY_INTERNAL_ADDRESS, inet_ntop(f->family, f->addr, a, sizeof(a)));
	xpc_dictionary_set_uint64(r, FWD_KEY_INTERNAL_PORT, f->int_port);
	xpc_dictionary_set_bool(r, FWD_KEY_ACTIVE, active);
	return r;
}

/* One network and its rules of family af (0: all) (+1). */
static xpc_object_t fwd_network_dict(const struct network *net, uint8_t af)
{
	const struct gateway_config *cfg = gateway_cfg(net->gateway);
	xpc_object_t d = xpc_dictionary_create_empty(), rules = xpc_array_create_empty();
	struct in_addr base = { .s_addr = net->start.s_addr & net->mask.s_addr };
	uint8_t ll[16], global[16], prefix[16];
	char a[INET6_ADDRSTRLEN + 4];

	xpc_dictionary_set_string(d, "name", net->name);
	inet_ntop(AF_INET, &base, a, INET_ADDRSTRLEN);
	snprintf(a + strlen(a), 4, "/%d", __builtin_popcount(net->mask.s_addr));
	xpc_dictionary_set_string(d, "subnet", a);
	if (gateway_ip6(net->gateway, ll, global, prefix)) {
		inet_ntop(AF_INET6, prefix, a, INET6_ADDRSTRLEN);
		strncat(a, "/64", sizeof(a) - strlen(a) - 1);
		xpc_dictionary_set_string(d, "prefix", a);
	}
	for (unsigned i = 0; i < cfg->nfwd; i++) {
		xpc_object_t r;

		if (af && cfg->fwd[i].family != af)
			continue;
		r = fwd_rule_dict(&cfg->fwd[i], gateway_forward_active(net->gateway, i));
		xpc_array_append_value(rules, r);
		xpc_release(r);
	}
	xpc_dictionary_set_value(d, FWD_KEY_RULES, rules);
	xpc_release(rules);
	return d;
}

/* list: the rules of the target (or, with no target named, of every shared network). */
static void fwd_list(struct conn *c, const struct ctl_hdr *h, xpc_object_t d, const struct fwd_target *t)
{
	xpc_object_t rep = xpc_dictionary_create_empty(), nets = xpc_array_create_empty(), nd;
	uint64_t want = xpc_dictionary_get_uint64(d, FWD_KEY_ADDRESS_FAMILY);
	uint8_t af = want ? fwd_family(want) : 0;

	if (want && !af) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT,
				    "the address family must be IPv4 (2) or IPv6 (10, or Darwin's 30)");
		xpc_release(rep);
		xpc_release(nets);
		return;
	}
	for (struct network *n = network_list; n; n = n->next) {
		if (t ? n != t->net : (n->mode != VMNET_SHARED_MODE_ || !n->gateway || !gateway_nat(n->gateway)))
			continue;
		nd = fwd_network_dict(n, af);
		xpc_array_append_value(nets, nd);
		xpc_release(nd);
	}
	xpc_dictionary_set_value(rep, FWD_KEY_NETWORKS, nets);
	xpc_release(nets);
	if (control_reply(c, h, VMNET_SUCCESS, rep, NULL, 0) < 0)
		log_warn("forward list for pid %d could not be sent", (int)control_conn_pid(c));
	xpc_release(rep);
}

void forward_handle(struct conn *c, const struct ctl_hdr *h, void *dict)
{
	const char *op = xpc_dictionary_get_string(dict, FWD_KEY_OP), *why = NULL;
	bool list = op && !strcmp(op, FWD_OP_LIST);
	struct fwd_target t;
	uint32_t st;

	if (!op || (!list && strcmp(op, FWD_OP_ADD) && strcmp(op, FWD_OP_REMOVE))) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, "op must be add, remove or list");
		return;
	}
	if (list && !xpc_dictionary_get_value(dict, CTL_KEY_PORT_ID) && !xpc_dictionary_get_string(dict, FWD_KEY_NETWORK)) {
		fwd_list(c, h, dict, NULL);
		return;
	}
	if ((st = fwd_resolve(c, dict, !list, &t, &why)) != VMNET_SUCCESS) {
		control_reply_error(c, h, st, why);
		return;
	}
	if (list)
		fwd_list(c, h, dict, &t);
	else if (!strcmp(op, FWD_OP_ADD))
		fwd_add(c, h, dict, &t);
	else
		fwd_remove(c, h, dict, &t);
}
