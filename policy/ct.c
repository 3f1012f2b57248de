/* ct.c - conntrack tables: setup, LRU lists, removal, expiry sweep, counters. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include "ct_priv.h"

const char *const pol_ct_state_names[POL_CT_NSTATES] = {
#define _(e, n, t, ev) n,
        foreach_pol_ct_state(_)
#undef _
};

const uint8_t pol_ct_state_evictable[POL_CT_NSTATES] = {
#define _(e, n, t, ev) ev,
        foreach_pol_ct_state(_)
#undef _
};

static const uint32_t default_timeout_s[POL_CT_NSTATES] = {
#define _(e, n, t, ev) t,
        foreach_pol_ct_state(_)
#undef _
};

const char *const pol_ct_counter_names[POL_CT_CNT__MAX] = {
#define _(e, n, h) n,
        foreach_pol_ct_counter(_)
#undef _
};

const char *const pol_ct_counter_help[POL_CT_CNT__MAX] = {
#define _(e, n, h) h,
        foreach_pol_ct_counter(_)
#undef _
};

struct pol_ct *
pol_ct_create(const struct pol_ct_conf *conf)
{
	struct pol_ct *ct;
	uint64_t buckets;
	int socket;
	unsigned s;

	if (!conf || conf->entries < 8 || conf->entries > (1u << 28)) {
		errno = EINVAL;
		return NULL;
	}
	socket = conf->socket_id < 0 ? SOCKET_ID_ANY : conf->socket_id;
	ct = rte_zmalloc_socket("pol_ct", sizeof(*ct), RTE_CACHE_LINE_SIZE, socket);
	if (!ct) {
		errno = ENOMEM;
		return NULL;
	}
	/* twice the capacity in slots: at most half full (conf->name: unused, names need not be
	 * unique any more) */
	buckets = rte_align64pow2((uint64_t)conf->entries * 2 / CT_BUCKET_SLOTS);
	ct->mask = (uint32_t)buckets - 1;
	ct->seed = (uint32_t)rte_rand();
	ct->n_slots = conf->entries;
	ct->capacity = conf->entries;
	ct->max_tenants = conf->max_tenants ? conf->max_tenants : 8192;
	ct->b = rte_zmalloc_socket("pol_ct_b", buckets * sizeof(*ct->b), RTE_CACHE_LINE_SIZE,
	                           socket);
	ct->e = rte_zmalloc_socket("pol_ct_e", (size_t)ct->n_slots * sizeof(*ct->e),
	                           RTE_CACHE_LINE_SIZE, socket);
	ct->side = rte_zmalloc_socket("pol_ct_s", (size_t)ct->n_slots * sizeof(*ct->side),
	                              RTE_CACHE_LINE_SIZE, socket);
	ct->free =
	        rte_malloc_socket("pol_ct_f", (size_t)ct->n_slots * sizeof(*ct->free), 0, socket);
	ct->tenants = rte_zmalloc_socket("pol_ct_t", (size_t)ct->max_tenants * sizeof(*ct->tenants),
	                                 RTE_CACHE_LINE_SIZE, socket);
	if (!ct->b || !ct->e || !ct->side || !ct->free || !ct->tenants) {
		pol_ct_free(ct);
		errno = ENOMEM;
		return NULL;
	}
	/* entry 0 on top: a table fills from the start of the array */
	for (s = 0; s < ct->n_slots; s++)
		ct->free[s] = ct->n_slots - 1 - s;
	ct->n_free = ct->n_slots;
	ct->head = ct->tail = CT_NIL;
	for (s = 0; s < ct->max_tenants; s++)
		ct->tenants[s].head = ct->tenants[s].tail = CT_NIL;
	for (s = 0; s < POL_CT_NSTATES; s++)
		ct->timeout[s] = conf->timeouts.ns[s] ? conf->timeouts.ns[s]
		                                      : default_timeout_s[s] * 1000000000ull;
	return ct;
}

void
pol_ct_free(struct pol_ct *ct)
{
	if (!ct)
		return;
	rte_free(ct->b);
	rte_free(ct->e);
	rte_free(ct->side);
	rte_free(ct->free);
	rte_free(ct->tenants);
	rte_free(ct);
}

/* ---- lists: append at the tail (newest), evict from the head (oldest) ---- */

void
ct_list_add(struct pol_ct *ct, uint32_t i)
{
	struct ct_entry *e = &ct->e[i];
	struct ct_tenant *t = &ct->tenants[e->key.tenant];

	e->next = CT_NIL;
	e->prev = ct->tail;
	if (ct->tail != CT_NIL)
		ct->e[ct->tail].next = i;
	else
		ct->head = i;
	ct->tail = i;

	e->tnext = CT_NIL;
	e->tprev = t->tail;
	if (t->tail != CT_NIL)
		ct->e[t->tail].tnext = i;
	else
		t->head = i;
	t->tail = i;
	e->flags |= CT_E_LISTED;
}

void
ct_list_del(struct pol_ct *ct, uint32_t i)
{
	struct ct_entry *e = &ct->e[i];
	struct ct_tenant *t = &ct->tenants[e->key.tenant];

	if (!(e->flags & CT_E_LISTED))
		return;
	if (e->prev != CT_NIL)
		ct->e[e->prev].next = e->next;
	else
		ct->head = e->next;
	if (e->next != CT_NIL)
		ct->e[e->next].prev = e->prev;
	else
		ct->tail = e->prev;

	if (e->tprev != CT_NIL)
		ct->e[e->tprev].tnext = e->tnext;
	else
		t->head = e->tnext;
	if (e->tnext != CT_NIL)
		ct->e[e->tnext].tprev = e->tprev;
	else
		t->tail = e->tprev;
	e->flags &= (uint8_t)~CT_E_LISTED;
}

void
ct_entry_remove(struct pol_ct *ct, uint32_t i)
{
	struct ct_entry *e = &ct->e[i];

	if (!(e->flags & CT_E_USED))
		return;
	ct_list_del(ct, i);
	ct_index_del(ct, e->hash, i);
	ct->tenants[e->key.tenant].count--;
	ct->count--;
	e->flags = 0;
	ct->free[ct->n_free++] = i;
}

void
pol_ct_remove(struct pol_ct *ct, int32_t idx)
{
	if (idx >= 0 && (uint32_t)idx < ct->n_slots)
		ct_entry_remove(ct, (uint32_t)idx);
}

unsigned
pol_ct_expire(struct pol_ct *ct, uint64_t now_ns, unsigned budget)
{
	return pol_ct_expire_gone(ct, now_ns, budget, NULL, NULL);
}

unsigned
pol_ct_expire_gone(struct pol_ct *ct, uint64_t now_ns, unsigned budget,
                   bool (*gone)(const void *arg, uint16_t tenant, uint64_t gen), const void *arg)
{
	unsigned removed = 0;

	if (budget > ct->n_slots)
		budget = ct->n_slots;
	while (budget--) {
		uint32_t i = ct->sweep;
		struct ct_entry *e = &ct->e[i];

		if (++ct->sweep == ct->n_slots)
			ct->sweep = 0;
		if (!(e->flags & CT_E_USED))
			continue;
		if (now_ns - e->last_ns >= ct->timeout[e->state]) {
			ct_entry_remove(ct, i);
			ct->cnt[POL_CT_CNT_EXPIRED]++;
			removed++;
		} else if (gone && gone(arg, e->key.tenant, e->gen)) {
			ct_entry_remove(ct, i);
			ct->cnt[POL_CT_CNT_TENANT_GONE]++;
			removed++;
		}
	}
	return removed;
}

uint32_t
pol_ct_count(const struct pol_ct *ct)
{
	return __atomic_load_n(&ct->count, __ATOMIC_RELAXED);
}

uint32_t
pol_ct_tenant_count(const struct pol_ct *ct, uint16_t tenant)
{
	return tenant < ct->max_tenants
	               ? __atomic_load_n(&ct->tenants[tenant].count, __ATOMIC_RELAXED)
	               : 0;
}

uint64_t
pol_ct_counter(const struct pol_ct *ct, enum pol_ct_counter c)
{
	return c < POL_CT_CNT__MAX ? __atomic_load_n(&ct->cnt[c], __ATOMIC_RELAXED) : 0;
}

int
pol_ct_get(const struct pol_ct *ct, int32_t idx, struct pol_ct_info *info)
{
	const struct ct_entry *e;

	if (idx < 0 || (uint32_t)idx >= ct->n_slots || !(ct->e[idx].flags & CT_E_USED))
		return -ENOENT;
	e = &ct->e[idx];
	info->idx = idx;
	info->state = e->state;
	info->admit_reply = !!(e->flags & CT_E_ADMIT);
	info->rule = e->rule;
	info->gen = e->gen;
	return 0;
}

uint64_t
pol_ct_timeout(const struct pol_ct *ct, enum pol_ct_state s)
{
	return s < POL_CT_NSTATES ? ct->timeout[s] : 0;
}
