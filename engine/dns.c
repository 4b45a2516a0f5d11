/* dns.c — placeholder until the proxy lands (see dns.h). */
#include "engine/dns.h"

#include <errno.h>
#include <stdlib.h>

struct dns_proxy {
	int unused;
};

int dns_proxy_new(const struct dns_config *cfg, struct dns_proxy **out)
{
	(void)cfg;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void dns_proxy_free(struct dns_proxy *p)
{
	free(p);
}

void dns_input(struct dns_proxy *p, const uint8_t *frame, size_t len, uint64_t now)
{
	(void)p, (void)frame, (void)len, (void)now;
}

int dns_upstreams_parse(const char *list, struct sockaddr_storage *out, unsigned max)
{
	(void)list, (void)out, (void)max;
	return 1;
}

void dns_tick(struct dns_proxy *p, uint64_t now)
{
	(void)p, (void)now;
}
