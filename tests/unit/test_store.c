/*
 * test_store - the verdict store on a real SQLite file: a verdict with
 * three recipients reads back; list filters; events; migrating a current
 * database is a no-op; two processes inserting 5,000 verdicts each at the
 * same time lose none; opening a new file from two processes at once
 * migrates it once; a committed verdict is on disk (the WAL fsynced by
 * the commit, counted through a VFS shim) before store_put() returns; an
 * open attempt's alerts are held until it is settled (final: sent;
 * deferred: cancelled), and start-up makes attempts left open deferred.
 * The backend seam: an unknown "scheme:" is refused by name, "sqlite:" and
 * a plain path open SQLite; the functions that replaced callers' SQL
 * (outbox claim/mark/fold, answers, count, quarantine stats and checks,
 * the report's top tables and the RRD's minutes and watermark).
 * Migration 009: a store at version 8 with a row gains host and
 * quar_backend (the old row: '' and 'files') and quar_blobs; every row a
 * handle writes (msgs, events, outbox) carries its store_set_host() name,
 * a message's own host wins; a deferred attempt's purge settle deletes
 * its database copy in the same transaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailid.h"
#include "store.h"
#include "store_sqlite.h"
#include "test_util.h"

extern const int schema_version;
extern const char *const schema_migrations[];

/* The fixture of most tests: a new store, closed and removed afterwards. */
#define fx tu_store_fx
#define fx_open tu_store_fx_open
#define fx_close tu_store_fx_close

static void fill_msg(struct store_msg *m, struct store_rcpt *r, const char *category, int64_t when)
{
	memset(m, 0, sizeof(*m));
	mailid_new(m->mail_id);
	m->time = when;
	m->client_addr = "192.0.2.7";
	m->client_helo = "mx.example.net";
	m->sender = "alice@example.org";
	m->from_hdr = "Alice <alice@example.org>";
	m->subject = "Quarterly report";
	m->message_id = "<abc@example.org>";
	m->size = 4321;
	m->category = (char *)category;
	m->nrcpt = 3;
	m->rcpt = r;
	r[0] = (struct store_rcpt){.addr = "bob@example.com", .destiny = "discard", .smtp_answer = "250 2.7.0 Ok, discarded"};
	r[1] = (struct store_rcpt){.addr = "carol@example.com", .destiny = "pass", .smtp_answer = "250 2.0.0 Ok"};
	r[2] = (struct store_rcpt){.addr = "dave@example.net", .destiny = "bounce", .smtp_answer = "554 5.7.0 Rejected"};
}

static void test_put_get_three_recipients(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	struct store_msg m, *got = NULL;
	struct store_rcpt r[3];
	struct store_alert alert = {.kind = "virus-admin", .env_from = "", .rcpt = "postmaster@example.com",
				    .body = "Subject: x\r\n\r\nbody\r\n", .body_len = 21};

	fill_msg(&m, r, "virus", 1763700000);
	m.virus_names = "Eicar-Test-Signature";
	m.spam_checked = true;
	m.spam_score = 3.25;
	m.spam_tests = "BAYES_50,HTML_MESSAGE";
	m.quar_path = "virus/2025/11/21/virus-20251121-043000-xxxxxxxxxxxx";
	m.quar_size = 4321;
	m.quar_sha256 = "00ff";
	m.scan_ms = 12;
	m.engine = "clamav";
	assert_int_equal(store_put(st, &m, &alert, 1), 0);
	assert_true(m.id > 0);

	assert_int_equal(store_get(st, m.mail_id, &got), 0);
	assert_string_equal(got->mail_id, m.mail_id);
	assert_int_equal(got->time, 1763700000);
	assert_string_equal(got->category, "virus");
	assert_string_equal(got->virus_names, "Eicar-Test-Signature");
	assert_string_equal(got->subject, "Quarterly report");
	assert_string_equal(got->client_helo, "mx.example.net");
	assert_true(got->spam_checked);
	assert_true(got->spam_score == 3.25);
	assert_string_equal(got->quar_state, "quarantined");
	assert_string_equal(got->quar_path, m.quar_path);
	assert_int_equal(got->scan_ms, 12);
	assert_int_equal(got->nrcpt, 3);
	assert_string_equal(got->rcpt[0].addr, "bob@example.com");
	assert_string_equal(got->rcpt[1].destiny, "pass");
	assert_string_equal(got->rcpt[2].smtp_answer, "554 5.7.0 Rejected");
	store_msg_free(got);

	/* the outbox row went in with it */
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(store_sqlite_db(st), "SELECT kind, rcpt, length(body) FROM outbox WHERE mail_id = ?",
					    -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(s, 1, m.mail_id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "virus-admin");
	assert_int_equal(sqlite3_column_int(s, 2), 21);
	sqlite3_finalize(s);

	assert_int_equal(store_get(st, "nosuchmailid", &got), 1);
	assert_null(got);
}

/* A failed recipient insert rolls the message back: all or nothing. */
static void test_put_is_atomic(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	struct store_msg m, *got = NULL;
	struct store_rcpt r[3];

	fill_msg(&m, r, "clean", 1763700000);
	r[2].destiny = "explode"; /* violates the CHECK constraint */
	assert_int_equal(store_put(st, &m, NULL, 0), -1);
	assert_non_null(strstr(store_error(st), "msgrcpt"));
	assert_int_equal(store_get(st, m.mail_id, &got), 1);
}

/* Group commit: one bad message among three loses only its own rows; a
 * locked database loses the whole batch, and says busy. */
static void test_put_many(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	const char *path = fix->path;
	struct store_msg m[3], *got = NULL;
	struct store_rcpt r[3][3];
	struct store_alert al = {.kind = "virus-admin", .env_from = "", .rcpt = "postmaster@example.com",
				 .body = "Subject: x\r\n\r\nx\r\n", .body_len = 17};
	struct store_put_item it[3];

	for (int i = 0; i < 3; i++) {
		fill_msg(&m[i], r[i], "clean", 1763700000 + i);
		it[i] = (struct store_put_item){.m = &m[i]};
	}
	it[0].alerts = &al;
	it[0].nalerts = 1;
	r[1][2].destiny = "explode"; /* the middle one violates a CHECK constraint */
	assert_int_equal(store_put_many(st, it, 3), 0);
	assert_int_equal(it[0].rc, 0);
	assert_int_equal(it[1].rc, -1);
	assert_non_null(strstr(it[1].err, "msgrcpt"));
	assert_false(it[1].busy);
	assert_int_equal(it[2].rc, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_get(st, m[i].mail_id, &got), i == 1 ? 1 : 0);
		if (i != 1) {
			assert_int_equal(got->nrcpt, 3);
			store_msg_free(got);
			got = NULL;
		}
	}
	/* the failed message left no recipient rows behind; the alert is kept */
	sqlite3_stmt *q;
	sqlite3_prepare_v2(store_sqlite_db(st), "SELECT (SELECT count(*) FROM msgrcpt), (SELECT count(*) FROM outbox)", -1,
			   &q, NULL);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 6);
	assert_int_equal(sqlite3_column_int(q, 1), 1);
	sqlite3_finalize(q);

	/* another connection holds the write lock: nothing of the batch is kept */
	struct store *other = tu_store_open(path, 10000);
	assert_int_equal(sqlite3_exec(store_sqlite_db(other), "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_busy_timeout(store_sqlite_db(st), 50);
	for (int i = 0; i < 3; i++) {
		fill_msg(&m[i], r[i], "spam", 1763700100 + i);
		it[i] = (struct store_put_item){.m = &m[i]};
	}
	assert_int_equal(store_put_many(st, it, 3), -1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(it[i].rc, -1);
		assert_true(it[i].busy);
		assert_non_null(strstr(it[i].err, "locked"));
	}
	assert_int_equal(sqlite3_exec(store_sqlite_db(other), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_get(st, m[i].mail_id, &got), 1);
	/* and once the lock is gone the same batch commits */
	assert_int_equal(store_put_many(st, it, 3), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(it[i].rc, 0);
		assert_int_equal(store_get(st, m[i].mail_id, &got), 0);
		store_msg_free(got);
		got = NULL;
	}
	store_close(other);
}

struct count_arg {
	int n;
	char last[16];
};

static int count_cb(const struct store_msg *m, void *arg)
{
	struct count_arg *c = arg;
	c->n++;
	g_strlcpy(c->last, m->category, sizeof(c->last));
	return 0;
}

static void test_list_filters_and_events(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	struct store_msg m;
	struct store_rcpt r[3];
	const char *cats[] = {"clean", "virus", "spam", "virus", "banned"};

	for (int i = 0; i < 5; i++) {
		fill_msg(&m, r, cats[i], 1000 + i);
		if (i == 3)
			m.virus_names = "Win.Trojan.Agent";
		if (i == 4)
			r[0].addr = "zed@other.test";
		assert_int_equal(store_put(st, &m, NULL, 0), 0);
	}
	struct count_arg c = {0};
	struct store_filter f = {.category = "virus"};
	assert_int_equal(store_list(st, &f, count_cb, &c), 2);
	f = (struct store_filter){.since = 1002, .until = 1004};
	c.n = 0;
	assert_int_equal(store_list(st, &f, count_cb, &c), 2);
	f = (struct store_filter){.virus = "*trojan*"};
	assert_int_equal(store_list(st, &f, NULL, NULL), 1);
	f = (struct store_filter){.rcpt = "zed@*"};
	assert_int_equal(store_list(st, &f, NULL, NULL), 1);
	f = (struct store_filter){.sender = "ALICE@*"};
	assert_int_equal(store_list(st, &f, NULL, NULL), 5);
	f = (struct store_filter){.limit = 2};
	c.n = 0;
	assert_int_equal(store_list(st, &f, count_cb, &c), 2);
	assert_string_equal(c.last, "virus"); /* newest first: banned(1004), virus(1003) */

	assert_int_equal(store_event(st, m.mail_id, "purge", "root", "", "ok"), 0);
	sqlite3_stmt *s;
	sqlite3_prepare_v2(store_sqlite_db(st), "SELECT count(*) FROM events WHERE action = 'purge'", -1, &s, NULL);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 1);
	sqlite3_finalize(s);
}

static int count_rows(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int n = -1;
	sqlite3_open(path, &db);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static void test_migration_is_idempotent(void **state)
{
	(void)state;
	char *path = tu_tmp_db("gh-store-XXXXXX");
	struct store *st = tu_store_open(path, 10000);
	assert_int_equal(store_version(st), schema_version);
	store_close(st);
	int objects = count_rows(path, "SELECT count(*) FROM sqlite_master");
	assert_true(objects > 4);
	for (int i = 0; i < 2; i++) {
		st = tu_store_open(path, 10000);
		assert_int_equal(store_version(st), schema_version);
		store_close(st);
	}
	assert_int_equal(count_rows(path, "SELECT count(*) FROM sqlite_master"), objects);
	/* WAL mode is persistent in the file */
	sqlite3 *db;
	sqlite3_stmt *s;
	sqlite3_open(path, &db);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	tu_rm_db(path);
}

/* Child: open (maybe migrating) and insert n verdicts, one transaction each. */
static int child_insert(const char *path, int n)
{
	struct store *st = NULL;
	char *err = NULL;
	if (store_open(path, 30000, &st, &err) < 0)
		return 2;
	/* this test is about two writers, not durability: without the fsync
	 * per commit (synchronous = FULL, test_commit_is_fsynced) it runs in
	 * a third of the time */
	sqlite3_exec(store_sqlite_db(st), "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	for (int i = 0; i < n; i++) {
		struct store_msg m;
		struct store_rcpt r[3];
		fill_msg(&m, r, "clean", 1000 + i);
		if (store_put(st, &m, NULL, 0) < 0) {
			fprintf(stderr, "child: %s\n", store_error(st));
			return 1;
		}
	}
	store_close(st);
	return 0;
}

static void test_two_processes_lose_nothing(void **state)
{
	(void)state;
	char *path = tu_tmp_db("gh-store-XXXXXX");
	pid_t pids[2];
	/* Both children open the brand-new file at once: migration races too. */
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(child_insert(path, 5000));
	}
	for (int i = 0; i < 2; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(count_rows(path, "SELECT count(*) FROM msgs"), 10000);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM msgrcpt"), 30000);
	assert_int_equal(count_rows(path, "SELECT count(DISTINCT mail_id) FROM msgs"), 10000);
	assert_int_equal(count_rows(path, "PRAGMA user_version"), schema_version);
	tu_rm_db(path);
}

static const char *outbox_states(struct store *st, const char *mail_id, char *buf, size_t len)
{
	sqlite3_stmt *s;
	buf[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(store_sqlite_db(st), "SELECT state FROM outbox WHERE mail_id = ? ORDER BY id",
					    -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(s, 1, mail_id, -1, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (buf[0])
			g_strlcat(buf, ",", len);
		g_strlcat(buf, (const char *)sqlite3_column_text(s, 0), len);
	}
	sqlite3_finalize(s);
	return buf;
}

static void get_attempt(struct store *st, const char *mail_id, const char *attempt, const char *quar_state)
{
	struct store_msg *got = NULL;
	assert_int_equal(store_get(st, mail_id, &got), 0);
	assert_string_equal(got->attempt, attempt);
	assert_string_equal(got->quar_state, quar_state);
	store_msg_free(got);
}

/* An open attempt's alerts are held (never due for
 * the sender) until it is settled: final releases them, deferred cancels
 * them and (purge) marks the copy gone; settling twice changes nothing;
 * start-up makes what was left open deferred. */
static void test_attempts_hold_and_settle_alerts(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	const char *path = fix->path;
	struct store_msg m[4];
	struct store_rcpt r[4][3];
	struct store_alert al[2] = {
	    {.kind = "virus-admin", .env_from = "", .rcpt = "postmaster@example.com", .body = "S: x\r\n", .body_len = 6},
	    {.kind = "virus-recipient", .env_from = "", .rcpt = "bob@example.com", .body = "S: y\r\n", .body_len = 6}};
	struct store_alert notice = {
	    .kind = "failure-notice", .env_from = "", .rcpt = "alice@example.org", .body = "S: z\r\n", .body_len = 6};
	char buf[256];

	for (int i = 0; i < 4; i++) {
		fill_msg(&m[i], r[i], "virus", 1000 + i);
		m[i].quar_path = "virus/2025/11/21/virus-20251121-043000-xxxxxxxxxxxx";
		m[i].quar_sha256 = "00ff";
		m[i].attempt = "open";
		assert_int_equal(store_put(st, &m[i], al, 2), 0);
		assert_string_equal(outbox_states(st, m[i].mail_id, buf, sizeof(buf)), "held,held");
		get_attempt(st, m[i].mail_id, "open", "quarantined");
	}
	assert_int_equal(count_rows(path, "SELECT count(*) FROM outbox WHERE state = 'pending'"), 0);

	/* answered 2xx: the alerts go out, with the notice */
	assert_int_equal(sqlite3_exec(store_sqlite_db(st), "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_settle_rows(st, m[0].mail_id, "final", false, &notice, 1), 0);
	assert_int_equal(sqlite3_exec(store_sqlite_db(st), "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_string_equal(outbox_states(st, m[0].mail_id, buf, sizeof(buf)), "pending,pending,pending");
	get_attempt(st, m[0].mail_id, "final", "quarantined");

	/* answered 4xx: cancelled, the copy marked gone; a second settle is a no-op */
	struct store_put_item it[2] = {{.settle_id = m[1].mail_id, .settle_outcome = "deferred", .settle_purge = true},
				       {.settle_id = m[1].mail_id, .settle_outcome = "final"}};
	assert_int_equal(store_put_many(st, it, 2), 0);
	assert_int_equal(it[0].rc, 0);
	assert_int_equal(it[1].rc, 0);
	assert_string_equal(outbox_states(st, m[1].mail_id, buf, sizeof(buf)), "cancelled,cancelled");
	get_attempt(st, m[1].mail_id, "deferred", "purged");

	/* scand stopped with m[2] and m[3] open: they were never answered */
	int n = -1;
	assert_int_equal(store_recover_open(st, &n), 0);
	assert_int_equal(n, 2);
	for (int i = 2; i < 4; i++) {
		assert_string_equal(outbox_states(st, m[i].mail_id, buf, sizeof(buf)), "cancelled,cancelled");
		get_attempt(st, m[i].mail_id, "deferred", "quarantined"); /* the copy stays, never released */
	}
	get_attempt(st, m[0].mail_id, "final", "quarantined");
	assert_int_equal(store_recover_open(st, &n), 0);
	assert_int_equal(n, 0);
}

/* A VFS shim over the default one that counts xSync calls on WAL files:
 * the real file object is used as is, only its methods table is swapped
 * for a copy whose xSync counts, so nothing else changes. */
static sqlite3_io_methods wal_methods;
static int (*wal_real_sync)(sqlite3_file *, int);
static int wal_syncs;

static int wal_count_sync(sqlite3_file *f, int flags)
{
	wal_syncs++;
	return wal_real_sync(f, flags);
}

static int wal_shim_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
	sqlite3_vfs *real = v->pAppData;
	int rc = real->xOpen(real, name, f, flags, out);
	if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && f->pMethods) {
		if (!wal_real_sync) {
			wal_methods = *f->pMethods;
			wal_real_sync = wal_methods.xSync;
			wal_methods.xSync = wal_count_sync;
		}
		f->pMethods = &wal_methods;
	}
	return rc;
}

/* With synchronous = NORMAL a WAL commit is not
 * fsynced (only checkpoints are), so a power cut could take back a verdict
 * that was already answered 250. store_put() must return only after the
 * WAL holding its commit was synced. */
static void test_commit_is_fsynced(void **state)
{
	(void)state;
	static sqlite3_vfs shim;
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	shim = *real;
	shim.zName = "gh-count-wal-sync";
	shim.pAppData = real;
	shim.xOpen = wal_shim_open;
	assert_int_equal(sqlite3_vfs_register(&shim, 1), SQLITE_OK);

	char *path = tu_tmp_db("gh-store-XXXXXX");
	struct store *st = tu_store_open(path, 10000);
	for (int i = 0; i < 3; i++) {
		struct store_msg m;
		struct store_rcpt r[3];
		fill_msg(&m, r, "clean", 1000 + i);
		int before = wal_syncs;
		assert_int_equal(store_put(st, &m, NULL, 0), 0);
		assert_true(wal_syncs > before);
	}
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(store_sqlite_db(st), "PRAGMA synchronous", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 2); /* FULL */
	sqlite3_finalize(s);
	store_close(st);
	sqlite3_vfs_unregister(&shim);
	tu_rm_db(path);
}

static void test_open_failure_names_file(void **state)
{
	(void)state;
	struct store *st = NULL;
	char *err = NULL;
	assert_int_equal(store_open("/nonexistent-dir/x.db", 100, &st, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
	g_free(err);
}

/* ---- the backend seam and the functions that replaced callers' SQL ---- */

static void test_open_chooses_backend(void **state)
{
	(void)state;
	struct store *st = NULL;
	char *err = NULL;
	char *path = tu_tmp_db("gh-store-XXXXXX");

	/* an unknown scheme is refused by name, and nothing is created */
	assert_int_equal(store_open("foo:/tmp/x.db", 100, &st, &err), -1);
	assert_null(st);
	assert_non_null(err);
	assert_non_null(strstr(err, "unknown store backend \"foo\""));
	g_free(err);
	err = NULL;

	/* "sqlite:" and a plain path both reach the SQLite backend */
	char *loc = g_strconcat("sqlite:", path, NULL);
	st = tu_store_open(loc, 10000);
	assert_non_null(store_sqlite_db(st));
	assert_int_equal(store_version(st), schema_version);
	store_close(st);
	assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR)); /* the prefix is not part of the file name */
	st = tu_store_open(path, 10000);
	assert_int_equal(store_version(st), schema_version);
	store_close(st);
	g_free(loc);
	tu_rm_db(path);
}

struct due {
	int n;
	int64_t id[8];
	char kind[8][32];
	size_t len[8];
};

static int due_row(const struct store_outbox_row *r, void *arg)
{
	struct due *d = arg;
	if (d->n < 8) {
		d->id[d->n] = r->id;
		g_strlcpy(d->kind[d->n], r->kind, sizeof(d->kind[0]));
		d->len[d->n] = r->body_len;
	}
	d->n++;
	return 0;
}

static void test_outbox_claim_mark_fold(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	const char *path = fix->path;
	struct store_msg m;
	struct store_rcpt r[3];
	struct store_alert al[2] = {
	    {.kind = "virus-admin", .env_from = "", .rcpt = "pm@example.com", .body = "S: a\r\n", .body_len = 6},
	    {.kind = "virus-recipient", .env_from = "", .rcpt = "bob@example.com", .body = "S: bb\r\n", .body_len = 7}};
	struct due d = {0};
	char buf[256];

	fill_msg(&m, r, "virus", 1000);
	assert_int_equal(store_put(st, &m, NULL, 0), 0);
	assert_int_equal(store_outbox_queue(st, m.mail_id, al, 2, 1000), 0);
	assert_string_equal(outbox_states(st, m.mail_id, buf, sizeof(buf)), "pending,pending");

	/* not due before its time; due at it, oldest first, with the body */
	assert_int_equal(store_outbox_due(st, 999, 10, due_row, &d), 0);
	assert_int_equal(store_outbox_due(st, 1000, 10, due_row, &d), 2);
	assert_string_equal(d.kind[0], "virus-admin");
	assert_int_equal(d.len[1], 7);
	int64_t a = d.id[0], b = d.id[1];

	/* a claim takes a row once: the second sender gets nothing */
	assert_int_equal(store_outbox_claim(st, a, 1000, 1060), 0);
	assert_int_equal(store_outbox_claim(st, a, 1000, 1060), 1);
	memset(&d, 0, sizeof(d));
	assert_int_equal(store_outbox_due(st, 1000, 10, due_row, &d), 1);
	assert_true(d.id[0] == b);

	/* sent, retried, failed */
	assert_int_equal(store_outbox_sent(st, a, 1001), 0);
	assert_int_equal(store_outbox_retry(st, b, 2000, "RCPT TO: 451 later"), 0);
	assert_string_equal(outbox_states(st, m.mail_id, buf, sizeof(buf)), "sent,pending");
	assert_int_equal(count_rows(path, "SELECT attempts FROM outbox WHERE kind = 'virus-recipient' AND "
	                                  "next_try = 2000 AND last_error = 'RCPT TO: 451 later'"),
	                 1);
	assert_int_equal(store_outbox_failed(st, b, "DATA: 554 no"), 0);
	assert_string_equal(outbox_states(st, m.mail_id, buf, sizeof(buf)), "sent,failed");
	assert_int_equal(count_rows(path, "SELECT attempts FROM outbox WHERE kind = 'virus-recipient'"), 2);
	/* a failed row cannot be claimed */
	assert_int_equal(store_outbox_claim(st, b, 5000, 5060), 1);

	/* the rate limit's counts */
	assert_int_equal(store_outbox_count_sent_admin(st, "pm@example.com", 1000), 1);
	assert_int_equal(store_outbox_count_sent_admin(st, "pm@example.com", 1001), 0);
	assert_int_equal(store_outbox_count_sent_admin(st, "bob@example.com", 0), 0);
	assert_int_equal(store_outbox_count_summaries(st, "pm@example.com", 0), 0);

	/* folding: one summary queued, the folded rows marked sent with its id */
	struct store_alert more[2] = {al[0], al[0]};
	assert_int_equal(store_outbox_queue(st, m.mail_id, more, 2, 1100), 0);
	memset(&d, 0, sizeof(d));
	assert_int_equal(store_outbox_due(st, 1100, 10, due_row, &d), 2);
	int64_t summary = 0;
	assert_int_equal(store_outbox_fold(st, "pm@example.com", "S: sum\r\n", 8, 1100, d.id, 2, &summary), 0);
	assert_true(summary > d.id[1]);
	assert_string_equal(outbox_states(st, m.mail_id, buf, sizeof(buf)), "sent,failed,sent,sent");
	char *q = g_strdup_printf("SELECT count(*) FROM outbox WHERE last_error = 'folded into summary %lld'",
	                          (long long)summary);
	assert_int_equal(count_rows(path, q), 2);
	g_free(q);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM outbox WHERE kind = 'admin-summary' AND "
	                                  "state = 'pending' AND rcpt = 'pm@example.com' AND length(body) = 8"),
	                 1);
	assert_int_equal(store_outbox_count_summaries(st, "pm@example.com", 1099), 1);
	assert_int_equal(store_outbox_count_summaries(st, "pm@example.com", 1100), 0);
}

static void test_put_answers(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	struct store_msg m[2];
	struct store_rcpt r[2][3];
	struct store_msg *got = NULL;

	for (int i = 0; i < 2; i++) {
		fill_msg(&m[i], r[i], "clean", 1000 + i);
		m[i].attempt = "open";
		assert_int_equal(store_put(st, &m[i], NULL, 0), 0);
	}
	char *ans0[] = {"250 a", "451 b", "250 c"}, *ans1[] = {"451 x", "451 y", "451 z"};
	const char *dest0[] = {"pass", "tempfail", "discard"}, *dest1[] = {"tempfail", "tempfail", "tempfail"};
	struct store_answers a[2] = {
	    {.mail_id = m[0].mail_id, .n = 3, .answer = ans0, .destiny = dest0, .outcome = "final"},
	    {.mail_id = m[1].mail_id, .n = 3, .answer = ans1, .destiny = dest1, .outcome = "deferred"}};
	assert_int_equal(store_put_answers(st, a, 2), 0);
	assert_int_equal(store_get(st, m[0].mail_id, &got), 0);
	assert_string_equal(got->attempt, "final");
	assert_string_equal(got->rcpt[1].smtp_answer, "451 b");
	assert_string_equal(got->rcpt[1].destiny, "tempfail");
	assert_string_equal(got->rcpt[2].destiny, "discard");
	store_msg_free(got);
	get_attempt(st, m[1].mail_id, "deferred", "none");

	/* an unknown message changes nothing and is not an error (no rows) */
	struct store_answers none = {.mail_id = "nosuchmailid", .n = 1, .answer = ans0, .destiny = dest0,
	                             .outcome = "final"};
	assert_int_equal(store_put_answers(st, &none, 1), 0);
}

static int stat_row(const struct store_quar_stat *q, void *arg)
{
	GString *o = arg;
	g_string_append_printf(o, "%s/%s=%lld:%lld;", q->category, q->state, (long long)q->count,
	                       (long long)q->bytes);
	return 0;
}

static int file_row(const struct store_quar_file *f, void *arg)
{
	GString *o = arg;
	g_string_append_printf(o, "%s:%s:%lld;", f->relpath, f->state, (long long)f->size);
	return 0;
}

static void test_count_stats_and_fsck_rows(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	struct store_msg m[4];
	struct store_rcpt r[4][3];
	const char *cat[] = {"virus", "virus", "spam", "clean"};
	const char *qp[] = {"virus/a", "virus/b", "spam/c", NULL};

	for (int i = 0; i < 4; i++) {
		fill_msg(&m[i], r[i], cat[i], 1000 + i);
		m[i].quar_path = (char *)qp[i];
		m[i].quar_size = 100 * (i + 1);
		m[i].quar_sha256 = "00ff";
		assert_int_equal(store_put(st, &m[i], NULL, 0), 0);
	}
	assert_int_equal(store_set_quar_state(st, m[1].mail_id, "released"), 0);

	/* store_count agrees with store_list's filter */
	struct store_filter f = {0};
	assert_int_equal(store_count(st, &f), 4);
	f.category = "virus";
	assert_int_equal(store_count(st, &f), 2);
	f.quar_state = "released";
	assert_int_equal(store_count(st, &f), 1);
	f = (struct store_filter){.rcpt = "CAROL@*", .since = 1002};
	assert_int_equal(store_count(st, &f), 2);
	assert_int_equal(store_list(st, &f, NULL, NULL), 2);

	GString *o = g_string_new("");
	assert_int_equal(store_quar_stats(st, stat_row, o), 0);
	assert_string_equal(o->str, "spam/quarantined=1:300;virus/quarantined=1:100;virus/released=1:200;");
	g_string_truncate(o, 0);
	assert_int_equal(store_quar_files(st, file_row, o), 3);
	assert_non_null(strstr(o->str, "virus/b:released:200;"));
	assert_null(strstr(o->str, "(null)"));

	/* a missing file: purged only while its state is still the one read */
	assert_int_equal(store_quar_path_kept(st, "virus/a"), 1);
	assert_int_equal(store_purge_missing(st, m[0].mail_id, "released"), 1);
	assert_int_equal(store_purge_missing(st, m[0].mail_id, "quarantined"), 0);
	get_attempt(st, m[0].mail_id, "final", "purged");
	assert_int_equal(store_purge_missing(st, m[0].mail_id, "quarantined"), 1);
	assert_int_equal(store_quar_path_kept(st, "virus/a"), 0);
	assert_int_equal(store_quar_path_kept(st, "nothing/here"), 0);
	g_string_truncate(o, 0);
	assert_int_equal(store_quar_files(st, file_row, o), 2);
	g_string_free(o, TRUE);
}

static int top_row(const char *name, int64_t count, void *arg)
{
	g_string_append_printf(arg, "%s=%lld;", name, (long long)count);
	return 0;
}

static int minute_row(const struct store_rrd_minute *m, void *arg)
{
	g_string_append_printf(arg, "%lld/%s@%s=%lld:%lld:%lld;", (long long)m->minute, m->category, m->host,
	                       (long long)m->count, (long long)m->passed, (long long)m->blocked);
	return 0;
}

static void test_report_queries(void **state)
{
	struct fx *fix = *state;
	struct store *st = fix->st;
	struct store_msg m[4];
	struct store_rcpt r[4][3];
	int64_t oldest = 0, high = 0, lm = 0, li = 0;
	GString *o = g_string_new("");

	assert_int_equal(store_msgs_bounds(st, &oldest, &high), 0);
	assert_true(oldest == -1 && high == 0);
	const char *cat[] = {"virus", "virus", "spam", "spam"};
	for (int i = 0; i < 4; i++) {
		fill_msg(&m[i], r[i], cat[i], 6000 + 30 * i); /* minutes 6000, 6000, 6060, 6060 */
		if (i < 2)
			m[i].virus_names = i ? "Eicar, Other" : "Eicar";
		if (i == 2)
			m[i].host = "mx2.example.net"; /* the minutes are per host too */
		if (i == 3) {
			m[i].sender = "";
			for (int k = 0; k < 3; k++)
				r[i][k].destiny = "pass";
		}
		assert_int_equal(store_put(st, &m[i], NULL, 0), 0);
	}
	assert_int_equal(store_msgs_bounds(st, &oldest, &high), 0);
	assert_true(oldest == 6000 && high == m[3].id);

	assert_int_equal(store_report_top(st, STORE_TOP_VIRUSES, 0, 10000, 10, top_row, o), 0);
	assert_string_equal(o->str, "Eicar=2;Other=1;");
	g_string_truncate(o, 0);
	assert_int_equal(store_report_top(st, STORE_TOP_SPAM_DOMAINS, 0, 10000, 10, top_row, o), 0);
	assert_string_equal(o->str, "<>=1;example.org=1;");
	g_string_truncate(o, 0);
	assert_int_equal(store_report_top(st, STORE_TOP_SPAM_RCPTS, 0, 10000, 1, top_row, o), 0);
	assert_string_equal(o->str, "bob@example.com=2;");
	g_string_truncate(o, 0);
	assert_int_equal(store_report_top(st, (enum store_top)99, 0, 10000, 1, top_row, o), -1);

	/* minutes: fill_msg's recipients pass one of three (passed); the last
	 * message passes all; ids above id0 only */
	assert_int_equal(store_rrd_minutes(st, 0, 10000, 0, high, minute_row, o), 0);
	assert_string_equal(o->str, "6000/virus@=2:2:0;6060/spam@=1:1:0;6060/spam@mx2.example.net=1:1:0;");
	g_string_truncate(o, 0);
	assert_int_equal(store_rrd_minutes(st, 6060, 10000, m[2].id, high, minute_row, o), 0);
	assert_string_equal(o->str, "6060/spam@=1:1:0;");

	assert_int_equal(store_rrd_state_get(st, "/x.rrd", &lm, &li), 1);
	assert_int_equal(store_rrd_state_put(st, "/x.rrd", 6000, 2), 0);
	assert_int_equal(store_rrd_state_put(st, "/x.rrd", 6060, 3), 0);
	assert_int_equal(store_rrd_state_get(st, "/x.rrd", &lm, &li), 0);
	assert_true(lm == 6060 && li == 3);
	g_string_free(o, TRUE);
}


static int64_t sq_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -1;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void test_migration_009_host_and_blobs(void **state)
{
	(void)state;
	assert_true(schema_version >= 9);
	char *path = tu_tmp_db("gh-store-009-XXXXXX");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (int v = 0; v < 8; v++)
		assert_int_equal(sqlite3_exec(db, schema_migrations[v], NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "PRAGMA user_version = 8; INSERT INTO msgs (mail_id, time, sender, size, "
	                              "category) VALUES ('AAAAAAAAAAAA', 1, 'a@example.org', 10, 'clean');",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);

	struct store *st = tu_store_open(path, 10000);
	assert_int_equal(store_version(st), schema_version);
	db = store_sqlite_db(st);
	assert_int_equal(sq_int(db, "SELECT count(*) FROM msgs WHERE host = '' AND quar_backend = 'files'"), 1);
	assert_int_equal(sq_int(db, "SELECT count(*) FROM quar_blobs"), 0);

	store_set_host(st, "mx1.example.net");
	assert_string_equal(store_host(st), "mx1.example.net");
	struct store_msg m;
	struct store_rcpt r[3];
	fill_msg(&m, r, "virus", 100);
	struct store_alert a = {.kind = "virus-admin", .env_from = "", .rcpt = "admin@example.com", .body = "x",
	                        .body_len = 1};
	assert_int_equal(store_put(st, &m, &a, 1), 0);
	assert_int_equal(store_event(st, m.mail_id, "release", "tester", "", "ok"), 0);
	struct store_msg m2;
	struct store_rcpt r2[3];
	fill_msg(&m2, r2, "clean", 101);
	m2.host = "mx2.example.net"; /* written for another host (a migration, say) */
	assert_int_equal(store_put(st, &m2, NULL, 0), 0);

	struct store_msg *got = NULL;
	assert_int_equal(store_get(st, m.mail_id, &got), 0);
	assert_string_equal(got->host, "mx1.example.net");
	assert_string_equal(got->quar_backend, "files");
	store_msg_free(got);
	assert_int_equal(store_get(st, m2.mail_id, &got), 0);
	assert_string_equal(got->host, "mx2.example.net");
	store_msg_free(got);
	assert_int_equal(sq_int(db, "SELECT count(*) FROM events WHERE host = 'mx1.example.net'"), 1);
	assert_int_equal(sq_int(db, "SELECT count(*) FROM outbox WHERE host = 'mx1.example.net'"), 1);

	/* an open attempt with a database copy, deferred with purge: the copy
	 * goes in the settle's transaction */
	struct store_msg m3;
	struct store_rcpt r3[3];
	fill_msg(&m3, r3, "virus", 102);
	m3.quar_path = "virus/2026/01/01/x";
	m3.quar_sha256 = "00";
	m3.quar_backend = "database";
	m3.quar_blob = "gz";
	m3.quar_blob_len = 2;
	m3.attempt = "open";
	assert_int_equal(store_put(st, &m3, NULL, 0), 0);
	assert_int_equal(sq_int(db, "SELECT count(*) FROM quar_blobs"), 1);
	struct store_put_item it = {.settle_id = m3.mail_id, .settle_outcome = "deferred", .settle_purge = true};
	assert_int_equal(store_put_many(st, &it, 1), 0);
	assert_int_equal(it.rc, 0);
	assert_int_equal(sq_int(db, "SELECT count(*) FROM quar_blobs"), 0);
	assert_int_equal(store_get(st, m3.mail_id, &got), 0);
	assert_string_equal(got->quar_state, "purged");
	store_msg_free(got);
	store_close(st);
	tu_rm_db(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_three_recipients, fx_open, fx_close),
		cmocka_unit_test_setup_teardown(test_put_is_atomic, fx_open, fx_close),
		cmocka_unit_test_setup_teardown(test_put_many, fx_open, fx_close),
		cmocka_unit_test_setup_teardown(test_list_filters_and_events, fx_open, fx_close),
		cmocka_unit_test(test_migration_is_idempotent),
		cmocka_unit_test(test_two_processes_lose_nothing),
		cmocka_unit_test(test_open_failure_names_file),
		cmocka_unit_test(test_commit_is_fsynced),
		cmocka_unit_test_setup_teardown(test_attempts_hold_and_settle_alerts, fx_open, fx_close),
		cmocka_unit_test(test_open_chooses_backend),
		cmocka_unit_test_setup_teardown(test_outbox_claim_mark_fold, fx_open, fx_close),
		cmocka_unit_test_setup_teardown(test_put_answers, fx_open, fx_close),
		cmocka_unit_test_setup_teardown(test_count_stats_and_fsck_rows, fx_open, fx_close),
		cmocka_unit_test_setup_teardown(test_report_queries, fx_open, fx_close),
		cmocka_unit_test(test_migration_009_host_and_blobs),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
