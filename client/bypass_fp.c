/* bypass_fp.c - libbypass data path: receive, done, buffer alloc, send, completions. */
#include <errno.h>
#include <sys/socket.h>

#include "bypass_priv.h"

#define CHUNK 32

int
bp_recv_burst(struct bp_queue *q, struct bp_rx *rx, unsigned n)
{
	struct bp_desc d[CHUNK], back[CHUNK];
	unsigned i, k, got = 0, nback = 0;
	int ret;

	if (q->rx.armed) {
		bp_ring_disarm(&q->rx);
		bp_ring_disarm(&q->comp);
	}
	while (got < n) {
		unsigned want = n - got < CHUNK ? n - got : CHUNK;

		/* datagrams bp_tcp_poll set aside come first; TCP events read here wait for it */
		for (k = 0; k < want && bp_stash_get(&q->ustash, &d[k]); k++)
			;
		if (!k) {
			if (q->tstash.cap - q->tstash.n < want)
				want = q->tstash.cap - q->tstash.n;
			k = bp_ring_dequeue_burst(&q->rx, d, want);
		}
		if (!k)
			break;
		for (i = 0; i < k; i++) {
			const struct bp_desc *e = &d[i];
			uint32_t size = UINT32_C(1) << q->rx_shift;

			if (e->type >= BP_DESC_TCP_ACCEPTED && e->type <= BP_DESC_TCP_EOF) {
				(void)bp_stash_put(&q->tstash, e); /* room reserved above */
				continue;
			}
			if ((e->type != BP_DESC_UDP_RECV && e->type != BP_DESC_RAW_RECV) ||
			    e->buf >= q->rx_bufs || (uint32_t)e->off + e->len > size ||
			    q->rx_state[e->buf] != BUF_GW) {
				/* a gateway bug: drop it, and hand the buffer back if it is one */
				q->st.rx_bad++;
				if (e->buf < q->rx_bufs && q->rx_state[e->buf] == BUF_GW)
					back[nback++] = (struct bp_desc){.buf = e->buf,
					                                 .type = BP_DESC_RX_DONE};
				continue;
			}
			q->rx_state[e->buf] = BUF_APP;
			rx[got++] = (struct bp_rx){
			        .data = q->rx_base + ((size_t)e->buf << q->rx_shift) + e->off,
			        .len = e->len,
			        .sock = e->sock,
			        .addr = e->addr_be,
			        .port = e->port_be,
			        .kind = e->type == BP_DESC_UDP_RECV ? BP_RX_UDP : BP_RX_RAW,
			};
		}
		if (nback) {
			bp_ring_enqueue_burst(&q->done, back, nback);
			nback = 0;
		}
	}
	if (got) {
		q->empty_polls = 0;
		q->st.rx += got;
		return (int)got;
	}
	/* nothing: is the gateway still there? Two loads; a system call every 2^14 empty polls */
	if (__builtin_expect(q->dead, 0) ||
	    atomic_load_explicit(&q->hdr->state, memory_order_relaxed) != BP_QSTATE_ACTIVE)
		return bp_queue_check_alive(q);
	if ((++q->empty_polls & 0x3fff) == 0) {
		ret = bp_queue_check_alive(q);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int
bp_done(struct bp_queue *q, const struct bp_rx *rx, unsigned n)
{
	struct bp_desc d[CHUNK];
	unsigned i, k = 0, done = 0;
	uintptr_t off;
	uint32_t idx;

	for (i = 0; i < n; i++) {
		off = (uintptr_t)rx[i].data - (uintptr_t)q->rx_base;
		idx = (uint32_t)(off >> q->rx_shift);
		if ((uintptr_t)rx[i].data < (uintptr_t)q->rx_base ||
		    off >= ((uintptr_t)q->rx_bufs << q->rx_shift) || q->rx_state[idx] != BUF_APP)
			break;
		q->rx_state[idx] = BUF_GW;
		d[k++] = (struct bp_desc){.buf = idx, .type = BP_DESC_RX_DONE};
		if (k == CHUNK) {
			done += bp_ring_enqueue_burst(&q->done, d, k);
			k = 0;
		}
	}
	if (k)
		done += bp_ring_enqueue_burst(&q->done, d, k);
	if (!done && n)
		return -EINVAL;
	return (int)done;
}

unsigned
bp_reap_completions(struct bp_queue *q)
{
	struct bp_desc d[CHUNK];
	unsigned i, k, got = 0;

	while ((k = bp_ring_dequeue_burst(&q->comp, d, CHUNK)) > 0) {
		for (i = 0; i < k; i++) {
			if (d[i].type == BP_DESC_TCP_SENT && d[i].buf < q->tx_bufs &&
			    q->tx_state[d[i].buf] == BUF_POSTED) {
				/* the buffer is free again; the event waits for bp_tcp_poll */
				q->tx_state[d[i].buf] = BUF_GW;
				q->tx_free[q->tx_nfree++] = d[i].buf;
				if (q->tcp_sends)
					q->tcp_sends--;
				if (!bp_stash_put(&q->tstash, &d[i]))
					q->st.rx_bad++; /* cannot happen: capacity covers both rings
					                 */
				got++;
				continue;
			}
			if (d[i].type != BP_DESC_TX_DONE || d[i].buf >= q->tx_bufs ||
			    q->tx_state[d[i].buf] != BUF_POSTED) {
				q->st.rx_bad++;
				continue;
			}
			q->tx_state[d[i].buf] = BUF_GW;
			q->tx_free[q->tx_nfree++] = d[i].buf;
			if (d[i].status) {
				q->st.tx_refused++;
				q->st.tx_last_refusal = d[i].status;
			} else {
				q->st.tx_done++;
			}
			got++;
		}
	}
	return got;
}

unsigned
bp_buf_alloc_burst(struct bp_queue *q, void **bufs, unsigned n)
{
	unsigned i;
	uint32_t idx;

	if (q->tx_nfree < n)
		bp_reap_completions(q);
	for (i = 0; i < n && q->tx_nfree; i++) {
		idx = q->tx_free[--q->tx_nfree];
		q->tx_state[idx] = BUF_APP;
		bufs[i] = q->tx_base + ((size_t)idx << q->tx_shift);
	}
	return i;
}

void *
bp_buf_alloc(struct bp_queue *q)
{
	void *b;

	if (bp_buf_alloc_burst(q, &b, 1))
		return b;
	/* none free even after reaping: maybe because the gateway is gone (a TX-only app never
	 * calls bp_wait, so look at the doorbell here; the slow path only) */
	errno = bp_queue_check_alive(q) < 0 ? BP_ESHUTDOWN : ENOBUFS;
	return NULL;
}

/* Index of the TX buffer p points into, or UINT32_MAX. */
static inline uint32_t
tx_index(const struct bp_queue *q, const void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)q->tx_base;

	if ((uintptr_t)p < (uintptr_t)q->tx_base || off >= ((uintptr_t)q->tx_bufs << q->tx_shift))
		return UINT32_MAX;
	return (uint32_t)(off >> q->tx_shift);
}

int
bp_buf_free(struct bp_queue *q, void *buf)
{
	uint32_t idx = tx_index(q, buf);

	if (idx == UINT32_MAX || q->tx_state[idx] != BUF_APP)
		return -EINVAL;
	q->tx_state[idx] = BUF_GW;
	q->tx_free[q->tx_nfree++] = idx;
	return 0;
}

int
bp_send_burst(struct bp_queue *q, const struct bp_tx *tx, unsigned n)
{
	struct bp_desc d[CHUNK];
	unsigned i, k = 0, sent = 0;
	uint32_t idx, off, size = UINT32_C(1) << q->tx_shift;
	int err = 0;
	uint8_t proto;

	if (__builtin_expect(q->dead, 0) ||
	    atomic_load_explicit(&q->hdr->state, memory_order_relaxed) != BP_QSTATE_ACTIVE) {
		err = bp_queue_check_alive(q);
		if (err < 0)
			return err;
	}
	for (i = 0; i < n; i++) {
		idx = tx_index(q, tx[i].data);
		if (idx == UINT32_MAX || q->tx_state[idx] != BUF_APP) {
			err = -EINVAL;
			break;
		}
		off = (uint32_t)(((uintptr_t)tx[i].data - (uintptr_t)q->tx_base) & (size - 1));
		if (tx[i].len > size - off || tx[i].len > UINT16_MAX) {
			err = -EINVAL;
			break;
		}
		proto = tx[i].sock < BP_MAX_SOCKS ? q->sock_proto[tx[i].sock] : 0;
		if (!proto || proto == BP_PROTO_TCP) { /* streams: bp_tcp_send */
			err = -BP_EBADSOCK;
			break;
		}
		if (tx[i].len > (proto == BP_PROTO_UDP ? q->h->max_udp : q->h->max_frame)) {
			err = -EMSGSIZE;
			break;
		}
		q->tx_state[idx] = BUF_POSTED;
		d[k++] = (struct bp_desc){
		        .buf = idx,
		        .off = (uint16_t)off,
		        .len = (uint16_t)tx[i].len,
		        .type = proto == BP_PROTO_UDP ? BP_DESC_UDP_SEND : BP_DESC_RAW_SEND,
		        .sock = tx[i].sock,
		        .addr_be = proto == BP_PROTO_UDP ? tx[i].addr : 0,
		        .port_be = proto == BP_PROTO_UDP ? tx[i].port : 0,
		};
		if (k == CHUNK) {
			/* tx_ring >= tx_bufs: a ring slot per buffer, this always fits */
			sent += bp_ring_enqueue_burst(&q->tx, d, k);
			k = 0;
		}
	}
	if (k)
		sent += bp_ring_enqueue_burst(&q->tx, d, k);
	if (sent) {
		q->st.tx += sent;
		if (bp_ring_wakeup_needed(&q->tx)) {
			static const char b = 1;

			if (send(q->db, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
				q->st.doorbells++;
		}
		return (int)sent;
	}
	return n ? err : 0;
}

void
bp_queue_stats(const struct bp_queue *q, struct bp_queue_stats *st)
{
	*st = q->st;
}
