/*
 * network_internal.h — what lib/network.c (network objects) needs from
 * lib/interface.c: starting an interface that keeps a network object alive.
 */
#ifndef VMNET_LIB_NETWORK_INTERNAL_H
#define VMNET_LIB_NETWORK_INTERNAL_H

#include <vmnet/vmnet.h>

/*
 * vmnet_start_interface_f with a network object attached: on success the
 * interface owns the caller's reference `net` and calls net_release(net)
 * once it no longer uses the network (its start failed, or it was stopped).
 * block: a Block_copy behind ctx to release after the handler, or NULL.
 * Return: the interface, or NULL (handler not called; net stays the caller's).
 */
interface_ref iface_start_on_network(xpc_object_t desc, dispatch_queue_t queue,
				     vmnet_start_interface_completion_handler_f fn, void *ctx, void *block, void *net,
				     void (*net_release)(void *net));

#endif
