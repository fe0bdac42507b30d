/*
 * test_mailfmt - the one LF->CRLF converter and the one g_mime_init:
 * bare LF becomes CRLF, CRLF and a lone CR stay, a CRLF message comes out
 * byte-identical; mailfmt_mime_init() from eight threads at once leaves
 * GMime usable (a parse of a two-part message sees both parts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <gmime/gmime.h>
#include <string.h>

#include "mailfmt.h"

static void expect_crlf(const char *in, size_t len, const char *want, size_t wlen)
{
	GString *out = mailfmt_crlf(in, len);
	assert_int_equal(out->len, wlen);
	assert_memory_equal(out->str, want, wlen);
	g_string_free(out, TRUE);
}

static void test_crlf(void **state)
{
	(void)state;
	expect_crlf("a\nb\n", 4, "a\r\nb\r\n", 6);
	expect_crlf("\n", 1, "\r\n", 2);
	expect_crlf("", 0, "", 0);
	expect_crlf("a\r\nb\rc\n\n", 8, "a\r\nb\rc\r\n\r\n", 10);
	const char *wire = "From: a@b\r\nSubject: x\r\n\r\nbody\r\n.dot\r\n";
	expect_crlf(wire, strlen(wire), wire, strlen(wire));
	expect_crlf("no end", 6, "no end", 6);
	expect_crlf("x\0y\n", 4, "x\0y\r\n", 5); /* bytes, not a C string */
}

static gpointer init_thread(gpointer arg)
{
	(void)arg;
	mailfmt_mime_init();
	return NULL;
}

static void test_mime_init_threads(void **state)
{
	(void)state;
	GThread *t[8];
	for (int i = 0; i < 8; i++)
		t[i] = g_thread_new("init", init_thread, NULL);
	for (int i = 0; i < 8; i++)
		g_thread_join(t[i]);
	mailfmt_mime_init();
	const char *m = "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"
	                "--X\r\nContent-Type: text/plain\r\n\r\none\r\n--X\r\nContent-Type: text/html\r\n\r\n"
	                "<p>two</p>\r\n--X--\r\n";
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(m, strlen(m));
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
	assert_non_null(msg);
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	assert_true(GMIME_IS_MULTIPART(body));
	assert_int_equal(g_mime_multipart_get_count(GMIME_MULTIPART(body)), 2);
	g_object_unref(msg);
	g_object_unref(p);
	g_object_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crlf),
	    cmocka_unit_test(test_mime_init_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
