/*
 * api_common.h — helpers shared by the e2e API test programs.
 *
 * The programs are written the way macOS vmnet clients are: clang blocks,
 * serial dispatch queues, a semaphore per start/stop handler, xpc
 * dictionaries for interface_desc. Only the public API (<vmnet/vmnet.h>) is
 * used. Every wait has a timeout; nothing here can hang.
 */
#ifndef VMNET_E2E_API_COMMON_H
#define VMNET_E2E_API_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <vmnet/vmnet.h>

/* ---- checks ---- */

extern atomic_int t_pass, t_fail;

void t_check(bool ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void t_section(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void t_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "-- who" (if not NULL), then "N passed, N failed". Return: the exit status. */
int t_done(const char *who);

#define CHECK(cond) t_check(!!(cond), __FILE__, __LINE__, "%s", #cond)
#define CHECKF(cond, ...) t_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ(a, b)                                                                                      \
	do {                                                                                                \
		long long _a = (long long)(a), _b = (long long)(b);                                         \
		t_check(_a == _b, __FILE__, __LINE__, "%s == %s (got %lld, want %lld)", #a, #b, _a, _b);   \
	} while (0)
#define CHECK_ST(st, want)                                                                                  \
	do {                                                                                                \
		vmnet_return_t _s = (st), _w = (want);                                                      \
		t_check(_s == _w, __FILE__, __LINE__, "%s is %s (got %s)", #st, t_st_name(_w), t_st_name(_s)); \
	} while (0)

/* Pseudo statuses of the helpers (not vmnet values). */
#define T_TIMEOUT ((vmnet_return_t)1)	/* the handler did not run in time */
#define T_NULL_REF ((vmnet_return_t)2) /* vmnet_start_interface returned NULL */

const char *t_st_name(vmnet_return_t st);

/* ---- time ---- */

#define T_HANDLER_TIMEOUT_MS 10000
dispatch_time_t t_deadline_ms(int64_t ms);
void t_sleep_ms(int ms);
uint64_t t_now_ms(void);
/* Poll cond every millisecond for up to timeout_ms. Return: whether it became true. */
bool t_wait_until(int timeout_ms, bool (^cond)(void));

/* ---- interfaces ---- */

struct tif {
	const char *name;
	interface_ref ref;
	vmnet_return_t status;	/* of the start handler (or T_TIMEOUT / T_NULL_REF) */
	xpc_object_t param;	/* a copy of interface_param, or NULL */
	dispatch_queue_t q;	/* the start/stop queue (serial) */
	bool has_mac;
	uint8_t mac[6];
	char mac_str[24];
	uint64_t mtu, mps, rmax, wmax;
	uuid_t id;
	bool has_id;
	bool running;
};

/* A new interface_desc for host mode. Caller releases. */
xpc_object_t t_desc_host(void);
/* Start with desc and wait for the handler. Return: the handler's status (t->status). */
vmnet_return_t t_start(struct tif *t, const char *name, xpc_object_t desc);
/* Start a host-mode interface with default settings; a failure is a check failure. */
bool t_start_host(struct tif *t, const char *name);
/* Start a host-mode interface on the network with identifier net; a failure is a check failure. */
bool t_start_netid(struct tif *t, const char *name, const uuid_t net);
/* Stop and wait for the handler. Return: the handler's status, T_TIMEOUT, or the call's error. */
vmnet_return_t t_stop(struct tif *t);
/*
 * Keep p reachable until exit. The programs never release their dispatch
 * objects, interface_param copies or handles of failed starts: keeping them
 * in a global table stops LeakSanitizer (ASan builds) from reporting them,
 * while leaks inside the library stay visible. Return: p.
 */
void *t_keep(void *p);
/* A serial / concurrent queue with a label (kept). */
dispatch_queue_t t_queue(const char *label);
dispatch_queue_t t_cqueue(const char *label);
/* A semaphore / group (kept). */
dispatch_semaphore_t t_sem(long value);
dispatch_group_t t_group(void);
/* Wait (at most timeout_ms) until every block queued on q so far has run. Return: true if it did. */
bool t_flush(dispatch_queue_t q, int timeout_ms);
/* Block a serial queue until the returned semaphore is signalled (gives up after 15 s). */
dispatch_semaphore_t t_gate(dispatch_queue_t q);

/* ---- frames ---- */

#define T_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */
#define T_HDR_LEN 34	    /* Ethernet + the test header */
extern const uint8_t t_bcast[6];

/* Fill a test frame of len bytes (>= T_HDR_LEN): checksummed, tagged with a stream id and sequence. */
void t_frame_build(uint8_t *buf, size_t len, const uint8_t dst[6], const uint8_t src[6], uint32_t tag, uint32_t seq);
/* Verify a test frame. Return: true if intact (magic, length, checksum, pattern); tag/seq set. */
bool t_frame_parse(const uint8_t *buf, size_t len, uint32_t *tag, uint32_t *seq);
bool t_parse_mac(const char *s, uint8_t mac[6]);

/* Write one frame (single iovec). Return: the vmnet_write status. */
vmnet_return_t t_write1(interface_ref ifc, const void *buf, size_t len);
/* Write count test frames of len bytes, seq first..first+count-1, in one call. */
vmnet_return_t t_write_frames(interface_ref ifc, const uint8_t dst[6], const uint8_t src[6], uint32_t tag,
			      uint32_t first, int count, size_t len);

/* Received frames, copied out. */
struct t_rx {
	int n, cap;
	size_t *len;
	uint8_t **data;
	int errors; /* vmnet_read statuses other than SUCCESS */
	int gateway; /* frames from the network's gateway, skipped (not counted in n) */
};
void t_rx_free(struct t_rx *r);
/*
 * Read (batches of up to 64, buffers of bufsize) until want frames were
 * collected or timeout_ms passed; want 0 collects whatever comes within
 * timeout_ms. Frames of the network's gateway (router advertisements) are
 * skipped. Return: frames collected by this call.
 */
int t_collect(interface_ref ifc, struct t_rx *r, int want, int timeout_ms, size_t bufsize);
/* vmnet_interface_start_with_network with an empty description; waits for the handler. Return: its status. */
vmnet_return_t t_start_on_network(struct tif *t, const char *name, vmnet_network_ref net);
/* Read a whole file (at most 64 KiB). Return: malloc'd bytes and *len, or NULL. */
void *t_read_file(const char *path, size_t *len);
/* Write data to path (created or truncated). Return: whether all of it was written. */
bool t_write_file(const char *path, const void *data, size_t len);
/* Read and discard everything queued now. Return: frames discarded. */
int t_drain(interface_ref ifc);
/* Count the intact test frames with this tag in r (any seq). */
int t_rx_count_tag(const struct t_rx *r, uint32_t tag);

/* ---- processes ---- */

/* fork + exec argv; stdout/stderr inherited. Return: pid or -1. */
pid_t t_spawn(char *const argv[]);
/* Wait up to timeout_ms; kill -9 on timeout. Return: exit status, 128+signal, or -1 on timeout. */
int t_wait_child(pid_t pid, int timeout_ms);

/* ---- internet checksum ---- */
uint16_t t_inet_csum(const void *data, size_t len);

#endif
