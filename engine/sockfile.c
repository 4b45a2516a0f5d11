/*
 * sockfile.c — bind and remove the socket file of a VMM attachment.
 *
 * The path comes from a client and may lie in a directory that client can
 * change (a system vmnetd runs as root). So the directory is opened once and
 * every later operation goes through that descriptor: bind and connect use
 * "/proc/self/fd/N/NAME" (the kernel resolves N to the directory we checked,
 * whatever its path names by then), unlink uses unlinkat. The file's device
 * and inode are recorded right after bind; at detach the file is removed
 * only if it is still that one, so a file someone put there meanwhile is
 * left alone.
 */
#include "engine/sockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(sizeof("/proc/self/fd/2147483647/") - 1 + SOCKFILE_NAME_MAX < sizeof(((struct sockaddr_un *)0)->sun_path),
	       "a name of SOCKFILE_NAME_MAX bytes must fit in sun_path behind /proc/self/fd/N/");

int sockfile_open_dir(const char *path, struct sockfile *sf)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	size_t dlen;

	memset(sf, 0, sizeof(*sf));
	sf->dirfd = -1;
	if (path[0] != '/' || !slash[1] || !strcmp(slash + 1, ".") || !strcmp(slash + 1, ".."))
		return -EINVAL;
	if (strlen(slash + 1) > SOCKFILE_NAME_MAX || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	dlen = (size_t)(slash - path);
	memcpy(dir, path, dlen);
	dir[dlen ? dlen : 1] = 0;
	if (!dlen)
		dir[0] = '/';
	strcpy(sf->name, slash + 1);
	sf->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return sf->dirfd < 0 ? -errno : 0;
}

unsigned sockfile_addr(const struct sockfile *sf, void *sockaddr_un)
{
	struct sockaddr_un *sa = sockaddr_un;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", sf->dirfd, sf->name);
	return (unsigned)(offsetof(struct sockaddr_un, sun_path) + strlen(sa->sun_path) + 1);
}

int sockfile_in_use(const struct sockfile *sf)
{
	struct sockaddr_un sa;
	unsigned len = sockfile_addr(sf, &sa);
	struct stat st;
	int fd, r;

	if (fstatat(sf->dirfd, sf->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST; /* never replace anything but a socket */
	/* A stale socket refuses connections; a live one of either type answers or says EPROTOTYPE. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, len) == 0 ? 1 : errno == ECONNREFUSED ? 0 : errno == ENOENT ? 0 : 1;
	close(fd);
	return r;
}

int sockfile_bind(struct sockfile *sf, int fd)
{
	struct sockaddr_un sa;
	unsigned len = sockfile_addr(sf, &sa);
	struct stat st;

	if (bind(fd, (struct sockaddr *)&sa, len) < 0)
		return -errno;
	if (fstatat(sf->dirfd, sf->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	sf->dev = st.st_dev;
	sf->ino = st.st_ino;
	return 0;
}

void sockfile_remove(struct sockfile *sf)
{
	struct stat st;

	if (sf->dirfd < 0)
		return;
	if (sf->ino && fstatat(sf->dirfd, sf->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == sf->dev && st.st_ino == sf->ino)
		unlinkat(sf->dirfd, sf->name, 0);
	close(sf->dirfd);
	sf->dirfd = -1;
}
