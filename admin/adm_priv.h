/* adm_priv.h - between the admin API's files (admin/ only). */
#ifndef BYPASSD_ADMIN_ADM_PRIV_H
#define BYPASSD_ADMIN_ADM_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/http.h>
#include <jansson.h>
#include <rte_log.h>

#include "auth.h"
#include "gw.h"

extern int adm_logtype;
#define ADM_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, adm_logtype, "ADMIN: " fmt "\n", ##__VA_ARGS__)

/* One request being served: what the routes need. */
struct adm_req {
	struct evhttp_request *req;
	struct gw *gw;
	const struct pol_cfg_admin *cfg;
	enum evhttp_cmd_type method;
	const char *parts[6]; /* path segments after the leading '/', decoded */
	unsigned nparts;
	char who[300]; /* "token:NAME" or "cert:SUBJECT" (audit) */
	enum pol_admin_role role;
	bool yaml_body; /* the body was YAML: errors carry its line and column */
	char *body;     /* NUL-terminated copy of the request body */
	size_t body_len;
};

/* Replies (each sends the response; call exactly one). */
void adm_reply_json(struct adm_req *r, int code, json_t *body /* stolen */);
void adm_reply_text(struct adm_req *r, int code, const char *ctype, const char *text, size_t len);
/* {"error": {"code", "message", "path"}}; path may be NULL. */
void adm_reply_error(struct adm_req *r, int code, const char *ecode, const char *path,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* routes.c */
typedef void (*adm_handler_fn)(struct adm_req *r);
/* Find the handler of r's path and method: NULL with *allow set (methods the path has, as an
 * Allow header value; "" when the path is unknown). */
adm_handler_fn adm_route(struct adm_req *r, char *allow, size_t allow_len);
/* Whether the route needs no credentials (health). */
bool adm_route_public(const struct adm_req *r);
/* Open the audit log (cfg->audit_log), close it. */
int adm_audit_open(const struct pol_cfg_admin *cfg);
void adm_audit_close(void);

/* metrics.c: the counters as JSON (GET /v1/stats) and Prometheus text (GET /metrics); both take
 * ctl_lock themselves. */
json_t *adm_stats_json(struct gw *gw);
/* One attached app as JSON: identity, totals over its queues, each queue, its sockets. */
json_t *adm_chan_json(const struct gw_chan_info *c, uint64_t now_ns);
char *adm_metrics_text(struct gw *gw, size_t *len);

#endif
