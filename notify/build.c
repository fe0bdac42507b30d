/*
 * build - one alert as an RFC 5322 + MIME message (GMime)
 *
 * notify_build_message() renders a template with its values and builds
 * the message: From, To, Subject and the template's other fields, Date,
 * Message-ID, MIME-Version, Auto-Submitted: auto-generated, a text/plain
 * UTF-8 body in the 7-bit safe encoding GMime finds best, and optionally
 * the original header block as a text/rfc822-headers part of a
 * multipart/mixed; with an HTML template (the digest) the text and the
 * HTML rendering of the same values as a multipart/alternative. GMime folds header values; non-ASCII unstructured
 * values are RFC 2047 encoded here, in words of at most 75 characters
 * (GMime leaves a long run of CJK text as one longer word). The values
 * have already been through
 * notify_header_safe(), so no CR or LF from a message reaches a header.
 * The result has CRLF line ends (what SMTP and libesmtp want).
 * Returns the bytes (g_free) or NULL with *err (bad From or To).
 */
#include "notify.h"

#include <gmime/gmime.h>
#include <string.h>

#include "mailfmt.h"
#include "mailid.h"


static void build_set_encoding(GMimePart *p)
{
	g_mime_part_set_content_encoding(
	    p, g_mime_part_get_best_content_encoding(p, GMIME_ENCODING_CONSTRAINT_7BIT));
}

/* The part's content: a copy of the bytes, not yet encoded. */
static void build_set_content(GMimePart *p, const char *data, size_t len)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeDataWrapper *dw = g_mime_data_wrapper_new_with_stream(st, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, dw);
	g_object_unref(dw);
	g_object_unref(st);
}

static GMimeObject *build_text_part(const char *subtype, const char *body)
{
	GMimeTextPart *tp = g_mime_text_part_new_with_subtype(subtype);
	/* the UTF-8 bytes as they are: g_mime_text_part_set_text() would
	 * convert text that fits Latin-1 to ISO-8859-1, and the charset set
	 * after it would then mislabel the bytes */
	build_set_content(GMIME_PART(tp), body, strlen(body));
	g_mime_text_part_set_charset(tp, "UTF-8");
	build_set_encoding(GMIME_PART(tp));
	return GMIME_OBJECT(tp);
}

static GMimeObject *build_headers_part(const char *headers)
{
	GMimePart *hp = g_mime_part_new_with_type("text", "rfc822-headers");
	GString *lf = g_string_new("");
	for (const char *c = headers; *c; c++)
		if (*c != '\r')
			g_string_append_c(lf, *c);
	build_set_content(hp, lf->str, lf->len);
	g_string_free(lf, TRUE);
	g_mime_object_set_content_disposition_parameter(GMIME_OBJECT(hp), "filename", "original-headers.txt");
	g_mime_object_set_disposition(GMIME_OBJECT(hp), "inline");
	build_set_encoding(hp);
	return GMIME_OBJECT(hp);
}

/* A dot-atom for Message-ID: letters, digits, '.', '-' only. */
static char *build_id_host(const char *h)
{
	GString *s = g_string_new("");
	for (const char *c = h ? h : ""; *c && s->len < 200; c++)
		if (g_ascii_isalnum(*c) || *c == '-' || (*c == '.' && s->len && c[1]))
			g_string_append_c(s, *c);
	if (!s->len)
		g_string_assign(s, "localhost");
	return g_string_free(s, FALSE);
}

static char *build_message_id(const struct notify_msg_spec *s)
{
	char rnd[MAILID_LEN + 1];
	mailid_new(rnd);
	char *host = build_id_host(s->hostname);
	char *mid = build_id_host(s->mail_id); /* ids are [A-Za-z0-9_-]: keep them dot-atom safe */
	char *id = g_strdup_printf("%s.%s.%s@%s", mid[0] ? mid : "none", s->kind, rnd, host);
	for (char *c = id; *c; c++)
		if (*c == '_')
			*c = '-';
	g_free(host);
	g_free(mid);
	return id;
}

static int build_addresses(GMimeMessage *msg, const struct notify_msg_spec *s, char **err)
{
	InternetAddressList *from = internet_address_list_parse(NULL, s->from);
	if (!from || internet_address_list_length(from) == 0) {
		*err = g_strdup_printf("[notify] from is not an address: %s", s->from);
		if (from)
			g_object_unref(from);
		return -1;
	}
	internet_address_list_append(g_mime_message_get_from(msg), from);
	g_object_unref(from);
	InternetAddress *to = internet_address_mailbox_new(NULL, s->to);
	internet_address_list_add(g_mime_message_get_to(msg), to);
	g_object_unref(to);
	return 0;
}

/* RFC 2047 B-encoded words of 64 characters (39 bytes of UTF-8 at most,
 * cut at character boundaries), one per folded line: GMime keeps a run of
 * CJK text without spaces as one over-long encoded word. */
static char *build_encoded_words(const char *value)
{
	GString *raw = g_string_new("");
	const char *p = value;
	while (*p) {
		const char *end = g_utf8_next_char(p); /* at least one character */
		while (*end && g_utf8_next_char(end) - p <= 39)
			end = g_utf8_next_char(end);
		char *b64 = g_base64_encode((const guchar *)p, (gsize)(end - p));
		g_string_append_printf(raw, " =?UTF-8?B?%s?=\n", b64);
		g_free(b64);
		p = end;
	}
	return g_string_free(raw, FALSE);
}

static bool build_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* An unstructured field; non-ASCII values get our own encoded words. */
static void build_set_text(GMimeMessage *msg, const char *name, const char *value)
{
	if (g_ascii_strcasecmp(name, "Subject") == 0)
		g_mime_message_set_subject(msg, value, "UTF-8");
	else
		g_mime_object_set_header(GMIME_OBJECT(msg), name, value, "UTF-8");
	if (!*value || build_is_ascii(value))
		return;
	GMimeHeader *h =
	    g_mime_header_list_get_header(g_mime_object_get_header_list(GMIME_OBJECT(msg)), name);
	char *raw = build_encoded_words(value);
	g_mime_header_set_raw_value(h, raw);
	g_free(raw);
}

static void build_headers(GMimeMessage *msg, const struct notify_msg_spec *s)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *values = g_ptr_array_new_with_free_func(g_free);

	notify_tmpl_render_headers(s->tmpl, s->vars, names, values);
	for (guint i = 0; i < names->len; i++)
		build_set_text(msg, names->pdata[i], values->pdata[i]);
	g_ptr_array_free(names, TRUE);
	g_ptr_array_free(values, TRUE);

	GDateTime *dt = g_date_time_new_from_unix_local(s->date);
	g_mime_message_set_date(msg, dt);
	g_date_time_unref(dt);
	char *id = build_message_id(s);
	g_mime_message_set_message_id(msg, id);
	g_free(id);
	g_mime_object_set_header(GMIME_OBJECT(msg), "MIME-Version", "1.0", NULL);
	g_mime_object_set_header(GMIME_OBJECT(msg), "Auto-Submitted", "auto-generated", NULL);
}

char *notify_build_message(const struct notify_msg_spec *s, size_t *len, char **err)
{
	mailfmt_mime_init();
	GMimeMessage *msg = g_mime_message_new(FALSE);
	char *out = NULL;

	if (build_addresses(msg, s, err) < 0)
		goto done;
	build_headers(msg, s);

	char *body = notify_tmpl_render_body(s->tmpl, s->vars);
	GMimeObject *text = build_text_part("plain", body);
	g_free(body);
	if (s->html) {
		GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
		char *html = notify_tmpl_render_body(s->html, s->vars);
		GMimeObject *hp = build_text_part("html", html);
		g_free(html);
		g_mime_multipart_add(alt, text); /* the plainest first (RFC 2046 5.1.4) */
		g_mime_multipart_add(alt, hp);
		g_object_unref(hp);
		g_object_unref(text);
		text = GMIME_OBJECT(alt);
	}
	if (s->attach_headers && *s->attach_headers) {
		GMimeMultipart *mp = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(mp, text);
		GMimeObject *hp = build_headers_part(s->attach_headers);
		g_mime_multipart_add(mp, hp);
		g_object_unref(hp);
		g_mime_message_set_mime_part(msg, GMIME_OBJECT(mp));
		g_object_unref(mp);
	} else {
		g_mime_message_set_mime_part(msg, text);
	}
	g_object_unref(text);

	GMimeStream *ms = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), NULL, ms);
	/* GMime wrote LF line ends and no CR (the values and the header block
	 * lost theirs): SMTP's CRLF comes from the one converter */
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	GString *crlf = mailfmt_crlf((const char *)ba->data, ba->len);
	*len = crlf->len;
	out = g_string_free(crlf, FALSE);
	g_object_unref(ms);
done:
	g_object_unref(msg);
	return out;
}
