/*
 * mail - build the weekly report mail (GMime) and send it (notify_send)
 *
 * report_mail_build() makes one message:
 *   multipart/related; type="multipart/alternative"
 *     multipart/alternative
 *       text/plain (the text table, quoted-printable, UTF-8)
 *       text/html  (the page, images referenced as cid:)
 *     image/png (Content-ID <cid>, inline) ...
 * with From, To, Subject, Date and Message-ID set through GMime, so that a
 * CR or LF in any of them is encoded rather than starting a new header.
 * The result has CRLF line ends, as notify_send wants.
 *
 * report_mail_send() delivers such a message to host:port through
 * notify's sender (notify/send.h) and succeeds only when the server
 * accepted the message and every recipient (the status of each is named
 * in *err otherwise); an address that could end the SMTP command is
 * refused before anything is sent.
 */
#include "report.h"

#include "log.h"
#include "mailfmt.h"
#include "notify/send.h"

#include <gmime/gmime.h>
#include <string.h>

static GMimeObject *mail_text_part(const char *subtype, const char *text)
{
	GMimeTextPart *p = g_mime_text_part_new_with_subtype(subtype);
	g_mime_text_part_set_charset(p, "utf-8");
	g_mime_text_part_set_text(p, text);
	g_mime_part_set_content_encoding(GMIME_PART(p), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	return GMIME_OBJECT(p);
}

static GMimeObject *mail_image_part(const struct report_image *img)
{
	GMimePart *p = g_mime_part_new_with_type("image", "png");
	gsize len;
	const char *data = g_bytes_get_data(img->png, &len);
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
	char *name = g_strdup_printf("%s.png", img->cid);

	g_mime_part_set_content(p, w);
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	g_mime_object_set_content_id(GMIME_OBJECT(p), img->cid);
	g_mime_object_set_disposition(GMIME_OBJECT(p), "inline");
	g_mime_part_set_filename(p, name);
	g_free(name);
	g_object_unref(w);
	g_object_unref(s);
	return GMIME_OBJECT(p);
}

/* Parse "Name <addr>" or "addr" into the message's From. */
static int mail_set_from(GMimeMessage *m, const char *from, char **err)
{
	InternetAddressList *l = internet_address_list_parse(NULL, from);
	InternetAddress *a =
	    l && internet_address_list_length(l) == 1 ? internet_address_list_get_address(l, 0) : NULL;
	if (!a || !INTERNET_ADDRESS_IS_MAILBOX(a)) {
		*err = g_strdup_printf("report mail: bad From address \"%s\"", from);
		if (l)
			g_object_unref(l);
		return -1;
	}
	internet_address_list_add(g_mime_message_get_from(m), a);
	g_object_unref(l);
	return 0;
}

int report_mail_build(const char *from, const char *const *to, const char *subject, const char *text,
                      const char *html, const struct report_image *images, size_t nimages, GBytes **out,
                      char **err)
{
	mailfmt_mime_init();
	GMimeMessage *m = g_mime_message_new(TRUE);
	int rc = -1;

	if (mail_set_from(m, from, err) < 0)
		goto done;
	for (size_t i = 0; to[i]; i++)
		g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, to[i]);
	g_mime_message_set_subject(m, subject, "utf-8");
	GDateTime *now = g_date_time_new_now_utc();
	g_mime_message_set_date(m, now);
	g_date_time_unref(now);
	char *host = g_strdup(g_get_host_name());
	char *mid = g_mime_utils_generate_message_id(host);
	g_mime_message_set_message_id(m, mid);
	g_free(mid);
	g_free(host);

	GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
	GMimeObject *part = mail_text_part("plain", text);
	g_mime_multipart_add(alt, part);
	g_object_unref(part);
	part = mail_text_part("html", html);
	g_mime_multipart_add(alt, part);
	g_object_unref(part);

	GMimeMultipart *rel = g_mime_multipart_new_with_subtype("related");
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(rel), "type", "multipart/alternative");
	g_mime_multipart_add(rel, GMIME_OBJECT(alt));
	g_object_unref(alt);
	for (size_t i = 0; i < nimages; i++) {
		part = mail_image_part(&images[i]);
		g_mime_multipart_add(rel, part);
		g_object_unref(part);
	}
	g_mime_message_set_mime_part(m, GMIME_OBJECT(rel));
	g_object_unref(rel);

	char *s = g_mime_object_to_string(GMIME_OBJECT(m), NULL); /* LF line ends */
	GString *crlf = mailfmt_crlf(s, strlen(s));
	g_free(s);
	gsize n = crlf->len;
	*out = g_bytes_new_take(g_string_free(crlf, FALSE), n);
	rc = 0;
done:
	g_object_unref(m);
	return rc;
}

int report_mail_send(const char *hostport, const char *env_from, const char *const *rcpts, GBytes *msg,
                     char **err)
{
	size_t n = 0;
	while (rcpts[n])
		n++;
	struct notify_send_rcpt *r = g_new0(struct notify_send_rcpt, n);
	for (size_t i = 0; i < n; i++)
		r[i].addr = rcpts[i];
	gsize len;
	const void *data = g_bytes_get_data(msg, &len);
	char *why = NULL;
	int rc = -1;

	if (notify_send(hostport, NULL, 0, env_from, r, n, data, len, &why) != 2) {
		*err = g_strdup_printf("report mail: %s: %s", hostport, why);
		goto done;
	}
	GString *bad = g_string_new(NULL);
	for (size_t i = 0; i < n; i++) {
		if (r[i].code >= 200 && r[i].code < 300)
			continue;
		char *who = log_printable(r[i].addr, 200);
		g_string_append_printf(bad, "%s<%s>: %s", bad->len ? "; " : "", who,
		                       r[i].reply ? r[i].reply : "no answer");
		g_free(who);
	}
	if (bad->len)
		*err = g_strdup_printf("report mail: %s: refused %s", hostport, bad->str);
	else
		rc = 0;
	g_string_free(bad, TRUE);
done:
	g_free(why);
	notify_send_clear(r, n);
	g_free(r);
	return rc;
}
