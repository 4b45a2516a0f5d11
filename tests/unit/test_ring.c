/* test_ring.c — unit tests of the shared-memory ring (common/ring.c). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/ring.h"

static void test_layout(void)
{
	struct ring_layout l;

	CHECK(ring_layout_init(&l, 1024, 1514) == 0);
	CHECK(l.slot_size % 64 == 0 && l.slot_size >= 1514 + sizeof(struct ring_rec));
	CHECK(l.max_frame >= 1514);
	CHECK(l.tx_off == 4096 && l.rx_off > l.tx_off && l.total > l.rx_off);
	CHECK(ring_layout_init(&l, 1000, 1514) == -EINVAL); /* not a power of two */
	CHECK(ring_layout_init(&l, 1, 1514) == -EINVAL);
	CHECK(ring_layout_init(&l, 1024, 10) == -EINVAL);
	CHECK(ring_layout_init(&l, 1024, 1 << 20) == -EINVAL);
	CHECK(ring_layout_init(&l, 256, 65550) == 0);
}

/* Two views of one memfd, as the daemon and the library have. */
static void test_produce_consume(void)
{
	struct ring_layout l;
	struct ring prod, cons;
	void *a, *b;
	int fd;

	CHECK(ring_layout_init(&l, 8, 1514) == 0);
	fd = ring_memfd_create(&l, "test");
	CHECK(fd >= 0);
	a = ring_map(fd, &l);
	b = ring_map(fd, &l);
	CHECK(a && b && ring_shm_check(b, &l) == 0);
	ring_attach(&prod, a, &l, RING_TX);
	ring_attach(&cons, b, &l, RING_TX);
	CHECK(ring_cons_avail(&cons) == 0);
	CHECK(ring_prod_space(&prod) == 8);
	for (uint32_t i = 0; i < 8; i++) {
		struct ring_rec *r = ring_slot(&prod, prod.prod);

		r->len = 60 + i;
		memset(ring_rec_data(r), (int)i, r->len);
		ring_prod_publish(&prod, 1);
	}
	CHECK(ring_prod_space(&prod) == 0);
	CHECK(ring_cons_avail(&cons) == 8);
	for (uint32_t i = 0; i < 8; i++) {
		struct ring_rec *r = ring_slot(&cons, cons.cons);

		CHECK(r->len == 60 + i && ring_rec_data(r)[59] == i);
		ring_cons_release(&cons, 1);
	}
	CHECK(ring_prod_space(&prod) == 8);
	/* wakeup protocol */
	CHECK(ring_cons_prepare_sleep(&cons) == 0);
	ring_slot(&prod, prod.prod)->len = 60;
	ring_prod_publish(&prod, 1);
	CHECK(ring_prod_need_kick(&prod));
	CHECK(!ring_prod_need_kick(&prod)); /* one ring per sleep */
	CHECK(ring_cons_prepare_sleep(&cons) == 1); /* work is there: do not sleep */
	ring_cons_awake(&cons);
	CHECK(!ring_prod_need_kick(&prod));
	/* indices wrap around 2^32 without confusion */
	prod.prod = cons.cons = 0xfffffffeu;
	atomic_store(&prod.ctl->prod, prod.prod);
	atomic_store(&prod.ctl->cons, cons.cons);
	ring_prod_publish(&prod, 3);
	CHECK(ring_cons_avail(&cons) == 3);
	CHECK(ring_prod_space(&prod) == 5);
	/* a hostile peer index is detected, not trusted */
	atomic_store(&prod.ctl->prod, cons.cons + 9);
	CHECK(ring_cons_avail(&cons) < 0);
	atomic_store(&prod.ctl->cons, prod.prod + 1);
	CHECK(ring_prod_space(&prod) < 0);
	/* a header that lies about the geometry is refused */
	((struct ring_shm_hdr *)b)->nslots = 16;
	CHECK(ring_shm_check(b, &l) == -EPROTO);
	ring_unmap(a, &l);
	ring_unmap(b, &l);
	close(fd);
}

int main(void)
{
	test_layout();
	test_produce_consume();
	return check_done();
}
