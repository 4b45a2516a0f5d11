/*
 * port_tap.c — a tap device on the switch.
 *
 * vmnetd never creates or configures the device: the `vmnet` command (or any
 * other process allowed to) opens it in the right network namespace and
 * passes the descriptor over the control socket. Frames are read in batches
 * of up to TAP_BUDGET per wakeup and written one per write(); a full device
 * queue drops (counted), it never blocks the switch. A device that goes away
 * (its namespace died) reads as an error and the port is torn down.
 */
#include "engine/port_tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/switch.h"

#define TAP_BUDGET 256
#define TAP_MAX_FRAME 65550

struct port_tap {
	struct port base;
	struct loop_src src;
	int fd;
};

static uint8_t scratch[TAP_MAX_FRAME];

static int tap_output(struct port *p, const struct frame *f)
{
	struct port_tap *pt = (struct port_tap *)p;
	ssize_t n = write(pt->fd, f->data, f->len);

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

int port_tap_new(int fd, const char *name, struct port_tap **out)
{
	struct port_tap *pt = calloc(1, sizeof(*pt));

	if (!pt) {
		close(fd);
		return -ENOMEM;
	}
	pt->fd = fd;
	pt->base.ops = &tap_ops;
	pt->base.max_frame = TAP_MAX_FRAME;
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
		f.data = scratch;
		f.len = (uint32_t)n;
		switch_input(p->net, p, &f);
	}
	if (!p->broken && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		port_mark_broken(p);
	if (p->net)
		switch_flush(p->net);
}
