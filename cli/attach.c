/*
 * attach.c — `vmnet attach`, `vmnet detach` and `vmnet run`: real Linux network
 * stacks (namespaces, tap devices) as guests of a vmnet network.
 *
 * The command, not the daemon, creates the tap: it enters the target network
 * namespace, opens the device there, configures it, and hands the descriptor
 * to vmnetd over the control socket. vmnetd never needs to enter namespaces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "cli/cli.h"
#include "common/tapdev.h"
#include "common/ctl.h"

struct attach_args {
	const char *netns, *tap, *ifname, *name, *network, *host_ip6, *subnet, *bridge;
	bool isolated, has_ip, has_host_ip;
	struct in_addr ip, host_ip;
	int prefix, host_prefix;
};

/* Parse the options shared by attach and run. Return: 0, or -1 after printing why. */
static int parse_attach(int argc, char **argv, struct attach_args *a, bool run)
{
	static const struct option lo[] = {
		{ "netns", required_argument, NULL, 'n' }, { "tap", required_argument, NULL, 't' },
		{ "ip", required_argument, NULL, 'i' },    { "ifname", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'N' },  { "network", required_argument, NULL, 'w' },
		{ "isolated", no_argument, NULL, 'I' },    { "host-ip", required_argument, NULL, 'H' },
		{ "host-ip6", required_argument, NULL, '6' }, { "subnet", required_argument, NULL, 's' },
		{ "bridge", required_argument, NULL, 'B' }, { 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->ifname = "eth0";
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'n': a->netns = optarg; break;
		case 't': a->tap = optarg; break;
		case 'f': a->ifname = optarg; break;
		case 'N': a->name = optarg; break;
		case 'w': a->network = optarg; break;
		case 'I': a->isolated = true; break;
		case '6': a->host_ip6 = optarg; break;
		case 's': a->subnet = optarg; break;
		case 'B': a->bridge = optarg; break;
		case 'H':
			if (tap_parse_cidr(optarg, &a->host_ip, &a->host_prefix) < 0) {
				fprintf(stderr, "vmnet: --host-ip wants A.B.C.D/N, got '%s'\n", optarg);
				return -1;
			}
			a->has_host_ip = true;
			break;
		case 'i':
			if (tap_parse_cidr(optarg, &a->ip, &a->prefix) < 0) {
				fprintf(stderr, "vmnet: --ip wants A.B.C.D/N, got '%s'\n", optarg);
				return -1;
			}
			a->has_ip = true;
			break;
		default: return -1;
		}
	}
	if (!run && !!a->netns == !!a->tap) {
		fprintf(stderr, "vmnet: attach needs exactly one of --netns NS or --tap DEV\n");
		return -1;
	}
	if (run && (a->netns || a->tap)) {
		fprintf(stderr, "vmnet: run makes its own namespace: --netns and --tap are for attach\n");
		return -1;
	}
	if (strlen(a->ifname) >= 16 || (a->tap && strlen(a->tap) >= 16)) {
		fprintf(stderr, "vmnet: interface names are at most 15 bytes\n");
		return -1;
	}
	return 0;
}

static xpc_object_t attach_request(const struct attach_args *a, const char *name, bool persist, const char *nspath)
{
	xpc_object_t d = xpc_dictionary_create_empty();

	if (nspath)
		xpc_dictionary_set_string(d, "netns_path", nspath);
	xpc_dictionary_set_string(d, "name", name);
	if (a->network || !a->bridge) /* --bridge names its network by the host interface */
		xpc_dictionary_set_string(d, "network", a->network ? a->network : "default");
	xpc_dictionary_set_bool(d, "persist", persist);
	xpc_dictionary_set_bool(d, "isolation", a->isolated);
	if (a->has_host_ip) {
		struct in_addr m = { .s_addr = htonl(a->host_prefix >= 32 ? ~0u : ~(~0u >> a->host_prefix)) };
		char s[INET_ADDRSTRLEN];

		xpc_dictionary_set_string(d, "vmnet_host_ip_address", inet_ntop(AF_INET, &a->host_ip, s, sizeof(s)));
		xpc_dictionary_set_string(d, "vmnet_host_subnet_mask", inet_ntop(AF_INET, &m, s, sizeof(s)));
	}
	if (a->host_ip6)
		xpc_dictionary_set_string(d, "vmnet_host_ipv6_address", a->host_ip6);
	if (a->subnet)
		xpc_dictionary_set_string(d, "subnet", a->subnet);
	if (a->bridge)
		xpc_dictionary_set_string(d, "bridge", a->bridge);
	return d;
}

/* Runs inside the target namespace: create and configure the tap. */
static int open_and_configure(void *arg)
{
	const struct attach_args *a = arg;
	int fd = tap_open(a->ifname, true), r;

	if (fd < 0)
		return fd;
	r = tap_configure(a->ifname, a->has_ip ? &a->ip : NULL, a->has_ip ? a->prefix : 0);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static int send_attach(const struct attach_args *a, int tapfd, const char *name, const char *nspath)
{
	xpc_object_t req = attach_request(a, name, true, nspath), rep = NULL;
	int fd = cli_connect();
	uint32_t st = cli_request(fd, CTL_ATTACH_TAP, req, &rep, &tapfd, 1);

	xpc_release(req);
	close(fd);
	if (st != VMNET_SUCCESS)
		return 1;
	printf("attached %s to network %s\n", name, xpc_dictionary_get_string(rep, "network"));
	xpc_release(rep);
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	struct attach_args a;
	char path[300], name[64];
	int tapfd, r;

	if (parse_attach(argc, argv, &a, false) < 0 || optind != argc)
		return 2;
	if (a.netns) {
		snprintf(path, sizeof(path), strchr(a.netns, '/') ? "%s" : "/run/netns/%s", a.netns);
		/* The attachment is named after the namespace (its last path component). */
		snprintf(name, sizeof(name), "%s", a.name ? a.name : strrchr(path, '/') + 1);
		tapfd = tap_in_netns(path, open_and_configure, &a);
	} else {
		a.ifname = a.tap;
		snprintf(name, sizeof(name), "%s", a.name ? a.name : a.tap);
		tapfd = open_and_configure(&a);
	}
	if (tapfd < 0) {
		r = -tapfd;
		fprintf(stderr, "vmnet: cannot create tap %s%s%s: %s%s\n", a.ifname, a.netns ? " in " : "",
			a.netns ? path : "", strerror(r), r == EPERM ? " (needs root or CAP_NET_ADMIN)" : "");
		return 1;
	}
	r = send_attach(&a, tapfd, name, a.netns ? path : NULL);
	close(tapfd);
	return r;
}

/* vmnet detach [--persist] NAME: --persist takes a socket attachment out of its named network's definition too. */
int cmd_detach(int argc, char **argv)
{
	xpc_object_t req, rep;
	const char *name = NULL, *defn;
	bool persist = false, bad = false;
	uint32_t st;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--persist") && !persist)
			persist = true;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			bad = true;
	}
	if (bad || !name) {
		fprintf(stderr, "usage: vmnet detach [--persist] NAME\n");
		return 2;
	}
	req = xpc_dictionary_create_empty();
	xpc_dictionary_set_string(req, "name", name);
	xpc_dictionary_set_bool(req, "save", persist);
	fd = cli_connect();
	st = cli_request(fd, CTL_DETACH, req, &rep, NULL, 0);
	xpc_release(req);
	close(fd);
	if (st != VMNET_SUCCESS)
		return 1;
	if (persist)
		printf("%s detached and removed from its network's definition\n", name);
	else if ((defn = xpc_dictionary_get_string(rep, "definition")))
		printf("%s detached; it is in the definition of network %s and comes back when the network next starts "
		       "(vmnet detach --persist %s removes it for good)\n", name, defn, name);
	xpc_release(rep);
	return 0;
}

/* Send or receive one descriptor over a socketpair. */
static int pass_fd(int sock, int fd)
{
	char b = 'f';
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char b;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -EIO;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -EIO;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* The child: new namespace, tap, hand the tap to the parent, wait for "go", exec. */
static void run_child(int sock, const struct attach_args *a, char **cmd)
{
	char go;
	int fd;

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "vmnet run: cannot create a network namespace: %s%s\n", strerror(errno),
			errno == EPERM ? " (needs root or CAP_SYS_ADMIN)" : "");
		_exit(126);
	}
	fd = open_and_configure((void *)a);
	if (fd < 0) {
		fprintf(stderr, "vmnet run: cannot create tap %s: %s\n", a->ifname, strerror(-fd));
		_exit(126);
	}
	if (pass_fd(sock, fd) < 0 || read(sock, &go, 1) != 1 || go != 'g')
		_exit(126);
	close(fd);
	close(sock);
	execvp(cmd[0], cmd);
	fprintf(stderr, "vmnet run: %s: %s\n", cmd[0], strerror(errno));
	_exit(127);
}

static volatile pid_t run_child_pid;

/* `vmnet run` passes termination signals on to its command and waits for it. */
static void forward_signal(int sig)
{
	if (run_child_pid > 0)
		kill(run_child_pid, sig);
}

int cmd_run(int argc, char **argv)
{
	struct attach_args a;
	char name[64];
	int sp[2], fd, tapfd, status;
	xpc_object_t req;
	pid_t pid;

	if (parse_attach(argc, argv, &a, true) < 0 || optind >= argc) {
		fprintf(stderr, "usage: vmnet run [--ip A.B.C.D/N] [--ifname IF] [--name NAME] [--network default|UUID] [--isolated] -- CMD [ARG...]\n");
		return 2;
	}
	fd = cli_connect();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(sp[0]);
		close(fd);
		run_child(sp[1], &a, argv + optind);
	}
	close(sp[1]);
	tapfd = recv_fd(sp[0]);
	snprintf(name, sizeof(name), "%s", a.name ? a.name : "");
	if (!a.name)
		snprintf(name, sizeof(name), "run-%d", (int)pid);
	if (tapfd < 0) {
		/* The child failed before handing over its tap: it said why; return its status. */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	req = attach_request(&a, name, false, NULL);
	if (cli_request(fd, CTL_ATTACH_TAP, req, NULL, &tapfd, 1) != VMNET_SUCCESS) {
		xpc_release(req);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	xpc_release(req);
	close(tapfd);
	if (write(sp[0], "g", 1) != 1)
		kill(pid, SIGKILL);
	close(sp[0]);
	/* The attachment lives as long as this connection: until the command exits. */
	run_child_pid = pid;
	signal(SIGINT, SIG_IGN); /* the terminal sends it to the command too */
	signal(SIGTERM, forward_signal);
	signal(SIGHUP, forward_signal);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(fd);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
