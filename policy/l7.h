/* l7.h - L7 signatures: Hyperscan checks, per-generation databases and the payload stage. */
#ifndef BYPASSD_POLICY_L7_H
#define BYPASSD_POLICY_L7_H

/*
 * A tier's (the operator's, each tenant's) signatures are compiled with hs_compile_multi in
 * block mode once per generation and direction: one database holds the signatures the tier's
 * rules of that direction reference (Hyperscan id = the signature's index in the generation).
 * Each worker scans with its own scratch (cloned from one prototype), all owned by the
 * generation and freed with it after the RCU grace period.
 *
 * Semantics (docs/policy.md "L7 signatures"): rte_acl returns, per tier, the best signature
 * rule whose 5-tuple matches (a candidate). The payload is scanned with the tier's database; a
 * rule matches only when one of its `deny` signatures matched the payload, and then takes part
 * in its tier like any rule (deny wins, then the lowest priority number). A `count` signature
 * only counts. A `deny` signature hit thus drops the packet through a `deny` rule (and admits it
 * through an `allow` rule: an allow-list). Every packet whose verdict may depend on a
 * signature is scanned, including the replies a stateful session admits without the rules.
 *
 * Only this header is EAL-free; pol_l7_check_sig is in the config library (policy_model.c
 * calls it from pol_policy_validate), the rest in the policy engine.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy_model.h"

struct pol_gen;
struct pol_acl_key;
struct pol_acl_verdict;
struct pol_gen_opts;

/*
 * Hyperscan flags for a signature's POL_SIGF_*: caseless, dotall, multiline, allowempty, utf8,
 * ucp map to the HS_FLAG_ of the same name; HS_FLAG_SINGLEMATCH is always set (a verdict needs
 * one report per signature and packet); som_leftmost is dropped (match offsets are not used,
 * and Hyperscan refuses it with SINGLEMATCH).
 */
unsigned pol_l7_hs_flags(uint32_t sig_flags);

/*
 * Whether s's pattern compiles with its flags (EAL-free; hs_expression_info plus the empty-match
 * check hs_compile does). 0, or -EINVAL with Hyperscan's reason in msg. About 60 us a pattern.
 */
int pol_l7_check_sig(const struct pol_signature *s, char *msg, size_t msg_len);

/* ---- the compiled stage (policy engine, needs the generation) ---- */

/*
 * gen.c, during pol_gen_build (rule table filled): compile every tier's signatures and allocate
 * per-worker scratch into g. 0 when the policy has no signature rules (g gets no L7 stage at
 * all), 0 built, or -errno with the reason in errs (-EINVAL: a signature Hyperscan refused,
 * named by its FILE:LINE:COL and key path).
 */
int pol_l7_build(struct pol_gen *g, const struct pol_policy *p, const struct pol_gen_opts *o,
                 struct pol_cfg_errs *errs);
void pol_l7_free(struct pol_gen *g);
/* Fold old's signature counters into g's by (tier, signature name). Control thread, old final. */
void pol_l7_carry(struct pol_gen *g, const struct pol_gen *old);

/* Fast path: does g have signature rules of dir at all (checked once per burst)? */
bool pol_l7_on(const struct pol_gen *g, enum pol_dir dir);
/* ... in the operator tier or tenant's tier (a packet of that tenant may need a scan)? */
bool pol_l7_active(const struct pol_gen *g, enum pol_dir dir, uint16_t tenant);

/*
 * The L7 stage for n verdicts of one direction that pol_acl_classify returned for keys: each
 * verdict with a signature candidate (sig_rule[] non-zero) has its payload pay[i] (pay_len[i]
 * bytes; pay[i] may be NULL when pay_len[i] is 0) scanned with the databases of the tiers it
 * reaches, and its rule, action and flags re-resolved in tier order. Others are left as they
 * are. The deciding rule carries POL_RULE_F_SIGS when a signature made it match. Counts
 * signature hits and scans on worker; rule counters are the caller's (classify with lens NULL,
 * then pol_gen_count). Returns how many payloads were scanned. Fast path: no allocation.
 */
unsigned pol_l7_resolve(const struct pol_gen *g, enum pol_dir dir, unsigned worker,
                        const struct pol_acl_key *keys, const uint8_t *const *pay,
                        const uint32_t *pay_len, unsigned n, struct pol_acl_verdict *v);

/* ---- control side: counters ---- */

struct pol_sig_info {
	const char *name;
	const char *tenant; /* NULL for the operator tier */
	enum pol_sig_action action;
	uint32_t flags; /* POL_SIGF_* */
	bool compiled;  /* referenced by a rule (else only checked) */
	uint64_t hits;  /* packets it matched (summed over workers and earlier generations) */
};
/* Signatures of g (every tier's, operator first); 0 without an L7 stage. */
unsigned pol_l7_n_sigs(const struct pol_gen *g);
/* 0, or -ENOENT for an index out of range. Read relaxed while workers count. */
int pol_l7_sig_info(const struct pol_gen *g, unsigned idx, struct pol_sig_info *out);

struct pol_l7_stats {
	uint64_t scans;  /* payloads scanned (one per tier database a packet met) */
	uint64_t bytes;  /* bytes scanned */
	uint64_t errors; /* hs_scan failures (counted as no match) */
};
/* Summed over workers of this generation (not carried over). */
void pol_l7_stats(const struct pol_gen *g, struct pol_l7_stats *out);

#endif
