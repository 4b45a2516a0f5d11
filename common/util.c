/* util.c — small shared helpers (see util.h). */
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

void util_mac_to_string(const uint8_t mac[6], char out[UTIL_MAC_STRLEN])
{
	snprintf(out, UTIL_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int util_mac_from_string(const char *s, uint8_t mac[6])
{
	uint8_t out[6];
	int i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		int hi = hexval(*s), lo;

		if (hi < 0)
			return -EINVAL;
		s++;
		lo = hexval(*s);
		if (lo >= 0) {
			out[i] = (uint8_t)(hi << 4 | lo);
			s++;
		} else {
			out[i] = (uint8_t)hi;
		}
		if (i < 5) {
			if (*s != ':' && *s != '-')
				return -EINVAL;
			s++;
		}
	}
	if (*s)
		return -EINVAL;
	memcpy(mac, out, sizeof(out));
	return 0;
}

void util_uuid_to_string(const uint8_t uuid[16], char out[UTIL_UUID_STRLEN])
{
	uuid_unparse_upper(uuid, out);
}

uint64_t util_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int util_doorbell_pair(int *rd, int *wr)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	*rd = p[0];
	*wr = p[1];
	return 0;
}

int util_doorbell_ring(int fd)
{
	char one = 1;
	ssize_t n;

	do
		n = write(fd, &one, 1);
	while (n < 0 && errno == EINTR);
	/* A full pipe already holds a wakeup; a closed reader is the peer's problem. */
	if (n < 0)
		return errno == EAGAIN || errno == EPIPE ? 0 : -errno;
	return 0;
}

int util_doorbell_pair_sock(int *rd, int *wr)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	*rd = sv[0];
	*wr = sv[1];
	return 0;
}

int util_doorbell_ring_nosig(int fd)
{
	char one = 1;
	ssize_t n;

	do
		n = send(fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED || errno == EPIPE ? 0 : -errno;
	return 0;
}

/* Bytes swallowed per read; reads per call are bounded so a flooding peer cannot keep us here. */
#define DOORBELL_DRAIN_BYTES 256
#define DOORBELL_DRAIN_READS 16

unsigned util_doorbell_drain(int fd)
{
	char buf[DOORBELL_DRAIN_BYTES];
	unsigned count = 0;

	for (int i = 0; i < DOORBELL_DRAIN_READS; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		count += (unsigned)n; /* a pipe gives every pending byte, a datagram socket one ring per read */
	}
	return count;
}

/* Create a thread with all signals blocked. Return: 0 or -errno. */
static int spawn(pthread_t *thread, void *(*fn)(void *), void *arg, int detached)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int r;

	r = pthread_attr_init(&attr);
	if (r)
		return -r;
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r)
		return -r;
	if (thread)
		*thread = t;
	return 0;
}

int util_thread_spawn(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	return spawn(thread, fn, arg, 0);
}

int util_thread_spawn_detached(void *(*fn)(void *), void *arg)
{
	return spawn(NULL, fn, arg, 1);
}

int util_write_atomic(const char *path, const void *data, size_t len)
{
	char tmp[4200], dir[4200];
	const char *slash = strrchr(path, '/');
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len && r == 0;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* Make the rename itself durable. */
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

int util_sysctl_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

int util_sysctl_read(const char *path)
{
	char buf[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	return atoi(buf);
}
