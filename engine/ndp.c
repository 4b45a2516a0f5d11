/* ndp.c — placeholder until IPv6 lands (see ip6.h). */
#include "engine/ip6.h"

#include <errno.h>
#include <string.h>

void ip6_gateway_addrs(const uint8_t mac[6], const uint8_t prefix[16], uint8_t ll[16], uint8_t global[16])
{
	memset(ll, 0, 16);
	ll[0] = 0xfe, ll[1] = 0x80;
	ll[8] = mac[0] ^ 2, ll[9] = mac[1], ll[10] = mac[2], ll[11] = 0xff, ll[12] = 0xfe;
	ll[13] = mac[3], ll[14] = mac[4], ll[15] = mac[5];
	memcpy(global, prefix, 16);
	global[15] = 1;
}

void ip6_ula_prefix(const uint8_t seed[16], uint8_t prefix[16])
{
	memset(prefix, 0, 16);
	prefix[0] = 0xfd;
	memcpy(prefix + 1, seed, 5);
}

int ndp_input(const struct ip6_config *cfg, const uint8_t *frame, size_t len, uint8_t *out, size_t cap)
{
	(void)cfg, (void)frame, (void)len, (void)out, (void)cap;
	return 0;
}

int ndp_build_ra(const struct ip6_config *cfg, uint8_t *out, size_t cap)
{
	(void)cfg, (void)out, (void)cap;
	return -ENOBUFS;
}
