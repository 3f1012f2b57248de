/* acl_priv.h - struct pol_gen and the rte_acl compiler's internals (policy folder only). */
#ifndef BYPASSD_POLICY_ACL_PRIV_H
#define BYPASSD_POLICY_ACL_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "acl.h"

struct rte_acl_ctx;
struct pol_l7;

/*
 * rte_acl categories: one classify returns, per packet, the best (lowest priority number) rule of
 * each. Deny and allow of a tier sit in categories of their own so that "deny wins inside a tier"
 * needs no second pass. Signature-bearing rules live in a context of their own (sctx), classified
 * only for the packets of tiers that have them, so they never hide a plain rule and cost nothing
 * to packets of tenants without signatures (8 categories in the one context cost every packet
 * ~20-40 ns in the full path, tests/perf/policy_bench -l).
 */
enum pol_acl_cat {
	POL_ACL_CAT_OP_ALLOW,
	POL_ACL_CAT_OP_DENY,
	POL_ACL_CAT_T_ALLOW,
	POL_ACL_CAT_T_DENY,
};
/* categories of the signature context */
enum pol_acl_scat {
	POL_ACL_CAT_OP_SIG,
	POL_ACL_CAT_T_SIG,
};
#define POL_ACL_CATS_PLAIN 4 /* rte_acl wants 1 or a multiple of RTE_ACL_RESULTS_MULTIPLIER (4) */
#define POL_ACL_CATS_SIGS  4 /* the signature context's: 2 used */

/* rte_acl fields, in the order of struct pol_acl_key */
enum {
	POL_ACL_F_PROTO,
	POL_ACL_F_TENANT,
	POL_ACL_F_SRC,
	POL_ACL_F_DST,
	POL_ACL_F_SPORT,
	POL_ACL_F_DPORT,
	POL_ACL_NFIELDS
};

struct pol_gen_pfx {
	uint32_t addr;
	uint8_t len;
};

struct pol_gen_range {
	uint16_t lo, hi;
};

/* A rule as compiled (control side; the fast path reads struct pol_gen_hot). */
struct pol_gen_rule {
	char name[POL_NAME_MAX + 1];
	uint32_t priority;  /* 0 for pseudo-rules */
	uint16_t tenant;    /* id, POL_TENANT_NONE for the operator tier and "unknown tenant" */
	int32_t tenant_idx; /* into g->tenants, -1 for none */
	uint8_t dir, action, flags;
	uint16_t proto; /* 0..255 or POL_PROTO_ANY */
	/* normalised match: sorted, disjoint; an empty list is a wildcard */
	struct pol_gen_pfx *src, *dst;
	struct pol_gen_range *sport, *dport;
	uint32_t n_src, n_dst, n_sport, n_dport;
	uint32_t n_acl;                 /* rte_acl rules it expanded to */
	uint64_t base_pkts, base_bytes; /* carried from earlier generations (control thread) */
};

/* What the fast path needs of a rule, packed. */
struct pol_gen_hot {
	uint8_t action, flags;
};

/* Per worker, per rule; cache-line aligned per worker. */
struct pol_rule_cnt {
	uint64_t pkts, bytes;
};

/* A tenant's address range [lo, hi], sorted by lo, disjoint. */
struct pol_gen_addr {
	uint32_t lo, hi;
	uint16_t tenant;
};

struct pol_gen {
	uint64_t number;
	atomic_uint refcnt;
	unsigned n_workers;
	int alg;
	struct rte_acl_ctx *ctx[POL_DIR_MAX]; /* NULL when the direction has no plain rule */
	uint32_t ncat[POL_DIR_MAX];           /* categories the context was built with */
	uint32_t n_acl[POL_DIR_MAX];          /* rte_acl rules per direction (both contexts) */
	/* signature rules (candidates for the L7 stage): NULL when the direction has none */
	struct rte_acl_ctx *sctx[POL_DIR_MAX];
	bool sig_op[POL_DIR_MAX];    /* the operator tier has some: every packet is classified */
	uint8_t *sig_t[POL_DIR_MAX]; /* [tenant id] -> 1: that tenant's packets are classified */
	uint32_t n_rules;                     /* ids 0..n_rules-1; 0 unused */
	struct pol_gen_hot *hot;
	struct pol_gen_rule *rules;
	struct pol_rule_cnt *cnt; /* [n_workers][cnt_stride] */
	size_t cnt_stride;
	uint32_t unknown_rule[POL_DIR_MAX]; /* verdict for a tenant id this generation lacks */
	uint32_t n_ids;                     /* dflt[] size: highest tenant id + 1 */
	uint32_t *dflt[POL_DIR_MAX];        /* [tenant id] -> default pseudo-rule */
	unsigned n_tenants;
	struct pol_gen_tenant *tenants;
	int16_t *id_to_idx; /* [n_ids] -> index into tenants, -1 */
	struct pol_gen_addr *addrs;
	unsigned n_addrs;
	struct pol_l7 *l7; /* L7 stage (l7_priv.h); NULL when the policy has no signature rules */
};

/*
 * acl.c: normalise the model rule r into gr: proto, and the match lists sorted and disjoint
 * (cidrs minus excepts as complementary prefixes, port ranges merged), each allocated (freed by
 * pol_acl_rule_release). Counts the rte_acl rules it expands to in gr->n_acl (saturating at
 * UINT32_MAX). 0 or -ENOMEM.
 */
int pol_acl_normalise(struct pol_gen_rule *gr, const struct pol_rule *r);
void pol_acl_rule_release(struct pol_gen_rule *gr);
/*
 * Build the contexts of g (rules table filled) for both directions. 0 or -errno with the reason
 * in errs under file/base path.
 */
int pol_acl_build(struct pol_gen *g, const struct pol_gen_opts *o, const char *file,
                  const char *base, struct pol_cfg_errs *errs);
void pol_acl_free(struct pol_gen *g);

#endif
