/* config.c - the config file: the static gateway section, the policy section or file, loading. */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_priv.h"

static const char *const top_keys[] = {"gateway", "policy", NULL};
static const char *const gw_keys[] = {
        "port",  "eal_args",  "workers",        "addresses",     "next_hop", "control_socket",
        "admin", "log_level", "stats_interval", "idle_sleep_us", "arp",      "icmp",
        "tcp",   NULL};
static const char *const port_keys[] = {"device",  "mac",           "rx_ring", "tx_ring",
                                        "mempool", "mempool_cache", "mtu",     "tx_zero_copy_min",
                                        NULL};
static const char *const admin_keys[] = {"enabled",
                                         "address",
                                         "port",
                                         "tls",
                                         "plain_http",
                                         "tokens_file",
                                         "cert_roles",
                                         "max_body",
                                         "max_connections",
                                         "idle_timeout",
                                         "request_timeout",
                                         "audit_log",
                                         NULL};
static const char *const admin_tls_keys[] = {"cert", "key", "client_ca", "require_client_cert",
                                             NULL};
static const char *const cert_role_keys[] = {"subject", "role", NULL};
static const char *const role_names[] = {"read", "admin", NULL};
static const char *const arp_keys[] = {"cache_size", "timeout", "pending", "pending_timeout_ms",
                                       NULL};
static const char *const icmp_keys[] = {"echo_rate", "echo_burst", "unreach_rate", "unreach_burst",
                                        NULL};
static const char *const tcp_keys[] = {"max_connections",
                                       "max_listeners",
                                       "receive_buffer",
                                       "send_buffer",
                                       "mss",
                                       "syn_backlog",
                                       "max_time_wait",
                                       "time_wait",
                                       "fin_wait2",
                                       "initial_rto_ms",
                                       "min_rto_ms",
                                       "max_rto_ms",
                                       "max_retries",
                                       "syn_retries",
                                       "delayed_ack_ms",
                                       "ooo_max",
                                       "timestamps",
                                       "sack",
                                       "syn_cookies",
                                       "keepalive",
                                       "checksum_offload",
                                       NULL};
static const char *const tcp_keepalive_keys[] = {"enabled", "idle", "interval", "probes", NULL};
/* enum pol_tcp_csum, in order */
static const char *const tcp_csum_names[] = {"auto", "on", "off", NULL};
/* RTE_LOG_EMERG (1) .. RTE_LOG_DEBUG (8), in order */
static const char *const log_levels[] = {"emergency", "alert", "critical", "error", "warning",
                                         "notice",    "info",  "debug",    NULL};

#define DEFAULT_CONTROL_SOCKET "/run/bypassd/control.sock"
#define DEFAULT_ADMIN_ADDR     "127.0.0.1"
#define SUN_PATH_MAX           107 /* sizeof(sockaddr_un.sun_path) - 1 */

const char *
pol_cfg_log_level_name(int level)
{
	return level >= 1 && level <= 8 ? log_levels[level - 1] : NULL;
}

int
pol_cfg_log_level_parse(const char *name)
{
	int i;

	for (i = 0; name && log_levels[i]; i++)
		if (!strcmp(name, log_levels[i]))
			return i + 1;
	return -EINVAL;
}

/* ---- files ---- */

int
pol_read_file(const char *path, char **bufp, size_t *lenp, struct pol_cfg_errs *errs)
{
	size_t len = 0, cap = 65536;
	char *buf = NULL;
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		pol_cfg_err_add(errs, path, 0, 0, "", "cannot open: %s", strerror(err));
		return -err;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		pol_cfg_err_add(errs, path, 0, 0, "", "cannot read: is a directory");
		close(fd);
		return -EISDIR;
	}
	for (;;) {
		ssize_t n;

		if (!buf || len + 1 >= cap) {
			char *nb;

			if (buf)
				cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (!n)
			break;
		len += (size_t)n;
		if (len > POL_CFG_FILE_MAX) {
			err = EFBIG;
			break;
		}
	}
	close(fd);
	if (err) {
		if (err == EFBIG)
			pol_cfg_err_add(errs, path, 0, 0, "", "cannot read: larger than %u MiB",
			                POL_CFG_FILE_MAX >> 20);
		else
			pol_cfg_err_add(errs, path, 0, 0, "", "cannot read: %s", strerror(err));
		free(buf);
		return -err;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
}

/* ---- the gateway section ---- */

static void
gw_defaults(struct pol_cfg_gateway *gw)
{
	gw->port.rx_ring = 1024;
	gw->port.tx_ring = 1024;
	gw->port.mempool = 16383;
	gw->port.mempool_cache = 256;
	gw->port.mtu = 1500;
	gw->port.tx_zero_copy_min = POL_CFG_TX_ZERO_COPY_MIN_DEFAULT;
	gw->workers = 1;
	gw->admin_port = 8443;
	gw->admin.max_body = 1u << 20;
	gw->admin.max_connections = 64;
	gw->admin.idle_timeout_s = 10;
	gw->admin.request_timeout_s = 30;
	gw->log_level = 7;
	gw->stats_interval_s = 10;
	gw->idle_sleep_us = 0;
	gw->arp.cache_size = 1024;
	gw->arp.timeout_s = 300;
	gw->arp.pending = 64;
	gw->arp.pending_timeout_ms = 3000;
	gw->icmp.echo_rate = 1000;
	gw->icmp.echo_burst = 100;
	gw->icmp.unreach_rate = 100;
	gw->icmp.unreach_burst = 10;
	gw->tcp.max_connections = 16384;
	gw->tcp.max_listeners = 1024;
	gw->tcp.receive_buffer = 128 * 1024;
	gw->tcp.send_buffer = 1024 * 1024;
	gw->tcp.mss = 0; /* port.mtu - 40, once the port is read */
	gw->tcp.syn_backlog = 1024;
	gw->tcp.max_time_wait = 0; /* max_connections / 2, once that is read */
	gw->tcp.time_wait_s = 60;
	gw->tcp.fin_wait2_s = 60;
	gw->tcp.initial_rto_ms = 1000;
	gw->tcp.min_rto_ms = 200;
	gw->tcp.max_rto_ms = 60000;
	gw->tcp.max_retries = 15;
	gw->tcp.syn_retries = 5;
	gw->tcp.delayed_ack_ms = 40;
	gw->tcp.ooo_max = 4096;
	gw->tcp.keepalive = false;
	gw->tcp.keepalive_idle_s = 7200;
	gw->tcp.keepalive_interval_s = 75;
	gw->tcp.keepalive_probes = 9;
	gw->tcp.checksum_offload = POL_TCP_CSUM_AUTO;
	gw->tcp.timestamps = true;
	gw->tcp.sack = true;
	gw->tcp.syn_cookies = true;
}

static void
gw_free(struct pol_cfg_gateway *gw)
{
	unsigned i;

	free(gw->port.device);
	for (i = 0; i < gw->n_eal_args; i++)
		free(gw->eal_args[i]);
	free(gw->eal_args);
	free(gw->control_socket);
	free(gw->admin_addr);
	free(gw->admin.tls_cert);
	free(gw->admin.tls_key);
	free(gw->admin.client_ca);
	free(gw->admin.tokens_file);
	free(gw->admin.audit_log);
	for (i = 0; i < gw->admin.n_cert_roles; i++)
		free(gw->admin.cert_roles[i].subject);
	free(gw->admin.cert_roles);
	memset(gw, 0, sizeof(*gw));
}

static bool
hexn(const char *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* DDDD:BB:DD.F or BB:DD.F, then optional ",devargs"; device 00..1f, function 0..7. */
static bool
pci_ok(const char *s)
{
	const char *p = s;

	if (hexn(p, 4) && p[4] == ':')
		p += 5;
	if (!hexn(p, 2) || p[2] != ':' || !hexn(p + 3, 2) || p[5] != '.' || p[6] < '0' ||
	    p[6] > '7')
		return false;
	if (strtoul((char[3]){p[3], p[4], 0}, NULL, 16) > 0x1f)
		return false;
	return p[7] == '\0' || p[7] == ',';
}

/* "net_" then a driver/instance name [A-Za-z0-9_], then optional ",devargs". */
static bool
vdev_ok(const char *s)
{
	const char *p = s + 4;

	if (strncmp(s, "net_", 4) || !(isalnum((unsigned char)*p) || *p == '_'))
		return false;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	return *p == '\0' || *p == ',';
}

static void
load_device(struct pol_y *y, yaml_node_t *port, struct pol_cfg_port *pc)
{
	yaml_node_t *n = pol_y_need(y, port, "device", "a PCI address or a vdev string");
	size_t at = pol_y_push_key(y, "device");
	char *s = NULL;
	const char *c;

	if (!n || pol_y_str(y, n, 1, 255, &s))
		goto out;
	for (c = s; *c; c++) {
		if (isspace((unsigned char)*c)) {
			pol_y_err(y, n, "expected a device without white space, found '%s'", s);
			goto out;
		}
	}
	if (!strncmp(s, "net_", 4) ? !vdev_ok(s) : !pci_ok(s)) {
		pol_y_err(y, n,
		          "expected a PCI address (DDDD:BB:DD.F or BB:DD.F) or a vdev string "
		          "(net_<driver><n>[,key=value...]), found '%s'",
		          s);
		goto out;
	}
	pc->is_vdev = !strncmp(s, "net_", 4);
	pc->device = s;
	s = NULL;
out:
	free(s);
	pol_y_pop(y, at);
}

static void
load_port(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw)
{
	yaml_node_t *n = pol_y_need(y, gw_node, "port", "the DPDK port: device, rings, mempool");
	struct pol_cfg_port *pc = &gw->port;
	size_t at = pol_y_push_key(y, "port");
	yaml_node_t *v;

	if (!n || !pol_y_map(y, n, port_keys))
		goto out;
	load_device(y, n, pc);
	v = pol_y_get(y, n, "mac");
	if (v) {
		size_t at2 = pol_y_push_key(y, "mac");

		pc->has_mac = !pol_y_mac(y, v, pc->mac);
		pol_y_pop(y, at2);
	}
	pol_y_k_u16(y, n, "rx_ring", 64, 16384, POL_Y_POW2, &pc->rx_ring);
	pol_y_k_u16(y, n, "tx_ring", 64, 16384, POL_Y_POW2, &pc->tx_ring);
	pol_y_k_u32(y, n, "mempool", 1024, 4194304, POL_Y_SI, &pc->mempool);
	pol_y_k_u16(y, n, "mempool_cache", 0, 512, 0, &pc->mempool_cache);
	pol_y_k_u16(y, n, "mtu", 68, 9000, 0, &pc->mtu);
	pol_y_k_u16(y, n, "tx_zero_copy_min", 0, 65535, 0, &pc->tx_zero_copy_min);
out:
	pol_y_pop(y, at);
}

static void
load_eal_args(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw)
{
	yaml_node_t *n = pol_y_get(y, gw_node, "eal_args");
	size_t at = pol_y_push_key(y, "eal_args");
	int cnt = pol_y_seq(y, n, 0, POL_CFG_MAX_EAL_ARGS);
	unsigned i;

	if (cnt > 0) {
		gw->eal_args = calloc((size_t)cnt, sizeof(*gw->eal_args));
		if (!gw->eal_args) {
			pol_y_err(y, n, "out of memory");
			cnt = 0;
		}
	}
	for (i = 0; cnt > 0 && i < (unsigned)cnt; i++) {
		size_t at2 = pol_y_push_idx(y, i);
		char *s = NULL;

		if (!pol_y_str(y, pol_y_item(y, n, i), 1, 4096, &s))
			gw->eal_args[gw->n_eal_args++] = s;
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
}

/*
 * Returns true when no address was lost to a mistake (a duplicate loses nothing): the next-hop and
 * policy checks need them all.
 */
static bool
load_addresses(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw)
{
	yaml_node_t *n =
	        pol_y_need(y, gw_node, "addresses", "the gateway's own a.b.c.d/len, at least one");
	size_t at = pol_y_push_key(y, "addresses");
	bool lost = false;
	unsigned i, j;
	int cnt = n ? pol_y_seq(y, n, 1, POL_CFG_MAX_ADDRS) : -EINVAL;
	for (i = 0; cnt > 0 && i < (unsigned)cnt; i++) {
		yaml_node_t *it = pol_y_item(y, n, i);
		size_t at2 = pol_y_push_idx(y, i);
		struct pol_cfg_prefix *p = &gw->addrs[gw->n_addrs];
		const char *bad;
		char a[16], b[16];

		lost = true; /* until it is known good or a duplicate */
		if (pol_y_prefix(y, it, POL_Y_PFX_IFADDR, &p->addr, &p->len))
			goto next;
		bad = pol_prefix_not_unicast(p->addr, 32);
		if (!bad && p->len == 0)
			bad = "a /0 prefix";
		if (!bad && p->len <= 30 && !(p->addr & ~pol_prefix_mask(p->len)))
			bad = "the network address of its prefix";
		if (!bad && p->len <= 30 && (p->addr | pol_prefix_mask(p->len)) == ~0u)
			bad = "the broadcast address of its prefix";
		if (bad) {
			pol_y_err(y, it, "expected a unicast interface address, found %s/%u (%s)",
			          pol_ipv4_str(p->addr, a), p->len, bad);
			goto next;
		}
		lost = false;
		for (j = 0; j < gw->n_addrs; j++) {
			if (gw->addrs[j].addr == p->addr) {
				pol_y_err(y, it, "duplicate address %s (addresses[%u] is %s/%u)",
				          pol_ipv4_str(p->addr, a), j,
				          pol_ipv4_str(gw->addrs[j].addr, b), gw->addrs[j].len);
				goto next;
			}
		}
		gw->n_addrs++;
	next:
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
	return !lost && cnt > 0;
}

static void
load_next_hop(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw, bool addrs_ok)
{
	yaml_node_t *n = pol_y_get(y, gw_node, "next_hop");
	size_t at = pol_y_push_key(y, "next_hop");
	uint32_t nh;
	unsigned i;
	char a[16], b[16];

	if (!n || pol_y_ipv4(y, n, &nh))
		goto out;
	if (!addrs_ok) /* cannot tell whether it is on-link */
		goto out;
	for (i = 0; i < gw->n_addrs; i++) {
		if (gw->addrs[i].addr == nh) {
			pol_y_err(y, n, "next hop %s is the gateway's own address (addresses[%u])",
			          pol_ipv4_str(nh, a), i);
			goto out;
		}
	}
	for (i = 0; i < gw->n_addrs; i++) {
		const struct pol_cfg_prefix *p = &gw->addrs[i];
		uint32_t m = pol_prefix_mask(p->len);

		if (!pol_prefix_contains(p->addr, p->len, nh))
			continue;
		if (p->len <= 30 && (nh == (p->addr & m) || nh == (p->addr | ~m))) {
			pol_y_err(y, n, "next hop %s is the %s address of %s/%u (addresses[%u])",
			          pol_ipv4_str(nh, a),
			          nh == (p->addr & m) ? "network" : "broadcast",
			          pol_ipv4_str(p->addr & m, b), p->len, i);
			goto out;
		}
		gw->next_hop = nh;
		gw->has_next_hop = true;
		goto out;
	}
	pol_y_err(y, n,
	          "next hop %s is not on-link: expected an address inside one of the gateway's "
	          "prefixes (gateway.addresses)",
	          pol_ipv4_str(nh, a));
out:
	pol_y_pop(y, at);
}

/* path relative to the directory of file (unless absolute); owned. */
static char *relative_to(const char *file, const char *path);

/* A file the admin API reads at start (key: path relative to the config file); must be readable. */
static void
admin_file(struct pol_y *y, yaml_node_t *map, const char *key, bool must_exist, char **out)
{
	yaml_node_t *n = pol_y_get(y, map, key);
	size_t at = pol_y_push_key(y, key);
	char *rel = NULL, *path;

	if (n && !pol_y_str(y, n, 1, 4096, &rel)) {
		path = relative_to(y->file, rel);
		if (!path)
			pol_y_err(y, n, "out of memory");
		else if (must_exist && access(path, R_OK))
			pol_y_err(y, n, "cannot read %s: %s", path, strerror(errno));
		else {
			free(*out);
			*out = path;
			path = NULL;
		}
		free(path);
	}
	free(rel);
	pol_y_pop(y, at);
}

static void
load_cert_roles(struct pol_y *y, yaml_node_t *map, struct pol_cfg_admin *ad)
{
	yaml_node_t *seq = pol_y_get(y, map, "cert_roles");
	size_t at = pol_y_push_key(y, "cert_roles");
	unsigned i, n = pol_y_list_alloc(y, seq, 0, POL_ADMIN_MAX_CERT_ROLES,
	                                 sizeof(*ad->cert_roles), (void **)&ad->cert_roles);

	for (i = 0; i < n; i++) {
		yaml_node_t *it = pol_y_item(y, seq, i);
		size_t at2 = pol_y_push_idx(y, i);
		struct pol_cfg_cert_role *cr = &ad->cert_roles[ad->n_cert_roles];
		int role = -1;

		if (pol_y_map(y, it, cert_role_keys) && !pol_y_is_null(it)) {
			yaml_node_t *s =
			        pol_y_need(y, it, "subject", "a certificate subject, RFC 2253");
			yaml_node_t *r = pol_y_need(y, it, "role", "read or admin");

			if (s)
				pol_y_k_str(y, it, "subject", 1, POL_ADMIN_SUBJECT_MAX,
				            &cr->subject);
			if (r)
				pol_y_k_enum(y, it, "role", role_names, &role);
			if (cr->subject && role >= 0) {
				cr->role = role == 0 ? POL_ROLE_READ : POL_ROLE_ADMIN;
				ad->n_cert_roles++;
			} else {
				free(cr->subject);
				cr->subject = NULL;
			}
		} else if (pol_y_is_null(it)) {
			pol_y_err(y, it, "expected {subject: ..., role: read|admin}, found null");
		}
		pol_y_pop(y, at2);
	}
	pol_y_pop(y, at);
}

static void
load_admin(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw)
{
	yaml_node_t *n = pol_y_get(y, gw_node, "admin"), *v;
	size_t at = pol_y_push_key(y, "admin");
	struct pol_cfg_admin *ad = &gw->admin;
	unsigned before = pol_y_nerr(y);
	uint32_t a = 0x7f000001;

	if (!pol_y_map(y, n, admin_keys))
		goto out;
	pol_y_k_bool(y, n, "enabled", &ad->enabled);
	v = pol_y_get(y, n, "address");
	if (v) {
		size_t at2 = pol_y_push_key(y, "address");

		if (!pol_y_ipv4(y, v, &a))
			pol_y_str(y, v, 7, 15, &gw->admin_addr);
		pol_y_pop(y, at2);
	}
	pol_y_k_u16(y, n, "port", 1, 65535, 0, &gw->admin_port);
	v = pol_y_get(y, n, "tls");
	if (v) {
		size_t at2 = pol_y_push_key(y, "tls");

		if (pol_y_map(y, v, admin_tls_keys)) {
			admin_file(y, v, "cert", ad->enabled, &ad->tls_cert);
			admin_file(y, v, "key", ad->enabled, &ad->tls_key);
			admin_file(y, v, "client_ca", ad->enabled, &ad->client_ca);
			pol_y_k_bool(y, v, "require_client_cert", &ad->require_client_cert);
			if (ad->require_client_cert && !ad->client_ca) {
				size_t at3 = pol_y_push_key(y, "require_client_cert");

				pol_y_err(y, pol_y_get(y, v, "require_client_cert"),
				          "require_client_cert needs tls.client_ca (the CA that "
				          "signs client certificates)");
				pol_y_pop(y, at3);
			}
		}
		pol_y_pop(y, at2);
	}
	pol_y_k_bool(y, n, "plain_http", &ad->plain_http);
	admin_file(y, n, "tokens_file", ad->enabled, &ad->tokens_file);
	load_cert_roles(y, n, ad);
	pol_y_k_u32(y, n, "max_body", 1024, 64u << 20, POL_Y_SI, &ad->max_body);
	pol_y_k_uns(y, n, "max_connections", 1, 4096, 0, &ad->max_connections);
	pol_y_k_uns(y, n, "idle_timeout", 1, 3600, 0, &ad->idle_timeout_s);
	pol_y_k_uns(y, n, "request_timeout", 1, 3600, 0, &ad->request_timeout_s);
	admin_file(y, n, "audit_log", false, &ad->audit_log);
	if (pol_y_nerr(y) != before || !ad->enabled)
		goto out;
	/* checks across keys, for an enabled API whose keys parsed */
	if (ad->plain_http && (a >> 24) != 127) {
		size_t at2 = pol_y_push_key(y, "plain_http");

		pol_y_err(y, pol_y_get(y, n, "plain_http"),
		          "plain HTTP is allowed only on a loopback address (127.0.0.0/8); "
		          "admin.address is %s",
		          gw->admin_addr);
		pol_y_pop(y, at2);
	} else if (ad->plain_http && (ad->tls_cert || ad->client_ca)) {
		size_t at2 = pol_y_push_key(y, "plain_http");

		pol_y_err(y, pol_y_get(y, n, "plain_http"),
		          "plain_http: true and tls: both given; choose one");
		pol_y_pop(y, at2);
	} else if (!ad->plain_http && (!ad->tls_cert || !ad->tls_key)) {
		size_t at2 = pol_y_push_key(y, "tls");

		pol_y_err(y, pol_y_get(y, n, "tls") ? pol_y_get(y, n, "tls") : n,
		          "an enabled admin API needs tls.cert and tls.key (or plain_http: true on "
		          "loopback)");
		pol_y_pop(y, at2);
	}
	if (!ad->tokens_file && !ad->n_cert_roles)
		pol_y_err(y, n,
		          "an enabled admin API needs tokens_file or cert_roles: nobody could "
		          "authenticate");
	else if (ad->n_cert_roles && !ad->client_ca)
		pol_y_err(y, pol_y_get(y, n, "cert_roles"),
		          "cert_roles needs tls.client_ca: client certificates are not asked for");
out:
	pol_y_pop(y, at);
}

static void
load_control_socket(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw)
{
	yaml_node_t *n = pol_y_get(y, gw_node, "control_socket");
	size_t at = pol_y_push_key(y, "control_socket");
	char *s = NULL;

	if (n && !pol_y_str(y, n, 1, SUN_PATH_MAX, &s)) {
		if (s[0] != '/') {
			pol_y_err(y, n, "expected an absolute path, found '%s'", s);
		} else {
			free(gw->control_socket);
			gw->control_socket = s;
			s = NULL;
		}
	}
	free(s);
	pol_y_pop(y, at);
}

static void
load_sub(struct pol_y *y, yaml_node_t *gw_node, const char *key, const char *const *keys,
         void (*fn)(struct pol_y *, yaml_node_t *, struct pol_cfg_gateway *),
         struct pol_cfg_gateway *gw)
{
	yaml_node_t *n = pol_y_get(y, gw_node, key);
	size_t at = pol_y_push_key(y, key);

	if (n && pol_y_map(y, n, keys))
		fn(y, n, gw);
	pol_y_pop(y, at);
}

static void
load_arp(struct pol_y *y, yaml_node_t *n, struct pol_cfg_gateway *gw)
{
	pol_y_k_uns(y, n, "cache_size", 16, 65536, 0, &gw->arp.cache_size);
	pol_y_k_uns(y, n, "timeout", 1, 86400, 0, &gw->arp.timeout_s);
	pol_y_k_uns(y, n, "pending", 0, 256, 0, &gw->arp.pending);
	pol_y_k_uns(y, n, "pending_timeout_ms", 1, 60000, 0, &gw->arp.pending_timeout_ms);
}

static void
load_icmp(struct pol_y *y, yaml_node_t *n, struct pol_cfg_gateway *gw)
{
	pol_y_k_uns(y, n, "echo_rate", 0, 1000000, POL_Y_SI, &gw->icmp.echo_rate);
	pol_y_k_uns(y, n, "echo_burst", 1, 100000, 0, &gw->icmp.echo_burst);
	pol_y_k_uns(y, n, "unreach_rate", 0, 1000000, POL_Y_SI, &gw->icmp.unreach_rate);
	pol_y_k_uns(y, n, "unreach_burst", 1, 100000, 0, &gw->icmp.unreach_burst);
}

/* key of mapping n failed a check across keys: the error at its value, path gateway.tcp.KEY */
static void __attribute__((format(printf, 4, 5)))
tcp_err(struct pol_y *y, yaml_node_t *n, const char *key, const char *fmt, ...)
{
	size_t at = pol_y_push_key(y, key);
	yaml_node_t *v = pol_y_get(y, n, key);
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pol_y_err(y, v ? v : n, "%s", msg);
	pol_y_pop(y, at);
}

static void
load_tcp(struct pol_y *y, yaml_node_t *n, struct pol_cfg_gateway *gw)
{
	struct pol_cfg_tcp *tc = &gw->tcp;
	unsigned before = pol_y_nerr(y);
	yaml_node_t *ka;
	int csum = (int)tc->checksum_offload;

	pol_y_k_uns(y, n, "max_connections", 16, 1u << 20, POL_Y_SI, &tc->max_connections);
	pol_y_k_uns(y, n, "max_listeners", 1, 65536, 0, &tc->max_listeners);
	pol_y_k_u32(y, n, "receive_buffer", 4096, 64u << 20, POL_Y_SI, &tc->receive_buffer);
	pol_y_k_u32(y, n, "send_buffer", 4096, 64u << 20, POL_Y_SI, &tc->send_buffer);
	pol_y_k_uns(y, n, "mss", 64, 8960, 0, &tc->mss);
	pol_y_k_uns(y, n, "syn_backlog", 1, 65535, 0, &tc->syn_backlog);
	pol_y_k_uns(y, n, "max_time_wait", 1, 1u << 20, POL_Y_SI, &tc->max_time_wait);
	pol_y_k_uns(y, n, "time_wait", 1, 600, 0, &tc->time_wait_s);
	pol_y_k_uns(y, n, "fin_wait2", 1, 3600, 0, &tc->fin_wait2_s);
	pol_y_k_uns(y, n, "initial_rto_ms", 1, 60000, 0, &tc->initial_rto_ms);
	pol_y_k_uns(y, n, "min_rto_ms", 1, 60000, 0, &tc->min_rto_ms);
	pol_y_k_uns(y, n, "max_rto_ms", 1, 600000, 0, &tc->max_rto_ms);
	pol_y_k_uns(y, n, "max_retries", 1, 255, 0, &tc->max_retries);
	pol_y_k_uns(y, n, "syn_retries", 1, 255, 0, &tc->syn_retries);
	pol_y_k_uns(y, n, "delayed_ack_ms", 1, 500, 0, &tc->delayed_ack_ms);
	pol_y_k_uns(y, n, "ooo_max", 1, 1u << 20, POL_Y_SI, &tc->ooo_max);
	pol_y_k_bool(y, n, "timestamps", &tc->timestamps);
	pol_y_k_bool(y, n, "sack", &tc->sack);
	pol_y_k_bool(y, n, "syn_cookies", &tc->syn_cookies);
	if (!pol_y_k_enum(y, n, "checksum_offload", tcp_csum_names, &csum))
		tc->checksum_offload = (enum pol_tcp_csum)csum;
	ka = pol_y_get(y, n, "keepalive");
	if (ka) {
		size_t at = pol_y_push_key(y, "keepalive");

		if (pol_y_map(y, ka, tcp_keepalive_keys)) {
			pol_y_k_bool(y, ka, "enabled", &tc->keepalive);
			pol_y_k_uns(y, ka, "idle", 1, 32767, 0, &tc->keepalive_idle_s);
			pol_y_k_uns(y, ka, "interval", 1, 32767, 0, &tc->keepalive_interval_s);
			pol_y_k_uns(y, ka, "probes", 1, 127, 0, &tc->keepalive_probes);
		}
		pol_y_pop(y, at);
	}
	if (pol_y_nerr(y) != before)
		return;
	/* checks across keys, when every key parsed */
	if (tc->min_rto_ms > tc->max_rto_ms)
		tcp_err(y, n, "min_rto_ms", "min_rto_ms %u is above max_rto_ms %u", tc->min_rto_ms,
		        tc->max_rto_ms);
	else if (tc->initial_rto_ms < tc->min_rto_ms || tc->initial_rto_ms > tc->max_rto_ms)
		tcp_err(y, n, "initial_rto_ms",
		        "initial_rto_ms %u is outside min_rto_ms..max_rto_ms (%u..%u)",
		        tc->initial_rto_ms, tc->min_rto_ms, tc->max_rto_ms);
	if (tc->max_time_wait > tc->max_connections)
		tcp_err(y, n, "max_time_wait", "max_time_wait %u is above max_connections %u",
		        tc->max_time_wait, tc->max_connections);
}

/* Defaults that depend on other keys, and checks against other sections: after the port. */
static void
check_tcp(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw)
{
	struct pol_cfg_tcp *tc = &gw->tcp;
	yaml_node_t *n = pol_y_get(y, gw_node, "tcp");
	unsigned mtu_mss = gw->port.mtu > 104 ? gw->port.mtu - 40u : 64u;
	size_t at;

	if (!tc->max_time_wait)
		tc->max_time_wait = tc->max_connections / 2;
	if (!tc->mss) {
		tc->mss = mtu_mss;
		return;
	}
	if (tc->mss <= mtu_mss)
		return;
	at = pol_y_push_key(y, "tcp");
	tcp_err(y, n, "mss",
	        "mss %u does not fit the port's MTU: expected at most %u (port.mtu - 40)", tc->mss,
	        mtu_mss);
	pol_y_pop(y, at);
}

/*
 * Every worker's RX ring is filled from the pool at start, TX rings hold mbufs until the NIC is
 * done, and each lcore's cache can hold more: a smaller pool starves RX at the first burst.
 */
static void
check_mempool(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw)
{
	const struct pol_cfg_port *pc = &gw->port;
	uint64_t need = (uint64_t)gw->workers * (pc->rx_ring + pc->tx_ring) +
	                (uint64_t)(gw->workers + 1) * pc->mempool_cache;
	yaml_node_t *port = pol_y_get(y, gw_node, "port"), *v = pol_y_get(y, port, "mempool");
	size_t at;

	if (pc->mempool >= need)
		return;
	at = pol_y_push_key(y, "port");
	pol_y_push_key(y, "mempool");
	pol_y_err(
	        y, v ? v : port,
	        "mempool of %u mbufs is too small for %u worker(s) with rx_ring %u, tx_ring %u and "
	        "mempool_cache %u: expected at least %llu (workers x (rx_ring + tx_ring) + "
	        "(workers + 1) x mempool_cache)",
	        pc->mempool, gw->workers, pc->rx_ring, pc->tx_ring, pc->mempool_cache,
	        (unsigned long long)need);
	pol_y_pop(y, at);
}

/* A PCI port with --no-pci would never be probed: the gateway would start without a port. */
static void
check_no_pci(struct pol_y *y, yaml_node_t *gw_node, struct pol_cfg_gateway *gw)
{
	yaml_node_t *args = pol_y_get(y, gw_node, "eal_args");
	unsigned i;

	if (!gw->port.device || gw->port.is_vdev)
		return;
	for (i = 0; i < gw->n_eal_args; i++) {
		if (!strcmp(gw->eal_args[i], "--no-pci")) {
			size_t at = pol_y_push_key(y, "eal_args");

			pol_y_push_idx(y, i);
			pol_y_err(y, pol_y_item(y, args, i),
			          "--no-pci with the PCI device %s: the port would never be probed",
			          gw->port.device);
			pol_y_pop(y, at);
			return;
		}
	}
}

/* Returns true when the addresses are good enough to check a policy against. */
static bool
load_gateway(struct pol_y *y, yaml_node_t *n, struct pol_cfg_gateway *gw)
{
	unsigned before = pol_y_nerr(y);
	int lvl = gw->log_level - 1;
	bool addrs_ok;

	load_port(y, n, gw);
	pol_y_k_uns(y, n, "workers", 1, 64, 0, &gw->workers);
	if (pol_y_nerr(y) == before) /* the sizes are known */
		check_mempool(y, n, gw);
	load_eal_args(y, n, gw);
	check_no_pci(y, n, gw);
	addrs_ok = load_addresses(y, n, gw);
	load_next_hop(y, n, gw, addrs_ok);
	load_control_socket(y, n, gw);
	load_admin(y, n, gw);
	if (!pol_y_k_enum(y, n, "log_level", log_levels, &lvl))
		gw->log_level = lvl + 1;
	pol_y_k_uns(y, n, "stats_interval", 0, 86400, 0, &gw->stats_interval_s);
	pol_y_k_uns(y, n, "idle_sleep_us", 0, 10000, 0, &gw->idle_sleep_us);
	load_sub(y, n, "arp", arp_keys, load_arp, gw);
	load_sub(y, n, "icmp", icmp_keys, load_icmp, gw);
	load_sub(y, n, "tcp", tcp_keys, load_tcp, gw);
	check_tcp(y, n, gw);
	return addrs_ok && gw->n_addrs > 0;
}

/* ---- the whole file ---- */

void
pol_cfg_free(struct pol_cfg *cfg)
{
	if (!cfg)
		return;
	gw_free(&cfg->gw);
	pol_policy_free(cfg->policy);
	free(cfg->policy_file);
	free(cfg->file);
	free(cfg);
}

/* path relative to the directory of file (unless absolute); owned. */
static char *
relative_to(const char *file, const char *path)
{
	const char *slash = strrchr(file, '/');
	size_t dir, len;
	char *s;

	if (path[0] == '/' || !slash)
		return strdup(path);
	dir = (size_t)(slash - file) + 1;
	len = strlen(path);
	s = malloc(dir + len + 1);
	if (!s)
		return NULL;
	memcpy(s, file, dir);
	memcpy(s + dir, path, len + 1);
	return s;
}

/*
 * `policy: FILE`: the path relative to the config file's directory, owned; NULL after recording
 * an error when it cannot be read or is not a regular file (a FIFO or /dev/stdin would block).
 */
static char *
policy_file_ref(struct pol_y *y, yaml_node_t *n)
{
	char *rel = NULL, *path;
	struct stat st;

	if (pol_y_str(y, n, 1, 4096, &rel))
		return NULL;
	path = relative_to(y->file, rel);
	free(rel);
	if (!path)
		pol_y_err(y, n, "out of memory");
	else if (access(path, R_OK) || stat(path, &st))
		pol_y_err(y, n, "cannot read the policy file %s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		pol_y_err(y, n, "the policy file %s is not a regular file", path);
	else
		return path;
	free(path);
	return NULL;
}

/*
 * The walk shared by load and reload. Fills cfg (gateway, policy or policy_file); returns true
 * when the gateway addresses can be checked against a policy.
 */
static bool
load_doc(struct pol_y *y, struct pol_cfg *cfg, yaml_node_t *root)
{
	yaml_node_t *gw_node, *pn;
	bool gw_ok = false;
	size_t at;

	if (!root) {
		pol_y_err(y, NULL, "empty document: expected the gateway: and policy: sections");
		return false;
	}
	if (!pol_y_map(y, root, top_keys))
		return false;
	gw_node = pol_y_need(y, root, "gateway", "the static settings: port, addresses, ...");
	at = pol_y_push_key(y, "gateway");
	if (gw_node && pol_y_map(y, gw_node, gw_keys)) {
		if (pol_y_is_null(gw_node))
			pol_y_err(y, gw_node,
			          "expected the gateway settings (port, addresses, ...), "
			          "found an empty value");
		else
			gw_ok = load_gateway(y, gw_node, &cfg->gw);
	}
	pol_y_pop(y, at);

	pn = pol_y_get(y, root, "policy");
	at = pol_y_push_key(y, "policy");
	if (pn && pn->type == YAML_SCALAR_NODE && !pol_y_is_null(pn)) {
		cfg->policy_file = policy_file_ref(y, pn);
	} else {
		cfg->policy = pol_policy_parse(y, pn);
	}
	pol_y_pop(y, at);
	return gw_ok;
}

static struct pol_cfg *
cfg_new(const char *name)
{
	struct pol_cfg *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	gw_defaults(&cfg->gw);
	cfg->file = strdup(name);
	cfg->gw.control_socket = strdup(DEFAULT_CONTROL_SOCKET);
	cfg->gw.admin_addr = strdup(DEFAULT_ADMIN_ADDR);
	if (!cfg->file || !cfg->gw.control_socket || !cfg->gw.admin_addr) {
		pol_cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

struct pol_cfg *
pol_cfg_load_buf(const char *name, const char *buf, size_t len, struct pol_cfg_errs *errs)
{
	unsigned start = pol_cfg_errs_count(errs), from = errs->n;
	struct pol_cfg *cfg = cfg_new(name ? name : "-");
	bool gw_ok = false;
	struct pol_y y;

	if (!cfg) {
		pol_cfg_err_add(errs, name, 0, 0, "", "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (!pol_y_load(&y, cfg->file, buf, len, errs))
		gw_ok = load_doc(&y, cfg, pol_y_root(&y));
	pol_y_fini(&y);

	if (cfg->policy_file) {
		bool failed;

		cfg->policy = pol_policy_read_file(cfg->policy_file, errs, &failed);
		if (failed && pol_cfg_errs_count(errs) == start)
			pol_cfg_err_add(errs, cfg->policy_file, 0, 0, "", "out of memory");
	}
	if (cfg->policy && gw_ok)
		pol_policy_check_against(cfg->policy, &cfg->gw, errs);
	pol_cfg_errs_sort(errs, from);
	if (pol_cfg_errs_count(errs) != start) {
		pol_cfg_free(cfg);
		errno = EINVAL;
		return NULL;
	}
	return cfg;
}

struct pol_cfg *
pol_cfg_load_file(const char *path, struct pol_cfg_errs *errs)
{
	struct pol_cfg *cfg;
	size_t len;
	char *buf;
	int r;

	r = pol_read_file(path, &buf, &len, errs);
	if (r) {
		errno = -r;
		return NULL;
	}
	cfg = pol_cfg_load_buf(path, buf, len, errs);
	r = errno;
	free(buf);
	errno = r;
	return cfg;
}

/* ---- reload ---- */

static bool
streq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool
admin_equal(const struct pol_cfg_admin *a, const struct pol_cfg_admin *b)
{
	unsigned i;

	if (a->enabled != b->enabled || !streq(a->tls_cert, b->tls_cert) ||
	    !streq(a->tls_key, b->tls_key) || !streq(a->client_ca, b->client_ca) ||
	    a->require_client_cert != b->require_client_cert || a->plain_http != b->plain_http ||
	    !streq(a->tokens_file, b->tokens_file) || a->n_cert_roles != b->n_cert_roles ||
	    a->max_body != b->max_body || a->max_connections != b->max_connections ||
	    a->idle_timeout_s != b->idle_timeout_s ||
	    a->request_timeout_s != b->request_timeout_s || !streq(a->audit_log, b->audit_log))
		return false;
	for (i = 0; i < a->n_cert_roles; i++)
		if (!streq(a->cert_roles[i].subject, b->cert_roles[i].subject) ||
		    a->cert_roles[i].role != b->cert_roles[i].role)
			return false;
	return true;
}

static bool
tcp_equal(const struct pol_cfg_tcp *a, const struct pol_cfg_tcp *b)
{
	return a->max_connections == b->max_connections && a->max_listeners == b->max_listeners &&
	       a->receive_buffer == b->receive_buffer && a->send_buffer == b->send_buffer &&
	       a->mss == b->mss && a->syn_backlog == b->syn_backlog &&
	       a->max_time_wait == b->max_time_wait && a->time_wait_s == b->time_wait_s &&
	       a->fin_wait2_s == b->fin_wait2_s && a->initial_rto_ms == b->initial_rto_ms &&
	       a->min_rto_ms == b->min_rto_ms && a->max_rto_ms == b->max_rto_ms &&
	       a->max_retries == b->max_retries && a->syn_retries == b->syn_retries &&
	       a->delayed_ack_ms == b->delayed_ack_ms && a->ooo_max == b->ooo_max &&
	       a->keepalive_idle_s == b->keepalive_idle_s &&
	       a->keepalive_interval_s == b->keepalive_interval_s &&
	       a->keepalive_probes == b->keepalive_probes &&
	       a->checksum_offload == b->checksum_offload && a->keepalive == b->keepalive &&
	       a->timestamps == b->timestamps && a->sack == b->sack &&
	       a->syn_cookies == b->syn_cookies;
}

bool
pol_cfg_gateway_equal(const struct pol_cfg_gateway *a, const struct pol_cfg_gateway *b)
{
	const struct pol_cfg_port *p = &a->port, *q = &b->port;
	unsigned i;

	if (!streq(p->device, q->device) || p->has_mac != q->has_mac ||
	    (p->has_mac && memcmp(p->mac, q->mac, 6)) || p->rx_ring != q->rx_ring ||
	    p->tx_ring != q->tx_ring || p->mempool != q->mempool ||
	    p->mempool_cache != q->mempool_cache || p->mtu != q->mtu ||
	    p->tx_zero_copy_min != q->tx_zero_copy_min)
		return false;
	if (a->n_eal_args != b->n_eal_args || a->workers != b->workers ||
	    a->n_addrs != b->n_addrs || a->has_next_hop != b->has_next_hop ||
	    (a->has_next_hop && a->next_hop != b->next_hop) ||
	    !streq(a->control_socket, b->control_socket) || !streq(a->admin_addr, b->admin_addr) ||
	    a->admin_port != b->admin_port || !admin_equal(&a->admin, &b->admin) ||
	    a->log_level != b->log_level || a->stats_interval_s != b->stats_interval_s ||
	    a->idle_sleep_us != b->idle_sleep_us || memcmp(&a->arp, &b->arp, sizeof(a->arp)) ||
	    memcmp(&a->icmp, &b->icmp, sizeof(a->icmp)) || !tcp_equal(&a->tcp, &b->tcp))
		return false;
	for (i = 0; i < a->n_eal_args; i++)
		if (!streq(a->eal_args[i], b->eal_args[i]))
			return false;
	for (i = 0; i < a->n_addrs; i++)
		if (a->addrs[i].addr != b->addrs[i].addr || a->addrs[i].len != b->addrs[i].len)
			return false;
	return true;
}

struct pol_policy *
pol_cfg_reload_policy(const struct pol_cfg *cur, bool *gateway_changed, struct pol_cfg_errs *errs)
{
	unsigned start = pol_cfg_errs_count(errs), from;
	struct pol_policy *p = NULL;
	struct pol_cfg *fresh;
	bool failed;

	if (gateway_changed)
		*gateway_changed = false;
	if (cur->policy_file) {
		p = pol_policy_read_file(cur->policy_file, errs, &failed);
	} else {
		fresh = pol_cfg_load_file(cur->file, errs);
		if (fresh) {
			if (gateway_changed)
				*gateway_changed = !pol_cfg_gateway_equal(&cur->gw, &fresh->gw);
			/* the policy, inline or (if the file now names one) from its own file */
			p = fresh->policy;
			fresh->policy = NULL;
			pol_cfg_free(fresh);
		}
	}
	if (p) {
		from = errs->n;
		pol_policy_check_against(p, &cur->gw, errs);
		pol_cfg_errs_sort(errs, from);
	}
	if (pol_cfg_errs_count(errs) != start) {
		pol_policy_free(p);
		errno = EINVAL;
		return NULL;
	}
	return p;
}
