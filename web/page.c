/*
 * page - the HTML of scand-web's pages and the headers every answer has
 *
 * Pages are built by appending: markup written here, every value through
 * web_esc() (printable, then escaped), so nothing from a message or a
 * request becomes markup. The stylesheet is served by scand-web itself
 * (/style.css), the only thing the Content-Security-Policy lets a page
 * load; no script, no image, no frame.
 */
#include "web.h"

#include <string.h>

#include "log.h"

static const char web_css[] =
    "body{font-family:sans-serif;max-width:50em;margin:2em auto;padding:0 1em;color:#222}\n"
    "h1{font-size:1.4em}\n"
    "table{border-collapse:collapse}td,th{text-align:left;padding:.2em .8em .2em 0;vertical-align:top}\n"
    "pre{background:#f4f4f4;padding:.8em;white-space:pre-wrap;word-break:break-word}\n"
    "button{font-size:1.1em;padding:.4em 1.2em}\n"
    ".refused{color:#a00}\n";

void web_esc(GString *b, const char *text)
{
	char *p = log_printable(text ? text : "", 0);
	char *e = g_markup_escape_text(p, -1);
	g_string_append(b, e);
	g_free(e);
	g_free(p);
}

GString *web_page_start(const char *title)
{
	GString *b = g_string_new("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
	                          "<meta name=\"viewport\" content=\"width=device-width\">\n"
	                          "<link rel=\"stylesheet\" href=\"../style.css\">\n<title>");
	web_esc(b, title);
	g_string_append(b, "</title>\n</head>\n<body>\n<h1>");
	web_esc(b, title);
	g_string_append(b, "</h1>\n");
	return b;
}

void web_page_p(GString *b, const char *tag, const char *text)
{
	g_string_append_printf(b, "<%s>", tag);
	web_esc(b, text);
	g_string_append_printf(b, "</%s>\n", tag);
}

static enum MHD_Result web_send(struct MHD_Connection *conn, unsigned status, const char *type,
                                const void *data, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'self'");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, HEAD, POST");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

enum MHD_Result web_page_send(struct MHD_Connection *conn, unsigned status, GString *b)
{
	g_string_append(b, "</body>\n</html>\n");
	enum MHD_Result rc = web_send(conn, status, "text/html; charset=utf-8", b->str, b->len);
	g_string_free(b, TRUE);
	return rc;
}

enum MHD_Result web_page_error(struct MHD_Connection *conn, unsigned status, const char *title,
                               const char *text)
{
	GString *b = web_page_start(title);
	g_string_append(b, "<p class=\"refused\">");
	web_esc(b, text);
	g_string_append(b, "</p>\n");
	return web_page_send(conn, status, b);
}

enum MHD_Result web_style(struct MHD_Connection *conn)
{
	return web_send(conn, MHD_HTTP_OK, "text/css; charset=utf-8", web_css, strlen(web_css));
}
