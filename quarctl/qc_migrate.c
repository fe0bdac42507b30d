/*
 * qc_migrate - quarctl migrate --to postgresql://... [--batch N] [--max-batches N]
 *
 * Copies the configured SQLite store ([scand] database) and its file
 * quarantine ([scand] quarantine_dir) into a PostgreSQL database (made or
 * brought up to date by store_pg_migrate() when pgc connects), so that a
 * site can move from one host to a fleet.
 *
 * What it does, table by table (msgs first: the others point at it):
 *   msgs      every row with its id; a kept copy (quar_state quarantined or
 *             released) goes with it into quar_blobs in the SAME statement
 *             (one INSERT with a data-modifying CTE), so that no row can
 *             reach the target without its copy, whatever breaks when:
 *             a file copy is read (quar_read: SHA-256 checked), gzipped
 *             as quarantine_backend = database stores it (quar_pack), its
 *             row switched to quar_backend 'database' with quar_size the
 *             gzip length, quar_path the .gz name and quar_sha256 the
 *             SHA-256 of the message (rows older than schema/009 had the
 *             SHA-256 of their .gz file: "rehashed"); a copy the source
 *             store already holds is copied as it is, after the same check.
 *             After each commit the copies are read back from PostgreSQL,
 *             gunzipped and checked against the row's quar_sha256 again.
 *   msgrcpt, events, outbox, lists, digest_pref, digest_sent, report_rrd
 *             every row as it is.
 * Rows are read in rowid (= id) order, batch rows (1,000) a PostgreSQL
 * transaction; ids are kept (OVERRIDING SYSTEM VALUE) and a row already
 * in the target is skipped (ON CONFLICT DO NOTHING; msgs rows are looked
 * up first, so their files are not read again). So a run that was
 * interrupted continues where it stopped, and a second complete run
 * writes nothing. The identity sequences are then set past the highest id
 * (never lowered). The source is read in one read transaction on a
 * read-only connection: the tables are copied as of one moment.
 *
 * Invariants:
 *   - a msgs row whose copy is missing, does not decompress or does not
 *     match its SHA-256 is NOT copied ("held back"), and neither are its
 *     msgrcpt rows: each is reported on stderr with the mail id, counted,
 *     and the exit code is 1; the next run tries it again (restore the
 *     file, or purge the message / quarctl fsck --fix, then run again);
 *   - a row already in the target is never written again, whatever changed
 *     on either side since (a later run must not undo what the fleet did);
 *   - a target row with the same id but another mail id means the target
 *     is not a copy of this store: the run stops (exit 1);
 *   - every table of the SQLite store is known here and has the same
 *     number of columns on both sides, or nothing is copied (a newer
 *     schema needs a newer quarctl).
 *
 * Output (stdout): one line per table (rows read, copied, skipped, held
 * back, seconds) and a summary line "migrate: complete|stopped|failed;
 * ...". Exit codes as quarctl's others: 0 everything copied and verified
 * (or stopped cleanly by --max-batches), 1 problems (held-back rows, a
 * copy that failed its read-back, a conflict, a PostgreSQL error on the
 * way), 2 usage, 5 the source or the target cannot be opened.
 */
#include "qc.h"

#include "log.h"
#include "quar.h"
#include "store_pg_conn.h"

#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

extern const int schema_version; /* the SQLite migrations (build/gen) */

#define MIG_COLS_MAX 32
#define MIG_BATCH_DEFAULT 1000
#define MIG_BATCH_MAX 100000

/* msgs: these columns in this order on both sides (schema 009) */
#define MIG_MSGS_COLS                                                                                           \
	"id, mail_id, time, client_addr, client_name, client_helo, sender, from_hdr, subject, message_id, size, " \
	"category, virus_names, banned_names, spam_score, spam_tests, unchecked_reason, quar_path, quar_size, "    \
	"quar_sha256, quar_state, scan_ms, policy, engine, attempt, dsn_ret, dsn_envid, host, quar_backend"
enum {
	MC_ID = 0,
	MC_MAIL_ID = 1,
	MC_QUAR_PATH = 17,
	MC_QUAR_SIZE = 18,
	MC_QUAR_SHA256 = 19,
	MC_QUAR_STATE = 20,
	MC_QUAR_BACKEND = 28,
	MC_N = 29, /* the blob (source quar_blobs.data) follows as column MC_N */
};

/* A table copied row by row as it is. select: "rowid, <cols>" after a
 * rowid, at most a batch; insert: the cols as $1..$n, skipping a row that
 * is there. held_col: the column holding a msgs id whose row may have been
 * held back (its rows are held back too), -1 for none. blob_col: the
 * column that is bytea in the target (sent as bytes whatever SQLite's
 * storage class, so that no backslash is read as an escape), -1 for none. */
struct mig_table {
	const char *name;
	int ncols;
	const char *select_sql;
	struct pgc_stmt insert;
	int held_col;
	int blob_col;
};

#define MIG_SELECT(cols, table) "SELECT rowid, " cols " FROM " table " WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"

static const struct mig_table mig_tables[] = {
    {"msgrcpt", 13,
     MIG_SELECT("id, msg, rseq, addr, domain, destiny, smtp_answer, released_at, release_answer, dsn_notify, "
                "dsn_orcpt, list_entry, deleted_at",
                "msgrcpt"),
     {"mig_msgrcpt",
      "INSERT INTO msgrcpt (id, msg, rseq, addr, domain, destiny, smtp_answer, released_at, release_answer, "
      "dsn_notify, dsn_orcpt, list_entry, deleted_at) OVERRIDING SYSTEM VALUE "
      "SELECT $1::bigint, $2::bigint, $3::bigint, $4::text, $5::text, $6::text, $7::text, $8::bigint, $9::text, "
      "$10::text, $11::text, $12::text, $13::bigint WHERE EXISTS (SELECT 1 FROM msgs WHERE id = $2::bigint) "
      "ON CONFLICT DO NOTHING"},
     1, -1},
    {"events", 8, MIG_SELECT("id, time, mail_id, action, who, detail, result, host", "events"),
     {"mig_events",
      "INSERT INTO events (id, time, mail_id, action, who, detail, result, host) OVERRIDING SYSTEM VALUE "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"},
     -1, -1},
    {"outbox", 13,
     MIG_SELECT("id, created, mail_id, kind, env_from, rcpt, body, attempts, next_try, state, last_error, sent_at, "
                "host",
                "outbox"),
     {"mig_outbox",
      "INSERT INTO outbox (id, created, mail_id, kind, env_from, rcpt, body, attempts, next_try, state, "
      "last_error, sent_at, host) OVERRIDING SYSTEM VALUE "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING"},
     -1, 6},
    {"lists", 9,
     MIG_SELECT("id, scope, kind, pattern, pkey, note, created_by, created_at, expires", "lists"),
     {"mig_lists",
      "INSERT INTO lists (id, scope, kind, pattern, pkey, note, created_by, created_at, expires) "
      "OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"},
     -1, -1},
    {"digest_pref", 2, MIG_SELECT("target, frequency", "digest_pref"),
     {"mig_digest_pref", "INSERT INTO digest_pref (target, frequency) VALUES ($1, $2) ON CONFLICT DO NOTHING"},
     -1, -1},
    {"digest_sent", 5, MIG_SELECT("rcpt, period, time, outbox_id, items", "digest_sent"),
     {"mig_digest_sent",
      "INSERT INTO digest_sent (rcpt, period, time, outbox_id, items) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT DO NOTHING"},
     -1, -1},
    {"report_rrd", 3, MIG_SELECT("path, last_minute, last_msg_id", "report_rrd"),
     {"mig_report_rrd",
      "INSERT INTO report_rrd (path, last_minute, last_msg_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"},
     -1, -1},
};

/* msgs and quar_blobs are copied together (mig_msgs); every other table
 * of the SQLite store must be one of mig_tables. */
static const char *const mig_special[] = {"msgs", "quar_blobs"};

static const struct pgc_stmt mig_pg_msgs_present = {
    "mig_msgs_present", "SELECT id, mail_id FROM msgs WHERE id > $1 AND id <= $2"};
static const struct pgc_stmt mig_pg_msgs_insert = {
    "mig_msgs_insert",
    "WITH m AS (INSERT INTO msgs (" MIG_MSGS_COLS ") OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, "
    "$8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29) "
    "ON CONFLICT DO NOTHING RETURNING id), "
    "b AS (INSERT INTO quar_blobs (msg, data) SELECT id, $30::bytea FROM m WHERE $30::bytea IS NOT NULL "
    "RETURNING msg) "
    "SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM b)"};
static const struct pgc_stmt mig_pg_readback = {
    "mig_readback", "SELECT m.id, m.mail_id, m.quar_sha256, b.data FROM quar_blobs b JOIN msgs m ON m.id = b.msg "
                    "WHERE b.msg = ANY ($1::bigint[])"};
static const struct pgc_stmt mig_pg_ncols = {
    "mig_ncols", "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
                 "AND table_name = $1"};
/* Past the highest id, and never below what the sequence already gave out
 * (a fleet host may have written rows meanwhile): setval(.., false) makes
 * the next id the value given. */
#define MIG_SETVAL(t)                                                                                  \
	{"mig_setval_" t, "SELECT setval(pg_get_serial_sequence('" t "', 'id'), GREATEST((SELECT "          \
	                  "coalesce(max(id), 0) FROM " t "), coalesce(pg_sequence_last_value("               \
	                  "pg_get_serial_sequence('" t "', 'id')::regclass), 0)) + 1, false)"}
static const struct pgc_stmt mig_pg_setval[] = {MIG_SETVAL("msgs"), MIG_SETVAL("msgrcpt"), MIG_SETVAL("events"),
                                                MIG_SETVAL("outbox"), MIG_SETVAL("lists")};

struct mig_count {
	int64_t rows, copied, skipped, held;
};

/* One row's parameters for PostgreSQL: text (numbers formatted into num),
 * NULL, or binary for a blob. The pointers stay valid until the source
 * statement steps again (path_gz: a msgs row's new quar_path, g_free). */
struct mig_row {
	const char *v[MIG_COLS_MAX + 1];
	int len[MIG_COLS_MAX + 1];
	int fmt[MIG_COLS_MAX + 1];
	char num[MIG_COLS_MAX + 1][40];
	char *path_gz;
};

struct mig {
	struct qc *qc;
	sqlite3 *db;
	struct pgc *pg;
	int batch;
	int64_t max_batches; /* 0: no limit */
	int64_t batches;     /* committed this run */
	bool stopped;        /* max_batches reached */
	bool failed;         /* a fatal error: the run ended early */
	GHashTable *held;    /* msgs ids held back this run (gint64 *) */
	/* quarantine copies */
	int64_t from_files, from_store, rehashed, read_back, mismatched, missing;
};

static double mig_now(void)
{
	return (double)g_get_monotonic_time() / 1e6;
}

static void mig_fatal(struct mig *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void mig_fatal(struct mig *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "quarctl: migrate: %s\n", s);
	g_free(s);
	m->failed = true;
}

/* A copy that cannot be trusted: reported with its mail id, counted; the
 * row is held back. */
static void mig_problem(struct mig *m, int64_t id, const char *mail_id, const char *err, bool missing)
{
	/* both come from the store and the tree: printable before they are shown */
	char *shown = log_printable(err, 400), *id_shown = log_printable(mail_id, 40);
	fprintf(stderr, "quarctl: migrate: %s: %s (not copied)\n", id_shown, shown);
	g_free(shown);
	g_free(id_shown);
	if (missing)
		m->missing++;
	else
		m->mismatched++;
	gint64 *k = g_new(gint64, 1);
	*k = id;
	g_hash_table_add(m->held, k);
}

/* Column i of the source row s into slot j of r (as bytes: as_blob). */
static void mig_param(struct mig_row *r, int j, sqlite3_stmt *s, int i, bool as_blob)
{
	int type = sqlite3_column_type(s, i);
	r->fmt[j] = 0;
	r->len[j] = 0;
	switch (as_blob && type != SQLITE_NULL ? SQLITE_BLOB : type) {
	case SQLITE_NULL:
		r->v[j] = NULL;
		break;
	case SQLITE_INTEGER:
		g_snprintf(r->num[j], sizeof(r->num[j]), "%lld", (long long)sqlite3_column_int64(s, i));
		r->v[j] = r->num[j];
		break;
	case SQLITE_FLOAT: /* 17 digits: the double PostgreSQL stores is the same double */
		g_snprintf(r->num[j], sizeof(r->num[j]), "%.17g", sqlite3_column_double(s, i));
		r->v[j] = r->num[j];
		break;
	case SQLITE_BLOB:
		r->v[j] = sqlite3_column_blob(s, i);
		r->len[j] = sqlite3_column_bytes(s, i);
		r->fmt[j] = 1;
		if (!r->v[j])
			r->v[j] = ""; /* an empty blob is not NULL */
		break;
	default:
		r->v[j] = (const char *)sqlite3_column_text(s, i);
		break;
	}
}

static int mig_begin(struct mig *m, unsigned *gen)
{
	if (pgc_cmd(m->pg, "BEGIN") < 0) {
		mig_fatal(m, "target: %s", pgc_err(m->pg));
		return -1;
	}
	*gen = pgc_generation(m->pg);
	return 0;
}

/* COMMIT, unless the connection was lost since BEGIN (then the statements
 * after the loss ran on their own: each is harmless alone, but the batch
 * is not whole; the next run completes it). */
static int mig_commit(struct mig *m, unsigned gen)
{
	if (pgc_generation(m->pg) != gen || pgc_cmd(m->pg, "COMMIT") < 0) {
		mig_fatal(m, "target: commit: %s", pgc_generation(m->pg) != gen ? "connection lost" : pgc_err(m->pg));
		return -1;
	}
	m->batches++;
	if (m->max_batches > 0 && m->batches >= m->max_batches)
		m->stopped = true;
	return 0;
}

static void mig_rollback(struct mig *m)
{
	if (pgc_connected(m->pg))
		pgc_cmd(m->pg, "ROLLBACK");
}

static bool mig_kept(const char *state)
{
	return state && (strcmp(state, "quarantined") == 0 || strcmp(state, "released") == 0);
}

/* The packed copy of msgs row r (source columns in s) into slot MC_N of r,
 * the row's quar_* columns as the target keeps them: 0, or -1 when the
 * copy cannot be trusted (reported, the row held back). packed is the
 * buffer to free afterwards. */
static int mig_copy_of(struct mig *m, sqlite3_stmt *s, struct mig_row *r, void **packed, char sha[65])
{
	int64_t id = sqlite3_column_int64(s, MC_ID);
	const char *mail_id = r->v[MC_MAIL_ID], *path = r->v[MC_QUAR_PATH], *expect = r->v[MC_QUAR_SHA256];
	bool in_store = r->v[MC_QUAR_BACKEND] && strcmp(r->v[MC_QUAR_BACKEND], "database") == 0;
	bool has_blob = sqlite3_column_type(s, MC_N) != SQLITE_NULL;
	char *err = NULL;
	void *plain = NULL;
	size_t plain_len = 0;

	r->v[MC_N] = NULL;
	r->len[MC_N] = 0;
	r->fmt[MC_N] = 1;
	if (!(in_store ? has_blob || mig_kept(r->v[MC_QUAR_STATE]) : path && mig_kept(r->v[MC_QUAR_STATE])))
		return 0; /* nothing kept: the row alone */
	if (!expect || !*expect) {
		mig_problem(m, id, mail_id, "no SHA-256 to check the quarantine copy against", false);
		return -1;
	}
	if (in_store) {
		if (!has_blob) {
			mig_problem(m, id, mail_id, "the store holds no quarantine copy", true);
			return -1;
		}
		mig_param(r, MC_N, s, MC_N, true);
		if (quar_unpack(mail_id, r->v[MC_N], (size_t)r->len[MC_N], expect, &plain, &plain_len, &err) < 0) {
			mig_problem(m, id, mail_id, err, false);
			g_free(err);
			return -1;
		}
		g_free(plain);
		m->from_store++;
		return 0;
	}
	errno = 0;
	if (quar_read(m->qc->quar_dir, path, expect, &plain, &plain_len, &err) < 0) {
		mig_problem(m, id, mail_id, err, errno == ENOENT);
		g_free(err);
		return -1;
	}
	size_t packed_len = 0;
	int rc = quar_pack(plain, plain_len, packed, &packed_len, sha, &err);
	g_free(plain);
	plain = NULL;
	/* the bytes written must give the message back: gunzip and check now */
	if (rc == 0)
		rc = quar_unpack(mail_id, *packed, packed_len, sha, &plain, &plain_len, &err);
	g_free(plain);
	if (rc < 0 || packed_len > G_MAXINT) {
		mig_problem(m, id, mail_id, err ? err : "copy too large", false);
		g_free(err);
		return -1;
	}
	if (g_ascii_strcasecmp(sha, expect) != 0)
		m->rehashed++; /* the row had the SHA-256 of its .gz file (before schema/009) */
	r->v[MC_N] = *packed;
	r->len[MC_N] = (int)packed_len;
	g_snprintf(r->num[MC_QUAR_SIZE], sizeof(r->num[MC_QUAR_SIZE]), "%zu", packed_len);
	r->v[MC_QUAR_SIZE] = r->num[MC_QUAR_SIZE];
	r->v[MC_QUAR_SHA256] = sha;
	r->v[MC_QUAR_BACKEND] = "database";
	if (!g_str_has_suffix(path, ".gz")) /* as scand names a database copy */
		r->v[MC_QUAR_PATH] = r->path_gz = g_strdup_printf("%s.gz", path);
	m->from_files++;
	return 0;
}

/* Read the copies of the msgs rows ids back from the target and check
 * each against its row's SHA-256 (after the commit: what a fleet host
 * will read). */
static void mig_read_back(struct mig *m, GArray *ids)
{
	if (ids->len == 0)
		return;
	GString *arr = g_string_new("{");
	for (guint i = 0; i < ids->len; i++)
		g_string_append_printf(arr, "%s%" G_GINT64_FORMAT, i ? "," : "", g_array_index(ids, gint64, i));
	g_string_append_c(arr, '}');
	const char *p[1] = {arr->str};
	PGresult *res = pgc_exec(m->pg, &mig_pg_readback, p, 1);
	g_string_free(arr, TRUE);
	if (!res) {
		mig_fatal(m, "target: reading the copies back: %s", pgc_err(m->pg));
		return;
	}
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		size_t blen = 0, plen = 0;
		unsigned char *blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 3), &blen);
		const char *mail_id = PQgetvalue(res, i, 1);
		void *plain = NULL;
		char *err = NULL;
		if (!blob) {
			mig_fatal(m, "%s: reading the copy back: out of memory", mail_id);
		} else if (quar_unpack(mail_id, blob, blen, PQgetvalue(res, i, 2), &plain, &plen, &err) < 0) {
			char *shown = log_printable(err, 400);
			fprintf(stderr, "quarctl: migrate: %s: read back from the target: %s\n", mail_id, shown);
			g_free(shown);
			g_free(err);
			m->mismatched++;
		} else {
			m->read_back++;
		}
		g_free(plain);
		PQfreemem(blob);
	}
	if ((guint)n != ids->len) {
		mig_fatal(m, "target: %u copies written, %d read back", ids->len, n);
		m->missing += ids->len > (guint)n ? ids->len - (guint)n : 0;
	}
	PQclear(res);
}

/* The present target rows of (lo, hi]: id -> mail id. */
static GHashTable *mig_present(struct mig *m, int64_t lo, int64_t hi)
{
	char a[24], b[24];
	g_snprintf(a, sizeof(a), "%" G_GINT64_FORMAT, lo);
	g_snprintf(b, sizeof(b), "%" G_GINT64_FORMAT, hi);
	const char *p[2] = {a, b};
	PGresult *res = pgc_exec(m->pg, &mig_pg_msgs_present, p, 2);
	if (!res) {
		mig_fatal(m, "target: msgs: %s", pgc_err(m->pg));
		return NULL;
	}
	GHashTable *h = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
	for (int i = 0; i < PQntuples(res); i++) {
		gint64 *k = g_new(gint64, 1);
		*k = g_ascii_strtoll(PQgetvalue(res, i, 0), NULL, 10);
		g_hash_table_insert(h, k, g_strdup(PQgetvalue(res, i, 1)));
	}
	PQclear(res);
	return h;
}

/* One msgs row not yet in the target (with its copy): 0, 1 held back, -1 fatal. */
static int mig_msgs_row(struct mig *m, sqlite3_stmt *s, GArray *written)
{
	struct mig_row r;
	void *packed = NULL;
	char sha[65] = "";
	r.path_gz = NULL;
	for (int i = 0; i < MC_N; i++)
		mig_param(&r, i, s, i, false);
	if (mig_copy_of(m, s, &r, &packed, sha) < 0) {
		g_free(packed);
		return 1;
	}
	PGresult *res = pgc_exec_bin(m->pg, &mig_pg_msgs_insert, r.v, r.len, r.fmt, MC_N + 1);
	g_free(packed);
	g_free(r.path_gz);
	if (!res) {
		mig_fatal(m, "target: msgs %s: %s", r.v[MC_MAIL_ID], pgc_err(m->pg));
		return -1;
	}
	bool row = strcmp(PQgetvalue(res, 0, 0), "1") == 0, blob = strcmp(PQgetvalue(res, 0, 1), "1") == 0;
	PQclear(res);
	if (!row) { /* not there by id (looked up first): its mail id is, under another id */
		mig_fatal(m, "msgs id %lld (%s): the target holds this mail id under another id: not a copy of this store",
		          (long long)sqlite3_column_int64(s, MC_ID), r.v[MC_MAIL_ID]);
		return -1;
	}
	if (blob) {
		gint64 id = sqlite3_column_int64(s, MC_ID);
		g_array_append_val(written, id);
	}
	return 0;
}

static int64_t mig_sq_int(sqlite3_stmt *s)
{
	int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_reset(s);
	return v;
}

/* msgs (and the quarantine copies with them), batch by batch. */
static int mig_msgs(struct mig *m, struct mig_count *c)
{
	sqlite3_stmt *hi_s = NULL, *s = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(m->db,
	                       "SELECT coalesce(max(id), ?1) FROM (SELECT id FROM msgs WHERE id > ?1 ORDER BY id LIMIT ?2)",
	                       -1, &hi_s, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(m->db,
	                       "SELECT m.id, m.mail_id, m.time, m.client_addr, m.client_name, m.client_helo, m.sender, "
	                       "m.from_hdr, m.subject, m.message_id, m.size, m.category, m.virus_names, m.banned_names, "
	                       "m.spam_score, m.spam_tests, m.unchecked_reason, m.quar_path, m.quar_size, m.quar_sha256, "
	                       "m.quar_state, m.scan_ms, m.policy, m.engine, m.attempt, m.dsn_ret, m.dsn_envid, m.host, "
	                       "m.quar_backend, b.data FROM msgs m LEFT JOIN quar_blobs b ON b.msg = m.id "
	                       "WHERE m.id > ?1 AND m.id <= ?2 ORDER BY m.id",
	                       -1, &s, NULL) != SQLITE_OK) {
		mig_fatal(m, "source: msgs: %s", sqlite3_errmsg(m->db));
		goto out;
	}
	int64_t after = INT64_MIN;
	while (!m->stopped) {
		sqlite3_bind_int64(hi_s, 1, after);
		sqlite3_bind_int(hi_s, 2, m->batch);
		int64_t hi = mig_sq_int(hi_s);
		if (hi == after)
			break; /* no more rows */
		GHashTable *present = mig_present(m, after, hi);
		if (!present)
			goto out;
		GArray *written = g_array_new(FALSE, FALSE, sizeof(gint64));
		unsigned gen = 0;
		int e = mig_begin(m, &gen);
		sqlite3_bind_int64(s, 1, after);
		sqlite3_bind_int64(s, 2, hi);
		while (e == 0 && sqlite3_step(s) == SQLITE_ROW) {
			gint64 id = sqlite3_column_int64(s, MC_ID);
			const char *mail_id = (const char *)sqlite3_column_text(s, MC_MAIL_ID);
			const char *there = g_hash_table_lookup(present, &id);
			c->rows++;
			if (there && mail_id && strcmp(there, mail_id) == 0) {
				c->skipped++;
			} else if (there) {
				mig_fatal(m, "msgs id %lld: the target holds mail id %s, the source %s: not a copy of this store",
				          (long long)id, there, mail_id ? mail_id : "(null)");
				e = -1;
			} else if ((e = mig_msgs_row(m, s, written)) == 1) {
				c->held++;
				e = 0;
			} else if (e == 0) {
				c->copied++;
			}
		}
		sqlite3_reset(s);
		g_hash_table_destroy(present);
		if (e == 0 && !m->failed)
			e = mig_commit(m, gen);
		else
			mig_rollback(m);
		if (e == 0)
			mig_read_back(m, written);
		g_array_free(written, TRUE);
		if (e < 0 || m->failed)
			goto out;
		after = hi;
	}
	rc = 0;
out:
	sqlite3_finalize(hi_s);
	sqlite3_finalize(s);
	return rc;
}

/* One table of mig_tables, batch by batch. */
static int mig_table(struct mig *m, const struct mig_table *t, struct mig_count *c)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(m->db, t->select_sql, -1, &s, NULL) != SQLITE_OK) {
		mig_fatal(m, "source: %s: %s", t->name, sqlite3_errmsg(m->db));
		return -1;
	}
	int64_t after = INT64_MIN;
	int e = 0;
	while (e == 0 && !m->stopped) {
		sqlite3_bind_int64(s, 1, after);
		sqlite3_bind_int(s, 2, m->batch);
		unsigned gen = 0;
		int n = 0;
		while (e == 0 && sqlite3_step(s) == SQLITE_ROW) {
			if (n++ == 0 && (e = mig_begin(m, &gen)) < 0)
				break;
			struct mig_row r;
			after = sqlite3_column_int64(s, 0);
			for (int i = 0; i < t->ncols; i++)
				mig_param(&r, i, s, i + 1, i == t->blob_col);
			PGresult *res = pgc_exec_bin(m->pg, &t->insert, r.v, r.len, r.fmt, t->ncols);
			if (!res) {
				mig_fatal(m, "target: %s rowid %lld: %s", t->name, (long long)after, pgc_err(m->pg));
				e = -1;
				break;
			}
			c->rows++;
			if (strcmp(PQcmdTuples(res), "1") == 0) {
				c->copied++;
			} else {
				gint64 msg = t->held_col >= 0 ? sqlite3_column_int64(s, t->held_col + 1) : 0;
				if (t->held_col >= 0 && g_hash_table_contains(m->held, &msg))
					c->held++;
				else
					c->skipped++;
			}
			PQclear(res);
		}
		sqlite3_reset(s);
		if (n == 0)
			break;
		if (e == 0)
			e = mig_commit(m, gen);
		else
			mig_rollback(m);
	}
	sqlite3_finalize(s);
	return e;
}

/* Every table of the source is known here and has as many columns on
 * both sides as copied; the source is at this quarctl's schema. */
static int mig_check_schema(struct mig *m)
{
	sqlite3_stmt *s = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(m->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) {
		mig_fatal(m, "source: %s", sqlite3_errmsg(m->db));
		return -1;
	}
	int64_t v = mig_sq_int(s);
	sqlite3_finalize(s);
	if (v != schema_version) {
		mig_fatal(m, "source: schema version %lld, this quarctl copies version %d", (long long)v, schema_version);
		return -1;
	}
	sqlite3_stmt *cols = NULL;
	if (sqlite3_prepare_v2(m->db,
	                       "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
	                       "ESCAPE '\\' ORDER BY name",
	                       -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(m->db, "SELECT count(*) FROM pragma_table_info(?1)", -1, &cols, NULL) != SQLITE_OK) {
		mig_fatal(m, "source: %s", sqlite3_errmsg(m->db));
		sqlite3_finalize(s);
		return -1;
	}
	while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		sqlite3_bind_text(cols, 1, name, -1, SQLITE_STATIC);
		int ncols = (int)mig_sq_int(cols), want = -1;
		for (size_t i = 0; i < G_N_ELEMENTS(mig_tables) && name; i++)
			if (strcmp(name, mig_tables[i].name) == 0)
				want = mig_tables[i].ncols;
		if (name && strcmp(name, mig_special[0]) == 0)
			want = MC_N;
		if (name && strcmp(name, mig_special[1]) == 0)
			want = 2;
		const char *p[1] = {name};
		PGresult *res = want >= 0 ? pgc_exec(m->pg, &mig_pg_ncols, p, 1) : NULL;
		int pg_ncols = res ? atoi(PQgetvalue(res, 0, 0)) : -1;
		PQclear(res);
		if (want < 0 || ncols != want || pg_ncols != want) {
			char *shown = log_printable(name, 80);
			mig_fatal(m, "table %s: %d columns in the source, %d in the target, %d known to this quarctl%s%s",
			          shown, ncols, pg_ncols, want, pg_ncols < 0 && want >= 0 ? ": " : "",
			          pg_ncols < 0 && want >= 0 ? pgc_err(m->pg) : "");
			g_free(shown);
			rc = -1;
		}
	}
	sqlite3_finalize(s);
	sqlite3_finalize(cols);
	return rc;
}

static int mig_sequences(struct mig *m)
{
	for (size_t i = 0; i < G_N_ELEMENTS(mig_pg_setval); i++) {
		PGresult *res = pgc_exec(m->pg, &mig_pg_setval[i], NULL, 0);
		if (!res) {
			mig_fatal(m, "target: %s: %s", mig_pg_setval[i].name, pgc_err(m->pg));
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

static void mig_say(const char *name, const struct mig_count *c, double secs)
{
	printf("%s: %" G_GINT64_FORMAT " rows: %" G_GINT64_FORMAT " copied, %" G_GINT64_FORMAT
	       " skipped, %" G_GINT64_FORMAT " held back (%.1f s)\n",
	       name, c->rows, c->copied, c->skipped, c->held, secs);
	fflush(stdout);
}

/* The source: the configured SQLite file, read-only. 0, or an exit code. */
static int mig_open_source(struct mig *m)
{
	/* store_open()'s rule: "scheme:" (a letter, then letters, digits, + - .)
	 * or a plain path */
	const char *path = m->qc->db_path, *p = path;
	if (g_ascii_isalpha(*p))
		while (g_ascii_isalnum(*p) || *p == '+' || *p == '-' || *p == '.')
			p++;
	if (p > path && *p == ':')
		path = g_ascii_strncasecmp(path, "sqlite:", 7) == 0 ? path + 7 : NULL;
	if (!path || !*path) {
		fprintf(stderr, "quarctl: migrate: [scand] database is not a SQLite store: nothing to migrate from\n");
		return QC_EXIT_USAGE;
	}
	if (sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "quarctl: migrate: source %s: %s\n", path, sqlite3_errmsg(m->db));
		return QC_EXIT_STORE;
	}
	sqlite3_busy_timeout(m->db, (int)conf_int(m->qc->conf, "scand", "busy_timeout") * 1000);
	/* one read transaction for the whole copy: every table as of one moment */
	if (sqlite3_exec(m->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(m->db, "SELECT count(*) FROM msgs", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "quarctl: migrate: source %s: %s\n", path, sqlite3_errmsg(m->db));
		return QC_EXIT_STORE;
	}
	return 0;
}

static int mig_run(struct mig *m)
{
	struct mig_count counts[G_N_ELEMENTS(mig_tables) + 1] = {{0}};
	size_t done = 0;
	if (mig_check_schema(m) == 0) {
		double t = mig_now();
		mig_msgs(m, &counts[0]);
		mig_say("msgs", &counts[0], mig_now() - t);
		for (done = 1; !m->failed && !m->stopped && done <= G_N_ELEMENTS(mig_tables); done++) {
			t = mig_now();
			mig_table(m, &mig_tables[done - 1], &counts[done]);
			mig_say(mig_tables[done - 1].name, &counts[done], mig_now() - t);
		}
		if (!m->failed)
			mig_sequences(m);
	}
	GString *sum = g_string_new(NULL);
	g_string_append_printf(sum, "migrate: %s", m->failed ? "failed" : m->stopped ? "stopped" : "complete");
	if (m->stopped)
		g_string_append_printf(sum, " after %" G_GINT64_FORMAT " batches (run again to continue)", m->batches);
	for (size_t i = 0; i < G_N_ELEMENTS(counts); i++)
		g_string_append_printf(sum, "%s %s %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT,
		                       i ? "," : "; copied/skipped/held:", i ? mig_tables[i - 1].name : "msgs",
		                       counts[i].copied, counts[i].skipped, counts[i].held);
	g_string_append_printf(sum,
	                       "; quarantine copies: %" G_GINT64_FORMAT " verified (%" G_GINT64_FORMAT
	                       " from files, %" G_GINT64_FORMAT " from the store, %" G_GINT64_FORMAT
	                       " rehashed), %" G_GINT64_FORMAT " mismatched, %" G_GINT64_FORMAT " missing",
	                       m->read_back, m->from_files, m->from_store, m->rehashed, m->mismatched, m->missing);
	puts(sum->str);
	g_string_free(sum, TRUE);
	return m->failed || m->mismatched || m->missing ? QC_EXIT_FAIL : QC_EXIT_OK;
}

int qc_cmd_migrate(struct qc *qc, int argc, char **argv)
{
	char *to = NULL;
	gint batch = MIG_BATCH_DEFAULT;
	gint64 max_batches = 0;
	GOptionEntry entries[] = {
	    {"to", 0, 0, G_OPTION_ARG_STRING, &to, "the target store: postgresql://USER@HOST:PORT/DB", "URL"},
	    {"batch", 0, 0, G_OPTION_ARG_INT, &batch, "rows a transaction (default 1000)", "N"},
	    {"max-batches", 0, 0, G_OPTION_ARG_INT64, &max_batches, "stop after N transactions (run again to continue)",
	     "N"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	if (!qc_parse(entries, "- copy the SQLite store and its quarantine into PostgreSQL", &argc, &argv) ||
	    argc > 1 || !to || batch < 1 || batch > MIG_BATCH_MAX || max_batches < 0 ||
	    !(g_str_has_prefix(to, "postgresql://") || g_str_has_prefix(to, "postgres://"))) {
		if (argc <= 1)
			fprintf(stderr, "quarctl: migrate --to postgresql://USER@HOST:PORT/DB [--batch 1-%d] "
			                "[--max-batches N]\n",
			        MIG_BATCH_MAX);
		g_free(to);
		return QC_EXIT_USAGE;
	}
	struct mig m = {.qc = qc, .batch = batch, .max_batches = max_batches};
	int rc = mig_open_source(&m);
	if (rc == 0) {
		m.pg = pgc_new(to, conf_hostname(qc->conf));
		if (pgc_open(m.pg) < 0) {
			fprintf(stderr, "quarctl: migrate: target: %s\n", pgc_err(m.pg));
			rc = QC_EXIT_STORE;
		}
	}
	if (rc == 0) {
		m.held = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
		rc = mig_run(&m);
		g_hash_table_destroy(m.held);
	}
	pgc_free(m.pg);
	if (m.db) {
		sqlite3_exec(m.db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(m.db);
	}
	g_free(to);
	return rc;
}
