/*
 * outbox - deliver the alerts in the outbox table, at least once
 *
 * notify_outbox_run() takes the due pending rows (oldest first) and sends
 * each in its own SMTP session with libesmtp to [notify] forward, envelope
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
#include <stddef.h> /* libesmtp.h needs size_t */

#include <libesmtp.h>

#include <gmime/gmime.h>
#include <glib.h>
#include <string.h>

#include "esmtpsrc.h"
#include "log.h"
#include "mailfmt.h"
#include "notify.h"

#define OUTBOX_BATCH 200
#define OUTBOX_TIMEOUT 60 /* seconds for each SMTP step */

enum {
	OB_DUE,
	OB_CLAIM,
	OB_SENT,
	OB_RETRY,
	OB_FAILED,
	OB_RECENT,
	OB_SUMMARY_RECENT,
	OB_INSERT,
	OB_FOLDED,
	OB_NSTMT
};

static const char *const outbox_sql[OB_NSTMT] = {
    [OB_DUE] = "SELECT id, created, mail_id, kind, rcpt, body, attempts FROM outbox "
               "WHERE state = 'pending' AND next_try <= ?1 ORDER BY id LIMIT ?2",
    [OB_SENT] = "UPDATE outbox SET state = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = ?3 "
                "WHERE id = ?1",
    [OB_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_try = ?2, last_error = ?3 WHERE id = ?1",
    [OB_FAILED] =
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
    [OB_RECENT] = "SELECT count(*) FROM outbox WHERE rcpt = ?1 AND kind LIKE '%-admin' AND state = 'sent' "
                  "AND sent_at > ?2",
    [OB_SUMMARY_RECENT] =
        "SELECT count(*) FROM outbox WHERE rcpt = ?1 AND kind = 'admin-summary' AND created > ?2",
    [OB_INSERT] = "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try) "
                  "VALUES (?1, '', 'admin-summary', '', ?2, ?3, ?1)",
    [OB_FOLDED] = "UPDATE outbox SET state = 'sent', last_error = ?2 WHERE id = ?1 AND state = 'pending'",
    [OB_CLAIM] = "UPDATE outbox SET next_try = ?2 WHERE id = ?1 AND state = 'pending' AND next_try <= ?3",
};

struct outbox_row {
	int64_t id, created, attempts;
	char *mail_id, *kind, *rcpt;
	GBytes *body;
};

struct outbox {
	sqlite3 *db;
	sqlite3_stmt *s[OB_NSTMT];
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

static int outbox_prepare(struct outbox *ob)
{
	for (int i = 0; i < OB_NSTMT; i++)
		if (sqlite3_prepare_v2(ob->db, outbox_sql[i], -1, &ob->s[i], NULL) != SQLITE_OK) {
			msg_warn("outbox: prepare: %s", sqlite3_errmsg(ob->db));
			return -1;
		}
	return 0;
}

static void outbox_finalize(struct outbox *ob)
{
	for (int i = 0; i < OB_NSTMT; i++)
		sqlite3_finalize(ob->s[i]);
}

/* Steps a write statement and resets it; 0 or -1 (logged). */
static int outbox_step(struct outbox *ob, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == SQLITE_DONE)
		return 0;
	msg_warn("outbox: %s: %s", what, sqlite3_errmsg(ob->db));
	return -1;
}

static int64_t outbox_count(struct outbox *ob, int which, const char *rcpt, int64_t since)
{
	sqlite3_stmt *s = ob->s[which];
	int64_t n = -1;
	sqlite3_bind_text(s, 1, rcpt, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, since);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return n;
}

static char *outbox_col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return g_strdup(t ? (const char *)t : "");
}

static GPtrArray *outbox_due(struct outbox *ob)
{
	sqlite3_stmt *s = ob->s[OB_DUE];
	GPtrArray *rows = g_ptr_array_new_with_free_func(outbox_row_free);
	int rc;
	sqlite3_bind_int64(s, 1, ob->now);
	sqlite3_bind_int(s, 2, OUTBOX_BATCH);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct outbox_row *r = g_new0(struct outbox_row, 1);
		r->id = sqlite3_column_int64(s, 0);
		r->created = sqlite3_column_int64(s, 1);
		r->mail_id = outbox_col(s, 2);
		r->kind = outbox_col(s, 3);
		r->rcpt = outbox_col(s, 4);
		r->body = g_bytes_new(sqlite3_column_blob(s, 5), (gsize)sqlite3_column_bytes(s, 5));
		r->attempts = sqlite3_column_int64(s, 6);
		g_ptr_array_add(rows, r);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		msg_warn("outbox: select due: %s", sqlite3_errmsg(ob->db));
		g_ptr_array_free(rows, TRUE);
		return NULL;
	}
	return rows;
}

/* ---- one SMTP transaction ---- */

/* 2, 4 or 5 from a status; anything but 2xx/5xx counts as temporary. */
static int outbox_class(const smtp_status_t *st, char **why, const char *step)
{
	int code = st ? st->code : 0;
	if (code >= 200 && code < 300)
		return 2;
	char *text = log_printable(st && st->text ? st->text : "no answer", 300);
	g_strchomp(text);
	*why = g_strdup_printf("%s: %d %s", step, code, text);
	g_free(text);
	return code >= 500 && code < 600 ? 5 : 4;
}

static void outbox_timeouts(smtp_session_t s)
{
	int which[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA, Timeout_TRANSFER, Timeout_DATA2};
	for (size_t i = 0; i < G_N_ELEMENTS(which); i++)
		smtp_set_timeout(s, which[i] | Timeout_OVERRIDE_RFC2822_MINIMUM, OUTBOX_TIMEOUT);
}

/* Sends one alert: 2 sent, 4 try again, 5 give up; *why set unless 2. */
static int outbox_send(const char *server, const char *helo, const char *rcpt, GBytes *body, char **why)
{
	smtp_session_t session = smtp_create_session();
	smtp_message_t m = smtp_add_message(session);
	struct esmtpsrc src = {.data = g_bytes_get_data(body, &src.len)};
	int cls;

	smtp_set_server(session, server);
	smtp_set_hostname(session, helo);
	outbox_timeouts(session);
	smtp_set_reverse_path(m, "");
	smtp_recipient_t r = smtp_add_recipient(m, rcpt);
	smtp_set_messagecb(m, esmtpsrc_cb, &src);
	if (!smtp_start_session(session)) {
		char buf[256];
		const char *e = smtp_strerror(smtp_errno(), buf, sizeof(buf));
		*why = g_strdup_printf("%s: %s", server, e ? e : "connection failed");
		smtp_destroy_session(session);
		return 4;
	}
	cls = outbox_class(smtp_reverse_path_status(m), why, "MAIL FROM");
	if (cls == 2)
		cls = outbox_class(smtp_recipient_status(r), why, "RCPT TO");
	if (cls == 2)
		cls = outbox_class(smtp_message_transfer_status(m), why, "DATA");
	smtp_destroy_session(session);
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
	sqlite3_stmt *s;

	if (cls == 2) {
		s = ob->s[OB_SENT];
		sqlite3_bind_int64(s, 2, ob->now);
		sqlite3_bind_text(s, 3, "", -1, SQLITE_STATIC);
		ob->stats->sent++;
		msg_info("(%s) %s alert sent to <%s>", r->mail_id, r->kind, p);
	} else if (give_up) {
		s = ob->s[OB_FAILED];
		sqlite3_bind_text(s, 2, why, -1, SQLITE_TRANSIENT);
		ob->stats->failed++;
		msg_warn("(%s) %s alert to <%s> failed: %s", r->mail_id, r->kind, p, why);
	} else {
		s = ob->s[OB_RETRY];
		sqlite3_bind_int64(s, 2, ob->now + outbox_backoff(ob->o, r->attempts + 1));
		sqlite3_bind_text(s, 3, why, -1, SQLITE_TRANSIENT);
		ob->stats->retried++;
		msg_info("(%s) %s alert to <%s> deferred: %s", r->mail_id, r->kind, p, why);
	}
	sqlite3_bind_int64(s, 1, r->id);
	outbox_step(ob, s, "mark");
	g_free(p);
}

/* ---- admin rate limit ---- */

/* Takes a due row for this sender: its next_try moves retry_min ahead, so a
 * second sender does not take it too, and a sender that dies with it
 * leaves it due again after retry_min (sent late, not lost). */
static bool outbox_claim(struct outbox *ob, const struct outbox_row *r)
{
	sqlite3_stmt *s = ob->s[OB_CLAIM];
	sqlite3_bind_int64(s, 1, r->id);
	sqlite3_bind_int64(s, 2, (int64_t)time(NULL) + ob->o->retry_min);
	sqlite3_bind_int64(s, 3, ob->now);
	return outbox_step(ob, s, "claim") == 0 && sqlite3_changes(ob->db) == 1;
}

static bool outbox_is_admin(const struct outbox_row *r)
{
	return g_str_has_suffix(r->kind, "-admin");
}

/* The decoded Subject of a stored alert, for the summary. */
static char *outbox_subject(GBytes *body)
{
	gsize len;
	const char *d = g_bytes_get_data(body, &len);
	GString *raw = NULL;
	char *text = g_strndup(d, len);
	char **lines = g_strsplit(text, "\r\n", -1);
	for (char **l = lines; *l && **l; l++) {
		if (raw && (**l == ' ' || **l == '\t'))
			g_string_append(raw, *l);
		else if (raw)
			break;
		else if (g_ascii_strncasecmp(*l, "Subject:", 8) == 0)
			raw = g_string_new(*l + 8);
	}
	mailfmt_mime_init();
	char *dec = raw ? g_mime_utils_header_decode_text(NULL, raw->str) : g_strdup("");
	if (raw)
		g_string_free(raw, TRUE);
	g_strfreev(lines);
	g_free(text);
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
	if (outbox_count(ob, OB_SUMMARY_RECENT, rcpt, ob->now - 60) != 0)
		return; /* one summary a minute: the rest wait */
	GBytes *body = outbox_summary_body(ob, rcpt, rows);
	if (!body)
		return;
	if (sqlite3_exec(ob->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		msg_warn("outbox: begin: %s", sqlite3_errmsg(ob->db));
		g_bytes_unref(body);
		return;
	}
	sqlite3_stmt *s = ob->s[OB_INSERT];
	gsize len;
	const void *d = g_bytes_get_data(body, &len);
	sqlite3_bind_int64(s, 1, ob->now);
	sqlite3_bind_text(s, 2, rcpt, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob64(s, 3, d, len, SQLITE_TRANSIENT);
	int rc = outbox_step(ob, s, "insert summary");
	char *note =
	    g_strdup_printf("folded into summary %lld", (long long)sqlite3_last_insert_rowid(ob->db));
	for (guint i = 0; i < rows->len && rc == 0; i++) {
		s = ob->s[OB_FOLDED];
		sqlite3_bind_int64(s, 1, ((struct outbox_row *)rows->pdata[i])->id);
		sqlite3_bind_text(s, 2, note, -1, SQLITE_TRANSIENT);
		rc = outbox_step(ob, s, "mark folded");
	}
	if (rc == 0 && sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		ob->stats->folded += (int)rows->len;
		ob->stats->summaries++;
	} else {
		sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
	}
	g_free(note);
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
		int64_t recent = outbox_count(ob, OB_RECENT, r->rcpt, ob->now - 60);
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
	struct outbox ob = {.db = store_db(st), .o = o, .now = now, .stats = stats};
	GHashTable *left = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTable *fold =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
	GPtrArray *rows = NULL;
	int rc = -1;

	memset(stats, 0, sizeof(*stats));
	if (outbox_prepare(&ob) < 0 || !(rows = outbox_due(&ob)))
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
	outbox_finalize(&ob);
	return rc;
}

/* ---- queueing for an existing message ---- */

int notify_outbox_queue(struct store *st, const char *mail_id, const struct store_alert *a, size_t n,
                        char **err)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *s = NULL;
	int64_t now = (int64_t)time(NULL);
	int rc = -1;

	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try) "
	                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?1)",
	                       -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto done;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(s, 1, now);
		sqlite3_bind_text(s, 2, mail_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 3, a[i].kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 4, a[i].env_from, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 5, a[i].rcpt, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob64(s, 6, a[i].body, a[i].body_len, SQLITE_TRANSIENT);
		int step = sqlite3_step(s);
		sqlite3_reset(s);
		if (step != SQLITE_DONE) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto done;
		}
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		rc = 0;
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
done:
	if (rc < 0)
		*err = g_strdup_printf("outbox: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return rc;
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

void notify_sender_kick(struct notify_sender *s)
{
	if (!s)
		return;
	g_mutex_lock(&s->lock);
	s->kicked = true;
	g_cond_signal(&s->cond);
	g_mutex_unlock(&s->lock);
}

void notify_sender_stop(struct notify_sender *s)
{
	if (!s)
		return;
	g_mutex_lock(&s->lock);
	s->stop = true;
	g_cond_signal(&s->cond);
	g_mutex_unlock(&s->lock);
	g_thread_join(s->thread);
	g_mutex_clear(&s->lock);
	g_cond_clear(&s->cond);
	store_close(s->st);
	notify_outbox_opts_clear(&s->o);
	g_free(s);
}
