/*
 * stats - aggregate one period of the verdict store for the weekly report
 *
 * report_build() fills a struct report for [since, until) and the totals
 * of the period of the same length just before it. Every number comes from
 * a prepared, GROUP BY statement that walks the time index (msgs_report
 * covers the per-category and per-day counts); no statement loads every
 * row into memory. The totals, days, busiest hour and scan times come from
 * store_report_stat() (SQL shared by the backends, store_report_sql.h),
 * the top tables (whose name splitting is backend-specific SQL) from
 * store_report_top(), all inside one store_report_begin() snapshot, so
 * SQLite and PostgreSQL stores give the same report. Definitions:
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
 * Failures return -1 with *err set (the store's message); nothing is logged.
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

/* One question of the store (store_report_stat), fn per row. */
typedef void (*stats_row_fn)(const struct store_stat_row *row, struct report *r, void *arg);

struct stats_cb {
	stats_row_fn fn;
	struct report *r;
	void *arg;
};

static int stats_row(const struct store_stat_row *row, void *arg)
{
	const struct stats_cb *c = arg;
	c->fn(row, c->r, c->arg);
	return 0;
}

static int stats_query(struct store *st, enum store_stat which, int64_t since, int64_t until, stats_row_fn fn,
                       struct report *r, void *arg, char **err)
{
	struct stats_cb c = {.fn = fn, .r = r, .arg = arg};
	if (store_report_stat(st, which, since, until, stats_row, &c) == 0)
		return 0;
	*err = g_strdup_printf("report: query: %s", store_error(st));
	return -1;
}

static int stats_index(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static void row_category(const struct store_stat_row *s, struct report *r, void *arg)
{
	struct report_totals *t = arg;
	int i = stats_index(report_categories, REPORT_NCAT, s->name);
	(void)r;
	if (i < 0)
		return; /* the schema's CHECK keeps this from happening */
	t->cat[i] = s->v[0];
	t->messages += t->cat[i];
	t->bytes += s->v[1];
}

static void row_destiny(const struct store_stat_row *s, struct report *r, void *arg)
{
	struct report_totals *t = arg;
	int i = stats_index(report_destinies, REPORT_NDEST, s->name);
	(void)r;
	if (i < 0)
		return;
	t->dest[i] = s->v[0];
	t->recipients += t->dest[i];
}

static void row_rows(const struct store_stat_row *s, struct report *r, void *arg)
{
	struct report_totals *t = arg;
	t->quarantined = s->v[0];
	t->released = s->v[1];
	t->purged = s->v[2];
	for (int i = 0; r && i < REPORT_NHIST; i++)
		r->hist[i] = s->v[3 + i];
}

static void row_day(const struct store_stat_row *s, struct report *r, void *arg)
{
	int64_t idx = s->v[0] - r->since / 86400;
	int c = stats_index(report_categories, REPORT_NCAT, s->name);
	(void)arg;
	if (idx < 0 || idx >= (int64_t)r->days->len || c < 0)
		return;
	struct report_day *d = &g_array_index(r->days, struct report_day, idx);
	d->cat[c] += s->v[1];
	d->messages += s->v[1];
	d->bytes += s->v[2];
}

static void row_busiest(const struct store_stat_row *s, struct report *r, void *arg)
{
	(void)arg;
	r->busiest_hour = s->v[0] * 3600;
	r->busiest_hour_count = s->v[1];
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

static void row_scan(const struct store_stat_row *s, struct report *r, void *arg)
{
	struct scan_acc *a = arg;
	int64_t g[2] = {s->v[0], s->v[1]};
	(void)r;
	a->n += g[1];
	a->sum += g[0] * g[1];
	g_array_append_vals(a->groups, g, 2);
}

/* r: the report whose histogram comes with the current period, or NULL. */
static int stats_totals(struct store *st, int64_t since, int64_t until, struct report_totals *t,
                        struct report *r, char **err)
{
	memset(t, 0, sizeof(*t));
	if (stats_query(st, STORE_STAT_CATEGORIES, since, until, row_category, NULL, t, err) < 0 ||
	    stats_query(st, STORE_STAT_DESTINIES, since, until, row_destiny, NULL, t, err) < 0 ||
	    stats_query(st, STORE_STAT_ROWS, since, until, row_rows, r, t, err) < 0)
		return -1;
	return 0;
}

static int stats_scan_time(struct store *st, struct report *r, char **err)
{
	struct scan_acc a = {.groups = g_array_new(FALSE, FALSE, sizeof(int64_t))};
	int rc = stats_query(st, STORE_STAT_SCAN, r->since, r->until, row_scan, r, &a, err);

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
	struct report *r;

	*out = NULL;
	if (until <= since) {
		*err = g_strdup("report: empty period (until must be after since)");
		return -1;
	}
	/* One read-only snapshot: every section sees the same rows. */
	if (store_report_begin(st) < 0) {
		*err = g_strdup_printf("report: %s", store_error(st));
		return -1;
	}
	r = report_new(since, until);
	int rc = -1;
	if (stats_totals(st, r->since, r->until, &r->cur, r, err) < 0 ||
	    stats_totals(st, r->prev_since, r->prev_until, &r->prev, NULL, err) < 0 ||
	    stats_query(st, STORE_STAT_DAYS, since, until, row_day, r, NULL, err) < 0 ||
	    stats_query(st, STORE_STAT_BUSIEST_HOUR, since, until, row_busiest, r, NULL, err) < 0 ||
	    stats_top(st, STORE_TOP_VIRUSES, r, top, r->viruses, err) < 0 ||
	    stats_top(st, STORE_TOP_BANNED, r, top, r->banned, err) < 0 ||
	    stats_top(st, STORE_TOP_SPAM_SENDERS, r, top, r->spam_senders, err) < 0 ||
	    stats_top(st, STORE_TOP_SPAM_DOMAINS, r, top, r->spam_domains, err) < 0 ||
	    stats_top(st, STORE_TOP_SPAM_RCPTS, r, top, r->spam_rcpts, err) < 0 ||
	    stats_top(st, STORE_TOP_UNCHECKED, r, top, r->unchecked, err) < 0 ||
	    stats_top(st, STORE_TOP_LIST_ENTRIES, r, top, r->list_entries, err) < 0 ||
	    stats_top(st, STORE_TOP_HOSTS, r, top, r->hosts, err) < 0 ||
	    stats_scan_time(st, r, err) < 0)
		goto done;
	rc = 0;
done:
	store_report_end(st); /* read only: nothing to lose */
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
