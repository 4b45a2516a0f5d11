/*
 * dns.c — the DNS proxy on the gateway address (dns.h): guest frames in,
 * upstream UDP sockets, answers out. DNS over TCP is in dns_tcp.c.
 *
 * Theory of operation
 *
 * Input. The gateway hands dns_input() a private copy of each frame to port
 * 53 of one of its addresses. Everything is checked again here through one
 * cursor: Ethernet, IPv4 (version, header length, header checksum, total
 * length inside the frame, no fragments) or IPv6 (payload length inside the
 * frame, UDP or TCP as the first next header: extension headers are not
 * served), the destination (one of the gateway's addresses), a sane source
 * (unicast MAC, no unspecified, broadcast, multicast or loopback address),
 * then the transport: UDP length inside the datagram and its checksum (zero
 * means "none" over IPv4 only, RFC 768; RFC 8200 §8.1 forbids it over IPv6),
 * or the TCP checksum before dns_tcp.c sees the segment. A bad frame is
 * counted (stats.dropped) and dropped with a debug log, never answered.
 *
 * Queries. A query must have QR clear, opcode QUERY and exactly one
 * uncompressed question (RFC 1035 §4.1.2); anything else is dropped. Each
 * query gets a fresh random 16-bit ID, unused among the pending queries, and
 * goes to the first upstream from one of the proxy's own unconnected,
 * nonblocking UDP sockets (one per address family, on a port the kernel
 * picks: the proxy never binds port 53 and is no open resolver). The ID
 * replaces the guest's in the forwarded copy; nothing else changes, EDNS
 * options included.
 *
 * Pending table. DNS_PENDING_MAX entries allocated at dns_proxy_new, a free
 * list, an age list and an index by proxy ID (65536 slots of 16 bits). When
 * the table is full the oldest query is evicted (stats.evicted) for the new
 * one: the oldest is the likeliest to have been lost anyway, and a flood
 * then costs the flooder its own queries rather than locking newcomers out
 * for the whole timeout. An entry keeps the first DNS_KEEP_MAX bytes of its
 * query (the question always lies within them) so that it can be sent again.
 *
 * Timeouts (dns_tick, once a second). A query without an answer for
 * DNS_RETRY_AFTER seconds goes to the next upstream (round robin; the same
 * one again when there is only one; not at all when it was longer than
 * DNS_KEEP_MAX); after DNS_GIVE_UP seconds it is dropped and the guest gets
 * nothing (stats.timeouts). Silence rather than SERVFAIL: to the guest's stub
 * resolver it looks like a lost datagram, so it retries or moves to its next
 * server on its own schedule, and no stub caches a failure that was ours.
 *
 * Answers. A datagram on an upstream socket is taken when its ID names a
 * pending query (else stats.mismatched: usually a late answer to a query
 * already answered by another upstream), it comes from the address and port
 * of an upstream that query was sent to (else stats.bad_source, and the
 * query stays pending: a spoofed answer must not cancel it), and it is an
 * answer to the same question (else stats.mismatched). It is relayed byte
 * for byte, the guest's ID restored, from the gateway address the guest
 * queried. Size (RFC 1035 §4.2.1, RFC 6891 §6.2.5): the guest takes its
 * EDNS0 payload size or 512 bytes, whichever is larger, and a frame takes
 * 1472 (IPv4) or 1452 (IPv6) bytes of DNS: no IP fragmentation here. An
 * answer larger than either is replaced by its header, TC set and counts
 * cleared, and the question (stats.truncated), so the guest retries over
 * TCP. A truncated answer from the upstream (TC set) that fits is relayed as
 * it is.
 *
 * Upstreams. cfg->upstreams, or the nameserver lines of cfg->resolv_conf
 * (default /etc/resolv.conf), at most DNS_UPSTREAM_MAX. The file is looked at
 * (stat) at most once a second from dns_tick and read again when its inode,
 * size or mtime changed; with no nameserver line, or no file, the upstream is
 * 127.0.0.1 as resolv.conf(5) specifies. A new list drops the pending UDP
 * queries (their guests retry). The source check keeps a single socket per
 * family safe enough for an upstream on the host or the local network: an
 * off-path attacker must guess the port, a random ID and the question.
 *
 * Memory: everything is allocated in dns_proxy_new (and per TCP connection
 * in dns_tcp.c); nothing per packet. The proxy is freed with
 * loop_defer_free, since its event sources live in it.
 */
#include "engine/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/csum.h"
#include "common/cursor.h"
#include "common/log.h"
#include "engine/loop.h"
#include "engine/wire.h"

#define DNS_RESOLV_DEFAULT "/etc/resolv.conf"
#define DNS_FRAME_MAX 1514
#define DNS_UDP_MIN 512        /* RFC 1035 §4.2.1: what every client takes over UDP */
#define DNS_KEEP_MAX 512       /* queries up to this size are kept for a retry */
#define DNS_RECV_MAX 65536     /* larger than any UDP payload: upstream datagrams are never cut */
#define DNS_RECV_BATCH 64      /* datagrams read per event (level-triggered: the rest come next time) */
#define DNS_ID_TRIES 8         /* draws for an unused ID: failing 8 times in a row is (1/64)^8 */
#define DNS_RAND_POOL 256
#define DNS_NIL 0xffff
#define DNS_IPV4_DF 0x4000     /* RFC 791 "don't fragment" */
#define DNS_TTL 64
#define DNS_NAME_WIRE_MAX 255  /* RFC 1035 §3.1: a name on the wire, length octets included */

static_assert(DNS_PENDING_MAX < DNS_NIL, "pending indices are 16-bit with a nil value");
static_assert(DNS_UPSTREAM_MAX <= 8, "tried upstreams are a byte of bits");
static_assert(DNS_KEEP_MAX >= 12 + DNS_NAME_WIRE_MAX + 4, "the question lies in the kept bytes");

/* The message header (RFC 1035 §4.1.1). */
struct dns_hdr {
	uint16_t id, flags, qdcount, ancount, nscount, arcount;
} __attribute__((packed));
static_assert(sizeof(struct dns_hdr) == 12, "RFC 1035 §4.1.1");

#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_TC 0x0200
#define DNS_OPCODE_MASK 0x7800 /* QUERY is 0 */
#define DNS_TYPE_OPT 41        /* RFC 6891 §6.1.1 */
#define DNS_LABEL_MAX 63       /* RFC 1035 §2.3.4; 0x40 and 0x80 are other label types, 0xc0 a pointer */
#define DNS_PTR 0xc0

/* A query waiting for its answer. */
struct dns_query {
	struct dns_flow flow;
	bool used;
	uint16_t id, guest_id; /* ours (upstream side) and the guest's */
	uint16_t limit;        /* largest answer the guest takes over UDP */
	uint16_t len;          /* the query's length: msg[] holds it all when <= DNS_KEEP_MAX */
	uint16_t qlen;         /* its question's, at msg[12] */
	uint8_t tried;         /* bit i: sent to upstream i */
	uint8_t up;            /* the upstream it went to last */
	uint16_t prev, next;   /* age list (used) or free list (next only) */
	uint64_t born, sent;
	uint8_t msg[DNS_KEEP_MAX]; /* with our ID */
};

/* The identity of the resolver file as last read. */
struct dns_file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct dns_proxy {
	uint8_t mac[ETH_ALEN];
	struct in_addr addr4;
	bool has_addr6;
	uint8_t addr6[2][16];
	void (*send)(void *ctx, const uint8_t *frame, size_t len);
	void *ctx;
	char *resolv_conf; /* NULL: the upstreams were given */
	struct dns_file_sig sig;
	uint64_t checked_at;
	unsigned nup;
	struct sockaddr_storage up[DNS_UPSTREAM_MAX];
	struct loop_src udp[2]; /* upstream sockets, [0] IPv4 and [1] IPv6; fd -1: none */
	struct dns_query *q;    /* DNS_PENDING_MAX */
	uint16_t *by_id;        /* proxy ID -> index + 1, 0 = free */
	uint16_t oldest, newest, free;
	struct dns_tcp *tcp;
	uint16_t ip_id;
	unsigned rand_left;
	uint64_t rand_state; /* fallback generator, only before the kernel's pool is ready */
	uint8_t rand[DNS_RAND_POOL];
	struct dns_stats st;
	uint8_t frame[DNS_FRAME_MAX];
	uint8_t rx[DNS_RECV_MAX];
};

/* One guest frame being looked at. */
struct dns_in {
	struct dns_flow f;
	uint8_t proto;
	struct cursor l4; /* exactly the transport segment */
	const char *why;  /* why it was dropped */
};

static int dns_bad(struct dns_in *in, int r, const char *why)
{
	in->why = why;
	return r;
}

/* --- randomness --- */

/* SplitMix64: only while getrandom() has nothing (early boot), never for long. */
static uint64_t dns_splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void dns_random_refill(struct dns_proxy *p)
{
	struct timespec ts;

	if (getrandom(p->rand, sizeof(p->rand), GRND_NONBLOCK) == (ssize_t)sizeof(p->rand)) {
		p->rand_left = sizeof(p->rand);
		return;
	}
	if (!p->rand_state) {
		clock_gettime(CLOCK_REALTIME, &ts);
		p->rand_state = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)(uintptr_t)p;
		log_warn("dns: the kernel's random pool is not ready: query IDs are weaker until it is");
	}
	for (size_t i = 0; i < sizeof(p->rand); i += 8) {
		uint64_t v = dns_splitmix(&p->rand_state);

		memcpy(p->rand + i, &v, 8);
	}
	p->rand_left = sizeof(p->rand);
}

void dns_random(struct dns_proxy *p, void *buf, size_t n)
{
	uint8_t *b = buf;

	while (n) {
		size_t k;

		if (!p->rand_left)
			dns_random_refill(p);
		k = n < p->rand_left ? n : p->rand_left;
		memcpy(b, p->rand + sizeof(p->rand) - p->rand_left, k);
		memset(p->rand + sizeof(p->rand) - p->rand_left, 0, k); /* used once */
		p->rand_left -= (unsigned)k;
		b += k;
		n -= k;
	}
}

/* --- DNS messages --- */

/* An uncompressed name + QTYPE + QCLASS. Return: its length, or -EINVAL. */
static int dns_question_len(struct cursor *c)
{
	size_t n = 0;
	uint8_t l;

	for (;;) {
		if (cur_u8(c, &l) < 0)
			return -EINVAL;
		n++;
		if (!l)
			break;
		if (l > DNS_LABEL_MAX || !cur_pull(c, l))
			return -EINVAL; /* a pointer, a reserved label type, or past the end */
		n += l;
		if (n > DNS_NAME_WIRE_MAX)
			return -EINVAL; /* RFC 1035 §3.1: 255 octets, length octets included */
	}
	if (!cur_pull(c, 4))
		return -EINVAL;
	return (int)n + 4;
}

int dns_query_parse(struct cursor msg)
{
	const struct dns_hdr *h = cur_pull(&msg, sizeof(*h));

	if (!h || (ntohs(h->flags) & (DNS_FLAG_QR | DNS_OPCODE_MASK)) || ntohs(h->qdcount) != 1)
		return -EINVAL;
	return dns_question_len(&msg);
}

static uint8_t dns_lower(uint8_t b)
{
	return b >= 'A' && b <= 'Z' ? (uint8_t)(b + 'a' - 'A') : b;
}

bool dns_answer_matches(struct cursor msg, uint16_t id, const uint8_t *question, size_t qlen)
{
	const struct dns_hdr *h = cur_pull(&msg, sizeof(*h));
	const uint8_t *q;
	uint16_t flags;

	if (!h || qlen < 5)
		return false;
	flags = ntohs(h->flags);
	if (ntohs(h->id) != id || !(flags & DNS_FLAG_QR) || (flags & DNS_OPCODE_MASK) || ntohs(h->qdcount) != 1)
		return false;
	if (!(q = cur_pull(&msg, qlen)))
		return false;
	/* RFC 4343: names compare without regard to ASCII case. Length octets are at most 63, below
	 * 'A', so lowering cannot make two different label structures equal. */
	for (size_t i = 0; i < qlen - 4; i++)
		if (dns_lower(q[i]) != dns_lower(question[i]))
			return false;
	return !memcmp(q + qlen - 4, question + qlen - 4, 4);
}

/* A possibly compressed name (RFC 1035 §4.1.4). Return: 0, or -EINVAL. */
static int dns_skip_name(struct cursor *c)
{
	uint8_t l;

	/* Every pass consumes at least one byte: the cursor bounds the loop. */
	while (cur_u8(c, &l) == 0) {
		if (!l)
			return 0;
		if ((l & DNS_PTR) == DNS_PTR)
			return cur_pull(c, 1) ? 0 : -EINVAL;
		if (l > DNS_LABEL_MAX || !cur_pull(c, l))
			return -EINVAL;
	}
	return -EINVAL;
}

/* One resource record. Return: 0 and its type and class, or -EINVAL. */
static int dns_skip_rr(struct cursor *c, uint16_t *type, uint16_t *cls)
{
	uint16_t rdlen;

	if (dns_skip_name(c) < 0 || cur_be16(c, type) < 0 || cur_be16(c, cls) < 0 || !cur_pull(c, 4) ||
	    cur_be16(c, &rdlen) < 0 || !cur_pull(c, rdlen))
		return -EINVAL;
	return 0;
}

/*
 * The largest answer a guest's query takes over UDP: the payload size of its
 * OPT record (RFC 6891 §6.2.3), at least 512; 512 without (or with a broken) one.
 */
static uint16_t dns_udp_limit(struct cursor msg, size_t qlen)
{
	const struct dns_hdr *h = cur_pull(&msg, sizeof(*h));
	uint16_t type, cls;
	unsigned skip, ar;

	if (!h || !cur_pull(&msg, qlen))
		return DNS_UDP_MIN;
	skip = (unsigned)ntohs(h->ancount) + ntohs(h->nscount);
	ar = ntohs(h->arcount);
	for (unsigned i = 0; i < skip; i++)
		if (dns_skip_rr(&msg, &type, &cls) < 0)
			return DNS_UDP_MIN;
	for (unsigned i = 0; i < ar; i++) {
		if (dns_skip_rr(&msg, &type, &cls) < 0)
			return DNS_UDP_MIN;
		if (type == DNS_TYPE_OPT)
			return cls > DNS_UDP_MIN ? cls : DNS_UDP_MIN;
	}
	return DNS_UDP_MIN;
}

static void dns_set_id(uint8_t *msg, uint16_t id)
{
	msg[0] = (uint8_t)(id >> 8);
	msg[1] = (uint8_t)id;
}

/* --- upstream lists --- */

/* An address literal s[0..n) (IPv6 may carry %SCOPE) with a port. Return: 0, or -EINVAL. */
static int dns_addr_parse(const char *s, size_t n, uint16_t port, struct sockaddr_storage *out)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], *pct, *end;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;
	unsigned long scope;

	if (!n || n >= sizeof(buf) || !port)
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	memset(out, 0, sizeof(*out));
	if (!strchr(buf, ':')) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, buf, &s4->sin_addr) != 1)
			return -EINVAL;
		if (!s4->sin_addr.s_addr || IN_MULTICAST(ntohl(s4->sin_addr.s_addr)) ||
		    s4->sin_addr.s_addr == INADDR_BROADCAST)
			return -EINVAL;
		return 0;
	}
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	if ((pct = strchr(buf, '%'))) {
		*pct++ = 0;
		scope = strtoul(pct, &end, 10);
		if (*pct < '0' || *pct > '9' || *end || scope > UINT32_MAX)
			scope = if_nametoindex(pct);
		if (!scope)
			return -EINVAL;
		s6->sin6_scope_id = (uint32_t)scope;
	}
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1 || IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ||
	    IN6_IS_ADDR_MULTICAST(&s6->sin6_addr))
		return -EINVAL;
	return 0;
}

/* One "ADDR[#PORT]" entry, s[0..n). Return: 0, or -EINVAL. */
static int dns_upstream_entry(const char *s, size_t n, struct sockaddr_storage *out)
{
	const char *hash = memchr(s, '#', n);
	unsigned long port = DNS_PORT;
	size_t alen = hash ? (size_t)(hash - s) : n;

	if (hash) {
		size_t plen = n - alen - 1;

		if (!plen || plen > 5)
			return -EINVAL;
		port = 0;
		for (size_t i = 0; i < plen; i++) {
			if (hash[1 + i] < '0' || hash[1 + i] > '9')
				return -EINVAL;
			port = port * 10 + (unsigned long)(hash[1 + i] - '0');
		}
		if (!port || port > 65535)
			return -EINVAL;
	}
	return dns_addr_parse(s, alen, (uint16_t)port, out);
}

int dns_upstreams_parse(const char *list, struct sockaddr_storage *out, unsigned max)
{
	struct sockaddr_storage ss;
	unsigned n = 0;

	if (!list || !out || !max)
		return -EINVAL;
	for (const char *s = list;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (dns_upstream_entry(s, len, &ss) < 0)
			return -EINVAL; /* every entry must be good, those beyond max too */
		if (n < max)
			out[n++] = ss;
		if (!comma)
			break;
		s = comma + 1;
	}
	return (int)n;
}

/* One line of resolv.conf. Return: 0 and *out for a good nameserver line, else -EINVAL. */
static int dns_resolv_line(char *line, struct sockaddr_storage *out)
{
	char *save = NULL, *kw = strtok_r(line, " \t\r\n", &save), *addr;

	if (!kw || strcmp(kw, "nameserver"))
		return -EINVAL; /* another keyword, or a comment ('#' or ';') */
	addr = strtok_r(NULL, " \t\r\n", &save);
	return addr ? dns_addr_parse(addr, strlen(addr), DNS_PORT, out) : -EINVAL;
}

int dns_resolv_conf_parse(const char *path, struct sockaddr_storage *out, unsigned max)
{
	char line[512];
	unsigned n = 0;
	FILE *f;

	if (!path || !out)
		return -EINVAL;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);
		int ch;

		if (l && line[l - 1] != '\n' && !feof(f)) {
			/* An overlong line is no nameserver line: skip the rest of it. */
			while ((ch = getc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		if (n < max && dns_resolv_line(line, &out[n]) == 0)
			n++;
	}
	fclose(f);
	return (int)n;
}

static bool dns_sockaddr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)a, *b4 = (const struct sockaddr_in *)b;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a, *b6 = (const struct sockaddr_in6 *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a6->sin6_port == b6->sin6_port && !memcmp(&a6->sin6_addr, &b6->sin6_addr, 16);
}

static void dns_pending_free(struct dns_proxy *p, struct dns_query *e);

/* Install a new upstream list; pending UDP queries name upstreams by index, so they go. */
static void dns_set_upstreams(struct dns_proxy *p, const struct sockaddr_storage *up, unsigned n)
{
	bool same = n == p->nup;

	for (unsigned i = 0; same && i < n; i++)
		same = dns_sockaddr_eq(&up[i], &p->up[i]);
	if (same)
		return;
	while (p->oldest != DNS_NIL)
		dns_pending_free(p, &p->q[p->oldest]);
	memcpy(p->up, up, n * sizeof(up[0]));
	p->nup = n;
}

/* Read the resolver file again when it changed (at most once per second). */
static void dns_resolv_check(struct dns_proxy *p, uint64_t now, bool force)
{
	struct sockaddr_storage up[DNS_UPSTREAM_MAX];
	struct dns_file_sig sig;
	struct stat st;
	int n;

	if (!p->resolv_conf || (!force && now == p->checked_at))
		return;
	p->checked_at = now;
	memset(&sig, 0, sizeof(sig)); /* compared with memcmp: no stray padding bytes */
	if (stat(p->resolv_conf, &st) == 0) {
		sig.dev = st.st_dev;
		sig.ino = st.st_ino;
		sig.size = st.st_size;
		sig.mtime = st.st_mtim;
	}
	if (!force && !memcmp(&sig, &p->sig, sizeof(sig)))
		return;
	p->sig = sig;
	n = dns_resolv_conf_parse(p->resolv_conf, up, DNS_UPSTREAM_MAX);
	if (n <= 0) {
		/* resolv.conf(5): no nameserver line means the server on the local machine. */
		dns_upstream_entry("127.0.0.1", 9, &up[0]);
		n = 1;
		log_info("dns: no nameserver in %s: using 127.0.0.1", p->resolv_conf);
	} else if (!force) {
		log_info("dns: %s changed: %d upstream%s", p->resolv_conf, n, n == 1 ? "" : "s");
	}
	dns_set_upstreams(p, up, (unsigned)n);
}

const struct sockaddr_storage *dns_upstream(const struct dns_proxy *p, unsigned i)
{
	return i < p->nup ? &p->up[i] : NULL;
}

unsigned dns_upstream_count(const struct dns_proxy *p)
{
	return p->nup;
}

unsigned dns_proxy_upstreams(const struct dns_proxy *p, struct sockaddr_storage *out, unsigned max)
{
	unsigned n;

	if (!p || !out)
		return 0;
	n = p->nup < max ? p->nup : max;
	memcpy(out, p->up, n * sizeof(out[0]));
	return n;
}

struct dns_stats *dns_stats_of(struct dns_proxy *p)
{
	return &p->st;
}

void dns_proxy_stats(const struct dns_proxy *p, struct dns_stats *out)
{
	if (p && out)
		*out = p->st;
}

/* --- frames to guests --- */

static uint32_t dns_pseudo(const struct dns_flow *f, uint8_t proto, size_t len)
{
	uint32_t a, b;

	if (f->v6)
		return csum_ipv6_pseudo(f->guest, f->gw, proto, (uint32_t)len);
	memcpy(&a, f->guest, 4);
	memcpy(&b, f->gw, 4);
	return csum_ipv4_pseudo(a, b, proto, (uint16_t)len);
}

static void dns_put_ip(struct dns_proxy *p, struct writer *w, const struct dns_flow *f, uint8_t proto, size_t l4len)
{
	struct ipv4_hdr *ip4;
	struct ipv6_hdr *ip6;

	if (f->v6) {
		if (!(ip6 = wr_put(w, sizeof(*ip6))))
			return;
		memset(ip6, 0, sizeof(*ip6));
		ip6->ver_tc_flow = htonl(6u << 28);
		ip6->payload_len = htons((uint16_t)l4len);
		ip6->next = proto;
		ip6->hop_limit = DNS_TTL;
		memcpy(ip6->saddr, f->gw, 16);
		memcpy(ip6->daddr, f->guest, 16);
		return;
	}
	if (!(ip4 = wr_put(w, sizeof(*ip4))))
		return;
	memset(ip4, 0, sizeof(*ip4));
	ip4->ver_ihl = 0x45;
	ip4->tot_len = htons((uint16_t)(sizeof(*ip4) + l4len));
	ip4->id = htons(p->ip_id++);
	ip4->frag_off = htons(DNS_IPV4_DF);
	ip4->ttl = DNS_TTL;
	ip4->proto = proto;
	memcpy(&ip4->saddr, f->gw, 4);
	memcpy(&ip4->daddr, f->guest, 4);
	ip4->check = htons(csum_fold(csum_partial(ip4, sizeof(*ip4), 0)));
}

int dns_emit(struct dns_proxy *p, const struct dns_flow *f, uint8_t proto, void *hdr, size_t hlen,
	     const void *data, size_t dlen)
{
	size_t iplen = f->v6 ? sizeof(struct ipv6_hdr) : sizeof(struct ipv4_hdr), l4len = hlen + dlen;
	size_t at = proto == IPPROTO_UDP_ ? offsetof(struct udp_hdr, check) : offsetof(struct tcp_hdr, check);
	struct writer w = wr_init(p->frame, sizeof(p->frame));
	struct eth_hdr *eth = wr_put(&w, sizeof(*eth));
	uint8_t *h = hdr; /* our own header: the checksum goes in by bytes, whatever its alignment */
	uint16_t sum;

	assert(proto == IPPROTO_UDP_ ? hlen == sizeof(struct udp_hdr) : hlen >= sizeof(struct tcp_hdr));
	assert(hlen % 2 == 0); /* header and data are summed apart */
	if (l4len > sizeof(p->frame) - ETH_HLEN - iplen)
		return -EMSGSIZE;
	memcpy(eth->dst, f->mac, ETH_ALEN);
	memcpy(eth->src, p->mac, ETH_ALEN);
	eth->type = htons(f->v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
	dns_put_ip(p, &w, f, proto, l4len);
	h[at] = h[at + 1] = 0;
	sum = csum_fold(csum_partial(data, dlen, csum_partial(hdr, hlen, dns_pseudo(f, proto, l4len))));
	if (proto == IPPROTO_UDP_ && !sum)
		sum = 0xffff; /* RFC 768: a computed zero is sent as all ones */
	h[at] = (uint8_t)(sum >> 8);
	h[at + 1] = (uint8_t)sum;
	wr_bytes(&w, hdr, hlen);
	if (dlen)
		wr_bytes(&w, data, dlen);
	assert(!w.bad);
	p->send(p->ctx, p->frame, w.len);
	return 0;
}

/* --- the pending table --- */

static void dns_pending_free(struct dns_proxy *p, struct dns_query *e)
{
	uint16_t i = (uint16_t)(e - p->q);

	assert(e->used);
	if (e->prev != DNS_NIL)
		p->q[e->prev].next = e->next;
	else
		p->oldest = e->next;
	if (e->next != DNS_NIL)
		p->q[e->next].prev = e->prev;
	else
		p->newest = e->prev;
	p->by_id[e->id] = 0;
	e->used = false;
	e->next = p->free;
	p->free = i;
}

/* A free entry with an unused ID, at the young end. Return: it, or NULL (IDs exhausted, in theory). */
static struct dns_query *dns_pending_new(struct dns_proxy *p)
{
	struct dns_query *e;
	uint16_t id, i;
	int k;

	for (k = 0; k < DNS_ID_TRIES; k++) {
		dns_random(p, &id, sizeof(id));
		if (!p->by_id[id])
			break;
	}
	if (k == DNS_ID_TRIES)
		return NULL;
	if (p->free == DNS_NIL) {
		p->st.evicted++;
		dns_pending_free(p, &p->q[p->oldest]);
	}
	i = p->free;
	e = &p->q[i];
	p->free = e->next;
	memset(e, 0, offsetof(struct dns_query, msg));
	e->used = true;
	e->id = id;
	e->prev = p->newest;
	e->next = DNS_NIL;
	if (p->newest != DNS_NIL)
		p->q[p->newest].next = i;
	else
		p->oldest = i;
	p->newest = i;
	p->by_id[id] = (uint16_t)(i + 1);
	return e;
}

/*
 * Send query msg[0..len) (our ID in it) to upstream e->up or the next that
 * takes it. Return: 0, or -errno when no upstream could be sent to.
 */
static int dns_udp_forward(struct dns_proxy *p, struct dns_query *e, const uint8_t *msg, size_t len)
{
	int r = -ENETUNREACH;

	for (unsigned k = 0; k < p->nup; k++) {
		unsigned i = (e->up + k) % p->nup;
		const struct sockaddr_storage *ss = &p->up[i];
		int fd = p->udp[ss->ss_family == AF_INET6].fd;
		socklen_t sl = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

		if (fd < 0)
			continue; /* no IPv6 on this host */
		if (sendto(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)ss, sl) < 0 &&
		    errno != EAGAIN && errno != ENOBUFS) {
			r = -errno;
			continue; /* unreachable: try the next; a full buffer counts as a loss, retried later */
		}
		e->up = (uint8_t)i;
		e->tried |= (uint8_t)(1u << i);
		return 0;
	}
	return r;
}

/* A guest's UDP query (the DNS message). Return: 0 or -errno. */
static int dns_udp_query(struct dns_proxy *p, struct dns_in *in, struct cursor msg, uint64_t now)
{
	int qlen = dns_query_parse(msg);
	struct cursor m = msg;
	const uint8_t *raw;
	struct dns_query *e;
	size_t len = msg.left;
	uint16_t gid;
	int r;

	if (qlen < 0)
		return dns_bad(in, qlen, "not a query with one question");
	if (!p->nup)
		return dns_bad(in, -ENETUNREACH, "no upstream");
	if (!(e = dns_pending_new(p)))
		return dns_bad(in, -EAGAIN, "no free query ID");
	raw = cur_pull(&m, len);
	cur_be16(&msg, &gid);
	e->flow = in->f;
	e->guest_id = gid;
	e->limit = dns_udp_limit(cur_init(raw, len), (size_t)qlen);
	e->len = (uint16_t)len;
	e->qlen = (uint16_t)qlen;
	e->born = e->sent = now;
	if (len <= DNS_KEEP_MAX) {
		memcpy(e->msg, raw, len);
	} else {
		/* Too long to keep: forwarded from the receive buffer (idle now), never sent again. */
		memcpy(p->rx, raw, len);
		memcpy(e->msg, raw, DNS_KEEP_MAX);
		dns_set_id(p->rx, e->id);
	}
	dns_set_id(e->msg, e->id);
	r = dns_udp_forward(p, e, len <= DNS_KEEP_MAX ? e->msg : p->rx, len);
	if (r < 0) {
		dns_pending_free(p, e);
		return dns_bad(in, r, "no upstream reachable");
	}
	p->st.queries++;
	return 0;
}

/* The UDP datagram of a guest frame. Return: 0 or -errno. */
static int dns_udp_input(struct dns_proxy *p, struct dns_in *in, uint64_t now)
{
	struct cursor c = in->l4, whole = in->l4, msg;
	const struct udp_hdr *uh = cur_pull(&c, sizeof(*uh));
	const void *seg;
	size_t ulen;

	if (!uh)
		return dns_bad(in, -EINVAL, "short UDP header");
	ulen = ntohs(uh->len);
	if (ulen < sizeof(*uh) || ulen - sizeof(*uh) > c.left)
		return dns_bad(in, -EINVAL, "bad UDP length");
	if (uh->check || in->f.v6) {
		seg = cur_pull(&whole, ulen);
		if (csum_fold(csum_partial(seg, ulen, dns_pseudo(&in->f, IPPROTO_UDP_, ulen))) != 0)
			return dns_bad(in, -EINVAL, "bad UDP checksum");
	}
	if (cur_sub(&c, ulen - sizeof(*uh), &msg) < 0)
		return dns_bad(in, -EINVAL, "bad UDP length");
	return dns_udp_query(p, in, msg, now);
}

/* --- answers from upstreams --- */

static bool dns_from_tried(const struct dns_proxy *p, const struct dns_query *e, const struct sockaddr_storage *from)
{
	for (unsigned i = 0; i < p->nup; i++)
		if ((e->tried & (1u << i)) && dns_sockaddr_eq(from, &p->up[i]))
			return true;
	return false;
}

/* Relay answer ans[0..n) (our buffer) to the guest of e, or its TC stand-in when it is too large. */
static void dns_udp_reply(struct dns_proxy *p, const struct dns_query *e, uint8_t *ans, size_t n)
{
	size_t room = DNS_FRAME_MAX - ETH_HLEN - sizeof(struct udp_hdr) -
		      (e->flow.v6 ? sizeof(struct ipv6_hdr) : sizeof(struct ipv4_hdr));
	size_t limit = e->limit < room ? e->limit : room;
	uint8_t tc[sizeof(struct dns_hdr) + DNS_KEEP_MAX];
	struct udp_hdr uh;
	struct dns_hdr *h;

	if (n > limit) {
		/* RFC 2181 §9: header and question, TC set; the guest asks again over TCP. */
		memcpy(tc, ans, sizeof(*h));
		h = (struct dns_hdr *)(void *)tc;
		h->flags |= htons(DNS_FLAG_TC);
		h->ancount = h->nscount = h->arcount = 0;
		memcpy(tc + sizeof(*h), e->msg + sizeof(*h), e->qlen);
		ans = tc;
		n = sizeof(*h) + e->qlen;
		p->st.truncated++;
	}
	dns_set_id(ans, e->guest_id);
	uh.sport = htons(DNS_PORT);
	uh.dport = htons(e->flow.port);
	uh.len = htons((uint16_t)(sizeof(uh) + n));
	uh.check = 0;
	if (dns_emit(p, &e->flow, IPPROTO_UDP_, &uh, sizeof(uh), ans, n) == 0)
		p->st.answers++;
}

static void dns_udp_answer(struct dns_proxy *p, const struct sockaddr_storage *from, uint8_t *buf, size_t n)
{
	struct cursor c = cur_init(buf, n);
	struct dns_query *e;
	uint16_t id, i;

	if (cur_be16(&c, &id) < 0 || !(i = p->by_id[id])) {
		p->st.mismatched++;
		log_debug("dns: dropped an upstream datagram: no query with its ID");
		return;
	}
	e = &p->q[i - 1];
	if (!dns_from_tried(p, e, from)) {
		p->st.bad_source++;
		log_debug("dns: dropped an upstream datagram: not from an upstream of the query");
		return;
	}
	if (!dns_answer_matches(cur_init(buf, n), id, e->msg + sizeof(struct dns_hdr), e->qlen)) {
		p->st.mismatched++;
		log_debug("dns: dropped an upstream datagram: not an answer to the question asked");
		return;
	}
	dns_udp_reply(p, e, buf, n);
	dns_pending_free(p, e);
}

/* EV_CALLBACK of an upstream UDP socket. */
static void dns_udp_ready(struct loop_src *s, uint32_t events)
{
	struct dns_proxy *p = s->obj;

	for (int k = 0; k < DNS_RECV_BATCH; k++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		memset(&from, 0, sizeof(from));
		n = recvfrom(s->fd, p->rx, sizeof(p->rx), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* EAGAIN: drained; anything else: try again on the next event */
		}
		dns_udp_answer(p, &from, p->rx, (size_t)n);
	}
}

/* --- guest frames --- */

static bool dns_is_gw6(const struct dns_proxy *p, const uint8_t a[16])
{
	static const uint8_t zero[16];

	if (!p->has_addr6)
		return false;
	for (int i = 0; i < 2; i++)
		if (memcmp(p->addr6[i], zero, 16) && !memcmp(p->addr6[i], a, 16))
			return true;
	return false;
}

static int dns_parse_ipv4(struct dns_proxy *p, struct cursor *c, struct dns_in *in)
{
	const struct ipv4_hdr *ip = cur_pull(c, sizeof(*ip));
	const void *opts;
	size_t ihl, tot;
	uint32_t src;

	if (!ip)
		return dns_bad(in, -EINVAL, "short IPv4 header");
	ihl = (size_t)(ip->ver_ihl & 0x0f) * 4;
	tot = ntohs(ip->tot_len);
	/* The datagram must lie inside the frame; what follows it is Ethernet padding. */
	if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip) || tot < ihl || tot - sizeof(*ip) > c->left ||
	    !(opts = cur_pull(c, ihl - sizeof(*ip))))
		return dns_bad(in, -EINVAL, "bad IPv4 lengths");
	if (csum_fold(csum_partial(opts, ihl - sizeof(*ip), csum_partial(ip, sizeof(*ip), 0))) != 0)
		return dns_bad(in, -EINVAL, "bad IPv4 header checksum");
	if (ntohs(ip->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK))
		return dns_bad(in, -EINVAL, "fragment");
	if (!p->addr4.s_addr || ip->daddr != p->addr4.s_addr)
		return dns_bad(in, -EPROTO, "not to the gateway's IPv4 address");
	src = ntohl(ip->saddr);
	if (!src || src == INADDR_BROADCAST || IN_MULTICAST(src) || (src >> 24) == IN_LOOPBACKNET)
		return dns_bad(in, -EINVAL, "bad IPv4 source");
	in->proto = ip->proto;
	memcpy(in->f.guest, &ip->saddr, 4);
	memcpy(in->f.gw, &ip->daddr, 4);
	return cur_sub(c, tot - ihl, &in->l4) < 0 ? dns_bad(in, -EINVAL, "bad IPv4 lengths") : 0;
}

static int dns_parse_ipv6(struct dns_proxy *p, struct cursor *c, struct dns_in *in)
{
	const struct ipv6_hdr *ip = cur_pull(c, sizeof(*ip));
	struct in6_addr src;

	if (!ip)
		return dns_bad(in, -EINVAL, "short IPv6 header");
	if ((ntohl(ip->ver_tc_flow) >> 28) != 6 || cur_sub(c, ntohs(ip->payload_len), &in->l4) < 0)
		return dns_bad(in, -EINVAL, "bad IPv6 version or length");
	if (!dns_is_gw6(p, ip->daddr))
		return dns_bad(in, -EPROTO, "not to a gateway IPv6 address");
	memcpy(&src, ip->saddr, 16);
	if (IN6_IS_ADDR_UNSPECIFIED(&src) || IN6_IS_ADDR_MULTICAST(&src) || IN6_IS_ADDR_LOOPBACK(&src) ||
	    IN6_IS_ADDR_V4MAPPED(&src))
		return dns_bad(in, -EINVAL, "bad IPv6 source");
	in->f.v6 = true;
	in->proto = ip->next; /* extension headers (fragments included) are not served */
	memcpy(in->f.guest, ip->saddr, 16);
	memcpy(in->f.gw, ip->daddr, 16);
	return 0;
}

/* Ethernet and IP down to the transport segment, ports checked. Return: 0 or -errno (in->why). */
static int dns_parse(struct dns_proxy *p, const uint8_t *frame, size_t len, struct dns_in *in)
{
	struct cursor c = cur_init(frame, len), t;
	const struct eth_hdr *eth = cur_pull(&c, sizeof(*eth));
	uint16_t sport, dport;
	int r;

	memset(in, 0, sizeof(*in));
	if (!eth)
		return dns_bad(in, -EINVAL, "short Ethernet header");
	if ((eth->src[0] & 1) || !memcmp(eth->src, (const uint8_t[ETH_ALEN]){ 0 }, ETH_ALEN))
		return dns_bad(in, -EINVAL, "bad source MAC");
	memcpy(in->f.mac, eth->src, ETH_ALEN);
	if (eth->type == htons(ETHERTYPE_IPV4))
		r = dns_parse_ipv4(p, &c, in);
	else if (eth->type == htons(ETHERTYPE_IPV6))
		r = dns_parse_ipv6(p, &c, in);
	else
		r = dns_bad(in, -EPROTO, "not IP");
	if (r < 0)
		return r;
	if (in->proto != IPPROTO_UDP_ && in->proto != IPPROTO_TCP_)
		return dns_bad(in, -EPROTO, "not UDP or TCP");
	t = in->l4; /* both headers start with the ports */
	if (cur_be16(&t, &sport) < 0 || cur_be16(&t, &dport) < 0)
		return dns_bad(in, -EINVAL, "short transport header");
	if (dport != DNS_PORT || !sport)
		return dns_bad(in, -EPROTO, "not from a port to port 53");
	in->f.port = sport;
	return 0;
}

/* The TCP segment of a guest frame: checksum, then dns_tcp.c. Return: 0 or -errno. */
static int dns_tcp_seg(struct dns_proxy *p, struct dns_in *in, uint64_t now)
{
	struct cursor c = in->l4;
	size_t n = c.left;
	const void *seg = cur_pull(&c, n);

	if (n < sizeof(struct tcp_hdr) || csum_fold(csum_partial(seg, n, dns_pseudo(&in->f, IPPROTO_TCP_, n))) != 0)
		return dns_bad(in, -EINVAL, "short TCP segment or bad checksum");
	dns_tcp_input(p->tcp, &in->f, in->l4, now);
	return 0;
}

void dns_input(struct dns_proxy *p, const uint8_t *frame, size_t len, uint64_t now)
{
	struct dns_in in;
	int r;

	if (!p)
		return;
	r = dns_parse(p, frame, len, &in);
	if (r == 0)
		r = in.proto == IPPROTO_UDP_ ? dns_udp_input(p, &in, now) : dns_tcp_seg(p, &in, now);
	if (r < 0) {
		p->st.dropped++;
		log_debug("dns: dropped a guest frame: %s", in.why ? in.why : strerror(-r));
	}
}

void dns_tick(struct dns_proxy *p, uint64_t now)
{
	uint16_t i, next;

	if (!p)
		return;
	dns_resolv_check(p, now, false);
	for (i = p->oldest; i != DNS_NIL; i = next) {
		struct dns_query *e = &p->q[i];

		next = e->next;
		if (now >= e->born + DNS_GIVE_UP) {
			p->st.timeouts++;
			dns_pending_free(p, e);
		} else if (now >= e->sent + DNS_RETRY_AFTER && e->len <= DNS_KEEP_MAX && p->nup) {
			e->sent = now;
			e->up = (uint8_t)((e->up + 1) % p->nup);
			dns_udp_forward(p, e, e->msg, e->len); /* failing now, it may still be answered */
		}
	}
	dns_tcp_tick(p->tcp, now);
}

/* --- set-up --- */

/* An upstream socket of one family, in the event loop. Return: 0 or -errno. */
static int dns_udp_open(struct dns_proxy *p, int family)
{
	struct loop_src *s = &p->udp[family == AF_INET6];
	int one = 1, r;

	s->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	s->type = EV_CALLBACK;
	s->cb = dns_udp_ready;
	s->obj = p;
	r = loop_add(s, EPOLLIN);
	if (r < 0) {
		close(s->fd);
		s->fd = -1;
	}
	return r;
}

static int dns_proxy_setup(struct dns_proxy *p, const struct dns_config *cfg)
{
	int r;

	memcpy(p->mac, cfg->mac, ETH_ALEN);
	p->addr4 = cfg->addr4;
	p->has_addr6 = cfg->has_addr6;
	memcpy(p->addr6, cfg->addr6, sizeof(p->addr6));
	p->send = cfg->send;
	p->ctx = cfg->ctx;
	p->q = calloc(DNS_PENDING_MAX, sizeof(*p->q));
	p->by_id = calloc(UINT16_MAX + 1, sizeof(*p->by_id));
	if (!p->q || !p->by_id)
		return -ENOMEM;
	p->oldest = p->newest = DNS_NIL;
	p->free = 0;
	for (unsigned i = 0; i < DNS_PENDING_MAX; i++)
		p->q[i].next = (uint16_t)(i + 1 < DNS_PENDING_MAX ? i + 1 : DNS_NIL);
	if (cfg->upstreams) {
		r = dns_upstreams_parse(cfg->upstreams, p->up, DNS_UPSTREAM_MAX);
		if (r < 0)
			return r;
		p->nup = (unsigned)r;
	} else {
		p->resolv_conf = strdup(cfg->resolv_conf ? cfg->resolv_conf : DNS_RESOLV_DEFAULT);
		if (!p->resolv_conf)
			return -ENOMEM;
		dns_resolv_check(p, 0, true);
	}
	r = dns_udp_open(p, AF_INET);
	if (r < 0)
		return r;
	if (dns_udp_open(p, AF_INET6) < 0)
		log_info("dns: no IPv6 upstream socket: IPv6 upstreams are skipped");
	return dns_tcp_new(p, &p->tcp);
}

int dns_proxy_new(const struct dns_config *cfg, struct dns_proxy **out)
{
	struct dns_proxy *p;
	int r;

	if (!cfg || !out || !cfg->send)
		return -EINVAL;
	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->udp[0].fd = p->udp[1].fd = -1;
	r = dns_proxy_setup(p, cfg);
	if (r < 0) {
		dns_proxy_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void dns_proxy_free(struct dns_proxy *p)
{
	if (!p)
		return;
	dns_tcp_free(p->tcp);
	for (int i = 0; i < 2; i++) {
		if (p->udp[i].fd < 0)
			continue;
		loop_del(&p->udp[i]);
		close(p->udp[i].fd);
	}
	free(p->q);
	free(p->by_id);
	free(p->resolv_conf);
	loop_defer_free(p); /* an event already fetched may still name its sockets */
}
