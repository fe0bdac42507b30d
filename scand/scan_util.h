/*
 * scan_util - small helpers shared by the scanner stages
 *
 * scan_note() appends a reason to msg->unchecked_reason ("; " between
 * reasons) without touching the category: the caller decides whether the
 * reason makes the message UNCHECKED. scan_mime_doc() gives a stage the
 * message's shared MIME tree (msg->mime, see msg.h), or, for a stage run
 * on its own, a new one that it stores in *own for the stage to free with
 * mime_doc_free(). Header fields are read with common/mailhdr.h, the one
 * header walker.
 */
#ifndef GH_SCAN_UTIL_H
#define GH_SCAN_UTIL_H

#include "msg.h"

void scan_note(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct mime_doc *scan_mime_doc(struct msg *m, struct mime_doc **own);

#endif
