/* test_settings.c — the per-network settings file: parse, format, round trip, every kind of bad line. */
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
	return check_done();
}
