/* out_fp.c - per-packet output: Ethernet/IPv4/UDP headers for datagrams apps send. */
#include "stk_priv.h"

uint32_t
stk_udp_build(struct stk_lcore *lc, uint8_t *frame, uint32_t src_ip, uint16_t sport,
              uint32_t dst_ip, uint16_t dport, const void *payload, uint16_t pay_len,
              uint32_t *flags)
{
	struct stk_eth_hdr *eth = (struct stk_eth_hdr *)frame;
	struct stk_ipv4_hdr *ip = (struct stk_ipv4_hdr *)(eth + 1);
	struct stk_udp_hdr *udp = (struct stk_udp_hdr *)(ip + 1);
	uint16_t ulen = (uint16_t)(STK_UDP_HLEN + pay_len);
	uint64_t sum;

	memset(eth->dst, 0, STK_ETH_ALEN); /* filled when the next hop resolves */
	memcpy(eth->src, lc->ifc->mac, STK_ETH_ALEN);
	eth->type = stk_htons(STK_ETH_P_IPV4);

	ip->ver_ihl = STK_IP_VER_IHL;
	ip->tos = 0;
	ip->tot_len = stk_htons((uint16_t)(STK_IP_HLEN + ulen));
	ip->id = stk_htons(lc->ip_id++);
	ip->frag_off = stk_htons(STK_IP_DF);
	ip->ttl = STK_IP_DEFTTL;
	ip->proto = STK_IPPROTO_UDP;
	ip->cksum = 0;
	ip->src = stk_htonl(src_ip);
	ip->dst = stk_htonl(dst_ip);

	udp->sport = stk_htons(sport);
	udp->dport = stk_htons(dport);
	udp->len = stk_htons(ulen);
	udp->cksum = 0;
	sum = stk_cksum_pseudo(ip->src, ip->dst, STK_IPPROTO_UDP, ulen);
	if (payload) { /* headers here, payload elsewhere: sum the two (payload starts even) */
		sum = stk_cksum_add(sum, udp, STK_UDP_HLEN);
		sum = stk_cksum_add(sum, payload, pay_len);
	} else {
		sum = stk_cksum_add(sum, udp, ulen);
	}
	udp->cksum = (uint16_t)~stk_cksum_fold(sum);
	if (udp->cksum == 0)
		udp->cksum = 0xffff; /* RFC 768: a computed zero is sent as all ones */

	*flags = 0;
	if (lc->ifc->tx_ipck_offload)
		*flags |= STK_BUF_TX_IPCK;
	else
		ip->cksum = stk_cksum(ip, STK_IP_HLEN);
	return STK_UDP_HDRS + pay_len;
}

uint32_t
stk_iface_src_for(const struct stk_iface *ifc, uint32_t next_hop)
{
	unsigned i;

	for (i = 0; i < ifc->n_own; i++) {
		uint32_t mask = ifc->own[i].len ? ~0u << (32 - ifc->own[i].len) : 0;

		if (((ifc->own[i].addr ^ next_hop) & mask) == 0)
			return ifc->own[i].addr;
	}
	return ifc->n_own ? ifc->own[0].addr : 0;
}
