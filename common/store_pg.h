/*
 * store_pg - the PostgreSQL store backend's handle and helpers, shared by
 * its files (store_pg.c: messages, recipients, quarantine; store_pg_aux.c:
 * outbox, report, digest; store_pg_lists.c: lists). Only store_pg*.c include this header.
 *
 * A handle is one connection (store_pg_conn: statements prepared once per
 * connection, reconnect with backoff, migrations on connect). Parameters
 * are collected in a struct spg_args (text, or binary for bytea) and run
 * with spg_run(), which sets the store's error on failure. spg_begin() /
 * spg_commit() bracket a transaction; spg_commit() fails (and rolls back)
 * when the connection was replaced in between, since that transaction's
 * BEGIN died with the old connection. SQL placeholders are $1..$N.
 */
#ifndef GH_STORE_PG_H
#define GH_STORE_PG_H

#include "store_backend.h"
#include "store_pg_conn.h"

#include <glib.h>
#include <stdint.h>

struct spg {
	struct store base; /* first: a struct store * is a struct spg * */
	struct pgc *c;
	unsigned tx_gen; /* pgc_generation() at spg_begin() */
	bool in_tx;
	/* the server process that had a COMMIT (or a lone statement) whose
	 * answer was lost with its connection: committed or not is unknown
	 * until looked up (store_pg.c, spg_lost_answer); 0 otherwise */
	int doubt;
	struct spg_lists *lists; /* the lists' copy for probes (store_pg_lists.c), NULL until one */
};

#define SPG_MAXARGS 40

struct spg_args {
	int n;
	const char *v[SPG_MAXARGS];
	int len[SPG_MAXARGS];
	int fmt[SPG_MAXARGS];
	char num[SPG_MAXARGS][24];
};

/* Appends one parameter: text (NULL is SQL NULL), a 64-bit integer, a
 * boolean, or bytes for a bytea (binary format). */
void spg_arg_str(struct spg_args *a, const char *s);
void spg_arg_i64(struct spg_args *a, int64_t v);
void spg_arg_bool(struct spg_args *a, bool v);
void spg_arg_bin(struct spg_args *a, const void *data, size_t len);

/* A text[] parameter's literal, built in a GString that starts as "{":
 * spg_array_add appends an element (never NULL), every one in double
 * quotes with '"' and '\\' escaped, so any text stays one element as it
 * is; spg_array_end closes it and returns its text (the GString's). */
void spg_array_add(GString *lit, const char *v);
const char *spg_array_end(GString *lit);

/* Runs a prepared statement; NULL on failure with st->base.err set to
 * "what: reason". The result is the caller's (PQclear). */
PGresult *spg_run(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what);
/* spg_run for statements without rows: the affected row count, or -1. */
int64_t spg_do(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what);

/* Constant SQL without parameters or rows (SAVEPOINT, RELEASE) inside a
 * transaction: 0, or -1 with st->base.err. Inside a transaction, spg_run,
 * spg_do and spg_cmd fail without running anything once the connection
 * that ran BEGIN is gone. */
int spg_cmd(struct spg *st, const char *sql, const char *what);
int spg_begin(struct spg *st);
int spg_commit(struct spg *st);
void spg_rollback(struct spg *st);

/* Column accessors: text ("" for NULL), integer (0 for NULL), NULL test,
 * a g_malloc'd copy (g_strdup of "" for NULL), bytea decoded (g_malloc). */
const char *spg_str(const PGresult *r, int row, int col);
int64_t spg_i64(const PGresult *r, int row, int col);
double spg_f64(const PGresult *r, int row, int col);
bool spg_null(const PGresult *r, int row, int col);
char *spg_dup(const PGresult *r, int row, int col);
void *spg_bytea(const PGresult *r, int row, int col, size_t *len);

/* Runs a statement and calls row(r, i, ctx) for each row until it returns
 * non-zero: the rows seen (the stopping one counts), or -1. The whole
 * result is read first, so row may use the store. */
int spg_each(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what,
             int (*row)(const PGresult *r, int i, void *ctx), void *ctx);
/* A statement changing at most one row: 0 changed, 1 none, -1. */
int spg_change_one(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what);
/* A one-row SELECT of integers into *v[0..] (NULL-terminated): 0, 1 when
 * there was no row, -1. */
int spg_ints(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what, int64_t *const *v);
/* Rolls back keeping the failure's message; returns -1. */
int spg_abort(struct spg *st);

/* A caller's callback, for the row functions that hand it a row. */
struct spg_cb {
	union {
		int (*outbox_row)(const struct store_outbox_row *r, void *arg);
		int (*rrd_minute)(const struct store_rrd_minute *m, void *arg);
		int (*top)(const char *name, int64_t count, void *arg);
		int (*list)(const struct list_entry *e, void *arg);
		int (*stat)(const struct store_stat_row *row, void *arg);
		int (*quar_file)(const struct store_quar_file *f, void *arg);
		int (*quar_stat)(const struct store_quar_stat *q, void *arg);
		int (*digest_item)(const struct store_digest_item *it, void *arg);
		int (*pref)(const char *target, const char *freq, void *arg);
		int (*last)(const char *rcpt, int64_t last, void *arg);
	} fn;
	void *arg;
};

/* A GLOB pattern ('*', '?', case as given) as a LIKE pattern with '\'
 * as the escape character (g_free). */
char *spg_glob_to_like(const char *glob);

/* The ops of store_pg_aux.c, referenced by the backend table in store_pg.c. */
int spg_outbox_queue(struct store *st, const char *mail_id, const struct store_alert *a, size_t n, int64_t now);
int spg_outbox_due(struct store *st, int64_t now, int limit,
                   int (*fn)(const struct store_outbox_row *r, void *arg), void *arg);
int spg_outbox_claim(struct store *st, int64_t id, int64_t due_by, int64_t next_try);
int spg_outbox_sent(struct store *st, int64_t id, int64_t when);
int spg_outbox_retry(struct store *st, int64_t id, int64_t next_try, const char *why);
int spg_outbox_failed(struct store *st, int64_t id, const char *why);
int64_t spg_outbox_count_sent_admin(struct store *st, const char *rcpt, int64_t since);
int64_t spg_outbox_count_summaries(struct store *st, const char *rcpt, int64_t since);
int spg_outbox_fold(struct store *st, const char *rcpt, const void *body, size_t len, int64_t now,
                    const int64_t *ids, size_t nids, int64_t *summary_id);
int spg_msgs_bounds(struct store *st, int64_t *oldest_time, int64_t *high_id);
int spg_rrd_minutes(struct store *st, int64_t t0, int64_t t1, int64_t id0, int64_t id1,
                    int (*fn)(const struct store_rrd_minute *m, void *arg), void *arg);
int spg_rrd_state_get(struct store *st, const char *path, int64_t *last_minute, int64_t *last_id);
int spg_rrd_state_put(struct store *st, const char *path, int64_t last_minute, int64_t last_id);
int spg_list_add(struct store *st, const struct list_entry *e, const char *pkey, int64_t *id);
int spg_list_add_many(struct store *st, const struct list_entry *e, char *const *pkeys, size_t n);
int spg_list_del(struct store *st, int64_t id);
int spg_list_query(struct store *st, const char *scope, int64_t id,
                   int (*fn)(const struct list_entry *e, void *arg), void *arg);
int spg_list_probe(struct store *st, const struct list_probe *p, int64_t now,
                   int (*fn)(const struct list_entry *e, void *arg), void *arg);
void spg_lists_free(struct spg_lists *l);
int spg_report_top(struct store *st, enum store_top which, int64_t since, int64_t until, int top,
                   int (*fn)(const char *name, int64_t count, void *arg), void *arg);
extern const struct store_digest_ops store_pg_digest;

#endif
