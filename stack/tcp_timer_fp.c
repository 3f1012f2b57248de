/* tcp_timer_fp.c - the per-worker timer wheel and what each TCP timer does when it fires. */
#include "tcp_priv.h"

/*
 * A hashed wheel (Varghese & Lauck, scheme 6): 4096 slots of tick_ns; a connection sits in at
 * most one slot, filed under its earliest deadline (retransmission/persist, delayed ACK,
 * keepalive, end-of-state). Deadlines beyond one turn stay in their slot and are skipped until
 * due. The caller turns the wheel with stk_tcp_advance; nothing here reads a clock.
 */

static uint64_t
next_due(const struct stk_tcp_conn *c)
{
	uint64_t d = 0;
	const uint64_t v[4] = {c->t_rtx, c->t_delack, (c->flags & CF_KEEPALIVE) ? c->t_keep : 0,
	                       c->t_end};

	for (int i = 0; i < 4; i++)
		if (v[i] && (!d || v[i] < d))
			d = v[i];
	return d;
}

static void
unlink_conn(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->tprev != STK_TCP_NONE)
		t->conns[c->tprev].tnext = c->tnext;
	else
		t->wheel[c->tslot] = c->tnext;
	if (c->tnext != STK_TCP_NONE)
		t->conns[c->tnext].tprev = c->tprev;
	c->tslot = STK_TCP_NONE;
}

static void
link_conn(struct stk_tcp *t, struct stk_tcp_conn *c, uint64_t due)
{
	uint64_t tick = due / t->cfg.tick_ns;
	uint32_t s;

	if (tick < t->wtick)
		tick = t->wtick;
	s = (uint32_t)(tick & t->wmask);
	c->tslot = s;
	c->tdue = due;
	c->tprev = STK_TCP_NONE;
	c->tnext = t->wheel[s];
	if (c->tnext != STK_TCP_NONE)
		t->conns[c->tnext].tprev = c->idx;
	t->wheel[s] = c->idx;
}

void
tcp_timer_remove(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->tslot != STK_TCP_NONE)
		unlink_conn(t, c);
}

void
tcp_timer_update(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint64_t due = next_due(c);

	if (c->tslot != STK_TCP_NONE) {
		if (due == c->tdue)
			return;
		unlink_conn(t, c);
	}
	if (due)
		link_conn(t, c, due);
}

void
tcp_rearm_rtx(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	c->t_rtx = t->now + c->rto_ns;
	tcp_timer_update(t, c);
}

static void
backoff(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	c->rto_ns *= 2;
	if (c->rto_ns > t->cfg.rto_max_ns)
		c->rto_ns = t->cfg.rto_max_ns;
}

/* retransmission timeout (RFC 6298 5.4-5.7) or persist (zero-window probe); false when freed */
static bool
rtx_fire(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->state == STK_TCP_SYN_SENT || c->state == STK_TCP_SYN_RECEIVED) {
		if (++c->retries > t->cfg.syn_retries) {
			tcp_conn_fail(t, c, -ETIMEDOUT, false);
			return false;
		}
		backoff(t, c);
		tcp_send_syn(t, c);
		tcp_rearm_rtx(t, c);
		return true;
	}
	if (c->flags & CF_PERSIST) {
		int n;

		c->flags &= ~CF_PERSIST;
		if (c->snd_wnd || c->snd_nxt != c->snd_una || !SEQ_LT(c->snd_nxt, c->snd_end)) {
			tcp_output(t, c);
			return true;
		}
		/* RFC 9293 3.8.6.1: one byte beyond the closed window; it is then in flight and
		 * retransmitted on RTO like any other byte until the window opens */
		n = tcp_send_seg(t, c, c->snd_nxt, STK_TCP_ACK, 1);
		if (n > 0) {
			c->snd_nxt += (uint32_t)n;
			c->snd_max = seq_max(c->snd_max, c->snd_nxt);
			t->cnt[STK_TCP_CNT_WINDOW_PROBE]++;
		}
		backoff(t, c);
		tcp_rearm_rtx(t, c);
		return true;
	}
	if (c->snd_una == c->snd_max)
		return true; /* nothing outstanding */
	if (++c->retries > t->cfg.max_retries) {
		tcp_conn_fail(t, c, -ETIMEDOUT, true);
		return false;
	}
	if (c->snd_wnd == 0)
		t->cnt[STK_TCP_CNT_WINDOW_PROBE]++;
	else
		t->cnt[STK_TCP_CNT_RTO]++;
	tcp_cc_rto(c);
	backoff(t, c);
	c->snd_nxt = c->snd_una; /* go back N; ACKs above snd_nxt move it forward again */
	c->flags &= ~CF_RTT;
	if (c->snd_wnd == 0) {
		/* probe again with the first outstanding byte (or the FIN) */
		uint32_t len = SEQ_LT(c->snd_una, c->snd_end) ? 1 : 0;
		uint8_t fl = STK_TCP_ACK | (len ? 0 : STK_TCP_FIN);
		int n = tcp_send_seg(t, c, c->snd_una, fl, len);

		if (n >= 0)
			c->snd_nxt = c->snd_una + (uint32_t)n + (len ? 0 : 1);
	} else {
		tcp_output(t, c);
	}
	tcp_rearm_rtx(t, c);
	return true;
}

/* keepalive (RFC 9293 3.8.4): an ACK carrying SND.UNA - 1; false when freed */
static bool
keep_fire(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->state == STK_TCP_SYN_SENT || c->state == STK_TCP_SYN_RECEIVED) {
		/* not open yet (the handshake has its own retries): look again an idle time later,
		 * since an active open that completes on a SYN-ACK may see no other segment */
		c->t_keep = t->now + t->cfg.keep_idle_ns;
		return true;
	}
	if (c->state != STK_TCP_ESTABLISHED && c->state != STK_TCP_CLOSE_WAIT) {
		c->t_keep = 0;
		return true;
	}
	if (c->last_rcv + t->cfg.keep_idle_ns > t->now && !c->probes) {
		c->t_keep = c->last_rcv + t->cfg.keep_idle_ns;
		return true;
	}
	if (c->probes >= t->cfg.keep_cnt) {
		tcp_conn_fail(t, c, -ETIMEDOUT, true);
		return false;
	}
	c->probes++;
	t->cnt[STK_TCP_CNT_KEEPALIVE_OUT]++;
	tcp_send_seg(t, c, c->snd_una - 1, STK_TCP_ACK, 0);
	c->t_keep = t->now + t->cfg.keep_intvl_ns;
	return true;
}

static void
fire(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint64_t now = t->now;

	if (c->t_end && c->t_end <= now) {
		c->t_end = 0;
		if (c->state == STK_TCP_TIME_WAIT) {
			tcp_conn_free(t, c);
			return;
		}
		if (c->state == STK_TCP_FIN_WAIT_2) {
			tcp_conn_fail(t, c, -ETIMEDOUT, true);
			return;
		}
	}
	if (c->t_delack && c->t_delack <= now) {
		c->t_delack = 0;
		tcp_send_ack(t, c);
	}
	if (c->t_rtx && c->t_rtx <= now) {
		c->t_rtx = 0;
		if (!rtx_fire(t, c))
			return;
	}
	if ((c->flags & CF_KEEPALIVE) && c->t_keep && c->t_keep <= now && !keep_fire(t, c))
		return;
	tcp_timer_update(t, c);
}

void
stk_tcp_advance(struct stk_tcp *t, uint64_t now_ns)
{
	uint64_t target = now_ns / t->cfg.tick_ns;
	uint32_t turns = 0;

	if (now_ns > t->now)
		t->now = now_ns;
	while (t->wtick <= target && turns <= t->wmask) {
		uint32_t s = (uint32_t)(t->wtick & t->wmask);
		uint32_t i = t->wheel[s];

		t->wtick++; /* anything re-armed while this slot runs lands in a later one */
		t->wheel[s] = STK_TCP_NONE;
		while (i != STK_TCP_NONE) {
			struct stk_tcp_conn *c = &t->conns[i];

			i = c->tnext;
			c->tslot = STK_TCP_NONE;
			if (c->tdue <= t->now)
				fire(t, c);
			else
				link_conn(t, c, c->tdue);
		}
		turns++;
	}
	if (t->wtick <= target)
		t->wtick = target + 1;
}
