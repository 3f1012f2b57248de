/* tcp_test.c - TCP engine tests: scripted exchanges checked segment by segment, lossy-link bulk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "stk.h"
#include "tcp.h"

#include "check.h"

/* ---- wire helpers (independent of the code under test) ------------------------------------ */

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))
#define MS              1000000ull
#define S               1000000000ull
#define T0              (1000 * S)

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* RFC 1071 the slow way: 16-bit big-endian words, folded at the end */
static uint16_t
ref_sum(const uint8_t *p, size_t n, uint64_t acc)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += get16(p + i);
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static const uint8_t MAC_A[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t MAC_B[6] = {0x02, 0, 0, 0, 0, 0x02};
#define IP_A IP4(198, 18, 0, 1)
#define IP_B IP4(198, 18, 0, 2)

/* ---- an engine and its surroundings ------------------------------------------------------- */

/* an RX buffer handle: refcounted so the test can prove every reference comes back */
struct rxb {
	int refs;
	uint32_t len;
	uint8_t data[];
};

static long g_rx_live;  /* RX buffers allocated and not yet freed */
static long g_hdr_live; /* header buffers handed to the engine and not yet sent */

static struct rxb *
rxb_new(const uint8_t *f, uint32_t len)
{
	struct rxb *b = malloc(sizeof(*b) + len);

	b->refs = 1;
	b->len = len;
	memcpy(b->data, f, len);
	g_rx_live++;
	return b;
}

static void
rxb_unref(struct rxb *b)
{
	if (--b->refs == 0) {
		free(b);
		g_rx_live--;
	} else if (b->refs < 0) {
		fprintf(stderr, "negative refcount\n");
		abort();
	}
}

/* a parsed segment the engine sent */
struct pseg {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint32_t len;
	uint8_t data[2048];
	int mss, ws, sack_ok, ts;
	uint32_t tsval, tsecr;
	int n_sack;
	uint32_t sack[4][2];
	uint8_t opt[40];
	uint32_t optlen;
};

#define MAX_EV 64

struct ev {
	enum stk_tcp_ev_type type;
	struct stk_tcp_conn *c;
	uint64_t user;
	uint32_t len;
	uint64_t cookie;
	int status;
	uint8_t data[2048];
};

struct env;
typedef void app_fn(struct env *e, const struct stk_tcp_event *ev);

struct env {
	struct stk_iface ifc;
	struct stk_lcore lc;
	struct stk_tcp *t;
	uint32_t ip;
	uint64_t now;
	/* frames the engine sent, oldest first */
	uint8_t *out[4096];
	uint32_t out_len[4096];
	unsigned n_out, out_head;
	/* events */
	struct ev ev[MAX_EV];
	unsigned n_ev;
	struct stk_tcp_conn *conn; /* the live connection, NULL after its end */
	int refuse;
	bool hold_rx; /* keep RECV bytes unconsumed (no recv_done) */
	uint32_t unconsumed;
	int ws_expect; /* the window scale our SYN-ACK should carry */
	uint32_t tx_flags_seen;
	uint32_t syn_win; /* the window our SYN-ACK should carry */
	app_fn *app;      /* bulk-transfer application, else events are recorded */
	void *app_state;
};

static void
op_rx_ref(void *ctx, void *buf)
{
	((struct rxb *)buf)->refs++;
}

static void
op_rx_unref(void *ctx, void *buf)
{
	rxb_unref(buf);
}

static void *
op_tx_alloc(void *ctx, uint8_t **frame)
{
	uint8_t *p = malloc(STK_TCP_HDR_ROOM);

	g_hdr_live++;
	*frame = p;
	return p;
}

static void
op_tx_send(void *ctx, const struct stk_tcp_tx *tx)
{
	struct env *e = ctx;
	uint32_t len = tx->hdr_len + tx->pay_len, off = tx->hdr_len;
	uint8_t *f = malloc(len < 60 ? 60 : len);

	if (tx->frame != tx->pkt || tx->hdr_len > STK_TCP_HDR_ROOM) {
		fprintf(stderr, "bad tx\n");
		abort();
	}
	memcpy(f, tx->frame, tx->hdr_len);
	for (unsigned i = 0; i < tx->n_iov; i++) {
		memcpy(f + off, tx->iov[i].base, tx->iov[i].len);
		off += tx->iov[i].len;
	}
	if (off != len) {
		fprintf(stderr, "iov length mismatch\n");
		abort();
	}
	e->tx_flags_seen |= tx->flags;
	if (tx->flags & STK_BUF_TX_TCPCK) {
		/* what the NIC does: sum the segment, starting from the pseudo-header sum the
		 * engine left in the checksum field */
		put16(f + 34 + 16, (uint16_t)~ref_sum(f + 34, len - 34, 0));
	}
	free(tx->pkt);
	g_hdr_live--;
	if (e->n_out - e->out_head == 4096) {
		fprintf(stderr, "output queue overflow\n");
		abort();
	}
	e->out[e->n_out % 4096] = f;
	e->out_len[e->n_out % 4096] = len;
	e->n_out++;
}

static int
op_event(void *ctx, const struct stk_tcp_event *ev)
{
	struct env *e = ctx;
	struct ev *r;

	if (ev->type == STK_TCP_EV_ACCEPTED && e->refuse)
		return -1;
	if (ev->type == STK_TCP_EV_ACCEPTED || ev->type == STK_TCP_EV_CONNECTED)
		e->conn = ev->c;
	if ((ev->type == STK_TCP_EV_CLOSED || ev->type == STK_TCP_EV_RESET) && e->conn == ev->c)
		e->conn = NULL;
	if (e->app) {
		e->app(e, ev);
		return 0;
	}
	if (e->n_ev == MAX_EV) {
		fprintf(stderr, "event overflow\n");
		abort();
	}
	r = &e->ev[e->n_ev++];
	memset(r, 0, sizeof(*r) - sizeof(r->data));
	r->type = ev->type;
	r->c = ev->c;
	r->user = ev->user;
	if (ev->type == STK_TCP_EV_RECV) {
		r->len = ev->u.recv.len;
		memcpy(r->data, ev->u.recv.data, ev->u.recv.len < 2048 ? ev->u.recv.len : 2048);
		e->unconsumed += ev->u.recv.len;
		rxb_unref(ev->u.recv.buf); /* the data is copied: the reference goes back */
	} else if (ev->type == STK_TCP_EV_SENT) {
		r->len = ev->u.sent.len;
		r->cookie = ev->u.sent.cookie;
		r->status = ev->u.sent.status;
	} else if (ev->type == STK_TCP_EV_RESET) {
		r->status = ev->u.reason;
	}
	return 0;
}

/* the shared quota hook: every +1 must come back as -1; g_quota_limit >= 0 refuses beyond */
static int g_quota_used, g_quota_limit = -1;

static int
op_quota(void *ctx, uint32_t tenant, int delta)
{
	if (delta > 0 && g_quota_limit >= 0 && g_quota_used >= g_quota_limit)
		return -1;
	g_quota_used += delta;
	if (g_quota_used < 0)
		abort();
	return 0;
}

static const struct stk_tcp_ops OPS = {
        .rx_ref = op_rx_ref,
        .rx_unref = op_rx_unref,
        .tx_alloc = op_tx_alloc,
        .tx_send = op_tx_send,
        .event = op_event,
        .quota = op_quota,
};

static struct stk_tcp_cfg cfg_default(void);

static void
env_init(struct env *e, const uint8_t *mac, uint32_t ip, const struct stk_tcp_cfg *cfg)
{
	struct stk_tcp_ops ops = OPS;
	struct stk_tcp_cfg def = cfg ? *cfg : cfg_default();

	/* fixed keys: runs are reproducible (ISNs, timestamps offsets, cookies) */
	if (!(def.secret[0] | def.secret[1] | def.secret[2] | def.secret[3])) {
		def.secret[0] = ip;
		def.secret[1] = 0x5eed;
		def.secret[2] = ip * 3;
		def.secret[3] = 0xc00c1e;
	}
	cfg = &def;
	memset(e, 0, sizeof(*e));
	e->ws_expect = cfg->wscale;
	while (!cfg->wscale && e->ws_expect < 14 &&
	       (65535u << e->ws_expect) < (cfg->rcv_buf ? cfg->rcv_buf : 262144))
		e->ws_expect++;
	e->syn_win = cfg->rcv_buf && cfg->rcv_buf < 65535 ? cfg->rcv_buf : 65535;
	memcpy(e->ifc.mac, mac, 6);
	e->ifc.own = calloc(1, sizeof(*e->ifc.own));
	e->ifc.own[0] = (struct stk_prefix){ip, 24};
	e->ifc.n_own = 1;
	e->ifc.icmp_echo_rate = e->ifc.icmp_unreach_rate = 1000;
	e->ifc.icmp_echo_burst = e->ifc.icmp_unreach_burst = 1000;
	if (stk_iface_finish(&e->ifc) != 0)
		abort();
	e->ip = ip;
	e->now = T0;
	stk_lcore_init(&e->lc, &e->ifc, NULL, 8, S, T0);
	ops.ctx = e;
	e->t = stk_tcp_create(cfg, &ops, &e->lc, T0);
	if (!e->t)
		abort();
}

static void
env_fini(struct env *e)
{
	stk_tcp_destroy(e->t);
	e->t = NULL;
	while (e->out_head != e->n_out)
		free(e->out[e->out_head++ % 4096]);
	stk_iface_release(&e->ifc);
}

static const uint64_t *
cnt(struct env *e)
{
	return stk_tcp_counters(e->t);
}

/* after input: the app consumes what it got (outside the callback, as the gateway would) */
static void
settle(struct env *e)
{
	if (e->conn && e->unconsumed && !e->hold_rx) {
		stk_tcp_recv_done(e->t, e->conn, e->unconsumed);
		e->unconsumed = 0;
	}
}

/* feed a frame through stk_input and the engine; NO_PORT answered with stk_tcp_reset */
static void
deliver_frame(struct env *e, const uint8_t *f, uint32_t len)
{
	struct rxb *b = rxb_new(f, len);
	struct stk_buf sb = {.data = b->data, .len = len, .room = len};
	struct stk_pkt_info info;
	struct stk_tcp_seg seg;

	e->lc.now_ns = e->now;
	if (stk_input(&e->lc, &sb, &info) == STK_V_TCP) {
		stk_tcp_seg_from_pkt(&seg, &sb, &info, b);
		if (stk_tcp_seg_input(e->t, &seg) == STK_TCP_IN_NO_PORT &&
		    stk_tcp_reset(&e->lc, &sb, &info) == STK_V_TX) {
			uint8_t *r = malloc(sb.len);

			memcpy(r, sb.data, sb.len);
			e->out[e->n_out % 4096] = r;
			e->out_len[e->n_out % 4096] = sb.len;
			e->n_out++;
		}
	}
	rxb_unref(b);
	settle(e);
}

static void
env_advance(struct env *e, uint64_t ns)
{
	e->now += ns;
	e->lc.now_ns = e->now;
	stk_tcp_advance(e->t, e->now);
	settle(e);
}

static unsigned
pending(const struct env *e)
{
	return e->n_out - e->out_head;
}

/* parse and verify (checksums) a frame the engine sent */
static bool
parse_seg(const uint8_t *f, uint32_t flen, struct pseg *p)
{
	const uint8_t *ip = f + 14, *th = f + 34;
	uint32_t tot, thl;
	uint64_t ps;

	memset(p, 0, sizeof(*p));
	p->mss = p->ws = -1;
	if (flen < 54 || get16(f + 12) != 0x0800 || ip[0] != 0x45 || ip[9] != 6)
		return false;
	tot = get16(ip + 2);
	if (tot + 14 > flen || ref_sum(ip, 20, 0) != 0xffff)
		return false;
	thl = (uint32_t)(th[12] >> 4) * 4;
	ps = get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) + 6 + (tot - 20);
	if (ref_sum(th, tot - 20, ps) != 0xffff)
		return false;
	p->src = get32(ip + 12);
	p->dst = get32(ip + 16);
	p->sport = get16(th);
	p->dport = get16(th + 2);
	p->seq = get32(th + 4);
	p->ack = get32(th + 8);
	p->flags = th[13];
	p->win = get16(th + 14);
	p->len = tot - 20 - thl;
	memcpy(p->data, th + thl, p->len < 2048 ? p->len : 2048);
	p->optlen = thl - 20;
	memcpy(p->opt, th + 20, p->optlen);
	for (uint32_t i = 20; i < thl;) {
		uint8_t k = th[i];

		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		if (k == 2)
			p->mss = get16(th + i + 2);
		else if (k == 3)
			p->ws = th[i + 2];
		else if (k == 4)
			p->sack_ok = 1;
		else if (k == 8) {
			p->ts = 1;
			p->tsval = get32(th + i + 2);
			p->tsecr = get32(th + i + 6);
		} else if (k == 5) {
			p->n_sack = (th[i + 1] - 2) / 8;
			for (int j = 0; j < p->n_sack && j < 4; j++) {
				p->sack[j][0] = get32(th + i + 2 + 8 * j);
				p->sack[j][1] = get32(th + i + 6 + 8 * j);
			}
		}
		i += th[i + 1];
	}
	return true;
}

/* take the next sent segment; false when there is none */
static bool
next_seg(struct env *e, struct pseg *p)
{
	uint8_t *f;
	bool ok;

	if (e->out_head == e->n_out)
		return false;
	f = e->out[e->out_head % 4096];
	ok = parse_seg(f, e->out_len[e->out_head % 4096], p);
	CHECK(ok);
	free(f);
	e->out_head++;
	return ok;
}

static void
drop_out(struct env *e)
{
	while (e->out_head != e->n_out)
		free(e->out[e->out_head++ % 4096]);
}

/* ---- the scripted peer -------------------------------------------------------------------- */

#define PEER_IP   IP4(198, 18, 0, 2)
#define PEER_PORT 40000
#define SRV_PORT  80

struct peer {
	uint32_t ip;
	uint16_t port, dport;
	uint32_t seq; /* next sequence number to send */
	uint32_t ack;
	uint16_t win;
	bool ts;
	uint32_t tsval, tsecr;
};

/* build a frame from the peer to e: flags, options (raw), payload */
static uint32_t
mk_seg(uint8_t *f, const struct env *e, const struct peer *p, uint32_t seq, uint32_t ack,
       uint8_t flags, const uint8_t *opt, uint32_t optlen, const uint8_t *pay, uint32_t plen)
{
	uint8_t *ip = f + 14, *th = f + 34;
	uint32_t thl = 20 + optlen;
	uint64_t ps;

	memcpy(f, e->ifc.mac, 6);
	memcpy(f + 6, MAC_B, 6);
	if (e->ip == IP_B)
		memcpy(f + 6, MAC_A, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + thl + plen));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, p->ip);
	put32(ip + 16, e->ip);
	put16(ip + 10, (uint16_t)~ref_sum(ip, 20, 0));
	memset(th, 0, 20);
	put16(th, p->port);
	put16(th + 2, p->dport);
	put32(th + 4, seq);
	put32(th + 8, ack);
	th[12] = (uint8_t)((thl / 4) << 4);
	th[13] = flags;
	put16(th + 14, p->win);
	if (optlen)
		memcpy(th + 20, opt, optlen);
	if (plen)
		memcpy(th + thl, pay, plen);
	ps = get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) + 6 + thl + plen;
	put16(th + 16, (uint16_t)~ref_sum(th, thl + plen, ps));
	return 34 + thl + plen;
}

/* send from the peer with its current seq/ack (+TS option when p->ts); advances p->seq */
static void
psend(struct env *e, struct peer *p, uint8_t flags, const uint8_t *pay, uint32_t plen)
{
	static uint8_t f[2200];
	uint8_t opt[12] = {1, 1, 8, 10};
	uint32_t n;

	put32(opt + 4, p->tsval);
	put32(opt + 8, p->tsecr);
	n = mk_seg(f, e, p, p->seq, p->ack, flags, opt, p->ts ? 12 : 0, pay, plen);
	p->seq += plen + !!(flags & STK_TCP_SYN) + !!(flags & STK_TCP_FIN);
	deliver_frame(e, f, n);
}

/* the same with an explicit sequence number (not advancing p->seq) */
static void
psend_at(struct env *e, struct peer *p, uint32_t seq, uint8_t flags, const uint8_t *pay,
         uint32_t plen)
{
	uint32_t save = p->seq;

	p->seq = seq;
	psend(e, p, flags, pay, plen);
	p->seq = save;
}

static uint8_t PAT[65536];

static void
pattern_init(void)
{
	for (unsigned i = 0; i < sizeof(PAT); i++)
		PAT[i] = (uint8_t)(i * 31 + (i >> 8) + 7);
}

/* default config for scripted tests: small, deterministic */
static struct stk_tcp_cfg
cfg_default(void)
{
	struct stk_tcp_cfg c = {.max_conns = 16, .rcv_buf = 65535, .wscale = 7};

	return c;
}

/*
 * Passive open with every option: SYN (MSS 1400, SACK-permitted, TS 1000/0, WS 7) -> SYN-ACK
 * with MSS 1460, SACK-permitted, TS echoing 1000, WS 7; the ACK completes it (ACCEPTED).
 * Leaves e->conn established and p ready to send data.
 */
static uint16_t g_hs_port = PEER_PORT; /* the peer port handshake_passive uses */

static void
handshake_passive(struct env *e, struct peer *p, bool opts)
{
	static const uint8_t syn_opt[20] = {2,    4,    0x05, 0x78, 4, 2, 8, 10, 0, 0,
	                                    0x03, 0xe8, 0,    0,    0, 0, 1, 3,  3, 7};
	uint32_t before = stk_tcp_conns_in_use(e->t);
	uint8_t f[200];
	struct pseg s;
	uint32_t n;

	*p = (struct peer){.ip = PEER_IP,
	                   .port = g_hs_port,
	                   .dport = SRV_PORT,
	                   .seq = 5000,
	                   .win = 1000,
	                   .ts = opts,
	                   .tsval = 1000};
	n = mk_seg(f, e, p, p->seq, 0, STK_TCP_SYN, syn_opt, opts ? 20 : 0, NULL, 0);
	p->seq++;
	deliver_frame(e, f, n);
	CHECK_EQ(pending(e), 1);
	CHECK(next_seg(e, &s));
	CHECK_EQ(s.flags, STK_TCP_SYN | STK_TCP_ACK);
	CHECK_EQ(s.ack, 5001);
	CHECK_EQ(s.sport, SRV_PORT);
	CHECK_EQ(s.dport, g_hs_port);
	CHECK_EQ(s.src, IP_A);
	CHECK_EQ(s.win, e->syn_win);
	CHECK_EQ(s.mss, 1460);
	if (opts) {
		/* Linux's layout: MSS, SACK-permitted, TS, NOP, WS */
		static const uint8_t want[8] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10};

		CHECK_EQ(s.optlen, 20);
		CHECK(memcmp(s.opt, want, 8) == 0);
		CHECK_EQ(s.opt[16], 1);
		CHECK_EQ(s.ws, e->ws_expect);
		CHECK(s.sack_ok);
		CHECK(s.ts);
		CHECK_EQ(s.tsecr, 1000);
	} else {
		CHECK_EQ(s.optlen, 4); /* MSS only: nothing offered that the peer did not */
		CHECK_EQ(s.ws, -1);
		CHECK(!s.sack_ok && !s.ts);
	}
	CHECK_EQ(stk_tcp_conns_in_use(e->t), before + 1);
	CHECK(e->conn == NULL); /* not announced before the handshake completes */
	p->ack = s.seq + 1;
	p->tsecr = s.tsval;
	p->tsval++;
	psend(e, p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(pending(e), 0);
	CHECK(e->conn != NULL);
	CHECK_EQ(e->n_ev, 1);
	CHECK_EQ(e->ev[0].type, STK_TCP_EV_ACCEPTED);
	CHECK_EQ(e->ev[0].user, 77);
	CHECK_EQ(stk_tcp_state(e->conn), STK_TCP_ESTABLISHED);
	e->n_ev = 0;
}

static struct stk_tcp_listener *
listen80(struct env *e)
{
	struct stk_tcp_listener *l = stk_tcp_listen(e->t, 0, SRV_PORT, 1, 4, 77);

	CHECK(l != NULL);
	return l;
}

/* every buffer back, every block back */
static void
check_clean(struct env *e)
{
	drop_out(e);
	CHECK_EQ(stk_tcp_ooo_held(e->t), 0);
	env_fini(e);
	CHECK_EQ(g_rx_live, 0);
	CHECK_EQ(g_quota_used, 0);
	CHECK_EQ(g_hdr_live, 0);
}

static void
test_passive_open_data(void)
{
	struct env e;
	struct peer p;
	struct pseg s;

	check_group_begin("passive_open_data");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	CHECK(stk_tcp_listen(e.t, IP_A, SRV_PORT, 1, 4, 1) == NULL && errno == EADDRINUSE);
	handshake_passive(&e, &p, true);

	/* one data segment: delivered at once, ACK delayed */
	p.tsval++;
	psend(&e, &p, STK_TCP_ACK | STK_TCP_PSH, PAT, 100);
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_RECV);
	CHECK_EQ(e.ev[0].len, 100);
	CHECK(memcmp(e.ev[0].data, PAT, 100) == 0);
	CHECK_EQ(pending(&e), 0);
	env_advance(&e, 39 * MS);
	CHECK_EQ(pending(&e), 0);
	env_advance(&e, 2 * MS);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_ACK);
	CHECK_EQ(s.ack, 5101);
	CHECK_EQ(s.len, 0);
	CHECK(s.ts);
	CHECK_EQ(s.tsecr, p.tsval);
	CHECK_EQ(s.win, 512); /* 65535 scaled by our WS 7, rounded up */
	CHECK_EQ(s.optlen, 12);

	/* two segments: the second is ACKed at once (RFC 5681 4.2) */
	psend(&e, &p, STK_TCP_ACK, PAT + 100, 1000);
	CHECK_EQ(pending(&e), 0);
	psend(&e, &p, STK_TCP_ACK, PAT + 1100, 1000);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.ack, 7101);

	/* the app sends 3000 bytes: MSS 1400 - 12 (timestamps) per segment, window 1000 << 7 */
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 3000, 0xc0ffee), 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.len, 1388);
	CHECK_EQ(s.seq, p.ack);
	CHECK(memcmp(s.data, PAT, 1388) == 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.len, 1388);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.len, 224);
	CHECK_EQ(s.flags, STK_TCP_ACK | STK_TCP_PSH);
	CHECK(memcmp(s.data, PAT + 2776, 224) == 0);
	e.n_ev = 0;
	p.ack += 1388;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(e.n_ev, 0); /* partly acknowledged: the buffer stays with the engine */
	p.ack += 1612;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_SENT);
	CHECK_EQ(e.ev[0].cookie, 0xc0ffee);
	CHECK_EQ(e.ev[0].status, 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_BYTES_OUT], 3000);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_BYTES_IN], 2100);
	check_clean(&e);
	check_group_end();
}

static void
test_active_open(void)
{
	struct env e;
	struct peer p = {
	        .ip = PEER_IP, .port = 8080, .dport = 33000, .seq = 0x90000000u, .win = 8192};
	struct stk_tcp_conn *c = NULL;
	struct pseg s;
	static const uint8_t want[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10};

	check_group_begin("active_open");
	env_init(&e, MAC_A, IP_A, NULL);
	CHECK_EQ(stk_tcp_connect(e.t, IP_A, 33000, PEER_IP, 8080, 2, 5, &c), 0);
	CHECK_EQ(stk_tcp_connect(e.t, IP_A, 33000, PEER_IP, 8080, 2, 5, &c), -EADDRINUSE);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_SYN);
	CHECK_EQ(s.ack, 0);
	CHECK_EQ(s.optlen, 20);
	CHECK(memcmp(s.opt, want, 8) == 0);
	CHECK_EQ(s.tsecr, 0);
	CHECK(s.ws >= 0 && s.ws <= 14);
	CHECK_EQ(stk_tcp_state(c), STK_TCP_SYN_SENT);

	/* SYN-ACK with only MSS 536: no timestamps, no SACK, no scaling from here on */
	{
		uint8_t f[200], mss[4] = {2, 4, 0x02, 0x18};
		uint32_t n;

		p.ack = s.seq + 1;
		n = mk_seg(f, &e, &p, p.seq, p.ack, STK_TCP_SYN | STK_TCP_ACK, mss, 4, NULL, 0);
		p.seq++;
		e.now += 10 * MS;
		deliver_frame(&e, f, n);
	}
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_CONNECTED);
	CHECK_EQ(e.ev[0].user, 5);
	CHECK_EQ(stk_tcp_state(c), STK_TCP_ESTABLISHED);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_ACK);
	CHECK_EQ(s.ack, 0x90000001u);
	CHECK_EQ(s.optlen, 0);
	CHECK_EQ(s.win, 65535 - 65535 % 536); /* unscaled (no WS from the peer), whole segments */
	CHECK_EQ(stk_tcp_send(e.t, c, PAT, 1000, 1), 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.len, 536);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.len, 464);
	CHECK_EQ(s.seq, p.ack + 536);
	drop_out(&e);
	/* the peer's data is accepted (regression: the receive window's right edge was left at 0
	 * after an active open, so a peer ISN in the upper half of the space saw a zero window) */
	e.n_ev = 0;
	psend(&e, &p, STK_TCP_ACK, PAT, 300);
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_RECV);
	CHECK_EQ(e.ev[0].len, 300);
	psend_at(&e, &p, p.seq + 70000, STK_TCP_ACK, PAT, 100); /* beyond the 65535 window */
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_OUT_OF_WINDOW], 1);
	CHECK_EQ(stk_tcp_ooo_held(e.t), 0);
	check_clean(&e);
	check_group_end();
}

static void
test_closed_port_and_listener_rst(void)
{
	struct env e;
	struct peer p = {.ip = PEER_IP, .port = PEER_PORT, .dport = 81, .seq = 1234, .win = 100};
	struct pseg s;

	check_group_begin("closed_port");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	/* SYN to port 81, nobody listens: stk_tcp_reset answers RST|ACK, ack = seq + 1 */
	psend(&e, &p, STK_TCP_SYN, NULL, 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_RST | STK_TCP_ACK);
	CHECK_EQ(s.seq, 0);
	CHECK_EQ(s.ack, 1235);
	CHECK_EQ(e.lc.cnt[STK_CNT_DROP_TCP_NO_PORT], 1);
	/* a stray ACK to the listener (not a cookie): RST with seq = SEG.ACK */
	p.dport = SRV_PORT;
	p.ack = 424242;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_RST);
	CHECK_EQ(s.seq, 424242);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_COOKIE_BAD], 1);
	/* an RST to a listener is ignored */
	psend(&e, &p, STK_TCP_RST, NULL, 0);
	CHECK_EQ(pending(&e), 0);
	/* malformed option list: dropped, counted */
	{
		uint8_t f[200], bad[4] = {2, 9, 0, 0}; /* MSS with length 9 */
		uint32_t n = mk_seg(f, &e, &p, 1, 0, STK_TCP_SYN, bad, 4, NULL, 0);

		deliver_frame(&e, f, n);
		CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_BAD_OPT], 1);
		CHECK_EQ(pending(&e), 0);
	}
	/* listeners that share a hash chain (80 and 337), one on a specific address; unlisten
	 * unlinks only its own */
	{
		struct stk_tcp_listener *l337 = stk_tcp_listen(e.t, IP_A, 337, 1, 4, 3);
		struct stk_tcp_listener *l80 = NULL;
		struct peer q = {.ip = PEER_IP, .port = 43000, .dport = 337, .seq = 9, .win = 100};

		CHECK(l337 != NULL);
		CHECK(stk_tcp_listen(e.t, 0, 337, 1, 4, 3) == NULL && errno == EADDRINUSE);
		psend(&e, &q, STK_TCP_SYN, NULL, 0);
		CHECK(next_seg(&e, &s));
		CHECK_EQ(s.flags, STK_TCP_SYN | STK_TCP_ACK);
		CHECK_EQ(s.sport, 337);
		l80 = stk_tcp_listen(e.t, IP_A, 80, 1, 4, 3); /* taken by the wildcard one */
		CHECK(l80 == NULL && errno == EADDRINUSE);
		stk_tcp_unlisten(e.t, l337);
		CHECK(next_seg(&e, &s)); /* its half-open block is reset */
		CHECK(s.flags & STK_TCP_RST);
		CHECK_EQ(s.sport, 337);
		q.port++;
		psend(&e, &q, STK_TCP_SYN, NULL, 0);
		CHECK(next_seg(&e, &s));
		CHECK_EQ(s.flags, STK_TCP_RST | STK_TCP_ACK); /* 337 is closed now */
		q.port++;
		q.dport = 80;
		psend(&e, &q, STK_TCP_SYN, NULL, 0);
		CHECK(next_seg(&e, &s));
		CHECK_EQ(s.flags, STK_TCP_SYN | STK_TCP_ACK); /* 80 still listens */
		drop_out(&e);
	}
	/* SYN+FIN: impossible flags */
	psend(&e, &p, STK_TCP_SYN | STK_TCP_FIN, NULL, 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_BAD_FLAGS], 1);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 1); /* the half-open block on 80 */
	check_clean(&e);
	check_group_end();
}

/* RFC 5961: RST exact -> reset; RST in window -> challenge ACK; outside -> silence; SYN ->
 * challenge ACK; ACK beyond SND.MAX -> ACK; ACK below SND.UNA - MAX.SND.WND -> challenge ACK */
static void
test_rst_5961(void)
{
	struct env e;
	struct peer p;
	struct pseg s;
	uint32_t snd;

	check_group_begin("rst_challenge_5961");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, false);
	snd = p.ack;

	psend_at(&e, &p, p.seq + 100, STK_TCP_RST, NULL, 0); /* in window, not exact */
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_ACK);
	CHECK_EQ(s.seq, snd);
	CHECK_EQ(s.ack, p.seq);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_CHALLENGE_ACK], 1);
	CHECK(e.conn != NULL);

	psend_at(&e, &p, p.seq + 200000, STK_TCP_RST, NULL, 0); /* outside the window */
	CHECK_EQ(pending(&e), 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_RST_BAD], 1);

	psend_at(&e, &p, p.seq + 10, STK_TCP_SYN, NULL, 0); /* SYN on an established conn */
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_ACK);
	CHECK_EQ(s.ack, p.seq);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_CHALLENGE_ACK], 2);

	p.ack = snd + 5; /* acknowledges data never sent */
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.ack, p.seq);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_ACK_TOO_NEW], 1);

	p.ack = snd - 70000; /* older than SND.UNA - MAX.SND.WND (1000) */
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_ACK_TOO_OLD], 1);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_CHALLENGE_ACK], 3);
	p.ack = snd;

	/* a pure ACK with a sequence number outside the window: ACKed, but not more often than
	 * every 500 ms (no ACK ping-pong) */
	psend_at(&e, &p, p.seq + 300000, STK_TCP_ACK, NULL, 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.ack, p.seq);
	psend_at(&e, &p, p.seq + 300000, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(pending(&e), 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_OOW_LIMITED], 1);
	env_advance(&e, 600 * MS);
	psend_at(&e, &p, p.seq + 300000, STK_TCP_ACK, NULL, 0);
	CHECK(next_seg(&e, &s));
	/* data out of window is always answered: it may be a retransmission we need to ACK */
	psend_at(&e, &p, p.seq - 2000, STK_TCP_ACK, PAT, 10);
	CHECK(next_seg(&e, &s));
	psend_at(&e, &p, p.seq - 2000, STK_TCP_ACK, PAT, 10);
	CHECK(next_seg(&e, &s));
	drop_out(&e);

	/* data queued when the exact RST comes: SENT with the error, then RESET */
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 10, 99), 0);
	drop_out(&e);
	e.n_ev = 0;
	psend(&e, &p, STK_TCP_RST, NULL, 0);
	CHECK_EQ(pending(&e), 0);
	CHECK_EQ(e.n_ev, 2);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_SENT);
	CHECK_EQ(e.ev[0].status, -ECONNRESET);
	CHECK_EQ(e.ev[1].type, STK_TCP_EV_RESET);
	CHECK_EQ(e.ev[1].status, -ECONNRESET);
	CHECK(e.conn == NULL);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RST_IN], 1);
	check_clean(&e);
	check_group_end();
}

/*
 * An RST at RCV.NXT - 1 after the peer's FIN (Linux's tcp_reset_check): the peer sent a request
 * and FIN and closed its socket; our answer, built before the FIN came, acks the FIN's sequence
 * number, and the peer's RST carries that ack as its seq. It resets in CLOSE-WAIT, LAST-ACK and
 * CLOSING; in ESTABLISHED, or two below, it stays out of window and is ignored.
 */
static void
test_rst_after_fin(void)
{
	struct env e;
	struct peer p;
	struct pseg s;
	static const enum stk_tcp_state st[3] = {STK_TCP_CLOSE_WAIT, STK_TCP_LAST_ACK,
	                                         STK_TCP_CLOSING};

	check_group_begin("rst_after_fin");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	/* ESTABLISHED: RCV.NXT - 1 is out of window, silently dropped (RFC 5961 3.2) */
	handshake_passive(&e, &p, false);
	psend_at(&e, &p, p.seq - 1, STK_TCP_RST, NULL, 0);
	CHECK_EQ(pending(&e), 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_RST_BAD], 1);
	CHECK(e.conn != NULL);
	stk_tcp_abort(e.t, e.conn);
	drop_out(&e);
	for (int i = 0; i < 3; i++) {
		uint32_t fin_seq;

		g_hs_port = (uint16_t)(PEER_PORT + 1 + i);
		e.n_ev = 0;
		handshake_passive(&e, &p, false);
		g_hs_port = PEER_PORT;
		if (st[i] == STK_TCP_CLOSING) {
			/* we close first; the peer's FIN crosses ours (it does not ack it) */
			CHECK_EQ(stk_tcp_close(e.t, e.conn), 0);
			drop_out(&e);
		}
		psend(&e, &p, STK_TCP_ACK, PAT, 20); /* the request */
		fin_seq = p.seq;
		psend(&e, &p, STK_TCP_ACK | STK_TCP_FIN, NULL, 0);
		drop_out(&e);
		if (st[i] == STK_TCP_LAST_ACK) {
			CHECK_EQ(stk_tcp_close(e.t, e.conn), 0);
			CHECK(next_seg(&e, &s));
			CHECK(s.flags & STK_TCP_FIN);
		}
		CHECK_EQ(stk_tcp_state(e.conn), st[i]);
		/* two below RCV.NXT: still ignored */
		psend_at(&e, &p, fin_seq - 1, STK_TCP_RST, NULL, 0);
		CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_RST_BAD], 2 + (uint64_t)i);
		CHECK(e.conn != NULL);
		/* the FIN's own sequence number, RCV.NXT - 1: RESET, block freed */
		e.n_ev = 0;
		psend_at(&e, &p, fin_seq, STK_TCP_RST, NULL, 0);
		CHECK_EQ(pending(&e), 0);
		CHECK(e.conn == NULL);
		CHECK(e.n_ev >= 1 && e.ev[e.n_ev - 1].type == STK_TCP_EV_RESET);
		CHECK_EQ(e.ev[e.n_ev - 1].status, -ECONNRESET);
		CHECK_EQ(cnt(&e)[STK_TCP_CNT_RST_IN], 1 + (uint64_t)i);
		CHECK_EQ(stk_tcp_conns_in_use(e.t), 0);
	}
	check_clean(&e);
	check_group_end();
}

/* retransmitted and overlapping data; out of order with SACK blocks; data after FIN */
static void
test_overlap_ooo_fin(void)
{
	struct env e;
	struct peer p;
	struct pseg s;
	uint32_t base;

	check_group_begin("overlap_ooo_fin");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, true);
	base = p.seq;

	psend(&e, &p, STK_TCP_ACK, PAT, 100);                    /* [0,100) */
	psend_at(&e, &p, base + 50, STK_TCP_ACK, PAT + 50, 100); /* [50,150): 100..150 new */
	CHECK_EQ(e.n_ev, 2);
	CHECK_EQ(e.ev[1].len, 50);
	CHECK(memcmp(e.ev[1].data, PAT + 100, 50) == 0);
	drop_out(&e);
	/* a pure duplicate: dropped, ACKed at once */
	psend_at(&e, &p, base, STK_TCP_ACK, PAT, 100);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.ack, base + 150);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_DUP], 1);

	/* out of order: [300,400) then [200,300) overlaps nothing; [150,250) overlaps the hole */
	e.n_ev = 0;
	psend_at(&e, &p, base + 300, STK_TCP_ACK, PAT + 300, 100);
	CHECK_EQ(e.n_ev, 0);
	CHECK(next_seg(&e, &s)); /* duplicate ACK with one SACK block */
	CHECK_EQ(s.ack, base + 150);
	CHECK_EQ(s.n_sack, 1);
	CHECK_EQ(s.sack[0][0], base + 300);
	CHECK_EQ(s.sack[0][1], base + 400);
	psend_at(&e, &p, base + 500, STK_TCP_ACK, PAT + 500, 100);
	CHECK(next_seg(&e, &s)); /* newest block first */
	CHECK_EQ(s.n_sack, 2);
	CHECK_EQ(s.sack[0][0], base + 500);
	CHECK_EQ(s.sack[1][0], base + 300);
	CHECK_EQ(stk_tcp_ooo_held(e.t), 2);
	psend_at(&e, &p, base + 150, STK_TCP_ACK, PAT + 150, 200); /* [150,350) */
	CHECK_EQ(e.n_ev, 2);
	CHECK_EQ(e.ev[0].len, 200);
	CHECK(memcmp(e.ev[0].data, PAT + 150, 200) == 0);
	CHECK_EQ(e.ev[1].len, 50); /* the queued [300,400) minus the overlap */
	CHECK(memcmp(e.ev[1].data, PAT + 350, 50) == 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.ack, base + 400);
	CHECK_EQ(s.n_sack, 1);
	/* the FIN arrives before the data in front of it: held, then processed in order */
	e.n_ev = 0;
	psend_at(&e, &p, base + 600, STK_TCP_ACK | STK_TCP_FIN, PAT + 600, 10);
	drop_out(&e);
	psend_at(&e, &p, base + 400, STK_TCP_ACK, PAT + 400, 100);
	CHECK_EQ(e.n_ev, 4);
	CHECK_EQ(e.ev[0].len, 100);
	CHECK_EQ(e.ev[1].len, 100);
	CHECK_EQ(e.ev[2].len, 10);
	CHECK_EQ(e.ev[3].type, STK_TCP_EV_EOF);
	CHECK_EQ(stk_tcp_state(e.conn), STK_TCP_CLOSE_WAIT);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.ack, base + 611);
	CHECK_EQ(s.n_sack, 0);
	CHECK_EQ(stk_tcp_ooo_held(e.t), 0);
	/* data after the FIN: ignored, counted, ACKed */
	psend_at(&e, &p, base + 611, STK_TCP_ACK, PAT, 10);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_DATA_AFTER_FIN], 1);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.ack, base + 611);
	/* our close: FIN, LAST-ACK, the peer's ACK ends it (CLOSED) */
	CHECK_EQ(stk_tcp_close(e.t, e.conn), 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_ACK | STK_TCP_FIN);
	CHECK_EQ(stk_tcp_state(e.conn), STK_TCP_LAST_ACK);
	e.n_ev = 0;
	p.seq = base + 611;
	p.ack = s.seq + 1;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_CLOSED);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 0);
	check_clean(&e);
	check_group_end();
}

/* our receive window closes while the app holds data, probes are answered, recv_done opens it;
 * the peer's zero window makes us probe (persist), and its ACKs keep the connection alive */
static void
test_zero_window(void)
{
	struct stk_tcp_cfg cfg = cfg_default();
	struct env e;
	struct peer p;
	struct pseg s;
	uint32_t una;

	check_group_begin("zero_window");
	cfg.rcv_buf = 4000;
	cfg.wscale = 0;
	env_init(&e, MAC_A, IP_A, &cfg);
	listen80(&e);
	handshake_passive(&e, &p, false);
	e.hold_rx = true;
	for (int i = 0; i < 4; i++)
		psend(&e, &p, STK_TCP_ACK, PAT + i * 1000, 1000);
	drop_out(&e);
	env_advance(&e, 50 * MS);
	CHECK_EQ(e.unconsumed, 4000);
	/* a window probe: one byte beyond the closed window, not accepted, ACKed with window 0 */
	psend_at(&e, &p, p.seq, STK_TCP_ACK, PAT + 4000, 1);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.win, 0);
	CHECK_EQ(s.ack, p.seq);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_OUT_OF_WINDOW], 1);
	/* the app consumes 1000, more than min(buf / 2, MSS): a window update */
	stk_tcp_recv_done(e.t, e.conn, 1000);
	e.unconsumed -= 1000;
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.win, 536); /* whole segments only */
	CHECK_EQ(pending(&e), 0);

	/* now the peer's window is zero: the app sends, nothing goes until a probe */
	e.n_ev = 0;
	p.win = 0;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	drop_out(&e);
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 500, 3), 0);
	CHECK_EQ(pending(&e), 0);
	una = p.ack;
	env_advance(&e, 1100 * MS); /* RTO (1 s, no RTT sample yet) -> persist probe */
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.len, 1);
	CHECK_EQ(s.seq, una);
	CHECK_EQ(s.data[0], PAT[0]);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_WINDOW_PROBE], 1);
	/* the peer keeps its window shut for a long time: probes continue, no reset */
	for (int i = 0; i < 30; i++) {
		psend(&e, &p, STK_TCP_ACK, NULL, 0);
		env_advance(&e, 30 * S);
		drop_out(&e);
	}
	CHECK(e.conn != NULL);
	CHECK(cnt(&e)[STK_TCP_CNT_WINDOW_PROBE] >= 10);
	/* the window opens: the rest goes out */
	p.win = 5000;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	env_advance(&e, 60 * S);
	{
		uint32_t got = 0;

		while (next_seg(&e, &s))
			if (s.len && s.seq == una + got)
				got += s.len;
			else if (s.len && s.seq == una)
				got = s.len;
		CHECK_EQ(got, 500);
	}
	p.ack = una + 500;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_SENT);
	CHECK_EQ(e.ev[0].cookie, 3);
	check_clean(&e);
	check_group_end();
}

/* RTO: retransmission after 1 s, backoff doubles; Karn; fast retransmit on three dup ACKs */
static void
test_retransmit(void)
{
	struct env e;
	struct peer p;
	struct pseg s;
	uint32_t una;

	check_group_begin("retransmit");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, false);
	p.win = 60000;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	una = p.ack;
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 100, 1), 0);
	CHECK(next_seg(&e, &s));
	env_advance(&e, 999 * MS);
	CHECK_EQ(pending(&e), 0);
	env_advance(&e, 2 * MS);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.seq, una);
	CHECK_EQ(s.len, 100);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RTO], 1);
	env_advance(&e, 1990 * MS); /* backed off to 2 s */
	CHECK_EQ(pending(&e), 0);
	env_advance(&e, 20 * MS);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RTO], 2);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RETRANS_SEGS], 2);
	p.ack = una + 100;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	una = p.ack;

	/* ten segments out, the first lost: three duplicate ACKs -> fast retransmit */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT + 536 * i, 536, 10 + i), 0);
	drop_out(&e);
	env_advance(&e, 10 * MS);
	drop_out(&e);
	/* the cwnd after RTO is one segment: ACK growth releases the rest; ack one by one */
	for (int round = 0; round < 6; round++) {
		p.ack = una + 536 * (uint32_t)round;
		if (round)
			psend(&e, &p, STK_TCP_ACK, NULL, 0);
		drop_out(&e);
	}
	una = p.ack;
	drop_out(&e);
	for (int i = 0; i < 3; i++)
		psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DUP_ACK_IN], 3);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_FAST_RETRANS], 1);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.seq, una);
	CHECK_EQ(s.len, 536);
	/* full ACK ends recovery */
	p.ack = una + 536 * 5;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	e.n_ev = 0;
	p.ack = una + 536 * 5;
	drop_out(&e);
	check_clean(&e);
	check_group_end();
}

/* two engines: simultaneous open (SYNs cross) and simultaneous close (FINs cross), TIME-WAIT
 * on both sides and its expiry */
static void
xfer(struct env *from, struct env *to)
{
	while (from->out_head != from->n_out) {
		uint8_t *f = from->out[from->out_head % 4096];
		uint32_t n = from->out_len[from->out_head % 4096];

		from->out_head++;
		memcpy(f, to->ifc.mac, 6);
		deliver_frame(to, f, n);
		free(f);
	}
}

static void
test_simultaneous(void)
{
	struct env a, b;
	struct stk_tcp_conn *ca, *cb;

	check_group_begin("simultaneous");
	env_init(&a, MAC_A, IP_A, NULL);
	env_init(&b, MAC_B, IP_B, NULL);
	CHECK_EQ(stk_tcp_connect(a.t, IP_A, 5000, IP_B, 6000, 0, 1, &ca), 0);
	CHECK_EQ(stk_tcp_connect(b.t, IP_B, 6000, IP_A, 5000, 0, 2, &cb), 0);
	xfer(&a, &b); /* A's SYN reaches B in SYN-SENT: SYN-RECEIVED, SYN-ACK */
	xfer(&b, &a); /* B's SYN and SYN-ACK reach A */
	CHECK_EQ(stk_tcp_state(cb), STK_TCP_SYN_RECEIVED);
	xfer(&a, &b);
	xfer(&b, &a);
	CHECK_EQ(stk_tcp_state(ca), STK_TCP_ESTABLISHED);
	CHECK_EQ(stk_tcp_state(cb), STK_TCP_ESTABLISHED);
	CHECK_EQ(a.n_ev, 1);
	CHECK_EQ(a.ev[0].type, STK_TCP_EV_CONNECTED);
	CHECK_EQ(b.n_ev, 1);
	CHECK_EQ(b.ev[0].type, STK_TCP_EV_CONNECTED);
	a.n_ev = b.n_ev = 0;

	/* both close at once */
	CHECK_EQ(stk_tcp_close(a.t, ca), 0);
	CHECK_EQ(stk_tcp_close(b.t, cb), 0);
	CHECK_EQ(stk_tcp_state(ca), STK_TCP_FIN_WAIT_1);
	xfer(&a, &b);
	CHECK_EQ(stk_tcp_state(cb), STK_TCP_CLOSING);
	xfer(&b, &a);
	xfer(&a, &b);
	CHECK_EQ(a.n_ev, 2); /* EOF, CLOSED */
	CHECK_EQ(a.ev[0].type, STK_TCP_EV_EOF);
	CHECK_EQ(a.ev[1].type, STK_TCP_EV_CLOSED);
	CHECK_EQ(b.n_ev, 2);
	CHECK_EQ(b.ev[1].type, STK_TCP_EV_CLOSED);
	CHECK_EQ(stk_tcp_conns_in_use(a.t), 1); /* TIME-WAIT blocks */
	CHECK_EQ(stk_tcp_conns_in_use(b.t), 1);
	env_advance(&a, 59 * S);
	CHECK_EQ(stk_tcp_conns_in_use(a.t), 1);
	env_advance(&a, 2 * S);
	env_advance(&b, 61 * S);
	CHECK_EQ(stk_tcp_conns_in_use(a.t), 0);
	CHECK_EQ(stk_tcp_conns_in_use(b.t), 0);
	check_clean(&a);
	check_clean(&b);
	check_group_end();
}

/* active close: FIN-WAIT-1/2, TIME-WAIT, a retransmitted FIN is ACKed again, expiry */
static void
test_time_wait(void)
{
	struct env e;
	struct peer p;
	struct pseg s;
	uint32_t fin_seq;

	check_group_begin("time_wait");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, true);
	CHECK_EQ(stk_tcp_close(e.t, e.conn), 0);
	CHECK_EQ(stk_tcp_close(e.t, e.conn), -EALREADY);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_ACK | STK_TCP_FIN);
	fin_seq = s.seq;
	p.ack = fin_seq + 1;
	p.tsval++;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(stk_tcp_state(e.conn), STK_TCP_FIN_WAIT_2);
	/* half-closed: the peer may still send, for longer than the FIN-WAIT-2 limit as long as
	 * it is not idle that long */
	e.n_ev = 0;
	for (int i = 0; i < 3; i++) {
		env_advance(&e, 50 * S);
		p.tsval += 50000;
		psend(&e, &p, STK_TCP_ACK, PAT, 10);
	}
	CHECK_EQ(e.n_ev, 3);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_RECV);
	CHECK_EQ(stk_tcp_state(e.conn), STK_TCP_FIN_WAIT_2);
	drop_out(&e);
	psend(&e, &p, STK_TCP_ACK | STK_TCP_FIN, NULL, 0);
	CHECK(e.conn == NULL);
	CHECK_EQ(e.ev[e.n_ev - 1].type, STK_TCP_EV_CLOSED);
	drop_out(&e);
	/* the peer did not get our ACK: its FIN again */
	psend_at(&e, &p, p.seq - 1, STK_TCP_ACK | STK_TCP_FIN, NULL, 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_ACK);
	CHECK_EQ(s.ack, p.seq);
	CHECK_EQ(s.seq, fin_seq + 1);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 1);
	env_advance(&e, 60 * S + 5 * MS);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 0);
	/* the same tuple may connect again */
	e.n_ev = 0;
	handshake_passive(&e, &p, true);
	check_clean(&e);
	check_group_end();
}

/* backlog full -> SYN cookies; a valid cookie ACK completes the handshake, a forged one gets
 * RST; a tenant over quota is refused */
static void
test_cookies_quota(void)
{
	struct env e;
	struct peer p[4];
	struct pseg s;
	static const uint8_t syn_opt[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
	                                    0, 9, 0,    0,    0, 0, 1, 3,  3, 2};
	uint8_t f[200];
	struct stk_tcp_listener *l;

	check_group_begin("syn_cookies_quota");
	env_init(&e, MAC_A, IP_A, NULL);
	l = stk_tcp_listen(e.t, 0, SRV_PORT, 3, 1, 55);
	CHECK(l != NULL);
	for (int i = 0; i < 3; i++) {
		uint32_t n;

		p[i] = (struct peer){.ip = PEER_IP,
		                     .port = (uint16_t)(41000 + i),
		                     .dport = SRV_PORT,
		                     .seq = 777u * (unsigned)(i + 1),
		                     .win = 2000,
		                     .ts = true,
		                     .tsval = 9};
		n = mk_seg(f, &e, &p[i], p[i].seq, 0, STK_TCP_SYN, syn_opt, 20, NULL, 0);
		p[i].seq++;
		deliver_frame(&e, f, n);
		CHECK(next_seg(&e, &s));
		CHECK_EQ(s.flags, STK_TCP_SYN | STK_TCP_ACK);
		CHECK_EQ(s.mss, 1460);
		CHECK_EQ(s.ws, 7 >= 0 ? s.ws : 0);
		CHECK(s.sack_ok && s.ts);
		CHECK_EQ(s.tsecr, 9);
		p[i].ack = s.seq + 1;
		p[i].tsecr = s.tsval;
	}
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 1); /* only the first holds a block */
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_COOKIE_SENT], 2);
	/* a forged cookie */
	p[2].ack ^= 0x100;
	psend(&e, &p[2], STK_TCP_ACK, NULL, 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_RST);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_COOKIE_BAD], 1);
	/* a later data segment of the cookie connection overtakes the first: its SEG.SEQ - 1 is
	 * not the ISN, so the cookie fails, but it is dropped quietly (no RST) */
	psend_at(&e, &p[1], p[1].seq + 20, STK_TCP_ACK, PAT + 20, 30);
	CHECK_EQ(pending(&e), 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_COOKIE_BAD], 2);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 1);
	/* the genuine first one, carrying data */
	psend(&e, &p[1], STK_TCP_ACK | STK_TCP_PSH, PAT, 20);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_COOKIE_OK], 1);
	CHECK_EQ(e.n_ev, 2);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_ACCEPTED);
	CHECK_EQ(e.ev[0].user, 55);
	CHECK_EQ(e.ev[1].type, STK_TCP_EV_RECV);
	CHECK_EQ(e.ev[1].len, 20);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 2);
	/* the cookie connection has the options the cookie kept: window scale 2, timestamps */
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 5000, 1), 0);
	CHECK(next_seg(&e, &s));
	CHECK(s.ts);
	CHECK_EQ(s.len, 1460 - 12);
	drop_out(&e);
	/* quota: tenant 3 may hold 2; the first half-open completes, a new SYN is refused */
	CHECK_EQ(stk_tcp_set_quota(e.t, 3, 2), 0);
	psend(&e, &p[0], STK_TCP_ACK, NULL, 0);
	CHECK_EQ(stk_tcp_tenant_conns(e.t, 3), 2);
	{
		struct peer q = {
		        .ip = PEER_IP, .port = 42000, .dport = SRV_PORT, .seq = 1, .win = 100};

		psend(&e, &q, STK_TCP_SYN, NULL, 0);
		CHECK_EQ(pending(&e), 0);
		CHECK(cnt(&e)[STK_TCP_CNT_DROP_QUOTA] >= 1);
	}
	/* the shared quota hook refuses: connect says EDQUOT, nothing leaks */
	{
		struct stk_tcp_conn *c;

		g_quota_limit = g_quota_used;
		CHECK_EQ(stk_tcp_connect(e.t, IP_A, 36000, PEER_IP, 9, 4, 0, &c), -EDQUOT);
		g_quota_limit = -1;
		CHECK_EQ(stk_tcp_connect(e.t, IP_A, 36000, PEER_IP, 9, 4, 0, &c), 0);
		stk_tcp_abort(e.t, c);
	}
	stk_tcp_unlisten(e.t, l);
	check_clean(&e);
	check_group_end();
}

static void
test_keepalive(void)
{
	struct stk_tcp_cfg cfg = cfg_default();
	struct env e;
	struct peer p;
	struct pseg s;

	check_group_begin("keepalive");
	cfg.keep_idle_ns = 10 * S;
	cfg.keep_intvl_ns = 1 * S;
	cfg.keep_cnt = 3;
	env_init(&e, MAC_A, IP_A, &cfg);
	listen80(&e);
	handshake_passive(&e, &p, false);
	stk_tcp_set_keepalive(e.t, e.conn, true);
	env_advance(&e, 9 * S);
	CHECK_EQ(pending(&e), 0);
	env_advance(&e, 1100 * MS);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.seq, p.ack - 1); /* SND.UNA - 1, no data */
	CHECK_EQ(s.len, 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_KEEPALIVE_OUT], 1);
	psend(&e, &p, STK_TCP_ACK, NULL, 0); /* the answer resets the count */
	env_advance(&e, 5 * S);
	CHECK_EQ(pending(&e), 0);
	for (int i = 0; i < 8; i++)
		env_advance(&e, 1 * S);
	/* three unanswered probes, then RST and RESET ETIMEDOUT */
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_KEEPALIVE_OUT], 4);
	CHECK(e.conn == NULL);
	CHECK_EQ(e.ev[e.n_ev - 1].type, STK_TCP_EV_RESET);
	CHECK_EQ(e.ev[e.n_ev - 1].status, -ETIMEDOUT);
	while (next_seg(&e, &s))
		if (s.flags & STK_TCP_RST)
			CHECK_EQ(s.seq, p.ack);
	check_clean(&e);
	check_group_end();
}

/* cfg.keepalive: every connection probes without stk_tcp_set_keepalive, the passive one from
 * its handshake's ACK on, the active one although no segment follows the SYN-ACK */
static void
test_keepalive_cfg(void)
{
	struct stk_tcp_cfg cfg = cfg_default();
	struct peer a = {
	        .ip = PEER_IP, .port = 8080, .dport = 33000, .seq = 0x90000000u, .win = 8192};
	struct stk_tcp_conn *c = NULL;
	struct env e;
	struct peer p;
	struct pseg s;
	uint8_t f[200];
	uint32_t n;

	check_group_begin("keepalive_cfg");
	cfg.keepalive = true;
	cfg.keep_idle_ns = 2 * S;
	cfg.keep_intvl_ns = 1 * S;
	cfg.keep_cnt = 2;
	env_init(&e, MAC_A, IP_A, &cfg);
	listen80(&e);
	handshake_passive(&e, &p, false);
	env_advance(&e, 1900 * MS);
	CHECK_EQ(pending(&e), 0);
	env_advance(&e, 200 * MS);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.seq, p.ack - 1);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_KEEPALIVE_OUT], 1);
	psend(&e, &p, STK_TCP_ACK, NULL, 0);

	/* active open: SYN, SYN-ACK 100 ms later, our ACK; then silence */
	CHECK_EQ(stk_tcp_connect(e.t, IP_A, 33000, PEER_IP, 8080, 0, 5, &c), 0);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_SYN);
	a.ack = s.seq + 1;
	n = mk_seg(f, &e, &a, a.seq, a.ack, STK_TCP_SYN | STK_TCP_ACK, NULL, 0, NULL, 0);
	a.seq++;
	env_advance(&e, 100 * MS);
	deliver_frame(&e, f, n);
	CHECK_EQ(stk_tcp_state(c), STK_TCP_ESTABLISHED);
	while (next_seg(&e, &s))
		;
	for (int i = 0; i < 25; i++)
		env_advance(&e, 100 * MS);
	/* by now both connections probed again: the passive one answered, the active one not */
	CHECK(cnt(&e)[STK_TCP_CNT_KEEPALIVE_OUT] >= 3);
	for (int i = 0; i < 5; i++)
		env_advance(&e, 1 * S);
	/* two unanswered probes each: both reset */
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RESET], 2);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 0);
	while (next_seg(&e, &s))
		;
	check_clean(&e);
	check_group_end();
}

/* an app that refuses the connection: RST, nothing leaks; PAWS */
static void
test_refuse_paws(void)
{
	struct env e;
	struct peer p;
	struct pseg s;

	check_group_begin("refuse_paws");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, true);
	/* PAWS: a timestamp older than TS.Recent */
	p.tsval = 500;
	psend(&e, &p, STK_TCP_ACK, PAT, 10);
	CHECK_EQ(e.n_ev, 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_PAWS], 1);
	CHECK(next_seg(&e, &s));
	p.tsval = 2000;
	p.seq -= 10;
	psend(&e, &p, STK_TCP_ACK, PAT, 10);
	CHECK_EQ(e.n_ev, 1);
	stk_tcp_abort(e.t, e.conn);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags & STK_TCP_RST, STK_TCP_RST);
	CHECK(e.conn == NULL);
	drop_out(&e);
	e.refuse = 1;
	e.n_ev = 0;
	{
		struct peer q = {
		        .ip = PEER_IP, .port = 45000, .dport = SRV_PORT, .seq = 10, .win = 100};

		psend(&e, &q, STK_TCP_SYN, NULL, 0);
		CHECK(next_seg(&e, &s));
		q.ack = s.seq + 1;
		psend(&e, &q, STK_TCP_ACK, NULL, 0);
		CHECK(next_seg(&e, &s));
		CHECK_EQ(s.flags & STK_TCP_RST, STK_TCP_RST);
		CHECK_EQ(e.n_ev, 0);
	}
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 0);
	check_clean(&e);
	check_group_end();
}

/* handshake failures and give-ups: SYN-ACK retransmitted then the half-open block dropped
 * silently; SYN retries then ETIMEDOUT; RST to our SYN -> ECONNREFUSED; data retries ->
 * ETIMEDOUT with an RST; unlisten drops half-open blocks; ids of dead handles do not resolve */
static void
test_give_up(void)
{
	struct stk_tcp_cfg cfg = cfg_default();
	struct env e;
	struct peer p = {.ip = PEER_IP, .port = 46000, .dport = SRV_PORT, .seq = 10, .win = 4000};
	struct stk_tcp_conn *c;
	struct stk_tcp_listener *l;
	struct pseg s;
	uint64_t id;
	unsigned n;

	check_group_begin("give_up");
	cfg.syn_retries = 2;
	cfg.max_retries = 3;
	env_init(&e, MAC_A, IP_A, &cfg);
	l = listen80(&e);
	psend(&e, &p, STK_TCP_SYN, NULL, 0);
	CHECK(next_seg(&e, &s));
	env_advance(&e, 1001 * MS); /* 1 s */
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_SYN | STK_TCP_ACK);
	psend_at(&e, &p, 10, STK_TCP_SYN, NULL, 0); /* the peer repeats its SYN: SYN-ACK again */
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_SYN | STK_TCP_ACK);
	env_advance(&e, 2001 * MS); /* 2 s */
	CHECK(next_seg(&e, &s));
	env_advance(&e, 4001 * MS); /* third timeout: give up */
	CHECK_EQ(pending(&e), 0);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 0);
	CHECK_EQ(e.n_ev, 0);

	/* unlisten with a half-open block: RST, freed, nothing announced */
	p.port++;
	psend(&e, &p, STK_TCP_SYN, NULL, 0);
	drop_out(&e);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 1);
	stk_tcp_unlisten(e.t, l);
	CHECK(next_seg(&e, &s));
	CHECK(s.flags & STK_TCP_RST);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 0);
	CHECK_EQ(e.n_ev, 0);

	/* active open, no answer: SYN, 2 retries, ETIMEDOUT */
	CHECK_EQ(stk_tcp_connect(e.t, IP_A, 34000, PEER_IP, 9, 0, 3, &c), 0);
	id = stk_tcp_conn_id(c);
	CHECK(stk_tcp_conn_by_id(e.t, id) == c);
	for (int i = 0; i < 4; i++)
		env_advance(&e, 4100 * MS);
	n = 0;
	while (next_seg(&e, &s))
		n += s.flags == STK_TCP_SYN;
	CHECK_EQ(n, 3);
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_RESET);
	CHECK_EQ(e.ev[0].status, -ETIMEDOUT);
	CHECK(stk_tcp_conn_by_id(e.t, id) == NULL);

	/* active open refused */
	e.n_ev = 0;
	CHECK_EQ(stk_tcp_connect(e.t, IP_A, 34001, PEER_IP, 9, 0, 3, &c), 0);
	CHECK(next_seg(&e, &s));
	{
		struct peer q = {
		        .ip = PEER_IP, .port = 9, .dport = 34001, .seq = 0, .ack = s.seq + 1};

		psend(&e, &q, STK_TCP_RST | STK_TCP_ACK, NULL, 0);
		q.ack = s.seq + 7; /* an RST that does not acknowledge our SYN is ignored */
	}
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].status, -ECONNREFUSED);

	/* established, data never acknowledged: 3 retries, then RST and ETIMEDOUT */
	e.n_ev = 0;
	listen80(&e);
	handshake_passive(&e, &p, false);
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 100, 8), 0);
	for (int i = 0; i < 6; i++)
		env_advance(&e, 8 * S);
	CHECK(e.conn == NULL);
	CHECK_EQ(e.n_ev, 2);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_SENT);
	CHECK_EQ(e.ev[0].status, -ETIMEDOUT);
	CHECK_EQ(e.ev[1].status, -ETIMEDOUT);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RTO], 3);
	n = 0;
	while (next_seg(&e, &s))
		n += !!(s.flags & STK_TCP_RST);
	CHECK_EQ(n, 1);
	check_clean(&e);
	check_group_end();
}

/* a full pool answers with cookies; a TIME-WAIT block yields to a newer SYN; the engine-wide
 * out-of-order bound */
static void
test_pool_tw_ooo(void)
{
	struct stk_tcp_cfg cfg = cfg_default();
	struct env e;
	struct peer p, q;
	struct pseg s;

	check_group_begin("pool_tw_ooo");
	cfg.max_conns = 2;
	cfg.ooo_max_worker = 3;
	env_init(&e, MAC_A, IP_A, &cfg);
	listen80(&e);
	handshake_passive(&e, &p, true);
	/* out of order: the engine holds at most 3 */
	for (int i = 0; i < 5; i++)
		psend_at(&e, &p, p.seq + 1000 + 200 * (uint32_t)i, STK_TCP_ACK, PAT, 100);
	CHECK_EQ(stk_tcp_ooo_held(e.t), 3);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_OOO_FULL], 2);
	drop_out(&e);
	/* second block taken by a half-open, the third SYN gets a cookie */
	q = (struct peer){.ip = PEER_IP, .port = 47000, .dport = SRV_PORT, .seq = 1, .win = 100};
	psend(&e, &q, STK_TCP_SYN, NULL, 0);
	q.port++;
	psend(&e, &q, STK_TCP_SYN, NULL, 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_COOKIE_SENT], 1);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 2);
	drop_out(&e);
	/* the first connection closes actively and sits in TIME-WAIT */
	stk_tcp_abort(e.t, e.conn);
	drop_out(&e);
	CHECK_EQ(stk_tcp_ooo_held(e.t), 0);
	e.n_ev = 0;
	handshake_passive(&e, &p, true);
	CHECK_EQ(stk_tcp_close(e.t, e.conn), 0);
	CHECK(next_seg(&e, &s));
	p.ack = s.seq + 1;
	p.tsval += 10;
	psend(&e, &p, STK_TCP_ACK | STK_TCP_FIN, NULL, 0);
	CHECK(e.conn == NULL);
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 2);
	drop_out(&e);
	/* a new SYN on the same tuple with a newer timestamp takes the block over (RFC 6191) */
	e.n_ev = 0;
	{
		uint8_t f[200], opt[12] = {1, 1, 8, 10, 0, 0, 0x10, 0, 0, 0, 0, 0};
		uint32_t len = mk_seg(f, &e, &p, p.seq + 100000, 0, STK_TCP_SYN, opt, 12, NULL, 0);

		deliver_frame(&e, f, len);
	}
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_TIME_WAIT_REUSE], 1);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.flags, STK_TCP_SYN | STK_TCP_ACK);
	CHECK_EQ(s.ack, p.seq + 100001);
	check_clean(&e);
	check_group_end();
}

/* an ACK from the peer carrying TS, SACK blocks [b][0], [b][1] and plen bytes of pay */
static void
psend_sack_data(struct env *e, struct peer *p, const uint32_t (*blk)[2], unsigned n,
                const uint8_t *pay, uint32_t plen)
{
	static uint8_t f[2200];
	uint8_t opt[40] = {1, 1, 8, 10};
	uint32_t len, ol = 12;

	put32(opt + 4, p->tsval);
	put32(opt + 8, p->tsecr);
	opt[ol++] = 1;
	opt[ol++] = 1;
	opt[ol++] = 5;
	opt[ol++] = (uint8_t)(2 + 8 * n);
	for (unsigned i = 0; i < n; i++) {
		put32(opt + ol, blk[i][0]);
		put32(opt + ol + 4, blk[i][1]);
		ol += 8;
	}
	len = mk_seg(f, e, p, p->seq, p->ack, STK_TCP_ACK, opt, ol, pay, plen);
	p->seq += plen;
	deliver_frame(e, f, len);
}

/* an ACK from the peer carrying TS and SACK blocks, no data */
static void
psend_sack(struct env *e, struct peer *p, const uint32_t (*blk)[2], unsigned n)
{
	psend_sack_data(e, p, blk, n, NULL, 0);
}

/* SACK on the sending side: segments 0 and 4 of 10 lost; three duplicate ACKs retransmit 0,
 * the next one (SACKing 5) retransmits 4 and not the SACKed 1..3 */
static void
test_sack_recovery(void)
{
	struct env e;
	struct peer p;
	struct pseg s;
	uint32_t una, M = 1388;
	uint32_t blk[2][2];

	check_group_begin("sack_recovery");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, true);
	una = p.ack;
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 10 * M, 1), 0);
	for (int i = 0; i < 10; i++) {
		CHECK(next_seg(&e, &s));
		CHECK_EQ(s.seq, una + M * (uint32_t)i);
		CHECK_EQ(s.len, M);
	}
	CHECK_EQ(pending(&e), 0);
	for (uint32_t k = 2; k <= 4; k++) {
		blk[0][0] = una + M;
		blk[0][1] = una + M * k;
		psend_sack(&e, &p, (const uint32_t(*)[2])blk, 1);
	}
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_FAST_RETRANS], 1);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.seq, una);
	CHECK_EQ(s.len, M);
	CHECK_EQ(pending(&e), 0);
	blk[0][0] = una + 5 * M; /* newest first, as RFC 2018 asks */
	blk[0][1] = una + 6 * M;
	blk[1][0] = una + M;
	blk[1][1] = una + 4 * M;
	psend_sack(&e, &p, (const uint32_t(*)[2])blk, 2);
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.seq, una + 4 * M);
	CHECK_EQ(s.len, M);
	CHECK_EQ(pending(&e), 0);
	blk[0][1] = una + 7 * M;
	psend_sack(&e, &p, (const uint32_t(*)[2])blk, 2);
	CHECK_EQ(pending(&e), 0); /* no hole left, nothing new to send */
	/* a SACK block outside what was sent is ignored; the full ACK ends recovery */
	p.ack = una + 10 * M;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_SENT);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RETRANS_SEGS], 2);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RTO], 0);
	check_clean(&e);
	check_group_end();
}

/* SACK on ACKs that carry data (a bidirectional stream: the peer's ACKs ride on its data).
 * Data-carrying ACKs with no SACK news are not duplicates; one that SACKs more than
 * 2 * MSS above SND.UNA marks it lost (RFC 6675) and retransmits it at once */
static void
test_sack_data_ack(void)
{
	struct env e;
	struct peer p;
	struct pseg s;
	uint32_t una, M = 1388;
	uint32_t blk[1][2];
	bool rtx = false;

	check_group_begin("sack_data_ack");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, true);
	una = p.ack;
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 10 * M, 1), 0);
	for (int i = 0; i < 10; i++) {
		CHECK(next_seg(&e, &s));
		CHECK_EQ(s.seq, una + M * (uint32_t)i);
	}
	/* three data segments acking only SND.UNA, no SACK: not duplicate ACKs */
	for (int i = 0; i < 3; i++) {
		p.tsval++;
		e.n_ev = 0;
		psend(&e, &p, STK_TCP_ACK | STK_TCP_PSH, PAT, 100);
		CHECK_EQ(e.n_ev, 1);
		CHECK_EQ(e.ev[0].type, STK_TCP_EV_RECV);
	}
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DUP_ACK_IN], 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_FAST_RETRANS], 0);
	drop_out(&e);
	/* one data segment SACKing segments 1..3: segment 0 is lost, retransmitted now */
	blk[0][0] = una + M;
	blk[0][1] = una + 4 * M;
	p.tsval++;
	e.n_ev = 0;
	psend_sack_data(&e, &p, (const uint32_t(*)[2])blk, 1, PAT, 100);
	CHECK_EQ(e.n_ev, 1);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_RECV);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DUP_ACK_IN], 1);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_FAST_RETRANS], 1);
	while (next_seg(&e, &s))
		if (s.seq == una && s.len == M)
			rtx = true;
	CHECK(rtx);
	/* the next SACK news on data retransmits the next hole (4), not the SACKed 1..3 */
	blk[0][0] = una + 5 * M;
	blk[0][1] = una + 6 * M;
	p.tsval++;
	psend_sack_data(&e, &p, (const uint32_t(*)[2])blk, 1, PAT, 100);
	rtx = false;
	while (next_seg(&e, &s)) {
		CHECK(s.len == 0 || s.seq == una + 4 * M || (int32_t)(s.seq - (una + 10 * M)) >= 0);
		if (s.seq == una + 4 * M && s.len == M)
			rtx = true;
	}
	CHECK(rtx);
	p.ack = una + 10 * M;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_RTO], 0);
	check_clean(&e);
	check_group_end();
}

/* a full TIME-WAIT budget: the next active closer skips TIME-WAIT; conn_info reports */
static void
test_tw_budget_info(void)
{
	struct stk_tcp_cfg cfg = cfg_default();
	struct stk_tcp_info info;
	struct env e;
	struct peer p[2];
	struct pseg s;

	check_group_begin("tw_budget_info");
	cfg.max_time_wait = 1;
	cfg.tx_cksum_offload = true; /* frames are completed as the NIC would (op_tx_send) */
	env_init(&e, MAC_A, IP_A, &cfg);
	listen80(&e);
	for (int i = 0; i < 2; i++) {
		e.n_ev = 0;
		handshake_passive(&e, &p[i], true);
		if (i == 0) {
			stk_tcp_conn_info(e.conn, &info);
			CHECK_EQ(info.state, STK_TCP_ESTABLISHED);
			CHECK_EQ(info.mss, 1400 - 12);
			CHECK_EQ(info.snd_wscale, 7);
			CHECK_EQ(info.rcv_wscale, 7);
			CHECK(info.ts && info.sack);
			CHECK_EQ(info.snd_wnd, 1000u << 7);
			CHECK_EQ(info.rcv_wnd, 65535);
			CHECK_EQ(info.rport, PEER_PORT);
			CHECK(info.rto_us >= 200000);
		}
		CHECK_EQ(stk_tcp_close(e.t, e.conn), 0);
		CHECK(next_seg(&e, &s));
		p[i].ack = s.seq + 1;
		p[i].tsval += 5;
		psend(&e, &p[i], STK_TCP_ACK | STK_TCP_FIN, NULL, 0);
		CHECK(e.conn == NULL);
		CHECK_EQ(e.ev[e.n_ev - 1].type, STK_TCP_EV_CLOSED);
		CHECK(next_seg(&e, &s)); /* the last ACK goes out either way */
		CHECK_EQ(s.ack, p[i].seq);
		g_hs_port = PEER_PORT + 1; /* the second connection from another port */
	}
	g_hs_port = PEER_PORT;
	CHECK_EQ(stk_tcp_conns_in_use(e.t), 1);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_TIME_WAIT_OVERFLOW], 1);
	CHECK(e.tx_flags_seen & STK_BUF_TX_TCPCK);
	check_clean(&e);
	check_group_end();
}

/* regression (fuzz_tcp): data queued out of order beyond the point where the peer's FIN then
 * lands must not be delivered after EOF */
static void
test_fin_voids_ooo(void)
{
	struct env e;
	struct peer p;
	uint32_t base;

	check_group_begin("fin_voids_ooo");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, false);
	base = p.seq;
	psend_at(&e, &p, base + 20, STK_TCP_ACK, PAT, 50); /* held out of order */
	CHECK_EQ(stk_tcp_ooo_held(e.t), 1);
	psend_at(&e, &p, base, STK_TCP_ACK | STK_TCP_FIN, PAT, 20); /* data and FIN before it */
	CHECK_EQ(e.n_ev, 2);
	CHECK_EQ(e.ev[0].type, STK_TCP_EV_RECV);
	CHECK_EQ(e.ev[0].len, 20);
	CHECK_EQ(e.ev[1].type, STK_TCP_EV_EOF);
	CHECK_EQ(stk_tcp_ooo_held(e.t), 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_DROP_DATA_AFTER_FIN], 1);
	CHECK_EQ(stk_tcp_state(e.conn), STK_TCP_CLOSE_WAIT);
	check_clean(&e);
	check_group_end();
}

/* regression (many_conns): after an RTO sends SND.NXT back to SND.UNA, pure ACKs still carry
 * SND.MAX, or a peer that holds the later data would find them below RCV.NXT and ignore them */
static void
test_ack_seq_after_rto(void)
{
	struct env e;
	struct peer p;
	struct pseg s;
	uint32_t una;

	check_group_begin("ack_seq_after_rto");
	env_init(&e, MAC_A, IP_A, NULL);
	listen80(&e);
	handshake_passive(&e, &p, false);
	p.win = 60000;
	psend(&e, &p, STK_TCP_ACK, NULL, 0);
	una = p.ack;
	CHECK_EQ(stk_tcp_send(e.t, e.conn, PAT, 3 * 536, 1), 0);
	drop_out(&e);
	env_advance(&e, 1001 * MS); /* RTO: only the first segment again (cwnd 1 MSS) */
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.seq, una);
	CHECK_EQ(pending(&e), 0);
	psend(&e, &p, STK_TCP_ACK, PAT, 100);
	psend(&e, &p, STK_TCP_ACK, PAT, 100); /* second segment: ACK now */
	CHECK(next_seg(&e, &s));
	CHECK_EQ(s.len, 0);
	CHECK_EQ(s.seq, una + 3 * 536);
	CHECK_EQ(s.ack, p.seq);
	check_clean(&e);
	check_group_end();
}

/* RFC 5961 7: challenge ACKs are limited per engine, the budget randomized per second */
static void
test_challenge_limit(void)
{
	struct stk_tcp_cfg cfg = cfg_default();
	struct env e;
	struct peer p;
	uint64_t sent, limited;

	check_group_begin("challenge_limit");
	cfg.challenge_rate = 10;
	env_init(&e, MAC_A, IP_A, &cfg);
	listen80(&e);
	handshake_passive(&e, &p, false);
	for (int i = 0; i < 20; i++)
		psend_at(&e, &p, p.seq + 100 + (uint32_t)i, STK_TCP_RST, NULL, 0);
	sent = cnt(&e)[STK_TCP_CNT_CHALLENGE_ACK];
	limited = cnt(&e)[STK_TCP_CNT_CHALLENGE_LIMITED];
	CHECK(sent >= 5 && sent <= 10);
	CHECK_EQ(sent + limited, 20);
	CHECK_EQ(pending(&e), sent);
	drop_out(&e);
	env_advance(&e, S); /* a new second, a new budget */
	psend_at(&e, &p, p.seq + 100, STK_TCP_RST, NULL, 0);
	CHECK_EQ(cnt(&e)[STK_TCP_CNT_CHALLENGE_ACK], sent + 1);
	CHECK(e.conn != NULL);
	check_clean(&e);
	check_group_end();
}

/* ---- two engines over a lossy, reordering, duplicating link ------------------------------- */

static uint64_t g_rng;

static uint32_t
rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng >> 11);
}

struct wire_pkt {
	uint64_t at;
	uint8_t *f;
	uint32_t len;
	struct env *to;
};

#define WIRE_MAX 8192

static struct wire_pkt g_wire[WIRE_MAX];
static unsigned g_nwire;
static unsigned g_zero_win; /* segments on the wire advertising a zero window */

struct link_cfg {
	unsigned loss_permille, dup_permille;
	uint64_t delay_ns, jitter_ns;
};

static void
wire_put(struct env *from, struct env *to, const struct link_cfg *lc)
{
	while (from->out_head != from->n_out) {
		uint8_t *f = from->out[from->out_head % 4096];
		uint32_t n = from->out_len[from->out_head % 4096];
		unsigned copies = 1;

		from->out_head++;
		if (n >= 54 && !(f[47] & (STK_TCP_RST | STK_TCP_SYN)) && get16(f + 48) == 0)
			g_zero_win++;
		if (rnd() % 1000 < lc->loss_permille) {
			free(f);
			continue;
		}
		if (rnd() % 1000 < lc->dup_permille)
			copies = 2;
		for (unsigned k = 0; k < copies; k++) {
			uint8_t *g = k ? malloc(n) : f;

			if (k)
				memcpy(g, f, n);
			if (g_nwire == WIRE_MAX) {
				free(g);
				continue;
			}
			memcpy(g, to->ifc.mac, 6);
			g_wire[g_nwire++] = (struct wire_pkt){.at = from->now + lc->delay_ns +
			                                            rnd() % (lc->jitter_ns + 1),
			                                      .f = g,
			                                      .len = n,
			                                      .to = to};
		}
	}
}

/* deliver everything due by now (earliest first; equal times keep their order) */
static void
wire_run(uint64_t now)
{
	for (;;) {
		unsigned best = WIRE_MAX;

		for (unsigned i = 0; i < g_nwire; i++)
			if (g_wire[i].at <= now &&
			    (best == WIRE_MAX || g_wire[i].at < g_wire[best].at))
				best = i;
		if (best == WIRE_MAX)
			return;
		{
			struct wire_pkt w = g_wire[best];

			memmove(&g_wire[best], &g_wire[best + 1],
			        (--g_nwire - best) * sizeof(g_wire[0]));
			deliver_frame(w.to, w.f, w.len);
			free(w.f);
		}
	}
}

struct bulk {
	uint32_t total;    /* bytes to send */
	uint32_t queued;   /* bytes handed to the engine */
	uint32_t acked;    /* bytes returned by SENT */
	uint32_t received; /* bytes delivered by RECV (verified) */
	uint32_t expect;   /* bytes the peer sends */
	uint8_t seed_tx, seed_rx;
	bool eof, closed, bad, reset;
	uint8_t *txarea;
	bool chunk_busy[32];
	unsigned chunks_out;
};

#define CHUNK 32768

static uint8_t
bulk_byte(uint8_t seed, uint32_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ seed;
}

static void
bulk_app(struct env *e, const struct stk_tcp_event *ev)
{
	struct bulk *b = e->app_state;

	switch (ev->type) {
	case STK_TCP_EV_RECV:
		for (uint32_t i = 0; i < ev->u.recv.len; i++)
			if (ev->u.recv.data[i] != bulk_byte(b->seed_rx, b->received + i))
				b->bad = true;
		b->received += ev->u.recv.len;
		e->unconsumed += ev->u.recv.len;
		rxb_unref(ev->u.recv.buf);
		break;
	case STK_TCP_EV_SENT:
		if (ev->u.sent.status)
			b->bad = true;
		b->chunk_busy[ev->u.sent.cookie] = false;
		b->chunks_out--;
		b->acked += ev->u.sent.len;
		break;
	case STK_TCP_EV_EOF:
		b->eof = true;
		break;
	case STK_TCP_EV_CLOSED:
		b->closed = true;
		break;
	case STK_TCP_EV_RESET:
		b->reset = true;
		break;
	default:
		break;
	}
}

/* queue more of the stream: chunks of the TX area, each filled before it is handed over */
static void
bulk_pump(struct env *e)
{
	struct bulk *b = e->app_state;

	if (!e->conn)
		return;
	for (unsigned k = 0; k < 32 && b->queued < b->total; k++) {
		uint32_t len = b->total - b->queued;
		uint8_t *p = b->txarea + (size_t)k * CHUNK;

		if (b->chunk_busy[k])
			continue;
		if (len > CHUNK - k * 37)
			len = CHUNK - k * 37; /* odd sizes: payload pieces of any parity */
		for (uint32_t i = 0; i < len; i++)
			p[i] = bulk_byte(b->seed_tx, b->queued + i);
		if (stk_tcp_send(e->t, e->conn, p, len, k) != 0)
			break;
		b->chunk_busy[k] = true;
		b->chunks_out++;
		b->queued += len;
	}
	if (b->queued == b->total && b->chunks_out == 0 && !b->closed && !b->reset &&
	    stk_tcp_state(e->conn) != STK_TCP_FIN_WAIT_1 &&
	    stk_tcp_state(e->conn) != STK_TCP_FIN_WAIT_2 &&
	    stk_tcp_state(e->conn) != STK_TCP_CLOSING && stk_tcp_state(e->conn) != STK_TCP_LAST_ACK)
		stk_tcp_close(e->t, e->conn);
}

#define BULK_PLAIN 1u /* no timestamps, no SACK: Karn's rule and NewReno alone */
#define BULK_SLOW  2u /* B's app reads every 100 ms, out of a 64 KB window: zero windows */

static void
run_bulk(const char *name, const struct link_cfg *link, uint32_t bytes, uint64_t seed,
         uint64_t limit_ns, unsigned flags)
{
	struct stk_tcp_cfg cfg = {.max_conns = 4, .rcv_buf = 256 * 1024};
	struct env a, b;
	struct bulk ba = {.total = bytes, .expect = bytes, .seed_tx = 0x11, .seed_rx = 0x22};
	struct bulk bb = {.total = bytes, .expect = bytes, .seed_tx = 0x22, .seed_rx = 0x11};
	struct stk_tcp_conn *c;
	uint64_t start;

	check_group_begin(name);
	g_rng = seed;
	g_nwire = 0;
	g_zero_win = 0;
	cfg.no_timestamps = cfg.no_sack = flags & BULK_PLAIN;
	env_init(&a, MAC_A, IP_A, &cfg);
	if (flags & BULK_SLOW)
		cfg.rcv_buf = 64 * 1024;
	env_init(&b, MAC_B, IP_B, &cfg);
	b.hold_rx = flags & BULK_SLOW;
	ba.txarea = malloc(32 * CHUNK);
	bb.txarea = malloc(32 * CHUNK);
	a.app = b.app = bulk_app;
	a.app_state = &ba;
	b.app_state = &bb;
	CHECK(stk_tcp_listen(b.t, IP_B, 443, 0, 16, 9) != NULL);
	CHECK_EQ(stk_tcp_connect(a.t, IP_A, 50000, IP_B, 443, 0, 1, &c), 0);
	start = a.now;
	while (a.now - start < limit_ns) {
		bulk_pump(&a);
		bulk_pump(&b);
		wire_put(&a, &b, link);
		wire_put(&b, &a, link);
		wire_run(a.now);
		env_advance(&a, MS);
		env_advance(&b, MS);
		if (b.hold_rx && b.conn && b.unconsumed && (b.now / MS) % 100 == 0) {
			stk_tcp_recv_done(b.t, b.conn, b.unconsumed);
			b.unconsumed = 0;
		}
		if (ba.closed && bb.closed && !g_nwire)
			break;
		if (ba.reset || bb.reset)
			break;
	}
	CHECK(!ba.bad && !bb.bad);
	CHECK(!ba.reset && !bb.reset);
	CHECK_EQ(ba.received, bytes);
	CHECK_EQ(bb.received, bytes);
	CHECK_EQ(ba.acked, bytes);
	CHECK_EQ(bb.acked, bytes);
	CHECK(ba.eof && bb.eof);
	CHECK(ba.closed && bb.closed);
	printf("  %s: %.1f s simulated; A: %llu segs out, %llu retrans, %llu RTO, %llu fast, "
	       "%llu dupacks, %llu ooo; B: %llu retrans, %llu RTO, %llu fast, %llu ooo\n",
	       name, (double)(a.now - start) / 1e9,
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_SEG_OUT],
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_RETRANS_SEGS],
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_RTO],
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_FAST_RETRANS],
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_DUP_ACK_IN],
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_OOO_QUEUED],
	       (unsigned long long)cnt(&b)[STK_TCP_CNT_RETRANS_SEGS],
	       (unsigned long long)cnt(&b)[STK_TCP_CNT_RTO],
	       (unsigned long long)cnt(&b)[STK_TCP_CNT_FAST_RETRANS],
	       (unsigned long long)cnt(&b)[STK_TCP_CNT_OOO_QUEUED]);
	printf("  %s: ooo full drops A %llu B %llu, dup drops A %llu B %llu\n", name,
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_DROP_OOO_FULL],
	       (unsigned long long)cnt(&b)[STK_TCP_CNT_DROP_OOO_FULL],
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_DROP_DUP],
	       (unsigned long long)cnt(&b)[STK_TCP_CNT_DROP_DUP]);
	if (flags & BULK_SLOW)
		CHECK(g_zero_win > 0);
	printf("  %s: zero windows advertised %u, window probes A %llu\n", name, g_zero_win,
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_WINDOW_PROBE]);
	if (link->loss_permille) {
		CHECK(cnt(&a)[STK_TCP_CNT_RETRANS_SEGS] + cnt(&b)[STK_TCP_CNT_RETRANS_SEGS] > 0);
		CHECK(cnt(&a)[STK_TCP_CNT_FAST_RETRANS] + cnt(&b)[STK_TCP_CNT_FAST_RETRANS] > 0);
		CHECK(cnt(&a)[STK_TCP_CNT_OOO_QUEUED] + cnt(&b)[STK_TCP_CNT_OOO_QUEUED] > 0);
	}
	/* whoever closed first holds a TIME-WAIT block until it expires */
	env_advance(&a, 61 * S);
	env_advance(&b, 61 * S);
	CHECK_EQ(stk_tcp_conns_in_use(a.t), 0);
	CHECK_EQ(stk_tcp_conns_in_use(b.t), 0);
	for (unsigned i = 0; i < g_nwire; i++)
		free(g_wire[i].f);
	g_nwire = 0;
	check_clean(&a);
	check_clean(&b);
	free(ba.txarea);
	free(bb.txarea);
	check_group_end();
}

/* many connections at once between two engines over a lossy link: tables, timer wheel and
 * TIME-WAIT budget at scale; every connection's bytes exact, every block and buffer back */
#define MANY     400
#define MANY_LEN 9000

struct many {
	struct stk_tcp_conn *conn[MANY];
	uint32_t rx[MANY], unconsumed[MANY];
	bool queued[MANY], sent[MANY], closing[MANY], eof[MANY], closed[MANY];
	unsigned next_id, bad, resets;
};

static void
many_app(struct env *e, const struct stk_tcp_event *ev)
{
	struct many *m = e->app_state;
	uint64_t id = ev->user;

	switch (ev->type) {
	case STK_TCP_EV_ACCEPTED: {
		struct stk_tcp_info info;

		stk_tcp_conn_info(ev->c, &info);
		id = info.rport - 20000u; /* the same index as the connecting side */
		m->next_id++;
		stk_tcp_set_user(ev->c, id);
		m->conn[id] = ev->c;
		break;
	}
	case STK_TCP_EV_CONNECTED:
		m->conn[id] = ev->c;
		break;
	case STK_TCP_EV_RECV:
		for (uint32_t i = 0; i < ev->u.recv.len; i++)
			if (ev->u.recv.data[i] != PAT[(m->rx[id] + i + id) % sizeof(PAT)])
				m->bad++;
		m->rx[id] += ev->u.recv.len;
		m->unconsumed[id] += ev->u.recv.len;
		rxb_unref(ev->u.recv.buf);
		break;
	case STK_TCP_EV_SENT:
		m->sent[id] = !ev->u.sent.status;
		break;
	case STK_TCP_EV_EOF:
		m->eof[id] = true;
		break;
	case STK_TCP_EV_CLOSED:
		m->closed[id] = true;
		m->conn[id] = NULL;
		break;
	case STK_TCP_EV_RESET:
		if (getenv("TCP_TEST_DEBUG"))
			fprintf(stderr, "reset %llu reason %d\n", (unsigned long long)id,
			        ev->u.reason);
		m->resets++;
		m->conn[id] = NULL;
		break;
	}
}

static void
many_pump(struct env *e)
{
	struct many *m = e->app_state;

	for (unsigned i = 0; i < MANY; i++) {
		struct stk_tcp_conn *c = m->conn[i];

		if (!c)
			continue;
		if (m->unconsumed[i]) {
			stk_tcp_recv_done(e->t, c, m->unconsumed[i]);
			m->unconsumed[i] = 0;
		}
		if (!m->queued[i] &&
		    stk_tcp_send(e->t, c, PAT + (i % sizeof(PAT)), MANY_LEN, i) == 0)
			m->queued[i] = true;
		if (m->sent[i] && !m->closing[i]) {
			m->closing[i] = true;
			stk_tcp_close(e->t, c);
		}
	}
}

static void
test_many_conns(void)
{
	struct stk_tcp_cfg cfg = {.max_conns = 1024, .rcv_buf = 64 * 1024};
	struct link_cfg lossy = {
	        .loss_permille = 10, .dup_permille = 5, .delay_ns = 3 * MS, .jitter_ns = 2 * MS};
	static struct many ma, mb;
	struct env a, b;
	unsigned done_a = 0, done_b = 0, eof = 0;

	check_group_begin("many_conns");
	memset(&ma, 0, sizeof(ma));
	memset(&mb, 0, sizeof(mb));
	g_rng = 12345;
	g_nwire = 0;
	env_init(&a, MAC_A, IP_A, &cfg);
	env_init(&b, MAC_B, IP_B, &cfg);
	a.app = b.app = many_app;
	a.app_state = &ma;
	b.app_state = &mb;
	CHECK(stk_tcp_listen(b.t, 0, 8000, 0, 64, 0) != NULL);
	for (unsigned i = 0; i < MANY; i++) {
		struct stk_tcp_conn *c;

		CHECK_EQ(stk_tcp_connect(a.t, IP_A, (uint16_t)(20000 + i), IP_B, 8000, 0, i, &c),
		         0);
	}
	CHECK_EQ(stk_tcp_conns_in_use(a.t), MANY);
	for (unsigned ms = 0; ms < 120000; ms++) {
		many_pump(&a);
		many_pump(&b);
		wire_put(&a, &b, &lossy);
		wire_put(&b, &a, &lossy);
		wire_run(a.now);
		env_advance(&a, MS);
		env_advance(&b, MS);
		done_a = done_b = 0;
		for (unsigned i = 0; i < MANY; i++) {
			done_a += ma.closed[i];
			done_b += mb.closed[i];
		}
		if (done_a == MANY && done_b == MANY && !g_nwire)
			break;
	}
	for (unsigned i = 0; i < MANY; i++) {
		if (ma.rx[i] != MANY_LEN || mb.rx[i] != MANY_LEN) {
			check_tally(false);
			check_msg(__FILE__, __LINE__, __func__,
			          "conn %u received %u / %u bytes, want %u", i, (unsigned)ma.rx[i],
			          (unsigned)mb.rx[i], (unsigned)MANY_LEN);
		}
		eof += ma.eof[i] + mb.eof[i];
	}
	CHECK_EQ(done_a, MANY);
	CHECK_EQ(done_b, MANY);
	CHECK_EQ(eof, 2 * MANY);
	CHECK_EQ(ma.bad + mb.bad, 0);
	CHECK_EQ(ma.resets + mb.resets, 0);
	CHECK_EQ(mb.next_id, MANY);
	printf("  many_conns: %.1f s simulated, SYN cookies %llu, retrans A %llu B %llu, "
	       "TIME-WAIT blocks A %u B %u\n",
	       (double)(a.now - T0) / 1e9, (unsigned long long)cnt(&b)[STK_TCP_CNT_COOKIE_SENT],
	       (unsigned long long)cnt(&a)[STK_TCP_CNT_RETRANS_SEGS],
	       (unsigned long long)cnt(&b)[STK_TCP_CNT_RETRANS_SEGS], stk_tcp_conns_in_use(a.t),
	       stk_tcp_conns_in_use(b.t));
	if (getenv("TCP_TEST_DEBUG"))
		for (int k = 0; k < STK_TCP_CNT__MAX; k++)
			if (cnt(&a)[k] || cnt(&b)[k])
				fprintf(stderr, "%-24s A %8llu B %8llu\n", stk_tcp_counter_names[k],
				        (unsigned long long)cnt(&a)[k],
				        (unsigned long long)cnt(&b)[k]);
	if (getenv("TCP_TEST_DEBUG"))
		fprintf(stderr, "no_port A %llu B %llu\n",
		        (unsigned long long)a.lc.cnt[STK_CNT_DROP_TCP_NO_PORT],
		        (unsigned long long)b.lc.cnt[STK_CNT_DROP_TCP_NO_PORT]);
	for (unsigned i = 0; getenv("TCP_TEST_DEBUG") && i < MANY; i++) {
		struct stk_tcp_info ia = {0}, ib = {0};

		if (ma.conn[i])
			stk_tcp_conn_info(ma.conn[i], &ia);
		if (mb.conn[i])
			stk_tcp_conn_info(mb.conn[i], &ib);
		if (ma.conn[i] || mb.conn[i])
			fprintf(stderr,
			        "conn %u: A st %d unacked %u queued %u ooo %u snd_wnd %u rto %u "
			        "retries %u | B st %d unacked %u queued %u ooo %u snd_wnd %u rx A %u B %u\n",
			        i, ia.state, ia.unacked, ia.queued, ia.ooo, ia.snd_wnd, ia.rto_us,
			        ia.retries, ib.state, ib.unacked, ib.queued, ib.ooo, ib.snd_wnd,
			        ma.rx[i], mb.rx[i]);
	}
	env_advance(&a, 61 * S);
	env_advance(&b, 61 * S);
	CHECK_EQ(stk_tcp_conns_in_use(a.t), 0);
	CHECK_EQ(stk_tcp_conns_in_use(b.t), 0);
	for (unsigned i = 0; i < g_nwire; i++)
		free(g_wire[i].f);
	g_nwire = 0;
	check_clean(&a);
	check_clean(&b);
	check_group_end();
}

int
main(void)
{
	pattern_init();
	test_passive_open_data();
	test_active_open();
	test_closed_port_and_listener_rst();
	test_rst_5961();
	test_rst_after_fin();
	test_overlap_ooo_fin();
	test_zero_window();
	test_retransmit();
	test_simultaneous();
	test_time_wait();
	test_cookies_quota();
	test_keepalive();
	test_keepalive_cfg();
	test_refuse_paws();
	test_give_up();
	test_sack_recovery();
	test_sack_data_ack();
	test_tw_budget_info();
	test_fin_voids_ooo();
	test_ack_seq_after_rto();
	test_challenge_limit();
	test_pool_tw_ooo();
	{
		struct link_cfg clean = {.delay_ns = 2 * MS};
		struct link_cfg lossy = {.loss_permille = 20,
		                         .dup_permille = 10,
		                         .delay_ns = 5 * MS,
		                         .jitter_ns = 4 * MS};

		run_bulk("bulk_clean", &clean, 4u << 20, 1, 120 * S, 0);
		run_bulk("bulk_lossy", &lossy, 4u << 20, 0x9e3779b97f4a7c15ull, 600 * S, 0);
		run_bulk("bulk_lossy_plain", &lossy, 2u << 20, 42, 600 * S, BULK_PLAIN);
		test_many_conns();
		run_bulk("bulk_slow_reader", &clean, 512u << 10, 7, 600 * S, BULK_SLOW);
	}
	return check_done();
}
