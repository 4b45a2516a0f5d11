/*
 * bench_dhcp.c — a DHCPv4 load client: N clients, each with its own random
 * locally administered MAC, run DISCOVER -> OFFER -> REQUEST -> ACK (then
 * RELEASE) against whatever DHCP server answers on one interface. It is run
 * inside a network namespace (bench/gateway.sh): on the tap that
 * `vmnet attach --netns` made (the server is vmnetd's gateway) or on one end
 * of a veth pair (the server is dnsmasq on the other end).
 *
 * Theory of operation
 *
 * One AF_PACKET socket on the interface sends and receives whole Ethernet
 * frames, so the client needs no address and the kernel's own stack in the
 * namespace stays out of the way. DISCOVER and REQUEST set the BOOTP broadcast
 * flag (RFC 2131 §4.1), so servers broadcast their replies and the socket
 * sees them whatever its MAC filter says. Client i's MAC is a per-run random
 * 3-byte prefix (locally administered, unicast), 0xd4, then i in the last two
 * bytes, so MACs are distinct; its xid is xid_base + i. A reply belongs to client
 * i when its xid maps to i and its chaddr is client i's MAC; anything else
 * is counted as stray and dropped.
 *
 * At most `window` clients are in flight. Each message waits `timeout` for
 * its answer and is sent at most `tries` times; a NAK restarts the client at
 * DISCOVER (at most DHCPB_MAX_RESTARTS times). A client that runs out of
 * tries, or that is still in flight when the run's time limit is reached,
 * counts as failed. After its ACK a client sends a RELEASE (unless -k), so a
 * pool smaller than N (vmnetd's default network has 253 addresses) serves
 * all N clients, as guests coming and going would.
 *
 * Measured: the latency of a client, from its first DISCOVER to its ACK
 * (retries included), median and p99 over the bound clients; and the lease
 * rate, bound clients / (last ACK - first DISCOVER). Run with -c 1 for
 * latency (one transaction on the wire at a time) and with a larger window
 * for throughput.
 *
 * Output: one "RESULT key=value ..." line on stdout (bench/gateway.sh parses
 * it); progress and errors on stderr. Exit status 0 when the run happened
 * (failed clients are a result, not an error), 1 on a local error, 2 on bad
 * usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
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
#include "common/csum.h"
#include "common/cursor.h"
#include "engine/dhcp.h"
#include "engine/wire.h"

#define DHCPB_MAX_CLIENTS 65535 /* the client index fits the last two MAC bytes */
#define DHCPB_MAX_WINDOW 256
#define DHCPB_MAX_RESTARTS 3 /* NAKs one client may take before it counts as failed */
#define DHCPB_FRAME_MAX 1536
#define DHCPB_RCVBUF (4 << 20) /* broadcast replies of a whole window must fit */
#define DHCPB_RECV_BUDGET 4096 /* frames read per wakeup: no loop runs unbounded */

static_assert(DHCPB_FRAME_MAX >= ETH_HLEN + sizeof(struct ipv4_hdr) + sizeof(struct udp_hdr) + DHCP_BOOTP_MIN,
	      "request frame");

enum client_state { CL_IDLE, CL_SELECTING, CL_REQUESTING, CL_BOUND, CL_FAILED };

struct client {
	uint8_t mac[ETH_ALEN];
	uint8_t state;    /* enum client_state */
	uint8_t tries;    /* transmissions of the current message */
	uint8_t restarts; /* NAKs taken */
	uint32_t yiaddr, server_id; /* network order, from the OFFER */
	double started, sent_at;    /* first DISCOVER, last transmission */
};

struct opts {
	const char *ifname, *label;
	unsigned clients, window, tries;
	double timeout, limit; /* seconds */
	bool keep;             /* no RELEASE after the ACK */
};

struct stats {
	unsigned bound, failed, offers, acks, naks, resent, stray, released, send_errors;
	double first_sent, last_ack;
};

struct run {
	struct opts o;
	int fd;
	uint8_t prefix[3];
	uint32_t xid_base;
	struct client *cl;
	double *lat; /* seconds, one per bound client */
	unsigned active[DHCPB_MAX_WINDOW], nactive, next;
	struct stats st;
};

/* The fields of a server reply that the client acts on. */
struct reply {
	const struct dhcp_msg *msg;
	uint8_t type; /* DHCP_OPT_MESSAGE_TYPE */
	uint32_t server_id, yiaddr; /* network order; server_id falls back to the IP source */
	uint8_t server_mac[ETH_ALEN];
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
		"usage: %s -i IFNAME [-n CLIENTS] [-c WINDOW] [-t TIMEOUT_MS] [-r TRIES] [-T LIMIT_S] [-k] [-L LABEL]\n"
		"  -i  interface to run the clients on (AF_PACKET; needs CAP_NET_RAW)\n"
		"  -n  clients, 1..%d (default 1000)\n"
		"  -c  clients in flight at once, 1..%d (default 16; 1 = latency run)\n"
		"  -t  wait for an answer, ms (default 500)\n"
		"  -r  transmissions of one message before the client fails (default 6)\n"
		"  -T  limit of the whole run, s (default 60)\n"
		"  -k  keep the leases (no RELEASE after the ACK)\n"
		"  -L  label echoed in the RESULT line\n",
		prog, DHCPB_MAX_CLIENTS, DHCPB_MAX_WINDOW);
	exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	*o = (struct opts){ .clients = 1000, .window = 16, .tries = 6, .timeout = 0.5, .limit = 60 };
	while ((c = getopt(argc, argv, "i:n:c:t:r:T:kL:h")) != -1) {
		switch (c) {
		case 'i': o->ifname = optarg; break;
		case 'n': o->clients = (unsigned)atoi(optarg); break;
		case 'c': o->window = (unsigned)atoi(optarg); break;
		case 't': o->timeout = atof(optarg) / 1000; break;
		case 'r': o->tries = (unsigned)atoi(optarg); break;
		case 'T': o->limit = atof(optarg); break;
		case 'k': o->keep = true; break;
		case 'L': o->label = optarg; break;
		default: usage_exit(argv[0]);
		}
	}
	if (optind != argc || !o->ifname || o->clients < 1 || o->clients > DHCPB_MAX_CLIENTS || o->window < 1 ||
	    o->window > DHCPB_MAX_WINDOW || o->tries < 1 || o->tries > 100 || o->timeout <= 0 || o->limit <= 0)
		usage_exit(argv[0]);
}

/* Open the AF_PACKET socket on ifname. Return: the fd, or -1 after printing why. */
static int packet_open(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP) };
	int fd, one = 1, rcvbuf = DHCPB_RCVBUF;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "bench_dhcp: no interface %s: %s\n", ifname, strerror(errno));
		return -1;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_IP));
	if (fd < 0) {
		fprintf(stderr, "bench_dhcp: AF_PACKET socket: %s\n", strerror(errno));
		return -1;
	}
	/* Our own frames are not replies; older kernels lack the option: recv_one() skips them too. */
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "bench_dhcp: bind to %s: %s\n", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Append one option (code, length, value) to w. */
static void opt_put(struct writer *w, uint8_t code, const void *val, uint8_t len)
{
	wr_u8(w, code);
	wr_u8(w, len);
	wr_bytes(w, val, len);
}

/* Fill in lengths and checksums of the IPv4/UDP headers in front of a DHCP payload of plen bytes. */
static void ipv4_udp_finish(struct ipv4_hdr *ip, struct udp_hdr *uh, size_t plen)
{
	uint16_t ulen = (uint16_t)(sizeof(*uh) + plen), check;

	ip->tot_len = htons((uint16_t)(sizeof(*ip) + ulen));
	ip->check = 0;
	ip->check = htons(csum_fold(csum_partial(ip, sizeof(*ip), 0)));
	uh->len = htons(ulen);
	uh->check = 0;
	check = csum_fold(csum_partial(uh, ulen, csum_ipv4_pseudo(ip->saddr, ip->daddr, IPPROTO_UDP_, ulen)));
	uh->check = htons(check ? check : 0xffff); /* RFC 768: a computed 0 is sent as all ones */
}

/*
 * Build client i's next message of the given type into buf: broadcast from
 * 0.0.0.0 (DISCOVER, REQUEST in SELECTING, RFC 2131 §4.4.1), or unicast from
 * the leased address to the server (RELEASE, §4.4.6). Return: frame length.
 */
static size_t request_build(const struct run *r, unsigned i, uint8_t type, const uint8_t *server_mac,
			    uint8_t *buf, size_t cap)
{
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t prl[] = { DHCP_OPT_SUBNET_MASK, DHCP_OPT_ROUTER, DHCP_OPT_DNS_SERVER,
				       DHCP_OPT_DOMAIN_NAME, DHCP_OPT_LEASE_TIME, DHCP_OPT_SERVER_ID };
	const struct client *cl = &r->cl[i];
	bool release = type == DHCP_RELEASE;
	struct writer w = wr_init(buf, cap);
	struct eth_hdr *eth = wr_put(&w, sizeof(*eth));
	struct ipv4_hdr *ip = wr_put(&w, sizeof(*ip));
	struct udp_hdr *uh = wr_put(&w, sizeof(*uh));
	struct dhcp_msg *m = wr_put(&w, sizeof(*m));
	size_t start = w.len;

	if (w.bad)
		return 0;
	memcpy(eth->dst, release ? server_mac : bcast, ETH_ALEN);
	memcpy(eth->src, cl->mac, ETH_ALEN);
	eth->type = htons(ETHERTYPE_IPV4);
	*ip = (struct ipv4_hdr){ .ver_ihl = 0x45, .ttl = 64, .proto = IPPROTO_UDP_,
				 .saddr = release ? cl->yiaddr : 0,
				 .daddr = release ? cl->server_id : htonl(INADDR_BROADCAST) };
	*uh = (struct udp_hdr){ .sport = htons(DHCP_PORT_CLIENT), .dport = htons(DHCP_PORT_SERVER) };
	*m = (struct dhcp_msg){ .op = DHCP_OP_BOOTREQUEST, .htype = DHCP_HTYPE_ETHER, .hlen = DHCP_HLEN_ETHER,
				.xid = htonl(r->xid_base + i),
				.flags = htons(release ? 0 : DHCP_FLAG_BROADCAST),
				.ciaddr = release ? cl->yiaddr : 0 };
	memcpy(m->chaddr, cl->mac, ETH_ALEN);
	wr_be32(&w, DHCP_MAGIC_COOKIE);
	opt_put(&w, DHCP_OPT_MESSAGE_TYPE, &type, 1);
	if (type == DHCP_REQUEST)
		opt_put(&w, DHCP_OPT_REQUESTED_IP, &cl->yiaddr, 4);
	if (type == DHCP_REQUEST || release)
		opt_put(&w, DHCP_OPT_SERVER_ID, &cl->server_id, 4);
	if (!release)
		opt_put(&w, DHCP_OPT_PARAM_REQUEST, prl, sizeof(prl));
	wr_u8(&w, DHCP_OPT_END);
	while (!w.bad && w.len - start < DHCP_BOOTP_MIN) /* RFC 1542 §2.1 */
		wr_u8(&w, DHCP_OPT_PAD);
	if (w.bad)
		return 0;
	ipv4_udp_finish(ip, uh, w.len - start + sizeof(*m));
	return w.len;
}

/* Send client i's message. Return: 0, or -1 when the kernel refused it (counted). */
static int send_msg(struct run *r, unsigned i, uint8_t type, const uint8_t *server_mac)
{
	uint8_t buf[DHCPB_FRAME_MAX];
	size_t n = request_build(r, i, type, server_mac, buf, sizeof(buf));

	if (!n || send(r->fd, buf, n, 0) != (ssize_t)n) {
		r->st.send_errors++;
		return -1;
	}
	return 0;
}

/* Start (or restart after a NAK) client i at DISCOVER. */
static void client_discover(struct run *r, unsigned i, double now)
{
	struct client *cl = &r->cl[i];

	cl->state = CL_SELECTING;
	cl->tries = 1;
	cl->sent_at = now;
	(void)send_msg(r, i, DHCP_DISCOVER, NULL);
}

/* Scan the options of a reply for the message type and server identifier. Return: 0 or -1 (malformed). */
static int reply_options(struct cursor *c, struct reply *rp)
{
	uint8_t code, len;
	struct cursor v;

	/* Every pass takes at least one byte: the loop ends. */
	while (cur_u8(c, &code) == 0 && code != DHCP_OPT_END) {
		if (code == DHCP_OPT_PAD)
			continue;
		if (cur_u8(c, &len) < 0 || cur_sub(c, len, &v) < 0)
			return -1; /* overlong */
		if (code == DHCP_OPT_MESSAGE_TYPE && len == 1)
			(void)cur_u8(&v, &rp->type);
		else if (code == DHCP_OPT_SERVER_ID && len == 4)
			(void)cur_copy(&v, &rp->server_id, 4);
	}
	return rp->type ? 0 : -1;
}

/* Parse one received frame as a BOOTREPLY to port 68. Return: 0, or -1 when it is not one. */
static int reply_parse(const uint8_t *frame, size_t len, struct reply *rp)
{
	struct cursor c = cur_init(frame, len);
	const struct eth_hdr *eth = cur_pull(&c, sizeof(*eth));
	const struct ipv4_hdr *ip;
	const struct udp_hdr *uh;
	uint32_t cookie;

	memset(rp, 0, sizeof(*rp));
	if (!eth || eth->type != htons(ETHERTYPE_IPV4))
		return -1;
	ip = cur_pull(&c, sizeof(*ip));
	if (!ip || ip->ver_ihl >> 4 != 4 || (ip->ver_ihl & 0xf) < 5 || ip->proto != IPPROTO_UDP_ ||
	    (ntohs(ip->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK)))
		return -1;
	if (!cur_pull(&c, ((size_t)(ip->ver_ihl & 0xf) - 5) * 4)) /* IP options */
		return -1;
	uh = cur_pull(&c, sizeof(*uh));
	if (!uh || uh->dport != htons(DHCP_PORT_CLIENT))
		return -1;
	rp->msg = cur_pull(&c, sizeof(*rp->msg));
	if (!rp->msg || rp->msg->op != DHCP_OP_BOOTREPLY || cur_be32(&c, &cookie) < 0 || cookie != DHCP_MAGIC_COOKIE)
		return -1;
	if (reply_options(&c, rp) < 0)
		return -1;
	if (!rp->server_id)
		rp->server_id = ip->saddr;
	rp->yiaddr = rp->msg->yiaddr;
	memcpy(rp->server_mac, eth->src, ETH_ALEN);
	return 0;
}

/* Take client i out of the in-flight set. */
static void client_retire(struct run *r, unsigned i)
{
	for (unsigned k = 0; k < r->nactive; k++) {
		if (r->active[k] == i) {
			r->active[k] = r->active[--r->nactive];
			return;
		}
	}
}

/* Client i got its ACK: record, RELEASE, retire. */
static void client_bound(struct run *r, unsigned i, const struct reply *rp, double now)
{
	struct client *cl = &r->cl[i];

	cl->state = CL_BOUND;
	r->lat[r->st.bound++] = now - cl->started;
	r->st.last_ack = now;
	cl->yiaddr = rp->yiaddr;
	if (!r->o.keep && send_msg(r, i, DHCP_RELEASE, rp->server_mac) == 0)
		r->st.released++;
	client_retire(r, i);
}

/* Act on one server reply. */
static void reply_input(struct run *r, const struct reply *rp, double now)
{
	uint32_t i = ntohl(rp->msg->xid) - r->xid_base;
	struct client *cl;

	if (i >= r->o.clients || memcmp(rp->msg->chaddr, r->cl[i].mac, ETH_ALEN)) {
		r->st.stray++;
		return;
	}
	cl = &r->cl[i];
	if (rp->type == DHCP_OFFER && cl->state == CL_SELECTING) {
		r->st.offers++;
		cl->yiaddr = rp->yiaddr;
		cl->server_id = rp->server_id;
		cl->state = CL_REQUESTING;
		cl->tries = 1;
		cl->sent_at = now;
		(void)send_msg(r, i, DHCP_REQUEST, NULL);
	} else if (rp->type == DHCP_ACK && cl->state == CL_REQUESTING) {
		r->st.acks++;
		client_bound(r, i, rp, now);
	} else if (rp->type == DHCP_NAK && cl->state == CL_REQUESTING) {
		r->st.naks++;
		if (++cl->restarts > DHCPB_MAX_RESTARTS) {
			cl->state = CL_FAILED;
			r->st.failed++;
			client_retire(r, i);
		} else {
			client_discover(r, i, now);
		}
	} else {
		r->st.stray++; /* a duplicate, or an answer to an earlier transmission */
	}
}

/* Read every frame waiting on the socket. */
static void recv_all(struct run *r)
{
	uint8_t buf[DHCPB_FRAME_MAX];
	struct sockaddr_ll from;
	struct reply rp;

	for (unsigned k = 0; k < DHCPB_RECV_BUDGET; k++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(r->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

		if (n < 0)
			return; /* EAGAIN, or an error poll() will report again */
		if (from.sll_pkttype == PACKET_OUTGOING || reply_parse(buf, (size_t)n, &rp) < 0)
			continue;
		reply_input(r, &rp, now_sec());
	}
}

/* Retransmit or fail every in-flight client whose wait is over. Return: seconds until the next wait ends. */
static double check_timeouts(struct run *r, double now)
{
	double next = r->o.timeout;

	for (unsigned k = 0; k < r->nactive;) {
		unsigned i = r->active[k];
		struct client *cl = &r->cl[i];
		double left = cl->sent_at + r->o.timeout - now;

		if (left > 0) {
			next = left < next ? left : next;
			k++;
			continue;
		}
		if (cl->tries >= r->o.tries) {
			cl->state = CL_FAILED;
			r->st.failed++;
			r->active[k] = r->active[--r->nactive]; /* k now holds another client */
			continue;
		}
		cl->tries++;
		cl->sent_at = now;
		r->st.resent++;
		(void)send_msg(r, i, cl->state == CL_SELECTING ? DHCP_DISCOVER : DHCP_REQUEST, NULL);
		k++;
	}
	return next;
}

/* Start clients until the window is full. */
static void fill_window(struct run *r, double now)
{
	while (r->nactive < r->o.window && r->next < r->o.clients) {
		unsigned i = r->next++;

		r->cl[i].started = now;
		if (!r->st.first_sent)
			r->st.first_sent = now;
		r->active[r->nactive++] = i;
		client_discover(r, i, now);
	}
}

/* The whole run, bounded by o.limit. */
static void run_clients(struct run *r)
{
	double deadline = now_sec() + r->o.limit;

	for (;;) {
		double now = now_sec(), wait;
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

		fill_window(r, now);
		if (!r->nactive || now >= deadline)
			break;
		wait = check_timeouts(r, now);
		if (!r->nactive)
			continue;
		if (wait > deadline - now)
			wait = deadline - now;
		if (poll(&pfd, 1, (int)(wait * 1000) + 1) > 0)
			recv_all(r);
	}
	r->st.failed += r->nactive; /* still in flight at the limit */
	for (unsigned k = 0; k < r->nactive; k++)
		r->cl[r->active[k]].state = CL_FAILED;
	r->st.failed += r->o.clients - r->next; /* never started */
}

static void report(struct run *r)
{
	const struct stats *s = &r->st;
	double span = s->last_ack > s->first_sent ? s->last_ack - s->first_sent : 0;

	qsort(r->lat, s->bound, sizeof(*r->lat), stats_cmp_double);
	printf("RESULT impl=dhcp clients=%u window=%u bound=%u failed=%u secs=%.4f leases_per_s=%.1f "
	       "lat_med_ms=%.3f lat_p99_ms=%.3f lat_max_ms=%.3f offers=%u acks=%u naks=%u resent=%u released=%u "
	       "stray=%u send_errors=%u%s%s\n",
	       r->o.clients, r->o.window, s->bound, s->failed, span, span > 0 ? s->bound / span : 0,
	       stats_percentile(r->lat, s->bound, 50) * 1e3, stats_percentile(r->lat, s->bound, 99) * 1e3,
	       stats_percentile(r->lat, s->bound, 100) * 1e3, s->offers, s->acks, s->naks, s->resent, s->released,
	       s->stray, s->send_errors, r->o.label ? " label=" : "", r->o.label ? r->o.label : "");
	fprintf(stderr, "bench_dhcp: %u/%u clients bound in %.2f s (%.1f leases/s), latency median %.3f ms p99 %.3f ms, "
			"%u failed, %u resent, %u NAKs\n",
		s->bound, r->o.clients, span, span > 0 ? s->bound / span : 0, stats_percentile(r->lat, s->bound, 50) * 1e3,
		stats_percentile(r->lat, s->bound, 99) * 1e3, s->failed, s->resent, s->naks);
	fflush(stdout);
}

/* Random MAC prefix and xid base for this run. */
static void run_seed(struct run *r)
{
	uint8_t rnd[7];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = (uint64_t)(now_sec() * 1e9) ^ (uint64_t)getpid() << 32;

		memcpy(rnd, &t, sizeof(rnd));
	}
	r->prefix[0] = (uint8_t)((rnd[0] & 0xfc) | 0x02); /* locally administered, unicast */
	r->prefix[1] = rnd[1];
	r->prefix[2] = rnd[2];
	memcpy(&r->xid_base, rnd + 3, sizeof(r->xid_base));
	for (unsigned i = 0; i < r->o.clients; i++) {
		uint8_t *m = r->cl[i].mac;

		memcpy(m, r->prefix, 3);
		m[3] = 0xd4; /* "DHCP bench" marker */
		m[4] = (uint8_t)(i >> 8);
		m[5] = (uint8_t)i;
	}
}

int main(int argc, char **argv)
{
	struct run r = { 0 };

	parse_opts(argc, argv, &r.o);
	r.cl = calloc(r.o.clients, sizeof(*r.cl));
	r.lat = calloc(r.o.clients, sizeof(*r.lat));
	if (!r.cl || !r.lat) {
		fprintf(stderr, "bench_dhcp: out of memory\n");
		return 1;
	}
	r.fd = packet_open(r.o.ifname);
	if (r.fd < 0)
		return 1;
	run_seed(&r);
	run_clients(&r);
	report(&r);
	close(r.fd);
	free(r.cl);
	free(r.lat);
	return 0;
}
