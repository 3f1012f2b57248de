/* ctl_test.c - control messages good and bad, and SCM_RIGHTS fd passing. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "check.h"

static union bp_ctl_msg out;

static enum bp_ctl_err
dec_app(const void *m, size_t len)
{
	return bp_ctl_decode(m, len, BP_CTL_FROM_APP, &out);
}

static enum bp_ctl_err
dec_gw(const void *m, size_t len)
{
	return bp_ctl_decode(m, len, BP_CTL_FROM_GW, &out);
}

/* A good HELLO: tenant "acme", 2 queues, default sizes but 256 RX slots. */
static struct bp_ctl_hello
hello(void)
{
	struct bp_ctl_hello m;

	bp_ctl_init(&m, BP_CTL_HELLO, sizeof(m), 1);
	m.abi_major = BP_ABI_MAJOR;
	m.abi_minor = BP_ABI_MINOR;
	m.nqueues = 2;
	m.geom.rx_ring = 256;
	REQUIRE(bp_ctl_set_tenant(m.tenant, sizeof(m.tenant), "acme") == 0);
	strcpy(m.app_name, "udp_echo 1.0");
	return m;
}

static struct bp_ctl_bind
bind_msg(uint16_t proto, uint32_t addr, uint16_t port)
{
	struct bp_ctl_bind m;

	bp_ctl_init(&m, BP_CTL_BIND, sizeof(m), 2);
	m.queue = 1;
	m.proto = proto;
	m.addr_be = htonl(addr);
	m.port_be = htons(port);
	return m;
}

static const struct bp_geom full_geom = {
        .rx_ring = 256,
        .rx_bufs = 256,
        .rx_buf_size = 2048,
        .tx_ring = 256,
        .tx_bufs = 128,
        .tx_buf_size = 2048,
};

static struct bp_ctl_hello_ok
hello_ok(void)
{
	struct bp_ctl_hello_ok m;

	bp_ctl_init(&m, BP_CTL_HELLO_OK, sizeof(m), 1);
	m.abi_major = BP_ABI_MAJOR;
	m.abi_minor = BP_ABI_MINOR;
	m.nqueues = 2;
	m.epoch = 0x1234;
	m.geom = full_geom;
	m.max_udp_payload = 1472;
	m.max_frame = 1514;
	return m;
}

static void
test_good(void)
{
	struct bp_ctl_hello h = hello();
	struct bp_ctl_bind b = bind_msg(BP_PROTO_UDP, 0xc6120002, 7);
	struct bp_ctl_unbind u;
	struct bp_ctl_hdr bye, ok;
	struct bp_ctl_hello_ok hok = hello_ok();
	struct bp_ctl_queue q;
	struct bp_ctl_error e;
	struct bp_ctl_bind_ok bok;

	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_OK);
	CHECK_EQ(out.hello.nqueues, 2);
	CHECK(!strcmp(out.hello.tenant, "acme"));
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_OK);
	b = bind_msg(BP_PROTO_RAW, 0xc6120002, 0);
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_OK);
	bp_ctl_init(&u, BP_CTL_UNBIND, sizeof(u), 3);
	u.sock = BP_MAX_SOCKS - 1;
	CHECK_EQ(dec_app(&u, sizeof(u)), BP_CTL_ERR_OK);
	bp_ctl_init(&bye, BP_CTL_BYE, sizeof(bye), 4);
	CHECK_EQ(dec_app(&bye, sizeof(bye)), BP_CTL_ERR_OK);

	CHECK_EQ(dec_gw(&hok, sizeof(hok)), BP_CTL_ERR_OK);
	bp_ctl_init(&q, BP_CTL_QUEUE, sizeof(q), 1);
	q.queue = 1;
	q.nfds = BP_QUEUE_NFDS;
	q.region_size = q.rx_area_size = q.tx_area_size = 8192;
	CHECK_EQ(dec_gw(&q, sizeof(q)), BP_CTL_ERR_OK);
	bp_ctl_error_init(&e, 1, BP_EDENIED, "tenant '%s' does not admit uid %u", "acme", 1001u);
	CHECK_EQ(dec_gw(&e, sizeof(e)), BP_CTL_ERR_OK);
	CHECK(!strcmp(out.error.msg, "tenant 'acme' does not admit uid 1001"));
	bp_ctl_init(&bok, BP_CTL_BIND_OK, sizeof(bok), 2);
	bok.sock = 7;
	bok.proto = BP_PROTO_UDP;
	bok.addr_be = htonl(0xc6120002);
	bok.port_be = htons(7);
	CHECK_EQ(dec_gw(&bok, sizeof(bok)), BP_CTL_ERR_OK);
	bp_ctl_init(&ok, BP_CTL_OK, sizeof(ok), 3);
	CHECK_EQ(dec_gw(&ok, sizeof(ok)), BP_CTL_ERR_OK);
}

static void
test_framing(void)
{
	struct bp_ctl_hello h = hello();
	uint8_t big[sizeof(h) + 1];
	size_t len;

	/* every truncation */
	for (len = 0; len < sizeof(h); len++)
		CHECK_EQ(dec_app(&h, len),
		         len < sizeof(struct bp_ctl_hdr) ? BP_CTL_ERR_SHORT : BP_CTL_ERR_LENGTH);
	/* one byte too many, with and without the length field saying so */
	memcpy(big, &h, sizeof(h));
	big[sizeof(h)] = 0;
	CHECK_EQ(dec_app(big, sizeof(big)), BP_CTL_ERR_LENGTH);
	((struct bp_ctl_hdr *)(void *)big)->len = sizeof(big);
	CHECK_EQ(dec_app(big, sizeof(big)), BP_CTL_ERR_LENGTH);
	h.hdr.len = 1000;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_LENGTH);

	h = hello();
	h.hdr.magic ^= 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_MAGIC);
	h = hello();
	h.hdr.version = BP_CTL_VERSION + 1;
	h.abi_major = BP_ABI_MAJOR + 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_VERSION);
	CHECK_EQ(bp_ctl_err_code(BP_CTL_ERR_VERSION), BP_EABI);
	CHECK_EQ(out.hello.abi_major,
	         BP_ABI_MAJOR + 1); /* still readable, to say so in the reply */
	h = hello();
	h.abi_major = BP_ABI_MAJOR + 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_ABI);
	h = hello();
	h.abi_minor = 0xffff; /* newer minor: fine */
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_OK);

	h = hello();
	h.hdr.type = 99;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_TYPE);
	h.hdr.type = 0;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_TYPE);
	/* each side accepts only the other side's messages */
	h = hello();
	CHECK_EQ(dec_gw(&h, sizeof(h)), BP_CTL_ERR_TYPE);
	{
		struct bp_ctl_hello_ok hok = hello_ok();

		CHECK_EQ(dec_app(&hok, sizeof(hok)), BP_CTL_ERR_TYPE);
	}
	CHECK_EQ(dec_app(NULL, 0), BP_CTL_ERR_SHORT);
}

static void
test_names(void)
{
	struct bp_ctl_hello h;
	char name[80];

	/* tenant field full, no NUL */
	h = hello();
	memset(h.tenant, 'a', sizeof(h.tenant));
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_NAME_UNTERMINATED);
	h = hello();
	memset(h.app_name, 'a', sizeof(h.app_name));
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_NAME_UNTERMINATED);
	/* garbage after the NUL */
	h = hello();
	h.tenant[10] = 'x';
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_NAME_PAD);
	h = hello();
	h.app_name[BP_NAME_MAX - 1] = 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_NAME_PAD);
	/* empty, bad characters */
	h = hello();
	memset(h.tenant, 0, sizeof(h.tenant));
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_NAME_EMPTY);
	CHECK_EQ(bp_ctl_err_code(BP_CTL_ERR_NAME_EMPTY), BP_ETENANT);
	{
		const char *bad[] = {"a b", "-acme", ".acme", "a/b", "a\x80", "a\n", "_x", "a:b"};
		unsigned i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			h = hello();
			memset(h.tenant, 0, sizeof(h.tenant));
			memcpy(h.tenant, bad[i], strlen(bad[i]));
			CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_NAME_CHARS);
			CHECK_EQ(bp_ctl_set_tenant(h.tenant, sizeof(h.tenant), bad[i]), -EINVAL);
		}
	}
	h = hello();
	h.app_name[0] = '\t';
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_APP_NAME);
	h = hello();
	memset(h.app_name, 0, sizeof(h.app_name)); /* empty app name is fine */
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_OK);

	/* the setter: 63 characters fit, 64 do not */
	memset(name, 'a', sizeof(name));
	name[BP_NAME_MAX - 1] = 0;
	CHECK_EQ(bp_ctl_set_tenant(h.tenant, sizeof(h.tenant), name), 0);
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_OK);
	name[BP_NAME_MAX - 1] = 'a';
	name[BP_NAME_MAX] = 0;
	CHECK_EQ(bp_ctl_set_tenant(h.tenant, sizeof(h.tenant), name), -ENAMETOOLONG);
	CHECK_EQ(bp_ctl_set_tenant(h.tenant, sizeof(h.tenant), "a.b-c_9"), 0);
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_OK);
}

static void
test_counts_sizes(void)
{
	struct bp_ctl_hello h;
	struct bp_ctl_hello_ok hok;
	uint32_t bad_ring[] = {3, 8, 100, 131072, 0x80000000u};
	uint32_t bad_buf[] = {256, 3000, 131072};
	unsigned i;

	h = hello();
	h.nqueues = 0;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_COUNT);
	h.nqueues = BP_MAX_QUEUES + 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_COUNT);
	h.nqueues = BP_MAX_QUEUES;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_OK);
	h.nqueues = UINT32_MAX;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_COUNT);

	for (i = 0; i < sizeof(bad_ring) / sizeof(bad_ring[0]); i++) {
		h = hello();
		h.geom.tx_ring = bad_ring[i];
		CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_GEOM);
	}
	for (i = 0; i < sizeof(bad_buf) / sizeof(bad_buf[0]); i++) {
		h = hello();
		h.geom.rx_buf_size = bad_buf[i];
		CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_GEOM);
	}
	h = hello();
	h.geom.rx_bufs = 257; /* more buffers than RX slots */
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_GEOM);
	CHECK_EQ(bp_ctl_err_code(BP_CTL_ERR_GEOM), BP_ESIZES);
	h = hello();
	h.geom.tx_bufs = BP_RING_MAX + 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_GEOM);
	h = hello();
	h.geom.reserved[1] = 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_RESERVED);
	h = hello();
	h.flags = 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_RESERVED);
	h = hello();
	h.reserved = 1;
	CHECK_EQ(dec_app(&h, sizeof(h)), BP_CTL_ERR_RESERVED);

	/* the gateway's answer is checked just as strictly */
	hok = hello_ok();
	hok.geom.rx_buf_size = 0; /* a grant is complete */
	CHECK_EQ(dec_gw(&hok, sizeof(hok)), BP_CTL_ERR_GEOM);
	hok = hello_ok();
	hok.nqueues = 0;
	CHECK_EQ(dec_gw(&hok, sizeof(hok)), BP_CTL_ERR_COUNT);
	hok = hello_ok();
	hok.max_udp_payload = 0;
	CHECK_EQ(dec_gw(&hok, sizeof(hok)), BP_CTL_ERR_SIZE);
	hok = hello_ok();
	hok.abi_major = 0;
	CHECK_EQ(dec_gw(&hok, sizeof(hok)), BP_CTL_ERR_ABI);
	hok = hello_ok();
	hok.reserved[0] = 9;
	CHECK_EQ(dec_gw(&hok, sizeof(hok)), BP_CTL_ERR_RESERVED);
}

static void
test_bind(void)
{
	struct bp_ctl_bind b;
	struct bp_ctl_unbind u;

	b = bind_msg(0, 0xc6120002, 7);
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_PROTO);
	b = bind_msg(4, 0xc6120002, 80); /* not in this version */
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_PROTO);
	CHECK_EQ(bp_ctl_err_code(BP_CTL_ERR_PROTO), BP_ENOTSUP);
	b = bind_msg(BP_PROTO_TCP, 0xc6120002, 80); /* a listen (ABI 1.1) */
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_OK);
	b = bind_msg(BP_PROTO_TCP, 0xc6120002, 0); /* a listen needs a port */
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_PORT);
	b = bind_msg(BP_PROTO_UDP, 0, 7);
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_ADDR);
	b = bind_msg(BP_PROTO_UDP, 0xe0000001, 7);
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_ADDR);
	b = bind_msg(BP_PROTO_UDP, 0x7f000001, 7);
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_ADDR);
	b = bind_msg(BP_PROTO_UDP, 0xffffffff, 7);
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_ADDR);
	b = bind_msg(BP_PROTO_UDP, 0xc6120002, 0);
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_PORT);
	b = bind_msg(BP_PROTO_RAW, 0xc6120002, 7);
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_PORT);
	b = bind_msg(BP_PROTO_UDP, 0xc6120002, 7);
	b.queue = BP_MAX_QUEUES;
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_QUEUE);
	b = bind_msg(BP_PROTO_UDP, 0xc6120002, 7);
	b.flags = 1;
	CHECK_EQ(dec_app(&b, sizeof(b)), BP_CTL_ERR_RESERVED);

	bp_ctl_init(&u, BP_CTL_UNBIND, sizeof(u), 3);
	u.sock = BP_MAX_SOCKS;
	CHECK_EQ(dec_app(&u, sizeof(u)), BP_CTL_ERR_SOCK);
	u.sock = 0;
	u.reserved = 1;
	CHECK_EQ(dec_app(&u, sizeof(u)), BP_CTL_ERR_RESERVED);
}

static void
test_gw_messages(void)
{
	struct bp_ctl_queue q;
	struct bp_ctl_error e;
	struct bp_ctl_bind_ok bok;
	char longmsg[300];

	bp_ctl_init(&q, BP_CTL_QUEUE, sizeof(q), 1);
	q.nfds = 3;
	q.region_size = q.rx_area_size = q.tx_area_size = 4096;
	CHECK_EQ(dec_gw(&q, sizeof(q)), BP_CTL_ERR_NFDS);
	q.nfds = BP_QUEUE_NFDS;
	q.rx_area_size = 4095;
	CHECK_EQ(dec_gw(&q, sizeof(q)), BP_CTL_ERR_SIZE);
	q.rx_area_size = 0;
	CHECK_EQ(dec_gw(&q, sizeof(q)), BP_CTL_ERR_SIZE);
	q.rx_area_size = 4096;
	q.queue = BP_MAX_QUEUES;
	CHECK_EQ(dec_gw(&q, sizeof(q)), BP_CTL_ERR_QUEUE);

	bp_ctl_error_init(&e, 1, EPERM, "x"); /* an errno is not a wire code */
	CHECK_EQ(dec_gw(&e, sizeof(e)), BP_CTL_ERR_CODE);
	bp_ctl_error_init(&e, 1, BP_ERR_END, "x");
	CHECK_EQ(dec_gw(&e, sizeof(e)), BP_CTL_ERR_CODE);
	bp_ctl_error_init(&e, 1, BP_EQUOTA, "x");
	memset(e.msg, 'm', sizeof(e.msg));
	CHECK_EQ(dec_gw(&e, sizeof(e)), BP_CTL_ERR_ERRMSG);
	/* the encoder truncates and cleans */
	memset(longmsg, 'z', sizeof(longmsg));
	longmsg[sizeof(longmsg) - 1] = 0;
	longmsg[5] = '\n';
	bp_ctl_error_init(&e, 1, BP_EQUOTA, "%s", longmsg);
	CHECK_EQ(dec_gw(&e, sizeof(e)), BP_CTL_ERR_OK);
	CHECK_EQ(strlen(out.error.msg), BP_ERRMSG_MAX - 1);
	CHECK_EQ(out.error.msg[5], '?');

	bp_ctl_init(&bok, BP_CTL_BIND_OK, sizeof(bok), 2);
	bok.sock = BP_MAX_SOCKS;
	bok.proto = BP_PROTO_UDP;
	bok.addr_be = htonl(0xc6120002);
	bok.port_be = htons(7);
	CHECK_EQ(dec_gw(&bok, sizeof(bok)), BP_CTL_ERR_SOCK);
}

static void
test_err_tables(void)
{
	unsigned i;

	for (i = 0; i < BP_CTL_ERR__MAX; i++) {
		CHECK(bp_ctl_err_str(i)[0]);
		if (i)
			CHECK(bp_ctl_err_code(i) >= BP_ERR_BASE && bp_ctl_err_code(i) < BP_ERR_END);
	}
	CHECK(bp_ctl_err_str(BP_CTL_ERR__MAX)[0]);
}

static void
test_geom_merge(void)
{
	struct bp_geom d = full_geom, want = {.rx_ring = 64, .tx_bufs = 16}, g;

	bp_ctl_geom_merge(&g, &want, &d);
	CHECK_EQ(g.rx_ring, 64);
	CHECK_EQ(g.rx_bufs, 64); /* default 256 clamped to the smaller ring */
	CHECK_EQ(g.rx_buf_size, 2048);
	CHECK_EQ(g.tx_ring, 256);
	CHECK_EQ(g.tx_bufs, 16);
	CHECK(bp_geom_valid(&g));
}

/* ---- fd passing ---- */

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
	return n - 1; /* the DIR's own */
}

static void
test_fd_passing(void)
{
	int sv[2], p[2], fds[8], before;
	unsigned nfds, i;
	char buf[64];
	ssize_t r;

	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	REQUIRE(pipe(p) == 0);
	before = count_fds();

	/* three fds arrive, close-on-exec, and work */
	fds[0] = p[1];
	fds[1] = p[0];
	fds[2] = p[1];
	CHECK_EQ(bp_sock_send_fds(sv[0], "hello", 5, fds, 3), 0);
	nfds = 4;
	r = bp_sock_recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0);
	CHECK_EQ(r, 5);
	CHECK_EQ(nfds, 3);
	for (i = 0; i < nfds; i++)
		CHECK(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(write(fds[0], "x", 1), 1);
	CHECK_EQ(read(p[0], buf, 1), 1);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	CHECK_EQ(count_fds(), before);

	/* no fds at all */
	nfds = 4;
	CHECK_EQ(bp_sock_send_fds(sv[0], "a", 1, NULL, 0), 0);
	CHECK_EQ(bp_sock_recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0), 1);
	CHECK_EQ(nfds, 0);

	/* more fds than the receiver takes: refused, none leaks */
	fds[0] = fds[1] = fds[2] = p[0];
	CHECK_EQ(bp_sock_send_fds(sv[0], "b", 1, fds, 3), 0);
	nfds = 2;
	CHECK_EQ(bp_sock_recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0), -ETOOMANYREFS);
	CHECK_EQ(nfds, 0);
	CHECK_EQ(count_fds(), before);
	/* a receiver that takes none (the gateway reading requests) */
	CHECK_EQ(bp_sock_send_fds(sv[0], "c", 1, fds, 1), 0);
	CHECK_EQ(bp_sock_recv_fds(sv[1], buf, sizeof(buf), NULL, NULL, 0), -ETOOMANYREFS);
	CHECK_EQ(count_fds(), before);

	/* message longer than the buffer: refused with its fds closed */
	memset(buf, 'q', sizeof(buf));
	CHECK_EQ(bp_sock_send_fds(sv[0], buf, sizeof(buf), fds, 2), 0);
	nfds = 4;
	CHECK_EQ(bp_sock_recv_fds(sv[1], buf, 16, fds, &nfds, 0), -EMSGSIZE);
	CHECK_EQ(count_fds(), before);

	/* too many fds for the helper to send */
	CHECK_EQ(bp_sock_send_fds(sv[0], "d", 1, fds, BP_SOCK_MAX_FDS + 1), -EINVAL);

	/* nothing there, non-blocking */
	nfds = 4;
	CHECK_EQ(bp_sock_recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, MSG_DONTWAIT), -EAGAIN);

	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* More fds than the receiver's control buffer holds: MSG_CTRUNC, everything closed. */
static void
test_fd_ctrunc(void)
{
	enum { N = BP_SOCK_MAX_FDS + 8 };
	union {
		char b[CMSG_SPACE(sizeof(int) * N)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = "e", .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = u.b,
	                     .msg_controllen = sizeof(u.b)};
	struct cmsghdr *cm;
	int sv[2], fds[N], before, i;
	unsigned nfds = BP_SOCK_MAX_FDS;
	char buf[8];

	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	before = count_fds();
	for (i = 0; i < N; i++)
		fds[i] = sv[0];
	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * N);
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	REQUIRE(sendmsg(sv[0], &msg, 0) == 1);
	CHECK_EQ(bp_sock_recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0), -ETOOMANYREFS);
	CHECK_EQ(nfds, 0);
	CHECK_EQ(count_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

/* Control data other than SCM_RIGHTS (credentials, when SO_PASSCRED is on): refused. */
static void
test_fd_foreign_cmsg(void)
{
	int sv[2], one = 1, before, fds[4];
	unsigned nfds = 4;
	char buf[8];

	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	REQUIRE(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);
	before = count_fds();
	fds[0] = sv[0];
	CHECK_EQ(bp_sock_send_fds(sv[0], "f", 1, fds, 1), 0);
	CHECK_EQ(bp_sock_recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0), -EBADMSG);
	CHECK_EQ(count_fds(), before);
	/* end of stream */
	close(sv[0]);
	nfds = 4;
	CHECK_EQ(bp_sock_recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0), 0);
	close(sv[1]);
}

static void
test_listen_connect(void)
{
	char path[64], longpath[200];
	uint32_t pid, uid, gid;
	int l, c, a, fd;

	snprintf(path, sizeof(path), "/tmp/bp_ctl_test.%d.sock", (int)getpid());
	l = bp_sock_listen(path, 4);
	REQUIRE(l >= 0);
	c = bp_sock_connect(path);
	CHECK(c >= 0);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(a >= 0);
	CHECK_EQ(bp_sock_peercred(a, &pid, &uid, &gid), 0);
	CHECK_EQ(pid, (uint32_t)getpid());
	CHECK_EQ(uid, (uint32_t)getuid());
	CHECK_EQ(gid, (uint32_t)getgid());
	close(a);
	close(c);
	close(l);
	/* a stale socket file is replaced; a regular file is not */
	l = bp_sock_listen(path, 4);
	CHECK(l >= 0);
	close(l);
	unlink(path);
	CHECK(bp_sock_connect(path) == -ENOENT);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	CHECK_EQ(bp_sock_listen(path, 4), -EEXIST);
	unlink(path);

	memset(longpath, 'p', sizeof(longpath));
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	CHECK_EQ(bp_sock_connect(longpath), -ENAMETOOLONG);
	CHECK_EQ(bp_sock_listen(longpath, 1), -ENAMETOOLONG);
	CHECK_EQ(bp_sock_connect(""), -EINVAL);

	/* abstract namespace */
	snprintf(path, sizeof(path), "@bp_ctl_test.%d", (int)getpid());
	l = bp_sock_listen(path, 4);
	CHECK(l >= 0);
	c = bp_sock_connect(path);
	CHECK(c >= 0);
	close(c);
	close(l);
}

int
main(void)
{
	CHECK_RUN(test_good);
	CHECK_RUN(test_framing);
	CHECK_RUN(test_names);
	CHECK_RUN(test_counts_sizes);
	CHECK_RUN(test_bind);
	CHECK_RUN(test_gw_messages);
	CHECK_RUN(test_err_tables);
	CHECK_RUN(test_geom_merge);
	CHECK_RUN(test_fd_passing);
	CHECK_RUN(test_fd_ctrunc);
	CHECK_RUN(test_fd_foreign_cmsg);
	CHECK_RUN(test_listen_connect);
	return check_done();
}
