/*
 * fuzz_dns.c — libFuzzer target: arbitrary bytes as guest frames into
 * dns_input() (engine/dns.c, engine/dns_tcp.c) of one proxy that lives
 * across inputs, so pending queries and TCP connections pile up as they
 * would under attack. The upstream is a loopback port nobody listens on:
 * UDP queries vanish, TCP connections are refused (the event loop is run
 * after every input, so those failures are handled too); the clock moves
 * one second every 64 inputs and dns_tick() runs.
 *
 * The first input byte picks the mode (mod 6):
 *   0  the rest is the whole frame (every header fuzzed);
 *   1  the rest is a DNS message in valid Ethernet/IPv4/UDP headers to port 53;
 *   2  the same over IPv6;
 *   3  a TCP segment in valid Ethernet/IPv4 headers: the next bytes pick the
 *      guest's port (one of four), sequence and acknowledgment numbers,
 *      flags, window and option length; the rest is options and payload;
 *   4  the same over IPv6;
 *   5  like 3 or 4, but the sequence and acknowledgment numbers are those
 *      the proxy expects (learnt from the segments it sent to that port;
 *      when it has sent none, or a RST, a SYN goes first), so that the
 *      fuzzer gets past the handshake into queries and closing.
 * Checksums are computed for modes 1-5, so that parsing goes past them. The
 * frame is an allocation of its exact size: ASan sees any read past it.
 *
 * Checked on every frame the proxy sends: at most 1514 bytes, from the
 * gateway's MAC, IPv4 or IPv6 from port 53 with consistent lengths, and
 * valid IPv4 header and UDP/TCP checksums.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/csum.h"
#include "common/log.h"
#include "engine/dns.h"
#include "engine/loop.h"

#define FRAME_MAX 1514
#define PORTS 4
#define GUEST_PORT 40000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t gw_mac[6] = { 0x02, 0x76, 0x6d, 0xa8, 0x40, 0x01 };
static const uint8_t gw4[4] = { 192, 168, 64, 1 }, guest4[4] = { 192, 168, 64, 10 };
static const uint8_t gw6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t guest6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 };

static struct dns_proxy *proxy;
static uint64_t now = 1000, inputs;

/* What the proxy expects next from each guest port, [v6][port], learnt from what it sent. */
static struct {
	bool known;
	uint32_t seq, ack;
} expect[2][PORTS];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint32_t pseudo(bool v6, const uint8_t *s, const uint8_t *d, uint8_t proto, size_t len)
{
	uint32_t a, b;

	if (v6)
		return csum_ipv6_pseudo(s, d, proto, (uint32_t)len);
	memcpy(&a, s, 4);
	memcpy(&b, d, 4);
	return csum_ipv4_pseudo(a, b, proto, (uint16_t)len);
}

/* Check one frame from the proxy; learn TCP sequence numbers. */
static void check_sent(void *ctx, const uint8_t *f, size_t len)
{
	bool v6;
	size_t hl, l4;
	const uint8_t *t;
	uint8_t proto;

	(void)ctx;
	if (len > FRAME_MAX || len < 14 + 20 + 8 || memcmp(f + 6, gw_mac, 6))
		abort();
	v6 = get16(f + 12) == 0x86dd;
	if (v6) {
		hl = 54;
		l4 = get16(f + 18);
		proto = f[20];
		if (len < hl + 8 || l4 != len - hl || memcmp(f + 22, gw6, 16))
			abort();
	} else {
		hl = 34;
		l4 = get16(f + 16) - 20u;
		proto = f[23];
		if (get16(f + 12) != 0x0800 || f[14] != 0x45 || get16(f + 16) != len - 14 ||
		    csum_fold(csum_partial(f + 14, 20, 0)) != 0 || memcmp(f + 26, gw4, 4))
			abort();
	}
	t = f + hl;
	if ((proto != 17 && proto != 6) || get16(t) != 53)
		abort();
	if (csum_fold(csum_partial(t, l4, pseudo(v6, f + (v6 ? 22 : 26), f + (v6 ? 38 : 30), proto, l4))) != 0)
		abort();
	if (proto == 17 && get16(t + 4) != l4)
		abort();
	if (proto == 6) {
		unsigned port = get16(t + 2) - GUEST_PORT;
		size_t dlen = l4 - (size_t)(t[12] >> 4) * 4;

		if ((size_t)(t[12] >> 4) * 4 > l4 || (size_t)(t[12] >> 4) * 4 < 20)
			abort();
		if (port < PORTS && (t[13] & 0x04)) {
			expect[v6][port].known = false;
		} else if (port < PORTS) {
			expect[v6][port].known = true;
			expect[v6][port].seq = get32(t + 8);
			expect[v6][port].ack = get32(t + 4) + (uint32_t)dlen + !!(t[13] & 0x02) + !!(t[13] & 0x01);
		}
	}
}

/* A port nothing listens on, for UDP and TCP alike (bound once, then closed). */
static uint16_t dead_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

static void setup(void)
{
	struct dns_config c;
	char list[32];

	log_level = LOG_LVL_ERR;
	if (loop_init() < 0)
		abort();
	memset(&c, 0, sizeof(c));
	memcpy(c.mac, gw_mac, 6);
	memcpy(&c.addr4, gw4, 4);
	c.has_addr6 = true;
	memcpy(c.addr6[1], gw6, 16);
	snprintf(list, sizeof(list), "127.0.0.1#%u", dead_port());
	c.upstreams = list;
	c.send = check_sent;
	if (dns_proxy_new(&c, &proxy) < 0)
		abort();
}

/* Ethernet + IP headers for an l4len-byte segment. Return: the header length. */
static size_t put_eth_ip(uint8_t *f, bool v6, uint8_t proto, size_t l4len)
{
	memcpy(f, gw_mac, 6);
	memcpy(f + 6, (const uint8_t[]){ 0x52, 0x54, 0, 0, 0, 1 }, 6);
	if (v6) {
		put16(f + 12, 0x86dd);
		f[14] = 0x60;
		put16(f + 18, (uint16_t)l4len);
		f[20] = proto;
		f[21] = 64;
		memcpy(f + 22, guest6, 16);
		memcpy(f + 38, gw6, 16);
		return 54;
	}
	put16(f + 12, 0x0800);
	f[14] = 0x45;
	put16(f + 16, (uint16_t)(20 + l4len));
	f[22] = 64;
	f[23] = proto;
	memcpy(f + 26, guest4, 4);
	memcpy(f + 30, gw4, 4);
	put16(f + 24, csum_fold(csum_partial(f + 14, 20, 0)));
	return 34;
}

static void fill_l4_check(uint8_t *f, size_t hl, bool v6, uint8_t proto, size_t l4len, size_t at)
{
	uint16_t s = csum_fold(csum_partial(f + hl, l4len, pseudo(v6, f + (v6 ? 22 : 26), f + (v6 ? 38 : 30), proto, l4len)));

	put16(f + hl + at, proto == 17 && !s ? 0xffff : s);
}

static uint8_t *udp_wrap(const uint8_t *d, size_t n, bool v6, size_t *len)
{
	size_t hl = v6 ? 54 : 34, room = FRAME_MAX - hl - 8;
	uint8_t *f;

	if (n > room)
		n = room;
	*len = hl + 8 + n;
	if (!(f = calloc(1, *len)))
		abort();
	put_eth_ip(f, v6, 17, 8 + n);
	put16(f + hl, (uint16_t)(GUEST_PORT + (n ? d[0] % PORTS : 0)));
	put16(f + hl + 2, 53);
	put16(f + hl + 4, (uint16_t)(8 + n));
	memcpy(f + hl + 8, d, n);
	fill_l4_check(f, hl, v6, 17, 8 + n, 6);
	return f;
}

/* d: port (1), seq (4), ack (4), flags (1), window (2), option words (1), then options and payload. */
static uint8_t *tcp_wrap(const uint8_t *d, size_t n, bool v6, bool in_seq, size_t *len)
{
	uint8_t h[13] = { 0 }, *f;
	size_t hl = v6 ? 54 : 34, opt, k = n < sizeof(h) ? n : sizeof(h), room;
	unsigned port;

	memcpy(h, d, k);
	d += k;
	n -= k;
	port = h[0] % PORTS;
	opt = (size_t)(h[12] % 11) * 4; /* 0..40 bytes of options */
	room = FRAME_MAX - hl - 20 - opt;
	if (n > opt + room)
		n = opt + room;
	*len = hl + 20 + (n > opt ? n : opt);
	if (!(f = calloc(1, *len)))
		abort();
	put_eth_ip(f, v6, 6, *len - hl);
	put16(f + hl, (uint16_t)(GUEST_PORT + port));
	put16(f + hl + 2, 53);
	if (in_seq) {
		put32(f + hl + 4, expect[v6][port].seq + (h[1] & 1)); /* mostly in order, sometimes off by one */
		put32(f + hl + 8, expect[v6][port].ack);
	} else {
		memcpy(f + hl + 4, h + 1, 8);
	}
	f[hl + 12] = (uint8_t)((20 + opt) / 4 << 4);
	f[hl + 13] = h[9];
	memcpy(f + hl + 14, h + 10, 2);
	memcpy(f + hl + 20, d, n);
	fill_l4_check(f, hl, v6, 6, *len - hl, 16);
	return f;
}

/* Open a connection from guest port `port` when the proxy has sent nothing to it yet. */
static void syn_first(bool v6, unsigned port)
{
	/* port, seq, ack, flags SYN, window, one option word: MSS 1400 */
	uint8_t d[17] = { (uint8_t)port, 0, 0, 0, 1, 0, 0, 0, 0, 0x02, 0xff, 0xff, 1, 2, 4, 0x05, 0x78 };
	uint8_t *f;
	size_t len;

	if (expect[v6][port].known)
		return;
	f = tcp_wrap(d, sizeof(d), v6, false, &len);
	dns_input(proxy, f, len, now);
	free(f);
}

/* Run what the upstream sockets have to say (refused connections) without waiting. */
static void run_loop(void)
{
	struct epoll_event ev[16];
	int n = loop_wait(ev, 16, 0);

	for (int i = 0; i < n; i++) {
		struct loop_src *s = ev[i].data.ptr;

		if (!s->dead && s->type == EV_CALLBACK)
			s->cb(s, ev[i].events);
	}
	loop_free_deferred();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *frame;
	size_t len;

	if (!proxy)
		setup();
	if (size == 0)
		return 0;
	switch (data[0] % 6) {
	case 0:
		len = size - 1;
		frame = malloc(len ? len : 1);
		if (!frame)
			abort();
		memcpy(frame, data + 1, len);
		break;
	case 1:
	case 2:
		frame = udp_wrap(data + 1, size - 1, data[0] % 6 == 2, &len);
		break;
	case 3:
	case 4:
		frame = tcp_wrap(data + 1, size - 1, data[0] % 6 == 4, false, &len);
		break;
	default:
		syn_first(data[0] & 0x80, size > 1 ? data[1] % PORTS : 0);
		frame = tcp_wrap(data + 1, size - 1, data[0] & 0x80, true, &len);
		break;
	}
	dns_input(proxy, frame, len, now);
	free(frame);
	run_loop();
	if (++inputs % 64 == 0)
		dns_tick(proxy, ++now);
	return 0;
}
