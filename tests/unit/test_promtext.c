/*
 * test_promtext - the Prometheus text format writer (common/promtext.c):
 * label values and HELP text escaped so that no text ends a quote or a
 * line early, numbers as the format spells them, and histograms with
 * cumulative buckets ending at +Inf, whose _count is that bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <math.h>
#include <string.h>

#include "promtext.h"

static void test_label_escaping(void **state)
{
	GString *o = g_string_new("");
	(void)state;
	prom_sample(o, "m_total", "name", "a\\b\"c\nd", 1);
	prom_sample(o, "m_total", "name", "", 2);
	prom_sample(o, "m_total", NULL, NULL, 3);
	assert_string_equal(o->str, "m_total{name=\"a\\\\b\\\"c\\nd\"} 1\n"
	                            "m_total{name=\"\"} 2\n"
	                            "m_total 3\n");
	g_string_free(o, TRUE);
}

static void test_family_lines(void **state)
{
	GString *o = g_string_new("");
	(void)state;
	/* a quote needs no escape in HELP; a backslash and a newline do */
	prom_family(o, "m_total", "counter", "Said \"hi\"\\\nbye.");
	assert_string_equal(o->str, "# HELP m_total Said \"hi\"\\\\\\nbye.\n# TYPE m_total counter\n");
	g_string_free(o, TRUE);
}

static void test_values(void **state)
{
	static const struct {
		double v;
		const char *s;
	} cases[] = {{0, "0"},           {42, "42"},         {0.1, "0.1"},          {0.005, "0.005"},
		     {2.5, "2.5"},       {-3, "-3"},         {1e-06, "1e-06"},      {9007199254740992.0, "9007199254740992"},
		     {1.0 / 3, "0.33333333333333331"}};
	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		GString *o = g_string_new("");
		prom_value(o, cases[i].v);
		if (strcmp(o->str, cases[i].s) != 0)
			fail_msg("%.17g gave %s, want %s", cases[i].v, o->str, cases[i].s);
		assert_true(g_ascii_strtod(o->str, NULL) == cases[i].v);
		g_string_free(o, TRUE);
	}
	GString *o = g_string_new("");
	prom_value(o, INFINITY);
	g_string_append_c(o, ' ');
	prom_value(o, -INFINITY);
	g_string_append_c(o, ' ');
	prom_value(o, NAN);
	assert_string_equal(o->str, "+Inf -Inf NaN");
	g_string_free(o, TRUE);
}

static void test_histogram(void **state)
{
	static const double bounds[] = {0.01, 0.1, 1};
	static const uint64_t counts[] = {2, 0, 3, 4}; /* 4 above 1 s */
	GString *o = g_string_new("");
	(void)state;
	prom_histogram(o, "lat_seconds", bounds, G_N_ELEMENTS(bounds), counts, 12.5);
	assert_string_equal(o->str, "lat_seconds_bucket{le=\"0.01\"} 2\n"
	                            "lat_seconds_bucket{le=\"0.1\"} 2\n"
	                            "lat_seconds_bucket{le=\"1\"} 5\n"
	                            "lat_seconds_bucket{le=\"+Inf\"} 9\n"
	                            "lat_seconds_sum 12.5\n"
	                            "lat_seconds_count 9\n");
	g_string_free(o, TRUE);
}

static void test_empty_histogram(void **state)
{
	static const uint64_t counts[] = {0};
	GString *o = g_string_new("");
	(void)state;
	prom_histogram(o, "h", NULL, 0, counts, 0);
	assert_string_equal(o->str, "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
	g_string_free(o, TRUE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping), cmocka_unit_test(test_family_lines),
		cmocka_unit_test(test_values),         cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_empty_histogram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
