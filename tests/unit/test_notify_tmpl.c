/*
 * test_notify_tmpl - the alert template parser, renderer and alert rules
 *
 * Parser errors name file and line; rendering of if/else/each; header
 * values lose CR/LF; notify_load() refuses a bad template in an override
 * directory; who gets which alert (notify_alerts) for viruses from normal,
 * <> and automatic senders, forged-sender globs and test signatures.
 * Run from the repository root (tests/run does): uses templates/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "test_util.h"
#include "log.h"
#include "notify/notify.h"

static void expect_error(const char *text, const char *want)
{
	char *err = NULL;
	struct notify_tmpl *t = notify_tmpl_parse("t.tmpl", text, strlen(text), &err);
	assert_null(t);
	assert_non_null(err);
	assert_string_equal(err, want);
	g_free(err);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_error("Subject: x\n\nline\n{{foo}}\n", "t.tmpl:4: unknown placeholder {{foo}}");
	expect_error("Subject: x {{nope}}\n\nbody\n", "t.tmpl:1: unknown placeholder {{nope}}");
	expect_error("Subject: x\n\n{{#if sender}}\nopen\n", "t.tmpl:3: {{#if sender}} is not closed");
	expect_error("Subject: x\n\n{{#each recipients}}\n{{#if sender}}x{{/if}}\n",
	             "t.tmpl:3: {{#each recipients}} is not closed");
	expect_error("Subject: x\n\n{{#if sender}}\n\n{{/each}}\n",
	             "t.tmpl:5: {{/each}} closes {{#if}} opened at line 3");
	expect_error("Subject: x\n\n{{/if}}\n", "t.tmpl:3: {{/if}} without an open block");
	expect_error("Subject: x\n\n{{this}}\n", "t.tmpl:3: {{this}} outside an {{#each}} block");
	expect_error("Subject: x\n\n{{else}}\n", "t.tmpl:3: {{else}} outside an {{#if}} block");
	expect_error("Subject: x\n\n\n{{#if bogus}}{{/if}}\n",
	             "t.tmpl:4: unknown placeholder {{bogus}} in block");
	expect_error("Subject: x\n\nok {{sender\n", "t.tmpl:3: unterminated {{ tag");
	expect_error("X-Note: a\n\nbody\n", "t.tmpl:1: no Subject: line in the header block");
	expect_error(
	    "Subject: a\nBcc: x@y\n\nbody\n",
	    "t.tmpl:2: not a header line a template may set (\"Name: value\"; From, To, Date, Message-ID, "
	    "MIME and Content-* fields are set by notify)");
}

/* Renders text with v; its Subject and body must be the ones given. */
static void expect_render(const char *text, struct notify_vars *v, const char *subject, const char *body)
{
	char *err = NULL;
	struct notify_tmpl *t = notify_tmpl_parse("r", text, strlen(text), &err);
	assert_non_null(t);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *values = g_ptr_array_new_with_free_func(g_free);
	notify_tmpl_render_headers(t, v, names, values);
	assert_string_equal(names->pdata[0], "Subject");
	assert_string_equal(values->pdata[0], subject);
	char *got = notify_tmpl_render_body(t, v);
	assert_string_equal(got, body);
	g_free(got);
	g_ptr_array_free(names, TRUE);
	g_ptr_array_free(values, TRUE);
	notify_tmpl_free(t);
}

static void test_render(void **state)
{
	(void)state;
	struct notify_vars v;
	notify_vars_init(&v);
	notify_vars_add(&v, NV_SENDER, "a@b.c\r\nBcc: evil@x");
	notify_vars_add(&v, NV_RECIPIENTS, "r1@x");
	notify_vars_add(&v, NV_RECIPIENTS, "r2@x");
	notify_vars_add(&v, NV_SUBJECT, "line1\rline2");
	expect_render("Subject: from {{sender}}\r\n\r\n{{#if virus_names}}V{{else}}no virus{{/if}}\n"
	              "{{#each recipients}}<{{this}}>{{/each}} {{recipients}}\n{{subject}}\n",
	              &v, "from a@b.c Bcc: evil@x", "no virus\n<r1@x><r2@x> r1@x, r2@x\nline1 line2\n");
	notify_vars_clear(&v);
}

/* A banned file named photo<RLO>gpj.exe (shown as photoexe.jpg) is spelled
 * out in the alert's Subject and body; controls stay spaces there. */
static void test_render_spells_out_format_characters(void **state)
{
	(void)state;
	struct notify_vars v;
	notify_vars_init(&v);
	notify_vars_add(&v, NV_BANNED_NAMES,
	                "photo\xe2\x80\xae"
	                "gpj.exe");
	notify_vars_add(&v, NV_SENDER, "a\xe2\x81\xa6@b.c\x01");
	expect_render("Subject: BANNED ({{banned_names}}) from {{sender}}\r\n\r\n"
	              "{{#each banned_names}}[{{this}}]{{/each}} {{banned_names}} {{sender}}\n",
	              &v, "BANNED (photo<U+202E>gpj.exe) from a<U+2066>@b.c",
	              "[photo<U+202E>gpj.exe] photo<U+202E>gpj.exe a<U+2066>@b.c \n");
	notify_vars_clear(&v);
}

static void test_header_safe(void **state)
{
	(void)state;
	char *s = notify_header_safe("a\r\nb\tc\x01\xff  d", 0);
	assert_string_equal(s, "a b c \xef\xbf\xbd d");
	g_free(s);
	GString *big = g_string_new("");
	for (int i = 0; i < 10000; i++)
		g_string_append(big, "\xe6\x97\xa5");
	s = notify_header_safe(big->str, NOTIFY_SUBJECT_MAX);
	assert_int_equal(g_utf8_strlen(s, -1), NOTIFY_SUBJECT_MAX + 3);
	g_free(s);
	g_string_free(big, TRUE);
}

static void test_auto_and_test_virus(void **state)
{
	(void)state;
	const char *a = "From: x\r\nAuto-Submitted: auto-replied\r\n\r\nbody";
	const char *b = "From: x\r\nAuto-Submitted: no\r\nPrecedence: first-class\r\n\r\n";
	const char *c = "From: x\nPrecedence: Bulk\n\n";
	const char *d = "From: x\r\n\r\nPrecedence: bulk\r\n"; /* in the body: does not count */
	assert_true(notify_is_auto_generated((const unsigned char *)a, strlen(a)));
	assert_false(notify_is_auto_generated((const unsigned char *)b, strlen(b)));
	assert_true(notify_is_auto_generated((const unsigned char *)c, strlen(c)));
	assert_false(notify_is_auto_generated((const unsigned char *)d, strlen(d)));
	assert_true(notify_is_test_virus("Eicar-Test-Signature"));
	assert_true(notify_is_test_virus("Win.Test.EICAR_HDB-1.UNOFFICIAL"));
	assert_false(notify_is_test_virus("Win.Trojan.Agent-1"));
}

/* A config file in a temp dir with the given [notify] lines. */
static struct conf *test_conf(const char *dir, const char *notify_lines)
{
	char *path = g_build_filename(dir, "scand.conf", NULL);
	char *text = g_strdup_printf("[scand]\nhostname = mx.example.org\n[notify]\n%s", notify_lines);
	struct conf *c = tu_conf_at(path, text);
	g_free(path);
	g_free(text);
	return c;
}

static void test_load_override_error(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-notify-XXXXXX");
	char *tpl = g_build_filename(dir, "virus-admin", NULL);
	assert_true(g_file_set_contents(tpl, "Subject: x\n\nok\n{{virus}}\n", -1, NULL));
	char *lines = g_strdup_printf("template_dir = %s\n", dir);
	struct conf *c = test_conf(dir, lines);
	char *err = NULL;
	struct notify *n = notify_load(c, "templates", &err);
	assert_null(n);
	char *want = g_strdup_printf("%s:4: unknown placeholder {{virus}}", tpl);
	assert_string_equal(err, want);
	g_free(want);
	g_free(err);
	conf_free(c);
	g_free(tpl);
	g_free(lines);
	tu_rmtree(dir);
	g_free(dir);
}

/* The verdict record scand would store for a virus found in data. */
struct vmsg {
	struct store_msg sm;
	struct store_rcpt rcpt[2];
	const char *data;
};

static struct vmsg *virus_msg(const char *sender, const char *virus, const char *data)
{
	struct vmsg *v = g_new0(struct vmsg, 1);
	g_strlcpy(v->sm.mail_id, "AAAAAAAAAAAA", sizeof(v->sm.mail_id));
	v->sm.time = time(NULL);
	v->sm.sender = (char *)sender;
	v->rcpt[0] = (struct store_rcpt){.addr = (char *)"r1@example.org", .destiny = (char *)"discard"};
	v->rcpt[1] = (struct store_rcpt){.addr = (char *)"r2@example.org", .destiny = (char *)"pass"};
	v->sm.rcpt = v->rcpt;
	v->sm.nrcpt = 2;
	v->sm.virus_names = (char *)virus;
	v->sm.category = (char *)"virus";
	v->sm.subject = (char *)"hello";
	v->data = data;
	return v;
}

/* "kind rcpt;kind rcpt;..." of the alerts for m */
static char *alerts_for(const struct notify *n, struct vmsg *m)
{
	struct store_alert *a;
	size_t na;
	GString *s = g_string_new("");
	notify_alerts(n, &m->sm, (const unsigned char *)m->data, strlen(m->data), &a, &na);
	for (size_t i = 0; i < na; i++) {
		g_string_append_printf(s, "%s %s;", a[i].kind, a[i].rcpt);
		assert_string_equal(a[i].env_from, "");
		assert_non_null(
		    g_strstr_len(a[i].body, (gssize)a[i].body_len, "\r\nAuto-Submitted: auto-generated\r\n"));
	}
	notify_alerts_free(a, na);
	g_free(m);
	return g_string_free(s, FALSE);
}

static void test_who_gets_alerts(void **state)
{
	(void)state;
	const char *plain = "From: x@y\r\nSubject: hello\r\n\r\nbody\r\n";
	const char *bulk = "From: x@y\r\nPrecedence: list\r\n\r\nbody\r\n";
	const char *admin = "virus-admin postmaster@mx.example.org;";
	const char *rcpt = "virus-recipient r1@example.org;";
	const char *sender = "virus-sender s@example.net;";
	const struct {
		const char *conf, *sender, *virus, *data;
		const char *want[3];
	} cases[] = {
	    /* warn_virus_sender on, forged list without EICAR */
	    {"warn_virus_sender = yes\nforged_sender_viruses = Win.*, *Agent*\n",
	     "s@example.net",
	     "Eicar-Test-Signature",
	     plain,
	     {admin, rcpt, sender}},
	    {NULL, "", "Eicar-Test-Signature", plain, {admin}},               /* <> */
	    {NULL, "s@example.net", "Eicar-Test-Signature", bulk, {admin}},   /* automatic */
	    {NULL, "s@example.net", "Win.Worm.Mydoom", plain, {admin, rcpt}}, /* forges */
	    {NULL, "s@example.net", "Doc.Macro.Thing", plain, {admin, rcpt, sender}},
	    {NULL, "s@x\r\nBcc: y@z", "Eicar-Test-Signature", plain, {admin, rcpt}},
	    /* defaults: no sender alert, forged "*" */
	    {"", "s@example.net", "Eicar-Test-Signature", plain, {admin, rcpt}},
	    {NULL, "s@example.net", "Win.Test.EICAR_HDB-1", plain, {admin, rcpt}},
	};
	char *dir = tu_tmpdir("gh-notify-XXXXXX");
	struct conf *c = NULL;
	struct notify *n = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *err = NULL;
		if (cases[i].conf) {
			notify_free(n);
			conf_free(c);
			c = test_conf(dir, cases[i].conf);
			if (!(n = notify_load(c, "templates", &err)))
				fail_msg("%s", err);
		}
		char *want = g_strjoin("", cases[i].want[0] ? cases[i].want[0] : "",
		                       cases[i].want[1] ? cases[i].want[1] : "",
		                       cases[i].want[2] ? cases[i].want[2] : "", NULL);
		char *got = alerts_for(n, virus_msg(cases[i].sender, cases[i].virus, cases[i].data));
		assert_string_equal(got, want);
		g_free(got);
		g_free(want);
	}
	notify_free(n);
	conf_free(c);
	tu_rmtree(dir);
	g_free(dir);
}

int main(void)
{
	log_init("test_notify_tmpl", 1, LOG_LVL_ERROR, NULL);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_header_safe),
	    cmocka_unit_test(test_auto_and_test_virus),
	    cmocka_unit_test(test_render_spells_out_format_characters),
	    cmocka_unit_test(test_load_override_error),
	    cmocka_unit_test(test_who_gets_alerts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
