/*
 * test_linktok - the digest's signed links and their key file
 *
 * A token checks for its own (recipient, id, action, time) and key only:
 * every single-byte change, another action, another recipient's payload
 * with this MAC, an expired time and another key are each refused; the
 * CSRF token of a page is bound to its link and its age. The key file is
 * created 0600 once (a second load reads the same key) and a key file
 * others may read is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <glib.h>
#include <string.h>
#include <sys/stat.h>

#include "linktok.h"
#include "test_util.h"

static const struct linktok_key key1 = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}};
static const struct linktok_key key2 = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 11}};

#define NOW 1800000000

static const char *want_rcpt = "bob@example.org";

static int check(const struct linktok_key *k, const char *tok, const char *action, int64_t now)
{
	char *rcpt = NULL, *id = NULL;
	int64_t exp = 0;
	int rc = linktok_check(k, tok, action, now, &rcpt, &id, &exp);
	if (rc == 0) {
		assert_string_equal(rcpt, want_rcpt);
		assert_string_equal(id, "Xq3bV9kK2mPa");
		assert_int_equal(exp, NOW + 3600);
	} else {
		assert_null(rcpt);
		assert_null(id);
	}
	g_free(rcpt);
	g_free(id);
	return rc;
}

static void test_token_good(void **state)
{
	(void)state;
	char *tok = linktok_make(&key1, "bob@example.org", "Xq3bV9kK2mPa", "release", NOW + 3600);
	assert_non_null(tok);
	assert_int_equal(check(&key1, tok, "release", NOW), 0);
	assert_int_equal(check(&key1, tok, "release", NOW + 3600), 0); /* the last second still works */
	g_free(tok);
}

/* Every byte changed, for payloads of each length mod 3 (the last base64
 * character of two of them has unused low bits). */
static void test_token_tampered_byte(void **state)
{
	(void)state;
	static const char *const rcpts[] = {"bob@example.org", "bo@example.org", "b@example.org"};
	for (size_t r = 0; r < G_N_ELEMENTS(rcpts); r++) {
		want_rcpt = rcpts[r];
		char *tok = linktok_make(&key1, want_rcpt, "Xq3bV9kK2mPa", "release", NOW + 3600);
		assert_int_equal(check(&key1, tok, "release", NOW), 0);
		size_t n = strlen(tok);
		for (size_t i = 0; i < n; i++) {
			char *t = g_strdup(tok);
			t[i] = t[i] == 'A' ? 'B' : 'A';
			if (strcmp(t, tok) != 0)
				assert_int_equal(check(&key1, t, "release", NOW), LINKTOK_BAD);
			g_free(t);
		}
		char *cut = g_strndup(tok, n - 1);
		assert_int_equal(check(&key1, cut, "release", NOW), LINKTOK_BAD);
		g_free(cut);
		g_free(tok);
	}
	want_rcpt = "bob@example.org";
}

static void test_token_wrong_action(void **state)
{
	(void)state;
	char *tok = linktok_make(&key1, "bob@example.org", "Xq3bV9kK2mPa", "view", NOW + 3600);
	assert_int_equal(check(&key1, tok, "view", NOW), 0);
	assert_int_equal(check(&key1, tok, "release", NOW), LINKTOK_BAD);
	assert_int_equal(check(&key1, tok, "delete", NOW), LINKTOK_BAD);
	g_free(tok);
}

static void test_token_other_recipient(void **state)
{
	(void)state;
	char *bob = linktok_make(&key1, "bob@example.org", "Xq3bV9kK2mPa", "release", NOW + 3600);
	char *eve = linktok_make(&key1, "eve@example.org", "Xq3bV9kK2mPa", "release", NOW + 3600);
	/* eve's payload with bob's MAC, and bob's payload with eve's */
	char *a = g_strdup_printf("%.*s%s", (int)(strchr(eve, '.') - eve), eve, strchr(bob, '.'));
	char *b = g_strdup_printf("%.*s%s", (int)(strchr(bob, '.') - bob), bob, strchr(eve, '.'));
	assert_int_equal(check(&key1, a, "release", NOW), LINKTOK_BAD);
	assert_int_equal(check(&key1, b, "release", NOW), LINKTOK_BAD);
	/* a payload naming another id under the same MAC */
	char *other = linktok_make(&key1, "bob@example.org", "Zzzzzzzzzzzz", "release", NOW + 3600);
	char *c = g_strdup_printf("%.*s%s", (int)(strchr(other, '.') - other), other, strchr(bob, '.'));
	assert_int_equal(check(&key1, c, "release", NOW), LINKTOK_BAD);
	g_free(a);
	g_free(b);
	g_free(c);
	g_free(bob);
	g_free(eve);
	g_free(other);
}

static void test_token_expired(void **state)
{
	(void)state;
	char *tok = linktok_make(&key1, "bob@example.org", "Xq3bV9kK2mPa", "release", NOW + 3600);
	assert_int_equal(check(&key1, tok, "release", NOW + 3601), LINKTOK_EXPIRED);
	g_free(tok);
}

static void test_token_wrong_key(void **state)
{
	(void)state;
	char *tok = linktok_make(&key1, "bob@example.org", "Xq3bV9kK2mPa", "release", NOW + 3600);
	assert_int_equal(check(&key2, tok, "release", NOW), LINKTOK_BAD);
	/* expired and made with another key: tampered, not "expired" */
	assert_int_equal(check(&key2, tok, "release", NOW + 7200), LINKTOK_BAD);
	g_free(tok);
}

static void test_token_refuses_newlines(void **state)
{
	(void)state;
	assert_null(linktok_make(&key1, "bob@example.org\nx", "Xq3bV9kK2mPa", "view", NOW));
	assert_null(linktok_make(&key1, "bob @example.org", "Xq3bV9kK2mPa", "view", NOW));
	assert_null(linktok_make(&key1, "", "Xq3bV9kK2mPa", "view", NOW));
	assert_int_equal(check(&key1, "", "view", NOW), LINKTOK_BAD);
	assert_int_equal(check(&key1, ".", "view", NOW), LINKTOK_BAD);
	assert_int_equal(check(&key1, "%%%.abc", "view", NOW), LINKTOK_BAD);
}

static void test_csrf(void **state)
{
	(void)state;
	char *csrf = linktok_csrf(&key1, "TOKEN-A", NOW);
	assert_int_equal(linktok_csrf_check(&key1, "TOKEN-A", csrf, NOW + 10, 3600), 0);
	assert_int_equal(linktok_csrf_check(&key1, "TOKEN-B", csrf, NOW + 10, 3600), -1);
	assert_int_equal(linktok_csrf_check(&key2, "TOKEN-A", csrf, NOW + 10, 3600), -1);
	assert_int_equal(linktok_csrf_check(&key1, "TOKEN-A", csrf, NOW + 3601, 3600), -1);
	assert_int_equal(linktok_csrf_check(&key1, "TOKEN-A", csrf, NOW - 1, 3600), -1);
	assert_int_equal(linktok_csrf_check(&key1, "TOKEN-A", NULL, NOW, 3600), -1);
	csrf[strlen(csrf) - 1] ^= 1;
	assert_int_equal(linktok_csrf_check(&key1, "TOKEN-A", csrf, NOW + 10, 3600), -1);
	g_free(csrf);
}

static void test_key_file(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-linktok-XXXXXX");
	char *path = g_build_filename(dir, "web.key", NULL);
	struct linktok_key a, b;
	char *err = NULL;
	struct stat sb;

	assert_int_equal(linktok_key_load(path, (uid_t)-1, (gid_t)-1, &a, &err), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(linktok_key_load(path, (uid_t)-1, (gid_t)-1, &b, &err), 0);
	assert_memory_equal(a.k, b.k, LINKTOK_KEY_LEN);
	/* no temporary file left behind */
	GDir *d = g_dir_open(dir, 0, NULL);
	int files = 0;
	while (g_dir_read_name(d))
		files++;
	g_dir_close(d);
	assert_int_equal(files, 1);

	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(linktok_key_load(path, (uid_t)-1, (gid_t)-1, &b, &err), -1);
	assert_non_null(strstr(err, "0600"));
	g_free(err);
	err = NULL;
	assert_true(g_file_set_contents(path, "not hex\n", -1, NULL));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(linktok_key_load(path, (uid_t)-1, (gid_t)-1, &b, &err), -1);
	assert_non_null(strstr(err, "not a key"));
	g_free(err);
	g_free(path);
	tu_rmtree(dir);
	g_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_good),
	    cmocka_unit_test(test_token_tampered_byte),
	    cmocka_unit_test(test_token_wrong_action),
	    cmocka_unit_test(test_token_other_recipient),
	    cmocka_unit_test(test_token_expired),
	    cmocka_unit_test(test_token_wrong_key),
	    cmocka_unit_test(test_token_refuses_newlines),
	    cmocka_unit_test(test_csrf),
	    cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
