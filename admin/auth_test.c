/* auth_test.c - tokens file parsing, the constant-time token check, certificate roles. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

#define CHECK_ON_FAIL() (ok = false) /* the tests read their local ok */
#include "check.h"

/* sha256("foo") and sha256("bar") */
#define H_FOO "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
#define H_BAR "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"

static void
test_hash(void)
{
	char hex[65];
	bool ok = true;

	adm_sha256_hex("foo", 3, hex);
	CHECK(!strcmp(hex, H_FOO));
	adm_sha256_hex("", 0, hex);
	CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	check_report("SHA-256 hex of a token", ok);
}

static void
test_parse_and_check(void)
{
	static const char file[] = "# operators\n"
	                           "\n"
	                           "ops admin " H_FOO "\n"
	                           "  grafana\tread   " H_BAR "  \r\n";
	struct adm_tokens t = {0};
	const struct adm_token *k;
	char err[128] = "";
	bool ok = true;

	CHECK(adm_tokens_parse(file, sizeof(file) - 1, &t, err, sizeof(err)) == 0);
	CHECK(t.n == 2);
	k = adm_token_check(&t, "foo", 3);
	CHECK(k && !strcmp(k->name, "ops") && k->role == POL_ROLE_ADMIN);
	k = adm_token_check(&t, "bar", 3);
	CHECK(k && !strcmp(k->name, "grafana") && k->role == POL_ROLE_READ);
	CHECK(!adm_token_check(&t, "fo", 2));
	CHECK(!adm_token_check(&t, "foo ", 4));
	CHECK(!adm_token_check(&t, "", 0));
	CHECK(!adm_token_check(&t, H_FOO, 64)); /* the hash itself is not the token */
	adm_tokens_free(&t);
	CHECK(t.n == 0 && !t.v);
	check_report("tokens file: comments, blank lines, tabs, CRLF; check by hash", ok);
}

static bool
bad(const char *text, const char *want)
{
	struct adm_tokens t = {0};
	char err[160] = "";
	int r = adm_tokens_parse(text, strlen(text), &t, err, sizeof(err));

	if (r == 0 || !strstr(err, want)) {
		fprintf(stderr, "  '%s': got %d '%s', want '%s'\n", text, r, err, want);
		adm_tokens_free(&t);
		return false;
	}
	return true;
}

static void
test_bad_files(void)
{
	bool ok = true;

	CHECK(bad("ops admin\n", "line 1: expected NAME ROLE SHA256HEX"));
	CHECK(bad("ops admin " H_FOO " extra\n", "line 1: expected NAME ROLE SHA256HEX"));
	CHECK(bad("\nops root " H_FOO "\n", "line 2: role must be read or admin"));
	CHECK(bad("ops admin abc\n", "expected 64 hex digits"));
	CHECK(bad("ops admin " H_FOO "\nops read " H_BAR "\n", "line 2: duplicate name 'ops'"));
	CHECK(bad("o/ps admin " H_FOO "\n", "bad name"));
	/* a NUL in a name (strchr("_.@-", 0) is not NULL): an empty or cut name in the audit */
	{
		static const char nul[] = "\tx\0y read " H_FOO "\n";
		struct adm_tokens t = {0};
		char err[128];

		CHECK(adm_tokens_parse(nul, sizeof(nul) - 1, &t, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "bad name") != NULL);
	}
	CHECK(bad("ops admin zz26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n",
	          "not hexadecimal"));
	check_report("bad tokens files are refused with the line and the reason", ok);
}

static void
test_cert_roles(void)
{
	struct pol_cfg_cert_role cr[] = {{(char *)"CN=ops,O=example", POL_ROLE_ADMIN},
	                                 {(char *)"CN=grafana", POL_ROLE_READ}};
	struct pol_cfg_admin ad = {.cert_roles = cr, .n_cert_roles = 2};
	bool ok = true;

	CHECK(adm_cert_role(&ad, "CN=ops,O=example") == POL_ROLE_ADMIN);
	CHECK(adm_cert_role(&ad, "CN=grafana") == POL_ROLE_READ);
	CHECK(adm_cert_role(&ad, "CN=ops") == POL_ROLE_NONE);
	CHECK(adm_cert_role(&ad, NULL) == POL_ROLE_NONE);
	check_report("certificate subjects map to roles exactly", ok);
}

/* The tokens file's mode: writable by everyone is refused (anyone could add an admin token),
 * readable by everyone loads with a warning, 0600 loads silently. */
static void
test_file_modes(void)
{
	static const char line[] = "ops admin " H_FOO "\n";
	char path[] = "/tmp/auth_test.XXXXXX", err[512];
	struct adm_tokens t = {0};
	bool ok = true;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	CHECK(write(fd, line, sizeof(line) - 1) == (ssize_t)(sizeof(line) - 1));
	close(fd);

	CHECK(chmod(path, 0600) == 0);
	CHECK(adm_tokens_load(path, &t, err, sizeof(err)) == 0 && t.n == 1 && err[0] == '\0');
	adm_tokens_free(&t);

	CHECK(chmod(path, 0644) == 0);
	CHECK(adm_tokens_load(path, &t, err, sizeof(err)) == 0 && t.n == 1);
	CHECK(strstr(err, "readable by everyone") != NULL);
	adm_tokens_free(&t);

	CHECK(chmod(path, 0666) == 0);
	CHECK(adm_tokens_load(path, &t, err, sizeof(err)) == -EPERM && t.n == 0);
	CHECK(strstr(err, "writable by everyone") != NULL);
	CHECK(chmod(path, 0602) == 0);
	CHECK(adm_tokens_load(path, &t, err, sizeof(err)) == -EPERM);
	unlink(path);
out:
	check_report("a tokens file anyone may write is refused, one anyone may read warns", ok);
}

int
main(void)
{
	test_hash();
	test_parse_and_check();
	test_bad_files();
	test_cert_roles();
	test_file_modes();
	return check_done();
}
