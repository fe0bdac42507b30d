/*
 * qc_ctx - quarctl's context: configuration, store, operator, small helpers
 *
 * qc_open()/qc_close()      load [scand]/[quarctl] keys and open the store
 *                           (qc_open: 0, or the exit code QC_EXIT_USAGE/STORE)
 * qc_parse_age/when()       ages and UTC dates from the command line (common/when.h)
 * qc_fmt_time()             UTC time for listings
 * qc_detail()/qc_rcpt_list() one-line summaries of a verdict row
 * qc_lookup()               the id check every command makes first, then store_get()
 * qc_mark_state()/qc_event()
 *                           the only writes quarctl makes: each one statement
 *                           in autocommit mode, so no write lock is held
 *                           across statements while scand is writing
 *
 * Failures: -1 with *err or store_error(); qc_event() warns on stderr.
 */
#include "qc.h"

#include "release.h"

#include "log.h"
#include "smtpc.h"
#include "mailid.h"
#include "when.h"

#include <pwd.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static char *qc_login_name(void)
{
	const char *l = getlogin();
	struct passwd *pw;

	if (l && *l)
		return g_strdup(l);
	pw = getpwuid(geteuid());
	if (pw && pw->pw_name)
		return g_strdup(pw->pw_name);
	return g_strdup_printf("uid%u", (unsigned)geteuid());
}

int qc_open(struct qc *qc, const char *conf_path, char **err)
{
	memset(qc, 0, sizeof(*qc));
	if (conf_path)
		qc->conf = conf_load(conf_path, err);
	else if (g_file_test(CONF_DEFAULT_PATH, G_FILE_TEST_EXISTS))
		qc->conf = conf_load(CONF_DEFAULT_PATH, err);
	else
		qc->conf = conf_defaults();
	if (!qc->conf)
		return QC_EXIT_USAGE;
	qc->db_path = conf_str(qc->conf, "scand", "database");
	qc->quar_dir = conf_str(qc->conf, "scand", "quarantine_dir");
	qc->forward = release_forward(qc->conf);
	qc->who = qc_login_name();
	if (store_open_conf(qc->conf, &qc->st, err) < 0) {
		qc_close(qc);
		return QC_EXIT_STORE;
	}
	return 0;
}

void qc_close(struct qc *qc)
{
	if (qc->smtp)
		smtpc_close(qc->smtp); /* QUIT after the last release */
	store_close(qc->st);
	conf_free(qc->conf);
	g_free(qc->who);
	memset(qc, 0, sizeof(*qc));
}

/* quarctl's names for common/when.c's parser; -1 for text it refuses */
int64_t qc_parse_age(const char *s)
{
	int64_t v;
	return when_parse_duration(s, &v) < 0 ? -1 : v;
}

int64_t qc_parse_when(const char *s)
{
	int64_t v;
	return when_parse(s, (int64_t)time(NULL), &v) < 0 || v < 0 ? -1 : v;
}

void qc_fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		g_strlcpy(buf, "?", len);
}

char *qc_detail(const struct store_msg *m)
{
	if (m->virus_names && *m->virus_names)
		return g_strdup(m->virus_names);
	if (m->banned_names && *m->banned_names)
		return g_strdup(m->banned_names);
	if (m->spam_checked)
		return g_strdup_printf("score %.1f", m->spam_score);
	if (m->unchecked_reason && *m->unchecked_reason)
		return g_strdup(m->unchecked_reason);
	return g_strdup("");
}

char *qc_rcpt_list(const struct store_msg *m)
{
	GString *s = g_string_new(NULL);
	for (size_t i = 0; i < m->nrcpt; i++)
		g_string_append_printf(s, "%s%s", i ? "," : "", m->rcpt[i].addr);
	return g_string_free(s, FALSE);
}

int qc_mark_state(struct qc *qc, const char *mail_id, const char *state)
{
	int r = store_set_quar_state(qc->st, mail_id, state);
	if (r < 0)
		msg_warn("store update: %s", store_error(qc->st));
	return r == 0 ? 0 : -1;
}

void qc_event(struct qc *qc, const char *mail_id, const char *action, const char *detail, const char *result)
{
	if (store_event(qc->st, mail_id, action, qc->who, detail, result) < 0)
		msg_warn("audit event for %s not written: %s", mail_id, store_error(qc->st));
}

enum qc_result qc_lookup(struct qc *qc, const char *mail_id, struct store_msg **m, char **msg)
{
	*m = NULL;
	if (!mailid_valid(mail_id)) {
		char *shown = log_printable(mail_id, 40);
		*msg = g_strdup_printf("%s: not a valid mail id, refused", shown);
		g_free(shown);
		return QC_BADID;
	}
	int g = store_get(qc->st, mail_id, m);
	if (g < 0) {
		*msg = g_strdup_printf("%s: %s", mail_id, store_error(qc->st));
		return QC_STORE_ERROR;
	}
	if (g > 0) {
		*msg = g_strdup_printf("%s: not in the store", mail_id);
		return QC_NOTFOUND;
	}
	return QC_OK;
}
