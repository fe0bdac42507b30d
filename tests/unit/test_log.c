/*
 * test_log - untrusted text is made printable before it is logged: controls
 * become '?', bidirectional and invisible format characters are spelled out
 * (<U+202E>), and a log line carries what log_printable() made of a name.
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
	check("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", 0,
	      "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"); /* UTF-8 kept */
	check("bad \xff\xfe utf8", 0, "bad ?? utf8");
	check("\xc2\x9b"
	      "31m",
	      0, "?31m"); /* C1 control (CSI) */
	check(NULL, 0, "");
	check("abcdefghij", 4, "abcd...");
	check("abcd", 4, "abcd");
}

/* photo<RLO>gpj.exe is shown by a terminal as photoexe.jpg: spelled out, it
 * cannot pass for what it is not. Every bidi control and invisible
 * character of the list, and only those: other non-ASCII text is kept. */
static void test_format_characters_spelled_out(void **state)
{
	(void)state;
	check("photo\xe2\x80\xae"
	      "gpj.exe",
	      0, "photo<U+202E>gpj.exe");
	static const gunichar fmt[] = {0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c,
	                               0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0xfeff};
	for (size_t i = 0; i < G_N_ELEMENTS(fmt); i++) {
		char in[16] = "a", want[32];
		g_unichar_to_utf8(fmt[i], in + 1);
		strcat(in, "b");
		g_snprintf(want, sizeof want, "a<U+%04X>b", (unsigned)fmt[i]);
		check(in, 0, want);
	}
	check("\xe2\x80\x8a\xe2\x81\xa0\xe2\x80\x90", 0,
	      "\xe2\x80\x8a\xe2\x81\xa0\xe2\x80\x90");      /* U+200A, U+2060, U+2010 */
	check("\x1b\xe2\x80\xae\xc2\x85", 0, "?<U+202E>?"); /* C0 and C1 keep their '?' */
	check("ab\xe2\x80\xae"
	      "cd",
	      3, "ab<U+202E>..."); /* the bound counts what is shown */
}

/* The log line: a name logged through log_printable() reaches stderr
 * spelled out, with no raw format character in the line. */
static void test_log_line_spells_out(void **state)
{
	(void)state;
	char path[] = "/tmp/test_log.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	assert_int_equal(dup2(fd, 2), 2);
	log_init("test_log", 1, LOG_LVL_INFO, NULL);
	char *name = log_printable("photo\xe2\x80\xae"
	                           "gpj.exe",
	                           200);
	msg_info("(AbCdEfGhIjKl) BANNED (%s), <a@example.com> -> <b@example.com>", name);
	g_free(name);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	char *text = NULL;
	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	unlink(path);
	assert_non_null(strstr(text, "(AbCdEfGhIjKl) BANNED (photo<U+202E>gpj.exe), <a@example.com>"));
	assert_null(strstr(text, "\xe2\x80\xae"));
	g_free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_printable),
	    cmocka_unit_test(test_format_characters_spelled_out),
	    cmocka_unit_test(test_log_line_spells_out),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
