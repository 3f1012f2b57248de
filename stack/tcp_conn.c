/* tcp_conn.c - TCP engine control side: create/destroy, tables, listeners, quotas, app calls. */
#include <stdlib.h>
#include <sys/random.h>

#include "tcp_priv.h"

const char *const stk_tcp_counter_names[STK_TCP_CNT__MAX] = {
#define _(e, n, h) [STK_TCP_CNT_##e] = n,
        foreach_stk_tcp_counter(_)
#undef _
};

const char *const stk_tcp_counter_help[STK_TCP_CNT__MAX] = {
#define _(e, n, h) [STK_TCP_CNT_##e] = h,
        foreach_stk_tcp_counter(_)
#undef _
};

#define DEF(f, v)                   \
	do {                        \
		if (!c->f)          \
			c->f = (v); \
	} while (0)

static int
cfg_defaults(struct stk_tcp_cfg *c)
{
	DEF(max_conns, 1024);
	DEF(max_listeners, 64);
	DEF(max_tenants, 64);
	DEF(rcv_buf, 256 * 1024);
	DEF(snd_buf, 1024 * 1024);
	DEF(ooo_max_worker, 4096);
	DEF(mss, 1460);
	DEF(tick_ns, 1000000);
	DEF(delack_ns, 40000000);
	DEF(rto_init_ns, STK_NS_PER_S);
	DEF(rto_min_ns, 200000000);
	DEF(rto_max_ns, 60 * STK_NS_PER_S);
	DEF(max_retries, 15);
	DEF(syn_retries, 5);
	DEF(time_wait_ns, 60 * STK_NS_PER_S);
	DEF(max_time_wait, c->max_conns / 2 ? c->max_conns / 2 : 1);
	DEF(fin_wait2_ns, 60 * STK_NS_PER_S);
	DEF(keep_idle_ns, 7200 * STK_NS_PER_S);
	DEF(keep_intvl_ns, 75 * STK_NS_PER_S);
	DEF(keep_cnt, 9);
	DEF(challenge_rate, 1000);
	if (c->max_conns > (1u << 24) || c->mss < 64 || c->wscale > 14 || c->rcv_buf > (1u << 30) ||
	    c->snd_buf > (1u << 30) || c->max_retries > 255 || c->syn_retries > 255)
		return -EINVAL;
	if (!c->wscale)
		while (c->wscale < 14 && (65535u << c->wscale) < c->rcv_buf)
			c->wscale++;
	if ((65535ull << c->wscale) < c->rcv_buf)
		return -EINVAL;
	return 0;
}

static uint32_t
pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

struct stk_tcp *
stk_tcp_create(const struct stk_tcp_cfg *cfg, const struct stk_tcp_ops *ops, struct stk_lcore *lc,
               uint64_t now_ns)
{
	struct stk_tcp *t;
	uint64_t keys[4];
	uint32_t i;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (cfg)
		t->cfg = *cfg;
	if (cfg_defaults(&t->cfg) < 0 || !ops || !ops->tx_alloc || !ops->tx_send || !ops->event ||
	    !ops->rx_ref || !ops->rx_unref || !lc) {
		free(t);
		errno = EINVAL;
		return NULL;
	}
	t->ops = *ops;
	t->lc = lc;
	t->now = now_ns;
	t->conns = calloc(t->cfg.max_conns, sizeof(*t->conns));
	t->hmask = pow2_at_least(t->cfg.max_conns * 2) - 1;
	t->htab = malloc((t->hmask + 1) * sizeof(*t->htab));
	t->lsn = calloc(t->cfg.max_listeners, sizeof(*t->lsn));
	t->wmask = 4095;
	t->wheel = malloc((t->wmask + 1) * sizeof(*t->wheel));
	t->tenant_used = calloc(t->cfg.max_tenants, sizeof(uint32_t));
	t->tenant_max = malloc(t->cfg.max_tenants * sizeof(uint32_t));
	if (!t->conns || !t->htab || !t->lsn || !t->wheel || !t->tenant_used || !t->tenant_max)
		goto out_free;
	memcpy(keys, t->cfg.secret, sizeof(keys));
	if (!(keys[0] | keys[1] | keys[2] | keys[3]) &&
	    getrandom(keys, sizeof(keys), 0) != (ssize_t)sizeof(keys))
		goto out_free;
	t->isn_key[0] = keys[0];
	t->isn_key[1] = keys[1];
	t->cookie_key[0] = keys[2];
	t->cookie_key[1] = keys[3];
	memset(t->htab, 0xff, (t->hmask + 1) * sizeof(*t->htab));
	memset(t->wheel, 0xff, (t->wmask + 1) * sizeof(*t->wheel));
	memset(t->lhash, 0xff, sizeof(t->lhash));
	for (i = 0; i < t->cfg.max_tenants; i++)
		t->tenant_max[i] = UINT32_MAX;
	for (i = 0; i < t->cfg.max_conns; i++) {
		t->conns[i].idx = i;
		t->conns[i].hnext = i + 1 < t->cfg.max_conns ? i + 1 : STK_TCP_NONE;
		t->conns[i].tslot = STK_TCP_NONE;
	}
	t->free_head = 0;
	t->wtick = now_ns / t->cfg.tick_ns;
	t->rng = keys[0] ^ keys[3] ^ 0x9e3779b97f4a7c15ull;
	t->chal_sec = UINT64_MAX; /* the first challenge ACK opens a budget */
	return t;

out_free:
	free(t->conns);
	free(t->htab);
	free(t->lsn);
	free(t->wheel);
	free(t->tenant_used);
	free(t->tenant_max);
	free(t);
	errno = ENOMEM;
	return NULL;
}

void
stk_tcp_destroy(struct stk_tcp *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->cfg.max_conns; i++) {
		struct stk_tcp_conn *c = &t->conns[i];

		if (c->state == STK_TCP_CLOSED)
			continue;
		tcp_conn_drain(t, c, -ECONNABORTED);
		if (!(c->flags & CF_DETACHED) && c->listener == STK_TCP_NONE)
			tcp_conn_detach(t, c, -ECONNABORTED);
		tcp_conn_free(t, c);
	}
	free(t->conns);
	free(t->htab);
	free(t->lsn);
	free(t->wheel);
	free(t->tenant_used);
	free(t->tenant_max);
	free(t);
}

int
stk_tcp_set_quota(struct stk_tcp *t, uint32_t tenant, uint32_t max_conns)
{
	if (tenant >= t->cfg.max_tenants)
		return -EINVAL;
	t->tenant_max[tenant] = max_conns;
	return 0;
}

uint32_t
stk_tcp_tenant_conns(const struct stk_tcp *t, uint32_t tenant)
{
	return tenant < t->cfg.max_tenants ? t->tenant_used[tenant] : 0;
}

/* ---- tables ------------------------------------------------------------------------------ */

struct stk_tcp_conn *
tcp_conn_lookup(struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
	uint32_t i = t->htab[tcp_tuple_hash(lip, lport, rip, rport) & t->hmask];

	while (i != STK_TCP_NONE) {
		struct stk_tcp_conn *c = &t->conns[i];

		if (c->lip == lip && c->rip == rip && c->lport == lport && c->rport == rport)
			return c;
		i = c->hnext;
	}
	return NULL;
}

static uint32_t
lhash(uint16_t port)
{
	return (uint32_t)(port ^ (port >> 8)) & (STK_TCP_LHASH - 1);
}

/* the listener for ip:port: an exact address first, else the wildcard one */
struct stk_tcp_listener *
tcp_listener_lookup(struct stk_tcp *t, uint32_t ip, uint16_t port)
{
	struct stk_tcp_listener *any = NULL;

	for (uint32_t i = t->lhash[lhash(port)]; i != STK_TCP_NONE; i = t->lsn[i].next) {
		struct stk_tcp_listener *l = &t->lsn[i];

		if (l->port != port)
			continue;
		if (l->ip == ip)
			return l;
		if (l->ip == 0)
			any = l;
	}
	return any;
}

struct stk_tcp_conn *
tcp_conn_new(struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport,
             uint32_t tenant)
{
	struct stk_tcp_conn *c;
	uint32_t h, gen;

	if (tenant >= t->cfg.max_tenants || t->tenant_used[tenant] >= t->tenant_max[tenant]) {
		t->cnt[STK_TCP_CNT_DROP_QUOTA]++;
		return NULL;
	}
	if (t->free_head == STK_TCP_NONE) {
		t->cnt[STK_TCP_CNT_DROP_NO_CONN]++;
		return NULL;
	}
	if (t->ops.quota && t->ops.quota(t->ops.ctx, tenant, 1) != 0) {
		t->cnt[STK_TCP_CNT_DROP_QUOTA]++;
		return NULL;
	}
	c = &t->conns[t->free_head];
	t->free_head = c->hnext;
	gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->idx = (uint32_t)(c - t->conns);
	c->gen = gen;
	c->tslot = STK_TCP_NONE;
	c->listener = STK_TCP_NONE;
	c->lip = lip;
	c->lport = lport;
	c->rip = rip;
	c->rport = rport;
	c->tenant = tenant;
	c->rto_ns = t->cfg.rto_init_ns;
	c->mss = STK_TCP_DEF_MSS;
	c->iss = tcp_isn(t, lip, lport, rip, rport);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->snd_end = c->sq_seq = c->iss + 1;
	c->ts_off = tcp_ts_offset(t, lip, lport, rip, rport);
	c->last_rcv = t->now;
	if (t->cfg.keepalive) {
		c->flags |= CF_KEEPALIVE;
		c->t_keep = c->last_rcv + t->cfg.keep_idle_ns;
	}
	h = tcp_tuple_hash(lip, lport, rip, rport) & t->hmask;
	c->hnext = t->htab[h];
	t->htab[h] = c->idx;
	t->tenant_used[tenant]++;
	t->n_used++;
	tcp_cc_init(c);
	return c;
}

void
tcp_conn_apply_syn_opts(struct stk_tcp *t, struct stk_tcp_conn *c, const struct tcp_opts *o)
{
	uint16_t mss = o->has_mss ? o->mss : STK_TCP_DEF_MSS;

	if (mss > t->cfg.mss)
		mss = t->cfg.mss;
	if (mss < 64)
		mss = 64;
	if (o->has_ws) {
		c->flags |= CF_WS;
		c->snd_wscale = o->ws > 14 ? 14 : o->ws; /* RFC 7323 2.3: cap at 14 */
		c->rcv_wscale = t->cfg.wscale;
	} else {
		c->snd_wscale = c->rcv_wscale = 0;
	}
	if (o->sack_ok && !t->cfg.no_sack)
		c->flags |= CF_SACK;
	if (o->has_ts && !t->cfg.no_timestamps) {
		c->flags |= CF_TS;
		c->ts_recent = o->tsval;
		mss -= 12; /* RFC 7323: the TS option is in every segment */
	}
	c->mss = mss;
	tcp_cc_init(c);
}

void
tcp_conn_drain(struct stk_tcp *t, struct stk_tcp_conn *c, int status)
{
	while (c->sq_n) {
		struct tcp_txref *r = &c->sq[c->sq_head];
		struct stk_tcp_event ev = {.type = STK_TCP_EV_SENT, .c = c, .user = c->user};

		ev.u.sent.cookie = r->cookie;
		ev.u.sent.len = r->len;
		ev.u.sent.status = status;
		c->sq_head = (uint8_t)((c->sq_head + 1) % STK_TCP_SQ_MAX);
		c->sq_n--;
		if (!(c->flags & CF_DETACHED) &&
		    !(c->flags & CF_PASSIVE && c->state == STK_TCP_SYN_RECEIVED))
			tcp_event(t, c, &ev);
	}
	c->sq_bytes = 0;
	for (unsigned i = 0; i < c->ooo_n; i++)
		t->ops.rx_unref(t->ops.ctx, c->ooo[i].buf);
	t->ooo_held -= c->ooo_n;
	c->ooo_n = 0;
}

void
tcp_conn_detach(struct stk_tcp *t, struct stk_tcp_conn *c, int reason)
{
	struct stk_tcp_event ev = {.c = c, .user = c->user};

	if (c->flags & CF_DETACHED)
		return;
	c->flags |= CF_DETACHED;
	ev.type = reason ? STK_TCP_EV_RESET : STK_TCP_EV_CLOSED;
	ev.u.reason = reason;
	t->cnt[reason ? STK_TCP_CNT_RESET : STK_TCP_CNT_CLOSED]++;
	tcp_event(t, c, &ev);
}

void
tcp_conn_free(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	uint32_t *pp = &t->htab[tcp_tuple_hash(c->lip, c->lport, c->rip, c->rport) & t->hmask];

	tcp_conn_drain(t, c, -ECONNABORTED);
	tcp_timer_remove(t, c);
	while (*pp != STK_TCP_NONE && *pp != c->idx)
		pp = &t->conns[*pp].hnext;
	if (*pp == c->idx)
		*pp = c->hnext;
	if (c->listener != STK_TCP_NONE)
		t->lsn[c->listener].n_syn--;
	if (c->state == STK_TCP_TIME_WAIT)
		t->n_time_wait--;
	t->tenant_used[c->tenant]--;
	if (t->ops.quota)
		t->ops.quota(t->ops.ctx, c->tenant, -1);
	t->n_used--;
	c->state = STK_TCP_CLOSED;
	c->gen++;
	c->hnext = t->free_head;
	t->free_head = c->idx;
}

void
tcp_conn_fail(struct stk_tcp *t, struct stk_tcp_conn *c, int reason, bool rst)
{
	bool half_open = c->listener != STK_TCP_NONE; /* never announced to the upper layer */

	if (rst && c->state != STK_TCP_SYN_SENT) {
		tcp_send_seg(t, c, c->snd_max, STK_TCP_RST | STK_TCP_ACK, 0);
		t->cnt[STK_TCP_CNT_RST_OUT]++;
	}
	if (half_open)
		c->flags |= CF_DETACHED;
	tcp_conn_drain(t, c, reason);
	tcp_conn_detach(t, c, reason);
	tcp_conn_free(t, c);
}

int
tcp_event(struct stk_tcp *t, struct stk_tcp_conn *c, struct stk_tcp_event *ev)
{
	return t->ops.event(t->ops.ctx, ev);
}

void
tcp_enter_time_wait(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (t->n_time_wait >= t->cfg.max_time_wait) {
		t->cnt[STK_TCP_CNT_TIME_WAIT_OVERFLOW]++;
		tcp_conn_drain(t, c, 0);
		tcp_conn_detach(t, c, 0);
		tcp_conn_free(t, c);
		return;
	}
	t->n_time_wait++;
	c->state = STK_TCP_TIME_WAIT;
	c->t_rtx = c->t_delack = c->t_keep = 0;
	c->flags &= ~CF_PERSIST;
	c->t_end = t->now + t->cfg.time_wait_ns;
	tcp_conn_drain(t, c, 0);
	tcp_conn_detach(t, c, 0);
	tcp_timer_update(t, c);
}

/* ---- app calls --------------------------------------------------------------------------- */

struct stk_tcp_listener *
stk_tcp_listen(struct stk_tcp *t, uint32_t ip, uint16_t port, uint32_t tenant, uint32_t backlog,
               uint64_t user)
{
	struct stk_tcp_listener *free_l = NULL;

	if (port == 0 || tenant >= t->cfg.max_tenants) {
		errno = EINVAL;
		return NULL;
	}
	for (uint32_t i = 0; i < t->cfg.max_listeners; i++) {
		struct stk_tcp_listener *l = &t->lsn[i];

		if (l->used && l->port == port && (l->ip == ip || !l->ip || !ip)) {
			errno = EADDRINUSE;
			return NULL;
		}
		if (!l->used && !free_l)
			free_l = l;
	}
	if (!free_l) {
		errno = ENOSPC;
		return NULL;
	}
	*free_l = (struct stk_tcp_listener){.next = t->lhash[lhash(port)],
	                                    .ip = ip,
	                                    .port = port,
	                                    .used = true,
	                                    .tenant = tenant,
	                                    .backlog = backlog ? backlog : 128,
	                                    .user = user};
	t->lhash[lhash(port)] = (uint32_t)(free_l - t->lsn);
	return free_l;
}

void
stk_tcp_unlisten(struct stk_tcp *t, struct stk_tcp_listener *l)
{
	uint32_t li;

	if (!l)
		return;
	li = (uint32_t)(l - t->lsn);
	for (uint32_t i = 0; i < t->cfg.max_conns && l->n_syn; i++) {
		struct stk_tcp_conn *c = &t->conns[i];

		if (c->state != STK_TCP_CLOSED && c->listener == li)
			tcp_conn_fail(t, c, -ECONNABORTED, true);
	}
	for (uint32_t *pp = &t->lhash[lhash(l->port)]; *pp != STK_TCP_NONE; pp = &t->lsn[*pp].next)
		if (*pp == li) {
			*pp = l->next;
			break;
		}
	l->used = false;
}

int
stk_tcp_connect(struct stk_tcp *t, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport,
                uint32_t tenant, uint64_t user, struct stk_tcp_conn **out)
{
	struct stk_tcp_conn *c;
	uint64_t refused;

	if (tcp_conn_lookup(t, lip, lport, rip, rport))
		return -EADDRINUSE;
	if (tenant >= t->cfg.max_tenants)
		return -EINVAL;
	if (t->tenant_used[tenant] >= t->tenant_max[tenant]) {
		t->cnt[STK_TCP_CNT_DROP_QUOTA]++;
		return -EDQUOT;
	}
	refused = t->cnt[STK_TCP_CNT_DROP_QUOTA];
	c = tcp_conn_new(t, lip, lport, rip, rport, tenant);
	if (!c)
		return t->cnt[STK_TCP_CNT_DROP_QUOTA] != refused ? -EDQUOT : -ENOBUFS;
	c->user = user;
	c->state = STK_TCP_SYN_SENT;
	c->mss = t->cfg.mss;
	tcp_send_syn(t, c);
	*out = c;
	return 0;
}

int
stk_tcp_send(struct stk_tcp *t, struct stk_tcp_conn *c, const void *data, uint32_t len,
             uint64_t cookie)
{
	struct tcp_txref *r;

	if (len == 0)
		return -EINVAL;
	if (c->flags & (CF_FIN_Q | CF_DETACHED))
		return -EPIPE;
	if (c->state != STK_TCP_SYN_SENT && c->state != STK_TCP_SYN_RECEIVED &&
	    c->state != STK_TCP_ESTABLISHED && c->state != STK_TCP_CLOSE_WAIT)
		return -EPIPE;
	if (c->sq_n == STK_TCP_SQ_MAX || c->sq_bytes + len > t->cfg.snd_buf ||
	    c->sq_bytes + len < len)
		return -ENOBUFS;
	r = &c->sq[(c->sq_head + c->sq_n) % STK_TCP_SQ_MAX];
	r->data = data;
	r->len = len;
	r->cookie = cookie;
	c->sq_n++;
	c->sq_bytes += len;
	c->snd_end += len;
	tcp_output(t, c);
	return 0;
}

void
stk_tcp_recv_done(struct stk_tcp *t, struct stk_tcp_conn *c, uint32_t len)
{
	uint32_t old_right = c->rcv_adv, thresh;

	if (len > c->rcv_unread)
		len = c->rcv_unread;
	c->rcv_unread -= len;
	if (c->state < STK_TCP_ESTABLISHED || c->state == STK_TCP_TIME_WAIT ||
	    (c->flags & CF_FIN_RCVD))
		return;
	/* window update when the right edge would move by min(rcv_buf / 2, MSS) or more, or it
	 * was closed (RFC 9293 3.8.6.2.2) */
	thresh = t->cfg.rcv_buf / 2 < c->mss ? t->cfg.rcv_buf / 2 : c->mss;
	if (SEQ_GEQ(c->rcv_nxt + tcp_rcv_window(t, c), old_right + thresh) ||
	    old_right == c->rcv_nxt)
		if (c->rcv_nxt + tcp_rcv_window(t, c) != old_right)
			tcp_send_ack(t, c);
}

int
stk_tcp_close(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->flags & (CF_FIN_Q | CF_DETACHED))
		return -EALREADY;
	switch (c->state) {
	case STK_TCP_SYN_SENT:
		tcp_conn_fail(t, c, 0, false);
		return 0;
	case STK_TCP_SYN_RECEIVED:
	case STK_TCP_ESTABLISHED:
	case STK_TCP_CLOSE_WAIT:
		c->flags |= CF_FIN_Q;
		tcp_output(t, c);
		return 0;
	default:
		return -ENOTCONN;
	}
}

void
stk_tcp_abort(struct stk_tcp *t, struct stk_tcp_conn *c)
{
	if (c->flags & CF_DETACHED)
		return;
	tcp_conn_fail(t, c, -ECONNABORTED, c->state != STK_TCP_SYN_SENT);
}

void
stk_tcp_set_keepalive(struct stk_tcp *t, struct stk_tcp_conn *c, bool on)
{
	if (on) {
		c->flags |= CF_KEEPALIVE;
		c->t_keep = c->last_rcv + t->cfg.keep_idle_ns;
	} else {
		c->flags &= ~CF_KEEPALIVE;
		c->t_keep = 0;
	}
	tcp_timer_update(t, c);
}

void
stk_tcp_set_user(struct stk_tcp_conn *c, uint64_t user)
{
	c->user = user;
}

enum stk_tcp_state
stk_tcp_state(const struct stk_tcp_conn *c)
{
	return (enum stk_tcp_state)c->state;
}

uint64_t
stk_tcp_user(const struct stk_tcp_conn *c)
{
	return c->user;
}

uint64_t
stk_tcp_conn_id(const struct stk_tcp_conn *c)
{
	return (uint64_t)c->gen << 32 | c->idx;
}

struct stk_tcp_conn *
stk_tcp_conn_by_id(struct stk_tcp *t, uint64_t id)
{
	uint32_t idx = (uint32_t)id;
	struct stk_tcp_conn *c;

	if (idx >= t->cfg.max_conns)
		return NULL;
	c = &t->conns[idx];
	if (c->gen != (uint32_t)(id >> 32) || c->state == STK_TCP_CLOSED ||
	    (c->flags & CF_DETACHED))
		return NULL;
	return c;
}

void
stk_tcp_conn_info(const struct stk_tcp_conn *c, struct stk_tcp_info *out)
{
	*out = (struct stk_tcp_info){
	        .state = (enum stk_tcp_state)c->state,
	        .lip = c->lip,
	        .rip = c->rip,
	        .lport = c->lport,
	        .rport = c->rport,
	        .mss = c->mss,
	        .snd_wscale = c->snd_wscale,
	        .rcv_wscale = c->rcv_wscale,
	        .ts = c->flags & CF_TS,
	        .sack = c->flags & CF_SACK,
	        .srtt_us = c->srtt_us,
	        .rttvar_us = c->rttvar_us,
	        .rto_us = (uint32_t)(c->rto_ns / 1000),
	        .cwnd = c->cwnd,
	        .ssthresh = c->ssthresh,
	        .snd_wnd = c->snd_wnd,
	        .rcv_wnd = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0,
	        .unacked = c->snd_max - c->snd_una,
	        .queued = c->sq_bytes,
	        .unread = c->rcv_unread,
	        .ooo = c->ooo_n,
	        .retries = c->retries,
	};
}

const uint64_t *
stk_tcp_counters(const struct stk_tcp *t)
{
	return t->cnt;
}

uint32_t
stk_tcp_conns_in_use(const struct stk_tcp *t)
{
	return t->n_used;
}

uint32_t
stk_tcp_ooo_held(const struct stk_tcp *t)
{
	return t->ooo_held;
}
