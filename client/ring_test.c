/* ring_test.c - SPSC ring: burst ops, full/empty, wrap-around, hostile indexes, doorbell, stress.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bypass/bp_ring.h"
#include "check.h"

static struct bp_ring_shm *
ring_new(uint32_t size, uint32_t start)
{
	struct bp_ring_shm *shm;

	shm = aligned_alloc(BP_RING_ALIGN, sizeof(*shm) + size * sizeof(struct bp_desc));
	REQUIRE(shm);
	memset(shm, 0xa5, sizeof(*shm) + size * sizeof(struct bp_desc));
	bp_ring_format(shm, start);
	return shm;
}

static void
fill(struct bp_desc *d, unsigned n, uint64_t first)
{
	unsigned i;

	for (i = 0; i < n; i++)
		d[i] = (struct bp_desc){.buf = (uint32_t)(first + i), .user = first + i};
}

static void
test_basic(void)
{
	struct bp_ring_shm *shm = ring_new(16, 0);
	struct bp_ring p, c;
	struct bp_desc in[32], out[32];
	unsigned i;

	bp_ring_attach_prod(&p, shm, 16);
	bp_ring_attach_cons(&c, shm, 16);
	CHECK_EQ(bp_ring_free_count(&p), 16);
	CHECK_EQ(bp_ring_count(&c), 0);
	CHECK_EQ(bp_ring_dequeue_burst(&c, out, 8), 0);

	fill(in, 10, 100);
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 10), 10);
	CHECK_EQ(bp_ring_count(&c), 10);
	CHECK_EQ(bp_ring_dequeue_burst(&c, out, 4), 4);
	for (i = 0; i < 4; i++)
		CHECK_EQ(out[i].user, 100 + i);
	CHECK_EQ(bp_ring_free_count(&p), 10);

	/* peek does not consume; consume releases */
	CHECK_EQ(bp_ring_peek(&c, out, 3), 3);
	CHECK_EQ(out[0].user, 104);
	CHECK_EQ(bp_ring_peek(&c, out, 3), 3);
	CHECK_EQ(out[0].user, 104);
	bp_ring_consume(&c, 2);
	CHECK_EQ(bp_ring_dequeue_burst(&c, out, 32), 4);
	CHECK_EQ(out[0].user, 106);
	CHECK_EQ(out[3].user, 109);
	/* consume more than was there: clamped */
	bp_ring_consume(&c, 5);
	CHECK_EQ(atomic_load(&shm->cons), 10);
	free(shm);
}

static void
test_full_empty(void)
{
	struct bp_ring_shm *shm = ring_new(16, 0);
	struct bp_ring p, c;
	struct bp_desc in[32], out[32];

	bp_ring_attach_prod(&p, shm, 16);
	bp_ring_attach_cons(&c, shm, 16);
	fill(in, 20, 0);
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 20), 16); /* takes what fits */
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 1), 0);   /* full */
	CHECK_EQ(bp_ring_free_count(&p), 0);
	CHECK_EQ(bp_ring_count(&c), 16);
	CHECK_EQ(bp_ring_dequeue_burst(&c, out, 32), 16);
	CHECK_EQ(out[15].user, 15);
	CHECK_EQ(bp_ring_dequeue_burst(&c, out, 32), 0); /* empty */
	CHECK_EQ(bp_ring_free_count(&p), 16);
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 0), 0);
	CHECK_EQ(p.bad + c.bad, 0);
	free(shm);
}

/* Indexes near UINT32_MAX: every burst size across the wrap, sequence intact. */
static void
test_wrap(void)
{
	uint32_t starts[] = {UINT32_MAX - 5, UINT32_MAX, UINT32_MAX - 15, 0x7ffffffa};
	struct bp_desc in[64], out[64];
	struct bp_ring p, c;
	uint64_t seq_in, seq_out;
	unsigned s, round, k, got, i;

	for (s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		struct bp_ring_shm *shm = ring_new(32, starts[s]);

		bp_ring_attach_prod(&p, shm, 32);
		bp_ring_attach_cons(&c, shm, 32);
		CHECK_EQ(p.head, starts[s]);
		seq_in = seq_out = 0;
		for (round = 0; round < 200; round++) {
			k = 1 + (round * 7) % 40;
			fill(in, k, seq_in);
			seq_in += bp_ring_enqueue_burst(&p, in, k);
			got = bp_ring_dequeue_burst(&c, out, 1 + (round * 5) % 33);
			for (i = 0; i < got; i++)
				CHECK_EQ(out[i].user, seq_out + i);
			seq_out += got;
			CHECK(seq_in - seq_out <= 32);
		}
		got = bp_ring_dequeue_burst(&c, out, 64);
		for (i = 0; i < got; i++)
			CHECK_EQ(out[i].user, seq_out + i);
		seq_out += got;
		CHECK_EQ(seq_out, seq_in);
		if (starts[s] > UINT32_MAX - 100)
			CHECK(p.head < starts[s]); /* really wrapped */
		CHECK_EQ(p.bad + c.bad, 0);
		free(shm);
	}
}

/* The peer moves its index anywhere: never more than asked, never past the ring, counted. */
static void
test_hostile_indexes(void)
{
	struct bp_ring_shm *shm = ring_new(16, UINT32_MAX - 3);
	struct bp_desc in[32], out[32];
	struct bp_ring p, c;
	uint32_t h;

	bp_ring_attach_prod(&p, shm, 16);
	bp_ring_attach_cons(&c, shm, 16);
	fill(in, 32, 0);
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 6), 6);
	h = p.head;

	/* consumer index forwards past the producer: ignored, counted */
	atomic_store(&shm->cons, h + 5);
	CHECK_EQ(bp_ring_free_count(&p), 10);
	CHECK_EQ(p.bad, 1);
	CHECK(bp_ring_enqueue_burst(&p, in, 32) <= 10);
	/* consumer index backwards by more than the ring: ignored, counted */
	atomic_store(&shm->cons, p.head - 17);
	CHECK_EQ(bp_ring_free_count(&p), 0);
	CHECK(p.bad >= 2);
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 32), 0);

	/* producer index far forwards / backwards, as seen by the consumer */
	bp_ring_attach_cons(&c, shm, 16);
	atomic_store(&shm->prod, c.head + 17);
	CHECK(bp_ring_count(&c) <= 16);
	CHECK_EQ(c.bad, 1);
	CHECK(bp_ring_dequeue_burst(&c, out, 32) <= 16);
	atomic_store(&shm->prod, c.head - 1);
	CHECK(bp_ring_dequeue_burst(&c, out, 32) <= 16);
	CHECK(c.bad >= 2);
	atomic_store(&shm->prod, c.head + 0x80000000u);
	CHECK(bp_ring_dequeue_burst(&c, out, 4) <= 4);

	/* a sane index again works normally */
	atomic_store(&shm->prod, c.head + 3);
	CHECK_EQ(bp_ring_dequeue_burst(&c, out, 32), 3);
	free(shm);
}

static void
test_wakeup(void)
{
	struct bp_ring_shm *shm = ring_new(16, 0);
	struct bp_desc in[4], out[4];
	struct bp_ring p, c;

	bp_ring_attach_prod(&p, shm, 16);
	bp_ring_attach_cons(&c, shm, 16);
	fill(in, 4, 0);
	/* consumer busy (not armed): no doorbell */
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 1), 1);
	CHECK(!bp_ring_wakeup_needed(&p));
	/* arming with entries pending says so */
	CHECK_EQ(bp_ring_arm(&c), 1);
	bp_ring_disarm(&c);
	CHECK_EQ(atomic_load(&shm->need_wakeup), 0);
	CHECK_EQ(bp_ring_dequeue_burst(&c, out, 4), 1);
	/* armed and empty: the next publish wants exactly one doorbell */
	CHECK_EQ(bp_ring_arm(&c), 0);
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 2), 2);
	CHECK(bp_ring_wakeup_needed(&p));
	CHECK(!bp_ring_wakeup_needed(&p));
	CHECK_EQ(bp_ring_enqueue_burst(&p, in, 1), 1);
	CHECK(!bp_ring_wakeup_needed(&p));
	free(shm);
}

#define STRESS_N 2000000u

struct stress {
	struct bp_ring_shm *shm;
	uint32_t size;
	uint64_t errors;
	uint64_t received;
};

static void *
stress_prod(void *arg)
{
	struct stress *s = arg;
	struct bp_desc in[37];
	struct bp_ring p;
	uint64_t seq = 0;
	unsigned k, i, burst = 1;

	bp_ring_attach_prod(&p, s->shm, s->size);
	while (seq < STRESS_N) {
		burst = burst % 37 + 1;
		k = STRESS_N - seq < burst ? (unsigned)(STRESS_N - seq) : burst;
		for (i = 0; i < k; i++)
			in[i] = (struct bp_desc){.buf = (uint32_t)(seq + i),
			                         .len = (uint16_t)(seq + i),
			                         .user = seq + i};
		seq += bp_ring_enqueue_burst(&p, in, k);
	}
	return NULL;
}

static void *
stress_cons(void *arg)
{
	struct stress *s = arg;
	struct bp_desc out[29];
	struct bp_ring c;
	uint64_t seq = 0;
	unsigned k, i, burst = 1;

	bp_ring_attach_cons(&c, s->shm, s->size);
	while (seq < STRESS_N) {
		burst = burst % 29 + 1;
		k = bp_ring_dequeue_burst(&c, out, burst);
		for (i = 0; i < k; i++)
			if (out[i].user != seq + i || out[i].buf != (uint32_t)(seq + i) ||
			    out[i].len != (uint16_t)(seq + i))
				s->errors++;
		seq += k;
	}
	s->received = seq;
	s->errors += c.bad;
	return NULL;
}

/* Two threads, small ring (contention), bursts of every size, start just before the wrap. */
static void
test_spsc_stress(void)
{
	struct stress s = {.size = 64};
	pthread_t tp, tc;

	s.shm = ring_new(s.size, UINT32_MAX - 1000);
	REQUIRE(pthread_create(&tc, NULL, stress_cons, &s) == 0);
	REQUIRE(pthread_create(&tp, NULL, stress_prod, &s) == 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	CHECK_EQ(s.received, STRESS_N);
	CHECK_EQ(s.errors, 0);
	free(s.shm);
}

int
main(void)
{
	CHECK_RUN(test_basic);
	CHECK_RUN(test_full_empty);
	CHECK_RUN(test_wrap);
	CHECK_RUN(test_hostile_indexes);
	CHECK_RUN(test_wakeup);
	CHECK_RUN(test_spsc_stress);
	return check_done();
}
