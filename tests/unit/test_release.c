/*
 * test_release - common/release without a downstream: the default targets
 * (pass and tempfail never, served ones only with force); every refusal
 * (deferred or open attempt, nothing kept, purged, already released, an
 * address that could end the SMTP command) sends nothing, marks nothing
 * and writes no event; a quarantine file that is not the stored one is
 * refused with one audit event; a dry run reads and checks the file and
 * writes nothing; a downstream that is not there fails with nothing
 * marked and one event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "mailid.h"
#include "quar.h"
#include "release.h"
#include "store.h"
#include "store_sqlite.h"
#include "test_util.h"

static const char body[] = "Subject: held\r\n\r\nhello\r\n";

struct fix {
	char *dir, *qdir;
	struct store *st;
	struct store_msg m;
	struct store_rcpt r[4];
	char sha[65];
	char *relpath;
};

static int setup(void **state)
{
	struct fix *f = g_new0(struct fix, 1);
	char *err = NULL, *db;
	int64_t size;

	f->dir = tu_tmpdir("gh-release-XXXXXX");
	f->qdir = g_build_filename(f->dir, "q", NULL);
	g_mkdir(f->qdir, 0700);
	db = g_build_filename(f->dir, "gatehouse.db", NULL);
	f->st = tu_store_open(db, 10000);
	g_free(db);
	mailid_new(f->m.mail_id);
	f->relpath = quar_relpath("virus", 1700000000, f->m.mail_id, false);
	if (quar_write(f->qdir, f->relpath, body, sizeof(body) - 1, false, &size, f->sha, &err) < 0)
		fail_msg("quar_write: %s", err);
	f->m.sender = "alice@example.org";
	f->m.quar_path = f->relpath;
	f->m.quar_sha256 = f->sha;
	f->m.quar_state = "quarantined";
	f->m.rcpt = f->r;
	f->m.nrcpt = 4;
	f->r[0] = (struct store_rcpt){.addr = "u@example.com", .destiny = "discard"};
	f->r[1] = (struct store_rcpt){.addr = "p@example.com", .destiny = "pass"};
	f->r[2] = (struct store_rcpt){.addr = "t@example.com", .destiny = "tempfail"};
	f->r[3] = (struct store_rcpt){.addr = "s@example.com", .destiny = "bounce", .released_at = 1};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	store_close(f->st);
	tu_rmtree(f->dir);
	g_free(f->relpath);
	g_free(f->qdir);
	g_free(f->dir);
	g_free(f);
	return 0;
}

static int64_t events(struct fix *f)
{
	sqlite3_stmt *s;
	int64_t n = -1;
	assert_int_equal(sqlite3_prepare_v2(store_sqlite_db(f->st), "SELECT count(*) FROM events", -1, &s, NULL),
	                 SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static struct release_opts opts(struct fix *f)
{
	return (struct release_opts){
	    .quar_dir = f->qdir, .forward = "127.0.0.1:1", .helo = "test", .timeout_s = 5, .who = "tester"};
}

static char *joined(GPtrArray *a)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < a->len; i++)
		g_string_append_printf(s, "%s%s", i ? "," : "", (char *)g_ptr_array_index(a, i));
	return g_string_free(s, FALSE);
}

static void test_targets(void **state)
{
	struct fix *f = *state;
	GPtrArray *a = release_targets(&f->m, false);
	char *s = joined(a);
	assert_string_equal(s, "u@example.com");
	g_free(s);
	g_ptr_array_free(a, TRUE);
	a = release_targets(&f->m, true);
	s = joined(a);
	assert_string_equal(s, "u@example.com,s@example.com");
	g_free(s);
	g_ptr_array_free(a, TRUE);
}

static void refused(struct fix *f, const struct release_opts *o, const char *want)
{
	struct release_outcome out;
	assert_int_equal(release_run(f->st, &f->m, o, &out), RELEASE_REFUSED);
	if (!strstr(out.msg, want))
		fail_msg("\"%s\" does not say \"%s\"", out.msg, want);
	assert_int_equal(out.served->len, 0);
	release_outcome_clear(&out);
}

static void test_refusals_send_and_write_nothing(void **state)
{
	struct fix *f = *state;
	struct release_opts o = opts(f);

	f->m.attempt = "deferred";
	refused(f, &o, "a deferred attempt");
	f->m.attempt = "open";
	refused(f, &o, "an open attempt");
	f->m.attempt = "final";
	f->m.quar_state = "none";
	refused(f, &o, "not quarantined");
	f->m.quar_state = "purged";
	refused(f, &o, "purged, nothing to release");
	f->m.quar_state = "released";
	f->r[0].released_at = 5;
	refused(f, &o, "already released");
	o.force = true; /* with force it would go; but to a bad address: */
	const char *const bad[] = {"x@example.com>\r\nRCPT TO:<y@example.com", NULL};
	o.to = bad;
	refused(f, &o, "unusable address");
	o.to = NULL;
	o.force = false;
	f->m.quar_state = "quarantined";
	f->r[0].released_at = 0;
	f->m.sender = "a b@example.org";
	refused(f, &o, "unusable address");
	assert_int_equal(events(f), 0);
}

static void test_file_not_the_stored_one_is_refused_and_audited(void **state)
{
	struct fix *f = *state;
	struct release_opts o = opts(f);
	f->m.quar_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
	refused(f, &o, "SHA-256 mismatch");
	assert_int_equal(events(f), 1);
}

static void test_dry_run_checks_and_writes_nothing(void **state)
{
	struct fix *f = *state;
	struct release_opts o = opts(f);
	struct release_outcome out;
	o.dry_run = true;
	assert_int_equal(release_run(f->st, &f->m, &o, &out), RELEASE_OK);
	char *want = g_strdup_printf("would release %zu bytes from <alice@example.org> to u@example.com via "
	                             "127.0.0.1:1",
	                             sizeof(body) - 1);
	if (!strstr(out.msg, want))
		fail_msg("\"%s\" does not say \"%s\"", out.msg, want);
	g_free(want);
	assert_int_equal(out.served->len, 0);
	release_outcome_clear(&out);
	assert_int_equal(events(f), 0);
}

static void test_downstream_not_there_marks_nothing(void **state)
{
	struct fix *f = *state;
	struct release_opts o = opts(f);
	struct release_outcome out;
	assert_int_equal(release_run(f->st, &f->m, &o, &out), RELEASE_FAILED);
	if (!strstr(out.msg, "FAILED: cannot reach 127.0.0.1:1: ") || !strstr(out.msg, "(nothing marked)"))
		fail_msg("%s", out.msg);
	assert_int_equal(out.served->len, 0);
	release_outcome_clear(&out);
	assert_int_equal(events(f), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_targets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_send_and_write_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_not_the_stored_one_is_refused_and_audited, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_dry_run_checks_and_writes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_downstream_not_there_marks_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
