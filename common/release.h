/*
 * release - put a quarantined message back on its way (store + reinjection
 * + audit trail), for every front end (quarctl today, the web digest next)
 *
 * release_targets() the recipients a release goes to by default: those
 *                   whose destiny was not pass (nor tempfail: answered
 *                   4xx, the client retried them) and who have not had it
 *                   (with force: had it or not)
 * release_run()     refuses a message that is purged, not kept, a deferred
 *                   (or still open) attempt, or (without force) released
 *                   to every target; refuses an address with a control
 *                   character, space or angle bracket; reads the file and
 *                   checks its SHA-256 against the store (a mismatch is
 *                   refused, said, and written to the audit trail); then
 *                   reinjects it through common/smtpc to o->forward with
 *                   the original envelope sender
 *
 * The message goes out byte-identical to the quarantined file (a bare LF
 * becomes CRLF), with one field added on top:
 * "X-Quarantine-Released: <date> by <who>". smtpc adds no Message-Id or
 * Date. What the store knows of the original client (name, address, HELO)
 * goes as XFORWARD when the downstream offers it; BODY=8BITMIME when the
 * message has 8-bit bytes and SMTPUTF8 when an address is not ASCII, each
 * when offered. The DSN parameters of the original transaction, as the
 * store kept them (schema/006-dsn.sql), go as scand's reinjection sends
 * them when the downstream offers DSN: RET and ENVID, and NOTIFY and ORCPT
 * for each target that is one of the original recipients (a --to address
 * gets none).
 *
 * A recipient is marked served (store_mark_rcpt_released, with its own
 * answer) only when the downstream accepted it and the message data
 * (2xx). A refusal or a connection failure is reported with the server's
 * words and nothing is marked. Every attempt (but a dry run) writes an
 * events row (store_event, action "release", who). The release state is
 * per recipient: the message becomes "released" (store_set_quar_state)
 * once no default target is left, so a release that reached only some
 * recipients is finished by the next release without force, which goes
 * to the others only.
 *
 * Nothing here talks to the operator or queues notices: the caller gets
 * the served recipients in out->served (to send a release notice, say)
 * and a one-paragraph text in out->msg. release_outcome_clear() frees it.
 */
#ifndef GH_RELEASE_H
#define GH_RELEASE_H

#include "conf.h"
#include "store.h"

#include <glib.h>
#include <stdbool.h>

struct release_opts {
	const char *quar_dir;  /* where the quarantine files are */
	const char *forward;   /* smtpc destination: "host:port", "unix:/path", "lmtp:..." */
	const char *helo;      /* EHLO name */
	int timeout_s;         /* per protocol step */
	struct smtpc *conn;    /* the caller's client for forward (smtpc_open), kept
	                        * across releases so a batch shares one connection;
	                        * NULL = one client for this release only */
	const char *who;       /* operator: trace header and audit trail */
	const char *const *to; /* NULL = release_targets(m, force) */
	bool force;            /* release again what was released */
	bool dry_run;          /* check and say, send nothing, write nothing */
};

enum release_result {
	RELEASE_OK = 0,      /* every address it went to accepted it (or a dry run passed) */
	RELEASE_FAILED = 1,  /* the downstream refused some or all, or could not be reached */
	RELEASE_REFUSED = 2, /* not releasable (state, addresses, file); nothing was sent */
};

struct release_outcome {
	GPtrArray *served; /* addresses the downstream accepted (g_strdup'd) */
	char *msg;         /* for the operator: what happened, printable */
};

/* Where releases go: [quarctl] release_forward, else [scand] forward. */
const char *release_forward(const struct conf *c);
GPtrArray *release_targets(const struct store_msg *m, bool force);
enum release_result release_run(struct store *st, const struct store_msg *m, const struct release_opts *o,
                                struct release_outcome *out);
void release_outcome_clear(struct release_outcome *out);

#endif
