/*
 * report - the weekly tables, the RRD and the report mail (scand-report)
 *
 * report_build() aggregates one period of the verdict store (and the period
 * of the same length just before it) from the store's report queries
 * (store_report_stat(), store_report_top()); nothing loads every row. report_render_text/html/csv/json()
 * print the result. report_period_week()/report_parse_time() turn the
 * command line into [since, until) in UTC.
 *
 * rrd_report_update() keeps an RRD current from the store (see rrd.c for
 * the exactly-once rule) with one more RRD per host next to it;
 * rrd_report_graph() draws one period as a PNG.
 *
 * report_mail_build() makes the weekly MIME message with GMime and
 * report_mail_send() hands it to an SMTP server through notify_send().
 *
 * Functions return 0 on success and -1 with a g_malloc'ed *err on failure.
 */
#ifndef GH_REPORT_H
#define GH_REPORT_H

#include <glib.h>
#include <stdint.h>

#include "store.h"

#define REPORT_NCAT 8
#define REPORT_NDEST 5
#define REPORT_NHIST 9

/* clean virus banned spam spammy badh unchecked oversized */
extern const char *const report_categories[REPORT_NCAT];
/* store names: pass discard bounce reject tempfail */
extern const char *const report_destinies[REPORT_NDEST];
/* shown names: passed discarded bounced rejected tempfailed */
extern const char *const report_destiny_labels[REPORT_NDEST];
/* "< 0", "0-2", ... ">= 20" */
extern const char *const report_hist_labels[REPORT_NHIST];

struct report_totals {
	int64_t messages, recipients, bytes;
	int64_t cat[REPORT_NCAT];
	int64_t dest[REPORT_NDEST]; /* recipients per destiny */
	int64_t quarantined;        /* quar_path set (whatever happened later) */
	int64_t released, purged;   /* quar_state now */
};

struct report_count {
	char *name;
	int64_t count;
};

struct report_day {
	int64_t start; /* Unix time of 00:00 UTC */
	int64_t messages, bytes;
	int64_t cat[REPORT_NCAT];
};

struct report {
	char *label; /* "2026-W47" or "2026-11-01 - 2026-11-08" */
	int64_t since, until, prev_since, prev_until;
	struct report_totals cur, prev;
	GArray *days;                             /* struct report_day, every day of the period */
	int64_t busiest_hour, busiest_hour_count; /* start; -1 when no mail */
	/* GPtrArray of struct report_count, most first, then by name */
	GPtrArray *viruses, *banned, *spam_senders, *spam_domains, *spam_rcpts, *unchecked;
	GPtrArray *list_entries; /* the allow/block entries that decided recipients */
	GPtrArray *hosts; /* messages per host that wrote them (schema/009) */
	int64_t hist[REPORT_NHIST];
	int64_t scanned;  /* messages with a scan time in the period */
	double scan_mean; /* ms */
	int64_t scan_p95; /* ms, nearest rank */
};

int report_build(struct store *st, int64_t since, int64_t until, int top, struct report **out, char **err);
void report_free(struct report *r);

/* "2026-W47" -> [Monday 00:00, next Monday 00:00) UTC */
int report_period_week(const char *week, int64_t *since, int64_t *until, char **err);
/* The last complete ISO week before now, and its label. */
void report_last_week(int64_t now, int64_t *since, int64_t *until, char **label);
/* when_parse() (common/when.h: an age before now such as 7d, "YYYY-MM-DD",
 * "YYYY-MM-DD HH:MM[:SS]", "YYYY-MM-DDTHH:MM[:SS]" (UTC) or "@EPOCH") with
 * an error message */
int report_parse_time(const char *s, int64_t now, int64_t *out, char **err);

void report_render_text(const struct report *r, GString *out);
void report_render_csv(const struct report *r, GString *out);
void report_render_json(const struct report *r, GString *out);
/* cids: content ids of the graphs to show inline (NULL-terminated, may be NULL) */
void report_render_html(const struct report *r, const char *const *cids, GString *out);

/* The RRD kept current from the store. now: the time to act as. */
int rrd_report_update(struct store *st, const char *path, int64_t now, bool rebuild, char **err);
/* What a graph shows, messages per minute, stacked: */
enum rrd_graph_kind {
	RRD_GRAPH_CATEGORIES, /* by category (mailgraph's traffic graph) */
	RRD_GRAPH_FLOW,       /* passed and blocked */
	RRD_GRAPH_HOSTS,      /* by host (the per-host files), the busiest few and "other" */
};
/* One PNG of [start, end), exactly width x height pixels. legend (may be
 * NULL) gets the graph's legend texts, in order. */
int rrd_report_graph(const char *rrd, const char *png, enum rrd_graph_kind kind, const char *title,
                     int64_t start, int64_t end, int width, int height, GPtrArray *legend, char **err);

struct report_image {
	char *cid; /* without < > */
	GBytes *png;
};

/* The weekly mail: text/plain and text/html alternatives inside
 * multipart/related with the images. Returns the message with CRLF ends. */
int report_mail_build(const char *from, const char *const *to, const char *subject, const char *text,
                      const char *html, const struct report_image *images, size_t nimages, GBytes **out,
                      char **err);
/* Send msg (CRLF) to hostport; every recipient must be accepted. */
int report_mail_send(const char *hostport, const char *env_from, const char *const *rcpts, GBytes *msg,
                     char **err);

#endif
