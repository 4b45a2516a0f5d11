/*
 * port_tap.c — a tap device on the switch.
 *
 * vmnetd never creates or configures the device: the `vmnet` command (or any
 * other process allowed to) opens it in the right network namespace and
 * passes the descriptor over the control socket. Frames are read in batches
 * of up to TAP_BUDGET per wakeup and written one per write(); a full device
 * queue drops (counted), it never blocks the switch. A device that goes away
 * (its namespace died) reads as an error and the port is torn down.
 *
 * Offloads: a tap opened with IFF_VNET_HDR (the `vmnet` command opens them so)
 * puts a virtio-net header before every frame in both directions. vmnetd
 * then tells the kernel it takes partial checksums and TCP segmentation
 * (TUNSETOFFLOAD), and the guest's stack hands over 64 KiB TCP super-frames
 * that cross the switch whole (engine/offload.h): one read instead of 45. A
 * tap without the flag works as before, with plain frames.
 */
#include "engine/port_tap.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/offload.h"
#include "engine/switch.h"

#define TAP_BUDGET 256
#define TAP_MAX_FRAME 65550
#define TAP_VNET_HDR ((int)sizeof(struct ring_vnet_hdr)) /* 12 bytes: the header with num_buffers */

struct port_tap {
	struct port base;
	struct loop_src src;
	int fd;
	bool vnet; /* every frame read or written starts with a virtio-net header */
};

static uint8_t scratch[TAP_VNET_HDR + OFFLOAD_MAX_FRAME];

static int tap_output(struct port *p, const struct frame *f)
{
	struct port_tap *pt = (struct port_tap *)p;
	ssize_t n;

	if (pt->vnet) {
		struct iovec iov[2] = { { (void *)&f->vnet, TAP_VNET_HDR }, { (void *)f->data, f->len } };

		n = writev(pt->fd, iov, 2);
	} else {
		n = write(pt->fd, f->data, f->len);
	}

	if (n < 0) {
		if (errno == EIO || errno == EBADFD || errno == ENXIO) {
			log_info("tap %s: device gone (%m); detaching", p->name);
			port_mark_broken(p);
		}
		return -ENOBUFS;
	}
	return 0;
}

static void tap_destroy(struct port *p)
{
	struct port_tap *pt = (struct port_tap *)p;

	loop_del(&pt->src);
	if (pt->fd >= 0)
		close(pt->fd);
	loop_defer_free(pt);
}

static const struct port_ops tap_ops = {
	.kind = "tap",
	.output = tap_output,
	.flush = NULL,
	.destroy = tap_destroy,
};

/*
 * Was the tap opened with a virtio-net header? Then size it to our 12-byte
 * header and ask for partial checksums and TCP segmentation (IPv4, IPv6,
 * ECN). Return: 1 when frames carry the header, 0 when they do not, -errno
 * when the header cannot be sized. A kernel that refuses the offloads still
 * gets the header (all zero from the guest's side).
 */
static int tap_offloads_on(int fd, const char *name)
{
	struct ifreq ifr;
	int sz = TAP_VNET_HDR;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_VNET_HDR))
		return 0; /* not a tap of ours to ask, or plain: frames as they are */
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
		int r = -errno;

		log_err("tap %s: cannot size its virtio-net header: %s", name, strerror(-r));
		return r;
	}
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)) < 0)
		log_info("tap %s: the kernel refused offloads (%m); frames stay plain", name);
	return 1;
}

int port_tap_new(int fd, const char *name, struct port_tap **out)
{
	struct port_tap *pt = calloc(1, sizeof(*pt));
	int r;

	if (!pt) {
		close(fd);
		return -ENOMEM;
	}
	pt->fd = fd;
	if ((r = tap_offloads_on(fd, name)) < 0) {
		close(fd);
		free(pt);
		return r;
	}
	pt->vnet = r == 1;
	pt->base.ops = &tap_ops;
	pt->base.max_frame = TAP_MAX_FRAME;
	pt->base.offload = pt->base.offload_src = pt->vnet;
	snprintf(pt->base.name, sizeof(pt->base.name), "%s", name);
	pt->src = (struct loop_src){ .type = EV_TAP, .fd = fd, .obj = pt };
	*out = pt;
	return 0;
}

struct port *port_tap_port(struct port_tap *pt)
{
	return &pt->base;
}

int port_tap_watch(struct port_tap *pt)
{
	return loop_add(&pt->src, EPOLLIN);
}

void port_tap_input(struct port_tap *pt, uint32_t events)
{
	struct port *p = &pt->base;

	for (int i = 0; i < TAP_BUDGET && !p->broken; i++) {
		ssize_t n = read(pt->fd, scratch, sizeof(scratch));
		struct frame f = { 0 };

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			log_info("tap %s: read: %m; detaching", p->name);
			port_mark_broken(p);
			break;
		}
		if (n == 0) {
			port_mark_broken(p);
			break;
		}
		if (pt->vnet) {
			if (n < TAP_VNET_HDR + 14) {
				p->st.rx_errors++;
				continue;
			}
			memcpy(&f.vnet, scratch, sizeof(f.vnet));
			f.vnet.num_buffers = 0;
			f.data = scratch + TAP_VNET_HDR;
			f.len = (uint32_t)(n - TAP_VNET_HDR);
		} else {
			f.data = scratch;
			f.len = (uint32_t)n;
		}
		switch_input(p->net, p, &f);
	}
	if (!p->broken && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		port_mark_broken(p);
	if (p->net)
		switch_flush(p->net);
}
