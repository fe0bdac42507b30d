/*
 * gh-listlookup - one allow/block list lookup, as scand makes it (tests only)
 *
 * gh-listlookup STORE NOW RCPT SENDER...
 * gh-listlookup STORE - RCPT
 *
 * Opens STORE (a path, "sqlite:PATH" or "postgresql://USER@HOST:PORT/DB")
 * and, for each SENDER, calls store_list_lookup(RCPT, SENDER, NOW): the
 * entry that decides prints as "SENDER: " and list_entry_describe(), no
 * entry as "SENDER: none". With NOW "-" the senders are read from stdin,
 * a line each, on the one handle as scand's lookups are, each looked up at
 * the time it is read and answered at once (a failure prints as
 * "SENDER: error: " and the store's error, and the next line is read);
 * test_pg_aux.py edits the lists in between. tests/e2e/test_pg_aux.py compares the answers
 * of both backends (scand's own lookups need the rest of the PostgreSQL
 * store). Built into $(BUILD)/tests/tools/ (not named test_*).
 *
 * Failures: a message on stderr and exit 2 for usage, 5 for the store.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lists.h"
#include "store.h"

int main(int argc, char **argv)
{
	struct store *st = NULL;
	char *err = NULL;
	if (argc < 4 || (argc < 5 && strcmp(argv[2], "-") != 0)) {
		fprintf(stderr, "usage: gh-listlookup STORE NOW RCPT SENDER... | STORE - RCPT\n");
		return 2;
	}
	if (store_open(argv[1], 5000, &st, &err) < 0) {
		fprintf(stderr, "gh-listlookup: %s\n", err);
		g_free(err);
		return 5;
	}
	if (strcmp(argv[2], "-") == 0) {
		char line[1024];
		while (fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, "\r\n")] = '\0';
			struct list_entry *hit = NULL;
			int r = store_list_lookup(st, argv[3], line, (int64_t)time(NULL), &hit);
			char *what = r < 0 ? g_strdup_printf("error: %s", store_error(st))
			                   : hit ? list_entry_describe(hit) : g_strdup("none");
			printf("%s: %s\n", line, what);
			fflush(stdout);
			g_free(what);
			list_entry_free(hit);
		}
		store_close(st);
		return 0;
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
