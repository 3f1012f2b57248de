/* bypass_tcpb.c - libbypass blocking streams: accept/connect/read/write/close over the TCP events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bypass_priv.h"

#define EV_BATCH         64
#define MAX_INFLIGHT     48           /* sends per connection (engine queue: 64) */
#define MAX_INFLIGHT_B   (512u << 10) /* bytes per connection (engine snd_buf: 1 MiB) */
#define CONNECT_COOKIE_0 (UINT64_C(1) << 63)

struct sconn {
	uint32_t id; /* 0: free entry */
	bool eof, dead, closing;
	int err; /* RESET: why */
	int send_err;
	unsigned inflight;
	size_t inflight_b;
	struct bp_tcp_ev *rq; /* RECV events not read yet, FIFO */
	unsigned rq_head, rq_n, rq_cap;
	uint32_t rq_off; /* bytes of rq[rq_head] already read */
};

struct cres {
	uint64_t cookie;
	uint32_t conn;
	int err;
	bool done;
};

struct bp_stream {
	struct bp_queue *q;
	struct sconn *c;
	unsigned nc;
	struct bp_tcp_ev *acc; /* ACCEPTED not taken yet */
	unsigned nacc, acc_cap;
	struct cres *cr; /* connects waiting */
	unsigned ncr;
	uint64_t next_cookie;
};

struct bp_stream *
bp_stream_new(struct bp_queue *q)
{
	struct bp_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->q = q;
	s->next_cookie = CONNECT_COOKIE_0;
	return s;
}

static struct sconn *
find(struct bp_stream *s, uint32_t id)
{
	unsigned i;

	for (i = 0; i < s->nc; i++)
		if (s->c[i].id == id)
			return &s->c[i];
	return NULL;
}

static struct sconn *
add(struct bp_stream *s, uint32_t id)
{
	struct sconn *c = find(s, 0), *n;

	if (!c) {
		n = realloc(s->c, sizeof(*s->c) * (s->nc + 16));
		if (!n)
			return NULL;
		memset(n + s->nc, 0, sizeof(*n) * 16);
		s->c = n;
		c = &s->c[s->nc];
		s->nc += 16;
	}
	free(c->rq);
	memset(c, 0, sizeof(*c));
	c->id = id;
	return c;
}

static void
drop_rq(struct bp_stream *s, struct sconn *c)
{
	while (c->rq_n) {
		bp_tcp_done(s->q, &c->rq[c->rq_head], 1);
		c->rq_head = (c->rq_head + 1) % c->rq_cap;
		c->rq_n--;
	}
	c->rq_off = 0;
}

static void
forget(struct bp_stream *s, struct sconn *c)
{
	drop_rq(s, c);
	free(c->rq);
	memset(c, 0, sizeof(*c));
}

static bool
rq_push(struct sconn *c, const struct bp_tcp_ev *ev)
{
	if (c->rq_n == c->rq_cap) {
		unsigned cap = c->rq_cap ? c->rq_cap * 2 : 64, i;
		struct bp_tcp_ev *n = malloc(sizeof(*n) * cap);

		if (!n)
			return false;
		for (i = 0; i < c->rq_n; i++)
			n[i] = c->rq[(c->rq_head + i) % c->rq_cap];
		free(c->rq);
		c->rq = n;
		c->rq_head = 0;
		c->rq_cap = cap;
	}
	c->rq[(c->rq_head + c->rq_n++) % c->rq_cap] = *ev;
	return true;
}

static void
dispatch(struct bp_stream *s, const struct bp_tcp_ev *ev)
{
	struct sconn *c = ev->conn ? find(s, ev->conn) : NULL;
	unsigned i;

	switch (ev->type) {
	case BP_TCP_ACCEPTED:
		if (s->nacc == s->acc_cap) {
			unsigned cap = s->acc_cap ? s->acc_cap * 2 : 16;
			struct bp_tcp_ev *n = realloc(s->acc, sizeof(*n) * cap);

			if (!n) {
				bp_tcp_abort(s->q, ev->conn);
				return;
			}
			s->acc = n;
			s->acc_cap = cap;
		}
		if (!add(s, ev->conn)) {
			bp_tcp_abort(s->q, ev->conn);
			return;
		}
		s->acc[s->nacc++] = *ev;
		return;
	case BP_TCP_CONNECTED:
	case BP_TCP_RESET:
		for (i = 0; i < s->ncr; i++)
			if (!s->cr[i].done && s->cr[i].cookie == ev->cookie &&
			    (ev->type == BP_TCP_CONNECTED || !c)) {
				s->cr[i].done = true;
				s->cr[i].conn = ev->type == BP_TCP_CONNECTED ? ev->conn : 0;
				s->cr[i].err = ev->type == BP_TCP_CONNECTED ? 0 : ev->err;
				if (ev->type == BP_TCP_CONNECTED && !add(s, ev->conn)) {
					bp_tcp_abort(s->q, ev->conn);
					s->cr[i].conn = 0;
					s->cr[i].err = -ENOMEM;
				}
				return;
			}
		if (c && ev->type == BP_TCP_RESET) {
			c->dead = true;
			c->err = ev->err ? ev->err : -ECONNRESET;
			c->inflight = 0;
			c->inflight_b = 0;
		}
		return;
	case BP_TCP_RECV:
		if (!c || c->closing || !rq_push(c, ev))
			bp_tcp_done(s->q, ev, 1);
		return;
	case BP_TCP_EOF:
		if (c)
			c->eof = true;
		return;
	case BP_TCP_SENT:
		if (!c)
			return;
		if (c->inflight)
			c->inflight--;
		c->inflight_b -= c->inflight_b < ev->cookie ? c->inflight_b : ev->cookie;
		if (ev->err && !c->send_err)
			c->send_err = ev->err;
		return;
	case BP_TCP_CLOSED:
		if (c) {
			c->dead = true;
			c->eof = true;
			c->inflight = 0;
			c->inflight_b = 0;
		}
		return;
	default:
		return;
	}
}

/* Take events; wait up to timeout_ms for some when there are none. 0 or a negative error. */
static int
pump(struct bp_stream *s, int timeout_ms)
{
	struct bp_tcp_ev ev[EV_BATCH];
	int n, i, r;

	n = bp_tcp_poll(s->q, ev, EV_BATCH);
	if (n == 0 && timeout_ms != 0) {
		r = bp_wait(s->q, timeout_ms);
		if (r < 0)
			return r;
		n = bp_tcp_poll(s->q, ev, EV_BATCH);
	}
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		dispatch(s, &ev[i]);
	return 0;
}

/* Milliseconds left before deadline (ns), -1 for none. */
static int
left_ms(uint64_t deadline)
{
	uint64_t now;

	if (deadline == UINT64_MAX)
		return 100;
	now = bp_now_ns();
	if (now >= deadline)
		return 0;
	return (int)((deadline - now) / 1000000 + 1 > 100 ? 100 : (deadline - now) / 1000000 + 1);
}

static uint64_t
deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : bp_now_ns() + (uint64_t)timeout_ms * 1000000;
}

static bool
expired(uint64_t deadline)
{
	return deadline != UINT64_MAX && bp_now_ns() >= deadline;
}

long
bp_stream_accept(struct bp_stream *s, int listener, uint32_t *addr, uint16_t *port, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	unsigned i;
	int r;

	for (;;) {
		for (i = 0; i < s->nacc; i++)
			if (s->acc[i].listener == (uint32_t)listener) {
				struct bp_tcp_ev ev = s->acc[i];

				memmove(&s->acc[i], &s->acc[i + 1],
				        sizeof(*s->acc) * (s->nacc - i - 1));
				s->nacc--;
				if (addr)
					*addr = ev.addr;
				if (port)
					*port = ev.port;
				return (long)ev.conn;
			}
		if (expired(deadline))
			return -ETIMEDOUT;
		r = pump(s, left_ms(deadline));
		if (r < 0)
			return r;
	}
}

long
bp_stream_connect(struct bp_stream *s, uint32_t addr, uint16_t port, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms), cookie = s->next_cookie++;
	struct cres *n = realloc(s->cr, sizeof(*s->cr) * (s->ncr + 1));
	unsigned i;
	int r;

	if (!n)
		return -ENOMEM;
	s->cr = n;
	i = s->ncr++;
	s->cr[i] = (struct cres){.cookie = cookie};
	r = bp_tcp_connect(s->q, 0, addr, port, cookie);
	while (r == 0 && !s->cr[i].done) {
		if (expired(deadline)) {
			r = -ETIMEDOUT; /* a late CONNECTED is aborted: nobody waits for it */
			break;
		}
		r = pump(s, left_ms(deadline));
	}
	if (r == 0)
		r = s->cr[i].err ? s->cr[i].err : (int)s->cr[i].conn;
	s->cr[i] = s->cr[--s->ncr];
	return r;
}

long
bp_stream_read(struct bp_stream *s, uint32_t conn, void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct sconn *c;
	int r;

	for (;;) {
		c = find(s, conn);
		if (!c || !conn)
			return -BP_EBADSOCK;
		if (c->rq_n) {
			struct bp_tcp_ev *ev = &c->rq[c->rq_head];
			size_t n = ev->len - c->rq_off;

			if (n > len)
				n = len;
			memcpy(buf, (const uint8_t *)ev->data + c->rq_off, n);
			c->rq_off += (uint32_t)n;
			if (c->rq_off == ev->len) {
				bp_tcp_done(s->q, ev, 1);
				c->rq_head = (c->rq_head + 1) % c->rq_cap;
				c->rq_n--;
				c->rq_off = 0;
			}
			return (long)n;
		}
		if (c->eof)
			return 0;
		if (c->dead)
			return c->err ? c->err : 0;
		if (expired(deadline))
			return -ETIMEDOUT;
		r = pump(s, left_ms(deadline));
		if (r < 0)
			return r;
	}
}

long
bp_stream_write(struct bp_stream *s, uint32_t conn, const void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	uint32_t size = bp_buf_size(s->q);
	size_t off = 0;
	struct sconn *c;
	int r;

	while (off < len) {
		c = find(s, conn);
		if (!c || !conn)
			return -BP_EBADSOCK;
		if (c->dead)
			return c->err ? c->err : -EPIPE;
		if (c->send_err)
			return c->send_err;
		while (off < len && c->inflight < MAX_INFLIGHT && c->inflight_b < MAX_INFLIGHT_B) {
			uint32_t n = len - off < size ? (uint32_t)(len - off) : size;
			void *b = bp_buf_alloc(s->q);

			if (!b)
				break;
			memcpy(b, (const uint8_t *)buf + off, n);
			r = bp_tcp_send(s->q, conn, b, n, n);
			if (r < 0) {
				bp_buf_free(s->q, b);
				if (r != -EAGAIN)
					return r;
				break;
			}
			c->inflight++;
			c->inflight_b += n;
			off += n;
		}
		if (off == len)
			break;
		if (expired(deadline))
			return off ? (long)off : -ETIMEDOUT;
		r = pump(s, left_ms(deadline));
		if (r < 0)
			return r;
	}
	/* queued: the bytes live in TX buffers until acknowledged; errors show in later calls */
	(void)pump(s, 0);
	return (long)len;
}

int
bp_stream_close(struct bp_stream *s, uint32_t conn, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct sconn *c = find(s, conn);
	int r = 0;

	if (!c || !conn)
		return -BP_EBADSOCK;
	if (!c->dead) {
		r = bp_tcp_close(s->q, conn);
		c->closing = true;
	}
	drop_rq(s, c);
	while (r == 0) {
		c = find(s, conn);
		if (!c || c->dead)
			break;
		drop_rq(s, c);
		if (expired(deadline)) {
			bp_tcp_abort(s->q, conn);
			r = -ETIMEDOUT;
			break;
		}
		r = pump(s, left_ms(deadline));
	}
	c = find(s, conn);
	if (c) {
		if (!r && c->err && c->err != -ECONNRESET)
			r = c->err;
		forget(s, c);
	}
	return r;
}

void
bp_stream_free(struct bp_stream *s)
{
	unsigned i;

	if (!s)
		return;
	for (i = 0; i < s->nc; i++)
		if (s->c[i].id) {
			if (!s->c[i].dead)
				bp_tcp_abort(s->q, s->c[i].id);
			forget(s, &s->c[i]);
		}
	for (i = 0; i < s->nacc; i++)
		bp_tcp_abort(s->q, s->acc[i].conn);
	free(s->c);
	free(s->acc);
	free(s->cr);
	free(s);
}
