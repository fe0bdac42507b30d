/*
 * store_pg_conn - one PostgreSQL connection of the store, its prepared
 * statements and its reconnection with backoff
 *
 * pgc_new(url, host) makes the handle without connecting: the first call
 * connects (so a server that is down is not an error here: the first
 * statement reports it). host is borrowed, not copied, and read at each
 * connect for the migration rows (store_pg_migrate): the caller keeps it
 * alive (the store's own st->base.host, set after open, is seen).
 * pgc_exec(c, stmt, params, n) runs a prepared statement: each
 * struct pgc_stmt (a name and constant SQL, normally static) is prepared
 * on a connection the first time it is used there (PQprepare), never
 * again on that connection. Parameters are text, NULL for SQL NULL;
 * pgc_exec_bin() takes lengths and formats for bytea. A connection that
 * is found broken is dropped; the next call reconnects (which migrates:
 * store_pg_migrate); after a failed connect, not before the backoff has
 * passed (100 ms, doubling to 5 s, reset by a good connection), so a store that is down
 * makes every call fail fast with the reason in the error text, and a
 * store that returns is used again without anyone restarting anything.
 * Before each statement an idle connection is checked (pgc_alive: the
 * server closing it, e.g. a restart, is seen then, not by a statement
 * that fails): a broken one is replaced at once. pgc_pin(c, true) (BEGIN
 * done) forbids any reconnect until pgc_pin(c, false): a call on a pinned
 * connection that broke fails, so no statement of a transaction ever
 * runs outside it on a new connection.
 * pgc_cmd(c, sql) runs constant SQL without parameters (BEGIN, COMMIT).
 * On failure the calls return NULL / -1 and pgc_err(c) says why; a result
 * is freed with PQclear. pgc_free() closes the connection.
 * pgc_generation() counts the connections made so far: a transaction that
 * sees it change between BEGIN and COMMIT ran partly on a connection that
 * is gone (whose BEGIN died with it) and must be treated as failed.
 */
#ifndef GH_STORE_PG_CONN_H
#define GH_STORE_PG_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct pgc;

struct pgc_stmt {
	/* unique among the statements of one connection; NULL: never prepared
	 * but planned at each use, for its parameters and the tables' sizes
	 * then (PQexecParams), for a statement that joins arrays of rows to
	 * tables, whose cached plan, made while the tables were small, would
	 * keep scanning them whole once they are not */
	const char *name;
	const char *sql;
};

struct pgc *pgc_new(const char *url, const char *host);
void pgc_free(struct pgc *c);
/* Connects (and migrates) now rather than on the first statement: 0, or -1
 * with pgc_err() saying why (for a program that must fail at start). */
int pgc_open(struct pgc *c);
PGresult *pgc_exec(struct pgc *c, const struct pgc_stmt *s, const char *const *params, int n);
PGresult *pgc_exec_bin(struct pgc *c, const struct pgc_stmt *s, const char *const *params, const int *lengths,
                       const int *formats, int n);
int pgc_cmd(struct pgc *c, const char *sql);
const char *pgc_err(const struct pgc *c);
unsigned pgc_generation(const struct pgc *c);
bool pgc_connected(const struct pgc *c);
void pgc_pin(struct pgc *c, bool on);
/* After a call that failed: when its statement may have reached the
 * server but the connection broke before the answer came (it may have
 * run: a COMMIT may have committed), the process id of the server process
 * that had it; 0 when the call failed otherwise (an error answered, or
 * nothing sent). */
int pgc_unanswered(const struct pgc *c);
/* The notifications (LISTEN) that arrived since the last call, dropped:
 * their count, or -1 when the connection is down or found closed (its
 * LISTENs are gone with it). Reads what the socket holds, never waits. */
int pgc_notifications(struct pgc *c);

#endif
