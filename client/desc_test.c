/* desc_test.c - descriptor validation: every kind of bad descriptor, and the channel's counters. */
#include <arpa/inet.h>
#include <string.h>

#include "chan_fp.h"
#include "check.h"

static const struct bp_desc_limits lim = {
        .nbufs = 64,
        .buf_size = 2048,
        .max_udp = 1472,
        .max_frame = 1514,
        .raw = true,
};

/* A good UDP send: 100 bytes at offset 64 of buffer 3, to 198.18.0.2:7 from socket 5. */
static struct bp_desc
udp(void)
{
	return (struct bp_desc){
	        .buf = 3,
	        .off = 64,
	        .len = 100,
	        .type = BP_DESC_UDP_SEND,
	        .sock = 5,
	        .addr_be = htonl(0xc6120002),
	        .port_be = htons(7),
	        .user = 42,
	};
}

/* A good raw send: a 60-byte frame in buffer 1. */
static struct bp_desc
raw(void)
{
	return (struct bp_desc){.buf = 1, .len = 60, .type = BP_DESC_RAW_SEND, .sock = 2};
}

static struct bp_desc
rx_done(uint32_t buf)
{
	return (struct bp_desc){.buf = buf, .type = BP_DESC_RX_DONE};
}

#define TX(d)   bp_desc_check(&(d), &lim, BP_RING_TX)
#define DONE(d) bp_desc_check(&(d), &lim, BP_RING_DONE)

static void
test_good(void)
{
	struct bp_desc d = udp();
	struct bp_desc_limits noraw = lim;

	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d.len = 0; /* an empty datagram is a datagram */
	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d.off = 0;
	d.len = 1472; /* exactly the MTU */
	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d = udp();
	d.buf = 63; /* last buffer */
	d.off = 2047;
	d.len = 1; /* ends exactly at the buffer's end */
	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d = raw();
	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d.len = 14; /* just an Ethernet header */
	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d.len = 1514;
	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d = rx_done(0);
	CHECK_EQ(DONE(d), BP_DESC_ERR_OK);
	d = rx_done(63);
	CHECK_EQ(DONE(d), BP_DESC_ERR_OK);
	/* raw only when the tenant may */
	noraw.raw = false;
	d = raw();
	CHECK_EQ(bp_desc_check(&d, &noraw, BP_RING_TX), BP_DESC_ERR_TYPE);
}

static void
test_type(void)
{
	uint16_t bad_tx[] = {BP_DESC_NONE,
	                     BP_DESC_RX_DONE,
	                     BP_DESC_TCP_RECV,
	                     BP_DESC_TCP_EOF,
	                     BP_DESC_UDP_RECV,
	                     BP_DESC_RAW_RECV,
	                     BP_DESC_TX_DONE,
	                     BP_DESC_TCP_SENT,
	                     8,
	                     31,
	                     0xffff};
	uint16_t bad_done[] = {
	        BP_DESC_NONE, BP_DESC_UDP_SEND, BP_DESC_UDP_RECV, BP_DESC_TX_DONE, 33, 0xffff};
	struct bp_desc d;
	unsigned i;

	for (i = 0; i < sizeof(bad_tx) / sizeof(bad_tx[0]); i++) {
		d = udp();
		d.type = bad_tx[i];
		CHECK_EQ(TX(d), BP_DESC_ERR_TYPE);
	}
	for (i = 0; i < sizeof(bad_done) / sizeof(bad_done[0]); i++) {
		d = rx_done(1);
		d.type = bad_done[i];
		CHECK_EQ(DONE(d), BP_DESC_ERR_TYPE);
	}
	/* the gateway's own rings are never checked as app rings */
	d = udp();
	CHECK_EQ(bp_desc_check(&d, &lim, BP_RING_RX), BP_DESC_ERR_TYPE);
	CHECK_EQ(bp_desc_check(&d, &lim, BP_RING_COMP), BP_DESC_ERR_TYPE);
}

static void
test_flags_reserved(void)
{
	struct bp_desc d = udp();

	d.flags = BP_DESC_F_MORE;
	CHECK_EQ(TX(d), BP_DESC_ERR_FLAGS);
	d.flags = 0x8000;
	CHECK_EQ(TX(d), BP_DESC_ERR_FLAGS);
	d = rx_done(1);
	d.flags = 1;
	CHECK_EQ(DONE(d), BP_DESC_ERR_FLAGS);

	d = udp();
	d.status = 1; /* only the gateway writes status */
	CHECK_EQ(TX(d), BP_DESC_ERR_RESERVED);
	d = raw();
	d.addr_be = htonl(0xc6120002); /* raw frames carry their own addresses */
	CHECK_EQ(TX(d), BP_DESC_ERR_RESERVED);
	d = raw();
	d.port_be = htons(53);
	CHECK_EQ(TX(d), BP_DESC_ERR_RESERVED);

	/* RX_DONE: everything but buf and type zero, one field at a time */
	d = rx_done(1);
	d.off = 1;
	CHECK_EQ(DONE(d), BP_DESC_ERR_RESERVED);
	d = rx_done(1);
	d.len = 1;
	CHECK_EQ(DONE(d), BP_DESC_ERR_RESERVED);
	d = rx_done(1);
	d.sock = 1;
	CHECK_EQ(DONE(d), BP_DESC_ERR_RESERVED);
	d = rx_done(1);
	d.addr_be = 1;
	CHECK_EQ(DONE(d), BP_DESC_ERR_RESERVED);
	d = rx_done(1);
	d.port_be = 1;
	CHECK_EQ(DONE(d), BP_DESC_ERR_RESERVED);
	d = rx_done(1);
	d.status = 1;
	CHECK_EQ(DONE(d), BP_DESC_ERR_RESERVED);
	d = rx_done(1);
	d.user = 1;
	CHECK_EQ(DONE(d), BP_DESC_ERR_RESERVED);
}

static void
test_bounds(void)
{
	struct bp_desc d;

	d = udp();
	d.buf = 64; /* one past the last */
	CHECK_EQ(TX(d), BP_DESC_ERR_BUF);
	d.buf = BP_BUF_NONE;
	CHECK_EQ(TX(d), BP_DESC_ERR_BUF);
	d = rx_done(64);
	CHECK_EQ(DONE(d), BP_DESC_ERR_BUF);
	d = rx_done(UINT32_MAX);
	CHECK_EQ(DONE(d), BP_DESC_ERR_BUF);

	d = udp();
	d.off = 2048; /* at the end */
	d.len = 0;
	CHECK_EQ(TX(d), BP_DESC_ERR_OFFSET);
	d.off = 0xffff;
	CHECK_EQ(TX(d), BP_DESC_ERR_OFFSET);

	d = udp();
	d.off = 2000;
	d.len = 49; /* one byte past the end */
	CHECK_EQ(TX(d), BP_DESC_ERR_LENGTH);
	d.off = 0;
	d.len = 2049;
	CHECK_EQ(TX(d), BP_DESC_ERR_LENGTH);
	d.off = 2047;
	d.len = 0xffff; /* 16-bit sum would wrap: checked in 32 bits */
	CHECK_EQ(TX(d), BP_DESC_ERR_LENGTH);
	d = raw();
	d.off = 1500;
	d.len = 600;
	CHECK_EQ(TX(d), BP_DESC_ERR_LENGTH);

	d = udp();
	d.off = 0;
	d.len = 1473; /* fits the buffer, not the MTU */
	CHECK_EQ(TX(d), BP_DESC_ERR_TOO_BIG);
	d = raw();
	d.len = 1515;
	CHECK_EQ(TX(d), BP_DESC_ERR_TOO_BIG);
	d.len = 13;
	CHECK_EQ(TX(d), BP_DESC_ERR_TOO_SHORT);
	d.len = 0;
	CHECK_EQ(TX(d), BP_DESC_ERR_TOO_SHORT);
}

static void
test_sock_addr_port(void)
{
	uint32_t bad_addr[] = {0,          0x7f000001, 0x7fffffff, 0xe0000001,
	                       0xefffffff, 0xf0000001, 0xffffffff, 0x00000001};
	struct bp_desc d;
	unsigned i;

	d = udp();
	d.sock = BP_MAX_SOCKS;
	CHECK_EQ(TX(d), BP_DESC_ERR_SOCK);
	d = raw();
	d.sock = UINT32_MAX;
	CHECK_EQ(TX(d), BP_DESC_ERR_SOCK);
	for (i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
		d = udp();
		d.addr_be = htonl(bad_addr[i]);
		CHECK_EQ(TX(d), BP_DESC_ERR_ADDR);
	}
	d = udp();
	d.addr_be = htonl(0xdfffffff); /* last unicast */
	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d.port_be = 0;
	CHECK_EQ(TX(d), BP_DESC_ERR_PORT);
}

static void
test_names(void)
{
	unsigned i, j;

	for (i = 0; i < BP_DESC_ERR__MAX; i++) {
		CHECK(bp_desc_err_names[i] && bp_desc_err_names[i][0]);
		CHECK(bp_desc_err_help[i] && bp_desc_err_help[i][0]);
		for (j = 0; j < i; j++)
			CHECK(strcmp(bp_desc_err_names[i], bp_desc_err_names[j]));
	}
	for (i = 0; i < BP_CHAN_CNT__MAX; i++)
		CHECK(bp_chan_counter_names[i] && bp_chan_counter_names[i][0]);
}

static const struct bp_geom geom = {
        .rx_ring = 16,
        .rx_bufs = 8,
        .rx_buf_size = 2048,
        .tx_ring = 16,
        .tx_bufs = 8,
        .tx_buf_size = 2048,
};
static const struct bp_chan_limits clim = {.max_udp_payload = 1472, .max_frame = 1514};

/* The app's side of the channel's rings, driven by hand. */
struct app {
	struct bp_ring rx, done, tx, comp;
};

static void
app_attach(struct app *a, struct bp_chan *c)
{
	uint8_t *base = c->region;

	bp_ring_attach_cons(&a->rx, (void *)(base + c->lay.ring_off[BP_RING_RX]), 16);
	bp_ring_attach_prod(&a->done, (void *)(base + c->lay.ring_off[BP_RING_DONE]), 16);
	bp_ring_attach_prod(&a->tx, (void *)(base + c->lay.ring_off[BP_RING_TX]), 16);
	bp_ring_attach_cons(&a->comp, (void *)(base + c->lay.ring_off[BP_RING_COMP]), 16);
}

/* DONE: only buffers the app holds come back; double done and strangers are counted. */
static void
test_chan_done(void)
{
	struct bp_desc d[4], r;
	struct bp_chan c;
	struct app a;
	uint32_t idx;

	REQUIRE(bp_chan_create(&c, &geom, &clim, 0, 1) == 0);
	app_attach(&a, &c);
	CHECK_EQ(bp_chan_rx_room(&c), 8);
	idx = bp_chan_rx_take(&c);
	CHECK_EQ(idx, 0);
	d[0] = (struct bp_desc){.buf = idx, .len = 10, .type = BP_DESC_UDP_RECV};
	CHECK_EQ(bp_chan_rx_post(&c, d, 1), 1);
	CHECK_EQ(bp_chan_rx_room(&c), 7);
	CHECK_EQ(bp_ring_dequeue_burst(&a.rx, &r, 1), 1);

	d[0] = rx_done(5); /* never delivered */
	d[1] = rx_done(idx);
	d[2] = rx_done(idx); /* twice */
	d[3] = rx_done(99);  /* out of range */
	CHECK_EQ(bp_ring_enqueue_burst(&a.done, d, 4), 4);
	CHECK_EQ(bp_chan_done_reap(&c, 64), 4);
	CHECK_EQ(c.cnt[BP_CHAN_CNT_RX_DONE], 1);
	CHECK_EQ(c.err[BP_DESC_ERR_NOT_OWNED], 2);
	CHECK_EQ(c.err[BP_DESC_ERR_BUF], 1);
	CHECK_EQ(c.rxpool.nfree, 8); /* no duplicate made it onto the free stack */
	CHECK_EQ(bp_chan_drops(&c), 3);
	bp_chan_destroy(&c);
}

/* TX: valid ones come out marked in flight; bad ones are counted and, if returnable, completed. */
static void
test_chan_tx(void)
{
	struct bp_desc d[8], out[8];
	struct bp_chan c;
	struct app a;
	unsigned n;

	REQUIRE(bp_chan_create(&c, &geom, &clim, 0, 1) == 0);
	app_attach(&a, &c);
	d[0] = udp();
	d[0].buf = 0;
	d[1] = udp();
	d[1].buf = 0; /* same buffer again before its completion */
	d[2] = udp();
	d[2].buf = 1;
	d[2].addr_be = htonl(0xe0000001); /* multicast: refused, buffer returned with the reason */
	d[3] = udp();
	d[3].buf = 8; /* no such buffer: dropped, nothing to return */
	d[4] = udp();
	d[4].buf = 2;
	d[4].type = 8; /* unknown type: dropped */
	CHECK_EQ(bp_ring_enqueue_burst(&a.tx, d, 5), 5);
	n = bp_chan_tx_fetch(&c, out, 8);
	CHECK_EQ(n, 1);
	CHECK_EQ(out[0].buf, 0);
	CHECK_EQ(out[0].user, 42);
	CHECK_EQ(c.err[BP_DESC_ERR_IN_FLIGHT], 1);
	CHECK_EQ(c.err[BP_DESC_ERR_ADDR], 1);
	CHECK_EQ(c.err[BP_DESC_ERR_BUF], 1);
	CHECK_EQ(c.err[BP_DESC_ERR_TYPE], 1);
	/* the refused one is already back */
	CHECK_EQ(bp_ring_dequeue_burst(&a.comp, out + 1, 8), 1);
	CHECK_EQ(out[1].type, BP_DESC_TX_DONE);
	CHECK_EQ(out[1].buf, 1);
	CHECK_EQ(out[1].status, BP_DESC_ERR_ADDR);
	CHECK_EQ(out[1].user, 42);
	/* the gateway sends it, then completes it once; a second completion is ignored */
	out[0].status = 0;
	CHECK_EQ(bp_chan_tx_complete(&c, out, 1), 1);
	CHECK_EQ(bp_chan_tx_complete(&c, out, 1), 0);
	CHECK_EQ(bp_ring_dequeue_burst(&a.comp, out + 1, 8), 1);
	CHECK_EQ(out[1].buf, 0);
	CHECK_EQ(out[1].status, 0);
	/* now buffer 0 may be posted again */
	CHECK_EQ(bp_ring_enqueue_burst(&a.tx, d, 1), 1);
	CHECK_EQ(bp_chan_tx_fetch(&c, out, 8), 1);

	/* the app moves the TX producer index far forward: nothing fetched, counted */
	atomic_store(&a.tx.shm->prod, a.tx.head + 1000);
	CHECK_EQ(bp_chan_tx_fetch(&c, out, 8), 0);
	CHECK(c.err[BP_DESC_ERR_RING] >= 1);
	bp_chan_destroy(&c);
}

/* TCP commands (ABI 1.1): SEND is a buffer view on a connection, the rest carry no buffer. */
static void
test_tcp(void)
{
	struct bp_desc snd = {.buf = 3,
	                      .off = 10,
	                      .len = 2000,
	                      .type = BP_DESC_TCP_SEND,
	                      .sock = 0x10002,
	                      .user = 7};
	struct bp_desc con = {.buf = BP_BUF_NONE,
	                      .type = BP_DESC_TCP_CONNECT,
	                      .addr_be = htonl(0xc6120002),
	                      .port_be = htons(80),
	                      .user = 9};
	struct bp_desc cmd = {.buf = BP_BUF_NONE, .type = BP_DESC_TCP_SHUTDOWN, .sock = 0x10002};
	struct bp_desc d;

	CHECK_EQ(TX(snd), BP_DESC_ERR_OK); /* larger than the MTU: the engine cuts segments */
	d = snd;
	d.len = 0;
	CHECK_EQ(TX(d), BP_DESC_ERR_TOO_SHORT);
	d = snd;
	d.off = 100;
	d.len = 2000; /* past the buffer's end */
	CHECK_EQ(TX(d), BP_DESC_ERR_LENGTH);
	d = snd;
	d.buf = 64;
	CHECK_EQ(TX(d), BP_DESC_ERR_BUF);
	d = snd;
	d.sock = 0; /* connection ids are never 0 */
	CHECK_EQ(TX(d), BP_DESC_ERR_CONN);
	d = snd;
	d.addr_be = 1;
	CHECK_EQ(TX(d), BP_DESC_ERR_RESERVED);
	CHECK_EQ(TX(con), BP_DESC_ERR_OK);
	d = con;
	d.sock = htonl(0xc612000a); /* a local address */
	CHECK_EQ(TX(d), BP_DESC_ERR_OK);
	d = con;
	d.addr_be = htonl(0x7f000001); /* loopback */
	CHECK_EQ(TX(d), BP_DESC_ERR_ADDR);
	d = con;
	d.port_be = 0;
	CHECK_EQ(TX(d), BP_DESC_ERR_PORT);
	d = con;
	d.buf = 1; /* commands carry no buffer */
	CHECK_EQ(TX(d), BP_DESC_ERR_BUF);
	d = con;
	d.len = 5;
	CHECK_EQ(TX(d), BP_DESC_ERR_RESERVED);
	CHECK_EQ(TX(cmd), BP_DESC_ERR_OK);
	cmd.type = BP_DESC_TCP_CLOSE;
	CHECK_EQ(TX(cmd), BP_DESC_ERR_OK);
	cmd.type = BP_DESC_TCP_ABORT;
	CHECK_EQ(TX(cmd), BP_DESC_ERR_OK);
	d = cmd;
	d.user = 1;
	CHECK_EQ(TX(d), BP_DESC_ERR_RESERVED);
	d = cmd;
	d.sock = 0;
	CHECK_EQ(TX(d), BP_DESC_ERR_CONN);
	d = cmd;
	d.flags = 1;
	CHECK_EQ(TX(d), BP_DESC_ERR_FLAGS);
}

int
main(void)
{
	CHECK_RUN(test_tcp);
	CHECK_RUN(test_good);
	CHECK_RUN(test_type);
	CHECK_RUN(test_flags_reserved);
	CHECK_RUN(test_bounds);
	CHECK_RUN(test_sock_addr_port);
	CHECK_RUN(test_names);
	CHECK_RUN(test_chan_done);
	CHECK_RUN(test_chan_tx);
	return check_done();
}
