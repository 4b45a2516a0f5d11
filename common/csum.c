/* csum.c — RFC 1071 Internet checksum. */
#include "common/csum.h"

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *b = data;

	while (len > 1) {
		sum += (uint32_t)(b[0] << 8 | b[1]);
		b += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)(b[0] << 8);
	return sum;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t csum_ipv4_pseudo(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len)
{
	const uint8_t *s = (const uint8_t *)&saddr, *d = (const uint8_t *)&daddr;
	uint32_t sum = 0;

	sum += (uint32_t)(s[0] << 8 | s[1]) + (uint32_t)(s[2] << 8 | s[3]);
	sum += (uint32_t)(d[0] << 8 | d[1]) + (uint32_t)(d[2] << 8 | d[3]);
	sum += proto;
	sum += len;
	return sum;
}

uint32_t csum_ipv6_pseudo(const uint8_t saddr[16], const uint8_t daddr[16], uint8_t next, uint32_t len)
{
	uint32_t sum = csum_partial(saddr, 16, 0);

	sum = csum_partial(daddr, 16, sum);
	sum += len >> 16;
	sum += len & 0xffff;
	sum += next;
	return sum;
}
