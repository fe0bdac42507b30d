/*
 * scan_util - helpers shared by the scanner stages (see scan_util.h)
 *
 * Functions: scan_note, scan_mime_doc. They do not fail.
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
