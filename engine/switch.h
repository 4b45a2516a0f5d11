/*
 * switch.h — the learning Ethernet switch at the heart of every network.
 */
#ifndef VMNET_ENGINE_SWITCH_H
#define VMNET_ENGINE_SWITCH_H

#include "engine/network.h"

/* Forwarding-table capacity per network; a power of two. */
#define FDB_SIZE 4096
/* Seconds after which a learned MAC is forgotten. */
#define FDB_AGE_SEC 300

struct fdb *fdb_new(void);
void fdb_free(struct fdb *t);
/* Forget every entry pointing at port p (called when a port leaves). */
void fdb_forget_port(struct fdb *t, const struct port *p);
/* Return: the port that last sent from mac, or NULL. */
struct port *fdb_lookup(struct fdb *t, const uint8_t mac[6], uint64_t now_sec);
void fdb_learn(struct fdb *t, const uint8_t mac[6], struct port *p, uint64_t now_sec);

/* A frame entered the network from src. It is forwarded, flooded or dropped. */
void switch_input(struct network *net, struct port *src, const struct frame *f);
/* End of an input batch: flush every port that received frames. */
void switch_flush(struct network *net);

#endif
