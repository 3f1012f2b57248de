/* reload_test.c - what a reload decides, without a port: app admission, sockets, session re-check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>

#include "chan_priv.h"
#include "policy_model.h"

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define PEER            IP4(198, 18, 0, 2)
#define A_IP            IP4(198, 18, 0, 10)
#define B_IP            IP4(198, 18, 0, 20)
#define B2_IP           IP4(198, 18, 0, 21)

/* Before: a owns .10 (udp 5000-5009, raw), b .20; s's rules are stateful both ways. */
static const char pol1[] = "tenants:\n"
                           "  - name: a\n"
                           "    addresses: [198.18.0.10, 198.18.1.0/24]\n"
                           "    allow: {uids: [0, 1000], gids: [50]}\n"
                           "    raw: true\n"
                           "    ports: {udp: [\"5000-5009\"]}\n"
                           "    default: {ingress: deny, egress: deny}\n"
                           "    rules:\n"
                           "      - {name: out, priority: 1, direction: egress, action: allow,\n"
                           "         protocol: udp, dst: {cidrs: [198.18.0.2], ports: [9000]},\n"
                           "         stateful: true}\n"
                           "      - {name: in, priority: 2, direction: ingress, action: allow,\n"
                           "         protocol: udp, src: {cidrs: [198.18.0.2]},\n"
                           "         dst: {ports: [5005]}, stateful: true}\n"
                           "  - name: b\n"
                           "    addresses: [198.18.0.20]\n"
                           "    allow: {uids: [0]}\n"
                           "    ports: {udp: [6000]}\n";

/* After: b first and moved to .21; a lost its /24, raw, ports 5005-5009, uid 1000 and its
 * ingress rule; its egress rule is no longer stateful; c is new. */
static const char pol2[] = "tenants:\n"
                           "  - name: b\n"
                           "    addresses: [198.18.0.21]\n"
                           "    allow: {uids: [0]}\n"
                           "    ports: {udp: [6000]}\n"
                           "  - name: c\n"
                           "    addresses: [198.18.0.30]\n"
                           "  - name: a\n"
                           "    addresses: [198.18.0.10]\n"
                           "    allow: {uids: [0], gids: [50]}\n"
                           "    ports: {udp: [\"5000-5004\"]}\n"
                           "    default: {ingress: deny, egress: deny}\n"
                           "    rules:\n"
                           "      - {name: out, priority: 1, direction: egress, action: allow,\n"
                           "         protocol: udp, dst: {cidrs: [198.18.0.2], ports: [9000]}}\n";

static struct pol_policy *
load(const char *name, const char *text)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = pol_policy_load_buf(name, text, strlen(text), &errs);

	if (!p)
		pol_cfg_errs_print(&errs, stderr);
	pol_cfg_errs_clear(&errs);
	return p;
}

static void
test_apps_and_sockets(const struct pol_policy *p1, const struct pol_policy *p2)
{
	const struct pol_tenant *a1 = pol_policy_tenant(p1, "a"), *a2 = pol_policy_tenant(p2, "a");
	const struct pol_tenant *b2 = pol_policy_tenant(p2, "b");
	bool ok = a1 && a2 && b2;

	if (!ok) {
		check_report("apps and sockets across a reload", false);
		return;
	}
	/* admission: uid 1000 lost, gid 50 kept, root kept */
	CHECK(gw_tenant_admits(a1, 1000, 1000));
	CHECK(!gw_tenant_admits(a2, 1000, 1000));
	CHECK(gw_tenant_admits(a2, 1000, 50));
	CHECK(gw_tenant_admits(a2, 0, 0));
	CHECK(!pol_policy_tenant(p2, "c") || !gw_tenant_admits(pol_policy_tenant(p2, "c"), 0, 0));
	/* sockets: allowed before, each closed for its own reason after */
	CHECK(!gw_sock_disallowed(a1, BP_PROTO_UDP, A_IP, 5007));
	CHECK(!gw_sock_disallowed(a1, BP_PROTO_UDP, IP4(198, 18, 1, 9), 5000));
	CHECK(!gw_sock_disallowed(a1, BP_PROTO_RAW, A_IP, 0));
	CHECK(!gw_sock_disallowed(a2, BP_PROTO_UDP, A_IP, 5004));
	CHECK(gw_sock_disallowed(a2, BP_PROTO_UDP, A_IP, 5005) &&
	      strstr(gw_sock_disallowed(a2, BP_PROTO_UDP, A_IP, 5005), "port"));
	CHECK(gw_sock_disallowed(a2, BP_PROTO_UDP, IP4(198, 18, 1, 9), 5000) &&
	      strstr(gw_sock_disallowed(a2, BP_PROTO_UDP, IP4(198, 18, 1, 9), 5000), "address"));
	CHECK(gw_sock_disallowed(a2, BP_PROTO_RAW, A_IP, 0) &&
	      strstr(gw_sock_disallowed(a2, BP_PROTO_RAW, A_IP, 0), "raw"));
	/* b moved: the old address goes, the new one is allowed */
	CHECK(gw_sock_disallowed(b2, BP_PROTO_UDP, B_IP, 6000) != NULL);
	CHECK(!gw_sock_disallowed(b2, BP_PROTO_UDP, B2_IP, 6000));
	check_report("apps and sockets across a reload: admission and socket checks", ok);
}

/* Classify the opening direction of a session for the packet p (dir, reply) in g. */
static struct pol_acl_verdict
opening(const struct pol_gen *g, enum pol_dir dir, bool reply, const struct pol_ct_pkt *p)
{
	struct pol_acl_key k;
	struct pol_acl_verdict v;
	enum pol_dir od = gw_policy_opening_key(dir, reply, p, &k);

	pol_acl_classify(g, od, 0, &k, NULL, 1, &v);
	return v;
}

static void
test_session_recheck(const struct pol_policy *p1, const struct pol_policy *p2)
{
	struct pol_cfg_errs errs = {0};
	struct pol_gen *g1, *g2;
	struct pol_acl_verdict v;
	struct pol_ct_pkt p;
	struct pol_acl_key k;
	uint16_t ta;
	bool ok = true;

	g1 = pol_gen_build(p1, NULL, NULL, &errs);
	g2 = g1 ? pol_gen_build(p2, g1, NULL, &errs) : NULL;
	pol_cfg_errs_print(&errs, stderr);
	pol_cfg_errs_clear(&errs);
	if (!g1 || !g2) {
		check_report("session re-check", false);
		pol_gen_put(g1);
		return;
	}
	/* tenant ids are kept by name although a moved from first to last */
	ta = pol_gen_tenant_by_addr(g1, A_IP);
	CHECK(ta != POL_TENANT_NONE && pol_gen_tenant_by_addr(g2, A_IP) == ta);
	CHECK(pol_gen_tenant_by_addr(g1, B_IP) == pol_gen_tenant_by_addr(g2, B2_IP));
	CHECK(pol_gen_tenant_by_addr(g2, B_IP) == POL_TENANT_NONE);

	/* the key of the opening direction: reply reversed, ICMP without ports */
	memset(&p, 0, sizeof(p));
	p = (struct pol_ct_pkt){
	        .src = PEER, .dst = A_IP, .sport = 9000, .dport = 5001, .proto = 17, .tenant = ta};
	CHECK(gw_policy_opening_key(POL_DIR_INGRESS, true, &p, &k) == POL_DIR_EGRESS);
	CHECK(k.src_be == __builtin_bswap32(A_IP) && k.dst_be == __builtin_bswap32(PEER) &&
	      k.sport_be == __builtin_bswap16(5001) && k.dport_be == __builtin_bswap16(9000));
	CHECK(gw_policy_opening_key(POL_DIR_EGRESS, false, &p, &k) == POL_DIR_EGRESS);
	CHECK(k.src_be == __builtin_bswap32(PEER) && k.sport_be == __builtin_bswap16(9000));
	p.proto = 1;
	gw_policy_opening_key(POL_DIR_INGRESS, true, &p, &k);
	CHECK(k.sport_be == 0 && k.dport_be == 0 && k.proto == 1);
	p.proto = 17;

	/* an app-opened flow (a:5001 -> peer:9000), its reply seen on ingress: allowed and
	 * stateful in g1, still allowed but no longer stateful in g2 */
	v = opening(g1, POL_DIR_INGRESS, true, &p);
	CHECK(v.action == POL_ACT_ALLOW && (v.flags & POL_RULE_F_STATEFUL));
	v = opening(g2, POL_DIR_INGRESS, true, &p);
	CHECK(v.action == POL_ACT_ALLOW && !(v.flags & POL_RULE_F_STATEFUL));
	/* a peer-opened flow (peer:9005 -> a:5005), the app's reply seen on egress: allowed in
	 * g1 by `in`; g2 has no such rule and denies ingress by default: revoked */
	p = (struct pol_ct_pkt){
	        .src = A_IP, .dst = PEER, .sport = 5005, .dport = 9005, .proto = 17, .tenant = ta};
	v = opening(g1, POL_DIR_EGRESS, true, &p);
	CHECK(v.action == POL_ACT_ALLOW && (v.flags & POL_RULE_F_STATEFUL));
	v = opening(g2, POL_DIR_EGRESS, true, &p);
	CHECK(v.action == POL_ACT_DENY && (v.flags & POL_RULE_F_DEFAULT));
	/* the same flow's packets from the peer (the opener) are judged as they are */
	p = (struct pol_ct_pkt){
	        .src = PEER, .dst = A_IP, .sport = 9005, .dport = 5005, .proto = 17, .tenant = ta};
	v = opening(g1, POL_DIR_INGRESS, false, &p);
	CHECK(v.action == POL_ACT_ALLOW);
	v = opening(g2, POL_DIR_INGRESS, false, &p);
	CHECK(v.action == POL_ACT_DENY);
	pol_gen_put(g2);
	pol_gen_put(g1);
	check_report("session re-check: opening direction re-classified against the new generation",
	             ok);
}

int
main(int argc, char **argv)
{
	char *eal[] = {
	        argv[0], "--no-huge",      "--no-shconf", "--no-pci", "-m",
	        "256",   "--no-telemetry", "-l",          "0",        "--log-level=lib.eal:warning",
	        NULL};
	struct pol_policy *p1, *p2;

	(void)argc;
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	p1 = load("pol1", pol1);
	p2 = load("pol2", pol2);
	if (!p1 || !p2) {
		check_report("policies load", false);
	} else {
		test_apps_and_sockets(p1, p2);
		test_session_recheck(p1, p2);
	}
	pol_policy_free(p1);
	pol_policy_free(p2);
	rte_eal_cleanup();
	return check_done();
}
