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
	const char *mac = xpc_dictionary_get_string(p, "mac");

	printf("  %-4" PRIu64 " %-5s %-16s %-17s %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %12" PRIu64 " %8" PRIu64 "%s%s\n",
	       xpc_dictionary_get_uint64(p, "id"), xpc_dictionary_get_string(p, "kind"),
	       xpc_dictionary_get_string(p, "name"), mac ? mac : "-", xpc_dictionary_get_uint64(p, "rx_frames"),
	       xpc_dictionary_get_uint64(p, "rx_bytes"), xpc_dictionary_get_uint64(p, "tx_frames"),
	       xpc_dictionary_get_uint64(p, "tx_bytes"), xpc_dictionary_get_uint64(p, "tx_drops"),
	       xpc_dictionary_get_bool(p, "isolated") ? " isolated" : "",
	       xpc_dictionary_get_bool(p, "persistent") ? " persistent" : "");
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
	printf("\n  %-4s %-5s %-16s %-17s %10s %12s %10s %12s %8s\n", "ID", "KIND", "NAME", "MAC", "RX-FRAMES", "RX-BYTES",
	       "TX-FRAMES", "TX-BYTES", "DROPS");
	xpc_array_apply_f(xpc_dictionary_get_value(n, "ports"), NULL, print_port);
	return true;
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
	if (cli_request(fd, CTL_STATUS, NULL, &rep, NULL, 0) != VMNET_SUCCESS) {
		close(fd);
		return 1;
	}
	close(fd);
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
