/* bypass_tcp.c - libbypass TCP streams: commands on the TX ring, events from the RX and COMP rings.
 */
#include <errno.h>
#include <sys/socket.h>

#include "bypass_priv.h"
#include "chan.h"

#define CHUNK 32

static void
kick(struct bp_queue *q)
{
	if (bp_ring_wakeup_needed(&q->tx)) {
		static const char b = 1;

		if (send(q->db, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
			q->st.doorbells++;
	}
}

static int
alive(struct bp_queue *q)
{
	if (__builtin_expect(q->dead, 0) ||
	    atomic_load_explicit(&q->hdr->state, memory_order_relaxed) != BP_QSTATE_ACTIVE)
		return bp_queue_check_alive(q);
	return 0;
}

/* Post one buffer-less command. */
static int
command(struct bp_queue *q, const struct bp_desc *d)
{
	int r = alive(q);

	if (r < 0)
		return r;
	if (bp_ring_enqueue_burst(&q->tx, d, 1) != 1)
		return -EAGAIN; /* the TX ring is full: the gateway is behind, try again */
	kick(q);
	return 0;
}

int
bp_tcp_connect(struct bp_queue *q, uint32_t local, uint32_t addr, uint16_t port, uint64_t cookie)
{
	struct bp_desc d = {.buf = BP_BUF_NONE,
	                    .type = BP_DESC_TCP_CONNECT,
	                    .sock = local,
	                    .addr_be = addr,
	                    .port_be = port,
	                    .user = cookie};
	const uint8_t *a = (const uint8_t *)&addr;

	if (port == 0 || a[0] == 0 || a[0] == 127 || a[0] >= 224)
		return -EINVAL;
	return command(q, &d);
}

static int
conn_command(struct bp_queue *q, uint32_t conn, uint16_t type)
{
	struct bp_desc d = {.buf = BP_BUF_NONE, .type = type, .sock = conn};

	if (conn == 0)
		return -BP_EBADSOCK;
	return command(q, &d);
}

int
bp_tcp_shutdown(struct bp_queue *q, uint32_t conn)
{
	return conn_command(q, conn, BP_DESC_TCP_SHUTDOWN);
}

int
bp_tcp_close(struct bp_queue *q, uint32_t conn)
{
	return conn_command(q, conn, BP_DESC_TCP_CLOSE);
}

int
bp_tcp_abort(struct bp_queue *q, uint32_t conn)
{
	return conn_command(q, conn, BP_DESC_TCP_ABORT);
}

int
bp_tcp_send(struct bp_queue *q, uint32_t conn, const void *data, uint32_t len, uint64_t cookie)
{
	uintptr_t off = (uintptr_t)data - (uintptr_t)q->tx_base;
	uint32_t size = UINT32_C(1) << q->tx_shift, idx;
	struct bp_desc d;
	int r = alive(q);

	if (r < 0)
		return r;
	if (conn == 0)
		return -BP_EBADSOCK;
	if ((uintptr_t)data < (uintptr_t)q->tx_base ||
	    off >= ((uintptr_t)q->tx_bufs << q->tx_shift))
		return -EINVAL;
	idx = (uint32_t)(off >> q->tx_shift);
	off &= size - 1;
	if (q->tx_state[idx] != BUF_APP || len == 0 || len > size - off || len > UINT16_MAX)
		return -EINVAL;
	d = (struct bp_desc){.buf = idx,
	                     .off = (uint16_t)off,
	                     .len = (uint16_t)len,
	                     .type = BP_DESC_TCP_SEND,
	                     .sock = conn,
	                     .user = cookie};
	if (bp_ring_enqueue_burst(&q->tx, &d, 1) != 1)
		return -EAGAIN;
	q->tx_state[idx] = BUF_POSTED;
	q->tcp_sends++;
	q->st.tx++;
	kick(q);
	return 0;
}

/* One TCP descriptor from the gateway into an event. false: it made no sense (counted). */
static bool
decode(struct bp_queue *q, const struct bp_desc *e, struct bp_tcp_ev *ev)
{
	*ev = (struct bp_tcp_ev){.conn = e->sock};
	switch (e->type) {
	case BP_DESC_TCP_ACCEPTED:
		ev->type = BP_TCP_ACCEPTED;
		ev->listener = (uint32_t)e->user;
		ev->addr = e->addr_be;
		ev->port = e->port_be;
		return e->sock != 0;
	case BP_DESC_TCP_CONNECTED:
		ev->type = BP_TCP_CONNECTED;
		ev->addr = e->addr_be;
		ev->port = e->port_be;
		ev->cookie = e->user;
		return e->sock != 0;
	case BP_DESC_TCP_RECV: {
		uint32_t size = UINT32_C(1) << q->rx_shift;

		if (e->buf >= q->rx_bufs || (uint32_t)e->off + e->len > size ||
		    q->rx_state[e->buf] != BUF_GW) {
			if (e->buf < q->rx_bufs && q->rx_state[e->buf] == BUF_GW) {
				struct bp_desc back = {.buf = e->buf, .type = BP_DESC_RX_DONE};

				bp_ring_enqueue_burst(&q->done, &back, 1);
			}
			return false;
		}
		q->rx_state[e->buf] = BUF_APP;
		ev->type = BP_TCP_RECV;
		ev->data = q->rx_base + ((size_t)e->buf << q->rx_shift) + e->off;
		ev->len = e->len;
		q->st.rx++;
		return true;
	}
	case BP_DESC_TCP_EOF:
		ev->type = BP_TCP_EOF;
		return true;
	case BP_DESC_TCP_CLOSED:
		ev->type = BP_TCP_CLOSED;
		return true;
	case BP_DESC_TCP_RESET:
		ev->type = BP_TCP_RESET;
		ev->err = -(int32_t)(e->status ? e->status : ECONNRESET);
		ev->addr = e->addr_be;
		ev->port = e->port_be;
		ev->cookie = e->user;
		return true;
	case BP_DESC_TCP_SENT:
		/* the buffer went back to the free pool when it was reaped */
		ev->type = BP_TCP_SENT;
		ev->len = e->len;
		ev->cookie = e->user;
		ev->reason = e->status;
		switch (e->status) {
		case BP_DESC_ERR_OK:
			ev->err = 0;
			break;
		case BP_DESC_ERR_NOBUFS:
			ev->err = -EAGAIN; /* send queue full: send it again after another SENT */
			break;
		case BP_DESC_ERR_CLOSED:
			ev->err = -EPIPE;
			break;
		case BP_DESC_ERR_CONN:
			ev->err = -BP_EBADSOCK;
			break;
		case BP_DESC_ERR_CONN_GONE:
			ev->err = -ECONNRESET;
			break;
		default:
			ev->err = -EINVAL;
			break;
		}
		if (e->status)
			q->st.tx_refused++, q->st.tx_last_refusal = e->status;
		else
			q->st.tx_done++;
		return true;
	default:
		return false;
	}
}

int
bp_tcp_poll(struct bp_queue *q, struct bp_tcp_ev *ev, unsigned n)
{
	struct bp_desc d[CHUNK];
	unsigned got = 0, i, k;
	int r;

	if (q->rx.armed) {
		bp_ring_disarm(&q->rx);
		bp_ring_disarm(&q->comp);
	}
	bp_reap_completions(q); /* TCP_SENT into the stash, in order with the rest */
	while (got < n) {
		struct bp_desc e;

		if (bp_stash_get(&q->tstash, &e)) {
			if (decode(q, &e, &ev[got]))
				got++;
			else
				q->st.rx_bad++;
			continue;
		}
		k = n - got < CHUNK ? n - got : CHUNK;
		if (q->ustash.cap - q->ustash.n < k)
			k = q->ustash.cap - q->ustash.n;
		k = bp_ring_dequeue_burst(&q->rx, d, k);
		if (!k)
			break;
		for (i = 0; i < k; i++) {
			if (d[i].type == BP_DESC_UDP_RECV || d[i].type == BP_DESC_RAW_RECV)
				(void)bp_stash_put(&q->ustash, &d[i]); /* for bp_recv_burst */
			else if (decode(q, &d[i], &ev[got]))
				got++;
			else
				q->st.rx_bad++;
		}
	}
	if (got)
		return (int)got;
	r = alive(q);
	return r < 0 ? r : 0;
}

int
bp_tcp_done(struct bp_queue *q, const struct bp_tcp_ev *ev, unsigned n)
{
	struct bp_desc d[CHUNK];
	unsigned i, k = 0, done = 0;

	for (i = 0; i < n; i++) {
		uintptr_t off = (uintptr_t)ev[i].data - (uintptr_t)q->rx_base;
		uint32_t idx = (uint32_t)(off >> q->rx_shift);

		if (ev[i].type != BP_TCP_RECV)
			continue; /* nothing to hand back */
		if ((uintptr_t)ev[i].data < (uintptr_t)q->rx_base ||
		    off >= ((uintptr_t)q->rx_bufs << q->rx_shift) || q->rx_state[idx] != BUF_APP)
			return done ? (int)done : -EINVAL;
		q->rx_state[idx] = BUF_GW;
		d[k++] = (struct bp_desc){.buf = idx, .type = BP_DESC_RX_DONE};
		if (k == CHUNK) {
			done += bp_ring_enqueue_burst(&q->done, d, k);
			k = 0;
		}
	}
	if (k)
		done += bp_ring_enqueue_burst(&q->done, d, k);
	return (int)done;
}

const char *
bp_tcp_ev_str(uint16_t type)
{
	static const char *const names[] = {"?",   "ACCEPTED", "CONNECTED", "RECV",
	                                    "EOF", "SENT",     "CLOSED",    "RESET"};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}
