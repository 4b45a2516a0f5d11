/*
 * api_multi.c — two processes on one vmnet_network_identifier_key network
 * (spec §2.1, §9 "Isolation"): frames written by one process are read by the
 * other and vice versa; interfaces on another identifier and on the default
 * network see none of them; interface_param of an identifier network has no
 * address range and nothing answers DHCP there.
 *
 * usage: api_multi                            (the main process; forks+execs its peer)
 *        api_multi peer NET_UUID RFD WFD      (internal: the peer process)
 * The two talk over a pair of pipes with one-line messages; every wait has a
 * timeout. Prints "N passed, N failed"; exits non-zero on any failure.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_common.h"

#define BUF 2048

static int rfd = -1, wfd = -1;

static void send_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void send_line(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	if (write(wfd, buf, (size_t)n) != n)
		printf("   pipe write failed\n");
}

/* Read one line (without '\n') within timeout_ms. Return: true if a line came. */
static bool recv_line(char *buf, size_t size, int timeout_ms)
{
	uint64_t end = t_now_ms() + (uint64_t)timeout_ms;
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };
		int left = (int)(end > t_now_ms() ? end - t_now_ms() : 0);
		char c;

		if (poll(&p, 1, left) <= 0)
			break;
		if (read(rfd, &c, 1) != 1)
			break;
		if (c == '\n') {
			buf[len] = 0;
			return true;
		}
		buf[len++] = c;
	}
	buf[len] = 0;
	return false;
}

/* Intact test frames with this tag in r. */
static int count_tag(const struct t_rx *r, uint32_t tag)
{
	return t_rx_count_tag(r, tag);
}

/* ------------------------------------------------------------------ */
/* peer process                                                        */
/* ------------------------------------------------------------------ */

static int peer_main(const char *net_s, int in, int out)
{
	struct tif B;
	uuid_t net;
	char line[256];
	uint8_t amac[6];
	struct t_rx r = { 0 };

	rfd = in;
	wfd = out;
	if (uuid_parse(net_s, net) < 0)
		return 2;
	if (!t_start_netid(&B, "peer-B", net)) {
		send_line("FAILED");
		return t_done("api_multi peer");
	}
	/* Announce B (so the switch learns its MAC), then tell the main process. */
	CHECK_ST(t_write_frames(B.ref, t_bcast, B.mac, 62, 0, 1, 120), VMNET_SUCCESS);
	send_line("READY %s", B.mac_str);

	while (recv_line(line, sizeof(line), 20000)) {
		char mac_s[32];
		int n;

		if (sscanf(line, "SENT %31s", mac_s) == 1 && t_parse_mac(mac_s, amac)) {
			/* 5 broadcasts (tag 60) and 3 unicasts (tag 61) from A */
			n = t_collect(B.ref, &r, 8, 3000, BUF);
			n += t_collect(B.ref, &r, 0, 100, BUF);
			CHECKF(n == 8 && count_tag(&r, 60) == 5 && count_tag(&r, 61) == 3,
			       "peer: got A's 5 broadcasts and 3 unicasts intact (%d frames, %d + %d)", n,
			       count_tag(&r, 60), count_tag(&r, 61));
			for (int i = 0; i < r.n; i++)
				CHECKF(r.len[i] >= 12 && !memcmp(r.data[i] + 6, amac, 6), "peer: frame %d comes from A's MAC",
				       i);
			send_line("GOT %d %d %d", n, count_tag(&r, 60), count_tag(&r, 61));
			t_rx_free(&r);
			CHECK_ST(t_write_frames(B.ref, amac, B.mac, 63, 0, 4, 700), VMNET_SUCCESS);
			send_line("SENT2");
		} else if (!strcmp(line, "QUIET?")) {
			n = t_collect(B.ref, &r, 0, 300, BUF);
			CHECKF(n == 0, "peer: nothing from the other networks (got %d)", n);
			send_line("QUIET %d", n);
			t_rx_free(&r);
		} else if (!strcmp(line, "STOP")) {
			CHECK_ST(t_stop(&B), VMNET_SUCCESS);
			send_line("STOPPED");
			return t_done("api_multi peer");
		}
	}
	CHECKF(false, "peer: the main process went quiet");
	t_stop(&B);
	return t_done("api_multi peer");
}

/* ------------------------------------------------------------------ */
/* main process                                                        */
/* ------------------------------------------------------------------ */

/* A DHCPDISCOVER from mac (IPv4/UDP 68 -> 67, broadcast). Return: frame length. */
static size_t build_dhcp_discover(uint8_t *f, const uint8_t mac[6])
{
	uint8_t *ip = f + 14, *udp = ip + 20, *bootp = udp + 8;
	size_t blen = 240 + 4, ulen = 8 + blen, ilen = 20 + ulen;
	uint16_t c;

	memset(f, 0, 14 + ilen);
	memcpy(f, t_bcast, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ilen >> 8);
	ip[3] = (uint8_t)ilen;
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4); /* 0.0.0.0 -> 255.255.255.255 */
	c = t_inet_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[1] = 68;
	udp[3] = 67;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	bootp[0] = 1; /* BOOTREQUEST */
	bootp[1] = 1;
	bootp[2] = 6;
	bootp[4] = 0x12; /* xid */
	bootp[5] = 0x34;
	bootp[6] = 0x56;
	bootp[7] = 0x78;
	bootp[10] = 0x80; /* broadcast flag */
	memcpy(bootp + 28, mac, 6);
	bootp[236] = 99; /* magic cookie */
	bootp[237] = 130;
	bootp[238] = 83;
	bootp[239] = 99;
	bootp[240] = 53; /* DHCP message type: DISCOVER */
	bootp[241] = 1;
	bootp[242] = 1;
	bootp[243] = 255;
	return 14 + ilen;
}

static bool is_dhcp_reply(const uint8_t *f, size_t len)
{
	size_t ihl;

	if (len < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4)
		return false;
	ihl = (size_t)(f[14] & 15) * 4;
	if (ihl < 20 || len < 14 + ihl + 8 || f[14 + 9] != 17)
		return false;
	return f[14 + ihl] == 0 && f[14 + ihl + 1] == 67; /* UDP source port 67 */
}

static void check_netid_param(const struct tif *a, const uuid_t net)
{
	xpc_object_t p = a->param;
	const uint8_t *echo;

	t_section("interface_param on an identifier network");
	CHECKF(!xpc_dictionary_get_value(p, vmnet_start_address_key), "no vmnet_start_address (no DHCP range)");
	CHECKF(!xpc_dictionary_get_value(p, vmnet_end_address_key), "no vmnet_end_address");
	CHECKF(!xpc_dictionary_get_value(p, vmnet_subnet_mask_key), "no vmnet_subnet_mask");
	CHECK(a->has_mac);
	CHECK(a->has_id);
	CHECK_EQ(a->mtu, 1500);
	CHECK_EQ(a->mps, 1514);
	CHECK_EQ(a->rmax, 256);
	CHECK_EQ(a->wmax, 256);
	echo = xpc_dictionary_get_uuid(p, vmnet_network_identifier_key);
	if (echo)
		CHECKF(!memcmp(echo, net, sizeof(uuid_t)), "the echoed vmnet_network_identifier is the one given");
	t_note("vmnet_network_identifier %s echoed in interface_param", echo ? "is" : "is not");
}

static int main_main(void)
{
	uuid_t n1, n2;
	char n1s[40], fdin[16], fdout[16], line[256], exe[4096];
	int p2c[2], c2p[2];
	char *argv[] = { exe, "peer", n1s, fdin, fdout, NULL };
	struct tif A, X, D;
	struct t_rx r = { 0 };
	uint8_t bmac[6], f[600];
	ssize_t l;
	pid_t pid;
	int rc, n;

	t_section("two processes on one vmnet_network_identifier_key");
	uuid_generate_random(n1);
	uuid_generate_random(n2);
	uuid_unparse_lower(n1, n1s);
	if (!t_start_netid(&A, "A", n1) || !t_start_netid(&X, "X-other-id", n2) || !t_start_host(&D, "D-default"))
		return t_done("api_multi");
	check_netid_param(&A, n1);
	CHECKF(xpc_dictionary_get_string(D.param, vmnet_start_address_key) != NULL,
	       "the default network (for contrast) has an address range");

	t_section("frames between the two processes");
	l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (l <= 0 || pipe(p2c) < 0 || pipe(c2p) < 0) {
		CHECK(false);
		return t_done("api_multi");
	}
	exe[l] = 0;
	snprintf(fdin, sizeof(fdin), "%d", p2c[0]);
	snprintf(fdout, sizeof(fdout), "%d", c2p[1]);
	pid = t_spawn(argv);
	CHECK(pid > 0);
	close(p2c[0]);
	close(c2p[1]);
	rfd = c2p[0];
	wfd = p2c[1];

	CHECKF(recv_line(line, sizeof(line), 15000), "the peer process started its interface");
	CHECKF(!strncmp(line, "READY ", 6) && t_parse_mac(line + 6, bmac), "peer reports READY with its MAC (%s)", line);
	if (strncmp(line, "READY ", 6)) {
		t_wait_child(pid, 5000);
		return t_done("api_multi");
	}
	CHECKF(memcmp(bmac, A.mac, 6) != 0, "the two processes have different MACs");
	/* B's announcement reaches A, not X or D. */
	n = t_collect(A.ref, &r, 1, 3000, BUF);
	CHECKF(n == 1 && count_tag(&r, 62) == 1 && !memcmp(r.data[0] + 6, bmac, 6),
	       "A (process 1) reads B's broadcast (process 2)");
	t_rx_free(&r);

	CHECK_ST(t_write_frames(A.ref, t_bcast, A.mac, 60, 0, 5, 200), VMNET_SUCCESS);
	CHECK_ST(t_write_frames(A.ref, bmac, A.mac, 61, 0, 3, 1514), VMNET_SUCCESS);
	send_line("SENT %s", A.mac_str);
	CHECKF(recv_line(line, sizeof(line), 10000) && !strcmp(line, "GOT 8 5 3"),
	       "B (process 2) read A's frames (peer says '%s')", line);
	CHECKF(recv_line(line, sizeof(line), 10000) && !strcmp(line, "SENT2"), "peer wrote its unicasts");
	n = t_collect(A.ref, &r, 4, 3000, BUF);
	n += t_collect(A.ref, &r, 0, 100, BUF);
	CHECKF(n == 4 && count_tag(&r, 63) == 4, "A read B's 4 unicasts intact (%d frames)", n);
	t_rx_free(&r);

	t_section("other networks see nothing");
	n = t_collect(X.ref, &r, 0, 300, BUF);
	CHECKF(n == 0, "an interface on another identifier saw nothing (%d frames)", n);
	t_rx_free(&r);
	n = t_collect(D.ref, &r, 0, 0, BUF);
	CHECKF(n == 0, "an interface on the default network saw nothing (%d frames)", n);
	t_rx_free(&r);
	/* And the other direction: X and D broadcast, A and B hear nothing. */
	CHECK_ST(t_write_frames(X.ref, t_bcast, X.mac, 64, 0, 2, 100), VMNET_SUCCESS);
	CHECK_ST(t_write_frames(D.ref, t_bcast, D.mac, 65, 0, 2, 100), VMNET_SUCCESS);
	CHECK_ST(t_write_frames(D.ref, bmac, D.mac, 65, 2, 1, 100), VMNET_SUCCESS);
	send_line("QUIET?");
	CHECKF(recv_line(line, sizeof(line), 10000) && !strcmp(line, "QUIET 0"),
	       "B heard nothing from X (other identifier) or D (default network) (peer says '%s')", line);
	n = t_collect(A.ref, &r, 0, 100, BUF);
	CHECKF(n == 0, "A heard nothing from X or D (%d frames)", n);
	t_rx_free(&r);

	send_line("STOP");
	CHECKF(recv_line(line, sizeof(line), 15000) && !strcmp(line, "STOPPED"), "peer stopped its interface");
	rc = t_wait_child(pid, 15000);
	CHECKF(rc == 0, "the peer process passed all its checks (exit status %d)", rc);

	t_section("no DHCP on an identifier network");
	t_drain(A.ref);
	CHECK_ST(t_write1(A.ref, f, build_dhcp_discover(f, A.mac)), VMNET_SUCCESS);
	n = t_collect(A.ref, &r, 0, 1000, BUF);
	{
		int offers = 0;

		for (int i = 0; i < r.n; i++)
			offers += is_dhcp_reply(r.data[i], r.len[i]);
		CHECKF(offers == 0, "nothing answers a DHCPDISCOVER (%d replies, %d frames)", offers, n);
	}
	t_rx_free(&r);

	CHECK_ST(t_stop(&A), VMNET_SUCCESS);
	CHECK_ST(t_stop(&X), VMNET_SUCCESS);
	CHECK_ST(t_stop(&D), VMNET_SUCCESS);
	return t_done("api_multi");
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "peer"))
		return peer_main(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc != 1) {
		fprintf(stderr, "usage: %s\n", argv[0]);
		return 2;
	}
	return main_main();
}
