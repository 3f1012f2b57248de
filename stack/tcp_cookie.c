/* tcp_cookie.c - SYN cookies: stateless SYN-ACK when a listener's backlog is full. */
#include "tcp_priv.h"

/*
 * Cookie (our ISN) layout: [31..27] minute counter T (64 s units, mod 32), [26..25] MSS index,
 * [24..21] window scale + 1 (0 = none), [20] SACK-permitted, [19..0] keyed hash of the 4-tuple,
 * the peer's ISN, T and the option bits. Valid for the current and the previous interval.
 * Timestamps need no bit: the completing ACK carries a TS option iff both sides agreed.
 */
static const uint16_t mss_tab[4] = {536, 1220, 1440, 1460};

#define COOKIE_PERIOD_NS (64ull * STK_NS_PER_S)

static uint32_t
cookie_hash(const struct stk_tcp *t, const struct stk_tcp_seg *s, uint32_t peer_isn, uint32_t tv,
            uint32_t bits)
{
	uint32_t d[6] = {s->src_ip, s->dst_ip, (uint32_t)s->sport << 16 | s->dport,
	                 peer_isn,  tv,        bits};

	return (uint32_t)stk_tcp_siphash(t->cookie_key, d, sizeof(d)) & 0xfffffu;
}

uint32_t
tcp_cookie_make(const struct stk_tcp *t, const struct stk_tcp_seg *s, uint32_t peer_isn,
                const struct tcp_opts *o, uint16_t *mss_out)
{
	uint32_t tv = (uint32_t)(t->now / COOKIE_PERIOD_NS) & 31;
	uint16_t peer_mss = o->has_mss ? o->mss : STK_TCP_DEF_MSS;
	uint32_t mi = 0, bits;

	for (uint32_t i = 0; i < 4; i++)
		if (mss_tab[i] <= peer_mss && mss_tab[i] <= t->cfg.mss)
			mi = i;
	bits = mi << 5 | (o->has_ws ? (uint32_t)(o->ws > 14 ? 14 : o->ws) + 1 : 0) << 1 |
	       (o->sack_ok && !t->cfg.no_sack);
	*mss_out = mss_tab[mi];
	return tv << 27 | bits << 20 | cookie_hash(t, s, peer_isn, tv, bits);
}

int
tcp_cookie_check(const struct stk_tcp *t, const struct stk_tcp_seg *s, uint32_t cookie,
                 uint32_t peer_isn, struct tcp_opts *o)
{
	uint32_t now_tv = (uint32_t)(t->now / COOKIE_PERIOD_NS) & 31;
	uint32_t tv = cookie >> 27, bits = (cookie >> 20) & 0x7f, ws;

	if (tv != now_tv && tv != ((now_tv - 1) & 31))
		return -EINVAL;
	if (cookie_hash(t, s, peer_isn, tv, bits) != (cookie & 0xfffffu))
		return -EINVAL;
	ws = (bits >> 1) & 0xf;
	o->has_mss = true;
	o->mss = mss_tab[bits >> 5];
	o->has_ws = ws != 0;
	o->ws = ws ? (uint8_t)(ws - 1) : 0;
	o->sack_ok = bits & 1;
	return 0;
}
