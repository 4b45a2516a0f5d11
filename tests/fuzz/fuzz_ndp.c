/*
 * fuzz_ndp.c — libFuzzer target: arbitrary bytes as a guest frame into
 * ndp_input() (engine/ndp.c), under one of four gateway configurations.
 *
 * The first input byte picks the configuration (bits 0-1: router
 * advertisements and DNS on or off, with a domain and MTU or without) and
 * the mode (bit 2 and up, mod 2): 0, the rest is the whole frame (every
 * header is fuzzed); 1, the second byte picks source and destination (the
 * guest's link-local address or ::, to a solicited-node group, all-nodes,
 * all-routers or one of the gateway's addresses) and hop limit (255 or 64),
 * and the rest is an ICMPv6 message wrapped in valid Ethernet/IPv6 headers
 * with its checksum filled in, so that the fuzzer spends its time in the
 * NDP messages and options rather than in getting a checksum right. Either
 * way the frame is an allocation of its exact size, so ASan sees any read
 * past it.
 *
 * Checked on every reply: 0 < length <= cap; an IPv6/ICMPv6 frame from the
 * gateway's MAC and one of its addresses, payload length matching the frame,
 * a valid checksum, and hop limit 255 for NDP messages. Every 64th input also
 * builds an unsolicited RA and checks it the same way.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/csum.h"
#include "common/log.h"
#include "engine/ip6.h"

#define HDRS (14 + 40)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t gw_mac[6] = { 0x02, 0x76, 0x6d, 0xa8, 0x80, 0x01 };
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t guest_ll[16] = { 0xfe, 0x80, [8] = 0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56 };
static struct ip6_config cfgs[4];
static unsigned count;

static void configs(void)
{
	static const uint8_t seed[16] = "fuzz-ndp-seed-01";

	log_level = LOG_LVL_ERR;
	for (unsigned i = 0; i < 4; i++) {
		struct ip6_config *c = &cfgs[i];

		memcpy(c->mac, gw_mac, 6);
		ip6_ula_prefix(seed, c->prefix);
		ip6_gateway_addrs(gw_mac, c->prefix, c->ll, c->global);
		c->router_adv = i & 1;
		c->dns = i & 2;
		c->router_lifetime = i & 1 ? 1800 : 0;
		c->mtu = i & 2 ? 1500 : 0;
		strcpy(c->domain, i & 2 ? "vmnet.fuzz" : "");
	}
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void check_reply(const struct ip6_config *c, const uint8_t *out, int n, size_t cap)
{
	size_t plen;
	uint8_t type;

	if (n > (int)cap)
		abort();
	if (n <= 0)
		return;
	if (n < HDRS + 4 || get16(out + 12) != 0x86dd || out[14] >> 4 != 6 || out[20] != 58)
		abort();
	if (memcmp(out + 6, c->mac, 6))
		abort();
	plen = get16(out + 18);
	if (plen != (size_t)n - HDRS)
		abort();
	if (memcmp(out + 22, c->ll, 16) && memcmp(out + 22, c->global, 16))
		abort();
	if (csum_fold(csum_partial(out + HDRS, plen, csum_ipv6_pseudo(out + 22, out + 38, 58, (uint32_t)plen))))
		abort();
	type = out[HDRS];
	if (type != 129 && type != 134 && type != 136)
		abort();
	if (type != 129 && out[21] != 255)
		abort();
}

/* Valid headers around an ICMPv6 message, checksum filled in. Return: the frame, malloc'ed. */
static uint8_t *wrap(const struct ip6_config *c, uint8_t sel, const uint8_t *m, size_t n, size_t *len)
{
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 }, all_routers[16] = { 0xff, 0x02, [15] = 2 };
	uint8_t snm[16] = { 0xff, 0x02, [11] = 1, 0xff };
	const uint8_t *dst;
	uint8_t *f;
	uint16_t sum;

	if (n > IP6_REPLY_MAX - HDRS)
		n = IP6_REPLY_MAX - HDRS;
	*len = HDRS + n;
	f = calloc(1, *len);
	if (!f)
		abort();
	switch ((sel >> 1) % 5) {
	case 0: memcpy(snm + 13, c->ll + 13, 3); dst = snm; break;
	case 1: memcpy(snm + 13, c->global + 13, 3); dst = snm; break;
	case 2: dst = all_nodes; break;
	case 3: dst = all_routers; break;
	default: dst = sel & 0x80 ? c->global : c->ll; break;
	}
	memcpy(f, dst[0] == 0xff ? (const uint8_t[6]){ 0x33, 0x33, dst[12], dst[13], dst[14], dst[15] } : gw_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x86;
	f[13] = 0xdd;
	f[14] = 0x60;
	f[18] = (uint8_t)(n >> 8);
	f[19] = (uint8_t)n;
	f[20] = 58;
	f[21] = sel & 0x40 ? 64 : 255;
	if (sel & 1)
		memcpy(f + 22, guest_ll, 16); /* else :: */
	memcpy(f + 38, dst, 16);
	memcpy(f + HDRS, m, n);
	if (n >= 4) {
		f[HDRS + 2] = f[HDRS + 3] = 0;
		sum = csum_fold(csum_partial(f + HDRS, n, csum_ipv6_pseudo(f + 22, f + 38, 58, (uint32_t)n)));
		f[HDRS + 2] = (uint8_t)(sum >> 8);
		f[HDRS + 3] = (uint8_t)sum;
	}
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[IP6_REPLY_MAX];
	const struct ip6_config *c;
	uint8_t *frame;
	size_t len;
	int n;

	if (!count++)
		configs();
	if (size < 2)
		return 0;
	c = &cfgs[data[0] & 3];
	if ((data[0] >> 2) % 2 == 0) {
		len = size - 1;
		frame = malloc(len);
		if (!frame)
			abort();
		memcpy(frame, data + 1, len);
	} else {
		frame = wrap(c, data[1], data + 2, size - 2, &len);
	}
	n = ndp_input(c, frame, len, out, sizeof(out));
	free(frame);
	check_reply(c, out, n, sizeof(out));
	if (count % 64 == 0) {
		n = ndp_build_ra(c, out, sizeof(out));
		if (n <= 0)
			abort();
		check_reply(c, out, n, sizeof(out));
	}
	return 0;
}
