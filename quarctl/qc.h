/*
 * qc - quarctl's internal interface (the operator's TUI and CLI)
 *
 * struct qc holds what every command needs: the loaded configuration, the
 * open store, the quarantine directory, the release destination and the
 * operator's login name (for the audit trail).
 *
 * qc_cmd.c     list/show/purge/expire/stats and the actions shared with the TUI
 * qc_release.c release: options and output around common/release, the notice
 * qc_json.c    JSON output of store rows
 * qc_tui.c     the ncurses interface (with qc_tui_act.c, qc_tui_view.c, qc_tui.h)
 * qc_msg.c     headers and body preview of a quarantined message (GMime)
 * qc_lists.c   lists (allow and block entries), learn, and the TUI's allow/block
 * qc_fsck.c    fsck: the quarantine tree against the store (common/quar_fsck.c)
 * qc_migrate.c migrate: the SQLite store and its file quarantine into PostgreSQL
 *              through store_put() and quar_write()
 */
#ifndef GH_QC_H
#define GH_QC_H

#include "conf.h"
#include "store.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes (documented in quarctl --help). */
enum qc_exit {
	QC_EXIT_OK = 0,       /* done */
	QC_EXIT_FAIL = 1,     /* some action failed (release refused, downstream said no, ...) */
	QC_EXIT_USAGE = 2,    /* bad command line or configuration */
	QC_EXIT_NOTFOUND = 3, /* an id is not in the store */
	QC_EXIT_BADID = 4,    /* an id is not a valid mail id: refused before any lookup */
	QC_EXIT_STORE = 5,    /* the store could not be opened or read */
};

struct qc {
	struct conf *conf;
	struct store *st;
	const char *db_path;
	const char *quar_dir;
	const char *forward; /* host:port for releases */
	char *who;           /* login name */
	struct smtpc *smtp;  /* release's client for forward, opened on first use,
	                      * kept for the next release of the same command */
};

/* 0, or QC_EXIT_USAGE (configuration) / QC_EXIT_STORE with *err set. */
int qc_open(struct qc *qc, const char *conf_path, char **err);
void qc_close(struct qc *qc);

/* "30d", "12h", "45m", "90s", "2w" or plain seconds -> seconds; -1 if bad. */
int64_t qc_parse_age(const char *s);
/* "YYYY-MM-DD[ HH:MM[:SS]]" (UTC) or an age (meaning now - age); -1 if bad. */
int64_t qc_parse_when(const char *s);
/* UTC "YYYY-MM-DD HH:MM:SS" into buf. */
void qc_fmt_time(int64_t t, char *buf, size_t len);
/* One line: virus names, banned names or the spam score. g_free. */
char *qc_detail(const struct store_msg *m);
/* Comma-separated recipient addresses. g_free. */
char *qc_rcpt_list(const struct store_msg *m);

/* Store updates, one statement each (no write lock held across statements). */
int qc_mark_state(struct qc *qc, const char *mail_id, const char *state);
/* store_event() with qc->who; logs a warning if the event cannot be written. */
void qc_event(struct qc *qc, const char *mail_id, const char *action, const char *detail, const char *result);

/* Actions shared by CLI and TUI. Messages for the operator go to *msg (g_free). */
enum qc_result {
	QC_OK = 0,
	QC_FAILED = 1,
	QC_NOTFOUND = 3,
	QC_BADID = 4,
	QC_STORE_ERROR = 5,
	QC_REFUSED = 6
};
/* An action's words: on stdout when it succeeded, else on stderr after
 * "quarctl: "; frees msg. */
void qc_say(enum qc_result r, char *msg);
/* The exit code of an action's result. */
int qc_exit_of(enum qc_result r);
/* Refuse an id that is not a mail id (before anything else), then store_get(). */
enum qc_result qc_lookup(struct qc *qc, const char *mail_id, struct store_msg **m, char **msg);
enum qc_result qc_purge_one(struct qc *qc, const char *mail_id, const char *action, char **msg);

struct qc_release_opts {
	const char *const *to; /* NULL = the recipients that did not get it */
	bool dry_run;
	bool force; /* release again what was released */
	bool notify; /* queue a release notice to each recipient it went to */
};
enum qc_result qc_release_one(struct qc *qc, const char *mail_id, const struct qc_release_opts *o,
                              char **msg);

/* g_option parsing of a command's argv (ids starting with '-' kept); false = usage printed. */
bool qc_parse(GOptionEntry *entries, const char *params, int *argc, char ***argv);
/* Commands: argc/argv after the command name; return an exit code. */
int qc_cmd_list(struct qc *qc, int argc, char **argv);
int qc_cmd_show(struct qc *qc, int argc, char **argv);
int qc_cmd_release(struct qc *qc, int argc, char **argv);
int qc_cmd_purge(struct qc *qc, int argc, char **argv);
int qc_cmd_expire(struct qc *qc, int argc, char **argv);
int qc_cmd_stats(struct qc *qc, int argc, char **argv);
int qc_cmd_fsck(struct qc *qc, int argc, char **argv);
int qc_cmd_digest(struct qc *qc, int argc, char **argv);
int qc_cmd_lists(struct qc *qc, int argc, char **argv);
int qc_cmd_migrate(struct qc *qc, int argc, char **argv);
int qc_cmd_learn(struct qc *qc, int argc, char **argv);

/* Learning (qc_lists.c). qc_learn(): teaches the spam engine the kept bytes
 * of mail_id (quarantined or archived, SHA-256 checked) as spam or ham,
 * and records an audit event ("learn-spam"/"learn-ham") whatever the
 * outcome; QC_FAILED with *msg when nothing is kept or the engine refused.
 * qc_list_sender(): adds an allow or block entry for the message's sender
 * scoped to each recipient still held (release_targets()), each an audit
 * event; *msg lists them. */
enum qc_result qc_learn(struct qc *qc, const char *mail_id, bool spam, char **msg);
enum qc_result qc_list_sender(struct qc *qc, const char *mail_id, enum list_kind k, char **msg);
/* The recipients still held of mail_id, comma separated (g_free), or NULL
 * with *msg when the id is bad or unknown. */
char *qc_held_rcpts(struct qc *qc, const char *mail_id, char **sender, char **msg);
int qc_tui_run(struct qc *qc, bool bench_first_screen);

/* Counts of kept messages per category and state (quar_state != none). */
struct qc_stat {
	char category[16], state[16];
	int64_t count, bytes;
};
int qc_stats(struct qc *qc, GArray *rows); /* of struct qc_stat */

/* JSON */
void qc_json_str(GString *out, const char *s);
void qc_json_msg(GString *out, const struct store_msg *m);
void qc_json_list_entry(GString *out, const struct list_entry *e);

struct _GMimeMessage *qc_msg_parse(const void *data, size_t len); /* g_object_unref */
/* Message text helpers (GMime): header block and a text preview, printable. */
char *qc_msg_headers(const void *data, size_t len);
char *qc_msg_preview(const void *data, size_t len, size_t max);
/* Read the message of m (hash checked); *mismatch set when only the
 * unchecked read worked (the caller decides whether to show it). */
int qc_msg_load(struct qc *qc, const struct store_msg *m, void **data, size_t *len, bool *mismatch,
                char **err);

#endif
