/*
 * test_spam - common/spam and common/rspamc without a server: rspamd's
 * JSON reply mapped onto struct spam_result (score, action, symbols with
 * their scores, smtp_message, milter add/remove headers), the verdict
 * with [spam] rspamd_actions = no and yes, CR/LF and bad field names from
 * the engine made safe, replies that are not rspamd's refused, the
 * engine built from each [spam] backend, and the once-a-minute failure
 * log throttle.
 */
#include <math.h>
#include <string.h>

#include "rspamc.h"
#include "spam.h"
#include "test_util.h"

static const char *const reply_ok =
	"{\"is_skipped\":false,\"score\":7.5,\"required_score\":15.0,\"action\":\"add header\","
	"\"symbols\":{\"ONCE_RECEIVED\":{\"name\":\"ONCE_RECEIVED\",\"score\":0.1},"
	"\"MIME_GOOD\":{\"name\":\"MIME_GOOD\",\"score\":-0.1,\"options\":[\"text/plain\"]},"
	"\"HFILTER_FROMHOST_NOT_FQDN\":{\"name\":\"HFILTER_FROMHOST_NOT_FQDN\",\"score\":3.0},"
	"\"BAD\\r\\nX-Evil: 1\":{\"score\":2}},"
	"\"messages\":{\"smtp_message\":\"Try\\r\\nlater\"},"
	"\"milter\":{\"remove_headers\":{\"X-Spamd-Result\":0,\"Bad Name\":0},"
	"\"add_headers\":{\"X-Spamd-Result\":{\"order\":-1,\"value\":\"default: False [7.50 / 15.00];\\r\\n\\tONCE(0.10)[];\\r\\nX-Injected: yes\"},"
	"\"X-Plain\":\"a\\nb\",\"X-List\":[{\"value\":\"one\"},{\"value\":\"two\"}],\"X-Bad:Name\":\"v\"}}}";

static struct spam_result parse_ok(const char *json)
{
	struct spam_result r;
	char *err = NULL;
	assert_int_equal(rspamc_parse(json, strlen(json), &r, &err), 0);
	assert_null(err);
	return r;
}

static bool has(GPtrArray *a, const char *s)
{
	for (guint i = 0; i < a->len; i++)
		if (strcmp(g_ptr_array_index(a, i), s) == 0)
			return true;
	return false;
}

static void test_parse_reply(void **state)
{
	(void)state;
	struct spam_result r = parse_ok(reply_ok);
	assert_true(r.score == 7.5);
	assert_int_equal(r.action, SPAM_ACTION_ADD_HEADER);
	assert_int_equal(r.symbols->len, 4);
	const struct spam_symbol *first = g_ptr_array_index(r.symbols, 0);
	assert_string_equal(first->name, "HFILTER_FROMHOST_NOT_FQDN");
	assert_true(first->score == 3.0);
	char *tests = spam_result_tests(&r);
	/* highest first; the name with CR/LF keeps only its safe characters */
	assert_string_equal(tests, "HFILTER_FROMHOST_NOT_FQDN=3.00,BADX-Evil1=2.00,ONCE_RECEIVED=0.10,MIME_GOOD=-0.10");
	g_free(tests);
	assert_string_equal(r.message, "Try??later");
	assert_true(has(r.remove_headers, "X-Spamd-Result"));
	assert_int_equal(r.remove_headers->len, 1); /* "Bad Name" refused */
	assert_true(has(r.add_headers, "X-Spamd-Result: default: False [7.50 / 15.00]; ONCE(0.10)[]; X-Injected: yes"));
	assert_true(has(r.add_headers, "X-Plain: a b"));
	assert_true(has(r.add_headers, "X-List: one"));
	assert_true(has(r.add_headers, "X-List: two"));
	assert_int_equal(r.add_headers->len, 4); /* "X-Bad:Name" refused */
	for (guint i = 0; i < r.add_headers->len; i++) {
		const char *h = g_ptr_array_index(r.add_headers, i);
		assert_null(strpbrk(h, "\r\n\t"));
	}
	spam_result_clear(&r);
}

static void test_parse_bad(void **state)
{
	(void)state;
	const char *bad[] = {"", "not json", "[1,2]", "{\"action\":\"reject\"}", "{\"score\":1.0}",
	                     "{\"score\":\"high\",\"action\":\"reject\"}", "{\"error\":\"no\\nway\"}",
	                     "{\"score\":1.0,\"action\":\"reject\""};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct spam_result r;
		char *err = NULL;
		assert_int_equal(rspamc_parse(bad[i], strlen(bad[i]), &r, &err), -1);
		assert_non_null(err);
		assert_null(strpbrk(err, "\r\n"));
		assert_null(r.symbols);
		g_free(err);
	}
	struct spam_result r;
	char *err = NULL;
	assert_int_equal(rspamc_parse("{\"error\":\"no\\nway\"}", 19, &r, &err), -1);
	assert_string_equal(err, "rspamd error: no?way");
	g_free(err);
}

static enum spam_verdict verdict(const char *action, double score, bool use_actions, bool *soft)
{
	struct spam_levels lv = {.tag = 2.0, .tag2 = 6.31, .kill = 10.0, .use_actions = use_actions};
	char *json = g_strdup_printf("{\"score\":%g,\"action\":\"%s\"}", score, action);
	struct spam_result r = parse_ok(json);
	spam_verdict_of(&lv, &r);
	enum spam_verdict v = r.verdict;
	*soft = r.soft_reject;
	assert_true(r.by_action <= v);
	if (!use_actions)
		assert_int_equal(r.by_action, SPAM_CLEAN);
	spam_result_clear(&r);
	g_free(json);
	return v;
}

static void test_actions(void **state)
{
	(void)state;
	bool soft;
	/* rspamd_actions = no: the score alone */
	assert_int_equal(verdict("reject", 1.0, false, &soft), SPAM_CLEAN);
	assert_false(soft);
	assert_int_equal(verdict("add header", 3.0, false, &soft), SPAM_TAG);
	assert_int_equal(verdict("soft reject", 7.0, false, &soft), SPAM_TAG2);
	assert_false(soft);
	assert_int_equal(verdict("no action", 12.0, false, &soft), SPAM_KILL);
	/* rspamd_actions = yes: the action raises the verdict, never lowers it */
	assert_int_equal(verdict("reject", 1.0, true, &soft), SPAM_KILL);
	assert_false(soft);
	assert_int_equal(verdict("add header", 1.0, true, &soft), SPAM_TAG2);
	assert_int_equal(verdict("rewrite subject", 1.0, true, &soft), SPAM_TAG2);
	assert_int_equal(verdict("no action", 12.0, true, &soft), SPAM_KILL);
	assert_int_equal(verdict("greylist", 1.0, true, &soft), SPAM_CLEAN);
	assert_true(soft);
	assert_int_equal(verdict("soft reject", 7.0, true, &soft), SPAM_TAG2);
	assert_true(soft);
	assert_int_equal(verdict("some custom action", 3.0, true, &soft), SPAM_TAG);
	assert_false(soft);
}

static void test_header_bounds(void **state)
{
	(void)state;
	struct spam_result r;
	spam_result_init(&r);
	GString *v = g_string_new("");
	for (int i = 0; i < 500; i++)
		g_string_append(v, "SYM(1.00)[];\r\n\t");
	assert_true(spam_result_add_header(&r, "X-Long", v->str));
	const char *h = g_ptr_array_index(r.add_headers, 0);
	assert_true(strlen(h) <= 900);
	assert_null(strpbrk(h, "\r\n\t"));
	assert_false(spam_result_add_header(&r, "", "x"));
	assert_false(spam_result_add_header(&r, "X-\x01", "x"));
	assert_false(spam_result_remove_header(&r, "Subject\r\nX"));
	for (int i = 0; i < 200; i++) {
		char name[64];
		g_snprintf(name, sizeof(name), "SYMBOL_NUMBER_%03d", i);
		spam_result_add_symbol(&r, name, i);
	}
	char *tests = spam_result_tests(&r);
	assert_true(strlen(tests) <= 900);
	assert_true(g_str_has_prefix(tests, "SYMBOL_NUMBER_199=199.00,"));
	g_free(tests);
	g_string_free(v, TRUE);
	spam_result_clear(&r);
}

static void test_throttle(void **state)
{
	(void)state;
	struct spam_throttle t = {0};
	g_mutex_init(&t.lock);
	unsigned n = 0;
	gint64 t0 = 1000000;
	assert_true(spam_throttle_note(&t, t0, &n)); /* the first failure is logged */
	assert_int_equal(n, 1);
	for (int i = 1; i <= 99; i++)
		assert_false(spam_throttle_note(&t, t0 + i * 500000, &n)); /* 99 in the next 50 s */
	assert_true(spam_throttle_note(&t, t0 + SPAM_THROTTLE_US, &n));
	assert_int_equal(n, 100); /* those 99 and this one */
	assert_false(spam_throttle_note(&t, t0 + SPAM_THROTTLE_US + 1, &n));
	assert_true(spam_throttle_note(&t, t0 + 3 * SPAM_THROTTLE_US, &n));
	assert_int_equal(n, 2);
	g_mutex_clear(&t.lock);
}

static void test_from_conf(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-spam-XXXXXX"), *path = g_build_filename(dir, "c.conf", NULL), *err = NULL;
	struct conf *c = tu_conf_at(path, "[spam]\nbackend = rspamd\nrspamd = unix:/run/rspamd.sock\n"
	                                  "rspamd_actions = yes\nkill_level = 9\n");
	struct spam_engine *e = spam_engine_from_conf(c, &err);
	assert_non_null(e);
	assert_string_equal(spam_engine_name(e), "rspamd");
	assert_string_equal(spam_engine_where(e), "unix:/run/rspamd.sock");
	assert_true(spam_engine_levels(e)->use_actions);
	assert_true(spam_engine_levels(e)->kill == 9.0);
	spam_engine_free(e);
	conf_free(c);
	c = tu_conf_at(path, "[spam]\nbackend = rspamd\nrspamd_controller = 127.0.0.1\n");
	assert_null(spam_engine_from_conf(c, &err));
	assert_non_null(strstr(err, "[spam] rspamd_controller"));
	g_free(err);
	conf_free(c);
	c = tu_conf_at(path, "[spam]\nspamd = 127.0.0.1:7830\n");
	e = spam_engine_from_conf(c, &err);
	assert_non_null(e);
	assert_string_equal(spam_engine_name(e), "spamd");
	assert_false(spam_engine_levels(e)->use_actions);
	spam_engine_free(e);
	conf_free(c);
	g_unlink(path);
	g_rmdir(dir);
	g_free(path);
	g_free(dir);
}

/* Nothing listens: the call fails within the timeout, with where and why. */
static void test_refused(void **state)
{
	(void)state;
	char *err = NULL;
	struct rspamc *c = rspamc_new("127.0.0.1:1", "127.0.0.1:1", "pw", 2000, RSPAMC_MAX_REPLY, &err);
	assert_non_null(c);
	struct spam_result r;
	const char *rcpts[] = {"a@example.org", NULL};
	struct spam_envelope env = {.ip = "192.0.2.1", .from = "x\r\nEvil: 1", .rcpts = rcpts, .nrcpts = 1};
	assert_int_equal(rspamc_check(c, &env, "Subject: x\r\n\r\nx\r\n", 16, &r, &err), -1);
	assert_non_null(strstr(err, "http://127.0.0.1:1/checkv2"));
	g_free(err);
	err = NULL;
	assert_int_equal(rspamc_learn(c, SPAM_CLASS_HAM, "x", 1, &err), -1);
	assert_non_null(strstr(err, "/learnham"));
	g_free(err);
	rspamc_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_reply), cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_actions),     cmocka_unit_test(test_header_bounds),
		cmocka_unit_test(test_throttle),    cmocka_unit_test(test_from_conf),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
