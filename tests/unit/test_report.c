/*
 * test_report - ISO weeks and times of scand-report (UTC): week 1 that
 * starts in the previous year, 53-week years, the default "last week"
 * across a year boundary, and the accepted time forms; and an empty
 * store gives an all-zero report rather than an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "report/report.h"
#include "test_util.h"

static void want_week(const char *w, int64_t since)
{
	int64_t s = 0, u = 0;
	char *err = NULL;
	if (report_period_week(w, &s, &u, &err) < 0)
		fail_msg("%s: %s", w, err);
	assert_int_equal(s, since);
	assert_int_equal(u, since + 7 * 86400);
}

static void want_bad_week(const char *w)
{
	int64_t s, u;
	char *err = NULL;
	assert_int_equal(report_period_week(w, &s, &u, &err), -1);
	assert_non_null(err);
	g_free(err);
}

static void test_iso_weeks(void **state)
{
	(void)state;
	want_week("2026-W47", 1794787200); /* Monday 2026-11-16 */
	want_week("2026-W01", 1766966400); /* Monday 2025-12-29 */
	want_week("2020-W53", 1609113600); /* 2020 has 53 weeks */
	want_week("2021-W01", 1609718400); /* ... so 2021 starts on 4 January */
	want_bad_week("2021-W53");
	want_bad_week("2026-W00");
	want_bad_week("2026-W47x");
	want_bad_week("W47");
	want_bad_week("");
}

static void test_last_week(void **state)
{
	int64_t s, u;
	char *label;
	(void)state;
	report_last_week(1767225600 + 3600, &s, &u, &label); /* Thursday 2026-01-01 01:00 */
	assert_string_equal(label, "2025-W52");
	assert_int_equal(u - s, 7 * 86400);
	assert_true(u <= 1767225600 + 3600);
	g_free(label);
	report_last_week(1794787200, &s, &u, &label); /* the first second of W47 */
	assert_string_equal(label, "2026-W46");
	assert_int_equal(u, 1794787200);
	g_free(label);
}

static void test_times(void **state)
{
	int64_t t = 0;
	char *err = NULL;
	(void)state;
	assert_int_equal(report_parse_time("2026-11-16", 1794787200, &t, &err), 0);
	assert_int_equal(t, 1794787200);
	assert_int_equal(report_parse_time("2026-11-17 08:30:15", 1794787200, &t, &err), 0);
	assert_int_equal(t, 1794904215);
	assert_int_equal(report_parse_time("2026-11-17T08:30", 1794787200, &t, &err), 0);
	assert_int_equal(t, 1794904200);
	assert_int_equal(report_parse_time("@12345", 1794787200, &t, &err), 0);
	assert_int_equal(t, 12345);
	const char *bad[] = {"2026-13-01", "2026-11-16 25:00", "@",
	                     "@12x",       "yesterday",        "2026-11-16 08:30:15Z"};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		err = NULL;
		if (report_parse_time(bad[i], 1794787200, &t, &err) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		g_free(err);
	}
}

static void test_empty_store(void **state)
{
	char *db = tu_tmp_db("gh-report-XXXXXX"), *err = NULL;
	struct store *st;
	struct report *r;
	(void)state;
	assert_int_equal(store_open(db, 1000, &st, &err), 0);
	assert_int_equal(report_build(st, 1794787200, 1794787200 + 7 * 86400, 10, &r, &err), 0);
	assert_int_equal(r->cur.messages, 0);
	assert_int_equal(r->days->len, 7);
	assert_int_equal(r->busiest_hour, -1);
	assert_int_equal(r->viruses->len, 0);
	r->label = g_strdup("2026-W47");
	GString *o = g_string_new(NULL);
	report_render_text(r, o);
	assert_non_null(strstr(o->str, "Busiest hour: none (no mail)"));
	g_string_free(o, TRUE);
	report_free(r);
	assert_int_equal(report_build(st, 10, 10, 10, &r, &err), -1);
	g_free(err);
	store_close(st);
	tu_rm_db(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_iso_weeks),
	    cmocka_unit_test(test_last_week),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_empty_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
