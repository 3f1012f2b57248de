/* log_fp.c - worker side of `log: true`: one compact record per logged packet onto a ring. */
#include <rte_ring_elem.h>

#include "gw.h"

/*
 * The worker never logs: it pushes a 32-byte record onto its own SP/SC ring and the control
 * thread drains, rate-limits and logs (log.c). A full ring loses the record, counted.
 */
void
gw_log_push(struct gw_worker *w, const struct pol_gen *g, uint32_t rule, uint16_t tenant,
            uint8_t dir, uint8_t action, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport,
            uint16_t dport, uint32_t len)
{
	struct gw_log_rec r = {
	        .gen = pol_gen_number(g),
	        .rule = rule,
	        .src = src,
	        .dst = dst,
	        .sport = sport,
	        .dport = dport,
	        .tenant = tenant,
	        .len = len > UINT16_MAX ? UINT16_MAX : (uint16_t)len,
	        .proto = proto,
	        .dir = dir,
	        .action = action,
	};

	if (unlikely(!w->log) || rte_ring_sp_enqueue_elem(w->log, &r, sizeof(r)) != 0) {
		w->cnt[GW_CNT_LOG_DROPPED]++;
		return;
	}
	w->cnt[GW_CNT_LOG_QUEUED]++;
}
