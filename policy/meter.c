/* meter.c - meter setup and configuration (control thread); the fast path is meter_fp.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meter_priv.h"

struct pol_meter *
pol_meter_create(unsigned n_workers, unsigned max_tenants)
{
	struct pol_meter *m;
	size_t lsize;
	unsigned i, k;

	if (!n_workers || !max_tenants || max_tenants > 65536) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto nomem;
	m->n_workers = n_workers;
	m->max_tenants = max_tenants;
	/* each worker's block starts on a cache line of its own */
	m->block = ((size_t)max_tenants * sizeof(struct meter_local) + 63) / 64 * 64;
	m->cfg = calloc((size_t)max_tenants * MB_N, sizeof(*m->cfg));
	m->shared = aligned_alloc(64, (size_t)max_tenants * sizeof(*m->shared));
	lsize = m->block * n_workers;
	m->local = aligned_alloc(64, lsize);
	if (!m->cfg || !m->shared || !m->local)
		goto nomem;
	memset(m->local, 0, lsize);
	for (i = 0; i < max_tenants; i++)
		for (k = 0; k < MB_N; k++) {
			atomic_init(&m->shared[i].tat[k], 0);
			atomic_init(&m->cfg[i * MB_N + k].rate, 0);
			atomic_init(&m->cfg[i * MB_N + k].depth, 0);
			atomic_init(&m->cfg[i * MB_N + k].lease, 1);
		}
	return m;
nomem:
	pol_meter_free(m);
	errno = ENOMEM;
	return NULL;
}

void
pol_meter_free(struct pol_meter *m)
{
	if (!m)
		return;
	free(m->cfg);
	free(m->shared);
	free(m->local);
	free(m);
}

static void
set_bucket(struct pol_meter *m, uint16_t tenant, unsigned k, uint64_t rate, uint64_t burst,
           uint64_t now_ns)
{
	struct meter_cfg *c = &m->cfg[(size_t)tenant * MB_N + k];
	uint64_t lease, depth, was = atomic_load_explicit(&c->rate, memory_order_relaxed);

	if (!rate) {
		atomic_store_explicit(&c->rate, 0, memory_order_relaxed);
		return;
	}
	if (!burst)
		burst = 1;
	depth = meter_ticks_for(burst, rate);
	lease = burst / (2 * m->n_workers);
	if (lease > rate / 1000)
		lease = rate / 1000;
	if (!lease)
		lease = 1;
	atomic_store_explicit(&c->depth, depth, memory_order_relaxed);
	atomic_store_explicit(&c->lease, lease, memory_order_relaxed);
	if (!was) /* from unlimited: start full */
		atomic_store_explicit(&m->shared[tenant].tat[k],
		                      (now_ns << METER_TICK_SHIFT) - depth, memory_order_relaxed);
	atomic_store_explicit(&c->rate, rate, memory_order_release);
}

int
pol_meter_set(struct pol_meter *m, uint16_t tenant, const struct pol_rate *ingress,
              const struct pol_rate *egress, uint32_t new_conn_per_s, uint64_t now_ns)
{
	static const struct pol_rate none;
	const struct pol_rate *r[2] = {ingress ? ingress : &none, egress ? egress : &none};
	unsigned d;

	if (tenant >= m->max_tenants)
		return -EINVAL;
	for (d = 0; d < 2; d++) {
		uint64_t burst = r[d]->burst ? r[d]->burst : POL_RATE_BURST_DEFAULT;

		set_bucket(m, tenant, d == 0 ? MB_IN_PKT : MB_EG_PKT, r[d]->pps, burst, now_ns);
		set_bucket(m, tenant, d == 0 ? MB_IN_BIT : MB_EG_BIT, r[d]->bps,
		           burst * POL_METER_FRAME_BYTES * 8, now_ns);
	}
	set_bucket(m, tenant, MB_CONN, new_conn_per_s, new_conn_per_s / 10, now_ns);
	return 0;
}

void
pol_meter_maintain(struct pol_meter *m, uint64_t now_ns)
{
	const uint64_t now = now_ns << METER_TICK_SHIFT;
	unsigned t, k;

	for (t = 0; t < m->max_tenants; t++)
		for (k = 0; k < MB_N; k++) {
			const struct meter_cfg *c = &m->cfg[(size_t)t * MB_N + k];
			_Atomic uint64_t *tat = &m->shared[t].tat[k];
			uint64_t depth, old;

			if (!atomic_load_explicit(&c->rate, memory_order_relaxed))
				continue;
			depth = atomic_load_explicit(&c->depth, memory_order_relaxed);
			old = atomic_load_explicit(tat, memory_order_relaxed);
			/* full anyway: move it to now - depth (a worker's CAS may win: fine) */
			if ((int64_t)(now - depth - old) > 0)
				atomic_compare_exchange_strong_explicit(tat, &old, now - depth,
				                                        memory_order_relaxed,
				                                        memory_order_relaxed);
		}
}

uint64_t
pol_meter_drops(const struct pol_meter *m, uint16_t tenant, enum pol_meter_limit lim)
{
	uint64_t n = 0;
	unsigned w;

	if (tenant >= m->max_tenants || lim >= POL_METER_NLIMITS)
		return 0;
	for (w = 0; w < m->n_workers; w++)
		n += __atomic_load_n(&meter_local_of(m, w, tenant)->drops[lim], __ATOMIC_RELAXED);
	return n;
}
