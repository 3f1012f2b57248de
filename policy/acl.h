/* acl.h - compiled policy generations (struct pol_gen) and the rte_acl classifier workers call. */
#ifndef BYPASSD_POLICY_ACL_H
#define BYPASSD_POLICY_ACL_H

/*
 * A generation is one policy compiled for the dataplane: rule table (ids, names, tiers, actions,
 * flags), tenant table (stable ids, defaults, quotas, rates) and one rte_acl context per
 * direction. It is built on the control thread (pol_gen_build), immutable once built, published
 * to workers with a release store and reclaimed after an RCU grace period (pol_gen_publish).
 *
 * Evaluation (docs/policy.md "Evaluation"): tiers in order, operator then the packet's tenant;
 * inside a tier deny wins over allow; the first tier with a matching rule decides; the tenant's
 * default for the direction decides when no rule of either tier matches. Among rules of one tier
 * and action the lowest priority number is the one reported (counted, logged, its `stateful`).
 *
 * Rule ids are dense per generation: 0 is "none", 1..n_rules-1 index the rule table. Every
 * verdict names a rule; the tenant defaults are pseudo-rules ("default") so they are counted too.
 * Tenant ids are stable across generations by name (pol_gen_build takes the previous generation)
 * so per-tenant state that outlives a generation (conntrack entries, meters) stays keyed right.
 *
 * Addresses and ports are host byte order in every argument; only struct pol_acl_key holds
 * network order (what rte_acl reads).
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "policy_model.h"

struct rte_rcu_qsbr;
struct pol_gen;

#define POL_TENANT_NONE   0xffffu /* no tenant (operator tier, unknown address) */
#define POL_TENANT_ID_MAX 8191u   /* tenant ids are 0..POL_TENANT_ID_MAX */
#define POL_ACL_BURST_MAX 64u     /* keys per pol_acl_classify call */

/*
 * What rte_acl reads per packet: built by the worker with pol_acl_key_set. Network byte order.
 * Layout pinned: rte_acl needs a 1-byte first field and the rest in 4-byte groups.
 */
struct pol_acl_key {
	uint8_t proto;
	uint8_t pad[3];
	uint32_t tenant_be; /* tenant id */
	uint32_t src_be, dst_be;
	uint16_t sport_be, dport_be; /* 0 for protocols without ports */
};
_Static_assert(sizeof(struct pol_acl_key) == 20, "pol_acl_key layout");

static inline void
pol_acl_key_set(struct pol_acl_key *k, uint16_t tenant, uint8_t proto, uint32_t src, uint32_t dst,
                uint16_t sport, uint16_t dport)
{
	k->proto = proto;
	k->pad[0] = k->pad[1] = k->pad[2] = 0;
	k->tenant_be = __builtin_bswap32(tenant);
	k->src_be = __builtin_bswap32(src);
	k->dst_be = __builtin_bswap32(dst);
	k->sport_be = __builtin_bswap16(sport);
	k->dport_be = __builtin_bswap16(dport);
}

static inline uint16_t
pol_acl_key_tenant(const struct pol_acl_key *k)
{
	return (uint16_t)__builtin_bswap32(k->tenant_be);
}

/* pol_acl_verdict.flags and pol_rule_info.flags */
#define POL_RULE_F_STATEFUL (1u << 0) /* admit the reply direction of the flow (conntrack) */
#define POL_RULE_F_LOG      (1u << 1) /* log the match (control thread, from a sampled ring) */
#define POL_RULE_F_DEFAULT  (1u << 2) /* a tenant's default for the direction, not a rule */
#define POL_RULE_F_SIGS     (1u << 3) /* matches only with an L7 signature (l7.h) */
#define POL_RULE_F_HW       (1u << 4) /* also installed in the NIC (rte_flow) */

/* Per packet: what decided it. */
struct pol_acl_verdict {
	uint32_t rule;   /* deciding rule id, never 0 */
	uint8_t action;  /* enum pol_action */
	uint8_t flags;   /* POL_RULE_F_* of that rule */
	uint16_t tenant; /* from the key */
	/*
	 * L7 hook: the lowest-numbered signature-bearing rule of the operator tier [0] and of the
	 * tenant tier [1] whose 5-tuple matches, 0 when none. Not applied here: such a rule matches
	 * only when the payload does. Non-zero means "scan": the L7 stage (pol_l7_resolve, l7.h)
	 * runs the tier's patterns, and for each signature that hits, checks the rules referencing
	 * it with pol_gen_rule_matches, then re-applies the order (a matching deny wins in its
	 * tier).
	 */
	uint32_t sig_rule[2];
	/*
	 * Only when sig_rule[0] or sig_rule[1] is set: the best plain rule (0 = none) of operator
	 * allow, operator deny, tenant allow, tenant deny, for the L7 stage to re-apply the order.
	 */
	uint32_t plain[4];
};

/*
 * Classify n (<= POL_ACL_BURST_MAX) keys of one direction with the best SIMD method the
 * generation was built with. Writes out[0..n-1]. When lens is not NULL, counts every packet and
 * lens[i] bytes under its deciding rule in worker's counters (worker < the generation's
 * n_workers); with lens NULL the caller counts (pol_gen_count) once it knows the final rule.
 * Returns n. Fast path: no allocation, no locks; any number of workers at once.
 */
unsigned pol_acl_classify(const struct pol_gen *g, enum pol_dir dir, unsigned worker,
                          const struct pol_acl_key *keys, const uint32_t *lens, unsigned n,
                          struct pol_acl_verdict *out);

/* Count one packet of bytes under rule on worker (per-worker counters, no atomics). */
void pol_gen_count(const struct pol_gen *g, unsigned worker, uint32_t rule, uint32_t bytes);

/* The tenant id owning addr (host order), or POL_TENANT_NONE. Binary search; fast path. */
uint16_t pol_gen_tenant_by_addr(const struct pol_gen *g, uint32_t addr);

/*
 * Whether rule's match (tier, tenant, direction excluded) holds for the 5-tuple, by a linear walk
 * of its normalised lists. For the L7 stage (signature rules) and tests; not per packet.
 */
bool pol_gen_rule_matches(const struct pol_gen *g, uint32_t rule, uint8_t proto, uint32_t src,
                          uint32_t dst, uint16_t sport, uint16_t dport);

/* ---- control thread ---- */

/*
 * rte_flow hook: try to install rule (id in g, model rule r, tenant t or NULL for the operator
 * tier) in the NIC. 0 when it runs there too, else -errno (-ENOSYS, -ENOTSUP) with a reason in
 * why. Called for offload: auto and required; a failure of a required rule fails the build.
 */
typedef int pol_gen_offload_fn(void *arg, const struct pol_gen *g, uint32_t rule,
                               const struct pol_rule *r, const struct pol_tenant *t, char *why,
                               size_t why_len);

struct pol_gen_opts {
	unsigned n_workers;          /* counter sets, workers 0..n_workers-1; 0 means 1 */
	int socket_id;               /* for rte_acl memory; -1 = SOCKET_ID_ANY */
	int alg;                     /* enum rte_acl_classify_alg; 0 = the best CPU and EAL allow */
	uint32_t max_acl_rules;      /* per direction after expansion; 0 = POL_ACL_MAX_RULES */
	uint32_t max_rule_expansion; /* rte_acl rules one policy rule may become; 0 = default */
	size_t acl_max_size;         /* rte_acl_config.max_size (bytes); 0 = no limit */
	pol_gen_offload_fn *offload; /* NULL: no port can offload (rte_flow not available) */
	void *offload_arg;
};
#define POL_ACL_MAX_RULES          (1u << 20)
#define POL_ACL_MAX_RULE_EXPANSION 65536u

/*
 * Compile p (validated) into a new generation: number prev->number + 1 (1 without prev), tenant
 * ids kept from prev by name, new tenants on the lowest id free in both. Returns owned (refcount
 * 1), or NULL with the errors appended to errs (FILE:LINE:COL: PATH: MSG) and errno set: EINVAL
 * (a rule that cannot be compiled: too wide an expansion, offload: required that no port can
 * run), ENOSPC (tenant ids exhausted), ENOMEM, or what rte_acl_build returned. opts may be NULL.
 */
struct pol_gen *pol_gen_build(const struct pol_policy *p, const struct pol_gen *prev,
                              const struct pol_gen_opts *opts, struct pol_cfg_errs *errs);

/* References for readers on the control side (stats, admin API). put frees at zero; NULL ok. */
struct pol_gen *pol_gen_get(struct pol_gen *g);
void pol_gen_put(struct pol_gen *g);

/*
 * Workers read the current generation once per burst: acquire load; valid until the worker's
 * next rte_rcu_qsbr_quiescent.
 */
static inline const struct pol_gen *
pol_gen_current(struct pol_gen *_Atomic *slot)
{
	return atomic_load_explicit(slot, memory_order_acquire);
}

/*
 * Control thread: publish g (taking the caller's reference) in *slot with a release store, wait
 * for every worker registered with v to pass a quiescent point (v NULL: no reader can hold the
 * old one), carry the old generation's counters over to g by (tier, tenant, rule name), and put
 * the old one. Returns with no worker able to see the old generation.
 */
void pol_gen_publish(struct pol_gen *_Atomic *slot, struct pol_gen *g, struct rte_rcu_qsbr *v);

/* Accessors (control side). */
uint64_t pol_gen_number(const struct pol_gen *g);
unsigned pol_gen_n_rules(const struct pol_gen *g); /* ids are 1..n-1 */
unsigned pol_gen_n_workers(const struct pol_gen *g);
int pol_gen_alg(const struct pol_gen *g); /* the rte_acl classify method in use */

struct pol_rule_info {
	const char *name;   /* rule name, or "default" */
	const char *tenant; /* NULL for the operator tier */
	uint16_t tenant_id; /* POL_TENANT_NONE for the operator tier */
	uint32_t priority;  /* 0 for a default */
	enum pol_dir dir;
	enum pol_action action;
	uint32_t flags;       /* POL_RULE_F_* */
	uint32_t acl_rules;   /* rte_acl rules it expanded to */
	uint64_t pkts, bytes; /* summed over workers, plus what earlier generations counted */
};
/* 0, or -ENOENT for an id out of range. Counters are read relaxed while workers write them. */
int pol_gen_rule_info(const struct pol_gen *g, uint32_t rule, struct pol_rule_info *out);
/* The id of a rule by tier (tenant NULL = operator) and name, or 0. Linear. */
uint32_t pol_gen_rule_id(const struct pol_gen *g, const char *tenant, const char *name);

/* A tenant as compiled: what the worker and the meter/conntrack setup need. */
struct pol_gen_tenant {
	char name[POL_TENANT_NAME_MAX + 1];
	uint16_t id;
	uint32_t dflt_rule[POL_DIR_MAX]; /* pseudo-rule ids of the defaults */
	uint32_t sessions;               /* quota.sessions over all workers */
	uint32_t sessions_per_worker;    /* conntrack cap per worker: ceil(sessions / n_workers) */
	struct pol_rate rate[POL_DIR_MAX];
	uint32_t new_conn_per_s;
};
unsigned pol_gen_n_tenants(const struct pol_gen *g);
/* By index 0..n-1 (policy order), or NULL. */
const struct pol_gen_tenant *pol_gen_tenant_at(const struct pol_gen *g, unsigned i);
/* By id, or NULL when no tenant of this generation has it. */
const struct pol_gen_tenant *pol_gen_tenant_by_id(const struct pol_gen *g, uint16_t id);

#endif
