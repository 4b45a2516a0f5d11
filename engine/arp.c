/*
 * arp.c — ARP for the gateway address (RFC 826): answer "who has <gateway>".
 * Requests for other addresses are the guests' business (they are flooded to
 * them by the switch); gratuitous ARP and replies are ignored here.
 */
#include <arpa/inet.h>
#include <string.h>

#include "common/cursor.h"
#include "engine/gateway.h"
#include "engine/wire.h"

void arp_input(struct gateway *gw, const uint8_t *frame, size_t len)
{
	struct cursor c = cur_init(frame, len);
	const struct eth_hdr *eth = cur_pull(&c, sizeof(*eth));
	const struct arp_pkt *req = cur_pull(&c, sizeof(*req));
	struct in_addr me = gateway_addr(gw);
	uint8_t out[ETH_HLEN + sizeof(struct arp_pkt) + 18]; /* padded to the 60-byte minimum */
	struct eth_hdr *oe = (struct eth_hdr *)(void *)out;
	struct arp_pkt *rep = (struct arp_pkt *)(void *)(out + ETH_HLEN);

	if (!eth || !req || req->htype != htons(ARP_HTYPE_ETHER) || req->ptype != htons(ETHERTYPE_IPV4) ||
	    req->hlen != ETH_ALEN || req->plen != 4 || req->op != htons(ARP_OP_REQUEST))
		return;
	if (memcmp(req->tpa, &me.s_addr, 4) || !memcmp(req->spa, &me.s_addr, 4))
		return; /* not for us, or someone probing/claiming our address */
	memset(out, 0, sizeof(out));
	memcpy(oe->dst, req->sha, ETH_ALEN);
	memcpy(oe->src, gateway_hwaddr(gw), ETH_ALEN);
	oe->type = htons(ETHERTYPE_ARP);
	rep->htype = htons(ARP_HTYPE_ETHER);
	rep->ptype = htons(ETHERTYPE_IPV4);
	rep->hlen = ETH_ALEN;
	rep->plen = 4;
	rep->op = htons(ARP_OP_REPLY);
	memcpy(rep->sha, gateway_hwaddr(gw), ETH_ALEN);
	memcpy(rep->spa, &me.s_addr, 4);
	memcpy(rep->tha, req->sha, ETH_ALEN);
	memcpy(rep->tpa, req->spa, 4);
	gateway_send(gw, out, sizeof(out));
}
