/* ctl.c - control protocol codec: strict decoding of every message, encoding helpers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char *const err_str[BP_CTL_ERR__MAX] = {
#define _(e, c, s) [BP_CTL_ERR_##e] = s,
        foreach_bp_ctl_err(_)
#undef _
};

static const int err_code[BP_CTL_ERR__MAX] = {
#define _(e, c, s) [BP_CTL_ERR_##e] = c,
        foreach_bp_ctl_err(_)
#undef _
};

const char *
bp_ctl_err_str(enum bp_ctl_err e)
{
	return (unsigned)e < BP_CTL_ERR__MAX ? err_str[e] : "unknown control error";
}

int
bp_ctl_err_code(enum bp_ctl_err e)
{
	return (unsigned)e < BP_CTL_ERR__MAX ? err_code[e] : BP_EPROTO;
}

size_t
bp_ctl_type_len(uint16_t type)
{
	switch (type) {
	case BP_CTL_HELLO:
		return sizeof(struct bp_ctl_hello);
	case BP_CTL_BIND:
		return sizeof(struct bp_ctl_bind);
	case BP_CTL_UNBIND:
		return sizeof(struct bp_ctl_unbind);
	case BP_CTL_BYE:
	case BP_CTL_OK:
		return sizeof(struct bp_ctl_hdr);
	case BP_CTL_HELLO_OK:
		return sizeof(struct bp_ctl_hello_ok);
	case BP_CTL_QUEUE:
		return sizeof(struct bp_ctl_queue);
	case BP_CTL_ERROR:
		return sizeof(struct bp_ctl_error);
	case BP_CTL_BIND_OK:
		return sizeof(struct bp_ctl_bind_ok);
	default:
		return 0;
	}
}

void
bp_ctl_init(void *m, enum bp_ctl_type type, size_t len, uint32_t seq)
{
	struct bp_ctl_hdr *h = m;

	memset(m, 0, len);
	h->magic = BP_CTL_MAGIC;
	h->version = BP_CTL_VERSION;
	h->type = (uint16_t)type;
	h->len = (uint32_t)len;
	h->seq = seq;
}

/* A field holds a NUL within size, and only NULs after it. Sets *slen. */
static enum bp_ctl_err
check_field(const char *f, size_t size, size_t *slen)
{
	const char *nul = memchr(f, 0, size);
	size_t i;

	if (!nul)
		return BP_CTL_ERR_NAME_UNTERMINATED;
	*slen = (size_t)(nul - f);
	for (i = *slen; i < size; i++)
		if (f[i])
			return BP_CTL_ERR_NAME_PAD;
	return BP_CTL_ERR_OK;
}

static bool
tenant_char(unsigned char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return !first && (c == '.' || c == '_' || c == '-');
}

enum bp_ctl_err
bp_ctl_check_tenant(const char *f, size_t size)
{
	enum bp_ctl_err e;
	size_t i, n;

	e = check_field(f, size, &n);
	if (e)
		return e;
	if (!n)
		return BP_CTL_ERR_NAME_EMPTY;
	for (i = 0; i < n; i++)
		if (!tenant_char((unsigned char)f[i], i == 0))
			return BP_CTL_ERR_NAME_CHARS;
	return BP_CTL_ERR_OK;
}

enum bp_ctl_err
bp_ctl_check_text(const char *f, size_t size)
{
	enum bp_ctl_err e;
	size_t i, n;

	e = check_field(f, size, &n);
	if (e)
		return e;
	for (i = 0; i < n; i++)
		if ((unsigned char)f[i] < 0x20 || (unsigned char)f[i] > 0x7e)
			return BP_CTL_ERR_APP_NAME;
	return BP_CTL_ERR_OK;
}

int
bp_ctl_set_tenant(char *field, size_t size, const char *name)
{
	size_t n = strnlen(name, size);

	if (n >= size)
		return -ENAMETOOLONG;
	memset(field, 0, size);
	memcpy(field, name, n);
	return bp_ctl_check_tenant(field, size) ? -EINVAL : 0;
}

void
bp_ctl_error_init(struct bp_ctl_error *m, uint32_t seq, int code, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	bp_ctl_init(m, BP_CTL_ERROR, sizeof(*m), seq);
	m->code = code;
	va_start(ap, fmt);
	vsnprintf(m->msg, sizeof(m->msg), fmt, ap);
	va_end(ap);
	for (i = 0; i < sizeof(m->msg) && m->msg[i]; i++)
		if ((unsigned char)m->msg[i] < 0x20 || (unsigned char)m->msg[i] > 0x7e)
			m->msg[i] = '?';
}

void
bp_ctl_geom_merge(struct bp_geom *out, const struct bp_geom *want, const struct bp_geom *dflt)
{
	*out = *dflt;
	if (want->rx_ring)
		out->rx_ring = want->rx_ring;
	if (want->rx_bufs)
		out->rx_bufs = want->rx_bufs;
	else if (out->rx_bufs > out->rx_ring)
		out->rx_bufs = out->rx_ring;
	if (want->rx_buf_size)
		out->rx_buf_size = want->rx_buf_size;
	if (want->tx_ring)
		out->tx_ring = want->tx_ring;
	if (want->tx_bufs)
		out->tx_bufs = want->tx_bufs;
	else if (out->tx_bufs > out->tx_ring)
		out->tx_bufs = out->tx_ring;
	if (want->tx_buf_size)
		out->tx_buf_size = want->tx_buf_size;
	out->reserved[0] = out->reserved[1] = 0;
}

/* A requested geometry: each field zero (default) or within the ABI's limits. */
static enum bp_ctl_err
check_geom_request(const struct bp_geom *g)
{
	if (g->reserved[0] || g->reserved[1])
		return BP_CTL_ERR_RESERVED;
	if ((g->rx_ring && !bp_pow2_in(g->rx_ring, BP_RING_MIN, BP_RING_MAX)) ||
	    (g->tx_ring && !bp_pow2_in(g->tx_ring, BP_RING_MIN, BP_RING_MAX)) ||
	    (g->rx_buf_size && !bp_pow2_in(g->rx_buf_size, BP_BUF_SIZE_MIN, BP_BUF_SIZE_MAX)) ||
	    (g->tx_buf_size && !bp_pow2_in(g->tx_buf_size, BP_BUF_SIZE_MIN, BP_BUF_SIZE_MAX)) ||
	    g->rx_bufs > BP_RING_MAX || g->tx_bufs > BP_RING_MAX ||
	    (g->rx_ring && g->rx_bufs > g->rx_ring) || (g->tx_ring && g->tx_bufs > g->tx_ring))
		return BP_CTL_ERR_GEOM;
	return BP_CTL_ERR_OK;
}

/* Same rule as the descriptor check: a unicast address one may use. */
static bool
addr_unicast(uint32_t addr_be)
{
	const uint8_t *a = (const uint8_t *)&addr_be;

	return a[0] != 0 && a[0] != 127 && a[0] < 224;
}

static enum bp_ctl_err
check_hello(const struct bp_ctl_hello *m)
{
	enum bp_ctl_err e;

	if (m->abi_major != BP_ABI_MAJOR)
		return BP_CTL_ERR_ABI;
	if ((m->flags & ~BP_HELLO_F_VALID) || m->reserved)
		return BP_CTL_ERR_RESERVED;
	if (m->nqueues < 1 || m->nqueues > BP_MAX_QUEUES)
		return BP_CTL_ERR_COUNT;
	e = check_geom_request(&m->geom);
	if (e)
		return e;
	e = bp_ctl_check_tenant(m->tenant, sizeof(m->tenant));
	if (e)
		return e;
	e = bp_ctl_check_text(m->app_name, sizeof(m->app_name));
	return e;
}

static enum bp_ctl_err
check_proto_addr(uint16_t proto, uint32_t addr_be, uint16_t port_be)
{
	if (proto != BP_PROTO_UDP && proto != BP_PROTO_RAW && proto != BP_PROTO_TCP)
		return BP_CTL_ERR_PROTO;
	if (!addr_unicast(addr_be))
		return BP_CTL_ERR_ADDR;
	if ((proto != BP_PROTO_RAW) != (port_be != 0))
		return BP_CTL_ERR_PORT;
	return BP_CTL_ERR_OK;
}

static enum bp_ctl_err
check_bind(const struct bp_ctl_bind *m)
{
	if (m->flags)
		return BP_CTL_ERR_RESERVED;
	if (m->queue >= BP_MAX_QUEUES)
		return BP_CTL_ERR_QUEUE;
	return check_proto_addr(m->proto, m->addr_be, m->port_be);
}

static enum bp_ctl_err
check_hello_ok(const struct bp_ctl_hello_ok *m)
{
	if (m->abi_major != BP_ABI_MAJOR)
		return BP_CTL_ERR_ABI;
	if (m->reserved[0] || m->reserved[1])
		return BP_CTL_ERR_RESERVED;
	if (m->nqueues < 1 || m->nqueues > BP_MAX_QUEUES)
		return BP_CTL_ERR_COUNT;
	if (!bp_geom_valid(&m->geom))
		return BP_CTL_ERR_GEOM;
	if (!m->max_udp_payload || m->max_udp_payload > 65507 || m->max_frame < 60 ||
	    m->max_frame > 65535)
		return BP_CTL_ERR_SIZE;
	return BP_CTL_ERR_OK;
}

static enum bp_ctl_err
check_queue(const struct bp_ctl_queue *m)
{
	if (m->reserved)
		return BP_CTL_ERR_RESERVED;
	if (m->queue >= BP_MAX_QUEUES)
		return BP_CTL_ERR_QUEUE;
	if (m->nfds != BP_QUEUE_NFDS)
		return BP_CTL_ERR_NFDS;
	if (!m->region_size || !m->rx_area_size || !m->tx_area_size ||
	    ((m->region_size | m->rx_area_size | m->tx_area_size) & (BP_PAGE_SIZE - 1)))
		return BP_CTL_ERR_SIZE;
	return BP_CTL_ERR_OK;
}

static enum bp_ctl_err
check_error(const struct bp_ctl_error *m)
{
	enum bp_ctl_err e;

	if (m->reserved)
		return BP_CTL_ERR_RESERVED;
	if (m->code < BP_ERR_BASE || m->code >= BP_ERR_END)
		return BP_CTL_ERR_CODE;
	e = bp_ctl_check_text(m->msg, sizeof(m->msg));
	return e ? BP_CTL_ERR_ERRMSG : BP_CTL_ERR_OK;
}

static enum bp_ctl_err
check_bind_ok(const struct bp_ctl_bind_ok *m)
{
	if (m->reserved)
		return BP_CTL_ERR_RESERVED;
	if (m->sock >= BP_MAX_SOCKS)
		return BP_CTL_ERR_SOCK;
	return check_proto_addr(m->proto, m->addr_be, m->port_be);
}

enum bp_ctl_err
bp_ctl_decode(const void *buf, size_t len, enum bp_ctl_from from, union bp_ctl_msg *out)
{
	const struct bp_ctl_hdr *h = &out->hdr;
	size_t want;
	bool app_type;

	memset(out, 0, sizeof(*out));
	if (len)
		memcpy(out, buf, len < sizeof(*out) ? len : sizeof(*out));
	if (len < sizeof(*h))
		return BP_CTL_ERR_SHORT;
	if (h->magic != BP_CTL_MAGIC)
		return BP_CTL_ERR_MAGIC;
	if (h->version != BP_CTL_VERSION)
		return BP_CTL_ERR_VERSION;
	want = bp_ctl_type_len(h->type);
	app_type = h->type < BP_CTL_HELLO_OK;
	if (!want || app_type != (from == BP_CTL_FROM_APP))
		return BP_CTL_ERR_TYPE;
	if (h->len != len || len != want)
		return BP_CTL_ERR_LENGTH;

	switch (h->type) {
	case BP_CTL_HELLO:
		return check_hello(&out->hello);
	case BP_CTL_BIND:
		return check_bind(&out->bind);
	case BP_CTL_UNBIND:
		if (out->unbind.reserved)
			return BP_CTL_ERR_RESERVED;
		return out->unbind.sock < BP_MAX_SOCKS ? BP_CTL_ERR_OK : BP_CTL_ERR_SOCK;
	case BP_CTL_HELLO_OK:
		return check_hello_ok(&out->hello_ok);
	case BP_CTL_QUEUE:
		return check_queue(&out->queue);
	case BP_CTL_ERROR:
		return check_error(&out->error);
	case BP_CTL_BIND_OK:
		return check_bind_ok(&out->bind_ok);
	default: /* BYE, OK: the header is all */
		return BP_CTL_ERR_OK;
	}
}
