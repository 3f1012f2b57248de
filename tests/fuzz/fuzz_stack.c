/* fuzz_stack.c - libFuzzer target: arbitrary frames through stk_input, replies, ARP table/pending.
 */

/*
 * Input: a sequence of records, each a 5-byte header then a frame:
 *   [0] flags: bits 0-3 stk_buf RX flags, bit 4 TX checksum offload, bit 5 hold a packet for
 *       ARP resolution, bit 6 poll the pending queue, bit 7 age the ARP table
 *   [1] clock step in units of 10 ms
 *   [2] extra room past the frame (replies may grow into it)
 *   [3..4] frame length, little endian (cut to what is left)
 * State (ARP table, worker, rate limits) lives for one input, so every crash replays from its
 * input alone, and an ARP reply in one record can resolve a packet held by an earlier one.
 * Each frame gets a heap buffer of exactly len + room bytes, so ASan sees any write past room.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cksum.h"
#include "proto.h"
#include "stk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))
#define MS              1000000ull
#define MAX_RECORDS     64

static struct stk_iface ifc;
static bool ifc_ready;

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static void
ifc_setup(void)
{
	static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

	memcpy(ifc.mac, mac, 6);
	ifc.own = calloc(1, sizeof(*ifc.own));
	ifc.tenant = calloc(2, sizeof(*ifc.tenant));
	CHECK(ifc.own && ifc.tenant);
	ifc.own[0] = (struct stk_prefix){IP4(198, 18, 0, 1), 24};
	ifc.n_own = 1;
	ifc.tenant[0] = (struct stk_prefix){IP4(198, 18, 1, 10), 32};
	ifc.tenant[1] = (struct stk_prefix){IP4(198, 18, 2, 0), 24};
	ifc.n_tenant = 2;
	ifc.next_hop = 0; /* off-link destinations have no route: exercises no_route */
	ifc.icmp_echo_rate = 100;
	ifc.icmp_echo_burst = 4;
	ifc.icmp_unreach_rate = 100;
	ifc.icmp_unreach_burst = 4;
	CHECK(stk_iface_finish(&ifc) == 0);
	ifc_ready = true;
}

/* A frame the stack wants sent must be well formed. */
static void
check_reply(const struct stk_buf *b)
{
	const struct stk_eth_hdr *eth = (const struct stk_eth_hdr *)b->data;
	const struct stk_ipv4_hdr *ip;
	uint32_t l4_len;

	CHECK(b->len <= b->room && b->len >= STK_ETH_HLEN + STK_ARP_LEN);
	CHECK(stk_mac_eq(eth->src, ifc.mac));
	if (eth->type == stk_htons(STK_ETH_P_ARP))
		return;
	CHECK(eth->type == stk_htons(STK_ETH_P_IPV4));
	ip = (const struct stk_ipv4_hdr *)(eth + 1);
	CHECK(ip->ver_ihl == STK_IP_VER_IHL && ip->ttl == STK_IP_DEFTTL);
	CHECK(STK_ETH_HLEN + (uint32_t)stk_ntohs(ip->tot_len) <= b->len);
	if (b->flags & STK_BUF_TX_IPCK)
		CHECK(ifc.tx_ipck_offload && ip->cksum == 0);
	else
		CHECK(stk_cksum_ok(stk_cksum_add(0, ip, STK_IP_HLEN)));
	l4_len = stk_ntohs(ip->tot_len) - STK_IP_HLEN;
	if (ip->proto == STK_IPPROTO_ICMP)
		CHECK(stk_cksum_ok(stk_cksum_add(0, ip + 1, l4_len)));
	else if (ip->proto == STK_IPPROTO_TCP)
		CHECK(stk_cksum_ok(stk_cksum_add(
		        stk_cksum_pseudo(ip->src, ip->dst, STK_IPPROTO_TCP, (uint16_t)l4_len),
		        ip + 1, l4_len)));
	else
		abort();
}

static void
check_info(const struct stk_buf *b, const struct stk_pkt_info *info)
{
	CHECK(info->l3_off == STK_ETH_HLEN && info->l4_off > info->l3_off);
	CHECK(info->pay_off >= info->l4_off);
	CHECK((uint32_t)info->pay_off + info->pay_len <= b->len);
	CHECK(stk_iface_owns(&ifc, info->dst_ip));
}

static void
one_frame(struct stk_lcore *lc, uint8_t flags, uint32_t extra, const uint8_t *frame, uint32_t len,
          uintptr_t *token)
{
	uint8_t *buf = malloc(len + extra ? len + extra : 1);
	struct stk_pkt_info info;
	struct stk_buf b;
	enum stk_verdict v;

	CHECK(buf);
	memcpy(buf, frame, len);
	b.data = buf;
	b.len = len;
	b.room = len + extra;
	b.flags = flags & 0xf;
	ifc.tx_ipck_offload = flags & 0x10;

	v = stk_input(lc, &b, &info);
	if (v == STK_V_UDP || v == STK_V_TCP) {
		check_info(&b, &info);
		if (flags & 0x20) {
			/* the gateway would answer the sender: resolve its next hop first */
			stk_arp_hold(lc, stk_iface_route(&ifc, info.src_ip),
			             (void *)(uintptr_t)++ * token);
			flags &= (uint8_t)~0x20;
		}
		v = v == STK_V_UDP ? stk_udp_unreach(lc, &b, &info) : stk_tcp_reset(lc, &b, &info);
	}
	if (v == STK_V_TX)
		check_reply(&b);
	else
		CHECK(v == STK_V_DROP || v == STK_V_CONSUMED);
	free(buf);

	if (flags & 0x20) {
		uint32_t ip = 0;

		memcpy(&ip, frame + (len >= 4 ? len - 4 : 0), len >= 4 ? 4 : len);
		stk_arp_hold(lc, stk_iface_route(&ifc, ip), (void *)(uintptr_t)++ * token);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct stk_lcore lc;
	struct stk_arp_table *arp;
	uintptr_t token = 0;

	if (!ifc_ready)
		ifc_setup();
	arp = stk_arp_create(8, 1000 * MS);
	CHECK(arp);
	stk_lcore_init(&lc, &ifc, arp, 16, 500 * MS, 1000 * MS);

	for (int rec = 0; rec < MAX_RECORDS && size >= 5; rec++) {
		uint8_t flags = data[0];
		uint32_t len = (uint32_t)data[3] | (uint32_t)data[4] << 8;

		lc.now_ns += data[1] * 10 * MS;
		if (len > size - 5)
			len = (uint32_t)(size - 5);
		one_frame(&lc, flags, data[2], data + 5, len, &token);

		if (flags & 0x40) {
			void *ready[8], *expired[8];
			uint8_t macs[8][6], mac[6];
			unsigned nr = 0, ne = 0;

			stk_arp_pending_poll(&lc, ready, macs, &nr, expired, &ne, 8);
			CHECK(nr <= 8 && ne <= 8 && lc.pending.n <= lc.pending.cap);
			for (unsigned i = 0; i < nr; i++)
				CHECK((uintptr_t)ready[i] >= 1 && (uintptr_t)ready[i] <= token);
			(void)stk_arp_lookup(arp, IP4(198, 18, 0, 2), mac);
		}
		if (flags & 0x80) {
			struct stk_arp_entry e[16];

			stk_arp_age(arp, lc.now_ns);
			CHECK(stk_arp_dump(arp, e, 16) == stk_arp_count(arp));
			CHECK(stk_arp_count(arp) <= 8);
		}
		data += 5 + len;
		size -= 5 + len;
	}
	stk_arp_destroy(arp);
	return 0;
}
