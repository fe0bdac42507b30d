/*
 * mailhdr - walk the header section of a message (see mailhdr.h)
 *
 * Functions: mailhdr_next, mailhdr_is, mailhdr_get, mailhdr_body_offset,
 * mailhdr_get_raw.
 * Nothing fails: malformed input simply ends the header section early.
 * The bytes are never modified; values handed out are printable copies.
 */
#include "mailhdr.h"

#include <glib.h>
#include <string.h>

#include "log.h"

/* Offset just past the LF of the line starting at p, or len. */
static size_t line_end(const unsigned char *data, size_t len, size_t p)
{
	const unsigned char *nl = memchr(data + p, '\n', len - p);
	return nl ? (size_t)(nl - data) + 1 : len;
}

static bool line_empty(const unsigned char *data, size_t len, size_t p)
{
	return data[p] == '\n' || (data[p] == '\r' && p + 1 < len && data[p + 1] == '\n');
}

bool mailhdr_next(const unsigned char *data, size_t len, size_t *pos, struct mailhdr_field *f)
{
	size_t p = *pos;

	if (p >= len)
		return false;
	if (line_empty(data, len, p)) {
		*pos = line_end(data, len, p);
		return false;
	}
	size_t e = line_end(data, len, p);
	while (e < len && (data[e] == ' ' || data[e] == '\t'))
		e = line_end(data, len, e);
	f->start = data + p;
	f->len = e - p;
	const unsigned char *colon = memchr(f->start, ':', f->len);
	size_t nl = colon ? (size_t)(colon - f->start) : 0;
	while (nl > 0 && (f->start[nl - 1] == ' ' || f->start[nl - 1] == '\t'))
		nl--;
	if (colon && memchr(f->start, '\n', nl))
		nl = 0; /* a colon only on a continuation line: no name */
	f->name_len = nl;
	*pos = e;
	return true;
}

bool mailhdr_is(const struct mailhdr_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && g_ascii_strncasecmp((const char *)f->start, name, n) == 0;
}

/* The raw value (after the colon, line ends included) of the first field
 * called name; false when there is none. */
static bool mailhdr_find(const unsigned char *data, size_t len, const char *name, const unsigned char **v,
                         size_t *vlen)
{
	size_t pos = 0;
	struct mailhdr_field f;

	while (mailhdr_next(data, len, &pos, &f)) {
		if (!mailhdr_is(&f, name))
			continue;
		*v = (const unsigned char *)memchr(f.start, ':', f.len) + 1;
		*vlen = f.len - (size_t)(*v - f.start);
		return true;
	}
	return false;
}

char *mailhdr_get(const unsigned char *data, size_t len, const char *name, size_t maxlen)
{
	const unsigned char *v;
	size_t vlen;

	if (mailhdr_find(data, len, name, &v, &vlen)) {
		if (vlen > maxlen * 2 + 64)
			vlen = maxlen * 2 + 64; /* bound the work before unfolding */
		GString *s = g_string_sized_new(vlen);
		for (size_t i = 0; i < vlen; i++) {
			unsigned char c = v[i];
			if (c == '\r' || c == '\n')
				continue; /* unfold: the WSP after the line end stays */
			g_string_append_c(s, c == '\t' ? ' ' : (char)c);
		}
		char *out = log_printable(g_strstrip(s->str), maxlen);
		g_string_free(s, TRUE);
		return out;
	}
	return NULL;
}

size_t mailhdr_body_offset(const unsigned char *data, size_t len)
{
	size_t pos = 0;
	struct mailhdr_field f;

	while (mailhdr_next(data, len, &pos, &f))
		;
	return pos;
}

char *mailhdr_get_raw(const unsigned char *data, size_t len, const char *name)
{
	const unsigned char *v;
	size_t vlen;

	if (!mailhdr_find(data, len, name, &v, &vlen))
		return NULL;
	GString *s = g_string_sized_new(vlen);
	for (size_t i = 0; i < vlen; i++)
		if (v[i] != '\r' && v[i] != '\n')
			g_string_append_c(s, (char)v[i]);
	return g_strstrip(g_string_free(s, FALSE));
}
