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
	int fd;

	if (!cfg->audit_log)
		return 0;
	/* 0600 when created: who changed what is for the operator (fopen would give 0666 & ~umask)
	 */
	fd = open(cfg->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	audit_f = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!audit_f) {
		int e = errno;

		if (fd >= 0)
			close(fd);
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
		if (fprintf(audit_f,
		            "%s who=%s what=\"%s\" generation %" PRIu64 " -> %" PRIu64 "\n", ts,
		            r->who, what, old_gen, new_gen) < 0 ||
		    fflush(audit_f))
			ADM_LOG(ERR, "audit_log: cannot append (%s): the line above is the record",
			        strerror(errno));
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
		json_t *o = json_pack("{s:o,s:o}", "path", adm_json_text(x->path), "message",
		                      adm_json_text(x->msg));

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
	e = json_pack("{s:{s:s,s:o,s:o,s:o}}", "error", "code",
	              syntax ? "malformed" : "invalid_policy", "message",
	              adm_json_text(errs->v[0].msg), "path", adm_json_text(errs->v[0].path),
	              "errors", list);
	if (e && syntax && errs->v[0].line) {
		json_t *eo = json_object_get(e, "error");

		json_object_set_new(eo, "line", json_integer(errs->v[0].line));
		json_object_set_new(eo, "column", json_integer(errs->v[0].col));
	}
	adm_reply_json(r, syntax ? 400 : 422, e);
}

/* The active policy as JSON (ctl_lock held), and its generation when gen is not NULL. */
static json_t *
policy_now(struct adm_req *r, uint64_t *gen)
{
	if (gen)
		*gen = gw_policy_generation(r->gw);
	return pol_policy_to_json(r->gw->cfg->policy);
}

static void
set_etag(struct adm_req *r, uint64_t gen)
{
	char v[32];

	snprintf(v, sizeof(v), "\"%" PRIu64 "\"", gen);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "ETag", v);
}

/*
 * s[0..n-1] as a decimal number: digits only (no sign, space or '+' as strtoull would take: "-1"
 * must not wrap to 2^64-1), 1..20 of them, no overflow. 0 or -EINVAL.
 */
static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* If-Match against the active generation: 0 when it matches or is absent (reply sent else).
 * Takes *, N or "N"; a weak tag (W/"N") never matches an If-Match (RFC 9110 13.1.1: strong
 * comparison), a list or anything else is a 400. */
static int
check_if_match(struct adm_req *r, uint64_t cur)
{
	const char *h = header(r, "If-Match");
	size_t n;
	uint64_t v;

	if (!h || !strcmp(h, "*"))
		return 0;
	n = strlen(h);
	if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
		h++;
		n -= 2;
	}
	if (parse_u64(h, n, &v)) {
		adm_reply_error(r, 400, "bad_if_match", NULL,
		                "If-Match must be one policy generation (a number, or \"N\")");
		return -1;
	}
	if (v != cur) {
		adm_reply_error(r, 409, "stale", NULL,
		                "If-Match generation %" PRIu64
		                " is stale: the active generation is %" PRIu64
		                " (GET it again, reapply your change)",
		                v, cur);
		return -1;
	}
	return 0;
}

/* fsync the directory holding path: 0 or -errno */
static int
sync_dir(const char *path)
{
	char *d = strdup(path);
	int fd, ret = 0;

	if (!d)
		return -ENOMEM;
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(d);
	return ret;
}

/*
 * Write text to a new temporary file beside path, fsynced: its name in tmp (owned). The file gets
 * the mode and owner of the file it will replace (0600, the caller's, when there is none yet): an
 * operator's chmod 600 on a policy file survives a change over the API.
 */
static int
write_temp(const char *path, const char *text, char **tmp)
{
	size_t len = strlen(text), off = 0;
	mode_t mode = 0600;
	struct stat st;
	char *name;
	int fd, e;

	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		mode = st.st_mode & 07777;
	if (asprintf(&name, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkstemp(name); /* 0600 */
	if (fd < 0) {
		e = errno;
		free(name);
		return -e;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			goto fail;
		}
		off += (size_t)n;
	}
	if (S_ISREG(st.st_mode) && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
	    fchown(fd, st.st_uid, st.st_gid)) {
		e = errno;
		goto fail;
	}
	if (fchmod(fd, mode) || fsync(fd)) {
		e = errno;
		goto fail;
	}
	if (close(fd)) {
		e = errno;
		fd = -1;
		goto fail;
	}
	*tmp = name;
	return 0;
fail:
	if (fd >= 0)
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

#define LOCK(r)   pthread_mutex_lock(&(r)->gw->ctl_lock)
#define UNLOCK(r) pthread_mutex_unlock(&(r)->gw->ctl_lock)

/*
 * The path of every mutation. Called without ctl_lock: the control loop holds that lock whenever
 * it is not in poll (heartbeats every BP_HEARTBEAT_MS, app attach, signals), so the slow steps —
 * converting and checking the new policy, writing and fsyncing the temporary file, fsyncing the
 * directory — run outside it. base is the generation p was derived from (0: a whole policy,
 * derived from nothing). Steps: If-Match against base; validate p; write it to a temporary file
 * beside the policy file (fsync); then under ctl_lock: the generation must still be base (else
 * a SIGHUP reload came in between: 409 stale), apply (check, compile, publish), rename the file
 * over the policy file (under the lock, so a SIGHUP reload never reads the old file back over the
 * new policy); then fsync the directory, audit, reply {"generation", "previous_generation"}.
 * Borrows p.
 */
static void
commit(struct adm_req *r, json_t *p, const char *what, int ok_code, uint64_t base)
{
	struct gw *gw = r->gw;
	struct pol_cfg_errs errs = {0};
	struct pol_policy *pol;
	uint64_t cur, gen = 0;
	char *text = NULL, *tmp = NULL, *real = NULL;
	const char *file;
	int ret, e;

	LOCK(r);
	cur = gw_policy_generation(gw);
	file = gw->cfg->policy_file;
	UNLOCK(r);
	if (!base)
		base = cur;
	if (check_if_match(r, base))
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
	/* a symlinked policy file (a config management tool's layout) stays a symlink: the new
	 * file replaces its target, beside it */
	real = realpath(file, NULL);
	ret = text ? write_temp(real ? real : file, text, &tmp) : -ENOMEM;
	if (ret) {
		pol_policy_free(pol);
		adm_reply_error(r, 500, "persist_failed", NULL,
		                "cannot write the policy file beside %s: %s (nothing applied)",
		                file, strerror(-ret));
		goto out;
	}
	LOCK(r);
	cur = gw_policy_generation(gw);
	if (cur != base) {
		UNLOCK(r);
		pol_policy_free(pol);
		unlink(tmp);
		adm_reply_error(r, 409, "stale", NULL,
		                "the policy changed meanwhile (generation %" PRIu64 " -> %" PRIu64
		                ", a reload): GET it again, reapply your change",
		                base, cur);
		goto out;
	}
	if (gw_policy_apply(gw, pol, &errs, &gen)) {
		e = errno;
		UNLOCK(r);
		unlink(tmp);
		reply_errs(r, &errs, e);
		goto out;
	}
	e = rename(tmp, real ? real : file) ? errno : 0;
	UNLOCK(r);
	if (e) {
		/* memory runs gen, the file still holds base: a restart or SIGHUP goes back to it
		 */
		ADM_LOG(ERR,
		        "policy generation %" PRIu64 " applied but not persisted: %s: %s (the file "
		        "still holds generation %" PRIu64 "; a restart or SIGHUP reverts to it)",
		        gen, file, strerror(e), base);
		unlink(tmp);
		audit(r, what, base, gen);
		adm_reply_error(r, 500, "persist_failed", NULL,
		                "generation %" PRIu64
		                " applied but not written to %s: %s; the file "
		                "still holds generation %" PRIu64 " (a restart or SIGHUP reverts)",
		                gen, file, strerror(e), base);
		goto out;
	}
	ret = sync_dir(real ? real : file);
	if (ret)
		ADM_LOG(WARNING, "policy file %s renamed, but fsync of its directory failed: %s",
		        file, strerror(-ret));
	audit(r, what, base, gen);
	set_etag(r, gen);
	adm_reply_json(r, ok_code,
	               json_pack("{s:I,s:I}", "generation", (json_int_t)gen, "previous_generation",
	                         (json_int_t)base));
out:
	free(text);
	free(tmp);
	free(real);
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
		json_t *e = json_pack("{s:{s:s,s:o,s:s,s:i,s:i}}", "error", "code", "malformed",
		                      "message", adm_json_text(je.text), "path", "(document)",
		                      "line", je.line, "column", je.column);

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
	p = policy_now(r, NULL);
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
	commit(r, j, "PUT /v1/policy", 200, 0);
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
	p = policy_now(r, NULL);
	UNLOCK(r);
	adm_reply_json(r, 200, p ? json_incref(json_object_get(p, "tenants")) : NULL);
	json_decref(p);
}

/*
 * A copy of the active policy as JSON (owned) and its generation, for a handler to read or
 * change; with a tenant (parts[2]) to find, *ti is its index: NULL after replying 404 when there
 * is no such tenant (or 500), else *ti is -1 when want_tenant is false and it does not exist.
 */
static json_t *
snapshot(struct adm_req *r, uint64_t *base, bool want_tenant, int *ti)
{
	json_t *p;

	LOCK(r);
	p = policy_now(r, base);
	UNLOCK(r);
	if (!p || !json_is_array(json_object_get(p, "tenants"))) {
		json_decref(p);
		adm_reply_error(r, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	*ti = tenant_index(p, r->parts[2]);
	if (*ti < 0 && want_tenant) {
		json_decref(p);
		adm_reply_error(r, 404, "not_found", NULL, "no tenant '%s'", r->parts[2]);
		return NULL;
	}
	return p;
}

static json_t *
tenant_at(json_t *p, int i)
{
	return json_array_get(json_object_get(p, "tenants"), (size_t)i);
}

/* GET /v1/tenants/NAME and /v1/tenants/NAME/rules[/RULE] */
static void
get_tenant(struct adm_req *r)
{
	json_t *p, *t, *out = NULL;
	uint64_t gen;
	int i, k;

	p = snapshot(r, &gen, true, &i);
	if (!p)
		return;
	t = tenant_at(p, i);
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
	json_t *t = body_json(r), *p = NULL, *nm;
	char what[128];
	uint64_t base;
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
	p = snapshot(r, &base, false, &i);
	if (!p)
		goto out;
	if (i >= 0)
		json_array_set(json_object_get(p, "tenants"), (size_t)i, t);
	else
		json_array_append(json_object_get(p, "tenants"), t);
	commit(r, p, what, i >= 0 ? 200 : 201, base);
out:
	json_decref(p);
	json_decref(t);
}

static void
delete_tenant(struct adm_req *r)
{
	json_t *p;
	char what[128];
	uint64_t base;
	int i;

	p = snapshot(r, &base, true, &i);
	if (!p)
		return;
	json_array_remove(json_object_get(p, "tenants"), (size_t)i);
	snprintf(what, sizeof(what), "DELETE /v1/tenants/%s", r->parts[2]);
	/* gw_policy_apply detaches the apps of a tenant that is gone (gw_chan_policy_reconcile) */
	commit(r, p, what, 200, base);
	json_decref(p);
}

static void
post_rule(struct adm_req *r)
{
	json_t *x = body_json(r), *p = NULL, *t, *nm;
	char what[160];
	uint64_t base;
	int i;

	if (!x)
		return;
	nm = json_object_get(x, "name");
	if (!json_is_object(x) || !json_is_string(nm)) {
		adm_reply_error(r, 422, "invalid_policy", "rule",
		                "expected a rule (a JSON object with a name, priority, ...)");
		goto out;
	}
	p = snapshot(r, &base, true, &i);
	if (!p)
		goto out;
	t = tenant_at(p, i);
	if (rule_index(t, json_string_value(nm)) >= 0) {
		adm_reply_error(r, 409, "conflict", NULL,
		                "tenant '%s' already has a rule '%s' (DELETE it first)",
		                r->parts[2], json_string_value(nm));
		goto out;
	}
	json_array_append(json_object_get(t, "rules"), x);
	snprintf(what, sizeof(what), "POST /v1/tenants/%s/rules %s", r->parts[2],
	         json_string_value(nm));
	commit(r, p, what, 201, base);
out:
	json_decref(p);
	json_decref(x);
}

static void
delete_rule(struct adm_req *r)
{
	json_t *p, *t;
	char what[160];
	uint64_t base;
	int i, k;

	p = snapshot(r, &base, true, &i);
	if (!p)
		return;
	t = tenant_at(p, i);
	k = rule_index(t, r->parts[4]);
	if (k < 0) {
		adm_reply_error(r, 404, "not_found", NULL, "no rule '%s' in tenant '%s'",
		                r->parts[4], r->parts[2]);
		json_decref(p);
		return;
	}
	json_array_remove(json_object_get(t, "rules"), (size_t)k);
	snprintf(what, sizeof(what), "DELETE /v1/tenants/%s/rules/%s", r->parts[2], r->parts[4]);
	commit(r, p, what, 200, base);
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

/* The channel id of /v1/channels/ID: 0, or the 404 was sent. */
static int
channel_id(struct adm_req *r, uint64_t *id)
{
	if (!parse_u64(r->parts[2], strlen(r->parts[2]), id))
		return 0;
	adm_reply_error(r, 404, "not_found", NULL, "no channel %s (IDs are numbers)", r->parts[2]);
	return -1;
}

static void
get_channels(struct adm_req *r)
{
	struct gw_chan_list l;
	json_t *a;
	uint64_t now, id = 0;
	unsigned i;
	int ret;

	if (r->nparts == 3 && channel_id(r, &id))
		return;
	a = json_array();
	LOCK(r);
	ret = gw_chan_list(r->gw, &l);
	now = gw_now_ns(r->gw);
	UNLOCK(r);
	if (ret || !a) {
		if (!ret)
			gw_chan_list_free(&l);
		json_decref(a);
		adm_reply_error(r, 500, "internal", NULL, "out of memory");
		return;
	}
	for (i = 0; i < l.n; i++)
		if (r->nparts < 3 || id == l.apps[i].id)
			json_array_append_new(a, adm_chan_json(&l.apps[i], now));
	gw_chan_list_free(&l);
	if (r->nparts == 3) {
		if (!json_array_size(a)) {
			json_decref(a);
			adm_reply_error(r, 404, "not_found", NULL, "no channel %" PRIu64, id);
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
	char what[64], why[sizeof(r->who) + 32];
	uint64_t id, gen;
	int ret;

	if (channel_id(r, &id))
		return;
	LOCK(r);
	snprintf(why, sizeof(why), "over the admin API by %s", r->who);
	ret = gw_chan_evict(r->gw, id, why);
	gen = gw_policy_generation(r->gw);
	UNLOCK(r);
	if (ret) {
		adm_reply_error(r, 404, "not_found", NULL,
		                "no attached app with channel id %" PRIu64, id);
		return;
	}
	snprintf(what, sizeof(what), "DELETE /v1/channels/%" PRIu64, id);
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
