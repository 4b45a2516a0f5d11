/*
 * test_settings.c — the per-network settings file: parse, format, round trip,
 * every kind of bad line; port forward lines and the checks of a forward rule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "daemon/daemon.h"
#include "daemon/settings.h"

struct daemon_opts opts = { .state_dir = "/nonexistent" };

static struct in_addr base, mask;

static int parse(const char *text, struct gateway_config *cfg)
{
	char err[160];

	gateway_config_default(cfg);
	return settings_parse(text, base, mask, cfg, err, sizeof(err));
}

/* Does the reason s (NULL: none) contain sub? */
static bool says(const char *s, const char *sub)
{
	return s && strstr(s, sub);
}

static struct nat_forward fwd(uint8_t proto, int family, uint16_t ext, const char *addr, uint16_t in)
{
	struct nat_forward f = { .proto = proto, .family = (uint8_t)family, .ext_port = ext, .int_port = in };

	inet_pton(family, addr, f.addr);
	return f;
}

/* forward= lines (shared mode), unforward=, and gateway_forward_invalid. */
static void test_forwards(void)
{
	static struct gateway_config cfg, back;
	static char text[65536];
	struct in_addr b, m, gw;
	struct nat_forward f;
	uint8_t prefix[16];
	char err[160], line[96];

	inet_pton(AF_INET, "192.168.64.0", &b);
	inet_pton(AF_INET, "255.255.255.0", &m);
	inet_pton(AF_INET, "192.168.64.1", &gw);
	inet_pton(AF_INET6, "fd64::", prefix);

	/* Lines in, rules out; the prefix (when set) bounds IPv6 guests. */
	gateway_config_default(&cfg);
	CHECK(settings_parse("prefix=fd64::/64\nforward=tcp,4,8080,192.168.64.2,80\n"
			     "forward=udp,4,5353,192.168.64.2,53\nforward=tcp,6,8080,fd64::2,80\n", b, m, &cfg, err,
			     sizeof(err)) == 0);
	CHECK(cfg.nfwd == 3);
	CHECK(cfg.fwd[0].proto == IPPROTO_TCP && cfg.fwd[0].family == AF_INET && cfg.fwd[0].ext_port == 8080 &&
	      cfg.fwd[0].int_port == 80 && !memcmp(cfg.fwd[0].addr, (uint8_t[]){ 192, 168, 64, 2 }, 4));
	CHECK(cfg.fwd[1].proto == IPPROTO_UDP && cfg.fwd[1].ext_port == 5353 && cfg.fwd[1].int_port == 53);
	CHECK(cfg.fwd[2].family == AF_INET6 && cfg.fwd[2].addr[0] == 0xfd && cfg.fwd[2].addr[15] == 2);

	/* Formatted and parsed back: the same rules, in the same order. */
	settings_format(&cfg, text, sizeof(text));
	CHECK(strstr(text, "forward=tcp,4,8080,192.168.64.2,80\n") && strstr(text, "forward=tcp,6,8080,fd64::2,80\n"));
	gateway_config_default(&back);
	CHECK(settings_parse(text, b, m, &back, err, sizeof(err)) == 0);
	CHECK(back.nfwd == 3 && !memcmp(back.fwd, cfg.fwd, sizeof(cfg.fwd[0]) * 3));
	f = fwd(IPPROTO_UDP, AF_INET6, 65535, "fd64::ffff", 1);
	CHECK(settings_forward_format(&f, line, sizeof(line)) == strlen("udp,6,65535,fd64::ffff,1") &&
	      !strcmp(line, "udp,6,65535,fd64::ffff,1"));

	/* unforward= drops one (the same key: protocol, family, host port); an absent one is no error. */
	CHECK(settings_parse("unforward=tcp,4,8080\nunforward=udp,4,1\n", b, m, &cfg, err, sizeof(err)) == 0);
	CHECK(cfg.nfwd == 2 && cfg.fwd[0].family == AF_INET6 && cfg.fwd[1].proto == IPPROTO_UDP);

	/* Bad forward lines: the syntax, the rule's checks, a duplicate. */
	static const char *bad[] = {
		"forward=", "forward=tcp", "forward=tcp,4,8080,192.168.64.2", "forward=tcp,4,8080,192.168.64.2,80,1",
		"forward=icmp,4,8080,192.168.64.2,80", "forward=6,4,8080,192.168.64.2,80", "forward=tcp,5,8080,192.168.64.2,80",
		"forward=tcp,4,0,192.168.64.2,80", "forward=tcp,4,8080,192.168.64.2,0", "forward=tcp,4,65536,192.168.64.2,80",
		"forward=tcp,4,-1,192.168.64.2,80", "forward=tcp,4,80x,192.168.64.2,80", "forward=tcp,4,8080,192.168.65.2,80",
		"forward=tcp,4,8080,192.168.64.1,80", "forward=tcp,4,8080,192.168.64.0,80", "forward=tcp,4,8080,192.168.64.255,80",
		"forward=tcp,4,8080,fd64::2,80", "forward=tcp,6,8080,192.168.64.2,80", "forward=tcp,6,8080,fd65::2,80",
		"forward=tcp,6,8080,fd64::1,80", "forward=tcp,6,8080,fd64::,80", "forward=tcp,6,8080,fe80::2,80",
		"forward=tcp,6,8080,::1,80", "forward=tcp,6,8080,ff02::1,80", "forward=tcp,6,8080,::ffff:192.168.64.2,80",
		"unforward=tcp,4", "unforward=tcp,4,8080,192.168.64.2,80", "unforward=sctp,4,8080",
		"forward=tcp,4,8080,192.168.64.2,80\nforward=tcp,4,8080,192.168.64.3,81", /* DUPLICATE: last */
	};
	const size_t DUPLICATE = sizeof(bad) / sizeof(bad[0]) - 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "prefix=fd64::/64\n%s\n", bad[i]);
		gateway_config_default(&cfg);
		err[0] = 0;
		CHECK(settings_parse(text, b, m, &cfg, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, i == DUPLICATE ? "line 3" : "line 2") != NULL);
	}
	/* A prefix that comes after (or changes under) an IPv6 forward must still hold it: it reads back as written. */
	gateway_config_default(&cfg);
	CHECK(settings_parse("forward=udp,6,53,fd64::2,53\nprefix=fe32::/64\n", b, m, &cfg, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "outside the network's /64") != NULL);
	gateway_config_default(&cfg);
	CHECK(settings_parse("forward=udp,6,53,fd64::1,53\nprefix=fd64::/64\n", b, m, &cfg, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "gateway") != NULL);
	gateway_config_default(&cfg);
	CHECK(settings_parse("forward=udp,6,53,fd64::2,53\nprefix=fd64::/64\n", b, m, &cfg, err, sizeof(err)) == 0);
	CHECK(settings_parse("prefix=fd65::/64", b, m, &cfg, err, sizeof(err)) == -EINVAL);
	CHECK(settings_parse("unforward=udp,6,53\nprefix=fd65::/64", b, m, &cfg, err, sizeof(err)) == 0);

	/* The same protocol and port in the other family, or the other protocol, are different rules. */
	gateway_config_default(&cfg);
	CHECK(settings_parse("forward=tcp,4,8080,192.168.64.2,80\nforward=udp,4,8080,192.168.64.2,80\n"
			     "forward=tcp,6,8080,fd00::2,80\n", b, m, &cfg, err, sizeof(err)) == 0 && cfg.nfwd == 3);
	/* Without a prefix in the file an IPv6 guest is checked for its kind only (the daemon knows the ULA). */
	CHECK(cfg.fwd[2].family == AF_INET6);

	/* gateway_forward_invalid, directly: NULL for a good rule, a reason otherwise. */
	f = fwd(IPPROTO_TCP, AF_INET, 2222, "192.168.64.2", 22);
	CHECK(gateway_forward_invalid(&f, gw, m, prefix) == NULL);
	f = fwd(IPPROTO_UDP, AF_INET6, 53, "fd64::abcd", 53);
	CHECK(gateway_forward_invalid(&f, gw, m, prefix) == NULL);
	CHECK(gateway_forward_invalid(&f, gw, m, NULL) == NULL);
	f.proto = 1;
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "tcp (6) or udp (17)"));
	f = fwd(IPPROTO_TCP, AF_INET, 0, "192.168.64.2", 22);
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "port 0"));
	f = fwd(IPPROTO_TCP, AF_INET, 22, "192.168.64.2", 0);
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "port 0"));
	f = fwd(IPPROTO_TCP, AF_INET, 22, "192.168.64.2", 22);
	f.family = 30; /* Darwin's AF_INET6 never gets this far: the edges translate it */
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "family"));
	f = fwd(IPPROTO_TCP, AF_INET, 22, "10.0.0.2", 22);
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "outside the network's subnet"));
	f = fwd(IPPROTO_TCP, AF_INET, 22, "192.168.64.1", 22);
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "gateway"));
	f = fwd(IPPROTO_TCP, AF_INET, 22, "192.168.64.255", 22);
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "broadcast"));
	f = fwd(IPPROTO_TCP, AF_INET6, 22, "fd65::2", 22);
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "/64"));
	CHECK(gateway_forward_invalid(&f, gw, m, NULL) == NULL);
	f = fwd(IPPROTO_TCP, AF_INET6, 22, "fd64::1", 22);
	CHECK(says(gateway_forward_invalid(&f, gw, m, prefix), "gateway"));
	f = fwd(IPPROTO_TCP, AF_INET6, 22, "fe80::2", 22);
	CHECK(says(gateway_forward_invalid(&f, gw, m, NULL), "unicast"));
	f = fwd(IPPROTO_TCP, AF_INET6, 22, "::", 22);
	CHECK(says(gateway_forward_invalid(&f, gw, m, NULL), "unicast"));

	/* The table is bounded. */
	gateway_config_default(&cfg);
	for (unsigned i = 0; i < GATEWAY_FORWARD_MAX; i++) {
		snprintf(line, sizeof(line), "forward=tcp,4,%u,192.168.64.2,80", 1000 + i);
		CHECK(settings_parse(line, b, m, &cfg, err, sizeof(err)) == 0);
	}
	CHECK(cfg.nfwd == GATEWAY_FORWARD_MAX);
	CHECK(settings_parse("forward=tcp,4,60000,192.168.64.2,80", b, m, &cfg, err, sizeof(err)) == -EINVAL);
	/* ... and a full table still fits a settings file. */
	CHECK(settings_format(&cfg, text, sizeof(text)) < sizeof(text) - 1);
}

int main(void)
{
	static struct gateway_config cfg, back;
	static char text[65536];
	char err[160], path[256];
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	struct in_addr ip;

	inet_pton(AF_INET, "192.168.128.0", &base);
	inet_pton(AF_INET, "255.255.255.0", &mask);
	settings_path(base, mask, path, sizeof(path));
	CHECK(!strcmp(path, "/nonexistent/network-192.168.128.0-24.conf"));

	/* Defaults and an empty file. */
	CHECK(parse("", &cfg) == 0 && cfg.dhcp && cfg.dns && cfg.ipv6 && cfg.router_adv && cfg.lease_time == 86400);
	CHECK(parse("# only a comment\n\n   \n", &cfg) == 0 && cfg.nres == 0);

	/* Every key, with spaces, CRLF and comments around. */
	CHECK(parse("lease-time=600\r\n  dhcp=off\ndns=no\nipv6=false\nrouter-adv=0\ndomain=vm.test\n"
		    "prefix=fd00:1:2:3::/64\nreserve=02:00:00:00:00:01 192.168.128.50\n"
		    "reserve=02:00:00:00:00:02,192.168.128.51\n# end\n", &cfg) == 0);
	CHECK(cfg.lease_time == 600 && !cfg.dhcp && !cfg.dns && !cfg.ipv6 && !cfg.router_adv);
	CHECK(!strcmp(cfg.domain, "vm.test") && cfg.has_prefix && cfg.prefix[0] == 0xfd && cfg.prefix[7] == 3);
	CHECK(cfg.nres == 2 && cfg.res[1].ip.s_addr == htonl(0xc0a88033));

	/* Format and parse back: the same settings. */
	settings_format(&cfg, text, sizeof(text));
	CHECK(parse(text, &back) == 0);
	CHECK(back.lease_time == 600 && !back.dhcp && back.nres == 2 && !memcmp(back.prefix, cfg.prefix, 16) &&
	      !strcmp(back.domain, "vm.test") && !memcmp(back.res[0].mac, mac, 6));

	/* Reserving a MAC again moves it; an address reserved for another MAC is refused; unreserve. */
	inet_pton(AF_INET, "192.168.128.60", &ip);
	CHECK(settings_reserve(&cfg, base, mask, mac, ip) == 0 && cfg.nres == 2 && cfg.res[0].ip.s_addr == ip.s_addr);
	mac[5] = 9;
	CHECK(settings_reserve(&cfg, base, mask, mac, ip) == -EINVAL);
	CHECK(parse("reserve=02:00:00:00:00:01,192.168.128.50\nunreserve=02:00:00:00:00:01\n", &cfg) == 0 && cfg.nres == 0);

	/* Bad lines: each refused, with its line number in the message. */
	static const char *bad[] = {
		"lease-time=59", "lease-time=31622401", "lease-time=", "lease-time=10x", "dhcp=maybe", "colour=blue",
		"no equals sign", "domain=bad..name", "domain=-x", "domain=sp ace", "prefix=fd00::/48",
		"prefix=fd00::1/64", "prefix=ff02::/64", "prefix=fe80::/64", "prefix=nonsense/64",
		"reserve=02:00:00:00:00:01", "reserve=01:00:5e:00:00:01,192.168.128.9",
		"reserve=02:00:00:00:00:01,10.0.0.1", "reserve=02:00:00:00:00:01,192.168.128.0",
		"reserve=02:00:00:00:00:01,192.168.128.255", "reserve=02:00:00:00:00:01,192.168.128.1",
		"reserve=zz:00:00:00:00:01,192.168.128.9", "unreserve=nonsense",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "dhcp=on\n%s\n", bad[i]);
		gateway_config_default(&cfg);
		CHECK(settings_parse(text, base, mask, &cfg, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "line 2") != NULL);
	}
	/* A line too long for the parser. */
	memset(text, 'a', 1000);
	text[1000] = 0;
	CHECK(parse(text, &cfg) == -EINVAL);
	/* The reservation table is bounded. */
	gateway_config_default(&cfg);
	inet_pton(AF_INET, "255.255.0.0", &mask);
	inet_pton(AF_INET, "10.1.0.0", &base);
	for (unsigned i = 0; i < GATEWAY_RESERVE_MAX; i++) {
		uint8_t m[6] = { 2, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };

		ip.s_addr = htonl(0x0a010100u + 10 + i);
		CHECK(settings_reserve(&cfg, base, mask, m, ip) == 0);
	}
	ip.s_addr = htonl(0x0a010500u);
	CHECK(settings_reserve(&cfg, base, mask, (uint8_t[6]){ 2, 1, 1, 1, 1, 1 }, ip) == -ENOSPC);
	test_forwards();
	return check_done();
}
