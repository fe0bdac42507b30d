/*
 * test_groupcommit - verdict rows of concurrent workers share transactions
 * (scand/groupcommit.c) on a real SQLite file: while the writer is busy,
 * rows queue up and go in one transaction; every gc_put() returns only
 * after its row is readable; 8 threads x 250 rows lose none and share
 * transactions. Each test has its own store (setup/teardown per test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "scand/answers.h"
#include "scand/groupcommit.h"
#include "mailid.h"
#include "store.h"
#include "store_sqlite.h"
#include "test_util.h"

static char *db_path;

struct worker {
	int n;     /* rows to write */
	int fails; /* gc_put failures, or rows not readable after gc_put */
	struct store *reader;
};

static gpointer worker_main(gpointer p)
{
	struct worker *w = p;
	for (int i = 0; i < w->n; i++) {
		struct store_rcpt r = {.addr = "bob@example.com", .destiny = "pass", .smtp_answer = ""};
		struct store_msg m = {.time = 1763700000 + i,
				      .sender = "alice@example.org",
				      .size = 100,
				      .category = "clean",
				      .nrcpt = 1,
				      .rcpt = &r};
		char err[512];
		mailid_new(m.mail_id);
		if (gc_put(&m, NULL, 0, err, sizeof(err)) < 0) {
			w->fails++;
			continue;
		}
		struct store_msg *got = NULL;
		if (w->reader && store_get(w->reader, m.mail_id, &got) != 0) /* committed before the return */
			w->fails++;
		store_msg_free(got);
	}
	return NULL;
}

static struct store *reader(void)
{
	return tu_store_open(db_path, 5000);
}

/* Worker threads and the group commit's counters (gc_stats) when they
 * started. */
struct crew {
	struct worker w[8];
	GThread *th[8];
	int n;
	unsigned long msgs0, txns0;
};

/* Starts n workers, each writing rows rows (and reading each back through
 * a store of its own when read_back). */
static void crew_start(struct crew *c, int n, int rows, bool read_back)
{
	assert_true(n <= 8);
	c->n = n;
	gc_stats(&c->msgs0, &c->txns0);
	for (int i = 0; i < n; i++) {
		c->w[i] = (struct worker){.n = rows, .reader = read_back ? reader() : NULL};
		c->th[i] = g_thread_new("w", worker_main, &c->w[i]);
	}
}

/* The rows returned and the transactions committed since crew_start(). */
static void crew_counts(const struct crew *c, unsigned long *msgs, unsigned long *txns)
{
	gc_stats(msgs, txns);
	*msgs -= c->msgs0;
	*txns -= c->txns0;
}

/* Waits for the workers: none may have failed. */
static void crew_join(struct crew *c)
{
	for (int i = 0; i < c->n; i++) {
		g_thread_join(c->th[i]);
		assert_int_equal(c->w[i].fails, 0);
		if (c->w[i].reader)
			store_close(c->w[i].reader);
	}
}

static int setup(void **state)
{
	(void)state;
	char *err = NULL;
	db_path = tu_tmp_db("gh-gc-XXXXXX");
	if (answers_start(db_path, 5000, "", &err) < 0)
		fail_msg("answers_start: %s", err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	answers_stop();
	tu_rm_db(db_path);
	return 0;
}

/* While the writer lock is held, four workers queue; released, their four
 * rows need at most two transactions (the first leader took one or more
 * before it blocked; the next takes the rest). */
static void test_rows_queue_while_writer_busy(void **state)
{
	(void)state;
	struct crew c;
	unsigned long m, t;

	answers_lock();
	crew_start(&c, 4, 1, false);
	g_usleep(300 * 1000);
	crew_counts(&c, &m, &t);
	assert_int_equal(m, 0); /* nobody returned while the lock was held */
	answers_unlock();
	crew_join(&c);
	crew_counts(&c, &m, &t);
	assert_int_equal(m, 4);
	assert_true(t >= 1 && t <= 2);
}

static void test_eight_threads_lose_nothing(void **state)
{
	(void)state;
	struct crew c;
	unsigned long m, t;

	crew_start(&c, 8, 250, true);
	crew_join(&c);
	crew_counts(&c, &m, &t);
	assert_int_equal(m, 2000);
	/* one transaction per row would mean no grouping at all; 8 writers
	 * always overlap (measured: about 4 rows per transaction) */
	assert_true(t >= 1);
	assert_true(t < 2000);
	struct store *st = reader();
	sqlite3_stmt *q;
	sqlite3_prepare_v2(store_sqlite_db(st), "SELECT count(*) FROM msgs", -1, &q, NULL);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 2000); /* this test's store holds only its rows */
	sqlite3_finalize(q);
	store_close(st);
	print_message("group commit: 2000 rows from 8 threads in %lu transactions\n", t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rows_queue_while_writer_busy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eight_threads_lose_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
