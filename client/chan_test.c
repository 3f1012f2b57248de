/* chan_test.c - a queue's memory: layout, seals, read-only RX for the app, handover, doorbell. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chan_fp.h"
#include "ctl.h"
#include "check.h"

static const struct bp_geom geom = {
        .rx_ring = 64,
        .rx_bufs = 32,
        .rx_buf_size = 2048,
        .tx_ring = 32,
        .tx_bufs = 32,
        .tx_buf_size = 4096,
};
static const struct bp_chan_limits lim = {.max_udp_payload = 1472, .max_frame = 1514};

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	REQUIRE(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void
test_layout(void)
{
	struct bp_geom g = geom;
	struct bp_layout l;
	int i;

	CHECK_EQ(bp_layout(&g, &l), 0);
	for (i = 0; i < BP_RING__MAX; i++) {
		CHECK_EQ(l.ring_off[i] % BP_PAGE_SIZE, 0);
		if (i)
			CHECK(l.ring_off[i] >= l.ring_off[i - 1] + sizeof(struct bp_ring_shm) +
			                               l.ring_size[i - 1] * sizeof(struct bp_desc));
	}
	CHECK_EQ(l.ring_off[0], BP_PAGE_SIZE);
	CHECK(l.region_size >= l.ring_off[3] + sizeof(struct bp_ring_shm) + 32 * 32);
	CHECK_EQ(l.rx_area_size, 32 * 2048);
	CHECK_EQ(l.tx_area_size, 32 * 4096);
	g.rx_bufs = 65; /* more than slots */
	CHECK_EQ(bp_layout(&g, &l), -1);
	g = geom;
	g.tx_buf_size = 100;
	CHECK_EQ(bp_layout(&g, &l), -1);
}

static void
test_create_and_seals(void)
{
	struct bp_chan c;
	struct stat st;
	int before = count_fds(), seals, want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	struct bp_geom bad = geom;

	REQUIRE(bp_chan_create(&c, &geom, &lim, 3, 0xabc) == 0);
	CHECK_EQ(c.hdr->magic, BP_ABI_MAGIC);
	CHECK_EQ(c.hdr->abi_major, BP_ABI_MAJOR);
	CHECK_EQ(c.hdr->hdr_size, sizeof(struct bp_qhdr));
	CHECK_EQ(c.hdr->queue, 3);
	CHECK_EQ(c.hdr->epoch, 0xabc);
	CHECK(!memcmp(&c.hdr->geom, &geom, sizeof(geom)));
	CHECK_EQ(atomic_load(&c.hdr->state), BP_QSTATE_ACTIVE);
	CHECK_EQ(c.rxpool.nfree, 32);

	CHECK_EQ(fstat(c.app_fd[BP_QFD_RING], &st), 0);
	CHECK_EQ(st.st_size, c.lay.region_size);
	CHECK_EQ(fstat(c.app_fd[BP_QFD_RX], &st), 0);
	CHECK_EQ(st.st_size, c.lay.rx_area_size);
	CHECK_EQ(fstat(c.app_fd[BP_QFD_TX], &st), 0);
	CHECK_EQ(st.st_size, c.lay.tx_area_size);

	seals = fcntl(c.app_fd[BP_QFD_RING], F_GET_SEALS);
	CHECK_EQ(seals, want);
	seals = fcntl(c.app_fd[BP_QFD_TX], F_GET_SEALS);
	CHECK_EQ(seals, want);
	seals = fcntl(c.app_fd[BP_QFD_RX], F_GET_SEALS);
	CHECK_EQ(seals, want | F_SEAL_FUTURE_WRITE);

	/* the app cannot shrink or grow any area (a shrink would SIGBUS the gateway) */
	CHECK_EQ(ftruncate(c.app_fd[BP_QFD_RING], 4096), -1);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(ftruncate(c.app_fd[BP_QFD_TX], 0), -1);
	CHECK_EQ(ftruncate(c.app_fd[BP_QFD_TX], (off_t)c.lay.tx_area_size * 2), -1);
	CHECK_EQ(fcntl(c.app_fd[BP_QFD_TX], F_ADD_SEALS, F_SEAL_WRITE), -1);

	bp_chan_heartbeat(&c);
	CHECK_EQ(atomic_load(&c.hdr->heartbeat), 2);
	bp_chan_destroy(&c);
	bp_chan_destroy(&c); /* twice is harmless */
	CHECK_EQ(count_fds(), before);

	bad.rx_ring = 48;
	CHECK_EQ(bp_chan_create(&c, &bad, &lim, 0, 0), -EINVAL);
	CHECK_EQ(count_fds(), before);
}

/* Everything an app could try on the RX memfd to write what the gateway reads. */
static void
test_rx_readonly(void)
{
	struct bp_chan c;
	int fd;
	void *p;
	char b = 'x';

	REQUIRE(bp_chan_create(&c, &geom, &lim, 0, 1) == 0);
	fd = c.app_fd[BP_QFD_RX];
	CHECK(mmap(NULL, c.lay.rx_area_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
	      MAP_FAILED);
	CHECK_EQ(errno, EPERM);
	p = mmap(NULL, c.lay.rx_area_size, PROT_READ, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	CHECK_EQ(mprotect(p, 4096, PROT_READ | PROT_WRITE), -1);
	CHECK_EQ(errno, EACCES);
	CHECK_EQ(pwrite(fd, &b, 1, 0), -1);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(ftruncate(fd, 0), -1);
	CHECK_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), -1);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(madvise(p, 4096, MADV_REMOVE), -1);

	/* the gateway's mapping stays writable and the app sees its writes */
	memcpy(bp_chan_rx_buf(&c, 1), "payload", 8);
	CHECK(!memcmp((char *)p + 2048, "payload", 8));
	munmap(p, c.lay.rx_area_size);
	bp_chan_destroy(&c);
}

/* Writing the read-only RX mapping faults: in a child, expect SIGSEGV. */
static void
test_rx_write_faults(void)
{
	struct bp_chan c;
	pid_t pid;
	int status;

	REQUIRE(bp_chan_create(&c, &geom, &lim, 0, 1) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		volatile char *p = mmap(NULL, c.lay.rx_area_size, PROT_READ, MAP_SHARED,
		                        c.app_fd[BP_QFD_RX], 0);

		if ((void *)p == MAP_FAILED)
			_exit(2);
		signal(SIGSEGV, SIG_DFL);
		p[100] = 1; /* must fault */
		_exit(3);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status));
	if (WIFSIGNALED(status))
		CHECK_EQ(WTERMSIG(status), SIGSEGV);
	bp_chan_destroy(&c);
}

/* The TX area: the app writes, the gateway reads (and cannot write). */
static void
test_tx_area(void)
{
	struct bp_chan c;
	struct bp_desc d = {.buf = 2, .off = 10, .len = 5};
	char *p;

	REQUIRE(bp_chan_create(&c, &geom, &lim, 0, 1) == 0);
	p = mmap(NULL, c.lay.tx_area_size, PROT_READ | PROT_WRITE, MAP_SHARED, c.app_fd[BP_QFD_TX],
	         0);
	REQUIRE(p != MAP_FAILED);
	memcpy(p + 2 * 4096 + 10, "hello", 5);
	CHECK(!memcmp(bp_chan_tx_data(&c, &d), "hello", 5));
	munmap(p, c.lay.tx_area_size);
	bp_chan_destroy(&c);
}

/* bp_chan_send hands over exactly four fds and keeps none; close wakes the app with POLLHUP. */
static void
test_send_and_close(void)
{
	struct bp_chan c;
	union bp_ctl_msg m;
	char buf[256];
	int sv[2], fds[8], before;
	unsigned nfds = 8, i;
	struct pollfd p;
	ssize_t r;

	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	before = count_fds();
	REQUIRE(bp_chan_create(&c, &geom, &lim, 5, 1) == 0);
	CHECK_EQ(bp_chan_send(&c, sv[0], 77, 2), 0);
	for (i = 0; i < BP_QUEUE_NFDS; i++)
		CHECK_EQ(c.app_fd[i], -1);
	r = bp_sock_recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0);
	REQUIRE(r > 0);
	CHECK_EQ(nfds, BP_QUEUE_NFDS);
	CHECK_EQ(bp_ctl_decode(buf, (size_t)r, BP_CTL_FROM_GW, &m), BP_CTL_ERR_OK);
	CHECK_EQ(m.hdr.type, BP_CTL_QUEUE);
	CHECK_EQ(m.hdr.seq, 77);
	CHECK_EQ(m.queue.queue, 5);
	CHECK_EQ(m.queue.worker, 2);
	CHECK_EQ(m.queue.region_size, c.lay.region_size);
	CHECK_EQ(fcntl(fds[BP_QFD_RX], F_GET_SEALS) & F_SEAL_FUTURE_WRITE, F_SEAL_FUTURE_WRITE);

	/* doorbell: an armed app gets one byte per arm */
	{
		struct bp_ring_shm *rx = (void *)((uint8_t *)c.region + c.lay.ring_off[BP_RING_RX]);
		struct bp_ring app;
		struct bp_desc d;
		uint32_t idx;

		bp_ring_attach_cons(&app, rx, geom.rx_ring);
		CHECK_EQ(bp_ring_arm(&app), 0);
		idx = bp_chan_rx_take(&c);
		d = (struct bp_desc){.buf = idx, .len = 1, .type = BP_DESC_UDP_RECV};
		CHECK_EQ(bp_chan_rx_post(&c, &d, 1), 1);
		CHECK_EQ(c.cnt[BP_CHAN_CNT_DOORBELLS], 1);
		idx = bp_chan_rx_take(&c);
		d.buf = idx;
		CHECK_EQ(bp_chan_rx_post(&c, &d, 1), 1);
		CHECK_EQ(c.cnt[BP_CHAN_CNT_DOORBELLS], 1); /* not re-armed: no second one */
		CHECK_EQ(recv(fds[BP_QFD_DOORBELL], buf, sizeof(buf), MSG_DONTWAIT), 1);
		CHECK_EQ(recv(fds[BP_QFD_DOORBELL], buf, sizeof(buf), MSG_DONTWAIT), -1);
	}

	p = (struct pollfd){.fd = fds[BP_QFD_DOORBELL], .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 0), 0);
	bp_chan_close(&c);
	CHECK_EQ(atomic_load(&c.hdr->state), BP_QSTATE_CLOSED);
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK(p.revents & POLLHUP);
	/* a worker still posting after close fails harmlessly */
	bp_chan_rx_post(&c, NULL, 0);

	for (i = 0; i < nfds; i++)
		close(fds[i]);
	bp_chan_destroy(&c);
	CHECK_EQ(count_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	CHECK_RUN(test_layout);
	CHECK_RUN(test_create_and_seals);
	CHECK_RUN(test_rx_readonly);
	CHECK_RUN(test_rx_write_faults);
	CHECK_RUN(test_tx_area);
	CHECK_RUN(test_send_and_close);
	return check_done();
}
