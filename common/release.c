/*
 * release - put a quarantined message back on its way (see release.h)
 *
 * Functions: release_targets, release_run, release_outcome_clear.
 * Failures are returned in out->msg; store writes that fail after the
 * downstream accepted the message are logged (msg_warn), since the
 * message is delivered by then.
 */
#include "release.h"

#include "log.h"
#include "mailfmt.h"
#include "quar.h"
#include "smtpc.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define RELEASE_HEADER "X-Quarantine-Released"

GPtrArray *release_targets(const struct store_msg *m, bool force)
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

void release_outcome_clear(struct release_outcome *out)
{
	if (out->served)
		g_ptr_array_free(out->served, TRUE);
	g_free(out->msg);
	memset(out, 0, sizeof(*out));
}

static enum release_result release_check(const struct store_msg *m, bool force, char **msg)
{
	if (m->attempt && strcmp(m->attempt, "deferred") == 0) {
		*msg =
		    g_strdup_printf("%s: a deferred attempt (answered 4xx, the message came back as another "
		                    "mail id): never released",
		                    m->mail_id);
		return RELEASE_REFUSED;
	}
	if (m->attempt && strcmp(m->attempt, "open") == 0) {
		*msg = g_strdup_printf("%s: an open attempt (its answer is not known yet): not released",
		                       m->mail_id);
		return RELEASE_REFUSED;
	}
	if (!m->quar_path || strcmp(m->quar_state, "none") == 0) {
		*msg = g_strdup_printf("%s: not quarantined (no file kept)", m->mail_id);
		return RELEASE_REFUSED;
	}
	if (strcmp(m->quar_state, "purged") == 0) {
		*msg = g_strdup_printf("%s: purged, nothing to release", m->mail_id);
		return RELEASE_REFUSED;
	}
	GPtrArray *left = release_targets(m, false);
	bool done = left->len == 0;
	g_ptr_array_free(left, TRUE);
	if (strcmp(m->quar_state, "released") == 0 && done && !force) {
		*msg = g_strdup_printf("%s: already released (use --force to release again)", m->mail_id);
		return RELEASE_REFUSED;
	}
	return RELEASE_OK;
}

/* An address goes into "MAIL FROM:<%s>" / "RCPT TO:<%s>": no control
 * characters (a CR/LF would start a new SMTP command), no space or angle
 * bracket, bounded length. Empty only for the null sender. */
static bool release_addr_ok(const char *a, bool allow_empty)
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

static bool release_addrs_ok(const struct store_msg *m, GPtrArray *addrs, char **msg)
{
	const char *bad = NULL;
	if (!release_addr_ok(m->sender, true))
		bad = m->sender;
	for (guint i = 0; !bad && i < addrs->len; i++)
		if (!release_addr_ok(g_ptr_array_index(addrs, i), false))
			bad = g_ptr_array_index(addrs, i);
	if (!bad)
		return true;
	char *shown = log_printable(bad ? bad : "(null)", 80);
	*msg = g_strdup_printf("%s: unusable address \"%s\", release refused", m->mail_id, shown);
	g_free(shown);
	return false;
}

static GPtrArray *release_addrs(const struct store_msg *m, const struct release_opts *o)
{
	if (!o->to)
		return release_targets(m, o->force);
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; o->to[i]; i++)
		g_ptr_array_add(a, g_strdup(o->to[i]));
	return a;
}

static char *release_join(GPtrArray *a)
{
	g_ptr_array_add(a, NULL);
	char *s = g_strjoinv(",", (char **)a->pdata);
	g_ptr_array_remove_index(a, a->len - 1);
	return s;
}

static void release_event(struct store *st, const struct store_msg *m, const struct release_opts *o,
                          const char *detail, const char *result)
{
	if (store_event(st, m->mail_id, "release", o->who, detail, result) < 0)
		msg_warn("audit event for %s not written: %s", m->mail_id, store_error(st));
}

/* The quarantined bytes of m (file or store), SHA-256 checked; RELEASE_REFUSED (said and audited) when
 * it cannot be read or is not the file that was stored. */
static enum release_result release_load(struct store *st, const struct store_msg *m,
                                        const struct release_opts *o, void **data, size_t *len, char **msg)
{
	char *err = NULL;
	if (quar_message_read(st, o->quar_dir, m, true, data, len, &err) == 0)
		return RELEASE_OK;
	char *why = errno == EBADMSG ? g_strdup_printf("SHA-256 mismatch: the quarantine copy of %s is not "
	                                               "the message that was stored; release refused",
	                                               m->mail_id)
	                             : g_strdup_printf("%s: %s", m->mail_id, err);
	release_event(st, m, o, "", why);
	*msg = why;
	g_free(err);
	return RELEASE_REFUSED;
}

/* The quarantined bytes with every bare LF made CRLF (SMTP's line end;
 * a file scand wrote has CRLF already and comes out unchanged). */
/* The stored recipient a release target is, if it is one (a --to address
 * is not): its DSN NOTIFY and ORCPT go with it as they came. */
static const struct store_rcpt *release_original(const struct store_msg *m, const char *addr)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].addr && g_ascii_strcasecmp(m->rcpt[i].addr, addr) == 0)
			return &m->rcpt[i];
	return NULL;
}

static char *release_trace(const char *who)
{
	GDateTime *now = g_date_time_new_now_local();
	char *date = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");
	char *safe_who = log_printable(who ? who : "unknown", 64); /* no CR/LF into the header */
	char *h = g_strdup_printf(RELEASE_HEADER ": %s by %s", date, safe_who);
	g_free(safe_who);
	g_free(date);
	g_date_time_unref(now);
	return h;
}

static bool release_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] & 0x80)
			return false;
	return true;
}

static const char *release_nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/* One transaction to o->forward. Fills accepted (address per 2xx) and
 * *answer (the reply the first accepted recipient got, or the first
 * refusal, or why the downstream could not be reached). */
static void release_send(const struct store_msg *m, const struct release_opts *o, GPtrArray *addrs,
                         const GString *data, GPtrArray *accepted, GPtrArray *answers, char **answer)
{
	struct smtpc_msg sm = {0};
	char *trace = release_trace(o->who), *err = NULL;
	const char *add[1] = {trace};
	bool utf8 = !release_ascii(m->sender, strlen(m->sender));

	sm.rcpt = g_new0(struct smtpc_rcpt, addrs->len);
	for (guint i = 0; i < addrs->len; i++) {
		const char *a = g_ptr_array_index(addrs, i);
		const struct store_rcpt *orig = release_original(m, a);
		sm.rcpt[sm.nrcpt++] = (struct smtpc_rcpt){.addr = a,
		                                          .notify = orig ? release_nonempty(orig->dsn_notify) : NULL,
		                                          .orcpt = orig ? release_nonempty(orig->dsn_orcpt) : NULL};
		utf8 = utf8 || !release_ascii(a, strlen(a));
	}
	sm.sender = m->sender;
	sm.ret = release_nonempty(m->dsn_ret);
	sm.envid = release_nonempty(m->dsn_envid);
	sm.smtputf8 = utf8;
	sm.body = release_ascii(data->str, data->len) ? NULL : "8BITMIME";
	sm.xforward[XF_NAME] = release_nonempty(m->client_name);
	sm.xforward[XF_ADDR] = release_nonempty(m->client_addr);
	sm.xforward[XF_HELO] = release_nonempty(m->client_helo);
	sm.data = (const unsigned char *)data->str;
	sm.len = data->len;
	sm.add_headers = add;
	sm.nadd = 1;

	struct smtpc *c = o->conn ? o->conn : smtpc_open(o->forward, o->helo, o->timeout_s);
	int rc = smtpc_send(c, &sm, &err);
	if (c != o->conn)
		smtpc_close(c);

	const char *first_ok = NULL, *first_bad = NULL;
	for (size_t i = 0; i < sm.nrcpt; i++) {
		const struct smtpc_rcpt *r = &sm.rcpt[i];
		if (rc == 0 && r->code >= 200 && r->code <= 299) {
			g_ptr_array_add(accepted, g_strdup(r->addr));
			g_ptr_array_add(answers, log_printable(r->reply, 400));
			first_ok = first_ok ? first_ok : r->reply;
		} else if (!first_bad) {
			first_bad = r->reply;
		}
	}
	if (rc < 0) {
		/* smtpc's words mostly start with the destination: said once */
		const char *why = err ? err : "failed";
		size_t dl = strlen(o->forward);
		if (strncmp(why, o->forward, dl) == 0 && strncmp(why + dl, ": ", 2) == 0)
			why += dl + 2;
		*answer = g_strdup_printf(
		    "%s %s: %s", sm.data_sent ? "lost the connection to" : "cannot reach", o->forward, why);
	} else {
		*answer = g_strdup(first_ok ? first_ok : first_bad ? first_bad : "no answer");
	}
	char *p = log_printable(*answer, 400);
	g_free(*answer);
	*answer = p;
	smtpc_msg_clear(&sm);
	g_free(sm.rcpt);
	g_free(err);
	g_free(trace);
}

/* Whether every default target has it now (it had it, or it is among
 * accepted): only then is the message "released"; until then a release
 * without force serves the rest. */
static bool release_finished(const struct store_msg *m, GPtrArray *accepted)
{
	GPtrArray *left = release_targets(m, false);
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

/* Sends, then marks each accepted recipient with its own answer, the
 * state once nothing is left, and the audit event. */
static enum release_result release_deliver(struct store *st, const struct store_msg *m,
                                           const struct release_opts *o, GPtrArray *addrs,
                                           const GString *data, struct release_outcome *out)
{
	GPtrArray *answers = g_ptr_array_new_with_free_func(g_free);
	char *answer = NULL, *to = release_join(addrs);
	enum release_result res = RELEASE_FAILED;

	release_send(m, o, addrs, data, out->served, answers, &answer);
	if (out->served->len == 0) {
		out->msg =
		    g_strdup_printf("%s: release to %s FAILED: %s (nothing marked)", m->mail_id, to, answer);
		release_event(st, m, o, to, answer);
		goto done;
	}
	int64_t now = (int64_t)time(NULL);
	for (guint i = 0; i < out->served->len; i++)
		if (store_mark_rcpt_released(st, m->id, g_ptr_array_index(out->served, i), now,
		                             g_ptr_array_index(answers, i)) < 0)
			msg_warn("%s: released, but the recipient could not be marked: %s", m->mail_id,
			         store_error(st));
	if (release_finished(m, out->served) && store_set_quar_state(st, m->mail_id, "released") != 0)
		msg_warn("%s: released, but the state could not be stored: %s", m->mail_id, store_error(st));
	char *ok = release_join(out->served);
	char *result = g_strdup_printf("ok: %s", answer);
	release_event(st, m, o, ok, result);
	out->msg = g_strdup_printf("%s: released to %s: %s%s", m->mail_id, ok, answer,
	                           out->served->len < addrs->len ? " (some recipients refused)" : "");
	res = out->served->len < addrs->len ? RELEASE_FAILED : RELEASE_OK;
	g_free(result);
	g_free(ok);
done:
	g_free(to);
	g_free(answer);
	g_ptr_array_free(answers, TRUE);
	return res;
}

const char *release_forward(const struct conf *c)
{
	const char *f = conf_str(c, "quarctl", "release_forward");
	return *f ? f : conf_str(c, "scand", "forward");
}

enum release_result release_run(struct store *st, const struct store_msg *m, const struct release_opts *o,
                                struct release_outcome *out)
{
	GPtrArray *addrs = NULL;
	void *data = NULL;
	size_t len = 0;
	enum release_result res;

	memset(out, 0, sizeof(*out));
	out->served = g_ptr_array_new_with_free_func(g_free);
	if ((res = release_check(m, o->force, &out->msg)) != RELEASE_OK)
		return res;
	addrs = release_addrs(m, o);
	if (addrs->len == 0) {
		out->msg = g_strdup_printf("%s: every recipient has it already (use --to%s)", m->mail_id,
		                           o->force ? "" : " or --force");
		res = RELEASE_REFUSED;
		goto done;
	}
	if (!release_addrs_ok(m, addrs, &out->msg)) {
		res = RELEASE_REFUSED;
		goto done;
	}
	if ((res = release_load(st, m, o, &data, &len, &out->msg)) != RELEASE_OK)
		goto done;
	if (o->dry_run) {
		char *to = release_join(addrs);
		out->msg = g_strdup_printf("%s: would release %zu bytes from <%s> to %s via %s", m->mail_id,
		                           len, m->sender, to, o->forward);
		g_free(to);
		goto done;
	}
	GString *crlf = mailfmt_crlf(data, len);
	res = release_deliver(st, m, o, addrs, crlf, out);
	g_string_free(crlf, TRUE);
done:
	g_free(data);
	if (addrs)
		g_ptr_array_free(addrs, TRUE);
	return res;
}
