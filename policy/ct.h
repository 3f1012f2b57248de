/* ct.h - per-worker connection tracking: canonical 5-tuple + tenant in a hash table, TCP state. */
#ifndef BYPASSD_POLICY_CT_H
#define BYPASSD_POLICY_CT_H

/*
 * One table per worker (flows are core-local by symmetric RSS), touched by that worker only:
 * an open-addressing hash table of its own (ct_priv.h), no locks, no atomics. The key is the
 * canonical 5-tuple (lower address:port first) plus the tenant, so both directions of a flow find
 * one entry; the entry remembers which end opened it.
 *
 * What the worker does per burst (docs/policy.md "Evaluation"):
 *   1. pol_ct_key_set for every packet, pol_ct_lookup_burst once;
 *   2. per packet, pol_ct_track: POL_CT_ORIG / POL_CT_REPLY (entry updated), POL_CT_NEW (no
 *      entry: the ACL decides) or POL_CT_INVALID (fails the state or sequence checks: drop);
 *   3. a new flow the ACL allowed: pol_ct_open (after the new-connection meter).
 *
 * Sessions in transient states (TCP opening and closing, UDP/other not yet answered, ICMP) are
 * kept on least-recently-used lists, per table and per tenant: when a tenant is at its cap its own
 * oldest transient session is evicted, when the table is full the table's; an established
 * session (TCP established, UDP/other answered) is never evicted, only expired. Time is the
 * caller's, in ns; nothing here makes a syscall.
 */

#include <stdbool.h>
#include <stdint.h>

/* States: _(ENUM, "name", default timeout in seconds, evictable). */
#define foreach_pol_ct_state(_)                         \
	_(TCP_SYN_SENT, "tcp_syn_sent", 30, 1)          \
	_(TCP_SYN_RECV, "tcp_syn_recv", 30, 1)          \
	_(TCP_ESTABLISHED, "tcp_established", 86400, 0) \
	_(TCP_FIN_WAIT, "tcp_fin_wait", 120, 1)         \
	_(TCP_CLOSING, "tcp_closing", 120, 1)           \
	_(TCP_TIME_WAIT, "tcp_time_wait", 120, 1)       \
	_(TCP_CLOSE, "tcp_close", 30, 1)                \
	_(UDP_NEW, "udp_new", 60, 1)                    \
	_(UDP_REPLIED, "udp_replied", 60, 0)            \
	_(ICMP_NEW, "icmp_new", 60, 1)                  \
	_(ICMP_REPLIED, "icmp_replied", 30, 1)          \
	_(OTHER_NEW, "other_new", 60, 1)                \
	_(OTHER_REPLIED, "other_replied", 60, 0)

/* clang-format off */
enum pol_ct_state {
#define _(e, n, t, ev) POL_CT_##e,
	foreach_pol_ct_state(_)
#undef _
	POL_CT_NSTATES
};
/* clang-format on */

/* Counters, per table: _(ENUM, "name", "help"). */
#define foreach_pol_ct_counter(_)                                                               \
	_(CREATED, "created", "sessions created")                                               \
	_(REOPENED, "reopened", "a SYN reused the tuple of a closed session")                   \
	_(EVICTED_FULL, "evicted_table_full", "transient sessions evicted: table full")         \
	_(EVICTED_CAP, "evicted_tenant_cap", "transient sessions evicted: tenant at its cap")   \
	_(REFUSED_FULL, "refused_table_full", "new sessions refused: full of established ones") \
	_(REFUSED_CAP, "refused_tenant_cap",                                                    \
	  "new sessions refused: tenant at its cap with none transient")                        \
	_(NOT_OPENER, "not_opener", "no session created: TCP segment without a lone SYN")       \
	_(EXPIRED, "expired", "sessions timed out")                                             \
	_(INVALID_STATE, "invalid_state", "packet not valid in the session's state")            \
	_(INVALID_SEQ, "invalid_sequence", "TCP segment outside the window")                    \
	_(INVALID_RST, "invalid_rst", "RST outside the window (ignored, dropped)")              \
	_(INVALID_FIN, "invalid_fin", "FIN outside the window (ignored, dropped)")              \
	_(TENANT_GONE, "tenant_removed", "sessions of a tenant a reload removed")

/* clang-format off */
enum pol_ct_counter {
#define _(e, n, h) POL_CT_CNT_##e,
	foreach_pol_ct_counter(_)
#undef _
	POL_CT_CNT__MAX
};
/* clang-format on */

extern const char *const pol_ct_state_names[POL_CT_NSTATES];
extern const char *const pol_ct_counter_names[POL_CT_CNT__MAX];
extern const char *const pol_ct_counter_help[POL_CT_CNT__MAX];

struct pol_ct_timeouts {
	uint64_t ns[POL_CT_NSTATES]; /* 0 = default (foreach_pol_ct_state) */
};

struct pol_ct_conf {
	const char *name;     /* unused (was the rte_hash name); may be NULL */
	uint32_t entries;     /* capacity, >= 8 */
	uint32_t max_tenants; /* tenant ids 0..max_tenants-1; 0 = 8192 */
	int socket_id;        /* -1 = any */
	struct pol_ct_timeouts timeouts;
};

/* The canonical key: endpoint 0 is the lower (address, port). 16 bytes, zero padding. */
struct pol_ct_key {
	uint32_t ip[2];
	uint16_t port[2];
	uint8_t proto;
	uint8_t pad;
	uint16_t tenant;
};
_Static_assert(sizeof(struct pol_ct_key) == 16, "pol_ct_key layout");

/* What the worker parsed from one packet; host byte order. */
struct pol_ct_pkt {
	uint32_t src, dst;
	uint16_t sport, dport; /* ICMP echo: the identifier in both; other protocols: 0 */
	uint8_t proto;
	uint16_t tenant;
	/* TCP only (pol_ct_tcp_parse fills them) */
	uint8_t tcp_flags;
	uint8_t wscale; /* window scale option of a SYN, 0xff when absent */
	uint16_t win;
	uint32_t seq, ack;
	uint32_t len; /* payload bytes */
};

#define POL_CT_TCP_FIN 0x01
#define POL_CT_TCP_SYN 0x02
#define POL_CT_TCP_RST 0x04
#define POL_CT_TCP_ACK 0x10

enum pol_ct_verdict {
	POL_CT_NEW,     /* no session: the ACL decides, pol_ct_open may start one */
	POL_CT_ORIG,    /* a session, packet from the end that opened it */
	POL_CT_REPLY,   /* a session, packet from the other end */
	POL_CT_INVALID, /* a session, but the packet fails its state or sequence checks: drop */
};

/* A session as the worker sees it. */
struct pol_ct_info {
	int32_t idx;      /* entry, for pol_ct_set_rule */
	uint8_t state;    /* enum pol_ct_state after this packet */
	bool admit_reply; /* the rule that admitted it was stateful */
	uint32_t rule;    /* that rule's id ... */
	uint64_t gen;     /* ... in this generation */
};

struct pol_ct;

/* Control thread, at worker setup. NULL + errno (EINVAL, ENOMEM). */
struct pol_ct *pol_ct_create(const struct pol_ct_conf *conf);
void pol_ct_free(struct pol_ct *ct);

/*
 * Fill k from p; canonical order, so both directions give the same key. Each end as one 48-bit
 * number (address:port), one compare and two selects: no branch on the packet's direction.
 */
static inline void
pol_ct_key_set(struct pol_ct_key *k, const struct pol_ct_pkt *p)
{
	const uint64_t a = (uint64_t)p->src << 16 | p->sport, b = (uint64_t)p->dst << 16 | p->dport;
	const uint64_t lo = a <= b ? a : b, hi = a <= b ? b : a;

	k->ip[0] = (uint32_t)(lo >> 16);
	k->ip[1] = (uint32_t)(hi >> 16);
	k->port[0] = (uint16_t)lo;
	k->port[1] = (uint16_t)hi;
	k->proto = p->proto;
	k->pad = 0;
	k->tenant = p->tenant;
}

/*
 * Parse a TCP header (th, hdr_avail bytes of it in the frame) into p's TCP fields: flags, seq,
 * ack, window, window scale option (SYN only), payload length pay_len. 0, or -EINVAL when the
 * header is short or its data offset is bad.
 */
int pol_ct_tcp_parse(const uint8_t *th, uint32_t hdr_avail, uint32_t pay_len, struct pol_ct_pkt *p);

/* Look up n (<= 64) keys; idx[i] is the entry or -1. Returns how many were found. */
unsigned pol_ct_lookup_burst(struct pol_ct *ct, const struct pol_ct_key *keys, unsigned n,
                             int32_t *idx);
/* One key: entry or -1. */
int32_t pol_ct_lookup(struct pol_ct *ct, const struct pol_ct_key *k);

/*
 * Track p against entry idx (from the lookup; -1 = none) whose key is k. An entry evicted or
 * reused since the lookup is looked up again; an expired one is removed (POL_CT_NEW). Updates
 * state, sequence tracking, LRU position and last-seen time for ORIG/REPLY; info (may be NULL)
 * gets the session for every verdict but POL_CT_NEW.
 */
enum pol_ct_verdict pol_ct_track(struct pol_ct *ct, int32_t idx, const struct pol_ct_key *k,
                                 const struct pol_ct_pkt *p, uint64_t now_ns,
                                 struct pol_ct_info *info);

/* Who admitted a new session. */
struct pol_ct_admit {
	uint32_t cap;  /* the tenant's session cap on this worker (0 = none allowed) */
	uint32_t rule; /* the ACL rule that allowed it and its generation */
	uint64_t gen;
	bool admit_reply; /* that rule is stateful */
};

/*
 * Start a session for p (key k), the ACL having allowed it. Returns the entry, or -EINVAL (a TCP
 * segment that is not a lone SYN: nothing to track), -EEXIST (already there: track it),
 * -ENOSPC (refused: the tenant is at its cap or the table is full, and nothing transient could
 * be evicted). Counts created/evicted/refused.
 */
int32_t pol_ct_open(struct pol_ct *ct, const struct pol_ct_key *k, const struct pol_ct_pkt *p,
                    const struct pol_ct_admit *a, uint64_t now_ns);

/* Re-stamp a session after a reload re-checked it (the same rule, or another one, still admits). */
void pol_ct_set_rule(struct pol_ct *ct, int32_t idx, uint32_t rule, uint64_t gen, bool admit_reply);

/* Remove entry idx (e.g. a reload revoked it). */
void pol_ct_remove(struct pol_ct *ct, int32_t idx);

/*
 * Remove sessions idle past their state's timeout, looking at up to budget entries from where
 * the last call stopped (call it between bursts). Returns how many were removed.
 */
unsigned pol_ct_expire(struct pol_ct *ct, uint64_t now_ns, unsigned budget);
/*
 * pol_ct_expire, and the sessions that gone(arg, tenant, gen) says belong to a tenant that no
 * longer exists are removed as well (counted tenant_removed); gen is the generation that admitted
 * the session or last re-checked it. A reload removed the tenant, nothing reaches its sessions
 * any more (its addresses are nobody's), and a tenant given the same id by a later reload would
 * find them counted against its cap - established ones for up to a day. gone may be NULL.
 */
unsigned pol_ct_expire_gone(struct pol_ct *ct, uint64_t now_ns, unsigned budget,
                            bool (*gone)(const void *arg, uint16_t tenant, uint64_t gen),
                            const void *arg);

/* ---- reading (the owning worker, or the control thread: counters are read relaxed) ---- */

uint32_t pol_ct_count(const struct pol_ct *ct);
uint32_t pol_ct_tenant_count(const struct pol_ct *ct, uint16_t tenant);
uint64_t pol_ct_counter(const struct pol_ct *ct, enum pol_ct_counter c);
/* 0 and the session, or -ENOENT. */
int pol_ct_get(const struct pol_ct *ct, int32_t idx, struct pol_ct_info *info);
/* The timeout of state s in this table (ns). */
uint64_t pol_ct_timeout(const struct pol_ct *ct, enum pol_ct_state s);

#endif
