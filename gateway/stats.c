/* stats.c - sum the per-worker counters on the control thread and log them. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

#include "gw.h"

const char *const gw_counter_names[GW_CNT__MAX] = {
#define _(e, n, h) [GW_CNT_##e] = n,
        foreach_gw_counter(_)
#undef _
};

const char *const gw_counter_help[GW_CNT__MAX] = {
#define _(e, n, h) [GW_CNT_##e] = h,
        foreach_gw_counter(_)
#undef _
};

/*
 * Workers write their own counters with plain stores; a 64-bit aligned load here sees either
 * the old or the new value (never torn on the 64-bit targets DPDK supports). Totals are
 * therefore a moment's snapshot, each counter monotonic.
 */
void
gw_stats_sum_worker(const struct gw_worker *w, struct gw_totals *t)
{
	unsigned i;

	/* the gateway's own drop reasons (tx_no_route is also the stack's no_route: not twice) */
	static const bool drop[GW_CNT__MAX] = {
	        [GW_CNT_TX_DROP_FULL] = true,      [GW_CNT_RX_MULTISEG] = true,
	        [GW_CNT_UDP_RX_NO_ROOM] = true,    [GW_CNT_UDP_RX_TOO_BIG] = true,
	        [GW_CNT_RAW_TX_SPOOFED] = true,    [GW_CNT_TX_NO_MBUF] = true,
	        [GW_CNT_CHAN_HANDOFF_DROP] = true, [GW_CNT_POLICY_DENY] = true,
	        [GW_CNT_POLICY_CT_INVALID] = true, [GW_CNT_METER_DROP] = true,
	        [GW_CNT_CT_REFUSED] = true,        [GW_CNT_POLICY_TX_DENY] = true,
	        [GW_CNT_METER_TX_DROP] = true,     [GW_CNT_CT_TX_REFUSED] = true,
	        [GW_CNT_CT_TX_RESET] = true,       [GW_CNT_POLICY_L7_DENY] = true,
	        [GW_CNT_POLICY_TX_L7_DENY] = true,
	};

	for (i = 0; i < GW_CNT__MAX; i++) {
		uint64_t v = __atomic_load_n(&w->cnt[i], __ATOMIC_RELAXED);

		t->gw[i] += v;
		if (drop[i])
			t->drops += v;
	}
	for (i = 0; i < STK_CNT__MAX; i++) {
		uint64_t v = __atomic_load_n(&w->stk.cnt[i], __ATOMIC_RELAXED);

		t->stk[i] += v;
		if (stk_counter_is_drop((enum stk_counter)i))
			t->drops += v;
	}
}

void
gw_stats_sum(const struct gw *gw, struct gw_totals *t)
{
	unsigned i;

	memset(t, 0, sizeof(*t));
	for (i = 0; gw->workers && i < gw->n_workers; i++)
		gw_stats_sum_worker(&gw->workers[i], t);
}

/* Append "name=value" pairs; keeps going while there is room. */
static size_t
fmt_totals(char *buf, size_t len, const struct gw_totals *t)
{
	size_t off = 0;
	unsigned i;
	int n;

#define APPEND(...)                                              \
	do {                                                     \
		n = snprintf(buf + off, len - off, __VA_ARGS__); \
		if (n < 0 || (size_t)n >= len - off)             \
			return off;                              \
		off += (size_t)n;                                \
	} while (0)

	for (i = 0; i < GW_CNT__MAX; i++)
		APPEND("%s%s=%" PRIu64, off ? " " : "", gw_counter_names[i], t->gw[i]);
	APPEND(" drops=%" PRIu64, t->drops);
	for (i = 0; i < STK_CNT__MAX; i++)
		APPEND(" %s=%" PRIu64, stk_counter_names[i], t->stk[i]);
#undef APPEND
	return off;
}

void
gw_stats_log(const struct gw *gw, uint32_t level)
{
	struct gw_totals t;
	struct rte_eth_stats ps;
	char buf[8192];
	unsigned i;

	if (!rte_log_can_log(gw_logtype, level))
		return;
	gw_stats_sum(gw, &t);
	fmt_totals(buf, sizeof(buf), &t);
	rte_log(level, gw_logtype, "GATEWAY: counters total: %s\n", buf);
	for (i = 0; gw->workers && i < gw->n_workers; i++) {
		memset(&t, 0, sizeof(t));
		gw_stats_sum_worker(&gw->workers[i], &t);
		fmt_totals(buf, sizeof(buf), &t);
		rte_log(level, gw_logtype, "GATEWAY: counters worker%u: %s\n", i, buf);
	}
	gw_tcp_log_stats(gw, level);
	if (gw->have_port && rte_eth_stats_get(gw->port_id, &ps) == 0)
		rte_log(level, gw_logtype,
		        "GATEWAY: counters port%u: ipackets=%" PRIu64 " opackets=%" PRIu64
		        " ibytes=%" PRIu64 " obytes=%" PRIu64 " imissed=%" PRIu64
		        " ierrors=%" PRIu64 " oerrors=%" PRIu64 " rx_nombuf=%" PRIu64 "\n",
		        gw->port_id, ps.ipackets, ps.opackets, ps.ibytes, ps.obytes, ps.imissed,
		        ps.ierrors, ps.oerrors, ps.rx_nombuf);
}
