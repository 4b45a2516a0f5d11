/*
 * port_dgram.h — one frame per datagram on a UNIX datagram socket: QEMU
 * `-netdev dgram` (unix local + remote paths) and vfkit/krunkit's unixgram.
 */
#ifndef VMNET_ENGINE_PORT_DGRAM_H
#define VMNET_ENGINE_PORT_DGRAM_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/port.h"
#include "engine/sockfile.h"

/* Datagrams per recvmmsg/sendmmsg call. */
#define DGRAM_BATCH 64
/* Largest datagram read (bigger ones are truncated by the kernel, then dropped). */
#define DGRAM_MAX_FRAME 65550u
/* Frames queued for a peer whose socket is full. */
#define DGRAM_TXQ 256
/* The hello vfkit and krunkit send before any frame (4 bytes, not a frame). */
#define DGRAM_VFKIT_MAGIC "VFKT"

/*
 * A bound datagram socket as a port taking frames up to max_frame bytes. The
 * peer is learned from the source address of the datagrams it sends; frames
 * for it leave from a second socket connected to it, where the peer allows
 * that (see port_dgram.c). Takes fd and *sf (the file is removed with the
 * port), also on failure. Return: 0 and *out (not yet in a network), or
 * -errno.
 */
int port_dgram_new(int fd, struct sockfile *sf, const char *name, uint32_t max_frame, struct port **out);
/* Start serving it once it is in its network. Return: 0 or -errno. */
int port_dgram_start(struct port *p);
bool port_is_dgram(const struct port *p);

#endif
