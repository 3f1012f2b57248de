/* proto.h - packed wire formats (Ethernet, ARP, IPv4, ICMP, UDP, TCP), constants, byte order. */
#ifndef BYPASSD_STACK_PROTO_H
#define BYPASSD_STACK_PROTO_H

/*
 * Multi-byte fields are stored exactly as on the wire (network order); the structs are packed so
 * they may overlay any byte offset of a frame. Convert with the helpers below, never by hand.
 */

#include <arpa/inet.h>
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define STK_ETH_ALEN     6
#define STK_ETH_HLEN     14
#define STK_ETH_MIN_LEN  60 /* minimum frame without FCS; shorter frames are padded */
#define STK_ETH_P_IPV4   0x0800
#define STK_ETH_P_ARP    0x0806
#define STK_ETH_P_8021Q  0x8100
#define STK_ETH_P_8021AD 0x88a8

#define STK_ARP_HRD_ETHER 1
#define STK_ARP_OP_REQ    1
#define STK_ARP_OP_REPLY  2
#define STK_ARP_LEN       28 /* Ethernet/IPv4 ARP body */

#define STK_IP_HLEN      20 /* IPv4 header without options */
#define STK_IP_VER_IHL   0x45
#define STK_IP_DF        0x4000
#define STK_IP_MF        0x2000
#define STK_IP_OFFMASK   0x1fff
#define STK_IP_DEFTTL    64
#define STK_IPPROTO_ICMP 1
#define STK_IPPROTO_TCP  6
#define STK_IPPROTO_UDP  17

#define STK_ICMP_ECHOREPLY    0
#define STK_ICMP_UNREACH      3
#define STK_ICMP_PORT_UNREACH 3 /* code of STK_ICMP_UNREACH */
#define STK_ICMP_ECHO         8
#define STK_ICMP_HLEN         8

#define STK_UDP_HLEN 8
#define STK_TCP_HLEN 20

#define STK_TCP_FIN 0x01
#define STK_TCP_SYN 0x02
#define STK_TCP_RST 0x04
#define STK_TCP_PSH 0x08
#define STK_TCP_ACK 0x10
#define STK_TCP_URG 0x20

struct stk_eth_hdr {
	uint8_t dst[STK_ETH_ALEN];
	uint8_t src[STK_ETH_ALEN];
	uint16_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct stk_eth_hdr) == 14, "eth header");

struct stk_arp_hdr {
	uint16_t htype;
	uint16_t ptype;
	uint8_t hlen;
	uint8_t plen;
	uint16_t op;
	uint8_t sha[STK_ETH_ALEN];
	uint32_t spa;
	uint8_t tha[STK_ETH_ALEN];
	uint32_t tpa;
} __attribute__((packed));
_Static_assert(sizeof(struct stk_arp_hdr) == STK_ARP_LEN, "arp body");

struct stk_ipv4_hdr {
	uint8_t ver_ihl;
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag_off; /* flags (DF, MF) and fragment offset */
	uint8_t ttl;
	uint8_t proto;
	uint16_t cksum;
	uint32_t src;
	uint32_t dst;
} __attribute__((packed));
_Static_assert(sizeof(struct stk_ipv4_hdr) == STK_IP_HLEN, "ipv4 header");

struct stk_icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t cksum;
	union {
		struct {
			uint16_t id;
			uint16_t seq;
		} echo;
		/* mtu: next-hop MTU (RFC 1191), 0 when not a fragmentation error */
		struct {
			uint16_t unused;
			uint16_t mtu;
		} unreach;
		uint32_t rest;
	} u;
} __attribute__((packed));
_Static_assert(sizeof(struct stk_icmp_hdr) == STK_ICMP_HLEN, "icmp header");

struct stk_udp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint16_t len;
	uint16_t cksum; /* 0 = no checksum */
} __attribute__((packed));
_Static_assert(sizeof(struct stk_udp_hdr) == STK_UDP_HLEN, "udp header");

struct stk_tcp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t doff; /* data offset in the high nibble, 32-bit words */
	uint8_t flags;
	uint16_t win;
	uint16_t cksum;
	uint16_t urp;
} __attribute__((packed));
_Static_assert(sizeof(struct stk_tcp_hdr) == STK_TCP_HLEN, "tcp header");

/* byte order: host <-> wire */
static inline uint16_t
stk_ntohs(uint16_t v)
{
	return be16toh(v);
}

static inline uint16_t
stk_htons(uint16_t v)
{
	return htobe16(v);
}

static inline uint32_t
stk_ntohl(uint32_t v)
{
	return be32toh(v);
}

static inline uint32_t
stk_htonl(uint32_t v)
{
	return htobe32(v);
}

/* MAC helpers; a and b may be unaligned */
static inline bool
stk_mac_eq(const uint8_t *a, const uint8_t *b)
{
	uint32_t a4, b4;
	uint16_t a2, b2;

	memcpy(&a4, a, 4);
	memcpy(&b4, b, 4);
	memcpy(&a2, a + 4, 2);
	memcpy(&b2, b + 4, 2);
	return ((a4 ^ b4) | (uint32_t)(a2 ^ b2)) == 0;
}

static inline bool
stk_mac_is_bcast(const uint8_t *a)
{
	uint32_t a4;
	uint16_t a2;

	memcpy(&a4, a, 4);
	memcpy(&a2, a + 4, 2);
	return a4 == 0xffffffffu && a2 == 0xffff;
}

/* group bit: multicast or broadcast */
static inline bool
stk_mac_is_group(const uint8_t *a)
{
	return a[0] & 1;
}

static inline bool
stk_mac_is_zero(const uint8_t *a)
{
	uint32_t a4;
	uint16_t a2;

	memcpy(&a4, a, 4);
	memcpy(&a2, a + 4, 2);
	return (a4 | a2) == 0;
}

#endif
