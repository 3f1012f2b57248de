/* meter_fp.c - the meter's fast path: local token pools leasing from shared GCRA buckets. */
#include "meter_priv.h"

#define unlikely_(x) __builtin_expect(!!(x), 0)

/*
 * Lease k tokens from a shared bucket at tick now. true when granted; false with *retry set to
 * the tick at which the bucket would hold them (nothing taken).
 */
static bool
lease_shared(_Atomic uint64_t *tat, uint64_t k, uint64_t rate, uint64_t depth, uint64_t now,
             uint64_t *retry)
{
	uint64_t c = meter_ticks_for(k, rate);
	uint64_t old = atomic_load_explicit(tat, memory_order_relaxed);

	if (c > depth)
		c = depth; /* a frame bigger than the byte bucket: passes only when it is full */
	for (;;) {
		/* a worker whose clock lags sees fewer tokens; tat never moves back */
		uint64_t base = (int64_t)(old - now) < 0 ? now : old;
		uint64_t next = base + c;

		if (next - now > depth) {
			*retry = next - depth;
			return false;
		}
		if (atomic_compare_exchange_weak_explicit(tat, &old, next, memory_order_relaxed,
		                                          memory_order_relaxed))
			return true;
	}
}

/* Make the worker's pool hold at least need tokens of bucket k. */
static bool
ensure(struct pol_meter *m, struct meter_local *l, uint16_t tenant, unsigned k, uint64_t need,
       uint64_t rate, uint64_t now)
{
	const struct meter_cfg *c = &m->cfg[(size_t)tenant * MB_N + k];
	uint64_t depth, want, batch, retry = 0;

	if (l->tokens[k] >= need)
		return true;
	depth = atomic_load_explicit(&c->depth, memory_order_relaxed);
	if (l->retry[k]) {
		int64_t d = (int64_t)(l->retry[k] - now);

		if (d > 0 && (uint64_t)d <= depth + METER_STALE_TICKS)
			return false; /* the bucket cannot hold our need yet: do not touch it */
		l->retry[k] = 0;
	}
	want = need - l->tokens[k];
	batch = atomic_load_explicit(&c->lease, memory_order_relaxed);
	if (batch < want)
		batch = want;
	if (lease_shared(&m->shared[tenant].tat[k], batch, rate, depth, now, &retry) ||
	    (batch > want &&
	     lease_shared(&m->shared[tenant].tat[k], batch = want, rate, depth, now, &retry))) {
		l->tokens[k] += batch;
		return true;
	}
	l->retry[k] = retry | 1; /* 0 means "not waiting" */
	return false;
}

bool
pol_meter_pkt(struct pol_meter *m, unsigned worker, uint16_t tenant, enum pol_meter_limit dir,
              uint32_t bytes, uint64_t now_ns)
{
	const unsigned kp = dir == POL_METER_INGRESS ? MB_IN_PKT : MB_EG_PKT, kb = kp + 1;
	const uint64_t now = now_ns << METER_TICK_SHIFT, bits = (uint64_t)bytes * 8;
	struct meter_local *l;
	uint64_t rp, rb;

	if (unlikely_(tenant >= m->max_tenants || worker >= m->n_workers))
		return true;
	rp = atomic_load_explicit(&m->cfg[(size_t)tenant * MB_N + kp].rate, memory_order_acquire);
	rb = atomic_load_explicit(&m->cfg[(size_t)tenant * MB_N + kb].rate, memory_order_acquire);
	if (!rp && !rb)
		return true;
	l = meter_local_of(m, worker, tenant);
	/*
	 * Both local pools hold enough (nearly every packet): what ensure() would find first,
	 * checked here so the common case makes no call (~140 -> ~40 instructions/packet).
	 */
	if (unlikely_((rp && l->tokens[kp] < 1) || (rb && l->tokens[kb] < bits)) &&
	    ((rp && !ensure(m, l, tenant, kp, 1, rp, now)) ||
	     (rb && !ensure(m, l, tenant, kb, bits, rb, now)))) {
		l->drops[dir]++;
		return false;
	}
	if (rp)
		l->tokens[kp] -= 1;
	if (rb)
		l->tokens[kb] = l->tokens[kb] > bits ? l->tokens[kb] - bits : 0;
	return true;
}

unsigned
pol_meter_pkt_burst(struct pol_meter *m, unsigned worker, enum pol_meter_limit dir,
                    const uint16_t *tenant, const uint32_t *bytes, unsigned n, uint64_t now_ns,
                    bool *ok)
{
	const unsigned kp = dir == POL_METER_INGRESS ? MB_IN_PKT : MB_EG_PKT, kb = kp + 1;
	unsigned i, refused = 0;

	if (unlikely_(worker >= m->n_workers))
		return 0;
	for (i = 0; i < n; i++) {
		const uint16_t t = tenant[i];
		const uint64_t bits = (uint64_t)bytes[i] * 8;
		const struct meter_cfg *c;
		struct meter_local *l;
		uint64_t rp, rb;

		if (!ok[i] || unlikely_(t >= m->max_tenants))
			continue;
		c = &m->cfg[(size_t)t * MB_N];
		rp = atomic_load_explicit(&c[kp].rate, memory_order_acquire);
		rb = atomic_load_explicit(&c[kb].rate, memory_order_acquire);
		l = meter_local_of(m, worker, t);
		if ((!rp || l->tokens[kp] >= 1) && (!rb || l->tokens[kb] >= bits)) {
			/* what pol_meter_pkt does when ensure() has nothing to do */
			if (rp)
				l->tokens[kp] -= 1;
			if (rb)
				l->tokens[kb] -= bits;
			continue;
		}
		if (!pol_meter_pkt(m, worker, t, dir, bytes[i], now_ns)) {
			ok[i] = false;
			refused++;
		}
	}
	return refused;
}

bool
pol_meter_conn(struct pol_meter *m, unsigned worker, uint16_t tenant, uint64_t now_ns)
{
	const uint64_t now = now_ns << METER_TICK_SHIFT;
	struct meter_local *l;
	uint64_t r;

	if (unlikely_(tenant >= m->max_tenants || worker >= m->n_workers))
		return true;
	r = atomic_load_explicit(&m->cfg[(size_t)tenant * MB_N + MB_CONN].rate,
	                         memory_order_acquire);
	if (!r)
		return true;
	l = meter_local_of(m, worker, tenant);
	if (!ensure(m, l, tenant, MB_CONN, 1, r, now)) {
		l->drops[POL_METER_CONN]++;
		return false;
	}
	l->tokens[MB_CONN]--;
	return true;
}
