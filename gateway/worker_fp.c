/* worker_fp.c - the worker lcore's run-to-completion loop: RX burst -> stack -> TX burst. */
#include <errno.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "gw.h"

/* Empty polls in a row before a worker with idle_sleep_us > 0 naps. */
#define IDLE_POLLS_BEFORE_SLEEP 256

void
gw_mbuf_from_stk(struct rte_mbuf *m, const struct stk_buf *b)
{
	m->data_len = (uint16_t)b->len;
	m->pkt_len = b->len;
	m->ol_flags &= RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT; /* how its buffer is freed */
	if (b->flags & STK_BUF_TX_IPCK) {
		m->l2_len = 14;
		m->l3_len = 20;
		m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	}
}

static inline void
stk_buf_from_mbuf(struct stk_buf *b, struct rte_mbuf *m)
{
	uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;

	b->data = rte_pktmbuf_mtod(m, uint8_t *);
	b->len = m->data_len;
	b->room = (uint32_t)m->data_len + rte_pktmbuf_tailroom(m);
	b->flags = 0;
	if (f == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		b->flags |= STK_BUF_RX_IPCK_GOOD;
	else if (f == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		b->flags |= STK_BUF_RX_IPCK_BAD;
	f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	if (f == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		b->flags |= STK_BUF_RX_L4CK_GOOD;
	else if (f == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		b->flags |= STK_BUF_RX_L4CK_BAD;
}

void
gw_tx_burst(struct gw_worker *w, struct rte_mbuf **tx, uint16_t n)
{
	uint16_t sent, i;
	uint64_t bytes = 0;

	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		bytes += tx[i]->pkt_len;
	sent = rte_eth_tx_burst(w->port_id, (uint16_t)w->id, tx, n);
	if (unlikely(sent < n)) {
		for (i = sent; i < n; i++)
			bytes -= tx[i]->pkt_len;
		w->cnt[GW_CNT_TX_DROP_FULL] += (uint64_t)(n - sent);
		rte_pktmbuf_free_bulk(&tx[sent], (unsigned)(n - sent));
	}
	w->cnt[GW_CNT_TX_PKTS] += sent;
	w->cnt[GW_CNT_TX_BYTES] += bytes;
}

/* Send tx[0..n-1]; frees and counts what the queue did not take. */
static inline void
tx_flush(struct gw_worker *w, struct rte_mbuf **tx, uint16_t n)
{
	uint16_t sent, i;
	uint64_t bytes = 0;

	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		bytes += tx[i]->pkt_len;
	sent = rte_eth_tx_burst(w->port_id, (uint16_t)w->id, tx, n);
	if (unlikely(sent < n)) {
		for (i = sent; i < n; i++)
			bytes -= tx[i]->pkt_len;
		w->cnt[GW_CNT_TX_DROP_FULL] += (uint64_t)(n - sent);
		rte_pktmbuf_free_bulk(&tx[sent], (unsigned)(n - sent));
	}
	w->cnt[GW_CNT_TX_PKTS] += sent;
	w->cnt[GW_CNT_TX_BYTES] += bytes;
}

/* Handle one received burst: takes pkts[0..n-1]. */
static inline void
rx_burst(struct gw_worker *w, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *tx[GW_BURST], *drop[GW_BURST];
	uint16_t ntx = 0, ndrop = 0, i;
	struct stk_pkt_info info;
	struct stk_buf b;
	uint64_t bytes = 0;

	for (i = 0; i < n && i < 4; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		enum stk_verdict v;

		if (i + 4 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 4], void *));
		bytes += m->pkt_len;
		if (unlikely(m->nb_segs != 1)) {
			w->cnt[GW_CNT_RX_MULTISEG]++;
			drop[ndrop++] = m;
			continue;
		}
		stk_buf_from_mbuf(&b, m);
		v = stk_input(&w->stk, &b, &info);
		if (v == STK_V_UDP || v == STK_V_TCP) {
			/* bound: delivered (or handed to the worker serving it), m taken */
			if (gw_chan_input(w, m, &b, &info, v))
				continue;
			if (v == STK_V_UDP)
				v = stk_udp_unreach(&w->stk, &b, &info);
			else
				v = stk_tcp_reset(&w->stk, &b, &info);
		}

		if (v == STK_V_TX) {
			gw_mbuf_from_stk(m, &b);
			tx[ntx++] = m;
		} else {
			drop[ndrop++] = m;
		}
	}
	w->cnt[GW_CNT_RX_PKTS] += n;
	w->cnt[GW_CNT_RX_BYTES] += bytes;
	gw_chan_flush(w);
	tx_flush(w, tx, ntx);
	if (ndrop)
		rte_pktmbuf_free_bulk(drop, ndrop);
}

/* Frames the control thread queued for this worker's TX queue (GARP, ARP requests). */
static inline void
ctl_drain(struct gw_worker *w)
{
	struct rte_mbuf *tx[GW_BURST];
	unsigned n;

	n = rte_ring_sc_dequeue_burst(w->ctl_tx, (void **)tx, GW_BURST, NULL);
	if (n) {
		w->cnt[GW_CNT_CTL_TX] += n;
		tx_flush(w, tx, (uint16_t)n);
	}
}

/* Packets held for ARP whose next hop resolved or timed out. */
static inline void
pending_drain(struct gw_worker *w)
{
	void *ready[GW_BURST], *expired[GW_BURST];
	uint8_t macs[GW_BURST][6];
	unsigned nr = 0, ne = 0, i;

	stk_arp_pending_poll(&w->stk, ready, macs, &nr, expired, &ne, GW_BURST);
	for (i = 0; i < nr; i++) {
		struct rte_mbuf *m = ready[i];

		memcpy(rte_pktmbuf_mtod(m, uint8_t *), macs[i], 6);
	}
	tx_flush(w, (struct rte_mbuf **)ready, (uint16_t)nr);
	if (ne)
		rte_pktmbuf_free_bulk((struct rte_mbuf **)expired, ne);
}

int
gw_worker_main(void *arg)
{
	struct gw_worker *w = arg;
	struct gw *gw = w->gw;
	struct rte_mbuf *pkts[GW_BURST];
	unsigned idle = 0;
	const unsigned sleep_us = gw->cfg->gw.idle_sleep_us;

	GW_LOG(INFO, "worker %u: lcore %u serving port %u queue %u", w->id, w->lcore_id, w->port_id,
	       w->id);
	rte_rcu_qsbr_thread_register(gw->rcu, w->id);
	rte_rcu_qsbr_thread_online(gw->rcu, w->id);
	while (!atomic_load_explicit(&gw->stop, memory_order_relaxed)) {
		uint16_t n;

		/* nothing published is held across this point: the control thread may free */
		rte_rcu_qsbr_quiescent(gw->rcu, w->id);

		w->stk.now_ns = gw_now_ns(gw);
		n = rte_eth_rx_burst(w->port_id, (uint16_t)w->id, pkts, GW_BURST);
		if (n)
			rx_burst(w, pkts, n);
		if (n + gw_chan_poll(w)) {
			idle = 0;
		} else if (sleep_us && ++idle >= IDLE_POLLS_BEFORE_SLEEP) {
			/* idle: not per packet. Lets a shared box breathe (tests, demo) */
			w->cnt[GW_CNT_IDLE_SLEEPS]++;
			/* PMDs that free sent mbufs lazily: let zero-copy buffers go back to apps
			 */
			if (gw->txz_min)
				rte_eth_tx_done_cleanup(w->port_id, (uint16_t)w->id, 0);
			rte_rcu_qsbr_thread_offline(gw->rcu,
			                            w->id); /* no grace period waits on a nap */
			usleep(sleep_us);
			rte_rcu_qsbr_thread_online(gw->rcu, w->id);
		}
		if (unlikely(!rte_ring_empty(w->ctl_tx)))
			ctl_drain(w);
		if (unlikely(w->stk.pending.n))
			pending_drain(w);
	}
	rte_rcu_qsbr_thread_offline(gw->rcu, w->id);
	rte_rcu_qsbr_thread_unregister(gw->rcu, w->id);
	atomic_store_explicit(&w->done, true, memory_order_release);
	return 0;
}
