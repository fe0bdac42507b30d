/*
 * rrd - the Gatehouse RRD: messages per minute by category (librrd)
 *
 * rrd_report_update() keeps the RRD at [report] rrd_file current from the
 * verdict store; rrd_report_graph() draws one period of it as a PNG,
 * stacked by category or as passed/blocked.
 *
 * Layout (like mailgraph's): step 60 s; one GAUGE data source per category
 * (clean virus spam spammy banned badh unchecked oversized) plus passed
 * (messages with at least one recipient passed) and blocked (no recipient
 * passed, at least one discarded, bounced or rejected). The value of a
 * minute is the number of messages in it (messages per minute). AVERAGE
 * and MAX archives: 1 day of 1-minute rows, 1 week of 30-minute rows,
 * 1 month of 2-hour rows, 1 year of 1-day rows.
 *
 * Exactly once: the table report_rrd (schema 002) keeps, per RRD file,
 * last_minute L (every minute before L is written) and last_msg_id I.
 * Invariant: a message is counted iff time < L and id <= I. A run takes
 * the highest id H now in the store and the target T = the start of the
 * previous minute (the current minute and the one before it are still
 * filling), then writes every minute of [L, T):
 *   - messages with L <= time < T and id <= H go to their own minute;
 *   - messages with time < L and I < id <= H arrived late (their minute
 *     is already written): they go to minute L, the first one not yet
 *     written, so they are counted once rather than lost;
 *   - minutes without mail are written as zeros;
 * then stores L = T, I = H. Rows get their id when committed and SQLite
 * commits one writer at a time, so every later message has an id > H.
 * The RRD is written before the state: if the two disagree at start
 * (a crash between them, a deleted file) the RRD is rebuilt, which is
 * what --rebuild does: recreate the file from the oldest message of the
 * last year and count everything again.
 *
 * The store side (the minutes, the watermark in report_rrd) is behind
 * store_rrd_*(). Failures return -1 with *err (librrd's or the store's
 * message).
 */
#include "report.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <rrd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RRD_STEP 60
#define RRD_NDS 10
#define RRD_DS_PASSED 8
#define RRD_DS_BLOCKED 9
#define RRD_WINDOW (1440 * RRD_STEP) /* minutes handled per query and per state commit */
#define RRD_BATCH 720                /* update strings per rrd_update_r() call */
#define RRD_YEAR (366 * 86400)

static const char *const rrd_ds[RRD_NDS] = {"clean", "virus",     "spam",      "spammy", "banned",
                                            "badh",  "unchecked", "oversized", "passed", "blocked"};

struct rrd_run {
	struct store *st;
	const char *path;
	int64_t last_minute, last_id, high_id, target;
};

static int rrd_sql_fail(struct rrd_run *run, const char *what, char **err)
{
	*err = g_strdup_printf("rrd: %s: %s", what, store_error(run->st));
	return -1;
}

static int rrd_lib_fail(const char *what, const char *path, char **err)
{
	*err = g_strdup_printf("rrd: %s %s: %s", what, path, rrd_get_error());
	rrd_clear_error();
	return -1;
}

static int rrd_create_file(const char *path, int64_t start, char **err)
{
	static const struct {
		int steps, rows;
	} arch[] = {{1, 1440}, {30, 336}, {120, 372}, {1440, 366}};
	const char *argv[RRD_NDS + 2 * G_N_ELEMENTS(arch)];
	GPtrArray *keep = g_ptr_array_new_with_free_func(g_free);
	int argc = 0;

	for (int i = 0; i < RRD_NDS; i++) {
		char *s = g_strdup_printf("DS:%s:GAUGE:%d:0:U", rrd_ds[i], 2 * RRD_STEP);
		g_ptr_array_add(keep, s);
		argv[argc++] = s;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(arch); i++)
		for (int cf = 0; cf < 2; cf++) {
			char *s = g_strdup_printf("RRA:%s:0.5:%d:%d", cf ? "MAX" : "AVERAGE", arch[i].steps,
			                          arch[i].rows);
			g_ptr_array_add(keep, s);
			argv[argc++] = s;
		}
	/* A new file replaces the old one by rename, never in place. */
	char *tmp = g_strdup_printf("%s.new", path);
	int rc = 0;
	unlink(tmp);
	rrd_clear_error();
	if (rrd_create_r2(tmp, RRD_STEP, (time_t)start, 0, NULL, NULL, argc, argv) != 0)
		rc = rrd_lib_fail("create", tmp, err);
	else if (rename(tmp, path) < 0) {
		*err = g_strdup_printf("rrd: rename %s: %s", tmp, g_strerror(errno));
		rc = -1;
	}
	g_free(tmp);
	g_ptr_array_free(keep, TRUE);
	return rc;
}

static int rrd_ds_index(const unsigned char *category)
{
	for (int i = 0; category && i < 8; i++)
		if (strcmp(rrd_ds[i], (const char *)category) == 0)
			return i;
	return -1;
}

struct rrd_collect_ctx {
	int64_t base;
	bool late;
	double (*counts)[RRD_NDS];
	size_t n;
};

static int rrd_collect_row(const struct store_rrd_minute *m, void *arg)
{
	struct rrd_collect_ctx *c = arg;
	int64_t slot = c->late ? 0 : (m->minute - c->base) / RRD_STEP;
	int ds = rrd_ds_index((const unsigned char *)m->category);
	if (slot < 0 || (size_t)slot >= c->n || ds < 0)
		return 0; /* the WHERE clause keeps rows in range */
	c->counts[slot][ds] += (double)m->count;
	c->counts[slot][RRD_DS_PASSED] += (double)m->passed;
	c->counts[slot][RRD_DS_BLOCKED] += (double)m->blocked;
	return 0;
}

/* Add the messages with t0 <= time < t1 and id0 < id <= id1 (per message:
 * category, passed, blocked; grouped by minute) to counts[(minute - base)
 * / 60]; late means "everything into slot 0" (late arrivals). */
static int rrd_collect(struct rrd_run *run, int64_t t0, int64_t t1, int64_t id0, int64_t id1, int64_t base,
                       bool late, double (*counts)[RRD_NDS], size_t n, char **err)
{
	struct rrd_collect_ctx c = {.base = base, .late = late, .counts = counts, .n = n};
	if (store_rrd_minutes(run->st, t0, t1, id0, id1, rrd_collect_row, &c) < 0)
		return rrd_sql_fail(run, "select", err);
	return 0;
}

/* Write minutes [base, base + n * 60): update time = end of the minute. */
static int rrd_write(const char *path, int64_t base, double (*counts)[RRD_NDS], size_t n, char **err)
{
	const char **argv = g_new0(const char *, RRD_BATCH);
	char **strs = g_new0(char *, RRD_BATCH);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i += RRD_BATCH) {
		int argc = 0;
		for (size_t j = i; j < n && argc < RRD_BATCH; j++) {
			GString *u = g_string_new(NULL);
			g_string_append_printf(u, "%" PRId64, base + (int64_t)(j + 1) * RRD_STEP);
			for (int d = 0; d < RRD_NDS; d++)
				g_string_append_printf(u, ":%.0f", counts[j][d]);
			strs[argc] = g_string_free(u, FALSE);
			argv[argc] = strs[argc];
			argc++;
		}
		rrd_clear_error();
		if (rrd_update_r(path, NULL, argc, argv) != 0)
			rc = rrd_lib_fail("update", path, err);
		for (int k = 0; k < argc; k++)
			g_free(strs[k]);
	}
	g_free(strs);
	g_free(argv);
	return rc;
}

static int rrd_state_get(struct rrd_run *run, bool *found, char **err)
{
	int rc = store_rrd_state_get(run->st, run->path, &run->last_minute, &run->last_id);
	*found = rc == 0;
	return rc < 0 ? rrd_sql_fail(run, "select state", err) : 0;
}

static int rrd_state_put(struct rrd_run *run, char **err)
{
	if (store_rrd_state_put(run->st, run->path, run->last_minute, run->last_id) < 0)
		return rrd_sql_fail(run, "save state", err);
	return 0;
}

/* A new RRD starting at the oldest message (at most a year back). The
 * messages now in the store are the ones the rebuild counts. */
static int rrd_rebuild(struct rrd_run *run, char **err)
{
	int64_t oldest, high;

	if (store_msgs_bounds(run->st, &oldest, &high) < 0)
		return rrd_sql_fail(run, "select", err);
	if (oldest < 0 || oldest > run->target)
		oldest = run->target;
	oldest -= oldest % RRD_STEP;
	if (oldest < run->target - RRD_YEAR)
		oldest = run->target - RRD_YEAR;
	run->last_minute = oldest;
	/* Older messages are not counted: mark them as done. */
	run->last_id = run->high_id;
	if (rrd_create_file(run->path, oldest, err) < 0)
		return -1;
	msg_info("rrd: rebuilding %s from %" PRId64, run->path, oldest);
	return rrd_state_put(run, err);
}

/* Write one window [L, min(L + window, T)), then advance the state. */
static int rrd_window(struct rrd_run *run, char **err)
{
	int64_t end = MIN(run->last_minute + RRD_WINDOW, run->target);
	size_t n = (size_t)((end - run->last_minute) / RRD_STEP);
	double(*counts)[RRD_NDS] = g_malloc0_n(n, sizeof(*counts));
	int rc = -1;

	if (rrd_collect(run, run->last_minute, end, 0, run->high_id, run->last_minute, false, counts, n,
	                err) < 0 ||
	    rrd_collect(run, 0, run->last_minute, run->last_id, run->high_id, run->last_minute, true, counts,
	                n, err) < 0 ||
	    rrd_write(run->path, run->last_minute, counts, n, err) < 0)
		goto done;
	run->last_minute = end;
	run->last_id = run->high_id;
	rc = rrd_state_put(run, err);
done:
	g_free(counts);
	return rc;
}

/* True when the file exists and was last written at L. */
static bool rrd_in_step(struct rrd_run *run)
{
	if (access(run->path, F_OK) != 0)
		return false;
	rrd_clear_error();
	time_t last = rrd_last_r(run->path);
	rrd_clear_error();
	return (int64_t)last == run->last_minute;
}

int rrd_report_update(struct store *st, const char *path, int64_t now, bool rebuild, char **err)
{
	struct rrd_run run = {.st = st, .path = path};
	bool found;
	int rc = -1;

	run.target = now - now % RRD_STEP - RRD_STEP;
	int64_t oldest;
	if (store_msgs_bounds(st, &oldest, &run.high_id) < 0)
		return rrd_sql_fail(&run, "select", err);
	if (rrd_state_get(&run, &found, err) < 0)
		goto done;
	if (!rebuild && found && !rrd_in_step(&run)) {
		msg_warn("rrd: %s does not match the saved state (last minute %" PRId64 "): rebuilding", path,
		         run.last_minute);
		rebuild = true;
	}
	if ((rebuild || !found) && rrd_rebuild(&run, err) < 0)
		goto done;
	while (run.last_minute < run.target)
		if (rrd_window(&run, err) < 0)
			goto done;
	rc = 0;
done:
	return rc;
}

/* ---- graphs ---- */

struct rrd_series {
	const char *ds, *color;
};

static const struct rrd_series rrd_categories_stack[] = {
    {"clean", "#33bb33"},  {"spammy", "#ffd21a"},    {"spam", "#ff8c00"},
    {"badh", "#999999"},   {"oversized", "#33bbbb"}, {"unchecked", "#3377ff"},
    {"banned", "#aa33aa"}, {"virus", "#dd2222"},     {NULL, NULL},
};
static const struct rrd_series rrd_flow_stack[] = {
    {"passed", "#33bb33"},
    {"blocked", "#dd2222"},
    {NULL, NULL},
};

/* DEF, total and stacked AREA with its legend for each series. */
static void rrd_graph_series(GPtrArray *a, const char *rrd, const struct rrd_series *s)
{
	/* Escape ':' in the file name: it separates DEF fields. */
	char **parts = g_strsplit(rrd, ":", -1);
	char *file = g_strjoinv("\\:", parts);
	g_strfreev(parts);
	for (size_t i = 0; s[i].ds; i++) {
		const char *d = s[i].ds;
		g_ptr_array_add(a, g_strdup_printf("DEF:%s=%s:%s:AVERAGE", d, file, d));
		/* The value is messages per minute: a step of S seconds holds S/60 minutes. */
		g_ptr_array_add(a, g_strdup_printf("CDEF:%s_n=%s,60,/", d, d));
		g_ptr_array_add(a, g_strdup_printf("VDEF:%s_t=%s_n,TOTAL", d, d));
		g_ptr_array_add(a, g_strdup_printf("AREA:%s%s:%-10s%s", d, s[i].color, d, i ? ":STACK" : ""));
		g_ptr_array_add(a, g_strdup_printf("GPRINT:%s_t:%%8.0lf msgs%s", d, i % 2 ? "\\l" : ""));
	}
	g_free(file);
}

int rrd_report_graph(const char *rrd, const char *png, enum rrd_graph_kind kind, const char *title,
                     int64_t start, int64_t end, int width, int height, char **err)
{
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
	int rc = 0;

	g_ptr_array_add(a, g_strdup("graph"));
	g_ptr_array_add(a, g_strdup(png));
	g_ptr_array_add(a, g_strdup_printf("--start=%" PRId64, start));
	g_ptr_array_add(a, g_strdup_printf("--end=%" PRId64, end));
	g_ptr_array_add(a, g_strdup_printf("--width=%d", width));
	g_ptr_array_add(a, g_strdup_printf("--height=%d", height));
	g_ptr_array_add(a, g_strdup("--full-size-mode"));
	g_ptr_array_add(a, g_strdup("--imgformat=PNG"));
	g_ptr_array_add(a, g_strdup_printf("--title=%s", title));
	g_ptr_array_add(a, g_strdup("--vertical-label=msgs/min"));
	g_ptr_array_add(a, g_strdup("--lower-limit=0"));
	g_ptr_array_add(a, g_strdup("--slope-mode"));
	rrd_graph_series(a, rrd, kind == RRD_GRAPH_FLOW ? rrd_flow_stack : rrd_categories_stack);
	rrd_clear_error();
	rrd_info_t *info = rrd_graph_v((int)a->len, (char **)a->pdata);
	if (!info)
		rc = rrd_lib_fail("graph", png, err);
	rrd_info_free(info);
	g_ptr_array_free(a, TRUE);
	return rc;
}
