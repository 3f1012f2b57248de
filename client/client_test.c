/* client_test.c - libbypass end to end against the in-test gateway: attach, send, receive, wait. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bypass/bypass.h"
#include "ctl.h"
#include "fakegw.h"
#include "check.h"

#define TENANT_ADDR 0xc612000a /* 198.18.0.10, the benchmark range */

static char sock_path[64];
static unsigned path_seq;

static uint32_t
taddr(void)
{
	return htonl(TENANT_ADDR);
}

static struct fakegw_cfg
gw_cfg(void)
{
	snprintf(sock_path, sizeof(sock_path), "@bp_client_test.%d.%u", (int)getpid(), path_seq++);
	return (struct fakegw_cfg){
	        .path = sock_path,
	        .tenant = "acme",
	        .allow_uid = (uint32_t)getuid(),
	        .max_queues = 4,
	        .addr_be = taddr(),
	        .port_lo = 7000,
	        .port_hi = 7999,
	        .dflt = {.rx_ring = 256,
	                 .rx_bufs = 256,
	                 .rx_buf_size = 2048,
	                 .tx_ring = 256,
	                 .tx_bufs = 256,
	                 .tx_buf_size = 2048},
	};
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct bp_handle *
attach(unsigned nq, uint32_t spin_us)
{
	struct bp_attach_opts o;
	struct bp_handle *h;

	bp_attach_opts_init(&o);
	o.spin_us = spin_us;
	o.app_name = "client_test";
	h = bp_attach(sock_path, "acme", nq, &o);
	if (!h)
		fprintf(stderr, "attach: %s (%s)\n", bp_strerror(errno), bp_errmsg());
	return h;
}

/* Wait (bounded) for a fake gateway counter to reach a value. */
static bool
wait_attached(struct fakegw *g, unsigned n)
{
	struct fakegw_stats st;
	int i;

	for (i = 0; i < 200; i++) {
		fakegw_stats(g, &st);
		if (st.attached == n)
			return true;
		usleep(5000);
	}
	return false;
}

static void
test_refusals(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct bp_attach_opts o;
	struct fakegw *g;

	/* nobody listening */
	CHECK(!bp_attach(sock_path, "acme", 1, NULL));
	CHECK(errno == ECONNREFUSED || errno == ENOENT);
	CHECK(!bp_attach("/nonexistent/bypassd.sock", "acme", 1, NULL));
	CHECK_EQ(errno, ENOENT);

	cfg.allow_uid = (uint32_t)getuid() + 1;
	g = fakegw_start(&cfg);
	REQUIRE(g);
	CHECK(!bp_attach(sock_path, "acme", 1, NULL));
	CHECK_EQ(errno, BP_EDENIED);
	CHECK(strstr(bp_errmsg(), "does not admit uid"));
	CHECK(!strcmp(bp_strerror(-BP_EDENIED),
	              "permission denied: the tenant does not admit this uid/gid"));
	fakegw_stop(g);

	cfg = gw_cfg();
	g = fakegw_start(&cfg);
	REQUIRE(g);
	CHECK(!bp_attach(sock_path, "globex", 1, NULL));
	CHECK_EQ(errno, BP_ETENANT);
	CHECK(strstr(bp_errmsg(), "globex"));
	CHECK(!bp_attach(sock_path, "acme", 5, NULL));
	CHECK_EQ(errno, BP_EQUOTA);
	CHECK(!bp_attach(sock_path, "acme", 0, NULL));
	CHECK_EQ(errno, EINVAL);
	CHECK(!bp_attach(sock_path, "ac me", 1, NULL));
	CHECK_EQ(errno, EINVAL);
	CHECK(!bp_attach(sock_path, "", 1, NULL));
	CHECK_EQ(errno, EINVAL);
	/* refused locally: not a power of two */
	bp_attach_opts_init(&o);
	o.rx_ring = 100;
	CHECK(!bp_attach(sock_path, "acme", 1, &o));
	CHECK_EQ(errno, BP_ESIZES);
	/* refused by the gateway: 512 buffers do not fit its default 256-slot ring */
	bp_attach_opts_init(&o);
	o.rx_bufs = 512;
	CHECK(!bp_attach(sock_path, "acme", 1, &o));
	CHECK_EQ(errno, BP_ESIZES);
	CHECK_EQ(wait_attached(g, 0), true);
	fakegw_stop(g);
}

/* Hostile bytes at the gateway's parser over the real socket: refused, gateway still serves. */
static void
test_hostile_hello(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct bp_ctl_hello m;
	union bp_ctl_msg rep;
	struct bp_handle *h;
	struct fakegw *g;
	char buf[256];
	ssize_t r;
	int fd;

	g = fakegw_start(&cfg);
	REQUIRE(g);

	/* an app of ABI 2 */
	fd = bp_sock_connect(sock_path);
	REQUIRE(fd >= 0);
	bp_ctl_init(&m, BP_CTL_HELLO, sizeof(m), 9);
	m.abi_major = BP_ABI_MAJOR + 1;
	m.nqueues = 1;
	strcpy(m.tenant, "acme");
	CHECK_EQ(bp_sock_send_fds(fd, &m, sizeof(m), NULL, 0), 0);
	r = bp_sock_recv_fds(fd, buf, sizeof(buf), NULL, NULL, 0);
	REQUIRE(r > 0);
	CHECK_EQ(bp_ctl_decode(buf, (size_t)r, BP_CTL_FROM_GW, &rep), BP_CTL_ERR_OK);
	CHECK_EQ(rep.hdr.type, BP_CTL_ERROR);
	CHECK_EQ(rep.hdr.seq, 9);
	CHECK_EQ(rep.error.code, BP_EABI);
	CHECK(strstr(rep.error.msg, "ABI 2"));
	CHECK_EQ(bp_sock_recv_fds(fd, buf, sizeof(buf), NULL, NULL, 0), 0); /* then closed */
	close(fd);

	/* garbage, and fds the gateway never asked for */
	fd = bp_sock_connect(sock_path);
	REQUIRE(fd >= 0);
	memset(buf, 0xee, 40);
	{
		int fds[2] = {fd, fd};

		CHECK_EQ(bp_sock_send_fds(fd, buf, 40, fds, 2), 0);
	}
	r = bp_sock_recv_fds(fd, buf, sizeof(buf), NULL, NULL, 0);
	CHECK(r == 0 || r == -ECONNRESET); /* dropped without a word */
	close(fd);
	fd = bp_sock_connect(sock_path);
	REQUIRE(fd >= 0);
	memset(buf, 0xee, 40);
	CHECK_EQ(bp_sock_send_fds(fd, buf, 7, NULL, 0), 0);
	r = bp_sock_recv_fds(fd, buf, sizeof(buf), NULL, NULL, 0);
	REQUIRE(r > 0);
	CHECK_EQ(bp_ctl_decode(buf, (size_t)r, BP_CTL_FROM_GW, &rep), BP_CTL_ERR_OK);
	CHECK_EQ(rep.error.code, BP_EPROTO);
	close(fd);

	h = attach(1, 0);
	CHECK(h);
	bp_detach(h);
	fakegw_stop(g);
}

static void
test_attach_bind(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct bp_handle *h, *h2;
	struct bp_queue *q;
	struct fakegw *g;
	int s, s2;

	g = fakegw_start(&cfg);
	REQUIRE(g);
	h = attach(2, 0);
	REQUIRE(h);
	CHECK_EQ(bp_nqueues(h), 2);
	CHECK(bp_queue(h, 1) != NULL);
	CHECK(bp_queue(h, 2) == NULL);
	q = bp_queue(h, 0);
	CHECK_EQ(bp_buf_size(q), 2048);
	CHECK_EQ(bp_max_udp_payload(q), 1472);
	CHECK(bp_fd(q) >= 0);
	CHECK(bp_fd(q) != bp_fd(bp_queue(h, 1)));
	CHECK_EQ(wait_attached(g, 1), true);

	s = bp_udp_bind(q, taddr(), htons(7000));
	CHECK(s >= 0);
	s2 = bp_udp_bind(bp_queue(h, 1), taddr(), htons(7001));
	CHECK(s2 >= 0 && s2 != s);
	CHECK_EQ(bp_udp_bind(q, taddr(), htons(7000)), -BP_EADDRINUSE);
	CHECK_EQ(bp_udp_bind(q, htonl(TENANT_ADDR + 1), htons(7002)), -BP_EADDRNOTAVAIL);
	CHECK_EQ(bp_udp_bind(q, taddr(), htons(80)), -BP_EPORT);
	CHECK(strstr(bp_errmsg(), "port"));
	CHECK_EQ(bp_udp_bind(q, taddr(), 0), -EINVAL);
	CHECK_EQ(bp_udp_bind(q, htonl(0xe0000001), htons(7003)), -EINVAL);
	CHECK_EQ(bp_raw_bind(q, taddr()), -BP_ENOTSUP);

	/* a second app of the tenant cannot take the port either */
	h2 = attach(1, 0);
	REQUIRE(h2);
	CHECK_EQ(bp_udp_bind(bp_queue(h2, 0), taddr(), htons(7000)), -BP_EADDRINUSE);
	bp_detach(h2);

	CHECK_EQ(bp_unbind(q, s), 0);
	CHECK_EQ(bp_unbind(q, s), -BP_EBADSOCK);
	CHECK_EQ(bp_unbind(q, 5000), -BP_EBADSOCK);
	s = bp_udp_bind(q, taddr(), htons(7000)); /* free again */
	CHECK(s >= 0);

	bp_detach(h);
	CHECK_EQ(wait_attached(g, 0), true);
	bp_detach(NULL);
	fakegw_stop(g);
}

/* ---- data path: queue 0 sends to queue 1 through the gateway ---- */

#define N_DGRAMS 20000u
#define WINDOW   128u

struct flow {
	struct bp_queue *tx, *rx;
	int stx, srx;
	atomic_uint received;
	unsigned errors;
	unsigned sleeps;
};

static uint16_t
dgram_len(unsigned seq)
{
	return (uint16_t)(1 + (seq * 97u) % 1472u); /* every size 1..1472 comes up */
}

static void
dgram_fill(uint8_t *p, unsigned seq, uint16_t len)
{
	uint16_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 31u + i);
	if (len >= 4)
		memcpy(p, &seq, 4);
}

static void *
receiver(void *arg)
{
	struct flow *f = arg;
	struct bp_rx rx[32];
	uint8_t want[2048];
	unsigned next = 0, i;
	int n;

	while (next < N_DGRAMS) {
		n = bp_recv_burst(f->rx, rx, 32);
		if (n < 0) {
			f->errors++;
			break;
		}
		if (n == 0) {
			if (bp_wait(f->rx, 5000) <= 0) {
				f->errors++;
				break;
			}
			continue;
		}
		for (i = 0; i < (unsigned)n; i++, next++) {
			dgram_fill(want, next, dgram_len(next));
			if (rx[i].len != dgram_len(next) || memcmp(rx[i].data, want, rx[i].len) ||
			    rx[i].sock != (uint32_t)f->srx || rx[i].kind != BP_RX_UDP ||
			    rx[i].addr != taddr() || rx[i].port != htons(7000))
				f->errors++;
		}
		if (bp_done(f->rx, rx, (unsigned)n) != n)
			f->errors++;
		atomic_store(&f->received, next);
	}
	return NULL;
}

static void
test_datapath(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct bp_queue_stats st;
	struct fakegw_stats gs;
	struct flow f = {0};
	struct bp_handle *h;
	struct bp_tx tx[32];
	struct fakegw *g;
	pthread_t t;
	unsigned seq = 0, k, i;
	void *bufs[32];
	int r;

	g = fakegw_start(&cfg);
	REQUIRE(g);
	h = attach(2, 20);
	REQUIRE(h);
	f.tx = bp_queue(h, 0);
	f.rx = bp_queue(h, 1);
	f.stx = bp_udp_bind(f.tx, taddr(), htons(7000));
	f.srx = bp_udp_bind(f.rx, taddr(), htons(7001));
	REQUIRE(f.stx >= 0 && f.srx >= 0);
	REQUIRE(pthread_create(&t, NULL, receiver, &f) == 0);

	while (seq < N_DGRAMS) {
		k = N_DGRAMS - seq < 32 ? N_DGRAMS - seq : 32;
		/* stay within the receiver's buffers: the fake gateway drops like a real one */
		if (seq - atomic_load(&f.received) + k > WINDOW) {
			usleep(50);
			continue;
		}
		k = bp_buf_alloc_burst(f.tx, bufs, k);
		if (!k) {
			r = bp_wait(f.tx, 5000); /* sleeps until completions come back */
			CHECK(r == 1);
			if (r != 1)
				break;
			continue;
		}
		for (i = 0; i < k; i++) {
			uint16_t len = dgram_len(seq + i);

			dgram_fill(bufs[i], seq + i, len);
			tx[i] = (struct bp_tx){.data = bufs[i],
			                       .len = len,
			                       .sock = (uint32_t)f.stx,
			                       .addr = taddr(),
			                       .port = htons(7001)};
		}
		r = bp_send_burst(f.tx, tx, k);
		CHECK_EQ(r, (int)k);
		if (r != (int)k)
			break;
		seq += k;
	}
	pthread_join(t, NULL);
	CHECK_EQ(f.errors, 0);
	CHECK_EQ(atomic_load(&f.received), N_DGRAMS);

	/* every TX buffer comes back */
	for (i = 0; i < 100; i++) {
		bp_wait(f.tx, 10);
		bp_queue_stats(f.tx, &st);
		if (st.tx_done == N_DGRAMS)
			break;
	}
	CHECK_EQ(st.tx, N_DGRAMS);
	CHECK_EQ(st.tx_done, N_DGRAMS);
	CHECK_EQ(st.tx_refused, 0);
	CHECK_EQ(bp_buf_alloc_burst(f.tx, bufs, 32), 32);
	bp_queue_stats(f.rx, &st);
	CHECK_EQ(st.rx, N_DGRAMS);
	CHECK_EQ(st.rx_bad, 0);
	fakegw_stats(g, &gs);
	CHECK_EQ(gs.delivered, N_DGRAMS);
	CHECK_EQ(gs.dropped, 0);
	CHECK_EQ(gs.desc_errs, 0);
	bp_detach(h);
	fakegw_stop(g);
}

static void
test_send_errors(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct bp_queue_stats st;
	struct bp_handle *h;
	struct bp_queue *q, *q1;
	struct bp_tx tx;
	struct bp_rx rx[2];
	struct fakegw *g;
	uint8_t local[16];
	void *b, *b2;
	int s, s1, i, n;

	g = fakegw_start(&cfg);
	REQUIRE(g);
	h = attach(2, 0);
	REQUIRE(h);
	q = bp_queue(h, 0);
	q1 = bp_queue(h, 1);
	s = bp_udp_bind(q, taddr(), htons(7000));
	s1 = bp_udp_bind(q1, taddr(), htons(7001));
	REQUIRE(s >= 0 && s1 >= 0);
	b = bp_buf_alloc(q);
	REQUIRE(b);

	tx = (struct bp_tx){
	        .data = local, .len = 4, .sock = (uint32_t)s, .addr = taddr(), .port = htons(7001)};
	CHECK_EQ(bp_send_burst(q, &tx, 1), -EINVAL); /* not a TX buffer */
	tx.data = (uint8_t *)b + 2040;
	tx.len = 9; /* runs past the buffer */
	CHECK_EQ(bp_send_burst(q, &tx, 1), -EINVAL);
	tx.data = b;
	tx.len = 1473;
	CHECK_EQ(bp_send_burst(q, &tx, 1), -EMSGSIZE);
	tx.len = 4;
	tx.sock = (uint32_t)s1; /* bound, but on the other queue */
	CHECK_EQ(bp_send_burst(q, &tx, 1), -BP_EBADSOCK);
	tx.sock = 999;
	CHECK_EQ(bp_send_burst(q, &tx, 1), -BP_EBADSOCK);
	CHECK_EQ(bp_send_burst(q, &tx, 0), 0);

	/* the gateway refuses a multicast destination and hands the buffer back with the reason */
	tx.sock = (uint32_t)s;
	tx.addr = htonl(0xe0000001);
	CHECK_EQ(bp_send_burst(q, &tx, 1), 1);
	CHECK_EQ(bp_send_burst(q, &tx, 1), -EINVAL); /* already posted */
	for (i = 0; i < 200; i++) {
		bp_queue_stats(q, &st);
		if (st.tx_refused)
			break;
		bp_wait(q, 5);
		b2 = bp_buf_alloc(q); /* reaps completions */
		if (b2)
			bp_buf_free(q, b2);
	}
	CHECK_EQ(st.tx_refused, 1);
	CHECK(!strcmp(bp_refusal_str(st.tx_last_refusal), "desc_bad_addr"));
	CHECK(!strcmp(bp_refusal_str(9999), "unknown"));

	/* buffer ownership on the app side */
	b = bp_buf_alloc(q);
	REQUIRE(b);
	CHECK_EQ(bp_buf_free(q, b), 0);
	CHECK_EQ(bp_buf_free(q, b), -EINVAL);
	CHECK_EQ(bp_buf_free(q, local), -EINVAL);

	/* done only what was received, once */
	b = bp_buf_alloc(q);
	REQUIRE(b);
	memcpy(b, "ping", 4);
	tx = (struct bp_tx){
	        .data = b, .len = 4, .sock = (uint32_t)s, .addr = taddr(), .port = htons(7001)};
	CHECK_EQ(bp_send_burst(q, &tx, 1), 1);
	CHECK_EQ(bp_wait(q1, 2000), 1);
	n = bp_recv_burst(q1, rx, 2);
	REQUIRE(n == 1);
	CHECK_EQ(rx[0].len, 4);
	CHECK(!memcmp(rx[0].data, "ping", 4));
	rx[1] = rx[0];
	rx[1].data = local;
	CHECK_EQ(bp_done(q1, &rx[1], 1), -EINVAL);
	CHECK_EQ(bp_done(q1, rx, 2), 1);       /* stops at the stranger */
	CHECK_EQ(bp_done(q1, rx, 1), -EINVAL); /* twice */
	CHECK_EQ(bp_done(q1, rx, 0), 0);

	bp_detach(h);
	fakegw_stop(g);
}

/* Sleep, doorbell, wake: bp_wait and the bp_arm/bp_fd pair. */
struct waiter {
	struct bp_queue *q;
	int timeout_ms;
	int ret;
	uint64_t returned_ms;
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->ret = bp_wait(w->q, w->timeout_ms);
	w->returned_ms = now_ms();
	return NULL;
}

static void
test_wait_doorbell(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct waiter w = {.timeout_ms = 3000}; /* fails, not hangs, without a doorbell */
	struct bp_queue_stats st;
	struct fakegw_stats gs;
	struct bp_handle *h;
	struct bp_rx rx[4];
	struct fakegw *g;
	struct pollfd p;
	uint64_t t0;
	pthread_t t;
	int s;

	g = fakegw_start(&cfg);
	REQUIRE(g);
	h = attach(1, 0); /* no spinning: straight to sleep */
	REQUIRE(h);
	w.q = bp_queue(h, 0);
	s = bp_udp_bind(w.q, taddr(), htons(7100));
	REQUIRE(s >= 0);

	/* nothing comes: times out, about on time */
	t0 = now_ms();
	CHECK_EQ(bp_wait(w.q, 60), 0);
	CHECK(now_ms() - t0 >= 55 && now_ms() - t0 < 1000);
	CHECK_EQ(bp_wait(w.q, 0), 0);

	/* asleep when the datagram arrives: the doorbell wakes it */
	REQUIRE(pthread_create(&t, NULL, waiter_main, &w) == 0);
	usleep(100000);
	t0 = now_ms();
	CHECK_EQ(fakegw_inject(g, taddr(), htons(7100), htonl(0xc6120001), htons(5555), "hi", 2),
	         0);
	pthread_join(t, NULL);
	CHECK_EQ(w.ret, 1);
	CHECK(w.returned_ms - t0 < 500);
	bp_queue_stats(w.q, &st);
	CHECK(st.sleeps >= 1);
	fakegw_stats(g, &gs);
	CHECK(gs.doorbells >= 1);
	CHECK_EQ(bp_recv_burst(w.q, rx, 4), 1);
	CHECK_EQ(rx[0].addr, htonl(0xc6120001));
	CHECK_EQ(rx[0].port, htons(5555));
	CHECK(!memcmp(rx[0].data, "hi", 2));
	CHECK_EQ(bp_done(w.q, rx, 1), 1);

	/* your own poll loop: arm, sleep on bp_fd, receive */
	CHECK_EQ(bp_arm(w.q), 0);
	p = (struct pollfd){.fd = bp_fd(w.q), .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 0), 0);
	CHECK_EQ(fakegw_inject(g, taddr(), htons(7100), htonl(0xc6120001), htons(5555), "yo", 2),
	         0);
	CHECK_EQ(poll(&p, 1, 2000), 1);
	CHECK(p.revents & POLLIN);
	CHECK_EQ(bp_recv_burst(w.q, rx, 4), 1);
	CHECK_EQ(bp_done(w.q, rx, 1), 1);
	/* work pending: arm says do not sleep */
	CHECK_EQ(fakegw_inject(g, taddr(), htons(7100), htonl(0xc6120001), htons(5555), "zz", 2),
	         0);
	usleep(50000);
	CHECK_EQ(bp_arm(w.q), 1);
	CHECK_EQ(bp_recv_burst(w.q, rx, 4), 1);
	CHECK_EQ(bp_done(w.q, rx, 1), 1);

	bp_detach(h);
	fakegw_stop(g);
}

/* The app's view of received data is read-only: writing it faults (in a child). */
static void
test_rx_view_readonly(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct bp_handle *h;
	struct bp_queue *q;
	struct bp_rx rx;
	struct fakegw *g;
	int s, status;
	pid_t pid;

	g = fakegw_start(&cfg);
	REQUIRE(g);
	h = attach(1, 0);
	REQUIRE(h);
	q = bp_queue(h, 0);
	s = bp_udp_bind(q, taddr(), htons(7200));
	REQUIRE(s >= 0);
	CHECK_EQ(fakegw_inject(g, taddr(), htons(7200), htonl(0xc6120001), htons(1), "ro", 2), 0);
	REQUIRE(bp_wait(q, 2000) == 1);
	REQUIRE(bp_recv_burst(q, &rx, 1) == 1);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		*(volatile char *)(uintptr_t)rx.data = 'X'; /* must fault */
		_exit(3);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	CHECK(!memcmp(rx.data, "ro", 2));
	bp_done(q, &rx, 1);
	bp_detach(h);
	fakegw_stop(g);
}

/* The gateway stops (orderly) while the app sleeps: BP_ESHUTDOWN within 1 s, then re-attach. */
static void
test_gateway_stop(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct waiter w = {.timeout_ms = 10000}; /* must end long before */
	struct bp_handle *h;
	struct bp_rx rx;
	struct bp_tx tx;
	struct fakegw *g;
	uint64_t t0;
	pthread_t t;
	void *b;
	int s;

	g = fakegw_start(&cfg);
	REQUIRE(g);
	h = attach(1, 0);
	REQUIRE(h);
	w.q = bp_queue(h, 0);
	s = bp_udp_bind(w.q, taddr(), htons(7300));
	REQUIRE(s >= 0);
	REQUIRE(pthread_create(&t, NULL, waiter_main, &w) == 0);
	usleep(100000);
	t0 = now_ms();
	fakegw_stop(g);
	pthread_join(t, NULL);
	CHECK_EQ(w.ret, -BP_ESHUTDOWN);
	CHECK(w.returned_ms - t0 < 1000);
	CHECK_EQ(bp_recv_burst(w.q, &rx, 1), -BP_ESHUTDOWN);
	CHECK_EQ(bp_wait(w.q, 100), -BP_ESHUTDOWN);
	CHECK_EQ(bp_arm(w.q), -BP_ESHUTDOWN);
	b = bp_buf_alloc(w.q);
	REQUIRE(b);
	tx = (struct bp_tx){
	        .data = b, .len = 1, .sock = (uint32_t)s, .addr = taddr(), .port = htons(7300)};
	CHECK_EQ(bp_send_burst(w.q, &tx, 1), -BP_ESHUTDOWN);
	CHECK_EQ(bp_udp_bind(w.q, taddr(), htons(7301)), -BP_ESHUTDOWN);
	bp_detach(h);

	/* the gateway comes back: attach again */
	g = fakegw_start(&cfg);
	REQUIRE(g);
	h = attach(1, 0);
	CHECK(h);
	if (h)
		CHECK(bp_udp_bind(bp_queue(h, 0), taddr(), htons(7300)) >= 0);
	bp_detach(h);
	fakegw_stop(g);
}

struct poller {
	struct bp_queue *q;
	int ret;
	uint64_t returned_ms;
};

static void *
busy_poller(void *arg)
{
	struct poller *p = arg;
	struct bp_rx rx[8];
	int n;

	while ((n = bp_recv_burst(p->q, rx, 8)) >= 0)
		if (n)
			bp_done(p->q, rx, (unsigned)n);
	p->ret = n;
	p->returned_ms = now_ms();
	return NULL;
}

/* kill -9 of the gateway: a sleeping and a busy-polling app both learn within 1 s. */
static void
test_gateway_killed(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct waiter w = {.timeout_ms = 10000}; /* must end long before */
	struct poller bp = {0};
	struct bp_handle *h;
	pthread_t t1, t2;
	uint64_t t0;
	pid_t pid;
	int status;

	pid = fakegw_spawn(&cfg);
	REQUIRE(pid > 0);
	h = attach(2, 0);
	REQUIRE(h);
	w.q = bp_queue(h, 0);
	bp.q = bp_queue(h, 1);
	CHECK(bp_udp_bind(w.q, taddr(), htons(7400)) >= 0);
	REQUIRE(pthread_create(&t1, NULL, waiter_main, &w) == 0);
	REQUIRE(pthread_create(&t2, NULL, busy_poller, &bp) == 0);
	usleep(100000);
	t0 = now_ms();
	kill(pid, SIGKILL);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK_EQ(w.ret, -BP_ESHUTDOWN);
	CHECK(w.returned_ms - t0 < 1000);
	CHECK_EQ(bp.ret, -BP_ESHUTDOWN);
	CHECK(bp.returned_ms - t0 < 1000);
	CHECK_EQ(bp_udp_bind(w.q, taddr(), htons(7401)), -BP_ESHUTDOWN);
	bp_detach(h);
	REQUIRE(waitpid(pid, &status, 0) == pid);
}

/* A hung gateway (no heartbeat): only with stall_ms set, BP_ESHUTDOWN after about that long. */
static void
test_gateway_stall(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct bp_attach_opts o;
	struct bp_handle *h;
	struct fakegw *g;
	uint64_t t0, dt;

	g = fakegw_start(&cfg);
	REQUIRE(g);
	bp_attach_opts_init(&o);
	o.spin_us = 0;
	o.stall_ms = 300;
	h = bp_attach(sock_path, "acme", 1, &o);
	REQUIRE(h);
	CHECK_EQ(bp_wait(bp_queue(h, 0), 400), 0); /* heartbeat running: just a timeout */
	fakegw_freeze(g, true);
	t0 = now_ms();
	CHECK_EQ(bp_wait(bp_queue(h, 0), 5000), -BP_ESHUTDOWN);
	dt = now_ms() - t0;
	CHECK(dt >= 200 && dt < 1000);
	fakegw_freeze(g, false);
	bp_detach(h);
	fakegw_stop(g);
}

static void
test_strerror(void)
{
	CHECK(!strcmp(bp_strerror(0), "success"));
	CHECK(!strcmp(bp_strerror(-BP_ESHUTDOWN), bp_strerror(BP_ESHUTDOWN)));
	CHECK(strstr(bp_strerror(-BP_ESHUTDOWN), "gateway is gone"));
	CHECK(!strcmp(bp_strerror(-ENOENT), "No such file or directory"));
	CHECK(bp_strerror(999)[0]);
	CHECK(bp_strerror(BP_ERR_END)[0]);
}

/* A bind that timed out while the gateway was slow must not leave the port bound behind the
 * app's back: the late BIND_OK is answered with an UNBIND, so binding again works. */
static void
test_bind_timeout(void)
{
	struct fakegw_cfg cfg = gw_cfg();
	struct bp_attach_opts o;
	struct bp_handle *h;
	struct bp_queue *q;
	struct fakegw *g;
	int r, i;

	g = fakegw_start(&cfg);
	REQUIRE(g);
	bp_attach_opts_init(&o);
	o.timeout_ms = 200;
	h = bp_attach(sock_path, "acme", 1, &o);
	REQUIRE(h);
	q = bp_queue(h, 0);
	fakegw_freeze(g, true);
	usleep(50000);
	CHECK_EQ(bp_udp_bind(q, taddr(), htons(7005)), -ETIMEDOUT);
	fakegw_freeze(g, false);
	/* the late BIND_OK is seen by the next control call; its UNBIND goes out then */
	r = bp_udp_bind(q, taddr(), htons(7006));
	CHECK(r >= 0);
	for (i = 0; i < 50; i++) {
		r = bp_udp_bind(q, taddr(), htons(7005));
		if (r != -BP_EADDRINUSE)
			break;
		usleep(10000);
	}
	CHECK(r >= 0);
	bp_detach(h);
	fakegw_stop(g);
}

int
main(void)
{
	signal(SIGPIPE, SIG_DFL); /* libbypass must never raise it */
	CHECK_RUN(test_strerror);
	CHECK_RUN(test_refusals);
	CHECK_RUN(test_hostile_hello);
	CHECK_RUN(test_attach_bind);
	CHECK_RUN(test_bind_timeout);
	CHECK_RUN(test_datapath);
	CHECK_RUN(test_send_errors);
	CHECK_RUN(test_wait_doorbell);
	CHECK_RUN(test_rx_view_readonly);
	CHECK_RUN(test_gateway_stop);
	CHECK_RUN(test_gateway_killed);
	CHECK_RUN(test_gateway_stall);
	return check_done();
}
