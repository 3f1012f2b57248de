/* gen.c - policy generations: build (rules, tenants, ids, offload hook), publish, reclaim. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_log.h>
#include <rte_rcu_qsbr.h>

#include "acl_priv.h"
#include "l7.h"

RTE_LOG_REGISTER(pol_acl_logtype, bypassd.policy.acl, INFO);
#define ACL_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, pol_acl_logtype, "POLICY: " fmt "\n", ##__VA_ARGS__)

#define CACHE_LINE 64u

/* "operator.rules[3]" or "tenants[1].rules[3]" */
static const char *
rule_path(char *buf, size_t size, const char *base, int tidx, unsigned ridx, const char *suffix)
{
	if (tidx < 0)
		return pol_cfg_path(buf, size, base, "operator.rules[%u]%s", ridx, suffix);
	return pol_cfg_path(buf, size, base, "tenants[%d].rules[%u]%s", tidx, ridx, suffix);
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- tenants ---- */

/* Ids kept from prev by name; new tenants take the lowest id free in both generations. */
static int
assign_ids(struct pol_gen *g, const struct pol_policy *p, const struct pol_gen *prev,
           struct pol_cfg_errs *errs)
{
	uint8_t used[(POL_TENANT_ID_MAX + 1) / 8] = {0};
	unsigned i, j, next = 0, max_id = 0;
	char path[POL_PATH_MAX];

	for (i = 0; prev && i < prev->n_tenants; i++)
		used[prev->tenants[i].id / 8] |= (uint8_t)(1u << (prev->tenants[i].id % 8));
	for (i = 0; i < p->n_tenants; i++) {
		struct pol_gen_tenant *t = &g->tenants[i];
		const struct pol_gen_tenant *old = NULL;

		for (j = 0; prev && j < prev->n_tenants; j++)
			if (!strcmp(prev->tenants[j].name, p->tenants[i].name)) {
				old = &prev->tenants[j];
				break;
			}
		if (old) {
			t->id = old->id;
			t->since = old->since;
			continue;
		}
		t->since = g->number;
		while (next <= POL_TENANT_ID_MAX && (used[next / 8] & (1u << (next % 8))))
			next++;
		if (next > POL_TENANT_ID_MAX) {
			pol_cfg_err_add(
			        errs, p->file, p->tenants[i].loc.line, p->tenants[i].loc.col,
			        pol_cfg_path(path, sizeof(path), p->path, "tenants[%u]", i),
			        "no tenant id left (ids 0..%u are held by this and the running "
			        "generation): reload once more after the removals took effect",
			        POL_TENANT_ID_MAX);
			return -ENOSPC;
		}
		t->id = (uint16_t)next;
		used[next / 8] |= (uint8_t)(1u << (next % 8));
	}
	for (i = 0; i < p->n_tenants; i++)
		if (g->tenants[i].id > max_id)
			max_id = g->tenants[i].id;
	g->n_ids = p->n_tenants ? max_id + 1 : 0;
	return 0;
}

static int
addr_cmp(const void *a, const void *b)
{
	const struct pol_gen_addr *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * Move the addresses of /24-or-longer ranges into g->ahash (all of them, or none when there are
 * more than POL_GEN_AHASH_MAX); g->addrs keeps the rest. 0 or -ENOMEM.
 */
static int
hash_addrs(struct pol_gen *g)
{
	uint64_t n = 0, groups = 1;
	unsigned i, k = 0;

	for (i = 0; i < g->n_addrs; i++)
		if (g->addrs[i].hi - g->addrs[i].lo < 256)
			n += (uint64_t)g->addrs[i].hi - g->addrs[i].lo + 1;
	if (n == 0 || n > POL_GEN_AHASH_MAX)
		return 0;
	while (groups * 4 < 2 * n)
		groups *= 2;
	g->ahash = aligned_alloc(64, RTE_MAX(groups * sizeof(*g->ahash), (uint64_t)64));
	if (!g->ahash)
		return -ENOMEM;
	memset(g->ahash, 0, groups * sizeof(*g->ahash));
	g->amask = (uint32_t)groups - 1;
	for (i = 0; i < g->n_addrs; i++) {
		const struct pol_gen_addr *r = &g->addrs[i];
		uint64_t a;

		if (r->hi - r->lo >= 256) {
			g->addrs[k++] = *r; /* stays a range, in order */
			continue;
		}
		for (a = r->lo; a <= r->hi; a++) {
			uint32_t h = pol_gen_ahash((uint32_t)a, g->amask);
			struct pol_gen_agroup *gr;
			unsigned s;

			while (g->ahash[h].used == 0xf) {
				g->ahash[h].ovf = 1;
				h = (h + 1) & g->amask;
			}
			gr = &g->ahash[h];
			s = (unsigned)__builtin_ctz(~(unsigned)gr->used);
			gr->addr[s] = (uint32_t)a;
			gr->tenant[s] = r->tenant;
			gr->used |= (uint8_t)(1u << s);
		}
	}
	g->n_addrs = k;
	return 0;
}

static int
build_tenants(struct pol_gen *g, const struct pol_policy *p, const struct pol_gen *prev,
              struct pol_cfg_errs *errs)
{
	unsigned i, j, k = 0, n_addrs = 0;
	int ret;

	g->n_tenants = p->n_tenants;
	g->tenants = calloc(RTE_MAX(p->n_tenants, 1u), sizeof(*g->tenants));
	if (!g->tenants)
		return -ENOMEM;
	ret = assign_ids(g, p, prev, errs);
	if (ret)
		return ret;
	g->id_to_idx = malloc(RTE_MAX(g->n_ids, 1u) * sizeof(*g->id_to_idx));
	if (!g->id_to_idx)
		return -ENOMEM;
	memset(g->id_to_idx, 0xff, RTE_MAX(g->n_ids, 1u) * sizeof(*g->id_to_idx));
	for (i = 0; i < p->n_tenants; i++) {
		const struct pol_tenant *pt = &p->tenants[i];
		struct pol_gen_tenant *t = &g->tenants[i];

		snprintf(t->name, sizeof(t->name), "%s", pt->name);
		t->sessions = pt->quota.sessions;
		t->sessions_per_worker =
		        (uint32_t)(((uint64_t)pt->quota.sessions + g->n_workers - 1) /
		                   g->n_workers);
		t->rate[POL_DIR_INGRESS] = pt->rate.ingress;
		t->rate[POL_DIR_EGRESS] = pt->rate.egress;
		t->new_conn_per_s = pt->rate.new_conn_per_s;
		g->id_to_idx[t->id] = (int16_t)i;
		n_addrs += pt->n_addrs;
	}
	g->addrs = malloc(RTE_MAX(n_addrs, 1u) * sizeof(*g->addrs));
	if (!g->addrs)
		return -ENOMEM;
	for (i = 0; i < p->n_tenants; i++)
		for (j = 0; j < p->tenants[i].n_addrs; j++) {
			const struct pol_prefix *a = &p->tenants[i].addrs[j];

			g->addrs[k].lo = a->addr;
			g->addrs[k].hi = a->addr | ~pol_prefix_mask(a->len);
			g->addrs[k].tenant = g->tenants[i].id;
			k++;
		}
	g->n_addrs = k;
	qsort(g->addrs, k, sizeof(*g->addrs), addr_cmp);
	return hash_addrs(g);
}

/* ---- rules ---- */

static int
fill_rule(struct pol_gen *g, uint32_t id, const struct pol_rule *r, int tidx, unsigned ridx,
          const struct pol_policy *p, const struct pol_gen_opts *o, struct pol_cfg_errs *errs)
{
	struct pol_gen_rule *gr = &g->rules[id];
	char path[POL_PATH_MAX];
	int ret;

	snprintf(gr->name, sizeof(gr->name), "%s", r->name ? r->name : "?");
	gr->priority = r->priority;
	gr->tenant_idx = tidx;
	gr->tenant = tidx < 0 ? POL_TENANT_NONE : g->tenants[tidx].id;
	gr->dir = (uint8_t)r->dir;
	gr->action = (uint8_t)r->action;
	gr->flags = (uint8_t)((r->stateful ? POL_RULE_F_STATEFUL : 0) |
	                      (r->log ? POL_RULE_F_LOG : 0) | (r->n_sigs ? POL_RULE_F_SIGS : 0));
	ret = pol_acl_normalise(gr, r);
	if (ret)
		return ret;
	if (gr->n_acl > o->max_rule_expansion) {
		pol_cfg_err_add(
		        errs, p->file, r->loc.line, r->loc.col,
		        rule_path(path, sizeof(path), p->path, tidx, ridx, ""),
		        "rule '%s' expands to %s%u rte_acl rules (%u source x %u destination "
		        "prefixes after excepts, %u x %u port ranges), more than %u: use fewer "
		        "or wider prefixes and ranges, or split the rule",
		        gr->name, gr->n_acl == UINT32_MAX ? "at least " : "", gr->n_acl,
		        RTE_MAX(gr->n_src, 1u), RTE_MAX(gr->n_dst, 1u), RTE_MAX(gr->n_sport, 1u),
		        RTE_MAX(gr->n_dport, 1u), o->max_rule_expansion);
		return -EINVAL;
	}
	return 0;
}

static void
fill_pseudo(struct pol_gen *g, uint32_t id, const char *name, int tidx, enum pol_dir dir,
            enum pol_action act)
{
	struct pol_gen_rule *gr = &g->rules[id];

	snprintf(gr->name, sizeof(gr->name), "%s", name);
	gr->tenant_idx = tidx;
	gr->tenant = tidx < 0 ? POL_TENANT_NONE : g->tenants[tidx].id;
	gr->dir = (uint8_t)dir;
	gr->action = (uint8_t)act;
	gr->flags = POL_RULE_F_DEFAULT;
	gr->proto = POL_PROTO_ANY;
}

/* The rte_flow hook, for every rule that may run in the NIC. */
static int
offload_rules(struct pol_gen *g, const struct pol_policy *p, const struct pol_gen_opts *o,
              struct pol_cfg_errs *errs)
{
	uint32_t id = 1;
	unsigned i, t;
	int bad = 0;

	for (t = 0; t <= p->n_tenants; t++) {
		const struct pol_ruleset *rs = t == 0 ? &p->op : &p->tenants[t - 1].rs;
		const struct pol_tenant *pt = t == 0 ? NULL : &p->tenants[t - 1];

		for (i = 0; i < rs->n_rules; i++, id++) {
			const struct pol_rule *r = &rs->rules[i];
			char why[256] = "", path[POL_PATH_MAX];
			int ret = -ENOSYS;

			if (r->offload == POL_OFFLOAD_NEVER)
				continue;
			if (o->offload)
				ret = o->offload(o->offload_arg, g, id, r, pt, why, sizeof(why));
			else
				snprintf(why, sizeof(why),
				         "no port can offload rules (rte_flow unavailable)");
			if (!ret) {
				g->rules[id].flags |= POL_RULE_F_HW;
				g->hot[id].flags = g->rules[id].flags;
				continue;
			}
			if (r->offload != POL_OFFLOAD_REQUIRED)
				continue;
			pol_cfg_err_add(
			        errs, p->file,
			        r->offload_loc.line ? r->offload_loc.line : r->loc.line,
			        r->offload_loc.line ? r->offload_loc.col : r->loc.col,
			        rule_path(path, sizeof(path), p->path, (int)t - 1, i, ".offload"),
			        "offload: required, but rule '%s' cannot run in the NIC: %s",
			        r->name ? r->name : "?",
			        why[0] ? why : strerror(ret < 0 ? -ret : ret));
			bad = -EINVAL;
		}
	}
	return bad;
}

static int
build_rules(struct pol_gen *g, const struct pol_policy *p, const struct pol_gen_opts *o,
            struct pol_cfg_errs *errs)
{
	uint32_t n = 1 + p->op.n_rules + 2 * p->n_tenants + POL_DIR_MAX, id = 1;
	unsigned i, t;
	int ret, bad = 0;

	for (t = 0; t < p->n_tenants; t++)
		n += p->tenants[t].rs.n_rules;
	g->n_rules = n;
	g->rules = calloc(n, sizeof(*g->rules));
	g->hot = calloc(n, sizeof(*g->hot));
	if (!g->rules || !g->hot)
		return -ENOMEM;
	for (t = 0; t <= p->n_tenants; t++) {
		const struct pol_ruleset *rs = t == 0 ? &p->op : &p->tenants[t - 1].rs;

		for (i = 0; i < rs->n_rules; i++, id++) {
			ret = fill_rule(g, id, &rs->rules[i], (int)t - 1, i, p, o, errs);
			if (ret == -ENOMEM)
				return ret;
			if (ret)
				bad = ret;
		}
	}
	for (t = 0; t < p->n_tenants; t++) {
		enum pol_dir d;

		for (d = 0; d < POL_DIR_MAX; d++, id++) {
			fill_pseudo(g, id, "default", (int)t, d, p->tenants[t].dflt[d]);
			g->tenants[t].dflt_rule[d] = id;
		}
	}
	g->unknown_rule[POL_DIR_INGRESS] = id;
	fill_pseudo(g, id++, "unknown-tenant", -1, POL_DIR_INGRESS, POL_ACT_DENY);
	g->unknown_rule[POL_DIR_EGRESS] = id;
	fill_pseudo(g, id++, "unknown-tenant", -1, POL_DIR_EGRESS, POL_ACT_DENY);
	for (id = 1; id < n; id++) {
		g->hot[id].action = g->rules[id].action;
		g->hot[id].flags = g->rules[id].flags;
	}
	if (bad)
		return bad;
	return offload_rules(g, p, o, errs);
}

static int
build_defaults(struct pol_gen *g)
{
	enum pol_dir d;
	unsigned t, i;

	for (d = 0; d < POL_DIR_MAX; d++) {
		g->dflt[d] = malloc(RTE_MAX(g->n_ids, 1u) * sizeof(uint32_t));
		if (!g->dflt[d])
			return -ENOMEM;
		for (i = 0; i < RTE_MAX(g->n_ids, 1u); i++)
			g->dflt[d][i] = g->unknown_rule[d];
	}
	for (t = 0; t < g->n_tenants; t++)
		for (d = 0; d < POL_DIR_MAX; d++)
			g->dflt[d][g->tenants[t].id] = g->tenants[t].dflt_rule[d];
	return 0;
}

static void
gen_free(struct pol_gen *g)
{
	uint32_t i;

	if (!g)
		return;
	pol_acl_free(g);
	pol_l7_free(g);
	for (i = 0; g->rules && i < g->n_rules; i++)
		pol_acl_rule_release(&g->rules[i]);
	free(g->rules);
	free(g->hot);
	free(g->cnt);
	free(g->dflt[0]);
	free(g->dflt[1]);
	free(g->tenants);
	free(g->id_to_idx);
	free(g->addrs);
	free(g->ahash);
	free(g);
}

struct pol_gen *
pol_gen_build(const struct pol_policy *p, const struct pol_gen *prev,
              const struct pol_gen_opts *opts, struct pol_cfg_errs *errs)
{
	struct pol_gen_opts o = {0};
	struct pol_gen *g;
	uint64_t t0 = mono_ns();
	size_t size;
	int ret;

	if (opts)
		o = *opts;
	if (!o.n_workers)
		o.n_workers = 1;
	if (!o.max_acl_rules)
		o.max_acl_rules = POL_ACL_MAX_RULES;
	if (!o.max_rule_expansion)
		o.max_rule_expansion = POL_ACL_MAX_RULE_EXPANSION;
	if (!opts)
		o.socket_id = -1;

	g = calloc(1, sizeof(*g));
	if (!g) {
		errno = ENOMEM;
		return NULL;
	}
	g->number = prev ? prev->number + 1 : 1;
	atomic_init(&g->refcnt, 1);
	g->n_workers = o.n_workers;
	g->alg = o.alg;

	ret = build_tenants(g, p, prev, errs);
	if (!ret)
		ret = build_rules(g, p, &o, errs);
	if (!ret)
		ret = build_defaults(g);
	if (!ret)
		ret = pol_l7_build(g, p, &o, errs); /* signatures: Hyperscan databases, scratch */
	if (ret)
		goto fail;

	g->cnt_stride =
	        RTE_ALIGN_CEIL((size_t)g->n_rules, CACHE_LINE / sizeof(struct pol_rule_cnt));
	size = g->cnt_stride * g->n_workers * sizeof(struct pol_rule_cnt);
	g->cnt = aligned_alloc(CACHE_LINE, RTE_ALIGN_CEIL(size, CACHE_LINE));
	if (!g->cnt) {
		ret = -ENOMEM;
		goto fail;
	}
	memset(g->cnt, 0, size);

	ret = pol_acl_build(g, &o, p->file, p->path, errs);
	if (ret)
		goto fail;
	ACL_LOG(INFO,
	        "generation %llu: %u rules (%u tenants) as %u ingress + %u egress rte_acl rules, "
	        "built in %.1f ms",
	        (unsigned long long)g->number, g->n_rules - 1, g->n_tenants,
	        g->n_acl[POL_DIR_INGRESS], g->n_acl[POL_DIR_EGRESS],
	        (double)(mono_ns() - t0) / 1e6);
	return g;

fail:
	if (ret == -ENOMEM)
		pol_cfg_err_add(errs, p->file, 0, 0, p->path[0] ? p->path : "(document)",
		                "out of memory compiling the policy");
	gen_free(g);
	errno = -ret;
	return NULL;
}

struct pol_gen *
pol_gen_get(struct pol_gen *g)
{
	if (g)
		atomic_fetch_add_explicit(&g->refcnt, 1, memory_order_relaxed);
	return g;
}

void
pol_gen_put(struct pol_gen *g)
{
	if (g && atomic_fetch_sub_explicit(&g->refcnt, 1, memory_order_acq_rel) == 1)
		gen_free(g);
}

/* ---- publish and counters ---- */

static const char *
rule_tenant_name(const struct pol_gen *g, const struct pol_gen_rule *gr)
{
	return gr->tenant_idx < 0 ? NULL : g->tenants[gr->tenant_idx].name;
}

static void
rule_totals(const struct pol_gen *g, uint32_t id, uint64_t *pkts, uint64_t *bytes)
{
	uint64_t p = g->rules[id].base_pkts, b = g->rules[id].base_bytes;
	unsigned w;

	for (w = 0; w < g->n_workers; w++) {
		const struct pol_rule_cnt *c = &g->cnt[w * g->cnt_stride + id];

		p += __atomic_load_n(&c->pkts, __ATOMIC_RELAXED);
		b += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
	}
	*pkts = p;
	*bytes = b;
}

struct key_ref {
	const struct pol_gen *g;
	uint32_t id;
};

/* identity of a rule across generations: tier (tenant name), name, and for pseudo-rules the
 * direction (a default is one per direction) */
static int
key_cmp3(const struct pol_gen *ga, uint32_t a, const struct pol_gen *gb, uint32_t b)
{
	const struct pol_gen_rule *x = &ga->rules[a], *y = &gb->rules[b];
	const char *tx = rule_tenant_name(ga, x), *ty = rule_tenant_name(gb, y);
	int c;

	c = strcmp(tx ? tx : "", ty ? ty : "");
	if (!c && (!tx) != (!ty))
		c = tx ? 1 : -1;
	if (!c)
		c = strcmp(x->name, y->name);
	if (!c)
		c = (int)(x->flags & POL_RULE_F_DEFAULT) - (int)(y->flags & POL_RULE_F_DEFAULT);
	if (!c && (x->flags & POL_RULE_F_DEFAULT))
		c = (int)x->dir - (int)y->dir;
	return c;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;

	return key_cmp3(x->g, x->id, y->g, y->id);
}

/* Fold old's totals into g's base counters, matching rules by identity. Control thread. */
static void
carry_counters(struct pol_gen *g, const struct pol_gen *old)
{
	struct key_ref *idx = malloc(old->n_rules * sizeof(*idx));
	uint32_t i, n = 0;

	if (!idx) {
		ACL_LOG(WARNING,
		        "generation %llu: counters of generation %llu not carried over "
		        "(out of memory)",
		        (unsigned long long)g->number, (unsigned long long)old->number);
		return;
	}
	for (i = 1; i < old->n_rules; i++)
		idx[n++] = (struct key_ref){old, i};
	qsort(idx, n, sizeof(*idx), key_cmp);
	for (i = 1; i < g->n_rules; i++) {
		uint32_t lo = 0, hi = n;

		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			int c = key_cmp3(g, i, old, idx[mid].id);

			if (!c) {
				uint64_t pk, by;

				rule_totals(old, idx[mid].id, &pk, &by);
				g->rules[i].base_pkts += pk;
				g->rules[i].base_bytes += by;
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
pol_gen_publish(struct pol_gen *_Atomic *slot, struct pol_gen *g, struct rte_rcu_qsbr *v)
{
	struct pol_gen *old = atomic_exchange_explicit(slot, g, memory_order_acq_rel);

	if (!old)
		return;
	if (v)
		rte_rcu_qsbr_synchronize(v, RTE_QSBR_THRID_INVALID);
	/* no worker holds old now: its counters are final */
	if (g) {
		carry_counters(g, old);
		pol_l7_carry(g, old);
	}
	ACL_LOG(INFO, "generation %llu published, %llu retired",
	        (unsigned long long)(g ? g->number : 0), (unsigned long long)old->number);
	pol_gen_put(old);
}

/* ---- accessors ---- */

uint64_t
pol_gen_number(const struct pol_gen *g)
{
	return g->number;
}

unsigned
pol_gen_n_rules(const struct pol_gen *g)
{
	return g->n_rules;
}

unsigned
pol_gen_n_workers(const struct pol_gen *g)
{
	return g->n_workers;
}

int
pol_gen_alg(const struct pol_gen *g)
{
	return g->alg;
}

int
pol_gen_rule_info(const struct pol_gen *g, uint32_t rule, struct pol_rule_info *out)
{
	const struct pol_gen_rule *gr;

	if (rule == 0 || rule >= g->n_rules)
		return -ENOENT;
	gr = &g->rules[rule];
	out->name = gr->name;
	out->tenant = rule_tenant_name(g, gr);
	out->tenant_id = gr->tenant;
	out->priority = gr->priority;
	out->dir = (enum pol_dir)gr->dir;
	out->action = (enum pol_action)gr->action;
	out->flags = g->hot[rule].flags;
	out->acl_rules = gr->n_acl;
	rule_totals(g, rule, &out->pkts, &out->bytes);
	return 0;
}

uint32_t
pol_gen_rule_id(const struct pol_gen *g, const char *tenant, const char *name)
{
	uint32_t i;

	for (i = 1; i < g->n_rules; i++) {
		const struct pol_gen_rule *gr = &g->rules[i];
		const char *t = rule_tenant_name(g, gr);

		if (gr->flags & POL_RULE_F_DEFAULT)
			continue;
		if ((!t) != (!tenant) || (t && strcmp(t, tenant)))
			continue;
		if (!strcmp(gr->name, name))
			return i;
	}
	return 0;
}

unsigned
pol_gen_n_tenants(const struct pol_gen *g)
{
	return g->n_tenants;
}

const struct pol_gen_tenant *
pol_gen_tenant_at(const struct pol_gen *g, unsigned i)
{
	return i < g->n_tenants ? &g->tenants[i] : NULL;
}

const struct pol_gen_tenant *
pol_gen_tenant_by_id(const struct pol_gen *g, uint16_t id)
{
	if (id >= g->n_ids || g->id_to_idx[id] < 0)
		return NULL;
	return &g->tenants[g->id_to_idx[id]];
}
