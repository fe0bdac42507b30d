/*
 * gh-pgmigrate - apply the PostgreSQL store's migrations (tests only)
 *
 * gh-pgmigrate URL [HOST]
 *
 * Connects to URL (postgresql://USER@HOST:PORT/DB), runs store_pg_migrate()
 * as every program opening the store will, and prints "version N" for the
 * version reached. tests/e2e/test_pg_store.py starts several at once to
 * show that they migrate once, and compares the tables they make with
 * SQLite's. Built into $(BUILD)/tests/tools/ (not named test_*).
 *
 * Failures: a message on stderr and exit 1 (2 for usage, 5 for the store).
 */
#include <libpq-fe.h>
#include <stdio.h>

#include "store_pg_schema.h"

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: gh-pgmigrate URL [HOST]\n");
		return 2;
	}
	PGconn *conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "gh-pgmigrate: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 5;
	}
	char err[512];
	int v = store_pg_migrate(conn, argc > 2 ? argv[2] : "", err, sizeof(err));
	PQfinish(conn);
	if (v < 0) {
		fprintf(stderr, "gh-pgmigrate: %s\n", err);
		return 5;
	}
	printf("version %d\n", v);
	return 0;
}
