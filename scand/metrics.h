/*
 * metrics - scand's counters, and the /metrics page that shows them
 *
 * Each fact is counted where scand already knows it, with relaxed atomic
 * additions (no lock on the message path):
 *  metrics_recorded(m)       the verdict row of m was committed: one more
 *                            message of its category (so the counters
 *                            match the rows of msgs, per category).
 *  metrics_answered(m)       pipeline_run() answered m: bytes received,
 *                            one recipient per final destiny (answered 4xx
 *                            = "tempfail", as answers.c stores it), the
 *                            message once per distinct destiny among its
 *                            recipients, and its latency since m->t_start.
 *  metrics_session(+1 / -1)  a session started / ended (a gauge).
 *  metrics_forward_error()   the reinjection of a message failed.
 *  metrics_store_error(op)   a store write failed: METRICS_STORE_VERDICT
 *                            (the row; answered 451), _SETTLE (an
 *                            attempt) or _ANSWERS (the answers writer).
 *  metrics_commit(seconds)   one group-commit transaction of the store.
 * The signature count and age are read from the loaded engine when the
 * page is asked for (pipeline_signatures()).
 *
 * metrics_render(o) appends the whole page (Prometheus text format 0.0.4,
 * common/promtext.h), every family with its HELP and TYPE lines.
 *
 * metrics_http_bind(c, &err) binds [scand] metrics_listen (empty: off,
 * returns 0) while scand may still be root, as srv_listen() does for the
 * SMTP listener; metrics_http_start(&err) starts the libmicrohttpd daemon
 * on that socket after the privilege drop (its own thread, which inherits
 * the blocked signals); metrics_http_stop() stops it and closes the
 * socket. Only GET /metrics answers 200; another path answers 404, another
 * method on /metrics 405. Errors: -1 with *err (g_free), before any mail
 * is accepted (scand refuses to start).
 */
#ifndef GH_METRICS_H
#define GH_METRICS_H

#include <glib.h>

#include "conf.h"
#include "msg.h"

enum metrics_store_op { METRICS_STORE_VERDICT, METRICS_STORE_SETTLE, METRICS_STORE_ANSWERS };

void metrics_recorded(const struct msg *m);
void metrics_answered(const struct msg *m);
void metrics_session(int delta);
void metrics_forward_error(void);
void metrics_store_error(enum metrics_store_op op);
void metrics_commit(double seconds);

void metrics_render(GString *o);

int metrics_http_bind(const struct conf *c, char **err);
int metrics_http_start(char **err);
void metrics_http_stop(void);

#endif
