/*
 * tapdev.h — creating and configuring tap devices: guests' taps for
 * `vmnet attach` / `vmnet run`, and vmnetd's host taps.
 */
#ifndef VMNET_COMMON_TAPDEV_H
#define VMNET_COMMON_TAPDEV_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* Open (creating it if needed) tap device `name` in the current network namespace;
 * vnet_hdr: every frame read or written carries a virtio-net header (IFF_VNET_HDR), which
 * lets vmnetd take offloaded frames (engine/port_tap.c). Return: the fd, or -errno. */
int tap_open(const char *name, bool vnet_hdr);

/* Bring `name` up, optionally with an IPv4 address (addr/prefix; prefix 0 = none), and lo up.
 * Return: 0 or -errno. */
int tap_configure(const char *name, const struct in_addr *addr, int prefix);

/* Set the MAC address of `name` (it must be down). Return: 0 or -errno. */
int tap_set_mac(const char *name, const uint8_t mac[6]);
/* Add an IPv6 address (no DAD: the address is ours by construction). Return: 0 or -errno. */
int tap_add_addr6(const char *name, const uint8_t addr[16], int prefix);
/* Write /proc/sys/net/ipv6/conf/NAME/KEY. Return: 0 or -errno. */
int tap_sysctl6(const char *name, const char *key, const char *value);

/* Run fn(arg) inside the network namespace at path (e.g. /run/netns/NAME), then come back.
 * Return: fn's result, or -errno when the namespace cannot be entered. */
int tap_in_netns(const char *path, int (*fn)(void *), void *arg);

/* Parse "A.B.C.D/N". Return: 0 or -EINVAL. */
int tap_parse_cidr(const char *s, struct in_addr *addr, int *prefix);

#endif
