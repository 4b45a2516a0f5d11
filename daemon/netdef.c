/*
 * netdef.c — CTL_NETWORK: network objects (vmnet_network_create,
 * vmnet_network_create_with_serialization) and named networks (`vmnet network
 * create|list|show|delete`). docs/networks.md is the user's view; the
 * messages are in docs/protocol.md §8.
 *
 * Theory of operation
 * -------------------
 * A `struct netobj` stands for one network that was made on purpose rather
 * than found by an interface's keys. Its engine network is *exclusive*
 * (network_find_subnet never returns it: the subnet is reserved for this
 * object, and a plain vmnet_start_interface naming an overlapping subnet is
 * refused) and *pinned* once (network_pin), so it lives without guests.
 *
 * Network objects (the API). "create" makes the object and its network at
 * once and returns a serialization: the object's UUID, a random 128-bit
 * token and the effective addresses. The creating connection holds the
 * object; libvmnet keeps that connection open inside the vmnet_network_ref.
 * "join" (create_with_serialization in any process) checks the token (in
 * constant time), the subnet and mode it names, and that the peer is the
 * creator's uid or root, then records a hold for the joining connection. A
 * start request carrying the object's id and token (vmnet.network.id/.token,
 * put there by vmnet_interface_start_with_network) is checked the same way
 * and joins the object's switch.
 *
 * Lifetime, as on macOS: the network belongs to its creator. When the
 * creating connection closes (last CFRelease, exit, crash), the object is
 * destroyed even if others use it: every guest port on its network goes —
 * a libvmnet interface by closing its connection, so its process sees
 * VMNET_FAILURE from then on, a tap by being detached — the pin is dropped
 * and the network with its gateway is freed. Joiners' holds become void:
 * their connections stay open, but starting an interface or joining again
 * is refused with VMNET_INVALID_ARGUMENT ("no longer exists").
 *
 * Named networks (the CLI). "define" checks a configuration, starts the
 * network (picking and recording a free /24 when none was given), and saves
 * the definition atomically in <state>/networks/NAME.conf; the daemon holds
 * the pin. At the daemon's first connection every definition is loaded and
 * started again (netdef_load); a definition that cannot start now (its subnet
 * taken, no host tap) is kept, listed with the reason, and retried when an
 * attachment names it. "delete" detaches every guest and removes the file.
 * Only root and the daemon's owner may define or delete.
 *
 * Re-entrancy: destroying an object closes other connections, whose closing
 * comes back here (netdef_conn_closed). Objects being destroyed are marked
 * `dying` and skipped; the hold list is rescanned from its head after every
 * change.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "common/ctl.h"
#include "common/log.h"
#include "common/netconf.h"
#include "common/netser.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "engine/gateway.h"
#include "engine/port_host.h"

#define NETDEF_DIR "networks"
#define NETDEF_MAX 256 /* network objects + named networks */

struct netobj {
	struct netobj *next;
	char name[NETSER_NAME_MAX]; /* named networks: their name; objects: "net-" + 8 hex digits */
	bool named;
	bool dying;
	uuid_t id;
	uint8_t token[NETSER_TOKEN_LEN];
	uid_t uid;            /* the creator's (objects) */
	pid_t pid;
	struct network *net;  /* NULL: a named network that is not running (err says why) */
	char err[160];
	struct netconf cfg;   /* the subnet is the effective one once started */
};

/* A connection's hold on an object: the creator's (its closing destroys the object) or a joiner's. */
struct hold {
	struct hold *next;
	struct conn *c;
	struct netobj *o;
	bool creator;
};

static struct netobj *objs;
static unsigned nobjs;
static struct hold *holds;
static bool loaded;

/* ------------------------------------------------------------------ */
/* lookup                                                              */
/* ------------------------------------------------------------------ */

static struct netobj *obj_by_id(const uuid_t id)
{
	for (struct netobj *o = objs; o; o = o->next)
		if (!o->dying && !uuid_compare(o->id, id))
			return o;
	return NULL;
}

static struct netobj *obj_by_name(const char *name)
{
	for (struct netobj *o = objs; o; o = o->next)
		if (!o->dying && !strcmp(o->name, name))
			return o;
	return NULL;
}

static struct hold *hold_of(const struct conn *c)
{
	for (struct hold *h = holds; h; h = h->next)
		if (h->c == c)
			return h;
	return NULL;
}

/* Constant time: a wrong token takes as long as a right one. */
static bool token_eq(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (unsigned i = 0; i < NETSER_TOKEN_LEN; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static bool may_use(const struct netobj *o, uid_t uid)
{
	return uid == 0 || uid == o->uid;
}

static unsigned guests_of(const struct network *n)
{
	unsigned g = 0;

	for (const struct port *p = n ? n->ports : NULL; p; p = p->next)
		g += !p->host_side;
	return g;
}

/* ------------------------------------------------------------------ */
/* starting and stopping an object's network                           */
/* ------------------------------------------------------------------ */

/* A free /24 of the mode's range (as the default networks choose). Return: 0 or -EADDRINUSE. */
static int free_subnet(uint32_t mode, struct in_addr *base, struct in_addr *mask)
{
	unsigned first = mode == VMNET_SHARED_MODE ? 64 : 128, last = mode == VMNET_SHARED_MODE ? 128 : 255;

	mask->s_addr = htonl(0xffffff00u);
	for (unsigned third = first; third < last; third++) {
		struct in_addr start = { .s_addr = htonl(0xc0a80001u | (third << 8)) };

		base->s_addr = htonl(0xc0a80000u | (third << 8));
		if (!network_find_overlap(start, *mask, NULL) && !(engine_host_tap && host_tap_subnet_in_use(start, *mask)))
			return 0;
	}
	return -EADDRINUSE;
}

static bool has_v4_forward(const struct netconf *c)
{
	for (unsigned i = 0; i < c->nfwd; i++)
		if (c->fwd[i].family == AF_INET)
			return true;
	return false;
}

/* The gateway settings of a configuration. */
static void gcfg_from(const struct netconf *c, struct gateway_config *g)
{
	gateway_config_default(g);
	g->dhcp = c->dhcp;
	g->dns = c->dns;
	g->router_adv = c->router_adv;
	g->nat44 = c->nat44;
	g->nat66 = c->nat66;
	g->has_prefix = c->has_prefix;
	memcpy(g->prefix, c->prefix, sizeof(g->prefix));
	g->external_if = c->external_if[0] ? c->external_if : NULL; /* lives as long as the object */
	for (unsigned i = 0; i < c->nres && i < GATEWAY_RESERVE_MAX; i++) {
		memcpy(g->res[i].mac, c->res[i].mac, 6);
		g->res[i].ip = c->res[i].ip;
		g->nres = i + 1;
	}
	for (unsigned i = 0; i < c->nfwd && i < GATEWAY_FORWARD_MAX; i++) {
		struct nat_forward *f = &g->fwd[i];

		memset(f, 0, sizeof(*f));
		f->proto = c->fwd[i].protocol;
		f->family = c->fwd[i].family;
		f->ext_port = c->fwd[i].external_port;
		f->int_port = c->fwd[i].internal_port;
		memcpy(f->addr, &c->fwd[i].addr, c->fwd[i].family == AF_INET ? 4 : 16);
		g->nfwd = i + 1;
	}
}

/* Settle the subnet of o's configuration: the configured one, or a free /24. Return: status, *why. */
static uint32_t obj_subnet(struct netobj *o, const char **why)
{
	struct netconf *c = &o->cfg;
	struct in_addr start;

	if (!c->has_subnet && (c->nres || has_v4_forward(c))) {
		/* Reservations were checked against the mode's default /24: it must be that one. */
		netconf_default_subnet(c->mode, &c->base, &c->mask);
		c->has_subnet = true;
	} else if (!c->has_subnet) {
		if (free_subnet(c->mode, &c->base, &c->mask) < 0) {
			*why = "no free /24 left in the mode's range; set a subnet";
			return VMNET_SHARING_SERVICE_BUSY;
		}
		c->has_subnet = true;
	}
	start.s_addr = htonl(ntohl(c->base.s_addr) + 1);
	if (network_find_overlap(start, c->mask, NULL)) {
		*why = "the subnet overlaps a network that is already in use";
		return VMNET_SHARING_SERVICE_BUSY;
	}
	if (netconf_check(c, c->base, c->mask, why) < 0)
		return VMNET_INVALID_ARGUMENT;
	if (c->external_if[0] && !if_nametoindex(c->external_if)) {
		*why = "the external interface does not exist";
		return VMNET_INVALID_ARGUMENT;
	}
	return VMNET_SUCCESS;
}

/* Create o's engine network. Return: VMNET_SUCCESS (o->net set), or a status and *why. */
static uint32_t obj_start(struct netobj *o, const char **why)
{
	static struct gateway_config g; /* large: not on the stack (one loop thread) */
	struct netconf *c = &o->cfg;
	bool had_subnet = c->has_subnet;
	struct iface_req req;
	struct network *n;
	uint32_t st = obj_subnet(o, why);

	if (st != VMNET_SUCCESS) {
		c->has_subnet = had_subnet;
		return st;
	}
	memset(&req, 0, sizeof(req));
	req.mode = c->mode;
	req.has_range = true;
	req.start.s_addr = htonl(ntohl(c->base.s_addr) + 1);
	req.end.s_addr = htonl((ntohl(c->base.s_addr) | ~ntohl(c->mask.s_addr)) - 1);
	req.mask = c->mask;
	req.has_mtu = true;
	req.mtu = c->mtu;
	gcfg_from(c, &g);
	st = control_pick_network(&req, &g, &n, why);
	if (st != VMNET_SUCCESS) {
		c->has_subnet = had_subnet;
		return st;
	}
	n->exclusive = true;
	snprintf(n->name, sizeof(n->name), "%s", o->name);
	network_pin(n);
	o->net = n;
	o->err[0] = 0;
	log_info("network %s is %s", n->name, o->named ? "a named network" : "a network object");
	return VMNET_SUCCESS;
}

/* Take every guest off o's network and free it (the pin goes); o stays. */
static void obj_stop(struct netobj *o)
{
	struct network *n = o->net;

	if (!n)
		return;
	o->net = NULL;
	for (;;) {
		struct port *p = n->ports;

		while (p && p->host_side)
			p = p->next;
		if (!p)
			break;
		log_info("network %s goes: detaching %s", n->name, p->name);
		control_drop_port(p);
	}
	network_unpin(n); /* no guests left: this frees it */
}

/* Destroy o: stop it, void every hold on it, free it. */
static void obj_destroy(struct netobj *o)
{
	struct netobj **pp;

	o->dying = true;
	obj_stop(o);
	for (struct hold **hp = &holds; *hp;) {
		struct hold *h = *hp;

		if (h->o == o) {
			*hp = h->next;
			free(h);
		} else {
			hp = &h->next;
		}
	}
	for (pp = &objs; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			nobjs--;
			break;
		}
	free(o);
}

/* Return: a new object with a fresh id and token, linked in; NULL when full or out of memory. */
static struct netobj *obj_new(const struct netconf *cfg)
{
	struct netobj *o;

	if (nobjs >= NETDEF_MAX || !(o = calloc(1, sizeof(*o))))
		return NULL;
	o->cfg = *cfg;
	uuid_generate_random(o->id);
	if (getrandom(o->token, sizeof(o->token), 0) != sizeof(o->token)) {
		free(o);
		return NULL;
	}
	o->next = objs;
	objs = o;
	nobjs++;
	return o;
}

/* ------------------------------------------------------------------ */
/* replies                                                             */
/* ------------------------------------------------------------------ */

/* The effective IPv6 /64 of a running object. Return: true and prefix. */
static bool obj_prefix(const struct netobj *o, uint8_t prefix[16])
{
	uint8_t ll[16], global[16];

	if (o->net && o->net->gateway && gateway_ip6(o->net->gateway, ll, global, prefix))
		return true;
	if (o->cfg.has_prefix)
		memcpy(prefix, o->cfg.prefix, 16);
	return o->cfg.has_prefix;
}

static xpc_object_t obj_serialization(const struct netobj *o)
{
	struct netser s;

	memset(&s, 0, sizeof(s));
	memcpy(s.id, o->id, sizeof(s.id));
	memcpy(s.token, o->token, sizeof(s.token));
	snprintf(s.name, sizeof(s.name), "%s", o->name);
	s.mode = o->cfg.mode;
	s.base = o->cfg.base;
	s.mask = o->cfg.mask;
	s.has_prefix = obj_prefix(o, s.prefix);
	s.mtu = o->net ? o->net->mtu : o->cfg.mtu;
	return netser_build(&s);
}

static void definition_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" NETDEF_DIR "/%s.conf", opts.state_dir ? opts.state_dir : ".", name);
}

/* What list and show print about o. Return: a new dictionary. */
static xpc_object_t obj_describe(const struct netobj *o)
{
	xpc_object_t d = netconf_to_xpc(&o->cfg);
	unsigned joined = 0;
	uint8_t prefix[16];
	char a[INET6_ADDRSTRLEN + 4], path[4200];

	xpc_dictionary_set_string(d, "name", o->name);
	xpc_dictionary_set_string(d, "kind", o->named ? "named" : "object");
	xpc_dictionary_set_uuid(d, "id", o->id);
	xpc_dictionary_set_bool(d, "running", o->net != NULL);
	if (!o->net && o->err[0])
		xpc_dictionary_set_string(d, "error", o->err);
	if (obj_prefix(o, prefix)) {
		inet_ntop(AF_INET6, prefix, a, INET6_ADDRSTRLEN);
		strcat(a, "/64");
		xpc_dictionary_set_string(d, "prefix", a);
	}
	if (o->net && o->net->gateway) {
		struct in_addr ga = gateway_addr(o->net->gateway);

		xpc_dictionary_set_string(d, "gateway", inet_ntop(AF_INET, &ga, a, sizeof(a)));
		if (gateway_host_tap(o->net->gateway))
			xpc_dictionary_set_string(d, "host_tap", gateway_host_tap(o->net->gateway));
	}
	xpc_dictionary_set_uint64(d, "guests", guests_of(o->net));
	if (o->named) {
		definition_path(o->name, path, sizeof(path));
		xpc_dictionary_set_string(d, "file", path);
	} else {
		for (const struct hold *h = holds; h; h = h->next)
			joined += h->o == o && !h->creator;
		xpc_dictionary_set_int64(d, "pid", o->pid);
		xpc_dictionary_set_uint64(d, "uid", o->uid);
		xpc_dictionary_set_uint64(d, "joined", joined);
	}
	return d;
}

static void reply_ok(struct conn *c, const struct ctl_hdr *h, xpc_object_t d)
{
	control_reply(c, h, VMNET_SUCCESS, d, NULL, 0);
	xpc_release(d);
}

/* {serialization, name}: the reply to create and join. */
static void reply_serialization(struct conn *c, const struct ctl_hdr *h, const struct netobj *o)
{
	xpc_object_t d = xpc_dictionary_create_empty(), s = obj_serialization(o);

	xpc_dictionary_set_value(d, "serialization", s);
	xpc_dictionary_set_string(d, "name", o->name);
	xpc_release(s);
	reply_ok(c, h, d);
}

/* ------------------------------------------------------------------ */
/* named networks on disk                                              */
/* ------------------------------------------------------------------ */

/* Write o's definition atomically. Return: 0 or -errno. */
static int definition_save(const struct netobj *o)
{
	static char text[NETCONF_FILE_MAX];
	char dir[4200], path[4200];
	size_t n;

	snprintf(dir, sizeof(dir), "%s/" NETDEF_DIR, opts.state_dir ? opts.state_dir : ".");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	definition_path(o->name, path, sizeof(path));
	n = netconf_format(&o->cfg, o->id, text, sizeof(text));
	return util_write_atomic(path, text, n);
}

/* Read one definition file into cfg. Return: 0, or -errno / -EINVAL (err says why). */
static int definition_read(const char *path, struct netconf *cfg, uuid_t id, char *err, size_t errlen)
{
	static char text[NETCONF_FILE_MAX + 1];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0 || n > NETCONF_FILE_MAX) {
		snprintf(err, errlen, "%s", n < 0 ? "unreadable" : "too large");
		return -EINVAL;
	}
	text[n] = 0;
	if (memchr(text, 0, (size_t)n)) {
		snprintf(err, errlen, "not a text file");
		return -EINVAL;
	}
	return netconf_parse(text, cfg, id, err, errlen);
}

/* Load one <name>.conf. */
static void definition_load(const char *dir, const char *file)
{
	static struct netconf cfg;
	char name[NETCONF_NAME_MAX + 8], path[4200], err[160];
	size_t len = strlen(file);
	const char *why = NULL;
	struct netobj *o;
	uuid_t id;

	if (len <= 5 || strcmp(file + len - 5, ".conf") || len - 5 >= sizeof(name))
		return;
	memcpy(name, file, len - 5);
	name[len - 5] = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (!netconf_name_ok(name)) {
		log_warn("%s: not a valid network name; ignored", path);
		return;
	}
	if (definition_read(path, &cfg, id, err, sizeof(err)) < 0) {
		log_warn("%s: %s; the network is not started", path, err);
		return;
	}
	if (obj_by_name(name) || obj_by_id(id) || !(o = obj_new(&cfg))) {
		log_warn("%s: duplicate network name or id, or too many networks; ignored", path);
		return;
	}
	snprintf(o->name, sizeof(o->name), "%s", name);
	memcpy(o->id, id, sizeof(uuid_t));
	o->named = true;
	o->uid = opts.owner;
	if (obj_start(o, &why) != VMNET_SUCCESS) {
		snprintf(o->err, sizeof(o->err), "%s", why ? why : "could not be started");
		log_warn("named network %s not started: %s", name, o->err);
	}
}

void netdef_load(void)
{
	char dir[4200];
	struct dirent *e;
	DIR *d;

	if (loaded)
		return;
	loaded = true;
	snprintf(dir, sizeof(dir), "%s/" NETDEF_DIR, opts.state_dir ? opts.state_dir : ".");
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			log_warn("%s: %s; no named networks", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			definition_load(dir, e->d_name);
	closedir(d);
}

void netdef_shutdown(void)
{
	while (holds) {
		struct hold *h = holds;

		holds = h->next;
		free(h);
	}
	while (objs)
		obj_destroy(objs);
}

/* ------------------------------------------------------------------ */
/* requests                                                            */
/* ------------------------------------------------------------------ */

/* May this peer define and delete named networks? */
static bool may_define(const struct conn *c)
{
	return control_conn_uid(c) == 0 || control_conn_uid(c) == opts.owner;
}

/* The "config" of a request, parsed. Return: VMNET_SUCCESS or INVALID_ARGUMENT with *why. */
static uint32_t request_config(xpc_object_t req, struct netconf *cfg, const char **why)
{
	if (netconf_from_xpc(xpc_dictionary_get_value(req, "config"), cfg, why) < 0)
		return VMNET_INVALID_ARGUMENT;
	return VMNET_SUCCESS;
}

/* A connection may hold one object, and not next to an interface. Return: NULL or why not. */
static const char *conn_busy(const struct conn *c)
{
	if (hold_of(c))
		return "this connection already holds a network";
	if (control_conn_port(c))
		return "this connection carries an interface; use a connection of its own";
	return NULL;
}

/* "create" (vmnet_network_create): a new object held by this connection. */
static void op_create(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	static struct netconf cfg;
	const char *why = conn_busy(c);
	struct netobj *o;
	struct hold *hd;
	uint32_t st;
	char u[37];

	if (why) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, why);
		return;
	}
	if ((st = request_config(req, &cfg, &why)) != VMNET_SUCCESS) {
		control_reply_error(c, h, st, why);
		return;
	}
	hd = calloc(1, sizeof(*hd));
	o = hd ? obj_new(&cfg) : NULL;
	if (!o) {
		free(hd);
		control_reply_error(c, h, VMNET_MEM_FAILURE, "out of memory, or too many networks");
		return;
	}
	uuid_unparse_lower(o->id, u);
	snprintf(o->name, sizeof(o->name), "net-%.8s", u);
	o->uid = control_conn_uid(c);
	o->pid = control_conn_pid(c);
	if ((st = obj_start(o, &why)) != VMNET_SUCCESS) {
		free(hd);
		obj_destroy(o);
		control_reply_error(c, h, st, why);
		return;
	}
	*hd = (struct hold){ .next = holds, .c = c, .o = o, .creator = true };
	holds = hd;
	reply_serialization(c, h, o);
}

/* Find the object a serialization or start request names and check the caller may use it. */
static uint32_t obj_check(const struct conn *c, const uuid_t id, const uint8_t *token, struct netobj **out,
			  const char **why)
{
	struct netobj *o = obj_by_id(id);

	*out = NULL;
	if (!o || !o->net || o->named) {
		*why = "the network no longer exists (its creator released it or exited)";
		return VMNET_INVALID_ARGUMENT;
	}
	if (!token_eq(o->token, token)) {
		*why = "the network's token does not match (a forged or damaged serialization)";
		return VMNET_INVALID_ARGUMENT;
	}
	if (!may_use(o, control_conn_uid(c))) {
		*why = "only the network's creator's user and root may use it";
		return VMNET_NOT_AUTHORIZED;
	}
	*out = o;
	return VMNET_SUCCESS;
}

/* "join" (vmnet_network_create_with_serialization). */
static void op_join(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	const char *why = conn_busy(c);
	struct netobj *o;
	struct netser s;
	struct hold *hd;
	uint32_t st;

	if (why) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, why);
		return;
	}
	if (netser_parse(xpc_dictionary_get_value(req, "serialization"), &s, &why) < 0) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, why);
		return;
	}
	if ((st = obj_check(c, s.id, s.token, &o, &why)) != VMNET_SUCCESS) {
		control_reply_error(c, h, st, why);
		return;
	}
	if (s.mode != o->cfg.mode || s.base.s_addr != o->cfg.base.s_addr || s.mask.s_addr != o->cfg.mask.s_addr) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, "the serialization's mode or subnet is not the network's");
		return;
	}
	if (!(hd = calloc(1, sizeof(*hd)))) {
		control_reply_error(c, h, VMNET_MEM_FAILURE, "out of memory");
		return;
	}
	*hd = (struct hold){ .next = holds, .c = c, .o = o };
	holds = hd;
	log_info("pid %d joined network %s", (int)control_conn_pid(c), o->name);
	reply_serialization(c, h, o);
}

/* "define" (vmnet network create NAME): a named network, started and saved. */
static void op_define(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	static struct netconf cfg;
	const char *name = xpc_dictionary_get_string(req, "name"), *why = NULL;
	struct netobj *o;
	uint32_t st;
	int r;

	if (!may_define(c)) {
		control_reply_error(c, h, VMNET_NOT_AUTHORIZED, "only root and the daemon's owner may define networks");
		return;
	}
	if (!netconf_name_ok(name)) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT,
				    "a network name is 1-32 letters, digits, '-', '_' or '.', not starting with '-' or '.', "
				    "and not default, host, shared, host-*, shared-*, net-* or a UUID");
		return;
	}
	if (obj_by_name(name)) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, "a network of that name exists already");
		return;
	}
	if ((st = request_config(req, &cfg, &why)) != VMNET_SUCCESS) {
		control_reply_error(c, h, st, why);
		return;
	}
	if (!(o = obj_new(&cfg))) {
		control_reply_error(c, h, VMNET_MEM_FAILURE, "out of memory, or too many networks");
		return;
	}
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->named = true;
	o->uid = opts.owner;
	if ((st = obj_start(o, &why)) != VMNET_SUCCESS) {
		obj_destroy(o);
		control_reply_error(c, h, st, why);
		return;
	}
	if ((r = definition_save(o)) < 0) {
		obj_destroy(o);
		log_warn("cannot save the definition of network %s: %s", name, strerror(-r));
		control_reply_error(c, h, VMNET_FAILURE, "cannot save the definition (see the daemon log)");
		return;
	}
	log_info("named network %s defined by pid %d", name, (int)control_conn_pid(c));
	reply_ok(c, h, obj_describe(o));
}

static void op_list(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	xpc_object_t d = xpc_dictionary_create_empty(), arr = xpc_array_create_empty();

	for (const struct netobj *o = objs; o; o = o->next) {
		xpc_object_t e;

		if (o->dying)
			continue;
		e = obj_describe(o);
		xpc_array_append_value(arr, e);
		xpc_release(e);
	}
	xpc_dictionary_set_value(d, "networks", arr);
	xpc_release(arr);
	if (control_reply(c, h, VMNET_SUCCESS, d, NULL, 0) < 0)
		log_warn("network list reply to pid %d could not be sent", (int)control_conn_pid(c));
	xpc_release(d);
}

static void op_show(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	const char *name = xpc_dictionary_get_string(req, "name");
	struct netobj *o = name ? obj_by_name(name) : NULL;

	if (!o) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, "no such network");
		return;
	}
	reply_ok(c, h, obj_describe(o));
}

/* "delete": a named network goes (its guests are detached) and its definition with it. */
static void op_delete(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	const char *name = xpc_dictionary_get_string(req, "name");
	struct netobj *o = name ? obj_by_name(name) : NULL;
	char path[4200];

	if (!o || !o->named) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, "no such named network");
		return;
	}
	if (!may_define(c)) {
		control_reply_error(c, h, VMNET_NOT_AUTHORIZED, "only root and the daemon's owner may delete networks");
		return;
	}
	definition_path(o->name, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("cannot remove %s: %m", path);
		control_reply_error(c, h, VMNET_FAILURE, "cannot remove the definition (see the daemon log)");
		return;
	}
	log_info("named network %s deleted by pid %d", o->name, (int)control_conn_pid(c));
	obj_destroy(o);
	control_reply(c, h, VMNET_SUCCESS, NULL, NULL, 0);
}

static const struct netdef_op {
	const char *name;
	void (*fn)(struct conn *c, const struct ctl_hdr *h, xpc_object_t req);
} ops[] = {
	{ "create", op_create }, { "join", op_join }, { "define", op_define },
	{ "list", op_list },     { "show", op_show }, { "delete", op_delete },
};

void netdef_handle(struct conn *c, const struct ctl_hdr *h, void *dict, int *fds, int nfds)
{
	const char *op = xpc_dictionary_get_string(dict, "op");

	(void)fds, (void)nfds; /* descriptors are closed by the caller */
	netdef_load();
	for (size_t i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i].name)) {
			ops[i].fn(c, h, dict);
			return;
		}
	control_reply_error(c, h, VMNET_INVALID_ARGUMENT, "op must be create, join, define, list, show or delete");
}

void netdef_conn_closed(struct conn *c)
{
	struct hold **hp = &holds;

	while (*hp) {
		struct hold *h = *hp;
		struct netobj *o = h->o;
		bool creator = h->creator;

		if (h->c != c) {
			hp = &h->next;
			continue;
		}
		*hp = h->next;
		free(h);
		if (creator && !o->dying) {
			log_info("network %s: its creator (pid %d) released it", o->name, (int)o->pid);
			obj_destroy(o);
		}
		hp = &holds; /* destroying may have changed the list */
	}
}

uint32_t netdef_pick(const struct conn *c, const struct iface_req *req, struct network **out, const char **why)
{
	struct netobj *o;
	uint32_t st = obj_check(c, req->obj_id, req->obj_token, &o, why);

	if (st != VMNET_SUCCESS)
		return st;
	if (req->mode != o->cfg.mode) {
		*why = "vmnet_operation_mode is not the network's mode";
		return VMNET_INVALID_ARGUMENT;
	}
	*out = o->net;
	return VMNET_SUCCESS;
}

uint32_t netdef_attach_network(const struct conn *c, const char *name, struct network **out, const char **why)
{
	struct netobj *o;
	uint32_t st;

	netdef_load();
	o = obj_by_name(name);
	if (!o)
		return 0;
	if (!o->named && !may_use(o, control_conn_uid(c))) {
		*why = "only the network's creator's user and root may attach to it";
		return VMNET_NOT_AUTHORIZED;
	}
	if (!o->net && (st = obj_start(o, why)) != VMNET_SUCCESS) {
		snprintf(o->err, sizeof(o->err), "%s", *why ? *why : "could not be started");
		return st;
	}
	*out = o->net;
	return VMNET_SUCCESS;
}
