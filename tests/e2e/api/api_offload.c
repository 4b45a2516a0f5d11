/*
 * api_offload.c — the offload keys of an interface (vmnet_enable_tso_key,
 * vmnet_enable_checksum_offload_key, vmnet_enable_virtio_header_key) against
 * a real Linux stack: a namespace attached to the default host network
 * (`vmnet attach --netns NS --ip PEER/24`, by the wrapper) gets a tap with
 * offloads, so its kernel sends and takes 64 KiB TCP super-frames. The
 * wrapper runs a python3 server there: UDP 5001 logs "TAG LEN" per datagram,
 * TCP 5002 (sink) stores what a connection sent in WORKDIR/sink.PORT, TCP
 * 5003 (source) sends SOURCE_BYTES of a fixed pattern.
 *
 * TCP is spoken by hand here (bounds-checked parsing, our own checksums):
 * handshake with MSS 1460, one super-frame, cumulative ACKs with a fixed
 * 65535-byte window, FIN. A second, plain interface (the observer) reads
 * what vmnet makes of offloaded frames for a receiver without offloads (a
 * namespace's tap takes them whole and trusts their partial checksums, so
 * only a plain receiver shows that vmnet's checksums and cuts are right),
 * and is the control: without the keys garbage checksums stay garbage.
 *
 * Only the interface in use answers ARP for OWN_IP; each one ARPs for the
 * peer first, which also points the namespace's neighbour entry at it.
 *
 * usage: api_offload PEER_IP OWN_IP PEER_IP6 OWN_IP6 WORKDIR
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_common.h"
#include "tests/unit/bytes.h"

#define UDP_PORT 5001
#define SINK_PORT 5002
#define SOURCE_PORT 5003
#define SOURCE_BYTES 100000 /* keep in step with the wrapper's server */
#define SUPER_PAYLOAD 20000
#define OWN_MSS 1460
#define WINDOW 65535 /* no window scaling: the most a peer may have in flight */

#define ETH_LEN 14
#define IP4_LEN 20
#define IP6_LEN 40
#define TCP_LEN 20
#define UDP_LEN 8
#define PLAIN_MAX 1514 /* MTU 1500 + Ethernet */
#define ETH_MIN 60     /* without FCS */
#define ETHERTYPE_IP4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IP6 0x86dd
#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

/* The 12-byte virtio-net header (virtio 1.1 §5.1.6, struct virtio_net_hdr_v1), little-endian on the wire. */
#define VNET_LEN 12
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_TCPV6 4
#define VNET_GSO_ECN 0x80
struct vnet_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

#define RX_BATCH 64
#define MAX_PKT (65550 + VNET_LEN)

static struct in_addr own4, peer4;
static struct in6_addr own6, peer6;
static const char *workdir;
static uint8_t peer_mac[6];
static bool have_peer_mac;
static uint8_t rx_mem[RX_BATCH * MAX_PKT];
static uint8_t tx_buf[MAX_PKT + 1]; /* + 1: the packet one byte over the limit (test_params) */

static void vnet_put(uint8_t *p, const struct vnet_hdr *h)
{
	const uint16_t f[5] = { h->hdr_len, h->gso_size, h->csum_start, h->csum_offset, h->num_buffers };

	p[0] = h->flags;
	p[1] = h->gso_type;
	for (int i = 0; i < 5; i++) {
		p[2 + 2 * i] = (uint8_t)f[i];
		p[3 + 2 * i] = (uint8_t)(f[i] >> 8);
	}
}

static void vnet_get(const uint8_t *p, struct vnet_hdr *h)
{
	uint16_t f[5];

	for (int i = 0; i < 5; i++)
		f[i] = (uint16_t)(p[2 + 2 * i] | p[3 + 2 * i] << 8);
	*h = (struct vnet_hdr){ p[0], p[1], f[0], f[1], f[2], f[3], f[4] };
}

/* The byte at offset i of the source server's stream (the wrapper's pattern()). */
static uint8_t source_byte(size_t i)
{
	return (uint8_t)((i * 131) ^ (i >> 9));
}

/* ---- internet checksum ---- */

/* The one's-complement sum of len bytes added to s, not folded. */
static uint64_t sum_words(const uint8_t *p, size_t len, uint64_t s)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

/* Folded to 16 bits, not complemented. */
static uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1) of the packet whose IP header is at ip. */
static uint64_t pseudo_sum(const uint8_t *ip, bool v6, uint8_t proto, size_t l4len)
{
	uint64_t s = v6 ? sum_words(ip + 8, 32, 0) : sum_words(ip + 12, 8, 0);

	return s + proto + (uint32_t)l4len;
}

/* ---- frames ---- */

/* How the checksums of a built packet are left. */
enum csum_mode {
	CS_FULL,    /* correct IPv4 header and L4 checksums */
	CS_GARBAGE, /* IPv4 header checksum 0, L4 checksum wrong (never 0: UDP's "none") */
	CS_ZERO,    /* both 0 */
	CS_PARTIAL, /* correct IPv4 header checksum; the L4 field holds the pseudo-header sum (virtio NEEDS_CSUM) */
};

struct pkt {
	const uint8_t *dst; /* Ethernet destination */
	bool v6;
	uint8_t proto;
	uint16_t sport, dport;
	uint32_t seq, ack; /* TCP */
	uint8_t flags;	   /* TCP */
	bool mss_opt;	   /* TCP: the MSS option (a SYN) */
	const uint8_t *data;
	size_t dlen;
	enum csum_mode cs;
	size_t pad_to; /* Ethernet padding up to this length (0: none) */
};

/* Fill the L4 checksum field at l4 + off per cs. */
static void l4_csum_set(uint8_t *ip, bool v6, const struct pkt *p, size_t l4len, size_t off)
{
	uint8_t *l4 = ip + (v6 ? IP6_LEN : IP4_LEN);
	uint64_t ps = pseudo_sum(ip, v6, p->proto, l4len);
	uint16_t good;

	put16(l4 + off, 0);
	good = (uint16_t)~fold(sum_words(l4, l4len, ps));
	if (!good && p->proto == PROTO_UDP)
		good = 0xffff; /* RFC 768: a computed zero is sent as all ones */
	switch (p->cs) {
	case CS_FULL:
		put16(l4 + off, good);
		break;
	case CS_GARBAGE:
		put16(l4 + off, (good ^ 0x5a5a) ? (uint16_t)(good ^ 0x5a5a) : 0x0101);
		break;
	case CS_ZERO:
		break;
	case CS_PARTIAL:
		put16(l4 + off, fold(ps));
		break;
	}
}

/* Build p into f (room for MAX_PKT bytes). Return: the frame's length. */
static size_t pkt_build(uint8_t *f, const uint8_t src_mac[6], const struct pkt *p)
{
	static uint16_t ipid = 1;
	size_t iphl = p->v6 ? IP6_LEN : IP4_LEN, l4hl = p->proto == PROTO_TCP ? TCP_LEN + (p->mss_opt ? 4 : 0) : UDP_LEN;
	size_t l4len = l4hl + p->dlen, len = ETH_LEN + iphl + l4len;
	uint8_t *ip = f + ETH_LEN, *l4 = ip + iphl;

	memset(f, 0, len > p->pad_to ? len : p->pad_to);
	memcpy(f, p->dst, 6);
	memcpy(f + 6, src_mac, 6);
	put16(f + 12, p->v6 ? ETHERTYPE_IP6 : ETHERTYPE_IP4);
	if (p->v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)l4len);
		ip[6] = p->proto;
		ip[7] = 64;
		memcpy(ip + 8, &own6, 16);
		memcpy(ip + 24, &peer6, 16);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(iphl + l4len));
		put16(ip + 4, ipid++);
		put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = p->proto;
		memcpy(ip + 12, &own4, 4);
		memcpy(ip + 16, &peer4, 4);
		if (p->cs == CS_FULL || p->cs == CS_PARTIAL)
			put16(ip + 10, (uint16_t)~fold(sum_words(ip, IP4_LEN, 0)));
	}
	put16(l4, p->sport);
	put16(l4 + 2, p->dport);
	if (p->proto == PROTO_TCP) {
		put32(l4 + 4, p->seq);
		put32(l4 + 8, p->ack);
		l4[12] = (uint8_t)(l4hl / 4 << 4);
		l4[13] = p->flags;
		put16(l4 + 14, WINDOW);
		if (p->mss_opt) {
			l4[20] = 2; /* RFC 793: kind 2, length 4 */
			l4[21] = 4;
			put16(l4 + 22, OWN_MSS);
		}
	} else {
		put16(l4 + 4, (uint16_t)l4len);
	}
	if (p->dlen)
		memcpy(l4 + l4hl, p->data, p->dlen);
	l4_csum_set(ip, p->v6, p, l4len, p->proto == PROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF);
	return len > p->pad_to ? len : p->pad_to;
}

/* A parsed IPv4/IPv6 packet in an Ethernet frame (bounds checked; no IPv6 extension headers). */
struct ipp {
	bool v6;
	uint8_t *ip, *l4;
	size_t iphl, l4len;
	uint8_t proto;
};

static bool parse_ip(uint8_t *f, size_t len, struct ipp *p)
{
	size_t tot;

	if (len < ETH_LEN + IP4_LEN)
		return false;
	p->ip = f + ETH_LEN;
	p->v6 = get16(f + 12) == ETHERTYPE_IP6;
	if (p->v6) {
		if (len < ETH_LEN + IP6_LEN || (p->ip[0] >> 4) != 6)
			return false;
		p->iphl = IP6_LEN;
		tot = IP6_LEN + (size_t)get16(p->ip + 4);
		p->proto = p->ip[6];
	} else {
		if (get16(f + 12) != ETHERTYPE_IP4 || (p->ip[0] >> 4) != 4)
			return false;
		p->iphl = (size_t)(p->ip[0] & 15) * 4;
		tot = get16(p->ip + 2);
		p->proto = p->ip[9];
		if (p->iphl < IP4_LEN || tot < p->iphl)
			return false;
	}
	if (ETH_LEN + tot > len)
		return false;
	p->l4 = p->ip + p->iphl;
	p->l4len = tot - p->iphl;
	return true;
}

static bool ip4_csum_ok(const struct ipp *p)
{
	return p->v6 || fold(sum_words(p->ip, p->iphl, 0)) == 0xffff;
}

static bool l4_csum_ok(const struct ipp *p)
{
	return fold(sum_words(p->l4, p->l4len, pseudo_sum(p->ip, p->v6, p->proto, p->l4len))) == 0xffff;
}

/*
 * Finish a partial checksum (virtio NEEDS_CSUM) in place: the field holds the
 * pseudo-header sum, folded; the result is the complement of the sum of
 * everything from csum_start to the end. Return: false if out of bounds.
 */
static bool finish_partial(uint8_t *f, size_t len, const struct vnet_hdr *h)
{
	size_t field = (size_t)h->csum_start + h->csum_offset;

	if (h->csum_start < ETH_LEN || field + 2 > len)
		return false;
	put16(f + field, (uint16_t)~fold(sum_words(f + h->csum_start, len - h->csum_start, 0)));
	return true;
}

/* ---- interfaces ---- */

struct io {
	struct tif t;
	bool tso, vnet;
	size_t buf;  /* bytes per packet buffer: vmnet_max_packet_size */
	int hdr_bad; /* vnet: headers that break the rules for this interface */
	int short_pkts;
};

/* The interface that answers ARP for own4 (NULL: none). */
static struct io *arp_owner;

typedef void (^rx_fn)(const struct vnet_hdr *h, uint8_t *f, size_t len);

static xpc_object_t desc_offloads(bool tso, bool csum, bool vnet)
{
	xpc_object_t d = t_desc_host();

	if (tso)
		xpc_dictionary_set_bool(d, vmnet_enable_tso_key, true);
	if (csum)
		xpc_dictionary_set_bool(d, vmnet_enable_checksum_offload_key, true);
	if (vnet)
		xpc_dictionary_set_bool(d, vmnet_enable_virtio_header_key, true);
	return d;
}

static bool io_start(struct io *io, const char *name, bool tso, bool csum, bool vnet)
{
	xpc_object_t d = desc_offloads(tso, csum, vnet);
	vmnet_return_t st;

	memset(io, 0, sizeof(*io));
	st = t_start(&io->t, name, d);
	xpc_release(d);
	io->tso = tso;
	io->vnet = vnet;
	io->buf = io->t.mps && io->t.mps <= MAX_PKT ? io->t.mps : MAX_PKT;
	CHECKF(st == VMNET_SUCCESS && io->t.has_mac, "start interface %s: %s", name, t_st_name(st));
	return st == VMNET_SUCCESS && io->t.has_mac;
}

static void io_stop(struct io *io)
{
	if (arp_owner == io)
		arp_owner = NULL;
	if (io->vnet)
		CHECKF(io->hdr_bad == 0 && io->short_pkts == 0, "%s: every virtio header as promised (%d bad, %d short)",
		       io->t.name, io->hdr_bad, io->short_pkts);
	CHECK_ST(t_stop(&io->t), VMNET_SUCCESS);
}

/* Write one frame, behind the virtio header h (NULL: all zero) on a vnet interface. Return: the status. */
static vmnet_return_t io_send(struct io *io, const struct vnet_hdr *h, const uint8_t *f, size_t len)
{
	static const struct vnet_hdr zero;
	static uint8_t rest[MAX_PKT];
	uint8_t hdr[VNET_LEN];
	struct iovec iov[2];
	struct vmpktdesc d = { 0 };
	int n = 1;
	vmnet_return_t st;

	if (!io->vnet)
		return t_write1(io->t.ref, f, len);
	if (len > sizeof(rest) - VNET_LEN)
		return VMNET_PACKET_TOO_BIG;
	vnet_put(hdr, h ? h : &zero);
	/* The header split across two iovecs, the frame after its tail: the library must
	 * take the first 12 bytes of the packet as the header, wherever they lie. */
	memcpy(rest, hdr + 5, VNET_LEN - 5);
	memcpy(rest + VNET_LEN - 5, f, len);
	iov[0] = (struct iovec){ hdr, 5 };
	iov[1] = (struct iovec){ rest, VNET_LEN - 5 + len };
	d = (struct vmpktdesc){ .vm_pkt_size = VNET_LEN + len, .vm_pkt_iov = iov, .vm_pkt_iovcnt = 2 };
	st = vmnet_write(io->t.ref, &d, &n);
	return st == VMNET_SUCCESS && n != 1 ? VMNET_FAILURE : st;
}

static size_t build_arp(const struct io *io, uint8_t *f, uint16_t op, const uint8_t dst[6], const uint8_t tha[6],
			struct in_addr tpa)
{
	memset(f, 0, ETH_MIN);
	memcpy(f, dst, 6);
	memcpy(f + 6, io->t.mac, 6);
	put16(f + 12, ETHERTYPE_ARP);
	put16(f + 14, 1); /* htype Ethernet */
	put16(f + 16, ETHERTYPE_IP4);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, io->t.mac, 6);
	memcpy(f + 28, &own4, 4);
	memcpy(f + 32, tha, 6);
	memcpy(f + 38, &tpa, 4);
	return ETH_MIN;
}

/* Answer ARP requests for own4 (if io owns it) and note the peer's replies. Return: whether f was ARP. */
static bool arp_input(struct io *io, const uint8_t *f, size_t len)
{
	uint8_t out[ETH_MIN];
	struct in_addr spa, tpa;

	if (len < 42 || get16(f + 12) != ETHERTYPE_ARP)
		return false;
	if (get16(f + 14) != 1 || get16(f + 16) != ETHERTYPE_IP4 || f[18] != 6 || f[19] != 4)
		return true;
	memcpy(&spa, f + 28, 4);
	memcpy(&tpa, f + 38, 4);
	if (get16(f + 20) == 1 && tpa.s_addr == own4.s_addr && io == arp_owner)
		io_send(io, NULL, out, build_arp(io, out, 2, f + 22, f + 22, spa));
	if (get16(f + 20) == 2 && spa.s_addr == peer4.s_addr && !memcmp(f, io->t.mac, 6)) {
		memcpy(peer_mac, f + 22, 6);
		have_peer_mac = true;
	}
	return true;
}

/* The rules for a received virtio header: num_buffers 1; without TSO nothing else set. */
static void vnet_rules(struct io *io, const struct vnet_hdr *h)
{
	bool plain = !h->flags && !h->gso_type && !h->hdr_len && !h->gso_size && !h->csum_start && !h->csum_offset;

	if (h->num_buffers != 1 || (!io->tso && !plain))
		io->hdr_bad++;
}

/* Read one batch; ARP is handled here, every other packet goes to fn (may be NULL). Return: packets read. */
static int io_read(struct io *io, rx_fn fn)
{
	struct vmpktdesc d[RX_BATCH];
	struct iovec iov[RX_BATCH];
	int n = RX_BATCH;

	for (int i = 0; i < n; i++) {
		iov[i] = (struct iovec){ rx_mem + (size_t)i * MAX_PKT, io->buf };
		d[i] = (struct vmpktdesc){ .vm_pkt_size = io->buf, .vm_pkt_iov = &iov[i], .vm_pkt_iovcnt = 1 };
	}
	if (vmnet_read(io->t.ref, d, &n) != VMNET_SUCCESS)
		return 0;
	for (int i = 0; i < n; i++) {
		uint8_t *f = iov[i].iov_base;
		size_t len = d[i].vm_pkt_size;
		struct vnet_hdr h = { 0 };

		if (io->vnet) {
			if (len < VNET_LEN + ETH_LEN) {
				io->short_pkts++;
				continue;
			}
			vnet_get(f, &h);
			vnet_rules(io, &h);
			f += VNET_LEN;
			len -= VNET_LEN;
		}
		if (!arp_input(io, f, len) && fn)
			fn(&h, f, len);
	}
	return n;
}

/* Read (and serve ARP) until done() or timeout_ms. Return: whether done() became true. */
static bool io_pump(struct io *io, int timeout_ms, bool (^done)(void), rx_fn fn)
{
	uint64_t end = t_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		int n = io_read(io, fn);

		if (done && done())
			return true;
		if (t_now_ms() >= end)
			return false;
		if (!n)
			t_sleep_ms(1);
	}
}

/* Learn the peer's MAC (ARP who-has PEER) and answer ARP for OWN_IP from now on. Return: success. */
static bool arp_learn(struct io *io)
{
	static const uint8_t zero[6];
	uint8_t f[ETH_MIN];

	arp_owner = io;
	have_peer_mac = false;
	for (int i = 0; i < 10 && !have_peer_mac; i++) {
		io_send(io, NULL, f, build_arp(io, f, 1, t_bcast, zero, peer4));
		io_pump(io, 500, ^{ return have_peer_mac; }, NULL);
	}
	CHECKF(have_peer_mac, "%s: the namespace answered ARP", io->t.name);
	return have_peer_mac;
}

/* ---- what a receiver sees ---- */

struct rx_stats {
	int frames, big, partial, bad_ip, bad_l4, bad_meta;
	size_t max_len;
};

/*
 * Check one received IP packet: finish a partial checksum (vnet), then the
 * IPv4 header and L4 checksums over the whole packet; frames longer than
 * PLAIN_MAX are super-frames (vnet: with sane GSO metadata, gso_size at most
 * mss). Counts go to st.
 */
static void rx_verify(const struct io *io, const struct vnet_hdr *h, uint8_t *f, size_t len, const struct ipp *p,
		      size_t mss, struct rx_stats *st)
{
	st->frames++;
	if (len > st->max_len)
		st->max_len = len;
	if (io->vnet && (h->flags & VNET_F_NEEDS_CSUM)) {
		st->partial++;
		if (h->csum_start != p->l4 - f ||
		    h->csum_offset != (p->proto == PROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF) || !finish_partial(f, len, h))
			st->bad_meta++;
	}
	if (len > PLAIN_MAX) {
		st->big++;
		if (io->vnet && ((h->gso_type & ~VNET_GSO_ECN) != VNET_GSO_TCPV4 || !h->gso_size || h->gso_size > mss ||
				 !(h->flags & VNET_F_NEEDS_CSUM)))
			st->bad_meta++;
	}
	st->bad_ip += !ip4_csum_ok(p);
	st->bad_l4 += !l4_csum_ok(p);
}

/* ---- TCP by hand ---- */

struct conn {
	struct io *io;
	bool v6;
	uint16_t sport, dport;
	uint32_t iss, snd_nxt, rcv_nxt, peer_ack;
	uint16_t peer_win;
	bool synack, peer_fin, rst;
	enum csum_mode cs; /* of the segments we send */
	uint8_t *data;	   /* the peer's bytes, in order */
	size_t len, cap;
	int ooo; /* segments past rcv_nxt (a gap) */
	struct rx_stats st;
};

static void conn_init(struct conn *c, struct io *io, uint16_t sport, uint16_t dport, enum csum_mode cs)
{
	memset(c, 0, sizeof(*c));
	c->io = io;
	c->sport = sport;
	c->dport = dport;
	c->iss = 0x10000000u + sport * 0x10001u;
	c->snd_nxt = c->iss;
	c->cs = cs;
}

static void conn_free(struct conn *c)
{
	free(c->data);
	c->data = NULL;
}

static void conn_append(struct conn *c, const uint8_t *p, size_t n)
{
	if (c->len + n > c->cap) {
		c->cap = (c->len + n) * 2;
		c->data = realloc(c->data, c->cap);
	}
	memcpy(c->data + c->len, p, n);
	c->len += n;
}

/* Is this frame a TCP segment of c (peer -> us)? p is filled in. */
static bool conn_match(const struct conn *c, uint8_t *f, size_t len, struct ipp *p)
{
	if (!parse_ip(f, len, p) || p->v6 != c->v6 || p->proto != PROTO_TCP || p->l4len < TCP_LEN)
		return false;
	if (get16(p->l4) != c->dport || get16(p->l4 + 2) != c->sport)
		return false;
	return c->v6 ? !memcmp(p->ip + 8, &peer6, 16) && !memcmp(p->ip + 24, &own6, 16)
		     : !memcmp(p->ip + 12, &peer4, 4) && !memcmp(p->ip + 16, &own4, 4);
}

/* Take one segment of the peer: handshake, ACKs, in-order data, FIN. */
static void conn_segment(struct conn *c, const struct ipp *p)
{
	const uint8_t *th = p->l4;
	size_t thl = (size_t)(th[12] >> 4) * 4, plen;
	uint32_t seq = get32(th + 4), ack = get32(th + 8);
	uint8_t fl = th[13];
	int32_t d;

	if (thl < TCP_LEN || thl > p->l4len)
		return;
	plen = p->l4len - thl;
	if (fl & TH_RST) {
		c->rst = true;
		return;
	}
	if ((fl & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) && ack == c->iss + 1 && !c->synack) {
		c->synack = true;
		c->rcv_nxt = seq + 1;
		c->peer_ack = ack;
		c->peer_win = get16(th + 14);
		return;
	}
	if (!c->synack)
		return;
	if ((fl & TH_ACK) && (int32_t)(ack - c->peer_ack) > 0)
		c->peer_ack = ack;
	d = (int32_t)(seq - c->rcv_nxt);
	if (d > 0) {
		c->ooo++;
		return;
	}
	if ((size_t)-d < plen) {
		conn_append(c, th + thl + (size_t)-d, plen - (size_t)-d);
		c->rcv_nxt += (uint32_t)(plen - (size_t)-d);
	}
	if ((fl & TH_FIN) && seq + (uint32_t)plen == c->rcv_nxt) {
		c->rcv_nxt++;
		c->peer_fin = true;
	}
}

/* A received frame: if it is c's, verify it and take the segment. */
static void conn_input(struct conn *c, const struct vnet_hdr *h, uint8_t *f, size_t len)
{
	struct ipp p;

	if (!conn_match(c, f, len, &p))
		return;
	rx_verify(c->io, h, f, len, &p, OWN_MSS, &c->st);
	conn_segment(c, &p);
}

/* The rx_fn of a connection (a block literal: valid in the scope that uses it). */
#define CONN_RX(c) ^(const struct vnet_hdr *h_, uint8_t *f_, size_t len_) { conn_input((c), h_, f_, len_); }

/* Send a segment (flags, our payload) from c's state. Return: the write status. */
static vmnet_return_t conn_send(struct conn *c, uint8_t flags, const uint8_t *data, size_t dlen)
{
	struct pkt p = {
		.dst = peer_mac,
		.v6 = c->v6,
		.proto = PROTO_TCP,
		.sport = c->sport,
		.dport = c->dport,
		.seq = c->snd_nxt,
		.ack = flags & TH_ACK ? c->rcv_nxt : 0,
		.flags = flags,
		.mss_opt = flags & TH_SYN,
		.data = data,
		.dlen = dlen,
		.cs = c->cs,
	};

	return io_send(c->io, NULL, tx_buf, pkt_build(tx_buf, c->io->t.mac, &p));
}

/* Send a SYN and wait up to timeout_ms for the SYN-ACK (resent every 700 ms if tries > 1). Return: synack. */
static bool conn_syn(struct conn *c, int tries, int timeout_ms)
{
	rx_fn fn = CONN_RX(c);

	for (int i = 0; i < tries && !c->synack; i++) {
		CHECK_ST(conn_send(c, TH_SYN, NULL, 0), VMNET_SUCCESS);
		io_pump(c->io, tries > 1 ? 700 : timeout_ms, ^{ return c->synack; }, fn);
	}
	if (c->synack)
		c->snd_nxt = c->iss + 1;
	return c->synack;
}

/* Handshake: SYN (MSS OWN_MSS, window 65535, no scaling) -> SYN-ACK -> ACK. Return: established. */
static bool conn_open(struct conn *c)
{
	if (!conn_syn(c, 4, 0))
		return false;
	return conn_send(c, TH_ACK, NULL, 0) == VMNET_SUCCESS;
}

/* Abort: a RST at snd_nxt (the namespace forgets the connection). */
static void conn_reset(struct conn *c)
{
	conn_send(c, TH_RST, NULL, 0);
}

/* ---- the tests ---- */

struct param_case {
	const char *name;
	bool tso, csum, vnet;
	vmnet_return_t st;
	uint64_t mps;
};

static const struct param_case param_cases[] = {
	{ "plain", false, false, false, VMNET_SUCCESS, 1514 },
	{ "tso", true, false, false, VMNET_SUCCESS, 65550 },
	{ "csum", false, true, false, VMNET_SUCCESS, 1514 },
	{ "tso+csum", true, true, false, VMNET_SUCCESS, 65550 },
	{ "vnet", false, false, true, VMNET_SUCCESS, 1526 },
	{ "vnet+tso", true, false, true, VMNET_SUCCESS, 65562 },
	{ "vnet+csum", false, true, true, VMNET_INVALID_ARGUMENT, 0 },
	{ "vnet+csum+tso", true, true, true, VMNET_INVALID_ARGUMENT, 0 },
};

/* vmnet_write_max_packets is what vmnet_write takes in one call (a TSO ring has fewer slots). */
static void write_max_checks(struct tif *t, const char *name)
{
	uint64_t w = t->wmax;

	CHECKF(w >= 1 && w <= 256, "%s: vmnet_write_max_packets %llu", name, (unsigned long long)w);
	if (w < 1 || w > 256)
		return;
	CHECKF(t_write_frames(t->ref, t_bcast, t->mac, 0x6f66, 0, (int)w, ETH_MIN) == VMNET_SUCCESS,
	       "%s: a batch of vmnet_write_max_packets (%llu) is taken", name, (unsigned long long)w);
	CHECKF(t_write_frames(t->ref, t_bcast, t->mac, 0x6f66, 0, (int)w + 1, ETH_MIN) == VMNET_TOO_MANY_PACKETS,
	       "%s: one packet more is VMNET_TOO_MANY_PACKETS", name);
}

static void test_params(void)
{
	t_section("interface_param: vmnet_max_packet_size per offload key");
	for (size_t i = 0; i < sizeof(param_cases) / sizeof(param_cases[0]); i++) {
		const struct param_case *pc = &param_cases[i];
		xpc_object_t d = desc_offloads(pc->tso, pc->csum, pc->vnet);
		struct tif t;
		vmnet_return_t st = t_start(&t, pc->name, d);

		xpc_release(d);
		CHECKF(st == pc->st, "%s: start is %s (got %s)", pc->name, t_st_name(pc->st), t_st_name(st));
		if (st != VMNET_SUCCESS)
			continue;
		CHECKF(t.mps == pc->mps, "%s: vmnet_max_packet_size %llu (got %llu)", pc->name,
		       (unsigned long long)pc->mps, (unsigned long long)t.mps);
		CHECKF(t.mtu == 1500, "%s: vmnet_mtu 1500 (got %llu)", pc->name, (unsigned long long)t.mtu);
		/* One byte over the limit is refused by the library. */
		memset(tx_buf, 0xff, pc->mps + 1);
		CHECKF(t_write1(t.ref, tx_buf, pc->mps + 1) == VMNET_PACKET_TOO_BIG, "%s: a %llu-byte packet is too big",
		       pc->name, (unsigned long long)pc->mps + 1);
		if (!pc->vnet) /* test frames have no header to go behind */
			write_max_checks(&t, pc->name);
		CHECK_ST(t_stop(&t), VMNET_SUCCESS);
	}
}

/* A UDP datagram "TAG filler..." of dlen bytes (tag then a space), v4/v6, to dst. Return: frame length. */
static size_t build_udp(const struct io *io, const uint8_t *dst, bool v6, const char *tag, size_t dlen,
			enum csum_mode cs, size_t pad_to)
{
	uint8_t data[256];
	struct pkt p = { .dst = dst, .v6 = v6, .proto = PROTO_UDP, .sport = 40000, .dport = UDP_PORT,
			 .data = data, .dlen = dlen, .cs = cs, .pad_to = pad_to };
	size_t tl = strlen(tag);

	for (size_t i = 0; i < dlen; i++)
		data[i] = (uint8_t)('a' + i % 26);
	memcpy(data, tag, tl < dlen ? tl : dlen);
	if (tl < dlen)
		data[tl] = ' ';
	return pkt_build(tx_buf, io->t.mac, &p);
}

/* Does the namespace's UDP log hold the line "TAG LEN"? */
static bool udp_logged(const char *tag, size_t dlen)
{
	char path[512], needle[96];
	size_t n = 0;
	char *log, *s;
	bool found;

	snprintf(path, sizeof(path), "%s/udp.log", workdir);
	log = t_read_file(path, &n);
	if (!log)
		return false;
	s = calloc(1, n + 2);
	s[0] = '\n';
	memcpy(s + 1, log, n);
	snprintf(needle, sizeof(needle), "\n%s %zu\n", tag, dlen);
	found = strstr(s, needle) != NULL;
	free(s);
	free(log);
	return found;
}

/* One datagram of the sender to the namespace. */
struct dgram {
	const char *tag;
	bool v6;
	size_t dlen, pad_to;
	enum csum_mode cs;
	bool expect; /* should the namespace receive it? */
};

/* Send them all, wait (5 s) for the expected ones, then check each is logged iff expected. */
static void udp_to_namespace(struct io *io, const struct dgram *dg, int n)
{
	__block bool all;

	for (int i = 0; i < n; i++)
		CHECK_ST(io_send(io, NULL, tx_buf,
				 build_udp(io, peer_mac, dg[i].v6, dg[i].tag, dg[i].dlen, dg[i].cs, dg[i].pad_to)),
			 VMNET_SUCCESS);
	io_pump(io, 5000, ^{
		all = true;
		for (int i = 0; i < n; i++)
			if (dg[i].expect && !udp_logged(dg[i].tag, dg[i].dlen))
				all = false;
		return all;
	}, NULL);
	t_sleep_ms(200); /* the unexpected ones went first: they had their chance */
	for (int i = 0; i < n; i++)
		CHECKF(udp_logged(dg[i].tag, dg[i].dlen) == dg[i].expect, "%s: UDP%s %s (%zu bytes%s) %s", io->t.name,
		       dg[i].v6 ? "v6" : "v4", dg[i].tag, dg[i].dlen, dg[i].pad_to ? ", padded" : "",
		       dg[i].expect ? "received by the namespace" : "dropped by the namespace (bad checksum)");
}

/* What the observer got from a sender: frames by kind, all verified. */
struct observed {
	struct rx_stats st;
	int udp4, udp6, tcp4, tcp6, payload_bad;
};

/*
 * The checksum-offload client sends garbage-checksum frames (UDP and TCP,
 * IPv4 and IPv6, one padded) to the observer, a plain interface: vmnet must
 * have filled in correct checksums.
 */
static void csum_to_observer(struct io *io, struct io *obs)
{
	static const struct { bool v6; uint8_t proto; size_t dlen, pad_to; } kinds[] = {
		{ false, PROTO_UDP, 100, 0 }, { false, PROTO_UDP, 6, ETH_MIN }, { true, PROTO_UDP, 100, 0 },
		{ false, PROTO_TCP, 300, 0 }, { true, PROTO_TCP, 300, 0 },
	};
	enum { NK = sizeof(kinds) / sizeof(kinds[0]) };
	__block struct observed o = { 0 };
	uint8_t data[300];
	const uint8_t *dp = data; /* a block cannot capture an array */

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 5 + 1);
	t_drain(obs->t.ref);
	for (int k = 0; k < NK; k++) {
		struct pkt p = { .dst = obs->t.mac, .v6 = kinds[k].v6, .proto = kinds[k].proto, .sport = 41000,
				 .dport = 41001, .seq = 7, .ack = 9, .flags = TH_ACK | TH_PSH, .data = data,
				 .dlen = kinds[k].dlen, .cs = CS_GARBAGE, .pad_to = kinds[k].pad_to };

		CHECK_ST(io_send(io, NULL, tx_buf, pkt_build(tx_buf, io->t.mac, &p)), VMNET_SUCCESS);
	}
	io_pump(obs, 3000, ^bool(void) { return o.st.frames >= NK; }, ^(const struct vnet_hdr *h, uint8_t *f, size_t len) {
		struct ipp p;
		size_t hl;

		if (!parse_ip(f, len, &p) || get16(p.l4) != 41000 || p.l4len < UDP_LEN)
			return;
		rx_verify(obs, h, f, len, &p, OWN_MSS, &o.st);
		hl = p.proto == PROTO_TCP ? TCP_LEN : UDP_LEN;
		if (p.l4len < hl || memcmp(p.l4 + hl, dp, p.l4len - hl))
			o.payload_bad++;
		if (p.proto == PROTO_UDP && p.v6)
			o.udp6++;
		else if (p.proto == PROTO_UDP)
			o.udp4++;
		else if (p.v6)
			o.tcp6++;
		else
			o.tcp4++;
	});
	CHECKF(o.udp4 == 2 && o.udp6 == 1 && o.tcp4 == 1 && o.tcp6 == 1,
	       "observer got all 5 frames of the csum client (udp4 %d/2, udp6 %d/1, tcp4 %d/1, tcp6 %d/1)", o.udp4,
	       o.udp6, o.tcp4, o.tcp6);
	CHECKF(o.st.bad_ip == 0, "observer: IPv4 header checksums filled in by vmnet (%d bad)", o.st.bad_ip);
	CHECKF(o.st.bad_l4 == 0, "observer: UDP/TCP checksums filled in by vmnet (%d bad)", o.st.bad_l4);
	CHECKF(o.payload_bad == 0, "observer: payloads intact (%d bad)", o.payload_bad);
}

/* A SYN (checksums per cs) to the sink port; expect a SYN-ACK or none. */
static void syn_probe(struct io *io, uint16_t sport, enum csum_mode cs, bool expect)
{
	struct conn c;
	bool got;

	conn_init(&c, io, sport, SINK_PORT, cs);
	got = conn_syn(&c, expect ? 3 : 1, 1500);
	CHECKF(got == expect, "%s: a SYN with %s checksums %s", io->t.name, cs == CS_FULL ? "correct" : "garbage",
	       expect ? "gets a SYN-ACK" : "gets no SYN-ACK");
	if (got) {
		CHECKF(c.st.bad_ip == 0 && c.st.bad_l4 == 0, "%s: the SYN-ACK's checksums are valid", io->t.name);
		c.cs = CS_FULL;
		conn_reset(&c);
	}
	conn_free(&c);
}

static void test_csum(struct io *obs)
{
	static const struct dgram dg[] = {
		{ "c4-0", false, 100, 0, CS_GARBAGE, true },   { "c4-1", false, 200, 0, CS_GARBAGE, true },
		{ "c4pad-0", false, 8, ETH_MIN, CS_GARBAGE, true }, { "c4pad-1", false, 12, ETH_MIN, CS_GARBAGE, true },
		{ "c6-0", true, 100, 0, CS_GARBAGE, true },    { "c6-1", true, 150, 0, CS_GARBAGE, true },
	};
	struct io c;

	t_section("checksum offload: garbage checksums from the client are filled in by vmnet");
	if (!io_start(&c, "csum", false, true, false))
		return;
	if (arp_learn(&c)) {
		udp_to_namespace(&c, dg, sizeof(dg) / sizeof(dg[0]));
		syn_probe(&c, 42001, CS_GARBAGE, true);
	}
	csum_to_observer(&c, obs);
	io_stop(&c);
}

/* The control: the same garbage from an interface without checksum offload is dropped by the kernel. */
static void test_csum_control(struct io *obs)
{
	static const struct dgram dg[] = {
		{ "p4-bad", false, 100, 0, CS_GARBAGE, false }, { "p4pad-bad", false, 8, ETH_MIN, CS_GARBAGE, false },
		{ "p6-bad", true, 100, 0, CS_GARBAGE, false },	{ "p4-good", false, 100, 0, CS_FULL, true },
		{ "p6-good", true, 100, 0, CS_FULL, true },
	};

	t_section("control: an interface without checksum offload sends the same garbage");
	if (!arp_learn(obs))
		return;
	udp_to_namespace(obs, dg, sizeof(dg) / sizeof(dg[0]));
	syn_probe(obs, 42002, CS_GARBAGE, false);
	syn_probe(obs, 42003, CS_FULL, true);
}

/* Payload of the super-frames we write. */
static void super_payload(uint8_t *b, size_t n, uint8_t salt)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 8) + salt);
}

/*
 * One TCP super-frame of dlen payload bytes from c's state: plain (the IP
 * length field covers the whole frame, checksums zero) or, on a vnet
 * interface, with GSO metadata (TCPv4/TCPv6, gso_size, NEEDS_CSUM, the
 * pseudo-header sum in the field). Return: the write status.
 */
static vmnet_return_t send_super(struct conn *c, const uint8_t *dst, const uint8_t *data, size_t dlen,
				 uint16_t gso_size)
{
	size_t iphl = c->v6 ? IP6_LEN : IP4_LEN;
	struct pkt p = { .dst = dst, .v6 = c->v6, .proto = PROTO_TCP, .sport = c->sport, .dport = c->dport,
			 .seq = c->snd_nxt, .ack = c->rcv_nxt, .flags = TH_ACK | TH_PSH, .data = data, .dlen = dlen,
			 .cs = c->io->vnet ? CS_PARTIAL : CS_ZERO };
	struct vnet_hdr h = { .flags = VNET_F_NEEDS_CSUM, .gso_type = c->v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4,
			      .hdr_len = (uint16_t)(ETH_LEN + iphl + TCP_LEN), .gso_size = gso_size,
			      .csum_start = (uint16_t)(ETH_LEN + iphl), .csum_offset = TCP_CSUM_OFF };
	size_t len = pkt_build(tx_buf, c->io->t.mac, &p);

	return io_send(c->io, c->io->vnet ? &h : NULL, tx_buf, len);
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* TSO write: handshake with the namespace's sink, one super-frame, FIN; the sink got every byte. */
static void tso_write_namespace(struct io *io, uint16_t sport, uint16_t gso_size)
{
	static uint8_t data[SUPER_PAYLOAD];
	struct conn c, *cp = &c; /* blocks see c through cp: a captured struct would be a stale copy */
	rx_fn fn = CONN_RX(cp);
	char path[512];
	size_t n = 0;
	uint8_t *got;

	conn_init(&c, io, sport, SINK_PORT, CS_FULL);
	super_payload(data, sizeof(data), (uint8_t)sport);
	CHECKF(conn_open(&c), "%s: handshake with the namespace's TCP sink", io->t.name);
	if (!c.synack)
		goto out;
	CHECKF(c.peer_win >= SUPER_PAYLOAD, "%s: the sink's window (%u) takes the super-frame", io->t.name, c.peer_win);
	CHECK_ST(send_super(&c, peer_mac, data, sizeof(data), gso_size), VMNET_SUCCESS);
	c.snd_nxt += SUPER_PAYLOAD;
	io_pump(io, 5000, ^bool(void) { return cp->peer_ack == cp->snd_nxt || cp->rst; }, fn);
	CHECKF(c.peer_ack == c.snd_nxt, "%s: the namespace acknowledged all %d bytes of one %d-byte frame (acked %u)",
	       io->t.name, SUPER_PAYLOAD, ETH_LEN + IP4_LEN + TCP_LEN + SUPER_PAYLOAD, c.peer_ack - c.iss - 1);
	CHECK_ST(conn_send(&c, TH_FIN | TH_ACK, NULL, 0), VMNET_SUCCESS);
	c.snd_nxt++;
	io_pump(io, 12000, ^bool(void) { return cp->peer_fin || cp->rst; }, fn);
	CHECKF(c.peer_fin, "%s: the sink closed after our FIN", io->t.name);
	conn_send(&c, TH_ACK, NULL, 0);
	snprintf(path, sizeof(path), "%s/sink.%u", workdir, sport);
	for (int i = 0; i < 300 && !file_exists(path); i++)
		t_sleep_ms(10);
	got = t_read_file(path, &n);
	CHECKF(got && n == SUPER_PAYLOAD && !memcmp(got, data, SUPER_PAYLOAD),
	       "%s: the sink received the %d bytes intact (%zu stored)", io->t.name, SUPER_PAYLOAD, got ? n : 0);
	free(got);
	CHECKF(c.st.bad_ip == 0 && c.st.bad_l4 == 0, "%s: the namespace's segments had valid checksums (%d frames)",
	       io->t.name, c.st.frames);
out:
	conn_free(&c);
}

/* Segments of one super-frame, as the observer reassembles them. */
struct cut {
	int segs, bad_csum, too_big, bad_seq, push_bad, last_push;
	size_t max_payload, bytes;
	uint8_t data[SUPER_PAYLOAD];
};

/* TSO write to a plain receiver: vmnet cuts the super-frame into valid segments of at most mss bytes. */
static void tso_write_observer(struct io *io, struct io *obs, bool v6, uint16_t gso_size, size_t mss)
{
	static uint8_t data[SUPER_PAYLOAD];
	static struct cut cut;
	struct cut *ct = &cut;
	struct conn c;
	const uint32_t seq0 = 5000;

	memset(ct, 0, sizeof(*ct));
	conn_init(&c, io, 43000, 43001, CS_FULL);
	c.v6 = v6;
	c.snd_nxt = seq0;
	super_payload(data, sizeof(data), 0x33);
	t_drain(obs->t.ref);
	CHECK_ST(send_super(&c, obs->t.mac, data, sizeof(data), gso_size), VMNET_SUCCESS);
	io_pump(obs, 3000, ^bool(void) { return ct->bytes >= SUPER_PAYLOAD; },
		^(const struct vnet_hdr *h, uint8_t *f, size_t len) {
		struct ipp p;
		size_t thl, pl, off;
		struct rx_stats st = { 0 };

		if (!parse_ip(f, len, &p) || p.v6 != v6 || p.proto != PROTO_TCP || p.l4len < TCP_LEN ||
		    get16(p.l4) != 43000)
			return;
		thl = (size_t)(p.l4[12] >> 4) * 4;
		if (thl < TCP_LEN || thl > p.l4len)
			return;
		rx_verify(obs, h, f, len, &p, mss, &st);
		ct->segs++;
		ct->bad_csum += st.bad_ip + st.bad_l4;
		ct->too_big += len > PLAIN_MAX;
		pl = p.l4len - thl;
		off = get32(p.l4 + 4) - seq0;
		if (pl > ct->max_payload)
			ct->max_payload = pl;
		if (off + pl > SUPER_PAYLOAD || off != ct->bytes) {
			ct->bad_seq++;
			return;
		}
		memcpy(ct->data + off, p.l4 + thl, pl);
		ct->bytes += pl;
		if (p.l4[13] & TH_PSH) {
			if (ct->bytes == SUPER_PAYLOAD)
				ct->last_push = 1;
			else
				ct->push_bad++;
		}
	});
	CHECKF(ct->bytes == SUPER_PAYLOAD && !memcmp(ct->data, data, SUPER_PAYLOAD),
	       "%s -> observer, IPv%d: all of the super-frame arrived in %d segments (%zu of %d bytes in order)",
	       io->t.name, v6 ? 6 : 4, ct->segs, ct->bytes, SUPER_PAYLOAD);
	CHECKF(ct->segs > 1 && ct->too_big == 0, "%s -> observer, IPv%d: cut into plain frames (%d, %d over %d bytes)",
	       io->t.name, v6 ? 6 : 4, ct->segs, ct->too_big, PLAIN_MAX);
	CHECKF(ct->max_payload <= mss, "%s -> observer, IPv%d: segments of at most %zu payload bytes (largest %zu)",
	       io->t.name, v6 ? 6 : 4, mss, ct->max_payload);
	CHECKF(ct->bad_csum == 0 && ct->bad_seq == 0,
	       "%s -> observer, IPv%d: every segment checksummed, in sequence (%d, %d bad)", io->t.name, v6 ? 6 : 4,
	       ct->bad_csum, ct->bad_seq);
	CHECKF(ct->last_push && !ct->push_bad, "%s -> observer, IPv%d: PSH only on the last segment", io->t.name,
	       v6 ? 6 : 4);
	conn_free(&c);
}

/*
 * Read SOURCE_BYTES from the namespace's source server, ACKing cumulatively
 * after every batch, until its FIN. super: frames longer than PLAIN_MAX must
 * come (TSO) or must not (plain).
 */
static void tcp_read(struct io *io, uint16_t sport, bool super)
{
	struct conn c, *cp = &c;
	rx_fn fn = CONN_RX(cp);
	uint64_t end;
	uint32_t acked;
	size_t bad = 0;

	conn_init(&c, io, sport, SOURCE_PORT, CS_FULL);
	CHECKF(conn_open(&c), "%s: handshake with the namespace's TCP source", io->t.name);
	if (!c.synack)
		goto out;
	acked = c.rcv_nxt;
	end = t_now_ms() + 20000;
	while (!c.peer_fin && !c.rst && t_now_ms() < end) {
		int ooo = c.ooo, n = io_read(io, fn);

		if (c.rcv_nxt != acked || c.ooo != ooo) {
			conn_send(&c, TH_ACK, NULL, 0); /* cumulative; a duplicate after a gap */
			acked = c.rcv_nxt;
		}
		if (!n)
			t_sleep_ms(1);
	}
	CHECKF(c.peer_fin && !c.rst, "%s: the source sent everything and closed (%zu bytes)", io->t.name, c.len);
	for (size_t i = 0; i < c.len; i++)
		bad += c.data[i] != source_byte(i);
	CHECKF(c.len == SOURCE_BYTES && bad == 0, "%s: %zu of %d bytes, %zu wrong", io->t.name, c.len, SOURCE_BYTES, bad);
	CHECKF(c.st.bad_ip == 0, "%s: every IPv4 header checksum valid (%d frames, %d bad)", io->t.name, c.st.frames,
	       c.st.bad_ip);
	CHECKF(c.st.bad_l4 == 0, "%s: every TCP checksum valid over the whole segment (%d bad)", io->t.name,
	       c.st.bad_l4);
	CHECKF(c.st.bad_meta == 0, "%s: virtio metadata sane (%d bad)", io->t.name, c.st.bad_meta);
	if (super)
		CHECKF(c.st.big >= 1, "%s: super-frames came (%d over %d bytes, largest %zu)", io->t.name, c.st.big,
		       PLAIN_MAX, c.st.max_len);
	else
		CHECKF(c.st.big == 0, "%s: no frame over %d bytes (largest %zu)", io->t.name, PLAIN_MAX, c.st.max_len);
	t_note("%s: %d frames, largest %zu, %d over %d bytes, %d with a partial checksum, %d out of order", io->t.name,
	       c.st.frames, c.st.max_len, c.st.big, PLAIN_MAX, c.st.partial, c.ooo);
	CHECK_ST(conn_send(&c, TH_FIN | TH_ACK, NULL, 0), VMNET_SUCCESS);
	c.snd_nxt++;
	io_pump(io, 3000, ^bool(void) { return cp->peer_ack == cp->snd_nxt; }, fn);
	CHECKF(c.peer_ack == c.snd_nxt, "%s: our FIN acknowledged", io->t.name);
out:
	conn_free(&c);
}

static void test_tso(struct io *obs, bool vnet)
{
	struct io t;
	const char *name = vnet ? "vnet+tso" : "tso";
	/* With the header we ask for 1448-byte segments; without, vmnet picks MTU - IP - TCP headers. */
	uint16_t gso = vnet ? 1448 : 0;
	size_t mss4 = vnet ? 1448 : 1500 - IP4_LEN - TCP_LEN, mss6 = 1500 - IP6_LEN - TCP_LEN;

	t_section("TSO%s: super-frames written and read", vnet ? " with the virtio header" : "");
	if (!io_start(&t, name, true, false, vnet))
		return;
	if (arp_learn(&t)) {
		tso_write_namespace(&t, vnet ? 44011 : 44001, gso);
		tcp_read(&t, vnet ? 44012 : 44002, true);
	}
	tso_write_observer(&t, obs, false, gso, mss4);
	tso_write_observer(&t, obs, true, gso, mss6);
	io_stop(&t);
}

/* The virtio header without TSO: partial checksums written; everything read comes plain. */
static void test_vnet_plain(struct io *obs)
{
	struct io v;
	struct vnet_hdr h = { .flags = VNET_F_NEEDS_CSUM, .csum_start = ETH_LEN + IP4_LEN, .csum_offset = UDP_CSUM_OFF };
	__block struct rx_stats st = { 0 };

	t_section("virtio header without TSO: NEEDS_CSUM written, plain frames read");
	if (!io_start(&v, "vnet", false, false, true))
		return;
	if (arp_learn(&v)) {
		CHECK_ST(io_send(&v, &h, tx_buf, build_udp(&v, peer_mac, false, "v4-partial", 100, CS_PARTIAL, 0)),
			 VMNET_SUCCESS);
		io_pump(&v, 5000, ^{ return udp_logged("v4-partial", 100); }, NULL);
		CHECKF(udp_logged("v4-partial", 100), "vnet: a UDP datagram with NEEDS_CSUM received by the namespace");
		tcp_read(&v, 45001, false);
	}
	t_drain(obs->t.ref);
	CHECK_ST(io_send(&v, &h, tx_buf, build_udp(&v, obs->t.mac, false, "v4-partial", 100, CS_PARTIAL, 0)),
		 VMNET_SUCCESS);
	io_pump(obs, 3000, ^bool(void) { return st.frames > 0; }, ^(const struct vnet_hdr *rh, uint8_t *f, size_t len) {
		struct ipp p;

		if (parse_ip(f, len, &p) && p.proto == PROTO_UDP && p.l4len >= UDP_LEN && get16(p.l4) == 40000)
			rx_verify(obs, rh, f, len, &p, OWN_MSS, &st);
	});
	CHECKF(st.frames == 1 && st.bad_ip == 0 && st.bad_l4 == 0,
	       "vnet -> observer: the partial UDP checksum finished by vmnet (%d frames, %d bad)", st.frames, st.bad_l4);
	io_stop(&v);
}

int main(int argc, char **argv)
{
	struct io obs;
	uint8_t hello[ETH_MIN];

	if (argc != 6 || inet_pton(AF_INET, argv[1], &peer4) != 1 || inet_pton(AF_INET, argv[2], &own4) != 1 ||
	    inet_pton(AF_INET6, argv[3], &peer6) != 1 || inet_pton(AF_INET6, argv[4], &own6) != 1) {
		fprintf(stderr, "usage: %s PEER_IP OWN_IP PEER_IP6 OWN_IP6 WORKDIR\n", argv[0]);
		return 2;
	}
	workdir = argv[5];
	test_params();
	t_section("the observer: a plain interface");
	if (!io_start(&obs, "observer", false, false, false))
		return t_done("api_offload");
	/* Teach the switch the observer's MAC (a broadcast test frame: the namespace ignores it). */
	t_frame_build(hello, sizeof(hello), t_bcast, obs.t.mac, 1, 1);
	CHECK_ST(io_send(&obs, NULL, hello, sizeof(hello)), VMNET_SUCCESS);
	test_csum(&obs);
	test_csum_control(&obs);
	test_tso(&obs, false);
	test_tso(&obs, true);
	test_vnet_plain(&obs);
	t_section("control: a plain interface reads the namespace's TCP data");
	if (arp_learn(&obs))
		tcp_read(&obs, 46001, false);
	io_stop(&obs);
	return t_done("api_offload");
}
