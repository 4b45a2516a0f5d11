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
 * A definition may hold socket attachments for VMMs ("attach=KIND NAME
 * [isolated] PATH" lines; `network create --qemu-stream ...`, `attach
 * --persist`, `detach --persist`). netconf_parse knows nothing of them:
 * definition_atts takes those lines out of the text first, so an old file
 * loads as before and a bad attach= line is logged and skipped without
 * failing the file. They are made (attach_sock_create, owned by the daemon)
 * whenever the network starts; one that cannot be made (its path taken by a
 * file, its directory gone) is logged and shown by "show", and the network
 * comes up without it. At create time a failure refuses the whole request.
 * Which port is a definition's is not recorded: a port of the network with
 * the entry's name, bound at its path, is (att_live), so detaching by hand
 * and attaching again are both seen as they are.
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
#define NETDEF_MAX 256    /* network objects + named networks */
#define NETDEF_ATT_MAX 64 /* socket attachments in one definition */
#define NETDEF_ATT_KEY "attach="

/* A socket attachment of a named network's definition: made whenever the network starts. */
struct netatt {
	struct sock_spec s;
	bool conflict; /* its name or path was in an earlier-loaded definition: never made */
	char err[160]; /* why it could not be made the last time (empty: it was) */
};

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
	struct netatt *att;   /* named networks: the socket attachments of the definition */
	unsigned natt;
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

/* Ports that carry a guest's frames: not the host's, not a listening socket attachment (its VMs count). */
static unsigned guests_of(const struct network *n)
{
	unsigned g = 0;

	for (const struct port *p = n ? n->ports : NULL; p; p = p->next)
		g += !p->host_side && p->ops->output;
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
	free(o->att);
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
/* socket attachments of a definition                                  */
/* ------------------------------------------------------------------ */

/*
 * The live attachment a definition entry stands for: a port of o's network
 * with its name, bound at its path. It may have been detached by hand (and
 * made again); nothing is kept but the name and path.
 * Return: the port, or NULL.
 */
static struct port *att_live(const struct netobj *o, const struct netatt *a)
{
	struct port *p = o->net ? network_port_by_name(a->s.name) : NULL;
	const char *path = p && p->net == o->net ? attach_sock_path(p) : NULL;

	return path && !strcmp(path, a->s.path) ? p : NULL;
}

/* The definition entry, other than skip, already holding s's name or path. Return: it (and *in), or NULL. */
static const struct netatt *att_conflict(const struct sock_spec *s, const struct netatt *skip,
					 const struct netobj **in)
{
	for (const struct netobj *o = objs; o; o = o->next)
		for (unsigned i = 0; !o->dying && i < o->natt; i++) {
			const struct netatt *a = &o->att[i];

			if (a != skip && (!strcmp(a->s.name, s->name) || !strcmp(a->s.path, s->path))) {
				*in = o;
				return a;
			}
		}
	return NULL;
}

/* Return: 0, or -ENOSPC (the definition is full) / -ENOMEM. */
static int att_append(struct netobj *o, const struct sock_spec *s)
{
	struct netatt *n;

	if (o->natt >= NETDEF_ATT_MAX)
		return -ENOSPC;
	if (!(n = realloc(o->att, (o->natt + 1) * sizeof(*n))))
		return -ENOMEM;
	o->att = n;
	memset(&n[o->natt], 0, sizeof(*n));
	n[o->natt++].s = *s;
	return 0;
}

/*
 * Make o's defined attachments that are not there (o's network runs), on
 * behalf of uid. strict (`vmnet network create`): stop at the first failure,
 * *why names it. Otherwise (the daemon starts, the network starts again) a
 * failure is logged and kept for `vmnet network show`; the network and the
 * other attachments go on.
 * Return: VMNET_SUCCESS, or (strict) a status and *why.
 */
static uint32_t obj_attach_all(struct netobj *o, uid_t uid, bool strict, const char **why)
{
	static char msg[240];

	for (unsigned i = 0; o->net && i < o->natt; i++) {
		struct netatt *a = &o->att[i];
		const char *w = NULL;
		struct port *p;
		uint32_t st;

		if (a->conflict || att_live(o, a))
			continue;
		st = attach_sock_create(o->net, &a->s, uid, NULL, &p, &w);
		if (st == VMNET_SUCCESS) {
			a->err[0] = 0;
			log_info("network %s: %s %s attached at %s (definition)", o->name, a->s.kind, a->s.name, a->s.path);
			continue;
		}
		snprintf(a->err, sizeof(a->err), "%s", w ? w : "could not be attached");
		if (strict) {
			snprintf(msg, sizeof(msg), "attachment %s (%s): %s", a->s.name, a->s.path, a->err);
			*why = msg;
			return st;
		}
		log_warn("network %s: %s %s at %s not attached: %s", o->name, a->s.kind, a->s.name, a->s.path, a->err);
	}
	return VMNET_SUCCESS;
}

/* The "attachments" of list and show. Return: a new array. */
static xpc_object_t att_describe(const struct netobj *o)
{
	xpc_object_t arr = xpc_array_create_empty();

	for (unsigned i = 0; i < o->natt; i++) {
		const struct netatt *a = &o->att[i];
		xpc_object_t e = xpc_dictionary_create_empty();
		bool live = att_live(o, a) != NULL;

		xpc_dictionary_set_string(e, "kind", a->s.kind);
		xpc_dictionary_set_string(e, "name", a->s.name);
		xpc_dictionary_set_string(e, "path", a->s.path);
		xpc_dictionary_set_bool(e, "isolated", a->s.isolated);
		xpc_dictionary_set_bool(e, "attached", live);
		if (!live)
			xpc_dictionary_set_string(e, "error", !o->net   ? "the network is not running"
							      : a->err[0] ? a->err
									  : "detached; made again when the network next starts");
		xpc_array_append_value(arr, e);
		xpc_release(e);
	}
	return arr;
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
		xpc_object_t atts = att_describe(o);

		xpc_dictionary_set_value(d, "attachments", atts);
		xpc_release(atts);
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
	for (unsigned i = 0; i < o->natt; i++) {
		const struct sock_spec *a = &o->att[i].s;

		n += (size_t)snprintf(text + n, sizeof(text) - n, NETDEF_ATT_KEY "%s %s %s%s\n", a->kind, a->name,
				      a->isolated ? "isolated " : "", a->path);
		if (n >= sizeof(text))
			return -EFBIG; /* cannot happen: 64 short lines besides at most 256 reservations */
	}
	return util_write_atomic(path, text, n);
}

static char *att_word(char **p)
{
	char *w;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (!**p || **p == '/')
		return NULL;
	w = *p;
	while (**p && **p != ' ' && **p != '\t')
		(*p)++;
	if (**p)
		*(*p)++ = 0;
	return w;
}

/*
 * The value of an attach= line: "KIND NAME [isolated] PATH", the path being
 * the rest of the line from its first '/' (it may hold blanks). Cut up in
 * place. Return: 0, or -EINVAL with *why.
 */
static int att_parse(char *v, struct sock_spec *s, const char **why)
{
	char *kind = att_word(&v), *name = kind ? att_word(&v) : NULL, *w;
	bool isolated = false;

	while (name && (w = att_word(&v)))
		if (strcmp(w, "isolated")) {
			*why = "unknown flag (only \"isolated\" goes between the name and the path)";
			return -EINVAL;
		} else {
			isolated = true;
		}
	if (!name || *v != '/') {
		*why = "expected KIND NAME [isolated] /PATH";
		return -EINVAL;
	}
	*why = attach_sock_spec(s, kind, name, v, isolated);
	return *why ? -EINVAL : 0;
}

/*
 * Take the attach= lines out of a definition's text into atts: each becomes
 * a bare "#" (a comment for netconf_parse, whose line numbers stay right).
 * A bad line, a name or path given twice and lines beyond NETDEF_ATT_MAX are
 * logged and skipped: the network and its other attachments come up anyway.
 * The text shrinks in place. Return: how many were taken.
 */
static unsigned definition_atts(char *text, const char *file, struct netatt *atts)
{
	char line[256], *r = text, *w = text;
	unsigned n = 0, lineno = 0;

	while (*r) {
		size_t len = strcspn(r, "\n"), lead = strspn(r, " \t"), m = len - lead;
		const char *why = NULL;
		char *next = r + len + (r[len] == '\n');

		lineno++;
		if (m < strlen(NETDEF_ATT_KEY) || strncmp(r + lead, NETDEF_ATT_KEY, strlen(NETDEF_ATT_KEY))) {
			memmove(w, r, (size_t)(next - r));
			w += next - r;
			r = next;
			continue;
		}
		if (n == NETDEF_ATT_MAX) {
			why = "more than 64 attachments";
		} else if (m >= sizeof(line)) {
			why = "line too long";
		} else {
			memcpy(line, r + lead, m);
			line[m] = 0;
			while (m && (line[m - 1] == ' ' || line[m - 1] == '\t' || line[m - 1] == '\r'))
				line[--m] = 0;
			memset(&atts[n], 0, sizeof(atts[n]));
			if (att_parse(line + strlen(NETDEF_ATT_KEY), &atts[n].s, &why) == 0)
				for (unsigned i = 0; i < n && !why; i++)
					if (!strcmp(atts[i].s.name, atts[n].s.name) || !strcmp(atts[i].s.path, atts[n].s.path))
						why = "the same name or path as an earlier attachment";
		}
		if (why)
			log_warn("%s: line %u: attachment skipped: %s", file, lineno, why);
		else
			n++;
		memcpy(w, "#\n", 2);
		w += 2;
		r = next;
	}
	*w = 0;
	return n;
}

/*
 * Read one definition file into cfg, and its socket attachments into atts
 * (*natt; bad ones are logged and skipped).
 * Return: 0, or -errno / -EINVAL (err says why).
 */
static int definition_read(const char *path, struct netconf *cfg, uuid_t id, struct netatt *atts, unsigned *natt,
			   char *err, size_t errlen)
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
	*natt = definition_atts(text, path, atts);
	return netconf_parse(text, cfg, id, err, errlen);
}

/*
 * Give o the attachments read from its file. One whose name or path an
 * earlier-loaded definition holds already is kept (it stays in the file)
 * but never made.
 */
static void definition_take_atts(struct netobj *o, const struct netatt *atts, unsigned natt)
{
	for (unsigned i = 0; i < natt; i++) {
		const struct netobj *other = NULL;
		struct netatt *a;

		if (att_append(o, &atts[i].s) < 0) {
			log_warn("network %s: out of memory for attachment %s; skipped", o->name, atts[i].s.name);
			continue;
		}
		a = &o->att[o->natt - 1];
		if (att_conflict(&a->s, a, &other)) {
			a->conflict = true;
			snprintf(a->err, sizeof(a->err), "its name or path is in the definition of network %s as well",
				 other->name);
			log_warn("network %s: attachment %s (%s) not made: %s", o->name, a->s.name, a->s.path, a->err);
		}
	}
}

/* Load one <name>.conf. */
static void definition_load(const char *dir, const char *file)
{
	static struct netconf cfg;
	static struct netatt atts[NETDEF_ATT_MAX];
	char name[NETCONF_NAME_MAX + 8], path[4200], err[160];
	size_t len = strlen(file);
	const char *why = NULL;
	struct netobj *o;
	unsigned natt = 0;
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
	if (definition_read(path, &cfg, id, atts, &natt, err, sizeof(err)) < 0) {
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
	definition_take_atts(o, atts, natt);
	if (obj_start(o, &why) != VMNET_SUCCESS) {
		snprintf(o->err, sizeof(o->err), "%s", why ? why : "could not be started");
		log_warn("named network %s not started: %s", name, o->err);
		return;
	}
	obj_attach_all(o, opts.owner, false, NULL);
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

/*
 * The "attachments" of a define request ([{kind, name, path, isolation}],
 * untrusted) into o: checked, not made yet. Return: VMNET_SUCCESS, or a
 * status and *why.
 */
static uint32_t request_atts(xpc_object_t req, struct netobj *o, const char **why)
{
	static char msg[240];
	xpc_object_t arr = xpc_dictionary_get_value(req, "attachments");
	size_t n = arr && xpc_get_type(arr) == XPC_TYPE_ARRAY ? xpc_array_get_count(arr) : 0;

	if (arr && (xpc_get_type(arr) != XPC_TYPE_ARRAY || n > NETDEF_ATT_MAX)) {
		*why = "attachments must be an array of at most 64 socket attachments";
		return VMNET_INVALID_ARGUMENT;
	}
	for (size_t i = 0; i < n; i++) {
		xpc_object_t e = xpc_array_get_value(arr, i);
		const struct netobj *other;
		const char *w, *name = NULL;
		struct sock_spec s;

		if (xpc_get_type(e) != XPC_TYPE_DICTIONARY) {
			*why = "attachments must be an array of dictionaries";
			return VMNET_INVALID_ARGUMENT;
		}
		name = xpc_dictionary_get_string(e, "name");
		w = attach_sock_spec(&s, xpc_dictionary_get_string(e, "kind"), name, xpc_dictionary_get_string(e, "path"),
				     xpc_dictionary_get_bool(e, "isolation"));
		if (!w && att_conflict(&s, NULL, &other))
			w = other == o ? "another attachment of this network has the same name or path"
				       : "its name or path is in another network's definition";
		if (!w && att_append(o, &s) < 0)
			w = "out of memory";
		if (w) {
			snprintf(msg, sizeof(msg), "attachment %.40s: %s", name ? name : "?", w);
			*why = msg;
			return VMNET_INVALID_ARGUMENT;
		}
	}
	return VMNET_SUCCESS;
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
	if ((st = request_atts(req, o, &why)) != VMNET_SUCCESS || (st = obj_start(o, &why)) != VMNET_SUCCESS ||
	    (st = obj_attach_all(o, control_conn_uid(c), true, &why)) != VMNET_SUCCESS) {
		obj_destroy(o); /* with whatever attachments were made */
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
	if (!o->net) {
		if ((st = obj_start(o, why)) != VMNET_SUCCESS) {
			snprintf(o->err, sizeof(o->err), "%s", *why ? *why : "could not be started");
			return st;
		}
		obj_attach_all(o, opts.owner, false, NULL); /* a late start: its definition's sockets too */
	}
	*out = o->net;
	return VMNET_SUCCESS;
}

/* The named network that `network` names, if c may change its definition. Return: VMNET_SUCCESS and *out. */
static uint32_t named_for_change(const struct conn *c, const char *network, struct netobj **out, const char **why)
{
	struct netobj *o = network ? obj_by_name(network) : NULL;

	if (!o || !o->named) {
		*why = "--persist needs --network NAME naming a named network (vmnet network list)";
		return VMNET_INVALID_ARGUMENT;
	}
	if (!may_define(c)) {
		*why = "only root and the daemon's owner may change a network's definition";
		return VMNET_NOT_AUTHORIZED;
	}
	*out = o;
	return VMNET_SUCCESS;
}

uint32_t netdef_att_check(const struct conn *c, const char *network, const struct sock_spec *s, const char **why)
{
	static char msg[160];
	const struct netobj *other;
	struct netobj *o;
	uint32_t st;

	netdef_load();
	if ((st = named_for_change(c, network, &o, why)) != VMNET_SUCCESS)
		return st;
	if (att_conflict(s, NULL, &other)) {
		snprintf(msg, sizeof(msg), "the definition of network %s has an attachment of that name or path already",
			 other->name);
		*why = msg;
		return VMNET_INVALID_ARGUMENT;
	}
	if (o->natt >= NETDEF_ATT_MAX) {
		*why = "the network's definition has 64 attachments already";
		return VMNET_INVALID_ARGUMENT;
	}
	return VMNET_SUCCESS;
}

uint32_t netdef_att_add(const char *network, const struct sock_spec *s, const char **why)
{
	struct netobj *o = obj_by_name(network);
	int r;

	if (!o || !o->named || att_append(o, s) < 0) {
		*why = "out of memory";
		return VMNET_MEM_FAILURE;
	}
	if ((r = definition_save(o)) < 0) {
		o->natt--;
		log_warn("cannot save the definition of network %s: %s", o->name, strerror(-r));
		*why = "cannot save the definition (see the daemon log)";
		return VMNET_FAILURE;
	}
	log_info("network %s: %s %s at %s added to its definition", o->name, s->kind, s->name, s->path);
	return VMNET_SUCCESS;
}

uint32_t netdef_att_remove(const struct conn *c, const char *name, const char **why)
{
	struct netatt gone;
	struct port *p;
	int r;

	netdef_load();
	for (struct netobj *o = objs; o; o = o->next)
		for (unsigned i = 0; name && !o->dying && i < o->natt; i++) {
			if (strcmp(o->att[i].s.name, name))
				continue;
			if (!may_define(c)) {
				*why = "only root and the daemon's owner may change a network's definition";
				return VMNET_NOT_AUTHORIZED;
			}
			gone = o->att[i];
			p = att_live(o, &gone);
			memmove(&o->att[i], &o->att[i + 1], (o->natt - i - 1) * sizeof(o->att[0]));
			o->natt--;
			if ((r = definition_save(o)) < 0) {
				memmove(&o->att[i + 1], &o->att[i], (o->natt - i) * sizeof(o->att[0]));
				o->att[i] = gone;
				o->natt++;
				log_warn("cannot save the definition of network %s: %s", o->name, strerror(-r));
				*why = "cannot save the definition (see the daemon log)";
				return VMNET_FAILURE;
			}
			log_info("network %s: %s %s removed from its definition by pid %d", o->name, gone.s.kind, gone.s.name,
				 (int)control_conn_pid(c));
			if (p)
				network_remove_port(p);
			return VMNET_SUCCESS;
		}
	*why = "no network's definition has an attachment of that name (vmnet network show NAME)";
	return VMNET_INVALID_ARGUMENT;
}

const char *netdef_att_network(const struct port *p)
{
	for (const struct netobj *o = objs; o; o = o->next)
		for (unsigned i = 0; o->named && !o->dying && o->net == p->net && i < o->natt; i++)
			if (att_live(o, &o->att[i]) == p)
				return o->name;
	return NULL;
}
