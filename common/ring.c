/* ring.c — creating, mapping and checking the shared-memory rings (see ring.h). */
#include "common/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RING_HDR_PAGE 4096u

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int ring_layout_init(struct ring_layout *l, uint32_t nslots, uint32_t max_frame)
{
	uint64_t ring_bytes;

	if (nslots < 2 || nslots > 65536 || (nslots & (nslots - 1)) || max_frame < 14 || max_frame > 65550 + 12)
		return -EINVAL;
	l->nslots = nslots;
	l->slot_size = (uint32_t)align_up(sizeof(struct ring_rec) + max_frame, RING_CACHELINE);
	l->max_frame = l->slot_size - (uint32_t)sizeof(struct ring_rec);
	ring_bytes = align_up(sizeof(struct ring_ctl) + (uint64_t)nslots * l->slot_size, RING_HDR_PAGE);
	l->tx_off = RING_HDR_PAGE;
	l->rx_off = l->tx_off + ring_bytes;
	l->total = l->rx_off + ring_bytes;
	return 0;
}

int ring_memfd_create(const struct ring_layout *l, const char *name)
{
	struct ring_shm_hdr *h;
	void *base;
	int fd;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)l->total) < 0)
		goto fail;
	/* The size can never change under either side's mapping. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	base = ring_map(fd, l);
	if (!base)
		goto fail;
	h = base;
	h->magic = RING_MAGIC;
	h->version = RING_VERSION;
	h->nslots = l->nslots;
	h->slot_size = l->slot_size;
	h->tx_off = l->tx_off;
	h->rx_off = l->rx_off;
	h->total = l->total;
	ring_unmap(base, l);
	return fd;
fail:
	{
		int r = -errno;

		close(fd);
		return r;
	}
}

void *ring_map(int fd, const struct ring_layout *l)
{
	void *p = mmap(NULL, l->total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

void ring_unmap(void *base, const struct ring_layout *l)
{
	if (base)
		munmap(base, l->total);
}

int ring_shm_check(const void *base, const struct ring_layout *l)
{
	const struct ring_shm_hdr *h = base;

	if (h->magic != RING_MAGIC || h->version != RING_VERSION || h->nslots != l->nslots ||
	    h->slot_size != l->slot_size || h->tx_off != l->tx_off || h->rx_off != l->rx_off || h->total != l->total)
		return -EPROTO;
	return 0;
}

void ring_attach(struct ring *r, void *base, const struct ring_layout *l, enum ring_dir dir)
{
	uint64_t off = dir == RING_TX ? l->tx_off : l->rx_off;

	memset(r, 0, sizeof(*r));
	r->ctl = (struct ring_ctl *)(void *)((uint8_t *)base + off);
	r->slots = (uint8_t *)base + off + sizeof(struct ring_ctl);
	r->nslots = l->nslots;
	r->mask = l->nslots - 1;
	r->slot_size = l->slot_size;
	r->max_frame = l->max_frame;
	/* Both sides start at 0 on a fresh memfd. */
	r->prod = 0;
	r->cons = 0;
}
