/*
 * main.c — the `vmnet` command: subcommand table, connection helpers.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "cli/cli.h"
#include "common/ctl.h"
#include "common/log.h"
#include "config.h"
#include "lib/client.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "status", cmd_status, "status [--json]                       networks, interfaces and counters" },
	{ "attach", cmd_attach_any,
	  "attach (--netns NS | --tap DEV) [--ip A.B.C.D/N] [--ifname IF] [--name NAME]\n"
	  "         [--network default|shared|UUID|NAME] [--subnet A.B.C.D/N] [--bridge IF] [--isolated]\n"
	  "         [--host-ip A.B.C.D/N [--host-ip6 ADDR]]  (identifier networks: the host's own address)\n"
	  "                                        attach a network namespace (a tap is created in it) or a host tap\n"
	  "       attach (--qemu-stream PATH | --dgram PATH | --vhost-user PATH) [--name NAME] [--network ...] [--isolated]\n"
	  "         [--persist]                    (--persist: kept in the definition of the named network --network NAME)\n"
	  "                                        vmnetd listens on PATH for VMMs (QEMU -netdev stream/dgram/vhost-user, vfkit)" },
	{ "detach", cmd_detach,
	  "detach [--persist] NAME               remove an attachment (--persist: from its network's definition too)" },
	{ "run", cmd_run_any,
	  "run [--ip A.B.C.D/N] [--ifname IF] [--name NAME] [--network default|shared|UUID] [--subnet A.B.C.D/N] [--isolated] -- CMD [ARG...]\n"
	  "                                        run CMD in a fresh network namespace attached to the network\n"
	  "       run --fd N [--name NAME] [--network ...] [--isolated] -- VMM [ARG...]\n"
	  "                                        run a VMM whose descriptor N is a stream socket on the network" },
	{ "leases", cmd_leases, "leases [--json] [NETWORK]             DHCP leases: MAC, IP, hostname, expiry" },
	{ "config", cmd_config, "config [NETWORK] [KEY=VALUE ...]      lease time, reservations, DHCP/DNS/IPv6 on or off" },
	{ "forward", cmd_forward, "forward add|remove|list [--network NAME] ...\n                                        port forwards of a shared network (vmnet forward --help)" },
	{ "network", cmd_network,
	  "network create NAME [--mode host|shared] [--subnet A.B.C.D/N] [--prefix P::/64] [--mtu N] [--no-dhcp]\n"
	  "         [--no-dns] [--no-nat44] [--no-nat66] [--no-router-adv] [--external IF] [--reserve MAC,IP]...\n"
	  "         [--qemu-stream|--dgram|--vhost-user PATH[,name=ID][,isolated]]...\n"
	  "       network list [--json] | network show NAME [--json] | network delete NAME\n"
	  "                                        named networks, kept by vmnetd (attach --network NAME)" },
	{ "shutdown", cmd_shutdown, "shutdown                              stop the vmnetd this user talks to" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vmnet COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].help);
	fprintf(f, "  version\n\nThe daemon is found through $VMNET_SOCKET, /run/vmnet/vmnetd.sock or the per-user socket;\n"
		   "a per-user vmnetd is started when none answers. See vmnet(1).\n");
}

int cli_connect(void)
{
	struct timeval tv = { .tv_sec = 10 };
	int fd, r = client_connect(&fd);

	if (r < 0) {
		fprintf(stderr, "vmnet: cannot reach vmnetd: %s\n", strerror(-r));
		exit(1);
	}
	/* A wedged daemon gives an error, never a hang. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

uint32_t cli_request(int fd, uint16_t type, xpc_object_t req, xpc_object_t *reply, const int *fds, int nfds)
{
	struct ctl_hdr h;
	xpc_object_t rep = NULL;
	int r;

	if (reply)
		*reply = NULL;
	r = ctl_send(fd, type, 1, 0, req, fds, nfds);
	if (r == 0)
		r = ctl_recv(fd, &h, &rep, NULL, NULL);
	if (r == 0 && (h.type != (type | CTL_REPLY) || h.seq != 1))
		r = -EPROTO;
	if (r < 0) {
		fprintf(stderr, "vmnet: vmnetd did not answer: %s\n", strerror(-r));
		if (rep)
			xpc_release(rep);
		return VMNET_FAILURE;
	}
	if (h.status != VMNET_SUCCESS) {
		const char *why = xpc_dictionary_get_string(rep, CTL_KEY_ERROR);

		fprintf(stderr, "vmnet: %s%s%s\n", vmnet_strerror(h.status), why ? ": " : "", why ? why : "");
		xpc_release(rep);
		return h.status;
	}
	if (reply)
		*reply = rep;
	else
		xpc_release(rep);
	return VMNET_SUCCESS;
}

int cmd_shutdown(int argc, char **argv)
{
	int fd = cli_connect();
	uint32_t st = cli_request(fd, CTL_SHUTDOWN, NULL, NULL, NULL, 0);

	close(fd);
	return st == VMNET_SUCCESS ? 0 : 1;
}

int main(int argc, char **argv)
{
	log_init("vmnet");
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("vmnet %s\n", VMNET_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmnet: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
