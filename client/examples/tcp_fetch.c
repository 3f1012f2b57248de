/* tcp_fetch.c - an active open with the blocking stream calls: send a line, print the reply. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bypass/bypass.h>

static int
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SOCKET] TENANT ADDRESS PORT [TEXT]\n", prog);
	return 2;
}

int
main(int argc, char **argv)
{
	const char *path = BP_DEFAULT_SOCKET, *text = NULL;
	struct bp_stream *s = NULL;
	struct bp_handle *h;
	struct in_addr addr;
	unsigned long port;
	char buf[4096];
	long conn, n;
	int arg = 1, ret = 1;

	if (argc > 2 && !strcmp(argv[1], "-s")) {
		path = argv[2];
		arg = 3;
	}
	if (argc - arg < 3 || argc - arg > 4 || inet_pton(AF_INET, argv[arg + 1], &addr) != 1)
		return usage(argv[0]);
	port = strtoul(argv[arg + 2], NULL, 10);
	if (port == 0 || port > 65535)
		return usage(argv[0]);
	if (argc - arg == 4)
		text = argv[arg + 3];
	h = bp_attach(path, argv[arg], 1, NULL);
	if (!h) {
		fprintf(stderr, "tcp_fetch: attach: %s %s\n", bp_strerror(errno), bp_errmsg());
		return 1;
	}
	s = bp_stream_new(bp_queue(h, 0));
	if (!s)
		goto out;
	conn = bp_stream_connect(s, addr.s_addr, htons((uint16_t)port), 10000);
	if (conn < 0) {
		fprintf(stderr, "tcp_fetch: connect: %s\n", bp_strerror((int)conn));
		goto out;
	}
	if (text) {
		n = bp_stream_write(s, (uint32_t)conn, text, strlen(text), 10000);
		if (n < 0) {
			fprintf(stderr, "tcp_fetch: write: %s\n", bp_strerror((int)n));
			goto out;
		}
		bp_tcp_shutdown(bp_queue(h, 0), (uint32_t)conn);
	}
	while ((n = bp_stream_read(s, (uint32_t)conn, buf, sizeof(buf), 10000)) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	fflush(stdout);
	if (n < 0) {
		fprintf(stderr, "tcp_fetch: read: %s\n", bp_strerror((int)n));
		goto out;
	}
	ret = bp_stream_close(s, (uint32_t)conn, 5000) == 0 ? 0 : 1;
out:
	bp_stream_free(s);
	bp_detach(h);
	return ret;
}
