/* chan.c - gateway side of a queue, control thread: memfds, sealing, handover, teardown. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "ctl.h"

const char *const bp_desc_err_names[BP_DESC_ERR__MAX] = {
#define _(e, n, h) [BP_DESC_ERR_##e] = n,
        foreach_bp_desc_err(_)
#undef _
};

const char *const bp_desc_err_help[BP_DESC_ERR__MAX] = {
#define _(e, n, h) [BP_DESC_ERR_##e] = h,
        foreach_bp_desc_err(_)
#undef _
};

const char *const bp_chan_counter_names[BP_CHAN_CNT__MAX] = {
#define _(e, n, h) [BP_CHAN_CNT_##e] = n,
        foreach_bp_chan_counter(_)
#undef _
};

/* Seals every area gets: the app can neither shrink it (SIGBUS in the gateway) nor grow it. */
#define SEALS_ALL (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static int
make_area(const char *what, uint32_t queue, uint64_t size, int prot, void **map)
{
	char name[32];
	int fd, err;
	void *p;

	snprintf(name, sizeof(name), "bypassd-q%u-%s", queue, what);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	p = mmap(NULL, size, prot, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	*map = p;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

static int
pool_init(struct bp_bufpool *p, uint32_t n, bool with_free)
{
	uint32_t i;

	p->n = n;
	p->held = calloc((n + 63) / 64, sizeof(uint64_t));
	if (!p->held)
		return -ENOMEM;
	if (!with_free)
		return 0;
	p->free = malloc(sizeof(uint32_t) * n);
	if (!p->free)
		return -ENOMEM;
	/* stack: buffer 0 on top, so buffers are used in order (easier to read in tests/dumps) */
	for (i = 0; i < n; i++)
		p->free[i] = n - 1 - i;
	p->nfree = n;
	return 0;
}

static void
pool_free(struct bp_bufpool *p)
{
	free(p->free);
	free(p->held);
	memset(p, 0, sizeof(*p));
}

int
bp_chan_create(struct bp_chan *c, const struct bp_geom *g, const struct bp_chan_limits *lim,
               uint32_t queue, uint64_t epoch)
{
	struct bp_ring_shm *shm[BP_RING__MAX];
	void *rx = NULL, *tx = NULL;
	int sv[2], i, ret;

	memset(c, 0, sizeof(*c));
	c->db = -1;
	for (i = 0; i < BP_QUEUE_NFDS; i++)
		c->app_fd[i] = -1;
	if (bp_layout(g, &c->lay))
		return -EINVAL;
	c->geom = *g;
	c->queue = queue;
	c->epoch = epoch;

	ret = make_area("ring", queue, c->lay.region_size, PROT_READ | PROT_WRITE, &c->region);
	if (ret < 0)
		goto fail;
	c->app_fd[BP_QFD_RING] = ret;
	ret = make_area("rx", queue, c->lay.rx_area_size, PROT_READ | PROT_WRITE, &rx);
	if (ret < 0)
		goto fail;
	c->app_fd[BP_QFD_RX] = ret;
	c->rx_area = rx;
	ret = make_area("tx", queue, c->lay.tx_area_size, PROT_READ, &tx);
	if (ret < 0)
		goto fail;
	c->app_fd[BP_QFD_TX] = ret;
	c->tx_area = tx;

	/* After this no new writable mapping of the RX area is possible (ours stays writable). */
	if (fcntl(c->app_fd[BP_QFD_RING], F_ADD_SEALS, SEALS_ALL) < 0 ||
	    fcntl(c->app_fd[BP_QFD_TX], F_ADD_SEALS, SEALS_ALL) < 0 ||
	    fcntl(c->app_fd[BP_QFD_RX], F_ADD_SEALS, SEALS_ALL | F_SEAL_FUTURE_WRITE) < 0) {
		ret = -errno;
		goto fail;
	}

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
		ret = -errno;
		goto fail;
	}
	c->db = sv[0];
	c->app_fd[BP_QFD_DOORBELL] = sv[1];

	ret = pool_init(&c->rxpool, g->rx_bufs, true);
	if (ret)
		goto fail;
	ret = pool_init(&c->txpool, g->tx_bufs, false);
	if (ret)
		goto fail;
	c->tx_lim = (struct bp_desc_limits){
	        .nbufs = g->tx_bufs,
	        .buf_size = g->tx_buf_size,
	        .max_udp = lim->max_udp_payload,
	        .max_frame = lim->max_frame,
	        .raw = lim->raw,
	};
	c->done_lim = (struct bp_desc_limits){.nbufs = g->rx_bufs, .buf_size = g->rx_buf_size};

	c->hdr = c->region;
	c->hdr->magic = BP_ABI_MAGIC;
	c->hdr->abi_major = BP_ABI_MAJOR;
	c->hdr->abi_minor = BP_ABI_MINOR;
	c->hdr->hdr_size = sizeof(struct bp_qhdr);
	c->hdr->queue = queue;
	c->hdr->epoch = epoch;
	c->hdr->geom = *g;
	c->hdr->region_size = c->lay.region_size;
	for (i = 0; i < BP_RING__MAX; i++) {
		c->hdr->ring_off[i] = c->lay.ring_off[i];
		shm[i] = (struct bp_ring_shm *)(void *)((uint8_t *)c->region + c->lay.ring_off[i]);
		bp_ring_format(shm[i], 0);
	}
	bp_ring_attach_prod(&c->rx, shm[BP_RING_RX], c->lay.ring_size[BP_RING_RX]);
	bp_ring_attach_cons(&c->done, shm[BP_RING_DONE], c->lay.ring_size[BP_RING_DONE]);
	bp_ring_attach_cons(&c->tx, shm[BP_RING_TX], c->lay.ring_size[BP_RING_TX]);
	bp_ring_attach_prod(&c->comp, shm[BP_RING_COMP], c->lay.ring_size[BP_RING_COMP]);
	atomic_store_explicit(&c->hdr->heartbeat, 1, memory_order_relaxed);
	atomic_store_explicit(&c->hdr->state, BP_QSTATE_ACTIVE, memory_order_release);
	return 0;

fail:
	bp_chan_destroy(c);
	return ret;
}

int
bp_chan_send(struct bp_chan *c, int sock, uint32_t seq, uint32_t worker)
{
	struct bp_ctl_queue m;
	int i, ret = -EBADF;

	bp_ctl_init(&m, BP_CTL_QUEUE, sizeof(m), seq);
	m.queue = c->queue;
	m.nfds = BP_QUEUE_NFDS;
	m.region_size = c->lay.region_size;
	m.rx_area_size = c->lay.rx_area_size;
	m.tx_area_size = c->lay.tx_area_size;
	m.worker = worker;
	if (c->app_fd[0] >= 0)
		ret = bp_sock_send_fds(sock, &m, sizeof(m), c->app_fd, BP_QUEUE_NFDS);
	for (i = 0; i < BP_QUEUE_NFDS; i++) {
		if (c->app_fd[i] >= 0)
			close(c->app_fd[i]);
		c->app_fd[i] = -1;
	}
	return ret;
}

void
bp_chan_heartbeat(struct bp_chan *c)
{
	if (c->hdr)
		atomic_fetch_add_explicit(&c->hdr->heartbeat, 1, memory_order_relaxed);
}

void
bp_chan_close(struct bp_chan *c)
{
	if (c->hdr)
		atomic_store_explicit(&c->hdr->state, BP_QSTATE_CLOSED, memory_order_release);
	/* the app's end sees POLLHUP; our fd number stays valid for a worker still sending */
	if (c->db >= 0)
		shutdown(c->db, SHUT_RDWR);
}

void
bp_chan_destroy(struct bp_chan *c)
{
	int i;

	if (c->region)
		munmap(c->region, c->lay.region_size);
	if (c->rx_area)
		munmap(c->rx_area, c->lay.rx_area_size);
	if (c->tx_area)
		munmap((void *)(uintptr_t)c->tx_area, c->lay.tx_area_size);
	c->region = NULL;
	c->hdr = NULL;
	c->rx_area = NULL;
	c->tx_area = NULL;
	for (i = 0; i < BP_QUEUE_NFDS; i++) {
		if (c->app_fd[i] >= 0)
			close(c->app_fd[i]);
		c->app_fd[i] = -1;
	}
	if (c->db >= 0)
		close(c->db);
	c->db = -1;
	pool_free(&c->rxpool);
	pool_free(&c->txpool);
}

uint64_t
bp_chan_drops(const struct bp_chan *c)
{
	uint64_t n = (uint64_t)c->rx.bad + c->done.bad + c->tx.bad + c->comp.bad;
	int i;

	for (i = BP_DESC_ERR_OK + 1; i < BP_DESC_ERR__MAX; i++)
		if (i != BP_DESC_ERR_RING)
			n += c->err[i];
	return n + c->cnt[BP_CHAN_CNT_COMP_FULL];
}
