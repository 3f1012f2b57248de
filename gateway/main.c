/* main.c - bypassd: command line, config, EAL start, workers, the control loop, shutdown. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_version.h>

#include "adm.h"
#include "bp_version.h"
#include "gw.h"
#include "policy_model.h"

RTE_LOG_REGISTER(gw_logtype, bypassd.gateway, INFO);

/* Exit codes: documented in --help and docs/operations.md */
#define EXIT_OK      0
#define EXIT_RUNTIME 1
#define EXIT_CONFIG  2

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: bypassd -c FILE [--check]\n"
	        "       bypassd --version | --help\n"
	        "\n"
	        "bypassd owns a NIC through DPDK, runs the network stack and tenants' policy in a\n"
	        "protected dataplane and hands applications their traffic over shared memory.\n"
	        "\n"
	        "  -c, --config FILE  the YAML configuration (see docs/config.md)\n"
	        "      --check        validate the configuration, print every error, and exit\n"
	        "  -V, --version      print the version and exit\n"
	        "  -h, --help         print this help and exit\n"
	        "\n"
	        "Signals: SIGTERM/SIGINT stop gracefully (a second one forces exit),\n"
	        "         SIGUSR1 logs the counters now, SIGHUP reloads the policy.\n"
	        "Exit status: 0 ok, 1 runtime failure, 2 invalid configuration or usage.\n");
}

/* CPUs this process may run on, as a list for --lcores; returns how many. */
static unsigned
allowed_cpus(unsigned *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned i, n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (i = 0; i < CPU_SETSIZE && n < max; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	return n;
}

static bool
user_set(const struct pol_cfg_gateway *g, const char *const *opts)
{
	unsigned i, j;

	for (i = 0; i < g->n_eal_args; i++)
		for (j = 0; opts[j]; j++)
			if (strncmp(g->eal_args[i], opts[j], strlen(opts[j])) == 0)
				return true;
	return false;
}

/*
 * EAL arguments: lcores (main lcore floats over the allowed CPUs, each worker pinned, spread
 * from the last CPU down), the port's device, then the operator's eal_args verbatim.
 * Returns argc; strings in store (caller frees each).
 */
static int
build_eal_args(const struct pol_cfg *cfg, char **argv, int max, char **store, int *nstore)
{
	const struct pol_cfg_gateway *g = &cfg->gw;
	static const char *const lcore_opts[] = {"-l", "-c", "--lcores", NULL};
	static const char *const tele_opts[] = {"--telemetry", "--no-telemetry", NULL};
	unsigned cpus[CPU_SETSIZE], ncpu, i;
	int argc = 0;
	char buf[4096];
	size_t off;

	argv[argc++] = "bypassd";
	if (!user_set(g, lcore_opts)) {
		ncpu = allowed_cpus(cpus, CPU_SETSIZE);
		if (ncpu == 0)
			return -1;
		off = (size_t)snprintf(buf, sizeof(buf), "--lcores=0@(");
		for (i = 0; i < ncpu && off < sizeof(buf) - 16; i++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%u", i ? "," : "",
			                        cpus[i]);
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, ")");
		for (i = 0; i < g->workers && off < sizeof(buf) - 16; i++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, ",%u@%u", i + 1,
			                        cpus[(ncpu - 1 - (i % ncpu))]);
		store[(*nstore)++] = strdup(buf);
		argv[argc++] = store[*nstore - 1];
	}
	if (g->port.is_vdev) {
		snprintf(buf, sizeof(buf), "--vdev=%s", g->port.device);
		store[(*nstore)++] = strdup(buf);
		argv[argc++] = store[*nstore - 1];
	} else {
		argv[argc++] = "-a";
		argv[argc++] = g->port.device;
	}
	if (!user_set(g, tele_opts))
		argv[argc++] = "--no-telemetry";
	for (i = 0; i < g->n_eal_args && argc < max - 1; i++)
		argv[argc++] = g->eal_args[i];
	argv[argc] = NULL;
	for (i = 0; i < (unsigned)*nstore; i++)
		if (!store[i])
			return -1;
	return argc;
}

static struct gw gw;

/*
 * --check, second half: compile the policy with the real compiler (rte_acl and whatever else a
 * generation holds), which needs EAL memory. EAL starts minimally - no hugepages, no devices, no
 * shared files, quiet - and is torn down again; nothing of the running gateway's is touched.
 * offload: required rules are translated (a rule no NIC can run is an error) but not tried:
 * that needs the port. Returns the exit status.
 */
static int
check_compile(const char *path, const struct pol_cfg *cfg)
{
	unsigned cpus[CPU_SETSIZE], ncpu, i;
	char lcores[4096], *argv[16];
	struct pol_cfg_errs errs = {0};
	struct pol_gen_opts o = {0};
	struct gw_flow_check chk;
	struct pol_gen *g;
	size_t off;
	int argc = 0, rc = EXIT_OK;

	ncpu = allowed_cpus(cpus, CPU_SETSIZE);
	if (!ncpu) {
		fprintf(stderr, "bypassd: --check: no CPU to run on\n");
		return EXIT_RUNTIME;
	}
	off = (size_t)snprintf(lcores, sizeof(lcores), "--lcores=0@(");
	for (i = 0; i < ncpu && off < sizeof(lcores) - 16; i++)
		off += (size_t)snprintf(lcores + off, sizeof(lcores) - off, "%s%u", i ? "," : "",
		                        cpus[i]);
	snprintf(lcores + off, sizeof(lcores) - off, ")");
	argv[argc++] = "bypassd";
	argv[argc++] = lcores;
	argv[argc++] = "--no-huge";
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-shconf";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "-m";
	argv[argc++] = "512";
	argv[argc++] = "--log-level=4"; /* errors only */
	argv[argc] = NULL;
	rte_openlog_stream(stderr);
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "bypassd: --check: cannot start EAL to compile the policy: %s\n",
		        rte_strerror(rte_errno));
		return EXIT_RUNTIME;
	}
	o.n_workers = cfg->gw.workers;
	o.socket_id = -1;
	gw_flow_check_opts(&chk, cfg->policy, &o);
	g = pol_gen_build(cfg->policy, NULL, &o, &errs);
	gw_flow_check_done(&chk);
	if (!g) {
		int e = errno;

		pol_cfg_errs_print(&errs, stderr);
		if (errs.n)
			fprintf(stderr, "bypassd: %s: %u error%s, the policy does not compile\n",
			        path, errs.n, errs.n == 1 ? "" : "s");
		else
			fprintf(stderr, "bypassd: %s: the policy does not compile: %s\n", path,
			        strerror(e));
		rc = errs.n || e == EINVAL ? EXIT_CONFIG : EXIT_RUNTIME;
	} else {
		pol_gen_put(g);
		if (chk.n_required)
			printf("%s: note: %u rule%s with offload: required (%u rte_flow rule%s) not "
			       "verified: that needs the port; bypassd checks them at start and on "
			       "reload\n",
			       path, chk.n_required, chk.n_required == 1 ? "" : "s",
			       chk.n_required_flows, chk.n_required_flows == 1 ? "" : "s");
	}
	pol_cfg_errs_clear(&errs);
	rte_eal_cleanup();
	return rc;
}

/* Wait up to ms for a signal in set; returns the signal, 0 on timeout. */
static int
wait_signal(const sigset_t *set, unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	int sig;

	sig = sigtimedwait(set, NULL, &ts);
	return sig < 0 ? 0 : sig;
}

static int
workers_start(void)
{
	unsigned lcore, i = 0;
	char name[RTE_RING_NAMESIZE];

	gw.workers =
	        rte_zmalloc("gw_workers", sizeof(*gw.workers) * gw.n_workers, RTE_CACHE_LINE_SIZE);
	if (!gw.workers)
		return -ENOMEM;
	uint64_t now = gw_now_ns(&gw);
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		struct gw_worker *w;

		if (i == gw.n_workers)
			break;
		w = &gw.workers[i];
		w->gw = &gw;
		w->id = i;
		w->lcore_id = lcore;
		w->port_id = gw.port_id;
		snprintf(name, sizeof(name), "gw_ctl_tx_%u", i);
		w->ctl_tx = rte_ring_create(name, 256, (int)rte_lcore_to_socket_id(lcore),
		                            RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!w->ctl_tx)
			return -rte_errno;
		snprintf(name, sizeof(name), "gw_handoff_%u", i);
		w->handoff = rte_ring_create(name, 1024, (int)rte_lcore_to_socket_id(lcore),
		                             RING_F_SC_DEQ);
		if (!w->handoff)
			return -rte_errno;
		w->log = gw_log_ring_create(i, (int)rte_lcore_to_socket_id(lcore));
		if (!w->log)
			return -rte_errno;
		stk_lcore_init(&w->stk, gw.ifc, gw.arp, gw.cfg->gw.arp.pending,
		               (uint64_t)gw.cfg->gw.arp.pending_timeout_ms * 1000000ull, now);
		i++;
	}
	{
		int ret = gw_tcp_init(&gw);

		if (ret)
			return ret;
	}
	for (i = 0; i < gw.n_workers; i++) {
		int ret = rte_eal_remote_launch(gw_worker_main, &gw.workers[i],
		                                gw.workers[i].lcore_id);
		if (ret) {
			GW_LOG(ERR, "cannot launch worker %u on lcore %u: %s", i,
			       gw.workers[i].lcore_id, rte_strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Stop workers; a second signal while waiting forces exit. */
static void
workers_stop(const sigset_t *set)
{
	unsigned i;
	bool all;

	atomic_store_explicit(&gw.stop, true, memory_order_release);
	if (!gw.workers)
		return;
	do {
		all = true;
		for (i = 0; i < gw.n_workers; i++)
			if (gw.workers[i].lcore_id &&
			    rte_eal_get_lcore_state(gw.workers[i].lcore_id) == RUNNING &&
			    !atomic_load_explicit(&gw.workers[i].done, memory_order_acquire))
				all = false;
		if (!all) {
			int sig = wait_signal(set, 10);

			if (sig == SIGTERM || sig == SIGINT) {
				GW_LOG(ERR, "second signal %d while stopping: forced exit", sig);
				_exit(128 + sig);
			}
		}
	} while (!all);
	rte_eal_mp_wait_lcore();
}

static void
workers_free(void)
{
	unsigned i, j;
	struct rte_mbuf *m = NULL;

	if (!gw.workers)
		return;
	for (i = 0; i < gw.n_workers; i++) {
		struct gw_worker *w = &gw.workers[i];

		if (w->ctl_tx) {
			while (rte_ring_sc_dequeue(w->ctl_tx, (void **)&m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(w->ctl_tx);
		}
		if (w->handoff) {
			while (rte_ring_sc_dequeue(w->handoff, (void **)&m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(w->handoff);
		}
		rte_ring_free(w->log);
		w->log = NULL;
		for (j = 0; j < w->stk.pending.n; j++)
			rte_pktmbuf_free(w->stk.pending.slot[j].pkt);
		w->stk.pending.n = 0;
	}
	rte_free(gw.workers);
	gw.workers = NULL;
}

static void
log_ready(void)
{
	char addrs[512];
	size_t off = 0;
	unsigned i;

	addrs[0] = '\0';
	for (i = 0; i < gw.cfg->gw.n_addrs && off < sizeof(addrs) - 24; i++) {
		uint32_t a = gw.cfg->gw.addrs[i].addr;

		off += (size_t)snprintf(addrs + off, sizeof(addrs) - off, "%s%u.%u.%u.%u/%u",
		                        i ? "," : "", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
		                        a & 255, gw.cfg->gw.addrs[i].len);
	}
	GW_LOG(NOTICE,
	       "ready: port %u mac " RTE_ETHER_ADDR_PRT_FMT " workers %u addresses %s tenants %u",
	       gw.port_id, RTE_ETHER_ADDR_BYTES(&gw.mac), gw.n_workers, addrs,
	       gw.cfg->policy ? gw.cfg->policy->n_tenants : 0);
}

/* The control loop: signals, app sockets, heartbeats, ARP aging, counters. Returns at
 * SIGTERM/SIGINT. Signals arrive through a signalfd, so they wake the same poll as the apps. */
static void
control_loop(int sfd)
{
	uint64_t last_age = gw_now_ns(&gw), last_stats = last_age, last_hb = last_age, now;
	const uint64_t stats_ns = (uint64_t)gw.cfg->gw.stats_interval_s * 1000000000ull;
	static struct pollfd pfd[1 + 1 + GW_MAX_APPS];
	unsigned garps = 1, n;
	int ret;

	pthread_mutex_lock(&gw.ctl_lock); /* held except while waiting in poll */
	for (;;) {
		pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
		n = gw_chan_pollfds(&gw, pfd + 1, RTE_DIM(pfd) - 1);
		pthread_mutex_unlock(&gw.ctl_lock); /* the admin thread may act while we wait */
		ret = poll(pfd, n + 1, BP_HEARTBEAT_MS / 2);
		pthread_mutex_lock(&gw.ctl_lock);
		if (ret > 0) {
			if (pfd[0].revents & POLLIN) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
						GW_LOG(NOTICE, "signal %u: stopping", si.ssi_signo);
						pthread_mutex_unlock(&gw.ctl_lock);
						return;
					}
					if (si.ssi_signo == SIGUSR1) {
						gw_stats_log(&gw, RTE_LOG_NOTICE);
						gw_chan_log_stats(&gw, RTE_LOG_NOTICE);
						gw_policy_log_stats(&gw, RTE_LOG_NOTICE);
					}
					if (si.ssi_signo == SIGHUP)
						(void)gw_policy_reload(&gw);
				}
			}
			gw_chan_events(&gw, pfd + 1, n);
		}
		now = gw_now_ns(&gw);
		gw_log_drain(&gw, now); /* log: true packets, rate-limited */
		gw_tcp_l7_reap(&gw);    /* generations only long TCP connections still held */
		if (now - last_hb >= BP_HEARTBEAT_MS / 2 * 1000000ull) {
			gw_chan_heartbeat(&gw);
			last_hb = now;
		}
		if (now - last_age >= 1000000000ull) {
			unsigned aged = stk_arp_age(gw.arp, now);

			if (aged)
				GW_LOG(DEBUG, "ARP: %u entries aged out", aged);
			pol_meter_maintain(gw.meter, now);
			last_age = now;
			/* RFC 5227-style: announce three times, a second apart */
			if (garps < 3) {
				gw_send_garp(&gw);
				garps++;
			}
		}
		if (stats_ns && now - last_stats >= stats_ns) {
			gw_stats_log(&gw, RTE_LOG_DEBUG);
			gw_chan_log_stats(&gw, RTE_LOG_DEBUG);
			gw_policy_log_stats(&gw, RTE_LOG_DEBUG);
			last_stats = now;
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check", no_argument, NULL, 'k'},
	        {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check = false;
	struct pol_cfg_errs errs = {0};
	char *eal_argv[POL_CFG_MAX_EAL_ARGS + 16], *store[8] = {0};
	int eal_argc, nstore = 0, opt, ret, rc = EXIT_RUNTIME, i;
	sigset_t set;
	int sfd = -1;

	while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'V':
			printf("bypassd %s (%s)\n", BYPASSD_VERSION, rte_version());
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bypassd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_CONFIG;
	}
	if (!path) {
		fprintf(stderr, "bypassd: no configuration given (-c FILE)\n");
		usage(stderr);
		return EXIT_CONFIG;
	}

	pthread_mutex_init(&gw.ctl_lock, NULL);
	gw.cfg = pol_cfg_load_file(path, &errs);
	if (!gw.cfg) {
		pol_cfg_errs_print(&errs, stderr);
		fprintf(stderr, "bypassd: %s: %u error%s, configuration not valid\n", path, errs.n,
		        errs.n == 1 ? "" : "s");
		pol_cfg_errs_clear(&errs);
		return EXIT_CONFIG;
	}
	if (check) {
		rc = check_compile(path, gw.cfg);
		if (rc == EXIT_OK)
			printf("%s: ok (%u worker%s, %u tenant%s)\n", path, gw.cfg->gw.workers,
			       gw.cfg->gw.workers == 1 ? "" : "s", gw.cfg->policy->n_tenants,
			       gw.cfg->policy->n_tenants == 1 ? "" : "s");
		pol_cfg_free(gw.cfg);
		return rc;
	}

	/* Each attached queue holds fds (doorbell, and the app's control socket): take the hard
	 * limit, not the default soft 1024. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	/* Signals are taken synchronously by the control loop; every thread EAL creates
	 * inherits this mask, so no handler ever runs on a worker. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "bypassd: signalfd: %s\n", strerror(errno));
		goto out_cfg;
	}

	eal_argc = build_eal_args(gw.cfg, eal_argv, (int)RTE_DIM(eal_argv), store, &nstore);
	if (eal_argc < 0) {
		fprintf(stderr, "bypassd: cannot build EAL arguments\n");
		goto out_cfg;
	}
	ret = rte_eal_init(eal_argc, eal_argv);
	if (ret < 0) {
		fprintf(stderr, "bypassd: EAL init failed: %s (EAL args:", rte_strerror(rte_errno));
		for (i = 1; i < eal_argc; i++)
			fprintf(stderr, " %s", eal_argv[i]);
		fprintf(stderr, ")\n");
		goto out_cfg;
	}
	rte_openlog_stream(stderr);
	rte_log_set_level_pattern("bypassd.*", (uint32_t)gw.cfg->gw.log_level);
	GW_LOG(INFO, "bypassd %s on %s, config %s", BYPASSD_VERSION, rte_version(), path);

	gw.tsc_hz = rte_get_tsc_hz();
	gw.ns_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / gw.tsc_hz);
	gw.n_workers = gw.cfg->gw.workers;
	if (rte_lcore_count() < gw.n_workers + 1) {
		GW_LOG(ERR, "%u workers need %u lcores (one main + one per worker), EAL has %u",
		       gw.n_workers, gw.n_workers + 1, rte_lcore_count());
		goto out_eal;
	}
	{
		size_t sz = rte_rcu_qsbr_get_memsize(gw.n_workers);

		gw.rcu = rte_zmalloc("gw_rcu", sz, RTE_CACHE_LINE_SIZE);
		if (!gw.rcu || rte_rcu_qsbr_init(gw.rcu, gw.n_workers)) {
			GW_LOG(ERR, "RCU state for %u workers: out of memory", gw.n_workers);
			goto out_eal;
		}
	}
	gw.arp = stk_arp_create(gw.cfg->gw.arp.cache_size,
	                        (uint64_t)gw.cfg->gw.arp.timeout_s * 1000000000ull);
	if (!gw.arp) {
		GW_LOG(ERR, "ARP table of %u entries: %s", gw.cfg->gw.arp.cache_size,
		       strerror(errno));
		goto out_eal;
	}
	ret = gw_port_init(&gw);
	if (ret)
		goto out_port;
	ret = gw_iface_build(&gw);
	if (ret) {
		GW_LOG(ERR, "interface tables: %s", strerror(-ret));
		goto out_port;
	}
	if (gw_policy_init(&gw)) {
		rc = EXIT_CONFIG; /* the policy does not compile: a config problem */
		goto out_port;
	}
	if (gw_log_init(&gw)) {
		GW_LOG(ERR, "packet log: out of memory");
		goto out_port;
	}
	ret = workers_start();
	if (ret) {
		GW_LOG(ERR, "workers: %s", rte_strerror(-ret));
		goto out_workers;
	}
	ret = gw_chan_init(&gw);
	if (ret)
		goto out_workers;
	/* the admin API: its own thread (not an lcore), started now that there is a gateway */
	ret = adm_start(&gw);
	if (ret)
		goto out_workers;
	/* the admin thread runs: a reload of its own may republish (and free) the interface and
	 * sends through worker 0's single-producer control ring too */
	pthread_mutex_lock(&gw.ctl_lock);
	gw_send_garp(&gw);
	pthread_mutex_unlock(&gw.ctl_lock);
	log_ready();

	control_loop(sfd);
	rc = EXIT_OK;

out_workers:
	adm_stop(); /* no admin request runs from here on */
	/* apps first: they see BP_ESHUTDOWN at once, and teardown needs live workers (RCU) */
	gw_chan_shutdown(&gw);
	workers_stop(&set);
	gw_tcp_fini(&gw); /* before the queues its connections point to go */
	gw_log_fini(&gw); /* the last records and summaries */
	gw_stats_log(&gw, RTE_LOG_NOTICE);
	gw_port_stop(&gw); /* frees what the TX queues held: zero-copy sends complete */
	gw_chan_fini(&gw);
	workers_free();
out_port:
	gw_log_fini(&gw);
	gw_port_fini(&gw);
	gw_policy_fini(&gw);
	gw_iface_free(atomic_exchange(&gw.ifc, NULL));
	stk_arp_destroy(gw.arp);
	gw.arp = NULL;
	rte_free(gw.rcu);
	gw.rcu = NULL;
out_eal:
	GW_LOG(NOTICE, "stopped (exit %d)", rc);
	rte_eal_cleanup();
out_cfg:
	if (sfd >= 0)
		close(sfd);
	for (i = 0; i < nstore; i++)
		free(store[i]);
	pol_cfg_free(gw.cfg);
	return rc;
}
