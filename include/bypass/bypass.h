/* bypass.h - libbypass: attach to bypassd, send and receive over zero-copy shared-memory queues. */
#ifndef BYPASS_BYPASS_H
#define BYPASS_BYPASS_H

/**
 * @file
 * libbypass, the client library of the bypassd gateway.
 *
 * An application attaches to the gateway over its unix socket and gets one or more queues (one
 * per thread that does I/O). Each queue is a set of shared-memory rings: the gateway delivers
 * received datagrams into buffers the app reads in place (zero-copy, mapped read-only), the app
 * writes datagrams into its own TX buffers and posts them; the gateway builds the headers.
 *
 * The API is batched and non-blocking in the style of IX: bp_recv_burst() and bp_send_burst()
 * take what is there and never wait; bp_wait() (or bp_fd() with your own poll loop) sleeps.
 *
 * Thread safety: a struct bp_queue is used by one thread at a time (one queue per thread, no
 * locks on the data path). bp_udp_bind(), bp_raw_bind() and bp_unbind() on a queue belong to
 * that queue's thread too; calls on different queues of one handle may run concurrently.
 * bp_attach() and bp_detach() are not concurrent with anything else on the same handle.
 * bp_strerror() and bp_errmsg() may be called from any thread.
 *
 * Errors: functions return a count or 0 on success and a negative code on failure: `-errno`
 * (system errors, bad arguments) or `-BP_E*` (bp_error.h). -#BP_ESHUTDOWN means the gateway is
 * gone (stopped, crashed, or closed the queue): detach, then attach again when it is back.
 *
 * Addresses and ports are in network byte order, as in `struct sockaddr_in`.
 */

#include <stddef.h>
#include <stdint.h>

#include "bp_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** libbypass version: major.minor.patch. */
#define BP_LIB_VERSION_MAJOR 0 /**< incompatible API changes */
#define BP_LIB_VERSION_MINOR 2 /**< additions */
#define BP_LIB_VERSION_PATCH 0 /**< fixes */

/** Default path of the gateway's control socket. */
#define BP_DEFAULT_SOCKET "/run/bypassd/control.sock"

/** An attachment to the gateway (opaque). */
struct bp_handle;
/** One queue of an attachment (opaque). Used by one thread at a time. */
struct bp_queue;

/** Options for bp_attach(). Fill with bp_attach_opts_init(), then change what you need. */
struct bp_attach_opts {
	uint32_t rx_ring;     /**< RX ring slots, power of two; 0: gateway default */
	uint32_t rx_bufs;     /**< RX buffers (<= rx_ring); 0: gateway default */
	uint32_t rx_buf_size; /**< bytes per RX buffer, power of two; 0: gateway default */
	uint32_t tx_ring;     /**< TX ring slots, power of two; 0: gateway default */
	uint32_t tx_bufs;     /**< TX buffers (<= tx_ring); 0: gateway default */
	uint32_t tx_buf_size; /**< bytes per TX buffer, power of two; 0: gateway default */
	uint32_t spin_us;     /**< bp_wait() polls this long before sleeping (default 50) */
	uint32_t stall_ms; /**< >0: gateway gone when its heartbeat stalls this long (default 0) */
	uint32_t timeout_ms;  /**< wait for gateway replies (attach, bind) at most this (default
	                         5000) */
	const char *app_name; /**< shown in the gateway's logs; NULL: the program's name */
	uint32_t reserved[8]; /**< zero (bp_attach_opts_init) */
};

/**
 * Fill @p o with the defaults.
 * @param o options to initialise
 */
void bp_attach_opts_init(struct bp_attach_opts *o);

/**
 * Attach to the gateway: connect to its control socket, ask for @p nqueues queues for @p tenant,
 * map the shared memory the gateway answers with. Blocks up to opts->timeout_ms.
 *
 * @param socket_path the gateway's control socket (#BP_DEFAULT_SOCKET; a leading '@' names an
 *        abstract socket)
 * @param tenant tenant name as in the gateway's policy; the gateway admits this process only if
 *        the tenant allows its uid/gid
 * @param nqueues 1..64 queues, one per I/O thread
 * @param opts NULL for the defaults
 * @return an owned handle (free with bp_detach()), or NULL with errno set to a positive code:
 *         an errno value (ENOENT, ECONNREFUSED: no gateway listening; ETIMEDOUT; EINVAL) or a
 *         BP_E* value (#BP_EDENIED, #BP_ETENANT, #BP_EQUOTA, #BP_ESIZES, #BP_EABI, ...);
 *         bp_errmsg() has the gateway's explanation.
 */
struct bp_handle *bp_attach(const char *socket_path, const char *tenant, unsigned nqueues,
                            const struct bp_attach_opts *opts);

/**
 * Detach: tell the gateway, unmap everything, close every fd. Every buffer pointer and queue of
 * the handle becomes invalid. No other call on the handle may be running.
 * @param h handle from bp_attach(), or NULL
 */
void bp_detach(struct bp_handle *h);

/**
 * Number of queues of an attachment.
 * @param h the attachment
 * @return nqueues as attached
 */
unsigned bp_nqueues(const struct bp_handle *h);

/**
 * One queue of an attachment (borrowed: valid until bp_detach()).
 * @param h the attachment
 * @param i 0..nqueues-1
 * @return the queue, or NULL when @p i is out of range
 */
struct bp_queue *bp_queue(struct bp_handle *h, unsigned i);

/* ---- binding ---- */

/**
 * Receive UDP datagrams for @p addr:@p port on queue @p q. A synchronous request to the gateway:
 * it checks the address is the tenant's and the port is given to it.
 * @param q queue that will receive (and may send from the socket)
 * @param addr one of the tenant's IPv4 addresses, network byte order
 * @param port UDP port, network byte order, not 0
 * @return socket id (>= 0) for struct bp_tx.sock and struct bp_rx.sock; or -#BP_EADDRINUSE,
 *         -#BP_EADDRNOTAVAIL, -#BP_EPORT, -#BP_EQUOTA, -#BP_ESHUTDOWN, -ETIMEDOUT, -EINVAL
 */
int bp_udp_bind(struct bp_queue *q, uint32_t addr, uint16_t port);

/**
 * Receive whole Ethernet frames addressed to @p addr on queue @p q, and send frames (tenants
 * whose policy says raw: true). The gateway checks the source MAC, IP and ports of what you send.
 * @param q queue
 * @param addr one of the tenant's IPv4 addresses, network byte order
 * @return socket id (>= 0), or a negative error as for bp_udp_bind(); -#BP_ENOTSUP when the
 *         tenant may not use raw frames
 */
int bp_raw_bind(struct bp_queue *q, uint32_t addr);

/**
 * Stop receiving on a socket. Datagrams already on the RX ring are still delivered.
 * @param q the queue it was bound on
 * @param sock socket id from a bind
 * @return 0, -#BP_EBADSOCK, -#BP_ESHUTDOWN, -ETIMEDOUT
 */
int bp_unbind(struct bp_queue *q, int sock);

/* ---- receiving ---- */

/** Kinds of received data (struct bp_rx.kind). */
enum bp_rx_kind {
	BP_RX_UDP = 1, /**< a UDP datagram: data is the payload, addr/port the source */
	BP_RX_RAW = 2, /**< a whole Ethernet frame: addr/port are 0 */
};

/** A received datagram or frame: a zero-copy view into the queue's read-only RX area. */
struct bp_rx {
	const void
	        *data; /**< payload; read-only memory (writing it faults); valid until bp_done() */
	uint32_t len;  /**< bytes */
	uint32_t sock; /**< socket it arrived on */
	uint32_t addr; /**< source IPv4 address, network byte order (UDP) */
	uint16_t port; /**< source port, network byte order (UDP) */
	uint16_t kind; /**< enum bp_rx_kind */
};

/**
 * Take up to @p n received datagrams. Never blocks.
 * Ownership: the app owns rx[0..ret-1]'s buffers until it hands them back with bp_done(); the
 * gateway can deliver only while it has free RX buffers, so hand them back promptly.
 * @param q queue
 * @param rx array of at least @p n entries, filled with rx[0..ret-1]
 * @param n most to take (any; 32 is a good burst)
 * @return how many (0 when none), or -#BP_ESHUTDOWN once the gateway is gone and nothing is left
 */
int bp_recv_burst(struct bp_queue *q, struct bp_rx *rx, unsigned n);

/**
 * Hand received buffers back to the gateway (Arrakis packet_done). Any order, any subset.
 * @param q the queue they were received on
 * @param rx entries as filled by bp_recv_burst(); only data is used
 * @param n entries
 * @return how many were handed back; stops at the first entry that is not a buffer the app
 *         holds (then -EINVAL if it is the first)
 */
int bp_done(struct bp_queue *q, const struct bp_rx *rx, unsigned n);

/* ---- sending ---- */

/**
 * Allocate a TX buffer of bp_buf_size() bytes. Buffers the gateway has finished with come back
 * automatically (reaped here and in bp_wait()).
 * @param q queue (buffers belong to one queue)
 * @return an owned buffer, or NULL with errno ENOBUFS when all are in flight or held, or
 *         BP_ESHUTDOWN when none is free because the gateway is gone
 */
void *bp_buf_alloc(struct bp_queue *q);

/**
 * Allocate up to @p n TX buffers.
 * @param q queue
 * @param bufs receives bufs[0..ret-1], owned
 * @param n most to allocate
 * @return how many
 */
unsigned bp_buf_alloc_burst(struct bp_queue *q, void **bufs, unsigned n);

/**
 * Give back an allocated buffer that will not be sent.
 * @param q its queue
 * @param buf a pointer into the buffer (as from bp_buf_alloc())
 * @return 0, or -EINVAL if it is not a buffer the app holds
 */
int bp_buf_free(struct bp_queue *q, void *buf);

/**
 * Size of each TX buffer of a queue.
 * @param q queue
 * @return bytes
 */
uint32_t bp_buf_size(const struct bp_queue *q);

/**
 * Largest UDP payload the gateway sends in one datagram (no fragmentation): MTU - 28.
 * @param q queue
 * @return bytes
 */
uint32_t bp_max_udp_payload(const struct bp_queue *q);

/** A datagram or frame to send. */
struct bp_tx {
	void *data;    /**< inside a TX buffer from bp_buf_alloc() (any offset; data + len in it) */
	uint32_t len;  /**< bytes; UDP: <= bp_max_udp_payload() */
	uint32_t sock; /**< socket to send from (bound on this queue) */
	uint32_t addr; /**< destination IPv4, network byte order (UDP; ignored for raw) */
	uint16_t port; /**< destination port, network byte order (UDP; ignored for raw) */
	uint16_t reserved; /**< zero */
};

/**
 * Post up to @p n datagrams. Never blocks, never copies.
 * Ownership: takes tx[0..ret-1]'s buffers (do not touch them again: they come back to the free
 * pool when the gateway is done); the caller keeps the rest. Datagrams the gateway refuses
 * (policy, bad destination) are dropped and counted (struct bp_queue_stats).
 * @param q queue
 * @param tx datagrams
 * @param n how many
 * @return how many were posted; stops at the first invalid entry (then, if it is the first:
 *         -EINVAL buffer not held / bad length, -#BP_EBADSOCK socket not bound on this queue,
 *         -EMSGSIZE longer than bp_max_udp_payload() or, raw, than the MTU + 14), or
 *         -#BP_ESHUTDOWN
 */
int bp_send_burst(struct bp_queue *q, const struct bp_tx *tx, unsigned n);

/* ---- waiting ---- */

/**
 * Wait until there is something to receive, or TX buffers came back while none was free.
 * Spins for opts.spin_us first, then arms the doorbell and sleeps in poll(2).
 * @param q queue
 * @param timeout_ms 0: just check; < 0: no limit
 * @return 1 ready, 0 timed out, -#BP_ESHUTDOWN gateway gone (at the latest when it dies or
 *         closes the queue: no heartbeat wait needed), -EINTR interrupted by a signal
 */
int bp_wait(struct bp_queue *q, int timeout_ms);

/**
 * For your own event loop: call before sleeping on bp_fd(). Arms the doorbell and checks again.
 * After bp_fd() polls readable, call bp_recv_burst() (which disarms).
 * @param q queue
 * @return 1: work is pending, do not sleep; 0: armed, sleep; -#BP_ESHUTDOWN gateway gone
 */
int bp_arm(struct bp_queue *q);

/**
 * The queue's doorbell fd (for poll/epoll, POLLIN). Becomes readable when the gateway rings an
 * armed queue, and readable with POLLHUP when the gateway is gone. Do not read or close it.
 * @param q queue
 * @return the fd
 */
int bp_fd(const struct bp_queue *q);

/* ---- errors and statistics ---- */

/**
 * Name an error code.
 * @param err a code as returned (negative) or as in errno (positive)
 * @return a static string
 */
const char *bp_strerror(int err);

/**
 * The gateway's explanation of the last refusal on this thread (attach, bind): e.g. "tenant
 * 'acme' does not admit uid 1001". Empty when there was none.
 * @return a thread-local string
 */
const char *bp_errmsg(void);

/** Counters of one queue (this side's view). */
struct bp_queue_stats {
	uint64_t rx;              /**< datagrams received */
	uint64_t rx_bad;          /**< descriptors from the gateway that made no sense (dropped) */
	uint64_t tx;              /**< datagrams posted */
	uint64_t tx_done;         /**< TX buffers returned after sending */
	uint64_t tx_refused;      /**< TX buffers returned unsent: the gateway refused them */
	uint32_t tx_last_refusal; /**< why the last one was refused (gateway descriptor error) */
	uint32_t reserved;
	uint64_t sleeps;    /**< times bp_wait() slept */
	uint64_t doorbells; /**< doorbells rung to wake the gateway */
};

/**
 * Name a refusal reason (struct bp_queue_stats.tx_last_refusal), e.g. "desc_bad_addr".
 * @param reason the reason
 * @return a static string
 */
const char *bp_refusal_str(uint32_t reason);

/**
 * Read a queue's counters.
 * @param q queue
 * @param st filled
 */
void bp_queue_stats(const struct bp_queue *q, struct bp_queue_stats *st);

/* ---- TCP streams (ABI 1.1) ---- */

/**
 * @defgroup bp_tcp TCP streams
 *
 * The gateway runs TCP; the app sees a batched, zero-copy event API on the same queue (IX's
 * commands and events). A connection is a `uint32_t` id, never 0, valid on the queue that got
 * it until its BP_TCP_CLOSED or BP_TCP_RESET event.
 *
 *  - bp_tcp_listen(): a listening socket (a port in the tenant's `tcp:` ranges); each peer that
 *    connects arrives as BP_TCP_ACCEPTED with a new conn. Stop with bp_unbind() (connections
 *    already accepted carry on).
 *  - bp_tcp_connect(): BP_TCP_CONNECTED or BP_TCP_RESET follows, carrying your cookie.
 *  - BP_TCP_RECV: `data`/`len` point into the read-only RX area; hand them back with
 *    bp_tcp_done() (the connection's receive window reopens by that much).
 *  - bp_tcp_send(): bytes in a TX buffer (bp_buf_alloc()); the gateway keeps reading them from
 *    there for every (re)transmission, never copied by you. The buffer returns to the free
 *    pool when BP_TCP_SENT reports them acknowledged (`len`, err 0) or refused (err -EAGAIN:
 *    the connection's send queue was full, send them again after a SENT; -EPIPE after
 *    shutdown). Keep at most 48 sends (and 512 KiB) in flight per connection and -EAGAIN never
 *    happens; -EAGAIN also means the TX ring was full when a call returns it.
 *  - bp_tcp_shutdown() / bp_tcp_close(): FIN after the queued data (RECV, EOF and CLOSED still
 *    follow); bp_tcp_abort(): RST now (RESET follows, pending sends come back with an error).
 *
 * bp_tcp_poll() and bp_recv_burst() may be used on one queue together: each sets aside what is
 * the other's. bp_wait() wakes for either, and for SENT events while sends are in flight.
 * @{
 */

/** Event types (struct bp_tcp_ev.type). */
enum bp_tcp_ev_type {
	BP_TCP_ACCEPTED = 1,  /**< conn: new; listener: the socket; addr/port: the peer */
	BP_TCP_CONNECTED = 2, /**< conn: new; cookie: bp_tcp_connect()'s; addr/port: the peer */
	BP_TCP_RECV = 3,   /**< data/len: the next in-order bytes; hand back with bp_tcp_done() */
	BP_TCP_EOF = 4,    /**< the peer finished sending: no more RECV */
	BP_TCP_SENT = 5,   /**< cookie: bp_tcp_send()'s; len: bytes acknowledged; err: 0 or why */
	BP_TCP_CLOSED = 6, /**< finished in order; conn is dead */
	BP_TCP_RESET = 7,  /**< err: -ECONNRESET, -ECONNREFUSED, -ETIMEDOUT, -ECONNABORTED,
	                        -EACCES (egress policy), -EDQUOT (connection quota), -ENOBUFS,
	                        -EADDRNOTAVAIL, -ENETUNREACH; cookie: the connect's; conn is dead
	                        (0 when a connect never got one) */
};

/** One TCP event. */
struct bp_tcp_ev {
	uint16_t type;     /**< enum bp_tcp_ev_type */
	uint16_t reason;   /**< SENT refused: the gateway's descriptor error (bp_refusal_str) */
	int32_t err;       /**< 0 or a negative error (SENT, RESET) */
	uint32_t conn;     /**< connection id */
	uint32_t listener; /**< ACCEPTED: the listening socket */
	uint32_t addr;     /**< ACCEPTED, CONNECTED, RESET of a connect: peer IPv4, network order */
	uint16_t port;     /**< peer port, network order */
	uint16_t pad;
	const void *data; /**< RECV: read-only bytes, valid until bp_tcp_done() */
	uint32_t len;     /**< RECV: bytes at data; SENT: bytes acknowledged */
	uint32_t pad2;
	uint64_t cookie; /**< CONNECTED, RESET (connect), SENT: the caller's value */
};

/** Listen on addr:port (one of the tenant's addresses, a port of its `tcp:` ranges). Returns the
 * socket id (>= 0; close it with bp_unbind()) or -BP_EPORT, -BP_EADDRNOTAVAIL, -BP_EADDRINUSE. */
int bp_tcp_listen(struct bp_queue *q, uint32_t addr, uint16_t port);
/** Open a connection to addr:port from local (a tenant address; 0: its first). 0: CONNECTED or
 * RESET follows with cookie; -EINVAL, -EAGAIN (TX ring full). */
int bp_tcp_connect(struct bp_queue *q, uint32_t local, uint32_t addr, uint16_t port,
                   uint64_t cookie);
/** Send len bytes at data, inside one TX buffer from bp_buf_alloc() (it is posted: do not write
 * it until its SENT). 0, -EINVAL, -BP_EBADSOCK, -EAGAIN (TX ring full: the buffer stays yours). */
int bp_tcp_send(struct bp_queue *q, uint32_t conn, const void *data, uint32_t len, uint64_t cookie);
/** FIN after what is queued. 0 or -EAGAIN. */
int bp_tcp_shutdown(struct bp_queue *q, uint32_t conn);
/** Same as bp_tcp_shutdown(): the app will send no more (events still follow until CLOSED). */
int bp_tcp_close(struct bp_queue *q, uint32_t conn);
/** RST now. 0 or -EAGAIN. */
int bp_tcp_abort(struct bp_queue *q, uint32_t conn);
/** Take up to n events (never waits). Returns how many, or a negative error (-BP_ESHUTDOWN). */
int bp_tcp_poll(struct bp_queue *q, struct bp_tcp_ev *ev, unsigned n);
/** Hand back the RX buffers of RECV events ev[0..n-1] (others are skipped). Returns how many. */
int bp_tcp_done(struct bp_queue *q, const struct bp_tcp_ev *ev, unsigned n);
/** "ACCEPTED", "RECV", ... */
const char *bp_tcp_ev_str(uint16_t type);

/**
 * Blocking convenience layer over one queue, for simple apps (one thread per queue): sockets-like
 * calls built on the events. It copies (read into your buffer, write from it); the event API
 * above does not. Every call waits at most timeout_ms (-1: forever) and returns -ETIMEDOUT.
 */
struct bp_stream;
/** NULL + errno (ENOMEM). The queue's TCP events belong to it from now on. */
struct bp_stream *bp_stream_new(struct bp_queue *q);
/** Aborts the connections it still has open. Accepts NULL. */
void bp_stream_free(struct bp_stream *s);
/** The next connection on listener: conn id (> 0), peer in *addr and *port (either may be NULL). */
long bp_stream_accept(struct bp_stream *s, int listener, uint32_t *addr, uint16_t *port,
                      int timeout_ms);
/** Connect (local address 0: the tenant's first): conn id (> 0) or -ECONNREFUSED, ... */
long bp_stream_connect(struct bp_stream *s, uint32_t addr, uint16_t port, int timeout_ms);
/** Up to len bytes: > 0 read, 0 at EOF, or a negative error (-ECONNRESET, ...). */
long bp_stream_read(struct bp_stream *s, uint32_t conn, void *buf, size_t len, int timeout_ms);
/** All len bytes queued and acknowledged: len, or a negative error. */
long bp_stream_write(struct bp_stream *s, uint32_t conn, const void *buf, size_t len,
                     int timeout_ms);
/** FIN, then wait for the end (unread data is dropped). 0 or a negative error. The id is dead. */
int bp_stream_close(struct bp_stream *s, uint32_t conn, int timeout_ms);

/** @} */

#ifdef __cplusplus
}
#endif

#endif
