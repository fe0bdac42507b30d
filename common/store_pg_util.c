/*
 * store_pg_util - parameters, transactions and columns for the PostgreSQL
 * store's files (see store_pg.h)
 */
#include "store_pg.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int spg_slot(struct spg_args *a)
{
	g_assert(a->n < SPG_MAXARGS);
	int i = a->n++;
	a->len[i] = 0;
	a->fmt[i] = 0;
	return i;
}

void spg_arg_str(struct spg_args *a, const char *s)
{
	a->v[spg_slot(a)] = s;
}

void spg_arg_i64(struct spg_args *a, int64_t v)
{
	int i = spg_slot(a);
	snprintf(a->num[i], sizeof(a->num[i]), "%" PRId64, v);
	a->v[i] = a->num[i];
}

void spg_arg_bool(struct spg_args *a, bool v)
{
	a->v[spg_slot(a)] = v ? "t" : "f";
}

void spg_arg_bin(struct spg_args *a, const void *data, size_t len)
{
	int i = spg_slot(a);
	g_assert(len <= INT32_MAX);
	a->v[i] = data ? data : "";
	a->len[i] = (int)len;
	a->fmt[i] = 1;
}

void spg_array_add(GString *lit, const char *v)
{
	g_assert(v && lit->len >= 1 && lit->str[0] == '{');
	g_string_append(lit, lit->len > 1 ? ",\"" : "\"");
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(lit, '\\');
		g_string_append_c(lit, *p);
	}
	g_string_append_c(lit, '"');
}

const char *spg_array_end(GString *lit)
{
	g_string_append_c(lit, '}');
	return lit->str;
}

/* Inside a transaction, its connection must still be the one that ran
 * BEGIN: a statement is never run on a newer connection (outside the
 * transaction, committed on its own). -1 with the store's error. */
static int spg_tx_alive(struct spg *st, const char *what)
{
	if (st->in_tx && (pgc_generation(st->c) != st->tx_gen || !pgc_connected(st->c)))
		return store_fail_set(&st->base, false,
		                      "%s: the connection was lost during the transaction (%s)", what,
		                      pgc_err(st->c));
	return 0;
}

PGresult *spg_run(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what)
{
	static const struct spg_args none;
	if (!a)
		a = &none;
	st->base.busy = false;
	if (spg_tx_alive(st, what) < 0)
		return NULL;
	PGresult *r = pgc_exec_bin(st->c, s, a->v, a->len, a->fmt, a->n);
	if (!r)
		store_fail_set(&st->base, false, "%s: %s", what, pgc_err(st->c));
	return r;
}

int64_t spg_do(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what)
{
	PGresult *r = spg_run(st, s, a, what);
	if (!r)
		return -1;
	const char *t = PQcmdTuples(r);
	int64_t n = *t ? g_ascii_strtoll(t, NULL, 10) : 0;
	PQclear(r);
	return n;
}

int spg_cmd(struct spg *st, const char *sql, const char *what)
{
	if (spg_tx_alive(st, what) < 0)
		return -1;
	if (pgc_cmd(st->c, sql) < 0)
		return store_fail_set(&st->base, false, "%s: %s", what, pgc_err(st->c));
	return 0;
}

int spg_begin(struct spg *st)
{
	st->base.busy = false;
	if (pgc_cmd(st->c, "BEGIN") < 0)
		return store_fail_set(&st->base, false, "begin: %s", pgc_err(st->c));
	st->tx_gen = pgc_generation(st->c);
	st->in_tx = true;
	pgc_pin(st->c, true);
	return 0;
}

int spg_commit(struct spg *st)
{
	st->in_tx = false;
	st->doubt = 0;
	/* still pinned: a COMMIT never reaches a new connection, where it
	 * would succeed with nothing to commit */
	int rc = 0;
	if (pgc_generation(st->c) != st->tx_gen || !pgc_connected(st->c)) {
		rc = store_fail_set(&st->base, false,
		                    "commit: the connection was lost during the transaction");
	} else if (pgc_cmd(st->c, "COMMIT") < 0) {
		rc = store_fail_set(&st->base, false, "commit: %s", pgc_err(st->c));
		st->doubt = pgc_unanswered(st->c);
	}
	pgc_pin(st->c, false);
	return rc;
}

void spg_rollback(struct spg *st)
{
	st->in_tx = false;
	/* a connection that is gone took its transaction with it; never
	 * reconnect just to roll back (pinned until done) */
	if (pgc_generation(st->c) == st->tx_gen && pgc_connected(st->c))
		pgc_cmd(st->c, "ROLLBACK");
	pgc_pin(st->c, false);
}

const char *spg_str(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

int64_t spg_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : g_ascii_strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double spg_f64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0.0 : g_ascii_strtod(PQgetvalue(r, row, col), NULL);
}

bool spg_null(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col);
}

char *spg_dup(const PGresult *r, int row, int col)
{
	return g_strdup(spg_str(r, row, col));
}

void *spg_bytea(const PGresult *r, int row, int col, size_t *len)
{
	size_t n = 0;
	unsigned char *raw = PQunescapeBytea((const unsigned char *)spg_str(r, row, col), &n);
	if (!raw) {
		*len = 0;
		return NULL;
	}
	void *out = g_memdup2(raw, n);
	PQfreemem(raw);
	*len = n;
	return out;
}

char *spg_glob_to_like(const char *glob)
{
	GString *s = g_string_sized_new(strlen(glob) + 8);
	for (const char *p = glob; *p; p++) {
		if (*p == '*')
			g_string_append_c(s, '%');
		else if (*p == '?')
			g_string_append_c(s, '_');
		else {
			if (*p == '%' || *p == '_' || *p == '\\')
				g_string_append_c(s, '\\');
			g_string_append_c(s, *p);
		}
	}
	return g_string_free(s, FALSE);
}

/* Runs a statement and calls row(r, i, ctx) for each row until it returns
 * non-zero: the rows seen (the stopping one counts), or -1. */
int spg_each(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what,
                    int (*row)(const PGresult *r, int i, void *ctx), void *ctx)
{
	PGresult *r = spg_run(st, s, a, what);
	if (!r)
		return -1;
	int n = 0, rows = PQntuples(r);
	while (n < rows)
		if (row(r, n++, ctx))
			break;
	PQclear(r);
	return n;
}

/* A statement changing at most one row: 0 changed, 1 none, -1. */
int spg_change_one(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what)
{
	int64_t n = spg_do(st, s, a, what);
	return n < 0 ? -1 : n > 0 ? 0 : 1;
}

int spg_ints(struct spg *st, const struct pgc_stmt *s, const struct spg_args *a, const char *what, int64_t *const *v)
{
	PGresult *r = spg_run(st, s, a, what);
	if (!r)
		return -1;
	int rc = PQntuples(r) > 0 ? 0 : 1;
	for (int i = 0; rc == 0 && v[i]; i++)
		*v[i] = spg_i64(r, 0, i);
	PQclear(r);
	return rc;
}

int spg_abort(struct spg *st)
{
	spg_rollback(st);
	return -1;
}
