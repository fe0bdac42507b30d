/*
 * gh-listlookup - one allow/block list lookup, as scand makes it (tests only)
 *
 * gh-listlookup STORE NOW RCPT SENDER...
 *
 * Opens STORE (a path, "sqlite:PATH" or "postgresql://USER@HOST:PORT/DB")
 * and, for each SENDER, calls store_list_lookup(RCPT, SENDER, NOW): the
 * entry that decides prints as "SENDER: " and list_entry_describe(), no
 * entry as "SENDER: none". tests/e2e/test_pg_aux.py compares the answers
 * of both backends (scand's own lookups need the rest of the PostgreSQL
 * store). Built into $(BUILD)/tests/tools/ (not named test_*).
 *
 * Failures: a message on stderr and exit 2 for usage, 5 for the store.
 */
#include <glib.h>
#include <stdio.h>

#include "lists.h"
#include "store.h"

int main(int argc, char **argv)
{
	struct store *st = NULL;
	char *err = NULL;
	if (argc < 5) {
		fprintf(stderr, "usage: gh-listlookup STORE NOW RCPT SENDER...\n");
		return 2;
	}
	if (store_open(argv[1], 5000, &st, &err) < 0) {
		fprintf(stderr, "gh-listlookup: %s\n", err);
		g_free(err);
		return 5;
	}
	int64_t now = g_ascii_strtoll(argv[2], NULL, 10);
	int rc = 0;
	for (int i = 4; i < argc && rc == 0; i++) {
		struct list_entry *hit = NULL;
		int r = store_list_lookup(st, argv[3], argv[i], now, &hit);
		if (r < 0) {
			fprintf(stderr, "gh-listlookup: %s\n", store_error(st));
			rc = 5;
		} else {
			char *what = hit ? list_entry_describe(hit) : g_strdup("none");
			printf("%s: %s\n", argv[i], what);
			g_free(what);
			list_entry_free(hit);
		}
	}
	store_close(st);
	return rc;
}
