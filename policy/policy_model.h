/* policy_model.h - the reloadable policy as loaded and validated: operator tier and tenants. */
#ifndef BYPASSD_POLICY_POLICY_MODEL_H
#define BYPASSD_POLICY_POLICY_MODEL_H

/*
 * What the policy compiler (rte_acl, Hyperscan, meters), the channel manager (who may attach,
 * which ports a tenant may bind, quotas) and the admin API read. It knows nothing about YAML:
 * policy_load.c fills it from YAML, the admin API may fill it from JSON, and both call
 * pol_policy_validate for the checks that span several items. Every item keeps its source
 * position (struct pol_loc, {0, 0} when the front end has none) so later stages (Hyperscan
 * compile, rte_flow offload) report errors the same way: FILE:LINE:COL: PATH: MSG.
 *
 * Immutable once loaded; the compiler builds its own tables from it. Addresses are host byte
 * order. Schema and semantics: docs/policy.md.
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define POL_TENANT_NAME_MAX 32 /* [a-z0-9_-]{1,32} */
#define POL_NAME_MAX        64 /* rule and signature names: [A-Za-z0-9_.-]{1,64} */
#define POL_PATTERN_MAX     4096
#define POL_PRIO_MAX        1000000 /* rule priorities 1..POL_PRIO_MAX, lower ranks first (docs/policy.md) */
#define POL_PATH_MAX        512     /* key paths in errors */
#define POL_PROTO_ANY       256     /* pol_rule.proto: any protocol */
/*
 * A front end leaves a field it could not parse at a value pol_policy_validate skips, so one
 * mistake is reported once: name NULL, priority 0, proto POL_PROTO_BAD; bad list items are left
 * out.
 */
#define POL_PROTO_BAD       0xffff

/* 1-based source position; {0, 0} when unknown. */
struct pol_loc {
	uint32_t line, col;
};

struct pol_prefix {
	uint32_t addr; /* host bits zero */
	uint8_t len;   /* 0..32 */
	struct pol_loc loc;
};

struct pol_port_range {
	uint16_t lo, hi; /* lo <= hi; a single port has lo == hi */
	struct pol_loc loc;
};

enum pol_dir { POL_DIR_INGRESS, POL_DIR_EGRESS, POL_DIR_MAX };
enum pol_action { POL_ACT_ALLOW, POL_ACT_DENY };
enum pol_sig_action { POL_SIG_DENY, POL_SIG_COUNT };
enum pol_offload { POL_OFFLOAD_AUTO, POL_OFFLOAD_NEVER, POL_OFFLOAD_REQUIRED };

/* Signature flags: _(ENUM, "name"); the compiler maps each to the HS_FLAG_ of the same name. */
#define foreach_pol_sig_flag(_)       \
	_(CASELESS, "caseless")       \
	_(DOTALL, "dotall")           \
	_(MULTILINE, "multiline")     \
	_(SINGLEMATCH, "singlematch") \
	_(ALLOWEMPTY, "allowempty")   \
	_(UTF8, "utf8")               \
	_(UCP, "ucp")                 \
	_(SOM_LEFTMOST, "som_leftmost")

enum {
#define _(e, n) POL_SIGF_BIT_##e,
	foreach_pol_sig_flag(_)
#undef _
	        POL_SIGF_NBITS
};
#define _(e, n) POL_SIGF_##e = 1u << POL_SIGF_BIT_##e,
enum pol_sig_flag { foreach_pol_sig_flag(_) };
#undef _

/* An L7 signature: a Hyperscan regex over the payload (compiled by the policy compiler). */
struct pol_signature {
	char *name;
	char *pattern;
	uint32_t flags; /* POL_SIGF_* */
	enum pol_sig_action action;
	struct pol_loc loc, name_loc, pattern_loc;
};

/* One side (source or destination) of a rule. Empty lists match anything. */
struct pol_match {
	struct pol_prefix *cidrs;
	unsigned n_cidrs;
	struct pol_prefix *except; /* each inside one of cidrs (or anywhere when cidrs is empty) */
	unsigned n_except;
	struct pol_port_range *ports; /* only when the rule's protocol is tcp or udp */
	unsigned n_ports;
	struct pol_loc ports_loc;
};

/* A rule's reference to a signature of its own tier, by name. */
struct pol_sig_ref {
	char *name;
	unsigned idx; /* into the tier's sigs[], set by pol_policy_validate */
	struct pol_loc loc;
};

struct pol_rule {
	char *name;        /* unique within its tier */
	uint32_t priority; /* 1..POL_PRIO_MAX, unique within its tier; lower ranks first: picks the counted rule (deny still wins in a tier) */
	enum pol_dir dir;
	enum pol_action action;
	bool log;
	uint16_t proto; /* IP protocol 0..255, or POL_PROTO_ANY (POL_PROTO_BAD while loading) */
	struct pol_match src, dst;
	bool stateful; /* admit the reply direction of flows this rule allowed */
	struct pol_sig_ref *sigs;
	unsigned n_sigs;
	enum pol_offload offload;
	struct pol_loc loc, name_loc, prio_loc, proto_loc;
	struct pol_loc offload_loc; /* of the offload key's value; {0, 0} when not given */
};

/* Rules with the signatures they may reference: the operator tier, and each tenant's. */
struct pol_ruleset {
	struct pol_signature *sigs;
	unsigned n_sigs;
	struct pol_rule *rules;
	unsigned n_rules;
};

/* Token buckets; 0 = unlimited. */
struct pol_rate {
	uint64_t pps;   /* packets per second */
	uint64_t bps;   /* bits per second */
	uint32_t burst; /* bucket depth in packets; the byte bucket holds burst full-size frames */
};

struct pol_tenant {
	char *name;               /* unique, [a-z0-9_-]{1,32} */
	struct pol_prefix *addrs; /* hosts (/32) or prefixes; disjoint from every other tenant's */
	unsigned n_addrs;
	uint32_t *uids; /* local users that may attach (SO_PEERCRED); names resolved at load */
	unsigned n_uids;
	uint32_t *gids;
	unsigned n_gids;
	bool raw;                         /* may use the raw-frame channel */
	struct pol_port_range *udp, *tcp; /* ports it may bind, disjoint within each list */
	unsigned n_udp, n_tcp;
	struct {
		uint32_t apps, queues, buffers, sessions, connections;
	} quota;
	struct {
		struct pol_rate ingress, egress;
		uint32_t new_conn_per_s; /* 0 = unlimited */
	} rate;
	enum pol_action dflt[POL_DIR_MAX]; /* when no rule matches: ingress deny, egress allow */
	struct pol_ruleset rs;
	struct pol_loc loc, name_loc;
};

/* List size limits: sanity bounds on what one policy may hold. */
#define POL_MAX_TENANTS 4096
#define POL_MAX_RULES   65536 /* per tier */
#define POL_MAX_SIGS    4096  /* per tier */
#define POL_MAX_LIST    1024  /* addresses, cidrs, excepts, ports, uids, gids, refs */

/* Quota defaults (docs/policy.md). */
#define POL_QUOTA_APPS_DEFAULT        16
#define POL_QUOTA_QUEUES_DEFAULT      64
#define POL_QUOTA_BUFFERS_DEFAULT     65536
#define POL_QUOTA_SESSIONS_DEFAULT    65536
#define POL_QUOTA_CONNECTIONS_DEFAULT 16384
#define POL_RATE_BURST_DEFAULT        64

struct pol_policy {
	char *file; /* where it was loaded from: errors found later name it */
	char *path; /* key path of the policy mapping: "policy" inside a config, "" standalone */
	struct pol_ruleset op; /* operator tier: evaluated before every tenant's rules */
	struct pol_tenant *tenants;
	unsigned n_tenants;
};

/*
 * Load a standalone policy document: its top level is the policy mapping (operator:, tenants:).
 * Validated (pol_policy_validate) but not against a gateway: call pol_policy_check_against. Returns
 * owned or NULL with every error appended to errs.
 */
struct pol_policy *pol_policy_load_file(const char *path, struct pol_cfg_errs *errs);
struct pol_policy *pol_policy_load_buf(const char *name, const char *buf, size_t len,
                                       struct pol_cfg_errs *errs);
void pol_policy_free(struct pol_policy *p);

/*
 * Checks across items, for every front end: tenant names, rule names and priorities and signature
 * names unique; tenant addresses disjoint (each other's and within a tenant); a tenant's ports
 * disjoint per protocol; ports only on tcp/udp rules; excepts inside their cidrs; signature
 * references resolved (sets pol_sig_ref.idx). Returns the number of errors appended.
 */
unsigned pol_policy_validate(struct pol_policy *p, struct pol_cfg_errs *errs);

/*
 * Checks the policy against the gateway it will run on: no tenant address may contain one of the
 * gateway's own addresses, its next hop, or be the network or broadcast address of one of its
 * prefixes. 0 or -EINVAL with the errors appended.
 */
int pol_policy_check_against(const struct pol_policy *p, const struct pol_cfg_gateway *gw,
                             struct pol_cfg_errs *errs);

/* Lookups (linear; for the control path). */
const struct pol_tenant *pol_policy_tenant(const struct pol_policy *p, const char *name);
/* The tenant owning addr, or NULL. */
const struct pol_tenant *pol_policy_tenant_by_addr(const struct pol_policy *p, uint32_t addr);

/* Names as the schema spells them. */
const char *pol_dir_name(enum pol_dir d);
const char *pol_action_name(enum pol_action a);
const char *pol_offload_name(enum pol_offload o);
const char *pol_sig_flag_name(unsigned bit);

/* Helpers shared by the front ends. */
bool pol_tenant_name_ok(const char *s);
bool pol_item_name_ok(const char *s);
/* A user or group by name: 0 and the id, -ENOENT when unknown, other -errno on lookup failure. */
int pol_resolve_user(const char *name, uint32_t *uid);
int pol_resolve_group(const char *name, uint32_t *gid);
static inline uint32_t
pol_prefix_mask(uint8_t len)
{
	return len ? ~0u << (32 - len) : 0;
}
static inline bool
pol_prefix_contains(uint32_t net, uint8_t len, uint32_t addr)
{
	return ((addr ^ net) & pol_prefix_mask(len)) == 0;
}
static inline bool
pol_prefix_overlap(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen)
{
	uint8_t len = alen < blen ? alen : blen;
	return ((a ^ b) & pol_prefix_mask(len)) == 0;
}
/*
 * Why a host or prefix cannot be a unicast address of ours (NULL when it can): in 0.0.0.0/8,
 * loopback, multicast or reserved (224.0.0.0/3), or wider than /8.
 */
const char *pol_prefix_not_unicast(uint32_t addr, uint8_t len);
/* "a.b.c.d" into buf (16 bytes); returns buf. */
char *pol_ipv4_str(uint32_t addr, char *buf);
/* Strict dotted quad: four decimal parts 0..255, no leading zeros (octal to some parsers). */
bool pol_parse_ipv4(const char *s, uint32_t *out);
/* Edit distance with adjacent swaps counted as one edit (words capped at 64 bytes). */
unsigned pol_edit_distance(const char *a, const char *b);
/*
 * The closest of cands (NULL-terminated) to word, or NULL when none is near enough to be a
 * likely typo ("rx_rnig" -> "rx_ring", "warn" -> "warning").
 */
const char *pol_suggest(const char *word, const char *const *cands);

#endif
