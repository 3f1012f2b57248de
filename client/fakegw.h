/* fakegw.h - an in-test gateway built on chan.h/ctl.h: the real handshake and rings, no DPDK. */
#ifndef BYPASSD_CLIENT_FAKEGW_H
#define BYPASSD_CLIENT_FAKEGW_H

/*
 * For client_test only. It speaks the real control protocol over a real unix socket, creates and
 * seals real memfds with bp_chan_create and serves the rings with chan_fp.h, so libbypass is
 * tested end to end. Instead of a NIC its worker is a small UDP switch: a datagram sent to an
 * address/port some attached queue has bound is delivered to that queue (source = the sender's
 * bound address/port); anything else "leaves" (completed, counted in wire).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bypass/bp_abi.h"

struct fakegw_cfg {
	const char *path;    /* control socket */
	const char *tenant;  /* the one tenant it knows */
	uint32_t allow_uid;  /* the uid that tenant admits */
	uint32_t max_queues; /* quota: queues per attachment */
	uint32_t addr_be;    /* the tenant's address */
	uint16_t port_lo;    /* ports given to the tenant, host order, inclusive */
	uint16_t port_hi;
	bool raw;            /* tenant may use raw frames */
	struct bp_geom dflt; /* default geometry */
};

struct fakegw_stats {
	uint64_t delivered; /* datagrams switched into an RX ring */
	uint64_t wire;      /* datagrams to no bound socket */
	uint64_t dropped;   /* no RX room at the destination */
	uint64_t doorbells; /* sum over channels */
	uint64_t desc_errs; /* sum of descriptor drops over channels */
	unsigned attached;  /* attachments now */
};

struct fakegw;

/* Listen and serve (a control thread and a worker thread). NULL on failure. */
struct fakegw *fakegw_start(const struct fakegw_cfg *cfg);
/* Orderly stop: every queue CLOSED and its doorbell shut, sockets closed, threads joined, freed. */
void fakegw_stop(struct fakegw *g);
/* Stop heartbeats, requests and the worker (a hung gateway), or resume. */
void fakegw_freeze(struct fakegw *g, bool frozen);
void fakegw_stats(struct fakegw *g, struct fakegw_stats *st);
/*
 * A datagram "from the network" (src) to a bound address/port: delivered by the worker.
 * Returns 0, or -ENOSPC when too many are pending.
 */
int fakegw_inject(struct fakegw *g, uint32_t dst_be, uint16_t dport_be, uint32_t src_be,
                  uint16_t sport_be, const void *data, uint16_t len);

/* Run a fake gateway in a child process (to kill -9 it). Returns its pid once it accepts. */
pid_t fakegw_spawn(const struct fakegw_cfg *cfg);

#endif
