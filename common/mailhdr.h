/*
 * mailhdr - a small, bounded walk over a message's header section
 *
 * The header section is everything up to the first empty line. A field is
 * a line that does not start with SP/HTAB plus its continuation lines.
 * mailhdr_next() steps through the fields of data/len (CRLF or LF line
 * ends) without copying: *pos starts at 0 and is advanced; it returns
 * false at the end of the header section (*pos is then the offset of the
 * body, after the empty line, or len). A line without a colon is still a
 * field (name_len 0) so that callers copying the header keep it.
 *
 * mailhdr_get() returns the unfolded, printable value of the first field
 * with that name (case-insensitive), cut at maxlen, or NULL; g_free().
 * mailhdr_body_offset() returns where the body starts.
 * mailhdr_get_raw() returns the first such field's value as it is, only
 * unfolded (CR and LF removed, the WSP that follows a line end kept) and
 * stripped of leading/trailing blanks: for a value that is written back
 * into a header (it may hold 8-bit or encoded words), or NULL; g_free().
 */
#ifndef GH_MAILHDR_H
#define GH_MAILHDR_H

#include <stdbool.h>
#include <stddef.h>

struct mailhdr_field {
	const unsigned char *start; /* first byte of the field */
	size_t len;                 /* whole field including its line ends */
	size_t name_len;            /* bytes before ':' (trailing blanks removed); 0 if none */
};

bool mailhdr_next(const unsigned char *data, size_t len, size_t *pos, struct mailhdr_field *f);
bool mailhdr_is(const struct mailhdr_field *f, const char *name);
char *mailhdr_get(const unsigned char *data, size_t len, const char *name, size_t maxlen);
size_t mailhdr_body_offset(const unsigned char *data, size_t len);
char *mailhdr_get_raw(const unsigned char *data, size_t len, const char *name);

#endif
