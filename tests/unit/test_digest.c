/*
 * test_digest - the recipients' digest: template growth and the run
 *
 * Templates: {{#each items}} with per-item fields and {{#if field}}, an
 * item field outside the block is an unknown placeholder, every value of
 * an .html template is HTML-escaped (and none of a text one), the shipped
 * Japanese templates render. The run (notify_digest_run) over a real
 * store: one digest per due recipient as multipart/alternative in the
 * outbox; a virus gets no release link even when [digest] self_release
 * names it; a second run in the same period queues nothing twice; a
 * --recipient run sends at once; allow links only where release is,
 * block links on every item; "never" (per domain) sends nothing;
 * max_items caps the list with "and N more"; a failure inside a batch
 * keeps none of it and the next run sends each digest once.
 * Run from the repository root (tests/run does): uses templates/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <glib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "log.h"
#include "notify/digest.h"
#include "notify/notify.h"
#include "store_sqlite.h"
#include "test_util.h"

static char *render(const char *file, const char *text, struct notify_vars *v)
{
	char *err = NULL;
	struct notify_tmpl *t = notify_tmpl_parse(file, text, strlen(text), &err);
	if (!t)
		fail_msg("%s", err);
	char *out = notify_tmpl_render_body(t, v);
	notify_tmpl_free(t);
	return out;
}

static void two_items(struct notify_vars *v, const char *subject)
{
	notify_vars_init(v);
	notify_vars_add(v, NV_SENDER, "top@example.org");
	struct notify_item *a = notify_vars_add_item(v);
	notify_item_set(a, NI_SENDER, "a@example.net");
	notify_item_set(a, NI_SUBJECT, subject);
	notify_item_set(a, NI_RELEASE_URL, "https://x/release/T1?a=1&b=2");
	struct notify_item *b = notify_vars_add_item(v);
	notify_item_set(b, NI_SENDER, "b@example.net");
	notify_item_set(b, NI_SUBJECT, "second");
	notify_vars_add(v, NV_MORE, "7");
}

static void test_each_items(void **state)
{
	(void)state;
	struct notify_vars v;
	two_items(&v, "first");
	char *got = render("t",
	                   "Subject: s\n\n{{sender}}:{{#each items}}[{{sender}}|{{subject}}"
	                   "{{#if release_url}}|R{{else}}|-{{/if}}]{{/each}}{{#if more}} +{{more}}{{/if}}\n",
	                   &v);
	assert_string_equal(got, "top@example.org:[a@example.net|first|R][b@example.net|second|-] +7\n");
	g_free(got);
	notify_vars_clear(&v);

	char *err = NULL;
	const char *bad = "Subject: s\n\n{{release_url}}\n";
	assert_null(notify_tmpl_parse("t", bad, strlen(bad), &err));
	assert_string_equal(err, "t:3: unknown placeholder {{release_url}}");
	g_free(err);
	err = NULL;
	const char *bad2 = "Subject: s\n\n{{#each items}}{{#each subject}}{{/each}}{{/each}}\n";
	assert_null(notify_tmpl_parse("t", bad2, strlen(bad2), &err));
	assert_string_equal(err, "t:3: unknown placeholder {{subject}} in block");
	g_free(err);
}

static void test_html_escaping(void **state)
{
	(void)state;
	struct notify_vars v;
	const char *evil = "<script>alert(\"x\")</script> & 'q'";
	two_items(&v, evil);
	const char *tmpl = "<p>{{sender}}</p>{{#each items}}<td>{{subject}}</td>"
	                   "{{#if release_url}}<a href=\"{{release_url}}\">R</a>{{/if}}{{/each}}\n";
	char *html = render("digest.html", tmpl, &v);
	assert_string_equal(html,
	                    "<p>top@example.org</p><td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
	                    "&amp; &apos;q&apos;</td><a href=\"https://x/release/T1?a=1&amp;b=2\">R</a>"
	                    "<td>second</td>\n");
	g_free(html);
	/* the same values in a text template stay as they are */
	char *text = render("digest", "Subject: s\n\n{{#each items}}{{subject}};{{/each}}\n", &v);
	assert_non_null(strstr(text, evil));
	g_free(text);
	notify_vars_clear(&v);
}

/* A config in dir: extra lines appended (sections included). */
static struct conf *test_conf(const char *dir, const char *extra)
{
	char *path = g_build_filename(dir, "scand.conf", NULL);
	char *db = g_build_filename(dir, "gatehouse.db", NULL);
	char *text =
	    g_strdup_printf("[scand]\nhostname = mx.example.org\nallow_root = yes\ndatabase = %s\n"
	                    "[web]\nsecret_file = %s/web.key\nbase_url = https://mail.example.org/q/\n%s",
	                    db, dir, extra);
	struct conf *c = tu_conf_at(path, text);
	g_free(path);
	g_free(db);
	g_free(text);
	return c;
}

static void test_japanese(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-digest-XXXXXX");
	struct conf *c = test_conf(dir, "[notify]\nlanguage = ja\n");
	char *err = NULL;
	struct notify *n = notify_load(c, "templates", &err);
	if (!n)
		fail_msg("%s", err);
	struct notify_vars v;
	two_items(&v, "請求書 <至急>");
	notify_vars_add(&v, NV_RECIPIENTS, "bob@example.org");
	notify_vars_add(&v, NV_TOTAL, "9");
	char *text = notify_tmpl_render_body(notify_template(n, NOTIFY_DIGEST), &v);
	assert_non_null(strstr(text, "件名:   請求書 <至急>"));
	assert_non_null(strstr(text, "受け取る: https://x/release/T1?a=1&b=2"));
	assert_non_null(strstr(text, "(このメールは管理者だけが配送できます)"));
	assert_non_null(strstr(text, "... ほか 7 件。"));
	char *html = notify_tmpl_render_body(notify_template(n, NOTIFY_DIGEST_HTML), &v);
	assert_non_null(strstr(html, "<td>請求書 &lt;至急&gt;</td>"));
	assert_non_null(strstr(html, ">受け取る</a>"));
	struct store_alert a;
	assert_int_equal(notify_render_digest(n, "bob@example.org", &v, &a, &err), 0);
	assert_non_null(strstr(a.body, "Content-Type: multipart/alternative"));
	assert_non_null(strstr(a.body, "Content-Type: text/html; charset=UTF-8"));
	assert_non_null(strstr(a.body, "Subject: =?UTF-8?B?"));
	notify_alert_clear(&a);
	g_free(text);
	g_free(html);
	notify_vars_clear(&v);
	notify_free(n);
	conf_free(c);
	tu_rmtree(dir);
	g_free(dir);
}

/* ---- the run ---- */

static int seq;

static void put_msg(struct store *st, const char *category, const char *rcpt, const char *destiny, int64_t t)
{
	struct store_msg m = {0};
	struct store_rcpt r = {.addr = (char *)rcpt, .destiny = (char *)destiny};
	g_snprintf(m.mail_id, sizeof(m.mail_id), "digestmsg%03d", ++seq);
	m.time = t;
	m.sender = (char *)"spammer@example.net";
	m.subject = (char *)"=?UTF-8?B?5pel5pys6Kqe?= offer";
	m.size = 1234;
	m.category = (char *)category;
	m.quar_path = g_strdup_printf("%s/x-%d", category, seq);
	m.quar_sha256 = (char *)"00";
	m.rcpt = &r;
	m.nrcpt = 1;
	if (store_put(st, &m, NULL, 0) < 0)
		fail_msg("store_put: %s", store_error(st));
	g_free(m.quar_path);
}

static int64_t count_rows(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(store_sqlite_db(st), sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

struct fx {
	char *dir;
	struct conf *c;
	struct notify *n;
	struct store *st;
};

static void fx_open(struct fx *f, const char *extra)
{
	char *err = NULL;
	f->dir = tu_tmpdir("gh-digest-XXXXXX");
	f->c = test_conf(f->dir, extra);
	if (!(f->n = notify_load(f->c, "templates", &err)))
		fail_msg("%s", err);
	f->st = tu_store_open(conf_str(f->c, "scand", "database"), 1000);
}

static void fx_close(struct fx *f)
{
	store_close(f->st);
	notify_free(f->n);
	conf_free(f->c);
	tu_rmtree(f->dir);
	g_free(f->dir);
}

static int run(struct fx *f, const char *rcpt, time_t now, struct notify_digest_stats *s)
{
	struct notify_digest_opts o = {.rcpt = rcpt, .now = now, .out = stdout};
	char *err = NULL;
	int rc = notify_digest_run(f->n, f->c, f->st, &o, s, &err);
	if (rc < 0)
		fail_msg("digest: %s", err);
	return rc;
}

static char *preview(struct fx *f, const char *addr, time_t now)
{
	char *buf = NULL;
	size_t len = 0;
	char *err = NULL;
	FILE *mem = open_memstream(&buf, &len);
	if (notify_digest_preview(f->n, f->c, f->st, addr, now, mem, &err) < 0)
		fail_msg("preview: %s", err);
	fclose(mem);
	return buf;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_run_once_per_period(void **state)
{
	(void)state;
	struct fx f;
	struct notify_digest_stats s;
	fx_open(&f, "[digest]\ncategories = spam,banned,virus\nself_release = spam,banned,virus\n");
	time_t now = 1800000000; /* a Friday, 08:00 UTC */
	put_msg(f.st, "spam", "Bob@example.org", "discard", now - 300);
	put_msg(f.st, "banned", "bob@example.org", "discard", now - 200);
	put_msg(f.st, "virus", "bob@example.org", "discard", now - 100);
	put_msg(f.st, "spam", "carol@example.org", "discard", now - 100);
	put_msg(f.st, "spam", "dave@example.org", "pass", now - 100);    /* delivered: not listed */
	put_msg(f.st, "badh", "erin@example.org", "discard", now - 100); /* not a listed category */

	char *p = preview(&f, "bob@example.org", now);
	assert_int_equal(count_of(p, "  View:    https://mail.example.org/q/view/"), 3);
	assert_int_equal(count_of(p, "  Release: https://mail.example.org/q/release/"), 2);
	assert_int_equal(count_of(p, "(only the postmaster can release this one)"), 1);
	assert_int_equal(
	    count_of(p, "  Release and always accept this sender: https://mail.example.org/q/allow/"), 2);
	assert_int_equal(count_of(p, "  Block this sender: https://mail.example.org/q/block/"), 3);
	assert_non_null(strstr(p, "Subject: 日本語 offer")); /* decoded */
	/* newest first: virus, banned, spam */
	assert_true(strstr(p, "  virus  ") < strstr(p, "  banned  "));
	assert_true(strstr(p, "  banned  ") < strstr(p, "  spam  "));
	g_free(p);
	assert_int_equal(count_rows(f.st, "SELECT count(*) FROM outbox"), 0); /* a preview queues nothing */

	run(&f, NULL, now, &s);
	assert_int_equal(s.queued, 2);
	assert_int_equal(s.items, 4);
	assert_int_equal(count_rows(f.st,
	                            "SELECT count(*) FROM outbox WHERE kind = 'digest' AND state = 'pending' "
	                            "AND rcpt IN ('bob@example.org', 'carol@example.org')"),
	                 2);
	assert_int_equal(count_rows(f.st, "SELECT count(*) FROM outbox WHERE kind = 'digest' AND "
	                                  "instr(body, 'multipart/alternative') > 0"),
	                 2);
	/* the same hour again: nothing new, nothing sent */
	run(&f, NULL, now + 60, &s);
	assert_int_equal(s.queued + s.already, 0);
	/* a new item the same day: due tomorrow, not twice today */
	put_msg(f.st, "spam", "bob@example.org", "discard", now + 100);
	run(&f, NULL, now + 3600, &s);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.already, 1);
	run(&f, NULL, now + 86400, &s);
	assert_int_equal(s.queued, 1);
	assert_int_equal(s.items, 1); /* only what came since the last digest */
	/* --recipient: now, whatever the period */
	put_msg(f.st, "spam", "carol@example.org", "discard", now + 86400 + 10);
	run(&f, "carol@example.org", now + 86400 + 20, &s);
	assert_int_equal(s.queued, 1);
	assert_int_equal(count_rows(f.st, "SELECT count(*) FROM digest_sent"), 4);
	assert_int_equal(count_rows(f.st, "SELECT count(*) FROM outbox"), 4);
	fx_close(&f);
}

static void test_run_frequency_and_cap(void **state)
{
	(void)state;
	struct fx f;
	struct notify_digest_stats s;
	fx_open(&f, "[digest]\nmax_items = 2\nfrequency = weekly\n");
	time_t now = 1800000000;
	for (int i = 0; i < 5; i++)
		put_msg(f.st, "spam", "bob@example.org", "discard", now - 1000 + i);
	put_msg(f.st, "spam", "zoe@other.example", "discard", now - 10);
	assert_int_equal(store_digest_pref_set(f.st, "OTHER.example", "never"), 0);
	char *p = preview(&f, "bob@example.org", now);
	assert_int_equal(count_of(p, "  View:"), 2);
	assert_non_null(strstr(p, "... and 3 more."));
	assert_non_null(strstr(p, "Frequency: weekly"));
	g_free(p);
	run(&f, NULL, now, &s);
	assert_int_equal(s.queued, 1); /* zoe's domain says never */
	assert_int_equal(s.items, 5);
	/* weekly: the next day is the same ISO week */
	put_msg(f.st, "spam", "bob@example.org", "discard", now + 10);
	run(&f, NULL, now + 86400, &s);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.already, 1);
	/* an address setting beats its domain's */
	assert_int_equal(store_digest_pref_set(f.st, "zoe@other.example", "daily"), 0);
	run(&f, NULL, now + 86400, &s);
	assert_int_equal(s.queued, 1);
	fx_close(&f);
}

/* A failure in the middle of a batch (here a trigger refusing carol's
 * mark, as a crash before the commit would) keeps nothing of it: no
 * digest for bob either; the next run sends each exactly once. */
static void test_run_all_or_nothing(void **state)
{
	(void)state;
	struct fx f;
	struct notify_digest_stats s;
	fx_open(&f, "");
	time_t now = 1800000000;
	put_msg(f.st, "spam", "bob@example.org", "discard", now - 100);
	put_msg(f.st, "spam", "carol@example.org", "discard", now - 100);
	sqlite3 *db = store_sqlite_db(f.st);
	assert_int_equal(
	    sqlite3_exec(db,
	                 "CREATE TRIGGER fail_carol BEFORE INSERT ON digest_sent "
	                 "WHEN NEW.rcpt = 'carol@example.org' BEGIN SELECT RAISE(ABORT, 'injected'); END",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	struct notify_digest_opts o = {.now = now, .out = stdout};
	char *err = NULL;
	assert_int_equal(notify_digest_run(f.n, f.c, f.st, &o, &s, &err), -1);
	assert_non_null(strstr(err, "injected"));
	g_free(err);
	assert_int_equal(count_rows(f.st, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(count_rows(f.st, "SELECT count(*) FROM digest_sent"), 0);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER fail_carol", NULL, NULL, NULL), SQLITE_OK);
	run(&f, NULL, now + 60, &s);
	assert_int_equal(s.queued, 2);
	run(&f, NULL, now + 120, &s);
	assert_int_equal(s.queued, 0);
	assert_int_equal(count_rows(f.st, "SELECT count(*) FROM outbox WHERE kind = 'digest'"), 2);
	fx_close(&f);
}

int main(void)
{
	log_init("test_digest", 1, LOG_LVL_ERROR, NULL);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_items),
	    cmocka_unit_test(test_html_escaping),
	    cmocka_unit_test(test_japanese),
	    cmocka_unit_test(test_run_once_per_period),
	    cmocka_unit_test(test_run_frequency_and_cap),
	    cmocka_unit_test(test_run_all_or_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
