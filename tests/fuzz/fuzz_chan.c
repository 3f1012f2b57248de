/* fuzz_chan.c - libFuzzer target: control message decoder, descriptor checks, a hostile app. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan_fp.h"
#include "ctl.h"

/*
 * Input: byte 0 picks the target.
 *   0  control decoder: one message, raw or with a fixed-up frame (see fuzz_ctl)
 *   1  bp_desc_check: limits from the input, then 32-byte descriptors, each checked on TX and
 *      DONE; anything accepted must really be in bounds
 *   2  a hostile app against one channel: a stream of operations (app writes descriptors,
 *      rewrites them after posting, moves ring indexes anywhere, sets need_wakeup; the gateway
 *      fetches, completes, reaps, delivers); after each the gateway's buffer accounting must
 *      hold: no buffer both free and held, no duplicate on the free stack, no overflow
 * Violations abort().
 */

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
rd32(const uint8_t **p, size_t *n)
{
	uint32_t v = 0;

	if (*n >= 4) {
		memcpy(&v, *p, 4);
		*p += 4;
		*n -= 4;
	} else {
		*n = 0;
	}
	return v;
}

/*
 * p[0]: bit 0 direction; bit 1 "fix the frame": write a correct header for one of the known
 * types (p[1]) and size the body to that type, so the fuzzer spends its time on the bodies; else
 * the bytes go in as they are (framing: magic, version, type, length).
 */
static void
fuzz_ctl(const uint8_t *p, size_t n)
{
	static const uint16_t types[] = {BP_CTL_HELLO, BP_CTL_BIND,     BP_CTL_UNBIND,
	                                 BP_CTL_BYE,   BP_CTL_HELLO_OK, BP_CTL_QUEUE,
	                                 BP_CTL_ERROR, BP_CTL_BIND_OK,  BP_CTL_OK};
	uint8_t buf[sizeof(union bp_ctl_msg) + 8];
	enum bp_ctl_from from;
	union bp_ctl_msg m;
	enum bp_ctl_err e;
	size_t len;

	if (n < 2)
		return;
	from = (p[0] & 1) ? BP_CTL_FROM_GW : BP_CTL_FROM_APP;
	if (p[0] & 2) {
		uint16_t type = types[p[1] % (sizeof(types) / sizeof(types[0]))];
		struct bp_ctl_hdr h;

		len = bp_ctl_type_len(type);
		memset(buf, 0, len);
		memcpy(buf, p + 2, n - 2 < len ? n - 2 : len);
		memcpy(&h, buf, sizeof(h));
		h.magic = BP_CTL_MAGIC;
		h.version = BP_CTL_VERSION;
		h.type = type;
		h.len = (uint32_t)len;
		memcpy(buf, &h, sizeof(h));
	} else {
		len = n - 1 < sizeof(buf) ? n - 1 : sizeof(buf);
		memcpy(buf, p + 1, len);
	}
	e = bp_ctl_decode(buf, len, from, &m);
	CHECK((unsigned)e < BP_CTL_ERR__MAX);
	CHECK(bp_ctl_err_str(e)[0]);
	if (e != BP_CTL_ERR_OK)
		return;
	CHECK(m.hdr.len == len && m.hdr.len == bp_ctl_type_len(m.hdr.type));
	switch (m.hdr.type) {
	case BP_CTL_HELLO:
		CHECK(memchr(m.hello.tenant, 0, sizeof(m.hello.tenant)));
		CHECK(m.hello.tenant[0]);
		CHECK(memchr(m.hello.app_name, 0, sizeof(m.hello.app_name)));
		CHECK(m.hello.nqueues >= 1 && m.hello.nqueues <= BP_MAX_QUEUES);
		break;
	case BP_CTL_HELLO_OK:
		CHECK(bp_geom_valid(&m.hello_ok.geom));
		break;
	case BP_CTL_ERROR:
		CHECK(memchr(m.error.msg, 0, sizeof(m.error.msg)));
		CHECK(m.error.code >= BP_ERR_BASE && m.error.code < BP_ERR_END);
		break;
	case BP_CTL_BIND_OK:
		CHECK(m.bind_ok.sock < BP_MAX_SOCKS);
		break;
	case BP_CTL_UNBIND:
		CHECK(m.unbind.sock < BP_MAX_SOCKS);
		break;
	default:
		break;
	}
}

static void
fuzz_desc(const uint8_t *p, size_t n)
{
	struct bp_desc_limits l;
	struct bp_desc d;
	enum bp_desc_err e;

	l.nbufs = rd32(&p, &n) & 0x1ffff;
	l.buf_size = 1u << (9 + (rd32(&p, &n) % 8)); /* 512..65536 */
	l.max_udp = rd32(&p, &n) & 0xffff;
	l.max_frame = rd32(&p, &n) & 0xffff;
	l.raw = rd32(&p, &n) & 1;
	while (n >= sizeof(d)) {
		memcpy(&d, p, sizeof(d));
		p += sizeof(d);
		n -= sizeof(d);
		e = bp_desc_check(&d, &l, BP_RING_TX);
		CHECK((unsigned)e < BP_DESC_ERR__MAX);
		if (e == BP_DESC_ERR_OK && d.type >= BP_DESC_TCP_CONNECT &&
		    d.type <= BP_DESC_TCP_ABORT) {
			/* TCP (ABI 1.1): SEND is a non-empty view on a connection, the rest carry
			 * no buffer */
			CHECK(d.type == BP_DESC_TCP_CONNECT || d.sock != 0);
			if (d.type == BP_DESC_TCP_SEND)
				CHECK(d.buf < l.nbufs && d.len &&
				      (uint32_t)d.off + d.len <= l.buf_size);
			else
				CHECK(d.buf == BP_BUF_NONE && !d.off && !d.len);
		} else if (e == BP_DESC_ERR_OK) {
			CHECK(d.buf < l.nbufs);
			CHECK((uint32_t)d.off + d.len <= l.buf_size);
			CHECK(d.sock < BP_MAX_SOCKS);
			CHECK(d.type == BP_DESC_UDP_SEND || (l.raw && d.type == BP_DESC_RAW_SEND));
			CHECK(d.type != BP_DESC_UDP_SEND || (d.len <= l.max_udp && d.port_be));
			CHECK(d.type != BP_DESC_RAW_SEND || (d.len <= l.max_frame && d.len >= 14));
		}
		e = bp_desc_check(&d, &l, BP_RING_DONE);
		if (e == BP_DESC_ERR_OK)
			CHECK(d.type == BP_DESC_RX_DONE && d.buf < l.nbufs && !d.len && !d.off);
	}
}

/* ---- a hostile app against one channel ---- */

static const struct bp_geom geom = {
        .rx_ring = 16,
        .rx_bufs = 12,
        .rx_buf_size = 512,
        .tx_ring = 16,
        .tx_bufs = 12,
        .tx_buf_size = 512,
};
static struct bp_chan chan;
static bool chan_ready;

static struct bp_ring_shm *
shm_of(int ring)
{
	return (struct bp_ring_shm *)(void *)((uint8_t *)chan.region + chan.lay.ring_off[ring]);
}

/* Back to a fresh channel, rings starting at `start` (wrap-around is in reach). */
static void
chan_reset(uint32_t start)
{
	struct bp_chan *c = &chan;
	uint32_t i;

	for (i = 0; i < BP_RING__MAX; i++)
		bp_ring_format(shm_of((int)i), start);
	bp_ring_attach_prod(&c->rx, shm_of(BP_RING_RX), geom.rx_ring);
	bp_ring_attach_cons(&c->done, shm_of(BP_RING_DONE), geom.rx_ring);
	bp_ring_attach_cons(&c->tx, shm_of(BP_RING_TX), geom.tx_ring);
	bp_ring_attach_prod(&c->comp, shm_of(BP_RING_COMP), geom.tx_ring);
	for (i = 0; i < geom.rx_bufs; i++)
		c->rxpool.free[i] = geom.rx_bufs - 1 - i;
	c->rxpool.nfree = geom.rx_bufs;
	memset(c->rxpool.held, 0, sizeof(uint64_t) * ((geom.rx_bufs + 63) / 64));
	memset(c->txpool.held, 0, sizeof(uint64_t) * ((geom.tx_bufs + 63) / 64));
	memset(c->err, 0, sizeof(c->err));
	memset(c->cnt, 0, sizeof(c->cnt));
}

static void
check_accounting(void)
{
	const struct bp_bufpool *p = &chan.rxpool;
	uint64_t seen = 0;
	uint32_t i, b;

	CHECK(p->nfree <= p->n);
	for (i = 0; i < p->nfree; i++) {
		b = p->free[i];
		CHECK(b < p->n);
		CHECK(!(seen & (UINT64_C(1) << b))); /* no duplicate */
		CHECK(!bp_bufpool_held(p, b));       /* not both free and with the app */
		seen |= UINT64_C(1) << b;
	}
}

/* The app writes a descriptor into ring r's next slot and publishes it (as a hostile app may). */
static void
app_post(int r, const struct bp_desc *d)
{
	struct bp_ring_shm *s = shm_of(r);
	uint32_t size = chan.lay.ring_size[r];
	uint32_t prod = atomic_load_explicit(&s->prod, memory_order_relaxed);
	struct bp_desc *slot = (struct bp_desc *)(void *)(s + 1);

	slot[prod & (size - 1)] = *d;
	atomic_store_explicit(&s->prod, prod + 1, memory_order_release);
}

static void
fuzz_chan(const uint8_t *p, size_t n)
{
	struct bp_chan_limits lim = {.max_udp_payload = 472, .max_frame = 512, .raw = true};
	struct bp_desc d[16];
	uint32_t v, k, i, room;
	uint8_t op;

	if (!chan_ready) {
		if (bp_chan_create(&chan, &geom, &lim, 0, 1))
			abort();
		chan_ready = true;
	}
	chan_reset(rd32(&p, &n));
	while (n) {
		op = *p++;
		n--;
		switch (op % 9) {
		case 0: /* app posts a TX descriptor */
		case 1: /* app returns an RX buffer */
			if (n < sizeof(d[0]))
				return;
			memcpy(&d[0], p, sizeof(d[0]));
			p += sizeof(d[0]);
			n -= sizeof(d[0]);
			app_post(op % 9 == 0 ? BP_RING_TX : BP_RING_DONE, &d[0]);
			break;
		case 2: /* app moves a producer index anywhere */
			v = rd32(&p, &n);
			atomic_store(&shm_of(op & 0x10 ? BP_RING_DONE : BP_RING_TX)->prod, v);
			break;
		case 3: /* app moves a consumer index anywhere */
			v = rd32(&p, &n);
			atomic_store(&shm_of(op & 0x10 ? BP_RING_COMP : BP_RING_RX)->cons, v);
			break;
		case 4: /* gateway fetches and completes */
			k = bp_chan_tx_fetch(&chan, d, 16);
			CHECK(k <= 16);
			for (i = 0; i < k; i++) {
				CHECK(bp_desc_check(&d[i], &chan.tx_lim, BP_RING_TX) ==
				      BP_DESC_ERR_OK);
				CHECK(d[i].buf == BP_BUF_NONE ||
				      bp_chan_tx_data(&chan, &d[i]) + d[i].len <=
				              chan.tx_area + chan.lay.tx_area_size);
				d[i].status = op >> 4;
			}
			bp_chan_tx_complete(&chan, d, k);
			break;
		case 5: /* gateway takes RX buffers back */
			bp_chan_done_reap(&chan, op);
			break;
		case 6: /* gateway delivers */
			room = bp_chan_rx_room(&chan);
			k = (op >> 4) < room ? (op >> 4) : room;
			for (i = 0; i < k; i++) {
				uint32_t b = bp_chan_rx_take(&chan);

				CHECK(b < geom.rx_bufs);
				memset(bp_chan_rx_buf(&chan, b), (int)i, 8);
				d[i] = (struct bp_desc){
				        .buf = b, .len = 8, .type = BP_DESC_UDP_RECV};
			}
			CHECK(bp_chan_rx_post(&chan, d, k) == k);
			break;
		case 7: /* app rewrites a slot it already posted */
			if (n < 1 + sizeof(d[0]))
				return;
			{
				struct bp_ring_shm *s = shm_of(BP_RING_TX);
				struct bp_desc *slot = (struct bp_desc *)(void *)(s + 1);

				memcpy(&slot[*p % geom.tx_ring], p + 1, sizeof(d[0]));
			}
			p += 1 + sizeof(d[0]);
			n -= 1 + sizeof(d[0]);
			break;
		case 8: /* app arms doorbells */
			atomic_store(&shm_of(BP_RING_RX)->need_wakeup, op & 1);
			atomic_store(&shm_of(BP_RING_COMP)->need_wakeup, (op >> 1) & 1);
			break;
		}
		check_accounting();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_ctl(data + 1, size - 1);
		break;
	case 1:
		fuzz_desc(data + 1, size - 1);
		break;
	default:
		fuzz_chan(data + 1, size - 1);
		break;
	}
	return 0;
}
