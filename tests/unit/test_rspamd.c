/*
 * test_rspamd - common/spam's rspamd backend against a real rspamd,
 * started for the test by tests/e2e/ghtest.py (private configuration in
 * a temporary directory, loopback ports, Bayes on sqlite3 with
 * min_learns 1) and stopped afterwards: every answer read to its end
 * and no connection left open, checks from 4 threads at once, GTUBE is
 * rejected at kill level,
 * the envelope reaches rspamd (From and Rcpt against the header fields),
 * learning moves a message's score up (spam) and back down (learned
 * again as ham), a wrong controller password is refused, and a message learned
 * twice as the same class is not an error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spam.h"
#include "test_util.h"

static GPid rs_pid;
static int rs_stdin = -1;
static char *rs_dir, *rs_check, *rs_ctl, *rs_password;

static int rs_start(void **state)
{
	(void)state;
	const char *root = g_getenv("GH_ROOT") ? g_getenv("GH_ROOT") : ".";
	rs_dir = g_dir_make_tmp("gh-rspamd-XXXXXX", NULL);
	g_chmod(rs_dir, 0755);
	char *script = g_build_filename(root, "tests", "e2e", "ghtest.py", NULL);
	char *argv[] = {"/usr/bin/python3", script, "rspamd", rs_dir, NULL};
	int out = -1;
	GError *ge = NULL;
	if (!g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &rs_pid, &rs_stdin, &out,
	                              NULL, &ge)) {
		fprintf(stderr, "cannot start rspamd: %s\n", ge->message);
		return -1;
	}
	g_free(script);
	char line[200] = "";
	FILE *f = fdopen(out, "r");
	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr, "rspamd did not start (see %s)\n", rs_dir);
		return -1;
	}
	fclose(f);
	int port = 0, cport = 0;
	char pw[100] = "";
	if (sscanf(line, "%d %d %99s", &port, &cport, pw) != 3)
		return -1;
	rs_check = g_strdup_printf("127.0.0.1:%d", port);
	rs_ctl = g_strdup_printf("127.0.0.1:%d", cport);
	rs_password = g_strdup(pw);
	return 0;
}

static int rs_stop(void **state)
{
	(void)state;
	close(rs_stdin); /* ghtest stops rspamd when its stdin closes */
	int status = 0;
	waitpid(rs_pid, &status, 0);
	g_spawn_close_pid(rs_pid);
	tu_rmtree(rs_dir);
	g_free(rs_dir);
	g_free(rs_check);
	g_free(rs_ctl);
	g_free(rs_password);
	return 0;
}

static struct spam_engine *engine(const char *password, const char *extra)
{
	char *dir = tu_tmpdir("gh-rsc-XXXXXX"), *path = g_build_filename(dir, "c.conf", NULL), *err = NULL;
	char *ini = g_strdup_printf("[spam]\nbackend = rspamd\nrspamd = %s\nrspamd_controller = %s\n"
	                            "rspamd_password = %s\ntimeout = 20s\nkill_level = 10\n%s",
	                            rs_check, rs_ctl, password, extra ? extra : "");
	struct conf *c = tu_conf_at(path, ini);
	struct spam_engine *e = spam_engine_from_conf(c, &err);
	assert_non_null(e);
	conf_free(c);
	g_unlink(path);
	g_rmdir(dir);
	g_free(ini);
	g_free(path);
	g_free(dir);
	return e;
}

static char *mail(const char *mid, const char *subject, const char *body)
{
	return g_strdup_printf("From: Carl <carl@shop.example>\r\nTo: bob@example.com\r\nSubject: %s\r\n"
	                       "Message-ID: <%s>\r\nDate: Wed, 2 Dec 2026 04:00:00 +0000\r\n\r\n%s\r\n",
	                       subject, mid, body);
}

static bool has_symbol(const struct spam_result *r, const char *name)
{
	for (guint i = 0; i < r->symbols->len; i++)
		if (strcmp(((struct spam_symbol *)g_ptr_array_index(r->symbols, i))->name, name) == 0)
			return true;
	return false;
}

static struct spam_result check(struct spam_engine *e, const char *m, const struct spam_envelope *env)
{
	struct spam_result r;
	char *err = NULL;
	if (spam_engine_check(e, env, m, strlen(m), &r, &err) < 0)
		fail_msg("check: %s", err);
	return r;
}

/* Client-side TCP sockets to 127.0.0.1:port in /proc/net/tcp that are
 * still open (ESTABLISHED or CLOSE_WAIT: the peer closed, we did not). */
static int open_client_sockets(int port)
{
	char *text = NULL, want[16];
	g_snprintf(want, sizeof(want), ":%04X", port);
	assert_true(g_file_get_contents("/proc/net/tcp", &text, NULL, NULL));
	char **lines = g_strsplit(text, "\n", -1);
	int n = 0;
	for (char **l = lines + 1; *l && **l; l++) {
		char **f = g_strsplit_set(g_strstrip(*l), " ", -1);
		int k = 0;
		char *col[4] = {0};
		for (char **x = f; *x && k < 4; x++)
			if (**x)
				col[k++] = *x;
		if (k == 4 && g_str_has_suffix(col[2], want) && (!strcmp(col[3], "01") || !strcmp(col[3], "08")))
			n++;
		g_strfreev(f);
	}
	g_strfreev(lines);
	g_free(text);
	return n;
}

struct par {
	struct spam_engine *e;
	const char *m;
	int ok;
};

static gpointer par_checks(gpointer p)
{
	struct par *x = p;
	for (int i = 0; i < 10; i++) {
		struct spam_result r;
		char *err = NULL;
		if (spam_engine_check(x->e, NULL, x->m, strlen(x->m), &r, &err) == 0 && r.symbols->len > 0)
			x->ok++;
		spam_result_clear(&r);
		g_free(err);
	}
	return NULL;
}

/* Connections: rspamd 3.4's normal worker answers "Connection: close", so
 * each check is a connection of its own; the client reads every answer to
 * its end and leaves no connection open. Threads check in parallel, each
 * with its own curl handle. */
static void test_connections(void **state)
{
	(void)state;
	struct spam_engine *e = engine(rs_password, NULL);
	char *m = mail("k1@shop.example", "hello", "Hello Bob, see you at lunch.");
	int port = atoi(strrchr(rs_check, ':') + 1);
	for (int i = 0; i < 5; i++) {
		struct spam_result r = check(e, m, NULL);
		spam_result_clear(&r);
	}
	assert_int_equal(open_client_sockets(port), 0);
	struct par x[4];
	GThread *t[4];
	for (int i = 0; i < 4; i++) {
		x[i] = (struct par){.e = e, .m = m};
		t[i] = g_thread_new("check", par_checks, &x[i]);
	}
	for (int i = 0; i < 4; i++) {
		g_thread_join(t[i]);
		assert_int_equal(x[i].ok, 10);
	}
	assert_int_equal(open_client_sockets(port), 0);
	g_free(m);
	spam_engine_free(e);
}

static void test_gtube_and_envelope(void **state)
{
	(void)state;
	struct spam_engine *e = engine(rs_password, NULL);
	char *m = mail("g1@shop.example", "gtube", "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X");
	struct spam_result r = check(e, m, NULL);
	assert_int_equal(r.action, SPAM_ACTION_REJECT);
	assert_true(r.score >= 10.0);
	assert_int_equal(r.verdict, SPAM_KILL);
	assert_true(has_symbol(&r, "GTUBE"));
	spam_result_clear(&r);
	g_free(m);
	/* the envelope: rspamd compares From and To with MAIL FROM and RCPT TO */
	const char *rcpts[] = {"eve@example.net"};
	struct spam_envelope env = {.ip = "127.0.0.1", .helo = "mx.shop.example", .from = "carl@shop.example",
	                            .queue_id = "GH0123456789", .rcpts = rcpts, .nrcpts = 1};
	m = mail("e1@shop.example", "hello", "Hello Bob, see you at lunch.");
	r = check(e, m, &env);
	assert_true(has_symbol(&r, "FROM_EQ_ENVFROM"));
	assert_false(has_symbol(&r, "TO_MATCH_ENVRCPT_ALL"));
	spam_result_clear(&r);
	rcpts[0] = "bob@example.com";
	env.from = "other@example.net";
	r = check(e, m, &env);
	assert_false(has_symbol(&r, "FROM_EQ_ENVFROM"));
	assert_true(has_symbol(&r, "TO_MATCH_ENVRCPT_ALL"));
	spam_result_clear(&r);
	g_free(m);
	spam_engine_free(e);
}

static double bayes_score(struct spam_engine *e, const char *m, const char *sym, bool *seen)
{
	struct spam_result r = check(e, m, NULL);
	double s = r.score;
	*seen = has_symbol(&r, sym);
	spam_result_clear(&r);
	return s;
}

static void test_learning_moves_score(void **state)
{
	(void)state;
	struct spam_engine *e = engine(rs_password, NULL), *wrong = engine("not-the-password", NULL);
	char *spam = mail("w1@shop.example", "Special offer on watches",
	                  "Dear friend, our replica watches are the finest quality and cheapest price on the whole "
	                  "internet. Order today and get free shipping worldwide, limited stock of luxury brands.");
	char *ham = g_strdup_printf("From: Ann <ann@corp.example>\r\nTo: bob@example.com\r\nSubject: minutes\r\n"
	                            "Message-ID: <m1@corp.example>\r\n\r\nHello Bob, the minutes of the Tuesday "
	                            "meeting about the budget review are on the wiki; please read them before "
	                            "Thursday's planning session.\r\n");
	char *err = NULL;
	bool seen;
	double before = bayes_score(e, spam, "BAYES_SPAM", &seen);
	assert_false(seen);
	assert_int_equal(spam_engine_learn(wrong, SPAM_CLASS_SPAM, spam, strlen(spam), &err), -1);
	assert_non_null(strstr(err, "HTTP 401"));
	g_free(err);
	err = NULL;
	assert_int_equal(spam_engine_learn(e, SPAM_CLASS_SPAM, spam, strlen(spam), &err), 0);
	assert_int_equal(spam_engine_learn(e, SPAM_CLASS_HAM, ham, strlen(ham), &err), 0);
	assert_int_equal(spam_engine_learn(e, SPAM_CLASS_SPAM, spam, strlen(spam), &err), 0); /* again: known */
	double after = bayes_score(e, spam, "BAYES_SPAM", &seen);
	print_message("score %.2f before learning, %.2f after learning it as spam\n", before, after);
	assert_true(seen);
	assert_true(after >= before + 2.0);
	/* learned again as ham, it moves back down */
	assert_int_equal(spam_engine_learn(e, SPAM_CLASS_HAM, spam, strlen(spam), &err), 0);
	double back = bayes_score(e, spam, "BAYES_SPAM", &seen);
	print_message("%.2f after learning it as ham\n", back);
	assert_false(seen);
	assert_true(back <= after - 2.0);
	g_free(spam);
	g_free(ham);
	spam_engine_free(e);
	spam_engine_free(wrong);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_gtube_and_envelope),
		cmocka_unit_test(test_learning_moves_score),
	};
	return cmocka_run_group_tests(tests, rs_start, rs_stop);
}
