/* metrics.c - one snapshot of every counter, as JSON (/v1/stats) and Prometheus text (/metrics). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>

#include "adm_priv.h"

static const char *const meter_names[POL_METER_NLIMITS] = {"ingress", "egress", "connections"};

static const char *const l7_stream_help[POL_L7_SCNT__MAX] = {
#define _(e, n, h) [POL_L7_SCNT_##e] = h,
        foreach_pol_l7_stream_counter(_)
#undef _
};

struct snap_rule {
	struct pol_rule_info ri;
	char tenant[POL_TENANT_NAME_MAX + 1], name[POL_NAME_MAX + 1];
};

struct snap_tenant {
	char name[POL_TENANT_NAME_MAX + 1];
	uint64_t meter_drops[POL_METER_NLIMITS];
	struct pol_rate rate[POL_DIR_MAX]; /* the limits as compiled */
	uint32_t new_conn_per_s;
};

/* Everything at one moment (taken under ctl_lock: the generation cannot be freed meanwhile). */
struct snap {
	uint64_t generation;
	unsigned n_workers;
	struct gw_totals total, worker[GW_MAX_WORKERS];
	struct rte_eth_stats port;
	bool have_port;
	uint64_t ct[POL_CT_CNT__MAX];
	unsigned sessions;
	uint64_t tcp[STK_TCP_CNT__MAX]; /* the TCP engines, summed over workers */
	unsigned tcp_conns;
	uint64_t l7s[POL_L7_SCNT__MAX]; /* L7 stream mode on TCP, summed over workers */
	uint32_t l7s_flows, l7s_slots;
	struct snap_rule *rules;
	unsigned n_rules;
	struct snap_tenant *tenants;
	unsigned n_tenants;
	struct gw_chan_list chans;
	uint64_t now_ns;
};

/* An app's counters summed over its queues. */
struct chan_sum {
	uint64_t rx, tx, drops, denied;
};

static struct chan_sum
chan_sum(const struct gw_chan_info *c)
{
	struct chan_sum t = {0};
	unsigned i;

	for (i = 0; i < c->nqueues; i++) {
		t.rx += c->q[i].chan[BP_CHAN_CNT_RX_POSTED];
		t.tx += c->q[i].chan[BP_CHAN_CNT_TX_FETCHED];
		t.drops += c->q[i].drops;
		t.denied += c->q[i].gw[GW_CHAN_CNT_POLICY_DENIED];
	}
	return t;
}

json_t *
adm_chan_json(const struct gw_chan_info *c, uint64_t now_ns)
{
	struct chan_sum t = chan_sum(c);
	json_t *o, *qs = json_array(), *ss = json_array();
	unsigned i, k;
	char ip[16];

	for (i = 0; qs && i < c->nqueues; i++) {
		const struct gw_chan_qinfo *q = &c->q[i];
		json_t *qo = json_pack("{s:I,s:I,s:I}", "queue", (json_int_t)q->queue, "worker",
		                       (json_int_t)q->worker, "drops", (json_int_t)q->drops);

		for (k = 0; qo && k < BP_CHAN_CNT__MAX; k++)
			json_object_set_new(qo, bp_chan_counter_names[k],
			                    json_integer((json_int_t)q->chan[k]));
		for (k = 0; qo && k < GW_CHAN_CNT__MAX; k++)
			json_object_set_new(qo, gw_chan_counter_names[k],
			                    json_integer((json_int_t)q->gw[k]));
		for (k = 1; qo && k < BP_DESC_ERR__MAX; k++)
			json_object_set_new(qo, bp_desc_err_names[k],
			                    json_integer((json_int_t)q->err[k]));
		json_array_append_new(qs, qo);
	}
	for (i = 0; ss && i < c->nsocks; i++) {
		const struct gw_chan_sinfo *so = &c->socks[i];

		json_array_append_new(
		        ss, json_pack("{s:I,s:s,s:s,s:I,s:I}", "socket", (json_int_t)so->sock,
		                      "protocol", so->proto == BP_PROTO_RAW ? "raw" : "udp",
		                      "address", pol_ipv4_str(so->addr, ip), "port",
		                      (json_int_t)so->port, "queue", (json_int_t)so->queue));
	}
	o = json_pack("{s:I,s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "id", (json_int_t)c->id,
	              "tenant", c->tenant, "app", c->name, "pid", (int)c->pid, "uid",
	              (json_int_t)c->uid, "gid", (json_int_t)c->gid, "age_ms",
	              (json_int_t)((now_ns - c->attached_ns) / 1000000u), "buffers",
	              (json_int_t)c->nbufs, "rx", (json_int_t)t.rx, "tx", (json_int_t)t.tx, "drops",
	              (json_int_t)t.drops, "policy_denied", (json_int_t)t.denied);
	if (!o) {
		json_decref(qs);
		json_decref(ss);
		return NULL;
	}
	json_object_set_new(o, "queues", qs);
	json_object_set_new(o, "sockets", ss);
	return o;
}

static void
snap_free(struct snap *s)
{
	free(s->rules);
	free(s->tenants);
	gw_chan_list_free(&s->chans);
	free(s);
}

static struct snap *
snap_take(struct gw *gw)
{
	struct snap *s = calloc(1, sizeof(*s));
	const struct pol_gen *g;
	unsigned i, j, n;

	if (!s)
		return NULL;
	pthread_mutex_lock(&gw->ctl_lock);
	s->n_workers = gw->n_workers;
	gw_stats_sum(gw, &s->total);
	for (i = 0; gw->workers && i < gw->n_workers && i < GW_MAX_WORKERS; i++)
		gw_stats_sum_worker(&gw->workers[i], &s->worker[i]);
	s->have_port = gw->have_port && rte_eth_stats_get(gw->port_id, &s->port) == 0;
	for (i = 0; i < gw->n_workers; i++) {
		if (!gw->ct[i])
			continue;
		s->sessions += pol_ct_count(gw->ct[i]);
		for (j = 0; j < POL_CT_CNT__MAX; j++)
			s->ct[j] += pol_ct_counter(gw->ct[i], (enum pol_ct_counter)j);
	}
	for (j = 0; j < STK_TCP_CNT__MAX; j++)
		s->tcp[j] = gw_tcp_counter(gw, j);
	for (i = 0; gw->workers && i < gw->n_workers; i++)
		if (gw->workers[i].tcp)
			s->tcp_conns += stk_tcp_conns_in_use(gw->workers[i].tcp);
	gw_tcp_l7_counters(gw, s->l7s, &s->l7s_flows, &s->l7s_slots);
	g = atomic_load_explicit(&gw->gen, memory_order_acquire);
	if (g) {
		s->generation = pol_gen_number(g);
		n = pol_gen_n_rules(g);
		s->rules = calloc(n ? n : 1, sizeof(*s->rules));
		for (i = 1; s->rules && i < n; i++) {
			struct snap_rule *r = &s->rules[s->n_rules];

			if (pol_gen_rule_info(g, i, &r->ri))
				continue;
			snprintf(r->tenant, sizeof(r->tenant), "%s",
			         r->ri.tenant ? r->ri.tenant : "");
			snprintf(r->name, sizeof(r->name), "%s", r->ri.name);
			r->ri.tenant = r->ri.tenant ? r->tenant : NULL;
			r->ri.name = r->name;
			s->n_rules++;
		}
		n = pol_gen_n_tenants(g);
		s->tenants = calloc(n ? n : 1, sizeof(*s->tenants));
		for (i = 0; s->tenants && i < n; i++) {
			const struct pol_gen_tenant *t = pol_gen_tenant_at(g, i);

			snprintf(s->tenants[i].name, sizeof(s->tenants[i].name), "%s", t->name);
			memcpy(s->tenants[i].rate, t->rate, sizeof(t->rate));
			s->tenants[i].new_conn_per_s = t->new_conn_per_s;
			for (j = 0; j < POL_METER_NLIMITS; j++)
				s->tenants[i].meter_drops[j] =
				        pol_meter_drops(gw->meter, t->id, (enum pol_meter_limit)j);
			s->n_tenants++;
		}
	}
	gw_chan_list(gw, &s->chans); /* none listed when out of memory */
	s->now_ns = gw_now_ns(gw);
	pthread_mutex_unlock(&gw->ctl_lock);
	return s;
}

/* ---- JSON ---- */

static json_t *
totals_json(const struct gw_totals *t, bool drops_only)
{
	json_t *o = json_object();
	unsigned i;

	for (i = 0; o && i < GW_CNT__MAX; i++)
		json_object_set_new(o, gw_counter_names[i], json_integer((json_int_t)t->gw[i]));
	for (i = 0; o && i < STK_CNT__MAX; i++)
		json_object_set_new(o, stk_counter_names[i], json_integer((json_int_t)t->stk[i]));
	json_object_set_new(o, "drops", json_integer((json_int_t)t->drops));
	return o;
}

static json_t *
drops_json(const struct gw_totals *t)
{
	json_t *o = json_object();
	unsigned i;

	for (i = 0; o && i < STK_CNT__MAX; i++)
		if (stk_counter_is_drop((enum stk_counter)i))
			json_object_set_new(o, stk_counter_names[i],
			                    json_integer((json_int_t)t->stk[i]));
	return o;
}

json_t *
adm_stats_json(struct gw *gw)
{
	struct snap *s = snap_take(gw);
	json_t *o, *a;
	unsigned i, j;

	if (!s)
		return NULL;
	o = json_object();
	json_object_set_new(o, "policy_generation", json_integer((json_int_t)s->generation));
	json_object_set_new(o, "totals", totals_json(&s->total, false));
	json_object_set_new(o, "drops_by_reason", drops_json(&s->total));
	if (s->have_port)
		json_object_set_new(o, "port",
		                    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ipackets",
		                              (json_int_t)s->port.ipackets, "opackets",
		                              (json_int_t)s->port.opackets, "ibytes",
		                              (json_int_t)s->port.ibytes, "obytes",
		                              (json_int_t)s->port.obytes, "imissed",
		                              (json_int_t)s->port.imissed, "ierrors",
		                              (json_int_t)s->port.ierrors, "oerrors",
		                              (json_int_t)s->port.oerrors, "rx_nombuf",
		                              (json_int_t)s->port.rx_nombuf));
	a = json_array();
	for (i = 0; i < s->n_workers; i++) {
		json_t *w = totals_json(&s->worker[i], false);

		json_object_set_new(w, "worker", json_integer(i));
		json_array_append_new(a, w);
	}
	json_object_set_new(o, "workers", a);
	a = json_array();
	for (i = 0; i < s->n_tenants; i++) {
		json_t *t = json_pack("{s:s}", "name", s->tenants[i].name), *m = json_object();

		for (j = 0; j < POL_METER_NLIMITS; j++)
			json_object_set_new(m, meter_names[j],
			                    json_integer((json_int_t)s->tenants[i].meter_drops[j]));
		json_object_set_new(t, "meter_drops", m);
		m = json_object();
		for (j = 0; j < POL_DIR_MAX; j++) {
			const struct pol_rate *rt = &s->tenants[i].rate[j];

			json_object_set_new(m, pol_dir_name((enum pol_dir)j),
			                    json_pack("{s:I,s:I,s:I}", "pps", (json_int_t)rt->pps,
			                              "bps", (json_int_t)rt->bps, "burst",
			                              (json_int_t)rt->burst));
		}
		json_object_set_new(m, "new_connections_per_s",
		                    json_integer(s->tenants[i].new_conn_per_s));
		json_object_set_new(t, "meter_limits", m);
		json_array_append_new(a, t);
	}
	json_object_set_new(o, "tenants", a);
	a = json_array();
	for (i = 0; i < s->n_rules; i++) {
		const struct pol_rule_info *ri = &s->rules[i].ri;

		json_array_append_new(
		        a,
		        json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "tenant",
		                  ri->tenant ? ri->tenant : "operator", "rule", ri->name,
		                  "direction", pol_dir_name(ri->dir), "action",
		                  pol_action_name(ri->action), "priority", (json_int_t)ri->priority,
		                  "packets", (json_int_t)ri->pkts, "bytes", (json_int_t)ri->bytes,
		                  "acl_rules", (json_int_t)ri->acl_rules,
		                  /* where it runs: no port here offloads rules (rte_flow) */
		                  "runs_in", "software"));
	}
	json_object_set_new(o, "rules", a);
	a = json_object();
	json_object_set_new(a, "sessions", json_integer(s->sessions));
	for (j = 0; j < POL_CT_CNT__MAX; j++)
		json_object_set_new(a, pol_ct_counter_names[j], json_integer((json_int_t)s->ct[j]));
	json_object_set_new(o, "conntrack", a);
	a = json_object();
	json_object_set_new(a, "conns_in_use", json_integer(s->tcp_conns));
	for (j = 0; j < STK_TCP_CNT__MAX; j++)
		json_object_set_new(a, stk_tcp_counter_names[j],
		                    json_integer((json_int_t)s->tcp[j]));
	json_object_set_new(o, "tcp", a);
	a = json_object();
	json_object_set_new(a, "flows_in_use", json_integer(s->l7s_flows));
	json_object_set_new(a, "slots_in_use", json_integer(s->l7s_slots));
	for (j = 0; j < POL_L7_SCNT__MAX; j++)
		json_object_set_new(a, pol_l7_stream_counter_names[j],
		                    json_integer((json_int_t)s->l7s[j]));
	json_object_set_new(o, "l7_streams", a);
	a = json_array();
	for (i = 0; i < s->chans.n; i++)
		json_array_append_new(a, adm_chan_json(&s->chans.apps[i], s->now_ns));
	json_object_set_new(o, "channels", a);
	snap_free(s);
	return o;
}

/* ---- Prometheus text format 0.0.4 ---- */

struct out {
	char *buf;
	size_t len;
	FILE *f;
};

/* A label value with \, " and newline escaped. */
static void
label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* HELP text: \ and newline escaped. */
static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	for (; *help; help++) {
		if (*help == '\\')
			fputs("\\\\", f);
		else if (*help == '\n')
			fputs("\\n", f);
		else
			fputc(*help, f);
	}
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

/* One sample per rule: packets or bytes. */
static void
rule_family(FILE *f, const struct snap *s, const char *name, const char *help, bool bytes)
{
	unsigned i;

	head(f, name, "counter", help);
	for (i = 0; i < s->n_rules; i++) {
		const struct pol_rule_info *ri = &s->rules[i].ri;

		fprintf(f, "%s{tenant=\"", name);
		label(f, ri->tenant ? ri->tenant : "operator");
		fputs("\",rule=\"", f);
		label(f, ri->name);
		fprintf(f, "\",direction=\"%s\",action=\"%s\"} %" PRIu64 "\n",
		        pol_dir_name(ri->dir), pol_action_name(ri->action),
		        bytes ? ri->bytes : ri->pkts);
	}
}

/* One sample per worker and stack counter: the drop counters (drops) or the others. */
static void
stack_family(FILE *f, const struct snap *s, const char *name, const char *help, const char *key,
             bool drops)
{
	unsigned i, w;

	head(f, name, "counter", help);
	for (i = 0; i < STK_CNT__MAX; i++)
		if (stk_counter_is_drop((enum stk_counter)i) == drops)
			for (w = 0; w < s->n_workers; w++)
				fprintf(f, "%s{worker=\"%u\",%s=\"%s\"} %" PRIu64 "\n", name, w,
				        key, stk_counter_names[i], s->worker[w].stk[i]);
}

char *
adm_metrics_text(struct gw *gw, size_t *len)
{
	struct snap *s = snap_take(gw);
	char name[128], *buf = NULL;
	size_t blen = 0;
	unsigned i, j, w;
	FILE *f;

	if (!s)
		return NULL;
	f = open_memstream(&buf, &blen);
	if (!f) {
		snap_free(s);
		return NULL;
	}
	head(f, "bypassd_policy_generation", "gauge", "number of the active policy generation");
	fprintf(f, "bypassd_policy_generation %" PRIu64 "\n", s->generation);
	head(f, "bypassd_workers", "gauge", "worker lcores");
	fprintf(f, "bypassd_workers %u\n", s->n_workers);
	/* the gateway's own counters, one family each, per worker */
	for (i = 0; i < GW_CNT__MAX; i++) {
		snprintf(name, sizeof(name), "bypassd_%s_total", gw_counter_names[i]);
		head(f, name, "counter", gw_counter_help[i]);
		for (w = 0; w < s->n_workers; w++)
			fprintf(f, "%s{worker=\"%u\"} %" PRIu64 "\n", name, w, s->worker[w].gw[i]);
	}
	/* the stack's drops by reason, its events by name */
	stack_family(f, s, "bypassd_stack_drops_total",
	             "frames the network stack dropped, by reason (stack/stk.h)", "reason", true);
	stack_family(f, s, "bypassd_stack_events_total",
	             "network stack events (ARP, ICMP, resets), by event (stack/stk.h)", "event",
	             false);
	head(f, "bypassd_drops_total", "counter",
	     "every frame dropped, stack and gateway reasons together");
	for (w = 0; w < s->n_workers; w++)
		fprintf(f, "bypassd_drops_total{worker=\"%u\"} %" PRIu64 "\n", w,
		        s->worker[w].drops);
	if (s->have_port) {
		head(f, "bypassd_port_missed_total", "counter",
		     "frames the port dropped: RX queues full (imissed)");
		fprintf(f, "bypassd_port_missed_total %" PRIu64 "\n", s->port.imissed);
		head(f, "bypassd_port_errors_total", "counter", "port receive and transmit errors");
		fprintf(f, "bypassd_port_errors_total{direction=\"rx\"} %" PRIu64 "\n",
		        s->port.ierrors);
		fprintf(f, "bypassd_port_errors_total{direction=\"tx\"} %" PRIu64 "\n",
		        s->port.oerrors);
		head(f, "bypassd_port_rx_nombuf_total", "counter",
		     "receive mbuf allocation failures");
		fprintf(f, "bypassd_port_rx_nombuf_total %" PRIu64 "\n", s->port.rx_nombuf);
	}
	rule_family(f, s, "bypassd_rule_packets_total",
	            "packets each rule decided (tenant \"operator\" is the operator tier; rule "
	            "\"default\" a tenant's default)",
	            false);
	rule_family(f, s, "bypassd_rule_bytes_total", "bytes of the packets each rule decided",
	            true);
	head(f, "bypassd_tenant_meter_drops_total", "counter",
	     "packets or new connections over a tenant's rate limit, by limit");
	for (i = 0; i < s->n_tenants; i++)
		for (j = 0; j < POL_METER_NLIMITS; j++) {
			fputs("bypassd_tenant_meter_drops_total{tenant=\"", f);
			label(f, s->tenants[i].name);
			fprintf(f, "\",reason=\"%s\"} %" PRIu64 "\n", meter_names[j],
			        s->tenants[i].meter_drops[j]);
		}
	head(f, "bypassd_tcp_conns_in_use", "gauge", "TCP connection blocks in use, all workers");
	fprintf(f, "bypassd_tcp_conns_in_use %u\n", s->tcp_conns);
	for (j = 0; j < STK_TCP_CNT__MAX; j++) {
		snprintf(name, sizeof(name), "bypassd_%s_total", stk_tcp_counter_names[j]);
		head(f, name, "counter", stk_tcp_counter_help[j]);
		fprintf(f, "%s %" PRIu64 "\n", name, s->tcp[j]);
	}
	head(f, "bypassd_l7_stream_flows_in_use", "gauge",
	     "TCP flows scanned in L7 stream mode, all workers");
	fprintf(f, "bypassd_l7_stream_flows_in_use %u\n", s->l7s_flows);
	head(f, "bypassd_l7_stream_slots_in_use", "gauge",
	     "L7 stream state slots in use, all workers");
	fprintf(f, "bypassd_l7_stream_slots_in_use %u\n", s->l7s_slots);
	for (j = 0; j < POL_L7_SCNT__MAX; j++) {
		snprintf(name, sizeof(name), "bypassd_%s_total", pol_l7_stream_counter_names[j]);
		head(f, name, "counter", l7_stream_help[j]);
		fprintf(f, "%s %" PRIu64 "\n", name, s->l7s[j]);
	}
	head(f, "bypassd_conntrack_sessions", "gauge", "tracked sessions, all workers");
	fprintf(f, "bypassd_conntrack_sessions %u\n", s->sessions);
	for (j = 0; j < POL_CT_CNT__MAX; j++) {
		snprintf(name, sizeof(name), "bypassd_conntrack_%s_total", pol_ct_counter_names[j]);
		head(f, name, "counter", pol_ct_counter_help[j]);
		fprintf(f, "%s %" PRIu64 "\n", name, s->ct[j]);
	}
	head(f, "bypassd_channels", "gauge", "attached apps");
	fprintf(f, "bypassd_channels %u\n", s->chans.n);
	head(f, "bypassd_channel_packets_total", "counter",
	     "packets through each attached app's queues, by direction");
	for (i = 0; i < s->chans.n; i++) {
		const struct gw_chan_info *c = &s->chans.apps[i];
		struct chan_sum t = chan_sum(c);

		for (j = 0; j < 2; j++) {
			fprintf(f,
			        "bypassd_channel_packets_total{channel=\"%" PRIu64 "\",tenant=\"",
			        c->id);
			label(f, c->tenant);
			fprintf(f, "\",direction=\"%s\"} %" PRIu64 "\n", j ? "tx" : "rx",
			        j ? t.tx : t.rx);
		}
	}
	head(f, "bypassd_channel_drops_total", "counter", "packets dropped on each app's queues");
	for (i = 0; i < s->chans.n; i++) {
		const struct gw_chan_info *c = &s->chans.apps[i];

		fprintf(f, "bypassd_channel_drops_total{channel=\"%" PRIu64 "\",tenant=\"", c->id);
		label(f, c->tenant);
		fprintf(f, "\"} %" PRIu64 "\n", chan_sum(c).drops);
	}
	fclose(f);
	snap_free(s);
	*len = blen;
	return buf;
}
