/* control.c - control-thread helpers: the interface the stack sees, frames sent via workers. */
#include <errno.h>
#include <string.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "gw.h"
#include "policy_model.h"

int
gw_send_ctl_frame(struct gw *gw, unsigned worker, const uint8_t *frame, uint32_t len)
{
	struct rte_mbuf *m;
	uint8_t *p;

	if (worker >= gw->n_workers)
		return -EINVAL;
	m = rte_pktmbuf_alloc(gw->pool);
	if (!m)
		return -ENOMEM;
	p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	if (!p) {
		rte_pktmbuf_free(m);
		return -ENOSPC;
	}
	memcpy(p, frame, len);
	if (rte_ring_sp_enqueue(gw->workers[worker].ctl_tx, m)) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	return 0;
}

/* Announce every host address the gateway owns (its own, and tenants' /32s). */
void
gw_send_garp(struct gw *gw)
{
	uint8_t frame[64];
	unsigned i, sent = 0;
	uint32_t len;

	for (i = 0; i < gw->ifc.n_own; i++) {
		len = stk_arp_build_garp(&gw->ifc, gw->ifc.own[i].addr, frame, sizeof(frame));
		if (len && gw_send_ctl_frame(gw, 0, frame, len) == 0)
			sent++;
	}
	for (i = 0; i < gw->ifc.n_tenant; i++) {
		if (gw->ifc.tenant[i].len != 32)
			continue;
		len = stk_arp_build_garp(&gw->ifc, gw->ifc.tenant[i].addr, frame, sizeof(frame));
		if (len && gw_send_ctl_frame(gw, 0, frame, len) == 0)
			sent++;
	}
	GW_LOG(INFO, "gratuitous ARP sent for %u addresses", sent);
}

/* Fill gw->ifc from the config: our MAC and addresses, tenants' addresses, ICMP limits. */
int
gw_iface_build(struct gw *gw)
{
	const struct pol_cfg_gateway *g = &gw->cfg->gw;
	const struct pol_policy *pol = gw->cfg->policy;
	struct stk_iface *ifc = &gw->ifc;
	unsigned i, j, n = 0, nw = gw->n_workers;
	int ret;

	memset(ifc, 0, sizeof(*ifc));
	memcpy(ifc->mac, gw->mac.addr_bytes, 6);
	ifc->tx_ipck_offload = gw->tx_ipck_offload;
	ifc->own = calloc(g->n_addrs, sizeof(*ifc->own));
	if (!ifc->own)
		return -ENOMEM;
	for (i = 0; i < g->n_addrs; i++) {
		ifc->own[i].addr = g->addrs[i].addr;
		ifc->own[i].len = g->addrs[i].len;
	}
	ifc->n_own = g->n_addrs;

	for (i = 0; pol && i < pol->n_tenants; i++)
		n += pol->tenants[i].n_addrs;
	if (n) {
		ifc->tenant = calloc(n, sizeof(*ifc->tenant));
		if (!ifc->tenant) {
			stk_iface_release(ifc);
			return -ENOMEM;
		}
		for (i = 0; i < pol->n_tenants; i++)
			for (j = 0; j < pol->tenants[i].n_addrs; j++) {
				ifc->tenant[ifc->n_tenant].addr = pol->tenants[i].addrs[j].addr;
				ifc->tenant[ifc->n_tenant].len = pol->tenants[i].addrs[j].len;
				ifc->n_tenant++;
			}
	}
	ifc->next_hop = g->has_next_hop ? g->next_hop : 0;
	/* Limits are for the whole gateway; each worker gets its share (rounded up). */
	ifc->icmp_echo_rate = g->icmp.echo_rate ? (g->icmp.echo_rate + nw - 1) / nw : 0;
	ifc->icmp_echo_burst = (g->icmp.echo_burst + nw - 1) / nw;
	ifc->icmp_unreach_rate = g->icmp.unreach_rate ? (g->icmp.unreach_rate + nw - 1) / nw : 0;
	ifc->icmp_unreach_burst = (g->icmp.unreach_burst + nw - 1) / nw;
	ret = stk_iface_finish(ifc);
	if (ret) {
		stk_iface_release(ifc);
		return ret;
	}
	return 0;
}
