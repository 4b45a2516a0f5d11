/* dhcp6.c — placeholder until IPv6 lands (see ip6.h). */
#include "engine/ip6.h"

int dhcp6_input(const struct ip6_config *cfg, const uint8_t *frame, size_t len, uint8_t *out, size_t cap)
{
	(void)cfg, (void)frame, (void)len, (void)out, (void)cap;
	return 0;
}
