/* tcp.h - the per-worker TCP engine's interface to the gateway: config, callbacks, events. */
#ifndef BYPASSD_STACK_TCP_H
#define BYPASSD_STACK_TCP_H

/*
 * One engine per worker (struct stk_tcp): its own connection pool, tables and timer wheel, no
 * locks, no clock reads, no allocation after stk_tcp_create. It is EAL-free like the rest of
 * stack/: buffers are opaque handles and everything leaves through the callbacks below.
 *
 * Zero-copy ownership:
 *  - RX: stk_tcp_seg_input borrows the caller's buffer. A RECV event hands the upper layer one
 *    reference on the buffer its data lives in (the engine calls ops.rx_ref for in-order data
 *    delivered at once, or passes on the reference it took when it queued the segment out of
 *    order). That reference is the upper layer's: it releases it itself (the gateway: when the
 *    app returns the buffer with done) and calls stk_tcp_recv_done for the bytes so the
 *    receive window opens again.
 *  - TX: stk_tcp_send queues a reference to app memory (pointer, length, cookie); the engine
 *    never copies it. Segments name it in their iov list (retransmissions name it again). When
 *    every byte of it is acknowledged (or the connection dies) a SENT event returns the cookie.
 *
 * Clock: stk_tcp_advance(t, now_ns) sets the engine's clock and runs due timers; call it once
 * per burst before input. Every other call uses that clock.
 *
 * Callbacks run synchronously inside engine calls and must not call back into the engine, except
 * stk_tcp_set_user and the read-only accessors. A handle is dead after its CLOSED/RESET event.
 * Addresses and ports are host order.
 */

#include <stdbool.h>
#include <stdint.h>

#include "stk.h"

/* counters of one engine: _(ENUM, "name", "help"); malformed/dropped first (DROP_*) */
#define foreach_stk_tcp_counter(_)                                                                 \
	_(DROP_BAD_OPT, "tcp_bad_options", "malformed TCP option list")                            \
	_(DROP_BAD_FLAGS, "tcp_bad_flags", "impossible flag combination (SYN+RST, SYN+FIN, none)") \
	_(DROP_NO_ACK, "tcp_no_ack", "segment without ACK on a synchronized connection")           \
	_(DROP_OUT_OF_WINDOW, "tcp_out_of_window", "sequence outside the receive window")          \
	_(DROP_PAWS, "tcp_paws", "timestamp older than TS.Recent (RFC 7323 PAWS)")                 \
	_(DROP_ACK_TOO_NEW, "tcp_ack_too_new", "ACK for data never sent")                          \
	_(DROP_ACK_TOO_OLD, "tcp_ack_too_old", "ACK below SND.UNA - MAX.SND.WND (RFC 5961 5.2)")   \
	_(DROP_RST_BAD, "tcp_rst_ignored",                                                         \
	  "RST outside the window or in LISTEN/SYN-SENT unmatched")                                \
	_(DROP_SYN_BAD, "tcp_syn_bad", "SYN not acceptable in this state")                         \
	_(DROP_LISTEN_BAD, "tcp_listen_bad", "segment to a listener that is neither SYN nor ACK")  \
	_(DROP_COOKIE_BAD, "tcp_cookie_bad", "ACK to a listener with an invalid SYN cookie")       \
	_(DROP_QUOTA, "tcp_quota", "tenant connection quota reached")                              \
	_(DROP_NO_CONN, "tcp_no_conn_block", "connection pool exhausted")                          \
	_(DROP_OOO_FULL, "tcp_ooo_full", "out-of-order segment dropped: queue bound reached")      \
	_(DROP_DUP, "tcp_dup_data", "segment carrying only data already received")                 \
	_(DROP_DATA_AFTER_FIN, "tcp_data_after_fin", "data beyond the peer's FIN (ignored)")       \
	_(DROP_NO_TXBUF, "tcp_no_txbuf", "segment not sent: no header buffer")                     \
	_(SEG_IN, "tcp_segs_in", "segments received by the engine")                                \
	_(SEG_OUT, "tcp_segs_out", "segments sent")                                                \
	_(BYTES_IN, "tcp_bytes_in", "payload bytes delivered in order")                            \
	_(BYTES_OUT, "tcp_bytes_out", "payload bytes sent (first transmissions)")                  \
	_(RETRANS_SEGS, "tcp_retrans_segs", "segments retransmitted")                              \
	_(RTO, "tcp_rto", "retransmission timeouts")                                               \
	_(FAST_RETRANS, "tcp_fast_retrans", "fast retransmits (3 duplicate ACKs)")                 \
	_(DUP_ACK_IN, "tcp_dup_acks", "duplicate ACKs received")                                   \
	_(OOO_QUEUED, "tcp_ooo_queued", "out-of-order segments queued")                            \
	_(CHALLENGE_ACK, "tcp_challenge_acks", "challenge ACKs sent (RFC 5961)")                   \
	_(CHALLENGE_LIMITED, "tcp_challenge_limited", "challenge ACKs suppressed by the limit")    \
	_(OOW_LIMITED, "tcp_oow_ack_limited", "ACKs to out-of-window pure ACKs suppressed")        \
	_(COOKIE_SENT, "tcp_cookies_sent", "SYN cookies sent (backlog full)")                      \
	_(COOKIE_OK, "tcp_cookies_ok", "connections completed from a valid SYN cookie")            \
	_(RST_IN, "tcp_rst_in", "RSTs that reset a connection")                                    \
	_(RST_OUT, "tcp_rst_out_engine", "RSTs sent by the engine")                                \
	_(ACCEPTED, "tcp_accepted", "passive opens completed")                                     \
	_(CONNECTED, "tcp_connected", "active opens completed")                                    \
	_(CLOSED, "tcp_closed", "connections closed in order")                                     \
	_(RESET, "tcp_reset", "connections reset or timed out")                                    \
	_(TIME_WAIT_REUSE, "tcp_tw_reuse", "TIME-WAIT block reused by a newer SYN")                \
	_(TIME_WAIT_OVERFLOW, "tcp_tw_overflow", "TIME-WAIT skipped: max_time_wait reached")       \
	_(KEEPALIVE_OUT, "tcp_keepalives", "keepalive probes sent")                                \
	_(WINDOW_PROBE, "tcp_window_probes", "zero-window probes sent")

/* clang-format off */
enum stk_tcp_counter {
#define _(e, n, h) STK_TCP_CNT_##e,
	foreach_stk_tcp_counter(_)
#undef _
	STK_TCP_CNT__MAX
};
/* clang-format on */

extern const char *const stk_tcp_counter_names[STK_TCP_CNT__MAX];
extern const char *const stk_tcp_counter_help[STK_TCP_CNT__MAX];

enum stk_tcp_state {
	STK_TCP_CLOSED = 0,
	STK_TCP_LISTEN,
	STK_TCP_SYN_SENT,
	STK_TCP_SYN_RECEIVED,
	STK_TCP_ESTABLISHED,
	STK_TCP_FIN_WAIT_1,
	STK_TCP_FIN_WAIT_2,
	STK_TCP_CLOSE_WAIT,
	STK_TCP_CLOSING,
	STK_TCP_LAST_ACK,
	STK_TCP_TIME_WAIT,
};

struct stk_tcp;
struct stk_tcp_conn;
struct stk_tcp_listener;

/* Engine settings; 0 in a field means the default in brackets. */
struct stk_tcp_cfg {
	uint32_t max_conns;      /* connection blocks in the pool [1024] */
	uint32_t max_listeners;  /* [64] */
	uint32_t max_tenants;    /* tenant ids 0..max_tenants-1 [64] */
	uint32_t rcv_buf;        /* receive window bytes per connection [256 KiB] */
	uint32_t snd_buf;        /* bytes queued (sent or not) per connection [1 MiB] */
	uint32_t ooo_max_worker; /* out-of-order segments held by the whole engine [4096] */
	uint16_t mss;            /* MSS we advertise and cap sends at [1460] */
	uint8_t wscale;          /* window scale we offer, 0..14 [computed from rcv_buf] */
	bool no_timestamps;      /* do not offer RFC 7323 timestamps */
	bool no_sack;            /* do not offer SACK-permitted */
	bool no_cookies;         /* drop SYNs when the backlog is full instead */
	bool tx_cksum_offload;   /* the port fills TCP checksums: segments carry only the
	                            pseudo-header sum and STK_BUF_TX_TCPCK */
	uint64_t tick_ns;        /* timer wheel tick [1 ms] */
	uint64_t delack_ns;      /* delayed ACK [40 ms] */
	uint64_t rto_init_ns;    /* [1 s] */
	uint64_t rto_min_ns;     /* [200 ms] */
	uint64_t rto_max_ns;     /* [60 s] */
	uint32_t max_retries;    /* data retransmissions before the connection fails [15] */
	uint32_t syn_retries;    /* SYN / SYN-ACK retransmissions [5] */
	uint64_t time_wait_ns;   /* 2*MSL [60 s] */
	uint32_t max_time_wait;  /* blocks in TIME-WAIT at most; beyond, a closing connection skips
	                            TIME-WAIT (as Linux's tcp_max_tw_buckets) [max_conns / 2] */
	uint64_t fin_wait2_ns;   /* FIN-WAIT-2 idle limit [60 s] */
	uint64_t keep_idle_ns;   /* keepalive idle time [2 h] */
	uint64_t keep_intvl_ns;  /* between probes [75 s] */
	uint32_t keep_cnt;       /* unanswered probes before reset [9] */
	bool keepalive;          /* keepalive on every new connection, as if stk_tcp_set_keepalive
	                            were called on it (SO_KEEPALIVE for all) [off] */
	uint32_t challenge_rate; /* challenge ACKs per second per engine [1000]; each second's
	                            budget is random in [rate/2, rate] (CVE-2016-5696) */
	uint64_t secret[4];      /* ISN and cookie keys; all zero = from getrandom(2) (tests and
	                            the fuzzer set them to be reproducible) */
};

/* A piece of payload somewhere in memory (app TX area). */
struct stk_tcp_iov {
	const uint8_t *base;
	uint32_t len;
};

#define STK_TCP_MAX_IOV  8   /* payload pieces per segment */
#define STK_TCP_HDR_ROOM 128 /* header buffer bytes a tx_alloc must provide (14+20+60 used) */

/* A segment the engine wants sent. headers at frame[0..hdr_len): Ethernet (destination MAC zero:
 * the caller resolves the next hop of dst_ip), IPv4, TCP with options; payload in iov[]. */
struct stk_tcp_tx {
	void *pkt; /* what tx_alloc returned */
	uint8_t *frame;
	uint32_t hdr_len;
	uint32_t pay_len;
	const struct stk_tcp_iov *iov;
	unsigned n_iov;
	uint32_t dst_ip;
	uint32_t flags;         /* STK_BUF_TX_IPCK, STK_BUF_TX_TCPCK */
	struct stk_tcp_conn *c; /* NULL for stateless answers (RST, SYN cookie SYN-ACK) */
};

enum stk_tcp_ev_type {
	STK_TCP_EV_ACCEPTED,  /* passive open done: c is new, user = the listener's user */
	STK_TCP_EV_CONNECTED, /* active open done */
	STK_TCP_EV_RECV,      /* in-order data: u.recv; one buffer reference handed over */
	STK_TCP_EV_EOF,       /* the peer sent FIN: no more RECV */
	STK_TCP_EV_SENT,      /* a send is finished: u.sent (status 0 = acknowledged) */
	STK_TCP_EV_CLOSED,    /* orderly end; handle dead after the call */
	STK_TCP_EV_RESET,     /* abortive end, u.reason = -ECONNRESET/-ECONNREFUSED/-ETIMEDOUT/
	                         -ECONNABORTED; handle dead after the call */
};

struct stk_tcp_event {
	enum stk_tcp_ev_type type;
	struct stk_tcp_conn *c;
	uint64_t user; /* the connection's user value (ACCEPTED: the listener's) */
	union {
		struct {
			void *buf; /* the RX buffer handle: the receiver now owns one reference */
			const uint8_t *data;
			uint32_t len;
		} recv;
		struct {
			uint64_t cookie;
			uint32_t len;
			int status; /* 0 or -errno when the connection died first */
		} sent;
		int reason;
	} u;
};

struct stk_tcp_ops {
	void *ctx;
	/* take / drop one reference on an RX buffer handle */
	void (*rx_ref)(void *ctx, void *buf);
	void (*rx_unref)(void *ctx, void *buf);
	/* a header buffer of >= STK_TCP_HDR_ROOM bytes at *frame; returns its handle or NULL */
	void *(*tx_alloc)(void *ctx, uint8_t **frame);
	/* send it (takes the handle); the payload memory stays valid until its SENT event */
	void (*tx_send)(void *ctx, const struct stk_tcp_tx *tx);
	/* ACCEPTED: return nonzero to refuse (the engine resets the connection). Others: ignored.
	 */
	int (*event)(void *ctx, const struct stk_tcp_event *ev);
	/* optional: a quota shared beyond this engine (e.g. one atomic per tenant for all
	 * workers). delta +1 before a block is taken for tenant (nonzero: refused, counted as
	 * tcp_quota), -1 when it is freed. Called on opens and closes only, never per segment. */
	int (*quota)(void *ctx, uint32_t tenant, int delta);
};

/* NULL + errno. lc gives the interface (MAC, checksum offload) and IPv4 ids; borrowed. Keys for
 * ISNs and SYN cookies come from getrandom(2) here (control path). */
struct stk_tcp *stk_tcp_create(const struct stk_tcp_cfg *cfg, const struct stk_tcp_ops *ops,
                               struct stk_lcore *lc, uint64_t now_ns);
/* Frees every block; buffers still referenced are released through ops (rx_unref, SENT with
 * -ECONNABORTED) without sending anything. Accepts NULL. */
void stk_tcp_destroy(struct stk_tcp *t);

/* per-tenant connection limit on this engine (default: unlimited) */
int stk_tcp_set_quota(struct stk_tcp *t, uint32_t tenant, uint32_t max_conns);
uint32_t stk_tcp_tenant_conns(const struct stk_tcp *t, uint32_t tenant);

/* Listen on ip:port (ip 0 = any owned address) for tenant; backlog = SYN-RECEIVED limit before
 * SYN cookies. NULL + errno (EADDRINUSE, ENOSPC, EINVAL). */
struct stk_tcp_listener *stk_tcp_listen(struct stk_tcp *t, uint32_t ip, uint16_t port,
                                        uint32_t tenant, uint32_t backlog, uint64_t user);
/* Stop listening; half-open connections of it are dropped (RST). Accepts NULL. */
void stk_tcp_unlisten(struct stk_tcp *t, struct stk_tcp_listener *l);

/* Active open. The caller picks lport (one whose RSS hash lands on this worker). 0 and *out, or
 * -EADDRINUSE, -EDQUOT (tenant quota), -ENOBUFS (pool). CONNECTED or RESET follows. */
int stk_tcp_connect(struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport,
                    uint32_t tenant, uint64_t user, struct stk_tcp_conn **out);

/* Queue len bytes at data for sending (zero-copy: must stay valid and unchanged until SENT).
 * 0, -ENOBUFS (send queue or snd_buf full: retry after a SENT), -EPIPE (closed for sending),
 * -EINVAL (len 0). */
int stk_tcp_send(struct stk_tcp *t, struct stk_tcp_conn *c, const void *data, uint32_t len,
                 uint64_t cookie);
/* The app consumed len bytes of RECV data: the receive window opens (window update if due). */
void stk_tcp_recv_done(struct stk_tcp *t, struct stk_tcp_conn *c, uint32_t len);
/* Orderly close of our direction: FIN after the queued data. RECV may still follow until EOF;
 * CLOSED or RESET ends it. */
int stk_tcp_close(struct stk_tcp *t, struct stk_tcp_conn *c);
/* Abortive close: RST now, pending sends come back with -ECONNABORTED, RESET event. */
void stk_tcp_abort(struct stk_tcp *t, struct stk_tcp_conn *c);
/* enable keepalive on a connection (uses the engine's idle/interval/count) */
void stk_tcp_set_keepalive(struct stk_tcp *t, struct stk_tcp_conn *c, bool on);
void stk_tcp_set_user(struct stk_tcp_conn *c, uint64_t user);

/* accessors */
enum stk_tcp_state stk_tcp_state(const struct stk_tcp_conn *c);
uint64_t stk_tcp_user(const struct stk_tcp_conn *c);
/* a stable id (index and generation) the upper layer can hand out; by_id checks it */
uint64_t stk_tcp_conn_id(const struct stk_tcp_conn *c);
struct stk_tcp_conn *stk_tcp_conn_by_id(struct stk_tcp *t, uint64_t id);
const uint64_t *stk_tcp_counters(const struct stk_tcp *t);

/* a snapshot of one connection (for stats and debugging, like ss -i) */
struct stk_tcp_info {
	enum stk_tcp_state state;
	uint32_t lip, rip;
	uint16_t lport, rport;
	uint32_t mss, snd_wscale, rcv_wscale;
	bool ts, sack;
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t cwnd, ssthresh, snd_wnd, rcv_wnd;
	uint32_t unacked; /* bytes sent, not yet acknowledged */
	uint32_t queued;  /* bytes queued by the app, not yet acknowledged */
	uint32_t unread;  /* bytes delivered, not yet done */
	uint32_t ooo;     /* out-of-order segments held */
	uint32_t retries;
};
void stk_tcp_conn_info(const struct stk_tcp_conn *c, struct stk_tcp_info *out);
uint32_t stk_tcp_conns_in_use(const struct stk_tcp *t);
uint32_t stk_tcp_ooo_held(const struct stk_tcp *t);

/* A validated segment: the header view and payload inside the RX buffer buf. */
struct stk_tcp_seg {
	uint32_t src_ip, dst_ip;
	uint16_t sport, dport;
	const struct stk_tcp_hdr *th; /* th_len bytes: header and options */
	uint32_t th_len;
	const uint8_t *pay;
	uint32_t pay_len;
	void *buf;
	bool link_bcast; /* frame was a link-layer broadcast: never answered */
};

/* Fill seg from a frame stk_input returned as STK_V_TCP. */
void stk_tcp_seg_from_pkt(struct stk_tcp_seg *seg, const struct stk_buf *b,
                          const struct stk_pkt_info *info, void *buf);

enum stk_tcp_in {
	STK_TCP_IN_DONE = 0, /* handled or dropped (counted); the caller keeps its buffer ref */
	STK_TCP_IN_NO_PORT,  /* no connection, no listener: answer with stk_tcp_reset */
};
/* Process one segment (borrows seg->buf; references it wants are taken through ops). */
enum stk_tcp_in stk_tcp_seg_input(struct stk_tcp *t, const struct stk_tcp_seg *seg);

/* Set the clock and run every timer due by now_ns. */
void stk_tcp_advance(struct stk_tcp *t, uint64_t now_ns);

#endif
