/*
 * test_pipeline - text that goes into an SMTP reply line is printable
 * ASCII, one line, bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "scand/pipeline.h"

static void test_reply_text(void **state)
{
	(void)state;
	char *t = pipeline_reply_text("caf\xc3\xa9\tok\r\n", 100);
	assert_string_equal(t, "caf???ok??");
	g_free(t);
	t = pipeline_reply_text(NULL, 10);
	assert_string_equal(t, "");
	g_free(t);
	t = pipeline_reply_text("abcdef", 3);
	assert_string_equal(t, "abc");
	g_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
