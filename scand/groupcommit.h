/*
 * groupcommit - verdict rows of concurrent messages in one transaction
 *
 * A worker may not answer 2xx, nor forward, before its message's row is
 * committed (pipeline.c). One commit per message made the store a third of
 * a pass-through message's CPU: each commit writes every touched page of
 * the 13 b-trees of msgs and msgrcpt to the WAL. gc_put() queues the row;
 * the first waiting worker becomes the leader, takes every row queued so
 * far and writes them with store_put_many() (one transaction, a savepoint
 * per message) under answers_lock(); the rows queued meanwhile go in the
 * next batch. Nobody waits for a timer: an idle scand commits each row at
 * once, a busy one commits several per transaction. gc_put() returns only
 * after the transaction holding the row committed (0), or failed (-1, the
 * reason in err): the invariant "no 2xx without the row" is the caller's
 * as before. gc_settle() rides the same batches: it ends a message's open
 * attempt before its answer is given (store_settle_rows(): held alerts
 * released or cancelled, with purge the quarantine copy marked gone, and
 * alerts such as the failure notice queued), with the same guarantee.
 */
#ifndef GH_GROUPCOMMIT_H
#define GH_GROUPCOMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

int gc_put(struct store_msg *m, const struct store_alert *alerts, size_t nalerts, char *err, size_t errlen);
int gc_settle(const char *mail_id, const char *outcome, bool purge, const struct store_alert *alerts,
              size_t nalerts, char *err, size_t errlen);
/* Messages and transactions so far (for tests and benchmarks). */
void gc_stats(unsigned long *messages, unsigned long *transactions);

#endif
