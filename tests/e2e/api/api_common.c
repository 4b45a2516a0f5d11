/* api_common.c — helpers shared by the e2e API test programs (see api_common.h). */
#include "api_common.h"

#include <Block.h>
#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

atomic_int t_pass, t_fail;
static bool t_verbose;

static __attribute__((constructor)) void t_init(void)
{
	const char *v = getenv("VERBOSE");

	t_verbose = v && *v && strcmp(v, "0");
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void t_check(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		atomic_fetch_add(&t_pass, 1);
		if (!t_verbose)
			return;
		printf("  ok: ");
	} else {
		atomic_fetch_add(&t_fail, 1);
		printf("  FAIL %s:%d: ", file, line);
	}
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void t_section(const char *fmt, ...)
{
	va_list ap;

	printf("== ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void t_note(const char *fmt, ...)
{
	va_list ap;

	printf("   note: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int t_done(const char *who)
{
	int p = atomic_load(&t_pass), f = atomic_load(&t_fail);

	if (who)
		printf("-- %s\n", who);
	printf("%d passed, %d failed\n", p, f);
	fflush(stdout);
	return f ? 1 : 0;
}

const char *t_st_name(vmnet_return_t st)
{
	static const char *names[] = {
		"VMNET_SUCCESS",	  "VMNET_FAILURE",	  "VMNET_MEM_FAILURE",	    "VMNET_INVALID_ARGUMENT",
		"VMNET_SETUP_INCOMPLETE", "VMNET_INVALID_ACCESS", "VMNET_PACKET_TOO_BIG",   "VMNET_BUFFER_EXHAUSTED",
		"VMNET_TOO_MANY_PACKETS", "VMNET_SHARING_SERVICE_BUSY", "VMNET_NOT_AUTHORIZED",
	};
	static _Thread_local char buf[32];

	if (st == T_TIMEOUT)
		return "(handler timed out)";
	if (st == T_NULL_REF)
		return "(NULL interface_ref)";
	if (st >= 1000 && st <= 1010)
		return names[st - 1000];
	snprintf(buf, sizeof(buf), "(status %u)", st);
	return buf;
}

/* ---- time ---- */

dispatch_time_t t_deadline_ms(int64_t ms)
{
	return dispatch_time(DISPATCH_TIME_NOW, ms * (int64_t)NSEC_PER_MSEC);
}

void t_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

uint64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool t_wait_until(int timeout_ms, bool (^cond)(void))
{
	uint64_t end = t_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (cond())
			return true;
		if (t_now_ms() >= end)
			return false;
		t_sleep_ms(1);
	}
}

/* ---- interfaces ---- */

#define KEEP_MAX 8192
static void *kept[KEEP_MAX];
static atomic_int nkept;

void *t_keep(void *p)
{
	int i = atomic_fetch_add(&nkept, 1);

	if (i < KEEP_MAX)
		kept[i] = p;
	return p;
}

dispatch_queue_t t_queue(const char *label)
{
	return t_keep(dispatch_queue_create(label, DISPATCH_QUEUE_SERIAL));
}

dispatch_queue_t t_cqueue(const char *label)
{
	return t_keep(dispatch_queue_create(label, DISPATCH_QUEUE_CONCURRENT));
}

dispatch_semaphore_t t_sem(long value)
{
	return t_keep(dispatch_semaphore_create(value));
}

dispatch_group_t t_group(void)
{
	return t_keep(dispatch_group_create());
}

bool t_flush(dispatch_queue_t q, int timeout_ms)
{
	dispatch_semaphore_t s = t_sem(0);

	dispatch_async(q, ^{
		dispatch_semaphore_signal(s);
	});
	return dispatch_semaphore_wait(s, t_deadline_ms(timeout_ms)) == 0;
}

dispatch_semaphore_t t_gate(dispatch_queue_t q)
{
	dispatch_semaphore_t s = t_sem(0);

	dispatch_retain(s);
	dispatch_async(q, ^{
		dispatch_semaphore_wait(s, t_deadline_ms(15000));
		dispatch_release(s);
	});
	return s;
}

xpc_object_t t_desc_host(void)
{
	xpc_object_t d = xpc_dictionary_create(NULL, NULL, 0);

	xpc_dictionary_set_uint64(d, vmnet_operation_mode_key, VMNET_HOST_MODE);
	return d;
}

/* Heap state of one start: a late handler (after a timeout) still writes valid memory. */
struct start_box {
	dispatch_semaphore_t sem;
	vmnet_return_t st;
	xpc_object_t param;
};

static void tif_take_param(struct tif *t)
{
	const char *mac;
	const uint8_t *id;

	t->has_mac = false;
	t->has_id = false;
	t->mtu = t->mps = t->rmax = t->wmax = 0;
	if (!t->param)
		return;
	mac = xpc_dictionary_get_string(t->param, vmnet_mac_address_key);
	if (mac && t_parse_mac(mac, t->mac)) {
		t->has_mac = true;
		snprintf(t->mac_str, sizeof(t->mac_str), "%s", mac);
	}
	id = xpc_dictionary_get_uuid(t->param, vmnet_interface_id_key);
	if (id) {
		memcpy(t->id, id, sizeof(uuid_t));
		t->has_id = true;
	}
	t->mtu = xpc_dictionary_get_uint64(t->param, vmnet_mtu_key);
	t->mps = xpc_dictionary_get_uint64(t->param, vmnet_max_packet_size_key);
	t->rmax = xpc_dictionary_get_uint64(t->param, vmnet_read_max_packets_key);
	t->wmax = xpc_dictionary_get_uint64(t->param, vmnet_write_max_packets_key);
}

vmnet_return_t t_start(struct tif *t, const char *name, xpc_object_t desc)
{
	struct start_box *box = t_keep(calloc(1, sizeof(*box)));

	memset(t, 0, sizeof(*t));
	t->name = name;
	t->q = t_queue(name);
	box->sem = t_sem(0);
	t->ref = vmnet_start_interface(desc, t->q, ^(vmnet_return_t status, xpc_object_t param) {
		box->st = status;
		box->param = param ? t_keep(xpc_copy(param)) : NULL;
		dispatch_semaphore_signal(box->sem);
	});
	if (!t->ref) {
		t->status = T_NULL_REF;
		return t->status;
	}
	if (dispatch_semaphore_wait(box->sem, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) != 0) {
		t->status = T_TIMEOUT; /* box leaks on purpose: the handler may still come */
		return t->status;
	}
	t_keep(t->ref); /* a failed start's handle lives until stopped (interface.c) */
	t->status = box->st;
	t->param = box->param;
	t->running = t->status == VMNET_SUCCESS;
	tif_take_param(t);
	return t->status;
}

bool t_start_host(struct tif *t, const char *name)
{
	xpc_object_t d = t_desc_host();
	vmnet_return_t st = t_start(t, name, d);

	xpc_release(d);
	CHECKF(st == VMNET_SUCCESS && t->has_mac, "start host interface %s: %s", name, t_st_name(st));
	return st == VMNET_SUCCESS && t->has_mac;
}

bool t_start_netid(struct tif *t, const char *name, const uuid_t net)
{
	xpc_object_t d = t_desc_host();
	vmnet_return_t st;

	xpc_dictionary_set_uuid(d, vmnet_network_identifier_key, net);
	st = t_start(t, name, d);
	xpc_release(d);
	CHECKF(st == VMNET_SUCCESS && t->has_mac, "start interface %s on an identifier network: %s", name,
	       t_st_name(st));
	return st == VMNET_SUCCESS && t->has_mac;
}

vmnet_return_t t_stop(struct tif *t)
{
	__block vmnet_return_t hst = T_TIMEOUT;
	dispatch_semaphore_t sem = t_sem(0);
	vmnet_return_t st;

	if (!t->ref)
		return VMNET_INVALID_ARGUMENT;
	st = vmnet_stop_interface(t->ref, t->q, ^(vmnet_return_t status) {
		hst = status;
		dispatch_semaphore_signal(sem);
	});
	if (st != VMNET_SUCCESS)
		return st;
	t->running = false;
	if (dispatch_semaphore_wait(sem, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) != 0)
		return T_TIMEOUT;
	t->ref = NULL; /* freed after the handler */
	if (t->param) {
		xpc_release(t->param);
		t->param = NULL;
	}
	return hst;
}

/* ---- frames ---- */

const uint8_t t_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* FNV-1a over the frame with the checksum field taken as zero. */
static uint32_t frame_sum(const uint8_t *buf, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (i >= 30 && i < 34 ? 0 : buf[i])) * 16777619u;
	return h;
}

void t_frame_build(uint8_t *buf, size_t len, const uint8_t dst[6], const uint8_t src[6], uint32_t tag, uint32_t seq)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = T_ETHERTYPE >> 8;
	buf[13] = T_ETHERTYPE & 0xff;
	memcpy(buf + 14, "VTST", 4);
	put32(buf + 18, tag);
	put32(buf + 22, seq);
	put32(buf + 26, (uint32_t)len);
	for (size_t i = T_HDR_LEN; i < len; i++)
		buf[i] = (uint8_t)(seq * 7u + tag * 13u + i);
	put32(buf + 30, frame_sum(buf, len));
}

bool t_frame_parse(const uint8_t *buf, size_t len, uint32_t *tag, uint32_t *seq)
{
	uint32_t tg, sq;

	if (len < T_HDR_LEN || buf[12] != (T_ETHERTYPE >> 8) || buf[13] != (T_ETHERTYPE & 0xff) ||
	    memcmp(buf + 14, "VTST", 4) || get32(buf + 26) != len || get32(buf + 30) != frame_sum(buf, len))
		return false;
	tg = get32(buf + 18);
	sq = get32(buf + 22);
	for (size_t i = T_HDR_LEN; i < len; i++)
		if (buf[i] != (uint8_t)(sq * 7u + tg * 13u + i))
			return false;
	*tag = tg;
	*seq = sq;
	return true;
}

bool t_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int n = 0;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &n) != 6 ||
	    n != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

vmnet_return_t t_write1(interface_ref ifc, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	struct vmpktdesc d = { .vm_pkt_size = len, .vm_pkt_iov = &iov, .vm_pkt_iovcnt = 1, .vm_flags = 0 };
	int n = 1;

	return vmnet_write(ifc, &d, &n);
}

vmnet_return_t t_write_frames(interface_ref ifc, const uint8_t dst[6], const uint8_t src[6], uint32_t tag,
			      uint32_t first, int count, size_t len)
{
	struct vmpktdesc *d = calloc((size_t)count, sizeof(*d));
	struct iovec *iov = calloc((size_t)count, sizeof(*iov));
	uint8_t *mem = malloc((size_t)count * len);
	vmnet_return_t st;
	int n = count;

	for (int i = 0; i < count; i++) {
		uint8_t *f = mem + (size_t)i * len;

		t_frame_build(f, len, dst, src, tag, first + (uint32_t)i);
		iov[i] = (struct iovec){ f, len };
		d[i] = (struct vmpktdesc){ .vm_pkt_size = len, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
	}
	st = vmnet_write(ifc, d, &n);
	if (st == VMNET_SUCCESS && n != count)
		st = VMNET_FAILURE;
	free(d);
	free(iov);
	free(mem);
	return st;
}

void t_rx_free(struct t_rx *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->data[i]);
	free(r->data);
	free(r->len);
	memset(r, 0, sizeof(*r));
}

static void rx_add(struct t_rx *r, const uint8_t *data, size_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->data = realloc(r->data, (size_t)r->cap * sizeof(*r->data));
		r->len = realloc(r->len, (size_t)r->cap * sizeof(*r->len));
	}
	r->data[r->n] = malloc(len ? len : 1);
	memcpy(r->data[r->n], data, len);
	r->len[r->n] = len;
	r->n++;
}

int t_collect(interface_ref ifc, struct t_rx *r, int want, int timeout_ms, size_t bufsize)
{
	enum { BATCH = 64 };
	struct vmpktdesc d[BATCH];
	struct iovec iov[BATCH];
	uint8_t *mem = malloc(BATCH * bufsize);
	uint64_t end = t_now_ms() + (uint64_t)timeout_ms;
	int got = 0;

	for (;;) {
		int n = BATCH;
		vmnet_return_t st;

		if (want > 0 && want - got < n)
			n = want - got;
		for (int i = 0; i < n; i++) {
			iov[i] = (struct iovec){ mem + (size_t)i * bufsize, bufsize };
			d[i] = (struct vmpktdesc){ .vm_pkt_size = bufsize, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
		}
		st = vmnet_read(ifc, d, &n);
		if (st != VMNET_SUCCESS) {
			r->errors++;
			n = 0;
		}
		for (int i = 0; i < n; i++) {
			const uint8_t *f = iov[i].iov_base;

			/* The network's gateway (MAC 02:76:6d:...) speaks on its own (IPv6 router
			 * advertisements): not a frame of the test's peers. */
			if (d[i].vm_pkt_size >= 14 && f[6] == 0x02 && f[7] == 0x76 && f[8] == 0x6d) {
				r->gateway++;
				continue;
			}
			rx_add(r, f, d[i].vm_pkt_size <= bufsize ? d[i].vm_pkt_size : bufsize);
			got++;
		}
		if (want > 0 && got >= want)
			break;
		if (t_now_ms() >= end)
			break;
		if (n == 0)
			t_sleep_ms(1);
	}
	free(mem);
	return got;
}

int t_drain(interface_ref ifc)
{
	struct t_rx r = { 0 };
	int n = t_collect(ifc, &r, 0, 0, 65550);

	t_rx_free(&r);
	return n;
}

int t_rx_count_tag(const struct t_rx *r, uint32_t tag)
{
	int c = 0;

	for (int i = 0; i < r->n; i++) {
		uint32_t tg, sq;

		if (t_frame_parse(r->data[i], r->len[i], &tg, &sq) && tg == tag)
			c++;
	}
	return c;
}

/* ---- processes ---- */

pid_t t_spawn(char *const argv[])
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int t_wait_child(pid_t pid, int timeout_ms)
{
	uint64_t end = t_now_ms() + (uint64_t)timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return -1;
		if (t_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		t_sleep_ms(5);
	}
}

uint16_t t_inet_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Start an interface on a network object and wait for its handler. Return: the handler's status. */
vmnet_return_t t_start_on_network(struct tif *t, const char *name, vmnet_network_ref net)
{
	__block vmnet_return_t st = T_TIMEOUT;
	__block xpc_object_t param = NULL;
	dispatch_semaphore_t sem = t_sem(0);
	xpc_object_t desc = xpc_dictionary_create(NULL, NULL, 0);
	const char *mac;

	memset(t, 0, sizeof(*t));
	t->name = name;
	t->q = t_queue(name);
	t->ref = vmnet_interface_start_with_network(net, desc, t->q, ^(vmnet_return_t status, xpc_object_t p) {
		st = status;
		param = p ? xpc_copy(p) : NULL;
		dispatch_semaphore_signal(sem);
	});
	xpc_release(desc);
	if (!t->ref)
		return t->status = T_NULL_REF;
	if (dispatch_semaphore_wait(sem, t_deadline_ms(T_HANDLER_TIMEOUT_MS)) != 0)
		return t->status = T_TIMEOUT;
	t_keep(t->ref);
	t->status = st;
	t->param = param ? t_keep(param) : NULL;
	t->running = st == VMNET_SUCCESS;
	mac = param ? xpc_dictionary_get_string(param, vmnet_mac_address_key) : NULL;
	if (mac && t_parse_mac(mac, t->mac)) {
		t->has_mac = true;
		snprintf(t->mac_str, sizeof(t->mac_str), "%s", mac);
	}
	return st;
}

bool t_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return ok;
}

void *t_read_file(const char *path, size_t *len)
{
	struct stat st;
	void *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > 65536) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}
