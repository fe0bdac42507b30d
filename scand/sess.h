/*
 * sess - one SMTP/LMTP session on an accepted connection
 *
 * sess_run() speaks ESMTP (EHLO/HELO) or LMTP (LHLO) on fd until QUIT,
 * a timeout, too many errors, the peer going away, or shutdown (a
 * session that is idle between messages gets 421 4.3.2; a message in
 * flight is finished first). Every reply carries an enhanced status code.
 * A received message goes through pipeline_run(); its reply (SMTP) or
 * replies (LMTP, one per recipient) are sent back. fd is closed.
 */
#ifndef GH_SESS_H
#define GH_SESS_H

#include "server.h"

void sess_run(struct worker *w, int fd, const char *peer);

#endif
