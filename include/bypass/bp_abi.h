/* bp_abi.h - the gateway <-> app ABI: shared-memory layout of a queue and the control messages. */
#ifndef BYPASS_BP_ABI_H
#define BYPASS_BP_ABI_H

/**
 * @file
 * The versioned ABI between the bypassd gateway and the applications it serves.
 *
 * Applications use libbypass (bypass.h) and never need this header; it is public so that the
 * gateway, libbypass and any other client implementation agree on every byte.
 *
 * ## One queue's region set
 *
 * An attached app has 1..#BP_MAX_QUEUES queues (one per app thread). Each queue is served by one
 * gateway worker and has, each in its own memfd, never shared with another app:
 *
 * | memfd | gateway maps | app maps | holds |
 * |---|---|---|---|
 * | ring region | read-write | read-write | struct bp_qhdr, then the four rings |
 * | RX area | read-write | read-only (F_SEAL_FUTURE_WRITE) | rx_bufs x rx_buf_size bytes |
 * | TX area | read-only | read-write | tx_bufs x tx_buf_size bytes |
 *
 * plus a doorbell: one end of a SOCK_SEQPACKET socket pair each (see "Doorbells").
 * Every memfd is sealed against shrinking and growing (so the app cannot make the gateway fault).
 *
 * The four rings of a queue, each single-producer/single-consumer, of struct bp_desc:
 *
 * | ring | producer -> consumer | carries |
 * |---|---|---|
 * | RX | gateway -> app | received datagrams/frames (RX buffer + metadata), TCP events |
 * | DONE | app -> gateway | RX buffers handed back (Arrakis `packet_done`) |
 * | TX | app -> gateway | datagrams/frames to send (TX buffer + destination), TCP commands |
 * | COMP | gateway -> app | TX buffers handed back when no longer needed (TCP: acknowledged) |
 *
 * Ring sizes are powers of two; RX and DONE have rx_ring slots, TX and COMP tx_ring slots, and
 * rx_bufs <= rx_ring, tx_bufs <= tx_ring, so DONE and COMP can never overflow.
 *
 * ## Trust
 *
 * The gateway treats everything the app can write (rings, TX area, indexes, flags) as hostile:
 * it keeps its own ring geometry and its own index privately, reads each descriptor once into a
 * local copy and checks it (gateway side: client/chan_fp.h). The app trusts the gateway but still
 * bounds-checks what it is handed.
 *
 * ## Doorbells
 *
 * Each ring has a `need_wakeup` word. A consumer about to sleep sets it, then re-checks the ring;
 * a producer, after publishing, clears it with an exchange and, if it was set, sends one byte on
 * the doorbell socket. A busy consumer never arms, so a busy queue costs no system call.
 * Socket pairs rather than eventfds: each side owns its own end (and its O_NONBLOCK flag), sends
 * use MSG_DONTWAIT | MSG_NOSIGNAL, and when the gateway goes away the app's end reports POLLHUP,
 * so one fd signals both "work" and "gateway gone".
 *
 * ## TCP streams (ABI 1.1)
 *
 * A listener is a BIND with #BP_PROTO_TCP (the port must be in the tenant's `tcp:` ranges); the
 * gateway's per-worker TCP engine answers SYNs and posts TCP_ACCEPTED with a connection id
 * ("conn", in `sock`, never 0, valid on this queue only). CONNECT (TX ring) opens actively and
 * gets TCP_CONNECTED or TCP_RESET. Data arrives as TCP_RECV views into the read-only RX area
 * (copied there once from the wire) and goes back with RX_DONE, which reopens the window. TCP_SEND
 * names bytes in the app's TX area; the gateway builds each (re)transmission from them and hands
 * the buffer back with TCP_SENT once the peer acknowledged every byte. TCP_EOF says the peer
 * finished; TCP_CLOSED or TCP_RESET end a conn (its id is dead). Descriptors that carry no buffer
 * have buf #BP_BUF_NONE, off and len 0.
 *
 * ## Byte order
 *
 * Everything is host byte order (both ends are on one host) except IPv4 addresses and ports,
 * which are network byte order, as in `struct sockaddr_in` (fields named `*_be`).
 *
 * ## Versioning
 *
 * BP_ABI_MAJOR changes on any incompatible change; BP_ABI_MINOR when something is added that an
 * older peer may ignore (a new descriptor type, message type or flag). Peers with the same major
 * interoperate; each uses what min(minor) has.
 */

#include <stddef.h>
#include <stdint.h>

#include "bp_error.h"

#ifdef __cplusplus
extern "C" {
#define BP_STATIC_ASSERT(e, m) static_assert(e, m)
#define BP_ATOMIC(t)           t /* C++ users of these structs must use std::atomic_ref */
#else
#define BP_STATIC_ASSERT(e, m) _Static_assert(e, m)
#define BP_ATOMIC(t)           _Atomic t
#endif

/** Major ABI version: peers must agree. */
#define BP_ABI_MAJOR 1
/** Minor ABI version: additions only. */
#define BP_ABI_MINOR 1
/** First word of every queue header ("bpq1" little-endian). */
#define BP_ABI_MAGIC 0x31717062u

/** Cache line size the layout is built for. */
#define BP_CACHE_LINE 64
/**
 * Distance between words written by different sides: two cache lines, because the adjacent-line
 * prefetcher of x86 cores pulls lines in pairs (DPDK's RTE_CACHE_GUARD for the same reason).
 */
#define BP_RING_ALIGN 128
/** Alignment of every ring and buffer area inside its memfd. */
#define BP_PAGE_SIZE  4096

#define BP_MAX_QUEUES   64         /**< queues per attachment */
#define BP_RING_MIN     16         /**< fewest slots in a ring */
#define BP_RING_MAX     65536      /**< most slots in a ring */
#define BP_BUF_SIZE_MIN 512        /**< smallest buffer (power of two) */
#define BP_BUF_SIZE_MAX 65536      /**< largest buffer (power of two; offset/length are 16-bit) */
#define BP_MAX_SOCKS    1024       /**< socket ids are 0..BP_MAX_SOCKS-1, unique per attachment */
#define BP_NAME_MAX     64         /**< tenant and app names, including the terminating NUL */
#define BP_ERRMSG_MAX   128        /**< error message in struct bp_ctl_error, including NUL */
#define BP_HEARTBEAT_MS 100        /**< the gateway bumps bp_qhdr.heartbeat at least this often */
#define BP_BUF_NONE     UINT32_MAX /**< bp_desc.buf of a descriptor that carries no buffer */

/* ------------------------------------------------------------------------------------------ */
/* Descriptors                                                                                */
/* ------------------------------------------------------------------------------------------ */

/**
 * What a descriptor is. The value range says the ring: 1..31 TX, 32..63 DONE, 64..95 RX,
 * 96..127 COMP. Reserved values are rejected by this ABI version (bp_desc_check: BAD_TYPE).
 */
enum bp_desc_type {
	BP_DESC_NONE = 0, /**< never valid */

	/* TX ring, app -> gateway */
	BP_DESC_UDP_SEND = 1, /**< buf/off/len: payload; addr/port: destination; sock: UDP socket */
	BP_DESC_RAW_SEND = 2, /**< buf/off/len: a whole Ethernet frame; sock: raw socket */
	/* TX ring, TCP commands (ABI 1.1; "conn" = a connection id from ACCEPTED/CONNECTED) */
	BP_DESC_TCP_CONNECT = 3,  /**< addr/port: peer; sock: local address (network order) or 0
	                               for the tenant's first address; user: cookie echoed in
	                               CONNECTED or RESET; buf #BP_BUF_NONE */
	BP_DESC_TCP_SEND = 4,     /**< buf/off/len: payload left in the TX area until acknowledged;
	                               sock: conn; user: cookie, echoed in TCP_SENT */
	BP_DESC_TCP_SHUTDOWN = 5, /**< sock: conn; FIN after the queued data; buf #BP_BUF_NONE */
	BP_DESC_TCP_CLOSE = 6,    /**< sock: conn; as SHUTDOWN (the app will not send again; RECV,
	                               EOF and CLOSED or RESET still follow) */
	BP_DESC_TCP_ABORT = 7,    /**< sock: conn; RST now, pending sends come back with an error */

	/* DONE ring, app -> gateway */
	BP_DESC_RX_DONE = 32, /**< buf: an RX buffer the app hands back (UDP, raw, TCP RECV: the
	                           gateway opens the connection's window by the bytes it held) */

	/* RX ring, gateway -> app */
	BP_DESC_UDP_RECV = 64,     /**< buf/off/len: payload; addr/port: source; sock: UDP socket */
	BP_DESC_RAW_RECV = 65,     /**< buf/off/len: a whole Ethernet frame; sock: raw socket */
	BP_DESC_TCP_ACCEPTED = 66, /**< sock: the new conn; addr/port: peer; user: listening
	                                socket (from a BIND with #BP_PROTO_TCP) */
	BP_DESC_TCP_CONNECTED =
	        67,              /**< sock: the new conn; addr/port: peer; user: CONNECT cookie */
	BP_DESC_TCP_RECV = 68,   /**< buf/off/len: in-order bytes; sock: conn */
	BP_DESC_TCP_CLOSED = 69, /**< sock: conn, finished in order; the id is dead */
	BP_DESC_TCP_RESET = 70,  /**< sock: conn (0 when a CONNECT got none); status: errno value
	                              (ECONNRESET, ECONNREFUSED, ETIMEDOUT, ECONNABORTED,
	                              EACCES policy, EDQUOT quota, ENOBUFS, EADDRNOTAVAIL); user:
	                              the CONNECT cookie for an active open; the id is dead */
	BP_DESC_TCP_EOF = 71,    /**< sock: conn; the peer finished sending (no more RECV) */

	/* COMP ring, gateway -> app */
	BP_DESC_TX_DONE =
	        96, /**< buf: TX buffer back; status: 0 sent, else why dropped; user echoed */
	BP_DESC_TCP_SENT = 97, /**< buf: TX buffer back; sock: conn; len: bytes acknowledged (all
	                            of the SEND, or 0 when status is set: enum bp_desc_err, e.g.
	                            CONN_GONE when the connection died first); user: SEND cookie */
};

/** Descriptor flags. None is defined in ABI 1.0: every bit must be zero. */
#define BP_DESC_F_MORE  0x0001u /**< reserved: buffer chain continues in the next descriptor */
#define BP_DESC_F_VALID 0x0000u /**< flags this ABI version accepts */

/**
 * One ring slot: 32 bytes, two per cache line. What each field means depends on `type`; a field
 * a type does not use must be zero when the app writes it (room for later minors).
 */
struct bp_desc {
	uint32_t buf;     /**< buffer index in the area this ring refers to, or #BP_BUF_NONE */
	uint16_t off;     /**< offset of the data inside the buffer */
	uint16_t len;     /**< bytes of data; off + len <= buffer size */
	uint16_t type;    /**< enum bp_desc_type */
	uint16_t flags;   /**< BP_DESC_F_* */
	uint32_t sock;    /**< socket (later: flow) id from a bind, < #BP_MAX_SOCKS */
	uint32_t addr_be; /**< peer IPv4 address, network byte order (source on RX, dest on TX) */
	uint16_t port_be; /**< peer port, network byte order */
	uint16_t status;  /**< TX_DONE: 0 = sent, else enum bp_desc_err of the drop; else zero */
	uint64_t user;    /**< app's opaque value: copied from a TX descriptor into its TX_DONE */
};
BP_STATIC_ASSERT(sizeof(struct bp_desc) == 32, "bp ABI: bp_desc");
BP_STATIC_ASSERT(offsetof(struct bp_desc, off) == 4, "bp ABI: bp_desc.off");
BP_STATIC_ASSERT(offsetof(struct bp_desc, type) == 8, "bp ABI: bp_desc.type");
BP_STATIC_ASSERT(offsetof(struct bp_desc, sock) == 12, "bp ABI: bp_desc.sock");
BP_STATIC_ASSERT(offsetof(struct bp_desc, addr_be) == 16, "bp ABI: bp_desc.addr_be");
BP_STATIC_ASSERT(offsetof(struct bp_desc, port_be) == 20, "bp ABI: bp_desc.port_be");
BP_STATIC_ASSERT(offsetof(struct bp_desc, status) == 22, "bp ABI: bp_desc.status");
BP_STATIC_ASSERT(offsetof(struct bp_desc, user) == 24, "bp ABI: bp_desc.user");

/* ------------------------------------------------------------------------------------------ */
/* Rings                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/**
 * The shared header of one SPSC ring; its slots (struct bp_desc[size]) follow directly.
 * Indexes are free-running 32-bit counters; slot = index & (size - 1). Each word is written by
 * one side only and sits on its own pair of cache lines. The ring size is NOT stored here: each
 * side keeps it privately (struct bp_ring in bp_ring.h), so a hostile peer cannot change it.
 */
struct bp_ring_shm {
	BP_ATOMIC(uint32_t) prod; /**< next index the producer writes; producer-owned */
	uint8_t pad0[BP_RING_ALIGN - 4];
	BP_ATOMIC(uint32_t) cons; /**< next index the consumer reads; consumer-owned */
	uint8_t pad1[BP_RING_ALIGN - 4];
	BP_ATOMIC(uint32_t)
	need_wakeup; /**< set by a consumer about to sleep, cleared by producer */
	uint8_t pad2[BP_RING_ALIGN - 4];
};
BP_STATIC_ASSERT(sizeof(struct bp_ring_shm) == 3 * BP_RING_ALIGN, "bp ABI: bp_ring_shm");
BP_STATIC_ASSERT(offsetof(struct bp_ring_shm, cons) == BP_RING_ALIGN, "bp ABI: ring cons");
BP_STATIC_ASSERT(offsetof(struct bp_ring_shm, need_wakeup) == 2 * BP_RING_ALIGN,
                 "bp ABI: ring need_wakeup");

/** The four rings of a queue, in the order they sit in the ring region. */
enum bp_ring_id {
	BP_RING_RX,   /**< gateway -> app: received data, events */
	BP_RING_DONE, /**< app -> gateway: RX buffers returned */
	BP_RING_TX,   /**< app -> gateway: data to send, commands */
	BP_RING_COMP, /**< gateway -> app: TX buffers returned */
	BP_RING__MAX
};

/* ------------------------------------------------------------------------------------------ */
/* Geometry and the queue header                                                              */
/* ------------------------------------------------------------------------------------------ */

/**
 * Sizes of one queue (every queue of an attachment has the same). In a HELLO request a zero field
 * means "the gateway's default"; everywhere else every field is set and valid (bp_geom_valid).
 */
struct bp_geom {
	uint32_t rx_ring;     /**< slots in RX and DONE, power of two */
	uint32_t rx_bufs;     /**< RX buffers, 1..rx_ring */
	uint32_t rx_buf_size; /**< bytes per RX buffer, power of two */
	uint32_t tx_ring;     /**< slots in TX and COMP, power of two */
	uint32_t tx_bufs;     /**< TX buffers, 1..tx_ring */
	uint32_t tx_buf_size; /**< bytes per TX buffer, power of two */
	uint32_t reserved[2]; /**< zero */
};
BP_STATIC_ASSERT(sizeof(struct bp_geom) == 32, "bp ABI: bp_geom");

/** Queue states (bp_qhdr.state), written by the gateway. */
enum bp_qstate {
	BP_QSTATE_INIT = 0,   /**< being set up */
	BP_QSTATE_ACTIVE = 1, /**< served */
	BP_QSTATE_CLOSED = 2, /**< the gateway stopped serving it (shutdown, revoked): detach */
};

/**
 * Offset 0 of the ring region. Written by the gateway; the gateway never reads it back (it
 * keeps its own copy of everything), so the app scribbling on it harms only itself.
 */
struct bp_qhdr {
	uint32_t magic;     /**< #BP_ABI_MAGIC */
	uint16_t abi_major; /**< #BP_ABI_MAJOR of the gateway */
	uint16_t abi_minor; /**< #BP_ABI_MINOR of the gateway */
	uint32_t hdr_size;  /**< sizeof(struct bp_qhdr) */
	uint32_t queue;     /**< index of this queue in its attachment */
	uint64_t epoch;     /**< gateway instance (random per start), as in HELLO_OK */
	struct bp_geom geom;
	uint64_t ring_off[BP_RING__MAX]; /**< offset of each ring's bp_ring_shm (see bp_layout) */
	uint64_t region_size;            /**< bytes of the ring region */
	uint8_t pad0[BP_RING_ALIGN - 96];

	/* gateway-written, polled by the app */
	BP_ATOMIC(uint32_t) state; /**< enum bp_qstate */
	uint32_t pad1;
	BP_ATOMIC(uint64_t) heartbeat; /**< incremented every <= #BP_HEARTBEAT_MS while alive */
	uint8_t pad2[BP_RING_ALIGN - 16];

	uint8_t reserved[2 * BP_RING_ALIGN]; /**< zero; room for later minors */
};
BP_STATIC_ASSERT(sizeof(struct bp_qhdr) == 4 * BP_RING_ALIGN, "bp ABI: bp_qhdr");
BP_STATIC_ASSERT(offsetof(struct bp_qhdr, geom) == 24, "bp ABI: bp_qhdr.geom");
BP_STATIC_ASSERT(offsetof(struct bp_qhdr, ring_off) == 56, "bp ABI: bp_qhdr.ring_off");
BP_STATIC_ASSERT(offsetof(struct bp_qhdr, state) == BP_RING_ALIGN, "bp ABI: bp_qhdr.state");
BP_STATIC_ASSERT(offsetof(struct bp_qhdr, heartbeat) == BP_RING_ALIGN + 8, "bp ABI: heartbeat");

/** Where things are in a queue's memfds; computed by bp_layout() from the geometry. */
struct bp_layout {
	uint64_t ring_off[BP_RING__MAX];  /**< offset of each ring in the ring region */
	uint32_t ring_size[BP_RING__MAX]; /**< slots of each ring */
	uint64_t region_size;             /**< ring region bytes (multiple of #BP_PAGE_SIZE) */
	uint64_t rx_area_size;            /**< RX area bytes (multiple of #BP_PAGE_SIZE) */
	uint64_t tx_area_size;            /**< TX area bytes (multiple of #BP_PAGE_SIZE) */
};

/** True when x is a power of two in [lo, hi]. */
static inline int
bp_pow2_in(uint32_t x, uint32_t lo, uint32_t hi)
{
	return x >= lo && x <= hi && (x & (x - 1)) == 0;
}

/** True when every field of a (complete, not a request) geometry is within the ABI's limits. */
static inline int
bp_geom_valid(const struct bp_geom *g)
{
	return bp_pow2_in(g->rx_ring, BP_RING_MIN, BP_RING_MAX) && g->rx_bufs >= 1 &&
	       g->rx_bufs <= g->rx_ring &&
	       bp_pow2_in(g->rx_buf_size, BP_BUF_SIZE_MIN, BP_BUF_SIZE_MAX) &&
	       bp_pow2_in(g->tx_ring, BP_RING_MIN, BP_RING_MAX) && g->tx_bufs >= 1 &&
	       g->tx_bufs <= g->tx_ring &&
	       bp_pow2_in(g->tx_buf_size, BP_BUF_SIZE_MIN, BP_BUF_SIZE_MAX) &&
	       g->reserved[0] == 0 && g->reserved[1] == 0;
}

static inline uint64_t
bp_page_round(uint64_t x)
{
	return (x + BP_PAGE_SIZE - 1) & ~(uint64_t)(BP_PAGE_SIZE - 1);
}

/**
 * Compute where everything of a queue lives. The ring region is the header page, then RX, DONE,
 * TX and COMP, each starting on a page: ring i = struct bp_ring_shm + slots. Both sides compute
 * it themselves from the geometry (never from shared memory).
 * @return 0, or -1 when the geometry is not valid (then *l is untouched).
 */
static inline int
bp_layout(const struct bp_geom *g, struct bp_layout *l)
{
	uint64_t off = BP_PAGE_SIZE;
	int i;

	if (!bp_geom_valid(g))
		return -1;
	l->ring_size[BP_RING_RX] = g->rx_ring;
	l->ring_size[BP_RING_DONE] = g->rx_ring;
	l->ring_size[BP_RING_TX] = g->tx_ring;
	l->ring_size[BP_RING_COMP] = g->tx_ring;
	for (i = 0; i < BP_RING__MAX; i++) {
		l->ring_off[i] = off;
		off += bp_page_round(sizeof(struct bp_ring_shm) +
		                     (uint64_t)l->ring_size[i] * sizeof(struct bp_desc));
	}
	l->region_size = off;
	l->rx_area_size = bp_page_round((uint64_t)g->rx_bufs * g->rx_buf_size);
	l->tx_area_size = bp_page_round((uint64_t)g->tx_bufs * g->tx_buf_size);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Control messages (unix SOCK_SEQPACKET, one message per packet)                              */
/* ------------------------------------------------------------------------------------------ */

/**
 * @defgroup bp_ctl Control protocol
 *
 * The app connects to the gateway's unix SOCK_SEQPACKET socket and sends HELLO. The gateway
 * identifies it with SO_PEERCRED and answers either ERROR (then closes), or HELLO_OK followed by
 * one QUEUE message per queue, each carrying 4 fds by SCM_RIGHTS in this order: ring region
 * memfd, RX area memfd, TX area memfd, doorbell socket. Afterwards the app sends requests (BIND,
 * UNBIND) and the gateway answers each with its reply (BIND_OK, OK) or ERROR carrying the same
 * `seq`; the gateway sends nothing unsolicited. Closing the socket (either side) ends the
 * attachment: the gateway reclaims everything.
 *
 * Every message is a fixed-size struct beginning with struct bp_ctl_hdr; `len` must equal both
 * the size of that type's struct and the size received. Reserved fields must be zero and strings
 * are NUL-terminated and NUL-padded. Decoding: bp_ctl_decode() (client/ctl.h).
 * @{
 */

/** First word of every control message ("bpct" little-endian). */
#define BP_CTL_MAGIC   0x74637062u
/** Control protocol version: equal to BP_ABI_MAJOR (the HELLO after the header is stable). */
#define BP_CTL_VERSION BP_ABI_MAJOR

/** Control message types. */
enum bp_ctl_type {
	/* app -> gateway */
	BP_CTL_HELLO = 1,  /**< struct bp_ctl_hello */
	BP_CTL_BIND = 2,   /**< struct bp_ctl_bind */
	BP_CTL_UNBIND = 3, /**< struct bp_ctl_unbind */
	BP_CTL_BYE = 4,    /**< struct bp_ctl_hdr only: orderly detach */
	/* gateway -> app */
	BP_CTL_HELLO_OK = 64, /**< struct bp_ctl_hello_ok */
	BP_CTL_QUEUE = 65,    /**< struct bp_ctl_queue + 4 fds */
	BP_CTL_ERROR = 66,    /**< struct bp_ctl_error */
	BP_CTL_BIND_OK = 67,  /**< struct bp_ctl_bind_ok */
	BP_CTL_OK = 68,       /**< struct bp_ctl_hdr only: request done */
};

/** Header of every control message. */
struct bp_ctl_hdr {
	uint32_t magic;   /**< #BP_CTL_MAGIC */
	uint16_t version; /**< #BP_CTL_VERSION */
	uint16_t type;    /**< enum bp_ctl_type */
	uint32_t len;     /**< bytes of the whole message */
	uint32_t seq;     /**< request number, chosen by the app, echoed in the reply */
};
BP_STATIC_ASSERT(sizeof(struct bp_ctl_hdr) == 16, "bp ABI: bp_ctl_hdr");

/** HELLO flags: none defined yet. */
#define BP_HELLO_F_VALID 0x0u

/** app -> gateway: attach. abi_major/abi_minor stay first in every future version. */
struct bp_ctl_hello {
	struct bp_ctl_hdr hdr;
	uint16_t abi_major;         /**< #BP_ABI_MAJOR of the app */
	uint16_t abi_minor;         /**< #BP_ABI_MINOR of the app */
	uint32_t nqueues;           /**< 1..#BP_MAX_QUEUES */
	uint32_t flags;             /**< BP_HELLO_F_* */
	uint32_t reserved;          /**< zero */
	struct bp_geom geom;        /**< wanted sizes; zero fields: gateway default */
	char tenant[BP_NAME_MAX];   /**< tenant name: [A-Za-z0-9._-], starts alphanumeric */
	char app_name[BP_NAME_MAX]; /**< free text for logs (printable ASCII), may be empty */
};
BP_STATIC_ASSERT(sizeof(struct bp_ctl_hello) == 192, "bp ABI: bp_ctl_hello");
BP_STATIC_ASSERT(offsetof(struct bp_ctl_hello, abi_major) == 16, "bp ABI: hello.abi_major");
BP_STATIC_ASSERT(offsetof(struct bp_ctl_hello, geom) == 32, "bp ABI: hello.geom");
BP_STATIC_ASSERT(offsetof(struct bp_ctl_hello, tenant) == 64, "bp ABI: hello.tenant");

/** gateway -> app: admitted. */
struct bp_ctl_hello_ok {
	struct bp_ctl_hdr hdr;
	uint16_t abi_major;       /**< the gateway's */
	uint16_t abi_minor;       /**< the gateway's */
	uint32_t nqueues;         /**< as asked */
	uint64_t epoch;           /**< gateway instance id (random per start) */
	struct bp_geom geom;      /**< granted sizes, complete */
	uint32_t max_udp_payload; /**< largest UDP payload the gateway sends (MTU - 28) */
	uint32_t max_frame;       /**< largest raw frame, Ethernet header included (MTU + 14) */
	uint32_t reserved[2];     /**< zero */
};
BP_STATIC_ASSERT(sizeof(struct bp_ctl_hello_ok) == 80, "bp ABI: bp_ctl_hello_ok");
BP_STATIC_ASSERT(offsetof(struct bp_ctl_hello_ok, geom) == 32, "bp ABI: hello_ok.geom");

/** Number of fds a QUEUE message carries. */
#define BP_QUEUE_NFDS 4
/** Order of the fds of a QUEUE message. */
enum bp_queue_fd {
	BP_QFD_RING,     /**< ring region memfd (read-write) */
	BP_QFD_RX,       /**< RX area memfd (sealed: map read-only) */
	BP_QFD_TX,       /**< TX area memfd (read-write) */
	BP_QFD_DOORBELL, /**< the app's end of the doorbell socket pair (SOCK_SEQPACKET) */
};

/** gateway -> app: one queue, with BP_QUEUE_NFDS fds attached. Sent in queue order. */
struct bp_ctl_queue {
	struct bp_ctl_hdr hdr;
	uint32_t queue;        /**< 0..nqueues-1 */
	uint32_t nfds;         /**< #BP_QUEUE_NFDS */
	uint64_t region_size;  /**< size of the ring region memfd (= bp_layout) */
	uint64_t rx_area_size; /**< size of the RX memfd */
	uint64_t tx_area_size; /**< size of the TX memfd */
	uint32_t worker;       /**< gateway worker serving it (informational) */
	uint32_t reserved;     /**< zero */
};
BP_STATIC_ASSERT(sizeof(struct bp_ctl_queue) == 56, "bp ABI: bp_ctl_queue");

/** gateway -> app: refused. The attach handshake ends; a request just failed. */
struct bp_ctl_error {
	struct bp_ctl_hdr hdr;
	int32_t code;            /**< a BP_E* value (bp_error.h) */
	uint32_t reserved;       /**< zero */
	char msg[BP_ERRMSG_MAX]; /**< what and why, printable ASCII, NUL-terminated */
};
BP_STATIC_ASSERT(sizeof(struct bp_ctl_error) == 152, "bp ABI: bp_ctl_error");

/** Protocols of a BIND. */
enum bp_proto {
	BP_PROTO_UDP = 1, /**< a UDP port on one of the tenant's addresses */
	BP_PROTO_RAW = 2, /**< whole frames to one of the tenant's addresses (policy raw: true) */
	BP_PROTO_TCP = 3, /**< listen on a TCP port of one of the tenant's addresses (ABI 1.1) */
};

/**
 * app -> gateway: deliver traffic for addr/port to this queue. Control socket rather than a
 * ring: admission is a control-plane decision (tenant addresses and ports, quotas, a port table
 * shared by every worker and published by the control thread) and the app wants a synchronous
 * yes/no.
 */
struct bp_ctl_bind {
	struct bp_ctl_hdr hdr;
	uint32_t queue;   /**< queue that receives, < nqueues */
	uint16_t proto;   /**< enum bp_proto */
	uint16_t port_be; /**< UDP, TCP: the port (not 0); RAW: 0 */
	uint32_t addr_be; /**< one of the tenant's addresses (unicast, not 0) */
	uint32_t flags;   /**< zero */
};
BP_STATIC_ASSERT(sizeof(struct bp_ctl_bind) == 32, "bp ABI: bp_ctl_bind");

/** gateway -> app: bound. */
struct bp_ctl_bind_ok {
	struct bp_ctl_hdr hdr;
	uint32_t sock;     /**< socket id, < #BP_MAX_SOCKS: in descriptors from now on */
	uint16_t proto;    /**< as bound */
	uint16_t port_be;  /**< as bound */
	uint32_t addr_be;  /**< as bound */
	uint32_t reserved; /**< zero */
};
BP_STATIC_ASSERT(sizeof(struct bp_ctl_bind_ok) == 32, "bp ABI: bp_ctl_bind_ok");

/** app -> gateway: stop delivering to a socket. Ids are handed out round-robin, so an unbound
 * id is not reused until #BP_MAX_SOCKS other binds: RX and TX descriptors still queued for it
 * are not mistaken for a new binding's. */
struct bp_ctl_unbind {
	struct bp_ctl_hdr hdr;
	uint32_t sock;     /**< from BIND_OK */
	uint32_t reserved; /**< zero */
};
BP_STATIC_ASSERT(sizeof(struct bp_ctl_unbind) == 24, "bp ABI: bp_ctl_unbind");

/** Largest control message. */
#define BP_CTL_MAX_LEN sizeof(struct bp_ctl_hello)

/** @} */

#ifdef __cplusplus
}
#endif

#endif
