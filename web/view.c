/*
 * view - what a recipient sees of a quarantined message: the header
 * block and a plain-text preview
 *
 * The copy (a file, or a blob of quarantine_backend = database) is read
 * through quar_message_read() (its SHA-256 checked against the store) and
 * parsed with GMime. The preview is the first text/plain part,
 * else the first text/html part shown as its source text (never rendered:
 * no markup, no remote content reaches the browser), decoded to UTF-8 and
 * cut at WEB_PREVIEW_MAX bytes. Attachments are listed by name only.
 * Every line goes through web_esc(); nothing is rendered from the message.
 */
#include "web.h"

#include <gmime/gmime.h>
#include <string.h>

#include "mailfmt.h"
#include "mailhdr.h"
#include "log.h"
#include "quar.h"

/* Text with its lines escaped one by one (web_esc() shows a newline as a
 * control), inside <pre>. */
static void view_pre(GString *b, const char *text, size_t max)
{
	g_string_append(b, "<pre>");
	char *valid = g_utf8_make_valid(text, (gssize)MIN(strlen(text), max));
	char **lines = g_strsplit(valid, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_strchomp(*l);
		web_esc(b, *l);
		if (l[1])
			g_string_append_c(b, '\n');
	}
	g_strfreev(lines);
	g_free(valid);
	if (strlen(text) > max)
		g_string_append(b, "\n[...]");
	g_string_append(b, "</pre>\n");
}

struct view_walk {
	GMimeTextPart *plain, *html;
	GPtrArray *names;
};

static void view_part(GMimeObject *parent, GMimeObject *part, gpointer arg)
{
	struct view_walk *w = arg;
	(void)parent;
	if (!GMIME_IS_PART(part))
		return;
	const char *fn = g_mime_part_get_filename(GMIME_PART(part));
	if (fn) {
		g_ptr_array_add(w->names, g_strdup(fn));
		return;
	}
	if (!GMIME_IS_TEXT_PART(part))
		return;
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	if (!w->plain && g_mime_content_type_is_type(ct, "text", "plain"))
		w->plain = GMIME_TEXT_PART(part);
	else if (!w->html && g_mime_content_type_is_type(ct, "text", "html"))
		w->html = GMIME_TEXT_PART(part);
}

static void view_body(GString *b, const void *data, size_t len)
{
	mailfmt_mime_init();
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
	struct view_walk w = {.names = g_ptr_array_new_with_free_func(g_free)};
	if (msg)
		g_mime_message_foreach(msg, view_part, &w);
	GMimeTextPart *tp = w.plain ? w.plain : w.html;
	char *text = tp ? g_mime_text_part_get_text(tp) : NULL;
	if (tp && !w.plain)
		web_page_p(
		    b, "p",
		    "The message is HTML only; here is its source, as text (nothing is loaded or run):");
	if (text)
		view_pre(b, text, WEB_PREVIEW_MAX);
	else
		web_page_p(b, "p", "(no text to show)");
	for (guint i = 0; i < w.names->len; i++) {
		char *line = g_strdup_printf("Attachment: %s", (const char *)w.names->pdata[i]);
		web_page_p(b, "p", line);
		g_free(line);
	}
	g_free(text);
	g_ptr_array_free(w.names, TRUE);
	if (msg)
		g_object_unref(msg);
	g_object_unref(p);
	g_object_unref(s);
}

void web_view_message(GString *b, const struct conf *c, struct store *st, const struct store_msg *m)
{
	void *data = NULL;
	size_t len = 0;
	char *err = NULL;
	if (quar_message_read(st, conf_str(c, "scand", "quarantine_dir"), m, true, &data, &len, &err) < 0) {
		web_page_p(b, "p", "The quarantined copy cannot be read; ask the postmaster.");
		msg_warn("(%s) view: %s", m->mail_id, err);
		g_free(err);
		return;
	}
	size_t hl = mailhdr_body_offset(data, len);
	char *hdr = g_strndup(data, hl);
	web_page_p(b, "h2", "Headers");
	view_pre(b, hdr, 65536);
	web_page_p(b, "h2", "Text");
	view_body(b, data, len);
	g_free(hdr);
	g_free(data);
}
