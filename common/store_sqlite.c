/*
 * store_sqlite - the SQLite store backend (see store.h, store_backend.h)
 *
 * Every SQL statement of the store is here, prepared (nothing pasted):
 * the hot ones (store_put's, settling) once per handle at open, the others
 * on first use and kept (sq_lazy()). Each handle sets synchronous = FULL,
 * WAL and foreign keys and applies the migrations (schema/NNN-*.sql).
 *
 * Invariants: a msgs row is never written without its msgrcpt rows (one
 * transaction); migrations run under BEGIN IMMEDIATE and re-read
 * user_version inside it, so concurrent openers apply each one once; an
 * outbox row is 'held' only while its attempt (msgs.attempt) is 'open'.
 */
#include "store_backend.h"
#include "store_report_sql.h"
#include "store_sqlite.h"
#include "store_sqlite_digest.h"

#include <glib.h>
#include <string.h>
#include <time.h>

extern const char *const schema_migrations[];
extern const int schema_version;

/* Statements prepared on first use, then kept for the handle's life. */
enum {
	SQ_ANSWER,
	SQ_COUNT, /* 4 variants: + 1 with a category, + 2 with a quarantine state */
	SQ_COUNT_CAT,
	SQ_COUNT_STATE,
	SQ_COUNT_BOTH,
	SQ_PURGE_MISSING,
	SQ_QUAR_FILES,
	SQ_QUAR_KEPT,
	SQ_BLOB_GET,
	SQ_BLOB_DROP,
	SQ_QUAR_STATS,
	SQ_OB_DUE,
	SQ_OB_CLAIM,
	SQ_OB_SENT,
	SQ_OB_RETRY,
	SQ_OB_FAILED,
	SQ_OB_SENT_ADMIN,
	SQ_OB_SUMMARIES,
	SQ_OB_SUMMARY,
	SQ_OB_FOLDED,
	SQ_BOUNDS,
	SQ_RRD_MINUTES,
	SQ_RRD_GET,
	SQ_RRD_PUT,
	SQ_LIST_ADD,
	SQ_LIST_DEL,
	SQ_LIST_QUERY,
	SQ_LIST_PROBE,
	SQ_TOP, /* STORE_NTOP of them, in enum store_top order */
	SQ_STAT = SQ_TOP + STORE_NTOP, /* STORE_NSTAT of them, in enum store_stat order */
	SQ_NLAZY = SQ_STAT + STORE_NSTAT
};

/* store_count mirrors store_list's filter. Category and state are plain
 * equalities when set (one constant statement per combination), so that
 * the covering index (quar_state, category, ...) answers the common case
 * without reading table rows. */
#define SQ_COUNT_SEARCH                                                                                      \
	"(?3 IS NULL OR lower(sender) GLOB lower(?3)) AND "                                                  \
	"(?4 IS NULL OR EXISTS (SELECT 1 FROM msgrcpt r WHERE r.msg = m.id AND lower(r.addr) GLOB "          \
	"lower(?4))) "                                                                                       \
	"AND (?5 IS NULL OR lower(subject) GLOB lower(?5)) AND (?6 IS NULL OR lower(virus_names) GLOB "      \
	"lower(?6)) AND (?7 IS NULL OR time >= ?7) AND (?8 IS NULL OR time < ?8)"

/* Split "a,b, c" into names with a recursive common table expression
 * (SQLite's instr: another backend splits its own way). ?1 = since,
 * ?2 = until, ?3 = top. */
#define SQ_SPLIT(col, where)                                                                                 \
	"WITH RECURSIVE split(name, rest) AS ("                                                              \
	"SELECT '', " col " || ',' FROM msgs WHERE time >= ?1 AND time < ?2 AND " where " "                  \
	"UNION ALL SELECT trim(substr(rest, 1, instr(rest, ',') - 1)), substr(rest, instr(rest, ',') + 1) "  \
	"FROM split WHERE rest <> '') "                                                                      \
	"SELECT name, count(*) AS n FROM split WHERE name <> '' GROUP BY name ORDER BY n DESC, name LIMIT "  \
	"?3"

/* The lists' columns, in struct list_entry order; SQ_LIST_P10(k): the ten
 * parameters ?k .. ?k+9 of a lookup (LIST_PROBE_MAX; unused ones repeat
 * the last value). */
#define SQ_LIST_COLS "id, scope, kind, pattern, note, created_by, created_at, expires"
#define SQ_LIST_P10(k) SQ_LIST_P10_##k
#define SQ_LIST_P10_1 "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10"
#define SQ_LIST_P10_11 "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20"

/* The rows that keep a quarantine file (quar_fsck). */
#define SQ_QUAR_KEEPS "quar_state IN ('quarantined', 'released')"


/* Only bench/compare builds a NORMAL store (-DGH_STORE_SYNCHRONOUS), to
 * print what FULL costs; the product is always FULL. */
#ifndef GH_STORE_SYNCHRONOUS
#define GH_STORE_SYNCHRONOUS "FULL"
#endif
static const char *const sq_lazy_sql[SQ_NLAZY] = {
    [SQ_ANSWER] = "UPDATE msgrcpt SET smtp_answer = ?1, destiny = ?2"
                  " WHERE rseq = ?3 AND msg = (SELECT id FROM msgs WHERE mail_id = ?4)",
    [SQ_COUNT] = "SELECT count(*) FROM msgs m WHERE " SQ_COUNT_SEARCH,
    [SQ_COUNT_CAT] = "SELECT count(*) FROM msgs m WHERE category = ?1 AND " SQ_COUNT_SEARCH,
    [SQ_COUNT_STATE] = "SELECT count(*) FROM msgs m WHERE quar_state = ?2 AND " SQ_COUNT_SEARCH,
    [SQ_COUNT_BOTH] = "SELECT count(*) FROM msgs m WHERE category = ?1 AND quar_state = ?2 AND " SQ_COUNT_SEARCH,
    [SQ_PURGE_MISSING] = "UPDATE msgs SET quar_state = 'purged' WHERE mail_id = ?1 AND quar_state = ?2",
    [SQ_QUAR_FILES] = "SELECT mail_id, quar_path, quar_sha256, quar_state, quar_size, quar_backend FROM msgs "
                      "WHERE quar_path IS NOT NULL AND quar_path != '' AND " SQ_QUAR_KEEPS,
    [SQ_QUAR_KEPT] = "SELECT 1 FROM msgs WHERE quar_path = ?1 AND quar_backend = 'files' AND " SQ_QUAR_KEEPS
                     " LIMIT 1",
    [SQ_BLOB_GET] = "SELECT b.data FROM quar_blobs b JOIN msgs m ON m.id = b.msg WHERE m.mail_id = ?1",
    [SQ_BLOB_DROP] = "DELETE FROM quar_blobs WHERE msg = (SELECT id FROM msgs WHERE mail_id = ?1)",
    [SQ_QUAR_STATS] = "SELECT category, quar_state, count(*), coalesce(sum(quar_size), 0) FROM msgs "
                      "WHERE quar_state IN ('quarantined', 'released', 'purged') "
                      "GROUP BY category, quar_state ORDER BY category, quar_state",
    [SQ_OB_DUE] = "SELECT id, created, mail_id, kind, rcpt, body, attempts FROM outbox "
                  "WHERE state = 'pending' AND next_try <= ?1 ORDER BY id LIMIT ?2",
    [SQ_OB_CLAIM] = "UPDATE outbox SET next_try = ?2 WHERE id = ?1 AND state = 'pending' AND next_try <= ?3",
    [SQ_OB_SENT] = "UPDATE outbox SET state = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = '' "
                   "WHERE id = ?1",
    [SQ_OB_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_try = ?2, last_error = ?3 WHERE id = ?1",
    [SQ_OB_FAILED] = "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
    [SQ_OB_SENT_ADMIN] = "SELECT count(*) FROM outbox WHERE rcpt = ?1 AND kind LIKE '%-admin' AND state = 'sent' "
                         "AND sent_at > ?2",
    [SQ_OB_SUMMARIES] = "SELECT count(*) FROM outbox WHERE rcpt = ?1 AND kind = 'admin-summary' AND created > ?2",
    [SQ_OB_SUMMARY] = "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try, host) "
                      "VALUES (?1, '', 'admin-summary', '', ?2, ?3, ?1, ?4)",
    [SQ_OB_FOLDED] = "UPDATE outbox SET state = 'sent', last_error = ?2 WHERE id = ?1 AND state = 'pending'",
    [SQ_BOUNDS] = "SELECT coalesce((SELECT min(time) FROM msgs), -1), coalesce((SELECT max(id) FROM msgs), 0)",
    [SQ_RRD_MINUTES] = STORE_RRD_MINUTES_SQL("?1", "?2", "?3", "?4"),
    [SQ_RRD_GET] = "SELECT last_minute, last_msg_id FROM report_rrd WHERE path = ?1",
    [SQ_RRD_PUT] = "INSERT INTO report_rrd (path, last_minute, last_msg_id) VALUES (?1, ?2, ?3) "
                   "ON CONFLICT (path) DO UPDATE SET last_minute = ?2, last_msg_id = ?3",
    [SQ_LIST_ADD] = "INSERT INTO lists (scope, kind, pattern, pkey, note, created_by, created_at, expires) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (scope, pattern) DO UPDATE SET "
                    "kind = ?2, note = ?5, created_by = ?6, created_at = ?7, expires = ?8 RETURNING id",
    [SQ_LIST_DEL] = "DELETE FROM lists WHERE id = ?1",
    [SQ_LIST_QUERY] = "SELECT " SQ_LIST_COLS " FROM lists WHERE (?1 IS NULL OR scope = ?1) AND "
                      "(?2 IS NULL OR id = ?2) ORDER BY scope = 'global' DESC, scope, kind, pattern",
    /* IN x IN on the (scope, pkey) index: one probe per pair */
    [SQ_LIST_PROBE] = "SELECT " SQ_LIST_COLS " FROM lists WHERE scope IN (" SQ_LIST_P10(1) ") AND pkey IN ("
                      SQ_LIST_P10(11) ") AND (expires = 0 OR expires > ?21)",
    [SQ_TOP + STORE_TOP_VIRUSES] = SQ_SPLIT("virus_names", "category = 'virus' AND virus_names <> ''"),
    [SQ_TOP + STORE_TOP_BANNED] = SQ_SPLIT("banned_names", "banned_names <> ''"),
    [SQ_TOP + STORE_TOP_SPAM_SENDERS] =
        "SELECT CASE sender WHEN '' THEN '<>' ELSE lower(sender) END AS s, count(*) AS n FROM msgs "
        "WHERE category IN ('spam', 'spammy') AND time >= ?1 AND time < ?2 "
        "GROUP BY s ORDER BY n DESC, s LIMIT ?3",
    [SQ_TOP + STORE_TOP_SPAM_DOMAINS] =
        "SELECT CASE WHEN instr(sender, '@') = 0 THEN '<>' "
        "ELSE lower(substr(sender, instr(sender, '@') + 1)) END AS d, count(*) AS n FROM msgs "
        "WHERE category IN ('spam', 'spammy') AND time >= ?1 AND time < ?2 "
        "GROUP BY d ORDER BY n DESC, d LIMIT ?3",
    [SQ_TOP + STORE_TOP_SPAM_RCPTS] =
        "SELECT lower(r.addr) AS a, count(*) AS n FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
        "WHERE m.category IN ('spam', 'spammy') AND m.time >= ?1 AND m.time < ?2 "
        "GROUP BY a ORDER BY n DESC, a LIMIT ?3",
    [SQ_TOP + STORE_TOP_LIST_ENTRIES] =
        "SELECT r.list_entry AS e, count(*) AS n FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
        "WHERE r.list_entry <> '' AND m.time >= ?1 AND m.time < ?2 GROUP BY e ORDER BY n DESC, e LIMIT ?3",
    [SQ_TOP + STORE_TOP_UNCHECKED] =
        "SELECT CASE unchecked_reason WHEN '' THEN '(no reason recorded)' ELSE unchecked_reason END AS u, "
        "count(*) AS n FROM msgs WHERE category = 'unchecked' AND time >= ?1 AND time < ?2 "
        "GROUP BY u ORDER BY n DESC, u LIMIT ?3",
    [SQ_TOP + STORE_TOP_HOSTS] =
        "SELECT CASE host WHEN '' THEN '(unknown)' ELSE host END AS h, count(*) AS n FROM msgs "
        "WHERE time >= ?1 AND time < ?2 GROUP BY h ORDER BY n DESC, h LIMIT ?3",
    [SQ_STAT + STORE_STAT_CATEGORIES] = STORE_STAT_CATEGORIES_SQL("?1", "?2"),
    [SQ_STAT + STORE_STAT_DESTINIES] = STORE_STAT_DESTINIES_SQL("?1", "?2"),
    [SQ_STAT + STORE_STAT_ROWS] = STORE_STAT_ROWS_SQL("?1", "?2"),
    [SQ_STAT + STORE_STAT_DAYS] = STORE_STAT_DAYS_SQL("?1", "?2"),
    [SQ_STAT + STORE_STAT_BUSIEST_HOUR] = STORE_STAT_BUSIEST_HOUR_SQL("?1", "?2"),
    [SQ_STAT + STORE_STAT_SCAN] = STORE_STAT_SCAN_SQL("?1", "?2"),
};

struct sq {
	struct store base; /* first: a struct store * is a struct sq * */
	sqlite3 *db;
	sqlite3_stmt *ins_msg, *ins_rcpt, *ins_alert, *ins_event, *ins_blob, *get_msg, *get_rcpts;
	/* store_put's transaction: prepared once, not parsed per message */
	sqlite3_stmt *begin, *commit, *rollback;
	/* store_put_many: one savepoint per message inside the transaction */
	sqlite3_stmt *sp_begin, *sp_release, *sp_rollback;
	/* store_settle_rows */
	sqlite3_stmt *settle_msg, *settle_held, *settle_blob;
	/* the rest, prepared on first use (sq_lazy) */
	sqlite3_stmt *lazy[SQ_NLAZY];
	bool mapped; /* mmap_size set for list lookups (sq_list_probe) */
};

static int store_fail(struct sq *st, const char *what)
{
	int code = sqlite3_extended_errcode(st->db);
	st->base.busy = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
	g_snprintf(st->base.err, sizeof(st->base.err), "%s: %s", what, sqlite3_errmsg(st->db));
	return -1;
}

sqlite3 *store_sqlite_db(struct store *base)
{
	return base && base->be == &store_backend_sqlite ? ((struct sq *)base)->db : NULL;
}

static int store_exec(struct sq *st, const char *sql, const char *what)
{
	/* Only for constant SQL (pragmas, BEGIN/COMMIT, embedded migrations). */
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		sqlite3_free(msg);
		return store_fail(st, what);
	}
	return 0;
}

static int sq_version(struct store *base)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s;
	int v = -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int store_migrate(struct sq *st)
{
	if (sq_version(&st->base) >= schema_version)
		return 0; /* the common case: nothing to lock */
	if (store_exec(st, "BEGIN IMMEDIATE", "migrate: begin") < 0)
		return -1;
	int v = sq_version(&st->base);
	if (v < 0) {
		store_fail(st, "migrate: user_version");
		goto fail;
	}
	for (; v < schema_version; v++) {
		char pragma[64];
		if (store_exec(st, schema_migrations[v], "migrate") < 0) {
			char tmp[512];
			g_strlcpy(tmp, st->base.err, sizeof(tmp));
			g_snprintf(st->base.err, sizeof(st->base.err), "migration %03d: %s", v + 1, tmp);
			goto fail;
		}
		g_snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if (store_exec(st, pragma, "migrate: user_version") < 0)
			goto fail;
	}
	if (store_exec(st, "COMMIT", "migrate: commit") < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int store_prepare(struct sq *st, sqlite3_stmt **s, const char *sql)
{
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) != SQLITE_OK)
		return store_fail(st, "prepare");
	return 0;
}

#define MSG_COLS                                                                                             \
	"mail_id, time, client_addr, client_name, client_helo, sender, from_hdr, subject, "                  \
	"message_id, size, category, virus_names, banned_names, spam_score, spam_tests, "                    \
	"unchecked_reason, quar_path, quar_size, quar_sha256, quar_state, scan_ms, policy, engine, attempt, "       \
	"dsn_ret, dsn_envid, quar_backend, host"

static void sq_close(struct store *base);

static int sq_open(const char *path, int busy_timeout_ms, struct store **out, char **err)
{
	struct sq *st = g_new0(struct sq, 1);
	st->base.be = &store_backend_sqlite;
	int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		*err = g_strdup_printf("%s: %s", path, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		sqlite3_close(st->db);
		g_free(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, busy_timeout_ms);
	sqlite3_extended_result_codes(st->db, 1);
	/* 1 KiB pages for a new database (an existing one keeps its size):
	 * a verdict touches one leaf in each of the 13 b-trees of msgs and
	 * msgrcpt, and every touched page is a whole WAL frame, so with the
	 * default 4 KiB a row cost more bytes in the WAL than a 36 KiB
	 * message; 1 KiB cuts the bytes written and checksummed per commit
	 * to a quarter. Must come before journal_mode creates the file. */
	if (store_exec(st, "PRAGMA page_size = 1024", "page_size") < 0 ||
	    store_exec(st, "PRAGMA journal_mode = WAL", "journal_mode") < 0 ||
	    store_exec(st, "PRAGMA foreign_keys = ON", "foreign_keys") < 0 ||
	    /* FULL: a commit returns after the WAL is fsynced, so a verdict
	     * (and its alerts) answered 250 survives a power cut; NORMAL
	     * syncs only at checkpoints and could take back the last commits */
	    store_exec(st, "PRAGMA synchronous = " GH_STORE_SYNCHRONOUS, "synchronous") < 0 ||
	    /* a checkpoint every 8 MiB of WAL instead of every 1,000 pages: the
	     * last leaf of each append-only b-tree is rewritten by every commit,
	     * and a checkpoint copies it (and fsyncs) once however often */
	    store_exec(st, "PRAGMA wal_autocheckpoint = 8192", "wal_autocheckpoint") < 0 || store_migrate(st) < 0 ||
	    store_prepare(st, &st->ins_msg,
			  "INSERT INTO msgs (" MSG_COLS ") VALUES "
			  "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)") < 0 ||
	    store_prepare(st, &st->ins_blob, "INSERT INTO quar_blobs (msg, data) VALUES (?,?)") < 0 ||
	    store_prepare(st, &st->ins_rcpt,
			  "INSERT INTO msgrcpt (msg, rseq, addr, domain, destiny, smtp_answer, dsn_notify, dsn_orcpt, "
			  "list_entry) VALUES (?,?,?,?,?,?,?,?,?)") < 0 ||
	    store_prepare(
	        st, &st->ins_alert,
	        "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try, state, host) "
	        "VALUES (?,?,?,?,?,?,?,?,?)") < 0 ||
	    store_prepare(
	        st, &st->settle_msg,
	        "UPDATE msgs SET attempt = ?2, quar_state = CASE WHEN ?3 AND quar_state = 'quarantined' "
	        "THEN 'purged' ELSE quar_state END WHERE mail_id = ?1 AND attempt = 'open'") < 0 ||
	    store_prepare(
	        st, &st->settle_held,
	        "UPDATE outbox SET state = CASE ?2 WHEN 'final' THEN 'pending' ELSE 'cancelled' END, "
	        "next_try = ?3, last_error = CASE ?2 WHEN 'final' THEN '' ELSE 'attempt deferred' END "
	        "WHERE mail_id = ?1 AND state = 'held'") < 0 ||
	    /* a withdrawn attempt's database copy goes with its row's state
	     * (before settle_msg, which ends the attempt this matches) */
	    store_prepare(st, &st->settle_blob,
	                  "DELETE FROM quar_blobs WHERE msg = (SELECT id FROM msgs WHERE mail_id = ?1 "
	                  "AND attempt = 'open' AND quar_state = 'quarantined')") < 0 ||
	    store_prepare(st, &st->ins_event,
			  "INSERT INTO events (time, mail_id, action, who, detail, result, host) VALUES (?,?,?,?,?,?,?)") < 0 ||
	    store_prepare(st, &st->get_msg, "SELECT id, " MSG_COLS " FROM msgs WHERE mail_id = ?") < 0 ||
	    store_prepare(st, &st->get_rcpts,
			  "SELECT addr, destiny, smtp_answer, coalesce(released_at, 0), release_answer, dsn_notify, "
			  "dsn_orcpt, coalesce(deleted_at, 0), list_entry "
			  "FROM msgrcpt WHERE msg = ? ORDER BY rseq") < 0 ||
	    store_prepare(st, &st->begin, "BEGIN IMMEDIATE") < 0 || store_prepare(st, &st->commit, "COMMIT") < 0 ||
	    store_prepare(st, &st->rollback, "ROLLBACK") < 0 || store_prepare(st, &st->sp_begin, "SAVEPOINT msg") < 0 ||
	    store_prepare(st, &st->sp_release, "RELEASE msg") < 0 ||
	    store_prepare(st, &st->sp_rollback, "ROLLBACK TO msg") < 0) {
		*err = g_strdup_printf("%s: %s", path, st->base.err);
		sq_close(&st->base);
		return -1;
	}
	*out = &st->base;
	return 0;
}

static void sq_close(struct store *base)
{
	struct sq *st = (struct sq *)base;
	if (!st)
		return;
	sqlite3_finalize(st->ins_msg);
	sqlite3_finalize(st->ins_rcpt);
	sqlite3_finalize(st->ins_alert);
	sqlite3_finalize(st->ins_event);
	sqlite3_finalize(st->ins_blob);
	sqlite3_finalize(st->settle_blob);
	sqlite3_finalize(st->get_msg);
	sqlite3_finalize(st->get_rcpts);
	sqlite3_finalize(st->begin);
	sqlite3_finalize(st->commit);
	sqlite3_finalize(st->rollback);
	sqlite3_finalize(st->sp_begin);
	sqlite3_finalize(st->sp_release);
	sqlite3_finalize(st->sp_rollback);
	sqlite3_finalize(st->settle_msg);
	sqlite3_finalize(st->settle_held);
	for (int i = 0; i < SQ_NLAZY; i++)
		sqlite3_finalize(st->lazy[i]);
	sqlite3_close(st->db);
	g_free(st);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static int store_step_done(struct sq *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, what);
	return 0;
}

static int store_alert_rows(struct sq *st, const char *mail_id, const struct store_alert *alerts,
                            size_t nalerts, const char *state, int64_t now)
{
	for (size_t a = 0; a < nalerts; a++) {
		sqlite3_stmt *s = st->ins_alert;
		sqlite3_bind_int64(s, 1, now);
		bind_text(s, 2, mail_id);
		bind_text(s, 3, alerts[a].kind);
		bind_text(s, 4, alerts[a].env_from);
		bind_text(s, 5, alerts[a].rcpt);
		sqlite3_bind_blob64(s, 6, alerts[a].body, alerts[a].body_len, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 7, now);
		bind_text(s, 8, state);
		bind_text(s, 9, st->base.host);
		if (store_step_done(st, s, "insert outbox") < 0)
			return -1;
	}
	return 0;
}

/* The rows of one message, inside the caller's transaction. */
static int store_rows(struct sq *st, struct store_msg *m, const struct store_alert *alerts, size_t nalerts)
{
	sqlite3_stmt *s = st->ins_msg;
	int64_t now = (int64_t)time(NULL);
	int i = 1;
	bind_text(s, i++, m->mail_id);
	sqlite3_bind_int64(s, i++, m->time ? m->time : now);
	bind_text(s, i++, m->client_addr);
	bind_text(s, i++, m->client_name);
	bind_text(s, i++, m->client_helo);
	bind_text(s, i++, m->sender);
	bind_text(s, i++, m->from_hdr);
	bind_text(s, i++, m->subject);
	bind_text(s, i++, m->message_id);
	sqlite3_bind_int64(s, i++, m->size);
	bind_text(s, i++, m->category ? m->category : "clean");
	bind_text(s, i++, m->virus_names);
	bind_text(s, i++, m->banned_names);
	if (m->spam_checked)
		sqlite3_bind_double(s, i++, m->spam_score);
	else
		sqlite3_bind_null(s, i++);
	bind_text(s, i++, m->spam_tests);
	bind_text(s, i++, m->unchecked_reason);
	bind_text_or_null(s, i++, m->quar_path);
	if (m->quar_path)
		sqlite3_bind_int64(s, i++, m->quar_size);
	else
		sqlite3_bind_null(s, i++);
	bind_text_or_null(s, i++, m->quar_path ? m->quar_sha256 : NULL);
	bind_text(s, i++, m->quar_state ? m->quar_state : (m->quar_path ? "quarantined" : "none"));
	sqlite3_bind_int64(s, i++, m->scan_ms);
	bind_text(s, i++, m->policy);
	bind_text(s, i++, m->engine);
	bool open = m->attempt && strcmp(m->attempt, "open") == 0;
	bind_text(s, i++, open ? "open" : (m->attempt ? m->attempt : "final"));
	bind_text(s, i++, m->dsn_ret);
	bind_text(s, i++, m->dsn_envid);
	bool in_db = m->quar_path && m->quar_backend && strcmp(m->quar_backend, "database") == 0;
	bind_text(s, i++, in_db ? "database" : "files");
	bind_text(s, i++, m->host ? m->host : st->base.host);
	if (store_step_done(st, s, "insert msgs") < 0)
		return -1;
	m->id = sqlite3_last_insert_rowid(st->db);
	if (in_db) { /* the copy commits with its verdict, or neither does */
		sqlite3_bind_int64(st->ins_blob, 1, m->id);
		sqlite3_bind_blob64(st->ins_blob, 2, m->quar_blob ? m->quar_blob : "", m->quar_blob_len,
		                    SQLITE_STATIC);
		if (store_step_done(st, st->ins_blob, "insert quar_blobs") < 0)
			return -1;
	}

	for (size_t r = 0; r < m->nrcpt; r++) {
		s = st->ins_rcpt;
		sqlite3_bind_int64(s, 1, m->id);
		sqlite3_bind_int64(s, 2, (int64_t)r);
		bind_text(s, 3, m->rcpt[r].addr);
		bind_text(s, 4, store_addr_domain(m->rcpt[r].addr ? m->rcpt[r].addr : ""));
		bind_text(s, 5, m->rcpt[r].destiny ? m->rcpt[r].destiny : "pass");
		bind_text(s, 6, m->rcpt[r].smtp_answer);
		bind_text(s, 7, m->rcpt[r].dsn_notify);
		bind_text(s, 8, m->rcpt[r].dsn_orcpt);
		bind_text(s, 9, m->rcpt[r].list_entry);
		if (store_step_done(st, s, "insert msgrcpt") < 0)
			return -1;
	}
	/* an open attempt's alerts wait for its answer (store_settle_rows) */
	return store_alert_rows(st, m->mail_id, alerts, nalerts, open ? "held" : "pending", now);
}

static int sq_settle_rows(struct store *base, const char *mail_id, const char *outcome, bool purge,
                      const struct store_alert *alerts, size_t nalerts)
{
	struct sq *st = (struct sq *)base;
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *s = st->settle_blob;
	if (purge && strcmp(outcome, "deferred") == 0) {
		bind_text(s, 1, mail_id);
		if (store_step_done(st, s, "settle quar_blobs") < 0)
			return -1;
	}
	s = st->settle_msg;
	bind_text(s, 1, mail_id);
	bind_text(s, 2, outcome);
	sqlite3_bind_int(s, 3, purge && strcmp(outcome, "deferred") == 0);
	if (store_step_done(st, s, "settle msgs") < 0)
		return -1;
	s = st->settle_held;
	bind_text(s, 1, mail_id);
	bind_text(s, 2, outcome);
	sqlite3_bind_int64(s, 3, now);
	if (store_step_done(st, s, "settle outbox") < 0)
		return -1;
	return store_alert_rows(st, mail_id, alerts, nalerts, "pending", now);
}

static void store_abort(struct sq *st)
{
	if (!sqlite3_get_autocommit(st->db)) { /* keeps st->base.err and st->base.busy */
		sqlite3_step(st->rollback);
		sqlite3_reset(st->rollback);
	}
}

static int sq_put(struct store *base, struct store_msg *m, const struct store_alert *alerts, size_t nalerts)
{
	struct sq *st = (struct sq *)base;
	st->base.busy = false;
	if (store_step_done(st, st->begin, "begin") < 0)
		return -1;
	if (store_rows(st, m, alerts, nalerts) < 0 || store_step_done(st, st->commit, "commit") < 0) {
		store_abort(st);
		return -1;
	}
	return 0;
}

static int sq_put_many(struct store *base, struct store_put_item *items, size_t n)
{
	struct sq *st = (struct sq *)base;
	st->base.busy = false;
	for (size_t k = 0; k < n; k++) {
		items[k].rc = -1;
		items[k].busy = false;
		items[k].err[0] = '\0'; /* set only by a failure of the item's own rows */
	}
	if (store_step_done(st, st->begin, "begin") < 0)
		goto fail;
	for (size_t k = 0; k < n; k++) {
		struct store_put_item *it = &items[k];
		if (store_step_done(st, st->sp_begin, "savepoint") < 0)
			goto fail;
		int r = it->m ? store_rows(st, it->m, it->alerts, it->nalerts)
		              : sq_settle_rows(&st->base, it->settle_id, it->settle_outcome, it->settle_purge,
		                                  it->alerts, it->nalerts);
		if (r == 0) {
			if (store_step_done(st, st->sp_release, "release") < 0)
				goto fail;
			it->rc = 0;
			continue;
		}
		/* this message's rows go; the others stay in the transaction */
		g_strlcpy(it->err, st->base.err, sizeof(it->err));
		it->busy = st->base.busy;
		if (store_step_done(st, st->sp_rollback, "rollback to") < 0 ||
		    store_step_done(st, st->sp_release, "release") < 0)
			goto fail;
	}
	if (store_step_done(st, st->commit, "commit") < 0)
		goto fail;
	return 0;
fail:
	store_abort(st);
	for (size_t k = 0; k < n; k++) /* nothing of the transaction is kept */
		if (items[k].rc == 0 || !items[k].err[0]) {
			items[k].rc = -1;
			items[k].busy = st->base.busy;
			g_strlcpy(items[k].err, st->base.err, sizeof(items[k].err));
		}
	return -1;
}

/* Open attempts can only be among the newest rows (those in flight when
 * scand stopped): the window bounds the start-up scan of a large store. */
#define STORE_RECOVER_WINDOW 100000

static int sq_recover_open(struct store *base, int *n)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = NULL;

	*n = 0;
	st->base.busy = false;
	if (sqlite3_prepare_v2(
	        st->db,
	        "UPDATE msgs SET attempt = 'deferred' WHERE id > (SELECT coalesce(max(id), 0) FROM msgs) "
	        "- ?1 AND attempt = 'open' AND (quar_path IS NOT NULL OR mail_id IN "
	        "(SELECT mail_id FROM outbox WHERE state = 'held'))",
	        -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, "prepare recover");
	sqlite3_bind_int64(s, 1, STORE_RECOVER_WINDOW);
	if (store_step_done(st, st->begin, "begin") < 0)
		goto fail;
	if (store_step_done(st, s, "recover msgs") < 0)
		goto fail;
	*n = sqlite3_changes(st->db);
	if (store_exec(
	        st,
	        "UPDATE outbox SET state = 'cancelled', last_error = 'attempt deferred (left open by a "
	        "stopped scand)' WHERE state = 'held'",
	        "recover outbox") < 0 ||
	    store_step_done(st, st->commit, "commit") < 0)
		goto fail;
	sqlite3_finalize(s);
	return 0;
fail:
	sqlite3_finalize(s);
	store_abort(st);
	*n = 0;
	return -1;
}

static char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? g_strdup((const char *)t) : NULL;
}

static struct store_msg *store_row_msg(sqlite3_stmt *s)
{
	struct store_msg *m = g_new0(struct store_msg, 1);
	int i = 0;
	m->id = sqlite3_column_int64(s, i++);
	g_strlcpy(m->mail_id, (const char *)sqlite3_column_text(s, i++), sizeof(m->mail_id));
	m->time = sqlite3_column_int64(s, i++);
	m->client_addr = col_text(s, i++);
	m->client_name = col_text(s, i++);
	m->client_helo = col_text(s, i++);
	m->sender = col_text(s, i++);
	m->from_hdr = col_text(s, i++);
	m->subject = col_text(s, i++);
	m->message_id = col_text(s, i++);
	m->size = sqlite3_column_int64(s, i++);
	m->category = col_text(s, i++);
	m->virus_names = col_text(s, i++);
	m->banned_names = col_text(s, i++);
	m->spam_checked = sqlite3_column_type(s, i) != SQLITE_NULL;
	m->spam_score = sqlite3_column_double(s, i++);
	m->spam_tests = col_text(s, i++);
	m->unchecked_reason = col_text(s, i++);
	m->quar_path = col_text(s, i++);
	m->quar_size = sqlite3_column_int64(s, i++);
	m->quar_sha256 = col_text(s, i++);
	m->quar_state = col_text(s, i++);
	m->scan_ms = sqlite3_column_int64(s, i++);
	m->policy = col_text(s, i++);
	m->engine = col_text(s, i++);
	m->attempt = col_text(s, i++);
	m->dsn_ret = col_text(s, i++);
	m->dsn_envid = col_text(s, i++);
	m->quar_backend = col_text(s, i++);
	m->host = col_text(s, i++);
	return m;
}

static int store_load_rcpts(struct sq *st, struct store_msg *m)
{
	sqlite3_stmt *s = st->get_rcpts;
	GArray *a = g_array_new(FALSE, TRUE, sizeof(struct store_rcpt));
	int rc;

	sqlite3_bind_int64(s, 1, m->id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_rcpt r = {
			.addr = col_text(s, 0),
			.destiny = col_text(s, 1),
			.smtp_answer = col_text(s, 2),
			.released_at = sqlite3_column_int64(s, 3),
			.release_answer = col_text(s, 4),
			.dsn_notify = col_text(s, 5),
			.dsn_orcpt = col_text(s, 6),
			.deleted_at = sqlite3_column_int64(s, 7),
			.list_entry = col_text(s, 8),
		};
		g_array_append_val(a, r);
	}
	sqlite3_reset(s);
	m->nrcpt = a->len;
	m->rcpt = (struct store_rcpt *)g_array_free(a, FALSE);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "select msgrcpt");
}

static int sq_get(struct store *base, const char *mail_id, struct store_msg **out)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = st->get_msg;
	int rc;

	*out = NULL;
	bind_text(s, 1, mail_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = store_row_msg(s);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return store_fail(st, "select msgs");
	if (store_load_rcpts(st, *out) < 0) {
		store_msg_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* The filter is one fixed statement: a NULL parameter disables its clause,
 * so nothing is ever pasted into SQL. Globs use SQLite's GLOB ('*', '?'),
 * matched case-insensitively through lower(). */
static const char list_sql[] =
    "SELECT id, " MSG_COLS " FROM msgs m WHERE "
    "(?1 IS NULL OR category = ?1) AND (?2 IS NULL OR time >= ?2) AND (?3 IS NULL OR time < ?3) AND "
    "(?4 IS NULL OR lower(sender) GLOB lower(?4)) AND "
    "(?5 IS NULL OR EXISTS (SELECT 1 FROM msgrcpt r WHERE r.msg = m.id AND lower(r.addr) GLOB lower(?5))) "
    "AND "
    "(?6 IS NULL OR lower(subject) GLOB lower(?6)) AND (?7 IS NULL OR lower(virus_names) GLOB lower(?7)) AND "
    "(?8 IS NULL OR quar_state = ?8) "
    "ORDER BY time DESC, id DESC LIMIT ?9 OFFSET ?10";

static int sq_list(struct store *base, const struct store_filter *f,
	       int (*fn)(const struct store_msg *m, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s;
	int rc, n = 0;

	if (sqlite3_prepare_v2(st->db, list_sql, -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, "prepare list");
	bind_text_or_null(s, 1, f->category);
	if (f->since)
		sqlite3_bind_int64(s, 2, f->since);
	if (f->until)
		sqlite3_bind_int64(s, 3, f->until);
	bind_text_or_null(s, 4, f->sender);
	bind_text_or_null(s, 5, f->rcpt);
	bind_text_or_null(s, 6, f->subject);
	bind_text_or_null(s, 7, f->virus);
	bind_text_or_null(s, 8, f->quar_state);
	sqlite3_bind_int64(s, 9, f->limit > 0 ? f->limit : -1);
	sqlite3_bind_int64(s, 10, f->offset);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_msg *m = store_row_msg(s);
		int stop;
		if (store_load_rcpts(st, m) < 0) {
			store_msg_free(m);
			sqlite3_finalize(s);
			return -1;
		}
		n++;
		stop = fn ? fn(m, arg) : 0;
		store_msg_free(m);
		if (stop) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, "list");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return n;
}

static int sq_event(struct store *base, const char *mail_id, const char *action, const char *who,
		const char *detail, const char *result)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = st->ins_event;
	sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
	bind_text(s, 2, mail_id);
	bind_text(s, 3, action);
	bind_text(s, 4, who);
	bind_text(s, 5, detail);
	bind_text(s, 6, result);
	bind_text(s, 7, st->base.host);
	return store_step_done(st, s, "insert event");
}

/* A one-off UPDATE that must change a row: 0, 1 when no row matched, -1. */
static int store_update_one(struct sq *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, what);
	return sqlite3_changes(st->db) > 0 ? 0 : 1;
}

static int sq_set_quar_state(struct store *base, const char *mail_id, const char *state)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "UPDATE msgs SET quar_state = ?1 WHERE mail_id = ?2", -1, &s, NULL) !=
	    SQLITE_OK)
		return store_fail(st, "prepare quar_state");
	bind_text(s, 1, state);
	bind_text(s, 2, mail_id);
	return store_update_one(st, s, "update quar_state");
}

static int sq_mark_rcpt_released(struct store *base, int64_t msg_rowid, const char *addr, int64_t when,
			     const char *answer)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "UPDATE msgrcpt SET released_at = ?1, release_answer = ?2 "
			       "WHERE msg = ?3 AND addr = ?4",
			       -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, "prepare released_at");
	sqlite3_bind_int64(s, 1, when);
	bind_text(s, 2, answer);
	sqlite3_bind_int64(s, 3, msg_rowid);
	bind_text(s, 4, addr);
	return store_update_one(st, s, "update released_at");
}


/* ---- statements prepared on first use ---- */

/* The statement which, reset and without bindings, for a backend call that
 * starts: st->base.busy cleared (also after a failed prepare, as before);
 * NULL with st->base.err. */
static sqlite3_stmt *sq_lazy(struct sq *st, int which)
{
	if (!st->lazy[which] &&
	    sqlite3_prepare_v3(st->db, sq_lazy_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &st->lazy[which], NULL) !=
	        SQLITE_OK)
		store_fail(st, "prepare"); /* leaves st->lazy[which] NULL */
	st->base.busy = false;
	return st->lazy[which];
}

/* Steps s, handing each row to row(s, ctx) until it returns non-zero, then
 * resets s and its bindings: the number of rows handed, or -1 with
 * st->base.err. */
static int sq_each(struct sq *st, sqlite3_stmt *s, const char *what, int (*row)(sqlite3_stmt *s, void *ctx),
                   void *ctx)
{
	int rc, n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (row(s, ctx)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		store_fail(st, what);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? n : -1;
}

/* A caller's callback, for the sq_each row functions that hand it a row. */
struct sq_cb {
	union {
		int (*quar_stat)(const struct store_quar_stat *q, void *arg);
		int (*outbox_row)(const struct store_outbox_row *r, void *arg);
		int (*rrd_minute)(const struct store_rrd_minute *m, void *arg);
		int (*top)(const char *name, int64_t count, void *arg);
		int (*list)(const struct list_entry *e, void *arg);
		int (*stat)(const struct store_stat_row *row, void *arg);
	} fn;
	void *arg;
};

/* An sq_each row for one-row SELECTs: the leading integer columns into the
 * NULL-terminated int64_t *ctx[]; stops after the first row. */
static int sq_row_ints(sqlite3_stmt *s, void *ctx)
{
	int64_t **v = ctx;
	for (int i = 0; v[i]; i++)
		*v[i] = sqlite3_column_int64(s, i);
	return 1;
}

/* Steps a one-row SELECT whose first column is a count: the count, or -1. */
static int64_t sq_count_step(struct sq *st, sqlite3_stmt *s, const char *what)
{
	int64_t n = -1, *v[] = {&n, NULL};
	if (sq_each(st, s, what, sq_row_ints, v) == 0)
		store_fail(st, what);
	return n;
}

/* Steps a write that must change one row: 0, 1 when none matched, -1. */
static int sq_change_one(struct sq *st, sqlite3_stmt *s, const char *what)
{
	if (store_step_done(st, s, what) < 0)
		return -1;
	return sqlite3_changes(st->db) > 0 ? 0 : 1;
}

static const char *sq_col(sqlite3_stmt *s, int i)
{
	const char *v = (const char *)sqlite3_column_text(s, i);
	return v ? v : "";
}

/* ---- answers, counts ---- */

static int sq_put_answers(struct store *base, const struct store_answers *a, size_t n)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_ANSWER);
	if (!s || store_step_done(st, st->begin, "begin") < 0)
		return -1;
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < a[k].n; i++) {
			bind_text(s, 1, a[k].answer[i]);
			bind_text(s, 2, a[k].destiny[i]);
			sqlite3_bind_int64(s, 3, (int64_t)i);
			bind_text(s, 4, a[k].mail_id);
			if (store_step_done(st, s, "update msgrcpt") < 0)
				goto fail;
		}
		/* a no-op for an attempt settled before its answer */
		if (sq_settle_rows(&st->base, a[k].mail_id, a[k].outcome, false, NULL, 0) < 0)
			goto fail;
	}
	if (store_step_done(st, st->commit, "commit") == 0)
		return 0;
fail:
	store_abort(st);
	return -1;
}

static int64_t sq_count(struct store *base, const struct store_filter *f)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_COUNT + (f->category ? 1 : 0) + (f->quar_state ? 2 : 0));
	const char *v[] = {f->category, f->quar_state, f->sender, f->rcpt, f->subject, f->virus};
	if (!s)
		return -1;
	for (int i = 0; i < 6; i++)
		bind_text_or_null(s, i + 1, v[i]);
	if (f->since)
		sqlite3_bind_int64(s, 7, f->since);
	if (f->until)
		sqlite3_bind_int64(s, 8, f->until);
	return sq_count_step(st, s, "count");
}

/* ---- quarantine checks ---- */

static int sq_purge_missing(struct store *base, const char *mail_id, const char *was)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_PURGE_MISSING);
	if (!s)
		return -1;
	bind_text(s, 1, mail_id);
	bind_text(s, 2, was);
	return sq_change_one(st, s, "mark purged"); /* 1: its state changed meanwhile */
}

static void sq_quar_file_free(gpointer p)
{
	struct store_quar_file *f = p;
	g_free((char *)f->mail_id);
	g_free((char *)f->relpath);
	g_free((char *)f->sha256);
	g_free((char *)f->state);
	g_free((char *)f->backend);
	g_free(f);
}

static int sq_quar_file_row(sqlite3_stmt *s, void *rows)
{
	struct store_quar_file *f = g_new0(struct store_quar_file, 1);
	f->mail_id = g_strdup(sq_col(s, 0));
	f->relpath = g_strdup(sq_col(s, 1));
	f->sha256 = g_strdup(sq_col(s, 2));
	f->state = g_strdup(sq_col(s, 3));
	f->size = sqlite3_column_int64(s, 4);
	f->backend = g_strdup(sq_col(s, 5));
	g_ptr_array_add(rows, f);
	return 0;
}

static int sq_quar_files(struct store *base, int (*fn)(const struct store_quar_file *f, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_QUAR_FILES);

	if (!s)
		return -1;
	/* all rows first: fn may write (fsck --fix) once the SELECT is done */
	GPtrArray *rows = g_ptr_array_new_with_free_func(sq_quar_file_free);
	int n = sq_each(st, s, "select quarantine files", sq_quar_file_row, rows);
	for (guint i = 0; n >= 0 && i < rows->len; i++)
		if (fn && fn(rows->pdata[i], arg))
			break;
	g_ptr_array_free(rows, TRUE);
	return n;
}

static int sq_quar_path_kept(struct store *base, const char *relpath)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_QUAR_KEPT);
	int64_t *none[] = {NULL};
	if (!s)
		return -1;
	bind_text(s, 1, relpath);
	return sq_each(st, s, "select quar_path", sq_row_ints, none); /* 1, 0 or -1 */
}

static int sq_blob_row(sqlite3_stmt *s, void *ctx)
{
	GBytes **out = ctx;
	*out = g_bytes_new(sqlite3_column_blob(s, 0), (gsize)sqlite3_column_bytes(s, 0));
	return 1;
}

static int sq_quar_blob_get(struct store *base, const char *mail_id, void **data, size_t *len)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_BLOB_GET);
	GBytes *b = NULL;
	if (!s)
		return -1;
	bind_text(s, 1, mail_id);
	if (sq_each(st, s, "select quar_blobs", sq_blob_row, &b) < 0)
		return -1;
	if (!b)
		return 1;
	gsize n;
	*data = g_bytes_unref_to_data(b, &n);
	*len = n;
	return 0;
}

static int sq_quar_blob_drop(struct store *base, const char *mail_id)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_BLOB_DROP);
	if (!s)
		return -1;
	bind_text(s, 1, mail_id);
	return sq_change_one(st, s, "delete quar_blobs");
}

static int sq_quar_stat_row(sqlite3_stmt *s, void *ctx)
{
	const struct sq_cb *c = ctx;
	struct store_quar_stat q = {.category = sq_col(s, 0),
	                            .state = sq_col(s, 1),
	                            .count = sqlite3_column_int64(s, 2),
	                            .bytes = sqlite3_column_int64(s, 3)};
	return c->fn.quar_stat(&q, c->arg);
}

static int sq_quar_stats(struct store *base, int (*fn)(const struct store_quar_stat *q, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_QUAR_STATS);
	struct sq_cb c = {.fn.quar_stat = fn, .arg = arg};
	if (!s)
		return -1;
	return sq_each(st, s, "quarantine stats", sq_quar_stat_row, &c) < 0 ? -1 : 0;
}

/* ---- the outbox ---- */

static int sq_outbox_queue(struct store *base, const char *mail_id, const struct store_alert *a, size_t n,
                           int64_t now)
{
	struct sq *st = (struct sq *)base;
	st->base.busy = false;
	if (store_step_done(st, st->begin, "begin") < 0)
		return -1;
	if (store_alert_rows(st, mail_id, a, n, "pending", now) < 0 ||
	    store_step_done(st, st->commit, "commit") < 0) {
		store_abort(st);
		return -1;
	}
	return 0;
}

static int sq_outbox_due_row(sqlite3_stmt *s, void *ctx)
{
	const struct sq_cb *c = ctx;
	struct store_outbox_row r = {.id = sqlite3_column_int64(s, 0),
	                             .created = sqlite3_column_int64(s, 1),
	                             .mail_id = sq_col(s, 2),
	                             .kind = sq_col(s, 3),
	                             .rcpt = sq_col(s, 4),
	                             .body = sqlite3_column_blob(s, 5),
	                             .body_len = (size_t)sqlite3_column_bytes(s, 5),
	                             .attempts = sqlite3_column_int64(s, 6)};
	return c->fn.outbox_row(&r, c->arg);
}

static int sq_outbox_due(struct store *base, int64_t now, int limit,
                         int (*fn)(const struct store_outbox_row *r, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_OB_DUE);
	struct sq_cb c = {.fn.outbox_row = fn, .arg = arg};
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, limit);
	return sq_each(st, s, "select due", sq_outbox_due_row, &c);
}

static int sq_outbox_claim(struct store *base, int64_t id, int64_t due_by, int64_t next_try)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_OB_CLAIM);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, next_try);
	sqlite3_bind_int64(s, 3, due_by);
	return sq_change_one(st, s, "claim");
}

static int sq_outbox_sent(struct store *base, int64_t id, int64_t when)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_OB_SENT);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, when);
	return store_step_done(st, s, "mark sent");
}

static int sq_outbox_retry(struct store *base, int64_t id, int64_t next_try, const char *why)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_OB_RETRY);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, next_try);
	bind_text(s, 3, why);
	return store_step_done(st, s, "mark retry");
}

static int sq_outbox_failed(struct store *base, int64_t id, const char *why)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_OB_FAILED);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, why);
	return store_step_done(st, s, "mark failed");
}

static int64_t sq_outbox_count(struct sq *st, int which, const char *rcpt, int64_t since)
{
	sqlite3_stmt *s = sq_lazy(st, which);
	if (!s)
		return -1;
	bind_text(s, 1, rcpt);
	sqlite3_bind_int64(s, 2, since);
	return sq_count_step(st, s, "count outbox");
}

static int64_t sq_outbox_count_sent_admin(struct store *base, const char *rcpt, int64_t since)
{
	return sq_outbox_count((struct sq *)base, SQ_OB_SENT_ADMIN, rcpt, since);
}

static int64_t sq_outbox_count_summaries(struct store *base, const char *rcpt, int64_t since)
{
	return sq_outbox_count((struct sq *)base, SQ_OB_SUMMARIES, rcpt, since);
}

static int sq_outbox_fold(struct store *base, const char *rcpt, const void *body, size_t len, int64_t now,
                          const int64_t *ids, size_t nids, int64_t *summary_id)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *ins = sq_lazy(st, SQ_OB_SUMMARY), *fold = sq_lazy(st, SQ_OB_FOLDED);
	if (!ins || !fold || store_step_done(st, st->begin, "begin") < 0)
		return -1;
	sqlite3_bind_int64(ins, 1, now);
	bind_text(ins, 2, rcpt);
	sqlite3_bind_blob64(ins, 3, body, len, SQLITE_TRANSIENT);
	bind_text(ins, 4, st->base.host);
	if (store_step_done(st, ins, "insert summary") < 0)
		goto fail;
	*summary_id = sqlite3_last_insert_rowid(st->db);
	char note[64];
	g_snprintf(note, sizeof(note), "folded into summary %lld", (long long)*summary_id);
	for (size_t i = 0; i < nids; i++) {
		sqlite3_bind_int64(fold, 1, ids[i]);
		bind_text(fold, 2, note);
		if (store_step_done(st, fold, "mark folded") < 0)
			goto fail;
	}
	if (store_step_done(st, st->commit, "commit") == 0)
		return 0;
fail:
	store_abort(st);
	return -1;
}

/* ---- scand-report's RRD ---- */

static int sq_msgs_bounds(struct store *base, int64_t *oldest_time, int64_t *high_id)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_BOUNDS);
	int64_t *v[] = {oldest_time, high_id, NULL};
	if (!s)
		return -1;
	int n = sq_each(st, s, "select bounds", sq_row_ints, v);
	if (n == 0)
		store_fail(st, "select bounds");
	return n == 1 ? 0 : -1;
}

static int sq_rrd_minute_row(sqlite3_stmt *s, void *ctx)
{
	const struct sq_cb *c = ctx;
	struct store_rrd_minute m = {.minute = sqlite3_column_int64(s, 0),
	                             .category = sq_col(s, 1),
	                             .count = sqlite3_column_int64(s, 2),
	                             .passed = sqlite3_column_int64(s, 3),
	                             .blocked = sqlite3_column_int64(s, 4),
	                             .host = sq_col(s, 5)};
	return c->fn.rrd_minute(&m, c->arg);
}

static int sq_rrd_minutes(struct store *base, int64_t t0, int64_t t1, int64_t id0, int64_t id1,
                          int (*fn)(const struct store_rrd_minute *m, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_RRD_MINUTES);
	struct sq_cb c = {.fn.rrd_minute = fn, .arg = arg};
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, t0);
	sqlite3_bind_int64(s, 2, t1);
	sqlite3_bind_int64(s, 3, id0);
	sqlite3_bind_int64(s, 4, id1);
	return sq_each(st, s, "select minutes", sq_rrd_minute_row, &c) < 0 ? -1 : 0;
}

static int sq_rrd_state_get(struct store *base, const char *path, int64_t *last_minute, int64_t *last_id)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_RRD_GET);
	int64_t *v[] = {last_minute, last_id, NULL};
	if (!s)
		return -1;
	bind_text(s, 1, path);
	int n = sq_each(st, s, "select state", sq_row_ints, v);
	return n == 1 ? 0 : n == 0 ? 1 : -1;
}

static int sq_rrd_state_put(struct store *base, const char *path, int64_t last_minute, int64_t last_id)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_RRD_PUT);
	if (!s)
		return -1;
	bind_text(s, 1, path);
	sqlite3_bind_int64(s, 2, last_minute);
	sqlite3_bind_int64(s, 3, last_id);
	return store_step_done(st, s, "save state");
}

/* ---- allow and block lists ---- */

static int sq_list_add(struct store *base, const struct list_entry *e, const char *pkey, int64_t *id)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_LIST_ADD);
	int64_t *v[] = {id, NULL};
	if (!s)
		return -1;
	bind_text(s, 1, e->scope);
	bind_text(s, 2, list_kind_name(e->kind));
	bind_text(s, 3, e->pattern);
	bind_text(s, 4, pkey);
	bind_text(s, 5, e->note);
	bind_text(s, 6, e->created_by);
	sqlite3_bind_int64(s, 7, e->created_at);
	sqlite3_bind_int64(s, 8, e->expires);
	return sq_each(st, s, "insert list entry", sq_row_ints, v) == 1 ? 0 : -1;
}

static int sq_list_add_many(struct store *base, const struct list_entry *e, char *const *pkeys, size_t n)
{
	struct sq *st = (struct sq *)base;
	int64_t id;
	st->base.busy = false;
	if (store_step_done(st, st->begin, "begin") < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (sq_list_add(base, &e[i], pkeys[i], &id) < 0)
			goto fail;
	if (store_step_done(st, st->commit, "commit") == 0)
		return 0;
fail:
	store_abort(st);
	return -1;
}

static int sq_list_del(struct store *base, int64_t id)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_LIST_DEL);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return sq_change_one(st, s, "delete list entry");
}

static int sq_list_row(sqlite3_stmt *s, void *ctx)
{
	const struct sq_cb *c = ctx;
	struct list_entry e = {.id = sqlite3_column_int64(s, 0),
	                       .scope = (char *)sq_col(s, 1),
	                       .kind = strcmp(sq_col(s, 2), "block") == 0 ? LIST_BLOCK : LIST_ALLOW,
	                       .pattern = (char *)sq_col(s, 3),
	                       .note = (char *)sq_col(s, 4),
	                       .created_by = (char *)sq_col(s, 5),
	                       .created_at = sqlite3_column_int64(s, 6),
	                       .expires = sqlite3_column_int64(s, 7)};
	return c->fn.list ? c->fn.list(&e, c->arg) : 0;
}

static int sq_list_query(struct store *base, const char *scope, int64_t id,
                         int (*fn)(const struct list_entry *e, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_LIST_QUERY);
	struct sq_cb c = {.fn.list = fn, .arg = arg};
	if (!s)
		return -1;
	bind_text_or_null(s, 1, scope);
	if (id > 0)
		sqlite3_bind_int64(s, 2, id);
	return sq_each(st, s, "select lists", sq_list_row, &c);
}

static int sq_list_probe(struct store *base, const struct list_probe *p, int64_t now,
                         int (*fn)(const struct list_entry *e, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_LIST_PROBE);
	struct sq_cb c = {.fn.list = fn, .arg = arg};
	if (!s || p->nscopes < 1 || p->nkeys < 1)
		return s ? 0 : -1;
	if (!st->mapped) {
		/* a handle that looks lists up (each scand worker's) reads the
		 * file through a shared memory map: the probes touch pages all
		 * over a large index, and the OS page cache then serves every
		 * handle without a copy or a system call per page */
		st->mapped = true;
		if (store_exec(st, "PRAGMA mmap_size = 1073741824", "mmap_size") < 0)
			return -1;
	}
	for (int i = 0; i < LIST_PROBE_MAX; i++) {
		/* SQLite drops repeated IN values: padding costs no probe */
		sqlite3_bind_text(s, 1 + i, p->scopes[MIN(i, p->nscopes - 1)], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 11 + i, p->keys[MIN(i, p->nkeys - 1)], -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(s, 21, now);
	return sq_each(st, s, "list lookup", sq_list_row, &c);
}

static int sq_report_top_row(sqlite3_stmt *s, void *ctx)
{
	const struct sq_cb *c = ctx;
	return c->fn.top(sq_col(s, 0), sqlite3_column_int64(s, 1), c->arg);
}

static int sq_report_top(struct store *base, enum store_top which, int64_t since, int64_t until, int top,
                         int (*fn)(const char *name, int64_t count, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_TOP + (int)which);
	struct sq_cb c = {.fn.top = fn, .arg = arg};
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, since);
	sqlite3_bind_int64(s, 2, until);
	sqlite3_bind_int64(s, 3, top);
	return sq_each(st, s, "query", sq_report_top_row, &c) < 0 ? -1 : 0;
}

/* ---- scand-report's totals ---- */

static int sq_report_stat_row(sqlite3_stmt *s, void *ctx)
{
	const struct sq_cb *c = ctx;
	struct store_stat_row r = {.name = sq_col(s, 0)};
	for (int i = 1; i < sqlite3_column_count(s) && i <= STORE_STAT_MAXV; i++)
		r.v[i - 1] = sqlite3_column_int64(s, i);
	return c->fn.stat(&r, c->arg);
}

static int sq_report_stat(struct store *base, enum store_stat which, int64_t since, int64_t until,
                          int (*fn)(const struct store_stat_row *row, void *arg), void *arg)
{
	struct sq *st = (struct sq *)base;
	sqlite3_stmt *s = sq_lazy(st, SQ_STAT + (int)which);
	struct sq_cb c = {.fn.stat = fn, .arg = arg};
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, since);
	sqlite3_bind_int64(s, 2, until);
	return sq_each(st, s, "report query", sq_report_stat_row, &c) < 0 ? -1 : 0;
}

/* A deferred read transaction: the snapshot starts at the first read. */
static int sq_report_begin(struct store *base)
{
	struct sq *st = (struct sq *)base;
	st->base.busy = false;
	return store_exec(st, "BEGIN", "report: begin");
}

static int sq_report_end(struct store *base)
{
	struct sq *st = (struct sq *)base;
	if (sqlite3_get_autocommit(st->db))
		return 0;
	return store_exec(st, "COMMIT", "report: end");
}

const struct store_report_ops store_sqlite_report = {
    .be = &store_backend_sqlite,
    .stat = sq_report_stat,
    .begin = sq_report_begin,
    .end = sq_report_end,
};

const struct store_backend store_backend_sqlite = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .version = sq_version,
    .put = sq_put,
    .put_many = sq_put_many,
    .settle_rows = sq_settle_rows,
    .recover_open = sq_recover_open,
    .put_answers = sq_put_answers,
    .get = sq_get,
    .list = sq_list,
    .count = sq_count,
    .event = sq_event,
    .set_quar_state = sq_set_quar_state,
    .mark_rcpt_released = sq_mark_rcpt_released,
    .purge_missing = sq_purge_missing,
    .quar_files = sq_quar_files,
    .quar_path_kept = sq_quar_path_kept,
    .quar_blob_get = sq_quar_blob_get,
    .quar_blob_drop = sq_quar_blob_drop,
    .quar_stats = sq_quar_stats,
    .outbox_queue = sq_outbox_queue,
    .outbox_due = sq_outbox_due,
    .outbox_claim = sq_outbox_claim,
    .outbox_sent = sq_outbox_sent,
    .outbox_retry = sq_outbox_retry,
    .outbox_failed = sq_outbox_failed,
    .outbox_count_sent_admin = sq_outbox_count_sent_admin,
    .outbox_count_summaries = sq_outbox_count_summaries,
    .outbox_fold = sq_outbox_fold,
    .msgs_bounds = sq_msgs_bounds,
    .rrd_minutes = sq_rrd_minutes,
    .rrd_state_get = sq_rrd_state_get,
    .rrd_state_put = sq_rrd_state_put,
    .list_add = sq_list_add,
    .list_add_many = sq_list_add_many,
    .list_del = sq_list_del,
    .list_query = sq_list_query,
    .list_probe = sq_list_probe,
    .report_top = sq_report_top,
    .digest = &store_sqlite_digest,
};
