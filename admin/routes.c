/* routes.c - the admin API's routes: health, policy, tenants, rules, channels; persist; audit. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>
#include <rte_ethdev.h>

#include "adm_priv.h"
#include "policy_json.h"
#include "policy_model.h"

static FILE *audit_f;

int
adm_audit_open(const struct pol_cfg_admin *cfg)
{
	if (!cfg->audit_log)
		return 0;
	audit_f = fopen(cfg->audit_log, "ae");
	if (!audit_f) {
		int e = errno;

		ADM_LOG(ERR, "audit_log %s: %s", cfg->audit_log, strerror(e));
		return -e;
	}
	setvbuf(audit_f, NULL, _IOLBF, 0);
	return 0;
}

void
adm_audit_close(void)
{
	if (audit_f)
		fclose(audit_f);
	audit_f = NULL;
}

static void
audit(const struct adm_req *r, const char *what, uint64_t old_gen, uint64_t new_gen)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;

	ADM_LOG(NOTICE, "audit: who=%s what=\"%s\" generation %" PRIu64 " -> %" PRIu64, r->who,
	        what, old_gen, new_gen);
	if (audit_f) {
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
		fprintf(audit_f, "%s who=%s what=\"%s\" generation %" PRIu64 " -> %" PRIu64 "\n",
		        ts, r->who, what, old_gen, new_gen);
	}
}

/* ---- helpers ---- */

static const char *
header(const struct adm_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

/* The media type of the body without parameters, lower case, into buf ("" when none). */
static const char *
content_type(const struct adm_req *r, char *buf, size_t len)
{
	const char *h = header(r, "Content-Type");
	size_t i;

	buf[0] = '\0';
	for (i = 0; h && h[i] && h[i] != ';' && h[i] != ' ' && i < len - 1; i++)
		buf[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] + 32 : h[i]);
	buf[h ? i : 0] = '\0';
	return buf;
}

static bool
is_json(const char *ct)
{
	return !ct[0] || !strcmp(ct, "application/json");
}

static bool
is_yaml(const char *ct)
{
	return !strcmp(ct, "application/yaml") || !strcmp(ct, "application/x-yaml") ||
	       !strcmp(ct, "text/yaml");
}

/* Errors as the "errors" list and the reply: 400 for syntax, 422 for the rest. */
static void
reply_errs(struct adm_req *r, const struct pol_cfg_errs *errs, int fallback_errno)
{
	json_t *list = json_array(), *e;
	bool syntax = false;
	unsigned i;

	if (!errs->n) {
		adm_reply_error(r, fallback_errno == ENOMEM ? 500 : 422, "invalid_policy", NULL,
		                "policy refused: %s", strerror(fallback_errno));
		json_decref(list);
		return;
	}
	for (i = 0; i < errs->n; i++) {
		const struct pol_cfg_err *x = &errs->v[i];
		json_t *o = json_pack("{s:s,s:s}", "path", x->path ? x->path : "", "message",
		                      x->msg ? x->msg : "");

		/* a JSON body's schema errors have no position (only its syntax errors do) */
		if (o && x->line &&
		    (r->yaml_body || (x->msg && !strncmp(x->msg, "JSON syntax error", 17)))) {
			json_object_set_new(o, "line", json_integer(x->line));
			json_object_set_new(o, "column", json_integer(x->col));
		}
		json_array_append_new(list, o);
		if (x->msg && (!strncmp(x->msg, "JSON syntax error", 17) ||
		               !strncmp(x->msg, "YAML syntax error", 17)))
			syntax = true;
	}
	e = json_pack("{s:{s:s,s:s,s:s,s:o}}", "error", "code",
	              syntax ? "malformed" : "invalid_policy", "message",
	              errs->v[0].msg ? errs->v[0].msg : "", "path",
	              errs->v[0].path ? errs->v[0].path : "", "errors", list);
	if (e && syntax && errs->v[0].line) {
		json_t *eo = json_object_get(e, "error");

		json_object_set_new(eo, "line", json_integer(errs->v[0].line));
		json_object_set_new(eo, "column", json_integer(errs->v[0].col));
	}
	adm_reply_json(r, syntax ? 400 : 422, e);
}

/* The active policy as JSON (ctl_lock held). */
static json_t *
policy_now(struct adm_req *r)
{
	return pol_policy_to_json(r->gw->cfg->policy);
}

static void
set_etag(struct adm_req *r, uint64_t gen)
{
	char v[32];

	snprintf(v, sizeof(v), "\"%" PRIu64 "\"", gen);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "ETag", v);
}

/* If-Match against the active generation: 0 when it matches or is absent (reply sent else). */
static int
check_if_match(struct adm_req *r, uint64_t cur)
{
	const char *h = header(r, "If-Match");
	char *end;
	unsigned long long v;

	if (!h || !strcmp(h, "*"))
		return 0;
	if (*h == 'W' && h[1] == '/')
		h += 2;
	if (*h == '"')
		h++;
	errno = 0;
	v = strtoull(h, &end, 10);
	if (errno || end == h || (*end && *end != '"')) {
		adm_reply_error(r, 400, "bad_if_match", NULL,
		                "If-Match must be a policy generation (a number, or \"N\")");
		return -1;
	}
	if (v != cur) {
		adm_reply_error(
		        r, 409, "stale", NULL,
		        "If-Match generation %llu is stale: the active generation is %" PRIu64
		        " (GET it again, reapply your change)",
		        v, cur);
		return -1;
	}
	return 0;
}

/* fsync the directory holding path */
static void
sync_dir(const char *path)
{
	char *d = strdup(path);
	int fd;

	if (!d)
		return;
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(d);
}

/* Write text to a new temporary file beside path, fsynced: its name in tmp (owned). */
static int
write_temp(const char *path, const char *text, char **tmp)
{
	size_t len = strlen(text), off = 0;
	char *name;
	int fd, e;

	if (asprintf(&name, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkstemp(name);
	if (fd < 0) {
		e = errno;
		free(name);
		return -e;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			e = errno;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0640) || fsync(fd)) {
		e = errno;
		goto fail;
	}
	close(fd);
	*tmp = name;
	return 0;
fail:
	close(fd);
	unlink(name);
	free(name);
	return -e;
}

/*
 * Whether text, the JSON about to be written to the policy file, reads back through the YAML
 * loader (what a restart and SIGHUP use) as the same policy as pol. JSON is YAML flow syntax,
 * but YAML refuses or folds a few characters JSON strings may hold (C1 controls, U+2028).
 */
static bool
reads_back(const struct pol_policy *pol, const char *file, const char *text)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *back = pol_policy_load_buf(file, text, strlen(text), &errs);
	json_t *a = pol_policy_to_json(pol), *b = back ? pol_policy_to_json(back) : NULL;
	bool same = a && b && json_equal(a, b);

	json_decref(a);
	json_decref(b);
	pol_policy_free(back);
	pol_cfg_errs_clear(&errs);
	return same;
}

/*
 * The path of every mutation: If-Match, validate (already done by the caller: p is valid),
 * write the new policy to a temporary file, apply (check, compile, publish), rename the file
 * over the policy file, audit, reply {"generation", "previous_generation"}. Takes p (JSON);
 * ctl_lock held by the caller.
 */
static void
commit(struct adm_req *r, json_t *p, const char *what, int ok_code)
{
	struct gw *gw = r->gw;
	struct pol_cfg_errs errs = {0};
	struct pol_policy *pol;
	uint64_t old = gw_policy_generation(gw), gen = 0;
	char *text = NULL, *tmp = NULL;
	const char *file = gw->cfg->policy_file;
	int ret;

	if (check_if_match(r, old))
		goto out;
	if (!file) {
		adm_reply_error(r, 409, "not_persistable", "policy",
		                "the policy is inline in the config file %s; changes over the API "
		                "need `policy: FILE` so that a restart comes back with them",
		                gw->cfg->file);
		goto out;
	}
	pol = pol_policy_from_json_value(file, p, &errs);
	if (!pol) {
		reply_errs(r, &errs, errno);
		goto out;
	}
	text = json_dumps(p, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text && !reads_back(pol, file, text)) {
		pol_policy_free(pol);
		adm_reply_error(r, 422, "invalid_policy", NULL,
		                "this policy would not read back the same from the policy file (a "
		                "string holds a character YAML cannot carry, such as a C1 control "
		                "or a line separator); nothing applied");
		goto out;
	}
	ret = text ? write_temp(file, text, &tmp) : -ENOMEM;
	if (ret) {
		pol_policy_free(pol);
		adm_reply_error(r, 500, "persist_failed", NULL,
		                "cannot write the policy file beside %s: %s (nothing applied)",
		                file, strerror(-ret));
		goto out;
	}
	if (gw_policy_apply(gw, pol, &errs, &gen)) {
		unlink(tmp);
		reply_errs(r, &errs, errno);
		goto out;
	}
	if (rename(tmp, file)) {
		ADM_LOG(ERR, "policy generation %" PRIu64 " applied but not persisted: %s: %s", gen,
		        file, strerror(errno));
		unlink(tmp);
		audit(r, what, old, gen);
		adm_reply_error(r, 500, "persist_failed", NULL,
		                "generation %" PRIu64 " applied but not written to %s: %s", gen,
		                file, strerror(errno));
		goto out;
	}
	sync_dir(file);
	audit(r, what, old, gen);
	set_etag(r, gen);
	adm_reply_json(r, ok_code,
	               json_pack("{s:I,s:I}", "generation", (json_int_t)gen, "previous_generation",
	                         (json_int_t)old));
out:
	free(text);
	free(tmp);
	pol_cfg_errs_clear(&errs);
}

/* Parse the body as a JSON object/array for sub-resources: NULL after replying 400/415. */
static json_t *
body_json(struct adm_req *r)
{
	char ct[64];
	json_error_t je;
	json_t *j;

	if (!is_json(content_type(r, ct, sizeof(ct)))) {
		adm_reply_error(r, 415, "unsupported_media_type", NULL,
		                "Content-Type %s: this resource takes application/json", ct);
		return NULL;
	}
	j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		json_t *e = json_pack("{s:{s:s,s:s,s:s,s:i,s:i}}", "error", "code", "malformed",
		                      "message", je.text, "path", "(document)", "line", je.line,
		                      "column", je.column);

		adm_reply_json(r, 400, e);
	}
	return j;
}

/* Index of the object whose "name" is name in the JSON array a, or -1. */
static int
index_by_name(json_t *a, const char *name)
{
	json_t *x;
	size_t i;

	json_array_foreach(a, i, x) if (json_is_string(json_object_get(x, "name")) &&
	                                !strcmp(json_string_value(json_object_get(x, "name")),
	                                        name)) return (int)i;
	return -1;
}

static int
tenant_index(json_t *pol, const char *name)
{
	return index_by_name(json_object_get(pol, "tenants"), name);
}

static int
rule_index(json_t *tenant, const char *name)
{
	return index_by_name(json_object_get(tenant, "rules"), name);
}

#define LOCK(r)   pthread_mutex_lock(&(r)->gw->ctl_lock)
#define UNLOCK(r) pthread_mutex_unlock(&(r)->gw->ctl_lock)

/* ---- routes ---- */

static void
get_health(struct adm_req *r)
{
	adm_reply_json(r, 200, json_pack("{s:s}", "status", "alive"));
}

static void
get_ready(struct adm_req *r)
{
	struct rte_eth_link link;
	uint64_t gen;
	bool port = r->gw->port_started;

	LOCK(r); /* a reload on the control thread may retire the generation we read */
	gen = gw_policy_generation(r->gw);
	UNLOCK(r);

	memset(&link, 0, sizeof(link));
	if (port && rte_eth_link_get_nowait(r->gw->port_id, &link) == 0)
		port = link.link_status == RTE_ETH_LINK_UP;
	adm_reply_json(r, port && gen ? 200 : 503,
	               json_pack("{s:s,s:b,s:I}", "status", port && gen ? "ready" : "not ready",
	                         "port_up", port, "policy_generation", (json_int_t)gen));
}

static void
get_policy(struct adm_req *r)
{
	json_t *p;
	uint64_t gen;

	LOCK(r);
	gen = gw_policy_generation(r->gw);
	p = policy_now(r);
	UNLOCK(r);
	set_etag(r, gen);
	adm_reply_json(r, 200,
	               json_pack("{s:I,s:o}", "generation", (json_int_t)gen, "policy",
	                         p ? p : json_null()));
}

/* The body as a whole policy (JSON or YAML): the model, or NULL after replying. */
static struct pol_policy *
body_policy(struct adm_req *r, json_t **as_json)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p = NULL;
	char ct[64];

	*as_json = NULL;
	content_type(r, ct, sizeof(ct));
	if (is_json(ct)) {
		json_error_t je;
		json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);

		if (!j) {
			pol_cfg_err_add(&errs, "request", je.line > 0 ? (unsigned)je.line : 0,
			                je.column > 0 ? (unsigned)je.column : 0, "(document)",
			                "JSON syntax error: %s", je.text);
		} else {
			p = pol_policy_from_json_value("request", j, &errs);
			if (p)
				*as_json = j;
			else
				json_decref(j);
		}
	} else if (is_yaml(ct)) {
		r->yaml_body = true;
		p = pol_policy_load_buf("request", r->body, r->body_len, &errs);
	} else {
		adm_reply_error(r, 415, "unsupported_media_type", NULL,
		                "Content-Type %s: send application/json or application/yaml", ct);
		return NULL;
	}
	if (!p)
		reply_errs(r, &errs, errno ? errno : EINVAL);
	pol_cfg_errs_clear(&errs);
	return p;
}

static void
put_policy(struct adm_req *r)
{
	json_t *j;
	struct pol_policy *p = body_policy(r, &j);

	if (!p)
		return;
	if (!j) /* YAML: persisted as its JSON form */
		j = pol_policy_to_json(p);
	pol_policy_free(p);
	if (!j) {
		adm_reply_error(r, 500, "internal", NULL, "out of memory");
		return;
	}
	LOCK(r);
	commit(r, j, "PUT /v1/policy", 200);
	UNLOCK(r);
	json_decref(j);
}

static void
post_validate(struct adm_req *r)
{
	struct pol_cfg_errs errs = {0};
	json_t *j;
	struct pol_policy *p = body_policy(r, &j);

	json_decref(j);
	if (!p)
		return;
	LOCK(r);
	pol_policy_check_against(p, &r->gw->cfg->gw, &errs);
	UNLOCK(r);
	pol_policy_free(p);
	if (errs.n)
		reply_errs(r, &errs, EINVAL);
	else
		adm_reply_json(r, 200, json_pack("{s:b,s:[]}", "valid", 1, "errors"));
	pol_cfg_errs_clear(&errs);
}

static void
get_tenants(struct adm_req *r)
{
	json_t *p;

	LOCK(r);
	p = policy_now(r);
	UNLOCK(r);
	adm_reply_json(r, 200, p ? json_incref(json_object_get(p, "tenants")) : NULL);
	json_decref(p);
}

/* GET /v1/tenants/NAME and /v1/tenants/NAME/rules[/RULE] */
static void
get_tenant(struct adm_req *r)
{
	json_t *p, *t, *out = NULL;
	int i, k;

	LOCK(r);
	p = policy_now(r);
	UNLOCK(r);
	i = p ? tenant_index(p, r->parts[2]) : -1;
	if (i < 0) {
		adm_reply_error(r, 404, "not_found", NULL, "no tenant '%s'", r->parts[2]);
		goto out;
	}
	t = json_array_get(json_object_get(p, "tenants"), (size_t)i);
	if (r->nparts == 3) {
		out = json_incref(t);
	} else if (r->nparts == 4) {
		out = json_incref(json_object_get(t, "rules"));
	} else {
		k = rule_index(t, r->parts[4]);
		if (k < 0) {
			adm_reply_error(r, 404, "not_found", NULL, "tenant '%s' has no rule '%s'",
			                r->parts[2], r->parts[4]);
			goto out;
		}
		out = json_incref(json_array_get(json_object_get(t, "rules"), (size_t)k));
	}
	adm_reply_json(r, 200, out);
out:
	json_decref(p);
}

static void
put_tenant(struct adm_req *r)
{
	json_t *t = body_json(r), *p = NULL, *ts, *nm;
	char what[128];
	int i;

	if (!t)
		return;
	if (!json_is_object(t)) {
		adm_reply_error(r, 422, "invalid_policy", "tenant",
		                "expected a tenant (a JSON object: name, addresses, ...)");
		goto out;
	}
	nm = json_object_get(t, "name");
	if (nm && (!json_is_string(nm) || strcmp(json_string_value(nm), r->parts[2]))) {
		adm_reply_error(r, 422, "invalid_policy", "name",
		                "the tenant's name must be the one in the path ('%s')",
		                r->parts[2]);
		goto out;
	}
	if (!nm)
		json_object_set_new(t, "name", json_string(r->parts[2]));
	snprintf(what, sizeof(what), "PUT /v1/tenants/%s", r->parts[2]);
	LOCK(r);
	p = policy_now(r);
	ts = p ? json_object_get(p, "tenants") : NULL;
	if (!ts) {
		UNLOCK(r);
		adm_reply_error(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	i = tenant_index(p, r->parts[2]);
	if (i >= 0)
		json_array_set(ts, (size_t)i, t);
	else
		json_array_append(ts, t);
	commit(r, p, what, i >= 0 ? 200 : 201);
	UNLOCK(r);
out:
	json_decref(p);
	json_decref(t);
}

static void
delete_tenant(struct adm_req *r)
{
	json_t *p;
	char what[128];
	int i;

	snprintf(what, sizeof(what), "DELETE /v1/tenants/%s", r->parts[2]);
	LOCK(r);
	p = policy_now(r);
	i = p ? tenant_index(p, r->parts[2]) : -1;
	if (i < 0) {
		UNLOCK(r);
		adm_reply_error(r, 404, "not_found", NULL, "no tenant '%s'", r->parts[2]);
		json_decref(p);
		return;
	}
	json_array_remove(json_object_get(p, "tenants"), (size_t)i);
	/* gw_policy_apply detaches the apps of a tenant that is gone (gw_chan_policy_reconcile) */
	commit(r, p, what, 200);
	UNLOCK(r);
	json_decref(p);
}

static void
post_rule(struct adm_req *r)
{
	json_t *x = body_json(r), *p = NULL, *t, *rs, *nm;
	char what[160];
	int i;

	if (!x)
		return;
	nm = json_object_get(x, "name");
	if (!json_is_object(x) || !json_is_string(nm)) {
		adm_reply_error(r, 422, "invalid_policy", "rule",
		                "expected a rule (a JSON object with a name, priority, ...)");
		goto out;
	}
	LOCK(r);
	p = policy_now(r);
	i = p ? tenant_index(p, r->parts[2]) : -1;
	if (i < 0) {
		UNLOCK(r);
		adm_reply_error(r, 404, "not_found", NULL, "no tenant '%s'", r->parts[2]);
		goto out;
	}
	t = json_array_get(json_object_get(p, "tenants"), (size_t)i);
	if (rule_index(t, json_string_value(nm)) >= 0) {
		UNLOCK(r);
		adm_reply_error(r, 409, "conflict", NULL,
		                "tenant '%s' already has a rule '%s' (DELETE it first)",
		                r->parts[2], json_string_value(nm));
		goto out;
	}
	rs = json_object_get(t, "rules");
	json_array_append(rs, x);
	snprintf(what, sizeof(what), "POST /v1/tenants/%s/rules %s", r->parts[2],
	         json_string_value(nm));
	commit(r, p, what, 201);
	UNLOCK(r);
out:
	json_decref(p);
	json_decref(x);
}

static void
delete_rule(struct adm_req *r)
{
	json_t *p, *t;
	char what[160];
	int i, k = -1;

	LOCK(r);
	p = policy_now(r);
	i = p ? tenant_index(p, r->parts[2]) : -1;
	t = i >= 0 ? json_array_get(json_object_get(p, "tenants"), (size_t)i) : NULL;
	if (t)
		k = rule_index(t, r->parts[4]);
	if (k < 0) {
		UNLOCK(r);
		adm_reply_error(r, 404, "not_found", NULL, "no rule '%s' in tenant '%s'",
		                r->parts[4], r->parts[2]);
		json_decref(p);
		return;
	}
	json_array_remove(json_object_get(t, "rules"), (size_t)k);
	snprintf(what, sizeof(what), "DELETE /v1/tenants/%s/rules/%s", r->parts[2], r->parts[4]);
	commit(r, p, what, 200);
	UNLOCK(r);
	json_decref(p);
}

static void
get_stats(struct adm_req *r)
{
	adm_reply_json(r, 200, adm_stats_json(r->gw));
}

static void
get_metrics(struct adm_req *r)
{
	size_t len = 0;
	char *s = adm_metrics_text(r->gw, &len);

	if (!s) {
		adm_reply_error(r, 500, "internal", NULL, "out of memory");
		return;
	}
	adm_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", s, len);
	free(s);
}

static void
get_channels(struct adm_req *r)
{
	struct gw_chan_list l;
	json_t *a = json_array();
	uint64_t now;
	unsigned i;
	int ret;

	LOCK(r);
	ret = gw_chan_list(r->gw, &l);
	now = gw_now_ns(r->gw);
	UNLOCK(r);
	if (ret || !a) {
		json_decref(a);
		adm_reply_error(r, 500, "internal", NULL, "out of memory");
		return;
	}
	for (i = 0; i < l.n; i++)
		if (r->nparts < 3 || strtoull(r->parts[2], NULL, 10) == l.apps[i].id)
			json_array_append_new(a, adm_chan_json(&l.apps[i], now));
	gw_chan_list_free(&l);
	if (r->nparts == 3) {
		if (!json_array_size(a)) {
			json_decref(a);
			adm_reply_error(r, 404, "not_found", NULL, "no channel %s", r->parts[2]);
			return;
		}
		adm_reply_json(r, 200, json_incref(json_array_get(a, 0)));
		json_decref(a);
		return;
	}
	adm_reply_json(r, 200, a);
}

static void
delete_channel(struct adm_req *r)
{
	char *end, what[64], why[340];
	unsigned long long id = strtoull(r->parts[2], &end, 10);
	uint64_t gen;
	int ret;

	if (*end || end == r->parts[2]) {
		adm_reply_error(r, 404, "not_found", NULL, "no channel %s", r->parts[2]);
		return;
	}
	LOCK(r);
	snprintf(why, sizeof(why), "over the admin API by %s", r->who);
	ret = gw_chan_evict(r->gw, id, why);
	gen = gw_policy_generation(r->gw);
	UNLOCK(r);
	if (ret) {
		adm_reply_error(r, 404, "not_found", NULL, "no attached app with channel id %llu",
		                id);
		return;
	}
	snprintf(what, sizeof(what), "DELETE /v1/channels/%llu", id);
	audit(r, what, gen, gen);
	adm_reply_json(r, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "evicted", 1));
}

/* ---- the table ---- */

/* A pattern's segments: "*" matches any one segment. */
static const struct route {
	const char *pat[6];
	unsigned n;
	adm_handler_fn get, put, post, del;
	bool public;
} routes[] = {
        {{"v1", "health"}, 2, get_health, NULL, NULL, NULL, true},
        {{"v1", "ready"}, 2, get_ready, NULL, NULL, NULL, true},
        {{"v1", "policy"}, 2, get_policy, put_policy, NULL, NULL, false},
        {{"v1", "policy", "validate"}, 3, NULL, NULL, post_validate, NULL, false},
        {{"v1", "tenants"}, 2, get_tenants, NULL, NULL, NULL, false},
        {{"v1", "tenants", "*"}, 3, get_tenant, put_tenant, NULL, delete_tenant, false},
        {{"v1", "tenants", "*", "rules"}, 4, get_tenant, NULL, post_rule, NULL, false},
        {{"v1", "tenants", "*", "rules", "*"}, 5, get_tenant, NULL, NULL, delete_rule, false},
        {{"v1", "stats"}, 2, get_stats, NULL, NULL, NULL, false},
        {{"metrics"}, 1, get_metrics, NULL, NULL, NULL, false},
        {{"v1", "channels"}, 2, get_channels, NULL, NULL, NULL, false},
        {{"v1", "channels", "*"}, 3, get_channels, NULL, NULL, delete_channel, false},
};

static const struct route *
find(const struct adm_req *r)
{
	unsigned i, k;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (routes[i].n != r->nparts)
			continue;
		for (k = 0; k < r->nparts; k++)
			if (strcmp(routes[i].pat[k], "*") && strcmp(routes[i].pat[k], r->parts[k]))
				break;
		if (k == r->nparts)
			return &routes[i];
	}
	return NULL;
}

adm_handler_fn
adm_route(struct adm_req *r, char *allow, size_t allow_len)
{
	const struct route *rt = find(r);
	adm_handler_fn fn = NULL;

	allow[0] = '\0';
	if (!rt)
		return NULL;
	switch (r->method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		fn = rt->get;
		break;
	case EVHTTP_REQ_PUT:
		fn = rt->put;
		break;
	case EVHTTP_REQ_POST:
		fn = rt->post;
		break;
	case EVHTTP_REQ_DELETE:
		fn = rt->del;
		break;
	default:
		break;
	}
	if (!fn)
		snprintf(allow, allow_len, "%s%s%s%s", rt->get ? "GET, HEAD, " : "",
		         rt->put ? "PUT, " : "", rt->post ? "POST, " : "",
		         rt->del ? "DELETE, " : "");
	if (strlen(allow) >= 2)
		allow[strlen(allow) - 2] = '\0';
	return fn;
}

bool
adm_route_public(const struct adm_req *r)
{
	const struct route *rt = find(r);

	return rt && rt->public;
}
