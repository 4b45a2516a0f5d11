/* iflist.c — scan /sys/class/net for interfaces usable in bridged mode (see iflist.h). */
#include "common/iflist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSFS_NET "/sys/class/net"
#define ARPHRD_ETHER_TYPE 1

/* Does /sys/class/net/<name>/<leaf> exist? */
static int has_attr(int dirfd, const char *name, const char *leaf)
{
	char path[IFLIST_NAMESIZ + 32];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", name, leaf);
	return fstatat(dirfd, path, &st, 0) == 0;
}

/* Return: the interface's ARPHRD type, or -1 when unreadable. */
static int if_type(int dirfd, const char *name)
{
	char path[IFLIST_NAMESIZ + 32], buf[16];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/type", name);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoi(buf);
}

static int bridgeable(int dirfd, const char *name)
{
	if (name[0] == '.' || strlen(name) >= IFLIST_NAMESIZ || !strcmp(name, "lo"))
		return 0;
	if (if_type(dirfd, name) != ARPHRD_ETHER_TYPE)
		return 0;
	/* A bridge has a bridge/ directory; a tun/tap has tun_flags. */
	if (has_attr(dirfd, name, "bridge") || has_attr(dirfd, name, "tun_flags"))
		return 0;
	return 1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

int iflist_bridgeable(char names[][IFLIST_NAMESIZ], int max)
{
	struct dirent *de;
	int dirfd, n = 0;
	DIR *d;

	dirfd = open(SYSFS_NET, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	d = fdopendir(dirfd);
	if (!d) {
		int r = -errno;

		close(dirfd);
		return r;
	}
	while (n < max && (de = readdir(d))) {
		if (!bridgeable(dirfd, de->d_name))
			continue;
		memcpy(names[n], de->d_name, strlen(de->d_name) + 1);
		n++;
	}
	closedir(d);
	qsort(names, (size_t)n, IFLIST_NAMESIZ, cmp_names);
	return n;
}
