/*
 * forward.c — `vmnet forward add|remove|list`: port forwards of shared-mode
 * networks (a port of the host sent to a guest's address and port). The
 * command checks only the syntax; vmnetd checks the rule against the network
 * (subnet, prefix, duplicates, a host port in use), puts it in force, keeps
 * it in the network's settings file and says why when it refuses
 * (daemon/forward.c, CTL_FORWARD). See vmnet(1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/ctl.h"
#include "common/ctl_forward.h"
#include "vmnet/vmnet.h"

#define FWD_DEFAULT_NETWORK "shared"

static const char forward_usage[] =
	"usage: vmnet forward add [--network NAME] tcp|udp HOSTPORT GUESTADDR:PORT\n"
	"       vmnet forward remove [--network NAME] tcp|udp HOSTPORT [--ipv6]\n"
	"       vmnet forward list [--network NAME] [--json]\n"
	"  NAME: a running shared network (default \"shared\"; list: every shared network)\n"
	"  GUESTADDR:PORT: 192.168.64.2:80, or [fd00::2]:80 for IPv6\n";

/* "tcp", "udp", or a protocol number (vmnetd refuses anything but 6 and 17). Return: it, or -1. */
static int parse_proto(const char *s)
{
	char *end;
	unsigned long n;

	if (!strcmp(s, "tcp"))
		return 6;
	if (!strcmp(s, "udp"))
		return 17;
	n = strtoul(s, &end, 10);
	return *s >= '0' && *s <= '9' && !*end && n <= 255 ? (int)n : -1;
}

/* A port number 0-65535 (vmnetd refuses 0, with its reason). Return: it, or -1. */
static long parse_port(const char *s)
{
	char *end;
	unsigned long n;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	n = strtoul(s, &end, 10);
	return *end || n > 65535 ? -1 : (long)n;
}

/* "A.B.C.D:PORT" or "[IPV6]:PORT" into addr (text), *family (4 or 6) and *port. Return: 0 or -EINVAL. */
static int parse_target(const char *s, char *addr, size_t len, int *family, long *port)
{
	const char *colon;
	uint8_t buf[16];
	size_t n;

	if (s[0] == '[') {
		colon = strstr(s, "]:");
		if (!colon)
			return -EINVAL;
		n = (size_t)(colon - s - 1);
		colon++;
		*family = 6;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		n = (size_t)(colon - s);
		*family = 4;
	}
	if (n == 0 || n >= len)
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = 0;
	if (inet_pton(*family == 4 ? AF_INET : AF_INET6, addr, buf) != 1)
		return -EINVAL;
	*port = parse_port(colon + 1);
	return *port < 0 ? -EINVAL : 0;
}

static int usage_error(const char *why)
{
	if (why)
		fprintf(stderr, "vmnet forward: %s\n", why);
	fputs(forward_usage, stderr);
	return 2;
}

/* One rule line of `list`. */
static bool print_rule(void *ctx, size_t i, xpc_object_t r)
{
	uint64_t af = xpc_dictionary_get_uint64(r, FWD_KEY_ADDRESS_FAMILY);
	bool v6 = af != AF_INET;

	(void)ctx, (void)i;
	printf("  %s %5" PRIu64 " -> %s%s%s:%" PRIu64 "%s\n",
	       xpc_dictionary_get_uint64(r, FWD_KEY_PROTOCOL) == 6 ? "tcp" : "udp",
	       xpc_dictionary_get_uint64(r, FWD_KEY_EXTERNAL_PORT), v6 ? "[" : "",
	       xpc_dictionary_get_string(r, FWD_KEY_INTERNAL_ADDRESS), v6 ? "]" : "",
	       xpc_dictionary_get_uint64(r, FWD_KEY_INTERNAL_PORT),
	       xpc_dictionary_get_bool(r, FWD_KEY_ACTIVE) ? "" : "  (not in force: its host port was taken; see the daemon log)");
	return true;
}

static bool print_network(void *ctx, size_t i, xpc_object_t n)
{
	xpc_object_t rules = xpc_dictionary_get_value(n, FWD_KEY_RULES);
	const char *prefix = xpc_dictionary_get_string(n, "prefix");

	(void)ctx, (void)i;
	printf("network %s (%s%s%s)\n", xpc_dictionary_get_string(n, "name"), xpc_dictionary_get_string(n, "subnet"),
	       prefix ? ", " : "", prefix ? prefix : "");
	if (!rules || xpc_array_get_count(rules) == 0)
		printf("  no port forwards\n");
	else
		xpc_array_apply_f(rules, NULL, print_rule);
	return true;
}

/* Send req (consumed); print the list reply when asked. Return: the exit status. */
static int forward_send(xpc_object_t req, bool list, bool json)
{
	xpc_object_t rep = NULL, nets;
	int fd = cli_connect();
	uint32_t st = cli_request(fd, CTL_FORWARD, req, &rep, NULL, 0);

	close(fd);
	xpc_release(req);
	if (st != VMNET_SUCCESS)
		return 1;
	if (list) {
		nets = xpc_dictionary_get_value(rep, FWD_KEY_NETWORKS);
		if (json)
			cli_print_json(rep, 0);
		else if (!nets || xpc_array_get_count(nets) == 0)
			printf("no shared network is running\n");
		else
			xpc_array_apply_f(nets, NULL, print_network);
	}
	xpc_release(rep);
	return 0;
}

int cmd_forward(int argc, char **argv)
{
	const char *op, *network = NULL, *pos[3];
	xpc_object_t req;
	bool json = false, ipv6 = false;
	int npos = 0, proto, family = 4;
	long ext, in = 0;
	char addr[INET6_ADDRSTRLEN];

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(forward_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	op = argv[1];
	if (strcmp(op, FWD_OP_ADD) && strcmp(op, FWD_OP_REMOVE) && strcmp(op, FWD_OP_LIST))
		return usage_error("the subcommand must be add, remove or list");
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--network") && i + 1 < argc)
			network = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--ipv6") || !strcmp(argv[i], "-6"))
			ipv6 = true;
		else if (argv[i][0] == '-' && argv[i][1] && !(argv[i][1] >= '0' && argv[i][1] <= '9'))
			return usage_error(NULL);
		else if (npos < 3)
			pos[npos++] = argv[i];
		else
			return usage_error("too many arguments");
	}
	req = xpc_dictionary_create_empty();
	xpc_dictionary_set_string(req, FWD_KEY_OP, op);
	if (network || strcmp(op, FWD_OP_LIST))
		xpc_dictionary_set_string(req, FWD_KEY_NETWORK, network ? network : FWD_DEFAULT_NETWORK);
	if (!strcmp(op, FWD_OP_LIST)) {
		if (npos) {
			xpc_release(req);
			return usage_error("list takes no arguments besides --network and --json");
		}
		return forward_send(req, true, json);
	}
	if (npos != (strcmp(op, FWD_OP_ADD) ? 2 : 3)) {
		xpc_release(req);
		return usage_error(strcmp(op, FWD_OP_ADD) ? "remove needs a protocol and a host port"
							   : "add needs a protocol, a host port and GUESTADDR:PORT");
	}
	if ((proto = parse_proto(pos[0])) < 0 || (ext = parse_port(pos[1])) < 0) {
		xpc_release(req);
		return usage_error(proto < 0 ? "the protocol must be tcp or udp" : "the host port must be a number 1-65535");
	}
	if (npos == 3) {
		if (parse_target(pos[2], addr, sizeof(addr), &family, &in) < 0) {
			xpc_release(req);
			return usage_error("the guest must be A.B.C.D:PORT or [IPV6]:PORT with a port 1-65535");
		}
		xpc_dictionary_set_string(req, FWD_KEY_INTERNAL_ADDRESS, addr);
		xpc_dictionary_set_uint64(req, FWD_KEY_INTERNAL_PORT, (uint64_t)in);
	} else if (ipv6) {
		family = 6;
	}
	xpc_dictionary_set_uint64(req, FWD_KEY_PROTOCOL, (uint64_t)proto);
	xpc_dictionary_set_uint64(req, FWD_KEY_EXTERNAL_PORT, (uint64_t)ext);
	xpc_dictionary_set_uint64(req, FWD_KEY_ADDRESS_FAMILY, family == 4 ? AF_INET : AF_INET6);
	return forward_send(req, false, false);
}
