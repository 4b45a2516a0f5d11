/*
 * attach_sock.c — virtual machines on a vmnet network through sockets:
 *
 *   vmnet attach --qemu-stream PATH | --dgram PATH | --vhost-user PATH [--network N] [--name NAME] [--isolated]
 *                [--persist]
 *       vmnetd listens on PATH (QEMU -netdev stream / -netdev dgram, vfkit unixgram,
 *       QEMU -netdev vhost-user)
 *       until `vmnet detach NAME`; with --persist (N a named network) it is
 *       kept in N's definition until `vmnet detach --persist NAME`;
 *   vmnet run --fd N [--network N] [--name NAME] [--isolated] -- VMM [ARG...]
 *       a socketpair: one end goes to vmnetd as a stream port, the other is
 *       the VMM's descriptor N (QEMU -netdev stream,addr.type=fd,addr.str=N
 *       or -netdev socket,fd=N); the port lives as long as this command.
 *
 * cli/main.c sends `attach` and `run` here first; anything without these
 * options goes on to cli/attach.c (namespaces and taps).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmnet/vmnet.h>

#include "cli/cli.h"
#include "common/ctl.h"

/* The VMM's socket buffer toward vmnetd (best effort). */
#define RUN_SOCKBUF (1024 * 1024)

struct sock_args {
	const char *kind, *path, *name, *network, *subnet;
	bool isolated, persist;
	int fd; /* run: the VMM's descriptor number, or -1 */
};

int cli_sock_path(const char *arg, char *out, size_t size)
{
	const char *base;
	char cwd[4096];

	/* vmnetd has its own working directory: send an absolute path. */
	if (arg[0] != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(out, size, "%s/%s", cwd, arg);
	else
		snprintf(out, size, "%s", arg);
	base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
	if (strlen(out) <= CLI_SOCK_PATH_MAX && *base && strlen(base) <= CLI_SOCK_FILE_MAX)
		return 0;
	fprintf(stderr, "vmnet: the socket path %s is too long or has no file name (at most %d bytes, file name at most %d)\n",
		out, CLI_SOCK_PATH_MAX, CLI_SOCK_FILE_MAX);
	return -1;
}

void cli_sock_default_name(const char *path, char *out, size_t size)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strlen(base);

	if (n > 5 && !strcmp(base + n - 5, ".sock"))
		n -= 5;
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), base);
}

static int parse(int argc, char **argv, struct sock_args *a, bool run)
{
	static const struct option lo[] = {
		{ "qemu-stream", required_argument, NULL, 'q' }, { "dgram", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'N' },        { "network", required_argument, NULL, 'w' },
		{ "subnet", required_argument, NULL, 's' },      { "isolated", no_argument, NULL, 'I' },
		{ "fd", required_argument, NULL, 'f' },          { "vhost-user", required_argument, NULL, 'v' },
		{ "persist", no_argument, NULL, 'P' },           { 0 },
	};
	char *end;
	int c;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'q': a->kind = "stream"; a->path = optarg; break;
		case 'd': a->kind = "dgram"; a->path = optarg; break;
		case 'v': a->kind = "vhost-user"; a->path = optarg; break;
		case 'N': a->name = optarg; break;
		case 'w': a->network = optarg; break;
		case 's': a->subnet = optarg; break;
		case 'I': a->isolated = true; break;
		case 'P': a->persist = true; break;
		case 'f':
			a->fd = (int)strtol(optarg, &end, 10);
			if (*end || !*optarg || a->fd < 3 || a->fd > 1023) {
				fprintf(stderr, "vmnet: --fd wants a descriptor number from 3 to 1023\n");
				return -1;
			}
			break;
		default: return -1;
		}
	}
	if (run ? a->fd < 0 || a->path || a->persist : !a->path || a->fd >= 0) {
		fprintf(stderr, run ? "vmnet: run --fd N takes no socket path and no --persist\n"
				    : "vmnet: attach takes one of --qemu-stream PATH, --dgram PATH or --vhost-user PATH\n");
		return -1;
	}
	if (a->persist && !a->network) {
		fprintf(stderr, "vmnet: --persist keeps the attachment in a named network's definition: "
				"it needs --network NAME\n");
		return -1;
	}
	return 0;
}

static xpc_object_t request(const struct sock_args *a, const char *name, const char *path, bool persist)
{
	xpc_object_t d = xpc_dictionary_create_empty();

	xpc_dictionary_set_string(d, "kind", a->kind ? a->kind : "stream");
	xpc_dictionary_set_string(d, "name", name);
	xpc_dictionary_set_string(d, "network", a->network ? a->network : "default");
	if (a->subnet)
		xpc_dictionary_set_string(d, "subnet", a->subnet);
	if (path)
		xpc_dictionary_set_string(d, "path", path);
	xpc_dictionary_set_bool(d, "isolation", a->isolated);
	xpc_dictionary_set_bool(d, "persist", persist);
	xpc_dictionary_set_bool(d, "save", a->persist);
	return d;
}

static int attach_sock(int argc, char **argv)
{
	struct sock_args a;
	char path[4096], name[64];
	xpc_object_t req, rep;
	uint32_t st;
	int fd;

	if (parse(argc, argv, &a, false) < 0 || optind != argc || cli_sock_path(a.path, path, sizeof(path)) < 0)
		return 2;
	cli_sock_default_name(path, name, sizeof(name));
	if (a.name)
		snprintf(name, sizeof(name), "%s", a.name);
	req = request(&a, name, path, true);
	fd = cli_connect();
	st = cli_request(fd, CTL_ATTACH_SOCKET, req, &rep, NULL, 0);
	xpc_release(req);
	close(fd);
	if (st != VMNET_SUCCESS)
		return 1;
	printf("attached %s to network %s (%s socket %s)%s\n", name, xpc_dictionary_get_string(rep, "network"), a.kind,
	       path, xpc_dictionary_get_string(rep, "definition") ? ", kept in the network's definition" : "");
	xpc_release(rep);
	return 0;
}

static volatile pid_t vmm_pid;

static void forward_signal(int sig)
{
	if (vmm_pid > 0)
		kill(vmm_pid, sig);
}

/* The child: the VMM's end becomes descriptor `want`, then exec. */
static void exec_vmm(int sock, int want, char **cmd)
{
	int v = RUN_SOCKBUF;

	(void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	(void)setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (sock == want ? fcntl(sock, F_SETFD, 0) < 0 : dup2(sock, want) < 0) {
		fprintf(stderr, "vmnet run: cannot set up descriptor %d: %s\n", want, strerror(errno));
		_exit(126);
	}
	execvp(cmd[0], cmd);
	fprintf(stderr, "vmnet run: %s: %s\n", cmd[0], strerror(errno));
	_exit(127);
}

static int run_fd(int argc, char **argv)
{
	struct sock_args a;
	char name[64];
	xpc_object_t req;
	int ctl, sp[2], status;
	pid_t pid;

	if (parse(argc, argv, &a, true) < 0 || optind >= argc) {
		fprintf(stderr, "usage: vmnet run --fd N [--network default|shared|UUID|NAME] [--subnet A.B.C.D/N] [--name NAME] [--isolated] -- VMM [ARG...]\n");
		return 2;
	}
	snprintf(name, sizeof(name), "%s", a.name ? a.name : "");
	if (!a.name)
		snprintf(name, sizeof(name), "vmm-%d", (int)getpid());
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		perror("vmnet run: socketpair");
		return 1;
	}
	ctl = cli_connect();
	req = request(&a, name, NULL, false);
	if (cli_request(ctl, CTL_ATTACH_SOCKET, req, NULL, &sp[0], 1) != VMNET_SUCCESS) {
		xpc_release(req);
		return 1;
	}
	xpc_release(req);
	close(sp[0]);
	pid = fork();
	if (pid < 0) {
		perror("vmnet run: fork");
		return 1;
	}
	if (pid == 0)
		exec_vmm(sp[1], a.fd, argv + optind);
	close(sp[1]);
	/* The port lives as long as the control connection: until the VMM exits. */
	vmm_pid = pid;
	signal(SIGINT, SIG_IGN); /* the terminal sends it to the VMM too */
	signal(SIGTERM, forward_signal);
	signal(SIGHUP, forward_signal);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(ctl);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Does argv (before a "--") hold one of these options, as --opt or --opt=...? */
static bool has_option(int argc, char **argv, const char *const *opts)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		for (const char *const *o = opts; *o; o++) {
			size_t n = strlen(*o);

			if (!strncmp(argv[i], *o, n) && (argv[i][n] == 0 || argv[i][n] == '='))
				return true;
		}
	return false;
}

int cmd_attach_any(int argc, char **argv)
{
	static const char *const opts[] = { "--qemu-stream", "--dgram", "--vhost-user", NULL };

	return has_option(argc, argv, opts) ? attach_sock(argc, argv) : cmd_attach(argc, argv);
}

int cmd_run_any(int argc, char **argv)
{
	static const char *const opts[] = { "--fd", NULL };

	return has_option(argc, argv, opts) ? run_fd(argc, argv) : cmd_run(argc, argv);
}
