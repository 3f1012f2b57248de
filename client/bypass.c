/* bypass.c - libbypass control side: attach handshake, mapping, bind, wait, detach, errors. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bypass_priv.h"
#include "chan.h" /* only for the names of foreach_bp_desc_err */
#include "ctl.h"

static __thread char tls_errmsg[BP_ERRMSG_MAX];

static const char *const bp_err_str[] = {
#define _(n, v, s) [v - BP_ERR_BASE] = s,
        foreach_bp_error(_)
#undef _
};

static const char *const refusal_str[BP_DESC_ERR__MAX] = {
#define _(e, n, h) [BP_DESC_ERR_##e] = n,
        foreach_bp_desc_err(_)
#undef _
};

const char *
bp_strerror(int err)
{
	const char *s;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	if (err >= BP_ERR_BASE && err < BP_ERR_END)
		return bp_err_str[err - BP_ERR_BASE];
	s = strerrordesc_np(err);
	return s ? s : "unknown error";
}

const char *
bp_errmsg(void)
{
	return tls_errmsg;
}

const char *
bp_refusal_str(uint32_t reason)
{
	return reason < BP_DESC_ERR__MAX ? refusal_str[reason] : "unknown";
}

static void
set_errmsg(const char *s)
{
	size_t n = strnlen(s, sizeof(tls_errmsg) - 1);

	memcpy(tls_errmsg, s, n);
	tls_errmsg[n] = 0;
}

uint64_t
bp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

void
bp_attach_opts_init(struct bp_attach_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->spin_us = 50;
	o->timeout_ms = 5000;
}

unsigned
bp_nqueues(const struct bp_handle *h)
{
	return h->nqueues;
}

struct bp_queue *
bp_queue(struct bp_handle *h, unsigned i)
{
	return i < h->nqueues ? &h->q[i] : NULL;
}

int
bp_fd(const struct bp_queue *q)
{
	return q->db;
}

uint32_t
bp_buf_size(const struct bp_queue *q)
{
	return UINT32_C(1) << q->tx_shift;
}

uint32_t
bp_max_udp_payload(const struct bp_queue *q)
{
	return q->h->max_udp;
}

/* ---- control socket ---- */

static int
conn_lost(struct bp_handle *h)
{
	atomic_store(&h->dead, true);
	return -BP_ESHUTDOWN;
}

/*
 * Receive and decode one message from the gateway before the deadline; up to *nfds fds (in:
 * most accepted, out: received, owned by the caller).
 */
static int
ctl_recv(struct bp_handle *h, union bp_ctl_msg *m, int *fds, unsigned *nfds, uint64_t deadline)
{
	uint8_t buf[sizeof(*m)];
	struct pollfd p = {.fd = h->sock, .events = POLLIN};
	unsigned max = *nfds;
	uint64_t now;
	ssize_t r;
	int ms, pr;

	for (;;) {
		now = bp_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		ms = (deadline - now + 999999) / 1000000 > INT_MAX
		             ? INT_MAX
		             : (int)((deadline - now + 999999) / 1000000);
		pr = poll(&p, 1, ms);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr <= 0)
			continue;
		*nfds = max;
		r = bp_sock_recv_fds(h->sock, buf, sizeof(buf), fds, nfds, MSG_DONTWAIT);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r == 0 || r == -ECONNRESET)
			return conn_lost(h);
		if (r < 0)
			return r == -EMSGSIZE || r == -ETOOMANYREFS || r == -EBADMSG ? -BP_EPROTO
			                                                             : (int)r;
		if (bp_ctl_decode(buf, (size_t)r, BP_CTL_FROM_GW, m) != BP_CTL_ERR_OK) {
			while (*nfds)
				close(fds[--*nfds]);
			return -BP_EPROTO;
		}
		return 0;
	}
}

/* One request, one reply (want, or ERROR), under the control lock. */
static int
ctl_call(struct bp_handle *h, void *req, size_t len, uint16_t want, union bp_ctl_msg *rep)
{
	struct bp_ctl_hdr *hdr = req;
	uint64_t deadline;
	unsigned nfds;
	int r;

	tls_errmsg[0] = 0;
	pthread_mutex_lock(&h->ctl_lock);
	if (atomic_load(&h->dead)) {
		r = -BP_ESHUTDOWN;
		goto out;
	}
	hdr->seq = ++h->seq;
	r = bp_sock_send_fds(h->sock, req, len, NULL, 0);
	if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN)
		r = conn_lost(h);
	if (r < 0)
		goto out;
	deadline = bp_now_ns() + (uint64_t)h->timeout_ms * 1000000;
	for (;;) {
		nfds = 0;
		r = ctl_recv(h, rep, NULL, &nfds, deadline);
		if (r < 0)
			goto out;
		if (rep->hdr.seq != hdr->seq) {
			/* a late reply to a request that timed out. A late BIND_OK bound a port
			 * the app was told it did not get: give it back (its OK is late too) */
			if (rep->hdr.type == BP_CTL_BIND_OK) {
				struct bp_ctl_unbind u;

				bp_ctl_init(&u, BP_CTL_UNBIND, sizeof(u), ++h->seq);
				u.sock = rep->bind_ok.sock;
				(void)bp_sock_send_fds(h->sock, &u, sizeof(u), NULL, 0);
			}
			continue;
		}
		if (rep->hdr.type == BP_CTL_ERROR) {
			set_errmsg(rep->error.msg);
			r = -rep->error.code;
		} else {
			r = rep->hdr.type == want ? 0 : -BP_EPROTO;
		}
		goto out;
	}
out:
	pthread_mutex_unlock(&h->ctl_lock);
	return r;
}

/* ---- queues ---- */

static void
queue_unmap(struct bp_queue *q)
{
	if (q->region)
		munmap(q->region, q->region_len);
	if (q->rx_map)
		munmap(q->rx_map, q->rx_len);
	if (q->tx_map)
		munmap(q->tx_map, q->tx_len);
	if (q->db >= 0)
		close(q->db);
	free(q->rx_state);
	free(q->tx_state);
	free(q->tx_free);
	free(q->tstash.d);
	free(q->ustash.d);
	q->tstash.d = q->ustash.d = NULL;
	q->region = q->rx_map = q->tx_map = NULL;
	q->rx_state = q->tx_state = NULL;
	q->tx_free = NULL;
	q->db = -1;
}

static void *
map_fd(int fd, uint64_t size, int prot)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size)
		return NULL;
	p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Map one queue from its QUEUE message; takes ownership of the fds (closed or kept). */
static int
queue_map(struct bp_handle *h, struct bp_queue *q, unsigned i, const struct bp_ctl_queue *m,
          int *fds)
{
	struct bp_ring_shm *shm[BP_RING__MAX];
	struct bp_layout lay;
	struct bp_qhdr *hdr;
	uint32_t k;
	int r = -BP_EPROTO;

	q->h = h;
	q->idx = i;
	q->db = fds[BP_QFD_DOORBELL];
	if (bp_layout(&h->geom, &lay) || m->queue != i || m->region_size != lay.region_size ||
	    m->rx_area_size != lay.rx_area_size || m->tx_area_size != lay.tx_area_size)
		goto out;
	q->region_len = lay.region_size;
	q->rx_len = lay.rx_area_size;
	q->tx_len = lay.tx_area_size;
	q->region = map_fd(fds[BP_QFD_RING], lay.region_size, PROT_READ | PROT_WRITE);
	q->rx_map = map_fd(fds[BP_QFD_RX], lay.rx_area_size, PROT_READ);
	q->tx_map = map_fd(fds[BP_QFD_TX], lay.tx_area_size, PROT_READ | PROT_WRITE);
	if (!q->region || !q->rx_map || !q->tx_map)
		goto out;
	hdr = q->region;
	if (hdr->magic != BP_ABI_MAGIC || hdr->abi_major != BP_ABI_MAJOR || hdr->queue != i ||
	    hdr->epoch != h->epoch || memcmp(&hdr->geom, &h->geom, sizeof(h->geom)))
		goto out;
	/* our own end: its flags are ours alone */
	if (fcntl(q->db, F_SETFL, fcntl(q->db, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	q->hdr = hdr;
	for (k = 0; k < BP_RING__MAX; k++)
		shm[k] = (struct bp_ring_shm *)(void *)((uint8_t *)q->region + lay.ring_off[k]);
	bp_ring_attach_cons(&q->rx, shm[BP_RING_RX], lay.ring_size[BP_RING_RX]);
	bp_ring_attach_prod(&q->done, shm[BP_RING_DONE], lay.ring_size[BP_RING_DONE]);
	bp_ring_attach_prod(&q->tx, shm[BP_RING_TX], lay.ring_size[BP_RING_TX]);
	bp_ring_attach_cons(&q->comp, shm[BP_RING_COMP], lay.ring_size[BP_RING_COMP]);
	q->rx_base = q->rx_map;
	q->tx_base = q->tx_map;
	q->rx_bufs = h->geom.rx_bufs;
	q->tx_bufs = h->geom.tx_bufs;
	q->rx_shift = (uint32_t)__builtin_ctz(h->geom.rx_buf_size);
	q->tx_shift = (uint32_t)__builtin_ctz(h->geom.tx_buf_size);
	q->rx_state = calloc(q->rx_bufs, 1);
	q->tx_state = calloc(q->tx_bufs, 1);
	q->tx_free = malloc(sizeof(uint32_t) * q->tx_bufs);
	q->tstash.cap = q->ustash.cap = h->geom.rx_ring + h->geom.tx_ring;
	q->tstash.d = malloc(sizeof(struct bp_desc) * q->tstash.cap);
	q->ustash.d = malloc(sizeof(struct bp_desc) * q->ustash.cap);
	if (!q->rx_state || !q->tx_state || !q->tx_free || !q->tstash.d || !q->ustash.d) {
		r = -ENOMEM;
		goto out;
	}
	for (k = 0; k < q->tx_bufs; k++)
		q->tx_free[k] = q->tx_bufs - 1 - k;
	q->tx_nfree = q->tx_bufs;
	q->hb_last = atomic_load_explicit(&hdr->heartbeat, memory_order_relaxed);
	q->hb_at_ns = bp_now_ns();
	r = 0;
out:
	for (k = 0; k < BP_QUEUE_NFDS; k++)
		if (k != BP_QFD_DOORBELL)
			close(fds[k]);
	return r;
}

static void
handle_free(struct bp_handle *h)
{
	unsigned i;

	if (h->q) {
		for (i = 0; i < h->nqueues; i++)
			queue_unmap(&h->q[i]);
		free(h->q);
	}
	if (h->sock >= 0)
		close(h->sock);
	pthread_mutex_destroy(&h->ctl_lock);
	free(h);
}

/* Fill a HELLO; checks it with the gateway's own decoder. Returns 0 or a positive error code. */
static int
make_hello(struct bp_ctl_hello *m, const char *tenant, unsigned nqueues,
           const struct bp_attach_opts *o)
{
	const char *app = o->app_name ? o->app_name : program_invocation_short_name;
	union bp_ctl_msg chk;
	enum bp_ctl_err e;
	size_t i;

	bp_ctl_init(m, BP_CTL_HELLO, sizeof(*m), 0);
	m->abi_major = BP_ABI_MAJOR;
	m->abi_minor = BP_ABI_MINOR;
	m->nqueues = nqueues;
	m->geom = (struct bp_geom){
	        .rx_ring = o->rx_ring,
	        .rx_bufs = o->rx_bufs,
	        .rx_buf_size = o->rx_buf_size,
	        .tx_ring = o->tx_ring,
	        .tx_bufs = o->tx_bufs,
	        .tx_buf_size = o->tx_buf_size,
	};
	if (strnlen(tenant, sizeof(m->tenant)) >= sizeof(m->tenant))
		return ENAMETOOLONG;
	memcpy(m->tenant, tenant, strlen(tenant));
	for (i = 0; app && app[i] && i < sizeof(m->app_name) - 1; i++)
		m->app_name[i] = app[i] >= 0x20 && app[i] <= 0x7e ? app[i] : '?';
	e = bp_ctl_decode(m, sizeof(*m), BP_CTL_FROM_APP, &chk);
	if (e) {
		set_errmsg(bp_ctl_err_str(e));
		return e == BP_CTL_ERR_GEOM || e == BP_CTL_ERR_COUNT ? BP_ESIZES : EINVAL;
	}
	return 0;
}

/* Granted sizes must be what was asked for, field by field (the gateway grants or refuses). */
static bool
geom_as_asked(const struct bp_geom *got, const struct bp_geom *want)
{
	return (!want->rx_ring || want->rx_ring == got->rx_ring) &&
	       (!want->rx_bufs || want->rx_bufs == got->rx_bufs) &&
	       (!want->rx_buf_size || want->rx_buf_size == got->rx_buf_size) &&
	       (!want->tx_ring || want->tx_ring == got->tx_ring) &&
	       (!want->tx_bufs || want->tx_bufs == got->tx_bufs) &&
	       (!want->tx_buf_size || want->tx_buf_size == got->tx_buf_size);
}

struct bp_handle *
bp_attach(const char *socket_path, const char *tenant, unsigned nqueues,
          const struct bp_attach_opts *opts)
{
	struct bp_attach_opts dflt;
	struct bp_ctl_hello hello;
	union bp_ctl_msg m;
	struct bp_handle *h;
	uint64_t deadline;
	int fds[BP_QUEUE_NFDS];
	unsigned i, nfds;
	int r;

	tls_errmsg[0] = 0;
	if (!opts) {
		bp_attach_opts_init(&dflt);
		opts = &dflt;
	}
	if (!socket_path || !tenant || nqueues < 1 || nqueues > BP_MAX_QUEUES) {
		errno = EINVAL;
		return NULL;
	}
	r = make_hello(&hello, tenant, nqueues, opts);
	if (r) {
		errno = r;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->sock = -1;
	pthread_mutex_init(&h->ctl_lock, NULL);
	h->spin_us = opts->spin_us;
	h->stall_ms = opts->stall_ms;
	h->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 5000;
	h->seq = 1;
	hello.hdr.seq = h->seq;

	r = bp_sock_connect_ms(socket_path, h->timeout_ms);
	if (r < 0)
		goto fail;
	h->sock = r;
	r = bp_sock_send_fds(h->sock, &hello, sizeof(hello), NULL, 0);
	if (r < 0)
		goto fail;
	deadline = bp_now_ns() + (uint64_t)h->timeout_ms * 1000000;
	nfds = 0;
	r = ctl_recv(h, &m, NULL, &nfds, deadline);
	if (r < 0)
		goto fail;
	if (m.hdr.type == BP_CTL_ERROR) {
		set_errmsg(m.error.msg);
		r = -m.error.code;
		goto fail;
	}
	if (m.hdr.type != BP_CTL_HELLO_OK || m.hdr.seq != hello.hdr.seq ||
	    m.hello_ok.nqueues != nqueues || !geom_as_asked(&m.hello_ok.geom, &hello.geom)) {
		r = -BP_EPROTO;
		goto fail;
	}
	h->epoch = m.hello_ok.epoch;
	h->geom = m.hello_ok.geom;
	h->max_udp = m.hello_ok.max_udp_payload;
	h->max_frame = m.hello_ok.max_frame;

	r = posix_memalign((void **)&h->q, BP_CACHE_LINE, sizeof(*h->q) * nqueues);
	if (r) {
		h->q = NULL;
		r = -r;
		goto fail;
	}
	memset(h->q, 0, sizeof(*h->q) * nqueues);
	for (i = 0; i < nqueues; i++)
		h->q[i].db = -1;
	h->nqueues = nqueues;
	for (i = 0; i < nqueues; i++) {
		nfds = BP_QUEUE_NFDS;
		r = ctl_recv(h, &m, fds, &nfds, deadline);
		if (r < 0)
			goto fail;
		if (m.hdr.type == BP_CTL_ERROR) {
			while (nfds)
				close(fds[--nfds]);
			set_errmsg(m.error.msg);
			r = -m.error.code;
			goto fail;
		}
		if (m.hdr.type != BP_CTL_QUEUE || nfds != BP_QUEUE_NFDS) {
			while (nfds)
				close(fds[--nfds]);
			r = -BP_EPROTO;
			goto fail;
		}
		r = queue_map(h, &h->q[i], i, &m.queue, fds);
		if (r < 0)
			goto fail;
	}
	return h;

fail:
	handle_free(h);
	errno = -r;
	return NULL;
}

void
bp_detach(struct bp_handle *h)
{
	struct bp_ctl_hdr bye;

	if (!h)
		return;
	if (h->sock >= 0 && !atomic_load(&h->dead)) {
		bp_ctl_init(&bye, BP_CTL_BYE, sizeof(bye), ++h->seq);
		(void)send(h->sock, &bye, sizeof(bye), MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	handle_free(h);
}

/* ---- binding ---- */

static int
bind_req(struct bp_queue *q, uint16_t proto, uint32_t addr, uint16_t port)
{
	struct bp_ctl_bind m;
	union bp_ctl_msg rep;
	enum bp_ctl_err e;
	int r;

	bp_ctl_init(&m, BP_CTL_BIND, sizeof(m), 0);
	m.queue = q->idx;
	m.proto = proto;
	m.addr_be = addr;
	m.port_be = port;
	e = bp_ctl_decode(&m, sizeof(m), BP_CTL_FROM_APP, &rep);
	if (e) {
		set_errmsg(bp_ctl_err_str(e));
		return -EINVAL;
	}
	r = ctl_call(q->h, &m, sizeof(m), BP_CTL_BIND_OK, &rep);
	if (r < 0)
		return r;
	if (rep.bind_ok.proto != proto || q->sock_proto[rep.bind_ok.sock])
		return -BP_EPROTO;
	q->sock_proto[rep.bind_ok.sock] = (uint8_t)proto;
	return (int)rep.bind_ok.sock;
}

int
bp_udp_bind(struct bp_queue *q, uint32_t addr, uint16_t port)
{
	return bind_req(q, BP_PROTO_UDP, addr, port);
}

int
bp_tcp_listen(struct bp_queue *q, uint32_t addr, uint16_t port)
{
	return bind_req(q, BP_PROTO_TCP, addr, port);
}

int
bp_raw_bind(struct bp_queue *q, uint32_t addr)
{
	return bind_req(q, BP_PROTO_RAW, addr, 0);
}

int
bp_unbind(struct bp_queue *q, int sock)
{
	struct bp_ctl_unbind m;
	union bp_ctl_msg rep;
	int r;

	if (sock < 0 || sock >= BP_MAX_SOCKS || !q->sock_proto[sock])
		return -BP_EBADSOCK;
	bp_ctl_init(&m, BP_CTL_UNBIND, sizeof(m), 0);
	m.sock = (uint32_t)sock;
	r = ctl_call(q->h, &m, sizeof(m), BP_CTL_OK, &rep);
	if (r == 0 || r == -BP_EBADSOCK)
		q->sock_proto[sock] = 0;
	return r;
}

/* ---- liveness and waiting ---- */

static int
queue_lost(struct bp_queue *q)
{
	q->dead = true;
	return -BP_ESHUTDOWN;
}

int
bp_queue_check_alive(struct bp_queue *q)
{
	struct pollfd p = {.fd = q->db, .events = POLLIN};

	if (q->dead ||
	    atomic_load_explicit(&q->hdr->state, memory_order_acquire) != BP_QSTATE_ACTIVE ||
	    atomic_load_explicit(&q->h->dead, memory_order_relaxed))
		return queue_lost(q);
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
		return queue_lost(q);
	return 0;
}

/* Something to receive, or TX buffers back while none was free. Reaps completions. */
static bool
pending(struct bp_queue *q)
{
	bool starving = q->tx_nfree == 0;
	unsigned back = bp_reap_completions(q);

	return bp_ring_count(&q->rx) || q->tstash.n || q->ustash.n || (starving && back);
}

/* Read every doorbell byte. 0, or -BP_ESHUTDOWN when the gateway's end is gone. */
static int
drain_doorbell(struct bp_queue *q)
{
	char b[16];
	ssize_t r;
	int i;

	for (i = 0; i < 64; i++) {
		r = recv(q->db, b, sizeof(b), MSG_DONTWAIT);
		if (r > 0 || (r < 0 && errno == EINTR))
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return queue_lost(q); /* end of stream or error */
	}
	return 0;
}

static void
disarm(struct bp_queue *q)
{
	bp_ring_disarm(&q->rx);
	bp_ring_disarm(&q->comp);
}

int
bp_arm(struct bp_queue *q)
{
	uint32_t n;
	int r;

	if (pending(q))
		return 1;
	r = drain_doorbell(q);
	if (r == 0)
		r = bp_queue_check_alive(q);
	if (r < 0)
		return r;
	n = bp_ring_arm(&q->rx);
	if (q->tx_nfree == 0 || q->tcp_sends)
		n += bp_ring_arm(&q->comp);
	if (n) {
		disarm(q);
		return 1;
	}
	return 0;
}

/* The heartbeat has not moved for stall_ms (only when the app asked for that check). */
static bool
stalled(struct bp_queue *q, uint64_t now)
{
	uint64_t hb;

	if (!q->h->stall_ms)
		return false;
	hb = atomic_load_explicit(&q->hdr->heartbeat, memory_order_relaxed);
	if (hb != q->hb_last) {
		q->hb_last = hb;
		q->hb_at_ns = now;
		return false;
	}
	return now - q->hb_at_ns > (uint64_t)q->h->stall_ms * 1000000;
}

int
bp_wait(struct bp_queue *q, int timeout_ms)
{
	uint64_t now = bp_now_ns();
	uint64_t end = timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * 1000000;
	uint64_t spin_end = now + (uint64_t)q->h->spin_us * 1000;
	struct pollfd p = {.fd = q->db, .events = POLLIN};
	uint64_t slice;
	int i, r, pr;

	if (pending(q))
		return 1;
	if (q->dead ||
	    atomic_load_explicit(&q->hdr->state, memory_order_relaxed) != BP_QSTATE_ACTIVE)
		return queue_lost(q);
	if (timeout_ms == 0)
		return 0;
	if (spin_end > end)
		spin_end = end;
	while (bp_now_ns() < spin_end) {
		for (i = 0; i < 32; i++) {
			if (pending(q))
				return 1;
			cpu_relax();
		}
		if (atomic_load_explicit(&q->hdr->state, memory_order_relaxed) != BP_QSTATE_ACTIVE)
			return queue_lost(q);
	}
	for (;;) {
		r = bp_arm(q);
		if (r)
			return r;
		now = bp_now_ns();
		if (now >= end) {
			disarm(q);
			return 0;
		}
		slice = (end - now + 999999) / 1000000;
		if (q->h->stall_ms && slice > 50)
			slice = 50;
		if (slice > INT_MAX)
			slice = INT_MAX;
		pr = poll(&p, 1, (int)slice);
		q->st.sleeps++;
		disarm(q);
		if (pr < 0 && errno == EINTR)
			return -EINTR;
		if (pending(q))
			return 1;
		if (pr > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
			return queue_lost(q);
		now = bp_now_ns();
		if (stalled(q, now))
			return queue_lost(q);
		if (now >= end)
			return 0;
	}
}
