/*
 * json - the one JSON string writer
 *
 * json_append_str() appends s as a JSON string literal to out: quotes,
 * backslashes, every control character (\u00XX) and every bidi or
 * invisible format character (\u202e; see log_char_class()) escaped, and
 * each byte that is not part of valid UTF-8 replaced by \ufffd, so that
 * the output always parses (an 8-bit sender, a Latin-1 subject) and never
 * carries a raw terminal escape. NULL is written as "".
 *
 * Used by quarctl's --json output and scand-report's JSON format.
 */
#ifndef GH_JSON_H
#define GH_JSON_H

#include <glib.h>

void json_append_str(GString *out, const char *s);

#endif
