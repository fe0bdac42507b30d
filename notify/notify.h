/*
 * notify - alerts to senders, recipients and admins
 *
 * Templates. One plain file per kind (notify_kind_name()): a header block
 * ("Subject: ..." required, other fields optional, except the ones notify
 * sets itself: From, To, Cc, Bcc, Date, Message-ID, MIME-Version,
 * Content-*, Auto-Submitted, Received, Return-Path), an empty line, the
 * body. Placeholders {{sender}} {{recipients}} {{virus_names}}
 * {{banned_names}} {{spam_score}} {{spam_tests}} {{category}} {{mail_id}}
 * {{quarantine_path}} {{subject}} {{message_id}} {{client_addr}} {{date}}
 * {{hostname}} {{original_headers}}, for the digest {{total}} {{more}} and
 * {{#each items}} whose item fields (enum notify_item_field) are named
 * inside it; blocks {{#if x}}..{{else}}..{{/if}}
 * and {{#each x}}..{{this}}..{{/each}} (every placeholder is a list of
 * strings; a plain one has zero or one element; in running text a list is
 * joined with ", "). Templates are parsed into a small tree when loaded;
 * an unknown placeholder, an unclosed or mismatched block, {{this}}
 * outside {{#each}} or a bad header line is an error "FILE:LINE: what".
 * A template file named *.html (digest.html) is a body only, every value
 * HTML-escaped; notify_build_message() makes it the text/html alternative.
 *
 * Where templates are looked up, per kind, first found wins:
 *   [notify] template_dir/<language>/KIND, [notify] template_dir/KIND,
 *   SHIPPED/<language>/KIND, SHIPPED/KIND
 * (the language steps only when [notify] language is set). So an admin can
 * override one template, and a language directory may hold only some kinds.
 * SHIPPED is the caller's shipped_dir argument, or when NULL [notify]
 * shipped_dir (default /usr/local/share/gatehouse/templates, where make
 * install puts them; contrib/scand.conf.run and the tests use the
 * repository's templates/).
 *
 * Who is alerted (notify_alerts(), from the verdict after policy):
 *  - VIRUS: virus-admin to each [notify] virus_admin address;
 *    virus-recipient to each recipient whose destiny is not pass when
 *    warn_virus_recipient; virus-sender when warn_virus_sender.
 *  - BANNED: the same with banned_admin / warn_banned_*.
 *  - SPAM (kill level): spam-admin to each spam_admin address.
 *  - Never a sender or recipient alert when the envelope sender is <>, or
 *    when the message is itself automatic (Auto-Submitted other than "no",
 *    Precedence bulk, list or junk): those cannot be answered without risk
 *    of a loop or backscatter. Admin alerts still go out (they stay local
 *    and the admin wants to know about the virus).
 *  - Never a virus-sender alert when any virus name matches a glob of
 *    [notify] forged_sender_viruses (comma separated, case-insensitive;
 *    default "*": every virus forges its sender). Test signatures never
 *    match, so that a sender testing with EICAR hears back: names that
 *    contain "eicar", "test-signature", "test.file", "clamav-test" or
 *    "gatehouse-test"/"gatehouse.test" (case-insensitive).
 *  - An address that is not a plain ASCII addr-spec (control characters,
 *    space, quotes, <>, 8-bit, no '@') is never alerted; a bare admin name
 *    such as "postmaster" gets "@<hostname>".
 * Each recipient alert names only that recipient in {{recipients}}, so that
 * one recipient never learns the others (Bcc).
 *
 * Messages are built with GMime: Date, Message-ID, From ([notify] from, or
 * "Content filter at HOST" <postmaster@HOST>), To, Subject (RFC 2047 when
 * not ASCII, folded; cut at NOTIFY_SUBJECT_MAX characters), MIME-Version,
 * text/plain; charset=UTF-8 in 7bit, quoted-printable or base64,
 * Auto-Submitted: auto-generated; admin alerts with [notify]
 * attach_headers carry the original header block as text/rfc822-headers in
 * a multipart/mixed. Every value that reaches a header has CR, LF and
 * other control characters replaced by spaces; body values lose bare CRs.
 * Line ends are CRLF. The envelope sender of every alert is <>.
 *
 * Outbox. notify_alerts() returns the rows; scand passes them to
 * gc_put() (store_put() in the group commit) with the verdict (one
 * transaction), held until the attempt's answer is known
 * (schema/005-attempts.sql); only 'pending' rows are ever due. The sender
 * (thread or
 * notify_outbox_run()) claims each due row (next_try moved retry_min
 * ahead, so a second sender skips it and a sender killed mid-send leaves it
 * due again) and delivers it with libesmtp to [notify] forward:
 * 2xx -> one UPDATE marks the row sent (a crash between the 250 and the
 * UPDATE sends it again: twice, never zero times); 4xx or no connection ->
 * attempts+1, next_try = now + min(retry_max, retry_min * 2^(attempts-1)),
 * until give_up_after since creation -> failed; 5xx -> failed at once.
 * last_error keeps the reason. Admin alerts (kind *-admin) are limited to
 * [notify] admin_rate_limit a minute per address; the excess is folded
 * into one "admin-summary" alert per address and minute (the folded rows
 * are marked sent with last_error "folded into summary N").
 *
 * Integration in scand (done in scand/pipeline.c and scand/server.c):
 *   srv_run(), after conf_load and before dropping privileges/chroot:
 *        struct notify *nt = notify_load(c, NULL, &err);  -- [notify] shipped_dir
 *        if (!nt) msg_fatal("%s", err);   -- err has FILE:LINE per problem;
 *                                            scand refuses to start
 *        struct store *nst; store_open(db, busy, &nst, &err);  -- as root,
 *                                            like the workers' handles
 *   after daemon(), the privilege drop and pthread_sigmask() blocking
 *   SIGTERM/SIGINT/SIGHUP (the thread inherits the mask; without it a
 *   SIGTERM could land in the sender and kill the process):
 *        struct notify_sender *snd = notify_sender_start(c, nst);
 *   pipeline.c store_record(), which builds struct store_msg sm from the
 *   message after policy (destinies set) and quarantine (quar_path):
 *        struct store_alert *al; size_t nal;
 *        notify_alerts(nt, &sm, data, header_len, &al, &nal);
 *        int r = gc_put(&sm, al, nal, ...);  -- sm.attempt "open": the
 *                                              rows go in "held"
 *        notify_alerts_free(al, nal);
 *   pipeline.c attempt_settle(), once the answer is known and before it
 *   is given: gc_settle() releases them ("pending") or, for an attempt
 *   answered 4xx, cancels them; then notify_sender_kick(snd).
 *   SIGHUP (srv_reload): n2 = notify_load(new conf, NULL, &err); on success
 *        swap it in (readers hold a reference as for the config), else
 *        log err and keep the old set; notify_sender_reconfigure(snd, c).
 *   exit, after the workers are joined: notify_sender_stop(snd) (closes
 *        nst); notify_free(nt).
 * notify_alerts() is thread-safe on a shared struct notify (read only).
 * Errors: functions returning int give 0 or -1 with *err (g_free);
 * notify_alerts() only fails on an impossible state (msg_panic) and logs
 * (msg_warn) alerts it refuses to build.
 */
#ifndef GH_NOTIFY_H
#define GH_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <glib.h>

#include "conf.h"
#include "store.h"

#define NOTIFY_SUBJECT_MAX 200 /* characters of a rendered Subject */

enum notify_kind {
	NOTIFY_VIRUS_SENDER = 0,
	NOTIFY_VIRUS_RECIPIENT,
	NOTIFY_VIRUS_ADMIN,
	NOTIFY_BANNED_SENDER,
	NOTIFY_BANNED_RECIPIENT,
	NOTIFY_BANNED_ADMIN,
	NOTIFY_SPAM_ADMIN,
	NOTIFY_RELEASE,
	NOTIFY_DIGEST,      /* the recipients' digest, text part (digest.c) */
	NOTIFY_DIGEST_HTML, /* its HTML part: "digest.html", a body only */
	NOTIFY_NKINDS
};

const char *notify_kind_name(enum notify_kind k); /* "virus-sender", ... */
int notify_kind_parse(const char *name);          /* -1 if unknown */

/* ---- templates (tmpl.c) ---- */

enum notify_var {
	NV_SENDER = 0,
	NV_RECIPIENTS,
	NV_VIRUS_NAMES,
	NV_BANNED_NAMES,
	NV_SPAM_SCORE,
	NV_SPAM_TESTS,
	NV_CATEGORY,
	NV_MAIL_ID,
	NV_QUARANTINE_PATH,
	NV_SUBJECT,
	NV_MESSAGE_ID,
	NV_CLIENT_ADDR,
	NV_DATE,
	NV_HOSTNAME,
	NV_ORIGINAL_HEADERS,
	NV_ITEMS, /* {{#each items}}: the digest's items (notify_vars.items) */
	NV_MORE,  /* items not listed ("and N more") */
	NV_TOTAL, /* items in all */
	NV_COUNT
};

/* The fields of one item of {{#each items}}. */
enum notify_item_field {
	NI_TIME = 0,
	NI_SENDER,
	NI_SUBJECT,
	NI_CATEGORY,
	NI_SIZE,
	NI_MAIL_ID,
	NI_VIEW_URL,
	NI_RELEASE_URL, /* only for a self-releasable category */
	NI_DELETE_URL,
	NI_ALLOW_URL, /* release and allow the sender: as release_url, not for <> */
	NI_BLOCK_URL, /* block the sender: not for <> */
	NI_COUNT
};

struct notify_item {
	char *f[NI_COUNT]; /* owned; NULL = empty */
};

/* The values of one alert: each placeholder is a list of strings (owned);
 * items the records {{#each items}} walks. */
struct notify_vars {
	GPtrArray *v[NV_COUNT];
	GPtrArray *items; /* struct notify_item * */
};

struct notify_tmpl; /* one parsed template file */

/* Parses a template; file is used in messages only. NULL + *err on error. */
struct notify_tmpl *notify_tmpl_parse(const char *file, const char *text, size_t len, char **err);
/* Reads and parses a file. */
struct notify_tmpl *notify_tmpl_load(const char *path, char **err);
void notify_tmpl_free(struct notify_tmpl *t);
const char *notify_tmpl_file(const struct notify_tmpl *t);
/* Header fields of the template, rendered and made safe: names[i]: values[i]
 * (both g_ptr_array of char*, owned by the caller), Subject included. */
void notify_tmpl_render_headers(const struct notify_tmpl *t, const struct notify_vars *v, GPtrArray *names,
                                GPtrArray *values);
/* The body, rendered, LF line ends, no CR. g_free(). */
char *notify_tmpl_render_body(const struct notify_tmpl *t, const struct notify_vars *v);

void notify_vars_init(struct notify_vars *v);
void notify_vars_clear(struct notify_vars *v);
/* Appends one value to a placeholder (copied; NULL and "" are skipped). */
void notify_vars_add(struct notify_vars *v, enum notify_var k, const char *value);
/* Splits a comma separated list into values. */
void notify_vars_add_csv(struct notify_vars *v, enum notify_var k, const char *csv);
/* A new empty item at the end of items, and one of its fields (copied;
 * NULL and "" leave it empty). */
struct notify_item *notify_vars_add_item(struct notify_vars *v);
void notify_item_set(struct notify_item *it, enum notify_item_field f, const char *value);

/* Header value safety: CR, LF and other controls -> space, invalid UTF-8
 * repaired, runs of spaces collapsed, cut at max characters (0 = no cut)
 * with "...". g_free(). */
char *notify_header_safe(const char *s, size_t max);

/* ---- the alert set and messages (notify.c, build.c) ---- */

struct notify; /* templates + options from one config; immutable */

struct notify *notify_load(const struct conf *c, const char *shipped_dir, char **err);
/* A set is reference counted: notify_ref() takes one more, notify_free()
 * drops one and frees the set with the last (so a reload can swap sets
 * while workers still use the old one). */
struct notify *notify_ref(struct notify *n);
void notify_free(struct notify *n);
/* [scand] hostname or the system's name; the From of alerts. g_free(). */
char *notify_conf_hostname(const struct conf *c);
char *notify_conf_from(const struct conf *c, const char *hostname);
const struct notify_tmpl *notify_template(const struct notify *n, enum notify_kind k);

/* The alerts for one verdict (after policy): m is the verdict record as
 * the store will hold it (category, sender, recipients with their
 * destinies, virus/banned names, spam score and tests, quarantine path),
 * hdr/hdr_len the original message's header block (NULL when unknown: no
 * {{original_headers}}, and the Auto-Submitted/Precedence guard cannot
 * look). *out (may be NULL when *n = 0) is freed with notify_alerts_free(). */
void notify_alerts(const struct notify *n, const struct store_msg *m, const unsigned char *hdr,
                   size_t hdr_len, struct store_alert **out, size_t *nout);
void notify_alerts_free(struct store_alert *a, size_t n);

/* One alert of any kind for a stored message (preview, release notice).
 * rcpt: the To address. 0, or -1 with *err. Free the row's fields with
 * notify_alerts_free(row, 1) semantics: use notify_alert_clear(). */
int notify_render_stored(const struct notify *n, const struct store_msg *m, enum notify_kind k,
                         const char *rcpt, struct store_alert *out, char **err);
void notify_alert_clear(struct store_alert *a);
/* The digest message for to from v (digest.c fills v; {{hostname}} is
 * added here): text and HTML alternatives. 0, or -1 with *err. */
int notify_render_digest(const struct notify *n, const char *to, struct notify_vars *v, struct store_alert *out,
                         char **err);

/* Whether a message is itself automatic (Auto-Submitted not "no",
 * Precedence bulk/list/junk), looking at its header block. */
bool notify_is_auto_generated(const unsigned char *data, size_t len);
/* Whether a virus name is a test signature (never treated as forging). */
bool notify_is_test_virus(const char *name);

/* build.c: the RFC 5322 message for one alert, CRLF. NULL + *err. */
struct notify_msg_spec {
	const char *from;     /* mailbox list text for From */
	const char *to;       /* one addr-spec */
	const char *hostname; /* for Message-ID */
	const char *mail_id;  /* for Message-ID */
	const char *kind;
	const struct notify_tmpl *tmpl;
	const struct notify_tmpl *html; /* NULL, or an HTML alternative of the body */
	const struct notify_vars *vars;
	const char *attach_headers; /* NULL or the original header block */
	time_t date;
};
char *notify_build_message(const struct notify_msg_spec *s, size_t *len, char **err);

/* ---- the outbox (outbox.c) ---- */

struct notify_run_stats {
	int sent, retried, failed, folded, summaries;
};

/* What the sender needs from the config, copied (it outlives reloads). */
struct notify_outbox_opts {
	char *forward, *hostname, *from;
	int64_t retry_min, retry_max, give_up_after, admin_rate_limit;
};
void notify_outbox_opts_init(struct notify_outbox_opts *o, const struct conf *c);
void notify_outbox_opts_clear(struct notify_outbox_opts *o);

/* Delivers every due row once. 0, or -1 when the database failed. */
int notify_outbox_run(struct store *st, const struct notify_outbox_opts *o, time_t now,
                      struct notify_run_stats *stats);

/* Queues alerts for an existing message (release notices, re-sends):
 * one transaction. 0, or -1 with *err. */
int notify_outbox_queue(struct store *st, const char *mail_id, const struct store_alert *a, size_t n,
                        char **err);

struct notify_sender;
/* A thread that runs the outbox every second, or at once after
 * notify_sender_kick(), on st (opened by the caller for this thread only;
 * the sender closes it at stop). Never fails (g_thread_new aborts). */
struct notify_sender *notify_sender_start(const struct conf *c, struct store *st);
void notify_sender_reconfigure(struct notify_sender *s, const struct conf *c); /* after SIGHUP */
void notify_sender_kick(struct notify_sender *s);
void notify_sender_stop(struct notify_sender *s); /* NULL is fine */

#endif
