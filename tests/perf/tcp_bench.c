/* tcp_bench.c - TCP engine cost per segment: in-order receive, send + ACK, no NIC, no copies. */

/*
 * One engine, one established connection set up by crafted segments (as the fuzzer does), then:
 *  rx: in-order 1448-byte data segments with timestamps into the engine; the RECV reference is
 *      dropped at once and the window reopened every 32 segments; ACKs (every second segment)
 *      go to a no-op transmit.
 *  tx: the app queues 16 x 1448 bytes, the engine builds 16 segments (header + software TCP
 *      checksum over the payload), the peer's ACK for all of them returns the send (SENT).
 * Prints ns per segment. Run by hand: build/tests/perf/tcp_bench [segments [offload]] (offload 1:
 * the port fills TCP checksums).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "stk.h"
#include "tcp.h"

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))
#define GW_IP           IP4(198, 18, 0, 1)
#define PEER_IP         IP4(198, 18, 0, 2)
#define MSS             1448

static uint8_t hdrbuf[STK_TCP_HDR_ROOM];
static uint32_t last_seq, last_tsval, snd_hi;
static uint64_t n_tx, n_recv, n_sent;
static struct stk_tcp_conn *conn;
static int dummy_buf;

static void
rx_ref(void *ctx, void *buf)
{
}

static void
rx_unref(void *ctx, void *buf)
{
}

static void *
tx_alloc(void *ctx, uint8_t **frame)
{
	*frame = hdrbuf;
	return hdrbuf;
}

static void
tx_send(void *ctx, const struct stk_tcp_tx *tx)
{
	const struct stk_tcp_hdr *th =
	        (const struct stk_tcp_hdr *)(tx->frame + STK_ETH_HLEN + STK_IP_HLEN);
	const uint8_t *o = (const uint8_t *)(th + 1);

	last_seq = stk_ntohl(th->seq);
	if ((int32_t)(last_seq + tx->pay_len - snd_hi) > 0)
		snd_hi = last_seq + tx->pay_len;
	if (tx->hdr_len >= STK_ETH_HLEN + STK_IP_HLEN + STK_TCP_HLEN + 12 && o[2] == 8)
		last_tsval =
		        (uint32_t)o[4] << 24 | (uint32_t)o[5] << 16 | (uint32_t)o[6] << 8 | o[7];
	n_tx++;
}

static int
event(void *ctx, const struct stk_tcp_event *ev)
{
	if (ev->type == STK_TCP_EV_ACCEPTED)
		conn = ev->c;
	else if (ev->type == STK_TCP_EV_RECV)
		n_recv += ev->u.recv.len;
	else if (ev->type == STK_TCP_EV_SENT)
		n_sent++;
	return 0;
}

static uint8_t segbuf[2048];

/* a segment from the peer with a timestamp option (and MSS/SACK/WS on a SYN) */
static void
seg_in(struct stk_tcp *t, uint32_t seq, uint32_t ack, uint8_t flags, uint32_t plen, uint32_t tsval)
{
	static const uint8_t syn_opt[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
	                                    0, 0, 0,    0,    0, 0, 1, 3,  3, 7};
	struct stk_tcp_hdr *th = (struct stk_tcp_hdr *)segbuf;
	uint8_t *o = segbuf + STK_TCP_HLEN;
	uint32_t optlen = (flags & STK_TCP_SYN) ? 20 : 12;
	struct stk_tcp_seg s;

	memset(th, 0, sizeof(*th));
	th->sport = stk_htons(40000);
	th->dport = stk_htons(80);
	th->seq = stk_htonl(seq);
	th->ack = stk_htonl(ack);
	th->doff = (uint8_t)(((STK_TCP_HLEN + optlen) / 4) << 4);
	th->flags = flags;
	th->win = stk_htons(65535);
	if (flags & STK_TCP_SYN) {
		memcpy(o, syn_opt, 20);
		o += 6;
	} else {
		o[0] = o[1] = 1;
		o[2] = 8;
		o[3] = 10;
		o += 2;
	}
	o[2] = (uint8_t)(tsval >> 24);
	o[3] = (uint8_t)(tsval >> 16);
	o[4] = (uint8_t)(tsval >> 8);
	o[5] = (uint8_t)tsval;
	o[6] = (uint8_t)(last_tsval >> 24);
	o[7] = (uint8_t)(last_tsval >> 16);
	o[8] = (uint8_t)(last_tsval >> 8);
	o[9] = (uint8_t)last_tsval;
	s = (struct stk_tcp_seg){.src_ip = PEER_IP,
	                         .dst_ip = GW_IP,
	                         .sport = 40000,
	                         .dport = 80,
	                         .th = th,
	                         .th_len = STK_TCP_HLEN + optlen,
	                         .pay = segbuf + STK_TCP_HLEN + optlen,
	                         .pay_len = plen,
	                         .buf = &dummy_buf};
	stk_tcp_seg_input(t, &s);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static uint8_t txarea[16 * MSS];
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000000;
	struct stk_iface ifc = {.mac = {2, 0, 0, 0, 0, 1}};
	struct stk_tcp_cfg cfg = {
	        .max_conns = 16, .rcv_buf = 1 << 20, .tx_cksum_offload = argc > 2 && atoi(argv[2])};
	struct stk_tcp_ops ops = {.rx_ref = rx_ref,
	                          .rx_unref = rx_unref,
	                          .tx_alloc = tx_alloc,
	                          .tx_send = tx_send,
	                          .event = event};
	struct stk_lcore lc;
	struct stk_tcp *t;
	uint64_t clk = 1000000000000ull;
	uint32_t pseq = 1000, iss, snd, tsv = 3;

	double t0, t1;

	ifc.own = calloc(1, sizeof(*ifc.own));
	if (!ifc.own)
		return 1;
	ifc.own[0] = (struct stk_prefix){GW_IP, 24};
	ifc.n_own = 1;
	if (stk_iface_finish(&ifc) != 0)
		return 1;
	stk_lcore_init(&lc, &ifc, NULL, 8, 1000000000ull, clk);
	t = stk_tcp_create(&cfg, &ops, &lc, clk);
	if (!t || !stk_tcp_listen(t, 0, 80, 0, 16, 1))
		return 1;
	seg_in(t, pseq, 0, STK_TCP_SYN, 0, 1);
	iss = last_seq;
	pseq++;
	seg_in(t, pseq, iss + 1, STK_TCP_ACK, 0, 2);
	if (!conn)
		return 1;
	snd = snd_hi = iss + 1;
	memset(segbuf, 0x5a, sizeof(segbuf));

	/* rx */
	n_tx = 0;
	t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		seg_in(t, pseq, snd, STK_TCP_ACK, MSS, 3 + (uint32_t)(i >> 10));
		tsv = 3 + (uint32_t)(i >> 10);
		pseq += MSS;
		if ((i & 31) == 31)
			stk_tcp_recv_done(t, conn, 32 * MSS);
		if ((i & 1023) == 1023) {
			clk += 1000000;
			stk_tcp_advance(t, clk);
		}
	}
	t1 = now_s();
	printf("rx: %lu in-order %u-byte segments, %.1f ns/segment, %llu ACKs sent, %llu bytes "
	       "delivered\n",
	       n, MSS, (t1 - t0) * 1e9 / (double)n, (unsigned long long)n_tx,
	       (unsigned long long)n_recv);
	stk_tcp_recv_done(t, conn, UINT32_MAX);

	/* tx */
	n_tx = 0;
	t0 = now_s();
	for (unsigned long i = 0; i < n / 16; i++) {
		int rc = stk_tcp_send(t, conn, txarea, sizeof(txarea), i);

		if (rc != 0 && rc != -ENOBUFS) /* ENOBUFS: the send queue waits for ACKs */
			return 1;
		seg_in(t, pseq, snd_hi, STK_TCP_ACK, 0, tsv + (uint32_t)(i >> 6));
		if ((i & 63) == 63) {
			clk += 1000000;
			stk_tcp_advance(t, clk);
		}
	}
	t1 = now_s();
	printf("tx: %llu segments of %u bytes (%s checksum), %.1f ns/segment incl. the ACK "
	       "share; %llu sends completed\n",
	       (unsigned long long)n_tx, MSS, cfg.tx_cksum_offload ? "offloaded" : "software",
	       (t1 - t0) * 1e9 / (double)n_tx, (unsigned long long)n_sent);
	stk_tcp_destroy(t);
	stk_iface_release(&ifc);
	return 0;
}
