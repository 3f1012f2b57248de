/* fuzz_config.c - libFuzzer target: arbitrary bytes into the config and policy loaders. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "policy_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Both loaders must never crash, leak or hang, and must fail with at least one error or succeed
 * with none. Errors are printed to a memory stream so the printer is exercised too.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_cfg_errs errs = {0};
	struct pol_policy *p;
	struct pol_cfg *c;
	FILE *sink;

	c = pol_cfg_load_buf("fuzz.yaml", (const char *)data, size, &errs);
	if (!c == !errs.n && !errs.dropped)
		__builtin_trap();
	if (c && c->policy) {
		/* a loaded config must also pass its own checks again */
		if (pol_policy_check_against(c->policy, &c->gw, &errs))
			__builtin_trap();
	}
	pol_cfg_free(c);
	pol_cfg_errs_clear(&errs);

	p = pol_policy_load_buf("fuzz-policy.yaml", (const char *)data, size, &errs);
	if (!p == !errs.n && !errs.dropped)
		__builtin_trap();
	sink = fopen("/dev/null", "w");
	if (sink) {
		pol_cfg_errs_print(&errs, sink);
		fclose(sink);
	}
	pol_policy_free(p);
	pol_cfg_errs_clear(&errs);
	return 0;
}
