/* offload_test.c - unit tests of the rule -> rte_flow translation (no port, no EAL). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>

#include "offload.h"

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

/*
 * Tenants web (198.18.0.10, 198.18.0.16/30) and db (198.18.0.20); the operator allows ICMP
 * monitoring from 192.0.2.0/24; db's apps may open UDP to 192.0.2.53:53 statefully.
 */
static const char POLICY[] =
        "operator:\n"
        "  rules:\n"
        "    - {name: monitoring, priority: 5, direction: ingress, action: allow, protocol: icmp,\n"
        "       src: {cidrs: [192.0.2.0/24]}}\n"
        "    - {name: blocklist, priority: 10, direction: ingress, action: deny,\n"
        "       src: {cidrs: [203.0.113.0/24], except: [203.0.113.7]}}\n"
        "    - {name: out-deny, priority: 11, direction: egress, action: deny,\n"
        "       dst: {cidrs: [203.0.113.0/24]}}\n"
        "tenants:\n"
        "  - name: web\n"
        "    addresses: [198.18.0.10, 198.18.0.16/30]\n"
        "    rules:\n"
        "      - {name: no-lab-web, priority: 200, direction: ingress, action: deny,\n"
        "         protocol: tcp, src: {cidrs: [198.51.100.0/25]}, dst: {ports: [\"8000-8099\"]}}\n"
        "      - {name: two-ports, priority: 201, direction: ingress, action: deny,\n"
        "         protocol: udp, dst: {cidrs: [198.18.0.10], ports: [53, 123]}}\n"
        "      - {name: wide, priority: 202, direction: ingress, action: deny, protocol: udp,\n"
        "         dst: {ports: [\"1-65535\"]}}\n"
        "      - {name: ping-deny, priority: 203, direction: ingress, action: deny,\n"
        "         protocol: icmp, src: {cidrs: [192.0.2.128/25]}}\n"
        "      - {name: elsewhere, priority: 204, direction: ingress, action: deny,\n"
        "         dst: {cidrs: [198.18.0.20]}}\n"
        "      - {name: allow-in, priority: 205, direction: ingress, action: allow,\n"
        "         protocol: tcp}\n"
        "      - {name: dns-from-resolver, priority: 206, direction: ingress, action: deny,\n"
        "         protocol: udp, src: {cidrs: [192.0.2.53]}}\n"
        "      - {name: logged, priority: 207, direction: ingress, action: deny,\n"
        "         protocol: udp, dst: {ports: [9]}, log: true}\n"
        "  - name: db\n"
        "    addresses: [198.18.0.20]\n"
        "    signatures: [{name: evil, pattern: 'evil'}]\n"
        "    rules:\n"
        "      - {name: dns-out, priority: 1, direction: egress, action: allow, protocol: udp,\n"
        "         dst: {cidrs: [192.0.2.53], ports: [53]}, stateful: true}\n"
        "      - {name: dns-reply-deny, priority: 2, direction: ingress, action: deny,\n"
        "         protocol: udp, src: {cidrs: [192.0.2.0/24], ports: [53]}}\n"
        "      - {name: sig, priority: 3, direction: ingress, action: deny, protocol: tcp,\n"
        "         signatures: [evil]}\n"
        "      - {name: other-src-port, priority: 4, direction: ingress, action: deny,\n"
        "         protocol: udp, src: {cidrs: [192.0.2.0/24], ports: [54]}}\n";

static const struct pol_rule *
rule(const struct pol_policy *p, const struct pol_tenant **t, const char *tenant, const char *name)
{
	const struct pol_ruleset *rs = &p->op;
	unsigned i;

	*t = NULL;
	if (tenant) {
		*t = pol_policy_tenant(p, tenant);
		rs = &(*t)->rs;
	}
	for (i = 0; i < rs->n_rules; i++)
		if (!strcmp(rs->rules[i].name, name))
			return &rs->rules[i];
	fprintf(stderr, "no rule %s/%s\n", tenant ? tenant : "operator", name);
	return NULL;
}

static int
expand(const struct pol_offload_ctx *c, const struct pol_policy *p, const char *tenant,
       const char *name, struct pol_flow_spec *out, unsigned max, char *why)
{
	const struct pol_tenant *t;
	const struct pol_rule *r = rule(p, &t, tenant, name);

	why[0] = '\0';
	return r ? pol_offload_expand(c, t, r, out, max, why, 256) : -ENOENT;
}

static bool
has_spec(const struct pol_flow_spec *f, int n, const char *want)
{
	char buf[128];
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(pol_flow_spec_str(&f[i], buf, sizeof(buf)), want))
			return true;
	return false;
}

static void
test_port_blocks(void)
{
	uint16_t v[32], m[32];
	bool ok = true;
	unsigned n;

	n = pol_offload_port_blocks(80, 80, v, m, 32);
	CHECK(n == 1 && v[0] == 80 && m[0] == 0xffff);
	/* 8000-8099: 8000/64, 8064/32, 8096/4 */
	n = pol_offload_port_blocks(8000, 8099, v, m, 32);
	CHECK(n == 3);
	CHECK(v[0] == 8000 && m[0] == 0xffc0);
	CHECK(v[1] == 8064 && m[1] == 0xffe0);
	CHECK(v[2] == 8096 && m[2] == 0xfffc);
	n = pol_offload_port_blocks(0, 65535, v, m, 32);
	CHECK(n == 1 && v[0] == 0 && m[0] == 0);
	n = pol_offload_port_blocks(1024, 2047, v, m, 32);
	CHECK(n == 1 && v[0] == 1024 && m[0] == 0xfc00);
	/* 1-65535: 1, 2/2, 4/4, ... 32768/32768: 16 blocks */
	n = pol_offload_port_blocks(1, 65535, v, m, 32);
	CHECK(n == 16 && v[15] == 32768 && m[15] == 0x8000);
	/* counts beyond what fits, writes only max */
	n = pol_offload_port_blocks(1, 65535, v, m, 4);
	CHECK(n == 16);
	n = pol_offload_port_blocks(65535, 65535, v, m, 32);
	CHECK(n == 1 && v[0] == 65535 && m[0] == 0xffff);
	check_report("port ranges as aligned blocks (exact, aligned, unaligned, whole, top)", ok);
}

static void
test_expand(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = pol_policy_load_buf("t.yaml", POLICY, sizeof(POLICY) - 1, &errs);
	struct pol_offload_ctx *c;
	struct pol_flow_spec f[64];
	char why[256];
	bool ok = true;
	int n;

	if (!p) {
		pol_cfg_errs_print(&errs, stderr);
		check_report("policy loads", false);
		return;
	}
	c = pol_offload_ctx_new(p);
	CHECK(c != NULL);

	/* tcp from a /25 to ports 8000-8099 of web's two prefixes: 1 x 2 x 3 flows */
	n = expand(c, p, "web", "no-lab-web", f, 64, why);
	CHECK(n == 6);
	CHECK(has_spec(f, n, "tcp 198.51.100.0/25:any -> 198.18.0.10/32:8000/0xffc0"));
	CHECK(has_spec(f, n, "tcp 198.51.100.0/25:any -> 198.18.0.16/30:8096/0xfffc"));
	check_report("deny rule: source prefix x tenant's addresses x port blocks", ok);

	ok = true;
	n = expand(c, p, "web", "two-ports", f, 64, why);
	CHECK(n == 2);
	CHECK(has_spec(f, n, "udp 0.0.0.0/0:any -> 198.18.0.10/32:53"));
	CHECK(has_spec(f, n, "udp 0.0.0.0/0:any -> 198.18.0.10/32:123"));
	check_report("exact ports, destination inside the tenant", ok);

	ok = true;
	/* 203.0.113.0/24 minus .7 is 8 prefixes; three tenant prefixes: 24 flows */
	n = expand(c, p, NULL, "blocklist", f, 64, why);
	CHECK(n == 24);
	CHECK(has_spec(f, n, "any 203.0.113.0/30:any -> 198.18.0.20/32:any"));
	CHECK(has_spec(f, n, "any 203.0.113.6/32:any -> 198.18.0.16/30:any"));
	CHECK(has_spec(f, n, "any 203.0.113.128/25:any -> 198.18.0.10/32:any"));
	CHECK(!has_spec(f, n, "any 203.0.113.7/32:any -> 198.18.0.10/32:any"));
	/* the same with a bound of 16 flows */
	n = expand(c, p, NULL, "blocklist", f, 16, why);
	CHECK(n == -E2BIG);
	CHECK(strstr(why, "24 flows") && strstr(why, "8 source x 3 destination"));
	check_report("operator deny with except: every tenant's addresses, bound respected", ok);

	ok = true;
	n = expand(c, p, "web", "wide", f, 64, why);
	CHECK(n == 2 * 16);
	n = expand(c, p, "web", "wide", f, 16, why);
	CHECK(n == -E2BIG && strstr(why, "32 flows") && strstr(why, "more than 16"));
	check_report("unaligned port range: 16 blocks per destination, over the bound = -E2BIG",
	             ok);

	ok = true;
	n = expand(c, p, NULL, "out-deny", f, 64, why);
	CHECK(n == -ENOTSUP && strstr(why, "egress rules run in software"));
	n = expand(c, p, "web", "allow-in", f, 64, why);
	CHECK(n == -ENOTSUP && strstr(why, "allow rules run in software"));
	n = expand(c, p, "db", "sig", f, 64, why);
	CHECK(n == -ENOTSUP && strstr(why, "L7 signatures"));
	n = expand(c, p, "web", "elsewhere", f, 64, why);
	CHECK(n == -ENOTSUP && strstr(why, "none of tenant 'web''s addresses"));
	n = expand(c, p, "web", "logged", f, 64, why);
	CHECK(n == -ENOTSUP && strstr(why, "log: true"));
	check_report(
	        "egress, allow, signature, logging and out-of-tenant rules: software, with the "
	        "reason",
	        ok);

	ok = true;
	/* monitoring (operator allow, icmp from 192.0.2.0/24) decides first */
	n = expand(c, p, "web", "ping-deny", f, 64, why);
	CHECK(n == -ENOTSUP && strstr(why, "operator rule 'monitoring'"));
	/* replies to db's stateful dns-out come from 192.0.2.53:53 */
	n = expand(c, p, "db", "dns-reply-deny", f, 64, why);
	CHECK(n == -ENOTSUP && strstr(why, "tenant 'db''s stateful egress rule 'dns-out'"));
	/* ... but not from port 54, and not to web */
	n = expand(c, p, "db", "other-src-port", f, 64, why);
	CHECK(n == 1);
	n = expand(c, p, "web", "dns-from-resolver", f, 64, why);
	CHECK(n == 2);
	check_report("a deny an operator allow or a stateful reply pre-empts stays in software",
	             ok);

	pol_offload_ctx_free(c);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
}

static void
test_pattern(void)
{
	struct pol_flow_spec s = {.proto = 6,
	                          .src = 0xc6336400, /* 198.51.100.0/25 */
	                          .src_mask = 0xffffff80,
	                          .dst = 0xc612000a, /* 198.18.0.10/32 */
	                          .dst_mask = 0xffffffff,
	                          .dport = 8064,
	                          .dport_mask = 0xffe0};
	struct pol_flow_pattern pat;
	const struct rte_flow_item_ipv4 *ip, *ipm;
	const struct rte_flow_item_tcp *tcp, *tcpm;
	bool ok = true;

	pol_offload_pattern(&s, &pat);
	CHECK(pat.n_items == 4);
	CHECK(pat.items[0].type == RTE_FLOW_ITEM_TYPE_ETH && !pat.items[0].spec);
	CHECK(pat.items[1].type == RTE_FLOW_ITEM_TYPE_IPV4);
	CHECK(pat.items[2].type == RTE_FLOW_ITEM_TYPE_TCP);
	CHECK(pat.items[3].type == RTE_FLOW_ITEM_TYPE_END);
	ip = pat.items[1].spec;
	ipm = pat.items[1].mask;
	CHECK(ip->hdr.src_addr == rte_cpu_to_be_32(0xc6336400));
	CHECK(ipm->hdr.src_addr == rte_cpu_to_be_32(0xffffff80));
	CHECK(ip->hdr.dst_addr == rte_cpu_to_be_32(0xc612000a));
	CHECK(ipm->hdr.dst_addr == 0xffffffff);
	CHECK(ip->hdr.next_proto_id == 6 && ipm->hdr.next_proto_id == 0xff);
	tcp = pat.items[2].spec;
	tcpm = pat.items[2].mask;
	CHECK(tcp->hdr.dst_port == rte_cpu_to_be_16(8064));
	CHECK(tcpm->hdr.dst_port == rte_cpu_to_be_16(0xffe0));
	CHECK(tcpm->hdr.src_port == 0);
	check_report("tcp spec -> ETH / IPV4 (prefix masks, proto) / TCP (port mask) / END", ok);

	ok = true;
	s = (struct pol_flow_spec){.proto = POL_PROTO_ANY, .dst = 0xc6120014, .dst_mask = ~0u};
	pol_offload_pattern(&s, &pat);
	CHECK(pat.n_items == 3);
	ipm = pat.items[1].mask;
	CHECK(ipm->hdr.next_proto_id == 0 && ipm->hdr.src_addr == 0);
	CHECK(pat.items[2].type == RTE_FLOW_ITEM_TYPE_END);
	s.proto = 17;
	pol_offload_pattern(&s, &pat);
	CHECK(pat.n_items == 3); /* udp without ports: the protocol in IPV4 is enough */
	s.dport = 53;
	s.dport_mask = 0xffff;
	pol_offload_pattern(&s, &pat);
	CHECK(pat.n_items == 4 && pat.items[2].type == RTE_FLOW_ITEM_TYPE_UDP);
	check_report("any protocol, udp without and with ports", ok);
}

int
main(void)
{
	test_port_blocks();
	test_expand();
	test_pattern();
	return check_done();
}
