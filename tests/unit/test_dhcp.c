/*
 * test_dhcp.c — the DHCPv4 server (engine/dhcp.c, engine/lease.c) with
 * hand-built frames: the exchanges of RFC 2131, persistence, reservations,
 * hostile input and a mutation loop. Replies are checked byte by byte with a
 * parser and a checksum of the test's own, not the server's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "check.h"
#include "common/log.h"
#include "engine/dhcp.h"

#define OUTCAP 1514
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define NET(x) IP(192, 168, 64, x)

static const uint8_t server_mac[6] = { 0x02, 0x76, 0x6d, 0xa8, 0x40, 0x01 };
static uint64_t base; /* a monotonic "now" as the gateway gives it */
static char tmpdir[64];

/* --- building requests --- */

struct req {
	uint8_t type;
	uint8_t mac[6];
	uint32_t xid, ciaddr, daddr; /* host order; daddr 0 = broadcast */
	uint16_t flags;
	bool has_reqip, has_sid;
	uint32_t reqip, sid;
	const uint8_t *cid; /* client identifier */
	size_t cid_len;
	const char *hostname;
	const uint8_t *prl;
	size_t prl_len;
	const uint8_t *extra; /* raw bytes appended before END */
	size_t extra_len;
	bool no_end;
};

static size_t put_opt(uint8_t *o, uint8_t code, const void *v, size_t len)
{
	o[0] = code;
	o[1] = (uint8_t)len;
	memcpy(o + 2, v, len);
	return 2 + len;
}

/* A request frame as a client sends it. Return: its length. */
static size_t build(uint8_t *f, const struct req *r)
{
	uint8_t *ip = f + 14, *udp = f + 34, *bp = f + 42, *o = f + 282, v[4];
	size_t n = 0, dlen, ulen;
	uint32_t dst = r->daddr ? r->daddr : 0xffffffff;

	memset(f, 0, 600);
	memset(f, 0xff, 6);
	memcpy(f + 6, r->mac, 6);
	put16(f + 12, 0x0800);
	n += put_opt(o + n, DHCP_OPT_MESSAGE_TYPE, &r->type, 1);
	if (r->has_reqip) {
		put32(v, r->reqip);
		n += put_opt(o + n, DHCP_OPT_REQUESTED_IP, v, 4);
	}
	if (r->has_sid) {
		put32(v, r->sid);
		n += put_opt(o + n, DHCP_OPT_SERVER_ID, v, 4);
	}
	if (r->cid)
		n += put_opt(o + n, DHCP_OPT_CLIENT_ID, r->cid, r->cid_len);
	if (r->hostname)
		n += put_opt(o + n, DHCP_OPT_HOSTNAME, r->hostname, strlen(r->hostname));
	if (r->prl)
		n += put_opt(o + n, DHCP_OPT_PARAM_REQUEST, r->prl, r->prl_len);
	if (r->extra) {
		memcpy(o + n, r->extra, r->extra_len);
		n += r->extra_len;
	}
	if (!r->no_end)
		o[n++] = DHCP_OPT_END;
	bp[0] = DHCP_OP_BOOTREQUEST;
	bp[1] = DHCP_HTYPE_ETHER;
	bp[2] = DHCP_HLEN_ETHER;
	put32(bp + 4, r->xid ? r->xid : 0x12345678);
	put16(bp + 10, r->flags);
	put32(bp + 12, r->ciaddr);
	memcpy(bp + 28, r->mac, 6);
	put32(bp + 236, DHCP_MAGIC_COOKIE);
	dlen = 236 + 4 + n;
	ulen = 8 + dlen;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + ulen));
	ip[8] = 64;
	ip[9] = 17;
	put32(ip + 12, r->ciaddr);
	put32(ip + 16, dst);
	put16(ip + 10, (uint16_t)~sum16(ip, 20, 0));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)ulen);
	return 14 + 20 + ulen;
}

/* --- reading replies --- */

struct reply {
	int type;
	uint8_t eth_dst[6], eth_src[6];
	uint32_t ip_src, ip_dst, xid, ciaddr, yiaddr, siaddr, giaddr;
	uint16_t flags;
	uint8_t chaddr[6];
	bool has[256];
	uint32_t sid, lease, t1, t2, mask, router, dns, bcast;
	uint16_t mtu;
	char domain[256], message[256];
	size_t len;
};

/* Options of a reply, each once, ending with END. Return: 0, or the number of the failed check. */
static int parse_reply_options(const uint8_t *f, size_t n, struct reply *r)
{
	size_t i;

	for (i = 282; i < n;) {
		uint8_t code = f[i], len;
		const uint8_t *v;

		if (code == DHCP_OPT_PAD) {
			i++;
			continue;
		}
		if (code == DHCP_OPT_END)
			break;
		if (i + 2 > n || i + 2 + f[i + 1] > n)
			return 8;
		len = f[i + 1];
		v = f + i + 2;
		if (r->has[code])
			return 9; /* each option once */
		r->has[code] = true;
		switch (code) {
		case DHCP_OPT_MESSAGE_TYPE:
			r->type = len == 1 ? v[0] : -1;
			break;
		case DHCP_OPT_SERVER_ID: r->sid = len == 4 ? get32(v) : 0; break;
		case DHCP_OPT_LEASE_TIME: r->lease = len == 4 ? get32(v) : 0; break;
		case DHCP_OPT_RENEWAL_TIME: r->t1 = len == 4 ? get32(v) : 0; break;
		case DHCP_OPT_REBINDING_TIME: r->t2 = len == 4 ? get32(v) : 0; break;
		case DHCP_OPT_SUBNET_MASK: r->mask = len == 4 ? get32(v) : 0; break;
		case DHCP_OPT_ROUTER: r->router = len == 4 ? get32(v) : 0; break;
		case DHCP_OPT_DNS_SERVER: r->dns = len == 4 ? get32(v) : 0; break;
		case DHCP_OPT_BROADCAST: r->bcast = len == 4 ? get32(v) : 0; break;
		case DHCP_OPT_INTERFACE_MTU: r->mtu = len == 2 ? get16(v) : 0; break;
		case DHCP_OPT_DOMAIN_NAME: memcpy(r->domain, v, len); break;
		case DHCP_OPT_MESSAGE: memcpy(r->message, v, len); break;
		default: break;
		}
		i += 2 + (size_t)len;
	}
	if (i >= n || f[i] != DHCP_OPT_END)
		return 10;
	return r->type ? 0 : 11;
}

/* Parse and verify a reply frame. Return: 0, or the number of the failed check. */
static int parse_reply(const uint8_t *f, size_t n, struct reply *r)
{
	const uint8_t *ip = f + 14, *udp = f + 34, *bp = f + 42;
	size_t ulen;

	memset(r, 0, sizeof(*r));
	r->len = n;
	if (n < 14 + 20 + 8 + 240 || get16(f + 12) != 0x0800)
		return 1;
	if (ip[0] != 0x45 || get16(ip + 2) != n - 14 || ip[9] != 17 || (get16(ip + 6) & 0x3fff))
		return 2;
	if (sum16(ip, 20, 0) != 0xffff)
		return 3; /* IPv4 header checksum */
	ulen = get16(udp + 4);
	if (get16(udp) != 67 || get16(udp + 2) != 68 || ulen != n - 34)
		return 4;
	{
		uint32_t ps = get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) + 17 + (uint32_t)ulen;

		if (get16(udp + 6) == 0 || sum16(udp, ulen, ps) != 0xffff)
			return 5; /* UDP checksum, mandatory from us */
	}
	if (ulen - 8 < DHCP_BOOTP_MIN)
		return 6;
	memcpy(r->eth_dst, f, 6);
	memcpy(r->eth_src, f + 6, 6);
	r->ip_src = get32(ip + 12);
	r->ip_dst = get32(ip + 16);
	if (bp[0] != DHCP_OP_BOOTREPLY || bp[1] != 1 || bp[2] != 6 || get32(bp + 236) != DHCP_MAGIC_COOKIE)
		return 7;
	r->xid = get32(bp + 4);
	r->flags = get16(bp + 10);
	r->ciaddr = get32(bp + 12);
	r->yiaddr = get32(bp + 16);
	r->siaddr = get32(bp + 20);
	r->giaddr = get32(bp + 24);
	memcpy(r->chaddr, bp + 28, 6);
	return parse_reply_options(f, n, r);
}

/* --- a server and exchanges --- */

static struct dhcp_config config(void)
{
	struct dhcp_config c;

	memset(&c, 0, sizeof(c));
	memcpy(c.server_mac, server_mac, 6);
	c.server.s_addr = htonl(NET(1));
	c.mask.s_addr = htonl(0xffffff00);
	c.pool_start.s_addr = htonl(NET(2));
	c.pool_end.s_addr = htonl(NET(254));
	c.dns.s_addr = htonl(NET(1));
	c.lease_time = 3600;
	c.mtu = 1500;
	snprintf(c.domain, sizeof(c.domain), "vmnet.test");
	return c;
}

static struct dhcp_server *server(const struct dhcp_config *c)
{
	struct dhcp_server *s = NULL;
	int r = dhcp_server_new(c, &s);

	CHECK(r == 0 && s);
	if (!s) {
		fprintf(stderr, "dhcp_server_new: %s\n", strerror(-r));
		exit(1);
	}
	return s;
}

static void mac_of(uint8_t mac[6], unsigned n)
{
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

/* Send r; parse the reply into *rep when there is one. Return: what dhcp_input returned. */
static int exchange(struct dhcp_server *s, const struct req *r, struct reply *rep, uint64_t now)
{
	uint8_t f[600], out[OUTCAP];
	size_t n = build(f, r);
	int len = dhcp_input(s, f, n, out, sizeof(out), now);

	if (rep)
		memset(rep, 0, sizeof(*rep));
	CHECK(len <= (int)sizeof(out));
	if (len > 0 && rep) {
		int bad = parse_reply(out, (size_t)len, rep);

		if (bad)
			fprintf(stderr, "reply check %d failed\n", bad);
		CHECK(bad == 0);
		CHECK(rep->xid == (r->xid ? r->xid : 0x12345678));
		CHECK(!memcmp(rep->chaddr, r->mac, 6));
		CHECK(!memcmp(rep->eth_src, server_mac, 6));
		CHECK(rep->ip_src == NET(1));
		CHECK(rep->sid == NET(1));
	}
	return len;
}

static struct req discover(unsigned client)
{
	struct req r = { .type = DHCP_DISCOVER };

	mac_of(r.mac, client);
	return r;
}

static struct req request_selecting(unsigned client, uint32_t ip)
{
	struct req r = { .type = DHCP_REQUEST, .has_reqip = true, .reqip = ip, .has_sid = true, .sid = NET(1) };

	mac_of(r.mac, client);
	return r;
}

/* DISCOVER + REQUEST. Return: the address acknowledged, or 0. */
static uint32_t lease(struct dhcp_server *s, unsigned client, uint64_t now)
{
	struct req d = discover(client), q;
	struct reply rep;

	if (exchange(s, &d, &rep, now) <= 0 || rep.type != DHCP_OFFER)
		return 0;
	q = request_selecting(client, rep.yiaddr);
	if (exchange(s, &q, &rep, now) <= 0 || rep.type != DHCP_ACK)
		return 0;
	return rep.yiaddr;
}

struct listing {
	unsigned n;
	uint8_t mac[8][6];
	uint32_t ip[8];
	char host[8][64];
	uint64_t expires[8];
};

static void list_fn(void *ctx, const uint8_t mac[6], struct in_addr ip, const char *hostname, uint64_t expires)
{
	struct listing *l = ctx;

	if (l->n < 8) {
		memcpy(l->mac[l->n], mac, 6);
		l->ip[l->n] = ntohl(ip.s_addr);
		snprintf(l->host[l->n], sizeof(l->host[0]), "%s", hostname);
		l->expires[l->n] = expires;
	}
	l->n++;
}

static struct listing list(struct dhcp_server *s)
{
	struct listing l;

	memset(&l, 0, sizeof(l));
	dhcp_leases(s, &l, list_fn);
	return l;
}

/* --- the tests --- */

static void test_discover_offer(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	static const uint8_t prl[] = { DHCP_OPT_SUBNET_MASK, DHCP_OPT_ROUTER, DHCP_OPT_DNS_SERVER,
				       DHCP_OPT_DOMAIN_NAME, DHCP_OPT_INTERFACE_MTU, DHCP_OPT_BROADCAST };
	static const uint8_t prl_core[] = { DHCP_OPT_SUBNET_MASK, DHCP_OPT_ROUTER };
	struct req d = discover(1);
	struct reply rep;

	d.prl = prl;
	d.prl_len = sizeof(prl);
	d.xid = 0xdeadbeef;
	CHECK(exchange(s, &d, &rep, base) >= 14 + 20 + 8 + DHCP_BOOTP_MIN);
	CHECK(rep.type == DHCP_OFFER);
	CHECK(rep.yiaddr == NET(2));
	CHECK(rep.ciaddr == 0 && rep.siaddr == 0 && rep.giaddr == 0);
	CHECK(rep.ip_dst == 0xffffffff);
	CHECK(!memcmp(rep.eth_dst, "\xff\xff\xff\xff\xff\xff", 6));
	CHECK(rep.lease == 3600 && rep.t1 == 1800 && rep.t2 == 3150);
	CHECK(rep.mask == 0xffffff00 && rep.router == NET(1) && rep.dns == NET(1));
	CHECK(rep.bcast == NET(255) && rep.mtu == 1500 && !strcmp(rep.domain, "vmnet.test"));
	CHECK(!rep.has[DHCP_OPT_MESSAGE]);

	/* Same client again: the same offer. */
	d.prl = prl_core;
	d.prl_len = sizeof(prl_core);
	CHECK(exchange(s, &d, &rep, base + 1) > 0 && rep.yiaddr == NET(2));
	/* Core options always, the others only when asked for. */
	CHECK(rep.has[DHCP_OPT_DNS_SERVER] && rep.has[DHCP_OPT_LEASE_TIME] && rep.has[DHCP_OPT_SUBNET_MASK]);
	CHECK(!rep.has[DHCP_OPT_DOMAIN_NAME] && !rep.has[DHCP_OPT_INTERFACE_MTU] && !rep.has[DHCP_OPT_BROADCAST]);

	/* Another client: the next address; with the broadcast bit the flags are echoed. */
	d = discover(2);
	d.flags = DHCP_FLAG_BROADCAST;
	CHECK(exchange(s, &d, &rep, base + 1) > 0 && rep.yiaddr == NET(3) && rep.flags == DHCP_FLAG_BROADCAST);
	/* A client asking for a free address gets it. */
	d = discover(3);
	d.has_reqip = true;
	d.reqip = NET(77);
	CHECK(exchange(s, &d, &rep, base + 1) > 0 && rep.yiaddr == NET(77));
	/* ... but not one outside the pool or someone else's. */
	d = discover(4);
	d.has_reqip = true;
	d.reqip = IP(10, 0, 0, 9);
	CHECK(exchange(s, &d, &rep, base + 1) > 0 && rep.yiaddr == NET(4));
	d = discover(5);
	d.has_reqip = true;
	d.reqip = NET(2);
	CHECK(exchange(s, &d, &rep, base + 1) > 0 && rep.yiaddr == NET(5));
	/* No DNS configured: no option 6. */
	dhcp_server_free(s);
	c.dns.s_addr = 0;
	c.mtu = 0;
	c.domain[0] = '\0';
	s = server(&c);
	d = discover(1);
	CHECK(exchange(s, &d, &rep, base) > 0 && !rep.has[DHCP_OPT_DNS_SERVER]);
	CHECK(!rep.has[DHCP_OPT_INTERFACE_MTU] && !rep.has[DHCP_OPT_DOMAIN_NAME] && rep.has[DHCP_OPT_BROADCAST]);
	dhcp_server_free(s);
}

static void test_request_ack_renew(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	struct req d = discover(1), q;
	struct reply rep;
	struct listing l;

	d.hostname = "alpha";
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(2));
	q = request_selecting(1, NET(2));
	q.hostname = "alpha";
	CHECK(exchange(s, &q, &rep, base) > 0);
	CHECK(rep.type == DHCP_ACK && rep.yiaddr == NET(2) && rep.lease == 3600 && rep.t1 == 1800);
	CHECK(rep.ip_dst == 0xffffffff); /* ciaddr 0: broadcast */
	l = list(s);
	CHECK(l.n == 1 && l.ip[0] == NET(2) && l.expires[0] == base + 3600 && !strcmp(l.host[0], "alpha"));

	/* RENEWING: unicast to us with ciaddr; the reply is unicast to ciaddr/chaddr. */
	q = (struct req){ .type = DHCP_REQUEST, .ciaddr = NET(2), .daddr = NET(1) };
	mac_of(q.mac, 1);
	CHECK(exchange(s, &q, &rep, base + 1800) > 0);
	CHECK(rep.type == DHCP_ACK && rep.yiaddr == NET(2) && rep.ciaddr == NET(2));
	CHECK(rep.ip_dst == NET(2) && !memcmp(rep.eth_dst, q.mac, 6));
	l = list(s);
	CHECK(l.n == 1 && l.expires[0] == base + 1800 + 3600);
	/* REBINDING: broadcast with ciaddr. */
	q.daddr = 0;
	CHECK(exchange(s, &q, &rep, base + 3200) > 0 && rep.type == DHCP_ACK && rep.ip_dst == NET(2));
	/* Unicast to another server's address: not ours. */
	q.daddr = NET(9);
	CHECK(exchange(s, &q, &rep, base + 3200) == -EPROTO);

	/* Same client later (even after expiry) gets the same address. */
	d = discover(1);
	CHECK(exchange(s, &d, &rep, base + 100000) > 0 && rep.yiaddr == NET(2));
	/* A renewal for an address that is not the client's: NAK. */
	q = (struct req){ .type = DHCP_REQUEST, .ciaddr = NET(3) };
	mac_of(q.mac, 1);
	CHECK(exchange(s, &q, &rep, base + 100000) > 0 && rep.type == DHCP_NAK && rep.yiaddr == 0);
	dhcp_server_free(s);
}

static void test_client_id(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	static const uint8_t duid[] = { 0xff, 1, 2, 3, 4, 0, 2, 0, 0, 0xab, 0x11, 0x22, 0x33 };
	uint8_t cid01[7] = { 1 };
	struct req d = discover(1), q;
	struct reply rep;

	d.cid = duid;
	d.cid_len = sizeof(duid);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(2));
	q = request_selecting(1, NET(2));
	q.cid = duid;
	q.cid_len = sizeof(duid);
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_ACK);
	/* The same client identifier from another MAC is the same client. */
	d = discover(9);
	d.cid = duid;
	d.cid_len = sizeof(duid);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(2));
	/* The MAC without the identifier is someone else. */
	d = discover(1);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(3));
	/* 01 + MAC as identifier is the same client as the bare MAC. */
	mac_of(cid01 + 1, 1);
	d.cid = cid01;
	d.cid_len = sizeof(cid01);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(3));
	dhcp_server_free(s);
}

static void lease_file_path(char *path, size_t n)
{
	snprintf(path, n, "%s/leases", tmpdir);
}

/* Return: whether path could be read into buf (NUL-terminated). */
static bool read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return true;
}

static void test_restart(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s;
	struct req d = discover(1), q;
	struct reply rep;
	struct listing l;
	char path[128], buf[4096];
	struct stat st;

	lease_file_path(path, sizeof(path));
	unlink(path);
	c.lease_file = path;
	s = server(&c);
	CHECK(lease(s, 7, base) == NET(2));
	d = discover(8);
	d.hostname = "bravo";
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(3));
	q = request_selecting(8, NET(3));
	q.hostname = "bravo";
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_ACK);
	/* Written at once, atomically, private. */
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(buf, sizeof(buf), "%s.tmp", path);
	CHECK(access(buf, F_OK) != 0);
	CHECK(read_file(path, buf, sizeof(buf)));
	CHECK(strstr(buf, "192.168.64.3 52:54:00:00:00:08 ") && strstr(buf, " 01525400000008 bravo\n"));
	/* An offer alone is not persisted. */
	d = discover(9);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(4));
	dhcp_server_free(s);

	/* Restart: same addresses, hostnames kept, expiry within a second or two of before. */
	s = server(&c);
	l = list(s);
	CHECK(l.n == 2);
	CHECK(l.n == 2 && l.ip[1] == NET(3) && !strcmp(l.host[1], "bravo"));
	CHECK(l.expires[0] + 3 >= base + 3600 && l.expires[0] <= base + 3600 + 3);
	d = discover(8);
	CHECK(exchange(s, &d, &rep, base + 10) > 0 && rep.yiaddr == NET(3));
	/* INIT-REBOOT after the restart: ACK. */
	q = (struct req){ .type = DHCP_REQUEST, .has_reqip = true, .reqip = NET(2) };
	mac_of(q.mac, 7);
	CHECK(exchange(s, &q, &rep, base + 10) > 0 && rep.type == DHCP_ACK && rep.yiaddr == NET(2));
	/* A new client does not get a remembered address. */
	d = discover(10);
	CHECK(exchange(s, &d, &rep, base + 10) > 0 && rep.yiaddr == NET(4));
	/* A renewal soon after a save waits (no fsync per renewal), but dhcp_server_free writes it. */
	q = (struct req){ .type = DHCP_REQUEST, .ciaddr = NET(3), .hostname = "charlie" };
	mac_of(q.mac, 8);
	CHECK(exchange(s, &q, &rep, base + 20) > 0 && rep.type == DHCP_ACK);
	CHECK(read_file(path, buf, sizeof(buf)) && strstr(buf, " bravo\n") && !strstr(buf, "charlie"));
	dhcp_server_free(s);
	CHECK(read_file(path, buf, sizeof(buf)) && strstr(buf, " charlie\n"));
	s = server(&c);
	l = list(s);
	CHECK(l.n == 2 && !strcmp(l.host[1], "charlie"));
	dhcp_server_free(s);
	unlink(path);
}

/* Deferred saves: a binding reaches the file at dhcp_flush, not before; nothing to flush writes nothing. */
static void test_deferred_save(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s;
	char path[128], buf[4096];
	struct stat st;

	lease_file_path(path, sizeof(path));
	unlink(path);
	c.lease_file = path;
	s = server(&c);
	dhcp_defer_saves(s, true);
	CHECK(lease(s, 21, base) == NET(2));
	dhcp_flush(s);
	CHECK(stat(path, &st) == 0);
	unlink(path);
	CHECK(lease(s, 22, base) == NET(3));
	CHECK(stat(path, &st) != 0); /* not yet */
	dhcp_flush(s);
	CHECK(read_file(path, buf, sizeof(buf)));
	CHECK(strstr(buf, "192.168.64.2 52:54:00:00:00:15 ") && strstr(buf, "192.168.64.3 52:54:00:00:00:16 "));
	unlink(path);
	dhcp_flush(s); /* nothing new: no write */
	CHECK(stat(path, &st) != 0);
	dhcp_server_free(s); /* nothing pending: the file stays as it is */
	unlink(path);
}

static void test_reservation(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	uint8_t mac[6];
	struct req d, q;
	struct reply rep;
	struct listing l;

	mac_of(mac, 20);
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(NET(0)) }) == -EINVAL);
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(NET(255)) }) == -EINVAL);
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(NET(1)) }) == -EINVAL);
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(IP(10, 0, 0, 5)) }) == -EINVAL);
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(NET(100)) }) == 0);
	mac_of(mac, 21);
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(NET(100)) }) == -EINVAL); /* taken */

	d = discover(20);
	d.has_reqip = true;
	d.reqip = NET(50);
	d.hostname = "reserved";
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.type == DHCP_OFFER && rep.yiaddr == NET(100));
	q = request_selecting(20, NET(100));
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_ACK && rep.yiaddr == NET(100));
	/* Someone else asking for it: NAK, and never offered. */
	q = request_selecting(22, NET(100));
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_NAK);
	d = discover(22);
	d.has_reqip = true;
	d.reqip = NET(100);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(2));
	l = list(s);
	CHECK(l.n == 1 && l.ip[0] == NET(100) && l.expires[0] == 0 && !strcmp(l.host[0], "reserved"));

	/* A reservation outside the pool (but in the subnet) works too. */
	dhcp_server_free(s);
	c.pool_end.s_addr = htonl(NET(99));
	s = server(&c);
	mac_of(mac, 20);
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(NET(200)) }) == 0);
	d = discover(20);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(200));
	/* A reservation takes its address from a dynamic lease: the holder is NAKed at renewal. */
	CHECK(lease(s, 30, base) == NET(2));
	mac_of(mac, 31);
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(NET(2)) }) == 0);
	q = (struct req){ .type = DHCP_REQUEST, .ciaddr = NET(2) };
	mac_of(q.mac, 30);
	CHECK(exchange(s, &q, &rep, base + 5) > 0 && rep.type == DHCP_NAK);
	d = discover(30);
	CHECK(exchange(s, &d, &rep, base + 5) > 0 && rep.yiaddr == NET(3));
	/* Moving a reservation returns the old address to the pool. */
	CHECK(dhcp_reserve(s, mac, (struct in_addr){ htonl(NET(50)) }) == 0);
	d = discover(32);
	CHECK(exchange(s, &d, &rep, base + 5) > 0 && rep.yiaddr == NET(2));
	dhcp_server_free(s);
}

static void test_nak_and_other_server(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	struct req d, q;
	struct reply rep;

	CHECK(lease(s, 1, base) == NET(2));
	/* INIT-REBOOT for a wrong address: NAK, broadcast, with a reason. */
	q = (struct req){ .type = DHCP_REQUEST, .has_reqip = true, .reqip = NET(50) };
	mac_of(q.mac, 1);
	CHECK(exchange(s, &q, &rep, base) > 0);
	CHECK(rep.type == DHCP_NAK && rep.yiaddr == 0 && rep.ip_dst == 0xffffffff && rep.message[0]);
	CHECK(!rep.has[DHCP_OPT_LEASE_TIME] && !rep.has[DHCP_OPT_ROUTER]);
	/* On the wrong network: NAK. */
	q.reqip = IP(10, 0, 2, 15);
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_NAK);
	/* An unknown client rebooting into a free pool address: ACK (one server on this link). */
	q = (struct req){ .type = DHCP_REQUEST, .has_reqip = true, .reqip = NET(60) };
	mac_of(q.mac, 2);
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_ACK && rep.yiaddr == NET(60));
	/* ... but not into someone else's. */
	q.reqip = NET(2);
	mac_of(q.mac, 3);
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_NAK);
	/* Nor the server's own address. */
	q.reqip = NET(1);
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_NAK);

	/* REQUEST naming another server: silence, and our offer is withdrawn. */
	d = discover(4);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(3));
	q = request_selecting(4, NET(3));
	q.sid = IP(192, 168, 64, 254);
	CHECK(exchange(s, &q, &rep, base) == 0);
	d = discover(5);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(3));
	/* SELECTING without the address: malformed. */
	q = request_selecting(5, 0);
	q.has_reqip = false;
	CHECK(exchange(s, &q, &rep, base) == -EINVAL);
	/* A REQUEST with neither ciaddr nor address: malformed. */
	q.has_sid = false;
	CHECK(exchange(s, &q, &rep, base) == -EINVAL);
	dhcp_server_free(s);
}

static void test_release(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	struct req r, d;
	struct reply rep;
	struct listing l;

	CHECK(lease(s, 1, base) == NET(2));
	CHECK(lease(s, 2, base) == NET(3));
	/* A spoofed RELEASE (other MAC, other client id) is ignored. */
	r = (struct req){ .type = DHCP_RELEASE, .ciaddr = NET(3), .daddr = NET(1), .has_sid = true, .sid = NET(1) };
	mac_of(r.mac, 1);
	CHECK(exchange(s, &r, &rep, base + 5) == -EPERM);
	l = list(s);
	CHECK(l.n == 2 && l.expires[1] == base + 3600);
	d = discover(3);
	d.has_reqip = true;
	d.reqip = NET(3);
	CHECK(exchange(s, &d, &rep, base + 5) > 0 && rep.yiaddr == NET(4));
	/* A RELEASE for an address nobody holds. */
	r.ciaddr = NET(99);
	CHECK(exchange(s, &r, &rep, base + 5) == -ENOENT);
	/* For another server: ignored. */
	r.ciaddr = NET(2);
	r.sid = IP(10, 1, 1, 1);
	CHECK(exchange(s, &r, &rep, base + 5) == 0);
	CHECK(list(s).expires[0] == base + 3600);
	/* The owner's RELEASE frees the address: no reply, expired, available to others. */
	r.sid = NET(1);
	CHECK(exchange(s, &r, &rep, base + 5) == 0);
	l = list(s);
	CHECK(l.n == 2 && l.ip[0] == NET(2) && l.expires[0] == base + 5);
	d = discover(5);
	d.has_reqip = true;
	d.reqip = NET(2);
	CHECK(exchange(s, &d, &rep, base + 6) > 0 && rep.yiaddr == NET(2));
	dhcp_server_free(s);
}

static void test_decline(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s;
	struct req r, d;
	struct reply rep;

	c.pool_end.s_addr = htonl(NET(3));
	s = server(&c); /* two addresses: .2 and .3 */
	CHECK(lease(s, 1, base) == NET(2));
	/* A DECLINE from someone else: ignored. */
	r = (struct req){ .type = DHCP_DECLINE, .has_reqip = true, .reqip = NET(2), .has_sid = true, .sid = NET(1) };
	mac_of(r.mac, 2);
	CHECK(exchange(s, &r, &rep, base) == -EPERM);
	/* Without the address: malformed. */
	r.has_reqip = false;
	CHECK(exchange(s, &r, &rep, base) == -EINVAL);
	/* From the owner: the address is out of the pool for a while; the client gets another one. */
	mac_of(r.mac, 1);
	r.has_reqip = true;
	CHECK(exchange(s, &r, &rep, base) == 0);
	CHECK(list(s).n == 0);
	d = discover(1);
	CHECK(exchange(s, &d, &rep, base + 1) > 0 && rep.yiaddr == NET(3));
	d = discover(2);
	CHECK(exchange(s, &d, &rep, base + 1) == -ENOSPC); /* .3 offered, .2 declined */
	/* Ten minutes on, .2 is back (and .3's offer has expired too: oldest offer first). */
	d = discover(2);
	CHECK(exchange(s, &d, &rep, base + 700) > 0 && rep.yiaddr == NET(3));
	d = discover(3);
	CHECK(exchange(s, &d, &rep, base + 700) > 0 && rep.yiaddr == NET(2));
	dhcp_server_free(s);
}

static void test_inform(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	struct req r = { .type = DHCP_INFORM, .ciaddr = NET(200), .daddr = 0 };
	struct reply rep;

	mac_of(r.mac, 1);
	CHECK(exchange(s, &r, &rep, base) > 0);
	CHECK(rep.type == DHCP_ACK && rep.yiaddr == 0 && rep.ciaddr == NET(200));
	CHECK(!rep.has[DHCP_OPT_LEASE_TIME] && !rep.has[DHCP_OPT_RENEWAL_TIME] && !rep.has[DHCP_OPT_REBINDING_TIME]);
	CHECK(rep.mask == 0xffffff00 && rep.router == NET(1) && rep.dns == NET(1));
	CHECK(rep.ip_dst == NET(200) && !memcmp(rep.eth_dst, r.mac, 6));
	CHECK(list(s).n == 0); /* no lease */
	dhcp_server_free(s);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Send stderr to path. Return: the old stderr, for stderr_back. */
static int stderr_to(const char *path)
{
	int saved, fd;

	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(saved >= 0 && fd >= 0);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	return saved;
}

static void stderr_back(int saved)
{
	fflush(stderr);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
}

/* Return: how many lines of path contain needle. */
static unsigned count_lines(const char *path, const char *needle)
{
	char line[1024];
	unsigned n = 0;
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

static void test_pool_exhaustion(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	unsigned offers = 0, full = 0, other = 0;
	char logpath[128];
	int saved;
	struct req d, q;
	struct reply rep;

	/* Three established clients. */
	CHECK(lease(s, 1, base) == NET(2) && lease(s, 2, base) == NET(3) && lease(s, 3, base) == NET(4));
	/* 300 random MACs, 100 a second (under the flood limit): 250 offers, then a full pool, said once. */
	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	log_level = LOG_LVL_WARN;
	saved = stderr_to(logpath);
	for (unsigned i = 0; i < 300; i++) {
		int r;

		d = (struct req){ .type = DHCP_DISCOVER, .xid = (uint32_t)rnd() | 1 };
		for (int k = 0; k < 6; k++)
			d.mac[k] = (uint8_t)rnd();
		d.mac[0] &= 0xfe;
		r = exchange(s, &d, &rep, base + 10 + i / 100);
		if (r > 0 && rep.type == DHCP_OFFER && rep.yiaddr >= NET(5) && rep.yiaddr <= NET(254))
			offers++;
		else if (r == -ENOSPC)
			full++;
		else
			other++;
	}
	stderr_back(saved);
	log_level = LOG_LVL_ERR;
	CHECK(offers == 250 && full == 50 && other == 0);
	CHECK(count_lines(logpath, "dhcp: address pool 192.168.64.2-192.168.64.254 is full") == 1);
	unlink(logpath);
	/* Established leases were not touched: renewals are ACKed. */
	q = (struct req){ .type = DHCP_REQUEST, .ciaddr = NET(3), .daddr = NET(1) };
	mac_of(q.mac, 2);
	CHECK(exchange(s, &q, &rep, base + 20) > 0 && rep.type == DHCP_ACK && rep.yiaddr == NET(3));
	CHECK(list(s).n == 3);
	/* A minute later the offers have lapsed: new clients get addresses again. */
	d = discover(1000);
	CHECK(exchange(s, &d, &rep, base + 20) == -ENOSPC);
	CHECK(exchange(s, &d, &rep, base + 100) > 0 && rep.type == DHCP_OFFER && rep.yiaddr >= NET(5));
	dhcp_server_free(s);

	/* Expired leases are reclaimed oldest-first; live ones never. */
	c.lease_time = 100;
	c.pool_end.s_addr = htonl(NET(4)); /* .2 .3 .4 */
	s = server(&c);
	CHECK(lease(s, 1, base + 2) == NET(2));
	CHECK(lease(s, 2, base) == NET(3));
	CHECK(lease(s, 3, base + 1) == NET(4));
	d = discover(4);
	CHECK(exchange(s, &d, &rep, base + 50) == -ENOSPC);
	CHECK(exchange(s, &d, &rep, base + 100) > 0 && rep.yiaddr == NET(3)); /* client 2's, the oldest */
	d = discover(5);
	CHECK(exchange(s, &d, &rep, base + 101) > 0 && rep.yiaddr == NET(4)); /* client 3's; client 1's lives */
	d = discover(6);
	CHECK(exchange(s, &d, &rep, base + 101) == -ENOSPC);
	/* Client 1's expired lease is still its own until taken. */
	d = discover(1);
	CHECK(exchange(s, &d, &rep, base + 150) > 0 && rep.yiaddr == NET(2));
	dhcp_server_free(s);
}

static void test_rate_limit(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	unsigned ok = 0, limited = 0;
	struct req d, q;
	struct reply rep;

	CHECK(lease(s, 1, base) == NET(2));
	for (unsigned i = 0; i < 1000; i++) {
		int r;

		d = discover(100 + i);
		r = exchange(s, &d, NULL, base + 1);
		ok += r > 0 || r == -ENOSPC;
		limited += r == -EAGAIN;
	}
	CHECK(ok == DHCP_RATE_DEFAULT && limited == 1000 - DHCP_RATE_DEFAULT);
	/* A known client still renews within the flooded second. */
	q = (struct req){ .type = DHCP_REQUEST, .ciaddr = NET(2), .daddr = NET(1) };
	mac_of(q.mac, 1);
	CHECK(exchange(s, &q, &rep, base + 1) > 0 && rep.type == DHCP_ACK);
	/* The next second, new clients again. */
	d = discover(5000);
	CHECK(exchange(s, &d, &rep, base + 2) > 0 && rep.type == DHCP_OFFER);
	dhcp_server_free(s);
}

static void test_truncations(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	static const uint8_t prl[] = { 1, 3, 6, 15 };
	struct req d = discover(1);
	uint8_t f[600], out[OUTCAP];
	size_t n;
	unsigned rejected = 0;

	d.hostname = "host";
	d.prl = prl;
	d.prl_len = sizeof(prl);
	n = build(f, &d);
	CHECK(dhcp_input(s, f, n, out, sizeof(out), base) > 0);
	for (size_t k = 0; k < n; k++) {
		uint8_t *g = malloc(k ? k : 1); /* exactly k bytes: ASan catches a read past them */

		CHECK(g != NULL);
		if (!g)
			return;
		memcpy(g, f, k);
		rejected += dhcp_input(s, g, k, out, sizeof(out), base) < 0;
		free(g);
	}
	CHECK(rejected == n);
	/* Ethernet padding after the datagram is fine. */
	CHECK(dhcp_input(s, f, n + 10, out, sizeof(out), base) > 0);
	/* Too small an output buffer. */
	CHECK(dhcp_input(s, f, n, out, 100, base) == -ENOBUFS);
	dhcp_server_free(s);
}

/* Return: dhcp_input on the frame after fix(f). */
static int mangled(struct dhcp_server *s, const struct req *r, void (*fix)(uint8_t *f, size_t *n))
{
	uint8_t f[600], out[OUTCAP];
	size_t n = build(f, r);

	fix(f, &n);
	return dhcp_input(s, f, n, out, sizeof(out), base);
}

static void fix_ip_csum(uint8_t *f)
{
	put16(f + 24, 0);
	put16(f + 24, (uint16_t)~sum16(f + 14, 20, 0));
}

static void set_hlen(uint8_t *f, size_t *n) { f[42 + 2] = 16; }
static void set_htype(uint8_t *f, size_t *n) { f[42 + 1] = 6; }
static void set_op(uint8_t *f, size_t *n) { f[42] = DHCP_OP_BOOTREPLY; }
static void set_cookie(uint8_t *f, size_t *n) { f[278] = 0; }
static void set_giaddr(uint8_t *f, size_t *n) { f[42 + 24] = 10; }
static void set_mf(uint8_t *f, size_t *n) { put16(f + 20, 0x2000); fix_ip_csum(f); }
static void set_frag(uint8_t *f, size_t *n) { put16(f + 20, 0x0001); fix_ip_csum(f); }
static void set_ihl4(uint8_t *f, size_t *n) { f[14] = 0x44; }
static void set_ihl15(uint8_t *f, size_t *n) { f[14] = 0x4f; }
static void set_ver6(uint8_t *f, size_t *n) { f[14] = 0x65; }
static void set_tot_big(uint8_t *f, size_t *n) { put16(f + 16, (uint16_t)(*n - 14 + 1)); }
static void set_tot_small(uint8_t *f, size_t *n) { put16(f + 16, 27); }
static void set_udp_big(uint8_t *f, size_t *n) { put16(f + 38, (uint16_t)(*n - 34 + 1)); }
static void set_udp_small(uint8_t *f, size_t *n) { put16(f + 38, 7); }
static void set_port(uint8_t *f, size_t *n) { put16(f + 36, 53); }
static void set_tcp(uint8_t *f, size_t *n) { f[23] = 6; }
static void set_arp(uint8_t *f, size_t *n) { put16(f + 12, 0x0806); }
static void set_dst(uint8_t *f, size_t *n) { put32(f + 30, IP(10, 0, 0, 1)); }
static void keep(uint8_t *f, size_t *n) { }

static void test_bad_headers(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	struct req d = discover(1);

	CHECK(mangled(s, &d, keep) > 0);
	CHECK(mangled(s, &d, set_hlen) == -EINVAL);
	CHECK(mangled(s, &d, set_htype) == -EINVAL);
	CHECK(mangled(s, &d, set_op) == -EINVAL);
	CHECK(mangled(s, &d, set_cookie) == -EINVAL);
	CHECK(mangled(s, &d, set_giaddr) == -EPROTO);
	CHECK(mangled(s, &d, set_mf) == -EINVAL);
	CHECK(mangled(s, &d, set_frag) == -EINVAL);
	CHECK(mangled(s, &d, set_ihl4) == -EINVAL);
	CHECK(mangled(s, &d, set_ihl15) < 0);
	CHECK(mangled(s, &d, set_ver6) == -EINVAL);
	CHECK(mangled(s, &d, set_tot_big) == -EINVAL);
	CHECK(mangled(s, &d, set_tot_small) == -EINVAL);
	CHECK(mangled(s, &d, set_udp_big) == -EINVAL);
	CHECK(mangled(s, &d, set_udp_small) == -EINVAL);
	CHECK(mangled(s, &d, set_port) == -EPROTO);
	CHECK(mangled(s, &d, set_tcp) == -EPROTO);
	CHECK(mangled(s, &d, set_arp) == -EPROTO);
	CHECK(mangled(s, &d, set_dst) == -EPROTO);
	/* Messages a client does not send. */
	d.type = DHCP_OFFER;
	CHECK(mangled(s, &d, keep) == -EPROTO);
	d.type = 0;
	CHECK(mangled(s, &d, keep) == -EPROTO);
	d.type = 200;
	CHECK(mangled(s, &d, keep) == -EPROTO);
	dhcp_server_free(s);
}

static void test_bad_options(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	static const uint8_t past_end[] = { DHCP_OPT_HOSTNAME, 200, 'a', 'b' };
	static const uint8_t len_only[] = { DHCP_OPT_HOSTNAME };
	static const uint8_t zero_len[] = { 99, 0, DHCP_OPT_HOSTNAME, 0, DHCP_OPT_PARAM_REQUEST, 0, 0, 0, 0 };
	static const uint8_t bad_len[] = { DHCP_OPT_REQUESTED_IP, 3, 192, 168, 64, DHCP_OPT_CLIENT_ID, 1, 7 };
	static const uint8_t overload[] = { DHCP_OPT_OVERLOAD, 1, 3 };
	static const uint8_t dup_type[] = { DHCP_OPT_MESSAGE_TYPE, 1, DHCP_RELEASE };
	struct req d = discover(1);
	struct reply rep;

	d.extra = past_end;
	d.extra_len = sizeof(past_end);
	d.no_end = true;
	CHECK(exchange(s, &d, &rep, base) == -EINVAL);
	d.extra = len_only;
	d.extra_len = sizeof(len_only);
	CHECK(exchange(s, &d, &rep, base) == -EINVAL);
	/* Zero-length options, PADs, a missing END, ill-sized known options (ignored), overload: all fine. */
	d.extra = zero_len;
	d.extra_len = sizeof(zero_len);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.type == DHCP_OFFER && rep.has[DHCP_OPT_DOMAIN_NAME]);
	d.extra = bad_len;
	d.extra_len = sizeof(bad_len);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.type == DHCP_OFFER && rep.yiaddr == NET(2));
	d.extra = overload;
	d.extra_len = sizeof(overload);
	d.no_end = false;
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.type == DHCP_OFFER);
	/* The first message type wins. */
	d.extra = dup_type;
	d.extra_len = sizeof(dup_type);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.type == DHCP_OFFER);
	/* No message type at all (the option has to be 1 byte long). */
	d.extra = NULL;
	d.extra_len = 0;
	d.type = 0;
	{
		uint8_t f[600], out[OUTCAP];
		size_t n = build(f, &d);

		f[282] = DHCP_OPT_PAD; /* wipe "53 1 0" */
		f[283] = DHCP_OPT_PAD;
		f[284] = DHCP_OPT_PAD;
		CHECK(dhcp_input(s, f, n, out, sizeof(out), base) == -EINVAL);
		f[282] = DHCP_OPT_MESSAGE_TYPE;
		f[283] = 2;
		CHECK(dhcp_input(s, f, n, out, sizeof(out), base) == -EINVAL);
	}
	dhcp_server_free(s);
}

/* Hostnames (option 12) are sanitised and bounded before they reach logs, the lease file or `vmnet leases`. */
static void test_hostnames(void)
{
	struct dhcp_config c = config();
	struct dhcp_server *s = server(&c);
	uint8_t long_host[255 + 1];
	struct req d, q;
	struct reply rep;
	struct listing l;

	d = discover(2);
	d.hostname = "evil host;rm -rf\n";
	CHECK(exchange(s, &d, &rep, base) > 0);
	q = request_selecting(2, rep.yiaddr);
	CHECK(exchange(s, &q, &rep, base) > 0 && rep.type == DHCP_ACK);
	memset(long_host, 'x', sizeof(long_host));
	long_host[sizeof(long_host) - 1] = '\0';
	d = discover(3);
	d.hostname = (const char *)long_host;
	CHECK(lease(s, 3, base) != 0);
	CHECK(exchange(s, &d, &rep, base) > 0);
	l = list(s);
	CHECK(l.n == 2 && !strcmp(l.host[0], "evil-host-rm--rf-"));
	CHECK(l.n == 2 && strlen(l.host[1]) == 63);
	dhcp_server_free(s);
}

static void write_file(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(data, 1, n, f);
	fclose(f);
}

static void test_garbage_lease_file(void)
{
	static const char good[] =
		"# vmnetd DHCPv4 leases\n"
		"192.168.64.10 52:54:00:00:00:0a 4000000000 0152540000000a ten\n"
		"\n"
		"   # an indented comment\n"
		"192.168.64.11 52:54:00:00:00:0b 4000000000 0152540000000b ten too many fields\n"
		"192.168.64.12 52:54:00:00:00:0c 4000000000 0152540000000\n"
		"192.168.64.13 52:54:00:00:00:0d 4000000000 01525400000x0d *\n"
		"192.168.64.300 52:54:00:00:00:0e 4000000000 0152540000000e *\n"
		"10.0.0.15 52:54:00:00:00:0f 4000000000 0152540000000f *\n"
		"192.168.64.1 52:54:00:00:00:10 4000000000 01525400000010 *\n"
		"192.168.64.10 52:54:00:00:00:11 4000000000 01525400000011 duplicate-address\n"
		"192.168.64.18 52:54:00:00:00:0a 4000000000 0152540000000a duplicate-client\n"
		"192.168.64.19 52:54:00:00:00:13 -5 01525400000013 *\n"
		"192.168.64.20 zz:54:00:00:00:14 4000000000 01525400000014 *\n"
		"192.168.64.21 52:54:00:00:00:15 4000000000 0152540000001g *\n"
		"192.168.64.22 52:54:00:00:00:16 4000000000 01525400000016 bad;name\n"
		"\x01\x02\x03\xff\xfe garbage\n"
		"192.168.64.30 52:54:00:00:00:1e 1000 0152540000001e old\n"
		"192.168.64.31 52:54:00:00:00:1f";
	static const char nul_line[] = "\n192.168.64.23 52:54:00:00:00:17\0 4000000000 01525400000017 *\n";
	char path[128], data[8192];
	size_t n = sizeof(good) - 1;
	struct dhcp_config c = config();
	struct dhcp_server *s;
	struct listing l;
	struct req d;
	struct reply rep;

	lease_file_path(path, sizeof(path));
	memcpy(data, good, n);
	/* A line with a NUL in it, and an overlong line. */
	memcpy(data + n, nul_line, sizeof(nul_line) - 1);
	n += sizeof(nul_line) - 1;
	memset(data + n, 'a', 3000);
	n += 3000;
	data[n++] = '\n';
	write_file(path, data, n);
	c.lease_file = path;
	s = server(&c);
	l = list(s);
	CHECK(l.n == 2);
	CHECK(l.ip[0] == NET(10) && !strcmp(l.host[0], "ten") && l.expires[0] > base + 1000000);
	CHECK(l.ip[1] == NET(30) && l.expires[1] >= 1 && l.expires[1] <= base); /* expired long ago */
	/* The loaded clients get their addresses; the expired one too. */
	d = discover(10);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(10));
	d = discover(30);
	CHECK(exchange(s, &d, &rep, base) > 0 && rep.yiaddr == NET(30));
	dhcp_server_free(s);

	/* Binary junk only: an empty table, no failure. */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)rnd();
	write_file(path, data, sizeof(data));
	s = server(&c);
	CHECK(list(s).n == 0);
	dhcp_server_free(s);
	/* A lease file that cannot be read is an error (a directory here). */
	unlink(path);
	CHECK(mkdir(path, 0700) == 0);
	{
		struct dhcp_server *t = NULL;

		CHECK(dhcp_server_new(&c, &t) < 0 && t == NULL);
	}
	rmdir(path);
}

static void test_bad_config(void)
{
	struct dhcp_config c;
	struct dhcp_server *s = (void *)&c; /* not NULL: new must clear it on failure */

	c = config();
	c.pool_start.s_addr = htonl(NET(200));
	c.pool_end.s_addr = htonl(NET(100));
	CHECK(dhcp_server_new(&c, &s) == -EINVAL && s == NULL);
	c = config();
	c.pool_end.s_addr = htonl(NET(255));
	CHECK(dhcp_server_new(&c, &s) == -EINVAL);
	c = config();
	c.pool_start.s_addr = htonl(IP(10, 0, 0, 2));
	CHECK(dhcp_server_new(&c, &s) == -EINVAL);
	c = config();
	c.mask.s_addr = htonl(0xff00ff00);
	CHECK(dhcp_server_new(&c, &s) == -EINVAL);
	c = config();
	c.mask.s_addr = 0;
	CHECK(dhcp_server_new(&c, &s) == -EINVAL);
	CHECK(dhcp_server_new(NULL, &s) == -EINVAL);
	dhcp_server_free(NULL);
	/* A pool that includes the server's address never hands it out; a huge pool is capped. */
	c = config();
	c.server.s_addr = htonl(IP(10, 0, 0, 1));
	c.mask.s_addr = htonl(0xffff0000);
	c.pool_start.s_addr = htonl(IP(10, 0, 0, 1));
	c.pool_end.s_addr = htonl(IP(10, 0, 255, 254));
	s = server(&c);
	{
		struct req d = discover(1);
		uint8_t f[600], out[OUTCAP];
		size_t n = build(f, &d);
		int r = dhcp_input(s, f, n, out, sizeof(out), base);

		CHECK(r > 0 && out[42 + 16] == 10 && out[42 + 19] == 2); /* yiaddr 10.0.0.2 */
	}
	dhcp_server_free(s);
}

/* Random damage to valid requests: never a crash, a reply always well-formed. */
static void test_mutations(void)
{
	static const uint8_t types[] = { DHCP_DISCOVER, DHCP_REQUEST, DHCP_RELEASE, DHCP_DECLINE, DHCP_INFORM };
	struct dhcp_config c = config();
	struct dhcp_server *s;
	uint8_t f[700], out[OUTCAP];
	unsigned replies = 0, bad = 0;

	c.rate_limit = 100000;
	c.pool_end.s_addr = htonl(NET(40));
	s = server(&c);
	for (unsigned i = 0; i < 20000; i++) {
		struct req r = { .type = types[rnd() % 5], .has_reqip = rnd() & 1, .has_sid = rnd() & 1,
				 .ciaddr = rnd() & 1 ? NET(rnd() % 50) : 0 };
		size_t n;
		int len;
		struct reply rep;

		mac_of(r.mac, (unsigned)(rnd() % 64));
		r.reqip = NET(rnd() % 50);
		r.sid = rnd() & 3 ? NET(1) : NET(2);
		r.hostname = rnd() & 1 ? "mutant" : NULL;
		n = build(f, &r);
		for (unsigned k = rnd() % 8; k; k--)
			f[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
		if (rnd() % 4 == 0)
			n = rnd() % (n + 1);
		else if (rnd() % 8 == 0)
			n += rnd() % 60;
		len = dhcp_input(s, f, n, out, sizeof(out), base + i / 50);
		if (len > (int)sizeof(out))
			bad++;
		if (len > 0) {
			replies++;
			bad += parse_reply(out, (size_t)len, &rep) != 0;
		}
	}
	CHECK(bad == 0);
	CHECK(replies > 1000);
	CHECK(list(s).n <= 39);
	dhcp_server_free(s);
}

int main(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	base = (uint64_t)ts.tv_sec; /* what the gateway passes: CLOCK_MONOTONIC seconds */
	log_level = LOG_LVL_ERR; /* the expected warnings (full pool, declines, bad lease lines) stay quiet */
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_dhcp.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_discover_offer();
	test_request_ack_renew();
	test_client_id();
	test_restart();
	test_reservation();
	test_nak_and_other_server();
	test_release();
	test_decline();
	test_inform();
	test_pool_exhaustion();
	test_rate_limit();
	test_truncations();
	test_deferred_save();
	test_bad_headers();
	test_bad_options();
	test_hostnames();
	test_garbage_lease_file();
	test_bad_config();
	test_mutations();
	{
		char path[128];

		lease_file_path(path, sizeof(path));
		unlink(path);
		rmdir(tmpdir);
	}
	return check_done();
}
