/* ct_fp.c - conntrack fast path: bulk lookup, TCP state and window tracking, session creation. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_hash_crc.h>
#include <rte_prefetch.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ct_priv.h"

#define FIN POL_CT_TCP_FIN
#define SYN POL_CT_TCP_SYN
#define RST POL_CT_TCP_RST
#define ACK POL_CT_TCP_ACK

static inline uint32_t
rd32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int
pol_ct_tcp_parse(const uint8_t *th, uint32_t hdr_avail, uint32_t pay_len, struct pol_ct_pkt *p)
{
	uint32_t doff, i;

	if (hdr_avail < 20)
		return -EINVAL;
	doff = (uint32_t)(th[12] >> 4) * 4;
	if (doff < 20 || doff > hdr_avail)
		return -EINVAL;
	p->seq = rd32(th + 4);
	p->ack = rd32(th + 8);
	p->tcp_flags = th[13];
	p->win = (uint16_t)(th[14] << 8 | th[15]);
	p->len = pay_len;
	p->wscale = 0xff;
	if (!(p->tcp_flags & SYN))
		return 0;
	for (i = 20; i < doff;) {
		uint8_t kind = th[i], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff)
			break;
		len = th[i + 1];
		if (len < 2 || i + len > doff)
			break;
		if (kind == 3 && len == 3)
			p->wscale = th[i + 2] > 14 ? 14 : th[i + 2]; /* RFC 7323: use 14 */
		i += len;
	}
	return 0;
}

/* ---- the index (ct_priv.h) ---- */

static inline uint32_t
hash_key(const struct pol_ct *ct, const struct pol_ct_key *k)
{
	uint64_t w[2];

	memcpy(w, k, sizeof(w));
	return rte_hash_crc_8byte(w[1], rte_hash_crc_8byte(w[0], ct->seed));
}

uint32_t
ct_hash(const struct pol_ct *ct, const struct pol_ct_key *k)
{
	return hash_key(ct, k);
}

static inline uint16_t
hash_tag(uint32_t h)
{
	return (uint16_t)(h >> 16);
}

/* Bit s set: slot s of b is used and carries tag. */
static inline unsigned
tag_match(const struct ct_bucket *b, uint16_t tag)
{
#ifdef __SSE2__
	const __m128i t = _mm_loadu_si128((const __m128i *)b->tag);
	const __m128i eq = _mm_cmpeq_epi16(t, _mm_set1_epi16((short)tag));

	return (unsigned)_mm_movemask_epi8(_mm_packs_epi16(eq, _mm_setzero_si128())) & b->used;
#else
	unsigned m = 0, s;

	for (s = 0; s < CT_BUCKET_SLOTS; s++)
		m |= (unsigned)(b->tag[s] == tag) << s;
	return m & b->used;
#endif
}

static inline bool
key_eq(const struct pol_ct_key *a, const struct pol_ct_key *b)
{
	uint64_t x[2], y[2];

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
}

/* The entry holding k (hash h), or -1: the probe from the home bucket. */
static int32_t
index_find(const struct pol_ct *ct, const struct pol_ct_key *k, uint32_t h)
{
	const uint16_t tag = hash_tag(h);
	uint32_t bi = h & ct->mask, n;

	for (n = 0; n <= ct->mask; n++) {
		const struct ct_bucket *b = &ct->b[bi];
		unsigned m = tag_match(b, tag);

		while (m) {
			uint32_t i = b->idx[__builtin_ctz(m)];

			if (key_eq(&ct->e[i].key, k))
				return (int32_t)i;
			m &= m - 1;
		}
		if (!b->ovf)
			return -1;
		bi = (bi + 1) & ct->mask;
	}
	return -1;
}

/* Put entry i (hash h) in the first free slot from its home bucket. The table has room. */
static void
index_add(struct pol_ct *ct, uint32_t h, uint32_t i)
{
	uint32_t bi = h & ct->mask;

	for (;;) {
		struct ct_bucket *b = &ct->b[bi];

		if (b->used != 0xff) {
			unsigned s = (unsigned)__builtin_ctz(~(unsigned)b->used);

			b->tag[s] = hash_tag(h);
			b->idx[s] = i;
			b->used |= (uint8_t)(1u << s);
			return;
		}
		b->ovf++;
		bi = (bi + 1) & ct->mask;
	}
}

void
ct_index_del(struct pol_ct *ct, uint32_t h, uint32_t i)
{
	uint32_t bi = h & ct->mask, n;

	for (n = 0; n <= ct->mask; n++) {
		struct ct_bucket *b = &ct->b[bi];
		unsigned m = b->used, s;

		for (s = 0; s < CT_BUCKET_SLOTS; s++)
			if ((m & (1u << s)) && b->idx[s] == i) {
				b->used &= (uint8_t) ~(1u << s);
				return;
			}
		b->ovf--; /* i lies further on: it passed this bucket */
		bi = (bi + 1) & ct->mask;
	}
}

/*
 * Three passes over the burst so the misses overlap: hash and prefetch each home bucket; match
 * tags and prefetch each candidate entry; compare keys (a miss or an overflowed bucket takes the
 * full probe).
 */
unsigned
pol_ct_lookup_burst(struct pol_ct *ct, const struct pol_ct_key *keys, unsigned n, int32_t *idx)
{
	uint32_t h[64];
	unsigned i, found = 0;

	if (n > 64)
		n = 64;
	for (i = 0; i < n; i++) {
		h[i] = hash_key(ct, &keys[i]);
		rte_prefetch0(&ct->b[h[i] & ct->mask]);
	}
	for (i = 0; i < n; i++) {
		const struct ct_bucket *b = &ct->b[h[i] & ct->mask];
		unsigned m = tag_match(b, hash_tag(h[i]));

		idx[i] = m ? (int32_t)b->idx[__builtin_ctz(m)] : -1;
		if (m)
			rte_prefetch0(&ct->e[idx[i]]);
	}
	for (i = 0; i < n; i++) {
		if (likely(idx[i] >= 0 && key_eq(&ct->e[idx[i]].key, &keys[i]))) {
			found++;
			continue;
		}
		if (idx[i] >= 0 || ct->b[h[i] & ct->mask].ovf) {
			idx[i] = index_find(ct, &keys[i], h[i]);
			found += idx[i] >= 0;
		}
	}
	return found;
}

int32_t
pol_ct_lookup(struct pol_ct *ct, const struct pol_ct_key *k)
{
	return index_find(ct, k, hash_key(ct, k));
}

/* ---- TCP ---- */

static inline bool
seq_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool
seq_after(uint32_t a, uint32_t b)
{
	return seq_before(b, a);
}

static inline uint32_t
seg_end(const struct pol_ct_pkt *p)
{
	return p->seq + p->len + !!(p->tcp_flags & SYN) + !!(p->tcp_flags & FIN);
}

static void
side_init_syn(struct ct_side *s, const struct pol_ct_pkt *p)
{
	s->end = seg_end(p);
	s->maxend = s->end;
	s->maxwin = p->win ? p->win : 1; /* a SYN's window is never scaled */
	s->fin_end = 0;
	s->wscale = p->wscale <= 14 ? p->wscale : 0;
	s->flags = CT_SIDE_SEEN | (p->wscale != 0xff ? CT_SIDE_WS : 0);
}

/*
 * The window check of Linux's tcp_in_window (Rooij's "Real stateful TCP packet filtering"),
 * without SACK: sender s, receiver r, both past their SYN.
 *   I   seq <= s.maxend                         (inside what r allowed)
 *   II  end >= s.end - r.maxwin                 (not older than a window)
 *   III ack <= r.end                            (acks nothing r did not send)
 *   IV  ack >= r.end - s.maxwin                 (not older than a window)
 * On success the sender's end and window, and the receiver's maxend, move forward.
 */
static bool
tcp_in_window(struct ct_side *s, struct ct_side *r, const struct pol_ct_pkt *p)
{
	const uint32_t end = seg_end(p);
	const uint32_t win = (uint32_t)p->win << s->wscale;
	const uint32_t ack = (p->tcp_flags & ACK) ? p->ack : r->end;
	const uint32_t ackwin = s->maxwin ? s->maxwin : 66000;

	if (!(!seq_after(p->seq, s->maxend) &&
	      (!r->maxwin || seq_after(end, s->end - r->maxwin - 1)) && !seq_after(ack, r->end) &&
	      seq_after(ack, r->end - ackwin - 1)))
		return false;
	if ((p->tcp_flags & ACK) && (!(s->flags & CT_SIDE_ACKD) || seq_after(ack, s->ackd))) {
		s->ackd = ack;
		s->flags |= CT_SIDE_ACKD;
	}
	if (s->maxwin < win)
		s->maxwin = win;
	if (seq_after(end, s->end))
		s->end = end;
	if (r->maxwin && seq_after(end, s->maxend))
		r->maxwin += end - s->maxend;
	if (seq_after(ack + win, r->maxend - 1))
		r->maxend = ack + win + (win == 0);
	return true;
}

static void
tcp_open(struct ct_entry *e, struct ct_side *side, const struct pol_ct_pkt *p)
{
	memset(side, 0, 2 * sizeof(*side));
	side_init_syn(&side[0], p);
	e->state = POL_CT_TCP_SYN_SENT;
}

/* An existing TCP session, packet from side s. Sets e->state; counts what is invalid. */
static enum pol_ct_verdict
tcp_track(struct pol_ct *ct, struct ct_entry *e, struct ct_side *side, unsigned s,
          const struct pol_ct_pkt *p)
{
	const uint8_t f = p->tcp_flags & (FIN | SYN | RST | ACK);
	struct ct_side *snd = &side[s], *rcv = &side[!s];
	const enum pol_ct_verdict ok = s == 0 ? POL_CT_ORIG : POL_CT_REPLY;
	bool closing;

	if ((f & SYN) && (f & (FIN | RST)))
		goto bad_state;

	switch (e->state) {
	case POL_CT_TCP_SYN_SENT:
		if (s == 0) {
			if (f == SYN) {
				if (p->seq + 1 != snd->end)
					side_init_syn(snd, p); /* a new attempt, new ISN */
				return ok;
			}
			if ((f & RST) && p->seq == snd->end) {
				e->state = POL_CT_TCP_CLOSE; /* the opener gives up */
				return ok;
			}
			goto bad_state;
		}
		if (f & RST) {
			/* "connection refused": valid only acking the SYN (RFC 9293 3.10.7.3) */
			if ((f & ACK) && p->ack == side[0].end) {
				e->state = POL_CT_TCP_CLOSE;
				return ok;
			}
			ct->cnt[POL_CT_CNT_INVALID_RST]++;
			return POL_CT_INVALID;
		}
		if (f == (SYN | ACK)) {
			struct ct_side *o = &side[0];

			if (p->ack != o->end) {
				ct->cnt[POL_CT_CNT_INVALID_SEQ]++;
				return POL_CT_INVALID;
			}
			side_init_syn(snd, p);
			if (!((o->flags & CT_SIDE_WS) && (snd->flags & CT_SIDE_WS)))
				o->wscale = snd->wscale = 0; /* scaling only when both offered it */
			snd->maxend = snd->end + o->maxwin;
			o->maxend = p->ack + (p->win ? p->win : 1);
			e->state = POL_CT_TCP_SYN_RECV;
			return ok;
		}
		goto bad_state; /* simultaneous open and data before the SYN-ACK: not supported */
	case POL_CT_TCP_SYN_RECV:
		if (s == 1 && f == (SYN | ACK)) {
			if (p->seq + 1 == snd->end && p->ack == rcv->end)
				return ok; /* retransmitted SYN-ACK */
			ct->cnt[POL_CT_CNT_INVALID_SEQ]++;
			return POL_CT_INVALID;
		}
		if (s == 0 && f == SYN) {
			if (p->seq + 1 == snd->end)
				return ok; /* retransmitted SYN */
			ct->cnt[POL_CT_CNT_INVALID_SEQ]++;
			return POL_CT_INVALID;
		}
		if (f & SYN)
			goto bad_state;
		break;
	case POL_CT_TCP_TIME_WAIT:
	case POL_CT_TCP_CLOSE:
		if (s == 0 && f == SYN) {
			tcp_open(e, side, p); /* the opener reuses the tuple: a new connection */
			ct->cnt[POL_CT_CNT_REOPENED]++;
			return ok;
		}
		if (f & SYN)
			goto bad_state;
		/*
		 * After a reset of a synchronized connection, RSTs and pure ACKs in the window
		 * still pass (Linux's CLOSE state does the same): what an end sent before it saw
		 * the RST (an ACK the segment just before the RST in a burst asked for), an
		 * end's own RST, the peer's answer to either. An end that has not seen the reset
		 * yet learns of it this way instead of retransmitting into a dead session. Data,
		 * FINs, and anything after a refused SYN stay invalid.
		 */
		if (e->state == POL_CT_TCP_CLOSE &&
		    (!(side[1].flags & CT_SIDE_SEEN) || p->len || (f & FIN)))
			goto bad_state;
		break;
	default: /* established, fin_wait, closing */
		if (f & SYN)
			goto bad_state;
		break;
	}

	/* both ends past their SYN: every segment carries ACK, or is a reset */
	if (!(f & (ACK | RST)))
		goto bad_state;
	if (f & RST) {
		const struct ct_side s0 = *snd, r0 = *rcv;

		if (!tcp_in_window(snd, rcv, p)) {
			ct->cnt[POL_CT_CNT_INVALID_RST]++;
			return POL_CT_INVALID;
		}
		*snd = s0; /* an RST moves no edge: else a blind one would make the next exact */
		*rcv = r0;
		/*
		 * Only an RST the receiving end will take closes: at the sender's next sequence
		 * number or the receiver's last ACK (its RCV.NXT: data may be missing), or one
		 * below the sender's FIN's end (stack/tcp_in_fp.c rst_after_fin, Linux's
		 * tcp_reset_check). One elsewhere in the window gets a challenge ACK (RFC 5961
		 * 3.2) and the session stays, so that ACK and the exact RST a live peer answers
		 * it with can pass, and a blind RST cannot end the session here while the
		 * endpoint keeps the connection.
		 */
		if (p->seq == s0.end || ((r0.flags & CT_SIDE_ACKD) && p->seq == r0.ackd) ||
		    ((s0.flags & CT_SIDE_FIN) && p->seq == s0.fin_end - 1))
			e->state = POL_CT_TCP_CLOSE;
		return ok;
	}
	if (!tcp_in_window(snd, rcv, p)) {
		ct->cnt[(f & FIN) ? POL_CT_CNT_INVALID_FIN : POL_CT_CNT_INVALID_SEQ]++;
		return POL_CT_INVALID;
	}
	if (e->state == POL_CT_TCP_CLOSE)
		return ok; /* a pure ACK after the reset: the state stays */
	if ((f & ACK) && (rcv->flags & CT_SIDE_FIN) && !seq_before(p->ack, rcv->fin_end))
		rcv->flags |= CT_SIDE_FINACK;
	if (f & FIN) {
		snd->flags |= CT_SIDE_FIN;
		snd->fin_end = seg_end(p);
	}
	closing = (snd->flags | rcv->flags) & CT_SIDE_FIN;
	if ((snd->flags & CT_SIDE_FIN) && (rcv->flags & CT_SIDE_FIN))
		e->state = ((snd->flags & rcv->flags) & CT_SIDE_FINACK) ? POL_CT_TCP_TIME_WAIT
		                                                        : POL_CT_TCP_CLOSING;
	else if (closing)
		e->state = POL_CT_TCP_FIN_WAIT;
	else if (e->state == POL_CT_TCP_SYN_RECV && s == 0 && (f & ACK) && p->ack == rcv->end)
		e->state = POL_CT_TCP_ESTABLISHED;
	return ok;

bad_state:
	ct->cnt[POL_CT_CNT_INVALID_STATE]++;
	return POL_CT_INVALID;
}

/* ---- sessions ---- */

static inline bool
src_is_lo(const struct pol_ct_pkt *p)
{
	return ((uint64_t)p->src << 16 | p->sport) <= ((uint64_t)p->dst << 16 | p->dport);
}

/* Keep the LRU lists in step with the state: transient sessions at the tail, others off. */
static inline void
lru_touch(struct pol_ct *ct, uint32_t i)
{
	struct ct_entry *e = &ct->e[i];
	const bool evictable = pol_ct_state_evictable[e->state];

	if (e->flags & CT_E_LISTED) {
		if (evictable && ct->tail == i && ct->tenants[e->key.tenant].tail == i)
			return; /* already the newest */
		ct_list_del(ct, i);
	}
	if (evictable)
		ct_list_add(ct, i);
}

static inline void
fill_info(const struct ct_entry *e, int32_t idx, struct pol_ct_info *info)
{
	if (!info)
		return;
	info->idx = idx;
	info->state = e->state;
	info->admit_reply = !!(e->flags & CT_E_ADMIT);
	info->rule = e->rule;
	info->gen = e->gen;
}

enum pol_ct_verdict
pol_ct_track(struct pol_ct *ct, int32_t idx, const struct pol_ct_key *k, const struct pol_ct_pkt *p,
             uint64_t now_ns, struct pol_ct_info *info)
{
	enum pol_ct_verdict v;
	struct ct_entry *e;
	unsigned s;

	if (idx < 0)
		return POL_CT_NEW;
	e = &ct->e[idx];
	if (unlikely(!(e->flags & CT_E_USED) || !key_eq(&e->key, k))) {
		/* evicted or reused since the burst's lookup */
		idx = pol_ct_lookup(ct, k);
		if (idx < 0)
			return POL_CT_NEW;
		e = &ct->e[idx];
	}
	if (unlikely(now_ns - e->last_ns >= ct->timeout[e->state])) {
		ct_entry_remove(ct, (uint32_t)idx);
		ct->cnt[POL_CT_CNT_EXPIRED]++;
		return POL_CT_NEW;
	}
	s = src_is_lo(p) == !!(e->flags & CT_E_ORIG_LO) ? 0 : 1;
	switch (p->proto) {
	case 6:
		v = tcp_track(ct, e, ct->side[idx], s, p);
		break;
	case 17:
		if (s == 1 && e->state == POL_CT_UDP_NEW)
			e->state = POL_CT_UDP_REPLIED;
		v = s ? POL_CT_REPLY : POL_CT_ORIG;
		break;
	case 1:
		if (s == 1 && e->state == POL_CT_ICMP_NEW)
			e->state = POL_CT_ICMP_REPLIED;
		v = s ? POL_CT_REPLY : POL_CT_ORIG;
		break;
	default:
		if (s == 1 && e->state == POL_CT_OTHER_NEW)
			e->state = POL_CT_OTHER_REPLIED;
		v = s ? POL_CT_REPLY : POL_CT_ORIG;
		break;
	}
	if (v != POL_CT_INVALID) {
		e->last_ns = now_ns;
		lru_touch(ct, (uint32_t)idx);
	}
	fill_info(e, idx, info);
	return v;
}

/*
 * A full table evicts its oldest transient session for each new one: fetch what the next
 * eviction will touch (the new head is in cache: the removal just wrote it) while the packets
 * in between are handled. Each is otherwise a miss on a line nothing touched for long.
 */
static inline void
prefetch_victim(const struct pol_ct *ct)
{
	const struct ct_entry *h;

	if (ct->head == CT_NIL)
		return;
	h = &ct->e[ct->head];
	rte_prefetch0(&ct->b[h->hash & ct->mask]);
	if (h->next != CT_NIL)
		rte_prefetch0(&ct->e[h->next]);
	if (h->tnext != CT_NIL)
		rte_prefetch0(&ct->e[h->tnext]);
}

int32_t
pol_ct_open(struct pol_ct *ct, const struct pol_ct_key *k, const struct pol_ct_pkt *p,
            const struct pol_ct_admit *a, uint64_t now_ns)
{
	struct ct_tenant *t;
	struct ct_entry *e;
	uint32_t h;
	int32_t pos;

	if (p->proto == 6 && (p->tcp_flags & (FIN | SYN | RST | ACK)) != SYN) {
		ct->cnt[POL_CT_CNT_NOT_OPENER]++;
		return -EINVAL;
	}
	if (unlikely(k->tenant >= ct->max_tenants))
		return -EINVAL;
	h = hash_key(ct, k);
	if (index_find(ct, k, h) >= 0)
		return -EEXIST;

	t = &ct->tenants[k->tenant];
	if (t->count >= a->cap) {
		if (t->count == 0 || t->head == CT_NIL || t->count > a->cap) {
			/* nothing of its own to evict, or above a cap lowered by a reload */
			ct->cnt[POL_CT_CNT_REFUSED_CAP]++;
			return -ENOSPC;
		}
		ct_entry_remove(ct, t->head);
		ct->cnt[POL_CT_CNT_EVICTED_CAP]++;
	}
	if (ct->count >= ct->capacity) {
		if (ct->head == CT_NIL) {
			ct->cnt[POL_CT_CNT_REFUSED_FULL]++;
			return -ENOSPC;
		}
		ct_entry_remove(ct, ct->head);
		ct->cnt[POL_CT_CNT_EVICTED_FULL]++;
		prefetch_victim(ct);
	}
	if (unlikely(ct->n_free == 0)) { /* count < capacity == n_slots: cannot happen */
		ct->cnt[POL_CT_CNT_REFUSED_FULL]++;
		return -ENOSPC;
	}
	pos = (int32_t)ct->free[--ct->n_free];
	index_add(ct, h, (uint32_t)pos);

	e = &ct->e[pos];
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->hash = h;
	e->flags =
	        CT_E_USED | (src_is_lo(p) ? CT_E_ORIG_LO : 0) | (a->admit_reply ? CT_E_ADMIT : 0);
	e->rule = a->rule;
	e->gen = a->gen;
	e->last_ns = now_ns;
	switch (p->proto) {
	case 6:
		tcp_open(e, ct->side[pos], p);
		break;
	case 17:
		e->state = POL_CT_UDP_NEW;
		break;
	case 1:
		e->state = POL_CT_ICMP_NEW;
		break;
	default:
		e->state = POL_CT_OTHER_NEW;
		break;
	}
	t->count++;
	ct->count++;
	if (pol_ct_state_evictable[e->state])
		ct_list_add(ct, (uint32_t)pos);
	ct->cnt[POL_CT_CNT_CREATED]++;
	return pos;
}

void
pol_ct_set_rule(struct pol_ct *ct, int32_t idx, uint32_t rule, uint64_t gen, bool admit_reply)
{
	struct ct_entry *e;

	if (idx < 0 || (uint32_t)idx >= ct->n_slots)
		return;
	e = &ct->e[idx];
	if (!(e->flags & CT_E_USED))
		return;
	e->rule = rule;
	e->gen = gen;
	e->flags = (uint8_t)((e->flags & ~CT_E_ADMIT) | (admit_reply ? CT_E_ADMIT : 0));
}
