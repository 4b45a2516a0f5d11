/*
 * tapdev.c — tap devices: open /dev/net/tun, bring links up, give MAC, IPv4
 * and IPv6 addresses (ioctl, no netlink needed), and hop into a network
 * namespace and back.
 */
#include "common/tapdev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"

int tap_open(const char *name, bool vnet_hdr)
{
	struct ifreq ifr;
	int fd, r;

	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
	strcpy(ifr.ifr_name, name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int set_flags_up(int s, const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

static int set_addr(int s, const char *name, unsigned long req, struct in_addr a)
{
	struct ifreq ifr;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = a };

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return ioctl(s, req, &ifr) < 0 ? -errno : 0;
}

int tap_configure(const char *name, const struct in_addr *addr, int prefix)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (s < 0)
		return -errno;
	r = set_flags_up(s, "lo");
	if (r == 0 && addr && prefix > 0) {
		struct in_addr m = { .s_addr = htonl(prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix)) };

		r = set_addr(s, name, SIOCSIFADDR, *addr);
		if (r == 0)
			r = set_addr(s, name, SIOCSIFNETMASK, m);
	}
	if (r == 0)
		r = set_flags_up(s, name);
	close(s);
	return r;
}

int tap_set_mac(const char *name, const uint8_t mac[6])
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	r = ioctl(s, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
	close(s);
	return r;
}

int tap_sysctl6(const char *name, const char *key, const char *value)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", name, key);
	return util_sysctl_write(path, value);
}

int tap_add_addr6(const char *name, const uint8_t addr[16], int prefix)
{
	/* struct in6_ifreq of <linux/ipv6.h>, which clashes with the libc headers. */
	struct {
		struct in6_addr addr;
		uint32_t prefixlen;
		int ifindex;
	} req;
	int s, r;

	memset(&req, 0, sizeof(req));
	memcpy(&req.addr, addr, 16);
	req.prefixlen = (uint32_t)prefix;
	req.ifindex = (int)if_nametoindex(name);
	if (!req.ifindex)
		return -ENODEV;
	s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	r = ioctl(s, SIOCSIFADDR, &req) < 0 ? -errno : 0;
	close(s);
	return r;
}

int tap_in_netns(const char *path, int (*fn)(void *), void *arg)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (self < 0 || target < 0) {
		r = -errno;
		goto out;
	}
	if (setns(target, CLONE_NEWNET) < 0) {
		r = -errno;
		goto out;
	}
	r = fn(arg);
	if (setns(self, CLONE_NEWNET) < 0) {
		fprintf(stderr, "vmnet: cannot return to the original network namespace: %s\n", strerror(errno));
		exit(1);
	}
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return r;
}

int tap_parse_cidr(const char *s, struct in_addr *addr, int *prefix)
{
	char buf[64], *slash, *end;
	long p;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	p = strtol(slash + 1, &end, 10);
	if (*end || p < 1 || p > 32 || inet_pton(AF_INET, buf, addr) != 1)
		return -EINVAL;
	*prefix = (int)p;
	return 0;
}
