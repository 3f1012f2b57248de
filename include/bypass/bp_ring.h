/* bp_ring.h - inline SPSC ring operations over struct bp_ring_shm, safe against a hostile peer. */
#ifndef BYPASS_BP_RING_H
#define BYPASS_BP_RING_H

/**
 * @file
 * Single-producer/single-consumer ring operations shared by the gateway and libbypass (C11 only).
 *
 * Each side holds a private struct bp_ring: the ring's size and its own index live in private
 * memory; the shared words are only published to (own index) or read from (the peer's index).
 * Whatever the peer writes into shared memory, these functions never touch memory outside the
 * ring's slots and never return more than asked or more than the ring can hold: a peer index out
 * of range is ignored and counted in `bad` (the gateway turns that into a per-channel counter).
 *
 * Ordering: slots are written before the producer index is published with a release store and
 * read after the index is loaded with an acquire load; the consumer publishes its index with a
 * release store after it has copied the slots out, so the producer never overwrites a slot being
 * read. Descriptors are copied out: the caller works on private copies (read once).
 *
 * Cost: a burst is one acquire load of the peer's index only when the cached copy does not
 * suffice, the slot copies, and one release store (plain moves on x86).
 */

#ifdef __cplusplus
#error "bp_ring.h is C11 only; C++ clients use libbypass (bypass.h)"
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bp_abi.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "bp ABI: lock-free 32-bit atomics");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "bp ABI: lock-free 64-bit atomics");

/** One side's private view of a ring (producer or consumer; one thread at a time). */
struct bp_ring {
	struct bp_ring_shm *shm; /**< shared words */
	struct bp_desc *slot;    /**< shared slots, size entries */
	uint32_t size;           /**< slots, power of two (private: never read from shm) */
	uint32_t mask;           /**< size - 1 */
	uint32_t head;           /**< own index: next slot to write (producer) or read (consumer) */
	uint32_t other;          /**< last sane value seen of the peer's index */
	uint32_t bad;            /**< times the peer's index was out of range */
	bool armed;              /**< consumer: need_wakeup set by us and not yet cleared */
};

/** Compiler barrier: the compiler may not re-read shared memory in place of a private copy. */
#define bp_compiler_barrier() atomic_signal_fence(memory_order_seq_cst)

/**
 * Format a ring in fresh shared memory (creator only): both indexes at `start` (0 normally; tests
 * start near UINT32_MAX to exercise wrap-around), need_wakeup clear.
 */
static inline void
bp_ring_format(struct bp_ring_shm *shm, uint32_t start)
{
	atomic_store_explicit(&shm->prod, start, memory_order_relaxed);
	atomic_store_explicit(&shm->cons, start, memory_order_relaxed);
	atomic_store_explicit(&shm->need_wakeup, 0, memory_order_release);
}

/*
 * Attach a private view to a formatted ring. size must be the power of two both sides agreed on
 * through the handshake, never a value read from shared memory. Reads the current indexes once:
 * call it before the peer can move them (gateway: before sending the fds; app: at attach).
 */
static inline void
bp_ring_attach_(struct bp_ring *r, struct bp_ring_shm *shm, uint32_t size, bool producer)
{
	uint32_t p = atomic_load_explicit(&shm->prod, memory_order_acquire);
	uint32_t c = atomic_load_explicit(&shm->cons, memory_order_acquire);

	r->shm = shm;
	r->slot = (struct bp_desc *)(void *)(shm + 1);
	r->size = size;
	r->mask = size - 1;
	r->head = producer ? p : c;
	r->other = producer ? c : p;
	/* nonsense indexes (only a peer that moved them first): producer sees full, consumer empty
	 */
	if (producer && r->head - r->other > size)
		r->other = r->head - size;
	else if (!producer && r->other - r->head > size)
		r->other = r->head;
	r->bad = 0;
	r->armed = false;
}

/** Attach as the producer. @see bp_ring_attach_ */
static inline void
bp_ring_attach_prod(struct bp_ring *r, struct bp_ring_shm *shm, uint32_t size)
{
	bp_ring_attach_(r, shm, size, true);
}

/** Attach as the consumer. @see bp_ring_attach_ */
static inline void
bp_ring_attach_cons(struct bp_ring *r, struct bp_ring_shm *shm, uint32_t size)
{
	bp_ring_attach_(r, shm, size, false);
}

/* ---- producer ---- */

/*
 * Refresh the consumer index. A sane consumer index is in [head - size, head]; anything else
 * (moved backwards past what we produced, or forwards past head) is counted and ignored.
 */
static inline uint32_t
bp_ring_prod_refresh_(struct bp_ring *r)
{
	uint32_t c = atomic_load_explicit(&r->shm->cons, memory_order_acquire);

	if (__builtin_expect(r->head - c > r->size, 0)) {
		r->bad++;
		return r->size - (r->head - r->other);
	}
	r->other = c;
	return r->size - (r->head - c);
}

/** Producer: free slots now (loads the consumer index). */
static inline uint32_t
bp_ring_free_count(struct bp_ring *r)
{
	return bp_ring_prod_refresh_(r);
}

/**
 * Producer: copy up to n descriptors into the ring and publish them.
 * @return how many were enqueued (0..n): takes d[0..ret-1], the caller keeps the rest.
 */
static inline unsigned
bp_ring_enqueue_burst(struct bp_ring *r, const struct bp_desc *d, unsigned n)
{
	uint32_t free = r->size - (r->head - r->other);
	uint32_t i, h = r->head;

	if (free < n)
		free = bp_ring_prod_refresh_(r);
	if (n > free)
		n = free;
	for (i = 0; i < n; i++)
		r->slot[(h + i) & r->mask] = d[i];
	r->head = h + n;
	atomic_store_explicit(&r->shm->prod, r->head, memory_order_release);
	return n;
}

/**
 * Producer, after publishing: does the consumer want a doorbell? True at most once per time the
 * consumer armed (the flag is cleared here); then send one doorbell. The full fence pairs with
 * the one in bp_ring_arm(): either we see the flag or the consumer sees our entries.
 */
static inline bool
bp_ring_wakeup_needed(struct bp_ring *r)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&r->shm->need_wakeup, memory_order_relaxed))
		return false;
	return atomic_exchange_explicit(&r->shm->need_wakeup, 0, memory_order_relaxed) != 0;
}

/* ---- consumer ---- */

/* Refresh the producer index: sane is within [head, head + size]. */
static inline uint32_t
bp_ring_cons_refresh_(struct bp_ring *r)
{
	uint32_t p = atomic_load_explicit(&r->shm->prod, memory_order_acquire);

	if (__builtin_expect(p - r->head > r->size, 0)) {
		r->bad++;
		return r->other - r->head;
	}
	r->other = p;
	return p - r->head;
}

/** Consumer: entries ready now (loads the producer index). */
static inline uint32_t
bp_ring_count(struct bp_ring *r)
{
	return bp_ring_cons_refresh_(r);
}

/**
 * Consumer: copy up to n descriptors out without consuming them (read once: work on the copies).
 * @return how many were copied to d[0..ret-1].
 */
static inline unsigned
bp_ring_peek(struct bp_ring *r, struct bp_desc *d, unsigned n)
{
	uint32_t avail = r->other - r->head;
	uint32_t i, h = r->head;

	if (avail < n)
		avail = bp_ring_cons_refresh_(r);
	if (n > avail)
		n = avail;
	for (i = 0; i < n; i++)
		d[i] = r->slot[(h + i) & r->mask];
	bp_compiler_barrier();
	return n;
}

/**
 * Consumer: release n entries (after bp_ring_peek), letting the producer reuse their slots. n is
 * clamped to what is known to be there.
 */
static inline void
bp_ring_consume(struct bp_ring *r, unsigned n)
{
	uint32_t avail = r->other - r->head;

	if (n > avail)
		n = avail;
	r->head += n;
	atomic_store_explicit(&r->shm->cons, r->head, memory_order_release);
}

/**
 * Consumer: copy up to n descriptors out and consume them.
 * @return how many were dequeued into d[0..ret-1].
 */
static inline unsigned
bp_ring_dequeue_burst(struct bp_ring *r, struct bp_desc *d, unsigned n)
{
	n = bp_ring_peek(r, d, n);
	if (n)
		bp_ring_consume(r, n);
	return n;
}

/**
 * Consumer about to sleep: set need_wakeup, then look again.
 * @return entries ready (then do not sleep; bp_ring_disarm() is optional), 0: safe to sleep until
 * the doorbell rings.
 */
static inline uint32_t
bp_ring_arm(struct bp_ring *r)
{
	atomic_store_explicit(&r->shm->need_wakeup, 1, memory_order_relaxed);
	r->armed = true;
	atomic_thread_fence(memory_order_seq_cst);
	return bp_ring_cons_refresh_(r);
}

/** Consumer: awake again, clear need_wakeup if we set it (no store when not armed). */
static inline void
bp_ring_disarm(struct bp_ring *r)
{
	if (r->armed) {
		atomic_store_explicit(&r->shm->need_wakeup, 0, memory_order_relaxed);
		r->armed = false;
	}
}

#endif
