/* arp.c - the shared ARP cache: create/destroy, lock-free lookup, update, aging, dump. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "stk_priv.h"

/*
 * Layout: a power-of-two array of buckets, each ARP_WAYS entries; an address lives only in the
 * bucket its hash picks. Each entry is a seqlock: seq is odd while a writer changes it; readers
 * load seq, the fields, then seq again, and retry when it moved (they never write, never wait on
 * a lock). Writers (update on any worker's ARP path, aging on the control thread) first take the
 * bucket's lock bit with a CAS, so at most one writer touches a bucket and an address can never
 * be inserted twice. The MAC is kept in one 64-bit word. Every shared field is a C11 atomic, so
 * the races are defined behaviour (and TSan-clean).
 *
 * The table holds at most max_entries (an atomic count); buckets are sized for a load of at most
 * 2 per bucket at max_entries, so a full bucket (also reported as -ENOSPC) is rare.
 */

#define ARP_WAYS 8

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield" ::: "memory")
#else
#define cpu_relax() \
	do {        \
	} while (0)
#endif

struct arp_slot {
	_Atomic uint32_t seq;
	_Atomic uint32_t ip; /* host order, 0 = free */
	_Atomic uint64_t mac;
	_Atomic uint64_t updated_ns;
};

struct arp_bucket {
	_Atomic uint32_t lock;
	struct arp_slot slot[ARP_WAYS];
} __attribute__((aligned(64)));

struct stk_arp_table {
	uint32_t mask; /* buckets - 1 */
	unsigned max_entries;
	uint64_t timeout_ns;
	_Atomic unsigned count;
	struct arp_bucket *b;
};

static uint64_t
mac_pack(const uint8_t mac[6])
{
	uint64_t v = 0;

	memcpy(&v, mac, 6);
	return v;
}

static void
mac_unpack(uint64_t v, uint8_t mac[6])
{
	memcpy(mac, &v, 6);
}

static struct arp_bucket *
bucket_of(const struct stk_arp_table *t, uint32_t ip)
{
	uint32_t h = ip * 0x9e3779b1u;

	return &t->b[(h ^ (h >> 15)) & t->mask];
}

static void
bucket_lock(struct arp_bucket *bk)
{
	uint32_t unlocked = 0;

	while (!atomic_compare_exchange_weak_explicit(&bk->lock, &unlocked, 1, memory_order_acquire,
	                                              memory_order_relaxed)) {
		unlocked = 0;
		cpu_relax();
	}
}

static void
bucket_unlock(struct arp_bucket *bk)
{
	atomic_store_explicit(&bk->lock, 0, memory_order_release);
}

/* Write one entry; the bucket lock is held, so seq is ours to bump. */
static void
slot_write(struct arp_slot *s, uint32_t ip, uint64_t mac, uint64_t now)
{
	uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);

	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&s->ip, ip, memory_order_relaxed);
	atomic_store_explicit(&s->mac, mac, memory_order_relaxed);
	atomic_store_explicit(&s->updated_ns, now, memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

/* A consistent snapshot of one entry. */
static void
slot_read(const struct arp_slot *cs, uint32_t *ip, uint64_t *mac, uint64_t *ts)
{
	struct arp_slot *s = (struct arp_slot *)cs; /* atomics are read-only here */
	uint32_t s1, s2;

	for (;;) {
		s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (s1 & 1) {
			cpu_relax(); /* a writer is in: it holds the slot for a few stores */
			continue;
		}
		*ip = atomic_load_explicit(&s->ip, memory_order_relaxed);
		*mac = atomic_load_explicit(&s->mac, memory_order_relaxed);
		*ts = atomic_load_explicit(&s->updated_ns, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (s1 == s2)
			return;
	}
}

struct stk_arp_table *
stk_arp_create(unsigned max_entries, uint64_t timeout_ns)
{
	struct stk_arp_table *t;
	size_t n = 1;

	if (max_entries == 0 || max_entries > (1u << 24)) {
		errno = EINVAL;
		return NULL;
	}
	while (n * 2 < max_entries)
		n *= 2;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->b = aligned_alloc(64, n * sizeof(*t->b));
	if (!t->b) {
		free(t);
		return NULL;
	}
	memset(t->b, 0, n * sizeof(*t->b));
	t->mask = (uint32_t)n - 1;
	t->max_entries = max_entries;
	t->timeout_ns = timeout_ns;
	atomic_init(&t->count, 0);
	return t;
}

void
stk_arp_destroy(struct stk_arp_table *t)
{
	if (!t)
		return;
	free(t->b);
	free(t);
}

int
stk_arp_lookup(const struct stk_arp_table *t, uint32_t ip, uint8_t mac[6])
{
	const struct arp_bucket *bk;

	if (ip == 0)
		return -ENOENT;
	bk = bucket_of(t, ip);
	for (int i = 0; i < ARP_WAYS; i++) {
		struct arp_slot *s = (struct arp_slot *)&bk->slot[i];
		uint32_t sip;
		uint64_t m, ts;

		/* cheap filter first; the seqlock read confirms */
		if (atomic_load_explicit(&s->ip, memory_order_relaxed) != ip)
			continue;
		slot_read(s, &sip, &m, &ts);
		if (sip != ip)
			continue; /* replaced meanwhile */
		mac_unpack(m, mac);
		return 0;
	}
	return -ENOENT;
}

int
stk_arp_update(struct stk_arp_table *t, uint32_t ip, const uint8_t mac[6], uint64_t now_ns,
               bool create)
{
	struct arp_bucket *bk;
	struct arp_slot *free_slot = NULL;
	uint64_t m = mac_pack(mac);
	int ret;

	if (ip == 0)
		return -EINVAL;
	bk = bucket_of(t, ip);
	bucket_lock(bk);
	for (int i = 0; i < ARP_WAYS; i++) {
		struct arp_slot *s = &bk->slot[i];
		uint32_t sip = atomic_load_explicit(&s->ip, memory_order_relaxed);

		if (sip == ip) {
			slot_write(s, ip, m, now_ns);
			ret = 0;
			goto out;
		}
		if (sip == 0 && !free_slot)
			free_slot = s;
	}
	if (!create) {
		ret = -ENOENT;
		goto out;
	}
	if (!free_slot ||
	    atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed) >= t->max_entries) {
		if (free_slot)
			atomic_fetch_sub_explicit(&t->count, 1, memory_order_relaxed);
		ret = -ENOSPC;
		goto out;
	}
	slot_write(free_slot, ip, m, now_ns);
	ret = 0;
out:
	bucket_unlock(bk);
	return ret;
}

unsigned
stk_arp_age(struct stk_arp_table *t, uint64_t now_ns)
{
	unsigned n = 0;

	for (uint32_t bi = 0; bi <= t->mask; bi++) {
		struct arp_bucket *bk = &t->b[bi];
		bool locked = false;

		for (int i = 0; i < ARP_WAYS; i++) {
			struct arp_slot *s = &bk->slot[i];
			uint64_t ts;

			if (atomic_load_explicit(&s->ip, memory_order_relaxed) == 0)
				continue;
			if (!locked) {
				bucket_lock(bk);
				locked = true;
			}
			/* recheck under the lock: a worker may have refreshed it */
			ts = atomic_load_explicit(&s->updated_ns, memory_order_relaxed);
			if (atomic_load_explicit(&s->ip, memory_order_relaxed) == 0 ||
			    now_ns <= ts || now_ns - ts <= t->timeout_ns)
				continue;
			slot_write(s, 0, 0, 0);
			atomic_fetch_sub_explicit(&t->count, 1, memory_order_relaxed);
			n++;
		}
		if (locked)
			bucket_unlock(bk);
	}
	return n;
}

unsigned
stk_arp_dump(const struct stk_arp_table *t, struct stk_arp_entry *out, unsigned max)
{
	unsigned n = 0;

	for (uint32_t bi = 0; bi <= t->mask && n < max; bi++) {
		for (int i = 0; i < ARP_WAYS && n < max; i++) {
			uint32_t ip;
			uint64_t m, ts;

			slot_read(&t->b[bi].slot[i], &ip, &m, &ts);
			if (ip == 0)
				continue;
			out[n].ip = ip;
			mac_unpack(m, out[n].mac);
			out[n].updated_ns = ts;
			n++;
		}
	}
	return n;
}

unsigned
stk_arp_count(const struct stk_arp_table *t)
{
	return atomic_load_explicit(&((struct stk_arp_table *)t)->count, memory_order_relaxed);
}
