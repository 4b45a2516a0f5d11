/*
 * daemon.h — what the parts of vmnetd share: options, connections, and the
 * entry points of control.c, desc.c, authz.c and state.c.
 */
#ifndef VMNET_DAEMON_H
#define VMNET_DAEMON_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uuid/uuid.h>

#include "engine/loop.h"
#include "engine/network.h"

struct daemon_opts {
	const char *socket_path;
	const char *state_dir;
	bool system;       /* system daemon: group `vmnet` may connect */
	int idle_timeout;  /* seconds without interfaces before exiting; 0 = never */
	unsigned socket_mode;
	uid_t owner;       /* per-user daemon: the uid it serves */
};
extern struct daemon_opts opts;
extern bool daemon_quit;

/* ---- control connections (control.c) ---- */
struct conn;
int control_listen(struct loop_src *src);
void control_accept(int lfd);
void control_input(struct conn *c, uint32_t events);
/* Tear down a connection and everything it owns. */
void control_close(struct conn *c);
unsigned control_count(void);
void control_close_all(void);
/* Detach persistent namespace attachments whose namespace was deleted (called once a second). */
void control_check_netns(void);
/* A port reported broken: close its owner (connection) or drop the attachment. */
void control_port_broken(struct port *p);

/* For request handlers outside control.c (forward.c, netdef.c). */
struct ctl_hdr;
struct gateway_config;
struct iface_req;
/* Reply to req (dict may be NULL). Return: 0 or -errno. */
int control_reply(struct conn *c, const struct ctl_hdr *req, uint32_t status, void *dict, const int *fds, int nfds);
/* Reply with a failure status and a human-readable reason (logged). */
void control_reply_error(struct conn *c, const struct ctl_hdr *req, uint32_t status, const char *why);
struct port *control_conn_port(const struct conn *c);  /* the interface started on c, or NULL */
uid_t control_conn_uid(const struct conn *c);
pid_t control_conn_pid(const struct conn *c);
/*
 * Find or create the network an interface request names, exactly as a start
 * does. gcfg: the gateway settings of a network created now (NULL: from its
 * settings file). Return: VMNET_SUCCESS and *out, or a status and *why.
 */
uint32_t control_pick_network(struct iface_req *req, const struct gateway_config *gcfg, struct network **out,
			      const char **why);

/* ---- port forwarding (forward.c): CTL_FORWARD ---- */
void forward_handle(struct conn *c, const struct ctl_hdr *h, void *dict);

/* ---- VMM socket attachments (attach_sock.c): CTL_ATTACH_SOCKET ---- */
#define SOCK_NAME_MAX 30  /* attachment names: "NAME.N" connection names fit a port's 40 bytes */
#define SOCK_PATH_MAX 107 /* sun_path less its terminating zero */
/* A socket attachment as a request, a `network create` option or a definition line names it. */
struct sock_spec {
	char kind[12]; /* "stream", "dgram" or "vhost-user" */
	char name[SOCK_NAME_MAX + 1];
	char path[SOCK_PATH_MAX + 1];
	bool isolated;
};
void attach_sock_handle(struct conn *c, const struct ctl_hdr *h, void *dict, int *fds, int nfds);
/* May `vmnet detach` remove this port (a socket attachment or one of its connections)? */
bool attach_sock_detachable(const struct port *p);
/*
 * Fill s and check its syntax: kind, name (not whether it is taken), and an
 * absolute path of at most SOCK_PATH_MAX bytes ending in a file name of at
 * most 80 bytes, without control characters or a blank at its end.
 * Return: NULL, or why it is refused.
 */
const char *attach_sock_spec(struct sock_spec *s, const char *kind, const char *name, const char *path,
			     bool isolated);
/*
 * Bind s->path and put the attachment on net, started, on behalf of uid
 * (who must be allowed to create the file; it gets the file) and owned by
 * owner (NULL: the daemon). On failure nothing is left behind, and net is
 * released when nothing else holds it. Return: VMNET_SUCCESS and *out, or a status and *why.
 */
uint32_t attach_sock_create(struct network *net, const struct sock_spec *s, uid_t uid, struct conn *owner,
			    struct port **out, const char **why);
/* The socket path of a listening or datagram attachment. Return: it, or NULL (any other port). */
const char *attach_sock_path(const struct port *p);
/* Which network an attachment request names, as for taps (control.c). Return: VMNET_SUCCESS and *net, or a status and *why. */
uint32_t attach_network(struct conn *c, void *d, struct iface_req *req, struct network **net, const char **why);

/* ---- network objects and named networks (netdef.c): CTL_NETWORK ---- */
void netdef_handle(struct conn *c, const struct ctl_hdr *h, void *dict, int *fds, int nfds);
/* A connection is going away: release what it held (a network it created goes, see docs/networks.md). */
void netdef_conn_closed(struct conn *c);
/* Load the named networks' definitions and start them (once; later calls do nothing). */
void netdef_load(void);
/* Daemon exit: stop every network object and named network (definitions stay on disk). */
void netdef_shutdown(void);
/*
 * The network of a start request that names a network object
 * (req->has_obj): it must exist, the token must match, the peer must be its
 * creator's uid or root, and the mode must be the network's.
 * Return: VMNET_SUCCESS and *out, or a status and *why.
 */
uint32_t netdef_pick(const struct conn *c, const struct iface_req *req, struct network **out, const char **why);
/*
 * An attachment's "network" naming a named network (or, for its creator's
 * uid and root, a network object by its name); a stopped named network is
 * started again. Return: 0 when name is none of these, else VMNET_SUCCESS
 * and *out, or a status and *why.
 */
uint32_t netdef_attach_network(const struct conn *c, const char *name, struct network **out, const char **why);
/*
 * Socket attachments kept in a named network's definition (`vmnet attach
 * --persist`, `vmnet network create ... --qemu-stream PATH`).
 * netdef_att_check: may c save s in the definition of the named network
 * `network` (a named network, c may define networks, s's name and path in
 * no definition yet, room left)? netdef_att_add: record s, whose attachment
 * p was just made, and rewrite the definition. netdef_att_remove (`vmnet
 * detach --persist NAME`): take NAME out of its definition and detach it.
 * Return: VMNET_SUCCESS, or a status and *why.
 */
uint32_t netdef_att_check(const struct conn *c, const char *network, const struct sock_spec *s, const char **why);
uint32_t netdef_att_add(const char *network, const struct sock_spec *s, const char **why);
uint32_t netdef_att_remove(const struct conn *c, const char *name, const char **why);
/* The named network whose definition holds the attachment p. Return: its name, or NULL. */
const char *netdef_att_network(const struct port *p);
/*
 * Take a guest port out of its network for good: a libvmnet interface's
 * connection is closed (the client sees VMNET_FAILURE), a tap is detached.
 */
void control_drop_port(struct port *p);

/* ---- authorization (authz.c) ---- */
/* Return: true when the peer with these credentials may use this daemon. */
bool authz_allowed(uid_t uid, gid_t gid);

/* ---- interface descriptions (desc.c) ---- */
struct iface_req {
	uint32_t mode;
	bool has_id;
	uuid_t id;
	bool allocate_mac;
	bool has_mtu;
	uint32_t mtu;
	bool has_range;
	struct in_addr start, end, mask;
	bool has_net_id;
	uuid_t net_id;
	bool has_host_ip, has_host_mask, has_host_ip6;
	struct in_addr host_ip, host_mask;
	struct in6_addr host_ip6;
	bool isolation, tso, csum_offload, virtio_hdr;
	char shared_if[64];
	bool has_nat66;
	struct in6_addr nat66;
	/* private keys set by vmnet_interface_start_with_network: the network object and its token */
	bool has_obj, has_obj_token;
	uuid_t obj_id;
	uint8_t obj_token[16];
};
/* Parse and validate an interface_desc. Return: VMNET_SUCCESS or a vmnet_return_t; *why explains a failure. */
uint32_t desc_parse(void *dict, struct iface_req *req, const char **why);
/* Build the interface_param reply dictionary (+1). */
void *desc_param(const struct iface_req *req, const struct network *net, const struct port *p);

/* ---- persistent state (state.c) ---- */
int state_init(const char *dir);
/* The MAC remembered for interface id, if any. Return: true and mac. */
bool state_mac_lookup(const uuid_t id, uint8_t mac[6]);
/* Remember id -> mac (written atomically). Return: 0 or -errno. */
int state_mac_store(const uuid_t id, const uint8_t mac[6]);
/* A fresh locally administered unicast MAC not used by any live port. */
void state_mac_random(uint8_t mac[6]);

#endif
