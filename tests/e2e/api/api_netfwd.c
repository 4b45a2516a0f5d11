/*
 * api_netfwd.c — a network object made by the configuration API, with a DHCP
 * reservation and a port forward (or an external interface), held by one
 * process and joined from its serialization by another (docs/networks.md,
 * docs/forwarding.md). The wrapper (test_api_netfwd.sh) puts a namespace
 * guest on the network by name and checks it from outside.
 *
 * usage: api_netfwd create DIR        shared 192.168.97.0/24, reservation
 *                                     02:00:00:97:00:50 -> 192.168.97.50, forward
 *                                     tcp 18097 -> 192.168.97.50:8080
 *        api_netfwd external DIR IF   shared 192.168.98.0/24 whose external
 *                                     interface is IF
 *        api_netfwd join DIR          join DIR/net.ser, check the forward through
 *                                     an interface, then count the reserved guest's
 *                                     frames seen by that interface
 * create/external write DIR/net.ser (the VXP1-encoded serialization) and
 * DIR/net.name (the network's name in vmnetd), then hold the network until
 * DIR/create.done exists (at most 60 s). join writes DIR/join.ready once its
 * interface runs and the rule was found, and stops when DIR/join.done exists
 * (at most 60 s). Each prints "N passed, N failed" and exits non-zero on any
 * failure.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_common.h"

#define BUF 2048
#define HOLD_MS 60000
#define FWD_SUBNET "192.168.97.0"
#define FWD_GATEWAY "192.168.97.1"
#define RES_IP "192.168.97.50"
#define EXT_SUBNET "192.168.98.0"
#define EXT_PORT 18097
#define INT_PORT 8080

static const uint8_t res_mac[6] = { 0x02, 0x00, 0x00, 0x97, 0x00, 0x50 };

static struct in_addr a4(const char *s)
{
	struct in_addr a = { 0 };

	inet_pton(AF_INET, s, &a);
	return a;
}

static void path_in(char *out, size_t size, const char *dir, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

/* Sleep until path exists or HOLD_MS passed. Return: whether it appeared. */
static bool wait_for_file(const char *path)
{
	for (uint64_t end = t_now_ms() + HOLD_MS; t_now_ms() < end; t_sleep_ms(20))
		if (access(path, F_OK) == 0)
			return true;
	return false;
}

/* ---- the creator ---- */

/* Create the network, publish its serialization and name, hold it until DIR/create.done. Return: exit status. */
static int publish_and_hold(vmnet_network_configuration_ref c, const char *dir, const char *who)
{
	vmnet_return_t st = 0;
	vmnet_network_ref n = vmnet_network_create(c, &st);
	xpc_object_t ser;
	const char *name;
	char path[4096], line[64];
	size_t len = 0;
	void *bytes;

	CFRelease(c);
	CHECKF(n && st == VMNET_SUCCESS, "vmnet_network_create (%s)", t_st_name(st));
	if (!n)
		return t_done(who);
	ser = vmnet_network_copy_serialization(n, &st);
	CHECKF(ser && st == VMNET_SUCCESS, "copy_serialization (%s)", t_st_name(st));
	if (!ser) {
		CFRelease(n);
		return t_done(who);
	}
	bytes = xpc_vmnet_encode(ser, &len);
	path_in(path, sizeof(path), dir, "net.ser");
	CHECKF(bytes && t_write_file(path, bytes, len), "the serialization encodes (%zu bytes) into %s", len, path);
	free(bytes);
	name = xpc_dictionary_get_string(ser, "name");
	CHECKF(name && !strncmp(name, "net-", 4), "the serialization names the network (%s)", name ?: "(none)");
	if (name) {
		snprintf(line, sizeof(line), "%s\n", name);
		path_in(path, sizeof(path), dir, "net.name");
		CHECK(t_write_file(path, line, strlen(line)));
	}
	t_note("holding %s until %s/create.done", name ?: "?", dir);
	path_in(path, sizeof(path), dir, "create.done");
	CHECKF(wait_for_file(path), "the wrapper let the network go within %d s", HOLD_MS / 1000);
	xpc_release(ser);
	CFRelease(n);
	return t_done(who);
}

static int create_main(const char *dir)
{
	vmnet_network_configuration_ref c;
	vmnet_return_t st = 0;
	struct in_addr sub = a4(FWD_SUBNET), m24 = a4("255.255.255.0"), ip = a4(RES_IP);
	ether_addr_t mac;

	memcpy(mac.ether_addr_octet, res_mac, 6);
	t_section("create: shared %s/24, a reservation and a port forward", FWD_SUBNET);
	c = vmnet_network_configuration_create(VMNET_SHARED_MODE, &st);
	CHECKF(c && st == VMNET_SUCCESS, "configuration_create(VMNET_SHARED_MODE) (%s)", t_st_name(st));
	if (!c)
		return t_done("api_netfwd create");
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &sub, &m24), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(c, &mac, &ip), VMNET_SUCCESS);
	/* Apple's argument order: protocol, family, internal port, external port, internal address. */
	CHECK_ST(vmnet_network_configuration_add_port_forwarding_rule(c, IPPROTO_TCP, AF_INET, INT_PORT, EXT_PORT, &ip),
		 VMNET_SUCCESS);
	return publish_and_hold(c, dir, "api_netfwd create");
}

static int external_main(const char *dir, const char *ifname)
{
	vmnet_network_configuration_ref c;
	vmnet_return_t st = 0;
	struct in_addr sub = a4(EXT_SUBNET), m24 = a4("255.255.255.0");

	t_section("external: shared %s/24 leaving only by %s", EXT_SUBNET, ifname);
	c = vmnet_network_configuration_create(VMNET_SHARED_MODE, &st);
	CHECKF(c && st == VMNET_SUCCESS, "configuration_create(VMNET_SHARED_MODE) (%s)", t_st_name(st));
	if (!c)
		return t_done("api_netfwd external");
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &sub, &m24), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_set_external_interface(c, ifname), VMNET_SUCCESS);
	return publish_and_hold(c, dir, "api_netfwd external");
}

/* ---- the joiner ---- */

/*
 * List the rules of one family through an interface.
 * Return: -1 if the handler did not run, else how many rules there were; *found
 * tells whether tcp EXT_PORT -> RES_IP:INT_PORT was among them (IPv4 only).
 */
static int list_rules(struct tif *t, uint8_t af, bool *found)
{
	__block int count = -1;
	__block bool hit = false;
	dispatch_semaphore_t sem = t_sem(0);
	vmnet_return_t st;

	st = vmnet_interface_get_ip_port_forwarding_rules(t->ref, af, ^(xpc_object_t rules) {
		count = rules ? (int)xpc_array_get_count(rules) : 0;
		for (int i = 0; af == AF_INET && i < count; i++) {
			xpc_object_t r = xpc_array_get_value(rules, (size_t)i);
			uint8_t proto = 0;
			uint16_t ext = 0, in = 0;
			struct in_addr addr = { 0 };

			if (vmnet_ip_port_forwarding_rule_get_details(r, &proto, &ext, AF_INET, &addr, &in) ==
				    VMNET_SUCCESS &&
			    proto == IPPROTO_TCP && ext == EXT_PORT && in == INT_PORT && addr.s_addr == a4(RES_IP).s_addr)
				hit = true;
		}
		dispatch_semaphore_signal(sem);
	});
	CHECK_ST(st, VMNET_SUCCESS);
	if (st != VMNET_SUCCESS || dispatch_semaphore_wait(sem, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) != 0)
		return -1;
	*found = hit;
	return count;
}

/* Read until DIR/join.done exists (at most HOLD_MS). Return: frames seen whose source is the reserved MAC. */
static int count_guest_frames(struct tif *t, const char *done)
{
	int seen = 0;

	for (uint64_t end = t_now_ms() + HOLD_MS; access(done, F_OK) != 0 && t_now_ms() < end;) {
		struct t_rx r = { 0 };

		t_collect(t->ref, &r, 0, 100, BUF);
		for (int i = 0; i < r.n; i++)
			seen += r.len[i] >= 12 && !memcmp(r.data[i] + 6, res_mac, 6);
		t_rx_free(&r);
	}
	return seen;
}

static int join_main(const char *dir)
{
	char path[4096], done[4096];
	vmnet_return_t st = 0;
	vmnet_network_ref net;
	struct in_addr sub, mask;
	xpc_object_t ser;
	struct tif B;
	size_t len = 0;
	void *bytes;
	bool found = false;
	int n;

	t_section("join: the network from its serialization");
	path_in(path, sizeof(path), dir, "net.ser");
	bytes = t_read_file(path, &len);
	ser = bytes ? xpc_vmnet_decode(bytes, len) : NULL;
	free(bytes);
	CHECKF(ser != NULL, "%s decodes (%zu bytes)", path, len);
	net = vmnet_network_create_with_serialization(ser, &st);
	if (ser)
		xpc_release(ser);
	CHECKF(net && st == VMNET_SUCCESS, "create_with_serialization (%s)", t_st_name(st));
	if (!net)
		return t_done("api_netfwd join");
	vmnet_network_get_ipv4_subnet(net, &sub, &mask);
	CHECKF(sub.s_addr == a4(FWD_SUBNET).s_addr && mask.s_addr == a4("255.255.255.0").s_addr,
	       "get_ipv4_subnet gives the creator's " FWD_SUBNET "/24");

	CHECK_ST(t_start_on_network(&B, "join-B", net), VMNET_SUCCESS);
	CFRelease(net); /* the running interface retains it */
	if (!B.running)
		return t_done("api_netfwd join");
	CHECKF(B.param && !strcmp(xpc_dictionary_get_string(B.param, vmnet_start_address_key) ?: "", FWD_GATEWAY),
	       "interface_param: start address " FWD_GATEWAY " (the network's gateway)");

	t_section("join: the configuration's port forward, seen through the joiner's interface");
	n = list_rules(&B, AF_INET, &found);
	CHECKF(n == 1 && found, "AF_INET: exactly tcp %d -> " RES_IP ":%d (%d rules)", EXT_PORT, INT_PORT, n);
	n = list_rules(&B, AF_INET6, &found);
	CHECKF(n == 0, "AF_INET6: no rules (%d)", n);

	path_in(path, sizeof(path), dir, "join.ready");
	CHECK(t_write_file(path, "ready\n", 6));
	t_section("join: the guest's frames reach the joiner's interface");
	path_in(done, sizeof(done), dir, "join.done");
	n = count_guest_frames(&B, done);
	CHECKF(n > 0, "frames from the reserved MAC 02:00:00:97:00:50 came in (%d)", n);
	CHECK_ST(t_stop(&B), VMNET_SUCCESS);
	return t_done("api_netfwd join");
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "create"))
		return create_main(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "external"))
		return external_main(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "join"))
		return join_main(argv[2]);
	fprintf(stderr, "usage: %s create DIR | external DIR IF | join DIR\n", argv[0]);
	return 2;
}
