/*
 * pipeline - stages, destiny, store, forward, reply (see pipeline.h)
 *
 * Functions: pipeline_init, pipeline_notify_start, pipeline_reload,
 * pipeline_fini, pipeline_signatures, pipeline_run, pipeline_reply_text.
 *
 * The order is the promise: the verdict row is committed before anything
 * is forwarded, and the client hears 2xx only after the downstream MTA
 * accepted. Any failure on the way answers 4xx so that the MTA keeps the
 * message and retries. The row's recipient answers (and "tempfail" when we
 * answered 4xx) are filled in after forwarding.
 *
 * One row per attempt. The row goes in as an "open" attempt and its alerts
 * as "held" (never sent while held). Once the answer is known, and before
 * it is given, an attempt with a quarantine copy or alerts is settled
 * (gc_settle): answered 2xx/5xx -> "final", its alerts released; answered
 * 4xx (every recipient deferred) -> "deferred", its alerts cancelled, its
 * quarantine copy marked purged and removed: the MTA retries as a new
 * attempt that keeps its own copy and sends its own alerts, so a message
 * deferred N times yields one live copy and one set of alerts. Settling
 * before the answer means an attempt still open after a crash was never
 * answered (the client retries): start-up makes it deferred
 * (store_recover_open). Other attempts are settled behind the answer
 * (answers.c); nothing hangs on their state.
 *
 * Mixed downstream results in SMTP mode (one reply for all recipients).
 * The rule, chosen so that no recipient loses mail and none gets it twice:
 *  1. The recipients are offered downstream (RCPT) before any data is
 *     sent. If any of them is deferred (4xx) the transaction is reset
 *     (nothing was delivered to anyone) and we answer 451 4.3.0: the MTA
 *     retries the whole message later, and no one can get it twice.
 *  2. If no recipient was accepted and none deferred, we answer with the
 *     (first) permanent refusal, 5xx: the MTA bounces to the sender.
 *  3. If some were accepted and the others refused permanently (5xx),
 *     the message goes to the accepted ones and we answer 250; for each
 *     refused recipient whose NOTIFY does not exclude it, the sender gets
 *     a failure notice (from <>, queued in notify's durable outbox with the
 *     settling of the attempt, so it is retried until delivered). Refused
 *     recipients could never have been delivered; answering 5xx would
 *     bounce the accepted ones too, answering 4xx would deliver the
 *     accepted ones twice.
 *  4. A 4xx/5xx to DATA or to the end of data concerns every accepted
 *     recipient alike: 451 4.3.0 / the 5xx is answered.
 * With an LMTP downstream (forward = lmtp:...) per-recipient results come
 * after the data; a deferral there for some recipients while others were
 * delivered is treated as in 3 (notice to the sender) because neither 250
 * nor 451 can be right for all; an SMTP downstream (the recommended
 * reinjection smtpd, which queues) never splits after the data.
 * In LMTP mode each recipient simply gets its own downstream result.
 */
#include "pipeline.h"

#include <glib.h>
#include <string.h>
#include <time.h>

#include "answers.h"
#include "groupcommit.h"
#include "log.h"
#include "mailhdr.h"
#include "metrics.h"
#include "notify/notify.h"
#include "verdict.h"

/* The content checks (stages, policy, headers, quarantine): verdict.h. */
static struct verdict_ctx *pipeline_verdict;

/* Alerts (notify.h): the template set is swapped on reload; a worker
 * holds a reference for one message, so the old set lives until then. */
static GMutex pipeline_notify_lock;
static struct notify *pipeline_notify;
static struct notify_sender *pipeline_sender;

int pipeline_init(const struct conf *c, char **err)
{
	/* templates first: an error in one stops scand with FILE:LINE */
	if (!(pipeline_notify = notify_load(c, NULL, err)))
		return -1;
	return verdict_init(c, &pipeline_verdict, err);
}

void pipeline_notify_start(const struct conf *c, struct store *st)
{
	pipeline_sender = notify_sender_start(c, st);
}

static struct notify *pipeline_notify_get(void)
{
	g_mutex_lock(&pipeline_notify_lock);
	struct notify *n = notify_ref(pipeline_notify);
	g_mutex_unlock(&pipeline_notify_lock);
	return n;
}

static void pipeline_notify_reload(const struct conf *c)
{
	char *e = NULL;
	struct notify *n = notify_load(c, NULL, &e);
	if (!n) {
		msg_warn("reload: %s (kept the old alert templates)", e);
		g_free(e);
		return;
	}
	g_mutex_lock(&pipeline_notify_lock);
	struct notify *old = pipeline_notify;
	pipeline_notify = n;
	g_mutex_unlock(&pipeline_notify_lock);
	notify_free(old);
	notify_sender_reconfigure(pipeline_sender, c);
}

void pipeline_reload(const struct conf *c)
{
	char *e = NULL;
	if (verdict_reload(pipeline_verdict, c, &e) < 0)
		msg_warn("reload: %s (kept the old state of what failed)", e ? e : "?");
	g_free(e);
	pipeline_notify_reload(c);
}

unsigned pipeline_signatures(time_t *built)
{
	if (built)
		*built = 0;
	return pipeline_verdict ? verdict_signatures(pipeline_verdict, built) : 0;
}

void pipeline_fini(void)
{
	notify_sender_stop(pipeline_sender);
	pipeline_sender = NULL;
	verdict_fini(pipeline_verdict);
	pipeline_verdict = NULL;
	notify_free(pipeline_notify);
	pipeline_notify = NULL;
}

char *pipeline_reply_text(const char *s, size_t maxlen)
{
	GString *o = g_string_new("");
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && o->len < maxlen; p++)
		g_string_append_c(o, *p >= 0x20 && *p < 0x7f ? (char)*p : '?');
	return g_string_free(o, FALSE);
}

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static struct msg_rcpt *rcpt_at(struct msg *m, guint i)
{
	return g_ptr_array_index(m->rcpts, i);
}

static void set_answer(struct msg_rcpt *r, const char *a)
{
	g_free(r->answer);
	r->answer = g_strdup(a);
}

static void answer_all(struct msg *m, const char *a)
{
	for (guint i = 0; i < m->rcpts->len; i++)
		set_answer(rcpt_at(m, i), a);
}

static void parse_headers(struct msg *m)
{
	m->from_hdr = mailhdr_get(m->data, m->len, "From", 250);
	m->subject = mailhdr_get(m->data, m->len, "Subject", 250);
	m->message_id = mailhdr_get(m->data, m->len, "Message-ID", 250);
	if (!m->from_hdr) m->from_hdr = g_strdup("");
	if (!m->subject) m->subject = g_strdup("");
	if (!m->message_id) m->message_id = g_strdup("");
}

/* Answers for the recipients that are not forwarded (verdict_reply). */
static void destiny_answers(struct msg *m)
{
	for (guint i = 0; i < m->rcpts->len; i++) {
		struct msg_rcpt *r = rcpt_at(m, i);
		char *a = verdict_reply(m, r);
		if (!a)
			continue;
		g_free(r->answer);
		r->answer = a;
	}
}

static char *join_names(GPtrArray *a)
{
	g_ptr_array_add(a, NULL);
	char *s = g_strjoinv(",", (char **)a->pdata);
	g_ptr_array_remove_index(a, a->len - 1);
	return s;
}

/* The verdict row, as an open attempt; *held says whether alerts wait in
 * the outbox for the attempt to be settled. */
static int store_record(struct msg *m, bool *held)
{
	struct store_msg sm = {0};
	g_strlcpy(sm.mail_id, m->mail_id, sizeof(sm.mail_id));
	sm.time = m->received;
	sm.client_addr = m->xf_addr ? m->xf_addr : "";
	sm.client_name = m->xf_name ? m->xf_name : "";
	sm.client_helo = m->xf_helo ? m->xf_helo : "";
	sm.sender = m->sender;
	sm.from_hdr = m->from_hdr;
	sm.subject = m->subject;
	sm.message_id = m->message_id;
	sm.size = (int64_t)m->len;
	sm.category = (char *)msg_category_name(m->category);
	sm.virus_names = join_names(m->virus_names);
	sm.banned_names = join_names(m->banned_names);
	sm.spam_checked = m->spam_checked;
	sm.spam_score = m->spam_score;
	sm.spam_tests = m->spam_tests ? m->spam_tests : "";
	sm.unchecked_reason = m->unchecked_reason->str;
	sm.quar_path = m->quar_path;
	sm.quar_size = m->quar_size;
	sm.quar_sha256 = m->quar_sha256;
	sm.quar_backend = m->quar_blob ? "database" : "files";
	sm.quar_blob = m->quar_blob;
	sm.quar_blob_len = m->quar_blob_len;
	sm.scan_ms = m->scan_ms;
	sm.policy = m->rcpts->len && rcpt_at(m, 0)->policy ? rcpt_at(m, 0)->policy : "";
	sm.engine = m->engine ? m->engine : "";
	sm.attempt = "open";
	sm.dsn_ret = m->ret;
	sm.dsn_envid = m->envid;
	sm.nrcpt = m->rcpts->len;
	sm.rcpt = g_new0(struct store_rcpt, sm.nrcpt);
	for (guint i = 0; i < m->rcpts->len; i++) {
		sm.rcpt[i].addr = rcpt_at(m, i)->addr;
		sm.rcpt[i].destiny = (char *)msg_destiny_name(rcpt_at(m, i)->destiny);
		sm.rcpt[i].smtp_answer = rcpt_at(m, i)->answer ? rcpt_at(m, i)->answer : "";
		sm.rcpt[i].dsn_notify = rcpt_at(m, i)->notify;
		sm.rcpt[i].dsn_orcpt = rcpt_at(m, i)->orcpt;
		sm.rcpt[i].list_entry = rcpt_at(m, i)->list ? list_entry_describe(rcpt_at(m, i)->list) : NULL;
	}
	/* the alerts go into the outbox in the verdict's transaction; they are
	 * rendered before the writer lock is taken */
	struct notify *nt = pipeline_notify_get();
	struct store_alert *al;
	size_t nal;
	notify_alerts(nt, &sm, m->data, m->data ? mailhdr_body_offset(m->data, m->len) : 0, &al, &nal);
	notify_free(nt);
	char err[512];
	int r = gc_put(&sm, al, nal, err, sizeof(err)); /* committed, or -1 */
	if (r < 0) {
		msg_warn("(%s) store: %s", m->mail_id, err);
		metrics_store_error(METRICS_STORE_VERDICT);
	} else {
		metrics_recorded(m);
	}
	notify_alerts_free(al, nal);
	*held = r == 0 && nal > 0;
	g_free(sm.virus_names);
	g_free(sm.banned_names);
	for (size_t i = 0; i < sm.nrcpt; i++)
		g_free(sm.rcpt[i].list_entry);
	g_free(sm.rcpt);
	return r < 0 ? -1 : 0;
}

static struct smtpc *forward_client(struct worker *w, const struct conf *c)
{
	const char *dest = conf_str(c, "scand", "forward");
	if (w->fwd && g_strcmp0(w->fwd_dest, dest) != 0) { /* changed by a reload */
		smtpc_close(w->fwd);
		w->fwd = NULL;
	}
	if (!w->fwd) {
		const char *hn = conf_str(c, "scand", "hostname");
		w->fwd = smtpc_open(dest, *hn ? hn : g_get_host_name(), (int)conf_int(c, "scand", "forward_timeout"));
		g_free(w->fwd_dest);
		w->fwd_dest = g_strdup(dest);
	}
	/* every time: a reload may have changed them */
	smtpc_set_reuse(w->fwd, (int)conf_int(c, "scand", "forward_idle_limit"),
	                (int)conf_int(c, "scand", "forward_max_age"),
	                (int)conf_int(c, "scand", "forward_reuse_limit"));
	return w->fwd;
}

/* Sends the passed recipients downstream; their answers come back. */
static void forward(struct worker *w, const struct conf *c, struct msg *m)
{
	struct smtpc_msg sm = {0};
	guint *idx = g_new0(guint, m->rcpts->len);
	char *err = NULL;

	sm.rcpt = g_new0(struct smtpc_rcpt, m->rcpts->len);
	for (guint i = 0; i < m->rcpts->len; i++) {
		struct msg_rcpt *r = rcpt_at(m, i);
		if (r->destiny != DESTINY_PASS)
			continue;
		idx[sm.nrcpt] = i;
		sm.rcpt[sm.nrcpt++] = (struct smtpc_rcpt){.addr = r->addr, .notify = r->notify, .orcpt = r->orcpt};
	}
	sm.sender = m->sender;
	sm.ret = m->ret;
	sm.envid = m->envid;
	sm.body = m->body;
	sm.smtputf8 = m->smtputf8;
	const char *xf[XF_COUNT] = {m->xf_name, m->xf_addr, m->xf_port, m->xf_proto, m->xf_helo, m->xf_ident, m->xf_source};
	memcpy(sm.xforward, xf, sizeof(xf));
	sm.data = m->data;
	sm.len = m->len;
	sm.add_headers = (const char *const *)m->add_headers->pdata;
	sm.nadd = m->add_headers->len;
	sm.remove_headers = (const char *const *)m->remove_headers->pdata;
	sm.nremove = m->remove_headers->len;
	sm.abort_on_rcpt_tempfail = !m->lmtp;
	if (smtpc_send(forward_client(w, c), &sm, &err) < 0) {
		msg_warn("(%s) forward: %s", m->mail_id, err);
		metrics_forward_error();
	}
	for (size_t j = 0; j < sm.nrcpt; j++)
		set_answer(rcpt_at(m, idx[j]), sm.rcpt[j].reply);
	smtpc_msg_clear(&sm);
	g_free(sm.rcpt);
	g_free(idx);
	g_free(err);
}

static bool wants_failure_notice(const struct msg_rcpt *r)
{
	return !r->notify || strstr(r->notify, "FAILURE") != NULL;
}

/* Rule 3 above: the notice to the sender about recipients refused
 * permanently while the others were delivered, as an outbox row (*out;
 * body NULL when nobody is to be told). */
static void failure_notice(const struct conf *c, struct msg *m, struct store_alert *out)
{
	const char *hn = conf_str(c, "scand", "hostname");
	const char *host = *hn ? hn : g_get_host_name();
	GString *b = g_string_new("");
	GDateTime *now = g_date_time_new_now_local();
	char *date = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");
	char *to = pipeline_reply_text(m->sender, 300);
	int n = 0;

	g_date_time_unref(now);
	g_string_append_printf(b,
			       "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\n"
			       "Subject: Undelivered Mail Returned to Sender\r\nDate: %s\r\n"
			       "Message-ID: <%s.notice@%s>\r\nAuto-Submitted: auto-replied\r\n"
			       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
			       "Your message (mail id %s, Message-ID %s) was delivered to some recipients,\r\n"
			       "but the following ones refused it permanently:\r\n\r\n",
			       host, to, date, m->mail_id, host, m->mail_id,
			       *m->message_id ? m->message_id : "(none)");
	for (guint i = 0; i < m->rcpts->len; i++) {
		struct msg_rcpt *r = rcpt_at(m, i);
		if (!r->answer || r->answer[0] == '2' || !wants_failure_notice(r))
			continue;
		char *a = pipeline_reply_text(r->addr, 300), *t = pipeline_reply_text(r->answer, 400);
		g_string_append_printf(b, "<%s>: %s\r\n", a, t);
		g_free(a);
		g_free(t);
		n++;
	}
	*out = (struct store_alert){0};
	if (n > 0 && *m->sender) {
		out->kind = g_strdup("failure-notice");
		out->env_from = g_strdup("");
		out->rcpt = g_strdup(m->sender);
		out->body_len = b->len;
		out->body = g_string_free(b, FALSE);
	} else {
		g_string_free(b, TRUE);
	}
	g_free(to);
	g_free(date);
}

/* The one SMTP reply after DATA, by the rule at the top of this file;
 * *notice gets the failure notice of rule 3 (body NULL: none). */
static char *smtp_reply(const struct conf *c, struct msg *m, struct store_alert *notice)
{
	const char *temp = NULL, *perm = NULL, *ok = NULL;
	bool forwarded_ok = false;

	for (guint i = 0; i < m->rcpts->len; i++) {
		struct msg_rcpt *r = rcpt_at(m, i);
		/* every answer starts with its code (smtpc.h, verdict_reply);
		 * what is neither 2xx nor 5xx counts as a deferral */
		const char *a = r->answer ? r->answer : "451 4.3.0 Error: no answer";
		if (a[0] == '2') {
			if (!ok || r->destiny == DESTINY_PASS)
				ok = a;
			forwarded_ok |= r->destiny == DESTINY_PASS;
		} else if (a[0] == '5') {
			perm = perm ? perm : a;
		} else if (!temp) {
			temp = a;
		}
	}
	if (temp && !forwarded_ok)
		return g_strdup("451 4.3.0 Error: downstream deferred or unreachable, try again later");
	if (!ok)
		return g_strdup(perm);
	if (perm || temp)
		failure_notice(c, m, notice);
	if (!forwarded_ok)
		return g_strdup(ok);
	char *t = pipeline_reply_text(ok, 300);
	char *r = g_strdup_printf("250 2.0.0 Ok, id=%s, from MTA: %s", m->mail_id, t);
	g_free(t);
	return r;
}

static void log_line(const struct msg *m, const char *reply)
{
	if (log_get_level() < LOG_LVL_INFO)
		return; /* msg_info would drop it: do not build it */
	bool deferred = reply[0] == '4';
	GString *rc = g_string_new("");
	for (guint i = 0; i < m->rcpts->len; i++) {
		struct msg_rcpt *r = g_ptr_array_index(m->rcpts, i);
		char *a = log_printable(r->addr, 200);
		g_string_append_printf(rc, "%s<%s>", i ? "," : "", a);
		g_free(a);
	}
	/* "Blocked INFECTED (Eicar-Test-Signature) {DiscardedInbound,Quarantined}" */
	char *words = deferred ? g_strdup_printf("Deferred %s {TempFailedInbound}", msg_category_log(m->category))
			       : verdict_log_words(m);
	char *snd = log_printable(m->sender, 200), *client = log_printable(m->xf_addr, 64),
	     *mid = log_printable(m->message_id, 250), *rep = log_printable(reply, 200);
	const char *qa = strstr(reply, "queued as ");
	char *queued = qa ? g_strndup(qa + 10, strcspn(qa + 10, " ),;")) : NULL;
	char *qs = queued ? log_printable(queued, 40) : NULL;
	msg_info("(%s) %s, %s%s%s<%s> -> %s, %s%s%s%s%s%smail_id: %s, size: %zu, %s%s%s%" G_GINT64_FORMAT
		 " ms%s%s",
		 m->mail_id, words, *client ? "[" : "", client, *client ? "] " : "", snd, rc->str,
		 m->quar_path ? "quarantine: " : "", m->quar_path ? m->quar_path : "", m->quar_path ? ", " : "",
		 *mid ? "Message-ID: " : "", mid, *mid ? ", " : "", m->mail_id, m->len, qs ? "queued_as: " : "",
		 qs ? qs : "", qs ? ", " : "", ms_since(&m->t_start), deferred ? ", reply: " : "", deferred ? rep : "");
	g_free(words);
	g_free(snd);
	g_free(client);
	g_free(mid);
	g_free(rep);
	g_free(queued);
	g_free(qs);
	g_string_free(rc, TRUE);
}

/* Deferred: every recipient was answered 4xx, so the client retries the
 * whole message as a new attempt. */
static bool attempt_deferred(const struct msg *m)
{
	for (guint i = 0; i < m->rcpts->len; i++) {
		const struct msg_rcpt *r = g_ptr_array_index(m->rcpts, i);
		if (!r->answer || r->answer[0] != '4')
			return false;
	}
	return m->rcpts->len > 0;
}

/* Ends the attempt before its answer is given (see the top of this file).
 * A failure is logged; answers.c settles it again behind the answer (a
 * deferred attempt's copy then stays, marked by its row, never released). */
static void attempt_settle(struct msg *m, bool deferred, const struct store_alert *notice)
{
	char err[512];
	bool purge = deferred && m->quar_path;
	size_t nnotice = notice->body ? 1 : 0;

	if (gc_settle(m->mail_id, deferred ? "deferred" : "final", purge, notice, nnotice, err, sizeof(err)) <
	    0) {
		msg_warn("(%s) store: settling the attempt: %s%s", m->mail_id, err,
		         nnotice ? " (the failure notice to the sender is lost)" : "");
		metrics_store_error(METRICS_STORE_SETTLE);
		return;
	}
	if (purge)
		verdict_withdraw(pipeline_verdict, m);
	if (!deferred)
		notify_sender_kick(pipeline_sender);
}

/* Every answer after DATA ends here: the log line and the counters. */
static char *pipeline_answered(struct msg *m, char *reply)
{
	log_line(m, reply);
	metrics_answered(m);
	return reply;
}

/* Each recipient's allow/block list entry for this sender (rcpt->list),
 * read before the checks so that an edit applies to the next message: 0,
 * or -1 when the store could not answer (the message is deferred rather
 * than let a blocked sender through). */
static int lists_lookup(struct worker *w, struct msg *m)
{
	int64_t now = (int64_t)time(NULL);
	for (guint i = 0; w->lists && i < m->rcpts->len; i++) {
		struct msg_rcpt *r = rcpt_at(m, i);
		list_entry_free(r->list);
		r->list = NULL;
		if (store_list_lookup(w->lists, r->addr, m->sender, now, &r->list) < 0) {
			msg_warn("(%s) lists: %s", m->mail_id, store_error(w->lists));
			return -1;
		}
	}
	return 0;
}

char *pipeline_run(struct worker *w, const struct conf *c, struct msg *m)
{
	char *reply = NULL;
	bool any_pass = false, held = false;
	struct store_alert notice = {0};

	parse_headers(m);
	if (lists_lookup(w, m) < 0 || verdict_run(pipeline_verdict, m) == VERDICT_TEMPFAIL) {
		reply = g_strdup(m->tempfail_reply ? m->tempfail_reply
		                                   : "451 4.3.0 Error: content check temporarily unavailable, try again later");
		answer_all(m, reply);
		return pipeline_answered(m, reply);
	}
	destiny_answers(m);
	if (store_record(m, &held) < 0) {
		reply = g_strdup("451 4.3.0 Error: verdict store failure, try again later");
		verdict_withdraw(pipeline_verdict, m); /* no row: the retry keeps its own copy */
		answer_all(m, reply);
		return pipeline_answered(m, reply);
	}
	for (guint i = 0; i < m->rcpts->len; i++)
		any_pass |= rcpt_at(m, i)->destiny == DESTINY_PASS;
	if (any_pass)
		forward(w, c, m);
	if (m->lmtp) {
		reply = g_strdup(rcpt_at(m, 0)->answer);
	} else {
		reply = smtp_reply(c, m, &notice);
		if (reply[0] == '4') /* nothing was delivered: the MTA retries all */
			answer_all(m, reply);
	}
	bool deferred = attempt_deferred(m);
	if (held || m->quar_path || notice.body)
		attempt_settle(m, deferred, &notice);
	notify_alert_clear(&notice);
	answers_push(m, deferred); /* behind the reply; see answers.h */
	return pipeline_answered(m, reply);
}
