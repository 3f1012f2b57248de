/* meter_priv.h - the meter's buckets and per-worker pools (policy folder only). */
#ifndef BYPASSD_POLICY_METER_PRIV_H
#define BYPASSD_POLICY_METER_PRIV_H

#include <stdatomic.h>
#include <stdint.h>

#include "meter.h"

/* Buckets per tenant: packets and bits each way, and connections. */
enum { MB_IN_PKT, MB_IN_BIT, MB_EG_PKT, MB_EG_BIT, MB_CONN, MB_N };

#define METER_TICK_SHIFT 10 /* time in ticks of 2^-10 ns */

/* A bucket's parameters: written by the control thread, read relaxed by workers. */
struct meter_cfg {
	_Atomic uint64_t rate;  /* tokens per second (packets, bits, connections); 0 = unlimited */
	_Atomic uint64_t depth; /* bucket depth in ticks: burst tokens' worth of time */
	_Atomic uint64_t lease; /* tokens a worker leases at once */
};

/* The shared state of one tenant's buckets: one cache line. */
struct meter_shared {
	_Atomic uint64_t tat[MB_N]; /* GCRA theoretical arrival time, ticks (wrapping) */
} __attribute__((aligned(64)));

/* A worker's pool for one tenant. */
struct meter_local {
	uint64_t tokens[MB_N];
	uint64_t retry[MB_N]; /* ticks: refuse without asking before this (0: ask) */
	uint64_t drops[POL_METER_NLIMITS];
};

struct pol_meter {
	unsigned n_workers, max_tenants;
	struct meter_cfg *cfg;       /* [max_tenants][MB_N] */
	struct meter_shared *shared; /* [max_tenants] */
	void *local;                 /* [n_workers] blocks of [max_tenants] struct meter_local */
	size_t block;                /* bytes per worker block, a multiple of 64 */
};

/*
 * A worker's retry time further ahead than depth + this is not ours to wait for (the bucket was
 * reconfigured): ask the shared bucket again. 2^40 ticks is about 1.07 s.
 */
#define METER_STALE_TICKS (1ull << 40)

/* ticks that `tokens` take at `rate` tokens/s (rounded down), saturating well below 2^63 */
static inline uint64_t
meter_ticks_for(uint64_t tokens, uint64_t rate)
{
	unsigned __int128 t =
	        (unsigned __int128)tokens * (1000000000ull << METER_TICK_SHIFT) / rate;

	return t > (UINT64_MAX >> 4) ? (UINT64_MAX >> 4) : (uint64_t)t;
}

static inline struct meter_local *
meter_local_of(const struct pol_meter *m, unsigned worker, uint16_t tenant)
{
	return (struct meter_local *)((char *)m->local + worker * m->block) + tenant;
}

#endif
