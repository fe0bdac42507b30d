/*
 * mailfmt - what every program that writes or parses mail needs once
 *
 * mailfmt_mime_init() calls g_mime_init() once per process; any thread
 * may call it any number of times, before any other GMime call (GMime's
 * own init is not thread-safe and must not run twice).
 * mailfmt_crlf() copies data/len with every bare LF made CRLF, SMTP's line
 * end; a CRLF stays as it is and so does every other byte (a lone CR
 * included), so a message that is already CRLF comes out byte-identical.
 * Nothing here fails.
 */
#ifndef GH_MAILFMT_H
#define GH_MAILFMT_H

#include <glib.h>
#include <stddef.h>

void mailfmt_mime_init(void);
GString *mailfmt_crlf(const char *data, size_t len);

#endif
