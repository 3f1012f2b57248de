/* l7_stream_fp.c - the stream stage of a TCP flow: open (candidates, slots), scan in stream order,
 * end of data, close. Worker only: no allocation (streams live in the worker's slots). */
#include <errno.h>

#include <rte_branch_prediction.h>

#include "l7_priv.h"

/* What a scan of one tier's stream collects. */
struct sctx {
	struct pol_l7_flow *f;
	uint64_t *sig_cnt; /* this worker's per-signature counters in f->g */
	uint64_t limit;    /* matches ending at or beyond this offset are not consulted */
	unsigned tier;
};

/* The rule of a and b (same tier, 0 = none) with the lower priority number (as l7_fp.c). */
static inline uint32_t
better(const struct pol_gen *g, uint32_t a, uint32_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return g->rules[b].priority < g->rules[a].priority ? b : a;
}

/*
 * Hyperscan match callback, in stream-offset order within one tier: the verdict is re-evaluated
 * at each match (block mode's rules for the stream so far). Returns nonzero to stop this tier's
 * scan: the flow is denied, or (tenant tier) the operator tier decided at or before this offset.
 */
static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
         void *arg)
{
	struct sctx *c = arg;
	struct pol_l7_flow *f = c->f;
	const struct pol_gen *g = f->g;
	const struct pol_l7 *l7 = g->l7;
	const unsigned t = c->tier;
	const struct pol_l7_sig *s;
	const uint32_t *r;
	uint32_t i, deny, allow, rule;
	bool hit = false;

	(void)from;
	(void)flags;
	if (to >= c->limit)
		return 1;
	if (unlikely(id >= l7->n_sigs))
		return 0;
	s = &l7->sigs[id];
	r = &l7->refs[s->ref_off[f->dir]];
	for (i = 0; i < s->n_refs[f->dir]; i++) {
		if (!pol_gen_rule_matches(g, r[i], f->proto, f->src, f->dst, f->sport, f->dport))
			continue;
		hit = true;
		if (s->action == POL_SIG_COUNT)
			break;
		if (g->hot[r[i]].action == POL_ACT_DENY)
			f->acc_deny[t] = better(g, f->acc_deny[t], r[i]);
		else
			f->acc_allow[t] = better(g, f->acc_allow[t], r[i]);
	}
	if (!hit)
		return 0;
	c->sig_cnt[id]++;
	deny = better(g, f->plain[2 * t + 1], f->acc_deny[t]);
	allow = better(g, f->plain[2 * t], f->acc_allow[t]);
	rule = deny ? deny : allow;
	if (!rule)
		return 0;
	if (t == 0 && f->op_dec == POL_L7_OFF_NONE)
		f->op_dec = to; /* the tenant tier is not consulted from here on */
	if (g->hot[rule].action == POL_ACT_DENY && (g->hot[rule].flags & POL_RULE_F_SIGS)) {
		/* a signature rule's deny decides: the first such offset (the tenant tier is
		 * scanned after the operator's over the same bytes, below its op_dec) */
		if (f->state != POL_L7_FLOW_DENIED || to < f->deny.offset) {
			f->deny = (struct pol_l7_deny){rule, id, to};
			f->state = POL_L7_FLOW_DENIED;
		}
		return 1;
	}
	return 0;
}

bool
pol_l7_streams_on(const struct pol_gen *g, enum pol_dir dir)
{
	return g->l7 != NULL && g->l7->son[dir];
}

const struct pol_gen *
pol_l7_flow_gen(const struct pol_l7_flow *f)
{
	return f ? f->g : NULL;
}

/* Close st without matches; its slot goes back to the pool. */
static void
drop_stream(struct pol_l7_streams *s, hs_stream_t **st)
{
	if (!*st)
		return;
	pol_l7_tl_pool = s;
	hs_close_stream(*st, NULL, NULL, NULL);
	pol_l7_tl_pool = NULL;
	*st = NULL;
}

/*
 * Drop the flow's reference on its generation. The worker never frees one: holding the last
 * reference (the control thread put its own at publish), it links the generation on s for
 * pol_l7_streams_reap.
 */
static void
gen_release(struct pol_l7_streams *s, const struct pol_gen *cg)
{
	struct pol_gen *g = (struct pol_gen *)cg;
	unsigned v = atomic_load_explicit(&g->refcnt, memory_order_relaxed);

	for (;;) {
		if (v == 1) {
			struct pol_gen *head =
			        atomic_load_explicit(&s->retired, memory_order_relaxed);

			do
				g->l7->retired_next = head;
			while (!atomic_compare_exchange_weak_explicit(
			        &s->retired, &head, g, memory_order_release, memory_order_relaxed));
			return;
		}
		if (atomic_compare_exchange_weak_explicit(
		            &g->refcnt, &v, v - 1, memory_order_acq_rel, memory_order_relaxed))
			return;
	}
}

/* f (g set) takes its share of a reference on f->g: the worker's pin of it, or its own. */
static void
gen_hold(struct pol_l7_streams *s, struct pol_l7_flow *f)
{
	unsigned i, free_pin = POL_L7_PIN_OWN;

	for (i = 0; i < POL_L7_PINS; i++) {
		if (s->pins[i].g == f->g) {
			s->pins[i].n_flows++;
			f->pin = (uint8_t)i;
			return;
		}
		if (!s->pins[i].g && free_pin == POL_L7_PIN_OWN)
			free_pin = i;
	}
	pol_gen_get((struct pol_gen *)f->g);
	f->pin = (uint8_t)free_pin;
	if (free_pin != POL_L7_PIN_OWN)
		s->pins[free_pin] = (typeof(s->pins[0])){f->g, 1};
}

int
pol_l7_flow_open(struct pol_l7_streams *s, const struct pol_gen *g, enum pol_dir dir,
                 const struct pol_acl_key *key, struct pol_l7_flow **out)
{
	const struct pol_l7 *l7 = g->l7;
	const hs_database_t *db[2] = {NULL, NULL};
	struct pol_acl_verdict v;
	struct pol_l7_flow *f;
	unsigned tier, need = 0;
	uint16_t t;

	*out = NULL;
	if (l7 == NULL || !l7->son[dir] || key->proto != 6) {
		s->cnt[POL_L7_SCNT_NOT_NEEDED]++;
		return 0;
	}
	if (unlikely(s->worker >= l7->n_workers))
		return -EINVAL;
	pol_acl_classify(g, dir, s->worker, key, NULL, 1, &v);
	t = v.tenant;
	for (tier = 0; tier < 2; tier++) {
		uint32_t cand = v.sig_rule[tier], pdeny = v.plain[2 * tier + 1];

		/* the tenant tier is reached only when no plain rule of the operator's matches */
		if (tier == 1 && (v.plain[0] | v.plain[1]))
			break;
		/* as block mode: a plain deny ranked before every candidate decides the tier */
		if (!cand || (pdeny && g->rules[pdeny].priority < g->rules[cand].priority))
			continue;
		db[tier] = tier == 0 ? l7->sop[dir] : t < l7->n_ids ? l7->stdb[dir][t] : NULL;
		if (db[tier]) {
			size_t sz = 0;

			if (hs_stream_size(db[tier], &sz) != HS_SUCCESS ||
			    sz > s->slot_bytes - POL_L7_SLOT_HDR) {
				s->cnt[POL_L7_SCNT_REFUSED_SIZE]++;
				return -E2BIG;
			}
			need++;
		}
	}
	if (!need) {
		s->cnt[POL_L7_SCNT_NOT_NEEDED]++;
		return 0;
	}
	if (s->flow_free == POL_L7_NO_IDX || s->n_slot_free < need) {
		s->cnt[POL_L7_SCNT_REFUSED_CAP]++;
		return -ENOSPC;
	}
	f = &s->flows[s->flow_free];
	s->flow_free = f->next_free;
	*f = (struct pol_l7_flow){
	        .g = g,
	        .plain = {v.plain[0], v.plain[1], v.plain[2], v.plain[3]},
	        .op_dec = (v.plain[0] | v.plain[1]) ? 0 : POL_L7_OFF_NONE,
	        .src = __builtin_bswap32(key->src_be),
	        .dst = __builtin_bswap32(key->dst_be),
	        .sport = __builtin_bswap16(key->sport_be),
	        .dport = __builtin_bswap16(key->dport_be),
	        .tenant = t,
	        .dir = (uint8_t)dir,
	        .proto = key->proto,
	        .state = POL_L7_FLOW_OPEN,
	        .next_free = POL_L7_NO_IDX,
	};
	pol_l7_tl_pool = s;
	for (tier = 0; tier < 2; tier++) {
		if (db[tier] && hs_open_stream(db[tier], 0, &f->st[tier]) != HS_SUCCESS) {
			/* cannot happen with the checks above; fail closed all the same */
			pol_l7_tl_pool = NULL;
			drop_stream(s, &f->st[0]);
			f->state = POL_L7_FLOW_FREE;
			f->next_free = s->flow_free;
			s->flow_free = (uint32_t)(f - s->flows);
			s->cnt[POL_L7_SCNT_REFUSED_CAP]++;
			return -ENOSPC;
		}
	}
	pol_l7_tl_pool = NULL;
	gen_hold(s, f);
	s->flows_used++;
	s->cnt[POL_L7_SCNT_OPENED]++;
	*out = f;
	return 0;
}

static enum pol_l7_sv
verdict(const struct pol_l7_flow *f, struct pol_l7_deny *why)
{
	if (f->state != POL_L7_FLOW_DENIED)
		return POL_L7_PASS;
	if (why)
		*why = f->deny;
	return POL_L7_DENY;
}

/* A Hyperscan failure: the stream's state is unknown, so the flow is denied (rule 0). */
static void
fail(struct pol_l7_streams *s, struct pol_l7_flow *f)
{
	s->cnt[POL_L7_SCNT_ERRORS]++;
	if (f->state != POL_L7_FLOW_DENIED) {
		f->deny = (struct pol_l7_deny){0, POL_L7_NO_IDX, f->seen};
		f->state = POL_L7_FLOW_DENIED;
	}
}

/* After a chunk (or the end): give back the slots of streams no longer consulted. */
static void
settle(struct pol_l7_streams *s, struct pol_l7_flow *f)
{
	if (f->state == POL_L7_FLOW_DENIED) {
		drop_stream(s, &f->st[0]);
		drop_stream(s, &f->st[1]);
		s->cnt[POL_L7_SCNT_DENIED]++;
	} else if (f->op_dec != POL_L7_OFF_NONE) {
		drop_stream(s, &f->st[1]);
	}
}

enum pol_l7_sv
pol_l7_flow_scan(struct pol_l7_streams *s, struct pol_l7_flow *f, const uint8_t *data, uint32_t len,
                 struct pol_l7_deny *why)
{
	const struct pol_l7 *l7;
	struct sctx c;
	unsigned tier;

	if (!f)
		return POL_L7_PASS;
	if (f->state != POL_L7_FLOW_OPEN || len == 0)
		return verdict(f, why);
	l7 = f->g->l7;
	c.f = f;
	c.sig_cnt = &l7->cnt[s->worker * l7->cnt_stride + POL_L7_CNT_SIGS];
	for (tier = 0; tier < 2; tier++) {
		hs_error_t e;

		if (!f->st[tier])
			continue;
		c.tier = tier;
		c.limit = tier == 0 ? POL_L7_OFF_NONE : f->op_dec;
		e = hs_scan_stream(f->st[tier], (const char *)data, len, 0, l7->scratch[s->worker],
		                   on_match, &c);
		s->cnt[POL_L7_SCNT_SCANS]++;
		s->cnt[POL_L7_SCNT_BYTES] += len;
		if (unlikely(e != HS_SUCCESS && e != HS_SCAN_TERMINATED))
			fail(s, f);
	}
	f->seen += len;
	if (f->state == POL_L7_FLOW_DENIED || f->op_dec != POL_L7_OFF_NONE)
		settle(s, f);
	return verdict(f, why);
}

enum pol_l7_sv
pol_l7_flow_eof(struct pol_l7_streams *s, struct pol_l7_flow *f, struct pol_l7_deny *why)
{
	const struct pol_l7 *l7;
	struct sctx c;
	unsigned tier;

	if (!f)
		return POL_L7_PASS;
	if (f->state != POL_L7_FLOW_OPEN)
		return verdict(f, why);
	l7 = f->g->l7;
	c.f = f;
	c.sig_cnt = &l7->cnt[s->worker * l7->cnt_stride + POL_L7_CNT_SIGS];
	f->state = POL_L7_FLOW_EOF;
	for (tier = 0; tier < 2; tier++) {
		hs_error_t e;

		if (!f->st[tier])
			continue;
		c.tier = tier;
		c.limit = tier == 0 ? POL_L7_OFF_NONE : f->op_dec;
		/* end-of-data matches (`$`) are reported here; the slot goes back to the pool */
		pol_l7_tl_pool = s;
		e = hs_close_stream(f->st[tier], l7->scratch[s->worker], on_match, &c);
		pol_l7_tl_pool = NULL;
		f->st[tier] = NULL;
		if (unlikely(e != HS_SUCCESS && e != HS_SCAN_TERMINATED))
			fail(s, f);
	}
	if (f->state == POL_L7_FLOW_DENIED)
		s->cnt[POL_L7_SCNT_DENIED]++;
	return verdict(f, why);
}

void
pol_l7_flow_close(struct pol_l7_streams *s, struct pol_l7_flow *f)
{
	if (!f || f->state == POL_L7_FLOW_FREE)
		return;
	drop_stream(s, &f->st[0]);
	drop_stream(s, &f->st[1]);
	if (f->pin == POL_L7_PIN_OWN) {
		gen_release(s, f->g);
	} else if (--s->pins[f->pin].n_flows == 0) {
		gen_release(s, f->g);
		s->pins[f->pin].g = NULL;
	}
	f->g = NULL;
	f->state = POL_L7_FLOW_FREE;
	f->next_free = s->flow_free;
	s->flow_free = (uint32_t)(f - s->flows);
	s->flows_used--;
	s->cnt[POL_L7_SCNT_CLOSED]++;
}
