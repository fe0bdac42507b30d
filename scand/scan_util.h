/*
 * scan_util - small helpers shared by the scanner stages
 *
 * scan_note() appends a reason to msg->unchecked_reason ("; " between
 * reasons) without touching the category: the caller decides whether the
 * reason makes the message UNCHECKED. scan_mime_doc() gives a stage the
 * message's shared MIME tree (msg->mime, see msg.h), or, for a stage run
 * on its own, a new one that it stores in *own for the stage to free with
 * mime_doc_free(). Header fields are read with common/mailhdr.h, the one
 * header walker. struct scan_live holds settings that a reload replaces
 * while scans still use the ones they took (see below).
 */
#ifndef GH_SCAN_UTIL_H
#define GH_SCAN_UTIL_H

#include "msg.h"

void scan_note(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct mime_doc *scan_mime_doc(struct msg *m, struct mime_doc **own);

/* Settings a reload replaces while messages in progress keep the ones they
 * took: a g_atomic_rc_box swapped under a lock. scan_live_get() takes a
 * reference, scan_live_put() gives it back (the last one frees it with
 * clear); scan_live_swap() puts fresh in place and drops the old one's
 * reference; scan_live_clear() drops the current one (NULL is allowed
 * anywhere as "none yet"). */
struct scan_live {
	GMutex lock;
	gpointer cur;
	GDestroyNotify clear;
};

void scan_live_init(struct scan_live *l, gpointer first, GDestroyNotify clear);
gpointer scan_live_get(struct scan_live *l);
void scan_live_put(struct scan_live *l, gpointer p);
void scan_live_swap(struct scan_live *l, gpointer fresh);
void scan_live_clear(struct scan_live *l);

#endif
