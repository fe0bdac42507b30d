/*
 * qc_dev - hidden subcommand that builds test stores the real way
 *
 * quarctl dev-add --file MSG --category virus --rcpt ADDR[:destiny] ...
 * writes MSG into the quarantine tree with quar_write() and its verdict
 * row with store_put(), exactly the two calls scand makes, and prints the
 * new mail id. Tests use it until (and alongside) scand producing rows
 * from a corpus; it is not shown in --help.
 *
 * Failures: a message on stderr and exit 1 (2 for usage).
 */
#include "qc.h"

#include "mailid.h"
#include "quar.h"

#include <gmime/gmime.h>
#include <string.h>
#include <time.h>

static char *qc_dev_header(GMimeMessage *msg, const char *name)
{
	const char *v = msg ? g_mime_object_get_header(GMIME_OBJECT(msg), name) : NULL;
	return g_strdup(v ? v : "");
}

struct qc_dev_opts {
	char *category, *when, *sender, *subject, *virus, *banned, *file, *score;
	char **rcpts;
	gboolean gz;
};

static void qc_dev_fill(struct store_msg *m, const struct qc_dev_opts *o, GMimeMessage *mime)
{
	bool archive = strcmp(o->category, "archive") == 0;
	mailid_new(m->mail_id);
	m->time = o->when ? qc_parse_when(o->when) : (int64_t)time(NULL);
	m->client_addr = g_strdup("192.0.2.1");
	m->sender = g_strdup(o->sender ? o->sender : "");
	m->from_hdr = qc_dev_header(mime, "From");
	m->subject = o->subject ? g_strdup(o->subject) : qc_dev_header(mime, "Subject");
	m->message_id = qc_dev_header(mime, "Message-Id");
	m->category = g_strdup(archive ? "clean" : o->category);
	m->virus_names = g_strdup(o->virus ? o->virus : "");
	m->banned_names = g_strdup(o->banned ? o->banned : "");
	m->spam_checked = o->score != NULL;
	m->spam_score = o->score ? g_ascii_strtod(o->score, NULL) : 0;
	m->engine = g_strdup("quarctl-dev");
	m->nrcpt = o->rcpts ? g_strv_length(o->rcpts) : 0;
	m->rcpt = g_new0(struct store_rcpt, m->nrcpt);
	for (size_t i = 0; i < m->nrcpt; i++) {
		char **ad = g_strsplit(o->rcpts[i], ":", 2);
		m->rcpt[i].addr = g_strdup(ad[0]);
		m->rcpt[i].destiny = g_strdup(ad[1] ? ad[1] : (archive ? "pass" : "discard"));
		m->rcpt[i].smtp_answer =
		    g_strdup(strcmp(m->rcpt[i].destiny, "pass") == 0 ? "250 2.0.0 Ok, passed"
		                                                     : "250 2.7.0 Ok, discarded");
		g_strfreev(ad);
	}
}

static int qc_dev_store(struct qc *qc, struct store_msg *m, const char *data, size_t len, bool gz)
{
	char *err = NULL, sha[65];
	m->quar_path = quar_relpath(strcmp(m->category, "clean") == 0 ? "archive" : m->category,
	                            (time_t)m->time, m->mail_id, gz);
	if (!m->quar_path) {
		fprintf(stderr, "quarctl: dev-add: category %s has no quarantine\n", m->category);
		return QC_EXIT_USAGE;
	}
	m->size = (int64_t)len;
	if (quar_write(qc->quar_dir, m->quar_path, data, len, gz, &m->quar_size, sha, &err) < 0) {
		fprintf(stderr, "quarctl: dev-add: %s\n", err);
		g_free(err);
		return QC_EXIT_FAIL;
	}
	m->quar_sha256 = g_strdup(sha);
	if (store_put(qc->st, m, NULL, 0) < 0) {
		fprintf(stderr, "quarctl: dev-add: %s\n", store_error(qc->st));
		return QC_EXIT_STORE;
	}
	printf("%s\n", m->mail_id);
	return QC_EXIT_OK;
}

int qc_cmd_dev_add(struct qc *qc, int argc, char **argv)
{
	struct qc_dev_opts o = {0};
	GOptionEntry entries[] = {
	    {"category", 0, 0, G_OPTION_ARG_STRING, &o.category, "virus|banned|spam|badh|archive", "CAT"},
	    {"time", 0, 0, G_OPTION_ARG_STRING, &o.when, "UTC date or age (default now)", "WHEN"},
	    {"sender", 0, 0, G_OPTION_ARG_STRING, &o.sender, "envelope sender", "ADDR"},
	    {"rcpt", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.rcpts, "recipient[:destiny]", "ADDR"},
	    {"subject", 0, 0, G_OPTION_ARG_STRING, &o.subject, "subject (default from the message)", "S"},
	    {"virus", 0, 0, G_OPTION_ARG_STRING, &o.virus, "virus names", "V"},
	    {"banned", 0, 0, G_OPTION_ARG_STRING, &o.banned, "banned names", "B"},
	    {"score", 0, 0, G_OPTION_ARG_STRING, &o.score, "spam score", "X"},
	    {"file", 0, 0, G_OPTION_ARG_FILENAME, &o.file, "the message", "FILE"},
	    {"gz", 0, 0, G_OPTION_ARG_NONE, &o.gz, "store gzipped", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	GOptionContext *ctx = g_option_context_new("- add a quarantined message (tests)");
	struct store_msg *m = g_new0(struct store_msg, 1);
	gchar *data = NULL;
	gsize len = 0;
	int rc = QC_EXIT_USAGE;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, NULL) || !o.category || !o.file ||
	    (o.when && qc_parse_when(o.when) < 0)) {
		fprintf(stderr, "quarctl: dev-add: --category and --file needed\n");
		goto out;
	}
	if (!g_file_get_contents(o.file, &data, &len, NULL)) {
		fprintf(stderr, "quarctl: dev-add: cannot read %s\n", o.file);
		goto out;
	}
	GMimeMessage *mime = qc_msg_parse(data, len);
	qc_dev_fill(m, &o, mime);
	if (mime)
		g_object_unref(mime);
	rc = qc_dev_store(qc, m, data, len, o.gz);
out:
	g_option_context_free(ctx);
	store_msg_free(m);
	g_free(data);
	g_free(o.category);
	g_free(o.when);
	g_free(o.sender);
	g_free(o.subject);
	g_free(o.virus);
	g_free(o.banned);
	g_free(o.file);
	g_free(o.score);
	g_strfreev(o.rcpts);
	return rc;
}
