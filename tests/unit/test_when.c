/*
 * test_when - the one duration/time parser (common/when.c) and the one
 * JSON string writer (common/json.c): what they accept, what they refuse
 * (trailing garbage, empty text, overflow), and that report JSON and
 * quarctl JSON escape the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "conf.h"
#include "json.h"
#include "when.h"

#define NOW 1795219200 /* 2026-11-21 00:00:00 UTC */

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} ok[] = {{"0", 0},         {"90", 90},          {"45s", 45},      {"30m", 1800},
		  {"12h", 43200},   {"7d", 7 * 86400},   {"2w", 14 * 86400}, {"007d", 7 * 86400}};
	static const char *const bad[] = {"", "7x", "d", "-1d", "+1d", " 7d", "7d ", "7dd", "1.5h",
					  "99999999999999999999", "999999999999999999w", "30M"};
	int64_t v;
	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
		v = -42;
		if (when_parse_duration(ok[i].s, &v) != 0 || v != ok[i].v)
			fail_msg("\"%s\" gave %lld", ok[i].s, (long long)v);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		v = -42;
		if (when_parse_duration(bad[i], &v) != -1 || v != -42)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(when_parse_duration(NULL, &v), -1);
}

static void test_times(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} ok[] = {
	    {"2026-11-21", NOW},
	    {"2026-11-21 14:36:33", 1795271793},
	    {"2026-11-21T14:36", 1795271760},
	    {"2026-11-21 14:36", 1795271760},
	    {"@12345", 12345},
	    {"30m", NOW - 1800},
	    {"12h", NOW - 43200},
	    {"7d", NOW - 7 * 86400},
	    {"2w", NOW - 14 * 86400},
	};
	static const char *const bad[] = {
	    "",           "2026-01-01x",       "2026-01-01 ",     "2026-01-01 10",    "2026-01-01 10:00x",
	    "2026-13-01", "2026-02-30",        "2026-11-16 25:00", "2026-11-16 10:00:60", "7x",
	    "@",          "@12x",              "yesterday",       "2026-11-16 08:30:15Z", "-7d",
	    "26-01-01",   "2026-001-01",       "999999999999999999w",
	};
	int64_t v;
	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
		v = -42;
		if (when_parse(ok[i].s, NOW, &v) != 0 || v != ok[i].v)
			fail_msg("\"%s\" gave %lld, expected %lld", ok[i].s, (long long)v, (long long)ok[i].v);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		v = -42;
		if (when_parse(bad[i], NOW, &v) != -1 || v != -42)
			fail_msg("accepted \"%s\" as %lld", bad[i], (long long)v);
	}
	assert_int_equal(when_parse(NULL, NOW, &v), -1);
	/* an age reaching before 1970 is refused, not a negative time */
	assert_int_equal(when_parse("2w", 86400, &v), -1);
}

/* The configuration's durations are the same parser: 2w is accepted, a
 * fraction or a stray letter is a FILE:LINE error. */
static void test_conf_uses_it(void **state)
{
	static const char good[] = "[notify]\nretry_max = 1w\n[quarctl]\nexpire_after = 2w\n";
	static const char frac[] = "[notify]\nretry_max = 1.5h\n";
	static const char junk[] = "[notify]\nretry_max = 7x\n";
	char *err = NULL;
	(void)state;
	struct conf *c = conf_load_text("t.conf", good, strlen(good), &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "notify", "retry_max"), 7 * 86400);
	assert_int_equal(conf_int(c, "quarctl", "expire_after"), 14 * 86400);
	conf_free(c);
	assert_null(conf_load_text("t.conf", frac, strlen(frac), &err));
	assert_non_null(strstr(err, "t.conf:2:"));
	g_free(err);
	err = NULL;
	assert_null(conf_load_text("t.conf", junk, strlen(junk), &err));
	assert_non_null(strstr(err, "bad duration"));
	g_free(err);
}

static void test_json_str(void **state)
{
	GString *out = g_string_new(NULL);
	(void)state;
	/* a Latin-1 sender: each 8-bit byte that is not UTF-8 becomes U+FFFD */
	json_append_str(out, "J\xfcrgen <j\xfc@example.org>");
	assert_string_equal(out->str, "\"J\\ufffdrgen <j\\ufffd@example.org>\"");
	g_string_truncate(out, 0);
	/* valid UTF-8 passes as is; controls and bidi are escaped */
	json_append_str(out, "J\xc3\xbcrgen \"x\"\\ \x1b[31m photo\xe2\x80\xaegpj.exe");
	assert_string_equal(out->str, "\"J\xc3\xbcrgen \\\"x\\\"\\\\ \\u001b[31m photo\\u202egpj.exe\"");
	g_string_truncate(out, 0);
	json_append_str(out, NULL);
	assert_string_equal(out->str, "\"\"");
	g_string_free(out, TRUE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_conf_uses_it),
	    cmocka_unit_test(test_json_str),
	};
	return cmocka_run_group_tests_name("when", tests, NULL, NULL);
}
