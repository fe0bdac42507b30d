/*
 * answers - the recipients' final SMTP answers, written behind the reply
 *
 * The verdict row is committed before a message is forwarded (the
 * promise: no 2xx without the record); the answers are only known after
 * forwarding. Writing them is not on the client's critical path, so a
 * writer thread takes them from a queue, lets them pile up for a moment
 * (ANSWERS_DELAY_US, 50 ms) and commits them in one transaction (under
 * load, one transaction for many messages).
 * If scand dies before the writer got to them, those rows keep an empty
 * smtp_answer; the row itself is there. The writer also settles the
 * message's attempt (store_settle_rows(): final, or deferred when every
 * recipient was answered 4xx), which pipeline.c has already done before
 * the answer when the attempt has a quarantine copy or alerts.
 *
 * answers_start() opens the writer's own store handle (before the
 * privilege drop), settles the attempts the last run left open
 * (store_recover_open()) and starts the thread; answers_push() queues one
 * message's answers (destiny "tempfail" for a 4xx answer) and outcome;
 * answers_stop() writes what is queued and ends the thread.
 * answers_lock()/answers_unlock() serialize all of scand's store writes:
 * SQLite admits one writer at a time and would put the others to sleep in
 * its busy handler for milliseconds; our own threads take turns instead
 * (busy_timeout still covers other processes). All of scand's writes go
 * through the writer's one handle (answers_store()), so that SQLite's
 * page cache is never invalidated by another of our connections' commits
 * (which costs a re-read of the changed pages on every transaction).
 * A store that is no file (PostgreSQL) takes concurrent writers: there
 * the verdicts' group commit has a handle and a lock of its own
 * (answers_verdict_lock/store/unlock), so that a verdict's commit never
 * waits for an answers batch's; with SQLite they are the writer's.
 */
#ifndef GH_ANSWERS_H
#define GH_ANSWERS_H

#include <stdbool.h>

#include "msg.h"

/* host: the handle's store_set_host(), set before its first statement */
int answers_start(const char *db_path, int busy_timeout_ms, const char *host, char **err);
void answers_push(const struct msg *m, bool deferred);
void answers_stop(void);
void answers_lock(void);
void answers_unlock(void);
/* The writer's store handle; use only between answers_lock/unlock. */
struct store *answers_store(void);
/* The handle the verdicts' group commit writes with, under its lock. */
void answers_verdict_lock(void);
void answers_verdict_unlock(void);
struct store *answers_verdict_store(void);

#endif
