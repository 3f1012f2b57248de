/* flow_test.c - unit tests of flow.c's lifecycle against a mock rte_flow port (ld --wrap). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_flow.h>

#include "gw.h"
#include "policy_model.h"

int gw_logtype; /* main.c registers it in the daemon */

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

/* ---- the mock port: every flow it holds, what it refuses ---- */

struct mock_flow {
	uint16_t dport; /* of the pattern's TCP/UDP item, 0 without one */
	bool counted;
	uint64_t hits;
	bool live;
};

static struct {
	struct mock_flow f[1u << 16];
	unsigned n;           /* ever created */
	unsigned live;        /* created and not destroyed */
	unsigned validates;   /* calls */
	bool refuse_count;    /* COUNT refused (like many vdevs and some NICs) */
	uint16_t refuse_port; /* a flow on this destination port is refused */
} mock;

static uint16_t
pattern_dport(const struct rte_flow_item *p)
{
	for (; p->type != RTE_FLOW_ITEM_TYPE_END; p++) {
		if (p->type == RTE_FLOW_ITEM_TYPE_UDP && p->spec)
			return rte_be_to_cpu_16(
			        ((const struct rte_flow_item_udp *)p->spec)->hdr.dst_port);
		if (p->type == RTE_FLOW_ITEM_TYPE_TCP && p->spec)
			return rte_be_to_cpu_16(
			        ((const struct rte_flow_item_tcp *)p->spec)->hdr.dst_port);
	}
	return 0;
}

static bool
has_count(const struct rte_flow_action *a)
{
	for (; a->type != RTE_FLOW_ACTION_TYPE_END; a++)
		if (a->type == RTE_FLOW_ACTION_TYPE_COUNT)
			return true;
	return false;
}

int __wrap_rte_flow_validate(uint16_t port, const struct rte_flow_attr *attr,
                             const struct rte_flow_item pattern[],
                             const struct rte_flow_action actions[], struct rte_flow_error *err);
int
__wrap_rte_flow_validate(uint16_t port, const struct rte_flow_attr *attr,
                         const struct rte_flow_item pattern[],
                         const struct rte_flow_action actions[], struct rte_flow_error *err)
{
	(void)port;
	mock.validates++;
	if (!attr->ingress || attr->egress)
		return -EINVAL;
	if (mock.refuse_count && has_count(actions)) {
		err->message = "mock: no counters";
		return -ENOTSUP;
	}
	if (mock.refuse_port && pattern_dport(pattern) == mock.refuse_port) {
		err->message = "mock: table full";
		return -ENOSPC;
	}
	return 0;
}

struct rte_flow *__wrap_rte_flow_create(uint16_t port, const struct rte_flow_attr *attr,
                                        const struct rte_flow_item pattern[],
                                        const struct rte_flow_action actions[],
                                        struct rte_flow_error *err);
struct rte_flow *
__wrap_rte_flow_create(uint16_t port, const struct rte_flow_attr *attr,
                       const struct rte_flow_item pattern[], const struct rte_flow_action actions[],
                       struct rte_flow_error *err)
{
	struct mock_flow *f;

	if (__wrap_rte_flow_validate(port, attr, pattern, actions, err))
		return NULL;
	mock.validates--;
	if (mock.n == RTE_DIM(mock.f)) {
		rte_errno = ENOSPC;
		return NULL;
	}
	f = &mock.f[mock.n++];
	f->dport = pattern_dport(pattern);
	f->counted = has_count(actions);
	f->live = true;
	mock.live++;
	return (struct rte_flow *)f;
}

/* calloc, failing once for an array of fail_calloc_n members when that is set (out of memory
 * at one chosen allocation) */
static size_t fail_calloc_n;
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *
__wrap_calloc(size_t n, size_t size)
{
	if (fail_calloc_n && n == fail_calloc_n) {
		fail_calloc_n = 0;
		return NULL;
	}
	return __real_calloc(n, size);
}

int __wrap_rte_flow_destroy(uint16_t port, struct rte_flow *flow, struct rte_flow_error *err);
int
__wrap_rte_flow_destroy(uint16_t port, struct rte_flow *flow, struct rte_flow_error *err)
{
	struct mock_flow *f = (struct mock_flow *)flow;

	(void)port;
	(void)err;
	if (!f->live)
		abort(); /* destroyed twice */
	f->live = false;
	mock.live--;
	return 0;
}

int __wrap_rte_flow_query(uint16_t port, struct rte_flow *flow,
                          const struct rte_flow_action *action, void *data,
                          struct rte_flow_error *err);
int
__wrap_rte_flow_query(uint16_t port, struct rte_flow *flow, const struct rte_flow_action *action,
                      void *data, struct rte_flow_error *err)
{
	struct mock_flow *f = (struct mock_flow *)flow;
	struct rte_flow_query_count *q = data;

	(void)port;
	(void)err;
	if (!f->live)
		abort(); /* queried after destroy */
	if (action->type != RTE_FLOW_ACTION_TYPE_COUNT || !f->counted)
		return -ENOTSUP;
	q->hits_set = 1;
	q->bytes_set = 1;
	q->hits = f->hits;
	q->bytes = f->hits * 100;
	return 0;
}

int __wrap_rte_eth_dev_info_get(uint16_t port, struct rte_eth_dev_info *info);
int
__wrap_rte_eth_dev_info_get(uint16_t port, struct rte_eth_dev_info *info)
{
	(void)port;
	memset(info, 0, sizeof(*info));
	info->driver_name = "net_mock";
	return 0;
}

/* ---- helpers ---- */

static struct gw gw;

static struct pol_policy *
load(const char *yaml)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = pol_policy_load_buf("f.yaml", yaml, strlen(yaml), &errs);

	if (!p)
		pol_cfg_errs_print(&errs, stderr);
	pol_cfg_errs_clear(&errs);
	return p;
}

/* Build a generation of p after prev, commit on success, abort on failure (as policy.c does). */
static struct pol_gen *
build(struct pol_policy *p, struct pol_gen *prev, struct pol_cfg_errs *errs)
{
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_gen *g;

	gw_flow_opts(&gw, p, &o);
	g = pol_gen_build(p, prev, &o, errs);
	if (!g)
		gw_flow_abort(&gw);
	else
		gw_flow_commit(&gw, g);
	return g;
}

static struct gw_flow_rule_info
where(struct pol_gen *g, const char *tenant, const char *name)
{
	struct gw_flow_rule_info fi;

	memset(&fi, 0, sizeof(fi));
	if (gw_flow_rule_placement(&gw, pol_gen_rule_id(g, tenant, name), &fi))
		fi.where = (enum gw_flow_where) - 1;
	return fi;
}

#define POLICY_HEAD                                      \
	"tenants:\n"                                     \
	"  - name: a\n"                                  \
	"    addresses: [198.18.0.10, 198.18.0.16/30]\n" \
	"    rules:\n"

/* d1: 2 flows (one port, two tenant prefixes); d2: 4 (two ports); ok: an allow */
static const char POL1[] = POLICY_HEAD
        "      - {name: d1, priority: 1, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [5020]}}\n"
        "      - {name: d2, priority: 2, direction: ingress, action: deny, protocol: tcp,\n"
        "         dst: {ports: [22, 80]}}\n"
        "      - {name: ok, priority: 3, direction: ingress, action: allow}\n"
        "      - {name: nv, priority: 4, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [5021]}, offload: never}\n";

/* d1 unchanged, d2 now one port (22 kept, 80 goes), d3 new */
static const char POL2[] = POLICY_HEAD
        "      - {name: d1, priority: 1, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [5020]}}\n"
        "      - {name: d2, priority: 2, direction: ingress, action: deny, protocol: tcp,\n"
        "         dst: {ports: [22]}}\n"
        "      - {name: d3, priority: 5, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [7000]}}\n";

/* POL2 plus a required rule the mock refuses (port 9999) */
static const char POL3[] = POLICY_HEAD
        "      - {name: d1, priority: 1, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [5020]}}\n"
        "      - {name: d4, priority: 6, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [8000]}}\n"
        "      - {name: d9, priority: 9, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [9999]}, offload: required}\n";

/* an auto rule of two ports of which the mock refuses the second: partial */
static const char POL4[] = POLICY_HEAD
        "      - {name: half, priority: 1, direction: ingress, action: deny, protocol: udp,\n"
        "         src: {cidrs: [10.0.0.0/8]}, dst: {cidrs: [198.18.0.10], ports: [53, 9999]}}\n";

static unsigned
live_on_port(uint16_t dport)
{
	unsigned i, n = 0;

	for (i = 0; i < mock.n; i++)
		n += mock.f[i].live && mock.f[i].dport == dport;
	return n;
}

static void
test_lifecycle(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p1 = load(POL1), *p2 = load(POL2), *p3 = load(POL3), *p4 = load(POL4);
	struct pol_gen *g1, *g2, *g3, *g4;
	struct gw_flow_rule_info fi;
	unsigned created, i;
	bool ok = true;

	if (!p1 || !p2 || !p3 || !p4) {
		check_report("policies load", false);
		return;
	}
	memset(&mock, 0, sizeof(mock));
	gw.port_id = 0;
	CHECK(gw_flow_init(&gw) == 0);

	/* generation 1: d1 2 flows, d2 4, all counted */
	g1 = build(p1, NULL, &errs);
	CHECK(g1 != NULL);
	CHECK(mock.live == 6 && mock.n == 6);
	fi = where(g1, "a", "d1");
	CHECK(fi.where == GW_FLOW_HARDWARE && fi.n_flows == 2 && fi.counted && !fi.reason[0]);
	CHECK(fi.generation == 1);
	fi = where(g1, "a", "d2");
	CHECK(fi.where == GW_FLOW_HARDWARE && fi.n_flows == 4);
	fi = where(g1, "a", "ok");
	CHECK(fi.where == GW_FLOW_SOFTWARE && strstr(fi.reason, "allow rules run in software"));
	fi = where(g1, "a", "nv");
	CHECK(fi.where == GW_FLOW_SOFTWARE && !strcmp(fi.reason, "offload: never"));
	CHECK(live_on_port(5021) == 0);
	check_report("generation 1: deny rules as DROP+COUNT flows, allow and never in software",
	             ok);

	ok = true;
	for (i = 0; i < mock.n; i++)
		mock.f[i].hits = 10; /* the NIC dropped 10 packets per flow */
	fi = where(g1, "a", "d2");
	CHECK(fi.hw_pkts == 40 && fi.hw_bytes == 4000);
	check_report("NIC counters summed over the rule's flows", ok);

	/* generation 2: d1 keeps its 2 flows, d2 keeps 22's 2 flows and loses 80's, d3 new */
	ok = true;
	created = mock.n;
	g2 = build(p2, g1, &errs);
	CHECK(g2 != NULL);
	CHECK(mock.n == created + 2); /* only d3's two flows are new */
	CHECK(mock.live == 2 + 2 + 2);
	CHECK(live_on_port(80) == 0 && live_on_port(22) == 2 && live_on_port(5020) == 2);
	fi = where(g2, "a", "d1");
	CHECK(fi.where == GW_FLOW_HARDWARE && fi.n_flows == 2 && fi.hw_pkts == 20);
	/* d2: 2 flows kept (20 hits go on counting), 2 destroyed (their 20 carried) */
	fi = where(g2, "a", "d2");
	CHECK(fi.where == GW_FLOW_HARDWARE && fi.n_flows == 2 && fi.hw_pkts == 40);
	fi = where(g2, "a", "d3");
	CHECK(fi.where == GW_FLOW_HARDWARE && fi.n_flows == 2 && fi.hw_pkts == 0);
	check_report(
	        "reload: unchanged flows kept (no duplicate), removed ones destroyed, counts carried",
	        ok);

	/* generation 3 fails: d9 is required and refused; nothing changes */
	ok = true;
	mock.refuse_port = 9999;
	created = mock.n;
	g3 = build(p3, g2, &errs);
	CHECK(g3 == NULL);
	CHECK(errs.n == 1 && strstr(errs.v[0].msg, "rule 'd9' cannot run in the NIC: port 0 "
	                                           "(net_mock): rte_flow_validate: mock: table "
	                                           "full"));
	CHECK(errs.n == 1 && errs.v[0].line == 10);
	CHECK(mock.n == created + 2);   /* d4 was created meanwhile ... */
	CHECK(live_on_port(8000) == 0); /* ... and removed again */
	CHECK(mock.live == 6 && live_on_port(22) == 2 && live_on_port(7000) == 2);
	fi = where(g2, "a", "d3");
	CHECK(fi.generation == 2 && fi.where == GW_FLOW_HARDWARE && fi.n_flows == 2);
	pol_cfg_errs_clear(&errs);
	check_report(
	        "a build that fails (required refused) removes what it created, keeps the rest",
	        ok);

	/* generation 3 (again numbered 3): partial; COUNT refused -> DROP alone */
	ok = true;
	mock.refuse_count = true;
	g4 = build(p4, g2, &errs);
	CHECK(g4 != NULL);
	fi = where(g4, "a", "half");
	CHECK(fi.where == GW_FLOW_PARTIAL && fi.n_flows == 1 && fi.n_wanted == 2);
	CHECK(!fi.counted && strstr(fi.reason, "mock: table full"));
	CHECK(mock.live == 1 && live_on_port(53) == 1);
	check_report("partial placement; a port that refuses COUNT gets DROP alone", ok);

	ok = true;
	gw_flow_fini(&gw);
	CHECK(mock.live == 0 && gw.flow == NULL);
	CHECK(gw_flow_rule_placement(&gw, 1, &fi) == -ENOENT);
	check_report("fini removes every flow", ok);

	pol_gen_put(g1);
	pol_gen_put(g2);
	pol_gen_put(g4);
	pol_policy_free(p1);
	pol_policy_free(p2);
	pol_policy_free(p3);
	pol_policy_free(p4);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* every rule in software: nothing to build in the NIC */
static const char POL_SW[] = POLICY_HEAD
        "      - {name: d1, priority: 1, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [5020]}, offload: never}\n"
        "      - {name: ok, priority: 3, direction: ingress, action: allow, offload: never}\n";

/*
 * A reload to a generation without flows whose placements cannot be allocated (out of memory in
 * gw_flow_commit): the previous generation's flows must go all the same. Kept, they would go on
 * dropping in the NIC what the published policy no longer denies there.
 */
static void
test_commit_oom(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p1 = load(POL1), *p2 = load(POL_SW);
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_gen *g1 = NULL, *g2 = NULL;
	struct gw_flow_rule_info fi;
	bool ok = p1 && p2;

	if (ok) {
		memset(&mock, 0, sizeof(mock));
		CHECK(gw_flow_init(&gw) == 0);
		g1 = build(p1, NULL, &errs);
		CHECK(g1 && mock.live == 6);
		gw_flow_opts(&gw, p2, &o);
		g2 = g1 ? pol_gen_build(p2, g1, &o, &errs) : NULL;
		CHECK(g2 != NULL);
		if (g2) {
			fail_calloc_n = pol_gen_n_rules(g2); /* gen_new's placements */
			gw_flow_commit(&gw, g2);
			CHECK(fail_calloc_n == 0); /* the allocation failed */
			fail_calloc_n = 0;
			CHECK(mock.live == 0);
			CHECK(live_on_port(5020) == 0 && live_on_port(22) == 0);
			/* nothing known: the rule runs in software */
			CHECK(gw_flow_rule_placement(&gw, pol_gen_rule_id(g2, "a", "d1"), &fi) !=
			              0 ||
			      fi.where == GW_FLOW_SOFTWARE);
			/* the next reload builds and places again */
			pol_gen_put(g1);
			g1 = build(p1, g2, &errs);
			CHECK(g1 && mock.live == 6);
		}
		gw_flow_fini(&gw);
		CHECK(mock.live == 0);
	}
	check_report("reload without flows, out of memory placing it: the old flows are removed",
	             ok);
	pol_gen_put(g1);
	pol_gen_put(g2);
	pol_policy_free(p1);
	pol_policy_free(p2);
	pol_cfg_errs_clear(&errs);
}

/*
 * flow_test N: the control-path cost of offloading N deny rules (one source /24, one port each:
 * 1 flow each) on the mock port: build without the hook, with it (N flows created), a reload of
 * the same policy (every flow kept), and fini. The NIC's own time is not in it.
 */
static void
bench(unsigned n)
{
	size_t cap = 256 + (size_t)n * 256, off;
	char *y = malloc(cap);
	struct pol_cfg_errs errs = {0};
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_policy *p;
	struct pol_gen *g0, *g1, *g2;
	double t0, t_plain, t_hook, t_reload, t_fini;
	unsigned i;

	off = (size_t)snprintf(y, cap, POLICY_HEAD);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(
		        y + off, cap - off,
		        "      - {name: r%u, priority: %u, direction: ingress, action: "
		        "deny, protocol: udp, src: {cidrs: [10.%u.%u.0/24]}, dst: "
		        "{cidrs: [198.18.0.10], ports: [%u]}}\n",
		        i, i + 1, (i >> 8) & 255, i & 255, 1000 + i % 50000);
	p = load(y);
	free(y);
	if (!p)
		return;
	memset(&mock, 0, sizeof(mock));
	if (n > RTE_DIM(mock.f)) {
		printf("# bench: the mock holds %zu flows; the rest are refused (partial)\n",
		       RTE_DIM(mock.f));
	}
	gw_flow_init(&gw);
	t0 = now_ms();
	g0 = pol_gen_build(p, NULL, &o, &errs);
	t_plain = now_ms() - t0;
	t0 = now_ms();
	g1 = build(p, NULL, &errs);
	t_hook = now_ms() - t0;
	t0 = now_ms();
	g2 = build(p, g1, &errs);
	t_reload = now_ms() - t0;
	t0 = now_ms();
	gw_flow_fini(&gw);
	t_fini = now_ms() - t0;
	printf("# %u deny rules: build %.1f ms without offload, %.1f ms with it (%u flows), "
	       "reload keeping every flow %.1f ms, removing them %.1f ms\n",
	       n, t_plain, t_hook, mock.n, t_reload, t_fini);
	pol_gen_put(g0);
	pol_gen_put(g1);
	pol_gen_put(g2);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
}

int
main(int argc, char **argv)
{
	char *eal[] = {
	        argv[0], "--no-huge",      "--no-shconf", "--no-pci", "-m",
	        "128",   "--no-telemetry", "-l",          "0",        "--log-level=lib.eal:warning",
	        NULL};

	if (rte_eal_init((int)RTE_DIM(eal) - 1, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	if (argc > 1) {
		bench((unsigned)atoi(argv[1]));
		rte_eal_cleanup();
		return 0;
	}
	test_lifecycle();
	test_commit_oom();
	rte_eal_cleanup();
	return check_done();
}
