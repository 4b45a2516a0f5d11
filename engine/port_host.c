/*
 * port_host.c — the host tap (see port_host.h).
 *
 * The device is not persistent: closing its descriptor removes it, so a
 * daemon that dies takes its host taps with it, and a restarted one creates
 * them again. Router advertisements of our own gateway must not configure
 * the host, so the device does not accept them; the addresses are ours by
 * construction, so duplicate address detection is off.
 */
#include "engine/port_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tapdev.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/offload.h"
#include "engine/switch.h"

#define HOST_TAP_MAX 64
#define HOST_BUDGET 256
#define HOST_MAX_FRAME 65550
#define HOST_VNET_HDR ((int)sizeof(struct ring_vnet_hdr))

struct host_tap {
	struct loop_src src;
	int fd;
	char name[IFNAMSIZ];
	host_tap_input_fn input;
	void *ctx;
};

static uint8_t scratch[HOST_VNET_HDR + OFFLOAD_MAX_FRAME];

bool host_tap_subnet_in_use(struct in_addr addr, struct in_addr mask)
{
	struct ifaddrs *ifa, *i;
	bool used = false;

	if (getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i && !used; i = i->ifa_next) {
		const struct sockaddr_in *sin = (const void *)i->ifa_addr;

		if (sin && sin->sin_family == AF_INET &&
		    (sin->sin_addr.s_addr & mask.s_addr) == (addr.s_addr & mask.s_addr))
			used = true;
	}
	freeifaddrs(ifa);
	return used;
}

static void host_readable(struct loop_src *s, uint32_t events)
{
	struct host_tap *h = s->obj;

	for (int i = 0; i < HOST_BUDGET; i++) {
		ssize_t n = read(h->fd, scratch, sizeof(scratch));

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("host tap %s: read: %m", h->name);
			break;
		}
		if (n < HOST_VNET_HDR + 14)
			continue; /* a runt: the kernel does not send them */
		struct ring_vnet_hdr v;

		memcpy(&v, scratch, sizeof(v));
		v.num_buffers = 0;
		h->input(h->ctx, scratch + HOST_VNET_HDR, (size_t)n - HOST_VNET_HDR, &v);
	}
	(void)events;
}

static int host_configure(const struct host_tap_config *cfg, const char *name)
{
	int r, prefix = __builtin_popcount(cfg->mask.s_addr);

	if ((r = tap_set_mac(name, cfg->mac)) < 0)
		return r;
	/* Before the link comes up: no autoconfiguration from our own RAs, no DAD. */
	tap_sysctl6(name, "accept_ra", "0");
	tap_sysctl6(name, "accept_dad", "0");
	tap_sysctl6(name, "disable_ipv6", cfg->has_addr6 ? "0" : "1");
	if (cfg->mtu) {
		struct ifreq ifr;
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		ifr.ifr_mtu = (int)cfg->mtu;
		if (s >= 0) {
			if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
				log_warn("host tap %s: MTU %u: %m", name, cfg->mtu);
			close(s);
		}
	}
	if ((r = tap_configure(name, &cfg->addr, prefix)) < 0)
		return r;
	if (cfg->has_addr6 && (r = tap_add_addr6(name, cfg->addr6, 64)) < 0)
		log_warn("host tap %s: IPv6 address: %s", name, strerror(-r));
	return 0;
}

/* A 12-byte header before every frame; partial checksums and TCP super-frames both ways. */
static int host_offloads(int fd, const char *name)
{
	int sz = HOST_VNET_HDR;

	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)
		return -errno;
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)) < 0)
		log_info("host tap %s: the kernel refused offloads (%m); frames stay plain", name);
	return 0;
}

int host_tap_open(const struct host_tap_config *cfg, struct host_tap **out)
{
	struct host_tap *h;
	char name[IFNAMSIZ];
	int fd = -1, r;

	if (host_tap_subnet_in_use(cfg->addr, cfg->mask))
		return -EADDRINUSE;
	for (unsigned i = 0; i < HOST_TAP_MAX && fd < 0; i++) {
		snprintf(name, sizeof(name), "vmnet-host%u", i);
		if (if_nametoindex(name))
			continue; /* another daemon's (or a leftover persistent device) */
		fd = tap_open(name, true);
		if (fd == -EPERM || fd == -EACCES || fd == -ENOENT)
			return fd;
	}
	if (fd < 0)
		return fd == -1 ? -ENOSPC : fd;
	if ((r = host_configure(cfg, name)) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || (r = host_offloads(fd, name)) < 0) {
		close(fd);
		return r < 0 ? r : -errno;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->input = cfg->input;
	h->ctx = cfg->ctx;
	h->src = (struct loop_src){ .type = EV_CALLBACK, .fd = fd, .obj = h, .cb = host_readable };
	if ((r = loop_add(&h->src, EPOLLIN)) < 0) {
		close(fd);
		free(h);
		return r;
	}
	*out = h;
	return 0;
}

void host_tap_close(struct host_tap *h)
{
	if (!h)
		return;
	loop_del(&h->src);
	close(h->fd);
	loop_defer_free(h);
}

const char *host_tap_name(const struct host_tap *h)
{
	return h->name;
}

int host_tap_write(struct host_tap *h, const uint8_t *frame, size_t len, const struct ring_vnet_hdr *vnet)
{
	static const struct ring_vnet_hdr plain;
	struct iovec iov[2] = { { (void *)(vnet ? vnet : &plain), HOST_VNET_HDR }, { (void *)frame, len } };

	return writev(h->fd, iov, 2) < 0 ? -ENOBUFS : 0;
}

/* --- the host tap as a port of its own (identifier networks) --- */

struct host_port {
	struct port base; /* first */
	struct host_tap *tap;
};

static int hp_output(struct port *p, const struct frame *f)
{
	return host_tap_write(((struct host_port *)p)->tap, f->data, f->len, &f->vnet);
}

static void hp_destroy(struct port *p)
{
	struct host_port *hp = (struct host_port *)p;

	log_info("host tap %s removed", host_tap_name(hp->tap));
	host_tap_close(hp->tap);
	loop_defer_free(hp);
}

static const struct port_ops host_port_ops = {
	.kind = "host",
	.output = hp_output,
	.flush = NULL,
	.destroy = hp_destroy,
};

static void hp_input(void *ctx, const uint8_t *frame, size_t len, const struct ring_vnet_hdr *vnet)
{
	struct host_port *hp = ctx;
	struct frame f = { .data = frame, .len = (uint32_t)len, .vnet = *vnet };

	if (!hp->base.net || hp->base.removed)
		return;
	switch_input(hp->base.net, &hp->base, &f);
	switch_flush(hp->base.net);
}

int host_port_attach(struct network *net, const struct host_tap_config *cfg)
{
	struct host_port *hp = calloc(1, sizeof(*hp));
	struct host_tap_config c = *cfg;
	int r;

	if (!hp)
		return -ENOMEM;
	c.input = hp_input;
	c.ctx = hp;
	if ((r = host_tap_open(&c, &hp->tap)) < 0) {
		free(hp);
		return r;
	}
	hp->base.ops = &host_port_ops;
	hp->base.host_side = true;
	hp->base.max_frame = HOST_MAX_FRAME;
	hp->base.offload = hp->base.offload_src = true;
	memcpy(hp->base.mac, cfg->mac, 6);
	hp->base.has_mac = true;
	snprintf(hp->base.name, sizeof(hp->base.name), "%s", host_tap_name(hp->tap));
	if ((r = network_add_port(net, &hp->base)) < 0) {
		host_tap_close(hp->tap);
		loop_defer_free(hp);
		return r;
	}
	return 0;
}
