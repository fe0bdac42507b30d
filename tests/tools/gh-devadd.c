/*
 * gh-devadd - add a quarantined message to a store, the way scand does (tests only)
 *
 * gh-devadd -c CONF --file MSG --category virus|banned|spam|badh|archive
 *           [--rcpt ADDR[:destiny]]... [--sender ADDR] [--time WHEN]
 *           [--subject S] [--virus V] [--banned B] [--score X] [--gz]
 *
 * Writes MSG into [scand] quarantine_dir with quar_write() and its verdict
 * row into [scand] database with store_put(), exactly the two calls scand
 * makes (From, Subject and Message-ID read with mailhdr_get(), as scand does), and prints the new mail id. The quarctl tests build their stores
 * with it (tests/e2e/qctest.py); it was quarctl's hidden dev-add command
 * and is not part of any installed program. Built into
 * $(BUILD)/tests/tools/ (not named test_*: tests/run does not run it).
 *
 * Failures: a message on stderr and exit 1 (2 for usage, 5 for the store,
 * as quarctl).
 */
#include <glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "mailhdr.h"
#include "mailid.h"
#include "quar.h"
#include "store.h"
#include "when.h"

struct devadd_opts {
	char *conf, *category, *when, *sender, *subject, *virus, *banned, *file, *score;
	char **rcpts;
	gboolean gz;
	int64_t time;
};

/* The header fields scand stores, read the way it reads them (pipeline.c). */
static char *devadd_header(const char *data, size_t len, const char *name)
{
	char *v = mailhdr_get((const unsigned char *)data, len, name, 250);
	return v ? v : g_strdup("");
}

static void devadd_fill(struct store_msg *m, const struct devadd_opts *o, const char *data, size_t len)
{
	bool archive = strcmp(o->category, "archive") == 0;
	mailid_new(m->mail_id);
	m->time = o->time;
	m->client_addr = g_strdup("192.0.2.1");
	m->sender = g_strdup(o->sender ? o->sender : "");
	m->from_hdr = devadd_header(data, len, "From");
	m->subject = o->subject ? g_strdup(o->subject) : devadd_header(data, len, "Subject");
	m->message_id = devadd_header(data, len, "Message-ID");
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

static int devadd_store(const struct conf *c, struct store_msg *m, const char *data, size_t len, bool gz)
{
	char *err = NULL, sha[65];
	struct store *st = NULL;
	const char *quar_dir = conf_str(c, "scand", "quarantine_dir");

	m->quar_path = quar_relpath(strcmp(m->category, "clean") == 0 ? "archive" : m->category,
	                            (time_t)m->time, m->mail_id, gz);
	if (!m->quar_path) {
		fprintf(stderr, "gh-devadd: category %s has no quarantine\n", m->category);
		return 2;
	}
	m->size = (int64_t)len;
	if (quar_write(quar_dir, m->quar_path, data, len, gz, &m->quar_size, sha, &err) < 0) {
		fprintf(stderr, "gh-devadd: %s\n", err);
		g_free(err);
		return 1;
	}
	m->quar_sha256 = g_strdup(sha);
	if (store_open_conf(c, &st, &err) < 0) { /* as scand: the row names this host */
		fprintf(stderr, "gh-devadd: %s\n", err);
		g_free(err);
		return 5;
	}
	int rc = 0;
	if (store_put(st, m, NULL, 0) < 0) {
		fprintf(stderr, "gh-devadd: %s\n", store_error(st));
		rc = 5;
	} else {
		printf("%s\n", m->mail_id);
	}
	store_close(st);
	return rc;
}

int main(int argc, char **argv)
{
	struct devadd_opts o = {0};
	GOptionEntry entries[] = {
	    {"conf", 'c', 0, G_OPTION_ARG_FILENAME, &o.conf, "the configuration", "FILE"},
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
	struct conf *c = NULL;
	char *data = NULL, *err = NULL;
	gsize len = 0;
	int rc = 2;

	setlocale(LC_ALL, ""); /* GOption converts string arguments from the locale's charset */
	g_option_context_add_main_entries(ctx, entries, NULL);
	o.time = (int64_t)time(NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, NULL) || argc > 1 || !o.conf || !o.category ||
	    !o.file || (o.when && when_parse(o.when, o.time, &o.time) < 0)) {
		fprintf(stderr, "gh-devadd: -c CONF, --category and --file needed (--time: a date or an age)\n");
		goto out;
	}
	if (!(c = conf_load(o.conf, &err))) {
		fprintf(stderr, "gh-devadd: %s\n", err);
		g_free(err);
		goto out;
	}
	if (!g_file_get_contents(o.file, &data, &len, NULL)) {
		fprintf(stderr, "gh-devadd: cannot read %s\n", o.file);
		rc = 1;
		goto out;
	}
	devadd_fill(m, &o, data, len);
	rc = devadd_store(c, m, data, len, o.gz);
out:
	g_option_context_free(ctx);
	store_msg_free(m);
	conf_free(c);
	g_free(data);
	g_free(o.conf);
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
