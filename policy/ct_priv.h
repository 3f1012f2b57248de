/* ct_priv.h - conntrack entries, lists and table (policy folder only). */
#ifndef BYPASSD_POLICY_CT_PRIV_H
#define BYPASSD_POLICY_CT_PRIV_H

#include "ct.h"

struct rte_hash;

#define CT_NIL UINT32_MAX

/* One direction of a TCP session (after Linux nf_conntrack's td_*). */
struct ct_side {
	uint32_t end;     /* highest seq + len sent */
	uint32_t maxend;  /* highest seq this side may send: the other side's ack + window */
	uint32_t maxwin;  /* largest window this side advertised (scaled) */
	uint32_t fin_end; /* seq after this side's FIN, when CT_SIDE_FIN */
	uint8_t wscale;   /* 0..14, 0 unless both SYNs carried the option */
	uint8_t flags;
};
#define CT_SIDE_SEEN   0x01 /* has sent something (its SYN) */
#define CT_SIDE_FIN    0x02 /* has sent a FIN */
#define CT_SIDE_FINACK 0x04 /* ... and the other side acknowledged it */
#define CT_SIDE_WS     0x08 /* its SYN carried the window scale option */

struct ct_entry {
	struct pol_ct_key key;
	uint64_t last_ns;
	uint64_t gen;
	uint32_t rule;
	uint32_t prev, next;   /* table's transient LRU (oldest at head) */
	uint32_t tprev, tnext; /* tenant's transient LRU */
	uint8_t state;
	uint8_t flags;
	struct ct_side side[2]; /* [0] the opener, [1] the responder */
};
#define CT_E_USED    0x01
#define CT_E_ORIG_LO 0x02 /* the opener is key endpoint 0 */
#define CT_E_ADMIT   0x04 /* admit the reply direction */
#define CT_E_LISTED  0x08 /* on the transient lists */

struct ct_tenant {
	uint32_t count;
	uint32_t head, tail;
};

struct pol_ct {
	struct rte_hash *h;
	struct ct_entry *e; /* [n_slots], indexed by rte_hash position */
	uint32_t n_slots, capacity, count;
	uint32_t head, tail; /* table's transient LRU */
	uint32_t max_tenants;
	struct ct_tenant *tenants;
	uint32_t sweep; /* pol_ct_expire cursor */
	uint64_t timeout[POL_CT_NSTATES];
	uint64_t cnt[POL_CT_CNT__MAX];
};

extern const uint8_t pol_ct_state_evictable[POL_CT_NSTATES];

/* ct.c: lists and removal, shared with the fast path */
void ct_list_add(struct pol_ct *ct, uint32_t i);
void ct_list_del(struct pol_ct *ct, uint32_t i);
void ct_entry_remove(struct pol_ct *ct, uint32_t i);

#endif
