/*
 * test_dns.c — the DNS proxy (engine/dns.c, engine/dns_tcp.c) with hand-built
 * frames and real upstream sockets on 127.0.0.1: upstream lists and
 * resolv.conf, UDP round trips over IPv4 and IPv6, answers that are too big,
 * spoofed and mismatched answers, retries and timeouts, the TCP endpoint
 * (handshake, queries, pipelining, retransmission, closing, hostile segments)
 * and malformed frames. Frames the proxy sends are checked with a parser and
 * a checksum of the test's own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "check.h"
#include "common/log.h"
#include "engine/dns.h"
#include "engine/loop.h"

#define FRAME_MAX 1514
#define SENT_MAX 256
#define T0 1000 /* the monotonic "now" the test starts at */

static const uint8_t gw_mac[6] = { 0x02, 0x76, 0x6d, 0xa8, 0x40, 0x01 };
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t gw4[4] = { 192, 168, 64, 1 }, guest4[4] = { 192, 168, 64, 10 };
static const uint8_t gw6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t ll6[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x76, 0x6d, 0xff, 0xfe, 0xa8, 0x40, 0x01 };
static const uint8_t guest6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 };

/* What the proxy sent, in order. */
static struct {
	size_t len;
	uint8_t b[FRAME_MAX];
} sent[SENT_MAX];
static unsigned nsent;
static unsigned oversized;

static void capture(void *ctx, const uint8_t *frame, size_t len)
{
	(void)ctx;
	if (len > FRAME_MAX) {
		oversized++;
		return;
	}
	if (nsent == SENT_MAX)
		return;
	sent[nsent].len = len;
	memcpy(sent[nsent].b, frame, len);
	nsent++;
}

static uint32_t pseudo(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto, size_t len)
{
	uint8_t b[40];

	if (v6) {
		memcpy(b, src, 16);
		memcpy(b + 16, dst, 16);
		put32(b + 32, (uint32_t)len);
		put32(b + 36, proto);
		return sum16(b, 40, 0);
	}
	memcpy(b, src, 4);
	memcpy(b + 4, dst, 4);
	b[8] = 0;
	b[9] = proto;
	put16(b + 10, (uint16_t)len);
	return sum16(b, 12, 0);
}

/* --- DNS messages --- */

/* A query for name (dotted) and type; edns: OPT payload size, 0 for none. Return: its length. */
static size_t make_query(uint8_t *m, uint16_t id, const char *name, uint16_t type, uint16_t edns)
{
	size_t n = 12;

	memset(m, 0, 12);
	put16(m, id);
	put16(m + 2, 0x0100); /* RD */
	put16(m + 4, 1);
	put16(m + 10, edns ? 1 : 0);
	for (const char *s = name; *s;) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		m[n++] = (uint8_t)l;
		memcpy(m + n, s, l);
		n += l;
		s += l + (dot ? 1 : 0);
	}
	m[n++] = 0;
	put16(m + n, type);
	put16(m + n + 2, 1);
	n += 4;
	if (edns) {
		m[n++] = 0; /* root */
		put16(m + n, 41);
		put16(m + n + 2, edns);
		memset(m + n + 4, 0, 6); /* TTL, RDLEN */
		n += 10;
	}
	return n;
}

/* The question's length in a query made above. */
static size_t qlen_of(const uint8_t *m)
{
	size_t n = 12;

	while (m[n])
		n += 1 + m[n];
	return n + 1 + 4 - 12;
}

/* An answer to query q: header and question copied, QR set, one A record, then a TXT record
 * padding the message to total bytes (when larger). Return: its length. */
static size_t make_answer(uint8_t *a, const uint8_t *q, size_t total)
{
	size_t n = 12 + qlen_of(q);

	memcpy(a, q, n);
	put16(a + 2, 0x8180); /* QR RD RA */
	put16(a + 6, 1);
	put16(a + 8, 0);
	put16(a + 10, 0);
	put16(a + n, 0xc00c);
	put16(a + n + 2, 1);
	put16(a + n + 4, 1);
	put32(a + n + 6, 300);
	put16(a + n + 10, 4);
	memcpy(a + n + 12, (const uint8_t[]){ 10, 1, 2, 3 }, 4);
	n += 16;
	if (total > n + 12) {
		size_t rd = total - n - 12, off = 0;

		put16(a + 6, 2);
		put16(a + n, 0xc00c);
		put16(a + n + 2, 16);
		put16(a + n + 4, 1);
		put32(a + n + 6, 300);
		put16(a + n + 10, (uint16_t)rd);
		n += 12;
		while (off < rd) { /* character-strings of up to 255 bytes */
			size_t l = rd - off - 1 > 255 ? 255 : rd - off - 1;

			a[n + off] = (uint8_t)l;
			memset(a + n + off + 1, 'x', l);
			off += 1 + l;
		}
		n += rd;
	}
	return n;
}

/* --- guest frames --- */

static size_t put_eth_ip(uint8_t *f, bool v6, uint8_t proto, size_t l4len)
{
	memcpy(f, gw_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	if (v6) {
		put16(f + 12, 0x86dd);
		memset(f + 14, 0, 40);
		f[14] = 0x60;
		put16(f + 18, (uint16_t)l4len);
		f[20] = proto;
		f[21] = 64;
		memcpy(f + 22, guest6, 16);
		memcpy(f + 38, gw6, 16);
		return 54;
	}
	put16(f + 12, 0x0800);
	memset(f + 14, 0, 20);
	f[14] = 0x45;
	put16(f + 16, (uint16_t)(20 + l4len));
	f[22] = 64;
	f[23] = proto;
	memcpy(f + 26, guest4, 4);
	memcpy(f + 30, gw4, 4);
	put16(f + 24, (uint16_t)~sum16(f + 14, 20, 0));
	return 34;
}

/* A UDP frame from the guest's port sport to gw:53 with payload m[0..n). Return: its length. */
static size_t udp_frame(uint8_t *f, bool v6, uint16_t sport, const uint8_t *m, size_t n)
{
	size_t h = put_eth_ip(f, v6, 17, 8 + n);
	uint8_t *u = f + h;

	put16(u, sport);
	put16(u + 2, 53);
	put16(u + 4, (uint16_t)(8 + n));
	put16(u + 6, 0);
	memcpy(u + 8, m, n);
	put16(u + 6, (uint16_t)~sum16(u, 8 + n, pseudo(v6, v6 ? guest6 : guest4, v6 ? gw6 : gw4, 17, 8 + n)));
	if (!get16(u + 6))
		put16(u + 6, 0xffff);
	return h + 8 + n;
}

struct seg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *data;
	size_t dlen;
	uint16_t mss; /* option, 0 = none */
};

enum { FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16 };

static size_t tcp_frame(uint8_t *f, bool v6, uint16_t sport, const struct seg *s)
{
	size_t hl = s->mss ? 24 : 20, h = put_eth_ip(f, v6, 6, hl + s->dlen);
	uint8_t *t = f + h;

	memset(t, 0, hl);
	put16(t, sport);
	put16(t + 2, 53);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)(hl / 4 << 4);
	t[13] = s->flags;
	put16(t + 14, s->win);
	if (s->mss) {
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, s->mss);
	}
	if (s->dlen)
		memcpy(t + hl, s->data, s->dlen);
	put16(t + 16, (uint16_t)~sum16(t, hl + s->dlen, pseudo(v6, v6 ? guest6 : guest4, v6 ? gw6 : gw4, 6, hl + s->dlen)));
	return h + hl + s->dlen;
}

/* --- frames from the proxy --- */

/*
 * Check Ethernet and IP of frame i (to the guest, from the gateway, checksums)
 * and find its transport segment. Return: the segment, or NULL (counted as a failed check).
 */
static const uint8_t *l4_of(unsigned i, bool v6, uint8_t proto, size_t *l4len)
{
	const uint8_t *f = sent[i].b;
	size_t len = sent[i].len, n;
	bool ok;

	if (len < 14 + (v6 ? 40u : 20u) + 8) {
		CHECK(!"frame too short");
		return NULL;
	}
	ok = !memcmp(f, guest_mac, 6) && !memcmp(f + 6, gw_mac, 6);
	if (v6) {
		n = get16(f + 18);
		ok = ok && get16(f + 12) == 0x86dd && f[14] >> 4 == 6 && f[20] == proto && n == len - 54 &&
		     !memcmp(f + 22, gw6, 16) && !memcmp(f + 38, guest6, 16);
		f += 54;
	} else {
		n = get16(f + 16) - 20u;
		ok = ok && get16(f + 12) == 0x0800 && f[14] == 0x45 && f[23] == proto && n == len - 34 &&
		     sum16(f + 14, 20, 0) == 0xffff && !memcmp(f + 26, gw4, 4) && !memcmp(f + 30, guest4, 4);
		f += 34;
	}
	if (ok)
		ok = sum16(f, n, pseudo(v6, v6 ? gw6 : gw4, v6 ? guest6 : guest4, proto, n)) == 0xffff;
	CHECK(ok);
	*l4len = n;
	return ok ? f : NULL;
}

/* The DNS message in UDP frame i (to the guest's port sport). Return: it, or NULL. */
static const uint8_t *udp_payload(unsigned i, bool v6, uint16_t sport, size_t *n)
{
	size_t l4len;
	const uint8_t *u = l4_of(i, v6, 17, &l4len);

	if (!u)
		return NULL;
	CHECK(get16(u) == 53 && get16(u + 2) == sport && get16(u + 4) == l4len && get16(u + 6) != 0);
	*n = l4len - 8;
	return u + 8;
}

/* The TCP segment in frame i. Return: 0 and *s, or -1. */
static int tcp_of(unsigned i, bool v6, uint16_t sport, struct seg *s)
{
	size_t l4len, hl;
	const uint8_t *t = l4_of(i, v6, 6, &l4len);

	if (!t)
		return -1;
	hl = (size_t)(t[12] >> 4) * 4;
	CHECK(get16(t) == 53 && get16(t + 2) == sport && hl >= 20 && hl <= l4len);
	memset(s, 0, sizeof(*s));
	s->seq = get32(t + 4);
	s->ack = get32(t + 8);
	s->flags = t[13];
	s->win = get16(t + 14);
	if (hl == 24 && t[20] == 2 && t[21] == 4)
		s->mss = get16(t + 22);
	s->data = t + hl;
	s->dlen = l4len - hl;
	return 0;
}

/* --- upstreams and the loop --- */

static int udp_upstream(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		abort();
	*port = ntohs(a.sin_port);
	return fd;
}

static int tcp_upstream(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		abort();
	*port = ntohs(a.sin_port);
	return fd;
}

/* Run the proxy's event sources: wait up to ms for the first event, then until quiet (bounded). Return: events handled. */
static int pump(int ms)
{
	struct epoll_event ev[16];
	int n = loop_wait(ev, 16, ms), total = 0;

	for (int rounds = 0; n > 0 && rounds < 200; rounds++) {
		for (int i = 0; i < n; i++) {
			struct loop_src *s = ev[i].data.ptr;

			if (!s->dead && s->type == EV_CALLBACK)
				s->cb(s, ev[i].events);
		}
		total += n;
		loop_free_deferred();
		n = loop_wait(ev, 16, 20);
	}
	loop_free_deferred();
	return total;
}

/* One datagram on an upstream socket within a second. Return: its length, or -1. */
static ssize_t upstream_recv(int fd, uint8_t *buf, size_t cap, struct sockaddr_in *from)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	socklen_t fl = sizeof(*from);

	if (poll(&pfd, 1, 1000) != 1)
		return -1;
	return recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, &fl);
}

static bool upstream_quiet(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 50) == 0;
}

static void drain(int fd)
{
	uint8_t b[2048];

	while (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

static struct dns_proxy *proxy_new(const char *upstreams, const char *resolv)
{
	struct dns_config c;
	struct dns_proxy *p = NULL;

	memset(&c, 0, sizeof(c));
	memcpy(c.mac, gw_mac, 6);
	memcpy(&c.addr4, gw4, 4);
	c.has_addr6 = true;
	memcpy(c.addr6[0], ll6, 16);
	memcpy(c.addr6[1], gw6, 16);
	c.upstreams = upstreams;
	c.resolv_conf = resolv;
	c.send = capture;
	CHECK(dns_proxy_new(&c, &p) == 0);
	return p;
}

static struct dns_stats stats(struct dns_proxy *p)
{
	struct dns_stats s;

	dns_proxy_stats(p, &s);
	return s;
}

/* --- upstream lists and resolv.conf --- */

static void test_upstreams(void)
{
	struct sockaddr_storage ss[DNS_UPSTREAM_MAX];
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss[0];
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss[1];
	static const char *bad[] = {
		"", ",", "1.2.3.4,", ",1.2.3.4", "1.2.3.4#", "1.2.3.4#0", "1.2.3.4#65536", "1.2.3.4#53x",
		"1.2.3.4#+53", "1.2.3.4#123456", "1.2.3.4#65537", "foo", "1.2.3", "1.2.3.4.5", "0.0.0.0", "224.0.0.1",
		"255.255.255.255", "::", "ff02::1", "[::1]:53", " 1.2.3.4", "1.2.3.4 ", "fe80::1%nosuchif0",
		"1.1.1.1,bogus", "1.1.1.1#53#53", "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5#0",
	};

	CHECK(dns_upstreams_parse("127.0.0.1", ss, DNS_UPSTREAM_MAX) == 1);
	CHECK(s4->sin_family == AF_INET && s4->sin_port == htons(53) && s4->sin_addr.s_addr == htonl(0x7f000001));
	CHECK(dns_upstreams_parse("10.0.0.1#5353,::1#54", ss, DNS_UPSTREAM_MAX) == 2);
	CHECK(s4->sin_port == htons(5353) && s4->sin_addr.s_addr == htonl(0x0a000001));
	CHECK(s6->sin6_family == AF_INET6 && s6->sin6_port == htons(54) && IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
	CHECK(dns_upstreams_parse("fe80::1%1#53,1.1.1.1", ss, DNS_UPSTREAM_MAX) == 2);
	CHECK(((const struct sockaddr_in6 *)&ss[0])->sin6_scope_id == 1);
	CHECK(dns_upstreams_parse("fe80::1%lo", ss, DNS_UPSTREAM_MAX) == 1);
	CHECK(dns_upstreams_parse("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", ss, DNS_UPSTREAM_MAX) == 4);
	CHECK(dns_upstreams_parse("1.1.1.1,2.2.2.2", ss, 1) == 1);
	CHECK(dns_upstreams_parse("65.1.2.3#65535", ss, DNS_UPSTREAM_MAX) == 1 && s4->sin_port == htons(65535));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = dns_upstreams_parse(bad[i], ss, DNS_UPSTREAM_MAX);

		if (r != -EINVAL)
			fprintf(stderr, "accepted bad upstream list \"%s\"\n", bad[i]);
		CHECK(r == -EINVAL);
	}
	CHECK(dns_upstreams_parse(NULL, ss, DNS_UPSTREAM_MAX) == -EINVAL);
	CHECK(dns_upstreams_parse("1.1.1.1", ss, 0) == -EINVAL);
}

static void write_file(const char *path, const char *text)
{
	char tmp[256];
	FILE *f;

	/* Replace it as resolver managers do: a new file renamed over the old. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
		abort();
}

static void test_resolv_conf(const char *dir)
{
	struct sockaddr_storage ss[DNS_UPSTREAM_MAX];
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	char path[256], longline[2000];
	struct dns_proxy *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	memcpy(longline, "nameserver 9.9.9.9 ", 19);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(f, "# generated\n; comment\nsearch example.test\noptions edns0 ndots:2\n"
		   "nameserver bogus\nnameserver\n%s\n nameserver 10.0.0.1\n"
		   "nameserver\t::1   # local\nnameservers 7.7.7.7\nnameserver fe80::53%%1\n"
		   "#nameserver 8.8.8.8\nnameserver 10.0.0.2\nnameserver 10.0.0.3", longline);
	fclose(f);
	CHECK(dns_resolv_conf_parse(path, ss, DNS_UPSTREAM_MAX) == 4);
	CHECK(s4->sin_family == AF_INET && s4->sin_addr.s_addr == htonl(0x0a000001) && s4->sin_port == htons(53));
	CHECK(ss[1].ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss[1])->sin6_addr));
	CHECK(((struct sockaddr_in6 *)&ss[2])->sin6_scope_id == 1);
	CHECK(((struct sockaddr_in *)&ss[3])->sin_addr.s_addr == htonl(0x0a000002));
	CHECK(dns_resolv_conf_parse(path, ss, 2) == 2);
	CHECK(dns_resolv_conf_parse("/nonexistent/resolv.conf", ss, DNS_UPSTREAM_MAX) == -ENOENT);

	/* The proxy follows the file: read at start, again when it changes (checked once a second). */
	write_file(path, "nameserver 10.9.8.7\n");
	p = proxy_new(NULL, path);
	CHECK(dns_proxy_upstreams(p, ss, DNS_UPSTREAM_MAX) == 1 && s4->sin_addr.s_addr == htonl(0x0a090807));
	write_file(path, "nameserver 10.9.8.6\nnameserver 10.9.8.5\n");
	dns_tick(p, T0);
	CHECK(dns_proxy_upstreams(p, ss, DNS_UPSTREAM_MAX) == 2 && s4->sin_addr.s_addr == htonl(0x0a090806));
	write_file(path, "search only.test\n");
	dns_tick(p, T0); /* the same second: not looked at */
	CHECK(dns_proxy_upstreams(p, ss, DNS_UPSTREAM_MAX) == 2);
	dns_tick(p, T0 + 1); /* no nameserver: the local machine (resolv.conf(5)) */
	CHECK(dns_proxy_upstreams(p, ss, DNS_UPSTREAM_MAX) == 1 && s4->sin_addr.s_addr == htonl(0x7f000001));
	unlink(path);
	dns_tick(p, T0 + 2);
	CHECK(dns_proxy_upstreams(p, ss, DNS_UPSTREAM_MAX) == 1 && s4->sin_addr.s_addr == htonl(0x7f000001));
	dns_proxy_free(p);
	loop_free_deferred();
}

/* --- UDP --- */

/*
 * Send query q from guest port sport; the upstream gets it with another ID
 * and answers with a message of total bytes. Return: the upstream's copy's ID.
 */
static uint16_t udp_exchange(struct dns_proxy *p, int up, bool v6, uint16_t sport, const uint8_t *q, size_t qn,
			     size_t total, uint64_t now, uint8_t *ans, size_t *an)
{
	uint8_t f[FRAME_MAX], got[2048];
	struct sockaddr_in from;
	ssize_t n;
	uint16_t id;

	dns_input(p, f, udp_frame(f, v6, sport, q, qn), now);
	n = upstream_recv(up, got, sizeof(got), &from);
	CHECK(n == (ssize_t)qn);
	if (n != (ssize_t)qn)
		return 0;
	CHECK(!memcmp(got + 2, q + 2, qn - 2)); /* byte-exact but the ID */
	id = get16(got);
	*an = make_answer(ans, got, total);
	nsent = 0;
	sendto(up, ans, *an, 0, (struct sockaddr *)&from, sizeof(from));
	pump(1000);
	return id;
}

static void test_udp(void)
{
	uint8_t q[512], a[4096], f[FRAME_MAX];
	uint16_t port, port2, ids[3];
	char list[64];
	const uint8_t *m;
	size_t qn, an, n;
	struct dns_proxy *p;
	int up = udp_upstream(&port), up2 = udp_upstream(&port2), other;
	struct sockaddr_in from;

	snprintf(list, sizeof(list), "127.0.0.1#%u,127.0.0.1#%u", port, port2);
	p = proxy_new(list, NULL);

	/* A round trip over IPv4: the guest's ID comes back, the rest byte for byte. */
	qn = make_query(q, 0x1234, "www.example.test", 1, 0);
	for (int k = 0; k < 3; k++) {
		ids[k] = udp_exchange(p, up, false, 40000, q, qn, 0, T0, a, &an);
		CHECK(nsent == 1);
		m = nsent == 1 ? udp_payload(0, false, 40000, &n) : NULL;
		CHECK(m && n == an && get16(m) == 0x1234 && !memcmp(m + 2, a + 2, an - 2));
	}
	CHECK(ids[0] != 0x1234 || ids[1] != 0x1234 || ids[2] != 0x1234); /* fresh random IDs */
	CHECK(ids[0] != ids[1] || ids[1] != ids[2]);
	CHECK(stats(p).queries == 3 && stats(p).answers == 3);

	/* IPv6, with EDNS0: an answer of 1400 bytes fits the guest's 4096 and the frame (1452). */
	qn = make_query(q, 0xbeef, "v6.example.test", 28, 4096);
	udp_exchange(p, up, true, 40001, q, qn, 1400, T0, a, &an);
	m = nsent == 1 ? udp_payload(0, true, 40001, &n) : NULL;
	CHECK(m && n == 1400 && an == 1400 && get16(m) == 0xbeef && !memcmp(m + 2, a + 2, an - 2));

	/* Too large for the frame (IPv6: 1452 bytes of DNS): header + question, TC set. */
	udp_exchange(p, up, true, 40001, q, qn, 1460, T0, a, &an);
	m = nsent == 1 ? udp_payload(0, true, 40001, &n) : NULL;
	CHECK(m && n == 12 + qlen_of(q) && get16(m) == 0xbeef && (get16(m + 2) & 0x8200) == 0x8200);
	CHECK(m && get16(m + 4) == 1 && get16(m + 6) == 0 && get16(m + 8) == 0 && get16(m + 10) == 0);
	CHECK(m && !memcmp(m + 12, q + 12, qlen_of(q)));
	/* ... over IPv4 1460 bytes fit. */
	udp_exchange(p, up, false, 40001, q, qn, 1460, T0, a, &an);
	CHECK(nsent == 1 && udp_payload(0, false, 40001, &n) && n == 1460);
	/* Without EDNS0 the guest takes 512: a 700-byte answer becomes TC. */
	qn = make_query(q, 0x0101, "big.example.test", 16, 0);
	udp_exchange(p, up, false, 40002, q, qn, 700, T0, a, &an);
	m = nsent == 1 ? udp_payload(0, false, 40002, &n) : NULL;
	CHECK(m && n == 12 + qlen_of(q) && (get16(m + 2) & 0x0200));
	udp_exchange(p, up, false, 40002, q, qn, 512, T0, a, &an);
	m = nsent == 1 ? udp_payload(0, false, 40002, &n) : NULL;
	CHECK(m && n == 512 && !(get16(m + 2) & 0x0200));
	/* A truncated answer from upstream that fits is relayed as it is. */
	{
		uint8_t got[2048], tc[600];
		ssize_t k;

		dns_input(p, f, udp_frame(f, false, 40003, q, qn), T0);
		k = upstream_recv(up, got, sizeof(got), &from);
		an = make_answer(tc, got, 400);
		put16(tc + 2, 0x8380);
		nsent = 0;
		sendto(up, tc, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(1000);
		m = nsent == 1 ? udp_payload(0, false, 40003, &n) : NULL;
		CHECK(k > 0 && m && n == 400 && get16(m + 2) == 0x8380 && !memcmp(m + 4, tc + 4, 396));
	}
	CHECK(stats(p).truncated == 2);

	/* An answer from another port: dropped and counted, the query stays; then the real one. */
	{
		uint8_t got[2048];
		ssize_t k;
		uint16_t port3;

		other = udp_upstream(&port3);
		qn = make_query(q, 0x4242, "spoof.example.test", 1, 0);
		dns_input(p, f, udp_frame(f, false, 40004, q, qn), T0);
		k = upstream_recv(up, got, sizeof(got), &from);
		CHECK(k == (ssize_t)qn);
		an = make_answer(a, got, 0);
		nsent = 0;
		sendto(other, a, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(300);
		CHECK(nsent == 0 && stats(p).bad_source == 1);
		/* Right source, another question: dropped. */
		a[12 + 1] ^= 0x01;
		sendto(up, a, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(300);
		CHECK(nsent == 0 && stats(p).mismatched == 1);
		a[12 + 1] ^= 0x01;
		/* Right source, an ID nobody uses: dropped. */
		put16(a, (uint16_t)(get16(got) ^ 0x8000));
		sendto(up, a, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(300);
		CHECK(nsent == 0 && stats(p).mismatched == 2);
		put16(a, get16(got));
		/* Not an answer (QR clear): dropped. */
		put16(a + 2, 0x0100);
		sendto(up, a, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(300);
		CHECK(nsent == 0 && stats(p).mismatched == 3);
		put16(a + 2, 0x8180);
		/* The name in another case is the same question (RFC 4343). */
		a[13] = (uint8_t)(a[13] - 'a' + 'A');
		sendto(up, a, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(1000);
		m = nsent == 1 ? udp_payload(0, false, 40004, &n) : NULL;
		CHECK(m && n == an && get16(m) == 0x4242);
		/* A second copy of the answer finds no query. */
		nsent = 0;
		sendto(up, a, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(300);
		CHECK(nsent == 0 && stats(p).mismatched == 4);
		close(other);
	}

	/* No answer for 2 s: the next upstream gets the same query; its answer is relayed. */
	{
		uint8_t got[2048], got2[2048];
		struct sockaddr_in from2;
		ssize_t k, k2;

		qn = make_query(q, 0x5151, "slow.example.test", 1, 0);
		dns_input(p, f, udp_frame(f, false, 40005, q, qn), T0);
		k = upstream_recv(up, got, sizeof(got), &from);
		dns_tick(p, T0 + 1);
		CHECK(upstream_quiet(up2));
		dns_tick(p, T0 + 2);
		k2 = upstream_recv(up2, got2, sizeof(got2), &from2);
		CHECK(k > 0 && k2 == k && !memcmp(got, got2, (size_t)k));
		an = make_answer(a, got2, 0);
		nsent = 0;
		sendto(up2, a, an, 0, (struct sockaddr *)&from2, sizeof(from2));
		pump(1000);
		CHECK(nsent == 1 && udp_payload(0, false, 40005, &n) && n == an);
		/* The first upstream's late answer: no query any more. */
		nsent = 0;
		sendto(up, a, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(300);
		CHECK(nsent == 0);
	}

	/* No answer at all: retried, then given up after 5 s; no reply to the guest. */
	{
		uint8_t got[2048];
		uint64_t before = stats(p).timeouts;
		ssize_t k;

		qn = make_query(q, 0x6161, "dead.example.test", 1, 0);
		nsent = 0;
		dns_input(p, f, udp_frame(f, false, 40006, q, qn), T0 + 10);
		k = upstream_recv(up, got, sizeof(got), &from);
		for (uint64_t t = T0 + 11; t <= T0 + 15; t++)
			dns_tick(p, t);
		CHECK(k > 0 && stats(p).timeouts == before + 1 && nsent == 0);
		drain(up);
		drain(up2);
		an = make_answer(a, got, 0);
		sendto(up, a, an, 0, (struct sockaddr *)&from, sizeof(from));
		pump(300);
		CHECK(nsent == 0);
	}

	/* A zero UDP checksum is "none" over IPv4 and forbidden over IPv6. */
	{
		uint8_t got[2048];
		uint64_t dropped = stats(p).dropped;

		qn = make_query(q, 0x7171, "zero.example.test", 1, 0);
		n = udp_frame(f, false, 40007, q, qn);
		put16(f + 34 + 6, 0);
		dns_input(p, f, n, T0 + 20);
		CHECK(upstream_recv(up, got, sizeof(got), &from) == (ssize_t)qn);
		n = udp_frame(f, true, 40007, q, qn);
		put16(f + 54 + 6, 0);
		dns_input(p, f, n, T0 + 20);
		CHECK(upstream_quiet(up) && stats(p).dropped == dropped + 1);
		drain(up);
	}

	/* A flood: the table keeps its size, the oldest queries go. */
	{
		uint64_t ev = stats(p).evicted;

		nsent = 0;
		for (int k = 0; k < DNS_PENDING_MAX + 500; k++) {
			qn = make_query(q, (uint16_t)k, "flood.example.test", 1, 0);
			dns_input(p, f, udp_frame(f, false, (uint16_t)(1024 + k), q, qn), T0 + 30);
			if (k % 64 == 0) {
				drain(up);
				drain(up2);
			}
		}
		CHECK(stats(p).evicted >= ev + 500 && nsent == 0);
		drain(up);
		drain(up2);
		for (uint64_t t = T0 + 31; t <= T0 + 36; t++)
			dns_tick(p, t);
		drain(up);
		drain(up2);
	}
	dns_proxy_free(p);
	loop_free_deferred();
	close(up);
	close(up2);
}

/* Malformed and unwanted frames: dropped without a frame out or a datagram upstream. */
static void test_malformed(void)
{
	uint8_t q[512], f[FRAME_MAX], g[FRAME_MAX];
	uint16_t port;
	char list[32];
	size_t qn, n;
	struct dns_proxy *p;
	int up = udp_upstream(&port);
	uint64_t dropped;

	snprintf(list, sizeof(list), "127.0.0.1#%u", port);
	p = proxy_new(list, NULL);
	nsent = 0;
	qn = make_query(q, 0x1111, "bad.example.test", 1, 0);
	n = udp_frame(f, false, 40000, q, qn);
	/* Every truncation of a good frame (IP and UDP lengths then lie). */
	for (size_t l = 0; l < n; l++) {
		uint8_t *copy = malloc(l ? l : 1);

		memcpy(copy, f, l);
		dns_input(p, copy, l, T0);
		free(copy);
	}
	CHECK(upstream_quiet(up));
	/* Shorter IP total lengths over the full frame: the UDP length no longer fits, or the checksum fails. */
	for (size_t l = 20; l < n - 14; l++) {
		memcpy(g, f, n);
		put16(g + 16, (uint16_t)l);
		put16(g + 24, 0);
		put16(g + 24, (uint16_t)~sum16(g + 14, 20, 0));
		dns_input(p, g, n, T0);
	}
	CHECK(upstream_quiet(up));
	dropped = stats(p).dropped;
	/* Each mutation with a good IPv4 header checksum, so that the check after it is what drops it. */
#define MUTATE(what) \
	do { \
		memcpy(g, f, n); \
		what; \
		put16(g + 24, 0); \
		put16(g + 24, (uint16_t)~sum16(g + 14, 20, 0)); \
		dns_input(p, g, n, T0); \
	} while (0)
	memcpy(g, f, n);
	g[14 + 10] ^= 1; /* IPv4 header checksum */
	dns_input(p, g, n, T0);
	MUTATE(g[n - 1] ^= 1);                                 /* UDP checksum */
	/* ... and a good UDP checksum too. */
#define MUTATE_UDP(what) MUTATE(what; put16(g + 40, 0); put16(g + 40, (uint16_t)~sum16(g + 34, n - 34, \
	pseudo(false, g + 26, g + 30, 17, n - 34))))
	MUTATE(put16(g + 14 + 6, 0x2000));                     /* a first fragment (MF) */
	MUTATE(g[14] = 0x46);                                  /* IHL past the UDP header */
	MUTATE(g[14] = 0x44);                                  /* IHL too small */
	MUTATE(g[14] = 0x55);                                  /* version 5 */
	MUTATE_UDP(g[30 + 3] = 2);                             /* another destination */
	MUTATE_UDP(g[26] = 127);                               /* loopback source */
	MUTATE_UDP(memset(g + 26, 0xff, 4));                   /* broadcast source */
	MUTATE_UDP(g[26] = 224);                               /* multicast source */
	MUTATE(g[6] = 0x53);                                   /* multicast source MAC */
	MUTATE_UDP(put16(g + 34 + 2, 54));                     /* another port */
	MUTATE_UDP(put16(g + 34, 0));                          /* source port 0 */
	MUTATE(put16(g + 34 + 4, (uint16_t)(n - 34 + 1)));     /* UDP length past the datagram */
	MUTATE(put16(g + 34 + 4, 7));                          /* UDP length below the header */
	MUTATE(put16(g + 12, 0x0806));                         /* not IP */
	MUTATE(g[23] = 1);                                     /* not UDP/TCP */
	CHECK(stats(p).dropped == dropped + 17);
	CHECK(upstream_quiet(up));
	/* DNS messages that are no queries: short, a response, two questions, another opcode, a pointer. */
	{
		static const struct {
			size_t len;
			uint16_t flags, qd;
			int ptr;
		} bad[] = { { 11, 0x0100, 1, 0 }, { 0, 0x8100, 1, 0 }, { 0, 0x0100, 2, 0 }, { 0, 0x2800, 1, 0 },
			    { 0, 0x0100, 0, 0 }, { 0, 0x0100, 1, 1 }, { 12, 0x0100, 1, 0 }, { 5, 0x0100, 1, 0 } };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			uint8_t m[512];
			size_t mn = make_query(m, 0x2222, "x.example.test", 1, 0);

			put16(m + 2, bad[i].flags);
			put16(m + 4, bad[i].qd);
			if (bad[i].ptr)
				put16(m + 12, 0xc00c);
			if (bad[i].len)
				mn = bad[i].len;
			dns_input(p, f, udp_frame(f, false, 40000, m, mn), T0);
		}
		CHECK(stats(p).dropped == dropped + 17 + 8);
	}
	/* A name longer than 255 bytes. */
	{
		uint8_t m[600];
		size_t mn = 12;

		memset(m, 0, 12);
		put16(m + 2, 0x0100);
		put16(m + 4, 1);
		for (int i = 0; i < 5; i++) {
			m[mn++] = 60;
			memset(m + mn, 'a', 60);
			mn += 60;
		}
		m[mn++] = 0;
		mn += 4;
		dns_input(p, f, udp_frame(f, false, 40000, m, mn), T0);
		CHECK(stats(p).dropped == dropped + 17 + 9);
	}
	/* Not to a gateway address over IPv6; an extension header; a TCP segment with a bad checksum. */
	{
		size_t l;

		n = udp_frame(g, true, 40000, q, qn);
		g[38 + 15] = 2;
		dns_input(p, g, n, T0);
		n = udp_frame(g, true, 40000, q, qn);
		g[20] = 0; /* hop-by-hop options */
		dns_input(p, g, n, T0);
		l = tcp_frame(g, false, 40000, &(struct seg){ .seq = 1, .flags = SYN, .win = 1000 });
		g[l - 1] ^= 0x10;
		dns_input(p, g, l, T0);
		l = tcp_frame(g, false, 40000, &(struct seg){ .seq = 1, .flags = SYN, .win = 1000 });
		g[34 + 12] = 0x40; /* data offset 16 bytes */
		put16(g + 34 + 16, 0);
		put16(g + 34 + 16, (uint16_t)~sum16(g + 34, 20, pseudo(false, guest4, gw4, 6, 20)));
		dns_input(p, g, l, T0);
		CHECK(stats(p).dropped == dropped + 17 + 9 + 4);
	}
	CHECK(nsent == 0 && upstream_quiet(up) && stats(p).queries == 0);
	/* The good frame still works after all that. */
	dns_input(p, f, n = udp_frame(f, false, 40000, q, qn), T0);
	{
		uint8_t got[1024];
		struct sockaddr_in from;

		CHECK(upstream_recv(up, got, sizeof(got), &from) == (ssize_t)qn);
	}
	dns_proxy_free(p);
	loop_free_deferred();
	close(up);
}

/* --- TCP --- */

struct guest {
	bool v6;
	uint16_t port;
	uint32_t snd, rcv; /* our next sequence number, the proxy's we expect */
	uint16_t win;
	uint8_t stream[70000]; /* what came in order */
	size_t got;
};

static uint8_t scratch[FRAME_MAX];

static void guest_send(struct dns_proxy *p, struct guest *g, uint8_t flags, const uint8_t *d, size_t n, uint64_t now)
{
	struct seg s = { .seq = g->snd, .ack = g->rcv, .flags = flags, .win = g->win, .data = d, .dlen = n };

	dns_input(p, scratch, tcp_frame(scratch, g->v6, g->port, &s), now);
	g->snd += (uint32_t)n + !!(flags & (SYN | FIN));
}

/* Take the segments sent since `from` in order into g->stream. Return: how many had data. */
static unsigned guest_take(struct guest *g, unsigned from, uint8_t *flags)
{
	unsigned k = 0;
	struct seg s;

	*flags = 0;
	for (unsigned i = from; i < nsent; i++) {
		if (tcp_of(i, g->v6, g->port, &s) < 0)
			continue;
		*flags |= s.flags;
		if (s.dlen && s.seq == g->rcv && g->got + s.dlen <= sizeof(g->stream)) {
			memcpy(g->stream + g->got, s.data, s.dlen);
			g->got += s.dlen;
			g->rcv += (uint32_t)s.dlen;
			k++;
		}
		if ((s.flags & FIN) && s.seq == g->rcv)
			g->rcv++;
	}
	return k;
}

/* Handshake. Return: whether it worked (SYN-ACK with MSS, ACK of our SYN). */
static bool guest_connect(struct dns_proxy *p, struct guest *g, uint16_t mss, uint64_t now)
{
	struct seg s = { .seq = g->snd, .flags = SYN, .win = g->win, .mss = mss }, r;

	nsent = 0;
	dns_input(p, scratch, tcp_frame(scratch, g->v6, g->port, &s), now);
	g->snd++;
	if (nsent != 1 || tcp_of(0, g->v6, g->port, &r) < 0)
		return false;
	CHECK(r.flags == (SYN | ACK) && r.ack == g->snd && r.mss == (g->v6 ? 1440 : 1460) && r.dlen == 0);
	g->rcv = r.seq + 1;
	nsent = 0;
	guest_send(p, g, ACK, NULL, 0, now);
	CHECK(nsent == 0);
	return r.flags == (SYN | ACK);
}

/* Accept the proxy's upstream connection and read one query. Return: the connection, or -1. */
static int upstream_tcp_query(int lfd, uint8_t *q, size_t *qn)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	size_t got = 0, want = 2;
	int fd;

	for (int i = 0; i < 100 && poll(&pfd, 1, 0) != 1; i++)
		pump(10);
	if (poll(&pfd, 1, 0) != 1)
		return -1; /* the proxy did not connect */
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	for (int i = 0; i < 200 && got < want; i++) {
		ssize_t n = recv(fd, q + got, want - got, 0);

		if (n > 0) {
			got += (size_t)n;
			if (got == 2)
				want = 2 + get16(q);
		} else {
			pump(10);
		}
	}
	*qn = got;
	return got == want && want > 2 ? fd : (close(fd), -1);
}

static void test_tcp(void)
{
	uint8_t q[600], a[70000], uq[600];
	struct guest g = { .port = 41000, .snd = 0xfffffff0u, .win = 65535 }; /* wraps around 2^32 */
	uint16_t port;
	char list[32];
	size_t qn, uqn, an;
	struct dns_proxy *p;
	int lfd = tcp_upstream(&port), ufd;
	uint8_t fl;
	struct seg s;

	snprintf(list, sizeof(list), "127.0.0.1#%u", port);
	p = proxy_new(list, NULL);
	CHECK(guest_connect(p, &g, 1000, T0));
	CHECK(stats(p).tcp_accepted == 1);

	/* A query in two segments (length, then message); the proxy acknowledges each. */
	qn = make_query(q + 2, 0xabcd, "tcp.example.test", 16, 0);
	put16(q, (uint16_t)qn);
	nsent = 0;
	guest_send(p, &g, ACK | PSH, q, 2, T0);
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.flags == ACK && s.ack == g.snd && s.dlen == 0);
	nsent = 0;
	guest_send(p, &g, ACK | PSH, q + 2, qn, T0);
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.ack == g.snd);
	ufd = upstream_tcp_query(lfd, uq, &uqn);
	CHECK(ufd >= 0 && uqn == qn + 2 && !memcmp(uq + 4, q + 4, qn - 2));
	/* A 3000-byte answer: segments of the guest's MSS (1000), the guest's ID restored. */
	an = make_answer(a + 2, uq + 2, 3000);
	put16(a, (uint16_t)an);
	nsent = 0;
	CHECK(write(ufd, a, an + 2) == (ssize_t)(an + 2));
	for (int i = 0; i < 100 && nsent < 4; i++)
		pump(10);
	CHECK(nsent == 4);
	for (unsigned i = 0; i < nsent; i++)
		CHECK(tcp_of(i, false, g.port, &s) == 0 && s.dlen <= 1000 && (s.flags & ACK) && s.win > 0);
	CHECK(guest_take(&g, 0, &fl) == 4 && g.got == an + 2);
	CHECK(get16(g.stream) == an && get16(g.stream + 2) == 0xabcd && !memcmp(g.stream + 4, a + 4, an - 2));
	close(ufd);
	/* Not acknowledged: the first unacknowledged segment goes again on the tick. */
	nsent = 0;
	dns_tick(p, T0 + 1);
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.seq == g.rcv - (uint32_t)(an + 2) && s.dlen == 1000);
	/* An ACK beyond what was sent: answered with an ACK, nothing else changes. */
	{
		uint32_t keep = g.rcv;

		nsent = 0;
		g.rcv += 100000;
		guest_send(p, &g, ACK, NULL, 0, T0 + 1);
		g.rcv = keep;
		CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.flags == ACK && s.dlen == 0);
	}
	nsent = 0;
	guest_send(p, &g, ACK, NULL, 0, T0 + 1); /* all of it */
	dns_tick(p, T0 + 2);
	CHECK(nsent == 0);

	/* Two pipelined queries in one segment: answered one after the other. */
	{
		uint8_t two[1200];
		size_t n1 = make_query(two + 2, 0x0001, "one.example.test", 1, 0), n2;

		put16(two, (uint16_t)n1);
		n2 = make_query(two + 4 + n1, 0x0002, "two.example.test", 1, 0);
		put16(two + 2 + n1, (uint16_t)n2);
		g.got = 0;
		nsent = 0;
		guest_send(p, &g, ACK | PSH, two, 4 + n1 + n2, T0 + 2);
		for (int k = 1; k <= 2; k++) {
			unsigned before = nsent;

			ufd = upstream_tcp_query(lfd, uq, &uqn);
			CHECK(ufd >= 0 && get16(uq + 2 + 2) == 0x0100);
			an = make_answer(a + 2, uq + 2, 0);
			put16(a, (uint16_t)an);
			CHECK(write(ufd, a, an + 2) == (ssize_t)(an + 2));
			for (int i = 0; i < 100 && nsent == before; i++)
				pump(10);
			close(ufd);
			CHECK(guest_take(&g, before, &fl) == 1);
			CHECK(g.got >= 4 && get16(g.stream + g.got - (an + 2) + 2) == k);
			guest_send(p, &g, ACK, NULL, 0, T0 + 2); /* the ACK lets the next query go */
		}
	}

	/* Out of order: not taken, the expected sequence number acknowledged again. */
	nsent = 0;
	g.snd += 10;
	guest_send(p, &g, ACK | PSH, q, 2, T0 + 3);
	g.snd -= 12;
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.ack == g.snd && s.flags == ACK);
	/* A RST inside the window but not at RCV.NXT: a challenge ACK, the connection stays. */
	nsent = 0;
	g.snd += 5;
	guest_send(p, &g, RST, NULL, 0, T0 + 3);
	g.snd -= 5;
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.flags == ACK);
	/* A keepalive (one below RCV.NXT, no data): an ACK. */
	nsent = 0;
	g.snd--;
	guest_send(p, &g, ACK, NULL, 0, T0 + 3);
	g.snd++;
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.flags == ACK && s.ack == g.snd);
	/* A SYN on the connection: a challenge ACK too. */
	nsent = 0;
	guest_send(p, &g, SYN, NULL, 0, T0 + 3);
	g.snd--;
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.flags == ACK);

	/* The guest closes: ACK and FIN back (one segment), then the last ACK frees the connection. */
	nsent = 0;
	guest_send(p, &g, ACK | FIN, NULL, 0, T0 + 3);
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.flags == (ACK | FIN) && s.ack == g.snd);
	g.rcv = s.seq + 1;
	nsent = 0;
	guest_send(p, &g, ACK, NULL, 0, T0 + 3);
	CHECK(nsent == 0);
	/* Gone: an ACK now gets a RST with its acknowledgment number as sequence number. */
	guest_send(p, &g, ACK, NULL, 0, T0 + 3);
	CHECK(nsent == 1 && tcp_of(0, false, g.port, &s) == 0 && s.flags == RST && s.seq == g.rcv);

	/* IPv6, an answer the guest does not acknowledge: retried, then reset. */
	{
		struct guest h = { .v6 = true, .port = 41001, .snd = 7, .win = 65535 };
		uint64_t resets = stats(p).tcp_resets;

		CHECK(guest_connect(p, &h, 0, T0 + 4)); /* no MSS option: 1220 for IPv6 */
		qn = make_query(q + 2, 0x6666, "six.example.test", 28, 0);
		put16(q, (uint16_t)qn);
		guest_send(p, &h, ACK | PSH, q, qn + 2, T0 + 4);
		ufd = upstream_tcp_query(lfd, uq, &uqn);
		an = make_answer(a + 2, uq + 2, 2000);
		put16(a, (uint16_t)an);
		nsent = 0;
		CHECK(ufd >= 0 && write(ufd, a, an + 2) == (ssize_t)(an + 2));
		for (int i = 0; i < 100 && nsent < 2; i++)
			pump(10);
		CHECK(nsent == 2 && tcp_of(0, true, h.port, &s) == 0 && s.dlen == 1220);
		close(ufd);
		for (uint64_t t = T0 + 5; t < T0 + 11; t++) {
			nsent = 0;
			dns_tick(p, t);
		}
		CHECK(nsent == 1 && tcp_of(0, true, h.port, &s) == 0 && (s.flags & RST));
		CHECK(stats(p).tcp_resets == resets + 1);
	}

	/* A closed window: the answer waits, probed one byte at a time. A guest MSS above ours: ours. */
	{
		struct guest z = { .port = 41002, .snd = 100, .win = 0 };

		CHECK(guest_connect(p, &z, 9000, T0 + 20));
		qn = make_query(q + 2, 0x7777, "zero.example.test", 1, 0);
		put16(q, (uint16_t)qn);
		guest_send(p, &z, ACK | PSH, q, qn + 2, T0 + 20);
		ufd = upstream_tcp_query(lfd, uq, &uqn);
		an = make_answer(a + 2, uq + 2, 2000);
		put16(a, (uint16_t)an);
		nsent = 0;
		CHECK(ufd >= 0 && write(ufd, a, an + 2) == (ssize_t)(an + 2));
		for (int i = 0; i < 100 && nsent < 1; i++)
			pump(10);
		close(ufd);
		CHECK(nsent == 1 && tcp_of(0, false, z.port, &s) == 0 && s.dlen == 1);
		/* The window opens: the rest follows the ACK. */
		z.win = 65535;
		z.rcv++;
		nsent = 0;
		guest_send(p, &z, ACK, NULL, 0, T0 + 20);
		CHECK(nsent == 2 && tcp_of(0, false, z.port, &s) == 0 && s.dlen == 1460);
		CHECK(tcp_of(1, false, z.port, &s) == 0 && s.dlen == an + 2 - 1 - 1460);
		z.rcv += (uint32_t)(an + 2 - 1);
		nsent = 0;
		guest_send(p, &z, ACK, NULL, 0, T0 + 20);
		/* Idle for 10 s: the proxy closes. */
		dns_tick(p, T0 + 25);
		CHECK(nsent == 0);
		dns_tick(p, T0 + 30);
		CHECK(nsent == 1 && tcp_of(0, false, z.port, &s) == 0 && (s.flags & FIN));
		z.rcv++;
		nsent = 0;
		guest_send(p, &z, ACK | FIN, NULL, 0, T0 + 30);
		CHECK(nsent == 1 && tcp_of(0, false, z.port, &s) == 0 && s.flags == ACK && s.ack == z.snd);
	}

	/* The SYN again (our SYN-ACK was lost): the same SYN-ACK; a RST at RCV.NXT then frees the connection. */
	{
		struct guest r = { .port = 41010, .snd = 77, .win = 1000 };
		struct seg syn = { .seq = 77, .flags = SYN, .win = 1000, .mss = 1460 }, s2;

		CHECK(guest_connect(p, &r, 1460, T0 + 35));
		nsent = 0;
		dns_input(p, scratch, tcp_frame(scratch, false, r.port, &syn), T0 + 35);
		CHECK(nsent == 1 && tcp_of(0, false, r.port, &s) == 0 && s.flags == ACK); /* open now: challenge ACK */
		nsent = 0;
		guest_send(p, &r, RST, NULL, 0, T0 + 35);
		guest_send(p, &r, ACK, NULL, 0, T0 + 35); /* gone */
		CHECK(nsent == 1 && tcp_of(0, false, r.port, &s) == 0 && s.flags == RST);
		r.port++;
		syn.seq = 500;
		nsent = 0;
		dns_input(p, scratch, tcp_frame(scratch, false, r.port, &syn), T0 + 35);
		dns_input(p, scratch, tcp_frame(scratch, false, r.port, &syn), T0 + 35);
		CHECK(nsent == 2 && tcp_of(0, false, r.port, &s) == 0 && tcp_of(1, false, r.port, &s2) == 0);
		CHECK(s.flags == (SYN | ACK) && s2.flags == (SYN | ACK) && s.seq == s2.seq && s2.ack == 501);
		r.snd = 501;
		r.rcv = s.seq + 1;
		nsent = 0;
		guest_send(p, &r, ACK, NULL, 0, T0 + 35);
		guest_send(p, &r, RST, NULL, 0, T0 + 35);
		CHECK(nsent == 0);
		guest_send(p, &r, ACK, NULL, 0, T0 + 35); /* gone */
		CHECK(nsent == 1 && tcp_of(0, false, r.port, &s) == 0 && s.flags == RST);
	}

	/* A bad query over TCP, a query length we do not take: reset. */
	{
		struct guest b = { .port = 41003, .snd = 5, .win = 1000 };
		uint8_t junk[14] = { 0, 12 };

		CHECK(guest_connect(p, &b, 1460, T0 + 40));
		nsent = 0;
		guest_send(p, &b, ACK | PSH, junk, sizeof(junk), T0 + 40);
		CHECK(nsent >= 1 && tcp_of(nsent - 1, false, b.port, &s) == 0 && (s.flags & RST));
		b.port++;
		b.snd = 5;
		CHECK(guest_connect(p, &b, 1460, T0 + 40));
		nsent = 0;
		put16(junk, 60000);
		guest_send(p, &b, ACK | PSH, junk, 2, T0 + 40);
		CHECK(nsent >= 1 && tcp_of(nsent - 1, false, b.port, &s) == 0 && (s.flags & RST));
	}

	/* A SYN flood: the table stays bounded, the oldest half-open connection makes room. */
	{
		struct seg syn = { .seq = 1, .flags = SYN, .win = 1000 }, first;
		uint16_t p0 = 50000;

		for (unsigned k = 0; k < DNS_TCP_CONN_MAX + 10; k++) {
			nsent = 0;
			dns_input(p, scratch, tcp_frame(scratch, false, (uint16_t)(p0 + k), &syn), T0 + 50 + (k == 0 ? 0 : 1));
			CHECK(nsent >= 1);
			if (k == DNS_TCP_CONN_MAX) {
				/* The 65th: the first is reset, the new one answered. */
				CHECK(nsent == 2 && tcp_of(0, false, p0, &first) == 0 && (first.flags & RST));
				CHECK(tcp_of(1, false, (uint16_t)(p0 + k), &s) == 0 && s.flags == (SYN | ACK));
			}
		}
		/* Nobody completes: SYN-ACKs are retried, then all are reset. */
		for (uint64_t t = T0 + 52; t < T0 + 60; t++)
			dns_tick(p, t);
		nsent = 0;
		dns_tick(p, T0 + 61);
		CHECK(nsent == 0);
	}

	/* The upstream refuses: the guest's connection is closed with a FIN. */
	{
		struct guest r = { .port = 42000, .snd = 9, .win = 1000 };

		close(lfd);
		CHECK(guest_connect(p, &r, 1460, T0 + 70));
		qn = make_query(q + 2, 0x8888, "refused.example.test", 1, 0);
		put16(q, (uint16_t)qn);
		nsent = 0;
		guest_send(p, &r, ACK | PSH, q, qn + 2, T0 + 70);
		for (int i = 0; i < 50; i++)
			pump(10);
		CHECK(nsent >= 1 && tcp_of(nsent - 1, false, r.port, &s) == 0 && (s.flags & FIN));
	}
	CHECK(oversized == 0);
	dns_proxy_free(p);
	loop_free_deferred();
}

int main(void)
{
	char dir[] = "/tmp/test_dns.XXXXXX";

	log_level = LOG_LVL_ERR;
	if (!mkdtemp(dir) || loop_init() < 0)
		return 1;
	test_upstreams();
	test_resolv_conf(dir);
	test_udp();
	test_malformed();
	test_tcp();
	rmdir(dir);
	return check_done();
}
