/* policy_test.c - the worker's ingress policy burst (gateway/policy.c) without a port. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>

#include "gw.h"
#include "policy_model.h"

/*
 * policy.c is linked as it is; what it calls of the rest of the daemon (flows, interface, apps,
 * gratuitous ARP) is stubbed: these tests drive gw_policy_ingress only.
 */
int gw_logtype; /* main.c registers it in the daemon */

/* no TCP engine here: a test says whether TCP segments are the engine's (scanned as streams) */
static bool stub_terminates;
bool
gw_tcp_terminates(const struct gw_worker *w, const struct stk_pkt_info *info)
{
	(void)w, (void)info;
	return stub_terminates;
}

int
gw_flow_init(struct gw *gw)
{
	(void)gw;
	return 0;
}
void
gw_flow_opts(struct gw *gw, const struct pol_policy *p, struct pol_gen_opts *o)
{
	(void)gw, (void)p, (void)o;
}
void
gw_flow_abort(struct gw *gw)
{
	(void)gw;
}
void
gw_flow_commit(struct gw *gw, const struct pol_gen *g)
{
	(void)gw, (void)g;
}
int
gw_flow_rule_placement(struct gw *gw, unsigned rule_id, struct gw_flow_rule_info *out)
{
	(void)gw, (void)rule_id, (void)out;
	return -1;
}
struct stk_iface *
gw_iface_new(const struct gw *gw, const struct pol_policy *p)
{
	(void)gw, (void)p;
	return NULL;
}
void
gw_iface_free(struct stk_iface *ifc)
{
	(void)ifc;
}
int
gw_chan_policy_reconcile(struct gw *gw, const struct pol_policy *p, const struct pol_gen *g)
{
	(void)gw, (void)p, (void)g;
	return 0;
}
void
gw_send_garp_new(struct gw *gw, const struct stk_iface *ifc, const struct stk_iface *old)
{
	(void)gw, (void)ifc, (void)old;
}

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define PEER            IP4(198, 18, 0, 2)
#define A_IP            IP4(198, 18, 0, 10)

static struct pol_gen *
build(const char *text, const struct pol_gen *prev)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = pol_policy_load_buf("t.yaml", text, strlen(text), &errs);
	struct pol_gen_opts o = {.n_workers = 1, .socket_id = -1};
	struct pol_gen *g = NULL;

	if (p)
		g = pol_gen_build(p, prev, &o, &errs);
	pol_cfg_errs_print(&errs, stderr);
	pol_cfg_errs_clear(&errs);
	pol_policy_free(p);
	return g;
}

/* One worker with its own table and the shared meters; no port. */
struct rig {
	struct gw gw;
	struct gw_worker w;
};

static bool
rig_init(struct rig *r, uint32_t entries)
{
	struct pol_ct_conf c = {.entries = entries, .max_tenants = POL_TENANT_ID_MAX + 1};

	memset(r, 0, sizeof(*r));
	r->gw.n_workers = 1;
	r->gw.meter = pol_meter_create(1, POL_TENANT_ID_MAX + 1);
	r->gw.ct[0] = pol_ct_create(&c);
	r->w.gw = &r->gw;
	r->w.id = 0;
	r->w.ct = r->gw.ct[0];
	return r->gw.meter && r->w.ct;
}

static void
rig_fini(struct rig *r)
{
	pol_ct_free(r->gw.ct[0]);
	pol_meter_free(r->gw.meter);
}

static void
rig_meters(struct rig *r, const struct pol_gen *g, uint64_t now)
{
	unsigned i;

	for (i = 0; i < pol_gen_n_tenants(g); i++) {
		const struct pol_gen_tenant *t = pol_gen_tenant_at(g, i);

		pol_meter_set(r->gw.meter, t->id, &t->rate[POL_DIR_INGRESS],
		              &t->rate[POL_DIR_EGRESS], t->new_conn_per_s, now);
	}
}

/*
 * UDP datagrams from PEER:sport[i] to A_IP:dport[i], judged as one burst: the frames are not
 * read for UDP without L7 (the policy has no signatures), only their parse results.
 */
static void
udp_burst_to(struct rig *r, const struct pol_gen *g, uint64_t now, uint32_t dst, unsigned n,
             const uint16_t *sport, const uint16_t *dport, bool *ok)
{
	static uint8_t frame[64];
	struct stk_buf b[GW_BURST];
	struct stk_pkt_info info[GW_BURST];
	uint16_t tenant[GW_BURST];
	uint32_t lens[GW_BURST];
	unsigned i;

	for (i = 0; i < n; i++) {
		b[i] = (struct stk_buf){.data = frame, .len = 60, .room = 60};
		memset(&info[i], 0, sizeof(info[i]));
		info[i].src_ip = PEER;
		info[i].dst_ip = dst;
		info[i].src_port = sport[i];
		info[i].dst_port = dport[i];
		info[i].proto = 17;
		info[i].l3_off = 14;
		info[i].l4_off = 34;
		info[i].pay_off = 42;
		info[i].pay_len = 18;
		tenant[i] = pol_gen_tenant_by_addr(g, dst);
		lens[i] = 60;
	}
	gw_policy_ingress(&r->w, g, now, n, b, info, tenant, lens, ok);
}

static void
udp_burst(struct rig *r, const struct pol_gen *g, uint64_t now, unsigned n, const uint16_t *sport,
          const uint16_t *dport, bool *ok)
{
	udp_burst_to(r, g, now, A_IP, n, sport, dport, ok);
}

/* The session of PEER:sport -> A_IP:dport, or false. */
static bool
session(struct rig *r, const struct pol_gen *g, uint16_t sport, uint16_t dport,
        struct pol_ct_info *ci)
{
	struct pol_ct_pkt p = {.src = PEER,
	                       .dst = A_IP,
	                       .sport = sport,
	                       .dport = dport,
	                       .proto = 17,
	                       .tenant = pol_gen_tenant_by_addr(g, A_IP)};
	struct pol_ct_key k;

	pol_ct_key_set(&k, &p);
	return pol_ct_get(r->w.ct, pol_ct_lookup(r->w.ct, &k), ci) == 0;
}

/* a: two sessions per worker at most; `in` (port 5000) stateful, `plain` (6000) not */
static const char pol_cap1[] =
        "tenants:\n"
        "  - name: a\n"
        "    addresses: [198.18.0.10]\n"
        "    quotas: {sessions: 2}\n"
        "    rules:\n"
        "      - {name: in, priority: 1, direction: ingress, action: allow,\n"
        "         protocol: udp, dst: {ports: [5000]}, stateful: true}\n"
        "      - {name: plain, priority: 2, direction: ingress,\n"
        "         action: allow, protocol: udp, dst: {ports: [6000]}}\n";
/* the same rules, one more (a reload: every session is of an older generation now) */
static const char pol_cap2[] =
        "tenants:\n"
        "  - name: a\n"
        "    addresses: [198.18.0.10]\n"
        "    quotas: {sessions: 2}\n"
        "    rules:\n"
        "      - {name: in, priority: 1, direction: ingress, action: allow,\n"
        "         protocol: udp, dst: {ports: [5000]}, stateful: true}\n"
        "      - {name: plain, priority: 2, direction: ingress,\n"
        "         action: allow, protocol: udp, dst: {ports: [6000]}}\n"
        "      - {name: other, priority: 3, direction: ingress,\n"
        "         action: allow, protocol: udp, dst: {ports: [7000]}}\n";
/* `in` gone: port 5000 falls to the default (deny); a session limit far away */
static const char pol_revoke[] = "tenants:\n"
                                 "  - name: a\n"
                                 "    addresses: [198.18.0.10]\n"
                                 "    rules:\n"
                                 "      - {name: plain, priority: 2, direction: ingress,\n"
                                 "         action: allow, protocol: udp, dst: {ports: [6000]}}\n";

/*
 * A session of an older generation whose packet sits behind new flows in the same burst: those
 * flows' sessions evict it (tenant at its cap) and take its slot. Its re-check must not re-stamp
 * the session now in that slot: a flow `plain` admitted (not stateful) would get `in`'s
 * stateful flag, and its replies would pass without the egress rules.
 */
static void
test_stale_evicted_in_burst(void)
{
	struct rig r;
	struct pol_gen *g1 = build(pol_cap1, NULL), *g2 = g1 ? build(pol_cap2, g1) : NULL;
	struct pol_ct_info ci;
	bool ok = g1 && g2, pok[GW_BURST];
	uint64_t now = 1000000000ull;

	if (!ok || !rig_init(&r, 64)) {
		check_report("a stale session evicted in its own burst is not re-stamped", false);
		pol_gen_put(g1);
		pol_gen_put(g2);
		return;
	}
	rig_meters(&r, g1, now);
	{
		/* generation 1: A (port 5000, stateful) and B (port 6000) */
		const uint16_t sp[] = {1000, 1001}, dp[] = {5000, 6000};

		udp_burst(&r, g1, now, 2, sp, dp, pok);
		CHECK(pok[0] && pok[1]);
		CHECK(session(&r, g1, 1000, 5000, &ci) && ci.admit_reply);
		CHECK(session(&r, g1, 1001, 6000, &ci) && !ci.admit_reply);
	}
	now += 1000000;
	{
		/* generation 2: C and D (new, `plain`), then A (stale: moved to the tail of the
		 * tenant's list by its lookup). C evicts the oldest (B), D evicts A and takes its
		 * slot; A's re-check comes after both */
		const uint16_t sp[] = {1002, 1003, 1000}, dp[] = {6000, 6000, 5000};

		udp_burst(&r, g2, now, 3, sp, dp, pok);
		CHECK(pok[0] && pok[1] && pok[2]);
		CHECK(session(&r, g2, 1002, 6000, &ci) || session(&r, g2, 1003, 6000, &ci));
		/* whatever sessions exist now: each has its own rule's flags */
		if (session(&r, g2, 1002, 6000, &ci))
			CHECK(!ci.admit_reply);
		if (session(&r, g2, 1003, 6000, &ci))
			CHECK(!ci.admit_reply);
		if (session(&r, g2, 1000, 5000, &ci))
			CHECK(ci.admit_reply && ci.gen == pol_gen_number(g2));
	}
	check_report("a stale session evicted in its own burst: its re-check leaves the slot's new "
	             "session alone",
	             ok);
	rig_fini(&r);
	pol_gen_put(g2);
	pol_gen_put(g1);
}

/*
 * A session a reload revokes, with two of its packets in one burst and a new flow between them:
 * the first packet's re-check removes the session, the new flow takes its slot; the second
 * packet's re-check must not remove the new flow's session.
 */
static void
test_stale_twice_in_burst(void)
{
	struct rig r;
	struct pol_gen *g1 = build(pol_cap1, NULL), *g2 = g1 ? build(pol_revoke, g1) : NULL;
	struct pol_ct_info ci;
	bool ok = g1 && g2, pok[GW_BURST];
	uint64_t now = 1000000000ull;

	if (!ok || !rig_init(&r, 64)) {
		check_report("a revoked session twice in a burst", false);
		pol_gen_put(g1);
		pol_gen_put(g2);
		return;
	}
	rig_meters(&r, g1, now);
	{
		const uint16_t sp[] = {1000}, dp[] = {5000};

		udp_burst(&r, g1, now, 1, sp, dp, pok);
		CHECK(pok[0] && session(&r, g1, 1000, 5000, &ci));
	}
	now += 1000000;
	rig_meters(&r, g2, now);
	{
		/* A (revoked), X (new, `plain`), A again */
		const uint16_t sp[] = {1000, 1005, 1000}, dp[] = {5000, 6000, 5000};

		udp_burst(&r, g2, now, 3, sp, dp, pok);
		CHECK(!pok[0] && pok[1] && !pok[2]);
		CHECK(!session(&r, g2, 1000, 5000, &ci));
		CHECK(session(&r, g2, 1005, 6000, &ci) && ci.gen == pol_gen_number(g2));
		CHECK(r.w.cnt[GW_CNT_CT_REVOKED] == 1);
	}
	check_report(
	        "a revoked session twice in a burst: the second re-check leaves the new flow's "
	        "session alone",
	        ok);
	rig_fini(&r);
	pol_gen_put(g2);
	pol_gen_put(g1);
}

/* a: one new connection per second (a bucket one deep) */
static const char pol_conn[] =
        "tenants:\n"
        "  - name: a\n"
        "    addresses: [198.18.0.10]\n"
        "    rate_limit: {new_connections_per_s: 1}\n"
        "    rules:\n"
        "      - {name: in, priority: 1, direction: ingress, action: allow,\n"
        "         protocol: udp, dst: {ports: [5000]}}\n";

/*
 * Two datagrams of one new flow in one burst: one new connection, as when they come in two
 * bursts. The second must not be charged to the new-connection meter (nor dropped by it): the
 * first opened the session.
 */
static void
test_new_flow_twice_in_burst(void)
{
	struct rig r;
	struct pol_gen *g = build(pol_conn, NULL);
	struct pol_ct_info ci;
	bool ok = g != NULL, pok[GW_BURST];
	uint64_t now = 1000000000ull;

	if (!ok || !rig_init(&r, 64)) {
		check_report("one new flow twice in a burst", false);
		pol_gen_put(g);
		return;
	}
	rig_meters(&r, g, now);
	{
		const uint16_t sp[] = {1000, 1000, 1000}, dp[] = {5000, 5000, 5000};

		udp_burst(&r, g, now, 3, sp, dp, pok);
		CHECK(pok[0] && pok[1] && pok[2]);
		CHECK(r.w.cnt[GW_CNT_METER_DROP] == 0);
		CHECK(session(&r, g, 1000, 5000, &ci));
		CHECK(pol_ct_counter(r.w.ct, POL_CT_CNT_CREATED) == 1);
		CHECK(pol_meter_drops(r.gw.meter, pol_gen_tenant_by_addr(g, A_IP),
		                      POL_METER_CONN) == 0);
	}
	{
		/* a second new flow in the same second: the meter refuses it */
		const uint16_t sp[] = {1001}, dp[] = {5000};

		udp_burst(&r, g, now + 1000, 1, sp, dp, pok);
		CHECK(!pok[0] && r.w.cnt[GW_CNT_METER_DROP] == 1);
	}
	check_report("one new flow twice in a burst: one session, one new connection metered", ok);
	rig_fini(&r);
	pol_gen_put(g);
}

/* b holds two sessions per worker; a stays through every reload */
static const char pol_ab[] = "tenants:\n"
                             "  - name: a\n"
                             "    addresses: [198.18.0.10]\n"
                             "  - name: b\n"
                             "    addresses: [198.18.0.20]\n"
                             "    quotas: {sessions: 2}\n"
                             "    rules:\n"
                             "      - {name: in, priority: 1, direction: ingress, action: allow,\n"
                             "         protocol: udp, stateful: true}\n";
static const char pol_a[] = "tenants:\n"
                            "  - name: a\n"
                            "    addresses: [198.18.0.10]\n";
/* c: new, and given b's id (the lowest free in this and the running generation) */
static const char pol_ac[] = "tenants:\n"
                             "  - name: a\n"
                             "    addresses: [198.18.0.10]\n"
                             "  - name: c\n"
                             "    addresses: [198.18.0.30]\n"
                             "    quotas: {sessions: 2}\n"
                             "    rules:\n"
                             "      - {name: in, priority: 1, direction: ingress, action: allow,\n"
                             "         protocol: udp}\n";

/*
 * A tenant removed with established sessions (UDP answered: never evicted), then a tenant that
 * gets its id: the workers' sweep (gw_policy_expire) removes the old sessions, even when it only
 * comes by after the id went to the new tenant, so the new tenant's cap is its own. Before, they
 * stayed until their timeout and the new tenant's new sessions were refused (ct_refused).
 */
static void
test_removed_tenant_sessions(void)
{
	struct rig r;
	struct pol_gen *g1 = build(pol_ab, NULL), *g2 = g1 ? build(pol_a, g1) : NULL;
	struct pol_gen *g3 = g2 ? build(pol_ac, g2) : NULL;
	const uint32_t b_ip = IP4(198, 18, 0, 20), c_ip = IP4(198, 18, 0, 30);
	bool ok = g1 && g2 && g3, pok[GW_BURST];
	uint64_t now = 1000000000ull;
	unsigned i;

	if (!ok || !rig_init(&r, 64)) {
		check_report("a removed tenant's sessions", false);
		goto out;
	}
	CHECK(pol_gen_tenant_by_addr(g3, c_ip) == pol_gen_tenant_by_addr(g1, b_ip));
	rig_meters(&r, g1, now);
	atomic_store(&r.gw.gen, g1);
	{
		const uint16_t sp[] = {1000, 1001}, dp[] = {7000, 7000};

		udp_burst_to(&r, g1, now, b_ip, 2, sp, dp, pok);
		CHECK(pok[0] && pok[1]);
		/* the app answers both: replied, never evicted */
		for (i = 0; i < 2; i++)
			CHECK(gw_policy_egress(&r.w, g1, 17, b_ip, PEER, 7000, sp[i], NULL, 0, NULL,
			                       0, 60, false) == 0);
	}
	CHECK(pol_ct_tenant_count(r.w.ct, pol_gen_tenant_by_addr(g1, b_ip)) == 2);
	/* b removed, and its id given to c before the sweep came by (g2 published only
	 * briefly): the sweep under g3 still tells b's sessions from c's */
	atomic_store(&r.gw.gen, g3);
	rig_meters(&r, g3, now);
	for (i = 0; i < 8; i++) /* 64 entries, 16 a call: the whole table twice */
		gw_policy_expire(&r.w, now + i);
	CHECK(pol_ct_count(r.w.ct) == 0);
	CHECK(pol_ct_counter(r.w.ct, POL_CT_CNT_TENANT_GONE) == 2);
	/* c, with b's id: both its sessions fit, and the sweep leaves them alone */
	{
		const uint16_t sp[] = {2000, 2001}, dp[] = {8000, 8000};

		udp_burst_to(&r, g3, now + 100, c_ip, 2, sp, dp, pok);
		CHECK(pok[0] && pok[1]);
		CHECK(r.w.cnt[GW_CNT_CT_REFUSED] == 0);
		for (i = 0; i < 8; i++)
			gw_policy_expire(&r.w, now + 200 + i);
		CHECK(pol_ct_count(r.w.ct) == 2);
	}
	check_report(
	        "a removed tenant's sessions are swept: the tenant given its id has its whole cap",
	        ok);
	rig_fini(&r);
out:
	atomic_store(&r.gw.gen, NULL);
	pol_gen_put(g3);
	pol_gen_put(g2);
	pol_gen_put(g1);
}

/* a: `secret` denied both ways on TCP (signature rules), everything else allowed */
static const char pol_l7tcp[] =
        "tenants:\n"
        "  - name: a\n"
        "    addresses: [198.18.0.10]\n"
        "    default: {ingress: allow, egress: allow}\n"
        "    signatures:\n"
        "      - {name: secret, pattern: secret}\n"
        "    rules:\n"
        "      - {name: in-secret, priority: 1, direction: ingress, action: deny,\n"
        "         protocol: tcp, signatures: [secret]}\n"
        "      - {name: out-secret, priority: 2, direction: egress, action: deny,\n"
        "         protocol: tcp, signatures: [secret]}\n";

/* A SYN from sport to dport carrying "a secret" (20-byte header, no options), as a frame. */
static void
tcp_syn_secret(uint8_t *f, uint16_t sport, uint16_t dport)
{
	uint8_t *th = f + 34;

	memset(f, 0, 34 + 20);
	th[0] = (uint8_t)(sport >> 8), th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8), th[3] = (uint8_t)dport;
	th[7] = 1;       /* seq 1 */
	th[12] = 5 << 4; /* data offset: 5 words */
	th[13] = 0x02;   /* SYN */
	th[14] = 0xff;   /* window */
	memcpy(th + 20, "a secret", 8);
}

static uint64_t
sig_hits(const struct pol_gen *g)
{
	struct pol_sig_info si;

	return pol_l7_sig_info(g, 0, &si) ? 0 : si.hits;
}

/*
 * TCP the gateway's engine terminates is scanned as a stream (gateway/stream_fp.c): its segments
 * reach the per-packet L7 stage with an empty payload, ingress and egress, so a pattern is not
 * counted (or denied) twice. Other TCP (a raw socket's) keeps block mode.
 */
static void
test_l7_terminated_tcp_not_rescanned(void)
{
	struct pol_gen *g = build(pol_l7tcp, NULL);
	uint8_t f[64];
	struct rig r;
	bool ok = true;
	int pass;

	if (!g || !rig_init(&r, 64)) {
		check_report("terminated TCP is not scanned per segment", false);
		pol_gen_put(g);
		return;
	}
	atomic_store(&r.gw.gen, g);
	for (pass = 0; pass < 2; pass++) {
		const bool term = pass == 1;
		struct stk_buf b = {.data = f, .len = 62, .room = 64};
		struct stk_pkt_info info;
		uint16_t tenant = pol_gen_tenant_by_addr(g, A_IP);
		uint32_t len = 62;
		uint64_t h0 = sig_hits(g), d0 = r.w.cnt[GW_CNT_POLICY_L7_DENY];
		bool pok;
		int e;

		stub_terminates = term;
		tcp_syn_secret(f, (uint16_t)(40000 + pass), 7);
		memset(&info, 0, sizeof(info));
		info.src_ip = PEER;
		info.dst_ip = A_IP;
		info.src_port = (uint16_t)(40000 + pass);
		info.dst_port = 7;
		info.proto = 6;
		info.tcp_flags = 0x02;
		info.l3_off = 14;
		info.l4_off = 34;
		info.pay_off = 54;
		info.pay_len = 8;
		gw_policy_ingress(&r.w, g, 1000, 1, &b, &info, &tenant, &len, &pok);
		CHECK(pok == term);
		CHECK(sig_hits(g) - h0 == (term ? 0u : 1u));
		CHECK(r.w.cnt[GW_CNT_POLICY_L7_DENY] - d0 == (term ? 0u : 1u));
		/* egress: the app's SYN with the same bytes */
		tcp_syn_secret(f, 7, (uint16_t)(41000 + pass));
		h0 = sig_hits(g);
		e = gw_policy_egress(&r.w, g, 6, A_IP, PEER, 7, (uint16_t)(41000 + pass), f + 34,
		                     28, f + 54, 8, 62, term);
		CHECK(e == (term ? 0 : GW_CNT_POLICY_TX_L7_DENY));
		CHECK(sig_hits(g) - h0 == (term ? 0u : 1u));
	}
	stub_terminates = false;
	check_report("terminated TCP is not scanned per segment (the stream stage has its bytes)",
	             ok);
	atomic_store(&r.gw.gen, NULL);
	rig_fini(&r);
	pol_gen_put(g);
}

/* a: everything allowed both ways (a TCP flow's conntrack, nothing else) */
static const char pol_open[] = "tenants:\n"
                               "  - name: a\n"
                               "    addresses: [198.18.0.10]\n"
                               "    default: {ingress: allow, egress: allow}\n";

/* a TCP header, 20 bytes, no options */
static void
tcp_hdr(uint8_t *th, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags)
{
	memset(th, 0, 20);
	th[0] = (uint8_t)(sport >> 8), th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8), th[3] = (uint8_t)dport;
	th[4] = (uint8_t)(seq >> 24), th[5] = (uint8_t)(seq >> 16);
	th[6] = (uint8_t)(seq >> 8), th[7] = (uint8_t)seq;
	th[8] = (uint8_t)(ack >> 24), th[9] = (uint8_t)(ack >> 16);
	th[10] = (uint8_t)(ack >> 8), th[11] = (uint8_t)ack;
	th[12] = 0x50;
	th[13] = flags;
	th[15] = 0xff; /* window 255 */
}

/* PEER:80 -> A_IP:40000, one TCP segment without payload through the ingress policy */
static bool
tcp_in(struct rig *r, const struct pol_gen *g, uint64_t now, uint32_t seq, uint32_t ack,
       uint8_t flags)
{
	static uint8_t frame[64];
	struct stk_buf b = {.data = frame, .len = 54, .room = 64};
	struct stk_pkt_info info = {.src_ip = PEER,
	                            .dst_ip = A_IP,
	                            .src_port = 80,
	                            .dst_port = 40000,
	                            .proto = 6,
	                            .l3_off = 14,
	                            .l4_off = 34,
	                            .pay_off = 54};
	uint16_t tenant = pol_gen_tenant_by_addr(g, A_IP);
	uint32_t len = 54;
	bool ok;

	tcp_hdr(frame + 34, 80, 40000, seq, ack, flags);
	gw_policy_ingress(&r->w, g, now, 1, &b, &info, &tenant, &len, &ok);
	return ok;
}

/* A_IP:40000 -> PEER:80 through the egress policy: 0 or the counter that refused it */
static int
tcp_out(struct rig *r, const struct pol_gen *g, uint32_t seq, uint32_t ack, uint8_t flags,
        uint32_t pay_len)
{
	uint8_t th[20];

	tcp_hdr(th, 40000, 80, seq, ack, flags);
	return gw_policy_egress(&r->w, g, 6, A_IP, PEER, 40000, 80, th, 20, NULL, pay_len,
	                        54 + pay_len, true);
}

/*
 * After the peer's reset, the engine's pure ACK (one it built before it saw the RST) still
 * leaves; its data is refused as ct_tx_reset, the sign stream_fp.c aborts the connection on.
 */
static void
test_tcp_after_reset(void)
{
	struct rig r;
	struct pol_gen *g = build(pol_open, NULL);
	const uint64_t now = 1000000000ull;
	bool ok = g != NULL;

	if (!ok || !rig_init(&r, 64)) {
		check_report(
		        "TCP after a reset: pure ACKs and RSTs pass, data is refused as ct_tx_reset",
		        false);
		goto out;
	}
	rig_meters(&r, g, now);
	atomic_store(&r.gw.gen, g);
	r.w.stk.now_ns = now;
	CHECK(tcp_out(&r, g, 1000, 0, 0x02, 0) == 0);                       /* SYN */
	CHECK(tcp_in(&r, g, now, 5000, 1001, 0x12));                        /* SYN-ACK */
	CHECK(tcp_out(&r, g, 1001, 5001, 0x10, 0) == 0);                    /* ACK */
	CHECK(tcp_out(&r, g, 1001, 5001, 0x18, 100) == 0);                  /* data */
	CHECK(tcp_in(&r, g, now, 5001, 1101, 0x14));                        /* exact RST */
	CHECK(tcp_out(&r, g, 1101, 5001, 0x10, 0) == 0);                    /* pure ACK: passes */
	CHECK(tcp_out(&r, g, 1101, 5001, 0x18, 100) == GW_CNT_CT_TX_RESET); /* data */
	CHECK(tcp_in(&r, g, now, 5001, 0, 0x04)); /* the peer's RST again */
	CHECK(r.w.cnt[GW_CNT_CT_TX_RESET] == 1 && r.w.cnt[GW_CNT_CT_TX_REFUSED] == 0);
	CHECK(r.w.cnt[GW_CNT_POLICY_CT_INVALID] == 0);
	rig_fini(&r);
	check_report("TCP after a reset: pure ACKs and RSTs pass, data is refused as ct_tx_reset",
	             ok);
out:
	pol_gen_put(g);
}

int
main(int argc, char **argv)
{
	char *eal[] = {
	        argv[0], "--no-huge",      "--no-shconf", "--no-pci", "-m",
	        "256",   "--no-telemetry", "-l",          "0",        "--log-level=lib.eal:warning",
	        NULL};

	(void)argc;
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	test_stale_evicted_in_burst();
	test_stale_twice_in_burst();
	test_new_flow_twice_in_burst();
	test_removed_tenant_sessions();
	test_l7_terminated_tcp_not_rescanned();
	test_tcp_after_reset();
	rte_eal_cleanup();
	return check_done();
}
