/*
 * store_sqlite_digest - the SQLite backend's digest operations (see
 * store.h "The recipients' digest"); only store_sqlite.c includes this.
 */
#ifndef GH_STORE_SQLITE_DIGEST_H
#define GH_STORE_SQLITE_DIGEST_H

#include "store_backend.h"

extern const struct store_digest_ops store_sqlite_digest;

#endif
