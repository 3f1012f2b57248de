/* yaml_util.h - schema walking over a libyaml document: typed getters that record every error with
 * its path. */
#ifndef BYPASSD_POLICY_YAML_UTIL_H
#define BYPASSD_POLICY_YAML_UTIL_H

/*
 * Policy folder only. A loader walks the document along its schema:
 *
 *	size_t at = pol_y_push_key(y, "port");
 *	yaml_node_t *port = pol_y_get(y, gw, "port");
 *	if (pol_y_map(y, port, port_keys)) {
 *		pol_y_k_u16(y, port, "rx_ring", 64, 16384, POL_Y_POW2, &cfg->rx_ring);
 *		...
 *	}
 *	pol_y_pop(y, at);
 *
 * Every getter checks one node and on a mistake records an error at the node's line and column
 * with the current key path ("gateway.port.rx_ring", "policy.tenants[1].ports.udp[0]") and a
 * message saying what was expected and what was found, then returns -EINVAL and leaves *out
 * untouched, so the walk goes on and every mistake in the file is reported in one pass.
 *
 * Scalars are typed the YAML 1.2 core way, which libyaml leaves to us: a plain `~`, `null` or
 * nothing is null, plain true/false (any case form) a boolean, plain [-+]digits or 0x.. an
 * integer. A quoted scalar is always a string ("1024" is not an integer). Aliases are refused when
 * the document is parsed (they can form cycles in libyaml's document model).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config.h"
#include "policy_model.h"

#define POL_Y_MAX_DEPTH 32         /* mappings and lists nested deeper are refused */
#define POL_Y_MAX_KEYS  32         /* known keys of one mapping */
#define POL_Y_MAX_NODES (2u << 20) /* scalars in a document: bounds libyaml's memory (~300 MB) */

struct pol_y {
	yaml_document_t doc;
	bool have_doc;
	const char *file;          /* borrowed: the name errors carry */
	struct pol_cfg_errs *errs; /* borrowed */
	unsigned errs_at;          /* errs->n + errs->dropped when the walk started */
	char path[POL_PATH_MAX];
	size_t plen;
};

/*
 * Parse buf (one YAML document) into y. Returns 0, or -EINVAL after recording the syntax error
 * (with libyaml's line and column), or an error for aliases, nesting deeper than
 * POL_Y_MAX_DEPTH, more than POL_Y_MAX_NODES scalars or a second document in the stream.
 * Call pol_y_fini in every case.
 */
int pol_y_load(struct pol_y *y, const char *file, const char *buf, size_t len,
               struct pol_cfg_errs *errs);
void pol_y_fini(struct pol_y *y);
/* The root node; NULL for an empty document. */
yaml_node_t *pol_y_root(struct pol_y *y);
/* Errors recorded so far by this walk: compare two counts to learn whether a part of it failed. */
unsigned pol_y_nerr(const struct pol_y *y);
bool pol_y_failed(const struct pol_y *y);

/* Key path stack: push returns the length to pop back to. */
size_t pol_y_push_key(struct pol_y *y, const char *key);
size_t pol_y_push_idx(struct pol_y *y, unsigned idx);
void pol_y_pop(struct pol_y *y, size_t saved);
/* The current path ("" at the top). */
const char *pol_y_path(const struct pol_y *y);

/* Record an error at node n (or at the top of the file when n is NULL) with the current path. */
void pol_y_err(struct pol_y *y, const yaml_node_t *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Source position of a node, 1-based ({0, 0} for NULL). */
struct pol_loc pol_y_loc(const yaml_node_t *n);

/* Describe a node for a "found ..." message: "a mapping", "a list", "null", "an integer (12)"... */
const char *pol_y_describe(const yaml_node_t *n, char *buf, size_t size);

/* Scalar classification. */
bool pol_y_is_null(const yaml_node_t *n);
/* A plain scalar with integer syntax. */
bool pol_y_is_int(const yaml_node_t *n);
/* Text of a scalar node (NUL-terminated by libyaml), or NULL for any other node. */
const char *pol_y_text(const yaml_node_t *n);

/*
 * Mappings. pol_y_map checks that n is a mapping (null counts as an empty one) whose keys are
 * scalars, each in known (NULL-terminated) and none repeated; it records one error per bad key
 * ("unknown key 'rx_rnig' (did you mean 'rx_ring'?)") and returns false only when n is not a
 * mapping at all. The current path is the mapping's.
 */
bool pol_y_map(struct pol_y *y, yaml_node_t *n, const char *const *known);
/* Value of key in mapping map (first occurrence), or NULL when absent or map is not a mapping. */
yaml_node_t *pol_y_get(struct pol_y *y, yaml_node_t *map, const char *key);
/* Like pol_y_get, but records "missing required key" (at the mapping) when key is absent. */
yaml_node_t *pol_y_need(struct pol_y *y, yaml_node_t *map, const char *key, const char *what);

/*
 * Sequences: pol_y_seq checks n is a list (null counts as empty) of min..max items and returns the
 * item count, or -EINVAL after recording an error. pol_y_item returns item i.
 */
int pol_y_seq(struct pol_y *y, yaml_node_t *n, unsigned min, unsigned max);
yaml_node_t *pol_y_item(struct pol_y *y, yaml_node_t *seq, unsigned i);
/*
 * pol_y_seq, then a zeroed array of that many items of size bytes in *arr (NULL when none).
 * Returns the count: 0 when the list is empty, absent or bad, or memory ran out (error recorded).
 */
unsigned pol_y_list_alloc(struct pol_y *y, yaml_node_t *seq, unsigned min, unsigned max,
                          size_t size, void **arr);

/* Flags for the integer getters. */
#define POL_Y_POW2 0x1 /* must be a power of two */
#define POL_Y_SI   0x2 /* accept a k/M/G suffix (x1000) */

/*
 * Node-level getters: n is the value, the current path names it. 0 or -EINVAL (error recorded,
 * *out untouched).
 */
int pol_y_uint(struct pol_y *y, yaml_node_t *n, uint64_t min, uint64_t max, unsigned flags,
               uint64_t *out);
int pol_y_bool(struct pol_y *y, yaml_node_t *n, bool *out);
/* Any non-null scalar, maxlen bytes at most, no NUL bytes; returns an owned copy in *out (the old
 * value is freed). */
int pol_y_str(struct pol_y *y, yaml_node_t *n, size_t minlen, size_t maxlen, char **out);
/* One of names (NULL-terminated); *out = its index. */
int pol_y_enum(struct pol_y *y, yaml_node_t *n, const char *const *names, int *out);
int pol_y_ipv4(struct pol_y *y, yaml_node_t *n, uint32_t *out);

/* Flags for pol_y_prefix. */
#define POL_Y_PFX_HOST   0x1 /* a bare address "a.b.c.d" is accepted as a /32 */
#define POL_Y_PFX_IFADDR 0x2 /* interface form: host bits are the address, "/len" required */
int pol_y_prefix(struct pol_y *y, yaml_node_t *n, unsigned flags, uint32_t *addr, uint8_t *len);
int pol_y_mac(struct pol_y *y, yaml_node_t *n, uint8_t mac[6]);
/* A port min..65535. */
int pol_y_port(struct pol_y *y, yaml_node_t *n, uint16_t min, uint16_t *out);
/* A port (integer) or a range "lo-hi" with min <= lo <= hi <= 65535. */
int pol_y_port_range(struct pol_y *y, yaml_node_t *n, uint16_t min, uint16_t *lo, uint16_t *hi);

/*
 * Key-level getters: the value of key in map, path extended by key. An absent key leaves *out as
 * it is (the default) and returns 0.
 */
int pol_y_k_u64(struct pol_y *y, yaml_node_t *map, const char *key, uint64_t min, uint64_t max,
                unsigned flags, uint64_t *out);
int pol_y_k_u32(struct pol_y *y, yaml_node_t *map, const char *key, uint32_t min, uint32_t max,
                unsigned flags, uint32_t *out);
int pol_y_k_uns(struct pol_y *y, yaml_node_t *map, const char *key, unsigned min, unsigned max,
                unsigned flags, unsigned *out);
int pol_y_k_u16(struct pol_y *y, yaml_node_t *map, const char *key, uint16_t min, uint16_t max,
                unsigned flags, uint16_t *out);
int pol_y_k_bool(struct pol_y *y, yaml_node_t *map, const char *key, bool *out);
int pol_y_k_str(struct pol_y *y, yaml_node_t *map, const char *key, size_t minlen, size_t maxlen,
                char **out);
int pol_y_k_enum(struct pol_y *y, yaml_node_t *map, const char *key, const char *const *names,
                 int *out);

#endif
