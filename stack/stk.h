/* stk.h - the network stack's interface to the gateway: per-worker input path, ARP, counters. */
#ifndef BYPASSD_STACK_STK_H
#define BYPASSD_STACK_STK_H

/*
 * The stack is EAL-free on purpose: it works on plain byte buffers (struct stk_buf), so the same
 * code runs in the worker (wrapping an rte_mbuf), in unit tests under ASan/UBSan and in the
 * libFuzzer target. The gateway owns buffers; the stack only reads and rewrites them in place.
 *
 * All addresses and ports in this header are in host byte order unless named *_be.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Counters, one set per worker (struct stk_lcore.cnt), summed by the control thread.
 * _(ENUM, "name", "help"). Names are stable: they become metric labels (reason="...").
 * Every DROP_* counter is a drop reason; the others count events. A received frame the stack
 * does not deliver or answer is counted under exactly one DROP_* reason (a UDP/TCP segment to a
 * closed port counts under udp_no_port/tcp_no_port even when its buffer is reused for the ICMP
 * error or RST; what happened to that reply is an event: *_out or icmp_unreach_rate_limited).
 */
#define foreach_stk_counter(_)                                                                 \
	_(DROP_ETH_RUNT, "eth_runt", "frame shorter than an Ethernet header")                  \
	_(DROP_ETH_NOT_OURS, "eth_not_ours", "destination MAC neither ours nor broadcast")     \
	_(DROP_ETH_MCAST, "eth_multicast", "multicast destination MAC")                        \
	_(DROP_ETH_BAD_SRC, "eth_bad_src", "source MAC is multicast, broadcast or zero")       \
	_(DROP_ETH_VLAN, "eth_vlan", "VLAN-tagged frame (802.1Q/802.1ad not supported yet)")   \
	_(DROP_ETH_TYPE, "eth_unknown_type", "ethertype neither IPv4 nor ARP")                 \
	_(DROP_ARP_BAD, "arp_bad",                                                             \
	  "malformed ARP (length, hardware or protocol type, sender address)")                 \
	_(DROP_ARP_NOT_OURS, "arp_not_ours", "ARP for an address the gateway does not own")    \
	_(DROP_ARP_OP, "arp_bad_op", "ARP opcode neither request nor reply")                   \
	_(DROP_IP_RUNT, "ip_runt", "frame too short for an IPv4 header")                       \
	_(DROP_IP_VERSION, "ip_bad_version", "IP version is not 4")                            \
	_(DROP_IP_IHL, "ip_bad_ihl", "IPv4 header length below 5 words or beyond the frame")   \
	_(DROP_IP_LEN, "ip_bad_len", "IPv4 total length beyond the frame or below the header") \
	_(DROP_IP_CKSUM, "ip_bad_cksum", "IPv4 header checksum wrong")                         \
	_(DROP_IP_OPTIONS, "ip_options", "IPv4 options present (not supported)")               \
	_(DROP_IP_FRAG, "ip_fragment", "IPv4 fragment (reassembly not supported: dropped)")    \
	_(DROP_IP_TTL, "ip_ttl", "IPv4 TTL is zero")                                           \
	_(DROP_IP_BAD_SRC, "ip_bad_src",                                                       \
	  "source address is multicast, broadcast, loopback, zero or ours")                    \
	_(DROP_IP_NOT_OURS, "ip_not_ours", "destination address not owned by the gateway")     \
	_(DROP_IP_PROTO, "ip_unknown_proto", "IP protocol not handled")                        \
	_(DROP_ICMP_BAD, "icmp_bad", "malformed ICMP (length or checksum)")                    \
	_(DROP_ICMP_TYPE, "icmp_unhandled_type", "ICMP type the gateway does not answer")      \
	_(DROP_ICMP_RATE, "icmp_rate_limited", "ICMP echo reply suppressed by the rate limit") \
	_(DROP_UDP_BAD, "udp_bad", "malformed UDP (length or checksum)")                       \
	_(DROP_UDP_NO_PORT, "udp_no_port", "UDP to a port nobody has bound")                   \
	_(DROP_TCP_BAD, "tcp_bad", "malformed TCP (header length or checksum)")                \
	_(DROP_TCP_NO_PORT, "tcp_no_port", "TCP to a port nobody listens on")                  \
	_(DROP_ARP_PENDING_FULL, "arp_pending_full",                                           \
	  "no room to hold a packet for ARP resolution")                                       \
	_(DROP_ARP_TIMEOUT, "arp_timeout", "next hop did not answer ARP in time")              \
	_(DROP_NO_ROUTE, "no_route", "destination off-link and no next hop configured")        \
	_(ARP_REQ_IN, "arp_requests_in", "ARP requests answered")                              \
	_(ARP_REPLY_IN, "arp_replies_in", "ARP replies received")                              \
	_(ARP_LEARNED, "arp_learned", "ARP cache entries created or refreshed")                \
	_(ARP_TABLE_FULL, "arp_table_full", "ARP cache full: entry not learned")               \
	_(ARP_REQ_OUT, "arp_requests_out", "ARP requests sent for unresolved next hops")       \
	_(ICMP_ECHO_OUT, "icmp_echo_replies", "ICMP echo replies sent")                        \
	_(ICMP_UNREACH_OUT, "icmp_unreach_out", "ICMP port-unreachable sent")                  \
	_(TCP_RST_OUT, "tcp_rst_out", "TCP resets sent for closed ports")                      \
	_(ICMP_UNREACH_LIMITED, "icmp_unreach_rate_limited",                                   \
	  "ICMP port-unreachable suppressed by the rate limit")

/* clang-format off */
enum stk_counter {
#define _(e, n, h) STK_CNT_##e,
	foreach_stk_counter(_)
#undef _
	STK_CNT__MAX
};
/* clang-format on */

extern const char *const stk_counter_names[STK_CNT__MAX];
extern const char *const stk_counter_help[STK_CNT__MAX];

/* true when counter c is a drop reason */
static inline bool
stk_counter_is_drop(enum stk_counter c)
{
	return c <= STK_CNT_DROP_NO_ROUTE;
}

/* A buffer the stack works on. data points at the Ethernet header. */
struct stk_buf {
	uint8_t *data;
	uint32_t len;  /* bytes of frame at data */
	uint32_t room; /* bytes writable at data (>= len); replies may grow up to this */
	uint32_t flags;
};

/* stk_buf.flags set by the gateway from the NIC's RX offload results */
#define STK_BUF_RX_IPCK_GOOD (1u << 0) /* NIC verified the IPv4 header checksum */
#define STK_BUF_RX_IPCK_BAD  (1u << 1) /* NIC found the IPv4 header checksum wrong */
#define STK_BUF_RX_L4CK_GOOD (1u << 2)
#define STK_BUF_RX_L4CK_BAD  (1u << 3)
/* set by the stack on a frame it wants sent: fill the IPv4 header checksum by offload */
#define STK_BUF_TX_IPCK      (1u << 8)
/* set by the TCP engine: the TCP checksum field holds the pseudo-header sum only; the port fills
 * the checksum (DPDK RTE_MBUF_F_TX_TCP_CKSUM) */
#define STK_BUF_TX_TCPCK     (1u << 9)

/* What stk_input decided for a frame. */
enum stk_verdict {
	STK_V_DROP = 0, /* counted; the gateway frees the buffer */
	STK_V_TX,       /* the buffer now holds a reply (len may have changed): transmit it */
	STK_V_CONSUMED, /* handled (e.g. ARP reply learned); the gateway frees the buffer */
	STK_V_UDP,      /* valid UDP to an owned address: see struct stk_pkt_info */
	STK_V_TCP,      /* valid TCP to an owned address: see struct stk_pkt_info */
};

/* Parse results handed to upper layers with STK_V_UDP / STK_V_TCP. */
struct stk_pkt_info {
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port;
	uint16_t l3_off;  /* offset of the IPv4 header in data */
	uint16_t l4_off;  /* offset of the UDP/TCP header */
	uint16_t pay_off; /* offset of the payload */
	uint16_t pay_len; /* payload bytes (IP total length bounds it, not the frame) */
	uint8_t proto;
	uint8_t tcp_flags;
};

/* An IPv4 prefix, host order. */
struct stk_prefix {
	uint32_t addr;
	uint8_t len;
};

/*
 * Token bucket for rate-limited replies; per worker, no atomics, no division per take.
 * Starts full; burst is clamped to at least 1.
 */
struct stk_tb {
	uint64_t rate;   /* tokens per second; 0 = unlimited */
	uint64_t burst;  /* bucket depth */
	uint64_t tokens; /* scaled by 1e9 (token-nanoseconds) */
	uint64_t last_ns;
};

void stk_tb_init(struct stk_tb *tb, uint64_t rate, uint64_t burst, uint64_t now_ns);
bool stk_tb_take(struct stk_tb *tb, uint64_t now_ns);

/*
 * The interface: what the gateway is on the wire. Built by the control thread, immutable once
 * workers can see it (republished whole, never changed in place).
 */
struct stk_iface {
	uint8_t mac[6];
	bool tx_ipck_offload;   /* port can fill IPv4 header checksums */
	struct stk_prefix *own; /* gateway's own addresses (len = on-link prefix length) */
	unsigned n_own;
	struct stk_prefix *tenant; /* tenant addresses and prefixes: owned, answered to ARP */
	unsigned n_tenant;
	uint32_t next_hop;                              /* default route's next hop, 0 = none */
	uint64_t icmp_echo_rate, icmp_echo_burst;       /* per worker */
	uint64_t icmp_unreach_rate, icmp_unreach_burst; /* per worker */
	/* private lookup structure built by stk_iface_finish (stack/stk_priv.h) */
	struct stk_own_set *own_set;
};

/*
 * Build the owned-address lookup after own/tenant are filled, before the interface is published
 * (a previous set is freed: never call it on an interface workers can see). 0 or -errno (-EINVAL
 * for an address that cannot be owned: 0/8, 127/8, multicast/reserved, prefix length > 32). Owned:
 * every own[i].addr, every address inside tenant[j]; not the network/broadcast address of an own
 * on-link prefix (/30 and shorter), which are treated as broadcast.
 */
int stk_iface_finish(struct stk_iface *ifc);
/* Free what stk_iface_finish allocated plus own/tenant arrays. Accepts NULL. */
void stk_iface_release(struct stk_iface *ifc);
/* true when ip (host order) is an address the gateway answers for */
bool stk_iface_owns(const struct stk_iface *ifc, uint32_t ip);
/* Next hop for dst: dst itself when on-link (inside one of own[]), else next_hop, else 0. */
uint32_t stk_iface_route(const struct stk_iface *ifc, uint32_t dst);

/*
 * ARP cache: shared by all workers, lock-free lookups, learning on the slow (ARP) path.
 * 8-way buckets, a seqlock per entry (readers retry, never block); writers (update, age) take a
 * per-bucket CAS bit, so any thread may learn. Bounded by max_entries.
 */
struct stk_arp_table;

struct stk_arp_entry {
	uint32_t ip;
	uint8_t mac[6];
	uint64_t updated_ns;
};

/* max_entries bounds the cache; entries older than timeout_ns age out. NULL + errno on failure. */
struct stk_arp_table *stk_arp_create(unsigned max_entries, uint64_t timeout_ns);
void stk_arp_destroy(struct stk_arp_table *t);
/* 0 and the MAC, or -ENOENT. Any thread, any time. */
int stk_arp_lookup(const struct stk_arp_table *t, uint32_t ip, uint8_t mac[6]);
/*
 * Learn or refresh ip -> mac. create=false only refreshes an existing entry (RFC 826 merge rule).
 * 0 or -ENOSPC (table full) or -ENOENT (create=false and not present). Any thread.
 */
int stk_arp_update(struct stk_arp_table *t, uint32_t ip, const uint8_t mac[6], uint64_t now_ns,
                   bool create);
/* Drop entries older than the timeout; returns how many. Control thread. */
unsigned stk_arp_age(struct stk_arp_table *t, uint64_t now_ns);
/* Copy up to max live entries into out; returns how many. */
unsigned stk_arp_dump(const struct stk_arp_table *t, struct stk_arp_entry *out, unsigned max);
unsigned stk_arp_count(const struct stk_arp_table *t);

/* Packets a worker holds while their next hop resolves. Opaque pkt handles owned by the caller. */
#define STK_ARP_PENDING_MAX 256
#define STK_ARP_ASKED_MAX   16
struct stk_arp_pending {
	unsigned cap, n;
	uint64_t timeout_ns;
	struct {
		uint32_t ip;
		void *pkt;
		uint64_t since_ns;
	} slot[STK_ARP_PENDING_MAX];
	struct {
		uint32_t ip;
		uint64_t sent_ns;
	} asked[STK_ARP_ASKED_MAX]; /* recent requests: one request per next hop per second */
};

/* Per-worker stack state. Cache-aligned by the gateway; touched by one lcore only. */
struct stk_lcore {
	const struct stk_iface *ifc;
	struct stk_arp_table *arp;
	uint64_t now_ns; /* set by the worker before each burst */
	struct stk_tb icmp_echo_tb;
	struct stk_tb icmp_unreach_tb;
	struct stk_arp_pending pending;
	uint16_t ip_id; /* IPv4 ID of the next datagram the stack generates (ICMP error, RST) */
	uint64_t cnt[STK_CNT__MAX];
};

/* ifc must have been through stk_iface_finish. pending_cap is clamped to 1..STK_ARP_PENDING_MAX.
 * arp may be NULL (nothing learned, pending packets never resolve). */
void stk_lcore_init(struct stk_lcore *lc, const struct stk_iface *ifc, struct stk_arp_table *arp,
                    unsigned pending_cap, uint64_t pending_timeout_ns, uint64_t now_ns);

/*
 * The receive path: validate and handle one frame. Counts every drop under its reason.
 * ARP requests for owned addresses and ICMP echo requests are answered in place (STK_V_TX).
 * UDP/TCP to owned addresses are returned to the caller with info filled.
 * IPv4 fragments and IPv4 options are dropped (counted): no reassembly yet.
 * info is written only for STK_V_UDP / STK_V_TCP.
 */
enum stk_verdict stk_input(struct stk_lcore *lc, struct stk_buf *b, struct stk_pkt_info *info);

/*
 * Turn a UDP frame stk_input returned as STK_V_UDP into an ICMP port-unreachable (in place,
 * rate-limited; needs b->room >= 70). STK_V_TX or STK_V_DROP. Counts udp_no_port either way.
 * No error is sent for a link-layer broadcast/multicast frame.
 */
enum stk_verdict stk_udp_unreach(struct stk_lcore *lc, struct stk_buf *b,
                                 const struct stk_pkt_info *info);
/*
 * Turn a TCP frame returned as STK_V_TCP into an RST per RFC 9293 3.10.7.1 (in place):
 * ACK set -> RST, seq = SEG.ACK; else RST|ACK, seq 0, ack = SEG.SEQ + SEG.LEN (+1 SYN, +1 FIN).
 * Never answers an RST or a link-layer broadcast. Counts tcp_no_port either way.
 */
enum stk_verdict stk_tcp_reset(struct stk_lcore *lc, struct stk_buf *b,
                               const struct stk_pkt_info *info);

/* Bytes of Ethernet + IPv4 + UDP headers in front of a datagram's payload. */
#define STK_UDP_HDRS 42

/*
 * Write Ethernet (source = our MAC, destination zero until the next hop resolves), IPv4 (DF, TTL
 * 64) and UDP headers (checksum over the payload) at frame. The pay_len payload bytes are at
 * frame + STK_UDP_HDRS when payload is NULL, else at payload (a separate segment). *flags gets
 * STK_BUF_TX_IPCK when the port fills the IPv4 checksum. Returns the frame length (headers +
 * payload). Addresses and ports host order.
 */
uint32_t stk_udp_build(struct stk_lcore *lc, uint8_t *frame, uint32_t src_ip, uint16_t sport,
		       uint32_t dst_ip, uint16_t dport, const void *payload, uint16_t pay_len,
		       uint32_t *flags);
/* The gateway address to speak from towards next_hop (the own prefix holding it, else the first). */
uint32_t stk_iface_src_for(const struct stk_iface *ifc, uint32_t next_hop);

/* Write an ARP request (who-has target, from src) into buf (room >= 60). Returns the frame
 * length (60), or 0 when room is too small. */
uint32_t stk_arp_build_request(const struct stk_iface *ifc, uint32_t src_ip, uint32_t target_ip,
                               uint8_t *buf, uint32_t room);
/* Write a gratuitous ARP (request form, sender = target = ip, RFC 5227 announcement).
 * Returns the frame length (60), or 0 when room is too small. */
uint32_t stk_arp_build_garp(const struct stk_iface *ifc, uint32_t ip, uint8_t *buf, uint32_t room);

/*
 * Pending queue (per worker). stk_arp_hold: queue pkt for next hop ip. Returns 1 when the caller
 * should send an ARP request now (first packet for ip in the last second), 0 when queued, or
 * -ENOBUFS when full (counted; the caller frees pkt). ip 0 (stk_iface_route found no route)
 * counts no_route and returns -EHOSTUNREACH (the caller frees pkt). Requests are limited to one
 * per next hop per second and to STK_ARP_ASKED_MAX distinct next hops per second per worker.
 */
int stk_arp_hold(struct stk_lcore *lc, uint32_t ip, void *pkt);
/*
 * Take packets whose next hop is now resolved (their MAC copied to macs[i]) or timed out
 * (held timeout_ns or longer without an answer; counted arp_timeout). Fills ready[]/macs[] and
 * expired[] up to max each; returns counts through n_ready/n_expired. Order per next hop is kept;
 * what does not fit stays queued. Returns owned pkt handles to the caller.
 */
void stk_arp_pending_poll(struct stk_lcore *lc, void **ready, uint8_t (*macs)[6], unsigned *n_ready,
                          void **expired, unsigned *n_expired, unsigned max);

#endif
