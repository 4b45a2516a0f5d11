/*
 * attach_sock.c — CTL_ATTACH_SOCKET: VMMs attached through sockets.
 *
 * A request names the kind, a unique name, the network (as a tap
 * attachment does: "default", "shared", a UUID, a named network) and either
 * a path or one descriptor:
 *
 *   kind "stream", path P: vmnetd listens on P; every connection is a port
 *       (QEMU -netdev stream,server=off,addr.type=unix,addr.path=P);
 *   kind "dgram", path P: vmnetd binds P; one VMM at a time sends it one
 *       frame per datagram (QEMU -netdev dgram, vfkit/krunkit unixgram);
 *   kind "vhost-user", path P: vmnetd listens on P as a vhost-user-net
 *       backend; every front-end that connects is a port (QEMU -chardev
 *       socket,path=P -netdev vhost-user, cloud-hypervisor);
 *   kind "stream", one fd: a connected stream socket, already the VMM's
 *       (`vmnet run --fd 3` keeps the other end of a socketpair for it).
 *
 * With "persist" the daemon owns the attachment until `vmnet detach NAME`;
 * otherwise it goes with the requesting connection. A descriptor attachment
 * always goes with its connection. With "save" (`vmnet attach --persist`)
 * a path attachment on a named network also goes into the network's
 * definition (netdef.c), which makes it again whenever the network starts;
 * netdef.c makes those through attach_sock_create, on no connection's behalf.
 *
 * Socket files. The path is the client's choice, but a system vmnetd runs as
 * root: it creates the file only where the requesting user may create files
 * (write and search permission on the directory by owner, the user's primary
 * group or others; root may use any directory), replaces an existing file only if it
 * is a socket nobody listens on and the user could have removed it (sticky
 * directories), and hands the new file to the requesting user (mode 0700 by
 * the daemon's umask). Everything after the first open goes through the
 * directory's descriptor (engine/sockfile.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "common/ctl.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "engine/port_dgram.h"
#include "engine/port_stream.h"
#include "engine/port_vhost.h"

/*
 * The paths of live path attachments, by port id, for `vmnet status` (a port
 * keeps only its directory descriptor and file name). Entries of ports that
 * are gone are dropped whenever one is added.
 */
struct sock_path {
	struct sock_path *next;
	uint32_t port_id;
	char path[SOCK_PATH_MAX + 1];
};
static struct sock_path *paths;

static void paths_prune(void)
{
	for (struct sock_path **pp = &paths; *pp;) {
		struct sock_path *sp = *pp;

		if (network_port_by_id(sp->port_id)) {
			pp = &sp->next;
			continue;
		}
		*pp = sp->next;
		free(sp);
	}
}

const char *attach_sock_path(const struct port *p)
{
	for (const struct sock_path *sp = paths; sp; sp = sp->next)
		if (sp->port_id == p->id)
			return sp->path;
	return NULL;
}

/* An attachment name: 1 to SOCK_NAME_MAX of [A-Za-z0-9_.-] (whether it is taken is checked apart). */
static bool name_syntax_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n > SOCK_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

/* Return: NULL, or why path cannot be a socket attachment's path (see attach_sock_spec). */
static const char *path_check(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;
	size_t n = path ? strlen(path) : 0;

	if (!base || path[0] != '/' || !base[1] || !strcmp(base + 1, ".") || !strcmp(base + 1, ".."))
		return "the socket path must be absolute and end in a file name";
	if (n > SOCK_PATH_MAX || strlen(base + 1) > SOCKFILE_NAME_MAX)
		return "the socket path is too long (at most 107 bytes, file name at most 80)";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return "the socket path contains a control character";
	if (path[n - 1] == ' ' || path[n - 1] == '\t')
		return "the socket path ends in a blank";
	return NULL;
}

const char *attach_sock_spec(struct sock_spec *s, const char *kind, const char *name, const char *path,
			     bool isolated)
{
	const char *why;

	memset(s, 0, sizeof(*s));
	if (!kind || (strcmp(kind, "stream") && strcmp(kind, "dgram") && strcmp(kind, "vhost-user")))
		return "kind must be \"stream\", \"dgram\" or \"vhost-user\"";
	if (!name_syntax_ok(name))
		return "an attachment name is 1 to 30 letters, digits, '-', '_' or '.'";
	if ((why = path_check(path)))
		return why;
	snprintf(s->kind, sizeof(s->kind), "%s", kind);
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->isolated = isolated;
	return NULL;
}

/* Could uid have created (and, if present, removed) sf's name itself? Return: 0 or -EACCES. */
static int may_create(uid_t uid, const struct sockfile *sf)
{
	const struct passwd *pw;
	struct stat d, f;
	mode_t need;

	if (uid == 0)
		return 0;
	if (fstat(sf->dirfd, &d) < 0)
		return -errno;
	if (d.st_uid == uid)
		need = S_IWUSR | S_IXUSR;
	else if ((pw = getpwuid(uid)) && d.st_gid == pw->pw_gid)
		need = S_IWGRP | S_IXGRP;
	else
		need = S_IWOTH | S_IXOTH;
	if ((d.st_mode & need) != need)
		return -EACCES;
	/* Sticky directory (/tmp): only the owner of a file or of the directory may replace it. */
	if ((d.st_mode & S_ISVTX) && fstatat(sf->dirfd, sf->name, &f, AT_SYMLINK_NOFOLLOW) == 0 && f.st_uid != uid &&
	    d.st_uid != uid)
		return -EACCES;
	return 0;
}

/* Create, bind (and for streams listen on) the socket file for uid. Return: the fd, or -errno with *why. */
static int bind_path(uid_t uid, const char *path, int type, struct sockfile *sf, const char **why)
{
	int fd, r;

	r = sockfile_open_dir(path, sf);
	if (r < 0) {
		*why = r == -ENAMETOOLONG ? "the socket path is too long (at most 107 bytes, file name at most 80)"
		       : r == -EINVAL     ? "the socket path must be absolute and end in a file name"
		       : r == -ENOENT     ? "the socket's directory does not exist"
					  : "the socket's directory cannot be opened";
		return r;
	}
	if ((r = may_create(uid, sf)) < 0) {
		*why = "you may not create files in the socket's directory";
		goto fail;
	}
	r = sockfile_in_use(sf);
	if (r != 0) {
		*why = r == 1 ? "a socket at that path is in use" : r == -EEXIST ? "that path exists and is not a socket"
										 : "cannot check the socket path";
		r = r == 1 ? -EADDRINUSE : r;
		goto fail;
	}
	(void)unlinkat(sf->dirfd, sf->name, 0); /* a stale socket (checked above), or nothing */
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		*why = "cannot create a socket";
		goto fail;
	}
	if ((r = sockfile_bind(sf, fd)) < 0 || (type == SOCK_STREAM && listen(fd, 16) < 0 && (r = -errno))) {
		close(fd);
		*why = "cannot bind the socket path";
		sockfile_remove(sf);
		return r;
	}
	/* The socket belongs to whoever asked for it (mode 0700 from the daemon's umask). */
	if (geteuid() == 0 && fchownat(sf->dirfd, sf->name, uid, (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0)
		log_warn("cannot hand %s to uid %u: %m", path, (unsigned)uid);
	return fd;
fail:
	close(sf->dirfd);
	sf->dirfd = -1;
	return r;
}

/* A descriptor handed over for a stream port: a connected AF_UNIX stream socket. */
static bool fd_ok(int fd)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return false;
	len = sizeof(int);
	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

static int start_port(struct port *p)
{
	return port_is_dgram(p) ? port_dgram_start(p) : port_is_vhost(p) ? port_vhost_start(p) : port_stream_start(p);
}

/* Put a new port p on net and start it; on failure p is gone and net released if empty. Return: status, *why. */
static uint32_t add_port(struct network *net, struct port *p, const char **why)
{
	if (network_add_port(net, p) < 0) {
		p->ops->destroy(p);
		network_release_if_empty(net);
		*why = "the network has too many ports";
		return VMNET_FAILURE;
	}
	if (start_port(p) < 0) {
		network_remove_port(p); /* frees net too when nothing else holds it */
		*why = "could not start serving the attachment";
		return VMNET_FAILURE;
	}
	return VMNET_SUCCESS;
}

uint32_t attach_sock_create(struct network *net, const struct sock_spec *s, uid_t uid, struct conn *owner,
			    struct port **out, const char **why)
{
	bool stream = !strcmp(s->kind, "stream"), vhost = !strcmp(s->kind, "vhost-user");
	struct sock_path *sp = NULL;
	struct sockfile sf;
	struct port *p;
	uint32_t st = VMNET_INVALID_ARGUMENT;
	int fd, r;

	if (network_port_by_name(s->name)) {
		*why = "an attachment or interface of that name exists already";
		goto fail;
	}
	st = VMNET_MEM_FAILURE;
	*why = "out of memory";
	if (!(sp = calloc(1, sizeof(*sp))))
		goto fail;
	fd = bind_path(uid, s->path, stream || vhost ? SOCK_STREAM : SOCK_DGRAM, &sf, why);
	if (fd < 0) {
		st = fd == -EACCES ? VMNET_NOT_AUTHORIZED : VMNET_INVALID_ARGUMENT;
		goto fail;
	}
	r = vhost    ? port_vhost_listen_new(fd, &sf, s->name, &p)
	    : stream ? port_stream_listen_new(fd, &sf, s->name, &p)
		     : port_dgram_new(fd, &sf, s->name, net->mtu + 14, &p);
	if (r < 0) {
		*why = "out of memory";
		goto fail;
	}
	p->isolated = s->isolated;
	p->owner = owner;
	if ((st = add_port(net, p, why)) != VMNET_SUCCESS) {
		free(sp);
		return st;
	}
	paths_prune();
	sp->port_id = p->id;
	snprintf(sp->path, sizeof(sp->path), "%s", s->path);
	sp->next = paths;
	paths = sp;
	*out = p;
	return VMNET_SUCCESS;
fail:
	free(sp);
	network_release_if_empty(net);
	return st;
}

/* A descriptor attachment: the port of a connected stream socket, owned by c. Return: status, *why. */
static uint32_t attach_fd(struct conn *c, const char *name, bool isolated, struct network *net, int *fdp,
			  struct port **out, const char **why)
{
	int fd = *fdp;

	*fdp = -1; /* the port owns it now, also on failure */
	if (port_stream_new(fd, name, net->mtu + 14, out) < 0) {
		network_release_if_empty(net);
		*why = "out of memory";
		return VMNET_MEM_FAILURE;
	}
	(*out)->isolated = isolated;
	(*out)->owner = c;
	return add_port(net, *out, why);
}

/* Check what does not depend on the network; a path request's spec goes to s. Return: NULL, or why it is refused. */
static const char *check_request(void *d, const int *fds, int nfds, struct sock_spec *s)
{
	const char *kind = xpc_dictionary_get_string(d, "kind"), *path = xpc_dictionary_get_string(d, "path"),
		   *name = xpc_dictionary_get_string(d, "name"), *why;

	if (nfds > 1 || (nfds == 1) == (path != NULL))
		return "an attachment takes either a socket path or one descriptor";
	if (nfds == 1 && (!kind || strcmp(kind, "stream") || !fd_ok(fds[0])))
		return "a descriptor attachment takes one connected UNIX stream socket and no path";
	if (nfds == 1 && xpc_dictionary_get_bool(d, "save"))
		return "only a socket path can be kept in a network's definition";
	if (nfds == 0 && (why = attach_sock_spec(s, kind, name, path, xpc_dictionary_get_bool(d, "isolation"))))
		return why;
	if (nfds == 1 && !name_syntax_ok(name))
		return "an attachment name is 1 to 30 letters, digits, '-', '_' or '.'";
	if (network_port_by_name(name))
		return "an attachment or interface of that name exists already";
	return NULL;
}

void attach_sock_handle(struct conn *c, const struct ctl_hdr *h, void *dict, int *fds, int nfds)
{
	const char *network = xpc_dictionary_get_string(dict, "network"), *name = xpc_dictionary_get_string(dict, "name"),
		   *path = xpc_dictionary_get_string(dict, "path"), *why;
	bool save = xpc_dictionary_get_bool(dict, "save"), isolated = xpc_dictionary_get_bool(dict, "isolation");
	struct sock_spec s;
	struct iface_req req;
	struct network *net;
	struct port *p;
	xpc_object_t rep;
	uint32_t st = VMNET_INVALID_ARGUMENT;

	why = check_request(dict, fds, nfds, &s);
	if (!why && save)
		st = netdef_att_check(c, network, &s, &why);
	if (why) {
		control_reply_error(c, h, st, why);
		return;
	}
	st = attach_network(c, dict, &req, &net, &why);
	if (st == VMNET_SUCCESS && nfds == 1)
		st = attach_fd(c, name, isolated, net, &fds[0], &p, &why);
	else if (st == VMNET_SUCCESS)
		st = attach_sock_create(net, &s, control_conn_uid(c),
					save || xpc_dictionary_get_bool(dict, "persist") ? NULL : c, &p, &why);
	if (st == VMNET_SUCCESS && save && (st = netdef_att_add(network, &s, &why)) != VMNET_SUCCESS)
		network_remove_port(p); /* a named network: pinned, it stays */
	if (st != VMNET_SUCCESS) {
		control_reply_error(c, h, st, why);
		return;
	}
	log_info("%s %s attached to network %s%s%s%s", p->ops->kind, p->name, net->name, path ? " at " : " (descriptor)",
		 path ? path : "", save ? " (kept in its definition)" : p->owner ? "" : " (persistent)");
	rep = xpc_dictionary_create_empty();
	xpc_dictionary_set_uint64(rep, CTL_KEY_PORT_ID, p->id);
	xpc_dictionary_set_string(rep, "network", net->name);
	if (save)
		xpc_dictionary_set_string(rep, "definition", network);
	control_reply(c, h, VMNET_SUCCESS, rep, NULL, 0);
	xpc_release(rep);
}

bool attach_sock_detachable(const struct port *p)
{
	return port_is_stream(p) || port_is_dgram(p) || port_is_vhost(p);
}
