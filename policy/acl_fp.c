/* acl_fp.c - per-burst classification against a published generation; tenant lookup; counters. */
#include <string.h>

#include <rte_acl.h>
#include <rte_branch_prediction.h>

#include "acl_priv.h"

/*
 * Signature candidates (for the L7 stage) of the packets whose tiers have signature rules: one
 * classify of the signature context over just those. res: the plain categories, for plain[].
 */
static void
sig_candidates(const struct pol_gen *g, enum pol_dir dir, const struct pol_acl_key *keys,
               unsigned n, const uint32_t *res, struct pol_acl_verdict *out)
{
	const uint8_t *data[POL_ACL_BURST_MAX];
	uint32_t sres[POL_ACL_BURST_MAX * POL_ACL_CATS_SIGS];
	uint8_t idx[POL_ACL_BURST_MAX];
	const uint8_t *st = g->sig_t[dir];
	unsigned i, k, m = 0;

	for (i = 0; i < n; i++) {
		const uint16_t t = out[i].tenant;

		if (g->sig_op[dir] || (st != NULL && t < g->n_ids && st[t])) {
			data[m] = (const uint8_t *)&keys[i];
			idx[m++] = (uint8_t)i;
		}
	}
	if (m == 0)
		return;
	rte_acl_classify(g->sctx[dir], data, sres, m, POL_ACL_CATS_SIGS);
	for (k = 0; k < m; k++) {
		const uint32_t *r = &sres[k * POL_ACL_CATS_SIGS];

		if (!(r[POL_ACL_CAT_OP_SIG] | r[POL_ACL_CAT_T_SIG]))
			continue;
		i = idx[k];
		out[i].sig_rule[0] = r[POL_ACL_CAT_OP_SIG];
		out[i].sig_rule[1] = r[POL_ACL_CAT_T_SIG];
		memcpy(out[i].plain, &res[i * POL_ACL_CATS_PLAIN], sizeof(out[i].plain));
	}
}

/*
 * One rte_acl_classify per burst and direction, then the tier order resolved from the category
 * results: operator deny, operator allow, tenant deny, tenant allow, the tenant's default. A
 * second classify of the signature context, for the packets of tiers with signature rules only.
 */
unsigned
pol_acl_classify(const struct pol_gen *g, enum pol_dir dir, unsigned worker,
                 const struct pol_acl_key *keys, const uint32_t *lens, unsigned n,
                 struct pol_acl_verdict *out)
{
	const uint8_t *data[POL_ACL_BURST_MAX];
	uint32_t res[POL_ACL_BURST_MAX * POL_ACL_CATS_PLAIN];
	const uint32_t ncat = POL_ACL_CATS_PLAIN;
	const uint32_t *dflt = g->dflt[dir];
	const uint32_t unknown = g->unknown_rule[dir];
	unsigned i;

	if (unlikely(n > POL_ACL_BURST_MAX))
		n = POL_ACL_BURST_MAX;
	if (unlikely(n == 0))
		return 0;
	if (likely(g->ctx[dir] != NULL)) {
		for (i = 0; i < n; i++)
			data[i] = (const uint8_t *)&keys[i];
		rte_acl_classify(g->ctx[dir], data, res, n, ncat);
	} else {
		memset(res, 0, (size_t)n * ncat * sizeof(res[0]));
	}

	for (i = 0; i < n; i++) {
		const uint32_t *r = &res[i * ncat];
		const uint16_t t = pol_acl_key_tenant(&keys[i]);
		uint32_t rule;

		if (r[POL_ACL_CAT_OP_DENY])
			rule = r[POL_ACL_CAT_OP_DENY];
		else if (r[POL_ACL_CAT_OP_ALLOW])
			rule = r[POL_ACL_CAT_OP_ALLOW];
		else if (r[POL_ACL_CAT_T_DENY])
			rule = r[POL_ACL_CAT_T_DENY];
		else if (r[POL_ACL_CAT_T_ALLOW])
			rule = r[POL_ACL_CAT_T_ALLOW];
		else
			rule = likely(t < g->n_ids) ? dflt[t] : unknown;
		out[i].rule = rule;
		out[i].action = g->hot[rule].action;
		out[i].flags = g->hot[rule].flags;
		out[i].tenant = t;
		out[i].sig_rule[0] = out[i].sig_rule[1] = 0;
	}
	if (unlikely(g->sctx[dir] != NULL))
		sig_candidates(g, dir, keys, n, res, out);

	if (lens != NULL && likely(worker < g->n_workers)) {
		struct pol_rule_cnt *c = &g->cnt[worker * g->cnt_stride];

		for (i = 0; i < n; i++) {
			c[out[i].rule].pkts++;
			c[out[i].rule].bytes += lens[i];
		}
	}
	return n;
}

void
pol_gen_count(const struct pol_gen *g, unsigned worker, uint32_t rule, uint32_t bytes)
{
	struct pol_rule_cnt *c;

	if (unlikely(worker >= g->n_workers || rule >= g->n_rules))
		return;
	c = &g->cnt[worker * g->cnt_stride + rule];
	c->pkts++;
	c->bytes += bytes;
}

uint16_t
pol_gen_tenant_by_addr(const struct pol_gen *g, uint32_t addr)
{
	unsigned lo = 0, hi = g->n_addrs;

	/* the last range starting at or before addr */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (g->addrs[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || addr > g->addrs[lo - 1].hi)
		return POL_TENANT_NONE;
	return g->addrs[lo - 1].tenant;
}

static bool
in_pfx(const struct pol_gen_pfx *v, uint32_t n, uint32_t a)
{
	uint32_t i;

	if (!n)
		return true;
	for (i = 0; i < n; i++)
		if (pol_prefix_contains(v[i].addr, v[i].len, a))
			return true;
	return false;
}

static bool
in_range(const struct pol_gen_range *v, uint32_t n, uint16_t p)
{
	uint32_t i;

	if (!n)
		return true;
	for (i = 0; i < n; i++)
		if (p >= v[i].lo && p <= v[i].hi)
			return true;
	return false;
}

bool
pol_gen_rule_matches(const struct pol_gen *g, uint32_t rule, uint8_t proto, uint32_t src,
                     uint32_t dst, uint16_t sport, uint16_t dport)
{
	const struct pol_gen_rule *gr;

	if (rule == 0 || rule >= g->n_rules)
		return false;
	gr = &g->rules[rule];
	if (gr->flags & POL_RULE_F_DEFAULT)
		return true;
	if (!gr->n_acl)
		return false; /* every address excepted */
	if (gr->proto != POL_PROTO_ANY && gr->proto != proto)
		return false;
	return in_pfx(gr->src, gr->n_src, src) && in_pfx(gr->dst, gr->n_dst, dst) &&
	       in_range(gr->sport, gr->n_sport, sport) && in_range(gr->dport, gr->n_dport, dport);
}
