/* chan.h - gateway side of one app queue (EAL-free): create, hand over, serve, tear down. */
#ifndef BYPASSD_CLIENT_CHAN_H
#define BYPASSD_CLIENT_CHAN_H

/*
 * What the gateway (gateway/, next) calls to serve an app queue, and what the in-test fake
 * gateway calls, so both exercise one implementation. No DPDK here: the worker copies between
 * mbufs and the buffers these functions hand out.
 *
 * Control thread:  bp_chan_create -> bp_chan_send (QUEUE message + fds) -> publish to the worker
 *                  bp_chan_heartbeat every <= BP_HEARTBEAT_MS
 *                  bp_chan_close (app sees BP_ESHUTDOWN at once) -> worker lets go (RCU/handshake)
 *                  -> bp_chan_destroy
 * Owning worker:   chan_fp.h (rx_room/rx_take/rx_buf/rx_post, done_reap, tx_fetch/tx_data/
 *                  tx_complete). One worker per channel: these take no locks.
 */

#include <stdbool.h>
#include <stdint.h>

#include "bypass/bp_abi.h"
#include "bypass/bp_ring.h"

/*
 * Why a descriptor from the app was refused: _(ENUM, "counter_name", "help"). Each is its own
 * per-channel drop counter; the value travels back to the app in a TX_DONE `status`.
 */
#define foreach_bp_desc_err(_)                                                                     \
	_(OK, "ok", "valid")                                                                       \
	_(TYPE, "desc_bad_type", "type unknown, reserved (TCP) or not allowed on this ring")       \
	_(FLAGS, "desc_bad_flags", "unknown flag bits set")                                        \
	_(RESERVED, "desc_bad_reserved", "a field this type does not use is not zero")             \
	_(BUF, "desc_bad_buf", "buffer index out of range")                                        \
	_(OFFSET, "desc_bad_offset", "offset at or beyond the end of the buffer")                  \
	_(LENGTH, "desc_bad_length", "offset + length beyond the end of the buffer")               \
	_(TOO_BIG, "desc_too_big", "payload or frame larger than the MTU allows")                  \
	_(TOO_SHORT, "desc_too_short", "raw frame shorter than an Ethernet header")                \
	_(SOCK, "desc_bad_sock",                                                                   \
	  "socket id out of range, not bound on this queue, wrong protocol")                       \
	_(ADDR, "desc_bad_addr",                                                                   \
	  "destination 0, broadcast, multicast, loopback, reserved, or the gateway's own")         \
	_(PORT, "desc_bad_port", "destination port 0")                                             \
	_(NOT_OWNED, "desc_not_owned", "RX buffer returned that the app does not hold")            \
	_(IN_FLIGHT, "desc_in_flight", "TX buffer posted again before its completion")             \
	_(RING, "ring_bad_index", "the app moved a ring index out of range")                       \
	_(NOMEM, "tx_no_mbuf", "gateway out of packet buffers: not sent")                          \
	_(SPOOF, "raw_spoofed", "raw frame's source MAC, IP or port not the tenant's: not sent")   \
	_(ROUTE, "tx_no_route", "destination not on-link and no next hop configured: not sent")    \
	_(POLICY, "policy_denied", "denied by the tenant's egress policy or rate limit: not sent") \
	_(CONN, "tcp_bad_conn", "TCP connection id not open on this queue")                        \
	_(NOBUFS, "tcp_send_full", "TCP send queue full: not queued, send again after a SENT")     \
	_(CLOSED, "tcp_send_closed", "TCP connection closed for sending (shutdown, closing)")      \
	_(CONN_GONE, "tcp_conn_gone", "TCP connection ended before the bytes were acknowledged")

enum bp_desc_err {
#define _(e, n, h) BP_DESC_ERR_##e,
	foreach_bp_desc_err(_)
#undef _
	        BP_DESC_ERR__MAX
};
extern const char *const bp_desc_err_names[BP_DESC_ERR__MAX];
extern const char *const bp_desc_err_help[BP_DESC_ERR__MAX];

/* Other per-channel counters, worker-written: _(ENUM, "name", "help"). */
#define foreach_bp_chan_counter(_)                                                            \
	_(RX_POSTED, "rx_posted", "descriptors delivered on the RX ring")                     \
	_(RX_DONE, "rx_done", "RX buffers the app handed back")                               \
	_(TX_FETCHED, "tx_fetched", "valid TX descriptors taken from the TX ring")            \
	_(TX_COMPLETED, "tx_completed", "TX buffers handed back (sent or refused)")           \
	_(COMP_FULL, "comp_full", "completions lost: app's COMP ring full (app not reaping)") \
	_(DOORBELLS, "doorbells", "doorbells rung (app was asleep)")                          \
	_(DOORBELL_FAIL, "doorbell_fail", "doorbells not delivered (app not draining, or gone)")

enum bp_chan_counter {
#define _(e, n, h) BP_CHAN_CNT_##e,
	foreach_bp_chan_counter(_)
#undef _
	        BP_CHAN_CNT__MAX
};
extern const char *const bp_chan_counter_names[BP_CHAN_CNT__MAX];

/* What descriptors on one ring may refer to (gateway-private, from the handshake). */
struct bp_desc_limits {
	uint32_t nbufs;     /* buffers in the area */
	uint32_t buf_size;  /* bytes per buffer */
	uint32_t max_udp;   /* largest UDP payload */
	uint32_t max_frame; /* largest raw frame */
	bool raw;           /* RAW_SEND allowed (tenant policy raw: true) */
};

/*
 * A channel's buffers, as the gateway tracks them (private memory). RX: `free` is a stack of
 * buffers the gateway may fill, `held` marks those with the app (posted, not yet done). TX:
 * `held` marks buffers in flight (fetched, not yet completed); `free` is unused.
 */
struct bp_bufpool {
	uint32_t n;     /* buffers */
	uint32_t nfree; /* depth of free */
	uint32_t *free; /* n entries */
	uint64_t *held; /* n bits */
};

/* Per-tenant limits a channel enforces (from policy and the port's MTU). */
struct bp_chan_limits {
	uint32_t max_udp_payload; /* MTU - 28 */
	uint32_t max_frame;       /* MTU + 14 */
	bool raw;                 /* tenant may send raw frames */
};

/* One app queue, gateway side. */
struct bp_chan {
	/* immutable after bp_chan_create */
	uint32_t queue;
	uint64_t epoch;
	struct bp_geom geom;
	struct bp_layout lay;
	struct bp_desc_limits tx_lim;   /* TX ring -> TX area */
	struct bp_desc_limits done_lim; /* DONE ring -> RX area */
	struct bp_qhdr *hdr;            /* = region */
	void *region;                   /* ring region, read-write */
	uint8_t *rx_area;               /* read-write here, read-only in the app */
	const uint8_t *tx_area;         /* read-only here */
	int db;                         /* gateway's end of the doorbell */
	int app_fd[BP_QUEUE_NFDS];      /* what the app gets; -1 once sent (bp_chan_send) */

	/* owning worker only */
	struct bp_ring rx, done, tx, comp; /* rx/comp: producer views; done/tx: consumer views */
	struct bp_bufpool rxpool;
	struct bp_bufpool txpool;
	uint64_t err[BP_DESC_ERR__MAX]; /* drops by reason; [RING] from the ring views */
	uint64_t cnt[BP_CHAN_CNT__MAX];
};

/*
 * Create a queue's memory and doorbell: three memfds (ring region, RX area, TX area) sized by
 * bp_layout(g), mapped here (ring and RX read-write, TX read-only), all sealed against shrink and
 * grow, the RX one also F_SEAL_FUTURE_WRITE (the app can only map it read-only); header and
 * rings formatted (state ACTIVE); a SOCK_SEQPACKET socket pair for the doorbell. g must be
 * complete and valid. Returns 0 or -errno (-EINVAL bad geometry); on error nothing is left.
 */
int bp_chan_create(struct bp_chan *c, const struct bp_geom *g, const struct bp_chan_limits *lim,
                   uint32_t queue, uint64_t epoch);

/*
 * Send the BP_CTL_QUEUE message with the app's four fds on the attach socket, then close the
 * gateway's copies of them (the gateway keeps only its mappings and its doorbell end).
 * Returns 0 or -errno (the fds are closed either way).
 */
int bp_chan_send(struct bp_chan *c, int sock, uint32_t seq, uint32_t worker);

/* Control thread, every <= BP_HEARTBEAT_MS while the gateway is healthy. */
void bp_chan_heartbeat(struct bp_chan *c);

/*
 * Stop serving: state CLOSED and the doorbell shut down, so a sleeping app wakes and every call
 * returns BP_ESHUTDOWN. Safe while the worker still runs (the worker's doorbell sends then fail
 * harmlessly); memory stays mapped until bp_chan_destroy.
 */
void bp_chan_close(struct bp_chan *c);

/* Free everything. Only after the owning worker has let go. Accepts a zeroed/destroyed chan. */
void bp_chan_destroy(struct bp_chan *c);

/* Sum of every drop reason (what a "drops" total shows). */
uint64_t bp_chan_drops(const struct bp_chan *c);

#endif
