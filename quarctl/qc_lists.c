/*
 * qc_lists - allow and block lists, learning, and the TUI's allow/block
 *
 * qc_cmd_lists()   lists show [--for ADDR|DOMAIN] [--json]
 *                  lists add allow|block PATTERN [--for ADDR|DOMAIN]
 *                        [--note TEXT] [--expires 30d]
 *                  lists del ID...
 *                  lists import FILE / lists export (CSV on stdout)
 * qc_cmd_learn()   learn spam|ham ID...
 * qc_learn()       the one place quarctl teaches the spam engine
 * qc_list_sender() the TUI's a and b: an entry per recipient still held
 *
 * The CSV has the columns scope,kind,pattern,note,expires (RFC 4180
 * quoting; expires empty for never, else "YYYY-MM-DD HH:MM:SS" UTC, an
 * age such as 30d from now on import). An import is checked whole, then
 * stored in one transaction (store_list_import()): a bad row is reported
 * as FILE:LINE and nothing changes. Every change is an audit event (lists-add, lists-del,
 * lists-import; learn-spam, learn-ham), who = the operator.
 *
 * Exit codes (qc.h): 0 done; 1 an action failed (a learning, the store);
 * 2 usage, a bad pattern or scope; 3 a mail id or list id not found.
 */
#include "qc.h"

#include "log.h"
#include "mailid.h"
#include "release.h"
#include "spamc.h"
#include "when.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char qc_lists_usage[] =
    "usage: quarctl lists show [--for ADDR|DOMAIN] [--json]\n"
    "       quarctl lists add allow|block PATTERN [--for ADDR|DOMAIN] [--note TEXT] [--expires 30d]\n"
    "       quarctl lists del ID...\n"
    "       quarctl lists import FILE\n"
    "       quarctl lists export\n"
    "PATTERN: user@example.net, *@example.net, *@.example.net (subdomains) or a glob.\n"
    "--for: global (the default), a domain, .domain (its subdomains) or a recipient address.\n"
    "CSV columns: scope,kind,pattern,note,expires\n";

#define QC_CSV_HEADER "scope,kind,pattern,note,expires"

/* ---- show ---- */

struct qc_show {
	bool json;
	GString *out;
	int n;
};

static int qc_lists_show_row(const struct list_entry *e, void *arg)
{
	struct qc_show *s = arg;
	if (s->json) {
		if (s->n++)
			g_string_append_c(s->out, ',');
		qc_json_list_entry(s->out, e);
		return 0;
	}
	char exp[32] = "never", made[32];
	if (e->expires)
		qc_fmt_time(e->expires, exp, sizeof(exp));
	qc_fmt_time(e->created_at, made, sizeof(made));
	char *note = log_printable(e->note, 200), *who = log_printable(e->created_by, 64);
	printf("%lld\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", (long long)e->id, e->scope, list_kind_name(e->kind),
	       e->pattern, exp, who, made, note,
	       e->expires && e->expires <= (int64_t)time(NULL) ? " (expired)" : "");
	g_free(note);
	g_free(who);
	return 0;
}

/* A --for value: its normalized scope, or NULL after saying why. */
static char *qc_lists_scope(const char *s)
{
	char *err = NULL, *n = list_scope_norm(s ? s : "global", &err);
	if (!n) {
		fprintf(stderr, "quarctl: %s\n", err);
		g_free(err);
	}
	return n;
}

static int qc_lists_show(struct qc *qc, int argc, char **argv)
{
	char *scope_arg = NULL;
	gboolean json = FALSE;
	GOptionEntry entries[] = {
	    {"for", 0, 0, G_OPTION_ARG_STRING, &scope_arg, "only the entries of this scope", "ADDR|DOMAIN"},
	    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "a JSON array", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	if (!qc_parse(entries, "- the allow and block entries", &argc, &argv) || argc != 1) {
		g_free(scope_arg);
		return QC_EXIT_USAGE;
	}
	char *scope = scope_arg ? qc_lists_scope(scope_arg) : NULL;
	bool refused = scope_arg && !scope;
	g_free(scope_arg);
	if (refused)
		return QC_EXIT_USAGE;
	struct qc_show s = {.json = json, .out = g_string_new("[")};
	int n = store_list_query(qc->st, scope, 0, qc_lists_show_row, &s);
	g_free(scope);
	if (n < 0) {
		fprintf(stderr, "quarctl: lists: %s\n", store_error(qc->st));
		g_string_free(s.out, TRUE);
		return QC_EXIT_STORE;
	}
	if (json)
		printf("%s]\n", s.out->str);
	g_string_free(s.out, TRUE);
	return QC_EXIT_OK;
}

/* ---- add, del ---- */

/* "30d" from now, or a UTC date: 0 and *out, or -1. Empty: never. */
static int qc_lists_expiry(const char *s, int64_t *out)
{
	int64_t now = (int64_t)time(NULL), d;
	if (!s || !*s) {
		*out = 0;
		return 0;
	}
	if (when_parse_duration(s, &d) == 0) {
		*out = now + d;
		return 0;
	}
	return when_parse(s, now, out);
}

/* store_list_add() with the audit event: a qc exit code, the entry said
 * on stdout, or the failure on stderr. */
static int qc_lists_put(struct qc *qc, struct list_entry *e)
{
	char *err = NULL;
	int64_t id = 0;
	e->created_by = qc->who;
	int rc = store_list_add(qc->st, e, &id, &err);
	if (rc < 0) {
		fprintf(stderr, "quarctl: %s\n", err);
		g_free(err);
		return rc == -2 ? QC_EXIT_USAGE : QC_EXIT_FAIL;
	}
	struct list_entry stored = *e;
	stored.id = id;
	stored.scope = list_scope_norm(e->scope, &err); /* valid: it was stored */
	stored.pattern = list_pattern_norm(e->pattern, &err);
	char *what = list_entry_describe(&stored);
	qc_event(qc, "", "lists-add", what, "ok");
	printf("%s\n", what);
	g_free(what);
	g_free(stored.scope);
	g_free(stored.pattern);
	return QC_EXIT_OK;
}

static int qc_lists_add(struct qc *qc, int argc, char **argv)
{
	char *scope = NULL, *note = NULL, *expires = NULL;
	GOptionEntry entries[] = {
	    {"for", 0, 0, G_OPTION_ARG_STRING, &scope, "scope (default global)", "ADDR|DOMAIN"},
	    {"note", 0, 0, G_OPTION_ARG_STRING, &note, "why", "TEXT"},
	    {"expires", 0, 0, G_OPTION_ARG_STRING, &expires, "an age from now (30d) or a UTC date", "WHEN"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	int rc = QC_EXIT_USAGE;
	struct list_entry e = {0};
	if (!qc_parse(entries, "allow|block PATTERN - add an entry", &argc, &argv) || argc != 3)
		goto out;
	if (list_kind_parse(argv[1], &e.kind) < 0) {
		fprintf(stderr, "quarctl: \"%s\": expected allow or block\n", argv[1]);
		goto out;
	}
	if (qc_lists_expiry(expires, &e.expires) < 0) {
		fprintf(stderr, "quarctl: --expires %s: expected an age (30d) or a UTC date\n", expires);
		goto out;
	}
	e.scope = scope ? scope : "global";
	e.pattern = argv[2];
	e.note = note ? note : "";
	rc = qc_lists_put(qc, &e);
out:
	g_free(scope);
	g_free(note);
	g_free(expires);
	return rc;
}

static int qc_lists_describe_row(const struct list_entry *e, void *arg)
{
	*(char **)arg = list_entry_describe(e);
	return 1;
}

static int qc_lists_del(struct qc *qc, int argc, char **argv)
{
	GOptionEntry none[] = {{NULL, 0, 0, 0, NULL, NULL, NULL}};
	if (!qc_parse(none, "ID... - delete entries", &argc, &argv) || argc < 2)
		return QC_EXIT_USAGE;
	for (int i = 1; i < argc; i++) { /* every id checked before the first change */
		int64_t id = 0;
		if (!g_ascii_string_to_signed(argv[i], 10, 1, INT64_MAX, &id, NULL)) {
			fprintf(stderr, "quarctl: \"%s\" is not a list entry id\n", argv[i]);
			return QC_EXIT_USAGE;
		}
	}
	int rc = QC_EXIT_OK;
	for (int i = 1; i < argc; i++) {
		int64_t id = g_ascii_strtoll(argv[i], NULL, 10);
		char *what = NULL;
		int r = store_list_query(qc->st, NULL, id, qc_lists_describe_row, &what);
		if (r > 0)
			r = store_list_del(qc->st, id);
		else if (r == 0)
			r = 1;
		if (r == 0) {
			qc_event(qc, "", "lists-del", what, "ok");
			printf("deleted %s\n", what);
		} else if (r == 1) {
			fprintf(stderr, "quarctl: list entry %s not found\n", argv[i]);
			rc = rc == QC_EXIT_OK ? QC_EXIT_NOTFOUND : rc;
		} else {
			fprintf(stderr, "quarctl: deleting list entry %s: %s\n", argv[i],
			        store_error(qc->st));
			rc = QC_EXIT_FAIL;
		}
		g_free(what);
	}
	return rc;
}

/* ---- import, export (CSV) ---- */

/* One CSV field, quoted when it must be (RFC 4180). */
static void qc_csv_field(GString *out, const char *v, bool last)
{
	if (strpbrk(v, ",\"\r\n") || (*v && (v[0] == ' ' || v[strlen(v) - 1] == ' '))) {
		g_string_append_c(out, '"');
		for (const char *p = v; *p; p++) {
			if (*p == '"')
				g_string_append_c(out, '"');
			g_string_append_c(out, *p);
		}
		g_string_append_c(out, '"');
	} else {
		g_string_append(out, v);
	}
	g_string_append(out, last ? "\r\n" : ",");
}

static int qc_lists_export_row(const struct list_entry *e, void *arg)
{
	char exp[32] = "";
	if (e->expires)
		qc_fmt_time(e->expires, exp, sizeof(exp));
	const char *v[] = {e->scope, list_kind_name(e->kind), e->pattern, e->note, exp};
	for (size_t i = 0; i < G_N_ELEMENTS(v); i++)
		qc_csv_field(arg, v[i], i + 1 == G_N_ELEMENTS(v));
	return 0;
}

static int qc_lists_export(struct qc *qc, int argc, char **argv)
{
	GOptionEntry none[] = {{NULL, 0, 0, 0, NULL, NULL, NULL}};
	if (!qc_parse(none, "- every entry as CSV on stdout", &argc, &argv) || argc != 1)
		return QC_EXIT_USAGE;
	GString *out = g_string_new(QC_CSV_HEADER "\r\n");
	int rc = store_list_query(qc->st, NULL, 0, qc_lists_export_row, out) < 0 ? QC_EXIT_STORE : QC_EXIT_OK;
	if (rc == QC_EXIT_OK)
		fwrite(out->str, 1, out->len, stdout);
	else
		fprintf(stderr, "quarctl: lists: %s\n", store_error(qc->st));
	g_string_free(out, TRUE);
	return rc;
}

/* The records of a CSV text (RFC 4180: quoted fields may hold commas,
 * quotes doubled and line ends), each a NULL-terminated vector; *lines[k]
 * is the line where record k starts. -1 with *err for an unclosed quote
 * or text after a closing quote. */
static int qc_csv_parse(const char *t, GPtrArray *rows, GArray *lines, char **err)
{
	int line = 1;
	const char *p = t;
	while (*p) {
		GPtrArray *rec = g_ptr_array_new();
		int start = line;
		for (;;) {
			GString *f = g_string_new(NULL);
			if (*p == '"') {
				for (p++;; p++) {
					if (!*p) {
						*err = g_strdup_printf("line %d: unclosed quote", start);
						g_string_free(f, TRUE);
						g_ptr_array_add(rec, NULL);
						g_strfreev((char **)g_ptr_array_free(rec, FALSE));
						return -1;
					}
					if (*p == '"' && p[1] != '"')
						break;
					if (*p == '"')
						p++;
					line += *p == '\n';
					g_string_append_c(f, *p);
				}
				p++;
				if (*p && !strchr(",\r\n", *p)) {
					*err = g_strdup_printf("line %d: text after a closing quote", line);
					g_string_free(f, TRUE);
					g_ptr_array_add(rec, NULL);
					g_strfreev((char **)g_ptr_array_free(rec, FALSE));
					return -1;
				}
			} else {
				size_t n = strcspn(p, ",\r\n");
				g_string_append_len(f, p, (gssize)n);
				p += n;
			}
			g_ptr_array_add(rec, g_string_free(f, FALSE));
			if (*p != ',')
				break;
			p++;
		}
		if (*p == '\r')
			p++;
		if (*p == '\n') {
			p++;
			line++;
		}
		g_ptr_array_add(rec, NULL);
		char **v = (char **)g_ptr_array_free(rec, FALSE);
		if (g_strv_length(v) == 1 && !*v[0]) { /* a blank line */
			g_strfreev(v);
			continue;
		}
		g_ptr_array_add(rows, v);
		g_array_append_val(lines, start);
	}
	return 0;
}

/* A CSV record as an entry (strings borrowed from v): 0, or -1 with *err. */
static int qc_lists_csv_entry(char **v, struct list_entry *e, char **err)
{
	char *tmp = NULL;
	if (g_strv_length(v) != 5) {
		*err = g_strdup_printf("expected 5 columns (" QC_CSV_HEADER "), found %u", g_strv_length(v));
		return -1;
	}
	*e = (struct list_entry){.scope = v[0], .pattern = v[2], .note = v[3]};
	if (list_kind_parse(v[1], &e->kind) < 0) {
		*err = g_strdup_printf("kind \"%s\": expected allow or block", v[1]);
		return -1;
	}
	if (qc_lists_expiry(v[4], &e->expires) < 0) {
		*err = g_strdup_printf("expires \"%s\": expected empty, an age (30d) or a UTC date", v[4]);
		return -1;
	}
	if (!(tmp = list_scope_norm(v[0], err)))
		return -1;
	g_free(tmp);
	if (!(tmp = list_pattern_norm(v[2], err)))
		return -1;
	g_free(tmp);
	return 0;
}

static int qc_lists_import(struct qc *qc, int argc, char **argv)
{
	GOptionEntry none[] = {{NULL, 0, 0, 0, NULL, NULL, NULL}};
	if (!qc_parse(none, "FILE - add (or replace) the entries of a CSV file", &argc, &argv) || argc != 2)
		return QC_EXIT_USAGE;
	char *text = NULL, *err = NULL;
	GError *ge = NULL;
	if (!g_file_get_contents(argv[1], &text, NULL, &ge)) {
		fprintf(stderr, "quarctl: %s\n", ge->message);
		g_error_free(ge);
		return QC_EXIT_FAIL;
	}
	GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	GArray *lines = g_array_new(FALSE, FALSE, sizeof(int));
	GArray *entries = g_array_new(FALSE, TRUE, sizeof(struct list_entry));
	int rc = QC_EXIT_OK;
	if (qc_csv_parse(text, rows, lines, &err) < 0) {
		fprintf(stderr, "quarctl: %s: %s\n", argv[1], err);
		rc = QC_EXIT_USAGE;
	}
	for (guint i = 0; rc == QC_EXIT_OK && i < rows->len; i++) {
		char **v = g_ptr_array_index(rows, i);
		char *joined = g_strjoinv(",", v);
		bool header = i == 0 && !strcmp(joined, QC_CSV_HEADER);
		g_free(joined);
		struct list_entry e;
		if (header)
			continue;
		if (qc_lists_csv_entry(v, &e, &err) < 0) {
			fprintf(stderr, "quarctl: %s:%d: %s\n", argv[1], g_array_index(lines, int, i), err);
			rc = QC_EXIT_USAGE;
			break;
		}
		g_array_append_val(entries, e);
	}
	size_t bad = 0;
	for (guint i = 0; i < entries->len; i++)
		g_array_index(entries, struct list_entry, i).created_by = qc->who;
	/* one transaction: all the entries or none */
	if (rc == QC_EXIT_OK && store_list_import(qc->st, (struct list_entry *)(void *)entries->data,
	                                          entries->len, &bad, &err) < 0) {
		fprintf(stderr, "quarctl: %s: %s\n", argv[1], err);
		qc_event(qc, "", "lists-import", argv[1], err);
		rc = QC_EXIT_FAIL;
	}
	if (rc == QC_EXIT_OK) {
		char *what = g_strdup_printf("%s: %u entries", argv[1], entries->len);
		qc_event(qc, "", "lists-import", what, "ok");
		printf("imported %u entries\n", entries->len);
		g_free(what);
	}
	g_array_free(entries, TRUE);
	g_array_free(lines, TRUE);
	g_ptr_array_free(rows, TRUE);
	g_free(text);
	g_free(err);
	return rc;
}

int qc_cmd_lists(struct qc *qc, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct qc *qc, int argc, char **argv);
	} subs[] = {{"show", qc_lists_show},
	            {"add", qc_lists_add},
	            {"del", qc_lists_del},
	            {"import", qc_lists_import},
	            {"export", qc_lists_export}};
	for (size_t i = 0; argc >= 2 && i < G_N_ELEMENTS(subs); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(qc, argc - 1, argv + 1);
	fputs(qc_lists_usage, stderr);
	return QC_EXIT_USAGE;
}

/* ---- learning ---- */

enum qc_result qc_learn(struct qc *qc, const char *mail_id, bool spam, char **msg)
{
	struct store_msg *m = NULL;
	enum qc_result res = qc_lookup(qc, mail_id, &m, msg);
	if (res != QC_OK)
		return res;
	const char *action = spam ? "learn-spam" : "learn-ham", *as = spam ? "spam" : "ham";
	void *data = NULL;
	size_t len = 0;
	bool mismatch = false;
	char *err = NULL;
	if (!m->quar_path || !strcmp(m->quar_state, "purged") || !strcmp(m->quar_state, "none")) {
		err = g_strdup_printf("no copy kept (%s), nothing to learn from",
		                      m->quar_path ? m->quar_state : "not quarantined nor archived");
	} else if (qc_msg_load(qc, m, &data, &len, &mismatch, &err) == 0 && mismatch) {
		err = g_strdup("SHA-256 mismatch: the file is not what was stored, not learned");
	} else if (!err) {
		/* the one call to the spam engine's learning: spamd TELL today */
		struct spamc *c = spamc_new(conf_str(qc->conf, "spam", "spamd"),
		                            conf_int(qc->conf, "spam", "timeout") * 1000, &err);
		if (c && spam_learn(c, spam ? SPAM_CLASS_SPAM : SPAM_CLASS_HAM, data, len, &err) == 0)
			*msg = g_strdup_printf("%s: learned as %s", mail_id, as);
		spamc_free(c);
	}
	if (err) {
		char *shown = log_printable(err, 300);
		*msg = g_strdup_printf("%s: learning as %s failed: %s", mail_id, as, shown);
		qc_event(qc, mail_id, action, conf_str(qc->conf, "spam", "spamd"), shown);
		g_free(shown);
		res = QC_FAILED;
	} else {
		qc_event(qc, mail_id, action, conf_str(qc->conf, "spam", "spamd"), "ok");
	}
	g_free(err);
	g_free(data);
	store_msg_free(m);
	return res;
}

int qc_cmd_learn(struct qc *qc, int argc, char **argv)
{
	GOptionEntry none[] = {{NULL, 0, 0, 0, NULL, NULL, NULL}};
	if (!qc_parse(none, "spam|ham ID... - teach the spam engine kept messages", &argc, &argv) ||
	    argc < 3 || (strcmp(argv[1], "spam") != 0 && strcmp(argv[1], "ham") != 0)) {
		fputs("usage: quarctl learn spam|ham ID...\n", stderr);
		return QC_EXIT_USAGE;
	}
	bool spam = !strcmp(argv[1], "spam");
	int rc = QC_EXIT_OK;
	for (int i = 2; i < argc; i++) {
		char *msg = NULL;
		enum qc_result r = qc_learn(qc, argv[i], spam, &msg);
		qc_say(r, msg);
		if (rc == QC_EXIT_OK)
			rc = qc_exit_of(r);
	}
	return rc;
}

/* ---- the TUI's allow and block ---- */

char *qc_held_rcpts(struct qc *qc, const char *mail_id, char **sender, char **msg)
{
	struct store_msg *m = NULL;
	if (qc_lookup(qc, mail_id, &m, msg) != QC_OK)
		return NULL;
	GPtrArray *held = release_targets(m, false);
	g_ptr_array_add(held, NULL);
	char *r = g_strjoinv(", ", (char **)held->pdata);
	if (sender)
		*sender = g_strdup(m->sender);
	g_ptr_array_free(held, TRUE);
	store_msg_free(m);
	return r;
}

enum qc_result qc_list_sender(struct qc *qc, const char *mail_id, enum list_kind k, char **msg)
{
	struct store_msg *m = NULL;
	enum qc_result res = qc_lookup(qc, mail_id, &m, msg);
	if (res != QC_OK)
		return res;
	GPtrArray *held = release_targets(m, false);
	GString *done = g_string_new(NULL);
	char *err = NULL;
	res = QC_OK;
	if (!*m->sender) {
		err = g_strdup("the null sender <> cannot be listed");
	} else if (!held->len) {
		err = g_strdup("no recipient is still held");
	}
	for (guint i = 0; !err && i < held->len; i++) {
		struct list_entry e = {.scope = g_ptr_array_index(held, i),
		                       .kind = k,
		                       .pattern = m->sender,
		                       .created_by = qc->who};
		char *note = g_strdup_printf("from quarantined mail %s", mail_id);
		int64_t id = 0;
		e.note = note;
		if (store_list_add(qc->st, &e, &id, &err) == 0) {
			e.id = id;
			char *what = list_entry_describe(&e);
			qc_event(qc, mail_id, "lists-add", what, "ok");
			g_string_append_printf(done, "%s#%lld", done->len ? ", " : "", (long long)id);
			g_free(what);
		}
		g_free(note);
	}
	if (err) {
		char *shown = log_printable(err, 300);
		*msg = g_strdup_printf("%s: %s failed: %s", mail_id, list_kind_name(k), shown);
		g_free(shown);
		res = QC_FAILED;
	} else {
		char *s = log_printable(m->sender, 200);
		*msg = g_strdup_printf("%s: %s %s for %u recipient(s) (%s)", mail_id,
		                       k == LIST_ALLOW ? "allowed" : "blocked", s, held->len, done->str);
		g_free(s);
	}
	g_free(err);
	g_string_free(done, TRUE);
	g_ptr_array_free(held, TRUE);
	store_msg_free(m);
	return res;
}
