/* stk_priv.h - stack/ internals: owned-address set, per-protocol input functions, helpers. */
#ifndef BYPASSD_STACK_STK_PRIV_H
#define BYPASSD_STACK_STK_PRIV_H

#include <string.h>

#include "cksum.h"
#include "proto.h"
#include "stk.h"

#define STK_NS_PER_S 1000000000ull

#define stk_likely(x)   __builtin_expect(!!(x), 1)
#define stk_unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Owned-address set, built by stk_iface_finish, read-only afterwards.
 * /32s (own addresses, tenant /32s, and the network/broadcast addresses of own on-link prefixes)
 * sit in an open-addressing hash (power-of-two slots, load <= 50%, key 0 = empty). Tenant
 * prefixes shorter than /32 sit in a short list, longest first, behind a summary prefix that
 * covers them all, so an address outside every tenant prefix costs one compare.
 */
enum stk_own_kind {
	STK_OWN_NONE = 0,
	STK_OWN_ADDR,   /* the gateway's own address */
	STK_OWN_TENANT, /* a tenant address (a /32 or inside a tenant prefix) */
	STK_OWN_BCAST,  /* network/broadcast address of an own on-link prefix: not owned, bad source
	                 */
};

struct stk_own_slot {
	uint32_t ip; /* host order, 0 = empty */
	uint32_t kind;
};

struct stk_net {
	uint32_t addr; /* host order, already masked */
	uint32_t mask;
};

struct stk_own_set {
	uint32_t hmask; /* hash slots - 1 */
	uint32_t n_pfx;
	uint32_t sum_addr, sum_mask; /* summary of pfx[]: addr & sum_mask != sum_addr => no match */
	uint32_t n_onlink;
	struct stk_own_slot *slot;
	struct stk_net *pfx;    /* tenant prefixes shorter than /32, longest first */
	struct stk_net *onlink; /* own on-link prefixes, longest first */
};

static inline uint32_t
stk_own_hash(uint32_t ip)
{
	uint32_t h = ip * 0x9e3779b1u;

	return h ^ (h >> 16);
}

/* kind of a /32 in the hash, or STK_OWN_NONE */
static inline enum stk_own_kind
stk_own_lookup32(const struct stk_own_set *s, uint32_t ip)
{
	uint32_t i = stk_own_hash(ip) & s->hmask;

	for (;;) {
		const struct stk_own_slot *e = &s->slot[i];

		if (e->ip == ip)
			return (enum stk_own_kind)e->kind;
		if (e->ip == 0)
			return STK_OWN_NONE;
		i = (i + 1) & s->hmask;
	}
}

static inline bool
stk_own_in_pfx(const struct stk_own_set *s, uint32_t ip)
{
	if ((ip & s->sum_mask) != s->sum_addr)
		return false;
	for (uint32_t i = 0; i < s->n_pfx; i++)
		if ((ip & s->pfx[i].mask) == s->pfx[i].addr)
			return true;
	return false;
}

static inline enum stk_own_kind
stk_own_kind(const struct stk_own_set *s, uint32_t ip)
{
	enum stk_own_kind k = stk_own_lookup32(s, ip);

	if (k != STK_OWN_NONE)
		return k;
	return stk_own_in_pfx(s, ip) ? STK_OWN_TENANT : STK_OWN_NONE;
}

static inline bool
stk_own_owns(const struct stk_own_set *s, uint32_t ip)
{
	enum stk_own_kind k = stk_own_kind(s, ip);

	return k == STK_OWN_ADDR || k == STK_OWN_TENANT;
}

/*
 * A source address no peer may use: 0/8, 127/8, multicast and reserved (224/4, 240/4, which
 * includes 255.255.255.255), a network/broadcast address of an own prefix, or one of ours.
 */
static inline bool
stk_ip_bad_src(const struct stk_own_set *s, uint32_t ip)
{
	uint32_t top = ip >> 24;

	if (stk_unlikely(top == 0 || top == 127 || top >= 224))
		return true;
	return stk_own_kind(s, ip) != STK_OWN_NONE;
}

/* count a drop reason; returns STK_V_DROP so callers can `return stk_drop(...)` */
static inline enum stk_verdict
stk_drop(struct stk_lcore *lc, enum stk_counter c)
{
	lc->cnt[c]++;
	return STK_V_DROP;
}

/* Set the frame length of a reply; pad to the Ethernet minimum with zeros when room allows. */
static inline void
stk_frame_finish(struct stk_buf *b, uint32_t len)
{
	if (len < STK_ETH_MIN_LEN && b->room >= STK_ETH_MIN_LEN) {
		memset(b->data + len, 0, STK_ETH_MIN_LEN - len);
		len = STK_ETH_MIN_LEN;
	}
	b->len = len;
}

/* Address a reply frame: back to the sender, from us. */
static inline void
stk_eth_reply(const struct stk_iface *ifc, struct stk_eth_hdr *eth)
{
	memcpy(eth->dst, eth->src, STK_ETH_ALEN);
	memcpy(eth->src, ifc->mac, STK_ETH_ALEN);
}

/* Fill the IPv4 header checksum of a frame we send: by offload when the port can. */
static inline void
stk_ip_finish(const struct stk_iface *ifc, struct stk_buf *b, struct stk_ipv4_hdr *ip)
{
	ip->cksum = 0;
	if (ifc->tx_ipck_offload)
		b->flags |= STK_BUF_TX_IPCK;
	else {
		b->flags &= ~STK_BUF_TX_IPCK;
		ip->cksum = stk_cksum(ip, STK_IP_HLEN);
	}
}

/* Per-protocol input; b->data[l3_off] is a validated option-less IPv4 header, l4_len from it. */
enum stk_verdict stk_arp_input(struct stk_lcore *lc, struct stk_buf *b);
enum stk_verdict stk_ipv4_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_pkt_info *info);
enum stk_verdict stk_icmp_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_ipv4_hdr *ip,
                                uint32_t l4_len);
enum stk_verdict stk_udp_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_ipv4_hdr *ip,
                               uint32_t l4_len, struct stk_pkt_info *info);
enum stk_verdict stk_tcp_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_ipv4_hdr *ip,
                               uint32_t l4_len, struct stk_pkt_info *info);

#endif
