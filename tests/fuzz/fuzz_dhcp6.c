/*
 * fuzz_dhcp6.c — libFuzzer target: arbitrary bytes as a guest frame into
 * dhcp6_input() (engine/dhcp6.c), under one of two gateway configurations
 * (DNS and a domain, or neither: bit 0 of the first byte).
 *
 * The rest of the first byte picks the mode (mod 3): 0, the rest is the
 * whole frame (every header is fuzzed); 1, the rest is a UDP payload (the
 * DHCPv6 message) wrapped in valid Ethernet/IPv6/UDP headers from the
 * guest's link-local address to ff02::1:2 port 547, checksum filled in;
 * 2, the second byte is the message type and the rest are the options,
 * after a fixed transaction ID, wrapped likewise. Modes 1 and 2 let the
 * fuzzer spend its time in the option walker (nested IAs) rather than in
 * the checksum. Either way the frame is an allocation of its exact size, so
 * ASan sees any read past it.
 *
 * Checked on every reply: 0 < length <= cap; an IPv6/UDP frame from the
 * gateway's MAC and link-local address, port 547 to 546, the IPv6 payload
 * length and UDP length matching the frame, a valid non-zero checksum, and
 * an Advertise or Reply carrying the request's transaction ID.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/csum.h"
#include "common/log.h"
#include "engine/ip6.h"

#define HDRS (14 + 40 + 8)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t gw_mac[6] = { 0x02, 0x76, 0x6d, 0xa8, 0x80, 0x01 };
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t guest_ll[16] = { 0xfe, 0x80, [8] = 0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56 };
static const uint8_t all_dhcp[16] = { 0xff, 0x02, [13] = 1, [15] = 2 };
static struct ip6_config cfgs[2];
static int ready;

static void configs(void)
{
	static const uint8_t seed[16] = "fuzz-dhcp6-seed1";

	log_level = LOG_LVL_ERR;
	for (unsigned i = 0; i < 2; i++) {
		struct ip6_config *c = &cfgs[i];

		memcpy(c->mac, gw_mac, 6);
		ip6_ula_prefix(seed, c->prefix);
		ip6_gateway_addrs(gw_mac, c->prefix, c->ll, c->global);
		c->router_adv = true;
		c->dns = i;
		strcpy(c->domain, i ? "vmnet.fuzz" : "");
	}
	ready = 1;
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

static void check_reply(const struct ip6_config *c, const uint8_t *out, int n, size_t cap, const uint8_t *req,
			size_t reqlen)
{
	size_t plen;

	if (n > (int)cap)
		abort();
	if (n <= 0)
		return;
	if (n < HDRS + 4 || get16(out + 12) != 0x86dd || out[14] >> 4 != 6 || out[20] != 17)
		abort();
	if (memcmp(out + 6, c->mac, 6) || memcmp(out + 22, c->ll, 16))
		abort();
	plen = get16(out + 18);
	if (plen != (size_t)n - 54 || get16(out + 58) != plen)
		abort();
	if (get16(out + 54) != 547 || get16(out + 56) != 546 || !get16(out + 60))
		abort();
	if (csum_fold(csum_partial(out + 54, plen, csum_ipv6_pseudo(out + 22, out + 38, 17, (uint32_t)plen))))
		abort();
	if (out[HDRS] != 2 && out[HDRS] != 7)
		abort();
	/* The request was accepted, so it holds a whole DHCPv6 header at HDRS. */
	if (reqlen < HDRS + 4 || memcmp(out + HDRS + 1, req + HDRS + 1, 3))
		abort();
}

/* Valid headers around a DHCPv6 message, checksum filled in. Return: the frame, malloc'ed. */
static uint8_t *wrap(const uint8_t *msg, size_t n, size_t *len)
{
	uint8_t *f;
	uint16_t sum;

	if (n > IP6_REPLY_MAX - HDRS)
		n = IP6_REPLY_MAX - HDRS;
	*len = HDRS + n;
	f = calloc(1, *len);
	if (!f)
		abort();
	memcpy(f, (const uint8_t[6]){ 0x33, 0x33, 0, 1, 0, 2 }, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x86dd);
	f[14] = 0x60;
	put16(f + 18, (uint16_t)(8 + n));
	f[20] = 17;
	f[21] = 1;
	memcpy(f + 22, guest_ll, 16);
	memcpy(f + 38, all_dhcp, 16);
	put16(f + 54, 546);
	put16(f + 56, 547);
	put16(f + 58, (uint16_t)(8 + n));
	memcpy(f + HDRS, msg, n);
	sum = csum_fold(csum_partial(f + 54, 8 + n, csum_ipv6_pseudo(f + 22, f + 38, 17, (uint32_t)(8 + n))));
	put16(f + 60, sum ? sum : 0xffff);
	return f;
}

/* Type, a fixed transaction ID, then the options. */
static uint8_t *wrap_options(const uint8_t *d, size_t n, size_t *len)
{
	uint8_t m[IP6_REPLY_MAX];

	if (n > sizeof(m) - 4)
		n = sizeof(m) - 4;
	m[0] = n ? d[0] % 16 : 11;
	m[1] = 0x12;
	m[2] = 0x34;
	m[3] = 0x56;
	if (n)
		memcpy(m + 4, d + 1, n - 1);
	return wrap(m, n ? n + 3 : 4, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[IP6_REPLY_MAX];
	const struct ip6_config *c;
	uint8_t *frame;
	size_t len;
	int n;

	if (!ready)
		configs();
	if (size == 0)
		return 0;
	c = &cfgs[data[0] & 1];
	switch ((data[0] >> 1) % 3) {
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
	n = dhcp6_input(c, frame, len, out, sizeof(out));
	check_reply(c, out, n, sizeof(out), frame, len);
	free(frame);
	return 0;
}
