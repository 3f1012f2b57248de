/* epoll_http.c - the Linux baseline of run_http_bench.sh: http_hello and tcp_echo on epoll sockets.
 */

/*
 * The same servers as client/examples/http_hello.c and tcp_echo.c, written the way one would on
 * Linux sockets: one thread, non-blocking sockets, level-triggered epoll, SO_REUSEADDR,
 * TCP_NODELAY (bypassd's TCP engine has no Nagle: every bp_tcp_send leaves at once).
 *
 *   epoll_http http ADDRESS PORT     HTTP/1.1: keep-alive, pipelining (answers in order), the
 *                                    same fixed response bytes as http_hello, "Connection: close"
 *                                    (and HTTP/1.0 without keep-alive) answered then FIN
 *   epoll_http echo ADDRESS PORT     every byte goes back; FIN after the peer's FIN
 *   epoll_http client ADDRESS PORT BYTES [SECONDS]
 *                                    the bulk client: sends BYTES of a fixed pattern, reads them
 *                                    back at the same time, compares every byte, prints the time
 *                                    from connect to the echo's FIN; exit 0 only if all matched
 *
 * The servers print "listening on ADDRESS:PORT" when ready and stop on SIGINT/SIGTERM. The
 * responses of one read go out in one write (http_hello sends one buffer per response; the bytes
 * on the wire are the same, the segments may be fewer).
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4; the meson build defines it for every file */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS   65536
#define REQ_MAX   8192        /* request head bytes a connection may buffer (http_hello's) */
#define IO_SIZE   (256 << 10) /* one read, and the echo's buffer per connection */
#define OUT_HIGH  (64 << 10)  /* HTTP: stop reading while this much waits to be written */
#define EV_BATCH  64
#define PAT_SIZE  ((1 << 20) + 7) /* the bulk pattern's period: odd, so shifts show */
#define PAT_EXTRA IO_SIZE         /* pattern bytes repeated past the period: one read fits */

static const char body[] = "Hello from bypassd!\n";

static volatile sig_atomic_t stop;

struct conn {
	int fd;
	bool closing; /* HTTP: answered a request that asked to close: ignore the rest */
	bool eof;     /* the peer's FIN came */
	bool shut;    /* our FIN went */
	uint32_t events;
	size_t skip; /* HTTP: request body bytes still to skip */
	size_t len;  /* HTTP: bytes in req */
	char *out;   /* bytes still to write: responses (HTTP) or the echo */
	size_t out_off, out_len, out_cap;
	char req[REQ_MAX];
};

static struct conn *conns[MAX_FDS];
static char iobuf[IO_SIZE];
static uint64_t served;
static bool http_mode;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Append n bytes to c->out. 0 or -ENOMEM. */
static int
out_put(struct conn *c, const void *p, size_t n)
{
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *o;

		while (cap < c->out_len + n)
			cap *= 2;
		o = realloc(c->out, cap);
		if (!o)
			return -ENOMEM;
		c->out = o;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

/* --- HTTP: http_hello's parser and responses, byte for byte ------------------------------- */

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

/* Queue one response; close: say so, and FIN after it (flush() sends the FIN). */
static int
respond(struct conn *c, int status, bool close)
{
	char b[256];
	int n;

	if (status == 200)
		n = snprintf(
		        b, sizeof(b),
		        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		        "%s\r\n%s",
		        sizeof(body) - 1, close ? "Connection: close\r\n" : "", body);
	else
		n = snprintf(b, sizeof(b),
		             "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
		             "Connection: close\r\n\r\n");
	if (out_put(c, b, (size_t)n) < 0)
		return -ENOMEM;
	served++;
	if (close)
		c->closing = true;
	return 0;
}

/* Answer every complete request in c->req (pipelining: in order, one response each). */
static int
serve(struct conn *c)
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
				return respond(c, 400, true);
			return 0;
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
		    strncmp(c->req, "POST ", 5)) {
			if (respond(c, 400, true) < 0)
				return -ENOMEM;
		} else if (respond(c, 200, close) < 0) {
			return -ENOMEM;
		}
		memmove(c->req, c->req + head_len, c->len - head_len);
		c->len -= head_len;
		if (c->skip) {
			size_t k = c->skip < c->len ? c->skip : c->len;

			memmove(c->req, c->req + k, c->len - k);
			c->len -= k;
			c->skip -= k;
		}
	}
	return 0;
}

/* http_hello's RECV handler over n bytes just read. */
static int
http_input(struct conn *c, const char *d, size_t n)
{
	while (!c->closing && n) {
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
		if (serve(c) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* --- the servers ---------------------------------------------------------------------------- */

static void
conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conns[c->fd] = NULL;
	free(c->out);
	free(c);
}

/* Write what is pending; FIN once nothing is left and it is due. 0, or -1: drop the connection. */
static int
flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	if (!c->shut && (c->eof || c->closing)) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	return 0;
}

/* Read while allowed; the input goes to the HTTP parser or back out (echo). 0, or -1: drop. */
static int
input(struct conn *c)
{
	for (;;) {
		size_t pending = c->out_len - c->out_off;
		ssize_t r;

		if (!http_mode && pending)
			return 0; /* echo: read more once the last read went out */
		if (http_mode && pending >= OUT_HIGH)
			return 0;
		r = recv(c->fd, iobuf, sizeof(iobuf), 0);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (r == 0) {
			c->eof = true;
			return 0;
		}
		if (http_mode) {
			if (c->closing)
				continue; /* after "Connection: close": read and drop until the FIN
				           */
			if (http_input(c, iobuf, (size_t)r) < 0)
				return -1;
		} else if (out_put(c, iobuf, (size_t)r) < 0) {
			return -1;
		}
		if (flush(c) < 0)
			return -1;
	}
}

/* After an event: write, then pick the events to wait for, or close when both FINs went. */
static void
progress(int ep, struct conn *c, uint32_t ev)
{
	struct epoll_event e;
	size_t pending;

	if ((ev & EPOLLERR) || flush(c) < 0 || ((ev & (EPOLLIN | EPOLLHUP)) && input(c) < 0) ||
	    flush(c) < 0) {
		conn_close(ep, c);
		return;
	}
	pending = c->out_len - c->out_off;
	if (c->eof && c->shut && !pending) {
		conn_close(ep, c);
		return;
	}
	e.events = (pending ? EPOLLOUT : 0) |
	           (!c->eof && (http_mode ? pending < OUT_HIGH : !pending) ? EPOLLIN : 0);
	if (e.events != c->events) {
		e.data.fd = c->fd;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0) {
			conn_close(ep, c);
			return;
		}
		c->events = e.events;
	}
}

static void
accept_all(int ep, int lsock)
{
	for (;;) {
		struct epoll_event e = {.events = EPOLLIN};
		int one = 1, fd = accept4(lsock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return; /* EAGAIN, or out of something: the next event tries again */
		c = fd < MAX_FDS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->events = e.events;
		e.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(fd);
			free(c);
			continue;
		}
		conns[fd] = c;
	}
}

static int
listen_on(struct in_addr addr, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = addr, .sin_port = htons(port)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
run_server(const char *name, struct in_addr addr, uint16_t port)
{
	struct epoll_event ev[EV_BATCH], e = {.events = EPOLLIN};
	int lsock, ep, n, i, fd;

	lsock = listen_on(addr, port);
	if (lsock < 0) {
		fprintf(stderr, "epoll_http: listen %s:%u: %s\n", inet_ntoa(addr), port,
		        strerror(errno));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	e.data.fd = lsock;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lsock, &e) < 0) {
		fprintf(stderr, "epoll_http: epoll: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	printf("epoll_http %s: listening on %s:%u\n", name, inet_ntoa(addr), port);
	fflush(stdout);
	while (!stop) {
		n = epoll_wait(ep, ev, EV_BATCH, 100);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "epoll_http: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; i < n; i++) {
			fd = ev[i].data.fd;
			if (fd == lsock)
				accept_all(ep, lsock);
			else if (conns[fd])
				progress(ep, conns[fd], ev[i].events);
		}
	}
	if (http_mode)
		printf("epoll_http: %llu responses\n", (unsigned long long)served);
	for (fd = 0; fd < MAX_FDS; fd++)
		if (conns[fd])
			conn_close(ep, conns[fd]);
	close(ep);
	close(lsock);
	return 0;
}

/* --- the bulk client ---------------------------------------------------------------------- */

static int
run_client(struct in_addr addr, uint16_t port, uint64_t bytes, double limit_s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = addr, .sin_port = htons(port)};
	uint64_t sent = 0, got = 0, x = 0x9e3779b97f4a7c15ull;
	double t0, t_end, secs;
	unsigned char *pat;
	bool shut = false, eof = false, bad = false;
	int fd, one = 1;
	size_t i;

	pat = malloc(PAT_SIZE + PAT_EXTRA);
	if (!pat)
		return 1;
	for (i = 0; i < PAT_SIZE; i++) { /* xorshift64: no short period in the bytes */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pat[i] = (unsigned char)(x >> 32);
	}
	memcpy(pat + PAT_SIZE, pat, PAT_EXTRA);
	signal(SIGPIPE, SIG_IGN);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t0 = now_s();
	t_end = t0 + limit_s;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "epoll_http client: connect %s:%u: %s\n", inet_ntoa(addr), port,
		        strerror(errno));
		free(pat);
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (!eof && !bad) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (sent < bytes ? POLLOUT : 0)};
		double left = t_end - now_s();

		if (left <= 0) {
			fprintf(stderr, "epoll_http client: timed out after %.0f s\n", limit_s);
			break;
		}
		if (poll(&p, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			break;
		if (sent < bytes && (p.revents & POLLOUT)) {
			size_t k = bytes - sent < IO_SIZE ? (size_t)(bytes - sent) : IO_SIZE;
			ssize_t w = send(fd, pat + sent % PAT_SIZE, k, MSG_NOSIGNAL);

			if (w > 0)
				sent += (uint64_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "epoll_http client: send: %s\n", strerror(errno));
				break;
			}
		}
		if (sent == bytes && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, iobuf, sizeof(iobuf), 0);

			if (r == 0)
				eof = true;
			else if (r > 0) {
				if (got + (uint64_t)r > bytes ||
				    memcmp(iobuf, pat + got % PAT_SIZE, (size_t)r)) {
					fprintf(stderr,
					        "epoll_http client: wrong bytes in %llu..%llu\n",
					        (unsigned long long)got,
					        (unsigned long long)got + (unsigned long long)r);
					bad = true;
				}
				got += (uint64_t)r;
			} else if (errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "epoll_http client: recv: %s\n", strerror(errno));
				break;
			}
		}
	}
	secs = now_s() - t0;
	close(fd);
	free(pat);
	printf("bulk: sent %llu received %llu match %s seconds %.3f MiB/s %.1f\n",
	       (unsigned long long)sent, (unsigned long long)got,
	       eof && !bad && got == bytes ? "yes" : "no", secs, (double)got / secs / 1048576.0);
	return eof && !bad && sent == bytes && got == bytes ? 0 : 1;
}

static int
usage(void)
{
	fprintf(stderr, "usage: epoll_http http|echo ADDRESS PORT\n"
	                "       epoll_http client ADDRESS PORT BYTES [SECONDS]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct in_addr addr;
	unsigned long port;

	if (argc < 4 || inet_pton(AF_INET, argv[2], &addr) != 1)
		return usage();
	port = strtoul(argv[3], NULL, 10);
	if (port == 0 || port > 65535)
		return usage();
	if (!strcmp(argv[1], "client") && (argc == 5 || argc == 6)) {
		unsigned long long bytes = strtoull(argv[4], NULL, 10);
		double limit = argc == 6 ? strtod(argv[5], NULL) : 60;

		if (bytes == 0 || limit <= 0)
			return usage();
		return run_client(addr, (uint16_t)port, bytes, limit);
	}
	if (argc != 4)
		return usage();
	if (!strcmp(argv[1], "http"))
		http_mode = true;
	else if (strcmp(argv[1], "echo"))
		return usage();
	return run_server(argv[1], addr, (uint16_t)port);
}
