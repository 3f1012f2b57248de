/* stream.c - TCP glue, control side: engines per worker, queues' TCP state, messages, stats. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "chan_priv.h"

extern const struct stk_tcp_ops gw_tcp_ops; /* stream_fp.c */

#define MS_NS 1000000ull
#define S_NS  1000000000ull

/* gateway.tcp (every value already checked and defaulted by the loader) -> the engine's config */
static void
tcp_engine_cfg(const struct gw *gw, struct stk_tcp_cfg *cfg)
{
	const struct pol_cfg_tcp *tc = &gw->cfg->gw.tcp;

	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = tc->max_connections;
	cfg->max_listeners = tc->max_listeners;
	cfg->max_tenants = POL_TENANT_ID_MAX + 1;
	/* the window a connection advertises: what the gateway may hold for it unread */
	cfg->rcv_buf = tc->receive_buffer;
	cfg->snd_buf = tc->send_buffer;
	cfg->ooo_max_worker = tc->ooo_max;
	cfg->mss = (uint16_t)tc->mss;
	cfg->no_timestamps = !tc->timestamps;
	cfg->no_sack = !tc->sack;
	cfg->no_cookies = !tc->syn_cookies;
	/* off: the engine sums header and payload (af_packet, memif report no TCP offload) */
	cfg->tx_cksum_offload = gw->tx_tcpck_offload;
	cfg->delack_ns = tc->delayed_ack_ms * MS_NS;
	cfg->rto_init_ns = tc->initial_rto_ms * MS_NS;
	cfg->rto_min_ns = tc->min_rto_ms * MS_NS;
	cfg->rto_max_ns = tc->max_rto_ms * MS_NS;
	cfg->max_retries = tc->max_retries;
	cfg->syn_retries = tc->syn_retries;
	cfg->time_wait_ns = tc->time_wait_s * S_NS;
	cfg->max_time_wait = tc->max_time_wait;
	cfg->fin_wait2_ns = tc->fin_wait2_s * S_NS;
	cfg->keepalive = tc->keepalive;
	cfg->keep_idle_ns = tc->keepalive_idle_s * S_NS;
	cfg->keep_intvl_ns = tc->keepalive_interval_s * S_NS;
	cfg->keep_cnt = tc->keepalive_probes;
}

/* the effective settings, once at start */
static void
tcp_log_cfg(const struct gw *gw, const struct stk_tcp_cfg *c)
{
	const struct pol_cfg_tcp *tc = &gw->cfg->gw.tcp;
	static const char *const csum[] = {"auto", "on", "off"};

	GW_LOG(INFO,
	       "TCP engine, per worker: max_connections %u, max_listeners %u, max_time_wait %u, "
	       "ooo_max %u; per connection: receive_buffer %u, send_buffer %u, mss %u, "
	       "syn_backlog %u, timestamps %s, sack %s, syn_cookies %s",
	       c->max_conns, c->max_listeners, c->max_time_wait, c->ooo_max_worker, c->rcv_buf,
	       c->snd_buf, c->mss, gw->tcp_backlog, c->no_timestamps ? "off" : "on",
	       c->no_sack ? "off" : "on", c->no_cookies ? "off" : "on");
	GW_LOG(INFO,
	       "TCP timers: rto initial %u ms, min %u ms, max %u ms, max_retries %u, syn_retries %u, "
	       "delayed_ack %u ms, time_wait %u s, fin_wait2 %u s; keepalive %s (idle %u s, "
	       "interval %u s, probes %u); checksum offload %s (%s)",
	       tc->initial_rto_ms, tc->min_rto_ms, tc->max_rto_ms, c->max_retries, c->syn_retries,
	       tc->delayed_ack_ms, tc->time_wait_s, tc->fin_wait2_s, c->keepalive ? "on" : "off",
	       tc->keepalive_idle_s, tc->keepalive_interval_s, c->keep_cnt,
	       c->tx_cksum_offload ? "on" : "off", csum[tc->checksum_offload]);
}

/*
 * L7 stream state per worker: a flow handle for both directions of every connection the engine
 * can hold, and two slots a flow (operator and tenant tier). A slot holds one Hyperscan stream
 * state and 16 bytes: 47-66 bytes for 10-100 IDS-like signatures (docs/policy.md), so 256
 * leaves room; 32768 flows x 2 x 256 = 16 MB a worker. A generation whose state does not fit
 * fails closed (every TCP connection with a signature candidate is reset) and is logged.
 */
#define GW_L7_SLOT_BYTES 256

int
gw_tcp_init(struct gw *gw)
{
	struct stk_tcp_cfg cfg;
	char name[RTE_RING_NAMESIZE];
	unsigned i;

	gw->tcpq = rte_zmalloc("gw_tcp_quota", sizeof(*gw->tcpq), RTE_CACHE_LINE_SIZE);
	if (!gw->tcpq)
		return -ENOMEM;
	tcp_engine_cfg(gw, &cfg);
	gw->tcp_backlog = gw->cfg->gw.tcp.syn_backlog;
	tcp_log_cfg(gw, &cfg);
	for (i = 0; i < gw->n_workers; i++) {
		struct gw_worker *w = &gw->workers[i];
		struct stk_tcp_ops ops = gw_tcp_ops;

		snprintf(name, sizeof(name), "gw_tcp_ctl_%u", i);
		w->tcp_ctl = rte_ring_create(name, 1024, (int)rte_lcore_to_socket_id(w->lcore_id),
		                             RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!w->tcp_ctl)
			return -rte_errno;
		ops.ctx = w;
		w->tcp = stk_tcp_create(&cfg, &ops, &w->stk, gw_now_ns(gw));
		if (!w->tcp) {
			GW_LOG(ERR, "worker %u: TCP engine: %s", i, strerror(errno));
			return -errno;
		}
		w->l7s = pol_l7_streams_create(
		        &(struct pol_l7_streams_cfg){.max_flows = 2 * cfg.max_conns,
		                                     .max_streams = 4 * cfg.max_conns,
		                                     .slot_bytes = GW_L7_SLOT_BYTES},
		        i);
		if (!w->l7s) {
			GW_LOG(ERR, "worker %u: L7 streams: %s", i, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

void
gw_tcp_fini(struct gw *gw)
{
	unsigned i;

	for (i = 0; gw->workers && i < gw->n_workers; i++) {
		struct gw_worker *w = &gw->workers[i];

		w->tcp_dying = true; /* events of the teardown touch no queue */
		stk_tcp_destroy(w->tcp);
		w->tcp = NULL;
		pol_l7_streams_destroy(w->l7s); /* the flows the teardown left open */
		w->l7s = NULL;
		gw_tcp_flush(w); /* nothing: destroy sends nothing */
		rte_ring_free(w->tcp_ctl);
		w->tcp_ctl = NULL;
	}
	rte_free(gw->tcpq);
	gw->tcpq = NULL;
}

int
gw_tcp_chan_alloc(struct gw_chan *ch, unsigned nslots)
{
	struct gw_tcp_chan *tc;
	unsigned i;

	if ((uint64_t)(uintptr_t)ch >> 48 || ((uintptr_t)ch & 0x3f))
		return -EINVAL; /* the engine's user value packs the pointer in 48 bits */
	tc = rte_zmalloc("gw_tcp_chan", sizeof(*tc), RTE_CACHE_LINE_SIZE);
	if (!tc)
		return -ENOMEM;
	tc->rxrec = rte_zmalloc("gw_tcp_rx", sizeof(*tc->rxrec) * ch->c.geom.rx_bufs, 0);
	tc->txrec = rte_zmalloc("gw_tcp_tx", sizeof(*tc->txrec) * ch->c.geom.tx_bufs, 0);
	tc->txnext = rte_zmalloc("gw_tcp_txn", sizeof(*tc->txnext) * ch->c.geom.tx_bufs, 0);
	tc->nslots = nslots == 0 ? 1 : nslots > GW_TCP_CHAN_CONNS ? GW_TCP_CHAN_CONNS : nslots;
	tc->slot = rte_zmalloc("gw_tcp_slot", sizeof(*tc->slot) * tc->nslots, RTE_CACHE_LINE_SIZE);
	tc->free = rte_zmalloc("gw_tcp_free", sizeof(*tc->free) * tc->nslots, 0);
	/* calloc: pages are backed only once L7 copies a send into them */
	tc->txcopy = calloc(ch->c.geom.tx_bufs, ch->c.geom.tx_buf_size);
	if (!tc->rxrec || !tc->txrec || !tc->txnext || !tc->slot || !tc->free || !tc->txcopy) {
		free(tc->txcopy);
		rte_free(tc->rxrec);
		rte_free(tc->txrec);
		rte_free(tc->txnext);
		rte_free(tc->slot);
		rte_free(tc->free);
		rte_free(tc);
		return -ENOMEM;
	}
	for (i = 0; i < tc->nslots; i++)
		tc->free[i] = (uint16_t)(tc->nslots - 1 - i);
	tc->nfree = tc->nslots;
	ch->tcp = tc;
	return 0;
}

void
gw_tcp_chan_free(struct gw_chan *ch)
{
	struct gw_tcp_chan *tc = ch->tcp;

	if (!tc)
		return;
	/* events still waiting hold mbufs (the worker never got to DETACH: shutdown) */
	while (tc->pn) {
		rte_pktmbuf_free(tc->pend[tc->ph].m);
		tc->ph = (tc->ph + 1) % GW_TCP_PENDING;
		tc->pn--;
	}
	rte_free(tc->rxrec);
	rte_free(tc->txrec);
	rte_free(tc->txnext);
	rte_free(tc->slot);
	rte_free(tc->free);
	free(tc->txcopy);
	rte_free(tc);
	ch->tcp = NULL;
}

void
gw_tcp_unlisten(struct gw *gw, struct gw_chan *ch, uint32_t sock)
{
	struct gw_worker *w = &gw->workers[ch->worker];

	if (!w->tcp_ctl || !atomic_load_explicit(&ch->tcp_busy, memory_order_acquire))
		return;
	/* if the ring is full the listener stays in the engine, but refuses every accept: its
	 * socket is no longer valid (stream_fp.c listen_sock_ok); DETACH removes it */
	if (rte_ring_sp_enqueue(w->tcp_ctl, GW_TCP_MSG(ch, GW_TCP_OP_UNLISTEN, sock)))
		GW_LOG(WARNING, "worker %u: TCP message ring full: listener %u stays until detach",
		       ch->worker, sock);
}

bool
gw_tcp_detach(struct gw *gw, struct gw_chan *ch)
{
	struct gw_worker *w = &gw->workers[ch->worker];

	if (!atomic_load_explicit(&ch->tcp_busy, memory_order_acquire))
		return false;
	if (!ch->tcp_detach_sent && w->tcp_ctl &&
	    rte_ring_sp_enqueue(w->tcp_ctl, GW_TCP_MSG(ch, GW_TCP_OP_DETACH, 0)) == 0)
		ch->tcp_detach_sent = true;
	return true;
}

void
gw_tcp_set_quota(struct gw *gw, uint16_t tenant_id, uint32_t max)
{
	if (gw->tcpq && tenant_id <= POL_TENANT_ID_MAX)
		atomic_store_explicit(&gw->tcpq->max[tenant_id], max, memory_order_relaxed);
}

uint64_t
gw_tcp_counter(const struct gw *gw, unsigned i)
{
	uint64_t sum = 0;
	unsigned k;

	for (k = 0; k < gw->n_workers; k++)
		if (gw->workers[k].tcp)
			sum += stk_tcp_counters(gw->workers[k].tcp)[i];
	return sum;
}

void
gw_tcp_log_stats(const struct gw *gw, uint32_t level)
{
	char line[4096];
	size_t o = 0;
	unsigned i, k, conns = 0;

	if (!gw->workers || !gw->workers[0].tcp)
		return;
	for (k = 0; k < gw->n_workers; k++)
		conns += stk_tcp_conns_in_use(gw->workers[k].tcp);
	o += (size_t)snprintf(line + o, sizeof(line) - o, "tcp_conns_in_use=%u", conns);
	for (i = 0; i < STK_TCP_CNT__MAX && o < sizeof(line); i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " %s=%" PRIu64,
		                      stk_tcp_counter_names[i], gw_tcp_counter(gw, i));
	rte_log(level, gw_logtype, "GATEWAY: counters tcp: %s\n", line);
	{
		uint64_t c[POL_L7_SCNT__MAX];
		uint32_t flows, slots;

		gw_tcp_l7_counters(gw, c, &flows, &slots);
		o = (size_t)snprintf(line, sizeof(line),
		                     "l7_stream_flows_in_use=%u l7_stream_slots_in_use=%u", flows,
		                     slots);
		for (i = 0; i < POL_L7_SCNT__MAX && o < sizeof(line); i++)
			o += (size_t)snprintf(line + o, sizeof(line) - o, " %s=%" PRIu64,
			                      pol_l7_stream_counter_names[i], c[i]);
		rte_log(level, gw_logtype, "GATEWAY: counters l7 streams: %s\n", line);
	}
}

void
gw_tcp_l7_reap(struct gw *gw)
{
	static uint64_t checked; /* the generation whose stream size was checked (control thread) */
	struct pol_gen *g = atomic_load_explicit(&gw->gen, memory_order_acquire);
	unsigned k;

	for (k = 0; gw->workers && k < gw->n_workers; k++)
		pol_l7_streams_reap(gw->workers[k].l7s, g);
	if (g && pol_gen_number(g) != checked) {
		size_t need = pol_l7_stream_size(g);

		checked = pol_gen_number(g);
		if (need && need + 16 > GW_L7_SLOT_BYTES)
			GW_LOG(WARNING,
			       "generation %" PRIu64
			       ": L7 stream state of %zu bytes does not fit a "
			       "%u-byte slot: TCP connections with signature candidates are reset",
			       checked, need, GW_L7_SLOT_BYTES);
	}
}

void
gw_tcp_l7_counters(const struct gw *gw, uint64_t *out, uint32_t *flows, uint32_t *slots)
{
	uint64_t c[POL_L7_SCNT__MAX];
	unsigned i, k;

	memset(out, 0, sizeof(c));
	*flows = *slots = 0;
	for (k = 0; gw->workers && k < gw->n_workers; k++) {
		const struct pol_l7_streams *s = gw->workers[k].l7s;

		if (!s)
			continue;
		pol_l7_streams_counters(s, c);
		for (i = 0; i < POL_L7_SCNT__MAX; i++)
			out[i] += c[i];
		*flows += pol_l7_streams_flows_in_use(s);
		*slots += pol_l7_streams_slots_in_use(s);
	}
}
