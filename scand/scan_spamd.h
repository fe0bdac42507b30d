/*
 * scan_spamd - the spam stage: a client of SpamAssassin's spamd
 *
 * scan_spamd_stage is a struct stage (stage.h). scan() sends the message
 * with SYMBOLS (common/spamc.h, the one spamd client) to [spam] spamd
 * (host:port or unix:/path) within the [spam] timeout, and takes the score
 * and the rule names.
 * Messages larger than [spam] max_size are not sent (the skip is noted in
 * unchecked_reason; the category is unchanged). spamd unreachable or
 * answering garbage: on_failure = pass notes the reason and returns
 * STAGE_OK; tempfail returns STAGE_TEMPFAIL.
 *
 * Levels as amavisd-new: score >= kill_level -> CAT_SPAM; >= tag2_level ->
 * CAT_SPAMMY (is_spammy). Headers for the forwarded copy: X-Spam-Status
 * at or above tag_level, X-Spam-Level (stars) likewise, X-Spam-Flag: YES
 * and the subject tag at or above tag2_level. Incoming X-Spam-* copies are
 * always removed, so a sender cannot forge "X-Spam-Flag: NO".
 */
#ifndef GH_SCAN_SPAMD_H
#define GH_SCAN_SPAMD_H

#include "stage.h"

extern const struct stage scan_spamd_stage;

#endif
