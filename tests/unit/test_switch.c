/* test_switch.c — unit tests of the learning switch (engine/switch.c) with recording ports. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/network.h"
#include "engine/loop.h"
#include "engine/switch.h"

struct rec_port {
	struct port base;
	int got, flushes, fail;
	uint8_t last[64];
};

static int rec_output(struct port *p, const struct frame *f)
{
	struct rec_port *r = (struct rec_port *)p;

	if (r->fail)
		return -ENOBUFS;
	r->got++;
	memcpy(r->last, f->data, f->len < 64 ? f->len : 64);
	return 0;
}

static void rec_flush(struct port *p)
{
	((struct rec_port *)p)->flushes++;
}

static void rec_destroy(struct port *p)
{
	free(p);
}

static const struct port_ops rec_ops = { "rec", rec_output, rec_flush, rec_destroy };

static struct rec_port *add(struct network *n)
{
	struct rec_port *r = calloc(1, sizeof(*r));

	r->base.ops = &rec_ops;
	r->base.max_frame = 1514;
	CHECK(network_add_port(n, &r->base) == 0);
	return r;
}

static void send_frame(struct network *n, struct rec_port *from, const uint8_t dst[6], const uint8_t src[6], uint32_t len)
{
	uint8_t buf[2000] = { 0 };
	struct frame f = { .data = buf, .len = len };

	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	switch_input(n, &from->base, &f);
	switch_flush(n);
}

static void reset(struct rec_port **p, int n)
{
	for (int i = 0; i < n; i++)
		p[i]->got = 0;
}

/* A bridged network: guests g0, g1 and an uplink to the LAN. */
static void test_uplink(void)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t g0m[6] = { 2, 0, 0, 0, 1, 0 }, g1m[6] = { 2, 0, 0, 0, 1, 1 };
	static const uint8_t lanhost[6] = { 0x52, 0x54, 0, 0, 0, 7 }, other[6] = { 0x52, 0x54, 0, 0, 0, 8 };
	struct network *n;
	struct rec_port *p[3];

	CHECK(network_new(1002, &n) == 0);
	for (int i = 0; i < 3; i++)
		p[i] = add(n);
	p[2]->base.uplink = true;
	/* guests make themselves known */
	send_frame(n, p[0], bcast, g0m, 60);
	send_frame(n, p[1], bcast, g1m, 60);
	CHECK(p[2]->got == 2); /* guests' broadcasts go out to the LAN */
	reset(p, 3);
	/* LAN frames: for a guest -> that guest only; broadcast -> every guest; anything else -> nobody */
	send_frame(n, p[2], g0m, lanhost, 60);
	CHECK(p[0]->got == 1 && p[1]->got == 0);
	send_frame(n, p[2], bcast, lanhost, 60);
	CHECK(p[0]->got == 2 && p[1]->got == 1);
	reset(p, 3);
	send_frame(n, p[2], other, lanhost, 60); /* the LAN's own unicast traffic */
	CHECK(p[0]->got == 0 && p[1]->got == 0 && n->unknown_drops == 1);
	/* the uplink's source MACs are not learned: a guest's frame to a LAN host goes out by flooding */
	send_frame(n, p[0], lanhost, g0m, 60);
	CHECK(p[2]->got == 1 && p[1]->got == 1);
	CHECK(fdb_lookup(n->fdb, lanhost, engine_now_sec) == NULL);
	/* a LAN frame spoofing a guest's MAC as its source does not steal the guest's entry */
	send_frame(n, p[2], bcast, g1m, 60);
	reset(p, 3);
	send_frame(n, p[0], g1m, g0m, 60);
	CHECK(p[1]->got == 1 && p[2]->got == 0);
	for (int i = 0; i < 3; i++)
		network_remove_port(&p[i]->base);
	loop_free_deferred();
}

int main(void)
{
	test_uplink();
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t mcast[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t m1[6] = { 2, 0, 0, 0, 0, 1 }, m2[6] = { 2, 0, 0, 0, 0, 2 }, m3[6] = { 2, 0, 0, 0, 0, 3 };
	static const uint8_t unknown[6] = { 2, 0, 0, 0, 0, 9 };
	struct network *n;
	struct rec_port *p[3];

	CHECK(network_new(1000, &n) == 0);
	for (int i = 0; i < 3; i++)
		p[i] = add(n);
	CHECK(n->nports == 3);

	send_frame(n, p[0], bcast, m1, 60);
	CHECK(p[0]->got == 0 && p[1]->got == 1 && p[2]->got == 1); /* flood, no echo */
	CHECK(p[1]->flushes == 1 && p[0]->flushes == 0);
	reset(p, 3);
	send_frame(n, p[1], m1, m2, 60);
	CHECK(p[0]->got == 1 && p[1]->got == 0 && p[2]->got == 0); /* learned unicast */
	reset(p, 3);
	send_frame(n, p[0], unknown, m1, 60);
	CHECK(p[1]->got == 1 && p[2]->got == 1); /* unknown unicast floods */
	reset(p, 3);
	send_frame(n, p[2], mcast, m3, 60);
	CHECK(p[0]->got == 1 && p[1]->got == 1 && p[2]->got == 0);
	reset(p, 3);
	send_frame(n, p[0], m1, m1, 60); /* to itself (m1 lives on p0): dropped */
	CHECK(p[0]->got == 0 && p[1]->got == 0 && p[2]->got == 0);
	reset(p, 3);
	send_frame(n, p[0], m2, m1, 13); /* runt */
	CHECK(p[1]->got == 0 && p[0]->base.st.rx_errors == 1);
	send_frame(n, p[0], m2, m1, 1515); /* bigger than p1 takes */
	CHECK(p[1]->got == 0 && p[1]->base.st.tx_drops == 1);
	p[1]->fail = 1; /* full port: counted drop */
	send_frame(n, p[0], m2, m1, 60);
	CHECK(p[1]->got == 0 && p[1]->base.st.tx_drops == 2);
	p[1]->fail = 0;
	/* a MAC moving to another port is re-learned */
	send_frame(n, p[2], bcast, m2, 60);
	reset(p, 3);
	send_frame(n, p[0], m2, m1, 60);
	CHECK(p[2]->got == 1 && p[1]->got == 0);
	/* isolation: an isolated port reaches no other guest */
	reset(p, 3);
	p[0]->base.isolated = true;
	send_frame(n, p[0], bcast, m1, 60);
	CHECK(p[1]->got == 0 && p[2]->got == 0);
	send_frame(n, p[1], m1, m2, 60);
	CHECK(p[0]->got == 0);
	p[2]->base.host_side = true; /* ...but does reach the host side */
	send_frame(n, p[0], bcast, m1, 60);
	CHECK(p[2]->got == 1 && p[1]->got == 0);
	p[0]->base.isolated = false;
	/* a port leaving takes its fdb entries with it */
	reset(p, 3);
	network_remove_port(&p[2]->base);
	CHECK(n->nports == 2);
	send_frame(n, p[0], m2, m1, 60); /* m2 was on p2: now unknown -> flood to p1 */
	CHECK(p[1]->got == 1);
	/* the fdb survives heavy churn without losing fresh entries */
	for (int i = 0; i < 20000; i++) {
		uint8_t m[6] = { 2, 1, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 7 };

		fdb_learn(n->fdb, m, &p[1]->base, 1);
	}
	fdb_learn(n->fdb, m3, &p[0]->base, 2);
	CHECK(fdb_lookup(n->fdb, m3, 2) == &p[0]->base);
	CHECK(fdb_lookup(n->fdb, m3, 2 + FDB_AGE_SEC + 1) == NULL); /* aged out */
	network_remove_port(&p[1]->base);
	network_remove_port(&p[0]->base); /* frees the network */
	CHECK(network_list == NULL);
	loop_free_deferred();
	return check_done();
}
