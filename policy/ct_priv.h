/* ct_priv.h - conntrack entries, lists and table (policy folder only). */
#ifndef BYPASSD_POLICY_CT_PRIV_H
#define BYPASSD_POLICY_CT_PRIV_H

#include "ct.h"

#define CT_NIL UINT32_MAX

/* One direction of a TCP session (after Linux nf_conntrack's td_*). */
struct ct_side {
	uint32_t end;     /* highest seq + len sent */
	uint32_t maxend;  /* highest seq this side may send: the other side's ack + window */
	uint32_t maxwin;  /* largest window this side advertised (scaled) */
	uint32_t fin_end; /* seq after this side's FIN, when CT_SIDE_FIN */
	uint32_t ackd;    /* highest ack this side sent (its RCV.NXT), when CT_SIDE_ACKD */
	uint8_t wscale;   /* 0..14, 0 unless both SYNs carried the option */
	uint8_t flags;
};
#define CT_SIDE_SEEN   0x01 /* has sent something (its SYN) */
#define CT_SIDE_FIN    0x02 /* has sent a FIN */
#define CT_SIDE_FINACK 0x04 /* ... and the other side acknowledged it */
#define CT_SIDE_WS     0x08 /* its SYN carried the window scale option */
#define CT_SIDE_ACKD   0x10 /* ackd is set */

/*
 * A session: one cache line, everything a hit reads and writes (key, state, time, LRU links).
 * The TCP window tracking of entry i is ct->side[i], a parallel array only TCP touches.
 */
struct ct_entry {
	struct pol_ct_key key;
	uint64_t last_ns;
	uint8_t state;
	uint8_t flags;
	uint16_t pad_;
	uint32_t hash;         /* of the key: where the index holds it */
	uint32_t prev, next;   /* table's transient LRU (oldest at head) */
	uint32_t tprev, tnext; /* tenant's transient LRU */
	uint32_t rule;
	uint64_t gen;
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct ct_entry) == 64, "ct_entry: one cache line");
#define CT_E_USED    0x01
#define CT_E_ORIG_LO 0x02 /* the opener is key endpoint 0 */
#define CT_E_ADMIT   0x04 /* admit the reply direction */
#define CT_E_LISTED  0x08 /* on the transient lists */

/*
 * The index: open addressing over 64-byte buckets of 8 slots, probed linearly from the key's
 * home bucket (hash & mask). A slot holds a 16-bit tag (the hash's high bits) and an entry index;
 * `ovf` counts the keys that passed this bucket on their way to a later one, so a lookup stops at
 * the first bucket with ovf == 0 and a removal leaves no tombstone (F14's scheme). Sized at twice
 * the capacity in slots: a bucket's 8 slots are rarely all taken, so a lookup is one bucket line
 * plus one entry line, both prefetched in bursts.
 */
#define CT_BUCKET_SLOTS 8
struct ct_bucket {
	uint16_t tag[CT_BUCKET_SLOTS];
	uint32_t idx[CT_BUCKET_SLOTS];
	uint8_t used; /* bit s: slot s holds an entry */
	uint8_t pad_[3];
	uint32_t ovf;
	uint32_t pad2_[2];
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct ct_bucket) == 64, "ct_bucket: one cache line");

struct ct_tenant {
	uint32_t count;
	uint32_t head, tail;
};

struct pol_ct {
	struct ct_bucket *b;       /* [mask + 1] */
	struct ct_entry *e;        /* [n_slots] */
	struct ct_side (*side)[2]; /* [n_slots]: TCP, [0] the opener, [1] the responder */
	uint32_t mask;             /* buckets - 1 */
	uint32_t seed; /* of the hash: secret, so a peer cannot aim tuples at one bucket */
	uint32_t n_slots, capacity, count;
	uint32_t head, tail; /* table's transient LRU */
	uint32_t max_tenants;
	struct ct_tenant *tenants;
	uint32_t *free; /* [n_slots]: stack of free entries, n_free of them */
	uint32_t n_free;
	uint32_t sweep; /* pol_ct_expire cursor */
	uint64_t timeout[POL_CT_NSTATES];
	uint64_t cnt[POL_CT_CNT__MAX];
};

extern const uint8_t pol_ct_state_evictable[POL_CT_NSTATES];

/* ct.c: lists and removal, shared with the fast path */
void ct_list_add(struct pol_ct *ct, uint32_t i);
void ct_list_del(struct pol_ct *ct, uint32_t i);
void ct_entry_remove(struct pol_ct *ct, uint32_t i);
/* ct_fp.c: the index */
uint32_t ct_hash(const struct pol_ct *ct, const struct pol_ct_key *k);
void ct_index_del(struct pol_ct *ct, uint32_t hash, uint32_t i);

#endif
