/*
 * test_banned - the banned stage with real GMime, libmagic and libarchive:
 * a banned .exe, report.pdf.exe, RFC 2231 and RFC 2047 encoded names, a PE
 * file named notes.txt, names and types inside nested zips, bounds ->
 * UNCHECKED, broken MIME that must neither crash nor pass silently.
 */
#include "engine_util.h"
#include "scand/scan_banned.h"

static char *pe_data;
static gsize pe_len;

static void *banned_open(const char *extra)
{
	char *ini = g_strdup_printf("[banned]\n%s\n", extra ? extra : "");
	void *st = eu_stage_open(&scan_banned_stage, ini);
	g_free(ini);
	return st;
}

static struct msg *run(void *st, GString *s, enum stage_result want)
{
	struct msg *m = eu_msg(s);
	enum stage_result r = scan_banned_stage.scan(st, m);
	if (r != want)
		fail_msg("stage result %d, want %d (reason %s)", r, want, m->unchecked_reason->str);
	return m;
}

static void expect_banned(void *st, GString *s, const char *name)
{
	struct msg *m = run(st, s, STAGE_OK);
	assert_int_equal(m->category, CAT_BANNED);
	assert_string_equal(m->engine, "banned");
	if (!eu_has(m->banned_names, name))
		fail_msg("'%s' not in banned names (first: %s)", name,
			 m->banned_names->len ? (char *)m->banned_names->pdata[0] : "none");
	msg_free(m);
	g_string_free(s, TRUE);
}

static void expect_clean(void *st, GString *s)
{
	struct msg *m = run(st, s, STAGE_OK);
	assert_int_equal(m->category, CAT_CLEAN);
	msg_free(m);
	g_string_free(s, TRUE);
}

static void test_names(void **state)
{
	(void)state;
	void *st = banned_open(NULL);
	assert_string_equal(scan_banned_name(st, "report.pdf.exe"), "double extension");
	assert_string_equal(scan_banned_name(st, "setup.EXE"), "extension");
	assert_string_equal(scan_banned_name(st, "evil.exe. "), "extension");
	assert_null(scan_banned_name(st, "readme.txt"));
	assert_null(scan_banned_name(st, "archive.tar.gz"));
	assert_null(scan_banned_name(st, "exe"));

	GString *s = eu_mail(NULL, "plain text, nothing attached");
	expect_clean(st, s);

	expect_banned(st, eu_mail_attach("setup.exe", "application/octet-stream", NULL, "hello", 5),
		      "setup.exe");
	expect_banned(st, eu_mail_attach("report.pdf.exe", "application/pdf", NULL, "%PDF-1.4", 8),
		      "report.pdf.exe");
	/* RFC 2231: filename*=UTF-8''%E2%82%AC%20invoice.exe */
	expect_banned(st,
		      eu_mail_attach(NULL, "application/octet-stream",
				     "attachment; filename*=UTF-8''%E2%82%AC%20invoice.exe", "hello", 5),
		      "\xe2\x82\xac invoice.exe");
	/* RFC 2231 continuation, the extension in the second piece */
	expect_banned(st,
		      eu_mail_attach(NULL, "application/octet-stream",
				     "attachment; filename*0*=UTF-8''quarterly%20; filename*1=\"report.scr\"",
				     "x", 1),
		      "quarterly report.scr");
	/* RFC 2047 inside the quoted name (what many mailers send) */
	expect_banned(st,
		      eu_mail_attach(NULL, "application/octet-stream",
				     "attachment; filename=\"=?UTF-8?B?w7xiZXIuZXhl?=\"", "x", 1),
		      "\xc3\xbc"
		      "ber.exe");
	scan_banned_stage.fini(st);
}

/* A part that names itself more than once is judged by every name it
 * gives: a mail client may show or save any of them. */
static void test_ambiguous_names(void **state)
{
	(void)state;
	void *st = banned_open(NULL);
	static const struct {
		const char *ctype, *disp, *banned;
	} cases[] = {
	    /* the same parameter twice in Content-Disposition, either order */
	    {"application/octet-stream", "attachment; filename=\"a.txt\"; filename=\"a.exe\"", "a.exe"},
	    {"application/octet-stream", "attachment; filename=\"b.exe\"; filename=\"b.txt\"", "b.exe"},
	    /* name in Content-Type against filename in Content-Disposition */
	    {"application/octet-stream; name=\"c.exe\"", "attachment; filename=\"c.txt\"", "c.exe"},
	    {"application/octet-stream; name=\"d.txt\"", "attachment; filename=\"d.scr\"", "d.scr"},
	    /* RFC 2231: an extended value and a plain one */
	    {"application/octet-stream", "attachment; filename*=UTF-8''e.txt; filename=\"e.exe\"", "e.exe"},
	    {"application/octet-stream", "attachment; filename=\"f.txt\"; filename*=UTF-8''f%2Eexe", "f.exe"},
	    /* RFC 2231 continuations, then a plain name */
	    {"application/octet-stream",
	     "attachment; filename*0*=UTF-8''g.t; filename*1=xt; filename=\"g.pif\"", "g.pif"},
	    {"application/octet-stream", "attachment; filename=\"h.txt\"; filename*0=h.; filename*1=vbs",
	     "h.vbs"},
	    /* name*= in Content-Type */
	    {"application/octet-stream; name*=UTF-8''i%2Ebat", "attachment; filename=\"i.txt\"", "i.bat"},
	    /* folded over lines */
	    {"application/octet-stream", "attachment;\r\n\tfilename=\"l.txt\";\r\n filename=\"l.hta\"",
	     "l.hta"},
	    /* two Content-Disposition headers */
	    {"application/octet-stream",
	     "attachment; filename=\"j.txt\"\r\nContent-Disposition: attachment; filename=\"j.cmd\"",
	     "j.cmd"},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		GString *s = eu_mail_attach(NULL, cases[i].ctype, cases[i].disp, "hello", 5);
		struct msg *m = run(st, s, STAGE_OK);
		if (m->category != CAT_BANNED || !eu_has(m->banned_names, cases[i].banned))
			fail_msg("case %zu (%s | %s): category %s, banned %s, want %s", i, cases[i].ctype,
				 cases[i].disp, msg_category_name(m->category),
				 m->banned_names->len ? (char *)m->banned_names->pdata[0] : "none",
				 cases[i].banned);
		/* every candidate is an attachment name for the per-recipient policy */
		if (!eu_has(m->attach_names, cases[i].banned))
			fail_msg("case %zu: %s not in attach_names", i, cases[i].banned);
		msg_free(m);
		g_string_free(s, TRUE);
	}
	/* two harmless names stay harmless */
	GString *s = eu_mail_attach(NULL, "application/octet-stream; name=\"k.txt\"",
				    "attachment; filename=\"k.pdf\"", "hello", 5);
	struct msg *m = run(st, s, STAGE_OK);
	assert_int_equal(m->category, CAT_CLEAN);
	assert_true(eu_has(m->attach_names, "k.txt"));
	assert_true(eu_has(m->attach_names, "k.pdf"));
	msg_free(m);
	g_string_free(s, TRUE);
	scan_banned_stage.fini(st);
}

static void test_types(void **state)
{
	(void)state;
	void *st = banned_open(NULL);
	GString *s = eu_mail_attach("notes.txt", "text/plain", NULL, pe_data, pe_len);
	struct msg *m = run(st, s, STAGE_OK);
	assert_int_equal(m->category, CAT_BANNED);
	assert_true(g_str_has_prefix(m->banned_names->pdata[0], "notes.txt (application/"));
	assert_true(eu_has(m->attach_names, "notes.txt"));
	msg_free(m);
	g_string_free(s, TRUE);

	/* a declared banned type */
	expect_banned(st, eu_mail_attach("thing.bin", "application/x-msdownload", NULL, "abc", 3),
		      "thing.bin (application/x-msdownload)");

	/* names and types inside archives, at depth */
	GByteArray *z1 = eu_zip("docs/evil.exe", "just text", 9, NULL);
	expect_banned(st, eu_mail_attach("files.zip", "application/zip", NULL, z1->data, z1->len),
		      "files.zip/docs/evil.exe");
	GByteArray *z3 = eu_zip_nested("doc.txt", pe_data, pe_len, 2);
	s = eu_mail_attach("outer.zip", "application/zip", NULL, z3->data, z3->len);
	m = run(st, s, STAGE_OK);
	assert_int_equal(m->category, CAT_BANNED);
	assert_true(g_str_has_prefix(m->banned_names->pdata[0], "outer.zip/inner.zip/doc.txt (application/"));
	assert_true(eu_has(m->attach_names, "doc.txt"));
	msg_free(m);
	g_string_free(s, TRUE);
	/* an encrypted zip still shows its member names */
	GByteArray *z4 = eu_zip("payload.scr", "x", 1, "secret");
	expect_banned(st, eu_mail_attach("locked.zip", "application/zip", NULL, z4->data, z4->len),
		      "locked.zip/payload.scr");
	scan_banned_stage.fini(st);

	/* executables = no: the PE named notes.txt passes */
	st = banned_open("executables = no\n");
	s = eu_mail_attach("notes.txt", "text/plain", NULL, pe_data, pe_len);
	expect_clean(st, s);
	scan_banned_stage.fini(st);
	g_byte_array_free(z1, TRUE);
	g_byte_array_free(z3, TRUE);
	g_byte_array_free(z4, TRUE);
}

/* Text parts skip libmagic (mime_walk.c), but never for content that
 * libmagic has to see: a script, or binary bytes behind a text name. */
static void test_text_types(void **state)
{
	(void)state;
	void *st = banned_open("mime_types = text/x-shellscript, text/csv\n");
	/* "#!" goes to libmagic, which calls it a shell script */
	const char *sh = "#!/bin/sh\nrm -rf \"$HOME\"\necho done\n";
	expect_banned(st, eu_mail_attach("notes.txt", "text/plain", NULL, sh, strlen(sh)),
		      "notes.txt (text/x-shellscript)");
	/* plain text is text/plain without libmagic, and is not banned */
	const char *txt = "Dear team,\r\n\r\nthe figures are attached.\r\n\tRegards\r\n\xc3\xa9t\xc3\xa9\r\n";
	GString *s = eu_mail_attach("notes.txt", "text/plain", NULL, txt, strlen(txt));
	expect_clean(st, s);
	/* a text part keeps its declared text type as its real type */
	expect_banned(st, eu_mail_attach("figures.csv", "text/csv", NULL, "a,b\r\n1,2\r\n", 10),
		      "figures.csv (text/csv)");
	scan_banned_stage.fini(st);
	/* a text type among the banned ones: text goes to libmagic again, which
	 * knows a batch file in plain text (the text shortcut would not) */
	const char *bat = "@echo off\r\ndel /q C:\\temp\\*\r\n";
	st = banned_open("mime_types = application/x-dosexec, text/x-msdos-batch\n");
	expect_banned(st, eu_mail_attach("notes.txt", "text/plain", NULL, bat, strlen(bat)),
		      "notes.txt (text/x-msdos-batch)");
	scan_banned_stage.fini(st);
	/* binary bytes behind a text name and type: libmagic finds the zip */
	st = banned_open(NULL);
	GByteArray *z = eu_zip("invoice.exe", "MZ", 2, NULL);
	expect_banned(st, eu_mail_attach("notes.txt", "text/plain", NULL, z->data, z->len),
		      "notes.txt/invoice.exe");
	g_byte_array_free(z, TRUE);
	scan_banned_stage.fini(st);
}

static void expect_unchecked(void *st, GString *s, const char *why);

/* Parts over 64 KiB: only their head is decoded for typing, except an
 * archive, which is listed from all of it; the size bound still holds. */
static void test_large_parts(void **state)
{
	(void)state;
	size_t big = 300 * 1024;
	guint8 *noise = g_malloc(big);
	guint32 x = 12345;
	for (size_t i = 0; i < big; i++) { /* incompressible: the zip stays large */
		x = x * 1103515245u + 12345u;
		noise[i] = (guint8)(x >> 16);
	}
	void *st = banned_open(NULL);
	/* an executable whose name and type say nothing, 300 KiB */
	guint8 *pe = g_malloc(big);
	memcpy(pe, pe_data, pe_len);
	memcpy(pe + pe_len, noise, big - pe_len);
	GString *s = eu_mail_attach("data.bin", "application/octet-stream", NULL, pe, big);
	struct msg *m = run(st, s, STAGE_OK);
	assert_int_equal(m->category, CAT_BANNED);
	assert_true(g_str_has_prefix(m->banned_names->pdata[0], "data.bin (application/"));
	msg_free(m);
	g_string_free(s, TRUE);
	/* a 300 KiB zip: its member is still found */
	GByteArray *z = eu_zip("evil.exe", noise, big, NULL);
	assert_true(z->len > 200 * 1024);
	expect_banned(st, eu_mail_attach("photos.zip", "application/zip", NULL, z->data, z->len),
		      "photos.zip/evil.exe");
	/* a 60 KiB zip: over 64 KiB as base64, under it decoded, so its head is
	 * all of it (the decoder's flush included) and its member is listed */
	GByteArray *z60 = eu_zip("evil.exe", noise, 58 * 1024, NULL);
	assert_true(z60->len < 64 * 1024 && z60->len * 4 / 3 > 64 * 1024);
	expect_banned(st, eu_mail_attach("small.zip", "application/zip", NULL, z60->data, z60->len),
		      "small.zip/evil.exe");
	g_byte_array_free(z60, TRUE);
	scan_banned_stage.fini(st);
	/* two 300 KiB parts against max_scan_size 500k: unchecked, as when
	 * every part was decoded in full; one alone passes */
	st = banned_open("[clamav]\nmax_scan_size = 500k\n");
	gchar *b64 = g_base64_encode(noise, big);
	for (int parts = 1; parts <= 2; parts++) {
		s = g_string_new("From: a@b.c\r\nSubject: sizes\r\nMIME-Version: 1.0\r\n"
				 "Content-Type: multipart/mixed; boundary=B\r\n\r\n");
		for (int i = 0; i < parts; i++) {
			g_string_append_printf(s,
					       "--B\r\nContent-Type: application/octet-stream\r\n"
					       "Content-Disposition: attachment; filename=\"n%d.dat\"\r\n"
					       "Content-Transfer-Encoding: base64\r\n\r\n",
					       i);
			for (size_t k = 0; k < strlen(b64); k += 76)
				g_string_append_printf(s, "%.76s\r\n", b64 + k);
		}
		g_string_append(s, "--B--\r\n");
		if (parts == 2) {
			expect_unchecked(st, s, "max_scan_size");
			continue;
		}
		expect_clean(st, s);
	}
	scan_banned_stage.fini(st);
	g_free(b64);
	g_byte_array_free(z, TRUE);
	g_free(pe);
	g_free(noise);
}

static void expect_unchecked(void *st, GString *s, const char *why)
{
	struct msg *m = run(st, s, STAGE_UNCHECKED);
	assert_int_equal(m->category, CAT_UNCHECKED);
	if (!strstr(m->unchecked_reason->str, why))
		fail_msg("reason '%s' lacks '%s'", m->unchecked_reason->str, why);
	msg_free(m);
	g_string_free(s, TRUE);
}

/* A message: head, then line n times, then tail. */
static GString *repeat_mail(const char *head, const char *line, int n, const char *tail)
{
	GString *s = g_string_new(head);
	for (int i = 0; i < n; i++)
		g_string_append(s, line);
	g_string_append(s, tail);
	return s;
}

static void test_bounds_and_broken(void **state)
{
	(void)state;
	static const char over[] = "max_parts 3 MIME parts (counted before parsing)";
	void *st = banned_open("max_parts = 3\n");
	expect_unchecked(st,
	                 repeat_mail("From: a@b.c\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
	                             "Content-Type: multipart/mixed; boundary=B\r\n\r\n",
	                             "--B\r\nContent-Type: text/plain\r\n\r\na part\r\n", 5, "--B--\r\n"),
	                 over);
	/* the parts are counted in the bytes before GMime builds them: every
	 * way GMime would take a boundary counts (nested multiparts with
	 * their own boundaries, an RFC 2231 boundary in pieces on a folded
	 * line, white space after the boundary line, messages in messages) */
	expect_unchecked(
	    st,
	    repeat_mail("From: a@b.c\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
	                "Content-Type: multipart/mixed; boundary=OUT\r\n\r\n--OUT\r\n"
	                "Content-Type: multipart/mixed;\r\n boundary*0=\"IN\"; boundary*1=\"NER\"\r\n\r\n",
	                "--INNER \t\r\n\r\n\r\n", 5, "--INNER--\r\n--OUT--\r\n"),
	    over);
	expect_unchecked(st,
	                 repeat_mail("From: a@b.c\r\nSubject: messages\r\nMIME-Version: 1.0\r\n",
	                             "Content-Type: message/rfc822\r\n\r\n", 5,
	                             "Subject: bottom\r\n\r\nbottom\r\n"),
	                 over);
	/* more different boundaries declared than max_parts + 1: over (the
	 * count's own memory is bounded too) */
	GString *many = g_string_new("From: a@b.c\r\nSubject: boundaries\r\n\r\n");
	for (int i = 0; i < 5; i++)
		g_string_append_printf(many, "Content-Type: multipart/mixed; boundary=b%d\r\n", i);
	expect_unchecked(st, many, over);
	/* lines that only look like boundaries (SQL comments, a signature
	 * separator) are not parts */
	GString *s = repeat_mail("From: a@b.c\r\nSubject: sql\r\nMIME-Version: 1.0\r\n"
	                         "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
	                         "Content-Type: text/plain\r\n\r\n",
	                         "-- a step\r\n--\r\n-- \r\n--B-\r\n", 20, "--B--\r\n");
	expect_clean(st, s);
	scan_banned_stage.fini(st);

	st = banned_open("max_depth = 3\n[clamav]\nmax_file_size = 1k\nmax_recursion = 2\n");

	s = g_string_new("From: a@b.c\r\nSubject: deep\r\nMIME-Version: 1.0\r\n");
	for (int i = 0; i < 5; i++)
		g_string_append_printf(s, "Content-Type: multipart/mixed; boundary=B%d\r\n\r\n--B%d\r\n", i,
				       i);
	g_string_append(s, "Content-Type: text/plain\r\n\r\nbottom\r\n");
	for (int i = 4; i >= 0; i--)
		g_string_append_printf(s, "--B%d--\r\n", i);
	expect_unchecked(st, s, "max_depth");

	GString *big = g_string_new("");
	for (int i = 0; i < 3000; i++)
		g_string_append_c(big, 'a');
	GByteArray *z = eu_zip("big.txt", big->str, big->len, NULL);
	expect_unchecked(st, eu_mail_attach("big.zip", "application/zip", NULL, z->data, z->len),
			 "max_file_size");
	g_byte_array_free(z, TRUE);
	g_string_free(big, TRUE);

	GByteArray *a = eu_zip_nested("x.txt", "x", 1, 4);
	expect_unchecked(st, eu_mail_attach("deep.zip", "application/zip", NULL, a->data, a->len),
			 "nested deeper");
	/* a zip cut in half: damaged */
	expect_unchecked(st, eu_mail_attach("cut.zip", "application/zip", NULL, a->data, a->len / 2),
			 "cut.zip");
	g_byte_array_free(a, TRUE);
	scan_banned_stage.fini(st);

	/* broken MIME: a missing closing boundary still shows the .exe */
	st = banned_open(NULL);
	s = eu_mail_attach("dropper.exe", "application/octet-stream", NULL, pe_data, pe_len);
	g_string_truncate(s, s->len - strlen("--BOUNDARY--\r\n") - 40);
	expect_banned(st, s, "dropper.exe");
	/* binary garbage with NULs does not crash */
	s = g_string_new("");
	for (int i = 0; i < 5000; i++)
		g_string_append_c(s, (char)(i * 7919 % 256));
	struct msg *m = eu_msg(s);
	enum stage_result r = scan_banned_stage.scan(st, m);
	assert_true(r == STAGE_OK || r == STAGE_UNCHECKED);
	msg_free(m);
	g_string_free(s, TRUE);
	scan_banned_stage.fini(st);
}

static int load_pe(void **state)
{
	(void)state;
	return g_file_get_contents("/usr/share/clamav-testfiles/clam.exe", &pe_data, &pe_len, NULL) ? 0 : -1;
}

static int free_pe(void **state)
{
	(void)state;
	g_free(pe_data);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_ambiguous_names),
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_text_types),
	    cmocka_unit_test(test_large_parts),
	    cmocka_unit_test(test_bounds_and_broken),
	};
	return cmocka_run_group_tests(tests, load_pe, free_pe);
}
