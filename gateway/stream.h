/* stream.h - gateway TCP glue: a stk_tcp engine per worker driving the stream sockets of app
 * queues. */
#ifndef BYPASSD_GATEWAY_STREAM_H
#define BYPASSD_GATEWAY_STREAM_H

/*
 * Who owns what (docs/architecture.md "TCP through the gateway"):
 *  - Each worker has one engine (stack/tcp.h). A listener or connection belongs to the worker
 *    serving the app queue it was opened on; its state lives in that queue's struct gw_tcp_chan,
 *    which only that worker touches (no locks).
 *  - Connection ids the app sees are (generation << 16 | slot) in its queue's slot table: an id
 *    from one queue can never name another queue's (or app's) connection.
 *  - RX: the engine hands a RECV view into the mbuf; the worker copies it once into the app's
 *    RX area (the copy that isolates tenants) and remembers, per RX buffer, the connection and
 *    byte count; RX_DONE of that buffer reopens the window (stk_tcp_recv_done). When the RX
 *    ring or buffers are full the event waits in the queue's pending list holding the mbuf.
 *  - TX: a TCP_SEND hands the engine a view of the app's TX buffer (read-only here); each
 *    (re)transmission copies the bytes into the mbuf behind the engine's headers, so the app
 *    never copies and the egress policy (and L7) judges gateway memory. TCP_SENT returns the
 *    buffer when the peer acknowledged it.
 *  - L7 stream mode (docs/policy.md "Stream mode"): each worker has a struct pol_l7_streams;
 *    a connection's two flows are opened when it is accepted or connected, the peer's bytes
 *    scanned at RECV before the app sees them, the app's at TCP_SEND before the engine has
 *    them. When the sender has an egress flow its bytes are first copied into the queue's
 *    txcopy (gateway memory, same index as the TX buffer) and the engine sends the copy, so an
 *    app cannot change what it sends after the check. A deny resets the connection.
 *  - Control thread -> worker: a small ring of messages (unlisten, detach). A queue whose worker
 *    has TCP state for it (tcp_busy) is freed only after the worker processed its DETACH.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "acl.h"
#include "bypass/bp_abi.h"
#include "l7.h"
#include "stk.h"
#include "tcp.h"

struct gw;
struct gw_worker;
struct gw_chan;
struct stk_tcp_conn;
struct stk_tcp_listener;

#define GW_TCP_CHAN_CONNS 65535 /* connection slots per app queue at most (16-bit slot ids) */
#define GW_TCP_PENDING    4096  /* events waiting for RX room, per app queue */
#define GW_TCP_EPH_LO     49152 /* ephemeral ports for active opens: 49152..65535 */
#define GW_TCP_DEFER      64    /* aborts a worker queues while inside an engine call */
#define GW_TCP_KICKS      1024  /* connections with deferred sends to retry after an engine call */

/* One connection slot of a queue. */
struct gw_tcp_slot {
	struct stk_tcp_conn *c; /* NULL: free (or reserved during a connect) */
	uint16_t gen;           /* never 0: ids are never 0 */
	uint16_t listener;      /* socket it was accepted on; UINT16_MAX for an active open */
	bool used;
	int16_t reason; /* errno the RESET reports instead of the engine's (policy, overflow) */
	uint32_t peer_ip;
	uint16_t peer_port;
	uint64_t cookie; /* CONNECT cookie */
	/* sends beyond the engine's send queue, in order (TX buffer indexes linked by txnext):
	 * the app's TX buffers bound them, the app never sees a "queue full" */
	uint32_t dq_head, dq_tail; /* BP_BUF_NONE: empty */
	bool kick;                 /* queued on the worker's kick list */
	bool fin_pending;          /* shutdown asked while sends were held: FIN after them */
	/* L7 stream mode: the peer's bytes (in) and the app's (out); NULL: not scanned. Open
	 * from ACCEPTED / connect to CLOSED / RESET; out set means every send was copied */
	struct pol_l7_flow *l7in, *l7out;
	bool l7_denied; /* a signature reset it: counted once */
};

/* An event waiting for room on the RX ring (and buffers, for data). */
struct gw_tcp_pend {
	struct bp_desc d;    /* RECV: sock only, buf/off/len filled when delivered */
	struct rte_mbuf *m;  /* RECV: the reference the engine handed over, else NULL */
	const uint8_t *data; /* RECV: bytes not delivered yet */
	uint32_t len;
	uint16_t slot, gen; /* RECV: for the window accounting */
};

/* What the gateway remembers about an RX buffer holding TCP data. */
struct gw_tcp_rxrec {
	uint16_t slot, gen; /* gen 0: not TCP data */
	uint32_t len;
};

/* The TCP state of one app queue: its worker's only. Allocated with the queue. */
struct gw_tcp_chan {
	bool dead;       /* the app detached: no more events posted, every connection aborted */
	unsigned nslots; /* the tenant's connection quota, at most GW_TCP_CHAN_CONNS */
	struct gw_tcp_slot *slot; /* nslots */
	uint16_t *free;           /* nslots */
	unsigned nfree;
	struct stk_tcp_listener *lis[BP_MAX_SOCKS];
	uint32_t lis_addr[BP_MAX_SOCKS];
	uint16_t lis_port[BP_MAX_SOCKS];
	struct gw_tcp_rxrec *rxrec; /* rx_bufs */
	struct bp_desc *txrec;      /* tx_bufs: the TCP_SEND each buffer in flight came with */
	uint32_t *txnext;           /* tx_bufs: next deferred send of the same connection */
	uint8_t *txcopy;            /* tx_bufs x tx_buf_size: sends scanned by L7 (lazily backed) */
	struct gw_tcp_pend pend[GW_TCP_PENDING];
	unsigned ph, pn; /* pending: head index and count (FIFO) */
};

/* Control thread -> worker messages, one pointer-sized word on the worker's tcp_ctl ring: the
 * queue (64-byte aligned, below 2^48), the op in the low bits, a socket id in the top 16. */
enum gw_tcp_op { GW_TCP_OP_UNLISTEN = 1, GW_TCP_OP_DETACH = 2 };
#define GW_TCP_MSG(ch, op, sock) \
	((void *)(uintptr_t)((uint64_t)(sock) << 48 | (uint64_t)(uintptr_t)(ch) | (op)))
#define GW_TCP_MSG_CH(m)   ((struct gw_chan *)(uintptr_t)((uint64_t)(uintptr_t)(m)&0xffffffffffc0ull))
#define GW_TCP_MSG_OP(m)   ((unsigned)((uintptr_t)(m)&0x3f))
#define GW_TCP_MSG_SOCK(m) ((unsigned)((uint64_t)(uintptr_t)(m) >> 48))

/* Per-tenant connection use shared by every worker's engine (ops.quota). */
struct gw_tcp_quota {
	atomic_uint use[POL_TENANT_ID_MAX + 1];
	atomic_uint max[POL_TENANT_ID_MAX + 1]; /* 0: unlimited */
};

/* stream.c (control thread) */
/* One engine and message ring per worker. 0 or -errno. */
int gw_tcp_init(struct gw *gw);
/* After the workers stopped: destroys engines (buffers they hold released, nothing sent). */
void gw_tcp_fini(struct gw *gw);
/* TCP state of a new queue with room for nslots connections (the tenant's quota); 0 or -ENOMEM.
 * Frees with gw_tcp_chan_free (accepts none). */
int gw_tcp_chan_alloc(struct gw_chan *ch, unsigned nslots);
void gw_tcp_chan_free(struct gw_chan *ch);
/* A TCP socket was unbound: its worker stops listening. */
void gw_tcp_unlisten(struct gw *gw, struct gw_chan *ch, uint32_t sock);
/* The app detached: ask the queue's worker to reset its connections and let go. true when the
 * worker still holds TCP state of it (ch->tcp_busy; call again later if the message did not go).
 */
bool gw_tcp_detach(struct gw *gw, struct gw_chan *ch);
/* The tenant (stable id) may hold max connections at once over all workers (0: unlimited). */
void gw_tcp_set_quota(struct gw *gw, uint16_t tenant_id, uint32_t max);
/* Log the engines' counters summed over workers (one line), and connections in use. */
void gw_tcp_log_stats(const struct gw *gw, uint32_t level);
/* Sum of one engine counter over workers (relaxed reads). */
uint64_t gw_tcp_counter(const struct gw *gw, unsigned i);
/* Control loop: free the generations the workers' L7 streams let go (pol_l7_streams_reap with
 * the current one); warns once per generation whose stream state does not fit a slot. */
void gw_tcp_l7_reap(struct gw *gw);
/* L7 stream counters summed over workers (out[POL_L7_SCNT__MAX]), flows and slots in use. */
void gw_tcp_l7_counters(const struct gw *gw, uint64_t *out, uint32_t *flows, uint32_t *slots);

/* stream_fp.c (worker) */
/* Advance the clock and timers, run messages from the control thread, flush output. */
void gw_tcp_poll(struct gw_worker *w);
/* A TCP segment to a tenant address that passed the ingress policy: true when taken (fed to
 * the engine); false when nobody has it (the caller answers with RST, m still its own). */
bool gw_tcp_input(struct gw_worker *w, struct rte_mbuf *m, struct stk_buf *b,
                  const struct stk_pkt_info *info);
/* Serve a queue's TCP side of its rings: RX buffers returned (idx[0..n-1]) and pending events. */
void gw_tcp_rx_done(struct gw_worker *w, struct gw_chan *ch, const uint32_t *idx, unsigned n);
/* A TCP command from the app's TX ring (checked by bp_desc_check). true: d (a SEND) must be
 * completed now with d->status; false: nothing to complete (queued, or no buffer). */
bool gw_tcp_cmd(struct gw_worker *w, struct gw_chan *ch, struct bp_desc *d);
/* Whether a TCP segment that passed the ingress policy goes to this worker's engine (no raw
 * socket takes it): its payload is then scanned as a stream, not by the per-packet L7 stage. */
bool gw_tcp_terminates(const struct gw_worker *w, const struct stk_pkt_info *info);
/* Send what the engine produced during this round. */
void gw_tcp_flush(struct gw_worker *w);

#endif
