/* tcp_echo.c - a TCP echo server over the libbypass stream events: every byte goes back. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bypass/bypass.h>

#define BATCH 64
#define SLOTS 65536 /* connection ids: (generation << 16) | slot */
#define WAIT  65536 /* RECV events waiting for a free TX buffer */

static volatile sig_atomic_t stop;

struct conn {
	uint32_t id;
	bool eof, shut;
	unsigned waiting; /* RECV events of it in the wait list */
};

static struct conn conns[SLOTS];
static struct bp_tcp_ev wait_q[WAIT]; /* FIFO: keeps every connection's bytes in order */
static unsigned wq_head, wq_n;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct conn *
conn_of(uint32_t id)
{
	struct conn *c = &conns[id & 0xffff];

	return c->id == id ? c : NULL;
}

/* Echo one RECV event: copy its bytes (read-only RX area) into TX buffers and send them; the
 * RX buffer goes back at once. false: no TX buffer free (nothing sent, try again later). */
static bool
echo(struct bp_queue *q, const struct bp_tcp_ev *ev)
{
	uint32_t size = bp_buf_size(q), off = 0;
	void *b[4];
	unsigned need = (ev->len + size - 1) / size, got, i;

	got = need <= 4 ? bp_buf_alloc_burst(q, b, need) : 0;
	if (got != need) {
		for (i = 0; i < got; i++)
			bp_buf_free(q, b[i]);
		return false;
	}
	for (i = 0; i < need; i++) {
		uint32_t n = ev->len - off < size ? ev->len - off : size;
		int r;

		memcpy(b[i], (const uint8_t *)ev->data + off, n);
		r = bp_tcp_send(q, ev->conn, b[i], n, 0);
		if (r < 0)
			bp_buf_free(q, b[i]); /* the connection is going: its RESET follows */
		off += n;
	}
	bp_tcp_done(q, ev, 1);
	return true;
}

static void
maybe_shutdown(struct bp_queue *q, struct conn *c)
{
	if (c->eof && !c->waiting && !c->shut) {
		bp_tcp_shutdown(q, c->id);
		c->shut = true;
	}
}

/* Send what waited for TX buffers, in order, as far as buffers go. */
static void
drain_wait(struct bp_queue *q)
{
	while (wq_n) {
		struct bp_tcp_ev *ev = &wait_q[wq_head];
		struct conn *c = conn_of(ev->conn);

		if (c && !echo(q, ev))
			return;
		if (!c)
			bp_tcp_done(q, ev, 1); /* it is gone */
		wq_head = (wq_head + 1) % WAIT;
		wq_n--;
		if (c) {
			c->waiting--;
			maybe_shutdown(q, c);
		}
	}
}

static void
handle(struct bp_queue *q, const struct bp_tcp_ev *ev)
{
	struct conn *c = conn_of(ev->conn);

	switch (ev->type) {
	case BP_TCP_ACCEPTED:
		conns[ev->conn & 0xffff] = (struct conn){.id = ev->conn};
		break;
	case BP_TCP_RECV:
		if (!c) {
			bp_tcp_done(q, ev, 1);
			break;
		}
		if (c->waiting || wq_n || !echo(q, ev)) {
			if (wq_n == WAIT) { /* cannot happen: RX buffers run out first */
				bp_tcp_done(q, ev, 1);
				bp_tcp_abort(q, c->id);
				break;
			}
			wait_q[(wq_head + wq_n++) % WAIT] = *ev;
			c->waiting++;
		}
		break;
	case BP_TCP_EOF:
		if (c) {
			c->eof = true;
			maybe_shutdown(q, c);
		}
		break;
	case BP_TCP_SENT:
		break; /* the buffer is free again */
	case BP_TCP_CLOSED:
	case BP_TCP_RESET:
		if (c)
			c->id = 0; /* events of it still waiting are dropped by drain_wait */
		break;
	default:
		break;
	}
}

static int
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SOCKET] TENANT ADDRESS PORT\n", prog);
	return 2;
}

int
main(int argc, char **argv)
{
	const char *path = BP_DEFAULT_SOCKET;
	struct bp_tcp_ev ev[BATCH];
	struct bp_handle *h;
	struct bp_queue *q;
	struct in_addr addr;
	unsigned long port;
	int arg = 1, lsock, n, i, ret = 1;

	if (argc > 2 && !strcmp(argv[1], "-s")) {
		path = argv[2];
		arg = 3;
	}
	if (argc - arg != 3 || inet_pton(AF_INET, argv[arg + 1], &addr) != 1)
		return usage(argv[0]);
	port = strtoul(argv[arg + 2], NULL, 10);
	if (port == 0 || port > 65535)
		return usage(argv[0]);
	h = bp_attach(path, argv[arg], 1, NULL);
	if (!h) {
		fprintf(stderr, "tcp_echo: attach: %s %s\n", bp_strerror(errno), bp_errmsg());
		return 1;
	}
	q = bp_queue(h, 0);
	lsock = bp_tcp_listen(q, addr.s_addr, htons((uint16_t)port));
	if (lsock < 0) {
		fprintf(stderr, "tcp_echo: listen: %s %s\n", bp_strerror(lsock), bp_errmsg());
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("tcp_echo: listening on %s:%lu\n", argv[arg + 1], port);
	fflush(stdout);
	while (!stop) {
		drain_wait(q);
		n = bp_tcp_poll(q, ev, BATCH);
		if (n < 0) {
			fprintf(stderr, "tcp_echo: %s\n", bp_strerror(n));
			goto out;
		}
		for (i = 0; i < n; i++)
			handle(q, &ev[i]);
		if (n == 0) {
			n = bp_wait(q, 100);
			if (n < 0 && n != -EINTR) {
				fprintf(stderr, "tcp_echo: %s\n", bp_strerror(n));
				goto out;
			}
		}
	}
	ret = 0;
out:
	bp_detach(h);
	return ret;
}
