/* policy_json_test.c - the JSON front end: round trips with the YAML loader, every error class. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_json.h"

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

static char *
errs_text(const struct pol_cfg_errs *errs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	pol_cfg_errs_print(errs, f);
	fclose(f);
	return buf;
}

/* The policy as canonical JSON text (sorted keys), owned. */
static char *
dump(const struct pol_policy *p)
{
	json_t *j = pol_policy_to_json(p);
	char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static const char rich_yaml[] =
        "operator:\n"
        "  signatures:\n"
        "    - {name: log4shell, pattern: '\\$\\{jndi:', flags: [caseless, dotall]}\n"
        "  rules:\n"
        "    - {name: blocklist, priority: 1, direction: ingress, action: deny, log: true,\n"
        "       src: {cidrs: [203.0.113.0/24, 100.64.0.0/10], except: [100.64.1.0/24]}}\n"
        "    - {name: no-jndi, priority: 2, direction: ingress, action: deny, protocol: udp,\n"
        "       signatures: [log4shell]}\n"
        "tenants:\n"
        "  - name: web\n"
        "    addresses: [192.0.2.10, 192.0.2.16/28]\n"
        "    allow: {uids: [0, 1000], gids: [0]}\n"
        "    ports: {udp: [443], tcp: [80, 443, \"8000-8099\"]}\n"
        "    quotas: {apps: 8, queues: 32, connections: 100k}\n"
        "    rate_limit:\n"
        "      ingress: {pps: 200k, bps: 1G, burst: 64}\n"
        "      egress: {bps: 2G}\n"
        "      new_connections_per_s: 5000\n"
        "    signatures:\n"
        "      - {name: sqli, pattern: 'union\\s+select', flags: [caseless], action: count}\n"
        "    rules:\n"
        "      - {name: http-in, priority: 100, direction: ingress, action: allow, protocol: tcp,\n"
        "         dst: {ports: [80, 443, \"8000-8099\"]}, stateful: true, offload: never}\n"
        "      - {name: quic-in, priority: 110, direction: ingress, action: allow,\n"
        "         protocol: 17, dst: {ports: [443]}, signatures: [sqli]}\n"
        "      - {name: gre, priority: 120, direction: egress, action: deny, protocol: 47}\n"
        "  - name: batch\n"
        "    addresses: [198.51.100.64/26]\n"
        "    raw: true\n"
        "    default: {ingress: allow, egress: deny}\n";

static void
test_round_trip(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *a, *b = NULL, *c = NULL;
	char *ja = NULL, *jb = NULL, *jc = NULL;
	bool ok = true;

	a = pol_policy_load_buf("rich.yaml", rich_yaml, strlen(rich_yaml), &errs);
	CHECK(a);
	if (a) {
		ja = dump(a);
		CHECK(ja);
	}
	if (ja) {
		/* JSON -> model -> JSON is the same text */
		b = pol_policy_from_json("a.json", ja, strlen(ja), &errs);
		CHECK(b);
		jb = b ? dump(b) : NULL;
		CHECK(jb && !strcmp(ja, jb));
		/* JSON text is YAML flow syntax: libyaml reads back the same policy (persisting) */
		c = pol_policy_load_buf("a.json", ja, strlen(ja), &errs);
		CHECK(c);
		jc = c ? dump(c) : NULL;
		CHECK(jc && !strcmp(ja, jc));
	}
	if (b) {
		CHECK(b->n_tenants == 2 && b->op.n_rules == 2 && b->op.n_sigs == 1);
		CHECK(b->tenants[0].quota.connections == 100000);
		CHECK(b->tenants[0].rate.ingress.bps == 1000000000ull);
		CHECK(b->tenants[0].n_tcp == 3 && b->tenants[0].tcp[2].lo == 8000 &&
		      b->tenants[0].tcp[2].hi == 8099);
		CHECK(b->tenants[0].rs.rules[2].proto == 47);
		CHECK(b->tenants[0].rs.rules[1].sigs[0].idx == 0);
		CHECK(b->tenants[1].raw && b->tenants[1].dflt[POL_DIR_EGRESS] == POL_ACT_DENY);
		CHECK(b->tenants[1].quota.apps == POL_QUOTA_APPS_DEFAULT); /* defaults kept */
	}
	if (errs.n) {
		char *t = errs_text(&errs);
		fprintf(stderr, "%s", t);
		free(t);
	}
	CHECK(errs.n == 0);
	free(ja);
	free(jb);
	free(jc);
	pol_policy_free(a);
	pol_policy_free(b);
	pol_policy_free(c);
	pol_cfg_errs_clear(&errs);
	check_report("YAML -> model -> JSON -> model round trip; the JSON reads back as YAML", ok);
}

/* The JSON defaults are the YAML defaults: a minimal tenant both ways. */
static void
test_defaults(void)
{
	static const char y[] = "tenants: [{name: t, addresses: [10.0.0.1]}]";
	static const char j[] = "{\"tenants\": [{\"name\": \"t\", \"addresses\": [\"10.0.0.1\"]}]}";
	struct pol_cfg_errs errs = {0};
	struct pol_policy *a = pol_policy_load_buf("y", y, strlen(y), &errs);
	struct pol_policy *b = pol_policy_from_json("j", j, strlen(j), &errs);
	char *ja = a ? dump(a) : NULL, *jb = b ? dump(b) : NULL;
	bool ok = true;

	CHECK(a && b && ja && jb && !strcmp(ja, jb));
	CHECK(errs.n == 0);
	free(ja);
	free(jb);
	pol_policy_free(a);
	pol_policy_free(b);
	pol_cfg_errs_clear(&errs);
	check_report("JSON and YAML give the same defaults", ok);
}

/* json must fail and the printed errors contain each of the want strings. */
static bool
fails_with(const char *json, unsigned nwant, const char *const *want)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = pol_policy_from_json("req", json, strlen(json), &errs);
	char *t = errs_text(&errs);
	bool ok = !p && errs.n > 0;
	unsigned i;

	for (i = 0; i < nwant; i++)
		if (!strstr(t, want[i])) {
			fprintf(stderr, "  missing '%s' in:\n%s", want[i], t);
			ok = false;
		}
	free(t);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	return ok;
}

#define FAILS(json, ...)                                                               \
	fails_with(json, sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *), \
	           (const char *const[]){__VA_ARGS__})

static void
test_errors(void)
{
	bool ok = true;

	/* syntax, with jansson's position */
	CHECK(FAILS("{\"tenants\": [\n  {\"name\": \"a\",}\n]}",
	            "req:2:", "(document): JSON syntax error"));
	CHECK(FAILS("", "(document): JSON syntax error"));
	CHECK(FAILS("{\"tenants\": [], \"tenants\": []}", "duplicate object key"));
	/* unknown keys, with the nearest known one */
	CHECK(FAILS("{\"tenant\": []}", "tenant: unknown key 'tenant' (did you mean 'tenants'?)"));
	CHECK(FAILS(
	        "{\"tenants\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"], \"qoutas\": {}}]}",
	        "tenants[0].qoutas: unknown key 'qoutas' (did you mean 'quotas'?)"));
	/* wrong types: a quoted number is a string, a real is not an integer, a list is no map */
	CHECK(FAILS(
	        "{\"tenants\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"],"
	        " \"rules\": [{\"name\": \"r\", \"priority\": \"10\", \"direction\": \"ingress\","
	        " \"action\": \"allow\"}]}]}",
	        "tenants[0].rules[0].priority: expected an integer"));
	CHECK(FAILS("{\"tenants\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"],"
	            " \"quotas\": {\"apps\": 1.5}}]}",
	            "tenants[0].quotas.apps: expected an integer"));
	CHECK(FAILS(
	        "{\"tenants\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1\"], \"raw\": \"true\"}]}",
	        "tenants[0].raw: expected true or false"));
	CHECK(FAILS("[]", "expected a mapping"));
	CHECK(FAILS("{\"tenants\": {}}", "tenants: expected a list"));
	/* missing required keys, values out of range, every error listed */
	CHECK(FAILS("{\"tenants\": [{\"addresses\": [\"10.0.0.1\"], \"rules\": [{\"name\": \"r\","
	            " \"priority\": 0, \"direction\": \"in\", \"action\": \"allow\"}]}]}",
	            "tenants[0].name: missing required key 'name'",
	            "tenants[0].rules[0].priority: expected an integer in 1..1000000",
	            "tenants[0].rules[0].direction: expected one of ingress, egress"));
	/* checks across items */
	CHECK(FAILS("{\"tenants\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.0/8\"]},"
	            " {\"name\": \"b\", \"addresses\": [\"10.1.0.0/16\"]}]}",
	            "tenants[1].addresses[0]: 10.1.0.0/16 overlaps 10.0.0.0/8 of tenant 'a'"));
	CHECK(FAILS("{\"tenants\": [{\"name\": \"a\", \"addresses\": [\"10.0.0.1/8\"]}]}",
	            "tenants[0].addresses[0]: host bits set in 10.0.0.1/8"));
	/* nesting bounded */
	{
		char deep[200];
		int i;

		for (i = 0; i < 60; i++)
			deep[i] = '[';
		for (i = 0; i < 60; i++)
			deep[60 + i] = ']';
		deep[120] = '\0';
		CHECK(FAILS(deep, "nested deeper than"));
	}
	check_report("every error class: syntax with position, unknown key, type, range, missing, "
	             "cross-item, depth",
	             ok);
}

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	test_round_trip();
	test_defaults();
	test_errors();
	return check_done();
}
