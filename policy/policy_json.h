/* policy_json.h - the policy model from and to JSON (the admin API's front end). */
#ifndef BYPASSD_POLICY_POLICY_JSON_H
#define BYPASSD_POLICY_POLICY_JSON_H

/*
 * The JSON schema is the YAML schema (docs/policy.md): same keys, defaults, checks and messages,
 * because the JSON tree is handed to the YAML loader's schema walker (policy_load.c) as a libyaml
 * document: JSON strings become quoted scalars (so "1024" is a string, as in YAML), numbers,
 * true, false and null plain ones. A JSON syntax error carries jansson's line and column; schema
 * errors carry the key path ("tenants[0].rules[2].priority") and no position (jansson keeps
 * none). Duplicate keys are refused, as in YAML.
 */

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "policy_model.h"

/*
 * Parse and validate a policy document (its top level is the policy mapping: operator, tenants)
 * from JSON text. Returns an owned policy, or NULL (errno EINVAL or ENOMEM) with every error
 * appended to errs under the file name name. Not checked against a gateway.
 */
struct pol_policy *pol_policy_from_json(const char *name, const char *buf, size_t len,
                                        struct pol_cfg_errs *errs);
/* The same from a parsed JSON value (borrowed). */
struct pol_policy *pol_policy_from_json_value(const char *name, const json_t *root,
                                              struct pol_cfg_errs *errs);

/*
 * The policy as JSON in the same schema, every key written out (defaults included), so that
 * pol_policy_from_json(pol_policy_to_json(p)) is p again. Users and groups come out as numbers.
 * Returns a new reference, or NULL when out of memory.
 */
json_t *pol_policy_to_json(const struct pol_policy *p);

#endif
