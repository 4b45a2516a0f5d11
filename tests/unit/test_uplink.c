/*
 * test_uplink.c — the AF_PACKET uplink against a real interface: in a private
 * network namespace (unshare) a veth pair stands in for a NIC and its LAN.
 * A frame a LAN host sends to a guest's MAC reaches the guest port through
 * the TPACKET_V3 ring; a guest's frame goes out on the wire; the LAN's
 * traffic for others does not reach guests; promiscuous mode is entered and
 * left with the uplink; an interface that goes away breaks the port. Needs
 * root (skipped otherwise, exit 77).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "engine/loop.h"
#include "engine/network.h"
#include "engine/port_uplink.h"
#include "engine/switch.h"

struct rec_port {
	struct port base;
	int got;
	uint8_t last[2048];
	size_t len;
};

/* Counts only the test's own frames (the veth's kernel sends IPv6 chatter too). */
static int rec_output(struct port *p, const struct frame *f)
{
	struct rec_port *r = (struct rec_port *)p;

	if (f->len < 15 || f->data[12] != 0x88 || f->data[13] != 0xb5)
		return 0;
	r->got++;
	r->len = f->len < sizeof(r->last) ? f->len : sizeof(r->last);
	memcpy(r->last, f->data, r->len);
	return 0;
}

static void rec_destroy(struct port *p)
{
	free(p);
}

static const struct port_ops rec_ops = { "rec", rec_output, NULL, rec_destroy };

static const uint8_t guest_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t lan_mac[6] = { 0x02, 0xaa, 0, 0, 0, 1 };
static const uint8_t other_mac[6] = { 0x02, 0xbb, 0, 0, 0, 2 };

/* A raw socket on the LAN end of the veth. */
static int lan_socket(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -1;
	return fd;
}

static void frame(uint8_t *b, const uint8_t dst[6], const uint8_t src[6], uint8_t tag)
{
	memset(b, 0, 60);
	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	b[12] = 0x88, b[13] = 0xb5; /* local experimental ethertype */
	b[14] = tag;
}

/* Run the event loop for up to ms milliseconds (or until nothing is ready). */
static void pump(int ms)
{
	struct epoll_event ev[8];

	for (int waited = 0; waited < ms; waited += 10) {
		int n = loop_wait(ev, 8, 10);

		for (int i = 0; i < n; i++) {
			struct loop_src *s = ev[i].data.ptr;

			if (!s->dead && s->type == EV_CALLBACK)
				s->cb(s, ev[i].events);
		}
	}
}

/* The device's promiscuity count, as `ip -d link` shows it (sysfs would show the parent namespace). */
static bool promisc(const char *ifname)
{
	char cmd[128], line[512];
	bool on = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip -d link show dev %s", ifname);
	p = popen(cmd, "r");
	while (p && fgets(line, sizeof(line), p)) {
		const char *c = strstr(line, "promiscuity ");

		if (c && atoi(c + 12) > 0)
			on = true;
	}
	if (p)
		pclose(p);
	return on;
}

/* Wait for a frame with this tag on the LAN socket. Return: whether it came. */
static bool lan_sees(int fd, uint8_t tag)
{
	uint8_t b[2048];

	for (int i = 0; i < 50; i++) {
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

		if (n >= 15 && b[12] == 0x88 && b[13] == 0xb5 && b[14] == tag)
			return true;
		if (n < 0)
			usleep(10000);
	}
	return false;
}

int main(void)
{
	struct network *n;
	struct port_uplink *u;
	struct rec_port *g = calloc(1, sizeof(*g));
	struct uplink_stats st;
	uint8_t b[60];
	int lan;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("skipped: needs root (a private network namespace)\n");
		return 77;
	}
	if (system("ip link add vu0 type veth peer name vu1 && ip link set vu0 up && ip link set vu1 up") != 0) {
		printf("skipped: no veth\n");
		return 77;
	}
	CHECK(loop_init() == 0);
	CHECK(port_uplink_new("nosuch0", &u) == -ENODEV);
	CHECK(port_uplink_new("a-name-longer-than-ifnamsiz", &u) == -ENAMETOOLONG);
	CHECK(!promisc("vu0"));
	CHECK(port_uplink_new("vu0", &u) == 0);
	CHECK(promisc("vu0")); /* promiscuous while the uplink exists */
	CHECK(port_uplink_mtu(u) == 1500);
	CHECK(network_new(1002, &n) == 0);
	g->base.ops = &rec_ops;
	g->base.max_frame = 1514;
	memcpy(g->base.mac, guest_mac, 6);
	CHECK(network_add_port(n, &g->base) == 0);
	CHECK(network_add_port(n, port_uplink_port(u)) == 0);
	lan = lan_socket("vu1");
	CHECK(lan >= 0);

	/* the guest speaks first (the switch learns it), its broadcast goes out on the wire */
	frame(b, (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, guest_mac, 1);
	switch_input(n, &g->base, &(struct frame){ .data = b, .len = 60 });
	switch_flush(n);
	CHECK(lan_sees(lan, 1));
	/* a LAN host answers the guest: through the ring to the guest */
	frame(b, guest_mac, lan_mac, 2);
	CHECK(send(lan, b, 60, 0) == 60);
	pump(200);
	CHECK(g->got == 1 && g->len >= 15 && g->last[14] == 2);
	/* the LAN's traffic for someone else is not the guest's business */
	frame(b, other_mac, lan_mac, 3);
	CHECK(send(lan, b, 60, 0) == 60);
	pump(100);
	CHECK(g->got == 1);
	/* a guest's unicast to the LAN host goes out */
	frame(b, lan_mac, guest_mac, 4);
	switch_input(n, &g->base, &(struct frame){ .data = b, .len = 60 });
	switch_flush(n);
	CHECK(lan_sees(lan, 4));
	port_uplink_stats(u, &st);
	CHECK(st.rx_frames >= 2 && st.tx_frames >= 2 && st.link_up);

	/* the interface goes away: the port is reported broken */
	CHECK(system("ip link del vu0") == 0);
	frame(b, lan_mac, guest_mac, 5);
	switch_input(n, &g->base, &(struct frame){ .data = b, .len = 60 });
	switch_flush(n);
	pump(100);
	{
		struct port *broken = port_take_broken();

		CHECK(broken == port_uplink_port(u));
	}
	network_remove_port(port_uplink_port(u));
	network_remove_port(&g->base);
	loop_free_deferred();
	close(lan);

	/* a new uplink on a new interface, closed again: promiscuous mode is left */
	CHECK(system("ip link add vu2 type veth peer name vu3 && ip link set vu2 up") == 0);
	CHECK(port_uplink_new("vu2", &u) == 0);
	CHECK(promisc("vu2"));
	port_uplink_port(u)->ops->destroy(port_uplink_port(u));
	loop_free_deferred();
	CHECK(!promisc("vu2"));
	return check_done();
}
