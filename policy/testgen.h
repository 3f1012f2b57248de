/* testgen.h - random policies for tests and benchmarks: rules near a few address pools. */
#ifndef BYPASSD_POLICY_TESTGEN_H
#define BYPASSD_POLICY_TESTGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "policy_model.h"

/*
 * How complex generated rules are: up to this many CIDRs and port items per side, an except list
 * on this percentage of sides, source ports on this percentage of tcp/udp rules.
 */
struct pol_testgen_shape {
	const char *name;
	unsigned cidrs, ports, except_pct, sport_pct;
};
extern const struct pol_testgen_shape pol_testgen_complex, pol_testgen_moderate, pol_testgen_simple;

/* The generator's deterministic xorshift (one sequence per process). */
uint64_t pol_testgen_rnd(void);
void pol_testgen_seed(uint64_t seed);
/* n_tenants tenants t0.. at 198.19.x.y/32 with mixed defaults, no rules. Returns owned. */
struct pol_policy *pol_testgen_policy_new(unsigned n_tenants);
/* n_rules rules (n_op of them in the operator tier, the rest spread over the tenants); a
 * validated policy, returned owned; aborts if the generator made an invalid one. */
struct pol_policy *pol_testgen_policy(const struct pol_testgen_shape *sh, unsigned n_rules,
                                      unsigned n_tenants, unsigned n_op, bool sigs);
/* An address at the edges of (or inside) one of m's CIDRs or exceptions, or anywhere. */
uint32_t pol_testgen_pick_addr(const struct pol_match *m);

/* A packet as the reference classifiers and benchmarks see it. */
struct pol_testgen_pkt {
	int tenant; /* index into the policy's tenants, -1: an address no tenant owns */
	enum pol_dir dir;
	uint8_t proto;
	uint32_t src, dst;
	uint16_t sport, dport;
};
/* A packet near a random rule of pol: inside, at its CIDR, except and port edges, or just
 * outside (some tenant-less, some far from any rule). */
void pol_testgen_rand_pkt(const struct pol_policy *pol, struct pol_testgen_pkt *p);

#endif
