/* cksum.h - Internet checksum (RFC 1071): 64-bit accumulation, pseudo-header, RFC 1624 update. */
#ifndef BYPASSD_STACK_CKSUM_H
#define BYPASSD_STACK_CKSUM_H

/*
 * One's-complement sums do not care about byte order (RFC 1071 2(B)): words are loaded in host
 * order straight from the wire, summed, folded, and the result is stored back the same way
 * (a plain store into a wire-format uint16_t field). Every value here is "raw": wire bytes read
 * as a host integer. Partial sums may be chained as long as each piece but the last has even
 * length.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Add len bytes at p to the running 64-bit sum. */
static inline uint64_t
stk_cksum_add(uint64_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t w, w2;

	/* two 64-bit words a round: independent end-around carries keep the adds in parallel */
	while (len >= 16) {
		uint64_t s1, s2;

		memcpy(&w, b, 8);
		memcpy(&w2, b + 8, 8);
		s1 = sum + w;
		s1 += s1 < w;
		s2 = s1 + w2;
		s2 += s2 < w2;
		sum = s2;
		b += 16;
		len -= 16;
	}
	if (len >= 8) {
		memcpy(&w, b, 8);
		sum += w;
		sum += sum < w;
		b += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t v;

		memcpy(&v, b, 4);
		sum += v;
		sum += sum < v;
		b += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t v;

		memcpy(&v, b, 2);
		sum += v;
		sum += sum < v;
		b += 2;
		len -= 2;
	}
	if (len) {
		/* the odd byte is the first byte of a word whose second byte is zero */
		uint16_t v = 0;

		memcpy(&v, b, 1);
		sum += v;
		sum += sum < v;
	}
	return sum;
}

/* Fold a 64-bit sum to 16 bits (not complemented). */
static inline uint16_t
stk_cksum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The checksum to store: ~fold(sum of the data with the checksum field zero). */
static inline uint16_t
stk_cksum(const void *p, size_t len)
{
	return (uint16_t)~stk_cksum_fold(stk_cksum_add(0, p, len));
}

/* true when data that includes its checksum field sums to all ones (i.e. verifies) */
static inline int
stk_cksum_ok(uint64_t sum)
{
	return stk_cksum_fold(sum) == 0xffff;
}

/* Sum of the IPv4 pseudo-header; src/dst raw (as in the header), l4_len host order. */
static inline uint64_t
stk_cksum_pseudo(uint32_t src_raw, uint32_t dst_raw, uint8_t proto, uint16_t l4_len)
{
	/* zero, protocol, then the L4 length, in wire order */
	const uint8_t w[4] = {0, proto, (uint8_t)(l4_len >> 8), (uint8_t)l4_len};
	uint32_t pl;

	memcpy(&pl, w, 4);
	return (uint64_t)src_raw + dst_raw + pl;
}

/* RFC 1624 eqn. 3: checksum hc after a 16-bit word changes from old to new (all raw). */
static inline uint16_t
stk_cksum_update16(uint16_t hc, uint16_t old, uint16_t new_)
{
	uint64_t sum = (uint16_t)~hc;

	sum += (uint16_t)~old;
	sum += new_;
	return (uint16_t)~stk_cksum_fold(sum);
}

/* RFC 1624 eqn. 3 for a 32-bit field (e.g. an address) */
static inline uint16_t
stk_cksum_update32(uint16_t hc, uint32_t old, uint32_t new_)
{
	uint64_t sum = (uint16_t)~hc;

	sum += (uint32_t)~old;
	sum += new_;
	return (uint16_t)~stk_cksum_fold(sum);
}

#endif
