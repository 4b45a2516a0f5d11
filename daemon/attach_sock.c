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
 * always goes with its connection.
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

/* Attachment names: short enough for "NAME.N" connection names in a port's 40 bytes. */
#define ATTACH_NAME_MAX 30

static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n > ATTACH_NAME_MAX || network_port_by_name(name))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

/* Could the client have created (and, if present, removed) sf's name itself? Return: 0 or -EACCES. */
static int may_create(const struct conn *c, const struct sockfile *sf)
{
	uid_t uid = control_conn_uid(c);
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

/* Create, bind (and for streams listen on) the socket file. Return: the fd, or -errno with *why. */
static int bind_path(const struct conn *c, const char *path, int type, struct sockfile *sf, const char **why)
{
	int fd, r;

	r = sockfile_open_dir(path, sf);
	if (r < 0) {
		*why = r == -ENAMETOOLONG ? "the socket path is too long (at most 107 bytes, file name at most 80)"
		       : r == -EINVAL     ? "the socket path must be absolute and end in a file name"
					  : "the socket's directory cannot be opened";
		return r;
	}
	if ((r = may_create(c, sf)) < 0) {
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
	if (geteuid() == 0 && fchownat(sf->dirfd, sf->name, control_conn_uid(c), (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0)
		log_warn("cannot hand %s to uid %u: %m", path, (unsigned)control_conn_uid(c));
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

/* Make the port of a request. Return: VMNET_SUCCESS and *out, or a status with *why. */
static uint32_t make_port(const struct conn *c, void *d, struct network *net, int *fds, int nfds, struct port **out,
			  const char **why)
{
	const char *kind = xpc_dictionary_get_string(d, "kind"), *path = xpc_dictionary_get_string(d, "path"),
		   *name = xpc_dictionary_get_string(d, "name");
	bool stream = kind && !strcmp(kind, "stream"), vhost = kind && !strcmp(kind, "vhost-user");
	struct sockfile sf;
	int fd, r;

	if (nfds == 1) {
		if (!stream || path || !fd_ok(fds[0])) {
			*why = "a descriptor attachment takes one connected UNIX stream socket and no path";
			return VMNET_INVALID_ARGUMENT;
		}
		fd = fds[0];
		fds[0] = -1; /* the port owns it now */
		r = port_stream_new(fd, name, net->mtu + 14, out);
	} else {
		fd = bind_path(c, path, stream || vhost ? SOCK_STREAM : SOCK_DGRAM, &sf, why);
		if (fd < 0)
			return fd == -EACCES ? VMNET_NOT_AUTHORIZED : VMNET_INVALID_ARGUMENT;
		r = vhost    ? port_vhost_listen_new(fd, &sf, name, out)
		    : stream ? port_stream_listen_new(fd, &sf, name, out)
			     : port_dgram_new(fd, &sf, name, net->mtu + 14, out);
	}
	if (r < 0) {
		*why = "out of memory";
		return VMNET_MEM_FAILURE;
	}
	return VMNET_SUCCESS;
}

/* Check what does not depend on the network. Return: NULL, or why the request is refused. */
static const char *check_request(void *d, int nfds)
{
	const char *kind = xpc_dictionary_get_string(d, "kind"), *path = xpc_dictionary_get_string(d, "path");

	if (!kind || (strcmp(kind, "stream") && strcmp(kind, "dgram") && strcmp(kind, "vhost-user")))
		return "kind must be \"stream\", \"dgram\" or \"vhost-user\"";
	if (!name_ok(xpc_dictionary_get_string(d, "name")))
		return "the attachment needs a unique name of 1 to 30 letters, digits, '-', '_' or '.'";
	if (nfds > 1 || (nfds == 1) == (path != NULL))
		return "an attachment takes either a socket path or one descriptor";
	return NULL;
}

static int start_port(struct port *p)
{
	return port_is_dgram(p) ? port_dgram_start(p) : port_is_vhost(p) ? port_vhost_start(p) : port_stream_start(p);
}

void attach_sock_handle(struct conn *c, const struct ctl_hdr *h, void *dict, int *fds, int nfds)
{
	const char *why = check_request(dict, nfds);
	struct iface_req req;
	struct network *net;
	struct port *p;
	xpc_object_t rep;
	uint32_t st;

	if (why) {
		control_reply_error(c, h, VMNET_INVALID_ARGUMENT, why);
		return;
	}
	st = attach_network(c, dict, &req, &net, &why);
	if (st == VMNET_SUCCESS && (st = make_port(c, dict, net, fds, nfds, &p, &why)) != VMNET_SUCCESS)
		network_release_if_empty(net);
	if (st != VMNET_SUCCESS) {
		control_reply_error(c, h, st, why);
		return;
	}
	p->isolated = xpc_dictionary_get_bool(dict, "isolation");
	p->owner = xpc_dictionary_get_bool(dict, "persist") && nfds == 0 ? NULL : c;
	if (network_add_port(net, p) < 0 || start_port(p) < 0) {
		if (p->net)
			network_remove_port(p);
		else {
			p->ops->destroy(p);
			network_release_if_empty(net);
		}
		control_reply_error(c, h, VMNET_FAILURE, "could not add the attachment to the network");
		return;
	}
	log_info("%s %s attached to network %s%s%s%s", p->ops->kind, p->name, net->name,
		 xpc_dictionary_get_string(dict, "path") ? " at " : " (descriptor)",
		 xpc_dictionary_get_string(dict, "path") ?: "", p->owner ? "" : " (persistent)");
	rep = xpc_dictionary_create_empty();
	xpc_dictionary_set_uint64(rep, CTL_KEY_PORT_ID, p->id);
	xpc_dictionary_set_string(rep, "network", net->name);
	control_reply(c, h, VMNET_SUCCESS, rep, NULL, 0);
	xpc_release(rep);
}

bool attach_sock_detachable(const struct port *p)
{
	return port_is_stream(p) || port_is_dgram(p) || port_is_vhost(p);
}
