/*
 * gh-storecheck - one scenario of store calls on a store, as a transcript
 * (tests only)
 *
 * gh-storecheck LOCATION   ("sqlite:FILE", FILE or "postgresql://...";
 *                           a new, empty store)
 *
 * Runs the same calls on any backend (group commit with a failing
 * message, read back, list filters and globs, counts, attempts settled
 * and recovered, answers, audit events, quarantine state, released
 * recipients, purge of a missing copy, database copies, quarantine files
 * and stats) and prints one line per result, with mail ids replaced by
 * the message's number, so that tests/e2e/test_pg_backend.py can require
 * the PostgreSQL backend's transcript to be the SQLite reference's.
 * Backend error texts differ: only what they name is printed.
 * Built into $(BUILD)/tests/tools/ (not named test_*: tests/run does not
 * run it). Exit 0 when the scenario ran, 1 when a call that must work
 * failed (its error on stderr), 2 for usage, 5 when the store does not
 * open.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "mailid.h"
#include "store.h"

#define NMSG 14

static char ids[NMSG][13];
static struct store *st;

static void die(const char *what)
{
	fprintf(stderr, "gh-storecheck: %s: %s\n", what, store_error(st));
	exit(1);
}

/* The number of a mail id of this run, or -1. */
static int num(const char *mail_id)
{
	for (int i = 0; i < NMSG; i++)
		if (strcmp(ids[i], mail_id) == 0)
			return i;
	return -1;
}

static void fill(struct store_msg *m, struct store_rcpt *r, int k, const char *category, int64_t when)
{
	memset(m, 0, sizeof(*m));
	mailid_new(ids[k]);
	memcpy(m->mail_id, ids[k], sizeof(m->mail_id));
	m->time = when;
	m->client_addr = "192.0.2.7";
	m->client_helo = "mx.example.net";
	m->sender = "Alice@Example.org";
	m->from_hdr = "Alice <alice@example.org>";
	m->subject = "Quarterly report";
	m->message_id = "<abc@example.org>";
	m->size = 4321;
	m->category = (char *)category;
	m->policy = "inbound";
	m->engine = "clamav";
	m->nrcpt = 2;
	m->rcpt = r;
	r[0] = (struct store_rcpt){.addr = "bob@example.com",
	                           .destiny = "discard",
	                           .smtp_answer = "250 discarded",
	                           .dsn_notify = "FAILURE",
	                           .dsn_orcpt = "rfc822;bob@example.com"};
	r[1] = (struct store_rcpt){.addr = "carol@example.net",
	                           .destiny = "pass",
	                           .smtp_answer = "250 Ok",
	                           .list_entry = "allow #3 for global: *@example.org"};
}

static void print_msg(const struct store_msg *m)
{
	printf("msg %d time=%lld cat=%s client=%s/%s/%s sender=%s from=%s subj=%s mid=%s size=%lld virus=%s "
	       "banned=%s checked=%d score=%.3f tests=%s unchecked=%s quar=%s qsize=%lld qsha=%s qstate=%s "
	       "scan=%lld policy=%s engine=%s attempt=%s ret=%s envid=%s backend=%s host=%s\n",
	       num(m->mail_id), (long long)m->time, m->category, m->client_addr, m->client_name,
	       m->client_helo, m->sender, m->from_hdr, m->subject, m->message_id, (long long)m->size,
	       m->virus_names, m->banned_names, m->spam_checked, m->spam_score, m->spam_tests,
	       m->unchecked_reason, m->quar_path ? m->quar_path : "(null)", (long long)m->quar_size,
	       m->quar_sha256 ? m->quar_sha256 : "(null)", m->quar_state, (long long)m->scan_ms, m->policy,
	       m->engine, m->attempt, m->dsn_ret, m->dsn_envid, m->quar_backend, m->host);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct store_rcpt *r = &m->rcpt[i];
		printf("  rcpt %zu %s %s [%s] released=%d [%s] notify=%s orcpt=%s deleted=%lld list=[%s]\n",
		       i, r->addr, r->destiny, r->smtp_answer, r->released_at > 0, r->release_answer,
		       r->dsn_notify, r->dsn_orcpt, (long long)r->deleted_at, r->list_entry);
	}
}

static void get(int k)
{
	struct store_msg *m = NULL;
	int rc = store_get(st, ids[k], &m);
	if (rc < 0)
		die("get");
	if (rc == 1)
		printf("get %d: none\n", k);
	else
		print_msg(m);
	store_msg_free(m);
}

static int list_cb(const struct store_msg *m, void *arg)
{
	g_string_append_printf(arg, " %d", num(m->mail_id));
	return 0;
}

static void list(const char *name, struct store_filter f)
{
	GString *s = g_string_new("");
	int n = store_list(st, &f, list_cb, s);
	int64_t c = store_count(st, &f);
	if (n < 0 || c < 0)
		die(name);
	printf("list %s: %d:%s count %lld\n", name, n, s->str, (long long)c);
	g_string_free(s, TRUE);
}

/* store_quar_files has no order: the lines are sorted before printing */
static int quar_file_cb(const struct store_quar_file *f, void *arg)
{
	g_ptr_array_add(arg, g_strdup_printf("quar file %d %s %s %s %lld %s", num(f->mail_id), f->relpath,
	                                     f->sha256, f->state, (long long)f->size, f->backend));
	return 0;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two results of calls made in this order (C leaves the order of a
 * call's arguments open). */
static void two(const char *name, int first, int second)
{
	printf("%s %d %d\n", name, first, second);
}

static int quar_stat_cb(const struct store_quar_stat *s, void *arg)
{
	(void)arg;
	printf("quar stat %s %s %lld %lld\n", s->category, s->state, (long long)s->count,
	       (long long)s->bytes);
	return 0;
}

int main(int argc, char **argv)
{
	char *err = NULL;
	if (argc != 2) {
		fprintf(stderr, "usage: gh-storecheck LOCATION\n");
		return 2;
	}
	if (store_open(argv[1], 10000, &st, &err) < 0) {
		fprintf(stderr, "gh-storecheck: %s\n", err);
		return 5;
	}
	store_set_host(st, "check.test");
	printf("version %d\n", store_version(st));

	/* group commit: the middle message violates a CHECK and goes alone */
	struct store_msg m[NMSG];
	struct store_rcpt r[NMSG][2];
	struct store_alert al = {.kind = "virus-admin",
	                         .env_from = "",
	                         .rcpt = "postmaster@example.com",
	                         .body = "Subject: x\r\n\r\n\0binary\r\n",
	                         .body_len = 22};
	struct store_put_item it[3];
	for (int k = 0; k < 3; k++) {
		fill(&m[k], r[k], k, "clean", 1000 + k);
		it[k] = (struct store_put_item){.m = &m[k], .alerts = &al, .nalerts = 1};
	}
	r[1][1].destiny = "explode";
	int rc = store_put_many(st, it, 3);
	printf("put_many %d:", rc);
	for (int k = 0; k < 3; k++)
		printf(" %d/%s", it[k].rc,
		       it[k].rc ? (strstr(it[k].err, "msgrcpt") ? "msgrcpt" : it[k].err) : "-");
	printf(" ids %d\n", m[0].id > 0 && m[2].id > m[0].id);
	for (int k = 0; k < 3; k++)
		get(k);

	/* every kind of column: spam score, quarantine file, names, dsn, own host */
	fill(&m[3], r[3], 3, "virus", 1003);
	m[3].virus_names = "Win.Trojan.Agent,Eicar";
	m[3].quar_path = "virus/2026/12/02/virus-x";
	m[3].quar_size = 77;
	m[3].quar_sha256 = "ab12";
	m[3].dsn_ret = "HDRS";
	m[3].dsn_envid = "env1";
	m[3].scan_ms = 12;
	fill(&m[4], r[4], 4, "spam", 1004);
	m[4].spam_checked = true;
	m[4].spam_score = 7.125;
	m[4].spam_tests = "BAYES_99,URIBL";
	m[4].subject = "100%_done";
	m[4].host = "other.test";
	r[4][0].addr = "zed@other.test";
	fill(&m[5], r[5], 5, "banned", 1005);
	m[5].banned_names = "x.exe";
	m[5].subject = "100xydone";
	m[5].unchecked_reason = "";
	/* a database copy with a NUL byte in it */
	static const char blob[] = "\x1f\x8b\0gzip\0bytes";
	fill(&m[6], r[6], 6, "virus", 1006);
	m[6].quar_path = "virus/2026/12/02/virus-y.gz";
	m[6].quar_backend = "database";
	m[6].quar_blob = blob;
	m[6].quar_blob_len = sizeof(blob);
	m[6].quar_size = sizeof(blob);
	m[6].quar_sha256 = "cd34";
	for (int k = 3; k < 7; k++)
		if (store_put(st, &m[k], NULL, 0) < 0)
			die("put");
	for (int k = 3; k < 7; k++)
		get(k);

	list("all", (struct store_filter){0});
	list("virus", (struct store_filter){.category = "virus"});
	list("time", (struct store_filter){.since = 1002, .until = 1005});
	list("virus-glob", (struct store_filter){.virus = "*trojan*"});
	list("rcpt-glob", (struct store_filter){.rcpt = "ZED@*"});
	list("sender-glob", (struct store_filter){.sender = "alice@?xample.*"});
	list("subject-literal", (struct store_filter){.subject = "100%_*"});
	list("subject-none", (struct store_filter){.subject = "*report"});
	list("state", (struct store_filter){.quar_state = "quarantined"});
	list("both", (struct store_filter){.category = "virus", .quar_state = "quarantined", .since = 1004});
	list("limit", (struct store_filter){.limit = 2});
	list("offset", (struct store_filter){.limit = 2, .offset = 3});

	/* attempts: an open one settled final, one deferred with purge, one left
	 * open with a copy (recovered), one left open without (stays open) */
	for (int k = 7; k < 11; k++) {
		fill(&m[k], r[k], k, "virus", 1007 + k);
		m[k].attempt = "open";
		if (k != 10) {
			m[k].quar_path = "virus/2026/12/02/open";
			m[k].quar_size = 5;
			m[k].quar_sha256 = "ef";
		}
		if (k == 8) {
			m[k].quar_backend = "database";
			m[k].quar_blob = blob;
			m[k].quar_blob_len = 3;
		}
		if (store_put(st, &m[k], &al, 1) < 0)
			die("put open");
	}
	struct store_put_item settle[2] = {
	    {.settle_id = ids[7], .settle_outcome = "final"},
	    {.settle_id = ids[8], .settle_outcome = "deferred", .settle_purge = true}};
	rc = store_put_many(st, settle, 2);
	printf("settle %d %d %d\n", rc, settle[0].rc, settle[1].rc);
	if (store_settle_rows(st, ids[7], "deferred", true, NULL, 0) < 0) /* settled already: a no-op */
		die("settle again");
	int n = -1;
	if (store_recover_open(st, &n) < 0)
		die("recover_open");
	printf("recovered %d\n", n);
	for (int k = 7; k < 11; k++)
		get(k);
	void *data = NULL;
	size_t len = 0;
	printf("blob of the deferred attempt: %d\n", store_quar_blob_get(st, ids[8], &data, &len));

	/* answers */
	char *answers[2] = {"250 2.0.0 Ok: queued as X", "451 4.3.0 later"};
	const char *destinies[2] = {"pass", "tempfail"};
	struct store_answers a = {
	    .mail_id = ids[10], .n = 2, .answer = answers, .destiny = destinies, .outcome = "final"};
	if (store_put_answers(st, &a, 1) < 0)
		die("put_answers");
	get(10);

	/* a group of one whose message fails: its own error, nothing kept */
	fill(&m[11], r[11], 11, "clean", 1020);
	r[11][0].destiny = "explode";
	struct store_put_item one = {.m = &m[11]};
	rc = store_put_many(st, &one, 1);
	printf("put_many one %d: %d/%s\n", rc, one.rc,
	       one.rc ? (strstr(one.err, "msgrcpt") ? "msgrcpt" : one.err) : "-");
	get(11);
	/* recipients' columns and answers with what quotes, separates or
	 * escapes in SQL or in an array's text, kept as they are */
	fill(&m[11], r[11], 11, "clean", 1021);
	m[11].attempt = "open";
	r[11][0].addr = "\"q\\\"x\\\\y,{z}\"@example.com";
	r[11][0].smtp_answer = "NULL";
	r[11][0].dsn_orcpt = " lead, and trail ";
	r[11][0].list_entry = "allow \"x\" for global: \\*@ex'ample.org";
	r[11][1].addr = "NULL";
	r[11][1].smtp_answer = "";
	r[11][1].list_entry = "\xc3\xa9 \xc3\xbc {} , \"\"";
	if (store_put(st, &m[11], NULL, 0) < 0)
		die("put quoted");
	get(11);
	char *quoted[2] = {"250 \"ok\" \\ {1,2} 'x'", "NULL"};
	const char *quoted_destinies[2] = {"pass", "discard"};
	a = (struct store_answers){
	    .mail_id = ids[11], .n = 2, .answer = quoted, .destiny = quoted_destinies, .outcome = "final"};
	if (store_put_answers(st, &a, 1) < 0)
		die("put_answers quoted");
	get(11);

	/* a batch of answers: an open attempt answered final, one answered
	 * deferred (its held alert cancelled), an attempt settled before (its
	 * answers written, its state kept) and a mail id the store never saw */
	for (int k = 12; k < 14; k++) {
		fill(&m[k], r[k], k, "virus", 1030 + k);
		m[k].attempt = "open";
		if (store_put(st, &m[k], &al, 1) < 0)
			die("put open for answers");
	}
	char *batch_answers[3][2] = {{"250 2.0.0 first", "250 2.0.0 second"},
	                             {"451 4.4.1 no route", "452 4.2.2 full"},
	                             {"250 late", "550 5.1.1 late"}};
	const char *batch_destinies[3][2] = {{"pass", "pass"}, {"tempfail", "tempfail"}, {"pass", "reject"}};
	struct store_answers batch[4] = {
	    {.mail_id = ids[12], .n = 2, .answer = batch_answers[0], .destiny = batch_destinies[0], .outcome = "final"},
	    {.mail_id = ids[13], .n = 2, .answer = batch_answers[1], .destiny = batch_destinies[1], .outcome = "deferred"},
	    {.mail_id = ids[7], .n = 2, .answer = batch_answers[2], .destiny = batch_destinies[2], .outcome = "deferred"},
	    {.mail_id = "AAAAAAAAAAAA", .n = 1, .answer = batch_answers[0], .destiny = batch_destinies[0],
	     .outcome = "final"}};
	printf("put_answers batch %d\n", store_put_answers(st, batch, 4));
	get(12);
	get(13);
	get(7);

	/* quarctl's writes and checks */
	printf("event %d\n", store_event(st, ids[3], "release", "root", "bob@example.com", "ok"));
	rc = store_set_quar_state(st, ids[3], "released");
	two("quar_state", rc, store_set_quar_state(st, "AAAAAAAAAAAA", "released"));
	rc = store_mark_rcpt_released(st, m[3].id, "bob@example.com", 2000, "250 again");
	two("released", rc, store_mark_rcpt_released(st, m[3].id, "nobody@example.com", 2000, "250"));
	get(3);
	rc = store_quar_path_kept(st, "virus/2026/12/02/virus-x");
	two("kept", rc, store_quar_path_kept(st, "virus/2026/12/02/virus-y.gz"));
	printf("kept none %d\n", store_quar_path_kept(st, "nothing"));
	GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
	printf("quar files %d\n", store_quar_files(st, quar_file_cb, files));
	g_ptr_array_sort(files, cmp_str);
	for (guint i = 0; i < files->len; i++)
		printf("%s\n", (char *)files->pdata[i]);
	g_ptr_array_free(files, TRUE);
	if (store_quar_stats(st, quar_stat_cb, NULL) < 0)
		die("quar_stats");
	rc = store_quar_blob_get(st, ids[6], &data, &len);
	printf("blob %d %zu same %d\n", rc, len,
	       rc == 0 && len == sizeof(blob) && memcmp(data, blob, len) == 0);
	g_free(data);
	printf("blob none %d\n", store_quar_blob_get(st, ids[3], &data, &len));
	rc = store_quar_blob_drop(st, ids[6]);
	two("blob drop", rc, store_quar_blob_drop(st, ids[6]));
	rc = store_purge_missing(st, ids[6], "quarantined");
	two("purge missing", rc, store_purge_missing(st, ids[6], "quarantined"));
	if (store_quar_stats(st, quar_stat_cb, NULL) < 0)
		die("quar_stats");
	store_close(st);
	return 0;
}
