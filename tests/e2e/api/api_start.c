/*
 * api_start.c — interface lifecycle through the public API against a private
 * vmnetd (spec §2, §3, §6): start and interface_param, interface_desc
 * validation, interface id -> MAC, stop semantics, stop from atexit, the
 * shared interface list.
 *
 * usage: api_start all                 every test below
 *        api_start idmac-save FILE     start with a new interface id, write "UUID MAC" to FILE, stop
 *        api_start idmac-check FILE    start with the UUID in FILE, check the MAC is the one in FILE
 *        api_start atexit-child UUID   (internal) start, return from main, stop from an atexit handler
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include <Block.h>
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_common.h"

/* ------------------------------------------------------------------ */
/* 1. start and interface_param                                        */
/* ------------------------------------------------------------------ */

static bool is_lower_mac(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2) {
			if (s[i] != ':')
				return false;
		} else if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
			return false;
		}
	}
	return true;
}

static bool has_type(xpc_object_t d, const char *key, xpc_type_t type)
{
	xpc_object_t v = xpc_dictionary_get_value(d, key);

	return v && xpc_get_type(v) == type;
}

static bool str_is(xpc_object_t d, const char *key, const char *want)
{
	const char *s = xpc_dictionary_get_string(d, key);

	return s && !strcmp(s, want);
}

static void test_default_param(void)
{
	static const uuid_t zero;
	struct tif a;
	xpc_object_t p;
	const char *mac;
	const uint8_t *id;
	__block int private_keys = 0;

	t_section("host mode start, interface_param keys (spec 2.2)");
	if (!t_start_host(&a, "param"))
		return;
	CHECK(a.ref != NULL);
	p = a.param;
	CHECK(p != NULL && xpc_get_type(p) == XPC_TYPE_DICTIONARY);
	if (!p)
		return;
	CHECKF(has_type(p, vmnet_mac_address_key, XPC_TYPE_STRING), "vmnet_mac_address is an xpc string");
	mac = xpc_dictionary_get_string(p, vmnet_mac_address_key);
	CHECKF(mac && is_lower_mac(mac), "MAC '%s' is lower-case xx:xx:xx:xx:xx:xx", mac ? mac : "(none)");
	CHECKF(a.has_mac && !(a.mac[0] & 1), "MAC %s is unicast", a.mac_str);
	CHECKF(has_type(p, vmnet_mtu_key, XPC_TYPE_UINT64), "vmnet_mtu is an xpc uint64");
	CHECK_EQ(a.mtu, 1500);
	CHECKF(has_type(p, vmnet_max_packet_size_key, XPC_TYPE_UINT64), "vmnet_max_packet_size is an xpc uint64");
	CHECK_EQ(a.mps, 1514);
	CHECKF(has_type(p, vmnet_interface_id_key, XPC_TYPE_UUID), "vmnet_interface_id is an xpc uuid");
	id = xpc_dictionary_get_uuid(p, vmnet_interface_id_key);
	CHECKF(id && memcmp(id, zero, sizeof(uuid_t)), "vmnet_interface_id is not the null UUID");
	CHECKF(has_type(p, vmnet_start_address_key, XPC_TYPE_STRING) && str_is(p, vmnet_start_address_key, "192.168.128.1"),
	       "vmnet_start_address is \"192.168.128.1\" (got %s)",
	       xpc_dictionary_get_string(p, vmnet_start_address_key) ?: "(none)");
	CHECKF(has_type(p, vmnet_end_address_key, XPC_TYPE_STRING) && str_is(p, vmnet_end_address_key, "192.168.128.254"),
	       "vmnet_end_address is \"192.168.128.254\" (got %s)",
	       xpc_dictionary_get_string(p, vmnet_end_address_key) ?: "(none)");
	CHECKF(has_type(p, vmnet_subnet_mask_key, XPC_TYPE_STRING) && str_is(p, vmnet_subnet_mask_key, "255.255.255.0"),
	       "vmnet_subnet_mask is \"255.255.255.0\" (got %s)",
	       xpc_dictionary_get_string(p, vmnet_subnet_mask_key) ?: "(none)");
	CHECKF(has_type(p, vmnet_read_max_packets_key, XPC_TYPE_UINT64), "vmnet_read_max_packets is an xpc uint64");
	CHECK_EQ(a.rmax, 256);
	CHECKF(has_type(p, vmnet_write_max_packets_key, XPC_TYPE_UINT64), "vmnet_write_max_packets is an xpc uint64");
	CHECK_EQ(a.wmax, 256);
	CHECKF(!xpc_dictionary_get_value(p, vmnet_nat66_prefix_key), "host mode has no vmnet_nat66_prefix");
	xpc_dictionary_apply(p, ^bool(const char *key, xpc_object_t v) {
		if (strncmp(key, "vmnet_", 6) != 0) {
			printf("   unexpected key in interface_param: %s\n", key);
			private_keys++;
		}
		return true;
	});
	CHECKF(private_keys == 0, "interface_param only has public vmnet_* keys");
	CHECK_ST(t_stop(&a), VMNET_SUCCESS);
}

static void test_handler_on_queue(void)
{
	dispatch_queue_t q = t_queue("gated");
	dispatch_semaphore_t gate = t_gate(q);
	dispatch_semaphore_t done = t_sem(0), after = t_sem(0);
	xpc_object_t d = t_desc_host();
	__block atomic_int ran = 0;
	__block vmnet_return_t status = T_TIMEOUT;
	__block interface_ref seen = NULL;
	__block bool after_saw_handler = false;
	interface_ref ref;

	t_section("the handle is returned before the handler runs; the handler runs on the given queue");
	ref = vmnet_start_interface(d, q, ^(vmnet_return_t st, xpc_object_t param) {
		atomic_store(&ran, 1);
		status = st;
		dispatch_semaphore_signal(done);
	});
	CHECKF(ref != NULL, "vmnet_start_interface returned a handle");
	/* The queue is held by the gate: a handler scheduled on it cannot run yet. */
	t_sleep_ms(300);
	CHECKF(atomic_load(&ran) == 0, "the start handler did not run while its (serial) queue was busy");
	dispatch_async(q, ^{
		/* FIFO: this block was queued after the handler, so the handler ran before it. */
		after_saw_handler = atomic_load(&ran) != 0;
		seen = ref;
		dispatch_semaphore_signal(after);
	});
	dispatch_semaphore_signal(gate);
	dispatch_release(gate);
	CHECKF(dispatch_semaphore_wait(done, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0,
	       "the start handler ran once the queue was free");
	CHECKF(dispatch_semaphore_wait(after, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0, "a later block ran");
	CHECKF(after_saw_handler, "the handler was queued on the given queue (it ran before a block queued later)");
	CHECK_ST(status, VMNET_SUCCESS);
	CHECK(seen == ref);
	xpc_release(d);
	if (ref && status == VMNET_SUCCESS) {
		struct tif t = { .name = "gated", .ref = ref, .q = q };

		CHECK_ST(t_stop(&t), VMNET_SUCCESS);
	}
}

/* Start with desc; expect the handler (or a NULL handle) to refuse with want. */
static void expect_refused(const char *what, xpc_object_t desc, vmnet_return_t want)
{
	struct tif t;
	vmnet_return_t st = t_start(&t, what, desc);

	if (st == T_NULL_REF) {
		CHECKF(true, "%s: refused (NULL handle)", what);
		return;
	}
	CHECKF(st == want, "%s: start handler status %s, want %s", what, t_st_name(st), t_st_name(want));
	CHECKF(t.param == NULL, "%s: no interface_param on failure", what);
	if (st == VMNET_SUCCESS) {
		t_stop(&t);
		return;
	}
	if (st != T_TIMEOUT) {
		/* I/O on an interface whose start failed fails cleanly (interface.c conventions). */
		uint8_t buf[64] = { 0 };
		int n = 0;

		CHECKF(t_write1(t.ref, buf, sizeof(buf)) == VMNET_INVALID_ARGUMENT,
		       "%s: vmnet_write on the failed interface is VMNET_INVALID_ARGUMENT", what);
		CHECKF(vmnet_read(t.ref, NULL, &n) == VMNET_INVALID_ARGUMENT || n == 0,
		       "%s: vmnet_read on the failed interface fails", what);
	}
}

static void test_mtu(void)
{
	struct tif t;
	xpc_object_t d;
	vmnet_return_t st;

	t_section("vmnet_mtu_key");
	d = t_desc_host();
	xpc_dictionary_set_uint64(d, vmnet_mtu_key, 4000);
	st = t_start(&t, "mtu4000", d);
	xpc_release(d);
	CHECK_ST(st, VMNET_SUCCESS);
	if (st == VMNET_SUCCESS) {
		uint8_t *buf = calloc(1, 4100);

		CHECK_EQ(t.mtu, 4000);
		CHECK_EQ(t.mps, 4014);
		t_frame_build(buf, 4014, t_bcast, t.mac, 1, 1);
		CHECK_ST(t_write1(t.ref, buf, 4014), VMNET_SUCCESS);
		t_frame_build(buf, 4015, t_bcast, t.mac, 1, 2);
		CHECK_ST(t_write1(t.ref, buf, 4015), VMNET_PACKET_TOO_BIG);
		free(buf);
		CHECK_ST(t_stop(&t), VMNET_SUCCESS);
	}
	d = t_desc_host();
	xpc_dictionary_set_uint64(d, vmnet_mtu_key, 100);
	expect_refused("mtu 100", d, VMNET_INVALID_ARGUMENT);
	xpc_release(d);

	/* Two MTU-4000 interfaces exchange a 4014-byte frame; a 1500-MTU one never gets it (cut or whole). */
	{
		struct tif j1, j2, s1;
		struct t_rx r = { 0 };
		uint8_t *buf = calloc(1, 4014);
		uint32_t tg, sq;

		d = t_desc_host();
		xpc_dictionary_set_string(d, vmnet_start_address_key, "192.168.142.1");
		xpc_dictionary_set_string(d, vmnet_end_address_key, "192.168.142.254");
		xpc_dictionary_set_string(d, vmnet_subnet_mask_key, "255.255.255.0");
		xpc_dictionary_set_uint64(d, vmnet_mtu_key, 4000);
		st = t_start(&j1, "jumbo1", d);
		CHECK_ST(st, VMNET_SUCCESS);
		CHECK_ST(t_start(&j2, "jumbo2", d), VMNET_SUCCESS);
		xpc_dictionary_set_uint64(d, vmnet_mtu_key, 1500);
		CHECK_ST(t_start(&s1, "small-mtu", d), VMNET_SUCCESS);
		xpc_release(d);
		if (j1.running && j2.running && s1.running) {
			CHECK_EQ(s1.mps, 1514);
			t_frame_build(buf, 4014, t_bcast, j1.mac, 3, 1);
			CHECK_ST(t_write1(j1.ref, buf, 4014), VMNET_SUCCESS);
			CHECK_EQ(t_collect(j2.ref, &r, 1, 3000, 4014), 1);
			CHECKF(r.n == 1 && r.len[0] == 4014 && t_frame_parse(r.data[0], r.len[0], &tg, &sq),
			       "a 4014-byte frame arrives whole at the other MTU-4000 interface");
			t_rx_free(&r);
			CHECKF(t_collect(s1.ref, &r, 0, 300, 4014) == 0,
			       "the MTU-1500 interface gets no 4014-byte frame (%d frames)", r.n);
			t_rx_free(&r);
		}
		free(buf);
		if (j1.running)
			t_stop(&j1);
		if (j2.running)
			t_stop(&j2);
		if (s1.running)
			t_stop(&s1);
	}
}

static void test_no_mac(void)
{
	struct tif t;
	xpc_object_t d = t_desc_host();
	vmnet_return_t st;

	t_section("vmnet_allocate_mac_address_key false");
	xpc_dictionary_set_bool(d, vmnet_allocate_mac_address_key, false);
	st = t_start(&t, "nomac", d);
	xpc_release(d);
	CHECK_ST(st, VMNET_SUCCESS);
	if (st != VMNET_SUCCESS)
		return;
	CHECKF(!xpc_dictionary_get_value(t.param, vmnet_mac_address_key), "no vmnet_mac_address without MAC allocation");
	CHECK_EQ(t.mtu, 1500);
	CHECK_EQ(t.mps, 1514);
	CHECKF(has_type(t.param, vmnet_interface_id_key, XPC_TYPE_UUID), "vmnet_interface_id still returned");
	CHECK_ST(t_stop(&t), VMNET_SUCCESS);
}

static void test_bad_desc(void)
{
	struct {
		const char *what, *key;
		xpc_object_t value;
	} wrong[] = {
		{ "mode as a string", vmnet_operation_mode_key, xpc_string_create("host") },
		{ "mode as int64", vmnet_operation_mode_key, xpc_int64_create(VMNET_HOST_MODE) },
		{ "mtu as a string", vmnet_mtu_key, xpc_string_create("1500") },
		{ "allocate_mac as uint64", vmnet_allocate_mac_address_key, xpc_uint64_create(1) },
		{ "interface_id as a string", vmnet_interface_id_key,
		  xpc_string_create("2835e074-0000-4000-8000-000000000001") },
		{ "start_address as uint64", vmnet_start_address_key, xpc_uint64_create(0xc0a88001) },
		{ "enable_isolation as a string", vmnet_enable_isolation_key, xpc_string_create("true") },
		{ "network_identifier as a string", vmnet_network_identifier_key,
		  xpc_string_create("2835e074-0000-4000-8000-000000000002") },
	};
	xpc_object_t d;
	char what[96];

	t_section("interface_desc validation");
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		d = t_desc_host();
		if (!strcmp(wrong[i].key, vmnet_operation_mode_key))
			xpc_dictionary_set_value(d, vmnet_operation_mode_key, NULL);
		xpc_dictionary_set_value(d, wrong[i].key, wrong[i].value);
		snprintf(what, sizeof(what), "wrong type: %s", wrong[i].what);
		expect_refused(what, d, VMNET_INVALID_ARGUMENT);
		xpc_release(d);
		xpc_release(wrong[i].value);
	}

	/* start/end/mask: all three or none */
	d = t_desc_host();
	xpc_dictionary_set_string(d, vmnet_start_address_key, "192.168.141.1");
	expect_refused("start address alone", d, VMNET_INVALID_ARGUMENT);
	xpc_dictionary_set_string(d, vmnet_end_address_key, "192.168.141.20");
	expect_refused("start and end without mask", d, VMNET_INVALID_ARGUMENT);
	xpc_release(d);
	d = t_desc_host();
	xpc_dictionary_set_string(d, vmnet_subnet_mask_key, "255.255.255.0");
	expect_refused("mask alone", d, VMNET_INVALID_ARGUMENT);
	xpc_dictionary_set_string(d, vmnet_end_address_key, "192.168.141.20");
	expect_refused("end and mask without start", d, VMNET_INVALID_ARGUMENT);
	xpc_release(d);

	/* missing / unknown mode */
	d = xpc_dictionary_create(NULL, NULL, 0);
	expect_refused("empty interface_desc (no mode)", d, VMNET_INVALID_ARGUMENT);
	xpc_dictionary_set_uint64(d, vmnet_mtu_key, 1500);
	expect_refused("no mode, mtu only", d, VMNET_INVALID_ARGUMENT);
	xpc_dictionary_set_uint64(d, vmnet_operation_mode_key, 999);
	expect_refused("mode 999", d, VMNET_INVALID_ARGUMENT);
	xpc_release(d);

	/* not a dictionary / NULL: no handle, no crash */
	d = xpc_string_create("not a dictionary");
	expect_refused("interface_desc is a string", d, VMNET_INVALID_ARGUMENT);
	xpc_release(d);
	/* NULL arguments: NULL handle, and then the handler is never called (spec 3.1) */
	{
		__block atomic_int called = 0;
		dispatch_queue_t q = t_queue("null-args");

		d = t_desc_host();
		CHECKF(vmnet_start_interface(NULL, q, ^(vmnet_return_t st, xpc_object_t p) {
			       atomic_fetch_add(&called, 1);
		       }) == NULL,
		       "vmnet_start_interface(NULL desc) returns NULL");
		CHECKF(vmnet_start_interface(d, NULL, ^(vmnet_return_t st, xpc_object_t p) {
			       atomic_fetch_add(&called, 1);
		       }) == NULL,
		       "vmnet_start_interface(NULL queue) returns NULL");
		CHECKF(vmnet_start_interface(d, q, NULL) == NULL, "vmnet_start_interface(NULL handler) returns NULL");
		t_sleep_ms(200);
		CHECKF(t_flush(q, 5000), "queue q drained");
		CHECKF(atomic_load(&called) == 0, "no handler runs when NULL was returned");
		xpc_release(d);
	}

	/* host-side address keys need a network identifier; the identifier is host mode only */
	{
		uuid_t net;
		struct tif t;

		uuid_generate_random(net);
		d = t_desc_host();
		xpc_dictionary_set_string(d, vmnet_host_ip_address_key, "192.168.143.1");
		xpc_dictionary_set_string(d, vmnet_host_subnet_mask_key, "255.255.255.0");
		expect_refused("host_ip_address without network_identifier", d, VMNET_INVALID_ARGUMENT);
		xpc_release(d);
		d = t_desc_host();
		xpc_dictionary_set_uuid(d, vmnet_network_identifier_key, net);
		xpc_dictionary_set_string(d, vmnet_host_ip_address_key, "192.168.143.1");
		expect_refused("host_ip_address without host_subnet_mask", d, VMNET_INVALID_ARGUMENT);
		/* the complete set, as the vmnet Rust crate's host_network_identifier test sends it */
		xpc_dictionary_set_string(d, vmnet_host_subnet_mask_key, "255.255.255.0");
		xpc_dictionary_set_string(d, vmnet_host_ipv6_address_key, "fd00:1337::1");
		CHECKF(t_start(&t, "netid-hostip", d) == VMNET_SUCCESS,
		       "network identifier with host IPv4/mask/IPv6 starts (%s)", t_st_name(t.status));
		if (t.status == VMNET_SUCCESS)
			CHECK_ST(t_stop(&t), VMNET_SUCCESS);
		xpc_release(d);
		d = xpc_dictionary_create(NULL, NULL, 0);
		xpc_dictionary_set_uint64(d, vmnet_operation_mode_key, VMNET_SHARED_MODE);
		xpc_dictionary_set_uuid(d, vmnet_network_identifier_key, net);
		expect_refused("network_identifier in shared mode", d, VMNET_INVALID_ARGUMENT);
		xpc_release(d);
	}
}

static void test_range(void)
{
	struct tif t, u;
	xpc_object_t d = t_desc_host();
	vmnet_return_t st;

	t_section("explicit address range");
	xpc_dictionary_set_string(d, vmnet_start_address_key, "192.168.140.1");
	xpc_dictionary_set_string(d, vmnet_end_address_key, "192.168.140.20");
	xpc_dictionary_set_string(d, vmnet_subnet_mask_key, "255.255.255.0");
	st = t_start(&t, "range", d);
	CHECK_ST(st, VMNET_SUCCESS);
	if (st == VMNET_SUCCESS) {
		CHECKF(str_is(t.param, vmnet_start_address_key, "192.168.140.1"), "start 192.168.140.1 returned (got %s)",
		       xpc_dictionary_get_string(t.param, vmnet_start_address_key) ?: "(none)");
		CHECKF(str_is(t.param, vmnet_end_address_key, "192.168.140.20"), "end 192.168.140.20 returned (got %s)",
		       xpc_dictionary_get_string(t.param, vmnet_end_address_key) ?: "(none)");
		CHECKF(str_is(t.param, vmnet_subnet_mask_key, "255.255.255.0"), "mask returned (got %s)",
		       xpc_dictionary_get_string(t.param, vmnet_subnet_mask_key) ?: "(none)");
		/* A second interface with the same range joins the same network. */
		st = t_start(&u, "range2", d);
		CHECK_ST(st, VMNET_SUCCESS);
		if (st == VMNET_SUCCESS)
			CHECK_ST(t_stop(&u), VMNET_SUCCESS);
		CHECK_ST(t_stop(&t), VMNET_SUCCESS);
	}
	xpc_release(d);
	d = t_desc_host();
	xpc_dictionary_set_string(d, vmnet_start_address_key, "8.8.8.1");
	xpc_dictionary_set_string(d, vmnet_end_address_key, "8.8.8.20");
	xpc_dictionary_set_string(d, vmnet_subnet_mask_key, "255.255.255.0");
	expect_refused("public (non RFC 1918) range", d, VMNET_INVALID_ARGUMENT);
	xpc_release(d);
}

static void test_other_modes(void)
{
	xpc_object_t list = vmnet_copy_shared_interface_list();
	const char *nic = list && xpc_array_get_count(list) ? xpc_array_get_string(list, 0) : "eth0";
	xpc_object_t d;
	struct tif t;
	vmnet_return_t st;

	t_section("shared mode without host taps and bridged mode on a bad interface are refused clearly");
	d = xpc_dictionary_create(NULL, NULL, 0);
	xpc_dictionary_set_uint64(d, vmnet_operation_mode_key, VMNET_SHARED_MODE);
	st = t_start(&t, "shared", d);
	CHECKF(st != VMNET_SUCCESS && st >= VMNET_FAILURE && st <= VMNET_NOT_AUTHORIZED,
	       "shared mode: a failure status (got %s)", t_st_name(st));
	t_note("shared mode start: %s", t_st_name(st));
	if (st == VMNET_SUCCESS)
		t_stop(&t);
	xpc_release(d);

	/* Bridged starts on a real interface are test_bridged.sh's (on a veth it makes: a test
	 * never puts frames on the machine's own LAN). Here: a name that is not an interface. */
	(void)nic;
	d = xpc_dictionary_create(NULL, NULL, 0);
	xpc_dictionary_set_uint64(d, vmnet_operation_mode_key, VMNET_BRIDGED_MODE);
	xpc_dictionary_set_string(d, vmnet_shared_interface_name_key, "vmnetnosuch0");
	st = t_start(&t, "bridged", d);
	CHECKF(st == VMNET_INVALID_ARGUMENT, "bridged mode on an unknown interface: VMNET_INVALID_ARGUMENT (got %s)",
	       t_st_name(st));
	if (st == VMNET_SUCCESS)
		t_stop(&t);
	xpc_release(d);
	if (list)
		xpc_release(list);
}

/* ------------------------------------------------------------------ */
/* 2. interface id -> MAC                                              */
/* ------------------------------------------------------------------ */

static vmnet_return_t start_with_id(struct tif *t, const char *name, const uuid_t id)
{
	xpc_object_t d = t_desc_host();
	vmnet_return_t st;

	xpc_dictionary_set_uuid(d, vmnet_interface_id_key, id);
	st = t_start(t, name, d);
	xpc_release(d);
	return st;
}

static void test_id_mac(void)
{
	struct tif a, b, c;
	uuid_t id, returned;
	char mac[24];
	vmnet_return_t st;

	t_section("vmnet_interface_id_key -> the same MAC");
	uuid_generate_random(id);
	st = start_with_id(&a, "id1", id);
	CHECK_ST(st, VMNET_SUCCESS);
	if (st != VMNET_SUCCESS)
		return;
	CHECKF(a.has_id && !memcmp(a.id, id, sizeof(uuid_t)), "interface_param echoes the given interface id");
	snprintf(mac, sizeof(mac), "%s", a.mac_str);

	st = start_with_id(&b, "id1-dup", id);
	CHECKF(st == VMNET_SHARING_SERVICE_BUSY, "a second start with the id of a running interface: %s (want %s)",
	       t_st_name(st), t_st_name(VMNET_SHARING_SERVICE_BUSY));
	if (st == VMNET_SUCCESS)
		t_stop(&b);

	CHECK_ST(t_stop(&a), VMNET_SUCCESS);
	st = start_with_id(&a, "id1-again", id);
	CHECK_ST(st, VMNET_SUCCESS);
	if (st == VMNET_SUCCESS) {
		CHECKF(!strcmp(a.mac_str, mac), "same MAC after stop/start (%s vs %s)", a.mac_str, mac);
		CHECK_ST(t_stop(&a), VMNET_SUCCESS);
	}

	/* An id that vmnet invented and returned works the same way. */
	if (!t_start_host(&c, "fresh"))
		return;
	CHECK(c.has_id);
	memcpy(returned, c.id, sizeof(uuid_t));
	snprintf(mac, sizeof(mac), "%s", c.mac_str);
	CHECKF(strcmp(mac, a.mac_str) != 0, "different interface ids get different MACs");
	CHECK_ST(t_stop(&c), VMNET_SUCCESS);
	st = start_with_id(&c, "fresh-again", returned);
	CHECK_ST(st, VMNET_SUCCESS);
	if (st == VMNET_SUCCESS) {
		CHECKF(!strcmp(c.mac_str, mac), "the returned interface id gives back its MAC (%s vs %s)", c.mac_str, mac);
		CHECK_ST(t_stop(&c), VMNET_SUCCESS);
	}
}

static int idmac_save(const char *file)
{
	struct tif a;
	uuid_t id;
	char u[40];
	FILE *f;

	t_section("interface id -> MAC: remember for after a daemon restart");
	uuid_generate_random(id);
	uuid_unparse_lower(id, u);
	CHECK_ST(start_with_id(&a, "persist", id), VMNET_SUCCESS);
	if (a.status == VMNET_SUCCESS) {
		CHECK(a.has_mac);
		f = fopen(file, "w");
		CHECK(f != NULL);
		if (f) {
			fprintf(f, "%s %s\n", u, a.mac_str);
			fclose(f);
		}
		t_note("interface id %s has MAC %s", u, a.mac_str);
		CHECK_ST(t_stop(&a), VMNET_SUCCESS);
	}
	return t_done("api_start idmac-save");
}

static int idmac_check(const char *file)
{
	struct tif a;
	uuid_t id;
	char u[64] = "", mac[64] = "";
	FILE *f = fopen(file, "r");

	t_section("interface id -> MAC: the same MAC from a restarted daemon");
	CHECK(f != NULL);
	if (f) {
		CHECK(fscanf(f, "%63s %63s", u, mac) == 2);
		fclose(f);
	}
	CHECK(uuid_parse(u, id) == 0);
	if (t_fail == 0) {
		CHECK_ST(start_with_id(&a, "persist", id), VMNET_SUCCESS);
		if (a.status == VMNET_SUCCESS) {
			CHECKF(!strcmp(a.mac_str, mac), "MAC after the daemon restart: %s (want %s)", a.mac_str, mac);
			CHECK_ST(t_stop(&a), VMNET_SUCCESS);
		}
	}
	return t_done("api_start idmac-check");
}

/* ------------------------------------------------------------------ */
/* 10. stop                                                            */
/* ------------------------------------------------------------------ */

static void test_stop(void)
{
	struct tif a;
	dispatch_queue_t q;
	dispatch_semaphore_t gate, done = t_sem(0);
	__block vmnet_return_t hst = T_TIMEOUT;
	__block atomic_int ran = 0;
	uint8_t frame[64];
	struct iovec iov = { frame, sizeof(frame) };
	struct vmpktdesc pd = { .vm_pkt_size = sizeof(frame), .vm_pkt_iov = &iov, .vm_pkt_iovcnt = 1 };
	vmnet_return_t st;
	int n;

	t_section("stop semantics");
	if (!t_start_host(&a, "stopme"))
		return;
	/* Refused stops leave the interface running. */
	CHECK_ST(vmnet_stop_interface(a.ref, NULL, ^(vmnet_return_t s) {}), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_stop_interface(a.ref, a.q, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_stop_interface(NULL, a.q, ^(vmnet_return_t s) {}), VMNET_INVALID_ARGUMENT);
	t_frame_build(frame, sizeof(frame), t_bcast, a.mac, 9, 0);
	CHECKF(t_write1(a.ref, frame, sizeof(frame)) == VMNET_SUCCESS, "the interface still works after refused stops");
	q = t_queue("stop-q");
	gate = t_gate(q); /* hold the stop handler so the handle stays valid for the checks below */
	st = vmnet_stop_interface(a.ref, q, ^(vmnet_return_t s) {
		hst = s;
		atomic_store(&ran, 1);
		dispatch_semaphore_signal(done);
	});
	CHECK_ST(st, VMNET_SUCCESS);
	/* Right after the call (teardown may still be running). */
	n = 1;
	t_frame_build(frame, sizeof(frame), t_bcast, a.mac, 9, 0);
	CHECK_ST(vmnet_write(a.ref, &pd, &n), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(n, 0);
	n = 1;
	pd.vm_pkt_size = sizeof(frame);
	CHECK_ST(vmnet_read(a.ref, &pd, &n), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(n, 0);
	CHECK_ST(vmnet_interface_set_event_callback(a.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t m, xpc_object_t e) {}),
		 VMNET_INVALID_ARGUMENT);
	/* A second stop before the first completed. */
	CHECK_ST(vmnet_stop_interface(a.ref, q, ^(vmnet_return_t s) { printf("   second stop handler ran!\n"); }),
		 VMNET_INVALID_ARGUMENT);
	/* Once teardown is surely over (the handler is still held by the gate). */
	t_sleep_ms(300);
	CHECKF(atomic_load(&ran) == 0, "the stop handler runs on its queue (held by the gate)");
	n = 1;
	pd.vm_pkt_size = sizeof(frame);
	CHECK_ST(vmnet_write(a.ref, &pd, &n), VMNET_INVALID_ARGUMENT);
	n = 1;
	CHECK_ST(vmnet_read(a.ref, &pd, &n), VMNET_INVALID_ARGUMENT);
	n = 0;
	CHECK_ST(vmnet_read(a.ref, &pd, &n), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_stop_interface(a.ref, q, ^(vmnet_return_t s) {}), VMNET_INVALID_ARGUMENT);
	dispatch_semaphore_signal(gate);
	dispatch_release(gate);
	CHECKF(dispatch_semaphore_wait(done, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0, "the stop handler ran");
	CHECK_ST(hst, VMNET_SUCCESS);

	/* A stopped interface's MAC is free again: a new interface with its id starts. */
	CHECK_ST(start_with_id(&a, "stopme-again", a.id), VMNET_SUCCESS);
	if (a.status == VMNET_SUCCESS)
		CHECK_ST(t_stop(&a), VMNET_SUCCESS);

	/* Stop right after start, without waiting for the start handler. */
	{
		xpc_object_t d = t_desc_host();
		dispatch_queue_t q2 = t_queue("early");
		dispatch_semaphore_t s1 = t_sem(0), s2 = t_sem(0);
		__block vmnet_return_t st1 = T_TIMEOUT, st2 = T_TIMEOUT;
		__block bool order_ok = false;
		__block atomic_int started = 0;
		interface_ref r = vmnet_start_interface(d, q2, ^(vmnet_return_t s, xpc_object_t p) {
			st1 = s;
			atomic_store(&started, 1);
			dispatch_semaphore_signal(s1);
		});

		CHECK(r != NULL);
		if (r) {
			CHECK_ST(vmnet_stop_interface(r, q2, ^(vmnet_return_t s) {
					 st2 = s;
					 order_ok = atomic_load(&started) == 1;
					 dispatch_semaphore_signal(s2);
				 }),
				 VMNET_SUCCESS);
			CHECKF(dispatch_semaphore_wait(s1, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0,
			       "start handler ran (stop requested before it)");
			CHECKF(dispatch_semaphore_wait(s2, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0,
			       "stop handler ran (stop requested before the start handler)");
			CHECKF(order_ok, "the stop handler ran after the start handler");
			CHECK_ST(st2, VMNET_SUCCESS);
			t_note("start handler status with an early stop: %s", t_st_name(st1));
		}
		xpc_release(d);
	}
}

static void test_concurrent_starts(void)
{
	enum { N = 8 };
	static struct tif t[N];
	dispatch_queue_t cq = t_cqueue("starters");
	dispatch_group_t g = t_group();
	int ok = 0, distinct = 1;

	t_section("%d interfaces started at once from a concurrent queue; a global queue as handler queue", N);
	for (int i = 0; i < N; i++) {
		int k = i;

		dispatch_group_async(g, cq, ^{
			xpc_object_t d = t_desc_host();

			t_start(&t[k], "concurrent", d);
			xpc_release(d);
		});
	}
	CHECKF(dispatch_group_wait(g, t_deadline_ms(20000)) == 0, "all starts returned");
	for (int i = 0; i < N; i++) {
		ok += t[i].status == VMNET_SUCCESS && t[i].has_mac;
		for (int j = 0; j < i; j++)
			if (t[i].has_mac && t[j].has_mac && !memcmp(t[i].mac, t[j].mac, 6))
				distinct = 0;
	}
	CHECKF(ok == N, "%d of %d concurrent starts succeeded", ok, N);
	CHECKF(distinct, "concurrent starts got distinct MACs");
	for (int i = 0; i < N; i++)
		if (t[i].running)
			CHECK_ST(t_stop(&t[i]), VMNET_SUCCESS);

	/* the vmnet Rust crate starts and stops on dispatch_get_global_queue(0, 0) */
	{
		dispatch_queue_t gq = dispatch_get_global_queue(0, 0);
		dispatch_semaphore_t s = t_sem(0);
		xpc_object_t d = t_desc_host();
		__block vmnet_return_t st1 = T_TIMEOUT, st2 = T_TIMEOUT;
		interface_ref r = vmnet_start_interface(d, gq, ^(vmnet_return_t st, xpc_object_t p) {
			st1 = st;
			dispatch_semaphore_signal(s);
		});

		CHECK(r != NULL);
		if (r && dispatch_semaphore_wait(s, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0 && st1 == VMNET_SUCCESS) {
			CHECK_ST(vmnet_stop_interface(r, gq, ^(vmnet_return_t st) {
					 st2 = st;
					 dispatch_semaphore_signal(s);
				 }),
				 VMNET_SUCCESS);
			CHECKF(dispatch_semaphore_wait(s, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) == 0,
			       "stop handler ran on the global queue");
			CHECK_ST(st2, VMNET_SUCCESS);
		} else {
			CHECKF(false, "start on the global queue: %s", t_st_name(st1));
		}
		xpc_release(d);
	}
}

static void atexit_stop(void);
static interface_ref atexit_ref;

static int atexit_child(const char *uuid_s)
{
	struct tif a;
	uuid_t id;

	if (uuid_parse(uuid_s, id) < 0)
		return 2;
	if (start_with_id(&a, "atexit", id) != VMNET_SUCCESS) {
		printf("   atexit child: start failed: %s\n", t_st_name(a.status));
		return 3;
	}
	/* a callback is registered, as in a real client; the stop in atexit disables it */
	if (vmnet_interface_set_event_callback(a.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, t_queue("atexit-events"),
					       ^(interface_event_t m, xpc_object_t e) {}) != VMNET_SUCCESS)
		return 3;
	atexit_ref = a.ref;
	atexit(atexit_stop);
	return 0; /* exit(0) runs atexit_stop */
}

static void atexit_stop(void)
{
	dispatch_queue_t q = t_queue("atexit-stop");
	dispatch_semaphore_t s = t_sem(0);
	__block vmnet_return_t hst = T_TIMEOUT;
	vmnet_return_t st;

	st = vmnet_stop_interface(atexit_ref, q, ^(vmnet_return_t status) {
		hst = status;
		dispatch_semaphore_signal(s);
	});
	if (st != VMNET_SUCCESS) {
		printf("   atexit child: vmnet_stop_interface: %s\n", t_st_name(st));
		_exit(4);
	}
	if (dispatch_semaphore_wait(s, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) != 0) {
		printf("   atexit child: stop handler did not run\n");
		_exit(5);
	}
	if (hst != VMNET_SUCCESS) {
		printf("   atexit child: stop handler status %s\n", t_st_name(hst));
		_exit(6);
	}
	_exit(42); /* proof that the stop completed inside atexit */
}

static void test_atexit(void)
{
	uuid_t id;
	char u[40];
	char *argv[] = { "/proc/self/exe", "atexit-child", u, NULL };
	struct tif a;
	char exe[4096];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	pid_t pid;
	int rc;

	t_section("vmnet_stop_interface from an atexit handler (child process)");
	if (l > 0) {
		exe[l] = 0;
		argv[0] = exe;
	}
	uuid_generate_random(id);
	uuid_unparse_lower(id, u);
	pid = t_spawn(argv);
	CHECK(pid > 0);
	rc = t_wait_child(pid, 20000);
	CHECKF(rc == 42, "child stopped its interface from atexit (exit status %d, want 42)", rc);
	/* The child's interface is gone: its id starts again without a MAC conflict. */
	CHECK_ST(start_with_id(&a, "after-atexit", id), VMNET_SUCCESS);
	if (a.status == VMNET_SUCCESS)
		CHECK_ST(t_stop(&a), VMNET_SUCCESS);
}

/* ------------------------------------------------------------------ */
/* 8. vmnet_copy_shared_interface_list                                 */
/* ------------------------------------------------------------------ */

static bool sys_has(const char *name, const char *leaf)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/net/%s%s%s", name, leaf ? "/" : "", leaf ? leaf : "");
	return stat(path, &st) == 0;
}

static bool listed(const char *name)
{
	xpc_object_t l = vmnet_copy_shared_interface_list();
	bool found = false;

	for (size_t i = 0; l && i < xpc_array_get_count(l); i++) {
		const char *s = xpc_array_get_string(l, i);

		if (s && !strcmp(s, name))
			found = true;
	}
	if (l)
		xpc_release(l);
	return found;
}

static void test_shared_list(void)
{
	t_section("vmnet_copy_shared_interface_list");
	for (int round = 0; round < 2; round++) {
		xpc_object_t l = vmnet_copy_shared_interface_list();
		size_t n;

		CHECKF(l != NULL, "the list is not NULL (round %d)", round);
		if (!l)
			continue;
		CHECKF(xpc_get_type(l) == XPC_TYPE_ARRAY, "the list is an xpc array");
		if (xpc_get_type(l) != XPC_TYPE_ARRAY) {
			xpc_release(l);
			continue;
		}
		n = xpc_array_get_count(l);
		if (round == 0)
			t_note("%zu shared interface(s)", n);
		for (size_t i = 0; i < n; i++) {
			xpc_object_t v = xpc_array_get_value(l, i);
			const char *s = v && xpc_get_type(v) == XPC_TYPE_STRING ? xpc_string_get_string_ptr(v) : NULL;

			CHECKF(s != NULL, "element %zu is an xpc string", i);
			if (!s)
				continue;
			if (round == 0)
				t_note("  %s", s);
			CHECKF(*s && strlen(s) < 16 && !strchr(s, '/'), "'%s' is a plausible interface name", s);
			CHECKF(strcmp(s, "lo") != 0, "'%s' is not the loopback", s);
			/* An interface may vanish meanwhile (other tests): then it must vanish from the list too. */
			CHECKF(sys_has(s, NULL) || !listed(s), "'%s' exists in /sys/class/net", s);
			CHECKF(!sys_has(s, "tun_flags"), "'%s' is not a tun/tap device", s);
		}
		xpc_release(l);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "all";

	if (!strcmp(mode, "idmac-save") && argc > 2)
		return idmac_save(argv[2]);
	if (!strcmp(mode, "idmac-check") && argc > 2)
		return idmac_check(argv[2]);
	if (!strcmp(mode, "atexit-child") && argc > 2)
		return atexit_child(argv[2]);
	if (strcmp(mode, "all")) {
		fprintf(stderr, "usage: %s all | idmac-save FILE | idmac-check FILE\n", argv[0]);
		return 2;
	}
	test_default_param();
	test_handler_on_queue();
	test_mtu();
	test_no_mac();
	test_bad_desc();
	test_range();
	test_other_modes();
	test_id_mac();
	test_stop();
	test_concurrent_starts();
	test_atexit();
	test_shared_list();
	return t_done("api_start");
}
