/*
 * store_pg_aux - the PostgreSQL store: outbox, report and digest (the lists:
 * store_pg_lists.c)
 * (see store.h for each op's contract, store_pg.h for the helpers)
 *
 * Every op has the semantics of its SQLite twin (store_sqlite.c,
 * store_sqlite_digest.c); where the SQL differs it says why. Statements
 * are constant, prepared once per connection (names "aux_*", apart from
 * store_pg.c's), parameters $1..$N. Text that SQLite orders byte-wise
 * (BINARY) is ordered COLLATE "C" here, so both backends list the same
 * rows in the same order whatever the database's locale.
 *
 * Several senders on one database (scand's thread on each host, a manual
 * send-pending): a row is claimed by one UPDATE that re-checks it is still
 * pending and due, on the row locked FOR UPDATE SKIP LOCKED: a sender
 * whose rival holds the row at that instant moves on at once instead of
 * waiting, and one that comes after sees next_try moved ahead (READ
 * COMMITTED re-reads the locked row) and gets 1. So each due row is
 * claimed by exactly one sender until its claim expires (retry_min).
 *
 * Invariants: a multi-statement op is one transaction (spg_begin/commit),
 * rolled back on any failure with the first error kept; the digest queue
 * runs under a transaction advisory lock, so concurrent runs on several
 * hosts queue a period's digest once (SQLite: BEGIN IMMEDIATE).
 */
#include "store_pg.h"
#include "store_report_sql.h"

#include <glib.h>
#include <string.h>

/* The digest queue's transaction lock (store_pg_schema.h has the
 * migrations' 0x47485343 "GHSC"): "GHDG". */
#define SPG_DIGEST_LOCK "1195918407"

#define SPG_STMT(id, text) static const struct pgc_stmt id = {"aux_" #id, text}

/* ---- the outbox ---- */

SPG_STMT(ob_insert, "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try, state, host) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $1, 'pending', $7)");
SPG_STMT(ob_due, "SELECT id, created, mail_id, kind, rcpt, body, attempts FROM outbox "
                 "WHERE state = 'pending' AND next_try <= $1 ORDER BY id LIMIT $2");
/* the row is locked while this statement changes it: a rival holding it
 * is skipped, not waited for; the conditions are re-checked on the locked
 * row, so a claim that lost the race changes nothing */
SPG_STMT(ob_claim, "UPDATE outbox SET next_try = $2 WHERE id IN (SELECT id FROM outbox WHERE id = $1 "
                   "AND state = 'pending' AND next_try <= $3 FOR UPDATE SKIP LOCKED)");
SPG_STMT(ob_sent, "UPDATE outbox SET state = 'sent', sent_at = $2, attempts = attempts + 1, last_error = '' "
                  "WHERE id = $1");
SPG_STMT(ob_retry, "UPDATE outbox SET attempts = attempts + 1, next_try = $2, last_error = $3 WHERE id = $1");
SPG_STMT(ob_failed, "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1");
/* ILIKE: SQLite's LIKE ignores ASCII case */
SPG_STMT(ob_sent_admin, "SELECT count(*) FROM outbox WHERE rcpt = $1 AND kind ILIKE '%-admin' "
                        "AND state = 'sent' AND sent_at > $2");
SPG_STMT(ob_summaries, "SELECT count(*) FROM outbox WHERE rcpt = $1 AND kind = 'admin-summary' AND created > $2");
SPG_STMT(ob_summary, "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try, host) "
                     "VALUES ($1, '', 'admin-summary', '', $2, $3, $1, $4) RETURNING id");
SPG_STMT(ob_folded, "UPDATE outbox SET state = 'sent', last_error = $2 WHERE id = $1 AND state = 'pending'");

/* One outbox row (state pending, due at now) inside the caller's
 * transaction: 0 or -1. */
static int spg_outbox_row(struct spg *st, const char *mail_id, const struct store_alert *a, int64_t now)
{
	struct spg_args p = {0};
	spg_arg_i64(&p, now);
	spg_arg_str(&p, mail_id ? mail_id : "");
	spg_arg_str(&p, a->kind ? a->kind : "");
	spg_arg_str(&p, a->env_from ? a->env_from : "");
	spg_arg_str(&p, a->rcpt ? a->rcpt : "");
	spg_arg_bin(&p, a->body, a->body_len);
	spg_arg_str(&p, st->base.host);
	return spg_do(st, &ob_insert, &p, "insert outbox") < 0 ? -1 : 0;
}

int spg_outbox_queue(struct store *base, const char *mail_id, const struct store_alert *a, size_t n, int64_t now)
{
	struct spg *st = (struct spg *)base;
	if (spg_begin(st) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (spg_outbox_row(st, mail_id, &a[i], now) < 0)
			return spg_abort(st);
	return spg_commit(st);
}

static int spg_outbox_due_row(const PGresult *r, int i, void *ctx)
{
	const struct spg_cb *c = ctx;
	size_t len = 0;
	void *body = spg_bytea(r, i, 5, &len);
	struct store_outbox_row o = {.id = spg_i64(r, i, 0),
	                             .created = spg_i64(r, i, 1),
	                             .mail_id = spg_str(r, i, 2),
	                             .kind = spg_str(r, i, 3),
	                             .rcpt = spg_str(r, i, 4),
	                             .body = body ? body : "",
	                             .body_len = len,
	                             .attempts = spg_i64(r, i, 6)};
	int stop = c->fn.outbox_row(&o, c->arg);
	g_free(body);
	return stop;
}

int spg_outbox_due(struct store *base, int64_t now, int limit, int (*fn)(const struct store_outbox_row *r, void *arg),
                   void *arg)
{
	struct spg *st = (struct spg *)base;
	struct spg_cb c = {.fn.outbox_row = fn, .arg = arg};
	struct spg_args p = {0};
	spg_arg_i64(&p, now);
	spg_arg_i64(&p, limit);
	return spg_each(st, &ob_due, &p, "select due", spg_outbox_due_row, &c);
}

int spg_outbox_claim(struct store *base, int64_t id, int64_t due_by, int64_t next_try)
{
	struct spg_args p = {0};
	spg_arg_i64(&p, id);
	spg_arg_i64(&p, next_try);
	spg_arg_i64(&p, due_by);
	return spg_change_one((struct spg *)base, &ob_claim, &p, "claim");
}

int spg_outbox_sent(struct store *base, int64_t id, int64_t when)
{
	struct spg_args p = {0};
	spg_arg_i64(&p, id);
	spg_arg_i64(&p, when);
	return spg_do((struct spg *)base, &ob_sent, &p, "mark sent") < 0 ? -1 : 0;
}

int spg_outbox_retry(struct store *base, int64_t id, int64_t next_try, const char *why)
{
	struct spg_args p = {0};
	spg_arg_i64(&p, id);
	spg_arg_i64(&p, next_try);
	spg_arg_str(&p, why ? why : "");
	return spg_do((struct spg *)base, &ob_retry, &p, "mark retry") < 0 ? -1 : 0;
}

int spg_outbox_failed(struct store *base, int64_t id, const char *why)
{
	struct spg_args p = {0};
	spg_arg_i64(&p, id);
	spg_arg_str(&p, why ? why : "");
	return spg_do((struct spg *)base, &ob_failed, &p, "mark failed") < 0 ? -1 : 0;
}

static int64_t spg_outbox_count(struct spg *st, const struct pgc_stmt *s, const char *rcpt, int64_t since)
{
	int64_t n = -1;
	int64_t *v[] = {&n, NULL};
	struct spg_args p = {0};
	spg_arg_str(&p, rcpt ? rcpt : "");
	spg_arg_i64(&p, since);
	return spg_ints(st, s, &p, "count outbox", v) == 0 ? n : -1;
}

int64_t spg_outbox_count_sent_admin(struct store *base, const char *rcpt, int64_t since)
{
	return spg_outbox_count((struct spg *)base, &ob_sent_admin, rcpt, since);
}

int64_t spg_outbox_count_summaries(struct store *base, const char *rcpt, int64_t since)
{
	return spg_outbox_count((struct spg *)base, &ob_summaries, rcpt, since);
}

int spg_outbox_fold(struct store *base, const char *rcpt, const void *body, size_t len, int64_t now,
                    const int64_t *ids, size_t nids, int64_t *summary_id)
{
	struct spg *st = (struct spg *)base;
	int64_t *v[] = {summary_id, NULL};
	struct spg_args p = {0};
	spg_arg_i64(&p, now);
	spg_arg_str(&p, rcpt ? rcpt : "");
	spg_arg_bin(&p, body, len);
	spg_arg_str(&p, st->base.host);
	if (spg_begin(st) < 0)
		return -1;
	if (spg_ints(st, &ob_summary, &p, "insert summary", v) != 0)
		return spg_abort(st);
	char note[64];
	g_snprintf(note, sizeof(note), "folded into summary %lld", (long long)*summary_id);
	for (size_t i = 0; i < nids; i++) {
		struct spg_args f = {0};
		spg_arg_i64(&f, ids[i]);
		spg_arg_str(&f, note);
		if (spg_do(st, &ob_folded, &f, "mark folded") < 0)
			return spg_abort(st);
	}
	return spg_commit(st);
}

/* ---- scand-report's RRD ---- */

SPG_STMT(bounds, "SELECT coalesce((SELECT min(time) FROM msgs), -1), coalesce((SELECT max(id) FROM msgs), 0)");
SPG_STMT(rrd_minutes, STORE_RRD_MINUTES_SQL("$1", "$2", "$3", "$4"));
SPG_STMT(rrd_get, "SELECT last_minute, last_msg_id FROM report_rrd WHERE path = $1");
SPG_STMT(rrd_put, "INSERT INTO report_rrd (path, last_minute, last_msg_id) VALUES ($1, $2, $3) "
                  "ON CONFLICT (path) DO UPDATE SET last_minute = EXCLUDED.last_minute, "
                  "last_msg_id = EXCLUDED.last_msg_id");

int spg_msgs_bounds(struct store *base, int64_t *oldest_time, int64_t *high_id)
{
	int64_t *v[] = {oldest_time, high_id, NULL};
	int rc = spg_ints((struct spg *)base, &bounds, NULL, "select bounds", v);
	if (rc == 1)
		store_fail_set(base, false, "select bounds: no row");
	return rc == 0 ? 0 : -1;
}

static int spg_rrd_minute_row(const PGresult *r, int i, void *ctx)
{
	const struct spg_cb *c = ctx;
	struct store_rrd_minute m = {.minute = spg_i64(r, i, 0),
	                             .category = spg_str(r, i, 1),
	                             .count = spg_i64(r, i, 2),
	                             .passed = spg_i64(r, i, 3),
	                             .blocked = spg_i64(r, i, 4),
	                             .host = spg_str(r, i, 5)};
	return c->fn.rrd_minute(&m, c->arg);
}

int spg_rrd_minutes(struct store *base, int64_t t0, int64_t t1, int64_t id0, int64_t id1,
                    int (*fn)(const struct store_rrd_minute *m, void *arg), void *arg)
{
	struct spg_cb c = {.fn.rrd_minute = fn, .arg = arg};
	struct spg_args p = {0};
	spg_arg_i64(&p, t0);
	spg_arg_i64(&p, t1);
	spg_arg_i64(&p, id0);
	spg_arg_i64(&p, id1);
	return spg_each((struct spg *)base, &rrd_minutes, &p, "select minutes", spg_rrd_minute_row, &c) < 0 ? -1 : 0;
}

int spg_rrd_state_get(struct store *base, const char *path, int64_t *last_minute, int64_t *last_id)
{
	int64_t *v[] = {last_minute, last_id, NULL};
	struct spg_args p = {0};
	spg_arg_str(&p, path);
	return spg_ints((struct spg *)base, &rrd_get, &p, "select state", v);
}

int spg_rrd_state_put(struct store *base, const char *path, int64_t last_minute, int64_t last_id)
{
	struct spg_args p = {0};
	spg_arg_str(&p, path);
	spg_arg_i64(&p, last_minute);
	spg_arg_i64(&p, last_id);
	return spg_do((struct spg *)base, &rrd_put, &p, "save state") < 0 ? -1 : 0;
}

/* ---- scand-report's tables ---- */

/* The top tables: inner gives one name per counted row ("AS name");
 * $1 = since, $2 = until, $3 = top. */
#define SPG_TOP(inner)                                                                                       \
	"SELECT name, count(*) AS n FROM (" inner ") t GROUP BY name ORDER BY n DESC, name COLLATE \"C\" LIMIT $3"
/* the messages whose senders the spam tables count */
#define SPG_SPAM_MSGS "FROM msgs WHERE category IN ('spam', 'spammy') AND time >= $1 AND time < $2"
/* "a,b, c" split into trimmed names (SQLite walks it with a recursive
 * query and instr()); empty names do not count */
#define SPG_SPLIT(col, where)                                                                                \
	SPG_TOP("SELECT trim(x) AS name FROM msgs, unnest(string_to_array(" col ", ',')) AS x "              \
	        "WHERE time >= $1 AND time < $2 AND " where " AND trim(x) <> ''")

static const struct pgc_stmt spg_top_stmts[STORE_NTOP] = {
    [STORE_TOP_VIRUSES] = {"aux_top_viruses", SPG_SPLIT("virus_names", "category = 'virus' AND virus_names <> ''")},
    [STORE_TOP_BANNED] = {"aux_top_banned", SPG_SPLIT("banned_names", "banned_names <> ''")},
    [STORE_TOP_SPAM_SENDERS] = {"aux_top_spam_senders",
                                SPG_TOP("SELECT CASE sender WHEN '' THEN '<>' ELSE lower(sender) END AS name "
                                        SPG_SPAM_MSGS)},
    [STORE_TOP_SPAM_DOMAINS] = {"aux_top_spam_domains",
                                SPG_TOP("SELECT CASE WHEN strpos(sender, '@') = 0 THEN '<>' "
                                        "ELSE lower(substr(sender, strpos(sender, '@') + 1)) END AS name "
                                        SPG_SPAM_MSGS)},
    [STORE_TOP_SPAM_RCPTS] = {"aux_top_spam_rcpts",
                              SPG_TOP("SELECT lower(r.addr) AS name FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
                                      "WHERE m.category IN ('spam', 'spammy') AND m.time >= $1 AND m.time < $2")},
    [STORE_TOP_UNCHECKED] = {"aux_top_unchecked",
                             SPG_TOP("SELECT CASE unchecked_reason WHEN '' THEN '(no reason recorded)' "
                                     "ELSE unchecked_reason END AS name FROM msgs WHERE category = 'unchecked' "
                                     "AND time >= $1 AND time < $2")},
    [STORE_TOP_LIST_ENTRIES] = {"aux_top_list_entries",
                                SPG_TOP("SELECT r.list_entry AS name FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
                                        "WHERE r.list_entry <> '' AND m.time >= $1 AND m.time < $2")},
    [STORE_TOP_HOSTS] = {"aux_top_hosts", SPG_TOP("SELECT CASE host WHEN '' THEN '(unknown)' ELSE host END "
                                                  "AS name FROM msgs WHERE time >= $1 AND time < $2")},
};

static int spg_top_row(const PGresult *r, int i, void *ctx)
{
	const struct spg_cb *c = ctx;
	return c->fn.top(spg_str(r, i, 0), spg_i64(r, i, 1), c->arg);
}

int spg_report_top(struct store *base, enum store_top which, int64_t since, int64_t until, int top,
                   int (*fn)(const char *name, int64_t count, void *arg), void *arg)
{
	struct spg_cb c = {.fn.top = fn, .arg = arg};
	struct spg_args p = {0};
	spg_arg_i64(&p, since);
	spg_arg_i64(&p, until);
	spg_arg_i64(&p, top);
	return spg_each((struct spg *)base, &spg_top_stmts[which], &p, "query", spg_top_row, &c) < 0 ? -1 : 0;
}

static const struct pgc_stmt spg_stat_stmts[STORE_NSTAT] = {
    [STORE_STAT_CATEGORIES] = {"aux_stat_categories", STORE_STAT_CATEGORIES_SQL("$1", "$2")},
    [STORE_STAT_DESTINIES] = {"aux_stat_destinies", STORE_STAT_DESTINIES_SQL("$1", "$2")},
    [STORE_STAT_ROWS] = {"aux_stat_rows", STORE_STAT_ROWS_SQL("$1", "$2")},
    [STORE_STAT_DAYS] = {"aux_stat_days", STORE_STAT_DAYS_SQL("$1", "$2")},
    [STORE_STAT_BUSIEST_HOUR] = {"aux_stat_busiest_hour", STORE_STAT_BUSIEST_HOUR_SQL("$1", "$2")},
    [STORE_STAT_SCAN] = {"aux_stat_scan", STORE_STAT_SCAN_SQL("$1", "$2")},
};

static int spg_stat_row(const PGresult *r, int i, void *ctx)
{
	const struct spg_cb *c = ctx;
	struct store_stat_row row = {.name = spg_str(r, i, 0)};
	for (int k = 1; k < PQnfields(r) && k <= STORE_STAT_MAXV; k++)
		row.v[k - 1] = spg_i64(r, i, k); /* sums come as numeric: whole numbers */
	return c->fn.stat(&row, c->arg);
}

static int spg_report_stat(struct store *base, enum store_stat which, int64_t since, int64_t until,
                           int (*fn)(const struct store_stat_row *row, void *arg), void *arg)
{
	struct spg_cb c = {.fn.stat = fn, .arg = arg};
	struct spg_args p = {0};
	spg_arg_i64(&p, since);
	spg_arg_i64(&p, until);
	return spg_each((struct spg *)base, &spg_stat_stmts[which], &p, "report query", spg_stat_row, &c) < 0 ? -1
	                                                                                                       : 0;
}

/* One snapshot for all of a report's queries (SQLite: a read transaction). */
static int spg_report_begin(struct store *base)
{
	struct spg *st = (struct spg *)base;
	st->base.busy = false;
	if (pgc_cmd(st->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") < 0)
		return store_fail_set(base, false, "begin: %s", pgc_err(st->c));
	st->tx_gen = pgc_generation(st->c);
	st->in_tx = true;
	return 0;
}

static int spg_report_end(struct store *base)
{
	struct spg *st = (struct spg *)base;
	return st->in_tx ? spg_commit(st) : 0;
}

const struct store_report_ops store_pg_report = {
    .be = &store_backend_pg,
    .stat = spg_report_stat,
    .begin = spg_report_begin,
    .end = spg_report_end,
};

/* ---- the recipients' digest ---- */

/* the categories: one bound comma separated text (strpos is SQLite's instr) */
SPG_STMT(dg_items, "SELECT lower(r.addr), m.mail_id, m.sender, m.subject, m.category, m.time, m.size "
                   "FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
                   "WHERE m.quar_state = 'quarantined' AND m.attempt = 'final' AND m.time >= $1 "
                   "AND strpos(',' || $2::text || ',', ',' || m.category || ',') > 0 "
                   "AND r.destiny NOT IN ('pass', 'tempfail') AND r.released_at IS NULL AND r.deleted_at IS NULL "
                   "AND ($3::text IS NULL OR lower(r.addr) = lower($3::text)) "
                   "ORDER BY lower(r.addr) COLLATE \"C\", m.time DESC, m.id DESC");
SPG_STMT(dg_pref_set, "INSERT INTO digest_pref (target, frequency) VALUES (lower($1::text), $2) "
                      "ON CONFLICT (target) DO UPDATE SET frequency = EXCLUDED.frequency");
SPG_STMT(dg_pref_del, "DELETE FROM digest_pref WHERE target = lower($1::text)");
SPG_STMT(dg_prefs, "SELECT target, frequency FROM digest_pref ORDER BY target COLLATE \"C\"");
SPG_STMT(dg_last, "SELECT rcpt, max(time) FROM digest_sent WHERE $1::text IS NULL OR rcpt = lower($1::text) "
                  "GROUP BY rcpt ORDER BY rcpt COLLATE \"C\"");
SPG_STMT(dg_lock, "SELECT pg_advisory_xact_lock(" SPG_DIGEST_LOCK ")");
SPG_STMT(dg_seen, "SELECT 1 FROM digest_sent WHERE rcpt = lower($1::text) AND period = $2");
SPG_STMT(dg_outbox, "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try, state, host) "
                    "VALUES ($1, '', $2, $3, $4, $5, $1, 'pending', $6) RETURNING id");
SPG_STMT(dg_mark, "INSERT INTO digest_sent (rcpt, period, time, outbox_id, items) "
                  "VALUES (lower($1::text), $2, $3, $4, $5)");
SPG_STMT(dg_delete, "UPDATE msgrcpt SET deleted_at = $1 "
                    "WHERE msg = $2 AND lower(addr) = lower($3::text) AND deleted_at IS NULL");

static int spgd_item_row(const PGresult *r, int i, void *ctx)
{
	const struct spg_cb *c = ctx;
	struct store_digest_item it = {
	    .rcpt = spg_str(r, i, 0),
	    .mail_id = spg_str(r, i, 1),
	    .sender = spg_str(r, i, 2),
	    .subject = spg_str(r, i, 3),
	    .category = spg_str(r, i, 4),
	    .time = spg_i64(r, i, 5),
	    .size = spg_i64(r, i, 6),
	};
	return c->fn.digest_item(&it, c->arg);
}

static int spgd_items(struct store *base, const char *cats, int64_t since, const char *rcpt,
                      int (*fn)(const struct store_digest_item *it, void *arg), void *arg)
{
	struct spg_cb c = {.fn.digest_item = fn, .arg = arg};
	struct spg_args p = {0};
	spg_arg_i64(&p, since);
	spg_arg_str(&p, cats ? cats : "");
	spg_arg_str(&p, rcpt);
	return spg_each((struct spg *)base, &dg_items, &p, "digest items", spgd_item_row, &c);
}

static int spgd_pref_set(struct store *base, const char *target, const char *freq)
{
	struct spg_args p = {0};
	spg_arg_str(&p, target ? target : "");
	if (freq)
		spg_arg_str(&p, freq);
	return spg_do((struct spg *)base, freq ? &dg_pref_set : &dg_pref_del, &p, "digest_pref") < 0 ? -1 : 0;
}

static int spgd_pref_row(const PGresult *r, int i, void *ctx)
{
	const struct spg_cb *c = ctx;
	return c->fn.pref(spg_str(r, i, 0), spg_str(r, i, 1), c->arg);
}

static int spgd_prefs(struct store *base, int (*fn)(const char *target, const char *freq, void *arg), void *arg)
{
	struct spg_cb c = {.fn.pref = fn, .arg = arg};
	return spg_each((struct spg *)base, &dg_prefs, NULL, "digest_pref", spgd_pref_row, &c) < 0 ? -1 : 0;
}

static int spgd_last_row(const PGresult *r, int i, void *ctx)
{
	const struct spg_cb *c = ctx;
	return c->fn.last(spg_str(r, i, 0), spg_i64(r, i, 1), c->arg);
}

static int spgd_last(struct store *base, const char *rcpt, int (*fn)(const char *rcpt, int64_t last, void *arg),
                     void *arg)
{
	struct spg_cb c = {.fn.last = fn, .arg = arg};
	struct spg_args p = {0};
	spg_arg_str(&p, rcpt);
	return spg_each((struct spg *)base, &dg_last, &p, "digest_sent", spgd_last_row, &c) < 0 ? -1 : 0;
}

/* One digest inside the caller's transaction: 0, or -1. */
static int spgd_queue_one(struct spg *st, struct store_digest_out *d, int64_t now)
{
	struct spg_args p = {0};
	int64_t one = 0, id = 0;
	int64_t *seen[] = {&one, NULL}, *got[] = {&id, NULL};
	spg_arg_str(&p, d->rcpt);
	spg_arg_str(&p, d->period);
	int rc = spg_ints(st, &dg_seen, &p, "digest_sent", seen);
	d->already = rc == 0;
	if (rc != 1)
		return rc < 0 ? -1 : 0;
	struct spg_args o = {0};
	spg_arg_i64(&o, now);
	spg_arg_str(&o, d->a.kind ? d->a.kind : "");
	spg_arg_str(&o, d->a.env_from ? d->a.env_from : "");
	spg_arg_str(&o, d->a.rcpt ? d->a.rcpt : "");
	spg_arg_bin(&o, d->a.body, d->a.body_len);
	spg_arg_str(&o, st->base.host); /* the digest sender's host */
	if (spg_ints(st, &dg_outbox, &o, "insert outbox", got) != 0)
		return -1;
	struct spg_args m = {0};
	spg_arg_str(&m, d->rcpt);
	spg_arg_str(&m, d->period);
	spg_arg_i64(&m, now);
	spg_arg_i64(&m, id);
	spg_arg_i64(&m, d->items);
	return spg_do(st, &dg_mark, &m, "insert digest_sent") < 0 ? -1 : 0;
}

/* The outbox rows and the periods' marks in one transaction: a crash
 * leaves all or none of them, and a second run (on any host: the
 * advisory lock orders them) finds the marks and queues nothing twice. */
static int spgd_queue(struct store *base, struct store_digest_out *d, size_t n, int64_t now)
{
	struct spg *st = (struct spg *)base;
	if (spg_begin(st) < 0)
		return -1;
	if (spg_do(st, &dg_lock, NULL, "digest lock") < 0)
		return spg_abort(st);
	for (size_t i = 0; i < n; i++)
		if (spgd_queue_one(st, &d[i], now) < 0)
			return spg_abort(st);
	return spg_commit(st);
}

static int spgd_rcpt_delete(struct store *base, int64_t msg_rowid, const char *addr, int64_t when)
{
	struct spg_args p = {0};
	spg_arg_i64(&p, when);
	spg_arg_i64(&p, msg_rowid);
	spg_arg_str(&p, addr ? addr : "");
	return spg_change_one((struct spg *)base, &dg_delete, &p, "update deleted_at");
}

const struct store_digest_ops store_pg_digest = {
    .items = spgd_items,
    .pref_set = spgd_pref_set,
    .prefs = spgd_prefs,
    .last = spgd_last,
    .queue = spgd_queue,
    .rcpt_delete = spgd_rcpt_delete,
};
