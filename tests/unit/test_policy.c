/*
 * test_policy - simcontrol parsing, lookup precedence (address, address
 * without extension, domain, default line, config), malformed lines named
 * by file and line, per-recipient categories and destinies, the bounce
 * downgrade, sender white/blacklists, attach= lists; the combined
 * precedence of a recipient's allow/block list entry over the config lists,
 * the score and spam=no, never over a virus or a banned part.
 */
#include "engine_util.h"
#include "scand/policy.h"

static char *write_file(const char *dir, const char *text)
{
	char *p = g_build_filename(dir, "simcontrol", NULL);
	assert_true(g_file_set_contents(p, text, -1, NULL));
	return p;
}

static struct policy_db *load(const char *lookup_text, const char *extra, char **err)
{
	char *dir = tu_tmpdir("gh-unit-XXXXXX"), *path = lookup_text ? write_file(dir, lookup_text) : g_strdup("");
	char *ini = g_strdup_printf("[policy]\nlookup_file = %s\n%s\n", path, extra ? extra : "");
	struct conf *c = eu_conf(ini);
	struct policy_db *db = policy_load(c, err);
	conf_free(c);
	g_free(ini);
	if (*path)
		g_unlink(path);
	g_rmdir(dir);
	g_free(path);
	g_free(dir);
	return db;
}

static const char *const FILE1 = "# simscan control\n"
				 "postmaster@example.com:clam=yes,spam=no,attach=.txt:.com\n"
				 "user@example.com:spam_hits=12.5\n"
				 "example.com:clam=no,spam=yes,attach=.mp3\n"
				 "\n"
				 ":clam=yes,spam=yes,spam_hits=20.1\n";

static void test_precedence(void **state)
{
	(void)state;
	char *err = NULL;
	struct policy_db *db = load(FILE1, NULL, &err);
	assert_non_null(db);
	const struct policy *p = policy_lookup(db, "Postmaster@Example.COM");
	assert_string_equal(p->name, "postmaster@example.com");
	assert_false(p->spam);
	assert_string_equal(p->attach[0], ".txt");
	assert_string_equal(p->attach[1], ".com");
	assert_true(p->kill == 20.1); /* from the default line */
	p = policy_lookup(db, "user+lists@example.com");
	assert_string_equal(p->name, "user@example.com");
	assert_true(p->kill == 12.5);
	assert_string_equal(policy_lookup(db, "user-ext@example.com")->name, "user@example.com");
	p = policy_lookup(db, "someone@example.com");
	assert_string_equal(p->name, "example.com");
	assert_false(p->clam);
	assert_string_equal(policy_lookup(db, "x@elsewhere.org")->name, "");
	policy_unref(db);

	db = load(NULL, NULL, &err);
	p = policy_lookup(db, "x@elsewhere.org");
	assert_string_equal(p->name, "[policy]");
	assert_true(p->clam && p->spam);
	assert_true(p->kill == 6.31);
	policy_unref(db);
}

static void test_malformed(void **state)
{
	(void)state;
	const char *bad[] = {"example.com clam=yes\n", "a@b.c:clam=maybe\n", "a@b.c:colour=blue\n",
			     "a@b.c:spam_hits=lots\n", "a b@c.d:clam=yes\n", "a@b.c:clam\n", "a@b.c:\na@b.c:\n"};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *text = g_strdup_printf("# comment\n\n%s", bad[i]), *err = NULL;
		struct policy_db *db = load(text, NULL, &err);
		assert_null(db);
		assert_non_null(err);
		/* the first bad line is line 3 (a duplicate: line 4) */
		if (!strstr(err, "simcontrol:3: ") && !strstr(err, "simcontrol:4: duplicate"))
			fail_msg("error does not name the line: %s", err);
		g_free(err);
		g_free(text);
	}
	char *err = NULL;
	struct conf *c = eu_conf("[policy]\nlookup_file = /nonexistent/simcontrol\n");
	assert_null(policy_load(c, &err));
	assert_true(g_str_has_prefix(err, "/nonexistent/simcontrol: "));
	g_free(err);
	conf_free(c);
}

static struct msg *spam_msg(double score, const char *sender, const char *r1, const char *r2)
{
	struct msg *m = msg_new();
	m->sender = g_strdup(sender);
	m->spam_checked = true;
	m->spam_score = score;
	msg_add_rcpt(m, r1);
	if (r2)
		msg_add_rcpt(m, r2);
	return m;
}

static struct msg_rcpt *rcpt(struct msg *m, guint i)
{
	return g_ptr_array_index(m->rcpts, i);
}

static void test_apply_split(void **state)
{
	(void)state;
	char *err = NULL;
	struct policy_db *db = load(FILE1, NULL, &err);
	/* a virus: example.com has clam=no, the default line clam=yes */
	struct msg *m = spam_msg(0, "alice@example.org", "bob@example.com", "carol@other.org");
	g_ptr_array_add(m->virus_names, g_strdup("Eicar-Test-Signature"));
	msg_set_category(m, CAT_VIRUS, "clamav");
	assert_int_equal(policy_apply(db, m), 2);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_PASS);
	assert_false(rcpt(m, 0)->quarantine);
	assert_string_equal(rcpt(m, 0)->policy, "example.com");
	assert_int_equal(rcpt(m, 1)->destiny, DESTINY_DISCARD);
	assert_true(rcpt(m, 1)->quarantine);
	assert_int_equal(m->category, CAT_VIRUS);
	msg_free(m);

	/* score 15: spam for user (spam_hits 12.5), spammy for the default (20.1) */
	m = spam_msg(15, "alice@example.org", "user@example.com", "dave@other.org");
	msg_set_category(m, CAT_SPAM, "spamd");
	assert_int_equal(policy_apply(db, m), 2);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_DISCARD);
	assert_true(rcpt(m, 0)->quarantine);
	assert_int_equal(rcpt(m, 1)->destiny, DESTINY_PASS);
	msg_free(m);

	/* attach=.mp3 for example.com only */
	m = spam_msg(0, "alice@example.org", "someone@example.com", "dave@other.org");
	g_ptr_array_add(m->attach_names, g_strdup("song.MP3"));
	assert_int_equal(policy_apply(db, m), 2);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_DISCARD);
	assert_int_equal(rcpt(m, 1)->destiny, DESTINY_PASS);
	assert_int_equal(m->category, CAT_BANNED);
	assert_true(eu_has(m->banned_names, "song.MP3"));
	msg_free(m);
	policy_unref(db);
}

static void test_bounce_and_lists(void **state)
{
	(void)state;
	char *err = NULL;
	struct policy_db *db = load(NULL,
				    "virus_destiny = bounce\nspam_destiny = bounce\n"
				    "sender_whitelist = friend@partner.org, @trusted.org\nsender_blacklist = @spammer.test\n",
				    &err);
	struct msg *m = spam_msg(0, "alice@example.org", "bob@example.com", NULL);
	msg_set_category(m, CAT_VIRUS, "clamav");
	policy_apply(db, m);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_DISCARD); /* never bounce a virus */
	msg_free(m);

	m = spam_msg(50, "", "bob@example.com", NULL);
	msg_set_category(m, CAT_SPAM, "spamd");
	policy_apply(db, m);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_DISCARD); /* never bounce to <> */
	msg_free(m);

	m = spam_msg(50, "alice@example.org", "bob@example.com", NULL);
	msg_set_category(m, CAT_SPAM, "spamd");
	policy_apply(db, m);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_BOUNCE);
	msg_free(m);

	const char *white[] = {"friend@partner.org", "anyone@TRUSTED.org"};
	for (size_t i = 0; i < 2; i++) {
		m = spam_msg(50, white[i], "bob@example.com", NULL);
		msg_set_category(m, CAT_SPAM, "spamd");
		policy_apply(db, m);
		assert_int_equal(rcpt(m, 0)->destiny, DESTINY_PASS);
		assert_int_equal(m->category, CAT_CLEAN);
		msg_free(m);
	}
	m = spam_msg(-3, "x@spammer.test", "bob@example.com", NULL);
	policy_apply(db, m);
	assert_int_equal(m->category, CAT_SPAM);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_BOUNCE);
	msg_free(m);
	policy_unref(db);
}

static struct list_entry *entry(enum list_kind k)
{
	struct list_entry e = {.id = 7, .scope = "bob@example.com", .kind = k, .pattern = "*@x.test"};
	return list_entry_copy(&e);
}

static void test_list_entries(void **state)
{
	(void)state;
	char *err = NULL;
	struct policy_db *db = load("nospam.example.com:spam=no\n",
	                            "sender_whitelist = @x.test\nsender_blacklist = @y.test\n", &err);
	assert_non_null(db);
	/* block beats the config whitelist, for its recipient only */
	struct msg *m = spam_msg(-1, "a@x.test", "bob@example.com", "carol@example.com");
	rcpt(m, 0)->list = entry(LIST_BLOCK);
	assert_int_equal(policy_apply(db, m), 2);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_DISCARD);
	assert_true(rcpt(m, 0)->quarantine);
	assert_int_equal(rcpt(m, 1)->destiny, DESTINY_PASS);
	assert_int_equal(m->category, CAT_SPAM);
	msg_free(m);
	/* block applies where simcontrol says spam=no (the config blacklist does not) */
	m = spam_msg(-1, "a@y.test", "u@nospam.example.com", NULL);
	policy_apply(db, m);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_PASS);
	rcpt(m, 0)->list = entry(LIST_BLOCK);
	policy_apply(db, m);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_DISCARD);
	msg_free(m);
	/* allow beats the config blacklist and the score */
	m = spam_msg(50, "a@y.test", "bob@example.com", "carol@example.com");
	msg_set_category(m, CAT_SPAM, "spamd");
	rcpt(m, 0)->list = entry(LIST_ALLOW);
	assert_int_equal(policy_apply(db, m), 2);
	assert_int_equal(rcpt(m, 0)->destiny, DESTINY_PASS);
	assert_false(rcpt(m, 0)->quarantine);
	assert_int_equal(rcpt(m, 1)->destiny, DESTINY_DISCARD);
	assert_int_equal(m->category, CAT_SPAM);
	msg_free(m);
	/* allow never passes a virus nor a banned part */
	const enum msg_category worse[] = {CAT_VIRUS, CAT_BANNED};
	for (size_t i = 0; i < G_N_ELEMENTS(worse); i++) {
		m = spam_msg(50, "a@x.test", "bob@example.com", NULL);
		msg_set_category(m, worse[i], "test");
		rcpt(m, 0)->list = entry(LIST_ALLOW);
		policy_apply(db, m);
		assert_int_equal(rcpt(m, 0)->destiny, DESTINY_DISCARD);
		assert_int_equal(m->category, worse[i]);
		msg_free(m);
	}
	policy_unref(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_apply_split),
		cmocka_unit_test(test_bounce_and_lists),
		cmocka_unit_test(test_list_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
