/*
 * mailfmt - GMime start-up and CRLF line ends (see mailfmt.h)
 *
 * Functions: mailfmt_mime_init, mailfmt_crlf.
 */
#include "mailfmt.h"

#include <gmime/gmime.h>

void mailfmt_mime_init(void)
{
	static gsize done;
	if (g_once_init_enter(&done)) {
		g_mime_init();
		g_once_init_leave(&done, 1);
	}
}

GString *mailfmt_crlf(const char *data, size_t len)
{
	GString *out = g_string_sized_new(len + len / 40 + 2);
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			g_string_append_c(out, '\r');
		g_string_append_c(out, data[i]);
	}
	return out;
}
