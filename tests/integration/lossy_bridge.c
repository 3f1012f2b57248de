/* lossy_bridge.c - a link-layer forwarder between two interfaces that loses, reorders and delays.
 */

/*
 * What tc netem would do, for kernels without sch_netem (test_tcp_lossy.py). It binds an
 * AF_PACKET socket to each of two interfaces (promiscuous) and forwards every frame that arrives
 * on one out of the other, unchanged: MACs, ARP and all, so the two ends see each other as if the
 * wire were direct. One thread, poll-driven; every frame goes through the impairments of its
 * direction (a->b or b->a):
 *
 *   loss     drop it with probability P (counted "dropped")
 *   delay    send it MS milliseconds after it arrived (a FIFO per direction: the release times
 *            are in arrival order, so the FIFO is the timer queue)
 *   reorder  with probability P hold it back until 1..GAP later frames of its direction have
 *            gone out (or HOLD ms after its release time passed, if traffic stops): "reordered"
 *            counts the frames that something overtook, "hold_expired" those let go by time
 *
 * The decisions come from a PRNG per direction seeded from --seed, so the same frames in the same
 * order get the same fate. Queues are bounded (--queue frames per direction, HELD_MAX held): a
 * frame that finds its queue full is dropped and counted "queue_drops". "kernel_drops" are frames
 * the socket's receive buffer lost before we read them (PACKET_STATISTICS): a bridge too slow for
 * the load shows there, not as silent extra loss.
 *
 *   lossy_bridge -a IFACE -b IFACE [--loss P[:P]] [--reorder P[:P]] [--delay MS[:MS]]
 *                [--gap N[:N]] [--hold MS] [--queue N] [--seed S] [--timeout S]
 *
 * A value "X:Y" sets a->b to X and b->a to Y; a single value sets both. Probabilities are in
 * [0, 1] or percentages ("1%"). Prints "READY" once both sockets are bound; on SIGTERM/SIGINT,
 * or after --timeout seconds (default 600: a forgotten bridge ends itself), prints its counters
 * as one JSON line and exits 0; SIGUSR1 prints the JSON line and goes on. Errors on stderr,
 * exit 1 (setup) or 2 (usage).
 *
 * Offloads should be off on the interfaces (the tests do ethtool -K): frames are read and sent
 * as they are, so a GRO superframe or a partial checksum would go across as such.
 *
 * Cost: a recvmmsg/sendmmsg burst and one memcpy per frame; ~1 us/frame of one core here,
 * enough for the few tens of MB/s the tests push.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define SLOT_SIZE 2048     /* one frame: MTU 1500 links, offloads off */
#define BURST     64       /* frames per recvmmsg / sendmmsg */
#define RX_ROUNDS 8        /* bursts read from one socket per wakeup before the timers go again */
#define HELD_MAX  64       /* frames held back for reordering, per direction */
#define SLACK_NS  50000ULL /* a frame due this soon goes now: fewer wakeups */
#define SOCK_BUF  (8 << 20)

#define foreach_bridge_counter \
	_(rx)                  \
	_(forwarded)           \
	_(dropped)             \
	_(reordered)           \
	_(hold_expired)        \
	_(delayed)             \
	_(queue_drops)         \
	_(oversize)            \
	_(tx_errors)           \
	_(kernel_drops)

struct counters {
#define _(n) uint64_t n;
	foreach_bridge_counter
#undef _
};

/* What happens to one direction's frames. */
struct impair {
	double loss, reorder;
	uint64_t delay_ns;
	unsigned gap;
};

struct slot {
	uint64_t due; /* CLOCK_MONOTONIC ns */
	uint32_t len;
	uint8_t data[SLOT_SIZE];
};

struct held {
	bool used;
	unsigned after;    /* frames still to overtake it */
	bool overtaken;    /* at least one did */
	uint64_t deadline; /* let go by then whatever happens */
	uint32_t len;
	uint8_t data[SLOT_SIZE];
};

struct dir {
	const char *name;
	int in_fd, out_fd;
	struct impair imp;
	uint64_t rng;
	struct slot *ring; /* FIFO of frames waiting for their release time */
	unsigned cap, head, n;
	struct held held[HELD_MAX];
	unsigned n_held;
	struct mmsghdr out[BURST]; /* frames to send, in order */
	struct iovec out_iov[BURST];
	unsigned n_out;
	struct counters c;
};

static volatile sig_atomic_t stop, report;
static uint64_t hold_ns = 20000000ULL;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
on_usr1(int sig)
{
	(void)sig;
	report = 1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, fast and good enough for coin flips. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool
coin(uint64_t *s, double p)
{
	if (p <= 0)
		return false;
	return (double)(rng_next(s) >> 11) * 0x1.0p-53 < p;
}

/* ---- sockets --------------------------------------------------------------------------------- */

/* A promiscuous AF_PACKET socket bound to ifname that does not see its own transmissions;
 * returns the fd or -1 (message printed). */
static int
open_port(const char *ifname)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct packet_mreq mr = {.mr_type = PACKET_MR_PROMISC};
	int one = 1, buf = SOCK_BUF, fd;
	unsigned idx = if_nametoindex(ifname);

	if (!idx) {
		fprintf(stderr, "lossy_bridge: %s: %s\n", ifname, strerror(errno));
		return -1;
	}
	/* protocol 0 until bound: no frames of other interfaces slip in before bind */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "lossy_bridge: socket: %s\n", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	/* older kernels lack it: rx_burst() also skips PACKET_OUTGOING */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	mr.mr_ifindex = (int)idx;
	sll.sll_ifindex = (int)idx;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "lossy_bridge: %s: %s\n", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Frames the kernel dropped on fd since the last call (the statistics reset when read). */
static uint64_t
kernel_drops(int fd)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
		return 0;
	return st.tp_drops;
}

/* ---- sending ----------------------------------------------------------------------------------
 */

/* Send the frames collected in d->out, in order. A frame the kernel refuses is counted and
 * skipped: the bridge never retries (that would be a different impairment). */
static void
out_flush(struct dir *d)
{
	unsigned done = 0;

	while (done < d->n_out) {
		int r = sendmmsg(d->out_fd, d->out + done, d->n_out - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			d->c.tx_errors++;
			done++;
			continue;
		}
		d->c.forwarded += (unsigned)r;
		done += (unsigned)r;
	}
	d->n_out = 0;
}

/* Queue one frame for sending; borrows data until the next out_flush (the caller's storage must
 * not be reused before it). */
static void
out_push(struct dir *d, uint8_t *data, uint32_t len)
{
	if (d->n_out == BURST)
		out_flush(d);
	d->out_iov[d->n_out] = (struct iovec){.iov_base = data, .iov_len = len};
	d->out[d->n_out].msg_hdr =
	        (struct msghdr){.msg_iov = &d->out_iov[d->n_out], .msg_iovlen = 1};
	d->n_out++;
}

/* One frame of d went out: every held frame waits for one fewer; those done follow it. */
static void
held_tick(struct dir *d)
{
	unsigned i;

	for (i = 0; i < HELD_MAX && d->n_held; i++) {
		struct held *h = &d->held[i];

		if (!h->used)
			continue;
		h->overtaken = true;
		if (--h->after == 0) {
			out_push(d, h->data, h->len);
			d->c.reordered++;
			h->used = false;
			d->n_held--;
		}
	}
}

/* Send everything of d due by now; returns the next time something of d falls due (UINT64_MAX:
 * nothing waits). */
static uint64_t
release_due(struct dir *d, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	unsigned i;

	while (d->n && d->ring[d->head].due <= now + SLACK_NS) {
		struct slot *s = &d->ring[d->head];

		out_push(d, s->data, s->len);
		d->head = (d->head + 1) % d->cap;
		d->n--;
		held_tick(d);
	}
	for (i = 0; i < HELD_MAX && d->n_held; i++) {
		struct held *h = &d->held[i];

		if (!h->used)
			continue;
		if (h->deadline <= now + SLACK_NS) {
			out_push(d, h->data, h->len);
			if (h->overtaken)
				d->c.reordered++;
			else
				d->c.hold_expired++;
			h->used = false;
			d->n_held--;
		} else if (h->deadline < next) {
			next = h->deadline;
		}
	}
	out_flush(d); /* before any slot is written again */
	if (d->n && d->ring[d->head].due < next)
		next = d->ring[d->head].due;
	return next;
}

/* ---- receiving --------------------------------------------------------------------------------
 */

/* Decide the fate of one frame that arrived at now: drop, hold or queue (copied). */
static void
admit(struct dir *d, const uint8_t *data, uint32_t len, uint64_t now)
{
	uint64_t due = now + d->imp.delay_ns;

	d->c.rx++;
	if (coin(&d->rng, d->imp.loss)) {
		d->c.dropped++;
		return;
	}
	if (d->imp.delay_ns)
		d->c.delayed++;
	if (coin(&d->rng, d->imp.reorder) && d->n_held < HELD_MAX) {
		unsigned i;

		for (i = 0; d->held[i].used; i++)
			;
		d->held[i] = (struct held){.used = true,
		                           .after = 1 + (unsigned)(rng_next(&d->rng) % d->imp.gap),
		                           .deadline = due + hold_ns,
		                           .len = len};
		memcpy(d->held[i].data, data, len);
		d->n_held++;
		return;
	}
	if (d->n == d->cap) {
		d->c.queue_drops++;
		return;
	}
	struct slot *s = &d->ring[(d->head + d->n) % d->cap];

	s->due = due;
	s->len = len;
	memcpy(s->data, data, len);
	d->n++;
}

/* Read what waits on d's input socket (bounded); false on a socket error. */
static bool
rx_burst(struct dir *d)
{
	static uint8_t bufs[BURST][SLOT_SIZE];
	static struct sockaddr_ll from[BURST];
	static struct iovec iov[BURST];
	static struct mmsghdr msgs[BURST];
	unsigned round, i;

	for (round = 0; round < RX_ROUNDS; round++) {
		uint64_t now;
		int r;

		for (i = 0; i < BURST; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = SLOT_SIZE};
			msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
			                                  .msg_namelen = sizeof(from[i]),
			                                  .msg_iov = &iov[i],
			                                  .msg_iovlen = 1};
		}
		r = recvmmsg(d->in_fd, msgs, BURST, MSG_DONTWAIT | MSG_TRUNC, NULL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			fprintf(stderr, "lossy_bridge: recv %s: %s\n", d->name, strerror(errno));
			return false;
		}
		now = now_ns();
		for (i = 0; i < (unsigned)r; i++) {
			if (from[i].sll_pkttype == PACKET_OUTGOING)
				continue;
			if (msgs[i].msg_len > SLOT_SIZE ||
			    (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				d->c.rx++;
				d->c.oversize++;
				continue;
			}
			admit(d, bufs[i], msgs[i].msg_len, now);
		}
		if (r < BURST)
			return true;
	}
	return true;
}

/* ---- main -------------------------------------------------------------------------------------
 */

static void
print_counters(struct dir *dirs, uint64_t seed)
{
	unsigned k;

	printf("{\"seed\": %" PRIu64, seed);
	for (k = 0; k < 2; k++) {
		struct dir *d = &dirs[k];

		d->c.kernel_drops += kernel_drops(d->in_fd);
		printf(", \"%s\": {\"queued\": %u, \"held\": %u", d->name, d->n, d->n_held);
#define _(n) printf(", \"" #n "\": %" PRIu64, d->c.n);
		foreach_bridge_counter
#undef _
		        printf("}");
	}
	printf("}\n");
	fflush(stdout);
}

/* "X" or "X:Y" into v[0] (a->b) and v[1] (b->a); a trailing '%' divides by 100. */
static bool
parse_pair(const char *s, double v[2], bool prob)
{
	char *end;
	unsigned k;

	for (k = 0; k < 2; k++) {
		errno = 0;
		v[k] = strtod(s, &end);
		if (errno || end == s)
			return false;
		if (*end == '%') {
			v[k] /= 100;
			end++;
		}
		if (v[k] < 0 || (prob && v[k] > 1))
			return false;
		if (*end == '\0') {
			if (k == 0)
				v[1] = v[0];
			return true;
		}
		if (*end != ':' || k == 1)
			return false;
		s = end + 1;
	}
	return false;
}

static int
usage(void)
{
	fprintf(stderr, "usage: lossy_bridge -a IFACE -b IFACE [--loss P[:P]] [--reorder P[:P]] "
	                "[--delay MS[:MS]]\n"
	                "                    [--gap N[:N]] [--hold MS] [--queue N] [--seed S] "
	                "[--timeout S]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {{"if-a", required_argument, NULL, 'a'},
	                                     {"if-b", required_argument, NULL, 'b'},
	                                     {"loss", required_argument, NULL, 'l'},
	                                     {"reorder", required_argument, NULL, 'r'},
	                                     {"delay", required_argument, NULL, 'd'},
	                                     {"gap", required_argument, NULL, 'g'},
	                                     {"hold", required_argument, NULL, 'H'},
	                                     {"queue", required_argument, NULL, 'q'},
	                                     {"seed", required_argument, NULL, 's'},
	                                     {"timeout", required_argument, NULL, 't'},
	                                     {NULL, 0, NULL, 0}};
	double loss[2] = {0, 0}, reorder[2] = {0, 0}, delay[2] = {0, 0}, gap[2] = {3, 3};
	const char *if_a = NULL, *if_b = NULL;
	unsigned long queue = 4096;
	uint64_t seed = 1, t_end;
	double timeout = 600;
	struct dir dirs[2];
	struct sigaction sa = {0};
	sigset_t block, orig;
	int opt, fd_a, fd_b, ret = 1;
	unsigned k;

	while ((opt = getopt_long(argc, argv, "a:b:l:r:d:g:H:q:s:t:", opts, NULL)) != -1) {
		char *end = NULL;
		double hold_ms;

		switch (opt) {
		case 'a':
			if_a = optarg;
			break;
		case 'b':
			if_b = optarg;
			break;
		case 'l':
			if (!parse_pair(optarg, loss, true))
				return usage();
			break;
		case 'r':
			if (!parse_pair(optarg, reorder, true))
				return usage();
			break;
		case 'd':
			if (!parse_pair(optarg, delay, false))
				return usage();
			break;
		case 'g':
			if (!parse_pair(optarg, gap, false) || gap[0] < 1 || gap[1] < 1)
				return usage();
			break;
		case 'H':
			hold_ms = strtod(optarg, &end);
			if (*end || hold_ms < 0)
				return usage();
			hold_ns = (uint64_t)(hold_ms * 1e6);
			break;
		case 'q':
			queue = strtoul(optarg, &end, 10);
			if (*end || queue < 1 || queue > (1 << 20))
				return usage();
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end)
				return usage();
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || timeout <= 0)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (!if_a || !if_b || optind != argc)
		return usage();

	memset(dirs, 0, sizeof(dirs));
	fd_a = open_port(if_a);
	fd_b = fd_a < 0 ? -1 : open_port(if_b);
	if (fd_b < 0)
		goto out;
	for (k = 0; k < 2; k++) {
		struct dir *d = &dirs[k];

		d->name = k == 0 ? "ab" : "ba";
		d->in_fd = k == 0 ? fd_a : fd_b;
		d->out_fd = k == 0 ? fd_b : fd_a;
		d->imp = (struct impair){.loss = loss[k],
		                         .reorder = reorder[k],
		                         .delay_ns = (uint64_t)(delay[k] * 1e6),
		                         .gap = (unsigned)gap[k]};
		d->rng = seed ^ (k ? 0x5851f42d4c957f2dULL : 0);
		d->cap = (unsigned)queue;
		d->ring = calloc(queue, sizeof(*d->ring));
		if (!d->ring) {
			fprintf(stderr, "lossy_bridge: no memory for %lu frames\n", queue);
			goto out_free;
		}
	}

	/* the signals only land inside ppoll: no wakeup is lost between a check and the wait */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigdelset(&orig, SIGTERM);
	sigdelset(&orig, SIGINT);
	sigdelset(&orig, SIGUSR1);

	printf("READY a=%s b=%s\n", if_a, if_b);
	fflush(stdout);
	t_end = now_ns() + (uint64_t)(timeout * 1e9);
	ret = 0;
	while (!stop) {
		struct pollfd pfd[2] = {{.fd = fd_a, .events = POLLIN},
		                        {.fd = fd_b, .events = POLLIN}};
		uint64_t now = now_ns(), next = t_end, n;
		struct timespec ts;
		int r;

		if (now >= t_end)
			break;
		for (k = 0; k < 2; k++) {
			n = release_due(&dirs[k], now);
			if (n < next)
				next = n;
		}
		if (report) {
			report = 0;
			print_counters(dirs, seed);
		}
		now = now_ns();
		n = next > now ? next - now : 0;
		ts = (struct timespec){.tv_sec = (time_t)(n / 1000000000ULL),
		                       .tv_nsec = (long)(n % 1000000000ULL)};
		r = ppoll(pfd, 2, &ts, &orig);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "lossy_bridge: poll: %s\n", strerror(errno));
			ret = 1;
			break;
		}
		for (k = 0; k < 2; k++) {
			if (pfd[k].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				fprintf(stderr, "lossy_bridge: %s went away\n", k ? if_b : if_a);
				stop = 1;
				ret = 1;
			}
			if ((pfd[k].revents & POLLIN) && !rx_burst(&dirs[k])) {
				stop = 1;
				ret = 1;
			}
		}
	}
	print_counters(dirs, seed);
out_free:
	for (k = 0; k < 2; k++)
		free(dirs[k].ring);
out:
	if (fd_a >= 0)
		close(fd_a);
	if (fd_b >= 0)
		close(fd_b);
	return ret;
}
