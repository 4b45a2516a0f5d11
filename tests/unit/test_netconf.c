/*
 * test_netconf.c — network configurations (common/netconf.c) and network
 * serializations (common/netser.c): every setter's limits, the CTL_NETWORK
 * dictionary and the definition file in both directions, every kind of bad
 * input refused, and serializations that are truncated, forged in shape or
 * of the wrong type.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>

#include "check.h"
#include "common/netconf.h"
#include "common/netser.h"

static struct netconf cfg, back;

static struct in_addr a4(const char *s)
{
	struct in_addr a = { 0 };

	inet_pton(AF_INET, s, &a);
	return a;
}

static void test_setters(void)
{
	uint8_t p[16], mac[6] = { 0x52, 0x54, 0, 1, 2, 3 }, mac2[6] = { 0x52, 0x54, 0, 1, 2, 4 };
	uint8_t mcast[6] = { 1, 0, 0x5e, 0, 0, 1 }, zero[6] = { 0 };
	struct netconf_forward f = { .protocol = NETCONF_PROTO_TCP, .family = AF_INET, .external_port = 8080,
				     .internal_port = 80 };
	const char *why = NULL;

	netconf_default(&cfg, VMNET_SHARED_MODE);
	CHECK(cfg.dhcp && cfg.dns && cfg.nat44 && cfg.nat66 && cfg.router_adv && cfg.mtu == 1500);
	CHECK(!cfg.has_subnet && !cfg.has_prefix && !cfg.nres && !cfg.nfwd && !cfg.external_if[0]);

	/* subnets: contiguous /8../30, private, host bits ignored */
	CHECK(netconf_set_subnet(&cfg, a4("192.168.90.1"), a4("255.255.255.0")) == 0);
	CHECK(cfg.base.s_addr == a4("192.168.90.0").s_addr);
	CHECK(netconf_set_subnet(&cfg, a4("10.0.0.0"), a4("255.0.0.0")) == 0);
	CHECK(netconf_set_subnet(&cfg, a4("172.16.0.0"), a4("255.240.0.0")) == 0);
	CHECK(netconf_set_subnet(&cfg, a4("172.16.0.0"), a4("255.224.0.0")) == -EINVAL); /* spills out of 172.16/12 */
	CHECK(netconf_set_subnet(&cfg, a4("8.8.8.0"), a4("255.255.255.0")) == -EINVAL);
	CHECK(netconf_set_subnet(&cfg, a4("192.168.90.0"), a4("255.255.0.255")) == -EINVAL);
	CHECK(netconf_set_subnet(&cfg, a4("192.168.90.0"), a4("255.255.255.254")) == -EINVAL);
	CHECK(netconf_set_subnet(&cfg, a4("192.168.90.0"), a4("255.255.255.252")) == 0);
	CHECK(netconf_set_subnet(&cfg, a4("10.0.0.0"), a4("254.0.0.0")) == -EINVAL);
	CHECK(netconf_set_subnet(&cfg, a4("192.168.90.0"), a4("0.0.0.0")) == -EINVAL);
	CHECK(netconf_set_subnet(&cfg, a4("192.168.90.0"), a4("255.255.255.0")) == 0);

	/* prefixes */
	inet_pton(AF_INET6, "fd00:1:2:3:4:5:6:7", p);
	CHECK(netconf_set_prefix(&cfg, p, 48) == -EINVAL);
	CHECK(netconf_set_prefix(&cfg, p, 64) == 0 && cfg.has_prefix && cfg.prefix[8] == 0 && cfg.prefix[15] == 0);
	inet_pton(AF_INET6, "ff02::", p);
	CHECK(netconf_set_prefix(&cfg, p, 64) == -EINVAL);
	inet_pton(AF_INET6, "fe80::", p);
	CHECK(netconf_set_prefix(&cfg, p, 64) == -EINVAL);
	inet_pton(AF_INET6, "::", p);
	CHECK(netconf_set_prefix(&cfg, p, 64) == -EINVAL);

	CHECK(netconf_set_mtu(&cfg, 1279) == -EINVAL && netconf_set_mtu(&cfg, 9001) == -EINVAL);
	CHECK(netconf_set_mtu(&cfg, 9000) == 0 && netconf_set_mtu(&cfg, 1500) == 0);
	CHECK(netconf_set_external(&cfg, "") == -EINVAL && netconf_set_external(&cfg, NULL) == -EINVAL);
	CHECK(netconf_set_external(&cfg, "0123456789abcdef") == -EINVAL);
	CHECK(netconf_set_external(&cfg, "a b") == -EINVAL && netconf_set_external(&cfg, "a/b") == -EINVAL);
	CHECK(netconf_set_external(&cfg, "eth0") == 0 && !strcmp(cfg.external_if, "eth0"));

	/* reservations: unicast MACs, one address per MAC, moving a MAC */
	CHECK(netconf_reserve(&cfg, mcast, a4("192.168.90.10")) == -EINVAL);
	CHECK(netconf_reserve(&cfg, zero, a4("192.168.90.10")) == -EINVAL);
	CHECK(netconf_reserve(&cfg, mac, a4("192.168.90.10")) == 0 && cfg.nres == 1);
	CHECK(netconf_reserve(&cfg, mac2, a4("192.168.90.10")) == -EINVAL);
	CHECK(netconf_reserve(&cfg, mac, a4("192.168.90.11")) == 0 && cfg.nres == 1);
	CHECK(netconf_reserve(&cfg, mac2, a4("192.168.90.10")) == 0 && cfg.nres == 2);
	CHECK(netconf_check(&cfg, cfg.base, cfg.mask, &why) == 0);
	CHECK(netconf_check(&cfg, a4("192.168.91.0"), cfg.mask, &why) == -EINVAL && why);

	/* host addresses: not the network, gateway (base+1) or broadcast */
	CHECK(!netconf_host_ok(a4("192.168.90.0"), cfg.base, cfg.mask));
	CHECK(!netconf_host_ok(a4("192.168.90.1"), cfg.base, cfg.mask));
	CHECK(!netconf_host_ok(a4("192.168.90.255"), cfg.base, cfg.mask));
	CHECK(!netconf_host_ok(a4("192.168.91.5"), cfg.base, cfg.mask));
	CHECK(netconf_host_ok(a4("192.168.90.2"), cfg.base, cfg.mask));
	CHECK(netconf_host_ok(a4("192.168.90.254"), cfg.base, cfg.mask));

	/* forwards */
	f.addr.v4 = a4("192.168.90.11");
	CHECK(netconf_add_forward(&cfg, &f) == 0 && cfg.nfwd == 1);
	CHECK(netconf_add_forward(&cfg, &f) == -EINVAL); /* the same external port */
	f.protocol = NETCONF_PROTO_UDP;
	CHECK(netconf_add_forward(&cfg, &f) == 0 && cfg.nfwd == 2);
	f.protocol = 1;
	CHECK(netconf_add_forward(&cfg, &f) == -EINVAL);
	f.protocol = NETCONF_PROTO_TCP;
	f.external_port = 0;
	CHECK(netconf_add_forward(&cfg, &f) == -EINVAL);
	f.external_port = 8443;
	f.family = 30;
	CHECK(netconf_add_forward(&cfg, &f) == -EINVAL);
	f.family = AF_INET6;
	inet_pton(AF_INET6, "fd00:1:2:3::10", &f.addr.v6);
	CHECK(netconf_add_forward(&cfg, &f) == 0 && cfg.nfwd == 3);
	f.family = AF_INET;
	f.external_port = 8444;
	f.addr.v4 = a4("192.168.77.1");
	CHECK(netconf_add_forward(&cfg, &f) == 0);
	CHECK(netconf_check(&cfg, cfg.base, cfg.mask, &why) == -EINVAL); /* that forward is outside */
	cfg.nfwd--;
	CHECK(netconf_check(&cfg, cfg.base, cfg.mask, &why) == 0);
}

static void test_xpc(void)
{
	xpc_object_t d = netconf_to_xpc(&cfg), bad, arr, e;
	const char *why = NULL;
	void *bytes;
	size_t len;

	/* round trip, also through the wire encoding */
	bytes = xpc_vmnet_encode(d, &len);
	CHECK(bytes != NULL);
	xpc_release(d);
	d = xpc_vmnet_decode(bytes, len);
	free(bytes);
	CHECK(netconf_from_xpc(d, &back, &why) == 0);
	CHECK(back.mode == cfg.mode && back.has_subnet && back.base.s_addr == cfg.base.s_addr &&
	      back.mask.s_addr == cfg.mask.s_addr && back.has_prefix && !memcmp(back.prefix, cfg.prefix, 16));
	CHECK(back.mtu == cfg.mtu && back.nres == cfg.nres && back.nfwd == cfg.nfwd && !strcmp(back.external_if, "eth0"));
	CHECK(!memcmp(back.res, cfg.res, sizeof(cfg.res[0]) * cfg.nres));
	CHECK(!memcmp(back.fwd, cfg.fwd, sizeof(cfg.fwd[0]) * cfg.nfwd));
	CHECK(back.dhcp == cfg.dhcp && back.nat66 == cfg.nat66);

	/* refusals, one key at a time */
#define REFUSED(mutate)                                                            \
	do {                                                                       \
		bad = xpc_copy(d);                                                 \
		mutate;                                                            \
		why = NULL;                                                        \
		CHECK(netconf_from_xpc(bad, &back, &why) == -EINVAL && why);      \
		xpc_release(bad);                                                  \
	} while (0)
	REFUSED(xpc_dictionary_set_uint64(bad, "mode", VMNET_BRIDGED_MODE));
	REFUSED(xpc_dictionary_set_string(bad, "mode", "shared"));
	REFUSED(xpc_dictionary_set_string(bad, "subnet", "192.168.90.0"));
	REFUSED(xpc_dictionary_set_string(bad, "subnet", "192.168.90.0/31"));
	REFUSED(xpc_dictionary_set_string(bad, "subnet", "192.168.90.0/ 24"));
	REFUSED(xpc_dictionary_set_string(bad, "subnet", "192.168.91.0/24")); /* reservations fall outside */
	REFUSED(xpc_dictionary_set_string(bad, "prefix", "fd00::/48"));
	REFUSED(xpc_dictionary_set_uint64(bad, "mtu", 70000));
	REFUSED(xpc_dictionary_set_uint64(bad, "mtu", 1ull << 40));
	REFUSED(xpc_dictionary_set_bool(bad, "external", true));
	REFUSED(xpc_dictionary_set_string(bad, "external", "0123456789abcdefg"));
	REFUSED(xpc_dictionary_set_string(bad, "reservations", "x"));
	REFUSED(arr = xpc_array_create_empty(); e = xpc_string_create("52:54:00:01:02:03");
		xpc_array_append_value(arr, e); xpc_release(e); xpc_dictionary_set_value(bad, "reservations", arr);
		xpc_release(arr));
	REFUSED(arr = xpc_array_create_empty(); e = xpc_dictionary_create_empty();
		xpc_dictionary_set_string(e, "mac", "52:54:00:01:02:03"); xpc_array_append_value(arr, e); xpc_release(e);
		xpc_dictionary_set_value(bad, "reservations", arr); xpc_release(arr));
	REFUSED(arr = xpc_array_create_empty(); e = xpc_dictionary_create_empty();
		xpc_dictionary_set_uint64(e, "protocol", 6); xpc_dictionary_set_uint64(e, "family", AF_INET);
		xpc_dictionary_set_uint64(e, "external_port", 70000); xpc_dictionary_set_uint64(e, "internal_port", 80);
		xpc_dictionary_set_string(e, "internal_address", "192.168.90.5"); xpc_array_append_value(arr, e);
		xpc_release(e); xpc_dictionary_set_value(bad, "forwards", arr); xpc_release(arr));
	REFUSED(arr = xpc_array_create_empty(); e = xpc_dictionary_create_empty();
		xpc_dictionary_set_uint64(e, "protocol", 6); xpc_dictionary_set_uint64(e, "family", AF_INET);
		xpc_dictionary_set_uint64(e, "external_port", 7000); xpc_dictionary_set_uint64(e, "internal_port", 80);
		xpc_dictionary_set_string(e, "internal_address", "fd00::5"); xpc_array_append_value(arr, e);
		xpc_release(e); xpc_dictionary_set_value(bad, "forwards", arr); xpc_release(arr));
#undef REFUSED
	/* no mode; not a dictionary; unknown keys are fine */
	bad = xpc_dictionary_create_empty();
	CHECK(netconf_from_xpc(bad, &back, &why) == -EINVAL);
	xpc_dictionary_set_uint64(bad, "mode", VMNET_HOST_MODE);
	xpc_dictionary_set_string(bad, "future_key", "x");
	CHECK(netconf_from_xpc(bad, &back, &why) == 0 && back.mode == VMNET_HOST_MODE && !back.has_subnet);
	xpc_release(bad);
	CHECK(netconf_from_xpc(NULL, &back, &why) == -EINVAL);
	bad = xpc_string_create("x");
	CHECK(netconf_from_xpc(bad, &back, &why) == -EINVAL);
	xpc_release(bad);
	xpc_release(d);
}

static void test_text(void)
{
	static char text[NETCONF_FILE_MAX];
	char err[160];
	uuid_t id, id2;
	size_t n;

	uuid_generate_random(id);
	cfg.nfwd = 0; /* definition files carry no forwards */
	n = netconf_format(&cfg, id, text, sizeof(text));
	CHECK(n > 0 && n < sizeof(text) && strstr(text, "mode=shared\n") && strstr(text, "subnet=192.168.90.0/24\n"));
	CHECK(netconf_parse(text, &back, id2, err, sizeof(err)) == 0);
	CHECK(!uuid_compare(id, id2) && back.mode == cfg.mode && back.base.s_addr == cfg.base.s_addr &&
	      back.nres == cfg.nres && !memcmp(back.res, cfg.res, sizeof(cfg.res[0]) * cfg.nres) &&
	      !memcmp(back.prefix, cfg.prefix, 16) && !strcmp(back.external_if, "eth0"));
	/* a short buffer is cut, never overrun */
	CHECK(netconf_format(&cfg, id, text, 10) == 9 && strlen(text) == 9);

#define BAD(t) CHECK(netconf_parse(t, &back, id2, err, sizeof(err)) == -EINVAL && err[0])
	BAD("");
	BAD("mode=shared\nsubnet=192.168.90.0/24\n"); /* no id */
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nsubnet=192.168.90.0/24\n"); /* no mode */
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=host\n");		       /* no subnet */
	BAD("id=not-a-uuid\nmode=host\nsubnet=192.168.90.0/24\n");
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=bridged\nsubnet=192.168.90.0/24\n");
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=host\nsubnet=192.168.90.0/24\nunknown=1\n");
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=host\nsubnet=192.168.90.0/24\ndhcp=maybe\n");
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=host\nsubnet=192.168.90.0/24\nmtu=-1\n");
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=host\nsubnet=192.168.90.0/24\nmtu=\n");
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=host\nsubnet=192.168.90.0/24\nreserve=52:54:00:01:02:03\n");
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=host\nsubnet=192.168.90.0/24\nreserve=52:54:00:01:02:03 "
	    "192.168.91.3\n");
	BAD("id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f\nmode=host\nsubnet=192.168.90.0/24\nnoequals\n");
	memset(text, 'a', 300);
	text[300] = 0;
	BAD(text); /* an overlong line */
#undef BAD
	CHECK(netconf_parse("# c\n  id=6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f \r\nmode=host\n\nsubnet=10.1.0.0/16\nnat44=off",
			    &back, id2, err, sizeof(err)) == 0 &&
	      back.mode == VMNET_HOST_MODE && !back.nat44 && back.mask.s_addr == a4("255.255.0.0").s_addr);
}

static void test_names(void)
{
	CHECK(netconf_name_ok("lab") && netconf_name_ok("a.b_c-1") && netconf_name_ok("x"));
	CHECK(netconf_name_ok("0123456789abcdef0123456789abcdef"));
	CHECK(!netconf_name_ok("0123456789abcdef0123456789abcdefg"));
	CHECK(!netconf_name_ok("") && !netconf_name_ok(NULL) && !netconf_name_ok("-x") && !netconf_name_ok(".x"));
	CHECK(!netconf_name_ok("a/b") && !netconf_name_ok("a b") && !netconf_name_ok("../x"));
	CHECK(!netconf_name_ok("default") && !netconf_name_ok("shared") && !netconf_name_ok("host"));
	CHECK(!netconf_name_ok("net-1234") && !netconf_name_ok("host-x") && !netconf_name_ok("shared-x"));
	CHECK(!netconf_name_ok("6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f"));
}

static void test_serialization(void)
{
	struct netser s, t;
	const char *why = NULL;
	xpc_object_t d, bad;
	void *bytes;
	size_t len;

	memset(&s, 0, sizeof(s));
	uuid_generate_random(s.id);
	for (int i = 0; i < 16; i++)
		s.token[i] = (uint8_t)(i * 7 + 1);
	snprintf(s.name, sizeof(s.name), "net-1234abcd");
	s.mode = VMNET_SHARED_MODE;
	s.base = a4("192.168.64.0");
	s.mask = a4("255.255.255.0");
	s.has_prefix = true;
	inet_pton(AF_INET6, "fd12:3456:789a::", s.prefix);
	s.mtu = 1500;
	d = netser_build(&s);
	CHECK(netser_parse(d, &t, &why) == 0 && !memcmp(&s, &t, sizeof(s)));

	/* every truncation of its encoding fails to decode */
	bytes = xpc_vmnet_encode(d, &len);
	for (size_t cut = 0; cut < len; cut++) {
		xpc_object_t x = xpc_vmnet_decode(bytes, cut);

		CHECK(x == NULL);
	}
	free(bytes);

#define REFUSED(mutate)                                                        \
	do {                                                                   \
		bad = xpc_copy(d);                                             \
		mutate;                                                        \
		why = NULL;                                                    \
		CHECK(netser_parse(bad, &t, &why) == -EINVAL && why);         \
		xpc_release(bad);                                              \
	} while (0)
	REFUSED(xpc_dictionary_set_string(bad, "format", "vmnet.network/2"));
	REFUSED(xpc_dictionary_set_uint64(bad, "format", 1));
	REFUSED(xpc_dictionary_set_string(bad, "id", "6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f"));
	REFUSED(xpc_dictionary_set_data(bad, "token", s.token, 15));
	REFUSED(xpc_dictionary_set_data(bad, "token", "01234567890123456", 17));
	REFUSED(xpc_dictionary_set_string(bad, "token", "0123456789012345"));
	REFUSED(xpc_dictionary_set_string(bad, "name", ""));
	REFUSED(xpc_dictionary_set_string(bad, "name", "0123456789012345678901234567890123456789012345678"));
	REFUSED(xpc_dictionary_set_uint64(bad, "mode", VMNET_BRIDGED_MODE));
	REFUSED(xpc_dictionary_set_string(bad, "subnet", "192.168.64.0/32"));
	REFUSED(xpc_dictionary_set_string(bad, "subnet", "192.168.64.0"));
	REFUSED(xpc_dictionary_set_uint64(bad, "mtu", 100));
	REFUSED(xpc_dictionary_set_string(bad, "prefix", "fd12::/56"));
	REFUSED(xpc_dictionary_set_bool(bad, "prefix", true));
#undef REFUSED
	bad = xpc_dictionary_create_empty();
	CHECK(netser_parse(bad, &t, &why) == -EINVAL);
	xpc_release(bad);
	CHECK(netser_parse(NULL, &t, &why) == -EINVAL);
	bad = xpc_array_create_empty();
	CHECK(netser_parse(bad, &t, &why) == -EINVAL);
	xpc_release(bad);
	/* no prefix is fine (a network without IPv6) */
	bad = xpc_copy(d);
	xpc_dictionary_set_value(bad, "prefix", NULL);
	CHECK(netser_parse(bad, &t, &why) == 0 && !t.has_prefix);
	xpc_release(bad);
	xpc_release(d);
}

int main(void)
{
	test_setters();
	test_xpc();
	test_text();
	test_names();
	test_serialization();
	return check_done();
}
