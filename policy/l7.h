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

/* ---- stream mode: TCP flows (l7_stream.c, l7_stream_fp.c; docs/policy.md "Stream mode") ----
 *
 * Each generation also compiles, per tier and direction, the signatures of the rules that can
 * match TCP (protocol tcp or any) with HS_MODE_STREAM; the worker scratch fits both kinds. A TCP
 * flow (one direction of a connection: the peer's bytes to an app are ingress, an app's bytes to
 * the peer egress) is opened once on the generation the worker holds, scanned chunk by chunk in
 * stream order (the TCP engine's in-order RECV views, or what an app sends), and closed.
 *
 * Semantics: the verdict of a stream after k bytes is block mode's verdict for a payload of
 * those k bytes, where a signature "matched" when it matched anywhere in them (matches are
 * sticky). It changes only at a match, so it is evaluated at each match in stream order (a match
 * in the operator tier first at the same offset) and does not depend on how the bytes are
 * chunked. The stream stage only resets: a flow is denied at the first offset where a signature
 * rule's deny decides (deny wins in its tier; a tier that has decided, by a plain rule or by a
 * matched signature rule, stops the next tier from being consulted), and the caller resets the
 * connection there without delivering the chunk. Everything else passes on the verdict the
 * flow's packets already got (the handshake, or its conntrack session). An `allow` signature
 * rule that matches decides its tier for the rest of the stream: later deny signatures of the
 * next tier no longer reset it (a deny signature of its own tier still does). `count`
 * signatures only count, once per stream. `^` anchors at the start of the stream and `$` at its
 * end (pol_l7_flow_eof), not at segment boundaries.
 *
 * Memory is bounded per worker: a struct pol_l7_streams holds max_flows flow handles and
 * max_streams stream slots of slot_bytes each, all allocated at create; Hyperscan's stream state
 * is allocated from the slots (hs_set_stream_allocator, see l7_stream.c). A flow needs one
 * stream per tier it scans (operator, tenant: 1 or 2). When no handle or slot is left, or the
 * generation's stream state does not fit a slot, the open is refused (-ENOSPC / -E2BIG) and
 * counted: fail-closed, the caller resets the connection — a flood of connections must not get
 * a flow out of stream mode.
 *
 * Reload: a flow keeps the generation it was opened with until it closes (the worker's context
 * pins each generation its flows use with one reference). A worker never frees a generation:
 * dropping the last reference links it on the streams context and pol_l7_streams_reap (control
 * thread) frees it.
 *
 * Gateway glue (one context per worker; docs/policy.md "Stream mode"):
 *   start:      s[w] = pol_l7_streams_create(&(cfg){.max_flows = 2 * tcp max_conns}, w)
 *   ACCEPTED / CONNECTED: pol_l7_flow_open(s, g, POL_DIR_INGRESS, key(peer -> local), &in) and
 *               (POL_DIR_EGRESS, key(local -> peer), &out) with the burst's generation and the
 *               connection's tenant; < 0: close the one that opened, reset (ACCEPTED:
 *               return nonzero; CONNECTED: abort)
 *   RECV:       pol_l7_flow_scan(s, in, data, len, &why) before the app sees the bytes
 *   app send:   pol_l7_flow_scan(s, out, copy, len, &why) before stk_tcp_send
 *   EOF / app close: pol_l7_flow_eof(s, in | out, &why)
 *   DENY:       do not deliver; stk_tcp_abort after the engine call returns; count the rule
 *               why.rule (0: a scan error) in pol_l7_flow_gen(f) and policy_l7_deny
 *   CLOSED / RESET: pol_l7_flow_close(s, in), pol_l7_flow_close(s, out)
 *   control loop: pol_l7_streams_reap(s[w], current generation); stop: pol_l7_streams_destroy
 */

struct pol_l7_streams; /* one per worker */
struct pol_l7_flow;

struct pol_l7_streams_cfg {
	uint32_t max_flows;   /* flow handles [2048] */
	uint32_t max_streams; /* stream slots [max_flows] */
	uint32_t slot_bytes;  /* bytes per slot, the state of one stream and 16 [1024] */
};

/* clang-format off */
#define foreach_pol_l7_stream_counter(_)                                                         \
	_(OPENED, "l7_streams_opened", "flows opened in stream mode")                              \
	_(CLOSED, "l7_streams_closed", "flows closed")                                             \
	_(NOT_NEEDED, "l7_streams_not_needed", "opens that needed no stream (no TCP candidate)")   \
	_(REFUSED_CAP, "l7_streams_refused_cap", "opens refused: no flow handle or slot left")     \
	_(REFUSED_SIZE, "l7_streams_refused_size", "opens refused: stream state beyond slot_bytes") \
	_(SCANS, "l7_stream_scans", "chunks scanned (one per tier stream)")                        \
	_(BYTES, "l7_stream_bytes", "bytes scanned (one count per tier stream)")                   \
	_(DENIED, "l7_stream_denied", "flows a deny signature rule decided (reset)")               \
	_(ERRORS, "l7_stream_errors", "Hyperscan stream failures (the flow is denied)")
enum pol_l7_stream_counter {
#define _(e, n, h) POL_L7_SCNT_##e,
	foreach_pol_l7_stream_counter(_)
#undef _
	POL_L7_SCNT__MAX
};
/* clang-format on */
extern const char *const pol_l7_stream_counter_names[POL_L7_SCNT__MAX];

/*
 * Control thread: the streams context of worker (its scratch index in every generation). All
 * memory is allocated here. cfg may be NULL (defaults). NULL + errno (EINVAL, ENOMEM).
 */
struct pol_l7_streams *pol_l7_streams_create(const struct pol_l7_streams_cfg *cfg, unsigned worker);
/* Closes the flows still open (no end-of-data matches), reaps (cur NULL), frees. Workers
 * stopped. NULL ok. */
void pol_l7_streams_destroy(struct pol_l7_streams *s);
/*
 * Control thread, any time (e.g. each control loop iteration): free the generations whose last
 * flow the worker closed. cur is the generation published now (or NULL): signature hits that
 * flows counted in a retired generation after the reload carried its counters over are added to
 * cur's, so per-signature totals lose nothing to long connections.
 */
void pol_l7_streams_reap(struct pol_l7_streams *s, struct pol_gen *cur);
/*
 * Control thread: drop a reference to g, a generation that may be retired (e.g. one a log keeps
 * for rule names). When it is the last one, the signature hits flows counted in g after the
 * reload carried its counters over are first added to cur's (as pol_l7_streams_reap does for
 * the generations a worker let go): whoever drops the last reference carries them, once.
 */
void pol_l7_gen_put(struct pol_gen *g, struct pol_gen *cur);
/* Counters (relaxed reads while the worker writes), and flows / slots in use. */
void pol_l7_streams_counters(const struct pol_l7_streams *s, uint64_t out[POL_L7_SCNT__MAX]);
uint32_t pol_l7_streams_flows_in_use(const struct pol_l7_streams *s);
uint32_t pol_l7_streams_slots_in_use(const struct pol_l7_streams *s);
/* The largest stream state of g's databases in bytes (0: g has no stream stage): a slot needs
 * this + 16. For the gateway to warn at reload. */
size_t pol_l7_stream_size(const struct pol_gen *g);
/* Fast path: does g scan TCP streams of dir at all? */
bool pol_l7_streams_on(const struct pol_gen *g, enum pol_dir dir);

/* Why a flow was denied. */
struct pol_l7_deny {
	uint32_t rule;   /* the deciding signature rule (id in the flow's generation) */
	uint32_t sig;    /* the signature whose match decided (index, pol_l7_sig_info) */
	uint64_t offset; /* stream offset just past the match */
};

enum pol_l7_sv {
	POL_L7_PASS = 0, /* deliver the chunk */
	POL_L7_DENY = 1, /* reset the connection; do not deliver the chunk */
};

/*
 * Worker: open the stream state of one TCP flow of dir whose key (the flow's 5-tuple and tenant
 * as the per-packet stage builds it for this direction) is judged in g (the generation the worker
 * holds this burst; the flow takes a reference). 0 with *out a handle, or 0 with *out NULL when
 * no tier of this flow has a TCP signature candidate (nothing to scan: pass everything);
 * -ENOSPC (no handle or slot left) or -E2BIG (state larger than a slot): refused, fail closed
 * (reset the connection); -EINVAL (worker out of g's range). No allocation.
 */
int pol_l7_flow_open(struct pol_l7_streams *s, const struct pol_gen *g, enum pol_dir dir,
                     const struct pol_acl_key *key, struct pol_l7_flow **out);
/*
 * Worker: scan the next len bytes of the flow's stream (in order, each byte once). PASS, or DENY
 * with why filled (may be NULL); once denied, every later call returns DENY without scanning.
 */
enum pol_l7_sv pol_l7_flow_scan(struct pol_l7_streams *s, struct pol_l7_flow *f,
                                const uint8_t *data, uint32_t len, struct pol_l7_deny *why);
/* Worker: the stream ended in order (FIN): end-of-data matches (`$`). Later scans return the
 * verdict without scanning. */
enum pol_l7_sv pol_l7_flow_eof(struct pol_l7_streams *s, struct pol_l7_flow *f,
                               struct pol_l7_deny *why);
/* Worker: release the flow (any state; no more matches); the handle is dead after. NULL ok. */
void pol_l7_flow_close(struct pol_l7_streams *s, struct pol_l7_flow *f);
/* The generation a flow is judged in (for counting its deny rule: pol_gen_count). */
const struct pol_gen *pol_l7_flow_gen(const struct pol_l7_flow *f);

#endif
