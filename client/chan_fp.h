/* chan_fp.h - gateway worker side of a queue: descriptor checks, buffer tracking, RX/TX/DONE. */
#ifndef BYPASSD_CLIENT_CHAN_FP_H
#define BYPASSD_CLIENT_CHAN_FP_H

/*
 * Hot path, called by the one worker that owns the channel: no locks, no allocation; a system
 * call only to ring a doorbell for an app that armed one.
 *
 * A worker's round for one channel:
 *
 *	bp_chan_done_reap(c, 64);                     // RX buffers back from the app
 *	room = bp_chan_rx_room(c);                    // deliveries that fit now
 *	for each packet for this queue, up to room:
 *		idx = bp_chan_rx_take(c);
 *		memcpy(bp_chan_rx_buf(c, idx), payload, len);
 *		d[n++] = (struct bp_desc){.buf = idx, .len = len, .type = BP_DESC_UDP_RECV, ...};
 *	bp_chan_rx_post(c, d, n);                     // publish + doorbell if the app sleeps
 *	n = bp_chan_tx_fetch(c, t, 32);               // checked private copies, marked in flight
 *	for each t[i]: look t[i].sock up (not bound here: status BP_DESC_ERR_SOCK), build the
 *		packet from bp_chan_tx_data(c, &t[i]) (hostile memory: copy what you check), set
 *		t[i].status, and once the buffer is no longer needed:
 *	bp_chan_tx_complete(c, t, n);
 */

#include <string.h>

#include "chan.h"

/* ---- descriptor validation (pure) ---- */

/* True when a network-order IPv4 address is a unicast address one may send to. */
static inline bool
bp_addr_sendable(uint32_t addr_be)
{
	const uint8_t *a = (const uint8_t *)&addr_be;

	/* 0/8 "this network", 127/8 loopback, 224/4 multicast, 240/4 reserved + broadcast */
	return a[0] != 0 && a[0] != 127 && a[0] < 224;
}

/*
 * A TCP command (ABI 1.1). SEND carries a buffer (checked like a UDP payload, but up to the buffer
 * size: the engine cuts segments); the others carry none (buf BP_BUF_NONE, off = len = 0). The
 * connection id is checked by the caller against its own table.
 */
static inline enum bp_desc_err
bp_desc_check_tcp(const struct bp_desc *d, const struct bp_desc_limits *l)
{
	if (d->type == BP_DESC_TCP_SEND) {
		if (d->buf >= l->nbufs)
			return BP_DESC_ERR_BUF;
		if (d->flags & ~BP_DESC_F_VALID)
			return BP_DESC_ERR_FLAGS;
		if (d->status | d->addr_be | d->port_be)
			return BP_DESC_ERR_RESERVED;
		if (d->off >= l->buf_size)
			return BP_DESC_ERR_OFFSET;
		if ((uint32_t)d->off + d->len > l->buf_size)
			return BP_DESC_ERR_LENGTH;
		if (d->len == 0)
			return BP_DESC_ERR_TOO_SHORT;
		if (d->sock == 0)
			return BP_DESC_ERR_CONN;
		return BP_DESC_ERR_OK;
	}
	if (d->buf != BP_BUF_NONE)
		return BP_DESC_ERR_BUF;
	if (d->flags & ~BP_DESC_F_VALID)
		return BP_DESC_ERR_FLAGS;
	if (d->off | d->len | d->status)
		return BP_DESC_ERR_RESERVED;
	if (d->type == BP_DESC_TCP_CONNECT) {
		if (!bp_addr_sendable(d->addr_be))
			return BP_DESC_ERR_ADDR;
		if (d->port_be == 0)
			return BP_DESC_ERR_PORT;
		return BP_DESC_ERR_OK;
	}
	if (d->addr_be | d->port_be | d->user)
		return BP_DESC_ERR_RESERVED;
	if (d->sock == 0)
		return BP_DESC_ERR_CONN;
	return BP_DESC_ERR_OK;
}

/*
 * Check one descriptor the app posted on `ring` (BP_RING_TX or BP_RING_DONE). d must be the
 * caller's private copy (read once from shared memory). Checks everything that needs no state:
 * type for the ring, flags, unused fields zero, buffer index, offset and length against the area,
 * sizes against the MTU, destination; not whether the socket is bound (the caller's table) nor
 * buffer ownership (bp_bufpool_*). Returns BP_DESC_ERR_OK or the first reason found.
 */
static inline enum bp_desc_err
bp_desc_check(const struct bp_desc *d, const struct bp_desc_limits *l, enum bp_ring_id ring)
{
	if (ring == BP_RING_DONE) {
		if (d->type != BP_DESC_RX_DONE)
			return BP_DESC_ERR_TYPE;
		if (d->flags & ~BP_DESC_F_VALID)
			return BP_DESC_ERR_FLAGS;
		if (d->off | d->len | d->sock | d->addr_be | d->port_be | d->status | d->user)
			return BP_DESC_ERR_RESERVED;
		if (d->buf >= l->nbufs)
			return BP_DESC_ERR_BUF;
		return BP_DESC_ERR_OK;
	}
	if (ring != BP_RING_TX)
		return BP_DESC_ERR_TYPE;
	if (d->type >= BP_DESC_TCP_CONNECT && d->type <= BP_DESC_TCP_ABORT)
		return bp_desc_check_tcp(d, l);
	/* TYPE then BUF first: after them the buffer may be handed back with the reason */
	if (d->type != BP_DESC_UDP_SEND && !(d->type == BP_DESC_RAW_SEND && l->raw))
		return BP_DESC_ERR_TYPE;
	if (d->buf >= l->nbufs)
		return BP_DESC_ERR_BUF;
	if (d->flags & ~BP_DESC_F_VALID)
		return BP_DESC_ERR_FLAGS;
	if (d->status)
		return BP_DESC_ERR_RESERVED;
	if (d->type == BP_DESC_RAW_SEND && (d->addr_be | d->port_be))
		return BP_DESC_ERR_RESERVED;
	if (d->off >= l->buf_size)
		return BP_DESC_ERR_OFFSET;
	if ((uint32_t)d->off + d->len > l->buf_size)
		return BP_DESC_ERR_LENGTH;
	if (d->sock >= BP_MAX_SOCKS)
		return BP_DESC_ERR_SOCK;
	if (d->type == BP_DESC_UDP_SEND) {
		if (d->len > l->max_udp)
			return BP_DESC_ERR_TOO_BIG;
		if (!bp_addr_sendable(d->addr_be))
			return BP_DESC_ERR_ADDR;
		if (d->port_be == 0)
			return BP_DESC_ERR_PORT;
	} else {
		if (d->len > l->max_frame)
			return BP_DESC_ERR_TOO_BIG;
		if (d->len < 14)
			return BP_DESC_ERR_TOO_SHORT;
	}
	return BP_DESC_ERR_OK;
}

/* ---- buffer tracking ---- */

static inline bool
bp_bufpool_held(const struct bp_bufpool *p, uint32_t i)
{
	return (p->held[i >> 6] >> (i & 63)) & 1;
}

static inline void
bp_bufpool_hold(struct bp_bufpool *p, uint32_t i)
{
	p->held[i >> 6] |= UINT64_C(1) << (i & 63);
}

static inline void
bp_bufpool_unhold(struct bp_bufpool *p, uint32_t i)
{
	p->held[i >> 6] &= ~(UINT64_C(1) << (i & 63));
}

/* Pop a free buffer; UINT32_MAX when none. */
static inline uint32_t
bp_bufpool_get(struct bp_bufpool *p)
{
	return p->nfree ? p->free[--p->nfree] : UINT32_MAX;
}

/* Push a buffer back on the free stack. Never overflows: refuses (false) when full. */
static inline bool
bp_bufpool_put(struct bp_bufpool *p, uint32_t i)
{
	if (p->nfree >= p->n)
		return false;
	p->free[p->nfree++] = i;
	return true;
}

/* ---- RX: gateway -> app ---- */

/* How many deliveries fit now: free RX buffers and free RX ring slots. Once per burst. */
static inline uint32_t
bp_chan_rx_room(struct bp_chan *c)
{
	uint32_t ring = bp_ring_free_count(&c->rx);

	return ring < c->rxpool.nfree ? ring : c->rxpool.nfree;
}

/* Take a free RX buffer to fill (after bp_chan_rx_room said there is one). */
static inline uint32_t
bp_chan_rx_take(struct bp_chan *c)
{
	return bp_bufpool_get(&c->rxpool);
}

/* Give back a taken buffer that will not be posted after all. */
static inline void
bp_chan_rx_untake(struct bp_chan *c, uint32_t idx)
{
	(void)bp_bufpool_put(&c->rxpool, idx);
}

/* The gateway's writable view of RX buffer idx (rx_buf_size bytes). */
static inline uint8_t *
bp_chan_rx_buf(struct bp_chan *c, uint32_t idx)
{
	return c->rx_area + (size_t)idx * c->geom.rx_buf_size;
}

/*
 * Publish n RX descriptors whose buffers came from bp_chan_rx_take (or BP_BUF_NONE) and ring the
 * doorbell if the app sleeps. The caller checked room, so all are taken; returns n.
 */
unsigned bp_chan_rx_post(struct bp_chan *c, const struct bp_desc *d, unsigned n);

/* ---- DONE: app -> gateway ---- */

/* Take back up to max RX buffers from the DONE ring. Bad ones are counted. Returns how many. */
unsigned bp_chan_done_reap(struct bp_chan *c, unsigned max);
/* The same, and the index of every buffer taken back in idx[0..*nidx-1] (room for max). */
unsigned bp_chan_done_reap_idx(struct bp_chan *c, unsigned max, uint32_t *idx, unsigned *nidx);

/* ---- TX: app -> gateway ---- */

/*
 * Take up to n descriptors from the TX ring into d[] (private copies) and return how many are
 * valid (d[0..ret-1], their buffers now marked in flight; TCP commands without a buffer carry
 * BP_BUF_NONE and mark nothing). Refused ones are counted; those whose
 * buffer could be handed back are completed at once with the reason as status.
 */
unsigned bp_chan_tx_fetch(struct bp_chan *c, struct bp_desc *d, unsigned n);

/*
 * The payload of a fetched descriptor (checked by tx_fetch). The app can still write it while
 * the gateway reads: copy any bytes you validate (raw headers) before checking them.
 */
static inline const uint8_t *
bp_chan_tx_data(const struct bp_chan *c, const struct bp_desc *d)
{
	return c->tx_area + (size_t)d->buf * c->geom.tx_buf_size + d->off;
}

/*
 * Hand fetched TX buffers back: d[i] as returned by tx_fetch with d[i].status set (0 = sent, else
 * a bp_desc_err). A TCP_SEND comes back as TCP_SENT (sock and len as in d[i]: len = bytes
 * acknowledged), anything else as TX_DONE. Rings the doorbell if the app sleeps waiting for
 * buffers. Returns how many reached the COMP ring (fewer only when a hostile app stopped reaping:
 * counted COMP_FULL).
 */
unsigned bp_chan_tx_complete(struct bp_chan *c, const struct bp_desc *d, unsigned n);

#endif
