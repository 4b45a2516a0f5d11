/* loop.c — a thin epoll wrapper; see loop.h. */
#include "engine/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int epfd = -1;

int loop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -errno : 0;
}

int loop_add(struct loop_src *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

int loop_mod(struct loop_src *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0 ? -errno : 0;
}

void loop_del(struct loop_src *s)
{
	if (s->fd >= 0 && !s->dead)
		epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->dead = true;
}

static void **deferred;
static size_t ndeferred, cap_deferred;

void loop_defer_free(void *ptr)
{
	if (ndeferred == cap_deferred) {
		size_t ncap = cap_deferred ? cap_deferred * 2 : 16;
		void **n = realloc(deferred, ncap * sizeof(*n));

		if (!n) {
			/* Cannot defer: leak rather than risk a use-after-free. */
			return;
		}
		deferred = n;
		cap_deferred = ncap;
	}
	deferred[ndeferred++] = ptr;
}

void loop_free_deferred(void)
{
	for (size_t i = 0; i < ndeferred; i++)
		free(deferred[i]);
	ndeferred = 0;
}

int loop_wait(struct epoll_event *ev, int max, int timeout_ms)
{
	int n = epoll_wait(epfd, ev, max, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n;
}
