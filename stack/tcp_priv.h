/* tcp_priv.h - TCP engine internals: connection block, engine state, sequence math, helpers. */
#ifndef BYPASSD_STACK_TCP_PRIV_H
#define BYPASSD_STACK_TCP_PRIV_H

#include <errno.h>

#include "stk_priv.h"
#include "tcp.h"

#define STK_TCP_SQ_MAX   64 /* send references queued per connection */
#define STK_TCP_OOO_MAX  16 /* out-of-order segments held per connection */
#define STK_TCP_SACK_MAX 6  /* scoreboard ranges per connection */
#define STK_TCP_NONE     UINT32_MAX
#define STK_TCP_LHASH    256 /* listener hash heads (by port) */

#define TCPOPT_EOL       0
#define TCPOPT_NOP       1
#define TCPOPT_MSS       2
#define TCPOPT_WS        3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK      5
#define TCPOPT_TS        8

#define STK_TCP_DEF_MSS 536 /* RFC 9293 3.7.1: when the peer sends none */

/* sequence space comparisons (RFC 9293 3.4, modulo 2^32) */
#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

static inline uint32_t
seq_max(uint32_t a, uint32_t b)
{
	return SEQ_GT(a, b) ? a : b;
}

/* options parsed from a segment */
struct tcp_opts {
	uint16_t mss;
	uint8_t ws; /* valid when has_ws */
	bool has_mss, has_ws, sack_ok, has_ts;
	uint32_t tsval, tsecr;
	uint8_t n_sack;
	uint32_t sack[4][2];
};

struct tcp_txref {
	const uint8_t *data;
	uint32_t len;
	uint64_t cookie;
};

struct tcp_ooo {
	uint32_t seq, len;
	const uint8_t *data;
	void *buf;
	bool fin;
};

/* connection flags */
#define CF_TS        (1u << 0) /* timestamps negotiated */
#define CF_SACK      (1u << 1) /* SACK-permitted both ways */
#define CF_WS        (1u << 2) /* window scaling negotiated */
#define CF_FIN_Q     (1u << 3) /* the app closed: FIN after snd_end */
#define CF_FIN_RCVD  (1u << 4) /* peer's FIN processed */
#define CF_PASSIVE   (1u << 5) /* from a listener */
#define CF_RTT       (1u << 6) /* timing rtt_seq (no timestamps) */
#define CF_RECOVERY  (1u << 7) /* NewReno fast recovery */
#define CF_KEEPALIVE (1u << 8)
#define CF_DETACHED  (1u << 9)  /* the upper layer got its terminal event */
#define CF_ACK_NOW   (1u << 10) /* send an ACK at the end of input */
#define CF_PERSIST   (1u << 11) /* zero-window probing */

struct stk_tcp_conn {
	/* identity and tables */
	uint32_t lip, rip;
	uint16_t lport, rport;
	uint32_t idx, gen;
	uint32_t hnext;        /* hash chain */
	uint32_t tprev, tnext; /* timer wheel list */
	uint32_t tslot;        /* STK_TCP_NONE when off the wheel */
	uint64_t tdue;         /* deadline it is filed under */
	uint32_t listener;     /* SYN-RECEIVED: the listener index, else NONE */
	uint32_t tenant;
	uint8_t state;
	uint8_t snd_wscale, rcv_wscale;
	uint8_t dupacks;
	uint8_t retries;  /* consecutive RTOs / SYN retransmissions */
	uint8_t probes;   /* keepalive probes unanswered */
	uint8_t ack_segs; /* in-order segments not yet acknowledged */
	uint8_t sq_n, sq_head;
	uint8_t ooo_n;
	uint16_t mss; /* payload bytes per segment we send (options excluded) */
	uint32_t flags;
	uint64_t user;

	/* send sequence space */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint32_t snd_end; /* seq after the last queued byte (FIN goes here) */
	uint32_t sq_seq;  /* seq of sq[sq_head]'s first byte */
	uint32_t sq_bytes;
	struct tcp_txref sq[STK_TCP_SQ_MAX];

	/* receive sequence space */
	uint32_t irs, rcv_nxt, rcv_adv, rcv_unread, last_ack_sent;
	struct tcp_ooo ooo[STK_TCP_OOO_MAX]; /* sorted by seq, no overlaps */
	uint8_t ooo_last;                    /* most recently queued (first SACK block) */

	/* timestamps (RFC 7323) */
	uint32_t ts_recent, ts_off;

	/* RTT (RFC 6298), microseconds */
	uint32_t srtt_us, rttvar_us;
	uint64_t rto_ns;
	uint32_t rtt_seq;
	uint64_t rtt_start;

	/* congestion control (NewReno, SACK-guided retransmission in recovery) */
	uint32_t cwnd, ssthresh, recover;
	uint32_t rtx_hi;                      /* recovery: retransmitted up to here */
	uint32_t sacked[STK_TCP_SACK_MAX][2]; /* scoreboard: SACKed ranges above snd_una */
	uint8_t n_sacked;

	/* timers: absolute ns, 0 = off */
	uint64_t t_rtx, t_delack, t_keep, t_end; /* t_end: TIME-WAIT / FIN-WAIT-2 / SYN give-up */
	uint64_t last_rcv;
	uint64_t oow_ack_ns; /* last ACK sent for an out-of-window pure ACK */
};

struct stk_tcp_listener {
	uint32_t ip;
	uint16_t port;
	bool used;
	uint32_t next; /* port hash chain */
	uint32_t tenant, backlog, n_syn;
	uint64_t user;
};

struct stk_tcp {
	struct stk_tcp_cfg cfg;
	struct stk_tcp_ops ops;
	struct stk_lcore *lc;
	uint64_t now;
	uint64_t cnt[STK_TCP_CNT__MAX];

	struct stk_tcp_conn *conns;
	uint32_t free_head, n_used;
	uint32_t *htab;
	uint32_t hmask;
	struct stk_tcp_listener *lsn;
	uint32_t lhash[STK_TCP_LHASH]; /* listeners by port: chain heads */

	uint32_t *wheel;
	uint32_t wmask;
	uint64_t wtick; /* next tick to run */

	uint32_t ooo_held;
	uint32_t n_time_wait;
	uint32_t *tenant_used, *tenant_max;
	/* challenge ACK budget: per second, randomized in [rate/2, rate] each second so the
	 * shared budget is no side channel (CVE-2016-5696) */
	uint64_t chal_sec;
	uint32_t chal_left;
	uint64_t rng;
	uint64_t isn_key[2], cookie_key[2];
	uint32_t ts_base;
};

static inline struct stk_tcp_conn *
tcp_conn_at(struct stk_tcp *t, uint32_t i)
{
	return i == STK_TCP_NONE ? NULL : &t->conns[i];
}

static inline uint32_t
tcp_tuple_hash(uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
	uint64_t h = ((uint64_t)lip << 32 | rip) * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)lport << 16 | rport) * 0xc2b2ae3d27d4eb4full;
	return (uint32_t)(h ^ (h >> 29));
}

/* timestamp clock: 1 ms ticks */
static inline uint32_t
tcp_ts_now(const struct stk_tcp *t)
{
	return (uint32_t)(t->now / 1000000u);
}

/* tcp_isn.c */
uint64_t stk_tcp_siphash(const uint64_t key[2], const void *data, size_t len);
uint32_t tcp_isn(const struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip,
                 uint16_t rport);
uint32_t tcp_ts_offset(const struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip,
                       uint16_t rport);

/* tcp_cookie.c */
uint32_t tcp_cookie_make(const struct stk_tcp *t, const struct stk_tcp_seg *s, uint32_t peer_isn,
                         const struct tcp_opts *o, uint16_t *mss_out);
/* 0 and the options it carried (mss, ws, sack), or -EINVAL */
int tcp_cookie_check(const struct stk_tcp *t, const struct stk_tcp_seg *s, uint32_t cookie,
                     uint32_t peer_isn, struct tcp_opts *o);

/* tcp_conn.c */
struct stk_tcp_conn *tcp_conn_lookup(struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip,
                                     uint16_t rport);
struct stk_tcp_listener *tcp_listener_lookup(struct stk_tcp *t, uint32_t ip, uint16_t port);
/* a fresh block, hashed; NULL when the pool or the tenant's quota is exhausted (counted) */
struct stk_tcp_conn *tcp_conn_new(struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip,
                                  uint16_t rport, uint32_t tenant);
/* negotiate from the peer's SYN options (also used by cookies) */
void tcp_conn_apply_syn_opts(struct stk_tcp *t, struct stk_tcp_conn *c, const struct tcp_opts *o);
void tcp_conn_free(struct stk_tcp *t, struct stk_tcp_conn *c);
/* return pending sends (SENT with status), drop OOO references */
void tcp_conn_drain(struct stk_tcp *t, struct stk_tcp_conn *c, int status);
/* terminal event (CLOSED when reason 0, else RESET); the handle is detached */
void tcp_conn_detach(struct stk_tcp *t, struct stk_tcp_conn *c, int reason);
/* fail: drain with reason, send RST when rst, terminal event, free */
void tcp_conn_fail(struct stk_tcp *t, struct stk_tcp_conn *c, int reason, bool rst);
int tcp_event(struct stk_tcp *t, struct stk_tcp_conn *c, struct stk_tcp_event *ev);
void tcp_enter_time_wait(struct stk_tcp *t, struct stk_tcp_conn *c);

/* tcp_in_fp.c */
void tcp_established_input(struct stk_tcp *t, struct stk_tcp_conn *c, const struct stk_tcp_seg *s,
                           const struct tcp_opts *o);

/* tcp_out_fp.c */
/* one segment from the connection: seq, flags, len payload bytes from the send queue */
int tcp_send_seg(struct stk_tcp *t, struct stk_tcp_conn *c, uint32_t seq, uint8_t flags,
                 uint32_t len);
void tcp_send_ack(struct stk_tcp *t, struct stk_tcp_conn *c);
void tcp_send_challenge_ack(struct stk_tcp *t, struct stk_tcp_conn *c);
void tcp_send_syn(struct stk_tcp *t, struct stk_tcp_conn *c);
/* send what the windows allow; arms the retransmission or persist timer */
void tcp_output(struct stk_tcp *t, struct stk_tcp_conn *c);
/* stateless RST answering s (RFC 9293 3.10.7.1 rules) */
void tcp_send_rst_for(struct stk_tcp *t, const struct stk_tcp_seg *s);
/* stateless SYN-ACK carrying a cookie */
void tcp_send_synack_cookie(struct stk_tcp *t, const struct stk_tcp_seg *s, uint32_t iss,
                            uint16_t mss, const struct tcp_opts *o);
uint32_t tcp_rcv_window(const struct stk_tcp *t, const struct stk_tcp_conn *c);

/* tcp_timer_fp.c */
void tcp_timer_update(struct stk_tcp *t, struct stk_tcp_conn *c);
void tcp_timer_remove(struct stk_tcp *t, struct stk_tcp_conn *c);
void tcp_rearm_rtx(struct stk_tcp *t, struct stk_tcp_conn *c);

/* tcp_cc.c */
void tcp_cc_init(struct stk_tcp_conn *c);
void tcp_cc_ack(struct stk_tcp_conn *c, uint32_t acked);
void tcp_cc_newack(struct stk_tcp *t, struct stk_tcp_conn *c, uint32_t acked);
void tcp_cc_dupack(struct stk_tcp *t, struct stk_tcp_conn *c);
/* fold an ACK's SACK blocks into the scoreboard; drop what snd_una passed; true when it grew */
bool tcp_sack_update(struct stk_tcp_conn *c, const struct tcp_opts *o);
/* outside recovery: enter it when the scoreboard shows SND.UNA lost (RFC 6675) */
void tcp_cc_sack_check(struct stk_tcp *t, struct stk_tcp_conn *c);
void tcp_cc_rto(struct stk_tcp_conn *c);
void tcp_rtt_sample(struct stk_tcp *t, struct stk_tcp_conn *c, uint64_t rtt_ns);

#endif
