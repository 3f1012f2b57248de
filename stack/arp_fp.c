/* arp_fp.c - ARP input (learn per RFC 826, answer for owned addresses), builders, pending queue. */
#include <errno.h>

#include "stk_priv.h"

#define ARP_FRAME_LEN (STK_ETH_HLEN + STK_ARP_LEN)

/*
 * RFC 826 "packet reception": merge (refresh the sender if already cached, from any ARP we
 * see), then only if the target is an address we own: create the entry, and answer a request.
 * A sender address no peer may use (ours, broadcast, loopback, ...) is refused and not learned;
 * a sender address of 0.0.0.0 (RFC 5227 probe) is answered but not learned.
 */
enum stk_verdict
stk_arp_input(struct stk_lcore *lc, struct stk_buf *b)
{
	const struct stk_iface *ifc = lc->ifc;
	struct stk_eth_hdr *eth = (struct stk_eth_hdr *)b->data;
	struct stk_arp_hdr *arp = (struct stk_arp_hdr *)(eth + 1);
	uint32_t spa, tpa;
	uint16_t op;
	bool for_us;

	if (b->len < ARP_FRAME_LEN || arp->htype != stk_htons(STK_ARP_HRD_ETHER) ||
	    arp->ptype != stk_htons(STK_ETH_P_IPV4) || arp->hlen != STK_ETH_ALEN || arp->plen != 4)
		return stk_drop(lc, STK_CNT_DROP_ARP_BAD);
	op = stk_ntohs(arp->op);
	if (op != STK_ARP_OP_REQ && op != STK_ARP_OP_REPLY)
		return stk_drop(lc, STK_CNT_DROP_ARP_OP);
	spa = stk_ntohl(arp->spa);
	tpa = stk_ntohl(arp->tpa);
	if (stk_mac_is_group(arp->sha) || stk_mac_is_zero(arp->sha))
		return stk_drop(lc, STK_CNT_DROP_ARP_BAD);
	if (spa == 0 ? op == STK_ARP_OP_REPLY : stk_ip_bad_src(ifc->own_set, spa))
		return stk_drop(lc, STK_CNT_DROP_ARP_BAD);

	for_us = stk_own_owns(ifc->own_set, tpa);
	if (spa != 0 && lc->arp) {
		int r = stk_arp_update(lc->arp, spa, arp->sha, lc->now_ns, for_us);

		if (r == 0)
			lc->cnt[STK_CNT_ARP_LEARNED]++;
		else if (r == -ENOSPC)
			lc->cnt[STK_CNT_ARP_TABLE_FULL]++;
	}
	if (!for_us)
		return stk_drop(lc, STK_CNT_DROP_ARP_NOT_OURS);
	if (op == STK_ARP_OP_REPLY) {
		lc->cnt[STK_CNT_ARP_REPLY_IN]++;
		return STK_V_CONSUMED;
	}

	/* answer in place: swap sender and target, we are the sender of the requested address */
	memcpy(arp->tha, arp->sha, STK_ETH_ALEN);
	memcpy(arp->sha, ifc->mac, STK_ETH_ALEN);
	arp->tpa = arp->spa;
	arp->spa = stk_htonl(tpa);
	arp->op = stk_htons(STK_ARP_OP_REPLY);
	memcpy(eth->dst, arp->tha, STK_ETH_ALEN);
	memcpy(eth->src, ifc->mac, STK_ETH_ALEN);
	stk_frame_finish(b, ARP_FRAME_LEN);
	lc->cnt[STK_CNT_ARP_REQ_IN]++;
	return STK_V_TX;
}

static uint32_t
arp_build(const struct stk_iface *ifc, uint32_t spa, uint32_t tpa, uint8_t *buf, uint32_t room)
{
	struct stk_eth_hdr *eth = (struct stk_eth_hdr *)buf;
	struct stk_arp_hdr *arp = (struct stk_arp_hdr *)(eth + 1);

	if (room < STK_ETH_MIN_LEN)
		return 0;
	memset(buf, 0, STK_ETH_MIN_LEN);
	memset(eth->dst, 0xff, STK_ETH_ALEN);
	memcpy(eth->src, ifc->mac, STK_ETH_ALEN);
	eth->type = stk_htons(STK_ETH_P_ARP);
	arp->htype = stk_htons(STK_ARP_HRD_ETHER);
	arp->ptype = stk_htons(STK_ETH_P_IPV4);
	arp->hlen = STK_ETH_ALEN;
	arp->plen = 4;
	arp->op = stk_htons(STK_ARP_OP_REQ);
	memcpy(arp->sha, ifc->mac, STK_ETH_ALEN);
	arp->spa = stk_htonl(spa);
	arp->tpa = stk_htonl(tpa); /* tha stays zero */
	return STK_ETH_MIN_LEN;
}

uint32_t
stk_arp_build_request(const struct stk_iface *ifc, uint32_t src_ip, uint32_t target_ip,
                      uint8_t *buf, uint32_t room)
{
	return arp_build(ifc, src_ip, target_ip, buf, room);
}

uint32_t
stk_arp_build_garp(const struct stk_iface *ifc, uint32_t ip, uint8_t *buf, uint32_t room)
{
	return arp_build(ifc, ip, ip, buf, room);
}

/* Should we ask for ip now? One request per hop per second, STK_ARP_ASKED_MAX hops a second. */
static bool
arp_may_ask(struct stk_arp_pending *p, uint32_t ip, uint64_t now)
{
	int free_slot = -1;

	for (int i = 0; i < STK_ARP_ASKED_MAX; i++) {
		/* a clock that steps back makes an entry look fresh, never stale */
		bool stale = p->asked[i].ip == 0 || (now >= p->asked[i].sent_ns &&
		                                     now - p->asked[i].sent_ns >= STK_NS_PER_S);

		if (p->asked[i].ip == ip) {
			if (!stale)
				return false;
			p->asked[i].sent_ns = now;
			return true;
		}
		if (stale && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return false; /* too many hops asked this second: the next packet asks again */
	p->asked[free_slot].ip = ip;
	p->asked[free_slot].sent_ns = now;
	return true;
}

int
stk_arp_hold(struct stk_lcore *lc, uint32_t ip, void *pkt)
{
	struct stk_arp_pending *p = &lc->pending;

	if (ip == 0) {
		lc->cnt[STK_CNT_DROP_NO_ROUTE]++;
		return -EHOSTUNREACH;
	}
	if (p->n >= p->cap) {
		lc->cnt[STK_CNT_DROP_ARP_PENDING_FULL]++;
		return -ENOBUFS;
	}
	p->slot[p->n].ip = ip;
	p->slot[p->n].pkt = pkt;
	p->slot[p->n].since_ns = lc->now_ns;
	p->n++;
	if (!arp_may_ask(p, ip, lc->now_ns))
		return 0;
	lc->cnt[STK_CNT_ARP_REQ_OUT]++;
	return 1;
}

void
stk_arp_pending_poll(struct stk_lcore *lc, void **ready, uint8_t (*macs)[6], unsigned *n_ready,
                     void **expired, unsigned *n_expired, unsigned max)
{
	struct stk_arp_pending *p = &lc->pending;
	unsigned nr = 0, ne = 0, w = 0;
	uint32_t last_ip = 0;
	uint8_t mac[STK_ETH_ALEN];
	int found = -ENOENT;

	for (unsigned i = 0; i < p->n; i++) {
		if (p->slot[i].ip != last_ip) {
			last_ip = p->slot[i].ip;
			found = lc->arp ? stk_arp_lookup(lc->arp, last_ip, mac) : -ENOENT;
		}
		if (found == 0) {
			if (nr < max) {
				ready[nr] = p->slot[i].pkt;
				memcpy(macs[nr], mac, STK_ETH_ALEN);
				nr++;
				continue;
			}
		} else if (ne < max && lc->now_ns >= p->slot[i].since_ns &&
		           lc->now_ns - p->slot[i].since_ns >= p->timeout_ns) {
			expired[ne++] = p->slot[i].pkt;
			lc->cnt[STK_CNT_DROP_ARP_TIMEOUT]++;
			continue;
		}
		p->slot[w++] = p->slot[i]; /* keep, in order */
	}
	p->n = w;
	*n_ready = nr;
	*n_expired = ne;
}
