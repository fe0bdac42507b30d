/*
 * test_qc_msg - what quarctl shows of a message (quarctl/qc_msg.c, qc_json.c)
 *
 * The body preview decodes the first text part (base64, charset) and skips
 * attachments; headers and preview never carry a control character or an
 * escape sequence, and show a bidi or invisible format character spelled out
 * (<U+202E>); JSON escapes them all; a bad mail id is refused by
 * qc_lookup() before the store is asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "quarctl/qc.h"

#include <string.h>

static const char tm_mime[] =
    "From: a@example.org\r\n"
    "Subject: =?UTF-8?Q?caf=C3=A9?= \x1b]0;pwned\x07\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"x.bin\"\r\n"
    "\r\n"
    "not text\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "R3L832UgYXVzIEv2bG4KG1szMW1yb3QK\r\n" /* "Grüße aus Köln\n\x1b[31mrot\n" in latin-1 */
    "--b1--\r\n";

static const char tm_mime_rlo[] = "From: a@example.org\r\n"
                                  "Subject: photo\xe2\x80\xae"
                                  "gpj.exe\xe2\x80\x8b\r\n"
                                  "\r\n"
                                  "body\r\n";

static bool tm_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\n')
			return true;
	return false;
}

static void test_preview_decodes_first_text_part(void **state)
{
	(void)state;
	char *p = qc_msg_preview(tm_mime, strlen(tm_mime), 4096);
	assert_non_null(strstr(p, "Grüße aus Köln\n"));
	assert_non_null(strstr(p, "?[31mrot"));
	assert_null(strstr(p, "not text"));
	assert_false(tm_has_control(p));
	g_free(p);
	p = qc_msg_preview("Subject: x\r\n\r\n", 14, 100);
	assert_non_null(p);
	g_free(p);
}

static void test_headers_are_printable(void **state)
{
	(void)state;
	char *h = qc_msg_headers(tm_mime, strlen(tm_mime));
	assert_non_null(strstr(h, "Subject: =?UTF-8?Q?caf=C3=A9?= ?]0;pwned?\n"));
	assert_null(strstr(h, "R3L832")); /* the header block only */
	assert_false(tm_has_control(h));
	g_free(h);
}

/* A name photo<RLO>gpj.exe would read photoexe.jpg in a terminal. */
static void test_headers_spell_out_format_characters(void **state)
{
	(void)state;
	char *h = qc_msg_headers(tm_mime_rlo, strlen(tm_mime_rlo));
	assert_non_null(strstr(h, "Subject: photo<U+202E>gpj.exe<U+200B>\n"));
	assert_null(strstr(h, "\xe2\x80"));
	g_free(h);
	GString *out = g_string_new(NULL);
	qc_json_str(out, "photo\xe2\x80\xae"
	                 "gpj.exe\xef\xbb\xbf");
	assert_string_equal(out->str, "\"photo\\u202egpj.exe\\ufeff\"");
	g_string_free(out, TRUE);
}

static void test_json_escapes(void **state)
{
	(void)state;
	GString *out = g_string_new(NULL);
	qc_json_str(out, "a\"b\\c\x1b]0;x\x07\n\xff");
	assert_string_equal(out->str, "\"a\\\"b\\\\c\\u001b]0;x\\u0007\\u000a\\ufffd\"");
	g_string_free(out, TRUE);
}

static void test_lookup_refuses_bad_id_first(void **state)
{
	(void)state;
	struct qc qc = {0}; /* no store: a bad id must not reach it */
	struct store_msg *m = (struct store_msg *)1;
	char *msg = NULL;
	assert_int_equal(qc_lookup(&qc, "../../etc/x", &m, &msg), QC_BADID);
	assert_null(m);
	assert_non_null(strstr(msg, "not a valid mail id"));
	g_free(msg);
}

static void test_parse_age(void **state)
{
	(void)state;
	assert_int_equal(qc_parse_age("30d"), 30 * 86400);
	assert_int_equal(qc_parse_age("12h"), 12 * 3600);
	assert_int_equal(qc_parse_age("90"), 90);
	assert_int_equal(qc_parse_age("2w"), 14 * 86400);
	assert_int_equal(qc_parse_age("-1d"), -1);
	assert_int_equal(qc_parse_age("1dd"), -1);
	assert_int_equal(qc_parse_age("d"), -1);
	assert_int_equal(qc_parse_when("2026-11-21"), 1795219200);
	assert_int_equal(qc_parse_when("2026-11-21 14:36:33"), 1795271793);
	assert_int_equal(qc_parse_when("2026-13-01"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_preview_decodes_first_text_part),
	    cmocka_unit_test(test_headers_are_printable),
	    cmocka_unit_test(test_headers_spell_out_format_characters),
	    cmocka_unit_test(test_json_escapes),
	    cmocka_unit_test(test_lookup_refuses_bad_id_first),
	    cmocka_unit_test(test_parse_age),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
