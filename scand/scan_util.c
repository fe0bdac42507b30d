/*
 * scan_util - helpers shared by the scanner stages (see scan_util.h)
 *
 * Functions: scan_note, scan_mime_doc, scan_live_*. They do not fail.
 */
#include "scan_util.h"

#include <stdarg.h>
#include <string.h>

#include "mime_walk.h"

void scan_note(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	if (m->unchecked_reason->len)
		g_string_append(m->unchecked_reason, "; ");
	va_start(ap, fmt);
	g_string_append_vprintf(m->unchecked_reason, fmt, ap);
	va_end(ap);
}

struct mime_doc *scan_mime_doc(struct msg *m, struct mime_doc **own)
{
	*own = m->mime ? NULL : mime_doc_new(m->data, m->len);
	return m->mime ? m->mime : *own;
}

void scan_live_init(struct scan_live *l, gpointer first, GDestroyNotify clear)
{
	g_mutex_init(&l->lock);
	l->cur = first;
	l->clear = clear;
}

gpointer scan_live_get(struct scan_live *l)
{
	g_mutex_lock(&l->lock);
	gpointer p = l->cur ? g_atomic_rc_box_acquire(l->cur) : NULL;
	g_mutex_unlock(&l->lock);
	return p;
}

void scan_live_put(struct scan_live *l, gpointer p)
{
	if (p)
		g_atomic_rc_box_release_full(p, l->clear);
}

void scan_live_swap(struct scan_live *l, gpointer fresh)
{
	g_mutex_lock(&l->lock);
	gpointer old = l->cur;
	l->cur = fresh;
	g_mutex_unlock(&l->lock);
	scan_live_put(l, old);
}

void scan_live_clear(struct scan_live *l)
{
	scan_live_put(l, l->cur);
	l->cur = NULL;
	g_mutex_clear(&l->lock);
}
