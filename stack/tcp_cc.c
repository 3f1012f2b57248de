/* tcp_cc.c - congestion control (NewReno: RFC 5681, RFC 6582) and RTO estimation (RFC 6298). */
#include "tcp_priv.h"

#define MAX_SSTHRESH 0x7fffffffu

void
tcp_cc_init(struct stk_tcp_conn *c)
{
	/* RFC 6928: IW = min(10 * MSS, max(2 * MSS, 14600)) */
	uint32_t iw = 10u * c->mss < 14600 ? 10u * c->mss : (14600 > 2u * c->mss ? 14600 : 2u * c->mss);
	c->cwnd = iw;
	c->ssthresh = MAX_SSTHRESH;
	c->recover = c->iss;
}

static uint32_t
half_flight(const struct stk_tcp_conn *c)
{
	uint32_t f = (c->snd_max - c->snd_una) / 2;

	return f > 2u * c->mss ? f : 2u * c->mss;
}

/* congestion avoidance / slow start on a new ACK outside recovery (RFC 5681 3.1, ABC L=2) */
void
tcp_cc_ack(struct stk_tcp_conn *c, uint32_t acked)
{
	if (c->cwnd < c->ssthresh) {
		c->cwnd += acked < 2u * c->mss ? acked : 2u * c->mss;
	} else {
		uint32_t inc = (uint32_t)((uint64_t)c->mss * c->mss / c->cwnd);

		c->cwnd += inc ? inc : 1;
	}
	if (c->cwnd > (1u << 30))
		c->cwnd = 1u << 30;
}

void
tcp_cc_rto(struct stk_tcp_conn *c)
{
	c->ssthresh = half_flight(c);
	c->cwnd = c->mss;
	c->dupacks = 0;
	c->flags &= ~CF_RECOVERY;
	c->recover = c->snd_max; /* RFC 6582 4.1 + RFC 5681: no fast retransmit for old data */
}

static void
retransmit_first(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint32_t left = (SEQ_LT(c->snd_una, c->snd_end) ? c->snd_end - c->snd_una : 0);
	uint32_t len = left < c->mss ? left : c->mss;
	uint8_t fl = STK_TCP_ACK;

	if (len == left && (c->flags & CF_FIN_Q) && SEQ_GT(c->snd_max, c->snd_end))
		fl |= STK_TCP_FIN;
	if (len || (fl & STK_TCP_FIN))
		tcp_send_seg(t, c, c->snd_una, fl, len);
}

/* a new ACK advanced snd_una by acked (NewReno, RFC 6582 3.2 steps 3 and 4) */
void
tcp_cc_newack(struct stk_tcp *t, struct stk_tcp_conn *c, uint32_t acked)
{
	c->dupacks = 0;
	if (!(c->flags & CF_RECOVERY)) {
		tcp_cc_ack(c, acked);
		return;
	}
	if (SEQ_GEQ(c->snd_una, c->recover)) { /* full ACK: deflate, leave recovery */
		uint32_t flight = c->snd_max - c->snd_una;

		c->cwnd = c->ssthresh < flight + c->mss ? c->ssthresh : flight + c->mss;
		c->flags &= ~CF_RECOVERY;
		return;
	}
	/* partial ACK: retransmit the next hole, deflate by what was acked, add one MSS */
	retransmit_first(t, c);
	c->cwnd = acked < c->cwnd ? c->cwnd - acked + c->mss : c->mss;
	tcp_rearm_rtx(t, c);
}

/* a duplicate ACK (RFC 5681 3.2, RFC 6582 3.2 steps 1, 2 and 5) */
void
tcp_cc_dupack(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->flags & CF_RECOVERY) {
		c->cwnd += c->mss;
		tcp_output(t, c);
		return;
	}
	if (++c->dupacks < 3)
		return;
	if (c->dupacks > 3 || SEQ_LT(c->snd_una, c->recover))
		return; /* RFC 6582 4.1: still inside a window that was already recovered */
	c->ssthresh = half_flight(c);
	c->recover = c->snd_max;
	c->flags |= CF_RECOVERY;
	t->cnt[STK_TCP_CNT_FAST_RETRANS]++;
	retransmit_first(t, c);
	c->cwnd = c->ssthresh + 3u * c->mss;
	tcp_rearm_rtx(t, c);
	tcp_output(t, c);
}

/* RFC 6298 2.2-2.4; resets any backoff */
void
tcp_rtt_sample(struct stk_tcp *t, struct stk_tcp_conn *c, uint64_t rtt_ns)
{
	uint32_t r = (uint32_t)(rtt_ns / 1000 ? rtt_ns / 1000 : 1);
	uint64_t var4, rto;

	if (rtt_ns > 120 * STK_NS_PER_S)
		return; /* implausible (a stale echo) */
	if (!c->srtt_us) {
		c->srtt_us = r;
		c->rttvar_us = r / 2;
	} else {
		uint32_t d = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;

		c->rttvar_us = (3 * c->rttvar_us + d) / 4;
		c->srtt_us = (7 * c->srtt_us + r) / 8;
	}
	var4 = 4ull * c->rttvar_us * 1000;
	if (var4 < t->cfg.tick_ns)
		var4 = t->cfg.tick_ns; /* G, the clock granularity */
	rto = (uint64_t)c->srtt_us * 1000 + var4;
	if (rto < t->cfg.rto_min_ns)
		rto = t->cfg.rto_min_ns;
	if (rto > t->cfg.rto_max_ns)
		rto = t->cfg.rto_max_ns;
	c->rto_ns = rto;
}
