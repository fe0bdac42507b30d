/*
 * store_sqlite_digest - the recipients' digest in SQLite (store.h "The
 * recipients' digest", schema/008-digest.sql)
 *
 * Each operation prepares its statement, binds (nothing pasted), steps
 * and finalizes: the digest runs hourly and the web front end acts a few
 * times a minute, so a per-handle cache would buy nothing. The category
 * set is one bound comma-separated string matched with instr(), so the
 * statement stays constant whatever the configuration says.
 */
#include "store_sqlite_digest.h"
#include "store_sqlite.h"

#include <glib.h>

static int sqd_fail(struct store *st, const char *what)
{
	sqlite3 *db = store_sqlite_db(st);
	int code = sqlite3_extended_errcode(db) & 0xff;
	return store_fail_set(st, code == SQLITE_BUSY || code == SQLITE_LOCKED, "%s: %s", what,
	                      sqlite3_errmsg(db));
}

static sqlite3_stmt *sqd_prepare(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	st->busy = false;
	if (sqlite3_prepare_v2(store_sqlite_db(st), sql, -1, &s, NULL) != SQLITE_OK) {
		sqd_fail(st, "prepare");
		return NULL;
	}
	return s;
}

static void sqd_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static const char *sqd_col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? (const char *)t : "";
}

/* Steps a statement without rows to its end and finalizes it: 0 or -1. */
static int sqd_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	int r = rc == SQLITE_DONE ? 0 : sqd_fail(st, what);
	sqlite3_finalize(s);
	return r;
}

static const char items_sql[] =
    "SELECT lower(r.addr), m.mail_id, m.sender, m.subject, m.category, m.time, m.size "
    "FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
    "WHERE m.quar_state = 'quarantined' AND m.attempt = 'final' AND m.time >= ?1 "
    "AND instr(',' || ?2 || ',', ',' || m.category || ',') > 0 "
    "AND r.destiny NOT IN ('pass', 'tempfail') AND r.released_at IS NULL AND r.deleted_at IS NULL "
    "AND (?3 IS NULL OR lower(r.addr) = lower(?3)) "
    "ORDER BY lower(r.addr), m.time DESC, m.id DESC";

static int sqd_items(struct store *st, const char *cats, int64_t since, const char *rcpt,
                     int (*fn)(const struct store_digest_item *it, void *arg), void *arg)
{
	sqlite3_stmt *s = sqd_prepare(st, items_sql);
	int rc, n = 0;
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, since);
	sqd_text(s, 2, cats ? cats : "");
	sqd_text(s, 3, rcpt);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_digest_item it = {
		    .rcpt = sqd_col(s, 0),
		    .mail_id = sqd_col(s, 1),
		    .sender = sqd_col(s, 2),
		    .subject = sqd_col(s, 3),
		    .category = sqd_col(s, 4),
		    .time = sqlite3_column_int64(s, 5),
		    .size = sqlite3_column_int64(s, 6),
		};
		n++;
		if (fn(&it, arg)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		n = sqd_fail(st, "digest items");
	sqlite3_finalize(s);
	return n;
}

static int sqd_pref_set(struct store *st, const char *target, const char *freq)
{
	sqlite3_stmt *s =
	    sqd_prepare(st, freq ? "INSERT INTO digest_pref (target, frequency) VALUES (lower(?1), ?2) "
	                           "ON CONFLICT (target) DO UPDATE SET frequency = ?2"
	                         : "DELETE FROM digest_pref WHERE target = lower(?1)");
	if (!s)
		return -1;
	sqd_text(s, 1, target);
	if (freq)
		sqd_text(s, 2, freq);
	return sqd_done(st, s, "digest_pref");
}

static int sqd_prefs(struct store *st, int (*fn)(const char *target, const char *freq, void *arg), void *arg)
{
	sqlite3_stmt *s = sqd_prepare(st, "SELECT target, frequency FROM digest_pref ORDER BY target");
	int rc;
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (fn(sqd_col(s, 0), sqd_col(s, 1), arg)) {
			rc = SQLITE_DONE;
			break;
		}
	int r = rc == SQLITE_DONE ? 0 : sqd_fail(st, "digest_pref");
	sqlite3_finalize(s);
	return r;
}

static int sqd_last(struct store *st, const char *rcpt, int (*fn)(const char *rcpt, int64_t last, void *arg),
                    void *arg)
{
	sqlite3_stmt *s = sqd_prepare(st, "SELECT rcpt, max(time) FROM digest_sent "
	                                  "WHERE ?1 IS NULL OR rcpt = lower(?1) GROUP BY rcpt");
	int rc;
	if (!s)
		return -1;
	sqd_text(s, 1, rcpt);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (fn(sqd_col(s, 0), sqlite3_column_int64(s, 1), arg)) {
			rc = SQLITE_DONE;
			break;
		}
	int r = rc == SQLITE_DONE ? 0 : sqd_fail(st, "digest_sent");
	sqlite3_finalize(s);
	return r;
}

static int sqd_exec(struct store *st, const char *sql)
{
	sqlite3_stmt *s = sqd_prepare(st, sql);
	return s ? sqd_done(st, s, sql) : -1;
}

/* One digest inside the caller's transaction: 0, or -1. */
static int sqd_queue_one(struct store *st, sqlite3_stmt *seen, sqlite3_stmt *ob, sqlite3_stmt *mark,
                         struct store_digest_out *d, int64_t now)
{
	sqlite3 *db = store_sqlite_db(st);
	sqd_text(seen, 1, d->rcpt);
	sqd_text(seen, 2, d->period);
	int rc = sqlite3_step(seen);
	sqlite3_reset(seen);
	d->already = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqd_fail(st, "digest_sent");
	if (d->already)
		return 0;
	sqlite3_bind_int64(ob, 1, now);
	sqd_text(ob, 2, d->a.kind);
	sqd_text(ob, 3, d->a.env_from);
	sqd_text(ob, 4, d->a.rcpt);
	sqlite3_bind_blob64(ob, 5, d->a.body, d->a.body_len, SQLITE_STATIC);
	sqlite3_bind_text(ob, 6, store_host(st), -1, SQLITE_STATIC); /* the digest sender's host */
	rc = sqlite3_step(ob);
	sqlite3_reset(ob);
	if (rc != SQLITE_DONE)
		return sqd_fail(st, "insert outbox");
	sqd_text(mark, 1, d->rcpt);
	sqd_text(mark, 2, d->period);
	sqlite3_bind_int64(mark, 3, now);
	sqlite3_bind_int64(mark, 4, sqlite3_last_insert_rowid(db));
	sqlite3_bind_int(mark, 5, d->items);
	rc = sqlite3_step(mark);
	sqlite3_reset(mark);
	return rc == SQLITE_DONE ? 0 : sqd_fail(st, "insert digest_sent");
}

/* The outbox rows and the periods' marks in one transaction: a crash
 * leaves all or none of them, and a second run finds the marks and queues
 * nothing twice. One transaction for many digests: each commit is an
 * fsync (synchronous = FULL). */
static int sqd_queue(struct store *st, struct store_digest_out *d, size_t n, int64_t now)
{
	sqlite3 *db = store_sqlite_db(st);
	sqlite3_stmt *seen =
	    sqd_prepare(st, "SELECT 1 FROM digest_sent WHERE rcpt = lower(?1) AND period = ?2");
	sqlite3_stmt *ob =
	    sqd_prepare(st, "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try, "
	                    "state, host) VALUES (?1, '', ?2, ?3, ?4, ?5, ?1, 'pending', ?6)");
	sqlite3_stmt *mark = sqd_prepare(st, "INSERT INTO digest_sent (rcpt, period, time, outbox_id, items) "
	                                     "VALUES (lower(?1), ?2, ?3, ?4, ?5)");
	int rc = -1;
	if (!seen || !ob || !mark || sqd_exec(st, "BEGIN IMMEDIATE") < 0)
		goto done;
	for (size_t i = 0; i < n; i++)
		if (sqd_queue_one(st, seen, ob, mark, &d[i], now) < 0)
			goto done;
	rc = sqd_exec(st, "COMMIT");
done:
	if (rc < 0 && !sqlite3_get_autocommit(db)) {
		char keep[sizeof(st->err)];
		g_strlcpy(keep, st->err, sizeof(keep));
		bool busy = st->busy;
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		store_fail_set(st, busy, "%s", keep);
	}
	sqlite3_finalize(seen);
	sqlite3_finalize(ob);
	sqlite3_finalize(mark);
	return rc;
}

static int sqd_rcpt_delete(struct store *st, int64_t msg_rowid, const char *addr, int64_t when)
{
	sqlite3_stmt *s =
	    sqd_prepare(st, "UPDATE msgrcpt SET deleted_at = ?1 "
	                    "WHERE msg = ?2 AND lower(addr) = lower(?3) AND deleted_at IS NULL");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, when);
	sqlite3_bind_int64(s, 2, msg_rowid);
	sqd_text(s, 3, addr);
	if (sqd_done(st, s, "update deleted_at") < 0)
		return -1;
	return sqlite3_changes(store_sqlite_db(st)) > 0 ? 0 : 1;
}

const struct store_digest_ops store_sqlite_digest = {
    .items = sqd_items,
    .pref_set = sqd_pref_set,
    .prefs = sqd_prefs,
    .last = sqd_last,
    .queue = sqd_queue,
    .rcpt_delete = sqd_rcpt_delete,
};
