/* policy.c - the policy engine in the gateway: generations, conntrack tables, meters, reload. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_malloc.h>

#include "gw.h"
#include "policy_model.h"

/* Conntrack capacity per worker: the tenants' per-worker quotas, clamped to this range. */
#define CT_ENTRIES_MIN 1024u
#define CT_ENTRIES_MAX 262144u

static void
log_errs(const char *what, const struct pol_cfg_errs *errs)
{
	unsigned i;

	for (i = 0; i < errs->n; i++) {
		const struct pol_cfg_err *e = &errs->v[i];

		if (e->line)
			GW_LOG(ERR, "%s: %s:%u:%u: %s: %s", what, e->file ? e->file : "?", e->line,
			       e->col, e->path ? e->path : "", e->msg ? e->msg : "");
		else
			GW_LOG(ERR, "%s: %s: %s: %s", what, e->file ? e->file : "?",
			       e->path ? e->path : "", e->msg ? e->msg : "");
	}
	if (errs->dropped)
		GW_LOG(ERR, "%s: %u more errors (out of memory recording them)", what,
		       errs->dropped);
}

static void
gen_opts(const struct gw *gw, struct pol_gen_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->n_workers = gw->n_workers;
	o->socket_id = (int)rte_socket_id();
}

/* Set every tenant's limits of generation g. */
static void
meters_set(struct gw *gw, const struct pol_gen *g)
{
	unsigned i, n = pol_gen_n_tenants(g);
	uint64_t now = gw_now_ns(gw);

	for (i = 0; i < n; i++) {
		const struct pol_gen_tenant *t = pol_gen_tenant_at(g, i);

		pol_meter_set(gw->meter, t->id, &t->rate[POL_DIR_INGRESS], &t->rate[POL_DIR_EGRESS],
		              t->new_conn_per_s, now);
	}
}

/*
 * true when a and b have the same tenants (names, in order) owning the same addresses (in order).
 * The interface's owned-address set and chan.c's per-tenant usage (indexed by position in the
 * policy) depend on both; changing them needs a restart in this version.
 */
static bool
same_tenants(const struct pol_policy *a, const struct pol_policy *b)
{
	unsigned i, j;

	if (a->n_tenants != b->n_tenants)
		return false;
	for (i = 0; i < a->n_tenants; i++) {
		const struct pol_tenant *x = &a->tenants[i], *y = &b->tenants[i];

		if (strcmp(x->name, y->name) || x->n_addrs != y->n_addrs)
			return false;
		for (j = 0; j < x->n_addrs; j++)
			if (x->addrs[j].addr != y->addrs[j].addr ||
			    x->addrs[j].len != y->addrs[j].len)
				return false;
	}
	return true;
}

int
gw_policy_init(struct gw *gw)
{
	struct pol_cfg_errs errs = {0};
	struct pol_gen_opts o;
	struct pol_gen *g;
	uint64_t entries = 0;
	unsigned i, n;

	gen_opts(gw, &o);
	g = pol_gen_build(gw->cfg->policy, NULL, &o, &errs);
	if (!g) {
		log_errs("policy", &errs);
		GW_LOG(ERR, "policy: cannot compile generation 1: %s", strerror(errno));
		pol_cfg_errs_clear(&errs);
		return -1;
	}
	pol_cfg_errs_clear(&errs);
	n = pol_gen_n_tenants(g);
	for (i = 0; i < n; i++)
		entries += pol_gen_tenant_at(g, i)->sessions_per_worker;
	entries = RTE_MAX(entries, (uint64_t)CT_ENTRIES_MIN);
	entries = RTE_MIN(entries, (uint64_t)CT_ENTRIES_MAX);
	gw->meter = pol_meter_create(gw->n_workers, POL_TENANT_ID_MAX + 1);
	if (!gw->meter) {
		GW_LOG(ERR, "policy: meters: %s", strerror(errno));
		pol_gen_put(g);
		return -1;
	}
	for (i = 0; i < gw->n_workers; i++) {
		char name[32];
		struct pol_ct_conf c = {.entries = (uint32_t)entries,
		                        .max_tenants = POL_TENANT_ID_MAX + 1,
		                        .socket_id = (int)rte_socket_id()};

		snprintf(name, sizeof(name), "gw_ct_%u", i);
		c.name = name;
		gw->ct[i] = pol_ct_create(&c);
		if (!gw->ct[i]) {
			GW_LOG(ERR, "policy: conntrack table of %u entries for worker %u: %s",
			       c.entries, i, strerror(errno));
			pol_gen_put(g);
			return -1;
		}
	}
	meters_set(gw, g);
	pol_gen_publish(&gw->gen, g, NULL); /* no worker runs yet */
	GW_LOG(NOTICE, "policy generation %" PRIu64 " applied (%u tenants, %u rules)",
	       pol_gen_number(g), n, pol_gen_n_rules(g) - 1);
	return 0;
}

int
gw_policy_apply(struct gw *gw, struct pol_policy *p, struct pol_cfg_errs *errs, uint64_t *gen_out)
{
	struct pol_gen_opts o;
	struct pol_gen *g, **slot;
	unsigned n, before = pol_cfg_errs_count(errs);

	if (pol_policy_check_against(p, &gw->cfg->gw, errs) || pol_cfg_errs_count(errs) > before) {
		errno = EINVAL;
		goto fail;
	}
	if (!same_tenants(p, gw->cfg->policy)) {
		pol_cfg_err_add(errs, p->file, 0, 0, "tenants",
		                "tenants added, removed, renamed, reordered or their addresses "
		                "changed; in this version that needs a restart");
		errno = EINVAL;
		goto fail;
	}
	gen_opts(gw, &o);
	g = pol_gen_build(p, atomic_load_explicit(&gw->gen, memory_order_relaxed), &o, errs);
	if (!g)
		goto fail; /* errno from the compiler; errors appended */
	/* the old policy stays alive: attached apps point at its tenants (ports, quotas) */
	slot = realloc(gw->retired, (gw->n_retired + 1) * sizeof(*gw->retired));
	if (!slot) {
		pol_gen_put(g);
		errno = ENOMEM;
		goto fail;
	}
	gw->retired = (struct pol_policy **)slot;
	gw->retired[gw->n_retired++] = gw->cfg->policy;
	gw->cfg->policy = p;
	n = pol_gen_n_tenants(g);
	meters_set(gw, g);
	pol_gen_publish(&gw->gen, pol_gen_get(g), gw->rcu);
	GW_LOG(NOTICE, "policy generation %" PRIu64 " applied (%u tenants, %u rules)",
	       pol_gen_number(g), n, pol_gen_n_rules(g) - 1);
	if (gen_out)
		*gen_out = pol_gen_number(g);
	pol_gen_put(g);
	return 0;
fail:
	pol_policy_free(p);
	return -1;
}

uint64_t
gw_policy_generation(const struct gw *gw)
{
	const struct pol_gen *g = atomic_load_explicit(&gw->gen, memory_order_acquire);

	return g ? pol_gen_number(g) : 0;
}

int
gw_policy_reload(struct gw *gw)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p;
	bool gw_changed = false;
	int rc;

	p = pol_cfg_reload_policy(gw->cfg, &gw_changed, &errs);
	if (!p) {
		log_errs("policy reload failed", &errs);
		GW_LOG(ERR, "policy reload failed: %u errors, nothing changed",
		       pol_cfg_errs_count(&errs));
		pol_cfg_errs_clear(&errs);
		return -1;
	}
	if (gw_changed)
		GW_LOG(WARNING, "policy reload: the gateway section changed; those settings need "
		                "a restart (not applied)");
	rc = gw_policy_apply(gw, p, &errs, NULL);
	if (rc) {
		int e = errno;

		log_errs("policy reload failed", &errs);
		if (pol_cfg_errs_count(&errs))
			GW_LOG(ERR, "policy reload failed: %u errors, nothing changed",
			       pol_cfg_errs_count(&errs));
		else
			GW_LOG(ERR, "policy reload failed: %s, nothing changed", strerror(e));
	}
	pol_cfg_errs_clear(&errs);
	return rc;
}

void
gw_policy_log_stats(struct gw *gw, uint32_t level)
{
	const struct pol_gen *g = atomic_load_explicit(&gw->gen, memory_order_acquire);
	uint64_t ct[POL_CT_CNT__MAX] = {0};
	unsigned i, j, n, sessions = 0;

	if (!g)
		return;
	for (i = 0; i < gw->n_workers; i++) {
		if (!gw->ct[i])
			continue;
		sessions += pol_ct_count(gw->ct[i]);
		for (j = 0; j < POL_CT_CNT__MAX; j++)
			ct[j] += pol_ct_counter(gw->ct[i], (enum pol_ct_counter)j);
	}
	rte_log(level, gw_logtype,
	        "GATEWAY: counters policy: generation=%" PRIu64 " rules=%u tenants=%u "
	        "sessions=%u ct_created=%" PRIu64 " ct_evicted=%" PRIu64 " ct_refused=%" PRIu64
	        " ct_expired=%" PRIu64 "\n",
	        pol_gen_number(g), pol_gen_n_rules(g) - 1, pol_gen_n_tenants(g), sessions,
	        ct[POL_CT_CNT_CREATED], ct[POL_CT_CNT_EVICTED_FULL] + ct[POL_CT_CNT_EVICTED_CAP],
	        ct[POL_CT_CNT_REFUSED_FULL] + ct[POL_CT_CNT_REFUSED_CAP], ct[POL_CT_CNT_EXPIRED]);
	n = pol_gen_n_tenants(g);
	for (i = 0; i < n; i++) {
		const struct pol_gen_tenant *t = pol_gen_tenant_at(g, i);

		rte_log(level, gw_logtype,
		        "GATEWAY: counters tenant %s: meter_ingress_drops=%" PRIu64
		        " meter_egress_drops=%" PRIu64 " meter_conn_drops=%" PRIu64 "\n",
		        t->name, pol_meter_drops(gw->meter, t->id, POL_METER_INGRESS),
		        pol_meter_drops(gw->meter, t->id, POL_METER_EGRESS),
		        pol_meter_drops(gw->meter, t->id, POL_METER_CONN));
	}
	n = pol_gen_n_rules(g);
	for (i = 1; i < n; i++) {
		struct pol_rule_info ri;

		if (pol_gen_rule_info(g, i, &ri))
			continue;
		rte_log(level, gw_logtype,
		        "GATEWAY: counters rule %s/%s/%s: action=%s packets=%" PRIu64
		        " bytes=%" PRIu64 "\n",
		        ri.tenant ? ri.tenant : "operator", ri.name, pol_dir_name(ri.dir),
		        pol_action_name(ri.action), ri.pkts, ri.bytes);
	}
}

void
gw_policy_fini(struct gw *gw)
{
	unsigned i;

	pol_gen_put(atomic_exchange(&gw->gen, NULL));
	for (i = 0; i < GW_MAX_WORKERS; i++) {
		pol_ct_free(gw->ct[i]);
		gw->ct[i] = NULL;
	}
	pol_meter_free(gw->meter);
	gw->meter = NULL;
	for (i = 0; i < gw->n_retired; i++)
		pol_policy_free(gw->retired[i]);
	free(gw->retired);
	gw->retired = NULL;
	gw->n_retired = 0;
}

/* ---- fast path (workers) ---- */

/*
 * Ingress policy for n (<= GW_BURST) UDP/TCP packets to tenant addresses: conntrack, ACL for what
 * no stateful session admits, session opening, meter. ok[i] says whether packet i may go on.
 */
void
gw_policy_ingress(struct gw_worker *w, const struct pol_gen *g, uint64_t now, unsigned n,
                  const struct stk_buf *b, const struct stk_pkt_info *info, const uint16_t *tenant,
                  const uint32_t *lens, bool *ok)
{
	struct pol_ct_pkt cp[GW_BURST];
	struct pol_ct_key ck[GW_BURST];
	int32_t idx[GW_BURST];
	struct pol_acl_key ak[GW_BURST];
	uint32_t alen[GW_BURST];
	uint8_t ai[GW_BURST], ctv[GW_BURST];
	struct pol_acl_verdict av[GW_BURST];
	struct pol_ct *ct = w->ct;
	struct pol_meter *meter = w->gw->meter;
	unsigned i, j, na = 0;

	if (unlikely(n == 0 || n > GW_BURST))
		return;
	for (i = 0; i < n; i++) {
		struct pol_ct_pkt *p = &cp[i];

		memset(p, 0, sizeof(*p));
		p->src = info[i].src_ip;
		p->dst = info[i].dst_ip;
		p->sport = info[i].src_port;
		p->dport = info[i].dst_port;
		p->proto = info[i].proto;
		p->tenant = tenant[i];
		ok[i] = true;
		if (p->proto == 6 &&
		    pol_ct_tcp_parse(b[i].data + info[i].l4_off, b[i].len - info[i].l4_off,
		                     info[i].pay_len, p))
			ok[i] = false;
		pol_ct_key_set(&ck[i], p);
	}
	pol_ct_lookup_burst(ct, ck, n, idx);
	for (i = 0; i < n; i++) {
		struct pol_ct_info ci;
		enum pol_ct_verdict v;

		if (!ok[i]) {
			w->cnt[GW_CNT_POLICY_CT_INVALID]++;
			continue;
		}
		v = pol_ct_track(ct, idx[i], &ck[i], &cp[i], now, &ci);
		if (v == POL_CT_INVALID) {
			ok[i] = false;
			w->cnt[GW_CNT_POLICY_CT_INVALID]++;
			continue;
		}
		if (v == POL_CT_REPLY && ci.admit_reply)
			continue; /* the reply direction of a flow a stateful rule admitted */
		ctv[i] = (uint8_t)v;
		/* ICMP: conntrack keys on the echo identifier, the ACL sees no ports */
		pol_acl_key_set(&ak[na], tenant[i], cp[i].proto, cp[i].src, cp[i].dst,
		                cp[i].proto == 1 ? 0 : cp[i].sport,
		                cp[i].proto == 1 ? 0 : cp[i].dport);
		alen[na] = lens[i];
		ai[na++] = (uint8_t)i;
	}
	if (na)
		pol_acl_classify(g, POL_DIR_INGRESS, w->id, ak, alen, na, av);
	for (j = 0; j < na; j++) {
		i = ai[j];
		if (av[j].action != POL_ACT_ALLOW) {
			ok[i] = false;
			w->cnt[GW_CNT_POLICY_DENY]++;
			continue;
		}
		if (ctv[i] == POL_CT_NEW) {
			const struct pol_gen_tenant *t = pol_gen_tenant_by_id(g, tenant[i]);
			struct pol_ct_admit a = {
			        .cap = t ? t->sessions_per_worker : 0,
			        .rule = av[j].rule,
			        .gen = pol_gen_number(g),
			        .admit_reply = (av[j].flags & POL_RULE_F_STATEFUL) != 0,
			};
			int32_t r;

			if (cp[i].proto != 6 ||
			    (cp[i].tcp_flags & (POL_CT_TCP_SYN | POL_CT_TCP_ACK)) ==
			            POL_CT_TCP_SYN) {
				if (!pol_meter_conn(meter, w->id, tenant[i], now)) {
					ok[i] = false;
					w->cnt[GW_CNT_METER_DROP]++;
					continue;
				}
			}
			r = pol_ct_open(ct, &ck[i], &cp[i], &a, now);
			if (r == -ENOSPC) {
				ok[i] = false;
				w->cnt[GW_CNT_CT_REFUSED]++;
				continue;
			}
		}
	}
	w->cnt[GW_CNT_METER_DROP] +=
	        pol_meter_pkt_burst(meter, w->id, POL_METER_INGRESS, tenant, lens, n, now, ok);
}

/*
 * Egress policy for one packet an app sends (tenant's source address src). l4 points at the
 * UDP/TCP header (l4_avail bytes of it) or is NULL for other protocols. 0 when it may go, else
 * the gateway counter that says why not (counted here).
 */
int
gw_policy_egress(struct gw_worker *w, const struct pol_gen *g, uint8_t proto, uint32_t src,
                 uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *l4, uint32_t l4_avail,
                 uint32_t pay_len, uint32_t bytes)
{
	struct pol_ct_pkt p;
	struct pol_ct_key k;
	struct pol_ct_info ci;
	struct pol_acl_key ak;
	struct pol_acl_verdict av;
	enum pol_ct_verdict v;
	uint64_t now = w->stk.now_ns;
	uint16_t tenant = pol_gen_tenant_by_addr(g, src);
	int cnt = 0;

	if (tenant == POL_TENANT_NONE)
		return 0; /* not a tenant's address: anti-spoofing decided already */
	memset(&p, 0, sizeof(p));
	p.src = src;
	p.dst = dst;
	p.sport = sport;
	p.dport = dport;
	p.proto = proto;
	p.tenant = tenant;
	if (proto == 6 && (!l4 || pol_ct_tcp_parse(l4, l4_avail, pay_len, &p)))
		cnt = GW_CNT_CT_TX_REFUSED;
	if (!cnt) {
		pol_ct_key_set(&k, &p);
		v = pol_ct_track(w->ct, pol_ct_lookup(w->ct, &k), &k, &p, now, &ci);
		if (v == POL_CT_INVALID) {
			cnt = GW_CNT_CT_TX_REFUSED;
		} else if (!(v == POL_CT_REPLY && ci.admit_reply)) {
			pol_acl_key_set(&ak, tenant, proto, src, dst, proto == 1 ? 0 : sport,
			                proto == 1 ? 0 : dport);
			pol_acl_classify(g, POL_DIR_EGRESS, w->id, &ak, &bytes, 1, &av);
			if (av.action != POL_ACT_ALLOW) {
				cnt = GW_CNT_POLICY_TX_DENY;
			} else if (v == POL_CT_NEW) {
				const struct pol_gen_tenant *t = pol_gen_tenant_by_id(g, tenant);
				struct pol_ct_admit a = {
				        .cap = t ? t->sessions_per_worker : 0,
				        .rule = av.rule,
				        .gen = pol_gen_number(g),
				        .admit_reply = (av.flags & POL_RULE_F_STATEFUL) != 0,
				};

				if ((proto != 6 ||
				     (p.tcp_flags & (POL_CT_TCP_SYN | POL_CT_TCP_ACK)) ==
				             POL_CT_TCP_SYN) &&
				    !pol_meter_conn(w->gw->meter, w->id, tenant, now))
					cnt = GW_CNT_METER_TX_DROP;
				else if (pol_ct_open(w->ct, &k, &p, &a, now) == -ENOSPC)
					cnt = GW_CNT_CT_TX_REFUSED;
			}
		}
	}
	if (!cnt && !pol_meter_pkt(w->gw->meter, w->id, tenant, POL_METER_EGRESS, bytes, now))
		cnt = GW_CNT_METER_TX_DROP;
	if (cnt)
		w->cnt[cnt]++;
	return cnt;
}
