/* gw.h - the gateway daemon's shared state: port, workers, counters (gateway/ only). */
#ifndef BYPASSD_GATEWAY_GW_H
#define BYPASSD_GATEWAY_GW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config.h"
#include "stk.h"

#define GW_BURST       32
#define GW_MAX_WORKERS 64

extern int gw_logtype;
#define GW_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, gw_logtype, "GATEWAY: " fmt "\n", ##__VA_ARGS__)

/*
 * Gateway counters, per worker, summed by the control thread. _(ENUM, "name", "help").
 * Drop reasons of the stack are in foreach_stk_counter; these are the port-side ones.
 */
#define foreach_gw_counter(_)                                                                    \
	_(RX_PKTS, "rx_packets", "frames received from the port")                                \
	_(RX_BYTES, "rx_bytes", "bytes received from the port")                                  \
	_(TX_PKTS, "tx_packets", "frames handed to the port")                                    \
	_(TX_BYTES, "tx_bytes", "bytes handed to the port")                                      \
	_(TX_DROP_FULL, "tx_full", "frames dropped: TX queue full")                              \
	_(RX_MULTISEG, "rx_multiseg", "frames dropped: chained mbufs (jumbo) not supported")     \
	_(CTL_TX, "ctl_tx", "frames sent for the control thread (gratuitous ARP, ARP requests)") \
	_(IDLE_SLEEPS, "idle_sleeps", "naps taken after an empty poll streak")

enum gw_counter {
#define _(e, n, h) GW_CNT_##e,
	foreach_gw_counter(_)
#undef _
	        GW_CNT__MAX
};

extern const char *const gw_counter_names[GW_CNT__MAX];
extern const char *const gw_counter_help[GW_CNT__MAX];

/* One worker lcore: one RX/TX queue pair, shares nothing writable with other workers. */
struct gw;
struct gw_worker {
	struct gw *gw;
	unsigned id; /* 0..n_workers-1 = queue id */
	unsigned lcore_id;
	uint16_t port_id;
	struct rte_ring *ctl_tx; /* control thread -> this worker: frames to transmit (SP/SC) */
	atomic_bool done;        /* set by the worker when its loop has returned */
	uint64_t cnt[GW_CNT__MAX];
	struct stk_lcore stk;
} __rte_cache_aligned;

/* The whole daemon. One instance, owned by main.c. */
struct gw {
	struct pol_cfg *cfg;
	uint16_t port_id;
	struct rte_mempool *pool;
	struct rte_ether_addr mac;
	bool tx_ipck_offload;
	bool rx_ipck_offload;
	bool have_port;
	bool port_started;
	unsigned n_workers;
	struct gw_worker *workers; /* n_workers, cache-aligned */
	struct stk_iface ifc;
	struct stk_arp_table *arp;
	atomic_bool stop;
	uint64_t tsc_hz;
	uint64_t ns_mult; /* ns = tsc * ns_mult >> 32 */
};

/* port.c */
int gw_port_init(struct gw *gw);
void gw_port_fini(struct gw *gw);

/* worker_fp.c */
int gw_worker_main(void *arg);
/* Fill mbuf fields for a frame the stack wrote (len, TX checksum offload). */
void gw_mbuf_from_stk(struct rte_mbuf *m, const struct stk_buf *b);

/* stats.c */
struct gw_totals {
	uint64_t gw[GW_CNT__MAX];
	uint64_t stk[STK_CNT__MAX];
	uint64_t drops; /* sum of every drop reason */
};
void gw_stats_sum(const struct gw *gw, struct gw_totals *t);
void gw_stats_sum_worker(const struct gw_worker *w, struct gw_totals *t);
/* Log counters: the total line and one per worker. level is an RTE_LOG_* value. */
void gw_stats_log(const struct gw *gw, uint32_t level);

/* control.c: control-thread work (ARP aging, gratuitous ARP, ARP requests via workers) */
int gw_send_ctl_frame(struct gw *gw, unsigned worker, const uint8_t *frame, uint32_t len);
void gw_send_garp(struct gw *gw);
int gw_iface_build(struct gw *gw);

/* Monotonic nanoseconds from the TSC: one 128-bit multiply, no division (called per burst). */
static inline uint64_t
gw_now_ns(const struct gw *gw)
{
	return (uint64_t)(((unsigned __int128)rte_get_tsc_cycles() * gw->ns_mult) >> 32);
}

#endif
