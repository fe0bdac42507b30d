/*
 * gh-pgconn - drive one store_pg_conn connection from stdin (tests only)
 *
 * gh-pgconn URL
 *
 * Each line "event TEXT" inserts an events row (action 'test', detail TEXT)
 * through a prepared statement and prints "ok" or "fail: REASON"; "quit"
 * (or the end of input) stops. tests/e2e/test_pg_store.py stops and starts
 * PostgreSQL between lines to see calls fail while it is down and succeed
 * again, on a new connection with the statement prepared anew, when it is
 * back. Built into $(BUILD)/tests/tools/ (not named test_*).
 */
#include <stdio.h>
#include <string.h>

#include "store_pg_conn.h"

static const struct pgc_stmt ins_event = {
    "ins_event", "INSERT INTO events (time, mail_id, action, who, detail, result, host) "
                 "VALUES (0, '', 'test', 'gh-pgconn', $1, 'ok', 'gh-pgconn')"};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gh-pgconn URL\n");
		return 2;
	}
	struct pgc *c = pgc_new(argv[1], "gh-pgconn");
	char line[1024];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		if (strncmp(line, "event ", 6) != 0) {
			printf("fail: unknown command\n");
		} else {
			const char *p[1] = {line + 6};
			PGresult *r = pgc_exec(c, &ins_event, p, 1);
			if (r)
				printf("ok\n");
			else
				printf("fail: %s\n", pgc_err(c));
			PQclear(r);
		}
		fflush(stdout);
	}
	pgc_free(c);
	return 0;
}
