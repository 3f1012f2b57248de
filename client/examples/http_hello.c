/* http_hello.c - HTTP/1.1 over libbypass streams: keep-alive, pipelining, one fixed response. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bypass/bypass.h>

#define BATCH   64
#define SLOTS   65536 /* connection ids: (generation << 16) | slot */
#define REQ_MAX 8192  /* request head bytes a connection may buffer */

static const char body[] = "Hello from bypassd!\n";

static volatile sig_atomic_t stop;

struct conn {
	uint32_t id;
	bool closing; /* answered a request that asked to close: ignore the rest */
	size_t skip;  /* request body bytes still to skip */
	size_t len;
	char req[REQ_MAX];
};

static struct conn *conns[SLOTS];
static uint64_t served;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct conn *
conn_of(uint32_t id)
{
	struct conn *c = conns[id & 0xffff];

	return c && c->id == id ? c : NULL;
}

static void
conn_free(uint32_t id)
{
	struct conn *c = conn_of(id);

	if (c) {
		conns[id & 0xffff] = NULL;
		free(c);
	}
}

/* The value of header name in head (NUL-terminated, lines end in CRLF), or NULL. */
static const char *
header(const char *head, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r' && p[2]) {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end)
			return NULL;
		if ((size_t)(end - line) > n && !strncasecmp(line, name, n) && line[n] == ':') {
			const char *v = line + n + 1;

			while (*v == ' ' || *v == '\t')
				v++;
			*vlen = (size_t)(end - v);
			while (*vlen && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t'))
				(*vlen)--;
			return v;
		}
		p = end;
	}
	return NULL;
}

static bool
has_token(const char *v, size_t len, const char *tok)
{
	size_t n = strlen(tok), i;

	for (i = 0; i + n <= len; i++)
		if (!strncasecmp(v + i, tok, n) && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
		    (i + n == len || v[i + n] == ',' || v[i + n] == ' '))
			return true;
	return false;
}

/* Queue one response; close: say so and send FIN after it. 0 or a negative error. */
static int
respond(struct bp_queue *q, struct conn *c, int status, bool close)
{
	char *b = bp_buf_alloc(q);
	int n, r;

	if (!b)
		return -ENOBUFS;
	if (status == 200)
		n = snprintf(
		        b, bp_buf_size(q),
		        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		        "%s\r\n%s",
		        sizeof(body) - 1, close ? "Connection: close\r\n" : "", body);
	else
		n = snprintf(b, bp_buf_size(q),
		             "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
		             "Connection: close\r\n\r\n");
	r = bp_tcp_send(q, c->id, b, (uint32_t)n, 0);
	if (r < 0) {
		bp_buf_free(q, b);
		return r;
	}
	served++;
	if (close) {
		c->closing = true;
		bp_tcp_shutdown(q, c->id);
	}
	return 0;
}

/* Answer every complete request in c->req (pipelining: in order, one response each). */
static void
serve(struct bp_queue *q, struct conn *c)
{
	char *end;

	while (!c->closing && c->len && !c->skip) {
		size_t head_len, vlen;
		const char *v;
		bool close, http10;

		c->req[c->len] = 0;
		end = strstr(c->req, "\r\n\r\n");
		if (!end) {
			if (c->len >= REQ_MAX - 1)
				respond(q, c, 400, true);
			return;
		}
		head_len = (size_t)(end - c->req) + 4;
		end[2] = 0; /* the head, each line with its CRLF */
		http10 = strstr(c->req, " HTTP/1.0\r\n") &&
		         strstr(c->req, " HTTP/1.0\r\n") < strstr(c->req, "\r\n") + 2;
		v = header(c->req, "Connection", &vlen);
		close = v ? has_token(v, vlen, "close") : http10;
		if (http10 && v && has_token(v, vlen, "keep-alive"))
			close = false;
		v = header(c->req, "Content-Length", &vlen);
		c->skip = v ? strtoul(v, NULL, 10) : 0;
		if (strncmp(c->req, "GET ", 4) && strncmp(c->req, "HEAD ", 5) &&
		    strncmp(c->req, "POST ", 5))
			respond(q, c, 400, true);
		else if (respond(q, c, 200, close) < 0)
			bp_tcp_abort(q, c->id); /* out of TX buffers: cannot answer in order */
		memmove(c->req, c->req + head_len, c->len - head_len);
		c->len -= head_len;
		if (c->skip) {
			size_t k = c->skip < c->len ? c->skip : c->len;

			memmove(c->req, c->req + k, c->len - k);
			c->len -= k;
			c->skip -= k;
		}
	}
}

static void
handle(struct bp_queue *q, const struct bp_tcp_ev *ev)
{
	struct conn *c = conn_of(ev->conn);
	const uint8_t *d;
	size_t n;

	switch (ev->type) {
	case BP_TCP_ACCEPTED:
		conn_free(ev->conn);
		c = calloc(1, sizeof(*c));
		if (!c) {
			bp_tcp_abort(q, ev->conn);
			break;
		}
		c->id = ev->conn;
		conns[ev->conn & 0xffff] = c;
		break;
	case BP_TCP_RECV:
		d = ev->data;
		n = ev->len;
		while (c && !c->closing && n) {
			size_t k;

			if (c->skip) {
				k = c->skip < n ? c->skip : n;
				c->skip -= k;
			} else {
				k = REQ_MAX - 1 - c->len < n ? REQ_MAX - 1 - c->len : n;
				memcpy(c->req + c->len, d, k);
				c->len += k;
			}
			d += k;
			n -= k;
			serve(q, c);
		}
		bp_tcp_done(q, ev, 1); /* read in place, handed back at once */
		break;
	case BP_TCP_EOF:
		if (c && !c->closing) {
			c->closing = true;
			bp_tcp_shutdown(q, c->id);
		}
		break;
	case BP_TCP_CLOSED:
	case BP_TCP_RESET:
		conn_free(ev->conn);
		break;
	default:
		break;
	}
}

static int
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SOCKET] TENANT ADDRESS PORT\n", prog);
	return 2;
}

int
main(int argc, char **argv)
{
	const char *path = BP_DEFAULT_SOCKET;
	struct bp_tcp_ev ev[BATCH];
	struct bp_attach_opts o;
	struct bp_handle *h;
	struct bp_queue *q;
	struct in_addr addr;
	unsigned long port;
	int arg = 1, lsock, n, i, ret = 1;

	if (argc > 2 && !strcmp(argv[1], "-s")) {
		path = argv[2];
		arg = 3;
	}
	if (argc - arg != 3 || inet_pton(AF_INET, argv[arg + 1], &addr) != 1)
		return usage(argv[0]);
	port = strtoul(argv[arg + 2], NULL, 10);
	if (port == 0 || port > 65535)
		return usage(argv[0]);
	bp_attach_opts_init(&o);
	o.app_name = "http_hello";
	h = bp_attach(path, argv[arg], 1, &o);
	if (!h) {
		fprintf(stderr, "http_hello: attach: %s %s\n", bp_strerror(errno), bp_errmsg());
		return 1;
	}
	q = bp_queue(h, 0);
	lsock = bp_tcp_listen(q, addr.s_addr, htons((uint16_t)port));
	if (lsock < 0) {
		fprintf(stderr, "http_hello: listen: %s %s\n", bp_strerror(lsock), bp_errmsg());
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("http_hello: listening on %s:%lu\n", argv[arg + 1], port);
	fflush(stdout);
	while (!stop) {
		n = bp_tcp_poll(q, ev, BATCH);
		if (n < 0) {
			fprintf(stderr, "http_hello: %s\n", bp_strerror(n));
			goto out;
		}
		for (i = 0; i < n; i++)
			handle(q, &ev[i]);
		if (n == 0) {
			n = bp_wait(q, 100);
			if (n < 0 && n != -EINTR) {
				fprintf(stderr, "http_hello: %s\n", bp_strerror(n));
				goto out;
			}
		}
	}
	ret = 0;
	printf("http_hello: %llu responses\n", (unsigned long long)served);
out:
	bp_detach(h);
	return ret;
}
