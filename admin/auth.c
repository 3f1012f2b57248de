/* auth.c - tokens file parsing, constant-time token check, certificate subject roles. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"

#define TOKENS_FILE_MAX (1u << 20)

void
adm_sha256_hex(const char *s, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned i, mdlen = 0;

	EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > ADM_TOKEN_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.@-", s[i]))
			return false;
	return true;
}

/* Next white-space separated field of line [*p, end): start and length; 0 when none. */
static size_t
field(const char **p, const char *end, const char **start)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	*start = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*p = s;
	return (size_t)(s - *start);
}

int
adm_tokens_parse(const char *buf, size_t len, struct adm_tokens *t, char *err, size_t errlen)
{
	struct adm_tokens out = {0};
	const char *p = buf, *end = buf + len;
	unsigned line = 0, cap = 0, i;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *f[4], *q;
		size_t fl[4];
		struct adm_token *tk;

		if (!eol)
			eol = end;
		line++;
		q = p;
		for (i = 0; i < 4; i++)
			fl[i] = field(&q, eol > p && eol[-1] == '\r' ? eol - 1 : eol, &f[i]);
		p = eol + 1;
		if (fl[0] == 0 || f[0][0] == '#')
			continue;
		if (fl[1] == 0 || fl[2] == 0 || fl[3] != 0) {
			snprintf(err, errlen, "line %u: expected NAME ROLE SHA256HEX", line);
			goto fail;
		}
		if (!name_ok(f[0], fl[0])) {
			snprintf(err, errlen, "line %u: bad name (1..64 of A-Z a-z 0-9 _ . @ -)",
			         line);
			goto fail;
		}
		if (out.n == cap) {
			struct adm_token *nv;

			if (cap >= ADM_MAX_TOKENS) {
				snprintf(err, errlen, "line %u: more than %u tokens", line,
				         ADM_MAX_TOKENS);
				goto fail;
			}
			cap = cap ? cap * 2 : 8;
			nv = realloc(out.v, cap * sizeof(*nv));
			if (!nv) {
				snprintf(err, errlen, "out of memory");
				free(out.v);
				return -ENOMEM;
			}
			out.v = nv;
		}
		tk = &out.v[out.n];
		memset(tk, 0, sizeof(*tk));
		memcpy(tk->name, f[0], fl[0]);
		if (fl[1] == 4 && !memcmp(f[1], "read", 4)) {
			tk->role = POL_ROLE_READ;
		} else if (fl[1] == 5 && !memcmp(f[1], "admin", 5)) {
			tk->role = POL_ROLE_ADMIN;
		} else {
			snprintf(err, errlen, "line %u: role must be read or admin, found '%.*s'",
			         line, (int)(fl[1] > 16 ? 16 : fl[1]), f[1]);
			goto fail;
		}
		if (fl[2] != 64) {
			snprintf(
			        err, errlen,
			        "line %u: expected 64 hex digits (SHA-256 of the token), found %zu "
			        "characters",
			        line, fl[2]);
			goto fail;
		}
		for (i = 0; i < 32; i++) {
			int hi = hexval(f[2][2 * i]), lo = hexval(f[2][2 * i + 1]);

			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "line %u: the hash is not hexadecimal", line);
				goto fail;
			}
			tk->hash[i] = (uint8_t)(hi << 4 | lo);
		}
		for (i = 0; i < out.n; i++)
			if (!strcmp(out.v[i].name, tk->name)) {
				snprintf(err, errlen, "line %u: duplicate name '%s'", line,
				         tk->name);
				goto fail;
			}
		out.n++;
	}
	*t = out;
	return 0;
fail:
	free(out.v);
	return -EINVAL;
}

int
adm_tokens_load(const char *path, struct adm_tokens *t, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t len;
	int ret;

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	buf = malloc(TOKENS_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	len = fread(buf, 1, TOKENS_FILE_MAX + 1, f);
	fclose(f);
	if (len > TOKENS_FILE_MAX) {
		free(buf);
		snprintf(err, errlen, "%s: larger than %u bytes", path, TOKENS_FILE_MAX);
		return -EFBIG;
	}
	ret = adm_tokens_parse(buf, len, t, err, errlen);
	free(buf);
	return ret;
}

void
adm_tokens_free(struct adm_tokens *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->v, t->n * sizeof(*t->v));
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

const struct adm_token *
adm_token_check(const struct adm_tokens *t, const char *token, size_t len)
{
	const struct adm_token *hit = NULL;
	unsigned char md[32];
	unsigned i, mdlen = 0;

	if (!t || !token || len == 0)
		return NULL;
	if (!EVP_Digest(token, len, md, &mdlen, EVP_sha256(), NULL))
		return NULL;
	for (i = 0; i < t->n; i++)
		if (CRYPTO_memcmp(md, t->v[i].hash, sizeof(md)) == 0 && !hit)
			hit = &t->v[i];
	OPENSSL_cleanse(md, sizeof(md));
	return hit;
}

enum pol_admin_role
adm_cert_role(const struct pol_cfg_admin *ad, const char *subject)
{
	unsigned i;

	for (i = 0; subject && i < ad->n_cert_roles; i++)
		if (!strcmp(ad->cert_roles[i].subject, subject))
			return ad->cert_roles[i].role;
	return POL_ROLE_NONE;
}

const char *
adm_role_name(enum pol_admin_role r)
{
	return r == POL_ROLE_ADMIN ? "admin" : r == POL_ROLE_READ ? "read" : "none";
}
