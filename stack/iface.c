/* iface.c - owned-address set and routing, token bucket, counter names, worker init. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "stk_priv.h"

/* clang-format off */
const char *const stk_counter_names[STK_CNT__MAX] = {
#define _(e, n, h) [STK_CNT_##e] = n,
	foreach_stk_counter(_)
#undef _
};

const char *const stk_counter_help[STK_CNT__MAX] = {
#define _(e, n, h) [STK_CNT_##e] = h,
	foreach_stk_counter(_)
#undef _
};
/* clang-format on */

static uint32_t
pfx_mask(uint8_t len)
{
	return len == 0 ? 0 : ~0u << (32 - len);
}

/* an address no interface of ours may claim */
static bool
addr_unusable(uint32_t a)
{
	uint32_t top = a >> 24;

	return top == 0 || top == 127 || top >= 224;
}

static void
own_insert(struct stk_own_set *s, uint32_t ip, enum stk_own_kind kind)
{
	uint32_t i = stk_own_hash(ip) & s->hmask;

	while (s->slot[i].ip != 0 && s->slot[i].ip != ip)
		i = (i + 1) & s->hmask;
	/* an owned address wins over a network/broadcast marker of the same value */
	if (s->slot[i].ip == ip && (kind == STK_OWN_BCAST || s->slot[i].kind != STK_OWN_BCAST))
		return;
	s->slot[i].ip = ip;
	s->slot[i].kind = kind;
}

static void
own_set_free(struct stk_own_set *s)
{
	if (!s)
		return;
	free(s->slot);
	free(s->pfx);
	free(s->onlink);
	free(s);
}

static int
net_cmp_longest_first(const void *a, const void *b)
{
	const struct stk_net *x = a, *y = b;

	/* longer prefix = larger mask */
	return x->mask < y->mask ? 1 : x->mask > y->mask ? -1 : 0;
}

int
stk_iface_finish(struct stk_iface *ifc)
{
	struct stk_own_set *s;
	size_t n32 = 0, nslot = 2;
	uint32_t n_pfx = 0;

	for (unsigned i = 0; i < ifc->n_own; i++) {
		if (ifc->own[i].len > 32 || addr_unusable(ifc->own[i].addr))
			return -EINVAL;
		n32 += 3; /* the address, and the prefix's network and broadcast addresses */
	}
	for (unsigned i = 0; i < ifc->n_tenant; i++) {
		uint32_t len = ifc->tenant[i].len;

		if (len > 32 || addr_unusable(ifc->tenant[i].addr & pfx_mask(ifc->tenant[i].len)))
			return -EINVAL;
		if (len == 32)
			n32++;
		else
			n_pfx++;
	}
	while (nslot < 2 * n32 + 2)
		nslot *= 2;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->slot = calloc(nslot, sizeof(*s->slot));
	s->pfx = calloc(n_pfx + 1, sizeof(*s->pfx));
	s->onlink = calloc(ifc->n_own + 1, sizeof(*s->onlink));
	if (!s->slot || !s->pfx || !s->onlink)
		goto out_free;
	s->hmask = (uint32_t)nslot - 1;

	for (unsigned i = 0; i < ifc->n_own; i++) {
		uint32_t a = ifc->own[i].addr, m = pfx_mask(ifc->own[i].len);

		own_insert(s, a, STK_OWN_ADDR);
		s->onlink[s->n_onlink].addr = a & m;
		s->onlink[s->n_onlink].mask = m;
		s->n_onlink++;
	}
	for (unsigned i = 0; i < ifc->n_tenant; i++) {
		uint32_t m = pfx_mask(ifc->tenant[i].len);

		if (ifc->tenant[i].len == 32) {
			own_insert(s, ifc->tenant[i].addr, STK_OWN_TENANT);
			continue;
		}
		s->pfx[s->n_pfx].addr = ifc->tenant[i].addr & m;
		s->pfx[s->n_pfx].mask = m;
		s->n_pfx++;
	}
	/* after the owned ones, so a tenant /32 that equals one of these stays owned */
	for (unsigned i = 0; i < ifc->n_own; i++) {
		uint32_t a = ifc->own[i].addr, m = pfx_mask(ifc->own[i].len);

		if (ifc->own[i].len > 30)
			continue; /* /31 (RFC 3021) and /32 have no network/broadcast address */
		if ((a & m) != 0)
			own_insert(s, a & m, STK_OWN_BCAST);
		own_insert(s, a | ~m, STK_OWN_BCAST);
	}
	qsort(s->pfx, s->n_pfx, sizeof(*s->pfx), net_cmp_longest_first);
	qsort(s->onlink, s->n_onlink, sizeof(*s->onlink), net_cmp_longest_first);

	/* summary prefix: the bits every tenant prefix agrees on */
	if (s->n_pfx == 0) {
		s->sum_mask = ~0u;
		s->sum_addr = 0; /* 0.0.0.0 is never looked up: addr_unusable */
	} else {
		uint32_t m = s->pfx[0].mask, a = s->pfx[0].addr;

		for (uint32_t i = 1; i < s->n_pfx; i++) {
			m &= s->pfx[i].mask;
			m &= ~(a ^ s->pfx[i].addr);
		}
		/* keep it a prefix: cut at the first zero bit */
		s->sum_mask = m == ~0u ? m : pfx_mask((uint8_t)__builtin_clz(~m));
		s->sum_addr = a & s->sum_mask;
	}

	own_set_free(ifc->own_set);
	ifc->own_set = s;
	return 0;

out_free:
	own_set_free(s);
	return -ENOMEM;
}

void
stk_iface_release(struct stk_iface *ifc)
{
	if (!ifc)
		return;
	own_set_free(ifc->own_set);
	ifc->own_set = NULL;
	free(ifc->own);
	ifc->own = NULL;
	ifc->n_own = 0;
	free(ifc->tenant);
	ifc->tenant = NULL;
	ifc->n_tenant = 0;
}

bool
stk_iface_owns(const struct stk_iface *ifc, uint32_t ip)
{
	return ifc->own_set && stk_own_owns(ifc->own_set, ip);
}

uint32_t
stk_iface_route(const struct stk_iface *ifc, uint32_t dst)
{
	const struct stk_own_set *s = ifc->own_set;

	/* a handful of own prefixes at most: a short scan, longest first */
	for (uint32_t i = 0; s && i < s->n_onlink; i++)
		if ((dst & s->onlink[i].mask) == s->onlink[i].addr)
			return dst;
	return ifc->next_hop;
}

void
stk_tb_init(struct stk_tb *tb, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	if (burst == 0)
		burst = 1;
	if (burst > UINT64_MAX / STK_NS_PER_S)
		burst = UINT64_MAX / STK_NS_PER_S;
	tb->rate = rate;
	tb->burst = burst;
	tb->tokens = burst * STK_NS_PER_S;
	tb->last_ns = now_ns;
}

/*
 * tokens counts token-nanoseconds: dt ns at rate r/s adds r*dt, one reply costs 1e9.
 * Exact integer arithmetic, no division; a clock that steps back adds nothing.
 */
bool
stk_tb_take(struct stk_tb *tb, uint64_t now_ns)
{
	uint64_t cap, add;

	if (tb->rate == 0)
		return true;
	if (now_ns > tb->last_ns) {
		cap = tb->burst * STK_NS_PER_S;
		if (__builtin_mul_overflow(tb->rate, now_ns - tb->last_ns, &add) ||
		    add >= cap - tb->tokens)
			tb->tokens = cap;
		else
			tb->tokens += add;
		tb->last_ns = now_ns;
	}
	if (tb->tokens < STK_NS_PER_S)
		return false;
	tb->tokens -= STK_NS_PER_S;
	return true;
}

void
stk_lcore_init(struct stk_lcore *lc, const struct stk_iface *ifc, struct stk_arp_table *arp,
               unsigned pending_cap, uint64_t pending_timeout_ns, uint64_t now_ns)
{
	assert(ifc->own_set && "stk_iface_finish first");
	memset(lc, 0, sizeof(*lc));
	lc->ifc = ifc;
	lc->arp = arp;
	lc->now_ns = now_ns;
	stk_tb_init(&lc->icmp_echo_tb, ifc->icmp_echo_rate, ifc->icmp_echo_burst, now_ns);
	stk_tb_init(&lc->icmp_unreach_tb, ifc->icmp_unreach_rate, ifc->icmp_unreach_burst, now_ns);
	if (pending_cap == 0)
		pending_cap = 1;
	if (pending_cap > STK_ARP_PENDING_MAX)
		pending_cap = STK_ARP_PENDING_MAX;
	lc->pending.cap = pending_cap;
	lc->pending.timeout_ns = pending_timeout_ns;
	/* different workers start at different IDs */
	lc->ip_id = (uint16_t)((now_ns ^ (now_ns >> 16) ^ (uintptr_t)lc) * 0x9e37u);
}
