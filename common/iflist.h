/*
 * iflist.h — host network interfaces that bridged mode can use.
 */
#ifndef VMNET_COMMON_IFLIST_H
#define VMNET_COMMON_IFLIST_H

#define IFLIST_NAMESIZ 16 /* IFNAMSIZ */

/*
 * List the bridgeable interfaces: Ethernet-like (sysfs type 1, ARPHRD_ETHER;
 * wireless included), up or down, excluding loopback, bridges and tun/tap
 * devices (ours among them). Names are sorted.
 * Return: the number of names stored (at most max), or -errno when
 * /sys/class/net cannot be read.
 */
int iflist_bridgeable(char names[][IFLIST_NAMESIZ], int max);

#endif
