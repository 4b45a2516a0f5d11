/*
 * util.h — small helpers shared by the library, the daemon and the tools:
 * MAC and UUID text forms, monotonic time, eventfd doorbells and threads
 * that never take the process's signals.
 */
#ifndef VMNET_COMMON_UTIL_H
#define VMNET_COMMON_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_MAC_STRLEN 18  /* "0a:d6:36:c1:ea:f3" + NUL */
#define UTIL_UUID_STRLEN 37 /* "2835E074-...." + NUL */

/* Format mac as lower-case "xx:xx:xx:xx:xx:xx" into out (UTIL_MAC_STRLEN bytes). */
void util_mac_to_string(const uint8_t mac[6], char out[UTIL_MAC_STRLEN]);

/*
 * Parse "x:x:x:x:x:x" (1 or 2 hex digits per byte, any case; '-' also accepted
 * as separator) into mac.
 * Return: 0, or -EINVAL for anything else.
 */
int util_mac_from_string(const char *s, uint8_t mac[6]);

/* Format a UUID as upper-case text, as Apple prints interface ids. */
void util_uuid_to_string(const uint8_t uuid[16], char out[UTIL_UUID_STRLEN]);

/*
 * Replace the file at path with len bytes of data, atomically: write PATH.tmp,
 * fsync, rename over path, fsync the directory. Return: 0 or -errno.
 */
int util_write_atomic(const char *path, const void *data, size_t len);

/* Write a short value to a /proc/sys file (a sysctl). Return: 0 or -errno. */
int util_sysctl_write(const char *path, const char *value);
/* Read a /proc/sys file holding an integer. Return: its value (>= 0), or -errno. */
int util_sysctl_read(const char *path);

/* Return: CLOCK_MONOTONIC time in nanoseconds. */
uint64_t util_now_ns(void);

/*
 * Doorbells between vmnetd and a client: a non-blocking pipe per direction.
 * Each side holds its own end, a file description of its own, so neither can
 * change the other's O_NONBLOCK (a shared eventfd would let a client make the
 * single-threaded daemon block). One read swallows many rings.
 */
/* Create a doorbell: the reader keeps *rd, the ringer *wr. Return: 0 or -errno. */
int util_doorbell_pair(int *rd, int *wr);
/* Ring. A full doorbell already has a wakeup pending: not an error. Return: 0 or -errno.
 * A pipe whose reader is gone raises SIGPIPE: vmnetd ignores it; libvmnet, which
 * must never raise signals in its client, rings a socket doorbell instead. */
int util_doorbell_ring(int fd);
/* The client -> daemon doorbell: a SOCK_DGRAM socketpair rung with MSG_NOSIGNAL, so a dead
 * daemon never delivers SIGPIPE to the client process. Return: 0 or -errno. */
int util_doorbell_pair_sock(int *rd, int *wr);
int util_doorbell_ring_nosig(int fd);
/* Swallow pending rings (at most a bounded number per call). Return: how many were pending. */
unsigned util_doorbell_drain(int fd);

/*
 * Create a joinable thread with every signal blocked, so that signals keep
 * going to the program's own threads (clients wait for SIGTERM/SIGINT with
 * signalfd and must not lose them to a library thread).
 * Return: 0 or -errno.
 */
int util_thread_spawn(pthread_t *thread, void *(*fn)(void *), void *arg);

/* Same, detached. Return: 0 or -errno. */
int util_thread_spawn_detached(void *(*fn)(void *), void *arg);

#endif
