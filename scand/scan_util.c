/*
 * scan_util - helpers shared by the scanner stages (see scan_util.h)
 *
 * Functions: scan_note, scan_header_value, scan_header_end, scan_mime_doc.
 * They do not
 * fail; scan_header_value returns NULL when the field is absent.
 */
#include "scan_util.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

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

size_t scan_header_end(const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (i + 1 < len && data[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

char *scan_header_value(const unsigned char *data, size_t len, const char *name)
{
	size_t end = scan_header_end(data, len), nlen = strlen(name);
	for (size_t i = 0; i < end;) {
		size_t eol = i;
		while (eol < end && data[eol] != '\n')
			eol++;
		if (eol - i > nlen && data[i + nlen] == ':' && strncasecmp((const char *)data + i, name, nlen) == 0) {
			GString *v = g_string_new("");
			size_t p = i + nlen + 1;
			/* the value runs on over continuation lines (starting with space or tab) */
			for (;;) {
				for (; p < eol; p++)
					if (data[p] != '\r')
						g_string_append_c(v, (char)data[p]);
				if (eol + 1 >= end || (data[eol + 1] != ' ' && data[eol + 1] != '\t'))
					break;
				p = eol + 1;
				for (eol = p; eol < end && data[eol] != '\n'; eol++)
					;
			}
			return g_strstrip(g_string_free(v, FALSE));
		}
		i = eol + 1;
	}
	return NULL;
}

struct mime_doc *scan_mime_doc(struct msg *m, struct mime_doc **own)
{
	*own = m->mime ? NULL : mime_doc_new(m->data, m->len);
	return m->mime ? m->mime : *own;
}
