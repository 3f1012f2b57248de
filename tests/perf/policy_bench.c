/*
 * policy_bench.c - per-packet cost of the gateway's ingress policy path on one core.
 *
 * For 100, 1,000 and 10,000 generated rules (policy/testgen.c, the generator acl_test uses: same
 * shapes and sizes as its timed cases), 8192 prebuilt 64-byte UDP frames near the rules, bursts
 * of 32, three methods timed in interleaved rounds:
 *
 *   bare    rte_acl_classify on the generation's ingress context, keys prebuilt
 *   acl     pol_acl_classify (rte_acl + verdict resolution + per-rule counters), keys prebuilt
 *   path    what gw_policy_ingress does per burst, from the frames: parse (Ethernet/IPv4/UDP
 *           5-tuple extraction, tenant lookup by destination) -> conntrack (pol_ct_key_set,
 *           pol_ct_lookup_burst, pol_ct_track, pol_ct_open for new allowed flows) -> ACL
 *           (pol_acl_key_set, pol_acl_classify) -> meter (pol_meter_conn for new flows,
 *           pol_meter_pkt on every admitted packet; every tenant metered, limits never reached)
 *
 * Not included: stk_input's checks (MAC, IP checksum, port lookup), mbuf handling.
 * stderr also gets a per-stage breakdown (one extra pass with rdtsc around each stage).
 *
 * -l adds the L7 rows (-L: only those): the full path of the 1,000-rule policy with an operator
 * rule that denies UDP payloads matching any of 10 or 100 signatures (benign payloads of 64 or
 * 512 bytes: every candidate scanned to the end, nothing matches) next to the same path and
 * policy without it, and with the signatures on a TCP-only rule (an L7 stage no packet is a
 * candidate for), interleaved in the same run.
 *
 * policy_bench [-r ROUNDS] [-t MS_PER_SAMPLE] [-l|-L] [-- EXTRA_EAL_ARGS...]
 *   e.g. taskset -c 1 policy_bench -- --force-max-simd-bitwidth=512
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_acl.h>
#include <rte_cycles.h>
#include <rte_eal.h>

#include "acl.h"
#include "testgen.h"
#include "acl_priv.h"
#include "ct.h"
#include "l7.h"
#include "meter.h"

#define BURST  32u
#define N_PKTS 8192u
#define FRAME  64u

struct tpkt {
	int tenant; /* index into the policy's tenants, -1: an address no tenant owns */
	enum pol_dir dir;
	uint8_t proto;
	uint32_t src, dst;
	uint16_t sport, dport;
};

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

static uint16_t
pick_port(const struct pol_match *m)
{
	const struct pol_port_range *r;

	if (!m->n_ports || rnd() % 8 == 0)
		return (uint16_t)(rnd() % 8 ? rnd() % 4096 : rnd());
	r = &m->ports[rnd() % m->n_ports];
	switch (rnd() % 5) {
	case 0:
		return r->lo;
	case 1:
		return r->hi;
	case 2:
		return (uint16_t)(r->lo - 1);
	case 3:
		return (uint16_t)(r->hi + 1);
	default:
		return (uint16_t)(r->lo + rnd() % ((uint32_t)r->hi - r->lo + 1));
	}
}

/* A packet near a random rule: inside, at its CIDR, except and port edges, or just outside. */
static void
rand_pkt(const struct pol_policy *pol, struct tpkt *p)
{
	static const uint8_t protos[] = {6, 17, 1, 47};
	unsigned n_op = pol->op.n_rules, total = n_op, i;
	const struct pol_rule *r = NULL;
	unsigned which;

	for (i = 0; i < pol->n_tenants; i++)
		total += pol->tenants[i].rs.n_rules;
	p->tenant = pol->n_tenants ? (int)(rnd() % pol->n_tenants) : -1;
	if (total && rnd() % 16) {
		which = (unsigned)(rnd() % total);
		if (which < n_op) {
			r = &pol->op.rules[which];
		} else {
			which -= n_op;
			for (i = 0; i < pol->n_tenants; i++) {
				if (which < pol->tenants[i].rs.n_rules) {
					r = &pol->tenants[i].rs.rules[which];
					if (rnd() % 8)
						p->tenant = (int)i;
					break;
				}
				which -= pol->tenants[i].rs.n_rules;
			}
		}
	}
	if (rnd() % 32 == 0)
		p->tenant = -1;
	if (r) {
		p->dir = rnd() % 8 ? r->dir : (enum pol_dir) !r->dir;
		p->proto = r->proto != POL_PROTO_ANY && rnd() % 8 ? (uint8_t)r->proto
		                                                  : protos[rnd() % 4];
		p->src = pol_testgen_pick_addr(&r->src);
		p->dst = pol_testgen_pick_addr(&r->dst);
		p->sport = pick_port(&r->src);
		p->dport = pick_port(&r->dst);
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
}

/* ---- the benchmark ---- */

static uint16_t
tenant_id(const struct pol_gen *g, int idx)
{
	return idx < 0 ? (uint16_t)(POL_TENANT_ID_MAX - 1)
	               : pol_gen_tenant_at(g, (unsigned)idx)->id;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* A 64-byte Ethernet/IPv4/UDP frame (no FCS) for p. */
static void
build_frame(uint8_t *f, const struct tpkt *p)
{
	memset(f, 0, FRAME);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	put16(f + 12, 0x0800);
	f[14] = 0x45;
	put16(f + 16, FRAME - 14);
	f[22] = 64;
	f[23] = p->proto;
	put32(f + 26, p->src);
	put32(f + 30, p->dst);
	put16(f + 34, p->sport);
	put16(f + 36, p->dport);
	put16(f + 38, FRAME - 34);
}

struct bench {
	const struct pol_gen *g;
	struct pol_ct *ct;
	struct pol_meter *meter;
	uint8_t (*frames)[FRAME];
	uint16_t *tenant;         /* per packet: which tenant the packet is for */
	struct pol_acl_key *keys; /* for bare and acl */
	uint64_t admitted, denied, sink, dbg[4];
	const uint8_t *pay; /* L7 rows: N_PKTS payloads of pay_len bytes, scanned (NULL: no L7) */
	uint32_t pay_len;
	bool stages;     /* time each stage (rdtsc per burst and stage): the breakdown pass */
	uint64_t cyc[5]; /* parse, conntrack, ACL, open, meter */
};

static void
run_bare(struct bench *b)
{
	const uint8_t *data[BURST];
	uint32_t res[BURST * POL_ACL_CATS_SIGS];
	struct rte_acl_ctx *ctx = b->g->ctx[POL_DIR_INGRESS];
	uint32_t ncat = b->g->ncat[POL_DIR_INGRESS];
	unsigned i, j;

	for (i = 0; i < N_PKTS; i += BURST) {
		for (j = 0; j < BURST; j++)
			data[j] = (const uint8_t *)&b->keys[i + j];
		rte_acl_classify(ctx, data, res, BURST, ncat);
		b->sink += res[0];
	}
}

static void
run_acl(struct bench *b)
{
	struct pol_acl_verdict out[BURST];
	uint32_t lens[BURST];
	unsigned i, j;

	for (j = 0; j < BURST; j++)
		lens[j] = FRAME;
	for (i = 0; i < N_PKTS; i += BURST) {
		pol_acl_classify(b->g, POL_DIR_INGRESS, 0, &b->keys[i], lens, BURST, out);
		b->sink += out[0].rule;
	}
}

/* gw_policy_ingress (gateway/policy.c) for UDP, from the frames. */
static void
run_path(struct bench *b)
{
	const struct pol_gen *g = b->g;
	struct pol_ct_pkt cp[BURST];
	struct pol_ct_key ck[BURST];
	int32_t idx[BURST];
	struct pol_acl_key ak[BURST];
	uint32_t alen[BURST], lens[BURST];
	uint16_t tenant[BURST];
	uint8_t ai[BURST], ctv[BURST];
	bool ok[BURST];
	struct pol_acl_verdict av[BURST];
	unsigned base, i, j, na;

	for (base = 0; base < N_PKTS; base += BURST) {
		uint64_t now = now_ns(), tsc[6] = {0};

		if (b->stages)
			tsc[0] = rte_rdtsc();
		/* parse */
		for (i = 0; i < BURST; i++) {
			const uint8_t *f = b->frames[base + i];
			struct pol_ct_pkt *p = &cp[i];
			unsigned ihl = (f[14] & 0x0f) * 4u;

			memset(p, 0, sizeof(*p));
			p->proto = f[23];
			p->src = get32(f + 26);
			p->dst = get32(f + 30);
			p->sport = get16(f + 14 + ihl);
			p->dport = get16(f + 14 + ihl + 2);
			lens[i] = FRAME;
			/* the worker's lookup, timed; the generated packet says whose it is */
			b->sink += pol_gen_tenant_by_addr(g, p->dst);
			tenant[i] = b->tenant[base + i];
			p->tenant = tenant[i];
			ok[i] = true;
			pol_ct_key_set(&ck[i], p);
		}
		if (b->stages)
			tsc[1] = rte_rdtsc();
		/* conntrack */
		pol_ct_lookup_burst(b->ct, ck, BURST, idx);
		na = 0;
		for (i = 0; i < BURST; i++) {
			struct pol_ct_info ci;
			enum pol_ct_verdict v =
			        pol_ct_track(b->ct, idx[i], &ck[i], &cp[i], now, &ci);

			if (v == POL_CT_INVALID) {
				ok[i] = false;
				continue;
			}
			if (v == POL_CT_REPLY && ci.admit_reply)
				continue;
			ctv[i] = (uint8_t)v;
			pol_acl_key_set(&ak[na], tenant[i], cp[i].proto, cp[i].src, cp[i].dst,
			                cp[i].sport, cp[i].dport);
			alen[na] = lens[i];
			ai[na++] = (uint8_t)i;
		}
		if (b->stages)
			tsc[2] = rte_rdtsc();
		/* ACL */
		if (na && !b->pay) {
			pol_acl_classify(g, POL_DIR_INGRESS, 0, ak, alen, na, av);
		} else if (na) {
			/* L7 rows: classify uncounted, scan, count the final rule */
			const uint8_t *apay[BURST];
			uint32_t aplen[BURST];

			for (j = 0; j < na; j++) {
				apay[j] = b->pay + (size_t)(base + ai[j]) * b->pay_len;
				aplen[j] = b->pay_len;
			}
			pol_acl_classify(g, POL_DIR_INGRESS, 0, ak, NULL, na, av);
			pol_l7_resolve(g, POL_DIR_INGRESS, 0, ak, apay, aplen, na, av);
			for (j = 0; j < na; j++)
				pol_gen_count(g, 0, av[j].rule, alen[j]);
		}
		if (b->stages)
			tsc[3] = rte_rdtsc();
		/* verdicts; conntrack open (new flows) */
		for (j = 0; j < na; j++) {
			i = ai[j];
			if (av[j].action != POL_ACT_ALLOW) {
				ok[i] = false;
				b->dbg[0]++;
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

				if (!pol_meter_conn(b->meter, 0, tenant[i], now)) {
					b->dbg[1]++;
					ok[i] = false;
					continue;
				}
				if (pol_ct_open(b->ct, &ck[i], &cp[i], &a, now) == -ENOSPC) {
					b->dbg[2]++;
					ok[i] = false;
				}
			}
		}
		if (b->stages)
			tsc[4] = rte_rdtsc();
		/* meter */
		for (i = 0; i < BURST; i++) {
			if (ok[i] &&
			    !pol_meter_pkt(b->meter, 0, tenant[i], POL_METER_INGRESS, lens[i], now))
				ok[i] = false;
			if (ok[i])
				b->admitted++;
			else
				b->denied++;
		}
		if (b->stages) {
			tsc[5] = rte_rdtsc();
			for (i = 0; i < 5; i++)
				b->cyc[i] += tsc[i + 1] - tsc[i];
		}
	}
}

typedef void run_fn(struct bench *);

/* ns/packet of fn over ms milliseconds (whole passes over the packets). */
static double
sample(struct bench *b, run_fn *fn, unsigned ms)
{
	uint64_t t0 = now_ns(), t, passes = 0;

	do {
		fn(b);
		passes++;
		t = now_ns() - t0;
	} while (t < (uint64_t)ms * 1000000ull);
	return (double)t / (double)(passes * N_PKTS);
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	double min, med, max;
};

static struct stat3
stats(double *v, unsigned n)
{
	struct stat3 s;

	qsort(v, n, sizeof(*v), cmp_dbl);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

static const char *const alg_names[] = {"default", "scalar",  "sse",       "avx2",
                                        "neon",    "altivec", "avx512x16", "avx512x32"};

static void
unblock_rs(struct pol_ruleset *rs)
{
	unsigned i;

	for (i = 0; i < rs->n_rules; i++)
		if (rs->rules[i].action == POL_ACT_DENY && rs->rules[i].src.n_cidrs == 0)
			rs->rules[i].action = POL_ACT_ALLOW;
}

/*
 * Random rules include denies from any source, and a few of those (operator tier) cover nearly
 * every packet: nothing would reach conntrack's open or the meter. Deny only from listed sources.
 */
static void
unblock(struct pol_policy *pol)
{
	unsigned i;

	unblock_rs(&pol->op);
	for (i = 0; i < pol->n_tenants; i++)
		unblock_rs(&pol->tenants[i].rs);
}

/* The method rte_acl's default picks: the widest the CPU and EAL (max SIMD bitwidth) allow. */
static int
default_alg(struct rte_acl_ctx *ctx)
{
	static const int order[] = {RTE_ACL_CLASSIFY_AVX512X32, RTE_ACL_CLASSIFY_AVX512X16,
	                            RTE_ACL_CLASSIFY_AVX2, RTE_ACL_CLASSIFY_SSE,
	                            RTE_ACL_CLASSIFY_SCALAR};
	int alg = 0;
	unsigned i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]) && !alg; i++)
		if (rte_acl_set_ctx_classify(ctx, (enum rte_acl_classify_alg)order[i]) == 0)
			alg = order[i];
	rte_acl_set_ctx_classify(ctx, RTE_ACL_CLASSIFY_DEFAULT);
	return alg;
}

struct size {
	unsigned rules, tenants, op;
	const struct pol_testgen_shape *shape;
};

static int
bench_size(const struct size *sz, unsigned rounds, unsigned ms)
{
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_cfg_errs errs = {0};
	struct pol_ct_conf cc = {.entries = 2 * N_PKTS, .socket_id = -1};
	struct pol_rate rate = {.pps = 1000000000ull, .bps = 1000000000000ull, .burst = 1u << 20};
	struct bench b = {0};
	struct pol_policy *pol;
	struct pol_gen *g;
	double *v[3];
	struct stat3 s[3];
	uint64_t t0;
	unsigned i, r, n_acl;
	int alg;
	char ctname[32];
	static run_fn *const fns[3] = {run_bare, run_acl, run_path};

	rng = 0x2545f4914f6cdd1dull ^ sz->rules;
	pol_testgen_seed(rng); /* the same policy for a size, run after run */
	pol = pol_testgen_policy(sz->shape, sz->rules, sz->tenants, sz->op, false);
	unblock(pol);
	t0 = now_ns();
	g = pol_gen_build(pol, NULL, &o, &errs);
	if (!g || !g->ctx[POL_DIR_INGRESS]) {
		pol_cfg_errs_print(&errs, stderr);
		fprintf(stderr, "pol_gen_build failed (%d rules)\n", sz->rules);
		return -1;
	}
	n_acl = g->n_acl[POL_DIR_INGRESS];
	alg = default_alg(g->ctx[POL_DIR_INGRESS]);
	fprintf(stderr,
	        "# %u rules (%u tenants, %u operator, %s): built in %.0f ms, %u rte_acl "
	        "rules ingress, classify method %s\n",
	        sz->rules, sz->tenants, sz->op, sz->shape->name, (double)(now_ns() - t0) / 1e6,
	        n_acl, alg_names[pol_gen_alg(g) ? pol_gen_alg(g) & 7 : alg]);

	snprintf(ctname, sizeof(ctname), "pb_ct_%u", sz->rules);
	cc.name = ctname;
	b.g = g;
	b.ct = pol_ct_create(&cc);
	b.meter = pol_meter_create(1, POL_TENANT_ID_MAX + 1);
	if (!b.ct || !b.meter) {
		fprintf(stderr, "pol_ct_create/pol_meter_create: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < pol_gen_n_tenants(g); i++)
		pol_meter_set(b.meter, pol_gen_tenant_at(g, i)->id, &rate, &rate, 1000000000u,
		              now_ns());
	pol_meter_set(b.meter, POL_TENANT_ID_MAX - 1, &rate, &rate, 1000000000u, now_ns());

	b.frames = aligned_alloc(64, N_PKTS * FRAME);
	b.tenant = malloc(N_PKTS * sizeof(*b.tenant));
	b.keys = malloc(N_PKTS * sizeof(*b.keys));
	for (i = 0; i < N_PKTS; i++) {
		struct tpkt p;

		do
			rand_pkt(pol, &p);
		while (p.dir != POL_DIR_INGRESS || p.tenant < 0); /* the worker: tenants' only */
		p.proto = 17; /* UDP frames: the rules' addresses and ports, as UDP */
		if (!p.sport)
			p.sport = (uint16_t)(1024 + rnd() % 60000);
		if (!p.dport)
			p.dport = (uint16_t)(1 + rnd() % 65535);
		build_frame(b.frames[i], &p);
		b.tenant[i] = tenant_id(g, p.tenant);
		pol_acl_key_set(&b.keys[i], b.tenant[i], p.proto, p.src, p.dst, p.sport, p.dport);
	}
	/* warm up: conntrack holds every allowed flow from here on, as in a steady state */
	for (i = 0; i < 3; i++)
		fns[i](&b);
	for (i = 0; i < 3; i++)
		v[i] = calloc(rounds, sizeof(double));
	for (r = 0; r < rounds; r++)
		for (i = 0; i < 3; i++) {
			unsigned k = (i + r) % 3; /* rotate the order too */

			v[k][r] = sample(&b, fns[k], ms);
		}
	for (i = 0; i < 3; i++)
		s[i] = stats(v[i], rounds);
	b.stages = true;
	memset(b.cyc, 0, sizeof(b.cyc));
	for (i = 0; i < 20; i++)
		run_path(&b);
	b.stages = false;
	{
		double k = 1e9 / (double)rte_get_tsc_hz() / (20.0 * N_PKTS);

		fprintf(stderr,
		        "# stages, ns/packet (20 passes, rdtsc per stage): parse %.1f, conntrack "
		        "lookup+track %.1f, ACL %.1f, verdicts+open %.1f, meter %.1f\n",
		        b.cyc[0] * k, b.cyc[1] * k, b.cyc[2] * k, b.cyc[3] * k, b.cyc[4] * k);
	}
	b.admitted = b.denied = 0;
	memset(b.dbg, 0, sizeof(b.dbg));
	run_path(&b);
	fprintf(stderr,
	        "# one pass of the path: %" PRIu64 " denied by the ACL, %" PRIu64
	        " refused by the connection meter, %" PRIu64 " by conntrack\n",
	        b.dbg[0], b.dbg[1], b.dbg[2]);
	printf("| %6u | %6u | %5.1f / %5.1f / %5.1f | %5.1f / %5.1f / %5.1f | "
	       "%5.1f / %5.1f / %5.1f | %.2fx | %s | %.0f%% | %u |\n",
	       sz->rules, n_acl, s[0].min, s[0].med, s[0].max, s[1].min, s[1].med, s[1].max,
	       s[2].min, s[2].med, s[2].max, s[2].med / s[0].med,
	       alg_names[pol_gen_alg(g) ? pol_gen_alg(g) & 7 : alg],
	       100.0 * (double)b.admitted / N_PKTS, pol_ct_count(b.ct));
	fflush(stdout);
	for (i = 0; i < 3; i++)
		free(v[i]);
	free(b.frames);
	free(b.tenant);
	free(b.keys);
	pol_meter_free(b.meter);
	pol_ct_free(b.ct);
	pol_gen_put(g);
	pol_policy_free(pol);
	pol_cfg_errs_clear(&errs);
	return b.sink == 42 ? 1 : 0; /* keep the results alive */
}

/* ---- L7 rows ---- */

/* n_sigs operator signatures (literals and small regexes an IDS might hold) and one operator
 * rule denying proto (17: a candidate for every UDP packet; 6: for none of these) that matches
 * any of them. */
static void
add_l7(struct pol_policy *pol, unsigned n_sigs, uint8_t proto)
{
	struct pol_ruleset *rs = &pol->op;
	struct pol_rule *r;
	unsigned i;

	rs->sigs = calloc(n_sigs, sizeof(*rs->sigs));
	rs->n_sigs = n_sigs;
	rs->rules = realloc(rs->rules, (rs->n_rules + 1) * sizeof(*rs->rules));
	r = &rs->rules[rs->n_rules++];
	memset(r, 0, sizeof(*r));
	r->name = strdup("l7-deny");
	r->priority = POL_PRIO_MAX;
	r->dir = POL_DIR_INGRESS;
	r->action = POL_ACT_DENY;
	r->proto = proto;
	r->sigs = calloc(n_sigs, sizeof(*r->sigs));
	r->n_sigs = n_sigs;
	for (i = 0; i < n_sigs; i++) {
		char name[32], pat[64];

		snprintf(name, sizeof(name), "sig%u", i);
		switch (i % 4) {
		case 0:
			snprintf(pat, sizeof(pat), "attack-%u-payload", i);
			break;
		case 1:
			snprintf(pat, sizeof(pat), "GET /admin%u\\.php", i);
			break;
		case 2:
			snprintf(pat, sizeof(pat), "union\\s+select\\s+%u", i);
			break;
		default:
			snprintf(pat, sizeof(pat), "\\$\\{jndi:[a-z]{2,5}://%u", i);
			break;
		}
		rs->sigs[i].name = strdup(name);
		rs->sigs[i].pattern = strdup(pat);
		rs->sigs[i].flags = i % 2 ? POL_SIGF_CASELESS : 0;
		r->sigs[i].name = strdup(name);
	}
}

/*
 * The full path without an L7 stage [0], with one of n_sigs signatures that scans every packet
 * (payloads of pay_len bytes) [1], and with the same signatures on a TCP-only rule: an L7 stage
 * that no packet is a candidate for [2].
 */
static int
bench_l7(const struct size *sz, unsigned n_sigs, uint32_t pay_len, unsigned rounds, unsigned ms)
{
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_cfg_errs errs = {0};
	struct pol_ct_conf cc = {.entries = 2 * N_PKTS, .socket_id = -1};
	struct pol_rate rate = {.pps = 1000000000ull, .bps = 1000000000000ull, .burst = 1u << 20};
	struct pol_policy *pol[3];
	struct pol_gen *g[3];
	struct bench b[3];
	struct pol_l7_stats st0, st1;
	double *v[3];
	struct stat3 s[3];
	uint8_t *pay;
	uint64_t admitted;
	unsigned i, k, r;
	char ctname[32];

	for (k = 0; k < 3; k++) {
		rng = 0x2545f4914f6cdd1dull ^ sz->rules;
		pol_testgen_seed(rng); /* the same rules in all */
		pol[k] = pol_testgen_policy(sz->shape, sz->rules, sz->tenants, sz->op, false);
		unblock(pol[k]);
		if (k) {
			add_l7(pol[k], n_sigs, k == 1 ? 17 : 6);
			if (pol_policy_validate(pol[k], &errs))
				goto fail;
		}
		g[k] = pol_gen_build(pol[k], NULL, &o, &errs);
		if (!g[k])
			goto fail;
		memset(&b[k], 0, sizeof(b[k]));
		snprintf(ctname, sizeof(ctname), "pb_l7_ct_%u_%u_%u", n_sigs, pay_len, k);
		cc.name = ctname;
		b[k].g = g[k];
		b[k].ct = pol_ct_create(&cc);
		b[k].meter = pol_meter_create(1, POL_TENANT_ID_MAX + 1);
		if (!b[k].ct || !b[k].meter)
			goto fail;
		for (i = 0; i < pol_gen_n_tenants(g[k]); i++)
			pol_meter_set(b[k].meter, pol_gen_tenant_at(g[k], i)->id, &rate, &rate,
			              1000000000u, now_ns());
	}
	/* the same frames, tenants and payloads for all */
	b[0].frames = aligned_alloc(64, N_PKTS * FRAME);
	b[0].tenant = malloc(N_PKTS * sizeof(*b[0].tenant));
	pay = malloc((size_t)N_PKTS * pay_len);
	for (i = 0; i < N_PKTS; i++) {
		struct tpkt p;

		do
			rand_pkt(pol[0], &p);
		while (p.dir != POL_DIR_INGRESS || p.tenant < 0);
		p.proto = 17;
		if (!p.sport)
			p.sport = (uint16_t)(1024 + rnd() % 60000);
		if (!p.dport)
			p.dport = (uint16_t)(1 + rnd() % 65535);
		build_frame(b[0].frames[i], &p);
		b[0].tenant[i] = tenant_id(g[0], p.tenant);
	}
	for (i = 0; i < N_PKTS * pay_len; i++) /* benign text: lower case, digits, spaces */
		pay[i] = (uint8_t) "abcdefghijklmnopqrstuvwxyz0123456789 "[rnd() % 37];
	for (k = 1; k < 3; k++) {
		b[k].frames = b[0].frames;
		b[k].tenant = b[0].tenant;
		b[k].pay = pay;
		b[k].pay_len = pay_len;
	}
	for (k = 0; k < 3; k++) {
		run_path(&b[k]); /* warm up: sessions */
		v[k] = calloc(rounds, sizeof(double));
	}
	pol_l7_stats(g[1], &st0);
	b[1].admitted = 0;
	run_path(&b[1]);
	admitted = b[1].admitted;
	pol_l7_stats(g[1], &st1);
	for (r = 0; r < rounds; r++)
		for (i = 0; i < 3; i++) {
			k = (i + r) % 3;
			v[k][r] = sample(&b[k], run_path, ms);
		}
	for (k = 0; k < 3; k++)
		s[k] = stats(v[k], rounds);
	printf("| %3u | %4u | %5.1f / %5.1f / %5.1f | %5.1f / %5.1f / %5.1f | %.2fx | %.2f | "
	       "%.0f%% | %5.1f / %5.1f / %5.1f | %.2fx |\n",
	       n_sigs, pay_len, s[0].min, s[0].med, s[0].max, s[1].min, s[1].med, s[1].max,
	       s[1].med / s[0].med, (double)(st1.scans - st0.scans) / N_PKTS,
	       100.0 * (double)admitted / N_PKTS, s[2].min, s[2].med, s[2].max,
	       s[2].med / s[0].med);
	fflush(stdout);
	for (k = 0; k < 3; k++) {
		free(v[k]);
		pol_meter_free(b[k].meter);
		pol_ct_free(b[k].ct);
		pol_gen_put(g[k]);
		pol_policy_free(pol[k]);
	}
	free(b[0].frames);
	free(b[0].tenant);
	free(pay);
	pol_cfg_errs_clear(&errs);
	return 0;
fail:
	pol_cfg_errs_print(&errs, stderr);
	fprintf(stderr, "L7 bench setup failed (%u signatures): %s\n", n_sigs, strerror(errno));
	return -1;
}

int
main(int argc, char **argv)
{
	char *eal[64] = {argv[0],
	                 "--no-huge",
	                 "--no-pci",
	                 "--no-shconf",
	                 "-m",
	                 "512",
	                 "--no-telemetry",
	                 "-l",
	                 "0",
	                 "--log-level=lib.eal:warning",
	                 "--log-level=bypassd.policy.*:warning"};
	unsigned n_eal = 11, rounds = 9, ms = 100, i, l7 = 0; /* 1: also L7 rows, 2: only */
	static const struct size sizes[] = {
	        {100, 4, 10, &pol_testgen_complex},
	        {1000, 50, 100, &pol_testgen_complex},
	        {10000, 50, 500, &pol_testgen_moderate},
	};
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "-r") && a + 1 < argc) {
			rounds = (unsigned)atoi(argv[++a]);
		} else if (!strcmp(argv[a], "-t") && a + 1 < argc) {
			ms = (unsigned)atoi(argv[++a]);
		} else if (!strcmp(argv[a], "-l") || !strcmp(argv[a], "-L")) {
			l7 = argv[a][1] == 'l' ? 1 : 2;
		} else if (!strcmp(argv[a], "--")) {
			for (a++; a < argc && n_eal < 63; a++)
				eal[n_eal++] = argv[a];
		} else {
			fprintf(stderr, "usage: %s [-r ROUNDS] [-t MS] [-l|-L] [-- EAL_ARGS...]\n",
			        argv[0]);
			return 2;
		}
	}
	if (rounds < 1)
		rounds = 1;
	if (rte_eal_init((int)n_eal, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	printf("# ingress policy path, ns/packet (min / median / max of %u rounds, %u ms each), "
	       "%u UDP 64-byte frames, bursts of %u\n",
	       rounds, ms, N_PKTS, BURST);
	if (l7 < 2) {
		printf("| rules | rte_acl rules | bare rte_acl_classify | pol_acl_classify | "
		       "full path | path / bare | method | admitted | sessions |\n");
		printf("|---:|---:|---|---|---|---:|---|---:|---:|\n");
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			if (bench_size(&sizes[i], rounds, ms) < 0)
				return 1;
	}
	if (l7) {
		static const unsigned l7_sigs[] = {10, 100}, l7_pay[] = {64, 512};
		unsigned j;

		printf("\n# L7: full path, 1,000 rules + an operator rule denying UDP payloads that "
		       "match any of N signatures (payloads benign, scanned to the end)\n");
		printf("| signatures | payload bytes | path without L7 | path with L7 | with / "
		       "without | scans per packet | admitted | L7, no candidates | no cand. / "
		       "without |\n");
		printf("|---:|---:|---|---|---:|---:|---:|---|---:|\n");
		for (i = 0; i < 2; i++)
			for (j = 0; j < 2; j++)
				if (bench_l7(&sizes[1], l7_sigs[i], l7_pay[j], rounds, ms) < 0)
					return 1;
	}
	rte_eal_cleanup();
	return 0;
}
