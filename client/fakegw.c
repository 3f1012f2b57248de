/* fakegw.c - in-test gateway: the real attach handshake and channel code, a UDP switch for a NIC.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chan_fp.h"
#include "ctl.h"
#include "fakegw.h"

#define MAX_CONNS  8
#define MAX_SOCKS  64
#define MAX_INJECT 256

enum { CONN_FREE, CONN_HELLO, CONN_ATTACHED };

struct conn {
	int state;
	int fd;
	uint32_t nqueues;
	struct bp_chan *ch;
};

struct sock {
	bool used;
	unsigned conn, queue;
	uint16_t proto, port_be;
	uint32_t addr_be;
};

struct inject {
	uint32_t dst, src;
	uint16_t dport, sport, len;
	uint8_t data[2048];
};

/* A fake TCP connection between two attached queues (tenant address to itself): what one end
 * sends the other receives, no network, no loss. */
#define MAX_TCP 64
struct tcp_end {
	unsigned ci, qi;
	bool shut; /* sent FIN */
};
struct tcp_conn {
	bool used;
	uint16_t gen;
	struct tcp_end e[2]; /* [0] connecting side, [1] accepted side */
};

struct fakegw {
	struct fakegw_cfg cfg;
	char path[108];
	char tenant[BP_NAME_MAX];
	int lfd;
	uint64_t epoch;
	pthread_t ctl_thread, worker_thread;
	atomic_bool stop;
	atomic_bool frozen;
	pthread_mutex_t lock; /* conns, socks, injections; the worker holds it while serving */
	struct conn conn[MAX_CONNS];
	struct sock sock[MAX_SOCKS];
	struct inject *inj;
	unsigned ninj;
	struct tcp_conn tcp[MAX_TCP];
	struct fakegw_stats st;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- worker ---- */

static struct sock *
find_sock(struct fakegw *g, uint16_t proto, uint32_t addr, uint16_t port)
{
	unsigned i;

	for (i = 0; i < MAX_SOCKS; i++)
		if (g->sock[i].used && g->sock[i].proto == proto && g->sock[i].addr_be == addr &&
		    g->sock[i].port_be == port)
			return &g->sock[i];
	return NULL;
}

/* Deliver a datagram to a bound socket's queue. */
static void
deliver(struct fakegw *g, uint32_t dst, uint16_t dport, uint32_t src, uint16_t sport,
        const uint8_t *data, uint16_t len)
{
	struct sock *s = find_sock(g, BP_PROTO_UDP, dst, dport);
	struct bp_chan *ch;
	struct bp_desc d;
	uint32_t idx;

	if (!s) {
		g->st.wire++;
		return;
	}
	ch = &g->conn[s->conn].ch[s->queue];
	if (!bp_chan_rx_room(ch) || len > ch->geom.rx_buf_size) {
		g->st.dropped++;
		return;
	}
	idx = bp_chan_rx_take(ch);
	memcpy(bp_chan_rx_buf(ch, idx), data, len);
	d = (struct bp_desc){
	        .buf = idx,
	        .len = len,
	        .type = BP_DESC_UDP_RECV,
	        .sock = (uint32_t)(s - g->sock),
	        .addr_be = src,
	        .port_be = sport,
	};
	bp_chan_rx_post(ch, &d, 1);
	g->st.delivered++;
}

/* ---- fake TCP ---- */

static uint32_t
tcp_id(const struct fakegw *g, unsigned i)
{
	return (uint32_t)g->tcp[i].gen << 16 | (i + 1);
}

/* The connection (and which end of it) a conn id from queue ci/qi names, or -1. */
static int
tcp_find(struct fakegw *g, unsigned ci, unsigned qi, uint32_t id, int *end)
{
	unsigned i = (id & 0xffff) - 1;
	int k;

	if ((id & 0xffff) == 0 || i >= MAX_TCP || !g->tcp[i].used || g->tcp[i].gen != id >> 16)
		return -1;
	for (k = 0; k < 2; k++)
		if (g->tcp[i].e[k].ci == ci && g->tcp[i].e[k].qi == qi) {
			*end = k;
			return (int)i;
		}
	return -1;
}

/* An event without a buffer to queue ci/qi (dropped, counted, when its ring is full). */
static void
tcp_event(struct fakegw *g, unsigned ci, unsigned qi, struct bp_desc d)
{
	struct bp_chan *ch = &g->conn[ci].ch[qi];

	d.buf = BP_BUF_NONE;
	if (!bp_ring_free_count(&ch->rx)) {
		g->st.dropped++;
		return;
	}
	bp_chan_rx_post(ch, &d, 1);
}

static void
tcp_end_conn(struct fakegw *g, unsigned i, uint16_t type, uint16_t why0, uint16_t why1)
{
	unsigned k;

	for (k = 0; k < 2; k++)
		tcp_event(g, g->tcp[i].e[k].ci, g->tcp[i].e[k].qi,
		          (struct bp_desc){
		                  .type = type, .sock = tcp_id(g, i), .status = k ? why1 : why0});
	g->tcp[i].used = false;
}

/* A TCP command; returns the status of a SEND (its buffer is completed by the caller). */
static uint16_t
tcp_cmd(struct fakegw *g, unsigned ci, unsigned qi, const struct bp_desc *d)
{
	struct bp_chan *ch = &g->conn[ci].ch[qi];
	int end = 0, i = -1;
	unsigned k;

	if (d->type == BP_DESC_TCP_CONNECT) {
		struct sock *l = find_sock(g, BP_PROTO_TCP, d->addr_be, d->port_be);

		for (k = 0; k < MAX_TCP && g->tcp[k].used; k++)
			;
		if (!l || k == MAX_TCP) {
			tcp_event(g, ci, qi,
			          (struct bp_desc){.type = BP_DESC_TCP_RESET,
			                           .addr_be = d->addr_be,
			                           .port_be = d->port_be,
			                           .status = l ? ENOBUFS : ECONNREFUSED,
			                           .user = d->user});
			return 0;
		}
		g->tcp[k].used = true;
		g->tcp[k].gen = (uint16_t)(g->tcp[k].gen + 1 ? g->tcp[k].gen + 1 : 1);
		g->tcp[k].e[0] = (struct tcp_end){.ci = ci, .qi = qi};
		g->tcp[k].e[1] = (struct tcp_end){.ci = l->conn, .qi = l->queue};
		tcp_event(g, l->conn, l->queue,
		          (struct bp_desc){.type = BP_DESC_TCP_ACCEPTED,
		                           .sock = tcp_id(g, k),
		                           .addr_be = g->cfg.addr_be,
		                           .port_be = htons(40000),
		                           .user = (uint64_t)(l - g->sock)});
		tcp_event(g, ci, qi,
		          (struct bp_desc){.type = BP_DESC_TCP_CONNECTED,
		                           .sock = tcp_id(g, k),
		                           .addr_be = d->addr_be,
		                           .port_be = d->port_be,
		                           .user = d->user});
		return 0;
	}
	i = tcp_find(g, ci, qi, d->sock, &end);
	if (i < 0) {
		ch->err[BP_DESC_ERR_CONN]++;
		return BP_DESC_ERR_CONN;
	}
	switch (d->type) {
	case BP_DESC_TCP_SEND: {
		const struct tcp_end *o = &g->tcp[i].e[!end];
		struct bp_chan *och = &g->conn[o->ci].ch[o->qi];
		const uint8_t *p = bp_chan_tx_data(ch, d);
		uint32_t left = d->len;

		if (g->tcp[i].e[end].shut)
			return BP_DESC_ERR_CLOSED;
		while (left) {
			uint32_t n = left < och->geom.rx_buf_size ? left : och->geom.rx_buf_size;
			struct bp_desc r = {.len = (uint16_t)n,
			                    .type = BP_DESC_TCP_RECV,
			                    .sock = tcp_id(g, (unsigned)i)};

			if (!bp_chan_rx_room(och)) {
				g->st.dropped++; /* a test that overruns its peer sees it */
				return BP_DESC_ERR_CONN_GONE;
			}
			r.buf = bp_chan_rx_take(och);
			memcpy(bp_chan_rx_buf(och, r.buf), p, n);
			bp_chan_rx_post(och, &r, 1);
			p += n;
			left -= n;
		}
		g->st.delivered++;
		return 0;
	}
	case BP_DESC_TCP_SHUTDOWN:
	case BP_DESC_TCP_CLOSE:
		if (g->tcp[i].e[end].shut)
			return 0;
		g->tcp[i].e[end].shut = true;
		tcp_event(
		        g, g->tcp[i].e[!end].ci, g->tcp[i].e[!end].qi,
		        (struct bp_desc){.type = BP_DESC_TCP_EOF, .sock = tcp_id(g, (unsigned)i)});
		if (g->tcp[i].e[!end].shut)
			tcp_end_conn(g, (unsigned)i, BP_DESC_TCP_CLOSED, 0, 0);
		return 0;
	case BP_DESC_TCP_ABORT:
		tcp_end_conn(g, (unsigned)i, BP_DESC_TCP_RESET, end ? ECONNRESET : ECONNABORTED,
		             end ? ECONNABORTED : ECONNRESET);
		return 0;
	default:
		return BP_DESC_ERR_TYPE;
	}
}

static void
serve_queue(struct fakegw *g, unsigned ci, unsigned qi)
{
	struct bp_chan *ch = &g->conn[ci].ch[qi];
	struct bp_desc d[32];
	struct sock *s;
	unsigned i, n;

	bp_chan_done_reap(ch, 256);
	n = bp_chan_tx_fetch(ch, d, 32);
	for (i = 0; i < n; i++) {
		if (d[i].type >= BP_DESC_TCP_CONNECT && d[i].type <= BP_DESC_TCP_ABORT) {
			d[i].status = tcp_cmd(g, ci, qi, &d[i]);
			continue; /* buffer-less commands are skipped by tx_complete */
		}
		s = d[i].sock < MAX_SOCKS ? &g->sock[d[i].sock] : NULL;
		if (!s || !s->used || s->conn != ci || s->queue != qi ||
		    (d[i].type == BP_DESC_UDP_SEND) != (s->proto == BP_PROTO_UDP)) {
			ch->err[BP_DESC_ERR_SOCK]++;
			d[i].status = BP_DESC_ERR_SOCK;
			continue;
		}
		if (d[i].type == BP_DESC_UDP_SEND)
			deliver(g, d[i].addr_be, d[i].port_be, s->addr_be, s->port_be,
			        bp_chan_tx_data(ch, &d[i]), d[i].len);
		else
			g->st.wire++;
		d[i].status = 0;
	}
	if (n)
		bp_chan_tx_complete(ch, d, n);
}

static void *
worker_main(void *arg)
{
	struct fakegw *g = arg;
	unsigned ci, qi, i;
	bool idle;

	while (!atomic_load(&g->stop)) {
		if (atomic_load(&g->frozen)) {
			usleep(1000);
			continue;
		}
		pthread_mutex_lock(&g->lock);
		idle = g->ninj == 0;
		for (i = 0; i < g->ninj; i++)
			deliver(g, g->inj[i].dst, g->inj[i].dport, g->inj[i].src, g->inj[i].sport,
			        g->inj[i].data, g->inj[i].len);
		g->ninj = 0;
		for (ci = 0; ci < MAX_CONNS; ci++) {
			if (g->conn[ci].state != CONN_ATTACHED)
				continue;
			for (qi = 0; qi < g->conn[ci].nqueues; qi++) {
				uint64_t before = g->conn[ci].ch[qi].cnt[BP_CHAN_CNT_TX_FETCHED] +
				                  g->conn[ci].ch[qi].cnt[BP_CHAN_CNT_RX_DONE];

				serve_queue(g, ci, qi);
				if (g->conn[ci].ch[qi].cnt[BP_CHAN_CNT_TX_FETCHED] +
				            g->conn[ci].ch[qi].cnt[BP_CHAN_CNT_RX_DONE] !=
				    before)
					idle = false;
			}
		}
		pthread_mutex_unlock(&g->lock);
		if (idle)
			usleep(20); /* two CPUs on the test machine: do not burn one */
	}
	return NULL;
}

/* ---- control ---- */

static void
conn_teardown(struct fakegw *g, unsigned ci)
{
	struct conn *c = &g->conn[ci];
	unsigned i;

	pthread_mutex_lock(&g->lock);
	/* its fake connections: the other end sees a reset */
	for (i = 0; i < MAX_TCP; i++) {
		unsigned k;

		if (!g->tcp[i].used || (g->tcp[i].e[0].ci != ci && g->tcp[i].e[1].ci != ci))
			continue;
		for (k = 0; k < 2; k++)
			if (g->tcp[i].e[k].ci != ci)
				tcp_event(g, g->tcp[i].e[k].ci, g->tcp[i].e[k].qi,
				          (struct bp_desc){.type = BP_DESC_TCP_RESET,
				                           .sock = tcp_id(g, i),
				                           .status = ECONNRESET});
		g->tcp[i].used = false;
	}
	for (i = 0; c->ch && i < c->nqueues; i++) {
		bp_chan_close(&c->ch[i]);
		bp_chan_destroy(&c->ch[i]);
	}
	for (i = 0; i < MAX_SOCKS; i++)
		if (g->sock[i].used && g->sock[i].conn == ci)
			g->sock[i].used = false;
	free(c->ch);
	c->ch = NULL;
	if (c->state == CONN_ATTACHED)
		g->st.attached--;
	c->state = CONN_FREE;
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&g->lock);
}

static int
reply_error(int fd, uint32_t seq, int code, const char *msg)
{
	struct bp_ctl_error e;

	bp_ctl_error_init(&e, seq, code, "%s", msg);
	return bp_sock_send_fds(fd, &e, sizeof(e), NULL, 0);
}

/* HELLO: who, which tenant, how many queues, what sizes. Returns 0 when attached. */
static int
on_hello(struct fakegw *g, unsigned ci, const struct bp_ctl_hello *m)
{
	struct conn *c = &g->conn[ci];
	struct bp_chan_limits lim = {.max_udp_payload = 1472, .max_frame = 1514, .raw = g->cfg.raw};
	struct bp_ctl_hello_ok ok;
	struct bp_geom geom;
	char msg[BP_ERRMSG_MAX];
	uint32_t uid, i;
	int r;

	if (bp_sock_peercred(c->fd, NULL, &uid, NULL) < 0)
		return reply_error(c->fd, m->hdr.seq, BP_EINTERNAL, "no peer credentials"), -1;
	if (strcmp(m->tenant, g->tenant)) {
		snprintf(msg, sizeof(msg), "unknown tenant '%s'", m->tenant);
		return reply_error(c->fd, m->hdr.seq, BP_ETENANT, msg), -1;
	}
	if (uid != g->cfg.allow_uid) {
		snprintf(msg, sizeof(msg), "tenant '%s' does not admit uid %u", m->tenant, uid);
		return reply_error(c->fd, m->hdr.seq, BP_EDENIED, msg), -1;
	}
	if (m->nqueues > g->cfg.max_queues) {
		snprintf(msg, sizeof(msg), "tenant '%s' may have %u queues, asked for %u",
		         m->tenant, g->cfg.max_queues, m->nqueues);
		return reply_error(c->fd, m->hdr.seq, BP_EQUOTA, msg), -1;
	}
	bp_ctl_geom_merge(&geom, &m->geom, &g->cfg.dflt);
	if (!bp_geom_valid(&geom))
		return reply_error(c->fd, m->hdr.seq, BP_ESIZES,
		                   "sizes with the gateway's defaults are not valid"),
		       -1;
	c->ch = calloc(m->nqueues, sizeof(*c->ch));
	if (!c->ch)
		return reply_error(c->fd, m->hdr.seq, BP_EINTERNAL, "out of memory"), -1;
	for (i = 0; i < m->nqueues; i++) {
		r = bp_chan_create(&c->ch[i], &geom, &lim, i, g->epoch);
		if (r < 0) {
			while (i--)
				bp_chan_destroy(&c->ch[i]);
			free(c->ch);
			c->ch = NULL;
			return reply_error(c->fd, m->hdr.seq, BP_EINTERNAL, "channel setup failed"),
			       -1;
		}
	}
	bp_ctl_init(&ok, BP_CTL_HELLO_OK, sizeof(ok), m->hdr.seq);
	ok.abi_major = BP_ABI_MAJOR;
	ok.abi_minor = BP_ABI_MINOR;
	ok.nqueues = m->nqueues;
	ok.epoch = g->epoch;
	ok.geom = geom;
	ok.max_udp_payload = lim.max_udp_payload;
	ok.max_frame = lim.max_frame;
	c->nqueues = m->nqueues;
	r = bp_sock_send_fds(c->fd, &ok, sizeof(ok), NULL, 0);
	for (i = 0; r == 0 && i < m->nqueues; i++)
		r = bp_chan_send(&c->ch[i], c->fd, m->hdr.seq, 0);
	if (r < 0)
		return -1; /* the caller tears down, destroying the channels */
	pthread_mutex_lock(&g->lock);
	c->state = CONN_ATTACHED;
	g->st.attached++;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void
on_bind(struct fakegw *g, unsigned ci, const struct bp_ctl_bind *m)
{
	struct conn *c = &g->conn[ci];
	struct bp_ctl_bind_ok ok;
	unsigned i;

	if (m->queue >= c->nqueues) {
		reply_error(c->fd, m->hdr.seq, BP_EPROTO, "no such queue");
		return;
	}
	if (m->proto == BP_PROTO_RAW && !g->cfg.raw) {
		reply_error(c->fd, m->hdr.seq, BP_ENOTSUP, "tenant may not use raw frames");
		return;
	}
	if (m->addr_be != g->cfg.addr_be) {
		reply_error(c->fd, m->hdr.seq, BP_EADDRNOTAVAIL, "not the tenant's address");
		return;
	}
	if (m->proto != BP_PROTO_RAW &&
	    (ntohs(m->port_be) < g->cfg.port_lo || ntohs(m->port_be) > g->cfg.port_hi)) {
		reply_error(c->fd, m->hdr.seq, BP_EPORT, "port not given to the tenant");
		return;
	}
	pthread_mutex_lock(&g->lock);
	if (find_sock(g, m->proto, m->addr_be, m->port_be)) {
		pthread_mutex_unlock(&g->lock);
		reply_error(c->fd, m->hdr.seq, BP_EADDRINUSE, "address and port in use");
		return;
	}
	for (i = 0; i < MAX_SOCKS && g->sock[i].used; i++)
		;
	if (i == MAX_SOCKS) {
		pthread_mutex_unlock(&g->lock);
		reply_error(c->fd, m->hdr.seq, BP_EQUOTA, "too many sockets");
		return;
	}
	g->sock[i] = (struct sock){.used = true,
	                           .conn = ci,
	                           .queue = m->queue,
	                           .proto = m->proto,
	                           .addr_be = m->addr_be,
	                           .port_be = m->port_be};
	pthread_mutex_unlock(&g->lock);
	bp_ctl_init(&ok, BP_CTL_BIND_OK, sizeof(ok), m->hdr.seq);
	ok.sock = i;
	ok.proto = m->proto;
	ok.addr_be = m->addr_be;
	ok.port_be = m->port_be;
	bp_sock_send_fds(c->fd, &ok, sizeof(ok), NULL, 0);
}

static void
on_unbind(struct fakegw *g, unsigned ci, const struct bp_ctl_unbind *m)
{
	struct conn *c = &g->conn[ci];
	struct bp_ctl_hdr ok;
	bool found;

	pthread_mutex_lock(&g->lock);
	found = m->sock < MAX_SOCKS && g->sock[m->sock].used && g->sock[m->sock].conn == ci;
	if (found)
		g->sock[m->sock].used = false;
	pthread_mutex_unlock(&g->lock);
	if (!found) {
		reply_error(c->fd, m->hdr.seq, BP_EBADSOCK, "no such socket");
		return;
	}
	bp_ctl_init(&ok, BP_CTL_OK, sizeof(ok), m->hdr.seq);
	bp_sock_send_fds(c->fd, &ok, sizeof(ok), NULL, 0);
}

/* One message from a connection. Everything in it is hostile. */
static void
on_readable(struct fakegw *g, unsigned ci)
{
	struct conn *c = &g->conn[ci];
	uint8_t buf[sizeof(union bp_ctl_msg)];
	union bp_ctl_msg m;
	enum bp_ctl_err e;
	char msg[BP_ERRMSG_MAX];
	ssize_t r;

	r = bp_sock_recv_fds(c->fd, buf, sizeof(buf), NULL, NULL, MSG_DONTWAIT);
	if (r == -EAGAIN)
		return;
	if (r <= 0) {
		conn_teardown(g, ci);
		return;
	}
	e = bp_ctl_decode(buf, (size_t)r, BP_CTL_FROM_APP, &m);
	if (e) {
		if (e == BP_CTL_ERR_VERSION || e == BP_CTL_ERR_ABI)
			snprintf(msg, sizeof(msg), "app speaks ABI %u, gateway %u",
			         (unsigned)m.hello.abi_major, BP_ABI_MAJOR);
		else
			snprintf(msg, sizeof(msg), "%s", bp_ctl_err_str(e));
		reply_error(c->fd, m.hdr.seq, bp_ctl_err_code(e), msg);
		if (c->state == CONN_HELLO)
			conn_teardown(g, ci);
		return;
	}
	if (c->state == CONN_HELLO) {
		if (m.hdr.type != BP_CTL_HELLO) {
			reply_error(c->fd, m.hdr.seq, BP_EPROTO, "HELLO first");
			conn_teardown(g, ci);
		} else if (on_hello(g, ci, &m.hello) < 0) {
			conn_teardown(g, ci);
		}
		return;
	}
	switch (m.hdr.type) {
	case BP_CTL_BIND:
		on_bind(g, ci, &m.bind);
		break;
	case BP_CTL_UNBIND:
		on_unbind(g, ci, &m.unbind);
		break;
	case BP_CTL_BYE:
		conn_teardown(g, ci);
		break;
	default:
		reply_error(c->fd, m.hdr.seq, BP_EPROTO, "already attached");
		break;
	}
}

static void
on_accept(struct fakegw *g)
{
	int fd = accept4(g->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	unsigned i;

	if (fd < 0)
		return;
	for (i = 0; i < MAX_CONNS && g->conn[i].state != CONN_FREE; i++)
		;
	if (i == MAX_CONNS) {
		reply_error(fd, 0, BP_EBUSY, "too many apps");
		close(fd);
		return;
	}
	pthread_mutex_lock(&g->lock);
	g->conn[i] = (struct conn){.state = CONN_HELLO, .fd = fd};
	pthread_mutex_unlock(&g->lock);
}

static void *
ctl_main(void *arg)
{
	struct fakegw *g = arg;
	struct pollfd p[MAX_CONNS + 1];
	unsigned idx[MAX_CONNS + 1], n, i, ci;
	uint64_t last_hb = now_ms();

	while (!atomic_load(&g->stop)) {
		if (atomic_load(&g->frozen)) {
			usleep(1000);
			continue;
		}
		if (now_ms() - last_hb >= BP_HEARTBEAT_MS / 2) {
			last_hb = now_ms();
			pthread_mutex_lock(&g->lock);
			for (ci = 0; ci < MAX_CONNS; ci++)
				for (i = 0;
				     g->conn[ci].state == CONN_ATTACHED && i < g->conn[ci].nqueues;
				     i++)
					bp_chan_heartbeat(&g->conn[ci].ch[i]);
			pthread_mutex_unlock(&g->lock);
		}
		n = 0;
		p[n++] = (struct pollfd){.fd = g->lfd, .events = POLLIN};
		for (ci = 0; ci < MAX_CONNS; ci++)
			if (g->conn[ci].state != CONN_FREE) {
				idx[n] = ci;
				p[n++] = (struct pollfd){.fd = g->conn[ci].fd, .events = POLLIN};
			}
		if (poll(p, n, 20) <= 0)
			continue;
		if (p[0].revents & POLLIN)
			on_accept(g);
		for (i = 1; i < n; i++)
			if (p[i].revents)
				on_readable(g, idx[i]);
	}
	return NULL;
}

struct fakegw *
fakegw_start(const struct fakegw_cfg *cfg)
{
	struct fakegw *g = calloc(1, sizeof(*g));
	unsigned i;

	if (!g)
		return NULL;
	g->cfg = *cfg;
	snprintf(g->path, sizeof(g->path), "%s", cfg->path);
	snprintf(g->tenant, sizeof(g->tenant), "%s", cfg->tenant);
	g->epoch = ((uint64_t)getpid() << 32) ^ now_ms();
	g->inj = calloc(MAX_INJECT, sizeof(*g->inj));
	pthread_mutex_init(&g->lock, NULL);
	for (i = 0; i < MAX_CONNS; i++)
		g->conn[i].fd = -1;
	g->lfd = bp_sock_listen(g->path, 16);
	if (g->lfd < 0 || !g->inj) {
		free(g->inj);
		free(g);
		return NULL;
	}
	pthread_create(&g->ctl_thread, NULL, ctl_main, g);
	pthread_create(&g->worker_thread, NULL, worker_main, g);
	return g;
}

void
fakegw_stop(struct fakegw *g)
{
	unsigned ci;

	atomic_store(&g->stop, true);
	pthread_join(g->ctl_thread, NULL);
	pthread_join(g->worker_thread, NULL);
	for (ci = 0; ci < MAX_CONNS; ci++)
		if (g->conn[ci].state != CONN_FREE)
			conn_teardown(g, ci);
	close(g->lfd);
	if (g->path[0] != '@')
		unlink(g->path);
	pthread_mutex_destroy(&g->lock);
	free(g->inj);
	free(g);
}

void
fakegw_freeze(struct fakegw *g, bool frozen)
{
	atomic_store(&g->frozen, frozen);
}

void
fakegw_stats(struct fakegw *g, struct fakegw_stats *st)
{
	unsigned ci, qi;

	pthread_mutex_lock(&g->lock);
	*st = g->st;
	st->doorbells = 0;
	st->desc_errs = 0;
	for (ci = 0; ci < MAX_CONNS; ci++)
		for (qi = 0; g->conn[ci].state == CONN_ATTACHED && qi < g->conn[ci].nqueues; qi++) {
			st->doorbells += g->conn[ci].ch[qi].cnt[BP_CHAN_CNT_DOORBELLS];
			st->desc_errs += bp_chan_drops(&g->conn[ci].ch[qi]);
		}
	pthread_mutex_unlock(&g->lock);
}

int
fakegw_inject(struct fakegw *g, uint32_t dst_be, uint16_t dport_be, uint32_t src_be,
              uint16_t sport_be, const void *data, uint16_t len)
{
	struct inject *in;

	if (len > sizeof(in->data))
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	if (g->ninj == MAX_INJECT) {
		pthread_mutex_unlock(&g->lock);
		return -ENOSPC;
	}
	in = &g->inj[g->ninj++];
	in->dst = dst_be;
	in->dport = dport_be;
	in->src = src_be;
	in->sport = sport_be;
	in->len = len;
	memcpy(in->data, data, len);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

pid_t
fakegw_spawn(const struct fakegw_cfg *cfg)
{
	pid_t pid;
	int i, fd;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (!fakegw_start(cfg))
			_exit(1);
		for (;;)
			pause();
	}
	for (i = 0; i < 400; i++) {
		fd = bp_sock_connect(cfg->path);
		if (fd >= 0) {
			close(fd); /* the gateway sees a connection close before HELLO: fine */
			return pid;
		}
		usleep(5000);
	}
	kill(pid, SIGKILL);
	return -1;
}
