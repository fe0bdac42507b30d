/*
 * render - print a struct report as text, HTML, CSV or JSON
 *
 * report_render_text() makes aligned plain text for a mail client (at most
 * ~72 columns); report_render_html() a self-contained page (inline CSS,
 * images only by cid:); report_render_csv() long-format rows
 * "section,item,field,value" (RFC 4180 quoting); report_render_json() one
 * object. All four walk the same list of total rows (render_totals()), so
 * they cannot disagree.
 *
 * Names from messages (virus names, addresses, reasons) are untrusted: text
 * and HTML show them through log_printable() (HTML also escaped), CSV and
 * JSON quote/escape them. Percentages: "%.1f" of the exact ratio; a change
 * against a previous value of 0 is "new" in text/HTML and null in JSON.
 * Rendering cannot fail.
 */
#include "report.h"

#include "json.h"
#include "log.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct render_row {
	const char *section, *name;
	int64_t cur, prev;
	bool share; /* show the share of all messages */
};

static const char *const render_sections[] = {"totals", "categories", "destinies", "quarantine"};
static const char *const render_titles[] = {"Totals", "Categories (messages)", "Destinies (recipients)",
                                            "Quarantine (messages)"};

/* The top-N tables, in the order every format shows them. */
static const struct {
	const char *key, *title;
	size_t off;
} render_tops[] = {
    {"top_viruses", "Top viruses", offsetof(struct report, viruses)},
    {"top_banned", "Top banned names", offsetof(struct report, banned)},
    {"top_spam_senders", "Top spam senders", offsetof(struct report, spam_senders)},
    {"top_spam_sender_domains", "Top spam sender domains", offsetof(struct report, spam_domains)},
    {"top_spam_recipients", "Top spam recipients", offsetof(struct report, spam_rcpts)},
    {"top_list_entries", "Top allow/block list entries (recipients decided)", offsetof(struct report, list_entries)},
    {"hosts", "Messages per host", offsetof(struct report, hosts)},
};

static GPtrArray *render_top(const struct report *r, size_t i)
{
	return *(GPtrArray *const *)((const char *)r + render_tops[i].off);
}

static GArray *render_totals(const struct report *r)
{
	GArray *a = g_array_new(FALSE, TRUE, sizeof(struct render_row));
	const struct report_totals *c = &r->cur, *p = &r->prev;
	struct render_row rows[] = {
	    {"totals", "messages", c->messages, p->messages, false},
	    {"totals", "recipients", c->recipients, p->recipients, false},
	    {"totals", "bytes", c->bytes, p->bytes, false},
	};
	g_array_append_vals(a, rows, G_N_ELEMENTS(rows));
	for (int i = 0; i < REPORT_NCAT; i++) {
		struct render_row row = {"categories", report_categories[i], c->cat[i], p->cat[i], true};
		g_array_append_val(a, row);
	}
	for (int i = 0; i < REPORT_NDEST; i++) {
		struct render_row row = {"destinies", report_destiny_labels[i], c->dest[i], p->dest[i],
		                         false};
		g_array_append_val(a, row);
	}
	struct render_row q[] = {
	    {"quarantine", "quarantined", c->quarantined, p->quarantined, false},
	    {"quarantine", "released", c->released, p->released, false},
	    {"quarantine", "purged", c->purged, p->purged, false},
	};
	g_array_append_vals(a, q, G_N_ELEMENTS(q));
	return a;
}

/* "+12.5%", "-3.0%", "0.0%", "new" (previous 0, now more), "-" (both 0) */
static void render_change(int64_t cur, int64_t prev, char *buf, size_t len)
{
	if (prev == 0)
		g_strlcpy(buf, cur ? "new" : "-", len);
	else
		snprintf(buf, len, "%+.1f%%", 100.0 * (double)(cur - prev) / (double)prev);
}

static void render_share(int64_t part, int64_t all, char *buf, size_t len)
{
	if (all == 0)
		g_strlcpy(buf, "-", len);
	else
		snprintf(buf, len, "%.1f%%", 100.0 * (double)part / (double)all);
}

static char *render_time(int64_t t, const char *fmt)
{
	GDateTime *d = g_date_time_new_from_unix_utc(t);
	char *s = g_date_time_format(d, fmt);
	g_date_time_unref(d);
	return s;
}

static const int64_t *render_hist_max(const struct report *r)
{
	const int64_t *m = &r->hist[0];
	for (int i = 1; i < REPORT_NHIST; i++)
		if (r->hist[i] > *m)
			m = &r->hist[i];
	return m;
}

static int64_t render_other(const struct report_day *d)
{
	return d->cat[5] + d->cat[6] + d->cat[7]; /* badh, unchecked, oversized */
}

/* ---- text ---- */

static void text_header(const struct report *r, GString *o)
{
	char *a = render_time(r->since, "%Y-%m-%d %H:%M"), *b = render_time(r->until, "%Y-%m-%d %H:%M");
	char *c = render_time(r->prev_since, "%Y-%m-%d %H:%M");
	g_string_append_printf(o, "Gatehouse mail report %s\n\n", r->label);
	g_string_append_printf(o, "Period:   %s to %s UTC\nPrevious: %s to %s UTC\n", a, b, c, a);
	g_free(a);
	g_free(b);
	g_free(c);
}

static void text_totals(const struct report *r, GString *o)
{
	GArray *rows = render_totals(r);
	for (size_t s = 0; s < G_N_ELEMENTS(render_sections); s++) {
		g_string_append_printf(o, "\n%-24s %12s %8s %12s %8s\n", render_titles[s], "this period",
		                       s == 1 ? "of all" : "", "previous", "change");
		for (size_t i = 0; i < rows->len; i++) {
			struct render_row *w = &g_array_index(rows, struct render_row, i);
			char share[16] = "", change[16];
			if (strcmp(w->section, render_sections[s]) != 0)
				continue;
			if (w->share)
				render_share(w->cur, r->cur.messages, share, sizeof(share));
			render_change(w->cur, w->prev, change, sizeof(change));
			g_string_append_printf(o, "  %-22s %12" PRId64 " %8s %12" PRId64 " %8s\n", w->name,
			                       w->cur, share, w->prev, change);
		}
	}
	g_array_free(rows, TRUE);
}

static void text_days(const struct report *r, GString *o)
{
	g_string_append_printf(o, "\n%-16s %8s %7s %7s %7s %7s %7s %7s\n", "Per day", "messages", "clean",
	                       "virus", "banned", "spam", "spammy", "other");
	for (guint i = 0; i < r->days->len; i++) {
		const struct report_day *d = &g_array_index(r->days, struct report_day, i);
		char *day = render_time(d->start, "%a %Y-%m-%d");
		g_string_append_printf(o,
		                       "  %-14s %8" PRId64 " %7" PRId64 " %7" PRId64 " %7" PRId64 " %7" PRId64
		                       " %7" PRId64 " %7" PRId64 "\n",
		                       day, d->messages, d->cat[0], d->cat[1], d->cat[2], d->cat[3],
		                       d->cat[4], render_other(d));
		g_free(day);
	}
	if (r->busiest_hour < 0) {
		g_string_append(o, "\nBusiest hour: none (no mail)\n");
		return;
	}
	char *h = render_time(r->busiest_hour, "%Y-%m-%d %H:00");
	g_string_append_printf(o, "\nBusiest hour: %s UTC, %" PRId64 " messages\n", h, r->busiest_hour_count);
	g_free(h);
}

static void text_counts(const char *title, const char *what, GPtrArray *a, GString *o)
{
	g_string_append_printf(o, "\n%-50s %8s\n", title, what);
	if (a->len == 0)
		g_string_append(o, "  (none)\n");
	for (guint i = 0; i < a->len; i++) {
		const struct report_count *c = g_ptr_array_index(a, i);
		char *name = log_printable(c->name, 48);
		g_string_append_printf(o, "  %-48s %8" PRId64 "\n", name, c->count);
		g_free(name);
	}
}

static void text_hist(const struct report *r, GString *o)
{
	int64_t max = *render_hist_max(r);
	g_string_append_printf(o, "\n%-10s %8s\n", "Spam score", "messages");
	for (int i = 0; i < REPORT_NHIST; i++) {
		int bar = max ? (int)((r->hist[i] * 40 + max - 1) / max) : 0;
		g_string_append_printf(o, "  %-8s %8" PRId64 "  ", report_hist_labels[i], r->hist[i]);
		for (int j = 0; j < bar; j++)
			g_string_append_c(o, '#');
		g_string_append_c(o, '\n');
	}
}

void report_render_text(const struct report *r, GString *o)
{
	text_header(r, o);
	text_totals(r, o);
	text_days(r, o);
	for (size_t i = 0; i < G_N_ELEMENTS(render_tops); i++)
		text_counts(render_tops[i].title, "count", render_top(r, i), o);
	text_hist(r, o);
	g_string_append_printf(o, "\nScan time: mean %.1f ms, p95 %" PRId64 " ms (%" PRId64 " messages)\n",
	                       r->scan_mean, r->scan_p95, r->scanned);
	text_counts("Engine errors (unchecked)", "count", r->unchecked, o);
}

/* ---- CSV ---- */

static void csv_field(GString *o, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		g_string_append(o, s);
		return;
	}
	g_string_append_c(o, '"');
	for (; *s; s++) {
		if (*s == '"')
			g_string_append_c(o, '"');
		g_string_append_c(o, *s);
	}
	g_string_append_c(o, '"');
}

static void csv_row(GString *o, const char *section, const char *item, const char *field, const char *value)
{
	csv_field(o, section);
	g_string_append_c(o, ',');
	csv_field(o, item);
	g_string_append_c(o, ',');
	csv_field(o, field);
	g_string_append_c(o, ',');
	csv_field(o, value);
	g_string_append(o, "\r\n");
}

static void csv_int(GString *o, const char *section, const char *item, const char *field, int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	csv_row(o, section, item, field, buf);
}

static void csv_counts(GString *o, const char *section, GPtrArray *a)
{
	for (guint i = 0; i < a->len; i++) {
		const struct report_count *c = g_ptr_array_index(a, i);
		csv_int(o, section, c->name, "count", c->count);
	}
}

void report_render_csv(const struct report *r, GString *o)
{
	GArray *rows = render_totals(r);
	char buf[64];

	csv_row(o, "section", "item", "field", "value");
	csv_row(o, "period", "current", "label", r->label);
	csv_int(o, "period", "current", "since", r->since);
	csv_int(o, "period", "current", "until", r->until);
	csv_int(o, "period", "previous", "since", r->prev_since);
	csv_int(o, "period", "previous", "until", r->prev_until);
	for (guint i = 0; i < rows->len; i++) {
		struct render_row *w = &g_array_index(rows, struct render_row, i);
		csv_int(o, w->section, w->name, "current", w->cur);
		csv_int(o, w->section, w->name, "previous", w->prev);
		render_change(w->cur, w->prev, buf, sizeof(buf));
		csv_row(o, w->section, w->name, "change", buf);
		if (w->share) {
			render_share(w->cur, r->cur.messages, buf, sizeof(buf));
			csv_row(o, w->section, w->name, "share", buf);
		}
	}
	g_array_free(rows, TRUE);
	for (guint i = 0; i < r->days->len; i++) {
		const struct report_day *d = &g_array_index(r->days, struct report_day, i);
		char *day = render_time(d->start, "%Y-%m-%d");
		csv_int(o, "day", day, "messages", d->messages);
		csv_int(o, "day", day, "bytes", d->bytes);
		for (int c = 0; c < REPORT_NCAT; c++)
			csv_int(o, "day", day, report_categories[c], d->cat[c]);
		g_free(day);
	}
	if (r->busiest_hour >= 0) {
		char *h = render_time(r->busiest_hour, "%Y-%m-%dT%H:00Z");
		csv_int(o, "busiest_hour", h, "messages", r->busiest_hour_count);
		g_free(h);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(render_tops); i++)
		csv_counts(o, render_tops[i].key, render_top(r, i));
	for (int i = 0; i < REPORT_NHIST; i++)
		csv_int(o, "spam_score", report_hist_labels[i], "messages", r->hist[i]);
	csv_int(o, "scan_time", "all", "messages", r->scanned);
	snprintf(buf, sizeof(buf), "%.1f", r->scan_mean);
	csv_row(o, "scan_time", "all", "mean_ms", buf);
	csv_int(o, "scan_time", "all", "p95_ms", r->scan_p95);
	csv_counts(o, "unchecked", r->unchecked);
}

/* ---- JSON ---- */

/* A ratio in percent with one decimal, or null. */
static void json_pct(GString *o, int64_t num, int64_t den)
{
	if (den == 0)
		g_string_append(o, "null");
	else
		g_string_append_printf(o, "%.1f", 100.0 * (double)num / (double)den);
}

static void json_counts(GString *o, const char *key, GPtrArray *a)
{
	g_string_append_printf(o, ",\n  \"%s\": [", key);
	for (guint i = 0; i < a->len; i++) {
		const struct report_count *c = g_ptr_array_index(a, i);
		g_string_append(o, i ? ", {\"name\": " : "{\"name\": ");
		json_append_str(o, c->name);
		g_string_append_printf(o, ", \"count\": %" PRId64 "}", c->count);
	}
	g_string_append_c(o, ']');
}

static void json_totals(const struct report *r, GString *o)
{
	GArray *rows = render_totals(r);
	for (size_t s = 0; s < G_N_ELEMENTS(render_sections); s++) {
		bool first = true;
		g_string_append_printf(o, ",\n  \"%s\": {", render_sections[s]);
		for (guint i = 0; i < rows->len; i++) {
			struct render_row *w = &g_array_index(rows, struct render_row, i);
			if (strcmp(w->section, render_sections[s]) != 0)
				continue;
			g_string_append_printf(o,
			                       "%s\n    \"%s\": {\"current\": %" PRId64
			                       ", \"previous\": %" PRId64 ", \"change_pct\": ",
			                       first ? "" : ",", w->name, w->cur, w->prev);
			json_pct(o, w->cur - w->prev, w->prev);
			if (w->share) {
				g_string_append(o, ", \"share_pct\": ");
				json_pct(o, w->cur, r->cur.messages);
			}
			g_string_append_c(o, '}');
			first = false;
		}
		g_string_append(o, "\n  }");
	}
	g_array_free(rows, TRUE);
}

static void json_days(const struct report *r, GString *o)
{
	g_string_append(o, ",\n  \"days\": [");
	for (guint i = 0; i < r->days->len; i++) {
		const struct report_day *d = &g_array_index(r->days, struct report_day, i);
		char *day = render_time(d->start, "%Y-%m-%d");
		g_string_append_printf(
		    o, "%s\n    {\"date\": \"%s\", \"messages\": %" PRId64 ", \"bytes\": %" PRId64,
		    i ? "," : "", day, d->messages, d->bytes);
		for (int c = 0; c < REPORT_NCAT; c++)
			g_string_append_printf(o, ", \"%s\": %" PRId64, report_categories[c], d->cat[c]);
		g_string_append_c(o, '}');
		g_free(day);
	}
	g_string_append(o, "\n  ]");
	if (r->busiest_hour < 0) {
		g_string_append(o, ",\n  \"busiest_hour\": null");
		return;
	}
	char *h = render_time(r->busiest_hour, "%Y-%m-%dT%H:00:00Z");
	g_string_append_printf(o, ",\n  \"busiest_hour\": {\"start\": \"%s\", \"messages\": %" PRId64 "}", h,
	                       r->busiest_hour_count);
	g_free(h);
}

void report_render_json(const struct report *r, GString *o)
{
	g_string_append(o, "{\n  \"period\": {\"label\": ");
	json_append_str(o, r->label);
	g_string_append_printf(o,
	                       ", \"since\": %" PRId64 ", \"until\": %" PRId64
	                       ", \"previous_since\": %" PRId64 ", \"previous_until\": %" PRId64 "}",
	                       r->since, r->until, r->prev_since, r->prev_until);
	json_totals(r, o);
	json_days(r, o);
	for (size_t i = 0; i < G_N_ELEMENTS(render_tops); i++)
		json_counts(o, render_tops[i].key, render_top(r, i));
	g_string_append(o, ",\n  \"spam_score_histogram\": [");
	for (int i = 0; i < REPORT_NHIST; i++)
		g_string_append_printf(o, "%s{\"bucket\": \"%s\", \"messages\": %" PRId64 "}", i ? ", " : "",
		                       report_hist_labels[i], r->hist[i]);
	g_string_append_printf(
	    o, "],\n  \"scan_time\": {\"messages\": %" PRId64 ", \"mean_ms\": %.1f, \"p95_ms\": %" PRId64 "}",
	    r->scanned, r->scan_mean, r->scan_p95);
	json_counts(o, "unchecked", r->unchecked);
	g_string_append(o, "\n}\n");
}

/* ---- HTML ---- */

static void html_text(GString *o, const char *s)
{
	char *p = log_printable(s, 64);
	char *e = g_markup_escape_text(p, -1);
	g_string_append(o, e);
	g_free(e);
	g_free(p);
}

static void html_totals(const struct report *r, GString *o)
{
	GArray *rows = render_totals(r);
	for (size_t s = 0; s < G_N_ELEMENTS(render_sections); s++) {
		g_string_append_printf(o,
		                       "<h2>%s</h2>\n<table>\n<tr><th></th><th>this period</th>%s"
		                       "<th>previous</th><th>change</th></tr>\n",
		                       render_titles[s], s == 1 ? "<th>of all</th>" : "");
		for (guint i = 0; i < rows->len; i++) {
			struct render_row *w = &g_array_index(rows, struct render_row, i);
			char change[16];
			if (strcmp(w->section, render_sections[s]) != 0)
				continue;
			render_change(w->cur, w->prev, change, sizeof(change));
			g_string_append_printf(o, "<tr><td>%s</td><td>%" PRId64 "</td>", w->name, w->cur);
			if (w->share) {
				char share[16];
				render_share(w->cur, r->cur.messages, share, sizeof(share));
				g_string_append_printf(o, "<td>%s</td>", share);
			}
			g_string_append_printf(o, "<td>%" PRId64 "</td><td>%s</td></tr>\n", w->prev, change);
		}
		g_string_append(o, "</table>\n");
	}
	g_array_free(rows, TRUE);
}

static void html_days(const struct report *r, GString *o)
{
	g_string_append(o, "<h2>Per day</h2>\n<table>\n<tr><th>day</th><th>messages</th>");
	for (int c = 0; c < REPORT_NCAT; c++)
		g_string_append_printf(o, "<th>%s</th>", report_categories[c]);
	g_string_append(o, "</tr>\n");
	for (guint i = 0; i < r->days->len; i++) {
		const struct report_day *d = &g_array_index(r->days, struct report_day, i);
		char *day = render_time(d->start, "%a %Y-%m-%d");
		g_string_append_printf(o, "<tr><td>%s</td><td>%" PRId64 "</td>", day, d->messages);
		for (int c = 0; c < REPORT_NCAT; c++)
			g_string_append_printf(o, "<td>%" PRId64 "</td>", d->cat[c]);
		g_string_append(o, "</tr>\n");
		g_free(day);
	}
	g_string_append(o, "</table>\n");
	if (r->busiest_hour >= 0) {
		char *h = render_time(r->busiest_hour, "%Y-%m-%d %H:00");
		g_string_append_printf(o, "<p>Busiest hour: %s UTC, %" PRId64 " messages</p>\n", h,
		                       r->busiest_hour_count);
		g_free(h);
	}
}

static void html_counts(GString *o, const char *title, GPtrArray *a)
{
	g_string_append_printf(o, "<h2>%s</h2>\n<table>\n<tr><th>name</th><th>count</th></tr>\n", title);
	if (a->len == 0)
		g_string_append(o, "<tr><td>(none)</td><td></td></tr>\n");
	for (guint i = 0; i < a->len; i++) {
		const struct report_count *c = g_ptr_array_index(a, i);
		g_string_append(o, "<tr><td>");
		html_text(o, c->name);
		g_string_append_printf(o, "</td><td>%" PRId64 "</td></tr>\n", c->count);
	}
	g_string_append(o, "</table>\n");
}

void report_render_html(const struct report *r, const char *const *cids, GString *o)
{
	char *a = render_time(r->since, "%Y-%m-%d %H:%M"), *b = render_time(r->until, "%Y-%m-%d %H:%M");
	g_string_append(o,
	                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Gatehouse mail report ");
	html_text(o, r->label);
	g_string_append(o,
	                "</title>\n<style>body{font-family:sans-serif}table{border-collapse:collapse}"
	                "td,th{border:1px solid #ccc;padding:2px 8px}td{text-align:right}"
	                "td:first-child{text-align:left}</style></head>\n<body>\n<h1>Gatehouse mail report ");
	html_text(o, r->label);
	g_string_append_printf(o, "</h1>\n<p>%s to %s UTC</p>\n", a, b);
	g_free(a);
	g_free(b);
	for (size_t i = 0; cids && cids[i]; i++) {
		g_string_append(o, "<p><img alt=\"graph\" src=\"cid:");
		html_text(o, cids[i]);
		g_string_append(o, "\"></p>\n");
	}
	html_totals(r, o);
	html_days(r, o);
	for (size_t i = 0; i < G_N_ELEMENTS(render_tops); i++)
		html_counts(o, render_tops[i].title, render_top(r, i));
	g_string_append(o, "<h2>Spam score</h2>\n<table>\n<tr><th>score</th><th>messages</th></tr>\n");
	for (int i = 0; i < REPORT_NHIST; i++)
		g_string_append_printf(o, "<tr><td>%s</td><td>%" PRId64 "</td></tr>\n",
		                       i == 0                  ? "&lt; 0"
		                       : i == REPORT_NHIST - 1 ? "&gt;= 20"
		                                               : report_hist_labels[i],
		                       r->hist[i]);
	g_string_append_printf(
	    o, "</table>\n<p>Scan time: mean %.1f ms, p95 %" PRId64 " ms (%" PRId64 " messages)</p>\n",
	    r->scan_mean, r->scan_p95, r->scanned);
	html_counts(o, "Engine errors (unchecked)", r->unchecked);
	g_string_append(o, "</body></html>\n");
}
