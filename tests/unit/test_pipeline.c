/*
 * test_pipeline - the in-line rejection reply of before-queue mode is one
 * printable line whatever the verdict's names contain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "scand/pipeline.h"

static void test_reject_answer(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	g_ptr_array_add(m->virus_names, g_strdup("Eicar-Test\r\nX-Injected: yes\x01"));
	msg_set_category(m, CAT_VIRUS, "clamav");
	char *a = pipeline_reject_answer(m);
	char *want = g_strdup_printf("554 5.7.0 Rejected, id=%s - virus found: Eicar-Test??X-Injected: yes?", m->mail_id);
	assert_string_equal(a, want);
	g_free(a);
	g_free(want);
	msg_free(m);

	m = msg_new();
	g_ptr_array_add(m->banned_names, g_strdup("invoice.pdf.exe"));
	a = pipeline_reject_answer(m);
	assert_non_null(strstr(a, " - banned content: invoice.pdf.exe"));
	g_free(a);
	msg_free(m);

	m = msg_new();
	msg_set_category(m, CAT_SPAM, "spamd");
	m->spam_score = 1000.0;
	a = pipeline_reject_answer(m);
	assert_non_null(strstr(a, " - spam, score 1000.0"));
	g_free(a);
	msg_free(m);
}

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
		cmocka_unit_test(test_reject_answer),
		cmocka_unit_test(test_reply_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
