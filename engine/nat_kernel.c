/*
 * nat_kernel.c — nftables tables for networks (see nat_kernel.h).
 *
 * Theory of operation. Each network's whole table is generated as text and
 * loaded with libnftables in one transaction ("table; delete table; table
 * {...}"), on creation and on every change of its port forwards, so the
 * kernel never holds half a table and no rule handles need tracking. The
 * table holds four chains:
 *
 *   forward     (filter) guests may not reach other vmnet networks, nor be
 *               reached from outside except by replies (ct state
 *               established/related) and port forwards (ct status dnat);
 *               a host-mode network's guests are not forwarded anywhere.
 *   postrouting (nat)    masquerade of the subnet / prefix leaving by another
 *               interface (only by the external interface when one is set),
 *               and of the host's own loopback traffic sent to a guest by a
 *               port forward (with route_localnet on the host tap).
 *   prerouting, output (nat) DNAT of port forwards for traffic arriving
 *               from outside and for the host's own connections.
 *
 * Only tables named vmnetd_<instance>_* are touched; rules of the host and of
 * other programs are never read or changed (the host's own forward policy
 * still applies: a firewall that drops forwarding must let vmnet-host*
 * through).
 */
#include "engine/nat_kernel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define NAT_TABLE_PREFIX "vmnetd_"
#define NAT_SCRIPT_MAX (96 * 1024)

struct nat_kernel {
	struct nat_kernel_config cfg;
	char host_if[16], external_if[16];
	char table[64];
	unsigned nfwd;
	struct nat_forward fwd[NAT_FORWARD_MAX];
};

static struct nft_ctx *nft;
static char instance_tag[16];
static char script[NAT_SCRIPT_MAX];

bool nat_kernel_available(void)
{
	return nft != NULL;
}

/* Run an nft script; on failure log and keep libnftables' message in err. Return: 0 or -EIO. */
static int nft_run(const char *cmd, char *err, size_t errlen)
{
	const char *e;
	int r;

	r = nft_run_cmd_from_buffer(nft, cmd);
	e = nft_ctx_get_error_buffer(nft);
	if (r != 0) {
		if (err)
			snprintf(err, errlen, "%s", e && *e ? e : "nftables refused the rules");
		return -EIO;
	}
	return 0;
}

/* Every table of this instance, deleted (a crashed daemon's leftovers, or ours at exit). */
static void delete_own_tables(void)
{
	char prefix[48], cmd[256];
	const char *out, *p;

	if (nft_run("list tables", NULL, 0) < 0)
		return;
	out = nft_ctx_get_output_buffer(nft);
	snprintf(prefix, sizeof(prefix), "table inet %s%s_", NAT_TABLE_PREFIX, instance_tag);
	for (p = out ? strstr(out, prefix) : NULL; p; p = strstr(p + 1, prefix)) {
		size_t n = strcspn(p + 11, "\n");

		if (n == 0 || n > 60)
			continue;
		snprintf(cmd, sizeof(cmd), "delete table inet %.*s", (int)n, p + 11);
		if (nft_run(cmd, NULL, 0) == 0)
			log_info("nat: removed stale table %.*s", (int)n, p + 11);
	}
}

int nat_kernel_init(const char *instance)
{
	char err[256];
	uint32_t h = 2166136261u;

	for (const char *c = instance; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	snprintf(instance_tag, sizeof(instance_tag), "%08x", h);
	nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft)
		return -ENOMEM;
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	/* A probe that needs the kernel's nf_tables and CAP_NET_ADMIN, and changes nothing. */
	if (nft_run("list tables", err, sizeof(err)) < 0) {
		log_info("nat: nftables not usable (%.*s): no shared mode", (int)strcspn(err, "\n"), err);
		nft_ctx_free(nft);
		nft = NULL;
		return strstr(err, "ermission") ? -EPERM : -EPROTONOSUPPORT;
	}
	delete_own_tables();
	return 0;
}

void nat_kernel_shutdown(void)
{
	if (!nft)
		return;
	delete_own_tables();
	nft_ctx_free(nft);
	nft = NULL;
}

#define PUT(...) (n += (size_t)snprintf(script + n, n < sizeof(script) ? sizeof(script) - n : 0, __VA_ARGS__))

/* The DNAT rules of the port forwards, for one chain (prerouting: not from our own guests). */
static size_t put_forwards(const struct nat_kernel *nk, size_t n, bool from_outside)
{
	char in[40] = "";

	if (from_outside)
		snprintf(in, sizeof(in), "iifname != \"%s\" ", nk->host_if);
	for (unsigned i = 0; i < nk->nfwd; i++) {
		const struct nat_forward *f = &nk->fwd[i];
		const char *l4 = f->proto == IPPROTO_TCP ? "tcp" : "udp";
		char a[INET6_ADDRSTRLEN];

		inet_ntop(f->family, f->addr, a, sizeof(a));
		if (f->family == AF_INET)
			PUT("\t\t%smeta nfproto ipv4 fib daddr type local %s dport %u dnat ip to %s:%u\n", in, l4,
			    f->ext_port, a, f->int_port);
		else /* ::1 may not leave the host (RFC 4291 §2.5.3): never rewrite it, the packet would be dropped */
			PUT("\t\t%smeta nfproto ipv6 ip6 daddr != ::1 fib daddr type local %s dport %u dnat ip6 to [%s]:%u\n",
			    in, l4, f->ext_port, a, f->int_port);
	}
	return n;
}

/* Generate and load the whole table. Return: 0 or -EIO (err says why). */
static int nat_apply(struct nat_kernel *nk, char *err, size_t errlen)
{
	const struct nat_kernel_config *c = &nk->cfg;
	char sub[INET_ADDRSTRLEN], pfx[INET6_ADDRSTRLEN], out_match[48] = "";
	size_t n = 0;

	if (nk->external_if[0])
		snprintf(out_match, sizeof(out_match), "oifname \"%s\" ", nk->external_if);
	else
		snprintf(out_match, sizeof(out_match), "oifname != \"%s\" ", nk->host_if);
	inet_ntop(AF_INET, &c->subnet, sub, sizeof(sub));
	if (c->has_prefix6)
		inet_ntop(AF_INET6, c->prefix6, pfx, sizeof(pfx));
	PUT("table inet %s\ndelete table inet %s\ntable inet %s {\n", nk->table, nk->table, nk->table);
	PUT("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
	if (!c->shared) {
		PUT("\t\tiifname \"%s\" drop\n\t\toifname \"%s\" drop\n", nk->host_if, nk->host_if);
	} else {
		PUT("\t\tiifname \"%s\" oifname \"vmnet-host*\" drop\n", nk->host_if);
		PUT("\t\toifname \"%s\" iifname \"vmnet-host*\" drop\n", nk->host_if);
		PUT("\t\toifname \"%s\" ct state established,related accept\n", nk->host_if);
		PUT("\t\toifname \"%s\" ct status dnat accept\n", nk->host_if);
		PUT("\t\toifname \"%s\" drop\n", nk->host_if);
		if (nk->external_if[0])
			PUT("\t\tiifname \"%s\" oifname != \"%s\" drop\n", nk->host_if, nk->external_if);
	}
	PUT("\t}\n");
	if (c->shared) {
		PUT("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
		if (c->nat44)
			PUT("\t\tiifname \"%s\" %sip saddr %s/%d masquerade\n", nk->host_if, out_match, sub,
			    __builtin_popcount(c->mask.s_addr));
		if (c->nat66 && c->has_prefix6)
			PUT("\t\tiifname \"%s\" %sip6 saddr %s/64 masquerade\n", nk->host_if, out_match, pfx);
		PUT("\t\toifname \"%s\" ct status dnat ip saddr 127.0.0.0/8 masquerade\n", nk->host_if);
		PUT("\t}\n");
		PUT("\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
		n = put_forwards(nk, n, true);
		PUT("\t}\n");
		PUT("\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n");
		n = put_forwards(nk, n, false);
		PUT("\t}\n");
	}
	PUT("}\n");
	if (n >= sizeof(script)) {
		snprintf(err, errlen, "too many rules");
		return -ENOSPC;
	}
	return nft_run(script, err, errlen);
}

#undef PUT

/* IPv6 forwarding without taking router advertisements away from the host's own interfaces. */
static int enable_ipv6_forwarding(void)
{
	static const char *const keep[] = { "all", "default" };
	char path[128];

	if (util_sysctl_read("/proc/sys/net/ipv6/conf/all/forwarding") == 1)
		return 0;
	/* accept_ra=1 stops taking RAs once forwarding is on; 2 keeps the host's SLAAC as it was. */
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", keep[i]);
		if (util_sysctl_read(path) == 1)
			util_sysctl_write(path, "2");
	}
	{
		FILE *p = fopen("/proc/net/if_inet6", "re");
		char line[256], dev[32];

		while (p && fgets(line, sizeof(line), p)) {
			if (sscanf(line, "%*s %*s %*s %*s %*s %31s", dev) != 1 || !strncmp(dev, "vmnet-host", 10))
				continue;
			snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", dev);
			if (util_sysctl_read(path) == 1)
				util_sysctl_write(path, "2");
		}
		if (p)
			fclose(p);
	}
	log_info("nat: IPv6 forwarding switched on (interfaces that took router advertisements keep taking them)");
	return util_sysctl_write("/proc/sys/net/ipv6/conf/all/forwarding", "1");
}

int nat_kernel_add(const struct nat_kernel_config *cfg, struct nat_kernel **out, const char **why)
{
	static char err[256];
	struct nat_kernel *nk;
	char path[128];
	int r;

	*why = NULL;
	if (!nft) {
		*why = "kernel NAT is not available (vmnetd needs CAP_NET_ADMIN and nftables)";
		return -EPERM;
	}
	if (!cfg->host_if || strlen(cfg->host_if) >= sizeof(nk->host_if) ||
	    (cfg->external_if && strlen(cfg->external_if) >= sizeof(nk->external_if)))
		return -EINVAL;
	nk = calloc(1, sizeof(*nk));
	if (!nk)
		return -ENOMEM;
	nk->cfg = *cfg;
	snprintf(nk->host_if, sizeof(nk->host_if), "%s", cfg->host_if);
	if (cfg->external_if)
		snprintf(nk->external_if, sizeof(nk->external_if), "%s", cfg->external_if);
	nk->cfg.host_if = nk->host_if;
	nk->cfg.external_if = nk->external_if[0] ? nk->external_if : NULL;
	snprintf(nk->table, sizeof(nk->table), "%s%s_", NAT_TABLE_PREFIX, instance_tag);
	for (const char *c = nk->host_if; *c; c++) /* nft identifiers: letters, digits, '_' */
		nk->table[strlen(nk->table)] = (*c == '-') ? '_' : *c;
	nk->cfg.fwd = NULL;
	nk->cfg.nfwd = 0;
	if (cfg->shared && cfg->fwd)
		for (unsigned i = 0; i < cfg->nfwd && nk->nfwd < NAT_FORWARD_MAX; i++)
			nk->fwd[nk->nfwd++] = cfg->fwd[i];
	r = nk->nfwd ? nat_apply(nk, err, sizeof(err)) : -ENOENT;
	if (r < 0 && nk->nfwd) {
		log_warn("nat: table for %s: its %u port forwards refused (%s); installed without them", nk->host_if,
			 nk->nfwd, err);
		nk->nfwd = 0;
	}
	if (r < 0 && (r = nat_apply(nk, err, sizeof(err))) < 0) {
		log_warn("nat: table for %s: %s", nk->host_if, err);
		*why = "nftables refused the network's rules (see the daemon log)";
		free(nk);
		return r;
	}
	if (cfg->shared) {
		if (util_sysctl_read("/proc/sys/net/ipv4/ip_forward") != 1) {
			if (util_sysctl_write("/proc/sys/net/ipv4/ip_forward", "1") < 0)
				log_warn("nat: cannot switch on IPv4 forwarding: %m");
			else
				log_info("nat: IPv4 forwarding switched on");
		}
		if (cfg->nat66 && cfg->has_prefix6 && enable_ipv6_forwarding() < 0)
			log_warn("nat: cannot switch on IPv6 forwarding: NAT66 will not work");
		/* The host's own 127.0.0.1 reaching port forwards: loopback sources may leave by the tap. */
		snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", nk->host_if);
		util_sysctl_write(path, "1");
	}
	*out = nk;
	return 0;
}

void nat_kernel_remove(struct nat_kernel *nk)
{
	char cmd[128];

	if (!nk)
		return;
	snprintf(cmd, sizeof(cmd), "delete table inet %s", nk->table);
	if (nft && nft_run(cmd, NULL, 0) < 0)
		log_warn("nat: could not remove table %s", nk->table);
	free(nk);
}

int nat_kernel_forward_add(struct nat_kernel *nk, const struct nat_forward *f)
{
	char err[256];
	int r;

	for (unsigned i = 0; i < nk->nfwd; i++)
		if (nk->fwd[i].proto == f->proto && nk->fwd[i].family == f->family && nk->fwd[i].ext_port == f->ext_port)
			return -EEXIST;
	if (nk->nfwd == NAT_FORWARD_MAX)
		return -ENOSPC;
	nk->fwd[nk->nfwd++] = *f;
	if ((r = nat_apply(nk, err, sizeof(err))) < 0) {
		nk->nfwd--;
		log_warn("nat: port forward refused by nftables: %s", err);
		nat_apply(nk, err, sizeof(err));
	}
	return r;
}

int nat_kernel_forward_remove(struct nat_kernel *nk, uint8_t proto, uint8_t family, uint16_t ext_port)
{
	char err[256];

	for (unsigned i = 0; i < nk->nfwd; i++)
		if (nk->fwd[i].proto == proto && nk->fwd[i].family == family && nk->fwd[i].ext_port == ext_port) {
			nk->fwd[i] = nk->fwd[--nk->nfwd];
			return nat_apply(nk, err, sizeof(err));
		}
	return -ENOENT;
}

unsigned nat_kernel_forwards(const struct nat_kernel *nk, const struct nat_forward **rules)
{
	*rules = nk->fwd;
	return nk->nfwd;
}
