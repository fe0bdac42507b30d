/*
 * qc_release - put a quarantined message back on its way
 *
 * qc_release_targets() the recipients a release goes to by default: those
 *                      whose destiny was not pass (nor tempfail: answered
 *                      4xx, the client retried them) and who have not had it
 * qc_release_one()     refuse a bad id before any lookup; refuse a message
 *                      that is purged, not kept, a deferred (or still
 *                      open) attempt, or (without force) released to every
 *                      target; read the file and check its SHA-256
 *                      against the store (a mismatch is refused and said);
 *                      prepend "X-Quarantine-Released: <date> by <user>";
 *                      reinject with libesmtp to the release forward with
 *                      the original envelope sender; an address with a
 *                      control character, space or angle bracket is refused
 *
 * A recipient is marked released only when the downstream accepted both it
 * and the message data (2xx); the downstream's answer is stored with it. A
 * 4xx/5xx or a connection failure is reported with the server's words and
 * nothing is marked. Every attempt (but a dry run) writes an events row.
 * The release state is per recipient: the message becomes "released" once
 * no default target is left, so a release that reached only some
 * recipients is finished by the next `release ID` (no --force), which
 * goes to the others only.
 */
#include "qc.h"

#include "esmtpsrc.h"
#include "log.h"
#include "mailid.h"
#include "notify/notify.h"

#include <stddef.h> /* libesmtp.h needs size_t */

#include <libesmtp.h>
#include <string.h>
#include <time.h>

GPtrArray *qc_release_targets(const struct store_msg *m, bool force)
{
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct store_rcpt *r = &m->rcpt[i];
		if (strcmp(r->destiny, "pass") == 0)
			continue; /* it got the message already */
		if (strcmp(r->destiny, "tempfail") == 0)
			continue; /* answered 4xx: it came back as a new attempt */
		if (r->released_at && !force)
			continue;
		g_ptr_array_add(a, g_strdup(r->addr));
	}
	return a;
}

/* The message as sent: release header first, then the original with every
 * line ending made CRLF (libesmtp needs CRLF to find the header block). */
static GString *qc_release_build(const char *who, const char *data, size_t len)
{
	GString *out = g_string_sized_new(len + len / 40 + 128);
	GDateTime *now = g_date_time_new_now_local();
	char *date = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");
	char *safe_who = log_printable(who, 64); /* no CR/LF into the header */

	g_string_append_printf(out, "X-Quarantine-Released: %s by %s\r\n", date, safe_who);
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			g_string_append_c(out, '\r');
		g_string_append_c(out, data[i]);
	}
	if (out->len < 2 || out->str[out->len - 1] != '\n')
		g_string_append(out, "\r\n");
	g_free(safe_who);
	g_free(date);
	g_date_time_unref(now);
	return out;
}

static char *qc_status_text(const smtp_status_t *s)
{
	char *t = s && s->enh_class ? g_strdup_printf("%d %d.%d.%d %s", s->code, s->enh_class, s->enh_subject,
	                                              s->enh_detail, s->text ? s->text : "")
	                            : g_strdup_printf("%d %s", s ? s->code : 0, s && s->text ? s->text : "");
	g_strchomp(t);
	char *p = log_printable(t, 400);
	g_free(t);
	return p;
}

struct qc_send {
	smtp_session_t session;
	smtp_message_t message;
	GPtrArray *rcpts; /* smtp_recipient_t, parallel to the addresses */
};

static char *qc_smtp_error(struct qc *qc, const char *what)
{
	char buf[256];
	smtp_strerror(smtp_errno(), buf, sizeof(buf));
	return g_strdup_printf("%s %s: %s", what, qc->forward, buf);
}

static bool qc_status_failed(const smtp_status_t *st)
{
	return st && st->code >= 300;
}

/* The data was not accepted: the server's words for the step that failed
 * (MAIL, the first refused RCPT, DATA), or why there were none.
 * Known limit: when the server offers CHUNKING, libesmtp sends BDAT and
 * reports the last reply, so a refused first BDAT (450) shows as the
 * server's following "551 Discarded ... after earlier error". Either way
 * nothing is marked. */
static char *qc_send_failure(struct qc *qc, struct qc_send *s)
{
	const smtp_status_t *st = smtp_reverse_path_status(s->message);
	for (guint i = 0; !qc_status_failed(st) && i < s->rcpts->len; i++)
		st = smtp_recipient_status(g_ptr_array_index(s->rcpts, i));
	if (!qc_status_failed(st))
		st = smtp_message_transfer_status(s->message);
	if (!qc_status_failed(st))
		return qc_smtp_error(qc, "no answer from");
	return qc_status_text(st);
}

/* Returns 0 when the server accepted the data; *answer is the server's
 * words (data answer, or the first failing step). */
static int qc_send(struct qc *qc, const struct store_msg *m, GPtrArray *addrs, const GString *body,
                   GPtrArray *accepted, char **answer)
{
	struct esmtpsrc src = {body->str, body->len, false};
	struct qc_send s = {smtp_create_session(), NULL, g_ptr_array_new()};
	int rc = -1;

	s.message = smtp_add_message(s.session);
	smtp_set_server(s.session, qc->forward);
	/* [scand] forward_timeout per protocol step (milliseconds for libesmtp);
	 * the override lets it be shorter than RFC 2821's minimums. */
	long ms_to = (long)conf_int(qc->conf, "scand", "forward_timeout") * 1000;
	for (int w = Timeout_GREETING; w <= Timeout_DATA2; w++)
		smtp_set_timeout(s.session, w | Timeout_OVERRIDE_RFC2822_MINIMUM, ms_to);
	smtp_set_reverse_path(s.message, m->sender ? m->sender : "");
	/* No header options: libesmtp passes the message's own Date and
	 * Message-Id through (any spelling) and only generates them when they
	 * are missing; Hdr_OVERRIDE/Hdr_PROHIBIT would replace or drop the
	 * original Message-Id (measured with smtp-sink). */
	smtp_set_messagecb(s.message, esmtpsrc_cb, &src);
	for (guint i = 0; i < addrs->len; i++)
		g_ptr_array_add(s.rcpts, smtp_add_recipient(s.message, g_ptr_array_index(addrs, i)));

	if (!smtp_start_session(s.session)) {
		*answer = qc_smtp_error(qc, "cannot reach");
		goto out;
	}
	const smtp_status_t *ms = smtp_message_transfer_status(s.message);
	if (!ms || ms->code < 200 || ms->code > 299) {
		*answer = qc_send_failure(qc, &s);
		goto out;
	}
	*answer = qc_status_text(ms);
	for (guint i = 0; i < s.rcpts->len; i++) {
		const smtp_status_t *r = smtp_recipient_status(g_ptr_array_index(s.rcpts, i));
		if (r && r->code >= 200 && r->code <= 299)
			g_ptr_array_add(accepted, g_strdup(g_ptr_array_index(addrs, i)));
	}
	rc = 0;
out:
	g_ptr_array_free(s.rcpts, TRUE);
	smtp_destroy_session(s.session);
	return rc;
}

static enum qc_result qc_release_check(const struct store_msg *m, bool force, char **msg)
{
	if (m->attempt && strcmp(m->attempt, "deferred") == 0) {
		*msg =
		    g_strdup_printf("%s: a deferred attempt (answered 4xx, the message came back as another "
		                    "mail id): never released",
		                    m->mail_id);
		return QC_REFUSED;
	}
	if (m->attempt && strcmp(m->attempt, "open") == 0) {
		*msg = g_strdup_printf("%s: an open attempt (its answer is not known yet): not released",
		                       m->mail_id);
		return QC_REFUSED;
	}
	if (!m->quar_path || strcmp(m->quar_state, "none") == 0) {
		*msg = g_strdup_printf("%s: not quarantined (no file kept)", m->mail_id);
		return QC_REFUSED;
	}
	if (strcmp(m->quar_state, "purged") == 0) {
		*msg = g_strdup_printf("%s: purged, nothing to release", m->mail_id);
		return QC_REFUSED;
	}
	GPtrArray *left = qc_release_targets(m, false);
	bool done = left->len == 0;
	g_ptr_array_free(left, TRUE);
	if (strcmp(m->quar_state, "released") == 0 && done && !force) {
		*msg = g_strdup_printf("%s: already released (use --force to release again)", m->mail_id);
		return QC_REFUSED;
	}
	return QC_OK;
}

/* An address goes into "MAIL FROM:<%s>" / "RCPT TO:<%s>": no control
 * characters (a CR/LF would start a new SMTP command), no space or angle
 * bracket, bounded length. Empty only for the null sender. */
static bool qc_addr_ok(const char *a, bool allow_empty)
{
	size_t n = a ? strlen(a) : 0;
	if (n == 0)
		return allow_empty && a;
	if (n > 320 || !g_utf8_validate(a, (gssize)n, NULL))
		return false;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return true;
}

static bool qc_addrs_ok(const struct store_msg *m, GPtrArray *addrs, char **msg)
{
	const char *bad = NULL;
	if (!qc_addr_ok(m->sender, true))
		bad = m->sender;
	for (guint i = 0; !bad && i < addrs->len; i++)
		if (!qc_addr_ok(g_ptr_array_index(addrs, i), false))
			bad = g_ptr_array_index(addrs, i);
	if (!bad)
		return true;
	char *shown = log_printable(bad ? bad : "(null)", 80);
	*msg = g_strdup_printf("%s: unusable address \"%s\", release refused", m->mail_id, shown);
	g_free(shown);
	return false;
}

static GPtrArray *qc_release_addrs(const struct store_msg *m, const struct qc_release_opts *o)
{
	if (!o->to)
		return qc_release_targets(m, o->force);
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; o->to[i]; i++)
		g_ptr_array_add(a, g_strdup(o->to[i]));
	return a;
}

static char *qc_join(GPtrArray *a)
{
	g_ptr_array_add(a, NULL);
	char *s = g_strjoinv(",", (char **)a->pdata);
	g_ptr_array_remove_index(a, a->len - 1);
	return s;
}

/* Whether every default target has it now (it had it, or it is among
 * accepted): only then is the message "released"; until then a release
 * without --force serves the rest. */
static bool qc_release_finished(const struct store_msg *m, GPtrArray *accepted)
{
	GPtrArray *left = qc_release_targets(m, false);
	guint n = 0;
	for (guint i = 0; i < left->len; i++) {
		bool got = false;
		for (guint j = 0; !got && j < accepted->len; j++)
			got = strcmp(g_ptr_array_index(left, i), g_ptr_array_index(accepted, j)) == 0;
		n += !got;
	}
	g_ptr_array_free(left, TRUE);
	return n == 0;
}

static enum qc_result qc_release_send(struct qc *qc, const struct store_msg *m, GPtrArray *addrs,
                                      const GString *body, char **msg)
{
	GPtrArray *accepted = g_ptr_array_new_with_free_func(g_free);
	char *answer = NULL, *to = qc_join(addrs);
	enum qc_result res = QC_FAILED;

	if (qc_send(qc, m, addrs, body, accepted, &answer) < 0 || accepted->len == 0) {
		*msg =
		    g_strdup_printf("%s: release to %s FAILED: %s (nothing marked)", m->mail_id, to, answer);
		qc_event(qc, m->mail_id, "release", to, answer);
		goto out;
	}
	int64_t now = (int64_t)time(NULL);
	for (guint i = 0; i < accepted->len; i++)
		qc_mark_rcpt_released(qc, m->id, g_ptr_array_index(accepted, i), now, answer);
	if (qc_release_finished(m, accepted) && qc_mark_state(qc, m->mail_id, "released") < 0)
		msg_warn("%s: released, but the state could not be stored", m->mail_id);
	char *ok = qc_join(accepted);
	char *result = g_strdup_printf("ok: %s", answer);
	qc_event(qc, m->mail_id, "release", ok, result);
	*msg = g_strdup_printf("%s: released to %s: %s", m->mail_id, ok, answer);
	if (accepted->len < addrs->len) {
		char *full = g_strdup_printf("%s (some recipients refused)", *msg);
		g_free(*msg);
		*msg = full;
	} else {
		res = QC_OK;
	}
	g_free(result);
	g_free(ok);
out:
	g_free(to);
	g_free(answer);
	g_ptr_array_free(accepted, TRUE);
	return res;
}

/* Queue a release notice (templates/release) to each address the message
 * went to, in notify's durable outbox: scand's sender thread (or
 * `scand-notify send-pending`) delivers it. The release itself already
 * succeeded, so a failure here is reported in *msg, not as a failed release. */
static void qc_release_notice(struct qc *qc, const struct store_msg *m, GPtrArray *addrs, char **msg)
{
	char *err = NULL;
	struct notify *n = notify_load(qc->conf, NULL, &err);
	GArray *rows = g_array_new(FALSE, TRUE, sizeof(struct store_alert));
	int queued = -1;

	for (guint i = 0; n && i < addrs->len; i++) {
		struct store_alert a = {0};
		if (notify_render_stored(n, m, NOTIFY_RELEASE, g_ptr_array_index(addrs, i), &a, &err) < 0)
			break;
		g_array_append_val(rows, a);
	}
	if (n && !err &&
	    notify_outbox_queue(qc->st, m->mail_id, (struct store_alert *)(void *)rows->data, rows->len,
	                        &err) == 0)
		queued = (int)rows->len;
	for (guint i = 0; i < rows->len; i++)
		notify_alert_clear(&g_array_index(rows, struct store_alert, i));
	g_array_free(rows, TRUE);
	if (n)
		notify_free(n);
	char *old = *msg;
	*msg = queued >= 0 ? g_strdup_printf("%s\n%s: release notice queued for %d recipient(s)", old,
	                                     m->mail_id, queued)
	                   : g_strdup_printf("%s\n%s: release notice not queued: %s", old, m->mail_id, err);
	g_free(old);
	g_free(err);
}

enum qc_result qc_release_one(struct qc *qc, const char *mail_id, const struct qc_release_opts *o, char **msg)
{
	struct store_msg *m = NULL;
	GPtrArray *addrs = NULL;
	void *data = NULL;
	size_t len = 0;
	bool mismatch;
	char *err = NULL;
	enum qc_result res;

	if ((res = qc_lookup(qc, mail_id, &m, msg)) != QC_OK)
		return res;
	if ((res = qc_release_check(m, o->force, msg)) != QC_OK)
		goto out;
	addrs = qc_release_addrs(m, o);
	if (addrs->len == 0) {
		*msg = g_strdup_printf("%s: every recipient has it already (use --to%s)", mail_id,
		                       o->force ? "" : " or --force");
		res = QC_REFUSED;
		goto out;
	}
	if (!qc_addrs_ok(m, addrs, msg)) {
		res = QC_REFUSED;
		goto out;
	}
	if (qc_msg_load(qc, m, &data, &len, &mismatch, &err) < 0 || mismatch) {
		char *why = mismatch ? g_strdup_printf("SHA-256 mismatch: the quarantine file of %s is not "
		                                       "the file that was stored; release refused",
		                                       mail_id)
		                     : g_strdup_printf("%s: %s", mail_id, err);
		qc_event(qc, mail_id, "release", "", why);
		*msg = why;
		res = QC_REFUSED;
		goto out;
	}
	char *to = qc_join(addrs);
	if (o->dry_run) {
		*msg = g_strdup_printf("%s: would release %zu bytes from <%s> to %s via %s", mail_id, len,
		                       m->sender, to, qc->forward);
		g_free(to);
		res = QC_OK;
		goto out;
	}
	g_free(to);
	GString *body = qc_release_build(qc->who, data, len);
	res = qc_release_send(qc, m, addrs, body, msg);
	g_string_free(body, TRUE);
	if (res == QC_OK && o->notify)
		qc_release_notice(qc, m, addrs, msg);
out:
	g_free(err);
	g_free(data);
	if (addrs)
		g_ptr_array_free(addrs, TRUE);
	store_msg_free(m);
	return res;
}
