/* acl.c - the rte_acl compiler: rules normalised, expanded to 5-tuple+tenant rules, built. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_acl.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_memory.h>

#include "acl_priv.h"

RTE_ACL_RULE_DEF(pol_acl_rule, POL_ACL_NFIELDS);

/*
 * Field layout over struct pol_acl_key. The tenant comes right after the protocol so that the
 * trie splits by tenant early; operator rules carry a wildcard tenant.
 */
static const struct rte_acl_field_def acl_defs[POL_ACL_NFIELDS] = {
        {
                .type = RTE_ACL_FIELD_TYPE_BITMASK,
                .size = sizeof(uint8_t),
                .field_index = POL_ACL_F_PROTO,
                .input_index = 0,
                .offset = offsetof(struct pol_acl_key, proto),
        },
        {
                .type = RTE_ACL_FIELD_TYPE_MASK,
                .size = sizeof(uint32_t),
                .field_index = POL_ACL_F_TENANT,
                .input_index = 1,
                .offset = offsetof(struct pol_acl_key, tenant_be),
        },
        {
                .type = RTE_ACL_FIELD_TYPE_MASK,
                .size = sizeof(uint32_t),
                .field_index = POL_ACL_F_SRC,
                .input_index = 2,
                .offset = offsetof(struct pol_acl_key, src_be),
        },
        {
                .type = RTE_ACL_FIELD_TYPE_MASK,
                .size = sizeof(uint32_t),
                .field_index = POL_ACL_F_DST,
                .input_index = 3,
                .offset = offsetof(struct pol_acl_key, dst_be),
        },
        {
                .type = RTE_ACL_FIELD_TYPE_RANGE,
                .size = sizeof(uint16_t),
                .field_index = POL_ACL_F_SPORT,
                .input_index = 4,
                .offset = offsetof(struct pol_acl_key, sport_be),
        },
        {
                .type = RTE_ACL_FIELD_TYPE_RANGE,
                .size = sizeof(uint16_t),
                .field_index = POL_ACL_F_DPORT,
                .input_index = 4,
                .offset = offsetof(struct pol_acl_key, dport_be),
        },
};

/* Context names must be unique process-wide: DPDK hands back the existing context for a reused
 * name. A counter, not the generation number, so failed or parallel builds never collide. */
static atomic_uint_fast64_t ctx_seq;

/* ---- normalisation ---- */

struct pfx_vec {
	struct pol_gen_pfx *v;
	uint32_t n, cap;
};

static int
pfx_push(struct pfx_vec *pv, uint32_t addr, uint8_t len)
{
	if (pv->n == pv->cap) {
		uint32_t cap = pv->cap ? pv->cap * 2 : 8;
		struct pol_gen_pfx *v = realloc(pv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pv->v = v;
		pv->cap = cap;
	}
	pv->v[pv->n].addr = addr;
	pv->v[pv->n].len = len;
	pv->n++;
	return 0;
}

/*
 * Emit addr/len minus every prefix of ex as the smallest set of prefixes: when an exception
 * covers the whole prefix nothing is left; when one lies strictly inside, split in halves and
 * recurse. At most 32 prefixes per exception.
 */
static int
subtract(struct pfx_vec *out, uint32_t addr, uint8_t len, const struct pol_prefix *ex,
         unsigned n_ex)
{
	bool inside = false;
	unsigned i;
	int ret;

	for (i = 0; i < n_ex; i++) {
		if (!pol_prefix_overlap(addr, len, ex[i].addr, ex[i].len))
			continue;
		if (ex[i].len <= len)
			return 0; /* the exception covers this prefix */
		inside = true;
	}
	if (!inside)
		return pfx_push(out, addr, len);
	ret = subtract(out, addr, (uint8_t)(len + 1), ex, n_ex);
	if (ret)
		return ret;
	return subtract(out, addr | (1u << (31 - len)), (uint8_t)(len + 1), ex, n_ex);
}

static int
pfx_cmp(const void *a, const void *b)
{
	const struct pol_gen_pfx *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->len - (int)y->len;
}

/* Sort and drop prefixes inside another: what is left is disjoint. */
static void
pfx_normalise(struct pfx_vec *pv)
{
	uint32_t i, n = 0;

	if (pv->n < 2)
		return;
	qsort(pv->v, pv->n, sizeof(pv->v[0]), pfx_cmp);
	for (i = 0; i < pv->n; i++) {
		if (n && pol_prefix_contains(pv->v[n - 1].addr, pv->v[n - 1].len, pv->v[i].addr))
			continue; /* sorted: a prefix overlapping the last kept one lies inside it
			           */
		pv->v[n++] = pv->v[i];
	}
	pv->n = n;
}

/* cidrs (empty: 0.0.0.0/0) minus except. An empty result (all excepted) stays empty with *none. */
static int
side_addrs(const struct pol_match *m, struct pol_gen_pfx **v, uint32_t *n, bool *none)
{
	struct pfx_vec pv = {0};
	unsigned i;
	int ret = 0;

	*none = false;
	if (!m->n_cidrs && !m->n_except) {
		*v = NULL; /* wildcard */
		*n = 0;
		return 0;
	}
	if (!m->n_cidrs)
		ret = subtract(&pv, 0, 0, m->except, m->n_except);
	for (i = 0; !ret && i < m->n_cidrs; i++)
		ret = subtract(&pv, m->cidrs[i].addr, m->cidrs[i].len, m->except, m->n_except);
	if (ret) {
		free(pv.v);
		return ret;
	}
	pfx_normalise(&pv);
	if (pv.n == 1 && pv.v[0].len == 0) {
		pv.n = 0; /* 0.0.0.0/0: wildcard */
	} else if (!pv.n) {
		*none = true; /* every address excepted: the rule can never match */
	}
	if (!pv.n) {
		free(pv.v);
		pv.v = NULL;
	}
	*v = pv.v;
	*n = pv.n;
	return 0;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct pol_gen_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (int)x->hi - (int)y->hi;
}

/* Port list sorted, overlapping and adjacent ranges merged; 0-65535 becomes the wildcard. */
static int
side_ports(const struct pol_match *m, uint16_t proto, struct pol_gen_range **v, uint32_t *n)
{
	struct pol_gen_range *r;
	uint32_t i, k = 0;

	*v = NULL;
	*n = 0;
	if (!m->n_ports || (proto != 6 && proto != 17))
		return 0;
	r = malloc(m->n_ports * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < m->n_ports; i++) {
		r[i].lo = m->ports[i].lo;
		r[i].hi = m->ports[i].hi;
	}
	qsort(r, m->n_ports, sizeof(*r), range_cmp);
	for (i = 0; i < m->n_ports; i++) {
		if (k && (uint32_t)r[i].lo <= (uint32_t)r[k - 1].hi + 1) {
			if (r[i].hi > r[k - 1].hi)
				r[k - 1].hi = r[i].hi;
			continue;
		}
		r[k++] = r[i];
	}
	if (k == 1 && r[0].lo == 0 && r[0].hi == 65535) {
		free(r);
		return 0;
	}
	*v = r;
	*n = k;
	return 0;
}

void
pol_acl_rule_release(struct pol_gen_rule *gr)
{
	free(gr->src);
	free(gr->dst);
	free(gr->sport);
	free(gr->dport);
	gr->src = gr->dst = NULL;
	gr->sport = gr->dport = NULL;
}

int
pol_acl_normalise(struct pol_gen_rule *gr, const struct pol_rule *r)
{
	bool none_src, none_dst;
	uint64_t n;
	int ret;

	gr->proto = r->proto;
	ret = side_addrs(&r->src, &gr->src, &gr->n_src, &none_src);
	if (!ret)
		ret = side_addrs(&r->dst, &gr->dst, &gr->n_dst, &none_dst);
	if (!ret)
		ret = side_ports(&r->src, r->proto, &gr->sport, &gr->n_sport);
	if (!ret)
		ret = side_ports(&r->dst, r->proto, &gr->dport, &gr->n_dport);
	if (ret) {
		pol_acl_rule_release(gr);
		return ret;
	}
	if (none_src || none_dst) {
		gr->n_acl = 0; /* matches nothing: compiled to nothing */
		return 0;
	}
	n = (uint64_t)RTE_MAX(gr->n_src, 1u) * RTE_MAX(gr->n_dst, 1u);
	n *= (uint64_t)RTE_MAX(gr->n_sport, 1u) * RTE_MAX(gr->n_dport, 1u);
	gr->n_acl = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return 0;
}

/* ---- expansion into rte_acl rules ---- */

static uint32_t
rule_category(const struct pol_gen_rule *gr)
{
	bool op = gr->tenant == POL_TENANT_NONE;

	if (gr->flags & POL_RULE_F_SIGS) /* in the signature context */
		return op ? POL_ACL_CAT_OP_SIG : POL_ACL_CAT_T_SIG;
	if (gr->action == POL_ACT_DENY)
		return op ? POL_ACL_CAT_OP_DENY : POL_ACL_CAT_T_DENY;
	return op ? POL_ACL_CAT_OP_ALLOW : POL_ACL_CAT_T_ALLOW;
}

#define ADD_CHUNK 1024u

struct adder {
	struct rte_acl_ctx *ctx;
	struct pol_acl_rule buf[ADD_CHUNK];
	unsigned n;
	int err;
};

static void
adder_flush(struct adder *a)
{
	int ret;

	if (!a->n || a->err)
		return;
	ret = rte_acl_add_rules(a->ctx, (const struct rte_acl_rule *)a->buf, a->n);
	if (ret)
		a->err = ret;
	a->n = 0;
}

/* Emit the cartesian product of the rule's lists; an empty list is one wildcard. */
static void
expand(struct adder *a, const struct pol_gen_rule *gr, uint32_t id)
{
	const struct pol_gen_pfx any_pfx = {0, 0};
	const struct pol_gen_range any_port = {0, 65535};
	uint32_t ns = RTE_MAX(gr->n_src, 1u), nd = RTE_MAX(gr->n_dst, 1u);
	uint32_t nsp = RTE_MAX(gr->n_sport, 1u), ndp = RTE_MAX(gr->n_dport, 1u);
	struct pol_acl_rule tmpl;
	uint32_t is, id_, isp, idp;

	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.data.category_mask = 1u << rule_category(gr);
	tmpl.data.priority = (int32_t)(POL_PRIO_MAX + 1 - gr->priority);
	tmpl.data.userdata = id;
	if (gr->proto != POL_PROTO_ANY) {
		tmpl.field[POL_ACL_F_PROTO].value.u8 = (uint8_t)gr->proto;
		tmpl.field[POL_ACL_F_PROTO].mask_range.u8 = 0xff;
	}
	if (gr->tenant != POL_TENANT_NONE) {
		tmpl.field[POL_ACL_F_TENANT].value.u32 = gr->tenant;
		tmpl.field[POL_ACL_F_TENANT].mask_range.u32 = 32;
	}

	for (is = 0; is < ns; is++) {
		const struct pol_gen_pfx *s = gr->n_src ? &gr->src[is] : &any_pfx;

		for (id_ = 0; id_ < nd; id_++) {
			const struct pol_gen_pfx *d = gr->n_dst ? &gr->dst[id_] : &any_pfx;

			for (isp = 0; isp < nsp; isp++) {
				const struct pol_gen_range *sp =
				        gr->n_sport ? &gr->sport[isp] : &any_port;

				for (idp = 0; idp < ndp; idp++) {
					const struct pol_gen_range *dp =
					        gr->n_dport ? &gr->dport[idp] : &any_port;
					struct pol_acl_rule *x = &a->buf[a->n++];

					*x = tmpl;
					x->field[POL_ACL_F_SRC].value.u32 = s->addr;
					x->field[POL_ACL_F_SRC].mask_range.u32 = s->len;
					x->field[POL_ACL_F_DST].value.u32 = d->addr;
					x->field[POL_ACL_F_DST].mask_range.u32 = d->len;
					x->field[POL_ACL_F_SPORT].value.u16 = sp->lo;
					x->field[POL_ACL_F_SPORT].mask_range.u16 = sp->hi;
					x->field[POL_ACL_F_DPORT].value.u16 = dp->lo;
					x->field[POL_ACL_F_DPORT].mask_range.u16 = dp->hi;
					if (a->n == ADD_CHUNK)
						adder_flush(a);
				}
			}
		}
	}
}

/* One context of dir: the plain rules (sigs false) or the signature rules; total of them. */
static int
build_ctx(struct pol_gen *g, enum pol_dir dir, bool sigs, uint64_t total,
          const struct pol_gen_opts *o, const char *file, const char *base,
          struct pol_cfg_errs *errs, struct rte_acl_ctx **out)
{
	struct rte_acl_config cfg;
	struct rte_acl_param prm;
	struct adder *a;
	char name[RTE_ACL_NAMESIZE];
	uint32_t i;
	int ret;

	snprintf(name, sizeof(name), "p%s%c%llu", sigs ? "sig" : "acl",
	         dir == POL_DIR_INGRESS ? 'i' : 'e',
	         (unsigned long long)atomic_fetch_add(&ctx_seq, 1));
	memset(&prm, 0, sizeof(prm));
	prm.name = name;
	prm.socket_id = o->socket_id;
	prm.rule_size = RTE_ACL_RULE_SZ(POL_ACL_NFIELDS);
	prm.max_rule_num = (uint32_t)total;
	*out = rte_acl_create(&prm);
	if (!*out) {
		ret = rte_errno ? -rte_errno : -ENOMEM;
		pol_cfg_err_add(errs, file, 0, 0, base[0] ? base : "(document)",
		                "rte_acl_create %s: %s", name, strerror(-ret));
		return ret;
	}

	a = malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ctx = *out;
	a->n = 0;
	a->err = 0;
	for (i = 1; i < g->n_rules && !a->err; i++) {
		const struct pol_gen_rule *gr = &g->rules[i];

		if (gr->dir == dir && !(gr->flags & POL_RULE_F_DEFAULT) && gr->n_acl &&
		    !!(gr->flags & POL_RULE_F_SIGS) == sigs)
			expand(a, gr, i);
	}
	adder_flush(a);
	ret = a->err;
	free(a);
	if (ret) {
		pol_cfg_err_add(errs, file, 0, 0, base[0] ? base : "(document)",
		                "rte_acl_add_rules (%s): %s", pol_dir_name(dir), strerror(-ret));
		return ret;
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.num_categories = sigs ? POL_ACL_CATS_SIGS : POL_ACL_CATS_PLAIN;
	cfg.num_fields = RTE_DIM(acl_defs);
	memcpy(cfg.defs, acl_defs, sizeof(acl_defs));
	cfg.max_size = o->acl_max_size;
	ret = rte_acl_build(*out, &cfg);
	if (ret) {
		pol_cfg_err_add(errs, file, 0, 0, base[0] ? base : "(document)",
		                "rte_acl_build (%s, %llu rules): %s%s", pol_dir_name(dir),
		                (unsigned long long)total, strerror(-ret),
		                ret == -ENOMEM ? " (raise the ACL memory limit or merge rules)"
		                               : "");
		return ret;
	}
	if (o->alg) {
		ret = rte_acl_set_ctx_classify(*out, (enum rte_acl_classify_alg)o->alg);
		if (ret) {
			pol_cfg_err_add(errs, file, 0, 0, base[0] ? base : "(document)",
			                "rte_acl classify method %d: %s", o->alg, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int
build_dir(struct pol_gen *g, enum pol_dir dir, const struct pol_gen_opts *o, const char *file,
          const char *base, struct pol_cfg_errs *errs)
{
	uint64_t plain = 0, sigs = 0, total;
	uint32_t i;
	int ret;

	for (i = 1; i < g->n_rules; i++) {
		const struct pol_gen_rule *gr = &g->rules[i];

		if (gr->dir != dir || (gr->flags & POL_RULE_F_DEFAULT) || !gr->n_acl)
			continue;
		if (!(gr->flags & POL_RULE_F_SIGS)) {
			plain += gr->n_acl;
			continue;
		}
		sigs += gr->n_acl;
		if (gr->tenant == POL_TENANT_NONE) {
			g->sig_op[dir] = true;
		} else if (gr->tenant < g->n_ids) {
			if (!g->sig_t[dir]) {
				g->sig_t[dir] = calloc(g->n_ids, 1);
				if (!g->sig_t[dir])
					return -ENOMEM;
			}
			g->sig_t[dir][gr->tenant] = 1;
		}
	}
	total = plain + sigs;
	g->ncat[dir] = POL_ACL_CATS_PLAIN;
	g->n_acl[dir] = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
	if (!total)
		return 0; /* no context: every packet of this direction falls to the defaults */
	if (total > o->max_acl_rules) {
		pol_cfg_err_add(errs, file, 0, 0, base[0] ? base : "(document)",
		                "%s rules expand to %llu rte_acl rules, more than the limit of %u: "
		                "merge prefixes or port ranges",
		                pol_dir_name(dir), (unsigned long long)total, o->max_acl_rules);
		return -EINVAL;
	}
	ret = plain ? build_ctx(g, dir, false, plain, o, file, base, errs, &g->ctx[dir]) : 0;
	if (!ret && sigs)
		ret = build_ctx(g, dir, true, sigs, o, file, base, errs, &g->sctx[dir]);
	return ret;
}

int
pol_acl_build(struct pol_gen *g, const struct pol_gen_opts *o, const char *file, const char *base,
              struct pol_cfg_errs *errs)
{
	int ret;

	ret = build_dir(g, POL_DIR_INGRESS, o, file, base, errs);
	if (!ret)
		ret = build_dir(g, POL_DIR_EGRESS, o, file, base, errs);
	return ret;
}

void
pol_acl_free(struct pol_gen *g)
{
	unsigned d;

	for (d = 0; d < POL_DIR_MAX; d++) {
		rte_acl_free(g->ctx[d]);
		g->ctx[d] = NULL;
		rte_acl_free(g->sctx[d]);
		g->sctx[d] = NULL;
		free(g->sig_t[d]);
		g->sig_t[d] = NULL;
	}
}
