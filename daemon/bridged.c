/*
 * bridged.c — bridged-mode networks: guests on a host interface's LAN.
 *
 * There is one bridged network per host interface, named "bridged-IF", made
 * when its first guest starts and holding one uplink port (AF_PACKET,
 * engine/port_uplink.c) shared by every bridged guest on that interface. It
 * has no gateway: guests take their addresses from the LAN. Its MTU is the
 * interface's. The interface must be one vmnet_copy_shared_interface_list
 * names; opening it needs CAP_NET_RAW, so a per-user daemon without it
 * answers VMNET_NOT_AUTHORIZED with a sentence saying what is needed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <vmnet/vmnet.h>

#include "common/iflist.h"
#include "common/log.h"
#include "daemon/bridged.h"
#include "daemon/daemon.h"
#include "engine/port_uplink.h"

/* Is name one of the host's bridgeable interfaces? */
static bool bridgeable(const char *name)
{
	static char names[256][IFLIST_NAMESIZ];
	int n = iflist_bridgeable(names, 256);

	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static struct network *bridged_find(const char *ifname)
{
	char name[48];

	snprintf(name, sizeof(name), "bridged-%s", ifname);
	for (struct network *n = network_list; n; n = n->next)
		if (n->mode == VMNET_BRIDGED_MODE && !strcmp(n->name, name))
			return n;
	return NULL;
}

uint32_t bridged_pick_network(struct iface_req *req, struct network **out, const char **why)
{
	struct port_uplink *u;
	struct network *n;
	int r;

	if (!req->shared_if[0]) {
		*why = "bridged mode needs vmnet_shared_interface_name (one of vmnet_copy_shared_interface_list)";
		return VMNET_INVALID_ARGUMENT;
	}
	if ((n = bridged_find(req->shared_if))) {
		*out = n;
		return VMNET_SUCCESS;
	}
	if (!bridgeable(req->shared_if)) {
		*why = "vmnet_shared_interface_name is not a bridgeable interface of this host "
		       "(an Ethernet interface, not loopback, a bridge or a tap; see vmnet_copy_shared_interface_list)";
		return VMNET_INVALID_ARGUMENT;
	}
	r = port_uplink_new(req->shared_if, &u);
	if (r == -EPERM || r == -EACCES) {
		*why = "bridged mode needs CAP_NET_RAW: use the system vmnetd (root), or give vmnetd CAP_NET_RAW";
		return VMNET_NOT_AUTHORIZED;
	}
	if (r == -ENODEV || r == -ENAMETOOLONG) {
		*why = "no such host interface";
		return VMNET_INVALID_ARGUMENT;
	}
	if (r < 0) {
		log_warn("bridged: cannot open %s: %s", req->shared_if, strerror(-r));
		*why = "the host interface cannot be opened for bridging (see the daemon log)";
		return VMNET_FAILURE;
	}
	if (network_new(VMNET_BRIDGED_MODE, &n) < 0) {
		port_uplink_port(u)->ops->destroy(port_uplink_port(u));
		return VMNET_MEM_FAILURE;
	}
	snprintf(n->name, sizeof(n->name), "bridged-%s", req->shared_if);
	n->mtu = port_uplink_mtu(u);
	if (network_add_port(n, port_uplink_port(u)) < 0) {
		port_uplink_port(u)->ops->destroy(port_uplink_port(u));
		network_release_if_empty(n);
		return VMNET_MEM_FAILURE;
	}
	log_info("network %s created (uplink %s, MTU %u)", n->name, req->shared_if, n->mtu);
	*out = n;
	return VMNET_SUCCESS;
}
