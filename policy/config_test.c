/* config_test.c - unit tests of the config loader and validator: fixtures, examples, getters. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "policy_model.h"

/*
 * Usage: config_test CONFIGS_DIR EXAMPLES_DIR
 *   CONFIGS_DIR/good/NAME.yaml  must load without error (NAME policy_*: as a standalone policy)
 *   CONFIGS_DIR/bad/NAME.yaml   must fail; NAME.expect lists one line per expected error, each a
 *                               substring of the printed error ("LINE:COL: PATH[: MESSAGE]"); the
 *                               number of errors printed must equal the number of lines.
 * config_test --check FILE | --policy FILE: print the errors for FILE (to write .expect files).
 */

static const char *configs_dir, *examples_dir;

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

/* Errors printed to a string (owned). */
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

static struct pol_cfg *
load_str(const char *text, struct pol_cfg_errs *errs)
{
	return pol_cfg_load_buf("t.yaml", text, strlen(text), errs);
}

static struct pol_policy *
load_pol_str(const char *text, struct pol_cfg_errs *errs)
{
	return pol_policy_load_buf("p.yaml", text, strlen(text), errs);
}

/* Load text (a config); expect failure with exactly the given error lines (whole lines). */
static bool
expect_errs(const char *text, bool policy, unsigned n, ...)
{
	struct pol_cfg_errs errs = {0};
	bool ok = true, loaded;
	char *out, *line;
	va_list ap;
	unsigned i;

	if (policy) {
		struct pol_policy *p = load_pol_str(text, &errs);

		loaded = p != NULL;
		pol_policy_free(p);
	} else {
		struct pol_cfg *c = load_str(text, &errs);

		loaded = c != NULL;
		pol_cfg_free(c);
	}
	out = errs_text(&errs);
	CHECK(!loaded);
	CHECK(errs.n == n);
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		const char *want = va_arg(ap, const char *);

		line = i < errs.n ? strstr(out, want) : NULL;
		if (!line || (line != out && line[-1] != '\n') || line[strlen(want)] != '\n') {
			fprintf(stderr, "  missing line: %s\n", want);
			ok = false;
		}
	}
	va_end(ap);
	if (!ok)
		fprintf(stderr, "  got:\n%s", out);
	free(out);
	pol_cfg_errs_clear(&errs);
	return ok;
}

static bool
has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

static char *
path_join(const char *a, const char *b, const char *c)
{
	char *s;

	if (asprintf(&s, "%s/%s%s", a, b, c ? c : "") < 0)
		abort();
	return s;
}

/* Sorted *.yaml names in dir; returns the count (names owned, array owned). */
static int
yaml_names(const char *dir, char ***names)
{
	struct dirent **ents;
	int n, i, k = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return -errno;
	*names = calloc((size_t)n + 1, sizeof(**names));
	for (i = 0; i < n; i++) {
		if (has_suffix(ents[i]->d_name, ".yaml"))
			(*names)[k++] = strdup(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return k;
}

static void
free_names(char **names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Load path as a config or (name policy_*) a standalone policy; returns whether it loaded. */
static bool
load_any(const char *path, const char *name, struct pol_cfg_errs *errs)
{
	if (!strncmp(name, "policy_", 7)) {
		struct pol_policy *p = pol_policy_load_file(path, errs);
		bool ok = p != NULL;

		pol_policy_free(p);
		return ok;
	} else {
		struct pol_cfg *c = pol_cfg_load_file(path, errs);
		bool ok = c != NULL;

		pol_cfg_free(c);
		return ok;
	}
}

static void
test_good_fixtures(void)
{
	char *dir = path_join(configs_dir, "good", NULL), **names;
	int n = yaml_names(dir, &names), i;
	bool ok = true;

	CHECK(n >= 5);
	for (i = 0; i < n; i++) {
		struct pol_cfg_errs errs = {0};
		char *path = path_join(dir, names[i], NULL), *out;
		bool loaded = load_any(path, names[i], &errs);

		out = errs_text(&errs);
		if (!loaded || errs.n) {
			fprintf(stderr, "  %s should load:\n%s", names[i], out);
			ok = false;
		}
		free(out);
		free(path);
		pol_cfg_errs_clear(&errs);
	}
	free_names(names, n);
	free(dir);
	check_report("good fixtures load without errors", ok);
}

static void
test_bad_fixture(const char *dir, const char *name)
{
	struct pol_cfg_errs errs = {0};
	char *path = path_join(dir, name, NULL), *exp_path, *out, *line = NULL, title[256];
	size_t cap = 0, nlines = 0;
	bool ok = true, loaded;
	FILE *f;

	snprintf(title, sizeof(title), "%.*s", (int)(strlen(name) - 5), name);
	exp_path = path_join(dir, title, ".expect");
	loaded = load_any(path, name, &errs);
	out = errs_text(&errs);
	CHECK(!loaded);
	f = fopen(exp_path, "r");
	CHECK(f != NULL);
	while (f && getline(&line, &cap, f) > 0) {
		char want[1024];

		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		nlines++;
		/* ":LINE:COL: PATH" so "3:5" cannot match "13:5" */
		snprintf(want, sizeof(want), "%s%s", line[0] >= '0' && line[0] <= '9' ? ":" : "",
		         line);
		if (!strstr(out, want)) {
			fprintf(stderr, "  %s: missing '%s'\n", name, line);
			ok = false;
		}
	}
	if (f)
		fclose(f);
	if (errs.n != nlines) {
		fprintf(stderr, "  %s: %u errors printed, %zu expected\n", name, errs.n, nlines);
		ok = false;
	}
	if (!ok)
		fprintf(stderr, "  printed:\n%s", out);
	snprintf(title, sizeof(title), "bad fixture %s reports every expected error", name);
	check_report(title, ok && nlines > 0);
	free(line);
	free(out);
	free(exp_path);
	free(path);
	pol_cfg_errs_clear(&errs);
}

static void
test_bad_fixtures(void)
{
	char *dir = path_join(configs_dir, "bad", NULL), **names;
	int n = yaml_names(dir, &names), i;

	for (i = 0; i < n; i++)
		test_bad_fixture(dir, names[i]);
	check_report("there are at least 25 bad fixtures", n >= 25);
	free_names(names, n);
	free(dir);
}

static void
test_demo_example(void)
{
	struct pol_cfg_errs errs = {0};
	char *path = path_join(examples_dir, "demo.yaml", NULL);
	struct pol_cfg *c = pol_cfg_load_file(path, &errs);
	const struct pol_tenant *t;
	bool ok = true;

	pol_cfg_errs_print(&errs, stderr);
	CHECK(c != NULL);
	if (c) {
		const struct pol_cfg_gateway *g = &c->gw;

		CHECK(!strcmp(g->port.device, "net_af_packet0,iface=bpgw0,qpairs=1"));
		CHECK(g->port.is_vdev);
		CHECK(g->n_eal_args == 5 && !strcmp(g->eal_args[0], "--no-huge") &&
		      !strcmp(g->eal_args[3], "-m") && !strcmp(g->eal_args[4], "256"));
		CHECK(g->workers == 1);
		CHECK(g->n_addrs == 1 && g->addrs[0].addr == 0xc6120001 && g->addrs[0].len == 24);
		CHECK(!g->has_next_hop);
		CHECK(g->idle_sleep_us == 50);
		CHECK(!strcmp(g->control_socket, "/run/bypassd/demo.sock"));
		CHECK(c->policy && c->policy->n_tenants == 1);
		t = pol_policy_tenant(c->policy, "demo");
		CHECK(t && t->n_addrs == 1 && t->addrs[0].addr == 0xc612000a &&
		      t->addrs[0].len == 32);
		CHECK(t && t->n_udp == 1 && t->udp[0].lo == 7 && t->udp[0].hi == 7);
		CHECK(t && t->n_uids == 1 && t->uids[0] == 0);
		CHECK(pol_policy_tenant_by_addr(c->policy, 0xc612000a) == t);
		CHECK(!pol_policy_tenant_by_addr(c->policy, 0xc6120001));
	}
	check_report("deploy/examples/demo.yaml loads with the quickstart's settings", ok);
	pol_cfg_free(c);
	pol_cfg_errs_clear(&errs);
	free(path);
}

static void
test_full_example(void)
{
	struct pol_cfg_errs errs = {0};
	char *path = path_join(examples_dir, "bypassd.yaml", NULL);
	struct pol_cfg *c = pol_cfg_load_file(path, &errs);
	bool ok = true;

	pol_cfg_errs_print(&errs, stderr);
	CHECK(c != NULL);
	if (c) {
		const struct pol_cfg_gateway *g = &c->gw;
		const struct pol_policy *p = c->policy;
		const struct pol_tenant *web = pol_policy_tenant(p, "web");
		const struct pol_rule *r;

		CHECK(!g->port.is_vdev && g->port.has_mac && g->port.mac[0] == 0x02 &&
		      g->port.mac[5] == 0x01);
		CHECK(g->port.mempool == 65535 && g->workers == 4 && g->n_addrs == 2);
		CHECK(g->has_next_hop && g->next_hop == 0xc00002fe);
		CHECK(!strcmp(g->admin_addr, "127.0.0.1") && g->admin_port == 8443);
		CHECK(g->log_level == 7 && !strcmp(pol_cfg_log_level_name(g->log_level), "info"));
		CHECK(g->tcp.max_connections == 16384 && g->tcp.mss == 1460 &&
		      g->tcp.max_time_wait == 8192 && !g->tcp.keepalive &&
		      g->tcp.keepalive_idle_s == 7200 &&
		      g->tcp.checksum_offload == POL_TCP_CSUM_AUTO);
		CHECK(p->op.n_rules == 2 && p->op.n_sigs == 1);
		CHECK(p->op.rules[0].proto == POL_PROTO_ANY && p->op.rules[0].log &&
		      p->op.rules[0].src.n_cidrs == 2 && p->op.rules[0].src.n_except == 1);
		CHECK(p->op.rules[1].n_sigs == 1 && p->op.rules[1].sigs[0].idx == 0 &&
		      p->op.rules[1].offload == POL_OFFLOAD_NEVER);
		CHECK(p->op.sigs[0].flags == POL_SIGF_CASELESS &&
		      p->op.sigs[0].action == POL_SIG_DENY);
		CHECK(web && web->n_addrs == 2 && web->addrs[1].addr == 0xc0000210 &&
		      web->addrs[1].len == 28);
		CHECK(web && web->n_udp == 2 && web->udp[1].lo == 5000 && web->udp[1].hi == 5099);
		CHECK(web && web->rate.ingress.bps == 1000000000ull &&
		      web->rate.ingress.pps == 200000);
		CHECK(web && web->rate.new_conn_per_s == 5000);
		CHECK(web && web->dflt[POL_DIR_INGRESS] == POL_ACT_DENY &&
		      web->dflt[POL_DIR_EGRESS] == POL_ACT_ALLOW);
		if (web && web->rs.n_rules == 4) {
			r = &web->rs.rules[1];
			CHECK(r->proto == 6 && r->stateful && r->dst.n_ports == 3 &&
			      r->dst.ports[2].lo == 8000 && r->dst.ports[2].hi == 8099);
			CHECK(r->loc.line > 0 && r->prio_loc.line == r->loc.line + 1);
			CHECK(web->rs.rules[2].dir == POL_DIR_EGRESS &&
			      web->rs.rules[2].action == POL_ACT_DENY);
			CHECK(web->rs.sigs[0].flags == (POL_SIGF_CASELESS | POL_SIGF_DOTALL) &&
			      web->rs.sigs[0].action == POL_SIG_COUNT &&
			      !strcmp(web->rs.sigs[0].pattern, "union\\s+select"));
			CHECK(web->rs.rules[3].n_sigs == 1 && web->rs.rules[3].sigs[0].idx == 0);
		} else {
			CHECK(!"web has 4 rules");
		}
		CHECK(p->n_tenants == 2 && p->tenants[1].raw &&
		      p->tenants[1].dflt[POL_DIR_EGRESS] == POL_ACT_DENY &&
		      p->tenants[1].rs.rules[1].proto == 17);
	}
	check_report("deploy/examples/bypassd.yaml loads and every key lands in the model", ok);
	pol_cfg_free(c);
	pol_cfg_errs_clear(&errs);
	free(path);
}

static void
test_defaults(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_cfg *c =
	        load_str("gateway: {port: {device: net_null0}, addresses: [10.0.0.1/8]}", &errs);
	bool ok = true;

	CHECK(c && !errs.n);
	if (c) {
		const struct pol_cfg_gateway *g = &c->gw;

		CHECK(g->port.rx_ring == 1024 && g->port.tx_ring == 1024);
		CHECK(g->port.mempool == 16383 && g->port.mempool_cache == 256);
		CHECK(g->port.mtu == 1500 && !g->port.has_mac && g->port.is_vdev);
		CHECK(g->port.tx_zero_copy_min == POL_CFG_TX_ZERO_COPY_MIN_DEFAULT);
		CHECK(g->n_eal_args == 0 && g->workers == 1 && !g->has_next_hop);
		CHECK(!strcmp(g->control_socket, "/run/bypassd/control.sock"));
		CHECK(!strcmp(g->admin_addr, "127.0.0.1") && g->admin_port == 8443);
		CHECK(g->log_level == 7 && g->stats_interval_s == 10 && g->idle_sleep_us == 0);
		CHECK(g->arp.cache_size == 1024 && g->arp.timeout_s == 300 &&
		      g->arp.pending == 64 && g->arp.pending_timeout_ms == 3000);
		CHECK(g->icmp.echo_rate == 1000 && g->icmp.echo_burst == 100 &&
		      g->icmp.unreach_rate == 100 && g->icmp.unreach_burst == 10);
		CHECK(g->tcp.max_connections == 16384 && g->tcp.max_listeners == 1024 &&
		      g->tcp.receive_buffer == 131072 && g->tcp.send_buffer == 1048576);
		CHECK(g->tcp.mss == 1460 && g->tcp.syn_backlog == 1024 &&
		      g->tcp.max_time_wait == 8192 && g->tcp.time_wait_s == 60 &&
		      g->tcp.fin_wait2_s == 60);
		CHECK(g->tcp.initial_rto_ms == 1000 && g->tcp.min_rto_ms == 200 &&
		      g->tcp.max_rto_ms == 60000 && g->tcp.max_retries == 15 &&
		      g->tcp.syn_retries == 5 && g->tcp.delayed_ack_ms == 40 &&
		      g->tcp.ooo_max == 4096);
		CHECK(!g->tcp.keepalive && g->tcp.keepalive_idle_s == 7200 &&
		      g->tcp.keepalive_interval_s == 75 && g->tcp.keepalive_probes == 9);
		CHECK(g->tcp.checksum_offload == POL_TCP_CSUM_AUTO && g->tcp.timestamps &&
		      g->tcp.sack && g->tcp.syn_cookies);
		CHECK(c->policy && c->policy->n_tenants == 0 && c->policy->op.n_rules == 0);
		CHECK(!c->policy_file && !strcmp(c->file, "t.yaml"));
	}
	check_report("defaults match config.h", ok);
	pol_cfg_free(c);
	pol_cfg_errs_clear(&errs);
}

/* gateway.tcp: every key lands in its field; defaults that follow other keys */
static void
test_tcp_section(void)
{
	struct pol_cfg_errs errs = {0};
	char *path = path_join(configs_dir, "good/tcp.yaml", NULL);
	struct pol_cfg *c = pol_cfg_load_file(path, &errs);
	struct pol_cfg *d = load_str("gateway: {port: {device: net_null0, mtu: 1400}, "
	                             "addresses: [10.0.0.1/8], tcp: {max_connections: 1000, "
	                             "keepalive: {enabled: true}}}",
	                             &errs);
	bool ok = true;

	pol_cfg_errs_print(&errs, stderr);
	CHECK(c && d && !errs.n);
	if (c) {
		const struct pol_cfg_tcp *t = &c->gw.tcp;

		CHECK(t->max_connections == 100000 && t->max_listeners == 64 &&
		      t->receive_buffer == 1000000 && t->send_buffer == 4194304);
		CHECK(t->mss == 8960 && t->syn_backlog == 256 && t->max_time_wait == 1000 &&
		      t->time_wait_s == 30 && t->fin_wait2_s == 15);
		CHECK(t->initial_rto_ms == 500 && t->min_rto_ms == 50 && t->max_rto_ms == 120000 &&
		      t->max_retries == 8 && t->syn_retries == 3 && t->delayed_ack_ms == 10 &&
		      t->ooo_max == 16384);
		CHECK(!t->timestamps && !t->sack && !t->syn_cookies);
		CHECK(t->keepalive && t->keepalive_idle_s == 60 && t->keepalive_interval_s == 10 &&
		      t->keepalive_probes == 3);
		CHECK(t->checksum_offload == POL_TCP_CSUM_OFF);
	}
	if (d) {
		/* mss follows the MTU, max_time_wait half the connections; keepalive timers Linux's
		 */
		CHECK(d->gw.tcp.mss == 1360 && d->gw.tcp.max_time_wait == 500);
		CHECK(d->gw.tcp.keepalive && d->gw.tcp.keepalive_idle_s == 7200 &&
		      d->gw.tcp.keepalive_interval_s == 75 && d->gw.tcp.keepalive_probes == 9);
	}
	if (c) {
		struct pol_cfg *e = pol_cfg_load_file(path, &errs);

		CHECK(e && pol_cfg_gateway_equal(&c->gw, &e->gw));
		if (e) {
			e->gw.tcp.keepalive_probes++; /* a tcp change needs a restart */
			CHECK(!pol_cfg_gateway_equal(&c->gw, &e->gw));
		}
		pol_cfg_free(e);
	}
	check_report("gateway.tcp: every key, dependent defaults, a change is a gateway change",
	             ok);
	pol_cfg_free(c);
	pol_cfg_free(d);
	pol_cfg_errs_clear(&errs);
	free(path);
}

static void
test_tenant_defaults(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = load_pol_str(
	        "tenants: [{name: a, addresses: [10.0.0.1]}]\n"
	        "operator: {rules: [{name: r, priority: 5, direction: egress, action: deny}]}\n",
	        &errs);
	bool ok = true;

	CHECK(p && !errs.n);
	if (p) {
		const struct pol_tenant *t = &p->tenants[0];
		const struct pol_rule *r = &p->op.rules[0];

		CHECK(!strcmp(p->path, "") && !strcmp(p->file, "p.yaml"));
		CHECK(t->quota.apps == POL_QUOTA_APPS_DEFAULT &&
		      t->quota.queues == POL_QUOTA_QUEUES_DEFAULT &&
		      t->quota.buffers == POL_QUOTA_BUFFERS_DEFAULT &&
		      t->quota.sessions == POL_QUOTA_SESSIONS_DEFAULT &&
		      t->quota.connections == POL_QUOTA_CONNECTIONS_DEFAULT);
		CHECK(!t->raw && !t->n_uids && !t->n_gids && !t->n_udp && !t->n_tcp);
		CHECK(t->rate.ingress.pps == 0 && t->rate.ingress.bps == 0 &&
		      t->rate.ingress.burst == POL_RATE_BURST_DEFAULT);
		CHECK(t->dflt[POL_DIR_INGRESS] == POL_ACT_DENY &&
		      t->dflt[POL_DIR_EGRESS] == POL_ACT_ALLOW);
		CHECK(r->proto == POL_PROTO_ANY && !r->log && !r->stateful &&
		      r->offload == POL_OFFLOAD_AUTO && r->priority == 5 &&
		      r->dir == POL_DIR_EGRESS);
		CHECK(r->loc.line == 2 && r->name_loc.line == 2 && r->name_loc.col == 27);
	}
	check_report("tenant and rule defaults", ok);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
}

#define GW "gateway:\n  port: {device: net_null0}\n  addresses: [198.18.0.1/24]\n"

static void
test_messages(void)
{
	check_report(
	        "power of two: exact message with the nearest value",
	        expect_errs(
	                "gateway:\n  port:\n    device: net_null0\n    rx_ring: 1000\n"
	                "  addresses: [198.18.0.1/24]\n",
	                false, 1,
	                "t.yaml:4:14: gateway.port.rx_ring: expected a power of two in 64..16384, "
	                "found 1000 (nearest: 1024)"));
	check_report(
	        "unknown key: suggests the closest known key",
	        expect_errs("gateway:\n  port:\n    device: net_null0\n    rx_rnig: 1024\n"
	                    "  addresses: [198.18.0.1/24]\n",
	                    false, 1,
	                    "t.yaml:4:5: gateway.port.rx_rnig: unknown key 'rx_rnig' (did you mean "
	                    "'rx_ring'?)"));
	check_report("unknown key far from any: lists the known keys",
	             expect_errs(GW "  arp: {zzz: 1}\n", false, 1,
	                         "t.yaml:4:9: gateway.arp.zzz: unknown key 'zzz' (expected one of: "
	                         "cache_size, timeout, pending, pending_timeout_ms)"));
	check_report(
	        "quoted number is a string",
	        expect_errs(
	                GW "  workers: \"4\"\n", false, 1,
	                "t.yaml:4:12: gateway.workers: expected an integer in 1..64, found a quoted "
	                "string ('4')"));
	check_report(
	        "negative and huge integers are out of range",
	        expect_errs(
	                GW "  workers: -1\n  stats_interval: 99999999999999999999999\n", false, 2,
	                "t.yaml:4:12: gateway.workers: expected an integer in 1..64, found -1",
	                "t.yaml:5:19: gateway.stats_interval: expected an integer in 0..86400, found "
	                "99999999999999999999999"));
	check_report(
	        "boolean: yes is not a boolean",
	        expect_errs("tenants: [{name: a, addresses: [10.0.0.1], raw: yes}]", true, 1,
	                    "p.yaml:1:49: tenants[0].raw: expected true or false, found 'yes'"));
	check_report(
	        "enum: suggests a value and abbreviations",
	        expect_errs(
	                GW "  log_level: warn\n", false, 1,
	                "t.yaml:4:14: gateway.log_level: expected one of emergency, alert, critical, "
	                "error, warning, notice, info, debug; found 'warn' (did you mean 'warning'?)"));
	check_report(
	        "prefix: host bits set, with the fix",
	        expect_errs(
	                "tenants: [{name: a, addresses: [10.0.0.1/8]}]", true, 1,
	                "p.yaml:1:33: tenants[0].addresses[0]: host bits set in 10.0.0.1/8 (did you "
	                "mean 10.0.0.0/8?)"));
	check_report(
	        "port range: reversed, with the fix",
	        expect_errs(
	                "tenants: [{name: a, addresses: [10.0.0.1], ports: {tcp: [2000-1000]}}]",
	                true, 1,
	                "p.yaml:1:58: tenants[0].ports.tcp[0]: reversed port range 2000-1000 (did "
	                "you mean 1000-2000?)"));
	check_report(
	        "mapping where a scalar belongs, list where a mapping belongs",
	        expect_errs(
	                GW "  workers: {a: 1}\n  admin: [1]\n", false, 2,
	                "t.yaml:4:12: gateway.workers: expected an integer in 1..64, found a mapping",
	                "t.yaml:5:10: gateway.admin: expected a mapping (key: value, ...), found a "
	                "list"));
	check_report(
	        "empty value for a required scalar",
	        expect_errs(
	                "gateway:\n  port: {device: }\n  addresses: [198.18.0.1/24]\n", false, 1,
	                "t.yaml:2:18: gateway.port.device: expected a string, found an empty value "
	                "(null)"));
	check_report(
	        "a NUL in a string",
	        expect_errs(
	                GW "  control_socket: \"/run/a\\0b\"\n", false, 1,
	                "t.yaml:4:19: gateway.control_socket: expected a string, found one holding "
	                "a NUL character"));
	check_report(
	        "control characters in a key are not printed raw",
	        expect_errs(
	                GW "  \"a\\tb\": 1\n", false, 1,
	                "t.yaml:4:3: gateway.a?b: unknown key 'a?b' (expected one of: port, "
	                "eal_args, workers, addresses, next_hop, control_socket, admin, log_level, "
	                "stats_interval, idle_sleep_us, arp, icmp, tcp)"));
}

static void
test_document_level(void)
{
	check_report(
	        "syntax error: libyaml's position and context",
	        expect_errs(
	                "gateway:\n  port: [a, b\n  workers: 1\n", false, 1,
	                "t.yaml:3:10: (document): YAML syntax error: did not find expected ',' or "
	                "']' (while parsing a flow sequence started at 2:9)"));
	check_report(
	        "aliases are refused (no cycles, no billion laughs)",
	        expect_errs(
	                "a: &x [*x]\nb: *x\n", false, 2,
	                "t.yaml:1:8: (document): YAML aliases are not supported (*x): write the value "
	                "out",
	                "t.yaml:2:4: (document): YAML aliases are not supported (*x): write the value "
	                "out"));
	check_report(
	        "two documents are refused",
	        expect_errs(
	                GW "---\n" GW, false, 1,
	                "t.yaml:4:1: (document): a second YAML document: the file must hold exactly "
	                "one"));
	check_report(
	        "an empty document is an error (config and policy)",
	        expect_errs(
	                "# nothing\n", false, 1,
	                "t.yaml:1:1: (document): empty document: expected the gateway: and policy: "
	                "sections") &&
	                expect_errs("", true, 1,
	                            "p.yaml:1:1: (document): empty document: expected a policy "
	                            "(operator:, tenants:)"));
	check_report(
	        "top level must be a mapping",
	        expect_errs(
	                "- a\n- b\n", false, 1,
	                "t.yaml:1:1: (document): expected a mapping (key: value, ...), found a list"));
	check_report(
	        "nesting deeper than 32 levels is refused early (libyaml is quadratic in depth)",
	        expect_errs(
	                "gateway: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	                "[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
	                "]]]]]]]]]]]]]]]]]]\n",
	                false, 1, "t.yaml:1:41: (document): nested deeper than 32 levels"));
	check_report(
	        "invalid UTF-8 is located",
	        expect_errs(
	                "gateway:\n  x: \xff\n", false, 1,
	                "t.yaml:2:6: (document): YAML syntax error: invalid leading UTF-8 octet (byte "
	                "0xff at offset 14)"));
}

static void
test_unreadable(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_cfg *c = pol_cfg_load_file("/nonexistent/bypassd.yaml", &errs);
	struct pol_policy *p = pol_policy_load_file("/", &errs);
	char *out = errs_text(&errs);
	bool ok = true;

	CHECK(!c && !p && errs.n == 2);
	CHECK(!strcmp(out, "/nonexistent/bypassd.yaml: (document): cannot open: No such file or "
	                   "directory\n/: (document): cannot read: is a directory\n"));
	check_report("unreadable files: FILE: PATH: MSG without a position", ok);
	free(out);
	pol_cfg_errs_clear(&errs);
}

static void
test_check_against(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_cfg *c = load_str(GW "  next_hop: 198.18.0.254\n", &errs);
	struct pol_policy *p =
	        load_pol_str("tenants:\n"
	                     "  - {name: a, addresses: [198.18.0.0/30]}\n"
	                     "  - {name: b, addresses: [198.18.0.254, 198.18.0.255]}\n"
	                     "  - {name: c, addresses: [198.18.0.5, 10.0.0.0/8]}\n",
	                     &errs);
	bool ok = true;
	char *out;

	CHECK(c && p && !errs.n);
	if (c && p) {
		CHECK(pol_policy_check_against(p, &c->gw, &errs) == -EINVAL);
		out = errs_text(&errs);
		CHECK(!strcmp(out,
		              "p.yaml:2:27: tenants[0].addresses[0]: 198.18.0.0/30 contains the "
		              "gateway's own address 198.18.0.1 (gateway.addresses[0])\n"
		              "p.yaml:3:27: tenants[1].addresses[0]: 198.18.0.254/32 contains "
		              "the gateway's next hop 198.18.0.254 (gateway.next_hop)\n"
		              "p.yaml:3:41: tenants[1].addresses[1]: 198.18.0.255/32 contains "
		              "the broadcast address of the gateway's prefix 198.18.0.0/24 "
		              "(gateway.addresses[0])\n"));
		if (!ok)
			fprintf(stderr, "%s", out);
		free(out);
		pol_cfg_errs_clear(&errs);
		/* a tenant elsewhere than the gateway's subnets is fine (routed to us) */
		CHECK(pol_policy_check_against(c->policy, &c->gw, &errs) == 0 && !errs.n);
	}
	check_report("pol_policy_check_against: tenants vs the gateway's addresses and next hop",
	             ok);
	pol_cfg_free(c);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
}

static bool
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

static void
test_reload(void)
{
	char dir[] = "/tmp/bypassd-config-test.XXXXXX", *cfg_path, *pol_path;
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p;
	struct pol_cfg *c;
	bool ok = true, changed = true;

	if (!mkdtemp(dir)) {
		check_report("reload (cannot make a temp dir)", false);
		return;
	}
	cfg_path = path_join(dir, "bypassd.yaml", NULL);
	pol_path = path_join(dir, "policy.yaml", NULL);

	/* inline policy: reload re-reads the config, notices gateway changes */
	CHECK(write_file(cfg_path, GW "policy: {tenants: [{name: a, addresses: [198.18.0.9]}]}\n"));
	c = pol_cfg_load_file(cfg_path, &errs);
	CHECK(c && !errs.n && !c->policy_file);
	if (c) {
		CHECK(write_file(cfg_path,
		                 GW "policy: {tenants: [{name: b, addresses: [198.18.0.8]}]}\n"));
		p = pol_cfg_reload_policy(c, &changed, &errs);
		CHECK(p && !changed && p->n_tenants == 1 && !strcmp(p->tenants[0].name, "b"));
		pol_policy_free(p);
		CHECK(write_file(cfg_path,
		                 GW "  workers: 2\npolicy: {tenants: [{name: c, addresses: "
		                    "[198.18.0.7]}]}\n"));
		p = pol_cfg_reload_policy(c, &changed, &errs);
		CHECK(p && changed && !strcmp(p->tenants[0].name, "c"));
		pol_policy_free(p);
		/* an invalid policy: NULL, errors, nothing else changes */
		CHECK(write_file(cfg_path,
		                 GW "policy: {tenants: [{name: B, addresses: [198.18.0.1]}]}\n"));
		p = pol_cfg_reload_policy(c, &changed, &errs);
		CHECK(!p && errs.n == 2);
		pol_cfg_errs_clear(&errs);
	}
	pol_cfg_free(c);

	/* policy file: reload reads it alone and checks it against the running gateway */
	CHECK(write_file(cfg_path, GW "policy: policy.yaml\n"));
	CHECK(write_file(pol_path, "tenants: [{name: a, addresses: [198.18.0.9]}]\n"));
	c = pol_cfg_load_file(cfg_path, &errs);
	CHECK(c && !errs.n && c->policy_file && !strcmp(c->policy_file, pol_path));
	if (c) {
		CHECK(c->policy && !strcmp(c->policy->file, pol_path) &&
		      !strcmp(c->policy->path, ""));
		CHECK(write_file(pol_path, "tenants: [{name: a, addresses: [198.18.0.1]}]\n"));
		p = pol_cfg_reload_policy(c, NULL, &errs);
		CHECK(!p && errs.n == 1 && !strcmp(errs.v[0].file, pol_path) &&
		      errs.v[0].line == 1 && !strcmp(errs.v[0].path, "tenants[0].addresses[0]"));
		pol_cfg_errs_clear(&errs);
		CHECK(write_file(pol_path, "tenants: [{name: z, addresses: [198.18.0.3]}]\n"));
		p = pol_cfg_reload_policy(c, &changed, &errs);
		CHECK(p && !changed && !errs.n && !strcmp(p->tenants[0].name, "z"));
		pol_policy_free(p);
	}
	pol_cfg_free(c);
	/* errors of an included policy name the included file */
	CHECK(write_file(pol_path, "tenants: [{name: a, addresses: [198.18.0.9], raw: 1}]\n"));
	c = pol_cfg_load_file(cfg_path, &errs);
	CHECK(!c && errs.n == 1 && !strcmp(errs.v[0].file, pol_path) &&
	      !strcmp(errs.v[0].path, "tenants[0].raw"));
	pol_cfg_errs_clear(&errs);

	unlink(cfg_path);
	unlink(pol_path);
	rmdir(dir);
	free(cfg_path);
	free(pol_path);
	check_report(
	        "reload: inline and file policies, gateway changes noticed, bad policy refused",
	        ok);
}

static void
test_gateway_equal(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_cfg *a = load_str(GW "  eal_args: [-m, '64']\n", &errs);
	struct pol_cfg *b = load_str(GW "  eal_args: [-m, '64']\n", &errs);
	struct pol_cfg *c = load_str(GW "  eal_args: [-m, '65']\n", &errs);
	bool ok = true;

	CHECK(a && b && c && !errs.n);
	if (a && b && c) {
		CHECK(pol_cfg_gateway_equal(&a->gw, &b->gw));
		CHECK(!pol_cfg_gateway_equal(&a->gw, &c->gw));
		b->gw.port.mtu = 1400;
		CHECK(!pol_cfg_gateway_equal(&a->gw, &b->gw));
	}
	check_report("pol_cfg_gateway_equal", ok);
	pol_cfg_free(a);
	pol_cfg_free(b);
	pol_cfg_free(c);
	pol_cfg_errs_clear(&errs);
}

static void
test_users(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = load_pol_str(
	        "tenants: [{name: a, addresses: [10.0.0.1], allow: {uids: [root, 7], gids: [root]}}]",
	        &errs);
	uint32_t id = 1;
	bool ok = true;

	CHECK(p && p->tenants[0].n_uids == 2 && p->tenants[0].uids[0] == 0 &&
	      p->tenants[0].uids[1] == 7 && p->tenants[0].n_gids == 1 &&
	      p->tenants[0].gids[0] == 0);
	CHECK(pol_resolve_user("root", &id) == 0 && id == 0);
	CHECK(pol_resolve_user("no-such-user-bypassd", &id) == -ENOENT);
	CHECK(pol_resolve_group("no-such-group-bypassd", &id) == -ENOENT);
	pol_policy_free(p);
	check_report("uids and gids by number and by name", ok);
	check_report(
	        "unknown user and group names are errors",
	        expect_errs(
	                "tenants: [{name: a, addresses: [10.0.0.1], allow: {uids: [nosuchuser-x], "
	                "gids: [nosuchgroup-x, -1]}}]",
	                true, 3,
	                "p.yaml:1:59: tenants[0].allow.uids[0]: unknown user 'nosuchuser-x'",
	                "p.yaml:1:81: tenants[0].allow.gids[0]: unknown group 'nosuchgroup-x'",
	                "p.yaml:1:96: tenants[0].allow.gids[1]: expected an integer in 0..4294967294, "
	                "found -1"));
	pol_cfg_errs_clear(&errs);
}

static void
test_helpers(void)
{
	static const char *const keys[] = {"rx_ring", "tx_ring", "mempool", "mtu", NULL};
	static const char *const lv[] = {"warning", "info", NULL};
	uint32_t a = 0;
	bool ok = true;
	char buf[16];

	CHECK(pol_edit_distance("rx_rnig", "rx_ring") == 1);
	CHECK(pol_edit_distance("", "abc") == 3);
	CHECK(pol_edit_distance("MTU", "mtu") == 0);
	CHECK(!strcmp(pol_suggest("rx_rnig", keys), "rx_ring"));
	CHECK(!strcmp(pol_suggest("mempol", keys), "mempool"));
	CHECK(!strcmp(pol_suggest("warn", lv), "warning"));
	CHECK(pol_suggest("zzzzzz", keys) == NULL);
	CHECK(pol_suggest("x", keys) == NULL);
	CHECK(pol_parse_ipv4("198.18.0.1", &a) && a == 0xc6120001);
	CHECK(pol_parse_ipv4("0.0.0.0", &a) && a == 0);
	CHECK(!pol_parse_ipv4("198.18.0.01", &a) && !pol_parse_ipv4("1.2.3", &a) &&
	      !pol_parse_ipv4("1.2.3.4.5", &a) && !pol_parse_ipv4("256.1.1.1", &a) &&
	      !pol_parse_ipv4("1.2.3.4 ", &a) && !pol_parse_ipv4("", &a) &&
	      !pol_parse_ipv4("1..2.3", &a) && !pol_parse_ipv4("1234.1.1.1", &a));
	CHECK(!strcmp(pol_ipv4_str(0xc6120001, buf), "198.18.0.1"));
	CHECK(pol_prefix_mask(0) == 0 && pol_prefix_mask(32) == ~0u &&
	      pol_prefix_mask(24) == 0xffffff00);
	CHECK(pol_prefix_contains(0x0a000000, 8, 0x0affffff) &&
	      !pol_prefix_contains(0x0a000000, 8, 0x0b000000));
	CHECK(pol_prefix_overlap(0x0a000000, 8, 0x0a010000, 16) &&
	      !pol_prefix_overlap(0x0a000000, 16, 0x0a010000, 16));
	CHECK(pol_tenant_name_ok("a-b_9") && !pol_tenant_name_ok("A") && !pol_tenant_name_ok("") &&
	      !pol_tenant_name_ok("abcdefghijklmnopqrstuvwxyz0123456"));
	CHECK(pol_item_name_ok("R.1-x_Y") && !pol_item_name_ok("a b"));
	CHECK(pol_cfg_log_level_parse("debug") == 8 && pol_cfg_log_level_parse("x") == -EINVAL);
	CHECK(!strcmp(pol_cfg_log_level_name(1), "emergency") && !pol_cfg_log_level_name(9) &&
	      !pol_cfg_log_level_name(0));
	CHECK(!strcmp(pol_dir_name(POL_DIR_EGRESS), "egress") &&
	      !strcmp(pol_action_name(POL_ACT_DENY), "deny") &&
	      !strcmp(pol_offload_name(POL_OFFLOAD_REQUIRED), "required") &&
	      !strcmp(pol_sig_flag_name(0), "caseless") && !pol_sig_flag_name(POL_SIGF_NBITS));
	/* free functions accept NULL */
	pol_cfg_free(NULL);
	pol_policy_free(NULL);
	pol_cfg_errs_clear(NULL);
	pol_cfg_errs_print(NULL, stdout);
	check_report("helpers: edit distance, suggestions, IPv4, prefixes, names, NULL frees", ok);
}

static void
test_errs_list(void)
{
	struct pol_cfg_errs errs = {0};
	bool ok = true;
	char *out;

	pol_cfg_err_add(&errs, "b.yaml", 3, 1, "x", "third");
	pol_cfg_err_add(&errs, "a.yaml", 9, 9, "y", "fourth");
	pol_cfg_err_add(&errs, "b.yaml", 1, 5, "z", "first %d", 1);
	pol_cfg_err_add(&errs, "b.yaml", 1, 5, "", "second");
	pol_cfg_errs_sort(&errs, 0);
	out = errs_text(&errs);
	CHECK(pol_cfg_errs_count(&errs) == 4);
	CHECK(!strcmp(out, "b.yaml:1:5: z: first 1\nb.yaml:1:5: (document): second\n"
	                   "b.yaml:3:1: x: third\na.yaml:9:9: y: fourth\n"));
	free(out);
	pol_cfg_errs_clear(&errs);
	CHECK(errs.n == 0 && errs.v == NULL && errs.cap == 0);
	check_report("error list: stable sort by file, line, column; print; clear", ok);
}

static void
test_many_errors_and_big_lists(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool ok = true;
	unsigned i;

	/* 10,000 rules with unique priorities, then the same with every priority repeated */
	fprintf(f, "tenants:\n  - name: big\n    addresses: [10.0.0.0/16]\n    rules:\n");
	for (i = 0; i < 10000; i++)
		fprintf(f,
		        "      - {name: r%u, priority: %u, direction: ingress, action: allow, "
		        "protocol: udp, dst: {ports: [%u]}}\n",
		        i, i + 1, i % 65536);
	fclose(f);
	p = pol_policy_load_buf("big.yaml", buf, len, &errs);
	CHECK(p && !errs.n && p->tenants[0].rs.n_rules == 10000);
	pol_policy_free(p);
	free(buf);

	f = open_memstream(&buf, &len);
	fprintf(f, "tenants:\n  - name: big\n    addresses: [10.0.0.0/16]\n    rules:\n");
	for (i = 0; i < 2000; i++)
		fprintf(f, "      - {name: r%u, priority: %u, direction: ingress, action: allow}\n",
		        i % 1000, i % 1000 + 1);
	fclose(f);
	p = pol_policy_load_buf("dup.yaml", buf, len, &errs);
	CHECK(!p && errs.n == 2000);
	CHECK(errs.n >= 2 && errs.v[0].line == 1005 &&
	      !strcmp(errs.v[0].path, "tenants[0].rules[1000].name") &&
	      !strcmp(errs.v[1].path, "tenants[0].rules[1000].priority"));
	pol_cfg_errs_clear(&errs);
	free(buf);
	check_report(
	        "10,000 rules load; 1,000 duplicate names and priorities all reported, in order",
	        ok);
}

static void
test_wide_mapping(void)
{
	struct pol_cfg_errs errs = {0};
	struct pol_cfg *c;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool ok = true;
	unsigned i;

	/* 50,000 unknown keys and 49,999 repeats: linear, every one reported */
	fprintf(f, "gateway:\n");
	for (i = 0; i < 50000; i++)
		fprintf(f, "  workers: 1\n  k%u: 1\n", i);
	fclose(f);
	c = pol_cfg_load_buf("wide.yaml", buf, len, &errs);
	CHECK(!c &&
	      errs.n == 50000 + 49999 + 2); /* unknown, repeated, missing port and addresses */
	CHECK(errs.n > 3 && !strcmp(errs.v[3].msg, "duplicate key (first at 2:3)"));
	pol_cfg_errs_clear(&errs);
	free(buf);
	check_report("a mapping with 100,000 bad keys: every one reported, in linear time", ok);
}

static int
check_one(const char *path, bool policy)
{
	struct pol_cfg_errs errs = {0};
	bool ok = policy ? load_any(path, "policy_", &errs) : load_any(path, "", &errs);

	pol_cfg_errs_print(&errs, stdout);
	pol_cfg_errs_clear(&errs);
	return ok ? 0 : 2;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && (!strcmp(argv[1], "--check") || !strcmp(argv[1], "--policy")))
		return check_one(argv[2], !strcmp(argv[1], "--policy"));
	if (argc != 3) {
		fprintf(stderr,
		        "usage: %s CONFIGS_DIR EXAMPLES_DIR | --check FILE | --policy FILE\n",
		        argv[0]);
		return 2;
	}
	configs_dir = argv[1];
	examples_dir = argv[2];

	test_good_fixtures();
	test_bad_fixtures();
	test_demo_example();
	test_tcp_section();
	test_full_example();
	test_defaults();
	test_tenant_defaults();
	test_messages();
	test_document_level();
	test_unreadable();
	test_check_against();
	test_reload();
	test_gateway_equal();
	test_users();
	test_helpers();
	test_errs_list();
	test_many_errors_and_big_lists();
	test_wide_mapping();

	return check_done();
}
