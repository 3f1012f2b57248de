/* tcp_in_fp.c - TCP segment input: RFC 9293 3.10.7 with RFC 5961, RFC 7323, reassembly. */
#include "tcp_priv.h"

void
stk_tcp_seg_from_pkt(struct stk_tcp_seg *seg, const struct stk_buf *b,
                     const struct stk_pkt_info *info, void *buf)
{
	seg->src_ip = info->src_ip;
	seg->dst_ip = info->dst_ip;
	seg->sport = info->src_port;
	seg->dport = info->dst_port;
	seg->th = (const struct stk_tcp_hdr *)(b->data + info->l4_off);
	seg->th_len = (uint32_t)(info->pay_off - info->l4_off);
	seg->pay = b->data + info->pay_off;
	seg->pay_len = info->pay_len;
	seg->buf = buf;
	seg->link_bcast = stk_mac_is_group(b->data);
}

/* 0 or -EINVAL for a malformed list; options a SYN alone may carry are taken only from SYNs */
static int
parse_opts(const struct stk_tcp_seg *s, struct tcp_opts *o)
{
	const uint8_t *p = (const uint8_t *)(s->th + 1);
	const uint8_t *end = (const uint8_t *)s->th + s->th_len;
	bool syn = s->th->flags & STK_TCP_SYN;

	memset(o, 0, sizeof(*o));
	while (p < end) {
		uint8_t kind = p[0], len;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			p++;
			continue;
		}
		if (end - p < 2)
			return -EINVAL;
		len = p[1];
		if (len < 2 || len > end - p)
			return -EINVAL;
		switch (kind) {
		case TCPOPT_MSS:
			if (len != 4)
				return -EINVAL;
			if (syn) {
				o->has_mss = true;
				o->mss = (uint16_t)(p[2] << 8 | p[3]);
			}
			break;
		case TCPOPT_WS:
			if (len != 3)
				return -EINVAL;
			if (syn) {
				o->has_ws = true;
				o->ws = p[2];
			}
			break;
		case TCPOPT_SACK_PERM:
			if (len != 2)
				return -EINVAL;
			o->sack_ok = syn;
			break;
		case TCPOPT_TS:
			if (len != 10)
				return -EINVAL;
			o->has_ts = true;
			o->tsval = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 |
			           (uint32_t)p[4] << 8 | p[5];
			o->tsecr = (uint32_t)p[6] << 24 | (uint32_t)p[7] << 16 |
			           (uint32_t)p[8] << 8 | p[9];
			break;
		case TCPOPT_SACK:
			if (len < 10 || (len - 2) % 8)
				return -EINVAL;
			o->n_sack = (uint8_t)((len - 2) / 8);
			if (o->n_sack > 4)
				return -EINVAL;
			for (unsigned i = 0; i < o->n_sack; i++) {
				const uint8_t *b = p + 2 + 8 * i;

				o->sack[i][0] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
				                (uint32_t)b[2] << 8 | b[3];
				o->sack[i][1] = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 |
				                (uint32_t)b[6] << 8 | b[7];
			}
			break;
		default:
			break;
		}
		p += len;
	}
	return 0;
}

static void
deliver(struct stk_tcp *t, struct stk_tcp_conn *c, const uint8_t *data, uint32_t len, void *buf,
        bool have_ref)
{
	struct stk_tcp_event ev = {.type = STK_TCP_EV_RECV, .c = c, .user = c->user};

	if (!have_ref)
		t->ops.rx_ref(t->ops.ctx, buf);
	ev.u.recv.buf = buf;
	ev.u.recv.data = data;
	ev.u.recv.len = len;
	c->rcv_nxt += len;
	c->rcv_unread += len;
	t->cnt[STK_TCP_CNT_BYTES_IN] += len;
	tcp_event(t, c, &ev);
}

/* the peer's FIN, in order; false when the block was freed or detached into TIME-WAIT */
static bool
process_fin(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	struct stk_tcp_event ev = {.type = STK_TCP_EV_EOF, .c = c, .user = c->user};

	c->rcv_nxt++;
	c->flags |= CF_FIN_RCVD | CF_ACK_NOW;
	/* nothing follows a FIN: out-of-order data beyond it is void */
	while (c->ooo_n) {
		t->cnt[STK_TCP_CNT_DROP_DATA_AFTER_FIN]++;
		t->ops.rx_unref(t->ops.ctx, c->ooo[--c->ooo_n].buf);
		t->ooo_held--;
	}
	c->ooo_last = 0;
	if (!(c->flags & CF_DETACHED))
		tcp_event(t, c, &ev);
	switch (c->state) {
	case STK_TCP_SYN_RECEIVED:
	case STK_TCP_ESTABLISHED:
		c->state = STK_TCP_CLOSE_WAIT;
		return true;
	case STK_TCP_FIN_WAIT_1:
		if (c->snd_una == c->snd_max && SEQ_GT(c->snd_max, c->snd_end)) {
			tcp_send_ack(t, c);
			tcp_enter_time_wait(t, c);
			return false;
		}
		c->state = STK_TCP_CLOSING;
		return true;
	case STK_TCP_FIN_WAIT_2:
		tcp_send_ack(t, c);
		tcp_enter_time_wait(t, c);
		return false;
	default:
		return true;
	}
}

static void
ooo_remove(struct stk_tcp *t, struct stk_tcp_conn *c, unsigned i, bool unref)
{
	if (unref)
		t->ops.rx_unref(t->ops.ctx, c->ooo[i].buf);
	memmove(&c->ooo[i], &c->ooo[i + 1], (c->ooo_n - i - 1) * sizeof(c->ooo[0]));
	c->ooo_n--;
	t->ooo_held--;
	if (c->ooo_last >= c->ooo_n)
		c->ooo_last = 0;
}

static void
ooo_insert(struct stk_tcp *t, struct stk_tcp_conn *c, uint32_t seq, const uint8_t *data,
           uint32_t len, void *buf, bool fin)
{
	uint32_t end = seq + len;
	unsigned i, pos;

	for (i = 0; i < c->ooo_n; i++)
		if (SEQ_LEQ(c->ooo[i].seq, seq) && SEQ_GEQ(c->ooo[i].seq + c->ooo[i].len, end)) {
			c->ooo_last = (uint8_t)i;
			t->cnt[STK_TCP_CNT_DROP_DUP]++;
			return;
		}
	for (i = c->ooo_n; i-- > 0;)
		if (SEQ_GEQ(c->ooo[i].seq, seq) && SEQ_LEQ(c->ooo[i].seq + c->ooo[i].len, end))
			ooo_remove(t, c, i, true);
	for (pos = 0; pos < c->ooo_n && SEQ_LT(c->ooo[pos].seq, seq); pos++)
		;
	if (pos > 0) {
		uint32_t pe = c->ooo[pos - 1].seq + c->ooo[pos - 1].len;

		if (SEQ_GT(pe, seq)) {
			data += pe - seq;
			len -= pe - seq;
			seq = pe;
		}
	}
	if (pos < c->ooo_n && SEQ_LT(c->ooo[pos].seq, seq + len)) {
		len = c->ooo[pos].seq - seq;
		fin = false;
	}
	if (!len) {
		t->cnt[STK_TCP_CNT_DROP_DUP]++;
		return;
	}
	if (c->ooo_n == STK_TCP_OOO_MAX || t->ooo_held >= t->cfg.ooo_max_worker) {
		t->cnt[STK_TCP_CNT_DROP_OOO_FULL]++;
		return;
	}
	t->ops.rx_ref(t->ops.ctx, buf);
	memmove(&c->ooo[pos + 1], &c->ooo[pos], (c->ooo_n - pos) * sizeof(c->ooo[0]));
	c->ooo[pos] =
	        (struct tcp_ooo){.seq = seq, .len = len, .data = data, .buf = buf, .fin = fin};
	c->ooo_n++;
	c->ooo_last = (uint8_t)pos;
	t->ooo_held++;
	t->cnt[STK_TCP_CNT_OOO_QUEUED]++;
}

/* deliver what the out-of-order queue now continues; false when the block went away */
static bool
ooo_drain(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	while (c->ooo_n && SEQ_LEQ(c->ooo[0].seq, c->rcv_nxt)) {
		struct tcp_ooo o = c->ooo[0];
		uint32_t end = o.seq + o.len;

		ooo_remove(t, c, 0, false);
		if (SEQ_GT(end, c->rcv_nxt)) {
			uint32_t skip = c->rcv_nxt - o.seq;

			deliver(t, c, o.data + skip, o.len - skip, o.buf, true);
		} else {
			t->ops.rx_unref(t->ops.ctx, o.buf);
		}
		if (o.fin && end == c->rcv_nxt)
			return process_fin(t, c);
	}
	return true;
}

/* a block that answered our SYN-ACK: ESTABLISHED and announced; false when refused */
static bool
accept_conn(struct stk_tcp *t, struct stk_tcp_conn *c, uint64_t luser)
{
	struct stk_tcp_event ev = {.type = STK_TCP_EV_ACCEPTED, .c = c, .user = luser};

	c->state = STK_TCP_ESTABLISHED;
	if (c->listener != STK_TCP_NONE) {
		t->lsn[c->listener].n_syn--;
		c->listener = STK_TCP_NONE;
	}
	t->cnt[STK_TCP_CNT_ACCEPTED]++;
	if (tcp_event(t, c, &ev) != 0) {
		c->flags |= CF_DETACHED; /* refused: the upper layer never saw it */
		tcp_conn_fail(t, c, -ECONNREFUSED, true);
		return false;
	}
	return true;
}

static void
set_snd_wnd(struct stk_tcp_conn *c, uint32_t seq, uint32_t ack, uint32_t wnd)
{
	c->snd_wnd = wnd;
	c->snd_wl1 = seq;
	c->snd_wl2 = ack;
	if (wnd > c->max_snd_wnd)
		c->max_snd_wnd = wnd;
}

static void
listen_input(struct stk_tcp *t, struct stk_tcp_listener *l, const struct stk_tcp_seg *s,
             const struct tcp_opts *o)
{
	uint8_t fl = s->th->flags;
	uint32_t seq = stk_ntohl(s->th->seq), ack = stk_ntohl(s->th->ack);
	struct stk_tcp_conn *c;

	if (fl & STK_TCP_RST) {
		t->cnt[STK_TCP_CNT_DROP_RST_BAD]++;
		return;
	}
	if (fl & STK_TCP_ACK) {
		struct tcp_opts co = *o;

		if ((fl & STK_TCP_SYN) || t->cfg.no_cookies) {
			t->cnt[STK_TCP_CNT_DROP_LISTEN_BAD]++;
			tcp_send_rst_for(t, s);
			return;
		}
		if (tcp_cookie_check(t, s, ack - 1, seq - 1, &co) < 0) {
			t->cnt[STK_TCP_CNT_DROP_COOKIE_BAD]++;
			/* A cookie is checked against SEG.SEQ - 1 as the peer's ISN, so a data
			 * segment of a cookie connection that overtook the first one fails: drop it
			 * quietly (the first one will come). A pure ACK gets the RST of RFC 9293.
			 */
			if (!s->pay_len && !(fl & STK_TCP_FIN))
				tcp_send_rst_for(t, s);
			return;
		}
		c = tcp_conn_new(t, s->dst_ip, s->dport, s->src_ip, s->sport, l->tenant);
		if (!c) {
			tcp_send_rst_for(t, s); /* the peer believes it is connected */
			return;
		}
		c->flags |= CF_PASSIVE;
		c->user = l->user;
		c->iss = ack - 1;
		c->snd_una = c->snd_nxt = c->snd_max = ack;
		c->snd_end = c->sq_seq = ack;
		c->irs = seq - 1;
		c->rcv_nxt = c->last_ack_sent = seq;
		co.has_ts = o->has_ts;
		co.tsval = o->tsval;
		tcp_conn_apply_syn_opts(t, c, &co);
		c->rcv_adv = seq + (t->cfg.rcv_buf > 65535 ? 65535 : t->cfg.rcv_buf);
		set_snd_wnd(c, seq - 1, ack, (uint32_t)stk_ntohs(s->th->win) << c->snd_wscale);
		c->recover = c->snd_una;
		t->cnt[STK_TCP_CNT_COOKIE_OK]++;
		if (!accept_conn(t, c, l->user))
			return;
		/* whatever else the ACK carries (data, FIN) goes the usual way */
		c->state = STK_TCP_ESTABLISHED;
		tcp_established_input(t, c, s, o);
		return;
	}
	if (!(fl & STK_TCP_SYN)) {
		t->cnt[STK_TCP_CNT_DROP_LISTEN_BAD]++;
		return;
	}
	if (l->n_syn >= l->backlog || t->free_head == STK_TCP_NONE) {
		uint16_t mss;
		uint32_t iss;

		if (t->cfg.no_cookies) {
			t->cnt[STK_TCP_CNT_DROP_NO_CONN]++;
			return;
		}
		if (t->tenant_used[l->tenant] >= t->tenant_max[l->tenant]) {
			t->cnt[STK_TCP_CNT_DROP_QUOTA]++;
			return;
		}
		iss = tcp_cookie_make(t, s, seq, o, &mss);
		tcp_send_synack_cookie(t, s, iss, mss, o);
		t->cnt[STK_TCP_CNT_COOKIE_SENT]++;
		return;
	}
	c = tcp_conn_new(t, s->dst_ip, s->dport, s->src_ip, s->sport, l->tenant);
	if (!c)
		return;
	c->state = STK_TCP_SYN_RECEIVED;
	c->flags |= CF_PASSIVE;
	c->listener = (uint32_t)(l - t->lsn);
	l->n_syn++;
	c->user = l->user;
	c->irs = seq;
	c->rcv_nxt = c->rcv_adv = c->last_ack_sent = seq + 1;
	tcp_conn_apply_syn_opts(t, c, o);
	set_snd_wnd(c, seq, 0, stk_ntohs(s->th->win)); /* a SYN's window is never scaled */
	tcp_send_syn(t, c);
}

static void
syn_sent_input(struct stk_tcp *t, struct stk_tcp_conn *c, const struct stk_tcp_seg *s,
               const struct tcp_opts *o)
{
	uint8_t fl = s->th->flags;
	uint32_t seq = stk_ntohl(s->th->seq), ack = stk_ntohl(s->th->ack);
	struct stk_tcp_event ev = {.type = STK_TCP_EV_CONNECTED, .c = c};

	if ((fl & STK_TCP_ACK) && (SEQ_LEQ(ack, c->iss) || SEQ_GT(ack, c->snd_max))) {
		t->cnt[STK_TCP_CNT_DROP_ACK_TOO_NEW]++;
		tcp_send_rst_for(t, s);
		return;
	}
	if (fl & STK_TCP_RST) {
		if (!(fl & STK_TCP_ACK)) {
			t->cnt[STK_TCP_CNT_DROP_RST_BAD]++;
			return;
		}
		t->cnt[STK_TCP_CNT_RST_IN]++;
		tcp_conn_fail(t, c, -ECONNREFUSED, false);
		return;
	}
	if (!(fl & STK_TCP_SYN)) {
		t->cnt[STK_TCP_CNT_DROP_NO_ACK]++;
		return;
	}
	c->irs = seq;
	c->rcv_nxt = c->rcv_adv = c->last_ack_sent = seq + 1;
	if (!o->has_ws)
		c->rcv_wscale = 0;
	tcp_conn_apply_syn_opts(t, c, o);
	set_snd_wnd(c, seq, ack, stk_ntohs(s->th->win));
	if (!(fl & STK_TCP_ACK)) { /* simultaneous open (RFC 9293 figure 7) */
		c->state = STK_TCP_SYN_RECEIVED;
		tcp_send_seg(t, c, c->iss, STK_TCP_SYN | STK_TCP_ACK, 0);
		return;
	}
	c->snd_una = ack;
	c->state = STK_TCP_ESTABLISHED;
	if ((c->flags & CF_TS) && o->tsecr)
		tcp_rtt_sample(t, c, (uint64_t)(tcp_ts_now(t) + c->ts_off - o->tsecr) * 1000000u);
	else if (!c->retries)
		tcp_rtt_sample(t, c, t->now - c->rtt_start);
	c->retries = 0;
	c->t_rtx = 0;
	c->recover = c->snd_una;
	t->cnt[STK_TCP_CNT_CONNECTED]++;
	ev.user = c->user;
	tcp_event(t, c, &ev);
	tcp_send_ack(t, c);
	tcp_output(t, c);
	tcp_timer_update(t, c);
}

/* RFC 9293 3.10.7.4 first check: is any of the segment inside the receive window? */
static bool
seq_acceptable(const struct stk_tcp_conn *c, uint32_t seq, uint32_t seglen)
{
	uint32_t wnd = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;

	if (!seglen)
		return wnd ? SEQ_LEQ(c->rcv_nxt, seq) && SEQ_LT(seq, c->rcv_nxt + wnd)
		           : seq == c->rcv_nxt;
	if (!wnd)
		return false;
	return (SEQ_LEQ(c->rcv_nxt, seq) && SEQ_LT(seq, c->rcv_nxt + wnd)) ||
	       (SEQ_LEQ(c->rcv_nxt, seq + seglen - 1) &&
	        SEQ_LT(seq + seglen - 1, c->rcv_nxt + wnd));
}

static void
pop_acked(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint32_t upto = SEQ_GT(c->snd_una, c->snd_end) ? c->snd_end : c->snd_una;

	while (c->sq_n && SEQ_LEQ(c->sq_seq + c->sq[c->sq_head].len, upto)) {
		struct tcp_txref *r = &c->sq[c->sq_head];
		struct stk_tcp_event ev = {.type = STK_TCP_EV_SENT, .c = c, .user = c->user};

		ev.u.sent.cookie = r->cookie;
		ev.u.sent.len = r->len;
		c->sq_seq += r->len;
		c->sq_bytes -= r->len;
		c->sq_head = (uint8_t)((c->sq_head + 1) % STK_TCP_SQ_MAX);
		c->sq_n--;
		tcp_event(t, c, &ev);
	}
}

/*
 * An RST one below RCV.NXT after the peer's FIN was taken (CLOSE-WAIT, LAST-ACK, CLOSING) resets
 * like an exact one, as Linux's tcp_reset_check() does. A peer that closed its socket answers
 * our segment with RST seq = that segment's ACK; a segment we built before its FIN arrived acks
 * the FIN's own sequence number, RCV.NXT - 1 once the FIN is in. RFC 5961 3.2 drops RSTs outside
 * the window to resist blind resets; this one value is no guess an attacker gains from (it lies
 * right below the exact one, which is as easy to hit), and ignoring it left the connection to
 * retransmit into a dead peer until max_retries RTOs.
 */
static inline bool
rst_after_fin(const struct stk_tcp_conn *c, uint32_t seq)
{
	return seq == c->rcv_nxt - 1 &&
	       (c->state == STK_TCP_CLOSE_WAIT || c->state == STK_TCP_LAST_ACK ||
	        c->state == STK_TCP_CLOSING);
}

/* RFC 9293 3.10.7.4 for every synchronized state and SYN-RECEIVED */
void
tcp_established_input(struct stk_tcp *t, struct stk_tcp_conn *c, const struct stk_tcp_seg *s,
                      const struct tcp_opts *o)
{
	uint8_t fl = s->th->flags;
	uint32_t seq = stk_ntohl(s->th->seq), ack = stk_ntohl(s->th->ack);
	uint32_t len = s->pay_len, seglen = len + !!(fl & STK_TCP_SYN) + !!(fl & STK_TCP_FIN);
	uint32_t wnd = (uint32_t)stk_ntohs(s->th->win) << c->snd_wscale;
	const uint8_t *pay = s->pay;
	bool fin = fl & STK_TCP_FIN, fin_acked = false;

	c->last_rcv = t->now;
	c->probes = 0;

	/* simultaneous open: the peer's SYN-ACK in SYN-RECEIVED acknowledges our SYN and repeats
	 * its own (RFC 9293 figure 8); take it as the ACK it is */
	if (c->state == STK_TCP_SYN_RECEIVED && !(c->flags & CF_PASSIVE) &&
	    (fl & (STK_TCP_SYN | STK_TCP_ACK | STK_TCP_RST)) == (STK_TCP_SYN | STK_TCP_ACK) &&
	    seq + 1 == c->rcv_nxt && ack == c->snd_nxt && !len) {
		fl &= (uint8_t)~STK_TCP_SYN;
		seq++;
		seglen = 0;
	}

	/* PAWS (RFC 7323 5.3) */
	if ((c->flags & CF_TS) && o->has_ts && !(fl & STK_TCP_RST) &&
	    SEQ_LT(o->tsval, c->ts_recent)) {
		t->cnt[STK_TCP_CNT_DROP_PAWS]++;
		tcp_send_ack(t, c);
		return;
	}
	if (!seq_acceptable(c, seq, seglen) && !((fl & STK_TCP_RST) && rst_after_fin(c, seq))) {
		if (fl & STK_TCP_RST) {
			t->cnt[STK_TCP_CNT_DROP_RST_BAD]++; /* RFC 5961 3.2: silently */
			return;
		}
		if (fl & STK_TCP_SYN) {
			t->cnt[STK_TCP_CNT_DROP_SYN_BAD]++;
			if (c->state == STK_TCP_SYN_RECEIVED)
				tcp_send_ack(t, c); /* a retransmitted SYN: SYN-ACK again */
			else
				tcp_send_challenge_ack(t, c);
			return;
		}
		t->cnt[seglen && SEQ_LEQ(seq + seglen, c->rcv_nxt)
		               ? STK_TCP_CNT_DROP_DUP
		               : STK_TCP_CNT_DROP_OUT_OF_WINDOW]++;
		if (c->state == STK_TCP_TIME_WAIT && fin) {
			c->t_end = t->now + t->cfg.time_wait_ns; /* a retransmitted FIN */
			tcp_timer_update(t, c);
		}
		/* a pure ACK out of window is answered at most every 500 ms per connection: two
		 * ends that disagree about the window must not ping-pong ACKs forever */
		if (!seglen) {
			if (c->oow_ack_ns && t->now - c->oow_ack_ns < 500 * 1000000ull) {
				t->cnt[STK_TCP_CNT_OOW_LIMITED]++;
				return;
			}
			c->oow_ack_ns = t->now;
		}
		tcp_send_ack(t, c);
		return;
	}
	if (fl & STK_TCP_RST) {
		/* RFC 5961 3.2: in window but not exact */
		if (seq != c->rcv_nxt && !rst_after_fin(c, seq)) {
			tcp_send_challenge_ack(t, c);
			return;
		}
		t->cnt[STK_TCP_CNT_RST_IN]++;
		if (c->state == STK_TCP_TIME_WAIT) {
			tcp_conn_free(t, c);
			return;
		}
		tcp_conn_fail(t, c,
		              c->state == STK_TCP_SYN_RECEIVED && !(c->flags & CF_PASSIVE)
		                      ? -ECONNREFUSED
		                      : -ECONNRESET,
		              false);
		return;
	}
	if (fl & STK_TCP_SYN) { /* RFC 5961 4.2 */
		t->cnt[STK_TCP_CNT_DROP_SYN_BAD]++;
		tcp_send_challenge_ack(t, c);
		return;
	}
	if (!(fl & STK_TCP_ACK)) {
		t->cnt[STK_TCP_CNT_DROP_NO_ACK]++;
		return;
	}
	if (c->state == STK_TCP_SYN_RECEIVED) {
		if (!SEQ_LT(c->snd_una, ack) || SEQ_GT(ack, c->snd_max)) {
			t->cnt[STK_TCP_CNT_DROP_ACK_TOO_NEW]++;
			tcp_send_rst_for(t, s);
			return;
		}
		c->snd_una = ack;
		c->retries = 0;
		c->t_rtx = 0;
		c->recover = ack;
		set_snd_wnd(c, seq, ack, wnd);
		if ((c->flags & CF_TS) && o->tsecr)
			tcp_rtt_sample(t, c,
			               (uint64_t)(tcp_ts_now(t) + c->ts_off - o->tsecr) * 1000000u);
		if (c->flags & CF_PASSIVE) {
			if (!accept_conn(t, c, c->user))
				return;
		} else {
			struct stk_tcp_event ev = {
			        .type = STK_TCP_EV_CONNECTED, .c = c, .user = c->user};

			c->state = STK_TCP_ESTABLISHED;
			t->cnt[STK_TCP_CNT_CONNECTED]++;
			tcp_event(t, c, &ev);
		}
	}
	/* RFC 5961 5.2 / RFC 9293: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.MAX] */
	if (SEQ_GT(ack, c->snd_max)) {
		t->cnt[STK_TCP_CNT_DROP_ACK_TOO_NEW]++;
		tcp_send_ack(t, c);
		return;
	}
	if (SEQ_LT(ack, c->snd_una - c->max_snd_wnd)) {
		t->cnt[STK_TCP_CNT_DROP_ACK_TOO_OLD]++;
		tcp_send_challenge_ack(t, c);
		return;
	}
	/* RFC 7323 4.3: TS.Recent from a segment covering Last.ACK.sent */
	if ((c->flags & CF_TS) && o->has_ts && SEQ_LEQ(seq, c->last_ack_sent) &&
	    SEQ_GEQ(o->tsval, c->ts_recent))
		c->ts_recent = o->tsval;
	if (SEQ_GT(ack, c->snd_nxt))
		c->snd_nxt = ack;
	if (SEQ_GT(ack, c->snd_una)) {
		uint32_t acked = ack - c->snd_una;

		if ((c->flags & CF_TS) && o->tsecr)
			tcp_rtt_sample(t, c,
			               (uint64_t)(tcp_ts_now(t) + c->ts_off - o->tsecr) * 1000000u);
		else if ((c->flags & CF_RTT) && SEQ_GT(ack, c->rtt_seq)) {
			c->flags &= ~CF_RTT;
			tcp_rtt_sample(t, c, t->now - c->rtt_start);
		}
		c->retries = 0;
		c->snd_una = ack;
		pop_acked(t, c);
		if (c->flags & CF_SACK)
			tcp_sack_update(c, o);
		tcp_cc_newack(t, c, acked);
		if (c->flags & CF_SACK)
			tcp_cc_sack_check(t, c);
		c->flags &= ~CF_PERSIST;
		if (c->snd_una == c->snd_max)
			c->t_rtx = 0;
		else if (!(c->flags & CF_RECOVERY) || !c->t_rtx)
			tcp_rearm_rtx(t, c);
		fin_acked = (c->flags & CF_FIN_Q) && SEQ_GT(c->snd_una, c->snd_end);
	} else if (ack == c->snd_una && c->snd_max != c->snd_una) {
		/* SACK blocks count on every acceptable ACK: in a bidirectional stream the
		 * peer's ACKs ride on its data and would otherwise never start recovery */
		bool grew = (c->flags & CF_SACK) && tcp_sack_update(c, o);

		if (grew || (!len && !fin && wnd == c->snd_wnd)) {
			t->cnt[STK_TCP_CNT_DUP_ACK_IN]++;
			tcp_cc_dupack(t, c);
		}
	}
	if (wnd == 0 && ack == c->snd_una)
		c->retries = 0; /* a live peer answering probes of its closed window */
	if (SEQ_LT(c->snd_wl1, seq) || (c->snd_wl1 == seq && SEQ_LEQ(c->snd_wl2, ack)))
		set_snd_wnd(c, seq, ack, wnd);

	switch (c->state) {
	case STK_TCP_FIN_WAIT_1:
		if (fin_acked) {
			c->state = STK_TCP_FIN_WAIT_2;
			c->t_end = t->now + t->cfg.fin_wait2_ns;
		}
		break;
	case STK_TCP_FIN_WAIT_2:
		/* an idle limit, not an absolute one: a half-closed peer may send for long */
		c->t_end = t->now + t->cfg.fin_wait2_ns;
		break;
	case STK_TCP_CLOSING:
		if (fin_acked) {
			tcp_enter_time_wait(t, c);
			return;
		}
		break;
	case STK_TCP_LAST_ACK:
		if (fin_acked) {
			tcp_conn_detach(t, c, 0);
			tcp_conn_free(t, c);
			return;
		}
		break;
	default:
		break;
	}

	/* segment text */
	if (len || fin) {
		if (c->state != STK_TCP_ESTABLISHED && c->state != STK_TCP_FIN_WAIT_1 &&
		    c->state != STK_TCP_FIN_WAIT_2) {
			if (len)
				t->cnt[STK_TCP_CNT_DROP_DATA_AFTER_FIN]++;
			c->flags |= CF_ACK_NOW;
			len = 0;
			fin = false;
		}
		if (SEQ_LT(seq, c->rcv_nxt)) { /* overlap with what we have: trim the front */
			uint32_t skip = c->rcv_nxt - seq;

			if (skip > len) {
				skip = len;
			}
			pay += skip;
			len -= skip;
			seq += skip;
			if (!len && !fin)
				c->flags |= CF_ACK_NOW;
		}
		if (len && SEQ_GT(seq + len, c->rcv_adv)) { /* beyond the window: cut */
			len = SEQ_GT(c->rcv_adv, seq) ? c->rcv_adv - seq : 0;
			fin = false;
			c->flags |= CF_ACK_NOW;
		}
		if (seq == c->rcv_nxt) {
			bool had_ooo = c->ooo_n;

			if (len) {
				deliver(t, c, pay, len, s->buf, false);
				c->ack_segs++;
			}
			if (fin && !process_fin(t, c))
				return;
			if (had_ooo) {
				c->flags |= CF_ACK_NOW; /* a hole filled: tell the sender now */
				if (!ooo_drain(t, c))
					return;
			}
		} else {
			if (len)
				ooo_insert(t, c, seq, pay, len, s->buf, fin);
			c->flags |= CF_ACK_NOW; /* RFC 5681 4.2: duplicate ACK at once */
		}
	}

	tcp_output(t, c);
	if ((c->flags & CF_ACK_NOW) || c->ack_segs >= 2)
		tcp_send_ack(t, c);
	else if (c->ack_segs && !c->t_delack)
		c->t_delack = t->now + t->cfg.delack_ns;
	if ((c->flags & CF_KEEPALIVE) && !c->t_keep)
		c->t_keep = t->now + t->cfg.keep_idle_ns;
	tcp_timer_update(t, c);
}

/* RFC 6191: a SYN may take over a TIME-WAIT block when it is clearly newer */
static bool
tw_reusable(const struct stk_tcp_conn *c, uint32_t seq, const struct tcp_opts *o)
{
	if ((c->flags & CF_TS) && o->has_ts)
		return SEQ_GT(o->tsval, c->ts_recent);
	return SEQ_GT(seq, c->rcv_nxt);
}

enum stk_tcp_in
stk_tcp_seg_input(struct stk_tcp *t, const struct stk_tcp_seg *s)
{
	uint8_t fl = s->th->flags;
	struct stk_tcp_conn *c;
	struct stk_tcp_listener *l;
	struct tcp_opts o;

	t->cnt[STK_TCP_CNT_SEG_IN]++;
	if (stk_unlikely(((fl & STK_TCP_SYN) && (fl & (STK_TCP_RST | STK_TCP_FIN))) ||
	                 !(fl & (STK_TCP_SYN | STK_TCP_ACK | STK_TCP_RST)))) {
		t->cnt[STK_TCP_CNT_DROP_BAD_FLAGS]++;
		return STK_TCP_IN_DONE;
	}
	if (stk_unlikely(s->th_len < STK_TCP_HLEN || parse_opts(s, &o) < 0)) {
		t->cnt[STK_TCP_CNT_DROP_BAD_OPT]++;
		return STK_TCP_IN_DONE;
	}
	c = tcp_conn_lookup(t, s->dst_ip, s->dport, s->src_ip, s->sport);
	if (c && c->state == STK_TCP_TIME_WAIT && (fl & STK_TCP_SYN) && !(fl & STK_TCP_ACK) &&
	    tw_reusable(c, stk_ntohl(s->th->seq), &o)) {
		t->cnt[STK_TCP_CNT_TIME_WAIT_REUSE]++;
		tcp_conn_free(t, c);
		c = NULL;
	}
	if (!c) {
		l = tcp_listener_lookup(t, s->dst_ip, s->dport);
		if (!l)
			return STK_TCP_IN_NO_PORT;
		listen_input(t, l, s, &o);
		return STK_TCP_IN_DONE;
	}
	if (c->state == STK_TCP_SYN_SENT)
		syn_sent_input(t, c, s, &o);
	else
		tcp_established_input(t, c, s, &o);
	return STK_TCP_IN_DONE;
}
