/*
 * scan_spamd - the spam stage, for either spam engine
 *
 * scan_spamd_stage is a struct stage (stage.h). scan() sends the message
 * and its envelope to the engine [spam] backend names (common/spam.h:
 * spamd with SYMBOLS, rspamd with POST /checkv2) within the [spam]
 * timeout, and takes the score, the symbols and the verdict.
 * Messages larger than [spam] max_size are not sent (the skip is noted in
 * unchecked_reason; the category is unchanged). The engine unreachable or
 * answering garbage: on_failure = pass notes the reason and returns
 * STAGE_OK; tempfail returns STAGE_TEMPFAIL. Either way the failure is
 * logged at most once a minute, with the count since the last line.
 *
 * Levels as amavisd-new: score >= kill_level -> CAT_SPAM; >= tag2_level ->
 * CAT_SPAMMY (is_spammy); with [spam] rspamd_actions = yes rspamd's
 * action raises that (reject -> SPAM, add header / rewrite subject ->
 * SPAMMY), and soft reject / greylist answer 451 4.7.1 (msg
 * tempfail_reply, STAGE_TEMPFAIL) in before-queue mode ([scand]
 * before_queue) and are ignored after the queue. Headers for the
 * forwarded copy: X-Spam-Status (symbols with their scores for rspamd)
 * at or above tag_level, X-Spam-Level (stars) likewise, X-Spam-Flag: YES
 * and the subject tag at or above tag2_level, and rspamd's milter
 * add_headers / remove_headers (made safe by common/spam). Incoming
 * X-Spam-* copies are always removed, so a sender cannot forge
 * "X-Spam-Flag: NO".
 */
#ifndef GH_SCAN_SPAMD_H
#define GH_SCAN_SPAMD_H

#include "stage.h"

extern const struct stage scan_spamd_stage;

#endif
