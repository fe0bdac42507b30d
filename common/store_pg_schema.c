/*
 * store_pg_schema - the PostgreSQL store's migrations (see store_pg_schema.h)
 */
#include "store_pg_schema.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern const char *const schema_pg_migrations[];
extern const int schema_pg_version;

static int pg_cmd(PGconn *conn, const char *sql, const char *what, char *err, size_t errlen)
{
	/* Only for constant SQL (BEGIN/COMMIT, embedded migrations): a
	 * migration is several statements, which only the simple protocol runs. */
	PGresult *r = PQexec(conn, sql);
	ExecStatusType s = PQresultStatus(r);
	int rc = 0;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s: %s", what, PQresultErrorMessage(r));
		g_strchomp(err);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

static const char version_sql[] = "SELECT count(*) FROM gatehouse_schema";

int store_pg_version(PGconn *conn)
{
	PGresult *r = PQexecParams(conn, "SELECT to_regclass('gatehouse_schema') IS NOT NULL", 0, NULL, NULL,
	                           NULL, NULL, 0);
	int v = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = PQgetvalue(r, 0, 0)[0] == 't' ? 1 : 0;
	PQclear(r);
	if (v != 1)
		return v;
	r = PQexecParams(conn, version_sql, 0, NULL, NULL, NULL, NULL, 0);
	v = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static int pg_applied(PGconn *conn, int version, const char *host, char *err, size_t errlen)
{
	char v[16], t[24];
	snprintf(v, sizeof(v), "%d", version);
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	const char *params[3] = {v, t, host ? host : ""};
	PGresult *r = PQexecParams(conn,
	                           "INSERT INTO gatehouse_schema (version, applied_at, host) "
	                           "VALUES ($1::integer, $2::bigint, $3)",
	                           3, NULL, params, NULL, NULL, 0);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "migration %03d: record: %s", version, PQresultErrorMessage(r));
		g_strchomp(err);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

int store_pg_migrate(PGconn *conn, const char *host, char *err, size_t errlen)
{
	int v = store_pg_version(conn);
	if (v >= schema_pg_version)
		return v; /* the common case: nothing to lock */
	if (pg_cmd(conn, "BEGIN", "migrate: begin", err, errlen) < 0)
		return -1;
	char lock[96];
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d)", STORE_PG_MIGRATE_LOCK);
	/* SET LOCAL: no NOTICE for the version table another host made first */
	if (pg_cmd(conn, "SET LOCAL client_min_messages = warning", "migrate: set", err, errlen) < 0 ||
	    pg_cmd(conn, lock, "migrate: lock", err, errlen) < 0 ||
	    pg_cmd(conn,
	           "CREATE TABLE IF NOT EXISTS gatehouse_schema ("
	           " version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL, host TEXT NOT NULL)",
	           "migrate: version table", err, errlen) < 0)
		goto fail;
	/* read again under the lock: another host may have migrated meanwhile */
	v = store_pg_version(conn);
	if (v < 0) {
		snprintf(err, errlen, "migrate: version: %s", PQerrorMessage(conn));
		g_strchomp(err);
		goto fail;
	}
	for (; v < schema_pg_version; v++) {
		char what[32];
		snprintf(what, sizeof(what), "migration %03d", v + 1);
		if (pg_cmd(conn, schema_pg_migrations[v], what, err, errlen) < 0 ||
		    pg_applied(conn, v + 1, host, err, errlen) < 0)
			goto fail;
	}
	if (pg_cmd(conn, "COMMIT", "migrate: commit", err, errlen) < 0)
		goto fail;
	return v;
fail:
	PQclear(PQexec(conn, "ROLLBACK"));
	return -1;
}
