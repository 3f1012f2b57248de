/* l7_check.c - signature flags to Hyperscan flags, and the EAL-free pattern check validation uses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <hs/hs.h>

#include "l7.h"

unsigned
pol_l7_hs_flags(uint32_t f)
{
	unsigned hs = HS_FLAG_SINGLEMATCH;

	if (f & POL_SIGF_CASELESS)
		hs |= HS_FLAG_CASELESS;
	if (f & POL_SIGF_DOTALL)
		hs |= HS_FLAG_DOTALL;
	if (f & POL_SIGF_MULTILINE)
		hs |= HS_FLAG_MULTILINE;
	if (f & POL_SIGF_ALLOWEMPTY)
		hs |= HS_FLAG_ALLOWEMPTY;
	if (f & POL_SIGF_UTF8)
		hs |= HS_FLAG_UTF8;
	if (f & POL_SIGF_UCP)
		hs |= HS_FLAG_UCP;
	/* POL_SIGF_SINGLEMATCH: always on; POL_SIGF_SOM_LEFTMOST: offsets unused (l7.h) */
	return hs;
}

int
pol_l7_check_sig(const struct pol_signature *s, char *msg, size_t msg_len)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *err = NULL;
	unsigned flags = pol_l7_hs_flags(s->flags);
	int ret = 0;

	if (!s->pattern)
		return 0; /* the loader reported it */
	if (hs_expression_info(s->pattern, flags, &info, &err) != HS_SUCCESS) {
		snprintf(msg, msg_len, "Hyperscan cannot compile '%s': %s", s->pattern,
		         err && err->message ? err->message : "unknown error");
		ret = -EINVAL;
	} else if (info && info->min_width == 0 && !(flags & HS_FLAG_ALLOWEMPTY)) {
		/* hs_compile's own check, which hs_expression_info does not make */
		snprintf(msg, msg_len,
		         "Hyperscan cannot compile '%s': it matches the empty payload; add "
		         "'allowempty' to flags if that is meant",
		         s->pattern);
		ret = -EINVAL;
	}
	hs_free_compile_error(err);
	free(info); /* allocated with the default misc allocator (malloc) */
	return ret;
}
