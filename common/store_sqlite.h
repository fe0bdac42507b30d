/*
 * store_sqlite - the SQLite backend's handle
 *
 * store_sqlite_db() gives the sqlite3 handle of a store opened on the
 * SQLite backend, or NULL for any other backend. Its users: the SQLite
 * half of the digest ops (store_sqlite_digest.c, reached through store.h
 * like every other op) and tests.
 */
#ifndef GH_STORE_SQLITE_H
#define GH_STORE_SQLITE_H

#include <sqlite3.h>

#include "store.h"

sqlite3 *store_sqlite_db(struct store *st);

#endif
