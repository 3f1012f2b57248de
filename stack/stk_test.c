/* stk_test.c - unit tests of the EAL-free stack: crafted frames through stk_input and friends. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cksum.h"
#include "proto.h"
#include "stk.h"

#include "check.h"

/* ---- wire helpers (independent of the code under test) ---------------------------------- */

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

#define OFF_IP 14
#define OFF_L4 34

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* RFC 1071 the slow way: big-endian 16-bit words, folded; acc carries a pseudo-header */
static uint16_t
ref_sum(const uint8_t *p, size_t n, uint32_t acc)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static uint32_t
ref_pseudo(const uint8_t *f, uint8_t proto, uint16_t l4len)
{
	const uint8_t *ip = f + OFF_IP;

	return get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) + proto + l4len;
}

static const uint8_t GW_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t PEER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t OTHER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
static const uint8_t BCAST_MAC[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t ZERO_MAC[6] = {0};

#define GW_IP       IP4(198, 18, 0, 1)  /* own, on-link 198.18.0.0/24 */
#define TENANT_IP   IP4(198, 18, 1, 10) /* tenant /32 */
#define TENANT_NET  IP4(198, 18, 2, 0)  /* tenant /24 */
#define TENANT_NETX IP4(198, 18, 2, 33) /* an address inside it */
#define PEER_IP     IP4(198, 18, 0, 2)
#define NEXT_HOP    IP4(198, 18, 0, 254)

/* Ethernet header */
static void
put_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
}

static void
ip_recksum(uint8_t *f)
{
	uint8_t *ip = f + OFF_IP;
	unsigned hlen = (ip[0] & 0xf) * 4u;

	put16(ip + 10, 0);
	put16(ip + 10, (uint16_t)~ref_sum(ip, hlen, 0));
}

/* IPv4 header without options at 14: tot_len 20 + l4len, ID 0x1234, DF, TTL 64 */
static void
put_ip(uint8_t *f, uint8_t proto, uint32_t src, uint32_t dst, uint16_t l4len)
{
	uint8_t *ip = f + OFF_IP;

	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(20 + l4len));
	put16(ip + 4, 0x1234);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	ip_recksum(f);
}

static uint16_t
ip_totlen(const uint8_t *f)
{
	return get16(f + OFF_IP + 2);
}

static void
udp_recksum(uint8_t *f)
{
	uint8_t *u = f + OFF_L4;
	uint16_t ulen = get16(u + 4);
	uint16_t c;

	put16(u + 6, 0);
	c = (uint16_t)~ref_sum(u, ulen, ref_pseudo(f, 17, ulen));
	put16(u + 6, c ? c : 0xffff);
}

static void
l4_recksum(uint8_t *f, unsigned cksum_off, uint8_t proto)
{
	uint16_t l4len = (uint16_t)(ip_totlen(f) - 20);
	uint32_t acc = proto == 1 ? 0 : ref_pseudo(f, proto, l4len);

	put16(f + OFF_L4 + cksum_off, 0);
	put16(f + OFF_L4 + cksum_off, (uint16_t)~ref_sum(f + OFF_L4, l4len, acc));
}

#define tcp_recksum(f)  l4_recksum(f, 16, 6)
#define icmp_recksum(f) l4_recksum(f, 2, 1)

static void
fill_pattern(uint8_t *p, unsigned n, unsigned seed)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

/* peer -> dst: UDP sport -> dport with plen pattern bytes; returns the frame length */
static uint32_t
mk_udp(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, unsigned plen)
{
	uint8_t *u = f + OFF_L4;

	put_eth(f, GW_MAC, PEER_MAC, 0x0800);
	put_ip(f, 17, src, dst, (uint16_t)(8 + plen));
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + plen));
	fill_pattern(u + 8, plen, 1);
	udp_recksum(f);
	return OFF_L4 + 8 + plen;
}

/* peer -> dst: TCP with a 20-byte header, given flags, plen pattern bytes */
static uint32_t
mk_tcp(uint8_t *f, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
       uint8_t flags, unsigned plen)
{
	uint8_t *t = f + OFF_L4;

	put_eth(f, GW_MAC, PEER_MAC, 0x0800);
	put_ip(f, 6, PEER_IP, dst, (uint16_t)(20 + plen));
	memset(t, 0, 20);
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 64240);
	fill_pattern(t + 20, plen, 2);
	tcp_recksum(f);
	return OFF_L4 + 20 + plen;
}

/* peer -> dst: ICMP type/code with id 0x4242 seq 7 and plen pattern bytes */
static uint32_t
mk_icmp(uint8_t *f, uint32_t dst, uint8_t type, uint8_t code, unsigned plen)
{
	uint8_t *c = f + OFF_L4;

	put_eth(f, GW_MAC, PEER_MAC, 0x0800);
	put_ip(f, 1, PEER_IP, dst, (uint16_t)(8 + plen));
	c[0] = type;
	c[1] = code;
	put16(c + 4, 0x4242);
	put16(c + 6, 7);
	fill_pattern(c + 8, plen, 3);
	icmp_recksum(f);
	return OFF_L4 + 8 + plen;
}

/* Ethernet/IPv4 ARP, 42 bytes (unpadded) */
static uint32_t
mk_arp(uint8_t *f, const uint8_t *eth_dst, uint16_t op, const uint8_t *sha, uint32_t spa,
       const uint8_t *tha, uint32_t tpa)
{
	uint8_t *a = f + 14;

	put_eth(f, eth_dst, sha, 0x0806);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	put32(a + 14, spa);
	memcpy(a + 18, tha, 6);
	put32(a + 24, tpa);
	return 42;
}

/* ---- fixture ------------------------------------------------------------------------------ */

#define T0 (100 * 1000000000ull) /* the simulated clock starts at 100 s */
#define S  1000000000ull

static struct stk_iface g_ifc;
static struct stk_arp_table *g_arp;
static struct stk_lcore g_lc;
static uint64_t g_seen[STK_CNT__MAX]; /* counters of every reset lcore, to prove coverage */
static uint8_t F[2048];

static void
fold_counters(void)
{
	for (int i = 0; i < STK_CNT__MAX; i++)
		g_seen[i] += g_lc.cnt[i];
}

static void
fixture_init(void)
{
	memset(&g_ifc, 0, sizeof(g_ifc));
	memcpy(g_ifc.mac, GW_MAC, 6);
	g_ifc.own = calloc(1, sizeof(*g_ifc.own));
	g_ifc.own[0] = (struct stk_prefix){GW_IP, 24};
	g_ifc.n_own = 1;
	g_ifc.tenant = calloc(2, sizeof(*g_ifc.tenant));
	g_ifc.tenant[0] = (struct stk_prefix){TENANT_IP, 32};
	g_ifc.tenant[1] = (struct stk_prefix){TENANT_NET, 24};
	g_ifc.n_tenant = 2;
	g_ifc.next_hop = NEXT_HOP;
	g_ifc.icmp_echo_rate = 1000;
	g_ifc.icmp_echo_burst = 1000;
	g_ifc.icmp_unreach_rate = 1000;
	g_ifc.icmp_unreach_burst = 1000;
	if (stk_iface_finish(&g_ifc) != 0) {
		fprintf(stderr, "stk_iface_finish failed\n");
		exit(2);
	}
}

/* fresh worker state and ARP table */
static void
reset(void)
{
	fold_counters();
	stk_arp_destroy(g_arp);
	g_arp = stk_arp_create(64, 60 * S);
	g_ifc.tx_ipck_offload = false;
	stk_lcore_init(&g_lc, &g_ifc, g_arp, 8, 1 * S, T0);
}

static enum stk_verdict
run(uint8_t *f, uint32_t len, uint32_t flags, struct stk_buf *b, struct stk_pkt_info *info)
{
	b->data = f;
	b->len = len;
	b->room = sizeof(F);
	b->flags = flags;
	return stk_input(&g_lc, b, info);
}

/* f is dropped under exactly one reason, want */
static void
expect_drop_at(int line, uint8_t *f, uint32_t len, uint32_t flags, enum stk_counter want)
{
	uint64_t before[STK_CNT__MAX];
	struct stk_pkt_info info;
	struct stk_buf b;
	enum stk_verdict v;
	bool ok = true;

	memcpy(before, g_lc.cnt, sizeof(before));
	v = run(f, len, flags, &b, &info);
	for (int i = 0; i < STK_CNT__MAX; i++) {
		uint64_t d = g_lc.cnt[i] - before[i];

		if (stk_counter_is_drop((enum stk_counter)i) && d != (i == (int)want)) {
			fprintf(stderr, "%s:%d: [%s] counter %s moved by %llu (want %s)\n",
			        __FILE__, line, check_st.group, stk_counter_names[i],
			        (unsigned long long)d, stk_counter_names[want]);
			ok = false;
		}
	}
	if (v != STK_V_DROP) {
		fprintf(stderr, "%s:%d: [%s] verdict %d, want drop (%s)\n", __FILE__, line,
		        check_st.group, v, stk_counter_names[want]);
		ok = false;
	}
	check_tally(ok);
}

#define EXPECT_DROP(f, len, flags, want) expect_drop_at(__LINE__, f, len, flags, STK_CNT_##want)

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_cksum(void)
{
	uint8_t buf[300];

	check_group_begin("cksum");
	fill_pattern(buf, sizeof(buf), 0x5a);
	buf[17] = 0xff;
	buf[18] = 0xff;
	/* every length and both alignments against the byte-wise reference */
	for (unsigned off = 0; off < 3; off++) {
		bool ok = true;

		for (unsigned n = 0; n + off <= 257; n++) {
			uint16_t want = (uint16_t)~ref_sum(buf + off, n, 0);
			uint16_t got = stk_ntohs(stk_cksum(buf + off, n));

			ok &= want == got;
		}
		CHECK(ok);
	}
	/* all-ones data: the 64-bit end-around carry must not be lost */
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ(stk_ntohs(stk_cksum(buf, 64)), (uint16_t)~ref_sum(buf, 64, 0));
	CHECK_EQ(stk_ntohs(stk_cksum(buf, 71)), (uint16_t)~ref_sum(buf, 71, 0));

	/* RFC 1624: update a word / an address, then verify against a full recompute */
	fill_pattern(buf, 40, 9);
	{
		uint16_t c, old, neww = stk_htons(0xbeef);
		uint32_t olda, newa = stk_htonl(0xc6120001);

		put16(buf + 10, 0);
		c = stk_cksum(buf, 40);
		memcpy(&old, buf + 4, 2);
		memcpy(buf + 4, &neww, 2);
		c = stk_cksum_update16(c, old, neww);
		memcpy(buf + 10, &c, 2);
		CHECK_EQ(ref_sum(buf, 40, 0), 0xffff);
		memcpy(&olda, buf + 20, 4);
		memcpy(buf + 20, &newa, 4);
		c = stk_cksum_update32(c, olda, newa);
		memcpy(buf + 10, &c, 2);
		CHECK_EQ(ref_sum(buf, 40, 0), 0xffff);
	}
	/* pseudo-header */
	{
		uint32_t l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 11);
		struct stk_ipv4_hdr *ip = (struct stk_ipv4_hdr *)(F + OFF_IP);
		uint64_t sum = stk_cksum_pseudo(ip->src, ip->dst, 17, (uint16_t)(l - OFF_L4));

		CHECK(stk_cksum_ok(stk_cksum_add(sum, F + OFF_L4, l - OFF_L4)));
	}
	check_group_end();
}

static void
test_iface(void)
{
	struct stk_iface bad;
	struct stk_prefix *p;
	bool uniq = true, named = true;

	check_group_begin("iface");
	CHECK(stk_iface_owns(&g_ifc, GW_IP));
	CHECK(stk_iface_owns(&g_ifc, TENANT_IP));
	CHECK(stk_iface_owns(&g_ifc, TENANT_NET));
	CHECK(stk_iface_owns(&g_ifc, TENANT_NETX));
	CHECK(stk_iface_owns(&g_ifc, IP4(198, 18, 2, 255)));
	CHECK(!stk_iface_owns(&g_ifc, IP4(198, 18, 3, 1)));
	CHECK(!stk_iface_owns(&g_ifc, IP4(198, 18, 1, 11)));
	CHECK(!stk_iface_owns(&g_ifc, PEER_IP));
	CHECK(!stk_iface_owns(&g_ifc, IP4(198, 18, 0, 255))); /* own subnet broadcast */
	CHECK(!stk_iface_owns(&g_ifc, IP4(198, 18, 0, 0)));
	CHECK(!stk_iface_owns(&g_ifc, 0));

	CHECK_EQ(stk_iface_route(&g_ifc, PEER_IP), PEER_IP);
	CHECK_EQ(stk_iface_route(&g_ifc, IP4(8, 8, 8, 8)), NEXT_HOP);

	/* an own address in 127/8 is refused */
	memset(&bad, 0, sizeof(bad));
	p = calloc(1, sizeof(*p));
	p[0] = (struct stk_prefix){IP4(127, 0, 0, 1), 8};
	bad.own = p;
	bad.n_own = 1;
	CHECK_EQ(stk_iface_finish(&bad), -EINVAL);
	/* no next hop: off-link has no route; several tenant prefixes of different lengths */
	bad.own[0] = (struct stk_prefix){IP4(10, 1, 2, 3), 16};
	bad.tenant = calloc(3, sizeof(*bad.tenant));
	bad.tenant[0] = (struct stk_prefix){IP4(10, 9, 0, 0), 16};
	bad.tenant[1] = (struct stk_prefix){IP4(10, 8, 4, 0), 22};
	bad.tenant[2] = (struct stk_prefix){IP4(172, 16, 0, 0), 12};
	bad.n_tenant = 3;
	CHECK_EQ(stk_iface_finish(&bad), 0);
	CHECK_EQ(stk_iface_route(&bad, IP4(8, 8, 8, 8)), 0);
	CHECK_EQ(stk_iface_route(&bad, IP4(10, 1, 200, 3)), IP4(10, 1, 200, 3));
	CHECK(stk_iface_owns(&bad, IP4(10, 9, 200, 1)));
	CHECK(stk_iface_owns(&bad, IP4(10, 8, 7, 255)));
	CHECK(!stk_iface_owns(&bad, IP4(10, 8, 8, 0)));
	CHECK(stk_iface_owns(&bad, IP4(172, 31, 255, 254)));
	CHECK(!stk_iface_owns(&bad, IP4(172, 32, 0, 1)));
	CHECK(stk_iface_owns(&bad, IP4(10, 1, 2, 3)));
	CHECK(!stk_iface_owns(&bad, IP4(10, 1, 255, 255)));
	stk_iface_release(&bad);
	CHECK(bad.own == NULL && bad.tenant == NULL && bad.own_set == NULL);
	stk_iface_release(NULL);

	for (int i = 0; i < STK_CNT__MAX; i++) {
		named &= stk_counter_names[i] != NULL && stk_counter_help[i] != NULL;
		for (int j = 0; j < i && named; j++)
			uniq &= strcmp(stk_counter_names[i], stk_counter_names[j]) != 0;
	}
	CHECK(named);
	CHECK(uniq);
	CHECK(stk_counter_is_drop(STK_CNT_DROP_ETH_RUNT));
	CHECK(stk_counter_is_drop(STK_CNT_DROP_NO_ROUTE));
	CHECK(!stk_counter_is_drop(STK_CNT_ARP_REQ_IN));
	CHECK(!stk_counter_is_drop(STK_CNT_ICMP_UNREACH_LIMITED));
	check_group_end();
}

static void
test_eth(void)
{
	struct stk_pkt_info info;
	struct stk_buf b;
	uint32_t l;

	check_group_begin("eth");
	reset();
	/* 13 bytes: shorter than an Ethernet header */
	memset(F, 0, 13);
	EXPECT_DROP(F, 13, 0, DROP_ETH_RUNT);

	/* UDP peer -> gw, but to another host's unicast MAC 02:..:99 */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	memcpy(F, OTHER_MAC, 6);
	EXPECT_DROP(F, l, 0, DROP_ETH_NOT_OURS);
	/* same UDP to multicast MAC 01:00:5e:00:00:01 */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	memcpy(F, (const uint8_t[]){0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, 6);
	EXPECT_DROP(F, l, 0, DROP_ETH_MCAST);
	/* same UDP from a multicast source MAC */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	memcpy(F + 6, (const uint8_t[]){0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, 6);
	EXPECT_DROP(F, l, 0, DROP_ETH_BAD_SRC);
	/* from the broadcast MAC */
	memcpy(F + 6, BCAST_MAC, 6);
	EXPECT_DROP(F, l, 0, DROP_ETH_BAD_SRC);
	/* from 00:00:00:00:00:00 */
	memcpy(F + 6, ZERO_MAC, 6);
	EXPECT_DROP(F, l, 0, DROP_ETH_BAD_SRC);
	/* 802.1Q tag (0x8100) in front of an IPv4 packet */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	put16(F + 12, 0x8100);
	EXPECT_DROP(F, l, 0, DROP_ETH_VLAN);
	/* 802.1ad S-tag (0x88a8) */
	put16(F + 12, 0x88a8);
	EXPECT_DROP(F, l, 0, DROP_ETH_VLAN);
	/* IPv6 ethertype 0x86dd */
	put16(F + 12, 0x86dd);
	EXPECT_DROP(F, l, 0, DROP_ETH_TYPE);
	/* unknown ethertype 0x1234 */
	put16(F + 12, 0x1234);
	EXPECT_DROP(F, l, 0, DROP_ETH_TYPE);

	/* UDP to our IP sent to the broadcast MAC: accepted (delivered as UDP) */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	memcpy(F, BCAST_MAC, 6);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	check_group_end();
}

static void
test_arp_input(void)
{
	struct stk_pkt_info info;
	struct stk_buf b;
	uint8_t mac[6];
	uint32_t l;
	static const uint8_t NEW_MAC[6] = {0x02, 0, 0, 0, 0, 0x22};

	check_group_begin("arp");
	reset();
	/* ARP request cut at 34 bytes (20 of the 28-byte body) */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, GW_IP);
	EXPECT_DROP(F, 34, 0, DROP_ARP_BAD);
	/* hardware type 6 (IEEE 802) */
	put16(F + 14, 6);
	EXPECT_DROP(F, l, 0, DROP_ARP_BAD);
	/* protocol type 0x86dd */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, GW_IP);
	put16(F + 16, 0x86dd);
	EXPECT_DROP(F, l, 0, DROP_ARP_BAD);
	/* hardware address length 8 */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, GW_IP);
	F[18] = 8;
	EXPECT_DROP(F, l, 0, DROP_ARP_BAD);
	/* protocol address length 16 */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, GW_IP);
	F[19] = 16;
	EXPECT_DROP(F, l, 0, DROP_ARP_BAD);
	/* request whose sender hardware address is multicast */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, GW_IP);
	F[22] = 0x01;
	EXPECT_DROP(F, l, 0, DROP_ARP_BAD);
	/* request whose sender protocol address is 127.0.0.1 */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, IP4(127, 0, 0, 1), ZERO_MAC, GW_IP);
	EXPECT_DROP(F, l, 0, DROP_ARP_BAD);
	/* request claiming our own address as sender (conflict or spoof): not learned */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, GW_IP, ZERO_MAC, GW_IP);
	EXPECT_DROP(F, l, 0, DROP_ARP_BAD);
	CHECK_EQ(stk_arp_lookup(g_arp, GW_IP, mac), -ENOENT);
	/* reply from 0.0.0.0 */
	l = mk_arp(F, GW_MAC, 2, PEER_MAC, 0, GW_MAC, GW_IP);
	EXPECT_DROP(F, l, 0, DROP_ARP_BAD);
	/* opcode 3 (RARP request) */
	l = mk_arp(F, BCAST_MAC, 3, PEER_MAC, PEER_IP, ZERO_MAC, GW_IP);
	EXPECT_DROP(F, l, 0, DROP_ARP_OP);
	/* request for 198.18.0.77, which we do not own: not answered, sender not created */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, IP4(198, 18, 0, 77));
	EXPECT_DROP(F, l, 0, DROP_ARP_NOT_OURS);
	CHECK_EQ(stk_arp_lookup(g_arp, PEER_IP, mac), -ENOENT);
	CHECK_EQ(g_lc.cnt[STK_CNT_ARP_LEARNED], 0);

	/* who-has 198.18.0.1 tell 198.18.0.2, broadcast, 42 bytes: answered in place */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, GW_IP);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	CHECK_EQ(b.len, 60);
	CHECK(memcmp(F, PEER_MAC, 6) == 0);
	CHECK(memcmp(F + 6, GW_MAC, 6) == 0);
	CHECK_EQ(get16(F + 12), 0x0806);
	CHECK_EQ(get16(F + 14), 1);
	CHECK_EQ(get16(F + 16), 0x0800);
	CHECK_EQ(get16(F + 20), 2);
	CHECK(memcmp(F + 22, GW_MAC, 6) == 0);
	CHECK_EQ(get32(F + 28), GW_IP);
	CHECK(memcmp(F + 32, PEER_MAC, 6) == 0);
	CHECK_EQ(get32(F + 38), PEER_IP);
	CHECK(memcmp(F + 42, (uint8_t[18]){0}, 18) == 0);
	CHECK_EQ(g_lc.cnt[STK_CNT_ARP_REQ_IN], 1);
	/* the requester was learned (it targeted us) */
	CHECK_EQ(stk_arp_lookup(g_arp, PEER_IP, mac), 0);
	CHECK(memcmp(mac, PEER_MAC, 6) == 0);

	/* who-has 198.18.1.10 (tenant /32), padded to 60 with 0xee: reply says 198.18.1.10 is us */
	memset(F, 0xee, 60);
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, TENANT_IP);
	CHECK_EQ(run(F, 60, 0, &b, &info), STK_V_TX);
	CHECK_EQ(b.len, 60);
	CHECK_EQ(get16(F + 20), 2);
	CHECK(memcmp(F + 22, GW_MAC, 6) == 0);
	CHECK_EQ(get32(F + 28), TENANT_IP);
	CHECK_EQ(get32(F + 38), PEER_IP);
	CHECK(memcmp(F + 42, (uint8_t[18]){0}, 18) == 0);
	/* who-has 198.18.2.33 (inside the tenant /24), unicast to our MAC */
	l = mk_arp(F, GW_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, TENANT_NETX);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	CHECK_EQ(get32(F + 28), TENANT_NETX);
	CHECK(memcmp(F, PEER_MAC, 6) == 0);
	/* RFC 5227 probe: who-has 198.18.0.1 tell 0.0.0.0: defended (answered), nothing learned */
	l = mk_arp(F, BCAST_MAC, 1, NEW_MAC, 0, ZERO_MAC, GW_IP);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	CHECK_EQ(get32(F + 38), 0);
	CHECK(memcmp(F, NEW_MAC, 6) == 0);
	CHECK_EQ(stk_arp_count(g_arp), 1);

	/* reply 198.18.0.254 is-at 02:..:22, to us: consumed and learned */
	l = mk_arp(F, GW_MAC, 2, NEW_MAC, NEXT_HOP, GW_MAC, GW_IP);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_CONSUMED);
	CHECK_EQ(g_lc.cnt[STK_CNT_ARP_REPLY_IN], 1);
	CHECK_EQ(stk_arp_lookup(g_arp, NEXT_HOP, mac), 0);
	CHECK(memcmp(mac, NEW_MAC, 6) == 0);

	/* RFC 826 merge: a request from the known peer (now at NEW_MAC) for someone else refreshes
	 */
	l = mk_arp(F, BCAST_MAC, 1, NEW_MAC, PEER_IP, ZERO_MAC, IP4(198, 18, 0, 77));
	g_lc.now_ns = T0 + 5 * S;
	EXPECT_DROP(F, l, 0, DROP_ARP_NOT_OURS);
	CHECK_EQ(stk_arp_lookup(g_arp, PEER_IP, mac), 0);
	CHECK(memcmp(mac, NEW_MAC, 6) == 0);
	/* gratuitous ARP from an unknown host 198.18.0.50: not for us, not created */
	l = mk_arp(F, BCAST_MAC, 1, OTHER_MAC, IP4(198, 18, 0, 50), ZERO_MAC, IP4(198, 18, 0, 50));
	EXPECT_DROP(F, l, 0, DROP_ARP_NOT_OURS);
	CHECK_EQ(stk_arp_lookup(g_arp, IP4(198, 18, 0, 50), mac), -ENOENT);
	/* gratuitous ARP from the known peer, moved back to PEER_MAC: refreshed */
	l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, PEER_IP, ZERO_MAC, PEER_IP);
	EXPECT_DROP(F, l, 0, DROP_ARP_NOT_OURS);
	CHECK_EQ(stk_arp_lookup(g_arp, PEER_IP, mac), 0);
	CHECK(memcmp(mac, PEER_MAC, 6) == 0);

	/* table full: a 2-entry table, third requester is answered but not learned */
	stk_arp_destroy(g_arp);
	g_arp = stk_arp_create(2, 60 * S);
	g_lc.arp = g_arp;
	for (int i = 0; i < 3; i++) {
		/* who-has 198.18.0.1 tell 198.18.0.(10+i) */
		l = mk_arp(F, BCAST_MAC, 1, PEER_MAC, IP4(198, 18, 0, 10 + i), ZERO_MAC, GW_IP);
		CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	}
	CHECK_EQ(stk_arp_count(g_arp), 2);
	CHECK_EQ(g_lc.cnt[STK_CNT_ARP_TABLE_FULL], 1);
	CHECK_EQ(stk_arp_lookup(g_arp, IP4(198, 18, 0, 12), mac), -ENOENT);

	/* builders */
	memset(F, 0xcc, 64);
	CHECK_EQ(stk_arp_build_request(&g_ifc, GW_IP, NEXT_HOP, F, 59), 0);
	CHECK_EQ(stk_arp_build_request(&g_ifc, GW_IP, NEXT_HOP, F, 64), 60);
	CHECK(memcmp(F, BCAST_MAC, 6) == 0);
	CHECK(memcmp(F + 6, GW_MAC, 6) == 0);
	CHECK_EQ(get16(F + 12), 0x0806);
	CHECK_EQ(get16(F + 14), 1);
	CHECK_EQ(get16(F + 16), 0x0800);
	CHECK_EQ(F[18], 6);
	CHECK_EQ(F[19], 4);
	CHECK_EQ(get16(F + 20), 1);
	CHECK(memcmp(F + 22, GW_MAC, 6) == 0);
	CHECK_EQ(get32(F + 28), GW_IP);
	CHECK(memcmp(F + 32, ZERO_MAC, 6) == 0);
	CHECK_EQ(get32(F + 38), NEXT_HOP);
	CHECK(memcmp(F + 42, (uint8_t[18]){0}, 18) == 0);
	CHECK_EQ(F[60], 0xcc);
	CHECK_EQ(stk_arp_build_garp(&g_ifc, TENANT_IP, F, 60), 60);
	CHECK_EQ(get16(F + 20), 1);
	CHECK_EQ(get32(F + 28), TENANT_IP);
	CHECK_EQ(get32(F + 38), TENANT_IP);
	CHECK(memcmp(F, BCAST_MAC, 6) == 0);
	/* our own GARP looped back to us is refused (sender is ours), never learned */
	EXPECT_DROP(F, 60, 0, DROP_ARP_BAD);
	check_group_end();
}

static void
test_arp_table(void)
{
	struct stk_arp_table *t;
	struct stk_arp_entry e[8];
	uint8_t mac[6];
	static const uint8_t M1[6] = {0x02, 1, 1, 1, 1, 1}, M2[6] = {0x02, 2, 2, 2, 2, 2};

	check_group_begin("arp_table");
	errno = 0;
	CHECK(stk_arp_create(0, S) == NULL && errno == EINVAL);
	t = stk_arp_create(4, 10 * S);
	CHECK(t != NULL);
	CHECK_EQ(stk_arp_lookup(t, PEER_IP, mac), -ENOENT);
	CHECK_EQ(stk_arp_update(t, PEER_IP, M1, T0, false), -ENOENT);
	CHECK_EQ(stk_arp_update(t, PEER_IP, M1, T0, true), 0);
	CHECK_EQ(stk_arp_lookup(t, PEER_IP, mac), 0);
	CHECK(memcmp(mac, M1, 6) == 0);
	CHECK_EQ(stk_arp_update(t, PEER_IP, M2, T0 + S, false), 0);
	CHECK_EQ(stk_arp_lookup(t, PEER_IP, mac), 0);
	CHECK(memcmp(mac, M2, 6) == 0);
	CHECK_EQ(stk_arp_count(t), 1);
	for (uint32_t i = 1; i <= 3; i++)
		CHECK_EQ(stk_arp_update(t, IP4(198, 18, 0, 100 + i), M1, T0 + i * S, true), 0);
	CHECK_EQ(stk_arp_update(t, IP4(198, 18, 0, 200), M1, T0, true), -ENOSPC);
	CHECK_EQ(stk_arp_count(t), 4);
	CHECK_EQ(stk_arp_dump(t, e, 8), 4);
	CHECK_EQ(stk_arp_dump(t, e, 2), 2);
	{
		unsigned n = stk_arp_dump(t, e, 8);
		bool found = false;

		for (unsigned i = 0; i < n; i++)
			if (e[i].ip == PEER_IP)
				found = memcmp(e[i].mac, M2, 6) == 0 && e[i].updated_ns == T0 + S;
		CHECK(found);
	}
	/* aging: exactly timeout old stays, older goes. PEER at T0+1s, .101 at +1s, .102 +2, .103
	 * +3 */
	CHECK_EQ(stk_arp_age(t, T0 + 11 * S), 0);
	CHECK_EQ(stk_arp_age(t, T0 + 11 * S + 1), 2);
	CHECK_EQ(stk_arp_count(t), 2);
	CHECK_EQ(stk_arp_lookup(t, PEER_IP, mac), -ENOENT);
	CHECK_EQ(stk_arp_lookup(t, IP4(198, 18, 0, 102), mac), 0);
	/* a refresh keeps an entry alive */
	CHECK_EQ(stk_arp_update(t, IP4(198, 18, 0, 102), M2, T0 + 20 * S, false), 0);
	CHECK_EQ(stk_arp_age(t, T0 + 25 * S), 1);
	CHECK_EQ(stk_arp_lookup(t, IP4(198, 18, 0, 102), mac), 0);
	CHECK_EQ(stk_arp_lookup(t, IP4(198, 18, 0, 103), mac), -ENOENT);
	/* room again after aging */
	CHECK_EQ(stk_arp_update(t, IP4(198, 18, 0, 200), M1, T0 + 25 * S, true), 0);
	CHECK_EQ(stk_arp_lookup(t, 0, mac), -ENOENT);
	stk_arp_destroy(t);
	stk_arp_destroy(NULL);
	check_group_end();
}

static void
test_pending(void)
{
	void *ready[8], *expired[8];
	uint8_t macs[8][6];
	unsigned nr, ne;
	int tok[16];
	static const uint8_t HOP_MAC[6] = {0x02, 0, 0, 0, 0xfe, 0xfe};
	const uint32_t A = NEXT_HOP, B = IP4(198, 18, 0, 9);

	check_group_begin("pending");
	reset();
	g_lc.now_ns = T0;
	CHECK_EQ(stk_arp_hold(&g_lc, A, &tok[0]), 1); /* first packet for A: ask */
	CHECK_EQ(stk_arp_hold(&g_lc, A, &tok[1]), 0); /* same second: queue only */
	CHECK_EQ(stk_arp_hold(&g_lc, B, &tok[2]), 1);
	g_lc.now_ns = T0 + S / 2;
	CHECK_EQ(stk_arp_hold(&g_lc, A, &tok[3]), 0);
	CHECK_EQ(g_lc.cnt[STK_CNT_ARP_REQ_OUT], 2);
	stk_arp_pending_poll(&g_lc, ready, macs, &nr, expired, &ne, 8);
	CHECK(nr == 0 && ne == 0);
	CHECK_EQ(g_lc.pending.n, 4);

	/* A resolves */
	CHECK_EQ(stk_arp_update(g_arp, A, HOP_MAC, g_lc.now_ns, true), 0);
	g_lc.now_ns = T0 + S - 1;
	CHECK_EQ(stk_arp_hold(&g_lc, A, &tok[4]), 0);
	stk_arp_pending_poll(&g_lc, ready, macs, &nr, expired, &ne, 2); /* room for two */
	CHECK_EQ(nr, 2);
	CHECK_EQ(ne, 0);
	CHECK(ready[0] == &tok[0] && ready[1] == &tok[1]);
	CHECK(memcmp(macs[0], HOP_MAC, 6) == 0 && memcmp(macs[1], HOP_MAC, 6) == 0);
	stk_arp_pending_poll(&g_lc, ready, macs, &nr, expired, &ne, 8);
	CHECK_EQ(nr, 2);
	CHECK(ready[0] == &tok[3] && ready[1] == &tok[4]); /* order kept */
	CHECK_EQ(g_lc.pending.n, 1);                       /* B still waits */

	/* one second on, B is asked again by its next packet; then B times out (1 s) */
	g_lc.now_ns = T0 + S;
	CHECK_EQ(stk_arp_hold(&g_lc, B, &tok[5]), 1);
	stk_arp_pending_poll(&g_lc, ready, macs, &nr, expired, &ne, 8);
	CHECK_EQ(ne, 1);
	CHECK(expired[0] == &tok[2]);
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_ARP_TIMEOUT], 1);
	g_lc.now_ns = T0 + 2 * S;
	stk_arp_pending_poll(&g_lc, ready, macs, &nr, expired, &ne, 8);
	CHECK(nr == 0 && ne == 1 && expired[0] == &tok[5]);
	CHECK_EQ(g_lc.pending.n, 0);

	/* full: cap is 8 */
	for (int i = 0; i < 8; i++)
		CHECK(stk_arp_hold(&g_lc, A + 1, &tok[i]) >= 0);
	CHECK_EQ(stk_arp_hold(&g_lc, A + 1, &tok[8]), -ENOBUFS);
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_ARP_PENDING_FULL], 1);
	/* no route */
	CHECK_EQ(stk_arp_hold(&g_lc, 0, &tok[9]), -EHOSTUNREACH);
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_NO_ROUTE], 1);

	/* request limit: STK_ARP_ASKED_MAX distinct hops a second, then the next must wait */
	reset();
	stk_lcore_init(&g_lc, &g_ifc, g_arp, STK_ARP_PENDING_MAX, S, T0);
	{
		int asked = 0;

		for (uint32_t i = 0; i < STK_ARP_ASKED_MAX + 1; i++)
			asked += stk_arp_hold(&g_lc, IP4(198, 18, 0, 100 + i), &tok[0]);
		CHECK_EQ(asked, STK_ARP_ASKED_MAX);
		g_lc.now_ns = T0 + S;
		CHECK_EQ(stk_arp_hold(&g_lc, IP4(198, 18, 0, 100 + STK_ARP_ASKED_MAX), &tok[0]), 1);
	}
	check_group_end();
}

static void
test_ipv4(void)
{
	struct stk_pkt_info info;
	struct stk_buf b;
	uint32_t l;

	check_group_begin("ipv4");
	reset();
	/* 33 bytes: Ethernet + 19 bytes of IPv4 */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	EXPECT_DROP(F, 33, 0, DROP_IP_RUNT);
	/* version 6 in an IPv4 ethertype (0x65) */
	F[OFF_IP] = 0x65;
	ip_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_IP_VERSION);
	/* IHL 4 */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	F[OFF_IP] = 0x44;
	EXPECT_DROP(F, l, 0, DROP_IP_IHL);
	/* IHL 15 (60 bytes) in a 54-byte frame (40 bytes of IP) */
	l = mk_tcp(F, GW_IP, 1000, 80, 1, 0, STK_TCP_SYN, 0);
	F[OFF_IP] = 0x4f;
	EXPECT_DROP(F, l, 0, DROP_IP_IHL);
	/* total length 200 in a 46-byte frame */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	put16(F + OFF_IP + 2, 200);
	ip_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_IP_LEN);
	/* total length 19: below the header */
	put16(F + OFF_IP + 2, 19);
	ip_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_IP_LEN);
	/* header checksum off by one */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	F[OFF_IP + 11] ^= 1;
	EXPECT_DROP(F, l, 0, DROP_IP_CKSUM);
	/* same wrong checksum, NIC says GOOD: the software check is skipped */
	CHECK_EQ(run(F, l, STK_BUF_RX_IPCK_GOOD, &b, &info), STK_V_UDP);
	/* correct checksum, NIC says BAD: dropped */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	EXPECT_DROP(F, l, STK_BUF_RX_IPCK_BAD, DROP_IP_CKSUM);
	/* IHL 6: one word of options (NOP NOP NOP EOL), valid checksum, UDP shifted behind it */
	{
		uint8_t tmp[64];

		l = mk_udp(tmp, PEER_IP, GW_IP, 1000, 53, 4);
		memcpy(F, tmp, OFF_L4);
		memcpy(F + OFF_L4 + 4, tmp + OFF_L4, l - OFF_L4);
		memcpy(F + OFF_L4, (const uint8_t[]){1, 1, 1, 0}, 4);
		F[OFF_IP] = 0x46;
		put16(F + OFF_IP + 2, (uint16_t)(l - OFF_IP + 4));
		ip_recksum(F);
		EXPECT_DROP(F, l + 4, 0, DROP_IP_OPTIONS);
	}
	/* first fragment: MF set, offset 0 */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	put16(F + OFF_IP + 6, 0x2000);
	ip_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_IP_FRAG);
	/* last fragment: MF clear, offset 185 (1480 bytes) */
	put16(F + OFF_IP + 6, 185);
	ip_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_IP_FRAG);
	/* DF alone is not a fragment */
	put16(F + OFF_IP + 6, 0x4000);
	ip_recksum(F);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	/* TTL 0 */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	F[OFF_IP + 8] = 0;
	ip_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_IP_TTL);
	/* TTL 1 is fine for a host */
	F[OFF_IP + 8] = 1;
	ip_recksum(F);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	/* bad sources: 255.255.255.255, 224.0.0.5, 127.0.0.1, 0.0.0.0, 240.0.0.1, ours, a tenant's,
	 * the own subnet's broadcast 198.18.0.255 and network 198.18.0.0 */
	{
		static const uint32_t bad[] = {
		        IP4(255, 255, 255, 255),
		        IP4(224, 0, 0, 5),
		        IP4(127, 0, 0, 1),
		        0,
		        IP4(240, 0, 0, 1),
		        GW_IP,
		        TENANT_IP,
		        TENANT_NETX,
		        IP4(198, 18, 0, 255),
		        IP4(198, 18, 0, 0),
		};

		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			l = mk_udp(F, bad[i], GW_IP, 1000, 53, 4);
			EXPECT_DROP(F, l, 0, DROP_IP_BAD_SRC);
		}
	}
	/* to 198.18.0.77 (not ours), 198.18.0.255 (own subnet broadcast), 224.0.0.1 */
	l = mk_udp(F, PEER_IP, IP4(198, 18, 0, 77), 1000, 53, 4);
	EXPECT_DROP(F, l, 0, DROP_IP_NOT_OURS);
	l = mk_udp(F, PEER_IP, IP4(198, 18, 0, 255), 1000, 53, 4);
	EXPECT_DROP(F, l, 0, DROP_IP_NOT_OURS);
	l = mk_udp(F, PEER_IP, IP4(224, 0, 0, 1), 1000, 53, 4);
	EXPECT_DROP(F, l, 0, DROP_IP_NOT_OURS);
	/* protocol 47 (GRE) */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 4);
	F[OFF_IP + 9] = 47;
	ip_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_IP_PROTO);
	/* UDP to a tenant prefix address: delivered */
	l = mk_udp(F, PEER_IP, TENANT_NETX, 1000, 53, 4);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	CHECK_EQ(info.dst_ip, TENANT_NETX);
	check_group_end();
}

/* verify a reply's IPv4 header checksum, or (offload) that it is 0 and flagged */
static bool
ip_cksum_good(const uint8_t *f, const struct stk_buf *b, bool offload)
{
	if (offload)
		return get16(f + OFF_IP + 10) == 0 && (b->flags & STK_BUF_TX_IPCK);
	return ref_sum(f + OFF_IP, 20, 0) == 0xffff && !(b->flags & STK_BUF_TX_IPCK);
}

static void
test_icmp(void)
{
	struct stk_pkt_info info;
	struct stk_buf b;
	uint8_t req[256];
	uint32_t l;

	check_group_begin("icmp");
	reset();
	/* ICMP with 4 bytes: shorter than its header */
	l = mk_icmp(F, GW_IP, 8, 0, 0);
	put16(F + OFF_IP + 2, 24);
	ip_recksum(F);
	EXPECT_DROP(F, 14 + 24, 0, DROP_ICMP_BAD);
	/* echo request with a wrong ICMP checksum */
	l = mk_icmp(F, GW_IP, 8, 0, 16);
	F[OFF_L4 + 3] ^= 0x40;
	EXPECT_DROP(F, l, 0, DROP_ICMP_BAD);
	/* timestamp request (13): not answered */
	l = mk_icmp(F, GW_IP, 13, 0, 12);
	EXPECT_DROP(F, l, 0, DROP_ICMP_TYPE);
	/* an echo reply (0) nobody asked for */
	l = mk_icmp(F, GW_IP, 0, 0, 16);
	EXPECT_DROP(F, l, 0, DROP_ICMP_TYPE);
	/* destination unreachable (3/3): an ICMP error is never answered */
	l = mk_icmp(F, GW_IP, 3, 3, 28);
	EXPECT_DROP(F, l, 0, DROP_ICMP_TYPE);

	/* echo request peer -> gw, 56 bytes of payload (ping's default) */
	l = mk_icmp(F, GW_IP, 8, 0, 56);
	memcpy(req, F, l);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	CHECK_EQ(b.len, l);
	CHECK(memcmp(F, PEER_MAC, 6) == 0);
	CHECK(memcmp(F + 6, GW_MAC, 6) == 0);
	CHECK_EQ(get16(F + 12), 0x0800);
	CHECK_EQ(F[OFF_IP], 0x45);
	CHECK_EQ(ip_totlen(F), 20 + 8 + 56);
	CHECK_EQ(get16(F + OFF_IP + 4), 0x1234); /* ID preserved */
	CHECK_EQ(F[OFF_IP + 8], 64);
	CHECK_EQ(F[OFF_IP + 9], 1);
	CHECK_EQ(get32(F + OFF_IP + 12), GW_IP);
	CHECK_EQ(get32(F + OFF_IP + 16), PEER_IP);
	CHECK(ip_cksum_good(F, &b, false));
	CHECK_EQ(F[OFF_L4], 0);
	CHECK_EQ(F[OFF_L4 + 1], 0);
	CHECK_EQ(ref_sum(F + OFF_L4, 64, 0), 0xffff);
	CHECK_EQ(get16(F + OFF_L4 + 4), 0x4242);
	CHECK_EQ(get16(F + OFF_L4 + 6), 7);
	CHECK(memcmp(F + OFF_L4 + 8, req + OFF_L4 + 8, 56) == 0);
	CHECK_EQ(g_lc.cnt[STK_CNT_ICMP_ECHO_OUT], 1);

	/* echo request, 37 bytes of payload (odd), TTL 3, to the tenant /32, port does offload */
	l = mk_icmp(F, TENANT_IP, 8, 0, 37);
	F[OFF_IP + 8] = 3;
	ip_recksum(F);
	memcpy(req, F, l);
	g_ifc.tx_ipck_offload = true;
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	g_ifc.tx_ipck_offload = false;
	CHECK(ip_cksum_good(F, &b, true));
	CHECK_EQ(F[OFF_IP + 8], 64);
	CHECK_EQ(get32(F + OFF_IP + 12), TENANT_IP);
	CHECK_EQ(ref_sum(F + OFF_L4, 8 + 37, 0), 0xffff);
	CHECK(memcmp(F + OFF_L4 + 8, req + OFF_L4 + 8, 37) == 0);
	CHECK_EQ(b.len, l);

	/* echo request with 4 bytes of payload (46 bytes) padded to 60 with 0xaa, L2 broadcast */
	memset(F, 0xaa, 60);
	mk_icmp(F, GW_IP, 8, 0, 4);
	memcpy(F, BCAST_MAC, 6);
	CHECK_EQ(run(F, 60, 0, &b, &info), STK_V_TX);
	CHECK_EQ(b.len, 60);
	CHECK_EQ(ref_sum(F + OFF_L4, 12, 0), 0xffff);
	CHECK(memcmp(F, PEER_MAC, 6) == 0);
	CHECK(memcmp(F + 6, GW_MAC, 6) == 0);
	CHECK(memcmp(F + 46, (uint8_t[14]){0}, 14) == 0);

	/* echo request with code 5 (nonsense): answered with code 0, checksum still right */
	l = mk_icmp(F, GW_IP, 8, 5, 20);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	CHECK_EQ(F[OFF_L4 + 1], 0);
	CHECK_EQ(ref_sum(F + OFF_L4, 28, 0), 0xffff);

	/* rate limit: 1/s with a burst of 2 -> two replies, the third is suppressed */
	stk_tb_init(&g_lc.icmp_echo_tb, 1, 2, g_lc.now_ns);
	for (int i = 0; i < 2; i++) {
		l = mk_icmp(F, GW_IP, 8, 0, 8);
		CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	}
	l = mk_icmp(F, GW_IP, 8, 0, 8);
	EXPECT_DROP(F, l, 0, DROP_ICMP_RATE);
	g_lc.now_ns += S;
	l = mk_icmp(F, GW_IP, 8, 0, 8);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TX);
	check_group_end();
}

static void
test_udp(void)
{
	struct stk_pkt_info info;
	struct stk_buf b;
	uint8_t req[256];
	uint32_t l;

	check_group_begin("udp");
	reset();
	/* IP payload of 4 bytes: shorter than a UDP header */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 0);
	put16(F + OFF_IP + 2, 24);
	ip_recksum(F);
	EXPECT_DROP(F, 38, 0, DROP_UDP_BAD);
	/* UDP length 7 */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 10);
	put16(F + OFF_L4 + 4, 7);
	EXPECT_DROP(F, l, 0, DROP_UDP_BAD);
	/* UDP length 19 in a 18-byte IP payload */
	put16(F + OFF_L4 + 4, 19);
	EXPECT_DROP(F, l, 0, DROP_UDP_BAD);
	/* wrong checksum */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 10);
	F[OFF_L4 + 9] ^= 0xff;
	EXPECT_DROP(F, l, 0, DROP_UDP_BAD);
	/* same wrong checksum, NIC says L4 GOOD: accepted */
	CHECK_EQ(run(F, l, STK_BUF_RX_L4CK_GOOD, &b, &info), STK_V_UDP);
	/* right checksum, NIC says L4 BAD */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 10);
	EXPECT_DROP(F, l, STK_BUF_RX_L4CK_BAD, DROP_UDP_BAD);
	/* checksum 0: the sender computed none; valid whatever the payload */
	F[OFF_L4 + 9] ^= 0xff;
	put16(F + OFF_L4 + 6, 0);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);

	/* 10.0.0.x:1000 -> gw:53 with 10 bytes */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 10);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	CHECK_EQ(info.src_ip, PEER_IP);
	CHECK_EQ(info.dst_ip, GW_IP);
	CHECK_EQ(info.src_port, 1000);
	CHECK_EQ(info.dst_port, 53);
	CHECK_EQ(info.l3_off, 14);
	CHECK_EQ(info.l4_off, 34);
	CHECK_EQ(info.pay_off, 42);
	CHECK_EQ(info.pay_len, 10);
	CHECK_EQ(info.proto, 17);

	/* 2 bytes of payload (44-byte frame) padded to 60 with 0x5c: length from IP, not frame */
	memset(F, 0x5c, 60);
	mk_udp(F, PEER_IP, GW_IP, 1000, 53, 2);
	CHECK_EQ(run(F, 60, 0, &b, &info), STK_V_UDP);
	CHECK_EQ(info.pay_len, 2);
	/* UDP length 10 (2 bytes of payload) inside an IP payload of 14: trailing bytes ignored */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 53, 6);
	put16(F + OFF_L4 + 4, 10);
	udp_recksum(F);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	CHECK_EQ(info.pay_len, 2);

	/* port unreachable for peer:1000 -> gw:9 with 100 bytes: rebuilt as 70 bytes */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 9, 100);
	memcpy(req, F, l);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	CHECK_EQ(stk_udp_unreach(&g_lc, &b, &info), STK_V_TX);
	CHECK_EQ(b.len, 70);
	CHECK(memcmp(F, PEER_MAC, 6) == 0);
	CHECK(memcmp(F + 6, GW_MAC, 6) == 0);
	CHECK_EQ(get16(F + 12), 0x0800);
	CHECK_EQ(F[OFF_IP], 0x45);
	CHECK_EQ(ip_totlen(F), 56);
	CHECK_EQ(get16(F + OFF_IP + 6), 0); /* DF clear, no fragment */
	CHECK_EQ(F[OFF_IP + 8], 64);
	CHECK_EQ(F[OFF_IP + 9], 1);
	CHECK_EQ(get32(F + OFF_IP + 12), GW_IP);
	CHECK_EQ(get32(F + OFF_IP + 16), PEER_IP);
	CHECK(ip_cksum_good(F, &b, false));
	CHECK_EQ(F[OFF_L4], 3);
	CHECK_EQ(F[OFF_L4 + 1], 3);
	CHECK_EQ(get32(F + OFF_L4 + 4), 0);
	CHECK_EQ(ref_sum(F + OFF_L4, 36, 0), 0xffff);
	CHECK(memcmp(F + OFF_L4 + 8, req + OFF_IP, 28) == 0); /* original IP header + UDP header */
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_UDP_NO_PORT], 1);
	CHECK_EQ(g_lc.cnt[STK_CNT_ICMP_UNREACH_OUT], 1);

	/* the same to a tenant prefix address, offload on: sent from that address */
	l = mk_udp(F, PEER_IP, TENANT_NETX, 1000, 9, 0);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	b.room = 70;
	g_ifc.tx_ipck_offload = true;
	CHECK_EQ(stk_udp_unreach(&g_lc, &b, &info), STK_V_TX);
	g_ifc.tx_ipck_offload = false;
	CHECK(ip_cksum_good(F, &b, true));
	CHECK_EQ(get32(F + OFF_IP + 12), TENANT_NETX);
	CHECK_EQ(ref_sum(F + OFF_L4, 36, 0), 0xffff);

	/* no room to grow (69 bytes): dropped, still counted as no port */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 9, 0);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	b.room = 69;
	CHECK_EQ(stk_udp_unreach(&g_lc, &b, &info), STK_V_DROP);
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_UDP_NO_PORT], 3);
	/* datagram to our IP but the broadcast MAC: no ICMP error */
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 9, 0);
	memcpy(F, BCAST_MAC, 6);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	CHECK_EQ(stk_udp_unreach(&g_lc, &b, &info), STK_V_DROP);
	/* rate limit: 1/s, burst 1 */
	stk_tb_init(&g_lc.icmp_unreach_tb, 1, 1, g_lc.now_ns);
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 9, 0);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	CHECK_EQ(stk_udp_unreach(&g_lc, &b, &info), STK_V_TX);
	l = mk_udp(F, PEER_IP, GW_IP, 1000, 9, 0);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_UDP);
	CHECK_EQ(stk_udp_unreach(&g_lc, &b, &info), STK_V_DROP);
	CHECK_EQ(g_lc.cnt[STK_CNT_ICMP_UNREACH_LIMITED], 1);
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_UDP_NO_PORT], 6);
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_ICMP_RATE], 0);
	check_group_end();
}

static void
test_tcp(void)
{
	struct stk_pkt_info info;
	struct stk_buf b;
	uint32_t l;

	check_group_begin("tcp");
	reset();
	/* IP payload of 16 bytes: shorter than a TCP header */
	l = mk_tcp(F, GW_IP, 40000, 80, 1000, 0, STK_TCP_SYN, 0);
	put16(F + OFF_IP + 2, 36);
	ip_recksum(F);
	EXPECT_DROP(F, 50, 0, DROP_TCP_BAD);
	/* data offset 4 */
	l = mk_tcp(F, GW_IP, 40000, 80, 1000, 0, STK_TCP_SYN, 0);
	F[OFF_L4 + 12] = 4 << 4;
	tcp_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_TCP_BAD);
	/* data offset 15 (60 bytes) with 20 bytes of segment */
	F[OFF_L4 + 12] = 15 << 4;
	tcp_recksum(F);
	EXPECT_DROP(F, l, 0, DROP_TCP_BAD);
	/* wrong checksum */
	l = mk_tcp(F, GW_IP, 40000, 80, 1000, 0, STK_TCP_SYN, 0);
	F[OFF_L4 + 17] ^= 0x10;
	EXPECT_DROP(F, l, 0, DROP_TCP_BAD);
	/* right checksum, NIC says L4 BAD */
	l = mk_tcp(F, GW_IP, 40000, 80, 1000, 0, STK_TCP_SYN, 0);
	EXPECT_DROP(F, l, STK_BUF_RX_L4CK_BAD, DROP_TCP_BAD);

	/* PSH|ACK with 10 bytes: info */
	l = mk_tcp(F, GW_IP, 40000, 80, 1000, 5555, STK_TCP_PSH | STK_TCP_ACK, 10);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TCP);
	CHECK_EQ(info.src_port, 40000);
	CHECK_EQ(info.dst_port, 80);
	CHECK_EQ(info.pay_off, 54);
	CHECK_EQ(info.pay_len, 10);
	CHECK_EQ(info.tcp_flags, STK_TCP_PSH | STK_TCP_ACK);
	/* ... to a closed port: ACK set -> <SEQ=5555><CTL=RST> */
	CHECK_EQ(stk_tcp_reset(&g_lc, &b, &info), STK_V_TX);
	CHECK_EQ(b.len, 60);
	CHECK(memcmp(F, PEER_MAC, 6) == 0);
	CHECK(memcmp(F + 6, GW_MAC, 6) == 0);
	CHECK_EQ(ip_totlen(F), 40);
	CHECK_EQ(F[OFF_IP + 8], 64);
	CHECK_EQ(F[OFF_IP + 9], 6);
	CHECK_EQ(get32(F + OFF_IP + 12), GW_IP);
	CHECK_EQ(get32(F + OFF_IP + 16), PEER_IP);
	CHECK(ip_cksum_good(F, &b, false));
	CHECK_EQ(get16(F + OFF_L4), 80);
	CHECK_EQ(get16(F + OFF_L4 + 2), 40000);
	CHECK_EQ(get32(F + OFF_L4 + 4), 5555);
	CHECK_EQ(get32(F + OFF_L4 + 8), 0);
	CHECK_EQ(F[OFF_L4 + 12], 5 << 4);
	CHECK_EQ(F[OFF_L4 + 13], STK_TCP_RST);
	CHECK_EQ(ref_sum(F + OFF_L4, 20, ref_pseudo(F, 6, 20)), 0xffff);
	CHECK(memcmp(F + 54, (uint8_t[6]){0}, 6) == 0);

	/* SYN seq 1000 (54 bytes) padded to 60 with 0x77: <SEQ=0><ACK=1001><CTL=RST,ACK> */
	memset(F, 0x77, 60);
	mk_tcp(F, TENANT_IP, 40001, 22, 1000, 0, STK_TCP_SYN, 0);
	CHECK_EQ(run(F, 60, 0, &b, &info), STK_V_TCP);
	CHECK_EQ(info.pay_len, 0);
	g_ifc.tx_ipck_offload = true;
	CHECK_EQ(stk_tcp_reset(&g_lc, &b, &info), STK_V_TX);
	g_ifc.tx_ipck_offload = false;
	CHECK(ip_cksum_good(F, &b, true));
	CHECK_EQ(get32(F + OFF_IP + 12), TENANT_IP);
	CHECK_EQ(get32(F + OFF_L4 + 4), 0);
	CHECK_EQ(get32(F + OFF_L4 + 8), 1001);
	CHECK_EQ(F[OFF_L4 + 13], STK_TCP_RST | STK_TCP_ACK);
	CHECK_EQ(ref_sum(F + OFF_L4, 20, ref_pseudo(F, 6, 20)), 0xffff);

	/* FIN without ACK, seq 0xfffffff0, 20 bytes: ack wraps to 0xfffffff0 + 21 */
	l = mk_tcp(F, GW_IP, 40002, 443, 0xfffffff0u, 0, STK_TCP_FIN, 20);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TCP);
	CHECK_EQ(stk_tcp_reset(&g_lc, &b, &info), STK_V_TX);
	CHECK_EQ(get32(F + OFF_L4 + 8), (uint32_t)(0xfffffff0u + 21));
	CHECK_EQ(F[OFF_L4 + 13], STK_TCP_RST | STK_TCP_ACK);
	CHECK_EQ(ref_sum(F + OFF_L4, 20, ref_pseudo(F, 6, 20)), 0xffff);

	/* an RST to a closed port is never answered */
	l = mk_tcp(F, GW_IP, 40003, 80, 1, 0, STK_TCP_RST, 0);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TCP);
	CHECK_EQ(stk_tcp_reset(&g_lc, &b, &info), STK_V_DROP);
	/* nor is a SYN that came to the broadcast MAC */
	l = mk_tcp(F, GW_IP, 40004, 80, 1, 0, STK_TCP_SYN, 0);
	memcpy(F, BCAST_MAC, 6);
	CHECK_EQ(run(F, l, 0, &b, &info), STK_V_TCP);
	CHECK_EQ(stk_tcp_reset(&g_lc, &b, &info), STK_V_DROP);
	CHECK_EQ(g_lc.cnt[STK_CNT_TCP_RST_OUT], 3);
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_TCP_NO_PORT], 5);
	check_group_end();
}

static void
test_tb(void)
{
	struct stk_tb tb;
	unsigned ok = 0;

	check_group_begin("token_bucket");
	/* 100/s, burst 10, asked every millisecond for 10 simulated seconds */
	stk_tb_init(&tb, 100, 10, T0);
	for (uint64_t t = 0; t < 10000; t++)
		ok += stk_tb_take(&tb, T0 + t * 1000000);
	CHECK(ok >= 1009 && ok <= 1010);
	/* asked every 3.7 ms (270/s) for 10 s: the same ~1000 + burst */
	stk_tb_init(&tb, 100, 10, T0);
	ok = 0;
	for (uint64_t t = 0; t * 3700000 < 10 * S; t++)
		ok += stk_tb_take(&tb, T0 + t * 3700000);
	CHECK(ok >= 1009 && ok <= 1010);
	/* asked every 20 ms (50/s), below the rate: never refused */
	stk_tb_init(&tb, 100, 10, T0);
	ok = 0;
	for (uint64_t t = 0; t < 500; t++)
		ok += stk_tb_take(&tb, T0 + t * 20000000);
	CHECK_EQ(ok, 500);
	/* rate 0: unlimited */
	stk_tb_init(&tb, 0, 0, T0);
	ok = 0;
	for (int i = 0; i < 1000; i++)
		ok += stk_tb_take(&tb, T0);
	CHECK_EQ(ok, 1000);
	/* burst 0 is clamped to 1 */
	stk_tb_init(&tb, 5, 0, T0);
	CHECK(stk_tb_take(&tb, T0));
	CHECK(!stk_tb_take(&tb, T0));
	/* the clock steps back: nothing added, nothing broken */
	CHECK(!stk_tb_take(&tb, T0 - S));
	CHECK(stk_tb_take(&tb, T0 + S / 5));
	/* huge rate and gap: no overflow, capped at the burst */
	stk_tb_init(&tb, UINT64_MAX / 2, 3, 0);
	for (int i = 0; i < 3; i++)
		stk_tb_take(&tb, 0);
	ok = 0;
	for (int i = 0; i < 10; i++)
		ok += stk_tb_take(&tb, UINT64_MAX);
	CHECK_EQ(ok, 3);
	check_group_end();
}

/* ---- ARP table under concurrency -------------------------------------------------------- */

#define CONC_IPS    96
#define CONC_ROUNDS 3000

struct conc {
	struct stk_arp_table *t;
	atomic_bool stop;
	atomic_ulong hits, bad;
};

/* the MAC written for ip in round r: byte 0 names the address, bytes 1..5 the round */
static void
conc_mac(uint32_t ip, unsigned r, uint8_t mac[6])
{
	mac[0] = (uint8_t)ip;
	memset(mac + 1, (uint8_t)(r * 37 + 1), 5);
}

static void *
conc_writer(void *arg)
{
	struct conc *c = arg;
	uint8_t mac[6];

	for (unsigned r = 0; r < CONC_ROUNDS; r++) {
		/* a different window of addresses each round, so slots change owner */
		for (unsigned k = 0; k < 48; k++) {
			uint32_t ip = IP4(198, 18, 7, 0) + (r * 17 + k) % CONC_IPS + 1;

			conc_mac(ip, r, mac);
			stk_arp_update(c->t, ip, mac, r, true);
		}
		stk_arp_age(c->t, r + 2); /* timeout 1: drops last round's entries */
	}
	/*
	 * A last window left in place until the reader has found some of it: on a loaded machine
	 * the reader may not have run at all so far (bounded: 10 s).
	 */
	for (unsigned k = 0; k < 48; k++) {
		uint32_t ip = IP4(198, 18, 7, 0) + k + 1;

		conc_mac(ip, CONC_ROUNDS, mac);
		stk_arp_update(c->t, ip, mac, CONC_ROUNDS + 2, true);
	}
	for (unsigned ms = 0; ms < 10000 && atomic_load(&c->hits) == 0; ms++)
		usleep(1000);
	atomic_store(&c->stop, true);
	return NULL;
}

static void *
conc_refresher(void *arg)
{
	struct conc *c = arg;
	uint8_t mac[6];
	unsigned r = 0;

	while (!atomic_load(&c->stop)) {
		uint32_t ip = IP4(198, 18, 7, 0) + r % CONC_IPS + 1;

		conc_mac(ip, r++, mac);
		stk_arp_update(c->t, ip, mac, 0, false); /* stamped 0: aged on the next pass */
	}
	return NULL;
}

static void *
conc_reader(void *arg)
{
	struct conc *c = arg;
	uint8_t mac[6];
	unsigned long hits = 0, bad = 0;

	while (!atomic_load(&c->stop)) {
		for (uint32_t i = 1; i <= CONC_IPS; i++) {
			uint32_t ip = IP4(198, 18, 7, 0) + i;

			if (stk_arp_lookup(c->t, ip, mac) != 0)
				continue;
			hits++;
			if (mac[0] != (uint8_t)ip || mac[1] != mac[2] || mac[1] != mac[3] ||
			    mac[1] != mac[4] || mac[1] != mac[5])
				bad++;
		}
		atomic_store(&c->hits, hits); /* the writer waits for a first hit */
	}
	atomic_store(&c->hits, hits);
	atomic_store(&c->bad, bad);
	return NULL;
}

static void
test_arp_concurrency(void)
{
	struct conc c;
	pthread_t w, rf, rd;

	check_group_begin("arp_concurrent");
	memset(&c, 0, sizeof(c));
	c.t = stk_arp_create(64, 1); /* 32 buckets: slots are reused by many addresses */
	CHECK(pthread_create(&rd, NULL, conc_reader, &c) == 0);
	CHECK(pthread_create(&rf, NULL, conc_refresher, &c) == 0);
	CHECK(pthread_create(&w, NULL, conc_writer, &c) == 0);
	pthread_join(w, NULL);
	pthread_join(rf, NULL);
	pthread_join(rd, NULL);
	CHECK(atomic_load(&c.hits) > 0);
	CHECK_EQ(atomic_load(&c.bad), 0);
	CHECK(stk_arp_count(c.t) <= 64);
	{
		struct stk_arp_entry e[128];

		CHECK_EQ(stk_arp_dump(c.t, e, 128), stk_arp_count(c.t));
	}
	stk_arp_destroy(c.t);
	check_group_end();
}

/* every drop reason was produced by some crafted frame or call above */
static void
test_coverage(void)
{
	check_group_begin("drop_coverage");
	fold_counters();
	memset(g_lc.cnt, 0, sizeof(g_lc.cnt));
	for (int i = 0; i < STK_CNT__MAX; i++) {
		if (!stk_counter_is_drop((enum stk_counter)i))
			continue;
		if (!check_tally(g_seen[i]))
			check_msg(__FILE__, __LINE__, __func__, "drop reason %s never hit",
			          stk_counter_names[i]);
	}
	check_group_end();
}

/* stk_udp_build: headers the stack itself verifies, payload contiguous or in its own segment */
static void
test_udp_build(void)
{
	static uint8_t a[2048], b2[2048], pay[1500];
	struct stk_pkt_info info;
	struct stk_buf b;
	uint32_t la, lb, fa, fb, i;
	uint16_t n;

	check_group_begin("udp_build");
	reset();
	for (i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 7 + 3);
	for (n = 0; n <= 1472; n += (n < 16 ? 1 : 61)) {
		/* a datagram PEER_IP:4000 -> GW_IP:53 built both ways, then fed back through input
		 */
		memcpy(a + STK_UDP_HDRS, pay, n);
		la = stk_udp_build(&g_lc, a, PEER_IP, 4000, GW_IP, 53, NULL, n, &fa);
		lb = stk_udp_build(&g_lc, b2, PEER_IP, 4000, GW_IP, 53, pay, n, &fb);
		CHECK_EQ(la, (uint32_t)STK_UDP_HDRS + n);
		CHECK_EQ(lb, la);
		CHECK_EQ(fa, fb);
		/* same headers except the IP id, which counts up */
		b2[OFF_IP + 4] = a[OFF_IP + 4];
		b2[OFF_IP + 5] = a[OFF_IP + 5];
		CHECK(memcmp(a + OFF_L4, b2 + OFF_L4, STK_UDP_HLEN) == 0);
		memcpy(a, GW_MAC, 6); /* destination: us, so stk_input takes it */
		CHECK_EQ(run(a, la < 60 ? 60 : la, 0, &b, &info), STK_V_UDP);
		CHECK_EQ(info.pay_len, n);
		CHECK_EQ(info.src_port, 4000);
		CHECK_EQ(info.dst_port, 53);
		CHECK(memcmp(a + info.pay_off, pay, n) == 0);
	}
	CHECK_EQ(g_lc.cnt[STK_CNT_DROP_UDP_BAD], 0);
	CHECK_EQ(stk_iface_src_for(&g_ifc, PEER_IP), GW_IP);
	check_group_end();
}

int
main(void)
{
	fixture_init();
	test_cksum();
	test_iface();
	test_eth();
	test_arp_input();
	test_arp_table();
	test_pending();
	test_ipv4();
	test_icmp();
	test_udp();
	test_udp_build();
	test_tcp();
	test_tb();
	test_arp_concurrency();
	test_coverage();
	stk_arp_destroy(g_arp);
	stk_iface_release(&g_ifc);
	return check_done();
}
