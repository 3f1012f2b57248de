/* gw.h - the gateway daemon's shared state: port, workers, counters (gateway/ only). */
#ifndef BYPASSD_GATEWAY_GW_H
#define BYPASSD_GATEWAY_GW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>

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
#include "stream.h"

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
	  "app sends refused: session quota or table full or invalid")                            \
	_(CT_TX_RESET, "ct_tx_reset",                                                             \
	  "TCP segments refused: their conntrack session was reset (the connection is aborted)")  \
	_(CT_RECHECKED, "ct_rechecked",                                                           \
	  "sessions of an older policy generation re-classified against the current one")         \
	_(CT_REVOKED, "ct_revoked",                                                               \
	  "sessions removed: the current policy no longer allows their flow (after a reload)")    \
	_(LOG_QUEUED, "log_queued", "packets of log: true rules queued for the log")              \
	_(LOG_DROPPED, "log_dropped", "packets of log: true rules not logged: log ring full")     \
	_(TCP_RX_PENDING, "tcp_rx_pending", "TCP events held: the app's RX ring or buffers full") \
	_(TCP_PEND_FULL, "tcp_pend_full",                                                         \
	  "TCP connections reset: an event could not be held (pending list full)")                \
	_(TCP_ACCEPT_REFUSED, "tcp_accept_refused",                                               \
	  "passive opens refused: listener unbound, app gone or no connection slot")              \
	_(TCP_CONNECT_FAIL, "tcp_connect_fail",                                                   \
	  "active opens refused at once (address, route, quota, connection slots)")               \
	_(TCP_TX_NO_MBUF, "tcp_tx_no_mbuf", "TCP segments not sent: no mbuf")                     \
	_(TCP_TX_DENY, "tcp_tx_policy_deny", "TCP segments refused by the egress policy")         \
	_(TCP_SEND_DEFERRED, "tcp_send_deferred",                                                 \
	  "TCP sends held by the gateway: the connection's send queue was full")                  \
	_(TCP_KICK_LOST, "tcp_kick_lost",                                                         \
	  "deferred-send retries not queued (kick list full): they wait for the next event")

enum gw_counter {
#define _(e, n, h) GW_CNT_##e,
	foreach_gw_counter(_)
#undef _
	        GW_CNT__MAX
};

extern const char *const gw_counter_names[GW_CNT__MAX];
extern const char *const gw_counter_help[GW_CNT__MAX];

/* Per-queue gateway counters beside bp_chan's: _(ENUM, "name", "help") */
#define foreach_gw_chan_counter(_)                                                     \
	_(UDP_RX, "udp_rx", "datagrams delivered")                                     \
	_(UDP_RX_NO_ROOM, "udp_rx_no_room", "datagrams dropped: ring or buffers full") \
	_(UDP_TX, "udp_tx", "datagrams sent")                                          \
	_(RAW_RX, "raw_rx", "frames delivered")                                        \
	_(RAW_TX, "raw_tx", "frames sent")                                             \
	_(RAW_TX_SPOOFED, "raw_tx_spoofed", "frames dropped: source not the tenant's") \
	_(UDP_TX_ZC, "udp_tx_zero_copy", "datagrams sent without copying the payload") \
	_(POLICY_DENIED, "policy_denied", "sends refused by egress policy or rate limit")

enum gw_chan_counter {
#define _(e, n, h) GW_CHAN_CNT_##e,
	foreach_gw_chan_counter(_)
#undef _
	        GW_CHAN_CNT__MAX
};

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
	bool judged; /* the policy passed it already (else the receiving worker runs it) */
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
	struct pol_ct *ct;    /* this worker's conntrack table (policy.c creates it) */
	struct rte_ring *log; /* this worker -> control thread: struct gw_log_rec (SP/SC, log.c) */
	struct stk_lcore stk;
	/* RX deliveries staged for one channel, posted together (gw_chan_flush) */
	struct gw_chan *stage_ch;
	unsigned stage_n;
	uint32_t stage_room; /* deliveries that still fit: ring slots and free buffers */
	struct bp_desc stage[GW_BURST];
	/* TCP (stream.c, stream_fp.c) */
	struct stk_tcp *tcp;        /* this worker's engine */
	struct pol_l7_streams *l7s; /* L7 stream state of its connections (stream.c) */
	struct rte_ring *tcp_ctl;   /* control thread -> this worker: struct gw_tcp_msg * (SP/SC) */
	struct rte_mbuf *tcp_tx[GW_BURST];
	uint16_t tcp_ntx;
	uint16_t tcp_eph; /* next ephemeral port tried */
	bool tcp_dying;   /* engine being destroyed: events touch no queue */
	unsigned tcp_ndefer;
	uint64_t tcp_defer[GW_TCP_DEFER]; /* connection ids to abort after the engine call */
	unsigned tcp_nkick;
	struct gw_tcp_kick {
		struct gw_chan *ch;
		uint16_t slot, gen;
	} tcp_kick[GW_TCP_KICKS]; /* SENT made room: push deferred sends of these */
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
	bool tx_tcpck_offload; /* the port fills TCP checksums (gateway.tcp.checksum_offload) */
	unsigned tcp_backlog;  /* gateway.tcp.syn_backlog: set before the workers start */
	bool have_port;
	bool port_started;
	unsigned n_workers;
	struct gw_worker *workers; /* n_workers, cache-aligned */
	/* The interface the stack sees: owned addresses (ARP, what the stack accepts). Published
	 * whole (RCU): a reload that changes tenants' addresses builds a new one, workers pick it
	 * up at their next loop, the old one is freed after the grace period. */
	struct stk_iface *_Atomic ifc;
	struct stk_arp_table *arp;
	struct rte_rcu_qsbr *rcu;       /* workers report quiescent once per loop */
	struct gw_demux *_Atomic demux; /* published demux table (RCU) */
	struct gw_apps *apps;           /* attached apps: control thread only (chan.c) */
	/* policy (policy.c) */
	struct pol_gen *_Atomic gen; /* published generation (RCU) */
	struct pol_meter *meter;     /* shared per-tenant rate limits */
	struct pol_ct *ct[GW_MAX_WORKERS];
	struct gw_flow *flow;      /* rte_flow offload state (flow.c) */
	struct gw_log *log;        /* log: true records, control side (log.c) */
	struct gw_tcp_quota *tcpq; /* per-tenant TCP connections over all workers (stream.c) */
	atomic_bool stop;
	/*
	 * Held by whoever touches control-thread state (policy apply, gw->cfg->policy, the app
	 * list in chan.c): the control loop around its event handling (never while it waits in
	 * poll), the admin thread (admin/) around each call into the gateway.
	 */
	pthread_mutex_t ctl_lock;
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
/*
 * Snapshot of the attached apps, for the admin API (GET /apps) and logs. The caller holds the
 * control role (the control thread, or the admin thread under the control lock). Everything is
 * copied: the snapshot stays valid after apps detach. Counters are read relaxed while workers
 * write them.
 */
struct gw_chan_qinfo {
	unsigned queue;                  /* index in the app */
	unsigned worker;                 /* the worker lcore index serving it */
	uint64_t chan[BP_CHAN_CNT__MAX]; /* names: bp_chan_counter_names (client/chan.h) */
	uint64_t gw[GW_CHAN_CNT__MAX];   /* names: gw_chan_counter_names */
	uint64_t err[BP_DESC_ERR__MAX];  /* names: bp_desc_err_names ([0] unused) */
	uint64_t drops;                  /* bp_chan_drops: every drop on this queue */
};
struct gw_chan_sinfo {
	unsigned sock;  /* socket id the app uses */
	uint16_t proto; /* BP_PROTO_UDP or BP_PROTO_RAW */
	uint16_t port;  /* host order; 0 for raw */
	uint32_t addr;  /* host order */
	unsigned queue;
};
struct gw_chan_info {
	uint64_t id; /* channel id: the one in logs, and what gw_chan_evict takes */
	char tenant[BP_NAME_MAX];
	char name[BP_NAME_MAX]; /* what the app called itself in HELLO, may be "" */
	int32_t pid;
	uint32_t uid, gid;
	uint64_t attached_ns; /* gw_now_ns when it connected */
	uint32_t nbufs;       /* 2 KiB buffer units counted against quotas.buffers */
	unsigned nqueues;
	struct gw_chan_qinfo *q; /* nqueues */
	unsigned nsocks;
	struct gw_chan_sinfo *socks; /* nsocks */
};
struct gw_chan_list {
	unsigned n;
	struct gw_chan_info *apps; /* n, in attach order (oldest first) */
};
extern const char *const gw_chan_counter_names[GW_CHAN_CNT__MAX];
/* 0 and *out filled (free with gw_chan_list_free), or -ENOMEM. */
int gw_chan_list(struct gw *gw, struct gw_chan_list *out);
void gw_chan_list_free(struct gw_chan_list *l);
/*
 * Detach one attached app (channel id from gw_chan_list or the logs): its sockets leave the
 * demux, its queues close (the app sees BP_ESHUTDOWN), logged with reason ("evicted: REASON").
 * 0, or -ENOENT (no attached app has that id). Control role, as gw_chan_list.
 */
int gw_chan_evict(struct gw *gw, uint64_t id, const char *reason);
/*
 * A reload is about to publish policy p (whose tenants have the ids of generation g). Detaches
 * the apps p no longer admits (tenant gone, uid/gid no longer allowed), closes the sockets p no
 * longer allows (address, UDP port, raw flag), unpublishes both (RCU) and moves every remaining
 * app to p's tenant. 0, or -ENOMEM with nothing changed. Called by gw_policy_apply only.
 */
int gw_chan_policy_reconcile(struct gw *gw, const struct pol_policy *p, const struct pol_gen *g);

/* Close every app (they see BP_ESHUTDOWN), before workers stop. */
void gw_chan_shutdown(struct gw *gw);
/* Free everything, after workers stopped. */
void gw_chan_fini(struct gw *gw);

/* chan_fp.c: worker side */
/* Deliver or hand off a UDP/TCP datagram stk_input passed up; takes m. false: not bound. */
bool gw_chan_input(struct gw_worker *w, struct rte_mbuf *m, const struct stk_buf *b,
                   const struct stk_pkt_info *info, enum stk_verdict v);
/*
 * Before the policy: a datagram to a socket whose queue another worker serves goes to that
 * worker (handoff ring, taken: true), which runs the ingress policy with its conntrack table,
 * the one that holds the sessions its apps' sends opened. false: judge and deliver it here.
 */
bool gw_chan_steer(struct gw_worker *w, struct rte_mbuf *m, const struct stk_buf *b,
                   const struct stk_pkt_info *info, enum stk_verdict v);
/* Send an IPv4 frame to next hop nh: at once when its MAC is known (mac), else held for ARP
 * (an ARP request may join tx). Takes m. */
void gw_chan_route_out(struct gw_worker *w, struct rte_mbuf *m, uint32_t nh, const uint8_t *mac,
                       struct rte_mbuf **tx, uint16_t *ntx);
/* Serve this worker's queues (DONE, TX) and its handoff ring; returns work done. */
unsigned gw_chan_poll(struct gw_worker *w);
/* End of an RX burst: post staged descriptors. */
void gw_chan_flush(struct gw_worker *w);

/* control.c: control-thread work (ARP aging, gratuitous ARP, ARP requests via workers). The
 * control rings are single-producer and gw->ifc is freed by a reload: call these with ctl_lock
 * held once the admin thread runs. */
int gw_send_ctl_frame(struct gw *gw, unsigned worker, const uint8_t *frame, uint32_t len);
void gw_send_garp(struct gw *gw);
/* Gratuitous ARP for the tenant /32s of ifc that old does not own (after a reload). */
void gw_send_garp_new(struct gw *gw, const struct stk_iface *ifc, const struct stk_iface *old);
/* Build and publish gw->ifc for the running policy (start). 0 or -errno. */
int gw_iface_build(struct gw *gw);
/* An interface for policy p (our MAC and addresses, p's tenants'); NULL + errno. */
struct stk_iface *gw_iface_new(const struct gw *gw, const struct pol_policy *p);
void gw_iface_free(struct stk_iface *ifc);

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
/* Worker, between bursts: sessions idle past their timeout, and those of tenants the published
 * generation no longer has, looking at GW_CT_EXPIRE_BUDGET entries a call. */
#define GW_CT_EXPIRE_BUDGET 16
void gw_policy_expire(struct gw_worker *w, uint64_t now);
/* Workers: ingress burst (ok[i] = may go on; drops counted) and one egress packet (0 = may go,
 * else the GW_CNT_* that refused it). */
void gw_policy_ingress(struct gw_worker *w, const struct pol_gen *g, uint64_t now, unsigned n,
                       const struct stk_buf *b, const struct stk_pkt_info *info,
                       const uint16_t *tenant, const uint32_t *lens, bool *ok);
/* pay: the payload (pay_len bytes) as it will leave, for the L7 stage; NULL when it is not at
 * hand, which only gw_policy_l7_egress(g, src) false allows. stream: a segment of a connection
 * the gateway's TCP engine terminates, whose bytes the L7 stream stage scanned when the app sent
 * them: the per-packet L7 stage judges it with an empty payload (not counted twice). */
int gw_policy_egress(struct gw_worker *w, const struct pol_gen *g, uint8_t proto, uint32_t src,
                     uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *l4,
                     uint32_t l4_avail, const uint8_t *pay, uint32_t pay_len, uint32_t bytes,
                     bool stream);
/* Whether sends from src (a tenant address) may be scanned by egress signatures: the sender must
 * then pass gw_policy_egress the payload from gateway memory (copied), never the app's. */
bool gw_policy_l7_egress(const struct pol_gen *g, uint32_t src);

/*
 * The opening direction of a session, as the ACL sees it: for a packet of direction dir that
 * conntrack found in the session's reply direction (reply), the reversed tuple and the other
 * direction; else the packet's own. ICMP keys carry no ports (conntrack uses the echo id).
 * What a session of an older generation is re-checked against (gw_policy_ingress/egress).
 */
static inline enum pol_dir
gw_policy_opening_key(enum pol_dir dir, bool reply, const struct pol_ct_pkt *p,
                      struct pol_acl_key *k)
{
	uint16_t sport = p->proto == 1 ? 0 : p->sport, dport = p->proto == 1 ? 0 : p->dport;

	if (!reply) {
		pol_acl_key_set(k, p->tenant, p->proto, p->src, p->dst, sport, dport);
		return dir;
	}
	pol_acl_key_set(k, p->tenant, p->proto, p->dst, p->src, dport, sport);
	return dir == POL_DIR_INGRESS ? POL_DIR_EGRESS : POL_DIR_INGRESS;
}

/*
 * flow.c: rte_flow offload of ingress deny rules (control side only; docs/policy.md "Offload").
 * The compiler calls the hook gw_flow_opts installs while it builds a generation, so the new
 * generation's flows exist before it is published; gw_flow_commit after the publish removes the
 * previous generation's flows (except those an unchanged rule took over), gw_flow_abort after a
 * failed build removes what it created. Thread-safe (a lock): the admin API may query.
 */
struct gw_flow;
struct pol_offload_ctx;
enum gw_flow_where { GW_FLOW_SOFTWARE, GW_FLOW_HARDWARE, GW_FLOW_PARTIAL };
#define GW_FLOW_REASON_MAX 256
struct gw_flow_rule_info {
	uint64_t generation;        /* the generation these placements belong to */
	enum gw_flow_where where;   /* software; hardware: all n_wanted flows; partial: some */
	unsigned n_flows;           /* installed in the NIC */
	unsigned n_wanted;          /* flows the rule expands to; 0 when it cannot be expressed */
	bool counted;               /* the NIC counts them (rte_flow COUNT) */
	uint64_t hw_pkts, hw_bytes; /* dropped by the NIC, over every generation of the rule */
	char reason[GW_FLOW_REASON_MAX]; /* why not (all) in the NIC; "" in hardware */
};
/* The state for the gateway's port (after gw_port_init). 0 or -ENOMEM. */
int gw_flow_init(struct gw *gw);
/* Set o's offload hook for building a generation of p (no-op without a port). */
void gw_flow_opts(struct gw *gw, const struct pol_policy *p, struct pol_gen_opts *o);
/* After g was published: g's placements become current, the old flows go. */
void gw_flow_commit(struct gw *gw, const struct pol_gen *g);
/* After a build failed (or its generation was dropped): remove what it installed. */
void gw_flow_abort(struct gw *gw);
/* Remove every flow and free the state: before the port stops. */
void gw_flow_fini(struct gw *gw);
/*
 * Where rule rule_id of the current generation runs, with the NIC's counters (query them; add
 * them to pol_rule_info's software counters). 0, or -ENOENT (no such rule, no port). Any thread.
 */
int gw_flow_rule_placement(struct gw *gw, unsigned rule_id, struct gw_flow_rule_info *out);
const char *gw_flow_where_name(enum gw_flow_where w);
/* --check: no port; offload: required rules are translated (an error when no NIC could run
 * them) and counted, not installed. */
struct gw_flow_check {
	const struct pol_policy *p;
	struct pol_offload_ctx *ctx;
	unsigned n_required, n_required_flows;
};
void gw_flow_check_opts(struct gw_flow_check *c, const struct pol_policy *p,
                        struct pol_gen_opts *o);
void gw_flow_check_done(struct gw_flow_check *c);

/*
 * log.c / log_fp.c: `log: true`. A worker pushes one record per packet such a rule decided onto
 * its own ring (full: counted as log_dropped); the control loop drains the rings and logs, at
 * most GW_LOG_LINES_PER_S lines per rule a second, then one "M more packets not logged" line.
 */
#define GW_LOG_LINES_PER_S 10
#define GW_LOG_RING        1024 /* records per worker ring */
struct gw_log;
struct gw_log_rec {
	uint64_t gen;      /* generation the rule id belongs to */
	uint32_t rule;     /* deciding rule id */
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	uint16_t tenant;
	uint16_t len; /* frame bytes, saturating */
	uint8_t proto, dir, action, pad;
};
_Static_assert(sizeof(struct gw_log_rec) == 32, "log record");
int gw_log_init(struct gw *gw);
struct rte_ring *gw_log_ring_create(unsigned worker, int socket);
/* Control loop: drain every worker's ring, log, emit the summaries of windows that ended. */
void gw_log_drain(struct gw *gw, uint64_t now);
/* After the workers stopped: a last drain, the pending summaries, free. */
void gw_log_fini(struct gw *gw);
/* Worker: queue the record of one packet rule decided (gen g). Never blocks, never logs. */
void gw_log_push(struct gw_worker *w, const struct pol_gen *g, uint32_t rule, uint16_t tenant,
                 uint8_t dir, uint8_t action, uint8_t proto, uint32_t src, uint32_t dst,
                 uint16_t sport, uint16_t dport, uint32_t len);

/* Monotonic nanoseconds from the TSC: one 128-bit multiply, no division (called per burst). */
static inline uint64_t
gw_now_ns(const struct gw *gw)
{
	return (uint64_t)(((unsigned __int128)rte_get_tsc_cycles() * gw->ns_mult) >> 32);
}

#endif
