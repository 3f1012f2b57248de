/* policy_load.c - the policy (config section or standalone file) from YAML into the policy model.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_priv.h"

static const char *const policy_keys[] = {"operator", "tenants", NULL};
static const char *const ruleset_keys[] = {"signatures", "rules", NULL};
static const char *const tenant_keys[] = {"name",       "addresses", "allow",      "raw",
                                          "ports",      "quotas",    "rate_limit", "default",
                                          "signatures", "rules",     NULL};
static const char *const allow_keys[] = {"uids", "gids", NULL};
static const char *const ports_keys[] = {"udp", "tcp", NULL};
static const char *const quota_keys[] = {"apps",     "queues",      "buffers",
                                         "sessions", "connections", NULL};
static const char *const rate_keys[] = {"ingress", "egress", "new_connections_per_s", NULL};
static const char *const bucket_keys[] = {"pps", "bps", "burst", NULL};
static const char *const default_keys[] = {"ingress", "egress", NULL};
static const char *const sig_keys[] = {"name", "pattern", "flags", "action", NULL};
static const char *const rule_keys[] = {"name",     "priority",   "direction", "action",
                                        "log",      "protocol",   "src",       "dst",
                                        "stateful", "signatures", "offload",   NULL};
static const char *const match_keys[] = {"cidrs", "except", "ports", NULL};

static const char *const dir_names[] = {"ingress", "egress", NULL};
static const char *const action_names[] = {"allow", "deny", NULL};
static const char *const sig_action_names[] = {"deny", "count", NULL};
static const char *const offload_names[] = {"auto", "never", "required", NULL};
static const char *const sig_flag_names[] = {
#define _(e, n) n,
        foreach_pol_sig_flag(_)
#undef _
                NULL};
static const char *const proto_names[] = {"tcp", "udp", "icmp", "any", NULL};
static const uint16_t proto_values[] = {6, 17, 1, POL_PROTO_ANY};

/* ---- lists ---- */

/* The list seq as a zeroed array of its items (pol_y_list_alloc): the count, 0 when none. */
static unsigned
list_alloc(struct pol_y *y, yaml_node_t *seq, unsigned min, unsigned max, size_t size, void **arr)
{
	return pol_y_list_alloc(y, seq, min, max, size, arr);
}

/* A list of prefixes at key; keeps the good ones. */
static unsigned
load_prefixes(struct pol_y *y, yaml_node_t *map, const char *key, unsigned min, unsigned flags,
              bool unicast, struct pol_prefix **out)
{
	yaml_node_t *seq = pol_y_get(y, map, key);
	size_t at = pol_y_push_key(y, key);
	unsigned i, n, good = 0;

	if (min && !seq)
		pol_y_need(y, map, key, "a list of addresses");
	n = list_alloc(y, seq, min, POL_MAX_LIST, sizeof(**out), (void **)out);
	for (i = 0; i < n; i++) {
		yaml_node_t *it = pol_y_item(y, seq, i);
		size_t at2 = pol_y_push_idx(y, i);
		struct pol_prefix *p = &(*out)[good];

		if (!pol_y_prefix(y, it, flags, &p->addr, &p->len)) {
			const char *bad = unicast ? pol_prefix_not_unicast(p->addr, p->len) : NULL;
			char a[16];

			if (bad) {
				pol_y_err(y, it,
				          "expected a unicast host or prefix, found %s/%u (%s)",
				          pol_ipv4_str(p->addr, a), p->len, bad);
			} else {
				p->loc = pol_y_loc(it);
				good++;
			}
		}
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
	return good;
}

/* A list of ports and port ranges at key; keeps the good ones. */
static unsigned
load_ports(struct pol_y *y, yaml_node_t *map, const char *key, uint16_t min,
           struct pol_port_range **out, struct pol_loc *loc)
{
	yaml_node_t *seq = pol_y_get(y, map, key);
	size_t at = pol_y_push_key(y, key);
	unsigned i, n, good = 0;

	if (loc)
		*loc = pol_y_loc(seq);
	n = list_alloc(y, seq, 0, POL_MAX_LIST, sizeof(**out), (void **)out);
	for (i = 0; i < n; i++) {
		yaml_node_t *it = pol_y_item(y, seq, i);
		size_t at2 = pol_y_push_idx(y, i);
		struct pol_port_range *r = &(*out)[good];

		if (!pol_y_port_range(y, it, min, &r->lo, &r->hi)) {
			r->loc = pol_y_loc(it);
			good++;
		}
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
	return good;
}

/* uids or gids: numbers, or names resolved through NSS. */
static unsigned
load_ids(struct pol_y *y, yaml_node_t *map, const char *key, bool user, uint32_t **out)
{
	yaml_node_t *seq = pol_y_get(y, map, key);
	size_t at = pol_y_push_key(y, key);
	unsigned i, n, good = 0;

	n = list_alloc(y, seq, 0, POL_MAX_LIST, sizeof(**out), (void **)out);
	for (i = 0; i < n; i++) {
		yaml_node_t *it = pol_y_item(y, seq, i);
		size_t at2 = pol_y_push_idx(y, i);
		char *name = NULL;
		uint64_t v;
		uint32_t id;
		int r;

		if (pol_y_is_int(it)) {
			if (!pol_y_uint(y, it, 0, 0xfffffffe, 0, &v))
				(*out)[good++] = (uint32_t)v;
		} else if (!pol_y_str(y, it, 1, 256, &name)) {
			r = user ? pol_resolve_user(name, &id) : pol_resolve_group(name, &id);
			if (!r)
				(*out)[good++] = id;
			else if (r == -ENOENT)
				pol_y_err(y, it, "unknown %s '%s'", user ? "user" : "group", name);
			else
				pol_y_err(y, it, "cannot look up %s '%s': %s",
				          user ? "user" : "group", name, strerror(-r));
		}
		free(name);
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
	return good;
}

/* The required `name` of map: a tenant name or a rule/signature name; *loc set. */
static void
load_name(struct pol_y *y, yaml_node_t *map, bool tenant, char **name, struct pol_loc *loc)
{
	yaml_node_t *n =
	        pol_y_need(y, map, "name", tenant ? "[a-z0-9_-]{1,32}" : "[A-Za-z0-9_.-]{1,64}");
	size_t at = pol_y_push_key(y, "name");
	char *s = NULL;

	if (n && !pol_y_str(y, n, 1, 256, &s)) {
		if (tenant ? pol_tenant_name_ok(s) : pol_item_name_ok(s)) {
			*name = s;
			s = NULL;
		} else {
			pol_y_err(y, n, "expected a name of %s, found '%s'",
			          tenant ? "1..32 characters from a-z 0-9 _ -"
			                 : "1..64 characters from A-Z a-z 0-9 _ . -",
			          s);
		}
	}
	*loc = pol_y_loc(n);
	free(s);
	pol_y_pop(y, at);
}

/* ---- signatures and rules ---- */

static void
load_sig(struct pol_y *y, yaml_node_t *n, struct pol_signature *s)
{
	yaml_node_t *v;
	int e = POL_SIG_DENY, cnt;
	size_t at;
	unsigned i;

	s->loc = pol_y_loc(n);
	s->action = POL_SIG_DENY;
	if (!pol_y_map(y, n, sig_keys))
		return;
	if (pol_y_is_null(n)) {
		pol_y_err(y, n, "expected a signature (name, pattern, ...), found an empty value");
		return;
	}
	load_name(y, n, false, &s->name, &s->name_loc);
	v = pol_y_need(y, n, "pattern", "a Hyperscan regular expression");
	s->pattern_loc = pol_y_loc(v);
	at = pol_y_push_key(y, "pattern");
	if (v)
		pol_y_str(y, v, 1, POL_PATTERN_MAX, &s->pattern);
	pol_y_pop(y, at);
	v = pol_y_get(y, n, "flags");
	at = pol_y_push_key(y, "flags");
	cnt = pol_y_seq(y, v, 0, POL_SIGF_NBITS * 2);
	for (i = 0; cnt > 0 && i < (unsigned)cnt; i++) {
		size_t at2 = pol_y_push_idx(y, i);
		int f;

		if (!pol_y_enum(y, pol_y_item(y, v, i), sig_flag_names, &f))
			s->flags |= 1u << f;
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
	if (!pol_y_k_enum(y, n, "action", sig_action_names, &e))
		s->action = (enum pol_sig_action)e;
}

static void
load_match(struct pol_y *y, yaml_node_t *map, const char *key, struct pol_match *m)
{
	yaml_node_t *n = pol_y_get(y, map, key);
	size_t at = pol_y_push_key(y, key);

	if (pol_y_map(y, n, match_keys)) {
		m->n_cidrs = load_prefixes(y, n, "cidrs", 0, POL_Y_PFX_HOST, false, &m->cidrs);
		m->n_except = load_prefixes(y, n, "except", 0, POL_Y_PFX_HOST, false, &m->except);
		m->n_ports = load_ports(y, n, "ports", 0, &m->ports, &m->ports_loc);
	}
	pol_y_pop(y, at);
}

static void
load_protocol(struct pol_y *y, yaml_node_t *n, struct pol_rule *r)
{
	size_t at = pol_y_push_key(y, "protocol");
	const char *s = pol_y_text(n), *sug;
	char d[96];
	uint64_t v;
	int i;

	r->proto_loc = pol_y_loc(n);
	r->proto = POL_PROTO_BAD;
	if (pol_y_is_int(n)) {
		if (!pol_y_uint(y, n, 0, 255, 0, &v))
			r->proto = (uint16_t)v;
		goto out;
	}
	for (i = 0; s && !pol_y_is_null(n) && proto_names[i]; i++) {
		if (!strcmp(s, proto_names[i])) {
			r->proto = proto_values[i];
			goto out;
		}
	}
	sug = s && !pol_y_is_null(n) ? pol_suggest(s, proto_names) : NULL;
	pol_y_err(y, n, "expected tcp, udp, icmp, any or a protocol number 0..255, found %s%s%s%s",
	          pol_y_describe(n, d, sizeof(d)), sug ? " (did you mean '" : "", sug ? sug : "",
	          sug ? "'?)" : "");
out:
	pol_y_pop(y, at);
}

static void
load_rule(struct pol_y *y, yaml_node_t *n, struct pol_rule *r)
{
	yaml_node_t *v;
	size_t at;
	unsigned i, cnt;
	int e;

	r->loc = pol_y_loc(n);
	r->proto = POL_PROTO_ANY;
	r->offload = POL_OFFLOAD_AUTO;
	if (!pol_y_map(y, n, rule_keys))
		return;
	if (pol_y_is_null(n)) {
		pol_y_err(y, n,
		          "expected a rule (name, priority, direction, action, ...), "
		          "found an empty value");
		return;
	}
	load_name(y, n, false, &r->name, &r->name_loc);
	v = pol_y_need(y, n, "priority", "1..1000000, unique in its tier, lower goes first");
	r->prio_loc = pol_y_loc(v);
	if (v)
		pol_y_k_u32(y, n, "priority", 1, POL_PRIO_MAX, 0, &r->priority);
	v = pol_y_need(y, n, "direction", "ingress or egress");
	e = 0;
	if (v && !pol_y_k_enum(y, n, "direction", dir_names, &e))
		r->dir = (enum pol_dir)e;
	v = pol_y_need(y, n, "action", "allow or deny");
	e = 0;
	if (v && !pol_y_k_enum(y, n, "action", action_names, &e))
		r->action = (enum pol_action)e;
	pol_y_k_bool(y, n, "log", &r->log);
	v = pol_y_get(y, n, "protocol");
	if (v)
		load_protocol(y, v, r);
	load_match(y, n, "src", &r->src);
	load_match(y, n, "dst", &r->dst);
	pol_y_k_bool(y, n, "stateful", &r->stateful);
	e = POL_OFFLOAD_AUTO;
	r->offload_loc = pol_y_loc(pol_y_get(y, n, "offload"));
	if (!pol_y_k_enum(y, n, "offload", offload_names, &e))
		r->offload = (enum pol_offload)e;

	v = pol_y_get(y, n, "signatures");
	at = pol_y_push_key(y, "signatures");
	cnt = list_alloc(y, v, 0, POL_MAX_LIST, sizeof(*r->sigs), (void **)&r->sigs);
	r->n_sigs = cnt;
	for (i = 0; i < cnt; i++) {
		yaml_node_t *it = pol_y_item(y, v, i);
		size_t at2 = pol_y_push_idx(y, i);

		r->sigs[i].loc = pol_y_loc(it);
		pol_y_str(y, it, 1, POL_NAME_MAX, &r->sigs[i].name);
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
}

/* signatures: and rules: of map (the operator mapping or a tenant). */
static void
load_ruleset(struct pol_y *y, yaml_node_t *map, struct pol_ruleset *rs)
{
	yaml_node_t *v = pol_y_get(y, map, "signatures");
	size_t at = pol_y_push_key(y, "signatures");
	unsigned i;

	rs->n_sigs = list_alloc(y, v, 0, POL_MAX_SIGS, sizeof(*rs->sigs), (void **)&rs->sigs);
	for (i = 0; i < rs->n_sigs; i++) {
		size_t at2 = pol_y_push_idx(y, i);

		load_sig(y, pol_y_item(y, v, i), &rs->sigs[i]);
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);

	v = pol_y_get(y, map, "rules");
	at = pol_y_push_key(y, "rules");
	rs->n_rules = list_alloc(y, v, 0, POL_MAX_RULES, sizeof(*rs->rules), (void **)&rs->rules);
	for (i = 0; i < rs->n_rules; i++) {
		size_t at2 = pol_y_push_idx(y, i);

		load_rule(y, pol_y_item(y, v, i), &rs->rules[i]);
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
}

/* ---- tenants ---- */

static void
load_bucket(struct pol_y *y, yaml_node_t *map, const char *key, struct pol_rate *r)
{
	yaml_node_t *n = pol_y_get(y, map, key);
	size_t at = pol_y_push_key(y, key);

	if (pol_y_map(y, n, bucket_keys)) {
		pol_y_k_u64(y, n, "pps", 0, 1000000000ull, POL_Y_SI, &r->pps);
		pol_y_k_u64(y, n, "bps", 0, 1000000000000ull, POL_Y_SI, &r->bps);
		pol_y_k_u32(y, n, "burst", 1, 1000000, POL_Y_SI, &r->burst);
	}
	pol_y_pop(y, at);
}

static void
load_tenant(struct pol_y *y, yaml_node_t *n, struct pol_tenant *t)
{
	yaml_node_t *v, *w;
	size_t at;
	int e;

	t->loc = pol_y_loc(n);
	t->quota.apps = POL_QUOTA_APPS_DEFAULT;
	t->quota.queues = POL_QUOTA_QUEUES_DEFAULT;
	t->quota.buffers = POL_QUOTA_BUFFERS_DEFAULT;
	t->quota.sessions = POL_QUOTA_SESSIONS_DEFAULT;
	t->quota.connections = POL_QUOTA_CONNECTIONS_DEFAULT;
	t->rate.ingress.burst = t->rate.egress.burst = POL_RATE_BURST_DEFAULT;
	t->dflt[POL_DIR_INGRESS] = POL_ACT_DENY;
	t->dflt[POL_DIR_EGRESS] = POL_ACT_ALLOW;
	if (!pol_y_map(y, n, tenant_keys))
		return;
	if (pol_y_is_null(n)) {
		pol_y_err(y, n, "expected a tenant (name, addresses, ...), found an empty value");
		return;
	}
	load_name(y, n, true, &t->name, &t->name_loc);

	t->n_addrs = load_prefixes(y, n, "addresses", 1, POL_Y_PFX_HOST, true, &t->addrs);

	v = pol_y_get(y, n, "allow");
	at = pol_y_push_key(y, "allow");
	if (pol_y_map(y, v, allow_keys)) {
		t->n_uids = load_ids(y, v, "uids", true, &t->uids);
		t->n_gids = load_ids(y, v, "gids", false, &t->gids);
	}
	pol_y_pop(y, at);

	pol_y_k_bool(y, n, "raw", &t->raw);

	v = pol_y_get(y, n, "ports");
	at = pol_y_push_key(y, "ports");
	if (pol_y_map(y, v, ports_keys)) {
		t->n_udp = load_ports(y, v, "udp", 1, &t->udp, NULL);
		t->n_tcp = load_ports(y, v, "tcp", 1, &t->tcp, NULL);
	}
	pol_y_pop(y, at);

	v = pol_y_get(y, n, "quotas");
	at = pol_y_push_key(y, "quotas");
	if (pol_y_map(y, v, quota_keys)) {
		unsigned before = pol_y_nerr(y);

		pol_y_k_u32(y, v, "apps", 1, 4096, 0, &t->quota.apps);
		pol_y_k_u32(y, v, "queues", 1, 65536, 0, &t->quota.queues);
		pol_y_k_u32(y, v, "buffers", 0, 1u << 24, POL_Y_SI, &t->quota.buffers);
		pol_y_k_u32(y, v, "sessions", 0, 1u << 24, POL_Y_SI, &t->quota.sessions);
		pol_y_k_u32(y, v, "connections", 0, 1u << 24, POL_Y_SI, &t->quota.connections);
		if (pol_y_nerr(y) == before && t->quota.queues < t->quota.apps) {
			size_t at2 = pol_y_push_key(y, "queues");

			w = pol_y_get(y, v, "queues");
			pol_y_err(y, w ? w : v,
			          "queues (%u) is less than apps (%u): every app needs a queue",
			          t->quota.queues, t->quota.apps);
			pol_y_pop(y, at2);
		}
	}
	pol_y_pop(y, at);

	v = pol_y_get(y, n, "rate_limit");
	at = pol_y_push_key(y, "rate_limit");
	if (pol_y_map(y, v, rate_keys)) {
		load_bucket(y, v, "ingress", &t->rate.ingress);
		load_bucket(y, v, "egress", &t->rate.egress);
		pol_y_k_u32(y, v, "new_connections_per_s", 0, 10000000, POL_Y_SI,
		            &t->rate.new_conn_per_s);
	}
	pol_y_pop(y, at);

	v = pol_y_get(y, n, "default");
	at = pol_y_push_key(y, "default");
	if (pol_y_map(y, v, default_keys)) {
		e = POL_ACT_DENY;
		if (!pol_y_k_enum(y, v, "ingress", action_names, &e))
			t->dflt[POL_DIR_INGRESS] = (enum pol_action)e;
		e = POL_ACT_ALLOW;
		if (!pol_y_k_enum(y, v, "egress", action_names, &e))
			t->dflt[POL_DIR_EGRESS] = (enum pol_action)e;
	}
	pol_y_pop(y, at);

	load_ruleset(y, n, &t->rs);
}

/* ---- the policy ---- */

struct pol_policy *
pol_policy_new(const char *file, const char *path)
{
	struct pol_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->file = strdup(file ? file : "-");
	p->path = strdup(path ? path : "");
	if (!p->file || !p->path) {
		pol_policy_free(p);
		return NULL;
	}
	return p;
}

struct pol_policy *
pol_policy_parse(struct pol_y *y, yaml_node_t *n)
{
	struct pol_policy *p = pol_policy_new(y->file, pol_y_path(y));
	unsigned i;
	yaml_node_t *v;
	size_t at;

	if (!p) {
		pol_y_err(y, n, "out of memory");
		return NULL;
	}
	if (!pol_y_map(y, n, policy_keys))
		goto out;

	v = pol_y_get(y, n, "operator");
	at = pol_y_push_key(y, "operator");
	if (pol_y_map(y, v, ruleset_keys))
		load_ruleset(y, v, &p->op);
	pol_y_pop(y, at);

	v = pol_y_get(y, n, "tenants");
	at = pol_y_push_key(y, "tenants");
	p->n_tenants =
	        list_alloc(y, v, 0, POL_MAX_TENANTS, sizeof(*p->tenants), (void **)&p->tenants);
	for (i = 0; i < p->n_tenants; i++) {
		size_t at2 = pol_y_push_idx(y, i);

		load_tenant(y, pol_y_item(y, v, i), &p->tenants[i]);
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);

out:
	pol_policy_validate(p, y->errs);
	return p;
}

struct pol_policy *
pol_policy_read(const char *name, const char *buf, size_t len, struct pol_cfg_errs *errs,
                bool *failed)
{
	unsigned from = errs->n;
	struct pol_policy *p = NULL;
	struct pol_y y;

	if (!pol_y_load(&y, name, buf, len, errs)) {
		yaml_node_t *root = pol_y_root(&y);

		if (!root)
			pol_y_err(&y, NULL,
			          "empty document: expected a policy (operator:, tenants:)");
		else
			p = pol_policy_parse(&y, root);
	}
	*failed = pol_y_failed(&y) || !p;
	pol_y_fini(&y);
	pol_cfg_errs_sort(errs, from);
	return p;
}

struct pol_policy *
pol_policy_read_file(const char *path, struct pol_cfg_errs *errs, bool *failed)
{
	struct pol_policy *p;
	char *buf;
	size_t len;

	*failed = true;
	if (pol_read_file(path, &buf, &len, errs))
		return NULL;
	p = pol_policy_read(path, buf, len, errs, failed);
	free(buf);
	return p;
}

struct pol_policy *
pol_policy_load_buf(const char *name, const char *buf, size_t len, struct pol_cfg_errs *errs)
{
	bool failed;
	struct pol_policy *p = pol_policy_read(name, buf, len, errs, &failed);

	if (failed) {
		pol_policy_free(p);
		errno = EINVAL;
		return NULL;
	}
	return p;
}

struct pol_policy *
pol_policy_load_file(const char *path, struct pol_cfg_errs *errs)
{
	bool failed;
	struct pol_policy *p = pol_policy_read_file(path, errs, &failed);

	if (failed) {
		pol_policy_free(p);
		errno = EINVAL;
		return NULL;
	}
	return p;
}
