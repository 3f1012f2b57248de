/* offload.c - which policy rules a NIC can run (rte_flow match specs), and why not the others. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>

#include "acl_priv.h"
#include "offload.h"

/* A rule whose verdict can pre-empt a deny rule's in software (see offload.h). */
struct cand {
	struct pol_gen_rule gr; /* normalised match */
	const struct pol_rule *r;
	const struct pol_tenant *t; /* NULL: operator tier */
	bool mirror;                /* stateful egress allow: its replies are what matters */
};

struct pol_offload_ctx {
	const struct pol_policy *p;
	struct cand *c;
	unsigned n;
	struct pol_gen_pfx *all; /* every tenant's addresses: the operator tier's scope */
	unsigned n_all;
};

static int
add_cand(struct pol_offload_ctx *c, const struct pol_rule *r, const struct pol_tenant *t,
         bool mirror)
{
	struct cand *k = &c->c[c->n];

	memset(k, 0, sizeof(*k));
	if (pol_acl_normalise(&k->gr, r))
		return -ENOMEM;
	if (!k->gr.n_acl) {
		pol_acl_rule_release(&k->gr); /* matches nothing: pre-empts nothing */
		return 0;
	}
	k->r = r;
	k->t = t;
	k->mirror = mirror;
	c->n++;
	return 0;
}

struct pol_offload_ctx *
pol_offload_ctx_new(const struct pol_policy *p)
{
	struct pol_offload_ctx *c = calloc(1, sizeof(*c));
	unsigned i, j, n = p->op.n_rules, k = 0;

	if (!c)
		goto nomem;
	c->p = p;
	for (i = 0; i < p->n_tenants; i++) {
		n += p->tenants[i].rs.n_rules;
		c->n_all += p->tenants[i].n_addrs;
	}
	c->c = calloc(n ? n : 1, sizeof(*c->c));
	c->all = calloc(c->n_all ? c->n_all : 1, sizeof(*c->all));
	if (!c->c || !c->all)
		goto nomem;
	for (i = 0; i < p->n_tenants; i++)
		for (j = 0; j < p->tenants[i].n_addrs; j++) {
			c->all[k].addr = p->tenants[i].addrs[j].addr;
			c->all[k++].len = p->tenants[i].addrs[j].len;
		}
	for (i = 0; i <= p->n_tenants; i++) {
		const struct pol_tenant *t = i ? &p->tenants[i - 1] : NULL;
		const struct pol_ruleset *rs = t ? &t->rs : &p->op;

		for (j = 0; j < rs->n_rules; j++) {
			const struct pol_rule *r = &rs->rules[j];
			int ret = 0;

			if (r->action != POL_ACT_ALLOW)
				continue;
			if (!t && r->dir == POL_DIR_INGRESS)
				ret = add_cand(c, r, NULL, false);
			else if (r->dir == POL_DIR_EGRESS && r->stateful)
				ret = add_cand(c, r, t, true);
			if (ret)
				goto nomem;
		}
	}
	return c;
nomem:
	pol_offload_ctx_free(c);
	errno = ENOMEM;
	return NULL;
}

void
pol_offload_ctx_free(struct pol_offload_ctx *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		pol_acl_rule_release(&c->c[i].gr);
	free(c->c);
	free(c->all);
	free(c);
}

/* ---- set overlaps (an empty list is the wildcard) ---- */

static bool
pfx_overlap(const struct pol_gen_pfx *a, uint32_t na, const struct pol_gen_pfx *b, uint32_t nb)
{
	uint32_t i, j;

	if (!na || !nb)
		return true;
	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
			if (pol_prefix_overlap(a[i].addr, a[i].len, b[j].addr, b[j].len))
				return true;
	return false;
}

static bool
range_overlap(const struct pol_gen_range *a, uint32_t na, const struct pol_gen_range *b,
              uint32_t nb)
{
	uint32_t i, j;

	if (!na || !nb)
		return true;
	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
			if (a[i].lo <= b[j].hi && b[j].lo <= a[i].hi)
				return true;
	return false;
}

static bool
proto_overlap(uint16_t a, uint16_t b)
{
	return a == POL_PROTO_ANY || b == POL_PROTO_ANY || a == b;
}

/* Does candidate k pre-empt deny rule d (tenant t, destinations restricted to dst[0..ndst))? */
static bool
preempts(const struct cand *k, const struct pol_gen_rule *d, const struct pol_tenant *t,
         const struct pol_gen_pfx *dst, uint32_t ndst)
{
	const struct pol_gen_rule *e = &k->gr;

	if (!proto_overlap(e->proto, d->proto))
		return false;
	if (!k->mirror) /* an operator ingress allow, against a tenant's deny */
		return t && pfx_overlap(e->src, e->n_src, d->src, d->n_src) &&
		       pfx_overlap(e->dst, e->n_dst, dst, ndst) &&
		       range_overlap(e->sport, e->n_sport, d->sport, d->n_sport) &&
		       range_overlap(e->dport, e->n_dport, d->dport, d->n_dport);
	/* the replies of a stateful egress allow of tenant k->t (or of any, operator tier) */
	if (k->t && t && k->t != t)
		return false;
	return pfx_overlap(e->dst, e->n_dst, d->src, d->n_src) &&
	       pfx_overlap(e->src, e->n_src, dst, ndst) &&
	       range_overlap(e->dport, e->n_dport, d->sport, d->n_sport) &&
	       range_overlap(e->sport, e->n_sport, d->dport, d->n_dport);
}

/* ---- expansion ---- */

unsigned
pol_offload_port_blocks(uint16_t lo, uint16_t hi, uint16_t *val, uint16_t *mask, unsigned max)
{
	uint32_t l = lo, h = hi;
	unsigned n = 0;

	while (l <= h) {
		uint32_t size = 1;

		while (size < 65536 && (l & (size * 2 - 1)) == 0 && l + size * 2 - 1 <= h)
			size *= 2;
		if (n < max) {
			val[n] = (uint16_t)l;
			mask[n] = (uint16_t) ~(size - 1);
		}
		n++;
		l += size;
	}
	return n;
}

#define BLOCKS_MAX 1024u

/* Port blocks of a normalised list: (0, 0) for the wildcard. Returns how many (may exceed
 * BLOCKS_MAX: then not all are written). */
static unsigned
side_blocks(const struct pol_gen_range *r, uint32_t n, uint16_t *val, uint16_t *mask)
{
	unsigned i, k = 0;

	if (!n) {
		val[0] = mask[0] = 0;
		return 1;
	}
	for (i = 0; i < n; i++)
		k += pol_offload_port_blocks(r[i].lo, r[i].hi, val + RTE_MIN(k, BLOCKS_MAX),
		                             mask + RTE_MIN(k, BLOCKS_MAX),
		                             k < BLOCKS_MAX ? BLOCKS_MAX - k : 0);
	return k;
}

/* a ∩ b for prefix lists (each disjoint; b never the wildcard): the longer of each overlapping
 * pair. Returns how many, writing at most max. */
static unsigned
pfx_intersect(const struct pol_gen_pfx *a, uint32_t na, const struct pol_gen_pfx *b, uint32_t nb,
              struct pol_gen_pfx *out, unsigned max)
{
	uint32_t i, j;
	unsigned n = 0;

	for (j = 0; j < nb; j++) {
		if (!na) {
			if (n < max)
				out[n] = b[j];
			n++;
			continue;
		}
		for (i = 0; i < na; i++) {
			if (!pol_prefix_overlap(a[i].addr, a[i].len, b[j].addr, b[j].len))
				continue;
			if (n < max)
				out[n] = a[i].len > b[j].len ? a[i] : b[j];
			n++;
		}
	}
	return n;
}

static const char *
proto_name(uint16_t p, char *buf)
{
	if (p == POL_PROTO_ANY)
		return "any";
	if (p == 6)
		return "tcp";
	if (p == 17)
		return "udp";
	if (p == 1)
		return "icmp";
	snprintf(buf, 8, "%u", p);
	return buf;
}

int
pol_offload_expand(const struct pol_offload_ctx *c, const struct pol_tenant *t,
                   const struct pol_rule *r, struct pol_flow_spec *out, unsigned max, char *why,
                   size_t why_len)
{
	static __thread uint16_t sv[BLOCKS_MAX], sm[BLOCKS_MAX], dv[BLOCKS_MAX], dm[BLOCKS_MAX];
	struct pol_gen_rule gr = {0};
	struct pol_gen_pfx *dst = NULL, *scope;
	const struct pol_gen_pfx wild = {0, 0};
	unsigned i, nscope, ndst, nsb, ndb, is, id, ips, ipd, n = 0;
	uint64_t total;
	int ret = -ENOTSUP;

	if (r->dir == POL_DIR_EGRESS) {
		snprintf(why, why_len,
		         "egress rules run in software: apps' packets come through shared memory, "
		         "not the NIC, and a refused send is reported to the app");
		return -ENOTSUP;
	}
	if (r->action != POL_ACT_DENY) {
		snprintf(why, why_len,
		         "allow rules run in software: an allowed packet still needs conntrack, "
		         "meters and delivery");
		return -ENOTSUP;
	}
	if (r->n_sigs) {
		snprintf(why, why_len, "it matches L7 signatures: the NIC cannot see the payload");
		return -ENOTSUP;
	}
	if (r->log) {
		snprintf(why, why_len, "log: true: packets the NIC drops cannot be logged");
		return -ENOTSUP;
	}
	if (pol_acl_normalise(&gr, r))
		return -ENOMEM;
	if (!gr.n_acl) {
		snprintf(why, why_len, "it matches no packet (every address excepted)");
		goto out;
	}
	/* destinations: only the addresses the rule can judge (its tenant's, or every tenant's) */
	if (t) {
		nscope = t->n_addrs;
		scope = malloc((nscope ? nscope : 1) * sizeof(*scope));
		if (!scope) {
			ret = -ENOMEM;
			goto out;
		}
		for (i = 0; i < nscope; i++) {
			scope[i].addr = t->addrs[i].addr;
			scope[i].len = t->addrs[i].len;
		}
	} else {
		nscope = c->n_all;
		scope = c->all;
	}
	ndst = pfx_intersect(gr.dst, gr.n_dst, scope, nscope, NULL, 0);
	dst = malloc((ndst ? ndst : 1) * sizeof(*dst));
	if (dst)
		pfx_intersect(gr.dst, gr.n_dst, scope, nscope, dst, ndst);
	if (t)
		free(scope);
	if (!dst) {
		ret = -ENOMEM;
		goto out;
	}
	if (!ndst) {
		if (t)
			snprintf(why, why_len,
			         "its destinations hold none of tenant '%s''s addresses", t->name);
		else
			snprintf(why, why_len, "its destinations hold no tenant's address");
		goto out;
	}
	for (i = 0; i < c->n; i++) {
		const struct cand *k = &c->c[i];

		if (!preempts(k, &gr, t, dst, ndst))
			continue;
		if (!k->mirror)
			snprintf(why, why_len,
			         "operator rule '%s' allows some of its packets (the operator tier "
			         "decides first): the NIC would drop them",
			         k->r->name ? k->r->name : "?");
		else
			snprintf(why, why_len,
			         "it may match replies that %s%s%s's stateful egress rule '%s' "
			         "admits: the NIC would drop them",
			         k->t ? "tenant '" : "the operator", k->t ? k->t->name : "",
			         k->t ? "'" : "", k->r->name ? k->r->name : "?");
		goto out;
	}
	nsb = side_blocks(gr.sport, gr.n_sport, sv, sm);
	ndb = side_blocks(gr.dport, gr.n_dport, dv, dm);
	total = (uint64_t)(gr.n_src ? gr.n_src : 1) * ndst * nsb * ndb;
	if (total > max) {
		snprintf(why, why_len,
		         "it needs %llu flows (%u source x %u destination prefixes x %u x %u port "
		         "blocks), more than %u",
		         (unsigned long long)total, gr.n_src ? gr.n_src : 1, ndst, nsb, ndb, max);
		ret = -E2BIG;
		goto out;
	}
	for (is = 0; is < (gr.n_src ? gr.n_src : 1u); is++) {
		const struct pol_gen_pfx *s = gr.n_src ? &gr.src[is] : &wild;

		for (id = 0; id < ndst; id++)
			for (ips = 0; ips < nsb; ips++)
				for (ipd = 0; ipd < ndb; ipd++) {
					struct pol_flow_spec *f = &out[n++];

					memset(f, 0, sizeof(*f));
					f->proto = gr.proto;
					f->src = s->addr;
					f->src_mask = pol_prefix_mask(s->len);
					f->dst = dst[id].addr;
					f->dst_mask = pol_prefix_mask(dst[id].len);
					f->sport = sv[ips];
					f->sport_mask = sm[ips];
					f->dport = dv[ipd];
					f->dport_mask = dm[ipd];
				}
	}
	ret = (int)n;
out:
	free(dst);
	pol_acl_rule_release(&gr);
	return ret;
}

/* ---- rte_flow pattern ---- */

void
pol_offload_pattern(const struct pol_flow_spec *s, struct pol_flow_pattern *pat)
{
	unsigned n = 0;

	memset(pat, 0, sizeof(*pat));
	pat->items[n++] = (struct rte_flow_item){.type = RTE_FLOW_ITEM_TYPE_ETH};
	pat->ip_spec.hdr.src_addr = rte_cpu_to_be_32(s->src & s->src_mask);
	pat->ip_mask.hdr.src_addr = rte_cpu_to_be_32(s->src_mask);
	pat->ip_spec.hdr.dst_addr = rte_cpu_to_be_32(s->dst & s->dst_mask);
	pat->ip_mask.hdr.dst_addr = rte_cpu_to_be_32(s->dst_mask);
	if (s->proto != POL_PROTO_ANY) {
		pat->ip_spec.hdr.next_proto_id = (uint8_t)s->proto;
		pat->ip_mask.hdr.next_proto_id = 0xff;
	}
	pat->items[n++] = (struct rte_flow_item){
	        .type = RTE_FLOW_ITEM_TYPE_IPV4, .spec = &pat->ip_spec, .mask = &pat->ip_mask};
	if ((s->proto == 6 || s->proto == 17) && (s->sport_mask || s->dport_mask)) {
		/* tcp and udp headers start with the same two ports */
		if (s->proto == 6) {
			pat->l4_spec.tcp.hdr.src_port = rte_cpu_to_be_16(s->sport & s->sport_mask);
			pat->l4_mask.tcp.hdr.src_port = rte_cpu_to_be_16(s->sport_mask);
			pat->l4_spec.tcp.hdr.dst_port = rte_cpu_to_be_16(s->dport & s->dport_mask);
			pat->l4_mask.tcp.hdr.dst_port = rte_cpu_to_be_16(s->dport_mask);
		} else {
			pat->l4_spec.udp.hdr.src_port = rte_cpu_to_be_16(s->sport & s->sport_mask);
			pat->l4_mask.udp.hdr.src_port = rte_cpu_to_be_16(s->sport_mask);
			pat->l4_spec.udp.hdr.dst_port = rte_cpu_to_be_16(s->dport & s->dport_mask);
			pat->l4_mask.udp.hdr.dst_port = rte_cpu_to_be_16(s->dport_mask);
		}
		pat->items[n++] = (struct rte_flow_item){
		        .type = s->proto == 6 ? RTE_FLOW_ITEM_TYPE_TCP : RTE_FLOW_ITEM_TYPE_UDP,
		        .spec = &pat->l4_spec,
		        .mask = &pat->l4_mask};
	}
	pat->items[n++] = (struct rte_flow_item){.type = RTE_FLOW_ITEM_TYPE_END};
	pat->n_items = n;
}

static int
mask_len(uint32_t m)
{
	return m ? 32 - __builtin_ctz(m) : 0;
}

char *
pol_flow_spec_str(const struct pol_flow_spec *s, char *buf, size_t len)
{
	char a[16], b[16], p[8], sp[16] = "any", dp[16] = "any";

	if (s->sport_mask == 0xffff)
		snprintf(sp, sizeof(sp), "%u", s->sport);
	else if (s->sport_mask)
		snprintf(sp, sizeof(sp), "%u/0x%04x", s->sport, s->sport_mask);
	if (s->dport_mask == 0xffff)
		snprintf(dp, sizeof(dp), "%u", s->dport);
	else if (s->dport_mask)
		snprintf(dp, sizeof(dp), "%u/0x%04x", s->dport, s->dport_mask);
	snprintf(buf, len, "%s %s/%d:%s -> %s/%d:%s", proto_name(s->proto, p),
	         pol_ipv4_str(s->src, a), mask_len(s->src_mask), sp, pol_ipv4_str(s->dst, b),
	         mask_len(s->dst_mask), dp);
	return buf;
}
