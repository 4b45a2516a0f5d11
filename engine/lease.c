/*
 * lease.c — the DHCPv4 lease table (one fixed slot per pool address) and the
 * lease file that keeps addresses stable across daemon restarts.
 *
 * Lease file format (text, written whole on every save; only BOUND leases):
 *
 *   # vmnetd DHCPv4 leases
 *   # address mac expiry client-id hostname
 *   192.168.64.2 52:54:00:12:34:56 1767225600 01525400123456 fedora
 *
 *   address    dotted quad inside the pool
 *   mac        the client's hardware address when last seen (informational)
 *   expiry     wall-clock UNIX seconds at which the lease ends; a time in the
 *              past is an expired lease, still remembered for its client
 *   client-id  the client identity in hex (option 61, or 01 + MAC): 2..510 digits
 *   hostname   [A-Za-z0-9._-]{1,63}, or "*" for none
 *
 * Fields are separated by blanks; '#' starts a comment line. Loading is
 * tolerant: a line that does not parse exactly (wrong field count, bad
 * address, odd hex, NUL bytes, overlong), names an address outside the pool,
 * or repeats an address or a client already loaded, is skipped and counted.
 *
 * Expiries are kept in monotonic seconds in memory (the caller's `now`) and
 * converted to wall-clock time in the file, since the monotonic clock
 * restarts at boot.
 *
 * Saves are atomic: the whole table goes to "<file>.tmp" (mode 0600: MACs and
 * hostnames are private), which is fsynced and renamed over the file, and the
 * directory is fsynced. A crash leaves the old file or the new one, never a
 * mix. Saving allocates nothing (it runs on the packet path).
 */
#include "engine/lease.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define LEASE_FILE_HEADER "# vmnetd DHCPv4 leases\n# address mac expiry client-id hostname\n"
/* Longest valid line: address, MAC, 20-digit expiry, 510 hex digits, 63-byte name, blanks. */
#define LEASE_LINE_MAX 640

int lease_table_init(struct lease_table *t, uint32_t first, uint32_t n)
{
	memset(t, 0, sizeof(*t));
	if (n == 0 || n > LEASE_MAX || first + (n - 1) < first)
		return -EINVAL;
	t->slot = calloc(n, sizeof(*t->slot));
	t->idhash = calloc(n, sizeof(*t->idhash));
	if (!t->slot || !t->idhash) {
		lease_table_fini(t);
		return -ENOMEM;
	}
	t->first = first;
	t->n = n;
	return 0;
}

void lease_table_fini(struct lease_table *t)
{
	free(t->slot);
	free(t->idhash);
	memset(t, 0, sizeof(*t));
}

struct lease *lease_by_ip(struct lease_table *t, uint32_t ip)
{
	uint32_t i = ip - t->first; /* wraps to a huge index below first */

	return i < t->n ? &t->slot[i] : NULL;
}

uint32_t lease_ip(const struct lease_table *t, const struct lease *l)
{
	return t->first + (uint32_t)(l - t->slot);
}

/* FNV-1a over length and bytes. Return: never 0 (0 marks a slot without client). */
static uint32_t lease_id_hash(const struct lease_id *id)
{
	uint32_t h = 2166136261u;

	h = (h ^ id->len) * 16777619u;
	for (unsigned i = 0; i < id->len; i++)
		h = (h ^ id->b[i]) * 16777619u;
	return h ? h : 1;
}

bool lease_id_eq(const struct lease_id *a, const struct lease_id *b)
{
	return a->len == b->len && !memcmp(a->b, b->b, a->len);
}

void lease_id_from(struct lease_id *id, struct cursor c)
{
	size_t n = c.left < LEASE_ID_MAX ? c.left : LEASE_ID_MAX;

	id->len = 0;
	if (cur_copy(&c, id->b, n) == 0)
		id->len = (uint8_t)n;
}

struct lease *lease_by_id(struct lease_table *t, const struct lease_id *id)
{
	uint32_t h;

	if (!id->len)
		return NULL;
	h = lease_id_hash(id);
	for (uint32_t i = 0; i < t->n; i++)
		if (t->idhash[i] == h && lease_id_eq(&t->slot[i].id, id))
			return &t->slot[i];
	return NULL;
}

static char lease_hostname_char(uint8_t ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
	    ch == '_' || ch == '-')
		return (char)ch;
	return '-';
}

void lease_hostname_from(char out[LEASE_HOSTNAME_MAX], struct cursor c)
{
	size_t n = 0;
	uint8_t ch;

	/* Some clients count a trailing NUL in option 12: stop there. */
	while (n < LEASE_HOSTNAME_MAX - 1 && cur_u8(&c, &ch) == 0 && ch)
		out[n++] = lease_hostname_char(ch);
	out[n] = '\0';
}

/* Allocation rank of a slot: lower is better, LEASE_RANK_NONE = not available. */
#define LEASE_RANK_NONE 4u

static unsigned lease_rank(const struct lease *l, uint64_t now)
{
	switch (l->state) {
	case LEASE_FREE:
		return 0;
	case LEASE_OFFERED:
		return l->expires <= now ? 1 : LEASE_RANK_NONE;
	case LEASE_DECLINED:
		return l->expires <= now ? 2 : LEASE_RANK_NONE;
	case LEASE_BOUND:
		return l->expires <= now ? 3 : LEASE_RANK_NONE;
	default:
		return LEASE_RANK_NONE;
	}
}

bool lease_available(const struct lease *l, uint64_t now)
{
	return lease_rank(l, now) != LEASE_RANK_NONE;
}

struct lease *lease_pick(struct lease_table *t, uint64_t now)
{
	struct lease *best = NULL;
	unsigned best_rank = LEASE_RANK_NONE;

	for (uint32_t i = 0; i < t->n; i++) {
		struct lease *l = &t->slot[i];
		unsigned r = lease_rank(l, now);

		if (r == 0)
			return l; /* the lowest never-used address */
		if (r < best_rank || (r == best_rank && r != LEASE_RANK_NONE && l->expires < best->expires)) {
			best = l;
			best_rank = r;
		}
	}
	return best;
}

void lease_assign(struct lease_table *t, struct lease *l, enum lease_state st, const struct lease_id *id,
		  const uint8_t mac[6], uint64_t expires)
{
	if (!lease_id_eq(&l->id, id)) {
		l->id.len = id->len;
		memcpy(l->id.b, id->b, id->len);
		l->hostname[0] = '\0';
	}
	t->idhash[l - t->slot] = lease_id_hash(id);
	memcpy(l->mac, mac, sizeof(l->mac));
	l->state = (uint8_t)st;
	l->expires = expires;
}

void lease_clear(struct lease_table *t, struct lease *l, enum lease_state st, uint64_t expires)
{
	memset(l, 0, sizeof(*l));
	t->idhash[l - t->slot] = 0;
	l->state = (uint8_t)st;
	l->expires = expires;
}

/* --- saving --- */

/* A fixed output buffer in front of a file descriptor: no stdio, no allocation. */
struct lease_out {
	int fd;
	int err; /* first error, negative errno */
	size_t len;
	char buf[8192];
};

static void lease_out_flush(struct lease_out *o)
{
	size_t off = 0;

	while (!o->err && off < o->len) {
		ssize_t n = write(o->fd, o->buf + off, o->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			o->err = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	o->len = 0;
}

static void lease_out_str(struct lease_out *o, const char *s, size_t n)
{
	if (n > sizeof(o->buf) - o->len)
		lease_out_flush(o);
	if (n > sizeof(o->buf)) {
		o->err = o->err ? o->err : -E2BIG;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* One BOUND lease as a line (format in the file header). */
static void lease_out_line(struct lease_out *o, const struct lease_table *t, const struct lease *l, uint64_t now,
			   int64_t wall)
{
	static const char hex[] = "0123456789abcdef";
	char line[LEASE_LINE_MAX], addr[INET_ADDRSTRLEN], mac[UTIL_MAC_STRLEN], id[2 * LEASE_ID_MAX + 1];
	struct in_addr a = { .s_addr = htonl(lease_ip(t, l)) };
	int64_t expiry = wall + ((int64_t)l->expires - (int64_t)now);
	int n;

	for (size_t i = 0; i < l->id.len; i++) {
		id[2 * i] = hex[l->id.b[i] >> 4];
		id[2 * i + 1] = hex[l->id.b[i] & 15];
	}
	id[2 * (size_t)l->id.len] = '\0';
	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	util_mac_to_string(l->mac, mac);
	n = snprintf(line, sizeof(line), "%s %s %lld %s %s\n", addr, mac, (long long)(expiry > 0 ? expiry : 0), id,
		     l->hostname[0] ? l->hostname : "*");
	if (n > 0 && (size_t)n < sizeof(line))
		lease_out_str(o, line, (size_t)n);
}

/* fsync the directory holding path, so that the rename is durable. Best effort. */
static void lease_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd;

	if (n >= sizeof(dir))
		return;
	if (slash && n == 0)
		n = 1; /* "/file": the root directory */
	memcpy(dir, slash ? path : ".", slash ? n : 1);
	dir[slash ? n : 1] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

int lease_save(const struct lease_table *t, const char *path, uint64_t now)
{
	char tmp[PATH_MAX];
	struct lease_out o = { .fd = -1 };
	int64_t wall = (int64_t)time(NULL);

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	o.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (o.fd < 0)
		return -errno;
	lease_out_str(&o, LEASE_FILE_HEADER, strlen(LEASE_FILE_HEADER));
	for (uint32_t i = 0; i < t->n; i++)
		if (t->slot[i].state == LEASE_BOUND)
			lease_out_line(&o, t, &t->slot[i], now, wall);
	lease_out_flush(&o);
	if (!o.err && fsync(o.fd) < 0)
		o.err = -errno;
	if (close(o.fd) < 0 && !o.err)
		o.err = -errno;
	if (!o.err && rename(tmp, path) < 0)
		o.err = -errno;
	if (o.err) {
		unlink(tmp);
		return o.err;
	}
	lease_sync_dir(path);
	return 0;
}

/* --- loading --- */

static int lease_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Return: 0, or -EINVAL unless s is 2..2*LEASE_ID_MAX hex digits, an even number. */
static int lease_parse_id(const char *s, struct lease_id *id)
{
	size_t n = strlen(s);

	if (n < 2 || n % 2 || n > 2 * (size_t)LEASE_ID_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		int hi = lease_hex_digit(s[i]), lo = lease_hex_digit(s[i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		id->b[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	id->len = (uint8_t)(n / 2);
	return 0;
}

/* Return: 0 and *v, or -EINVAL unless s is 1..18 decimal digits. */
static int lease_parse_u64(const char *s, uint64_t *v)
{
	size_t n = strlen(s);

	if (n == 0 || n > 18)
		return -EINVAL;
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return 0;
}

/* Return: 0 and the hostname, or -EINVAL unless s is "*" or a clean name that fits. */
static int lease_parse_hostname(const char *s, char out[LEASE_HOSTNAME_MAX])
{
	size_t n = strlen(s);

	if (!strcmp(s, "*")) {
		out[0] = '\0';
		return 0;
	}
	if (n >= LEASE_HOSTNAME_MAX)
		return -EINVAL;
	lease_hostname_from(out, cur_init(s, n));
	return strcmp(out, s) ? -EINVAL : 0;
}

/* Split line into at most max blank-separated fields. Return: how many, or max + 1 when there are more. */
static int lease_split(char *line, char **tok, int max)
{
	char *save = NULL;
	int n = 0;

	for (char *p = strtok_r(line, " \t\r\n", &save); p; p = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return max + 1;
		tok[n++] = p;
	}
	return n;
}

/* Monotonic expiry for a wall-clock one; at least 1 (0 means "static" to dhcp_leases). */
static uint64_t lease_mono(uint64_t wall_expiry, uint64_t now, int64_t wall)
{
	int64_t d = (int64_t)wall_expiry - wall;

	if (d < 0 && (uint64_t)-d >= now)
		return 1;
	return d < 0 ? now - (uint64_t)-d : now + (uint64_t)d;
}

/* One line. Return: 1 loaded, 0 blank or comment, -EINVAL bad, -EEXIST conflicting. */
static int lease_parse_line(struct lease_table *t, char *line, uint64_t now, int64_t wall)
{
	char *tok[5], host[LEASE_HOSTNAME_MAX];
	uint8_t mac[6];
	struct lease_id id = { 0 };
	struct in_addr a;
	struct lease *l;
	uint64_t expiry;
	int n = lease_split(line, tok, 5);

	if (n == 0 || tok[0][0] == '#')
		return 0;
	if (n != 5 || inet_pton(AF_INET, tok[0], &a) != 1 || util_mac_from_string(tok[1], mac) < 0 ||
	    lease_parse_u64(tok[2], &expiry) < 0 || lease_parse_id(tok[3], &id) < 0 ||
	    lease_parse_hostname(tok[4], host) < 0)
		return -EINVAL;
	l = lease_by_ip(t, ntohl(a.s_addr));
	if (!l)
		return -EINVAL; /* outside the pool (it may have changed) */
	if (l->state != LEASE_FREE || lease_by_id(t, &id))
		return -EEXIST; /* a second line for an address or a client: the first one wins */
	lease_assign(t, l, LEASE_BOUND, &id, mac, lease_mono(expiry, now, wall));
	memcpy(l->hostname, host, sizeof(host));
	return 1;
}

int lease_load(struct lease_table *t, const char *path, uint64_t now)
{
	int64_t wall = (int64_t)time(NULL);
	unsigned loaded = 0, bad = 0;
	int err = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f = fopen(path, "re");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	errno = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		int r;

		if ((size_t)len >= LEASE_LINE_MAX || memchr(line, '\0', (size_t)len)) {
			bad++;
			continue;
		}
		r = lease_parse_line(t, line, now, wall);
		if (r > 0)
			loaded++;
		else if (r < 0)
			bad++;
	}
	if (ferror(f))
		err = errno ? -errno : -EIO; /* e.g. a directory: not a file we could ever save */
	free(line);
	fclose(f);
	if (err)
		return err;
	if (bad)
		log_warn("dhcp: %s: ignored %u malformed or conflicting line%s", path, bad, bad == 1 ? "" : "s");
	return (int)loaded;
}
