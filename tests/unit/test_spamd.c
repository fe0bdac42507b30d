/*
 * test_spamd - the spamd client against a real spamd started for the
 * test (as root, on a port chosen by the kernel) and killed afterwards:
 * GTUBE -> SPAM with headers, a forged X-Spam-Flag is removed, ham,
 * size skip, spamd down (pass / tempfail), a silent peer (timeout), and
 * the answer parser on good and bad input; common/spamc's CHECK and
 * REPORT, and spam_learn() (TELL) refused by a spamd without --allow-tell,
 * then spam and ham learned by a spamd restarted with it.
 */
#include "engine_util.h"
#include "scand/scan_spamd.h"
#include "spamc.h"


static void *spam_open(const char *extra)
{
	char *ini = g_strdup_printf("[spam]\nspamd = 127.0.0.1:%d\ntimeout = 10s\n%s\n", eu_spamd_port,
				    extra ? extra : "");
	void *st = eu_stage_open(&scan_spamd_stage, ini);
	g_free(ini);
	return st;
}

static void test_gtube_forged_flag(void **state)
{
	(void)state;
	void *st = spam_open(NULL);
	GString *s = eu_mail("X-Spam-Flag: NO\r\nX-Spam-Status: No, score=-100\r\n", EU_GTUBE);
	struct msg *m = eu_msg(s);
	assert_int_equal(scan_spamd_stage.scan(st, m), STAGE_OK);
	assert_true(m->spam_checked);
	assert_int_equal(m->category, CAT_SPAM);
	assert_string_equal(m->engine, "spamd");
	assert_true(m->spam_score >= 1000.0);
	assert_non_null(strstr(m->spam_tests, "GTUBE"));
	assert_true(eu_has(m->remove_headers, "X-Spam-Flag"));
	assert_true(eu_has(m->remove_headers, "X-Spam-Status"));
	assert_non_null(eu_find_header(m, "X-Spam-Flag: YES"));
	const char *status = eu_find_header(m, "X-Spam-Status: Yes, score=1000");
	assert_non_null(status);
	assert_non_null(strstr(status, "tag=2 tag2=6.31 kill=6.31 tests=["));
	assert_non_null(strstr(status, "GTUBE"));
	const char *lvl = eu_find_header(m, "X-Spam-Level: ");
	assert_int_equal(strlen(lvl), strlen("X-Spam-Level: ") + 64);
	assert_non_null(eu_find_header(m, "Subject: ***SPAM*** test"));
	assert_true(eu_has(m->remove_headers, "Subject"));
	msg_free(m);
	g_string_free(s, TRUE);
	scan_spamd_stage.fini(st);
}

static void test_ham_and_size(void **state)
{
	(void)state;
	void *st = spam_open("max_size = 2k\ntag_level = -999\n");
	GString *s = eu_mail(NULL, "Hello Bob,\r\n\r\nthe minutes of Tuesday's meeting are on the wiki.\r\n\r\nAlice");
	struct msg *m = eu_msg(s);
	assert_int_equal(scan_spamd_stage.scan(st, m), STAGE_OK);
	assert_true(m->spam_checked);
	assert_int_equal(m->category, CAT_CLEAN);
	assert_false(m->is_spammy);
	assert_true(m->spam_score < 5.0);
	assert_non_null(eu_find_header(m, "X-Spam-Status: No, score="));
	assert_null(eu_find_header(m, "X-Spam-Flag"));
	msg_free(m);
	g_string_free(s, TRUE);

	GString *big = g_string_new("");
	for (int i = 0; i < 100; i++)
		g_string_append(big, "a line of text to make this message larger than max_size\r\n");
	s = eu_mail(NULL, big->str);
	m = eu_msg(s);
	assert_int_equal(scan_spamd_stage.scan(st, m), STAGE_OK);
	assert_false(m->spam_checked);
	assert_int_equal(m->category, CAT_CLEAN);
	assert_non_null(strstr(m->unchecked_reason->str, "spam: not checked"));
	msg_free(m);
	g_string_free(s, TRUE);
	g_string_free(big, TRUE);
	scan_spamd_stage.fini(st);
}

static void test_spamd_down_and_timeout(void **state)
{
	(void)state;
	int closed = eu_free_port(NULL);
	char *ini = g_strdup_printf("[spam]\nspamd = 127.0.0.1:%d\n", closed);
	struct conf *c = eu_conf(ini);
	void *st = NULL;
	char *err = NULL;
	assert_int_equal(scan_spamd_stage.init(c, &st, &err), 0);
	GString *s = eu_mail(NULL, EU_GTUBE);
	struct msg *m = eu_msg(s);
	assert_int_equal(scan_spamd_stage.scan(st, m), STAGE_OK);
	assert_false(m->spam_checked);
	assert_int_equal(m->category, CAT_CLEAN);
	assert_non_null(strstr(m->unchecked_reason->str, "spamd failed"));
	msg_free(m);
	conf_free(c);
	g_free(ini);

	/* tempfail, and a peer that accepts but never answers */
	int lfd;
	int silent = eu_free_port(&lfd);
	assert_int_equal(listen(lfd, 4), 0);
	ini = g_strdup_printf("[spam]\nspamd = 127.0.0.1:%d\ntimeout = 1s\non_failure = tempfail\n", silent);
	c = eu_conf(ini);
	assert_int_equal(scan_spamd_stage.reload(st, c, &err), 0);
	m = eu_msg(s);
	gint64 t0 = g_get_monotonic_time();
	assert_int_equal(scan_spamd_stage.scan(st, m), STAGE_TEMPFAIL);
	gint64 took = g_get_monotonic_time() - t0;
	assert_true(took >= 900000 && took < 5000000);
	assert_non_null(strstr(m->unchecked_reason->str, "timeout"));
	msg_free(m);
	close(lfd);
	conf_free(c);
	g_free(ini);
	g_string_free(s, TRUE);
	scan_spamd_stage.fini(st);
}

static void test_parse(void **state)
{
	(void)state;
	struct spamc_result r;
	char *err = NULL;
	const char *ok = "SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
			 "GTUBE,NO_RECEIVED,NO_RELAYS";
	assert_int_equal(spamc_parse(ok, strlen(ok), SPAMC_SYMBOLS, &r, &err), 0);
	assert_true(r.score == 1000.0 && r.threshold == 5.0);
	assert_true(r.is_spam);
	assert_string_equal(r.tests, "GTUBE,NO_RECEIVED,NO_RELAYS");
	spamc_result_clear(&r);
	const char *inj = "SPAMD/1.1 0 EX_OK\r\nSpam: False ; -1.5 / 5.0\r\n\r\nA_B,\r\nX-Evil: 1,C";
	assert_int_equal(spamc_parse(inj, strlen(inj), SPAMC_SYMBOLS, &r, &err), 0);
	assert_true(r.score == -1.5);
	assert_false(r.is_spam);
	assert_string_equal(r.tests, "A_B,X-Evil1,C");
	spamc_result_clear(&r);
	const char *bad[] = {"SPAMD/1.1 76 Bad header line: x\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\n",
			     "SPAMD/1.1 0 EX_OK\r\nSpam: True 1000\r\n\r\n", "SPAMD/1.1 0 EX_OK\r\n"};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		err = NULL;
		assert_int_equal(spamc_parse(bad[i], strlen(bad[i]), SPAMC_SYMBOLS, &r, &err), -1);
		assert_non_null(err);
		g_free(err);
	}
}

static struct spamc *spamc_local(void)
{
	char *addr = g_strdup_printf("127.0.0.1:%d", eu_spamd_port), *err = NULL;
	struct spamc *c = spamc_new(addr, 20000, &err);
	g_free(addr);
	assert_non_null(c);
	return c;
}

/* CHECK gives the verdict without rule names, REPORT the report text. */
static void test_check_and_report(void **state)
{
	(void)state;
	struct spamc *c = spamc_local();
	GString *s = eu_mail(NULL, EU_GTUBE);
	struct spamc_result r;
	char *err = NULL;
	assert_int_equal(spamc_check(c, SPAMC_CHECK, s->str, s->len, &r, &err), 0);
	assert_true(r.is_spam);
	assert_true(r.score >= 1000.0);
	assert_null(r.tests);
	assert_null(r.report);
	spamc_result_clear(&r);
	assert_int_equal(spamc_check(c, SPAMC_REPORT, s->str, s->len, &r, &err), 0);
	assert_true(r.is_spam);
	assert_non_null(r.report);
	assert_non_null(strstr(r.report, "GTUBE"));
	assert_null(strchr(r.report, '\r'));
	spamc_result_clear(&r);
	g_string_free(s, TRUE);
	spamc_free(c);
	assert_null(spamc_new("no-port", 1000, &err));
	assert_non_null(strstr(err, "not host:port"));
	g_free(err);
}

/* The spamd of the first group runs without --allow-tell. */
static void test_learn_refused(void **state)
{
	(void)state;
	struct spamc *c = spamc_local();
	GString *s = eu_mail(NULL, "Buy cheap watches now, limited offer\r\n");
	char *err = NULL;
	assert_int_equal(spam_learn(c, SPAM_CLASS_SPAM, s->str, s->len, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "spamd error: SPAMD/1."));
	assert_non_null(strstr(err, "--allow-tell"));
	print_message("spam_learn without --allow-tell: %s\n", err);
	g_free(err);
	g_string_free(s, TRUE);
	spamc_free(c);
}

/* Learned as spam then as ham: both succeed, and the Bayes database of
 * spamd's user appears in its home directory. Runs last: it replaces the
 * group's spamd with one started with --allow-tell. */
static void test_learn(void **state)
{
	eu_spamd_stop(state);
	eu_spamd_allow_tell = true;
	assert_int_equal(eu_spamd_start(state), 0);
	struct spamc *c = spamc_local();
	GString *s = eu_mail(NULL, "Buy cheap watches now, limited offer, click here\r\n");
	char *err = NULL;
	char *db = g_build_filename(eu_spamd_dir, "home", ".spamassassin", NULL);
	assert_int_equal(spam_learn(c, SPAM_CLASS_SPAM, s->str, s->len, &err), 0);
	assert_null(err);
	assert_true(g_file_test(db, G_FILE_TEST_IS_DIR));
	assert_int_equal(spam_learn(c, SPAM_CLASS_HAM, s->str, s->len, &err), 0);
	assert_null(err);
	g_free(db);
	g_string_free(s, TRUE);
	spamc_free(c);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_gtube_forged_flag),
		cmocka_unit_test(test_ham_and_size),
		cmocka_unit_test(test_spamd_down_and_timeout),
		cmocka_unit_test(test_check_and_report),
		cmocka_unit_test(test_learn_refused),
		cmocka_unit_test(test_learn),
	};
	return cmocka_run_group_tests(tests, eu_spamd_start, eu_spamd_stop);
}
