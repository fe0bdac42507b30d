/*
 * test_metrics - scand's counters (scand/metrics.c) as the page shows
 * them: a message counted by category when recorded; by final destiny
 * per recipient (an answer 4xx is "tempfail", whatever the policy chose)
 * and once per distinct destiny per message; bytes; the latency and
 * commit histograms with a bound's own value in its bucket ("le");
 * sessions as a gauge; store errors by operation; no signature age
 * without an engine. The counters are process-wide, so each test reads
 * the lines it changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>
#include <time.h>

#include "scand/metrics.h"
#include "scand/msg.h"

static char *page(void)
{
	GString *o = g_string_new("");
	metrics_render(o);
	return g_string_free(o, FALSE);
}

static void assert_line(const char *text, const char *line)
{
	char *l = g_strdup_printf("\n%s\n", line);
	if (!strstr(text, l))
		fail_msg("no line \"%s\" in:\n%s", line, text);
	g_free(l);
}

static struct msg *two_rcpt_message(void)
{
	struct msg *m = msg_new();
	m->len = 1234;
	m->category = CAT_VIRUS;
	struct msg_rcpt *a = msg_add_rcpt(m, "a@example.com"), *b = msg_add_rcpt(m, "b@example.com");
	a->destiny = DESTINY_DISCARD;
	a->answer = g_strdup("250 2.7.0 Ok, discarded");
	b->destiny = DESTINY_PASS;
	b->answer = g_strdup("451 4.3.0 downstream deferred"); /* passed, then deferred */
	/* received 30 ms ago: the 0.05 bucket */
	clock_gettime(CLOCK_MONOTONIC, &m->t_start);
	m->t_start.tv_nsec -= 30000000;
	if (m->t_start.tv_nsec < 0) {
		m->t_start.tv_nsec += 1000000000;
		m->t_start.tv_sec--;
	}
	return m;
}

static void test_message_counters(void **state)
{
	(void)state;
	struct msg *m = two_rcpt_message();
	metrics_recorded(m);
	metrics_answered(m);
	msg_free(m);
	char *p = page();
	assert_line(p, "gatehouse_messages_total{category=\"virus\"} 1");
	assert_line(p, "gatehouse_messages_total{category=\"clean\"} 0");
	assert_line(p, "gatehouse_recipients_total{destiny=\"discard\"} 1");
	assert_line(p, "gatehouse_recipients_total{destiny=\"tempfail\"} 1");
	assert_line(p, "gatehouse_recipients_total{destiny=\"pass\"} 0");
	assert_line(p, "gatehouse_messages_destiny_total{destiny=\"discard\"} 1");
	assert_line(p, "gatehouse_messages_destiny_total{destiny=\"tempfail\"} 1");
	assert_line(p, "gatehouse_messages_destiny_total{destiny=\"pass\"} 0");
	assert_line(p, "gatehouse_received_bytes_total 1234");
	assert_line(p, "gatehouse_message_duration_seconds_bucket{le=\"0.025\"} 0");
	assert_line(p, "gatehouse_message_duration_seconds_bucket{le=\"0.05\"} 1");
	assert_line(p, "gatehouse_message_duration_seconds_bucket{le=\"+Inf\"} 1");
	assert_line(p, "gatehouse_message_duration_seconds_count 1");
	g_free(p);
}

static void test_commit_buckets(void **state)
{
	(void)state;
	metrics_commit(0.001);  /* on the bound: counted in le="0.001" */
	metrics_commit(0.0011); /* just above: the next one */
	metrics_commit(100);    /* above every bound */
	char *p = page();
	assert_line(p, "gatehouse_store_commit_seconds_bucket{le=\"0.0005\"} 0");
	assert_line(p, "gatehouse_store_commit_seconds_bucket{le=\"0.001\"} 1");
	assert_line(p, "gatehouse_store_commit_seconds_bucket{le=\"0.0025\"} 2");
	assert_line(p, "gatehouse_store_commit_seconds_bucket{le=\"2.5\"} 2");
	assert_line(p, "gatehouse_store_commit_seconds_bucket{le=\"+Inf\"} 3");
	assert_line(p, "gatehouse_store_commit_seconds_sum 100.0021");
	assert_line(p, "gatehouse_store_commit_seconds_count 3");
	g_free(p);
}

static void test_gauges_and_errors(void **state)
{
	(void)state;
	metrics_session(1);
	metrics_session(1);
	metrics_session(-1);
	metrics_store_error(METRICS_STORE_SETTLE);
	metrics_store_error(METRICS_STORE_SETTLE);
	metrics_store_error(METRICS_STORE_ANSWERS);
	metrics_forward_error();
	char *p = page();
	assert_line(p, "gatehouse_sessions_in_flight 1");
	assert_line(p, "gatehouse_store_errors_total{op=\"verdict\"} 0");
	assert_line(p, "gatehouse_store_errors_total{op=\"settle\"} 2");
	assert_line(p, "gatehouse_store_errors_total{op=\"answers\"} 1");
	assert_line(p, "gatehouse_forward_errors_total 1");
	/* no engine: 0 signatures, the age family announced without a sample */
	assert_line(p, "gatehouse_signatures 0");
	assert_line(p, "# TYPE gatehouse_signatures_age_seconds gauge");
	assert_null(strstr(p, "\ngatehouse_signatures_age_seconds "));
	g_free(p);
	metrics_session(-1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_counters),
		cmocka_unit_test(test_commit_buckets),
		cmocka_unit_test(test_gauges_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
