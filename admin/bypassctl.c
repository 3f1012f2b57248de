/* bypassctl.c - the admin API's command-line client (libcurl): status, policy, tenants, stats. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

/* Exit status (docs/operations.md) */
#define EX_OK    0
#define EX_API   1 /* the server refused: 4xx/5xx */
#define EX_USAGE 2
#define EX_CONN  3 /* cannot connect, TLS */
#define EX_AUTH  4 /* 401/403 */

#define DEFAULT_URL "https://127.0.0.1:8443"

static struct {
	char *url, *token, *cacert, *cert, *key;
	const char *if_match;
	bool json;
	long timeout;
} o = {.timeout = 30};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: bypassctl [options] COMMAND [ARGS]\n"
	        "\n"
	        "commands:\n"
	        "  status                  liveness, readiness, policy generation\n"
	        "  policy get              the active policy (JSON) and its generation\n"
	        "  policy apply FILE       replace the policy (FILE: .json, .yaml or .yml)\n"
	        "  policy validate FILE    check a policy without applying it\n"
	        "  tenants                 the tenants\n"
	        "  rules TENANT            a tenant's rules with their hit counts\n"
	        "  stats                   counters: totals, drops by reason, rules, tenants\n"
	        "  channels                attached apps\n"
	        "  evict ID                detach the app with channel id ID\n"
	        "  hash-token [TOKEN]      SHA-256 of a token (or of stdin's first line) for the\n"
	        "                          tokens file\n"
	        "\n"
	        "options (else BYPASSCTL_URL, _TOKEN, _CACERT, _CERT, _KEY, else the config file):\n"
	        "  -u, --url URL           the API (default " DEFAULT_URL ")\n"
	        "  -t, --token TOKEN       bearer token\n"
	        "      --cacert FILE       CA that signed the server's certificate\n"
	        "      --cert FILE         client certificate (mTLS)\n"
	        "      --key FILE          its key\n"
	        "  -c, --config FILE       key = value lines: url, token, cacert, cert, key\n"
	        "                          (default ~/.config/bypassctl.conf)\n"
	        "      --if-match GEN      apply only if the active generation is GEN\n"
	        "      --json              print the server's JSON instead of tables\n"
	        "      --timeout SECONDS   per request (default 30)\n"
	        "  -h, --help\n"
	        "\n"
	        "exit status: 0 ok, 1 refused by the server, 2 usage, 3 connection or TLS, "
	        "4 authentication\n");
}

static void
set(char **slot, const char *v)
{
	if (*slot || !v || !*v)
		return; /* the first source wins: flags, environment, config file */
	*slot = strdup(v);
}

static int
read_config(const char *path, bool must)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	unsigned n = 0;

	if (!f) {
		if (must) {
			fprintf(stderr, "bypassctl: %s: %s\n", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *v, *e;

		n++;
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '#' || *k == '\n' || !*k)
			continue;
		v = strchr(k, '=');
		if (!v) {
			fprintf(stderr, "bypassctl: %s:%u: expected key = value\n", path, n);
			fclose(f);
			return -1;
		}
		for (e = v; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		for (v++; *v == ' ' || *v == '\t'; v++)
			;
		v[strcspn(v, "\r\n")] = '\0';
		if (!strcmp(k, "url"))
			set(&o.url, v);
		else if (!strcmp(k, "token"))
			set(&o.token, v);
		else if (!strcmp(k, "cacert"))
			set(&o.cacert, v);
		else if (!strcmp(k, "cert"))
			set(&o.cert, v);
		else if (!strcmp(k, "key"))
			set(&o.key, v);
		else {
			fprintf(stderr, "bypassctl: %s:%u: unknown key '%s'\n", path, n, k);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* ---- HTTP ---- */

struct resp {
	long code;
	char *body;
	size_t len;
	char etag[32];
};

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	if (!nb)
		return 0;
	memcpy(nb + r->len, p, sz * n);
	r->body = nb;
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = sz * n;

	if (len > 6 && !strncasecmp(p, "ETag: ", 6))
		snprintf(r->etag, sizeof(r->etag), "%.*s", (int)strcspn(p + 6, "\r\n"), p + 6);
	return len;
}

/* Print the server's error object (message, path, every listed error). */
static void
print_error(const struct resp *r)
{
	json_t *j = json_loads(r->body ? r->body : "", 0, NULL), *e = json_object_get(j, "error");
	json_t *list = json_object_get(e, "errors"), *x;
	size_t i;

	if (!e) {
		fprintf(stderr, "bypassctl: HTTP %ld: %.200s\n", r->code, r->body ? r->body : "");
		json_decref(j);
		return;
	}
	if (json_array_size(list)) {
		fprintf(stderr, "bypassctl: HTTP %ld %s: %zu error%s\n", r->code,
		        json_string_value(json_object_get(e, "code")), json_array_size(list),
		        json_array_size(list) == 1 ? "" : "s");
		json_array_foreach(list, i, x)
		{
			json_t *ln = json_object_get(x, "line");

			if (ln)
				fprintf(stderr,
				        "  %" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT
				        ": %s: %s\n",
				        json_integer_value(ln),
				        json_integer_value(json_object_get(x, "column")),
				        json_string_value(json_object_get(x, "path")),
				        json_string_value(json_object_get(x, "message")));
			else
				fprintf(stderr, "  %s: %s\n",
				        json_string_value(json_object_get(x, "path")),
				        json_string_value(json_object_get(x, "message")));
		}
	} else {
		fprintf(stderr, "bypassctl: HTTP %ld %s: %s%s%s\n", r->code,
		        json_string_value(json_object_get(e, "code")),
		        json_string_value(json_object_get(e, "message")),
		        json_object_get(e, "path") ? " at " : "",
		        json_object_get(e, "path") ? json_string_value(json_object_get(e, "path"))
		                                   : "");
	}
	json_decref(j);
}

/*
 * One request; returns EX_OK with the parsed JSON in *out (NULL for non-JSON bodies), or an
 * exit status after printing why.
 */
static int
request(const char *method, const char *path, const char *ctype, const char *body, size_t blen,
        struct resp *r)
{
	char url[2048], auth[4200], errbuf[CURL_ERROR_SIZE] = "", im[64];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	if (!c) {
		fprintf(stderr, "bypassctl: cannot initialise libcurl\n");
		return EX_CONN;
	}
	snprintf(url, sizeof(url), "%s%s", o.url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, o.timeout);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	if (o.cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, o.cacert);
	if (o.cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, o.cert);
	if (o.key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, o.key);
	if (o.token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o.token);
		h = curl_slist_append(h, auth);
	}
	if (o.if_match) {
		snprintf(im, sizeof(im), "If-Match: \"%s\"", o.if_match);
		h = curl_slist_append(h, im);
	}
	if (body) {
		char ct[128];

		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		h = curl_slist_append(h, ct);
		h = curl_slist_append(h, "Expect:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

		switch (rc) {
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
			fprintf(stderr,
			        "bypassctl: cannot connect to %s: %s (is bypassd running with "
			        "gateway.admin.enabled, and is this its address and port?)\n",
			        o.url, why);
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
			fprintf(stderr,
			        "bypassctl: TLS: the server's certificate is not trusted: %s (give the "
			        "CA that signed it with --cacert or BYPASSCTL_CACERT)\n",
			        why);
			break;
		case CURLE_SSL_CERTPROBLEM:
			fprintf(stderr, "bypassctl: TLS: cannot use the client certificate: %s\n",
			        why);
			break;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_GOT_NOTHING:
			fprintf(stderr,
			        "bypassctl: TLS or connection failure talking to %s: %s (does the "
			        "server require a client certificate? --cert/--key)\n",
			        o.url, why);
			break;
		default:
			fprintf(stderr, "bypassctl: %s: %s\n", url, why);
		}
		free(r->body);
		r->body = NULL;
		return EX_CONN;
	}
	if (r->code == 401 || r->code == 403) {
		print_error(r);
		fprintf(stderr,
		        "bypassctl: %s (token: --token, BYPASSCTL_TOKEN or the config file; "
		        "or a client certificate with a role)\n",
		        r->code == 401 ? "not authenticated" : "not allowed with this role");
		return EX_AUTH;
	}
	if (r->code >= 400) {
		print_error(r);
		return EX_API;
	}
	return EX_OK;
}

static json_t *
parse(const struct resp *r)
{
	json_t *j = json_loads(r->body ? r->body : "", 0, NULL);

	if (!j)
		fprintf(stderr, "bypassctl: the server's answer is not JSON\n");
	return j;
}

static void
print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		puts(s);
	free(s);
}

/* GET path and print it as JSON or with fmt (tables). */
static int
get(const char *path, void (*fmt)(json_t *))
{
	struct resp r;
	int ret = request("GET", path, NULL, NULL, 0, &r);
	json_t *j;

	if (ret == EX_OK) {
		j = parse(&r);
		if (!j)
			ret = EX_API;
		else if (o.json || !fmt)
			print_json(j);
		else
			fmt(j);
		json_decref(j);
	}
	free(r.body);
	return ret;
}

#define S(o, k)                                                 \
	(json_string_value(json_object_get((o), (k)))           \
	         ? json_string_value(json_object_get((o), (k))) \
	         : "-")
#define I(o, k) ((long long)json_integer_value(json_object_get((o), (k))))

static void
fmt_tenants(json_t *a)
{
	json_t *t, *x;
	size_t i, k;

	printf("%-20s %-36s %6s %-6s %-6s %s\n", "TENANT", "ADDRESSES", "RULES", "IN", "OUT",
	       "UDP/TCP PORTS");
	json_array_foreach(a, i, t)
	{
		char addrs[256] = "", ports[256] = "";
		size_t off = 0;

		json_array_foreach(json_object_get(t, "addresses"), k,
		                   x) if (off < sizeof(addrs) - 20) off +=
		        (size_t)snprintf(addrs + off, sizeof(addrs) - off, "%s%s", k ? "," : "",
		                         json_string_value(x));
		off = 0;
		json_array_foreach(json_object_get(json_object_get(t, "ports"), "udp"), k,
		                   x) if (off < sizeof(ports) - 20) off +=
		        (size_t)(json_is_string(x)
		                         ? snprintf(ports + off, sizeof(ports) - off, "%su%s",
		                                    off ? "," : "", json_string_value(x))
		                         : snprintf(ports + off, sizeof(ports) - off, "%su%lld",
		                                    off ? "," : "",
		                                    (long long)json_integer_value(x)));
		json_array_foreach(json_object_get(json_object_get(t, "ports"), "tcp"), k,
		                   x) if (off < sizeof(ports) - 20) off +=
		        (size_t)(json_is_string(x)
		                         ? snprintf(ports + off, sizeof(ports) - off, "%st%s",
		                                    off ? "," : "", json_string_value(x))
		                         : snprintf(ports + off, sizeof(ports) - off, "%st%lld",
		                                    off ? "," : "",
		                                    (long long)json_integer_value(x)));
		printf("%-20s %-36s %6zu %-6s %-6s %s\n", S(t, "name"), addrs,
		       json_array_size(json_object_get(t, "rules")),
		       S(json_object_get(t, "default"), "ingress"),
		       S(json_object_get(t, "default"), "egress"), ports[0] ? ports : "-");
	}
}

static const char *rules_tenant;
static json_t *rules_stats;

static void
fmt_rules(json_t *a)
{
	json_t *x, *s;
	size_t i, k;

	printf("%-24s %8s %-8s %-6s %-6s %12s %14s %s\n", "RULE", "PRIORITY", "DIR", "ACTION",
	       "PROTO", "PACKETS", "BYTES", "RUNS IN");
	json_array_foreach(a, i, x)
	{
		long long pk = 0, by = 0;
		const char *where = "-";
		char proto[16];
		json_t *p = json_object_get(x, "protocol");

		json_array_foreach(json_object_get(rules_stats, "rules"), k,
		                   s) if (!strcmp(S(s, "tenant"), rules_tenant) &&
		                          !strcmp(S(s, "rule"), S(x, "name")))
		{
			pk = I(s, "packets");
			by = I(s, "bytes");
			where = S(s, "runs_in");
		}
		if (json_is_string(p))
			snprintf(proto, sizeof(proto), "%s", json_string_value(p));
		else
			snprintf(proto, sizeof(proto), "%lld", (long long)json_integer_value(p));
		printf("%-24s %8lld %-8s %-6s %-6s %12lld %14lld %s\n", S(x, "name"),
		       I(x, "priority"), S(x, "direction"), S(x, "action"), proto, pk, by, where);
	}
}

static void
fmt_stats(json_t *j)
{
	json_t *t = json_object_get(j, "totals"), *d = json_object_get(j, "drops_by_reason"), *x;
	const char *k;
	size_t i;

	printf("policy generation %lld\n\n", I(j, "policy_generation"));
	printf("%-22s %14lld   %-22s %14lld\n", "rx_packets", I(t, "rx_packets"), "tx_packets",
	       I(t, "tx_packets"));
	printf("%-22s %14lld   %-22s %14lld\n", "udp_rx_delivered", I(t, "udp_rx_delivered"),
	       "udp_tx", I(t, "udp_tx"));
	printf("%-22s %14lld   %-22s %14lld\n", "policy_deny", I(t, "policy_deny"), "meter_drop",
	       I(t, "meter_drop"));
	printf("%-22s %14lld\n\ndrops by reason (non-zero):\n", "drops", I(t, "drops"));
	json_object_foreach(d, k, x) if (json_integer_value(x))
	        printf("  %-28s %14lld\n", k, (long long)json_integer_value(x));
	printf("\n%-12s %-24s %-8s %-6s %12s %14s\n", "TENANT", "RULE", "DIR", "ACTION", "PACKETS",
	       "BYTES");
	json_array_foreach(json_object_get(j, "rules"), i, x)
	        printf("%-12s %-24s %-8s %-6s %12lld %14lld\n", S(x, "tenant"), S(x, "rule"),
	               S(x, "direction"), S(x, "action"), I(x, "packets"), I(x, "bytes"));
	x = json_object_get(j, "conntrack");
	printf("\nconntrack: %lld sessions\n", I(x, "sessions"));
}

static void
fmt_channels(json_t *a)
{
	json_t *x;
	size_t i;

	printf("%-6s %-16s %-16s %8s %6s %6s %12s %12s %10s\n", "ID", "TENANT", "APP", "PID", "UID",
	       "QUEUES", "RX", "TX", "DROPS");
	json_array_foreach(a, i, x)
	        printf("%-6lld %-16s %-16s %8lld %6lld %6lld %12lld %12lld %10lld\n", I(x, "id"),
	               S(x, "tenant"), S(x, "app"), I(x, "pid"), I(x, "uid"),
	               (long long)json_array_size(json_object_get(x, "queues")), I(x, "rx"),
	               I(x, "tx"), I(x, "drops"));
}

static int
cmd_status(void)
{
	struct resp r;
	int ret = request("GET", "/v1/health", NULL, NULL, 0, &r);
	json_t *ready = NULL;

	free(r.body);
	if (ret)
		return ret;
	ret = request("GET", "/v1/ready", NULL, NULL, 0, &r);
	if (ret == EX_API && r.code == 503)
		ret = EX_OK; /* not ready is an answer */
	if (ret == EX_OK)
		ready = parse(&r);
	free(r.body);
	if (!ready)
		return ret ? ret : EX_API;
	if (o.json)
		print_json(ready);
	else
		printf("bypassd at %s: alive, %s (port %s, policy generation %lld)\n", o.url,
		       S(ready, "status"),
		       json_is_true(json_object_get(ready, "port_up")) ? "up" : "down",
		       I(ready, "policy_generation"));
	json_decref(ready);
	return EX_OK;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (!f) {
		fprintf(stderr, "bypassctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	do {
		if (*len + 65536 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				fprintf(stderr, "bypassctl: out of memory\n");
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + *len, 1, cap - *len - 1, f);
		*len += n;
	} while (n > 0);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static int
cmd_policy_send(const char *method, const char *path, const char *file)
{
	const char *dot = strrchr(file, '.');
	bool yaml = dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml"));
	struct resp r;
	size_t len;
	char *body = slurp(file, &len);
	json_t *j;
	int ret;

	if (!body)
		return EX_USAGE;
	ret = request(method, path, yaml ? "application/yaml" : "application/json", body, len, &r);
	free(body);
	if (ret == EX_OK && (j = parse(&r))) {
		if (o.json)
			print_json(j);
		else if (json_object_get(j, "generation"))
			printf("applied: generation %lld (was %lld)\n", I(j, "generation"),
			       I(j, "previous_generation"));
		else
			printf("%s: valid\n", file);
		json_decref(j);
	}
	free(r.body);
	return ret;
}

static int
cmd_hash_token(const char *tok)
{
	char line[4096];
	unsigned char md[32];
	unsigned i, n = 0;

	if (!tok) {
		if (!fgets(line, sizeof(line), stdin)) {
			fprintf(stderr, "bypassctl: hash-token: no token on stdin\n");
			return EX_USAGE;
		}
		line[strcspn(line, "\r\n")] = '\0';
		tok = line;
	}
	if (!*tok) {
		fprintf(stderr, "bypassctl: hash-token: empty token\n");
		return EX_USAGE;
	}
	EVP_Digest(tok, strlen(tok), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		printf("%02x", md[i]);
	printf("\n");
	return EX_OK;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"url", required_argument, NULL, 'u'},
	        {"token", required_argument, NULL, 't'},
	        {"cacert", required_argument, NULL, 'A'},
	        {"cert", required_argument, NULL, 'C'},
	        {"key", required_argument, NULL, 'K'},
	        {"config", required_argument, NULL, 'c'},
	        {"if-match", required_argument, NULL, 'm'},
	        {"json", no_argument, NULL, 'j'},
	        {"timeout", required_argument, NULL, 'T'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *cmd;
	char path[1024], *home = getenv("HOME");
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "u:t:c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			set(&o.url, optarg);
			break;
		case 't':
			set(&o.token, optarg);
			break;
		case 'A':
			set(&o.cacert, optarg);
			break;
		case 'C':
			set(&o.cert, optarg);
			break;
		case 'K':
			set(&o.key, optarg);
			break;
		case 'c':
			config = optarg;
			break;
		case 'm':
			o.if_match = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'T':
			o.timeout = strtol(optarg, NULL, 10);
			if (o.timeout <= 0) {
				fprintf(stderr, "bypassctl: --timeout needs a positive number\n");
				return EX_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[optind++];
	if (!strcmp(cmd, "hash-token"))
		return cmd_hash_token(optind < argc ? argv[optind] : NULL);
	set(&o.url, getenv("BYPASSCTL_URL"));
	set(&o.token, getenv("BYPASSCTL_TOKEN"));
	set(&o.cacert, getenv("BYPASSCTL_CACERT"));
	set(&o.cert, getenv("BYPASSCTL_CERT"));
	set(&o.key, getenv("BYPASSCTL_KEY"));
	if (config) {
		if (read_config(config, true))
			return EX_USAGE;
	} else if (home) {
		snprintf(path, sizeof(path), "%s/.config/bypassctl.conf", home);
		if (read_config(path, false))
			return EX_USAGE;
	}
	set(&o.url, DEFAULT_URL);
	if (!o.url) {
		fprintf(stderr, "bypassctl: out of memory\n");
		return EX_USAGE;
	}
	while (strlen(o.url) && o.url[strlen(o.url) - 1] == '/')
		o.url[strlen(o.url) - 1] = '\0';
	curl_global_init(CURL_GLOBAL_DEFAULT);

#define NEED(k)                                                                             \
	do {                                                                                \
		if (argc - optind != (k)) {                                                 \
			fprintf(stderr, "bypassctl: %s: wrong number of arguments\n", cmd); \
			usage(stderr);                                                      \
			ret = EX_USAGE;                                                     \
			goto out;                                                           \
		}                                                                           \
	} while (0)
	if (!strcmp(cmd, "status")) {
		NEED(0);
		ret = cmd_status();
	} else if (!strcmp(cmd, "policy") && optind < argc && !strcmp(argv[optind], "get")) {
		optind++;
		NEED(0);
		ret = get("/v1/policy", NULL);
	} else if (!strcmp(cmd, "policy") && optind < argc && !strcmp(argv[optind], "apply")) {
		optind++;
		NEED(1);
		ret = cmd_policy_send("PUT", "/v1/policy", argv[optind]);
	} else if (!strcmp(cmd, "policy") && optind < argc && !strcmp(argv[optind], "validate")) {
		optind++;
		NEED(1);
		ret = cmd_policy_send("POST", "/v1/policy/validate", argv[optind]);
	} else if (!strcmp(cmd, "tenants")) {
		NEED(0);
		ret = get("/v1/tenants", fmt_tenants);
	} else if (!strcmp(cmd, "rules")) {
		struct resp r;
		char *enc;

		NEED(1);
		rules_tenant = argv[optind];
		if (!o.json) {
			ret = request("GET", "/v1/stats", NULL, NULL, 0, &r);
			rules_stats = ret == EX_OK ? parse(&r) : NULL;
			free(r.body);
			if (ret)
				goto out;
		}
		enc = curl_easy_escape(NULL, rules_tenant, 0);
		snprintf(path, sizeof(path), "/v1/tenants/%s/rules", enc ? enc : "");
		curl_free(enc);
		ret = get(path, fmt_rules);
		json_decref(rules_stats);
	} else if (!strcmp(cmd, "stats")) {
		NEED(0);
		ret = get("/v1/stats", fmt_stats);
	} else if (!strcmp(cmd, "channels")) {
		NEED(0);
		ret = get("/v1/channels", fmt_channels);
	} else if (!strcmp(cmd, "evict")) {
		struct resp r;
		char *end;

		NEED(1);
		strtoul(argv[optind], &end, 10);
		if (!*argv[optind] || *end) {
			fprintf(stderr, "bypassctl: evict: ID must be a channel number\n");
			ret = EX_USAGE;
			goto out;
		}
		snprintf(path, sizeof(path), "/v1/channels/%s", argv[optind]);
		ret = request("DELETE", path, NULL, NULL, 0, &r);
		if (ret == EX_OK)
			printf(o.json ? "%s\n" : "channel %s evicted\n",
			       o.json ? (r.body ? r.body : "{}") : argv[optind]);
		free(r.body);
	} else {
		fprintf(stderr, "bypassctl: unknown command '%s'\n", cmd);
		usage(stderr);
		ret = EX_USAGE;
	}
out:
	curl_global_cleanup();
	return ret;
}
