/*
 * verdict - the content checks of one message, from stages to quarantine
 *
 * The pipeline (pipeline.c) calls it once per message, between "DATA
 * spooled" and "store, forward, reply".
 *
 *  verdict_init(conf, &ctx, &err)   once at start, as root before chroot:
 *      starts the enabled stages in pipeline order (banned [banned]
 *      enabled, clamav [clamav] enabled, spamd [spam] enabled, badh) and
 *      loads the policy. -1 with *err: scand must refuse to start.
 *  verdict_run(ctx, msg)            per message, thread-safe. Needs
 *      msg->data/len, sender, rcpts (and smtputf8). Fills the verdict
 *      fields (category, engine, virus/banned names, spam score/tests,
 *      unchecked_reason, scan_ms), per recipient destiny / quarantine /
 *      policy (with the recipient's list entry, rcpt->list, looked up by
 *      the caller; X-Spam-Status names it when it decided), the header edits (remove_headers first: incoming
 *      X-Virus-Scanned, X-Spam-*, X-Quarantine-ID, X-Gatehouse-Alert; then
 *      add_headers: X-Virus-Scanned, X-Spam-*, X-Quarantine-ID when a copy
 *      was kept), and writes the quarantine copy (quar_path, quar_size,
 *      quar_sha256). Returns VERDICT_OK, or VERDICT_TEMPFAIL (answer 451
 *      4.3.0 to every recipient: an engine is down with on_failure =
 *      tempfail, no virus engine, or the quarantine write failed).
 *      The caller then stores the row (store_put copying the msg fields),
 *      forwards to recipients with DESTINY_PASS, and answers per
 *      recipient: verdict_reply() gives the reply text.
 *  verdict_reload(ctx, conf, &err)  SIGHUP: reloads every stage and the
 *      policy; a part that fails keeps its old state (and logs why);
 *      returns -1 if any part failed.
 *  verdict_fini(ctx)                at exit.
 *
 *  verdict_log_words(msg)  "Blocked INFECTED (Eicar-Test-Signature)
 *      {DiscardedInbound,Quarantined}" / "Passed CLEAN {RelayedInbound}" as
 *      amavisd-new 2.13 logs them (g_free); the detail is printable. A
 *      passed recipient whose rcpt->answer is 4xx/5xx counts as
 *      TempFailed/Rejected.
 *  verdict_reply(msg, rcpt) the SMTP reply for one recipient (g_free):
 *      PASS -> NULL (the downstream answer is forwarded); DISCARD ->
 *      "250 2.7.0 Ok, discarded, id=... - INFECTED: ..."; REJECT and BOUNCE
 *      -> "554 5.7.0 Reject, id=... - INFECTED: Eicar-Test-Signature"
 *      (in-line before the queue; after the queue the MTA bounces to the
 *      sender, which is what BOUNCE means; policy never lets a virus or
 *      <> get there); TEMPFAIL -> 451 4.3.0.
 *      No CR or LF from the message can reach the text.
 *  verdict_banner(ctx)     "Gatehouse scand 0.1.0 (libclamav 1.4.6, 3
 *      signatures, 2026-11-21)", the X-Virus-Scanned value (g_free).
 *  verdict_signatures(ctx, &built) signatures in the virus engine (0
 *      without it) and, unless built is NULL, when its database was built.
 *  verdict_withdraw(ctx, msg) removes the quarantine copy of an attempt
 *      that was answered 4xx (pipeline.c, after the row says so).
 */
#ifndef GH_VERDICT_H
#define GH_VERDICT_H

#include <time.h>

#include "conf.h"
#include "msg.h"

enum verdict_result { VERDICT_OK = 0, VERDICT_TEMPFAIL = 1 };

struct verdict_ctx;

int verdict_init(const struct conf *c, struct verdict_ctx **out, char **err);
enum verdict_result verdict_run(struct verdict_ctx *v, struct msg *m);
int verdict_reload(struct verdict_ctx *v, const struct conf *c, char **err);
void verdict_fini(struct verdict_ctx *v);

char *verdict_log_words(const struct msg *m);
char *verdict_reply(const struct msg *m, const struct msg_rcpt *r);
char *verdict_banner(struct verdict_ctx *v);
unsigned verdict_signatures(struct verdict_ctx *v, time_t *built); /* 0 (and 0) without clamav */
/* Removes the quarantine copy of a deferred attempt (m->quar_path, under
 * the quarantine_dir in force); a failure is logged. */
void verdict_withdraw(struct verdict_ctx *v, struct msg *m);

#endif
