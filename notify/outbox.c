/*
 * outbox - deliver the alerts in the outbox table, at least once
 *
 * notify_outbox_run() takes the due pending rows (oldest first) and sends
 * each in its own SMTP session (notify_send, send.h) to [notify] forward, envelope
 * sender <>. Only after the server's 2xx to the message does one UPDATE
 * mark the row sent: a crash in between means the alert goes out again,
 * never that it is lost. A 4xx, a refused or broken connection or a
 * timeout reschedules the row with exponential backoff (retry_min doubling
 * up to retry_max) until give_up_after has passed since it was queued;
 * a 5xx fails it at once. last_error keeps the server's answer.
 *
 * Admin alerts (kind "*-admin") are limited per address to
 * admin_rate_limit sent in the last 60 seconds. Due admin rows beyond the
 * limit are folded into one "admin-summary" alert (listing kind, mail id
 * and subject of each) at most once a minute per address; the folded rows
 * are marked sent with last_error "folded into summary N", in the same
 * transaction as the summary row is queued. Rows over the limit while a
 * summary of the last minute exists wait for the next minute.
 *
 * notify_sender_start() runs the outbox in a thread, every second or when
 * kicked, on a store handle the caller opened for it (before dropping
 * privileges or chroot) and hands over; the options are copied from the
 * config (notify_sender_reconfigure() after a reload), so the caller may
 * free its config. notify_sender_stop() joins the thread and closes the
 * handle.
 * Each row is claimed (next_try moved retry_min ahead) before it is sent,
 * so two senders on one database (scand's thread and a manual
 * scand-notify send-pending) do not both send it; a sender killed
 * mid-send leaves its row due again after retry_min.
 * Database failures are logged (msg_warn) and the run is retried later.
 */
#include <gmime/gmime.h>
#include <glib.h>
#include <string.h>

#include "log.h"
#include "mailfmt.h"
#include "mailhdr.h"
#include "notify.h"
#include "send.h"

#define OUTBOX_BATCH 200
#define OUTBOX_TIMEOUT 60 /* seconds for each SMTP step */

struct outbox_row {
	int64_t id, created, attempts;
	char *mail_id, *kind, *rcpt;
	GBytes *body;
};

struct outbox {
	struct store *st;
	const struct notify_outbox_opts *o;
	time_t now;
	struct notify_run_stats *stats;
};

static void outbox_row_free(gpointer p)
{
	struct outbox_row *r = p;
	g_free(r->mail_id);
	g_free(r->kind);
	g_free(r->rcpt);
	g_bytes_unref(r->body);
	g_free(r);
}

/* Logs a failed store call; returns -1. */
static int outbox_warn(struct outbox *ob, const char *what)
{
	msg_warn("outbox: %s: %s", what, store_error(ob->st));
	return -1;
}

static int outbox_due_row(const struct store_outbox_row *s, void *arg)
{
	struct outbox_row *r = g_new0(struct outbox_row, 1);
	r->id = s->id;
	r->created = s->created;
	r->mail_id = g_strdup(s->mail_id);
	r->kind = g_strdup(s->kind);
	r->rcpt = g_strdup(s->rcpt);
	r->body = g_bytes_new(s->body, s->body_len);
	r->attempts = s->attempts;
	g_ptr_array_add(arg, r);
	return 0;
}

static GPtrArray *outbox_due(struct outbox *ob)
{
	GPtrArray *rows = g_ptr_array_new_with_free_func(outbox_row_free);
	if (store_outbox_due(ob->st, ob->now, OUTBOX_BATCH, outbox_due_row, rows) < 0) {
		outbox_warn(ob, "select due");
		g_ptr_array_free(rows, TRUE);
		return NULL;
	}
	return rows;
}

/* ---- one SMTP transaction ---- */

/* Sends one alert (notify_send, envelope sender <>): 2 sent, 4 try
 * again, 5 give up; *why set unless 2. */
static int outbox_send(const char *server, const char *helo, const char *rcpt, GBytes *body, char **why)
{
	struct notify_send_rcpt r = {.addr = rcpt};
	gsize len;
	const void *data = g_bytes_get_data(body, &len);
	int cls = notify_send(server, helo, OUTBOX_TIMEOUT, "", &r, 1, data, len, why);
	notify_send_clear(&r, 1);
	return cls;
}

/* ---- marking ---- */

static int64_t outbox_backoff(const struct notify_outbox_opts *o, int64_t attempts)
{
	int64_t lo = o->retry_min, hi = o->retry_max;
	int64_t d = lo;
	for (int64_t i = 1; i < attempts && d < hi; i++)
		d *= 2;
	return d < hi ? d : hi;
}

static void outbox_mark(struct outbox *ob, const struct outbox_row *r, int cls, const char *why)
{
	char *p = log_printable(r->rcpt, 200);
	bool give_up = cls == 5 || ob->now - r->created >= ob->o->give_up_after;
	int rc;

	if (cls == 2) {
		rc = store_outbox_sent(ob->st, r->id, ob->now);
		ob->stats->sent++;
		msg_info("(%s) %s alert sent to <%s>", r->mail_id, r->kind, p);
	} else if (give_up) {
		rc = store_outbox_failed(ob->st, r->id, why);
		ob->stats->failed++;
		msg_warn("(%s) %s alert to <%s> failed: %s", r->mail_id, r->kind, p, why);
	} else {
		rc = store_outbox_retry(ob->st, r->id, ob->now + outbox_backoff(ob->o, r->attempts + 1), why);
		ob->stats->retried++;
		msg_info("(%s) %s alert to <%s> deferred: %s", r->mail_id, r->kind, p, why);
	}
	if (rc < 0)
		outbox_warn(ob, "mark");
	g_free(p);
}

/* ---- admin rate limit ---- */

/* Takes a due row for this sender: its next_try moves retry_min ahead, so a
 * second sender does not take it too, and a sender that dies with it
 * leaves it due again after retry_min (sent late, not lost). */
static bool outbox_claim(struct outbox *ob, const struct outbox_row *r)
{
	int rc = store_outbox_claim(ob->st, r->id, ob->now, (int64_t)time(NULL) + ob->o->retry_min);
	if (rc < 0)
		outbox_warn(ob, "claim");
	return rc == 0;
}

static bool outbox_is_admin(const struct outbox_row *r)
{
	return g_str_has_suffix(r->kind, "-admin");
}

/* The decoded Subject of a stored alert, for the summary (the header
 * walk is common/mailhdr's: unfolded, first Subject field). */
static char *outbox_subject(GBytes *body)
{
	gsize len;
	const unsigned char *d = g_bytes_get_data(body, &len);
	char *raw = mailhdr_get(d, len, "Subject", 1000);
	mailfmt_mime_init();
	char *dec = raw ? g_mime_utils_header_decode_text(NULL, raw) : g_strdup("");
	g_free(raw);
	char *safe = notify_header_safe(dec, 200);
	g_free(dec);
	return safe;
}

static const char summary_tmpl[] =
    "Subject: [{{hostname}}] {{mail_id}} more content filter alerts folded\n"
    "\n"
    "More alerts for this address than [notify] admin_rate_limit allows in a\n"
    "minute were due on {{hostname}}. They are folded into this summary\n"
    "(kind, mail id, subject); scand-notify render KIND MAIL_ID shows any of them.\n"
    "\n"
    "{{#each subject}}  {{this}}\n{{/each}}";

static GBytes *outbox_summary_body(struct outbox *ob, const char *rcpt, GPtrArray *rows)
{
	char *err = NULL;
	struct notify_tmpl *t = notify_tmpl_parse("(summary)", summary_tmpl, sizeof(summary_tmpl) - 1, &err);
	struct notify_vars v;
	char count[32];
	size_t len = 0;

	if (!t)
		msg_panic("outbox: built-in summary template: %s", err);
	notify_vars_init(&v);
	g_snprintf(count, sizeof(count), "%u", rows->len);
	notify_vars_add(&v, NV_HOSTNAME, ob->o->hostname);
	notify_vars_add(&v, NV_MAIL_ID, count);
	for (guint i = 0; i < rows->len; i++) {
		const struct outbox_row *r = rows->pdata[i];
		char *subj = outbox_subject(r->body);
		char *line = g_strdup_printf("%s %s: %s", r->kind, r->mail_id, subj);
		notify_vars_add(&v, NV_SUBJECT, line);
		g_free(line);
		g_free(subj);
	}
	struct notify_msg_spec spec = {.from = ob->o->from,
	                               .to = rcpt,
	                               .hostname = ob->o->hostname,
	                               .mail_id = "summary",
	                               .kind = "admin-summary",
	                               .tmpl = t,
	                               .vars = &v,
	                               .date = ob->now};
	char *body = notify_build_message(&spec, &len, &err);
	if (!body) {
		msg_warn("outbox: summary for <%s>: %s", rcpt, err);
		g_free(err);
	}
	notify_vars_clear(&v);
	notify_tmpl_free(t);
	return body ? g_bytes_new_take(body, len) : NULL;
}

/* Queues one summary for rows and marks them folded: one transaction. */
static void outbox_fold(struct outbox *ob, const char *rcpt, GPtrArray *rows)
{
	if (store_outbox_count_summaries(ob->st, rcpt, ob->now - 60) != 0)
		return; /* one summary a minute: the rest wait (or the count failed) */
	GBytes *body = outbox_summary_body(ob, rcpt, rows);
	if (!body)
		return;
	gsize len;
	const void *d = g_bytes_get_data(body, &len);
	int64_t *ids = g_new(int64_t, rows->len), summary;
	for (guint i = 0; i < rows->len; i++)
		ids[i] = ((struct outbox_row *)rows->pdata[i])->id;
	if (store_outbox_fold(ob->st, rcpt, d, len, ob->now, ids, rows->len, &summary) == 0) {
		ob->stats->folded += (int)rows->len;
		ob->stats->summaries++;
	} else {
		outbox_warn(ob, "fold");
	}
	g_free(ids);
	g_bytes_unref(body);
}

/* Whether an admin row is within its address's allowance (counted down). */
static bool outbox_allowed(struct outbox *ob, GHashTable *left, const struct outbox_row *r)
{
	gpointer v;
	int64_t n;
	if (g_hash_table_lookup_extended(left, r->rcpt, NULL, &v)) {
		n = GPOINTER_TO_INT(v);
	} else {
		int64_t recent = store_outbox_count_sent_admin(ob->st, r->rcpt, ob->now - 60);
		n = ob->o->admin_rate_limit - (recent < 0 ? 0 : recent);
	}
	g_hash_table_insert(left, g_strdup(r->rcpt), GINT_TO_POINTER((int)(n > 0 ? n - 1 : 0)));
	return n > 0;
}

void notify_outbox_opts_init(struct notify_outbox_opts *o, const struct conf *c)
{
	o->hostname = notify_conf_hostname(c);
	o->from = notify_conf_from(c, o->hostname);
	o->forward = g_strdup(conf_str(c, "notify", "forward"));
	o->retry_min = conf_int(c, "notify", "retry_min");
	o->retry_max = conf_int(c, "notify", "retry_max");
	o->give_up_after = conf_int(c, "notify", "give_up_after");
	o->admin_rate_limit = conf_int(c, "notify", "admin_rate_limit");
}

void notify_outbox_opts_clear(struct notify_outbox_opts *o)
{
	g_free(o->hostname);
	g_free(o->from);
	g_free(o->forward);
	memset(o, 0, sizeof(*o));
}

int notify_outbox_run(struct store *st, const struct notify_outbox_opts *o, time_t now,
                      struct notify_run_stats *stats)
{
	struct outbox ob = {.st = st, .o = o, .now = now, .stats = stats};
	GHashTable *left = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTable *fold =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
	GPtrArray *rows = NULL;
	int rc = -1;

	memset(stats, 0, sizeof(*stats));
	if (!(rows = outbox_due(&ob)))
		goto done;
	for (guint i = 0; i < rows->len; i++) {
		struct outbox_row *r = rows->pdata[i];
		if (outbox_is_admin(r) && !outbox_allowed(&ob, left, r)) {
			GPtrArray *list = g_hash_table_lookup(fold, r->rcpt);
			if (!list) {
				list = g_ptr_array_new();
				g_hash_table_insert(fold, g_strdup(r->rcpt), list);
			}
			g_ptr_array_add(list, r);
			continue;
		}
		if (!outbox_claim(&ob, r))
			continue; /* another sender has it */
		char *why = NULL;
		int cls = outbox_send(o->forward, o->hostname, r->rcpt, r->body, &why);
		outbox_mark(&ob, r, cls, why);
		g_free(why);
	}
	GHashTableIter it;
	gpointer k, v;
	g_hash_table_iter_init(&it, fold);
	while (g_hash_table_iter_next(&it, &k, &v))
		outbox_fold(&ob, k, v);
	rc = 0;
done:
	g_hash_table_destroy(fold);
	g_hash_table_destroy(left);
	if (rows)
		g_ptr_array_free(rows, TRUE);
	return rc;
}

/* ---- queueing for an existing message ---- */

int notify_outbox_queue(struct store *st, const char *mail_id, const struct store_alert *a, size_t n,
                        char **err)
{
	if (store_outbox_queue(st, mail_id, a, n, (int64_t)time(NULL)) == 0)
		return 0;
	*err = g_strdup_printf("outbox: %s", store_error(st));
	return -1;
}

/* ---- the sender thread ---- */

struct notify_sender {
	GThread *thread;
	GMutex lock;
	GCond cond;
	bool stop, kicked;
	struct store *st;
	struct notify_outbox_opts o; /* under lock */
};

static void notify_sender_opts_copy(struct notify_sender *s, struct notify_outbox_opts *o)
{
	g_mutex_lock(&s->lock);
	*o = s->o;
	o->hostname = g_strdup(s->o.hostname);
	o->from = g_strdup(s->o.from);
	o->forward = g_strdup(s->o.forward);
	g_mutex_unlock(&s->lock);
}

static gpointer notify_sender_main(gpointer arg)
{
	struct notify_sender *s = arg;
	struct notify_run_stats stats;

	g_mutex_lock(&s->lock);
	while (!s->stop) {
		s->kicked = false;
		g_mutex_unlock(&s->lock); /* a run takes seconds: kicks must not wait for it */
		struct notify_outbox_opts o;
		notify_sender_opts_copy(s, &o);
		notify_outbox_run(s->st, &o, time(NULL), &stats);
		notify_outbox_opts_clear(&o);
		g_mutex_lock(&s->lock);
		gint64 until = g_get_monotonic_time() + G_TIME_SPAN_SECOND;
		while (!s->stop && !s->kicked)
			if (!g_cond_wait_until(&s->cond, &s->lock, until))
				break;
	}
	g_mutex_unlock(&s->lock);
	return NULL;
}

struct notify_sender *notify_sender_start(const struct conf *c, struct store *st)
{
	struct notify_sender *s = g_new0(struct notify_sender, 1);
	s->st = st;
	notify_outbox_opts_init(&s->o, c);
	g_mutex_init(&s->lock);
	g_cond_init(&s->cond);
	s->thread = g_thread_new("notify-sender", notify_sender_main, s);
	return s;
}

void notify_sender_reconfigure(struct notify_sender *s, const struct conf *c)
{
	struct notify_outbox_opts o, old;
	if (!s)
		return;
	notify_outbox_opts_init(&o, c);
	g_mutex_lock(&s->lock);
	old = s->o;
	s->o = o;
	g_mutex_unlock(&s->lock);
	notify_outbox_opts_clear(&old);
}

/* Sets flag (kicked or stop) under the lock and wakes the sender thread. */
static void sender_wake(struct notify_sender *s, bool *flag)
{
	g_mutex_lock(&s->lock);
	*flag = true;
	g_cond_signal(&s->cond);
	g_mutex_unlock(&s->lock);
}

void notify_sender_kick(struct notify_sender *s)
{
	if (s)
		sender_wake(s, &s->kicked);
}

void notify_sender_stop(struct notify_sender *s)
{
	if (!s)
		return;
	sender_wake(s, &s->stop);
	g_thread_join(s->thread);
	g_mutex_clear(&s->lock);
	g_cond_clear(&s->cond);
	store_close(s->st);
	notify_outbox_opts_clear(&s->o);
	g_free(s);
}
