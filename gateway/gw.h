/* gw.h - the gateway daemon's shared state: port, workers, counters (gateway/ only). */
#ifndef BYPASSD_GATEWAY_GW_H
#define BYPASSD_GATEWAY_GW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <poll.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <rte_rcu_qsbr.h>

#include "acl.h"
#include "chan.h"
#include "config.h"
#include "ct.h"
#include "l7.h"
#include "meter.h"
#include "stk.h"

#define GW_BURST       32
#define GW_MAX_APPS    4096 /* apps attached or attaching at once (control connections) */
#define GW_MAX_WORKERS 64

extern int gw_logtype;
#define GW_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, gw_logtype, "GATEWAY: " fmt "\n", ##__VA_ARGS__)

/*
 * Gateway counters, per worker, summed by the control thread. _(ENUM, "name", "help").
 * Drop reasons of the stack are in foreach_stk_counter; these are the port-side ones.
 */
#define foreach_gw_counter(_)                                                                     \
	_(RX_PKTS, "rx_packets", "frames received from the port")                                 \
	_(RX_BYTES, "rx_bytes", "bytes received from the port")                                   \
	_(TX_PKTS, "tx_packets", "frames handed to the port")                                     \
	_(TX_BYTES, "tx_bytes", "bytes handed to the port")                                       \
	_(TX_DROP_FULL, "tx_full", "frames dropped: TX queue full")                               \
	_(RX_MULTISEG, "rx_multiseg", "frames dropped: chained mbufs (jumbo) not supported")      \
	_(CTL_TX, "ctl_tx", "frames sent for the control thread (gratuitous ARP, ARP requests)")  \
	_(IDLE_SLEEPS, "idle_sleeps", "naps taken after an empty poll streak")                    \
	_(UDP_RX_DELIVERED, "udp_rx_delivered", "datagrams delivered to apps")                    \
	_(UDP_RX_NO_ROOM, "udp_rx_no_room", "datagrams dropped: app RX ring or buffers full")     \
	_(UDP_RX_TOO_BIG, "udp_rx_too_big", "datagrams dropped: larger than the app's RX buffer") \
	_(UDP_TX, "udp_tx", "datagrams apps sent")                                                \
	_(RAW_RX_DELIVERED, "raw_rx_delivered", "frames delivered to raw apps")                   \
	_(RAW_TX, "raw_tx", "frames raw apps sent")                                               \
	_(RAW_TX_SPOOFED, "raw_tx_spoofed",                                                       \
	  "raw frames dropped: source MAC, IP or port not the tenant's")                          \
	_(TX_NO_MBUF, "tx_no_mbuf", "app sends dropped: no mbuf")                                 \
	_(TX_NO_ROUTE, "tx_no_route", "app sends dropped: destination unroutable")                \
	_(TX_ARP_HELD, "tx_arp_held", "app sends held for ARP resolution")                        \
	_(UDP_TX_ZC, "udp_tx_zero_copy", "datagrams apps sent without a payload copy")            \
	_(CHAN_HANDOFF, "chan_handoff", "datagrams passed to the worker that serves their queue") \
	_(CHAN_HANDOFF_DROP, "chan_handoff_drop",                                                 \
	  "datagrams dropped: handoff ring full or queue gone")                                   \
	_(POLICY_DENY, "policy_deny", "packets to tenants dropped: denied by policy")             \
	_(POLICY_L7_DENY, "policy_l7_deny",                                                       \
	  "packets to tenants dropped: a signature rule matched their payload (L7)")              \
	_(POLICY_CT_INVALID, "policy_ct_invalid",                                                 \
	  "packets to tenants dropped: invalid in their conntrack session")                       \
	_(METER_DROP, "meter_drop", "packets to tenants dropped: over the tenant's rate limit")   \
	_(CT_REFUSED, "ct_refused", "packets to tenants dropped: session quota or table full")    \
	_(POLICY_TX_DENY, "policy_tx_deny", "app sends refused: denied by egress policy")         \
	_(POLICY_TX_L7_DENY, "policy_tx_l7_deny",                                                 \
	  "app sends refused: a signature rule matched their payload (L7)")                       \
	_(METER_TX_DROP, "meter_tx_drop", "app sends refused: over the tenant's egress limit")    \
	_(CT_TX_REFUSED, "ct_tx_refused",                                                         \
	  "app sends refused: session quota or table full or invalid")

enum gw_counter {
#define _(e, n, h) GW_CNT_##e,
	foreach_gw_counter(_)
#undef _
	        GW_CNT__MAX
};

extern const char *const gw_counter_names[GW_CNT__MAX];
extern const char *const gw_counter_help[GW_CNT__MAX];

struct gw_chan;

/* Published list of the channel queues a worker serves (immutable; RCU-replaced). */
struct gw_qlist {
	unsigned n;
	struct gw_chan *q[];
};

/* Published demultiplexer: (protocol, address, port) -> channel queue + socket (immutable). */
struct gw_demux_ent {
	uint32_t addr;  /* host order; 0 = empty slot */
	uint16_t port;  /* host order; 0 for raw */
	uint16_t proto; /* BP_PROTO_* */
	uint32_t sock;
	struct gw_chan *ch;
};
struct gw_demux {
	uint32_t mask; /* slots - 1 */
	uint32_t n;
	struct gw_demux_ent e[];
};

/* mbuf private area: what one worker hands another with a datagram. */
struct gw_mbuf_priv {
	struct stk_pkt_info info;
	uint8_t verdict;
};

/* One worker lcore: one RX/TX queue pair, shares nothing writable with other workers. */
struct gw;
struct gw_worker {
	struct gw *gw;
	unsigned id; /* 0..n_workers-1 = queue id */
	unsigned lcore_id;
	uint16_t port_id;
	struct rte_ring *ctl_tx;  /* control thread -> this worker: frames to transmit (SP/SC) */
	struct rte_ring *handoff; /* other workers -> this one: datagrams for its queues (MP/SC) */
	struct gw_qlist *_Atomic qlist; /* queues this worker serves (RCU) */
	atomic_bool done;               /* set by the worker when its loop has returned */
	uint64_t cnt[GW_CNT__MAX];
	struct pol_ct *ct; /* this worker's conntrack table (policy.c creates it) */
	struct stk_lcore stk;
	/* RX deliveries staged for one channel, posted together (gw_chan_flush) */
	struct gw_chan *stage_ch;
	unsigned stage_n;
	uint32_t stage_room; /* deliveries that still fit: ring slots and free buffers */
	struct bp_desc stage[GW_BURST];
} __rte_cache_aligned;

/* The whole daemon. One instance, owned by main.c. */
struct gw {
	struct pol_cfg *cfg;
	uint16_t port_id;
	struct rte_mempool *pool;
	struct rte_mempool *ext_pool; /* data-less mbufs for zero-copy TX segments */
	uint16_t txz_min;             /* zero-copy TX from this payload size; 0 = off */
	uint32_t data_room; /* mbuf data room incl. headroom: a frame must fit one segment */
	struct rte_ether_addr mac;
	bool tx_ipck_offload;
	bool rx_ipck_offload;
	bool have_port;
	bool port_started;
	unsigned n_workers;
	struct gw_worker *workers; /* n_workers, cache-aligned */
	struct stk_iface ifc;
	struct stk_arp_table *arp;
	struct rte_rcu_qsbr *rcu;       /* workers report quiescent once per loop */
	struct gw_demux *_Atomic demux; /* published demux table (RCU) */
	struct gw_apps *apps;           /* attached apps: control thread only (chan.c) */
	/* policy (policy.c) */
	struct pol_gen *_Atomic gen; /* published generation (RCU) */
	struct pol_meter *meter;     /* shared per-tenant rate limits */
	struct pol_ct *ct[GW_MAX_WORKERS];
	struct pol_policy **retired; /* replaced policies: apps may still point into them */
	unsigned n_retired;
	atomic_bool stop;
	uint64_t tsc_hz;
	uint64_t ns_mult; /* ns = tsc * ns_mult >> 32 */
};

/* port.c */
int gw_port_init(struct gw *gw);
/* Stop the port (TX queues release their mbufs); gw_port_fini closes it and frees pools. */
void gw_port_stop(struct gw *gw);
void gw_port_fini(struct gw *gw);

/* worker_fp.c */
int gw_worker_main(void *arg);
/* Transmit tx[0..n-1] on the worker's queue; frees and counts what the queue refuses. */
void gw_tx_burst(struct gw_worker *w, struct rte_mbuf **tx, uint16_t n);
/* Fill mbuf fields for a frame the stack wrote (len, TX checksum offload). */
void gw_mbuf_from_stk(struct rte_mbuf *m, const struct stk_buf *b);

/* stats.c */
struct gw_totals {
	uint64_t gw[GW_CNT__MAX];
	uint64_t stk[STK_CNT__MAX];
	uint64_t drops; /* sum of every drop reason, the stack's and the gateway's */
};
void gw_stats_sum(const struct gw *gw, struct gw_totals *t);
void gw_stats_sum_worker(const struct gw_worker *w, struct gw_totals *t);
/* Log counters: the total line and one per worker. level is an RTE_LOG_* value. */
void gw_stats_log(const struct gw *gw, uint32_t level);

/* chan.c: attach socket, apps, queues (control thread) */
int gw_chan_init(struct gw *gw);
/* Add the control socket and every attached app's fd to pfd[]; returns how many. */
unsigned gw_chan_pollfds(struct gw *gw, struct pollfd *pfd, unsigned max);
/* Handle what poll reported for the fds gw_chan_pollfds filled. */
void gw_chan_events(struct gw *gw, const struct pollfd *pfd, unsigned n);
void gw_chan_heartbeat(struct gw *gw);
void gw_chan_log_stats(struct gw *gw, uint32_t level);
/* Close every app (they see BP_ESHUTDOWN), before workers stop. */
void gw_chan_shutdown(struct gw *gw);
/* Free everything, after workers stopped. */
void gw_chan_fini(struct gw *gw);

/* chan_fp.c: worker side */
/* Deliver or hand off a UDP/TCP datagram stk_input passed up; takes m. false: not bound. */
bool gw_chan_input(struct gw_worker *w, struct rte_mbuf *m, const struct stk_buf *b,
                   const struct stk_pkt_info *info, enum stk_verdict v);
/* Serve this worker's queues (DONE, TX) and its handoff ring; returns work done. */
unsigned gw_chan_poll(struct gw_worker *w);
/* End of an RX burst: post staged descriptors. */
void gw_chan_flush(struct gw_worker *w);

/* control.c: control-thread work (ARP aging, gratuitous ARP, ARP requests via workers) */
int gw_send_ctl_frame(struct gw *gw, unsigned worker, const uint8_t *frame, uint32_t len);
void gw_send_garp(struct gw *gw);
int gw_iface_build(struct gw *gw);

/* policy.c (control thread) */
/* Build and publish generation 1, conntrack tables and meters. 0, or -1 (errors logged). */
int gw_policy_init(struct gw *gw);
/* SIGHUP: reload the policy; all or nothing. 0 applied, -1 failed (logged, nothing changed). */
int gw_policy_reload(struct gw *gw);
/*
 * Check p against the gateway, compile it and publish it as the next generation: all or nothing.
 * Takes ownership of p (freed on failure). 0 and the new generation number in *gen_out (may be
 * NULL), or -1 with errno set and every reason appended to errs (none for ENOMEM). Control
 * thread (or whoever holds the control role); the reload on SIGHUP and the admin API both call
 * this.
 */
int gw_policy_apply(struct gw *gw, struct pol_policy *p, struct pol_cfg_errs *errs,
                    uint64_t *gen_out);
/* The active generation's number (0 before the first). */
uint64_t gw_policy_generation(const struct gw *gw);
/* After workers stopped. */
void gw_policy_fini(struct gw *gw);
/* Log the generation, per-tenant meter drops and every rule's counters. */
void gw_policy_log_stats(struct gw *gw, uint32_t level);
/* Workers: ingress burst (ok[i] = may go on; drops counted) and one egress packet (0 = may go,
 * else the GW_CNT_* that refused it). */
void gw_policy_ingress(struct gw_worker *w, const struct pol_gen *g, uint64_t now, unsigned n,
                       const struct stk_buf *b, const struct stk_pkt_info *info,
                       const uint16_t *tenant, const uint32_t *lens, bool *ok);
/* pay: the payload (pay_len bytes) as it will leave, for the L7 stage; NULL when it is not at
 * hand, which only gw_policy_l7_egress(g, src) false allows. */
int gw_policy_egress(struct gw_worker *w, const struct pol_gen *g, uint8_t proto, uint32_t src,
                     uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *l4,
                     uint32_t l4_avail, const uint8_t *pay, uint32_t pay_len, uint32_t bytes);
/* Whether sends from src (a tenant address) may be scanned by egress signatures: the sender must
 * then pass gw_policy_egress the payload from gateway memory (copied), never the app's. */
bool gw_policy_l7_egress(const struct pol_gen *g, uint32_t src);

/* Monotonic nanoseconds from the TSC: one 128-bit multiply, no division (called per burst). */
static inline uint64_t
gw_now_ns(const struct gw *gw)
{
	return (uint64_t)(((unsigned __int128)rte_get_tsc_cycles() * gw->ns_mult) >> 32);
}

#endif
