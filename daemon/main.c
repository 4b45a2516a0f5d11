/*
 * main.c — vmnetd: options, the socket, and the one event loop.
 *
 * vmnetd owns every network of its user (per-user daemon) or of the machine
 * (system daemon, root). Clients reach it over a UNIX SOCK_SEQPACKET socket;
 * see control.c. The data plane and the control plane share one thread and
 * one epoll loop: control work is short and never blocks, and a busy ring is
 * served PORT_RING_BUDGET frames at a time so no client starves another.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <sys/socket.h>

#include "common/log.h"
#include "config.h"
#include "daemon/daemon.h"
#include "engine/dns.h"
#include "engine/gateway.h"
#include "engine/nat_kernel.h"
#include "engine/port_ring.h"
#include "engine/port_tap.h"

struct daemon_opts opts;
bool daemon_quit;

static char socket_buf[4096], state_buf[4096];

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmnetd [options]\n"
		"  --system              serve the machine (root): %s, state in %s\n"
		"  --user                serve the calling user (default when not root)\n"
		"  --socket PATH         listen on PATH instead\n"
		"  --state-dir DIR       keep state (interface MACs, ...) in DIR\n"
		"  --idle-timeout SEC    exit after SEC seconds without clients or interfaces (0 = never, default)\n"
		"  --socket-mode MODE    permissions of the socket (octal; default 0600 user, 0660 system)\n"
		"  --dns-upstream LIST   DNS proxy upstreams ADDR[#PORT],... (default: nameservers of the resolver file)\n"
		"  --resolv-conf FILE    resolver file to take upstreams from (default /etc/resolv.conf)\n"
		"  --no-host-tap         no host taps (vmnet-hostN with the gateway address; created when root)\n"
		"  --dhcp-rate N         DHCP messages per second accepted from one interface (default 100, 0 = no limit)\n"
		"  --version, --help\n",
		"/run/vmnet/vmnetd.sock", VMNET_SYSTEM_STATE_DIR);
}

/* Per-user defaults: $XDG_RUNTIME_DIR/vmnet/vmnetd.sock and $XDG_STATE_HOME/vmnet. */
static void user_defaults(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR"), *st = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (!opts.socket_path) {
		if (rt && *rt)
			snprintf(socket_buf, sizeof(socket_buf), "%s/vmnet/vmnetd.sock", rt);
		else
			snprintf(socket_buf, sizeof(socket_buf), "/tmp/vmnet-%u/vmnetd.sock", (unsigned)geteuid());
		opts.socket_path = socket_buf;
	}
	if (!opts.state_dir) {
		if (st && *st)
			snprintf(state_buf, sizeof(state_buf), "%s/vmnet", st);
		else
			snprintf(state_buf, sizeof(state_buf), "%s/.local/state/vmnet", home && *home ? home : "/tmp");
		opts.state_dir = state_buf;
	}
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "system", no_argument, NULL, 'S' },     { "user", no_argument, NULL, 'U' },
		{ "socket", required_argument, NULL, 's' }, { "state-dir", required_argument, NULL, 'd' },
		{ "idle-timeout", required_argument, NULL, 'i' }, { "socket-mode", required_argument, NULL, 'm' },
		{ "version", no_argument, NULL, 'V' },    { "help", no_argument, NULL, 'h' },
		{ "foreground", no_argument, NULL, 'f' }, { "dns-upstream", required_argument, NULL, 'D' },
		{ "resolv-conf", required_argument, NULL, 'R' }, { "dhcp-rate", required_argument, NULL, 'r' },
		{ "no-host-tap", no_argument, NULL, 'T' }, { 0 },
	};
	bool user = false, mode_set = false;
	char *end;
	int c;

	opts.system = geteuid() == 0;
	engine_host_tap = geteuid() == 0; /* taps need CAP_NET_ADMIN */
	opts.owner = geteuid();
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'S': opts.system = true; break;
		case 'U': user = true; break;
		case 's': opts.socket_path = optarg; break;
		case 'd': opts.state_dir = optarg; break;
		case 'f': break;
		case 'D': {
			struct sockaddr_storage ss[DNS_UPSTREAM_MAX];

			if (dns_upstreams_parse(optarg, ss, DNS_UPSTREAM_MAX) < 0) {
				fprintf(stderr, "vmnetd: --dns-upstream wants ADDR[#PORT][,ADDR[#PORT]...], e.g. 127.0.0.1#5353\n");
				return -1;
			}
			engine_dns_upstreams = optarg;
			break;
		}
		case 'R': engine_resolv_conf = optarg; break;
		case 'T': engine_host_tap = false; break;
		case 'r': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || !*optarg || v > 1000000) {
				fprintf(stderr, "vmnetd: --dhcp-rate wants messages per second per interface (0 = no limit)\n");
				return -1;
			}
			engine_dhcp_rate = (uint32_t)v;
			break;
		}
		case 'i':
			opts.idle_timeout = (int)strtol(optarg, &end, 10);
			if (*end || opts.idle_timeout < 0) {
				fprintf(stderr, "vmnetd: --idle-timeout wants a number of seconds\n");
				return -1;
			}
			break;
		case 'm':
			opts.socket_mode = (unsigned)strtoul(optarg, &end, 8);
			mode_set = true;
			if (*end || opts.socket_mode > 0777) {
				fprintf(stderr, "vmnetd: --socket-mode wants an octal mode such as 0660\n");
				return -1;
			}
			break;
		case 'V': printf("vmnetd %s\n", VMNET_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	if (user)
		opts.system = false;
	if (opts.system && geteuid() != 0) {
		fprintf(stderr, "vmnetd: --system needs root\n");
		return -1;
	}
	if (opts.system) {
		if (!opts.socket_path)
			opts.socket_path = "/run/vmnet/vmnetd.sock";
		if (!opts.state_dir)
			opts.state_dir = VMNET_SYSTEM_STATE_DIR;
	}
	user_defaults();
	if (!mode_set)
		opts.socket_mode = opts.system ? 0660 : 0600;
	return 0;
}

/* Make the socket's directory; hold PATH.lock so one daemon serves one socket. Return: 0, 1 (taken) or -errno. */
static int take_socket_lock(void)
{
	char dir[4096], lock[4200];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", opts.socket_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		/* Explicit chmod: the daemon runs under umask 077. */
		if (mkdir(dir, 0700) == 0) {
			if (chmod(dir, opts.system ? 0755 : 0700) < 0)
				return -errno;
		} else if (errno != EEXIST) {
			return -errno;
		}
	}
	snprintf(lock, sizeof(lock), "%s.lock", opts.socket_path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? 1 : -errno;
	return 0; /* fd stays open (and locked) for the daemon's life */
}

/* The system socket belongs to group vmnet when that group exists. */
static void socket_group(void)
{
	struct group *g;

	if (!opts.system || !(g = getgrnam("vmnet")))
		return;
	if (chown(opts.socket_path, 0, g->gr_gid) < 0)
		log_warn("chown %s: %m", opts.socket_path);
}

static int setup_signals(struct loop_src *src)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	*src = (struct loop_src){ .type = EV_SIGNAL, .fd = fd };
	return loop_add(src, EPOLLIN);
}

static int setup_timer(struct loop_src *src)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0)
		return -errno;
	*src = (struct loop_src){ .type = EV_TIMER, .fd = fd };
	return loop_add(src, EPOLLIN);
}

static uint64_t now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Once a second: exit when idle for long enough. */
static void housekeeping(int fd)
{
	static uint64_t idle_since;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;
	control_check_netns();
	gateway_tick_all();
	if (!opts.idle_timeout)
		return;
	if (control_count() || network_count_ports()) {
		idle_since = 0;
		return;
	}
	if (!idle_since)
		idle_since = engine_now_sec;
	if (engine_now_sec - idle_since >= (uint64_t)opts.idle_timeout) {
		log_info("idle for %d s; exiting", opts.idle_timeout);
		daemon_quit = true;
	}
}

static void dispatch_event(struct loop_src *s, uint32_t events)
{
	switch (s->type) {
	case EV_LISTEN:
		control_accept(s->fd);
		break;
	case EV_CONN:
		control_input(s->obj, events);
		break;
	case EV_RING:
		port_ring_input(s->obj, true);
		break;
	case EV_TAP:
		port_tap_input(s->obj, events);
		break;
	case EV_SIGNAL: {
		struct signalfd_siginfo si;

		if (read(s->fd, &si, sizeof(si)) == sizeof(si))
			log_info("signal %u; shutting down", si.ssi_signo);
		daemon_quit = true;
		break;
	}
	case EV_TIMER:
		housekeeping(s->fd);
		break;
	case EV_CALLBACK:
		s->cb(s, events);
		break;
	}
}

static void run(void)
{
	struct epoll_event ev[64];
	bool pending = false;

	while (!daemon_quit) {
		int n = loop_wait(ev, 64, pending ? 0 : -1);

		if (n < 0) {
			log_err("epoll: %s", strerror(-n));
			break;
		}
		engine_now_sec = now_sec();
		for (int i = 0; i < n; i++) {
			struct loop_src *s = ev[i].data.ptr;

			if (!s->dead)
				dispatch_event(s, ev[i].events);
		}
		pending = port_ring_run_pending();
		for (struct port *p = port_take_broken(), *next; p; p = next) {
			next = p->broken_next;
			control_port_broken(p);
		}
		loop_free_deferred();
	}
}

static void teardown(void)
{
	control_close_all();
	while (network_list) {
		struct network *n = network_list;

		/* Removing the last port frees the network and unlinks it. */
		while (n == network_list && n->ports)
			network_remove_port(n->ports);
		if (n == network_list)
			network_release_if_empty(n);
	}
	loop_free_deferred();
	nat_kernel_shutdown();
	unlink(opts.socket_path);
}

int main(int argc, char **argv)
{
	struct loop_src listen_src, sig_src, timer_src;
	int r;

	log_init("vmnetd");
	if (log_level < LOG_LVL_INFO)
		log_level = LOG_LVL_INFO;
	if (parse_args(argc, argv) < 0)
		return 2;
	umask(077);
	r = take_socket_lock();
	if (r == 1) {
		log_info("another vmnetd already serves %s", opts.socket_path);
		return 0;
	}
	if (r < 0 || (r = state_init(opts.state_dir)) < 0 || (r = loop_init()) < 0 ||
	    (r = setup_signals(&sig_src)) < 0 || (r = setup_timer(&timer_src)) < 0 ||
	    (r = control_listen(&listen_src)) < 0) {
		log_err("cannot start: %s (socket %s, state %s)", strerror(-r), opts.socket_path, opts.state_dir);
		return 1;
	}
	socket_group();
	/* Kernel NAT (shared mode) and the forwarding filter need CAP_NET_ADMIN, as host taps do. */
	if (engine_host_tap)
		nat_kernel_init(opts.socket_path);
	engine_state_dir = opts.state_dir;
	engine_now_sec = now_sec();
	log_info("vmnetd %s serving %s (%s daemon, state in %s)", VMNET_VERSION, opts.socket_path,
		 opts.system ? "system" : "per-user", opts.state_dir);
	run();
	teardown();
	log_info("stopped");
	return 0;
}
