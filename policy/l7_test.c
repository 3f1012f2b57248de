/* l7_test.c - unit tests of the L7 stage (Hyperscan signatures) against the ACL and a memmem
 * reference. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>

#include "acl.h"
#include "l7.h"
#include "l7_priv.h"
#include "testgen.h"

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

#define rnd pol_testgen_rnd

static uint32_t
ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return a << 24 | b << 16 | c << 8 | d;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* true when some error of errs has exactly this path and a message containing needle */
static bool
has_err(const struct pol_cfg_errs *errs, unsigned line, const char *path, const char *needle)
{
	unsigned i;

	for (i = 0; i < errs->n; i++)
		if ((!line || errs->v[i].line == line) && !strcmp(errs->v[i].path, path) &&
		    strstr(errs->v[i].msg, needle))
			return true;
	return false;
}

/* ---- 1. errors: validation names the pattern; so does the compile of a generation ---- */

static const char bad_yaml[] = "tenants:\n"
                               "  - name: a\n"
                               "    addresses: [198.18.0.10]\n"
                               "    signatures:\n"
                               "      - {name: ok, pattern: 'fine'}\n"
                               "      - {name: paren, pattern: 'evil('}\n"
                               "      - {name: empty, pattern: 'a*'}\n"
                               "      - {name: empty-ok, pattern: 'a*', flags: [allowempty]}\n"
                               "      - {name: backref, pattern: '(a)\\1'}\n"
                               "      - {name: som, pattern: 'x', flags: [som_leftmost]}\n"
                               "    rules:\n"
                               "      - {name: r, priority: 1, direction: ingress, action: deny,\n"
                               "         signatures: [ok]}\n";

static void
test_errors(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = pol_policy_load_buf("p.yaml", bad_yaml, sizeof(bad_yaml) - 1, &errs);
	struct pol_gen *g;
	bool ok = p == NULL;

	/* every bad pattern, referenced or not, at its own line and key path */
	CHECK(errs.n == 3);
	CHECK(has_err(&errs, 6, "tenants[0].signatures[1].pattern",
	              "Hyperscan cannot compile 'evil(': Missing close parenthesis"));
	CHECK(has_err(&errs, 7, "tenants[0].signatures[2].pattern", "allowempty"));
	CHECK(has_err(&errs, 9, "tenants[0].signatures[4].pattern", "Back-references"));
	if (!ok)
		pol_cfg_errs_print(&errs, stderr);
	pol_cfg_errs_clear(&errs);
	pol_policy_free(p);

	/* a model that skipped validation (a front end's bug): the generation's compile still
	 * refuses it, names the signature, and builds nothing */
	p = pol_testgen_policy_new(1);
	p->tenants[0].rs.n_sigs = 1;
	p->tenants[0].rs.sigs = calloc(1, sizeof(struct pol_signature));
	p->tenants[0].rs.sigs[0].name = strdup("bad");
	p->tenants[0].rs.sigs[0].pattern = strdup("x{2,1}");
	p->tenants[0].rs.sigs[0].pattern_loc = (struct pol_loc){7, 18};
	p->tenants[0].rs.n_rules = 1;
	p->tenants[0].rs.rules = calloc(1, sizeof(struct pol_rule));
	p->tenants[0].rs.rules[0].name = strdup("r");
	p->tenants[0].rs.rules[0].priority = 1;
	p->tenants[0].rs.rules[0].proto = POL_PROTO_ANY;
	p->tenants[0].rs.rules[0].n_sigs = 1;
	p->tenants[0].rs.rules[0].sigs = calloc(1, sizeof(struct pol_sig_ref));
	p->tenants[0].rs.rules[0].sigs[0].name = strdup("bad");
	errno = 0;
	g = pol_gen_build(p, NULL, NULL, &errs);
	CHECK(g == NULL && errno == EINVAL);
	CHECK(errs.n == 1 && errs.v[0].line == 7 && errs.v[0].col == 18);
	CHECK(has_err(&errs, 7, "tenants[0].signatures[0].pattern",
	              "Hyperscan cannot compile signature 'bad' ('x{2,1}')"));
	if (errs.n)
		printf("#   %s:%u:%u: %s: %s\n", errs.v[0].file, errs.v[0].line, errs.v[0].col,
		       errs.v[0].path, errs.v[0].msg);
	pol_gen_put(g);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	check_report("bad patterns are reported with FILE:LINE:COL and key path; nothing is built",
	             ok);
}

/* ---- 2. semantics on a hand-written policy ---- */

static const char sem_yaml[] =
        "operator:\n"
        "  signatures:\n"
        "    - {name: jndi, pattern: '\\$\\{jndi:', flags: [caseless]}\n"
        "    - {name: probe, pattern: 'probe', action: count}\n"
        "  rules:\n"
        "    - {name: no-jndi, priority: 5, direction: ingress, action: deny, protocol: udp,\n"
        "       signatures: [jndi]}\n"
        "    - {name: watch, priority: 6, direction: ingress, action: deny, protocol: udp,\n"
        "       signatures: [probe]}\n"
        "tenants:\n"
        "  - name: a\n"
        "    addresses: [198.18.0.10]\n"
        "    signatures:\n"
        "      - {name: evil, pattern: 'evil'}\n"
        "      - {name: hello, pattern: '^hello', flags: [caseless]}\n"
        "      - {name: sqli, pattern: 'union\\s+select', flags: [caseless], action: count}\n"
        "      - {name: line2, pattern: '^line2$', flags: [multiline]}\n"
        "      - {name: dot, pattern: 'a.b', flags: [dotall]}\n"
        "      - {name: nodot, pattern: 'c.d'}\n"
        "      - {name: unused, pattern: 'zzz'}\n"
        "      - {name: utf, pattern: '^.rger$', flags: [utf8]}\n"
        "      - {name: nonutf, pattern: '^.wut$'}\n"
        "      - {name: empty, pattern: '^$', flags: [allowempty]}\n"
        "    rules:\n"
        "      - {name: allow-udp, priority: 100, direction: ingress, action: allow, protocol: "
        "udp,\n"
        "         dst: {ports: [5000]}}\n"
        "      - {name: no-evil, priority: 200, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [5000, 5001]}, signatures: [evil, line2, dot, nodot]}\n"
        "      - {name: hello-only, priority: 50, direction: ingress, action: allow,\n"
        "         protocol: udp, dst: {ports: [6000]}, signatures: [hello, sqli]}\n"
        "      - {name: out-evil, priority: 10, direction: egress, action: deny, protocol: udp,\n"
        "         signatures: [evil]}\n"
        "      - {name: odd, priority: 300, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [5002]}, signatures: [utf, nonutf, empty]}\n"
        "  - name: b\n"
        "    addresses: [198.18.0.20]\n"
        "    default: {ingress: allow}\n";

struct sem_case {
	const char *what;
	enum pol_dir dir;
	uint8_t proto;
	uint32_t src, dst;
	uint16_t dport;
	const char *pay;
	const char *tier, *rule; /* expected deciding rule: tier NULL = operator */
	enum pol_action act;
	bool by_sig; /* decided by a signature rule */
};

static const struct pol_sig_info *
find_sig(const struct pol_gen *g, const char *tenant, const char *name, struct pol_sig_info *si)
{
	unsigned i;

	for (i = 0; i < pol_l7_n_sigs(g); i++) {
		if (pol_l7_sig_info(g, i, si))
			continue;
		if ((si->tenant == NULL) == (tenant == NULL) &&
		    (!tenant || !strcmp(si->tenant, tenant)) && !strcmp(si->name, name))
			return si;
	}
	return NULL;
}

static uint64_t
hits(const struct pol_gen *g, const char *tenant, const char *name)
{
	struct pol_sig_info si;

	return find_sig(g, tenant, name, &si) ? si.hits : ~0ull;
}

/* classify + L7 for one packet; returns the verdict */
static struct pol_acl_verdict
judge(const struct pol_gen *g, unsigned worker, enum pol_dir dir, uint8_t proto, uint32_t src,
      uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *pay, uint32_t len)
{
	struct pol_acl_verdict v;
	struct pol_acl_key k;
	uint32_t a = dir == POL_DIR_INGRESS ? dst : src;

	pol_acl_key_set(&k, pol_gen_tenant_by_addr(g, a), proto, src, dst, sport, dport);
	pol_acl_classify(g, dir, worker, &k, NULL, 1, &v);
	pol_l7_resolve(g, dir, worker, &k, &pay, &len, 1, &v);
	return v;
}

static void
test_semantics(void)
{
	const uint32_t A = ip(198, 18, 0, 10), B = ip(198, 18, 0, 20), P = ip(203, 0, 113, 9);
	const struct sem_case cases[] = {
	        {"plain allow, no signature hit", POL_DIR_INGRESS, 17, P, A, 5000, "hello world",
	         "a", "allow-udp", POL_ACT_ALLOW, false},
	        {"deny signature: wins over the allow of its tier despite a higher number",
	         POL_DIR_INGRESS, 17, P, A, 5000, "an evil thing", "a", "no-evil", POL_ACT_DENY,
	         true},
	        {"case-sensitive by default", POL_DIR_INGRESS, 17, P, A, 5000, "an EVIL thing", "a",
	         "allow-udp", POL_ACT_ALLOW, false},
	        {"candidate without a hit falls to the default", POL_DIR_INGRESS, 17, P, A, 5001,
	         "harmless", "a", "default", POL_ACT_DENY, false},
	        {"multiline: ^ and $ at line ends", POL_DIR_INGRESS, 17, P, A, 5000,
	         "line1\nline2\nline3", "a", "no-evil", POL_ACT_DENY, true},
	        {"without multiline the same line does not match", POL_DIR_INGRESS, 17, P, A, 5000,
	         "line1 line2 line3", "a", "allow-udp", POL_ACT_ALLOW, false},
	        {"dotall: . matches a newline", POL_DIR_INGRESS, 17, P, A, 5000, "xa\nbx", "a",
	         "no-evil", POL_ACT_DENY, true},
	        {"without dotall . does not match a newline", POL_DIR_INGRESS, 17, P, A, 5000,
	         "xc\ndx", "a", "allow-udp", POL_ACT_ALLOW, false},
	        {"allow-list signature rule admits what matches (caseless)", POL_DIR_INGRESS, 17, P,
	         A, 6000, "HELLO there", "a", "hello-only", POL_ACT_ALLOW, true},
	        {"allow-list signature rule: no hit, default deny", POL_DIR_INGRESS, 17, P, A, 6000,
	         "bye", "a", "default", POL_ACT_DENY, false},
	        {"count signature only counts (no match of its rule)", POL_DIR_INGRESS, 17, P, A,
	         6000, "x UNION   select y", "a", "default", POL_ACT_DENY, false},
	        {"count and deny signatures of one rule: the deny one decides", POL_DIR_INGRESS, 17,
	         P, A, 6000, "hello union select", "a", "hello-only", POL_ACT_ALLOW, true},
	        {"operator signature deny decides before the tenant (caseless)", POL_DIR_INGRESS,
	         17, P, A, 5000, "GET ${JNDI:ldap://x}", NULL, "no-jndi", POL_ACT_DENY, true},
	        {"operator count signature: the tenant tier still decides", POL_DIR_INGRESS, 17, P,
	         A, 5000, "probe", "a", "allow-udp", POL_ACT_ALLOW, false},
	        {"tenant without signatures: only the operator's apply", POL_DIR_INGRESS, 17, P, B,
	         5000, "evil", "b", "default", POL_ACT_ALLOW, false},
	        {"tenant without signatures, operator deny signature", POL_DIR_INGRESS, 17, P, B,
	         5000, "${jndi:", NULL, "no-jndi", POL_ACT_DENY, true},
	        {"not udp: no signature rule is a candidate", POL_DIR_INGRESS, 6, P, A, 5000,
	         "evil", "a", "default", POL_ACT_DENY, false},
	        {"empty payload matches no signature", POL_DIR_INGRESS, 17, P, A, 5000, "", "a",
	         "allow-udp", POL_ACT_ALLOW, false},
	        {"utf8: . is one code point (\xc3\xa4 is two bytes)", POL_DIR_INGRESS, 17, P, A,
	         5002, "\xc3\xa4rger", "a", "odd", POL_ACT_DENY, true},
	        {"without utf8: . is one byte", POL_DIR_INGRESS, 17, P, A, 5002, "\xc3\xa4wut", "a",
	         "default", POL_ACT_DENY, false},
	        {"allowempty: a pattern for the empty payload", POL_DIR_INGRESS, 17, P, A, 5002, "",
	         "a", "odd", POL_ACT_DENY, true},
	        {"... which does not match a non-empty one", POL_DIR_INGRESS, 17, P, A, 5002, "x",
	         "a", "default", POL_ACT_DENY, false},
	        {"egress deny signature", POL_DIR_EGRESS, 17, A, P, 9000, "evil inside", "a",
	         "out-evil", POL_ACT_DENY, true},
	        {"egress without a hit: the default", POL_DIR_EGRESS, 17, A, P, 9000, "fine", "a",
	         "default", POL_ACT_ALLOW, false},
	};
	const size_t nc = sizeof(cases) / sizeof(cases[0]);
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p =
	        pol_policy_load_buf("sem.yaml", sem_yaml, sizeof(sem_yaml) - 1, &errs);
	struct pol_gen *g = NULL;
	struct pol_sig_info si;
	bool ok = p != NULL;
	size_t i;

	if (p)
		g = pol_gen_build(p, NULL, NULL, &errs);
	CHECK(g != NULL);
	if (!g) {
		pol_cfg_errs_print(&errs, stderr);
		goto out;
	}
	CHECK(pol_l7_on(g, POL_DIR_INGRESS) && pol_l7_on(g, POL_DIR_EGRESS));
	CHECK(pol_l7_active(g, POL_DIR_INGRESS, pol_gen_tenant_by_addr(g, B))); /* operator's */
	CHECK(pol_l7_active(g, POL_DIR_EGRESS, pol_gen_tenant_by_addr(g, A)));
	CHECK(!pol_l7_active(g, POL_DIR_EGRESS, pol_gen_tenant_by_addr(g, B)));
	CHECK(pol_l7_n_sigs(g) == 2 + 10);
	CHECK(find_sig(g, "a", "unused", &si) && !si.compiled);
	CHECK(find_sig(g, "a", "evil", &si) && si.compiled && si.action == POL_SIG_DENY);
	for (i = 0; i < nc; i++) {
		const struct sem_case *c = &cases[i];
		struct pol_acl_verdict v =
		        judge(g, 0, c->dir, c->proto, c->src, c->dst, 40000, c->dport,
		              (const uint8_t *)c->pay, (uint32_t)strlen(c->pay));
		struct pol_rule_info ri;
		bool good;

		pol_gen_rule_info(g, v.rule, &ri);
		good = !strcmp(ri.name, c->rule) && (ri.tenant == NULL) == (c->tier == NULL) &&
		       (!c->tier || !strcmp(ri.tenant, c->tier)) && v.action == c->act &&
		       !!(v.flags & POL_RULE_F_SIGS) == c->by_sig;
		if (!good) {
			fprintf(stderr, "  case %zu (%s): got %s/%s %s%s\n", i, c->what,
			        ri.tenant ? ri.tenant : "operator", ri.name,
			        pol_action_name(v.action),
			        (v.flags & POL_RULE_F_SIGS) ? " (signature)" : "");
			ok = false;
		}
	}
	/* counters: a count signature counts when one of its rules' 5-tuples applies */
	CHECK(hits(g, "a", "sqli") == 2);
	CHECK(hits(g, "a", "hello") == 2);
	CHECK(hits(g, "a", "evil") == 2); /* ingress 5000 + egress; not the tcp one */
	CHECK(hits(g, NULL, "jndi") == 2);
	CHECK(hits(g, NULL, "probe") == 1);
	CHECK(hits(g, "a", "unused") == 0);
	CHECK(hits(g, "a", "utf") == 1 && hits(g, "a", "nonutf") == 0 &&
	      hits(g, "a", "empty") == 1);
	{
		struct pol_l7_stats st;

		pol_l7_stats(g, &st);
		CHECK(st.errors == 0 && st.scans > 0);
	}
out:
	pol_gen_put(g);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	check_report(
	        "signature semantics: deny wins in its tier, allow-lists, count, flags (caseless, multiline, dotall, utf8, allowempty), tiers",
	        ok);
}

/* ---- 3. a reload carries signature counters over by (tier, name) ---- */

static void
test_carry(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p =
	        pol_policy_load_buf("sem.yaml", sem_yaml, sizeof(sem_yaml) - 1, &errs);
	struct pol_gen *_Atomic slot = NULL;
	struct pol_gen *g1, *g2;
	const uint32_t A = ip(198, 18, 0, 10);
	bool ok = p != NULL;
	unsigned i;

	if (!p)
		return check_report("counters carried over", false);
	g1 = pol_gen_build(p, NULL, NULL, &errs);
	CHECK(g1 != NULL);
	pol_gen_publish(&slot, g1, NULL);
	for (i = 0; i < 3; i++)
		judge(g1, 0, POL_DIR_INGRESS, 17, 1, A, 1, 5000, (const uint8_t *)"evil", 4);
	g2 = pol_gen_build(p, g1, NULL, &errs);
	CHECK(g2 != NULL);
	pol_gen_publish(&slot, g2, NULL);
	judge(g2, 0, POL_DIR_INGRESS, 17, 1, A, 1, 5000, (const uint8_t *)"evil", 4);
	CHECK(hits(g2, "a", "evil") == 4);
	CHECK(hits(g2, "a", "hello") == 0);
	pol_gen_publish(&slot, NULL, NULL);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	check_report("signature counters are carried over to the next generation", ok);
}

/* ---- 4. random policies and payloads against a naive reference ---- */

#define R_ALPHA  "abcABx"
#define R_NSIGS  6
#define R_MAXPAY 24

struct rpkt {
	int tenant;
	enum pol_dir dir;
	uint8_t proto;
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t pay[R_MAXPAY];
	uint32_t len;
};

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
ref_match(const struct pol_rule *r, const struct rpkt *p)
{
	if (r->dir != p->dir)
		return false;
	if (r->proto != POL_PROTO_ANY && r->proto != p->proto)
		return false;
	return ref_side(&r->src, p->src, p->sport, r->proto, p->proto) &&
	       ref_side(&r->dst, p->dst, p->dport, r->proto, p->proto);
}

/* the literal pattern s (caseless or not) occurs in the payload: a naive memmem */
static bool
ref_hit(const struct pol_signature *s, const struct rpkt *p)
{
	size_t n = strlen(s->pattern), i, j;

	for (i = 0; i + n <= p->len; i++) {
		for (j = 0; j < n; j++) {
			int a = p->pay[i + j], b = (unsigned char)s->pattern[j];

			if (s->flags & POL_SIGF_CASELESS ? tolower(a) != tolower(b) : a != b)
				break;
		}
		if (j == n)
			return true;
	}
	return false;
}

/*
 * One tier by the documented rules: a plain rule matches by its 5-tuple, a signature rule only
 * when a `deny` signature of it hits too; deny wins, then the lowest number. Counts signature
 * hits the way the stage does: the tier is scanned when it has a signature candidate and no plain
 * deny ranked before every candidate; a hit counts when one of its rules' 5-tuples applies.
 */
static const struct pol_rule *
ref_tier(const struct pol_ruleset *rs, const struct rpkt *p, uint64_t *sig_cnt)
{
	const struct pol_rule *deny = NULL, *allow = NULL, *pdeny = NULL, *cand = NULL;
	bool hit[R_NSIGS] = {false};
	unsigned i, j;

	for (i = 0; i < rs->n_rules; i++) {
		const struct pol_rule *r = &rs->rules[i];

		if (!ref_match(r, p))
			continue;
		if (r->n_sigs) {
			if (!cand || r->priority < cand->priority)
				cand = r;
		} else if (r->action == POL_ACT_DENY && (!pdeny || r->priority < pdeny->priority)) {
			pdeny = r;
		}
	}
	for (i = 0; i < rs->n_rules; i++) {
		const struct pol_rule *r = &rs->rules[i];
		bool m = true;

		if (!ref_match(r, p))
			continue;
		if (r->n_sigs) {
			m = false;
			for (j = 0; j < r->n_sigs; j++) {
				const struct pol_signature *s = &rs->sigs[r->sigs[j].idx];

				if (ref_hit(s, p)) {
					hit[r->sigs[j].idx] = true;
					if (s->action == POL_SIG_DENY)
						m = true;
				}
			}
		}
		if (!m)
			continue;
		if (r->action == POL_ACT_DENY) {
			if (!deny || r->priority < deny->priority)
				deny = r;
		} else if (!allow || r->priority < allow->priority) {
			allow = r;
		}
	}
	if (cand && !(pdeny && pdeny->priority < cand->priority))
		for (j = 0; j < rs->n_sigs; j++)
			sig_cnt[j] += hit[j];
	return deny ? deny : allow;
}

/* Rewrite every tier's signatures: R_NSIGS random literals; signature rules reference 1..3. */
static void
rand_sigs(struct pol_ruleset *rs)
{
	unsigned i, j, k;

	for (i = 0; i < rs->n_sigs; i++) {
		free(rs->sigs[i].name);
		free(rs->sigs[i].pattern);
	}
	free(rs->sigs);
	rs->n_sigs = R_NSIGS;
	rs->sigs = calloc(R_NSIGS, sizeof(*rs->sigs));
	for (i = 0; i < R_NSIGS; i++) {
		struct pol_signature *s = &rs->sigs[i];
		char pat[8], name[16];
		unsigned n = 2 + (unsigned)(rnd() % 2);

		for (j = 0; j < n; j++)
			pat[j] = R_ALPHA[rnd() % (sizeof(R_ALPHA) - 1)];
		pat[n] = 0;
		snprintf(name, sizeof(name), "s%u", i);
		s->name = strdup(name);
		s->pattern = strdup(pat);
		s->flags = rnd() % 3 == 0 ? POL_SIGF_CASELESS : 0;
		s->action = rnd() % 4 == 0 ? POL_SIG_COUNT : POL_SIG_DENY;
	}
	for (i = 0; i < rs->n_rules; i++) {
		struct pol_rule *r = &rs->rules[i];
		unsigned want;

		if (!r->n_sigs && rnd() % 3)
			continue; /* about 40% signature rules (the generator makes 10%) */
		for (j = 0; j < r->n_sigs; j++)
			free(r->sigs[j].name);
		free(r->sigs);
		want = 1 + (unsigned)(rnd() % 3);
		r->sigs = calloc(want, sizeof(*r->sigs));
		r->n_sigs = 0;
		for (j = 0; j < want; j++) {
			char name[16];
			unsigned pick = (unsigned)(rnd() % R_NSIGS);

			snprintf(name, sizeof(name), "s%u", pick);
			for (k = 0; k < r->n_sigs && strcmp(r->sigs[k].name, name); k++)
				;
			if (k < r->n_sigs)
				continue;
			r->sigs[r->n_sigs++].name = strdup(name);
		}
	}
}

/* A packet near a random rule (signature rules favoured), with a random payload. */
static void
rand_pkt(const struct pol_policy *pol, struct rpkt *p)
{
	static const uint8_t protos[] = {6, 17, 17, 1};
	const struct pol_ruleset *rs;
	const struct pol_rule *r = NULL;
	unsigned t = (unsigned)(rnd() % (pol->n_tenants + 1)), i, tries;

	rs = t == 0 ? &pol->op : &pol->tenants[t - 1].rs;
	for (tries = 0; tries < 4 && rs->n_rules; tries++) {
		r = &rs->rules[rnd() % rs->n_rules];
		if (r->n_sigs)
			break;
	}
	p->tenant = t == 0 ? (int)(rnd() % pol->n_tenants) : (int)t - 1;
	if (r) {
		p->dir = rnd() % 8 ? r->dir : (enum pol_dir) !r->dir;
		p->proto = r->proto != POL_PROTO_ANY && rnd() % 8 ? (uint8_t)r->proto
		                                                  : protos[rnd() % 4];
		p->src = pol_testgen_pick_addr(&r->src);
		p->dst = pol_testgen_pick_addr(&r->dst);
		p->sport = r->src.n_ports && rnd() % 4 ? r->src.ports[0].lo : (uint16_t)rnd();
		p->dport = r->dst.n_ports && rnd() % 4
		                   ? (uint16_t)(r->dst.ports[0].lo +
		                                rnd() % ((uint32_t)r->dst.ports[0].hi -
		                                         r->dst.ports[0].lo + 1))
		                   : (uint16_t)rnd();
	} else {
		p->dir = rnd() % 2 ? POL_DIR_INGRESS : POL_DIR_EGRESS;
		p->proto = protos[rnd() % 4];
		p->src = (uint32_t)rnd();
		p->dst = (uint32_t)rnd();
		p->sport = (uint16_t)rnd();
		p->dport = (uint16_t)rnd();
	}
	if (p->proto != 6 && p->proto != 17)
		p->sport = p->dport = 0;
	p->len = (uint32_t)(rnd() % (R_MAXPAY + 1));
	for (i = 0; i < p->len; i++)
		p->pay[i] = (uint8_t)R_ALPHA[rnd() % (sizeof(R_ALPHA) - 1)];
}

static void
test_random(unsigned n_rules, unsigned n_tenants, unsigned n_op, unsigned n_pkts)
{
	struct pol_policy *pol;
	struct pol_cfg_errs errs = {0};
	struct pol_gen *g;
	uint64_t *ref_cnt, *base;
	unsigned i, t, bad = 0, n_sig_total, scanned = 0, sig_decided = 0;
	char name[160];
	bool ok = true;

	pol = pol_testgen_policy(&pol_testgen_simple, n_rules, n_tenants, n_op, true);
	rand_sigs(&pol->op);
	for (t = 0; t < pol->n_tenants; t++)
		rand_sigs(&pol->tenants[t].rs);
	if (pol_policy_validate(pol, &errs)) {
		pol_cfg_errs_print(&errs, stderr);
		abort();
	}
	g = pol_gen_build(pol, NULL, NULL, &errs);
	if (!g) {
		pol_cfg_errs_print(&errs, stderr);
		check_report("random policy builds", false);
		goto out_pol;
	}
	n_sig_total = R_NSIGS * (pol->n_tenants + 1);
	ref_cnt = calloc(n_sig_total, sizeof(*ref_cnt));
	base = calloc(pol->n_tenants + 1, sizeof(*base));
	for (t = 0; t <= pol->n_tenants; t++)
		base[t] = t * R_NSIGS;
	CHECK(pol_l7_n_sigs(g) == n_sig_total);

	for (i = 0; i < n_pkts; i++) {
		struct rpkt p;
		const struct pol_rule *r;
		const struct pol_tenant *pt;
		struct pol_acl_verdict v;
		struct pol_rule_info ri;
		enum pol_action want_act;
		int want_tier = -1;
		uint16_t tid;
		struct pol_acl_key k;
		const uint8_t *pp;
		bool good;

		rand_pkt(pol, &p);
		pt = &pol->tenants[p.tenant];
		r = ref_tier(&pol->op, &p, &ref_cnt[base[0]]);
		if (!r) {
			r = ref_tier(&pt->rs, &p, &ref_cnt[base[p.tenant + 1]]);
			want_tier = p.tenant;
		}
		want_act = r ? r->action : pt->dflt[p.dir];

		tid = pol_gen_tenant_at(g, (unsigned)p.tenant)->id;
		pol_acl_key_set(&k, tid, p.proto, p.src, p.dst, p.sport, p.dport);
		pol_acl_classify(g, p.dir, 0, &k, NULL, 1, &v);
		pp = p.pay;
		scanned += pol_l7_resolve(g, p.dir, 0, &k, &pp, &p.len, 1, &v);
		pol_gen_rule_info(g, v.rule, &ri);
		if (r)
			good = !strcmp(ri.name, r->name) &&
			       (want_tier < 0 ? ri.tenant == NULL
			                      : ri.tenant && !strcmp(ri.tenant, pt->name));
		else
			good = (ri.flags & POL_RULE_F_DEFAULT) && ri.tenant &&
			       !strcmp(ri.tenant, pt->name) && ri.dir == p.dir;
		good = good && v.action == want_act &&
		       !!(v.flags & POL_RULE_F_SIGS) == (r && r->n_sigs != 0);
		sig_decided += r && r->n_sigs;
		if (!good && bad++ < 8)
			fprintf(stderr,
			        "  mismatch: tenant %d %s proto %u port %u payload '%.*s': got %s/%s "
			        "%s, reference %s/%s %s\n",
			        p.tenant, pol_dir_name(p.dir), p.proto, p.dport, (int)p.len, p.pay,
			        ri.tenant ? ri.tenant : "op", ri.name, pol_action_name(v.action),
			        want_tier < 0 ? "op" : pt->name, r ? r->name : "default",
			        pol_action_name(want_act));
	}
	CHECK(bad == 0);
	for (i = 0; i < n_sig_total; i++) {
		struct pol_sig_info si;

		if (pol_l7_sig_info(g, i, &si) || si.hits != ref_cnt[i]) {
			if (bad++ < 16)
				fprintf(stderr,
				        "  signature %u (%s/%s): %llu hits, reference %llu\n", i,
				        si.tenant ? si.tenant : "op", si.name,
				        (unsigned long long)si.hits,
				        (unsigned long long)ref_cnt[i]);
			ok = false;
		}
	}
	/* the test means something only if signatures decided a fair share */
	CHECK(sig_decided > n_pkts / 50);
	printf("#   %u packets: %u scans, %u decided by a signature rule, %u mismatches\n", n_pkts,
	       scanned, sig_decided, bad);
	free(ref_cnt);
	free(base);
	pol_gen_put(g);
	snprintf(name, sizeof(name),
	         "random policy (%u rules, %u tenants, %u operator) with %u literal signatures per "
	         "tier: %u verdicts and signature counters agree with a memmem reference",
	         n_rules, n_tenants, n_op, R_NSIGS, n_pkts);
	check_report(name, ok);
out_pol:
	pol_policy_free(pol);
	pol_cfg_errs_clear(&errs);
}

/* ---- 5. per-worker scratch: workers scan at once, each with its own ---- */

struct wk {
	const struct pol_gen *g;
	unsigned worker, iters, wrong;
};

static void *
worker_main(void *arg)
{
	struct wk *w = arg;
	const uint32_t A = ip(198, 18, 0, 10);
	static const char *const pays[] = {"an evil thing", "hello world", "line1\nline2", "zz"};
	static const bool deny[] = {true, false, true, false};
	unsigned i;

	for (i = 0; i < w->iters; i++) {
		unsigned k = (i + w->worker) % 4;
		struct pol_acl_verdict v =
		        judge(w->g, w->worker, POL_DIR_INGRESS, 17, 1, A, 1, 5000,
		              (const uint8_t *)pays[k], (uint32_t)strlen(pays[k]));

		if ((v.action == POL_ACT_DENY) != deny[k])
			w->wrong++;
	}
	return NULL;
}

static void
test_workers(void)
{
	enum { NW = 4, ITERS = 20000 };
	struct pol_gen_opts o = {.n_workers = NW, .socket_id = -1};
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p =
	        pol_policy_load_buf("sem.yaml", sem_yaml, sizeof(sem_yaml) - 1, &errs);
	struct pol_gen *g = p ? pol_gen_build(p, NULL, &o, &errs) : NULL;
	pthread_t th[NW];
	struct wk wk[NW];
	bool ok = g != NULL;
	unsigned w, a, b;
	uint64_t t0;

	if (!g) {
		pol_cfg_errs_print(&errs, stderr);
		goto out;
	}
	for (a = 0; a < NW; a++) {
		CHECK(g->l7->scratch[a] != NULL);
		for (b = 0; b < a; b++)
			CHECK(g->l7->scratch[a] != g->l7->scratch[b]);
	}
	/* a worker id out of range is refused, not scanned with someone else's scratch */
	{
		struct pol_acl_verdict v;
		struct pol_acl_key k;
		const uint8_t *pay = (const uint8_t *)"evil";
		uint32_t len = 4;

		pol_acl_key_set(&k, pol_gen_tenant_by_addr(g, ip(198, 18, 0, 10)), 17, 1,
		                ip(198, 18, 0, 10), 1, 5000);
		pol_acl_classify(g, POL_DIR_INGRESS, 0, &k, NULL, 1, &v);
		CHECK(pol_l7_resolve(g, POL_DIR_INGRESS, NW, &k, &pay, &len, 1, &v) == 0);
	}
	t0 = now_ns();
	for (w = 0; w < NW; w++) {
		wk[w] = (struct wk){g, w, ITERS, 0};
		pthread_create(&th[w], NULL, worker_main, &wk[w]);
	}
	for (w = 0; w < NW; w++) {
		pthread_join(th[w], NULL);
		CHECK(wk[w].wrong == 0);
	}
	/* evil: every worker's quarter; line2 is the multiline signature */
	CHECK(hits(g, "a", "evil") == (uint64_t)NW * ITERS / 4);
	CHECK(hits(g, "a", "line2") == (uint64_t)NW * ITERS / 4);
	printf("#   %u workers x %u packets in %.1f ms\n", NW, ITERS,
	       (double)(now_ns() - t0) / 1e6);
out:
	pol_gen_put(g);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	check_report("per-worker scratch: concurrent workers judge and count independently", ok);
}

/* ---- 6. a direction with only signature rules: no plain context, the signature one decides ----
 */

static const char only_yaml[] = "tenants:\n"
                                "  - name: a\n"
                                "    addresses: [198.18.0.10]\n"
                                "    default: {ingress: allow, egress: allow}\n"
                                "    signatures: [{name: s, pattern: 'secret'}]\n"
                                "    rules:\n"
                                "      - {name: r, priority: 1, direction: egress, action: deny,\n"
                                "         signatures: [s]}\n";

static void
test_only_sigs(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p =
	        pol_policy_load_buf("o.yaml", only_yaml, sizeof(only_yaml) - 1, &errs);
	struct pol_gen *g = p ? pol_gen_build(p, NULL, NULL, &errs) : NULL;
	const uint32_t A = ip(198, 18, 0, 10), P = ip(203, 0, 113, 9);
	struct pol_acl_verdict v;
	bool ok = g != NULL;

	if (!g) {
		pol_cfg_errs_print(&errs, stderr);
		goto out;
	}
	CHECK(g->ctx[POL_DIR_EGRESS] == NULL && g->sctx[POL_DIR_EGRESS] != NULL);
	CHECK(!pol_l7_on(g, POL_DIR_INGRESS) && pol_l7_on(g, POL_DIR_EGRESS));
	v = judge(g, 0, POL_DIR_EGRESS, 6, A, P, 1, 2, (const uint8_t *)"top secret", 10);
	CHECK(v.action == POL_ACT_DENY && (v.flags & POL_RULE_F_SIGS));
	v = judge(g, 0, POL_DIR_EGRESS, 6, A, P, 1, 2, (const uint8_t *)"public", 6);
	CHECK(v.action == POL_ACT_ALLOW && (v.flags & POL_RULE_F_DEFAULT));
	v = judge(g, 0, POL_DIR_INGRESS, 17, P, A, 1, 2, (const uint8_t *)"secret", 6);
	CHECK(v.action == POL_ACT_ALLOW && (v.flags & POL_RULE_F_DEFAULT));
out:
	pol_gen_put(g);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	check_report("a direction with only signature rules (TCP segments scanned too)", ok);
}

/* ---- 7. a generation without signature rules has no L7 stage ---- */

static void
test_none(void)
{
	struct pol_policy *p = pol_testgen_policy(&pol_testgen_simple, 50, 3, 5, false);
	struct pol_cfg_errs errs = {0};
	struct pol_gen *g = pol_gen_build(p, NULL, NULL, &errs);
	bool ok = g != NULL;

	if (g) {
		CHECK(g->l7 == NULL);
		CHECK(!pol_l7_on(g, POL_DIR_INGRESS) && !pol_l7_on(g, POL_DIR_EGRESS));
		CHECK(!pol_l7_active(g, POL_DIR_INGRESS, 0));
		CHECK(pol_l7_n_sigs(g) == 0);
	}
	pol_gen_put(g);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	check_report("no signature rules: no L7 stage at all", ok);
}

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

	(void)argc;
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	test_errors();
	test_semantics();
	test_carry();
	test_none();
	test_only_sigs();
	test_workers();
	test_random(40, 3, 8, 100000);
	test_random(400, 20, 40, 200000);
	rte_eal_cleanup();
	return check_done();
}
