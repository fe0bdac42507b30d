/*
 * test_log - untrusted text is made printable before it is logged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "log.h"

static void check(const char *in, size_t max, const char *want)
{
	char *out = log_printable(in, max);
	assert_string_equal(out, want);
	g_free(out);
}

static void test_printable(void **state)
{
	(void)state;
	check("plain text", 0, "plain text");
	check("evil\r\nInjected: yes", 0, "evil??Injected: yes");
	check("\x1b]0;pwned\x07", 0, "?]0;pwned?");
	check("tab\there", 0, "tab?here");
	check("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", 0, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"); /* UTF-8 kept */
	check("bad \xff\xfe utf8", 0, "bad ?? utf8");
	check("\xc2\x9b" "31m", 0, "?31m"); /* C1 control (CSI) */
	check(NULL, 0, "");
	check("abcdefghij", 4, "abcd...");
	check("abcd", 4, "abcd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
