/*
 * forward.c — port forwarding in the vmnet API (spec section 5): both API
 * generations and the rule dictionaries' parsers.
 *
 * Theory of operation. Each add/remove/get checks its arguments at once (a
 * bad protocol, family, port 0, a NULL address or a missing get handler is
 * VMNET_INVALID_ARGUMENT and no handler runs; an interface that is still
 * starting, stopped or whose daemon died gets the status vmnet_read would)
 * and returns VMNET_SUCCESS: the handler has been scheduled. A private thread
 * then opens a short-lived control connection of its own (the interface's
 * connection belongs to its event machinery), sends CTL_FORWARD naming the
 * interface by the port id the daemon gave it at start (CTL_KEY_PORT_ID), and
 * schedules the handler with the daemon's answer. Requests are served in the
 * order they were made (a ticket each), so an add followed by a get without
 * waiting sees the rule.
 *
 * Our conventions where Apple's documentation is silent (spec §11):
 *  - handlers run on the interface's queue: the one given to
 *    vmnet_start_interface, as its start/stop handlers and (usually) its event
 *    callbacks. Do not block that queue waiting for a forwarding handler;
 *  - get hands its handler an xpc array of rule dictionaries, or NULL when
 *    there are none (as macOS does); the array is released when the handler
 *    returns (xpc_retain it to keep it). The legacy get lists the IPv4 rules,
 *    the _ip_ one the rules of its family;
 *  - the daemon's verdict arrives in the completion handler: a forward of a
 *    non-shared network, a rule outside the subnet, removing a rule that does
 *    not exist: VMNET_INVALID_ARGUMENT; a host port already forwarded or in
 *    use by a host service: VMNET_SHARING_SERVICE_BUSY; a privileged port
 *    vmnetd may not bind: VMNET_INVALID_ACCESS; another user's interface:
 *    VMNET_NOT_AUTHORIZED; the daemon unreachable: VMNET_FAILURE. The reason
 *    is logged (warning). A get that fails hands its handler NULL;
 *  - address families: AF_INET, and AF_INET6 both in Linux's numbering (10)
 *    and in macOS's (VMNET_DARWIN_AF_INET6, 30).
 */
#include <Block.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "common/ctl.h"
#include "common/ctl_forward.h"
#include "common/log.h"
#include "common/util.h"
#include "lib/client.h"
#include "lib/interface_internal.h"

#define PF_KEY_PROTOCOL FWD_KEY_PROTOCOL
#define PF_KEY_EXTERNAL_PORT FWD_KEY_EXTERNAL_PORT
#define PF_KEY_ADDRESS_FAMILY FWD_KEY_ADDRESS_FAMILY
#define PF_KEY_INTERNAL_ADDRESS FWD_KEY_INTERNAL_ADDRESS
#define PF_KEY_INTERNAL_PORT FWD_KEY_INTERNAL_PORT

#define PROTO_TCP 6
#define PROTO_UDP 17

/* A parsed rule. */
struct pf_rule {
	uint8_t protocol;
	uint16_t external_port, internal_port;
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

/* Return: AF_INET / AF_INET6 for Linux's or Darwin's numbering, -1 for anything else. */
static int af_normalize(uint64_t af)
{
	if (af == AF_INET)
		return AF_INET;
	if (af == AF_INET6 || af == VMNET_DARWIN_AF_INET6)
		return AF_INET6;
	return -1;
}

static bool proto_ok(uint64_t protocol)
{
	return protocol == PROTO_TCP || protocol == PROTO_UDP;
}

/* ---- one request, on its own thread ---- */

/* A request in flight and the handler that gets its answer. */
struct pf_call {
	uint64_t ticket;
	const char *fn;          /* the API function, for logs */
	xpc_object_t req;        /* the CTL_FORWARD request */
	dispatch_queue_t queue;  /* the interface's queue (+1) */
	vmnet_interface_completion_handler_f done;                 /* add/remove (may be NULL) */
	vmnet_interface_get_port_forwarding_rules_handler_f got;   /* get */
	void *ctx;
	void *block;             /* the Block_copy behind ctx for the block API, or NULL */
	vmnet_return_t status;
	xpc_object_t rules;      /* get: the array for the handler, or NULL */
};

/* Requests are served in the order they were made: tickets. */
static pthread_mutex_t pf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pf_turn = PTHREAD_COND_INITIALIZER;
static uint64_t pf_next_ticket, pf_serving;

static void pf_call_free(struct pf_call *call)
{
	if (call->rules)
		xpc_release(call->rules);
	if (call->block)
		Block_release(call->block);
	if (call->queue)
		dispatch_release(call->queue);
	xpc_release(call->req);
	free(call);
}

/* Map a -errno of the exchange itself. Return: the status for the handler. */
static vmnet_return_t pf_errno_status(int r)
{
	switch (-r) {
	case ENOMEM:
		return VMNET_MEM_FAILURE;
	case EACCES:
	case EPERM:
		return VMNET_NOT_AUTHORIZED;
	default:
		return VMNET_FAILURE;
	}
}

/* A list reply's rules, as a new array for the handler; NULL when there are none. */
static xpc_object_t pf_rules_of(xpc_object_t reply)
{
	xpc_object_t nets = xpc_dictionary_get_value(reply, FWD_KEY_NETWORKS), net, rules;

	if (!nets || xpc_get_type(nets) != XPC_TYPE_ARRAY || xpc_array_get_count(nets) == 0)
		return NULL;
	net = xpc_array_get_value(nets, 0);
	rules = net && xpc_get_type(net) == XPC_TYPE_DICTIONARY ? xpc_dictionary_get_value(net, FWD_KEY_RULES) : NULL;
	if (!rules || xpc_get_type(rules) != XPC_TYPE_ARRAY || xpc_array_get_count(rules) == 0)
		return NULL;
	return xpc_copy(rules);
}

/* Ask the daemon on a connection of our own; fills call->status (and call->rules). */
static void pf_exchange(struct pf_call *call)
{
	struct ctl_hdr hdr;
	xpc_object_t reply = NULL;
	const char *why;
	int fd, r;

	r = client_connect(&fd);
	if (r < 0) {
		log_warn("%s: cannot reach vmnetd: %s", call->fn, strerror(-r));
		call->status = pf_errno_status(r);
		return;
	}
	r = client_request(fd, CTL_FORWARD, call->req, &hdr, &reply, NULL, NULL);
	close(fd);
	if (r < 0) {
		log_warn("%s: CTL_FORWARD failed: %s", call->fn, strerror(-r));
		call->status = pf_errno_status(r);
		return;
	}
	call->status = hdr.status >= VMNET_SUCCESS && hdr.status <= VMNET_NOT_AUTHORIZED ? hdr.status : VMNET_FAILURE;
	if (call->status != VMNET_SUCCESS) {
		why = xpc_dictionary_get_string(reply, CTL_KEY_ERROR);
		log_warn("%s: vmnetd refused: %s (%s)", call->fn, why ? why : "no reason given",
			 vmnet_strerror(call->status));
	} else if (call->got) {
		call->rules = pf_rules_of(reply);
	}
	xpc_release(reply);
}

/* Runs on the interface's queue. */
static void pf_trampoline(void *ctx)
{
	struct pf_call *call = ctx;

	if (call->got)
		call->got(call->ctx, call->rules);
	else
		call->done(call->ctx, call->status);
	pf_call_free(call);
}

static void *pf_thread(void *arg)
{
	struct pf_call *call = arg;

	pthread_mutex_lock(&pf_lock);
	while (pf_serving != call->ticket)
		pthread_cond_wait(&pf_turn, &pf_lock);
	pthread_mutex_unlock(&pf_lock);
	pf_exchange(call);
	pthread_mutex_lock(&pf_lock);
	pf_serving++;
	pthread_cond_broadcast(&pf_turn);
	pthread_mutex_unlock(&pf_lock);
	if (call->done || call->got)
		dispatch_async_f(call->queue, call, pf_trampoline);
	else
		pf_call_free(call);
	return NULL;
}

/*
 * Send req (consumed) for interface and schedule the handler (done or got,
 * either may be NULL; block: taken on success).
 * Return: VMNET_SUCCESS when scheduled; otherwise nothing was (req released).
 */
static vmnet_return_t pf_submit(const char *fn, interface_ref interface, xpc_object_t req,
				vmnet_interface_completion_handler_f done,
				vmnet_interface_get_port_forwarding_rules_handler_f got, void *ctx, void *block)
{
	struct pf_call *call;
	uint64_t port;
	dispatch_queue_t q;
	vmnet_return_t st;
	int r;

	if (!req)
		return VMNET_MEM_FAILURE;
	st = iface_control_target(interface, &port, &q);
	if (st != VMNET_SUCCESS) {
		xpc_release(req);
		return st;
	}
	call = calloc(1, sizeof(*call));
	if (!call) {
		dispatch_release(q);
		xpc_release(req);
		return VMNET_MEM_FAILURE;
	}
	xpc_dictionary_set_uint64(req, CTL_KEY_PORT_ID, port);
	*call = (struct pf_call){ .fn = fn, .req = req, .queue = q, .done = done, .got = got, .ctx = ctx, .block = block };
	pthread_mutex_lock(&pf_lock);
	call->ticket = pf_next_ticket++;
	r = util_thread_spawn_detached(pf_thread, call);
	if (r < 0)
		pf_next_ticket--; /* nobody took a ticket meanwhile: we hold the lock */
	pthread_mutex_unlock(&pf_lock);
	if (r < 0) {
		log_warn("%s: cannot start a thread: %s", fn, strerror(-r));
		call->block = NULL; /* the caller still owns it */
		pf_call_free(call);
		return pf_errno_status(r);
	}
	return VMNET_SUCCESS;
}

/* A request dictionary for op on one rule key. Return: it (+1), or NULL. */
static xpc_object_t pf_request(const char *op, uint8_t protocol, uint16_t external_port, int af)
{
	xpc_object_t req = xpc_dictionary_create_empty();

	if (!req)
		return NULL;
	xpc_dictionary_set_string(req, FWD_KEY_OP, op);
	xpc_dictionary_set_uint64(req, FWD_KEY_PROTOCOL, protocol);
	xpc_dictionary_set_uint64(req, FWD_KEY_EXTERNAL_PORT, external_port);
	xpc_dictionary_set_uint64(req, FWD_KEY_ADDRESS_FAMILY, (uint64_t)af);
	return req;
}

static vmnet_return_t pf_add(const char *fn, interface_ref interface, uint8_t protocol, uint16_t external_port,
			     int af, const void *addr, uint16_t internal_port, vmnet_interface_completion_handler_f done,
			     void *ctx, void *block)
{
	char a[INET6_ADDRSTRLEN];
	xpc_object_t req;

	if (!interface || !proto_ok(protocol) || af < 0 || !addr || external_port == 0 || internal_port == 0)
		return VMNET_INVALID_ARGUMENT;
	if (!inet_ntop(af, addr, a, sizeof(a)))
		return VMNET_INVALID_ARGUMENT;
	req = pf_request(FWD_OP_ADD, protocol, external_port, af);
	if (req) {
		xpc_dictionary_set_string(req, FWD_KEY_INTERNAL_ADDRESS, a);
		xpc_dictionary_set_uint64(req, FWD_KEY_INTERNAL_PORT, internal_port);
	}
	return pf_submit(fn, interface, req, done, NULL, ctx, block);
}

static vmnet_return_t pf_remove(const char *fn, interface_ref interface, uint8_t protocol, uint16_t external_port,
				int af, vmnet_interface_completion_handler_f done, void *ctx, void *block)
{
	if (!interface || !proto_ok(protocol) || af < 0 || external_port == 0)
		return VMNET_INVALID_ARGUMENT;
	return pf_submit(fn, interface, pf_request(FWD_OP_REMOVE, protocol, external_port, af), done, NULL, ctx,
			 block);
}

static vmnet_return_t pf_get(const char *fn, interface_ref interface, int af,
			     vmnet_interface_get_port_forwarding_rules_handler_f got, void *ctx, void *block)
{
	xpc_object_t req;

	if (!interface || !got || af < 0)
		return VMNET_INVALID_ARGUMENT;
	req = xpc_dictionary_create_empty();
	if (req) {
		xpc_dictionary_set_string(req, FWD_KEY_OP, FWD_OP_LIST);
		xpc_dictionary_set_uint64(req, FWD_KEY_ADDRESS_FAMILY, (uint64_t)af);
	}
	return pf_submit(fn, interface, req, NULL, got, ctx, block);
}

/* ---- the block API on top of the function-pointer one ---- */

static void call_done_block(void *ctx, vmnet_return_t status)
{
	((vmnet_interface_completion_handler_t)ctx)(status);
}

static void call_rules_block(void *ctx, xpc_object_t rules)
{
	((vmnet_interface_get_port_forwarding_rules_handler_t)ctx)(rules);
}

static void call_ip_rules_block(void *ctx, xpc_object_t rules)
{
	((vmnet_interface_get_ip_port_forwarding_rules_handler_t)ctx)(rules);
}

/* Copy an optional completion block. Return: the copy or NULL; *fn the trampoline to call it (or NULL). */
static void *done_block(vmnet_interface_completion_handler_t handler, vmnet_interface_completion_handler_f *fn)
{
	*fn = handler ? call_done_block : NULL;
	return handler ? (void *)Block_copy(handler) : NULL;
}

/* The status of a block call: the block is released when nothing was scheduled. */
static vmnet_return_t block_result(vmnet_return_t st, void *block)
{
	if (st != VMNET_SUCCESS && block)
		Block_release(block);
	return st;
}

/* ---- legacy IPv4 API (spec 5.1) ---- */

vmnet_return_t vmnet_interface_add_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							uint16_t external_port, struct in_addr internal_address,
							uint16_t internal_port, vmnet_interface_completion_handler_t handler)
{
	vmnet_interface_completion_handler_f fn;
	void *b = done_block(handler, &fn);

	return block_result(pf_add(__func__, interface, protocol, external_port, AF_INET, &internal_address,
				   internal_port, fn, b, b),
			    b);
}

vmnet_return_t vmnet_interface_add_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							  uint16_t external_port, struct in_addr internal_address,
							  uint16_t internal_port, void *context,
							  vmnet_interface_completion_handler_f handler)
{
	return pf_add(__func__, interface, protocol, external_port, AF_INET, &internal_address, internal_port, handler,
		      context, NULL);
}

vmnet_return_t vmnet_interface_remove_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							   uint16_t external_port,
							   vmnet_interface_completion_handler_t handler)
{
	vmnet_interface_completion_handler_f fn;
	void *b = done_block(handler, &fn);

	return block_result(pf_remove(__func__, interface, protocol, external_port, AF_INET, fn, b, b), b);
}

vmnet_return_t vmnet_interface_remove_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							     uint16_t external_port, void *context,
							     vmnet_interface_completion_handler_f handler)
{
	return pf_remove(__func__, interface, protocol, external_port, AF_INET, handler, context, NULL);
}

vmnet_return_t vmnet_interface_get_port_forwarding_rules(interface_ref interface,
							 vmnet_interface_get_port_forwarding_rules_handler_t handler)
{
	void *b;

	if (!interface || !handler)
		return VMNET_INVALID_ARGUMENT;
	b = (void *)Block_copy(handler);
	return block_result(pf_get(__func__, interface, AF_INET, call_rules_block, b, b), b);
}

vmnet_return_t vmnet_interface_get_port_forwarding_rules_f(interface_ref interface, void *context,
							   vmnet_interface_get_port_forwarding_rules_handler_f handler)
{
	return pf_get(__func__, interface, AF_INET, handler, context, NULL);
}

/* ---- address-family API (spec 5.2) ---- */

vmnet_return_t vmnet_interface_add_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							   uint16_t external_port, uint8_t address_family,
							   const void *internal_address, uint16_t internal_port,
							   vmnet_interface_completion_handler_t handler)
{
	vmnet_interface_completion_handler_f fn;
	void *b = done_block(handler, &fn);

	return block_result(pf_add(__func__, interface, protocol, external_port, af_normalize(address_family),
				   internal_address, internal_port, fn, b, b),
			    b);
}

vmnet_return_t vmnet_interface_add_ip_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
							     uint16_t external_port, uint8_t address_family,
							     const void *internal_address, uint16_t internal_port,
							     void *context, vmnet_interface_completion_handler_f handler)
{
	return pf_add(__func__, interface, protocol, external_port, af_normalize(address_family), internal_address,
		      internal_port, handler, context, NULL);
}

vmnet_return_t vmnet_interface_remove_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
							      uint16_t external_port, uint8_t address_family,
							      vmnet_interface_completion_handler_t handler)
{
	vmnet_interface_completion_handler_f fn;
	void *b = done_block(handler, &fn);

	return block_result(pf_remove(__func__, interface, protocol, external_port, af_normalize(address_family), fn,
				      b, b),
			    b);
}

vmnet_return_t vmnet_interface_remove_ip_port_forwarding_rule_f(interface_ref interface, uint8_t protocol,
								uint16_t external_port, uint8_t address_family,
								void *context,
								vmnet_interface_completion_handler_f handler)
{
	return pf_remove(__func__, interface, protocol, external_port, af_normalize(address_family), handler, context,
			 NULL);
}

vmnet_return_t vmnet_interface_get_ip_port_forwarding_rules(interface_ref interface, uint8_t address_family,
							    vmnet_interface_get_ip_port_forwarding_rules_handler_t handler)
{
	void *b;

	if (!interface || !handler || af_normalize(address_family) < 0)
		return VMNET_INVALID_ARGUMENT;
	b = (void *)Block_copy(handler);
	return block_result(pf_get(__func__, interface, af_normalize(address_family), call_ip_rules_block, b, b), b);
}

vmnet_return_t vmnet_interface_get_ip_port_forwarding_rules_f(interface_ref interface, uint8_t address_family,
							      void *context,
							      vmnet_interface_get_ip_port_forwarding_rules_handler_f handler)
{
	return pf_get(__func__, interface, af_normalize(address_family), handler, context, NULL);
}

/* ---- the rule dictionaries ---- */

/* Fetch a uint64 field in 1..max (0 allowed when min0). Return: 0 or -EINVAL. */
static int rule_u64(xpc_object_t rule, const char *key, uint64_t max, bool min0, uint64_t *out)
{
	xpc_object_t v = xpc_dictionary_get_value(rule, key);

	if (!v || xpc_get_type(v) != XPC_TYPE_UINT64)
		return -EINVAL;
	*out = xpc_uint64_get_value(v);
	if (*out > max || (!min0 && *out == 0))
		return -EINVAL;
	return 0;
}

/* Parse and validate a rule dictionary. Return: 0, or -EINVAL when a field is missing or invalid. */
static int rule_parse(xpc_object_t rule, struct pf_rule *out)
{
	uint64_t proto, ext, in, af;
	const char *addr;

	if (!rule || xpc_get_type(rule) != XPC_TYPE_DICTIONARY)
		return -EINVAL;
	if (rule_u64(rule, PF_KEY_PROTOCOL, 255, false, &proto) || !proto_ok(proto) ||
	    rule_u64(rule, PF_KEY_EXTERNAL_PORT, 65535, false, &ext) ||
	    rule_u64(rule, PF_KEY_INTERNAL_PORT, 65535, false, &in) ||
	    rule_u64(rule, PF_KEY_ADDRESS_FAMILY, 255, false, &af) || af_normalize(af) < 0)
		return -EINVAL;
	addr = xpc_dictionary_get_string(rule, PF_KEY_INTERNAL_ADDRESS);
	out->family = af_normalize(af);
	if (!addr || inet_pton(out->family, addr, &out->addr) != 1)
		return -EINVAL;
	out->protocol = (uint8_t)proto;
	out->external_port = (uint16_t)ext;
	out->internal_port = (uint16_t)in;
	return 0;
}

vmnet_return_t vmnet_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol, uint16_t *external_port,
						      struct in_addr *internal_address, uint16_t *internal_port)
{
	struct pf_rule r;

	if (!protocol || !external_port || !internal_address || !internal_port)
		return VMNET_INVALID_ARGUMENT;
	if (rule_parse(rule, &r) < 0 || r.family != AF_INET)
		return VMNET_INVALID_ARGUMENT;
	*protocol = r.protocol;
	*external_port = r.external_port;
	*internal_address = r.addr.v4;
	*internal_port = r.internal_port;
	return VMNET_SUCCESS;
}

vmnet_return_t vmnet_ip_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol, uint16_t *external_port,
							 uint8_t address_family, void *internal_address,
							 uint16_t *internal_port)
{
	struct pf_rule r;

	if (!protocol || !external_port || !internal_address || !internal_port || af_normalize(address_family) < 0)
		return VMNET_INVALID_ARGUMENT;
	if (rule_parse(rule, &r) < 0 || r.family != af_normalize(address_family))
		return VMNET_INVALID_ARGUMENT;
	*protocol = r.protocol;
	*external_port = r.external_port;
	if (r.family == AF_INET)
		memcpy(internal_address, &r.addr.v4, sizeof(r.addr.v4));
	else
		memcpy(internal_address, &r.addr.v6, sizeof(r.addr.v6));
	*internal_port = r.internal_port;
	return VMNET_SUCCESS;
}

/* ---- network configuration API (macOS 26) ---- */

