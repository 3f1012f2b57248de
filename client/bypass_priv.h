/* bypass_priv.h - libbypass internals shared by bypass.c (control) and bypass_fp.c (data path). */
#ifndef BYPASSD_CLIENT_BYPASS_PRIV_H
#define BYPASSD_CLIENT_BYPASS_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bypass/bp_abi.h"
#include "bypass/bp_ring.h"
#include "bypass/bypass.h"

/* What the app side knows about each buffer: catches app bugs before they reach the gateway. */
enum buf_state {
	BUF_GW = 0,     /* RX: with the gateway; TX: in the free pool */
	BUF_APP = 1,    /* RX: delivered, not yet done; TX: allocated, not yet posted */
	BUF_POSTED = 2, /* TX: posted, not yet completed */
};

struct bp_queue {
	/* data path: the queue's thread only */
	struct bp_ring rx, done, tx, comp; /* rx/comp: consumer views; done/tx: producer views */
	const uint8_t *rx_base;
	uint8_t *tx_base;
	uint32_t rx_bufs, rx_shift;
	uint32_t tx_bufs, tx_shift;
	uint8_t *rx_state; /* enum buf_state per RX buffer */
	uint8_t *tx_state; /* enum buf_state per TX buffer */
	uint32_t *tx_free; /* stack of free TX buffers */
	uint32_t tx_nfree;
	uint32_t empty_polls; /* empty bp_recv_burst calls in a row: liveness check every 2^14 */
	bool dead;            /* this queue: gateway gone or queue closed */
	struct bp_qhdr *hdr;
	int db; /* our end of the doorbell */
	unsigned idx;
	uint64_t hb_last;  /* heartbeat value last seen */
	uint64_t hb_at_ns; /* when it last changed */
	struct bp_queue_stats st;
	uint8_t sock_proto[BP_MAX_SOCKS]; /* enum bp_proto of sockets bound on this queue, 0: none
	                                   */
	/* TCP and datagrams share the RX ring (and TCP_SENT the COMP ring): what one reader takes
	 * for the other waits in its stash, in order (FIFO, capacity rx_ring + tx_ring) */
	struct bp_stash {
		struct bp_desc *d;
		uint32_t cap, head, n;
	} tstash, ustash;
	uint32_t tcp_sends; /* TCP_SEND posted, TCP_SENT not yet seen: bp_arm watches COMP */

	/* set at attach */
	struct bp_handle *h;
	void *region;
	size_t region_len;
	void *rx_map;
	size_t rx_len;
	void *tx_map;
	size_t tx_len;
} __attribute__((aligned(BP_CACHE_LINE)));

struct bp_handle {
	int sock;                 /* control socket */
	pthread_mutex_t ctl_lock; /* one request at a time on sock */
	uint32_t seq;
	atomic_bool dead; /* control socket hung up */
	unsigned nqueues;
	uint64_t epoch;
	struct bp_geom geom;
	uint32_t max_udp;
	uint32_t max_frame;
	uint32_t spin_us;
	uint32_t stall_ms;
	uint32_t timeout_ms;
	struct bp_queue *q; /* nqueues, cache-aligned */
};

/* bypass.c */
uint64_t bp_now_ns(void);
int bp_queue_check_alive(struct bp_queue *q);

/* bypass_tcp.c */
static inline bool
bp_stash_put(struct bp_stash *s, const struct bp_desc *d)
{
	if (s->n == s->cap)
		return false;
	s->d[(s->head + s->n++) % s->cap] = *d;
	return true;
}

static inline bool
bp_stash_get(struct bp_stash *s, struct bp_desc *d)
{
	if (!s->n)
		return false;
	*d = s->d[s->head];
	s->head = (s->head + 1) % s->cap;
	s->n--;
	return true;
}

/* bypass_fp.c */
/* Move TX completions to the free pool. Returns how many came back. */
unsigned bp_reap_completions(struct bp_queue *q);

#endif
