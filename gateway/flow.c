/* flow.c - rte_flow offload of ingress deny rules: install, keep across reloads, report, remove. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>

#include "gw.h"
#include "offload.h"

/*
 * Control side only: nothing here runs per packet. The policy compiler calls the hook
 * (pol_gen_opts.offload) for every rule with offload auto or required while it builds a
 * generation; the hook translates the rule (policy/offload.c) and creates its flows on the port,
 * so a new generation's flows exist before it is published. gw_flow_commit runs after the
 * publish: the previous generation's flows are destroyed then, except those the new generation
 * took over. A flow is taken over when the same rule (tier, tenant, name) of the new generation
 * wants a flow with the very same match: it keeps running (and counting) without a gap and the
 * NIC never sees the same rule twice (some refuse duplicates). gw_flow_abort drops what a failed
 * build created. Every call holds the lock: the admin API may query from another thread.
 */

struct flow_ent {
	struct pol_flow_spec spec;
	struct rte_flow *flow; /* NULL: not installed */
	bool counted;          /* carries a COUNT action */
	bool borrowed;         /* taken over from the previous generation */
	bool given;            /* (previous generation) taken over by the next one */
};

struct flow_rule {
	char tenant[POL_TENANT_NAME_MAX + 1]; /* "" for the operator tier */
	char name[POL_NAME_MAX + 1];
	bool tried; /* the hook saw it */
	bool is_default;
	enum gw_flow_where where;
	unsigned n_want, n_flows;
	struct flow_ent *f;             /* [n_want] */
	uint64_t base_pkts, base_bytes; /* NIC counts of flows already destroyed */
	char reason[GW_FLOW_REASON_MAX];
};

struct flow_gen {
	uint64_t number;
	unsigned n_rules; /* indexed by rule id */
	struct flow_rule *r;
	uint32_t *idx; /* rule ids sorted by (tenant, name), built on demand */
	unsigned n_idx;
};

struct gw_flow {
	pthread_mutex_t lock;
	uint16_t port_id;
	char driver[RTE_DEV_NAME_MAX_LEN];
	int count_ok;       /* -1 not known yet, 0 the port refuses COUNT, 1 accepts it */
	unsigned max_flows; /* per rule */
	struct flow_gen *cur, *pend;
	const struct pol_policy *p; /* of the build in progress */
	struct pol_offload_ctx *ctx;
	struct pol_flow_spec *specs; /* [max_flows] scratch */
};

static void
gen_free(struct flow_gen *fg)
{
	unsigned i;

	if (!fg)
		return;
	for (i = 0; i < fg->n_rules; i++)
		free(fg->r[i].f);
	free(fg->r);
	free(fg->idx);
	free(fg);
}

static struct flow_gen *
gen_new(uint64_t number, unsigned n_rules)
{
	struct flow_gen *fg = calloc(1, sizeof(*fg));

	if (!fg)
		return NULL;
	fg->number = number;
	fg->n_rules = n_rules;
	fg->r = calloc(n_rules ? n_rules : 1, sizeof(*fg->r));
	if (!fg->r) {
		free(fg);
		return NULL;
	}
	return fg;
}

static int
ident_cmp(const struct flow_rule *a, const char *tenant, const char *name)
{
	int c = strcmp(a->tenant, tenant);

	return c ? c : strcmp(a->name, name);
}

static __thread const struct flow_gen *sort_gen;

static int
idx_cmp(const void *x, const void *y)
{
	const struct flow_rule *b = &sort_gen->r[*(const uint32_t *)y];

	return ident_cmp(&sort_gen->r[*(const uint32_t *)x], b->tenant, b->name);
}

/* The rule of fg with this identity, or NULL (rules with installed flows only). */
static struct flow_rule *
gen_find(struct flow_gen *fg, const char *tenant, const char *name)
{
	unsigned lo = 0, hi, i;

	if (!fg)
		return NULL;
	if (!fg->idx) {
		fg->idx = malloc((fg->n_rules ? fg->n_rules : 1) * sizeof(*fg->idx));
		if (!fg->idx)
			return NULL; /* nothing taken over: new flows are made instead */
		fg->n_idx = 0;
		for (i = 1; i < fg->n_rules; i++)
			if (!fg->r[i].is_default && fg->r[i].tried)
				fg->idx[fg->n_idx++] = i;
		sort_gen = fg;
		qsort(fg->idx, fg->n_idx, sizeof(*fg->idx), idx_cmp);
	}
	hi = fg->n_idx;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		int c = ident_cmp(&fg->r[fg->idx[mid]], tenant, name);

		if (!c)
			return &fg->r[fg->idx[mid]];
		if (c > 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* NIC counters of one flow (0 when it has none or the query fails). */
static void
flow_counts(struct gw_flow *fl, const struct flow_ent *e, uint64_t *pkts, uint64_t *bytes)
{
	static const struct rte_flow_action_count conf;
	static const struct rte_flow_action count[] = {
	        {.type = RTE_FLOW_ACTION_TYPE_COUNT, .conf = &conf},
	        {.type = RTE_FLOW_ACTION_TYPE_END},
	};
	struct rte_flow_query_count q = {0};
	struct rte_flow_error err;

	if (!e->flow || !e->counted)
		return;
	if (rte_flow_query(fl->port_id, e->flow, count, &q, &err))
		return;
	if (q.hits_set)
		*pkts += q.hits;
	if (q.bytes_set)
		*bytes += q.bytes;
}

static void
flow_destroy(struct gw_flow *fl, struct flow_ent *e)
{
	struct rte_flow_error err = {0};

	if (!e->flow)
		return;
	if (rte_flow_destroy(fl->port_id, e->flow, &err))
		GW_LOG(WARNING, "port %u: rte_flow_destroy: %s", fl->port_id,
		       err.message ? err.message : rte_strerror(rte_errno));
	e->flow = NULL;
}

/*
 * Validate then create one flow: DROP with COUNT while the port takes COUNT, else DROP alone.
 * 0, or -errno with the reason (driver, call, rte_flow's message) in why.
 */
static int
flow_install(struct gw_flow *fl, struct flow_ent *e, char *why, size_t len)
{
	const struct rte_flow_attr attr = {.ingress = 1};
	struct rte_flow_action acts[3];
	struct rte_flow_action_count cnt = {0};
	struct pol_flow_pattern pat;
	struct rte_flow_error err;
	const char *call = "rte_flow_validate";
	int ret = 0, with_count;

	pol_offload_pattern(&e->spec, &pat);
	for (with_count = fl->count_ok != 0; with_count >= 0; with_count--) {
		unsigned n = 0;

		if (with_count)
			acts[n++] = (struct rte_flow_action){.type = RTE_FLOW_ACTION_TYPE_COUNT,
			                                     .conf = &cnt};
		acts[n++] = (struct rte_flow_action){.type = RTE_FLOW_ACTION_TYPE_DROP};
		acts[n] = (struct rte_flow_action){.type = RTE_FLOW_ACTION_TYPE_END};
		memset(&err, 0, sizeof(err));
		call = "rte_flow_validate";
		ret = rte_flow_validate(fl->port_id, &attr, pat.items, acts, &err);
		if (!ret) {
			call = "rte_flow_create";
			e->flow = rte_flow_create(fl->port_id, &attr, pat.items, acts, &err);
			ret = e->flow ? 0 : -(rte_errno ? rte_errno : EIO);
		}
		if (!ret) {
			e->counted = with_count;
			if (fl->count_ok < 0)
				fl->count_ok = with_count; /* refused with COUNT, taken without */
			return 0;
		}
		if (ret == -ENOSYS)
			break; /* no rte_flow at all: no point trying without COUNT */
	}
	snprintf(why, len, "port %u (%s): %s: %s", fl->port_id, fl->driver, call,
	         err.message ? err.message : rte_strerror(-ret));
	return ret;
}

/* The hook pol_gen_build calls for each rule with offload auto or required. */
static int
offload_hook(void *arg, const struct pol_gen *g, uint32_t rule, const struct pol_rule *r,
             const struct pol_tenant *t, char *why, size_t why_len)
{
	struct gw_flow *fl = arg;
	struct flow_rule *fr, *old;
	unsigned i, j;
	int n, ret = 0;

	pthread_mutex_lock(&fl->lock);
	if (fl->pend && fl->pend->number != pol_gen_number(g)) {
		pthread_mutex_unlock(&fl->lock);
		snprintf(why, why_len, "another generation's build is in progress");
		return -EBUSY; /* cannot happen: one build at a time (control thread) */
	}
	if (!fl->pend) {
		fl->pend = gen_new(pol_gen_number(g), pol_gen_n_rules(g));
		if (!fl->pend) {
			ret = -ENOMEM;
			snprintf(why, why_len, "out of memory");
			goto out;
		}
	}
	if (!fl->ctx) {
		fl->ctx = pol_offload_ctx_new(fl->p);
		if (!fl->ctx) {
			ret = -ENOMEM;
			snprintf(why, why_len, "out of memory");
			goto out;
		}
	}
	if (rule >= fl->pend->n_rules) {
		ret = -EINVAL;
		goto out;
	}
	/* (the generation is half built: its counters do not exist yet) */
	fr = &fl->pend->r[rule];
	snprintf(fr->tenant, sizeof(fr->tenant), "%s", t ? t->name : "");
	snprintf(fr->name, sizeof(fr->name), "%s", r->name ? r->name : "?");
	fr->tried = true;
	fr->where = GW_FLOW_SOFTWARE;
	n = pol_offload_expand(fl->ctx, t, r, fl->specs, fl->max_flows, fr->reason,
	                       sizeof(fr->reason));
	if (n < 0) {
		snprintf(why, why_len, "%s", fr->reason);
		ret = n;
		goto out;
	}
	fr->f = calloc((unsigned)n, sizeof(*fr->f));
	if (!fr->f) {
		ret = -ENOMEM;
		snprintf(why, why_len, "%s", "out of memory");
		snprintf(fr->reason, sizeof(fr->reason), "out of memory");
		goto out;
	}
	fr->n_want = (unsigned)n;
	old = gen_find(fl->cur, fr->tenant, fr->name);
	for (i = 0; i < fr->n_want; i++) {
		struct flow_ent *e = &fr->f[i];

		e->spec = fl->specs[i];
		for (j = 0; old && j < old->n_want; j++) {
			struct flow_ent *o = &old->f[j];

			if (o->flow && !o->given && !memcmp(&o->spec, &e->spec, sizeof(e->spec))) {
				e->flow = o->flow;
				e->counted = o->counted;
				e->borrowed = true;
				o->given = true;
				break;
			}
		}
		if (!e->flow) {
			ret = flow_install(fl, e, fr->reason, sizeof(fr->reason));
			if (ret)
				break; /* the next ones would fail the same way */
		}
		fr->n_flows++;
	}
	if (fr->n_flows == fr->n_want) {
		fr->where = GW_FLOW_HARDWARE;
		fr->reason[0] = '\0';
		ret = 0;
	} else {
		if (fr->n_flows)
			fr->where = GW_FLOW_PARTIAL;
		snprintf(why, why_len, "%s", fr->reason);
	}
out:
	pthread_mutex_unlock(&fl->lock);
	return ret;
}

int
gw_flow_init(struct gw *gw)
{
	struct rte_eth_dev_info info;
	struct gw_flow *fl = calloc(1, sizeof(*fl));

	if (!fl)
		return -ENOMEM;
	pthread_mutex_init(&fl->lock, NULL);
	fl->port_id = gw->port_id;
	fl->count_ok = -1;
	fl->max_flows = POL_OFFLOAD_MAX_FLOWS;
	snprintf(fl->driver, sizeof(fl->driver), "?");
	if (rte_eth_dev_info_get(gw->port_id, &info) == 0 && info.driver_name)
		snprintf(fl->driver, sizeof(fl->driver), "%s", info.driver_name);
	fl->specs = calloc(fl->max_flows, sizeof(*fl->specs));
	if (!fl->specs) {
		free(fl);
		return -ENOMEM;
	}
	gw->flow = fl;
	return 0;
}

void
gw_flow_opts(struct gw *gw, const struct pol_policy *p, struct pol_gen_opts *o)
{
	struct gw_flow *fl = gw->flow;

	if (!fl)
		return; /* no port: the compiler reports that nothing can be offloaded */
	pthread_mutex_lock(&fl->lock);
	fl->p = p;
	pol_offload_ctx_free(fl->ctx);
	fl->ctx = NULL;
	pthread_mutex_unlock(&fl->lock);
	o->offload = offload_hook;
	o->offload_arg = fl;
}

static void
build_done(struct gw_flow *fl)
{
	pol_offload_ctx_free(fl->ctx);
	fl->ctx = NULL;
	fl->p = NULL;
}

void
gw_flow_abort(struct gw *gw)
{
	struct gw_flow *fl = gw->flow;
	unsigned i, j;

	if (!fl)
		return;
	pthread_mutex_lock(&fl->lock);
	if (fl->pend) {
		for (i = 0; i < fl->pend->n_rules; i++) {
			struct flow_rule *fr = &fl->pend->r[i];

			for (j = 0; j < fr->n_want; j++)
				if (!fr->f[j].borrowed)
					flow_destroy(fl, &fr->f[j]);
		}
		gen_free(fl->pend);
		fl->pend = NULL;
	}
	for (i = 0; fl->cur && i < fl->cur->n_rules; i++)
		for (j = 0; j < fl->cur->r[i].n_want; j++)
			fl->cur->r[i].f[j].given = false;
	build_done(fl);
	pthread_mutex_unlock(&fl->lock);
}

void
gw_flow_commit(struct gw *gw, const struct pol_gen *g)
{
	struct gw_flow *fl = gw->flow;
	struct flow_gen *ng, *og;
	unsigned i, j, hw = 0, flows = 0, partial = 0;

	if (!fl)
		return;
	pthread_mutex_lock(&fl->lock);
	ng = fl->pend;
	if (ng && ng->number != pol_gen_number(g)) {
		pthread_mutex_unlock(&fl->lock);
		gw_flow_abort(gw);
		pthread_mutex_lock(&fl->lock);
		ng = NULL;
	}
	if (!ng)
		ng = gen_new(pol_gen_number(g), pol_gen_n_rules(g));
	if (!ng) {
		/* out of memory: keep the old flows (they still drop what they dropped) */
		GW_LOG(WARNING, "rte_flow: generation %" PRIu64 ": no memory for placements",
		       pol_gen_number(g));
		goto out;
	}
	og = fl->cur;
	for (i = 1; i < ng->n_rules; i++) {
		struct flow_rule *fr = &ng->r[i], *old;
		struct pol_rule_info ri;

		if (!fr->tried && !pol_gen_rule_info(g, i, &ri)) {
			snprintf(fr->tenant, sizeof(fr->tenant), "%s", ri.tenant ? ri.tenant : "");
			snprintf(fr->name, sizeof(fr->name), "%s", ri.name);
			fr->is_default = (ri.flags & POL_RULE_F_DEFAULT) != 0;
			fr->where = GW_FLOW_SOFTWARE;
			snprintf(fr->reason, sizeof(fr->reason), "%s",
			         fr->is_default ? "defaults run in software" : "offload: never");
		}
		if (fr->where == GW_FLOW_HARDWARE)
			hw++;
		else if (fr->where == GW_FLOW_PARTIAL)
			partial++;
		flows += fr->n_flows;
		if (fr->is_default || !(old = gen_find(og, fr->tenant, fr->name)))
			continue;
		/* NIC counts of the old flows not taken over: the rule's history */
		fr->base_pkts += old->base_pkts;
		fr->base_bytes += old->base_bytes;
		for (j = 0; j < old->n_want; j++)
			if (!old->f[j].given)
				flow_counts(fl, &old->f[j], &fr->base_pkts, &fr->base_bytes);
	}
	for (i = 0; og && i < og->n_rules; i++)
		for (j = 0; j < og->r[i].n_want; j++)
			if (!og->r[i].f[j].given)
				flow_destroy(fl, &og->r[i].f[j]);
	gen_free(og);
	fl->cur = ng;
	fl->pend = NULL;
	GW_LOG(INFO,
	       "rte_flow: generation %" PRIu64 " on port %u (%s): %u rules in hardware, %u "
	       "partly, %u flows",
	       ng->number, fl->port_id, fl->driver, hw, partial, flows);
out:
	build_done(fl);
	pthread_mutex_unlock(&fl->lock);
}

void
gw_flow_fini(struct gw *gw)
{
	struct gw_flow *fl = gw->flow;
	unsigned i, j, n = 0;

	if (!fl)
		return;
	gw_flow_abort(gw);
	pthread_mutex_lock(&fl->lock);
	for (i = 0; fl->cur && i < fl->cur->n_rules; i++)
		for (j = 0; j < fl->cur->r[i].n_want; j++)
			if (fl->cur->r[i].f[j].flow) {
				flow_destroy(fl, &fl->cur->r[i].f[j]);
				n++;
			}
	gen_free(fl->cur);
	fl->cur = NULL;
	pthread_mutex_unlock(&fl->lock);
	if (n)
		GW_LOG(INFO, "rte_flow: %u flows removed from port %u", n, fl->port_id);
	pthread_mutex_destroy(&fl->lock);
	free(fl->specs);
	free(fl);
	gw->flow = NULL;
}

const char *
gw_flow_where_name(enum gw_flow_where w)
{
	switch (w) {
	case GW_FLOW_HARDWARE:
		return "hardware";
	case GW_FLOW_PARTIAL:
		return "partial";
	case GW_FLOW_SOFTWARE:
	default:
		return "software";
	}
}

int
gw_flow_rule_placement(struct gw *gw, unsigned rule_id, struct gw_flow_rule_info *out)
{
	struct gw_flow *fl = gw->flow;
	const struct flow_rule *fr;
	unsigned j;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->where = GW_FLOW_SOFTWARE;
	if (!fl) {
		snprintf(out->reason, sizeof(out->reason), "no port");
		return -ENOENT;
	}
	pthread_mutex_lock(&fl->lock);
	if (!fl->cur || rule_id == 0 || rule_id >= fl->cur->n_rules) {
		ret = -ENOENT;
		goto out;
	}
	fr = &fl->cur->r[rule_id];
	out->generation = fl->cur->number;
	out->where = fr->where;
	out->n_flows = fr->n_flows;
	out->n_wanted = fr->n_want;
	out->hw_pkts = fr->base_pkts;
	out->hw_bytes = fr->base_bytes;
	for (j = 0; j < fr->n_want; j++) {
		out->counted |= fr->f[j].counted;
		flow_counts(fl, &fr->f[j], &out->hw_pkts, &out->hw_bytes);
	}
	snprintf(out->reason, sizeof(out->reason), "%s", fr->reason);
out:
	pthread_mutex_unlock(&fl->lock);
	return ret;
}

/* ---- --check: what can be known without the port ---- */

static int
check_hook(void *arg, const struct pol_gen *g, uint32_t rule, const struct pol_rule *r,
           const struct pol_tenant *t, char *why, size_t why_len)
{
	struct gw_flow_check *c = arg;
	struct pol_flow_spec *specs;
	int n;

	(void)g;
	(void)rule;
	if (r->offload != POL_OFFLOAD_REQUIRED) {
		snprintf(why, why_len, "not tried by --check");
		return -ENOTSUP;
	}
	if (!c->ctx) {
		c->ctx = pol_offload_ctx_new(c->p);
		if (!c->ctx) {
			snprintf(why, why_len, "out of memory");
			return -ENOMEM;
		}
	}
	specs = calloc(POL_OFFLOAD_MAX_FLOWS, sizeof(*specs));
	if (!specs) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	n = pol_offload_expand(c->ctx, t, r, specs, POL_OFFLOAD_MAX_FLOWS, why, why_len);
	free(specs);
	if (n < 0)
		return n; /* no NIC can run it: a real error */
	c->n_required++;
	c->n_required_flows += (unsigned)n;
	return 0;
}

void
gw_flow_check_opts(struct gw_flow_check *c, const struct pol_policy *p, struct pol_gen_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	o->offload = check_hook;
	o->offload_arg = c;
}

void
gw_flow_check_done(struct gw_flow_check *c)
{
	pol_offload_ctx_free(c->ctx);
	c->ctx = NULL;
}
