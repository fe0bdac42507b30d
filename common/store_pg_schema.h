/*
 * store_pg_schema - the PostgreSQL store's migrations
 *
 * store_pg_migrate() brings the database that conn is connected to up to
 * the embedded schema/postgresql/ migrations (scripts/embed-schema, the
 * same version numbers as schema/sqlite/). All of it is one transaction
 * under a transaction-level advisory lock (pg_advisory_xact_lock), so that
 * several hosts starting at once on one database migrate once: the first
 * applies what is missing, the others wait for its commit and then find
 * nothing to do. The version is the row count of gatehouse_schema (one row
 * per applied migration: version, time, host). Returns the version reached,
 * or -1 with a message in err (the transaction rolled back: nothing half
 * applied).
 * store_pg_version() reads the version (0 for an empty database), -1 on
 * failure.
 */
#ifndef GH_STORE_PG_SCHEMA_H
#define GH_STORE_PG_SCHEMA_H

#include <libpq-fe.h>
#include <stddef.h>

/* the advisory lock key every migrating process takes ("GHSC") */
#define STORE_PG_MIGRATE_LOCK 0x47485343

int store_pg_migrate(PGconn *conn, const char *host, char *err, size_t errlen);
int store_pg_version(PGconn *conn);

#endif
