/* test_util.h - the CHECK macros of client/ unit tests (exit status = failures). */
#ifndef BYPASSD_CLIENT_TEST_UTIL_H
#define BYPASSD_CLIENT_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

static int test_failures;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, \
			        __func__, #cond);                                            \
			test_failures++;                                                     \
		}                                                                            \
	} while (0)

#define CHECK_EQ(a, b)                                                                            \
	do {                                                                                      \
		long long a_ = (long long)(a), b_ = (long long)(b);                               \
		if (a_ != b_) {                                                                   \
			fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__, \
			        __LINE__, __func__, #a, a_, #b, b_);                              \
			test_failures++;                                                          \
		}                                                                                 \
	} while (0)

/* Fatal: the rest of the test cannot run. */
#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: %s: REQUIRE(%s) failed\n", __FILE__, __LINE__, \
			        __func__, #cond);                                              \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

#define RUN(t)                                                                     \
	do {                                                                       \
		int before_ = test_failures;                                       \
		t();                                                               \
		printf("%s %s\n", test_failures == before_ ? "ok  " : "FAIL", #t); \
	} while (0)

static inline int
test_done(void)
{
	printf("%s: %d failure(s)\n", test_failures ? "FAILED" : "PASSED", test_failures);
	return test_failures ? 1 : 0;
}

#endif
