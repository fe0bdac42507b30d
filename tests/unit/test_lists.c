/*
 * test_lists - allow and block lists on a real SQLite store: scopes and
 * patterns are validated (bad ones refused with what is expected); adding
 * the same (scope, pattern) replaces the entry and keeps its id; delete and
 * query; the precedence of lookup (recipient, recipient without its
 * extension, domain, parent domains, global; the more specific pattern;
 * block over allow at equal specificity; globs; expired entries ignored;
 * the null sender); the lookup is index probes (its query plan has no
 * scan); the entry recorded on a recipient's verdict row reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>
#include <time.h>

#include "lists.h"
#include "mailid.h"
#include "store.h"
#include "store_sqlite.h"
#include "test_util.h"

#define fx tu_store_fx
#define fx_open tu_store_fx_open
#define fx_close tu_store_fx_close

static int64_t add(struct store *st, const char *scope, enum list_kind k, const char *pattern,
                   int64_t expires)
{
	struct list_entry e = {.scope = (char *)scope,
	                       .kind = k,
	                       .pattern = (char *)pattern,
	                       .note = "t",
	                       .created_by = "test",
	                       .expires = expires};
	int64_t id = 0;
	char *err = NULL;
	int rc = store_list_add(st, &e, &id, &err);
	if (rc != 0)
		fail_msg("add %s %s: %d %s", scope, pattern, rc, err);
	assert_true(id > 0);
	return id;
}

/* The id of the deciding entry, 0 for none. */
static int64_t lookup(struct store *st, const char *rcpt, const char *sender)
{
	struct list_entry *hit = NULL;
	int rc = store_list_lookup(st, rcpt, sender, (int64_t)time(NULL), &hit);
	assert_true(rc == 0 || rc == 1);
	int64_t id = hit ? hit->id : 0;
	assert_int_equal(rc == 1, hit != NULL);
	list_entry_free(hit);
	return id;
}

static void test_validation(void **state)
{
	(void)state;
	static const char *const good_scopes[] = {"global",           "GLOBAL", "example.net",
	                                          ".example.net",     ".net",   "Bob@Example.NET",
	                                          "a+b@x.example.org"};
	static const char *const bad_scopes[] = {"",
	                                         "everyone",
	                                         "@example.net",
	                                         "*.example.net",
	                                         "bob@",
	                                         "b ob@example.net",
	                                         "example..net",
	                                         "-x.example.net",
	                                         "bob@exa mple.net",
	                                         "user@*.net"};
	static const char *const good_patterns[] = {"bob@example.net",
	                                            "*@example.net",
	                                            "*@.example.net",
	                                            "*spam*@example.net",
	                                            "?ob@example.net",
	                                            "*@[ab].example.net",
	                                            "*"};
	static const char *const bad_patterns[] = {
	    "",          "bob",      "@example.net",           "bob@",       "*@", "*@.", "bob@@x.net",
	    "a b@x.net", "*@[x.net", "bob@x.net\r\nX-Evil: 1", "<bob@x.net>"};
	for (size_t i = 0; i < G_N_ELEMENTS(good_scopes); i++) {
		char *err = NULL, *n = list_scope_norm(good_scopes[i], &err);
		if (!n)
			fail_msg("scope %s refused: %s", good_scopes[i], err);
		g_autofree char *want = g_ascii_strdown(good_scopes[i], -1);
		assert_string_equal(n, want);
		g_free(n);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad_scopes); i++) {
		char *err = NULL;
		if (list_scope_norm(bad_scopes[i], &err))
			fail_msg("scope \"%s\" accepted", bad_scopes[i]);
		assert_non_null(strstr(err, "unknown scope"));
		assert_non_null(strstr(err, "expected global"));
		g_free(err);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(good_patterns); i++) {
		char *err = NULL, *n = list_pattern_norm(good_patterns[i], &err);
		if (!n)
			fail_msg("pattern %s refused: %s", good_patterns[i], err);
		g_free(n);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad_patterns); i++) {
		char *err = NULL;
		if (list_pattern_norm(bad_patterns[i], &err))
			fail_msg("pattern \"%s\" accepted", bad_patterns[i]);
		assert_non_null(strstr(err, "bad pattern"));
		assert_null(strchr(err, '\n'));
		g_free(err);
	}
	char *key = NULL;
	assert_int_equal(list_entry_key("*@.example.net", &key), LIST_P_SUBDOMAINS);
	assert_string_equal(key, "@.example.net");
	g_free(key);
	assert_int_equal(list_entry_key("*@example.net", &key), LIST_P_DOMAIN);
	assert_string_equal(key, "@example.net");
	g_free(key);
	assert_int_equal(list_entry_key("*x*@example.net", &key), LIST_P_GLOB);
	assert_string_equal(key, "");
	g_free(key);
}

static void test_add_replace_del_query(void **state)
{
	struct fx *f = *state;
	struct list_entry bad = {.scope = "nowhere", .kind = LIST_BLOCK, .pattern = "x@y.net"};
	char *err = NULL;
	int64_t id = 0;
	assert_int_equal(store_list_add(f->st, &bad, &id, &err), -2);
	assert_non_null(strstr(err, "unknown scope"));
	g_free(err);
	err = NULL;
	bad.scope = "global";
	bad.pattern = "nobody";
	assert_int_equal(store_list_add(f->st, &bad, &id, &err), -2);
	assert_non_null(strstr(err, "bad pattern"));
	g_free(err);
	assert_int_equal(store_list_query(f->st, NULL, 0, NULL, NULL), 0);

	int64_t a = add(f->st, "Example.NET", LIST_ALLOW, "*@Friend.ORG", 0);
	int64_t b = add(f->st, "global", LIST_BLOCK, "*@spam.example", 0);
	assert_int_equal(store_list_query(f->st, NULL, 0, NULL, NULL), 2);
	assert_int_equal(store_list_query(f->st, "example.net", 0, NULL, NULL), 1);
	assert_int_equal(store_list_query(f->st, NULL, b, NULL, NULL), 1);
	/* the same scope and pattern again: replaced, same id, new kind */
	assert_int_equal(add(f->st, "example.net", LIST_BLOCK, "*@friend.org", 0), a);
	assert_int_equal(store_list_query(f->st, NULL, 0, NULL, NULL), 2);
	assert_int_equal(lookup(f->st, "x@example.net", "y@friend.org"), a);
	struct list_entry *hit = NULL;
	assert_int_equal(store_list_lookup(f->st, "x@example.net", "y@friend.org", time(NULL), &hit), 1);
	assert_int_equal(hit->kind, LIST_BLOCK);
	assert_string_equal(hit->scope, "example.net");
	assert_string_equal(hit->pattern, "*@friend.org");
	char *d = list_entry_describe(hit);
	g_autofree char *want = g_strdup_printf("block #%lld for example.net: *@friend.org", (long long)a);
	assert_string_equal(d, want);
	g_free(d);
	list_entry_free(hit);

	assert_int_equal(store_list_del(f->st, a), 0);
	assert_int_equal(store_list_del(f->st, a), 1);
	assert_int_equal(lookup(f->st, "x@example.net", "y@friend.org"), 0);
	assert_int_equal(store_list_query(f->st, NULL, 0, NULL, NULL), 1);
}

static void test_precedence(void **state)
{
	struct fx *f = *state;
	const char *s = "joe@mail.spam.example";
	/* global allows the sender's parent domain */
	int64_t g = add(f->st, "global", LIST_ALLOW, "*@.spam.example", 0);
	assert_int_equal(lookup(f->st, "bob+news@sub.example.net", s), g);
	/* a parent-domain scope beats global; the nearer parent beats the farther */
	int64_t p1 = add(f->st, ".net", LIST_BLOCK, "*@.spam.example", 0);
	assert_int_equal(lookup(f->st, "bob+news@sub.example.net", s), p1);
	int64_t p2 = add(f->st, ".example.net", LIST_ALLOW, "*@.spam.example", 0);
	assert_int_equal(lookup(f->st, "bob+news@sub.example.net", s), p2);
	/* ".example.net" is for subdomains, not example.net itself */
	assert_int_equal(lookup(f->st, "bob@example.net", s), p1);
	/* the domain beats its parents */
	int64_t dm = add(f->st, "sub.example.net", LIST_BLOCK, "*@mail.spam.example", 0);
	assert_int_equal(lookup(f->st, "bob+news@sub.example.net", s), dm);
	/* the address without extension beats the domain, the address beats both */
	int64_t plain = add(f->st, "bob@sub.example.net", LIST_ALLOW, "*@mail.spam.example", 0);
	assert_int_equal(lookup(f->st, "bob+news@sub.example.net", s), plain);
	int64_t full = add(f->st, "bob+news@sub.example.net", LIST_BLOCK, "*@.spam.example", 0);
	assert_int_equal(lookup(f->st, "bob+news@sub.example.net", s), full);
	assert_int_equal(lookup(f->st, "BOB+NEWS@SUB.EXAMPLE.NET", "Joe@Mail.Spam.Example"), full);
	/* another recipient of the domain is not concerned by bob's entries */
	assert_int_equal(lookup(f->st, "ann@sub.example.net", s), dm);
	/* nor is an unrelated sender */
	assert_int_equal(lookup(f->st, "bob+news@sub.example.net", "joe@elsewhere.org"), 0);
	/* the null sender matches nothing */
	assert_int_equal(lookup(f->st, "bob@sub.example.net", ""), 0);
}

static void test_specificity(void **state)
{
	struct fx *f = *state;
	const char *r = "ann@example.net";
	int64_t glob = add(f->st, r, LIST_BLOCK, "*@*", 0);
	assert_int_equal(lookup(f->st, r, "x@a.b.org"), glob);
	int64_t longer = add(f->st, r, LIST_ALLOW, "*x*@*.org", 0); /* more literal characters */
	assert_int_equal(lookup(f->st, r, "x@a.b.org"), longer);
	int64_t far = add(f->st, r, LIST_BLOCK, "*@.org", 0);
	assert_int_equal(lookup(f->st, r, "x@a.b.org"), far);
	int64_t near = add(f->st, r, LIST_ALLOW, "*@.b.org", 0);
	assert_int_equal(lookup(f->st, r, "x@a.b.org"), near);
	int64_t dom = add(f->st, r, LIST_BLOCK, "*@a.b.org", 0);
	assert_int_equal(lookup(f->st, r, "x@a.b.org"), dom);
	int64_t addr = add(f->st, r, LIST_ALLOW, "x@a.b.org", 0);
	assert_int_equal(lookup(f->st, r, "x@a.b.org"), addr);
	assert_int_equal(lookup(f->st, r, "y@a.b.org"), dom);
	/* equal specificity: block beats allow, whatever the order of adding */
	int64_t al = add(f->st, "global", LIST_ALLOW, "*spam*@example.org", 0);
	int64_t bl = add(f->st, "global", LIST_BLOCK, "*eggs*@example.org", 0);
	assert_true(al < bl);
	assert_int_equal(lookup(f->st, "z@other.net", "spameggs@example.org"), bl);
	int64_t bl2 = add(f->st, "global", LIST_BLOCK, "*ham*@example.org", 0);
	int64_t al2 = add(f->st, "global", LIST_ALLOW, "*jam*@example.org", 0);
	assert_true(bl2 < al2);
	assert_int_equal(lookup(f->st, "z@other.net", "hamjam@example.org"), bl2);
}

static void test_expiry(void **state)
{
	struct fx *f = *state;
	int64_t now = (int64_t)time(NULL);
	add(f->st, "example.net", LIST_BLOCK, "*@old.example", now - 10);
	assert_int_equal(lookup(f->st, "a@example.net", "b@old.example"), 0);
	int64_t live = add(f->st, "example.net", LIST_BLOCK, "*@new.example", now + 3600);
	assert_int_equal(lookup(f->st, "a@example.net", "b@new.example"), live);
	/* expired entries are still shown (and can be deleted) */
	assert_int_equal(store_list_query(f->st, "example.net", 0, NULL, NULL), 2);
}

/* The lookup's query plan searches the index, it does not scan. */
static void test_probe_plan(void **state)
{
	struct fx *f = *state;
	add(f->st, "global", LIST_BLOCK, "*@x.example", 0);
	assert_int_equal(lookup(f->st, "a@example.net", "b@x.example") > 0, 1);
	sqlite3 *db = store_sqlite_db(f->st);
	sqlite3_stmt *s;
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "EXPLAIN QUERY PLAN SELECT id FROM lists WHERE scope IN (?1, ?2, ?3) "
	                       "AND pkey IN (?4, ?5) AND (expires = 0 OR expires > ?6)",
	                       -1, &s, NULL),
	    SQLITE_OK);
	GString *plan = g_string_new("");
	while (sqlite3_step(s) == SQLITE_ROW)
		g_string_append_printf(plan, "%s\n", sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
	assert_non_null(strstr(plan->str, "USING INDEX lists_probe (scope=? AND pkey=?)"));
	assert_null(strstr(plan->str, "SCAN"));
	g_string_free(plan, TRUE);
}

static void test_rcpt_list_entry(void **state)
{
	struct fx *f = *state;
	struct store_rcpt r[2] = {
	    {.addr = "a@example.net", .destiny = "pass", .list_entry = "allow #3 for a@example.net: *@x.org"},
	    {.addr = "b@example.net", .destiny = "discard"}};
	struct store_msg m = {.category = "spam", .sender = "s@x.org", .nrcpt = 2, .rcpt = r};
	mailid_new(m.mail_id);
	assert_int_equal(store_put(f->st, &m, NULL, 0), 0);
	struct store_msg *got = NULL;
	assert_int_equal(store_get(f->st, m.mail_id, &got), 0);
	assert_string_equal(got->rcpt[0].list_entry, "allow #3 for a@example.net: *@x.org");
	assert_string_equal(got->rcpt[1].list_entry, "");
	store_msg_free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test_setup_teardown(test_add_replace_del_query, fx_open, fx_close),
	    cmocka_unit_test_setup_teardown(test_precedence, fx_open, fx_close),
	    cmocka_unit_test_setup_teardown(test_specificity, fx_open, fx_close),
	    cmocka_unit_test_setup_teardown(test_expiry, fx_open, fx_close),
	    cmocka_unit_test_setup_teardown(test_probe_plan, fx_open, fx_close),
	    cmocka_unit_test_setup_teardown(test_rcpt_list_entry, fx_open, fx_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
