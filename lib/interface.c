/*
 * interface.c — vmnet interfaces: start, packet I/O, event callbacks, stop.
 *
 * Status conventions (spec §3.4/§4 leave them open; these are ours):
 *  - read/write before the start handler ran: VMNET_SETUP_INCOMPLETE
 *    (registering an event callback then is accepted and takes effect once
 *    the interface runs);
 *  - on an interface whose start failed, or after vmnet_stop_interface():
 *    VMNET_INVALID_ARGUMENT (the handle no longer names an interface);
 *  - after the daemon died (control connection closed): VMNET_FAILURE,
 *    immediately and for good — never a hang;
 *  - vmnet_write is all or nothing: VMNET_BUFFER_EXHAUSTED with *pktcnt = 0
 *    when the TX ring cannot take the whole batch;
 *  - a received frame larger than the caller's buffer is consumed and dropped
 *    (counted, debug log), never returned truncated.
 *
 * Theory of operation
 * -------------------
 * Threads. vmnet_start_interface() returns the handle at once; a private
 * start thread connects to vmnetd, sends CTL_START, maps the rings and starts
 * the interface's event thread, then schedules the start handler on the
 * caller's queue. vmnet_stop_interface() likewise hands the work to a private
 * stop thread, which schedules the stop handler when done. Every thread made
 * here blocks all signals (util_thread_spawn).
 *
 * Locks. `lock` guards the control state (callback registration, in-flight
 * flags, stop flags); `rx_lock` serialises readers, `tx_lock` writers, so a
 * read and a write run in parallel. No path holds two of them except the stop
 * thread, which takes rx_lock then tx_lock to close packet I/O. Nothing calls
 * into dispatch or user code with a lock held.
 *
 * Events. The event thread sleeps in poll() on the RX doorbell (kick_rx), the
 * control socket (hang-up = daemon died) and a private `nudge` eventfd. It
 * dispatches the callback when: a callback is registered, none of this
 * interface's callbacks is in flight (dispatched and not finished), the RX
 * ring is non-empty, and the producer index moved since the last delivered
 * event (new arrivals) — or the callback was (re)registered since. The
 * estimate is the backlog at the moment the callback is invoked. When a
 * callback returns, its trampoline nudges the event thread, which re-evaluates
 * the rule: packets that arrived during the callback and are still unread
 * produce one more event; a backlog the client chose to leave, without new
 * arrivals, does not. Only while it waits for arrivals does the event thread
 * set need_wakeup (ring_cons_prepare_sleep); during a callback and while busy
 * the daemon's producer makes no syscalls.
 *
 * Disabling bumps a generation number under `lock`: a dispatched callback
 * whose generation is stale is skipped, so after disable returns no new
 * callback starts, and disable never waits (safe inside the callback or
 * while one blocks). Stop disables, waits for a *running* callback to return
 * unless stop was called from inside it (thread-local), joins the event
 * thread, sends CTL_STOP, unmaps and closes, then schedules the stop handler.
 *
 * Lifetime. The handle is reference counted: one reference for the caller
 * (dropped after the stop handler returned), one for the start thread and its
 * handler, one per dispatched callback. An interface whose start failed and
 * that is never stopped keeps its (small) struct: stopping it stays legal.
 */
#include <Block.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "common/ctl.h"
#include "common/log.h"
#include "common/ring.h"
#include "common/util.h"
#include "lib/client.h"
#include "lib/interface_internal.h"
#include "lib/network_internal.h"

#define ETH_HDR_LEN 14
#define DEFAULT_MAX_PACKETS 256u
#define DEFAULT_MAX_PACKET_SIZE 1514u
#define MAX_BATCH_LIMIT 65536u

enum if_state { IF_STARTING, IF_RUNNING, IF_FAILED };

/* What the event thread's evaluation decided. */
enum ev_verdict { EV_IDLE, EV_WAIT_ARRIVALS, EV_FIRED };

/* A registered event callback. Reference counted: a dispatched event keeps it while a new one is installed. */
struct ev_cb {
	_Atomic int refs;
	dispatch_queue_t queue;
	vmnet_interface_event_callback_f fn;
	void *ctx;
	void *block; /* the Block_copy behind ctx for the block API, or NULL */
};

/* A start or stop completion handler and its result. */
struct completion {
	dispatch_queue_t queue;
	vmnet_start_interface_completion_handler_f start_fn;
	vmnet_interface_completion_handler_f stop_fn;
	void *ctx;
	void *block;
	vmnet_return_t status;
	xpc_object_t param;
};

struct vmnet_interface {
	_Atomic int refs;
	_Atomic int state; /* enum if_state */
	_Atomic bool stop_called;
	_Atomic bool dead; /* the daemon closed the control connection */
	_Atomic bool ev_exit;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* cb_running went false */
	/* under lock */
	bool start_done, stop_pending, stopping, stop_from_cb;
	struct ev_cb *ev_cb;
	uint64_t ev_gen;
	struct ev_cb *inflight_cb;
	uint64_t inflight_gen;
	bool cb_inflight, cb_running, fired_valid;
	uint32_t fired_prod;
	int nudge; /* set once by the start thread, closed at free */

	/* set by the start thread before state becomes IF_RUNNING */
	int sock, kick_tx, kick_rx;
	void *shm;
	struct ring_layout layout;
	uint32_t max_packet_size, read_max, write_max;
	uint32_t vnet_len; /* 12 with vmnet_enable_virtio_header: the header before every frame; else 0 */
	pthread_t ev_thread;
	bool ev_thread_started;

	pthread_mutex_t rx_lock;
	struct ring rx;
	uint64_t rx_skipped;
	pthread_mutex_t tx_lock;
	struct ring tx;
	bool io_closed; /* written under rx_lock and tx_lock */

	xpc_object_t desc; /* private copy until the start handler ran */
	/* vmnet_interface_start_with_network: the network retained while the interface may use it */
	_Atomic(void *) net_hold;
	void (*net_release)(void *net);
	dispatch_queue_t home; /* the start queue, retained for the interface's life (port-forward handlers) */
	uint64_t port_id;      /* the daemon's id of our port (set before state becomes IF_RUNNING) */
	struct completion start, stop;
};

/* The interface whose event callback runs on this thread, if any. */
static _Thread_local struct vmnet_interface *tls_cb_iface;

static __attribute__((constructor)) void libvmnet_log_setup(void)
{
	log_init("libvmnet");
}

/* ------------------------------------------------------------------ */
/* errors, references                                                  */
/* ------------------------------------------------------------------ */

/* Map an internal -errno to the API's status. Return: the vmnet_return_t. */
static vmnet_return_t errno_status(int r)
{
	static const struct {
		int err;
		vmnet_return_t status;
	} map[] = {
		{ 0, VMNET_SUCCESS },
		{ ENOMEM, VMNET_MEM_FAILURE },
		{ EINVAL, VMNET_INVALID_ARGUMENT },
		{ EACCES, VMNET_NOT_AUTHORIZED },
		{ EPERM, VMNET_NOT_AUTHORIZED },
		{ EMSGSIZE, VMNET_PACKET_TOO_BIG },
		{ ENOBUFS, VMNET_BUFFER_EXHAUSTED },
		{ EAGAIN, VMNET_BUFFER_EXHAUSTED },
		{ E2BIG, VMNET_TOO_MANY_PACKETS },
		{ EBUSY, VMNET_SHARING_SERVICE_BUSY },
		{ EADDRINUSE, VMNET_SHARING_SERVICE_BUSY },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].err == -r)
			return map[i].status;
	return VMNET_FAILURE;
}

static struct ev_cb *ev_cb_ref(struct ev_cb *cb)
{
	if (cb)
		atomic_fetch_add(&cb->refs, 1);
	return cb;
}

static void ev_cb_unref(struct ev_cb *cb)
{
	if (!cb || atomic_fetch_sub(&cb->refs, 1) != 1)
		return;
	if (cb->block)
		Block_release(cb->block);
	dispatch_release(cb->queue);
	free(cb);
}

static void iface_ref(struct vmnet_interface *ifc)
{
	atomic_fetch_add(&ifc->refs, 1);
}

/* Drop the interface's retain of its network object, once: after a failed start or a stop. */
static void iface_drop_network(struct vmnet_interface *ifc)
{
	void *net = atomic_exchange(&ifc->net_hold, NULL);

	if (net)
		ifc->net_release(net);
}

static void iface_unref(struct vmnet_interface *ifc)
{
	if (atomic_fetch_sub(&ifc->refs, 1) != 1)
		return;
	iface_drop_network(ifc);
	ev_cb_unref(ifc->ev_cb);
	if (ifc->home)
		dispatch_release(ifc->home);
	if (ifc->nudge >= 0)
		close(ifc->nudge);
	pthread_mutex_destroy(&ifc->lock);
	pthread_cond_destroy(&ifc->cond);
	pthread_mutex_destroy(&ifc->rx_lock);
	pthread_mutex_destroy(&ifc->tx_lock);
	free(ifc);
}

/* Return: a new interface with two references (caller, start thread), or NULL. */
static struct vmnet_interface *iface_new(void)
{
	struct vmnet_interface *ifc = calloc(1, sizeof(*ifc));

	if (!ifc)
		return NULL;
	atomic_init(&ifc->refs, 2);
	atomic_init(&ifc->state, IF_STARTING);
	pthread_mutex_init(&ifc->lock, NULL);
	pthread_cond_init(&ifc->cond, NULL);
	pthread_mutex_init(&ifc->rx_lock, NULL);
	pthread_mutex_init(&ifc->tx_lock, NULL);
	ifc->sock = ifc->kick_tx = ifc->kick_rx = ifc->nudge = -1;
	return ifc;
}

/* Wake the event thread so it re-evaluates. */
/* Reset the nudge eventfd (one read does it; empty is fine). */
static void nudge_clear(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("nudge: %m");
}

static void iface_nudge(struct vmnet_interface *ifc)
{
	int fd;

	pthread_mutex_lock(&ifc->lock);
	fd = ifc->nudge;
	pthread_mutex_unlock(&ifc->lock);
	if (fd >= 0) {
		uint64_t one = 1; /* an eventfd: a failed write means a wakeup is already pending */

		if (write(fd, &one, sizeof(one)) < 0)
			log_debug("nudge: %m");
	}
}

/* Unmap the rings and close the daemon's descriptors (idempotent). */
static void iface_release_io(struct vmnet_interface *ifc)
{
	ring_unmap(ifc->shm, &ifc->layout);
	ifc->shm = NULL;
	if (ifc->sock >= 0)
		close(ifc->sock);
	if (ifc->kick_tx >= 0)
		close(ifc->kick_tx);
	if (ifc->kick_rx >= 0)
		close(ifc->kick_rx);
	ifc->sock = ifc->kick_tx = ifc->kick_rx = -1;
}

/*
 * RX backlog as seen outside the reader: the producer index first, then the
 * consumer's published index (reading them the other way round could see a
 * refilled ring as impossible). A reader that got ahead of our snapshot
 * means 0.
 * Return: frames queued, or -EPROTO when the daemon's index is impossible.
 */
static int rx_backlog(struct vmnet_interface *ifc, uint32_t *prod)
{
	struct ring_ctl *c = ifc->rx.ctl;
	uint32_t p = atomic_load_explicit(&c->prod, memory_order_acquire);
	uint32_t n = p - atomic_load_explicit(&c->cons, memory_order_acquire);

	*prod = p;
	if ((int32_t)n < 0)
		return 0;
	if (n > ifc->rx.nslots)
		return -EPROTO;
	return (int)n;
}

/* ------------------------------------------------------------------ */
/* event thread                                                        */
/* ------------------------------------------------------------------ */

static void ev_trampoline(void *ctx);

/*
 * Apply the event rule once (see the theory of operation).
 * Return: an enum ev_verdict, or -EPROTO for a corrupt ring.
 */
static int ev_evaluate(struct vmnet_interface *ifc)
{
	dispatch_queue_t q;
	uint32_t prod;
	int n;

	pthread_mutex_lock(&ifc->lock);
	if (!ifc->ev_cb || ifc->cb_inflight || ifc->stopping) {
		pthread_mutex_unlock(&ifc->lock);
		return EV_IDLE;
	}
	n = rx_backlog(ifc, &prod);
	if (n <= 0 || (ifc->fired_valid && prod == ifc->fired_prod)) {
		pthread_mutex_unlock(&ifc->lock);
		return n < 0 ? n : EV_WAIT_ARRIVALS;
	}
	ifc->cb_inflight = true;
	ifc->inflight_cb = ev_cb_ref(ifc->ev_cb);
	ifc->inflight_gen = ifc->ev_gen;
	q = ifc->inflight_cb->queue;
	iface_ref(ifc);
	pthread_mutex_unlock(&ifc->lock);
	dispatch_async_f(q, ifc, ev_trampoline);
	return EV_FIRED;
}

/*
 * Sleep until a doorbell, a nudge or a hang-up of the control socket.
 * Return: 0, or -ECONNRESET when the daemon is gone.
 */
static int ev_wait(struct vmnet_interface *ifc)
{
	struct pollfd p[3] = {
		{ .fd = ifc->kick_rx, .events = POLLIN },
		{ .fd = ifc->sock, .events = POLLRDHUP },
		{ .fd = ifc->nudge, .events = POLLIN },
	};
	int r;

	do
		r = poll(p, 3, -1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (p[1].revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL))
		return -ECONNRESET;
	if (p[0].revents & POLLIN)
		util_doorbell_drain(ifc->kick_rx);
	if (p[2].revents & POLLIN)
		nudge_clear(ifc->nudge);
	return 0;
}

/* The event thread: one per running interface, until stop or daemon death. */
static void *ev_thread_main(void *arg)
{
	struct vmnet_interface *ifc = arg;
	struct ring view = ifc->rx; /* private copy: only need_wakeup is touched through it */
	int r = 0;

	while (!atomic_load(&ifc->ev_exit)) {
		r = ev_evaluate(ifc);
		if (r == EV_WAIT_ARRIVALS) {
			/* Ask for a doorbell, then re-check: an arrival after the fence kicks us. */
			view.cons = atomic_load_explicit(&view.ctl->cons, memory_order_acquire);
			ring_cons_prepare_sleep(&view);
			r = ev_evaluate(ifc);
			if (r != EV_WAIT_ARRIVALS)
				ring_cons_awake(&view);
		}
		if (r < 0)
			break;
		if (r == EV_FIRED)
			continue;
		r = ev_wait(ifc);
		ring_cons_awake(&view);
		if (r < 0)
			break;
	}
	if (r < 0) {
		atomic_store(&ifc->dead, true);
		log_warn("interface lost: %s", r == -ECONNRESET ? "vmnetd closed the connection"
					      : r == -EPROTO	? "vmnetd corrupted the receive ring"
								: strerror(-r));
	}
	return NULL;
}

static void call_event_block(void *ctx, interface_event_t mask, xpc_object_t event)
{
	((vmnet_interface_event_callback_t)ctx)(mask, event);
}

/* Decide under lock whether a dispatched event still runs. Return: the estimate, 0 to skip. */
static uint64_t ev_begin(struct vmnet_interface *ifc)
{
	uint32_t prod;
	int n = 0;

	pthread_mutex_lock(&ifc->lock);
	if (ifc->inflight_gen == ifc->ev_gen && !ifc->stopping && !atomic_load(&ifc->dead)) {
		n = rx_backlog(ifc, &prod);
		if (n > 0) {
			ifc->fired_prod = prod;
			ifc->fired_valid = true;
			ifc->cb_running = true;
		}
	}
	pthread_mutex_unlock(&ifc->lock);
	return n > 0 ? (uint64_t)n : 0;
}

/* Runs on the callback's queue: invoke the client's callback unless disabled meanwhile. */
static void ev_trampoline(void *ctx)
{
	struct vmnet_interface *ifc = ctx;
	struct ev_cb *cb = ifc->inflight_cb;
	uint64_t n = ev_begin(ifc);
	struct vmnet_interface *prev;
	xpc_object_t event;

	if (n) {
		event = xpc_dictionary_create_empty();
		xpc_dictionary_set_uint64(event, vmnet_estimated_packets_available_key, n);
		prev = tls_cb_iface;
		tls_cb_iface = ifc;
		cb->fn(cb->ctx, VMNET_INTERFACE_PACKETS_AVAILABLE, event);
		tls_cb_iface = prev;
		xpc_release(event);
	}
	pthread_mutex_lock(&ifc->lock);
	ifc->cb_running = false;
	ifc->cb_inflight = false;
	ifc->inflight_cb = NULL;
	pthread_cond_broadcast(&ifc->cond);
	pthread_mutex_unlock(&ifc->lock);
	iface_nudge(ifc);
	ev_cb_unref(cb);
	iface_unref(ifc);
}

/* ------------------------------------------------------------------ */
/* start                                                               */
/* ------------------------------------------------------------------ */

/* Copy the public keys of a CTL_START reply (drop the private "vmnet." ones). */
static bool copy_public_key(void *ctx, const char *key, xpc_object_t value)
{
	if (strncmp(key, "vmnet.", 6) != 0)
		xpc_dictionary_set_value(ctx, key, value);
	return true;
}

/* Read an optional uint64 limit: 0 / absent gives dflt. */
static uint64_t param_u64(xpc_object_t d, const char *key, uint64_t dflt)
{
	uint64_t v = xpc_dictionary_get_uint64(d, key);

	return v ? v : dflt;
}

/* Map the memfd and check it against the geometry we were told. Return: 0 or -errno. */
static int iface_map_rings(struct vmnet_interface *ifc, xpc_object_t reply, int memfd)
{
	uint64_t nslots = xpc_dictionary_get_uint64(reply, CTL_KEY_RING_NSLOTS);
	uint64_t max_frame = xpc_dictionary_get_uint64(reply, CTL_KEY_RING_MAX_FRAME);
	struct stat st;
	int r;

	if (nslots > UINT32_MAX || max_frame > UINT32_MAX)
		return -EPROTO;
	r = ring_layout_init(&ifc->layout, (uint32_t)nslots, (uint32_t)max_frame);
	if (r < 0)
		return -EPROTO;
	/* A short memfd would turn ring accesses into SIGBUS. */
	if (fstat(memfd, &st) < 0 || (uint64_t)st.st_size < ifc->layout.total)
		return -EPROTO;
	ifc->shm = ring_map(memfd, &ifc->layout);
	if (!ifc->shm)
		return -errno;
	r = ring_shm_check(ifc->shm, &ifc->layout);
	if (r < 0)
		return r;
	ring_attach(&ifc->tx, ifc->shm, &ifc->layout, RING_TX);
	ring_attach(&ifc->rx, ifc->shm, &ifc->layout, RING_RX);
	return 0;
}

/* Take the rings, doorbells and limits of a successful CTL_START reply. Return: 0 or -errno (fds consumed). */
static int iface_attach(struct vmnet_interface *ifc, xpc_object_t reply, int *fds, int nfds)
{
	uint64_t mps;
	int r = nfds == 3 ? iface_map_rings(ifc, reply, fds[0]) : -EPROTO;

	/* The memfd is not needed once mapped; the doorbells are kept. */
	for (int i = 0; i < nfds; i++)
		if (r < 0 || (i != 1 && i != 2))
			close(fds[i]);
	if (r < 0)
		return r;
	ifc->kick_tx = fds[1];
	ifc->kick_rx = fds[2];
	ifc->vnet_len = xpc_dictionary_get_bool(reply, CTL_KEY_RING_VNET_HDR) ? (uint32_t)sizeof(struct ring_vnet_hdr) : 0;
	mps = param_u64(reply, vmnet_max_packet_size_key, DEFAULT_MAX_PACKET_SIZE);
	if (mps > (uint64_t)ifc->layout.max_frame + ifc->vnet_len)
		return -EPROTO;
	ifc->max_packet_size = (uint32_t)mps;
	ifc->read_max = (uint32_t)param_u64(reply, vmnet_read_max_packets_key, DEFAULT_MAX_PACKETS);
	ifc->write_max = (uint32_t)param_u64(reply, vmnet_write_max_packets_key, DEFAULT_MAX_PACKETS);
	if (ifc->read_max > MAX_BATCH_LIMIT)
		ifc->read_max = MAX_BATCH_LIMIT;
	/* A whole write batch must fit in the ring (all or nothing). */
	if (ifc->write_max > ifc->layout.nslots)
		ifc->write_max = ifc->layout.nslots;
	return 0;
}

/* Create the nudge eventfd and the event thread. Return: 0 or -errno. */
static int iface_start_events(struct vmnet_interface *ifc)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r;

	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&ifc->lock);
	ifc->nudge = fd;
	pthread_mutex_unlock(&ifc->lock);
	r = util_thread_spawn(&ifc->ev_thread, ev_thread_main, ifc);
	if (r == 0)
		ifc->ev_thread_started = true;
	return r;
}

/* Handle the reply to CTL_START. Return: the status for the start handler (*param set on success). */
static vmnet_return_t iface_take_reply(struct vmnet_interface *ifc, const struct ctl_hdr *hdr, xpc_object_t reply,
				       int *fds, int nfds, xpc_object_t *param)
{
	const char *why;
	int r;

	if (hdr->status != VMNET_SUCCESS) {
		why = xpc_dictionary_get_string(reply, CTL_KEY_ERROR);
		log_warn("vmnetd refused the interface: %s (%s)", why ? why : "no reason given",
			 vmnet_strerror(hdr->status));
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (hdr->status < VMNET_FAILURE || hdr->status > VMNET_NOT_AUTHORIZED)
			return VMNET_FAILURE;
		return hdr->status;
	}
	r = iface_attach(ifc, reply, fds, nfds);
	if (r < 0) {
		log_warn("malformed CTL_START reply from vmnetd: %s", strerror(-r));
		return VMNET_FAILURE;
	}
	*param = xpc_dictionary_create_empty();
	if (!*param)
		return VMNET_MEM_FAILURE;
	ifc->port_id = xpc_dictionary_get_uint64(reply, CTL_KEY_PORT_ID);
	xpc_dictionary_apply_f(reply, *param, copy_public_key);
	/* The batch limits vmnet_read/vmnet_write enforce, which iface_attach() may have lowered
	 * (a TSO ring has 128 slots, and a write batch must fit the ring whole). */
	xpc_dictionary_set_uint64(*param, vmnet_read_max_packets_key, ifc->read_max);
	xpc_dictionary_set_uint64(*param, vmnet_write_max_packets_key, ifc->write_max);
	r = iface_start_events(ifc);
	return errno_status(r);
}

/* Connect, send CTL_START, set the interface up. Return: the status for the start handler. */
static vmnet_return_t iface_start(struct vmnet_interface *ifc, xpc_object_t *param)
{
	int fds[CTL_MAX_FDS], nfds = 0, r;
	struct ctl_hdr hdr;
	xpc_object_t reply;
	vmnet_return_t st;

	r = client_connect(&ifc->sock);
	if (r < 0) {
		log_warn("cannot reach vmnetd: %s", strerror(-r));
		return errno_status(r);
	}
	r = client_request(ifc->sock, CTL_START, ifc->desc, &hdr, &reply, fds, &nfds);
	if (r < 0) {
		log_warn("CTL_START failed: %s", strerror(-r));
		return errno_status(r);
	}
	st = iface_take_reply(ifc, &hdr, reply, fds, nfds, param);
	xpc_release(reply);
	return st;
}

static void stop_launch(struct vmnet_interface *ifc);

/* Runs on the caller's queue: the start handler, then a stop that was requested meanwhile. */
static void start_trampoline(void *ctx)
{
	struct vmnet_interface *ifc = ctx;
	struct completion *c = &ifc->start;
	bool launch;

	c->start_fn(c->ctx, c->status, c->param);
	if (c->param)
		xpc_release(c->param);
	if (c->block)
		Block_release(c->block);
	dispatch_release(c->queue);
	xpc_release(ifc->desc);
	ifc->desc = NULL;
	pthread_mutex_lock(&ifc->lock);
	ifc->start_done = true;
	launch = ifc->stop_pending;
	ifc->stop_pending = false;
	pthread_mutex_unlock(&ifc->lock);
	if (launch)
		stop_launch(ifc);
	iface_unref(ifc);
}

/* The start thread. */
static void *start_thread_main(void *arg)
{
	struct vmnet_interface *ifc = arg;
	xpc_object_t param = NULL;
	vmnet_return_t st = iface_start(ifc, &param);

	if (st != VMNET_SUCCESS) {
		if (param)
			xpc_release(param);
		param = NULL;
		iface_release_io(ifc);
		iface_drop_network(ifc);
	}
	ifc->start.status = st;
	ifc->start.param = param;
	atomic_store_explicit(&ifc->state, st == VMNET_SUCCESS ? IF_RUNNING : IF_FAILED, memory_order_release);
	dispatch_async_f(ifc->start.queue, ifc, start_trampoline);
	return NULL;
}

/* Validate, make the handle, launch the start thread. Return: the handle or NULL (handler not called). */
static interface_ref start_common(xpc_object_t desc, dispatch_queue_t queue,
				  vmnet_start_interface_completion_handler_f fn, void *ctx, void *block, void *net,
				  void (*net_release)(void *net))
{
	struct vmnet_interface *ifc;

	if (!desc || xpc_get_type(desc) != XPC_TYPE_DICTIONARY || !queue || !fn)
		return NULL;
	ifc = iface_new();
	if (!ifc)
		return NULL;
	ifc->desc = xpc_copy(desc);
	ifc->net_release = net_release;
	atomic_store(&ifc->net_hold, net);
	ifc->start = (struct completion){ .queue = queue, .start_fn = fn, .ctx = ctx, .block = block };
	dispatch_retain(queue);
	ifc->home = queue;
	dispatch_retain(queue);
	if (ifc->desc && util_thread_spawn_detached(start_thread_main, ifc) == 0)
		return ifc;
	dispatch_release(queue);
	if (ifc->desc)
		xpc_release(ifc->desc);
	atomic_store(&ifc->net_hold, NULL); /* not taken: the caller keeps its retain */
	atomic_store(&ifc->refs, 1);
	iface_unref(ifc);
	return NULL;
}

interface_ref iface_start_on_network(xpc_object_t desc, dispatch_queue_t queue,
				     vmnet_start_interface_completion_handler_f fn, void *ctx, void *block, void *net,
				     void (*net_release)(void *net))
{
	return start_common(desc, queue, fn, ctx, block, net, net_release);
}

interface_ref vmnet_start_interface_f(xpc_object_t interface_desc, dispatch_queue_t queue, void *context,
				      vmnet_start_interface_completion_handler_f handler)
{
	return start_common(interface_desc, queue, handler, context, NULL, NULL, NULL);
}

static void call_start_block(void *ctx, vmnet_return_t status, xpc_object_t param)
{
	((vmnet_start_interface_completion_handler_t)ctx)(status, param);
}

interface_ref vmnet_start_interface(xpc_object_t interface_desc, dispatch_queue_t queue,
				    vmnet_start_interface_completion_handler_t handler)
{
	interface_ref ifc;
	void *b;

	if (!handler || !interface_desc || !queue)
		return NULL;
	b = (void *)Block_copy(handler);
	ifc = start_common(interface_desc, queue, call_start_block, b, b, NULL, NULL);
	if (!ifc)
		Block_release(b);
	return ifc;
}

/* ------------------------------------------------------------------ */
/* event callback registration                                         */
/* ------------------------------------------------------------------ */

/* Install (queue non-NULL) or remove the callback. Return: VMNET_SUCCESS or an error (block not taken). */
static vmnet_return_t set_event_common(struct vmnet_interface *ifc, interface_event_t mask, dispatch_queue_t queue,
				       vmnet_interface_event_callback_f fn, void *ctx, void *block)
{
	struct ev_cb *cb = NULL, *old;
	vmnet_return_t st = VMNET_SUCCESS;

	if (!ifc || !queue != !fn)
		return VMNET_INVALID_ARGUMENT;
	/* Enabling needs the one event there is, and no unknown bits; disabling takes any mask. */
	if (queue && mask != VMNET_INTERFACE_PACKETS_AVAILABLE)
		return VMNET_INVALID_ARGUMENT;
	if (queue) {
		cb = calloc(1, sizeof(*cb));
		if (!cb)
			return VMNET_MEM_FAILURE;
		*cb = (struct ev_cb){ .queue = queue, .fn = fn, .ctx = ctx, .block = block };
		atomic_init(&cb->refs, 1);
		dispatch_retain(queue);
	}
	pthread_mutex_lock(&ifc->lock);
	if (atomic_load(&ifc->stop_called) || atomic_load(&ifc->state) == IF_FAILED) {
		st = VMNET_INVALID_ARGUMENT;
		old = cb;
	} else {
		old = ifc->ev_cb;
		ifc->ev_cb = cb;
		ifc->ev_gen++;
		ifc->fired_valid = false; /* a (re)enabled callback hears about the current backlog */
	}
	pthread_mutex_unlock(&ifc->lock);
	if (st != VMNET_SUCCESS && old)
		old->block = NULL; /* the caller keeps its block on failure */
	ev_cb_unref(old);
	if (st == VMNET_SUCCESS)
		iface_nudge(ifc);
	return st;
}

vmnet_return_t vmnet_interface_set_event_callback_f(interface_ref interface, interface_event_t event_mask,
						    dispatch_queue_t queue, void *context,
						    vmnet_interface_event_callback_f callback)
{
	return set_event_common(interface, event_mask, queue, callback, context, NULL);
}

vmnet_return_t vmnet_interface_set_event_callback(interface_ref interface, interface_event_t event_mask,
						  dispatch_queue_t queue, vmnet_interface_event_callback_t callback)
{
	vmnet_return_t st;
	void *b;

	if (!callback)
		return set_event_common(interface, event_mask, queue, NULL, NULL, NULL);
	b = (void *)Block_copy(callback);
	st = set_event_common(interface, event_mask, queue, call_event_block, b, b);
	if (st != VMNET_SUCCESS)
		Block_release(b);
	return st;
}

/* ------------------------------------------------------------------ */
/* packet I/O                                                          */
/* ------------------------------------------------------------------ */

/* Can packet I/O proceed? Return: VMNET_SUCCESS or the error to report. */
static vmnet_return_t io_state(struct vmnet_interface *ifc)
{
	if (atomic_load(&ifc->stop_called))
		return VMNET_INVALID_ARGUMENT;
	switch (atomic_load_explicit(&ifc->state, memory_order_acquire)) {
	case IF_STARTING:
		return VMNET_SETUP_INCOMPLETE;
	case IF_FAILED:
		return VMNET_INVALID_ARGUMENT;
	default:
		break;
	}
	return atomic_load(&ifc->dead) ? VMNET_FAILURE : VMNET_SUCCESS;
}

vmnet_return_t iface_control_target(interface_ref ifc, uint64_t *port_id, dispatch_queue_t *queue)
{
	vmnet_return_t st = ifc ? io_state(ifc) : VMNET_INVALID_ARGUMENT;

	if (st != VMNET_SUCCESS)
		return st;
	*port_id = ifc->port_id;
	*queue = ifc->home;
	dispatch_retain(*queue);
	return VMNET_SUCCESS;
}

/* Every descriptor needs buffers. Return: VMNET_SUCCESS or VMNET_INVALID_ARGUMENT. */
static vmnet_return_t check_iovs(const struct vmpktdesc *pk, int n)
{
	for (int i = 0; i < n; i++)
		if (!pk[i].vm_pkt_iov || !pk[i].vm_pkt_iovcnt)
			return VMNET_INVALID_ARGUMENT;
	return VMNET_SUCCESS;
}

/*
 * Return: bytes the descriptor can take. vm_pkt_size is the capacity (as on
 * macOS). With a single iovec, its iov_len is not consulted: vmnet_read
 * shrinks it to the frame length, and QEMU resets only vm_pkt_size before the
 * next read, so a stale iov_len must not shrink the capacity. With several
 * iovecs, min(vm_pkt_size, their total).
 */
static size_t pkt_capacity(const struct vmpktdesc *p)
{
	size_t total = 0;

	if (p->vm_pkt_iovcnt == 1)
		return p->vm_pkt_size;
	for (uint32_t i = 0; i < p->vm_pkt_iovcnt && total < p->vm_pkt_size; i++) {
		size_t l = p->vm_pkt_iov[i].iov_len;

		total = l > p->vm_pkt_size - total ? p->vm_pkt_size : total + l;
	}
	return total < p->vm_pkt_size ? total : p->vm_pkt_size;
}

/* Copy hlen header bytes (the virtio-net header, or none) and one frame into a descriptor's iovecs,
 * and set its output fields. hlen + len <= pkt_capacity(p). */
static void pkt_scatter(struct vmpktdesc *p, const void *hdr, size_t hlen, const uint8_t *frame, size_t len)
{
	size_t total = hlen + len, off = 0;

	if (p->vm_pkt_iovcnt == 1) {
		uint8_t *d = p->vm_pkt_iov[0].iov_base; /* total <= vm_pkt_size, see pkt_capacity() */

		memcpy(d, hdr, hlen);
		memcpy(d + hlen, frame, len);
		off = total;
	}
	for (uint32_t i = 0; i < p->vm_pkt_iovcnt && off < total; i++) {
		uint8_t *d = p->vm_pkt_iov[i].iov_base;
		size_t room = p->vm_pkt_iov[i].iov_len < total - off ? p->vm_pkt_iov[i].iov_len : total - off;

		for (size_t k = 0; k < room;) {
			/* the part of [off, off + room) that lies in the header, then in the frame */
			size_t at = off + k, l;

			if (at < hlen) {
				l = hlen - at < room - k ? hlen - at : room - k;
				memcpy(d + k, (const uint8_t *)hdr + at, l);
			} else {
				l = room - k;
				memcpy(d + k, frame + (at - hlen), l);
			}
			k += l;
		}
		off += room;
	}
	p->vm_pkt_size = total;
	if (p->vm_pkt_iovcnt == 1)
		p->vm_pkt_iov[0].iov_len = total;
	p->vm_flags = 0;
}

/* Move up to want frames from RX into pk. Caller holds rx_lock. Return: frames returned, or -EPROTO. */
static int rx_copy(struct vmnet_interface *ifc, struct vmpktdesc *pk, int want)
{
	struct ring *r = &ifc->rx;
	int avail = ring_cons_avail(r), got = 0;
	uint32_t used = 0;

	if (avail < 0)
		return avail;
	while (got < want && used < (uint32_t)avail) {
		struct ring_rec *rec = ring_slot(r, r->cons + used);
		uint32_t len = __atomic_load_n(&rec->len, __ATOMIC_RELAXED); /* read once */

		used++;
		if (len < ETH_HDR_LEN || len > r->max_frame || len + ifc->vnet_len > pkt_capacity(&pk[got])) {
			ifc->rx_skipped++;
			log_debug("vmnet_read: dropped a %u-byte frame (buffer %zu bytes, %llu dropped so far)", len,
				  pkt_capacity(&pk[got]), (unsigned long long)ifc->rx_skipped);
			continue;
		}
		struct ring_vnet_hdr vh = rec->vnet;

		vh.num_buffers = 1; /* one buffer per packet, as a virtio-net device with mergeable buffers says */
		pkt_scatter(&pk[got], &vh, ifc->vnet_len, ring_rec_data(rec), len);
		got++;
	}
	if (used)
		ring_cons_release(r, used);
	return got;
}

/* The read path once the arguments are sane. Return: status; *pktcnt set. */
static vmnet_return_t read_locked(struct vmnet_interface *ifc, struct vmpktdesc *packets, int *pktcnt)
{
	vmnet_return_t st;
	int n;

	pthread_mutex_lock(&ifc->rx_lock);
	st = ifc->io_closed ? VMNET_INVALID_ARGUMENT : io_state(ifc);
	if (st == VMNET_SUCCESS) {
		n = rx_copy(ifc, packets, *pktcnt);
		if (n < 0) {
			log_warn("vmnet_read: corrupt receive ring");
			atomic_store(&ifc->dead, true);
			st = VMNET_FAILURE;
		} else {
			*pktcnt = n;
		}
	}
	pthread_mutex_unlock(&ifc->rx_lock);
	return st;
}

vmnet_return_t vmnet_read(interface_ref interface, struct vmpktdesc *packets, int *pktcnt)
{
	struct vmnet_interface *ifc = interface;
	vmnet_return_t st;

	if (!pktcnt)
		return VMNET_INVALID_ARGUMENT;
	if (!ifc || *pktcnt < 0)
		st = VMNET_INVALID_ARGUMENT;
	else
		st = io_state(ifc);
	if (st == VMNET_SUCCESS && (uint32_t)*pktcnt > ifc->read_max)
		st = VMNET_TOO_MANY_PACKETS;
	if (st == VMNET_SUCCESS && *pktcnt == 0)
		return VMNET_SUCCESS;
	if (st == VMNET_SUCCESS)
		st = packets ? check_iovs(packets, *pktcnt) : VMNET_INVALID_ARGUMENT;
	if (st == VMNET_SUCCESS)
		st = read_locked(ifc, packets, pktcnt);
	if (st != VMNET_SUCCESS)
		*pktcnt = 0;
	return st;
}

/* One outgoing packet's checks. Return: VMNET_SUCCESS or the error. */
static vmnet_return_t tx_check_one(const struct vmnet_interface *ifc, const struct vmpktdesc *p)
{
	size_t total = 0;

	if (!p->vm_pkt_iov || !p->vm_pkt_iovcnt || p->vm_pkt_size < ETH_HDR_LEN + ifc->vnet_len)
		return VMNET_INVALID_ARGUMENT;
	if (p->vm_pkt_size > ifc->max_packet_size)
		return VMNET_PACKET_TOO_BIG;
	for (uint32_t i = 0; i < p->vm_pkt_iovcnt && total < p->vm_pkt_size; i++) {
		if (!p->vm_pkt_iov[i].iov_base && p->vm_pkt_iov[i].iov_len)
			return VMNET_INVALID_ARGUMENT;
		total += p->vm_pkt_iov[i].iov_len < p->vm_pkt_size ? p->vm_pkt_iov[i].iov_len : p->vm_pkt_size;
	}
	return total < p->vm_pkt_size ? VMNET_INVALID_ARGUMENT : VMNET_SUCCESS;
}

/* Copy one packet's iovecs into a TX slot: its first hlen bytes (the virtio-net header, or none)
 * into the record's header, the rest as the frame. */
static void tx_gather(struct ring_rec *rec, const struct vmpktdesc *p, size_t hlen)
{
	uint8_t *dst = ring_rec_data(rec), hdr[sizeof(struct ring_vnet_hdr)];
	size_t off = 0;

	memset(rec, 0, sizeof(*rec));
	memset(hdr, 0, sizeof(hdr));
	rec->len = (uint32_t)(p->vm_pkt_size - hlen);
	for (uint32_t i = 0; i < p->vm_pkt_iovcnt && off < p->vm_pkt_size; i++) {
		const uint8_t *src = p->vm_pkt_iov[i].iov_base;
		size_t l = p->vm_pkt_iov[i].iov_len < p->vm_pkt_size - off ? p->vm_pkt_iov[i].iov_len
									  : p->vm_pkt_size - off;
		size_t h = off < hlen ? (hlen - off < l ? hlen - off : l) : 0; /* header bytes in this iovec */

		if (h)
			memcpy(hdr + off, src, h);
		if (l > h)
			memcpy(dst + (off + h - hlen), src + h, l - h);
		off += l;
	}
	if (hlen)
		memcpy(&rec->vnet, hdr, sizeof(rec->vnet));
}

/* All or nothing: the whole batch goes into TX, or nothing does. Return: status. */
static vmnet_return_t tx_push(struct vmnet_interface *ifc, const struct vmpktdesc *pk, int n)
{
	struct ring *r = &ifc->tx;
	int space;

	pthread_mutex_lock(&ifc->tx_lock);
	if (ifc->io_closed) {
		pthread_mutex_unlock(&ifc->tx_lock);
		return VMNET_INVALID_ARGUMENT;
	}
	space = ring_prod_space(r);
	if (space < n) {
		pthread_mutex_unlock(&ifc->tx_lock);
		if (space >= 0)
			return VMNET_BUFFER_EXHAUSTED;
		log_warn("vmnet_write: corrupt transmit ring");
		atomic_store(&ifc->dead, true);
		return VMNET_FAILURE;
	}
	for (int i = 0; i < n; i++)
		tx_gather(ring_slot(r, r->prod + (uint32_t)i), &pk[i], ifc->vnet_len);
	ring_prod_publish(r, (uint32_t)n);
	if (ring_prod_need_kick(r))
		util_doorbell_ring_nosig(ifc->kick_tx);
	pthread_mutex_unlock(&ifc->tx_lock);
	return VMNET_SUCCESS;
}

vmnet_return_t vmnet_write(interface_ref interface, struct vmpktdesc *packets, int *pktcnt)
{
	struct vmnet_interface *ifc = interface;
	vmnet_return_t st;
	int n;

	if (!pktcnt)
		return VMNET_INVALID_ARGUMENT;
	n = *pktcnt;
	st = !ifc || n < 0 ? VMNET_INVALID_ARGUMENT : io_state(ifc);
	if (st == VMNET_SUCCESS && (uint32_t)n > ifc->write_max)
		st = VMNET_TOO_MANY_PACKETS;
	if (st == VMNET_SUCCESS && n == 0)
		return VMNET_SUCCESS;
	if (st == VMNET_SUCCESS && !packets)
		st = VMNET_INVALID_ARGUMENT;
	for (int i = 0; st == VMNET_SUCCESS && i < n; i++)
		st = tx_check_one(ifc, &packets[i]);
	if (st == VMNET_SUCCESS)
		st = tx_push(ifc, packets, n);
	*pktcnt = st == VMNET_SUCCESS ? n : 0;
	return st;
}

/* ------------------------------------------------------------------ */
/* stop                                                                */
/* ------------------------------------------------------------------ */

/* Tell the daemon. Return: the stop handler's status. */
static vmnet_return_t send_stop(struct vmnet_interface *ifc)
{
	struct ctl_hdr hdr;
	xpc_object_t reply;
	int r;

	r = client_request(ifc->sock, CTL_STOP, NULL, &hdr, &reply, NULL, NULL);
	if (r == -ECONNRESET || r == -EPIPE)
		return VMNET_SUCCESS; /* the daemon is gone, and the interface with it */
	if (r < 0) {
		log_warn("CTL_STOP failed: %s", strerror(-r));
		return errno_status(r);
	}
	xpc_release(reply);
	return hdr.status;
}

/* Stop events, tell the daemon, release everything. Return: the stop handler's status. */
static vmnet_return_t iface_teardown(struct vmnet_interface *ifc)
{
	vmnet_return_t st = VMNET_SUCCESS;

	pthread_mutex_lock(&ifc->lock);
	ifc->stopping = true;
	while (ifc->cb_running && !ifc->stop_from_cb)
		pthread_cond_wait(&ifc->cond, &ifc->lock);
	pthread_mutex_unlock(&ifc->lock);
	if (ifc->ev_thread_started) {
		atomic_store(&ifc->ev_exit, true);
		iface_nudge(ifc);
		pthread_join(ifc->ev_thread, NULL);
		ifc->ev_thread_started = false;
	}
	if (ifc->sock >= 0 && !atomic_load(&ifc->dead))
		st = send_stop(ifc);
	pthread_mutex_lock(&ifc->rx_lock);
	pthread_mutex_lock(&ifc->tx_lock);
	ifc->io_closed = true;
	pthread_mutex_unlock(&ifc->tx_lock);
	pthread_mutex_unlock(&ifc->rx_lock);
	iface_release_io(ifc);
	return st;
}

/* Runs on the caller's queue: the stop handler, then the caller's reference goes. */
static void stop_trampoline(void *ctx)
{
	struct vmnet_interface *ifc = ctx;
	struct completion *c = &ifc->stop;

	c->stop_fn(c->ctx, c->status);
	if (c->block)
		Block_release(c->block);
	dispatch_release(c->queue);
	iface_unref(ifc);
}

static void *stop_thread_main(void *arg)
{
	struct vmnet_interface *ifc = arg;

	ifc->stop.status = iface_teardown(ifc);
	iface_drop_network(ifc);
	dispatch_async_f(ifc->stop.queue, ifc, stop_trampoline);
	return NULL;
}

/* Run the stop on its own thread; inline if no thread can be made. */
static void stop_launch(struct vmnet_interface *ifc)
{
	if (util_thread_spawn_detached(stop_thread_main, ifc) < 0)
		stop_thread_main(ifc);
}

/* Return: VMNET_SUCCESS when the stop handler was scheduled, else an error (handler not called). */
static vmnet_return_t stop_common(struct vmnet_interface *ifc, dispatch_queue_t queue,
				  vmnet_interface_completion_handler_f fn, void *ctx, void *block)
{
	struct ev_cb *old;
	bool launch;

	if (!ifc || !queue || !fn)
		return VMNET_INVALID_ARGUMENT;
	pthread_mutex_lock(&ifc->lock);
	if (atomic_load(&ifc->stop_called)) {
		pthread_mutex_unlock(&ifc->lock);
		return VMNET_INVALID_ARGUMENT;
	}
	atomic_store(&ifc->stop_called, true);
	old = ifc->ev_cb;
	ifc->ev_cb = NULL;
	ifc->ev_gen++;
	ifc->stop_from_cb = tls_cb_iface == ifc;
	dispatch_retain(queue);
	ifc->stop = (struct completion){ .queue = queue, .stop_fn = fn, .ctx = ctx, .block = block };
	launch = ifc->start_done;
	ifc->stop_pending = !launch;
	pthread_mutex_unlock(&ifc->lock);
	ev_cb_unref(old);
	if (launch)
		stop_launch(ifc);
	return VMNET_SUCCESS;
}

vmnet_return_t vmnet_stop_interface_f(interface_ref interface, dispatch_queue_t queue, void *context,
				      vmnet_interface_completion_handler_f handler)
{
	return stop_common(interface, queue, handler, context, NULL);
}

static void call_stop_block(void *ctx, vmnet_return_t status)
{
	((vmnet_interface_completion_handler_t)ctx)(status);
}

vmnet_return_t vmnet_stop_interface(interface_ref interface, dispatch_queue_t queue,
				    vmnet_interface_completion_handler_t handler)
{
	vmnet_return_t st;
	void *b;

	if (!interface || !queue || !handler)
		return VMNET_INVALID_ARGUMENT;
	b = (void *)Block_copy(handler);
	st = stop_common(interface, queue, call_stop_block, b, b);
	if (st != VMNET_SUCCESS)
		Block_release(b);
	return st;
}
