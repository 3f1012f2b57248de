/* tcp_cc.c - congestion control (NewReno: RFC 5681, RFC 6582) and RTO estimation (RFC 6298). */
#include "tcp_priv.h"

#define MAX_SSTHRESH 0x7fffffffu

void
tcp_cc_init(struct stk_tcp_conn *c)
{
	/* RFC 6928: IW = min(10 * MSS, max(2 * MSS, 14600)) */
	uint32_t iw =
	        10u * c->mss < 14600 ? 10u * c->mss : (14600 > 2u * c->mss ? 14600 : 2u * c->mss);
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
	c->n_sacked = 0;         /* the receiver may have reneged (RFC 2018 8) */
}

static uint32_t
sacked_bytes(const struct stk_tcp_conn *c)
{
	uint32_t b = 0;

	for (unsigned i = 0; i < c->n_sacked; i++)
		b += c->sacked[i][1] - c->sacked[i][0];
	return b;
}

/* true when the scoreboard now covers more bytes than before */
bool
tcp_sack_update(struct stk_tcp_conn *c, const struct tcp_opts *o)
{
	unsigned i, j, n = 0;
	uint32_t before;

	/* drop or clip what the cumulative ACK covers */
	for (i = 0; i < c->n_sacked; i++) {
		if (SEQ_LEQ(c->sacked[i][1], c->snd_una))
			continue;
		c->sacked[n][0] =
		        SEQ_LT(c->sacked[i][0], c->snd_una) ? c->snd_una : c->sacked[i][0];
		c->sacked[n][1] = c->sacked[i][1];
		n++;
	}
	c->n_sacked = (uint8_t)n;
	before = sacked_bytes(c);
	for (i = 0; i < o->n_sack; i++) {
		uint32_t s = o->sack[i][0], e = o->sack[i][1];

		/* RFC 2018: only blocks above SND.UNA and within what was sent */
		if (!SEQ_LT(s, e) || SEQ_LEQ(e, c->snd_una) || SEQ_GT(e, c->snd_max))
			continue;
		if (SEQ_LT(s, c->snd_una))
			s = c->snd_una;
		/* merge with every range it touches, then insert in order */
		for (j = 0; j < c->n_sacked;) {
			if (SEQ_LEQ(c->sacked[j][0], e) && SEQ_LEQ(s, c->sacked[j][1])) {
				if (SEQ_LT(c->sacked[j][0], s))
					s = c->sacked[j][0];
				if (SEQ_GT(c->sacked[j][1], e))
					e = c->sacked[j][1];
				memmove(&c->sacked[j], &c->sacked[j + 1],
				        (c->n_sacked - j - 1) * sizeof(c->sacked[0]));
				c->n_sacked--;
			} else {
				j++;
			}
		}
		for (j = 0; j < c->n_sacked && SEQ_LT(c->sacked[j][0], s); j++)
			;
		if (c->n_sacked == STK_TCP_SACK_MAX) {
			if (j == STK_TCP_SACK_MAX)
				continue; /* full: keep the lower ranges, they matter first */
			c->n_sacked--;
		}
		memmove(&c->sacked[j + 1], &c->sacked[j], (c->n_sacked - j) * sizeof(c->sacked[0]));
		c->sacked[j][0] = s;
		c->sacked[j][1] = e;
		c->n_sacked++;
	}
	return sacked_bytes(c) > before;
}

/* RFC 6675-style: retransmit the first hole at or above rtx_hi that lies below SACKed data;
 * false when there is none */
static bool
retransmit_hole(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint32_t h = SEQ_GT(c->rtx_hi, c->snd_una) ? c->rtx_hi : c->snd_una, len;
	unsigned i;

	for (i = 0; i < c->n_sacked; i++) {
		if (SEQ_LT(h, c->sacked[i][0]))
			break;
		if (SEQ_LT(h, c->sacked[i][1]))
			h = c->sacked[i][1];
	}
	if (i == c->n_sacked)
		return false; /* nothing SACKed above h: no evidence of loss */
	len = c->sacked[i][0] - h;
	if (len > c->mss)
		len = c->mss;
	if (SEQ_GT(h + len, c->snd_end))
		len = SEQ_GT(c->snd_end, h) ? c->snd_end - h : 0;
	if (!len || tcp_send_seg(t, c, h, STK_TCP_ACK, len) <= 0)
		return false;
	c->rtx_hi = h + len;
	return true;
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
	if (!(c->flags & CF_SACK) || !retransmit_hole(t, c))
		if (!SEQ_LT(c->snd_una, c->rtx_hi) || !(c->flags & CF_SACK)) {
			retransmit_first(t, c);
			c->rtx_hi = seq_max(c->rtx_hi, c->snd_una + c->mss);
		}
	c->cwnd = acked < c->cwnd ? c->cwnd - acked + c->mss : c->mss;
	tcp_rearm_rtx(t, c);
}

/* RFC 6675 IsLost(SND.UNA): more than (DupThresh - 1) * SMSS bytes SACKed above it */
static bool
una_lost(const struct stk_tcp_conn *c)
{
	return (c->flags & CF_SACK) && sacked_bytes(c) > 2u * c->mss;
}

static void
enter_recovery(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	c->ssthresh = half_flight(c);
	c->recover = c->snd_max;
	c->flags |= CF_RECOVERY;
	t->cnt[STK_TCP_CNT_FAST_RETRANS]++;
	retransmit_first(t, c);
	c->rtx_hi = c->snd_una + c->mss;
	c->cwnd = c->ssthresh + 3u * c->mss;
	tcp_rearm_rtx(t, c);
	tcp_output(t, c);
}

/* a duplicate ACK (RFC 5681 3.2, RFC 6582 3.2 steps 1, 2 and 5); with SACK, any ACK at
 * SND.UNA that grew the scoreboard, data-carrying or not (RFC 6675 2) */
void
tcp_cc_dupack(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->flags & CF_RECOVERY) {
		/* each duplicate ACK says a segment left the network: send one (a hole the
		 * scoreboard shows first, else new data) */
		c->cwnd += c->mss;
		if (!(c->flags & CF_SACK) || !retransmit_hole(t, c))
			tcp_output(t, c);
		return;
	}
	if (c->dupacks < 255)
		c->dupacks++;
	if (c->dupacks != 3 && !una_lost(c))
		return;
	if (SEQ_LT(c->snd_una, c->recover))
		return; /* RFC 6582 4.1: still inside a window that was already recovered */
	enter_recovery(t, c);
}

/* after a new ACK outside recovery: the SACK scoreboard may already show SND.UNA lost
 * (RFC 6675 5, the ACK moved but a hole above it remains) */
void
tcp_cc_sack_check(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (!(c->flags & CF_RECOVERY) && c->snd_una != c->snd_max && una_lost(c) &&
	    !SEQ_LT(c->snd_una, c->recover))
		enter_recovery(t, c);
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
