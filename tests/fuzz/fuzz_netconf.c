/*
 * fuzz_netconf.c — libFuzzer target for the network-object parsers: the
 * input is tried as a named network's definition file (netconf_parse), and,
 * when it decodes as VXP1, as a CTL_NETWORK configuration (netconf_from_xpc)
 * and as a network serialization (netser_parse). Whatever is accepted must
 * survive a round trip: formatted or rebuilt, it parses back to the same
 * values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xpc/xpc.h>

#include "common/netconf.h"
#include "common/netser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct netconf a, b;
static char text[NETCONF_FILE_MAX + 1];

static void same_config(const struct netconf *x, const struct netconf *y, bool with_fwd)
{
	if (x->mode != y->mode || x->has_subnet != y->has_subnet || x->base.s_addr != y->base.s_addr ||
	    x->mask.s_addr != y->mask.s_addr || x->has_prefix != y->has_prefix || memcmp(x->prefix, y->prefix, 16) ||
	    x->mtu != y->mtu || x->dhcp != y->dhcp || x->dns != y->dns || x->nat44 != y->nat44 || x->nat66 != y->nat66 ||
	    x->router_adv != y->router_adv || strcmp(x->external_if, y->external_if) || x->nres != y->nres ||
	    memcmp(x->res, y->res, sizeof(x->res[0]) * x->nres))
		abort();
	if (with_fwd && (x->nfwd != y->nfwd || memcmp(x->fwd, y->fwd, sizeof(x->fwd[0]) * x->nfwd)))
		abort();
}

static void text_case(const uint8_t *data, size_t size)
{
	char err[160];
	uuid_t id, id2;

	if (size > NETCONF_FILE_MAX)
		return;
	memcpy(text, data, size);
	text[size] = 0;
	if (netconf_parse(text, &a, id, err, sizeof(err)) < 0)
		return;
	netconf_format(&a, id, text, sizeof(text));
	if (netconf_parse(text, &b, id2, err, sizeof(err)) < 0 || uuid_compare(id, id2))
		abort();
	same_config(&a, &b, false);
}

static void xpc_case(const uint8_t *data, size_t size)
{
	xpc_object_t d = xpc_vmnet_decode(data, size), again;
	const char *why = NULL;
	struct netser s, t;

	if (!d)
		return;
	if (netconf_from_xpc(d, &a, &why) == 0) {
		again = netconf_to_xpc(&a);
		if (netconf_from_xpc(again, &b, &why) < 0)
			abort();
		same_config(&a, &b, true);
		xpc_release(again);
	} else if (!why) {
		abort(); /* every refusal says why */
	}
	why = NULL;
	if (netser_parse(d, &s, &why) == 0) {
		again = netser_build(&s);
		if (netser_parse(again, &t, &why) < 0 || memcmp(&s, &t, sizeof(s)))
			abort();
		xpc_release(again);
	} else if (!why) {
		abort();
	}
	xpc_release(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	text_case(data, size);
	xpc_case(data, size);
	return 0;
}
