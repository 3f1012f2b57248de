/* control.c - control-thread helpers: the interface the stack sees, frames sent via workers. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>

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
	const struct stk_iface *ifc = atomic_load_explicit(&gw->ifc, memory_order_acquire);
	uint8_t frame[64];
	unsigned i, sent = 0;
	uint32_t len;

	for (i = 0; i < ifc->n_own; i++) {
		len = stk_arp_build_garp(ifc, ifc->own[i].addr, frame, sizeof(frame));
		if (len && gw_send_ctl_frame(gw, 0, frame, len) == 0)
			sent++;
	}
	for (i = 0; i < ifc->n_tenant; i++) {
		if (ifc->tenant[i].len != 32)
			continue;
		len = stk_arp_build_garp(ifc, ifc->tenant[i].addr, frame, sizeof(frame));
		if (len && gw_send_ctl_frame(gw, 0, frame, len) == 0)
			sent++;
	}
	GW_LOG(INFO, "gratuitous ARP sent for %u addresses", sent);
}

void
gw_send_garp_new(struct gw *gw, const struct stk_iface *ifc, const struct stk_iface *old)
{
	uint8_t frame[64];
	unsigned i, sent = 0;
	uint32_t len;

	for (i = 0; i < ifc->n_tenant; i++) {
		if (ifc->tenant[i].len != 32 || (old && stk_iface_owns(old, ifc->tenant[i].addr)))
			continue;
		len = stk_arp_build_garp(ifc, ifc->tenant[i].addr, frame, sizeof(frame));
		if (len && gw_send_ctl_frame(gw, 0, frame, len) == 0)
			sent++;
	}
	if (sent)
		GW_LOG(INFO, "gratuitous ARP sent for %u newly owned addresses", sent);
}

void
gw_iface_free(struct stk_iface *ifc)
{
	if (!ifc)
		return;
	stk_iface_release(ifc);
	free(ifc);
}

struct stk_iface *
gw_iface_new(const struct gw *gw, const struct pol_policy *pol)
{
	const struct pol_cfg_gateway *g = &gw->cfg->gw;
	struct stk_iface *ifc;
	unsigned i, j, n = 0, nw = gw->n_workers ? gw->n_workers : 1;
	int ret;

	ifc = calloc(1, sizeof(*ifc));
	if (!ifc)
		return NULL;
	memcpy(ifc->mac, gw->mac.addr_bytes, 6);
	ifc->tx_ipck_offload = gw->tx_ipck_offload;
	ifc->own = calloc(g->n_addrs ? g->n_addrs : 1, sizeof(*ifc->own));
	if (!ifc->own)
		goto out_nomem;
	for (i = 0; i < g->n_addrs; i++) {
		ifc->own[i].addr = g->addrs[i].addr;
		ifc->own[i].len = g->addrs[i].len;
	}
	ifc->n_own = g->n_addrs;

	for (i = 0; pol && i < pol->n_tenants; i++)
		n += pol->tenants[i].n_addrs;
	if (n) {
		ifc->tenant = calloc(n, sizeof(*ifc->tenant));
		if (!ifc->tenant)
			goto out_nomem;
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
		gw_iface_free(ifc);
		errno = -ret;
		return NULL;
	}
	return ifc;
out_nomem:
	gw_iface_free(ifc);
	errno = ENOMEM;
	return NULL;
}

/* Fill gw->ifc from the config: our MAC and addresses, tenants' addresses, ICMP limits. */
int
gw_iface_build(struct gw *gw)
{
	struct stk_iface *ifc = gw_iface_new(gw, gw->cfg->policy);

	if (!ifc)
		return -errno;
	gw_iface_free(atomic_exchange_explicit(&gw->ifc, ifc, memory_order_acq_rel));
	return 0;
}
