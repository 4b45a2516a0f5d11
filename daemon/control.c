/*
 * control.c — vmnetd's control connections.
 *
 * Theory of operation: every client connection is a SOCK_SEQPACKET socket
 * watched by the event loop. A libvmnet interface is one connection: CTL_START
 * creates a ring port in the right network and hands the rings over; closing
 * the connection (orderly, crash, kill -9) tears the port down, so nothing
 * outlives a dead client. `vmnet attach` hands over tap devices the same
 * way; a persistent attachment is owned by the daemon instead and lives until
 * `vmnet detach` or until its device disappears.
 *
 * A connection may also hold a network object (netdef.c): closing the
 * creator's connection destroys that network and disconnects every interface
 * on it (control_drop_port); control_close is re-entrant for that reason
 * (`closing`).
 *
 * A connection whose peer fails authorization gets VMNET_NOT_AUTHORIZED for
 * its first request and is closed. A malformed message closes that one
 * connection; nothing a client sends can stop the daemon.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "common/ctl.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "daemon/daemon.h"
#include "engine/dhcp.h"
#include "daemon/bridged.h"
#include "daemon/settings.h"
#include "engine/gateway.h"
#include "engine/port_host.h"
#include "engine/port_ring.h"
#include "engine/port_tap.h"

struct conn {
	struct loop_src src;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool authorized;
	bool closing; /* control_close() is tearing it down (it may come back through netdef) */
	struct port *port; /* the interface started on this connection */
	struct conn *next;
};

static struct conn *conns;
static unsigned nconns;

/*
 * A persistent attachment of a named namespace holds the namespace alive (the
 * tap's socket references it), so `ip netns del` alone would never end it.
 * We remember which /run/netns entry (device + inode) it came from and detach
 * it once that entry is gone or names another namespace.
 */
#define NETNS_WATCH_MAX 256
struct netns_watch {
	uint32_t port_id;
	dev_t dev;
	ino_t ino;
	char path[256];
};
static struct netns_watch watches[NETNS_WATCH_MAX];
static unsigned nwatches;

int control_listen(struct loop_src *src)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(opts.socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, opts.socket_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(opts.socket_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(opts.socket_path, opts.socket_mode) < 0 ||
	    listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*src = (struct loop_src){ .type = EV_LISTEN, .fd = fd };
	return loop_add(src, EPOLLIN);
}

void control_accept(int lfd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->authorized = authz_allowed(cred.uid, cred.gid);
	c->src = (struct loop_src){ .type = EV_CONN, .fd = fd, .obj = c };
	netdef_load(); /* named networks come up with the first client */
	if (loop_add(&c->src, EPOLLIN) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = conns;
	conns = c;
	nconns++;
	log_debug("connection from pid %d uid %u%s", (int)c->pid, (unsigned)c->uid,
		  c->authorized ? "" : " (not authorized)");
}

void control_close(struct conn *c)
{
	struct conn **pp;

	if (c->closing)
		return;
	c->closing = true;
	for (pp = &conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			nconns--;
			break;
		}
	netdef_conn_closed(c);
	/* Persistent attachments were handed to the daemon; everything else goes with the client. */
	for (struct network *n = network_list, *nn; n; n = nn) {
		nn = n->next;
		for (struct port *p = n->ports, *pn; p; p = pn) {
			pn = p->next;
			if (p->owner == c)
				network_remove_port(p);
		}
	}
	loop_del(&c->src);
	close(c->src.fd);
	loop_defer_free(c);
}

unsigned control_count(void)
{
	return nconns;
}

void control_close_all(void)
{
	while (conns)
		control_close(conns);
	netdef_shutdown();
}

void control_drop_port(struct port *p)
{
	struct conn *c = p->owner;

	if (c && c->port == p && !c->closing) {
		control_close(c); /* removes the port; the client's interface fails from now on */
		return;
	}
	if (c && c->port == p)
		c->port = NULL;
	network_remove_port(p);
}

void control_port_broken(struct port *p)
{
	struct conn *c = p->owner;

	if (p->removed)
		return;
	if (c && c->port == p) {
		/* The client's interface is unusable: drop the client entirely. */
		control_close(c);
		return;
	}
	network_remove_port(p);
}

static int reply(struct conn *c, const struct ctl_hdr *req, uint32_t status, xpc_object_t d, const int *fds, int nfds)
{
	int r = ctl_send(c->src.fd, req->type | CTL_REPLY, req->seq, status, d, fds, nfds);

	if (r < 0)
		log_debug("reply to pid %d: %s", (int)c->pid, strerror(-r));
	return r;
}

/* Reply with a failure status and a human-readable reason. */
static void reply_error(struct conn *c, const struct ctl_hdr *req, uint32_t status, const char *why)
{
	xpc_object_t d = xpc_dictionary_create_empty();

	if (why) {
		xpc_dictionary_set_string(d, CTL_KEY_ERROR, why);
		log_info("pid %d: request %u refused: %s", (int)c->pid, req->type, why);
	}
	reply(c, req, status, d, NULL, 0);
	xpc_release(d);
}

int control_reply(struct conn *c, const struct ctl_hdr *req, uint32_t status, void *dict, const int *fds, int nfds)
{
	return reply(c, req, status, dict, fds, nfds);
}

void control_reply_error(struct conn *c, const struct ctl_hdr *req, uint32_t status, const char *why)
{
	reply_error(c, req, status, why);
}

struct port *control_conn_port(const struct conn *c)
{
	return c->port;
}

uid_t control_conn_uid(const struct conn *c)
{
	return c->uid;
}

pid_t control_conn_pid(const struct conn *c)
{
	return c->pid;
}

/*
 * Fill the default host range, moving to the next free /24 when taken (as
 * macOS does): by another network, or, when networks get host taps, by an
 * address of the host's own interfaces (the host's routes must not clash).
 */
static uint32_t default_range(struct iface_req *req, const char **why)
{
	/* Host mode from 192.168.128.0/24 up, shared mode from 192.168.64.0/24 (as macOS). */
	unsigned first = req->mode == VMNET_SHARED_MODE ? 64 : 128, last = req->mode == VMNET_SHARED_MODE ? 128 : 255;

	for (unsigned third = first; third < last; third++) {
		struct network *n;

		req->start.s_addr = htonl(0xc0a80001u | (third << 8));
		req->end.s_addr = htonl(0xc0a800feu | (third << 8));
		req->mask.s_addr = htonl(0xffffff00u);
		n = network_find_subnet(req->mode, req->start, req->mask);
		if (n || (!network_find_overlap(req->start, req->mask, NULL) &&
			  !(engine_host_tap && host_tap_subnet_in_use(req->start, req->mask))))
			return VMNET_SUCCESS;
	}
	*why = req->mode == VMNET_SHARED_MODE ? "no free /24 left in 192.168.64.0 - 192.168.127.0"
					      : "no free /24 left in 192.168.128.0 - 192.168.254.0";
	return VMNET_SHARING_SERVICE_BUSY;
}

/*
 * vmnet_host_ip_address (+ mask, + vmnet_host_ipv6_address) on a new
 * identifier network: the host gets a tap with that address. Without the
 * privilege to create it the network works as before (guests only).
 */
static void identifier_host_port(struct network *n, const struct iface_req *req)
{
	struct host_tap_config hc;
	char a[INET_ADDRSTRLEN];
	int r;

	memset(&hc, 0, sizeof(hc));
	hc.addr = req->host_ip;
	hc.mask = req->host_mask;
	gateway_mac_for(req->host_ip, hc.mac);
	if (req->has_host_ip6) {
		hc.has_addr6 = true;
		memcpy(hc.addr6, &req->host_ip6, 16);
	}
	hc.mtu = req->has_mtu ? req->mtu : 0;
	r = host_port_attach(n, &hc);
	inet_ntop(AF_INET, &req->host_ip, a, sizeof(a));
	if (r < 0)
		log_warn("network %s: no host tap for vmnet_host_ip_address %s: %s", n->name, a,
			 r == -EADDRINUSE ? "a host interface already has an address in that subnet" : strerror(-r));
	else
		log_info("network %s: host tap carries %s", n->name, a);
}

/* Find or create the network a request names (gcfg: settings of a network created now, or NULL). */
static uint32_t pick_network_cfg(struct iface_req *req, const struct gateway_config *override, struct network **out,
				 const char **why)
{
	struct network *n;
	struct in_addr net_addr;
	struct gateway_config gcfg;
	uint32_t st;
	char a[INET_ADDRSTRLEN];

	if (req->mode == VMNET_BRIDGED_MODE)
		return bridged_pick_network(req, out, why);
	if (req->has_net_id) {
		n = network_find_uuid(req->mode, req->net_id);
		if (!n && network_new(req->mode, &n) == 0) {
			char u[40];

			n->has_uuid = true;
			memcpy(n->uuid, req->net_id, sizeof(uuid_t));
			uuid_unparse_lower(req->net_id, u);
			snprintf(n->name, sizeof(n->name), "host-%s", u);
			if (req->has_host_ip && engine_host_tap)
				identifier_host_port(n, req);
		}
		*out = n;
		return n ? VMNET_SUCCESS : VMNET_MEM_FAILURE;
	}
	if (!req->has_range && (st = default_range(req, why)) != VMNET_SUCCESS)
		return st;
	n = network_find_subnet(req->mode, req->start, req->mask);
	if (!n) {
		if (network_find_overlap(req->start, req->mask, NULL)) {
			*why = "the requested subnet overlaps a network that is already in use";
			return VMNET_SHARING_SERVICE_BUSY;
		}
		if (network_new(req->mode, &n) < 0)
			return VMNET_MEM_FAILURE;
		n->has_subnet = true;
		n->start = req->start;
		n->end = req->end;
		n->mask = req->mask;
		if (req->has_mtu)
			n->mtu = req->mtu;
		/* The gateway owns the start address and serves DHCP from start+1 to end. */
		net_addr.s_addr = n->start.s_addr & n->mask.s_addr;
		inet_ntop(AF_INET, &net_addr, a, sizeof(a));
		if (!req->has_range) /* the mode's default network, wherever it had to go */
			snprintf(n->name, sizeof(n->name), "%s", req->mode == VMNET_SHARED_MODE ? "shared" : "default");
		else if (req->mode == VMNET_HOST_MODE && net_addr.s_addr == htonl(0xc0a88000u) &&
			 n->mask.s_addr == htonl(0xffffff00u))
			snprintf(n->name, sizeof(n->name), "default");
		else
			snprintf(n->name, sizeof(n->name), "%s-%s/%d", req->mode == VMNET_SHARED_MODE ? "shared" : "host", a,
				 __builtin_popcount(n->mask.s_addr));
		{
			struct in_addr base = { .s_addr = n->start.s_addr & n->mask.s_addr };
			char path[4200];

			settings_path(base, n->mask, path, sizeof(path));
			if (override)
				gcfg = *override;
			else
				settings_load(path, base, n->mask, &gcfg); /* a bad file is logged; defaults are used */
		}
		if (req->has_nat66) { /* vmnet_nat66_prefix: the /64 of the network */
			gcfg.has_prefix = true;
			memcpy(gcfg.prefix, &req->nat66, 16);
			memset(gcfg.prefix + 8, 0, 8);
		}
		if (gateway_attach(n, &gcfg) < 0 && req->mode == VMNET_SHARED_MODE) {
			network_release_if_empty(n);
			*why = gateway_attach_error();
			return VMNET_FAILURE;
		}
		log_info("network %s created", n->name);
	}
	*out = n;
	return VMNET_SUCCESS;
}

static uint32_t pick_network(struct iface_req *req, struct network **out, const char **why)
{
	return pick_network_cfg(req, NULL, out, why);
}

uint32_t control_pick_network(struct iface_req *req, const struct gateway_config *gcfg, struct network **out,
			      const char **why)
{
	return pick_network_cfg(req, gcfg, out, why);
}

/* Choose the MAC: remembered for the interface id, or new. */
static uint32_t pick_mac(struct iface_req *req, struct port *p, const char **why)
{
	if (!req->has_id)
		uuid_generate_random(req->id);
	if (!req->allocate_mac)
		return VMNET_SUCCESS;
	if (state_mac_lookup(req->id, p->mac)) {
		if (network_mac_in_use(p->mac, NULL)) {
			*why = "the MAC address of this vmnet_interface_id is in use by another interface";
			return VMNET_SHARING_SERVICE_BUSY;
		}
	} else {
		state_mac_random(p->mac);
		if (state_mac_store(req->id, p->mac) < 0)
			log_warn("could not persist the MAC of a new interface id in %s", opts.state_dir);
	}
	p->has_mac = true;
	return VMNET_SUCCESS;
}

static void handle_start(struct conn *c, const struct ctl_hdr *h, xpc_object_t desc)
{
	const char *why = NULL;
	struct iface_req req;
	struct network *net = NULL;
	struct port_ring *pr = NULL;
	struct port *p;
	xpc_object_t param;
	uint32_t st, mtu;
	int fds[3];

	if (c->port) {
		reply_error(c, h, VMNET_INVALID_ARGUMENT, "this connection already has an interface");
		return;
	}
	st = desc_parse(desc, &req, &why);
	if (st == VMNET_SUCCESS)
		st = req.has_obj ? netdef_pick(c, &req, &net, &why) : pick_network(&req, &net, &why);
	if (st != VMNET_SUCCESS) {
		reply_error(c, h, st, why);
		return;
	}
	mtu = req.has_mtu ? req.mtu : net->mtu;
	if (port_ring_new(mtu + 14, (req.virtio_hdr ? PORT_RING_VNET_HDR : 0) | (req.tso ? PORT_RING_TSO : 0) |
					    (req.csum_offload ? PORT_RING_CSUM : 0),
			  &pr) < 0) {
		reply_error(c, h, VMNET_MEM_FAILURE, "could not create the shared-memory rings");
		network_release_if_empty(net);
		return;
	}
	p = port_ring_port(pr);
	p->isolated = req.isolation;
	p->owner = c;
	snprintf(p->name, sizeof(p->name), "pid%d", (int)c->pid);
	st = pick_mac(&req, p, &why);
	if (st == VMNET_SUCCESS && network_add_port(net, p) < 0) {
		st = VMNET_FAILURE;
		why = "the network has too many interfaces";
	}
	if (st != VMNET_SUCCESS) {
		p->ops->destroy(p);
		network_release_if_empty(net);
		reply_error(c, h, st, why);
		return;
	}
	param = desc_param(&req, net, p);
	xpc_dictionary_set_uint64(param, CTL_KEY_RING_NSLOTS, port_ring_nslots(pr));
	xpc_dictionary_set_uint64(param, CTL_KEY_RING_MAX_FRAME, port_ring_slot_frame(pr));
	xpc_dictionary_set_bool(param, CTL_KEY_RING_VNET_HDR, req.virtio_hdr);
	xpc_dictionary_set_uint64(param, CTL_KEY_PORT_ID, p->id);
	port_ring_fds(pr, fds);
	if (port_ring_watch(pr) < 0 || reply(c, h, VMNET_SUCCESS, param, fds, 3) < 0) {
		network_remove_port(p);
	} else {
		port_ring_handed_over(pr);
		c->port = p;
		log_info("interface %u (%s) started on network %s", p->id, p->name, net->name);
	}
	xpc_release(param);
}

static void handle_stop(struct conn *c, const struct ctl_hdr *h)
{
	if (!c->port) {
		reply_error(c, h, VMNET_INVALID_ARGUMENT, "no interface on this connection");
		return;
	}
	log_info("interface %u stopped", c->port->id);
	network_remove_port(c->port);
	c->port = NULL;
	reply(c, h, VMNET_SUCCESS, NULL, NULL, 0);
}

static xpc_object_t port_status(const struct port *p)
{
	xpc_object_t d = xpc_dictionary_create_empty();
	const struct conn *owner = p->owner;
	const char *path, *defn;
	char mac[UTIL_MAC_STRLEN];

	xpc_dictionary_set_uint64(d, "id", p->id);
	xpc_dictionary_set_string(d, "name", p->name);
	xpc_dictionary_set_string(d, "kind", p->ops->kind);
	if (p->has_mac) {
		util_mac_to_string(p->mac, mac);
		xpc_dictionary_set_string(d, "mac", mac);
	}
	xpc_dictionary_set_bool(d, "isolated", p->isolated);
	xpc_dictionary_set_bool(d, "persistent", owner == NULL);
	xpc_dictionary_set_bool(d, "offload", p->offload);
	if (owner)
		xpc_dictionary_set_int64(d, "pid", owner->pid);
	if ((path = attach_sock_path(p))) {
		xpc_dictionary_set_string(d, "path", path);
		if ((defn = netdef_att_network(p)))
			xpc_dictionary_set_string(d, "definition", defn);
	}
	xpc_dictionary_set_uint64(d, "rx_frames", p->st.rx_frames);
	xpc_dictionary_set_uint64(d, "rx_bytes", p->st.rx_bytes);
	xpc_dictionary_set_uint64(d, "tx_frames", p->st.tx_frames);
	xpc_dictionary_set_uint64(d, "tx_bytes", p->st.tx_bytes);
	xpc_dictionary_set_uint64(d, "tx_drops", p->st.tx_drops);
	xpc_dictionary_set_uint64(d, "rx_errors", p->st.rx_errors);
	return d;
}

/* Ports per STATUS reply: keeps every reply far below CTL_MAX_MSG. */
#define STATUS_PAGE 100

/* One network and its ports number [*index, ...) that fall in the page [skip, skip + STATUS_PAGE). */
static xpc_object_t network_status(const struct network *n, uint64_t skip, uint64_t *index)
{
	xpc_object_t d = xpc_dictionary_create_empty(), ports = xpc_array_create_empty();
	char a[INET_ADDRSTRLEN];

	xpc_dictionary_set_string(d, "name", n->name);
	xpc_dictionary_set_uint64(d, "mode", n->mode);
	xpc_dictionary_set_uint64(d, "mtu", n->mtu);
	if (n->has_uuid)
		xpc_dictionary_set_uuid(d, "identifier", n->uuid);
	if (n->has_subnet) {
		xpc_dictionary_set_string(d, "start", inet_ntop(AF_INET, &n->start, a, sizeof(a)));
		xpc_dictionary_set_string(d, "end", inet_ntop(AF_INET, &n->end, a, sizeof(a)));
		xpc_dictionary_set_string(d, "mask", inet_ntop(AF_INET, &n->mask, a, sizeof(a)));
	}
	xpc_dictionary_set_uint64(d, "flood_frames", n->flood_frames);
	if (n->gateway) {
		char mac[UTIL_MAC_STRLEN];
		struct in_addr ga = gateway_addr(n->gateway);

		util_mac_to_string(gateway_hwaddr(n->gateway), mac);
		xpc_dictionary_set_string(d, "gateway", inet_ntop(AF_INET, &ga, a, sizeof(a)));
		xpc_dictionary_set_string(d, "gateway_mac", mac);
		xpc_dictionary_set_bool(d, "dhcp", gateway_dhcp(n->gateway) != NULL);
		if (gateway_host_tap(n->gateway)) {
			xpc_dictionary_set_string(d, "host_tap", gateway_host_tap(n->gateway));
			xpc_dictionary_set_uint64(d, "host_merged", gateway_host_merged(n->gateway));
			xpc_dictionary_set_uint64(d, "host_drops", gateway_host_drops(n->gateway));
		}
		{
			uint8_t ll[16], global[16], prefix[16];
			char p6[INET6_ADDRSTRLEN];

			if (gateway_ip6(n->gateway, ll, global, prefix)) {
				xpc_dictionary_set_string(d, "gateway6", inet_ntop(AF_INET6, global, p6, sizeof(p6)));
				xpc_dictionary_set_string(d, "gateway6_ll", inet_ntop(AF_INET6, ll, p6, sizeof(p6)));
			}
		}
	}
	for (const struct port *p = n->ports; p; p = p->next) {
		xpc_object_t ps;

		if (p == (struct port *)n->gateway)
			continue; /* the gateway is described above */
		if ((*index)++ < skip || *index > skip + STATUS_PAGE)
			continue;
		ps = port_status(p);
		xpc_array_append_value(ports, ps);
		xpc_release(ps);
	}
	xpc_dictionary_set_value(d, "ports", ports);
	xpc_release(ports);
	return d;
}

/* STATUS is paged: {skip: N} asks for ports from the N-th on; the reply has
 * {next: M} while more remain. Every page lists every network. */
static void handle_status(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	xpc_object_t d = xpc_dictionary_create_empty(), nets = xpc_array_create_empty();
	uint64_t skip = xpc_dictionary_get_uint64(req, "skip"), index = 0;

	xpc_dictionary_set_string(d, "version", VMNET_VERSION);
	xpc_dictionary_set_int64(d, "pid", getpid());
	xpc_dictionary_set_bool(d, "system", opts.system);
	xpc_dictionary_set_string(d, "socket", opts.socket_path);
	xpc_dictionary_set_string(d, "state_dir", opts.state_dir);
	xpc_dictionary_set_uint64(d, "connections", nconns);
	for (const struct network *n = network_list; n; n = n->next) {
		xpc_object_t ns = network_status(n, skip, &index);

		xpc_array_append_value(nets, ns);
		xpc_release(ns);
	}
	if (index > skip + STATUS_PAGE)
		xpc_dictionary_set_uint64(d, "next", skip + STATUS_PAGE);
	xpc_dictionary_set_value(d, "networks", nets);
	xpc_release(nets);
	if (reply(c, h, VMNET_SUCCESS, d, NULL, 0) < 0)
		log_warn("status reply to pid %d could not be sent", (int)c->pid);
	xpc_release(d);
}

struct lease_ctx {
	xpc_object_t arr;
	uint64_t now;
};

static void lease_entry(void *ctx, const uint8_t mac[6], struct in_addr ip, const char *hostname, uint64_t expires)
{
	struct lease_ctx *lc = ctx;
	xpc_object_t e = xpc_dictionary_create_empty();
	char m[UTIL_MAC_STRLEN], a[INET_ADDRSTRLEN];

	util_mac_to_string(mac, m);
	xpc_dictionary_set_string(e, "mac", m);
	xpc_dictionary_set_string(e, "ip", inet_ntop(AF_INET, &ip, a, sizeof(a)));
	xpc_dictionary_set_string(e, "hostname", hostname ? hostname : "");
	xpc_dictionary_set_bool(e, "reserved", expires == 0);
	xpc_dictionary_set_int64(e, "expires_in", expires ? (int64_t)(expires - lc->now) : 0);
	xpc_array_append_value(lc->arr, e);
	xpc_release(e);
}

/* CTL_LEASES: the DHCP leases of every network (or of the one named). */
static void handle_leases(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	const char *want = xpc_dictionary_get_string(req, "network");
	xpc_object_t d = xpc_dictionary_create_empty(), nets = xpc_array_create_empty();
	char a[INET_ADDRSTRLEN];

	for (const struct network *n = network_list; n; n = n->next) {
		struct lease_ctx lc = { .now = engine_now_sec };
		xpc_object_t nd;
		struct in_addr ga;

		if ((want && strcmp(want, n->name)) || !n->gateway || !gateway_dhcp(n->gateway))
			continue;
		nd = xpc_dictionary_create_empty();
		lc.arr = xpc_array_create_empty();
		ga = gateway_addr(n->gateway);
		xpc_dictionary_set_string(nd, "name", n->name);
		xpc_dictionary_set_string(nd, "gateway", inet_ntop(AF_INET, &ga, a, sizeof(a)));
		xpc_dictionary_set_uint64(nd, "lease_time", gateway_cfg(n->gateway)->lease_time);
		dhcp_leases(gateway_dhcp(n->gateway), &lc, lease_entry);
		xpc_dictionary_set_value(nd, "leases", lc.arr);
		xpc_release(lc.arr);
		xpc_array_append_value(nets, nd);
		xpc_release(nd);
	}
	xpc_dictionary_set_value(d, "networks", nets);
	xpc_release(nets);
	if (reply(c, h, VMNET_SUCCESS, d, NULL, 0) < 0)
		log_warn("leases reply to pid %d could not be sent (too many leases for one message?)", (int)c->pid);
	xpc_release(d);
}

/*
 * Which subnet a `vmnet config` names: absent or "default" (the default host
 * network, 192.168.128.0/24), the name of a running network, or a CIDR
 * "A.B.C.D/N". *net: the running network on it, if any.
 */
static int config_subnet(const char *name, struct in_addr *base, struct in_addr *mask, struct network **net)
{
	char buf[32], *slash, *end;
	long bits;

	*net = NULL;
	for (struct network *n = network_list; n; n = n->next)
		if (n->has_subnet && n->gateway && name && !strcmp(name, n->name)) {
			*net = n;
			base->s_addr = n->start.s_addr & n->mask.s_addr;
			*mask = n->mask;
			return 0;
		}
	if (!name || !strcmp(name, "default")) {
		base->s_addr = htonl(0xc0a88000u);
		mask->s_addr = htonl(0xffffff00u);
	} else {
		if (strlen(name) >= sizeof(buf) || !(slash = strchr(strcpy(buf, name), '/')))
			return -EINVAL;
		*slash = 0;
		bits = strtol(slash + 1, &end, 10);
		if (*end || slash[1] == 0 || bits < 8 || bits > 30 || inet_pton(AF_INET, buf, base) != 1)
			return -EINVAL;
		mask->s_addr = htonl(~0u << (32 - bits));
		base->s_addr &= mask->s_addr;
	}
	for (struct network *n = network_list; n; n = n->next)
		if (n->has_subnet && n->gateway && (n->start.s_addr & n->mask.s_addr) == base->s_addr &&
		    n->mask.s_addr == mask->s_addr)
			*net = n;
	return 0;
}

static void config_describe(xpc_object_t d, const struct gateway_config *cfg, const struct network *net)
{
	xpc_object_t res = xpc_array_create_empty();
	uint8_t ll[16], global[16], prefix[16];
	char a[INET6_ADDRSTRLEN], m[UTIL_MAC_STRLEN];

	xpc_dictionary_set_uint64(d, "lease_time", cfg->lease_time ? cfg->lease_time : GATEWAY_LEASE_TIME);
	xpc_dictionary_set_bool(d, "dhcp", cfg->dhcp);
	xpc_dictionary_set_bool(d, "dns", cfg->dns);
	xpc_dictionary_set_bool(d, "ipv6", cfg->ipv6);
	xpc_dictionary_set_bool(d, "router_adv", cfg->router_adv);
	xpc_dictionary_set_string(d, "domain", cfg->domain);
	if (net && net->gateway && gateway_ip6(net->gateway, ll, global, prefix)) {
		inet_ntop(AF_INET6, prefix, a, sizeof(a));
		strncat(a, "/64", sizeof(a) - strlen(a) - 1);
		xpc_dictionary_set_string(d, "prefix", a);
	} else if (cfg->has_prefix) {
		inet_ntop(AF_INET6, cfg->prefix, a, sizeof(a));
		strncat(a, "/64", sizeof(a) - strlen(a) - 1);
		xpc_dictionary_set_string(d, "prefix", a);
	} else {
		xpc_dictionary_set_string(d, "prefix", "auto");
	}
	for (unsigned i = 0; i < cfg->nres; i++) {
		xpc_object_t e = xpc_dictionary_create_empty();

		util_mac_to_string(cfg->res[i].mac, m);
		xpc_dictionary_set_string(e, "mac", m);
		xpc_dictionary_set_string(e, "ip", inet_ntop(AF_INET, &cfg->res[i].ip, a, sizeof(a)));
		xpc_array_append_value(res, e);
		xpc_release(e);
	}
	xpc_dictionary_set_value(d, "reservations", res);
	xpc_release(res);
}

/* CTL_CONFIG: show or change the settings of a network's gateway services (saved, applied at once). */
static void handle_config(struct conn *c, const struct ctl_hdr *h, xpc_object_t req)
{
	static struct gateway_config cfg; /* large (reservations): not on the stack */
	xpc_object_t lines = xpc_dictionary_get_value(req, "lines"), d;
	struct in_addr base, mask;
	struct network *net;
	char path[4200], err[160], a[INET_ADDRSTRLEN + 4];
	size_t nlines = lines && xpc_get_type(lines) == XPC_TYPE_ARRAY ? xpc_array_get_count(lines) : 0;
	int r;

	if (config_subnet(xpc_dictionary_get_string(req, "network"), &base, &mask, &net) < 0) {
		reply_error(c, h, VMNET_INVALID_ARGUMENT,
			    "network must be \"default\", the name of a running network, or a subnet A.B.C.D/N (N 8-30)");
		return;
	}
	settings_path(base, mask, path, sizeof(path));
	if (net)
		cfg = *gateway_cfg(net->gateway);
	else if ((r = settings_load(path, base, mask, &cfg)) < 0 && nlines) {
		reply_error(c, h, VMNET_FAILURE, "the settings file of this network is unreadable or invalid (see the daemon log)");
		return;
	}
	for (size_t i = 0; i < nlines; i++) {
		const char *line = xpc_array_get_string(lines, i);

		if (!line || settings_parse(line, base, mask, &cfg, err, sizeof(err)) < 0) {
			snprintf(err, sizeof(err), "bad setting \"%.80s\"", line ? line : "(not a string)");
			reply_error(c, h, VMNET_INVALID_ARGUMENT, err);
			return;
		}
	}
	if (nlines) {
		if ((r = settings_save(path, &cfg)) < 0) {
			snprintf(err, sizeof(err), "cannot save %s: %s", path, strerror(-r));
			reply_error(c, h, VMNET_FAILURE, err);
			return;
		}
		if (net && (r = gateway_reconfigure(net, &cfg)) < 0)
			log_warn("network %s: new settings saved but not applied: %s", net->name, strerror(-r));
		else if (net)
			log_info("network %s: settings changed by pid %d", net->name, (int)c->pid);
	}
	d = xpc_dictionary_create_empty();
	inet_ntop(AF_INET, &base, a, INET_ADDRSTRLEN);
	snprintf(a + strlen(a), 4, "/%d", __builtin_popcount(mask.s_addr));
	xpc_dictionary_set_string(d, "network", net ? net->name : xpc_dictionary_get_string(req, "network") ?: "default");
	xpc_dictionary_set_string(d, "subnet", a);
	xpc_dictionary_set_bool(d, "running", net != NULL);
	xpc_dictionary_set_string(d, "file", path);
	config_describe(d, &cfg, net);
	reply(c, h, VMNET_SUCCESS, d, NULL, 0);
	xpc_release(d);
}

/* Is fd a tap device (not tun)? Return: 0 or -EINVAL. */
static int check_tap_fd(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_TAP))
		return -EINVAL;
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Which network an attachment names: "default" (or absent), "shared", a network identifier UUID, or the
 * name of a named network or network object (netdef.c). */
uint32_t attach_network(struct conn *c, xpc_object_t d, struct iface_req *req, struct network **net,
			const char **why)
{
	static const char *const host_keys[] = { "vmnet_host_ip_address", "vmnet_host_subnet_mask",
						 "vmnet_host_ipv6_address" };
	const char *name = xpc_dictionary_get_string(d, "network");
	xpc_object_t desc = xpc_dictionary_create_empty();
	uuid_t id;
	uint32_t st;

	const char *subnet = xpc_dictionary_get_string(d, "subnet");
	const char *bridge = xpc_dictionary_get_string(d, "bridge");
	bool shared = name && !strcmp(name, "shared");

	if (bridge) { /* bridged mode on a host interface */
		xpc_dictionary_set_uint64(desc, "vmnet_operation_mode", VMNET_BRIDGED_MODE);
		xpc_dictionary_set_string(desc, "vmnet_shared_interface_name", bridge);
		memset(req, 0, sizeof(*req));
		st = desc_parse(desc, req, why);
		xpc_release(desc);
		if (st == VMNET_SUCCESS && (name || subnet)) {
			*why = "--bridge names the network by its host interface: no --network or --subnet with it";
			return VMNET_INVALID_ARGUMENT;
		}
		return st == VMNET_SUCCESS ? pick_network(req, net, why) : st;
	}

	/* A named network, or a network object by its name. */
	if (name && (st = netdef_attach_network(c, name, net, why)) != 0) {
		xpc_release(desc);
		memset(req, 0, sizeof(*req));
		if (st == VMNET_SUCCESS && subnet) {
			*why = "--subnet does not go with a named network (it has its own)";
			return VMNET_INVALID_ARGUMENT;
		}
		return st;
	}

	/* The same checks as an API client's interface_desc: build one. */
	xpc_dictionary_set_uint64(desc, "vmnet_operation_mode", shared ? VMNET_SHARED_MODE : VMNET_HOST_MODE);
	if (subnet) { /* "A.B.C.D/N": the gateway is the first address, the pool runs to the last */
		struct in_addr base, mask, first, last;
		struct network *ignored;
		char a[INET_ADDRSTRLEN];

		if (config_subnet(subnet, &base, &mask, &ignored) < 0 || !strchr(subnet, '/')) {
			xpc_release(desc);
			*why = "subnet must be A.B.C.D/N with N from 8 to 30";
			return VMNET_INVALID_ARGUMENT;
		}
		first.s_addr = htonl(ntohl(base.s_addr) + 1);
		last.s_addr = htonl((ntohl(base.s_addr) | ~ntohl(mask.s_addr)) - 1);
		xpc_dictionary_set_string(desc, "vmnet_start_address", inet_ntop(AF_INET, &first, a, sizeof(a)));
		xpc_dictionary_set_string(desc, "vmnet_end_address", inet_ntop(AF_INET, &last, a, sizeof(a)));
		xpc_dictionary_set_string(desc, "vmnet_subnet_mask", inet_ntop(AF_INET, &mask, a, sizeof(a)));
	}
	if (shared) {
		/* the mode's network, chosen by subnet (or the default shared one) */
	} else if (name && strcmp(name, "default") && strcmp(name, "host")) {
		if (uuid_parse(name, id) < 0) {
			xpc_release(desc);
			*why = "network must be \"default\" (host mode), \"shared\", a network identifier UUID or the name of a defined network (vmnet network list)";
			return VMNET_INVALID_ARGUMENT;
		}
		xpc_dictionary_set_uuid(desc, "vmnet_network_identifier", id);
	}
	for (size_t i = 0; i < sizeof(host_keys) / sizeof(host_keys[0]); i++)
		if (xpc_dictionary_get_string(d, host_keys[i]))
			xpc_dictionary_set_string(desc, host_keys[i], xpc_dictionary_get_string(d, host_keys[i]));
	memset(req, 0, sizeof(*req));
	st = desc_parse(desc, req, why);
	xpc_release(desc);
	return st == VMNET_SUCCESS ? pick_network(req, net, why) : st;
}

/* Remember the namespace a persistent attachment lives in (path under /run/netns or similar). */
static void watch_netns(const struct port *p, const char *path)
{
	struct stat st;
	struct netns_watch *w;

	if (!path || !*path || strlen(path) >= sizeof(w->path) || stat(path, &st) < 0)
		return;
	if (nwatches == NETNS_WATCH_MAX) {
		log_warn("too many namespace attachments to watch; %s will not be detached automatically", p->name);
		return;
	}
	w = &watches[nwatches++];
	w->port_id = p->id;
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	snprintf(w->path, sizeof(w->path), "%s", path);
}

void control_check_netns(void)
{
	for (unsigned i = 0; i < nwatches;) {
		struct netns_watch *w = &watches[i];
		struct port *p = network_port_by_id(w->port_id);
		struct stat st;

		if (p && stat(w->path, &st) == 0 && st.st_dev == w->dev && st.st_ino == w->ino) {
			i++;
			continue;
		}
		if (p) {
			log_info("namespace %s is gone; detaching %s", w->path, p->name);
			network_remove_port(p);
		}
		watches[i] = watches[--nwatches];
	}
}

static void handle_attach_tap(struct conn *c, const struct ctl_hdr *h, xpc_object_t d, int *fds, int nfds)
{
	const char *why = NULL, *name = xpc_dictionary_get_string(d, "name");
	struct iface_req req;
	struct network *net;
	struct port_tap *pt;
	struct port *p;
	xpc_object_t r;
	uint32_t st;
	int err;

	if (nfds != 1 || check_tap_fd(fds[0]) < 0) {
		reply_error(c, h, VMNET_INVALID_ARGUMENT, "attach needs exactly one tap device descriptor");
		return;
	}
	if (!name || !*name || strlen(name) >= sizeof(p->name) || network_port_by_name(name)) {
		reply_error(c, h, VMNET_INVALID_ARGUMENT, "attach needs a unique name shorter than 40 bytes");
		return;
	}
	st = attach_network(c, d, &req, &net, &why);
	if (st != VMNET_SUCCESS) {
		reply_error(c, h, st, why);
		return;
	}
	if ((err = port_tap_new(fds[0], name, &pt)) < 0) {
		fds[0] = -1;
		network_release_if_empty(net);
		reply_error(c, h, err == -ENOMEM ? VMNET_MEM_FAILURE : VMNET_FAILURE,
			    err == -ENOMEM ? "out of memory" : "the tap device's virtio-net header cannot be set up");
		return;
	}
	fds[0] = -1; /* the port owns it now */
	p = port_tap_port(pt);
	p->isolated = xpc_dictionary_get_bool(d, "isolation");
	p->owner = xpc_dictionary_get_bool(d, "persist") ? NULL : c;
	if (network_add_port(net, p) < 0 || port_tap_watch(pt) < 0) {
		p->ops->destroy(p);
		network_release_if_empty(net);
		reply_error(c, h, VMNET_FAILURE, "could not add the tap to the network");
		return;
	}
	if (!p->owner)
		watch_netns(p, xpc_dictionary_get_string(d, "netns_path"));
	log_info("tap %s attached to network %s%s", p->name, net->name, p->owner ? "" : " (persistent)");
	r = xpc_dictionary_create_empty();
	xpc_dictionary_set_uint64(r, CTL_KEY_PORT_ID, p->id);
	xpc_dictionary_set_string(r, "network", net->name);
	reply(c, h, VMNET_SUCCESS, r, NULL, 0);
	xpc_release(r);
}

/*
 * CTL_DETACH {name, save}: remove an attachment. With save, a socket
 * attachment of a named network's definition leaves the definition too
 * (netdef.c); without, one that is in a definition comes back when its
 * network next starts, and the reply names that network ("definition").
 */
static void handle_detach(struct conn *c, const struct ctl_hdr *h, xpc_object_t d)
{
	const char *name = xpc_dictionary_get_string(d, "name"), *why = NULL, *defn;
	struct port *p = name ? network_port_by_name(name) : NULL;
	xpc_object_t r;
	uint32_t st;

	if (xpc_dictionary_get_bool(d, "save")) {
		if ((st = netdef_att_remove(c, name, &why)) != VMNET_SUCCESS)
			reply_error(c, h, st, why);
		else
			reply(c, h, VMNET_SUCCESS, NULL, NULL, 0);
		return;
	}
	if (!p || (p->ops->kind[0] != 't' && !attach_sock_detachable(p)) || (p->owner && p->owner != c)) {
		reply_error(c, h, VMNET_INVALID_ARGUMENT, "no such attachment");
		return;
	}
	r = xpc_dictionary_create_empty();
	if ((defn = netdef_att_network(p)))
		xpc_dictionary_set_string(r, "definition", defn);
	log_info("%s %s detached", p->ops->kind, p->name);
	network_remove_port(p);
	reply(c, h, VMNET_SUCCESS, r, NULL, 0);
	xpc_release(r);
}

static void handle_hello(struct conn *c, const struct ctl_hdr *h)
{
	xpc_object_t d = xpc_dictionary_create_empty();

	xpc_dictionary_set_uint64(d, "protocol", CTL_VERSION);
	xpc_dictionary_set_string(d, "version", VMNET_VERSION);
	xpc_dictionary_set_int64(d, "pid", getpid());
	xpc_dictionary_set_bool(d, "system", opts.system);
	reply(c, h, VMNET_SUCCESS, d, NULL, 0);
	xpc_release(d);
}

/* Return: false when the connection must be closed. */
static bool dispatch_msg(struct conn *c, const struct ctl_hdr *h, xpc_object_t d, int *fds, int nfds)
{
	if (!c->authorized) {
		reply_error(c, h, VMNET_NOT_AUTHORIZED,
			    opts.system ? "only root and members of the group vmnet may use the system vmnetd"
					: "this per-user vmnetd serves only its own user");
		return false;
	}
	switch (h->type) {
	case CTL_HELLO:
		handle_hello(c, h);
		return true;
	case CTL_START:
		handle_start(c, h, d);
		return true;
	case CTL_STOP:
		handle_stop(c, h);
		return true;
	case CTL_STATUS:
		handle_status(c, h, d);
		return true;
	case CTL_ATTACH_TAP:
		handle_attach_tap(c, h, d, fds, nfds);
		return true;
	case CTL_DETACH:
		handle_detach(c, h, d);
		return true;
	case CTL_LEASES:
		handle_leases(c, h, d);
		return true;
	case CTL_CONFIG:
		handle_config(c, h, d);
		return true;
	case CTL_FORWARD:
		forward_handle(c, h, d);
		return true;
	case CTL_NETWORK:
		netdef_handle(c, h, d, fds, nfds);
		return true;
	case CTL_ATTACH_SOCKET:
		attach_sock_handle(c, h, d, fds, nfds);
		return true;
	case CTL_SHUTDOWN:
		if (c->uid != 0 && c->uid != opts.owner) {
			reply_error(c, h, VMNET_NOT_AUTHORIZED, "only root or the daemon's owner may shut it down");
			return true;
		}
		reply(c, h, VMNET_SUCCESS, NULL, NULL, 0);
		daemon_quit = true;
		return true;
	default:
		log_info("pid %d: unknown request type %u; closing", (int)c->pid, h->type);
		return false;
	}
}

void control_input(struct conn *c, uint32_t events)
{
	struct ctl_hdr h;
	xpc_object_t d = NULL;
	int fds[CTL_MAX_FDS], nfds = 0, r;
	bool keep;

	r = ctl_recv(c->src.fd, &h, &d, fds, &nfds);
	if (r == -EAGAIN)
		return;
	if (r == -EPROTONOSUPPORT) {
		reply_error(c, &h, VMNET_FAILURE, "control protocol version mismatch: library and vmnetd differ");
		control_close(c);
		return;
	}
	if (r < 0) {
		if (r != -ECONNRESET)
			log_info("pid %d: bad control message (%s); closing", (int)c->pid, strerror(-r));
		control_close(c);
		return;
	}
	keep = dispatch_msg(c, &h, d, fds, nfds);
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	xpc_release(d);
	if (!keep)
		control_close(c);
}
