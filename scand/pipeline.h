/*
 * pipeline - what happens to a received message, in order
 *
 *   stages (scanners, scand/stage.h) -> destiny per recipient (policy)
 *   -> store (verdict row) -> forward (reinjection) -> reply
 *
 * pipeline_init() initialises every stage once (as root, before the
 * privilege drop); a stage that fails stops scand from starting.
 * pipeline_reload() passes a new configuration to the stages (SIGHUP).
 * pipeline_run() takes a fully received message (envelope, XFORWARD,
 * data) and returns the reply for the SMTP client (g_free); in LMTP mode
 * each recipient's reply is left in its msg_rcpt.answer as well. It never
 * answers 2xx unless the message was recorded in the store and every
 * passed recipient was accepted downstream. It logs the per-message line
 * and counts the message (metrics.h).
 */
#ifndef GH_PIPELINE_H
#define GH_PIPELINE_H

#include <time.h>

#include "conf.h"
#include "msg.h"
#include "server.h"
#include "store.h"

int pipeline_init(const struct conf *c, char **err);
void pipeline_reload(const struct conf *c);
void pipeline_fini(void);
/* Signatures in the virus engine now (for the start line and /metrics)
 * and, unless built is NULL, when its database was built (0 and 0
 * without an engine). */
unsigned pipeline_signatures(time_t *built);
/* Starts the alert sender on st (a store handle for it alone, opened
 * before the privilege drop); call after the signals are blocked. */
void pipeline_notify_start(const struct conf *c, struct store *st);
char *pipeline_run(struct worker *w, const struct conf *c, struct msg *m);

/* Makes a reason safe for an SMTP reply line: printable ASCII, no CR/LF,
 * at most maxlen bytes. g_free(). */
char *pipeline_reply_text(const char *s, size_t maxlen);

#endif
