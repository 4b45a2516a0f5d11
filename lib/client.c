/*
 * client.c — finding vmnetd, starting a per-user one when none answers, and
 * request/reply exchanges on a control connection (see client.h).
 *
 * The autostarted daemon is fully detached: fork, setsid, fork again (the
 * intermediate child is reaped at once), stdin/stdout on /dev/null, stderr
 * appended to <socket dir>/vmnetd.log, every other descriptor closed, signal
 * mask and dispositions reset (the caller may be a library thread with all
 * signals blocked). Everything the child needs is prepared before fork(),
 * because after it only async-signal-safe calls are allowed.
 */
#include "lib/client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xpc/xpc.h>

#include "common/log.h"
#include "common/util.h"
#include "config.h"

/* What the grandchild needs, computed before fork(). */
struct spawn_plan {
	char bin[PATH_MAX];
	char log[PATH_MAX];
	char state[PATH_MAX];
	char *argv[10];
	int maxfd;
};

/* One autostart at a time per process; others wait and then find it running. */
static pthread_mutex_t autostart_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t next_seq = 1;

/* Return: 0 with *fd connected to the socket at path, or -errno. */
static int try_connect(const char *path, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	do
		r = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

int client_user_socket_path(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (xdg && *xdg)
		n = snprintf(buf, len, "%s/vmnet/vmnetd.sock", xdg);
	else
		n = snprintf(buf, len, "/tmp/vmnet-%u/vmnetd.sock", (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Copy the directory part of path into dir. Return: 0 or -ENAMETOOLONG/-EINVAL. */
static int dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return snprintf(dir, len, ".") < (int)len ? 0 : -ENAMETOOLONG;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

/* mkdir -p dir, new components with mode. Return: 0 or -errno. */
static int mkdir_p(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		tmp[i] = dir[i];
	}
	return 0;
}

/*
 * A per-user socket directory must be a real directory of ours that nobody
 * else can write (/tmp/vmnet-UID could have been planted by another user).
 * Return: 0 or -EPERM.
 */
static int check_private_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		log_warn("%s is not a private directory of uid %u; not starting vmnetd there", dir,
			 (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

/* Search $PATH for name. Return: 0 with out filled, or -ENOENT. */
static int search_path(const char *name, char *out, size_t len)
{
	const char *p = getenv("PATH");

	if (!p || !*p)
		p = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*p) {
		size_t n = strcspn(p, ":");
		int w = snprintf(out, len, "%.*s/%s", (int)n, p, name);

		if (n && w > 0 && (size_t)w < len && access(out, X_OK) == 0)
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	return -ENOENT;
}

/* The daemon binary: $VMNETD, else VMNETD_PATH when installed, else vmnetd on $PATH. Return: 0 or -ENOENT. */
static int find_daemon(char *out, size_t len)
{
	const char *env = getenv("VMNETD");

	if (env && *env)
		return snprintf(out, len, "%s", env) < (int)len ? 0 : -ENAMETOOLONG;
	if (access(VMNETD_PATH, X_OK) == 0)
		return snprintf(out, len, "%s", VMNETD_PATH) < (int)len ? 0 : -ENAMETOOLONG;
	return search_path("vmnetd", out, len);
}

/* In the grandchild: detach stdio, close descriptors, reset signals, exec. Never returns. */
static void __attribute__((noreturn)) exec_daemon(const struct spawn_plan *p)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int fd, sig;

	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
	}
	fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0)
		dup2(fd, STDERR_FILENO);
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
		for (fd = 3; fd < p->maxfd; fd++)
			close(fd);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(p->bin, p->argv);
	_exit(127);
}

/* Fill plan for a daemon serving sock_path. Return: 0 or -errno. */
static int plan_spawn(struct spawn_plan *p, const char *sock_path, const char *dir)
{
	static char opt_socket[] = "--socket", opt_system[] = "--system", opt_idle[] = "--idle-timeout",
		    idle[] = CLIENT_IDLE_TIMEOUT, opt_user[] = "--user", opt_state[] = "--state-dir";
	const char *state = getenv("VMNET_STATE_DIR");
	struct rlimit rl;
	int r, i = 0;

	r = find_daemon(p->bin, sizeof(p->bin));
	if (r < 0) {
		log_warn("cannot start vmnetd: not found (set VMNETD or install it at %s)", VMNETD_PATH);
		return r;
	}
	if (snprintf(p->log, sizeof(p->log), "%s/vmnetd.log", dir) >= (int)sizeof(p->log))
		return -ENAMETOOLONG;
	p->argv[i++] = p->bin;
	if (geteuid() == 0 && !strcmp(sock_path, CLIENT_SYSTEM_SOCKET)) {
		p->argv[i++] = opt_system;
	} else {
		/* Any other socket (per-user, or $VMNET_SOCKET) gets a per-user daemon, even for root. */
		p->argv[i++] = opt_user;
		p->argv[i++] = opt_socket;
		p->argv[i++] = (char *)sock_path;
	}
	if (state && *state) {
		if (snprintf(p->state, sizeof(p->state), "%s", state) >= (int)sizeof(p->state))
			return -ENAMETOOLONG;
		p->argv[i++] = opt_state;
		p->argv[i++] = p->state;
	}
	p->argv[i++] = opt_idle;
	p->argv[i++] = idle;
	p->argv[i] = NULL;
	p->maxfd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
	return 0;
}

/* Double-fork a detached daemon and reap the intermediate child. Return: 0 or -errno. */
static int spawn_daemon(const struct spawn_plan *p)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setsid();
		pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 1 : 0);
		exec_daemon(p);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* Retry connecting to path for up to CLIENT_AUTOSTART_WAIT_MS. Return: 0 or -ETIMEDOUT. */
static int wait_connect(const char *path, int *fd)
{
	uint64_t deadline = util_now_ns() + CLIENT_AUTOSTART_WAIT_MS * 1000000ull;
	struct timespec nap = { 0, 20 * 1000000 };
	int r;

	for (;;) {
		r = try_connect(path, fd);
		if (r == 0)
			return 0;
		if (util_now_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&nap, NULL);
	}
}

/* Start a daemon for sock_path and connect to it. Return: 0 or -errno. */
static int autostart(const char *sock_path, int *fd, int private_dir)
{
	struct spawn_plan plan;
	char dir[PATH_MAX];
	int r;

	pthread_mutex_lock(&autostart_lock);
	r = try_connect(sock_path, fd); /* another thread may have started it meanwhile */
	if (r == 0)
		goto out;
	r = dir_of(sock_path, dir, sizeof(dir));
	if (r == 0)
		r = mkdir_p(dir, private_dir ? 0700 : 0755);
	if (r == 0 && private_dir)
		r = check_private_dir(dir);
	if (r == 0)
		r = plan_spawn(&plan, sock_path, dir);
	if (r == 0) {
		log_info("starting %s for %s", plan.bin, sock_path);
		r = spawn_daemon(&plan);
	}
	if (r == 0)
		r = wait_connect(sock_path, fd);
	if (r < 0)
		log_warn("could not start vmnetd at %s: %s", sock_path, strerror(-r));
out:
	pthread_mutex_unlock(&autostart_lock);
	return r;
}

int client_connect(int *fd)
{
	const char *env = getenv("VMNET_SOCKET");
	const char *auto_env = getenv("VMNET_AUTOSTART");
	char user[PATH_MAX];
	int r;

	if (env && *env) {
		r = try_connect(env, fd);
		if (r == 0 || !auto_env || strcmp(auto_env, "1"))
			return r;
		return autostart(env, fd, !(geteuid() == 0 && !strcmp(env, CLIENT_SYSTEM_SOCKET)));
	}
	r = try_connect(CLIENT_SYSTEM_SOCKET, fd);
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		log_debug("system vmnetd at %s: %s", CLIENT_SYSTEM_SOCKET, strerror(-r));
	r = client_user_socket_path(user, sizeof(user));
	if (r == 0 && try_connect(user, fd) == 0)
		return 0;
	if (geteuid() == 0)
		return autostart(CLIENT_SYSTEM_SOCKET, fd, 0);
	return r < 0 ? r : autostart(user, fd, 1);
}

/* Apply the reply/send timeouts to a control socket. */
static void set_timeouts(int fd)
{
	struct timeval tv = { CLIENT_REPLY_TIMEOUT_MS / 1000, (CLIENT_REPLY_TIMEOUT_MS % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void drop_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int client_request(int fd, uint16_t type, void *payload, struct ctl_hdr *reply_hdr, void **reply_payload, int *fds,
		   int *nfds)
{
	uint64_t deadline = util_now_ns() + CLIENT_REPLY_TIMEOUT_MS * 1000000ull;
	uint32_t seq = atomic_fetch_add(&next_seq, 1);
	int tmp_fds[CTL_MAX_FDS], tmp_n = 0, r;

	*reply_payload = NULL;
	if (nfds)
		*nfds = 0;
	set_timeouts(fd);
	r = ctl_send(fd, type, seq, 0, payload, NULL, 0);
	if (r < 0)
		return r == -EAGAIN ? -ETIMEDOUT : r;
	for (;;) {
		r = ctl_recv(fd, reply_hdr, reply_payload, tmp_fds, &tmp_n);
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return -ETIMEDOUT;
		if (r < 0)
			return r;
		if (reply_hdr->type == (type | CTL_REPLY) && reply_hdr->seq == seq)
			break;
		log_debug("control: ignoring message type %#x seq %u", reply_hdr->type, reply_hdr->seq);
		xpc_release(*reply_payload);
		*reply_payload = NULL;
		drop_fds(tmp_fds, tmp_n);
		if (util_now_ns() >= deadline)
			return -ETIMEDOUT;
	}
	if (fds && nfds) {
		memcpy(fds, tmp_fds, sizeof(int) * (size_t)tmp_n);
		*nfds = tmp_n;
	} else {
		drop_fds(tmp_fds, tmp_n);
	}
	return 0;
}
