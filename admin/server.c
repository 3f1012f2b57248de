/* server.c - the admin API's HTTPS server: TLS and mTLS, connection limits, auth, dispatch. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <rte_lcore.h>

#include "adm.h"
#include "adm_priv.h"

RTE_LOG_REGISTER(adm_logtype, bypassd.admin, INFO);

/* One open TLS connection; freed with its SSL (ex_data free callback). */
struct conn {
	struct bufferevent *bev;
	struct event *deadline; /* a request (head and body) must be complete by then */
	bool over;              /* beyond max_connections: closed at once */
};

static struct {
	struct gw *gw;
	const struct pol_cfg_admin *cfg;
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ssl;
	struct adm_tokens tokens;
	struct event *stop_ev;
	int stop_fd;
	pthread_t thr;
	bool running;
	unsigned nconns;
	int conn_idx; /* SSL ex_data index of struct conn */
} A = {.stop_fd = -1, .conn_idx = -1};

/* ---- replies ---- */

static void
common_headers(struct adm_req *r, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

void
adm_reply_text(struct adm_req *r, int code, const char *ctype, const char *text, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	common_headers(r, ctype);
	if (b)
		evbuffer_add(b, text, len);
	evhttp_send_reply(r->req, code, NULL, b);
	if (b)
		evbuffer_free(b);
}

void
adm_reply_json(struct adm_req *r, int code, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	json_decref(body);
	if (!s) {
		static const char oom[] =
		        "{\"error\": {\"code\": \"internal\", \"message\": \"out of memory\"}}\n";

		adm_reply_text(r, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	adm_reply_text(r, code, "application/json", s, strlen(s));
	free(s);
}

void
adm_reply_error(struct adm_req *r, int code, const char *ecode, const char *path, const char *fmt,
                ...)
{
	char msg[1024];
	va_list ap;
	json_t *e;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = json_pack("{s:{s:s,s:s}}", "error", "code", ecode, "message", msg);
	if (e && path)
		json_object_set_new(json_object_get(e, "error"), "path", json_string(path));
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
		                  "Bearer realm=\"bypassd\"");
	adm_reply_json(r, code, e);
}

/* ---- connections ---- */

static void
conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct conn *c = ptr;

	if (!c)
		return;
	if (c->deadline)
		event_free(c->deadline);
	free(c);
	A.nconns--;
}

/* The deadline passed (or the connection is one too many): shut the socket; evhttp sees the
 * end of the stream and frees the connection. */
static void
on_deadline(evutil_socket_t fd_unused, short what, void *arg)
{
	struct conn *c = arg;
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (!c->over)
		ADM_LOG(INFO, "closing a connection: no complete request within %u s",
		        A.cfg->request_timeout_s);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static struct bufferevent *
new_bev(struct event_base *base, void *arg)
{
	struct timeval tv = {.tv_sec = A.cfg->request_timeout_s};
	struct bufferevent *bev;
	struct conn *c;
	SSL *ssl = SSL_new(A.ssl);

	c = calloc(1, sizeof(*c));
	if (!ssl || !c || !SSL_set_ex_data(ssl, A.conn_idx, c)) {
		free(c);
		SSL_free(ssl);
		return NULL; /* evhttp falls back to a plain socket: on_request refuses it */
	}
	A.nconns++; /* from here conn_free_cb counts it down */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return NULL; /* the SSL was freed with it */
	c->bev = bev;
	c->deadline = evtimer_new(base, on_deadline, c);
	if (A.nconns > A.cfg->max_connections) {
		static unsigned warned;

		c->over = true;
		tv.tv_sec = 0;
		if (!warned++)
			ADM_LOG(WARNING, "more than %u connections: closing new ones",
			        A.cfg->max_connections);
	}
	if (c->deadline)
		evtimer_add(c->deadline, &tv);
	return bev;
}

static struct conn *
conn_of(struct evhttp_request *req, SSL **ssl_out)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev && A.ssl ? bufferevent_openssl_get_ssl(bev) : NULL;

	*ssl_out = ssl;
	return ssl ? SSL_get_ex_data(ssl, A.conn_idx) : NULL;
}

/* ---- authentication ---- */

/* The verified client certificate's subject (RFC 2253) into buf; false when there is none. */
static bool
cert_subject(SSL *ssl, char *buf, size_t len, long *verify)
{
	X509 *x = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	BIO *b;
	int n;

	*verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (!x)
		return false;
	b = BIO_new(BIO_s_mem());
	if (!b)
		return false;
	X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	n = BIO_read(b, buf, (int)len - 1);
	BIO_free(b);
	buf[n > 0 ? n : 0] = '\0';
	return true;
}

/* 0 with r->role and r->who set, or the reply was sent (401). */
static int
authenticate(struct adm_req *r, SSL *ssl)
{
	const char *h =
	        evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	char subject[256];
	long verify;
	bool have_cert = cert_subject(ssl, subject, sizeof(subject), &verify);

	if (h) {
		const struct adm_token *t;

		if (strncasecmp(h, "Bearer ", 7)) {
			adm_reply_error(r, 401, "unauthorized", NULL,
			                "the Authorization header must be 'Bearer TOKEN'");
			return -1;
		}
		h += 7;
		while (*h == ' ')
			h++;
		t = adm_token_check(&A.tokens, h, strlen(h));
		if (!t) {
			adm_reply_error(r, 401, "unauthorized", NULL, "unknown token");
			return -1;
		}
		r->role = t->role;
		snprintf(r->who, sizeof(r->who), "token:%s", t->name);
		return 0;
	}
	if (have_cert) {
		enum pol_admin_role role;

		if (verify != X509_V_OK) {
			adm_reply_error(r, 401, "unauthorized", NULL,
			                "client certificate not accepted: %s",
			                X509_verify_cert_error_string(verify));
			return -1;
		}
		role = adm_cert_role(A.cfg, subject);
		if (role == POL_ROLE_NONE) {
			adm_reply_error(r, 401, "unauthorized", NULL,
			                "client certificate '%s' has no role (cert_roles)",
			                subject);
			return -1;
		}
		r->role = role;
		snprintf(r->who, sizeof(r->who), "cert:%s", subject);
		return 0;
	}
	adm_reply_error(r, 401, "unauthorized", NULL,
	                "credentials needed: a bearer token or a client certificate");
	return -1;
}

/* ---- dispatch ---- */

static int
split_path(struct adm_req *r, char *path)
{
	char *save = NULL, *tok;

	r->nparts = 0;
	for (tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (r->nparts == sizeof(r->parts) / sizeof(r->parts[0]))
			return -1;
		r->parts[r->nparts++] = tok;
	}
	return 0;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct adm_req r = {.req = req, .gw = A.gw, .cfg = A.cfg};
	const char *uri = evhttp_request_get_uri(req);
	struct evhttp_uri *u = NULL;
	char allow[64], *path = NULL;
	struct conn *c;
	SSL *ssl;
	adm_handler_fn fn;

	c = conn_of(req, &ssl);
	if (c && c->deadline)
		evtimer_del(c->deadline);
	r.method = evhttp_request_get_command(req);
	if (A.ssl && !ssl) {
		/* new_bev failed (out of memory) and evhttp fell back to a plain socket: never
		 * serve a request outside TLS */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		adm_reply_error(&r, 503, "internal", NULL, "out of memory: connection refused");
		return;
	}
	if (!uri) {
		/* evhttp's own failure: the body was too large */
		int code = evhttp_request_get_response_code(req);

		if (code == 413 || code == 0)
			adm_reply_error(&r, 413, "too_large", NULL,
			                "request body larger than max_body (%u bytes)",
			                A.cfg->max_body);
		else
			adm_reply_error(&r, code, "bad_request", NULL, "malformed request");
		return;
	}
	u = evhttp_uri_parse(uri);
	path = u && evhttp_uri_get_path(u) ? evhttp_uridecode(evhttp_uri_get_path(u), 0, NULL)
	                                   : NULL;
	if (!path || split_path(&r, path)) {
		adm_reply_error(&r, 404, "not_found", NULL, "no such resource");
		goto out;
	}
	fn = adm_route(&r, allow, sizeof(allow));
	if (!fn) {
		if (allow[0]) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
			adm_reply_error(&r, 405, "method_not_allowed", NULL,
			                "method not allowed here; allowed: %s", allow);
		} else {
			adm_reply_error(&r, 404, "not_found", NULL, "no such resource: %s", uri);
		}
		goto out;
	}
	if (!adm_route_public(&r)) {
		if (authenticate(&r, ssl))
			goto out;
		if (r.method != EVHTTP_REQ_GET && r.method != EVHTTP_REQ_HEAD &&
		    r.role != POL_ROLE_ADMIN) {
			adm_reply_error(&r, 403, "forbidden", NULL,
			                "%s may read only (role read); this needs role admin",
			                r.who);
			goto out;
		}
	}
	{
		struct evbuffer *in = evhttp_request_get_input_buffer(req);

		r.body_len = evbuffer_get_length(in);
		r.body = malloc(r.body_len + 1);
		if (!r.body) {
			adm_reply_error(&r, 500, "internal", NULL, "out of memory");
			goto out;
		}
		evbuffer_copyout(in, r.body, r.body_len);
		r.body[r.body_len] = '\0';
	}
	fn(&r);
out:
	if (c && c->deadline && !c->over) {
		struct timeval tv = {.tv_sec = A.cfg->request_timeout_s};

		evtimer_add(c->deadline, &tv); /* the next request on this connection */
	}
	free(r.body);
	free(path);
	if (u)
		evhttp_uri_free(u);
}

/* ---- TLS ---- */

static int
verify_any(int ok, X509_STORE_CTX *ctx)
{
	return 1; /* optional mTLS: the result is checked per request (401 with the reason) */
}

static void
log_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error())) {
		ERR_error_string_n(e, buf, sizeof(buf));
		ADM_LOG(ERR, "%s: %s", what, buf);
	}
}

static SSL_CTX *
tls_ctx(const struct pol_cfg_admin *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		log_ssl_errors(cfg->tls_cert);
		ADM_LOG(ERR, "tls.cert %s: cannot load the certificate", cfg->tls_cert);
		goto fail_ctx;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl_errors(cfg->tls_key);
		ADM_LOG(ERR, "tls.key %s: cannot load the key, or it does not match tls.cert",
		        cfg->tls_key);
		goto fail_ctx;
	}
	if (cfg->client_ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca);

		if (!names || SSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != 1) {
			log_ssl_errors(cfg->client_ca);
			ADM_LOG(ERR, "tls.client_ca %s: cannot load", cfg->client_ca);
			goto fail_ctx;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		if (cfg->require_client_cert)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			                   NULL);
		else
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_any);
		SSL_CTX_set_verify_depth(ctx, 4);
	}
	return ctx;
fail_ctx:
	SSL_CTX_free(ctx);
fail:
	return NULL;
}

/* ---- thread ---- */

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(A.base);
}

static void *
adm_thread(void *arg)
{
	sigset_t pipe;

	/* a client that goes away mid-reply must cost an EPIPE, not the process (SIGPIPE is sent
	 * to the writing thread; blocked, it stays pending and harmless) */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	pthread_setname_np(pthread_self(), "bypassd-admin");
	event_base_dispatch(A.base);
	return NULL;
}

static void
cleanup(void)
{
	if (A.stop_ev)
		event_free(A.stop_ev);
	A.stop_ev = NULL;
	if (A.http)
		evhttp_free(A.http); /* frees open connections (and their SSLs) */
	A.http = NULL;
	if (A.base)
		event_base_free(A.base);
	A.base = NULL;
	if (A.ssl)
		SSL_CTX_free(A.ssl);
	A.ssl = NULL;
	if (A.stop_fd >= 0)
		close(A.stop_fd);
	A.stop_fd = -1;
	adm_tokens_free(&A.tokens);
	adm_audit_close();
}

/*
 * The CPUs the admin thread may use: the main lcore's (the control thread's) without those any
 * worker lcore is pinned to; the main lcore's own when that leaves none. A busy API never takes a
 * worker's core. Returns the count.
 */
static unsigned
control_cpus(cpu_set_t *set)
{
	rte_cpuset_t main_set = rte_lcore_cpuset(rte_get_main_lcore());
	unsigned lcore, cpu, n = 0;

	CPU_ZERO(set);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &main_set))
			CPU_SET(cpu, set);
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		rte_cpuset_t w = rte_lcore_cpuset(lcore);

		for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
			if (CPU_ISSET(cpu, &w))
				CPU_CLR(cpu, set);
	}
	n = (unsigned)CPU_COUNT(set);
	if (n == 0) {
		for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
			if (CPU_ISSET(cpu, &main_set))
				CPU_SET(cpu, set);
		n = (unsigned)CPU_COUNT(set);
	}
	return n;
}

int
adm_start(struct gw *gw)
{
	const struct pol_cfg_admin *cfg = &gw->cfg->gw.admin;
	const char *addr = gw->cfg->gw.admin_addr;
	char err[256];
	int ret;

	if (!cfg->enabled) {
		ADM_LOG(INFO, "admin API disabled (gateway.admin.enabled)");
		return 0;
	}
	A.gw = gw;
	A.cfg = cfg;
	if (cfg->tokens_file) {
		ret = adm_tokens_load(cfg->tokens_file, &A.tokens, err, sizeof(err));
		if (ret) {
			ADM_LOG(ERR, "tokens_file %s: %s", cfg->tokens_file, err);
			goto fail;
		}
	}
	ret = adm_audit_open(cfg);
	if (ret)
		goto fail;
	if (!cfg->plain_http) {
		if (A.conn_idx < 0)
			A.conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
		A.ssl = tls_ctx(cfg);
		if (!A.ssl || A.conn_idx < 0) {
			ret = -EINVAL;
			goto fail;
		}
	}
	ret = -ENOMEM;
	A.base = event_base_new();
	A.http = A.base ? evhttp_new(A.base) : NULL;
	A.stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!A.http || A.stop_fd < 0)
		goto fail;
	A.stop_ev = event_new(A.base, A.stop_fd, EV_READ, on_stop, NULL);
	if (!A.stop_ev || event_add(A.stop_ev, NULL))
		goto fail;
	evhttp_set_allowed_methods(A.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                           EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
	                                           EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(A.http, cfg->max_body);
	evhttp_set_max_headers_size(A.http, 16384);
	evhttp_set_timeout(A.http, (int)cfg->idle_timeout_s);
	/* a body over max_body is read and discarded before the 413, so that the client sees the
	 * answer rather than a reset (libevent 2.1 writes that reply's small HTML body itself) */
	evhttp_set_flags(A.http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_default_content_type(A.http, "application/json");
	evhttp_set_gencb(A.http, on_request, NULL);
	if (A.ssl)
		evhttp_set_bevcb(A.http, new_bev, NULL);
	if (!evhttp_bind_socket_with_handle(A.http, addr, gw->cfg->gw.admin_port)) {
		ret = -errno ? -errno : -EADDRINUSE;
		ADM_LOG(ERR, "cannot listen on %s:%u: %s", addr, gw->cfg->gw.admin_port,
		        strerror(-ret));
		goto fail;
	}
	if (cfg->plain_http)
		ADM_LOG(WARNING, "plain HTTP on %s:%u (plain_http: true): no TLS, loopback only",
		        addr, gw->cfg->gw.admin_port);
	{
		pthread_attr_t attr;
		cpu_set_t cpus;
		char list[256] = "";
		size_t off = 0;
		unsigned c;

		pthread_attr_init(&attr);
		if (control_cpus(&cpus))
			pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
		ret = pthread_create(&A.thr, &attr, adm_thread, NULL);
		pthread_attr_destroy(&attr);
		if (ret) {
			ret = -ret;
			goto fail;
		}
		for (c = 0; c < CPU_SETSIZE && off < sizeof(list) - 8; c++)
			if (CPU_ISSET(c, &cpus))
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%u",
				                        off ? "," : "", c);
		ADM_LOG(INFO, "admin thread on CPUs %s (the control cores, no worker's)", list);
	}
	A.running = true;
	ADM_LOG(NOTICE, "listening on %s://%s:%u (%s%s, %u tokens, %u certificate roles)",
	        cfg->plain_http ? "http" : "https", addr, gw->cfg->gw.admin_port,
	        cfg->plain_http ? "plain" : "TLS 1.2+",
	        cfg->client_ca ? (cfg->require_client_cert ? ", client certificate required"
	                                                   : ", client certificates verified")
	                       : "",
	        A.tokens.n, cfg->n_cert_roles);
	return 0;
fail:
	ADM_LOG(ERR, "admin API not started: %s", strerror(-ret));
	cleanup();
	return ret;
}

void
adm_stop(void)
{
	uint64_t one = 1;

	if (!A.running)
		return;
	if (write(A.stop_fd, &one, sizeof(one)) != sizeof(one))
		ADM_LOG(ERR, "cannot wake the admin thread: %s", strerror(errno));
	pthread_join(A.thr, NULL);
	A.running = false;
	cleanup();
	ADM_LOG(INFO, "stopped");
}
