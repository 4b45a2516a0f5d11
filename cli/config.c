/*
 * config.c — `vmnet config [NETWORK] [KEY=VALUE ...]`: show or change the
 * settings of a network's gateway services (lease time, reservations, which
 * services run). vmnetd checks and saves them and applies them at once to a
 * running network; see vmnet(1) for the keys.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/ctl.h"
#include "vmnet/vmnet.h"

static const char config_usage[] =
	"usage: vmnet config [--json] [NETWORK] [KEY=VALUE ...]\n"
	"  NETWORK: default (192.168.128.0/24), a running network's name, or a subnet A.B.C.D/N\n"
	"  keys: lease-time=SECONDS (60..31622400)  dhcp=on|off  dns=on|off  ipv6=on|off\n"
	"        router-adv=on|off  domain=NAME|\"\"  prefix=PREFIX::/64|auto\n"
	"        reserve=MAC,IP  unreserve=MAC\n";

static bool print_res(void *ctx, size_t i, xpc_object_t r)
{
	(void)ctx, (void)i;
	printf("  reserve %-17s %s\n", xpc_dictionary_get_string(r, "mac"), xpc_dictionary_get_string(r, "ip"));
	return true;
}

static const char *onoff(xpc_object_t d, const char *key)
{
	return xpc_dictionary_get_bool(d, key) ? "on" : "off";
}

int cmd_config(int argc, char **argv)
{
	xpc_object_t req = xpc_dictionary_create_empty(), lines = xpc_array_create_empty(), rep = NULL;
	bool json = false;
	const char *dom;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(config_usage, stdout);
			return 0;
		} else if (strchr(argv[i], '=') && argv[i][0] != '-') {
			xpc_object_t line = xpc_string_create(argv[i]);

			xpc_array_append_value(lines, line);
			xpc_release(line);
		} else if (argv[i][0] != '-' && !xpc_dictionary_get_string(req, "network")) {
			xpc_dictionary_set_string(req, "network", argv[i]);
		} else {
			fputs(config_usage, stderr);
			xpc_release(req);
			xpc_release(lines);
			return 2;
		}
	}
	xpc_dictionary_set_value(req, "lines", lines);
	xpc_release(lines);
	fd = cli_connect();
	if (cli_request(fd, CTL_CONFIG, req, &rep, NULL, 0) != VMNET_SUCCESS) {
		close(fd);
		xpc_release(req);
		return 1;
	}
	close(fd);
	xpc_release(req);
	if (json) {
		cli_print_json(rep, 0);
	} else {
		dom = xpc_dictionary_get_string(rep, "domain");
		printf("network %s (%s, %s)\n", xpc_dictionary_get_string(rep, "network"),
		       xpc_dictionary_get_string(rep, "subnet"),
		       xpc_dictionary_get_bool(rep, "running") ? "running" : "not running");
		printf("  lease-time=%" PRIu64 "\n  dhcp=%s\n  dns=%s\n  ipv6=%s\n  router-adv=%s\n",
		       xpc_dictionary_get_uint64(rep, "lease_time"), onoff(rep, "dhcp"), onoff(rep, "dns"),
		       onoff(rep, "ipv6"), onoff(rep, "router_adv"));
		printf("  domain=%s\n  prefix=%s\n", dom && *dom ? dom : "\"\"", xpc_dictionary_get_string(rep, "prefix"));
		xpc_array_apply_f(xpc_dictionary_get_value(rep, "reservations"), NULL, print_res);
		printf("  (saved in %s)\n", xpc_dictionary_get_string(rep, "file"));
	}
	xpc_release(rep);
	return 0;
}
