/*
 * json - JSON string literals from untrusted text (see json.h)
 */
#include "json.h"

#include <string.h>

#include "log.h"

void json_append_str(GString *out, const char *s)
{
	const char *p = s ? s : "", *end = p + strlen(p);

	g_string_append_c(out, '"');
	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append(out, "\\ufffd");
			p++;
			continue;
		}
		int n = g_utf8_skip[*(const guchar *)p];
		if (c == '"' || c == '\\')
			g_string_append_printf(out, "\\%c", (char)c);
		else if (log_char_class(c) != LOG_CHAR_PLAIN) /* controls; bidi and invisible characters */
			g_string_append_printf(out, "\\u%04x", c);
		else
			g_string_append_len(out, p, n);
		p += n;
	}
	g_string_append_c(out, '"');
}
