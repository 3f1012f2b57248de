/* hostile_app.c - a misbehaving bypassd client for the integration tests (test_channels.py). */

/*
 * It attaches with libbypass like any app, then reaches under the API (bypass_priv.h: the queue's
 * private ring views and buffer areas) to do what a hostile or buggy app could do to the shared
 * memory. Every loop is bounded in count and time.
 *
 *   hostile_app [options] attack TENANT ADDR PORT
 *	Bind UDP ADDR:PORT, then write garbage on the TX and DONE rings (the -k kinds, each aimed
 *	at one per-channel drop counter of the gateway) until -d seconds pass or SIGUSR1; print
 *	"SUMMARY kind=attempts ...", then stay attached (the test reads the gateway's per-channel
 *	counters) until SIGTERM/SIGINT or -H seconds.
 *   hostile_app [options] write-rx TENANT ADDR PORT
 *	Bind, wait up to -w seconds for one datagram, check that the RX mapping cannot be made
 *	writable, then write into the received buffer: the process must die of SIGSEGV.
 *   hostile_app [options] hoard TENANT ADDR PORT
 *	Bind and receive, but never hand an RX buffer back (bp_done); print "HOARDED n" on
 *	SIGUSR1 and at exit (SIGTERM or -H seconds).
 *   hostile_app [options] send TENANT ADDR PORT
 *	An app that speaks first: bind, send -c N datagrams to -t DST:DPORT (sizes
 *	1 + (seq * 331) % max_udp, the last one max_udp; bytes (seq * 7 + i) & 0xff after a 4-byte
 *	big-endian seq, truncated for tiny sizes), wait for every completion, print
 *	"SENT posted=P done=D refused=R last=REASON". With -x: print "POSTED P" and _exit(0)
 *	at once instead (a crash with sends in flight: no completions reaped, no detach).
 *   hostile_app [options] talk TENANT ADDR PORT
 *	A well-behaved app that speaks first to many ports (test_reload.py): bind, send one datagram
 *	to each of -c N ports DST:DPORT, DST:DPORT+1, ... (-t DST:DPORT; -c 0 sends nothing), print
 *	"SENT done=D refused=R", then receive for -l seconds or until -n datagrams arrived, answer
 *	each with "ack", and print "RECV n=N ports=P,P,..." (the distinct source ports, sorted).
 *	When the gateway detaches it: "SHUTDOWN" and exit 3.
 *   hostile_app [options] tcp-guess TENANT ADDR PORT
 *	Bind UDP, then for -d seconds name TCP connection ids this queue never had (SEND with a
 *	buffer, SHUTDOWN, CLOSE, ABORT; CONNECT to the gateway's own address) and print
 *	"GUESSED posted=P sends=S back=B refused=R", then stay attached (-H seconds or SIGTERM).
 *   hostile_app [options] tcp-close-send TENANT ADDR PORT
 *	Bind UDP, connect to -t DST:DPORT (a peer that never reads), post -c full TX buffers as
 *	TCP_SEND (more than the engine's send queue takes), CLOSE, then one more SEND: print
 *	"CLOSESEND connected=C sent=N status=closed|S|none" (how that last SEND came back).
 *   hostile_app [options] raw TENANT ADDR
 *	A raw-frame client (tenant with raw: true): bind raw on ADDR, send the frames of -f FILE
 *	(one hex frame per line) one at a time, print "TX i sent|refused REASON|timeout", then
 *	print "RX kind=K len=L hex=..." for what arrives within -l seconds (at most -n frames).
 *
 * Options: -s SOCKET (control socket), -k kind,kind,... (attack; default all), -d SECONDS
 * (attack length, default 10), -H SECONDS (hold, default 60), -w SECONDS (write-rx wait,
 * default 5), -f FILE, -l SECONDS (raw listen, default 2), -n N (raw: stop after N frames),
 * -b N (descriptors per kind per round, default 8), -r N (ask for N RX buffers/ring slots),
 * -t DST:DPORT, -c N and -x (send).
 *
 * Output is line-buffered on stdout; errors on stderr; exit 0 ok, 1 failure, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bypass_priv.h"
#include "chan.h" /* bp_desc_err names: what the gateway counts */

#define PEER_ADDR  "198.18.0.2" /* where valid datagrams go (the test's peer namespace) */
#define PEER_PORT  9            /* discard */
#define MAX_BURST  64
#define MAX_FRAMES 64

static volatile sig_atomic_t stop_attack, stop_hold, report;

static void
on_usr1(int sig)
{
	(void)sig;
	stop_attack = 1;
	report = 1;
}

static void
on_term(int sig)
{
	(void)sig;
	stop_attack = 1;
	stop_hold = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

static int
usage(void)
{
	fprintf(stderr, "usage: hostile_app [-s SOCKET] [-k KINDS] [-d S] [-H S] [-w S] [-f FILE] "
	                "[-l S] [-n N] [-b N] [-r N]\n"
	                "                   [-t DST:DPORT] [-c N] [-x]\n"
	                "                   attack|write-rx|hoard|send TENANT ADDR PORT\n"
	                "                   raw TENANT ADDR\n");
	return 2;
}

/* ---- the attack kinds ---------------------------------------------------------------------- */

/* Everything one round needs. */
struct ctx {
	struct bp_queue *q;
	int sock;          /* our bound UDP socket */
	uint32_t peer_be;  /* a valid destination */
	uint32_t tx_size;  /* bytes per TX buffer */
	uint32_t max_udp;  /* largest payload the gateway sends */
	unsigned burst;    /* descriptors per kind per round */
	uint64_t round;    /* rounds done */
	uint32_t next_buf; /* some_buf(): a different TX buffer for every descriptor of a round */
	uint64_t comp[BP_DESC_ERR__MAX + 1]; /* completions seen by status ([MAX]: out of range) */
	uint64_t comp_bad;                   /* completion descriptors that made no sense */
};

/* A valid UDP send of len bytes from TX buffer buf (the base every bad one is made from). */
static struct bp_desc
valid_send(const struct ctx *c, uint32_t buf, uint16_t len)
{
	return (struct bp_desc){.buf = buf,
	                        .off = 0,
	                        .len = len,
	                        .type = BP_DESC_UDP_SEND,
	                        .sock = (uint32_t)c->sock,
	                        .addr_be = c->peer_be,
	                        .port_be = htons(PEER_PORT)};
}

/*
 * A TX buffer for a descriptor, never 0 (the in_flight kind's) and never one used by another
 * descriptor of the same round: the gateway may fetch several kinds in one burst, and a buffer
 * posted twice would be counted desc_in_flight instead of the reason the kind aims at.
 */
static uint32_t
some_buf(struct ctx *c, unsigned i)
{
	uint32_t n = c->q->tx_bufs;

	(void)i;
	return n > 1 ? 1 + c->next_buf++ % (n - 1) : 0;
}

/* Ring the gateway if it sleeps on a ring we produce (as libbypass does after a send). */
static void
doorbell(struct ctx *c)
{
	static const char b = 1;

	if (bp_ring_wakeup_needed(&c->q->tx) || bp_ring_wakeup_needed(&c->q->done))
		(void)send(c->q->db, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Publish n descriptors on a ring we produce; returns how many fit. */
static unsigned
post(struct ctx *c, struct bp_ring *r, const struct bp_desc *d, unsigned n)
{
	unsigned k = bp_ring_enqueue_burst(r, d, n);

	doorbell(c);
	return k;
}

/* Take whatever the gateway completed (our own reaping: libbypass's bookkeeping is bypassed). */
static void
reap(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i, n;
	int guard = 64;

	while (guard-- > 0 && (n = bp_ring_dequeue_burst(&c->q->comp, d, MAX_BURST)) > 0)
		for (i = 0; i < n; i++) {
			/* a TCP_SEND's buffer comes back as TCP_SENT (ABI 1.1) */
			if (d[i].type != BP_DESC_TX_DONE && d[i].type != BP_DESC_TCP_SENT)
				c->comp_bad++;
			else
				c->comp[d[i].status < BP_DESC_ERR__MAX ? d[i].status
				                                       : BP_DESC_ERR__MAX]++;
		}
}

typedef unsigned (*attack_fn)(struct ctx *c);

/* Unknown types, TCP commands with a UDP send's fields, other rings' types on TX; a TX type on
 * DONE. */
static unsigned
k_type(struct ctx *c)
{
	static const uint16_t types[] = {0,
	                                 BP_DESC_TCP_CONNECT,
	                                 BP_DESC_TCP_SEND,
	                                 BP_DESC_RX_DONE,
	                                 BP_DESC_UDP_RECV,
	                                 BP_DESC_TX_DONE,
	                                 999,
	                                 0xffff};
	struct bp_desc d[MAX_BURST];
	unsigned i, n = 0;

	for (i = 0; i < c->burst; i++) {
		d[i] = valid_send(c, some_buf(c, i), 10);
		d[i].type = types[(c->round + i) % (sizeof(types) / sizeof(types[0]))];
	}
	n += post(c, &c->q->tx, d, c->burst);
	d[0] = (struct bp_desc){.buf = 0, .type = BP_DESC_UDP_SEND};
	n += post(c, &c->q->done, d, 1);
	return n;
}

static unsigned
k_flags(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i, n;

	for (i = 0; i < c->burst; i++) {
		d[i] = valid_send(c, some_buf(c, i), 10);
		d[i].flags = (uint16_t)(0x8000u >> (i % 16));
	}
	n = post(c, &c->q->tx, d, c->burst);
	d[0] = (struct bp_desc){.buf = 0, .type = BP_DESC_RX_DONE, .flags = BP_DESC_F_MORE};
	return n + post(c, &c->q->done, d, 1);
}

static unsigned
k_reserved(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i, n;

	for (i = 0; i < c->burst; i++) {
		d[i] = valid_send(c, some_buf(c, i), 10);
		d[i].status = (uint16_t)(1 + i);
	}
	n = post(c, &c->q->tx, d, c->burst);
	d[0] = (struct bp_desc){.buf = 0, .type = BP_DESC_RX_DONE, .len = 7, .addr_be = 1};
	return n + post(c, &c->q->done, d, 1);
}

static unsigned
k_buf(struct ctx *c)
{
	const uint32_t txn = c->q->tx_bufs, rxn = c->q->rx_bufs;
	const uint32_t bufs[] = {txn, txn + 1, txn * 2, 0x7fffffff, BP_BUF_NONE - 1, BP_BUF_NONE};
	struct bp_desc d[MAX_BURST];
	unsigned i, n;

	for (i = 0; i < c->burst; i++)
		d[i] = valid_send(c, bufs[(c->round + i) % (sizeof(bufs) / sizeof(bufs[0]))], 10);
	n = post(c, &c->q->tx, d, c->burst);
	d[0] = (struct bp_desc){.buf = rxn, .type = BP_DESC_RX_DONE};
	d[1] = (struct bp_desc){.buf = BP_BUF_NONE, .type = BP_DESC_RX_DONE};
	return n + post(c, &c->q->done, d, 2);
}

static unsigned
k_offset(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i;

	if (c->tx_size > UINT16_MAX)
		return 0; /* 64 KiB buffers: every 16-bit offset is inside */
	for (i = 0; i < c->burst; i++) {
		d[i] = valid_send(c, some_buf(c, i), 1);
		d[i].off = (uint16_t)(c->tx_size + (i * 997) % (UINT16_MAX + 1u - c->tx_size));
		d[i].len = (uint16_t)(i % 3);
	}
	return post(c, &c->q->tx, d, c->burst);
}

static unsigned
k_length(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i;

	for (i = 0; i < c->burst; i++) {
		d[i] = valid_send(c, some_buf(c, i), 1);
		d[i].off = (uint16_t)(i % 2 ? c->tx_size - 1 : 100);
		d[i].len = (uint16_t)(c->tx_size - d[i].off + 1 + i);
		if ((uint32_t)d[i].off + d[i].len <= c->tx_size)
			d[i].len = UINT16_MAX;
	}
	return post(c, &c->q->tx, d, c->burst);
}

static unsigned
k_too_big(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i;

	if (c->max_udp + 1 > c->tx_size)
		return 0; /* cannot be expressed inside one buffer */
	for (i = 0; i < c->burst; i++)
		d[i] = valid_send(c, some_buf(c, i), (uint16_t)(c->max_udp + 1));
	return post(c, &c->q->tx, d, c->burst);
}

static unsigned
k_sock(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i;

	for (i = 0; i < c->burst; i++) {
		d[i] = valid_send(c, some_buf(c, i), 10);
		/* out of range, and in range but never bound by this app */
		d[i].sock = i % 2 ? BP_MAX_SOCKS + i : (uint32_t)(c->sock + 1 + i) % BP_MAX_SOCKS;
		if (d[i].sock == (uint32_t)c->sock)
			d[i].sock = BP_MAX_SOCKS;
	}
	return post(c, &c->q->tx, d, c->burst);
}

static unsigned
k_addr(struct ctx *c)
{
	static const char *const bad[] = {"0.0.0.0",         "127.0.0.1",       "224.0.0.1",
	                                  "239.255.255.250", "255.255.255.255", "240.0.0.1",
	                                  "0.1.2.3"};
	struct bp_desc d[MAX_BURST];
	struct in_addr a;
	unsigned i;

	for (i = 0; i < c->burst; i++) {
		inet_pton(AF_INET, bad[(c->round + i) % (sizeof(bad) / sizeof(bad[0]))], &a);
		d[i] = valid_send(c, some_buf(c, i), 10);
		d[i].addr_be = a.s_addr;
	}
	return post(c, &c->q->tx, d, c->burst);
}

static unsigned
k_port(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i;

	for (i = 0; i < c->burst; i++) {
		d[i] = valid_send(c, some_buf(c, i), 10);
		d[i].port_be = 0;
	}
	return post(c, &c->q->tx, d, c->burst);
}

/* DONE of RX buffers the gateway never gave us (nobody sends to this app). */
static unsigned
k_not_owned(struct ctx *c)
{
	struct bp_desc d[MAX_BURST];
	unsigned i;

	for (i = 0; i < c->burst; i++)
		d[i] = (struct bp_desc){.buf = (uint32_t)((c->round + i) % c->q->rx_bufs),
		                        .type = BP_DESC_RX_DONE};
	return post(c, &c->q->done, d, c->burst);
}

/* The same TX buffer posted twice in one burst: the second is in flight. One real datagram. */
static unsigned
k_in_flight(struct ctx *c)
{
	struct bp_desc d[2];

	if (c->round % 8)
		return 0; /* each round sends a real datagram to the peer: keep it slow */
	memcpy(c->q->tx_base, "hostile in-flight", 17);
	d[0] = valid_send(c, 0, 17);
	d[1] = d[0];
	return post(c, &c->q->tx, d, 2) > 1 ? 1 : 0;
}

/*
 * Move a producer index we own out of range for a moment, then put it back. Backwards by more
 * than the ring (never sane, however far the gateway has read) or far forwards.
 */
static unsigned
move_index(struct ctx *c, bool back)
{
	struct bp_ring *rings[] = {&c->q->tx, &c->q->done};
	unsigned i;

	for (i = 0; i < 2; i++) {
		struct bp_ring *r = rings[i];
		uint32_t bad = back ? r->head - r->size - 1 - (uint32_t)(c->round % 1000)
		                    : r->head + r->size * 16 + (uint32_t)(c->round % 1000);

		atomic_store_explicit(&r->shm->prod, bad, memory_order_release);
		doorbell(c);
		sleep_us(300); /* the worker polls every few tens of microseconds */
		atomic_store_explicit(&r->shm->prod, r->head, memory_order_release);
	}
	return 2;
}

static unsigned
k_ring_back(struct ctx *c)
{
	return move_index(c, true);
}

static unsigned
k_ring_fwd(struct ctx *c)
{
	return move_index(c, false);
}

/*
 * Descriptors and payload changed after posting (time of check vs time of use): post a valid
 * datagram, then at once rewrite its slot into garbage and scribble over its buffer. Whichever
 * version the gateway reads, it must read it once and either send a well-formed datagram or
 * drop and count it.
 */
static unsigned
k_rewrite(struct ctx *c)
{
	struct bp_desc d;
	uint32_t buf = some_buf(c, 0), slot;
	uint8_t *p;
	int i;

	if (c->round % 4)
		return 0; /* a real datagram when the gateway reads the valid version */
	p = c->q->tx_base + (size_t)buf * c->tx_size;
	memcpy(p, "hostile rewrite", 15);
	d = valid_send(c, buf, 15);
	if (!bp_ring_enqueue_burst(&c->q->tx, &d, 1))
		return 0;
	slot = (c->q->tx.head - 1) & c->q->tx.mask;
	for (i = 0; i < 200; i++) {
		volatile struct bp_desc *s = &c->q->tx.slot[slot];

		s->len = (uint16_t)(i % 2 ? UINT16_MAX : 15);
		s->buf = i % 3 ? BP_BUF_NONE : buf;
		s->type = (uint16_t)(i % 5 ? 77 : BP_DESC_UDP_SEND);
		memset(p, i, c->tx_size);
	}
	c->q->tx.slot[slot].type = 77;
	c->q->tx.slot[slot].buf = BP_BUF_NONE;
	doorbell(c);
	return 1;
}

static const struct {
	const char *name;    /* on the command line and in SUMMARY */
	const char *counter; /* the gateway's per-channel counter it must raise ("" = none) */
	attack_fn fn;
} kinds[] = {
        {"type", "desc_bad_type", k_type},
        {"flags", "desc_bad_flags", k_flags},
        {"reserved", "desc_bad_reserved", k_reserved},
        {"buf", "desc_bad_buf", k_buf},
        {"offset", "desc_bad_offset", k_offset},
        {"length", "desc_bad_length", k_length},
        {"too_big", "desc_too_big", k_too_big},
        {"sock", "desc_bad_sock", k_sock},
        {"addr", "desc_bad_addr", k_addr},
        {"port", "desc_bad_port", k_port},
        {"not_owned", "desc_not_owned", k_not_owned},
        {"in_flight", "desc_in_flight", k_in_flight},
        {"ring_back", "ring_bad_index", k_ring_back},
        {"ring_fwd", "ring_bad_index", k_ring_fwd},
        {"rewrite", "", k_rewrite},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static int
parse_kinds(const char *s, bool *on)
{
	char buf[512], *tok, *save = NULL;
	size_t i;

	if (!s || !strcmp(s, "all")) {
		for (i = 0; i < NKINDS; i++)
			on[i] = true;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NKINDS && strcmp(kinds[i].name, tok); i++)
			;
		if (i == NKINDS) {
			fprintf(stderr, "hostile_app: unknown kind '%s'; kinds:", tok);
			for (i = 0; i < NKINDS; i++)
				fprintf(stderr, " %s", kinds[i].name);
			fprintf(stderr, "\n");
			return -1;
		}
		on[i] = true;
	}
	return 0;
}

static void
hold(struct bp_queue *q, double secs, const char *what)
{
	double end = now_s() + secs;

	printf("HOLDING %s\n", what);
	while (!stop_hold && now_s() < end) {
		int r = bp_wait(q, 100);

		if (r < 0 && r != -EINTR) {
			printf("GONE %s\n", bp_strerror(r));
			return;
		}
		if (r > 0) {
			struct bp_desc d[MAX_BURST];

			/* drain what arrives without handing anything back */
			(void)bp_ring_dequeue_burst(&q->rx, d, MAX_BURST);
			(void)bp_ring_dequeue_burst(&q->comp, d, MAX_BURST);
		}
	}
}

static int
do_attack(struct bp_queue *q, int sock, const bool *on, double duration, double hold_s,
          unsigned burst)
{
	struct ctx c = {.q = q, .sock = sock, .burst = burst};
	uint64_t attempts[NKINDS] = {0};
	double end = now_s() + duration;
	struct in_addr peer;
	size_t i;

	inet_pton(AF_INET, PEER_ADDR, &peer);
	c.peer_be = peer.s_addr;
	c.tx_size = bp_buf_size(q);
	c.max_udp = bp_max_udp_payload(q);
	printf("ATTACKING");
	for (i = 0; i < NKINDS; i++)
		if (on[i])
			printf(" %s", kinds[i].name);
	printf("\n");
	while (!stop_attack && now_s() < end && c.round < 1000000) {
		for (i = 0; i < NKINDS && !stop_attack; i++)
			if (on[i]) {
				attempts[i] += kinds[i].fn(&c);
				reap(&c);
			}
		c.round++;
		sleep_us(1000); /* a bounded rate: the test machine has two cores */
	}
	/* let the gateway finish with what is on the rings, then report */
	for (i = 0; i < 20; i++) {
		sleep_us(5000);
		reap(&c);
	}
	printf("SUMMARY rounds=%llu", (unsigned long long)c.round);
	for (i = 0; i < NKINDS; i++)
		if (on[i])
			printf(" %s=%llu", kinds[i].name, (unsigned long long)attempts[i]);
	printf("\n");
	printf("EXPECT");
	for (i = 0; i < NKINDS; i++)
		if (on[i] && attempts[i] && kinds[i].counter[0])
			printf(" %s:%s", kinds[i].name, kinds[i].counter);
	printf("\n");
	printf("COMPLETIONS bad=%llu", (unsigned long long)c.comp_bad);
	for (i = 0; i <= BP_DESC_ERR__MAX; i++)
		if (c.comp[i])
			printf(" %s=%llu",
			       i < BP_DESC_ERR__MAX ? bp_refusal_str((uint32_t)i) : "unknown",
			       (unsigned long long)c.comp[i]);
	printf("\n");
	hold(q, hold_s, "attack");
	return 0;
}

/* ---- write-rx ---------------------------------------------------------------------------- */

static int
do_write_rx(struct bp_queue *q, double wait_s)
{
	double end = now_s() + wait_s;
	volatile uint8_t *target = (volatile uint8_t *)(uintptr_t)q->rx_base;
	struct bp_rx rx[1];
	int n = 0, r;

	printf("WAITING\n");
	while (now_s() < end) {
		n = bp_recv_burst(q, rx, 1);
		if (n != 0)
			break;
		(void)bp_wait(q, 100);
	}
	if (n < 0) {
		fprintf(stderr, "hostile_app: receive: %s\n", bp_strerror(n));
		return 1;
	}
	if (n == 1) {
		printf("GOT len=%u data=%.*s\n", rx[0].len, (int)(rx[0].len < 64 ? rx[0].len : 64),
		       (const char *)rx[0].data);
		target = (volatile uint8_t *)(uintptr_t)rx[0].data;
	} else {
		printf("GOT nothing: writing to the RX area's first buffer\n");
	}
	/* no way back to a writable mapping either */
	r = mprotect(q->rx_map, q->rx_len, PROT_READ | PROT_WRITE);
	printf("MPROTECT %s\n", r == 0 ? "allowed (RX area writable!)" : strerrorname_np(errno));
	if (r == 0)
		return 1;
	printf("WRITING %p\n", (void *)(uintptr_t)target);
	fflush(stdout);
	target[0] = 'X'; /* must fault */
	printf("WROTE: the RX area is writable\n");
	return 1;
}

/* ---- hoard ------------------------------------------------------------------------------- */

static int
do_hoard(struct bp_queue *q, double hold_s)
{
	double end = now_s() + hold_s;
	struct bp_rx rx[32];
	uint64_t got = 0;
	int n;

	printf("HOARDING rx_bufs=%u\n", q->rx_bufs);
	while (!stop_hold && now_s() < end) {
		n = bp_recv_burst(q, rx, 32);
		if (n < 0) {
			printf("GONE %s\n", bp_strerror(n));
			break;
		}
		got += (uint64_t)n; /* never bp_done() */
		if (report) {
			report = 0;
			printf("HOARDED %llu\n", (unsigned long long)got);
		}
		if (n == 0)
			(void)bp_wait(q, 50);
	}
	printf("HOARDED %llu\n", (unsigned long long)got);
	return 0;
}

/* ---- tcp-guess -------------------------------------------------------------------------- */

/*
 * Name TCP connections this queue does not have: every slot of the first generations (what
 * another app's ids look like), with SEND (a real buffer), SHUTDOWN, CLOSE and ABORT, plus
 * CONNECTs to addresses it may not reach. Raw descriptors on the ring, for -d seconds. Every SEND
 * must come back refused; nothing may reach another app's connections.
 */
static int
do_tcp_guess(struct bp_queue *q, double secs, double hold_s)
{
	static const uint16_t cmds[] = {BP_DESC_TCP_SHUTDOWN, BP_DESC_TCP_CLOSE, BP_DESC_TCP_ABORT};
	double end = now_s() + secs;
	uint64_t posted = 0, sends = 0, back = 0, refused = 0;
	uint32_t id = 0;

	while (!stop_attack && now_s() < end) {
		struct bp_desc d[16], c[32];
		unsigned n = 0, i, k;
		/* straight from the free stack: bp_buf_alloc would reap (and count) completions */
		uint8_t *b = q->tx_nfree ? q->tx_base + ((size_t)q->tx_free[--q->tx_nfree]
		                                         << q->tx_shift)
		                         : NULL;

		for (i = 0; i < 15; i++, id++) {
			uint32_t conn = (1 + (id >> 12) % 4) << 16 | (id & 0xfff);

			d[n++] = (struct bp_desc){
			        .buf = BP_BUF_NONE, .type = cmds[id % 3], .sock = conn};
		}
		if (b) {
			memset(b, 'h', 64);
			q->tx_state[(b - q->tx_base) >> q->tx_shift] = BUF_POSTED;
			d[n++] =
			        (struct bp_desc){.buf = (uint32_t)((b - q->tx_base) >> q->tx_shift),
			                         .len = 64,
			                         .type = BP_DESC_TCP_SEND,
			                         .sock = (1 + (id >> 12) % 4) << 16 | (id & 0xfff),
			                         .user = id};
			sends++;
		} else if (id % 64 == 0) {
			d[n++] = (struct bp_desc){.buf = BP_BUF_NONE,
			                          .type = BP_DESC_TCP_CONNECT,
			                          .addr_be =
			                                  htonl(0xc6120001), /* the gateway's own */
			                          .port_be = htons(80)};
		}
		posted += bp_ring_enqueue_burst(&q->tx, d, n);
		if (bp_ring_wakeup_needed(&q->tx)) {
			static const char one = 1;

			(void)send(q->db, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		while ((k = bp_ring_dequeue_burst(&q->comp, c, 32)) > 0)
			for (i = 0; i < k; i++) {
				if (c[i].type != BP_DESC_TCP_SENT || c[i].buf >= q->tx_bufs)
					continue;
				back++;
				refused += c[i].status != 0;
				q->tx_state[c[i].buf] = BUF_GW;
				q->tx_free[q->tx_nfree++] = c[i].buf;
			}
		/* the RESETs of the refused connects carry no buffer: drop them (bp_tcp_poll would
		 * also reap the COMP ring, which this loop counts itself) */
		while (bp_ring_dequeue_burst(&q->rx, c, 32) > 0)
			;
		usleep(200);
	}
	/* the last completions: every SEND comes back, bounded wait */
	end = now_s() + 3;
	while (back < sends && now_s() < end) {
		struct bp_desc c[32];
		unsigned k, i;

		k = bp_ring_dequeue_burst(&q->comp, c, 32);
		for (i = 0; i < k; i++)
			if (c[i].type == BP_DESC_TCP_SENT) {
				back++;
				refused += c[i].status != 0;
			}
		if (!k)
			usleep(1000);
	}
	printf("GUESSED posted=%llu sends=%llu back=%llu refused=%llu\n",
	       (unsigned long long)posted, (unsigned long long)sends, (unsigned long long)back,
	       (unsigned long long)refused);
	fflush(stdout);
	end = now_s() + hold_s; /* stay attached: the test reads this channel's counters */
	while (!stop_hold && now_s() < end)
		usleep(20000);
	return 0;
}

/* ---- tcp-close-send --------------------------------------------------------------------- */

static void
post_raw(struct bp_queue *q, const struct bp_desc *d, unsigned n)
{
	static const char one = 1;

	while (n && !stop_attack) {
		unsigned k = bp_ring_enqueue_burst(&q->tx, d, n);

		d += k;
		n -= k;
		if (bp_ring_wakeup_needed(&q->tx))
			(void)send(q->db, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n)
			usleep(1000);
	}
}

/* Reap completions: buffers back on the free stack; the status of the SEND with user `mark`. */
static unsigned
reap_sent(struct bp_queue *q, uint64_t mark, int *mark_status)
{
	struct bp_desc c[32];
	unsigned k, i, n = 0;

	while ((k = bp_ring_dequeue_burst(&q->comp, c, 32)) > 0)
		for (i = 0; i < k; i++) {
			if (c[i].type != BP_DESC_TCP_SENT || c[i].buf >= q->tx_bufs)
				continue;
			n++;
			if (c[i].user == mark)
				*mark_status = c[i].status;
			q->tx_state[c[i].buf] = BUF_GW;
			q->tx_free[q->tx_nfree++] = c[i].buf;
		}
	return n;
}

/*
 * Connect to -t DST:DPORT (a peer that never reads), fill the connection with -c full TX buffers
 * (beyond the engine's send queue: the gateway holds the rest), CLOSE, then SEND once more
 * (user 0xc105e): that SEND must come back refused at once (tcp_send_closed), never be sent
 * after the app's CLOSE. Prints "CLOSESEND connected=C sent=N status=closed|S|none".
 */
static int
do_tcp_close_send(struct bp_queue *q, const char *target, unsigned count)
{
	const uint64_t mark = 0xc105e;
	char host[64];
	const char *colon = target ? strrchr(target, ':') : NULL;
	struct in_addr dst;
	uint32_t conn = 0, size = 1u << q->tx_shift;
	int status = -1;
	unsigned posted = 0;
	double end;

	if (!colon || (size_t)(colon - target) >= sizeof(host))
		return usage();
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = 0;
	if (inet_pton(AF_INET, host, &dst) != 1)
		return usage();
	post_raw(q,
	         &(struct bp_desc){.buf = BP_BUF_NONE,
	                           .type = BP_DESC_TCP_CONNECT,
	                           .addr_be = dst.s_addr,
	                           .port_be = htons((uint16_t)strtoul(colon + 1, NULL, 10)),
	                           .user = 1},
	         1);
	for (end = now_s() + 5; !conn && now_s() < end;) {
		struct bp_desc e[32];
		unsigned k = bp_ring_dequeue_burst(&q->rx, e, 32), i;

		for (i = 0; i < k; i++) {
			if (e[i].type == BP_DESC_TCP_CONNECTED)
				conn = e[i].sock;
			else if (e[i].type == BP_DESC_TCP_RESET)
				end = 0;
		}
		if (!k)
			usleep(1000);
	}
	if (!conn) {
		printf("CLOSESEND connected=0 sent=0 status=none\n");
		fflush(stdout);
		return 1;
	}
	/* the peer never reads: its window closes, the engine's send queue fills, the gateway
	 * holds the rest */
	while (posted < count && q->tx_nfree > 1 && !stop_attack) {
		uint32_t b = q->tx_free[--q->tx_nfree];

		memset(q->tx_base + ((size_t)b << q->tx_shift), 'c', size);
		q->tx_state[b] = BUF_POSTED;
		post_raw(q,
		         &(struct bp_desc){.buf = b,
		                           .len = (uint16_t)(size > 65535 ? 65535 : size),
		                           .type = BP_DESC_TCP_SEND,
		                           .sock = conn,
		                           .user = posted + 2},
		         1);
		posted++;
		(void)reap_sent(q, mark, &status);
	}
	usleep(300000);
	(void)reap_sent(q, mark, &status);
	post_raw(q, &(struct bp_desc){.buf = BP_BUF_NONE, .type = BP_DESC_TCP_CLOSE, .sock = conn},
	         1);
	if (q->tx_nfree) {
		uint32_t b = q->tx_free[--q->tx_nfree];

		memset(q->tx_base + ((size_t)b << q->tx_shift), 'X', 64);
		q->tx_state[b] = BUF_POSTED;
		post_raw(q,
		         &(struct bp_desc){.buf = b,
		                           .len = 64,
		                           .type = BP_DESC_TCP_SEND,
		                           .sock = conn,
		                           .user = mark},
		         1);
	}
	for (end = now_s() + 2; status < 0 && now_s() < end;) {
		if (!reap_sent(q, mark, &status))
			usleep(1000);
	}
	if (status == BP_DESC_ERR_CLOSED)
		printf("CLOSESEND connected=1 sent=%u status=closed\n", posted);
	else if (status >= 0)
		printf("CLOSESEND connected=1 sent=%u status=%d\n", posted, status);
	else
		printf("CLOSESEND connected=1 sent=%u status=none\n", posted);
	fflush(stdout);
	return 0;
}

/* ---- send ------------------------------------------------------------------------------- */

static int
do_send(struct bp_queue *q, int sock, const char *target, unsigned count, bool crash)
{
	char host[64];
	const char *colon = target ? strrchr(target, ':') : NULL;
	uint32_t max = bp_max_udp_payload(q);
	struct bp_queue_stats st;
	struct in_addr dst;
	unsigned long dport;
	unsigned seq = 0;
	double end;

	if (!colon || (size_t)(colon - target) >= sizeof(host)) {
		fprintf(stderr, "hostile_app: send needs -t DST:DPORT\n");
		return 2;
	}
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = 0;
	dport = strtoul(colon + 1, NULL, 10);
	if (inet_pton(AF_INET, host, &dst) != 1 || dport == 0 || dport > 65535 || count > 1472) {
		fprintf(stderr, "hostile_app: bad -t %s or -c %u (at most 1472)\n", target, count);
		return 2;
	}
	end = now_s() + 10;
	while (seq < count && now_s() < end) {
		uint8_t *b = bp_buf_alloc(q);
		uint32_t size = seq == count - 1 ? max : 1 + (seq * 331u) % max, i;
		struct bp_tx tx;
		int r;

		if (!b) {
			(void)bp_wait(q, 10); /* all in flight: wait for completions */
			continue;
		}
		for (i = 0; i < size; i++)
			b[i] = (uint8_t)(seq * 7 + i);
		for (i = 0; i < 4 && i < size; i++)
			b[i] = (uint8_t)(seq >> (24 - 8 * i));
		tx = (struct bp_tx){.data = b,
		                    .len = size,
		                    .sock = (uint32_t)sock,
		                    .addr = dst.s_addr,
		                    .port = htons((uint16_t)dport)};
		r = bp_send_burst(q, &tx, 1);
		if (r != 1) {
			fprintf(stderr, "hostile_app: send %u: %s\n", seq, bp_strerror(r));
			bp_buf_free(q, b);
			return 1;
		}
		seq++;
	}
	if (crash) {
		printf("POSTED %u\n", seq);
		fflush(stdout);
		_exit(0);
	}
	end = now_s() + 5;
	for (;;) {
		bp_queue_stats(q, &st);
		if (st.tx_done + st.tx_refused >= seq || now_s() > end)
			break;
		(void)bp_wait(q, 10); /* reaps completions */
	}
	printf("SENT posted=%u done=%llu refused=%llu last=%s\n", seq,
	       (unsigned long long)st.tx_done, (unsigned long long)st.tx_refused,
	       st.tx_refused ? bp_refusal_str(st.tx_last_refusal) : "-");
	return seq == count && st.tx_done == count ? 0 : 1;
}

/* ---- talk -------------------------------------------------------------------------------- */

static int
do_talk(struct bp_queue *q, int sock, const char *target, unsigned count, double listen_s,
        unsigned want)
{
	static uint8_t seen[65536];
	char host[64];
	const char *colon = target ? strrchr(target, ':') : NULL;
	struct bp_queue_stats st;
	struct in_addr dst = {0};
	unsigned long dport = 0;
	unsigned i, n = 0, posted = 0;
	double end;
	int r;

	if (count) {
		if (!colon || (size_t)(colon - target) >= sizeof(host))
			return 2;
		memcpy(host, target, (size_t)(colon - target));
		host[colon - target] = 0;
		dport = strtoul(colon + 1, NULL, 10);
		if (inet_pton(AF_INET, host, &dst) != 1 || dport == 0 || dport + count > 65536)
			return 2;
	}
	end = now_s() + 10;
	while (posted < count && now_s() < end) {
		uint8_t *b = bp_buf_alloc(q);
		struct bp_tx tx;

		if (!b) {
			(void)bp_wait(q, 10);
			continue;
		}
		memcpy(b, "open", 4);
		tx = (struct bp_tx){.data = b,
		                    .len = 4,
		                    .sock = (uint32_t)sock,
		                    .addr = dst.s_addr,
		                    .port = htons((uint16_t)(dport + posted))};
		r = bp_send_burst(q, &tx, 1);
		if (r != 1) {
			bp_buf_free(q, b);
			if (r == -BP_ESHUTDOWN) {
				printf("SHUTDOWN\n");
				return 3;
			}
			fprintf(stderr, "hostile_app: talk send: %s\n", bp_strerror(r));
			return 1;
		}
		posted++;
	}
	memset(&st, 0, sizeof(st));
	end = now_s() + 5;
	while (posted) {
		bp_queue_stats(q, &st);
		if (st.tx_done + st.tx_refused >= posted || now_s() > end)
			break;
		(void)bp_wait(q, 10);
	}
	printf("SENT done=%llu refused=%llu\n", (unsigned long long)st.tx_done,
	       (unsigned long long)st.tx_refused);
	end = now_s() + listen_s;
	while (!stop_hold && now_s() < end && (!want || n < want)) {
		struct bp_rx rx[32];

		r = bp_recv_burst(q, rx, 32);
		if (r == -BP_ESHUTDOWN) {
			printf("SHUTDOWN\n");
			return 3;
		}
		if (r <= 0) {
			r = bp_wait(q, 20);
			if (r == -BP_ESHUTDOWN) {
				printf("SHUTDOWN\n");
				return 3;
			}
			continue;
		}
		for (i = 0; i < (unsigned)r; i++) {
			uint8_t *b = bp_buf_alloc(q);

			seen[ntohs(rx[i].port)] = 1;
			n++;
			if (b) {
				struct bp_tx tx = {.data = b,
				                   .len = 3,
				                   .sock = (uint32_t)sock,
				                   .addr = rx[i].addr,
				                   .port = rx[i].port};

				memcpy(b, "ack", 3);
				if (bp_send_burst(q, &tx, 1) != 1)
					bp_buf_free(q, b);
			}
		}
		bp_done(q, rx, (unsigned)r);
	}
	printf("RECV n=%u ports=", n);
	for (i = 0, r = 0; i < 65536; i++)
		if (seen[i])
			printf("%s%u", r++ ? "," : "", i);
	printf("\n");
	return 0;
}

/* ---- raw --------------------------------------------------------------------------------- */

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Read up to MAX_FRAMES hex lines. Returns how many, or -1. */
static int
read_frames(const char *path, uint8_t (*fr)[2048], uint32_t *len)
{
	char line[8192];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f) {
		fprintf(stderr, "hostile_app: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (n < MAX_FRAMES && fgets(line, sizeof(line), f)) {
		size_t i, k = 0;

		for (i = 0; line[i] && line[i] != '\n' && k < 2048; i += 2) {
			int hi = hexval(line[i]), lo = line[i + 1] ? hexval(line[i + 1]) : -1;

			if (hi < 0 || lo < 0)
				break;
			fr[n][k++] = (uint8_t)(hi << 4 | lo);
		}
		if (k) {
			len[n] = (uint32_t)k;
			n++;
		}
	}
	fclose(f);
	return n;
}

static int
do_raw(struct bp_queue *q, int sock, const char *file, double listen_s, unsigned want)
{
	static uint8_t fr[MAX_FRAMES][2048];
	uint32_t len[MAX_FRAMES];
	struct bp_queue_stats st0, st1;
	struct bp_rx rx[32];
	unsigned got = 0;
	double end;
	int n, i, k, r;

	n = file ? read_frames(file, fr, len) : 0;
	if (n < 0)
		return 1;
	for (i = 0; i < n; i++) {
		void *b = bp_buf_alloc(q);
		struct bp_tx tx;

		if (!b) {
			printf("TX %d nobuf\n", i);
			continue;
		}
		memcpy(b, fr[i], len[i]);
		tx = (struct bp_tx){.data = b, .len = len[i], .sock = (uint32_t)sock};
		bp_queue_stats(q, &st0);
		r = bp_send_burst(q, &tx, 1);
		if (r != 1) {
			printf("TX %d notposted %s\n", i, bp_strerror(r));
			bp_buf_free(q, b);
			continue;
		}
		end = now_s() + 3;
		for (;;) { /* one at a time: wait for this frame's completion */
			bp_queue_stats(q, &st1);
			if (st1.tx_done + st1.tx_refused > st0.tx_done + st0.tx_refused)
				break;
			if (now_s() > end)
				break;
			(void)bp_wait(q, 10); /* reaps completions */
		}
		if (st1.tx_refused > st0.tx_refused)
			printf("TX %d refused %s\n", i, bp_refusal_str(st1.tx_last_refusal));
		else if (st1.tx_done > st0.tx_done)
			printf("TX %d sent\n", i);
		else
			printf("TX %d timeout\n", i);
	}
	printf("TXDONE %d\n", n);
	end = now_s() + listen_s;
	while (now_s() < end && (!want || got < want)) {
		k = bp_recv_burst(q, rx, 32);
		if (k < 0) {
			printf("GONE %s\n", bp_strerror(k));
			return 1;
		}
		for (i = 0; i < k; i++) {
			uint32_t j;

			printf("RX kind=%u len=%u hex=", rx[i].kind, rx[i].len);
			for (j = 0; j < rx[i].len; j++)
				printf("%02x", ((const uint8_t *)rx[i].data)[j]);
			printf("\n");
		}
		if (k > 0) {
			got += (unsigned)k;
			bp_done(q, rx, (unsigned)k);
		} else {
			(void)bp_wait(q, 50);
		}
	}
	printf("RXDONE %u\n", got);
	return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	const char *path = BP_DEFAULT_SOCKET, *kinds_arg = NULL, *file = NULL, *target = NULL;
	const char *mode;
	double duration = 10, hold_s = 60, wait_s = 5, listen_s = 2;
	unsigned want = 0, burst = 8, rxn = 0, count = 100;
	bool on[NKINDS] = {false}, crash = false;
	struct bp_attach_opts o;
	struct bp_handle *h;
	struct bp_queue *q;
	struct in_addr addr;
	unsigned long port = 0;
	int opt, sock, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "s:k:d:H:w:f:l:n:b:r:t:c:x")) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'k':
			kinds_arg = optarg;
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'H':
			hold_s = atof(optarg);
			break;
		case 'w':
			wait_s = atof(optarg);
			break;
		case 'f':
			file = optarg;
			break;
		case 'l':
			listen_s = atof(optarg);
			break;
		case 'n':
			want = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			burst = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rxn = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			target = optarg;
			break;
		case 'c':
			count = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'x':
			crash = true;
			break;
		default:
			return usage();
		}
	}
	if (burst < 2 || burst > MAX_BURST || duration < 0 || duration > 600 || hold_s < 0 ||
	    hold_s > 600 || wait_s > 60 || listen_s > 60)
		return usage();
	if (argc - optind < 3)
		return usage();
	mode = argv[optind];
	if (inet_pton(AF_INET, argv[optind + 2], &addr) != 1)
		return usage();
	if (strcmp(mode, "raw")) {
		if (argc - optind != 4)
			return usage();
		port = strtoul(argv[optind + 3], NULL, 10);
		if (port == 0 || port > 65535)
			return usage();
	}
	if (strcmp(mode, "attack") && strcmp(mode, "write-rx") && strcmp(mode, "hoard") &&
	    strcmp(mode, "raw") && strcmp(mode, "send") && strcmp(mode, "talk") &&
	    strcmp(mode, "tcp-guess") && strcmp(mode, "tcp-close-send"))
		return usage();
	if (!strcmp(mode, "attack") && parse_kinds(kinds_arg, on))
		return 2;

	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);

	bp_attach_opts_init(&o);
	o.app_name = "hostile_app";
	if (!strcmp(mode, "attack")) {
		o.tx_buf_size = 2048;        /* so that bad offsets fit the 16-bit field */
		o.tx_ring = o.tx_bufs = 512; /* room for a round without reusing a buffer */
	}
	if (rxn)
		o.rx_ring = o.rx_bufs = rxn;
	h = bp_attach(path, argv[optind + 1], 1, &o);
	if (!h && errno == BP_ESIZES && o.tx_buf_size) {
		fprintf(stderr,
		        "hostile_app: 512 x 2 KiB TX buffers refused (%s), using defaults\n",
		        bp_errmsg());
		o.tx_buf_size = o.tx_ring = o.tx_bufs = 0;
		h = bp_attach(path, argv[optind + 1], 1, &o);
	}
	if (!h) {
		fprintf(stderr, "hostile_app: attach: %s %s\n", bp_strerror(errno), bp_errmsg());
		return 1;
	}
	q = bp_queue(h, 0);
	printf("ATTACHED pid=%d rx_ring=%u rx_bufs=%u rx_buf_size=%u tx_ring=%u tx_bufs=%u "
	       "tx_buf_size=%u max_udp=%u\n",
	       (int)getpid(), h->geom.rx_ring, h->geom.rx_bufs, h->geom.rx_buf_size,
	       h->geom.tx_ring, h->geom.tx_bufs, h->geom.tx_buf_size, bp_max_udp_payload(q));
	sock = strcmp(mode, "raw") ? bp_udp_bind(q, addr.s_addr, htons((uint16_t)port))
	                           : bp_raw_bind(q, addr.s_addr);
	if (sock < 0) {
		fprintf(stderr, "hostile_app: bind: %s %s\n", bp_strerror(sock), bp_errmsg());
		bp_detach(h);
		return 1;
	}
	printf("BOUND sock=%d\n", sock);

	if (!strcmp(mode, "attack"))
		ret = do_attack(q, sock, on, duration, hold_s, burst);
	else if (!strcmp(mode, "write-rx"))
		ret = do_write_rx(q, wait_s);
	else if (!strcmp(mode, "hoard"))
		ret = do_hoard(q, hold_s);
	else if (!strcmp(mode, "send"))
		ret = do_send(q, sock, target, count, crash);
	else if (!strcmp(mode, "talk"))
		ret = do_talk(q, sock, target, count, listen_s, want);
	else if (!strcmp(mode, "tcp-guess"))
		ret = do_tcp_guess(q, duration, hold_s);
	else if (!strcmp(mode, "tcp-close-send"))
		ret = do_tcp_close_send(q, target, count);
	else
		ret = do_raw(q, sock, file, listen_s, want);
	bp_detach(h);
	return ret;
}
