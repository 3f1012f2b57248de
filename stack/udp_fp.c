/* udp_fp.c - per-packet UDP input: length and checksum validation, hand-off to the caller. */
#include "stk_priv.h"

enum stk_verdict
stk_udp_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_ipv4_hdr *ip, uint32_t l4_len,
              struct stk_pkt_info *info)
{
	const struct stk_udp_hdr *udp = (const struct stk_udp_hdr *)(ip + 1);
	uint32_t ulen;

	if (stk_unlikely(l4_len < STK_UDP_HLEN))
		return stk_drop(lc, STK_CNT_DROP_UDP_BAD);
	/* ulen may be below l4_len (trailing bytes ignored, as Linux does), never above */
	ulen = stk_ntohs(udp->len);
	if (stk_unlikely(ulen < STK_UDP_HLEN || ulen > l4_len))
		return stk_drop(lc, STK_CNT_DROP_UDP_BAD);
	if (stk_unlikely(b->flags & (STK_BUF_RX_L4CK_GOOD | STK_BUF_RX_L4CK_BAD))) {
		if (b->flags & STK_BUF_RX_L4CK_BAD)
			return stk_drop(lc, STK_CNT_DROP_UDP_BAD);
	} else if (udp->cksum != 0) { /* 0: the sender computed none */
		uint64_t sum = stk_cksum_pseudo(ip->src, ip->dst, STK_IPPROTO_UDP, (uint16_t)ulen);

		if (stk_unlikely(!stk_cksum_ok(stk_cksum_add(sum, udp, ulen))))
			return stk_drop(lc, STK_CNT_DROP_UDP_BAD);
	}

	info->src_ip = stk_ntohl(ip->src);
	info->dst_ip = stk_ntohl(ip->dst);
	info->src_port = stk_ntohs(udp->sport);
	info->dst_port = stk_ntohs(udp->dport);
	info->l3_off = STK_ETH_HLEN;
	info->l4_off = STK_ETH_HLEN + STK_IP_HLEN;
	info->pay_off = STK_ETH_HLEN + STK_IP_HLEN + STK_UDP_HLEN;
	info->pay_len = (uint16_t)(ulen - STK_UDP_HLEN);
	info->proto = STK_IPPROTO_UDP;
	info->tcp_flags = 0;
	return STK_V_UDP;
}
