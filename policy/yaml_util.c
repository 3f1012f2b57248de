/* yaml_util.c - schema walking over a libyaml document: typed getters that record errors with
 * paths. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yaml_util.h"

/* ---- errors and positions ---- */

/* Copy text for a message: at most 40 bytes, control characters as '?'. */
static const char *
clip(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, n = 0, max = size - 4;

	if (max > 40)
		max = 40;
	for (i = 0; i < len && n < max; i++)
		buf[n++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (i < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static void
verr_at(struct pol_y *y, uint32_t line, uint32_t col, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pol_cfg_err_add(y->errs, y->file, line, col, y->path, "%s", msg);
}

static void __attribute__((format(printf, 4, 5)))
err_at(struct pol_y *y, uint32_t line, uint32_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(y, line, col, fmt, ap);
	va_end(ap);
}

void
pol_y_err(struct pol_y *y, const yaml_node_t *n, const char *fmt, ...)
{
	struct pol_loc l = pol_y_loc(n);
	va_list ap;

	va_start(ap, fmt);
	verr_at(y, l.line ? l.line : 1, l.col ? l.col : 1, fmt, ap);
	va_end(ap);
}

struct pol_loc
pol_y_loc(const yaml_node_t *n)
{
	struct pol_loc l = {0, 0};

	if (n) {
		l.line = (uint32_t)n->start_mark.line + 1;
		l.col = (uint32_t)n->start_mark.column + 1;
	}
	return l;
}

unsigned
pol_y_nerr(const struct pol_y *y)
{
	return pol_cfg_errs_count(y->errs) - y->errs_at;
}

bool
pol_y_failed(const struct pol_y *y)
{
	return pol_y_nerr(y) != 0;
}

/* ---- path ---- */

static size_t
path_add(struct pol_y *y, const char *fmt, ...)
{
	size_t saved = y->plen, room = sizeof(y->path) - y->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(y->path + y->plen, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		y->path[y->plen] = '\0';
	else if ((size_t)n >= room)
		y->plen = sizeof(y->path) - 1;
	else
		y->plen += (size_t)n;
	return saved;
}

size_t
pol_y_push_key(struct pol_y *y, const char *key)
{
	char buf[64];

	clip(key, strlen(key), buf, sizeof(buf));
	return path_add(y, y->plen ? ".%s" : "%s", buf);
}

size_t
pol_y_push_idx(struct pol_y *y, unsigned idx)
{
	return path_add(y, "[%u]", idx);
}

void
pol_y_pop(struct pol_y *y, size_t saved)
{
	if (saved < sizeof(y->path)) {
		y->plen = saved;
		y->path[saved] = '\0';
	}
}

const char *
pol_y_path(const struct pol_y *y)
{
	return y->path;
}

/* ---- parsing ---- */

/* libyaml reports reader errors (bad UTF-8, control characters) as a byte offset. */
static void
offset_to_loc(const char *buf, size_t len, size_t off, uint32_t *line, uint32_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static void
syntax_error(struct pol_y *y, const yaml_parser_t *p, const char *buf, size_t len)
{
	uint32_t line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		err_at(y, 0, 0, "out of memory while parsing");
		return;
	case YAML_READER_ERROR:
		offset_to_loc(buf, len, p->problem_offset, &line, &col);
		err_at(y, line, col, "YAML syntax error: %s (byte 0x%02x at offset %zu)",
		       p->problem ? p->problem : "unreadable input",
		       (unsigned)(p->problem_value & 0xff), p->problem_offset);
		return;
	default:
		line = (uint32_t)p->problem_mark.line + 1;
		col = (uint32_t)p->problem_mark.column + 1;
		if (p->context)
			err_at(y, line, col, "YAML syntax error: %s (%s started at %u:%u)",
			       p->problem ? p->problem : "invalid YAML", p->context,
			       (unsigned)p->context_mark.line + 1,
			       (unsigned)p->context_mark.column + 1);
		else
			err_at(y, line, col, "YAML syntax error: %s",
			       p->problem ? p->problem : "invalid YAML");
		return;
	}
}

/*
 * Pass one, over events: syntax errors, aliases (libyaml's document model resolves an alias to the
 * anchored node itself, so `&a [*a]` is a cycle and a few aliases can expand exponentially: we
 * refuse them) and a second document.
 */
static int
scan_events(struct pol_y *y, const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	unsigned docs = 0, depth = 0, nodes = 0, before = pol_y_nerr(y);
	bool done = false;

	if (!yaml_parser_initialize(&p)) {
		err_at(y, 0, 0, "out of memory while parsing");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done) {
		char a[64];

		if (!yaml_parser_parse(&p, &ev)) {
			syntax_error(y, &p, buf, len);
			break;
		}
		switch (ev.type) {
		case YAML_ALIAS_EVENT:
			err_at(y, (uint32_t)ev.start_mark.line + 1,
			       (uint32_t)ev.start_mark.column + 1,
			       "YAML aliases are not supported (*%s): write the value out",
			       clip((const char *)ev.data.alias.anchor,
			            strlen((const char *)ev.data.alias.anchor), a, sizeof(a)));
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs == 2)
				err_at(y, (uint32_t)ev.start_mark.line + 1,
				       (uint32_t)ev.start_mark.column + 1,
				       "a second YAML document: the file must hold exactly one");
			break;
		case YAML_SCALAR_EVENT:
			/* libyaml's document model costs ~160 bytes a node */
			if (++nodes > POL_Y_MAX_NODES) {
				err_at(y, (uint32_t)ev.start_mark.line + 1,
				       (uint32_t)ev.start_mark.column + 1,
				       "more than %u values in one document", POL_Y_MAX_NODES);
				done = true;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			/* libyaml's scanner is quadratic in the nesting depth: stop early */
			if (++depth > POL_Y_MAX_DEPTH) {
				err_at(y, (uint32_t)ev.start_mark.line + 1,
				       (uint32_t)ev.start_mark.column + 1,
				       "nested deeper than %u levels", POL_Y_MAX_DEPTH);
				done = true;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return pol_y_nerr(y) != before ? -EINVAL : 0;
}

int
pol_y_load(struct pol_y *y, const char *file, const char *buf, size_t len,
           struct pol_cfg_errs *errs)
{
	yaml_parser_t p;
	int ret;

	memset(y, 0, sizeof(*y));
	y->file = file;
	y->errs = errs;
	y->errs_at = pol_cfg_errs_count(errs);
	ret = scan_events(y, buf, len);
	if (ret)
		return ret;
	if (!yaml_parser_initialize(&p)) {
		err_at(y, 0, 0, "out of memory while parsing");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &y->doc)) {
		syntax_error(y, &p, buf, len);
		ret = -EINVAL;
	} else {
		y->have_doc = true;
	}
	yaml_parser_delete(&p);
	return ret;
}

void
pol_y_fini(struct pol_y *y)
{
	if (y->have_doc)
		yaml_document_delete(&y->doc);
	y->have_doc = false;
}

yaml_node_t *
pol_y_root(struct pol_y *y)
{
	return y->have_doc ? yaml_document_get_root_node(&y->doc) : NULL;
}

/* ---- scalars ---- */

const char *
pol_y_text(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool
plain(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

bool
pol_y_is_null(const yaml_node_t *n)
{
	const char *s = pol_y_text(n);

	return plain(n) && (!s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	                    !strcmp(s, "NULL"));
}

static int
bool_value(const yaml_node_t *n)
{
	static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
	                                                                       "FALSE"};
	const char *s = pol_y_text(n);
	unsigned i;

	if (!plain(n))
		return -1;
	for (i = 0; i < 3; i++) {
		if (!strcmp(s, t[i]))
			return 1;
		if (!strcmp(s, f[i]))
			return 0;
	}
	return -1;
}

/*
 * Integer syntax: [-+]?(digits | 0x hex), with an optional k/M/G suffix when si. Returns 0 and the
 * value (*neg for a minus sign), -ERANGE when too large, -EINVAL when not an integer.
 */
static int
parse_int(const char *s, bool si, uint64_t *out, bool *neg)
{
	uint64_t v = 0, base = 10, mult = 1;
	const char *p = s;
	bool any = false;

	*neg = false;
	if (*p == '+' || *p == '-')
		*neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; *p; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && isxdigit((unsigned char)*p))
			d = (unsigned)(tolower((unsigned char)*p) - 'a' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
		any = true;
	}
	if (!any)
		return -EINVAL;
	if (*p && si && base == 10 && !p[1]) {
		switch (*p) {
		case 'k':
		case 'K':
			mult = 1000;
			break;
		case 'M':
			mult = 1000000;
			break;
		case 'G':
			mult = 1000000000;
			break;
		default:
			return -EINVAL;
		}
		p++;
	}
	if (*p)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

bool
pol_y_is_int(const yaml_node_t *n)
{
	uint64_t v;
	bool neg;

	return plain(n) && parse_int(pol_y_text(n), false, &v, &neg) != -EINVAL;
}

const char *
pol_y_describe(const yaml_node_t *n, char *buf, size_t size)
{
	char c[64];
	uint64_t v;
	bool neg;
	int b;

	if (!n)
		return "nothing";
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (n->type != YAML_SCALAR_NODE)
		return "an empty node";
	clip((const char *)n->data.scalar.value, n->data.scalar.length, c, sizeof(c));
	if (pol_y_is_null(n))
		return "an empty value (null)";
	b = bool_value(n);
	if (b >= 0)
		snprintf(buf, size, "a boolean (%s)", c);
	else if (plain(n) && parse_int(c, false, &v, &neg) != -EINVAL)
		snprintf(buf, size, "%s", c);
	else if (!plain(n) && !parse_int(c, true, &v, &neg))
		snprintf(buf, size, "a quoted string ('%s')", c);
	else
		snprintf(buf, size, "'%s'", c);
	return buf;
}

/* ---- suggestions ---- */

/* " (did you mean 'x'?)" or " (expected one of: a, b, c)" */
static const char *
hint(const char *word, const char *const *cands, char *buf, size_t size)
{
	const char *s = pol_suggest(word, cands);
	size_t n;
	unsigned i;

	if (s) {
		snprintf(buf, size, " (did you mean '%s'?)", s);
		return buf;
	}
	n = (size_t)snprintf(buf, size, " (expected one of: ");
	for (i = 0; cands[i] && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", cands[i]);
	if (n < size)
		snprintf(buf + n, size - n, ")");
	return buf;
}

/* ---- mappings and sequences ---- */

static yaml_node_t *
node(struct pol_y *y, int idx)
{
	return yaml_document_get_node(&y->doc, idx);
}

bool
pol_y_map(struct pol_y *y, yaml_node_t *n, const char *const *known)
{
	yaml_node_pair_t *p, *first[POL_Y_MAX_KEYS] = {NULL};
	char d[96];

	if (!n || pol_y_is_null(n))
		return true;
	if (n->type != YAML_MAPPING_NODE) {
		pol_y_err(y, n, "expected a mapping (key: value, ...), found %s",
		          pol_y_describe(n, d, sizeof(d)));
		return false;
	}
	/* each key once against the known ones (few): linear in the mapping's size */
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(y, p->key);
		const char *ks = pol_y_text(k);
		size_t at;
		unsigned i;

		if (!ks || k->data.scalar.length != strlen(ks)) {
			pol_y_err(y, k, "expected a key name, found %s",
			          pol_y_describe(k, d, sizeof(d)));
			continue;
		}
		at = pol_y_push_key(y, ks);
		for (i = 0; known[i] && i < POL_Y_MAX_KEYS; i++)
			if (!strcmp(ks, known[i]))
				break;
		if (!known[i] || i == POL_Y_MAX_KEYS) {
			char h[512], c[64];

			pol_y_err(y, k, "unknown key '%s'%s", clip(ks, strlen(ks), c, sizeof(c)),
			          hint(ks, known, h, sizeof(h)));
		} else if (first[i]) {
			struct pol_loc l = pol_y_loc(node(y, first[i]->key));

			pol_y_err(y, k, "duplicate key (first at %u:%u)", l.line, l.col);
		} else {
			first[i] = p;
		}
		pol_y_pop(y, at);
	}
	return true;
}

yaml_node_t *
pol_y_get(struct pol_y *y, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *ks = pol_y_text(node(y, p->key));

		if (ks && !strcmp(ks, key))
			return node(y, p->value);
	}
	return NULL;
}

yaml_node_t *
pol_y_need(struct pol_y *y, yaml_node_t *map, const char *key, const char *what)
{
	yaml_node_t *v = pol_y_get(y, map, key);
	size_t at;

	if (v || !map || (map->type != YAML_MAPPING_NODE && !pol_y_is_null(map)))
		return v;
	at = pol_y_push_key(y, key);
	pol_y_err(y, map, "missing required key '%s' (%s)", key, what);
	pol_y_pop(y, at);
	return NULL;
}

int
pol_y_seq(struct pol_y *y, yaml_node_t *n, unsigned min, unsigned max)
{
	char d[96];
	size_t cnt;

	if (!n || pol_y_is_null(n)) {
		cnt = 0;
	} else if (n->type != YAML_SEQUENCE_NODE) {
		pol_y_err(y, n, "expected a list, found %s", pol_y_describe(n, d, sizeof(d)));
		return -EINVAL;
	} else {
		cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	}
	if (cnt < min || cnt > max) {
		if (max == min)
			pol_y_err(y, n, "expected a list of %u items, found %zu", min, cnt);
		else if (cnt < min)
			pol_y_err(y, n, "expected a list of at least %u item%s, found %zu", min,
			          min == 1 ? "" : "s", cnt);
		else
			pol_y_err(y, n, "expected a list of at most %u items, found %zu", max, cnt);
		return -EINVAL;
	}
	return (int)cnt;
}

yaml_node_t *
pol_y_item(struct pol_y *y, yaml_node_t *seq, unsigned i)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE ||
	    i >= (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start))
		return NULL;
	return node(y, seq->data.sequence.items.start[i]);
}

/* ---- typed getters ---- */

static bool
is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int
pol_y_uint(struct pol_y *y, yaml_node_t *n, uint64_t min, uint64_t max, unsigned flags,
           uint64_t *out)
{
	const char *pow2 = flags & POL_Y_POW2 ? "a power of two" : "an integer";
	char d[96];
	uint64_t v;
	bool neg;
	int r;

	if (!plain(n) || pol_y_is_null(n) ||
	    (r = parse_int(pol_y_text(n), flags & POL_Y_SI, &v, &neg)) == -EINVAL) {
		pol_y_err(y, n, "expected %s in %" PRIu64 "..%" PRIu64 "%s, found %s", pow2, min,
		          max, flags & POL_Y_SI ? " (k, M, G suffixes allowed)" : "",
		          pol_y_describe(n, d, sizeof(d)));
		return -EINVAL;
	}
	if (r == -ERANGE || (neg && v) || v < min || v > max) {
		pol_y_err(y, n, "expected %s in %" PRIu64 "..%" PRIu64 ", found %s", pow2, min, max,
		          pol_y_describe(n, d, sizeof(d)));
		return -EINVAL;
	}
	if ((flags & POL_Y_POW2) && !is_pow2(v)) {
		uint64_t lo = 1, hi;

		while (lo <= v / 2)
			lo <<= 1;
		hi = lo << 1;
		pol_y_err(y, n,
		          "expected a power of two in %" PRIu64 "..%" PRIu64 ", found %" PRIu64
		          " (nearest: %" PRIu64 ")",
		          min, max, v, (v - lo <= hi - v && lo >= min) || hi > max ? lo : hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int
pol_y_bool(struct pol_y *y, yaml_node_t *n, bool *out)
{
	int b = bool_value(n);
	char d[96];

	if (b < 0) {
		pol_y_err(y, n, "expected true or false, found %s",
		          pol_y_describe(n, d, sizeof(d)));
		return -EINVAL;
	}
	*out = b;
	return 0;
}

int
pol_y_str(struct pol_y *y, yaml_node_t *n, size_t minlen, size_t maxlen, char **out)
{
	char d[96], *s;
	size_t len;

	if (!n || n->type != YAML_SCALAR_NODE || pol_y_is_null(n)) {
		pol_y_err(y, n, "expected a string, found %s", pol_y_describe(n, d, sizeof(d)));
		return -EINVAL;
	}
	len = n->data.scalar.length;
	if (len != strlen((const char *)n->data.scalar.value)) {
		pol_y_err(y, n, "expected a string, found one holding a NUL character");
		return -EINVAL;
	}
	if (len < minlen || len > maxlen) {
		if (minlen == 1 && !len)
			pol_y_err(y, n, "expected a non-empty string, found ''");
		else
			pol_y_err(y, n, "expected a string of %zu..%zu bytes, found %zu bytes",
			          minlen, maxlen, len);
		return -EINVAL;
	}
	s = strdup((const char *)n->data.scalar.value);
	if (!s) {
		pol_y_err(y, n, "out of memory");
		return -ENOMEM;
	}
	free(*out);
	*out = s;
	return 0;
}

int
pol_y_enum(struct pol_y *y, yaml_node_t *n, const char *const *names, int *out)
{
	const char *s = pol_y_text(n);
	char d[96], h[512], l[256];
	size_t off = 0;
	int i;

	if (s && !pol_y_is_null(n)) {
		for (i = 0; names[i]; i++) {
			if (!strcmp(s, names[i])) {
				*out = i;
				return 0;
			}
		}
	}
	for (i = 0; names[i] && off < sizeof(l); i++)
		off += (size_t)snprintf(l + off, sizeof(l) - off, "%s%s", i ? ", " : "", names[i]);
	h[0] = '\0';
	if (s && !pol_y_is_null(n)) {
		const char *sug = pol_suggest(s, names);

		if (sug)
			snprintf(h, sizeof(h), " (did you mean '%s'?)", sug);
	}
	pol_y_err(y, n, "expected one of %s; found %s%s", l, pol_y_describe(n, d, sizeof(d)), h);
	return -EINVAL;
}

int
pol_y_ipv4(struct pol_y *y, yaml_node_t *n, uint32_t *out)
{
	const char *s = pol_y_text(n);
	char d[96];

	if (!s || pol_y_is_null(n) || !pol_parse_ipv4(s, out)) {
		pol_y_err(y, n, "expected an IPv4 address (a.b.c.d), found %s",
		          pol_y_describe(n, d, sizeof(d)));
		return -EINVAL;
	}
	return 0;
}

int
pol_y_prefix(struct pol_y *y, yaml_node_t *n, unsigned flags, uint32_t *addr, uint8_t *len)
{
	const char *s = pol_y_text(n), *slash;
	const char *want =
	        flags & POL_Y_PFX_IFADDR ? "an address with its prefix length (a.b.c.d/len)"
	        : flags & POL_Y_PFX_HOST ? "an IPv4 address or prefix (a.b.c.d or a.b.c.d/len)"
	                                 : "an IPv4 prefix (a.b.c.d/len)";
	char d[96], ip[64], a1[16], a2[16];
	unsigned l = 32;
	uint32_t a;

	if (!s || pol_y_is_null(n) || strlen(s) >= sizeof(ip))
		goto bad;
	slash = strchr(s, '/');
	memcpy(ip, s, slash ? (size_t)(slash - s) : strlen(s));
	ip[slash ? (size_t)(slash - s) : strlen(s)] = '\0';
	if (!pol_parse_ipv4(ip, &a))
		goto bad;
	if (slash) {
		const char *p = slash + 1;

		if (!isdigit((unsigned char)p[0]) || (p[0] == '0' && p[1]) ||
		    (p[1] && (!isdigit((unsigned char)p[1]) || p[2])))
			goto bad;
		l = (unsigned)atoi(p);
		if (l > 32) {
			pol_y_err(y, n, "prefix length /%u out of range 0..32", l);
			return -EINVAL;
		}
	} else if (!(flags & POL_Y_PFX_HOST)) {
		goto bad;
	}
	if (!(flags & POL_Y_PFX_IFADDR) && (a & ~pol_prefix_mask((uint8_t)l))) {
		pol_y_err(y, n, "host bits set in %s/%u (did you mean %s/%u?)", pol_ipv4_str(a, a1),
		          l, pol_ipv4_str(a & pol_prefix_mask((uint8_t)l), a2), l);
		return -EINVAL;
	}
	*addr = a;
	*len = (uint8_t)l;
	return 0;
bad:
	pol_y_err(y, n, "expected %s, found %s", want, pol_y_describe(n, d, sizeof(d)));
	return -EINVAL;
}

int
pol_y_mac(struct pol_y *y, yaml_node_t *n, uint8_t mac[6])
{
	const char *s = pol_y_text(n);
	uint8_t m[6];
	char d[96];
	int i;

	if (!s || pol_y_is_null(n) || strlen(s) != 17)
		goto bad;
	for (i = 0; i < 6; i++) {
		const char *p = s + 3 * i;

		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
		    (i < 5 && p[2] != ':'))
			goto bad;
		m[i] = (uint8_t)strtoul((char[3]){p[0], p[1], 0}, NULL, 16);
	}
	if (m[0] & 1) {
		pol_y_err(y, n, "expected a unicast MAC address, found a multicast one (%s)", s);
		return -EINVAL;
	}
	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) {
		pol_y_err(y, n, "expected a unicast MAC address, found 00:00:00:00:00:00");
		return -EINVAL;
	}
	memcpy(mac, m, 6);
	return 0;
bad:
	pol_y_err(y, n, "expected a MAC address (xx:xx:xx:xx:xx:xx), found %s",
	          pol_y_describe(n, d, sizeof(d)));
	return -EINVAL;
}

int
pol_y_port(struct pol_y *y, yaml_node_t *n, uint16_t min, uint16_t *out)
{
	uint64_t v;

	if (pol_y_uint(y, n, min, 65535, 0, &v))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* Decimal 0..99999 with no sign, no leading zero; end at *end. */
static bool
port_num(const char *s, const char **end, unsigned *v)
{
	unsigned n = 0, nd = 0;

	if (s[0] == '0' && isdigit((unsigned char)s[1]))
		return false;
	while (isdigit((unsigned char)*s) && nd < 6) {
		n = n * 10 + (unsigned)(*s++ - '0');
		nd++;
	}
	*end = s;
	*v = n;
	return nd && nd <= 5;
}

int
pol_y_port_range(struct pol_y *y, yaml_node_t *n, uint16_t min, uint16_t *lo, uint16_t *hi)
{
	const char *s = pol_y_text(n), *e;
	unsigned a, b;
	char d[96];

	if (!s || pol_y_is_null(n) || !port_num(s, &e, &a))
		goto bad;
	if (!*e) {
		b = a;
	} else if (*e != '-' || !port_num(e + 1, &e, &b) || *e) {
		goto bad;
	}
	if (a < min || a > 65535 || b < min || b > 65535) {
		pol_y_err(y, n, "port %u out of range %u..65535", a < min || a > 65535 ? a : b,
		          min);
		return -EINVAL;
	}
	if (a > b) {
		pol_y_err(y, n, "reversed port range %u-%u (did you mean %u-%u?)", a, b, b, a);
		return -EINVAL;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
bad:
	pol_y_err(y, n, "expected a port (%u..65535) or a port range (lo-hi), found %s", min,
	          pol_y_describe(n, d, sizeof(d)));
	return -EINVAL;
}

/* ---- key-level getters ---- */

int
pol_y_k_u64(struct pol_y *y, yaml_node_t *map, const char *key, uint64_t min, uint64_t max,
            unsigned flags, uint64_t *out)
{
	yaml_node_t *v = pol_y_get(y, map, key);
	size_t at;
	int r;

	if (!v)
		return 0;
	at = pol_y_push_key(y, key);
	r = pol_y_uint(y, v, min, max, flags, out);
	pol_y_pop(y, at);
	return r;
}

int
pol_y_k_u32(struct pol_y *y, yaml_node_t *map, const char *key, uint32_t min, uint32_t max,
            unsigned flags, uint32_t *out)
{
	uint64_t v = *out;
	int r = pol_y_k_u64(y, map, key, min, max, flags, &v);

	*out = (uint32_t)v;
	return r;
}

int
pol_y_k_uns(struct pol_y *y, yaml_node_t *map, const char *key, unsigned min, unsigned max,
            unsigned flags, unsigned *out)
{
	uint64_t v = *out;
	int r = pol_y_k_u64(y, map, key, min, max, flags, &v);

	*out = (unsigned)v;
	return r;
}

int
pol_y_k_u16(struct pol_y *y, yaml_node_t *map, const char *key, uint16_t min, uint16_t max,
            unsigned flags, uint16_t *out)
{
	uint64_t v = *out;
	int r = pol_y_k_u64(y, map, key, min, max, flags, &v);

	*out = (uint16_t)v;
	return r;
}

int
pol_y_k_bool(struct pol_y *y, yaml_node_t *map, const char *key, bool *out)
{
	yaml_node_t *v = pol_y_get(y, map, key);
	size_t at;
	int r;

	if (!v)
		return 0;
	at = pol_y_push_key(y, key);
	r = pol_y_bool(y, v, out);
	pol_y_pop(y, at);
	return r;
}

int
pol_y_k_str(struct pol_y *y, yaml_node_t *map, const char *key, size_t minlen, size_t maxlen,
            char **out)
{
	yaml_node_t *v = pol_y_get(y, map, key);
	size_t at;
	int r;

	if (!v)
		return 0;
	at = pol_y_push_key(y, key);
	r = pol_y_str(y, v, minlen, maxlen, out);
	pol_y_pop(y, at);
	return r;
}

int
pol_y_k_enum(struct pol_y *y, yaml_node_t *map, const char *key, const char *const *names, int *out)
{
	yaml_node_t *v = pol_y_get(y, map, key);
	size_t at;
	int r;

	if (!v)
		return 0;
	at = pol_y_push_key(y, key);
	r = pol_y_enum(y, v, names, out);
	pol_y_pop(y, at);
	return r;
}

unsigned
pol_y_list_alloc(struct pol_y *y, yaml_node_t *seq, unsigned min, unsigned max, size_t size,
                 void **arr)
{
	int n = pol_y_seq(y, seq, min, max);

	*arr = NULL;
	if (n <= 0)
		return 0;
	*arr = calloc((size_t)n, size);
	if (!*arr) {
		pol_y_err(y, seq, "out of memory");
		return 0;
	}
	return (unsigned)n;
}
