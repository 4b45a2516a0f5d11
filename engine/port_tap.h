/*
 * port_tap.h — a Linux tap device as a switch port (real kernel stacks as guests).
 */
#ifndef VMNET_ENGINE_PORT_TAP_H
#define VMNET_ENGINE_PORT_TAP_H

#include "engine/port.h"

struct port_tap;

/* Wrap an open tap fd (IFF_TAP | IFF_NO_PI); the port owns the fd from now on, also on failure.
 * Return: 0 and *out (not yet in a network), or -errno. */
int port_tap_new(int fd, const char *name, struct port_tap **out);
struct port *port_tap_port(struct port_tap *pt);
/* Start watching the device. Return: 0 or -errno. */
int port_tap_watch(struct port_tap *pt);
/* The device is readable (or failed: events carries EPOLLERR/EPOLLHUP). */
void port_tap_input(struct port_tap *pt, uint32_t events);

#endif
