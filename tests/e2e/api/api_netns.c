/*
 * api_netns.c — an API client talks to a real Linux network stack: a network
 * namespace attached to the default host network (`vmnet attach --netns NS
 * --ip PEER/24`, done by the wrapper). Everything on the wire is crafted and
 * parsed here, with bounds checks: ARP who-has PEER -> the kernel's ARP reply;
 * ICMP echo requests (our own IPv4 and ICMP checksums) -> the kernel's echo
 * replies. Kernel ARP requests for our address are answered all along.
 *
 * usage: api_netns PEER_IP OWN_IP [READY_FILE DONE_FILE]
 * With READY_FILE/DONE_FILE it then acts as a responder from its event
 * callback (ARP + ICMP echo), creates READY_FILE and serves until DONE_FILE
 * exists (at most 20 s), so that the wrapper can ping us from the namespace.
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_common.h"

#define BUF 2048
#define ICMP_ID 0x4a7e
#define PAYLOAD 56

static struct tif I;
static struct in_addr own_ip, peer_ip;
static uint8_t peer_mac[6];
static bool have_peer_mac;
static atomic_int arp_answered, echo_answered, echo_req_bad;

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An ARP packet (op 1 request, 2 reply), padded to 60 bytes. Return: length. */
static size_t build_arp(uint8_t *f, uint16_t op, const uint8_t dst[6], const uint8_t tha[6], struct in_addr tpa)
{
	memset(f, 0, 60);
	memcpy(f, dst, 6);
	memcpy(f + 6, I.mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);      /* htype Ethernet */
	put16(f + 16, 0x0800); /* ptype IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, I.mac, 6);
	memcpy(f + 28, &own_ip, 4);
	memcpy(f + 32, tha, 6);
	memcpy(f + 38, &tpa, 4);
	return 60;
}

/* An IPv4 ICMP echo (type 8 request / 0 reply) to dst. Return: length. */
static size_t build_icmp(uint8_t *f, const uint8_t dst[6], struct in_addr to, uint8_t type, uint16_t id, uint16_t seq,
			 const uint8_t *payload, size_t plen)
{
	uint8_t *ip = f + 14, *icmp = ip + 20;
	size_t ilen = 20 + 8 + plen;
	static uint16_t ipid = 1;

	memset(f, 0, 14 + ilen);
	memcpy(f, dst, 6);
	memcpy(f + 6, I.mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)ilen);
	put16(ip + 4, ipid++);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, &own_ip, 4);
	memcpy(ip + 16, &to, 4);
	put16(ip + 10, t_inet_csum(ip, 20));
	icmp[0] = type;
	icmp[1] = 0;
	put16(icmp + 4, id);
	put16(icmp + 6, seq);
	memcpy(icmp + 8, payload, plen);
	put16(icmp + 2, t_inet_csum(icmp, 8 + plen));
	return 14 + ilen;
}

/* A parsed IPv4 packet inside an Ethernet frame (bounds checked). */
struct ip4 {
	const uint8_t *hdr, *l4;
	size_t l4len;
	uint8_t proto;
	struct in_addr src, dst;
	bool csum_ok;
};

static bool parse_ip4(const uint8_t *f, size_t len, struct ip4 *p)
{
	size_t ihl, tot;

	if (len < 14 + 20 || get16(f + 12) != 0x0800)
		return false;
	p->hdr = f + 14;
	if ((p->hdr[0] >> 4) != 4)
		return false;
	ihl = (size_t)(p->hdr[0] & 15) * 4;
	tot = get16(p->hdr + 2);
	if (ihl < 20 || tot < ihl || 14 + tot > len)
		return false;
	p->proto = p->hdr[9];
	memcpy(&p->src, p->hdr + 12, 4);
	memcpy(&p->dst, p->hdr + 16, 4);
	p->csum_ok = t_inet_csum(p->hdr, ihl) == 0;
	p->l4 = p->hdr + ihl;
	p->l4len = tot - ihl;
	return true;
}

/*
 * Look at one received frame: answer ARP requests for us and (when respond)
 * ICMP echo requests to us; note ARP replies from the peer.
 * Return: 1 if it is an ARP reply from the peer, 0 otherwise.
 */
static int handle_frame(const uint8_t *f, size_t len, bool respond)
{
	uint8_t out[BUF];
	struct ip4 ip;

	if (len >= 42 && get16(f + 12) == 0x0806 && get16(f + 14) == 1 && get16(f + 16) == 0x0800 && f[18] == 6 &&
	    f[19] == 4) {
		uint16_t op = get16(f + 20);
		struct in_addr spa, tpa;

		memcpy(&spa, f + 28, 4);
		memcpy(&tpa, f + 38, 4);
		if (op == 1 && tpa.s_addr == own_ip.s_addr) {
			t_write1(I.ref, out, build_arp(out, 2, f + 22, f + 22, spa));
			atomic_fetch_add(&arp_answered, 1);
			return 0;
		}
		if (op == 2 && spa.s_addr == peer_ip.s_addr && tpa.s_addr == own_ip.s_addr && !memcmp(f + 32, I.mac, 6))
			return 1;
		return 0;
	}
	if (respond && parse_ip4(f, len, &ip) && ip.proto == 1 && ip.dst.s_addr == own_ip.s_addr && ip.l4len >= 8 &&
	    ip.l4[0] == 8) {
		if (!ip.csum_ok || t_inet_csum(ip.l4, ip.l4len) != 0) {
			atomic_fetch_add(&echo_req_bad, 1);
			return 0;
		}
		t_write1(I.ref, out,
			 build_icmp(out, f + 6, ip.src, 0, get16(ip.l4 + 4), get16(ip.l4 + 6), ip.l4 + 8, ip.l4len - 8));
		atomic_fetch_add(&echo_answered, 1);
	}
	return 0;
}

static void test_arp(void)
{
	uint8_t f[BUF];
	static const uint8_t zero[6];
	uint64_t end = t_now_ms() + 5000, next_send = 0;
	int sent = 0;

	t_section("ARP who-has %s from an API client", inet_ntoa(peer_ip));
	while (!have_peer_mac && t_now_ms() < end) {
		struct t_rx r = { 0 };

		if (t_now_ms() >= next_send) {
			CHECK_ST(t_write1(I.ref, f, build_arp(f, 1, t_bcast, zero, peer_ip)), VMNET_SUCCESS);
			sent++;
			next_send = t_now_ms() + 500;
		}
		t_collect(I.ref, &r, 0, 20, BUF);
		for (int i = 0; i < r.n; i++) {
			const uint8_t *p = r.data[i];

			if (handle_frame(p, r.len[i], false)) {
				/* bounds already checked by handle_frame: len >= 42 */
				CHECKF(get16(p + 12) == 0x0806, "ARP reply ethertype 0x0806");
				CHECKF(get16(p + 20) == 2, "ARP op 2 (reply)");
				CHECKF(!memcmp(p, I.mac, 6), "the ARP reply is addressed to our MAC");
				CHECKF(!memcmp(p + 6, p + 22, 6), "Ethernet source = ARP sender MAC");
				CHECKF(!(p[22] & 1), "the kernel's MAC is unicast");
				memcpy(peer_mac, p + 22, 6);
				have_peer_mac = true;
			}
		}
		t_rx_free(&r);
	}
	CHECKF(have_peer_mac, "the kernel answered our ARP request (%d sent)", sent);
	if (have_peer_mac)
		t_note("%s is at %02x:%02x:%02x:%02x:%02x:%02x", inet_ntoa(peer_ip), peer_mac[0], peer_mac[1],
		       peer_mac[2], peer_mac[3], peer_mac[4], peer_mac[5]);
}

static void test_ping(void)
{
	uint8_t f[BUF], payload[PAYLOAD];

	t_section("ICMP echo to %s from an API client", inet_ntoa(peer_ip));
	if (!have_peer_mac)
		return;
	for (uint16_t seq = 1; seq <= 3; seq++) {
		uint64_t end = t_now_ms() + 3000;
		bool got = false;

		for (int i = 0; i < PAYLOAD; i++)
			payload[i] = (uint8_t)(i * 3 + seq);
		CHECK_ST(t_write1(I.ref, f, build_icmp(f, peer_mac, peer_ip, 8, ICMP_ID, seq, payload, PAYLOAD)),
			 VMNET_SUCCESS);
		while (!got && t_now_ms() < end) {
			struct t_rx r = { 0 };

			t_collect(I.ref, &r, 0, 20, BUF);
			for (int i = 0; i < r.n && !got; i++) {
				struct ip4 ip;
				const uint8_t *p = r.data[i];

				handle_frame(p, r.len[i], false);
				if (!parse_ip4(p, r.len[i], &ip) || ip.proto != 1 || ip.l4len < 8 || ip.l4[0] != 0 ||
				    get16(ip.l4 + 4) != ICMP_ID || get16(ip.l4 + 6) != seq)
					continue;
				got = true;
				CHECKF(!memcmp(p, I.mac, 6) && !memcmp(p + 6, peer_mac, 6),
				       "echo reply %u: Ethernet kernel MAC -> our MAC", seq);
				CHECKF(ip.src.s_addr == peer_ip.s_addr && ip.dst.s_addr == own_ip.s_addr,
				       "echo reply %u: IPv4 peer -> us", seq);
				CHECKF(ip.csum_ok, "echo reply %u: IPv4 header checksum valid", seq);
				CHECKF(t_inet_csum(ip.l4, ip.l4len) == 0, "echo reply %u: ICMP checksum valid", seq);
				CHECKF(ip.l4[1] == 0, "echo reply %u: code 0", seq);
				CHECKF(ip.l4len == 8 + PAYLOAD && !memcmp(ip.l4 + 8, payload, PAYLOAD),
				       "echo reply %u: payload echoed", seq);
			}
			t_rx_free(&r);
		}
		CHECKF(got, "echo reply for id 0x%x seq %u", ICMP_ID, seq);
	}
}

static bool file_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

static void serve(const char *ready, const char *done)
{
	dispatch_queue_t q = t_queue("responder");
	FILE *fp;
	uint64_t end;

	t_section("responder: the namespace pings the API client");
	CHECK_ST(vmnet_interface_set_event_callback(I.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, q,
						    ^(interface_event_t mask, xpc_object_t event) {
							    struct t_rx r = { 0 };

							    t_collect(I.ref, &r, 0, 0, BUF);
							    for (int i = 0; i < r.n; i++)
								    handle_frame(r.data[i], r.len[i], true);
							    t_rx_free(&r);
						    }),
		 VMNET_SUCCESS);
	fp = fopen(ready, "w");
	CHECK(fp != NULL);
	if (fp)
		fclose(fp);
	end = t_now_ms() + 20000;
	while (!file_exists(done) && t_now_ms() < end)
		t_sleep_ms(20);
	CHECKF(file_exists(done), "the wrapper finished pinging");
	CHECK_ST(vmnet_interface_set_event_callback(I.ref, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL), VMNET_SUCCESS);
	CHECKF(t_flush(q, 5000), "queue q drained");
	CHECKF(atomic_load(&echo_answered) >= 1, "answered the namespace's echo requests (%d)",
	       atomic_load(&echo_answered));
	CHECK_EQ(atomic_load(&echo_req_bad), 0);
	t_note("answered %d echo request(s), %d ARP request(s)", atomic_load(&echo_answered),
	       atomic_load(&arp_answered));
}

int main(int argc, char **argv)
{
	if ((argc != 3 && argc != 5) || inet_pton(AF_INET, argv[1], &peer_ip) != 1 ||
	    inet_pton(AF_INET, argv[2], &own_ip) != 1) {
		fprintf(stderr, "usage: %s PEER_IP OWN_IP [READY_FILE DONE_FILE]\n", argv[0]);
		return 2;
	}
	t_section("start an interface on the default host network");
	if (!t_start_host(&I, "netns-client"))
		return t_done("api_netns");
	test_arp();
	test_ping();
	if (argc == 5)
		serve(argv[3], argv[4]);
	CHECK_ST(t_stop(&I), VMNET_SUCCESS);
	return t_done("api_netns");
}
