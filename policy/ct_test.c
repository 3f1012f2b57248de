/* ct_test.c - unit tests of conntrack: TCP states and windows, UDP/ICMP, timeouts, eviction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>

#include "ct_priv.h" /* test_index checks the index's bookkeeping */

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

#define S  1000000000ull
#define CL 0xc6120001u /* client 198.18.0.1 */
#define SV 0xc6130005u /* server 198.19.0.5 (the tenant) */

#define F_SYN POL_CT_TCP_SYN
#define F_ACK POL_CT_TCP_ACK
#define F_FIN POL_CT_TCP_FIN
#define F_RST POL_CT_TCP_RST

static struct pol_ct *
table(uint32_t entries)
{
	struct pol_ct_conf c = {.entries = entries, .max_tenants = 16, .socket_id = -1};
	struct pol_ct *ct = pol_ct_create(&c);

	if (!ct) {
		fprintf(stderr, "pol_ct_create: %s\n", strerror(errno));
		abort();
	}
	return ct;
}

static struct pol_ct_pkt
tcp(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t flags, uint32_t seq,
    uint32_t ack, uint16_t win, uint32_t len)
{
	struct pol_ct_pkt p = {.src = src,
	                       .dst = dst,
	                       .sport = sport,
	                       .dport = dport,
	                       .proto = 6,
	                       .tenant = 1,
	                       .tcp_flags = flags,
	                       .wscale = 0xff,
	                       .win = win,
	                       .seq = seq,
	                       .ack = ack,
	                       .len = len};
	return p;
}

static struct pol_ct_pkt
udp(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint16_t tenant)
{
	struct pol_ct_pkt p = {.src = src,
	                       .dst = dst,
	                       .sport = sport,
	                       .dport = dport,
	                       .proto = 17,
	                       .tenant = tenant};
	return p;
}

static const struct pol_ct_admit admit = {.cap = 1000, .rule = 7, .gen = 3, .admit_reply = true};

/* Look up and track p as the worker would. */
static enum pol_ct_verdict
feed(struct pol_ct *ct, const struct pol_ct_pkt *p, uint64_t now, struct pol_ct_info *info)
{
	struct pol_ct_key k;
	int32_t idx;

	pol_ct_key_set(&k, p);
	pol_ct_lookup_burst(ct, &k, 1, &idx);
	return pol_ct_track(ct, idx, &k, p, now, info);
}

static int32_t
open_(struct pol_ct *ct, const struct pol_ct_pkt *p, const struct pol_ct_admit *a, uint64_t now)
{
	struct pol_ct_key k;

	pol_ct_key_set(&k, p);
	return pol_ct_open(ct, &k, p, a, now);
}

static uint8_t
state_of(struct pol_ct *ct, const struct pol_ct_pkt *p)
{
	struct pol_ct_info info;
	struct pol_ct_key k;
	int32_t idx;

	pol_ct_key_set(&k, p);
	idx = pol_ct_lookup(ct, &k);
	if (idx < 0 || pol_ct_get(ct, idx, &info))
		return 0xff;
	return info.state;
}

/* A connection's sequence numbers as the two ends see them. */
struct conn {
	uint16_t cport;
	uint32_t c, s; /* next seq of client, server */
};

/* SYN, SYN-ACK, ACK at time t: true when it ends ESTABLISHED. */
static bool
handshake(struct pol_ct *ct, struct conn *x, uint64_t t)
{
	struct pol_ct_pkt p = tcp(CL, x->cport, SV, 80, F_SYN, x->c, 0, 64240, 0);

	if (feed(ct, &p, t, NULL) != POL_CT_NEW || open_(ct, &p, &admit, t) < 0)
		return false;
	x->c++;
	p = tcp(SV, 80, CL, x->cport, F_SYN | F_ACK, x->s, x->c, 65160, 0);
	if (feed(ct, &p, t, NULL) != POL_CT_REPLY)
		return false;
	x->s++;
	p = tcp(CL, x->cport, SV, 80, F_ACK, x->c, x->s, 502, 0);
	if (feed(ct, &p, t, NULL) != POL_CT_ORIG)
		return false;
	return state_of(ct, &p) == POL_CT_TCP_ESTABLISHED;
}

static void
test_key(void)
{
	struct pol_ct_pkt a = udp(CL, 5000, SV, 53, 2), b = udp(SV, 53, CL, 5000, 2);
	struct pol_ct_key ka, kb;
	bool ok = true;

	pol_ct_key_set(&ka, &a);
	pol_ct_key_set(&kb, &b);
	CHECK(!memcmp(&ka, &kb, sizeof(ka)));
	CHECK(ka.ip[0] == CL && ka.port[0] == 5000 && ka.tenant == 2);
	b.tenant = 3;
	pol_ct_key_set(&kb, &b);
	CHECK(memcmp(&ka, &kb, sizeof(ka)) != 0);
	check_report("canonical key: both directions give one key; the tenant is part of it", ok);
}

static void
test_tcp_parse(void)
{
	/* TCP SYN 40000 -> 80, seq 0x01020304, win 64240, options: MSS 1460, NOP, WS 7, NOP x 3 */
	static const uint8_t syn[32] = {0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0, 0, 0,
	                                0,    0x80, 0x02, 0xfa, 0xf0, 0,    0,    0,    0, 2, 4,
	                                0x05, 0xb4, 1,    3,    3,    7,    1,    1,    1, 0};
	uint8_t bad[20];
	struct pol_ct_pkt p;
	bool ok = true;

	CHECK(pol_ct_tcp_parse(syn, sizeof(syn), 0, &p) == 0);
	CHECK(p.seq == 0x01020304 && p.tcp_flags == F_SYN && p.win == 64240 && p.wscale == 7);
	/* data offset 8 words but only 28 bytes there */
	CHECK(pol_ct_tcp_parse(syn, 28, 0, &p) == -EINVAL);
	memcpy(bad, syn, 20);
	bad[12] = 0x40; /* data offset 4 words: below the minimum */
	CHECK(pol_ct_tcp_parse(bad, 20, 0, &p) == -EINVAL);
	bad[12] = 0x50;
	CHECK(pol_ct_tcp_parse(bad, 20, 10, &p) == 0 && p.wscale == 0xff && p.len == 10);
	check_report("TCP header parse: seq, flags, window, window scale option, bad offsets", ok);
}

static void
test_tcp_lifecycle(void)
{
	struct pol_ct *ct = table(1024);
	struct conn x = {40000, 1000, 5000000};
	struct pol_ct_info info;
	struct pol_ct_pkt p;
	bool ok = true;

	CHECK(handshake(ct, &x, S));
	/* the session says who admitted it */
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c, x.s, 502, 100);
	CHECK(feed(ct, &p, S, &info) == POL_CT_ORIG);
	CHECK(info.rule == 7 && info.gen == 3 && info.admit_reply &&
	      info.state == POL_CT_TCP_ESTABLISHED);
	x.c += 100;
	/* server answers with data; its ack covers the request */
	p = tcp(SV, 80, CL, x.cport, F_ACK, x.s, x.c, 500, 1000);
	CHECK(feed(ct, &p, S, &info) == POL_CT_REPLY);
	x.s += 1000;
	/* a retransmission of old data is still in the window */
	p = tcp(SV, 80, CL, x.cport, F_ACK, x.s - 1000, x.c, 500, 1000);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	/* client closes: FIN_WAIT */
	p = tcp(CL, x.cport, SV, 80, F_FIN | F_ACK, x.c, x.s, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	CHECK(state_of(ct, &p) == POL_CT_TCP_FIN_WAIT);
	x.c++;
	/* server FIN acking the client's: both FINs, the server's not yet acked: CLOSING */
	p = tcp(SV, 80, CL, x.cport, F_FIN | F_ACK, x.s, x.c, 500, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	CHECK(state_of(ct, &p) == POL_CT_TCP_CLOSING);
	x.s++;
	/* last ACK: TIME_WAIT */
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c, x.s, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	CHECK(state_of(ct, &p) == POL_CT_TCP_TIME_WAIT);
	/* a SYN on the same tuple in TIME_WAIT opens a new connection */
	p = tcp(CL, x.cport, SV, 80, F_SYN, 777, 0, 64240, 0);
	CHECK(feed(ct, &p, 2 * S, NULL) == POL_CT_ORIG);
	CHECK(state_of(ct, &p) == POL_CT_TCP_SYN_SENT);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_REOPENED) == 1);
	/* ... and can be refused: RST+ACK acking the SYN */
	p = tcp(SV, 80, CL, x.cport, F_RST | F_ACK, 0, 778, 0, 0);
	CHECK(feed(ct, &p, 2 * S, NULL) == POL_CT_REPLY);
	CHECK(state_of(ct, &p) == POL_CT_TCP_CLOSE);
	/* nothing but a new SYN is valid after a reset */
	p = tcp(CL, x.cport, SV, 80, F_ACK, 778, 1, 502, 0);
	CHECK(feed(ct, &p, 2 * S, NULL) == POL_CT_INVALID);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_CREATED) == 1);
	CHECK(pol_ct_count(ct) == 1 && pol_ct_tenant_count(ct, 1) == 1);
	pol_ct_free(ct);
	check_report(
	        "TCP: SYN, SYN-ACK, ESTABLISHED, FIN_WAIT, CLOSING, TIME_WAIT, reopen, refused",
	        ok);
}

static void
test_tcp_invalid(void)
{
	struct pol_ct *ct = table(1024);
	struct conn x = {40001, 1000, 5000000};
	struct pol_ct_pkt p;
	bool ok = true;

	/* not an opener: a lone ACK, a SYN-ACK, a RST create nothing */
	p = tcp(CL, 1, SV, 80, F_ACK, 1, 1, 100, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_NEW && open_(ct, &p, &admit, S) == -EINVAL);
	p.tcp_flags = F_SYN | F_ACK;
	CHECK(open_(ct, &p, &admit, S) == -EINVAL);
	p.tcp_flags = F_SYN | F_FIN;
	CHECK(open_(ct, &p, &admit, S) == -EINVAL);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_NOT_OPENER) == 3 && pol_ct_count(ct) == 0);

	/* SYN_SENT: a SYN-ACK acking the wrong sequence is invalid; data before it too */
	p = tcp(CL, x.cport, SV, 80, F_SYN, x.c, 0, 64240, 0);
	CHECK(open_(ct, &p, &admit, S) >= 0);
	CHECK(open_(ct, &p, &admit, S) == -EEXIST);
	p = tcp(SV, 80, CL, x.cport, F_SYN | F_ACK, x.s, x.c + 5, 65160, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c + 1, 0, 502, 10);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	/* a RST without ACK cannot refuse a SYN (blind reset) */
	p = tcp(SV, 80, CL, x.cport, F_RST, x.s, 0, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_INVALID_RST) == 1);
	/* a retransmitted SYN is fine */
	p = tcp(CL, x.cport, SV, 80, F_SYN, x.c, 0, 64240, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	CHECK(state_of(ct, &p) == POL_CT_TCP_SYN_SENT);
	pol_ct_remove(ct,
	              pol_ct_lookup(ct, &(struct pol_ct_key){{CL, SV}, {x.cport, 80}, 6, 0, 1}));
	CHECK(pol_ct_count(ct) == 0);

	CHECK(handshake(ct, &x, S));
	/* out-of-window RST (blind reset far ahead) and FIN: dropped, state kept */
	p = tcp(SV, 80, CL, x.cport, F_RST | F_ACK, x.s + 10000000, x.c, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	p = tcp(CL, x.cport, SV, 80, F_FIN | F_ACK, x.c - 20000000, x.s, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	CHECK(state_of(ct, &p) == POL_CT_TCP_ESTABLISHED);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_INVALID_RST) == 2);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_INVALID_FIN) == 1);
	/* data beyond the window the server advertised (65160 unscaled) */
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c + 70000, x.s, 502, 100);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	/* acking data the server never sent */
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c, x.s + 5000, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_INVALID_SEQ) == 3);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_INVALID_STATE) == 1);
	/* a SYN in ESTABLISHED; a segment without ACK or RST */
	p = tcp(CL, x.cport, SV, 80, F_SYN, 1, 0, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	p = tcp(CL, x.cport, SV, 80, 0, x.c, 0, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	/* an exact RST closes */
	p = tcp(SV, 80, CL, x.cport, F_RST | F_ACK, x.s, x.c, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	CHECK(state_of(ct, &p) == POL_CT_TCP_CLOSE);
	pol_ct_free(ct);
	check_report(
	        "TCP: out-of-window RST/FIN/data and bad acks are invalid; an exact RST closes",
	        ok);
}

/*
 * Conntrack closes on the RSTs the endpoint takes, and lets the ends finish after it: an RST
 * elsewhere in the window keeps the session (the endpoint answers it with a challenge ACK,
 * RFC 5961 3.2, and the live peer with an exact RST); exact is the sender's next sequence
 * number, the receiver's last ACK, or one below the sender's FIN's end (the engine's
 * rst_after_fin). After the reset, RSTs and pure ACKs still pass; data and FINs do not.
 */
static void
test_tcp_rst_exact(void)
{
	struct pol_ct *ct = table(1024);
	struct conn x = {40010, 1000, 5000000}, y = {40011, 3000, 7000000};
	struct conn z = {40012, 9000, 8000000};
	struct pol_ct_pkt p;
	bool ok = true;

	CHECK(handshake(ct, &x, S));
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c, x.s, 502, 100);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	x.c += 100;
	/* in the window, not exact: passes (to be challenged), the session stays; twice, as a
	 * blind RST does not move the edges */
	p = tcp(SV, 80, CL, x.cport, F_RST | F_ACK, x.s + 100, x.c, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	CHECK(state_of(ct, &p) == POL_CT_TCP_ESTABLISHED);
	/* the challenge ACK, then the exact RST it draws: closed */
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c, x.s, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	p = tcp(SV, 80, CL, x.cport, F_RST | F_ACK, x.s, x.c, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	CHECK(state_of(ct, &p) == POL_CT_TCP_CLOSE);
	/* after the reset: the peer's RSTs again and the other end's pure ACK and RST pass;
	 * its data and FIN do not */
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c, x.s, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	p = tcp(CL, x.cport, SV, 80, F_RST | F_ACK, x.c, x.s, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	p = tcp(CL, x.cport, SV, 80, F_ACK, x.c, x.s, 502, 10);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	p = tcp(CL, x.cport, SV, 80, F_FIN | F_ACK, x.c, x.s, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	p = tcp(CL, x.cport, SV, 80, F_RST | F_ACK, x.c + 10000000, x.s, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID); /* outside the window: still not */
	CHECK(state_of(ct, &p) == POL_CT_TCP_CLOSE);

	/* a request and FIN; the answer, built before the FIN came, acks the FIN's own number;
	 * the closed client's RST carries that: one below its FIN's end, it closes */
	CHECK(handshake(ct, &y, S));
	p = tcp(CL, y.cport, SV, 80, F_ACK, y.c, y.s, 502, 20);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	y.c += 20;
	p = tcp(CL, y.cport, SV, 80, F_FIN | F_ACK, y.c, y.s, 502, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	p = tcp(SV, 80, CL, y.cport, F_ACK, y.s, y.c, 500, 100);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	y.s += 100;
	p = tcp(SV, 80, CL, y.cport, F_ACK, y.s, y.c + 1, 500, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	p = tcp(CL, y.cport, SV, 80, F_RST, y.c, 0, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	CHECK(state_of(ct, &p) == POL_CT_TCP_CLOSE);

	/* data missing at the receiver: its RCV.NXT (its last ACK) is what the peer resets at */
	CHECK(handshake(ct, &z, S));
	p = tcp(CL, z.cport, SV, 80, F_ACK, z.c, z.s, 502, 1000);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	p = tcp(CL, z.cport, SV, 80, F_ACK, z.c + 1000, z.s, 502, 1000);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	p = tcp(SV, 80, CL, z.cport, F_ACK, z.s, z.c + 1000, 500, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	p = tcp(CL, z.cport, SV, 80, F_RST, z.c + 1000, 0, 0, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	CHECK(state_of(ct, &p) == POL_CT_TCP_CLOSE);
	pol_ct_free(ct);
	check_report(
	        "TCP: an RST closes when exact (next seq, last ACK, FIN - 1), else it is challenged; "
	        "RSTs and pure ACKs pass after it",
	        ok);
}

static void
test_tcp_wscale(void)
{
	struct pol_ct *ct = table(64);
	struct pol_ct_pkt p;
	uint32_t c = 100, s = 900000;
	bool ok = true;

	/* both offer window scaling (client 7, server 8) */
	p = tcp(CL, 40002, SV, 443, F_SYN, c, 0, 64240, 0);
	p.wscale = 7;
	CHECK(open_(ct, &p, &admit, S) >= 0);
	c++;
	p = tcp(SV, 443, CL, 40002, F_SYN | F_ACK, s, c, 65160, 0);
	p.wscale = 8;
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	s++;
	/* the client advertises 1024 << 7 = 128 KiB */
	p = tcp(CL, 40002, SV, 443, F_ACK, c, s, 1024, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	/* server advertises 2048 << 8 = 512 KiB: the client may send 400 KiB ahead */
	p = tcp(SV, 443, CL, 40002, F_ACK, s, c, 2048, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	p = tcp(CL, 40002, SV, 443, F_ACK, c + 400000, s, 1024, 1000);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	/* but not 600 KiB */
	p = tcp(CL, 40002, SV, 443, F_ACK, c + 600000, s, 1024, 1000);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	/* without the option on one side, windows are not scaled */
	p = tcp(CL, 40003, SV, 443, F_SYN, c, 0, 64240, 0);
	p.wscale = 7;
	CHECK(open_(ct, &p, &admit, S) >= 0);
	p = tcp(SV, 443, CL, 40003, F_SYN | F_ACK, s - 1, c + 1, 65160, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	p = tcp(CL, 40003, SV, 443, F_ACK, c + 1, s, 1024, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_ORIG);
	p = tcp(SV, 443, CL, 40003, F_ACK, s, c + 1, 2048, 0);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_REPLY);
	p = tcp(CL, 40003, SV, 443, F_ACK, c + 1 + 100000, s, 1024, 1000);
	CHECK(feed(ct, &p, S, NULL) == POL_CT_INVALID);
	pol_ct_free(ct);
	check_report("TCP window scaling: used when both SYNs offer it, windows checked scaled",
	             ok);
}

static void
test_udp_icmp(void)
{
	struct pol_ct *ct = table(64);
	struct pol_ct_pkt q = udp(CL, 5000, SV, 53, 1), r = udp(SV, 53, CL, 5000, 1);
	struct pol_ct_pkt e = {
	        .src = SV, .dst = CL, .sport = 77, .dport = 77, .proto = 1, .tenant = 1};
	struct pol_ct_pkt g = {.src = SV, .dst = CL, .proto = 47, .tenant = 1};
	struct pol_ct_info info;
	bool ok = true;

	CHECK(feed(ct, &q, S, NULL) == POL_CT_NEW);
	CHECK(open_(ct, &q, &admit, S) >= 0);
	CHECK(state_of(ct, &q) == POL_CT_UDP_NEW);
	CHECK(feed(ct, &q, S, NULL) == POL_CT_ORIG && state_of(ct, &q) == POL_CT_UDP_NEW);
	CHECK(feed(ct, &r, S, &info) == POL_CT_REPLY && info.state == POL_CT_UDP_REPLIED);
	/* ICMP echo: the identifier in both ports */
	CHECK(open_(ct, &e, &admit, S) >= 0);
	CHECK(state_of(ct, &e) == POL_CT_ICMP_NEW);
	e.src = CL;
	e.dst = SV;
	CHECK(feed(ct, &e, S, NULL) == POL_CT_REPLY && state_of(ct, &e) == POL_CT_ICMP_REPLIED);
	/* another protocol */
	CHECK(open_(ct, &g, &admit, S) >= 0 && state_of(ct, &g) == POL_CT_OTHER_NEW);
	g.src = CL;
	g.dst = SV;
	CHECK(feed(ct, &g, S, NULL) == POL_CT_REPLY && state_of(ct, &g) == POL_CT_OTHER_REPLIED);
	CHECK(pol_ct_count(ct) == 3);
	pol_ct_free(ct);
	check_report("UDP, ICMP and other protocols: new, then replied", ok);
}

static void
test_timeouts(void)
{
	struct pol_ct_conf c = {.entries = 256, .max_tenants = 16, .socket_id = -1};
	struct pol_ct *ct;
	struct pol_ct_pkt q = udp(CL, 5000, SV, 53, 1);
	struct conn x = {40010, 1, 2};
	unsigned i, removed;
	bool ok = true;

	c.timeouts.ns[POL_CT_UDP_NEW] = 5 * S;
	ct = pol_ct_create(&c);
	CHECK(ct != NULL);
	CHECK(pol_ct_timeout(ct, POL_CT_UDP_NEW) == 5 * S);
	CHECK(pol_ct_timeout(ct, POL_CT_TCP_ESTABLISHED) == 86400 * S);
	CHECK(pol_ct_timeout(ct, POL_CT_TCP_SYN_SENT) == 30 * S);
	CHECK(pol_ct_timeout(ct, POL_CT_TCP_TIME_WAIT) == 120 * S);
	CHECK(pol_ct_timeout(ct, POL_CT_UDP_REPLIED) == 60 * S);
	/* lazily, on the next packet */
	CHECK(open_(ct, &q, &admit, 10 * S) >= 0);
	CHECK(feed(ct, &q, 14 * S, NULL) == POL_CT_ORIG);
	CHECK(feed(ct, &q, 19 * S, NULL) == POL_CT_NEW);
	CHECK(pol_ct_count(ct) == 0 && pol_ct_counter(ct, POL_CT_CNT_EXPIRED) == 1);
	/* by the sweep: 100 UDP sessions and one established TCP */
	for (i = 0; i < 100; i++) {
		q.sport = (uint16_t)(6000 + i);
		CHECK(open_(ct, &q, &admit, 20 * S) >= 0);
	}
	CHECK(handshake(ct, &x, 20 * S));
	removed = pol_ct_expire(ct, 24 * S, 1000);
	CHECK(removed == 0 && pol_ct_count(ct) == 101);
	removed = 0;
	for (i = 0; i < 20; i++) /* small budgets: the cursor goes round */
		removed += pol_ct_expire(ct, 26 * S, 16);
	CHECK(removed == 100 && pol_ct_count(ct) == 1);
	CHECK(pol_ct_expire(ct, 20 * S + 86399 * S, 1000) == 0);
	CHECK(pol_ct_expire(ct, 20 * S + 86400 * S, 1000) == 1 && pol_ct_count(ct) == 0);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_EXPIRED) == 102);
	pol_ct_free(ct);
	check_report("timeouts: per state, configurable, expired lazily and by the sweep", ok);
}

/* The table's capacity is the limit: transient sessions go, oldest first; established stay. */
static void
test_eviction(void)
{
	struct pol_ct *ct = table(64);
	struct pol_ct_pkt q;
	struct conn x;
	uint64_t t = 100 * S;
	unsigned i;
	bool ok = true;

	/* 32 established TCP sessions ... */
	for (i = 0; i < 32; i++) {
		x = (struct conn){(uint16_t)(30000 + i), 1000, 2000};
		CHECK(handshake(ct, &x, t + i));
	}
	/* ... and 32 transient UDP ones, created in order; the first one is touched again later */
	for (i = 0; i < 32; i++) {
		q = udp(CL, (uint16_t)(5000 + i), SV, 53, 1);
		CHECK(open_(ct, &q, &admit, t + 100 + i) >= 0);
	}
	q = udp(CL, 5000, SV, 53, 1);
	CHECK(feed(ct, &q, t + 200, NULL) == POL_CT_ORIG);
	CHECK(pol_ct_count(ct) == 64);
	/* full: the next one evicts the least recently seen transient, 5001 */
	q = udp(CL, 7000, SV, 53, 1);
	CHECK(open_(ct, &q, &admit, t + 300) >= 0);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_EVICTED_FULL) == 1);
	q.sport = 5001;
	CHECK(state_of(ct, &q) == 0xff);
	q.sport = 5000;
	CHECK(state_of(ct, &q) == POL_CT_UDP_NEW);
	/* an answered UDP session is established: never evicted */
	for (i = 2; i < 32; i++) {
		struct pol_ct_pkt r = udp(SV, 53, CL, (uint16_t)(5000 + i), 1);

		CHECK(feed(ct, &r, t + 400, NULL) == POL_CT_REPLY);
	}
	/* 5000 and 7000 are the only transient ones left: two more evict them (oldest first) */
	q = udp(CL, 8000, SV, 53, 1);
	CHECK(open_(ct, &q, &admit, t + 500) >= 0);
	q.sport = 7000;
	CHECK(state_of(ct, &q) == POL_CT_UDP_NEW);
	q.sport = 5000;
	CHECK(state_of(ct, &q) == 0xff);
	q = udp(CL, 8001, SV, 53, 1);
	CHECK(open_(ct, &q, &admit, t + 501) >= 0);
	q.sport = 7000;
	CHECK(state_of(ct, &q) == 0xff);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_EVICTED_FULL) == 3);
	/* answer both: the table holds established sessions only, the next one is refused */
	for (i = 0; i < 2; i++) {
		struct pol_ct_pkt r = udp(SV, 53, CL, (uint16_t)(8000 + i), 1);

		CHECK(feed(ct, &r, t + 600, NULL) == POL_CT_REPLY);
	}
	q = udp(CL, 8002, SV, 53, 1);
	CHECK(open_(ct, &q, &admit, t + 700) == -ENOSPC);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_REFUSED_FULL) == 1);
	/* every established session is still there */
	for (i = 0; i < 32; i++) {
		struct pol_ct_pkt a =
		        tcp(CL, (uint16_t)(30000 + i), SV, 80, F_ACK, 1001, 2001, 502, 0);

		CHECK(state_of(ct, &a) == POL_CT_TCP_ESTABLISHED);
	}
	CHECK(pol_ct_count(ct) == 64);
	pol_ct_free(ct);
	check_report(
	        "eviction: table full evicts the oldest transient session, never an established one",
	        ok);
}

static void
test_caps(void)
{
	struct pol_ct *ct = table(1024);
	struct pol_ct_admit a = admit;
	struct pol_ct_pkt q;
	struct conn x;
	unsigned i;
	bool ok = true;

	a.cap = 4;
	/* tenant 2's old transient session: must not be touched by tenant 1's cap */
	q = udp(CL, 9999, SV, 53, 2);
	CHECK(open_(ct, &q, &a, 1) >= 0);
	for (i = 0; i < 4; i++) {
		q = udp(CL, (uint16_t)(5000 + i), SV, 53, 1);
		CHECK(open_(ct, &q, &a, 10 + i) >= 0);
	}
	CHECK(pol_ct_tenant_count(ct, 1) == 4);
	/* at its cap: its own oldest transient goes */
	q = udp(CL, 6000, SV, 53, 1);
	CHECK(open_(ct, &q, &a, 20) >= 0);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_EVICTED_CAP) == 1);
	CHECK(pol_ct_tenant_count(ct, 1) == 4 && pol_ct_tenant_count(ct, 2) == 1);
	q.sport = 5000;
	CHECK(state_of(ct, &q) == 0xff);
	q = udp(CL, 9999, SV, 53, 2);
	CHECK(state_of(ct, &q) == POL_CT_UDP_NEW);
	/* tenant 3 with 4 established: refused */
	for (i = 0; i < 4; i++) {
		x = (struct conn){(uint16_t)(31000 + i), 1, 1};
		q = tcp(CL, x.cport, SV, 80, F_SYN, x.c, 0, 1000, 0);
		q.tenant = 3;
		CHECK(open_(ct, &q, &a, 30) >= 0);
		q = tcp(SV, 80, CL, x.cport, F_SYN | F_ACK, x.s, x.c + 1, 1000, 0);
		q.tenant = 3;
		CHECK(feed(ct, &q, 30, NULL) == POL_CT_REPLY);
		q = tcp(CL, x.cport, SV, 80, F_ACK, x.c + 1, x.s + 1, 1000, 0);
		q.tenant = 3;
		CHECK(feed(ct, &q, 30, NULL) == POL_CT_ORIG);
		CHECK(state_of(ct, &q) == POL_CT_TCP_ESTABLISHED);
	}
	q = udp(CL, 1, SV, 53, 3);
	CHECK(open_(ct, &q, &a, 40) == -ENOSPC);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_REFUSED_CAP) == 1);
	/* a cap of 0 allows nothing; a cap lowered below the count evicts nothing */
	a.cap = 0;
	q = udp(CL, 1, SV, 53, 4);
	CHECK(open_(ct, &q, &a, 40) == -ENOSPC);
	a.cap = 2;
	q = udp(CL, 7777, SV, 53, 1);
	CHECK(open_(ct, &q, &a, 40) == -ENOSPC);
	CHECK(pol_ct_tenant_count(ct, 1) == 4);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_REFUSED_CAP) == 3);
	pol_ct_free(ct);
	check_report(
	        "per-tenant caps: a tenant's own oldest transient is evicted, established refused",
	        ok);
}

static bool
gone_3(const void *arg, uint16_t tenant, uint64_t gen)
{
	(void)arg;
	(void)gen;
	return tenant == 3;
}

/* tenant 3's id given to a new tenant by generation 5: older stamps are its predecessor's */
static bool
gone_before_5(const void *arg, uint16_t tenant, uint64_t gen)
{
	(void)arg;
	return tenant == 3 && gen < 5;
}

/*
 * A tenant a reload removed: the sweep removes its sessions (established ones too), so a tenant
 * given its id later does not find its cap taken; the other tenants' sessions stay.
 */
static void
test_tenant_gone(void)
{
	struct pol_ct *ct = table(1024);
	struct pol_ct_admit a = admit;
	struct pol_ct_pkt q;
	struct conn x;
	unsigned i, removed = 0;
	bool ok = true;

	a.cap = 4;
	for (i = 0; i < 4; i++) {
		x = (struct conn){(uint16_t)(31000 + i), 1, 1};
		q = tcp(CL, x.cport, SV, 80, F_SYN, x.c, 0, 1000, 0);
		q.tenant = 3;
		CHECK(open_(ct, &q, &a, 30) >= 0);
		q = tcp(SV, 80, CL, x.cport, F_SYN | F_ACK, x.s, x.c + 1, 1000, 0);
		q.tenant = 3;
		CHECK(feed(ct, &q, 30, NULL) == POL_CT_REPLY);
		q = tcp(CL, x.cport, SV, 80, F_ACK, x.c + 1, x.s + 1, 1000, 0);
		q.tenant = 3;
		CHECK(feed(ct, &q, 30, NULL) == POL_CT_ORIG);
		CHECK(state_of(ct, &q) == POL_CT_TCP_ESTABLISHED);
		q = udp(CL, (uint16_t)(5000 + i), SV, 53, 1);
		CHECK(open_(ct, &q, &a, 30) >= 0);
	}
	q = udp(CL, 1, SV, 53, 3);
	CHECK(open_(ct, &q, &a, 40) == -ENOSPC); /* at its cap, nothing evictable */
	/* tenant 3 removed: swept in small steps, the cursor goes round */
	for (i = 0; i < 200; i++)
		removed += pol_ct_expire_gone(ct, 41, 16, gone_3, NULL);
	CHECK(removed == 4);
	CHECK(pol_ct_tenant_count(ct, 3) == 0 && pol_ct_tenant_count(ct, 1) == 4);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_TENANT_GONE) == 4);
	CHECK(pol_ct_counter(ct, POL_CT_CNT_EXPIRED) == 0);
	x = (struct conn){31000, 1, 1};
	q = tcp(CL, x.cport, SV, 80, F_ACK, x.c + 1, x.s + 1, 1000, 0);
	q.tenant = 3;
	CHECK(state_of(ct, &q) == 0xff);
	q = udp(CL, 5002, SV, 53, 1);
	CHECK(state_of(ct, &q) == POL_CT_UDP_NEW);
	/* the id's next owner has its whole cap */
	for (i = 0; i < 4; i++) {
		q = udp(CL, (uint16_t)(7000 + i), SV, 53, 3);
		CHECK(open_(ct, &q, &a, 42) >= 0);
	}
	CHECK(pol_ct_tenant_count(ct, 3) == 4 && pol_ct_count(ct) == 8);
	/* without the callback: only timeouts */
	CHECK(pol_ct_expire_gone(ct, 43, 1024, NULL, NULL) == 0 && pol_ct_count(ct) == 8);
	pol_ct_free(ct);
	/* the id given again before the sweep came by: the sessions' stamps tell the owners apart
	 */
	ct = table(1024);
	a.gen = 3;
	for (i = 0; i < 2; i++) {
		q = udp(CL, (uint16_t)(100 + i), SV, 53, 3);
		CHECK(open_(ct, &q, &a, 50) >= 0);
	}
	a.gen = 5;
	q = udp(CL, 200, SV, 53, 3);
	CHECK(open_(ct, &q, &a, 50) >= 0);
	CHECK(pol_ct_expire_gone(ct, 51, 1024, gone_before_5, NULL) == 2);
	CHECK(pol_ct_tenant_count(ct, 3) == 1 && state_of(ct, &q) == POL_CT_UDP_NEW);
	pol_ct_free(ct);
	check_report(
	        "a removed tenant's sessions, established ones too, are swept, also after its id "
	        "went to a new tenant; others stay",
	        ok);
}

/* An index from the burst's lookup that an eviction reused is not trusted. */
static void
test_stale_index(void)
{
	struct pol_ct *ct = table(8);
	struct pol_ct_pkt a = udp(CL, 1, SV, 53, 1), b;
	struct pol_ct_key ka, kb;
	int32_t idx, ib;
	unsigned i;
	bool ok = true;

	CHECK(open_(ct, &a, &admit, 1) >= 0);
	for (i = 0; i < 7; i++) {
		b = udp(CL, (uint16_t)(100 + i), SV, 53, 1);
		CHECK(open_(ct, &b, &admit, 2 + i) >= 0);
	}
	pol_ct_key_set(&ka, &a);
	pol_ct_lookup_burst(ct, &ka, 1, &idx);
	CHECK(idx >= 0);
	/* another packet of the burst opens a session: the table is full, a's entry goes */
	b = udp(CL, 200, SV, 53, 1);
	pol_ct_key_set(&kb, &b);
	ib = pol_ct_open(ct, &kb, &b, &admit, 20);
	CHECK(ib >= 0);
	CHECK(pol_ct_track(ct, idx, &ka, &a, 21, NULL) == POL_CT_NEW);
	/* and b tracked through a's stale index finds its own entry */
	CHECK(pol_ct_track(ct, idx, &kb, &b, 21, NULL) == POL_CT_ORIG);
	pol_ct_free(ct);
	check_report("a stale index from the burst's lookup is looked up again", ok);
}

/*
 * The index under churn, squeezed into 2 buckets (16 slots) for 14 sessions so keys overflow
 * into the other bucket all the time: after every open or remove, every live session is found
 * (one by one and in a burst), every removed one is not, and each bucket's overflow count is
 * the number of keys that passed it.
 */
static void
test_index(void)
{
	enum { LIVE = 14, KEYS = 40 };
	struct pol_ct *ct = table(64);
	struct pol_ct_pkt p[KEYS];
	struct pol_ct_key k[KEYS];
	int32_t at[KEYS], idx[KEYS];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	unsigned step, i, live = 0, overflowed = 0;
	bool ok = true;

	ct->mask = 1; /* test only: the first 2 buckets */
	ct->capacity = LIVE;
	for (i = 0; i < KEYS; i++) {
		p[i] = udp(CL + i, (uint16_t)(1000 + i), SV, 53, 1);
		pol_ct_key_set(&k[i], &p[i]);
		at[i] = -1;
	}
	for (step = 0; step < 4000 && ok; step++) {
		uint32_t b, j, seen[2] = {0, 0};

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		i = (unsigned)(rng % KEYS);
		if (at[i] >= 0) {
			pol_ct_remove(ct, at[i]);
			at[i] = -1;
			live--;
		} else if (live < LIVE) {
			at[i] = pol_ct_open(ct, &k[i], &p[i], &admit, S);
			CHECK(at[i] >= 0);
			live += at[i] >= 0;
		}
		CHECK(pol_ct_count(ct) == live);
		for (i = 0; i < KEYS; i++)
			CHECK(pol_ct_lookup(ct, &k[i]) == (at[i] >= 0 ? at[i] : -1));
		CHECK(pol_ct_lookup_burst(ct, k, KEYS, idx) == live);
		for (i = 0; i < KEYS; i++)
			CHECK(idx[i] == (at[i] >= 0 ? at[i] : -1));
		/* overflow counts from scratch: a key in bucket b whose home is the other one */
		for (b = 0; b < 2; b++)
			for (j = 0; j < CT_BUCKET_SLOTS; j++)
				if ((ct->b[b].used & (1u << j)) &&
				    (ct->e[ct->b[b].idx[j]].hash & ct->mask) != b)
					seen[!b]++;
		CHECK(ct->b[0].ovf == seen[0] && ct->b[1].ovf == seen[1]);
		overflowed += seen[0] + seen[1] > 0;
	}
	CHECK(overflowed > 100);
	printf("#   %u steps, %u of them with keys overflowed into the other bucket\n", step,
	       overflowed);
	pol_ct_free(ct);
	check_report(
	        "index under churn: every live key found, removed ones not, overflow counts exact",
	        ok);
}

static void
test_burst_and_timing(void)
{
	enum { N = 60000 };
	struct pol_ct *ct = table(65536);
	static struct pol_ct_key keys[N];
	static struct pol_ct_pkt pkts[N];
	struct pol_ct_admit big = admit;
	struct timespec a, b;
	int32_t idx[64];
	unsigned i, j, found = 0, rounds = 0;
	double ns;
	bool ok = true;

	for (i = 0; i < N; i++) {
		pkts[i] = udp(0x0a000000 + i * 7, (uint16_t)(1024 + i % 50000), SV, 53,
		              (uint16_t)(i % 16));
		pol_ct_key_set(&keys[i], &pkts[i]);
		big.cap = N;
		CHECK(pol_ct_open(ct, &keys[i], &pkts[i], &big, S) >= 0);
	}
	CHECK(pol_ct_count(ct) == N);
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (i = 0; i + 32 <= N; i += 32) {
			found += pol_ct_lookup_burst(ct, &keys[i], 32, idx);
			for (j = 0; j < 32; j++)
				pol_ct_track(ct, idx[j], &keys[i + j], &pkts[i + j], 2 * S, NULL);
		}
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	} while (ns < 2e8);
	CHECK(found == rounds * (N / 32 * 32));
	printf("#   lookup_burst(32) + track, %u sessions: %.1f ns/packet\n", N,
	       ns / (rounds * (N / 32 * 32)));
	pol_ct_free(ct);
	check_report("bulk lookup of 60000 sessions (timing informational)", ok);
}

int
main(int argc, char **argv)
{
	char *eal[] = {
	        argv[0], "--no-huge",      "--no-shconf", "--no-pci", "-m",
	        "256",   "--no-telemetry", "-l",          "0",        "--log-level=lib.eal:warning",
	        NULL};

	(void)argc;
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	test_key();
	test_tcp_parse();
	test_tcp_lifecycle();
	test_tcp_invalid();
	test_tcp_rst_exact();
	test_tcp_wscale();
	test_udp_icmp();
	test_timeouts();
	test_eviction();
	test_caps();
	test_tenant_gone();
	test_stale_index();
	test_index();
	test_burst_and_timing();
	rte_eal_cleanup();
	return check_done();
}
