/* l7.c - compile a generation's signatures (hs_compile_multi per tier and direction), scratch,
 * counters. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_log.h>

#include "l7_priv.h"

RTE_LOG_REGISTER(pol_l7_logtype, bypassd.policy.l7, INFO);
#define L7_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, pol_l7_logtype, "POLICY: " fmt "\n", ##__VA_ARGS__)

#define CACHE_LINE_U64 8u /* uint64_t per cache line */

/* "operator" or "tenants[3]" */
static const char *
tier_path(char *buf, size_t size, const char *base, int tidx)
{
	if (tidx < 0)
		return pol_cfg_path(buf, size, base, "operator");
	return pol_cfg_path(buf, size, base, "tenants[%d]", tidx);
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool
has_sig_rules(const struct pol_policy *p)
{
	unsigned t, i;

	for (t = 0; t <= p->n_tenants; t++) {
		const struct pol_ruleset *rs = t == 0 ? &p->op : &p->tenants[t - 1].rs;

		for (i = 0; i < rs->n_rules; i++)
			if (rs->rules[i].n_sigs)
				return true;
	}
	return false;
}

/*
 * Rule ids of the signatures' referencing rules, per direction. Rule ids follow gen.c's
 * build_rules: operator rules from 1, then each tenant's in policy order.
 */
static int
build_refs(struct pol_l7 *l7, const struct pol_gen *g, const struct pol_policy *p,
           const unsigned *sig_base)
{
	unsigned t, i, j, pass, n_refs = 0;
	uint32_t id;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			uint32_t off = 0;
			enum pol_dir d;

			l7->refs = malloc(RTE_MAX(n_refs, 1u) * sizeof(*l7->refs));
			if (!l7->refs)
				return -ENOMEM;
			for (i = 0; i < l7->n_sigs; i++)
				for (d = 0; d < POL_DIR_MAX; d++) {
					l7->sigs[i].ref_off[d] = off;
					off += l7->sigs[i].n_refs[d];
					l7->sigs[i].n_refs[d] = 0;
				}
		}
		id = 1;
		for (t = 0; t <= p->n_tenants; t++) {
			const struct pol_ruleset *rs = t == 0 ? &p->op : &p->tenants[t - 1].rs;

			for (i = 0; i < rs->n_rules; i++, id++) {
				const struct pol_rule *r = &rs->rules[i];

				if (id >= g->n_rules || !r->name ||
				    strcmp(g->rules[id].name, r->name))
					return -EPROTO; /* out of step with build_rules */
				for (j = 0; j < r->n_sigs; j++) {
					struct pol_l7_sig *s;

					if (!r->sigs[j].name || r->sigs[j].idx >= rs->n_sigs)
						continue;
					s = &l7->sigs[sig_base[t] + r->sigs[j].idx];
					if (pass == 1)
						l7->refs[s->ref_off[r->dir] + s->n_refs[r->dir]] =
						        id;
					s->n_refs[r->dir]++;
					n_refs++;
				}
			}
		}
	}
	return 0;
}

/* Whether signature idx is referenced by a rule of dir that can match TCP (tcp or any). */
static bool
sig_tcp(const struct pol_l7 *l7, const struct pol_gen *g, unsigned idx, enum pol_dir dir)
{
	const struct pol_l7_sig *s = &l7->sigs[idx];
	uint32_t i;

	for (i = 0; i < s->n_refs[dir]; i++) {
		uint16_t proto = g->rules[l7->refs[s->ref_off[dir] + i]].proto;

		if (proto == POL_PROTO_ANY || proto == 6)
			return true;
	}
	return false;
}

/*
 * Compile tier t's (0 = operator) signatures referenced by rules of dir; *db NULL when none.
 * stream: HS_MODE_STREAM, only the signatures of rules that can match TCP (the stream stage's).
 */
static int
compile_tier(struct pol_l7 *l7, const struct pol_gen *g, const struct pol_policy *p, unsigned t,
             unsigned base, enum pol_dir dir, bool stream, hs_database_t **db,
             struct pol_cfg_errs *errs)
{
	const struct pol_ruleset *rs = t == 0 ? &p->op : &p->tenants[t - 1].rs;
	const char **exprs = NULL;
	unsigned *flags = NULL, *ids = NULL, n = 0, i;
	hs_compile_error_t *cerr = NULL;
	char path[POL_PATH_MAX], tp[POL_PATH_MAX];
	int ret = 0;

	*db = NULL;
	exprs = malloc(RTE_MAX(rs->n_sigs, 1u) * sizeof(*exprs));
	flags = malloc(RTE_MAX(rs->n_sigs, 1u) * sizeof(*flags));
	ids = malloc(RTE_MAX(rs->n_sigs, 1u) * sizeof(*ids));
	if (!exprs || !flags || !ids) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < rs->n_sigs; i++) {
		if (!l7->sigs[base + i].n_refs[dir] || !rs->sigs[i].pattern)
			continue;
		if (stream && !sig_tcp(l7, g, base + i, dir))
			continue;
		exprs[n] = rs->sigs[i].pattern;
		flags[n] = pol_l7_hs_flags(rs->sigs[i].flags);
		ids[n] = base + i;
		n++;
	}
	if (!n)
		goto out;
	if (hs_compile_multi(exprs, flags, ids, n, stream ? HS_MODE_STREAM : HS_MODE_BLOCK, NULL,
	                     db, &cerr) != HS_SUCCESS) {
		const char *why = cerr && cerr->message ? cerr->message : "unknown error";

		tier_path(tp, sizeof(tp), p->path, (int)t - 1);
		if (cerr && cerr->expression >= 0 && (unsigned)cerr->expression < n) {
			unsigned k = ids[cerr->expression] - base;
			const struct pol_signature *s = &rs->sigs[k];

			pol_cfg_err_add(
			        errs, p->file, s->pattern_loc.line, s->pattern_loc.col,
			        pol_cfg_path(path, sizeof(path), tp, "signatures[%u].pattern", k),
			        "Hyperscan cannot compile signature '%s' ('%s')%s: %s",
			        s->name ? s->name : "?", s->pattern,
			        stream ? " in stream mode" : "", why);
		} else {
			const struct pol_loc loc =
			        t == 0 ? (struct pol_loc){0, 0} : p->tenants[t - 1].loc;

			pol_cfg_err_add(
			        errs, p->file, loc.line, loc.col,
			        pol_cfg_path(path, sizeof(path), tp, "signatures"),
			        "Hyperscan cannot compile the %u %s signatures of this tier "
			        "together%s: %s",
			        n, pol_dir_name(dir), stream ? " in stream mode" : "", why);
		}
		*db = NULL;
		ret = -EINVAL;
	}
out:
	hs_free_compile_error(cerr);
	free(exprs);
	free(flags);
	free(ids);
	return ret;
}

static int
add_db(struct pol_l7 *l7, hs_database_t *db, hs_scratch_t **proto)
{
	hs_database_t **v = realloc(l7->dbs, (l7->n_dbs + 1) * sizeof(*v));

	if (!v) {
		hs_free_database(db);
		return -ENOMEM;
	}
	l7->dbs = v;
	l7->dbs[l7->n_dbs++] = db;
	/* grows the one prototype until it fits every database */
	return hs_alloc_scratch(db, proto) == HS_SUCCESS ? 0 : -ENOMEM;
}

int
pol_l7_build(struct pol_gen *g, const struct pol_policy *p, const struct pol_gen_opts *o,
             struct pol_cfg_errs *errs)
{
	struct pol_l7 *l7;
	hs_scratch_t *proto = NULL;
	unsigned *sig_base = NULL, t, i, w, n_sigs = 0;
	uint64_t t0 = mono_ns();
	size_t scratch_size = 0, size;
	enum pol_dir d;
	int ret, bad = 0;

	if (!has_sig_rules(p))
		return 0;
	l7 = calloc(1, sizeof(*l7));
	if (!l7)
		return -ENOMEM;
	g->l7 = l7;
	l7->n_workers = g->n_workers;
	sig_base = malloc((p->n_tenants + 1) * sizeof(*sig_base));
	if (!sig_base)
		return -ENOMEM;
	for (t = 0; t <= p->n_tenants; t++) {
		sig_base[t] = n_sigs;
		n_sigs += t == 0 ? p->op.n_sigs : p->tenants[t - 1].rs.n_sigs;
	}
	l7->n_sigs = n_sigs;
	l7->sigs = calloc(RTE_MAX(n_sigs, 1u), sizeof(*l7->sigs));
	l7->n_ids = g->n_ids;
	for (d = 0; d < POL_DIR_MAX; d++) {
		l7->tdb[d] = calloc(RTE_MAX(g->n_ids, 1u), sizeof(*l7->tdb[d]));
		l7->stdb[d] = calloc(RTE_MAX(g->n_ids, 1u), sizeof(*l7->stdb[d]));
	}
	if (!l7->sigs || !l7->tdb[0] || !l7->tdb[1] || !l7->stdb[0] || !l7->stdb[1]) {
		ret = -ENOMEM;
		goto out;
	}
	for (t = 0; t <= p->n_tenants; t++) {
		const struct pol_ruleset *rs = t == 0 ? &p->op : &p->tenants[t - 1].rs;

		for (i = 0; i < rs->n_sigs; i++) {
			struct pol_l7_sig *s = &l7->sigs[sig_base[t] + i];

			snprintf(s->name, sizeof(s->name), "%s",
			         rs->sigs[i].name ? rs->sigs[i].name : "?");
			s->tenant_idx = (int32_t)t - 1;
			s->action = (uint8_t)rs->sigs[i].action;
			s->flags = rs->sigs[i].flags;
		}
	}
	ret = build_refs(l7, g, p, sig_base);
	if (ret)
		goto out;
	for (i = 0; i < n_sigs; i++)
		l7->sigs[i].compiled = l7->sigs[i].n_refs[0] + l7->sigs[i].n_refs[1] > 0;

	for (t = 0; t <= p->n_tenants; t++) {
		for (d = 0; d < POL_DIR_MAX; d++) {
			unsigned mode;

			for (mode = 0; mode < 2; mode++) { /* block, then stream */
				hs_database_t *db;
				size_t ssize = 0;

				ret = compile_tier(l7, g, p, t, sig_base[t], d, mode == 1, &db,
				                   errs);
				if (ret == -ENOMEM)
					goto out;
				if (ret) {
					bad = ret; /* report every tier's, then fail */
					break;     /* the stream compile would say it again */
				}
				if (!db)
					continue;
				ret = add_db(l7, db,
				             &proto); /* owns db from here, even on failure */
				if (ret)
					goto out;
				if (mode == 0) {
					if (t == 0)
						l7->op[d] = db;
					else
						l7->tdb[d][g->tenants[t - 1].id] = db;
					l7->on[d] = true;
					continue;
				}
				if (hs_stream_size(db, &ssize) != HS_SUCCESS) {
					ret = -EINVAL;
					goto out;
				}
				l7->stream_size = RTE_MAX(l7->stream_size, ssize);
				if (t == 0)
					l7->sop[d] = db;
				else
					l7->stdb[d][g->tenants[t - 1].id] = db;
				l7->son[d] = true;
			}
		}
	}
	if (bad) {
		ret = bad;
		goto out;
	}
	l7->scratch = calloc(l7->n_workers, sizeof(*l7->scratch));
	if (!l7->scratch) {
		ret = -ENOMEM;
		goto out;
	}
	for (w = 0; proto && w < l7->n_workers; w++) {
		if (hs_clone_scratch(proto, &l7->scratch[w]) != HS_SUCCESS) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (proto)
		hs_scratch_size(proto, &scratch_size);
	l7->cnt_stride = RTE_ALIGN_CEIL((size_t)POL_L7_CNT_SIGS + n_sigs, CACHE_LINE_U64);
	size = l7->cnt_stride * l7->n_workers * sizeof(uint64_t);
	l7->cnt = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(size, RTE_CACHE_LINE_SIZE));
	if (!l7->cnt) {
		ret = -ENOMEM;
		goto out;
	}
	memset(l7->cnt, 0, size);
	L7_LOG(INFO,
	       "generation %llu: L7: %u signatures, %u Hyperscan databases (ingress %s, egress "
	       "%s; TCP streams ingress %s, egress %s, state up to %zu bytes a stream), scratch "
	       "%zu bytes x %u workers, compiled in %.1f ms",
	       (unsigned long long)g->number, n_sigs, l7->n_dbs, l7->on[0] ? "on" : "off",
	       l7->on[1] ? "on" : "off", l7->son[0] ? "on" : "off", l7->son[1] ? "on" : "off",
	       l7->stream_size, scratch_size, l7->n_workers, (double)(mono_ns() - t0) / 1e6);
	ret = 0;
out:
	hs_free_scratch(proto); /* the workers' are clones */
	free(sig_base);
	if (ret == -EPROTO) {
		pol_cfg_err_add(errs, p->file, 0, 0, p->path[0] ? p->path : "(document)",
		                "internal error: signature references out of step with the rules");
		ret = -EINVAL;
	}
	(void)o;
	return ret;
}

void
pol_l7_free(struct pol_gen *g)
{
	struct pol_l7 *l7 = g->l7;
	unsigned i;

	if (!l7)
		return;
	for (i = 0; l7->scratch && i < l7->n_workers; i++)
		hs_free_scratch(l7->scratch[i]);
	for (i = 0; i < l7->n_dbs; i++)
		hs_free_database(l7->dbs[i]);
	free(l7->scratch);
	free(l7->dbs);
	free(l7->tdb[0]);
	free(l7->tdb[1]);
	free(l7->stdb[0]);
	free(l7->stdb[1]);
	free(l7->refs);
	free(l7->sigs);
	free(l7->cnt);
	free(l7);
	g->l7 = NULL;
}

/* ---- counters ---- */

static uint64_t
sig_hits(const struct pol_l7 *l7, unsigned idx)
{
	uint64_t v = l7->sigs[idx].base_hits;
	unsigned w;

	for (w = 0; w < l7->n_workers; w++)
		v += __atomic_load_n(&l7->cnt[w * l7->cnt_stride + POL_L7_CNT_SIGS + idx],
		                     __ATOMIC_RELAXED);
	return v;
}

static const char *
sig_tenant(const struct pol_gen *g, const struct pol_l7_sig *s)
{
	return s->tenant_idx < 0 ? NULL : g->tenants[s->tenant_idx].name;
}

struct sig_ref {
	const struct pol_gen *g;
	unsigned idx;
};

static int
sig_cmp3(const struct pol_gen *ga, unsigned a, const struct pol_gen *gb, unsigned b)
{
	const struct pol_l7_sig *x = &ga->l7->sigs[a], *y = &gb->l7->sigs[b];
	const char *tx = sig_tenant(ga, x), *ty = sig_tenant(gb, y);
	int c;

	if ((!tx) != (!ty))
		return tx ? 1 : -1;
	c = tx ? strcmp(tx, ty) : 0;
	return c ? c : strcmp(x->name, y->name);
}

static int
sig_cmp(const void *a, const void *b)
{
	const struct sig_ref *x = a, *y = b;

	return sig_cmp3(x->g, x->idx, y->g, y->idx);
}

/*
 * Fold old's signature hits into g's base by (tier, name): late = false at publish (everything
 * old counted, and remember it), true when a streams context retires old (what flows still open
 * on it counted after that).
 */
static void
carry_sigs(struct pol_gen *g, const struct pol_gen *old, bool late)
{
	struct sig_ref *idx;
	unsigned i, n;

	if (!g->l7 || !old->l7 || !old->l7->n_sigs)
		return;
	n = old->l7->n_sigs;
	if (!late) {
		for (i = 0; i < n; i++)
			old->l7->sigs[i].carried = sig_hits(old->l7, i);
		old->l7->carried = true;
	} else if (!old->l7->carried) {
		return;
	}
	idx = malloc(n * sizeof(*idx));
	if (!idx) {
		L7_LOG(WARNING, "generation %llu: signature counters not carried over (no memory)",
		       (unsigned long long)g->number);
		return;
	}
	for (i = 0; i < n; i++)
		idx[i] = (struct sig_ref){old, i};
	qsort(idx, n, sizeof(*idx), sig_cmp);
	for (i = 0; i < g->l7->n_sigs; i++) {
		unsigned lo = 0, hi = n;

		while (lo < hi) {
			unsigned mid = (lo + hi) / 2;
			int c = sig_cmp3(g, i, old, idx[mid].idx);

			if (!c) {
				const struct pol_l7_sig *os = &old->l7->sigs[idx[mid].idx];

				g->l7->sigs[i].base_hits +=
				        late ? sig_hits(old->l7, idx[mid].idx) - os->carried
				             : os->carried;
				break;
			}
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
	}
	free(idx);
}

void
pol_l7_carry(struct pol_gen *g, const struct pol_gen *old)
{
	carry_sigs(g, old, false);
}

void
pol_l7_carry_late(struct pol_gen *g, const struct pol_gen *old)
{
	carry_sigs(g, old, true);
}

unsigned
pol_l7_n_sigs(const struct pol_gen *g)
{
	return g->l7 ? g->l7->n_sigs : 0;
}

int
pol_l7_sig_info(const struct pol_gen *g, unsigned idx, struct pol_sig_info *out)
{
	const struct pol_l7_sig *s;

	if (!g->l7 || idx >= g->l7->n_sigs)
		return -ENOENT;
	s = &g->l7->sigs[idx];
	out->name = s->name;
	out->tenant = sig_tenant(g, s);
	out->action = (enum pol_sig_action)s->action;
	out->flags = s->flags;
	out->compiled = s->compiled;
	out->hits = sig_hits(g->l7, idx);
	return 0;
}

void
pol_l7_stats(const struct pol_gen *g, struct pol_l7_stats *out)
{
	const struct pol_l7 *l7 = g->l7;
	unsigned w;

	memset(out, 0, sizeof(*out));
	for (w = 0; l7 && w < l7->n_workers; w++) {
		const struct pol_l7_wcnt *c =
		        (const struct pol_l7_wcnt *)&l7->cnt[w * l7->cnt_stride];

		out->scans += __atomic_load_n(&c->scans, __ATOMIC_RELAXED);
		out->bytes += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
		out->errors += __atomic_load_n(&c->errors, __ATOMIC_RELAXED);
	}
}
