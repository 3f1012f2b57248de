/* tcp_client_test.c - libbypass streams against the fake gateway: encoding, events, bounds, errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bypass/bypass.h"
#include "fakegw.h"
#include "check.h"

#define TENANT_ADDR 0xc612000a /* 198.18.0.10 */

static char sock_path[64];

static struct fakegw_cfg
gw_cfg(void)
{
	snprintf(sock_path, sizeof(sock_path), "@bp_tcp_client_test.%d", (int)getpid());
	return (struct fakegw_cfg){
	        .path = sock_path,
	        .tenant = "acme",
	        .allow_uid = (uint32_t)getuid(),
	        .max_queues = 4,
	        .addr_be = htonl(TENANT_ADDR),
	        .port_lo = 7000,
	        .port_hi = 7999,
	        .dflt = {.rx_ring = 256,
	                 .rx_bufs = 256,
	                 .rx_buf_size = 2048,
	                 .tx_ring = 256,
	                 .tx_bufs = 256,
	                 .tx_buf_size = 4096},
	};
}

/* Poll q (bounded: 2 s) for the next event; true when it is of this type. */
static bool
next_ev(struct bp_queue *q, uint16_t type, struct bp_tcp_ev *out)
{
	int i, n;

	for (i = 0; i < 2000; i++) {
		n = bp_tcp_poll(q, out, 1);
		if (n < 0)
			return false;
		if (n == 1) {
			if (out->type == type)
				return true;
			fprintf(stderr, "unexpected %s (want %s)\n", bp_tcp_ev_str(out->type),
			        bp_tcp_ev_str(type));
			return false;
		}
		bp_wait(q, 1);
	}
	return false;
}

static void
test_events(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct fakegw *g = fakegw_start(&cfg);
	struct bp_tcp_ev ev, acc, con, snt;
	struct bp_handle *h;
	struct bp_queue *srv, *cli;
	char *b;
	int l;

	REQUIRE(g);
	h = bp_attach(sock_path, "acme", 2, NULL);
	REQUIRE(h);
	srv = bp_queue(h, 0);
	cli = bp_queue(h, 1);
	/* listen: only on the tenant's ports, never twice */
	CHECK_EQ(bp_tcp_listen(srv, htonl(TENANT_ADDR), htons(80)), -BP_EPORT);
	CHECK_EQ(bp_tcp_listen(srv, htonl(TENANT_ADDR), 0), -EINVAL);
	l = bp_tcp_listen(srv, htonl(TENANT_ADDR), htons(7100));
	REQUIRE(l >= 0);
	CHECK_EQ(bp_tcp_listen(cli, htonl(TENANT_ADDR), htons(7100)), -BP_EADDRINUSE);
	/* a listening socket is not a datagram socket */
	b = bp_buf_alloc(cli);
	REQUIRE(b);
	{
		struct bp_tx tx = {.data = bp_buf_alloc(srv), .len = 4, .sock = (uint32_t)l};

		CHECK_EQ(bp_send_burst(srv, &tx, 1), -BP_EBADSOCK);
		CHECK_EQ(bp_buf_free(srv, tx.data), 0);
	}
	/* connect: bad arguments never reach the ring */
	CHECK_EQ(bp_tcp_connect(cli, 0, htonl(0x7f000001), htons(7100), 1), -EINVAL);
	CHECK_EQ(bp_tcp_connect(cli, 0, htonl(TENANT_ADDR), 0, 1), -EINVAL);
	/* refused: nobody listens there; the cookie comes back */
	CHECK_EQ(bp_tcp_connect(cli, 0, htonl(TENANT_ADDR), htons(7101), 77), 0);
	REQUIRE(next_ev(cli, BP_TCP_RESET, &ev));
	CHECK_EQ(ev.err, -ECONNREFUSED);
	CHECK_EQ(ev.cookie, 77);
	/* accepted on one queue, connected on the other */
	CHECK_EQ(bp_tcp_connect(cli, 0, htonl(TENANT_ADDR), htons(7100), 42), 0);
	REQUIRE(next_ev(srv, BP_TCP_ACCEPTED, &acc));
	REQUIRE(next_ev(cli, BP_TCP_CONNECTED, &con));
	CHECK_EQ(acc.listener, (uint32_t)l);
	CHECK(acc.conn != 0);
	CHECK_EQ(con.conn, acc.conn); /* the fake's one id names both ends */
	CHECK_EQ(con.cookie, 42);
	CHECK_EQ(con.port, htons(7100));
	/* send: 3000 bytes arrive as RECV views (split at the RX buffer size), SENT returns */
	memset(b, 'x', 3000);
	CHECK_EQ(bp_tcp_send(cli, con.conn, b, 3000, 9), 0);
	CHECK_EQ(bp_tcp_send(cli, con.conn, b, 10, 9), -EINVAL); /* posted already */
	REQUIRE(next_ev(cli, BP_TCP_SENT, &snt));
	CHECK_EQ(snt.err, 0);
	CHECK_EQ(snt.len, 3000);
	CHECK_EQ(snt.cookie, 9);
	{
		struct bp_tcp_ev r[2];

		REQUIRE(next_ev(srv, BP_TCP_RECV, &r[0]));
		REQUIRE(next_ev(srv, BP_TCP_RECV, &r[1]));
		CHECK_EQ(r[0].len + r[1].len, 3000);
		CHECK_EQ(((const char *)r[0].data)[0], 'x');
		CHECK_EQ(bp_tcp_done(srv, r, 2), 2);
		CHECK_EQ(bp_tcp_done(srv, r, 1), -EINVAL); /* handed back already */
	}
	/* bounds: not a TX buffer, zero length, a view past the buffer's end, conn 0 */
	b = bp_buf_alloc(cli);
	REQUIRE(b);
	CHECK_EQ(bp_tcp_send(cli, con.conn, &ev, 4, 0), -EINVAL);
	CHECK_EQ(bp_tcp_send(cli, con.conn, b, 0, 0), -EINVAL);
	CHECK_EQ(bp_tcp_send(cli, con.conn, b + 100, 4096, 0), -EINVAL);
	CHECK_EQ(bp_tcp_send(cli, 0, b, 4, 0), -BP_EBADSOCK);
	/* a connection id the queue does not hold: refused by the gateway, buffer back */
	CHECK_EQ(bp_tcp_send(srv, 0x7777, bp_buf_alloc(srv), 4, 5), 0);
	REQUIRE(next_ev(srv, BP_TCP_SENT, &snt));
	CHECK_EQ(snt.err, -BP_EBADSOCK);
	CHECK_EQ(snt.cookie, 5);
	CHECK(strlen(bp_refusal_str(snt.reason)) > 0);
	/* orderly close: EOF to the other end; both shut down: CLOSED on both */
	CHECK_EQ(bp_tcp_shutdown(cli, con.conn), 0);
	REQUIRE(next_ev(srv, BP_TCP_EOF, &ev));
	CHECK_EQ(bp_tcp_close(srv, acc.conn), 0);
	REQUIRE(next_ev(srv, BP_TCP_CLOSED, &ev));
	REQUIRE(next_ev(cli, BP_TCP_EOF, &ev));
	REQUIRE(next_ev(cli, BP_TCP_CLOSED, &ev));
	/* after the end the id is dead */
	CHECK_EQ(bp_tcp_send(cli, con.conn, b, 4, 6), 0);
	REQUIRE(next_ev(cli, BP_TCP_SENT, &snt));
	CHECK_EQ(snt.err, -BP_EBADSOCK);
	/* abort: RESET on both ends */
	CHECK_EQ(bp_tcp_connect(cli, 0, htonl(TENANT_ADDR), htons(7100), 43), 0);
	REQUIRE(next_ev(srv, BP_TCP_ACCEPTED, &acc));
	REQUIRE(next_ev(cli, BP_TCP_CONNECTED, &con));
	CHECK_EQ(bp_tcp_abort(cli, con.conn), 0);
	REQUIRE(next_ev(cli, BP_TCP_RESET, &ev));
	CHECK_EQ(ev.err, -ECONNABORTED);
	REQUIRE(next_ev(srv, BP_TCP_RESET, &ev));
	CHECK_EQ(ev.err, -ECONNRESET);
	bp_detach(h);
	fakegw_stop(g);
}

/* UDP datagrams and TCP events on one queue: each reader sets aside the other's, in order. */
static void
test_mixed(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct fakegw *g = fakegw_start(&cfg);
	struct bp_tcp_ev ev, acc;
	struct bp_handle *h;
	struct bp_queue *q, *cli;
	struct bp_rx rx[4];
	int l, u, i, n = 0;

	REQUIRE(g);
	h = bp_attach(sock_path, "acme", 2, NULL);
	REQUIRE(h);
	q = bp_queue(h, 0);
	cli = bp_queue(h, 1);
	l = bp_tcp_listen(q, htonl(TENANT_ADDR), htons(7200));
	u = bp_udp_bind(q, htonl(TENANT_ADDR), htons(7201));
	REQUIRE(l >= 0 && u >= 0);
	CHECK_EQ(fakegw_inject(g, htonl(TENANT_ADDR), htons(7201), htonl(0xc6120002), htons(9),
	                       "one", 3),
	         0);
	usleep(20000);
	CHECK_EQ(bp_tcp_connect(cli, 0, htonl(TENANT_ADDR), htons(7200), 1), 0);
	usleep(20000);
	CHECK_EQ(fakegw_inject(g, htonl(TENANT_ADDR), htons(7201), htonl(0xc6120002), htons(9),
	                       "two", 3),
	         0);
	/* the TCP reader first: it sets the datagram "one" aside and finds ACCEPTED */
	REQUIRE(next_ev(q, BP_TCP_ACCEPTED, &acc));
	/* both datagrams, in order, even though the first was read by bp_tcp_poll */
	for (i = 0; i < 200 && n < 2; i++) {
		int k = bp_recv_burst(q, rx + n, 2 - n);

		if (k > 0)
			n += k;
		else
			usleep(2000);
	}
	REQUIRE(n == 2);
	CHECK(!memcmp(rx[0].data, "one", 3) && !memcmp(rx[1].data, "two", 3));
	CHECK_EQ(bp_done(q, rx, 2), 2);
	CHECK_EQ(bp_tcp_poll(q, &ev, 1), 0);
	bp_detach(h);
	fakegw_stop(g);
}

struct side {
	struct bp_queue *q;
	int listener;
	long got;
	unsigned char sum;
};

/* The blocking layer: a thread accepts and reads until EOF, the main thread connects and writes
 * 1 MB (more than the 48 in-flight sends it keeps per connection). */
static void *
acceptor(void *arg)
{
	struct side *s = arg;
	struct bp_stream *st = bp_stream_new(s->q);
	char buf[5000];
	long c, n;

	if (!st)
		return NULL;
	c = bp_stream_accept(st, s->listener, NULL, NULL, 5000);
	if (c > 0) {
		while ((n = bp_stream_read(st, (uint32_t)c, buf, sizeof(buf), 5000)) > 0) {
			long i;

			for (i = 0; i < n; i++)
				s->sum = (unsigned char)(s->sum * 31 + (unsigned char)buf[i]);
			s->got += n;
		}
		if (n < 0)
			s->got = n;
		bp_stream_close(st, (uint32_t)c, 2000);
	}
	bp_stream_free(st);
	return NULL;
}

static void
test_blocking(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct fakegw *g;
	struct bp_handle *h;
	struct bp_stream *st;
	struct side s = {0};
	static char data[1 << 20];
	unsigned char sum = 0;
	pthread_t t;
	long c, i;

	cfg.dflt.rx_bufs = cfg.dflt.rx_ring = 1024; /* the fake has no flow control */
	g = fakegw_start(&cfg);
	REQUIRE(g);
	h = bp_attach(sock_path, "acme", 2, NULL);
	REQUIRE(h);
	s.q = bp_queue(h, 0);
	s.listener = bp_tcp_listen(s.q, htonl(TENANT_ADDR), htons(7300));
	REQUIRE(s.listener >= 0);
	REQUIRE(pthread_create(&t, NULL, acceptor, &s) == 0);
	st = bp_stream_new(bp_queue(h, 1));
	REQUIRE(st);
	CHECK_EQ(bp_stream_connect(st, htonl(TENANT_ADDR), htons(7399), 2000), -ECONNREFUSED);
	c = bp_stream_connect(st, htonl(TENANT_ADDR), htons(7300), 2000);
	CHECK(c > 0);
	for (i = 0; i < (long)sizeof(data); i++) {
		data[i] = (char)(i * 7 + (i >> 10));
		sum = (unsigned char)(sum * 31 + (unsigned char)data[i]);
	}
	CHECK_EQ(bp_stream_write(st, (uint32_t)c, data, sizeof(data), 5000), (long)sizeof(data));
	CHECK_EQ(bp_stream_close(st, (uint32_t)c, 5000), 0);
	pthread_join(t, NULL);
	CHECK_EQ(s.got, (long)sizeof(data));
	CHECK_EQ(s.sum, sum);
	CHECK_EQ(bp_stream_read(st, (uint32_t)c, data, 1, 0), -BP_EBADSOCK); /* closed: forgotten */
	bp_stream_free(st);
	bp_detach(h);
	fakegw_stop(g);
}

int
main(void)
{
	CHECK_RUN(test_events);
	CHECK_RUN(test_mixed);
	CHECK_RUN(test_blocking);
	return check_done();
}
