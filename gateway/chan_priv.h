/* chan_priv.h - attached apps and their queues, gateway side (gateway/ only). */
#ifndef BYPASSD_GATEWAY_CHAN_PRIV_H
#define BYPASSD_GATEWAY_CHAN_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <rte_mbuf.h>

#include "bypass/bp_abi.h"
#include "chan.h"
#include "gw.h"
#include "policy_model.h"

struct gw_app;
struct gw_chan;

/* Zero-copy TX state of one TX buffer: the mbuf's external-buffer info lives here, in gateway
 * memory, never in the app's (the app could rewrite a refcount or a callback). */
struct gw_txz {
	struct rte_mbuf_ext_shared_info sh;
	struct gw_chan *ch;
	struct bp_desc d; /* the completion to post when the port lets go */
};

/* One app queue: the channel (worker-owned fast-path state) and who serves it. */
struct gw_chan {
	struct bp_chan c;
	struct gw_app *app;
	unsigned queue;
	unsigned worker;
	uint64_t cnt[GW_CHAN_CNT__MAX];
	struct gw_txz *txz;       /* one per TX buffer when zero-copy TX is on, else NULL */
	atomic_uint txz_inflight; /* zero-copy sends the port still holds */
	struct gw_tcp_chan *tcp;  /* TCP state (stream.h): its worker's only */
	atomic_bool tcp_busy;     /* the worker holds TCP state of this queue (cleared on DETACH) */
	bool tcp_detach_sent;     /* control thread: DETACH queued to the worker */
} __rte_cache_aligned;

/* A bound socket. Written by the control thread, read by workers: `valid` is stored last
 * (release) and read first (acquire); a slot is reused only after an RCU grace period. */
struct gw_sock {
	atomic_bool valid;
	uint16_t proto; /* BP_PROTO_* */
	uint16_t port;  /* host order, 0 for raw */
	uint32_t addr;  /* host order */
	uint32_t queue;
	bool revoked; /* control thread only: a policy change is closing it (reconcile) */
};

enum gw_app_state { GW_APP_HELLO, GW_APP_ATTACHED };

/* One attached app (one control connection). Control thread owns it; workers read socks[]. */
struct gw_app {
	struct gw_app *next;
	unsigned id; /* channel id in logs, counters and the admin API */
	enum gw_app_state state;
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char name[BP_NAME_MAX];
	/* In the current policy (gw->cfg->policy); moved to the new policy's tenant when a reload
	 * publishes (gw_chan_policy_reconcile), so a replaced policy is freed at once. Workers read
	 * it (raw checks): release store, acquire load, the old one freed after a grace period. */
	const struct pol_tenant *_Atomic tenant;
	uint16_t tenant_id; /* stable tenant id (pol_gen): the key of its quota usage */
	bool detach;        /* reconcile: the new policy no longer admits it */
	unsigned nqueues;
	uint32_t nbufs;    /* RX + TX buffers over all queues: counted against the tenant's quota */
	struct gw_chan *q; /* nqueues, rte_zmalloc'd */
	uint64_t since_ns; /* connected, or detached (zombie) */
	bool stuck;        /* detached but not unpublished yet (out of memory): retried */
	bool warned;
	unsigned next_sock; /* socket ids are handed out round-robin */
	struct gw_sock socks[BP_MAX_SOCKS];
};

/* Per-tenant usage, for quotas. */
struct gw_tenant_use {
	unsigned apps, queues;
	uint64_t bufs;
};

struct gw_apps {
	int lfd;
	char *path;
	uint64_t epoch;
	unsigned next_id;
	unsigned napps;
	struct gw_app *head;
	struct gw_app *zombies;    /* detached, memory still held by zero-copy sends in the port */
	struct gw_tenant_use *use; /* by stable tenant id, 0..POL_TENANT_ID_MAX */
	unsigned next_worker;      /* round-robin queue placement */
	uint64_t accept_paused_until; /* ns: out of fds, try accepting again then */
};

/* Slot of (addr, port, proto) in the demux table (chan.c builds it, chan_fp.c reads it). */
static inline uint32_t
gw_demux_hash(uint32_t addr, uint16_t port, uint16_t proto)
{
	uint32_t h = addr * 2654435761u ^ ((uint32_t)port << 16 | proto) * 40503u;

	return h ^ h >> 15;
}

/* The entry for (addr, port, proto) in a published demux table, or NULL. */
const struct gw_demux_ent *gw_demux_find(const struct gw_demux *d, uint32_t addr, uint16_t port,
                                         uint16_t proto);

/* true when addr (host order) is inside one of the tenant's addresses or prefixes */
static inline bool
gw_tenant_has_addr(const struct pol_tenant *t, uint32_t addr)
{
	unsigned i;

	for (i = 0; i < t->n_addrs; i++) {
		uint32_t mask = t->addrs[i].len ? ~0u << (32 - t->addrs[i].len) : 0;

		if ((addr & mask) == t->addrs[i].addr)
			return true;
	}
	return false;
}

/* true when port is in one of the ranges r[0..n-1] */
static inline bool
gw_port_in(const struct pol_port_range *r, unsigned n, uint16_t port)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (port >= r[i].lo && port <= r[i].hi)
			return true;
	return false;
}

/* true when the tenant admits an app of this uid or gid (SO_PEERCRED) */
static inline bool
gw_tenant_admits(const struct pol_tenant *t, uint32_t uid, uint32_t gid)
{
	unsigned i;

	for (i = 0; i < t->n_uids; i++)
		if (t->uids[i] == uid)
			return true;
	for (i = 0; i < t->n_gids; i++)
		if (t->gids[i] == gid)
			return true;
	return false;
}

/* Why tenant t does not allow a socket (proto BP_PROTO_*, addr, port host order), or NULL when it
 * does: what a reload checks for every bound socket. */
static inline const char *
gw_sock_disallowed(const struct pol_tenant *t, uint16_t proto, uint32_t addr, uint16_t port)
{
	if (!gw_tenant_has_addr(t, addr))
		return "the address is no longer the tenant's";
	if (proto == BP_PROTO_RAW && !t->raw)
		return "the tenant may no longer use raw frames";
	if (proto == BP_PROTO_UDP && !gw_port_in(t->udp, t->n_udp, port))
		return "the port is no longer given to the tenant";
	if (proto == BP_PROTO_TCP && !gw_port_in(t->tcp, t->n_tcp, port))
		return "the port is no longer given to the tenant";
	return NULL;
}

#endif
