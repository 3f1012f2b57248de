/* sock.c - unix SOCK_SEQPACKET helpers: listen, connect, peer credentials, SCM_RIGHTS fd passing.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

/* Room for BP_SOCK_MAX_FDS fds in one SCM_RIGHTS message, aligned for cmsghdr. */
union cmsg_room {
	char buf[CMSG_SPACE(sizeof(int) * BP_SOCK_MAX_FDS)];
	struct cmsghdr align;
};

int
bp_sock_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	union cmsg_room u;
	struct cmsghdr *cm;
	ssize_t r;

	if (nfds > BP_SOCK_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EMSGSIZE;
}

static void
close_all(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

ssize_t
bp_sock_recv_fds(int sock, void *buf, size_t cap, int *fds, unsigned *nfds, int flags)
{
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	int got[sizeof(union cmsg_room) / sizeof(int)];
	unsigned max = nfds ? *nfds : 0, n = 0, k;
	union cmsg_room u;
	struct cmsghdr *cm;
	ssize_t r;
	int err = 0;

	if (nfds)
		*nfds = 0;
	/* always offer room for the most we ever accept, so extra fds arrive and get closed here */
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;

	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0)) {
			err = -EBADMSG;
			continue;
		}
		k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (k > sizeof(got) / sizeof(got[0]) - n)
			k = sizeof(got) / sizeof(got[0]) -
			    n; /* cannot happen: the buffer bounds it */
		memcpy(&got[n], CMSG_DATA(cm), k * sizeof(int));
		n += k;
	}
	if (!err && (msg.msg_flags & MSG_CTRUNC))
		err = -ETOOMANYREFS;
	if (!err && n > max)
		err = -ETOOMANYREFS;
	if (!err && (msg.msg_flags & MSG_TRUNC))
		err = -EMSGSIZE;
	if (err) {
		close_all(got, n);
		return err;
	}
	if (n)
		memcpy(fds, got, n * sizeof(int));
	if (nfds)
		*nfds = n;
	return r;
}

/* Fill a sockaddr_un; a leading '@' names the abstract namespace. Returns its length or -errno. */
static int
make_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!n)
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@') {
		sa->sun_path[0] = 0;
		return (int)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return (int)sizeof(*sa);
}

int
bp_sock_listen(const char *path, int backlog)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, len, err;

	len = make_addr(&sa, path);
	if (len < 0)
		return len;
	if (path[0] != '@' && lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, (socklen_t)len) < 0 || listen(fd, backlog) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int
bp_sock_connect(const char *path)
{
	return bp_sock_connect_ms(path, 0);
}

int
bp_sock_connect_ms(const char *path, unsigned timeout_ms)
{
	struct sockaddr_un sa;
	int fd, len, err;

	len = make_addr(&sa, path);
	if (len < 0)
		return len;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (timeout_ms) {
		/* bounds connect() when the listener's backlog is full, and every later send:
		 * unix sockets honour SO_SNDTIMEO for both */
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
		                     .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};

		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
			err = -errno;
			close(fd);
			return err;
		}
	}
	if (connect(fd, (struct sockaddr *)&sa, (socklen_t)len) < 0) {
		err = errno == EAGAIN ? -ETIMEDOUT : -errno;
		close(fd);
		return err;
	}
	return fd;
}

int
bp_sock_peercred(int sock, uint32_t *pid, uint32_t *uid, uint32_t *gid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (pid)
		*pid = (uint32_t)cr.pid;
	if (uid)
		*uid = cr.uid;
	if (gid)
		*gid = cr.gid;
	return 0;
}
