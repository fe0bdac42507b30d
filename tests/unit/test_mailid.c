/*
 * test_mailid - 1,000,000 mail ids: no duplicates, only [A-Za-z0-9_-],
 * always 12 characters; mailid_valid() accepts exactly those.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "mailid.h"

static void test_million_unique(void **state)
{
	(void)state;
	const int n = 1000000;
	GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
	char *ids = g_malloc((size_t)n * (MAILID_LEN + 1));
	int counts[256] = {0};

	for (int i = 0; i < n; i++) {
		char *id = ids + (size_t)i * (MAILID_LEN + 1);
		mailid_new(id);
		assert_int_equal(strlen(id), MAILID_LEN);
		for (int k = 0; k < MAILID_LEN; k++) {
			unsigned char c = (unsigned char)id[k];
			if (!(g_ascii_isalnum(c) || c == '-' || c == '_'))
				fail_msg("bad character 0x%02x in %s", c, id);
			counts[c]++;
		}
		if (!g_hash_table_add(seen, id))
			fail_msg("duplicate id %s after %d", id, i);
	}
	assert_int_equal(g_hash_table_size(seen), n);
	/* every one of the 64 symbols is used, roughly evenly (12M draws, 187,500 expected each) */
	int used = 0;
	for (int c = 0; c < 256; c++)
		if (counts[c]) {
			used++;
			assert_in_range(counts[c], 180000, 195000);
		}
	assert_int_equal(used, 64);
	g_hash_table_destroy(seen);
	g_free(ids);
}

static void test_valid(void **state)
{
	(void)state;
	char id[MAILID_LEN + 1];
	mailid_new(id);
	assert_true(mailid_valid(id));
	assert_true(mailid_valid("Xq3bV9kK2mPa"));
	assert_true(mailid_valid("-_-_-_-_-_-_"));
	assert_false(mailid_valid(NULL));
	assert_false(mailid_valid(""));
	assert_false(mailid_valid("Xq3bV9kK2mP"));   /* 11 */
	assert_false(mailid_valid("Xq3bV9kK2mPaa")); /* 13 */
	assert_false(mailid_valid("../../etc/pw"));
	assert_false(mailid_valid("Xq3bV9kK2m/a"));
	assert_false(mailid_valid("Xq3bV9kK2m.a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_million_unique),
		cmocka_unit_test(test_valid),
	};
	return cmocka_run_group_tests_name("mailid", tests, NULL, NULL);
}
