/*
 * settings.h — per-network settings of the gateway services (lease time,
 * reservations, which services run, port forwards), kept in the state
 * directory, one file per subnet: <state>/network-A.B.C.D-N.conf. Read when
 * a network on that subnet is created; changed with `vmnet config`
 * (CTL_CONFIG) and, for the port forwards of shared networks, `vmnet
 * forward` (CTL_FORWARD).
 */
#ifndef VMNET_DAEMON_SETTINGS_H
#define VMNET_DAEMON_SETTINGS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/gateway.h"

/* Longest lease time accepted (a year) and shortest (a minute). */
#define SETTINGS_LEASE_MIN 60u
#define SETTINGS_LEASE_MAX (366u * 86400u)

/* The settings file of subnet base/mask. */
void settings_path(struct in_addr base, struct in_addr mask, char *buf, size_t len);
/*
 * Parse the text of a settings file into cfg (which holds the defaults on
 * entry); base/mask: the subnet, for checking reservations.
 * Return: 0, or -EINVAL with a message naming the first bad line in err.
 */
int settings_parse(const char *text, struct in_addr base, struct in_addr mask, struct gateway_config *cfg,
		   char *err, size_t errlen);
/* Format cfg as the text of a settings file. Return: its length (truncated at len - 1). */
size_t settings_format(const struct gateway_config *cfg, char *buf, size_t len);
/* Defaults, then the file at path if it exists. Return: 0, or -errno/-EINVAL (logged; defaults kept). */
int settings_load(const char *path, struct in_addr base, struct in_addr mask, struct gateway_config *cfg);
/* Write cfg to path atomically. Return: 0 or -errno. */
int settings_save(const char *path, const struct gateway_config *cfg);
/* Add or move a reservation; drop one. Return: 0, -EINVAL (bad address/MAC, address taken by another MAC), -ENOSPC. */
int settings_reserve(struct gateway_config *cfg, struct in_addr base, struct in_addr mask, const uint8_t mac[6],
		     struct in_addr ip);
int settings_unreserve(struct gateway_config *cfg, const uint8_t mac[6]);
/*
 * A port forward as the settings file writes it: "PROTO,FAMILY,HOSTPORT,GUEST,PORT"
 * (tcp|udp, 4|6, ports 1-65535, the guest's address); with full false only
 * "PROTO,FAMILY,HOSTPORT" (unforward=). Syntax only: gateway_forward_invalid()
 * checks the address against the network. Return: 0 and *f, or -EINVAL.
 */
int settings_forward_parse(const char *v, struct nat_forward *f, bool full);
/* Format f in that form. Return: the length (as snprintf). */
size_t settings_forward_format(const struct nat_forward *f, char *buf, size_t len);

#endif
