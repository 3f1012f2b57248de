/* fuzz_policy_json.c - libFuzzer target: arbitrary bytes through the JSON -> policy path. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The admin API's PUT body: never crash, leak or hang; fail with at least one error or succeed
 * with none; what loads must serialize and load again to the same JSON (the GET/persist path).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p, *q;
	json_t *j;
	char *a, *b;

	p = pol_policy_from_json("fuzz.json", (const char *)data, size, &errs);
	if (!p == !errs.n && !errs.dropped)
		__builtin_trap();
	pol_cfg_errs_clear(&errs);
	if (!p)
		return 0;
	j = pol_policy_to_json(p);
	a = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(j);
	if (a) {
		q = pol_policy_from_json("again.json", a, strlen(a), &errs);
		if (!q)
			__builtin_trap();
		j = pol_policy_to_json(q);
		b = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		json_decref(j);
		if (b && strcmp(a, b))
			__builtin_trap();
		free(b);
		pol_policy_free(q);
	}
	free(a);
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	return 0;
}
