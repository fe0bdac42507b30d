/*
 * stats - aggregate one period of the verdict store for the weekly report
 *
 * report_build() fills a struct report for [since, until) and the totals
 * of the period of the same length just before it. Every number comes from
 * a prepared, GROUP BY statement that walks the time index (msgs_report
 * covers the per-category and per-day counts); no statement loads every
 * row into memory. The totals, days, busiest hour and scan times are plain
 * SQL (PostgreSQL runs it too) over store_sqlite_db(); the top tables,
 * whose name splitting is backend-specific SQL, come from
 * store_report_top(). Definitions:
 *   - a message belongs to the period of its msgs.time (UTC);
 *   - recipients and destinies come from msgrcpt rows of those messages;
 *   - quarantined = quar_path set; released/purged = quar_state now;
 *   - "spam" in the top tables means category spam or spammy;
 *   - virus_names and banned_names are comma separated: each name counts;
 *   - scan time p95 is the nearest rank: the ceil(0.95 * N)-th smallest.
 * report_period_week()/report_last_week() compute ISO weeks in UTC with
 * GDate/GDateTime; report_parse_time() is common/when.h's parser with a
 * message.
 *
 * Failures return -1 with *err set (the SQLite message); nothing is logged.
 */
#include "report.h"

#include "log.h"
#include "when.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const report_categories[REPORT_NCAT] = {"clean",  "virus", "banned",    "spam",
                                                    "spammy", "badh",  "unchecked", "oversized"};
const char *const report_destinies[REPORT_NDEST] = {"pass", "discard", "bounce", "reject", "tempfail"};
const char *const report_destiny_labels[REPORT_NDEST] = {"passed", "discarded", "bounced", "rejected",
                                                         "tempfailed"};
const char *const report_hist_labels[REPORT_NHIST] = {"< 0",  "0-2",   "2-4",   "4-6",  "6-8",
                                                      "8-10", "10-15", "15-20", ">= 20"};

/* The SQL, one statement per question. ?1 = since, ?2 = until, ?3 = top. */
static const char sql_categories[] = "SELECT category, count(*), coalesce(sum(size), 0) FROM msgs "
                                     "WHERE time >= ?1 AND time < ?2 GROUP BY category";
static const char sql_destinies[] = "SELECT r.destiny, count(*) FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
                                    "WHERE m.time >= ?1 AND m.time < ?2 GROUP BY r.destiny";
/* Quarantine counts and the spam score histogram: the columns are not in
 * an index, so one pass over the period's rows answers both. */
static const char sql_rows[] =
    "SELECT count(quar_path), "
    "coalesce(sum(CASE WHEN quar_state = 'released' THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN quar_state = 'purged' THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score < 0 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score >= 0 AND spam_score < 2 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score >= 2 AND spam_score < 4 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score >= 4 AND spam_score < 6 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score >= 6 AND spam_score < 8 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score >= 8 AND spam_score < 10 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score >= 10 AND spam_score < 15 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score >= 15 AND spam_score < 20 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN spam_score >= 20 THEN 1 ELSE 0 END), 0) "
    "FROM msgs WHERE time >= ?1 AND time < ?2";
static const char sql_days[] = "SELECT time / 86400, category, count(*), coalesce(sum(size), 0) FROM msgs "
                               "WHERE time >= ?1 AND time < ?2 GROUP BY 1, 2";
static const char sql_busiest_hour[] =
    "SELECT time / 3600 AS h, count(*) AS n FROM msgs WHERE time >= ?1 AND time < ?2 "
    "GROUP BY h ORDER BY n DESC, h LIMIT 1";
/* Scan times grouped by value (from the covering index): the mean and the
 * nearest-rank p95 follow from the running count without sorting rows. */
static const char sql_scan[] =
    "SELECT scan_ms, count(*) FROM msgs WHERE time >= ?1 AND time < ?2 GROUP BY scan_ms ORDER BY scan_ms";

typedef void (*stats_row_fn)(sqlite3_stmt *s, struct report *r, void *arg);

/* Prepare sql, bind the period (and arg3 if >= 0), call fn per row. */
static int stats_query(sqlite3 *db, const char *sql, int64_t since, int64_t until, int64_t arg3,
                       stats_row_fn fn, struct report *r, void *arg, char **err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		*err = g_strdup_printf("report: prepare: %s", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(s, 1, since);
	sqlite3_bind_int64(s, 2, until);
	if (arg3 >= 0)
		sqlite3_bind_int64(s, 3, arg3);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(s, r, arg);
	if (rc != SQLITE_DONE)
		*err = g_strdup_printf("report: query: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int stats_index(const char *const *names, int n, const unsigned char *name)
{
	for (int i = 0; name && i < n; i++)
		if (strcmp(names[i], (const char *)name) == 0)
			return i;
	return -1;
}

static void row_category(sqlite3_stmt *s, struct report *r, void *arg)
{
	struct report_totals *t = arg;
	int i = stats_index(report_categories, REPORT_NCAT, sqlite3_column_text(s, 0));
	(void)r;
	if (i < 0)
		return; /* the schema's CHECK keeps this from happening */
	t->cat[i] = sqlite3_column_int64(s, 1);
	t->messages += t->cat[i];
	t->bytes += sqlite3_column_int64(s, 2);
}

static void row_destiny(sqlite3_stmt *s, struct report *r, void *arg)
{
	struct report_totals *t = arg;
	int i = stats_index(report_destinies, REPORT_NDEST, sqlite3_column_text(s, 0));
	(void)r;
	if (i < 0)
		return;
	t->dest[i] = sqlite3_column_int64(s, 1);
	t->recipients += t->dest[i];
}

static void row_rows(sqlite3_stmt *s, struct report *r, void *arg)
{
	struct report_totals *t = arg;
	t->quarantined = sqlite3_column_int64(s, 0);
	t->released = sqlite3_column_int64(s, 1);
	t->purged = sqlite3_column_int64(s, 2);
	for (int i = 0; r && i < REPORT_NHIST; i++)
		r->hist[i] = sqlite3_column_int64(s, 3 + i);
}

static void row_day(sqlite3_stmt *s, struct report *r, void *arg)
{
	int64_t idx = sqlite3_column_int64(s, 0) - r->since / 86400;
	int c = stats_index(report_categories, REPORT_NCAT, sqlite3_column_text(s, 1));
	(void)arg;
	if (idx < 0 || idx >= (int64_t)r->days->len || c < 0)
		return;
	struct report_day *d = &g_array_index(r->days, struct report_day, idx);
	d->cat[c] += sqlite3_column_int64(s, 2);
	d->messages += sqlite3_column_int64(s, 2);
	d->bytes += sqlite3_column_int64(s, 3);
}

static void row_busiest(sqlite3_stmt *s, struct report *r, void *arg)
{
	(void)arg;
	r->busiest_hour = sqlite3_column_int64(s, 0) * 3600;
	r->busiest_hour_count = sqlite3_column_int64(s, 1);
}

static void report_count_free(gpointer p)
{
	struct report_count *c = p;
	g_free(c->name);
	g_free(c);
}

static int row_count(const char *name, int64_t count, void *arg)
{
	GPtrArray *a = arg;
	struct report_count *c = g_new0(struct report_count, 1);
	c->name = g_strdup(name);
	c->count = count;
	g_ptr_array_add(a, c);
	return 0;
}

/* A top table (behind the store: its SQL is backend-specific). */
static int stats_top(struct store *st, enum store_top which, struct report *r, int top, GPtrArray *out,
                     char **err)
{
	if (store_report_top(st, which, r->since, r->until, top, row_count, out) == 0)
		return 0;
	*err = g_strdup_printf("report: query: %s", store_error(st));
	return -1;
}

struct scan_acc {
	int64_t n, sum;
	GArray *groups; /* pairs of (scan_ms, count), ascending */
};

static void row_scan(sqlite3_stmt *s, struct report *r, void *arg)
{
	struct scan_acc *a = arg;
	int64_t g[2] = {sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)};
	(void)r;
	a->n += g[1];
	a->sum += g[0] * g[1];
	g_array_append_vals(a->groups, g, 2);
}

/* r: the report whose histogram comes with the current period, or NULL. */
static int stats_totals(sqlite3 *db, int64_t since, int64_t until, struct report_totals *t, struct report *r,
                        char **err)
{
	memset(t, 0, sizeof(*t));
	if (stats_query(db, sql_categories, since, until, -1, row_category, NULL, t, err) < 0 ||
	    stats_query(db, sql_destinies, since, until, -1, row_destiny, NULL, t, err) < 0 ||
	    stats_query(db, sql_rows, since, until, -1, row_rows, r, t, err) < 0)
		return -1;
	return 0;
}

static int stats_scan_time(sqlite3 *db, struct report *r, char **err)
{
	struct scan_acc a = {.groups = g_array_new(FALSE, FALSE, sizeof(int64_t))};
	int rc = stats_query(db, sql_scan, r->since, r->until, -1, row_scan, r, &a, err);

	r->scanned = a.n;
	r->scan_mean = a.n ? (double)a.sum / (double)a.n : 0.0;
	if (rc == 0 && a.n) {
		int64_t rank = (int64_t)ceil(0.95 * (double)a.n), seen = 0; /* 1-based */
		for (guint i = 0; i + 1 < a.groups->len && seen < rank; i += 2) {
			r->scan_p95 = g_array_index(a.groups, int64_t, i);
			seen += g_array_index(a.groups, int64_t, i + 1);
		}
	}
	g_array_free(a.groups, TRUE);
	return rc;
}

static struct report *report_new(int64_t since, int64_t until)
{
	struct report *r = g_new0(struct report, 1);
	r->since = since;
	r->until = until;
	r->prev_until = since;
	r->prev_since = since - (until - since);
	r->busiest_hour = -1;
	r->days = g_array_new(FALSE, TRUE, sizeof(struct report_day));
	for (int64_t d = since - since % 86400; d < until; d += 86400) {
		struct report_day day = {.start = d};
		g_array_append_val(r->days, day);
	}
	GPtrArray **lists[] = {&r->viruses,   &r->banned,    &r->spam_senders, &r->spam_domains,
	                       &r->spam_rcpts, &r->unchecked, &r->list_entries, &r->hosts};
	for (size_t i = 0; i < G_N_ELEMENTS(lists); i++)
		*lists[i] = g_ptr_array_new_with_free_func(report_count_free);
	return r;
}

int report_build(struct store *st, int64_t since, int64_t until, int top, struct report **out, char **err)
{
	sqlite3 *db = store_sqlite_db(st);
	struct report *r;

	*out = NULL;
	if (until <= since) {
		*err = g_strdup("report: empty period (until must be after since)");
		return -1;
	}
	if (!db) { /* the totals' plain SQL runs on the SQLite handle only, so far */
		*err = g_strdup("report: this store backend has no SQL handle for the report");
		return -1;
	}
	r = report_new(since, until);
	/* One read transaction: every section sees the same snapshot. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		*err = g_strdup_printf("report: begin: %s", sqlite3_errmsg(db));
		report_free(r);
		return -1;
	}
	int rc = -1;
	if (stats_totals(db, r->since, r->until, &r->cur, r, err) < 0 ||
	    stats_totals(db, r->prev_since, r->prev_until, &r->prev, NULL, err) < 0 ||
	    stats_query(db, sql_days, since, until, -1, row_day, r, NULL, err) < 0 ||
	    stats_query(db, sql_busiest_hour, since, until, -1, row_busiest, r, NULL, err) < 0 ||
	    stats_top(st, STORE_TOP_VIRUSES, r, top, r->viruses, err) < 0 ||
	    stats_top(st, STORE_TOP_BANNED, r, top, r->banned, err) < 0 ||
	    stats_top(st, STORE_TOP_SPAM_SENDERS, r, top, r->spam_senders, err) < 0 ||
	    stats_top(st, STORE_TOP_SPAM_DOMAINS, r, top, r->spam_domains, err) < 0 ||
	    stats_top(st, STORE_TOP_SPAM_RCPTS, r, top, r->spam_rcpts, err) < 0 ||
	    stats_top(st, STORE_TOP_UNCHECKED, r, top, r->unchecked, err) < 0 ||
	    stats_top(st, STORE_TOP_LIST_ENTRIES, r, top, r->list_entries, err) < 0 ||
	    stats_top(st, STORE_TOP_HOSTS, r, top, r->hosts, err) < 0 ||
	    stats_scan_time(db, r, err) < 0)
		goto done;
	rc = 0;
done:
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc < 0) {
		report_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

void report_free(struct report *r)
{
	if (!r)
		return;
	g_free(r->label);
	g_array_free(r->days, TRUE);
	GPtrArray *lists[] = {r->viruses,   r->banned,    r->spam_senders, r->spam_domains,
	                      r->spam_rcpts, r->unchecked, r->list_entries, r->hosts};
	for (size_t i = 0; i < G_N_ELEMENTS(lists); i++)
		g_ptr_array_free(lists[i], TRUE);
	g_free(r);
}

/* Monday 00:00 UTC of ISO week 1 of year y (the week holding 4 January). */
static int64_t iso_week1(int y)
{
	GDateTime *jan4 = g_date_time_new_utc(y, 1, 4, 0, 0, 0);
	int dow = g_date_time_get_day_of_week(jan4); /* 1 = Monday */
	int64_t t = g_date_time_to_unix(jan4) - (int64_t)(dow - 1) * 86400;
	g_date_time_unref(jan4);
	return t;
}

int report_period_week(const char *week, int64_t *since, int64_t *until, char **err)
{
	int y = 0, w = 0;
	char tail = 0;

	if (sscanf(week, "%4d-W%2d%c", &y, &w, &tail) != 2 || y < 1970 || y > 9999 || w < 1) {
		*err = g_strdup_printf("bad week \"%s\" (expected YYYY-Www, e.g. 2026-W47)", week);
		return -1;
	}
	int64_t start = iso_week1(y) + (int64_t)(w - 1) * 7 * 86400;
	if (start >= iso_week1(y + 1)) {
		*err = g_strdup_printf("bad week \"%s\": %d has no week %d", week, y, w);
		return -1;
	}
	*since = start;
	*until = start + 7 * 86400;
	return 0;
}

void report_last_week(int64_t now, int64_t *since, int64_t *until, char **label)
{
	GDateTime *t = g_date_time_new_from_unix_utc(now - 7 * 86400);
	int y = g_date_time_get_week_numbering_year(t);
	int w = g_date_time_get_week_of_year(t);
	g_date_time_unref(t);
	*label = g_strdup_printf("%04d-W%02d", y, w);
	char *err = NULL;
	if (report_period_week(*label, since, until, &err) < 0)
		msg_panic("report_last_week: %s", err); /* GLib gave a week it cannot find again */
}

int report_parse_time(const char *s, int64_t now, int64_t *out, char **err)
{
	if (when_parse(s, now, out) == 0)
		return 0;
	*err = g_strdup_printf("bad time \"%s\" (expected an age such as 30m 12h 7d 2w, "
	                       "YYYY-MM-DD[ HH:MM[:SS]] UTC or @EPOCH)", s);
	return -1;
}
