/* udp_echo.c - a UDP echo server over libbypass: every datagram goes back to where it came from. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bypass/bypass.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
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
	struct bp_handle *h;
	struct bp_queue *q;
	struct bp_rx rx[32];
	struct bp_tx tx[32];
	struct in_addr addr;
	unsigned long port;
	int arg = 1, sock, n, i, k, sent, ret = 1;

	if (argc > 2 && !strcmp(argv[1], "-s")) {
		path = argv[2];
		arg = 3;
	}
	if (argc - arg != 3 || inet_pton(AF_INET, argv[arg + 1], &addr) != 1)
		return usage(argv[0]);
	port = strtoul(argv[arg + 2], NULL, 10);
	if (port == 0 || port > 65535)
		return usage(argv[0]);

	h = bp_attach(path, argv[arg], 1, NULL); /* one queue: this thread */
	if (!h) {
		fprintf(stderr, "udp_echo: attach: %s %s\n", bp_strerror(errno), bp_errmsg());
		return 1;
	}
	q = bp_queue(h, 0);
	sock = bp_udp_bind(q, addr.s_addr, htons((uint16_t)port));
	if (sock < 0) {
		fprintf(stderr, "udp_echo: bind: %s %s\n", bp_strerror(sock), bp_errmsg());
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("udp_echo: echoing on %s:%lu\n", argv[arg + 1], port);
	fflush(stdout);

	while (!stop) {
		n = bp_recv_burst(q, rx, 32);
		if (n < 0) {
			fprintf(stderr, "udp_echo: %s\n", bp_strerror(n));
			goto out;
		}
		if (n == 0) {
			/* spins a little, then sleeps until the gateway rings; 100 ms to see
			 * signals */
			n = bp_wait(q, 100);
			if (n < 0 && n != -EINTR) {
				fprintf(stderr, "udp_echo: %s\n", bp_strerror(n));
				goto out;
			}
			continue;
		}
		/* RX buffers are read-only: copy each payload into a TX buffer, reply to its source
		 */
		for (i = 0, k = 0; i < n; i++) {
			void *b = bp_buf_alloc(q);

			if (!b)
				break; /* all in flight: drop the rest, like a full socket buffer */
			memcpy(b, rx[i].data, rx[i].len);
			tx[k++] = (struct bp_tx){.data = b,
			                         .len = rx[i].len,
			                         .sock = rx[i].sock,
			                         .addr = rx[i].addr,
			                         .port = rx[i].port};
		}
		bp_done(q, rx, (unsigned)n); /* RX buffers back to the gateway */
		sent = k ? bp_send_burst(q, tx, (unsigned)k) : 0;
		for (i = sent > 0 ? sent : 0; i < k; i++)
			bp_buf_free(q, tx[i].data); /* not taken: still ours */
	}
	ret = 0;
out:
	bp_detach(h);
	return ret;
}
