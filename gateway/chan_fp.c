/* chan_fp.c - worker side of app queues: demux and deliver, serve DONE and TX rings, hand off. */
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "chan_fp.h"
#include "chan_priv.h"
#include "proto.h"

/* Descriptors taken from one TX ring per poll: bounds a hostile app's share of a worker. */
#define TX_PER_POLL   32
/* DONE descriptors reaped per poll */
#define DONE_PER_POLL 256

const struct gw_demux_ent *
gw_demux_find(const struct gw_demux *d, uint32_t addr, uint16_t port, uint16_t proto)
{
	uint32_t h = gw_demux_hash(addr, port, proto) & d->mask;

	while (d->e[h].addr) {
		if (d->e[h].addr == addr && d->e[h].port == port && d->e[h].proto == proto)
			return &d->e[h];
		h = (h + 1) & d->mask;
	}
	return NULL;
}

void
gw_chan_flush(struct gw_worker *w)
{
	if (w->stage_n) {
		bp_chan_rx_post(&w->stage_ch->c, w->stage, w->stage_n);
		w->stage_n = 0;
	}
	w->stage_ch = NULL;
}

/* Copy one datagram (or whole frame for raw) into the channel's RX area; takes m. */
static inline void
deliver(struct gw_worker *w, const struct gw_demux_ent *e, struct rte_mbuf *m,
        const struct stk_pkt_info *info)
{
	struct gw_chan *ch = e->ch;
	struct bp_chan *c = &ch->c;
	const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t off, len, idx;
	struct bp_desc *d;
	bool raw = e->proto == BP_PROTO_RAW;

	if (raw) {
		off = 0;
		len = (uint32_t)info->pay_off + info->pay_len; /* the frame, without padding */
	} else {
		off = info->pay_off;
		len = info->pay_len;
	}
	if (w->stage_ch != ch || w->stage_n == GW_BURST) {
		/* room is read once per stage: one look at the app's consumer index per burst */
		gw_chan_flush(w);
		w->stage_ch = ch;
		w->stage_room = bp_chan_rx_room(c);
	}
	if (unlikely(len > c->geom.rx_buf_size)) {
		w->cnt[GW_CNT_UDP_RX_TOO_BIG]++;
		goto out;
	}
	if (unlikely(w->stage_room == 0)) {
		w->cnt[GW_CNT_UDP_RX_NO_ROOM]++;
		ch->cnt[GW_CHAN_CNT_UDP_RX_NO_ROOM]++;
		goto out;
	}
	w->stage_room--;
	idx = bp_chan_rx_take(c);
	rte_memcpy(bp_chan_rx_buf(c, idx), data + off, len);
	d = &w->stage[w->stage_n++];
	*d = (struct bp_desc){
	        .buf = idx,
	        .len = (uint16_t)len,
	        .type = raw ? BP_DESC_RAW_RECV : BP_DESC_UDP_RECV,
	        .sock = e->sock,
	        .addr_be = rte_cpu_to_be_32(info->src_ip),
	        .port_be = raw ? 0 : rte_cpu_to_be_16(info->src_port),
	};
	if (raw) {
		w->cnt[GW_CNT_RAW_RX_DELIVERED]++;
		ch->cnt[GW_CHAN_CNT_RAW_RX]++;
	} else {
		w->cnt[GW_CNT_UDP_RX_DELIVERED]++;
		ch->cnt[GW_CHAN_CNT_UDP_RX]++;
	}
out:
	rte_pktmbuf_free(m);
}

/* Find the socket for a datagram: UDP (addr, port), else a raw socket on addr. */
static inline const struct gw_demux_ent *
lookup(const struct gw_demux *d, const struct stk_pkt_info *info, enum stk_verdict v)
{
	const struct gw_demux_ent *e = NULL;

	if (!d || d->n == 0)
		return NULL;
	if (v == STK_V_UDP)
		e = gw_demux_find(d, info->dst_ip, info->dst_port, BP_PROTO_UDP);
	if (!e)
		e = gw_demux_find(d, info->dst_ip, 0, BP_PROTO_RAW);
	return e;
}

/* Pass a datagram to worker `to`; it re-checks the demux on arrival. Takes m. */
static inline void
handoff_to(struct gw_worker *w, unsigned to, struct rte_mbuf *m, const struct stk_buf *b,
           const struct stk_pkt_info *info, enum stk_verdict v, bool judged)
{
	struct gw_mbuf_priv *priv;

	m->data_len = (uint16_t)b->len;
	m->pkt_len = b->len;
	priv = rte_mbuf_to_priv(m);
	priv->info = *info;
	priv->verdict = (uint8_t)v;
	priv->judged = judged;
	if (rte_ring_mp_enqueue(w->gw->workers[to].handoff, m)) {
		w->cnt[GW_CNT_CHAN_HANDOFF_DROP]++;
		rte_pktmbuf_free(m);
	} else {
		w->cnt[GW_CNT_CHAN_HANDOFF]++;
	}
}

/* Pass a datagram to the worker serving queue e. Takes m. */
static inline void
handoff(struct gw_worker *w, const struct gw_demux_ent *e, struct rte_mbuf *m,
        const struct stk_buf *b, const struct stk_pkt_info *info, enum stk_verdict v, bool judged)
{
	handoff_to(w, e->ch->worker, m, b, info, v, judged);
}

bool
gw_chan_input(struct gw_worker *w, struct rte_mbuf *m, const struct stk_buf *b,
              const struct stk_pkt_info *info, enum stk_verdict v)
{
	const struct gw_demux *d = atomic_load_explicit(&w->gw->demux, memory_order_acquire);
	const struct gw_demux_ent *e = lookup(d, info, v);

	if (!e)
		return false;
	if (likely(e->ch->worker == w->id)) {
		deliver(w, e, m, info);
		return true;
	}
	handoff(w, e, m, b, info, v, true);
	return true;
}

bool
gw_chan_steer(struct gw_worker *w, struct rte_mbuf *m, const struct stk_buf *b,
              const struct stk_pkt_info *info, enum stk_verdict v)
{
	const struct gw_demux *d;
	const struct gw_demux_ent *e;

	if (w->gw->n_workers == 1)
		return false;
	d = atomic_load_explicit(&w->gw->demux, memory_order_acquire);
	if (v == STK_V_TCP) {
		/* a listener's port: its queue's worker; else a raw socket on the address; else an
		 * active open's port says its worker */
		unsigned to;

		e = d && d->n ? gw_demux_find(d, info->dst_ip, info->dst_port, BP_PROTO_TCP) : NULL;
		if (!e)
			e = lookup(d, info, v);
		if (e)
			to = e->ch->worker;
		else if (info->dst_port >= GW_TCP_EPH_LO)
			to = info->dst_port % w->gw->n_workers;
		else
			return false;
		if (to == w->id)
			return false;
		handoff_to(w, to, m, b, info, v, false);
		return true;
	}
	e = lookup(d, info, v);
	if (!e || e->ch->worker == w->id)
		return false;
	handoff(w, e, m, b, info, v, false);
	return true;
}

/*
 * Datagrams other workers passed on: those not judged yet (steered before the policy, so the
 * conntrack of this worker, the one that holds its app's sessions, sees both directions) go
 * through the ingress policy here as one burst; then each is delivered if still bound here.
 */
static void
handoff_drain(struct gw_worker *w)
{
	const struct gw_demux *d = atomic_load_explicit(&w->gw->demux, memory_order_acquire);
	const struct pol_gen *g = pol_gen_current(&w->gw->gen);
	struct rte_mbuf *ms[GW_BURST];
	struct stk_buf pb[GW_BURST];
	struct stk_pkt_info pi[GW_BURST];
	uint16_t pt[GW_BURST];
	uint32_t pl[GW_BURST];
	uint8_t px[GW_BURST];
	bool ok[GW_BURST];
	unsigned n, i, np = 0;

	n = rte_ring_sc_dequeue_burst(w->handoff, (void **)ms, GW_BURST, NULL);
	for (i = 0; i < n; i++) {
		const struct gw_mbuf_priv *p = rte_mbuf_to_priv(ms[i]);
		uint16_t t;

		ok[i] = true;
		if (p->judged || !g)
			continue;
		t = pol_gen_tenant_by_addr(g, p->info.dst_ip);
		if (t == POL_TENANT_NONE) {
			ok[i] = false; /* no tenant's any more (a reload while in flight) */
			continue;
		}
		pb[np] = (struct stk_buf){.data = rte_pktmbuf_mtod(ms[i], uint8_t *),
		                          .len = ms[i]->data_len,
		                          .room = ms[i]->data_len};
		pi[np] = p->info;
		pt[np] = t;
		pl[np] = ms[i]->pkt_len;
		px[np++] = (uint8_t)i;
	}
	if (np) {
		bool pok[GW_BURST];

		gw_policy_ingress(w, g, w->stk.now_ns, np, pb, pi, pt, pl, pok);
		for (i = 0; i < np; i++)
			if (!pok[i]) {
				ok[px[i]] = false;
				rte_pktmbuf_free(ms[px[i]]); /* counted by the policy */
				ms[px[i]] = NULL;
			}
	}
	for (i = 0; i < n; i++) {
		const struct gw_mbuf_priv *p;
		const struct gw_demux_ent *e;

		if (!ms[i])
			continue;
		p = rte_mbuf_to_priv(ms[i]);
		e = ok[i] ? lookup(d, &p->info, (enum stk_verdict)p->verdict) : NULL;
		if (e && e->ch->worker == w->id) {
			deliver(w, e, ms[i], &p->info);
		} else if (ok[i] && p->verdict == STK_V_TCP) {
			/* a stream segment: this worker's engine, or the closed port's RST */
			struct stk_pkt_info info = p->info;
			struct stk_buf b = {.data = rte_pktmbuf_mtod(ms[i], uint8_t *),
			                    .len = ms[i]->data_len,
			                    .room = ms[i]->data_len};

			gw_chan_flush(w);
			if (!gw_tcp_input(w, ms[i], &b, &info)) {
				if (stk_tcp_reset(&w->stk, &b, &info) == STK_V_TX) {
					gw_mbuf_from_stk(ms[i], &b);
					gw_tx_burst(w, &ms[i], 1);
				} else {
					rte_pktmbuf_free(ms[i]);
				}
			}
		} else {
			/* unbound or moved while in flight */
			w->cnt[GW_CNT_CHAN_HANDOFF_DROP]++;
			rte_pktmbuf_free(ms[i]);
		}
	}
	gw_chan_flush(w);
}

/* Send an IPv4 frame to next hop nh: its MAC when known (mac), else hold it for ARP. */
static inline void
route_out(struct gw_worker *w, struct rte_mbuf *m, uint32_t nh, const uint8_t *mac,
          struct rte_mbuf **tx, uint16_t *ntx)
{
	const struct stk_iface *ifc = w->stk.ifc;
	struct rte_mbuf *req;
	uint32_t len;
	int r;

	if (likely(mac != NULL)) {
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), mac, STK_ETH_ALEN);
		tx[(*ntx)++] = m;
		return;
	}
	r = stk_arp_hold(&w->stk, nh, m);
	if (r < 0) {
		rte_pktmbuf_free(m); /* counted by the stack */
		return;
	}
	w->cnt[GW_CNT_TX_ARP_HELD]++;
	if (r == 1) {
		req = rte_pktmbuf_alloc(w->gw->pool);
		if (!req)
			return;
		len = stk_arp_build_request(ifc, stk_iface_src_for(ifc, nh), nh,
		                            rte_pktmbuf_mtod(req, uint8_t *),
		                            rte_pktmbuf_tailroom(req));
		if (!len) {
			rte_pktmbuf_free(req);
			return;
		}
		req->data_len = (uint16_t)len;
		req->pkt_len = len;
		tx[(*ntx)++] = req; /* counted arp_requests_out by stk_arp_hold */
	}
}

void
gw_chan_route_out(struct gw_worker *w, struct rte_mbuf *m, uint32_t nh, const uint8_t *mac,
                  struct rte_mbuf **tx, uint16_t *ntx)
{
	route_out(w, m, nh, mac, tx, ntx);
}

/* The port let go of a zero-copy payload: the app's TX buffer goes back. Runs on the thread that
 * frees the mbuf: the worker serving the queue (its TX queue's completions). */
static void
txz_free(void *addr, void *opaque)
{
	struct gw_txz *z = opaque;

	(void)addr;
	bp_chan_tx_complete(&z->ch->c, &z->d, 1);
	atomic_fetch_sub_explicit(&z->ch->txz_inflight, 1, memory_order_release);
}

/* Headers in one mbuf, the payload left in the app's TX buffer behind it. NULL: no mbufs. */
static inline struct rte_mbuf *
udp_zero_copy(struct gw_worker *w, struct gw_chan *ch, const struct gw_sock *s,
              const struct bp_desc *d, uint32_t dst)
{
	struct bp_chan *c = &ch->c;
	struct rte_mbuf *h, *e;
	struct gw_txz *z = &ch->txz[d->buf];
	uint8_t *buf = (uint8_t *)(uintptr_t)(c->tx_area + (size_t)d->buf * c->geom.tx_buf_size);
	uint16_t buf_len =
	        c->geom.tx_buf_size > UINT16_MAX ? UINT16_MAX : (uint16_t)c->geom.tx_buf_size;
	struct stk_buf b;

	h = rte_pktmbuf_alloc(w->gw->pool);
	if (unlikely(!h))
		return NULL;
	e = rte_pktmbuf_alloc(w->gw->ext_pool);
	if (unlikely(!e)) {
		rte_pktmbuf_free(h);
		return NULL;
	}
	b.len = stk_udp_build(&w->stk, rte_pktmbuf_mtod(h, uint8_t *), s->addr, s->port, dst,
	                      rte_be_to_cpu_16(d->port_be), buf + d->off, d->len, &b.flags);
	b.len = STK_UDP_HDRS;
	gw_mbuf_from_stk(h, &b);
	z->ch = ch;
	z->d = *d;
	z->d.status = 0;
	z->sh.free_cb = txz_free;
	z->sh.fcb_opaque = z;
	rte_mbuf_ext_refcnt_set(&z->sh, 1);
	/* IOVA = VA here (checked when the port was set up) */
	rte_pktmbuf_attach_extbuf(e, buf, (rte_iova_t)(uintptr_t)buf, buf_len, &z->sh);
	e->data_off = d->off;
	e->data_len = d->len;
	e->pkt_len = d->len;
	h->next = e;
	h->nb_segs = 2;
	h->pkt_len = STK_UDP_HDRS + (uint32_t)d->len;
	atomic_fetch_add_explicit(&ch->txz_inflight, 1, memory_order_relaxed);
	return h;
}

static inline uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * A raw frame the tenant sent may only speak for the tenant: Ethernet source ours; ARP only with
 * our MAC and one of its addresses as sender (else it could poison a peer's cache for another
 * tenant); IPv4 from one of its addresses, UDP/TCP from one of its ports, ICMP errors only about
 * packets sent to it, no redirects. f is the gateway's private copy.
 */
static inline bool
raw_allowed(const struct gw_worker *w, const struct pol_tenant *t, const uint8_t *f, uint32_t len)
{
	const struct stk_eth_hdr *eth = (const struct stk_eth_hdr *)f;
	const struct stk_ipv4_hdr *ip = (const struct stk_ipv4_hdr *)(eth + 1);
	const uint8_t *l4;
	uint32_t ihl;

	if (len < STK_ETH_HLEN || memcmp(eth->src, w->stk.ifc->mac, STK_ETH_ALEN))
		return false;
	if (eth->type == rte_cpu_to_be_16(STK_ETH_P_ARP)) {
		const struct stk_arp_hdr *arp = (const struct stk_arp_hdr *)(eth + 1);

		return len >= STK_ETH_HLEN + STK_ARP_LEN &&
		       !memcmp(arp->sha, w->stk.ifc->mac, STK_ETH_ALEN) &&
		       gw_tenant_has_addr(t, rte_be_to_cpu_32(arp->spa));
	}
	if (eth->type != rte_cpu_to_be_16(STK_ETH_P_IPV4) || len < STK_ETH_HLEN + STK_IP_HLEN)
		return false;
	if (!gw_tenant_has_addr(t, rte_be_to_cpu_32(ip->src)))
		return false;
	ihl = (ip->ver_ihl & 15u) * 4u;
	if (ihl < STK_IP_HLEN || len < STK_ETH_HLEN + ihl)
		return false;
	if (ip->frag_off & rte_cpu_to_be_16(STK_IP_OFFMASK))
		return true; /* a later fragment: no L4 header in it */
	l4 = f + STK_ETH_HLEN + ihl;
	if (ip->proto == STK_IPPROTO_UDP || ip->proto == STK_IPPROTO_TCP) {
		const struct pol_port_range *r = ip->proto == STK_IPPROTO_UDP ? t->udp : t->tcp;
		unsigned n = ip->proto == STK_IPPROTO_UDP ? t->n_udp : t->n_tcp;
		uint16_t sport;

		if (len < STK_ETH_HLEN + ihl + 4)
			return false;
		sport = (uint16_t)(l4[0] << 8 | l4[1]);
		return gw_port_in(r, n, sport);
	}
	if (ip->proto == STK_IPPROTO_ICMP) {
		if (len < STK_ETH_HLEN + ihl + STK_ICMP_HLEN)
			return false;
		switch (l4[0]) {
		case 5: /* redirect */
			return false;
		case 3:  /* destination unreachable */
		case 4:  /* source quench */
		case 11: /* time exceeded */
		case 12: /* parameter problem */
			/* the quoted packet must have been sent to this tenant */
			if (len < STK_ETH_HLEN + ihl + STK_ICMP_HLEN + STK_IP_HLEN)
				return false;
			return gw_tenant_has_addr(t, get32(l4 + STK_ICMP_HLEN + 16));
		default:
			return true;
		}
	}
	return true;
}

/* Egress policy for a raw frame that passed raw_allowed: 0 when it may go. */
static inline int
raw_policy(struct gw_worker *w, const struct pol_gen *g, const uint8_t *f, uint32_t len)
{
	const struct stk_eth_hdr *eth = (const struct stk_eth_hdr *)f;
	const struct stk_ipv4_hdr *ip = (const struct stk_ipv4_hdr *)(eth + 1);
	const uint8_t *l4 = NULL, *pay_p = NULL;
	uint16_t sport = 0, dport = 0;
	uint32_t ihl, tot, l4_avail = 0, pay = 0;

	if (eth->type != rte_cpu_to_be_16(STK_ETH_P_IPV4))
		return 0; /* ARP: raw_allowed checked it */
	ihl = (ip->ver_ihl & 15u) * 4u;
	tot = rte_be_to_cpu_16(ip->tot_len);
	if (!(ip->frag_off & rte_cpu_to_be_16(STK_IP_OFFMASK)) &&
	    (ip->proto == STK_IPPROTO_UDP || ip->proto == STK_IPPROTO_TCP) &&
	    len >= STK_ETH_HLEN + ihl + 4) {
		l4 = f + STK_ETH_HLEN + ihl;
		l4_avail = len - STK_ETH_HLEN - ihl;
		sport = (uint16_t)(l4[0] << 8 | l4[1]);
		dport = (uint16_t)(l4[2] << 8 | l4[3]);
		if (ip->proto == STK_IPPROTO_TCP && l4_avail >= 20) {
			uint32_t hl = (uint32_t)(l4[12] >> 4) * 4u;

			pay = tot > ihl + hl ? tot - ihl - hl : 0;
			/* L7 scans what is in the frame (the copy), never past it */
			if (pay && l4_avail > hl) {
				pay_p = l4 + hl;
				pay = RTE_MIN(pay, l4_avail - hl);
			} else {
				pay = 0;
			}
		} else if (ip->proto == STK_IPPROTO_UDP && l4_avail > STK_UDP_HLEN &&
		           tot > ihl + STK_UDP_HLEN) {
			pay_p = l4 + STK_UDP_HLEN;
			pay = RTE_MIN(tot - ihl - STK_UDP_HLEN, l4_avail - STK_UDP_HLEN);
		}
	} else if (!(ip->frag_off & rte_cpu_to_be_16(STK_IP_OFFMASK)) &&
	           ip->proto == STK_IPPROTO_ICMP && len >= STK_ETH_HLEN + ihl + 8) {
		const uint8_t *ic = f + STK_ETH_HLEN + ihl;

		/* echo: conntrack keys on the identifier, as on ingress */
		if (ic[0] == 8 || ic[0] == 0)
			sport = dport = (uint16_t)(ic[4] << 8 | ic[5]);
	}
	return gw_policy_egress(w, g, ip->proto, rte_be_to_cpu_32(ip->src),
	                        rte_be_to_cpu_32(ip->dst), sport, dport, l4, l4_avail, pay_p, pay,
	                        len, false);
}

/* Serve one queue's DONE and TX rings; returns descriptors handled. */
static inline unsigned
serve(struct gw_worker *w, struct gw_chan *ch, const struct pol_gen *g)
{
	struct bp_chan *c = &ch->c;
	struct gw_app *app = ch->app;
	struct bp_desc d[TX_PER_POLL];
	struct rte_mbuf *tx[TX_PER_POLL + TX_PER_POLL];
	uint16_t ntx = 0;
	unsigned n, i, ndone = 0;
	/* egress signatures: some tenant's sends are scanned (gw_policy_l7_egress) */
	const bool l7 = g && pol_l7_on(g, POL_DIR_EGRESS);

	unsigned reaped;

	if (ch->tcp) {
		/* RX buffers of TCP data reopen their connection's window */
		uint32_t idx[DONE_PER_POLL];
		unsigned nidx;

		reaped = bp_chan_done_reap_idx(c, DONE_PER_POLL, idx, &nidx);
		gw_tcp_rx_done(w, ch, idx, nidx);
	} else {
		reaped = bp_chan_done_reap(c, DONE_PER_POLL);
	}
	n = bp_chan_tx_fetch(c, d, TX_PER_POLL);
	if (!n)
		return reaped;
	for (i = 0; i < n; i++) {
		if (d[i].type >= BP_DESC_TCP_CONNECT && d[i].type <= BP_DESC_TCP_ABORT) {
			if (gw_tcp_cmd(w, ch, &d[i]))
				d[ndone++] = d[i]; /* a SEND refused: its buffer goes back now */
			continue;
		}
		const struct gw_sock *s;
		struct rte_mbuf *m = NULL; /* set early when the payload is copied for L7 */
		uint8_t *p, mac[STK_ETH_ALEN];
		uint32_t dst = 0, nh = 0;
		bool raw = d[i].type == BP_DESC_RAW_SEND, resolved = false;

		s = d[i].sock < BP_MAX_SOCKS ? &app->socks[d[i].sock] : NULL;
		if (unlikely(!s || !atomic_load_explicit(&s->valid, memory_order_acquire) ||
		             s->queue != ch->queue ||
		             s->proto != (raw ? BP_PROTO_RAW : BP_PROTO_UDP))) {
			c->err[BP_DESC_ERR_SOCK]++;
			d[i].status = BP_DESC_ERR_SOCK;
			d[ndone++] = d[i];
			continue;
		}
		if (!raw) {
			dst = rte_be_to_cpu_32(d[i].addr_be);
			/* no hairpin: the gateway's and tenants' addresses are not on the wire */
			if (unlikely(stk_iface_owns(w->stk.ifc, dst))) {
				c->err[BP_DESC_ERR_ADDR]++;
				d[i].status = BP_DESC_ERR_ADDR;
				d[ndone++] = d[i];
				continue;
			}
			nh = stk_iface_route(w->stk.ifc, dst);
			if (unlikely(!nh)) {
				w->stk.cnt[STK_CNT_DROP_NO_ROUTE]++;
				w->cnt[GW_CNT_TX_NO_ROUTE]++;
				c->err[BP_DESC_ERR_ROUTE]++;
				d[i].status = BP_DESC_ERR_ROUTE;
				d[ndone++] = d[i];
				continue;
			}
			if (unlikely(l7) && gw_policy_l7_egress(g, s->addr)) {
				/* signatures scan the bytes that leave: copy first (the app may
				 * still be writing), scan the copy, no zero-copy */
				m = rte_pktmbuf_alloc(w->gw->pool);
				if (unlikely(!m)) {
					w->cnt[GW_CNT_TX_NO_MBUF]++;
					c->err[BP_DESC_ERR_NOMEM]++;
					d[i].status = BP_DESC_ERR_NOMEM;
					d[ndone++] = d[i];
					continue;
				}
				rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *) + STK_UDP_HDRS,
				           bp_chan_tx_data(c, &d[i]), d[i].len);
			}
			if (g && unlikely(gw_policy_egress(
			                 w, g, STK_IPPROTO_UDP, s->addr, dst, s->port,
			                 rte_be_to_cpu_16(d[i].port_be), NULL, 0,
			                 m ? rte_pktmbuf_mtod(m, uint8_t *) + STK_UDP_HDRS : NULL,
			                 d[i].len, d[i].len + STK_UDP_HDRS, false))) {
				rte_pktmbuf_free(m);
				ch->cnt[GW_CHAN_CNT_POLICY_DENIED]++;
				c->err[BP_DESC_ERR_POLICY]++;
				d[i].status = BP_DESC_ERR_POLICY;
				d[ndone++] = d[i];
				continue;
			}
			resolved = stk_arp_lookup(w->stk.arp, nh, mac) == 0;
			/* zero-copy only when it leaves now: a frame held for ARP would pin the
			 * app's buffer for seconds */
			if (!m && resolved && ch->txz && d[i].len >= w->gw->txz_min) {
				m = udp_zero_copy(w, ch, s, &d[i], dst);
				if (likely(m)) {
					/* completed by txz_free when the port is done with it */
					w->cnt[GW_CNT_UDP_TX]++;
					w->cnt[GW_CNT_UDP_TX_ZC]++;
					ch->cnt[GW_CHAN_CNT_UDP_TX]++;
					ch->cnt[GW_CHAN_CNT_UDP_TX_ZC]++;
					route_out(w, m, nh, mac, tx, &ntx);
					continue;
				}
			}
		}
		if (!m) {
			m = rte_pktmbuf_alloc(w->gw->pool);
			if (unlikely(!m)) {
				w->cnt[GW_CNT_TX_NO_MBUF]++;
				c->err[BP_DESC_ERR_NOMEM]++;
				d[i].status = BP_DESC_ERR_NOMEM;
				d[ndone++] = d[i];
				continue;
			}
			if (!raw)
				rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *) + STK_UDP_HDRS,
				           bp_chan_tx_data(c, &d[i]), d[i].len);
		}
		p = rte_pktmbuf_mtod(m, uint8_t *);
		if (raw) {
			/* copy first, then check the copy: the app may still be writing */
			rte_memcpy(p, bp_chan_tx_data(c, &d[i]), d[i].len);
			if (unlikely(!raw_allowed(
			            w, atomic_load_explicit(&app->tenant, memory_order_acquire), p,
			            d[i].len))) {
				w->cnt[GW_CNT_RAW_TX_SPOOFED]++;
				ch->cnt[GW_CHAN_CNT_RAW_TX_SPOOFED]++;
				c->err[BP_DESC_ERR_SPOOF]++;
				d[i].status = BP_DESC_ERR_SPOOF;
				d[ndone++] = d[i];
				rte_pktmbuf_free(m);
				continue;
			}
			if (g && unlikely(raw_policy(w, g, p, d[i].len))) {
				ch->cnt[GW_CHAN_CNT_POLICY_DENIED]++;
				c->err[BP_DESC_ERR_POLICY]++;
				d[i].status = BP_DESC_ERR_POLICY;
				d[ndone++] = d[i];
				rte_pktmbuf_free(m);
				continue;
			}
			m->data_len = d[i].len;
			m->pkt_len = d[i].len;
			m->ol_flags = 0;
			w->cnt[GW_CNT_RAW_TX]++;
			ch->cnt[GW_CHAN_CNT_RAW_TX]++;
			tx[ntx++] = m;
		} else {
			struct stk_buf b;

			/* the payload is in p + STK_UDP_HDRS already */
			b.len = stk_udp_build(&w->stk, p, s->addr, s->port, dst,
			                      rte_be_to_cpu_16(d[i].port_be), NULL, d[i].len,
			                      &b.flags);
			gw_mbuf_from_stk(m, &b);
			w->cnt[GW_CNT_UDP_TX]++;
			ch->cnt[GW_CHAN_CNT_UDP_TX]++;
			route_out(w, m, nh, resolved ? mac : NULL, tx, &ntx);
		}
		d[i].status = 0;
		d[ndone++] = d[i];
	}
	/* copied or refused: the app's buffers go back now; zero-copy ones when the port is done */
	if (ndone)
		bp_chan_tx_complete(c, d, ndone);
	gw_tx_burst(w, tx, ntx);
	gw_tcp_flush(w);
	return reaped + n;
}

unsigned
gw_chan_poll(struct gw_worker *w)
{
	const struct gw_qlist *l = atomic_load_explicit(&w->qlist, memory_order_acquire);
	const struct pol_gen *g;
	unsigned i, work = 0;

	gw_tcp_poll(w);
	if (unlikely(!rte_ring_empty(w->handoff))) {
		handoff_drain(w);
		work++;
	}
	if (!l)
		return work;
	g = pol_gen_current(&w->gw->gen);
	for (i = 0; i < l->n; i++)
		work += serve(w, l->q[i], g);
	return work;
}
