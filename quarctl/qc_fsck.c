/*
 * qc_fsck - quarctl fsck [--fix] [--json]
 *
 * qc_cmd_fsck() runs quar_fsck() (common/quar_fsck.c, which scand also
 * runs at start-up) on the configured store and quarantine tree and prints
 * one line per problem (kind, path, mail id, detail, fixed or not; text
 * through log_printable()) and a summary line, or one JSON object.
 *
 * Exit codes: 0 consistent (or every problem fixed), 1 problems remain,
 * 2 usage, 5 the store cannot be read.
 */
#include "qc.h"

#include "log.h"
#include "quar_fsck.h"

#include <string.h>

static void qc_fsck_json(const struct quar_fsck_report *r, bool ok)
{
	GString *out = g_string_new("{\"consistent\":");
	g_string_append_printf(out,
	                       "%s,\"files\":%" G_GINT64_FORMAT ",\"rows\":%" G_GINT64_FORMAT
	                       ",\"fixed\":%d,\"problems\":[",
	                       ok ? "true" : "false", r->files, r->rows, r->nfixed);
	for (guint i = 0; i < r->problems->len; i++) {
		const struct quar_fsck_problem *p = r->problems->pdata[i];
		g_string_append_printf(out, "%s{\"kind\":\"%s\",\"path\":", i ? "," : "", p->kind);
		qc_json_str(out, p->relpath);
		g_string_append(out, ",\"mail_id\":");
		qc_json_str(out, p->mail_id);
		g_string_append(out, ",\"detail\":");
		qc_json_str(out, p->detail);
		g_string_append_printf(out, ",\"fixed\":%s}", p->fixed ? "true" : "false");
	}
	g_string_append(out, "]}\n");
	fputs(out->str, stdout);
	g_string_free(out, TRUE);
}

static void qc_fsck_text(const struct quar_fsck_report *r)
{
	for (guint i = 0; i < r->problems->len; i++) {
		const struct quar_fsck_problem *p = r->problems->pdata[i];
		char *path = log_printable(p->relpath, 300), *detail = log_printable(p->detail, 300);
		printf("%s\t%s\t%s\t%s\t%s\n", p->kind, path, *p->mail_id ? p->mail_id : "-", detail,
		       p->fixed ? "fixed" : "not fixed");
		g_free(path);
		g_free(detail);
	}
	printf("fsck: %" G_GINT64_FORMAT " files, %" G_GINT64_FORMAT " rows, %u problems, %d fixed\n",
	       r->files, r->rows, r->problems->len, r->nfixed);
}

int qc_cmd_fsck(struct qc *qc, int argc, char **argv)
{
	gboolean fix = FALSE, json = FALSE;
	GOptionEntry entries[] = {
	    {"fix", 0, 0, G_OPTION_ARG_NONE, &fix, "fix what is safe (missing files, orphans)", NULL},
	    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON object", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	if (!qc_parse(entries, "- check the quarantine tree against the store", &argc, &argv) || argc > 1)
		return QC_EXIT_USAGE;
	struct quar_fsck_opts o = {.fix = fix, .who = qc->who};
	struct quar_fsck_report r;
	char *err = NULL;
	if (quar_fsck(qc->st, qc->quar_dir, &o, &r, &err) < 0) {
		fprintf(stderr, "quarctl: %s\n", err);
		g_free(err);
		quar_fsck_report_free(&r);
		return QC_EXIT_STORE;
	}
	bool ok = (guint)r.nfixed == r.problems->len;
	if (json)
		qc_fsck_json(&r, ok);
	else
		qc_fsck_text(&r);
	quar_fsck_report_free(&r);
	return ok ? QC_EXIT_OK : QC_EXIT_FAIL;
}
