/*
 * store_pg_conn - the store's PostgreSQL connection (see store_pg_conn.h)
 */
#include "store_pg_conn.h"

#include <glib.h>
#include <poll.h>
#include <stdio.h>

#include "store_pg_schema.h"

#define PGC_BACKOFF_MIN_US (100 * 1000)
#define PGC_BACKOFF_MAX_US (5 * 1000 * 1000)

struct pgc {
	char *url;
	const char *host;     /* borrowed: read at each connect (its migration row) */
	PGconn *conn;         /* NULL while disconnected */
	GHashTable *prepared; /* statement names prepared on conn */
	gint64 next_try;      /* monotonic time before which no reconnect is tried */
	gint64 backoff;       /* the wait after the next failed connect */
	unsigned gen;         /* counts successful connects (pgc_generation) */
	bool pinned;          /* in a transaction: never reconnect (pgc_pin) */
	int pid;              /* the server process of conn (PQbackendPID, which says 0 once it broke) */
	int unanswered;       /* the last call's statement was sent, its answer lost: the server process */
	char err[512];
};

static void pgc_errf(struct pgc *c, const char *what, const char *msg)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", what, msg);
	g_strchomp(c->err);
	g_strdelimit(c->err, "\r\n\t", ' '); /* libpq's messages span lines: one line for the log */
}

static void pgc_drop(struct pgc *c)
{
	if (c->conn)
		PQfinish(c->conn);
	c->conn = NULL;
	g_hash_table_remove_all(c->prepared);
}

/* Whether the idle connection still stands: the server sends nothing to
 * an idle client unless it is closing the connection (a shutdown, an
 * administrator's kill: an error, then EOF), so a readable socket is read
 * and looked at again. One poll() per statement. */
static bool pgc_alive(struct pgc *c)
{
	if (!c->conn || PQstatus(c->conn) != CONNECTION_OK)
		return false;
	struct pollfd p = {.fd = PQsocket(c->conn), .events = POLLIN};
	/* a closing server's error, then its EOF: a read each */
	for (int i = 0; i < 4 && poll(&p, 1, 0) > 0; i++)
		if (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK) {
			pgc_errf(c, "connection", PQerrorMessage(c->conn));
			return false;
		}
	return true;
}

/* The server's notices and the errors it sends an idle connection
 * ("terminating connection due to administrator command"): kept as the
 * reason for what fails next, never written to stderr. */
static void pgc_notice(void *arg, const char *msg)
{
	pgc_errf(arg, "server", msg);
}

static int pgc_connect(struct pgc *c)
{
	if (pgc_alive(c))
		return 0;
	if (c->pinned) { /* its transaction died with it: never go on with a new one */
		if (c->conn)
			pgc_drop(c);
		return -1;
	}
	pgc_drop(c);
	gint64 now = g_get_monotonic_time();
	if (now < c->next_try)
		return -1; /* c->err still says why the last attempt failed */
	c->conn = PQconnectdb(c->url);
	int ok = PQstatus(c->conn) == CONNECTION_OK;
	if (ok)
		PQsetNoticeProcessor(c->conn, pgc_notice, c);
	if (!ok)
		pgc_errf(c, "connect", PQerrorMessage(c->conn));
	else if (store_pg_migrate(c->conn, c->host, c->err, sizeof(c->err)) < 0)
		ok = 0;
	if (!ok) {
		pgc_drop(c);
		c->next_try = now + c->backoff;
		c->backoff = MIN(c->backoff * 2, PGC_BACKOFF_MAX_US);
		return -1;
	}
	c->backoff = PGC_BACKOFF_MIN_US;
	c->next_try = 0;
	c->gen++;
	c->pid = PQbackendPID(c->conn);
	return 0;
}

struct pgc *pgc_new(const char *url, const char *host)
{
	struct pgc *c = g_new0(struct pgc, 1);
	c->url = g_strdup(url);
	c->host = host ? host : "";
	c->prepared = g_hash_table_new(g_str_hash, g_str_equal);
	c->backoff = PGC_BACKOFF_MIN_US;
	g_strlcpy(c->err, "not connected yet", sizeof(c->err));
	return c;
}

void pgc_free(struct pgc *c)
{
	if (!c)
		return;
	pgc_drop(c);
	g_hash_table_destroy(c->prepared);
	g_free(c->url);
	g_free(c);
}

int pgc_open(struct pgc *c)
{
	return pgc_connect(c);
}

unsigned pgc_generation(const struct pgc *c)
{
	return c->gen;
}

bool pgc_connected(const struct pgc *c)
{
	return c->conn && PQstatus(c->conn) == CONNECTION_OK;
}

int pgc_notifications(struct pgc *c)
{
	if (!pgc_alive(c))
		return -1;
	int n = 0;
	PGnotify *note;
	while ((note = PQnotifies(c->conn)) != NULL) {
		PQfreemem(note);
		n++;
	}
	return n;
}

int pgc_unanswered(const struct pgc *c)
{
	return c->unanswered;
}

void pgc_pin(struct pgc *c, bool on)
{
	c->pinned = on;
}

const char *pgc_err(const struct pgc *c)
{
	return c->err;
}

/* A failed result: keep the message; a broken connection is dropped so
 * that the next call reconnects (at once; a failed connect backs off). */
static PGresult *pgc_failed(struct pgc *c, PGresult *r, const char *what)
{
	const char *m = r ? PQresultErrorMessage(r) : "";
	pgc_errf(c, what, *m ? m : PQerrorMessage(c->conn));
	PQclear(r);
	if (PQstatus(c->conn) != CONNECTION_OK) {
		c->unanswered = c->pid;
		pgc_drop(c); /* the next call reconnects at once; failed connects back off */
	}
	return NULL;
}

static int pgc_prepare(struct pgc *c, const struct pgc_stmt *s)
{
	if (g_hash_table_contains(c->prepared, s->name))
		return 0;
	PGresult *r = PQprepare(c->conn, s->name, s->sql, 0, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pgc_failed(c, r, s->name);
		return -1;
	}
	PQclear(r);
	g_hash_table_add(c->prepared, (gpointer)s->name);
	return 0;
}

PGresult *pgc_exec_bin(struct pgc *c, const struct pgc_stmt *s, const char *const *params, const int *lengths,
                       const int *formats, int n)
{
	c->unanswered = 0;
	if (pgc_connect(c) < 0 || (s->name && pgc_prepare(c, s) < 0))
		return NULL;
	PGresult *r = !s->name ? PQexecParams(c->conn, s->sql, n, NULL, params, lengths, formats, 0)
	                                : PQexecPrepared(c->conn, s->name, n, params, lengths, formats, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return pgc_failed(c, r, s->name ? s->name : "statement");
	return r;
}

PGresult *pgc_exec(struct pgc *c, const struct pgc_stmt *s, const char *const *params, int n)
{
	return pgc_exec_bin(c, s, params, NULL, NULL, n);
}

int pgc_cmd(struct pgc *c, const char *sql)
{
	c->unanswered = 0;
	if (pgc_connect(c) < 0)
		return -1;
	PGresult *r = PQexec(c->conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pgc_failed(c, r, sql);
		return -1;
	}
	PQclear(r);
	return 0;
}
