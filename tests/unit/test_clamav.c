/*
 * test_clamav - the libclamav stage against the real library and the
 * project's signatures: EICAR plain, base64, zip, zip in zip; clam.exe in
 * every clamav-testfiles format; limits and encryption -> UNCHECKED;
 * reloads (swap under concurrent scans, corrupt file keeps the old engine,
 * the watcher notices a new file, low-memory mode); the decoded-parts scan
 * ([clamav] decode_parts) against libclamav's own mail parser.
 */
#include "engine_util.h"
#include "scand/scan_clamav.h"

static void *clam_open(const char *extra_dirs, const char *extra)
{
	char *ini = eu_clam_conf(extra_dirs, extra);
	void *st = eu_stage_open(&scan_clamav_stage, ini);
	g_free(ini);
	return st;
}

static enum stage_result scan_str(void *st, const GString *s, struct msg **out)
{
	struct msg *m = eu_msg(s);
	enum stage_result r = scan_clamav_stage.scan(st, m);
	*out = m;
	return r;
}

static void expect_virus(void *st, const GString *s, const char *name)
{
	struct msg *m;
	assert_int_equal(scan_str(st, s, &m), STAGE_OK);
	assert_int_equal(m->category, CAT_VIRUS);
	assert_string_equal(m->engine, "clamav");
	assert_true(eu_has(m->virus_names, name));
	msg_free(m);
}

static void test_clean_and_eicar(void **state)
{
	(void)state;
	void *st = clam_open(NULL, NULL);
	struct msg *m;
	GString *s = eu_mail(NULL, "hello, nothing here");
	assert_int_equal(scan_str(st, s, &m), STAGE_OK);
	assert_int_equal(m->category, CAT_CLEAN);
	assert_int_equal(m->virus_names->len, 0);
	msg_free(m);
	g_string_free(s, TRUE);

	s = eu_mail(NULL, EU_EICAR);
	expect_virus(st, s, "Eicar-Test-Signature");
	g_string_free(s, TRUE);

	s = eu_mail_attach("eicar.com", "application/octet-stream", NULL, EU_EICAR, strlen(EU_EICAR));
	expect_virus(st, s, "Eicar-Test-Signature");
	g_string_free(s, TRUE);

	for (int levels = 1; levels <= 2; levels++) { /* in a zip, in a zip in a zip */
		GByteArray *z = eu_zip_nested("eicar.com", EU_EICAR, strlen(EU_EICAR), levels);
		s = eu_mail_attach("eicar.zip", "application/zip", NULL, z->data, z->len);
		expect_virus(st, s, "Eicar-Test-Signature");
		g_string_free(s, TRUE);
		g_byte_array_free(z, TRUE);
	}

	char *banner = scan_clamav_banner(st);
	assert_non_null(strstr(banner, "libclamav "));
	assert_non_null(strstr(banner, " 3 signatures, "));
	g_free(banner);
	scan_clamav_stage.fini(st);
}

/* Every file of clamav-testfiles, as a base64 attachment: each holds
 * clam.exe in another container or packer. */
static void test_testfiles(void **state)
{
	(void)state;
	void *st = clam_open(NULL, NULL);
	const char *dir = "/usr/share/clamav-testfiles";
	GDir *d = g_dir_open(dir, 0, NULL);
	assert_non_null(d);
	const char *n;
	int count = 0;
	while ((n = g_dir_read_name(d))) {
		char *p = g_build_filename(dir, n, NULL), *data;
		gsize len;
		assert_true(g_file_get_contents(p, &data, &len, NULL));
		GString *s = eu_mail_attach(n, "application/octet-stream", NULL, data, len);
		struct msg *m;
		scan_str(st, s, &m);
		/* clam_cache_emax.tgz is built to exceed the default recursion limit */
		if (strcmp(n, "clam_cache_emax.tgz") == 0 && m->category == CAT_UNCHECKED &&
		    strstr(m->unchecked_reason->str, "Heuristics.Limits.Exceeded"))
			;
		else if (m->category != CAT_VIRUS || !eu_has(m->virus_names, "ClamAV-Test-File"))
			fail_msg("%s: category %s, reason %s", n, msg_category_name(m->category),
				 m->unchecked_reason->str);
		msg_free(m);
		g_string_free(s, TRUE);
		g_free(data);
		g_free(p);
		count++;
	}
	g_dir_close(d);
	assert_true(count >= 40);
	scan_clamav_stage.fini(st);
}

static void expect_unchecked(void *st, const GString *s, const char *reason_part)
{
	struct msg *m;
	enum stage_result r = scan_str(st, s, &m);
	if (r != STAGE_UNCHECKED)
		fail_msg("expected unchecked (%s), got %d, category %s %s", reason_part, r,
			 msg_category_name(m->category), m->virus_names->len ? (char *)m->virus_names->pdata[0] : "");
	assert_int_equal(m->category, CAT_UNCHECKED);
	if (!strstr(m->unchecked_reason->str, reason_part))
		fail_msg("reason '%s' lacks '%s'", m->unchecked_reason->str, reason_part);
	msg_free(m);
}

static void test_limits_unchecked(void **state)
{
	(void)state;
	void *st = clam_open(NULL, NULL);
	GByteArray *z = eu_zip("eicar.com", EU_EICAR, strlen(EU_EICAR), "secret");
	GString *s = eu_mail_attach("locked.zip", "application/zip", NULL, z->data, z->len);
	expect_unchecked(st, s, "Heuristics.Encrypted");
	g_string_free(s, TRUE);
	g_byte_array_free(z, TRUE);

	scan_clamav_stage.fini(st);

	/* nesting deeper than max_recursion */
	st = clam_open(NULL, "max_recursion = 5\n");
	GByteArray *a = eu_zip_nested("eicar.com", EU_EICAR, strlen(EU_EICAR), 7);
	s = eu_mail_attach("deep.zip", "application/zip", NULL, a->data, a->len);
	expect_unchecked(st, s, "Heuristics.Limits.Exceeded");
	g_string_free(s, TRUE);
	g_byte_array_free(a, TRUE);

	scan_clamav_stage.fini(st);

	/* more decompressed bytes than max_scan_size (libclamav skips an
	 * oversized member without an alert: the banned stage checks member
	 * sizes against max_file_size) */
	st = clam_open(NULL, "max_scan_size = 2k\n");
	GString *big = g_string_new("");
	for (int i = 0; i < 4000; i++)
		g_string_append_c(big, (char)('a' + i % 26));
	GByteArray *zb = eu_zip("big.txt", big->str, big->len, NULL);
	s = eu_mail_attach("big.zip", "application/zip", NULL, zb->data, zb->len);
	expect_unchecked(st, s, "Heuristics.Limits.Exceeded");
	g_string_free(s, TRUE);
	g_string_free(big, TRUE);
	g_byte_array_free(zb, TRUE);
	scan_clamav_stage.fini(st);

	/* more MIME parts than max_files, either way of scanning: counted, not
	 * parsed (neither GMime nor libclamav's mail parser builds them);
	 * the raw bytes are still scanned, so a signature in the text wins */
	for (int whole = 0; whole <= 1; whole++) {
		st = clam_open(NULL, whole ? "max_files = 10\ndecode_parts = no\n" : "max_files = 10\n");
		s = g_string_new("From: a@b.c\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n"
		                 "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
		for (int i = 0; i < 50; i++)
			g_string_append(s, "--b\r\n\r\n\r\n");
		g_string_append(s, "--b--\r\n");
		expect_unchecked(st, s, "Heuristics.Limits.Exceeded.MaxFiles");
		g_string_truncate(s, s->len - strlen("--b--\r\n"));
		g_string_append(s, "--b\r\n\r\n" EU_EICAR "\r\n--b--\r\n");
		expect_virus(st, s, "Eicar-Test-Signature");
		g_string_free(s, TRUE);
		scan_clamav_stage.fini(st);
	}
}

/* A text body with data uuencoded inline ("begin 644 name" ... "end"), as
 * old mailers send attachments: GMime leaves it as text. */
static GString *mail_uuencoded(const char *name, const unsigned char *d, size_t n)
{
	GString *body = g_string_new("");
	g_string_append_printf(body, "the file follows\r\n\r\nbegin 644 %s\r\n", name);
	for (size_t i = 0; i < n; i += 45) {
		size_t k = MIN((size_t)45, n - i);
		g_string_append_c(body, (char)(32 + k));
		for (size_t j = 0; j < k; j += 3) {
			unsigned char b[3] = {0};
			memcpy(b, d + i + j, MIN((size_t)3, k - j));
			unsigned v = (unsigned)b[0] << 16 | (unsigned)b[1] << 8 | b[2];
			for (int q = 18; q >= 0; q -= 6) {
				unsigned c = (v >> q) & 63;
				g_string_append_c(body, c ? (char)(32 + c) : '`');
			}
		}
		g_string_append(body, "\r\n");
	}
	g_string_append(body, "`\r\nend\r\n");
	GString *s = eu_mail(NULL, body->str);
	g_string_free(body, TRUE);
	return s;
}

/* A multipart/mixed message of n base64 attachments (zips). */
static GString *mail_zips(GByteArray **zips, int n)
{
	GString *s =
	    g_string_new("From: a@example.org\r\nTo: b@example.com\r\nSubject: zips\r\nMIME-Version: 1.0\r\n"
			 "Content-Type: multipart/mixed; boundary=\"ZB\"\r\n\r\n");
	for (int i = 0; i < n; i++) {
		g_string_append_printf(
		    s,
		    "--ZB\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; filename=\"part%d.zip\"\r\n\r\n",
		    i);
		eu_append_base64(s, zips[i]->data, zips[i]->len);
	}
	g_string_append(s, "--ZB--\r\n");
	return s;
}

/* The same verdicts whether scand decodes the parts (decode_parts = yes,
 * the default) or libclamav's mail parser does (no): inline uuencode (only
 * libclamav decodes it: the message goes to it whole), a signature after
 * an encrypted archive (the signature wins over the heuristic), a message
 * attached to a message, and max_scan_size counted over all the parts. */
static void test_decoded_parts(void **state)
{
	(void)state;
	static const char *const modes[] = {"decode_parts = yes\n", "decode_parts = no\n"};
	for (size_t mi = 0; mi < G_N_ELEMENTS(modes); mi++) {
		void *st = clam_open(NULL, modes[mi]);
		GString *s = mail_uuencoded("eicar.com", (const unsigned char *)EU_EICAR, strlen(EU_EICAR));
		expect_virus(st, s, "Eicar-Test-Signature");
		g_string_free(s, TRUE);

		GByteArray *z[2];
		z[0] = eu_zip("locked.txt", "nothing", 7, "secret");
		z[1] = eu_zip("eicar.com", EU_EICAR, strlen(EU_EICAR), NULL);
		s = mail_zips(z, 2);
		expect_virus(st, s, "Eicar-Test-Signature");
		g_string_free(s, TRUE);
		s = mail_zips(z, 1);
		expect_unchecked(st, s, "Heuristics.Encrypted");
		g_string_free(s, TRUE);
		g_byte_array_free(z[0], TRUE);
		g_byte_array_free(z[1], TRUE);

		GString *inner =
		    eu_mail_attach("eicar.com", "application/octet-stream", NULL, EU_EICAR, strlen(EU_EICAR));
		s = g_string_new(
		    "From: a@example.org\r\nTo: b@example.com\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=\"OUT\"\r\n\r\n--OUT\r\n"
		    "Content-Type: text/plain\r\n\r\nforwarded\r\n--OUT\r\nContent-Type: "
		    "message/rfc822\r\n\r\n");
		g_string_append_len(s, inner->str, (gssize)inner->len);
		g_string_append(s, "\r\n--OUT--\r\n");
		expect_virus(st, s, "Eicar-Test-Signature");
		g_string_free(s, TRUE);
		g_string_free(inner, TRUE);
		scan_clamav_stage.fini(st);

		/* zips of 64k holding 100k each: what libclamav counts differs a
		 * little between the two ways (its mail parser counts the encoded
		 * parts too), but two fit in 600k and four do not. Six different
		 * zips: libclamav's cache skips (and does not count) a copy. */
		char *conf = g_strdup_printf("%smax_scan_size = 600k\n", modes[mi]);
		st = clam_open(NULL, conf);
		g_free(conf);
		GByteArray *bz[6];
		GString *big = g_string_new("");
		guint32 x = 12345;
		for (int i = 0; i < 6; i++) {
			g_string_truncate(big, 0);
			for (int k = 0; k < 100000; k++) {
				x = x * 1103515245u + 12345u;
				g_string_append_c(big, (char)('a' + (x >> 16) % 26));
			}
			bz[i] = eu_zip("big.txt", big->str, big->len, NULL);
		}
		struct msg *m;
		s = mail_zips(bz, 2);
		enum stage_result r2 = scan_str(st, s, &m);
		if (r2 != STAGE_OK || m->category != CAT_CLEAN)
			fail_msg("%s: two zips: %d %s %s", modes[mi], r2, msg_category_name(m->category),
				 m->unchecked_reason->str);
		msg_free(m);
		g_string_free(s, TRUE);
		s = mail_zips(bz + 2, 4);
		expect_unchecked(st, s, "Heuristics.Limits.Exceeded");
		g_string_free(s, TRUE);
		for (int i = 0; i < 6; i++)
			g_byte_array_free(bz[i], TRUE);
		g_string_free(big, TRUE);
		scan_clamav_stage.fini(st);
	}
}

static void test_no_database(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-unit-XXXXXX");
	char *ini = g_strdup_printf("[clamav]\ndatabase_dirs = %s:/nonexistent/gh\n", dir);
	struct conf *c = eu_conf(ini);
	void *st = NULL;
	char *err = NULL;
	assert_int_equal(scan_clamav_stage.init(c, &st, &err), -1);
	assert_non_null(strstr(err, "no signatures loaded"));
	g_free(err);
	conf_free(c);
	g_free(ini);
	tu_rmtree(dir);
	g_free(dir);
}

struct hammer {
	void *st;
	gint stop;
	gint scans, misses;
};

static gpointer hammer_run(gpointer arg)
{
	struct hammer *h = arg;
	GString *s = eu_mail_attach("eicar.com", "application/octet-stream", NULL, EU_EICAR, strlen(EU_EICAR));
	while (!g_atomic_int_get(&h->stop)) {
		struct msg *m;
		if (scan_str(h->st, s, &m) != STAGE_OK || m->category != CAT_VIRUS)
			g_atomic_int_inc(&h->misses);
		g_atomic_int_inc(&h->scans);
		msg_free(m);
	}
	g_string_free(s, TRUE);
	return NULL;
}

static void write_sig(const char *dir, const char *file, const char *line)
{
	char *p = g_build_filename(dir, file, NULL);
	assert_true(g_file_set_contents(p, line, -1, NULL));
	g_free(p);
}

/* A new signature for the text "gatehouse-reload-marker" as an .ndb body signature. */
#define MARKER "gatehouse-reload-marker"
static char *marker_sig(const char *name)
{
	GString *hex = g_string_new("");
	for (const char *p = MARKER; *p; p++)
		g_string_append_printf(hex, "%02x", (unsigned char)*p);
	char *line = g_strdup_printf("%s:0:*:%s\n", name, hex->str);
	g_string_free(hex, TRUE);
	return line;
}

static void test_reload_swap_under_load(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-unit-XXXXXX");
	void *st = clam_open(dir, NULL);
	unsigned gen0 = scan_clamav_generation(st);
	struct hammer h = {.st = st};
	GThread *t[4];
	for (int i = 0; i < 4; i++)
		t[i] = g_thread_new("hammer", hammer_run, &h);
	GString *mk = eu_mail(NULL, "text with " MARKER " inside");
	for (int i = 0; i < 5; i++) {
		char *name = g_strdup_printf("Gatehouse-Marker-%d", i), *line = marker_sig(name), *err = NULL;
		write_sig(dir, "local.ndb", line);
		assert_int_equal(scan_clamav_reload_now(st, &err), 0);
		expect_virus(st, mk, name);
		g_free(name);
		g_free(line);
		g_usleep(20000);
	}
	g_atomic_int_set(&h.stop, 1);
	for (int i = 0; i < 4; i++)
		g_thread_join(t[i]);
	assert_true(g_atomic_int_get(&h.scans) > 0);
	assert_int_equal(g_atomic_int_get(&h.misses), 0);
	assert_int_equal(scan_clamav_generation(st), gen0 + 5);

	/* a corrupt file: the reload fails and the old engine stays */
	write_sig(dir, "broken.ndb", "this is not:a signature\n");
	char *err = NULL;
	assert_int_equal(scan_clamav_reload_now(st, &err), -1);
	assert_non_null(strstr(err, dir));
	g_free(err);
	assert_int_equal(scan_clamav_generation(st), gen0 + 5);
	expect_virus(st, mk, "Gatehouse-Marker-4");
	g_string_free(mk, TRUE);
	scan_clamav_stage.fini(st);
	tu_rmtree(dir);
	g_free(dir);
}

static void test_watcher_and_low_memory(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-unit-XXXXXX");
	char *ini = g_strdup_printf("[clamav]\ndatabase_dirs = %s:%s/signatures\nreload_check_interval = 1\n"
				    "low_memory_reload = yes\n",
				    dir, eu_root());
	struct conf *c = eu_conf(ini);
	void *st = NULL;
	char *err = NULL;
	assert_int_equal(scan_clamav_stage.init(c, &st, &err), 0);
	unsigned gen0 = scan_clamav_generation(st);
	GString *ei = eu_mail(NULL, EU_EICAR);
	expect_virus(st, ei, "Eicar-Test-Signature"); /* the first scan starts the watcher */
	g_string_free(ei, TRUE);
	char *line = marker_sig("Gatehouse-Watched");
	write_sig(dir, "watched.ndb", line);
	for (int i = 0; i < 50 && scan_clamav_generation(st) == gen0; i++)
		g_usleep(100000);
	assert_int_equal(scan_clamav_generation(st), gen0 + 1);
	/* unchanged files: no reload (the fingerprint lists the files in name order) */
	g_usleep(2500000);
	assert_int_equal(scan_clamav_generation(st), gen0 + 1);
	GString *mk = eu_mail(NULL, MARKER);
	expect_virus(st, mk, "Gatehouse-Watched");

	/* low memory + broken update: no engine, scans tempfail, then recovery */
	write_sig(dir, "broken.ndb", "garbage\n");
	assert_int_equal(scan_clamav_stage.reload(st, c, &err), -1);
	g_free(err);
	err = NULL;
	struct msg *m;
	assert_int_equal(scan_str(st, mk, &m), STAGE_TEMPFAIL);
	msg_free(m);
	char *p = g_build_filename(dir, "broken.ndb", NULL);
	g_unlink(p);
	g_free(p);
	assert_int_equal(scan_clamav_stage.reload(st, c, &err), 0);
	expect_virus(st, mk, "Gatehouse-Watched");
	g_string_free(mk, TRUE);
	scan_clamav_stage.fini(st);
	conf_free(c);
	g_free(line);
	g_free(ini);
	tu_rmtree(dir);
	g_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_and_eicar),
	    cmocka_unit_test(test_testfiles),
	    cmocka_unit_test(test_limits_unchecked),
	    cmocka_unit_test(test_decoded_parts),
	    cmocka_unit_test(test_no_database),
	    cmocka_unit_test(test_reload_swap_under_load),
	    cmocka_unit_test(test_watcher_and_low_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
