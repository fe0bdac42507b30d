/*
 * store_pg - the PostgreSQL store backend (see store.h, store_backend.h,
 * store_pg.h): messages, recipients, the audit trail and the quarantine.
 * "postgresql://USER@HOST:PORT/DB" (libpq's URI; the whole location, scheme
 * included, is handed to libpq). store_pg_aux.c has the outbox, report,
 * lists and digest ops.
 *
 * Every op has the semantics of its twin in store_sqlite.c (the
 * reference); the SQL differs where the dialects do: $N placeholders,
 * INSERT ... RETURNING id, GLOB patterns turned into LIKE patterns
 * (spg_glob_to_like, matched on lower() of both sides).
 *
 * Opening validates the URL but does not connect: the first op does (and
 * migrates, with the handle's host), so a program starts while PostgreSQL
 * is down and each op fails with the reason (scand answers 451) until it
 * returns, when the next op reconnects (store_pg_conn's backoff).
 *
 * Round trips are what a write costs (each is two context switches and
 * the server's per-statement overhead): a message's msgs and msgrcpt rows
 * are one statement, settling an attempt (with its answers) is one, a
 * group commit has a savepoint per item only when an item failed (it is
 * then written again that way), and a lone one-statement write needs no
 * BEGIN/COMMIT.
 *
 * Invariants: a msgs row is never written without its msgrcpt rows, its
 * outbox rows and its quarantine blob (one statement or one transaction); a transaction
 * whose connection was lost between BEGIN and COMMIT fails (spg_commit),
 * and no statement of it runs on a newer connection (spg_run); a COMMIT
 * (or a lone statement) whose answer was lost with its connection is
 * looked up before it counts as failed (spg_lost_answer); an outbox
 * row is 'held' only while its attempt is 'open'.
 */
#include "store_pg.h"
#include "store_pg_schema.h"

#include <glib.h>
#include <string.h>
#include <time.h>

#define MSG_COLS                                                                                             \
	"mail_id, time, client_addr, client_name, client_helo, sender, from_hdr, subject, "                  \
	"message_id, size, category, virus_names, banned_names, spam_score, spam_tests, "                    \
	"unchecked_reason, quar_path, quar_size, quar_sha256, quar_state, scan_ms, policy, engine, "         \
	"attempt, "                                                                                          \
	"dsn_ret, dsn_envid, quar_backend, host"

/* store_list's and store_count's filter: a NULL parameter disables its
 * clause, so nothing is ever pasted into SQL; patterns are LIKE patterns
 * made from the globs, '\' escaping. */
#define SPG_FILTER                                                                                           \
	"($1::text IS NULL OR category = $1) AND ($2::bigint IS NULL OR time >= $2) AND "                    \
	"($3::bigint IS NULL OR time < $3) AND ($4::text IS NULL OR lower(sender) LIKE lower($4)) AND "      \
	"($5::text IS NULL OR EXISTS (SELECT 1 FROM msgrcpt r WHERE r.msg = m.id AND "                       \
	"lower(r.addr) LIKE lower($5))) AND ($6::text IS NULL OR lower(subject) LIKE lower($6)) AND "        \
	"($7::text IS NULL OR lower(virus_names) LIKE lower($7)) AND ($8::text IS NULL OR quar_state = $8)"

/* The rows that keep a quarantine copy (quar_fsck). */
#define SPG_QUAR_KEEPS "quar_state IN ('quarantined', 'released')"

/* Open attempts can only be among the newest rows (those in flight when
 * scand stopped): the window bounds the start-up scan of a large store. */
#define SPG_RECOVER_WINDOW 100000

static const struct pgc_stmt s_version = {"spg_version", "SELECT count(*) FROM gatehouse_schema"};
static const struct pgc_stmt s_ins_blob = {"spg_ins_blob",
                                           "INSERT INTO quar_blobs (msg, data) VALUES ($1, $2)"};
/* a message's msgs row and its msgrcpt rows in one statement (one round
 * trip): the recipients' columns come as text[] literals (spg_array_add),
 * their rseq from the array's order */
static const struct pgc_stmt s_ins_msg_rcpts = {
    "spg_ins_msg_rcpts",
    "WITH m AS (INSERT INTO msgs (" MSG_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
    "$13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) RETURNING id), "
    "r AS (INSERT INTO msgrcpt (msg, rseq, addr, domain, destiny, smtp_answer, dsn_notify, dsn_orcpt, "
    "list_entry) SELECT m.id, u.ord - 1, u.addr, u.domain, u.destiny, u.answer, u.notify, u.orcpt, u.entry "
    "FROM m, unnest($29::text[], $30::text[], $31::text[], $32::text[], $33::text[], $34::text[], "
    "$35::text[]) WITH ORDINALITY AS u(addr, domain, destiny, answer, notify, orcpt, entry, ord) "
    "ORDER BY u.ord) SELECT id FROM m"};
static const struct pgc_stmt s_ins_alert = {
    "spg_ins_alert",
    "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try, state, host) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"};
/* Settling an attempt in one statement (one round trip): a withdrawn
 * attempt's database copy ($3: it goes with its row's state), the msgs row,
 * its held alerts. Every part sees the rows as they were before the
 * statement, so the copy's test still finds the attempt open. */
static const struct pgc_stmt s_settle = {
    "spg_settle",
    "WITH b AS (DELETE FROM quar_blobs WHERE $3::boolean AND msg = (SELECT id FROM msgs WHERE mail_id = $1 "
    "AND attempt = 'open' AND quar_state = 'quarantined')), "
    "s AS (UPDATE msgs SET attempt = $2, quar_state = CASE WHEN $3::boolean AND quar_state = "
    "'quarantined' THEN 'purged' ELSE quar_state END WHERE mail_id = $1 AND attempt = 'open') "
    "UPDATE outbox SET state = CASE $2::text WHEN 'final' THEN 'pending' ELSE 'cancelled' END, "
    "next_try = $4, last_error = CASE $2::text WHEN 'final' THEN '' ELSE 'attempt deferred' END "
    "WHERE mail_id = $1 AND state = 'held'"};
/* A batch of answers in one statement (one round trip, one executor
 * start however many messages): per message its mail id and outcome ($1,
 * $2), per recipient its message's mail id, rseq, answer and destiny ($3 to
 * $6); then each message as s_settle does it, without the database copy
 * (answers never withdraw one). Planned each time: a plan cached while
 * msgs was small hash-joins whole scans of msgs and msgrcpt (seen: 11 ms
 * a batch of 12 after 1,000 messages), planned for the batch it looks
 * each row up by its index. */
static const struct pgc_stmt s_answers = {
    NULL, /* planned each time */
    "WITH u AS (SELECT (SELECT id FROM msgs WHERE mail_id = v.mail_id) AS id, v.outcome "
    "FROM unnest($1::text[], $2::text[]) AS v(mail_id, outcome)), "
    "a AS (UPDATE msgrcpt r SET smtp_answer = y.answer, destiny = y.destiny "
    "FROM (SELECT (SELECT id FROM msgs WHERE mail_id = x.mail_id) AS msg, x.rseq, x.answer, x.destiny "
    "FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[]) AS x(mail_id, rseq, answer, destiny)) AS y "
    "WHERE r.msg = y.msg AND r.rseq = y.rseq), "
    "s AS (UPDATE msgs m SET attempt = u.outcome FROM u WHERE m.id = u.id AND m.attempt = 'open') "
    "UPDATE outbox o SET state = CASE v.outcome WHEN 'final' THEN 'pending' ELSE 'cancelled' END, "
    "next_try = $7, last_error = CASE v.outcome WHEN 'final' THEN '' ELSE 'attempt deferred' END "
    "FROM unnest($1::text[], $2::text[]) AS v(mail_id, outcome) WHERE o.mail_id = v.mail_id AND o.state = 'held'"};
static const struct pgc_stmt s_recover_msgs = {
    "spg_recover_msgs",
    "UPDATE msgs SET attempt = 'deferred' WHERE id > (SELECT coalesce(max(id), 0) FROM msgs) "
    "- $1 AND attempt = 'open' AND (quar_path IS NOT NULL OR mail_id IN "
    "(SELECT mail_id FROM outbox WHERE state = 'held'))"};
static const struct pgc_stmt s_recover_outbox = {
    "spg_recover_outbox",
    "UPDATE outbox SET state = 'cancelled', last_error = 'attempt deferred (left open by a "
    "stopped scand)' WHERE state = 'held'"};
/* A COMMIT whose answer was lost (spg_lost_answer): its server process
 * ended, at once or by this statement within 5 s, when it still runs
 * (never this connection's own, should the pid have been used again);
 * false if it still runs then. */
static const struct pgc_stmt s_doubt_end = {
    "spg_doubt_end", "SELECT coalesce(bool_and(pg_terminate_backend(pid, 5000)), true) FROM pg_stat_activity "
                     "WHERE pid = $1 AND pid <> pg_backend_pid()"};
static const struct pgc_stmt s_doubt_row = {"spg_doubt_row", "SELECT id FROM msgs WHERE mail_id = $1"};
static const struct pgc_stmt s_get_msg = {"spg_get_msg",
                                          "SELECT id, " MSG_COLS " FROM msgs WHERE mail_id = $1"};
static const struct pgc_stmt s_get_rcpts = {
    "spg_get_rcpts",
    "SELECT addr, destiny, smtp_answer, coalesce(released_at, 0), release_answer, dsn_notify, "
    "dsn_orcpt, coalesce(deleted_at, 0), list_entry FROM msgrcpt WHERE msg = $1 ORDER BY rseq"};
static const struct pgc_stmt s_list = {"spg_list", "SELECT id, " MSG_COLS " FROM msgs m WHERE " SPG_FILTER
                                                   " ORDER BY time DESC, id DESC LIMIT $9 OFFSET $10"};
static const struct pgc_stmt s_count = {"spg_count", "SELECT count(*) FROM msgs m WHERE " SPG_FILTER};
static const struct pgc_stmt s_event = {
    "spg_event", "INSERT INTO events (time, mail_id, action, who, detail, result, host) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7)"};
static const struct pgc_stmt s_quar_state = {"spg_quar_state",
                                             "UPDATE msgs SET quar_state = $1 WHERE mail_id = $2"};
static const struct pgc_stmt s_rcpt_released = {
    "spg_rcpt_released",
    "UPDATE msgrcpt SET released_at = $1, release_answer = $2 WHERE msg = $3 AND addr = $4"};
static const struct pgc_stmt s_purge_missing = {
    "spg_purge_missing", "UPDATE msgs SET quar_state = 'purged' WHERE mail_id = $1 AND quar_state = $2"};
static const struct pgc_stmt s_quar_files = {
    "spg_quar_files", "SELECT mail_id, quar_path, quar_sha256, quar_state, quar_size, quar_backend FROM msgs "
                      "WHERE quar_path IS NOT NULL AND quar_path != '' AND " SPG_QUAR_KEEPS};
static const struct pgc_stmt s_quar_kept = {
    "spg_quar_kept",
    "SELECT 1 FROM msgs WHERE quar_path = $1 AND quar_backend = 'files' AND " SPG_QUAR_KEEPS " LIMIT 1"};
static const struct pgc_stmt s_blob_get = {
    "spg_blob_get", "SELECT b.data FROM quar_blobs b JOIN msgs m ON m.id = b.msg WHERE m.mail_id = $1"};
static const struct pgc_stmt s_blob_drop = {
    "spg_blob_drop", "DELETE FROM quar_blobs WHERE msg = (SELECT id FROM msgs WHERE mail_id = $1)"};
static const struct pgc_stmt s_quar_stats = {
    "spg_quar_stats", "SELECT category, quar_state, count(*), coalesce(sum(quar_size), 0) FROM msgs "
                      "WHERE quar_state IN ('quarantined', 'released', 'purged') "
                      "GROUP BY category, quar_state ORDER BY category, quar_state"};

static void spg_close(struct store *base)
{
	struct spg *st = (struct spg *)base;
	if (!st)
		return;
	pgc_free(st->c);
	spg_lists_free(st->lists);
	g_free(st);
}

static int spg_open(const char *path, int busy_timeout_ms, struct store **out, char **err)
{
	(void)busy_timeout_ms; /* PostgreSQL waits for its row locks; nothing here times out */
	/* store_open() strips "postgresql:"; libpq wants the URI whole */
	char *url = g_strconcat("postgresql:", path, NULL);
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &perr);
	if (!opts) {
		/* the message, never the URL: it may hold a password */
		*err = g_strdup_printf("postgresql store: bad URL: %s",
		                       perr ? g_strchomp(perr) : "out of memory");
		PQfreemem(perr);
		g_free(url);
		return -1;
	}
	PQconninfoFree(opts);
	struct spg *st = g_new0(struct spg, 1);
	st->base.be = &store_backend_pg;
	st->c = pgc_new(url, st->base.host); /* connects on first use, with the host set by then */
	g_free(url);
	*out = &st->base;
	return 0;
}

static int spg_version(struct store *base)
{
	struct spg *st = (struct spg *)base;
	PGresult *r = spg_run(st, &s_version, NULL, "version");
	if (!r)
		return -1;
	int v = PQntuples(r) == 1 ? (int)spg_i64(r, 0, 0) : -1;
	PQclear(r);
	return v;
}

static int spg_alert_rows(struct spg *st, const char *mail_id, const struct store_alert *alerts,
                          size_t nalerts, const char *state, int64_t now)
{
	for (size_t k = 0; k < nalerts; k++) {
		struct spg_args a = {0};
		spg_arg_i64(&a, now);
		spg_arg_str(&a, mail_id ? mail_id : "");
		spg_arg_str(&a, alerts[k].kind ? alerts[k].kind : "");
		spg_arg_str(&a, alerts[k].env_from ? alerts[k].env_from : "");
		spg_arg_str(&a, alerts[k].rcpt ? alerts[k].rcpt : "");
		spg_arg_bin(&a, alerts[k].body, alerts[k].body_len);
		spg_arg_i64(&a, now);
		spg_arg_str(&a, state);
		spg_arg_str(&a, st->base.host);
		if (spg_do(st, &s_ins_alert, &a, "insert outbox") < 0)
			return -1;
	}
	return 0;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

static bool spg_in_db(const struct store_msg *m)
{
	return m->quar_path && m->quar_backend && strcmp(m->quar_backend, "database") == 0;
}

/* The rows of one message, inside the caller's transaction. */
static int spg_rows(struct spg *st, struct store_msg *m, const struct store_alert *alerts, size_t nalerts)
{
	int64_t now = (int64_t)time(NULL);
	struct spg_args a = {0};
	char score[G_ASCII_DTOSTR_BUF_SIZE];
	bool open = m->attempt && strcmp(m->attempt, "open") == 0;
	bool in_db = spg_in_db(m);

	spg_arg_str(&a, m->mail_id);
	spg_arg_i64(&a, m->time ? m->time : now);
	spg_arg_str(&a, nz(m->client_addr));
	spg_arg_str(&a, nz(m->client_name));
	spg_arg_str(&a, nz(m->client_helo));
	spg_arg_str(&a, nz(m->sender));
	spg_arg_str(&a, nz(m->from_hdr));
	spg_arg_str(&a, nz(m->subject));
	spg_arg_str(&a, nz(m->message_id));
	spg_arg_i64(&a, m->size);
	spg_arg_str(&a, m->category ? m->category : "clean");
	spg_arg_str(&a, nz(m->virus_names));
	spg_arg_str(&a, nz(m->banned_names));
	spg_arg_str(&a, m->spam_checked ? g_ascii_dtostr(score, sizeof(score), m->spam_score) : NULL);
	spg_arg_str(&a, nz(m->spam_tests));
	spg_arg_str(&a, nz(m->unchecked_reason));
	spg_arg_str(&a, m->quar_path);
	if (m->quar_path)
		spg_arg_i64(&a, m->quar_size);
	else
		spg_arg_str(&a, NULL);
	spg_arg_str(&a, m->quar_path ? m->quar_sha256 : NULL);
	spg_arg_str(&a, m->quar_state ? m->quar_state : (m->quar_path ? "quarantined" : "none"));
	spg_arg_i64(&a, m->scan_ms);
	spg_arg_str(&a, nz(m->policy));
	spg_arg_str(&a, nz(m->engine));
	spg_arg_str(&a, open ? "open" : (m->attempt ? m->attempt : "final"));
	spg_arg_str(&a, nz(m->dsn_ret));
	spg_arg_str(&a, nz(m->dsn_envid));
	spg_arg_str(&a, in_db ? "database" : "files");
	spg_arg_str(&a, m->host ? m->host : st->base.host);
	enum { ADDR, DOMAIN, DESTINY, ANSWER, NOTIFY, ORCPT, ENTRY, NCOLS };
	GString *col[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		col[c] = g_string_new("{");
	for (size_t k = 0; k < m->nrcpt; k++) { /* element k is rseq k */
		const struct store_rcpt *rc = &m->rcpt[k];
		spg_array_add(col[ADDR], nz(rc->addr));
		spg_array_add(col[DOMAIN], store_addr_domain(nz(rc->addr)));
		spg_array_add(col[DESTINY], rc->destiny ? rc->destiny : "pass");
		spg_array_add(col[ANSWER], nz(rc->smtp_answer));
		spg_array_add(col[NOTIFY], nz(rc->dsn_notify));
		spg_array_add(col[ORCPT], nz(rc->dsn_orcpt));
		spg_array_add(col[ENTRY], nz(rc->list_entry));
	}
	for (int c = 0; c < NCOLS; c++)
		spg_arg_str(&a, spg_array_end(col[c]));
	PGresult *r = spg_run(st, &s_ins_msg_rcpts, &a, "insert msgs and msgrcpt");
	for (int c = 0; c < NCOLS; c++)
		g_string_free(col[c], TRUE);
	if (!r)
		return -1;
	m->id = PQntuples(r) == 1 ? spg_i64(r, 0, 0) : 0;
	PQclear(r);
	if (in_db) { /* the copy commits with its verdict, or neither does */
		struct spg_args b = {0};
		spg_arg_i64(&b, m->id);
		spg_arg_bin(&b, m->quar_blob, m->quar_blob_len);
		if (spg_do(st, &s_ins_blob, &b, "insert quar_blobs") < 0)
			return -1;
	}
	/* an open attempt's alerts wait for its answer (store_settle_rows) */
	return spg_alert_rows(st, m->mail_id, alerts, nalerts, open ? "held" : "pending", now);
}

/* One statement (s_settle) settling mail_id; then the alerts queued
 * pending. */
static int spg_settle(struct spg *st, const char *mail_id, const char *outcome, bool purge,
                      const struct store_alert *alerts, size_t nalerts)
{
	int64_t now = (int64_t)time(NULL);
	bool drop = purge && strcmp(outcome, "deferred") == 0;
	struct spg_args a = {0};
	spg_arg_str(&a, mail_id);
	spg_arg_str(&a, outcome);
	spg_arg_bool(&a, drop);
	spg_arg_i64(&a, now);
	if (spg_do(st, &s_settle, &a, "settle") < 0)
		return -1;
	return spg_alert_rows(st, mail_id, alerts, nalerts, "pending", now);
}

static int spg_settle_rows(struct store *base, const char *mail_id, const char *outcome, bool purge,
                           const struct store_alert *alerts, size_t nalerts)
{
	return spg_settle((struct spg *)base, mail_id, outcome, purge, alerts, nalerts);
}

/* Whether a COMMIT, or a lone statement, whose connection broke before
 * its answer came (st->doubt: the server process that had it) committed
 * after all: the rows of mail_id, the transaction's first message, say
 * so, looked up on a new connection once that process has ended (ended
 * here if need be: a COMMIT it were still running could commit after the
 * look). True with m_id set to the row's id; false when it did not
 * commit, or when that cannot be known (the server unreachable, the
 * process still running: the caller fails as before, and the client's
 * 451 has the message sent again), the store's error kept as it was. */
static bool spg_lost_answer(struct spg *st, const char *mail_id, int64_t *m_id)
{
	int pid = st->doubt;
	st->doubt = 0;
	if (!pid || !mail_id)
		return false;
	char err[sizeof(st->base.err)];
	bool busy = st->base.busy;
	g_strlcpy(err, st->base.err, sizeof(err));
	struct spg_args a = {0}, b = {0};
	spg_arg_i64(&a, pid);
	spg_arg_str(&b, mail_id);
	PGresult *r = spg_run(st, &s_doubt_end, &a, "a lost commit's server process");
	bool ended = r && PQntuples(r) == 1 && strcmp(spg_str(r, 0, 0), "t") == 0, found = false;
	PQclear(r);
	if (ended && (r = spg_run(st, &s_doubt_row, &b, "a lost commit's rows")) != NULL) {
		if ((found = PQntuples(r) == 1))
			*m_id = spg_i64(r, 0, 0);
		PQclear(r);
	}
	if (!found) {
		g_strlcpy(st->base.err, err, sizeof(st->base.err));
		st->base.busy = busy;
	}
	return found;
}

/* spg_lost_answer for a batch whose rows were all written (all) or those
 * of its items with rc 0: true when they committed, each of them then
 * succeeding (rc 0). */
static bool spg_lost_answer_items(struct spg *st, struct store_put_item *items, size_t n, bool all)
{
	struct store_put_item *first = NULL;
	for (size_t k = 0; k < n && !first; k++)
		if (items[k].m && (all || items[k].rc == 0))
			first = &items[k];
	if (!first) { /* settles only: no row tells; settling again is harmless */
		st->doubt = 0;
		return false;
	}
	if (!spg_lost_answer(st, first->m->mail_id, &first->m->id))
		return false;
	for (size_t k = 0; k < n; k++)
		if (all || items[k].rc == 0) {
			items[k].rc = 0;
			items[k].busy = false;
			items[k].err[0] = '\0';
		}
	return true;
}

/* Whether an item's rows are one statement (no alerts, no database copy):
 * alone, it needs no transaction around it, being all or nothing itself. */
static bool spg_one_statement(const struct store_msg *m, size_t nalerts)
{
	return nalerts == 0 && (!m || !spg_in_db(m));
}

static int spg_item(struct spg *st, struct store_put_item *it)
{
	return it->m ? spg_rows(st, it->m, it->alerts, it->nalerts)
	             : spg_settle(st, it->settle_id, it->settle_outcome, it->settle_purge, it->alerts,
	                          it->nalerts);
}

static int spg_put(struct store *base, struct store_msg *m, const struct store_alert *alerts, size_t nalerts)
{
	struct spg *st = (struct spg *)base;
	if (spg_one_statement(m, nalerts)) {
		if (spg_rows(st, m, alerts, nalerts) == 0)
			return 0;
		st->doubt = pgc_unanswered(st->c);
		return spg_lost_answer(st, m->mail_id, &m->id) ? 0 : -1;
	}
	if (spg_begin(st) < 0)
		return -1;
	if (spg_rows(st, m, alerts, nalerts) < 0) {
		spg_rollback(st);
		return -1;
	}
	if (spg_commit(st) == 0)
		return 0;
	return spg_lost_answer(st, m->mail_id, &m->id) ? 0 : -1;
}

/* store_put_many's common case, every item written: the batch without a
 * savepoint per item (two round trips each), and a batch of one
 * one-statement item without a transaction. 0 when all items are written
 * (rc 0); -1 when the batch failed as a whole (the caller fails every
 * item with st->base.err); 1 when an item's rows failed on a connection
 * that still stands: everything was rolled back, nothing is kept, and the
 * caller writes the batch again with a savepoint per item, which keeps
 * the other items' rows and gives the failing ones their own error. */
static int spg_put_all(struct spg *st, struct store_put_item *items, size_t n)
{
	bool alone = n == 1 && spg_one_statement(items[0].m, items[0].nalerts);
	if (!alone && spg_begin(st) < 0)
		return -1;
	for (size_t k = 0; k < n; k++) {
		if (spg_item(st, &items[k]) == 0)
			continue;
		/* a lost connection: whether a lone statement committed is
		 * unknown until looked up, so it is never run again */
		bool again = pgc_connected(st->c) && (alone || pgc_generation(st->c) == st->tx_gen);
		if (!alone) {
			spg_rollback(st); /* keeps st->base.err */
		} else if (!again) {
			st->doubt = pgc_unanswered(st->c);
			return spg_lost_answer_items(st, items, n, true) ? 0 : -1;
		}
		return again ? 1 : -1;
	}
	if (!alone && spg_commit(st) < 0)
		return spg_lost_answer_items(st, items, n, true) ? 0 : -1;
	for (size_t k = 0; k < n; k++)
		items[k].rc = 0;
	return 0;
}

static int spg_put_many(struct store *base, struct store_put_item *items, size_t n)
{
	struct spg *st = (struct spg *)base;
	for (size_t k = 0; k < n; k++) {
		items[k].rc = -1;
		items[k].busy = false;
		items[k].err[0] = '\0'; /* set only by a failure of the item's own rows */
	}
	int all = spg_put_all(st, items, n);
	if (all == 0)
		return 0;
	if (all < 0)
		goto fail;
	if (spg_begin(st) < 0)
		goto fail;
	for (size_t k = 0; k < n; k++) {
		struct store_put_item *it = &items[k];
		if (spg_cmd(st, "SAVEPOINT msg", "savepoint") < 0)
			goto fail;
		if (spg_item(st, it) == 0) {
			if (spg_cmd(st, "RELEASE msg", "release") < 0)
				goto fail;
			it->rc = 0;
			continue;
		}
		/* this message's rows go; the others stay in the transaction */
		g_strlcpy(it->err, st->base.err, sizeof(it->err));
		it->busy = st->base.busy;
		if (spg_cmd(st, "ROLLBACK TO msg", "rollback to") < 0 ||
		    spg_cmd(st, "RELEASE msg", "release") < 0)
			goto fail;
	}
	if (spg_commit(st) < 0 && !spg_lost_answer_items(st, items, n, false))
		goto fail;
	return 0;
fail:
	if (st->in_tx)
		spg_rollback(st);      /* keeps st->base.err */
	for (size_t k = 0; k < n; k++) /* nothing of the transaction is kept */
		if (items[k].rc == 0 || !items[k].err[0]) {
			items[k].rc = -1;
			items[k].busy = st->base.busy;
			g_strlcpy(items[k].err, st->base.err, sizeof(items[k].err));
		}
	return -1;
}

static int spg_recover_open(struct store *base, int *n)
{
	struct spg *st = (struct spg *)base;
	struct spg_args a = {0};
	int64_t got;

	*n = 0;
	spg_arg_i64(&a, SPG_RECOVER_WINDOW);
	if (spg_begin(st) < 0)
		return -1;
	if ((got = spg_do(st, &s_recover_msgs, &a, "recover msgs")) < 0 ||
	    spg_do(st, &s_recover_outbox, NULL, "recover outbox") < 0) {
		spg_rollback(st);
		return -1;
	}
	if (spg_commit(st) < 0)
		return -1;
	*n = (int)got;
	return 0;
}

/* The whole batch is one statement (s_answers): all or nothing without a
 * transaction around it; an attempt settled before its answer is left as
 * it is, as by s_settle. */
static int spg_put_answers(struct store *base, const struct store_answers *ans, size_t n)
{
	struct spg *st = (struct spg *)base;
	GString *ids = g_string_new("{"), *outcomes = g_string_new("{"), *rids = g_string_new("{"),
	        *rseqs = g_string_new("{"), *answers = g_string_new("{"), *destinies = g_string_new("{");
	for (size_t k = 0; k < n; k++) {
		spg_array_add(ids, ans[k].mail_id);
		spg_array_add(outcomes, ans[k].outcome);
		for (size_t i = 0; i < ans[k].n; i++) { /* element i is rseq i */
			char rseq[24];
			g_snprintf(rseq, sizeof(rseq), "%zu", i);
			spg_array_add(rids, ans[k].mail_id);
			spg_array_add(rseqs, rseq);
			spg_array_add(answers, nz(ans[k].answer[i]));
			spg_array_add(destinies, nz(ans[k].destiny[i]));
		}
	}
	struct spg_args a = {0};
	spg_arg_str(&a, spg_array_end(ids));
	spg_arg_str(&a, spg_array_end(outcomes));
	spg_arg_str(&a, spg_array_end(rids));
	spg_arg_str(&a, spg_array_end(rseqs));
	spg_arg_str(&a, spg_array_end(answers));
	spg_arg_str(&a, spg_array_end(destinies));
	spg_arg_i64(&a, (int64_t)time(NULL));
	int64_t rc = spg_do(st, &s_answers, &a, "answers");
	GString *all[] = {ids, outcomes, rids, rseqs, answers, destinies};
	for (size_t k = 0; k < G_N_ELEMENTS(all); k++)
		g_string_free(all[k], TRUE);
	return rc < 0 ? -1 : 0;
}

/* A message from row k of a SELECT id, MSG_COLS; NULL columns that mean
 * something (quar_path, spam_score, ...) stay NULL. */
static char *spg_dup_or_null(const PGresult *r, int row, int col)
{
	return spg_null(r, row, col) ? NULL : spg_dup(r, row, col);
}

static struct store_msg *spg_row_msg(const PGresult *r, int k)
{
	struct store_msg *m = g_new0(struct store_msg, 1);
	int i = 0;
	m->id = spg_i64(r, k, i++);
	g_strlcpy(m->mail_id, spg_str(r, k, i++), sizeof(m->mail_id));
	m->time = spg_i64(r, k, i++);
	m->client_addr = spg_dup_or_null(r, k, i++);
	m->client_name = spg_dup_or_null(r, k, i++);
	m->client_helo = spg_dup_or_null(r, k, i++);
	m->sender = spg_dup_or_null(r, k, i++);
	m->from_hdr = spg_dup_or_null(r, k, i++);
	m->subject = spg_dup_or_null(r, k, i++);
	m->message_id = spg_dup_or_null(r, k, i++);
	m->size = spg_i64(r, k, i++);
	m->category = spg_dup_or_null(r, k, i++);
	m->virus_names = spg_dup_or_null(r, k, i++);
	m->banned_names = spg_dup_or_null(r, k, i++);
	m->spam_checked = !spg_null(r, k, i);
	m->spam_score = spg_f64(r, k, i++);
	m->spam_tests = spg_dup_or_null(r, k, i++);
	m->unchecked_reason = spg_dup_or_null(r, k, i++);
	m->quar_path = spg_dup_or_null(r, k, i++);
	m->quar_size = spg_i64(r, k, i++);
	m->quar_sha256 = spg_dup_or_null(r, k, i++);
	m->quar_state = spg_dup_or_null(r, k, i++);
	m->scan_ms = spg_i64(r, k, i++);
	m->policy = spg_dup_or_null(r, k, i++);
	m->engine = spg_dup_or_null(r, k, i++);
	m->attempt = spg_dup_or_null(r, k, i++);
	m->dsn_ret = spg_dup_or_null(r, k, i++);
	m->dsn_envid = spg_dup_or_null(r, k, i++);
	m->quar_backend = spg_dup_or_null(r, k, i++);
	m->host = spg_dup_or_null(r, k, i++);
	return m;
}

static int spg_load_rcpts(struct spg *st, struct store_msg *m)
{
	struct spg_args a = {0};
	spg_arg_i64(&a, m->id);
	PGresult *r = spg_run(st, &s_get_rcpts, &a, "select msgrcpt");
	if (!r)
		return -1;
	int n = PQntuples(r);
	m->nrcpt = (size_t)n;
	m->rcpt = g_new0(struct store_rcpt, n);
	for (int k = 0; k < n; k++)
		m->rcpt[k] = (struct store_rcpt){
		    .addr = spg_dup(r, k, 0),
		    .destiny = spg_dup(r, k, 1),
		    .smtp_answer = spg_dup(r, k, 2),
		    .released_at = spg_i64(r, k, 3),
		    .release_answer = spg_dup(r, k, 4),
		    .dsn_notify = spg_dup(r, k, 5),
		    .dsn_orcpt = spg_dup(r, k, 6),
		    .deleted_at = spg_i64(r, k, 7),
		    .list_entry = spg_dup(r, k, 8),
		};
	PQclear(r);
	return 0;
}

/* The rows of a one-message SELECT (s takes the mail id): the result,
 * with a row; NULL with *rc 1 when there is none, -1 on failure. */
static PGresult *spg_of_msg(struct spg *st, const struct pgc_stmt *s, const char *mail_id, const char *what,
                            int *rc)
{
	struct spg_args a = {0};
	spg_arg_str(&a, nz(mail_id));
	PGresult *r = spg_run(st, s, &a, what);
	*rc = r ? 1 : -1;
	if (r && PQntuples(r) == 0) {
		PQclear(r);
		r = NULL;
	}
	return r;
}

static int spg_get(struct store *base, const char *mail_id, struct store_msg **out)
{
	struct spg *st = (struct spg *)base;
	int rc;
	*out = NULL;
	PGresult *r = spg_of_msg(st, &s_get_msg, mail_id, "select msgs", &rc);
	if (!r)
		return rc;
	*out = spg_row_msg(r, 0);
	PQclear(r);
	if (spg_load_rcpts(st, *out) < 0) {
		store_msg_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* The filter's parameters $1..$8 (the globs as LIKE patterns, kept in
 * like[] until the statement ran: g_free them). */
static void spg_filter_args(struct spg_args *a, const struct store_filter *f, char *like[4])
{
	const char *globs[4] = {f->sender, f->rcpt, f->subject, f->virus};
	for (int i = 0; i < 4; i++)
		like[i] = globs[i] ? spg_glob_to_like(globs[i]) : NULL;
	spg_arg_str(a, f->category);
	if (f->since)
		spg_arg_i64(a, f->since);
	else
		spg_arg_str(a, NULL);
	if (f->until)
		spg_arg_i64(a, f->until);
	else
		spg_arg_str(a, NULL);
	for (int i = 0; i < 4; i++)
		spg_arg_str(a, like[i]);
	spg_arg_str(a, f->quar_state);
}

static void spg_like_free(char *like[4])
{
	for (int i = 0; i < 4; i++)
		g_free(like[i]);
}

static int spg_list(struct store *base, const struct store_filter *f,
                    int (*fn)(const struct store_msg *m, void *arg), void *arg)
{
	struct spg *st = (struct spg *)base;
	struct spg_args a = {0};
	char *like[4];
	spg_filter_args(&a, f, like);
	if (f->limit > 0)
		spg_arg_i64(&a, f->limit);
	else
		spg_arg_str(&a, NULL); /* LIMIT NULL: all */
	spg_arg_i64(&a, f->offset);
	PGresult *r = spg_run(st, &s_list, &a, "list");
	spg_like_free(like);
	if (!r)
		return -1;
	/* the rows are all here: fn may use the store */
	int n = 0, rows = PQntuples(r);
	for (int k = 0; k < rows; k++) {
		struct store_msg *m = spg_row_msg(r, k);
		if (spg_load_rcpts(st, m) < 0) {
			store_msg_free(m);
			PQclear(r);
			return -1;
		}
		n++;
		int stop = fn ? fn(m, arg) : 0;
		store_msg_free(m);
		if (stop)
			break;
	}
	PQclear(r);
	return n;
}

/* A one-row SELECT whose first column is an integer: it, or -1. */
static int64_t spg_one_int(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a,
                           const char *what)
{
	PGresult *r = spg_run(st, s, a, what);
	if (!r)
		return -1;
	int64_t v = -1;
	if (PQntuples(r) == 1)
		v = spg_i64(r, 0, 0);
	else
		store_fail_set(&st->base, false, "%s: no row", what);
	PQclear(r);
	return v;
}

static int64_t spg_count(struct store *base, const struct store_filter *f)
{
	struct spg *st = (struct spg *)base;
	struct spg_args a = {0};
	char *like[4];
	spg_filter_args(&a, f, like);
	int64_t n = spg_one_int(st, &s_count, &a, "count");
	spg_like_free(like);
	return n;
}

static int spg_event(struct store *base, const char *mail_id, const char *action, const char *who,
                     const char *detail, const char *result)
{
	struct spg *st = (struct spg *)base;
	struct spg_args a = {0};
	spg_arg_i64(&a, (int64_t)time(NULL));
	spg_arg_str(&a, nz(mail_id));
	spg_arg_str(&a, nz(action));
	spg_arg_str(&a, nz(who));
	spg_arg_str(&a, nz(detail));
	spg_arg_str(&a, nz(result));
	spg_arg_str(&a, st->base.host);
	return spg_do(st, &s_event, &a, "insert event") < 0 ? -1 : 0;
}

/* A write that must change a row: 0, 1 when no row matched, -1. */
static int spg_set_quar_state(struct store *base, const char *mail_id, const char *state)
{
	struct spg_args a = {0};
	spg_arg_str(&a, nz(state));
	spg_arg_str(&a, nz(mail_id));
	return spg_change_one((struct spg *)base, &s_quar_state, &a, "update quar_state");
}

static int spg_mark_rcpt_released(struct store *base, int64_t msg_rowid, const char *addr, int64_t when,
                                  const char *answer)
{
	struct spg_args a = {0};
	spg_arg_i64(&a, when);
	spg_arg_str(&a, nz(answer));
	spg_arg_i64(&a, msg_rowid);
	spg_arg_str(&a, nz(addr));
	return spg_change_one((struct spg *)base, &s_rcpt_released, &a, "update released_at");
}

static int spg_purge_missing(struct store *base, const char *mail_id, const char *was)
{
	struct spg_args a = {0};
	spg_arg_str(&a, nz(mail_id));
	spg_arg_str(&a, nz(was));
	/* 1: its state changed meanwhile */
	return spg_change_one((struct spg *)base, &s_purge_missing, &a, "mark purged");
}

static int spg_quar_file_row(const PGresult *r, int k, void *ctx)
{
	const struct spg_cb *c = ctx;
	struct store_quar_file f = {.mail_id = spg_str(r, k, 0),
	                            .relpath = spg_str(r, k, 1),
	                            .sha256 = spg_str(r, k, 2),
	                            .state = spg_str(r, k, 3),
	                            .size = spg_i64(r, k, 4),
	                            .backend = spg_str(r, k, 5)};
	return c->fn.quar_file ? c->fn.quar_file(&f, c->arg) : 0;
}

static int spg_quar_files(struct store *base, int (*fn)(const struct store_quar_file *f, void *arg),
                          void *arg)
{
	struct spg_cb c = {.fn.quar_file = fn, .arg = arg};
	return spg_each((struct spg *)base, &s_quar_files, NULL, "select quarantine files", spg_quar_file_row,
	                &c);
}

static int spg_quar_path_kept(struct store *base, const char *relpath)
{
	struct spg *st = (struct spg *)base;
	struct spg_args a = {0};
	spg_arg_str(&a, nz(relpath));
	PGresult *r = spg_run(st, &s_quar_kept, &a, "select quar_path");
	if (!r)
		return -1;
	int kept = PQntuples(r) > 0;
	PQclear(r);
	return kept;
}

static int spg_quar_blob_get(struct store *base, const char *mail_id, void **data, size_t *len)
{
	int rc;
	PGresult *r = spg_of_msg((struct spg *)base, &s_blob_get, mail_id, "select quar_blobs", &rc);
	if (!r)
		return rc;
	*data = spg_bytea(r, 0, 0, len);
	PQclear(r);
	if (!*data)
		return store_fail_set(base, false, "select quar_blobs: cannot decode the bytea");
	return 0;
}

static int spg_quar_blob_drop(struct store *base, const char *mail_id)
{
	struct spg_args a = {0};
	spg_arg_str(&a, nz(mail_id));
	return spg_change_one((struct spg *)base, &s_blob_drop, &a, "delete quar_blobs");
}

static int spg_quar_stat_row(const PGresult *r, int k, void *ctx)
{
	const struct spg_cb *c = ctx;
	struct store_quar_stat q = {.category = spg_str(r, k, 0),
	                            .state = spg_str(r, k, 1),
	                            .count = spg_i64(r, k, 2),
	                            .bytes = spg_i64(r, k, 3)};
	return c->fn.quar_stat(&q, c->arg);
}

static int spg_quar_stats(struct store *base, int (*fn)(const struct store_quar_stat *s, void *arg),
                          void *arg)
{
	struct spg_cb c = {.fn.quar_stat = fn, .arg = arg};
	int n = spg_each((struct spg *)base, &s_quar_stats, NULL, "quarantine stats", spg_quar_stat_row, &c);
	return n < 0 ? -1 : 0;
}

const struct store_backend store_backend_pg = {
    .scheme = "postgresql",
    .open = spg_open,
    .close = spg_close,
    .version = spg_version,
    .put = spg_put,
    .put_many = spg_put_many,
    .settle_rows = spg_settle_rows,
    .recover_open = spg_recover_open,
    .put_answers = spg_put_answers,
    .get = spg_get,
    .list = spg_list,
    .count = spg_count,
    .event = spg_event,
    .set_quar_state = spg_set_quar_state,
    .mark_rcpt_released = spg_mark_rcpt_released,
    .purge_missing = spg_purge_missing,
    .quar_files = spg_quar_files,
    .quar_path_kept = spg_quar_path_kept,
    .quar_blob_get = spg_quar_blob_get,
    .quar_blob_drop = spg_quar_blob_drop,
    .quar_stats = spg_quar_stats,
    .outbox_queue = spg_outbox_queue,
    .outbox_due = spg_outbox_due,
    .outbox_claim = spg_outbox_claim,
    .outbox_sent = spg_outbox_sent,
    .outbox_retry = spg_outbox_retry,
    .outbox_failed = spg_outbox_failed,
    .outbox_count_sent_admin = spg_outbox_count_sent_admin,
    .outbox_count_summaries = spg_outbox_count_summaries,
    .outbox_fold = spg_outbox_fold,
    .msgs_bounds = spg_msgs_bounds,
    .rrd_minutes = spg_rrd_minutes,
    .rrd_state_get = spg_rrd_state_get,
    .rrd_state_put = spg_rrd_state_put,
    .list_add = spg_list_add,
    .list_add_many = spg_list_add_many,
    .list_del = spg_list_del,
    .list_query = spg_list_query,
    .list_probe = spg_list_probe,
    .report_top = spg_report_top,
    .digest = &store_pg_digest,
};
