/*
 * port_stream.h — QEMU `-netdev stream` sockets as switch ports: a listening
 * UNIX socket per attachment, one port per accepted connection (or per
 * connected socket handed over, as `vmnet run --fd` does).
 */
#ifndef VMNET_ENGINE_PORT_STREAM_H
#define VMNET_ENGINE_PORT_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/port.h"
#include "engine/sockfile.h"

/* Wire format: a 4-byte big-endian length, then that many bytes of Ethernet frame (no FCS). */
#define STREAM_HDR 4
/* The largest length accepted on the wire (a 64 KiB TSO frame plus virtio-net header room). */
#define STREAM_MAX_FRAME 65550u
/* Per connection: bytes received but not yet a whole frame, and bytes queued for the peer. */
#define STREAM_RX_CAP (512u * 1024)
#define STREAM_TX_CAP (256u * 1024)
/* Connections one listening attachment takes at once. */
#define STREAM_MAX_CONNS 64

/* ---- the framing parser (no I/O: unit tests and the fuzzer drive it directly) ---- */
struct stream_rx {
	uint8_t *buf;
	uint32_t cap, fill; /* buf[start..fill) holds bytes received and not yet handed over */
	uint32_t start;     /* 0 unless keep: where the rest begins until stream_rx_compact() */
	uint32_t bad_len;   /* the length that made stream_rx_parse fail */
	bool keep;          /* leave the frames handed over in place until stream_rx_compact() */
};
typedef void (*stream_frame_fn)(void *ctx, const uint8_t *frame, uint32_t len);
/*
 * Hand every complete frame in rx->buf to fn, in order, and move the
 * incomplete rest to the start of the buffer (with rx->keep: leave
 * everything in place and only note where the rest begins; the frames'
 * bytes stay valid until stream_rx_compact()). Lengths from 1 to
 * STREAM_MAX_FRAME are frames (fn judges their size); 0 or more is a corrupt
 * stream. Return: frames handed over, or -EPROTO (rx->bad_len set; the
 * frames before the bad header were handed over).
 */
int stream_rx_parse(struct stream_rx *rx, stream_frame_fn fn, void *ctx);
/* Move the rest left by a parse with rx->keep to the start of the buffer. */
void stream_rx_compact(struct stream_rx *rx);

/* ---- ports ---- */
/*
 * A connected stream socket as a port taking frames up to max_frame bytes.
 * The port owns fd from now on, also on failure.
 * Return: 0 and *out (not yet in a network), or -errno.
 */
int port_stream_new(int fd, const char *name, uint32_t max_frame, struct port **out);
/*
 * A listening stream socket as an attachment: listed and detached like a
 * port, it takes no frames itself; each connection it accepts becomes a
 * port of its network (named NAME.N, same owner and isolation). Takes fd and
 * *sf (the file is removed when the attachment goes), also on failure.
 * Return: 0 and *out (not yet in a network), or -errno.
 */
int port_stream_listen_new(int fd, struct sockfile *sf, const char *name, struct port **out);
/* Start serving a port of either kind once it is in its network. Return: 0 or -errno. */
int port_stream_start(struct port *p);
/* Is p a stream port or a listening stream attachment? */
bool port_is_stream(const struct port *p);

#endif
