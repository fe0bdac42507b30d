/*
 * test_smtpc - the reinjected copy: header edits, dot-stuffing, xtext,
 * and the message header walk (mailhdr) they rely on; replies judged by
 * their code for the step (a scripted server on a unix socket).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
	struct smtpc_msg m = {.data = (const unsigned char *)msg,
	                      .len = strlen(msg),
	                      .add_headers = add,
	                      .nadd = 1,
	                      .remove_headers = rm,
	                      .nremove = 1};
	GString *w = wire(&m);
	assert_string_equal(w->str, "X-Virus-Scanned: test  Injected: yes\r\n"
	                            "Received: from a\r\n\tby b\r\nSubject: hi\r\n\r\n"
	                            "..body dot\r\nplain\r\n...two\r\n.\r\n");
	/* SIZE= counts the edited message before stuffing */
	assert_int_equal(smtpc_edited_size(&m),
	                 (int64_t)(w->len - 3 - 2)); /* minus ".\r\n" and two stuffed dots */
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
	const char *msg =
	    "From: Alice\r\n <alice@example.org>\r\nSubject:\tline\r\n\tfolded\r\nBad\x01: x\r\n"
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

/* A scripted SMTP/LMTP server for one connection: the reply to MAIL, RCPT,
 * DATA and the end of data (LMTP: one per recipient, in order) are given;
 * any other command gets 250. Multi-line replies are lines joined by
 * CR LF. */
struct script {
	const char *mail, *rcpt, *data;
	const char *final[2];
	int fd; /* listening */
};

/* The client may have hung up already (it does not wait for 221). */
static void put(int fd, const char *reply)
{
	char *t = g_strconcat(reply, "\r\n", NULL);
	(void)!send(fd, t, strlen(t), MSG_NOSIGNAL);
	g_free(t);
}

static gpointer serve(gpointer arg)
{
	struct script *sc = arg;
	int fd = accept(sc->fd, NULL, NULL);
	struct sio *io = sio_new(fd, 5000);
	char *line;
	size_t len;
	int nrcpt = 0;

	put(fd, "220 scripted");
	while (sio_getline(io, 1000, &line, &len) == 0) {
		if (!g_ascii_strncasecmp(line, "EHLO", 4) || !g_ascii_strncasecmp(line, "LHLO", 4))
			put(fd, "250 scripted");
		else if (!g_ascii_strncasecmp(line, "MAIL", 4))
			put(fd, sc->mail ? sc->mail : "250 2.1.0 Ok");
		else if (!g_ascii_strncasecmp(line, "RCPT", 4) && ++nrcpt)
			put(fd, sc->rcpt ? sc->rcpt : "250 2.1.5 Ok");
		else if (!g_ascii_strncasecmp(line, "DATA", 4)) {
			const char *d = sc->data ? sc->data : "354 go";
			put(fd, d);
			if (strncmp(d, "354", 3) != 0)
				continue;
			while (sio_getline(io, 1000, &line, &len) == 0 && strcmp(line, ".") != 0)
				;
			for (int i = 0; i < (sc->final[1] ? 2 : 1); i++)
				put(fd, sc->final[i] ? sc->final[i] : "250 2.0.0 Ok");
		} else if (!g_ascii_strncasecmp(line, "QUIT", 4)) {
			put(fd, "221 bye");
			break;
		} else
			put(fd, "250 2.0.0 Ok");
	}
	sio_free(io);
	return NULL;
}

/* Runs one transaction of two recipients against the script; returns
 * smtpc_send's result, the recipients' codes and replies in r[]. */
static int transact(struct script *sc, bool lmtp, struct smtpc_rcpt r[2], bool *data_sent)
{
	char *dir = g_dir_make_tmp("test_smtpc.XXXXXX", NULL);
	char *path = g_build_filename(dir, "s", NULL);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	sc->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(sc->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(sc->fd, 1), 0);
	GThread *t = g_thread_new("server", serve, sc);

	char *dest = g_strdup_printf("%sunix:%s", lmtp ? "lmtp:" : "", path);
	struct smtpc *c = smtpc_open(dest, "test", 5);
	const char *msg = "Subject: t\r\n\r\nbody\r\n";
	r[0] = (struct smtpc_rcpt){.addr = "a@example.com"};
	r[1] = (struct smtpc_rcpt){.addr = "b@example.com"};
	struct smtpc_msg m = {.sender = "s@example.org",
	                      .rcpt = r,
	                      .nrcpt = 2,
	                      .data = (const unsigned char *)msg,
	                      .len = strlen(msg)};
	char *err = NULL;
	int ret = smtpc_send(c, &m, &err);
	*data_sent = m.data_sent;
	smtpc_close(c);
	g_thread_join(t);
	close(sc->fd);
	unlink(path);
	rmdir(dir);
	g_free(err);
	g_free(dest);
	g_free(path);
	g_free(dir);
	return ret;
}

static void expect(const struct smtpc_rcpt *r, int code)
{
	char c3[8];
	g_snprintf(c3, sizeof(c3), "%d ", code);
	assert_int_equal(r->code, code);
	assert_true(g_str_has_prefix(r->reply, c3)); /* the text carries the code decided on */
	g_free(r->reply);
}

/* One SMTP transaction against each script: smtpc_send's result, whether
 * the data went out, and both recipients' final code. */
struct outcome {
	struct script sc;
	int ret;
	bool sent;
	int code;
};

static void run_outcomes(struct outcome *o, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct smtpc_rcpt r[2];
		bool sent;
		assert_int_equal(transact(&o[i].sc, false, r, &sent), o[i].ret);
		assert_int_equal(sent, o[i].sent);
		expect(&r[0], o[i].code);
		expect(&r[1], o[i].code);
	}
}

static void test_replies_out_of_place(void **state)
{
	(void)state;
	struct outcome o[] = {
	    {{.mail = "354 go ahead"}, -1, false, 451},
	    {{.rcpt = "354 go ahead"}, -1, false, 451},
	    {{.rcpt = "250-2.1.5 Ok\r\n550 5.1.1 mixed"}, -1, false, 451},
	    {{.data = "250 2.0.0 Ok: queued as LOST"}, -1, false, 451},
	    {{.data = "399 what"}, -1, false, 451},
	    {{.final = {"354 more please"}}, -1, true, 451},
	    {{.final = {"650 6.0.0 no such class"}}, -1, true, 451},
	    {{.final = {"270 2.0.0 no such category"}}, -1, true, 451},
	    {{.final = {"not a reply"}}, -1, true, 451},
	    {{.final = {"250-2.0.0 Ok\r\n550 5.0.0 but no"}}, -1, true, 451},
	};
	run_outcomes(o, G_N_ELEMENTS(o));
}

static void test_replies_in_place(void **state)
{
	(void)state;
	struct outcome o[] = {
	    {{.final = {"554 5.7.1 no"}}, 0, true, 554},
	    {{.data = "452 4.3.1 full"}, 0, false, 452},
	    {{0}, 0, true, 250},
	};
	run_outcomes(o, G_N_ELEMENTS(o));
}

static void test_lmtp_reply_out_of_place(void **state)
{
	(void)state;
	struct smtpc_rcpt r[2];
	bool sent;
	/* the first recipient was answered in place and keeps it; the second
	 * cannot be known delivered */
	struct script sc = {.final = {"250 2.0.0 Ok", "354 what"}};
	assert_int_equal(transact(&sc, true, r, &sent), -1);
	assert_true(sent);
	expect(&r[0], 250);
	expect(&r[1], 451);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stuffing_and_header_edits),
	    cmocka_unit_test(test_body_untouched_and_terminated),
	    cmocka_unit_test(test_xtext),
	    cmocka_unit_test(test_mailhdr),
	    cmocka_unit_test(test_replies_out_of_place),
	    cmocka_unit_test(test_replies_in_place),
	    cmocka_unit_test(test_lmtp_reply_out_of_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
