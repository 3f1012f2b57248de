/* policy_model.c - the policy model: free, cross-item validation, checks against the gateway,
 * helpers. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "l7.h"

#include "policy_model.h"

/* ---- names ---- */

static const char *const dir_names[] = {"ingress", "egress"};
static const char *const action_names[] = {"allow", "deny"};
static const char *const offload_names[] = {"auto", "never", "required"};
static const char *const sig_flag_names[] = {
#define _(e, n) n,
        foreach_pol_sig_flag(_)
#undef _
};

const char *
pol_dir_name(enum pol_dir d)
{
	return (unsigned)d < POL_DIR_MAX ? dir_names[d] : "?";
}

const char *
pol_action_name(enum pol_action a)
{
	return (unsigned)a <= POL_ACT_DENY ? action_names[a] : "?";
}

const char *
pol_offload_name(enum pol_offload o)
{
	return (unsigned)o <= POL_OFFLOAD_REQUIRED ? offload_names[o] : "?";
}

const char *
pol_sig_flag_name(unsigned bit)
{
	return bit < POL_SIGF_NBITS ? sig_flag_names[bit] : NULL;
}

bool
pol_tenant_name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!(islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) || s[n] == '_' ||
		      s[n] == '-'))
			return false;
	return n >= 1 && n <= POL_TENANT_NAME_MAX;
}

bool
pol_item_name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!(isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	return n >= 1 && n <= POL_NAME_MAX;
}

/* ---- users and groups ---- */

static size_t
nss_bufsize(int name)
{
	long n = sysconf(name);

	return n > 0 && n < (1 << 20) ? (size_t)n : 16384;
}

int
pol_resolve_user(const char *name, uint32_t *uid)
{
	size_t size = nss_bufsize(_SC_GETPW_R_SIZE_MAX);
	struct passwd pw, *res = NULL;
	char *buf;
	int r;

	for (;;) {
		buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		r = getpwnam_r(name, &pw, buf, size, &res);
		if (r != ERANGE || size >= (1 << 20))
			break;
		free(buf);
		size *= 2;
	}
	if (!r && res)
		*uid = (uint32_t)res->pw_uid;
	free(buf);
	if (r)
		return -r;
	return res ? 0 : -ENOENT;
}

int
pol_resolve_group(const char *name, uint32_t *gid)
{
	size_t size = nss_bufsize(_SC_GETGR_R_SIZE_MAX);
	struct group gr, *res = NULL;
	char *buf;
	int r;

	for (;;) {
		buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		r = getgrnam_r(name, &gr, buf, size, &res);
		if (r != ERANGE || size >= (1 << 20))
			break;
		free(buf);
		size *= 2;
	}
	if (!r && res)
		*gid = (uint32_t)res->gr_gid;
	free(buf);
	if (r)
		return -r;
	return res ? 0 : -ENOENT;
}

/* ---- addresses and suggestions ---- */

unsigned
pol_edit_distance(const char *a, const char *b)
{
	unsigned d[65][65];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > 64)
		la = 64;
	if (lb > 64)
		lb = 64;
	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			unsigned cost = tolower((unsigned char)a[i - 1]) !=
			                tolower((unsigned char)b[j - 1]);
			unsigned v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 &&
			    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

const char *
pol_suggest(const char *word, const char *const *cands)
{
	const char *best = NULL;
	unsigned best_d = ~0u, i;
	size_t wl = strlen(word);
	unsigned max = wl >= 6 ? (unsigned)wl / 3 : 1;

	if (!wl || wl > 64)
		return NULL;
	for (i = 0; cands[i]; i++) {
		unsigned d = pol_edit_distance(word, cands[i]);

		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
	}
	if (best && best_d <= max && best_d < strlen(best))
		return best;
	/* "warn" for "warning": a clear abbreviation */
	for (i = 0; wl >= 3 && cands[i]; i++)
		if (!strncasecmp(cands[i], word, wl))
			return cands[i];
	return NULL;
}

bool
pol_parse_ipv4(const char *s, uint32_t *out)
{
	uint32_t a = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, nd = 0;

		if (part && *s++ != '.')
			return false;
		if (s[0] == '0' && isdigit((unsigned char)s[1]))
			return false; /* leading zero: octal to some parsers, refuse */
		while (isdigit((unsigned char)*s) && nd < 4) {
			v = v * 10 + (unsigned)(*s++ - '0');
			nd++;
		}
		if (!nd || nd > 3 || v > 255)
			return false;
		a = a << 8 | v;
	}
	if (*s)
		return false;
	*out = a;
	return true;
}

const char *
pol_prefix_not_unicast(uint32_t addr, uint8_t len)
{
	uint8_t top = (uint8_t)(addr >> 24);

	if (len < 8)
		return "wider than /8";
	if (top == 0)
		return "in 0.0.0.0/8";
	if (top == 127)
		return "loopback";
	if (top >= 224)
		return "multicast or reserved";
	return NULL;
}

char *
pol_ipv4_str(uint32_t addr, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
	         addr & 0xff);
	return buf;
}

/* ---- free ---- */

static void
match_free(struct pol_match *m)
{
	free(m->cidrs);
	free(m->except);
	free(m->ports);
}

static void
ruleset_free(struct pol_ruleset *rs)
{
	unsigned i, j;

	for (i = 0; i < rs->n_sigs; i++) {
		free(rs->sigs[i].name);
		free(rs->sigs[i].pattern);
	}
	free(rs->sigs);
	for (i = 0; i < rs->n_rules; i++) {
		struct pol_rule *r = &rs->rules[i];

		free(r->name);
		match_free(&r->src);
		match_free(&r->dst);
		for (j = 0; j < r->n_sigs; j++)
			free(r->sigs[j].name);
		free(r->sigs);
	}
	free(rs->rules);
	memset(rs, 0, sizeof(*rs));
}

void
pol_policy_free(struct pol_policy *p)
{
	unsigned i;

	if (!p)
		return;
	ruleset_free(&p->op);
	for (i = 0; i < p->n_tenants; i++) {
		struct pol_tenant *t = &p->tenants[i];

		free(t->name);
		free(t->addrs);
		free(t->uids);
		free(t->gids);
		free(t->udp);
		free(t->tcp);
		ruleset_free(&t->rs);
	}
	free(p->tenants);
	free(p->file);
	free(p->path);
	free(p);
}

/* ---- validation ---- */

struct vctx {
	const struct pol_policy *p;
	struct pol_cfg_errs *errs;
	unsigned nerr;
};

static void __attribute__((format(printf, 4, 5)))
verr(struct vctx *v, struct pol_loc loc, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pol_cfg_err_add(v->errs, v->p->file, loc.line, loc.col, path, "%s", msg);
	v->nerr++;
}

/* Sorting helpers: an index array ordered by a key, ties by index. */
struct key_ent {
	const char *s;
	uint64_t k;
	unsigned idx;
};

static int
cmp_str_ent(const void *pa, const void *pb)
{
	const struct key_ent *a = pa, *b = pb;
	int c = strcmp(a->s, b->s);

	return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

static int
cmp_num_ent(const void *pa, const void *pb)
{
	const struct key_ent *a = pa, *b = pb;

	if (a->k != b->k)
		return a->k < b->k ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/*
 * Report the later items of every group of equal keys. what: "rule name"; item: printf pattern of
 * an item's path relative to base with one %u ("rules[%u]").
 */
static void
dups(struct vctx *v, struct key_ent *e, unsigned n, bool str, const char *base, const char *item,
     const char *field, const char *what, const struct pol_loc *(*loc_of)(const void *, unsigned),
     const void *arr)
{
	char path[POL_PATH_MAX], first[POL_PATH_MAX], val[32];
	unsigned i, g = 0;

	qsort(e, n, sizeof(*e), str ? cmp_str_ent : cmp_num_ent);
	for (i = 1; i < n; i++) {
		bool same = str ? !strcmp(e[i].s, e[g].s) : e[i].k == e[g].k;
		const struct pol_loc *fl;
		char rel[96];

		if (!same) {
			g = i;
			continue;
		}
		snprintf(rel, sizeof(rel), item, e[g].idx);
		snprintf(first, sizeof(first), "%s", rel);
		snprintf(rel, sizeof(rel), item, e[i].idx);
		pol_cfg_path(path, sizeof(path), base, "%s.%s", rel, field);
		fl = loc_of(arr, e[g].idx);
		if (!str)
			snprintf(val, sizeof(val), "%llu", (unsigned long long)e[i].k);
		verr(v, *loc_of(arr, e[i].idx), path, "duplicate %s '%s' (first in %s at %u:%u)",
		     what, str ? e[i].s : val, first, fl->line, fl->col);
	}
}

static const struct pol_loc *
rule_name_loc(const void *arr, unsigned i)
{
	return &((const struct pol_rule *)arr)[i].name_loc;
}

static const struct pol_loc *
rule_prio_loc(const void *arr, unsigned i)
{
	return &((const struct pol_rule *)arr)[i].prio_loc;
}

static const struct pol_loc *
sig_name_loc(const void *arr, unsigned i)
{
	return &((const struct pol_signature *)arr)[i].name_loc;
}

static const struct pol_loc *
tenant_name_loc(const void *arr, unsigned i)
{
	return &((const struct pol_tenant *)arr)[i].name_loc;
}

static bool
is_l4(uint16_t proto)
{
	return proto == 6 || proto == 17;
}

static void
check_match(struct vctx *v, const struct pol_rule *r, const struct pol_match *m, const char *rpath,
            const char *side)
{
	char path[POL_PATH_MAX], a[16], b[16];
	unsigned i, j;

	if (m->n_ports && r->proto != POL_PROTO_BAD && !is_l4(r->proto)) {
		pol_cfg_path(path, sizeof(path), rpath, "%s.ports", side);
		if (r->proto == POL_PROTO_ANY)
			verr(v, m->ports_loc, path,
			     "ports need protocol tcp or udp; this rule's protocol is any");
		else
			verr(v, m->ports_loc, path,
			     "ports need protocol tcp or udp; this rule's protocol is %s%u%s",
			     r->proto == 1 ? "icmp (" : "", r->proto, r->proto == 1 ? ")" : "");
	}
	for (i = 0; i < m->n_except; i++) {
		const struct pol_prefix *e = &m->except[i];
		bool inside = !m->n_cidrs;

		for (j = 0; j < m->n_cidrs && !inside; j++)
			inside = m->cidrs[j].len <= e->len &&
			         pol_prefix_contains(m->cidrs[j].addr, m->cidrs[j].len, e->addr);
		if (!inside) {
			pol_cfg_path(path, sizeof(path), rpath, "%s.except[%u]", side, i);
			verr(v, e->loc, path, "%s/%u is not inside any of %s.cidrs",
			     pol_ipv4_str(e->addr, a), e->len, side);
		}
	}
	for (i = 0; i < m->n_cidrs; i++) {
		for (j = 0; j < i; j++) {
			if (m->cidrs[i].addr == m->cidrs[j].addr &&
			    m->cidrs[i].len == m->cidrs[j].len) {
				pol_cfg_path(path, sizeof(path), rpath, "%s.cidrs[%u]", side, i);
				verr(v, m->cidrs[i].loc, path, "%s/%u is listed twice (cidrs[%u])",
				     pol_ipv4_str(m->cidrs[i].addr, b), m->cidrs[i].len, j);
				break;
			}
		}
	}
}

/* other: the operator tier when checking a tenant's (for a hint), else NULL */
static void
check_ruleset(struct vctx *v, struct pol_ruleset *rs, const struct pol_ruleset *other,
              const char *tier)
{
	char base[POL_PATH_MAX], rpath[POL_PATH_MAX], path[POL_PATH_MAX];
	struct key_ent *e;
	unsigned i, j, k, n;

	pol_cfg_path(base, sizeof(base), v->p->path, "%s", tier);
	/* signature names */
	e = calloc(rs->n_sigs + rs->n_rules + 1, sizeof(*e));
	if (!e) {
		verr(v, (struct pol_loc){0, 0}, base, "out of memory");
		return;
	}
	for (i = n = 0; i < rs->n_sigs; i++)
		if (rs->sigs[i].name)
			e[n++] = (struct key_ent){.s = rs->sigs[i].name, .idx = i};
	dups(v, e, n, true, base, "signatures[%u]", "name", "signature name", sig_name_loc,
	     rs->sigs);
	/* patterns: what the Hyperscan compile of the policy engine would refuse (l7.h) */
	for (i = 0; i < rs->n_sigs; i++) {
		char msg[512];

		if (pol_l7_check_sig(&rs->sigs[i], msg, sizeof(msg)))
			verr(v, rs->sigs[i].pattern_loc,
			     pol_cfg_path(path, sizeof(path), base, "signatures[%u].pattern", i),
			     "%s", msg);
	}
	/* rule names and priorities */
	for (i = n = 0; i < rs->n_rules; i++)
		if (rs->rules[i].name)
			e[n++] = (struct key_ent){.s = rs->rules[i].name, .idx = i};
	dups(v, e, n, true, base, "rules[%u]", "name", "rule name", rule_name_loc, rs->rules);
	for (i = n = 0; i < rs->n_rules; i++)
		if (rs->rules[i].priority)
			e[n++] = (struct key_ent){.k = rs->rules[i].priority, .idx = i};
	dups(v, e, n, false, base, "rules[%u]", "priority", "priority", rule_prio_loc, rs->rules);
	free(e);

	for (i = 0; i < rs->n_rules; i++) {
		struct pol_rule *r = &rs->rules[i];

		pol_cfg_path(rpath, sizeof(rpath), base, "rules[%u]", i);
		check_match(v, r, &r->src, rpath, "src");
		check_match(v, r, &r->dst, rpath, "dst");
		for (j = 0; j < r->n_sigs; j++) {
			struct pol_sig_ref *ref = &r->sigs[j];
			const char **names;
			bool found = false;

			if (!ref->name)
				continue;
			for (k = 0; k < rs->n_sigs && !found; k++) {
				if (rs->sigs[k].name && !strcmp(rs->sigs[k].name, ref->name)) {
					ref->idx = k;
					found = true;
				}
			}
			pol_cfg_path(path, sizeof(path), rpath, "signatures[%u]", j);
			for (k = 0; k < j && found; k++) {
				if (r->sigs[k].name && !strcmp(r->sigs[k].name, ref->name)) {
					verr(v, ref->loc, path, "signature '%s' is listed twice",
					     ref->name);
					break;
				}
			}
			if (found)
				continue;
			names = calloc(rs->n_sigs + 1, sizeof(*names));
			if (names) {
				const char *sug;

				for (k = n = 0; k < rs->n_sigs; k++)
					if (rs->sigs[k].name)
						names[n++] = rs->sigs[k].name;
				sug = pol_suggest(ref->name, names);
				for (k = 0; other && k < other->n_sigs; k++)
					if (other->sigs[k].name &&
					    !strcmp(other->sigs[k].name, ref->name))
						break;
				if (other && k < other->n_sigs)
					verr(v, ref->loc, path,
					     "unknown signature '%s': that one belongs to the operator "
					     "tier; a tenant's rules use the tenant's own signatures",
					     ref->name);
				else if (sug)
					verr(v, ref->loc, path,
					     "unknown signature '%s' (did you mean '%s'?)",
					     ref->name, sug);
				else
					verr(v, ref->loc, path, "unknown signature '%s': %s has %s",
					     ref->name,
					     strcmp(tier, "operator") ? "this tenant"
					                              : "the operator tier",
					     n ? "no signature of that name" : "no signatures");
				free(names);
			} else {
				verr(v, ref->loc, path, "unknown signature '%s'", ref->name);
			}
		}
	}
}

/* Address ranges of all tenants, for the overlap sweep. */
struct addr_ent {
	uint32_t lo, hi;
	unsigned t, a; /* tenant, address index */
};

static int
cmp_addr_ent(const void *pa, const void *pb)
{
	const struct addr_ent *x = pa, *y = pb;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi > y->hi ? -1 : 1; /* wider first */
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return (x->a > y->a) - (x->a < y->a);
}

static bool
later(const struct addr_ent *x, const struct addr_ent *y)
{
	return x->t != y->t ? x->t > y->t : x->a > y->a;
}

static void
check_tenant_addrs(struct vctx *v)
{
	const struct pol_policy *p = v->p;
	struct addr_ent *e, *max = NULL;
	char path[POL_PATH_MAX], a[16], b[16];
	unsigned i, j, n = 0;

	for (i = 0; i < p->n_tenants; i++)
		n += p->tenants[i].n_addrs;
	if (n < 2)
		return;
	e = calloc(n, sizeof(*e));
	if (!e) {
		verr(v, (struct pol_loc){0, 0}, p->path, "out of memory");
		return;
	}
	for (i = n = 0; i < p->n_tenants; i++) {
		for (j = 0; j < p->tenants[i].n_addrs; j++) {
			const struct pol_prefix *x = &p->tenants[i].addrs[j];

			e[n++] = (struct addr_ent){x->addr, x->addr | ~pol_prefix_mask(x->len), i,
			                           j};
		}
	}
	qsort(e, n, sizeof(*e), cmp_addr_ent);
	/* prefixes nest or are disjoint: the widest one seen so far covers every later overlap */
	for (i = 0; i < n; i++) {
		if (max && e[i].lo <= max->hi) {
			const struct addr_ent *rep = later(&e[i], max) ? &e[i] : max;
			const struct addr_ent *oth = rep == max ? &e[i] : max;
			const struct pol_tenant *rt = &p->tenants[rep->t],
			                        *ot = &p->tenants[oth->t];
			const struct pol_prefix *rx = &rt->addrs[rep->a], *ox = &ot->addrs[oth->a];

			pol_cfg_path(path, sizeof(path), p->path, "tenants[%u].addresses[%u]",
			             rep->t, rep->a);
			if (rep->t == oth->t)
				verr(v, rx->loc, path,
				     "%s/%u overlaps %s/%u (addresses[%u]) of the same tenant",
				     pol_ipv4_str(rx->addr, a), rx->len, pol_ipv4_str(ox->addr, b),
				     ox->len, oth->a);
			else
				verr(v, rx->loc, path,
				     "%s/%u overlaps %s/%u of tenant '%s' (tenants[%u].addresses[%u])",
				     pol_ipv4_str(rx->addr, a), rx->len, pol_ipv4_str(ox->addr, b),
				     ox->len, ot->name ? ot->name : "?", oth->t, oth->a);
		}
		if (!max || e[i].hi > max->hi)
			max = &e[i];
	}
	free(e);
}

static int
cmp_range_idx(const void *pa, const void *pb)
{
	const struct key_ent *a = pa, *b = pb;

	if (a->k != b->k)
		return a->k < b->k ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static void
check_ports(struct vctx *v, unsigned ti, const struct pol_port_range *r, unsigned n,
            const char *proto)
{
	char path[POL_PATH_MAX];
	struct key_ent *e;
	unsigned i, max = 0;

	if (n < 2)
		return;
	e = calloc(n, sizeof(*e));
	if (!e)
		return;
	for (i = 0; i < n; i++)
		e[i] = (struct key_ent){.k = (uint64_t)r[i].lo << 16 | r[i].hi, .idx = i};
	qsort(e, n, sizeof(*e), cmp_range_idx);
	for (i = 1; i < n; i++) {
		const struct pol_port_range *x = &r[e[i].idx], *m = &r[e[max].idx];

		if (x->lo <= m->hi) {
			unsigned rep = e[i].idx > e[max].idx ? e[i].idx : e[max].idx;
			unsigned oth = rep == e[i].idx ? e[max].idx : e[i].idx;

			pol_cfg_path(path, sizeof(path), v->p->path, "tenants[%u].ports.%s[%u]", ti,
			             proto, rep);
			verr(v, r[rep].loc, path, "%u-%u overlaps %u-%u (ports.%s[%u])", r[rep].lo,
			     r[rep].hi, r[oth].lo, r[oth].hi, proto, oth);
		}
		if (x->hi > m->hi)
			max = i;
	}
	free(e);
}

unsigned
pol_policy_validate(struct pol_policy *p, struct pol_cfg_errs *errs)
{
	struct vctx v = {.p = p, .errs = errs};
	char tier[64];
	struct key_ent *e;
	unsigned i, n;

	check_ruleset(&v, &p->op, NULL, "operator");
	e = calloc(p->n_tenants + 1, sizeof(*e));
	if (e) {
		for (i = n = 0; i < p->n_tenants; i++)
			if (p->tenants[i].name)
				e[n++] = (struct key_ent){.s = p->tenants[i].name, .idx = i};
		dups(&v, e, n, true, p->path, "tenants[%u]", "name", "tenant name", tenant_name_loc,
		     p->tenants);
		free(e);
	}
	for (i = 0; i < p->n_tenants; i++) {
		struct pol_tenant *t = &p->tenants[i];

		snprintf(tier, sizeof(tier), "tenants[%u]", i);
		check_ruleset(&v, &t->rs, &p->op, tier);
		check_ports(&v, i, t->udp, t->n_udp, "udp");
		check_ports(&v, i, t->tcp, t->n_tcp, "tcp");
	}
	check_tenant_addrs(&v);
	return v.nerr;
}

int
pol_policy_check_against(const struct pol_policy *p, const struct pol_cfg_gateway *gw,
                         struct pol_cfg_errs *errs)
{
	struct vctx v = {.p = p, .errs = errs};
	char path[POL_PATH_MAX], a[16], b[16];
	unsigned i, j, k;

	for (i = 0; i < p->n_tenants; i++) {
		const struct pol_tenant *t = &p->tenants[i];

		for (j = 0; j < t->n_addrs; j++) {
			const struct pol_prefix *x = &t->addrs[j];

			pol_cfg_path(path, sizeof(path), p->path, "tenants[%u].addresses[%u]", i,
			             j);
			for (k = 0; k < gw->n_addrs; k++) {
				const struct pol_cfg_prefix *g = &gw->addrs[k];
				uint32_t net = g->addr & pol_prefix_mask(g->len);
				uint32_t bcast = g->addr | ~pol_prefix_mask(g->len);

				if (pol_prefix_contains(x->addr, x->len, g->addr)) {
					verr(&v, x->loc, path,
					     "%s/%u contains the gateway's own address %s "
					     "(gateway.addresses[%u])",
					     pol_ipv4_str(x->addr, a), x->len,
					     pol_ipv4_str(g->addr, b), k);
					break;
				}
				if (g->len <= 30 && (pol_prefix_contains(x->addr, x->len, net) ||
				                     pol_prefix_contains(x->addr, x->len, bcast))) {
					bool is_net = pol_prefix_contains(x->addr, x->len, net);

					verr(&v, x->loc, path,
					     "%s/%u contains the %s address of the gateway's "
					     "prefix %s/%u (gateway.addresses[%u])",
					     pol_ipv4_str(x->addr, a), x->len,
					     is_net ? "network" : "broadcast", pol_ipv4_str(net, b),
					     g->len, k);
					break;
				}
			}
			if (k == gw->n_addrs && gw->has_next_hop &&
			    pol_prefix_contains(x->addr, x->len, gw->next_hop))
				verr(&v, x->loc, path,
				     "%s/%u contains the gateway's next hop %s (gateway.next_hop)",
				     pol_ipv4_str(x->addr, a), x->len,
				     pol_ipv4_str(gw->next_hop, b));
		}
	}
	return v.nerr ? -EINVAL : 0;
}

/* ---- lookups ---- */

const struct pol_tenant *
pol_policy_tenant(const struct pol_policy *p, const char *name)
{
	unsigned i;

	for (i = 0; p && i < p->n_tenants; i++)
		if (p->tenants[i].name && !strcmp(p->tenants[i].name, name))
			return &p->tenants[i];
	return NULL;
}

const struct pol_tenant *
pol_policy_tenant_by_addr(const struct pol_policy *p, uint32_t addr)
{
	unsigned i, j;

	for (i = 0; p && i < p->n_tenants; i++)
		for (j = 0; j < p->tenants[i].n_addrs; j++)
			if (pol_prefix_contains(p->tenants[i].addrs[j].addr,
			                        p->tenants[i].addrs[j].len, addr))
				return &p->tenants[i];
	return NULL;
}
