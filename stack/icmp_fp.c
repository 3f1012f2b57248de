/* icmp_fp.c - per-packet ICMP: echo reply in place, port-unreachable built in place. */
#include "stk_priv.h"

/* original IP header (no options: those are dropped on input) + 8 bytes of its payload */
#define UNREACH_QUOTE (STK_IP_HLEN + 8)
#define UNREACH_LEN   (STK_ETH_HLEN + STK_IP_HLEN + STK_ICMP_HLEN + UNREACH_QUOTE)

/*
 * Only echo requests are answered. ICMP errors are never answered (no ICMP error about an ICMP
 * error, RFC 1122 3.2.2), and neither is anything else yet.
 */
enum stk_verdict
stk_icmp_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_ipv4_hdr *ip, uint32_t l4_len)
{
	const struct stk_iface *ifc = lc->ifc;
	struct stk_icmp_hdr *icmp = (struct stk_icmp_hdr *)(ip + 1);
	uint16_t old;
	uint32_t tmp;

	if (stk_unlikely(l4_len < STK_ICMP_HLEN))
		return stk_drop(lc, STK_CNT_DROP_ICMP_BAD);
	/* verify the request before the incremental update trusts its checksum */
	if (stk_unlikely(!stk_cksum_ok(stk_cksum_add(0, icmp, l4_len))))
		return stk_drop(lc, STK_CNT_DROP_ICMP_BAD);
	if (stk_unlikely(icmp->type != STK_ICMP_ECHO))
		return stk_drop(lc, STK_CNT_DROP_ICMP_TYPE);
	if (stk_unlikely(!stk_tb_take(&lc->icmp_echo_tb, lc->now_ns)))
		return stk_drop(lc, STK_CNT_DROP_ICMP_RATE);

	/* type 8 code c -> type 0 code 0: one 16-bit word changes */
	memcpy(&old, &icmp->type, 2);
	icmp->type = STK_ICMP_ECHOREPLY;
	icmp->code = 0;
	icmp->cksum = stk_cksum_update16(icmp->cksum, old, 0);

	/* the ID, TOS and DF of the request are kept */
	tmp = ip->src;
	ip->src = ip->dst;
	ip->dst = tmp;
	ip->ttl = STK_IP_DEFTTL;
	stk_ip_finish(ifc, b, ip);
	stk_eth_reply(ifc, (struct stk_eth_hdr *)b->data);
	stk_frame_finish(b, STK_ETH_HLEN + STK_IP_HLEN + l4_len);
	lc->cnt[STK_CNT_ICMP_ECHO_OUT]++;
	return STK_V_TX;
}

enum stk_verdict
stk_udp_unreach(struct stk_lcore *lc, struct stk_buf *b, const struct stk_pkt_info *info)
{
	const struct stk_iface *ifc = lc->ifc;
	struct stk_eth_hdr *eth = (struct stk_eth_hdr *)b->data;
	struct stk_ipv4_hdr *ip;
	struct stk_icmp_hdr *icmp;

	lc->cnt[STK_CNT_DROP_UDP_NO_PORT]++;
	/*
	 * stk_input already refused fragments, broadcast/multicast destination and source
	 * addresses; a link-layer broadcast is the one case left (RFC 1122 3.2.2).
	 */
	if (stk_unlikely(!stk_mac_eq(eth->dst, ifc->mac)))
		return STK_V_DROP;
	if (stk_unlikely(b->room < UNREACH_LEN || info->l3_off != STK_ETH_HLEN ||
	                 info->l4_off != STK_ETH_HLEN + STK_IP_HLEN))
		return STK_V_DROP;
	if (stk_unlikely(!stk_tb_take(&lc->icmp_unreach_tb, lc->now_ns))) {
		lc->cnt[STK_CNT_ICMP_UNREACH_LIMITED]++;
		return STK_V_DROP;
	}

	/* quote first (it overlaps nothing we write before it), then build the headers over it */
	memmove(b->data + STK_ETH_HLEN + STK_IP_HLEN + STK_ICMP_HLEN, b->data + STK_ETH_HLEN,
	        UNREACH_QUOTE);

	ip = (struct stk_ipv4_hdr *)(b->data + STK_ETH_HLEN);
	ip->ver_ihl = STK_IP_VER_IHL;
	ip->tos = 0;
	ip->tot_len = stk_htons(STK_IP_HLEN + STK_ICMP_HLEN + UNREACH_QUOTE);
	ip->id = stk_htons(lc->ip_id++);
	ip->frag_off = 0;
	ip->ttl = STK_IP_DEFTTL;
	ip->proto = STK_IPPROTO_ICMP;
	ip->src = stk_htonl(info->dst_ip); /* the address the datagram was sent to */
	ip->dst = stk_htonl(info->src_ip);
	stk_ip_finish(ifc, b, ip);

	icmp = (struct stk_icmp_hdr *)(ip + 1);
	icmp->type = STK_ICMP_UNREACH;
	icmp->code = STK_ICMP_PORT_UNREACH;
	icmp->cksum = 0;
	icmp->u.rest = 0;
	icmp->cksum = stk_cksum(icmp, STK_ICMP_HLEN + UNREACH_QUOTE);

	stk_eth_reply(ifc, eth);
	b->len = UNREACH_LEN;
	lc->cnt[STK_CNT_ICMP_UNREACH_OUT]++;
	return STK_V_TX;
}
