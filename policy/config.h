/* config.h - the daemon's YAML configuration: static gateway settings and the reloadable policy. */
#ifndef BYPASSD_POLICY_CONFIG_H
#define BYPASSD_POLICY_CONFIG_H

/*
 * A config file has two top-level sections:
 *   gateway:  static settings, read once at start (changing them needs a restart)
 *   policy:   tenants and their rules, hot-reloadable (SIGHUP, admin API)
 * EAL-free: parsed with libyaml, usable by `bypassd --check`, unit tests and the fuzzer.
 * Addresses are host byte order.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define POL_CFG_MAX_ADDRS                16
#define POL_CFG_MAX_EAL_ARGS             64
#define POL_CFG_TX_ZERO_COPY_MIN_DEFAULT 1024

/* One error: where and what. All strings owned by the error list. */
struct pol_cfg_err {
	char *file;
	unsigned line, col; /* 1-based; 0 when unknown (e.g. file unreadable) */
	char *path; /* key path, e.g. "gateway.port.rx_ring" or "policy.tenants[1].ports.udp[0]" */
	char *msg;  /* what was expected and what was found */
};

/* Start with {0}; pol_cfg_errs_clear frees and resets. Loaders append, never clear. */
struct pol_cfg_errs {
	struct pol_cfg_err *v;
	unsigned n, cap;
	unsigned dropped; /* errors that could not be recorded (out of memory); counts as failure */
};

struct pol_cfg_prefix {
	uint32_t addr;
	uint8_t len;
};

struct pol_cfg_port {
	char *device; /* PCI address ("0000:3b:00.0") or vdev string ("net_af_packet0,iface=x") */
	bool is_vdev; /* device names a vdev (starts with "net_") */
	bool has_mac;
	uint8_t mac[6];   /* overrides the port's MAC when has_mac */
	uint16_t rx_ring; /* RX descriptors per queue, power of two, 64..16384 (default 1024) */
	uint16_t tx_ring; /* TX descriptors per queue, power of two, 64..16384 (default 1024) */
	uint32_t mempool; /* mbufs in the pool, 1024..4194304; (2^n - 1 is best; default 16383) */
	uint16_t mempool_cache; /* per-lcore mempool cache, 0..512 (default 256) */
	uint16_t mtu;           /* 68..9000 (default 1500) */
	/* app UDP payloads of at least this many bytes are sent zero-copy (the mbuf points into
	 * the app's TX buffer) where the port allows it; 0 = always copy. docs/performance.md */
	uint16_t tx_zero_copy_min;
};

enum pol_admin_role { POL_ROLE_NONE, POL_ROLE_READ, POL_ROLE_ADMIN };

/* A client certificate subject (RFC 2253, e.g. "CN=ops,O=example") and the role it gets. */
struct pol_cfg_cert_role {
	char *subject;
	enum pol_admin_role role;
};

#define POL_ADMIN_MAX_CERT_ROLES 64
#define POL_ADMIN_SUBJECT_MAX    1024 /* a cert_roles subject, characters */

/* gateway.admin: the REST admin API (address and port are in pol_cfg_gateway). Paths absolute. */
struct pol_cfg_admin {
	bool enabled;             /* default false */
	char *tls_cert, *tls_key; /* PEM server certificate (chain) and key */
	char *client_ca;          /* PEM CA bundle for client certificates (mTLS); NULL = none */
	bool require_client_cert; /* refuse the TLS handshake without a valid client certificate */
	bool plain_http;          /* no TLS: only with a loopback address (default false) */
	char *tokens_file;        /* bearer tokens: "name role sha256hex" lines; NULL = none */
	struct pol_cfg_cert_role *cert_roles;
	unsigned n_cert_roles;
	uint32_t max_body;          /* request body cap, bytes (default 1 MiB) */
	unsigned max_connections;   /* open connections at once (default 64) */
	unsigned idle_timeout_s;    /* silence allowed on a connection (default 10) */
	unsigned request_timeout_s; /* a whole request (head and body) must arrive within (30) */
	char *audit_log;            /* audit lines are appended here too (NULL: the log only) */
};

enum pol_tcp_csum { POL_TCP_CSUM_AUTO, POL_TCP_CSUM_ON, POL_TCP_CSUM_OFF };

/*
 * gateway.tcp: the per-worker TCP engine (stack/tcp.h struct stk_tcp_cfg), static. Every field
 * holds its effective value after a load (defaults filled in, mss and max_time_wait resolved).
 */
struct pol_cfg_tcp {
	unsigned max_connections; /* connection blocks per worker, 16..1048576 (16384) */
	unsigned max_listeners;   /* listening sockets per worker, 1..65536 (1024) */
	uint32_t receive_buffer;  /* advertised window bound per connection, bytes (128 KiB) */
	uint32_t send_buffer;     /* bytes queued per connection, bytes (1 MiB) */
	unsigned mss;             /* MSS advertised and sent, 64..8960 (port.mtu - 40) */
	unsigned syn_backlog;    /* SYN-RECEIVED per listener before SYN cookies, 1..65535 (1024) */
	unsigned max_time_wait;  /* TIME-WAIT blocks per worker, 1..max_connections (half) */
	unsigned time_wait_s;    /* TIME-WAIT (2*MSL), 1..600 (60) */
	unsigned fin_wait2_s;    /* FIN-WAIT-2 idle limit, 1..3600 (60) */
	unsigned initial_rto_ms; /* 1..60000 (1000) */
	unsigned min_rto_ms;     /* 1..60000 (200) */
	unsigned max_rto_ms;     /* 1..600000 (60000) */
	unsigned max_retries;    /* data retransmissions before the connection fails, 1..255 (15) */
	unsigned syn_retries;    /* SYN / SYN-ACK retransmissions, 1..255 (5) */
	unsigned delayed_ack_ms; /* 1..500 (40) */
	unsigned ooo_max;        /* out-of-order segments held per worker, 1..1048576 (4096) */
	unsigned keepalive_idle_s;          /* 1..32767 (7200) */
	unsigned keepalive_interval_s;      /* 1..32767 (75) */
	unsigned keepalive_probes;          /* 1..127 (9) */
	enum pol_tcp_csum checksum_offload; /* (auto) */
	bool keepalive;   /* keepalive on every connection (false, as Linux without SO_KEEPALIVE) */
	bool timestamps;  /* offer RFC 7323 timestamps (true) */
	bool sack;        /* offer SACK-permitted (true) */
	bool syn_cookies; /* SYN cookies when the backlog is full (true); false: drop the SYN */
};

struct pol_cfg_gateway {
	struct pol_cfg_port port;
	char **eal_args; /* extra EAL arguments, in order */
	unsigned n_eal_args;
	unsigned workers; /* worker lcores = RX/TX queue pairs, 1..64 (default 1) */
	/* the gateway's addresses; each prefix is on-link */
	struct pol_cfg_prefix addrs[POL_CFG_MAX_ADDRS];
	unsigned n_addrs;
	bool has_next_hop;
	uint32_t next_hop;    /* default route; must be inside one of addrs */
	char *control_socket; /* unix socket apps attach to (default /run/bypassd/control.sock) */
	char *admin_addr;     /* admin API listen address (default 127.0.0.1) */
	uint16_t admin_port;  /* default 8443 */
	struct pol_cfg_admin admin; /* the rest of gateway.admin (docs/admin-api.md) */
	int log_level;              /* RTE_LOG_* value: emergency=1 .. debug=8 (default info=7) */
	unsigned stats_interval_s;  /* periodic DEBUG counter log, 0 = off (default 10) */
	/* a worker naps this long after empty polls, 0..10000, 0 = busy poll (default) */
	unsigned idle_sleep_us;
	struct {
		unsigned cache_size; /* entries, 16..65536 (default 1024) */
		unsigned timeout_s;  /* entry lifetime, 1..86400 (default 300) */
		unsigned pending;    /* held per worker awaiting resolution, 0..256 (default 64) */
		unsigned pending_timeout_ms; /* 1..60000 (default 3000) */
	} arp;
	struct {
		unsigned echo_rate;     /* replies/s, whole gateway, 0 = unlimited (default 1000) */
		unsigned echo_burst;    /* default 100 */
		unsigned unreach_rate;  /* port-unreachable per second (default 100) */
		unsigned unreach_burst; /* default 10 */
	} icmp;
	struct pol_cfg_tcp tcp;
};

/* The policy section: see policy/policy_model.h for tenants. */
struct pol_policy;

struct pol_cfg {
	char *file; /* the path it was loaded from */
	struct pol_cfg_gateway gw;
	/*
	 * `policy:` is either the policy mapping itself (policy_file NULL) or the path of a
	 * standalone policy file (relative to the config file's directory), which is what SIGHUP
	 * re-reads.
	 */
	char *policy_file;
	struct pol_policy *policy; /* never NULL after a successful load (may have no tenants) */
};

/*
 * Load and validate a config. Returns an owned config, or NULL (errno EINVAL, or the error reading
 * the file) when there was any error; every error found (not only the first) is appended to errs.
 * The caller frees with pol_cfg_free and pol_cfg_errs_clear.
 */
struct pol_cfg *pol_cfg_load_file(const char *path, struct pol_cfg_errs *errs);
/* Same from memory; name is used as the file name in errors. */
struct pol_cfg *pol_cfg_load_buf(const char *name, const char *buf, size_t len,
                                 struct pol_cfg_errs *errs);
void pol_cfg_free(struct pol_cfg *cfg);

/*
 * The policy again, for SIGHUP and the admin API: from cur->policy_file when the config names one,
 * else from the `policy:` section of cur->file (whose `gateway:` section must still be valid).
 * Checked against the running gateway cur->gw (pol_policy_check_against). Returns an owned policy
 * or NULL with every error in errs; cur is not changed. *gateway_changed (may be NULL) is set when
 * the file's `gateway:` section differs from cur->gw: those settings need a restart.
 */
struct pol_policy *pol_cfg_reload_policy(const struct pol_cfg *cur, bool *gateway_changed,
                                         struct pol_cfg_errs *errs);
/* True when two gateway sections hold the same settings. */
bool pol_cfg_gateway_equal(const struct pol_cfg_gateway *a, const struct pol_cfg_gateway *b);

/*
 * Print errors one per line: FILE:LINE:COL: PATH: MSG. When the line is unknown (file unreadable)
 * "FILE: PATH: MSG"; an error about the document as a whole has the path "(document)".
 */
void pol_cfg_errs_print(const struct pol_cfg_errs *errs, FILE *out);
void pol_cfg_errs_clear(struct pol_cfg_errs *errs);
/*
 * Append one error (file, path: copied; line/col 1-based or 0). Never fails: when memory runs out
 * the error is counted in errs->dropped instead. For every front end (YAML, JSON, the gateway's
 * own checks) so all of them report the same way.
 */
void pol_cfg_err_add(struct pol_cfg_errs *errs, const char *file, unsigned line, unsigned col,
                     const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/*
 * A key path under base into buf: "policy" + "tenants[1].rules[0]" -> "policy.tenants[1].rules[0]";
 * an empty or NULL base gives the suffix alone. Truncated to size (always terminated). Returns buf.
 */
const char *pol_cfg_path(char *buf, size_t size, const char *base, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Number of errors, recorded or dropped: a loader failed when this grew. */
unsigned pol_cfg_errs_count(const struct pol_cfg_errs *errs);
/* Sort errs->v[from..] by file (in order of first appearance), line, column; stable. */
void pol_cfg_errs_sort(struct pol_cfg_errs *errs, unsigned from);

/* Names for log levels as in the config ("info"); NULL if out of range. */
const char *pol_cfg_log_level_name(int level);
/* The level for a name ("debug" -> 8), or -EINVAL. */
int pol_cfg_log_level_parse(const char *name);

#endif
