/* policy_json.c - JSON front end of the policy model: jansson tree -> libyaml document -> loader.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_json.h"
#include "policy_priv.h"

/* ---- JSON -> YAML document ---- */

struct conv {
	yaml_document_t *doc;
	unsigned nodes;
	bool too_deep, too_many, nomem;
};

static int
scalar(struct conv *c, const char *s, size_t len, yaml_scalar_style_t style)
{
	int id;

	if (++c->nodes > POL_Y_MAX_NODES) {
		c->too_many = true;
		return 0;
	}
	id = yaml_document_add_scalar(c->doc, NULL, (yaml_char_t *)s, (int)len, style);
	if (!id)
		c->nomem = true;
	return id;
}

/* Node id of v added to the document (containers before their items: the root is node 1). */
static int
add_value(struct conv *c, const json_t *v, unsigned depth)
{
	char buf[64];
	int id, k, item;
	size_t i;

	if (depth > POL_Y_MAX_DEPTH) {
		c->too_deep = true;
		return 0;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;

		id = yaml_document_add_mapping(c->doc, NULL, YAML_FLOW_MAPPING_STYLE);
		if (!id) {
			c->nomem = true;
			return 0;
		}
		json_object_foreach((json_t *)v, key, val)
		{
			k = scalar(c, key, strlen(key), YAML_PLAIN_SCALAR_STYLE);
			item = k ? add_value(c, val, depth + 1) : 0;
			if (!item || !yaml_document_append_mapping_pair(c->doc, id, k, item)) {
				c->nomem |= !(c->too_deep || c->too_many);
				return 0;
			}
		}
		return id;
	}
	case JSON_ARRAY:
		id = yaml_document_add_sequence(c->doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
		if (!id) {
			c->nomem = true;
			return 0;
		}
		for (i = 0; i < json_array_size(v); i++) {
			item = add_value(c, json_array_get(v, i), depth + 1);
			if (!item || !yaml_document_append_sequence_item(c->doc, id, item)) {
				c->nomem |= !(c->too_deep || c->too_many);
				return 0;
			}
		}
		return id;
	case JSON_STRING:
		return scalar(c, json_string_value(v), json_string_length(v),
		              YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return scalar(c, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
	case JSON_REAL:
		/* not an integer to the loader: "expected an integer ..., found '1.5'" */
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		return scalar(c, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
	case JSON_TRUE:
		return scalar(c, "true", 4, YAML_PLAIN_SCALAR_STYLE);
	case JSON_FALSE:
		return scalar(c, "false", 5, YAML_PLAIN_SCALAR_STYLE);
	case JSON_NULL:
	default:
		return scalar(c, "null", 4, YAML_PLAIN_SCALAR_STYLE);
	}
}

struct pol_policy *
pol_policy_from_json_value(const char *name, const json_t *root, struct pol_cfg_errs *errs)
{
	unsigned from = errs->n;
	struct pol_policy *p = NULL;
	struct conv c = {0};
	struct pol_y y;
	bool failed;

	memset(&y, 0, sizeof(y));
	y.file = name ? name : "-";
	y.errs = errs;
	y.errs_at = pol_cfg_errs_count(errs);
	if (!yaml_document_initialize(&y.doc, NULL, NULL, NULL, 1, 1)) {
		pol_cfg_err_add(errs, y.file, 0, 0, "(document)", "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	y.have_doc = true;
	c.doc = &y.doc;
	if (!add_value(&c, root, 1)) {
		if (c.too_deep)
			pol_y_err(&y, NULL, "nested deeper than %u levels", POL_Y_MAX_DEPTH);
		else if (c.too_many)
			pol_y_err(&y, NULL, "more than %u values", POL_Y_MAX_NODES);
		else
			pol_y_err(&y, NULL, "out of memory");
	} else {
		p = pol_policy_parse(&y, pol_y_root(&y));
	}
	failed = pol_y_failed(&y) || !p;
	pol_y_fini(&y);
	/* the converted document has no positions (its marks are all 0:0): say none */
	for (; from < errs->n; from++)
		errs->v[from].line = errs->v[from].col = 0;
	if (failed) {
		pol_policy_free(p);
		errno = c.nomem ? ENOMEM : EINVAL;
		return NULL;
	}
	return p;
}

struct pol_policy *
pol_policy_from_json(const char *name, const char *buf, size_t len, struct pol_cfg_errs *errs)
{
	struct pol_policy *p;
	json_error_t je;
	json_t *root;

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		pol_cfg_err_add(errs, name ? name : "-", je.line > 0 ? (unsigned)je.line : 0,
		                je.column > 0 ? (unsigned)je.column : 0, "(document)",
		                "JSON syntax error: %s", je.text);
		errno = EINVAL;
		return NULL;
	}
	p = pol_policy_from_json_value(name, root, errs);
	json_decref(root);
	return p;
}

/* ---- model -> JSON ---- */

/* json_object_set_new that remembers a failure instead of checking every call */
static void
put(json_t *o, const char *key, json_t *v, bool *bad)
{
	if (!v || json_object_set_new(o, key, v))
		*bad = true;
}

static void
push(json_t *a, json_t *v, bool *bad)
{
	if (!v || json_array_append_new(a, v))
		*bad = true;
}

static json_t *
prefixes(const struct pol_prefix *v, unsigned n, bool *bad)
{
	json_t *a = json_array();
	char s[24], ip[16];
	unsigned i;

	for (i = 0; a && i < n; i++) {
		if (v[i].len == 32)
			snprintf(s, sizeof(s), "%s", pol_ipv4_str(v[i].addr, ip));
		else
			snprintf(s, sizeof(s), "%s/%u", pol_ipv4_str(v[i].addr, ip), v[i].len);
		push(a, json_string(s), bad);
	}
	return a;
}

static json_t *
ports(const struct pol_port_range *v, unsigned n, bool *bad)
{
	json_t *a = json_array();
	char s[16];
	unsigned i;

	for (i = 0; a && i < n; i++) {
		if (v[i].lo == v[i].hi) {
			push(a, json_integer(v[i].lo), bad);
		} else {
			snprintf(s, sizeof(s), "%u-%u", v[i].lo, v[i].hi);
			push(a, json_string(s), bad);
		}
	}
	return a;
}

static json_t *
ids(const uint32_t *v, unsigned n, bool *bad)
{
	json_t *a = json_array();
	unsigned i;

	for (i = 0; a && i < n; i++)
		push(a, json_integer(v[i]), bad);
	return a;
}

static json_t *
match(const struct pol_match *m, bool *bad)
{
	json_t *o = json_object();

	if (o) {
		put(o, "cidrs", prefixes(m->cidrs, m->n_cidrs, bad), bad);
		put(o, "except", prefixes(m->except, m->n_except, bad), bad);
		put(o, "ports", ports(m->ports, m->n_ports, bad), bad);
	}
	return o;
}

static json_t *
protocol(uint16_t proto)
{
	switch (proto) {
	case 6:
		return json_string("tcp");
	case 17:
		return json_string("udp");
	case 1:
		return json_string("icmp");
	case POL_PROTO_ANY:
		return json_string("any");
	default:
		return json_integer(proto);
	}
}

static json_t *
rule(const struct pol_rule *r, bool *bad)
{
	json_t *o = json_object(), *sigs = json_array();
	unsigned i;

	for (i = 0; sigs && i < r->n_sigs; i++)
		push(sigs, json_string(r->sigs[i].name), bad);
	if (!o) {
		json_decref(sigs);
		return NULL;
	}
	put(o, "name", json_string(r->name), bad);
	put(o, "priority", json_integer(r->priority), bad);
	put(o, "direction", json_string(pol_dir_name(r->dir)), bad);
	put(o, "action", json_string(pol_action_name(r->action)), bad);
	put(o, "log", json_boolean(r->log), bad);
	put(o, "protocol", protocol(r->proto), bad);
	put(o, "src", match(&r->src, bad), bad);
	put(o, "dst", match(&r->dst, bad), bad);
	put(o, "stateful", json_boolean(r->stateful), bad);
	put(o, "signatures", sigs, bad);
	put(o, "offload", json_string(pol_offload_name(r->offload)), bad);
	return o;
}

static json_t *
signature(const struct pol_signature *s, bool *bad)
{
	json_t *o = json_object(), *flags = json_array();
	unsigned b;

	for (b = 0; flags && b < POL_SIGF_NBITS; b++)
		if (s->flags & (1u << b))
			push(flags, json_string(pol_sig_flag_name(b)), bad);
	if (!o) {
		json_decref(flags);
		return NULL;
	}
	put(o, "name", json_string(s->name), bad);
	put(o, "pattern", json_string(s->pattern), bad);
	put(o, "flags", flags, bad);
	put(o, "action", json_string(s->action == POL_SIG_COUNT ? "count" : "deny"), bad);
	return o;
}

/* signatures: and rules: of a tier into o */
static void
ruleset(json_t *o, const struct pol_ruleset *rs, bool *bad)
{
	json_t *sigs = json_array(), *rules = json_array();
	unsigned i;

	for (i = 0; sigs && i < rs->n_sigs; i++)
		push(sigs, signature(&rs->sigs[i], bad), bad);
	for (i = 0; rules && i < rs->n_rules; i++)
		push(rules, rule(&rs->rules[i], bad), bad);
	put(o, "signatures", sigs, bad);
	put(o, "rules", rules, bad);
}

static json_t *
bucket(const struct pol_rate *r, bool *bad)
{
	return json_pack("{s:I,s:I,s:I}", "pps", (json_int_t)r->pps, "bps", (json_int_t)r->bps,
	                 "burst", (json_int_t)r->burst);
}

static json_t *
tenant(const struct pol_tenant *t, bool *bad)
{
	json_t *o = json_object(), *v;

	if (!o)
		return NULL;
	put(o, "name", json_string(t->name), bad);
	put(o, "addresses", prefixes(t->addrs, t->n_addrs, bad), bad);
	v = json_object();
	if (v) {
		put(v, "uids", ids(t->uids, t->n_uids, bad), bad);
		put(v, "gids", ids(t->gids, t->n_gids, bad), bad);
	}
	put(o, "allow", v, bad);
	put(o, "raw", json_boolean(t->raw), bad);
	v = json_object();
	if (v) {
		put(v, "udp", ports(t->udp, t->n_udp, bad), bad);
		put(v, "tcp", ports(t->tcp, t->n_tcp, bad), bad);
	}
	put(o, "ports", v, bad);
	put(o, "quotas",
	    json_pack("{s:I,s:I,s:I,s:I,s:I}", "apps", (json_int_t)t->quota.apps, "queues",
	              (json_int_t)t->quota.queues, "buffers", (json_int_t)t->quota.buffers,
	              "sessions", (json_int_t)t->quota.sessions, "connections",
	              (json_int_t)t->quota.connections),
	    bad);
	v = json_object();
	if (v) {
		put(v, "ingress", bucket(&t->rate.ingress, bad), bad);
		put(v, "egress", bucket(&t->rate.egress, bad), bad);
		put(v, "new_connections_per_s", json_integer(t->rate.new_conn_per_s), bad);
	}
	put(o, "rate_limit", v, bad);
	put(o, "default",
	    json_pack("{s:s,s:s}", "ingress", pol_action_name(t->dflt[POL_DIR_INGRESS]), "egress",
	              pol_action_name(t->dflt[POL_DIR_EGRESS])),
	    bad);
	ruleset(o, &t->rs, bad);
	return o;
}

json_t *
pol_policy_to_json(const struct pol_policy *p)
{
	json_t *o = json_object(), *op = json_object(), *ts = json_array();
	bool bad = !o || !op || !ts;
	unsigned i;

	if (bad) {
		json_decref(o);
		json_decref(op);
		json_decref(ts);
		return NULL;
	}
	ruleset(op, &p->op, &bad);
	put(o, "operator", op, &bad);
	for (i = 0; i < p->n_tenants; i++)
		push(ts, tenant(&p->tenants[i], &bad), &bad);
	put(o, "tenants", ts, &bad);
	if (bad) {
		json_decref(o);
		errno = ENOMEM;
		return NULL;
	}
	return o;
}
