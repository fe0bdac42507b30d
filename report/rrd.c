/*
 * rrd - the Gatehouse RRD: messages per minute by category (librrd)
 *
 * rrd_report_update() keeps the RRD at [report] rrd_file current from the
 * verdict store, and the per-host files next to it; rrd_report_graph()
 * draws one period of them as a PNG, stacked by category, as
 * passed/blocked, or by host (the RRD_HOST_LINES busiest hosts of the
 * period and "other").
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
 * Per host (fleet): next to the total file F (gatehouse.rrd) one file
 * per host that wrote rows, F without ".rrd" + ".host-NAME.rrd"
 * (gatehouse.host-mx1.example.net.rrd), same layout. NAME is the host
 * column made safe for a file name and for a graph legend: bytes outside
 * [A-Za-z0-9._-] become '_', at most RRD_HOST_NAME bytes, "_unknown_" for
 * rows written before the column (hosts that map to one NAME share its
 * file). The host files move in lock step with F under F's watermark: a
 * window writes every host file that exists or has mail in it (zeros for
 * quiet minutes), a host seen for the first time gets its file starting
 * at the window, and F is written after them. A host file whose last
 * update is not L makes the run rebuild, like F itself; a rebuild
 * removes the host files and recreates them from the store.
 *
 * The store side (the minutes, the watermark in report_rrd) is behind
 * store_rrd_*(). Failures return -1 with *err (librrd's or the store's
 * message).
 */
#include "report.h"

#include "log.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <math.h>
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
#define RRD_HOST_NAME 64 /* bytes of a host's NAME in its file name */
#define RRD_HOST_LINES 6 /* hosts drawn on the hosts graph; the rest is "other" */
#define RRD_HOST_INFIX ".host-"

static const char *const rrd_ds[RRD_NDS] = {"clean", "virus",     "spam",      "spammy", "banned",
                                            "badh",  "unchecked", "oversized", "passed", "blocked"};

struct rrd_run {
	struct store *st;
	const char *path;
	char *host_prefix; /* rrd_host_prefix(path) */
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

/* ---- per-host files ---- */

/* F without ".rrd" + ".host-": what every host file's path starts with. */
static char *rrd_host_prefix(const char *path)
{
	size_t n = strlen(path);
	if (g_str_has_suffix(path, ".rrd"))
		n -= 4;
	return g_strdup_printf("%.*s" RRD_HOST_INFIX, (int)n, path);
}

/* NAME of a host (the store's column). */
static char *rrd_host_name(const char *host)
{
	char name[RRD_HOST_NAME + 1];
	size_t n = 0;

	if (!host || !*host)
		host = "(unknown)";
	/* The name goes into a file name and into rrd_graph arguments, where
	 * '/', ':', '\\' and '%' would mean something: keep [A-Za-z0-9._-]. */
	for (; host[n] && n < RRD_HOST_NAME; n++)
		name[n] = g_ascii_isalnum(host[n]) || strchr("._-", host[n]) ? host[n] : '_';
	name[n] = '\0';
	return g_strdup(name);
}

static char *rrd_host_file(const char *prefix, const char *name)
{
	return g_strdup_printf("%s%s.rrd", prefix, name);
}

static int rrd_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The NAMEs of the host files that exist for prefix, sorted (an
 * unreadable directory gives none). */
static GPtrArray *rrd_host_names(const char *prefix)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	char *dir = g_path_get_dirname(prefix), *base = g_path_get_basename(prefix);
	size_t blen = strlen(base);
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *e;

	while (d && (e = g_dir_read_name(d))) {
		size_t len = strlen(e);
		if (len > blen + 4 && strncmp(e, base, blen) == 0 && g_str_has_suffix(e, ".rrd"))
			g_ptr_array_add(names, g_strndup(e + blen, len - blen - 4));
	}
	if (d)
		g_dir_close(d);
	g_ptr_array_sort(names, rrd_strcmp_p);
	g_free(base);
	g_free(dir);
	return names;
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

typedef double rrd_minute_counts[RRD_NDS];

struct rrd_collect_ctx {
	int64_t base;
	bool late;
	rrd_minute_counts *counts;
	GHashTable *hosts; /* NAME -> rrd_minute_counts[n] */
	size_t n;
};

static void rrd_count(rrd_minute_counts *counts, int64_t slot, int ds, const struct store_rrd_minute *m)
{
	counts[slot][ds] += (double)m->count;
	counts[slot][RRD_DS_PASSED] += (double)m->passed;
	counts[slot][RRD_DS_BLOCKED] += (double)m->blocked;
}

static int rrd_collect_row(const struct store_rrd_minute *m, void *arg)
{
	struct rrd_collect_ctx *c = arg;
	int64_t slot = c->late ? 0 : (m->minute - c->base) / RRD_STEP;
	int ds = rrd_ds_index((const unsigned char *)m->category);
	if (slot < 0 || (size_t)slot >= c->n || ds < 0)
		return 0; /* the WHERE clause keeps rows in range */
	char *name = rrd_host_name(m->host);
	rrd_minute_counts *h = g_hash_table_lookup(c->hosts, name);
	if (!h) {
		h = g_malloc0_n(c->n, sizeof(*h));
		g_hash_table_insert(c->hosts, name, h);
	} else
		g_free(name);
	rrd_count(c->counts, slot, ds, m);
	rrd_count(h, slot, ds, m);
	return 0;
}

/* Add the messages with t0 <= time < t1 and id0 < id <= id1 (per message:
 * category, passed, blocked; grouped by minute) to counts[(minute - base)
 * / 60] and to their host's in hosts (added when missing); late means
 * "everything into slot 0" (late arrivals). */
static int rrd_collect(struct rrd_run *run, int64_t t0, int64_t t1, int64_t id0, int64_t id1, int64_t base,
                       bool late, rrd_minute_counts *counts, GHashTable *hosts, size_t n, char **err)
{
	struct rrd_collect_ctx c = {.base = base, .late = late, .counts = counts, .hosts = hosts, .n = n};
	if (store_rrd_minutes(run->st, t0, t1, id0, id1, rrd_collect_row, &c) < 0)
		return rrd_sql_fail(run, "select", err);
	return 0;
}

/* Write minutes [base, base + n * 60): update time = end of the minute. */
static int rrd_write(const char *path, int64_t base, rrd_minute_counts *counts, size_t n, char **err)
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
	GPtrArray *names = rrd_host_names(run->host_prefix);
	for (guint i = 0; i < names->len; i++) {
		char *file = rrd_host_file(run->host_prefix, names->pdata[i]);
		if (g_unlink(file) < 0 && errno != ENOENT)
			msg_warn("rrd: unlink %s: %s", file, g_strerror(errno));
		g_free(file);
	}
	g_ptr_array_free(names, TRUE);
	if (rrd_create_file(run->path, oldest, err) < 0)
		return -1;
	msg_info("rrd: rebuilding %s from %" PRId64, run->path, oldest);
	return rrd_state_put(run, err);
}

/* Write the window's minutes to every host file in hosts, creating the
 * files of new hosts at the window's start. */
static int rrd_write_hosts(struct rrd_run *run, GHashTable *hosts, size_t n, char **err)
{
	GHashTableIter it;
	gpointer name, counts;
	int rc = 0;

	g_hash_table_iter_init(&it, hosts);
	while (rc == 0 && g_hash_table_iter_next(&it, &name, &counts)) {
		char *file = rrd_host_file(run->host_prefix, name);
		if (access(file, F_OK) != 0)
			rc = rrd_create_file(file, run->last_minute, err);
		if (rc == 0)
			rc = rrd_write(file, run->last_minute, counts, n, err);
		g_free(file);
	}
	return rc;
}

/* Write one window [L, min(L + window, T)), then advance the state. The
 * host files first: a crash before F is written leaves them ahead of L,
 * which the next run notices (rrd_in_step). */
static int rrd_window(struct rrd_run *run, char **err)
{
	int64_t end = MIN(run->last_minute + RRD_WINDOW, run->target);
	size_t n = (size_t)((end - run->last_minute) / RRD_STEP);
	rrd_minute_counts *counts = g_malloc0_n(n, sizeof(*counts));
	GHashTable *hosts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	GPtrArray *names = rrd_host_names(run->host_prefix);
	int rc = -1;

	/* hosts without mail in the window get their zeros too */
	for (guint i = 0; i < names->len; i++)
		g_hash_table_insert(hosts, g_strdup(names->pdata[i]), g_malloc0_n(n, sizeof(*counts)));
	g_ptr_array_free(names, TRUE);
	if (rrd_collect(run, run->last_minute, end, 0, run->high_id, run->last_minute, false, counts, hosts,
	                n, err) < 0 ||
	    rrd_collect(run, 0, run->last_minute, run->last_id, run->high_id, run->last_minute, true, counts,
	                hosts, n, err) < 0 ||
	    rrd_write_hosts(run, hosts, n, err) < 0 ||
	    rrd_write(run->path, run->last_minute, counts, n, err) < 0)
		goto done;
	run->last_minute = end;
	run->last_id = run->high_id;
	rc = rrd_state_put(run, err);
done:
	g_hash_table_destroy(hosts);
	g_free(counts);
	return rc;
}

static bool rrd_last_is(const char *path, int64_t when)
{
	rrd_clear_error();
	time_t last = rrd_last_r(path);
	rrd_clear_error();
	return (int64_t)last == when;
}

/* True when the file exists and it and every host file were last written
 * at L. */
static bool rrd_in_step(struct rrd_run *run)
{
	if (access(run->path, F_OK) != 0 || !rrd_last_is(run->path, run->last_minute))
		return false;
	GPtrArray *names = rrd_host_names(run->host_prefix);
	bool ok = true;
	for (guint i = 0; ok && i < names->len; i++) {
		char *file = rrd_host_file(run->host_prefix, names->pdata[i]);
		ok = rrd_last_is(file, run->last_minute);
		if (!ok)
			msg_warn("rrd: %s is not at the last minute of %s", file, run->path);
		g_free(file);
	}
	g_ptr_array_free(names, TRUE);
	return ok;
}

int rrd_report_update(struct store *st, const char *path, int64_t now, bool rebuild, char **err)
{
	struct rrd_run run = {.st = st, .path = path, .host_prefix = rrd_host_prefix(path)};
	bool found;
	int rc = -1;

	run.target = now - now % RRD_STEP - RRD_STEP;
	int64_t oldest;
	if (store_msgs_bounds(st, &oldest, &run.high_id) < 0) {
		rrd_sql_fail(&run, "select", err);
		goto done;
	}
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
	g_free(run.host_prefix);
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

/* Escape ':' in a file name: it separates DEF fields. */
static char *rrd_def_file(const char *rrd)
{
	char **parts = g_strsplit(rrd, ":", -1);
	char *file = g_strjoinv("\\:", parts);
	g_strfreev(parts);
	return file;
}

/* DEF, total and stacked AREA with its legend for each series. */
static void rrd_graph_series(GPtrArray *a, const char *rrd, const struct rrd_series *s)
{
	char *file = rrd_def_file(rrd);
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

/* The host graph: messages per host. */

struct rrd_host_volume {
	char *name;
	double msgs;
};

/* Messages in a host file over [start, end) (0 when it cannot be read):
 * the sum of its categories, per minute values times the minutes of a step. */
static double rrd_host_msgs(const char *file, int64_t start, int64_t end)
{
	time_t s = (time_t)start, e = (time_t)end;
	unsigned long step = RRD_STEP, nds = 0;
	char **names = NULL;
	rrd_value_t *data = NULL;
	double sum = 0;

	rrd_clear_error();
	if (rrd_fetch_r(file, "AVERAGE", &s, &e, &step, &nds, &names, &data) != 0) {
		msg_warn("rrd: fetch %s: %s", file, rrd_get_error());
		rrd_clear_error();
		return 0;
	}
	size_t rows = step ? (size_t)((e - s) / (time_t)step) : 0;
	for (size_t r = 0; r < rows; r++)
		for (unsigned long d = 0; d < nds && d < RRD_DS_PASSED; d++) {
			double v = data[r * nds + d];
			if (!isnan(v))
				sum += v * (double)step / RRD_STEP;
		}
	for (unsigned long d = 0; d < nds; d++)
		rrd_freemem(names[d]);
	rrd_freemem(names);
	rrd_freemem(data);
	return sum;
}

static int rrd_volume_cmp(const void *a, const void *b)
{
	const struct rrd_host_volume *x = a, *y = b;
	if (x->msgs != y->msgs)
		return x->msgs > y->msgs ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* vname = messages per minute of all categories of the file (0 where unknown
 * when zero_unknown). */
static void rrd_graph_sum(GPtrArray *a, const char *vname, const char *rrd, bool zero_unknown)
{
	char *file = rrd_def_file(rrd);
	GString *sum = g_string_new(NULL);

	for (int d = 0; d < RRD_DS_PASSED; d++) {
		g_ptr_array_add(
		    a, g_strdup_printf("DEF:%s_%s=%s:%s:AVERAGE", vname, rrd_ds[d], file, rrd_ds[d]));
		g_string_append_printf(sum, d ? ",%s_%s,+" : "%s_%s", vname, rrd_ds[d]);
	}
	if (zero_unknown) {
		g_ptr_array_add(a, g_strdup_printf("CDEF:%s_s=%s", vname, sum->str));
		g_ptr_array_add(a, g_strdup_printf("CDEF:%s=%s_s,UN,0,%s_s,IF", vname, vname, vname));
	} else
		g_ptr_array_add(a, g_strdup_printf("CDEF:%s=%s", vname, sum->str));
	g_string_free(sum, TRUE);
	g_free(file);
}

static void rrd_graph_area(GPtrArray *a, const char *vname, const char *color, const char *legend, bool stack)
{
	g_ptr_array_add(a, g_strdup_printf("CDEF:%s_n=%s,60,/", vname, vname));
	g_ptr_array_add(a, g_strdup_printf("VDEF:%s_t=%s_n,TOTAL", vname, vname));
	g_ptr_array_add(a, g_strdup_printf("AREA:%s%s:%-24s%s", vname, color, legend, stack ? ":STACK" : ""));
	g_ptr_array_add(a, g_strdup_printf("GPRINT:%s_t:%%8.0lf msgs\\l", vname));
}

/* The RRD_HOST_LINES host files with the most messages in [start, end),
 * stacked, most first; "other" = the total file's messages minus theirs
 * when there are more hosts (or none). Host files start when their host
 * first wrote: unknown minutes count as 0. */
static void rrd_graph_hosts(GPtrArray *a, const char *rrd, int64_t start, int64_t end)
{
	static const char *const colors[RRD_HOST_LINES] = {"#3377ff", "#33bb33", "#ff8c00",
	                                                   "#aa33aa", "#33bbbb", "#dd2222"};
	char *prefix = rrd_host_prefix(rrd);
	GPtrArray *names = rrd_host_names(prefix);
	struct rrd_host_volume *v = g_new0(struct rrd_host_volume, names->len + 1);
	size_t shown = MIN(names->len, RRD_HOST_LINES);
	GString *other = g_string_new("total");

	for (guint i = 0; i < names->len; i++) {
		char *file = rrd_host_file(prefix, names->pdata[i]);
		v[i].name = names->pdata[i];
		v[i].msgs = rrd_host_msgs(file, start, end);
		g_free(file);
	}
	qsort(v, names->len, sizeof(*v), rrd_volume_cmp);
	for (size_t i = 0; i < shown; i++) {
		char *file = rrd_host_file(prefix, v[i].name), *vname = g_strdup_printf("h%zu", i);
		rrd_graph_sum(a, vname, file, true);
		rrd_graph_area(a, vname, colors[i], v[i].name, i > 0);
		g_string_append_printf(other, ",%s,-", vname);
		g_free(vname);
		g_free(file);
	}
	if (shown < names->len || names->len == 0) {
		rrd_graph_sum(a, "total", rrd, false);
		/* the total and the host files are written together; MAX hides rounding */
		g_ptr_array_add(a, g_strdup_printf("CDEF:other=%s,0,MAX", other->str));
		rrd_graph_area(a, "other", "#999999", "other", shown > 0);
	}
	g_string_free(other, TRUE);
	g_free(v);
	g_ptr_array_free(names, TRUE);
	g_free(prefix);
}

int rrd_report_graph(const char *rrd, const char *png, enum rrd_graph_kind kind, const char *title,
                     int64_t start, int64_t end, int width, int height, GPtrArray *legend, char **err)
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
	if (kind == RRD_GRAPH_HOSTS)
		rrd_graph_hosts(a, rrd, start, end);
	else
		rrd_graph_series(a, rrd, kind == RRD_GRAPH_FLOW ? rrd_flow_stack : rrd_categories_stack);
	rrd_clear_error();
	rrd_info_t *info = rrd_graph_v((int)a->len, (char **)a->pdata);
	if (!info)
		rc = rrd_lib_fail("graph", png, err);
	for (rrd_info_t *i = info; legend && i; i = i->next)
		if (g_str_has_prefix(i->key, "legend[") && i->type == RD_I_STR)
			g_ptr_array_add(legend, g_strstrip(g_strdup(i->value.u_str)));
	rrd_info_free(info);
	g_ptr_array_free(a, TRUE);
	return rc;
}
