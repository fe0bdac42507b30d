/*
 * web - scand-web, the recipients' digest pages (libmicrohttpd)
 *
 * Every digest link is BASE_URL/ACTION/TOKEN (common/linktok.h), ACTION
 * one of view, release, delete, allow (release and allow the sender),
 * block (block the sender). web_handler() answers them:
 *  - a GET never acts: view shows the message's headers and a plain-text
 *    preview (an HTML body shown as text, never rendered); release,
 *    delete, allow and block show a confirmation page whose button POSTs the same URL with
 *    a per-page CSRF token (linktok_csrf(), valid WEB_CSRF_MAX_AGE);
 *  - a POST with a valid CSRF token acts: release runs common/release
 *    (release_run()) to the recipient alone, with the actor
 *    "recipient <addr> via digest" in the trace header and the audit
 *    trail; delete marks the recipient's row deleted (store_rcpt_delete())
 *    and writes an audit event; allow adds an allow entry (common/lists,
 *    store_list_add()) for the sender scoped to the recipient's address,
 *    created by "recipient <addr> via digest", then releases; block adds
 *    such a block entry; each entry has the "lists-add" audit event that
 *    quarctl lists add writes; a second click says "already released",
 *    "already deleted" or "already blocked" and does nothing;
 *  - refusals are pages with their status: a tampered or expired link
 *    403, an unknown item 404 (also one no longer held for this recipient),
 *    a virus or a category [digest] self_release does not name 403 with
 *    the reason (release and allow alike), allow or block of the null
 *    sender 403, over [web] rate_limit requests a minute from one client
 *    address or for one recipient 429, a body over WEB_BODY_MAX 413, more
 *    than WEB_HEADERS_MAX header fields 431, another method 405.
 * Every response carries Content-Security-Policy: default-src 'none';
 * style-src 'self', X-Frame-Options: DENY, Referrer-Policy: no-referrer,
 * X-Content-Type-Options: nosniff and Cache-Control: no-store; every
 * value printed is made printable (log_printable()) and HTML-escaped.
 * /style.css is the one stylesheet.
 *
 * struct web is shared by libmicrohttpd's threads: the key, options and
 * configuration are read only; store handles come from a queue (one per
 * thread, opened before the privilege drop); the rate table has its lock.
 */
#ifndef GH_WEB_H
#define GH_WEB_H

#include <glib.h>
#include <microhttpd.h>
#include <stdint.h>

#include "conf.h"
#include "linktok.h"
#include "store.h"

#define WEB_BODY_MAX 4096     /* bytes of a POST body */
#define WEB_HEADERS_MAX 50    /* header fields of a request */
#define WEB_CSRF_MAX_AGE 3600 /* seconds a confirmation page's button works */
#define WEB_PREVIEW_MAX 20000 /* bytes of a message body shown by view */

struct web_rate; /* rate.c */

struct web {
	const struct conf *c;
	struct linktok_key key;
	GAsyncQueue *stores; /* struct store *, one per request at a time */
	struct web_rate *rate;
	int64_t (*now)(void); /* time(NULL); a test may move the clock */
};

/* rate.c: at most limit hits a minute per key; false when over it. */
struct web_rate *web_rate_new(int64_t limit);
void web_rate_free(struct web_rate *r);
bool web_rate_hit(struct web_rate *r, const char *key, int64_t now);

/* page.c: a page is a GString of HTML. web_page_start() opens it with an
 * escaped title; web_page_p() adds an element (tag) around escaped text;
 * web_esc() appends text made printable and escaped. web_page_send()
 * finishes it (frees b) and queues it with the security headers. */
GString *web_page_start(const char *title);
void web_esc(GString *b, const char *text);
void web_page_p(GString *b, const char *tag, const char *text);
enum MHD_Result web_page_send(struct MHD_Connection *conn, unsigned status, GString *b);
enum MHD_Result web_page_error(struct MHD_Connection *conn, unsigned status, const char *title,
                               const char *text);
enum MHD_Result web_style(struct MHD_Connection *conn);

/* view.c: the headers and a text preview of a quarantined message. */
void web_view_message(GString *b, const struct conf *c, struct store *st, const struct store_msg *m);

/* handler.c: libmicrohttpd's access and completion handlers; cls is the
 * struct web. */
enum MHD_Result web_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                            const char *version, const char *upload_data, size_t *upload_data_size,
                            void **con_cls);
void web_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe);

#endif
