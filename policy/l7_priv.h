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
	uint32_t n_ids;                   /* size of tdb[d] */
	unsigned n_dbs;
	hs_database_t **dbs; /* every database, for freeing */
	unsigned n_workers;
	hs_scratch_t **scratch; /* [n_workers]: clones of one prototype fitting every database */
	uint64_t *cnt;     /* [n_workers][cnt_stride]: struct pol_l7_wcnt, then per signature */
	size_t cnt_stride; /* in uint64_t, a multiple of a cache line */
};
#define POL_L7_CNT_SIGS 8u /* signature counters start after the first cache line */

#endif
