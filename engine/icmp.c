/*
 * icmp.c — ICMP echo for the gateway address (RFC 792): `ping <gateway>` works
 * from every guest. The reply echoes identifier, sequence and data.
 */
#include <arpa/inet.h>
#include <string.h>

#include "common/csum.h"
#include "common/cursor.h"
#include "engine/gateway.h"
#include "engine/wire.h"

#define ICMP_REPLY_MAX 1514

void icmp_input(struct gateway *gw, const uint8_t *frame, size_t len)
{
	struct cursor c = cur_init(frame, len);
	const struct eth_hdr *eth = cur_pull(&c, sizeof(*eth));
	const struct ipv4_hdr *ip = cur_pull(&c, sizeof(*ip));
	uint8_t out[ICMP_REPLY_MAX];
	struct eth_hdr *oe = (struct eth_hdr *)(void *)out;
	struct ipv4_hdr *oip = (struct ipv4_hdr *)(void *)(out + ETH_HLEN);
	const struct icmp_hdr *ic;
	struct icmp_hdr *oic;
	size_t ihl, tot, ilen;

	if (!eth || !ip)
		return;
	ihl = (size_t)(ip->ver_ihl & 0x0f) * 4;
	tot = ntohs(ip->tot_len);
	/* Whole datagrams only: no options beyond the header length, no fragments. */
	if (ihl < sizeof(*ip) || tot < ihl + sizeof(*ic) || tot > len - ETH_HLEN ||
	    (ntohs(ip->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK)) || !cur_pull(&c, ihl - sizeof(*ip)))
		return;
	ilen = tot - ihl;
	ic = cur_pull(&c, sizeof(*ic));
	if (!ic || ic->type != ICMP_ECHO_REQUEST || ic->code != 0 || !cur_pull(&c, ilen - sizeof(*ic)))
		return;
	if (csum_fold(csum_partial(ic, ilen, 0)) != 0)
		return; /* corrupt request */
	memcpy(oe->dst, eth->src, ETH_ALEN);
	memcpy(oe->src, gateway_hwaddr(gw), ETH_ALEN);
	oe->type = htons(ETHERTYPE_IPV4);
	memset(oip, 0, sizeof(*oip));
	oip->ver_ihl = 0x45;
	oip->tot_len = htons((uint16_t)(sizeof(*oip) + ilen));
	oip->id = ip->id;
	oip->ttl = 64;
	oip->proto = IPPROTO_ICMP_;
	oip->saddr = ip->daddr;
	oip->daddr = ip->saddr;
	oip->check = htons(csum_fold(csum_partial(oip, sizeof(*oip), 0)));
	oic = (struct icmp_hdr *)(void *)(out + ETH_HLEN + sizeof(*oip));
	memcpy(oic, ic, ilen); /* ilen <= len - 34 <= 1480: fits */
	oic->type = ICMP_ECHO_REPLY;
	oic->check = 0;
	oic->check = htons(csum_fold(csum_partial(oic, ilen, 0)));
	gateway_send(gw, out, ETH_HLEN + sizeof(*oip) + ilen);
}
