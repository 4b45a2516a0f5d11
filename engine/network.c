/*
 * network.c — the daemon's networks: lookup by key, ports joining and leaving.
 */
#include "engine/network.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "engine/switch.h"

struct network *network_list;
uint64_t engine_now_sec;
static uint32_t next_port_id = 1;

struct network *network_find_uuid(uint32_t mode, const uuid_t id)
{
	for (struct network *n = network_list; n; n = n->next)
		if (n->mode == mode && n->has_uuid && !uuid_compare(n->uuid, id))
			return n;
	return NULL;
}

struct network *network_find_subnet(uint32_t mode, struct in_addr start, struct in_addr mask)
{
	for (struct network *n = network_list; n; n = n->next)
		if (n->mode == mode && !n->has_uuid && !n->exclusive && n->has_subnet && n->mask.s_addr == mask.s_addr &&
		    (n->start.s_addr & mask.s_addr) == (start.s_addr & mask.s_addr))
			return n;
	return NULL;
}

struct network *network_find_overlap(struct in_addr start, struct in_addr mask, const struct network *except)
{
	for (struct network *n = network_list; n; n = n->next) {
		uint32_t m;

		if (n == except || !n->has_subnet)
			continue;
		/* Two prefixes overlap when they agree under the shorter mask. */
		m = ntohl(n->mask.s_addr) < ntohl(mask.s_addr) ? n->mask.s_addr : mask.s_addr;
		if ((n->start.s_addr & m) == (start.s_addr & m))
			return n;
	}
	return NULL;
}

int network_new(uint32_t mode, struct network **out)
{
	struct network *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->fdb = fdb_new();
	if (!n->fdb) {
		free(n);
		return -ENOMEM;
	}
	n->mode = mode;
	n->mtu = 1500;
	n->next = network_list;
	network_list = n;
	*out = n;
	return 0;
}

static void network_free(struct network *net)
{
	struct network **pp;

	for (pp = &network_list; *pp; pp = &(*pp)->next)
		if (*pp == net) {
			*pp = net->next;
			break;
		}
	log_info("network %s removed", net->name);
	fdb_free(net->fdb);
	free(net);
}

int network_add_port(struct network *net, struct port *p)
{
	struct port **pp;

	if (net->nports >= NETWORK_MAX_PORTS)
		return -ENOSPC;
	p->net = net;
	p->id = next_port_id++;
	if (!next_port_id)
		next_port_id = 1;
	/* Append: flooding visits ports in attach order. */
	for (pp = &net->ports; *pp; pp = &(*pp)->next)
		;
	p->next = NULL;
	*pp = p;
	net->nports++;
	return 0;
}

/* Take p out of its network (list, flush list, fdb) and destroy it. */
static void port_detach(struct port *p)
{
	struct network *net = p->net;
	struct port **pp;

	p->removed = true;
	if (net) {
		for (pp = &net->ports; *pp; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				net->nports--;
				break;
			}
		/* Never leave the port on a pending flush list. */
		for (pp = &net->flush_list; *pp; pp = &(*pp)->flush_next)
			if (*pp == p) {
				*pp = p->flush_next;
				break;
			}
		fdb_forget_port(net->fdb, p);
	}
	p->ops->destroy(p);
}

void network_remove_port(struct port *p)
{
	struct network *net = p->net;

	if (p->removed)
		return;
	port_detach(p);
	if (!net)
		return;
	for (struct port *q = net->ports; q; q = q->next)
		if (!q->host_side)
			return;
	if (net->pins)
		return; /* held by a network object or a named network */
	/* Only host-side ports (the gateway) remain: the network goes. */
	while (net->ports)
		port_detach(net->ports);
	network_free(net);
}

void network_release_if_empty(struct network *net)
{
	if (net && !net->ports && !net->pins)
		network_free(net);
}

void network_pin(struct network *net)
{
	net->pins++;
}

void network_unpin(struct network *net)
{
	if (!net || !net->pins)
		return;
	if (--net->pins)
		return;
	for (struct port *q = net->ports; q; q = q->next)
		if (!q->host_side)
			return;
	while (net->ports)
		port_detach(net->ports);
	network_free(net);
}

struct port *network_port_by_id(uint32_t id)
{
	for (struct network *n = network_list; n; n = n->next)
		for (struct port *p = n->ports; p; p = p->next)
			if (p->id == id)
				return p;
	return NULL;
}

struct port *network_port_by_name(const char *name)
{
	for (struct network *n = network_list; n; n = n->next)
		for (struct port *p = n->ports; p; p = p->next)
			if (!strcmp(p->name, name))
				return p;
	return NULL;
}

bool network_mac_in_use(const uint8_t mac[6], const struct port *except)
{
	for (struct network *n = network_list; n; n = n->next)
		for (struct port *p = n->ports; p; p = p->next)
			if (p != except && p->has_mac && !memcmp(p->mac, mac, 6))
				return true;
	return false;
}

unsigned network_count_ports(void)
{
	unsigned c = 0;

	for (struct network *n = network_list; n; n = n->next)
		for (struct port *p = n->ports; p; p = p->next)
			c += !p->host_side;
	return c;
}

static struct port *broken_list;

void port_mark_broken(struct port *p)
{
	if (p->broken)
		return;
	p->broken = true;
	p->broken_next = broken_list;
	broken_list = p;
}

struct port *port_take_broken(void)
{
	struct port *l = broken_list;

	broken_list = NULL;
	return l;
}
