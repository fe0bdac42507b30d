/*
 * test_conf - the configuration loader: good file, unknown key, bad
 * values, missing file, each error naming file and line; the checked-in
 * example file matches the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static char *write_tmp(const char *text)
{
	char *path = g_strdup("/tmp/gh-conf-XXXXXX");
	int fd = g_mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Load text, expect failure, and check the message contains want. */
static void expect_error(const char *text, const char *want_fmt)
{
	char *path = write_tmp(text), *err = NULL;
	struct conf *c = conf_load(path, &err);
	char *want = g_strdup_printf(want_fmt, path);
	assert_null(c);
	assert_non_null(err);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	g_free(want);
	g_free(err);
	unlink(path);
	g_free(path);
}

static void test_good_file(void **state)
{
	(void)state;
	char *path = write_tmp("# comment\n[scand]\nlisten = 127.0.0.1:2525\n max_servers = 7 \n"
			       "message_size_limit = 20M\ncommand_timeout = 2m\nbefore_queue = yes\n\n"
			       "; other comment\n[spam]\nkill_level = 9.5\non_failure = tempfail\n");
	char *err = NULL;
	struct conf *c = conf_load(path, &err);
	assert_non_null(c);
	assert_null(err);
	assert_string_equal(conf_str(c, "scand", "listen"), "127.0.0.1:2525");
	assert_int_equal(conf_int(c, "scand", "max_servers"), 7);
	assert_int_equal(conf_int(c, "scand", "message_size_limit"), 20 * 1024 * 1024);
	assert_int_equal(conf_int(c, "scand", "command_timeout"), 120);
	assert_true(conf_bool(c, "scand", "before_queue"));
	assert_true(conf_double(c, "spam", "kill_level") == 9.5);
	assert_string_equal(conf_str(c, "spam", "on_failure"), "tempfail");
	/* untouched keys keep their defaults */
	assert_string_equal(conf_str(c, "scand", "forward"), "127.0.0.1:10025");
	assert_int_equal(conf_int(c, "clamav", "max_recursion"), 14);
	assert_string_equal(conf_path(c), path);
	conf_free(c);
	unlink(path);
	g_free(path);
}

static void test_defaults(void **state)
{
	(void)state;
	struct conf *c = conf_load(NULL, NULL);
	assert_non_null(c);
	assert_null(conf_path(c));
	assert_int_equal(conf_int(c, "clamav", "max_files"), 1500);
	assert_false(conf_bool(c, "notify", "warn_virus_sender"));
	conf_free(c);
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_error("[scand]\nlisten = x\n\nbogus_key = 1\n", "%s:4: unknown key \"bogus_key\" in [scand]");
}

static void test_unknown_section(void **state)
{
	(void)state;
	expect_error("[nosuch]\nlisten = x\n", "%s:1: unknown section [nosuch]");
}

static void test_bad_number(void **state)
{
	(void)state;
	expect_error("[scand]\n\n\nmax_servers = 12abc\n", "%s:4: [scand] max_servers: bad integer \"12abc\"");
	expect_error("[scand]\nmax_servers = 99999\n", "%s:2: [scand] max_servers: 99999 is out of range");
	expect_error("[scand]\nmessage_size_limit = 5X\n", "%s:2: [scand] message_size_limit: bad size");
	expect_error("[spam]\nkill_level = lots\n", "%s:2: [spam] kill_level: bad number");
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_error("[scand]\nbefore_queue = maybe\n", "%s:2: [scand] before_queue: expected yes or no");
	expect_error("[spam]\non_failure = shrug\n", "%s:2: [spam] on_failure: expected one of pass|tempfail");
	expect_error("[scand]\nlisten\n", "%s:2: expected \"key = value\"");
	expect_error("listen = x\n", "%s:1: key outside of a [section]");
	expect_error("[scand\n", "%s:1: malformed section header");
	expect_error("[scand]\nlisten = a\nlisten = b\n", "%s:3: [scand] listen already set on line 2");
}

static void test_missing_file(void **state)
{
	(void)state;
	char *err = NULL;
	struct conf *c = conf_load("/nonexistent/gh/scand.conf", &err);
	assert_null(c);
	assert_non_null(err);
	assert_non_null(strstr(err, "/nonexistent/gh/scand.conf: "));
	assert_non_null(strstr(err, "No such file"));
	g_free(err);
}

/* contrib/scand.conf.example documents every key: it must be what the table prints. */
/* The in-memory entry point: length-bounded, errors name the given name,
 * an embedded NUL is refused rather than silently ending the text. */
static void test_load_text(void **state)
{
	(void)state;
	static const char text[] = "[scand]\nmax_servers = 3\nmax_errors = 5";
	char *err = NULL;
	/* length stops before "max_errors": the value must stay the default */
	struct conf *c = conf_load_text("mem", text, strlen("[scand]\nmax_servers = 3\n"), &err);
	assert_non_null(c);
	assert_null(err);
	assert_int_equal(conf_int(c, "scand", "max_servers"), 3);
	assert_int_equal(conf_int(c, "scand", "max_errors"), 10);
	assert_string_equal(conf_path(c), "mem");
	conf_free(c);

	c = conf_load_text("mem", "[scand]\nnope = 1\n", 17, &err);
	assert_null(c);
	assert_non_null(strstr(err, "mem:2: unknown key"));
	g_free(err);

	c = conf_load_text("mem", "[scand]\0\nx = 1\n", 15, &err);
	assert_null(c);
	assert_string_equal(err, "mem: contains a NUL byte");
	g_free(err);
}

static void test_example_matches_table(void **state)
{
	(void)state;
	char *buf = NULL, *file = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	conf_write_example(m);
	fclose(m);
	assert_true(g_file_get_contents("contrib/scand.conf.example", &file, NULL, NULL));
	if (strcmp(buf, file) != 0)
		fail_msg("contrib/scand.conf.example is stale: run scand --dump-config > contrib/scand.conf.example");
	/* and the example itself loads once uncommented */
	char **lines = g_strsplit(file, "\n", -1);
	GString *uncommented = g_string_new("");
	for (char **l = lines; *l; l++) {
		if ((*l)[0] == '#' && (*l)[1] != ' ' && (*l)[1] != '\0')
			g_string_append_printf(uncommented, "%s\n", *l + 1);
		else if ((*l)[0] == '[')
			g_string_append_printf(uncommented, "%s\n", *l);
	}
	char *path = write_tmp(uncommented->str), *err = NULL;
	struct conf *c = conf_load(path, &err);
	if (!c)
		fail_msg("uncommented example does not load: %s", err);
	conf_free(c);
	unlink(path);
	g_free(path);
	g_string_free(uncommented, TRUE);
	g_strfreev(lines);
	free(buf);
	g_free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),     cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_unknown_key),   cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_bad_number),    cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_missing_file),  cmocka_unit_test(test_example_matches_table),
		cmocka_unit_test(test_load_text),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
