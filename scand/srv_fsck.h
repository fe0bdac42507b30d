/*
 * srv_fsck - the quarantine check at scand start-up (report only)
 *
 * srv_fsck_start() runs quar_fsck() without fix in a thread of its own,
 * started once the listeners are up, so that a large tree does not delay
 * accepting mail; it owns st (closed when done) and stops early when
 * srv_stopping() says so. srv_fsck_join() waits for it (at shutdown).
 * Results are logged: one summary line, one line per problem.
 */
#ifndef GH_SRV_FSCK_H
#define GH_SRV_FSCK_H

#include "store.h"

void srv_fsck_start(struct store *st, const char *quar_dir);
void srv_fsck_join(void);

#endif
