/*
 * port_vhost.h — vhost-user-net backend: QEMU's (or cloud-hypervisor's)
 * virtio-net queues in the guest's shared memory, served by vmnetd.
 */
#ifndef VMNET_ENGINE_PORT_VHOST_H
#define VMNET_ENGINE_PORT_VHOST_H

#include <stdbool.h>

#include "engine/port.h"
#include "engine/sockfile.h"

/* Front-ends one listening attachment serves at once. */
#define VHOST_MAX_CONNS 16

/*
 * A listening vhost-user socket as an attachment (takes no frames itself);
 * each front-end that connects becomes a port NAME.N of its network. Takes
 * fd and *sf, also on failure. Return: 0 and *out (not yet in a network), or -errno.
 */
int port_vhost_listen_new(int fd, struct sockfile *sf, const char *name, struct port **out);
/* Start accepting once the attachment is in its network. Return: 0 or -errno. */
int port_vhost_start(struct port *p);
bool port_is_vhost(const struct port *p);

#endif
