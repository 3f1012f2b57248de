/* l7_stream.c - per-worker stream contexts for TCP flows: bounded slot pool, Hyperscan's stream
 * allocator, retired generations, counters. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "l7_priv.h"

#define DEF_MAX_FLOWS  2048u
#define DEF_SLOT_BYTES 1024u
#define MAX_FLOWS      (1u << 24)
#define MAX_SLOT_BYTES (1u << 20)

const char *const pol_l7_stream_counter_names[POL_L7_SCNT__MAX] = {
#define _(e, n, h) n,
        foreach_pol_l7_stream_counter(_)
#undef _
};

__thread struct pol_l7_streams *pol_l7_tl_pool;

/*
 * Hyperscan's stream allocator (process-wide; bypassd opens streams only in l7_stream_fp.c).
 * With a pool installed for this thread (pol_l7_flow_open on a worker) a stream takes one of its
 * slots, or fails (HS_NOMEM) when none is left or the state does not fit: nothing is allocated
 * on a worker. Without one (anyone else) it is malloc. The header before the state says which.
 */
static void *
stream_alloc(size_t size)
{
	struct pol_l7_streams *s = pol_l7_tl_pool;
	struct pol_l7_slot_hdr *h;
	uint32_t idx;

	if (!s) {
		h = malloc(POL_L7_SLOT_HDR + size);
		if (!h)
			return NULL;
		*h = (struct pol_l7_slot_hdr){NULL, 0, POL_L7_SLOT_MAGIC};
		return h + 1;
	}
	if (size > s->slot_bytes - POL_L7_SLOT_HDR || s->n_slot_free == 0)
		return NULL;
	idx = s->slot_free[--s->n_slot_free];
	h = (struct pol_l7_slot_hdr *)(s->slots + (size_t)idx * s->slot_bytes);
	*h = (struct pol_l7_slot_hdr){s, idx, POL_L7_SLOT_MAGIC};
	return h + 1;
}

/* Called by hs_close_stream on the thread that owns the pool (the worker, or destroy). */
static void
stream_free(void *p)
{
	struct pol_l7_slot_hdr *h;

	if (!p)
		return;
	h = (struct pol_l7_slot_hdr *)p - 1;
	if (!h->owner) {
		free(h);
		return;
	}
	h->magic = 0;
	h->owner->slot_free[h->owner->n_slot_free++] = h->idx;
}

static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;
static int alloc_ret;

static void
alloc_init(void)
{
	alloc_ret = hs_set_stream_allocator(stream_alloc, stream_free) == HS_SUCCESS ? 0 : -EINVAL;
}

int
pol_l7_stream_alloc_init(void)
{
	pthread_once(&alloc_once, alloc_init);
	return alloc_ret;
}

struct pol_l7_streams *
pol_l7_streams_create(const struct pol_l7_streams_cfg *cfg, unsigned worker)
{
	struct pol_l7_streams_cfg c = {0};
	struct pol_l7_streams *s;
	size_t bytes;
	uint32_t i;

	if (cfg)
		c = *cfg;
	if (!c.max_flows)
		c.max_flows = DEF_MAX_FLOWS;
	if (!c.max_streams)
		c.max_streams = c.max_flows;
	if (!c.slot_bytes)
		c.slot_bytes = DEF_SLOT_BYTES;
	if (c.max_flows > MAX_FLOWS || c.max_streams > MAX_FLOWS || c.slot_bytes > MAX_SLOT_BYTES ||
	    c.slot_bytes <= POL_L7_SLOT_HDR) {
		errno = EINVAL;
		return NULL;
	}
	c.slot_bytes = RTE_ALIGN_CEIL(c.slot_bytes, 64u); /* keeps every slot cache-aligned */
	if (pol_l7_stream_alloc_init()) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->worker = worker;
	s->max_flows = c.max_flows;
	s->max_streams = c.max_streams;
	s->slot_bytes = c.slot_bytes;
	atomic_init(&s->retired, NULL);
	s->flows = calloc(c.max_flows, sizeof(*s->flows));
	s->slot_free = malloc((size_t)c.max_streams * sizeof(*s->slot_free));
	bytes = (size_t)c.max_streams * c.slot_bytes;
	s->slots = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_MAX(bytes, (size_t)RTE_CACHE_LINE_SIZE));
	if (!s->flows || !s->slot_free || !s->slots) {
		free(s->flows);
		free(s->slot_free);
		free(s->slots);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	memset(s->slots, 0, bytes); /* touch it now, not on the first flows */
	for (i = 0; i < c.max_flows; i++)
		s->flows[i].next_free = i + 1 < c.max_flows ? i + 1 : POL_L7_NO_IDX;
	s->flow_free = 0;
	for (i = 0; i < c.max_streams; i++)
		s->slot_free[i] = c.max_streams - 1 - i; /* slot 0 first */
	s->n_slot_free = c.max_streams;
	return s;
}

void
pol_l7_streams_reap(struct pol_l7_streams *s, struct pol_gen *cur)
{
	struct pol_gen *g;

	if (!s)
		return;
	g = atomic_exchange_explicit(&s->retired, NULL, memory_order_acquire);
	while (g) {
		struct pol_gen *next = g->l7->retired_next;

		if (cur && cur != g)
			pol_l7_carry_late(cur, g);
		pol_gen_put(g); /* the worker left this last reference for us */
		g = next;
	}
}

void
pol_l7_gen_put(struct pol_gen *g, struct pol_gen *cur)
{
	unsigned v;

	if (!g)
		return;
	v = atomic_load_explicit(&g->refcnt, memory_order_acquire);
	for (;;) {
		if (v == 1) {
			/* ours is the last: no flow holds g (a worker closing its last flow saw
			 * more than one reference and only dropped its own) */
			if (cur && cur != g)
				pol_l7_carry_late(cur, g);
			pol_gen_put(g);
			return;
		}
		if (atomic_compare_exchange_weak_explicit(
		            &g->refcnt, &v, v - 1, memory_order_acq_rel, memory_order_acquire))
			return;
	}
}

void
pol_l7_streams_destroy(struct pol_l7_streams *s)
{
	uint32_t i;

	if (!s)
		return;
	for (i = 0; i < s->max_flows; i++)
		if (s->flows[i].state != POL_L7_FLOW_FREE)
			pol_l7_flow_close(s, &s->flows[i]);
	pol_l7_streams_reap(s, NULL);
	free(s->flows);
	free(s->slot_free);
	free(s->slots);
	free(s);
}

void
pol_l7_streams_counters(const struct pol_l7_streams *s, uint64_t out[POL_L7_SCNT__MAX])
{
	unsigned i;

	for (i = 0; i < POL_L7_SCNT__MAX; i++)
		out[i] = __atomic_load_n(&s->cnt[i], __ATOMIC_RELAXED);
}

uint32_t
pol_l7_streams_flows_in_use(const struct pol_l7_streams *s)
{
	return __atomic_load_n(&s->flows_used, __ATOMIC_RELAXED);
}

uint32_t
pol_l7_streams_slots_in_use(const struct pol_l7_streams *s)
{
	return s->max_streams - __atomic_load_n(&s->n_slot_free, __ATOMIC_RELAXED);
}

size_t
pol_l7_stream_size(const struct pol_gen *g)
{
	return g->l7 ? g->l7->stream_size : 0;
}
