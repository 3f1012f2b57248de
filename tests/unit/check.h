/* check.h - the unit tests' harness: CHECK, CHECK_EQ, REQUIRE, groups or named reports, summary.
 *
 * Header-only and EAL-free; one copy of the state per test binary (include it from one .c).
 *
 *   CHECK(cond)          counts one check; a failure prints FILE:LINE: [group] func(): CHECK(cond)
 *   CHECK_EQ(a, b)       the same, printing both values (signed and hex)
 *   REQUIRE(cond)        fatal: the rest of the binary cannot run (exit 1)
 *   check_group_begin/end(name)  a named group of checks; end prints "name  N passed, M failed"
 *   CHECK_RUN(fn)        fn() as a group named after it
 *   check_report(name, ok)       a named verdict after its checks ("ok N - name" / "not ok N -
 *                        name"): fails when ok is false or a check failed since the last report
 *   check_done()         prints the summary line, returns the exit status for main()
 *
 * A failure message always names the file and line, the group (the open group, else the test
 * function) and the expression.
 */
#ifndef BYPASSD_TESTS_UNIT_CHECK_H
#define BYPASSD_TESTS_UNIT_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What else a failed CHECK does: report-style tests whose flow reads a local `bool ok` define
 * it before the include, `#define CHECK_ON_FAIL() (ok = false)`. */
#ifndef CHECK_ON_FAIL
#define CHECK_ON_FAIL() ((void)0)
#endif

struct check_state {
	const char *group;      /* the open group, NULL between groups */
	unsigned pass, fail;    /* every check in the binary */
	unsigned grp_pass;      /* checks passed in the open group (or since the last report) */
	unsigned grp_fail;      /* checks failed there */
	unsigned groups;        /* groups ended and reports made */
	unsigned groups_failed; /* of those, the failed ones */
};

static struct check_state check_st;

/* The start of a failure line: FILE:LINE: [group] func(): */
static inline void
check_where(const char *file, int line, const char *func)
{
	if (check_st.group && strcmp(check_st.group, func))
		fprintf(stderr, "%s:%d: [%s] %s(): ", file, line, check_st.group, func);
	else
		fprintf(stderr, "%s:%d: [%s]: ", file, line, func);
}

/* A failure line of a test's own (a domain helper): prefix as above, fmt, newline. Counts
 * nothing: follow with check_tally(). */
__attribute__((format(printf, 4, 5))) static inline void
check_msg(const char *file, int line, const char *func, const char *fmt, ...)
{
	va_list ap;

	check_where(file, line, func);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Count one check that passed (ok) or failed; returns ok. */
static inline bool
check_tally(bool ok)
{
	if (ok) {
		check_st.pass++;
		check_st.grp_pass++;
	} else {
		check_st.fail++;
		check_st.grp_fail++;
	}
	return ok;
}

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!check_tally(!!(cond))) {                                               \
			check_msg(__FILE__, __LINE__, __func__, "CHECK(%s) failed", #cond); \
			CHECK_ON_FAIL();                                                    \
		}                                                                           \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		if (!check_tally(a_ == b_)) {                                                      \
			check_msg(                                                                 \
			        __FILE__, __LINE__, __func__,                                      \
			        "CHECK_EQ(%s, %s) failed: %s == %lld (%#llx), %s == %lld (%#llx)", \
			        #a, #b, #a, (long long)a_, a_, #b, (long long)b_, b_);             \
			CHECK_ON_FAIL();                                                           \
		}                                                                                  \
	} while (0)

#define REQUIRE(cond)                                                                         \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			check_msg(__FILE__, __LINE__, __func__, "REQUIRE(%s) failed", #cond); \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

static inline void
check_group_begin(const char *name)
{
	check_st.group = name;
	check_st.grp_pass = check_st.grp_fail = 0;
}

static inline void
check_group_end(void)
{
	printf("%-24s %u passed, %u failed\n", check_st.group, check_st.grp_pass,
	       check_st.grp_fail);
	check_st.groups++;
	if (check_st.grp_fail)
		check_st.groups_failed++;
	check_st.group = NULL;
	check_st.grp_pass = check_st.grp_fail = 0;
	fflush(stdout);
}

#define CHECK_RUN(fn)                   \
	do {                            \
		check_group_begin(#fn); \
		fn();                   \
		check_group_end();      \
	} while (0)

/* A named verdict over the checks made since the last report: passes when ok and none failed. */
static inline void
check_report(const char *name, bool ok)
{
	ok = ok && !check_st.grp_fail;
	check_st.groups++;
	if (!ok)
		check_st.groups_failed++;
	printf("%s %u - %s\n", ok ? "ok" : "not ok", check_st.groups, name);
	fflush(stdout);
	check_st.grp_pass = check_st.grp_fail = 0;
}

/* The summary line; the exit status: 1 if any check, group or report failed. */
static inline int
check_done(void)
{
	bool failed = check_st.fail || check_st.groups_failed;

	printf("%s: %u checks, %u failed; %u groups, %u failed\n", failed ? "FAILED" : "PASSED",
	       check_st.pass + check_st.fail, check_st.fail, check_st.groups,
	       check_st.groups_failed);
	return failed ? 1 : 0;
}

#endif
