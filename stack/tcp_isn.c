/* tcp_isn.c - SipHash-2-4 and RFC 6528 initial sequence numbers and timestamp offsets. */
#include "tcp_priv.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

/* SipHash-2-4 (Aumasson, Bernstein) of len bytes, little-endian words as in the reference */
uint64_t
stk_tcp_siphash(const uint64_t key[2], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ull ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dull ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ull ^ key[0];
	uint64_t v3 = 0x7465646279746573ull ^ key[1];
	uint64_t b = (uint64_t)len << 56, m;
	size_t left = len & 7;

	for (const uint8_t *end = p + (len - left); p != end; p += 8) {
		m = 0;
		for (int i = 0; i < 8; i++)
			m |= (uint64_t)p[i] << (8 * i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t i = 0; i < left; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t
tuple_hash(const uint64_t key[2], uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport,
           uint8_t salt)
{
	uint8_t d[13];

	memcpy(d, &lip, 4);
	memcpy(d + 4, &rip, 4);
	memcpy(d + 8, &lport, 2);
	memcpy(d + 10, &rport, 2);
	d[12] = salt;
	return stk_tcp_siphash(key, d, sizeof(d));
}

/* RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 us clock */
uint32_t
tcp_isn(const struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
	return (uint32_t)(t->now / 4000u) +
	       (uint32_t)tuple_hash(t->isn_key, lip, lport, rip, rport, 0);
}

/* per-connection TSval offset (RFC 7323 5.4: timestamps must not reveal a global clock) */
uint32_t
tcp_ts_offset(const struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
	return (uint32_t)tuple_hash(t->isn_key, lip, lport, rip, rport, 1);
}
