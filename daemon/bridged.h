/*
 * bridged.h — bridged-mode networks (bridged.c).
 */
#ifndef VMNET_DAEMON_BRIDGED_H
#define VMNET_DAEMON_BRIDGED_H

#include <stdint.h>

#include "daemon/daemon.h"

/*
 * Find or make the bridged network of req->shared_if (with its uplink).
 * Return: VMNET_SUCCESS and *out; VMNET_INVALID_ARGUMENT (no or unknown
 * interface), VMNET_NOT_AUTHORIZED (no CAP_NET_RAW), VMNET_FAILURE or
 * VMNET_MEM_FAILURE, with *why.
 */
uint32_t bridged_pick_network(struct iface_req *req, struct network **out, const char **why);

#endif
