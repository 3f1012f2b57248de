/* l7_priv.h - the compiled L7 stage of a generation: databases, scratch, counters (policy only). */
#ifndef BYPASSD_POLICY_L7_PRIV_H
#define BYPASSD_POLICY_L7_PRIV_H

#include <hs/hs.h>

#include "acl_priv.h"
#include "l7.h"

/* One signature as compiled; its index in pol_l7.sigs is its Hyperscan id. */
struct pol_l7_sig {
	char name[POL_NAME_MAX + 1];
	int32_t tenant_idx; /* into g->tenants, -1 for the operator tier */
	uint8_t action;     /* enum pol_sig_action */
	bool compiled;      /* in a database (some rule references it) */
	uint32_t flags;     /* POL_SIGF_* */
	/* ids of the rules of each direction that reference it (into l7->refs) */
	uint32_t ref_off[POL_DIR_MAX], n_refs[POL_DIR_MAX];
	uint64_t base_hits; /* carried from earlier generations (control thread) */
	uint64_t carried;   /* its hits when they were carried to the next generation */
};

/* Per worker counters: one cache line of totals, then one counter per signature. */
struct pol_l7_wcnt {
	uint64_t scans, bytes, errors;
};

struct pol_l7 {
	unsigned n_sigs;
	struct pol_l7_sig *sigs;
	uint32_t *refs; /* rule ids, sliced by pol_l7_sig.ref_off/n_refs */
	bool on[POL_DIR_MAX];
	hs_database_t *op[POL_DIR_MAX];   /* the operator tier's database per direction, or NULL */
	hs_database_t **tdb[POL_DIR_MAX]; /* [tenant id] -> the tenant's database, or NULL */
	/* stream mode (TCP flows, l7_stream_fp.c): the signatures of the tier's rules of the
	 * direction that can match TCP (protocol tcp or any), compiled with HS_MODE_STREAM */
	hs_database_t *sop[POL_DIR_MAX];   /* the operator tier's, or NULL */
	hs_database_t **stdb[POL_DIR_MAX]; /* [tenant id] -> the tenant's, or NULL */
	size_t stream_size;                /* the largest hs_stream_size of them (0: none) */
	bool son[POL_DIR_MAX];             /* some stream database for the direction */
	uint32_t n_ids;                    /* size of tdb[d] */
	unsigned n_dbs;
	hs_database_t **dbs; /* every database, for freeing */
	unsigned n_workers;
	hs_scratch_t **scratch; /* [n_workers]: clones of one prototype fitting every database */
	uint64_t *cnt;     /* [n_workers][cnt_stride]: struct pol_l7_wcnt, then per signature */
	size_t cnt_stride; /* in uint64_t, a multiple of a cache line */
	/* a worker that drops the last reference of this generation (its last stream closed)
	 * links it on its streams context for the control thread to free (pol_l7_streams_reap) */
	struct pol_gen *retired_next;
	bool carried; /* pol_l7_carry copied its counters to a later generation */
};

/*
 * Control thread, a retired generation old (no worker holds it): fold the signature hits its
 * streams counted after pol_l7_carry into g (the current one) by (tier, name).
 */
void pol_l7_carry_late(struct pol_gen *g, const struct pol_gen *old);
#define POL_L7_CNT_SIGS 8u /* signature counters start after the first cache line */

/* ---- stream mode (l7_stream.c, l7_stream_fp.c) ---- */

#define POL_L7_SLOT_HDR 16u        /* before a stream's state in its slot: owner, index */
#define POL_L7_OFF_NONE UINT64_MAX /* no offset (not decided) */
#define POL_L7_NO_IDX   UINT32_MAX
#define POL_L7_PINS     8u /* generations a streams context pins with one reference each */
#define POL_L7_PIN_OWN  0xffu

enum pol_l7_flow_state { POL_L7_FLOW_FREE, POL_L7_FLOW_OPEN, POL_L7_FLOW_EOF, POL_L7_FLOW_DENIED };

/* One TCP flow's stream stage. Worker-private. */
struct pol_l7_flow {
	const struct pol_gen *g; /* holds one reference */
	hs_stream_t *st[2];      /* operator, tenant tier; NULL when not (or no longer) scanned */
	uint32_t plain[4];       /* the flow's plain rules: op allow, op deny, tenant allow, deny */
	uint32_t acc_allow[2];   /* per tier: best signature rule matched so far, allow / deny */
	uint32_t acc_deny[2];
	uint64_t op_dec; /* stream offset where the operator tier decided, or POL_L7_OFF_NONE */
	uint64_t seen;   /* bytes scanned so far */
	struct pol_l7_deny deny;
	uint32_t src, dst;
	uint16_t sport, dport;
	uint16_t tenant;
	uint8_t dir, proto, state;
	uint8_t pin; /* index into pol_l7_streams.pins, or POL_L7_PIN_OWN: holds its own reference
	              */
	uint32_t next_free;
};

/* A slot's header; the stream's state follows (16-byte aligned). */
struct pol_l7_slot_hdr {
	struct pol_l7_streams *owner; /* NULL: malloc'd (no pool installed at hs_open_stream) */
	uint32_t idx;
	uint32_t magic;
};
_Static_assert(sizeof(struct pol_l7_slot_hdr) == POL_L7_SLOT_HDR, "slot header");
#define POL_L7_SLOT_MAGIC 0x5157b10cu

struct pol_l7_streams {
	unsigned worker;
	uint32_t max_flows, max_streams, slot_bytes;
	struct pol_l7_flow *flows; /* [max_flows] */
	uint32_t flow_free;        /* head of the free list, POL_L7_NO_IDX when empty */
	uint32_t flows_used;
	uint8_t *slots;      /* [max_streams * slot_bytes], cache-line aligned */
	uint32_t *slot_free; /* stack of free slot indices */
	uint32_t n_slot_free;
	/*
	 * The generations this worker's flows use, one reference each (the generation's refcount
	 * line is written once per worker and generation, not per flow: it shares a line with what
	 * every worker reads per burst). Flows of a ninth generation hold their own reference.
	 */
	struct {
		const struct pol_gen *g;
		uint32_t n_flows;
	} pins[POL_L7_PINS];
	struct pol_gen *_Atomic retired; /* generations whose last reference a flow dropped */
	uint64_t cnt[POL_L7_SCNT__MAX];  /* written by the worker only */
};

/*
 * The pool hs_open_stream allocates from (Hyperscan's stream allocator has no context
 * argument): set by pol_l7_flow_open on the worker around the call, NULL otherwise.
 */
extern __thread struct pol_l7_streams *pol_l7_tl_pool;
/* Installs the stream allocator once per process (l7_stream.c). */
int pol_l7_stream_alloc_init(void);

#endif
