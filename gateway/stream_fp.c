/* stream_fp.c - worker side of TCP streams: segments in, engine events to app rings, commands. */
#include <errno.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_ring.h>

#include "chan_fp.h"
#include "chan_priv.h"
#include "proto.h"

/* The engine's user value: the queue (a cache-aligned pointer below 2^48) and a slot or socket. */
#define TU(ch, id) ((uint64_t)(id) << 48 | (uint64_t)(uintptr_t)(ch))
#define TU_CH(u)   ((struct gw_chan *)(uintptr_t)((u) & ((UINT64_C(1) << 48) - 1)))
#define TU_ID(u)   ((unsigned)((u) >> 48))

static inline uint32_t
conn_id(const struct gw_tcp_slot *s, unsigned slot)
{
	return (uint32_t)s->gen << 16 | slot;
}

/* The slot an app's connection id names on this queue, or NULL. */
static inline struct gw_tcp_slot *
slot_of(struct gw_tcp_chan *tc, uint32_t id)
{
	unsigned i = id & 0xffff;
	struct gw_tcp_slot *s;

	if (i >= tc->nslots)
		return NULL;
	s = &tc->slot[i];
	if (!s->used || !s->c || s->gen != (uint16_t)(id >> 16))
		return NULL;
	return s;
}

static inline int
slot_alloc(struct gw_tcp_chan *tc)
{
	unsigned i;

	if (!tc->nfree)
		return -1;
	i = tc->free[--tc->nfree];
	tc->slot[i].gen = (uint16_t)(tc->slot[i].gen + 1 ? tc->slot[i].gen + 1 : 1);
	tc->slot[i].used = true;
	tc->slot[i].c = NULL;
	tc->slot[i].reason = 0;
	tc->slot[i].dq_head = tc->slot[i].dq_tail = BP_BUF_NONE;
	tc->slot[i].kick = false;
	tc->slot[i].fin_pending = false;
	tc->slot[i].l7in = tc->slot[i].l7out = NULL;
	tc->slot[i].l7_denied = false;
	return (int)i;
}

static inline void
slot_free(struct gw_tcp_chan *tc, unsigned i)
{
	if (!tc->slot[i].used)
		return;
	tc->slot[i].used = false;
	tc->slot[i].c = NULL;
	tc->free[tc->nfree++] = (uint16_t)i;
}

/* ---- L7 stream mode (policy/l7.h, docs/policy.md "Stream mode") ---- */

/*
 * Open both flows of a connection between local lip:lport and the slot's peer with the
 * generation the worker holds now. 0 (a flow may stay NULL: nothing to scan that way), or the
 * refusal of pol_l7_flow_open (-ENOSPC, -E2BIG: fail closed, the caller resets the connection;
 * counted by the streams context) with neither flow open.
 */
static int
l7_open(struct gw_worker *w, struct gw_tcp_slot *s, uint32_t lip, uint16_t lport)
{
	const struct pol_gen *g = pol_gen_current(&w->gw->gen);
	struct pol_acl_key k;
	uint16_t tenant;
	int r = 0;

	if (!w->l7s || !g)
		return 0;
	tenant = pol_gen_tenant_by_addr(g, lip);
	if (pol_l7_streams_on(g, POL_DIR_INGRESS)) {
		pol_acl_key_set(&k, tenant, STK_IPPROTO_TCP, s->peer_ip, lip, s->peer_port, lport);
		r = pol_l7_flow_open(w->l7s, g, POL_DIR_INGRESS, &k, &s->l7in);
	}
	if (!r && pol_l7_streams_on(g, POL_DIR_EGRESS)) {
		pol_acl_key_set(&k, tenant, STK_IPPROTO_TCP, lip, s->peer_ip, lport, s->peer_port);
		r = pol_l7_flow_open(w->l7s, g, POL_DIR_EGRESS, &k, &s->l7out);
	}
	if (r) {
		pol_l7_flow_close(w->l7s, s->l7in);
		s->l7in = s->l7out = NULL;
	}
	return r;
}

static inline void
l7_close(struct gw_worker *w, struct gw_tcp_slot *s)
{
	if (s->l7in || s->l7out) {
		pol_l7_flow_close(w->l7s, s->l7in);
		pol_l7_flow_close(w->l7s, s->l7out);
		s->l7in = s->l7out = NULL;
	}
}

/* A flow of s was denied (why): count it once (the gateway counter and, unless a scan error,
 * the deciding rule in the flow's generation); the RESET the app gets says EACCES. The caller
 * drops the chunk and aborts the connection. */
static void
l7_deny(struct gw_worker *w, struct gw_tcp_slot *s, const struct pol_l7_flow *f,
        const struct pol_l7_deny *why, uint32_t bytes, bool egress)
{
	if (s->l7_denied)
		return;
	s->l7_denied = true;
	s->reason = EACCES;
	w->cnt[egress ? GW_CNT_POLICY_TX_L7_DENY : GW_CNT_POLICY_L7_DENY]++;
	if (why->rule)
		pol_gen_count(pol_l7_flow_gen(f), w->id, why->rule, bytes);
}

/* The bytes the engine sends for the app's TX buffer d: the gateway's scanned copy when the
 * connection's egress is a stream (copied at TCP_SEND), else the app's buffer. */
static inline const uint8_t *
tx_bytes(struct gw_chan *ch, const struct gw_tcp_slot *s, const struct bp_desc *d)
{
	if (s->l7out)
		return ch->tcp->txcopy + (size_t)d->buf * ch->c.geom.tx_buf_size;
	return bp_chan_tx_data(&ch->c, d);
}

bool
gw_tcp_terminates(const struct gw_worker *w, const struct stk_pkt_info *info)
{
	const struct gw_demux *d;

	if (!w->tcp)
		return false;
	d = atomic_load_explicit(&w->gw->demux, memory_order_acquire);
	/* a raw socket on the address takes TCP before the engine (gw_chan_input) */
	return !d || !d->n || !gw_demux_find(d, info->dst_ip, 0, BP_PROTO_RAW);
}

/* ---- output ---- */

void
gw_tcp_flush(struct gw_worker *w)
{
	if (w->tcp_ntx) {
		gw_tx_burst(w, w->tcp_tx, w->tcp_ntx);
		w->tcp_ntx = 0;
	}
}

static void *
tx_alloc(void *ctx, uint8_t **frame)
{
	struct gw_worker *w = ctx;
	struct rte_mbuf *m = rte_pktmbuf_alloc(w->gw->pool);

	if (unlikely(!m)) {
		w->cnt[GW_CNT_TCP_TX_NO_MBUF]++;
		return NULL;
	}
	*frame = rte_pktmbuf_mtod(m, uint8_t *);
	return m;
}

/* Defer an abort until the engine call returns (callbacks must not call into the engine). */
static inline void
defer_abort(struct gw_worker *w, struct stk_tcp_conn *c)
{
	if (w->tcp_ndefer < GW_TCP_DEFER)
		w->tcp_defer[w->tcp_ndefer++] = stk_tcp_conn_id(c);
}

/* Deferred sends of a connection that can no longer send come back with status. */
static void
dq_fail(struct gw_chan *ch, struct gw_tcp_slot *s, uint16_t status)
{
	struct gw_tcp_chan *tc = ch->tcp;

	while (s->dq_head != BP_BUF_NONE) {
		uint32_t b = s->dq_head;
		struct bp_desc d = tc->txrec[b];

		s->dq_head = tc->txnext[b];
		d.status = status;
		bp_chan_tx_complete(&ch->c, &d, 1);
	}
	s->dq_tail = BP_BUF_NONE;
}

static inline void
dq_append(struct gw_tcp_chan *tc, struct gw_tcp_slot *s, uint32_t buf)
{
	tc->txnext[buf] = BP_BUF_NONE;
	if (s->dq_tail == BP_BUF_NONE)
		s->dq_head = buf;
	else
		tc->txnext[s->dq_tail] = buf;
	s->dq_tail = buf;
}

/* Hand the engine deferred sends, in order, while its send queue takes them. */
static void
dq_push(struct gw_worker *w, struct gw_chan *ch, struct gw_tcp_slot *s)
{
	struct gw_tcp_chan *tc = ch->tcp;

	while (s->dq_head != BP_BUF_NONE && s->c) {
		uint32_t b = s->dq_head;
		const struct bp_desc *d = &tc->txrec[b];
		int r = stk_tcp_send(w->tcp, s->c, tx_bytes(ch, s, d), d->len, b);

		if (r == -ENOBUFS)
			return;
		s->dq_head = tc->txnext[b];
		if (s->dq_head == BP_BUF_NONE)
			s->dq_tail = BP_BUF_NONE;
		if (r) {
			struct bp_desc f = *d;

			f.status = BP_DESC_ERR_CLOSED;
			ch->c.err[BP_DESC_ERR_CLOSED]++;
			bp_chan_tx_complete(&ch->c, &f, 1);
		}
	}
	if (s->dq_head == BP_BUF_NONE && s->fin_pending && s->c) {
		s->fin_pending = false;
		(void)stk_tcp_close(w->tcp, s->c); /* the FIN goes after the last held send */
	}
}

/* After an engine call: aborts the callbacks asked for, deferred sends that may go now. */
static void
defer_run(struct gw_worker *w)
{
	while (w->tcp_ndefer || w->tcp_nkick) {
		if (w->tcp_ndefer) {
			struct stk_tcp_conn *c =
			        stk_tcp_conn_by_id(w->tcp, w->tcp_defer[--w->tcp_ndefer]);

			if (c)
				stk_tcp_abort(w->tcp, c);
			continue;
		}
		{
			struct gw_tcp_kick k = w->tcp_kick[--w->tcp_nkick];
			struct gw_tcp_slot *s = &k.ch->tcp->slot[k.slot];

			if (s->used && s->gen == k.gen) {
				s->kick = false;
				dq_push(w, k.ch, s);
			}
		}
	}
}

/* A segment from the engine: payload copied behind the headers (one copy per transmission),
 * egress policy on the copy, then out (ARP resolved as for UDP sends). */
static void
tx_send(void *ctx, const struct stk_tcp_tx *tx)
{
	struct gw_worker *w = ctx;
	struct rte_mbuf *m = tx->pkt;
	uint8_t *f = tx->frame, mac[STK_ETH_ALEN];
	const struct pol_gen *g = pol_gen_current(&w->gw->gen);
	const struct stk_ipv4_hdr *ip = (const struct stk_ipv4_hdr *)(f + STK_ETH_HLEN);
	uint32_t off = tx->hdr_len, l4 = STK_ETH_HLEN + STK_IP_HLEN, nh;
	struct stk_buf b;
	unsigned i;
	int deny;

	if (unlikely(tx->hdr_len + tx->pay_len > rte_pktmbuf_tailroom(m) + m->data_len)) {
		w->cnt[GW_CNT_TCP_TX_NO_MBUF]++;
		rte_pktmbuf_free(m);
		return;
	}
	for (i = 0; i < tx->n_iov; i++) {
		rte_memcpy(f + off, tx->iov[i].base, tx->iov[i].len);
		off += tx->iov[i].len;
	}
	if (g && unlikely((deny = gw_policy_egress(w, g, STK_IPPROTO_TCP, rte_be_to_cpu_32(ip->src),
	                                           tx->dst_ip, (uint16_t)(f[l4] << 8 | f[l4 + 1]),
	                                           (uint16_t)(f[l4 + 2] << 8 | f[l4 + 3]), f + l4,
	                                           off - l4, tx->pay_len ? f + tx->hdr_len : NULL,
	                                           tx->pay_len, off, true)))) {
		w->cnt[GW_CNT_TCP_TX_DENY]++;
		rte_pktmbuf_free(m);
		/*
		 * Conntrack saw this flow reset (an RST the engine never got: dropped after the
		 * session took it, e.g. by the ingress meter): nothing but RSTs and pure ACKs of
		 * it leave any more, so the connection is aborted now rather than retransmitting
		 * into the refusal for max_retries RTOs with its quota slot held.
		 */
		if (deny == GW_CNT_CT_TX_RESET && tx->c) {
			enum stk_tcp_state st = stk_tcp_state(tx->c);

			if (st != STK_TCP_SYN_SENT && st != STK_TCP_SYN_RECEIVED) {
				struct gw_chan *ch = TU_CH(stk_tcp_user(tx->c));
				unsigned si = TU_ID(stk_tcp_user(tx->c));

				if (ch && si < ch->tcp->nslots)
					ch->tcp->slot[si].reason = ECONNRESET;
			}
			defer_abort(w, tx->c);
			return;
		}
		/* a refused SYN: the connect fails now rather than after every retry */
		if (tx->c && stk_tcp_state(tx->c) == STK_TCP_SYN_SENT) {
			struct gw_chan *ch = TU_CH(stk_tcp_user(tx->c));
			unsigned si = TU_ID(stk_tcp_user(tx->c));

			if (ch && si < ch->tcp->nslots)
				ch->tcp->slot[si].reason = EACCES;
			defer_abort(w, tx->c);
		}
		return;
	}
	b.len = off;
	b.flags = tx->flags;
	gw_mbuf_from_stk(m, &b);
	nh = stk_iface_route(w->stk.ifc, tx->dst_ip);
	if (unlikely(!nh)) {
		w->cnt[GW_CNT_TX_NO_ROUTE]++;
		rte_pktmbuf_free(m);
		return;
	}
	if (w->tcp_ntx >= GW_BURST - 1)
		gw_tcp_flush(w);
	gw_chan_route_out(w, m, nh, stk_arp_lookup(w->stk.arp, nh, mac) == 0 ? mac : NULL,
	                  w->tcp_tx, &w->tcp_ntx);
}

static void
rx_ref(void *ctx, void *buf)
{
	(void)ctx;
	rte_mbuf_refcnt_update(buf, 1);
}

static void
rx_unref(void *ctx, void *buf)
{
	(void)ctx;
	rte_pktmbuf_free(buf);
}

static int
quota(void *ctx, uint32_t tenant, int delta)
{
	struct gw_worker *w = ctx;
	struct gw_tcp_quota *q = w->gw->tcpq;
	unsigned max;

	if (tenant > POL_TENANT_ID_MAX)
		return -1;
	if (delta < 0) {
		atomic_fetch_sub_explicit(&q->use[tenant], 1, memory_order_relaxed);
		return 0;
	}
	max = atomic_load_explicit(&q->max[tenant], memory_order_relaxed);
	if (atomic_fetch_add_explicit(&q->use[tenant], 1, memory_order_relaxed) >= max && max) {
		atomic_fetch_sub_explicit(&q->use[tenant], 1, memory_order_relaxed);
		return -1;
	}
	return 0;
}

/* ---- events to the app ---- */

/* Copy as much of p's data as fits into RX buffers and post it. true when all of it went. */
static bool
deliver_data(struct gw_chan *ch, struct gw_tcp_pend *p)
{
	struct bp_chan *c = &ch->c;
	struct gw_tcp_chan *tc = ch->tcp;
	uint32_t size = c->geom.rx_buf_size;

	while (p->len) {
		uint32_t n = p->len < size ? p->len : size, idx;
		struct bp_desc d;

		if (!bp_ring_free_count(&c->rx) || !c->rxpool.nfree)
			return false;
		idx = bp_chan_rx_take(c);
		rte_memcpy(bp_chan_rx_buf(c, idx), p->data, n);
		d = p->d;
		d.buf = idx;
		d.len = (uint16_t)n;
		tc->rxrec[idx] = (struct gw_tcp_rxrec){.slot = p->slot, .gen = p->gen, .len = n};
		bp_chan_rx_post(c, &d, 1);
		p->data += n;
		p->len -= n;
	}
	return true;
}

/* Post one event now if nothing waits before it and there is room; else queue it. false: the
 * pending list is full (the caller resets the connection). Takes p->m either way on success. */
static bool
post(struct gw_worker *w, struct gw_chan *ch, struct gw_tcp_pend *p)
{
	struct gw_tcp_chan *tc = ch->tcp;

	gw_chan_flush(w); /* UDP deliveries staged for a queue count the same ring */
	if (!tc->pn) {
		if (p->m) {
			if (deliver_data(ch, p)) {
				rte_pktmbuf_free(p->m);
				return true;
			}
		} else if (bp_ring_free_count(&ch->c.rx)) {
			bp_chan_rx_post(&ch->c, &p->d, 1);
			return true;
		}
	}
	if (tc->pn == GW_TCP_PENDING) {
		w->cnt[GW_CNT_TCP_PEND_FULL]++;
		return false;
	}
	tc->pend[(tc->ph + tc->pn++) % GW_TCP_PENDING] = *p;
	w->cnt[GW_CNT_TCP_RX_PENDING]++;
	return true;
}

/* Deliver waiting events in order while there is room. */
static void
pending_run(struct gw_worker *w, struct gw_chan *ch)
{
	struct gw_tcp_chan *tc = ch->tcp;

	gw_chan_flush(w);
	while (tc->pn) {
		struct gw_tcp_pend *p = &tc->pend[tc->ph];

		if (p->m) {
			if (!deliver_data(ch, p))
				return;
			rte_pktmbuf_free(p->m);
		} else {
			if (!bp_ring_free_count(&ch->c.rx))
				return;
			bp_chan_rx_post(&ch->c, &p->d, 1);
		}
		tc->ph = (tc->ph + 1) % GW_TCP_PENDING;
		tc->pn--;
	}
}

static inline bool
listen_sock_ok(const struct gw_chan *ch, unsigned sock)
{
	const struct gw_sock *s;

	if (sock >= BP_MAX_SOCKS)
		return false;
	s = &ch->app->socks[sock];
	return atomic_load_explicit(&s->valid, memory_order_acquire) && s->proto == BP_PROTO_TCP &&
	       s->queue == ch->queue;
}

static int
on_accepted(struct gw_worker *w, const struct stk_tcp_event *ev)
{
	struct gw_chan *ch = TU_CH(ev->user);
	struct gw_tcp_chan *tc = ch->tcp;
	unsigned sock = TU_ID(ev->user);
	struct stk_tcp_info info;
	struct gw_tcp_pend p;
	struct gw_tcp_slot *s;
	int i;

	if (tc->dead || !listen_sock_ok(ch, sock) || (i = slot_alloc(tc)) < 0) {
		w->cnt[GW_CNT_TCP_ACCEPT_REFUSED]++;
		return -1;
	}
	s = &tc->slot[i];
	stk_tcp_conn_info(ev->c, &info);
	s->c = ev->c;
	s->listener = (uint16_t)sock;
	s->peer_ip = info.rip;
	s->peer_port = info.rport;
	s->cookie = 0;
	if (l7_open(w, s, info.lip, info.lport)) {
		/* fail closed: no stream state, no connection (counted by the streams context) */
		slot_free(tc, (unsigned)i);
		w->cnt[GW_CNT_TCP_ACCEPT_REFUSED]++;
		return -1;
	}
	stk_tcp_set_user(ev->c, TU(ch, i));
	memset(&p, 0, sizeof(p));
	p.d = (struct bp_desc){.buf = BP_BUF_NONE,
	                       .type = BP_DESC_TCP_ACCEPTED,
	                       .sock = conn_id(s, (unsigned)i),
	                       .addr_be = rte_cpu_to_be_32(info.rip),
	                       .port_be = rte_cpu_to_be_16(info.rport),
	                       .user = sock};
	if (!post(w, ch, &p)) {
		l7_close(w, s);
		slot_free(tc, (unsigned)i);
		w->cnt[GW_CNT_TCP_ACCEPT_REFUSED]++;
		return -1;
	}
	return 0;
}

static int
on_event(void *ctx, const struct stk_tcp_event *ev)
{
	struct gw_worker *w = ctx;
	struct gw_chan *ch;
	struct gw_tcp_chan *tc;
	struct gw_tcp_slot *s;
	struct gw_tcp_pend p;
	struct pol_l7_deny why;
	unsigned si;

	if (unlikely(w->tcp_dying)) {
		if (ev->type == STK_TCP_EV_RECV)
			rte_pktmbuf_free(ev->u.recv.buf);
		return -1;
	}
	if (ev->type == STK_TCP_EV_ACCEPTED)
		return on_accepted(w, ev);
	ch = TU_CH(ev->user);
	si = TU_ID(ev->user);
	tc = ch->tcp;
	s = &tc->slot[si];
	memset(&p, 0, sizeof(p));
	p.d.buf = BP_BUF_NONE;
	p.d.sock = conn_id(s, si);
	switch (ev->type) {
	case STK_TCP_EV_SENT: {
		struct bp_desc d = tc->txrec[ev->u.sent.cookie];

		d.status = ev->u.sent.status ? BP_DESC_ERR_CONN_GONE : 0;
		bp_chan_tx_complete(&ch->c, &d, 1);
		if (s->used && s->dq_head != BP_BUF_NONE && !s->kick) {
			/* room in the engine's send queue: deferred sends go after this call */
			if (w->tcp_nkick < GW_TCP_KICKS) {
				s->kick = true;
				w->tcp_kick[w->tcp_nkick++] = (struct gw_tcp_kick){
				        .ch = ch, .slot = (uint16_t)si, .gen = s->gen};
			} else {
				w->cnt[GW_CNT_TCP_KICK_LOST]++;
			}
		}
		return 0;
	}
	case STK_TCP_EV_RECV:
		if (tc->dead) {
			rte_pktmbuf_free(ev->u.recv.buf);
			return 0;
		}
		if (s->l7in && pol_l7_flow_scan(w->l7s, s->l7in, ev->u.recv.data, ev->u.recv.len,
		                                &why) == POL_L7_DENY) {
			/* the app never sees the chunk the match ends in, nor anything after */
			rte_pktmbuf_free(ev->u.recv.buf);
			l7_deny(w, s, s->l7in, &why, ev->u.recv.len, false);
			defer_abort(w, ev->c);
			return 0;
		}
		p.d.type = BP_DESC_TCP_RECV;
		p.m = ev->u.recv.buf;
		p.data = ev->u.recv.data;
		p.len = ev->u.recv.len;
		p.slot = (uint16_t)si;
		p.gen = s->gen;
		if (!post(w, ch, &p)) {
			/* cannot hold it, cannot drop it from a stream: the connection goes */
			rte_pktmbuf_free(p.m);
			s->reason = ENOBUFS;
			defer_abort(w, ev->c);
		}
		return 0;
	case STK_TCP_EV_CONNECTED:
		p.d.type = BP_DESC_TCP_CONNECTED;
		p.d.addr_be = rte_cpu_to_be_32(s->peer_ip);
		p.d.port_be = rte_cpu_to_be_16(s->peer_port);
		p.d.user = s->cookie;
		break;
	case STK_TCP_EV_EOF:
		if (s->l7in && pol_l7_flow_eof(w->l7s, s->l7in, &why) == POL_L7_DENY) {
			l7_deny(w, s, s->l7in, &why, 0, false); /* a `$` match at the end */
			defer_abort(w, ev->c);
			return 0;
		}
		p.d.type = BP_DESC_TCP_EOF;
		break;
	case STK_TCP_EV_CLOSED:
		p.d.type = BP_DESC_TCP_CLOSED;
		break;
	case STK_TCP_EV_RESET:
		p.d.type = BP_DESC_TCP_RESET;
		p.d.status = (uint16_t)(s->reason ? s->reason : -ev->u.reason);
		p.d.user = s->listener == UINT16_MAX ? s->cookie : 0;
		break;
	default:
		return 0;
	}
	if (!tc->dead && !post(w, ch, &p) && ev->type != STK_TCP_EV_CLOSED &&
	    ev->type != STK_TCP_EV_RESET) {
		s->reason = ENOBUFS;
		defer_abort(w, ev->c);
	}
	if (ev->type == STK_TCP_EV_CLOSED || ev->type == STK_TCP_EV_RESET) {
		dq_fail(ch, s, BP_DESC_ERR_CONN_GONE);
		l7_close(w, s);
		slot_free(tc, si);
	}
	return 0;
}

const struct stk_tcp_ops gw_tcp_ops = {
        .rx_ref = rx_ref,
        .rx_unref = rx_unref,
        .tx_alloc = tx_alloc,
        .tx_send = tx_send,
        .event = on_event,
        .quota = quota,
};

/* ---- input ---- */

/* A SYN for a TCP socket bound on a queue this worker serves, whose listener the engine does not
 * have yet: listen now (listeners are made on first use, by the worker that owns them). */
static bool
listen_lazy(struct gw_worker *w, const struct stk_pkt_info *info)
{
	const struct gw_demux *d = atomic_load_explicit(&w->gw->demux, memory_order_acquire);
	const struct gw_demux_ent *e;
	struct gw_tcp_chan *tc;
	struct stk_tcp_listener *l;

	if (!d || !d->n)
		return false;
	e = gw_demux_find(d, info->dst_ip, info->dst_port, BP_PROTO_TCP);
	if (!e || e->ch->worker != w->id || !e->ch->tcp || e->sock >= BP_MAX_SOCKS)
		return false;
	tc = e->ch->tcp;
	if (tc->dead)
		return false;
	if (tc->lis[e->sock]) {
		if (tc->lis_addr[e->sock] == e->addr && tc->lis_port[e->sock] == e->port)
			return false; /* it has one: the engine said no for another reason */
		stk_tcp_unlisten(w->tcp, tc->lis[e->sock]); /* a reused socket id */
		tc->lis[e->sock] = NULL;
	}
	l = stk_tcp_listen(w->tcp, e->addr, e->port, e->ch->app->tenant_id, w->gw->tcp_backlog,
	                   TU(e->ch, e->sock));
	if (!l)
		return false;
	tc->lis[e->sock] = l;
	tc->lis_addr[e->sock] = e->addr;
	tc->lis_port[e->sock] = e->port;
	atomic_store_explicit(&e->ch->tcp_busy, true, memory_order_release);
	return true;
}

bool
gw_tcp_input(struct gw_worker *w, struct rte_mbuf *m, struct stk_buf *b,
             const struct stk_pkt_info *info)
{
	struct stk_tcp_seg seg;
	enum stk_tcp_in r;

	if (unlikely(!w->tcp))
		return false;
	stk_tcp_seg_from_pkt(&seg, b, info, m);
	r = stk_tcp_seg_input(w->tcp, &seg);
	if (r == STK_TCP_IN_NO_PORT &&
	    (info->tcp_flags & (STK_TCP_SYN | STK_TCP_ACK | STK_TCP_RST)) == STK_TCP_SYN &&
	    listen_lazy(w, info))
		r = stk_tcp_seg_input(w->tcp, &seg);
	defer_run(w);
	if (r == STK_TCP_IN_NO_PORT)
		return false;
	rte_pktmbuf_free(m); /* the engine took the references it wanted */
	return true;
}

/* ---- the app's side ---- */

void
gw_tcp_rx_done(struct gw_worker *w, struct gw_chan *ch, const uint32_t *idx, unsigned n)
{
	struct gw_tcp_chan *tc = ch->tcp;
	unsigned i;

	for (i = 0; i < n; i++) {
		struct gw_tcp_rxrec *r = &tc->rxrec[idx[i]];
		struct gw_tcp_slot *s;

		if (!r->gen)
			continue;
		s = &tc->slot[r->slot];
		if (s->used && s->c && s->gen == r->gen)
			stk_tcp_recv_done(w->tcp, s->c, r->len);
		r->gen = 0;
	}
	if (tc->pn)
		pending_run(w, ch);
}

/* An active open failed before the engine had a connection: RESET with the cookie. */
static void
connect_fail(struct gw_worker *w, struct gw_chan *ch, const struct bp_desc *d, int err)
{
	struct gw_tcp_pend p;

	w->cnt[GW_CNT_TCP_CONNECT_FAIL]++;
	memset(&p, 0, sizeof(p));
	p.d = (struct bp_desc){.buf = BP_BUF_NONE,
	                       .type = BP_DESC_TCP_RESET,
	                       .addr_be = d->addr_be,
	                       .port_be = d->port_be,
	                       .status = (uint16_t)err,
	                       .user = d->user};
	(void)post(w, ch, &p);
}

static void
do_connect(struct gw_worker *w, struct gw_chan *ch, const struct bp_desc *d)
{
	const struct pol_tenant *t = atomic_load_explicit(&ch->app->tenant, memory_order_acquire);
	struct gw_tcp_chan *tc = ch->tcp;
	uint32_t lip, rip = rte_be_to_cpu_32(d->addr_be);
	uint16_t rport = rte_be_to_cpu_16(d->port_be);
	unsigned tries, nw = w->gw->n_workers;
	struct stk_tcp_conn *c = NULL;
	struct gw_tcp_slot *s;
	uint16_t lport = 0;
	int i, r = -EADDRINUSE;

	if (d->sock)
		lip = rte_be_to_cpu_32(d->sock);
	else
		lip = t->n_addrs ? t->addrs[0].addr : 0;
	if (!lip || !gw_tenant_has_addr(t, lip) || stk_iface_owns(w->stk.ifc, rip)) {
		connect_fail(w, ch, d, EADDRNOTAVAIL);
		return;
	}
	if (!stk_iface_route(w->stk.ifc, rip)) {
		connect_fail(w, ch, d, ENETUNREACH);
		return;
	}
	i = slot_alloc(tc);
	if (i < 0) {
		connect_fail(w, ch, d, ENOBUFS);
		return;
	}
	s = &tc->slot[i];
	s->listener = UINT16_MAX;
	s->peer_ip = rip;
	s->peer_port = rport;
	s->cookie = d->user;
	atomic_store_explicit(&ch->tcp_busy, true, memory_order_release);
	/* a port whose number says this worker: return traffic is steered here (gw_chan_steer) */
	for (tries = 0; tries < 64 && r == -EADDRINUSE; tries++) {
		uint32_t p = w->tcp_eph < GW_TCP_EPH_LO ? GW_TCP_EPH_LO : w->tcp_eph;

		while (p % nw != w->id)
			p++;
		if (p > 65535)
			for (p = GW_TCP_EPH_LO; p % nw != w->id; p++)
				;
		w->tcp_eph = (uint16_t)(p + nw > 65535 ? 0 : p + nw);
		lport = (uint16_t)p;
		r = stk_tcp_connect(w->tcp, lip, (uint16_t)p, rip, rport, ch->app->tenant_id,
		                    TU(ch, i), &c);
	}
	if (r) {
		slot_free(tc, (unsigned)i);
		connect_fail(w, ch, d, r == -EADDRINUSE ? EADDRINUSE : -r);
		return;
	}
	if (!s->used || s->c) /* a RESET during the call */
		return;
	s->c = c;
	/* the flows open before the app can send (it may while the handshake runs) */
	if (l7_open(w, s, lip, lport)) {
		s->reason = ENOBUFS; /* fail closed: the RESET that follows says why */
		stk_tcp_abort(w->tcp, c);
	}
}

bool
gw_tcp_cmd(struct gw_worker *w, struct gw_chan *ch, struct bp_desc *d)
{
	struct gw_tcp_chan *tc = ch->tcp;
	struct gw_tcp_slot *s;
	int r;

	if (unlikely(!w->tcp || !tc)) {
		ch->c.err[BP_DESC_ERR_TYPE]++;
		d->status = BP_DESC_ERR_TYPE;
		return d->type == BP_DESC_TCP_SEND;
	}
	if (d->type == BP_DESC_TCP_CONNECT) {
		do_connect(w, ch, d);
		defer_run(w);
		return false;
	}
	s = slot_of(tc, d->sock);
	if (!s) {
		ch->c.err[BP_DESC_ERR_CONN]++;
		d->status = BP_DESC_ERR_CONN;
		return d->type == BP_DESC_TCP_SEND;
	}
	switch (d->type) {
	case BP_DESC_TCP_SEND:
		if (unlikely(s->fin_pending)) {
			/* SHUTDOWN or CLOSE came first (held behind deferred sends): the engine
			 * would refuse it (FIN queued), so must the gateway, not send it before
			 * the FIN */
			d->status = BP_DESC_ERR_CLOSED;
			ch->c.err[d->status]++;
			return true;
		}
		if (s->l7out) {
			/* scan the gateway's copy, which is what the engine will send */
			uint8_t *cp = tc->txcopy + (size_t)d->buf * ch->c.geom.tx_buf_size;
			struct pol_l7_deny why;

			rte_memcpy(cp, bp_chan_tx_data(&ch->c, d), d->len);
			if (pol_l7_flow_scan(w->l7s, s->l7out, cp, d->len, &why) == POL_L7_DENY) {
				l7_deny(w, s, s->l7out, &why, d->len, true);
				stk_tcp_abort(w->tcp, s->c); /* RESET: the slot goes */
				defer_run(w);
				ch->c.err[BP_DESC_ERR_POLICY]++;
				d->status = BP_DESC_ERR_POLICY;
				return true;
			}
		}
		tc->txrec[d->buf] = *d;
		if (s->dq_head != BP_BUF_NONE)
			dq_push(w, ch, s);
		r = s->dq_head != BP_BUF_NONE
		            ? -ENOBUFS
		            : stk_tcp_send(w->tcp, s->c, tx_bytes(ch, s, d), d->len, d->buf);
		if (r == -ENOBUFS) {
			/* held here, in order, until a SENT makes room (the buffer stays in flight)
			 */
			dq_append(tc, s, d->buf);
			w->cnt[GW_CNT_TCP_SEND_DEFERRED]++;
			r = 0;
		}
		if (!r) {
			defer_run(w);
			return false;
		}
		d->status = BP_DESC_ERR_CLOSED;
		ch->c.err[d->status]++;
		return true;
	case BP_DESC_TCP_SHUTDOWN:
	case BP_DESC_TCP_CLOSE: {
		struct pol_l7_deny why;

		/* every send was scanned already: the app's end of the stream (`$`) */
		if (s->l7out && pol_l7_flow_eof(w->l7s, s->l7out, &why) == POL_L7_DENY) {
			l7_deny(w, s, s->l7out, &why, 0, true);
			stk_tcp_abort(w->tcp, s->c);
			break;
		}
		if (s->dq_head != BP_BUF_NONE)
			s->fin_pending = true; /* after the sends the gateway still holds */
		else
			(void)stk_tcp_close(w->tcp, s->c);
		break;
	}
	case BP_DESC_TCP_ABORT:
		stk_tcp_abort(w->tcp, s->c);
		break;
	default:
		break;
	}
	defer_run(w);
	return false;
}

/* DETACH: every connection reset, every listener closed, waiting events dropped. */
static void
detach(struct gw_worker *w, struct gw_chan *ch)
{
	struct gw_tcp_chan *tc = ch->tcp;
	unsigned i;

	tc->dead = true;
	for (i = 0; i < BP_MAX_SOCKS; i++)
		if (tc->lis[i]) {
			stk_tcp_unlisten(w->tcp, tc->lis[i]);
			tc->lis[i] = NULL;
		}
	for (i = 0; i < tc->nslots; i++)
		if (tc->slot[i].used && tc->slot[i].c)
			stk_tcp_abort(w->tcp, tc->slot[i].c);
	while (tc->pn) {
		rte_pktmbuf_free(tc->pend[tc->ph].m);
		tc->ph = (tc->ph + 1) % GW_TCP_PENDING;
		tc->pn--;
	}
	/*
	 * The aborts above queued kicks (a SENT of a connection with deferred sends) that name
	 * this queue's slots: run them now. Once tcp_busy is false the control thread may free
	 * the queue at once (app_inflight), so nothing of it may stay on the worker's lists.
	 */
	defer_run(w);
	atomic_store_explicit(&ch->tcp_busy, false, memory_order_release);
}

void
gw_tcp_poll(struct gw_worker *w)
{
	void *msg;

	if (unlikely(!w->tcp))
		return;
	stk_tcp_advance(w->tcp, w->stk.now_ns);
	defer_run(w);
	while (rte_ring_sc_dequeue(w->tcp_ctl, &msg) == 0) {
		struct gw_chan *ch = GW_TCP_MSG_CH(msg);
		struct gw_tcp_chan *tc = ch->tcp;
		unsigned sock = GW_TCP_MSG_SOCK(msg);

		if (GW_TCP_MSG_OP(msg) == GW_TCP_OP_DETACH) {
			detach(w, ch);
		} else if (GW_TCP_MSG_OP(msg) == GW_TCP_OP_UNLISTEN && sock < BP_MAX_SOCKS &&
		           tc->lis[sock]) {
			stk_tcp_unlisten(w->tcp, tc->lis[sock]);
			tc->lis[sock] = NULL;
		}
		defer_run(w);
	}
	gw_tcp_flush(w);
}
