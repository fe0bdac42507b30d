/*
 * qc_msg - what quarctl shows of a quarantined message
 *
 * qc_msg_load()     the quarantined bytes of a verdict row (quar_message_read),
 *                   SHA-256 checked
 * qc_msg_headers()  the header block, one printable line per physical line
 * qc_msg_parse()    GMime message from bytes (NULL if unparsable)
 * qc_msg_preview()  the first text part decoded by GMime (transfer encoding
 *                   and charset), printable, cut at a bound
 *
 * Everything returned is safe to put on a terminal: control characters
 * and escape sequences become '?' (log_printable), line by line, so a
 * subject or body cannot retitle the window or move the cursor.
 */
#include "qc.h"

#include "log.h"
#include "mailfmt.h"
#include "quar.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <string.h>

int qc_msg_load(struct qc *qc, const struct store_msg *m, void **data, size_t *len, bool *mismatch,
                char **err)
{
	*mismatch = false;
	if (!m->quar_path) {
		*err = g_strdup("not quarantined (no file kept)");
		return -1;
	}
	if (quar_message_read(qc->st, qc->quar_dir, m, true, data, len, err) == 0)
		return 0;
	if (errno != EBADMSG)
		return -1;
	*mismatch = true;
	g_free(*err);
	*err = NULL;
	return quar_message_read(qc->st, qc->quar_dir, m, false, data, len, err) == 0 ? 0 : -1;
}

/* Append text line by line, each made printable (tabs become spaces). */
static void qc_append_lines(GString *out, const char *text, size_t max)
{
	char **lines = g_strsplit(text, "\n", -1);
	for (int i = 0; lines[i] && out->len < max; i++) {
		char *l = lines[i];
		size_t n = strlen(l);
		if (n && l[n - 1] == '\r')
			l[n - 1] = '\0';
		g_strdelimit(l, "\t", ' ');
		char *p = log_printable(l, 0);
		g_string_append(out, p);
		g_string_append_c(out, '\n');
		g_free(p);
	}
	g_strfreev(lines);
	if (out->len > max)
		g_string_truncate(out, max);
}

char *qc_msg_headers(const void *data, size_t len)
{
	const char *p = data;
	size_t hlen = len;
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] == '\n' &&
		    (p[i + 1] == '\n' || (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n'))) {
			hlen = i + 1;
			break;
		}
	}
	char *h = g_strndup(p, hlen);
	GString *out = g_string_new(NULL);
	qc_append_lines(out, h, G_MAXSIZE);
	g_free(h);
	return g_string_free(out, FALSE);
}

struct qc_find_text {
	GMimeTextPart *part;
};

static void qc_find_text_cb(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct qc_find_text *f = data;
	(void)parent;
	if (f->part || !GMIME_IS_TEXT_PART(part))
		return;
	if (g_mime_part_is_attachment(GMIME_PART(part)))
		return;
	f->part = GMIME_TEXT_PART(part);
}

GMimeMessage *qc_msg_parse(const void *data, size_t len)
{
	mailfmt_mime_init();
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	return msg;
}

char *qc_msg_preview(const void *data, size_t len, size_t max)
{
	struct qc_find_text f = {NULL};
	GString *out = g_string_new(NULL);

	GMimeMessage *msg = qc_msg_parse(data, len);
	if (msg)
		g_mime_message_foreach(msg, qc_find_text_cb, &f);
	if (f.part) {
		char *text = g_mime_text_part_get_text(f.part);
		qc_append_lines(out, text ? text : "", max);
		g_free(text);
	} else {
		g_string_append(out, "(no text part)\n");
	}
	if (msg)
		g_object_unref(msg);
	return g_string_free(out, FALSE);
}
