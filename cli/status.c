/*
 * status.c — `vmnet status`: the daemon, its networks and their interfaces.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "cli/cli.h"
#include "common/ctl.h"

static void print_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

struct json_ctx {
	int indent;
	bool first;
};

static void json_value(xpc_object_t o, int indent);

static bool json_dict_entry(void *ctx, const char *key, xpc_object_t v)
{
	struct json_ctx *c = ctx;

	printf("%s\n%*s", c->first ? "" : ",", c->indent + 2, "");
	c->first = false;
	print_string(key);
	printf(": ");
	json_value(v, c->indent + 2);
	return true;
}

static bool json_array_entry(void *ctx, size_t i, xpc_object_t v)
{
	struct json_ctx *c = ctx;

	printf("%s\n%*s", c->first ? "" : ",", c->indent + 2, "");
	c->first = false;
	json_value(v, c->indent + 2);
	return true;
}

static void json_value(xpc_object_t o, int indent)
{
	xpc_type_t t = xpc_get_type(o);
	struct json_ctx c = { .indent = indent, .first = true };
	char u[40];

	if (t == XPC_TYPE_DICTIONARY) {
		putchar('{');
		xpc_dictionary_apply_f(o, &c, json_dict_entry);
		printf(c.first ? "}" : "\n%*s}", indent, "");
	} else if (t == XPC_TYPE_ARRAY) {
		putchar('[');
		xpc_array_apply_f(o, &c, json_array_entry);
		printf(c.first ? "]" : "\n%*s]", indent, "");
	} else if (t == XPC_TYPE_STRING) {
		print_string(xpc_string_get_string_ptr(o));
	} else if (t == XPC_TYPE_UINT64) {
		printf("%" PRIu64, xpc_uint64_get_value(o));
	} else if (t == XPC_TYPE_INT64) {
		printf("%" PRId64, xpc_int64_get_value(o));
	} else if (t == XPC_TYPE_BOOL) {
		printf(xpc_bool_get_value(o) ? "true" : "false");
	} else if (t == XPC_TYPE_UUID) {
		uuid_unparse_upper(xpc_uuid_get_bytes(o), u);
		printf("\"%s\"", u);
	} else {
		printf("null");
	}
}

void cli_print_json(xpc_object_t o, int indent)
{
	json_value(o, indent);
	putchar('\n');
}

static const char *mode_name(uint64_t m)
{
	return m == VMNET_HOST_MODE ? "host" : m == VMNET_SHARED_MODE ? "shared" : m == VMNET_BRIDGED_MODE ? "bridged" : "?";
}

static bool print_port(void *ctx, size_t i, xpc_object_t p)
{
	const char *mac = xpc_dictionary_get_string(p, "mac"), *path = xpc_dictionary_get_string(p, "path"),
		   *defn = xpc_dictionary_get_string(p, "definition");

	printf("  %-4" PRIu64 " %-6s %-16s %-17s %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %12" PRIu64 " %8" PRIu64 "%s%s%s\n",
	       xpc_dictionary_get_uint64(p, "id"), xpc_dictionary_get_string(p, "kind"),
	       xpc_dictionary_get_string(p, "name"), mac ? mac : "-", xpc_dictionary_get_uint64(p, "rx_frames"),
	       xpc_dictionary_get_uint64(p, "rx_bytes"), xpc_dictionary_get_uint64(p, "tx_frames"),
	       xpc_dictionary_get_uint64(p, "tx_bytes"), xpc_dictionary_get_uint64(p, "tx_drops"),
	       xpc_dictionary_get_bool(p, "isolated") ? " isolated" : "",
	       xpc_dictionary_get_bool(p, "persistent") ? " persistent" : "",
	       xpc_dictionary_get_bool(p, "offload") ? " offload" : "");
	if (path) /* a socket attachment: its connections (NAME.N) are rows of their own */
		printf("       socket %s%s%s\n", path, defn ? ", kept in the definition of network " : "", defn ? defn : "");
	return true;
}

static bool print_network(void *ctx, size_t i, xpc_object_t n)
{
	const char *start = xpc_dictionary_get_string(n, "start");
	const uint8_t *id = xpc_dictionary_get_uuid(n, "identifier");
	char u[40];

	printf("\nnetwork %s: %s mode, mtu %" PRIu64, xpc_dictionary_get_string(n, "name"),
	       mode_name(xpc_dictionary_get_uint64(n, "mode")), xpc_dictionary_get_uint64(n, "mtu"));
	if (start)
		printf(", %s - %s mask %s", start, xpc_dictionary_get_string(n, "end"),
		       xpc_dictionary_get_string(n, "mask"));
	if (id) {
		uuid_unparse_upper(id, u);
		printf(", identifier %s", u);
	}
	if (xpc_dictionary_get_string(n, "gateway")) {
		const char *g6 = xpc_dictionary_get_string(n, "gateway6"), *ht = xpc_dictionary_get_string(n, "host_tap");

		printf("\n  gateway %s (%s)%s%s, DHCP %s, host tap %s", xpc_dictionary_get_string(n, "gateway"),
		       xpc_dictionary_get_string(n, "gateway_mac"), g6 ? " and " : "", g6 ? g6 : "",
		       xpc_dictionary_get_bool(n, "dhcp") ? "on" : "off", ht ? ht : "none");
		if (ht && xpc_dictionary_get_uint64(n, "host_merged"))
			printf(" (%" PRIu64 " TCP segments merged for it)", xpc_dictionary_get_uint64(n, "host_merged"));
		if (ht && xpc_dictionary_get_uint64(n, "host_drops"))
			printf(" (%" PRIu64 " frames it refused)", xpc_dictionary_get_uint64(n, "host_drops"));
	}
	printf("\n  %-4s %-6s %-16s %-17s %10s %12s %10s %12s %8s\n", "ID", "KIND", "NAME", "MAC", "RX-FRAMES", "RX-BYTES",
	       "TX-FRAMES", "TX-BYTES", "DROPS");
	xpc_array_apply_f(xpc_dictionary_get_value(n, "ports"), NULL, print_port);
	return true;
}

/* Append the ports of network `n` (from a later page) to the network of the same name in `all`. */
static bool merge_network(void *ctx, size_t i, xpc_object_t n)
{
	xpc_object_t all = ctx, ports = xpc_dictionary_get_value(n, "ports");
	const char *name = xpc_dictionary_get_string(n, "name");

	for (size_t j = 0; j < xpc_array_get_count(all); j++) {
		xpc_object_t m = xpc_array_get_value(all, j);
		const char *mname = xpc_dictionary_get_string(m, "name");

		if (!mname || !name || strcmp(mname, name))
			continue;
		for (size_t k = 0; k < xpc_array_get_count(ports); k++)
			xpc_array_append_value(xpc_dictionary_get_value(m, "ports"), xpc_array_get_value(ports, k));
		return true;
	}
	xpc_array_append_value(all, n);
	return true;
}

/* Fetch every page of STATUS into one reply. Return: the reply (+1), or NULL after printing why. */
static xpc_object_t fetch_status(int fd)
{
	xpc_object_t first = NULL, req = xpc_dictionary_create_empty();
	uint64_t skip = 0;

	for (int page = 0; page < 1000; page++) {
		xpc_object_t rep;

		xpc_dictionary_set_uint64(req, "skip", skip);
		if (cli_request(fd, CTL_STATUS, req, &rep, NULL, 0) != VMNET_SUCCESS) {
			xpc_release(first);
			first = NULL;
			break;
		}
		if (!first)
			first = rep;
		else {
			xpc_array_apply_f(xpc_dictionary_get_value(rep, "networks"),
					  xpc_dictionary_get_value(first, "networks"), merge_network);
		}
		skip = xpc_dictionary_get_uint64(rep, "next");
		if (rep != first)
			xpc_release(rep);
		if (!skip)
			break;
	}
	if (first)
		xpc_dictionary_set_value(first, "next", NULL);
	xpc_release(req);
	return first;
}

int cmd_status(int argc, char **argv)
{
	bool json = argc > 1 && !strcmp(argv[1], "--json");
	xpc_object_t rep, nets;
	int fd;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: vmnet status [--json]\n");
		return 2;
	}
	fd = cli_connect();
	rep = fetch_status(fd);
	close(fd);
	if (!rep)
		return 1;
	if (json) {
		cli_print_json(rep, 0);
	} else {
		nets = xpc_dictionary_get_value(rep, "networks");
		printf("vmnetd %s, pid %" PRId64 ", %s daemon, socket %s, state %s\n", xpc_dictionary_get_string(rep, "version"),
		       xpc_dictionary_get_int64(rep, "pid"), xpc_dictionary_get_bool(rep, "system") ? "system" : "per-user",
		       xpc_dictionary_get_string(rep, "socket"), xpc_dictionary_get_string(rep, "state_dir"));
		if (!xpc_array_get_count(nets))
			printf("no networks (no interface is attached)\n");
		xpc_array_apply_f(nets, NULL, print_network);
	}
	xpc_release(rep);
	return 0;
}

static bool print_lease(void *ctx, size_t i, xpc_object_t l)
{
	const char *host = xpc_dictionary_get_string(l, "hostname");
	int64_t left = xpc_dictionary_get_int64(l, "expires_in");
	char exp[32];

	if (xpc_dictionary_get_bool(l, "reserved"))
		snprintf(exp, sizeof(exp), "reserved");
	else if (left <= 0)
		snprintf(exp, sizeof(exp), "expired");
	else
		snprintf(exp, sizeof(exp), "%" PRId64 "s", left);
	printf("  %-17s %-15s %-20s %s\n", xpc_dictionary_get_string(l, "mac"), xpc_dictionary_get_string(l, "ip"),
	       host && *host ? host : "-", exp);
	return true;
}

static bool print_lease_net(void *ctx, size_t i, xpc_object_t n)
{
	printf("network %s: gateway %s, lease time %" PRIu64 " s\n", xpc_dictionary_get_string(n, "name"),
	       xpc_dictionary_get_string(n, "gateway"), xpc_dictionary_get_uint64(n, "lease_time"));
	printf("  %-17s %-15s %-20s %s\n", "MAC", "IP", "HOSTNAME", "EXPIRES");
	xpc_array_apply_f(xpc_dictionary_get_value(n, "leases"), NULL, print_lease);
	return true;
}

int cmd_leases(int argc, char **argv)
{
	xpc_object_t req = xpc_dictionary_create_empty(), rep = NULL;
	bool json = false;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] != '-' && !xpc_dictionary_get_string(req, "network"))
			xpc_dictionary_set_string(req, "network", argv[i]);
		else {
			fprintf(stderr, "usage: vmnet leases [--json] [NETWORK]\n");
			xpc_release(req);
			return 2;
		}
	}
	fd = cli_connect();
	if (cli_request(fd, CTL_LEASES, req, &rep, NULL, 0) != VMNET_SUCCESS) {
		close(fd);
		xpc_release(req);
		return 1;
	}
	close(fd);
	xpc_release(req);
	if (json)
		cli_print_json(rep, 0);
	else if (!xpc_array_get_count(xpc_dictionary_get_value(rep, "networks")))
		printf("no network with DHCP\n");
	else
		xpc_array_apply_f(xpc_dictionary_get_value(rep, "networks"), NULL, print_lease_net);
	xpc_release(rep);
	return 0;
}
