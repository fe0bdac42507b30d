/*
 * quar_fsck - consistency check of the quarantine tree against the store
 *
 * quar_fsck() compares <dir>/<category>/... with the msgs rows that keep a
 * copy (quar_state quarantined or released), file or store blob, and
 * collects problems:
 *   orphan    a file no such row points at; one younger than a minute
 *             when the check started is left alone (a write in progress:
 *             its temp file, or the file renamed into place just before
 *             its row is committed), and the store is asked again right
 *             before a file is called an orphan (a row committed while
 *             the check ran counts)
 *   missing   a row whose file is not there, or (quar_backend database)
 *             whose blob is not in the store
 *   mismatch  a row whose file has another size or SHA-256 (of the file,
 *             or of the message it holds: schema/009), or whose blob does
 *             not decompress to the message with the row's SHA-256
 *   badpath   a row whose quar_path is not a safe quarantine path
 * With fix set it repairs only what is safe: a missing file's (or blob's) row is
 * marked purged (with an events row, action "fsck"); an orphan file is
 * moved into <dir>/lost+found/ (0700), never deleted; a mismatch or a bad
 * path is only reported. stop (may be NULL) is polled to abandon a long
 * walk. Returns 0, or -1 with *err set (g_free) when the store cannot be
 * read; problems that could not be fixed carry the reason in detail.
 */
#ifndef GH_QUAR_FSCK_H
#define GH_QUAR_FSCK_H

#include "store.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct quar_fsck_problem {
	char kind[12];    /* orphan missing mismatch badpath */
	char *relpath;    /* relative to the quarantine dir (may be untrusted) */
	char mail_id[13]; /* "" for an orphan */
	char *detail;     /* what was found, and what --fix did */
	bool fixed;
};

struct quar_fsck_report {
	GPtrArray *problems; /* of struct quar_fsck_problem * */
	int64_t files, rows;
	int nfixed;
	bool abandoned; /* stop() said so */
};

struct quar_fsck_opts {
	bool fix;
	const char *who;    /* for the events rows */
	bool (*stop)(void); /* NULL = never */
};

int quar_fsck(struct store *st, const char *dir, const struct quar_fsck_opts *o, struct quar_fsck_report *r,
              char **err);
void quar_fsck_report_free(struct quar_fsck_report *r);

#endif
