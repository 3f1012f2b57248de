/* auth.h - admin API credentials: bearer tokens (SHA-256 hashes) and certificate roles. */
#ifndef BYPASSD_ADMIN_AUTH_H
#define BYPASSD_ADMIN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define ADM_TOKEN_NAME_MAX 64
#define ADM_MAX_TOKENS     1024

struct adm_token {
	char name[ADM_TOKEN_NAME_MAX + 1]; /* who, in audit lines */
	enum pol_admin_role role;
	uint8_t hash[32]; /* SHA-256 of the token */
};

struct adm_tokens {
	struct adm_token *v;
	unsigned n;
};

/*
 * Parse a tokens file: one `NAME ROLE SHA256HEX` per line (NAME [A-Za-z0-9_.@-]{1,64}, ROLE read
 * or admin, 64 hex digits), blank lines and `#` comments ignored, names unique. 0, or -EINVAL
 * with "LINE: what is wrong" in err. t is replaced only on success (free the old one yourself).
 */
int adm_tokens_parse(const char *buf, size_t len, struct adm_tokens *t, char *err, size_t errlen);
/* The same from a file; -errno when unreadable (err says so). */
int adm_tokens_load(const char *path, struct adm_tokens *t, char *err, size_t errlen);
void adm_tokens_free(struct adm_tokens *t);
/*
 * The token whose hash matches SHA-256(token[0..len-1]), or NULL. Compares against every entry
 * with CRYPTO_memcmp (no early exit), so the time does not depend on which entry matched.
 */
const struct adm_token *adm_token_check(const struct adm_tokens *t, const char *token, size_t len);
/* SHA-256 of s as 64 lower-case hex digits and a NUL. */
void adm_sha256_hex(const char *s, size_t len, char out[65]);
/* The role cert_roles gives a certificate subject (RFC 2253 string), or POL_ROLE_NONE. */
enum pol_admin_role adm_cert_role(const struct pol_cfg_admin *ad, const char *subject);
const char *adm_role_name(enum pol_admin_role r);

#endif
