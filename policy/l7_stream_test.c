/* l7_stream_test.c - unit tests of the L7 stream stage (TCP flows) against block mode on the
 * stream's prefixes and a naive search. */
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

static const char sem_yaml[] =
        "operator:\n"
        "  signatures:\n"
        "    - {name: jndi, pattern: '\\$\\{jndi:', flags: [caseless]}\n"
        "    - {name: trusted, pattern: 'X-Trusted: yes'}\n"
        "  rules:\n"
        "    - {name: no-jndi, priority: 5, direction: ingress, action: deny, protocol: tcp,\n"
        "       signatures: [jndi]}\n"
        "    - {name: trust, priority: 6, direction: ingress, action: allow, protocol: tcp,\n"
        "       dst: {ports: [8080]}, signatures: [trusted]}\n"
        "tenants:\n"
        "  - name: a\n"
        "    addresses: [198.18.0.10]\n"
        "    default: {ingress: allow, egress: allow}\n"
        "    signatures:\n"
        "      - {name: evil, pattern: 'attack'}\n"
        "      - {name: sqli, pattern: 'union\\s+select', flags: [caseless]}\n"
        "      - {name: probe, pattern: 'probe', action: count}\n"
        "      - {name: tail, pattern: 'bye$'}\n"
        "      - {name: head, pattern: '^GET '}\n"
        "      - {name: udp-only, pattern: 'udpthing'}\n"
        "    rules:\n"
        "      - {name: no-evil, priority: 10, direction: ingress, action: deny, protocol: tcp,\n"
        "         signatures: [evil, sqli, probe, tail, head]}\n"
        "      - {name: no-udp, priority: 11, direction: ingress, action: deny, protocol: udp,\n"
        "         signatures: [udp-only]}\n"
        "      - {name: out, priority: 12, direction: egress, action: deny,\n"
        "         signatures: [evil]}\n"
        "  - name: b\n"
        "    addresses: [198.18.0.20]\n"
        "    default: {ingress: allow}\n";

static const char sem2_yaml[] = /* the reload: 'evil' only counts now, 'other' denies */
        "tenants:\n"
        "  - name: a\n"
        "    addresses: [198.18.0.10]\n"
        "    default: {ingress: allow, egress: allow}\n"
        "    signatures:\n"
        "      - {name: other, pattern: 'other'}\n"
        "      - {name: evil, pattern: 'attack', action: count}\n"
        "    rules:\n"
        "      - {name: no-other, priority: 10, direction: ingress, action: deny, protocol: tcp,\n"
        "         signatures: [other, evil]}\n";

static struct pol_gen *
build_yaml(const char *name, const char *yaml, size_t len, const struct pol_gen *prev,
           unsigned n_workers)
{
	struct pol_gen_opts o = {.n_workers = n_workers, .socket_id = -1};
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = pol_policy_load_buf(name, yaml, len, &errs);
	struct pol_gen *g = p ? pol_gen_build(p, prev, &o, &errs) : NULL;

	if (!g)
		pol_cfg_errs_print(&errs, stderr);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	return g;
}

static const uint32_t A = 0xc612000a /* 198.18.0.10 */, P = 0xcb007109 /* 203.0.113.9 */;

static void
key_in(const struct pol_gen *g, struct pol_acl_key *k, uint32_t dst, uint16_t dport)
{
	pol_acl_key_set(k, pol_gen_tenant_by_addr(g, dst), 6, P, dst, 40000, dport);
}

static uint64_t
hits(const struct pol_gen *g, const char *tenant, const char *name)
{
	struct pol_sig_info si;
	unsigned i;

	for (i = 0; i < pol_l7_n_sigs(g); i++)
		if (!pol_l7_sig_info(g, i, &si) && (si.tenant == NULL) == (tenant == NULL) &&
		    (!tenant || !strcmp(si.tenant, tenant)) && !strcmp(si.name, name))
			return si.hits;
	return ~0ull;
}

static uint64_t
sig_cnt(const struct pol_gen *g, unsigned worker, const char *name)
{
	const struct pol_l7 *l7 = g->l7;
	unsigned i;

	for (i = 0; i < l7->n_sigs; i++)
		if (!strcmp(l7->sigs[i].name, name))
			return l7->cnt[worker * l7->cnt_stride + POL_L7_CNT_SIGS + i];
	return ~0ull;
}

/* Scan str cut at the given points (sorted, inside); returns the index of the chunk that was
 * denied, or -1; *why filled on deny. The flow stays open. */
static int
scan_cuts(struct pol_l7_streams *s, struct pol_l7_flow *f, const char *str, size_t n,
          const size_t *cuts, unsigned n_cuts, struct pol_l7_deny *why)
{
	size_t at = 0;
	unsigned i;

	for (i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : n;

		if (pol_l7_flow_scan(s, f, (const uint8_t *)str + at, (uint32_t)(end - at), why) ==
		    POL_L7_DENY)
			return (int)i;
		at = end;
	}
	return -1;
}

/* block mode on one payload (worker 0) */
static struct pol_acl_verdict
block_judge(const struct pol_gen *g, unsigned worker, const struct pol_acl_key *k,
            const uint8_t *pay, uint32_t len)
{
	struct pol_acl_verdict v;

	pol_acl_classify(g, POL_DIR_INGRESS, worker, k, NULL, 1, &v);
	pol_l7_resolve(g, POL_DIR_INGRESS, worker, k, &pay, &len, 1, &v);
	return v;
}

/* ---- 1. a pattern split over 2..4 chunks at every split point is found ---- */

static void
test_split(void)
{
	struct pol_gen *g = build_yaml("s.yaml", sem_yaml, sizeof(sem_yaml) - 1, NULL, 1);
	struct pol_l7_streams *s = pol_l7_streams_create(NULL, 0);
	static const char *const pats[] = {"xx attack yy", "q UNION \t  SeLeCt *", "${JnDi:ldap"};
	static const char *const rules[] = {"no-evil", "no-evil", "no-jndi"};
	unsigned pi, cases = 0, block_missed = 0;
	bool ok = g && s;

	if (!ok)
		goto out;
	CHECK(pol_l7_streams_on(g, POL_DIR_INGRESS) && pol_l7_streams_on(g, POL_DIR_EGRESS));
	CHECK(g->l7->sop[POL_DIR_INGRESS] && !g->l7->sop[POL_DIR_EGRESS]);
	CHECK(pol_l7_stream_size(g) > 0 && pol_l7_stream_size(g) < 1024);
	for (pi = 0; pi < 3; pi++) {
		const char *str = pats[pi];
		size_t n = strlen(str), a, b, c;
		/* where the match ends: the end of the pattern's text in str */
		size_t mend = pi == 0 ? 9 : pi == 1 ? n - 2 : 7;
		struct pol_acl_key k;
		uint32_t want = pol_gen_rule_id(g, pi == 2 ? NULL : "a", rules[pi]);

		key_in(g, &k, A, 80);
		CHECK(want != 0);
		/* every cut set of 1, 2 or 3 points: 2, 3 and 4 chunks */
		for (a = 1; a < n; a++)
			for (b = a; b < n + 1; b++)
				for (c = b; c < n + 1; c++) {
					size_t cuts[3];
					unsigned nc = 0, i;
					struct pol_l7_flow *f = NULL;
					struct pol_l7_deny why = {0};
					int chunk, want_chunk = 0;

					/* b == n: no second cut; c == n: no third */
					if ((b == n && c != n) || (b < n && b == a) ||
					    (c < n && c == b))
						continue;
					cuts[nc++] = a;
					if (b < n)
						cuts[nc++] = b;
					if (c < n)
						cuts[nc++] = c;
					for (i = 0; i < nc; i++)
						want_chunk += cuts[i] < mend;
					if (pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k, &f) || !f) {
						ok = false;
						goto out;
					}
					chunk = scan_cuts(s, f, str, n, cuts, nc, &why);
					if (chunk != want_chunk || why.offset != mend ||
					    why.rule != want) {
						fprintf(stderr,
						        "  '%s' cuts %zu,%zu,%zu: chunk %d (want %d) "
						        "offset %llu rule %u\n",
						        str, a, b, c, chunk, want_chunk,
						        (unsigned long long)why.offset, why.rule);
						ok = false;
					}
					pol_l7_flow_close(s, f);
					cases++;
				}
		/* block mode, one segment at a time, misses the split pattern */
		{
			size_t h = mend - 2;
			struct pol_acl_verdict v1 = block_judge(g, 0, &k, (const uint8_t *)str, h);
			struct pol_acl_verdict v2 =
			        block_judge(g, 0, &k, (const uint8_t *)str + h, (uint32_t)(n - h));

			block_missed += v1.action == POL_ACT_ALLOW && v2.action == POL_ACT_ALLOW;
		}
	}
	CHECK(block_missed == 3);
	CHECK(pol_l7_streams_flows_in_use(s) == 0 && pol_l7_streams_slots_in_use(s) == 0);
	printf("#   %u cut sets, each found at the chunk that completes the match; block mode "
	       "missed %u of 3 two-segment splits\n",
	       cases, block_missed);
out:
	pol_l7_streams_destroy(s);
	pol_gen_put(g);
	check_report(
	        "a pattern split over 2, 3 or 4 chunks at every split point is found, at its offset",
	        ok);
}

/* ---- 2. semantics: count vs deny, tiers, allow-lists, anchors, protocols ---- */

struct scase {
	const char *what;
	uint32_t dst;
	uint16_t dport;
	const char *chunks[4];
	bool eof;
	const char *deny_rule; /* NULL: passes */
	const char *count_sig; /* a signature that counts once for this stream, or NULL */
};

static void
test_semantics(void)
{
	const uint32_t B = ip(198, 18, 0, 20);
	const struct scase cases[] = {
	        {"count signature split: counted once, never denies",
	         A,
	         80,
	         {"pro", "be and probe again", NULL},
	         true,
	         NULL,
	         "probe"},
	        {"deny signature after a count one",
	         A,
	         80,
	         {"probe at", "tack", NULL},
	         false,
	         "no-evil",
	         "probe"},
	        {"operator deny signature split",
	         A,
	         80,
	         {"${jn", "di:", NULL},
	         false,
	         "no-jndi",
	         "jndi"},
	        {"operator allow-list matched first: later tenant deny no longer resets",
	         A,
	         8080,
	         {"X-Trus", "ted: yes\r\n", "attack", NULL},
	         true,
	         NULL,
	         "trusted"},
	        {"tenant deny before the operator allow-list matched: reset",
	         A,
	         8080,
	         {"attack X-Trusted: yes", NULL},
	         false,
	         "no-evil",
	         "evil"},
	        {"same chunk, operator decides at an earlier offset",
	         A,
	         8080,
	         {"X-Trusted: yes attack", NULL},
	         true,
	         NULL,
	         "trusted"},
	        {"operator deny wins over its own allow-list (deny wins in a tier)",
	         A,
	         8080,
	         {"X-Trusted: yes ${jndi:", NULL},
	         false,
	         "no-jndi",
	         "jndi"},
	        {"`$` matches at the end of the stream only (at EOF)",
	         A,
	         80,
	         {"bye", " more", " bye", NULL},
	         true,
	         "no-evil",
	         "tail"},
	        {"`^` anchors at the stream's start only",
	         A,
	         80,
	         {"xx", "GET / HTTP/1.1", NULL},
	         true,
	         NULL,
	         NULL},
	        {"... and matches there", A, 80, {"GE", "T /", NULL}, false, "no-evil", "head"},
	        {"a udp-only signature is not in the stream database",
	         A,
	         80,
	         {"udpth", "ing", NULL},
	         true,
	         NULL,
	         NULL},
	        {"tenant without signature rules: only the operator's apply",
	         B,
	         80,
	         {"attack ${j", "ndi:", NULL},
	         false,
	         "no-jndi",
	         "jndi"},
	};
	struct pol_gen *g = build_yaml("s.yaml", sem_yaml, sizeof(sem_yaml) - 1, NULL, 1);
	struct pol_l7_streams *s = pol_l7_streams_create(NULL, 0);
	uint64_t c0[POL_L7_SCNT__MAX], c1[POL_L7_SCNT__MAX];
	bool ok = g && s;
	size_t i;

	if (!ok)
		goto out;
	pol_l7_streams_counters(s, c0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct scase *c = &cases[i];
		struct pol_l7_flow *f = NULL;
		struct pol_l7_deny why = {0};
		enum pol_l7_sv sv = POL_L7_PASS;
		uint64_t before = c->count_sig ? sig_cnt(g, 0, c->count_sig) : 0;
		struct pol_acl_key k;
		struct pol_rule_info ri = {0};
		unsigned j;
		bool good;

		key_in(g, &k, c->dst, c->dport);
		if (pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k, &f) || !f) {
			fprintf(stderr, "  case %zu (%s): open failed\n", i, c->what);
			ok = false;
			continue;
		}
		for (j = 0; j < 4 && c->chunks[j] && sv == POL_L7_PASS; j++)
			sv = pol_l7_flow_scan(s, f, (const uint8_t *)c->chunks[j],
			                      (uint32_t)strlen(c->chunks[j]), &why);
		if (sv == POL_L7_PASS && c->eof)
			sv = pol_l7_flow_eof(s, f, &why);
		if (sv == POL_L7_DENY)
			pol_gen_rule_info(g, why.rule, &ri);
		good = (sv == POL_L7_DENY) == (c->deny_rule != NULL) &&
		       (!c->deny_rule || (ri.name && !strcmp(ri.name, c->deny_rule)));
		if (c->count_sig)
			good = good && sig_cnt(g, 0, c->count_sig) == before + 1;
		if (!good) {
			fprintf(stderr, "  case %zu (%s): %s rule %s, count %llu -> %llu\n", i,
			        c->what, sv == POL_L7_DENY ? "deny" : "pass",
			        ri.name ? ri.name : "-", (unsigned long long)before,
			        c->count_sig ? (unsigned long long)sig_cnt(g, 0, c->count_sig) : 0);
			ok = false;
		}
		/* a denied flow stays denied without scanning */
		if (sv == POL_L7_DENY)
			CHECK(pol_l7_flow_scan(s, f, (const uint8_t *)"x", 1, NULL) == POL_L7_DENY);
		pol_l7_flow_close(s, f);
	}
	CHECK(sig_cnt(g, 0, "udp-only") == 0);
	/* egress: the app's bytes, the tenant's egress database */
	{
		struct pol_l7_flow *f = NULL;
		struct pol_acl_key k;

		pol_acl_key_set(&k, pol_gen_tenant_by_addr(g, A), 6, A, P, 40000, 443);
		CHECK(pol_l7_flow_open(s, g, POL_DIR_EGRESS, &k, &f) == 0 && f);
		CHECK(pol_l7_flow_scan(s, f, (const uint8_t *)"att", 3, NULL) == POL_L7_PASS);
		CHECK(pol_l7_flow_scan(s, f, (const uint8_t *)"ack", 3, NULL) == POL_L7_DENY);
		pol_l7_flow_close(s, f);
		/* udp flows have no TCP candidate; nor does a tenant without signature rules */
		pol_acl_key_set(&k, pol_gen_tenant_by_addr(g, A), 17, P, A, 1, 80);
		CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k, &f) == 0 && !f);
		pol_acl_key_set(&k, pol_gen_tenant_by_addr(g, B), 6, B, P, 1, 80);
		CHECK(pol_l7_flow_open(s, g, POL_DIR_EGRESS, &k, &f) == 0 && !f);
		CHECK(pol_l7_flow_scan(s, NULL, (const uint8_t *)"attack", 6, NULL) == POL_L7_PASS);
	}
	pol_l7_streams_counters(s, c1);
	CHECK(c1[POL_L7_SCNT_OPENED] - c0[POL_L7_SCNT_OPENED] == 13);
	CHECK(c1[POL_L7_SCNT_CLOSED] - c0[POL_L7_SCNT_CLOSED] == 13);
	CHECK(c1[POL_L7_SCNT_NOT_NEEDED] - c0[POL_L7_SCNT_NOT_NEEDED] == 2);
	CHECK(c1[POL_L7_SCNT_DENIED] - c0[POL_L7_SCNT_DENIED] == 8);
	CHECK(c1[POL_L7_SCNT_ERRORS] == 0 && c1[POL_L7_SCNT_SCANS] > 0);
	CHECK(pol_l7_streams_flows_in_use(s) == 0 && pol_l7_streams_slots_in_use(s) == 0);
out:
	pol_l7_streams_destroy(s);
	pol_gen_put(g);
	check_report(
	        "stream semantics: count vs deny, tiers, sticky allow-lists, ^ and $ on the stream, "
	        "TCP-only databases, egress",
	        ok);
}

/* ---- 3. caps: flow handles, slots, slot size; counted; memory given back ---- */

static void
test_caps(void)
{
	struct pol_gen *g = build_yaml("s.yaml", sem_yaml, sizeof(sem_yaml) - 1, NULL, 1);
	struct pol_l7_streams_cfg cfg = {.max_flows = 4, .max_streams = 5, .slot_bytes = 1024};
	struct pol_l7_streams *s = pol_l7_streams_create(&cfg, 0), *tiny = NULL;
	struct pol_l7_flow *f[6] = {NULL}, *x = NULL;
	struct pol_acl_key k2, k1;
	uint64_t c[POL_L7_SCNT__MAX];
	bool ok = g && s;
	unsigned i;

	if (!ok)
		goto out;
	key_in(g, &k2, A, 80);                  /* operator and tenant tier: 2 streams */
	key_in(g, &k1, ip(198, 18, 0, 20), 80); /* operator tier only: 1 stream */
	CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k2, &f[0]) == 0 && f[0]);
	CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k2, &f[1]) == 0 && f[1]);
	CHECK(pol_l7_streams_slots_in_use(s) == 4);
	/* one slot left: a 2-stream flow is refused, a 1-stream flow fits */
	CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k2, &x) == -ENOSPC && !x);
	CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k1, &f[2]) == 0 && f[2]);
	CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k1, &x) == -ENOSPC && !x);
	/* the operator tier decides (allow-list on 8080): the tenant's slot is given back */
	{
		struct pol_acl_key k8;

		key_in(g, &k8, A, 8080);
		pol_l7_flow_close(s, f[1]);
		CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k8, &f[1]) == 0 && f[1]);
		CHECK(pol_l7_streams_slots_in_use(s) == 5);
		CHECK(pol_l7_flow_scan(s, f[1], (const uint8_t *)"X-Trusted: yes", 14, NULL) ==
		      POL_L7_PASS);
		CHECK(pol_l7_streams_slots_in_use(s) == 4);
	}
	/* a denied flow gives its slots back at once, its handle at close */
	CHECK(pol_l7_flow_scan(s, f[0], (const uint8_t *)"attack", 6, NULL) == POL_L7_DENY);
	CHECK(pol_l7_streams_slots_in_use(s) == 2 && pol_l7_streams_flows_in_use(s) == 3);
	CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k1, &f[3]) == 0 && f[3]);
	/* 4 handles in use now: refused for want of a handle */
	CHECK(pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k1, &x) == -ENOSPC && !x);
	pol_l7_streams_counters(s, c);
	CHECK(c[POL_L7_SCNT_REFUSED_CAP] == 3 && c[POL_L7_SCNT_OPENED] == 5);
	for (i = 0; i < 6; i++)
		pol_l7_flow_close(s, f[i]);
	CHECK(pol_l7_streams_flows_in_use(s) == 0 && pol_l7_streams_slots_in_use(s) == 0);
	/* slots too small for the generation's state: refused, counted apart */
	cfg = (struct pol_l7_streams_cfg){.max_flows = 4, .slot_bytes = 64};
	if (pol_l7_stream_size(g) + POL_L7_SLOT_HDR > 64) {
		tiny = pol_l7_streams_create(&cfg, 0);
		CHECK(tiny != NULL);
		CHECK(tiny && pol_l7_flow_open(tiny, g, POL_DIR_INGRESS, &k1, &x) == -E2BIG && !x);
		if (tiny) {
			pol_l7_streams_counters(tiny, c);
			CHECK(c[POL_L7_SCNT_REFUSED_SIZE] == 1 && c[POL_L7_SCNT_OPENED] == 0);
		}
	}
	printf("#   stream state up to %zu bytes per stream in this generation\n",
	       pol_l7_stream_size(g));
	/* bad configurations */
	cfg = (struct pol_l7_streams_cfg){.slot_bytes = 8};
	errno = 0;
	CHECK(pol_l7_streams_create(&cfg, 0) == NULL && errno == EINVAL);
	/* a worker out of the generation's range */
	{
		struct pol_l7_streams *w9 = pol_l7_streams_create(NULL, 9);

		CHECK(w9 && pol_l7_flow_open(w9, g, POL_DIR_INGRESS, &k1, &x) == -EINVAL);
		pol_l7_streams_destroy(w9);
	}
out:
	pol_l7_streams_destroy(tiny);
	pol_l7_streams_destroy(s);
	pol_gen_put(g);
	check_report(
	        "caps: flow handles and slots bounded, refusals counted, slots given back early",
	        ok);
}

/* ---- 4. reload while flows are open ---- */

static void
test_reload(void)
{
	struct pol_gen *_Atomic slot = NULL;
	struct pol_gen *g1 = build_yaml("s.yaml", sem_yaml, sizeof(sem_yaml) - 1, NULL, 1), *g2;
	struct pol_l7_streams *s = pol_l7_streams_create(NULL, 0);
	struct pol_l7_flow *old1 = NULL, *old2 = NULL, *nf = NULL;
	struct pol_acl_key k;
	struct pol_l7_deny why;
	bool ok = g1 && s;

	if (!ok)
		goto out;
	pol_gen_publish(&slot, g1, NULL);
	key_in(g1, &k, A, 80);
	CHECK(pol_l7_flow_open(s, g1, POL_DIR_INGRESS, &k, &old1) == 0 && old1);
	CHECK(pol_l7_flow_open(s, g1, POL_DIR_INGRESS, &k, &old2) == 0 && old2);
	CHECK(pol_l7_flow_scan(s, old1, (const uint8_t *)"att", 3, NULL) == POL_L7_PASS);
	CHECK(atomic_load(&g1->refcnt) == 2); /* the published one and the worker's pin */
	g2 = build_yaml("s2.yaml", sem2_yaml, sizeof(sem2_yaml) - 1, g1, 1);
	CHECK(g2 != NULL);
	if (!g2)
		goto out;
	pol_gen_publish(&slot, g2, NULL); /* puts the control thread's reference of g1 */
	CHECK(atomic_load(&g1->refcnt) == 1);
	/* the old flows keep their generation: 'attack' completes across the reload */
	CHECK(pol_l7_flow_gen(old1) == g1);
	CHECK(pol_l7_flow_scan(s, old1, (const uint8_t *)"ack", 3, &why) == POL_L7_DENY);
	CHECK(why.rule == pol_gen_rule_id(g1, "a", "no-evil"));
	/* new flows use the new one */
	key_in(g2, &k, A, 80);
	CHECK(pol_l7_flow_open(s, g2, POL_DIR_INGRESS, &k, &nf) == 0 && nf);
	CHECK(pol_l7_flow_scan(s, nf, (const uint8_t *)"attack oth", 10, NULL) == POL_L7_PASS);
	CHECK(pol_l7_flow_scan(s, nf, (const uint8_t *)"er", 2, &why) == POL_L7_DENY);
	CHECK(why.rule == pol_gen_rule_id(g2, "a", "no-other") && why.offset == 12);
	CHECK(pol_l7_flow_scan(s, old2, (const uint8_t *)"other", 5, NULL) == POL_L7_PASS);
	/* closing the old flows: the worker never frees; the last one retires g1 */
	pol_l7_flow_close(s, old1);
	CHECK(atomic_load(&g1->refcnt) == 1 && atomic_load(&s->retired) == NULL);
	pol_l7_flow_close(s, old2);
	CHECK(atomic_load(&s->retired) == g1 && atomic_load(&g1->refcnt) == 1);
	/* 'evil': one hit by old1 in g1 after the publish carried g1's counters, one by nf in g2 */
	CHECK(hits(g2, "a", "evil") == 1);
	pol_l7_streams_reap(s, g2); /* frees g1 (ASan would see a use after free or a leak) */
	CHECK(atomic_load(&s->retired) == NULL);
	CHECK(hits(g2, "a", "evil") == 2);
	pol_l7_flow_close(s, nf);
	CHECK(atomic_load(&g2->refcnt) == 1 && atomic_load(&s->retired) == NULL);
	/* flows on more generations than a context pins hold their own reference */
	{
		enum { NG = POL_L7_PINS + 2 };
		struct pol_gen *gs[NG];
		struct pol_l7_flow *fs[NG][2];
		unsigned i, j;

		for (i = 0; i < NG; i++) {
			gs[i] = build_yaml("s.yaml", sem_yaml, sizeof(sem_yaml) - 1, NULL, 1);
			if (!gs[i]) {
				ok = false;
				goto out;
			}
			for (j = 0; j < 2; j++) {
				fs[i][j] = NULL;
				CHECK(pol_l7_flow_open(s, gs[i], POL_DIR_INGRESS, &k, &fs[i][j]) ==
				              0 &&
				      fs[i][j]);
			}
			/* pinned: one reference for both flows; beyond the pins: one each */
			CHECK(atomic_load(&gs[i]->refcnt) == (i < POL_L7_PINS ? 2u : 3u));
		}
		for (i = 0; i < NG; i++) {
			CHECK(pol_l7_flow_scan(s, fs[i][0], (const uint8_t *)"attack", 6, NULL) ==
			      POL_L7_DENY);
			for (j = 0; j < 2; j++)
				pol_l7_flow_close(s, fs[i][j]);
			CHECK(atomic_load(&gs[i]->refcnt) == 1);
			pol_gen_put(gs[i]);
		}
		CHECK(atomic_load(&s->retired) == NULL);
	}
	/* a flow left open at destroy is closed, and its retired generation freed */
	CHECK(pol_l7_flow_open(s, g2, POL_DIR_INGRESS, &k, &nf) == 0 && nf);
	pol_gen_publish(&slot, NULL, NULL);
	CHECK(atomic_load(&g2->refcnt) == 1);
out:
	pol_l7_streams_destroy(s); /* closes nf: g2 retired, reaped, freed */
	check_report(
	        "reload: open flows keep their generation, the last close retires it to the control "
	        "thread, hits counted after the reload reach the new generation",
	        ok);
}

/*
 * Another holder of a retired generation on the control thread (the gateway's log keeps the
 * previous one): whichever of it (pol_l7_gen_put) and the worker's last flow close drops the last
 * reference carries the late hits into the current generation, once.
 */
static void
test_reload_other_holder(void)
{
	struct pol_gen *_Atomic slot = NULL;
	struct pol_gen *g1, *g2 = NULL, *g3 = NULL;
	struct pol_l7_streams *s = pol_l7_streams_create(NULL, 0);
	struct pol_l7_flow *f = NULL;
	struct pol_acl_key k;
	bool ok = s != NULL;
	uint64_t h0;
	int order;

	for (order = 0; ok && order < 2; order++) {
		g1 = build_yaml("s.yaml", sem_yaml, sizeof(sem_yaml) - 1, g2, 1);
		if (!g1) {
			ok = false;
			break;
		}
		pol_gen_publish(&slot, g1, NULL); /* puts g2 of the previous round */
		g2 = NULL;
		key_in(g1, &k, A, 80);
		CHECK(pol_l7_flow_open(s, g1, POL_DIR_INGRESS, &k, &f) == 0 && f);
		pol_gen_get(g1); /* the other holder */
		g3 = build_yaml("s.yaml", sem_yaml, sizeof(sem_yaml) - 1, g1, 1);
		if (!g3) {
			ok = false;
			break;
		}
		pol_gen_publish(&slot, g3, NULL); /* g1: the pin and the holder */
		CHECK(atomic_load(&g1->refcnt) == 2);
		CHECK(pol_l7_flow_scan(s, f, (const uint8_t *)"attack", 6, NULL) == POL_L7_DENY);
		h0 = hits(g3, "a", "evil"); /* earlier rounds' hits, carried at publish */
		if (order == 0) {
			pol_l7_flow_close(s, f); /* not the last: only drops the pin */
			CHECK(atomic_load(&s->retired) == NULL && atomic_load(&g1->refcnt) == 1);
			pol_l7_gen_put(g1, g3); /* the last: carries, frees */
		} else {
			pol_l7_gen_put(g1, g3); /* not the last: no carry yet */
			CHECK(atomic_load(&g1->refcnt) == 1 && hits(g3, "a", "evil") == h0);
			pol_l7_flow_close(s, f); /* the last: retired for the reap */
			CHECK(atomic_load(&s->retired) == g1);
			pol_l7_streams_reap(s, g3);
		}
		f = NULL;
		CHECK(atomic_load(&s->retired) == NULL);
		CHECK(hits(g3, "a", "evil") == h0 + 1);
		g2 = g3; /* the next round builds on it */
		g3 = NULL;
	}
	pol_gen_publish(&slot, NULL, NULL);
	pol_l7_streams_destroy(s);
	check_report(
	        "reload: a retired generation's late hits are carried by whoever drops its last "
	        "reference (pol_l7_gen_put or the worker's last close), once",
	        ok);
}

/* ---- 5. random policies: stream vs block mode on every prefix of randomly chopped data ---- */

#define R_ALPHA  "abcABx"
#define R_NSIGS  6
#define R_MAXPAY 160

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
		unsigned n = 3 + (unsigned)(rnd() % 2);

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

		if (r->proto == 17)
			r->proto = 6; /* more TCP rules */
		if (!r->n_sigs && rnd() % 3)
			continue;
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

/* end offset of the first occurrence of s's literal in buf[0..n), 0 when none */
static size_t
first_end(const struct pol_signature *s, const uint8_t *buf, size_t n)
{
	size_t m = strlen(s->pattern), i, j;

	for (i = 0; i + m <= n; i++) {
		for (j = 0; j < m; j++) {
			int a = buf[i + j], b = (unsigned char)s->pattern[j];

			if (s->flags & POL_SIGF_CASELESS ? tolower(a) != tolower(b) : a != b)
				break;
		}
		if (j == m)
			return i + m;
	}
	return 0;
}

static void
test_random(unsigned n_rules, unsigned n_tenants, unsigned n_op, unsigned n_flows)
{
	struct pol_gen_opts o = {.n_workers = 2, .socket_id = -1};
	struct pol_policy *pol;
	struct pol_cfg_errs errs = {0};
	struct pol_gen *g = NULL;
	struct pol_l7_streams *s = pol_l7_streams_create(NULL, 0);
	unsigned i, t, bad = 0, opened = 0, denied = 0, split = 0, cnt_checked = 0, op_mid = 0;
	uint64_t *before = NULL;
	char name[200];
	bool ok = s != NULL;

	pol = pol_testgen_policy(&pol_testgen_simple, n_rules, n_tenants, n_op, true);
	rand_sigs(&pol->op);
	for (t = 0; t < pol->n_tenants; t++)
		rand_sigs(&pol->tenants[t].rs);
	if (pol_policy_validate(pol, &errs)) {
		pol_cfg_errs_print(&errs, stderr);
		abort();
	}
	g = pol_gen_build(pol, NULL, &o, &errs);
	if (!g || !s) {
		pol_cfg_errs_print(&errs, stderr);
		ok = false;
		goto out;
	}
	before = calloc(g->l7->n_sigs, sizeof(*before));
	for (i = 0; i < n_flows; i++) {
		uint8_t buf[R_MAXPAY];
		size_t n = 1 + rnd() % R_MAXPAY, at, kd = 0, j, cut[R_MAXPAY + 1], n_cut = 0;
		struct pol_l7_flow *f = NULL;
		struct pol_l7_deny why = {0};
		struct pol_acl_verdict vd = {0};
		struct pol_acl_key k;
		enum pol_l7_sv sv = POL_L7_PASS;
		unsigned tn = (unsigned)(rnd() % pol->n_tenants);
		const struct pol_rule *r = NULL;
		const struct pol_ruleset *rs;
		uint32_t src, dst;
		uint16_t sport, dport;
		enum pol_dir dir;
		int got_chunk = -1, want_chunk = -1;

		/* a TCP flow near a random signature rule */
		t = (unsigned)(rnd() % (pol->n_tenants + 1));
		rs = t == 0 ? &pol->op : &pol->tenants[t - 1].rs;
		for (j = 0; j < 8 && rs->n_rules; j++) {
			r = &rs->rules[rnd() % rs->n_rules];
			if (r->n_sigs)
				break;
		}
		if (t)
			tn = t - 1;
		dir = r ? (enum pol_dir)r->dir : POL_DIR_INGRESS;
		src = r ? pol_testgen_pick_addr(&r->src) : (uint32_t)rnd();
		dst = r ? pol_testgen_pick_addr(&r->dst) : (uint32_t)rnd();
		sport = r && r->src.n_ports && rnd() % 4 ? r->src.ports[0].lo : (uint16_t)rnd();
		dport = r && r->dst.n_ports && rnd() % 4 ? r->dst.ports[0].lo : (uint16_t)rnd();
		pol_acl_key_set(&k, pol_gen_tenant_at(g, tn)->id, 6, src, dst, sport, dport);
		for (j = 0; j < n; j++)
			buf[j] = (uint8_t)R_ALPHA[rnd() % (sizeof(R_ALPHA) - 1)];

		/* reference: block mode on each prefix (worker 1); the first that a signature
		 * rule denies */
		for (j = 1; j <= n && !kd; j++) {
			struct pol_acl_verdict v;
			const uint8_t *pp = buf;
			uint32_t len = (uint32_t)j;

			pol_acl_classify(g, dir, 1, &k, NULL, 1, &v);
			pol_l7_resolve(g, dir, 1, &k, &pp, &len, 1, &v);
			if (v.action == POL_ACT_DENY && (v.flags & POL_RULE_F_SIGS)) {
				kd = j;
				vd = v;
			}
		}
		/* random chunks: byte by byte, or 1..8 random cuts */
		if (rnd() % 8 == 0) {
			for (j = 1; j < n; j++)
				cut[n_cut++] = j;
		} else {
			unsigned want = (unsigned)(rnd() % 8);

			for (j = 0; j < want; j++)
				cut[n_cut++] = 1 + rnd() % n;
			for (j = 1; j < n_cut; j++) { /* insertion sort */
				size_t x = cut[j], q = j;

				while (q > 0 && cut[q - 1] > x) {
					cut[q] = cut[q - 1];
					q--;
				}
				cut[q] = x;
			}
		}
		cut[n_cut++] = n;
		for (j = 0; j < g->l7->n_sigs; j++)
			before[j] = g->l7->cnt[POL_L7_CNT_SIGS + j];
		if (pol_l7_flow_open(s, g, dir, &k, &f)) {
			ok = false;
			break;
		}
		opened += f != NULL;
		for (j = 0, at = 0; j < n_cut; at = cut[j], j++) {
			if (cut[j] == at)
				continue; /* an empty chunk */
			if (kd && want_chunk < 0 && kd <= cut[j]) {
				want_chunk = (int)j;
				split += kd - at < 3; /* the match began in an earlier chunk */
			}
			sv = pol_l7_flow_scan(s, f, buf + at, (uint32_t)(cut[j] - at), &why);
			if (sv == POL_L7_DENY) {
				got_chunk = (int)j;
				break;
			}
		}
		if (sv == POL_L7_PASS)
			sv = pol_l7_flow_eof(s, f, &why);
		denied += sv == POL_L7_DENY;
		if (got_chunk != want_chunk || (kd && (why.offset != kd || why.rule != vd.rule)) ||
		    (kd && !f)) {
			if (bad++ < 8)
				fprintf(stderr,
				        "  flow %u (%s, %zu bytes): stream denied at chunk %d offset "
				        "%llu rule %u, reference chunk %d offset %zu rule %u\n",
				        i, pol_dir_name(dir), n, got_chunk,
				        (unsigned long long)why.offset, why.rule, want_chunk, kd,
				        vd.rule);
		}
		/* counters of a stream that passed: each signature once, when its tier was
		 * consulted at its first match (block mode on that prefix counts it then) */
		if (!kd && f) {
			for (j = 0; j < g->l7->n_sigs; j++) {
				const struct pol_l7_sig *sg = &g->l7->sigs[j];
				const struct pol_ruleset *trs =
				        sg->tenant_idx < 0 ? &pol->op
				                           : &pol->tenants[sg->tenant_idx].rs;
				size_t m = first_end(&trs->sigs[j % R_NSIGS], buf, n);
				uint64_t want = 0,
				         got = g->l7->cnt[POL_L7_CNT_SIGS + j] - before[j];

				if (m) {
					struct pol_acl_verdict v;
					const uint8_t *pp = buf;
					uint32_t len = (uint32_t)m;
					uint64_t b1 =
					        g->l7->cnt[g->l7->cnt_stride + POL_L7_CNT_SIGS + j];

					pol_acl_classify(g, dir, 1, &k, NULL, 1, &v);
					pol_l7_resolve(g, dir, 1, &k, &pp, &len, 1, &v);
					want = g->l7->cnt[g->l7->cnt_stride + POL_L7_CNT_SIGS + j] -
					       b1;
				}
				cnt_checked += m != 0;
				if (got != want && bad++ < 8)
					fprintf(stderr,
					        "  flow %u: signature %zu counted %llu, "
					        "reference %llu\n",
					        i, j, (unsigned long long)got,
					        (unsigned long long)want);
			}
		}
		/* the operator tier decided by a signature while the tenant's was scanned */
		op_mid += f && f->op_dec != POL_L7_OFF_NONE && f->op_dec > 0;
		pol_l7_flow_close(s, f);
	}
	CHECK(bad == 0);
	CHECK(pol_l7_streams_flows_in_use(s) == 0 && pol_l7_streams_slots_in_use(s) == 0);
	/* the test means something only when streams were denied, some by split matches */
	CHECK(denied >= 20 && split >= 5 && opened > n_flows / 40);
	printf("#   %u flows: %u opened in stream mode, %u denied (%u by a match across chunks), "
	       "%u with the operator tier decided mid-stream, %u signature counts checked, %u "
	       "mismatches\n",
	       n_flows, opened, denied, split, op_mid, cnt_checked, bad);
out:
	free(before);
	pol_l7_streams_destroy(s);
	pol_gen_put(g);
	pol_policy_free(pol);
	pol_cfg_errs_clear(&errs);
	snprintf(
	        name, sizeof(name),
	        "random policy (%u rules, %u tenants) and randomly chopped streams: stream verdicts, "
	        "deny offsets and signature counts agree with block mode on each prefix",
	        n_rules, n_tenants);
	check_report(name, ok);
}

/* ---- 6. workers: each its own context, concurrently; the allocator's fallback ---- */

struct wk {
	const struct pol_gen *g;
	unsigned worker, iters, wrong;
};

static void *
worker_main(void *arg)
{
	struct wk *w = arg;
	struct pol_l7_streams *s = pol_l7_streams_create(NULL, w->worker);
	struct pol_acl_key k;
	unsigned i;

	if (!s) {
		w->wrong = ~0u;
		return NULL;
	}
	key_in(w->g, &k, A, 80);
	for (i = 0; i < w->iters; i++) {
		struct pol_l7_flow *f = NULL;
		bool deny = (i + w->worker) % 2;
		enum pol_l7_sv sv;

		if (pol_l7_flow_open(s, w->g, POL_DIR_INGRESS, &k, &f) || !f) {
			w->wrong++;
			continue;
		}
		pol_l7_flow_scan(s, f, (const uint8_t *)"xx at", 5, NULL);
		sv = pol_l7_flow_scan(s, f, (const uint8_t *)(deny ? "tack" : "tach"), 4, NULL);
		w->wrong += (sv == POL_L7_DENY) != deny;
		pol_l7_flow_close(s, f);
	}
	w->wrong += pol_l7_streams_slots_in_use(s) != 0;
	pol_l7_streams_destroy(s);
	return NULL;
}

static void
test_workers(void)
{
	enum { NW = 3, ITERS = 20000 };
	struct pol_gen *g = build_yaml("s.yaml", sem_yaml, sizeof(sem_yaml) - 1, NULL, NW);
	pthread_t th[NW];
	struct wk wk[NW];
	bool ok = g != NULL;
	unsigned w;

	if (!g)
		goto out;
	for (w = 0; w < NW; w++) {
		wk[w] = (struct wk){g, w, ITERS, 0};
		pthread_create(&th[w], NULL, worker_main, &wk[w]);
	}
	for (w = 0; w < NW; w++) {
		pthread_join(th[w], NULL);
		CHECK(wk[w].wrong == 0);
	}
	CHECK(atomic_load(&g->refcnt) == 1);
	{
		uint64_t sum = 0;

		for (w = 0; w < NW; w++)
			sum += sig_cnt(g, w, "evil");
		CHECK(sum == (uint64_t)NW * ITERS / 2);
	}
	/* outside a worker's open the allocator falls back to malloc (and frees it) */
	{
		hs_stream_t *st = NULL;

		CHECK(hs_open_stream(g->l7->sop[POL_DIR_INGRESS], 0, &st) == HS_SUCCESS && st);
		CHECK(hs_close_stream(st, NULL, NULL, NULL) == HS_SUCCESS);
	}
out:
	pol_gen_put(g);
	check_report("workers scan concurrently, each with its own context and scratch", ok);
}

/* ---- informational: costs (not asserted; one core of a shared VM) ---- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A tenant with n signatures of the kinds an IDS holds, all on one tcp deny rule. */
static struct pol_gen *
ids_gen(unsigned n)
{
	struct pol_policy *p = pol_testgen_policy_new(1);
	struct pol_ruleset *rs = &p->tenants[0].rs;
	struct pol_cfg_errs errs = {0};
	struct pol_gen *g;
	unsigned i;

	rs->n_sigs = n;
	rs->sigs = calloc(n, sizeof(*rs->sigs));
	rs->n_rules = 1;
	rs->rules = calloc(1, sizeof(*rs->rules));
	rs->rules[0].name = strdup("ids");
	rs->rules[0].priority = 1;
	rs->rules[0].proto = 6;
	rs->rules[0].action = POL_ACT_DENY;
	rs->rules[0].n_sigs = n;
	rs->rules[0].sigs = calloc(n, sizeof(*rs->rules[0].sigs));
	for (i = 0; i < n; i++) {
		char name[16], pat[64];

		snprintf(name, sizeof(name), "s%u", i);
		switch (i % 3) {
		case 0:
			snprintf(pat, sizeof(pat), "evil%04u\\.exe", i);
			break;
		case 1:
			snprintf(pat, sizeof(pat), "union%u\\s+select", i);
			break;
		default:
			snprintf(pat, sizeof(pat), "k%u=[a-z]{4,8}\\d{3}", i);
		}
		rs->sigs[i].name = strdup(name);
		rs->sigs[i].pattern = strdup(pat);
		rs->sigs[i].flags = i % 2 ? POL_SIGF_CASELESS : 0;
		rs->sigs[i].action = POL_SIG_DENY;
		rs->rules[0].sigs[i].name = strdup(name);
	}
	if (pol_policy_validate(p, &errs))
		pol_cfg_errs_print(&errs, stderr);
	g = pol_gen_build(p, NULL, NULL, &errs);
	if (!g)
		pol_cfg_errs_print(&errs, stderr);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	return g;
}

static void
cost(unsigned n_sigs)
{
	enum { CH = 1460, N = 20000 };
	struct pol_gen *g = ids_gen(n_sigs);
	struct pol_l7_streams *s = pol_l7_streams_create(NULL, 0);
	static uint8_t buf[CH];
	struct pol_l7_flow *f = NULL;
	struct pol_acl_key k;
	uint64_t t0, t_oc, t_scan, t_block;
	unsigned i;

	if (!g || !s)
		goto out;
	for (i = 0; i < CH; i++)
		buf[i] = (uint8_t)(' ' + rnd() % 95);
	/* to tenant t0 (198.19.0.0, pol_testgen_policy_new) */
	pol_acl_key_set(&k, pol_gen_tenant_at(g, 0)->id, 6, P, ip(198, 19, 0, 0), 40000, 80);
	t0 = now_ns();
	for (i = 0; i < N; i++) {
		pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k, &f);
		pol_l7_flow_close(s, f);
	}
	t_oc = now_ns() - t0;
	if (pol_l7_flow_open(s, g, POL_DIR_INGRESS, &k, &f) || !f) {
		printf("#   cost: the flow did not open\n");
		goto out;
	}
	t0 = now_ns();
	for (i = 0; i < N; i++)
		pol_l7_flow_scan(s, f, buf, CH, NULL);
	t_scan = now_ns() - t0;
	pol_l7_flow_close(s, f);
	t0 = now_ns();
	for (i = 0; i < N; i++)
		block_judge(g, 0, &k, buf, CH);
	t_block = now_ns() - t0;
	printf("#   %u signatures: stream state %zu bytes; open+close %.0f ns; a %u-byte chunk: "
	       "stream scan %.0f ns, block mode (classify + scan) %.0f ns\n",
	       n_sigs, pol_l7_stream_size(g), (double)t_oc / N, CH, (double)t_scan / N,
	       (double)t_block / N);
out:
	pol_l7_streams_destroy(s);
	pol_gen_put(g);
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

	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	test_split();
	test_semantics();
	test_caps();
	test_reload();
	test_reload_other_holder();
	test_workers();
	test_random(40, 3, 8, 10000);
	test_random(400, 20, 10, 10000);
	if (argc > 1 && !strcmp(argv[1], "-c")) {
		cost(10);
		cost(100);
	}
	rte_eal_cleanup();
	return check_done();
}
