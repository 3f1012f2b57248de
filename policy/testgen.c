/* testgen.c - random policies for tests and benchmarks (policy/acl_test.c,
 * tests/perf/policy_bench.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testgen.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

uint64_t
pol_testgen_rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
void
pol_testgen_seed(uint64_t seed)
{
	rng = seed ? seed : 0x2545f4914f6cdd1dull; /* xorshift must not start at 0 */
}
#define rnd pol_testgen_rnd

static uint32_t
ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return a << 24 | b << 16 | c << 8 | d;
}

struct pol_policy *
pol_testgen_policy_new(unsigned n_tenants)
{
	struct pol_policy *p = calloc(1, sizeof(*p));
	unsigned i;

	p->file = strdup("generated");
	p->path = strdup("");
	p->n_tenants = n_tenants;
	p->tenants = calloc(n_tenants ? n_tenants : 1, sizeof(*p->tenants));
	for (i = 0; i < n_tenants; i++) {
		struct pol_tenant *t = &p->tenants[i];
		char name[32];

		snprintf(name, sizeof(name), "t%u", i);
		t->name = strdup(name);
		t->n_addrs = 1;
		t->addrs = calloc(1, sizeof(*t->addrs));
		t->addrs[0].addr = ip(198, 19, (i >> 8) & 0xff, i & 0xff);
		t->addrs[0].len = 32;
		t->quota.sessions = POL_QUOTA_SESSIONS_DEFAULT;
		t->dflt[POL_DIR_INGRESS] = (i % 3) ? POL_ACT_DENY : POL_ACT_ALLOW;
		t->dflt[POL_DIR_EGRESS] = (i % 4) ? POL_ACT_ALLOW : POL_ACT_DENY;
	}
	return p;
}

static const uint32_t addr_pool[] = {0x0a000000, 0xc6120000, 0xcb007100, 0xac100000};

static struct pol_prefix
rand_prefix(void)
{
	struct pol_prefix x = {0};
	unsigned r = (unsigned)(rnd() % 10);

	x.len = (uint8_t)(r < 2 ? 8 + rnd() % 9 : r < 6 ? 16 + rnd() % 9 : 24 + rnd() % 9);
	if (rnd() % 8 == 0)
		x.addr = (uint32_t)rnd();
	else
		x.addr = addr_pool[rnd() % 4] | ((uint32_t)rnd() & 0x0003ffff);
	x.addr &= pol_prefix_mask(x.len);
	return x;
}

static bool
pfx_dup(const struct pol_prefix *v, unsigned n, struct pol_prefix x)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (v[i].addr == x.addr && v[i].len == x.len)
			return true;
	return false;
}

const struct pol_testgen_shape pol_testgen_complex = {"complex", 3, 3, 20, 25};
const struct pol_testgen_shape pol_testgen_moderate = {"moderate", 2, 2, 10, 10};
const struct pol_testgen_shape pol_testgen_simple = {"simple", 1, 1, 0, 0};
static const struct pol_testgen_shape *shape = &pol_testgen_complex;

static void
rand_side(struct pol_match *m, bool ports)
{
	unsigned i, n;

	if (rnd() % 10 >= 3) {
		n = 1 + (unsigned)(rnd() % shape->cidrs);
		m->cidrs = calloc(n, sizeof(*m->cidrs));
		for (i = 0; i < n; i++) {
			struct pol_prefix x = rand_prefix();

			if (!pfx_dup(m->cidrs, m->n_cidrs, x))
				m->cidrs[m->n_cidrs++] = x;
		}
	}
	if (rnd() % 100 < shape->except_pct) {
		n = 1 + (unsigned)(rnd() % 2);
		m->except = calloc(n, sizeof(*m->except));
		for (i = 0; i < n; i++) {
			struct pol_prefix c = m->n_cidrs
			                              ? m->cidrs[rnd() % m->n_cidrs]
			                              : (struct pol_prefix){0x0a000000, 8, {0, 0}};
			struct pol_prefix x;

			if (c.len >= 32)
				continue;
			x.len = (uint8_t)(c.len + 1 + rnd() % (32 - c.len));
			x.addr = (c.addr | ((uint32_t)rnd() & ~pol_prefix_mask(c.len))) &
			         pol_prefix_mask(x.len);
			x.loc = (struct pol_loc){0, 0};
			if (!pfx_dup(m->except, m->n_except, x))
				m->except[m->n_except++] = x;
		}
	}
	if (ports && rnd() % 10 < 6) {
		n = 1 + (unsigned)(rnd() % shape->ports);
		m->ports = calloc(n, sizeof(*m->ports));
		for (i = 0; i < n; i++) {
			struct pol_port_range *r = &m->ports[m->n_ports++];
			unsigned k = (unsigned)(rnd() % 10);

			if (k < 4) {
				static const uint16_t common[] = {22, 53, 80, 443, 0, 65535, 8080};

				r->lo = r->hi = common[rnd() % 7];
			} else if (k < 6) {
				r->lo = r->hi = (uint16_t)(rnd() % 2048);
			} else {
				uint32_t lo = (uint32_t)(rnd() % 4000),
				         hi = lo + (uint32_t)(rnd() % 600);

				if (k == 9) {
					lo = 1024 + (uint32_t)(rnd() % 1000);
					hi = 65535;
				}
				r->lo = (uint16_t)lo;
				r->hi = (uint16_t)(hi > 65535 ? 65535 : hi);
			}
		}
	}
}

static void
rand_rules(struct pol_ruleset *rs, unsigned n, const char *prefix, bool sigs)
{
	unsigned i, *perm = malloc((n ? n : 1) * sizeof(*perm));

	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n; i > 1; i--) {
		unsigned j = (unsigned)(rnd() % i), t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	rs->n_rules = n;
	rs->rules = calloc(n ? n : 1, sizeof(*rs->rules));
	if (sigs) {
		rs->n_sigs = 1;
		rs->sigs = calloc(1, sizeof(*rs->sigs));
		rs->sigs[0].name = strdup("sig0");
		rs->sigs[0].pattern = strdup("evil");
	}
	for (i = 0; i < n; i++) {
		struct pol_rule *r = &rs->rules[i];
		static const uint16_t protos[] = {
		        6, 6, 6, 6, 17, 17, 17, 1, POL_PROTO_ANY, POL_PROTO_ANY, 47};
		char name[64];
		bool ports;

		snprintf(name, sizeof(name), "%s%u", prefix, i);
		r->name = strdup(name);
		r->priority = perm[i] * 3 + 1 + (unsigned)(rnd() % 3);
		r->dir = rnd() % 2 ? POL_DIR_INGRESS : POL_DIR_EGRESS;
		r->action = rnd() % 10 < 6 ? POL_ACT_ALLOW : POL_ACT_DENY;
		r->proto = protos[rnd() % 11];
		r->stateful = rnd() % 2;
		r->log = rnd() % 8 == 0;
		ports = r->proto == 6 || r->proto == 17;
		rand_side(&r->src, ports && rnd() % 100 < shape->sport_pct);
		rand_side(&r->dst, ports);
		if (sigs && rnd() % 10 == 0) {
			r->n_sigs = 1;
			r->sigs = calloc(1, sizeof(*r->sigs));
			r->sigs[0].name = strdup("sig0");
		}
	}
	free(perm);
}

struct pol_policy *
pol_testgen_policy(const struct pol_testgen_shape *sh, unsigned n_rules, unsigned n_tenants,
                   unsigned n_op, bool sigs)
{
	struct pol_policy *p = pol_testgen_policy_new(n_tenants);
	struct pol_cfg_errs errs = {0};
	unsigned i, left = n_rules - n_op;

	shape = sh;
	rand_rules(&p->op, n_op, "op", sigs);
	for (i = 0; i < n_tenants; i++) {
		unsigned n = left / (n_tenants - i);

		rand_rules(&p->tenants[i].rs, n, "r", sigs);
		left -= n;
	}
	if (pol_policy_validate(p, &errs)) {
		pol_cfg_errs_print(&errs, stderr);
		abort();
	}
	pol_cfg_errs_clear(&errs);
	return p;
}

uint32_t
pol_testgen_pick_addr(const struct pol_match *m)
{
	unsigned k = (unsigned)(rnd() % 8);
	const struct pol_prefix *c;
	uint32_t first, last;

	if (m->n_except && k < 3)
		c = &m->except[rnd() % m->n_except];
	else if (m->n_cidrs && k < 7)
		c = &m->cidrs[rnd() % m->n_cidrs];
	else
		return (uint32_t)rnd();
	first = c->addr;
	last = c->addr | ~pol_prefix_mask(c->len);
	switch (rnd() % 5) {
	case 0:
		return first;
	case 1:
		return last;
	case 2:
		return first - 1;
	case 3:
		return last + 1;
	default:
		return first + (uint32_t)(rnd() % ((uint64_t)last - first + 1));
	}
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

void
pol_testgen_rand_pkt(const struct pol_policy *pol, struct pol_testgen_pkt *p)
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
