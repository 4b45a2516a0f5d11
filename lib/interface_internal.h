/*
 * interface_internal.h — what other parts of libvmnet need to know about an
 * interface (lib/interface.c) besides the public API: today the port
 * forwarding calls (lib/forward.c), which address the interface's network in
 * vmnetd on a control connection of their own.
 */
#ifndef VMNET_LIB_INTERFACE_INTERNAL_H
#define VMNET_LIB_INTERFACE_INTERNAL_H

#include <stdint.h>
#include <vmnet/vmnet.h>

/*
 * The daemon's id of a running interface's port and the interface's queue
 * (the one given to vmnet_start_interface; *queue is retained, the caller
 * releases it). Return: VMNET_SUCCESS; VMNET_SETUP_INCOMPLETE before the
 * start finished; VMNET_INVALID_ARGUMENT for NULL, a failed start or a stopped
 * interface; VMNET_FAILURE once the daemon is gone — the statuses of
 * vmnet_read.
 */
vmnet_return_t iface_control_target(interface_ref interface, uint64_t *port_id, dispatch_queue_t *queue);

#endif
