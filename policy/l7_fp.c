/* l7_fp.c - the L7 stage per burst: scan payloads of signature candidates, re-resolve the tiers. */
#include <rte_branch_prediction.h>

#include "l7_priv.h"

/* What a scan of one tier's database collects. */
struct scan_ctx {
	const struct pol_gen *g;
	const struct pol_l7 *l7;
	uint64_t *sig_cnt; /* this worker's per-signature counters */
	uint8_t dir, proto;
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t deny, allow; /* best signature rules that matched, 0 = none */
};

/* The rule of a and b (same tier, 0 = none) with the lower priority number. */
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
 * Hyperscan match callback: signature id matched (once per scan: HS_FLAG_SINGLEMATCH). It counts
 * when one of its rules of this direction applies to the 5-tuple; a `deny` signature also makes
 * those rules match.
 */
static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
         void *arg)
{
	struct scan_ctx *c = arg;
	const struct pol_gen *g = c->g;
	const struct pol_l7_sig *s;
	const uint32_t *r;
	bool hit = false;
	uint32_t i;

	if (unlikely(id >= c->l7->n_sigs))
		return 0;
	s = &c->l7->sigs[id];
	r = &c->l7->refs[s->ref_off[c->dir]];
	for (i = 0; i < s->n_refs[c->dir]; i++) {
		if (!pol_gen_rule_matches(g, r[i], c->proto, c->src, c->dst, c->sport, c->dport))
			continue;
		hit = true;
		if (s->action == POL_SIG_COUNT)
			break;
		if (g->hot[r[i]].action == POL_ACT_DENY)
			c->deny = better(g, c->deny, r[i]);
		else
			c->allow = better(g, c->allow, r[i]);
	}
	if (hit)
		c->sig_cnt[id]++;
	return 0;
}

bool
pol_l7_on(const struct pol_gen *g, enum pol_dir dir)
{
	return g->l7 != NULL && g->l7->on[dir];
}

bool
pol_l7_active(const struct pol_gen *g, enum pol_dir dir, uint16_t tenant)
{
	const struct pol_l7 *l7 = g->l7;

	return l7 != NULL &&
	       (l7->op[dir] != NULL || (tenant < l7->n_ids && l7->tdb[dir][tenant] != NULL));
}

unsigned
pol_l7_resolve(const struct pol_gen *g, enum pol_dir dir, unsigned worker,
               const struct pol_acl_key *keys, const uint8_t *const *pay, const uint32_t *pay_len,
               unsigned n, struct pol_acl_verdict *v)
{
	static const uint8_t empty[1];
	const struct pol_l7 *l7 = g->l7;
	struct pol_l7_wcnt *tot;
	struct scan_ctx c;
	hs_scratch_t *scratch;
	unsigned i, tier, scanned = 0;

	if (unlikely(l7 == NULL || !l7->on[dir] || worker >= l7->n_workers))
		return 0;
	scratch = l7->scratch[worker];
	tot = (struct pol_l7_wcnt *)&l7->cnt[worker * l7->cnt_stride];
	c.g = g;
	c.l7 = l7;
	c.sig_cnt = &l7->cnt[worker * l7->cnt_stride + POL_L7_CNT_SIGS];
	c.dir = (uint8_t)dir;
	for (i = 0; i < n; i++) {
		struct pol_acl_verdict *vi = &v[i];
		const uint16_t t = vi->tenant;
		uint32_t rule = 0;

		if (likely(!(vi->sig_rule[0] | vi->sig_rule[1])))
			continue;
		c.proto = keys[i].proto;
		c.src = __builtin_bswap32(keys[i].src_be);
		c.dst = __builtin_bswap32(keys[i].dst_be);
		c.sport = __builtin_bswap16(keys[i].sport_be);
		c.dport = __builtin_bswap16(keys[i].dport_be);
		for (tier = 0; tier < 2 && !rule; tier++) {
			uint32_t allow = vi->plain[2 * tier], deny = vi->plain[2 * tier + 1];
			uint32_t s = vi->sig_rule[tier];
			const hs_database_t *db;

			/* a plain deny ranked before every candidate decides whatever the payload
			 */
			if (s && !(deny && g->rules[deny].priority < g->rules[s].priority)) {
				db = tier == 0       ? l7->op[dir]
				     : t < l7->n_ids ? l7->tdb[dir][t]
				                     : NULL;
				if (likely(db != NULL)) {
					const uint8_t *p = pay[i] ? pay[i] : empty;
					hs_error_t e;

					c.deny = c.allow = 0;
					e = hs_scan(db, (const char *)p, pay_len[i], 0, scratch,
					            on_match, &c);
					if (unlikely(e != HS_SUCCESS))
						tot->errors++; /* hits before the failure still
						                  count */
					tot->scans++;
					tot->bytes += pay_len[i];
					scanned++;
					deny = better(g, deny, c.deny);
					allow = better(g, allow, c.allow);
				}
			}
			rule = deny ? deny : allow;
		}
		if (!rule)
			rule = likely(t < g->n_ids) ? g->dflt[dir][t] : g->unknown_rule[dir];
		vi->rule = rule;
		vi->action = g->hot[rule].action;
		vi->flags = g->hot[rule].flags;
	}
	return scanned;
}
