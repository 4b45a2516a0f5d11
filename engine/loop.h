/*
 * loop.h — the daemon's one event loop: every fd is tagged with its kind and
 * the daemon dispatches on that tag in one switch (daemon/main.c).
 */
#ifndef VMNET_ENGINE_LOOP_H
#define VMNET_ENGINE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

enum ev_type {
	EV_LISTEN, /* control socket: accept */
	EV_CONN,   /* a client's control connection */
	EV_RING,   /* a ring port's TX doorbell */
	EV_TAP,    /* a tap device */
	EV_SIGNAL, /* signalfd */
	EV_TIMER,  /* housekeeping timerfd */
	EV_CALLBACK, /* a service's socket (DNS upstreams, ...): cb(src, events) */
};

struct loop_src;
typedef void (*loop_cb)(struct loop_src *s, uint32_t events);

struct loop_src {
	enum ev_type type;
	int fd;
	void *obj;
	loop_cb cb; /* EV_CALLBACK only */
	bool dead; /* set by loop_del: events already fetched for it are skipped */
};

/* Return: 0 or -errno. */
int loop_init(void);
int loop_add(struct loop_src *s, uint32_t events);
/* Change the events watched on a registered source (EPOLLOUT on and off). Return: 0 or -errno. */
int loop_mod(struct loop_src *s, uint32_t events);
void loop_del(struct loop_src *s);
/* Free ptr after the current batch of events has been dispatched, so that an
 * event fetched in the same batch never points at freed memory. */
void loop_defer_free(void *ptr);
/* End of a batch: free what was deferred. */
void loop_free_deferred(void);
/* Wait for up to max events. Return: count, or -errno (never -EINTR). */
int loop_wait(struct epoll_event *ev, int max, int timeout_ms);

#endif
