/* ctl.h - control protocol codec (strict, hostile input) and unix socket / fd passing helpers. */
#ifndef BYPASSD_CLIENT_CTL_H
#define BYPASSD_CLIENT_CTL_H

/*
 * Used by both ends: libbypass encodes requests and decodes replies; the gateway decodes
 * requests from untrusted apps (hostile input: every byte is checked, nothing is read beyond what
 * was received) and encodes replies. Messages are the fixed-size structs of bp_abi.h.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "bypass/bp_abi.h"

/* Why a message was refused: _(ENUM, BP_E code the gateway answers with, "message"). */
#define foreach_bp_ctl_err(_)                                                                      \
	_(OK, 0, "ok")                                                                             \
	_(SHORT, BP_EPROTO, "message shorter than a header")                                       \
	_(MAGIC, BP_EPROTO, "bad magic")                                                           \
	_(VERSION, BP_EABI, "control protocol version not supported")                              \
	_(TYPE, BP_EPROTO, "unknown message type, or not one this side accepts")                   \
	_(LENGTH, BP_EPROTO, "length field does not match the message received or its type")       \
	_(ABI, BP_EABI, "ABI major version not supported")                                         \
	_(RESERVED, BP_EPROTO, "reserved field or unknown flag not zero")                          \
	_(NAME_UNTERMINATED, BP_EPROTO, "name not NUL-terminated within its field")                \
	_(NAME_PAD, BP_EPROTO, "bytes after a name's NUL not zero")                                \
	_(NAME_EMPTY, BP_ETENANT, "tenant name empty")                                             \
	_(NAME_CHARS, BP_ETENANT, "tenant name: only [A-Za-z0-9._-], starting alphanumeric")       \
	_(APP_NAME, BP_EPROTO, "app name: printable ASCII only")                                   \
	_(COUNT, BP_ESIZES, "queue count out of range (1..64)")                                    \
	_(GEOM, BP_ESIZES,                                                                         \
	  "ring or buffer size not a power of two within limits, or more buffers than ring slots") \
	_(PROTO, BP_ENOTSUP, "unknown or unsupported protocol")                                    \
	_(ADDR, BP_EADDRNOTAVAIL, "address 0, broadcast, multicast, loopback or reserved")         \
	_(PORT, BP_EPORT, "UDP port 0, or a port on a raw bind")                                   \
	_(QUEUE, BP_EPROTO, "queue index out of range")                                            \
	_(SOCK, BP_EBADSOCK, "socket id out of range")                                             \
	_(NFDS, BP_EPROTO, "QUEUE message must carry 4 fds")                                       \
	_(SIZE, BP_EPROTO, "region size zero or not what the geometry needs")                      \
	_(CODE, BP_EPROTO, "error code is not a BP_E value")                                       \
	_(ERRMSG, BP_EPROTO, "error message not NUL-terminated printable text")

enum bp_ctl_err {
#define _(e, c, s) BP_CTL_ERR_##e,
	foreach_bp_ctl_err(_)
#undef _
	        BP_CTL_ERR__MAX
};

/* Which side's messages a decoder accepts. */
enum bp_ctl_from {
	BP_CTL_FROM_APP, /* the gateway decodes: HELLO, BIND, UNBIND, BYE */
	BP_CTL_FROM_GW,  /* libbypass decodes: HELLO_OK, QUEUE, ERROR, BIND_OK, OK */
};

/* Any control message, aligned. */
union bp_ctl_msg {
	struct bp_ctl_hdr hdr;
	struct bp_ctl_hello hello;
	struct bp_ctl_hello_ok hello_ok;
	struct bp_ctl_queue queue;
	struct bp_ctl_error error;
	struct bp_ctl_bind bind;
	struct bp_ctl_bind_ok bind_ok;
	struct bp_ctl_unbind unbind;
	uint8_t raw[BP_CTL_MAX_LEN];
};

/*
 * Decode and check one received message of len bytes. Copies min(len, sizeof *out) bytes into
 * *out (the rest zeroed) even when refusing, so the caller can still answer with hdr.seq and
 * report hello.abi_major. Returns BP_CTL_ERR_OK or the reason.
 */
enum bp_ctl_err bp_ctl_decode(const void *buf, size_t len, enum bp_ctl_from from,
                              union bp_ctl_msg *out);

/* The message and the BP_E code for a decode error. */
const char *bp_ctl_err_str(enum bp_ctl_err e);
int bp_ctl_err_code(enum bp_ctl_err e);

/* Size of the struct for a message type; 0 if unknown. */
size_t bp_ctl_type_len(uint16_t type);

/* Zero *m (len bytes) and fill its header. */
void bp_ctl_init(void *m, enum bp_ctl_type type, size_t len, uint32_t seq);

/*
 * Checks shared by the decoder and the senders. A name field is NUL-terminated and NUL-padded;
 * a tenant name is [A-Za-z0-9._-]+ starting alphanumeric; an app name is printable ASCII.
 */
enum bp_ctl_err bp_ctl_check_tenant(const char *field, size_t size);
enum bp_ctl_err bp_ctl_check_text(const char *field, size_t size);

/* Copy a tenant name into a NUL-padded field: 0, -ENAMETOOLONG or -EINVAL (bad characters). */
int bp_ctl_set_tenant(char *field, size_t size, const char *name);

/* Fill an ERROR reply: printable, truncated to fit, NUL-padded. */
void bp_ctl_error_init(struct bp_ctl_error *m, uint32_t seq, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/*
 * Complete a HELLO's wanted geometry with the gateway's defaults (zero fields). The result still
 * needs bp_geom_valid() and the tenant's quota check.
 */
void bp_ctl_geom_merge(struct bp_geom *out, const struct bp_geom *want, const struct bp_geom *dflt);

/* ---- unix sockets (sock.c) ---- */

/* Most fds one message may carry through these helpers. */
#define BP_SOCK_MAX_FDS 16

/*
 * Send one message with nfds (0..BP_SOCK_MAX_FDS) fds attached by SCM_RIGHTS; MSG_NOSIGNAL (never
 * SIGPIPE). The fds stay the caller's. Returns 0 or -errno (-EMSGSIZE on a short send).
 */
int bp_sock_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);

/*
 * Receive one message (SEQPACKET/DGRAM) into buf[cap], and up to *nfds fds (all O_CLOEXEC). On
 * return *nfds is how many fds arrived (the caller owns them). Returns the message length, 0 at
 * end of stream, or -errno; on any error every fd that arrived is closed and *nfds is 0:
 * -EMSGSIZE message longer than cap, -ETOOMANYREFS more fds than asked for or truncated control
 * data (MSG_CTRUNC), -EBADMSG control data other than SCM_RIGHTS.
 */
ssize_t bp_sock_recv_fds(int sock, void *buf, size_t cap, int *fds, unsigned *nfds, int flags);

/* Listening SOCK_SEQPACKET socket at path (an old socket file is replaced). Returns fd or -errno.
 */
int bp_sock_listen(const char *path, int backlog);

/* Connect a SOCK_SEQPACKET socket to path. Returns fd or -errno (-ENAMETOOLONG, -ENOENT, ...). */
int bp_sock_connect(const char *path);
/* Same, with connect() and every later send on the socket bounded by timeout_ms (0: none). */
int bp_sock_connect_ms(const char *path, unsigned timeout_ms);

/* The peer's pid/uid/gid (SO_PEERCRED). Returns 0 or -errno. */
int bp_sock_peercred(int sock, uint32_t *pid, uint32_t *uid, uint32_t *gid);

#endif
