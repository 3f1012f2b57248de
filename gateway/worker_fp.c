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
	if (b->flags & (STK_BUF_TX_IPCK | STK_BUF_TX_TCPCK)) {
		m->l2_len = 14;
		m->l3_len = 20;
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
		if (b->flags & STK_BUF_TX_IPCK)
			m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
		/* the engine left the pseudo-header sum in the TCP checksum field */
		if (b->flags & STK_BUF_TX_TCPCK)
			m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
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

static inline uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * ICMP to a tenant address: judged by the policy before the stack answers it (the stack still
 * validates what passes). true when it must be dropped (counted).
 */
static inline bool
icmp_denied(struct gw_worker *w, const struct pol_gen *g, const struct stk_buf *b, uint32_t len)
{
	const uint8_t *f = b->data, *ip = f + 14, *l4;
	struct stk_pkt_info info;
	uint32_t ihl, dst;
	uint16_t t;
	bool ok;

	if (b->len < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00 || ip[9] != 1)
		return false;
	ihl = (ip[0] & 15u) * 4u;
	if (ihl < 20 || b->len < 14 + ihl + 8 || (((ip[6] << 8) | ip[7]) & 0x3fff))
		return false; /* malformed or a fragment: the stack drops it */
	dst = rd32(ip + 16);
	t = pol_gen_tenant_by_addr(g, dst);
	if (t == POL_TENANT_NONE)
		return false;
	l4 = ip + ihl;
	memset(&info, 0, sizeof(info));
	info.src_ip = rd32(ip + 12);
	info.dst_ip = dst;
	info.proto = 1;
	info.l3_off = 14;
	info.l4_off = (uint16_t)(14 + ihl);
	if (l4[0] == 8 || l4[0] == 0) /* echo request/reply: the identifier is the "port" */
		info.src_port = info.dst_port = (uint16_t)(l4[4] << 8 | l4[5]);
	gw_policy_ingress(w, g, w->stk.now_ns, 1, b, &info, &t, &len, &ok);
	return !ok;
}

/* A UDP/TCP packet stk_input passed up: deliver it, or answer the closed port. */
static inline void
deliver(struct gw_worker *w, struct rte_mbuf *m, struct stk_buf *b, const struct stk_pkt_info *info,
        enum stk_verdict v, struct rte_mbuf **tx, uint16_t *ntx, struct rte_mbuf **drop,
        uint16_t *ndrop)
{
	/* bound: delivered (or handed to the worker serving it), m taken */
	if (gw_chan_input(w, m, b, info, v))
		return;
	/* a stream: this worker's TCP engine (connections, listeners), else the closed port */
	if (v == STK_V_TCP && gw_tcp_input(w, m, b, info))
		return;
	if (v == STK_V_UDP)
		v = stk_udp_unreach(&w->stk, b, info);
	else
		v = stk_tcp_reset(&w->stk, b, info);
	if (v == STK_V_TX) {
		gw_mbuf_from_stk(m, b);
		tx[(*ntx)++] = m;
	} else {
		drop[(*ndrop)++] = m;
	}
}

/* Handle one received burst: takes pkts[0..n-1]. */
static inline void
rx_burst(struct gw_worker *w, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *tx[GW_BURST], *drop[GW_BURST];
	uint16_t ntx = 0, ndrop = 0, i, np = 0;
	struct stk_pkt_info info;
	struct stk_buf b;
	uint64_t bytes = 0;
	/* packets to tenant addresses, judged by the policy as one burst before delivery */
	const struct pol_gen *g = pol_gen_current(&w->gw->gen);
	struct rte_mbuf *pm[GW_BURST];
	struct stk_buf pb[GW_BURST];
	struct stk_pkt_info pi[GW_BURST];
	uint8_t pv[GW_BURST];
	uint16_t pt[GW_BURST];
	uint32_t pl[GW_BURST];
	bool pok[GW_BURST];

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
		if (g && unlikely(icmp_denied(w, g, &b, m->pkt_len))) {
			drop[ndrop++] = m;
			continue;
		}
		v = stk_input(&w->stk, &b, &info);
		if (v == STK_V_UDP || v == STK_V_TCP) {
			uint16_t t = g ? pol_gen_tenant_by_addr(g, info.dst_ip) : POL_TENANT_NONE;

			if (t != POL_TENANT_NONE && np < GW_BURST) {
				/* judged where its app's queue is served (sessions live there) */
				if (gw_chan_steer(w, m, &b, &info, v))
					continue;
				pm[np] = m;
				pb[np] = b;
				pi[np] = info;
				pv[np] = (uint8_t)v;
				pt[np] = t;
				pl[np] = m->pkt_len;
				np++;
				continue;
			}
			/* the gateway's own addresses: the stack's, as before */
			deliver(w, m, &b, &info, v, tx, &ntx, drop, &ndrop);
			continue;
		}

		if (v == STK_V_TX) {
			gw_mbuf_from_stk(m, &b);
			tx[ntx++] = m;
		} else {
			drop[ndrop++] = m;
		}
	}
	if (np) {
		gw_policy_ingress(w, g, w->stk.now_ns, np, pb, pi, pt, pl, pok);
		for (i = 0; i < np; i++) {
			if (pok[i])
				deliver(w, pm[i], &pb[i], &pi[i], (enum stk_verdict)pv[i], tx, &ntx,
				        drop, &ndrop);
			else
				drop[ndrop++] = pm[i];
		}
	}
	w->cnt[GW_CNT_RX_PKTS] += n;
	w->cnt[GW_CNT_RX_BYTES] += bytes;
	gw_chan_flush(w);
	gw_tx_burst(w, tx, ntx);
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
		gw_tx_burst(w, tx, (uint16_t)n);
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
	gw_tx_burst(w, (struct rte_mbuf **)ready, (uint16_t)nr);
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
	w->ct = gw->ct[w->id];
	rte_rcu_qsbr_thread_register(gw->rcu, w->id);
	rte_rcu_qsbr_thread_online(gw->rcu, w->id);
	while (!atomic_load_explicit(&gw->stop, memory_order_relaxed)) {
		uint16_t n;

		/* nothing published is held across this point: the control thread may free */
		rte_rcu_qsbr_quiescent(gw->rcu, w->id);
		/* the interface a reload may have republished (owned addresses) */
		w->stk.ifc = atomic_load_explicit(&gw->ifc, memory_order_acquire);

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
		gw_policy_expire(w, w->stk.now_ns); /* idle sessions, removed tenants' */
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
