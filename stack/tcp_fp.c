/* tcp_fp.c - per-packet TCP: header and checksum validation, RST for closed ports in place. */
#include "stk_priv.h"

#define RST_LEN (STK_ETH_HLEN + STK_IP_HLEN + STK_TCP_HLEN)

enum stk_verdict
stk_tcp_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_ipv4_hdr *ip, uint32_t l4_len,
              struct stk_pkt_info *info)
{
	const struct stk_tcp_hdr *tcp = (const struct stk_tcp_hdr *)(ip + 1);
	uint32_t thlen;

	if (stk_unlikely(l4_len < STK_TCP_HLEN))
		return stk_drop(lc, STK_CNT_DROP_TCP_BAD);
	thlen = (uint32_t)(tcp->doff >> 4) * 4;
	if (stk_unlikely(thlen < STK_TCP_HLEN || thlen > l4_len))
		return stk_drop(lc, STK_CNT_DROP_TCP_BAD);
	if (stk_unlikely(b->flags & (STK_BUF_RX_L4CK_GOOD | STK_BUF_RX_L4CK_BAD))) {
		if (b->flags & STK_BUF_RX_L4CK_BAD)
			return stk_drop(lc, STK_CNT_DROP_TCP_BAD);
	} else {
		uint64_t sum =
		        stk_cksum_pseudo(ip->src, ip->dst, STK_IPPROTO_TCP, (uint16_t)l4_len);

		if (stk_unlikely(!stk_cksum_ok(stk_cksum_add(sum, tcp, l4_len))))
			return stk_drop(lc, STK_CNT_DROP_TCP_BAD);
	}

	info->src_ip = stk_ntohl(ip->src);
	info->dst_ip = stk_ntohl(ip->dst);
	info->src_port = stk_ntohs(tcp->sport);
	info->dst_port = stk_ntohs(tcp->dport);
	info->l3_off = STK_ETH_HLEN;
	info->l4_off = STK_ETH_HLEN + STK_IP_HLEN;
	info->pay_off = (uint16_t)(STK_ETH_HLEN + STK_IP_HLEN + thlen);
	info->pay_len = (uint16_t)(l4_len - thlen);
	info->proto = STK_IPPROTO_TCP;
	info->tcp_flags = tcp->flags;
	return STK_V_TCP;
}

enum stk_verdict
stk_tcp_reset(struct stk_lcore *lc, struct stk_buf *b, const struct stk_pkt_info *info)
{
	const struct stk_iface *ifc = lc->ifc;
	struct stk_eth_hdr *eth = (struct stk_eth_hdr *)b->data;
	struct stk_ipv4_hdr *ip;
	struct stk_tcp_hdr *tcp;
	uint32_t seq, ack;
	uint64_t sum;
	uint16_t sport, dport;
	uint8_t flags = info->tcp_flags;

	lc->cnt[STK_CNT_DROP_TCP_NO_PORT]++;
	/* RFC 9293 3.10.7.1: an incoming RST is discarded; never answer a link-layer broadcast */
	if (flags & STK_TCP_RST)
		return STK_V_DROP;
	if (stk_unlikely(!stk_mac_eq(eth->dst, ifc->mac)))
		return STK_V_DROP;
	if (stk_unlikely(info->l3_off != STK_ETH_HLEN ||
	                 info->l4_off != STK_ETH_HLEN + STK_IP_HLEN || b->len < RST_LEN))
		return STK_V_DROP;

	ip = (struct stk_ipv4_hdr *)(b->data + STK_ETH_HLEN);
	tcp = (struct stk_tcp_hdr *)(ip + 1);
	sport = tcp->sport;
	dport = tcp->dport;
	if (flags & STK_TCP_ACK) {
		/* <SEQ=SEG.ACK><CTL=RST> */
		seq = tcp->ack;
		ack = 0;
		flags = STK_TCP_RST;
	} else {
		/* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; SYN and FIN each count one */
		uint32_t seglen = info->pay_len + !!(flags & STK_TCP_SYN) + !!(flags & STK_TCP_FIN);

		seq = 0;
		ack = stk_htonl(stk_ntohl(tcp->seq) + seglen);
		flags = STK_TCP_RST | STK_TCP_ACK;
	}

	ip->ver_ihl = STK_IP_VER_IHL;
	ip->tos = 0;
	ip->tot_len = stk_htons(STK_IP_HLEN + STK_TCP_HLEN);
	ip->id = stk_htons(lc->ip_id++);
	ip->frag_off = stk_htons(STK_IP_DF);
	ip->ttl = STK_IP_DEFTTL;
	ip->proto = STK_IPPROTO_TCP;
	ip->src = stk_htonl(info->dst_ip);
	ip->dst = stk_htonl(info->src_ip);
	stk_ip_finish(ifc, b, ip);

	tcp->sport = dport;
	tcp->dport = sport;
	tcp->seq = seq;
	tcp->ack = ack;
	tcp->doff = (STK_TCP_HLEN / 4) << 4;
	tcp->flags = flags;
	tcp->win = 0;
	tcp->cksum = 0;
	tcp->urp = 0;
	sum = stk_cksum_pseudo(ip->src, ip->dst, STK_IPPROTO_TCP, STK_TCP_HLEN);
	tcp->cksum = (uint16_t)~stk_cksum_fold(stk_cksum_add(sum, tcp, STK_TCP_HLEN));

	stk_eth_reply(ifc, eth);
	stk_frame_finish(b, RST_LEN);
	lc->cnt[STK_CNT_TCP_RST_OUT]++;
	return STK_V_TX;
}
