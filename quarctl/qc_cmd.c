/*
 * qc_cmd - quarctl's subcommands for scripts and cron
 *
 * qc_cmd_list()    rows matching a filter, one per line (TSV) or --json
 * qc_cmd_show()    one row with recipients and audit events; --headers adds
 *                  the header block, --raw prints the stored message only
 * qc_cmd_release() qc_release_one() per id
 * qc_cmd_purge()   qc_purge_one() per id (asks unless --yes)
 * qc_cmd_expire()  purge what is older than an age (default [quarctl]
 *                  expire_after), action "expire" in the audit trail
 * qc_cmd_stats()   counts and bytes per category and state
 * qc_purge_one()   remove the file, keep the verdict row, mark purged
 *
 * Text from messages is printed through log_printable() (no terminal
 * escapes, no tabs or newlines that would break a line-per-row listing);
 * JSON escapes every control character. Ids are checked with
 * mailid_valid() before anything else. Exit codes: see qc.h and --help.
 */
#include "qc.h"

#include "log.h"
#include "mailid.h"
#include "quar.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const qc_categories[] = {"virus",     "banned",    "spam",   "badh",  "archive",
                                            "unchecked", "oversized", "spammy", "clean", NULL};
static const char *const qc_states[] = {"quarantined", "released", "purged", "none", "any", NULL};

static bool qc_word_in(const char *w, const char *const *set)
{
	for (int i = 0; set[i]; i++)
		if (strcmp(w, set[i]) == 0)
			return true;
	return false;
}

static const GOptionEntry *qc_entry_of(const GOptionEntry *entries, const char *arg)
{
	for (const GOptionEntry *e = entries; e->long_name; e++)
		if (g_str_has_prefix(arg, "--") && strcmp(arg + 2, e->long_name) == 0)
			return e;
	return NULL;
}

/* A mail id may start with '-' ("-unJQHFwoGSB"): such an argument that is
 * not one of the command's options (nor an option's value) goes after a
 * "--", so that GOption takes it as an id, not as options. */
static void qc_ids_last(const GOptionEntry *entries, int *argc, char ***argv)
{
	GPtrArray *head = g_ptr_array_new(), *ids = g_ptr_array_new();
	char **v = *argv;
	bool value_next = false, rest = false;

	for (int i = 0; i < *argc; i++) {
		if (i > 0 && !value_next && !rest && strcmp(v[i], "--") == 0) {
			rest = true; /* the user's own "--": all that follows is positional */
			continue;
		}
		const GOptionEntry *e = qc_entry_of(entries, v[i]);
		bool id = rest || (i > 0 && !value_next && !e && v[i][0] == '-' && mailid_valid(v[i]));
		g_ptr_array_add(id ? ids : head, v[i]);
		value_next = e && e->arg != G_OPTION_ARG_NONE;
	}
	if (ids->len) {
		g_ptr_array_add(head, (char *)"--");
		for (guint i = 0; i < ids->len; i++)
			g_ptr_array_add(head, g_ptr_array_index(ids, i));
	}
	*argc = (int)head->len;
	g_ptr_array_add(head, NULL);
	/* the strings stay owned by main's argv; the array is kept (reachable)
	 * until the next command line is parsed */
	static char **kept;
	g_free(kept);
	kept = (char **)g_ptr_array_free(head, FALSE);
	*argv = kept;
	g_ptr_array_free(ids, TRUE);
}

/* GOption leaves the "--" that ends the options in argv: drop it. */
static void qc_drop_dashdash(int *argc, char **argv)
{
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			memmove(&argv[i], &argv[i + 1], sizeof(char *) * (size_t)(*argc - i));
			(*argc)--;
			return;
		}
	}
}

/* Parse options; on error print it and return false. */
bool qc_parse(GOptionEntry *entries, const char *params, int *argc, char ***argv)
{
	GOptionContext *ctx = g_option_context_new(params);
	GError *e = NULL;
	qc_ids_last(entries, argc, argv);
	g_option_context_add_main_entries(ctx, entries, NULL);
	bool ok = g_option_context_parse(ctx, argc, argv, &e);
	if (ok)
		qc_drop_dashdash(argc, *argv);
	if (!ok) {
		fprintf(stderr, "quarctl: %s\n", e->message);
		g_error_free(e);
	}
	g_option_context_free(ctx);
	return ok;
}

static void qc_print_field(const char *s, char sep)
{
	char *p = log_printable(s, 0);
	fputs(p, stdout);
	putchar(sep);
	g_free(p);
}

/* ---- list ---- */

struct qc_list {
	bool json, archive_only;
	int limit, n;
	GString *out;
};

static int qc_list_row(const struct store_msg *m, void *arg)
{
	struct qc_list *l = arg;
	char when[32];

	if (l->archive_only && !(m->quar_path && g_str_has_prefix(m->quar_path, "archive/")))
		return 0;
	if (l->json) {
		g_string_append(l->out, l->n ? ",\n" : "\n");
		qc_json_msg(l->out, m);
	} else {
		char *rc = qc_rcpt_list(m), *detail = qc_detail(m);
		qc_fmt_time(m->time, when, sizeof(when));
		printf("%s\t%s\t%s\t%s\t", m->mail_id, when, m->category, m->quar_state);
		qc_print_field(*m->sender ? m->sender : "<>", '\t');
		qc_print_field(rc, '\t');
		qc_print_field(detail, '\t');
		qc_print_field(m->subject, '\t');
		qc_print_field(m->host ? m->host : "", '\n');
		g_free(rc);
		g_free(detail);
	}
	l->n++;
	return l->limit > 0 && l->n >= l->limit;
}

/* Fill a filter from list options; false (message printed) on a bad value. */
static bool qc_list_filter(struct store_filter *f, const char *cat, const char *since, const char *until,
                           const char *state)
{
	if (cat && !qc_word_in(cat, qc_categories)) {
		fprintf(stderr, "quarctl: unknown category \"%s\"\n", cat);
		return false;
	}
	if (state && !qc_word_in(state, qc_states)) {
		fprintf(stderr, "quarctl: unknown state \"%s\"\n", state);
		return false;
	}
	f->category = cat && strcmp(cat, "archive") != 0 ? cat : NULL;
	f->quar_state = !state ? "quarantined" : strcmp(state, "any") == 0 ? NULL : state;
	if (since && (f->since = qc_parse_when(since)) < 0) {
		fprintf(stderr, "quarctl: bad --since \"%s\" (7d, 12h, 2026-11-01 ...)\n", since);
		return false;
	}
	if (until && (f->until = qc_parse_when(until)) < 0) {
		fprintf(stderr, "quarctl: bad --until \"%s\"\n", until);
		return false;
	}
	return true;
}

int qc_cmd_list(struct qc *qc, int argc, char **argv)
{
	char *cat = NULL, *since = NULL, *until = NULL, *state = NULL;
	struct store_filter f = {0};
	struct qc_list l = {0};
	GOptionEntry entries[] = {
	    {"category", 0, 0, G_OPTION_ARG_STRING, &cat, "virus|banned|spam|badh|archive", "CAT"},
	    {"since", 0, 0, G_OPTION_ARG_STRING, &since, "newer than an age (7d) or a UTC date", "WHEN"},
	    {"until", 0, 0, G_OPTION_ARG_STRING, &until, "older than an age or a UTC date", "WHEN"},
	    {"sender", 0, 0, G_OPTION_ARG_STRING, &f.sender, "envelope sender glob (* ?)", "PAT"},
	    {"rcpt", 0, 0, G_OPTION_ARG_STRING, &f.rcpt, "recipient glob", "PAT"},
	    {"subject", 0, 0, G_OPTION_ARG_STRING, &f.subject, "subject glob", "PAT"},
	    {"virus", 0, 0, G_OPTION_ARG_STRING, &f.virus, "virus name glob", "PAT"},
	    {"state", 0, 0, G_OPTION_ARG_STRING, &state, "quarantined (default)|released|purged|any",
	     "STATE"},
	    {"limit", 0, 0, G_OPTION_ARG_INT, &l.limit, "at most N rows", "N"},
	    {"json", 0, 0, G_OPTION_ARG_NONE, &l.json, "a JSON array", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	int rc = QC_EXIT_USAGE;

	if (!qc_parse(entries, "- list quarantined mail", &argc, &argv) || argc > 1)
		goto out;
	if (!qc_list_filter(&f, cat, since, until, state))
		goto out;
	l.archive_only = cat && strcmp(cat, "archive") == 0;
	/* the archive filter is on the path, so the limit is counted here */
	f.limit = l.archive_only ? 0 : l.limit;
	l.out = g_string_new("[");
	if (store_list(qc->st, &f, qc_list_row, &l) < 0) {
		fprintf(stderr, "quarctl: list: %s\n", store_error(qc->st));
		rc = QC_EXIT_STORE;
	} else {
		if (l.json)
			printf("%s%s]\n", l.out->str, l.n ? "\n" : "");
		rc = QC_EXIT_OK;
	}
	g_string_free(l.out, TRUE);
out:
	g_free(cat);
	g_free(since);
	g_free(until);
	g_free(state);
	g_free((char *)f.sender);
	g_free((char *)f.rcpt);
	g_free((char *)f.subject);
	g_free((char *)f.virus);
	return rc;
}

/* ---- show ---- */

void qc_say(enum qc_result r, char *msg)
{
	fprintf(r == QC_OK ? stdout : stderr, "%s%s\n", r == QC_OK ? "" : "quarctl: ", msg);
	g_free(msg);
}

int qc_exit_of(enum qc_result r)
{
	switch (r) {
	case QC_OK:
		return QC_EXIT_OK;
	case QC_NOTFOUND:
		return QC_EXIT_NOTFOUND;
	case QC_BADID:
		return QC_EXIT_BADID;
	case QC_STORE_ERROR:
		return QC_EXIT_STORE;
	default:
		return QC_EXIT_FAIL;
	}
}

static int qc_get_checked(struct qc *qc, const char *id, struct store_msg **m)
{
	char *msg = NULL;
	enum qc_result res = qc_lookup(qc, id, m, &msg);
	if (res != QC_OK) {
		fprintf(stderr, "quarctl: %s\n", msg);
		g_free(msg);
	}
	return qc_exit_of(res);
}

static void qc_show_line(const char *label, const char *value)
{
	printf("%-12s ", label);
	qc_print_field(value ? value : "", '\n');
}

static void qc_show_text(const struct store_msg *m)
{
	char when[32], *detail = qc_detail(m);
	qc_fmt_time(m->time, when, sizeof(when));
	qc_show_line("Mail-ID:", m->mail_id);
	qc_show_line("Time:", when);
	qc_show_line("Category:", m->category);
	qc_show_line("Detail:", detail);
	qc_show_line("State:", m->quar_state);
	qc_show_line("Sender:", *m->sender ? m->sender : "<>");
	qc_show_line("From:", m->from_hdr);
	qc_show_line("Subject:", m->subject);
	qc_show_line("Message-ID:", m->message_id);
	qc_show_line("Client:", m->client_addr);
	printf("%-12s %" G_GINT64_FORMAT "\n", "Size:", m->size);
	qc_show_line("Quarantine:", m->quar_path);
	qc_show_line("SHA-256:", m->quar_sha256);
	qc_show_line("Kept in:", m->quar_backend);
	qc_show_line("Host:", m->host);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct store_rcpt *r = &m->rcpt[i];
		char *line = g_strdup_printf("%s %s %s", r->addr, r->destiny, r->smtp_answer);
		qc_show_line("Recipient:", line);
		g_free(line);
		if (r->list_entry && *r->list_entry) {
			line = g_strdup_printf("%s: %s", r->addr, r->list_entry);
			qc_show_line("Listed:", line);
			g_free(line);
		}
		if (r->released_at) {
			qc_fmt_time(r->released_at, when, sizeof(when));
			line = g_strdup_printf("%s at %s: %s", r->addr, when, r->release_answer);
			qc_show_line("Released:", line);
			g_free(line);
		}
	}
	g_free(detail);
}

static int qc_show_message(struct qc *qc, const struct store_msg *m, bool raw)
{
	void *data = NULL;
	size_t len = 0;
	bool mismatch;
	char *err = NULL;

	if (qc_msg_load(qc, m, &data, &len, &mismatch, &err) < 0) {
		fprintf(stderr, "quarctl: %s: %s\n", m->mail_id, err);
		g_free(err);
		return QC_EXIT_FAIL;
	}
	if (mismatch)
		fprintf(stderr, "quarctl: %s: WARNING: SHA-256 mismatch, the file is not what was stored\n",
		        m->mail_id);
	if (raw) {
		fwrite(data, 1, len, stdout);
	} else {
		char *h = qc_msg_headers(data, len);
		printf("\n%s", h);
		g_free(h);
	}
	g_free(data);
	return mismatch ? QC_EXIT_FAIL : QC_EXIT_OK;
}

int qc_cmd_show(struct qc *qc, int argc, char **argv)
{
	gboolean headers = FALSE, raw = FALSE, json = FALSE;
	GOptionEntry entries[] = {
	    {"headers", 0, 0, G_OPTION_ARG_NONE, &headers, "also print the header block", NULL},
	    {"raw", 0, 0, G_OPTION_ARG_NONE, &raw, "print the stored message as it is", NULL},
	    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "the row as a JSON object", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	struct store_msg *m = NULL;

	if (!qc_parse(entries, "ID - show one message", &argc, &argv) || argc != 2 || (headers && raw))
		return QC_EXIT_USAGE;
	int rc = qc_get_checked(qc, argv[1], &m);
	if (rc != QC_EXIT_OK)
		return rc;
	if (json) {
		GString *out = g_string_new(NULL);
		qc_json_msg(out, m);
		printf("%s\n", out->str);
		g_string_free(out, TRUE);
	} else if (raw) {
		rc = qc_show_message(qc, m, true);
	} else {
		qc_show_text(m);
		if (headers)
			rc = qc_show_message(qc, m, false);
	}
	store_msg_free(m);
	return rc;
}

/* ---- release ---- */

int qc_cmd_release(struct qc *qc, int argc, char **argv)
{
	char **to = NULL;
	gboolean dry = FALSE, force = FALSE, notice = FALSE, learn = FALSE;
	GOptionEntry entries[] = {
	    {"to", 0, 0, G_OPTION_ARG_STRING_ARRAY, &to, "release to this address instead (repeatable)",
	     "ADDR"},
	    {"dry-run", 0, 0, G_OPTION_ARG_NONE, &dry, "check and say what would be sent", NULL},
	    {"force", 0, 0, G_OPTION_ARG_NONE, &force, "release again what was released", NULL},
	    {"notify", 0, 0, G_OPTION_ARG_NONE, &notice, "queue a release notice to each recipient", NULL},
	    {"learn", 0, 0, G_OPTION_ARG_NONE, &learn, "teach the spam engine the message as ham", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	int rc = QC_EXIT_OK;

	if (!qc_parse(entries, "ID... - reinject quarantined mail", &argc, &argv) || argc < 2) {
		g_strfreev(to);
		return QC_EXIT_USAGE;
	}
	struct qc_release_opts o = {(const char *const *)to, dry, force, notice};
	for (int i = 1; i < argc; i++) {
		char *msg = NULL;
		enum qc_result r = qc_release_one(qc, argv[i], &o, &msg);
		qc_say(r, msg);
		if (r == QC_OK && learn && !dry) {
			/* released already: a failed learning is said, never undoes it */
			msg = NULL;
			r = qc_learn(qc, argv[i], false, &msg);
			qc_say(r, msg);
		}
		if (r != QC_OK && rc == QC_EXIT_OK)
			rc = qc_exit_of(r);
	}
	g_strfreev(to);
	return rc;
}

/* ---- purge / expire ---- */

/* Deletes the quarantine copy of m, file or store blob: 0, or -1 with *err
 * and errno (ENOENT: it was gone already). */
static int qc_copy_remove(struct qc *qc, const struct store_msg *m, char **err)
{
	if (!m->quar_backend || strcmp(m->quar_backend, "database") != 0)
		return quar_remove(qc->quar_dir, m->quar_path, err);
	int rc = store_quar_blob_drop(qc->st, m->mail_id);
	if (rc == 0)
		return 0;
	*err = rc < 0 ? g_strdup(store_error(qc->st)) : g_strdup("no copy in the store");
	errno = rc < 0 ? EIO : ENOENT;
	return -1;
}

enum qc_result qc_purge_one(struct qc *qc, const char *mail_id, const char *action, char **msg)
{
	struct store_msg *m = NULL;
	char *err = NULL;
	const char *note = "";
	enum qc_result res;

	if ((res = qc_lookup(qc, mail_id, &m, msg)) != QC_OK)
		return res;
	res = QC_REFUSED;
	if (!m->quar_path || strcmp(m->quar_state, "purged") == 0 || strcmp(m->quar_state, "none") == 0) {
		*msg = g_strdup_printf("%s: %s, nothing to purge", mail_id,
		                       m->quar_path ? m->quar_state : "no file kept");
		goto out;
	}
	if (qc_copy_remove(qc, m, &err) < 0) {
		if (errno != ENOENT) {
			*msg = g_strdup_printf("%s: %s", mail_id, err);
			qc_event(qc, mail_id, action, m->quar_path, err);
			res = QC_FAILED;
			goto out;
		}
		note = " (the copy was already gone)";
	}
	if (qc_mark_state(qc, mail_id, "purged") < 0) {
		*msg = g_strdup_printf("%s: copy removed but state not stored: %s", mail_id,
		                       store_error(qc->st));
		qc_event(qc, mail_id, action, m->quar_path, "copy removed, state not stored");
		res = QC_FAILED;
		goto out;
	}
	char *result = g_strdup_printf("ok%s", note);
	qc_event(qc, mail_id, action, m->quar_path, result);
	g_free(result);
	*msg = g_strdup_printf("%s: purged%s", mail_id, note);
	res = QC_OK;
out:
	g_free(err);
	store_msg_free(m);
	return res;
}

static bool qc_confirm(const char *question)
{
	char line[16];
	if (!isatty(STDIN_FILENO))
		return false;
	fprintf(stderr, "%s [y/N] ", question);
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

static int qc_purge_ids(struct qc *qc, char **ids, int n, const char *action)
{
	int rc = QC_EXIT_OK;
	for (int i = 0; i < n; i++) {
		char *msg = NULL;
		enum qc_result r = qc_purge_one(qc, ids[i], action, &msg);
		qc_say(r, msg);
		if (r != QC_OK && rc == QC_EXIT_OK)
			rc = qc_exit_of(r);
	}
	return rc;
}

int qc_cmd_purge(struct qc *qc, int argc, char **argv)
{
	gboolean yes = FALSE;
	GOptionEntry entries[] = {
	    {"yes", 'y', 0, G_OPTION_ARG_NONE, &yes, "do not ask", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	if (!qc_parse(entries, "ID... - remove quarantined mail (the verdict row stays)", &argc, &argv) ||
	    argc < 2)
		return QC_EXIT_USAGE;
	if (!yes) {
		char *q = g_strdup_printf("Purge %d message(s)?", argc - 1);
		bool ok = qc_confirm(q);
		g_free(q);
		if (!ok) {
			fprintf(stderr, "quarctl: not confirmed (use --yes)\n");
			return QC_EXIT_USAGE;
		}
	}
	return qc_purge_ids(qc, argv + 1, argc - 1, "purge");
}

struct qc_collect {
	GPtrArray *ids;
	bool archive_only; /* archive copies are told by their path */
};

static int qc_collect_id(const struct store_msg *m, void *arg)
{
	struct qc_collect *c = arg;
	if (m->quar_path && (!c->archive_only || g_str_has_prefix(m->quar_path, "archive/")))
		g_ptr_array_add(c->ids, g_strdup(m->mail_id));
	return 0;
}

int qc_cmd_expire(struct qc *qc, int argc, char **argv)
{
	char *older = NULL, *cat = NULL;
	gboolean dry = FALSE;
	GOptionEntry entries[] = {
	    {"older-than", 0, 0, G_OPTION_ARG_STRING, &older, "age (default [quarctl] expire_after)", "AGE"},
	    {"category", 0, 0, G_OPTION_ARG_STRING, &cat, "only this category", "CAT"},
	    {"dry-run", 0, 0, G_OPTION_ARG_NONE, &dry, "list what would be purged", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
	int rc = QC_EXIT_USAGE;

	if (!qc_parse(entries, "- purge quarantined mail older than an age", &argc, &argv) || argc > 1)
		goto out;
	int64_t age = older ? qc_parse_age(older) : conf_int(qc->conf, "quarctl", "expire_after");
	if (age < 0 || (cat && !qc_word_in(cat, qc_categories))) {
		fprintf(stderr, "quarctl: bad --older-than or --category\n");
		goto out;
	}
	/* Collect first, then purge: no read statement is open while writing. */
	const char *states[] = {"quarantined", "released"};
	struct qc_collect c = {ids, cat && strcmp(cat, "archive") == 0};
	for (int i = 0; i < 2; i++) {
		struct store_filter f = {.category = c.archive_only ? NULL : cat,
		                         .until = (int64_t)time(NULL) - age,
		                         .quar_state = states[i]};
		if (store_list(qc->st, &f, qc_collect_id, &c) < 0) {
			fprintf(stderr, "quarctl: expire: %s\n", store_error(qc->st));
			rc = QC_EXIT_STORE;
			goto out;
		}
	}
	if (dry) {
		for (guint i = 0; i < ids->len; i++)
			printf("%s: would expire\n", (char *)g_ptr_array_index(ids, i));
		rc = QC_EXIT_OK;
	} else {
		rc = qc_purge_ids(qc, (char **)ids->pdata, (int)ids->len, "expire");
	}
	printf("%u message(s) %s\n", ids->len, dry ? "to expire" : "expired");
out:
	g_ptr_array_free(ids, TRUE);
	g_free(older);
	g_free(cat);
	return rc;
}

/* ---- stats ---- */

static int qc_stats_row(const struct store_quar_stat *q, void *arg)
{
	struct qc_stat r;
	g_strlcpy(r.category, q->category, sizeof(r.category));
	g_strlcpy(r.state, q->state, sizeof(r.state));
	r.count = q->count;
	r.bytes = q->bytes;
	g_array_append_val((GArray *)arg, r);
	return 0;
}

int qc_stats(struct qc *qc, GArray *rows)
{
	return store_quar_stats(qc->st, qc_stats_row, rows);
}

int qc_cmd_stats(struct qc *qc, int argc, char **argv)
{
	gboolean json = FALSE;
	GOptionEntry entries[] = {
	    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "a JSON array", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	if (!qc_parse(entries, "- counts per category and state", &argc, &argv) || argc > 1)
		return QC_EXIT_USAGE;
	GArray *rows = g_array_new(FALSE, FALSE, sizeof(struct qc_stat));
	if (qc_stats(qc, rows) < 0) {
		fprintf(stderr, "quarctl: stats: %s\n", store_error(qc->st));
		g_array_free(rows, TRUE);
		return QC_EXIT_STORE;
	}
	GString *out = g_string_new(json ? "[" : "");
	int64_t total = 0, bytes = 0;
	for (guint i = 0; i < rows->len; i++) {
		struct qc_stat *r = &g_array_index(rows, struct qc_stat, i);
		total += r->count;
		bytes += r->bytes;
		if (json)
			g_string_append_printf(
			    out,
			    "%s{\"category\":\"%s\",\"state\":\"%s\",\"count\":%" G_GINT64_FORMAT
			    ",\"bytes\":%" G_GINT64_FORMAT "}",
			    i ? "," : "", r->category, r->state, r->count, r->bytes);
		else
			g_string_append_printf(out, "%s\t%s\t%" G_GINT64_FORMAT "\t%" G_GINT64_FORMAT "\n",
			                       r->category, r->state, r->count, r->bytes);
	}
	if (json)
		g_string_append(out, "]");
	else
		g_string_append_printf(out, "total\tall\t%" G_GINT64_FORMAT "\t%" G_GINT64_FORMAT, total,
		                       bytes);
	printf("%s\n", out->str);
	g_string_free(out, TRUE);
	g_array_free(rows, TRUE);
	return QC_EXIT_OK;
}
