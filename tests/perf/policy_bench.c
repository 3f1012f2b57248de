/*
 * policy_bench.c - per-packet cost of the gateway's ingress policy path on one core.
 *
 * For 100, 1,000 and 10,000 generated rules (policy/testgen.c, the generator acl_test uses: same
 * shapes and sizes as its timed cases), FLOWS (8192) prebuilt 64-byte UDP frames near the rules,
 * one flow each, bursts of 32, the methods of methods[] timed in interleaved rounds:
 *
 *   bare    rte_acl_classify on the generation's ingress context, keys prebuilt
 *   acl     pol_acl_classify (rte_acl + verdict resolution + per-rule counters), keys prebuilt
 *   path    what gw_policy_ingress does per burst, from the frames: parse (Ethernet/IPv4/UDP
 *           5-tuple extraction, tenant lookup by destination) -> conntrack (pol_ct_key_set,
 *           pol_ct_lookup_burst, pol_ct_track, pol_ct_open for new allowed flows) -> ACL
 *           (pol_acl_key_set, pol_acl_classify) -> meter (pol_meter_conn for new flows,
 *           pol_meter_pkt_burst on the admitted packets; every tenant metered, limits never
 *           reached)
 *
 * Flow mix, steady state: every NEW_EVERY-th packet (10) is a new flow each pass (its source
 * port changes, in the frames and the prebuilt keys alike), so the table fills up and each new
 * flow then evicts the oldest transient session; the other flows were answered once by the
 * tenant during warm-up (established, udp_replied). -u leaves them unanswered (udp_new, on the
 * LRU lists), -n 0 -u is the bench's first mix (every packet a hit on a transient session).
 *
 * Not included: stk_input's checks (MAC, IP checksum, port lookup), mbuf handling, L7 (but -l).
 * A second table breaks the path down by stage (foreach_stage: one extra pass, rdtsc around each).
 * To add a method: a run_fn and a row in methods[]; a stage: foreach_stage and a STAGE_END.
 *
 * -l adds the L7 rows (-L: only those): the full path of the 1,000-rule policy, the same frames
 * and flow mix, as generated (no L7), plus an operator rule that denies UDP payloads matching any
 * of 10 or 100 Hyperscan signatures (every packet a candidate; benign payloads of 64 or 512
 * bytes, one per flow, in a buffer of their own: every scan runs to the end, nothing matches),
 * and with the signatures on a TCP-only rule instead (an L7 stage no packet is a candidate for):
 * the variants of l7_variants[], interleaved in the same run. The stage table gets an L7 column.
 *
 * policy_bench [-r ROUNDS] [-t MS_PER_SAMPLE] [-f FLOWS] [-n NEW_EVERY] [-u] [-s RULES] [-w]
 *              [-l|-L] [-- EXTRA_EAL_ARGS...]
 * Samples are the thread's CPU time (time slices of other processes on a shared CPU do not
 * count; their cache pollution does); -w: wall time.
 *   e.g. taskset -c 1 policy_bench -- --force-max-simd-bitwidth=512
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_acl.h>
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_prefetch.h>

#include "acl.h"
#include "testgen.h"
#include "acl_priv.h"
#include "ct.h"
#include "l7.h"
#include "meter.h"

#define BURST 32u
#define FRAME 64u

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

/* The worker's clock (gw_now_ns in gateway/gw.h): TSC scaled to ns, read once per burst. */
static uint64_t tsc_ns_mult;

static inline uint64_t
tsc_ns(void)
{
	return (uint64_t)(((unsigned __int128)rte_get_tsc_cycles() * tsc_ns_mult) >> 32);
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
build_frame(uint8_t *f, const struct pol_testgen_pkt *p)
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

/* Stages of the path, timed separately in the breakdown pass: _(ENUM, "name"). */
#define foreach_stage(_)              \
	_(PARSE, "parse")             \
	_(CT_LOOKUP, "ct lookup")     \
	_(CT_TRACK, "ct track")       \
	_(ACL, "ACL")                 \
	_(L7, "L7")                   \
	_(OPEN, "verdicts + ct open") \
	_(METER, "meter")

/* clang-format off */
enum stage {
#define _(e, n) S_##e,
	foreach_stage(_)
#undef _
	S__MAX
};
static const char *const stage_names[S__MAX] = {
#define _(e, n) n,
	foreach_stage(_)
#undef _
};
/* clang-format on */

struct bench {
	const struct pol_gen *g;
	struct pol_ct *ct;
	struct pol_meter *meter;
	unsigned n_pkts;          /* frames, one flow each */
	uint8_t (*frames)[FRAME]; /* [n_pkts], 64-byte aligned, in a row */
	uint16_t *tenant;         /* per packet: which tenant the packet is for */
	struct pol_acl_key *keys; /* for bare and acl: the same packets as the frames */
	unsigned new_every;       /* every new_every-th packet is a new flow each pass; 0: none */
	uint16_t pass;            /* passes so far: the new flows' source ports */
	uint64_t admitted, denied, sink, dbg[4];
	const uint8_t *pay; /* L7: n_pkts payloads of pay_len bytes in a row (NULL: the frames') */
	uint32_t pay_len;
	bool stages;          /* time each stage (rdtsc per burst and stage): the breakdown pass */
	uint64_t cyc[S__MAX]; /* cycles per stage, summed */
};

/*
 * Before each pass (of every method): the new-flow packets get a source port no earlier pass
 * used, in the frames and in the prebuilt keys alike, so bare/acl classify the same packets the
 * path sees. ~0.1 ns/packet, in every method's time.
 */
static void
next_pass(struct bench *b)
{
	unsigned i;
	uint16_t sp;

	b->pass++;
	if (!b->new_every)
		return;
	sp = (uint16_t)(1024 + (b->pass % 64000));
	for (i = 0; i < b->n_pkts; i += b->new_every) {
		put16(b->frames[i] + 34, sp);
		b->keys[i].sport_be = __builtin_bswap16(sp);
	}
}

static void
run_bare(struct bench *b)
{
	const uint8_t *data[BURST];
	uint32_t res[BURST * POL_ACL_CATS_SIGS];
	struct rte_acl_ctx *ctx = b->g->ctx[POL_DIR_INGRESS];
	uint32_t ncat = b->g->ncat[POL_DIR_INGRESS];
	unsigned i, j;

	next_pass(b);
	for (i = 0; i < b->n_pkts; i += BURST) {
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

	next_pass(b);
	for (j = 0; j < BURST; j++)
		lens[j] = FRAME;
	for (i = 0; i < b->n_pkts; i += BURST) {
		pol_acl_classify(b->g, POL_DIR_INGRESS, 0, &b->keys[i], lens, BURST, out);
		b->sink += out[0].rule;
	}
}

#define STAGE_END(b, s, t)                         \
	do {                                       \
		if ((b)->stages) {                 \
			uint64_t t_ = rte_rdtsc(); \
			(b)->cyc[s] += t_ - (t);   \
			(t) = t_;                  \
		}                                  \
	} while (0)

/*
 * gw_policy_ingress (gateway/policy.c), from the frames: the same calls in the same order. The
 * frames are UDP, so the TCP parse and the ICMP port rule never apply; they stay to keep the
 * code the same. With L7 (a generation with ingress signature rules), the payloads are b->pay's.
 */
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
	const uint8_t *apay[BURST];
	uint32_t aplen[BURST];
	unsigned base, i, j, na;

	next_pass(b);
	for (base = 0; base < b->n_pkts; base += BURST) {
		uint64_t now = tsc_ns(), t = b->stages ? rte_rdtsc() : 0;
		const bool l7 = pol_l7_on(g, POL_DIR_INGRESS);

		/*
		 * parse: what stk_input and rx_burst hand gw_policy_ingress, then its packet init;
		 * frames prefetched 4 ahead as rx_burst (gateway/worker_fp.c) does
		 */
		for (i = 0; i < 4; i++)
			rte_prefetch0(b->frames[base + i]);
		for (i = 0; i < BURST; i++) {
			const uint8_t *f = b->frames[base + i];

			if (i + 4 < BURST)
				rte_prefetch0(b->frames[base + i + 4]);
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
		STAGE_END(b, S_PARSE, t);
		pol_ct_lookup_burst(b->ct, ck, BURST, idx);
		STAGE_END(b, S_CT_LOOKUP, t);
		na = 0;
		for (i = 0; i < BURST; i++) {
			struct pol_ct_info ci;
			enum pol_ct_verdict v =
			        pol_ct_track(b->ct, idx[i], &ck[i], &cp[i], now, &ci);

			if (v == POL_CT_INVALID) {
				ok[i] = false;
				continue;
			}
			/* (with L7 the gateway scans these too; the frames are all originals) */
			if (v == POL_CT_REPLY && ci.admit_reply)
				continue;
			ctv[i] = (uint8_t)v;
			pol_acl_key_set(&ak[na], tenant[i], cp[i].proto, cp[i].src, cp[i].dst,
			                cp[i].proto == 1 ? 0 : cp[i].sport,
			                cp[i].proto == 1 ? 0 : cp[i].dport);
			alen[na] = lens[i];
			if (l7) {
				/* the flow's payload; without b->pay what follows the UDP header */
				apay[na] = b->pay ? b->pay + (size_t)(base + i) * b->pay_len
				                  : b->frames[base + i] + 42;
				aplen[na] = b->pay ? b->pay_len : FRAME - 42;
			}
			ai[na++] = (uint8_t)i;
		}
		STAGE_END(b, S_CT_TRACK, t);
		if (na && likely(!l7)) {
			pol_acl_classify(g, POL_DIR_INGRESS, 0, ak, alen, na, av);
		} else if (na) {
			/* the gateway's L7 path: classify uncounted, scan, count the final rule */
			pol_acl_classify(g, POL_DIR_INGRESS, 0, ak, NULL, na, av);
			STAGE_END(b, S_ACL, t);
			pol_l7_resolve(g, POL_DIR_INGRESS, 0, ak, apay, aplen, na, av);
			STAGE_END(b, S_L7, t);
			for (j = 0; j < na; j++)
				pol_gen_count(g, 0, av[j].rule, alen[j]);
		}
		STAGE_END(b, S_ACL, t);
		/* verdicts; conntrack open (new flows) */
		for (j = 0; j < na; j++) {
			i = ai[j];
			if (av[j].action != POL_ACT_ALLOW) {
				ok[i] = false;
				b->dbg[0]++;
				continue;
			}
			if (ctv[i] == POL_CT_NEW) {
				const struct pol_gen_tenant *tn =
				        pol_gen_tenant_by_id(g, tenant[i]);
				struct pol_ct_admit a = {
				        .cap = tn ? tn->sessions_per_worker : 0,
				        .rule = av[j].rule,
				        .gen = pol_gen_number(g),
				        .admit_reply = (av[j].flags & POL_RULE_F_STATEFUL) != 0,
				};

				if (cp[i].proto != 6 ||
				    (cp[i].tcp_flags & (POL_CT_TCP_SYN | POL_CT_TCP_ACK)) ==
				            POL_CT_TCP_SYN) {
					if (!pol_meter_conn(b->meter, 0, tenant[i], now)) {
						b->dbg[1]++;
						ok[i] = false;
						continue;
					}
				}
				if (pol_ct_open(b->ct, &ck[i], &cp[i], &a, now) == -ENOSPC) {
					b->dbg[2]++;
					ok[i] = false;
				}
			}
		}
		STAGE_END(b, S_OPEN, t);
		pol_meter_pkt_burst(b->meter, 0, POL_METER_INGRESS, tenant, lens, BURST, now, ok);
		for (i = 0; i < BURST; i++) {
			if (ok[i])
				b->admitted++;
			else
				b->denied++;
		}
		STAGE_END(b, S_METER, t);
	}
}

typedef void run_fn(struct bench *);

/*
 * The clock samples are taken with: the thread's CPU time by default, so time slices that other
 * processes take on a shared CPU do not count (their cache pollution still does); -w: wall time.
 */
static clockid_t sample_clock = CLOCK_THREAD_CPUTIME_ID;

static uint64_t
sample_ns(void)
{
	struct timespec ts;

	clock_gettime(sample_clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ns/packet of fn over ms milliseconds (whole passes over the packets). */
static double
sample(struct bench *b, run_fn *fn, unsigned ms)
{
	uint64_t t0 = sample_ns(), t, passes = 0;

	do {
		fn(b);
		passes++;
		t = sample_ns() - t0;
	} while (t < (uint64_t)ms * 1000000ull);
	return (double)t / (double)(passes * b->n_pkts);
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

/* The methods timed, one table row each; the first is the baseline of the "x bare" column. */
struct method {
	const char *name;
	run_fn *fn;
};
static const struct method methods[] = {
        {"bare rte_acl_classify", run_bare},
        {"pol_acl_classify", run_acl},
        {"full path", run_path},
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

/*
 * The L7 rows: the full path on the same policy and frames, one row each; the first is the
 * baseline of the "x no L7" column. proto: the protocol of the operator rule that denies the
 * payloads matching any of the signatures (17: every frame is a candidate, 6: none is); 0: no
 * such rule, no L7 stage.
 */
struct l7_variant {
	const char *name;
	uint16_t proto;
};
static const struct l7_variant l7_variants[] = {
        {"no L7", 0},
        {"UDP rule (every packet scanned)", 17},
        {"TCP-only rule (no candidates)", 6},
};
#define N_L7 (sizeof(l7_variants) / sizeof(l7_variants[0]))

#define STAGE_REPS 11

/* The stage table (printed last): one row per size, and per L7 variant. */
struct stage_row {
	char label[64];
	double ns[S__MAX]; /* ns/packet */
};
static struct stage_row stage_rows[3 + 4 * N_L7];
static unsigned n_stage_rows;

struct opts {
	unsigned rounds, ms, n_pkts, new_every;
	bool unreplied;
	unsigned l7; /* 0: no L7 rows, 1: also L7 rows, 2: only L7 rows */
};

/* The reply of the flow in frame f, tracked: the session becomes established (udp_replied). */
static void
answer(struct bench *b, unsigned f, uint64_t now)
{
	const uint8_t *fr = b->frames[f];
	struct pol_ct_pkt p = {
	        .src = get32(fr + 30),
	        .dst = get32(fr + 26),
	        .sport = get16(fr + 36),
	        .dport = get16(fr + 34),
	        .proto = fr[23],
	        .tenant = b->tenant[f],
	};
	struct pol_ct_key k;

	pol_ct_key_set(&k, &p);
	pol_ct_track(b->ct, pol_ct_lookup(b->ct, &k), &k, &p, now, NULL);
}

/* b for generation g: its conntrack and meter (every tenant metered, limits never reached). */
static int
bench_open(struct bench *b, const struct pol_gen *g, const struct opts *op, const char *ctname)
{
	struct pol_ct_conf cc = {.name = ctname, .entries = 2 * op->n_pkts, .socket_id = -1};
	struct pol_rate rate = {.pps = 1000000000ull, .bps = 1000000000000ull, .burst = 1u << 20};
	unsigned i;

	b->g = g;
	b->n_pkts = op->n_pkts;
	b->new_every = op->new_every;
	b->ct = pol_ct_create(&cc);
	b->meter = pol_meter_create(1, POL_TENANT_ID_MAX + 1);
	if (!b->ct || !b->meter) {
		fprintf(stderr, "pol_ct_create/pol_meter_create: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < pol_gen_n_tenants(g); i++)
		pol_meter_set(b->meter, pol_gen_tenant_at(g, i)->id, &rate, &rate, 1000000000u,
		              tsc_ns());
	pol_meter_set(b->meter, POL_TENANT_ID_MAX - 1, &rate, &rate, 1000000000u, tsc_ns());
	return 0;
}

/* b's frames, tenants and keys (returned owned by b): UDP flows near pol's rules, from rnd(). */
static int
build_frames(struct bench *b, const struct pol_policy *pol)
{
	unsigned i;

	b->frames = aligned_alloc(64, (size_t)b->n_pkts * FRAME);
	b->tenant = malloc(b->n_pkts * sizeof(*b->tenant));
	b->keys = malloc(b->n_pkts * sizeof(*b->keys));
	if (!b->frames || !b->tenant || !b->keys) {
		fprintf(stderr, "out of memory\n");
		return -1;
	}
	for (i = 0; i < b->n_pkts; i++) {
		struct pol_testgen_pkt p;

		do
			pol_testgen_rand_pkt(pol, &p);
		while (p.dir != POL_DIR_INGRESS || p.tenant < 0); /* the worker: tenants' only */
		p.proto = 17; /* UDP frames: the rules' addresses and ports, as UDP */
		if (!p.sport)
			p.sport = (uint16_t)(1024 + rnd() % 60000);
		if (!p.dport)
			p.dport = (uint16_t)(1 + rnd() % 65535);
		build_frame(b->frames[i], &p);
		b->tenant[i] = tenant_id(b->g, p.tenant);
		pol_acl_key_set(&b->keys[i], b->tenant[i], p.proto, p.src, p.dst, p.sport, p.dport);
	}
	return 0;
}

/*
 * Warm up: the first path pass opens a session for every flow allowed; then the tenant answers
 * each flow that is not a new one (not timed), so those sessions are established (udp_replied:
 * off the eviction lists) as in a steady state. The new flows fill the table's other half and
 * then evict the oldest of their kind, one per new flow.
 */
static void
warm_up(struct bench *b, const struct opts *op)
{
	unsigned i;

	run_path(b);
	if (!op->unreplied)
		for (i = 0; i < b->n_pkts; i++)
			if (!b->new_every || i % b->new_every)
				answer(b, i, tsc_ns());
}

/*
 * The breakdown of the path on b[0..n-1] into row[0..n-1].ns: STAGE_REPS repetitions of 2 passes
 * each (the benches in turn, the order rotating), each stage's median over them. With several
 * benches, an untimed pass first: the caches as a bench's own passes leave them, not the others'.
 */
static void
breakdown(struct bench *b, unsigned n, struct stage_row *row)
{
	double cyc[N_L7][S__MAX][STAGE_REPS];
	double k = 1e9 / (double)rte_get_tsc_hz() / (2.0 * b[0].n_pkts);
	unsigned i, r, s;

	for (i = 0; i < n; i++)
		b[i].stages = true;
	for (r = 0; r < STAGE_REPS; r++)
		for (i = 0; i < n; i++) {
			struct bench *x = &b[(i + r) % n];

			if (n > 1) {
				x->stages = false;
				run_path(x);
				x->stages = true;
			}
			memset(x->cyc, 0, sizeof(x->cyc));
			run_path(x);
			run_path(x);
			for (s = 0; s < S__MAX; s++)
				cyc[(i + r) % n][s][r] = (double)x->cyc[s];
		}
	for (i = 0; i < n; i++) {
		b[i].stages = false;
		for (s = 0; s < S__MAX; s++)
			row[i].ns[s] = stats(cyc[i][s], STAGE_REPS).med * k;
	}
}

static int
bench_size(const struct size *sz, const struct opts *op)
{
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_cfg_errs errs = {0};
	struct bench b = {0};
	struct pol_policy *pol;
	struct pol_gen *g;
	double *v[N_METHODS];
	struct stat3 s[N_METHODS];
	struct stage_row *row = &stage_rows[n_stage_rows++];
	uint64_t t0;
	unsigned i, r, n_acl;
	int alg;
	char ctname[32];
	const char *alg_name;

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
	alg_name = alg_names[pol_gen_alg(g) ? pol_gen_alg(g) & 7 : alg];
	fprintf(stderr,
	        "# %u rules (%u tenants, %u operator, %s): built in %.0f ms, %u rte_acl "
	        "rules ingress, classify method %s\n",
	        sz->rules, sz->tenants, sz->op, sz->shape->name, (double)(now_ns() - t0) / 1e6,
	        n_acl, alg_name);

	snprintf(ctname, sizeof(ctname), "pb_ct_%u", sz->rules);
	if (bench_open(&b, g, op, ctname) || build_frames(&b, pol))
		return -1;
	warm_up(&b, op);
	for (i = 0; i < N_METHODS; i++)
		methods[i].fn(&b);
	for (i = 0; i < N_METHODS; i++)
		v[i] = calloc(op->rounds, sizeof(double));
	for (r = 0; r < op->rounds; r++)
		for (i = 0; i < N_METHODS; i++) {
			unsigned k = (i + r) % N_METHODS; /* rotate the order too */

			v[k][r] = sample(&b, methods[k].fn, op->ms);
		}
	for (i = 0; i < N_METHODS; i++)
		s[i] = stats(v[i], op->rounds);

	snprintf(row->label, sizeof(row->label), "%u", sz->rules);
	breakdown(&b, 1, row);
	b.admitted = b.denied = 0;
	memset(b.dbg, 0, sizeof(b.dbg));
	run_path(&b);
	fprintf(stderr,
	        "# one pass of the path: %" PRIu64 " denied by the ACL, %" PRIu64
	        " refused by the connection meter, %" PRIu64 " by conntrack; %" PRIu64
	        " sessions created, %" PRIu64 " evicted so far\n",
	        b.dbg[0], b.dbg[1], b.dbg[2], pol_ct_counter(b.ct, POL_CT_CNT_CREATED),
	        pol_ct_counter(b.ct, POL_CT_CNT_EVICTED_FULL));

	for (i = 0; i < N_METHODS; i++)
		printf("| %u | %u | %s | %.1f / **%.1f** / %.1f | %.2fx | %s | %.0f%% | %u |\n",
		       sz->rules, n_acl, methods[i].name, s[i].min, s[i].med, s[i].max,
		       s[i].med / s[0].med, alg_name, 100.0 * (double)b.admitted / b.n_pkts,
		       pol_ct_count(b.ct));
	fflush(stdout);
	for (i = 0; i < N_METHODS; i++)
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

/*
 * n_sigs operator signatures (literals and small regexes an IDS might hold, every other one
 * caseless) and one operator rule, the last to rank, denying protocol proto (17: a candidate for
 * every frame here; 6: for none) when its payload matches any of them. 0, or -ENOMEM.
 */
static int
add_l7(struct pol_policy *pol, unsigned n_sigs, uint16_t proto)
{
	struct pol_ruleset *rs = &pol->op;
	struct pol_rule *rules, *r;
	unsigned i;

	rules = realloc(rs->rules, (rs->n_rules + 1) * sizeof(*rs->rules));
	if (!rules)
		return -ENOMEM;
	rs->rules = rules;
	rs->sigs = calloc(n_sigs, sizeof(*rs->sigs));
	if (!rs->sigs)
		return -ENOMEM;
	rs->n_sigs = n_sigs;
	r = &rs->rules[rs->n_rules++];
	memset(r, 0, sizeof(*r));
	r->name = strdup("l7-deny");
	r->priority = POL_PRIO_MAX;
	r->dir = POL_DIR_INGRESS;
	r->action = POL_ACT_DENY;
	r->proto = proto;
	r->sigs = calloc(n_sigs, sizeof(*r->sigs));
	if (!r->name || !r->sigs)
		return -ENOMEM;
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
		rs->sigs[i].action = POL_SIG_DENY;
		r->sigs[i].name = strdup(name);
		if (!rs->sigs[i].name || !rs->sigs[i].pattern || !r->sigs[i].name)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The rows of l7_variants[] for sz's policy with n_sigs signatures and payloads of pay_len bytes:
 * the frames, flow mix and warm-up of the size's rows (the same packets), a conntrack and meter
 * per variant, sampled in interleaved rounds; their stage rows.
 */
static int
bench_l7(const struct size *sz, unsigned n_sigs, uint32_t pay_len, const struct opts *op)
{
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_cfg_errs errs = {0};
	struct pol_policy *pol[N_L7] = {0};
	struct pol_gen *g[N_L7] = {0};
	struct bench b[N_L7];
	struct pol_l7_stats st0, st1;
	double *v[N_L7] = {0};
	struct stat3 s[N_L7];
	struct stage_row *row = &stage_rows[n_stage_rows];
	uint64_t scans[N_L7], sink = 0;
	uint8_t *pay = NULL;
	size_t i;
	unsigned k, r;
	int ret = -1;
	char ctname[32];

	memset(b, 0, sizeof(b));
	for (k = 0; k < N_L7; k++) {
		rng = 0x2545f4914f6cdd1dull ^ sz->rules;
		pol_testgen_seed(rng); /* the same rules in all, the size's */
		pol[k] = pol_testgen_policy(sz->shape, sz->rules, sz->tenants, sz->op, false);
		unblock(pol[k]);
		if (l7_variants[k].proto && (add_l7(pol[k], n_sigs, l7_variants[k].proto) ||
		                             pol_policy_validate(pol[k], &errs)))
			goto out;
		g[k] = pol_gen_build(pol[k], NULL, &o, &errs);
		if (!g[k])
			goto out;
		snprintf(ctname, sizeof(ctname), "pb_l7_ct_%u_%u_%u", n_sigs, pay_len, k);
		if (bench_open(&b[k], g[k], op, ctname))
			goto out;
	}
	/* rng as after the size's policy: its frames; then the payloads */
	if (build_frames(&b[0], pol[0]))
		goto out;
	pay = malloc((size_t)op->n_pkts * pay_len);
	if (!pay)
		goto out;
	for (i = 0; i < (size_t)op->n_pkts * pay_len; i++) /* benign text: a-z, 0-9, spaces */
		pay[i] = (uint8_t) "abcdefghijklmnopqrstuvwxyz0123456789 "[rnd() % 37];
	for (k = 0; k < N_L7; k++) {
		b[k].frames = b[0].frames;
		b[k].tenant = b[0].tenant;
		b[k].keys = b[0].keys; /* next_pass keeps them in step */
		b[k].pay = pay;
		b[k].pay_len = pay_len;
		warm_up(&b[k], op);
		run_path(&b[k]);
		v[k] = calloc(op->rounds, sizeof(double));
		if (!v[k])
			goto out;
	}
	for (r = 0; r < op->rounds; r++)
		for (k = 0; k < N_L7; k++) {
			unsigned x = (k + r) % N_L7; /* rotate the order too */

			v[x][r] = sample(&b[x], run_path, op->ms);
		}
	for (k = 0; k < N_L7; k++)
		s[k] = stats(v[k], op->rounds);
	for (k = 0; k < N_L7; k++)
		snprintf(row[k].label, sizeof(row[k].label), "%u + %u sigs, %u B: %s", sz->rules,
		         n_sigs, pay_len, l7_variants[k].name);
	breakdown(b, N_L7, row);
	n_stage_rows += N_L7;
	/* one more pass each: admitted, payloads scanned */
	for (k = 0; k < N_L7; k++) {
		b[k].admitted = b[k].denied = 0;
		memset(b[k].dbg, 0, sizeof(b[k].dbg));
		pol_l7_stats(g[k], &st0);
		run_path(&b[k]);
		pol_l7_stats(g[k], &st1);
		scans[k] = st1.scans - st0.scans;
	}
	fprintf(stderr,
	        "# L7, %u signatures, %u-byte payloads, one pass: %" PRIu64 " denied by the ACL "
	        "with the UDP rule, %" PRIu64 " without L7\n",
	        n_sigs, pay_len, b[1].dbg[0], b[0].dbg[0]);
	for (k = 0; k < N_L7; k++)
		printf("| %u | %u B | %s | %.1f / **%.1f** / %.1f | %.2fx | %.2f | %.0f%% | %u |\n",
		       n_sigs, pay_len, l7_variants[k].name, s[k].min, s[k].med, s[k].max,
		       s[k].med / s[0].med, (double)scans[k] / b[k].n_pkts,
		       100.0 * (double)b[k].admitted / b[k].n_pkts, pol_ct_count(b[k].ct));
	fflush(stdout);
	ret = 0;
out:
	if (ret) {
		pol_cfg_errs_print(&errs, stderr);
		fprintf(stderr, "L7 bench setup failed (%u signatures): %s\n", n_sigs,
		        strerror(errno));
	}
	for (k = 0; k < N_L7; k++) {
		free(v[k]);
		pol_meter_free(b[k].meter);
		pol_ct_free(b[k].ct);
		pol_gen_put(g[k]);
		pol_policy_free(pol[k]);
	}
	free(b[0].frames);
	free(b[0].tenant);
	free(b[0].keys);
	free(pay);
	pol_cfg_errs_clear(&errs);
	for (k = 0; k < N_L7; k++)
		sink += b[k].sink;
	return ret < 0 ? ret : sink == 42; /* keep the results alive */
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
	struct opts op = {.rounds = 9, .ms = 100, .n_pkts = 8192, .new_every = 10};
	static const struct size sizes[] = {
	        {100, 4, 10, &pol_testgen_complex},
	        {1000, 50, 100, &pol_testgen_complex},
	        {10000, 50, 500, &pol_testgen_moderate},
	};
	static const unsigned l7_sigs[] = {10, 100}, l7_pay[] = {64, 512};
	unsigned n_eal = 11, only = 0, i, j;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "-r") && a + 1 < argc) {
			op.rounds = (unsigned)atoi(argv[++a]);
		} else if (!strcmp(argv[a], "-t") && a + 1 < argc) {
			op.ms = (unsigned)atoi(argv[++a]);
		} else if (!strcmp(argv[a], "-f") && a + 1 < argc) {
			op.n_pkts = (unsigned)atoi(argv[++a]);
		} else if (!strcmp(argv[a], "-n") && a + 1 < argc) {
			op.new_every = (unsigned)atoi(argv[++a]);
		} else if (!strcmp(argv[a], "-s") && a + 1 < argc) {
			only = (unsigned)atoi(argv[++a]);
		} else if (!strcmp(argv[a], "-u")) {
			op.unreplied = true;
		} else if (!strcmp(argv[a], "-w")) {
			sample_clock = CLOCK_MONOTONIC;
		} else if (!strcmp(argv[a], "-l") || !strcmp(argv[a], "-L")) {
			op.l7 = argv[a][1] == 'l' ? 1 : 2;
		} else if (!strcmp(argv[a], "--")) {
			for (a++; a < argc && n_eal < 63; a++)
				eal[n_eal++] = argv[a];
		} else {
			fprintf(stderr,
			        "usage: %s [-r ROUNDS] [-t MS] [-f FLOWS] [-n NEW_EVERY] [-u] "
			        "[-s RULES] [-w] [-l|-L] [-- EAL_ARGS...]\n",
			        argv[0]);
			return 2;
		}
	}
	if (op.rounds < 1)
		op.rounds = 1;
	op.n_pkts = (op.n_pkts + BURST - 1) / BURST * BURST;
	if (op.n_pkts < BURST)
		op.n_pkts = BURST;
	if (rte_eal_init((int)n_eal, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	tsc_ns_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / rte_get_tsc_hz());
	printf("# ingress policy path, ns/packet of %s time (min / median / max of %u rounds, %u ms "
	       "each): ",
	       sample_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU", op.rounds, op.ms);
	printf("%u UDP 64-byte frames, one flow each, bursts of %u; ", op.n_pkts, BURST);
	if (op.new_every)
		printf("every %u%s packet a new flow each pass, ", op.new_every,
		       op.new_every == 1   ? "st"
		       : op.new_every == 2 ? "nd"
		                           : "th");
	printf("the other flows %s\n",
	       op.unreplied ? "unanswered (udp_new sessions, on the LRU lists)"
	                    : "answered once by the tenant (established: udp_replied)");
	if (op.l7 < 2) {
		printf("\n| rules | rte_acl rules | method | ns/packet min / **median** / max | "
		       "x bare | classify | admitted | sessions |\n");
		printf("|---:|---:|---|---|---:|---|---:|---:|\n");
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			if (only && sizes[i].rules != only)
				continue;
			if (bench_size(&sizes[i], &op) < 0)
				return 1;
		}
	}
	if (op.l7) {
		printf("\nL7: the full path at %u rules, without and with an operator rule that denies "
		       "payloads matching any of N signatures (payloads benign, scanned to the end)\n",
		       sizes[1].rules);
		printf("\n| signatures | payload | L7 | ns/packet min / **median** / max | x no L7 | "
		       "scans/packet | admitted | sessions |\n");
		printf("|---:|---:|---|---|---:|---:|---:|---:|\n");
		for (i = 0; i < sizeof(l7_sigs) / sizeof(l7_sigs[0]); i++)
			for (j = 0; j < sizeof(l7_pay) / sizeof(l7_pay[0]); j++)
				if (bench_l7(&sizes[1], l7_sigs[i], l7_pay[j], &op) < 0)
					return 1;
	}
	/* the stage table; its L7 column only when there are L7 rows */
	printf("\nfull path by stage, ns/packet (rdtsc around each stage, wall time: median of %u "
	       "repetitions of 2 passes)\n\n| rules |",
	       STAGE_REPS);
	for (i = 0; i < S__MAX; i++)
		if (i != S_L7 || op.l7)
			printf(" %s |", stage_names[i]);
	printf(" sum |\n|---:|");
	for (i = 0; i < S__MAX; i++)
		if (i != S_L7 || op.l7)
			printf("---:|");
	printf("---:|\n");
	for (j = 0; j < n_stage_rows; j++) {
		double sum = 0;

		printf("| %s |", stage_rows[j].label);
		for (i = 0; i < S__MAX; i++) {
			sum += stage_rows[j].ns[i];
			if (i != S_L7 || op.l7)
				printf(" %.1f |", stage_rows[j].ns[i]);
		}
		printf(" %.1f |\n", sum);
	}
	rte_eal_cleanup();
	return 0;
}
