/*
 * store - the verdict store
 *
 * One store opened by scand, quarctl, scand-notify and scand-report. Every
 * statement on msgs, msgrcpt, outbox and events lives behind a function
 * here, named for what it does, so a schema change touches schema/ and
 * common/store* only. The store is a backend (a table of operations, see
 * store_backend.h) chosen by store_open() from the location: "sqlite:PATH"
 * or a plain PATH is SQLite (store_sqlite.c), the only backend today; any
 * other "scheme:" is refused. The SQLite backend sets WAL mode,
 * busy_timeout and foreign keys, and applies the embedded migrations
 * (schema/NNN-*.sql) in one IMMEDIATE transaction, so that two processes
 * opening a new file at once apply them once.
 *
 * store_put() writes a message row, its recipient rows and its outbox rows
 * in one transaction: all or nothing; store_put_many() does that for
 * several messages in one transaction (group commit). store_get() reads one message back by
 * mail id; store_list() walks messages matching a filter, newest first.
 * store_event() appends to the audit trail. Every row a handle adds
 * (msgs, events, outbox) carries its host (store_set_host(); store_open_conf()
 * sets [scand] hostname), and a verdict may carry its quarantine copy
 * (quar_blob, schema/009) into the same transaction. store_settle_rows() ends an
 * open attempt (final: its held alerts go out; deferred: they are
 * cancelled, and with purge its quarantine copy is marked gone);
 * store_recover_open() settles what a stopped scand left open.
 *
 * Every handle commits with synchronous = FULL: a commit returns only
 * after the WAL holding it was fsynced, so a verdict answered 250 survives
 * a power cut (group commit, store_put_many, pays it once per batch).
 *
 * All SQL is prepared; nothing is built by pasting strings. Functions
 * return 0 on success and -1 on failure with the reason in store_error()
 * (per handle); store_busy() says whether the failure was a lock timeout.
 * A handle is for one thread at a time; each thread opens its own.
 */
#ifndef GH_STORE_H
#define GH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lists.h"

struct store;

struct store_rcpt {
	char *addr;
	char *destiny;     /* pass, discard, bounce, reject, tempfail */
	char *smtp_answer; /* the reply given (or forwarded) for this recipient */
	int64_t released_at; /* 0 = not released */
	char *release_answer;
	char *dsn_notify, *dsn_orcpt; /* DSN NOTIFY and ORCPT as received; "" or NULL = none */
	int64_t deleted_at; /* 0, or when this recipient said "delete for me" (digest) */
	char *list_entry; /* the list entry that decided its spam verdict (list_entry_describe()); "" or NULL = none */
};

struct store_alert { /* an outbox row */
	char *kind;      /* virus-admin, banned-recipient, ... */
	char *env_from;  /* "" for <> */
	char *rcpt;
	char *body;      /* the whole message, CRLF line ends */
	size_t body_len;
};

struct store_msg {
	int64_t id; /* rowid, filled by store_put/store_get */
	char mail_id[13];
	int64_t time;
	char *client_addr, *client_name, *client_helo;
	char *sender, *from_hdr, *subject, *message_id;
	int64_t size;
	char *category; /* clean spammy oversized badh spam unchecked banned virus */
	char *virus_names, *banned_names;
	bool spam_checked;
	double spam_score;
	char *spam_tests;
	char *unchecked_reason;
	char *quar_path; /* NULL = not quarantined */
	int64_t quar_size;
	char *quar_sha256;
	char *quar_state; /* none quarantined released purged */
	/* files or database (schema/009): where the copy is kept. Writing a
	 * database copy, quar_blob/quar_blob_len are its bytes as stored
	 * (gzip), borrowed by store_put for its transaction, never read back
	 * into a store_msg (store_quar_blob_get) nor freed by store_msg_free */
	char *quar_backend;
	const void *quar_blob;
	size_t quar_blob_len;
	char *host; /* who wrote the row; NULL on write: the handle's (store_set_host) */
	/* open final deferred (schema/005): store_put writes NULL as "final";
	 * an "open" row's alerts are held until store_settle_rows() */
	char *attempt;
	int64_t scan_ms;
	char *policy, *engine;
	char *dsn_ret, *dsn_envid; /* DSN RET and ENVID as received; "" or NULL = none */
	size_t nrcpt;
	struct store_rcpt *rcpt;
};

struct store_filter {
	const char *category;   /* exact, or NULL */
	int64_t since, until;   /* time >= since, time < until; 0 = open */
	const char *sender;     /* LIKE pattern ('*' and '?' as glob), or NULL */
	const char *rcpt;       /* glob against any recipient, or NULL */
	const char *subject;    /* glob */
	const char *virus;      /* glob against virus_names */
	const char *quar_state; /* exact, or NULL */
	int limit;              /* 0 = no limit */
	int offset;
};

/* path: "sqlite:FILE" or FILE; an unknown "scheme:" fails with *err
 * naming it. */
int store_open(const char *path, int busy_timeout_ms, struct store **out, char **err);
/* The file of a store location: the path of a SQLite store ("sqlite:FILE"
 * or FILE), NULL for a backend that is no file (a "postgresql:" URL):
 * for what acts on the file itself (re-owning it before a privilege drop). */
const char *store_file(const char *path);
/* The store of a configuration: [scand] database with its busy_timeout,
 * the handle's host set to conf_hostname(c). Same results as store_open. */
struct conf;
int store_open_conf(const struct conf *c, struct store **out, char **err);
void store_close(struct store *st);
const char *store_error(struct store *st);
bool store_busy(struct store *st);
int store_version(struct store *st); /* PRAGMA user_version */
/* The host this handle writes into every row it adds (msgs, events,
 * outbox): the program's [scand] hostname (conf_hostname()). "" until
 * set; longer names are cut at 255 bytes. */
void store_set_host(struct store *st, const char *host);
const char *store_host(struct store *st);

/* Fills m->id. Alerts may be NULL/0. */
int store_put(struct store *st, struct store_msg *m, const struct store_alert *alerts, size_t nalerts);
/* Group commit: the rows of n messages in one transaction, each inside its
 * own savepoint, so that one message's failure (a constraint, say) costs
 * only its own rows. items[k].rc is 0 once the transaction committed with
 * that message in it; otherwise -1 with the reason in items[k].err and
 * items[k].busy set for a lock timeout. Returns 0 when the transaction
 * committed (some items may still have failed), -1 when nothing was kept.
 * An item with m NULL settles the attempt settle_id instead (as
 * store_settle_rows(); its alerts are queued pending). */
struct store_put_item {
	struct store_msg *m;
	const struct store_alert *alerts;
	size_t nalerts;
	const char *settle_id, *settle_outcome; /* when m is NULL */
	bool settle_purge;
	int rc;
	bool busy;
	char err[512];
};
int store_put_many(struct store *st, struct store_put_item *items, size_t n);
/* Inside the caller's transaction: the open attempt mail_id becomes
 * outcome ("final" or "deferred"); its held alerts become pending (final)
 * or cancelled (deferred); purge (deferred only) marks its quarantine copy
 * purged, for a caller that removes the file after the commit (a database
 * copy is deleted in the transaction); alerts
 * (may be NULL/0) are queued pending. A settled attempt is left as it is,
 * so settling twice is harmless. 0 or -1. */
int store_settle_rows(struct store *st, const char *mail_id, const char *outcome, bool purge,
                      const struct store_alert *alerts, size_t nalerts);
/* At scand's start, for attempts a stopped scand left open: one that has a
 * quarantine copy or held alerts settled before its answer (pipeline.c),
 * so open means the client heard nothing and will retry: it becomes
 * deferred, its held alerts cancelled (its copy stays until expire, marked
 * by the row as a deferred attempt, never released). Open rows with
 * neither stay open (their answer was only not recorded). *n = rows
 * settled. 0 or -1. */
int store_recover_open(struct store *st, int *n);
/* 0 found, 1 not found, -1 error. Free with store_msg_free(). */
int store_get(struct store *st, const char *mail_id, struct store_msg **out);
/* Calls fn for each match, newest first; fn returns non-zero to stop.
 * The message passed to fn is freed after fn returns. Returns the count or -1. */
int store_list(struct store *st, const struct store_filter *f,
	       int (*fn)(const struct store_msg *m, void *arg), void *arg);
int store_event(struct store *st, const char *mail_id, const char *action, const char *who,
		const char *detail, const char *result);
/* quarctl's writes. A message's quarantine state ("released", "purged"),
 * and one recipient served by a release (released_at, release_answer):
 * 0, 1 when no row matched, -1 on error (store_error()). */
int store_set_quar_state(struct store *st, const char *mail_id, const char *state);
int store_mark_rcpt_released(struct store *st, int64_t msg_rowid, const char *addr, int64_t when,
			     const char *answer);

/* The recipients' answers of messages already stored (scand's answer
 * writer): for each item, recipient k (rseq) gets answer[k] and
 * destiny[k], then its attempt is settled as outcome ("final" or
 * "deferred", as store_settle_rows() without purge or alerts). All items in
 * one transaction: 0, or -1 with nothing kept. */
struct store_answers {
	const char *mail_id;
	size_t n;
	char *const *answer;
	const char *const *destiny;
	const char *outcome;
};
int store_put_answers(struct store *st, const struct store_answers *a, size_t n);
/* How many messages store_list() would walk for f (limit and offset
 * ignored), or -1. */
int64_t store_count(struct store *st, const struct store_filter *f);

/* Quarantine checks (quar_fsck). store_purge_missing: a message whose file
 * is gone becomes purged if its state is still was: 0, 1 when the row is
 * no longer in that state, -1. store_quar_files: fn for every message that
 * keeps a file (quarantined or released, with a path); all rows are read
 * before the first fn, so fn may write to the store; the count or -1.
 * store_quar_path_kept: 1 a message keeps relpath now, 0 none, -1. */
struct store_quar_file {
	const char *mail_id, *relpath, *sha256, *state, *backend;
	int64_t size;
};
int store_purge_missing(struct store *st, const char *mail_id, const char *was);
int store_quar_files(struct store *st, int (*fn)(const struct store_quar_file *f, void *arg), void *arg);
int store_quar_path_kept(struct store *st, const char *relpath);
/* The database quarantine copy (quar_backend database, schema/009).
 * store_quar_blob_get: its bytes as stored (*data g_free): 0, 1 when the
 * message has no blob, -1. store_quar_blob_drop: deletes it (purge): 0, 1
 * when there was none, -1. Readers want quar_message_read() (quar.h),
 * which also checks the SHA-256. */
int store_quar_blob_get(struct store *st, const char *mail_id, void **data, size_t *len);
int store_quar_blob_drop(struct store *st, const char *mail_id);
/* Per category and quarantine state (quarantined released purged): the
 * count and bytes, ordered by category then state. 0 or -1. */
struct store_quar_stat {
	const char *category, *state;
	int64_t count, bytes;
};
int store_quar_stats(struct store *st, int (*fn)(const struct store_quar_stat *s, void *arg), void *arg);

/* The outbox (see notify.h "Outbox."). store_outbox_queue: alerts for an
 * existing message, pending from now, in one transaction. store_outbox_due:
 * fn for each pending row due at now (next_try <= now), oldest first, at
 * most limit; the count or -1. store_outbox_claim: takes a row for this
 * sender by moving its next_try to next_try, only if it is still pending
 * and due by due_by: 0 claimed, 1 someone else has it (or it is gone), -1.
 * sent/retry/failed count an attempt: sent (sent_at when, last_error
 * cleared), due again at next_try, or failed for good; why is the server's
 * answer. The counts are for the admin rate limit: admin alerts (kind
 * "*-admin") sent to rcpt after since, and summaries queued for rcpt after
 * since (-1 on error). store_outbox_fold: one transaction queues an
 * "admin-summary" row for rcpt with body and marks the pending rows ids
 * sent with last_error "folded into summary N" (*summary_id = N). */
struct store_outbox_row {
	int64_t id, created, attempts;
	const char *mail_id, *kind, *rcpt;
	const void *body;
	size_t body_len;
};
int store_outbox_queue(struct store *st, const char *mail_id, const struct store_alert *a, size_t n,
                       int64_t now);
int store_outbox_due(struct store *st, int64_t now, int limit,
                     int (*fn)(const struct store_outbox_row *r, void *arg), void *arg);
int store_outbox_claim(struct store *st, int64_t id, int64_t due_by, int64_t next_try);
int store_outbox_sent(struct store *st, int64_t id, int64_t when);
int store_outbox_retry(struct store *st, int64_t id, int64_t next_try, const char *why);
int store_outbox_failed(struct store *st, int64_t id, const char *why);
int64_t store_outbox_count_sent_admin(struct store *st, const char *rcpt, int64_t since);
int64_t store_outbox_count_summaries(struct store *st, const char *rcpt, int64_t since);
int store_outbox_fold(struct store *st, const char *rcpt, const void *body, size_t len, int64_t now,
                      const int64_t *ids, size_t nids, int64_t *summary_id);

/* scand-report's RRD (report/rrd.c). store_msgs_bounds: the oldest
 * message's time (-1 when there is none) and the highest row id (0).
 * store_rrd_minutes: fn for each (minute, category, host) of the messages
 * with t0 <= time < t1 and id0 < id <= id1: their count, how many have a
 * recipient passed, how many have none passed but one discarded, bounced
 * or rejected; 0 or -1. store_rrd_state_get: the watermark kept for the
 * RRD file path (schema/003): 0 found, 1 none, -1; store_rrd_state_put
 * saves it: 0 or -1. */
struct store_rrd_minute {
	int64_t minute;
	const char *category;
	int64_t count, passed, blocked;
	const char *host; /* '' for rows written before schema/009 */
};
int store_msgs_bounds(struct store *st, int64_t *oldest_time, int64_t *high_id);
int store_rrd_minutes(struct store *st, int64_t t0, int64_t t1, int64_t id0, int64_t id1,
                      int (*fn)(const struct store_rrd_minute *m, void *arg), void *arg);
int store_rrd_state_get(struct store *st, const char *path, int64_t *last_minute, int64_t *last_id);
int store_rrd_state_put(struct store *st, const char *path, int64_t last_minute, int64_t last_id);
/* scand-report's top tables for [since, until): fn(name, count) for the
 * top most frequent, most first (ties by name). Viruses and banned names
 * count each name of the comma separated lists (viruses of category virus
 * only); spam senders ("<>" for the null sender), their domains and their
 * recipients (lower case) count messages of category spam or spammy;
 * unchecked reasons ("(no reason recorded)" for none) messages of category
 * unchecked; list entries (msgrcpt.list_entry) count the recipients whose
 * verdict an allow/block entry decided; hosts (schema/009, "(unknown)" for
 * rows written before it) count all messages. 0 or -1. */
enum store_top { STORE_TOP_VIRUSES, STORE_TOP_BANNED, STORE_TOP_SPAM_SENDERS, STORE_TOP_SPAM_DOMAINS,
                 STORE_TOP_SPAM_RCPTS, STORE_TOP_UNCHECKED, STORE_TOP_LIST_ENTRIES, STORE_TOP_HOSTS, STORE_NTOP };
int store_report_top(struct store *st, enum store_top which, int64_t since, int64_t until, int top,
                     int (*fn)(const char *name, int64_t count, void *arg), void *arg);
/* scand-report's totals for [since, until) (report/stats.c): fn gets each
 * row of one question as a name and integers (v, the rest 0):
 *   CATEGORIES    category: v0 messages, v1 bytes
 *   DESTINIES     destiny: v0 recipients (msgrcpt rows)
 *   ROWS          one row, "": v0 quarantined (quar_path set), v1 released,
 *                 v2 purged (quar_state now), v3..v11 messages per spam score
 *                 (< 0, 0-2, 2-4, 4-6, 6-8, 8-10, 10-15, 15-20, >= 20)
 *   DAYS          category: v0 day (time / 86400), v1 messages, v2 bytes
 *   BUSIEST_HOUR  at most one row, "": v0 hour (time / 3600), v1 messages
 *                 (the most, then the earliest)
 *   SCAN          "": v0 scan_ms, v1 messages, ascending scan_ms
 * 0 or -1. store_report_begin() and store_report_end() bracket the queries
 * of one report in one read-only snapshot (every section sees the same
 * rows): 0 or -1; end also after a failed query. */
enum store_stat { STORE_STAT_CATEGORIES, STORE_STAT_DESTINIES, STORE_STAT_ROWS, STORE_STAT_DAYS,
                  STORE_STAT_BUSIEST_HOUR, STORE_STAT_SCAN, STORE_NSTAT };
#define STORE_STAT_MAXV 12
struct store_stat_row {
	const char *name;
	int64_t v[STORE_STAT_MAXV];
};
int store_report_stat(struct store *st, enum store_stat which, int64_t since, int64_t until,
                      int (*fn)(const struct store_stat_row *row, void *arg), void *arg);
int store_report_begin(struct store *st);
int store_report_end(struct store *st);

/* The recipients' digest (schema/008-digest.sql; notify/digest.c,
 * scand-web). Addresses and domains are compared in lower case.
 * store_digest_items: fn for each (recipient, message) a digest lists: a
 * message still quarantined, its attempt final, of a category in cats
 * (comma separated), time >= since, for a recipient whose destiny was not
 * pass nor tempfail, who has neither had it released nor deleted it; only
 * recipient rcpt when not NULL; ordered by recipient, then newest first.
 * fn returns non-zero to stop. The count or -1.
 * store_digest_pref_set: the frequency (never daily weekly) of an address
 * or a domain; NULL freq removes the override. store_digest_prefs: fn for
 * every override. store_digest_last: fn(rcpt, time of the newest digest)
 * for every recipient that had one (or only rcpt). 0 or -1.
 * store_digest_queue: in one transaction, for each of the n digests:
 * records the digest of rcpt for period and queues a (pending, due now)
 * in the outbox, or, when rcpt already had the digest of that period,
 * queues nothing and sets its already. 0, or -1 with nothing kept.
 * store_rcpt_delete: "delete for me": marks addr's row of the message
 * deleted at when: 0, 1 when no row matched, -1. */
struct store_digest_item {
	const char *rcpt, *mail_id, *sender, *subject, *category;
	int64_t time, size;
};
int store_digest_items(struct store *st, const char *cats, int64_t since, const char *rcpt,
                       int (*fn)(const struct store_digest_item *it, void *arg), void *arg);
int store_digest_pref_set(struct store *st, const char *target, const char *freq);
int store_digest_prefs(struct store *st, int (*fn)(const char *target, const char *freq, void *arg), void *arg);
int store_digest_last(struct store *st, const char *rcpt, int (*fn)(const char *rcpt, int64_t last, void *arg),
                      void *arg);
struct store_digest_out {
	const char *rcpt, *period;
	int items;
	struct store_alert a;
	bool already; /* result */
};
int store_digest_queue(struct store *st, struct store_digest_out *d, size_t n, int64_t now);
int store_rcpt_delete(struct store *st, int64_t msg_rowid, const char *addr, int64_t when);

/* Allow and block lists (lists.h, schema/007).
 * store_list_add: validates e->scope and e->pattern (list_scope_norm(),
 * list_pattern_norm()) and stores the entry in lower case; an entry with
 * the same scope and pattern is replaced (kind, note, created_by,
 * created_at, expires) and keeps its id. created_at 0 means now. *id = the
 * entry's id (id may be NULL). 0; -2 for a bad scope or pattern (*err says
 * what is expected, nothing stored); -1 a store failure (*err, and
 * store_error()). e->id is ignored.
 * store_list_del: 0 deleted, 1 no such entry, -1.
 * store_list_query: fn for each entry (expired ones too) of the exact
 * scope (normalized; NULL = every scope), or the one entry id (> 0), in
 * scope, kind, pattern order; fn returns non-zero to stop. The count, or
 * -1.
 * store_list_lookup: the entry that decides the mail of sender to rcpt at
 * time now (lists.h "Lookup"): 1 with *hit (list_entry_free()), 0 none
 * (or the null sender), -1. A few index probes, never a scan; an edit
 * committed by any process applies to the next lookup. */
int store_list_add(struct store *st, const struct list_entry *e, int64_t *id, char **err);
/* store_list_import: store_list_add() of n entries in one transaction,
 * all or nothing: 0; -2 when entry *bad is invalid (*err says why, nothing
 * stored); -1 a store failure (*err). */
int store_list_import(struct store *st, const struct list_entry *e, size_t n, size_t *bad, char **err);
int store_list_del(struct store *st, int64_t id);
int store_list_query(struct store *st, const char *scope, int64_t id,
                     int (*fn)(const struct list_entry *e, void *arg), void *arg);
int store_list_lookup(struct store *st, const char *rcpt, const char *sender, int64_t now,
                      struct list_entry **hit);

void store_msg_free(struct store_msg *m);

/* Helpers for building rows: g_strdup of s or "" */
char *store_strdup0(const char *s);

#endif
