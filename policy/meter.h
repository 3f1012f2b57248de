/* meter.h - per-tenant rate limits (pps, bps, new connections/s) shared by all worker lcores. */
#ifndef BYPASSD_POLICY_METER_H
#define BYPASSD_POLICY_METER_H

/*
 * One token bucket per tenant and limit (ingress pps, ingress bps, egress pps, egress bps, new
 * connections/s), shared by every worker through leases (docs/policy.md "Rate limits"):
 *
 *   - The shared bucket is a GCRA cell: one 64-bit "theoretical arrival time" per bucket in
 *     1/1024 ns, advanced with a compare-and-swap. A lease of k tokens is granted when the bucket
 *     holds k, i.e. when max(tat, now) + k/rate - now <= burst/rate.
 *   - A worker takes tokens from its own local pool (no atomics) and leases a batch from the
 *     shared bucket when the pool runs dry; the batch is min(burst / (2 * workers), rate / 1000)
 *     tokens, at least the need. After a refused lease the worker refuses locally until the time
 *     the bucket would hold its need, so a flood costs one shared read per refill, not per packet.
 *
 * Long-run rate: exact to one tick (2^-10 ns) per lease, whatever the RSS split across workers.
 * Burst: up to burst + workers * batch <= 1.5 * burst tokens after an idle period (tokens parked
 * in local pools). Contention: one CAS per batch per worker.
 *
 * Time is the caller's, in ns (monotonic; no syscalls here). The byte buckets count L2 frame
 * bytes (Ethernet header to the end of the payload, no FCS, preamble or gap), in bits; their
 * depth is burst full-size frames (POL_METER_FRAME_BYTES each). EAL-free: C11 atomics only.
 */

#include <stdbool.h>
#include <stdint.h>

#include "policy_model.h"

#define POL_METER_FRAME_BYTES 1514u /* a full-size frame for the byte buckets' depth */

enum pol_meter_limit {
	POL_METER_INGRESS, /* packets and bytes to the tenant */
	POL_METER_EGRESS,  /* from the tenant */
	POL_METER_CONN,    /* new connections (conntrack sessions) */
	POL_METER_NLIMITS
};

struct pol_meter;

/*
 * Buckets for tenant ids 0..max_tenants-1 served by workers 0..n_workers-1, every tenant
 * unlimited. Control thread. NULL + errno (EINVAL, ENOMEM).
 */
struct pol_meter *pol_meter_create(unsigned n_workers, unsigned max_tenants);
/* Accepts NULL; no worker may use m any more. */
void pol_meter_free(struct pol_meter *m);

/*
 * Set tenant's limits (control thread, on reload; workers may be taking meanwhile: they see the
 * new values within a few packets). rate 0 = unlimited. A bucket that was unlimited starts full;
 * one that stays limited keeps its level (a reload grants no extra burst). The new-connection
 * bucket's depth is a tenth of a second's worth (at least 1). 0 or -EINVAL (tenant out of range).
 */
int pol_meter_set(struct pol_meter *m, uint16_t tenant, const struct pol_rate *ingress,
                  const struct pol_rate *egress, uint32_t new_conn_per_s, uint64_t now_ns);

/*
 * Fast path, worker `worker` only. true when one packet of `bytes` L2 bytes in direction
 * (POL_METER_INGRESS/EGRESS) conforms to both the pps and the bps bucket (and takes from both),
 * false when it must be dropped (counted; nothing taken). An out-of-range tenant passes.
 */
bool pol_meter_pkt(struct pol_meter *m, unsigned worker, uint16_t tenant, enum pol_meter_limit dir,
                   uint32_t bytes, uint64_t now_ns);
/*
 * pol_meter_pkt for each packet i < n with ok[i] set (tenant[i], bytes[i] L2 bytes, direction
 * dir), in order: ok[i] is cleared for each one refused. The same results as the calls one by
 * one; the common case (both local pools hold enough) costs no call. Returns how many it refused.
 */
unsigned pol_meter_pkt_burst(struct pol_meter *m, unsigned worker, enum pol_meter_limit dir,
                             const uint16_t *tenant, const uint32_t *bytes, unsigned n,
                             uint64_t now_ns, bool *ok);
/* true when the tenant may open one more connection now (takes a token), false refused. */
bool pol_meter_conn(struct pol_meter *m, unsigned worker, uint16_t tenant, uint64_t now_ns);

/*
 * Control thread, periodically (at least every 100 days; once a minute is plenty): bring idle
 * buckets' state up to now. Ticks wrap every 2^54 ns (208 days) and a bucket compares its state
 * with the time by signed difference, which holds only within half of that.
 */
void pol_meter_maintain(struct pol_meter *m, uint64_t now_ns);

/* Packets (or connections) refused for tenant under limit, summed over workers. Control thread. */
uint64_t pol_meter_drops(const struct pol_meter *m, uint16_t tenant, enum pol_meter_limit lim);

#endif
