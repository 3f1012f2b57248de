/* policy_priv.h - between the policy folder's loaders (policy folder only). */
#ifndef BYPASSD_POLICY_POLICY_PRIV_H
#define BYPASSD_POLICY_POLICY_PRIV_H

#include "config.h"
#include "policy_model.h"
#include "yaml_util.h"

#define POL_CFG_FILE_MAX (16u << 20) /* config and policy files, bytes */

/*
 * Parse and validate the policy mapping n (null: an empty policy) at y's current path. Returns an
 * owned policy (NULL only when out of memory) holding what was good even when errors were
 * recorded, so that checks against the gateway still report everything: the caller frees it when
 * the walk failed.
 */
struct pol_policy *pol_policy_parse(struct pol_y *y, yaml_node_t *n);
/*
 * pol_policy_load_buf/_file, but returning what was good even when *failed (errors recorded), for
 * checks that should still run (against the gateway). The caller frees it.
 */
struct pol_policy *pol_policy_read(const char *name, const char *buf, size_t len,
                                   struct pol_cfg_errs *errs, bool *failed);
struct pol_policy *pol_policy_read_file(const char *path, struct pol_cfg_errs *errs, bool *failed);
/* An empty policy naming file and path (both copied); NULL when out of memory. */
struct pol_policy *pol_policy_new(const char *file, const char *path);

/*
 * Read a whole file (at most POL_CFG_FILE_MAX bytes) into an owned, NUL-terminated buffer.
 * 0, or -errno with the error recorded in errs under the file's name.
 */
int pol_read_file(const char *path, char **buf, size_t *len, struct pol_cfg_errs *errs);

#endif
