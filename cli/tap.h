/*
 * tap.h — creating and configuring tap devices for `vmnet attach` / `vmnet run`.
 */
#ifndef VMNET_CLI_TAP_H
#define VMNET_CLI_TAP_H

#include <netinet/in.h>
#include <stdbool.h>

/* Open (creating it if needed) tap device `name` in the current network namespace.
 * Return: the fd, or -errno. */
int tap_open(const char *name);

/* Bring `name` up, optionally with an IPv4 address (addr/prefix; prefix 0 = none), and lo up.
 * Return: 0 or -errno. */
int tap_configure(const char *name, const struct in_addr *addr, int prefix);

/* Run fn(arg) inside the network namespace at path (e.g. /run/netns/NAME), then come back.
 * Return: fn's result, or -errno when the namespace cannot be entered. */
int tap_in_netns(const char *path, int (*fn)(void *), void *arg);

/* Parse "A.B.C.D/N". Return: 0 or -EINVAL. */
int tap_parse_cidr(const char *s, struct in_addr *addr, int *prefix);

#endif
