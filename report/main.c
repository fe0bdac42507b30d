/*
 * scand-report - weekly tables, RRD graphs and the weekly report mail
 *
 *   scand-report [-c FILE] [--now EPOCH] weekly [--week YYYY-Www | --since T [--until T]]
 *                [--format text|html|csv|json] [--mail[=ADDR,...]]
 *   scand-report [-c FILE] [--now EPOCH] rrd-update [--rebuild]      ("rrd" works too)
 *   scand-report [-c FILE] [--now EPOCH] graph --period day|week|month|year --out DIR
 *                [--width N --height N] [--verbose]
 *
 * weekly prints the report of the last complete ISO week (UTC) or the
 * given period; with --mail it brings the RRD up to date, draws the
 * period's three graphs (by category; passed/blocked; by host) and mails text + HTML +
 * graphs to the addresses given or
 * to [report] admins through [notify] forward. rrd-update and graph: see
 * rrd.c. --now pretends the time is EPOCH (tests, backfills). T is an age
 * before now (30m 12h 7d 2w), a UTC date YYYY-MM-DD[ HH:MM[:SS]] or @EPOCH
 * (common/when.h); --until defaults to now. graph creates DIR if missing.
 * The configuration is -c FILE, else $GATEHOUSE_CONF, else
 * /etc/gatehouse/scand.conf (the built-in defaults if that does not exist).
 *
 * Exit 0 on success, 1 on a failure (reported on stderr and syslog),
 * 2 on a usage error.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "report.h"
#include "store.h"

#define REPORT_CONF CONF_DEFAULT_PATH

struct report_ctx {
	struct conf *conf;
	struct store *st;
	int64_t now;
};

static int usage(void)
{
	fprintf(stderr,
	        "usage: scand-report [-c FILE] [--now EPOCH] weekly [--week YYYY-Www | --since T [--until T]]\n"
	        "                    [--format text|html|csv|json] [--mail[=ADDR,...]]\n"
	        "       scand-report [-c FILE] [--now EPOCH] rrd-update [--rebuild]\n"
	        "       scand-report [-c FILE] [--now EPOCH] graph --period day|week|month|year --out DIR"
	        " [--width N] [--height N] [--verbose]\n");
	return 2;
}

/* Parse a subcommand's options; argv[0] is the subcommand. */
static int parse_opts(int *argc, char ***argv, GOptionEntry *entries)
{
	GOptionContext *ctx = g_option_context_new(NULL);
	GError *e = NULL;
	int rc = 0;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_help_enabled(ctx, TRUE);
	if (!g_option_context_parse(ctx, argc, argv, &e)) {
		fprintf(stderr, "scand-report %s: %s\n", (*argv)[0], e->message);
		g_error_free(e);
		rc = -1;
	} else if (*argc > 1) {
		fprintf(stderr, "scand-report %s: unexpected argument \"%s\"\n", (*argv)[0], (*argv)[1]);
		rc = -1;
	}
	g_option_context_free(ctx);
	return rc;
}

static int open_store(struct report_ctx *x)
{
	char *err = NULL;
	if (store_open_conf(x->conf, &x->st, &err) < 0) {
		msg_error("%s", err);
		g_free(err);
		return -1;
	}
	return 0;
}

static int fail(char *err)
{
	msg_error("%s", err);
	g_free(err);
	return 1;
}

/* ---- rrd-update, graph ---- */

static int cmd_rrd_update(struct report_ctx *x, int argc, char **argv)
{
	gboolean rebuild = FALSE;
	GOptionEntry entries[] = {
	    {"rebuild", 0, 0, G_OPTION_ARG_NONE, &rebuild, "recreate the RRD from the whole store", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	char *err = NULL;

	if (parse_opts(&argc, &argv, entries) < 0)
		return 2;
	if (open_store(x) < 0)
		return 1;
	if (rrd_report_update(x->st, conf_str(x->conf, "report", "rrd_file"), x->now, rebuild, &err) < 0)
		return fail(err);
	return 0;
}

static const struct {
	const char *name;
	int64_t span;
} report_periods[] = {{"day", 86400}, {"week", 7 * 86400}, {"month", 31 * 86400}, {"year", 365 * 86400}};

static const struct {
	enum rrd_graph_kind kind;
	const char *suffix, *what;
} report_graphs[] = {
    {RRD_GRAPH_CATEGORIES, "", "messages per minute by category"},
    {RRD_GRAPH_FLOW, "-flow", "passed and blocked messages per minute"},
    {RRD_GRAPH_HOSTS, "-hosts", "messages per minute by host"},
};

/* --verbose: "PNG: text | text | ..." */
static void graph_print_legend(const char *png, GPtrArray *legend)
{
	printf("%s:", png);
	for (guint i = 0; i < legend->len; i++)
		printf("%s %s", i ? " |" : "", (const char *)legend->pdata[i]);
	printf("\n");
}

static int cmd_graph(struct report_ctx *x, int argc, char **argv)
{
	char *period = NULL, *out = NULL, *err = NULL;
	int width = 620, height = 280, rc = 2;
	gboolean verbose = FALSE;
	GOptionEntry entries[] = {
	    {"period", 0, 0, G_OPTION_ARG_STRING, &period, "day, week, month or year", "P"},
	    {"out", 0, 0, G_OPTION_ARG_FILENAME, &out,
	     "directory for gatehouse-P.png, gatehouse-P-flow.png and gatehouse-P-hosts.png", "DIR"},
	    {"width", 0, 0, G_OPTION_ARG_INT, &width, "image width in pixels (default 620)", "N"},
	    {"height", 0, 0, G_OPTION_ARG_INT, &height, "image height in pixels (default 280)", "N"},
	    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "print each file written and its legend", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};

	if (parse_opts(&argc, &argv, entries) < 0)
		goto done;
	size_t p = 0;
	while (p < G_N_ELEMENTS(report_periods) && !(period && strcmp(period, report_periods[p].name) == 0))
		p++;
	if (p == G_N_ELEMENTS(report_periods) || !out || width < 200 || height < 100 || width > 4000 ||
	    height > 4000) {
		fprintf(stderr, "scand-report graph: need --period day|week|month|year, --out DIR, "
		                "and a size within 200x100..4000x4000\n");
		goto done;
	}
	/* like mkdir -p: a missing --out must not end in "done" with nothing written */
	if (g_mkdir_with_parents(out, 0755) < 0 || !g_file_test(out, G_FILE_TEST_IS_DIR)) {
		fprintf(stderr, "scand-report graph: cannot create the directory %s: %s\n", out,
		        g_strerror(errno));
		rc = 1;
		goto done;
	}
	rc = 0;
	for (size_t g = 0; g < G_N_ELEMENTS(report_graphs) && rc == 0; g++) {
		char *png = g_strdup_printf("%s/gatehouse-%s%s.png", out, report_periods[p].name,
		                            report_graphs[g].suffix);
		char *title =
		    g_strdup_printf("Gatehouse: %s, last %s", report_graphs[g].what, report_periods[p].name);
		GPtrArray *legend = verbose ? g_ptr_array_new_with_free_func(g_free) : NULL;
		if (rrd_report_graph(conf_str(x->conf, "report", "rrd_file"), png, report_graphs[g].kind,
		                     title, x->now - report_periods[p].span, x->now, width, height, legend,
		                     &err) < 0)
			rc = fail(err);
		else if (legend)
			graph_print_legend(png, legend);
		if (legend)
			g_ptr_array_free(legend, TRUE);
		g_free(title);
		g_free(png);
	}
done:
	g_free(period);
	g_free(out);
	return rc;
}

/* ---- weekly ---- */

struct weekly_opts {
	char *week, *since, *until, *format, *mail;
	gboolean mail_given;
};

static struct weekly_opts *weekly_opts_cb_target;

static gboolean weekly_mail_cb(const char *name, const char *value, gpointer data, GError **error)
{
	(void)name;
	(void)data;
	(void)error;
	weekly_opts_cb_target->mail_given = TRUE;
	g_free(weekly_opts_cb_target->mail);
	weekly_opts_cb_target->mail = g_strdup(value);
	return TRUE;
}

static int weekly_period(struct report_ctx *x, struct weekly_opts *o, struct report **r)
{
	int64_t since, until;
	char *label = NULL, *err = NULL;

	if (o->week && (o->since || o->until)) {
		fprintf(stderr, "scand-report weekly: --week and --since/--until exclude each other\n");
		return 2;
	}
	if (!o->week && !o->since && !o->until) {
		report_last_week(x->now, &since, &until, &label);
	} else if (o->week) {
		if (report_period_week(o->week, &since, &until, &err) < 0)
			goto bad;
		label = g_strdup(o->week);
	} else {
		if (!o->since) {
			fprintf(stderr, "scand-report weekly: --until needs --since\n");
			return 2;
		}
		/* --until defaults to now (--now when given) */
		if (report_parse_time(o->since, x->now, &since, &err) < 0 ||
		    (o->until && report_parse_time(o->until, x->now, &until, &err) < 0))
			goto bad;
		if (!o->until)
			until = x->now + 1; /* [since, until): the messages of this second count */
		label = g_strdup_printf("%s to %s", o->since, o->until ? o->until : "now");
	}
	if (open_store(x) < 0) {
		g_free(label);
		return 1;
	}
	if (report_build(x->st, since, until, (int)conf_int(x->conf, "report", "top"), r, &err) < 0) {
		g_free(label);
		return fail(err);
	}
	(*r)->label = label;
	return 0;
bad:
	fprintf(stderr, "scand-report weekly: %s\n", err);
	g_free(err);
	return 2;
}

/* One graph of the report's period as PNG bytes (NULL on failure, logged). */
static GBytes *weekly_graph(struct report_ctx *x, const struct report *r, size_t g, const char *dir)
{
	const char *rrd = conf_str(x->conf, "report", "rrd_file");
	char *err = NULL, *path = g_build_filename(dir, "graph.png", NULL);
	char *title = g_strdup_printf("Gatehouse: %s, %s", report_graphs[g].what, r->label);
	GBytes *png = NULL;
	gchar *data;
	gsize len;

	if (rrd_report_graph(rrd, path, report_graphs[g].kind, title, r->since, r->until, 620, 280, NULL,
	                     &err) < 0) {
		msg_warn("weekly: graph left out: %s", err);
		g_free(err);
	} else if (g_file_get_contents(path, &data, &len, NULL))
		png = g_bytes_new_take(data, len);
	g_unlink(path);
	g_free(title);
	g_free(path);
	return png;
}

/* The period's graphs after bringing the RRD up to date; returns how many. */
static size_t weekly_graphs(struct report_ctx *x, const struct report *r, struct report_image *img)
{
	char *err = NULL, *dir;
	size_t n = 0;

	if (rrd_report_update(x->st, conf_str(x->conf, "report", "rrd_file"), x->now, false, &err) < 0) {
		msg_warn("weekly: graphs left out: %s", err);
		g_free(err);
		return 0;
	}
	if (!(dir = g_dir_make_tmp("gatehouse-report-XXXXXX", NULL))) {
		msg_warn("weekly: graphs left out: no temporary directory");
		return 0;
	}
	for (size_t g = 0; g < G_N_ELEMENTS(report_graphs); g++) {
		GBytes *png = weekly_graph(x, r, g, dir);
		if (!png)
			continue;
		img[n].png = png;
		img[n].cid =
		    g_strdup_printf("graph%s-%" PRId64 "@gatehouse", report_graphs[g].suffix, r->since);
		n++;
	}
	g_rmdir(dir);
	g_free(dir);
	return n;
}

static char *weekly_from(struct report_ctx *x)
{
	const char *from = conf_str(x->conf, "notify", "from");
	if (from && *from)
		return g_strdup(from);
	return g_strdup_printf("\"Gatehouse report at %s\" <postmaster@%s>", g_get_host_name(),
	                       g_get_host_name());
}

/* The envelope sender: the address inside "Name <addr>", or the whole. */
static char *weekly_env_from(const char *from)
{
	const char *lt = strrchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt)
		return g_strndup(lt + 1, (gsize)(gt - lt - 1));
	return g_strstrip(g_strdup(from));
}

static int weekly_mail(struct report_ctx *x, const struct report *r, const char *to_list)
{
	char **to =
	    g_strsplit_set(to_list && *to_list ? to_list : conf_str(x->conf, "report", "admins"), ", ", -1);
	GPtrArray *rcpt = g_ptr_array_new();
	for (size_t i = 0; to[i]; i++)
		if (*to[i])
			g_ptr_array_add(rcpt, to[i]);
	g_ptr_array_add(rcpt, NULL);
	if (rcpt->len == 1) {
		msg_error("weekly: nobody to mail (set [report] admins or give --mail=ADDR)");
		g_ptr_array_free(rcpt, TRUE);
		g_strfreev(to);
		return 1;
	}
	struct report_image img[G_N_ELEMENTS(report_graphs)] = {{0}};
	size_t nimg = weekly_graphs(x, r, img);
	const char *cids[G_N_ELEMENTS(report_graphs) + 1] = {0};
	for (size_t i = 0; i < nimg; i++)
		cids[i] = img[i].cid;
	GString *text = g_string_new(NULL), *html = g_string_new(NULL);
	report_render_text(r, text);
	report_render_html(r, cids, html);
	char *from = weekly_from(x), *env_from = weekly_env_from(from), *err = NULL;
	char *subject = g_strdup_printf(
	    "Gatehouse mail report %s: %" PRId64 " messages, %" PRId64 " viruses, %" PRId64 " spam", r->label,
	    r->cur.messages, r->cur.cat[1], r->cur.cat[3] + r->cur.cat[4]);
	GBytes *msg = NULL;
	int rc = 0;
	if (report_mail_build(from, (const char *const *)rcpt->pdata, subject, text->str, html->str, img,
	                      nimg, &msg, &err) < 0 ||
	    report_mail_send(conf_str(x->conf, "notify", "forward"), env_from,
	                     (const char *const *)rcpt->pdata, msg, &err) < 0)
		rc = fail(err);
	else
		msg_info("weekly: report %s mailed to %u recipient(s)", r->label, rcpt->len - 1);
	if (msg)
		g_bytes_unref(msg);
	g_free(subject);
	g_free(from);
	g_free(env_from);
	g_string_free(text, TRUE);
	g_string_free(html, TRUE);
	for (size_t i = 0; i < nimg; i++) {
		g_bytes_unref(img[i].png);
		g_free(img[i].cid);
	}
	g_ptr_array_free(rcpt, TRUE);
	g_strfreev(to);
	return rc;
}

static int weekly_print(const struct report *r, const char *format)
{
	GString *o = g_string_new(NULL);
	if (strcmp(format, "text") == 0)
		report_render_text(r, o);
	else if (strcmp(format, "html") == 0)
		report_render_html(r, NULL, o);
	else if (strcmp(format, "csv") == 0)
		report_render_csv(r, o);
	else
		report_render_json(r, o);
	int rc = fwrite(o->str, 1, o->len, stdout) == o->len && fflush(stdout) == 0 ? 0 : 1;
	if (rc)
		msg_error("weekly: cannot write the report to stdout");
	g_string_free(o, TRUE);
	return rc;
}

static int cmd_weekly(struct report_ctx *x, int argc, char **argv)
{
	struct weekly_opts o = {0};
	struct report *r = NULL;
	GOptionEntry entries[] = {
	    {"week", 0, 0, G_OPTION_ARG_STRING, &o.week, "ISO week, e.g. 2026-W47 (default: last week)", "W"},
	    {"since", 0, 0, G_OPTION_ARG_STRING, &o.since,
	     "start: an age (30m 12h 7d 2w), YYYY-MM-DD[ HH:MM[:SS]] UTC or @EPOCH", "T"},
	    {"until", 0, 0, G_OPTION_ARG_STRING, &o.until, "end, exclusive (default now)", "T"},
	    {"format", 0, 0, G_OPTION_ARG_STRING, &o.format, "text, html, csv or json (default text)", "F"},
	    {"mail", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, (gpointer)weekly_mail_cb,
	     "mail the report to ADDR,... (default [report] admins)", "ADDR"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	int rc = 2;

	weekly_opts_cb_target = &o;
	if (parse_opts(&argc, &argv, entries) < 0)
		goto done;
	const char *format = o.format ? o.format : "text";
	if (strcmp(format, "text") && strcmp(format, "html") && strcmp(format, "csv") &&
	    strcmp(format, "json")) {
		fprintf(stderr, "scand-report weekly: unknown format \"%s\"\n", format);
		goto done;
	}
	if ((rc = weekly_period(x, &o, &r)) != 0)
		goto done;
	rc = o.mail_given ? weekly_mail(x, r, o.mail) : weekly_print(r, format);
done:
	report_free(r);
	g_free(o.week);
	g_free(o.since);
	g_free(o.until);
	g_free(o.format);
	g_free(o.mail);
	return rc;
}

static struct conf *load_conf(const char *path)
{
	char *err = NULL;
	struct conf *c;

	if (!path)
		path = conf_env_path(); /* $GATEHOUSE_CONF */
	if (!path && access(REPORT_CONF, F_OK) != 0)
		return conf_defaults();
	c = conf_load(path ? path : REPORT_CONF, &err);
	if (!c) {
		fprintf(stderr, "scand-report: %s\n", err);
		g_free(err);
	}
	return c;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	struct report_ctx x = {.now = (int64_t)time(NULL)};
	int i = 1, rc;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc)
			x.now = g_ascii_strtoll(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("scand-report %s\n", GH_VERSION);
			return 0;
		} else
			return usage();
	}
	if (i >= argc || x.now <= 0)
		return usage();
	if (!(x.conf = load_conf(path)))
		return 1;
	log_init("scand-report", 1, LOG_LVL_INFO, conf_str(x.conf, "scand", "syslog_facility"));
	if (strcmp(argv[i], "weekly") == 0)
		rc = cmd_weekly(&x, argc - i, argv + i);
	else if (strcmp(argv[i], "rrd-update") == 0 || strcmp(argv[i], "rrd") == 0)
		rc = cmd_rrd_update(&x, argc - i, argv + i);
	else if (strcmp(argv[i], "graph") == 0)
		rc = cmd_graph(&x, argc - i, argv + i);
	else
		rc = usage();
	store_close(x.st);
	conf_free(x.conf);
	return rc;
}
