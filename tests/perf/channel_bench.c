/* channel_bench.c - gateway -> app over one channel queue vs rte_ring, memif and Linux UDP. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "bypass/bypass.h"
#include "chan_fp.h"
#include "ctl.h"

/*
 * Not a test: a measurement, run by hand (tests/perf/run_channel_bench.sh runs it with the memif
 * baseline and prints the table; docs/performance.md has the numbers and what they mean).
 *
 * Two EAL lcores, each pinned to its own CPU (--lcores 0@0,1@1): the main lcore is the producer
 * (the gateway worker, or the UDP sender), the other the consumer (the app, or the UDP receiver).
 *
 *   channel   The real code on both sides. The app attaches with bp_attach() through the real
 *             control handshake (HELLO -> HELLO_OK + QUEUE with memfds and the doorbell passed by
 *             SCM_RIGHTS, then a BIND) to a minimal in-process control side built on the same
 *             calls as the gateway: bp_ctl_decode, bp_chan_create, bp_chan_send. So the app maps
 *             the memfds itself, RX area read-only, at its own addresses.
 *             Producer, per datagram, what the worker does: bp_chan_rx_take, memcpy of the
 *             payload from a pre-built source buffer (stands for the mbuf), a descriptor; posts
 *             with bp_chan_rx_post in bursts of up to 32 (what rx_room allows), and
 *             bp_chan_done_reap every round.
 *             Consumer: bp_recv_burst(32), reads the first 8 bytes of each payload (summed and
 *             checked), bp_done() on the burst (zero-copy: it reads where the gateway wrote).
 *             --copy-out adds a run where the app memcpy()s each payload into its own buffer
 *             first (what memif's receive side and recvmmsg do); --no-payload one where nothing
 *             is copied or read (descriptors and buffer bookkeeping alone: a diagnosis).
 *   rte_ring  DPDK rte_ring SP/SC of pointers, bursts of 32, 1024 slots: the floor (no payload).
 *   udp       Linux UDP on 127.0.0.1: sendmmsg / recvmmsg batches of 32; the rate is what the
 *             receiver gets (on loopback the sender's system call does most of the receive path;
 *             what the receiver cannot take is dropped by the kernel and reported).
 *
 * Also printed: the channel's code path alone (both sides on one core, a burst each in turn).
 *   memif     not run here (two testpmd processes: memif_baseline.sh); give its medians with
 *             --memif 64=MPPS,1500=MPPS to get the ratios in the table.
 *
 * Every method runs --runs times, rounds interleaved (channel, rte_ring, udp, then again), and
 * min / median / max over the runs are printed: the machine is shared and noisy.
 *
 *   channel_bench [EAL args] -- [--runs N] [--packets N] [--udp-ms MS] [--sizes 64,1500]
 *                 [--memif 64=X,1500=Y] [--only channel|rte|udp] [--copy-out] [--no-payload]
 *   no EAL args: --no-huge --no-pci --no-shconf -m 256 --no-telemetry --lcores 0@0,1@1
 */

#define BURST     32
#define MAX_RUNS  64
#define MAX_SIZES 4
#define SRC_BUFS  256  /* pre-built "mbufs" the producer copies from (power of two) */
#define SRC_SIZE  2048 /* stride between them */

/* Channel geometry the app asks for: RX ring 1024, 1024 buffers of 2 KiB (a 1500-byte payload) */
#define RX_RING     1024
#define RX_BUF_SIZE 2048

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs of one method at one size. */
struct series {
	double mpps[MAX_RUNS];
	unsigned n;
};

static void
series_add(struct series *s, double mpps)
{
	if (s->n < MAX_RUNS)
		s->mpps[s->n++] = mpps;
}

/* min, median, max; 0 when empty */
static void
series_stats(const struct series *s, double *mn, double *med, double *mx)
{
	double v[MAX_RUNS];

	*mn = *med = *mx = 0;
	if (!s->n)
		return;
	memcpy(v, s->mpps, s->n * sizeof(v[0]));
	qsort(v, s->n, sizeof(v[0]), cmp_double);
	*mn = v[0];
	*mx = v[s->n - 1];
	*med = s->n & 1 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

/* ---------------------------------------------------------------------------------------- */
/* The gateway's control side, minimal: one app, one queue, one BIND                          */
/* ---------------------------------------------------------------------------------------- */

#define BENCH_TENANT "bench"
#define BENCH_ADDR   "192.0.2.10" /* the tenant's address (TEST-NET-1: never on a wire) */
#define BENCH_PORT   9000

struct gwctl {
	char path[64]; /* abstract socket */
	int lfd, fd;
	struct bp_chan chan;
	bool have_chan;
	uint32_t sock; /* the socket id the BIND got */
	char err[160];
};

/* Receive one control message within 5 s and decode it as the gateway does. */
static int
gw_recv(struct gwctl *g, union bp_ctl_msg *m)
{
	uint8_t buf[sizeof(*m)];
	struct pollfd p = {.fd = g->fd, .events = POLLIN};
	enum bp_ctl_err e;
	ssize_t r;

	if (poll(&p, 1, 5000) != 1)
		return snprintf(g->err, sizeof(g->err), "no message from the app"), -1;
	r = bp_sock_recv_fds(g->fd, buf, sizeof(buf), NULL, NULL, MSG_DONTWAIT);
	if (r <= 0)
		return snprintf(g->err, sizeof(g->err), "recv: %s", strerror((int)-r)), -1;
	e = bp_ctl_decode(buf, (size_t)r, BP_CTL_FROM_APP, m);
	if (e)
		return snprintf(g->err, sizeof(g->err), "decode: %s", bp_ctl_err_str(e)), -1;
	return 0;
}

/* Accept the app, answer its HELLO with one queue, answer its BIND. */
static void *
gw_ctl_main(void *arg)
{
	static const struct bp_geom dflt = {.rx_ring = 512,
	                                    .rx_bufs = 512,
	                                    .rx_buf_size = 2048,
	                                    .tx_ring = 256,
	                                    .tx_bufs = 256,
	                                    .tx_buf_size = 2048};
	struct bp_chan_limits lim = {.max_udp_payload = 1472, .max_frame = 1514, .raw = false};
	struct gwctl *g = arg;
	struct pollfd p = {.fd = g->lfd, .events = POLLIN};
	struct bp_ctl_hello_ok ok;
	struct bp_ctl_bind_ok bok;
	union bp_ctl_msg m;
	struct bp_geom geom;
	uint32_t uid;
	int r;

	if (poll(&p, 1, 5000) != 1 || (g->fd = accept4(g->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		snprintf(g->err, sizeof(g->err), "no app connected");
		return NULL;
	}
	if (gw_recv(g, &m) < 0)
		return NULL;
	if (m.hdr.type != BP_CTL_HELLO || strcmp(m.hello.tenant, BENCH_TENANT) ||
	    m.hello.nqueues != 1 || bp_sock_peercred(g->fd, NULL, &uid, NULL) < 0 ||
	    uid != getuid()) {
		snprintf(g->err, sizeof(g->err), "unexpected HELLO");
		return NULL;
	}
	bp_ctl_geom_merge(&geom, &m.hello.geom, &dflt);
	r = bp_geom_valid(&geom) ? bp_chan_create(&g->chan, &geom, &lim, 0, now_ns()) : -EINVAL;
	if (r < 0) {
		snprintf(g->err, sizeof(g->err), "bp_chan_create: %s", strerror(-r));
		return NULL;
	}
	g->have_chan = true;
	bp_ctl_init(&ok, BP_CTL_HELLO_OK, sizeof(ok), m.hdr.seq);
	ok.abi_major = BP_ABI_MAJOR;
	ok.abi_minor = BP_ABI_MINOR;
	ok.nqueues = 1;
	ok.epoch = g->chan.epoch;
	ok.geom = geom;
	ok.max_udp_payload = lim.max_udp_payload;
	ok.max_frame = lim.max_frame;
	r = bp_sock_send_fds(g->fd, &ok, sizeof(ok), NULL, 0);
	if (r == 0)
		r = bp_chan_send(&g->chan, g->fd, m.hdr.seq, rte_get_main_lcore());
	if (r < 0) {
		snprintf(g->err, sizeof(g->err), "send: %s", strerror(-r));
		return NULL;
	}
	if (gw_recv(g, &m) < 0)
		return NULL;
	if (m.hdr.type != BP_CTL_BIND || m.bind.queue != 0 || m.bind.proto != BP_PROTO_UDP) {
		snprintf(g->err, sizeof(g->err), "unexpected request %u", m.hdr.type);
		return NULL;
	}
	g->sock = 7;
	bp_ctl_init(&bok, BP_CTL_BIND_OK, sizeof(bok), m.hdr.seq);
	bok.sock = g->sock;
	bok.proto = m.bind.proto;
	bok.addr_be = m.bind.addr_be;
	bok.port_be = m.bind.port_be;
	if (bp_sock_send_fds(g->fd, &bok, sizeof(bok), NULL, 0) < 0)
		snprintf(g->err, sizeof(g->err), "send BIND_OK failed");
	return NULL;
}

/* Attach an app queue to our own control side. Returns the handle or NULL (message printed). */
static struct bp_handle *
attach_app(struct gwctl *g, struct bp_queue **qp)
{
	struct bp_attach_opts o;
	struct bp_handle *h;
	pthread_t t;
	int sock;

	snprintf(g->path, sizeof(g->path), "@bypassd-channel-bench-%d", (int)getpid());
	g->fd = -1;
	g->lfd = bp_sock_listen(g->path, 4);
	if (g->lfd < 0) {
		fprintf(stderr, "channel_bench: listen %s: %s\n", g->path, strerror(-g->lfd));
		return NULL;
	}
	pthread_create(&t, NULL, gw_ctl_main, g);
	bp_attach_opts_init(&o);
	o.rx_ring = RX_RING;
	o.rx_bufs = RX_RING;
	o.rx_buf_size = RX_BUF_SIZE;
	o.tx_ring = 64;
	o.tx_bufs = 64;
	o.tx_buf_size = 2048;
	o.app_name = "channel_bench";
	o.timeout_ms = 5000;
	h = bp_attach(g->path, BENCH_TENANT, 1, &o);
	if (!h) {
		pthread_join(t, NULL);
		fprintf(stderr, "channel_bench: bp_attach: %s %s / control side: %s\n",
		        bp_strerror(errno), bp_errmsg(), g->err);
		return NULL;
	}
	*qp = bp_queue(h, 0);
	sock = bp_udp_bind(*qp, inet_addr(BENCH_ADDR), htons(BENCH_PORT));
	pthread_join(t, NULL); /* the control side is done: the chan is the producer's now */
	if (sock < 0 || (uint32_t)sock != g->sock || g->err[0]) {
		fprintf(stderr, "channel_bench: bp_udp_bind: %s / control side: %s\n",
		        bp_strerror(sock), g->err);
		bp_detach(h);
		return NULL;
	}
	return h;
}

static void
gw_teardown(struct gwctl *g)
{
	if (g->have_chan) {
		bp_chan_close(&g->chan);
		bp_chan_destroy(&g->chan);
	}
	if (g->fd >= 0)
		close(g->fd);
	if (g->lfd >= 0)
		close(g->lfd);
}

/* ---------------------------------------------------------------------------------------- */
/* channel: gateway worker -> app                                                            */
/* ---------------------------------------------------------------------------------------- */

/* What the app does with a payload. */
enum chan_mode {
	MODE_READ8,      /* reads its first 8 bytes in place (zero-copy) */
	MODE_COPY_OUT,   /* copies it into its own buffer (what memif's receiver and recvmmsg do) */
	MODE_NO_PAYLOAD, /* nothing, and the gateway copies nothing: descriptors and bookkeeping */
	MODE__MAX
};

static const char *const mode_name[MODE__MAX] = {
        [MODE_READ8] = "bypassd channel",
        [MODE_COPY_OUT] = "bypassd channel, app copies",
        [MODE_NO_PAYLOAD] = "bypassd channel, no payload",
};

struct chan_run {
	struct bp_chan *c;
	struct bp_queue *q;
	const uint8_t *src; /* SRC_BUFS x SRC_SIZE, first 8 bytes of each distinct */
	uint32_t sock, addr_be;
	uint16_t port_be;
	uint16_t len;
	enum chan_mode mode;
	uint64_t n;
	atomic_int go;
	uint64_t t0, t1, sum; /* sum of the first 8 bytes of every payload */
	int err;
	uint8_t priv[BURST][RX_BUF_SIZE] __attribute__((aligned(64))); /* the app's, COPY_OUT */
};

/* The worker's round: reap DONE, then deliver up to max datagrams (what rx_room allows). */
static inline unsigned
produce_burst(struct chan_run *r, uint32_t *s, uint64_t max)
{
	struct bp_chan *c = r->c;
	struct bp_desc d[BURST];
	unsigned i, k;
	uint32_t idx;

	bp_chan_done_reap(c, 2 * BURST);
	k = bp_chan_rx_room(c);
	if (k > BURST)
		k = BURST;
	if (k > max)
		k = (unsigned)max;
	for (i = 0; i < k; i++) {
		idx = bp_chan_rx_take(c);
		if (r->mode != MODE_NO_PAYLOAD)
			memcpy(bp_chan_rx_buf(c, idx), r->src + (size_t)*s * SRC_SIZE, r->len);
		d[i] = (struct bp_desc){
		        .buf = idx,
		        .len = r->len,
		        .type = BP_DESC_UDP_RECV,
		        .sock = r->sock,
		        .addr_be = r->addr_be,
		        .port_be = r->port_be,
		};
		*s = (*s + 1) & (SRC_BUFS - 1);
	}
	return k ? bp_chan_rx_post(c, d, k) : 0;
}

/* The app's step: receive a burst, read it, hand the buffers back. Returns how many, or < 0. */
static inline int
consume_burst(struct chan_run *r, uint64_t *sum)
{
	struct bp_rx rx[BURST];
	uint64_t v;
	int i, k;

	k = bp_recv_burst(r->q, rx, BURST);
	if (k <= 0)
		return k;
	if (r->mode == MODE_READ8) {
		for (i = 0; i < k; i++) {
			memcpy(&v, rx[i].data, sizeof(v));
			*sum += v;
		}
	} else if (r->mode == MODE_COPY_OUT) {
		for (i = 0; i < k; i++) {
			memcpy(r->priv[i], rx[i].data, rx[i].len);
			memcpy(&v, r->priv[i], sizeof(v));
			*sum += v;
		}
	}
	if (bp_done(r->q, rx, (unsigned)k) != k)
		return -EINVAL;
	return k;
}

/* The worker, on the main lcore: deliver r->n datagrams of r->len bytes. */
static void
chan_produce(struct chan_run *r)
{
	uint64_t sent = 0;
	uint32_t s = 0;
	unsigned k;

	while (!atomic_load_explicit(&r->go, memory_order_acquire))
		rte_pause();
	while (sent < r->n) {
		k = produce_burst(r, &s, r->n - sent);
		if (!k)
			rte_pause();
		sent += k;
	}
}

/* The app, on the other lcore: receive r->n datagrams. */
static int
chan_consume(void *arg)
{
	struct chan_run *r = arg;
	uint64_t got = 0, sum = 0, deadline, empty = 0;
	int k;

	atomic_store_explicit(&r->go, 1, memory_order_release);
	r->t0 = now_ns();
	deadline = r->t0 + 60ull * 1000000000u;
	while (got < r->n) {
		k = consume_burst(r, &sum);
		if (k < 0) {
			r->err = k;
			break;
		}
		if (k == 0 && (++empty & 0xffff) == 0 && now_ns() > deadline) {
			r->err = -ETIMEDOUT;
			break;
		}
		got += (uint64_t)k;
	}
	r->t1 = now_ns();
	r->sum = sum;
	return 0;
}

/*
 * Both sides on one core, a burst each in turn: what the code costs without a single cache line
 * moving between cores (the rest of the two-core figure is the cross-core traffic).
 */
static double
chan_one_core(struct chan_run *r)
{
	uint64_t sent = 0, got = 0, sum = 0, t0;
	uint32_t s = 0;
	int k;

	t0 = now_ns();
	while (got < r->n) {
		if (sent < r->n)
			sent += produce_burst(r, &s, r->n - sent);
		k = consume_burst(r, &sum);
		if (k < 0)
			return -1;
		got += (uint64_t)k;
	}
	r->sum = sum;
	return (double)(now_ns() - t0) / (double)r->n;
}

/* Expected sum of the first 8 bytes of n datagrams cycling through the sources. */
static uint64_t
src_first8(const uint8_t *src, unsigned i)
{
	uint64_t v;

	memcpy(&v, src + (size_t)i * SRC_SIZE, sizeof(v));
	return v;
}

static uint64_t
chan_expect(const uint8_t *src, uint64_t n)
{
	uint64_t all = 0, rest = 0;
	unsigned i;

	for (i = 0; i < SRC_BUFS; i++) {
		all += src_first8(src, i);
		if (i < n % SRC_BUFS)
			rest += src_first8(src, i);
	}
	return (n / SRC_BUFS) * all + rest;
}

/* One timed run. Returns Mpps, or < 0 on error (printed). */
static double
chan_run_once(struct chan_run *r, unsigned cons_lcore)
{
	r->err = 0;
	atomic_store(&r->go, 0);
	rte_eal_remote_launch(chan_consume, r, cons_lcore);
	chan_produce(r);
	rte_eal_wait_lcore(cons_lcore);
	if (r->err) {
		fprintf(stderr, "channel_bench: channel %u B: consumer error %s\n", r->len,
		        bp_strerror(r->err));
		return -1;
	}
	if (r->mode != MODE_NO_PAYLOAD && r->sum != chan_expect(r->src, r->n)) {
		fprintf(stderr, "channel_bench: channel %u B: payload checksum wrong\n", r->len);
		return -1;
	}
	return (double)r->n / ((double)(r->t1 - r->t0) / 1e3);
}

/* ---------------------------------------------------------------------------------------- */
/* rte_ring SP/SC of pointers                                                                */
/* ---------------------------------------------------------------------------------------- */

struct rte_run {
	struct rte_ring *ring;
	uint64_t n;
	atomic_int go;
	uint64_t t0, t1, sum;
};

static int
rte_consume(void *arg)
{
	struct rte_run *r = arg;
	void *p[BURST];
	uint64_t got = 0, sum = 0;
	unsigned i, k;

	atomic_store_explicit(&r->go, 1, memory_order_release);
	r->t0 = now_ns();
	while (got < r->n) {
		k = rte_ring_sc_dequeue_burst(
		        r->ring, p, r->n - got < BURST ? (unsigned)(r->n - got) : BURST, NULL);
		for (i = 0; i < k; i++)
			sum += (uintptr_t)p[i];
		got += k;
	}
	r->t1 = now_ns();
	r->sum = sum;
	return 0;
}

static double
rte_run_once(struct rte_run *r, unsigned cons_lcore)
{
	void *p[BURST];
	uint64_t sent = 0;
	unsigned i, k;

	atomic_store(&r->go, 0);
	rte_eal_remote_launch(rte_consume, r, cons_lcore);
	while (!atomic_load_explicit(&r->go, memory_order_acquire))
		rte_pause();
	while (sent < r->n) {
		k = r->n - sent < BURST ? (unsigned)(r->n - sent) : BURST;
		for (i = 0; i < k; i++)
			p[i] = (void *)(uintptr_t)(sent + i);
		sent += rte_ring_sp_enqueue_burst(r->ring, p, k, NULL);
	}
	rte_eal_wait_lcore(cons_lcore);
	if (r->sum != r->n * (r->n - 1) / 2) {
		fprintf(stderr, "channel_bench: rte_ring checksum wrong\n");
		return -1;
	}
	return (double)r->n / ((double)(r->t1 - r->t0) / 1e3);
}

/* ---------------------------------------------------------------------------------------- */
/* Linux UDP over loopback, sendmmsg / recvmmsg                                              */
/* ---------------------------------------------------------------------------------------- */

struct udp_run {
	int tx, rx;
	uint16_t len;
	uint64_t ms;
	atomic_int go, stop;
	uint64_t sent, got, t0, t1;
	int err;
};

static int
udp_receive(void *arg)
{
	struct udp_run *r = arg;
	static uint8_t buf[BURST][2048];
	struct mmsghdr m[BURST];
	struct iovec iov[BURST];
	uint64_t got = 0, sum = 0, v, t, end = 0;
	int i, k;

	for (i = 0; i < BURST; i++) {
		iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = sizeof(buf[i])};
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	r->t0 = 0;
	atomic_store_explicit(&r->go, 1, memory_order_release);
	for (;;) {
		k = recvmmsg(r->rx, m, BURST, MSG_WAITFORONE, NULL);
		t = now_ns();
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r->err = -errno; /* EAGAIN: SO_RCVTIMEO, the sender stalled */
			break;
		}
		if (!r->t0) { /* the clock starts at the first batch */
			r->t0 = t;
			end = t + r->ms * 1000000;
			continue;
		}
		for (i = 0; i < k; i++) {
			memcpy(&v, buf[i], sizeof(v));
			sum += v;
		}
		got += (uint64_t)k;
		if (t >= end)
			break;
	}
	r->t1 = now_ns();
	r->got = got + (sum == 42); /* keep the reads */
	atomic_store_explicit(&r->stop, 1, memory_order_release);
	return 0;
}

static double
udp_run_once(struct udp_run *r, unsigned cons_lcore)
{
	static uint8_t buf[2048];
	struct mmsghdr m[BURST];
	struct iovec iov;
	uint64_t sent = 0, limit = now_ns() + (r->ms + 5000) * 1000000;
	char drain[2048];
	int i, k;

	memset(buf, 0x5a, sizeof(buf));
	iov = (struct iovec){.iov_base = buf, .iov_len = r->len};
	for (i = 0; i < BURST; i++)
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
	while (recv(r->rx, drain, sizeof(drain), MSG_DONTWAIT) > 0) /* leftovers of the last run */
		;
	r->err = 0;
	atomic_store(&r->go, 0);
	atomic_store(&r->stop, 0);
	rte_eal_remote_launch(udp_receive, r, cons_lcore);
	while (!atomic_load_explicit(&r->go, memory_order_acquire))
		rte_pause();
	while (!atomic_load_explicit(&r->stop, memory_order_acquire) && now_ns() < limit) {
		k = sendmmsg(r->tx, m, BURST, 0);
		if (k > 0)
			sent += (uint64_t)k;
		else if (k < 0 && errno != EINTR && errno != ENOBUFS && errno != EAGAIN)
			break;
	}
	r->sent = sent;
	rte_eal_wait_lcore(cons_lcore);
	if (r->err || !r->t0) {
		fprintf(stderr, "channel_bench: udp %u B: receiver: %s\n", r->len,
		        r->err ? strerror(-r->err) : "nothing received");
		return -1;
	}
	return (double)r->got / ((double)(r->t1 - r->t0) / 1e3);
}

static int
udp_setup(struct udp_run *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 2};
	socklen_t al = sizeof(a);
	int big = 16 << 20;

	r->rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	r->tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (r->rx < 0 || r->tx < 0)
		return -errno;
	/* a large receive buffer (FORCE needs CAP_NET_ADMIN; else capped by rmem_max) */
	if (setsockopt(r->rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(r->rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(r->rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(r->rx, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(r->rx, (struct sockaddr *)&a, &al) < 0 ||
	    connect(r->tx, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* main                                                                                      */
/* ---------------------------------------------------------------------------------------- */

struct opts {
	unsigned runs;
	uint64_t packets; /* channel, per run (1500 B: a quarter) */
	uint64_t rte_packets;
	uint64_t udp_ms;
	unsigned sizes[MAX_SIZES], nsizes;
	double memif[MAX_SIZES]; /* per size, 0: not given */
	bool do_chan, do_rte, do_udp;
	bool mode[MODE__MAX]; /* channel modes to run */
};

static void
usage(void)
{
	fprintf(stderr,
	        "usage: channel_bench [EAL args] -- [--runs N] [--packets N] [--udp-ms MS]\n"
	        "                     [--sizes 64,1500] [--memif 64=MPPS,1500=MPPS]\n"
	        "                     [--only channel|rte|udp] [--copy-out] [--no-payload]\n");
	exit(2);
}

static int
size_index(const struct opts *o, unsigned size)
{
	unsigned i;

	for (i = 0; i < o->nsizes; i++)
		if (o->sizes[i] == size)
			return (int)i;
	return -1;
}

static void
parse_opts(struct opts *o, int argc, char **argv)
{
	char *s, *tok, *save;
	int i, k;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--copy-out")) {
			o->mode[MODE_COPY_OUT] = true;
			continue;
		}
		if (!strcmp(a, "--no-payload")) {
			o->mode[MODE_NO_PAYLOAD] = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--runs")) {
			o->runs = (unsigned)strtoul(v, NULL, 0);
			if (o->runs < 1 || o->runs > MAX_RUNS)
				usage();
		} else if (!strcmp(a, "--packets")) {
			o->packets = strtoull(v, NULL, 0);
			o->rte_packets = o->packets;
		} else if (!strcmp(a, "--udp-ms")) {
			o->udp_ms = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--sizes")) {
			s = strdup(v);
			o->nsizes = 0;
			for (tok = strtok_r(s, ",", &save); tok && o->nsizes < MAX_SIZES;
			     tok = strtok_r(NULL, ",", &save)) {
				o->sizes[o->nsizes] = (unsigned)strtoul(tok, NULL, 0);
				if (o->sizes[o->nsizes] < 8 || o->sizes[o->nsizes] > RX_BUF_SIZE)
					usage();
				o->nsizes++;
			}
			free(s);
		} else if (!strcmp(a, "--memif")) {
			s = strdup(v);
			for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				char *eq = strchr(tok, '=');

				if (!eq)
					usage();
				k = size_index(o, (unsigned)strtoul(tok, NULL, 0));
				if (k >= 0)
					o->memif[k] = strtod(eq + 1, NULL);
			}
			free(s);
		} else if (!strcmp(a, "--only")) {
			o->do_chan = !strcmp(v, "channel");
			o->do_rte = !strcmp(v, "rte");
			o->do_udp = !strcmp(v, "udp");
		} else {
			usage();
		}
	}
}

/* Rows whose runs spread by more than this (max / min) are marked: the host was busy. */
#define SPREAD_MARK 1.3
static bool spread_marked;

static void
print_row(const char *method, const char *payload, const struct series *s)
{
	double mn, med, mx;
	bool wide;

	series_stats(s, &mn, &med, &mx);
	if (!s->n) {
		printf("%-30s %7s %9s %9s %9s %9s\n", method, payload, "-", "-", "-", "-");
		return;
	}
	wide = mx > mn * SPREAD_MARK;
	spread_marked |= wide;
	printf("%-30s %7s %9.2f %9.2f %9.2f %9.1f%s\n", method, payload, mn, med, mx, 1e3 / med,
	       wide ? "  *" : "");
}

static double
median(const struct series *s)
{
	double mn, med, mx;

	series_stats(s, &mn, &med, &mx);
	return med;
}

int
main(int argc, char **argv)
{
	static char *dflt_eal[] = {
	        "channel_bench",  "--no-huge",           "--no-pci", "--no-shconf", "-m", "256",
	        "--no-telemetry", "--log-level=warning", "--lcores", "0@0,1@1",     NULL};
	static struct chan_run cr; /* 64 KiB of app buffers for COPY_OUT: not on the stack */
	struct opts o = {.runs = 5,
	                 .packets = 20000000,
	                 .rte_packets = 50000000,
	                 .udp_ms = 1000,
	                 .sizes = {64, 1500},
	                 .nsizes = 2,
	                 .do_chan = true,
	                 .do_rte = true,
	                 .do_udp = true,
	                 .mode = {[MODE_READ8] = true}};
	struct series chan[MODE__MAX][MAX_SIZES] = {0}, udp[MAX_SIZES] = {0}, rte = {0};
	double one_core[MAX_SIZES] = {0}, mn, med, mx;
	struct gwctl g = {.lfd = -1, .fd = -1};
	struct bp_handle *h = NULL;
	struct bp_queue *q = NULL;
	struct rte_run rr;
	struct udp_run ur;
	unsigned cons_lcore, run, i, m;
	uint8_t *src;
	char pay[16];
	double x;
	int n, rest_c;
	char **rest;

	/* EAL: our defaults when none is given */
	if (argc < 2 || !strcmp(argv[1], "--")) {
		rest = argc > 1 ? argv + 2 : argv + argc;
		rest_c = argc > 1 ? argc - 2 : 0;
		n = rte_eal_init((int)(sizeof(dflt_eal) / sizeof(dflt_eal[0])) - 1, dflt_eal);
		if (n < 0)
			rte_exit(EXIT_FAILURE, "channel_bench: EAL init failed\n");
	} else {
		n = rte_eal_init(argc, argv);
		if (n < 0)
			rte_exit(EXIT_FAILURE, "channel_bench: EAL init failed\n");
		rest = argv + n + 1;
		rest_c = argc - n - 1;
		if (rest_c > 0 && !strcmp(rest[0], "--")) {
			rest++;
			rest_c--;
		}
	}
	parse_opts(&o, rest_c, rest);
	cons_lcore = rte_get_next_lcore(-1, 1, 0);
	if (rte_lcore_count() < 2 || cons_lcore >= RTE_MAX_LCORE)
		rte_exit(EXIT_FAILURE, "channel_bench: needs two lcores (--lcores 0@0,1@1)\n");

	printf("channel_bench: producer lcore %u (CPU %d), consumer lcore %u (CPU %d); %u runs, "
	       "burst %d\n",
	       rte_get_main_lcore(), rte_lcore_to_cpu_id((int)rte_get_main_lcore()), cons_lcore,
	       rte_lcore_to_cpu_id((int)cons_lcore), o.runs, BURST);

	/* the pre-built payloads the worker copies from, like mbufs */
	src = aligned_alloc(64, (size_t)SRC_BUFS * SRC_SIZE);
	if (!src)
		rte_exit(EXIT_FAILURE, "out of memory\n");
	for (i = 0; i < SRC_BUFS * SRC_SIZE; i++)
		src[i] = (uint8_t)(i * 131 + 7);

	if (o.do_chan) {
		h = attach_app(&g, &q);
		if (!h)
			return 1;
		printf("channel: app attached with bp_attach() through the real handshake (HELLO, "
		       "HELLO_OK, QUEUE + memfds/doorbell over SCM_RIGHTS, BIND); RX ring %u, %u RX "
		       "buffers of %u B\n",
		       RX_RING, RX_RING, RX_BUF_SIZE);
		cr.c = &g.chan;
		cr.q = q;
		cr.src = src;
		cr.sock = g.sock;
		cr.addr_be = inet_addr("198.51.100.1");
		cr.port_be = htons(5555);
		/* warm up: page faults in both mappings, caches, branch predictors */
		cr.mode = MODE_READ8;
		cr.len = 1500;
		cr.n = 2000000;
		if (chan_run_once(&cr, cons_lcore) < 0)
			return 1;
		/* the code path alone: both sides on the main lcore, best of 3 */
		for (i = 0; i < o.nsizes; i++) {
			cr.len = (uint16_t)o.sizes[i];
			cr.n = 2000000;
			one_core[i] = 1e9;
			for (run = 0; run < 3; run++) {
				x = chan_one_core(&cr);
				if (x < 0 || cr.sum != chan_expect(src, cr.n)) {
					fprintf(stderr, "channel_bench: one-core run failed\n");
					return 1;
				}
				if (x < one_core[i])
					one_core[i] = x;
			}
		}
	}
	if (o.do_rte) {
		rr = (struct rte_run){.n = o.rte_packets};
		rr.ring = rte_ring_create("bench", 1024, (int)rte_socket_id(),
		                          RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!rr.ring)
			rte_exit(EXIT_FAILURE, "rte_ring_create failed\n");
	}
	if (o.do_udp) {
		ur = (struct udp_run){.ms = o.udp_ms};
		n = udp_setup(&ur);
		if (n < 0)
			rte_exit(EXIT_FAILURE, "udp setup: %s\n", strerror(-n));
	}

	/* rounds: every method once per round, so slow phases of the host hit all of them */
	for (run = 0; run < o.runs; run++) {
		for (m = 0; o.do_chan && m < MODE__MAX; m++) {
			if (!o.mode[m])
				continue;
			for (i = 0; i < o.nsizes; i++) {
				cr.mode = (enum chan_mode)m;
				cr.len = (uint16_t)o.sizes[i];
				cr.n = o.sizes[i] > 512 ? o.packets / 4 : o.packets;
				x = chan_run_once(&cr, cons_lcore);
				if (x < 0)
					return 1;
				series_add(&chan[m][i], x);
				printf("  run %u: %-28s %4u B %8.2f Mpps %7.1f ns/pkt\n", run + 1,
				       mode_name[m], o.sizes[i], x, 1e3 / x);
				fflush(stdout);
			}
		}
		if (o.do_rte) {
			x = rte_run_once(&rr, cons_lcore);
			if (x < 0)
				return 1;
			series_add(&rte, x);
			printf("  run %u: %-28s %6s %8.2f Mpps %7.1f ns/pkt\n", run + 1,
			       "rte_ring SP/SC pointers", "ptr", x, 1e3 / x);
			fflush(stdout);
		}
		for (i = 0; o.do_udp && i < o.nsizes; i++) {
			ur.len = (uint16_t)o.sizes[i];
			x = udp_run_once(&ur, cons_lcore);
			if (x < 0)
				return 1;
			series_add(&udp[i], x);
			printf("  run %u: %-28s %4u B %8.2f Mpps %7.1f ns/pkt (sender %.2f Mpps, "
			       "%.0f%% dropped)\n",
			       run + 1, "Linux UDP loopback", o.sizes[i], x, 1e3 / x,
			       (double)ur.sent / ((double)(ur.t1 - ur.t0) / 1e3),
			       ur.sent ? 100.0 * (1.0 - (double)ur.got / (double)ur.sent) : 0.0);
			fflush(stdout);
		}
	}

	printf("\n%-30s %7s %9s %9s %9s %9s\n", "method", "payload", "Mpps min", "Mpps med",
	       "Mpps max", "ns/pkt");
	for (m = 0; o.do_chan && m < MODE__MAX; m++)
		for (i = 0; o.mode[m] && i < o.nsizes; i++) {
			snprintf(pay, sizeof(pay), "%u B", o.sizes[i]);
			print_row(mode_name[m], pay, &chan[m][i]);
		}
	if (o.do_rte)
		print_row("rte_ring SP/SC pointers", "ptr", &rte);
	for (i = 0; i < o.nsizes; i++) {
		snprintf(pay, sizeof(pay), "%u B", o.sizes[i]);
		if (o.memif[i] > 0)
			printf("%-30s %7s %9s %9.2f %9s %9.1f\n", "memif (2x testpmd, copy)", pay,
			       "", o.memif[i], "", 1e3 / o.memif[i]);
		else
			printf("%-30s %7s %9s %9s %9s %9s\n", "memif (2x testpmd, copy)", pay, "",
			       "n/a", "", "");
	}
	for (i = 0; o.do_udp && i < o.nsizes; i++) {
		snprintf(pay, sizeof(pay), "%u B", o.sizes[i]);
		print_row("Linux UDP loopback (mmsg 32)", pay, &udp[i]);
	}
	if (spread_marked)
		printf("* max/min > %.1f: the machine was busy during some runs; the median absorbs "
		       "a few, re-run if it matters\n",
		       SPREAD_MARK);
	printf("\n%-30s %7s %14s %14s %14s\n", "ratio of medians", "payload", "bypassd/memif",
	       "bypassd/Linux", "bypassd/rte_ring");
	for (m = 0; o.do_chan && m < MODE__MAX; m++)
		for (i = 0; o.mode[m] && m != MODE_NO_PAYLOAD && i < o.nsizes; i++) {
			char a[32] = "n/a", b[32] = "n/a", c[32] = "n/a";
			double ch = median(&chan[m][i]);

			if (o.memif[i] > 0)
				snprintf(a, sizeof(a), "%.2fx", ch / o.memif[i]);
			if (udp[i].n)
				snprintf(b, sizeof(b), "%.1fx", ch / median(&udp[i]));
			if (rte.n)
				snprintf(c, sizeof(c), "%.2fx", ch / median(&rte));
			snprintf(pay, sizeof(pay), "%u B", o.sizes[i]);
			printf("%-30s %7s %14s %14s %14s\n", mode_name[m], pay, a, b, c);
		}
	if (o.do_chan) {
		printf("\nchannel code path alone (gateway round, then app burst, on one core: no "
		       "cross-core traffic):");
		for (i = 0; i < o.nsizes; i++)
			printf(" %u B %.1f ns/pkt%s", o.sizes[i], one_core[i],
			       i + 1 < o.nsizes ? "," : "\n");
	}

	/* machine-readable, for scripts: RESULT method payload min median max (Mpps) */
	for (m = 0; o.do_chan && m < MODE__MAX; m++)
		for (i = 0; o.mode[m] && i < o.nsizes; i++) {
			static const char *const key[MODE__MAX] = {"channel", "channel_copy",
			                                           "channel_nopayload"};

			series_stats(&chan[m][i], &mn, &med, &mx);
			printf("RESULT %s %u %.3f %.3f %.3f\n", key[m], o.sizes[i], mn, med, mx);
		}
	for (i = 0; o.do_chan && i < o.nsizes; i++)
		printf("RESULT channel_one_core_ns %u %.2f\n", o.sizes[i], one_core[i]);
	for (i = 0; o.do_udp && i < o.nsizes; i++) {
		series_stats(&udp[i], &mn, &med, &mx);
		printf("RESULT udp %u %.3f %.3f %.3f\n", o.sizes[i], mn, med, mx);
	}
	if (o.do_rte) {
		series_stats(&rte, &mn, &med, &mx);
		printf("RESULT rte_ring 0 %.3f %.3f %.3f\n", mn, med, mx);
	}

	if (o.do_chan) {
		struct bp_queue_stats st;

		bp_queue_stats(q, &st);
		printf("channel counters: gateway rx_posted %" PRIu64 " rx_done %" PRIu64
		       " drops %" PRIu64 " doorbells %" PRIu64 "; app rx %" PRIu64
		       " rx_bad %" PRIu64 "\n",
		       g.chan.cnt[BP_CHAN_CNT_RX_POSTED], g.chan.cnt[BP_CHAN_CNT_RX_DONE],
		       bp_chan_drops(&g.chan), g.chan.cnt[BP_CHAN_CNT_DOORBELLS], st.rx, st.rx_bad);
		bp_detach(h);
		gw_teardown(&g);
	}
	if (o.do_udp) {
		close(ur.rx);
		close(ur.tx);
	}
	if (o.do_rte)
		rte_ring_free(rr.ring);
	free(src);
	rte_eal_cleanup();
	return 0;
}
