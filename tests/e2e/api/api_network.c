/*
 * api_network.c — the macOS 26 network objects end to end (spec §3.2, §7;
 * docs/networks.md): a shared-mode configuration with a custom subnet, IPv6
 * prefix and a DHCP reservation; the network's effective addresses; its
 * serialization written to a file as VXP1 bytes and joined by a SECOND
 * process, whose interface exchanges frames with the creator's; forged,
 * truncated and garbage serializations refused with nothing else disturbed;
 * an overlapping subnet refused; what a joiner sees when the creator releases
 * the network (its interface fails, the network is gone); DHCP with a
 * reservation and with DHCP disabled, probed from an interface.
 *
 * usage: api_network main DIR            the creator (spawns the others); DIR is writable
 *        api_network joiner FILE RFD WFD (internal) the second process
 *        api_network expect FILE STATUS  (internal) join must fail with STATUS (e.g. 1010)
 *        api_network hold DIR SPEC       keep a network for the wrapper: SPEC "nodhcp" or
 *                                        "reserve"; writes DIR/SPEC.name, releases when
 *                                        DIR/SPEC.done exists (at most 60 s)
 * With VMNET_TEST_GID set, main also runs `expect` as uid 65534 (group
 * VMNET_TEST_GID, so the daemon lets it connect): the join must be refused
 * with VMNET_NOT_AUTHORIZED. Prints "N passed, N failed"; exits non-zero on
 * any failure.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_common.h"

#define BUF 2048
#define SUBNET "192.168.93.0"
#define RES_MAC "52:54:00:93:00:50"
#define RES_IP "192.168.93.50"
#define PREFIX "fd00:93::"

static int rfd = -1, wfd = -1;

/* ---- a line protocol between the two processes ---- */

static void send_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void send_line(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(buf) - 1)
		return;
	buf[n++] = '\n';
	if (write(wfd, buf, (size_t)n) != n)
		t_note("pipe write failed");
}

/* One line (without '\n') within timeout_ms. Return: true if a whole line came. */
static bool recv_line(char *buf, size_t size, int timeout_ms)
{
	uint64_t end = t_now_ms() + (uint64_t)timeout_ms;
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };
		int left = (int)(end > t_now_ms() ? end - t_now_ms() : 0);
		char c;

		if (poll(&p, 1, left) <= 0 || read(rfd, &c, 1) != 1)
			break;
		if (c == '\n') {
			buf[len] = 0;
			return true;
		}
		buf[len++] = c;
	}
	buf[len] = 0;
	return false;
}

/* ---- helpers ---- */

static struct in_addr a4(const char *s)
{
	struct in_addr a = { 0 };

	inet_pton(AF_INET, s, &a);
	return a;
}

/* Decode a serialization file and join it. Return: the network or NULL; *st its status. */
static vmnet_network_ref join_file(const char *path, vmnet_return_t *st)
{
	size_t len = 0;
	void *bytes = t_read_file(path, &len);
	xpc_object_t ser = bytes ? xpc_vmnet_decode(bytes, len) : NULL;
	vmnet_network_ref n;

	free(bytes);
	n = vmnet_network_create_with_serialization(ser, st);
	if (ser)
		xpc_release(ser);
	return n;
}

/* A DHCPDISCOVER from chaddr (sent by the interface with source MAC src). Return: length. */
static size_t build_discover(uint8_t *f, const uint8_t src[6], const uint8_t chaddr[6], uint32_t xid)
{
	uint8_t *ip = f + 14, *udp = ip + 20, *bootp = udp + 8;
	size_t ulen = 8 + 244, ilen = 20 + ulen;
	uint16_t c;

	memset(f, 0, 14 + ilen);
	memcpy(f, t_bcast, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ilen >> 8);
	ip[3] = (uint8_t)ilen;
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	c = t_inet_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[1] = 68;
	udp[3] = 67;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	bootp[0] = 1;
	bootp[1] = 1;
	bootp[2] = 6;
	memcpy(bootp + 4, &xid, 4);
	bootp[10] = 0x80; /* broadcast the reply */
	memcpy(bootp + 28, chaddr, 6);
	bootp[236] = 99;
	bootp[237] = 130;
	bootp[238] = 83;
	bootp[239] = 99;
	bootp[240] = 53; /* DHCP message type DISCOVER */
	bootp[241] = 1;
	bootp[242] = 1;
	bootp[243] = 255;
	return 14 + ilen;
}

/*
 * Send a DISCOVER for chaddr and wait for the gateway's OFFER (frames of the
 * gateway come through vmnet_read directly; t_collect would skip them).
 * Return: true and *yiaddr when an offer with our xid came within timeout_ms.
 */
static bool dhcp_probe(struct tif *t, const uint8_t chaddr[6], struct in_addr *yiaddr, int timeout_ms)
{
	static uint32_t xid = 0x93000001;
	uint8_t f[BUF], buf[BUF];
	uint64_t end = t_now_ms() + (uint64_t)timeout_ms;
	uint32_t want = ++xid;

	if (t_write1(t->ref, f, build_discover(f, t->mac, chaddr, want)) != VMNET_SUCCESS)
		return false;
	while (t_now_ms() < end) {
		struct iovec iov = { buf, sizeof(buf) };
		struct vmpktdesc d = { .vm_pkt_size = sizeof(buf), .vm_pkt_iov = &iov, .vm_pkt_iovcnt = 1 };
		int n = 1;
		size_t ihl;

		if (vmnet_read(t->ref, &d, &n) != VMNET_SUCCESS || n == 0) {
			t_sleep_ms(2);
			continue;
		}
		if (d.vm_pkt_size < 14 + 20 + 8 + 240 || buf[12] != 0x08 || buf[13] != 0 || (buf[14] >> 4) != 4)
			continue;
		ihl = (size_t)(buf[14] & 15) * 4;
		if (ihl < 20 || d.vm_pkt_size < 14 + ihl + 8 + 240 || buf[14 + 9] != 17 || buf[14 + ihl + 1] != 67)
			continue;
		if (memcmp(buf + 14 + ihl + 8 + 4, &want, 4))
			continue;
		memcpy(yiaddr, buf + 14 + ihl + 8 + 16, 4);
		return true;
	}
	return false;
}

/* ---- the joiner ---- */

static int joiner_main(const char *file, int in, int out)
{
	vmnet_return_t st;
	vmnet_network_ref net;
	struct in_addr sub, mask;
	struct tif B, B2;
	struct t_rx r = { 0 };
	uint8_t amac[6];
	char line[256];
	xpc_object_t ser;
	bool dead = false;
	int n;

	rfd = in;
	wfd = out;
	t_section("joiner: create_with_serialization from the file");
	net = join_file(file, &st);
	CHECK_ST(st, VMNET_SUCCESS);
	if (!net) {
		send_line("FAILED");
		return t_done("api_network joiner");
	}
	vmnet_network_get_ipv4_subnet(net, &sub, &mask);
	CHECKF(sub.s_addr == a4(SUBNET).s_addr && mask.s_addr == a4("255.255.255.0").s_addr,
	       "joiner: get_ipv4_subnet gives the creator's subnet");
	CHECK_ST(t_start_on_network(&B, "joiner-B", net), VMNET_SUCCESS);
	if (!B.has_mac) {
		send_line("FAILED");
		return t_done("api_network joiner");
	}
	CHECK_ST(t_write_frames(B.ref, t_bcast, B.mac, 71, 0, 5, 300), VMNET_SUCCESS);
	send_line("READY %s", B.mac_str);
	if (!recv_line(line, sizeof(line), 15000) || strncmp(line, "SENT ", 5) || !t_parse_mac(line + 5, amac)) {
		CHECKF(false, "joiner: the creator sent its frames (got '%s')", line);
		return t_done("api_network joiner");
	}
	n = t_collect(B.ref, &r, 5, 5000, BUF);
	CHECKF(n == 5 && t_rx_count_tag(&r, 72) == 5, "joiner: read the creator's 5 unicasts (%d frames)", n);
	for (int i = 0; i < r.n; i++)
		CHECKF(r.len[i] >= 12 && !memcmp(r.data[i] + 6, amac, 6), "joiner: frame %d comes from the creator", i);
	t_rx_free(&r);
	send_line("GOT %d", n);

	/* The creator stops its interface and releases the network. */
	if (!recv_line(line, sizeof(line), 15000) || strcmp(line, "RELEASED")) {
		CHECKF(false, "joiner: the creator released its network (got '%s')", line);
		return t_done("api_network joiner");
	}
	t_section("joiner: the creator released the network");
	for (uint64_t end = t_now_ms() + 10000; !dead && t_now_ms() < end; t_sleep_ms(10)) {
		uint8_t buf[BUF];
		struct iovec iov = { buf, sizeof(buf) };
		struct vmpktdesc d = { .vm_pkt_size = sizeof(buf), .vm_pkt_iov = &iov, .vm_pkt_iovcnt = 1 };

		n = 1;
		dead = vmnet_read(B.ref, &d, &n) == VMNET_FAILURE;
	}
	CHECKF(dead, "joiner: its interface on the destroyed network fails with VMNET_FAILURE");
	CHECK_ST(t_write_frames(B.ref, t_bcast, B.mac, 73, 0, 1, 100), VMNET_FAILURE);
	CHECK_ST(t_start_on_network(&B2, "joiner-B2", net), VMNET_INVALID_ARGUMENT);
	CHECK(vmnet_network_create_with_serialization(NULL, &st) == NULL && st == VMNET_INVALID_ARGUMENT);
	CHECK(join_file(file, &st) == NULL);
	CHECK_ST(st, VMNET_INVALID_ARGUMENT);
	ser = vmnet_network_copy_serialization(net, &st);
	CHECKF(ser && st == VMNET_SUCCESS, "joiner: its reference still answers copy_serialization");
	if (ser)
		xpc_release(ser);
	vmnet_network_get_ipv4_subnet(net, &sub, &mask);
	CHECKF(sub.s_addr == a4(SUBNET).s_addr, "joiner: get_ipv4_subnet still answers");
	CHECK_ST(t_stop(&B), VMNET_SUCCESS);
	CFRelease(net);
	send_line("DONE");
	return t_done("api_network joiner");
}

static int expect_main(const char *file, const char *want)
{
	vmnet_return_t st = 0;
	vmnet_network_ref n = join_file(file, &st);

	t_section("join as another user");
	CHECKF(!n && st == (vmnet_return_t)atoi(want), "join refused with %s (got %s)", want, t_st_name(st));
	if (n)
		CFRelease(n);
	return t_done("api_network expect");
}

/* ---- the creator ---- */

static void check_config_api(void)
{
	vmnet_network_configuration_ref c, h;
	vmnet_return_t st = 0;
	struct in_addr sub = a4(SUBNET), m24 = a4("255.255.255.0"), ip = a4(RES_IP);
	struct in6_addr p6;
	ether_addr_t mac = { { 0x52, 0x54, 0, 0x93, 0, 0x50 } };

	t_section("configuration objects");
	CHECK(vmnet_network_configuration_create(VMNET_BRIDGED_MODE, &st) == NULL);
	CHECK_ST(st, VMNET_INVALID_ARGUMENT);
	CHECK(vmnet_network_configuration_create(4242, NULL) == NULL);
	c = vmnet_network_configuration_create(VMNET_SHARED_MODE, &st);
	CHECK(c != NULL);
	CHECK_ST(st, VMNET_SUCCESS);
	if (!c)
		return;
	CHECK_ST(vmnet_network_configuration_set_external_interface(c, "nosuchif93"), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_set_external_interface(c, NULL), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_set_external_interface(c, "lo"), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &sub, &(struct in_addr){ a4("255.0.255.0").s_addr }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &(struct in_addr){ a4("8.8.8.0").s_addr }, &m24),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &sub, &(struct in_addr){ a4("255.255.255.254").s_addr }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, NULL, &m24), VMNET_INVALID_ARGUMENT);
	/* base+1, as the vmnet crate recommends, names the same subnet */
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &(struct in_addr){ a4("192.168.93.1").s_addr }, &m24),
		 VMNET_SUCCESS);
	inet_pton(AF_INET6, PREFIX, &p6);
	CHECK_ST(vmnet_network_configuration_set_ipv6_prefix(c, &p6, 48), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_set_ipv6_prefix(c, &p6, 64), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_set_mtu(c, 100), VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_set_mtu(c, 1500), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(c, &mac, &(struct in_addr){ a4("192.168.94.5").s_addr }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(c, &mac, &(struct in_addr){ a4("192.168.93.1").s_addr }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(c, &mac, &(struct in_addr){ a4("192.168.93.255").s_addr }),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(c, &mac, &ip), VMNET_SUCCESS);
	/* the reservation pins the subnet: another one is refused */
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &(struct in_addr){ a4("192.168.95.0").s_addr }, &m24),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_add_port_forwarding_rule(c, 1, AF_INET, 80, 18093, &ip),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_add_port_forwarding_rule(c, IPPROTO_TCP, AF_INET, 80, 18093, NULL),
		 VMNET_INVALID_ARGUMENT);
	CHECK_ST(vmnet_network_configuration_add_port_forwarding_rule(c, IPPROTO_TCP, AF_INET, 80, 18093, &ip),
		 VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_add_port_forwarding_rule(c, IPPROTO_TCP, AF_INET, 81, 18093, &ip),
		 VMNET_INVALID_ARGUMENT); /* the same external port twice */
	/* Before any subnet, a reservation is checked against the mode's default /24. */
	h = vmnet_network_configuration_create(VMNET_SHARED_MODE, NULL);
	CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(h, &mac, &(struct in_addr){ a4("192.168.64.20").s_addr }),
		 VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(h, &mac, &ip), VMNET_INVALID_ARGUMENT);
	CFRelease(h);
	h = vmnet_network_configuration_create(VMNET_HOST_MODE, NULL);
	CHECK_ST(vmnet_network_configuration_add_port_forwarding_rule(h, IPPROTO_TCP, AF_INET, 80, 18094,
									&(struct in_addr){ a4("192.168.128.9").s_addr }),
		 VMNET_INVALID_ARGUMENT); /* forwarding needs shared mode */
	vmnet_network_configuration_disable_dhcp(h);
	vmnet_network_configuration_disable_nat44(h);
	vmnet_network_configuration_disable_nat66(h);
	vmnet_network_configuration_disable_dns_proxy(h);
	vmnet_network_configuration_disable_router_advertisement(h);
	CHECK(CFRetain(h) == h);
	CFRelease(h);
	CFRelease(h);
	CFRelease(NULL);
	CHECK(CFRetain(NULL) == NULL);
	CHECK(vmnet_network_create(NULL, &st) == NULL && st == VMNET_INVALID_ARGUMENT);
	CFRelease(c);
}

/* The main configuration: shared, 192.168.93.0/24, fd00:93::/64, MTU 1500, a reservation, a forward. */
static vmnet_network_configuration_ref main_config(void)
{
	vmnet_network_configuration_ref c = vmnet_network_configuration_create(VMNET_SHARED_MODE, NULL);
	struct in_addr sub = a4(SUBNET), m24 = a4("255.255.255.0"), ip = a4(RES_IP);
	ether_addr_t mac = { { 0x52, 0x54, 0, 0x93, 0, 0x50 } };
	struct in6_addr p6;

	inet_pton(AF_INET6, PREFIX, &p6);
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &sub, &m24), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_set_ipv6_prefix(c, &p6, 64), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(c, &mac, &ip), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_set_mtu(c, 1500), VMNET_SUCCESS);
	CHECK_ST(vmnet_network_configuration_add_port_forwarding_rule(c, IPPROTO_TCP, AF_INET, 80, 18093, &ip),
		 VMNET_SUCCESS);
	return c;
}

/* Refusals: nothing a caller hands in as a serialization gets it a network. */
static void check_refusals(xpc_object_t ser, const void *bytes, size_t len)
{
	vmnet_return_t st = 0;
	xpc_object_t bad, s = xpc_string_create("not a network");
	uint8_t token[16] = { 0 }, id[16];
	const uint8_t *real = xpc_dictionary_get_data(ser, "token", NULL);

	t_section("forged, truncated and garbage serializations");
	for (size_t cut = 1; cut < len; cut += len / 7 + 1)
		CHECKF(xpc_vmnet_decode(bytes, len - cut) == NULL, "a truncated encoding (%zu of %zu bytes) does not decode",
		       len - cut, len);
	CHECK(vmnet_network_create_with_serialization(NULL, &st) == NULL);
	CHECK_ST(st, VMNET_INVALID_ARGUMENT);
	CHECK(vmnet_network_create_with_serialization(s, &st) == NULL);
	CHECK_ST(st, VMNET_INVALID_ARGUMENT);
	xpc_release(s);

	if (real)
		memcpy(token, real, 16);
	token[5] ^= 0x40;
	bad = xpc_copy(ser);
	xpc_dictionary_set_data(bad, "token", token, sizeof(token));
	CHECKF(vmnet_network_create_with_serialization(bad, &st) == NULL && st == VMNET_INVALID_ARGUMENT,
	       "a forged token is refused (%s)", t_st_name(st));
	xpc_dictionary_set_data(bad, "token", token, 8);
	CHECKF(vmnet_network_create_with_serialization(bad, &st) == NULL && st == VMNET_INVALID_ARGUMENT,
	       "a short token is refused");
	xpc_release(bad);

	bad = xpc_copy(ser);
	uuid_generate_random(id);
	xpc_dictionary_set_uuid(bad, "id", id);
	CHECKF(vmnet_network_create_with_serialization(bad, &st) == NULL && st == VMNET_INVALID_ARGUMENT,
	       "an unknown network id is refused");
	xpc_release(bad);

	bad = xpc_copy(ser);
	xpc_dictionary_set_string(bad, "subnet", "192.168.94.0/24");
	CHECKF(vmnet_network_create_with_serialization(bad, &st) == NULL && st == VMNET_INVALID_ARGUMENT,
	       "a tampered subnet is refused");
	xpc_dictionary_set_string(bad, "subnet", "garbage");
	CHECK(vmnet_network_create_with_serialization(bad, &st) == NULL && st == VMNET_INVALID_ARGUMENT);
	xpc_release(bad);

	bad = xpc_copy(ser);
	xpc_dictionary_set_string(bad, "format", "vmnet.network/99");
	CHECKF(vmnet_network_create_with_serialization(bad, &st) == NULL && st == VMNET_INVALID_ARGUMENT,
	       "another format version is refused");
	xpc_release(bad);

	bad = xpc_dictionary_create(NULL, NULL, 0);
	xpc_dictionary_set_string(bad, "format", "vmnet.network/1");
	CHECK(vmnet_network_create_with_serialization(bad, &st) == NULL && st == VMNET_INVALID_ARGUMENT);
	xpc_release(bad);
}

static void check_overlap(void)
{
	vmnet_network_configuration_ref c = vmnet_network_configuration_create(VMNET_SHARED_MODE, NULL);
	struct in_addr half = a4("192.168.93.128"), m25 = a4("255.255.255.128"), all = a4("192.168.0.0"),
		       m16 = a4("255.255.0.0"), sub, mask;
	vmnet_return_t st = 0;
	vmnet_network_ref n;
	xpc_object_t d;
	struct tif L;

	t_section("overlapping subnets are refused");
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &half, &m25), VMNET_SUCCESS);
	CHECK(vmnet_network_create(c, &st) == NULL);
	CHECK_ST(st, VMNET_SHARING_SERVICE_BUSY);
	CFRelease(c);
	c = vmnet_network_configuration_create(VMNET_HOST_MODE, NULL);
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &all, &m16), VMNET_SUCCESS);
	CHECK(vmnet_network_create(c, &st) == NULL);
	CHECK_ST(st, VMNET_SHARING_SERVICE_BUSY);
	CFRelease(c);
	/* A plain start naming the reserved subnet does not get in either. */
	d = t_desc_host();
	xpc_dictionary_set_string(d, vmnet_start_address_key, "192.168.93.1");
	xpc_dictionary_set_string(d, vmnet_end_address_key, "192.168.93.254");
	xpc_dictionary_set_string(d, vmnet_subnet_mask_key, "255.255.255.0");
	CHECK_ST(t_start(&L, "legacy-93", d), VMNET_SHARING_SERVICE_BUSY);
	xpc_release(d);

	t_section("a host network without a subnet gets a free /24");
	c = vmnet_network_configuration_create(VMNET_HOST_MODE, NULL);
	n = vmnet_network_create(c, &st);
	CHECK_ST(st, VMNET_SUCCESS);
	vmnet_network_get_ipv4_subnet(n, &sub, &mask);
	CHECKF(mask.s_addr == a4("255.255.255.0").s_addr && (ntohl(sub.s_addr) >> 16) == 0xc0a8 &&
		       sub.s_addr != a4(SUBNET).s_addr,
	       "a /24 inside 192.168.0.0/16, not the reserved one");
	CFRelease(n);
	CFRelease(c);
}

static void check_dhcp(struct tif *A)
{
	uint8_t res_mac[6], other[6] = { 0x52, 0x54, 0, 0x93, 0, 0x99 };
	struct in_addr y = { 0 };

	t_section("DHCP on the network: the reservation, and a plain client");
	t_parse_mac(RES_MAC, res_mac);
	CHECKF(dhcp_probe(A, res_mac, &y, 5000) && y.s_addr == a4(RES_IP).s_addr, "the reserved MAC is offered " RES_IP);
	CHECKF(dhcp_probe(A, other, &y, 5000) && (ntohl(y.s_addr) & 0xffffff00u) == 0xc0a85d00u &&
		       y.s_addr != a4(RES_IP).s_addr,
	       "another MAC is offered an address of 192.168.93.0/24, not the reserved one");
}

/* The configuration's port forward is in force on the running network: listed through an interface on it. */
static void check_forward(struct tif *A)
{
	__block int found = -1;
	dispatch_semaphore_t sem = t_sem(0);
	vmnet_return_t st;

	t_section("the configuration's port forward");
	st = vmnet_interface_get_ip_port_forwarding_rules(A->ref, AF_INET, ^(xpc_object_t rules) {
		found = 0;
		for (size_t i = 0; rules && i < xpc_array_get_count(rules); i++) {
			xpc_object_t r = xpc_array_get_value(rules, i);
			uint8_t proto = 0;
			uint16_t ext = 0, in = 0;
			struct in_addr addr = { 0 };

			if (vmnet_ip_port_forwarding_rule_get_details(r, &proto, &ext, AF_INET, &addr, &in) == VMNET_SUCCESS &&
			    proto == IPPROTO_TCP && ext == 18093 && in == 80 && addr.s_addr == a4(RES_IP).s_addr)
				found = 1;
		}
		dispatch_semaphore_signal(sem);
	});
	CHECK_ST(st, VMNET_SUCCESS);
	if (st == VMNET_SUCCESS)
		dispatch_semaphore_wait(sem, t_deadline_ms(T_HANDLER_TIMEOUT_MS));
	CHECKF(found == 1, "tcp 18093 -> " RES_IP ":80 is listed (note the argument order: internal port first)");
}

static int hold_main(const char *dir, const char *spec)
{
	vmnet_network_configuration_ref c = vmnet_network_configuration_create(VMNET_SHARED_MODE, NULL);
	bool nodhcp = !strcmp(spec, "nodhcp");
	struct in_addr sub = a4(nodhcp ? "192.168.96.0" : "192.168.97.0"), m24 = a4("255.255.255.0");
	ether_addr_t mac = { { 0x52, 0x54, 0, 0x97, 0, 0x77 } };
	char path[4096], done[4096];
	vmnet_return_t st = 0;
	vmnet_network_ref n;
	xpc_object_t ser;
	const char *name;
	struct tif A;
	struct in_addr y;

	t_section("hold a network: %s", spec);
	CHECK_ST(vmnet_network_configuration_set_ipv4_subnet(c, &sub, &m24), VMNET_SUCCESS);
	if (nodhcp)
		vmnet_network_configuration_disable_dhcp(c);
	else
		CHECK_ST(vmnet_network_configuration_add_dhcp_reservation(c, &mac,
									&(struct in_addr){ a4("192.168.97.77").s_addr }),
			 VMNET_SUCCESS);
	n = vmnet_network_create(c, &st);
	CFRelease(c);
	CHECK_ST(st, VMNET_SUCCESS);
	if (!n)
		return t_done("api_network hold");
	if (nodhcp && t_start_on_network(&A, "hold-probe", n) == VMNET_SUCCESS) {
		CHECKF(!dhcp_probe(&A, A.mac, &y, 1500), "with DHCP disabled nothing answers a DISCOVER");
		CHECK_ST(t_stop(&A), VMNET_SUCCESS);
	}
	ser = vmnet_network_copy_serialization(n, &st);
	name = ser ? xpc_dictionary_get_string(ser, "name") : NULL;
	CHECK(name != NULL);
	snprintf(path, sizeof(path), "%s/%s.name", dir, spec);
	snprintf(done, sizeof(done), "%s/%s.done", dir, spec);
	if (name) {
		char line[64];

		snprintf(line, sizeof(line), "%s\n", name);
		CHECK(t_write_file(path, line, strlen(line)));
	}
	for (uint64_t end = t_now_ms() + 60000; access(done, F_OK) != 0 && t_now_ms() < end;)
		t_sleep_ms(20);
	if (ser)
		xpc_release(ser);
	CFRelease(n);
	return t_done("api_network hold");
}

/* Spawn the joiner with a pipe each way. Return: its pid, or -1. */
static pid_t spawn_joiner(const char *file)
{
	static char exe[4096], fin[16], fout[16], fcopy[4096];
	char *argv[] = { exe, "joiner", fcopy, fin, fout, NULL };
	int p2c[2], c2p[2];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	pid_t pid;

	if (l <= 0 || pipe(p2c) < 0 || pipe(c2p) < 0)
		return -1;
	exe[l] = 0;
	snprintf(fcopy, sizeof(fcopy), "%s", file);
	snprintf(fin, sizeof(fin), "%d", p2c[0]);
	snprintf(fout, sizeof(fout), "%d", c2p[1]);
	pid = t_spawn(argv);
	close(p2c[0]);
	close(c2p[1]);
	rfd = c2p[0];
	wfd = p2c[1];
	return pid;
}

/* The same join as uid 65534 in group VMNET_TEST_GID: the daemon lets it in, the network does not. */
static void check_other_user(const char *file)
{
	const char *gid = getenv("VMNET_TEST_GID");
	char exe[4096], ruid[] = "--reuid=65534", rgid[64];
	char *argv[] = { "/usr/bin/setpriv", ruid, rgid, "--clear-groups", exe, "expect", (char *)file, "1010", NULL };
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int rc;

	t_section("another user may not join");
	if (!gid || l <= 0) {
		t_note("VMNET_TEST_GID not set: skipped");
		return;
	}
	exe[l] = 0;
	snprintf(rgid, sizeof(rgid), "--regid=%s", gid);
	rc = t_wait_child(t_spawn(argv), 20000);
	CHECKF(rc == 0, "uid 65534 is refused with VMNET_NOT_AUTHORIZED (exit status %d)", rc);
}

static int main_main(const char *dir)
{
	vmnet_network_configuration_ref c;
	vmnet_network_ref net, again;
	vmnet_return_t st = 0;
	struct in_addr sub, mask;
	struct in6_addr p6, want6;
	uint8_t len6 = 0, bmac[6];
	char file[4096], line[256];
	struct t_rx r = { 0 };
	xpc_object_t ser;
	size_t blen = 0;
	void *bytes;
	struct tif A;
	pid_t pid;
	int n, rc;

	check_config_api();

	t_section("create the shared network");
	c = main_config();
	net = vmnet_network_create(c, &st);
	CHECK_ST(st, VMNET_SUCCESS);
	CFRelease(c); /* allowed right after create */
	if (!net)
		return t_done("api_network");
	vmnet_network_get_ipv4_subnet(net, &sub, &mask);
	CHECKF(sub.s_addr == a4(SUBNET).s_addr && mask.s_addr == a4("255.255.255.0").s_addr,
	       "get_ipv4_subnet: 192.168.93.0/255.255.255.0");
	vmnet_network_get_ipv6_prefix(net, &p6, &len6);
	inet_pton(AF_INET6, PREFIX, &want6);
	CHECKF(len6 == 64 && !memcmp(&p6, &want6, 16), "get_ipv6_prefix: " PREFIX "/64");
	vmnet_network_get_ipv4_subnet(NULL, &sub, &mask);
	CHECK(sub.s_addr == 0 && mask.s_addr == 0);

	check_overlap();

	t_section("serialization");
	ser = vmnet_network_copy_serialization(net, &st);
	CHECK_ST(st, VMNET_SUCCESS);
	CHECK(ser && xpc_get_type(ser) == XPC_TYPE_DICTIONARY);
	if (!ser)
		return t_done("api_network");
	CHECK(vmnet_network_copy_serialization(NULL, &st) == NULL && st == VMNET_INVALID_ARGUMENT);
	bytes = xpc_vmnet_encode(ser, &blen);
	snprintf(file, sizeof(file), "%s/network.ser", dir);
	CHECKF(bytes && t_write_file(file, bytes, blen), "the serialization encodes (%zu bytes) into %s", blen, file);
	check_refusals(ser, bytes, blen);
	free(bytes);
	again = vmnet_network_create_with_serialization(ser, &st);
	CHECKF(again && st == VMNET_SUCCESS, "the creator itself can join (%s)", t_st_name(st));
	if (again)
		CFRelease(again); /* a joiner's release leaves the network */

	t_section("an interface on the network, and a second process joining it");
	CHECK_ST(t_start_on_network(&A, "creator-A", net), VMNET_SUCCESS);
	if (!A.has_mac)
		return t_done("api_network");
	CHECKF(A.param && !strcmp(xpc_dictionary_get_string(A.param, vmnet_start_address_key) ?: "", "192.168.93.1"),
	       "interface_param: start address 192.168.93.1 (the gateway, base+1)");
	check_dhcp(&A);
	check_forward(&A);
	pid = spawn_joiner(file);
	CHECK(pid > 0);
	CHECKF(recv_line(line, sizeof(line), 20000) && !strncmp(line, "READY ", 6) && t_parse_mac(line + 6, bmac),
	       "the joiner started an interface (%s)", line);
	n = t_collect(A.ref, &r, 5, 5000, BUF);
	CHECKF(n == 5 && t_rx_count_tag(&r, 71) == 5, "we read the joiner's 5 broadcasts (%d frames)", n);
	for (int i = 0; i < r.n; i++)
		CHECKF(r.len[i] >= 12 && !memcmp(r.data[i] + 6, bmac, 6), "frame %d comes from the joiner", i);
	t_rx_free(&r);
	CHECK_ST(t_write_frames(A.ref, bmac, A.mac, 72, 0, 5, 600), VMNET_SUCCESS);
	send_line("SENT %s", A.mac_str);
	CHECKF(recv_line(line, sizeof(line), 15000) && !strcmp(line, "GOT 5"), "the joiner read our 5 frames (%s)",
	       line);
	n = t_collect(A.ref, &r, 0, 300, BUF);
	t_rx_free(&r);
	t_note("%d more frames", n);
	check_other_user(file);

	t_section("the creator releases the network");
	CHECK_ST(t_stop(&A), VMNET_SUCCESS);
	CFRelease(net);
	send_line("RELEASED");
	CHECKF(recv_line(line, sizeof(line), 30000) && !strcmp(line, "DONE"), "the joiner saw the network go (%s)",
	       line);
	rc = t_wait_child(pid, 20000);
	CHECKF(rc == 0, "the joiner passed all its checks (exit status %d)", rc);
	CHECK(vmnet_network_create_with_serialization(ser, &st) == NULL);
	CHECK_ST(st, VMNET_INVALID_ARGUMENT);
	xpc_release(ser);
	return t_done("api_network");
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "main"))
		return main_main(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "joiner"))
		return joiner_main(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "expect"))
		return expect_main(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return hold_main(argv[2], argv[3]);
	fprintf(stderr, "usage: %s main DIR | hold DIR nodhcp|reserve\n", argv[0]);
	return 2;
}
