/* chan.c - the attach socket and attached apps: admission, queues, binds, teardown (control). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "chan_priv.h"
#include "ctl.h"

/* Geometry an app gets for what it leaves zero in HELLO. */
static const struct bp_geom geom_default = {
        .rx_ring = 1024,
        .rx_bufs = 1024,
        .rx_buf_size = 2048,
        .tx_ring = 1024,
        .tx_bufs = 1024,
        .tx_buf_size = 2048,
};

/* Apps waiting in HELLO or attached at once, over all tenants (each tenant has its own quota). */
#define GW_MAX_CONNS           GW_MAX_APPS
/* Largest RX or TX area of one queue */
#define GW_MAX_AREA            (64ull << 20)
/* Connections one uid may have waiting for their HELLO */
#define GW_MAX_PENDING_PER_UID 8
/* A connection that sends no HELLO in this time is dropped */
#define GW_HELLO_TIMEOUT_NS    2000000000ull

const char *const gw_chan_counter_names[GW_CHAN_CNT__MAX] = {
#define _(e, n, h) [GW_CHAN_CNT_##e] = n,
        foreach_gw_chan_counter(_)
#undef _
};

static void
ipstr(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* mkdir -p of the socket's directory */
static int
make_parent(const char *path)
{
	char *dup = strdup(path), *dir, *p;
	int ret = 0;

	if (!dup)
		return -ENOMEM;
	dir = dirname(dup);
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			ret = -errno;
		*p = '/';
	}
	if (!ret && mkdir(dir, 0755) && errno != EEXIST)
		ret = -errno;
	free(dup);
	return ret;
}

int
gw_chan_init(struct gw *gw)
{
	struct gw_apps *a;
	const char *path = gw->cfg->gw.control_socket;
	int ret;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->lfd = -1;
	a->path = strdup(path);
	a->use = calloc(POL_TENANT_ID_MAX + 1, sizeof(*a->use));
	if (!a->path || !a->use) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (getrandom(&a->epoch, sizeof(a->epoch), 0) != sizeof(a->epoch))
		a->epoch = (uint64_t)getpid() << 32 ^ (uint64_t)rte_get_tsc_cycles();
	a->next_id = 1;
	if (path[0] != '@') {
		ret = make_parent(path);
		if (ret) {
			GW_LOG(ERR, "control socket %s: cannot create its directory: %s", path,
			       strerror(-ret));
			goto out_free;
		}
	}
	ret = bp_sock_listen(path, 64);
	if (ret < 0) {
		GW_LOG(ERR, "control socket %s: %s", path, strerror(-ret));
		goto out_free;
	}
	a->lfd = ret;
	/* Any local user may connect; admission is the tenant's uid/gid list (SO_PEERCRED). */
	if (path[0] != '@' && chmod(path, 0666))
		GW_LOG(WARNING, "control socket %s: chmod: %s", path, strerror(errno));
	fcntl(a->lfd, F_SETFL, fcntl(a->lfd, F_GETFL) | O_NONBLOCK);
	gw->apps = a;
	GW_LOG(INFO, "control socket %s: apps attach here", path);
	return 0;

out_free:
	free(a->use);
	free(a->path);
	free(a);
	return ret;
}

/* ---- publishing tables to workers (RCU) ---- */

/* Rebuild the demux from every valid socket of every attached app; publish; wait; free old. */
static int
demux_publish(struct gw *gw)
{
	struct gw_app *app;
	struct gw_demux *d, *old;
	uint32_t n = 0, slots = 16, i, h;

	for (app = gw->apps->head; app; app = app->next)
		for (i = 0; i < BP_MAX_SOCKS; i++)
			n += atomic_load_explicit(&app->socks[i].valid, memory_order_relaxed);
	while (slots < 2 * n)
		slots <<= 1;
	d = rte_zmalloc("gw_demux", sizeof(*d) + slots * sizeof(d->e[0]), RTE_CACHE_LINE_SIZE);
	if (!d)
		return -ENOMEM;
	d->mask = slots - 1;
	for (app = gw->apps->head; app; app = app->next)
		for (i = 0; i < BP_MAX_SOCKS; i++) {
			struct gw_sock *s = &app->socks[i];

			if (!atomic_load_explicit(&s->valid, memory_order_relaxed))
				continue;
			h = gw_demux_hash(s->addr, s->port, s->proto) & d->mask;
			while (d->e[h].addr)
				h = (h + 1) & d->mask;
			d->e[h] = (struct gw_demux_ent){.addr = s->addr,
			                                .port = s->port,
			                                .proto = s->proto,
			                                .sock = i,
			                                .ch = &app->q[s->queue]};
			d->n++;
		}
	old = atomic_exchange_explicit(&gw->demux, d, memory_order_acq_rel);
	rte_rcu_qsbr_synchronize(gw->rcu, RTE_QSBR_THRID_INVALID);
	rte_free(old);
	return 0;
}

/* Give worker wi the list of queues in apps that say so; publish; wait; free the old list. */
static int
qlists_publish(struct gw *gw)
{
	struct gw_qlist *nl[GW_MAX_WORKERS] = {0}, *old;
	unsigned cnt[GW_MAX_WORKERS] = {0}, wi, i;
	struct gw_app *app;

	for (app = gw->apps->head; app; app = app->next)
		for (i = 0; app->state == GW_APP_ATTACHED && i < app->nqueues; i++)
			cnt[app->q[i].worker]++;
	for (wi = 0; wi < gw->n_workers; wi++) {
		nl[wi] = rte_zmalloc("gw_qlist", sizeof(*nl[wi]) + cnt[wi] * sizeof(nl[wi]->q[0]),
		                     RTE_CACHE_LINE_SIZE);
		if (!nl[wi]) {
			while (wi--)
				rte_free(nl[wi]);
			return -ENOMEM;
		}
	}
	for (app = gw->apps->head; app; app = app->next)
		for (i = 0; app->state == GW_APP_ATTACHED && i < app->nqueues; i++) {
			struct gw_qlist *l = nl[app->q[i].worker];

			l->q[l->n++] = &app->q[i];
		}
	for (wi = 0; wi < gw->n_workers; wi++)
		nl[wi] = atomic_exchange_explicit(&gw->workers[wi].qlist, nl[wi],
		                                  memory_order_acq_rel);
	rte_rcu_qsbr_synchronize(gw->rcu, RTE_QSBR_THRID_INVALID);
	for (wi = 0; wi < gw->n_workers; wi++) {
		old = nl[wi];
		rte_free(old);
	}
	return 0;
}

/* ---- replies ---- */

static void reply_error(struct gw_app *app, uint32_t seq, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
reply_error(struct gw_app *app, uint32_t seq, int code, const char *fmt, ...)
{
	struct bp_ctl_error e;
	char msg[BP_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bp_ctl_error_init(&e, seq, code, "%s", msg);
	(void)bp_sock_send_fds(app->fd, &e, sizeof(e), NULL, 0);
	if (app->state == GW_APP_HELLO)
		GW_LOG(NOTICE, "channel %u refused: pid %d uid %u: %s", app->id, (int)app->pid,
		       (unsigned)app->uid, msg);
	else
		GW_LOG(INFO, "channel %u: request %u refused: %s", app->id, seq, msg);
}

/* ---- lifecycle ---- */

/* The stable id of t, a tenant of the running policy (its generation is published with it). */
static uint16_t
tenant_id(const struct gw *gw, const struct pol_tenant *t)
{
	const struct pol_gen *g = atomic_load_explicit(&gw->gen, memory_order_acquire);
	const struct pol_gen_tenant *gt =
	        g ? pol_gen_tenant_at(g, (unsigned)(t - gw->cfg->policy->tenants)) : NULL;

	return gt ? gt->id : 0;
}

static inline const struct pol_tenant *
app_tenant(const struct gw_app *app)
{
	return atomic_load_explicit(&app->tenant, memory_order_acquire);
}

/* Least-loaded worker for a new queue, so one app's threads spread over workers. */
static unsigned
pick_worker(struct gw *gw)
{
	unsigned load[GW_MAX_WORKERS] = {0}, wi, best = 0, i;
	struct gw_app *app;

	for (app = gw->apps->head; app; app = app->next)
		for (i = 0; app->state == GW_APP_ATTACHED && i < app->nqueues; i++)
			load[app->q[i].worker]++;
	for (wi = 0; wi < gw->n_workers; wi++) {
		unsigned cand = (gw->apps->next_worker + wi) % gw->n_workers;

		if (wi == 0 || load[cand] < load[best])
			best = cand;
	}
	gw->apps->next_worker = (best + 1) % gw->n_workers;
	return best;
}

static unsigned
app_inflight(const struct gw_app *app)
{
	unsigned i, n = 0;

	for (i = 0; i < app->nqueues; i++)
		n += atomic_load_explicit(&app->q[i].txz_inflight, memory_order_acquire) +
		     atomic_load_explicit(&app->q[i].tcp_busy, memory_order_acquire);
	return n;
}

static const char *
proto_name(uint16_t proto)
{
	return proto == BP_PROTO_RAW ? "raw" : proto == BP_PROTO_TCP ? "TCP" : "UDP";
}

static void
app_free(struct gw_app *app)
{
	unsigned i;

	for (i = 0; app->q && i < app->nqueues; i++) {
		bp_chan_destroy(&app->q[i].c);
		rte_free(app->q[i].txz);
		gw_tcp_chan_free(&app->q[i]);
	}
	rte_free(app->q);
	rte_free(app);
}

/*
 * Detach an app: its queues close (the app sees BP_ESHUTDOWN at once), its sockets and queues are
 * unpublished and, after the RCU grace period, no worker reaches them. Its memory goes when no
 * zero-copy send still sits in the port; until then it waits on the zombie list (never blocking
 * the control thread), reaped by gw_chan_heartbeat.
 */
static void
app_teardown(struct gw *gw, struct gw_app *app, const char *reason)
{
	struct gw_apps *a = gw->apps;
	struct gw_app **pp;
	bool attached = app->state == GW_APP_ATTACHED;
	uint64_t rx = 0, tx = 0, drops = 0;
	unsigned i, inflight = 0;

	for (pp = &a->head; *pp; pp = &(*pp)->next)
		if (*pp == app) {
			*pp = app->next;
			break;
		}
	if (app->fd >= 0)
		close(app->fd);
	app->fd = -1;
	a->napps--;
	if (!attached) {
		app_free(app);
		return;
	}
	for (i = 0; i < app->nqueues; i++)
		bp_chan_close(&app->q[i].c);
	for (i = 0; i < BP_MAX_SOCKS; i++)
		atomic_store_explicit(&app->socks[i].valid, false, memory_order_release);
	/* app is off the list: neither table refers to it once these are published */
	app->stuck = demux_publish(gw) || qlists_publish(gw);
	for (i = 0; i < app->nqueues; i++) {
		rx += app->q[i].c.cnt[BP_CHAN_CNT_RX_POSTED];
		tx += app->q[i].c.cnt[BP_CHAN_CNT_TX_FETCHED];
		drops += bp_chan_drops(&app->q[i].c);
	}
	a->use[app->tenant_id].apps--;
	a->use[app->tenant_id].queues -= app->nqueues;
	a->use[app->tenant_id].bufs -= app->nbufs;
	if (!app->stuck) {
		/* no worker reaches the queues through the tables now: its TCP connections are
		 * reset and its listeners closed by the worker that owns them */
		for (i = 0; i < app->nqueues; i++)
			(void)gw_tcp_detach(gw, &app->q[i]);
		inflight = app_inflight(app);
	}
	GW_LOG(NOTICE,
	       "channel %u detached: %s (tenant %s pid %d; rx %" PRIu64 " tx %" PRIu64
	       " drops %" PRIu64 "%s)",
	       app->id, reason, app_tenant(app)->name, (int)app->pid, rx, tx, drops,
	       app->stuck ? "; out of memory: its memory is freed later"
	       : inflight ? "; zero-copy sends in the port: memory freed when they complete"
	                  : "");
	if (app->stuck || inflight) {
		app->since_ns = gw_now_ns(gw);
		app->next = a->zombies;
		a->zombies = app;
		return;
	}
	app_free(app);
}

/* Free detached apps whose last zero-copy send completed (or retry a failed unpublish). */
static void
zombies_reap(struct gw *gw)
{
	struct gw_apps *a = gw->apps;
	struct gw_app **pp = &a->zombies, *app;

	while ((app = *pp) != NULL) {
		if (app->stuck)
			app->stuck = demux_publish(gw) || qlists_publish(gw);
		if (!app->stuck) {
			unsigned i;

			for (i = 0; i < app->nqueues; i++)
				(void)gw_tcp_detach(gw, &app->q[i]); /* a message that did not go */
		}
		if (!app->stuck && app_inflight(app) == 0) {
			*pp = app->next;
			GW_LOG(DEBUG, "channel %u: memory freed", app->id);
			app_free(app);
			continue;
		}
		if (!app->warned && gw_now_ns(gw) - app->since_ns > 10000000000ull) {
			GW_LOG(WARNING,
			       "channel %u: %u zero-copy sends still held by the port after 10 s",
			       app->id, app_inflight(app));
			app->warned = true;
		}
		pp = &app->next;
	}
}

static void
on_hello(struct gw *gw, struct gw_app *app, const struct bp_ctl_hello *m)
{
	struct gw_apps *a = gw->apps;
	const struct pol_tenant *t;
	struct gw_tenant_use *use;
	struct bp_chan_limits lim;
	struct bp_ctl_hello_ok ok;
	struct bp_geom g;
	uint32_t i, nbufs;
	int ret;

	snprintf(app->name, sizeof(app->name), "%s", m->app_name);
	t = gw->cfg->policy ? pol_policy_tenant(gw->cfg->policy, m->tenant) : NULL;
	if (!t) {
		reply_error(app, m->hdr.seq, BP_ETENANT, "unknown tenant '%s'", m->tenant);
		goto refuse;
	}
	if (!gw_tenant_admits(t, app->uid, app->gid)) {
		reply_error(app, m->hdr.seq, BP_EDENIED,
		            "tenant '%s' does not admit uid %u gid %u (policy allow.uids/gids)",
		            t->name, (unsigned)app->uid, (unsigned)app->gid);
		goto refuse;
	}
	use = &a->use[tenant_id(gw, t)];
	if (use->apps + 1 > t->quota.apps) {
		reply_error(app, m->hdr.seq, BP_EQUOTA, "tenant '%s' has %u of %u apps attached",
		            t->name, use->apps, t->quota.apps);
		goto refuse;
	}
	if (m->nqueues < 1 || use->queues + m->nqueues > t->quota.queues) {
		reply_error(app, m->hdr.seq, BP_EQUOTA,
		            "tenant '%s' may have %u queues, has %u, asked for %u more", t->name,
		            t->quota.queues, use->queues, m->nqueues);
		goto refuse;
	}
	bp_ctl_geom_merge(&g, &m->geom, &geom_default);
	if (!bp_geom_valid(&g) || g.rx_buf_size < 2048) {
		reply_error(app, m->hdr.seq, BP_ESIZES,
		            "sizes not acceptable: rings 16..65536 and buffers 2048..65536 bytes, "
		            "powers of two, buffers <= ring slots");
		goto refuse;
	}
	/* memory, not just a count: an area is at most 64 MiB (the control thread populates it),
	 * and quotas.buffers counts 2 KiB units (a 64 KiB buffer is 32 of them) */
	if ((uint64_t)g.rx_bufs * g.rx_buf_size > GW_MAX_AREA ||
	    (uint64_t)g.tx_bufs * g.tx_buf_size > GW_MAX_AREA) {
		reply_error(app, m->hdr.seq, BP_ESIZES,
		            "an RX or TX area may hold at most %u MiB (buffers x buffer size)",
		            (unsigned)(GW_MAX_AREA >> 20));
		goto refuse;
	}
	nbufs = (g.rx_bufs * (g.rx_buf_size / 2048) + g.tx_bufs * (g.tx_buf_size / 2048)) *
	        m->nqueues;
	if (use->bufs + nbufs > t->quota.buffers) {
		reply_error(app, m->hdr.seq, BP_EQUOTA,
		            "tenant '%s' may have %u buffer units of 2 KiB, has %" PRIu64
		            ", asked for %u more",
		            t->name, t->quota.buffers, use->bufs, nbufs);
		goto refuse;
	}

	app->q = rte_zmalloc("gw_chan", sizeof(*app->q) * m->nqueues, RTE_CACHE_LINE_SIZE);
	if (!app->q) {
		reply_error(app, m->hdr.seq, BP_EINTERNAL, "gateway out of memory");
		goto refuse;
	}
	lim = (struct bp_chan_limits){
	        /* what the MTU allows, and what one of our mbufs holds (frames are one segment) */
	        .max_udp_payload = RTE_MIN(gw->cfg->gw.port.mtu - 28u,
	                                   gw->data_room - RTE_PKTMBUF_HEADROOM - STK_UDP_HDRS),
	        .max_frame =
	                RTE_MIN(gw->cfg->gw.port.mtu + 14u, gw->data_room - RTE_PKTMBUF_HEADROOM),
	        .raw = t->raw,
	};
	for (i = 0; i < m->nqueues; i++) {
		ret = bp_chan_create(&app->q[i].c, &g, &lim, i, a->epoch);
		if (ret) {
			while (i--) {
				bp_chan_destroy(&app->q[i].c);
				rte_free(app->q[i].txz);
				gw_tcp_chan_free(&app->q[i]);
			}
			rte_free(app->q);
			app->q = NULL;
			reply_error(app, m->hdr.seq, BP_EINTERNAL, "channel memory: %s",
			            strerror(-ret));
			goto refuse;
		}
		app->q[i].app = app;
		app->q[i].queue = i;
		/* a queue may hold as many connections as the tenant may have in all */
		ret = gw_tcp_chan_alloc(&app->q[i], t->quota.connections);
		if (ret) {
			bp_chan_destroy(&app->q[i].c);
			while (i--) {
				bp_chan_destroy(&app->q[i].c);
				rte_free(app->q[i].txz);
				gw_tcp_chan_free(&app->q[i]);
			}
			rte_free(app->q);
			app->q = NULL;
			reply_error(app, m->hdr.seq, BP_EINTERNAL, "TCP state: %s", strerror(-ret));
			goto refuse;
		}
		if (gw->txz_min) {
			/* best effort: without it this queue copies */
			app->q[i].txz = rte_zmalloc("gw_txz", sizeof(struct gw_txz) * g.tx_bufs,
			                            RTE_CACHE_LINE_SIZE);
		}
	}
	app->nqueues = m->nqueues;
	for (i = 0; i < m->nqueues; i++)
		app->q[i].worker = pick_worker(gw);

	bp_ctl_init(&ok, BP_CTL_HELLO_OK, sizeof(ok), m->hdr.seq);
	ok.abi_major = BP_ABI_MAJOR;
	ok.abi_minor = BP_ABI_MINOR;
	ok.nqueues = m->nqueues;
	ok.epoch = a->epoch;
	ok.geom = g;
	ok.max_udp_payload = lim.max_udp_payload;
	ok.max_frame = lim.max_frame;
	ret = bp_sock_send_fds(app->fd, &ok, sizeof(ok), NULL, 0);
	for (i = 0; ret == 0 && i < m->nqueues; i++)
		ret = bp_chan_send(&app->q[i].c, app->fd, m->hdr.seq, app->q[i].worker);
	if (ret) {
		GW_LOG(NOTICE, "channel %u: app went away during attach: %s", app->id,
		       strerror(-ret));
		for (i = 0; i < m->nqueues; i++) {
			bp_chan_destroy(&app->q[i].c);
			rte_free(app->q[i].txz);
			gw_tcp_chan_free(&app->q[i]);
		}
		rte_free(app->q);
		app->q = NULL;
		app->nqueues = 0;
		goto refuse;
	}
	atomic_store_explicit(&app->tenant, t, memory_order_release);
	app->tenant_id = tenant_id(gw, t);
	gw_tcp_set_quota(gw, app->tenant_id, t->quota.connections);
	app->nbufs = nbufs;
	app->state = GW_APP_ATTACHED;
	use->apps++;
	use->queues += m->nqueues;
	use->bufs += nbufs;
	if (qlists_publish(gw)) {
		app_teardown(gw, app, "out of memory publishing its queues");
		return;
	}
	GW_LOG(NOTICE, "channel %u attached: tenant %s app '%s' pid %d uid %u queues %u", app->id,
	       t->name, app->name, (int)app->pid, (unsigned)app->uid, app->nqueues);
	return;
refuse:
	app_teardown(gw, app, "refused");
}

static void
on_bind(struct gw *gw, struct gw_app *app, const struct bp_ctl_bind *m)
{
	const struct pol_tenant *t = app_tenant(app);
	const struct gw_demux *d;
	struct bp_ctl_bind_ok ok;
	uint32_t addr = ntohl(m->addr_be);
	uint16_t port = ntohs(m->port_be);
	char as[16];
	unsigned i = 0, k;

	ipstr(addr, as, sizeof(as));
	if (m->queue >= app->nqueues) {
		reply_error(app, m->hdr.seq, BP_EPROTO, "queue %u: the app has %u", m->queue,
		            app->nqueues);
		return;
	}
	if (m->proto == BP_PROTO_RAW && !t->raw) {
		reply_error(app, m->hdr.seq, BP_ENOTSUP, "tenant '%s' may not use raw frames",
		            t->name);
		return;
	}
	if (m->proto == BP_PROTO_RAW && !app->q[m->queue].c.tx_lim.raw) {
		/* raw was granted by a reload after this app attached: its queues were made
		 * without raw sends */
		reply_error(app, m->hdr.seq, BP_ENOTSUP,
		            "tenant '%s' got raw frames after this app attached: attach again",
		            t->name);
		return;
	}
	if (m->proto != BP_PROTO_UDP && m->proto != BP_PROTO_RAW && m->proto != BP_PROTO_TCP) {
		reply_error(app, m->hdr.seq, BP_ENOTSUP, "protocol %u not supported", m->proto);
		return;
	}
	if (!gw_tenant_has_addr(t, addr)) {
		reply_error(app, m->hdr.seq, BP_EADDRNOTAVAIL,
		            "%s is not an address of tenant '%s'", as, t->name);
		return;
	}
	if (m->proto == BP_PROTO_UDP && !gw_port_in(t->udp, t->n_udp, port)) {
		reply_error(app, m->hdr.seq, BP_EPORT, "UDP port %u is not given to tenant '%s'",
		            port, t->name);
		return;
	}
	if (m->proto == BP_PROTO_TCP && !gw_port_in(t->tcp, t->n_tcp, port)) {
		reply_error(app, m->hdr.seq, BP_EPORT, "TCP port %u is not given to tenant '%s'",
		            port, t->name);
		return;
	}
	if (m->proto == BP_PROTO_RAW)
		port = 0;
	d = atomic_load_explicit(&gw->demux, memory_order_acquire);
	if (d && gw_demux_find(d, addr, port, m->proto)) {
		reply_error(app, m->hdr.seq, BP_EADDRINUSE, "%s %s:%u is already bound",
		            proto_name(m->proto), as, port);
		return;
	}
	/* ids round-robin: descriptors the app queued for an id it just unbound must not go out
	 * from a new binding that got the same id at once */
	for (k = 0; k < BP_MAX_SOCKS; k++) {
		i = (app->next_sock + k) % BP_MAX_SOCKS;
		if (!atomic_load_explicit(&app->socks[i].valid, memory_order_relaxed))
			break;
	}
	if (k == BP_MAX_SOCKS) {
		reply_error(app, m->hdr.seq, BP_EQUOTA, "%u sockets already bound", BP_MAX_SOCKS);
		return;
	}
	app->next_sock = (i + 1) % BP_MAX_SOCKS;
	app->socks[i].proto = m->proto;
	app->socks[i].addr = addr;
	app->socks[i].port = port;
	app->socks[i].queue = m->queue;
	app->socks[i].revoked = false;
	atomic_store_explicit(&app->socks[i].valid, true, memory_order_release);
	if (demux_publish(gw)) {
		atomic_store_explicit(&app->socks[i].valid, false, memory_order_release);
		reply_error(app, m->hdr.seq, BP_EINTERNAL, "gateway out of memory");
		return;
	}
	bp_ctl_init(&ok, BP_CTL_BIND_OK, sizeof(ok), m->hdr.seq);
	ok.sock = i;
	ok.proto = m->proto;
	ok.addr_be = m->addr_be;
	ok.port_be = htons(port);
	(void)bp_sock_send_fds(app->fd, &ok, sizeof(ok), NULL, 0);
	GW_LOG(INFO, "channel %u: bound %s %s:%u to queue %u (socket %u)", app->id,
	       proto_name(m->proto), as, port, m->queue, i);
}

static void
on_unbind(struct gw *gw, struct gw_app *app, const struct bp_ctl_unbind *m)
{
	struct bp_ctl_hdr ok;

	if (m->sock >= BP_MAX_SOCKS ||
	    !atomic_load_explicit(&app->socks[m->sock].valid, memory_order_relaxed)) {
		reply_error(app, m->hdr.seq, BP_EBADSOCK, "socket %u is not bound", m->sock);
		return;
	}
	atomic_store_explicit(&app->socks[m->sock].valid, false, memory_order_release);
	/* After this returns no worker holds the old table: the slot may be reused. */
	if (demux_publish(gw)) {
		/* the old table still delivers to it: it stays bound, the slot stays taken */
		atomic_store_explicit(&app->socks[m->sock].valid, true, memory_order_release);
		reply_error(app, m->hdr.seq, BP_EINTERNAL, "gateway out of memory: still bound");
		return;
	}
	if (app->socks[m->sock].proto == BP_PROTO_TCP)
		gw_tcp_unlisten(gw, &app->q[app->socks[m->sock].queue], m->sock);
	bp_ctl_init(&ok, BP_CTL_OK, sizeof(ok), m->hdr.seq);
	(void)bp_sock_send_fds(app->fd, &ok, sizeof(ok), NULL, 0);
}

/* One message from an app. Everything in it is hostile. */
static void
on_readable(struct gw *gw, struct gw_app *app)
{
	uint8_t buf[sizeof(union bp_ctl_msg)];
	union bp_ctl_msg m;
	enum bp_ctl_err e;
	ssize_t r;

	r = bp_sock_recv_fds(app->fd, buf, sizeof(buf), NULL, NULL, MSG_DONTWAIT);
	if (r == -EAGAIN || r == -EINTR)
		return;
	if (r <= 0) {
		app_teardown(gw, app, r == 0 ? "app hung up" : "control socket error");
		return;
	}
	e = bp_ctl_decode(buf, (size_t)r, BP_CTL_FROM_APP, &m);
	if (e) {
		if (e == BP_CTL_ERR_VERSION || e == BP_CTL_ERR_ABI)
			reply_error(app, m.hdr.seq, bp_ctl_err_code(e),
			            "app speaks ABI %u, the gateway %u.%u",
			            (unsigned)m.hello.abi_major, BP_ABI_MAJOR, BP_ABI_MINOR);
		else
			reply_error(app, m.hdr.seq, bp_ctl_err_code(e), "%s", bp_ctl_err_str(e));
		if (app->state == GW_APP_HELLO)
			app_teardown(gw, app, "bad HELLO");
		return;
	}
	if (app->state == GW_APP_HELLO) {
		if (m.hdr.type != BP_CTL_HELLO) {
			reply_error(app, m.hdr.seq, BP_EPROTO, "HELLO first");
			app_teardown(gw, app, "no HELLO");
		} else {
			on_hello(gw, app, &m.hello);
		}
		return;
	}
	switch (m.hdr.type) {
	case BP_CTL_BIND:
		on_bind(gw, app, &m.bind);
		break;
	case BP_CTL_UNBIND:
		on_unbind(gw, app, &m.unbind);
		break;
	case BP_CTL_BYE:
		app_teardown(gw, app, "app said bye");
		break;
	default:
		reply_error(app, m.hdr.seq, BP_EPROTO, "already attached");
		break;
	}
}

/* Refuse a connection before it holds a slot: read what it sent (so closing does not reset the
 * connection before the app reads our answer), answer, close. Logged at most once a second. */
static void refuse_early(struct gw *gw, int fd, uint32_t uid, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
refuse_early(struct gw *gw, int fd, uint32_t uid, const char *fmt, ...)
{
	static uint64_t last_log;
	uint8_t junk[sizeof(union bp_ctl_msg)];
	struct bp_ctl_error e;
	char msg[BP_ERRMSG_MAX];
	uint64_t now = gw_now_ns(gw);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	bp_ctl_error_init(&e, 0, BP_EBUSY, "%s", msg);
	(void)bp_sock_send_fds(fd, &e, sizeof(e), NULL, 0);
	shutdown(fd, SHUT_WR);
	close(fd);
	if (now - last_log > 1000000000ull) {
		GW_LOG(WARNING, "attach refused: uid %u: %s", uid, msg);
		last_log = now;
	}
}

static void
on_accept(struct gw *gw)
{
	struct gw_apps *a = gw->apps;
	struct gw_app *app, *o;
	uint32_t pid, uid, gid;
	unsigned pending = 0;
	int fd, ret;

	fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* the connection stays queued and the socket readable: stop polling it
			 * for a moment rather than spin */
			a->accept_paused_until = gw_now_ns(gw) + 100000000ull;
			GW_LOG(WARNING, "control socket: accept: %s; pausing 100 ms",
			       strerror(errno));
		}
		return;
	}
	ret = bp_sock_peercred(fd, &pid, &uid, &gid);
	if (ret < 0) {
		GW_LOG(WARNING, "control socket: connection without peer credentials: %s",
		       strerror(-ret));
		close(fd);
		return;
	}
	/* One user cannot crowd others out: few unanswered connections per uid, and a cap in all
	 * (attached apps are bounded by their tenants' quotas). */
	for (o = a->head; o; o = o->next)
		pending += o->state == GW_APP_HELLO && o->uid == uid;
	if (pending >= GW_MAX_PENDING_PER_UID) {
		refuse_early(gw, fd, uid, "uid %u already has %u attaches waiting for HELLO", uid,
		             pending);
		return;
	}
	if (a->napps >= GW_MAX_CONNS) {
		refuse_early(gw, fd, uid, "gateway has %u apps attached or attaching", a->napps);
		return;
	}
	app = rte_zmalloc("gw_app", sizeof(*app), RTE_CACHE_LINE_SIZE);
	if (!app) {
		refuse_early(gw, fd, uid, "gateway out of memory");
		return;
	}
	app->fd = fd;
	app->id = a->next_id++;
	app->state = GW_APP_HELLO;
	app->since_ns = gw_now_ns(gw);
	app->pid = (pid_t)pid;
	app->uid = uid;
	app->gid = gid;
	app->next = a->head;
	a->head = app;
	a->napps++;
}

unsigned
gw_chan_pollfds(struct gw *gw, struct pollfd *pfd, unsigned max)
{
	struct gw_app *app;
	unsigned n = 0;

	if (!gw->apps || max == 0)
		return 0;
	/* fd -1: poll ignores it (accepting paused after running out of fds) */
	pfd[n++] = (struct pollfd){
	        .fd = gw_now_ns(gw) < gw->apps->accept_paused_until ? -1 : gw->apps->lfd,
	        .events = POLLIN};
	for (app = gw->apps->head; app && n < max; app = app->next)
		pfd[n++] = (struct pollfd){.fd = app->fd, .events = POLLIN};
	return n;
}

void
gw_chan_events(struct gw *gw, const struct pollfd *pfd, unsigned n)
{
	struct gw_app *app, *next;
	unsigned i;

	if (!gw->apps || n == 0)
		return;
	/* handle apps first (the list may change), matching fds, not positions */
	for (i = 1; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		for (app = gw->apps->head; app; app = next) {
			next = app->next;
			if (app->fd == pfd[i].fd) {
				on_readable(gw, app);
				break;
			}
		}
	}
	if (pfd[0].revents & POLLIN)
		on_accept(gw);
}

void
gw_chan_heartbeat(struct gw *gw)
{
	struct gw_app *app, *next;
	unsigned i;

	if (!gw->apps)
		return;
	if (gw->apps->zombies)
		zombies_reap(gw);
	/* an app that connects and never says HELLO is dropped */
	for (app = gw->apps->head; app; app = next) {
		next = app->next;
		if (app->state == GW_APP_HELLO &&
		    gw_now_ns(gw) - app->since_ns > GW_HELLO_TIMEOUT_NS)
			app_teardown(gw, app, "no HELLO within 2 s");
	}
	for (app = gw->apps->head; app; app = app->next)
		for (i = 0; app->state == GW_APP_ATTACHED && i < app->nqueues; i++)
			bp_chan_heartbeat(&app->q[i].c);
}

void
gw_chan_log_stats(struct gw *gw, uint32_t level)
{
	struct gw_chan_list l;
	char buf[2048];
	unsigned i, j, k;
	size_t off;

	/* from the snapshot the admin API reads too: the log shows what it would */
	if (gw_chan_list(gw, &l)) {
		GW_LOG(WARNING, "channel counters: out of memory");
		return;
	}
	for (j = 0; j < l.n; j++) {
		const struct gw_chan_info *ci = &l.apps[j];

		for (i = 0; i < ci->nqueues; i++) {
			const struct gw_chan_qinfo *q = &ci->q[i];

			off = 0;
#define APPEND(...)                                                           \
	do {                                                                  \
		int n_ = snprintf(buf + off, sizeof(buf) - off, __VA_ARGS__); \
		if (n_ > 0 && (size_t)n_ < sizeof(buf) - off)                 \
			off += (size_t)n_;                                    \
	} while (0)
			APPEND("tenant=%s pid=%d app=%s queue=%u worker=%u", ci->tenant,
			       (int)ci->pid, ci->name[0] ? ci->name : "-", q->queue, q->worker);
			for (k = 0; k < BP_CHAN_CNT__MAX; k++)
				APPEND(" %s=%" PRIu64, bp_chan_counter_names[k], q->chan[k]);
			for (k = 0; k < GW_CHAN_CNT__MAX; k++)
				APPEND(" %s=%" PRIu64, gw_chan_counter_names[k], q->gw[k]);
			for (k = 1; k < BP_DESC_ERR__MAX; k++)
				APPEND(" %s=%" PRIu64, bp_desc_err_names[k], q->err[k]);
			APPEND(" drops=%" PRIu64, q->drops);
#undef APPEND
			rte_log(level, gw_logtype, "GATEWAY: counters channel%" PRIu64 ": %s\n",
			        ci->id, buf);
		}
	}
	gw_chan_list_free(&l);
}

/* ---- policy changes (reload), eviction, listing: the admin API's view of apps ---- */

/* Put back what phase 1 of reconcile revoked (out of memory publishing the demux). */
static void
reconcile_undo(struct gw *gw)
{
	struct gw_app *app;
	unsigned i;

	for (app = gw->apps->head; app; app = app->next) {
		app->detach = false;
		for (i = 0; app->state == GW_APP_ATTACHED && i < BP_MAX_SOCKS; i++)
			if (app->socks[i].revoked) {
				app->socks[i].revoked = false;
				atomic_store_explicit(&app->socks[i].valid, true,
				                      memory_order_release);
			}
	}
}

int
gw_chan_policy_reconcile(struct gw *gw, const struct pol_policy *p, const struct pol_gen *g)
{
	struct gw_apps *a = gw->apps;
	struct gw_app *app, *next;
	unsigned i, closed = 0, detached = 0;
	char as[16];

	if (!a)
		return 0;
	/* a detached app not yet unpublished (out of memory) may still be read by a worker, and
	 * it points into the policy about to be freed: publish its removal first, or give up */
	for (app = a->zombies; app; app = app->next) {
		if (!app->stuck)
			continue;
		if (demux_publish(gw) || qlists_publish(gw))
			return -ENOMEM;
		app->stuck = false;
	}
	/* 1: decide, and take the sockets that go out of the demux */
	for (app = a->head; app; app = app->next) {
		const struct pol_tenant *nt;

		if (app->state != GW_APP_ATTACHED)
			continue;
		nt = pol_policy_tenant(p, app_tenant(app)->name);
		app->detach = !nt || !gw_tenant_admits(nt, app->uid, app->gid);
		for (i = 0; i < BP_MAX_SOCKS; i++) {
			struct gw_sock *s = &app->socks[i];

			if (!atomic_load_explicit(&s->valid, memory_order_relaxed))
				continue;
			if (app->detach || gw_sock_disallowed(nt, s->proto, s->addr, s->port)) {
				s->revoked = true;
				atomic_store_explicit(&s->valid, false, memory_order_release);
			}
		}
	}
	/* 2: no worker delivers to a revoked socket after this (before any address moves) */
	if (demux_publish(gw)) {
		reconcile_undo(gw);
		return -ENOMEM;
	}
	/* 3: say what closed; detach who is no longer admitted; move the rest to p */
	for (app = a->head; app; app = next) {
		const struct pol_tenant *ot, *nt;

		next = app->next;
		if (app->state != GW_APP_ATTACHED)
			continue;
		ot = app_tenant(app);
		nt = pol_policy_tenant(p, ot->name);
		for (i = 0; i < BP_MAX_SOCKS; i++) {
			struct gw_sock *s = &app->socks[i];

			if (!s->revoked)
				continue;
			s->revoked = false;
			if (app->detach)
				continue;
			if (s->proto == BP_PROTO_TCP)
				gw_tcp_unlisten(gw, &app->q[s->queue], i);
			ipstr(s->addr, as, sizeof(as));
			GW_LOG(NOTICE,
			       "channel %u: socket %u (%s %s:%u) closed by policy reload: %s",
			       app->id, i, proto_name(s->proto), as, s->port,
			       gw_sock_disallowed(nt, s->proto, s->addr, s->port));
			closed++;
		}
		if (app->detach) {
			app->detach = false;
			app_teardown(
			        gw, app,
			        !nt ? "policy reload removed its tenant"
			            : "policy reload: the tenant no longer admits its uid/gid");
			detached++;
			continue;
		}
		atomic_store_explicit(&app->tenant, nt, memory_order_release);
		{
			const struct pol_gen_tenant *gt =
			        pol_gen_tenant_at(g, (unsigned)(nt - p->tenants));
			uint16_t id = gt ? gt->id : app->tenant_id;

			if (id != app->tenant_id) {
				/* ids are kept by name (pol_gen_build): only a move keeps usage
				 * right */
				a->use[id].apps++;
				a->use[id].queues += app->nqueues;
				a->use[id].bufs += app->nbufs;
				a->use[app->tenant_id].apps--;
				a->use[app->tenant_id].queues -= app->nqueues;
				a->use[app->tenant_id].bufs -= app->nbufs;
				app->tenant_id = id;
			}
			gw_tcp_set_quota(gw, app->tenant_id, nt->quota.connections);
		}
	}
	if (closed || detached)
		GW_LOG(NOTICE, "policy reload: %u apps detached, %u sockets closed", detached,
		       closed);
	return 0;
}

int
gw_chan_evict(struct gw *gw, uint64_t id, const char *reason)
{
	struct gw_app *app;
	char why[160];

	if (!gw->apps)
		return -ENOENT;
	for (app = gw->apps->head; app; app = app->next)
		if (app->id == id && app->state == GW_APP_ATTACHED)
			break;
	if (!app)
		return -ENOENT;
	snprintf(why, sizeof(why), "evicted: %s", reason && *reason ? reason : "by the operator");
	app_teardown(gw, app, why);
	return 0;
}

void
gw_chan_list_free(struct gw_chan_list *l)
{
	unsigned i;

	if (!l)
		return;
	for (i = 0; l->apps && i < l->n; i++) {
		free(l->apps[i].q);
		free(l->apps[i].socks);
	}
	free(l->apps);
	l->apps = NULL;
	l->n = 0;
}

int
gw_chan_list(struct gw *gw, struct gw_chan_list *out)
{
	struct gw_app *app;
	unsigned n = 0, i, k, j;

	memset(out, 0, sizeof(*out));
	if (!gw->apps)
		return 0;
	for (app = gw->apps->head; app; app = app->next)
		n += app->state == GW_APP_ATTACHED;
	out->apps = calloc(n ? n : 1, sizeof(*out->apps));
	if (!out->apps)
		return -ENOMEM;
	for (app = gw->apps->head; app; app = app->next) {
		struct gw_chan_info *ci;
		unsigned ns = 0;

		if (app->state != GW_APP_ATTACHED)
			continue;
		ci = &out->apps[out->n++];
		ci->id = app->id;
		snprintf(ci->tenant, sizeof(ci->tenant), "%s", app_tenant(app)->name);
		snprintf(ci->name, sizeof(ci->name), "%s", app->name);
		ci->pid = (int32_t)app->pid;
		ci->uid = (uint32_t)app->uid;
		ci->gid = (uint32_t)app->gid;
		ci->attached_ns = app->since_ns;
		ci->nbufs = app->nbufs;
		ci->nqueues = app->nqueues;
		for (i = 0; i < BP_MAX_SOCKS; i++)
			ns += atomic_load_explicit(&app->socks[i].valid, memory_order_relaxed);
		ci->q = calloc(app->nqueues ? app->nqueues : 1, sizeof(*ci->q));
		ci->socks = calloc(ns ? ns : 1, sizeof(*ci->socks));
		if (!ci->q || !ci->socks) {
			gw_chan_list_free(out);
			return -ENOMEM;
		}
		for (i = 0; i < app->nqueues; i++) {
			const struct gw_chan *q = &app->q[i];
			struct gw_chan_qinfo *qi = &ci->q[i];

			qi->queue = i;
			qi->worker = q->worker;
			for (k = 0; k < BP_CHAN_CNT__MAX; k++)
				qi->chan[k] = __atomic_load_n(&q->c.cnt[k], __ATOMIC_RELAXED);
			for (k = 0; k < GW_CHAN_CNT__MAX; k++)
				qi->gw[k] = __atomic_load_n(&q->cnt[k], __ATOMIC_RELAXED);
			for (k = 0; k < BP_DESC_ERR__MAX; k++)
				qi->err[k] = __atomic_load_n(&q->c.err[k], __ATOMIC_RELAXED);
			qi->drops = bp_chan_drops(&q->c);
		}
		for (i = 0; i < BP_MAX_SOCKS && ci->nsocks < ns; i++) {
			const struct gw_sock *s = &app->socks[i];

			if (!atomic_load_explicit(&s->valid, memory_order_relaxed))
				continue;
			ci->socks[ci->nsocks++] = (struct gw_chan_sinfo){
			        .sock = i,
			        .proto = s->proto,
			        .port = s->port,
			        .addr = s->addr,
			        .queue = s->queue,
			};
		}
	}
	/* the list is newest first: the snapshot is oldest first */
	for (i = 0, j = out->n; i + 1 < j; i++, j--) {
		struct gw_chan_info tmp = out->apps[i];

		out->apps[i] = out->apps[j - 1];
		out->apps[j - 1] = tmp;
	}
	return 0;
}

void
gw_chan_shutdown(struct gw *gw)
{
	struct gw_apps *a = gw->apps;

	if (!a)
		return;
	while (a->head)
		app_teardown(gw, a->head, "gateway stopping");
	if (a->lfd >= 0) {
		close(a->lfd);
		a->lfd = -1;
		if (a->path[0] != '@')
			unlink(a->path);
	}
}

void
gw_chan_fini(struct gw *gw)
{
	struct gw_apps *a = gw->apps;
	struct gw_demux *d;
	unsigned wi;

	if (!a)
		return;
	gw_chan_shutdown(gw);
	/* the port is stopped: whatever it held has been freed (completing zero-copy sends) */
	zombies_reap(gw);
	while (a->zombies) {
		struct gw_app *z = a->zombies;

		a->zombies = z->next;
		if (app_inflight(z) == 0) {
			app_free(z);
		} else {
			GW_LOG(ERR,
			       "channel %u: %u zero-copy sends never completed: memory not freed",
			       z->id, app_inflight(z));
		}
	}
	d = atomic_exchange(&gw->demux, NULL);
	rte_free(d);
	for (wi = 0; gw->workers && wi < gw->n_workers; wi++)
		rte_free(atomic_exchange(&gw->workers[wi].qlist, NULL));
	free(a->use);
	free(a->path);
	free(a);
	gw->apps = NULL;
}
