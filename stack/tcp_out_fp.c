/* tcp_out_fp.c - TCP segment output: headers and options, windows, the send loop, RSTs. */
#include "tcp_priv.h"

#define HDRS (STK_ETH_HLEN + STK_IP_HLEN + STK_TCP_HLEN)

struct seg_hdr {
	uint32_t lip, rip;
	uint16_t lport, rport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opt;
	uint32_t optlen;
};

/* one's-complement sum of payload pieces of any length: a piece that starts at an odd offset
 * contributes its byte-swapped sum (RFC 1071 2(B)) */
static uint64_t
cksum_iov(uint64_t sum, const struct stk_tcp_iov *iov, unsigned n)
{
	uint32_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		uint16_t s = stk_cksum_fold(stk_cksum_add(0, iov[i].base, iov[i].len));

		if (off & 1)
			s = (uint16_t)(s << 8 | s >> 8);
		sum += s;
		off += iov[i].len;
	}
	return sum;
}

static int
emit(struct stk_tcp *t, struct stk_tcp_conn *c, const struct seg_hdr *h,
     const struct stk_tcp_iov *iov, unsigned n_iov, uint32_t pay_len)
{
	struct stk_tcp_tx tx = {.iov = iov, .n_iov = n_iov, .pay_len = pay_len, .c = c};
	struct stk_eth_hdr *eth;
	struct stk_ipv4_hdr *ip;
	struct stk_tcp_hdr *th;
	uint32_t thl = STK_TCP_HLEN + h->optlen;
	uint64_t sum;

	tx.pkt = t->ops.tx_alloc(t->ops.ctx, &tx.frame);
	if (stk_unlikely(!tx.pkt)) {
		t->cnt[STK_TCP_CNT_DROP_NO_TXBUF]++;
		return -ENOBUFS;
	}
	eth = (struct stk_eth_hdr *)tx.frame;
	ip = (struct stk_ipv4_hdr *)(eth + 1);
	th = (struct stk_tcp_hdr *)(ip + 1);
	memset(eth->dst, 0, STK_ETH_ALEN); /* filled when the next hop resolves */
	memcpy(eth->src, t->lc->ifc->mac, STK_ETH_ALEN);
	eth->type = stk_htons(STK_ETH_P_IPV4);

	ip->ver_ihl = STK_IP_VER_IHL;
	ip->tos = 0;
	ip->tot_len = stk_htons((uint16_t)(STK_IP_HLEN + thl + pay_len));
	ip->id = stk_htons(t->lc->ip_id++);
	ip->frag_off = stk_htons(STK_IP_DF);
	ip->ttl = STK_IP_DEFTTL;
	ip->proto = STK_IPPROTO_TCP;
	ip->cksum = 0;
	ip->src = stk_htonl(h->lip);
	ip->dst = stk_htonl(h->rip);

	th->sport = stk_htons(h->lport);
	th->dport = stk_htons(h->rport);
	th->seq = stk_htonl(h->seq);
	th->ack = stk_htonl(h->ack);
	th->doff = (uint8_t)((thl / 4) << 4);
	th->flags = h->flags;
	th->win = stk_htons(h->win);
	th->cksum = 0;
	th->urp = 0;
	if (h->optlen)
		memcpy(th + 1, h->opt, h->optlen);
	sum = stk_cksum_pseudo(ip->src, ip->dst, STK_IPPROTO_TCP, (uint16_t)(thl + pay_len));
	tx.flags = 0;
	if (t->cfg.tx_cksum_offload) {
		th->cksum = stk_cksum_fold(sum); /* what the NIC expects to start from */
		tx.flags |= STK_BUF_TX_TCPCK;
	} else {
		sum = stk_cksum_add(sum, th, thl); /* thl is a multiple of 4 */
		sum = cksum_iov(sum, iov, n_iov);
		th->cksum = (uint16_t)~stk_cksum_fold(sum);
	}

	if (t->lc->ifc->tx_ipck_offload)
		tx.flags |= STK_BUF_TX_IPCK;
	else
		ip->cksum = stk_cksum(ip, STK_IP_HLEN);
	tx.hdr_len = HDRS + h->optlen;
	tx.dst_ip = h->rip;
	t->cnt[STK_TCP_CNT_SEG_OUT]++;
	t->ops.tx_send(t->ops.ctx, &tx);
	return 0;
}

static uint8_t *
put_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
	*p++ = TCPOPT_TS;
	*p++ = 10;
	tsval = stk_htonl(tsval);
	tsecr = stk_htonl(tsecr);
	memcpy(p, &tsval, 4);
	memcpy(p + 4, &tsecr, 4);
	return p + 8;
}

/* SYN options in Linux's order: MSS, SACK-permitted, TS, NOP, WS (each group 4-aligned) */
static uint32_t
syn_opts(uint8_t *o, uint16_t mss, bool sack, bool ts, uint32_t tsval, uint32_t tsecr, bool ws,
         uint8_t wscale)
{
	uint8_t *p = o;

	*p++ = TCPOPT_MSS;
	*p++ = 4;
	*p++ = (uint8_t)(mss >> 8);
	*p++ = (uint8_t)mss;
	if (ts) {
		if (sack) {
			*p++ = TCPOPT_SACK_PERM;
			*p++ = 2;
		} else {
			*p++ = TCPOPT_NOP;
			*p++ = TCPOPT_NOP;
		}
		p = put_ts(p, tsval, tsecr);
	} else if (sack) {
		*p++ = TCPOPT_NOP;
		*p++ = TCPOPT_NOP;
		*p++ = TCPOPT_SACK_PERM;
		*p++ = 2;
	}
	if (ws) {
		*p++ = TCPOPT_NOP;
		*p++ = TCPOPT_WS;
		*p++ = 3;
		*p++ = wscale;
	}
	return (uint32_t)(p - o);
}

/* SACK blocks from the out-of-order queue: contiguous entries merged, the run holding the most
 * recently queued segment first (RFC 2018 4) */
static uint8_t *
put_sack(uint8_t *p, const struct stk_tcp_conn *c, unsigned max)
{
	uint32_t runs[STK_TCP_OOO_MAX][2];
	unsigned n = 0, first = 0, i, k = 0;
	uint8_t *len;

	for (i = 0; i < c->ooo_n; i++) {
		uint32_t s = c->ooo[i].seq, e = s + c->ooo[i].len;

		if (n && runs[n - 1][1] == s)
			runs[n - 1][1] = e;
		else {
			runs[n][0] = s;
			runs[n][1] = e;
			n++;
		}
		if (i == c->ooo_last)
			first = n - 1;
	}
	*p++ = TCPOPT_NOP;
	*p++ = TCPOPT_NOP;
	*p++ = TCPOPT_SACK;
	len = p++;
	for (i = 0; i < n && k < max; i++, k++) {
		unsigned r = i == 0 ? first : (i <= first ? i - 1 : i);
		uint32_t s = stk_htonl(runs[r][0]), e = stk_htonl(runs[r][1]);

		memcpy(p, &s, 4);
		memcpy(p + 4, &e, 4);
		p += 8;
	}
	*len = (uint8_t)(2 + 8 * k);
	return p;
}

uint32_t
tcp_rcv_window(const struct stk_tcp *t, const struct stk_tcp_conn *c)
{
	uint32_t buf = t->cfg.rcv_buf;
	uint32_t avail = buf > c->rcv_unread ? buf - c->rcv_unread : 0;
	uint32_t thresh = buf / 2 < c->mss ? buf / 2 : c->mss;
	uint32_t right = c->rcv_nxt + avail;

	/* receiver SWS avoidance: no small openings, whole segments only (so a sender that only
	 * sends full segments can close the window); never shrink what was offered */
	if (avail < thresh)
		right = c->rcv_nxt;
	else if (avail > c->mss)
		right = c->rcv_nxt + (avail - avail % c->mss);
	if (SEQ_LT(right, c->rcv_adv))
		right = c->rcv_adv;
	return right - c->rcv_nxt;
}

/* window field for a non-SYN segment; updates rcv_adv */
static uint16_t
adv_window(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint32_t win = tcp_rcv_window(t, c), f;

	f = (win + (1u << c->rcv_wscale) - 1) >> c->rcv_wscale;
	if (f > 65535)
		f = 65535;
	if (SEQ_GT(c->rcv_nxt + (f << c->rcv_wscale), c->rcv_adv))
		c->rcv_adv = c->rcv_nxt + (f << c->rcv_wscale);
	return (uint16_t)f;
}

int
tcp_send_seg(struct stk_tcp *t, struct stk_tcp_conn *c, uint32_t seq, uint8_t flags, uint32_t len)
{
	struct stk_tcp_iov iov[STK_TCP_MAX_IOV];
	uint8_t opt[40], *p = opt;
	struct seg_hdr h = {.lip = c->lip,
	                    .rip = c->rip,
	                    .lport = c->lport,
	                    .rport = c->rport,
	                    .seq = seq,
	                    .flags = flags,
	                    .opt = opt};
	unsigned n = 0;
	uint32_t used = 0;
	int rc;

	if (len) {
		uint32_t off = seq - c->sq_seq;
		unsigned i = 0;

		for (; i < c->sq_n; i++) {
			const struct tcp_txref *r = &c->sq[(c->sq_head + i) % STK_TCP_SQ_MAX];

			if (off < r->len) {
				uint32_t take = r->len - off;

				if (take > len - used)
					take = len - used;
				iov[n].base = r->data + off;
				iov[n].len = take;
				n++;
				used += take;
				off = 0;
				if (used == len || n == STK_TCP_MAX_IOV)
					break;
			} else {
				off -= r->len;
			}
		}
		if (used < len)
			flags &= (uint8_t)~STK_TCP_FIN; /* the rest goes in the next segment */
		h.flags = flags;
	}
	if (flags & STK_TCP_SYN) {
		bool active = c->state == STK_TCP_SYN_SENT;
		bool ts = active ? !t->cfg.no_timestamps : (c->flags & CF_TS);
		bool sack = active ? !t->cfg.no_sack : (c->flags & CF_SACK);
		bool ws = active || (c->flags & CF_WS);

		h.optlen = syn_opts(opt, t->cfg.mss, sack, ts, tcp_ts_now(t) + c->ts_off,
		                    active ? 0 : c->ts_recent, ws, t->cfg.wscale);
		h.win = (uint16_t)(t->cfg.rcv_buf > 65535 ? 65535 : t->cfg.rcv_buf);
		if (flags & STK_TCP_ACK) {
			h.ack = c->rcv_nxt;
			c->rcv_adv = c->rcv_nxt + h.win;
		}
	} else {
		if (c->flags & CF_TS) {
			*p++ = TCPOPT_NOP;
			*p++ = TCPOPT_NOP;
			p = put_ts(p, tcp_ts_now(t) + c->ts_off, c->ts_recent);
		}
		if ((c->flags & CF_SACK) && c->ooo_n && !(flags & STK_TCP_RST))
			p = put_sack(p, c, (c->flags & CF_TS) ? 3 : 4);
		h.optlen = (uint32_t)(p - opt);
		if (flags & STK_TCP_ACK) {
			h.ack = c->rcv_nxt;
			h.win = (flags & STK_TCP_RST) ? 0 : adv_window(t, c);
		}
	}
	rc = emit(t, c, &h, iov, n, used);
	if (rc < 0)
		return rc;
	if (flags & STK_TCP_ACK) {
		c->last_ack_sent = c->rcv_nxt;
		c->ack_segs = 0;
		c->t_delack = 0;
		c->flags &= ~CF_ACK_NOW;
	}
	if (used) {
		if (SEQ_LT(seq, c->snd_max)) {
			t->cnt[STK_TCP_CNT_RETRANS_SEGS]++;
			c->flags &= ~CF_RTT; /* Karn: no RTT sample across a retransmission */
		} else {
			t->cnt[STK_TCP_CNT_BYTES_OUT] += used;
			if (!(c->flags & (CF_RTT | CF_TS))) {
				c->flags |= CF_RTT;
				c->rtt_seq = seq;
				c->rtt_start = t->now;
			}
		}
	}
	return (int)used;
}

void
tcp_send_ack(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->state == STK_TCP_SYN_RECEIVED) {
		tcp_send_seg(t, c, c->iss, STK_TCP_SYN | STK_TCP_ACK, 0);
		return;
	}
	/* SND.MAX, not SND.NXT: after a go-back-N retransmission SND.NXT can be below what the
	 * peer already holds, and a pure ACK with a sequence number below RCV.NXT is not
	 * acceptable to it (its ACK field would be ignored) - BSD does the same */
	tcp_send_seg(t, c, c->snd_max, STK_TCP_ACK, 0);
}

/* RFC 5961 7: challenge ACKs are rate-limited per engine (randomized budget per second) */
void
tcp_send_challenge_ack(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint64_t sec = t->now / STK_NS_PER_S;

	if (sec != t->chal_sec) {
		uint32_t half = t->cfg.challenge_rate / 2;

		t->rng ^= t->rng << 13;
		t->rng ^= t->rng >> 7;
		t->rng ^= t->rng << 17;
		t->chal_sec = sec;
		t->chal_left = t->cfg.challenge_rate - half + (uint32_t)(t->rng % (half + 1));
	}
	if (!t->chal_left) {
		t->cnt[STK_TCP_CNT_CHALLENGE_LIMITED]++;
		return;
	}
	t->chal_left--;
	t->cnt[STK_TCP_CNT_CHALLENGE_ACK]++;
	tcp_send_seg(t, c, c->snd_max, STK_TCP_ACK, 0);
}

void
tcp_send_syn(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint8_t fl = c->state == STK_TCP_SYN_SENT ? STK_TCP_SYN : STK_TCP_SYN | STK_TCP_ACK;

	tcp_send_seg(t, c, c->iss, fl, 0);
	c->snd_nxt = c->iss + 1;
	c->snd_max = seq_max(c->snd_max, c->snd_nxt);
	if (!c->t_rtx)
		tcp_rearm_rtx(t, c);
}

void
tcp_output(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	bool sent = false;

	if (c->state != STK_TCP_ESTABLISHED && c->state != STK_TCP_CLOSE_WAIT &&
	    c->state != STK_TCP_FIN_WAIT_1 && c->state != STK_TCP_CLOSING &&
	    c->state != STK_TCP_LAST_ACK)
		return;
	for (;;) {
		uint32_t wnd = c->snd_wnd < c->cwnd ? c->snd_wnd : c->cwnd;
		uint32_t flight = c->snd_nxt - c->snd_una;
		uint32_t unsent = SEQ_LT(c->snd_nxt, c->snd_end) ? c->snd_end - c->snd_nxt : 0;
		bool fin = (c->flags & CF_FIN_Q) && SEQ_LEQ(c->snd_nxt, c->snd_end);
		uint32_t usable = wnd > flight ? wnd - flight : 0;
		uint32_t len = unsent < c->mss ? unsent : c->mss;
		uint8_t fl = STK_TCP_ACK;
		int n;

		if (!unsent && !fin)
			break;
		if (len > usable)
			len = usable;
		if (unsent && !len)
			break;
		/* sender SWS avoidance (RFC 9293 3.8.6.2.1): a short segment only when it empties
		 * the queue or fills half the largest window the peer offered */
		if (len < unsent && len < c->mss && len < c->max_snd_wnd / 2)
			break;
		if (len == unsent) {
			if (len)
				fl |= STK_TCP_PSH;
			if (fin)
				fl |= STK_TCP_FIN;
		}
		n = tcp_send_seg(t, c, c->snd_nxt, fl, len);
		if (n < 0 || (len && !n))
			break;
		c->snd_nxt += (uint32_t)n;
		if ((fl & STK_TCP_FIN) && (uint32_t)n == len) {
			c->snd_nxt++;
			if (c->state == STK_TCP_ESTABLISHED)
				c->state = STK_TCP_FIN_WAIT_1;
			else if (c->state == STK_TCP_CLOSE_WAIT)
				c->state = STK_TCP_LAST_ACK;
		}
		c->snd_max = seq_max(c->snd_max, c->snd_nxt);
		sent = true;
		if (!c->t_rtx || (c->flags & CF_PERSIST)) {
			c->flags &= ~CF_PERSIST;
			tcp_rearm_rtx(t, c);
		}
	}
	/* the peer's window is shut and nothing is in flight: probe it (persist timer) */
	if (!sent && c->snd_wnd == 0 && c->snd_nxt == c->snd_una &&
	    SEQ_LT(c->snd_nxt, c->snd_end) && !c->t_rtx) {
		c->flags |= CF_PERSIST;
		tcp_rearm_rtx(t, c);
	}
}

void
tcp_send_rst_for(struct stk_tcp *t, const struct stk_tcp_seg *s)
{
	uint8_t fl = s->th->flags;
	struct seg_hdr h = {
	        .lip = s->dst_ip, .rip = s->src_ip, .lport = s->dport, .rport = s->sport};

	if ((fl & STK_TCP_RST) || s->link_bcast)
		return;
	if (fl & STK_TCP_ACK) {
		h.seq = stk_ntohl(s->th->ack);
		h.flags = STK_TCP_RST;
	} else {
		h.ack = stk_ntohl(s->th->seq) + s->pay_len + !!(fl & STK_TCP_SYN) +
		        !!(fl & STK_TCP_FIN);
		h.flags = STK_TCP_RST | STK_TCP_ACK;
	}
	if (emit(t, NULL, &h, NULL, 0, 0) == 0)
		t->cnt[STK_TCP_CNT_RST_OUT]++;
}

void
tcp_send_synack_cookie(struct stk_tcp *t, const struct stk_tcp_seg *s, uint32_t iss, uint16_t mss,
                       const struct tcp_opts *o)
{
	uint8_t opt[40];
	struct seg_hdr h = {.lip = s->dst_ip,
	                    .rip = s->src_ip,
	                    .lport = s->dport,
	                    .rport = s->sport,
	                    .seq = iss,
	                    .ack = stk_ntohl(s->th->seq) + 1,
	                    .flags = STK_TCP_SYN | STK_TCP_ACK,
	                    .opt = opt};
	bool ts = o->has_ts && !t->cfg.no_timestamps;

	h.optlen =
	        syn_opts(opt, mss, o->sack_ok && !t->cfg.no_sack, ts,
	                 tcp_ts_now(t) + tcp_ts_offset(t, s->dst_ip, s->dport, s->src_ip, s->sport),
	                 o->tsval, o->has_ws, t->cfg.wscale);
	h.win = (uint16_t)(t->cfg.rcv_buf > 65535 ? 65535 : t->cfg.rcv_buf);
	emit(t, NULL, &h, NULL, 0, 0);
}
