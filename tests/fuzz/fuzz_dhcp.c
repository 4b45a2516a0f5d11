/*
 * fuzz_dhcp.c — libFuzzer target: arbitrary bytes as a guest frame into
 * dhcp_input() (engine/dhcp.c) of one memory-only server that lives across
 * inputs, so leases, offers and declines pile up as they would under attack.
 *
 * The first input byte picks the mode (mod 3): 0, the rest is the whole frame
 * (every header is fuzzed); 1, the rest is a UDP payload to port 67 wrapped
 * in valid Ethernet/IPv4/UDP headers; 2, the rest is a client's hardware
 * address (6 bytes, from a small set so that clients meet again) and the
 * options, after a valid BOOTREQUEST header and magic cookie. Modes 1 and 2
 * let the fuzzer spend its time in BOOTP, the options and the lease logic
 * rather than in getting lengths right. Either way the frame is an allocation
 * of its exact size, so ASan sees any read past it.
 *
 * Checked on every reply: 0 < length <= outcap, and it parses as an IPv4/UDP
 * datagram from port 67 to 68 with consistent lengths and a valid IPv4 header
 * checksum.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/csum.h"
#include "common/log.h"
#include "engine/dhcp.h"

#define FRAME_MAX 1514
#define HDRS (14 + 20 + 8)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dhcp_server *srv;
static uint64_t now = 1000;

static struct dhcp_server *server(void)
{
	static const uint8_t mac[6] = { 0x02, 0x76, 0x6d, 0xa8, 0x40, 0x01 };
	static const uint8_t reserved[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };
	struct dhcp_config c;

	memset(&c, 0, sizeof(c));
	memcpy(c.server_mac, mac, sizeof(mac));
	c.server.s_addr = htonl(0xc0a84001); /* 192.168.64.1/24, pool .2-.254 */
	c.mask.s_addr = htonl(0xffffff00);
	c.pool_start.s_addr = htonl(0xc0a84002);
	c.pool_end.s_addr = htonl(0xc0a840fe);
	c.dns = c.server;
	c.mtu = 1500;
	strcpy(c.domain, "vmnet.fuzz");
	c.rate_limit = 1000000; /* the limiter must not hide the parser from the fuzzer */
	log_level = LOG_LVL_ERR;
	if (dhcp_server_new(&c, &srv) < 0 || dhcp_reserve(srv, reserved, (struct in_addr){ htonl(0xc0a84064) }) < 0)
		abort();
	return srv;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Valid headers around payload: broadcast from a client, to port 67. Return: the frame, malloc'ed. */
static uint8_t *wrap(const uint8_t *payload, size_t n, size_t *len)
{
	uint8_t *f;

	if (n > FRAME_MAX - HDRS)
		n = FRAME_MAX - HDRS;
	*len = HDRS + n;
	f = calloc(1, *len);
	if (!f)
		abort();
	memset(f, 0xff, 6);
	f[6] = 0x52;
	f[7] = 0x54;
	put16(f + 12, 0x0800);
	f[14] = 0x45;
	put16(f + 16, (uint16_t)(20 + 8 + n));
	f[22] = 64;
	f[23] = 17;
	memset(f + 30, 0xff, 4);
	put16(f + 34, 68);
	put16(f + 36, 67);
	put16(f + 38, (uint16_t)(8 + n));
	memcpy(f + HDRS, payload, n);
	return f;
}

/* A BOOTREQUEST header + cookie, chaddr from the first 6 bytes, the rest as options; then wrapped. */
static uint8_t *wrap_options(const uint8_t *d, size_t n, size_t *len)
{
	uint8_t p[FRAME_MAX - HDRS];
	size_t k = n < 6 ? n : 6, o = n - k;

	if (o > sizeof(p) - 240)
		o = sizeof(p) - 240;
	memset(p, 0, 240);
	p[0] = DHCP_OP_BOOTREQUEST;
	p[1] = DHCP_HTYPE_ETHER;
	p[2] = DHCP_HLEN_ETHER;
	p[7] = 1; /* xid */
	memcpy(p + 28, d, k);
	p[28] &= 0xfe;
	p[33] &= 0x0f; /* 16 MACs per prefix: clients come back */
	p[236] = 0x63;
	p[237] = 0x82;
	p[238] = 0x53;
	p[239] = 0x63;
	memcpy(p + 240, d + k, o);
	return wrap(p, 240 + o, len);
}

static void check_reply(const uint8_t *out, int n)
{
	if (n > FRAME_MAX)
		abort();
	if (n <= 0)
		return;
	if (n < HDRS + 240 || get16(out + 12) != 0x0800 || out[14] != 0x45 || out[23] != 17)
		abort();
	if (get16(out + 16) != n - 14 || get16(out + 38) != n - 34)
		abort();
	if (get16(out + 34) != 67 || get16(out + 36) != 68)
		abort();
	if (csum_fold(csum_partial(out + 14, 20, 0)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[FRAME_MAX];
	uint8_t *frame;
	size_t len;
	int n;

	if (!srv)
		server();
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		len = size - 1;
		frame = malloc(len ? len : 1);
		if (!frame)
			abort();
		memcpy(frame, data + 1, len);
		break;
	case 1:
		frame = wrap(data + 1, size - 1, &len);
		break;
	default:
		frame = wrap_options(data + 1, size - 1, &len);
		break;
	}
	n = dhcp_input(srv, frame, len, out, sizeof(out), now++);
	free(frame);
	check_reply(out, n);
	return 0;
}
