/* ipv4_fp.c - per-packet IPv4 input: header validation, address checks, protocol dispatch. */
#include "stk_priv.h"

/* Why a header other than 0x45 is bad, or STK_CNT__MAX when it only has options. */
static enum stk_counter
ip_vihl_slow(uint8_t vihl, uint32_t avail)
{
	if ((vihl >> 4) != 4)
		return STK_CNT_DROP_IP_VERSION;
	if ((vihl & 0xf) < 5 || (uint32_t)(vihl & 0xf) * 4 > avail)
		return STK_CNT_DROP_IP_IHL;
	return STK_CNT__MAX;
}

/*
 * Validate in the order of the counters: length, version, IHL, total length, header checksum
 * (NIC result honoured), options, fragments, TTL, source, destination, protocol.
 * Fragments are dropped: there is no reassembly yet. Options are dropped: none is supported.
 */
enum stk_verdict
stk_ipv4_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_pkt_info *info)
{
	const struct stk_own_set *own = lc->ifc->own_set;
	struct stk_ipv4_hdr *ip = (struct stk_ipv4_hdr *)(b->data + STK_ETH_HLEN);
	uint32_t avail = b->len - STK_ETH_HLEN;
	uint32_t hlen, tot;

	if (stk_unlikely(avail < STK_IP_HLEN))
		return stk_drop(lc, STK_CNT_DROP_IP_RUNT);
	if (stk_unlikely(ip->ver_ihl != STK_IP_VER_IHL)) {
		enum stk_counter why = ip_vihl_slow(ip->ver_ihl, avail);

		if (why != STK_CNT__MAX)
			return stk_drop(lc, why);
	}
	hlen = (uint32_t)(ip->ver_ihl & 0xf) * 4;
	tot = stk_ntohs(ip->tot_len);
	/* the frame may be longer than tot: Ethernet pads to 60 bytes */
	if (stk_unlikely(tot > avail || tot < hlen))
		return stk_drop(lc, STK_CNT_DROP_IP_LEN);
	if (stk_unlikely(b->flags & (STK_BUF_RX_IPCK_GOOD | STK_BUF_RX_IPCK_BAD))) {
		if (b->flags & STK_BUF_RX_IPCK_BAD)
			return stk_drop(lc, STK_CNT_DROP_IP_CKSUM);
	} else if (stk_unlikely(!stk_cksum_ok(stk_cksum_add(0, ip, hlen)))) {
		return stk_drop(lc, STK_CNT_DROP_IP_CKSUM);
	}
	if (stk_unlikely(hlen != STK_IP_HLEN))
		return stk_drop(lc, STK_CNT_DROP_IP_OPTIONS);
	if (stk_unlikely(ip->frag_off & stk_htons(STK_IP_MF | STK_IP_OFFMASK)))
		return stk_drop(lc, STK_CNT_DROP_IP_FRAG);
	if (stk_unlikely(ip->ttl == 0))
		return stk_drop(lc, STK_CNT_DROP_IP_TTL);
	if (stk_unlikely(stk_ip_bad_src(own, stk_ntohl(ip->src))))
		return stk_drop(lc, STK_CNT_DROP_IP_BAD_SRC);
	if (stk_unlikely(!stk_own_owns(own, stk_ntohl(ip->dst))))
		return stk_drop(lc, STK_CNT_DROP_IP_NOT_OURS);

	switch (ip->proto) {
	case STK_IPPROTO_UDP:
		return stk_udp_input(lc, b, ip, tot - STK_IP_HLEN, info);
	case STK_IPPROTO_TCP:
		return stk_tcp_input(lc, b, ip, tot - STK_IP_HLEN, info);
	case STK_IPPROTO_ICMP:
		return stk_icmp_input(lc, b, ip, tot - STK_IP_HLEN);
	default:
		return stk_drop(lc, STK_CNT_DROP_IP_PROTO);
	}
}
