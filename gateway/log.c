/* log.c - control side of `log: true`: drain the workers' log rings, rate-limit per rule, log. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_ring_elem.h>

#include "gw.h"

/*
 * Records name a rule by its id in the generation the worker used. The drainer holds a reference
 * to the last two generations it has seen published, so a record queued just before a reload
 * still finds its rule's name; anything older is logged by id and generation number.
 *
 * Rate limit: per rule, at most GW_LOG_LINES_PER_S lines in a one-second window; the packets
 * beyond that are counted and reported in one line when the window ends ("rule X: M more
 * packets not logged").
 */

#define DRAIN_MAX 4096u /* records per worker per drain: the control loop stays responsive */

struct rl {
	uint64_t win;   /* window start, ns */
	uint32_t lines; /* logged in this window */
	uint32_t more;  /* not logged in this window */
	bool dirty;     /* in the dirty list */
};

struct held {
	struct pol_gen *g;
	struct rl *rl; /* [n_rules] */
	uint32_t *dirty;
	unsigned n_dirty;
};

struct gw_log {
	struct held h[2]; /* [0] the newest generation seen, [1] the one before */
};

static void
rule_label(const struct pol_gen *g, uint32_t rule, char *buf, size_t len)
{
	struct pol_rule_info ri;

	if (g && pol_gen_rule_info(g, rule, &ri) == 0)
		snprintf(buf, len, "%s/%s", ri.tenant ? ri.tenant : "operator", ri.name);
	else
		snprintf(buf, len, "#%u", rule);
}

static void
summary(const struct held *h, uint32_t rule, struct rl *r)
{
	char name[POL_TENANT_NAME_MAX + POL_NAME_MAX + 16];

	if (r->more) {
		rule_label(h->g, rule, name, sizeof(name));
		GW_LOG(NOTICE,
		       "log rule %s: %u more packets not logged (at most %u lines a second)", name,
		       r->more, GW_LOG_LINES_PER_S);
	}
	r->more = 0;
	r->lines = 0;
}

/* Report what is pending in h and forget the rule states (h goes away, or at exit). */
static void
held_flush(struct held *h)
{
	unsigned i;

	for (i = 0; i < h->n_dirty; i++)
		summary(h, h->dirty[i], &h->rl[h->dirty[i]]);
	h->n_dirty = 0;
}

/* cur: the published generation, which gets the late signature hits of h's when h held the
 * last reference (long TCP connections' flows, policy/l7.h pol_l7_gen_put). */
static void
held_release(struct held *h, struct pol_gen *cur)
{
	held_flush(h);
	pol_l7_gen_put(h->g, cur);
	free(h->rl);
	free(h->dirty);
	memset(h, 0, sizeof(*h));
}

/* Make the published generation h[0]. */
static void
track_gen(struct gw *gw)
{
	struct gw_log *l = gw->log;
	struct pol_gen *g = atomic_load_explicit(&gw->gen, memory_order_acquire);
	struct held n = {0};

	if (!g || l->h[0].g == g)
		return;
	n.rl = calloc(pol_gen_n_rules(g), sizeof(*n.rl));
	n.dirty = malloc(pol_gen_n_rules(g) * sizeof(*n.dirty));
	if (!n.rl || !n.dirty) {
		free(n.rl);
		free(n.dirty);
		return; /* records of g are logged by id meanwhile */
	}
	n.g = pol_gen_get(g);
	held_release(&l->h[1], g);
	l->h[1] = l->h[0];
	l->h[0] = n;
}

static const char *
proto_str(uint8_t p, char *buf)
{
	switch (p) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	default:
		snprintf(buf, 8, "%u", p);
		return buf;
	}
}

static void
log_rec(struct gw_log *l, const struct gw_log_rec *r, uint64_t now)
{
	struct held *h = NULL;
	struct rl *st = NULL;
	char name[2 * POL_TENANT_NAME_MAX + POL_NAME_MAX + 32], a[16], b[16], pb[8];
	unsigned i;

	for (i = 0; i < 2; i++)
		if (l->h[i].g && pol_gen_number(l->h[i].g) == r->gen &&
		    r->rule < pol_gen_n_rules(l->h[i].g))
			h = &l->h[i];
	if (h) {
		st = &h->rl[r->rule];
		if (now - st->win >= 1000000000ull) {
			summary(h, r->rule, st);
			st->win = now;
		}
		if (st->lines >= GW_LOG_LINES_PER_S) {
			st->more++;
			if (!st->dirty) {
				st->dirty = true;
				h->dirty[h->n_dirty++] = r->rule;
			}
			return;
		}
		st->lines++;
		rule_label(h->g, r->rule, name, sizeof(name));
		if (!strncmp(name, "operator/", 9)) {
			/* an operator rule: say whose traffic it was */
			const struct pol_gen_tenant *t = pol_gen_tenant_by_id(h->g, r->tenant);
			size_t len = strlen(name);

			snprintf(name + len, sizeof(name) - len, " (tenant %s)",
			         t ? t->name : "none");
		}
	} else {
		snprintf(name, sizeof(name), "#%u of generation %" PRIu64, r->rule, r->gen);
	}
	pol_ipv4_str(r->src, a);
	pol_ipv4_str(r->dst, b);
	if (r->proto == 6 || r->proto == 17)
		GW_LOG(NOTICE, "log rule %s %s %s: %s %s:%u -> %s:%u len %u", name,
		       pol_dir_name((enum pol_dir)r->dir),
		       pol_action_name((enum pol_action)r->action), proto_str(r->proto, pb), a,
		       r->sport, b, r->dport, r->len);
	else
		GW_LOG(NOTICE, "log rule %s %s %s: %s %s -> %s len %u", name,
		       pol_dir_name((enum pol_dir)r->dir),
		       pol_action_name((enum pol_action)r->action), proto_str(r->proto, pb), a, b,
		       r->len);
}

/* Windows that ended: their summaries. */
static void
flush_due(struct gw_log *l, uint64_t now)
{
	unsigned i, j, k;

	for (i = 0; i < 2; i++) {
		struct held *h = &l->h[i];

		for (j = 0, k = 0; j < h->n_dirty; j++) {
			struct rl *st = &h->rl[h->dirty[j]];

			if (now - st->win >= 1000000000ull) {
				summary(h, h->dirty[j], st);
				st->dirty = false;
			} else {
				h->dirty[k++] = h->dirty[j];
			}
		}
		h->n_dirty = k;
	}
}

int
gw_log_init(struct gw *gw)
{
	gw->log = calloc(1, sizeof(*gw->log));
	return gw->log ? 0 : -ENOMEM;
}

struct rte_ring *
gw_log_ring_create(unsigned worker, int socket)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "gw_log_%u", worker);
	return rte_ring_create_elem(name, sizeof(struct gw_log_rec), GW_LOG_RING, socket,
	                            RING_F_SP_ENQ | RING_F_SC_DEQ);
}

void
gw_log_drain(struct gw *gw, uint64_t now)
{
	struct gw_log *l = gw->log;
	struct gw_log_rec recs[64];
	unsigned i, n, total;

	if (!l || !gw->workers)
		return;
	track_gen(gw);
	for (i = 0; i < gw->n_workers; i++) {
		struct rte_ring *ring = gw->workers[i].log;

		if (!ring)
			continue;
		total = 0;
		do {
			unsigned j;

			n = rte_ring_sc_dequeue_burst_elem(ring, recs, sizeof(recs[0]),
			                                   RTE_DIM(recs), NULL);
			for (j = 0; j < n; j++)
				log_rec(l, &recs[j], now);
			total += n;
		} while (n == RTE_DIM(recs) && total < DRAIN_MAX);
	}
	flush_due(l, now);
}

void
gw_log_fini(struct gw *gw)
{
	struct gw_log *l = gw->log;

	if (!l)
		return;
	gw_log_drain(gw, gw_now_ns(gw));
	held_release(&l->h[0], NULL);
	held_release(&l->h[1], NULL);
	free(l);
	gw->log = NULL;
}
