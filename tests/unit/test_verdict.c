/*
 * test_verdict - the whole content check (verdict_run) on a corpus with its
 * expected verdict table, against real libclamav, GMime, libmagic,
 * libarchive, a real spamd and the real quarantine writer: category,
 * destiny, log words, quarantine file (exists, SHA-256 as recorded),
 * headers; plus the bad-header checks, split recipients, replies, and a
 * forged X-Spam-Flag: NO on GTUBE mail.
 */
#include "engine_util.h"
#include "mailhdr.h"
#include "scand/scan_badh.h"
#include "scand/scan_util.h"
#include "scand/verdict.h"

static char *quar_dir;
static struct verdict_ctx *vctx;

static int setup(void **state)
{
	if (eu_spamd_start(state) < 0)
		return -1;
	quar_dir = tu_tmpdir("gh-unit-XXXXXX");
	char *ini = g_strdup_printf("[scand]\nquarantine_dir = %s\n"
				    "[clamav]\ndatabase_dirs = %s/signatures\nreload_check_interval = 0\n"
				    "[spam]\nspamd = 127.0.0.1:%d\n",
				    quar_dir, eu_root(), eu_spamd_port);
	struct conf *c = eu_conf(ini);
	char *err = NULL;
	int rc = verdict_init(c, &vctx, &err);
	if (rc < 0)
		fprintf(stderr, "verdict_init: %s\n", err);
	conf_free(c);
	g_free(ini);
	return rc;
}

static int teardown(void **state)
{
	verdict_fini(vctx);
	tu_rmtree(quar_dir);
	g_free(quar_dir);
	return eu_spamd_stop(state);
}

struct corpus_case {
	const char *name;
	GString *mail;
	enum msg_category cat;
	enum msg_destiny destiny;
	const char *quar; /* quarantine category dir, or NULL */
	const char *words; /* expected prefix of verdict_log_words */
};

static GString *attach_file(const char *name, const char *path)
{
	char *data;
	gsize len;
	assert_true(g_file_get_contents(path, &data, &len, NULL));
	GString *s = eu_mail_attach(name, "application/octet-stream", NULL, data, len);
	g_free(data);
	return s;
}

static GString *eicar_zip(int levels)
{
	GByteArray *z = eu_zip_nested("eicar.com", EU_EICAR, strlen(EU_EICAR), levels);
	GString *s = eu_mail_attach("eicar.zip", "application/zip", NULL, z->data, z->len);
	g_byte_array_free(z, TRUE);
	return s;
}

static void check_quarantine(struct msg *m, const char *cat)
{
	if (!cat) {
		assert_null(m->quar_path);
		assert_null(eu_find_header(m, "X-Quarantine-ID"));
		return;
	}
	assert_non_null(m->quar_path);
	assert_true(g_str_has_prefix(m->quar_path, cat));
	char *p = g_build_filename(quar_dir, m->quar_path, NULL), *data;
	gsize len;
	assert_true(g_file_get_contents(p, &data, &len, NULL));
	assert_int_equal(len, m->quar_size);
	assert_memory_equal(data, m->data, m->len);
	char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
	assert_string_equal(sum, m->quar_sha256);
	char *qid = g_strdup_printf("X-Quarantine-ID: <%s>", m->mail_id);
	assert_non_null(eu_find_header(m, qid));
	g_free(qid);
	g_free(sum);
	g_free(data);
	g_free(p);
}

static void run_case(const struct corpus_case *c)
{
	struct msg *m = eu_msg(c->mail);
	m->scan_ms = -1; /* verdict_run must set it */
	gint64 t0 = g_get_monotonic_time();
	if (verdict_run(vctx, m) != VERDICT_OK)
		fail_msg("%s: tempfail", c->name);
	gint64 elapsed_ms = (g_get_monotonic_time() - t0) / 1000;
	struct msg_rcpt *r = g_ptr_array_index(m->rcpts, 0);
	char *words = verdict_log_words(m);
	if (m->category != c->cat || r->destiny != c->destiny || !g_str_has_prefix(words, c->words))
		fail_msg("%s: got %s/%s '%s', want %s/%s '%s'", c->name, msg_category_name(m->category),
			 msg_destiny_name(r->destiny), words, msg_category_name(c->cat), msg_destiny_name(c->destiny),
			 c->words);
	check_quarantine(m, c->quar);
	assert_non_null(eu_find_header(m, "X-Virus-Scanned: Gatehouse scand " GH_VERSION " (libclamav "));
	assert_true(eu_has(m->remove_headers, "X-Spam-Flag"));
	/* set, in milliseconds, and no longer than the call that measured it */
	assert_in_range(m->scan_ms, 0, elapsed_ms + 1);
	g_free(words);
	msg_free(m);
}

static void test_corpus(void **state)
{
	(void)state;
	char *pe;
	gsize pelen;
	assert_true(g_file_get_contents("/usr/share/clamav-testfiles/clam.exe", &pe, &pelen, NULL));
	/* the same PE with one byte changed: no signature matches, the type still bans it */
	char *pe2 = g_memdup2(pe, pelen);
	pe2[pelen - 1] ^= 0x5a;
	struct corpus_case cases[] = {
		{"clean text", eu_mail(NULL, "Hello Bob,\r\n\r\nlunch at noon?\r\n\r\nAlice"), CAT_CLEAN, DESTINY_PASS,
		 NULL, "Passed CLEAN {RelayedInbound}"},
		{"eicar plain", eu_mail(NULL, EU_EICAR), CAT_VIRUS, DESTINY_DISCARD, "virus",
		 "Blocked INFECTED (Eicar-Test-Signature) {DiscardedInbound,Quarantined}"},
		{"eicar base64", eu_mail_attach("eicar.txt", "text/plain", NULL, EU_EICAR, strlen(EU_EICAR)), CAT_VIRUS,
		 DESTINY_DISCARD, "virus", "Blocked INFECTED (Eicar-Test-Signature)"},
		{"eicar zip", eicar_zip(1), CAT_VIRUS, DESTINY_DISCARD, "virus", "Blocked INFECTED (Eicar-Test-Signature)"},
		{"eicar zip in zip", eicar_zip(2), CAT_VIRUS, DESTINY_DISCARD, "virus",
		 "Blocked INFECTED (Eicar-Test-Signature)"},
		{"banned exe", eu_mail_attach("setup.exe", "application/octet-stream", NULL, "MZ-not-really", 13),
		 CAT_BANNED, DESTINY_DISCARD, "banned", "Blocked BANNED (setup.exe) {DiscardedInbound,Quarantined}"},
		{"double extension", eu_mail_attach("report.pdf.exe", "application/pdf", NULL, "%PDF-1.4", 8), CAT_BANNED,
		 DESTINY_DISCARD, "banned", "Blocked BANNED (report.pdf.exe)"},
		{"rfc2231 exe",
		 eu_mail_attach(NULL, "application/octet-stream", "attachment; filename*=UTF-8''rechnung%20M%C3%A4rz.exe",
				"x", 1),
		 CAT_BANNED, DESTINY_DISCARD, "banned", "Blocked BANNED (rechnung M\xc3\xa4rz.exe)"},
		{"pe as notes.txt", eu_mail_attach("notes.txt", "text/plain", NULL, pe, pelen), CAT_VIRUS,
		 DESTINY_DISCARD, "virus", "Blocked INFECTED (ClamAV-Test-File)"},
		{"unknown pe as notes.txt", eu_mail_attach("notes.txt", "text/plain", NULL, pe2, pelen), CAT_BANNED,
		 DESTINY_DISCARD, "banned", "Blocked BANNED (notes.txt (application/vnd.microsoft.portable-executable))"},
		{"gtube", eu_mail("X-Spam-Flag: NO\r\n", EU_GTUBE), CAT_SPAM, DESTINY_DISCARD, "spam",
		 "Blocked SPAM {DiscardedInbound,Quarantined}"},
		{"ham",
		 eu_mail(NULL, "Hi Bob,\r\n\r\nthe quarterly figures are attached to the wiki page; ping me if the "
			       "numbers look off.\r\n\r\nThanks, Alice"),
		 CAT_CLEAN, DESTINY_PASS, NULL, "Passed CLEAN {RelayedInbound}"},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		run_case(&cases[i]);
		g_string_free(cases[i].mail, TRUE);
	}
	/* clam.exe inside each clamav-testfiles container */
	GDir *d = g_dir_open("/usr/share/clamav-testfiles", 0, NULL);
	const char *n;
	while ((n = g_dir_read_name(d))) {
		if (!strcmp(n, "clam_cache_emax.tgz"))
			continue; /* built to exceed the recursion limit: test_clamav covers it */
		char *p = g_build_filename("/usr/share/clamav-testfiles", n, NULL);
		struct corpus_case c = {n, attach_file(n, p), CAT_VIRUS, DESTINY_DISCARD, "virus",
					"Blocked INFECTED (ClamAV-Test-File)"};
		run_case(&c);
		g_string_free(c.mail, TRUE);
		g_free(p);
	}
	g_dir_close(d);
	g_free(pe);
	g_free(pe2);
}

static void test_gtube_forged_headers(void **state)
{
	(void)state;
	GString *s = eu_mail("X-Spam-Flag: NO\r\nX-Virus-Scanned: forged\r\n", EU_GTUBE);
	struct msg *m = eu_msg(s);
	assert_int_equal(verdict_run(vctx, m), VERDICT_OK);
	assert_true(eu_has(m->remove_headers, "X-Spam-Flag"));
	assert_true(eu_has(m->remove_headers, "X-Virus-Scanned"));
	assert_non_null(eu_find_header(m, "X-Spam-Flag: YES"));
	assert_non_null(eu_find_header(m, "X-Spam-Status: Yes, score=1000"));
	msg_free(m);
	g_string_free(s, TRUE);
}

static void test_split_and_replies(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-unit-XXXXXX"), *qdir = tu_tmpdir("gh-unit-XXXXXX");
	char *ctl = g_build_filename(dir, "simcontrol", NULL);
	assert_true(g_file_set_contents(ctl, "lab.example.com:clam=no\n", -1, NULL));
	char *ini = g_strdup_printf("[scand]\nquarantine_dir = %s\n[clamav]\ndatabase_dirs = %s/signatures\n"
				    "reload_check_interval = 0\n[spam]\nenabled = no\n"
				    "[policy]\nlookup_file = %s\nvirus_destiny = reject\n",
				    qdir, eu_root(), ctl);
	struct conf *c = eu_conf(ini);
	struct verdict_ctx *v = NULL;
	char *err = NULL;
	assert_int_equal(verdict_init(c, &v, &err), 0);
	GString *s = eu_mail(NULL, EU_EICAR);
	struct msg *m = eu_msg(s);
	msg_add_rcpt(m, "researcher@lab.example.com");
	assert_int_equal(verdict_run(v, m), VERDICT_OK);
	struct msg_rcpt *r0 = g_ptr_array_index(m->rcpts, 0), *r1 = g_ptr_array_index(m->rcpts, 1);
	assert_int_equal(r0->destiny, DESTINY_REJECT);
	assert_int_equal(r1->destiny, DESTINY_PASS);
	assert_string_equal(r1->policy, "lab.example.com");
	char *reply = verdict_reply(m, r0), *words = verdict_log_words(m);
	char *want = g_strdup_printf("554 5.7.0 Reject, id=%s - INFECTED: Eicar-Test-Signature", m->mail_id);
	assert_string_equal(reply, want);
	assert_null(verdict_reply(m, r1));
	assert_string_equal(words,
			    "Passed INFECTED (Eicar-Test-Signature) {RelayedInbound,RejectedInbound,Quarantined}");
	/* no spam stage: still no forged X-Spam-Flag gets through */
	assert_true(eu_has(m->remove_headers, "X-Spam-Flag"));
	g_free(want);
	g_free(reply);
	g_free(words);
	msg_free(m);
	g_string_free(s, TRUE);

	/* a broken policy file on reload keeps the old policy */
	assert_true(g_file_set_contents(ctl, "lab.example.com clam=no\n", -1, NULL));
	assert_int_equal(verdict_reload(v, c, &err), -1);
	assert_non_null(strstr(err, "simcontrol:1"));
	g_free(err);
	/* an unwritable quarantine answers tempfail */
	s = eu_mail(NULL, EU_EICAR);
	m = eu_msg(s);
	tu_rmtree(qdir);
	assert_true(g_file_set_contents(qdir, "a file, not a directory", -1, NULL));
	assert_int_equal(verdict_run(v, m), VERDICT_TEMPFAIL);
	g_unlink(qdir);
	msg_free(m);
	g_string_free(s, TRUE);
	verdict_fini(v);
	conf_free(c);
	g_free(ini);
	g_unlink(ctl);
	g_free(ctl);
	tu_rmtree(dir);
	g_free(dir);
	g_free(qdir);
}

static void test_badh(void **state)
{
	(void)state;
	const char *good = "From: a@b.c\r\nDate: Sat, 21 Nov 2026 12:00:00 +0000\r\nSubject: hi\r\n"
			   "Received: x\r\n\tcontinued\r\n\r\nbody\r\n";
	assert_null(scan_badh_check((const unsigned char *)good, strlen(good), false));
	struct {
		const char *hdr, *why;
	} bad[] = {
		{"From: a@b.c\r\nSubject: hi\r\n\r\n", "missing required header field: \"Date\""},
		{"Date: x\r\nSubject: hi\r\n\r\n", "missing required header field: \"From\""},
		{"From: a@b.c\r\nDate: x\r\nSubject: a\r\nSubject: b\r\n\r\n", "duplicate header field: \"Subject\""},
		{"From: a@b.c\r\nDate: x\r\nSubject: caf\xc3\xa9\r\n\r\n", "8-bit character"},
		{"From: a@b.c\r\nDate: x\r\nSubject: a\x01z\r\n\r\n", "control character 0x01"},
		{"From: a@b.c\r\nDate: x\r\nSubject: a\rb\r\n\r\n", "control character 0x0d"},
		{"From: a@b.c\r\nDate: x\r\nnot a header line\r\n\r\n", "a line that is not a header field"},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *why = scan_badh_check((const unsigned char *)bad[i].hdr, strlen(bad[i].hdr), false);
		assert_non_null(why);
		assert_string_equal(why, bad[i].why);
		g_free(why);
	}
	const char *u = "From: a@b.c\r\nDate: x\r\nSubject: caf\xc3\xa9\r\n\r\n";
	assert_null(scan_badh_check((const unsigned char *)u, strlen(u), true));
	GString *l = g_string_new("From: a@b.c\r\nDate: x\r\nSubject: ");
	for (int i = 0; i < 1000; i++)
		g_string_append_c(l, 'x');
	g_string_append(l, "\r\n\r\n");
	char *why = scan_badh_check((const unsigned char *)l->str, l->len, false);
	assert_string_equal(why, "line over 998 characters");
	g_free(why);

	/* through the pipeline: BADH, passed, alert header */
	struct msg *m = eu_msg(l);
	assert_int_equal(verdict_run(vctx, m), VERDICT_OK);
	assert_int_equal(m->category, CAT_BADH);
	assert_int_equal(((struct msg_rcpt *)g_ptr_array_index(m->rcpts, 0))->destiny, DESTINY_PASS);
	assert_non_null(eu_find_header(m, "X-Gatehouse-Alert: BAD HEADER SECTION, line over 998 characters"));
	char *words = verdict_log_words(m);
	assert_string_equal(words, "Passed BAD-HEADER {RelayedInbound}");
	g_free(words);
	msg_free(m);
	g_string_free(l, TRUE);
}

static void test_header_value(void **state)
{
	(void)state;
	const char *h = "From: a@b.c\r\nsubject:  Hello\r\n\tfolded\r\n world\r\nX-A: 1\r\n\r\nSubject: body\r\n";
	char *v = mailhdr_get_raw((const unsigned char *)h, strlen(h), "Subject");
	assert_string_equal(v, "Hello\tfolded world");
	g_free(v);
	assert_null(mailhdr_get_raw((const unsigned char *)h, strlen(h), "To"));
	v = mailhdr_get_raw((const unsigned char *)h, strlen(h), "x-a");
	assert_string_equal(v, "1");
	g_free(v);
	assert_int_equal(mailhdr_body_offset((const unsigned char *)h, strlen(h)), strstr(h, "\r\n\r\n") + 4 - h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_gtube_forged_headers),
		cmocka_unit_test(test_split_and_replies),
		cmocka_unit_test(test_badh),
		cmocka_unit_test(test_header_value),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
