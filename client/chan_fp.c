/* chan_fp.c - gateway worker side of a queue: post RX, reap DONE, fetch and complete TX. */
#include <sys/socket.h>

#include "chan_fp.h"

#define CHUNK 32

static void
ring_doorbell(struct bp_chan *c)
{
	static const char b = 1;

	/* per-call flags: the app cannot make this block or raise SIGPIPE */
	if (send(c->db, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
		c->cnt[BP_CHAN_CNT_DOORBELLS]++;
	else
		c->cnt[BP_CHAN_CNT_DOORBELL_FAIL]++;
}

static void
sync_ring_errs(struct bp_chan *c)
{
	c->err[BP_DESC_ERR_RING] = (uint64_t)c->rx.bad + c->done.bad + c->tx.bad + c->comp.bad;
}

unsigned
bp_chan_rx_post(struct bp_chan *c, const struct bp_desc *d, unsigned n)
{
	unsigned i, k;

	for (i = 0; i < n; i++)
		if (d[i].buf < c->rxpool.n)
			bp_bufpool_hold(&c->rxpool, d[i].buf);
	k = bp_ring_enqueue_burst(&c->rx, d, n);
	/* only if the caller ignored rx_room: those buffers go back to the free stack */
	for (i = k; i < n; i++)
		if (d[i].buf < c->rxpool.n) {
			bp_bufpool_unhold(&c->rxpool, d[i].buf);
			(void)bp_bufpool_put(&c->rxpool, d[i].buf);
		}
	c->cnt[BP_CHAN_CNT_RX_POSTED] += k;
	if (k && bp_ring_wakeup_needed(&c->rx))
		ring_doorbell(c);
	sync_ring_errs(c);
	return k;
}

unsigned
bp_chan_done_reap(struct bp_chan *c, unsigned max)
{
	return bp_chan_done_reap_idx(c, max, NULL, NULL);
}

unsigned
bp_chan_done_reap_idx(struct bp_chan *c, unsigned max, uint32_t *idx, unsigned *nidx)
{
	struct bp_desc d[CHUNK];
	unsigned i, n, got = 0;

	if (nidx)
		*nidx = 0;
	enum bp_desc_err e;

	while (got < max) {
		n = bp_ring_dequeue_burst(&c->done, d, max - got < CHUNK ? max - got : CHUNK);
		if (!n)
			break;
		for (i = 0; i < n; i++) {
			e = bp_desc_check(&d[i], &c->done_lim, BP_RING_DONE);
			if (e == BP_DESC_ERR_OK && !bp_bufpool_held(&c->rxpool, d[i].buf))
				e = BP_DESC_ERR_NOT_OWNED;
			if (e != BP_DESC_ERR_OK) {
				c->err[e]++;
				continue;
			}
			bp_bufpool_unhold(&c->rxpool, d[i].buf);
			(void)bp_bufpool_put(&c->rxpool, d[i].buf);
			c->cnt[BP_CHAN_CNT_RX_DONE]++;
			if (idx)
				idx[(*nidx)++] = d[i].buf;
		}
		got += n;
	}
	sync_ring_errs(c);
	return got;
}

unsigned
bp_chan_tx_fetch(struct bp_chan *c, struct bp_desc *d, unsigned n)
{
	struct bp_desc bad[CHUNK];
	unsigned i, got, ok = 0, nbad = 0;
	enum bp_desc_err e;
	bool returnable;

	got = bp_ring_dequeue_burst(&c->tx, d, n);
	for (i = 0; i < got; i++) {
		e = bp_desc_check(&d[i], &c->tx_lim, BP_RING_TX);
		/* past TYPE and BUF the buffer index is valid (bp_desc_check checks them first);
		 * TCP commands other than SEND carry no buffer */
		returnable =
		        e != BP_DESC_ERR_TYPE && e != BP_DESC_ERR_BUF && d[i].buf != BP_BUF_NONE;
		if (e == BP_DESC_ERR_OK && d[i].buf == BP_BUF_NONE) {
			d[ok++] = d[i];
			continue;
		}
		if (returnable) {
			/* the buffer index is valid: is the buffer the app's to post? */
			if (bp_bufpool_held(&c->txpool, d[i].buf)) {
				c->err[BP_DESC_ERR_IN_FLIGHT]++;
				continue;
			}
			bp_bufpool_hold(&c->txpool, d[i].buf);
		}
		if (e == BP_DESC_ERR_OK) {
			d[ok++] = d[i];
			continue;
		}
		c->err[e]++;
		if (returnable) {
			/* refused but returnable: complete now with the reason */
			d[i].status = (uint16_t)e;
			bad[nbad++] = d[i];
			if (nbad == CHUNK) {
				bp_chan_tx_complete(c, bad, nbad);
				nbad = 0;
			}
		}
	}
	if (nbad)
		bp_chan_tx_complete(c, bad, nbad);
	c->cnt[BP_CHAN_CNT_TX_FETCHED] += ok;
	sync_ring_errs(c);
	return ok;
}

unsigned
bp_chan_tx_complete(struct bp_chan *c, const struct bp_desc *d, unsigned n)
{
	struct bp_desc out[CHUNK];
	unsigned i, k, m, done = 0;

	while (n) {
		m = n < CHUNK ? n : CHUNK;
		k = 0;
		for (i = 0; i < m; i++) {
			if (d[i].buf >= c->txpool.n || !bp_bufpool_held(&c->txpool, d[i].buf))
				continue; /* not ours to complete: a caller bug, never a duplicate
				           */
			bp_bufpool_unhold(&c->txpool, d[i].buf);
			if (d[i].type == BP_DESC_TCP_SEND)
				out[k] = (struct bp_desc){
				        .buf = d[i].buf,
				        .len = d[i].status ? 0 : d[i].len,
				        .type = BP_DESC_TCP_SENT,
				        .sock = d[i].sock,
				        .status = d[i].status,
				        .user = d[i].user,
				};
			else
				out[k] = (struct bp_desc){
				        .buf = d[i].buf,
				        .type = BP_DESC_TX_DONE,
				        .status = d[i].status,
				        .user = d[i].user,
				};
			k++;
		}
		i = bp_ring_enqueue_burst(&c->comp, out, k);
		c->cnt[BP_CHAN_CNT_COMP_FULL] += k - i;
		done += i;
		d += m;
		n -= m;
	}
	c->cnt[BP_CHAN_CNT_TX_COMPLETED] += done;
	if (done && bp_ring_wakeup_needed(&c->comp))
		ring_doorbell(c);
	sync_ring_errs(c);
	return done;
}
