/*
 * settings.c — per-network settings files (see settings.h).
 *
 * The format is one "key=value" per line, '#' comments, written by vmnetd and
 * readable (and editable) by people:
 *
 *   lease-time=86400
 *   dhcp=on            dns=on   ipv6=on   router-adv=on
 *   domain=vm.example
 *   prefix=fd00:1:2:3::/64
 *   reserve=02:00:00:00:00:01 192.168.128.50
 *   forward=tcp,4,8080,192.168.64.2,80       (shared mode: PROTO,FAMILY,HOSTPORT,GUEST,PORT)
 *   forward=udp,6,5353,fd00:1:2:3::20,53
 *
 * `vmnet config` sends its changes as lines of the same form (plus
 * "unreserve=MAC" and "unforward=PROTO,FAMILY,HOSTPORT"; "reserve=MAC,IP"
 * also works), so one parser checks both. `vmnet forward` changes the
 * forward lines through CTL_FORWARD (daemon/forward.c), which also checks
 * that the host port is free.
 *
 * An unknown key or a bad value is an error for the whole file: the daemon
 * then logs the line and serves the network with defaults rather than with
 * half of what was meant.
 */
#include "daemon/settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kvtext.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/daemon.h"

#define SETTINGS_FILE_MAX (64 * 1024)

void settings_path(struct in_addr base, struct in_addr mask, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &base, a, sizeof(a));
	snprintf(buf, len, "%s/network-%s-%d.conf", opts.state_dir ? opts.state_dir : ".",
		 a, __builtin_popcount(mask.s_addr));
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* A host address of the subnet that is not the gateway (base + 1 by construction of the networks). */
static bool host_addr_ok(struct in_addr ip, struct in_addr base, struct in_addr mask)
{
	uint32_t a = ntohl(ip.s_addr), b = ntohl(base.s_addr), m = ntohl(mask.s_addr);

	return (a & m) == (b & m) && (a & ~m) != 0 && (a & ~m) != ~m && a != (b & m) + 1;
}

int settings_reserve(struct gateway_config *cfg, struct in_addr base, struct in_addr mask, const uint8_t mac[6],
		     struct in_addr ip)
{
	unsigned i;

	if ((mac[0] & 1) || !host_addr_ok(ip, base, mask))
		return -EINVAL;
	for (i = 0; i < cfg->nres; i++)
		if (cfg->res[i].ip.s_addr == ip.s_addr && memcmp(cfg->res[i].mac, mac, 6))
			return -EINVAL;
	for (i = 0; i < cfg->nres; i++)
		if (!memcmp(cfg->res[i].mac, mac, 6))
			break;
	if (i == cfg->nres) {
		if (cfg->nres == GATEWAY_RESERVE_MAX)
			return -ENOSPC;
		cfg->nres++;
		memcpy(cfg->res[i].mac, mac, 6);
	}
	cfg->res[i].ip = ip;
	return 0;
}

int settings_unreserve(struct gateway_config *cfg, const uint8_t mac[6])
{
	for (unsigned i = 0; i < cfg->nres; i++)
		if (!memcmp(cfg->res[i].mac, mac, 6)) {
			cfg->res[i] = cfg->res[--cfg->nres];
			return 0;
		}
	return -ENOENT;
}

/* "fdxx:...::/64": a /64 prefix whose low 64 bits are zero. */
static int parse_prefix(const char *v, uint8_t prefix[16])
{
	char buf[INET6_ADDRSTRLEN + 4];
	char *slash;

	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	slash = strchr(buf, '/');
	if (!slash || strcmp(slash, "/64"))
		return -EINVAL;
	*slash = 0;
	if (inet_pton(AF_INET6, buf, prefix) != 1)
		return -EINVAL;
	for (int i = 8; i < 16; i++)
		if (prefix[i])
			return -EINVAL;
	if (prefix[0] == 0xff || (prefix[0] == 0xfe && (prefix[1] & 0xc0) == 0x80))
		return -EINVAL; /* multicast or link-local */
	return 0;
}

/* Domain names: letters, digits, '-', '.', not empty, at most 63 characters. */
static bool domain_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 63 || v[0] == '.' || v[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
		if (c == '.' && i + 1 < n && v[i + 1] == '.')
			return false;
	}
	return true;
}

int settings_forward_parse(const char *v, struct nat_forward *f, bool full)
{
	char buf[128], *field[5], *save = NULL, *end;
	unsigned long n;
	int nf = 0;

	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (nf == 5)
			return -EINVAL;
		field[nf++] = t;
	}
	if (nf != (full ? 5 : 3))
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	if (!strcmp(field[0], "tcp"))
		f->proto = IPPROTO_TCP;
	else if (!strcmp(field[0], "udp"))
		f->proto = IPPROTO_UDP;
	else
		return -EINVAL;
	if (!strcmp(field[1], "4"))
		f->family = AF_INET;
	else if (!strcmp(field[1], "6"))
		f->family = AF_INET6;
	else
		return -EINVAL;
	for (int i = 2; i < nf; i += 2) { /* the two ports: fields 2 and 4 */
		n = strtoul(field[i], &end, 10);
		if (*end || !*field[i] || field[i][0] == '-' || n == 0 || n > 65535)
			return -EINVAL;
		*(i == 2 ? &f->ext_port : &f->int_port) = (uint16_t)n;
	}
	if (full && inet_pton(f->family, field[3], f->addr) != 1)
		return -EINVAL;
	return 0;
}

size_t settings_forward_format(const struct nat_forward *f, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	inet_ntop(f->family, f->addr, a, sizeof(a));
	n = snprintf(buf, len, "%s,%d,%u,%s,%u", f->proto == IPPROTO_TCP ? "tcp" : "udp", f->family == AF_INET ? 4 : 6,
		     f->ext_port, a, f->int_port);
	return n < 0 ? 0 : (size_t)n;
}

/* forward=...: a valid rule of the subnet (IPv6: of the prefix, when set), not a duplicate. */
static int add_forward(struct gateway_config *cfg, struct in_addr base, struct in_addr mask, const char *v)
{
	struct in_addr gw4 = { .s_addr = htonl(ntohl(base.s_addr & mask.s_addr) + 1) };
	struct nat_forward f;

	if (settings_forward_parse(v, &f, true) < 0 ||
	    gateway_forward_invalid(&f, gw4, mask, cfg->has_prefix ? cfg->prefix : NULL))
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nfwd; i++)
		if (cfg->fwd[i].proto == f.proto && cfg->fwd[i].family == f.family && cfg->fwd[i].ext_port == f.ext_port)
			return -EINVAL;
	if (cfg->nfwd == GATEWAY_FORWARD_MAX)
		return -EINVAL;
	cfg->fwd[cfg->nfwd++] = f;
	return 0;
}

/* unforward=PROTO,FAMILY,HOSTPORT: drop that rule (absent: nothing to do). */
static int drop_forward(struct gateway_config *cfg, const char *v)
{
	struct nat_forward f;

	if (settings_forward_parse(v, &f, false) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nfwd; i++)
		if (cfg->fwd[i].proto == f.proto && cfg->fwd[i].family == f.family && cfg->fwd[i].ext_port == f.ext_port) {
			cfg->fwd[i] = cfg->fwd[--cfg->nfwd];
			break;
		}
	return 0;
}

static int parse_line(char *line, struct in_addr base, struct in_addr mask, struct gateway_config *cfg)
{
	char *eq = strchr(line, '='), *key = line, *v, *end;

	if (!eq)
		return -EINVAL;
	*eq = 0;
	v = eq + 1;
	if (!strcmp(key, "lease-time")) {
		unsigned long t = strtoul(v, &end, 10);

		if (*end || !*v || t < SETTINGS_LEASE_MIN || t > SETTINGS_LEASE_MAX)
			return -EINVAL;
		cfg->lease_time = (uint32_t)t;
		return 0;
	}
	if (!strcmp(key, "dhcp"))
		return parse_bool(v, &cfg->dhcp);
	if (!strcmp(key, "dns"))
		return parse_bool(v, &cfg->dns);
	if (!strcmp(key, "ipv6"))
		return parse_bool(v, &cfg->ipv6);
	if (!strcmp(key, "router-adv"))
		return parse_bool(v, &cfg->router_adv);
	if (!strcmp(key, "domain")) {
		if (*v && !domain_ok(v))
			return -EINVAL;
		snprintf(cfg->domain, sizeof(cfg->domain), "%s", v);
		return 0;
	}
	if (!strcmp(key, "prefix")) {
		if (!strcmp(v, "auto")) {
			cfg->has_prefix = false;
			return 0;
		}
		if (parse_prefix(v, cfg->prefix) < 0)
			return -EINVAL;
		cfg->has_prefix = true;
		return 0;
	}
	if (!strcmp(key, "unreserve")) {
		uint8_t mac[6];

		if (util_mac_from_string(v, mac) < 0)
			return -EINVAL;
		settings_unreserve(cfg, mac); /* not reserved: nothing to do */
		return 0;
	}
	if (!strcmp(key, "reserve")) {
		char *sp = strpbrk(v, " ,");
		uint8_t mac[6];
		struct in_addr ip;

		if (!sp)
			return -EINVAL;
		*sp++ = 0;
		if (util_mac_from_string(v, mac) < 0 || inet_pton(AF_INET, sp, &ip) != 1)
			return -EINVAL;
		return settings_reserve(cfg, base, mask, mac, ip);
	}
	if (!strcmp(key, "forward"))
		return add_forward(cfg, base, mask, v);
	if (!strcmp(key, "unforward"))
		return drop_forward(cfg, v);
	return -EINVAL;
}

/*
 * IPv6 forwards against the prefix the text ended with (a prefix= line may
 * come after them, or change under them in `vmnet config`): the settings
 * must read back as they are written. Return: 0, or -EINVAL with err.
 */
static int forwards_in_prefix(const struct gateway_config *cfg, struct in_addr base, struct in_addr mask, char *err,
			      size_t errlen)
{
	struct in_addr gw4 = { .s_addr = htonl(ntohl(base.s_addr & mask.s_addr) + 1) };
	const char *bad;
	char f[96];

	for (unsigned i = 0; cfg->has_prefix && i < cfg->nfwd; i++)
		if (cfg->fwd[i].family == AF_INET6 &&
		    (bad = gateway_forward_invalid(&cfg->fwd[i], gw4, mask, cfg->prefix))) {
			settings_forward_format(&cfg->fwd[i], f, sizeof(f));
			snprintf(err, errlen, "forward=%s does not fit the prefix: %s (unforward= it first)", f, bad);
			return -EINVAL;
		}
	return 0;
}

struct settings_ctx {
	struct in_addr base, mask;
	struct gateway_config *cfg;
};

static int settings_line(void *ctx, char *line)
{
	struct settings_ctx *sc = ctx;

	return parse_line(line, sc->base, sc->mask, sc->cfg);
}

int settings_parse(const char *text, struct in_addr base, struct in_addr mask, struct gateway_config *cfg,
		   char *err, size_t errlen)
{
	struct settings_ctx sc = { base, mask, cfg };

	if (kvtext_lines(text, "setting", settings_line, &sc, err, errlen) < 0)
		return -EINVAL;
	return forwards_in_prefix(cfg, base, mask, err, errlen);
}

size_t settings_format(const struct gateway_config *cfg, char *buf, size_t len)
{
	size_t n = 0;
	char p[INET6_ADDRSTRLEN];

#define PUT(...) (n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__))
	PUT("# vmnet network settings (vmnet config; see vmnet(1))\n");
	PUT("lease-time=%u\n", cfg->lease_time ? cfg->lease_time : GATEWAY_LEASE_TIME);
	PUT("dhcp=%s\ndns=%s\nipv6=%s\nrouter-adv=%s\n", cfg->dhcp ? "on" : "off", cfg->dns ? "on" : "off",
	    cfg->ipv6 ? "on" : "off", cfg->router_adv ? "on" : "off");
	if (cfg->domain[0])
		PUT("domain=%s\n", cfg->domain);
	if (cfg->has_prefix)
		PUT("prefix=%s/64\n", inet_ntop(AF_INET6, cfg->prefix, p, sizeof(p)));
	for (unsigned i = 0; i < cfg->nres; i++) {
		char m[UTIL_MAC_STRLEN], a[INET_ADDRSTRLEN];

		util_mac_to_string(cfg->res[i].mac, m);
		PUT("reserve=%s %s\n", m, inet_ntop(AF_INET, &cfg->res[i].ip, a, sizeof(a)));
	}
	for (unsigned i = 0; i < cfg->nfwd; i++) {
		char f[96];

		settings_forward_format(&cfg->fwd[i], f, sizeof(f));
		PUT("forward=%s\n", f);
	}
#undef PUT
	if (n >= len)
		n = len ? len - 1 : 0;
	return n;
}

int settings_load(const char *path, struct in_addr base, struct in_addr mask, struct gateway_config *cfg)
{
	static char text[SETTINGS_FILE_MAX + 1];
	struct gateway_config tmp;
	char err[128];
	FILE *f;
	size_t n;
	int r;

	gateway_config_default(cfg);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	n = fread(text, 1, SETTINGS_FILE_MAX, f);
	fclose(f);
	text[n] = 0;
	tmp = *cfg;
	r = settings_parse(text, base, mask, &tmp, err, sizeof(err));
	if (r < 0) {
		log_warn("%s: %s; using the default settings", path, err);
		return r;
	}
	*cfg = tmp;
	return 0;
}

int settings_save(const char *path, const struct gateway_config *cfg)
{
	static char text[SETTINGS_FILE_MAX];
	size_t n = settings_format(cfg, text, sizeof(text));

	return util_write_atomic(path, text, n);
}
