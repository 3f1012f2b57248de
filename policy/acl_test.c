/* acl_test.c - unit tests of the policy compiler and classifier against a naive reference. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_acl.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "acl.h"
#include "testgen.h"
#include "acl_priv.h"

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t
ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return a << 24 | b << 16 | c << 8 | d;
}

static void
print_errs(const struct pol_cfg_errs *errs)
{
	pol_cfg_errs_print(errs, stderr);
}

/* ---- the naive reference: the evaluation order of docs/policy.md, straight from the model ---- */

static bool
ref_side(const struct pol_match *m, uint32_t a, uint16_t port, uint16_t proto, uint8_t pproto)
{
	bool in = m->n_cidrs == 0;
	unsigned i;

	for (i = 0; i < m->n_cidrs && !in; i++)
		in = pol_prefix_contains(m->cidrs[i].addr, m->cidrs[i].len, a);
	for (i = 0; i < m->n_except && in; i++)
		if (pol_prefix_contains(m->except[i].addr, m->except[i].len, a))
			in = false;
	if (!in)
		return false;
	if (m->n_ports && (proto == 6 || proto == 17) && (pproto == 6 || pproto == 17)) {
		in = false;
		for (i = 0; i < m->n_ports && !in; i++)
			in = port >= m->ports[i].lo && port <= m->ports[i].hi;
	}
	return in;
}

static bool
ref_match(const struct pol_rule *r, const struct pol_testgen_pkt *p)
{
	if (r->proto != POL_PROTO_ANY && r->proto != p->proto)
		return false;
	return ref_side(&r->src, p->src, p->sport, r->proto, p->proto) &&
	       ref_side(&r->dst, p->dst, p->dport, r->proto, p->proto);
}

/* The rule of one tier that decides: deny wins, then the lowest priority; NULL when none. */
static const struct pol_rule *
ref_tier(const struct pol_ruleset *rs, const struct pol_testgen_pkt *p, bool sigs)
{
	const struct pol_rule *deny = NULL, *allow = NULL;
	unsigned i;

	for (i = 0; i < rs->n_rules; i++) {
		const struct pol_rule *r = &rs->rules[i];

		if (r->dir != p->dir || (r->n_sigs != 0) != sigs || !ref_match(r, p))
			continue;
		if (sigs || r->action == POL_ACT_ALLOW) {
			if (!allow || r->priority < allow->priority)
				allow = r;
		} else if (!deny || r->priority < deny->priority) {
			deny = r;
		}
	}
	return deny ? deny : allow;
}

struct ref_verdict {
	const struct pol_rule *rule; /* NULL: a default */
	int tier;                    /* -1 operator, else tenant index (the rule's tier) */
	enum pol_action action;
	const struct pol_rule *sig[2];
};

static void
ref_classify(const struct pol_policy *pol, const struct pol_testgen_pkt *p, struct ref_verdict *v)
{
	const struct pol_rule *r;

	memset(v, 0, sizeof(*v));
	v->sig[0] = ref_tier(&pol->op, p, true);
	if (p->tenant >= 0)
		v->sig[1] = ref_tier(&pol->tenants[p->tenant].rs, p, true);
	r = ref_tier(&pol->op, p, false);
	v->tier = -1;
	if (!r && p->tenant >= 0) {
		r = ref_tier(&pol->tenants[p->tenant].rs, p, false);
		v->tier = p->tenant;
	}
	v->rule = r;
	if (r)
		v->action = r->action;
	else
		v->action = p->tenant >= 0 ? pol->tenants[p->tenant].dflt[p->dir] : POL_ACT_DENY;
	if (!r)
		v->tier = p->tenant;
}

/* ---- packets ---- */

static void
add_pkt(struct pol_testgen_pkt **v, size_t *n, size_t *cap, const struct pol_testgen_pkt *p)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		*v = realloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = *p;
}

/* Every rule's edges, systematically: each CIDR and except boundary (+-1), each port range's. */
static void
edge_pkts(const struct pol_policy *pol, struct pol_testgen_pkt **v, size_t *n, size_t *cap)
{
	unsigned t, i, j, e;

	for (t = 0; t <= pol->n_tenants; t++) {
		const struct pol_ruleset *rs = t == 0 ? &pol->op : &pol->tenants[t - 1].rs;

		for (i = 0; i < rs->n_rules; i++) {
			const struct pol_rule *r = &rs->rules[i];
			const struct pol_match *side[2] = {&r->src, &r->dst};
			struct pol_testgen_pkt base;

			base.tenant = t == 0 ? (pol->n_tenants ? (int)(rnd() % pol->n_tenants) : -1)
			                     : (int)t - 1;
			base.dir = r->dir;
			base.proto = r->proto == POL_PROTO_ANY ? 17 : (uint8_t)r->proto;
			base.src = r->src.n_cidrs ? r->src.cidrs[0].addr : (uint32_t)rnd();
			base.dst = r->dst.n_cidrs ? r->dst.cidrs[0].addr : (uint32_t)rnd();
			base.sport = r->src.n_ports ? r->src.ports[0].lo : 1000;
			base.dport = r->dst.n_ports ? r->dst.ports[0].lo : 1000;
			if (base.proto != 6 && base.proto != 17)
				base.sport = base.dport = 0;
			for (j = 0; j < 2; j++) {
				const struct pol_match *m = side[j];

				for (e = 0; e < m->n_cidrs + m->n_except; e++) {
					const struct pol_prefix *c =
					        e < m->n_cidrs ? &m->cidrs[e]
					                       : &m->except[e - m->n_cidrs];
					uint32_t first = c->addr,
					         last = c->addr | ~pol_prefix_mask(c->len);
					uint32_t pts[4] = {first - 1, first, last, last + 1};
					unsigned k;

					for (k = 0; k < 4; k++) {
						struct pol_testgen_pkt p = base;

						if (j == 0)
							p.src = pts[k];
						else
							p.dst = pts[k];
						add_pkt(v, n, cap, &p);
					}
				}
				for (e = 0; e < m->n_ports && base.sport + base.dport; e++) {
					const struct pol_port_range *pr = &m->ports[e];
					uint16_t pts[4] = {(uint16_t)(pr->lo - 1), pr->lo, pr->hi,
					                   (uint16_t)(pr->hi + 1)};
					unsigned k;

					for (k = 0; k < 4; k++) {
						struct pol_testgen_pkt p = base;

						if (j == 0)
							p.sport = pts[k];
						else
							p.dport = pts[k];
						add_pkt(v, n, cap, &p);
					}
				}
			}
		}
	}
}

static uint16_t
tenant_id(const struct pol_gen *g, int idx)
{
	return idx < 0 ? (uint16_t)(POL_TENANT_ID_MAX - 1)
	               : pol_gen_tenant_at(g, (unsigned)idx)->id;
}

static void
tpkt_key(const struct pol_gen *g, const struct pol_testgen_pkt *p, struct pol_acl_key *k)
{
	pol_acl_key_set(k, tenant_id(g, p->tenant), p->proto, p->src, p->dst, p->sport, p->dport);
}

static bool
same_rule(const struct pol_gen *g, const struct pol_policy *pol, uint32_t id,
          const struct pol_rule *r, int tier)
{
	struct pol_rule_info ri;

	if (!r)
		return id == 0;
	if (pol_gen_rule_info(g, id, &ri) || (ri.flags & POL_RULE_F_DEFAULT))
		return false;
	if (tier < 0)
		return ri.tenant == NULL && !strcmp(ri.name, r->name);
	return ri.tenant && !strcmp(ri.tenant, pol->tenants[tier].name) &&
	       !strcmp(ri.name, r->name);
}

/* Does the compiled verdict say what the reference says? */
static bool
agree(const struct pol_gen *g, const struct pol_policy *pol, const struct pol_testgen_pkt *p,
      const struct pol_acl_verdict *v, bool sigs, char *why, size_t len)
{
	struct ref_verdict rv;
	struct pol_rule_info ri;

	ref_classify(pol, p, &rv);
	if (pol_gen_rule_info(g, v->rule, &ri)) {
		snprintf(why, len, "bad rule id %u", v->rule);
		return false;
	}
	if (v->action != rv.action) {
		snprintf(why, len, "action %s, reference %s", pol_action_name(v->action),
		         pol_action_name(rv.action));
		return false;
	}
	if (rv.rule) {
		if (!same_rule(g, pol, v->rule, rv.rule, rv.tier)) {
			snprintf(why, len, "rule %s/%s, reference %s/%s",
			         ri.tenant ? ri.tenant : "op", ri.name,
			         rv.tier < 0 ? "op" : pol->tenants[rv.tier].name, rv.rule->name);
			return false;
		}
	} else {
		bool want_tenant = p->tenant >= 0;

		if (!(ri.flags & POL_RULE_F_DEFAULT) || ri.dir != p->dir ||
		    (ri.tenant != NULL) != want_tenant ||
		    (want_tenant && strcmp(ri.tenant, pol->tenants[p->tenant].name))) {
			snprintf(why, len, "rule %s/%s, reference: the default",
			         ri.tenant ? ri.tenant : "-", ri.name);
			return false;
		}
	}
	if (sigs && (!same_rule(g, pol, v->sig_rule[0], rv.sig[0], -1) ||
	             !same_rule(g, pol, v->sig_rule[1], rv.sig[1], p->tenant))) {
		snprintf(why, len, "signature candidates %u/%u differ from the reference's %s/%s",
		         v->sig_rule[0], v->sig_rule[1], rv.sig[0] ? rv.sig[0]->name : "-",
		         rv.sig[1] ? rv.sig[1]->name : "-");
		return false;
	}
	return true;
}

static void
print_mismatch(const struct pol_testgen_pkt *p, const char *why)
{
	char a[16], b[16];

	fprintf(stderr, "  mismatch: tenant %d %s proto %u %s:%u -> %s:%u: %s\n", p->tenant,
	        pol_dir_name(p->dir), p->proto, pol_ipv4_str(p->src, a), p->sport,
	        pol_ipv4_str(p->dst, b), p->dport, why);
}

/* Classify pkts in bursts of 1..64 per direction; count disagreements (print the first few). */
static size_t
check_all(const struct pol_gen *g, const struct pol_policy *pol, const struct pol_testgen_pkt *pkts,
          size_t n, bool sigs)
{
	struct pol_acl_key keys[2][POL_ACL_BURST_MAX];
	const struct pol_testgen_pkt *which[2][POL_ACL_BURST_MAX];
	struct pol_acl_verdict out[POL_ACL_BURST_MAX];
	unsigned cnt[2] = {0, 0}, want = 1 + (unsigned)(rnd() % 64), d, i;
	size_t bad = 0, k;
	char why[256];

	for (k = 0; k <= n; k++) {
		for (d = 0; d < 2; d++) {
			if (cnt[d] < want && k < n)
				continue;
			if (!cnt[d])
				continue;
			pol_acl_classify(g, (enum pol_dir)d, 0, keys[d], NULL, cnt[d], out);
			for (i = 0; i < cnt[d]; i++) {
				if (agree(g, pol, which[d][i], &out[i], sigs, why, sizeof(why)))
					continue;
				if (bad++ < 8)
					print_mismatch(which[d][i], why);
			}
			cnt[d] = 0;
			want = 1 + (unsigned)(rnd() % 64);
		}
		if (k < n) {
			d = pkts[k].dir;
			tpkt_key(g, &pkts[k], &keys[d][cnt[d]]);
			which[d][cnt[d]++] = &pkts[k];
		}
	}
	return bad;
}

/* ---- timing (informational) ---- */

static const char *const alg_names[] = {"default", "scalar",  "sse",       "avx2",
                                        "neon",    "altivec", "avx512x16", "avx512x32"};

static double
time_classify(const struct pol_gen *g, const struct pol_acl_key *keys, size_t n, bool bare)
{
	struct pol_acl_verdict out[32];
	const uint8_t *data[32];
	uint32_t res[32 * POL_ACL_CATS_SIGS], lens[32];
	uint64_t t0, t;
	size_t i, j, rounds = 0;

	for (i = 0; i < 32; i++)
		lens[i] = 64;
	t0 = now_ns();
	do {
		for (i = 0; i + 32 <= n; i += 32) {
			if (bare) {
				for (j = 0; j < 32; j++)
					data[j] = (const uint8_t *)&keys[i + j];
				rte_acl_classify(g->ctx[POL_DIR_INGRESS], data, res, 32,
				                 g->ncat[POL_DIR_INGRESS]);
			} else {
				pol_acl_classify(g, POL_DIR_INGRESS, 0, &keys[i], lens, 32, out);
			}
		}
		rounds++;
		t = now_ns() - t0;
	} while (t < 150000000ull);
	return (double)t / (double)(rounds * (n / 32 * 32));
}

static void
timing(struct pol_gen *g, const struct pol_policy *pol, const char *label)
{
	size_t n = 8192, i;
	struct pol_acl_key *keys = malloc(n * sizeof(*keys));
	int alg;

	if (!g->ctx[POL_DIR_INGRESS])
		return;
	for (i = 0; i < n; i++) {
		struct pol_testgen_pkt p;

		do
			pol_testgen_rand_pkt(pol, &p);
		while (p.dir != POL_DIR_INGRESS);
		tpkt_key(g, &p, &keys[i]);
	}
	printf("#   %s: classify ns/packet (bursts of 32, 8192 packets near the rules):", label);
	for (alg = RTE_ACL_CLASSIFY_SCALAR; alg <= RTE_ACL_CLASSIFY_AVX512X32; alg++) {
		if (rte_acl_set_ctx_classify(g->ctx[POL_DIR_INGRESS],
		                             (enum rte_acl_classify_alg)alg))
			continue;
		printf(" %s %.1f (bare rte_acl %.1f)", alg_names[alg],
		       time_classify(g, keys, n, false), time_classify(g, keys, n, true));
	}
	printf("\n");
	rte_acl_set_ctx_classify(g->ctx[POL_DIR_INGRESS], RTE_ACL_CLASSIFY_DEFAULT);
	free(keys);
}

/* ---- tests ---- */

static void
test_random(unsigned n_rules, unsigned n_tenants, unsigned n_op, bool sigs, size_t n_random,
            bool time_it, const struct pol_testgen_shape *sh)
{
	struct pol_policy *pol;
	struct pol_gen_opts o = {.n_workers = 2, .socket_id = -1};
	struct pol_cfg_errs errs = {0};
	struct pol_testgen_pkt *pkts = NULL, p;
	size_t n = 0, cap = 0, i, n_edge, bad;
	uint64_t acl_rules = 0, t0, t_build, t_check;
	struct pol_gen *g;
	char name[128];
	bool ok = true;

	pol = pol_testgen_policy(sh, n_rules, n_tenants, n_op, sigs);
	t0 = now_ns();
	g = pol_gen_build(pol, NULL, &o, &errs);
	t_build = now_ns() - t0;
	if (!g)
		print_errs(&errs);
	CHECK(g != NULL);
	if (g) {
		for (i = 1; i < pol_gen_n_rules(g); i++) {
			struct pol_rule_info ri;

			pol_gen_rule_info(g, (uint32_t)i, &ri);
			acl_rules += ri.acl_rules;
		}
		edge_pkts(pol, &pkts, &n, &cap);
		n_edge = n;
		for (i = 0; i < n_random; i++) {
			pol_testgen_rand_pkt(pol, &p);
			add_pkt(&pkts, &n, &cap, &p);
		}
		t0 = now_ns();
		bad = check_all(g, pol, pkts, n, sigs);
		t_check = now_ns() - t0;
		printf("#   %u %s rules (%u operator, %u tenants%s): %llu rte_acl rules, built in "
		       "%.0f ms; %zu packets (%zu at edges) checked in %.0f ms, %zu disagree\n",
		       n_rules, sh->name, n_op, n_tenants, sigs ? ", signatures" : "",
		       (unsigned long long)acl_rules, (double)t_build / 1e6, n, n_edge,
		       (double)t_check / 1e6, bad);
		CHECK(bad == 0);
		if (time_it) {
			snprintf(name, sizeof(name), "%u %s rules", n_rules, sh->name);
			timing(g, pol, name);
		}
	}
	pol_gen_put(g);
	pol_policy_free(pol);
	free(pkts);
	pol_cfg_errs_clear(&errs);
	snprintf(name, sizeof(name),
	         "compiler on %u generated %s rules%s agrees with the reference on every packet",
	         n_rules, sh->name, sigs ? " (with signature rules)" : "");
	check_report(name, ok);
}

/* cidrs minus excepts become complementary prefixes; ports merge */
static void
test_normalise(void)
{
	struct pol_prefix cidrs[2] = {{ip(10, 0, 0, 0), 8, {0, 0}}, {ip(10, 1, 2, 0), 24, {0, 0}}};
	struct pol_prefix ex[2] = {{ip(10, 1, 0, 0), 16, {0, 0}}, {ip(10, 200, 3, 4), 32, {0, 0}}};
	struct pol_port_range ports[4] = {
	        {80, 80, {0, 0}}, {81, 90, {0, 0}}, {85, 100, {0, 0}}, {443, 443, {0, 0}}};
	struct pol_rule r = {0};
	struct pol_gen_rule gr = {0};
	bool ok = true;
	uint32_t i, a;

	r.proto = 6;
	r.src.cidrs = cidrs;
	r.src.n_cidrs = 2;
	r.src.except = ex;
	r.src.n_except = 2;
	r.dst.ports = ports;
	r.dst.n_ports = 4;
	CHECK(pol_acl_normalise(&gr, &r) == 0);
	/* 10/8 minus 10.1/16: 8 prefixes; minus one /32: 24 more in place of one; 10.1.2/24 is
	 * inside 10.1/16, excepted as well */
	CHECK(gr.n_src == 8 - 1 + (32 - 9)); /* 10.200.3.4 splits 10.128/9 into 23 */
	CHECK(gr.n_dport == 2 && gr.dport[0].lo == 80 && gr.dport[0].hi == 100 &&
	      gr.dport[1].lo == 443);
	CHECK(gr.n_acl == gr.n_src * 2);
	/* exact: a sample of addresses agrees with the model's meaning */
	for (i = 0; i < 200000; i++) {
		bool want, got = false;
		uint32_t k;

		a = i < 16   ? ip(10, 1, 0, 0) - 8 + i
		    : i < 32 ? ip(10, 200, 3, 4) - 24 + i
		             : ip(10, 0, 0, 0) + (uint32_t)rnd() % (1u << 24);
		want = pol_prefix_contains(cidrs[0].addr, 8, a) &&
		       !pol_prefix_contains(ex[0].addr, 16, a) && a != ex[1].addr;
		for (k = 0; k < gr.n_src; k++)
			got |= pol_prefix_contains(gr.src[k].addr, gr.src[k].len, a);
		if (got != want) {
			ok = false;
			break;
		}
	}
	CHECK(i == 200000);
	pol_acl_rule_release(&gr);

	/* every address excepted: matches nothing, compiles to nothing */
	memset(&r, 0, sizeof(r));
	r.proto = POL_PROTO_ANY;
	r.src.cidrs = &cidrs[1];
	r.src.n_cidrs = 1;
	r.src.except = &ex[0];
	r.src.n_except = 1;
	memset(&gr, 0, sizeof(gr));
	CHECK(pol_acl_normalise(&gr, &r) == 0 && gr.n_acl == 0);
	pol_acl_rule_release(&gr);

	/* except without cidrs: everything but the except; 0-65535 is the wildcard */
	memset(&r, 0, sizeof(r));
	r.proto = 17;
	r.dst.except = &ex[1];
	r.dst.n_except = 1;
	ports[0] = (struct pol_port_range){0, 65535, {0, 0}};
	r.dst.ports = ports;
	r.dst.n_ports = 1;
	memset(&gr, 0, sizeof(gr));
	CHECK(pol_acl_normalise(&gr, &r) == 0 && gr.n_dst == 32 && gr.n_dport == 0);
	pol_acl_rule_release(&gr);
	check_report("normalise: excepts as complementary prefixes, port ranges merged", ok);
}

/* The worked example of docs/policy.md "Evaluation". */
static const char worked_yaml[] = "operator:\n"
                                  "  rules:\n"
                                  "    - name: monitoring\n"
                                  "      priority: 5\n"
                                  "      direction: ingress\n"
                                  "      action: allow\n"
                                  "      protocol: icmp\n"
                                  "      src: {cidrs: [192.0.2.0/24, 203.0.113.0/24]}\n"
                                  "    - name: blocklist\n"
                                  "      priority: 10\n"
                                  "      direction: ingress\n"
                                  "      action: deny\n"
                                  "      src: {cidrs: [203.0.113.0/24], except: [203.0.113.7]}\n"
                                  "tenants:\n"
                                  "  - name: web\n"
                                  "    addresses: [198.18.0.10]\n"
                                  "    rules:\n"
                                  "      - name: http-in\n"
                                  "        priority: 100\n"
                                  "        direction: ingress\n"
                                  "        action: allow\n"
                                  "        protocol: tcp\n"
                                  "        dst: {ports: [80, 443]}\n"
                                  "        stateful: true\n"
                                  "      - name: lab-in\n"
                                  "        priority: 150\n"
                                  "        direction: ingress\n"
                                  "        action: allow\n"
                                  "        protocol: tcp\n"
                                  "        src: {cidrs: [198.51.100.0/24]}\n"
                                  "      - name: no-lab-web\n"
                                  "        priority: 200\n"
                                  "        direction: ingress\n"
                                  "        action: deny\n"
                                  "        protocol: tcp\n"
                                  "        src: {cidrs: [198.51.100.0/25]}\n"
                                  "        dst: {ports: [\"8000-8099\"]}\n";

static void
test_worked_example(void)
{
	static const struct {
		uint8_t proto;
		uint32_t src;
		uint16_t sport, dport;
		const char *tier, *rule;
		enum pol_action act;
	} cases[] = {
	        /* 1. operator deny decides; the tenant's http-in is never consulted */
	        {6, 0xcb007109 /* 203.0.113.9 */, 40000, 80, NULL, "blocklist", POL_ACT_DENY},
	        /* 2. 203.0.113.7 is excepted from the blocklist: on to the tenant, http-in */
	        {6, 0xcb007107, 40000, 80, "web", "http-in", POL_ACT_ALLOW},
	        /* 3. ICMP from 203.0.113.9: monitoring (allow, 5) and blocklist (deny, 10) both
	         * match in the operator tier: deny wins whatever the priorities */
	        {1, 0xcb007109, 0, 0, NULL, "blocklist", POL_ACT_DENY},
	        /* 4. ICMP from 192.0.2.1: operator allow decides (the tenant default is deny) */
	        {1, 0xc0000201, 0, 0, NULL, "monitoring", POL_ACT_ALLOW},
	        /* 5. TCP 198.51.100.5 -> 8080: lab-in (allow, 150) and no-lab-web (deny, 200) */
	        {6, 0xc6336405, 40000, 8080, "web", "no-lab-web", POL_ACT_DENY},
	        /* 6. TCP 198.51.100.5 -> 443: http-in (100) and lab-in (150) allow: the lower
	         * number is the one reported, and its stateful flag applies */
	        {6, 0xc6336405, 40000, 443, "web", "http-in", POL_ACT_ALLOW},
	        /* 7. TCP 198.51.100.200 -> 8080: outside the /25: lab-in */
	        {6, 0xc63364c8, 40000, 8080, "web", "lab-in", POL_ACT_ALLOW},
	        /* 8. UDP from anywhere: no rule, the tenant's default (deny) */
	        {17, 0x08080808, 53, 5353, "web", "default", POL_ACT_DENY},
	};
	struct pol_cfg_errs errs = {0};
	struct pol_policy *pol =
	        pol_policy_load_buf("worked.yaml", worked_yaml, sizeof(worked_yaml) - 1, &errs);
	struct pol_acl_verdict v[8];
	struct pol_acl_key k[8];
	struct pol_gen *g = NULL;
	bool ok = pol != NULL;
	unsigned i;

	if (!pol)
		print_errs(&errs);
	if (pol)
		g = pol_gen_build(pol, NULL, NULL, &errs);
	CHECK(g != NULL);
	if (!g) {
		print_errs(&errs);
		goto out;
	}
	CHECK(pol_gen_tenant_by_addr(g, ip(198, 18, 0, 10)) == 0);
	for (i = 0; i < 8; i++)
		pol_acl_key_set(&k[i], pol_gen_tenant_by_addr(g, ip(198, 18, 0, 10)),
		                cases[i].proto, cases[i].src, ip(198, 18, 0, 10), cases[i].sport,
		                cases[i].dport);
	pol_acl_classify(g, POL_DIR_INGRESS, 0, k, NULL, 8, v);
	for (i = 0; i < 8; i++) {
		struct pol_rule_info ri;

		pol_gen_rule_info(g, v[i].rule, &ri);
		printf("#   case %u: %s/%s %s\n", i + 1, ri.tenant ? ri.tenant : "operator",
		       ri.name, pol_action_name(v[i].action));
		CHECK(!strcmp(ri.name, cases[i].rule));
		CHECK((ri.tenant == NULL) == (cases[i].tier == NULL));
		CHECK(v[i].action == cases[i].act);
	}
	CHECK(v[5].flags & POL_RULE_F_STATEFUL);
	CHECK(!(v[6].flags & POL_RULE_F_STATEFUL));
	CHECK(v[7].flags & POL_RULE_F_DEFAULT);
out:
	pol_gen_put(g);
	pol_policy_free(pol);
	pol_cfg_errs_clear(&errs);
	check_report("the worked example of docs/policy.md evaluates as documented", ok);
}

static int
fake_offload(void *arg, const struct pol_gen *g, uint32_t rule, const struct pol_rule *r,
             const struct pol_tenant *t, char *why, size_t len)
{
	unsigned *calls = arg;

	(*calls)++;
	if (r->action == POL_ACT_DENY)
		return 0;
	snprintf(why, len, "only deny rules can be offloaded");
	return -ENOTSUP;
}

static const char offload_yaml[] =
        "tenants:\n"
        "  - name: a\n"
        "    addresses: [198.18.1.0/24]\n"
        "    rules:\n"
        "      - {name: d, priority: 1, direction: ingress, action: deny,"
        " protocol: udp, dst: {ports: [9]}, offload: required}\n"
        "      - {name: x, priority: 2, direction: ingress, action: allow,"
        " offload: never}\n";

static void
test_build_errors(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *pol =
	        pol_policy_load_buf("off.yaml", offload_yaml, sizeof(offload_yaml) - 1, &errs);
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_rule_info ri;
	struct pol_gen *g;
	unsigned calls = 0;
	char *txt = NULL;
	size_t len = 0;
	FILE *f;
	bool ok = pol != NULL;

	if (!pol) {
		print_errs(&errs);
		check_report("build errors", false);
		return;
	}
	/* no rte_flow: offload: required fails the build at the offload key's position */
	g = pol_gen_build(pol, NULL, &o, &errs);
	CHECK(g == NULL && errno == EINVAL);
	f = open_memstream(&txt, &len);
	pol_cfg_errs_print(&errs, f);
	fclose(f);
	printf("#   %s", txt);
	CHECK(strstr(txt, "off.yaml:5:109: tenants[0].rules[0].offload: offload: required") !=
	      NULL);
	free(txt);
	pol_cfg_errs_clear(&errs);

	/* a hook that takes deny rules: the rule runs in the NIC too, reported so */
	o.offload = fake_offload;
	o.offload_arg = &calls;
	g = pol_gen_build(pol, NULL, &o, &errs);
	CHECK(g != NULL && calls == 1);
	CHECK(g && pol_gen_rule_info(g, pol_gen_rule_id(g, "a", "d"), &ri) == 0 &&
	      (ri.flags & POL_RULE_F_HW));
	CHECK(g && pol_gen_rule_info(g, pol_gen_rule_id(g, "a", "x"), &ri) == 0 &&
	      !(ri.flags & POL_RULE_F_HW));
	pol_gen_put(g);

	/* a rule expanding past the limit is refused with its path */
	o.offload = NULL;
	pol->tenants[0].rs.rules[0].offload = POL_OFFLOAD_AUTO;
	o.max_rule_expansion = 2;
	{
		struct pol_port_range pr[3] = {{9, 9, {0, 0}}, {20, 21, {0, 0}}, {30, 30, {0, 0}}};
		struct pol_match *m = &pol->tenants[0].rs.rules[0].dst;
		struct pol_port_range *keep = m->ports;
		unsigned n_keep = m->n_ports;

		m->ports = pr;
		m->n_ports = 3;
		g = pol_gen_build(pol, NULL, &o, &errs);
		m->ports = keep;
		m->n_ports = n_keep;
	}
	CHECK(g == NULL && errs.n == 1 && strstr(errs.v[0].msg, "expands to 3 rte_acl rules"));
	CHECK(errs.n == 1 && !strcmp(errs.v[0].path, "tenants[0].rules[0]"));
	pol_cfg_errs_clear(&errs);
	pol_policy_free(pol);
	check_report(
	        "build errors: offload required without rte_flow, the hook, too wide an expansion",
	        ok);
}

/* tenant ids survive reloads by name; new tenants get ids free in both generations */
static void
test_tenant_ids(void)
{
	struct pol_policy *p1 = pol_testgen_policy_new(3), *p2 = pol_testgen_policy_new(3);
	struct pol_cfg_errs errs = {0};
	struct pol_gen *g1, *g2;
	bool ok = true;

	/* p2: t0 removed, t2 kept, a new tenant, t1 kept (order changed) */
	free(p2->tenants[0].name);
	p2->tenants[0].name = strdup("t2");
	free(p2->tenants[1].name);
	p2->tenants[1].name = strdup("new");
	p2->tenants[1].addrs[0].addr = ip(198, 19, 9, 9);
	p2->tenants[2].name[1] = '1';
	g1 = pol_gen_build(p1, NULL, NULL, &errs);
	g2 = g1 ? pol_gen_build(p2, g1, NULL, &errs) : NULL;
	CHECK(g1 && g2);
	if (g1 && g2) {
		CHECK(pol_gen_number(g1) == 1 && pol_gen_number(g2) == 2);
		CHECK(pol_gen_tenant_at(g2, 0)->id == 2); /* t2 */
		CHECK(pol_gen_tenant_at(g2, 2)->id == 1); /* t1 */
		CHECK(pol_gen_tenant_at(g2, 1)->id == 3); /* new: 0 was t0's in g1 */
		CHECK(pol_gen_tenant_by_id(g2, 3) == pol_gen_tenant_at(g2, 1));
		CHECK(pol_gen_tenant_by_id(g2, 0) == NULL);
		/* addresses by position in p2: t2 198.19.0.0, new 198.19.9.9, t1 198.19.0.2 */
		CHECK(pol_gen_tenant_by_addr(g2, ip(198, 19, 9, 9)) == 3);
		CHECK(pol_gen_tenant_by_addr(g2, ip(198, 19, 0, 2)) == 1);
		CHECK(pol_gen_tenant_by_addr(g2, ip(198, 19, 0, 0)) == 2);
		CHECK(pol_gen_tenant_by_addr(g2, ip(198, 19, 0, 1)) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g2, ip(198, 19, 0, 3)) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g2, 0) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g2, UINT32_MAX) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_at(g2, 0)->sessions_per_worker == POL_QUOTA_SESSIONS_DEFAULT);
	}
	pol_gen_put(g2);
	pol_gen_put(g1);
	pol_policy_free(p1);
	pol_policy_free(p2);
	pol_cfg_errs_clear(&errs);
	check_report("tenant ids are stable across generations by name", ok);
}

/*
 * Tenant by address: /24-or-longer prefixes are hashed per address, shorter ones searched as
 * ranges; both kinds at their edges, and everything as ranges past POL_GEN_AHASH_MAX addresses.
 */
static void
test_tenant_addrs(void)
{
	struct pol_cfg_errs errs = {0};
	bool ok = true;
	unsigned round;

	for (round = 0; round < 2; round++) {
		struct pol_policy *p = pol_testgen_policy_new(4);
		struct pol_gen *g;
		uint16_t id[4];
		unsigned i;

		p->tenants[0].addrs[0] = (struct pol_prefix){.addr = ip(198, 19, 1, 0), .len = 24};
		p->tenants[1].addrs[0] = (struct pol_prefix){.addr = ip(10, 1, 0, 0), .len = 16};
		p->tenants[2].addrs[0] = (struct pol_prefix){.addr = ip(198, 19, 2, 7), .len = 32};
		/* round 1: a /15, a range searched next to the hashed addresses */
		p->tenants[3].addrs[0] =
		        round ? (struct pol_prefix){.addr = ip(172, 16, 0, 0), .len = 15}
		              : (struct pol_prefix){.addr = ip(198, 19, 3, 0), .len = 30};
		g = pol_gen_build(p, NULL, NULL, &errs);
		CHECK(g != NULL);
		if (!g) {
			pol_policy_free(p);
			break;
		}
		for (i = 0; i < 4; i++)
			id[i] = pol_gen_tenant_at(g, i)->id;
		CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 1, 0)) == id[0]);
		CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 1, 255)) == id[0]);
		CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 0, 255)) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 2, 0)) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g, ip(10, 1, 0, 0)) == id[1]);
		CHECK(pol_gen_tenant_by_addr(g, ip(10, 1, 255, 255)) == id[1]);
		CHECK(pol_gen_tenant_by_addr(g, ip(10, 0, 255, 255)) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g, ip(10, 2, 0, 0)) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 2, 7)) == id[2]);
		CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 2, 6)) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 2, 8)) == POL_TENANT_NONE);
		if (round) {
			CHECK(pol_gen_tenant_by_addr(g, ip(172, 17, 255, 255)) == id[3]);
			CHECK(pol_gen_tenant_by_addr(g, ip(172, 18, 0, 0)) == POL_TENANT_NONE);
		} else {
			CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 3, 3)) == id[3]);
			CHECK(pol_gen_tenant_by_addr(g, ip(198, 19, 3, 4)) == POL_TENANT_NONE);
		}
		CHECK(pol_gen_tenant_by_addr(g, 0) == POL_TENANT_NONE);
		CHECK(pol_gen_tenant_by_addr(g, UINT32_MAX) == POL_TENANT_NONE);
		pol_gen_put(g);
		pol_policy_free(p);
	}
	pol_cfg_errs_clear(&errs);
	check_report("tenant by address: hashed /24+ addresses and searched ranges, at their edges",
	             ok);
}

/* an empty policy: every packet meets the unknown-tenant deny; no context is built */
static void
test_empty(void)
{
	struct pol_policy *p = pol_testgen_policy_new(0);
	struct pol_cfg_errs errs = {0};
	struct pol_acl_verdict v;
	struct pol_acl_key k;
	struct pol_rule_info ri;
	struct pol_gen *g = pol_gen_build(p, NULL, NULL, &errs);
	bool ok = g != NULL;

	if (g) {
		pol_acl_key_set(&k, 5, 17, 1, 2, 3, 4);
		CHECK(pol_acl_classify(g, POL_DIR_EGRESS, 0, &k, NULL, 1, &v) == 1);
		CHECK(v.action == POL_ACT_DENY && pol_gen_rule_info(g, v.rule, &ri) == 0 &&
		      !strcmp(ri.name, "unknown-tenant") && ri.dir == POL_DIR_EGRESS);
		CHECK(pol_acl_classify(g, POL_DIR_EGRESS, 0, &k, NULL, 0, &v) == 0);
	}
	pol_gen_put(g);
	pol_policy_free(p);
	check_report("an empty policy denies everything (unknown tenant)", ok);
}

/* ---- publish under a running reader, counters carried over ---- */

struct reader {
	struct pol_gen *_Atomic *slot;
	struct rte_rcu_qsbr *v;
	atomic_bool stop;
	uint64_t pkts, gens_seen, last_gen;
	bool bad;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct pol_acl_key k[32];
	struct pol_acl_verdict out[32];
	uint32_t lens[32];
	unsigned i;

	rte_rcu_qsbr_thread_register(r->v, 0);
	rte_rcu_qsbr_thread_online(r->v, 0);
	for (i = 0; i < 32; i++) {
		/* UDP 10.9.9.9:1000 -> 198.19.0.0:53: rule "dns" of tenant t0 in every generation
		 */
		pol_acl_key_set(&k[i], 0, 17, ip(10, 9, 9, 9), ip(198, 19, 0, 0), 1000, 53);
		lens[i] = 100;
	}
	while (!atomic_load(&r->stop)) {
		const struct pol_gen *g = pol_gen_current(r->slot);

		if (g) {
			struct pol_rule_info ri;

			pol_acl_classify(g, POL_DIR_INGRESS, 0, k, lens, 32, out);
			if (g->number != r->last_gen) {
				r->gens_seen++;
				r->last_gen = g->number;
			}
			pol_gen_rule_info(g, out[0].rule, &ri);
			if (strcmp(ri.name, "dns") || out[31].action != POL_ACT_ALLOW)
				r->bad = true;
			r->pkts += 32;
		}
		rte_rcu_qsbr_quiescent(r->v, 0);
	}
	rte_rcu_qsbr_thread_offline(r->v, 0);
	rte_rcu_qsbr_thread_unregister(r->v, 0);
	return NULL;
}

static void
test_publish(void)
{
	size_t sz = rte_rcu_qsbr_get_memsize(1);
	struct rte_rcu_qsbr *v = rte_zmalloc("qsbr", sz, RTE_CACHE_LINE_SIZE);
	struct pol_gen *_Atomic slot = NULL;
	struct pol_cfg_errs errs = {0};
	struct reader r = {.slot = &slot, .v = v};
	struct pol_gen *g, *prev = NULL;
	struct pol_rule_info ri;
	pthread_t th;
	bool ok = v != NULL;
	unsigned i;

	rte_rcu_qsbr_init(v, 1);
	atomic_init(&r.stop, false);
	for (i = 0; i < 30; i++) {
		struct pol_policy *p = pol_testgen_policy_new(2);
		struct pol_rule *rule;

		/* each generation: an extra rule, so rule ids move; "dns" keeps its identity */
		p->tenants[0].rs.n_rules = 1 + i % 3;
		p->tenants[0].rs.rules = calloc(p->tenants[0].rs.n_rules, sizeof(struct pol_rule));
		rule = &p->tenants[0].rs.rules[p->tenants[0].rs.n_rules - 1];
		rule->name = strdup("dns");
		rule->priority = 100;
		rule->dir = POL_DIR_INGRESS;
		rule->action = POL_ACT_ALLOW;
		rule->proto = 17;
		if (p->tenants[0].rs.n_rules > 1) {
			unsigned j;

			for (j = 0; j + 1 < p->tenants[0].rs.n_rules; j++) {
				char nm[16];

				snprintf(nm, sizeof(nm), "x%u", j);
				p->tenants[0].rs.rules[j].name = strdup(nm);
				p->tenants[0].rs.rules[j].priority = 10 + j;
				p->tenants[0].rs.rules[j].dir = POL_DIR_EGRESS;
				p->tenants[0].rs.rules[j].proto = 6;
			}
		}
		g = pol_gen_build(p, prev, &(struct pol_gen_opts){.n_workers = 1, .socket_id = -1},
		                  &errs);
		pol_policy_free(p);
		CHECK(g != NULL);
		if (!g)
			break;
		pol_gen_publish(&slot, g, v);
		prev = g; /* valid while published: only this thread publishes */
		if (i == 0)
			pthread_create(&th, NULL, reader_main, &r);
		usleep(2000);
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	g = atomic_load(&slot);
	CHECK(g && pol_gen_rule_info(g, pol_gen_rule_id(g, "t0", "dns"), &ri) == 0);
	printf("#   30 generations published under a reader: it classified %llu packets over %llu "
	       "generations; counted under t0/dns after the last: %llu packets, %llu bytes\n",
	       (unsigned long long)r.pkts, (unsigned long long)r.gens_seen,
	       (unsigned long long)ri.pkts, (unsigned long long)ri.bytes);
	CHECK(!r.bad);
	CHECK(r.gens_seen >= 2);
	CHECK(ri.pkts == r.pkts && ri.bytes == r.pkts * 100);
	pol_gen_publish(&slot, NULL, v);
	CHECK(atomic_load(&slot) == NULL);
	rte_free(v);
	pol_cfg_errs_clear(&errs);
	check_report(
	        "publish: readers see whole generations, old ones retire after the grace period, "
	        "counters carry over",
	        ok);
}

/*
 * acl_test                         every test
 * acl_test RULES [TENANTS [OP [complex|moderate|simple]]]
 *                                  only the generated-policy test of that size, timed (tuning)
 */
int
main(int argc, char **argv)
{
	char *eal[] = {argv[0],
	               "--no-huge",
	               "--no-shconf",
	               "--no-pci",
	               "-m",
	               "256",
	               "--no-telemetry",
	               "-l",
	               "0",
	               "--log-level=lib.eal:warning",
	               "--log-level=bypassd.policy.*:warning",
	               NULL};

	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	if (argc > 1) {
		unsigned n = (unsigned)atoi(argv[1]);
		unsigned t = argc > 2 ? (unsigned)atoi(argv[2]) : 50;
		unsigned op = argc > 3 ? (unsigned)atoi(argv[3]) : n / 20;
		const char *sh = argc > 4 ? argv[4] : "moderate";

		test_random(n, t, op, false, 100000, true,
		            !strcmp(sh, "complex")  ? &pol_testgen_complex
		            : !strcmp(sh, "simple") ? &pol_testgen_simple
		                                    : &pol_testgen_moderate);
	} else {
		test_normalise();
		test_worked_example();
		test_empty();
		test_build_errors();
		test_tenant_ids();
		test_tenant_addrs();
		test_random(1, 1, 0, false, 20000, false, &pol_testgen_complex);
		test_random(1, 1, 1, false, 20000, false, &pol_testgen_complex);
		test_random(100, 4, 10, false, 50000, true, &pol_testgen_complex);
		test_random(100, 4, 10, true, 50000, false, &pol_testgen_complex);
		test_random(1000, 50, 100, false, 100000, true, &pol_testgen_complex);
		test_random(1000, 50, 50, false, 50000, true, &pol_testgen_simple);
		test_random(10000, 50, 500, false, 100000, true, &pol_testgen_moderate);
		test_random(10000, 100, 500, false, 50000, true, &pol_testgen_simple);
		test_publish();
	}
	rte_eal_cleanup();
	return check_done();
}
