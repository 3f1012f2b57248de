/* fuzz_tokens.c - libFuzzer target: arbitrary bytes as the admin API's tokens file. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Never crash, leak or read past the buffer (it is not NUL-terminated); success leaves at most
 * ADM_MAX_TOKENS entries with valid names and roles, failure leaves t untouched and says why.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct adm_tokens t = {0};
	char err[256] = "";
	unsigned i;

	if (adm_tokens_parse((const char *)data, size, &t, err, sizeof(err))) {
		if (t.v || t.n || !err[0])
			__builtin_trap();
		return 0;
	}
	if (t.n > ADM_MAX_TOKENS)
		__builtin_trap();
	for (i = 0; i < t.n; i++) {
		size_t n = strnlen(t.v[i].name, sizeof(t.v[i].name));

		if (n == 0 || n > ADM_TOKEN_NAME_MAX ||
		    (t.v[i].role != POL_ROLE_READ && t.v[i].role != POL_ROLE_ADMIN))
			__builtin_trap();
		/* the check itself on what was parsed: a hash is never its own token */
		(void)adm_token_check(&t, t.v[i].name, n);
	}
	adm_tokens_free(&t);
	return 0;
}
