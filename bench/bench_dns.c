/*
 * bench_dns.c — DNS query latency and rate against one server over UDP: the
 * gateway's DNS proxy (192.168.128.1:53 from an attached namespace) or the
 * upstream it forwards to, queried directly (bench/gateway.sh).
 *
 * Theory of operation
 *
 * Two passes over one connected UDP socket (the kernel drops datagrams from
 * any other address):
 *   1. latency: N queries one after the other; each waits for its valid
 *      answer or the timeout (then it is lost, never resent). The latency of
 *      a query is send -> valid answer; median and p99 over the answered.
 *   2. rate: M queries with up to `window` outstanding; every answer or
 *      timeout frees a slot for the next query. qps = answered / (last
 *      answer - first query).
 * A query asks for the A record of NAME with RD set. With -u every query asks
 * for a name of its own (q<run>-<i>.NAME), so a caching proxy must forward
 * each one; the upstream must answer for the whole domain (dnsmasq
 * --address=/NAME/ADDR does). The query ID is id_base + i (16 bits; a pass
 * has fewer than 65536 queries), so an answer maps back to its query.
 *
 * An answer counts when it is valid: the ID of an outstanding query, QR set,
 * opcode QUERY, RCODE 0 (NOERROR), QDCOUNT 1 with the question we asked,
 * ANCOUNT >= 1 and at least one A record (equal to -e ADDR when given). A
 * response that fails the checks is counted as bad and its query stays
 * outstanding until its timeout.
 *
 * Output: one "RESULT key=value ..." line on stdout; progress and errors on
 * stderr. An ICMP port unreachable (ECONNREFUSED) ends the wait of the
 * query in flight at once: it is lost, and counted as refused. Exit status
 * 0 when both passes ran (lost and bad answers are results), 1 on a local
 * error or when not a single query was answered, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/stats.h"
#include "common/cursor.h"

/* RFC 1035 §4.1.1 header and the few codes used here. */
#define DNS_PORT 53
#define DNS_FLAG_QR 0x8000
#define DNS_OPCODE_MASK 0x7800
#define DNS_FLAG_RD 0x0100
#define DNS_RCODE_MASK 0x000f
#define DNS_TYPE_A 1
#define DNS_CLASS_IN 1
#define DNS_NAME_MAX 255  /* RFC 1035 §2.3.4, wire form */
#define DNS_LABEL_MAX 63
#define DNS_PTR_MASK 0xc0 /* RFC 1035 §4.1.4: compression pointer */
#define DNS_MSG_MAX 4096

struct dns_hdr {
	uint16_t id, flags, qdcount, ancount, nscount, arcount;
} __attribute__((packed));
static_assert(sizeof(struct dns_hdr) == 12, "RFC 1035 §4.1.1");

/* An answer RR after its owner name (RFC 1035 §4.1.3). */
struct dns_rr {
	uint16_t type, class;
	uint32_t ttl;
	uint16_t rdlength;
} __attribute__((packed));
static_assert(sizeof(struct dns_rr) == 10, "RFC 1035 §4.1.3");

#define DNSB_MAX_QUERIES 65535
#define DNSB_MAX_WINDOW 1024
#define DNSB_RECV_BUDGET 4096 /* datagrams read per wakeup: no loop runs unbounded */

struct opts {
	const char *server, *name, *label;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned seq, total, window; /* latency queries, rate queries, rate window */
	double timeout, limit;       /* seconds; limit per pass */
	bool unique, has_expect;
	uint32_t expect; /* network order */
};

struct pass {
	unsigned sent, answered, lost, bad, stray, refused;
	double first, last; /* first query, last valid answer */
};

struct run {
	struct opts o;
	int fd;
	uint32_t tag; /* names of this run: q<tag>-<i>.NAME */
	uint16_t id_base;
	double *sent_at; /* by query ID; 0 = not outstanding */
	double *lat;     /* latency pass, one per answered query */
	struct pass seq, rate;
};

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage_exit(const char *prog)
{
	fprintf(stderr,
		"usage: %s -s ADDR[#PORT] [-q NAME] [-n QUERIES] [-N QUERIES] [-c WINDOW] [-t TIMEOUT_MS] [-T LIMIT_S]\n"
		"          [-u] [-e A.B.C.D] [-L LABEL]\n"
		"  -s  server (IPv4 or IPv6 address, port 53 unless #PORT)\n"
		"  -q  name to ask the A record of (default bench.test)\n"
		"  -n  queries of the latency pass, one at a time, 1..%d (default 1000)\n"
		"  -N  queries of the rate pass, 0..%d (default 5000; 0 = no rate pass)\n"
		"  -c  outstanding queries in the rate pass, 1..%d (default 16)\n"
		"  -t  wait for an answer, ms (default 500)\n"
		"  -T  limit of each pass, s (default 30)\n"
		"  -u  a name of its own per query (q<run>-<i>.NAME): no answer from a cache\n"
		"  -e  the A record the answer must hold\n"
		"  -L  label echoed in the RESULT line\n",
		prog, DNSB_MAX_QUERIES, DNSB_MAX_QUERIES, DNSB_MAX_WINDOW);
	exit(2);
}

/* ADDR[#PORT] -> socket address. Return: 0 or -1. */
static int parse_server(const char *s, struct opts *o)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *hash = strchr(s, '#');
	size_t n = hash ? (size_t)(hash - s) : strlen(s);
	long port = hash ? strtol(hash + 1, NULL, 10) : DNS_PORT;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&o->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&o->addr;

	if (n >= sizeof(host) || port < 1 || port > 65535)
		return -1;
	memcpy(host, s, n);
	host[n] = 0;
	memset(&o->addr, 0, sizeof(o->addr));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		o->addrlen = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		o->addrlen = sizeof(*a6);
		return 0;
	}
	return -1;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	struct in_addr e;
	int c;

	*o = (struct opts){ .name = "bench.test", .seq = 1000, .total = 5000, .window = 16, .timeout = 0.5,
			    .limit = 30 };
	while ((c = getopt(argc, argv, "s:q:n:N:c:t:T:ue:L:h")) != -1) {
		switch (c) {
		case 's': o->server = optarg; break;
		case 'q': o->name = optarg; break;
		case 'n': o->seq = (unsigned)atoi(optarg); break;
		case 'N': o->total = (unsigned)atoi(optarg); break;
		case 'c': o->window = (unsigned)atoi(optarg); break;
		case 't': o->timeout = atof(optarg) / 1000; break;
		case 'T': o->limit = atof(optarg); break;
		case 'u': o->unique = true; break;
		case 'L': o->label = optarg; break;
		case 'e':
			if (inet_pton(AF_INET, optarg, &e) != 1)
				usage_exit(argv[0]);
			o->expect = e.s_addr;
			o->has_expect = true;
			break;
		default: usage_exit(argv[0]);
		}
	}
	if (optind != argc || !o->server || parse_server(o->server, o) < 0 || o->seq < 1 ||
	    o->seq > DNSB_MAX_QUERIES || o->total > DNSB_MAX_QUERIES || o->window < 1 ||
	    o->window > DNSB_MAX_WINDOW || o->timeout <= 0 || o->limit <= 0 || strlen(o->name) > 200)
		usage_exit(argv[0]);
}

/* Query i's name in wire form (length-prefixed labels, root label last). Return: its length, or 0. */
static size_t query_qname(const struct run *r, unsigned i, uint8_t out[DNS_NAME_MAX])
{
	char text[DNS_NAME_MAX + 1];
	size_t n = 0;
	int tl;

	if (r->o.unique)
		tl = snprintf(text, sizeof(text), "q%08x-%u.%s", r->tag, i, r->o.name);
	else
		tl = snprintf(text, sizeof(text), "%s", r->o.name);
	if (tl < 0 || (size_t)tl >= sizeof(text) - 1)
		return 0;
	for (const char *label = text; *label;) {
		const char *dot = strchrnul(label, '.');
		size_t ll = (size_t)(dot - label);

		if (!ll || ll > DNS_LABEL_MAX || n + 1 + ll + 1 > DNS_NAME_MAX)
			return 0;
		out[n++] = (uint8_t)ll;
		memcpy(out + n, label, ll);
		n += ll;
		label = *dot ? dot + 1 : dot;
	}
	out[n++] = 0;
	return n;
}

static uint16_t query_id(const struct run *r, unsigned i)
{
	return (uint16_t)(r->id_base + i);
}

/* Send query i of a pass. Return: 0, or -1 (the query counts as lost). */
static int query_send(struct run *r, unsigned i, double now)
{
	uint8_t buf[DNS_MSG_MAX], qname[DNS_NAME_MAX];
	size_t ql = query_qname(r, i, qname);
	struct writer w = wr_init(buf, sizeof(buf));
	uint16_t id = query_id(r, i);

	if (!ql)
		return -1;
	wr_be16(&w, id);
	wr_be16(&w, DNS_FLAG_RD);
	wr_be16(&w, 1); /* QDCOUNT */
	wr_be16(&w, 0);
	wr_be16(&w, 0);
	wr_be16(&w, 0);
	wr_bytes(&w, qname, ql);
	wr_be16(&w, DNS_TYPE_A);
	wr_be16(&w, DNS_CLASS_IN);
	if (w.bad || send(r->fd, buf, w.len, 0) != (ssize_t)w.len)
		return -1;
	r->sent_at[id] = now;
	return 0;
}

/* Wire-form names a and b of n bytes equal, ignoring ASCII case (resolvers may randomise it)? */
static bool name_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t x = a[k], y = b[k];

		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

/* Skip one (possibly compressed) name. Return: 0 or -1. */
static int name_skip(struct cursor *c)
{
	uint8_t len;

	/* Every pass takes at least one byte; a pointer ends the name. */
	for (;;) {
		if (cur_u8(c, &len) < 0)
			return -1;
		if (!len)
			return 0;
		if ((len & DNS_PTR_MASK) == DNS_PTR_MASK)
			return cur_pull(c, 1) ? 0 : -1;
		if (len > DNS_LABEL_MAX || !cur_pull(c, len))
			return -1;
	}
}

/* Walk the answer section: is there an A record (equal to -e when given)? Return: 0 or -1. */
static int answer_has_a(const struct run *r, struct cursor *c, unsigned ancount)
{
	for (unsigned k = 0; k < ancount; k++) {
		const struct dns_rr *rr;
		struct cursor rd;
		uint32_t a;

		if (name_skip(c) < 0 || !(rr = cur_pull(c, sizeof(*rr))) || cur_sub(c, ntohs(rr->rdlength), &rd) < 0)
			return -1;
		if (ntohs(rr->type) != DNS_TYPE_A || ntohs(rr->class) != DNS_CLASS_IN || ntohs(rr->rdlength) != 4)
			continue;
		if (cur_copy(&rd, &a, 4) < 0)
			return -1;
		if (!r->o.has_expect || a == r->o.expect)
			return 0;
	}
	return -1;
}

/*
 * Check a response against the outstanding queries of the pass (indices
 * first..first+count-1). Return: the query index it answers, -1 when it is
 * invalid (bad), -2 when it answers nothing outstanding (stray).
 */
static long answer_check(const struct run *r, const uint8_t *buf, size_t len, unsigned first, unsigned count)
{
	struct cursor c = cur_init(buf, len);
	const struct dns_hdr *h = cur_pull(&c, sizeof(*h));
	uint8_t qname[DNS_NAME_MAX];
	const uint8_t *q;
	unsigned i;
	size_t ql;
	uint16_t flags;

	if (!h)
		return -1;
	i = (uint16_t)(ntohs(h->id) - r->id_base);
	if (i < first || i >= first + count || !r->sent_at[ntohs(h->id)])
		return -2;
	flags = ntohs(h->flags);
	if (!(flags & DNS_FLAG_QR) || (flags & DNS_OPCODE_MASK) || (flags & DNS_RCODE_MASK) || ntohs(h->qdcount) != 1 ||
	    ntohs(h->ancount) < 1)
		return -1;
	ql = query_qname(r, i, qname);
	q = cur_pull(&c, ql);
	if (!ql || !q || !name_eq(q, qname, ql) || !cur_pull(&c, 4))
		return -1; /* not our question */
	return answer_has_a(r, &c, ntohs(h->ancount)) < 0 ? -1 : (long)i;
}

/*
 * Read every waiting response; valid answers to queries first..first+count-1
 * are taken off the outstanding set (their latency into lat when non-NULL).
 * Return: how many answers were taken.
 */
static unsigned answers_recv(struct run *r, struct pass *p, unsigned first, unsigned count, double *lat)
{
	uint8_t buf[DNS_MSG_MAX];
	unsigned taken = 0;

	for (unsigned k = 0; k < DNSB_RECV_BUDGET; k++) {
		ssize_t n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT);
		double now = now_sec();
		long i;

		if (n < 0) {
			if (errno == ECONNREFUSED) /* ICMP port unreachable: nobody listens */
				p->refused++;
			return taken;
		}
		i = answer_check(r, buf, (size_t)n, first, count);
		if (i == -2) {
			p->stray++;
			continue;
		}
		if (i < 0) {
			p->bad++;
			continue;
		}
		if (lat)
			lat[p->answered] = now - r->sent_at[query_id(r, (unsigned)i)];
		r->sent_at[query_id(r, (unsigned)i)] = 0;
		p->answered++;
		p->last = now;
		taken++;
	}
	return taken;
}

/* Wait for readable, at most secs. */
static void wait_readable(int fd, double secs)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	(void)poll(&pfd, 1, secs > 0 ? (int)(secs * 1000) + 1 : 0);
}

/* Pass 1: one query at a time. */
static void pass_latency(struct run *r)
{
	struct pass *p = &r->seq;
	double deadline = now_sec() + r->o.limit;

	p->first = now_sec();
	for (unsigned i = 0; i < r->o.seq && now_sec() < deadline; i++) {
		double t = now_sec(), end = t + r->o.timeout;
		unsigned refused = p->refused;

		p->sent++;
		if (query_send(r, i, t) < 0) {
			p->lost++;
			continue;
		}
		while (r->sent_at[query_id(r, i)] && now_sec() < end && p->refused == refused) {
			wait_readable(r->fd, end - now_sec());
			answers_recv(r, p, i, 1, r->lat);
		}
		if (r->sent_at[query_id(r, i)]) {
			r->sent_at[query_id(r, i)] = 0;
			p->lost++;
		}
	}
}

/* Pass 2: up to o.window outstanding; queries are numbered from the latency pass's end so IDs differ. */
static void pass_rate(struct run *r)
{
	struct pass *p = &r->rate;
	unsigned first = r->o.seq, total = r->o.total, next = 0, out = 0, lo = 0;
	double deadline = now_sec() + r->o.limit;

	if (!total)
		return;
	if (first + total > DNSB_MAX_QUERIES)
		first = 0; /* IDs of the latency pass may be reused: it has no query outstanding */
	p->first = now_sec();
	while ((next < total || out) && now_sec() < deadline) {
		double now = now_sec();

		while (out < r->o.window && next < total) {
			p->sent++;
			if (query_send(r, first + next++, now) < 0)
				p->lost++;
			else
				out++;
		}
		/* Expire in order of sending: the oldest outstanding query is the first to time out. */
		for (; lo < next; lo++) {
			uint16_t id = query_id(r, first + lo);

			if (!r->sent_at[id])
				continue;
			if (r->sent_at[id] + r->o.timeout > now)
				break;
			r->sent_at[id] = 0;
			p->lost++;
			out--;
		}
		if (!out)
			continue;
		wait_readable(r->fd, lo < next ? r->sent_at[query_id(r, first + lo)] + r->o.timeout - now : 0);
		out -= answers_recv(r, p, first, next, NULL);
	}
	p->lost += out; /* outstanding at the limit */
	p->sent += total - next;
	p->lost += total - next;
}

static void report(struct run *r)
{
	const struct pass *s = &r->seq, *t = &r->rate;
	double span = t->last > t->first ? t->last - t->first : 0;
	double qps = span > 0 ? t->answered / span : 0;

	qsort(r->lat, s->answered, sizeof(*r->lat), stats_cmp_double);
	printf("RESULT impl=dns server=%s unique=%d queries=%u answered=%u lost=%u bad=%u stray=%u refused=%u lat_med_ms=%.3f "
	       "lat_p99_ms=%.3f lat_max_ms=%.3f rate_queries=%u rate_window=%u rate_answered=%u rate_lost=%u "
	       "rate_bad=%u rate_secs=%.4f qps=%.1f%s%s\n",
	       r->o.server, r->o.unique, s->sent, s->answered, s->lost, s->bad, s->stray, s->refused + t->refused,
	       stats_percentile(r->lat, s->answered, 50) * 1e3, stats_percentile(r->lat, s->answered, 99) * 1e3,
	       stats_percentile(r->lat, s->answered, 100) * 1e3, t->sent, r->o.window, t->answered, t->lost, t->bad, span,
	       qps, r->o.label ? " label=" : "", r->o.label ? r->o.label : "");
	fprintf(stderr, "bench_dns %s: %u/%u answered, median %.3f ms p99 %.3f ms; %u/%u at window %u: %.0f qps\n",
		r->o.server, s->answered, s->sent, stats_percentile(r->lat, s->answered, 50) * 1e3,
		stats_percentile(r->lat, s->answered, 99) * 1e3, t->answered, t->sent, r->o.window, qps);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct run r = { 0 };
	uint8_t rnd[6];

	parse_opts(argc, argv, &r.o);
	r.sent_at = calloc(65536, sizeof(*r.sent_at));
	r.lat = calloc(r.o.seq, sizeof(*r.lat));
	if (!r.sent_at || !r.lat) {
		fprintf(stderr, "bench_dns: out of memory\n");
		return 1;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = (uint64_t)(now_sec() * 1e9) ^ (uint64_t)getpid();

		memcpy(rnd, &t, sizeof(rnd));
	}
	memcpy(&r.tag, rnd, sizeof(r.tag));
	memcpy(&r.id_base, rnd + 4, sizeof(r.id_base));
	r.fd = socket(r.o.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (r.fd < 0 || connect(r.fd, (struct sockaddr *)&r.o.addr, r.o.addrlen) < 0) {
		fprintf(stderr, "bench_dns: %s: %s\n", r.o.server, strerror(errno));
		return 1;
	}
	pass_latency(&r);
	pass_rate(&r);
	report(&r);
	close(r.fd);
	free(r.sent_at);
	free(r.lat);
	return r.seq.answered || r.rate.answered ? 0 : 1;
}
