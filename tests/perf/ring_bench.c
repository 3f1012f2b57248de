/* ring_bench.c - bp_ring (32-byte descriptors) vs DPDK rte_ring SP/SC (pointers), core to core. */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ring.h>

#include "bypass/bp_ring.h"

/*
 * Not a test: a measurement. One producer thread and one consumer thread, each pinned to its own
 * CPU, move N items in bursts of 32 through a ring of 1024 slots:
 *   bp_ring   the channel's ring: 32-byte descriptors copied in and out (read once)
 *   rte_ring  DPDK's SP/SC ring of pointers, rte_ring_init on plain memory (no EAL): the floor
 * Also the same pair on one thread (enqueue then dequeue), the cost without cache-line transfer.
 *
 *   tests/perf/ring_bench [N] [CPU_PROD CPU_CONS]
 */

#define BURST 32
#define SLOTS 1024

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct run {
	uint64_t n;
	int cpu_prod, cpu_cons;
	struct bp_ring_shm *bp;
	struct rte_ring *rte;
	atomic_int go;
	uint64_t t0, t1;
	uint64_t check;
};

static void *
bp_prod(void *arg)
{
	struct run *r = arg;
	struct bp_desc d[BURST];
	struct bp_ring ring;
	uint64_t sent = 0;
	unsigned i, k;

	pin(r->cpu_prod);
	bp_ring_attach_prod(&ring, r->bp, SLOTS);
	while (!atomic_load(&r->go))
		;
	while (sent < r->n) {
		k = r->n - sent < BURST ? (unsigned)(r->n - sent) : BURST;
		for (i = 0; i < k; i++)
			d[i] = (struct bp_desc){.buf = (uint32_t)(sent + i),
			                        .len = 64,
			                        .type = BP_DESC_UDP_RECV,
			                        .user = sent + i};
		k = bp_ring_enqueue_burst(&ring, d, k);
		if (k)
			bp_ring_wakeup_needed(&ring); /* what the gateway does after each burst */
		sent += k;
	}
	return NULL;
}

static void *
bp_cons(void *arg)
{
	struct run *r = arg;
	struct bp_desc d[BURST];
	struct bp_ring ring;
	uint64_t got = 0, sum = 0;
	unsigned i, k;

	pin(r->cpu_cons);
	bp_ring_attach_cons(&ring, r->bp, SLOTS);
	atomic_store(&r->go, 1);
	r->t0 = now_ns();
	while (got < r->n) {
		k = bp_ring_dequeue_burst(&ring, d,
		                          r->n - got < BURST ? (unsigned)(r->n - got) : BURST);
		for (i = 0; i < k; i++)
			sum += d[i].user;
		got += k;
	}
	r->t1 = now_ns();
	r->check = sum;
	return NULL;
}

static void *
rte_prod(void *arg)
{
	struct run *r = arg;
	void *p[BURST];
	uint64_t sent = 0;
	unsigned i, k;

	pin(r->cpu_prod);
	while (!atomic_load(&r->go))
		;
	while (sent < r->n) {
		k = r->n - sent < BURST ? (unsigned)(r->n - sent) : BURST;
		for (i = 0; i < k; i++)
			p[i] = (void *)(uintptr_t)(sent + i);
		sent += rte_ring_sp_enqueue_burst(r->rte, p, k, NULL);
	}
	return NULL;
}

static void *
rte_cons(void *arg)
{
	struct run *r = arg;
	void *p[BURST];
	uint64_t got = 0, sum = 0;
	unsigned i, k;

	pin(r->cpu_cons);
	atomic_store(&r->go, 1);
	r->t0 = now_ns();
	while (got < r->n) {
		k = rte_ring_sc_dequeue_burst(
		        r->rte, p, r->n - got < BURST ? (unsigned)(r->n - got) : BURST, NULL);
		for (i = 0; i < k; i++)
			sum += (uintptr_t)p[i];
		got += k;
	}
	r->t1 = now_ns();
	r->check = sum;
	return NULL;
}

static void
report(const char *what, const struct run *r)
{
	double s = (double)(r->t1 - r->t0) / 1e9;
	uint64_t want = r->n * (r->n - 1) / 2;

	printf("%-34s %8.1f Mitems/s %7.2f ns/item%s\n", what, (double)r->n / s / 1e6,
	       (double)(r->t1 - r->t0) / (double)r->n, r->check == want ? "" : "  CHECKSUM WRONG");
}

static void
two_threads(const char *what, struct run *r, void *(*prod)(void *), void *(*cons)(void *))
{
	pthread_t tp, tc;

	atomic_store(&r->go, 0);
	pthread_create(&tc, NULL, cons, r);
	pthread_create(&tp, NULL, prod, r);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	report(what, r);
}

static void
one_thread(struct run *r)
{
	struct bp_desc d[BURST], o[BURST];
	struct bp_ring p, c;
	void *pp[BURST];
	uint64_t i, t0, n = r->n / BURST;
	unsigned j;

	bp_ring_format(r->bp, 0);
	bp_ring_attach_prod(&p, r->bp, SLOTS);
	bp_ring_attach_cons(&c, r->bp, SLOTS);
	memset(d, 0, sizeof(d));
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		d[0].user = i;
		bp_ring_enqueue_burst(&p, d, BURST);
		bp_ring_dequeue_burst(&c, o, BURST);
	}
	printf("%-34s %8.2f ns/item (enqueue + dequeue, burst %d)\n", "bp_ring, one thread",
	       (double)(now_ns() - t0) / (double)(n * BURST), BURST);
	for (j = 0; j < BURST; j++)
		pp[j] = (void *)(uintptr_t)j;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		rte_ring_sp_enqueue_burst(r->rte, pp, BURST, NULL);
		rte_ring_sc_dequeue_burst(r->rte, pp, BURST, NULL);
	}
	printf("%-34s %8.2f ns/item (enqueue + dequeue, burst %d)\n",
	       "rte_ring SP/SC pointers, one thread", (double)(now_ns() - t0) / (double)(n * BURST),
	       BURST);
}

int
main(int argc, char **argv)
{
	struct run r = {.n = 20000000, .cpu_prod = 0, .cpu_cons = 1};
	ssize_t sz;

	if (argc > 1)
		r.n = strtoull(argv[1], NULL, 0);
	if (argc > 3) {
		r.cpu_prod = atoi(argv[2]);
		r.cpu_cons = atoi(argv[3]);
	}
	r.bp = aligned_alloc(BP_RING_ALIGN, sizeof(*r.bp) + SLOTS * sizeof(struct bp_desc));
	sz = rte_ring_get_memsize(SLOTS);
	r.rte = aligned_alloc(128, (size_t)sz);
	if (!r.bp || sz < 0 || !r.rte ||
	    rte_ring_init(r.rte, "bench", SLOTS, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
		fprintf(stderr, "ring_bench: setup failed\n");
		return 1;
	}
	printf("ring_bench: %" PRIu64
	       " items, burst %d, %d slots, producer CPU %d, consumer CPU %d\n",
	       r.n, BURST, SLOTS, r.cpu_prod, r.cpu_cons);
	bp_ring_format(r.bp, 0);
	two_threads("bp_ring 32-byte descriptors", &r, bp_prod, bp_cons);
	two_threads("rte_ring SP/SC pointers", &r, rte_prod, rte_cons);
	one_thread(&r);
	free(r.bp);
	free(r.rte);
	return 0;
}
