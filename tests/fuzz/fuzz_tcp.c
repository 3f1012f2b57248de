/* fuzz_tcp.c - libFuzzer target: arbitrary segments and app calls against the TCP engine. */

/*
 * Each input starts from the same state: an engine (fixed keys) with a listener on port 80
 * (backlog 2, so SYN cookies are reachable) and one connection through a real handshake on
 * peer port 40000, plus one active open towards peer port 8080. Then records:
 *   [0] op: low 3 bits select
 *       0: a segment (see below)   1: clock step ([1] * 7 ms)   2: app send ([1] * 97 bytes)
 *       3: app consumes what it holds   4: close   5: abort   6: keepalive on   7: clock step
 *          of [1] seconds
 *   segment: [1] tuple (0: the passive conn, 1: the active one, 2: a fresh peer port, 3: a
 *   closed port; bit 2: seq/ack near the engine's latest ACK and highest seq sent, [3] and [7]
 *   signed offsets x 8), [2] flags, [3..6] seq offset from the peer's next seq, [7..10] ack
 *   offset from the engine's ISS + 1, [11..12] window, [13] options length (cut to 40, rounded to
 *   whole bytes as given), options, [..] payload length (one byte, x 8).
 * Invariants: every frame the engine sends parses and checksums, the engine never holds more
 * out-of-order buffers than its bound, each announced connection sees a sane event sequence
 * (announced once, no RECV after EOF, one terminal event), and after stk_tcp_destroy every send
 * has come back exactly once and every RX buffer reference and header buffer has been returned.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cksum.h"
#include "proto.h"
#include "stk.h"
#include "tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))
#define MS              1000000ull
#define GW_IP           IP4(198, 18, 0, 1)
#define PEER_IP         IP4(198, 18, 0, 2)

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

struct rxb {
	int refs;
	uint8_t data[];
};

static struct stk_iface ifc;
static bool ifc_ready;
static long rx_live, hdr_live;
static struct stk_tcp_conn *conn_p, *conn_a;
static uint32_t held;               /* RECV bytes the "app" has not consumed */
static uint32_t last_seq, last_ack; /* of the newest frame the engine sent */
/* per connection (0 passive, 1 active): the engine's highest seq sent and latest ACK */
static uint32_t eng_nxt[2], eng_ack[2];
static uint8_t txarea[64 * 1024];

static void
op_rx_ref(void *ctx, void *buf)
{
	((struct rxb *)buf)->refs++;
}

static void
op_rx_unref(void *ctx, void *buf)
{
	struct rxb *b = buf;

	CHECK(b->refs > 0);
	if (--b->refs == 0) {
		free(b);
		rx_live--;
	}
}

static void *
op_tx_alloc(void *ctx, uint8_t **frame)
{
	uint8_t *p = malloc(STK_TCP_HDR_ROOM);

	CHECK(p);
	hdr_live++;
	*frame = p;
	return p;
}

/* the frame must be a well-formed IPv4/TCP segment with a right checksum */
static void
op_tx_send(void *ctx, const struct stk_tcp_tx *tx)
{
	const struct stk_ipv4_hdr *ip = (const struct stk_ipv4_hdr *)(tx->frame + STK_ETH_HLEN);
	const struct stk_tcp_hdr *th = (const struct stk_tcp_hdr *)(ip + 1);
	uint32_t thl = (uint32_t)(th->doff >> 4) * 4;
	uint64_t sum;

	CHECK(tx->hdr_len <= STK_TCP_HDR_ROOM && tx->hdr_len == STK_ETH_HLEN + STK_IP_HLEN + thl);
	CHECK(stk_ntohs(ip->tot_len) == STK_IP_HLEN + thl + tx->pay_len);
	CHECK(stk_cksum_ok(stk_cksum_add(0, ip, STK_IP_HLEN)));
	CHECK(tx->n_iov <= STK_TCP_MAX_IOV);
	{
		uint8_t *all = malloc(thl + tx->pay_len + 1), *p;

		CHECK(all);
		memcpy(all, th, thl);
		p = all + thl;
		for (unsigned i = 0; i < tx->n_iov; i++) {
			CHECK(tx->iov[i].base >= txarea &&
			      tx->iov[i].base + tx->iov[i].len <= txarea + sizeof(txarea));
			memcpy(p, tx->iov[i].base, tx->iov[i].len);
			p += tx->iov[i].len;
		}
		CHECK((uint32_t)(p - all) == thl + tx->pay_len);
		sum = stk_cksum_pseudo(ip->src, ip->dst, STK_IPPROTO_TCP,
		                       (uint16_t)(thl + tx->pay_len));
		CHECK(stk_cksum_ok(stk_cksum_add(sum, all, thl + tx->pay_len)));
		free(all);
	}
	last_seq = stk_ntohl(th->seq);
	last_ack = stk_ntohl(th->ack);
	{
		uint16_t dp = stk_ntohs(th->dport);
		int k = dp == 40000 ? 0 : dp == 8080 ? 1 : -1;
		uint32_t end = last_seq + tx->pay_len + !!(th->flags & STK_TCP_SYN) +
		               !!(th->flags & STK_TCP_FIN);

		if (k >= 0) {
			if ((int32_t)(end - eng_nxt[k]) > 0)
				eng_nxt[k] = end;
			if (th->flags & STK_TCP_ACK)
				eng_ack[k] = last_ack;
		}
	}
	free(tx->pkt);
	hdr_live--;
}

/* announced connections: the event sequence of each must make sense */
#define MAX_LIVE 16
static struct {
	struct stk_tcp_conn *c;
	bool eof;
} live[MAX_LIVE];
static unsigned long sends_ok, sends_back;

static int
live_find(struct stk_tcp_conn *c)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i].c == c)
			return i;
	return -1;
}

static int
op_event(void *ctx, const struct stk_tcp_event *ev)
{
	int i = live_find(ev->c);

	switch (ev->type) {
	case STK_TCP_EV_ACCEPTED:
	case STK_TCP_EV_CONNECTED:
		CHECK(i < 0); /* announced once */
		i = live_find(NULL);
		CHECK(i >= 0);
		live[i].c = ev->c;
		live[i].eof = false;
		if (ev->type == STK_TCP_EV_ACCEPTED && !conn_p)
			conn_p = ev->c;
		if (ev->type == STK_TCP_EV_CONNECTED)
			conn_a = ev->c;
		break;
	case STK_TCP_EV_RECV:
		CHECK(i >= 0 && !live[i].eof); /* no data after EOF */
		CHECK(ev->u.recv.len > 0);
		held += ev->u.recv.len;
		op_rx_unref(NULL, ev->u.recv.buf);
		break;
	case STK_TCP_EV_EOF:
		CHECK(i >= 0 && !live[i].eof);
		live[i].eof = true;
		break;
	case STK_TCP_EV_SENT:
		CHECK(i >= 0);
		sends_back++;
		break;
	case STK_TCP_EV_CLOSED:
	case STK_TCP_EV_RESET:
		CHECK(i >= 0); /* one terminal event, for an announced connection */
		live[i].c = NULL;
		if (ev->c == conn_p)
			conn_p = NULL;
		if (ev->c == conn_a)
			conn_a = NULL;
		break;
	default:
		break;
	}
	return 0;
}

static void
ifc_setup(void)
{
	static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01};

	memcpy(ifc.mac, mac, 6);
	ifc.own = calloc(1, sizeof(*ifc.own));
	CHECK(ifc.own);
	ifc.own[0] = (struct stk_prefix){GW_IP, 24};
	ifc.n_own = 1;
	CHECK(stk_iface_finish(&ifc) == 0);
	ifc_ready = true;
}

/* one segment from the peer, built in a heap buffer of exactly its size (ASan sees overreads) */
static void
seg_in(struct stk_tcp *t, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
       uint16_t win, const uint8_t *opt, uint32_t optlen, uint32_t plen)
{
	uint32_t thl = STK_TCP_HLEN + ((optlen + 3) & ~3u);
	struct rxb *b = malloc(sizeof(*b) + thl + plen);
	struct stk_tcp_hdr *th;
	struct stk_tcp_seg s;

	CHECK(b);
	b->refs = 1;
	rx_live++;
	th = (struct stk_tcp_hdr *)b->data;
	memset(b->data, 0, thl);
	th->sport = stk_htons(sport);
	th->dport = stk_htons(dport);
	th->seq = stk_htonl(seq);
	th->ack = stk_htonl(ack);
	th->doff = (uint8_t)((thl / 4) << 4);
	th->flags = flags;
	th->win = stk_htons(win);
	if (optlen)
		memcpy(b->data + STK_TCP_HLEN, opt, optlen);
	for (uint32_t i = 0; i < plen; i++)
		b->data[thl + i] = (uint8_t)i;
	s = (struct stk_tcp_seg){.src_ip = PEER_IP,
	                         .dst_ip = GW_IP,
	                         .sport = sport,
	                         .dport = dport,
	                         .th = th,
	                         .th_len = thl,
	                         .pay = b->data + thl,
	                         .pay_len = plen,
	                         .buf = b};
	stk_tcp_seg_input(t, &s);
	op_rx_unref(NULL, b);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t syn_opt[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
	                                    0, 1, 0,    0,    0, 0, 1, 3,  3, 7};
	struct stk_tcp_cfg cfg = {.max_conns = 8,
	                          .rcv_buf = 16384,
	                          .ooo_max_worker = 24,
	                          .keep_idle_ns = 2000 * MS,
	                          .keep_intvl_ns = 500 * MS,
	                          .secret = {1, 2, 3, 4}};
	struct stk_tcp_ops ops = {.rx_ref = op_rx_ref,
	                          .rx_unref = op_rx_unref,
	                          .tx_alloc = op_tx_alloc,
	                          .tx_send = op_tx_send,
	                          .event = op_event};
	struct stk_lcore lc;
	struct stk_tcp *t;
	uint64_t now = 1000 * 1000 * MS;
	uint32_t peer_seq = 1000, iss_p, iss_a = 0, peer_seq_a = 555000;
	uint16_t fresh_port = 41000;
	size_t pos = 0;
	unsigned txoff = 0;

	if (!ifc_ready)
		ifc_setup();
	conn_p = conn_a = NULL;
	held = 0;
	memset(live, 0, sizeof(live));
	sends_ok = sends_back = 0;
	memset(eng_nxt, 0, sizeof(eng_nxt));
	memset(eng_ack, 0, sizeof(eng_ack));
	stk_lcore_init(&lc, &ifc, NULL, 8, 1000 * MS, now);
	t = stk_tcp_create(&cfg, &ops, &lc, now);
	CHECK(t);
	CHECK(stk_tcp_listen(t, 0, 80, 0, 2, 1));
	/* the passive connection */
	seg_in(t, 40000, 80, peer_seq, 0, STK_TCP_SYN, 1000, syn_opt, 20, 0);
	iss_p = last_seq;
	peer_seq++;
	seg_in(t, 40000, 80, peer_seq, iss_p + 1, STK_TCP_ACK, 1000, NULL, 0, 0);
	CHECK(conn_p);
	/* the active one */
	{
		struct stk_tcp_conn *c;

		CHECK(stk_tcp_connect(t, GW_IP, 33000, PEER_IP, 8080, 0, 2, &c) == 0);
		iss_a = last_seq;
		seg_in(t, 8080, 33000, peer_seq_a, iss_a + 1, STK_TCP_SYN | STK_TCP_ACK, 4000,
		       syn_opt, 20, 0);
		peer_seq_a++;
		CHECK(conn_a == c);
	}

	while (pos < size) {
		uint8_t op = data[pos] & 7;
		uint8_t arg = pos + 1 < size ? data[pos + 1] : 0;

		if (op == 0) {
			const uint8_t *r = data + pos;
			uint32_t optlen, plen;
			uint16_t sport = 40000, dport = 80;
			uint32_t seq, ack;

			if (size - pos < 15)
				break;
			optlen = r[13] > 40 ? 40 : r[13];
			if (size - pos < 15 + optlen)
				break;
			plen = (uint32_t)r[14 + optlen] * 8;
			switch (r[1] & 3) {
			case 0:
			case 1: {
				int k = r[1] & 1;

				if (k) {
					sport = 8080;
					dport = 33000;
				}
				if (r[1] & 4) { /* near the edges the engine announced */
					seq = eng_ack[k] + (uint32_t)(int32_t)(int8_t)r[3] * 8;
					ack = eng_nxt[k] + (uint32_t)(int32_t)(int8_t)r[7] * 8;
				} else {
					seq = (k ? peer_seq_a : peer_seq) + rd32(r + 3);
					ack = (k ? iss_a : iss_p) + 1 + rd32(r + 7);
				}
				break;
			}
			case 2:
				sport = fresh_port++;
				seq = rd32(r + 3);
				ack = last_seq + 1 + rd32(r + 7);
				break;
			default:
				dport = 81;
				seq = rd32(r + 3);
				ack = rd32(r + 7);
				break;
			}
			seg_in(t, sport, dport, seq, ack, r[2], (uint16_t)(r[11] | r[12] << 8),
			       r + 14, optlen, plen);
			/* a well-behaved peer moves forward when its data was in order */
			if ((r[1] & 3) == 0 && rd32(r + 3) == 0)
				peer_seq += plen;
			pos += 15 + optlen;
			continue;
		}
		switch (op) {
		case 1:
			now += (uint64_t)arg * 7 * MS;
			break;
		case 7:
			now += (uint64_t)arg * 1000 * MS;
			break;
		case 2: {
			struct stk_tcp_conn *c = (arg & 1) ? conn_a : conn_p;
			uint32_t len = (uint32_t)arg * 97 + 1;

			if (c) {
				if (txoff + len > sizeof(txarea))
					txoff = 0;
				if (stk_tcp_send(t, c, txarea + txoff, len, txoff) == 0)
					sends_ok++;
				txoff += len;
			}
			break;
		}
		case 3:
			if (conn_p && held) {
				stk_tcp_recv_done(t, conn_p, held);
				held = 0;
			}
			break;
		case 4:
			if ((arg & 1) ? conn_a : conn_p)
				stk_tcp_close(t, (arg & 1) ? conn_a : conn_p);
			break;
		case 5:
			if ((arg & 1) ? conn_a : conn_p)
				stk_tcp_abort(t, (arg & 1) ? conn_a : conn_p);
			break;
		case 6:
			if (conn_p)
				stk_tcp_set_keepalive(t, conn_p, true);
			break;
		default:
			break;
		}
		stk_tcp_advance(t, now);
		CHECK(stk_tcp_ooo_held(t) <= cfg.ooo_max_worker);
		pos += 2;
	}
	stk_tcp_advance(t, now + 200000 * MS); /* let every timer run out */
	stk_tcp_destroy(t);
	CHECK(sends_back == sends_ok); /* every send came back exactly once */
	CHECK(live_find(NULL) >= 0);
	for (int i = 0; i < MAX_LIVE; i++)
		CHECK(live[i].c == NULL); /* every announced connection ended */
	CHECK(rx_live == 0);
	CHECK(hdr_live == 0);
	return 0;
}
