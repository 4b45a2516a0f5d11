/*
 * test_api_local.c — the parts of the vmnet API that need no daemon: key
 * strings, numeric values, struct layout, vmnet_strerror, rule parsing,
 * argument validation, the failure path of a start that finds no daemon,
 * the shared interface list and the network-configuration API (configurations
 * work without a daemon; networks fail cleanly).
 *
 * Exits non-zero on any failure. Sets VMNET_SOCKET to a path where no daemon
 * listens (and clears VMNET_AUTOSTART), so nothing is ever spawned.
 */
#include <Block.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <vmnet/vmnet.h>

static int failures;

#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                               \
		}                                                                 \
	} while (0)

#define CHECK_EQ(a, b)                                                                                   \
	do {                                                                                             \
		long long _a = (long long)(a), _b = (long long)(b);                                      \
		if (_a != _b) {                                                                          \
			fprintf(stderr, "%s:%d: FAILED: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, \
				_a, _b);                                                                 \
			failures++;                                                                      \
		}                                                                                        \
	} while (0)

/* ---- keys ---- */

#define KEY(name) { &name, #name }
static const struct {
	const char **value;
	const char *ident;
} keys[] = {
	KEY(vmnet_operation_mode_key),
	KEY(vmnet_shared_interface_name_key),
	KEY(vmnet_mac_address_key),
	KEY(vmnet_allocate_mac_address_key),
	KEY(vmnet_interface_id_key),
	KEY(vmnet_mtu_key),
	KEY(vmnet_max_packet_size_key),
	KEY(vmnet_start_address_key),
	KEY(vmnet_end_address_key),
	KEY(vmnet_subnet_mask_key),
	KEY(vmnet_nat66_prefix_key),
	KEY(vmnet_nat66_prefix_length_key),
	KEY(vmnet_estimated_packets_available_key),
	KEY(vmnet_read_max_packets_key),
	KEY(vmnet_write_max_packets_key),
	KEY(vmnet_network_identifier_key),
	KEY(vmnet_host_ip_address_key),
	KEY(vmnet_host_subnet_mask_key),
	KEY(vmnet_host_ipv6_address_key),
	KEY(vmnet_enable_tso_key),
	KEY(vmnet_enable_isolation_key),
	KEY(vmnet_enable_checksum_offload_key),
	KEY(vmnet_enable_virtio_header_key),
};

static void test_keys(void)
{
	size_t n = sizeof(keys) / sizeof(keys[0]);

	CHECK_EQ(n, 23);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(keys[i].ident) - strlen("_key");

		CHECK(*keys[i].value != NULL);
		if (!*keys[i].value)
			continue;
		if (strlen(*keys[i].value) != l || strncmp(*keys[i].value, keys[i].ident, l)) {
			fprintf(stderr, "key %s has string \"%s\"\n", keys[i].ident, *keys[i].value);
			failures++;
		}
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(*keys[i].value, *keys[j].value) != 0);
	}
}

/* ---- numeric values and layout ---- */

static void test_values(void)
{
	CHECK_EQ(VMNET_SUCCESS, 1000);
	CHECK_EQ(VMNET_FAILURE, 1001);
	CHECK_EQ(VMNET_MEM_FAILURE, 1002);
	CHECK_EQ(VMNET_INVALID_ARGUMENT, 1003);
	CHECK_EQ(VMNET_SETUP_INCOMPLETE, 1004);
	CHECK_EQ(VMNET_INVALID_ACCESS, 1005);
	CHECK_EQ(VMNET_PACKET_TOO_BIG, 1006);
	CHECK_EQ(VMNET_BUFFER_EXHAUSTED, 1007);
	CHECK_EQ(VMNET_TOO_MANY_PACKETS, 1008);
	CHECK_EQ(VMNET_SHARING_SERVICE_BUSY, 1009);
	CHECK_EQ(VMNET_NOT_AUTHORIZED, 1010);
	CHECK_EQ(VMNET_HOST_MODE, 1000);
	CHECK_EQ(VMNET_SHARED_MODE, 1001);
	CHECK_EQ(VMNET_BRIDGED_MODE, 1002);
	CHECK_EQ(VMNET_INTERFACE_PACKETS_AVAILABLE, 1);
	CHECK_EQ(sizeof(vmnet_return_t), 4);
	CHECK_EQ(sizeof(operating_modes_t), 4);
	CHECK_EQ(sizeof(interface_event_t), 4);
	CHECK_EQ(sizeof(struct vmpktdesc), 24);
	CHECK_EQ(offsetof(struct vmpktdesc, vm_pkt_size), 0);
	CHECK_EQ(offsetof(struct vmpktdesc, vm_pkt_iov), 8);
	CHECK_EQ(offsetof(struct vmpktdesc, vm_pkt_iovcnt), 16);
	CHECK_EQ(offsetof(struct vmpktdesc, vm_flags), 20);
}

static void test_strerror(void)
{
	CHECK(!strcmp(vmnet_strerror(VMNET_SUCCESS), "VMNET_SUCCESS"));
	CHECK(!strcmp(vmnet_strerror(VMNET_INVALID_ARGUMENT), "VMNET_INVALID_ARGUMENT"));
	CHECK(!strcmp(vmnet_strerror(VMNET_NOT_AUTHORIZED), "VMNET_NOT_AUTHORIZED"));
	CHECK(!strcmp(vmnet_strerror(999), "unknown vmnet status"));
	CHECK(!strcmp(vmnet_strerror(1011), "unknown vmnet status"));
	CHECK(!strcmp(vmnet_strerror(0), "unknown vmnet status"));
	for (vmnet_return_t s = VMNET_SUCCESS; s <= VMNET_NOT_AUTHORIZED; s++)
		CHECK(vmnet_strerror(s) && strncmp(vmnet_strerror(s), "VMNET_", 6) == 0);
}

/* ---- port-forwarding rule parsing ---- */

static xpc_object_t make_rule(uint64_t proto, uint64_t ext, uint64_t af, const char *addr, uint64_t in)
{
	xpc_object_t d = xpc_dictionary_create_empty();

	xpc_dictionary_set_uint64(d, "protocol", proto);
	xpc_dictionary_set_uint64(d, "external_port", ext);
	xpc_dictionary_set_uint64(d, "address_family", af);
	xpc_dictionary_set_string(d, "internal_address", addr);
	xpc_dictionary_set_uint64(d, "internal_port", in);
	return d;
}

static vmnet_return_t details4(xpc_object_t rule)
{
	uint8_t proto;
	uint16_t ext, in;
	struct in_addr a;

	return vmnet_port_forwarding_rule_get_details(rule, &proto, &ext, &a, &in);
}

static void test_rule_valid(void)
{
	xpc_object_t r4 = make_rule(6, 2222, AF_INET, "192.168.64.5", 22);
	xpc_object_t r6 = make_rule(17, 5353, 30, "fd00::5", 53);
	struct in6_addr a6, want6;
	struct in_addr a4;
	uint16_t ext = 0, in = 0;
	uint8_t proto = 0;

	CHECK_EQ(vmnet_port_forwarding_rule_get_details(r4, &proto, &ext, &a4, &in), VMNET_SUCCESS);
	CHECK_EQ(proto, 6);
	CHECK_EQ(ext, 2222);
	CHECK_EQ(in, 22);
	CHECK_EQ(a4.s_addr, inet_addr("192.168.64.5"));
	CHECK_EQ(vmnet_ip_port_forwarding_rule_get_details(r4, &proto, &ext, AF_INET, &a4, &in), VMNET_SUCCESS);

	inet_pton(AF_INET6, "fd00::5", &want6);
	CHECK_EQ(vmnet_ip_port_forwarding_rule_get_details(r6, &proto, &ext, 30, &a6, &in), VMNET_SUCCESS);
	CHECK(!memcmp(&a6, &want6, sizeof(a6)));
	CHECK_EQ(proto, 17);
	CHECK_EQ(ext, 5353);
	CHECK_EQ(in, 53);
	CHECK_EQ(vmnet_ip_port_forwarding_rule_get_details(r6, &proto, &ext, AF_INET6, &a6, &in), VMNET_SUCCESS);
	/* family mismatch, and IPv6 through the IPv4-only call */
	CHECK_EQ(vmnet_ip_port_forwarding_rule_get_details(r6, &proto, &ext, AF_INET, &a6, &in), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(details4(r6), VMNET_INVALID_ARGUMENT);
	/* NULL outputs */
	CHECK_EQ(vmnet_port_forwarding_rule_get_details(r4, NULL, &ext, &a4, &in), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_port_forwarding_rule_get_details(r4, &proto, NULL, &a4, &in), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_port_forwarding_rule_get_details(r4, &proto, &ext, NULL, &in), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_port_forwarding_rule_get_details(r4, &proto, &ext, &a4, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_ip_port_forwarding_rule_get_details(r4, &proto, &ext, AF_INET, NULL, &in),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_ip_port_forwarding_rule_get_details(r4, &proto, &ext, 7, &a4, &in), VMNET_INVALID_ARGUMENT);
	xpc_release(r4);
	xpc_release(r6);
}

static void test_rule_invalid(void)
{
	static const char *const fields[] = { "protocol", "external_port", "address_family", "internal_address",
					      "internal_port" };
	xpc_object_t r, s;

	/* each field missing */
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		r = make_rule(6, 80, AF_INET, "10.0.0.1", 8080);
		xpc_dictionary_set_value(r, fields[i], NULL);
		CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
		/* each field with the wrong type */
		xpc_dictionary_set_bool(r, fields[i], true);
		CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
		xpc_release(r);
	}
	r = make_rule(1, 80, AF_INET, "10.0.0.1", 8080); /* ICMP */
	CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
	xpc_release(r);
	r = make_rule(6, 0, AF_INET, "10.0.0.1", 8080);
	CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
	xpc_release(r);
	r = make_rule(6, 70000, AF_INET, "10.0.0.1", 8080);
	CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
	xpc_release(r);
	r = make_rule(6, 80, AF_INET, "10.0.0.1", 65536);
	CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
	xpc_release(r);
	r = make_rule(6, 80, 7, "10.0.0.1", 8080);
	CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
	xpc_release(r);
	r = make_rule(6, 80, AF_INET, "10.0.0.300", 8080);
	CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
	xpc_release(r);
	r = make_rule(6, 80, AF_INET, "fd00::1", 8080);
	CHECK_EQ(details4(r), VMNET_INVALID_ARGUMENT);
	xpc_release(r);
	CHECK_EQ(details4(NULL), VMNET_INVALID_ARGUMENT);
	s = xpc_string_create("not a rule");
	CHECK_EQ(details4(s), VMNET_INVALID_ARGUMENT);
	xpc_release(s);
}

/* ---- argument validation ---- */

static int handler_calls;

static void start_f(void *ctx, vmnet_return_t status, xpc_object_t param)
{
	handler_calls++;
}

static void test_start_args(dispatch_queue_t q)
{
	xpc_object_t desc = xpc_dictionary_create_empty();
	xpc_object_t str = xpc_string_create("x");
	__block int block_calls = 0;

	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key, VMNET_HOST_MODE);
	CHECK(vmnet_start_interface(NULL, q, ^(vmnet_return_t s, xpc_object_t p) { block_calls++; }) == NULL);
	CHECK(vmnet_start_interface(desc, NULL, ^(vmnet_return_t s, xpc_object_t p) { block_calls++; }) == NULL);
	CHECK(vmnet_start_interface(desc, q, NULL) == NULL);
	CHECK(vmnet_start_interface(str, q, ^(vmnet_return_t s, xpc_object_t p) { block_calls++; }) == NULL);
	CHECK(vmnet_start_interface_f(NULL, q, NULL, start_f) == NULL);
	CHECK(vmnet_start_interface_f(desc, NULL, NULL, start_f) == NULL);
	CHECK(vmnet_start_interface_f(desc, q, NULL, NULL) == NULL);
	CHECK(vmnet_start_interface_f(str, q, NULL, start_f) == NULL);
	usleep(100 * 1000);
	dispatch_sync(q, ^{
	});
	CHECK_EQ(block_calls, 0);
	CHECK_EQ(handler_calls, 0);
	xpc_release(desc);
	xpc_release(str);
}

static void test_null_interface(dispatch_queue_t q)
{
	struct iovec iov = { 0 };
	struct vmpktdesc pk = { .vm_pkt_iov = &iov, .vm_pkt_iovcnt = 1 };
	struct in_addr a = { 0 };
	int n = 1;

	CHECK_EQ(vmnet_read(NULL, &pk, &n), VMNET_INVALID_ARGUMENT);
	n = 1;
	CHECK_EQ(vmnet_write(NULL, &pk, &n), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_read(NULL, &pk, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_write(NULL, &pk, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_stop_interface(NULL, q, ^(vmnet_return_t s) {
		 }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_stop_interface_f(NULL, q, NULL, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_set_event_callback(NULL, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t m, xpc_object_t e) {
						    }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_set_event_callback(NULL, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_add_port_forwarding_rule(NULL, 6, 80, a, 80, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_remove_port_forwarding_rule(NULL, 6, 80, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_get_port_forwarding_rules(NULL, ^(xpc_object_t r) {
		 }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_add_ip_port_forwarding_rule(NULL, 6, 80, AF_INET, &a, 80, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_get_ip_port_forwarding_rules(NULL, AF_INET, ^(xpc_object_t r) {
		 }),
		 VMNET_INVALID_ARGUMENT);
}

/*
 * A start that finds no daemon: the handle comes back at once, the handler
 * reports a failure without interface_param; the dead handle rejects I/O,
 * events and port forwarding, and stopping it works exactly once.
 */
static void test_start_without_daemon(void)
{
	dispatch_queue_t q = dispatch_queue_create("test.start", DISPATCH_QUEUE_SERIAL);
	dispatch_semaphore_t done = dispatch_semaphore_create(0), gate = dispatch_semaphore_create(0);
	xpc_object_t desc = xpc_dictionary_create_empty();
	__block vmnet_return_t status = VMNET_SUCCESS, stop_status = 0;
	__block bool had_param = true;
	struct in_addr a = { 0 };
	uint8_t buf[64];
	struct iovec iov = { buf, sizeof(buf) };
	struct vmpktdesc pk = { sizeof(buf), &iov, 1, 0 };
	interface_ref ifc;
	int n = 1;

	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key, VMNET_HOST_MODE);
	ifc = vmnet_start_interface(desc, q, ^(vmnet_return_t s, xpc_object_t p) {
		status = s;
		had_param = p != NULL;
		dispatch_semaphore_signal(done);
	});
	CHECK(ifc != NULL);
	if (!ifc)
		return;
	CHECK_EQ(dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 10 * NSEC_PER_SEC)), 0);
	CHECK(status != VMNET_SUCCESS);
	CHECK(!had_param);

	CHECK_EQ(vmnet_read(ifc, &pk, &n), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(n, 0);
	n = 1;
	CHECK_EQ(vmnet_write(ifc, &pk, &n), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t m, xpc_object_t e) {
						    }),
		 VMNET_INVALID_ARGUMENT);
	/* mixed NULL/non-NULL and unknown bits are argument errors whatever the state */
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, VMNET_INTERFACE_PACKETS_AVAILABLE, q, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_set_event_callback(ifc, 2, q,
						    ^(interface_event_t m, xpc_object_t e) {
						    }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_add_port_forwarding_rule(ifc, 1, 80, a, 80, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_add_ip_port_forwarding_rule(ifc, 6, 80, 99, &a, 80, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_interface_add_port_forwarding_rule(ifc, 6, 80, a, 80, NULL), VMNET_INVALID_ARGUMENT);

	CHECK_EQ(vmnet_stop_interface(ifc, q, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_EQ(vmnet_stop_interface(ifc, NULL, ^(vmnet_return_t s) {
		 }),
		 VMNET_INVALID_ARGUMENT);
	/* Hold the queue so the stop handler (which frees the handle) cannot run yet. */
	dispatch_async(q, ^{
		dispatch_semaphore_wait(gate, DISPATCH_TIME_FOREVER);
	});
	CHECK_EQ(vmnet_stop_interface(ifc, q, ^(vmnet_return_t s) {
			 stop_status = s;
			 dispatch_semaphore_signal(done);
		 }),
		 VMNET_SUCCESS);
	CHECK_EQ(vmnet_stop_interface(ifc, q, ^(vmnet_return_t s) {
			 failures++;
		 }),
		 VMNET_INVALID_ARGUMENT);
	n = 1;
	CHECK_EQ(vmnet_read(ifc, &pk, &n), VMNET_INVALID_ARGUMENT);
	dispatch_semaphore_signal(gate);
	CHECK_EQ(dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 10 * NSEC_PER_SEC)), 0);
	CHECK_EQ(stop_status, VMNET_SUCCESS);
	xpc_release(desc);
	dispatch_release(done);
	dispatch_release(gate);
	dispatch_release(q);
}

static bool list_entry_ok(void *ctx, size_t i, xpc_object_t v)
{
	const char *s = xpc_get_type(v) == XPC_TYPE_STRING ? xpc_string_get_string_ptr(v) : NULL;

	CHECK(s != NULL && *s && strlen(s) < 16 && strcmp(s, "lo") != 0);
	return true;
}

static void test_shared_interface_list(void)
{
	xpc_object_t l = vmnet_copy_shared_interface_list();

	CHECK(l != NULL);
	if (!l)
		return;
	CHECK(xpc_get_type(l) == XPC_TYPE_ARRAY);
	xpc_array_apply_f(l, NULL, list_entry_ok);
	printf("shared interfaces: %zu\n", xpc_array_get_count(l));
	xpc_release(l);
}

static void test_network_api(dispatch_queue_t q)
{
	vmnet_return_t st = VMNET_SUCCESS;
	struct in_addr sub = { 1 }, mask = { 1 }, a, m;
	struct in6_addr pfx;
	uint8_t plen = 7;
	vmnet_network_configuration_ref c;
	ether_addr_t mac = { { 0x52, 0x54, 0, 1, 2, 3 } };
	int x = 0;

	/* Configurations live in the library: they work without a daemon. */
	CHECK(vmnet_network_configuration_create(VMNET_BRIDGED_MODE, &st) == NULL);
	CHECK_EQ(st, VMNET_INVALID_ARGUMENT);
	c = vmnet_network_configuration_create(VMNET_SHARED_MODE, &st);
	CHECK(c != NULL);
	CHECK_EQ(st, VMNET_SUCCESS);
	inet_pton(AF_INET, "192.168.90.0", &a);
	inet_pton(AF_INET, "255.255.255.0", &m);
	CHECK_EQ(vmnet_network_configuration_set_ipv4_subnet(c, &a, &m), VMNET_SUCCESS);
	CHECK_EQ(vmnet_network_configuration_set_mtu(c, 9000), VMNET_SUCCESS);
	CHECK_EQ(vmnet_network_configuration_set_mtu(c, 65535), VMNET_INVALID_ARGUMENT);
	inet_pton(AF_INET, "192.168.90.7", &a);
	CHECK_EQ(vmnet_network_configuration_add_dhcp_reservation(c, &mac, &a), VMNET_SUCCESS);
	vmnet_network_configuration_disable_dhcp(c);
	CHECK(CFRetain(c) == c);
	CFRelease(c);
	/* Networks need the daemon: none answers here. */
	st = VMNET_SUCCESS;
	CHECK(vmnet_network_create(c, &st) == NULL);
	CHECK_EQ(st, VMNET_FAILURE);
	CFRelease(c);
	st = VMNET_SUCCESS;
	CHECK(vmnet_network_create(NULL, &st) == NULL);
	CHECK_EQ(st, VMNET_INVALID_ARGUMENT);
	st = VMNET_SUCCESS;
	CHECK(vmnet_network_create_with_serialization(NULL, &st) == NULL);
	CHECK_EQ(st, VMNET_INVALID_ARGUMENT);
	CHECK(vmnet_network_copy_serialization(NULL, NULL) == NULL);
	CHECK_EQ(vmnet_network_configuration_set_mtu(NULL, 1500), VMNET_INVALID_ARGUMENT);
	vmnet_network_configuration_disable_dhcp(NULL);
	memset(&pfx, 0xff, sizeof(pfx));
	vmnet_network_get_ipv4_subnet(NULL, &sub, &mask);
	vmnet_network_get_ipv6_prefix(NULL, &pfx, &plen);
	CHECK_EQ(sub.s_addr, 0);
	CHECK_EQ(mask.s_addr, 0);
	CHECK_EQ(plen, 0);
	CHECK_EQ(pfx.s6_addr[15], 0);
	CHECK(vmnet_interface_start_with_network(NULL, NULL, q, ^(vmnet_return_t s, xpc_object_t p) {
		      failures++;
	      }) == NULL);
	CFRelease(NULL);
	/* Not one of our objects: left alone (and logged), never freed. */
	CHECK(CFRetain(&x) == &x);
	CFRelease(&x);
	CHECK(CFRetain(NULL) == NULL);
}

int main(void)
{
	dispatch_queue_t q;

	setenv("VMNET_SOCKET", "/nonexistent/vmnet-test/vmnetd.sock", 1);
	unsetenv("VMNET_AUTOSTART");
	q = dispatch_queue_create("test.api", DISPATCH_QUEUE_SERIAL);
	test_keys();
	test_values();
	test_strerror();
	test_rule_valid();
	test_rule_invalid();
	test_start_args(q);
	test_null_interface(q);
	test_start_without_daemon();
	test_shared_interface_list();
	test_network_api(q);
	dispatch_release(q);
	if (failures) {
		fprintf(stderr, "test_api_local: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_api_local: all passed\n");
	return 0;
}
