/*
 * segment.c — software TCP segmentation (see segment.h).
 *
 * The headers (Ethernet, IP, TCP with its options) are copied into a scratch
 * frame once per segment, followed by that segment's share of the payload;
 * the fields that differ per segment are patched and the checksums computed
 * in full, so the result does not depend on what the original carried in its
 * checksum fields (a super-frame from GSO holds only a partial sum).
 */
#include "engine/segment.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/csum.h"
#include "common/cursor.h"

#define SEG_FRAME_MAX 9216 /* largest MTU we cut to, plus headers */

static uint8_t seg[SEG_FRAME_MAX + 14];

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int segment_tcp(const uint8_t *frame, size_t len, uint32_t mtu, segment_fn fn, void *ctx)
{
	struct cursor c = cur_init(frame, len);
	const uint8_t *eth = cur_pull(&c, 14), *ip, *tcp;
	size_t iphl, tcphl, hdrs, payload, mss, off;
	uint16_t type;
	bool v4;
	uint32_t seq, ipid = 0;
	int n = 0;

	if (!eth || mtu < 576 || mtu > SEG_FRAME_MAX)
		return -EINVAL;
	type = (uint16_t)(eth[12] << 8 | eth[13]);
	v4 = type == 0x0800;
	if (v4) {
		if (!(ip = cur_pull(&c, 20)))
			return -EINVAL;
		iphl = (size_t)(ip[0] & 0x0f) * 4;
		/* No fragments; a GSO super-frame may carry total length 0 (too big for 16 bits): use the frame. */
		if ((ip[0] >> 4) != 4 || iphl < 20 || ip[9] != 6 || (ip[6] & 0x3f) || ip[7] ||
		    !cur_pull(&c, iphl - 20))
			return -EINVAL;
		ipid = (uint32_t)(ip[4] << 8 | ip[5]);
	} else if (type == 0x86dd) {
		if (!(ip = cur_pull(&c, 40)) || (ip[0] >> 4) != 6 || ip[6] != 6)
			return -EINVAL;
		iphl = 40;
	} else {
		return -EINVAL;
	}
	if (!(tcp = cur_pull(&c, 20)))
		return -EINVAL;
	tcphl = (size_t)(tcp[12] >> 4) * 4;
	if (tcphl < 20 || !cur_pull(&c, tcphl - 20))
		return -EINVAL;
	hdrs = 14 + iphl + tcphl;
	payload = len - hdrs;
	if (iphl + tcphl >= mtu)
		return -EINVAL;
	if (len - 14 <= mtu) {
		fn(ctx, frame, len);
		return 1;
	}
	mss = mtu - iphl - tcphl;
	seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	for (off = 0; off < payload; off += mss, n++) {
		size_t chunk = payload - off < mss ? payload - off : mss;
		bool last = off + chunk == payload;
		uint8_t *sip = seg + 14, *stcp = seg + 14 + iphl;
		uint32_t sum, s = seq + (uint32_t)off;

		memcpy(seg, frame, hdrs);
		memcpy(seg + hdrs, frame + hdrs + off, chunk);
		if (v4) {
			put16(sip + 2, (uint32_t)(iphl + tcphl + chunk));
			put16(sip + 4, ipid + (uint32_t)n);
			sip[10] = sip[11] = 0;
			put16(sip + 10, csum_fold(csum_partial(sip, iphl, 0)));
		} else {
			put16(sip + 4, (uint32_t)(tcphl + chunk));
		}
		stcp[4] = (uint8_t)(s >> 24), stcp[5] = (uint8_t)(s >> 16), stcp[6] = (uint8_t)(s >> 8);
		stcp[7] = (uint8_t)s;
		if (!last)
			stcp[13] &= (uint8_t)~0x09; /* FIN, PSH: only on the last segment */
		if (n > 0)
			stcp[13] &= (uint8_t)~0x80; /* CWR: only on the first */
		stcp[16] = stcp[17] = 0;
		if (v4) {
			uint32_t sa, da;

			memcpy(&sa, sip + 12, 4);
			memcpy(&da, sip + 16, 4);
			sum = csum_ipv4_pseudo(sa, da, 6, (uint16_t)(tcphl + chunk));
		} else {
			sum = csum_ipv6_pseudo(sip + 8, sip + 24, 6, (uint32_t)(tcphl + chunk));
		}
		put16(stcp + 16, csum_fold(csum_partial(stcp, tcphl + chunk, sum)));
		fn(ctx, seg, hdrs + chunk);
	}
	return n;
}

int segment_udp(const uint8_t *frame, size_t len, uint32_t gso_size, uint32_t mtu, segment_fn fn, void *ctx)
{
	struct cursor c = cur_init(frame, len);
	const uint8_t *eth = cur_pull(&c, 14), *ip;
	size_t iphl, hdrs, payload, chunk_max, off;
	uint32_t ipid = 0;
	bool v4;
	int n = 0;

	if (!eth || !gso_size || mtu < 576 || mtu > SEG_FRAME_MAX)
		return -EINVAL;
	v4 = eth[12] == 0x08 && eth[13] == 0x00;
	if (v4) {
		if (!(ip = cur_pull(&c, 20)))
			return -EINVAL;
		iphl = (size_t)(ip[0] & 0x0f) * 4;
		if ((ip[0] >> 4) != 4 || iphl < 20 || ip[9] != 17 || (ip[6] & 0x3f) || ip[7] ||
		    !cur_pull(&c, iphl - 20))
			return -EINVAL;
		ipid = (uint32_t)(ip[4] << 8 | ip[5]);
	} else if (eth[12] == 0x86 && eth[13] == 0xdd) {
		if (!(ip = cur_pull(&c, 40)) || (ip[0] >> 4) != 6 || ip[6] != 17)
			return -EINVAL;
		iphl = 40;
	} else {
		return -EINVAL;
	}
	if (!cur_pull(&c, 8))
		return -EINVAL;
	hdrs = 14 + iphl + 8;
	payload = len - hdrs;
	chunk_max = mtu - iphl - 8;
	if (gso_size < chunk_max)
		chunk_max = gso_size;
	for (off = 0; off < payload || (payload == 0 && n == 0); off += chunk_max, n++) {
		size_t chunk = payload - off < chunk_max ? payload - off : chunk_max;
		uint8_t *sip = seg + 14, *sudp = seg + 14 + iphl;
		uint32_t sum;
		uint16_t v;

		memcpy(seg, frame, hdrs);
		memcpy(seg + hdrs, frame + hdrs + off, chunk);
		if (v4) {
			uint32_t sa, da;

			put16(sip + 2, (uint32_t)(iphl + 8 + chunk));
			put16(sip + 4, ipid + (uint32_t)n);
			sip[10] = sip[11] = 0;
			put16(sip + 10, csum_fold(csum_partial(sip, iphl, 0)));
			memcpy(&sa, sip + 12, 4);
			memcpy(&da, sip + 16, 4);
			sum = csum_ipv4_pseudo(sa, da, 17, (uint16_t)(8 + chunk));
		} else {
			put16(sip + 4, (uint32_t)(8 + chunk));
			sum = csum_ipv6_pseudo(sip + 8, sip + 24, 17, (uint32_t)(8 + chunk));
		}
		put16(sudp + 4, (uint32_t)(8 + chunk));
		sudp[6] = sudp[7] = 0;
		v = csum_fold(csum_partial(sudp, 8 + chunk, sum));
		put16(sudp + 6, v ? v : 0xffff); /* RFC 768: a computed zero goes out as all ones */
		fn(ctx, seg, hdrs + chunk);
		if (payload == 0)
			return 1;
	}
	return n;
}
