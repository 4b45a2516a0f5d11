/*
 * network.c — `vmnet network create|list|show|delete`: named networks, which
 * vmnetd keeps (and starts again after a restart) until they are deleted, and
 * a look at the network objects programs made with vmnet_network_create.
 * Guests join a named network with `vmnet attach --network NAME`. See
 * docs/networks.md and vmnet(1).
 *
 * The options are checked here with the same functions vmnetd uses
 * (common/netconf.c), so a typo is reported without a round trip; vmnetd
 * checks everything again and decides what only it can know (a free subnet,
 * overlaps, whether the external interface exists).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "cli/cli.h"
#include "common/ctl.h"
#include "common/netconf.h"
#include "common/util.h"

static const char network_usage[] =
	"usage: vmnet network create NAME [--mode host|shared] [--subnet A.B.C.D/N] [--prefix P::/64]\n"
	"                           [--mtu N] [--no-dhcp] [--no-dns] [--no-nat44] [--no-nat66]\n"
	"                           [--no-router-adv] [--external IF] [--reserve MAC,IP]...\n"
	"                           [--qemu-stream PATH[,name=ID][,isolated]]... [--dgram PATH[,...]]...\n"
	"                           [--vhost-user PATH[,...]]...\n"
	"       vmnet network list [--json]\n"
	"       vmnet network show NAME [--json]\n"
	"       vmnet network delete NAME\n"
	"  attach guests with: vmnet attach --netns NS --network NAME\n"
	"  keep VMM sockets in a definition: vmnet attach --qemu-stream PATH --network NAME --persist\n";

/* Send one CTL_NETWORK request. Return: the reply (+1), or NULL after the daemon's reason was printed. */
static xpc_object_t network_request(xpc_object_t req)
{
	xpc_object_t rep = NULL;
	int fd = cli_connect();
	uint32_t st = cli_request(fd, CTL_NETWORK, req, &rep, NULL, 0);

	close(fd);
	xpc_release(req);
	return st == VMNET_SUCCESS ? rep : NULL;
}

/* One option of `create`, applied to cfg. Return: 0, or -1 after printing why. */
static int create_option(int opt, const char *arg, struct netconf *cfg)
{
	struct in_addr base, mask, ip;
	uint8_t buf[16];
	char *end, *comma;
	unsigned long v;

	switch (opt) {
	case 'm':
		if (strcmp(arg, "host") && strcmp(arg, "shared"))
			break;
		cfg->mode = !strcmp(arg, "host") ? VMNET_HOST_MODE : VMNET_SHARED_MODE;
		return 0;
	case 's':
		if (netconf_parse_cidr(arg, &base, &mask) == 0 && netconf_set_subnet(cfg, base, mask) == 0)
			return 0;
		fprintf(stderr, "vmnet: --subnet wants a private A.B.C.D/N with N from 8 to 30, got '%s'\n", arg);
		return -1;
	case 'p':
		if (netconf_parse_prefix(arg, buf) == 0 && netconf_set_prefix(cfg, buf, 64) == 0)
			return 0;
		fprintf(stderr, "vmnet: --prefix wants a unicast IPv6 /64 such as fd00:1:2:3::/64, got '%s'\n", arg);
		return -1;
	case 'M':
		v = strtoul(arg, &end, 10);
		if (!*end && *arg && *arg != '-' && v <= UINT32_MAX && netconf_set_mtu(cfg, (uint32_t)v) == 0)
			return 0;
		fprintf(stderr, "vmnet: --mtu wants %d to %d, got '%s'\n", NETCONF_MTU_MIN, NETCONF_MTU_MAX, arg);
		return -1;
	case 'e':
		if (netconf_set_external(cfg, arg) == 0)
			return 0;
		fprintf(stderr, "vmnet: --external wants an interface name, got '%s'\n", arg);
		return -1;
	case 'r':
		comma = strchr(arg, ',');
		if (comma && comma - arg < 32) {
			char mac[32];

			memcpy(mac, arg, (size_t)(comma - arg));
			mac[comma - arg] = 0;
			if (util_mac_from_string(mac, buf) == 0 && inet_pton(AF_INET, comma + 1, &ip) == 1 &&
			    netconf_reserve(cfg, buf, ip) == 0)
				return 0;
		}
		fprintf(stderr, "vmnet: --reserve wants MAC,IP (a unicast MAC, one address per MAC), got '%s'\n", arg);
		return -1;
	case 'D': cfg->dhcp = false; return 0;
	case 'N': cfg->dns = false; return 0;
	case '4': cfg->nat44 = false; return 0;
	case '6': cfg->nat66 = false; return 0;
	case 'R': cfg->router_adv = false; return 0;
	}
	fprintf(stderr, "%s", network_usage);
	return -1;
}

static bool sock_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > 30)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", name[i]))
			return false;
	return true;
}

/* Is key (name or path) of an entry of atts already value? */
static bool sock_dup(xpc_object_t atts, const char *key, const char *value)
{
	for (size_t i = 0; i < xpc_array_get_count(atts); i++)
		if (!strcmp(xpc_dictionary_get_string(xpc_array_get_value(atts, i), key), value))
			return true;
	return false;
}

/*
 * --qemu-stream, --dgram, --vhost-user PATH[,name=ID][,isolated]: a socket
 * attachment of the definition, appended to atts. The options are taken from
 * the end, so a path may hold commas. Return: 0, or -1 after printing why.
 */
static int create_socket(int opt, const char *arg, xpc_object_t atts)
{
	const char *kind = opt == 'q' ? "stream" : opt == 'g' ? "dgram" : "vhost-user";
	char buf[4096], path[4096], name[64] = "", *comma;
	bool isolated = false;
	xpc_object_t e;

	snprintf(buf, sizeof(buf), "%s", arg);
	while ((comma = strrchr(buf, ','))) {
		if (!strcmp(comma + 1, "isolated"))
			isolated = true;
		else if (!strncmp(comma + 1, "name=", 5) && !strchr(comma, '/') && !name[0])
			snprintf(name, sizeof(name), "%s", comma + 6);
		else
			break;
		*comma = 0;
	}
	if (!buf[0] || cli_sock_path(buf, path, sizeof(path)) < 0) {
		fprintf(stderr, "vmnet: --%s wants PATH[,name=ID][,isolated], got '%s'\n",
			opt == 'q' ? "qemu-stream" : kind, arg);
		return -1;
	}
	if (!name[0])
		cli_sock_default_name(path, name, sizeof(name));
	if (!sock_name_ok(name)) {
		fprintf(stderr, "vmnet: attachment name '%s': 1 to 30 letters, digits, '-', '_' or '.' (name=ID sets it)\n", name);
		return -1;
	}
	if (sock_dup(atts, "path", path)) {
		fprintf(stderr, "vmnet: two attachments at %s\n", path);
		return -1;
	}
	if (sock_dup(atts, "name", name)) {
		fprintf(stderr, "vmnet: two attachments named %s (PATH,name=ID names one)\n", name);
		return -1;
	}
	e = xpc_dictionary_create_empty();
	xpc_dictionary_set_string(e, "kind", kind);
	xpc_dictionary_set_string(e, "name", name);
	xpc_dictionary_set_string(e, "path", path);
	xpc_dictionary_set_bool(e, "isolation", isolated);
	xpc_array_append_value(atts, e);
	xpc_release(e);
	return 0;
}

static void print_network(xpc_object_t n);

static int cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mode", required_argument, NULL, 'm' },   { "subnet", required_argument, NULL, 's' },
		{ "prefix", required_argument, NULL, 'p' }, { "mtu", required_argument, NULL, 'M' },
		{ "external", required_argument, NULL, 'e' }, { "reserve", required_argument, NULL, 'r' },
		{ "no-dhcp", no_argument, NULL, 'D' },      { "no-dns", no_argument, NULL, 'N' },
		{ "no-nat44", no_argument, NULL, '4' },     { "no-nat66", no_argument, NULL, '6' },
		{ "no-router-adv", no_argument, NULL, 'R' }, { "qemu-stream", required_argument, NULL, 'q' },
		{ "dgram", required_argument, NULL, 'g' },  { "vhost-user", required_argument, NULL, 'u' },
		{ 0 },
	};
	static struct netconf cfg;
	const char *why = NULL;
	xpc_object_t req, rep, atts = xpc_array_create_empty();
	int c, r;

	netconf_default(&cfg, VMNET_SHARED_MODE);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) { /* options may follow NAME */
		r = c == 'q' || c == 'g' || c == 'u' ? create_socket(c, optarg, atts) : create_option(c, optarg, &cfg);
		if (r < 0) {
			xpc_release(atts);
			return 2;
		}
	}
	if (optind != argc - 1) {
		xpc_release(atts);
		fprintf(stderr, "%s", network_usage);
		return 2;
	}
	if (!netconf_name_ok(argv[optind])) {
		fprintf(stderr, "vmnet: a network name is 1-32 letters, digits, '-', '_' or '.' (not starting with '-' or "
				"'.'), and not default, host, shared, host-*, shared-*, net-* or a UUID\n");
		xpc_release(atts);
		return 2;
	}
	if (cfg.has_subnet && netconf_check(&cfg, cfg.base, cfg.mask, &why) < 0) {
		fprintf(stderr, "vmnet: %s\n", why);
		xpc_release(atts);
		return 2;
	}
	req = xpc_dictionary_create_empty();
	xpc_dictionary_set_string(req, "op", "define");
	xpc_dictionary_set_string(req, "name", argv[optind]);
	rep = netconf_to_xpc(&cfg);
	xpc_dictionary_set_value(req, "config", rep);
	xpc_release(rep);
	if (xpc_array_get_count(atts))
		xpc_dictionary_set_value(req, "attachments", atts);
	xpc_release(atts);
	rep = network_request(req);
	if (!rep)
		return 1;
	print_network(rep);
	xpc_release(rep);
	return 0;
}

static const char *mode_name(uint64_t m)
{
	return m == VMNET_HOST_MODE ? "host" : m == VMNET_SHARED_MODE ? "shared" : "?";
}

static const char *str_or(xpc_object_t d, const char *key, const char *dflt)
{
	const char *s = xpc_dictionary_get_string(d, key);

	return s && *s ? s : dflt;
}

static const char *onoff(xpc_object_t d, const char *key)
{
	return xpc_dictionary_get_bool(d, key) ? "on" : "off";
}

static bool print_res(void *ctx, size_t i, xpc_object_t r)
{
	printf("  reserve     %s %s\n", str_or(r, "mac", "?"), str_or(r, "ip", "?"));
	return true;
}

static bool print_fwd(void *ctx, size_t i, xpc_object_t f)
{
	printf("  forward     %s %" PRIu64 " -> %s port %" PRIu64 "\n",
	       xpc_dictionary_get_uint64(f, "protocol") == NETCONF_PROTO_TCP ? "tcp" : "udp",
	       xpc_dictionary_get_uint64(f, "external_port"), str_or(f, "internal_address", "?"),
	       xpc_dictionary_get_uint64(f, "internal_port"));
	return true;
}

static bool print_att(void *ctx, size_t i, xpc_object_t a)
{
	const char *kind = str_or(a, "kind", "?");

	printf("  attach      %s %s %s%s (%s%s)\n", !strcmp(kind, "stream") ? "qemu-stream" : kind, str_or(a, "name", "?"),
	       str_or(a, "path", "?"), xpc_dictionary_get_bool(a, "isolated") ? " isolated" : "",
	       xpc_dictionary_get_bool(a, "attached") ? "attached" : "not attached: ", str_or(a, "error", ""));
	return true;
}

/* `show`: every field of one network, one per line. */
static void print_network(xpc_object_t n)
{
	const char *err = xpc_dictionary_get_string(n, "error");
	const uint8_t *id = xpc_dictionary_get_uuid(n, "id");
	char u[40] = "?";

	if (id)
		uuid_unparse_lower(id, u);
	printf("network %s (%s, %s)\n", str_or(n, "name", "?"), str_or(n, "kind", "?"),
	       xpc_dictionary_get_bool(n, "running") ? "running" : "not running");
	if (err)
		printf("  error       %s\n", err);
	printf("  id          %s\n  mode        %s\n  subnet      %s\n  gateway     %s\n  prefix      %s\n", u,
	       mode_name(xpc_dictionary_get_uint64(n, "mode")), str_or(n, "subnet", "-"), str_or(n, "gateway", "-"),
	       str_or(n, "prefix", "auto"));
	printf("  mtu         %" PRIu64 "\n  dhcp        %s\n  dns         %s\n  nat44       %s\n  nat66       %s\n"
	       "  router-adv  %s\n  external    %s\n",
	       xpc_dictionary_get_uint64(n, "mtu"), onoff(n, "dhcp"), onoff(n, "dns"), onoff(n, "nat44"),
	       onoff(n, "nat66"), onoff(n, "router_adv"), str_or(n, "external", "(default route)"));
	xpc_array_apply_f(xpc_dictionary_get_value(n, "reservations"), NULL, print_res);
	xpc_array_apply_f(xpc_dictionary_get_value(n, "forwards"), NULL, print_fwd);
	xpc_array_apply_f(xpc_dictionary_get_value(n, "attachments"), NULL, print_att);
	printf("  guests      %" PRIu64 "\n", xpc_dictionary_get_uint64(n, "guests"));
	if (xpc_dictionary_get_string(n, "host_tap"))
		printf("  host tap    %s\n", xpc_dictionary_get_string(n, "host_tap"));
	if (xpc_dictionary_get_string(n, "file"))
		printf("  saved in    %s\n", xpc_dictionary_get_string(n, "file"));
	else
		printf("  creator     pid %" PRId64 " (uid %" PRIu64 "), %" PRIu64 " joined\n",
		       xpc_dictionary_get_int64(n, "pid"), xpc_dictionary_get_uint64(n, "uid"),
		       xpc_dictionary_get_uint64(n, "joined"));
}

static bool print_row(void *ctx, size_t i, xpc_object_t n)
{
	printf("%-32s %-6s %-6s %-18s %-11s %" PRIu64 "\n", str_or(n, "name", "?"), str_or(n, "kind", "?"),
	       mode_name(xpc_dictionary_get_uint64(n, "mode")), str_or(n, "subnet", "-"),
	       xpc_dictionary_get_bool(n, "running") ? "running" : "not-running", xpc_dictionary_get_uint64(n, "guests"));
	return true;
}

/* Return: true when argv (after the subcommand) is [--json] plus want_name names. */
static bool parse_plain(int argc, char **argv, bool want_name, const char **name, bool *json)
{
	*name = NULL;
	*json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			*json = true;
		else if (want_name && !*name && argv[i][0] != '-')
			*name = argv[i];
		else
			return false;
	}
	return !want_name || *name;
}

static int cmd_list(int argc, char **argv)
{
	xpc_object_t req = xpc_dictionary_create_empty(), rep, nets;
	const char *name;
	bool json;

	if (!parse_plain(argc, argv, false, &name, &json)) {
		xpc_release(req);
		fprintf(stderr, "%s", network_usage);
		return 2;
	}
	xpc_dictionary_set_string(req, "op", "list");
	rep = network_request(req);
	if (!rep)
		return 1;
	nets = xpc_dictionary_get_value(rep, "networks");
	if (json) {
		cli_print_json(nets, 0);
	} else if (!nets || !xpc_array_get_count(nets)) {
		printf("no named networks or network objects\n");
	} else {
		printf("%-32s %-6s %-6s %-18s %-11s %s\n", "NAME", "KIND", "MODE", "SUBNET", "STATE", "GUESTS");
		xpc_array_apply_f(nets, NULL, print_row);
	}
	xpc_release(rep);
	return 0;
}

/* show and delete: one name. */
static int cmd_named(int argc, char **argv, const char *op)
{
	xpc_object_t req = xpc_dictionary_create_empty(), rep;
	bool del = !strcmp(op, "delete");
	const char *name;
	bool json;

	if (!parse_plain(argc, argv, true, &name, &json) || (del && json)) {
		xpc_release(req);
		fprintf(stderr, "%s", network_usage);
		return 2;
	}
	xpc_dictionary_set_string(req, "op", op);
	xpc_dictionary_set_string(req, "name", name);
	rep = network_request(req);
	if (!rep)
		return 1;
	if (del)
		printf("network %s deleted\n", name);
	else if (json)
		cli_print_json(rep, 0);
	else
		print_network(rep);
	xpc_release(rep);
	return 0;
}

int cmd_network(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(network_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "create"))
		return cmd_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return cmd_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show") || !strcmp(argv[1], "delete"))
		return cmd_named(argc - 1, argv + 1, argv[1]);
	fprintf(stderr, "vmnet: unknown network command '%s'\n%s", argv[1], network_usage);
	return 2;
}
