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

int
gw_policy_init(struct gw *gw)
{
	struct pol_cfg_errs errs = {0};
	struct pol_gen_opts o;
	struct pol_gen *g;
	uint64_t entries = 0;
	unsigned i, n;

	if (gw->have_port && !gw->flow && gw_flow_init(gw)) {
		GW_LOG(ERR, "policy: rte_flow state: out of memory");
		return -1;
	}
	gen_opts(gw, &o);
	gw_flow_opts(gw, gw->cfg->policy, &o);
	g = pol_gen_build(gw->cfg->policy, NULL, &o, &errs);
	if (!g) {
		gw_flow_abort(gw);
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
		gw_flow_abort(gw);
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
			gw_flow_abort(gw);
			return -1;
		}
	}
	meters_set(gw, g);
	pol_gen_publish(&gw->gen, g, NULL); /* no worker runs yet */
	gw_flow_commit(gw, g);
	GW_LOG(NOTICE, "policy generation %" PRIu64 " applied (%u tenants, %u rules)",
	       pol_gen_number(g), n, pol_gen_n_rules(g) - 1);
	return 0;
}

/*
 * Everything that can fail comes first (check, compile, the new interface, unpublishing what
 * the new policy no longer allows); then the publish, which cannot fail:
 *   1. apps: detached (tenant gone, uid/gid no longer admitted) and sockets closed (address,
 *      port, raw flag), their demux entries unpublished (RCU) before any address changes hands;
 *      the rest moved to the new policy's tenants (quota usage is kept by stable tenant id);
 *   2. the interface (owned addresses: ARP answers, what the stack accepts), then the
 *      generation, each a release store; one grace period covers both;
 *   3. the old interface and policy are freed at once: no app or worker points into them;
 *   4. gratuitous ARP for the addresses newly owned.
 */
int
gw_policy_apply(struct gw *gw, struct pol_policy *p, struct pol_cfg_errs *errs, uint64_t *gen_out)
{
	struct pol_gen_opts o;
	struct pol_gen *g;
	struct pol_policy *old_p;
	struct stk_iface *ifc, *old_ifc;
	unsigned n, before = pol_cfg_errs_count(errs);
	int ret;

	if (pol_policy_check_against(p, &gw->cfg->gw, errs) || pol_cfg_errs_count(errs) > before) {
		errno = EINVAL;
		goto fail;
	}
	gen_opts(gw, &o);
	gw_flow_opts(gw, p, &o);
	g = pol_gen_build(p, atomic_load_explicit(&gw->gen, memory_order_relaxed), &o, errs);
	if (!g) {
		gw_flow_abort(gw);
		goto fail; /* errno from the compiler; errors appended */
	}
	ifc = gw_iface_new(gw, p);
	if (!ifc) {
		ret = errno;
		pol_cfg_err_add(errs, p->file, 0, 0, "tenants", "interface tables: %s",
		                strerror(ret));
		pol_gen_put(g);
		gw_flow_abort(gw);
		errno = ret;
		goto fail;
	}
	ret = gw_chan_policy_reconcile(gw, p, g);
	if (ret) {
		gw_iface_free(ifc);
		pol_gen_put(g);
		gw_flow_abort(gw);
		errno = -ret;
		goto fail;
	}
	/* from here nothing fails */
	old_p = gw->cfg->policy;
	gw->cfg->policy = p;
	old_ifc = atomic_exchange_explicit(&gw->ifc, ifc, memory_order_acq_rel);
	n = pol_gen_n_tenants(g);
	meters_set(gw, g);
	pol_gen_publish(&gw->gen, pol_gen_get(g), gw->rcu); /* waits for the grace period */
	gw_flow_commit(gw, g); /* no worker sees the old generation: its flows go */
	gw_send_garp_new(gw, ifc, old_ifc);
	gw_iface_free(old_ifc);
	pol_policy_free(old_p);
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

	if (!g || !rte_log_can_log(gw_logtype, level))
		return; /* (the periodic DEBUG dump would query every NIC counter for nothing) */
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
	        " ct_expired=%" PRIu64 " ct_tenant_removed=%" PRIu64 "\n",
	        pol_gen_number(g), pol_gen_n_rules(g) - 1, pol_gen_n_tenants(g), sessions,
	        ct[POL_CT_CNT_CREATED], ct[POL_CT_CNT_EVICTED_FULL] + ct[POL_CT_CNT_EVICTED_CAP],
	        ct[POL_CT_CNT_REFUSED_FULL] + ct[POL_CT_CNT_REFUSED_CAP], ct[POL_CT_CNT_EXPIRED],
	        ct[POL_CT_CNT_TENANT_GONE]);
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
		struct gw_flow_rule_info fi;
		char where[GW_FLOW_REASON_MAX + 96];

		if (pol_gen_rule_info(g, i, &ri))
			continue;
		/* where it runs; the NIC's drops count as the rule's packets too */
		if (gw_flow_rule_placement(gw, i, &fi) == 0 && fi.generation == pol_gen_number(g)) {
			ri.pkts += fi.hw_pkts;
			ri.bytes += fi.hw_bytes;
			if (fi.where == GW_FLOW_HARDWARE)
				snprintf(
				        where, sizeof(where),
				        " placement=hardware flows=%u hw_counted=%s hw_packets=%" PRIu64,
				        fi.n_flows, fi.counted ? "yes" : "no", fi.hw_pkts);
			else if (fi.where == GW_FLOW_PARTIAL)
				snprintf(where, sizeof(where),
				         " placement=partial flows=%u/%u hw_packets=%" PRIu64
				         " reason=\"%s\"",
				         fi.n_flows, fi.n_wanted, fi.hw_pkts, fi.reason);
			else
				snprintf(where, sizeof(where), " placement=software reason=\"%s\"",
				         fi.reason);
		} else {
			snprintf(where, sizeof(where), " placement=software");
		}
		rte_log(level, gw_logtype,
		        "GATEWAY: counters rule %s/%s/%s: action=%s packets=%" PRIu64
		        " bytes=%" PRIu64 "%s\n",
		        ri.tenant ? ri.tenant : "operator", ri.name, pol_dir_name(ri.dir),
		        pol_action_name(ri.action), ri.pkts, ri.bytes, where);
	}
	n = pol_l7_n_sigs(g);
	if (n) {
		struct pol_l7_stats ls;

		pol_l7_stats(g, &ls);
		rte_log(level, gw_logtype,
		        "GATEWAY: counters l7: signatures=%u scans=%" PRIu64 " scan_bytes=%" PRIu64
		        " scan_errors=%" PRIu64 "\n",
		        n, ls.scans, ls.bytes, ls.errors);
	}
	for (i = 0; i < n; i++) {
		struct pol_sig_info si;

		if (pol_l7_sig_info(g, i, &si))
			continue;
		rte_log(level, gw_logtype,
		        "GATEWAY: counters signature %s/%s: action=%s matches=%" PRIu64 "\n",
		        si.tenant ? si.tenant : "operator", si.name,
		        si.action == POL_SIG_COUNT ? "count" : "deny", si.hits);
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
}

/* ---- fast path (workers) ---- */

/*
 * A session of a tenant g no longer has, or of an earlier owner of its id: a session is stamped
 * with a generation at least its tenant's `since` (it was opened or re-checked under one where the
 * tenant held the id), so an older stamp is a removed tenant's even if the id went to a new one
 * before the sweep came by.
 */
static bool
tenant_gone(const void *g, uint16_t tenant, uint64_t gen)
{
	const struct pol_gen_tenant *t = pol_gen_tenant_by_id(g, tenant);

	return !t || gen < t->since;
}

void
gw_policy_expire(struct gw_worker *w, uint64_t now)
{
	const struct pol_gen *g = pol_gen_current(&w->gw->gen);

	if (w->ct)
		pol_ct_expire_gone(w->ct, now, GW_CT_EXPIRE_BUDGET, g ? tenant_gone : NULL, g);
}

/*
 * A session admitted under an older generation (reload since): re-classify the flow's opening
 * direction against g. The flow still allowed: the session is re-stamped with the rule that
 * allows it now (its `stateful` decides about replies from now on), 0. Not allowed any more:
 * the session is removed (counted ct_revoked), -1, and the caller drops the packet. p is the
 * packet of direction dir; v says whether it came from the opener (ORIG) or the other end.
 * One rte_acl lookup, once per session and reload.
 */
static int
ct_recheck(struct gw_worker *w, const struct pol_gen *g, enum pol_dir dir,
           const struct pol_ct_pkt *p, enum pol_ct_verdict v, struct pol_ct_info *ci)
{
	struct pol_acl_key k;
	struct pol_acl_verdict av;
	enum pol_dir odir = gw_policy_opening_key(dir, v == POL_CT_REPLY, p, &k);

	w->cnt[GW_CNT_CT_RECHECKED]++;
	pol_acl_classify(g, odir, w->id, &k, NULL, 1, &av);
	if (av.action != POL_ACT_ALLOW) {
		pol_ct_remove(w->ct, ci->idx);
		w->cnt[GW_CNT_CT_REVOKED]++;
		return -1;
	}
	ci->admit_reply = (av.flags & POL_RULE_F_STATEFUL) != 0;
	ci->rule = av.rule;
	ci->gen = pol_gen_number(g);
	pol_ct_set_rule(w->ct, ci->idx, ci->rule, ci->gen, ci->admit_reply);
	return 0;
}

/*
 * Ingress policy for n (<= GW_BURST) UDP/TCP packets to tenant addresses: conntrack, ACL for what
 * no stateful session admits, the L7 stage, session opening, meter. ok[i] says whether packet i
 * may go on.
 *
 * L7 (only when the generation has ingress signature rules): the ACL runs without counting, the
 * signature candidates' payloads are scanned (pol_l7_resolve) and the deciding rule counted
 * afterwards. A reply a stateful session admits is classified and scanned too when its tenant's
 * or the operator's tier has signatures: it is dropped only when a signature rule denies it
 * (the session stands in for every other rule), so a session is no way around L7.
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
	int32_t stale[GW_BURST]; /* ORIG packets of a session of an older generation: >= 0 */
	struct pol_acl_verdict av[GW_BURST];
	const uint64_t gnum = pol_gen_number(g);
	const uint8_t *apay[GW_BURST];
	uint32_t aplen[GW_BURST];
	bool asess[GW_BURST];
	const bool l7 = pol_l7_on(g, POL_DIR_INGRESS);
	struct pol_ct *ct = w->ct;
	struct pol_meter *meter = w->gw->meter;
	unsigned i, j, na = 0, opened = 0;

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
		bool sess = false;

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
		stale[i] = -1;
		if (unlikely(v != POL_CT_NEW && ci.gen != gnum)) {
			if (v == POL_CT_ORIG) {
				stale[i] = ci.idx; /* the ACL below judges its opening direction */
			} else if (ct_recheck(w, g, POL_DIR_INGRESS, &cp[i], v, &ci)) {
				ok[i] = false;
				w->cnt[GW_CNT_POLICY_DENY]++;
				continue;
			}
		}
		if (v == POL_CT_REPLY && ci.admit_reply) {
			/* the reply direction of a flow a stateful rule admitted */
			if (likely(!l7) || !pol_l7_active(g, POL_DIR_INGRESS, tenant[i]))
				continue;
			sess = true; /* still scanned */
		}
		ctv[i] = (uint8_t)v;
		/* ICMP: conntrack keys on the echo identifier, the ACL sees no ports */
		pol_acl_key_set(&ak[na], tenant[i], cp[i].proto, cp[i].src, cp[i].dst,
		                cp[i].proto == 1 ? 0 : cp[i].sport,
		                cp[i].proto == 1 ? 0 : cp[i].dport);
		alen[na] = lens[i];
		if (l7) {
			/* UDP and TCP: what follows the header (stk_input bounded it); else none.
			 * TCP the engine terminates: scanned as a stream when the engine delivers
			 * it in order (stream_fp.c), so here only the 5-tuple is judged */
			apay[na] = info[i].pay_len ? b[i].data + info[i].pay_off : NULL;
			aplen[na] = info[i].pay_len;
			if (cp[i].proto == 6 && aplen[na] && gw_tcp_terminates(w, &info[i])) {
				apay[na] = NULL;
				aplen[na] = 0;
			}
			asess[na] = sess;
		}
		ai[na++] = (uint8_t)i;
	}
	if (na && likely(!l7)) {
		pol_acl_classify(g, POL_DIR_INGRESS, w->id, ak, alen, na, av);
	} else if (na) {
		pol_acl_classify(g, POL_DIR_INGRESS, w->id, ak, NULL, na, av);
		pol_l7_resolve(g, POL_DIR_INGRESS, w->id, ak, apay, aplen, na, av);
		for (j = 0; j < na; j++) {
			if (!asess[j]) {
				pol_gen_count(g, w->id, av[j].rule, alen[j]);
				continue;
			}
			i = ai[j];
			if (av[j].action != POL_ACT_ALLOW && (av[j].flags & POL_RULE_F_SIGS)) {
				pol_gen_count(g, w->id, av[j].rule, alen[j]);
				ok[i] = false;
				w->cnt[GW_CNT_POLICY_L7_DENY]++;
			}
			av[j].action = POL_ACT_ALLOW; /* the session admits it (ctv: no new one) */
		}
	}
	for (j = 0; j < na; j++) {
		i = ai[j];
		if (!ok[i])
			continue; /* a session's reply a signature denied */
		if (unlikely(stale[i] >= 0)) {
			/*
			 * re-checked: re-stamped with the rule that allows it now, or removed.
			 * Found again by its key, not by stale[i]: a session opened earlier in this
			 * loop may have evicted it and taken its slot (re-stamping that one would
			 * hand it this rule's stateful flag; removing it would drop a session just
			 * made), and an earlier packet of the flow in this burst may have
			 * re-checked it.
			 */
			struct pol_ct_info si;
			const int32_t e = pol_ct_lookup(ct, &ck[i]);

			if (e >= 0 && pol_ct_get(ct, e, &si) == 0 && si.gen != gnum) {
				w->cnt[GW_CNT_CT_RECHECKED]++;
				if (av[j].action == POL_ACT_ALLOW) {
					pol_ct_set_rule(ct, e, av[j].rule, gnum,
					                (av[j].flags & POL_RULE_F_STATEFUL) != 0);
				} else {
					pol_ct_remove(ct, e);
					w->cnt[GW_CNT_CT_REVOKED]++;
				}
			}
		}
		if (unlikely(av[j].flags & POL_RULE_F_LOG) && (likely(!l7) || !asess[j]))
			gw_log_push(w, g, av[j].rule, tenant[i], POL_DIR_INGRESS, av[j].action,
			            cp[i].proto, cp[i].src, cp[i].dst, cp[i].sport, cp[i].dport,
			            lens[i]);
		if (av[j].action != POL_ACT_ALLOW) {
			ok[i] = false;
			if (av[j].flags & POL_RULE_F_SIGS)
				w->cnt[GW_CNT_POLICY_L7_DENY]++;
			else
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

			if (unlikely(opened)) {
				/*
				 * An earlier packet of this burst may have opened this flow's
				 * session (the lookup before the loop could not see it): this
				 * packet is tracked on it, as if it came in the next burst - one
				 * new connection for the meter, one session.
				 */
				struct pol_ct_info si;
				const int32_t e = pol_ct_lookup(ct, &ck[i]);

				if (e >= 0) {
					if (pol_ct_track(ct, e, &ck[i], &cp[i], now, &si) ==
					    POL_CT_INVALID) {
						ok[i] = false;
						w->cnt[GW_CNT_POLICY_CT_INVALID]++;
					}
					continue;
				}
			}
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
			opened += r >= 0;
		}
	}
	w->cnt[GW_CNT_METER_DROP] +=
	        pol_meter_pkt_burst(meter, w->id, POL_METER_INGRESS, tenant, lens, n, now, ok);
}

/*
 * Egress policy for one packet an app sends (tenant's source address src). l4 points at the
 * UDP/TCP header (l4_avail bytes of it) or is NULL for other protocols; pay at the payload
 * (pay_len bytes) in gateway memory, for the L7 stage. 0 when it may go, else the gateway counter
 * that says why not (counted here). L7 as on ingress: signature candidates are scanned, and so
 * are the replies a stateful session admits when a tier of the sender has egress signatures.
 */
int
gw_policy_egress(struct gw_worker *w, const struct pol_gen *g, uint8_t proto, uint32_t src,
                 uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *l4, uint32_t l4_avail,
                 const uint8_t *pay, uint32_t pay_len, uint32_t bytes, bool stream)
{
	struct pol_ct_pkt p;
	struct pol_ct_key k;
	struct pol_ct_info ci;
	struct pol_acl_key ak;
	struct pol_acl_verdict av;
	enum pol_ct_verdict v;
	uint64_t now = w->stk.now_ns;
	uint16_t tenant = pol_gen_tenant_by_addr(g, src);
	const bool l7 = pol_l7_on(g, POL_DIR_EGRESS);
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
		bool sess;

		pol_ct_key_set(&k, &p);
		v = pol_ct_track(w->ct, pol_ct_lookup(w->ct, &k), &k, &p, now, &ci);
		if (v == POL_CT_INVALID) {
			/* TCP data or FIN after the session's reset: the caller (the engine)
			 * learns the connection is gone */
			cnt = proto == 6 && ci.state == POL_CT_TCP_CLOSE ? GW_CNT_CT_TX_RESET
			                                                 : GW_CNT_CT_TX_REFUSED;
		} else if (unlikely(v != POL_CT_NEW && ci.gen != pol_gen_number(g)) &&
		           ct_recheck(w, g, POL_DIR_EGRESS, &p, v, &ci)) {
			cnt = GW_CNT_POLICY_TX_DENY; /* a reload took its flow away: session gone */
		}
		sess = v == POL_CT_REPLY && ci.admit_reply; /* after a re-check */
		if (!cnt && (!sess || (unlikely(l7) && pol_l7_active(g, POL_DIR_EGRESS, tenant)))) {
			pol_acl_key_set(&ak, tenant, proto, src, dst, proto == 1 ? 0 : sport,
			                proto == 1 ? 0 : dport);
			if (likely(!l7)) {
				pol_acl_classify(g, POL_DIR_EGRESS, w->id, &ak, &bytes, 1, &av);
			} else {
				pol_acl_classify(g, POL_DIR_EGRESS, w->id, &ak, NULL, 1, &av);
				const uint8_t *sp = stream ? NULL : pay;
				uint32_t sl = stream ? 0 : pay_len;

				pol_l7_resolve(g, POL_DIR_EGRESS, w->id, &ak, &sp, &sl, 1, &av);
				/* a session's reply: only a signature rule's deny applies */
				if (!sess ||
				    (av.action != POL_ACT_ALLOW && (av.flags & POL_RULE_F_SIGS)))
					pol_gen_count(g, w->id, av.rule, bytes);
				else
					av.action = POL_ACT_ALLOW;
			}
			if (unlikely(av.flags & POL_RULE_F_LOG) && !sess)
				gw_log_push(w, g, av.rule, tenant, POL_DIR_EGRESS, av.action, proto,
				            src, dst, sport, dport, bytes);
			if (av.action != POL_ACT_ALLOW) {
				cnt = (av.flags & POL_RULE_F_SIGS) ? GW_CNT_POLICY_TX_L7_DENY
				                                   : GW_CNT_POLICY_TX_DENY;
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

bool
gw_policy_l7_egress(const struct pol_gen *g, uint32_t src)
{
	return pol_l7_on(g, POL_DIR_EGRESS) &&
	       pol_l7_active(g, POL_DIR_EGRESS, pol_gen_tenant_by_addr(g, src));
}
