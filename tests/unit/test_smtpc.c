/*
 * test_smtpc - the reinjected copy: header edits, dot-stuffing, xtext,
 * and the message header walk (mailhdr) they rely on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mailhdr.h"
#include "smtpc.h"
#include "sockio.h"

/* What smtpc_write_data puts on the wire for m. */
static GString *wire(const struct smtpc_msg *m)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct sio *s = sio_new(sv[0], 5000);
	assert_int_equal(smtpc_write_data(s, m), 0);
	assert_int_equal(sio_flush(s), 0);
	sio_free(s);
	GString *out = g_string_new("");
	char buf[4096];
	ssize_t n;
	while ((n = read(sv[1], buf, sizeof(buf))) > 0)
		g_string_append_len(out, buf, n);
	close(sv[1]);
	return out;
}

static void test_stuffing_and_header_edits(void **state)
{
	(void)state;
	const char *msg = "Received: from a\r\n\tby b\r\nX-Spam-Flag: forged\r\n  continued\r\n"
			  "Subject: hi\r\nx-spam-flag: again\r\n\r\n.body dot\r\nplain\r\n..two\r\n";
	const char *add[] = {"X-Virus-Scanned: test\r\nInjected: yes"};
	const char *rm[] = {"X-Spam-Flag"};
	struct smtpc_msg m = {.data = (const unsigned char *)msg, .len = strlen(msg), .add_headers = add, .nadd = 1,
			      .remove_headers = rm, .nremove = 1};
	GString *w = wire(&m);
	assert_string_equal(w->str, "X-Virus-Scanned: test  Injected: yes\r\n"
				    "Received: from a\r\n\tby b\r\nSubject: hi\r\n\r\n"
				    "..body dot\r\nplain\r\n...two\r\n.\r\n");
	/* SIZE= counts the edited message before stuffing */
	assert_int_equal(smtpc_edited_size(&m), (int64_t)(w->len - 3 - 2)); /* minus ".\r\n" and two stuffed dots */
	g_string_free(w, TRUE);
}

static void test_body_untouched_and_terminated(void **state)
{
	(void)state;
	/* no trailing CRLF: one is added so that the terminator starts a line */
	const char *msg = "Subject: x\r\n\r\nno newline at end";
	struct smtpc_msg m = {.data = (const unsigned char *)msg, .len = strlen(msg)};
	GString *w = wire(&m);
	assert_string_equal(w->str, "Subject: x\r\n\r\nno newline at end\r\n.\r\n");
	g_string_free(w, TRUE);
	/* binary bytes and a bare LF pass unchanged */
	const unsigned char bin[] = "Subject: b\r\n\r\n\xff\xfe\x01\n.x\r\n";
	struct smtpc_msg m2 = {.data = bin, .len = sizeof(bin) - 1};
	w = wire(&m2);
	assert_int_equal(w->len, sizeof(bin) - 1 + 1 + 3);
	assert_memory_equal(w->str, "Subject: b\r\n\r\n\xff\xfe\x01\n..x\r\n.\r\n", w->len);
	g_string_free(w, TRUE);
}

static void test_xtext(void **state)
{
	(void)state;
	char *x = smtpc_xtext("host name+=\r\n\xc3\xa9");
	assert_string_equal(x, "host+20name+2B+3D+0D+0A+C3+A9");
	g_free(x);
}

static void test_mailhdr(void **state)
{
	(void)state;
	const char *msg = "From: Alice\r\n <alice@example.org>\r\nSubject:\tline\r\n\tfolded\r\nBad\x01: x\r\n"
			  "\r\nSubject: not a header\r\n";
	const unsigned char *d = (const unsigned char *)msg;
	char *v = mailhdr_get(d, strlen(msg), "subject", 100);
	assert_string_equal(v, "line folded");
	g_free(v);
	v = mailhdr_get(d, strlen(msg), "From", 100);
	assert_string_equal(v, "Alice <alice@example.org>");
	g_free(v);
	v = mailhdr_get(d, strlen(msg), "bad\x01", 100);
	assert_string_equal(v, "x");
	g_free(v);
	assert_null(mailhdr_get(d, strlen(msg), "Message-ID", 100));
	assert_int_equal(mailhdr_body_offset(d, strlen(msg)), strstr(msg, "\r\n\r\n") - msg + 4);
	v = mailhdr_get(d, strlen(msg), "Subject", 4);
	assert_string_equal(v, "line...");
	g_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stuffing_and_header_edits),
		cmocka_unit_test(test_body_untouched_and_terminated),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_mailhdr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
