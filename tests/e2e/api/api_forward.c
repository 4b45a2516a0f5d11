/*
 * api_forward.c — port forwarding through the public API (spec §5) on a
 * shared-mode interface, the round trip real clients do (edigaryev/vmnet's
 * test): add TCP 2222 -> end_address:22 and 8080 -> :80, get both (in any
 * order), remove 8080, get 2222 only, removing 4242 fails in the handler,
 * remove the rest, get gives NULL. Once with the legacy IPv4 API and blocks,
 * once with the address-family API, Darwin's AF_INET6 (30) and the _f
 * variants. Also: argument errors (returned at once, no handler), handlers on
 * the interface's queue, requests served in call order (fire and forget, then
 * get), the legacy get listing IPv4 rules only, a host-mode interface refused
 * in the handler.
 *
 * usage: api_forward        (needs a vmnetd with host taps: shared mode)
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "api_common.h"

#define NAT66_PREFIX "fd64:1:2:3::"
#define AF_INET6_DARWIN 30

/* The answer of one handler, on the heap: a late handler (after a timeout) still writes valid memory. */
struct box {
	dispatch_semaphore_t sem;
	vmnet_return_t st;
	xpc_object_t rules; /* a copy, or NULL */
	bool called;
};

static struct box *box_new(void)
{
	struct box *b = t_keep(calloc(1, sizeof(*b)));

	b->sem = t_sem(0);
	b->st = T_TIMEOUT;
	return b;
}

/* Wait for the handler. Return: whether it ran in time. */
static bool box_wait(struct box *b)
{
	return dispatch_semaphore_wait(b->sem, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0;
}

/* ---- blocks ---- */

static vmnet_return_t add4(struct tif *t, uint16_t ext, struct in_addr a, uint16_t in)
{
	struct box *b = box_new();
	vmnet_return_t st = vmnet_interface_add_port_forwarding_rule(t->ref, IPPROTO_TCP, ext, a, in, ^(vmnet_return_t s) {
		b->st = s;
		dispatch_semaphore_signal(b->sem);
	});

	if (st != VMNET_SUCCESS)
		return st;
	box_wait(b);
	return b->st;
}

static vmnet_return_t remove4(struct tif *t, uint16_t ext, vmnet_return_t *call)
{
	struct box *b = box_new();

	*call = vmnet_interface_remove_port_forwarding_rule(t->ref, IPPROTO_TCP, ext, ^(vmnet_return_t s) {
		b->st = s;
		dispatch_semaphore_signal(b->sem);
	});
	if (*call != VMNET_SUCCESS)
		return *call;
	box_wait(b);
	return b->st;
}

/* Return: the rules (a copy, or NULL); *ok: the handler ran. */
static xpc_object_t get4(struct tif *t, bool *ok)
{
	struct box *b = box_new();
	vmnet_return_t st = vmnet_interface_get_port_forwarding_rules(t->ref, ^(xpc_object_t rules) {
		b->rules = rules ? t_keep(xpc_copy(rules)) : NULL;
		b->called = true;
		dispatch_semaphore_signal(b->sem);
	});

	*ok = st == VMNET_SUCCESS && box_wait(b) && b->called;
	return b->rules;
}

/* ---- function pointers ---- */

static void on_done(void *ctx, vmnet_return_t s)
{
	struct box *b = ctx;

	b->st = s;
	dispatch_semaphore_signal(b->sem);
}

static void on_rules(void *ctx, xpc_object_t rules)
{
	struct box *b = ctx;

	b->rules = rules ? t_keep(xpc_copy(rules)) : NULL;
	b->called = true;
	dispatch_semaphore_signal(b->sem);
}

static vmnet_return_t add6_f(struct tif *t, uint16_t ext, const struct in6_addr *a, uint16_t in)
{
	struct box *b = box_new();
	vmnet_return_t st = vmnet_interface_add_ip_port_forwarding_rule_f(t->ref, IPPROTO_TCP, ext, AF_INET6_DARWIN, a, in,
									  b, on_done);

	if (st != VMNET_SUCCESS)
		return st;
	box_wait(b);
	return b->st;
}

static vmnet_return_t remove6_f(struct tif *t, uint16_t ext, vmnet_return_t *call)
{
	struct box *b = box_new();

	*call = vmnet_interface_remove_ip_port_forwarding_rule_f(t->ref, IPPROTO_TCP, ext, AF_INET6_DARWIN, b, on_done);
	if (*call != VMNET_SUCCESS)
		return *call;
	box_wait(b);
	return b->st;
}

static xpc_object_t get6_f(struct tif *t, uint8_t af, bool *ok)
{
	struct box *b = box_new();
	vmnet_return_t st = vmnet_interface_get_ip_port_forwarding_rules_f(t->ref, af, b, on_rules);

	*ok = st == VMNET_SUCCESS && box_wait(b) && b->called;
	return b->rules;
}

/* ---- checking the rules ---- */

struct want {
	uint16_t ext, in;
	bool seen;
};

/* Do the rules hold exactly the wanted ones (any order), all TCP to addr (4 or 16 bytes, by family)? */
static bool rules_are(xpc_object_t rules, int family, const void *addr, struct want *w, size_t n)
{
	size_t count = rules && xpc_get_type(rules) == XPC_TYPE_ARRAY ? xpc_array_get_count(rules) : 0;

	CHECKF(count == n, "%zu rules (want %zu)", count, n);
	if (count != n)
		return false;
	for (size_t i = 0; i < n; i++)
		w[i].seen = false;
	for (size_t i = 0; i < count; i++) {
		xpc_object_t r = xpc_array_get_value(rules, i);
		uint8_t proto = 0, a[16] = { 0 };
		uint16_t ext = 0, in = 0;
		vmnet_return_t st = family == AF_INET
					    ? vmnet_port_forwarding_rule_get_details(r, &proto, &ext, (struct in_addr *)a, &in)
					    : vmnet_ip_port_forwarding_rule_get_details(r, &proto, &ext, AF_INET6_DARWIN, a, &in);

		CHECK_ST(st, VMNET_SUCCESS);
		CHECK_EQ(proto, IPPROTO_TCP);
		CHECKF(!memcmp(a, addr, family == AF_INET ? 4 : 16), "rule %zu: the internal address", i);
		for (size_t j = 0; j < n; j++)
			if (w[j].ext == ext && w[j].in == in)
				w[j].seen = true;
	}
	for (size_t j = 0; j < n; j++)
		CHECKF(w[j].seen, "rule %u -> %u listed", w[j].ext, w[j].in);
	return true;
}

/* ---- the tests ---- */

static void test_legacy_blocks(struct tif *t, struct in_addr end)
{
	struct want both[] = { { .ext = 2222, .in = 22 }, { .ext = 8080, .in = 80 } }, one[] = { { .ext = 2222, .in = 22 } };
	vmnet_return_t call;
	xpc_object_t rules;
	bool ok;

	t_section("legacy IPv4 API, blocks: the round trip (spec 5.1)");
	CHECK_ST(add4(t, 2222, end, 22), VMNET_SUCCESS);
	CHECK_ST(add4(t, 8080, end, 80), VMNET_SUCCESS);
	rules = get4(t, &ok);
	CHECKF(ok, "the get handler ran");
	rules_are(rules, AF_INET, &end, both, 2);
	CHECK_ST(add4(t, 8080, end, 81), VMNET_SHARING_SERVICE_BUSY); /* a duplicate, refused in the handler */
	CHECK_ST(remove4(t, 8080, &call), VMNET_SUCCESS);
	rules = get4(t, &ok);
	CHECKF(ok, "the get handler ran");
	rules_are(rules, AF_INET, &end, one, 1);
	CHECK_ST(remove4(t, 4242, &call), VMNET_INVALID_ARGUMENT);
	CHECK_ST(call, VMNET_SUCCESS); /* the call itself succeeds: the handler has the verdict */
	CHECK_ST(remove4(t, 2222, &call), VMNET_SUCCESS);
	rules = get4(t, &ok);
	CHECKF(ok && rules == NULL, "no rules: the handler gets NULL");
}

static void test_ip_f(struct tif *t, const struct in6_addr *guest, struct in_addr end)
{
	struct want both[] = { { .ext = 2222, .in = 22 }, { .ext = 8080, .in = 80 } }, one[] = { { .ext = 2222, .in = 22 } };
	struct box *b;
	vmnet_return_t call;
	xpc_object_t rules;
	bool ok;

	t_section("address-family API, AF_INET6 = 30, _f variants: the round trip (spec 5.2)");
	CHECK_ST(add6_f(t, 2222, guest, 22), VMNET_SUCCESS);
	CHECK_ST(add6_f(t, 8080, guest, 80), VMNET_SUCCESS);
	rules = get6_f(t, AF_INET6_DARWIN, &ok);
	CHECKF(ok, "the get handler ran");
	rules_are(rules, AF_INET6, guest, both, 2);
	rules = get6_f(t, 10, &ok); /* Linux's AF_INET6 is understood too */
	CHECKF(ok, "the get handler ran (family 10)");
	rules_are(rules, AF_INET6, guest, both, 2);

	/* One IPv4 rule beside them: each get lists its own family. */
	b = box_new();
	CHECK_ST(vmnet_interface_add_ip_port_forwarding_rule(t->ref, IPPROTO_TCP, 2222, AF_INET, &end, 22,
							     ^(vmnet_return_t s) {
								     b->st = s;
								     dispatch_semaphore_signal(b->sem);
							     }),
		 VMNET_SUCCESS);
	CHECK(box_wait(b) && b->st == VMNET_SUCCESS);
	rules = get6_f(t, AF_INET, &ok);
	CHECKF(ok, "the get handler ran (AF_INET)");
	rules_are(rules, AF_INET, &end, one, 1);
	b = box_new();
	CHECK_ST(vmnet_interface_get_port_forwarding_rules_f(t->ref, b, on_rules), VMNET_SUCCESS);
	CHECK(box_wait(b) && b->called);
	CHECKF(rules_are(b->rules, AF_INET, &end, one, 1), "the legacy get lists the IPv4 rule only");
	b = box_new();
	CHECK_ST(vmnet_interface_remove_port_forwarding_rule_f(t->ref, IPPROTO_TCP, 2222, b, on_done), VMNET_SUCCESS);
	CHECK(box_wait(b) && b->st == VMNET_SUCCESS);

	CHECK_ST(remove6_f(t, 8080, &call), VMNET_SUCCESS);
	rules = get6_f(t, AF_INET6_DARWIN, &ok);
	CHECKF(ok, "the get handler ran");
	rules_are(rules, AF_INET6, guest, one, 1);
	CHECK_ST(remove6_f(t, 4242, &call), VMNET_INVALID_ARGUMENT);
	CHECK_ST(call, VMNET_SUCCESS);
	CHECK_ST(remove6_f(t, 2222, &call), VMNET_SUCCESS);
	rules = get6_f(t, AF_INET6_DARWIN, &ok);
	CHECKF(ok && rules == NULL, "no rules: the handler gets NULL");
}

static void test_arguments(struct tif *t, struct in_addr end, const struct in6_addr *guest)
{
	struct in_addr outside;
	struct in6_addr outside6;
	struct box *b;

	t_section("argument errors are returned at once; the daemon's verdicts come in the handler");
	CHECK_ST(vmnet_interface_add_port_forwarding_rule(t->ref, IPPROTO_TCP, 0, end, 22, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_add_port_forwarding_rule(t->ref, IPPROTO_TCP, 22, end, 0, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_add_port_forwarding_rule(t->ref, 1, 2000, end, 22, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_add_port_forwarding_rule(t->ref, 132, 2000, end, 22, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_add_ip_port_forwarding_rule(t->ref, IPPROTO_TCP, 2000, 7, guest, 22, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_add_ip_port_forwarding_rule(t->ref, IPPROTO_TCP, 2000, AF_INET6_DARWIN, NULL, 22, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_remove_port_forwarding_rule(t->ref, IPPROTO_UDP, 0, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_remove_ip_port_forwarding_rule(t->ref, IPPROTO_UDP, 2000, 0, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_get_port_forwarding_rules(NULL, ^(xpc_object_t r) {
		 }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_get_ip_port_forwarding_rules(t->ref, 7, ^(xpc_object_t r) {
		 }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_interface_get_ip_port_forwarding_rules_f(t->ref, AF_INET, NULL, NULL), VMNET_INVALID_ARGUMENT);

	/* An address outside the subnet: only the daemon knows, so the handler says. */
	inet_pton(AF_INET, "10.1.2.3", &outside);
	CHECK_ST(add4(t, 2000, outside, 22), VMNET_INVALID_ARGUMENT);
	inet_pton(AF_INET6, "fd00:9::5", &outside6);
	b = box_new();
	CHECK_ST(vmnet_interface_add_ip_port_forwarding_rule_f(t->ref, IPPROTO_UDP, 2000, AF_INET6_DARWIN, &outside6, 53, b,
								on_done),
		 VMNET_SUCCESS);
	CHECK(box_wait(b));
	CHECK_ST(b->st, VMNET_INVALID_ARGUMENT);
}

static void test_queue_and_order(struct tif *t, struct in_addr end)
{
	dispatch_semaphore_t gate;
	struct box *b;
	xpc_object_t rules;
	bool ok;
	struct want w[] = { { .ext = 3333, .in = 33 } };

	t_section("handlers run on the interface's queue; requests are served in call order");
	/* A handler cannot run while the interface's queue is blocked. */
	gate = t_gate(t->q);
	b = box_new();
	CHECK_ST(vmnet_interface_get_port_forwarding_rules_f(t->ref, b, on_rules), VMNET_SUCCESS);
	CHECKF(dispatch_semaphore_wait(b->sem, t_deadline_ms(500)) != 0, "no handler while the queue is blocked");
	dispatch_semaphore_signal(gate);
	CHECKF(box_wait(b) && b->called, "the handler ran once the queue was free");

	/* Fire and forget (NULL handler), then get at once: the get sees the rule. */
	CHECK_ST(vmnet_interface_add_port_forwarding_rule(t->ref, IPPROTO_TCP, 3333, end, 33, NULL), VMNET_SUCCESS);
	rules = get4(t, &ok);
	CHECKF(ok, "the get handler ran");
	rules_are(rules, AF_INET, &end, w, 1);
	CHECK_ST(vmnet_interface_remove_port_forwarding_rule_f(t->ref, IPPROTO_TCP, 3333, NULL, NULL), VMNET_SUCCESS);
	rules = get4(t, &ok);
	CHECKF(ok && rules == NULL, "removed, fire and forget too");
}

static void test_host_mode(void)
{
	struct tif h;
	struct in_addr a;
	struct box *b;
	xpc_object_t rules;
	bool ok;

	t_section("a host-mode interface: the handler says VMNET_INVALID_ARGUMENT, get gives NULL");
	if (!t_start_host(&h, "host"))
		return;
	inet_pton(AF_INET, "192.168.128.5", &a);
	b = box_new();
	CHECK_ST(vmnet_interface_add_port_forwarding_rule_f(h.ref, IPPROTO_TCP, 2000, a, 22, b, on_done), VMNET_SUCCESS);
	CHECK(box_wait(b));
	CHECK_ST(b->st, VMNET_INVALID_ARGUMENT);
	rules = get4(&h, &ok);
	CHECKF(ok && rules == NULL, "get on a host-mode interface: NULL");
	CHECK_ST(t_stop(&h), VMNET_SUCCESS);
}

int main(void)
{
	struct tif s;
	xpc_object_t d = xpc_dictionary_create(NULL, NULL, 0);
	struct in_addr end = { 0 };
	struct in6_addr guest;
	const char *e;

	t_section("start a shared-mode interface");
	xpc_dictionary_set_uint64(d, vmnet_operation_mode_key, VMNET_SHARED_MODE);
	xpc_dictionary_set_string(d, vmnet_nat66_prefix_key, NAT66_PREFIX);
	t_start(&s, "shared", d);
	xpc_release(d);
	CHECK_ST(s.status, VMNET_SUCCESS);
	if (s.status != VMNET_SUCCESS)
		return t_done("api_forward");
	e = xpc_dictionary_get_string(s.param, vmnet_end_address_key);
	CHECKF(e && inet_pton(AF_INET, e, &end) == 1, "vmnet_end_address %s", e ? e : "(none)");
	inet_pton(AF_INET6, NAT66_PREFIX "5", &guest);

	test_legacy_blocks(&s, end);
	test_ip_f(&s, &guest, end);
	test_arguments(&s, end, &guest);
	test_queue_and_order(&s, end);
	test_host_mode();

	t_section("stop");
	CHECK_ST(t_stop(&s), VMNET_SUCCESS);
	return t_done("api_forward");
}
