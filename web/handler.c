/*
 * handler - scand-web's answers (see web.h for what each one is)
 *
 * libmicrohttpd calls web_handler() once with the headers, then with each
 * piece of the body, then once more to answer; the body is kept (up to
 * WEB_BODY_MAX) in the connection's struct web_req. The checks run in the
 * order of their cost: method, header count, body size, client rate,
 * link token (no store access for a forged link), recipient rate, store.
 */
#include "web.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lists.h"
#include "log.h"
#include "notify/digest.h"
#include "release.h"

struct web_req {
	GString *body;
	bool too_large;
};

/* One request being answered. */
struct web_ctx {
	struct web *w;
	struct MHD_Connection *conn;
	const char *action, *token;
	bool post;
	struct web_req *rq;
	char *rcpt, *mail_id; /* from the token */
	struct store *st;
	struct store_msg *m;
	const struct store_rcpt *r; /* the token's recipient in m */
};

static const char *const web_actions[] = {"view", "release", "delete", "allow", "block"};

static char *web_client(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char buf[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
		          sizeof(buf));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
		          sizeof(buf));
	return g_strdup_printf("client %s", buf);
}

static bool web_rate_ok(struct web *w, const char *key)
{
	return web_rate_hit(w->rate, key, w->now());
}

/* The table of what the item is. */
static void web_summary(GString *b, const struct store_msg *m)
{
	char *subject = notify_digest_subject(m->subject);
	GDateTime *dt = g_date_time_new_from_unix_local(m->time);
	char *when = g_date_time_format(dt, "%Y-%m-%d %H:%M");
	char *size = g_format_size((guint64)m->size);
	const char *rows[][2] = {{"From", *m->sender ? m->sender : "<>"},
	                         {"Subject", subject},
	                         {"Received", when},
	                         {"Category", m->category},
	                         {"Size", size}};
	g_date_time_unref(dt);
	g_string_append(b, "<table>\n");
	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_string_append(b, "<tr><th>");
		web_esc(b, rows[i][0]);
		g_string_append(b, "</th><td>");
		web_esc(b, rows[i][1]);
		g_string_append(b, "</td></tr>\n");
	}
	g_string_append(b, "</table>\n");
	g_free(subject);
	g_free(when);
	g_free(size);
}

/* GET of release or delete: what would happen, and the one button. */
static enum MHD_Result web_confirm(struct web_ctx *x, const char *title, const char *what, const char *button)
{
	GString *b = web_page_start(title);
	web_summary(b, x->m);
	web_page_p(b, "p", what);
	char *csrf = linktok_csrf(&x->w->key, x->token, x->w->now());
	g_string_append(b,
	                "<form method=\"post\" action=\"\">\n<input type=\"hidden\" name=\"csrf\" value=\"");
	web_esc(b, csrf);
	g_string_append(b, "\">\n<button type=\"submit\" id=\"confirm\">");
	web_esc(b, button);
	g_string_append(b, "</button>\n</form>\n");
	g_free(csrf);
	return web_page_send(x->conn, MHD_HTTP_OK, b);
}

/* A POST must carry the CSRF token of a page made for this link. */
static bool web_csrf_ok(struct web_ctx *x)
{
	GError *ge = NULL;
	GHashTable *form =
	    g_uri_parse_params(x->rq->body->str, (gssize)x->rq->body->len, "&", G_URI_PARAMS_WWW_FORM, &ge);
	if (!form) {
		g_error_free(ge);
		return false;
	}
	const char *csrf = g_hash_table_lookup(form, "csrf");
	bool ok = linktok_csrf_check(&x->w->key, x->token, csrf, x->w->now(), WEB_CSRF_MAX_AGE) == 0;
	g_hash_table_destroy(form);
	return ok;
}

static char *web_who(const struct web_ctx *x)
{
	return g_strdup_printf("recipient <%s> via digest", x->r->addr);
}

/* Whether the recipient's lists already have kind k for this sender. */
struct web_listed {
	char *pattern;
	enum list_kind kind;
	bool found;
};

static int web_listed_row(const struct list_entry *e, void *arg)
{
	struct web_listed *l = arg;
	l->found = e->kind == l->kind && strcmp(e->pattern, l->pattern) == 0 && e->expires == 0;
	return l->found;
}

static bool web_listed(struct web_ctx *x, enum list_kind k)
{
	struct web_listed l = {.pattern = g_ascii_strdown(x->m->sender, -1), .kind = k};
	store_list_query(x->st, x->r->addr, 0, web_listed_row, &l);
	g_free(l.pattern);
	return l.found;
}

/* The sender, allowed or blocked for this recipient alone, with the audit
 * event quarctl writes for a list entry: 0 or -1. */
static int web_list_add(struct web_ctx *x, enum list_kind k)
{
	char *who = web_who(x), *err = NULL;
	char *note = g_strdup_printf("from the digest, message %s", x->m->mail_id);
	struct list_entry e = {
	    .scope = x->r->addr, .kind = k, .pattern = x->m->sender, .note = note, .created_by = who};
	int64_t id = 0;
	int rc = store_list_add(x->st, &e, &id, &err);
	if (rc == 0) {
		e.id = id;
		e.scope = list_scope_norm(x->r->addr, &err);
		e.pattern = list_pattern_norm(x->m->sender, &err);
		char *what = list_entry_describe(&e);
		store_event(x->st, x->m->mail_id, "lists-add", who, what, "ok");
		g_free(what);
		g_free(e.scope);
		g_free(e.pattern);
	} else {
		char *p = log_printable(err, 300);
		msg_warn("(%s) %s from the digest: %s", x->m->mail_id, list_kind_name(k), p);
		g_free(p);
	}
	g_free(err);
	g_free(note);
	g_free(who);
	return rc == 0 ? 0 : -1;
}

static enum MHD_Result web_expired_page(struct web_ctx *x)
{
	return web_page_error(x->conn, MHD_HTTP_FORBIDDEN, "Page expired",
	                      "This confirmation page is too old or was not made for this link; "
	                      "open the link from your digest again.");
}

static enum MHD_Result web_no_sender(struct web_ctx *x)
{
	return web_page_error(
	    x->conn, MHD_HTTP_FORBIDDEN, "No sender",
	    "This message has no sender address (<>), so there is no sender to allow or block.");
}

static enum MHD_Result web_do_release(struct web_ctx *x)
{
	const struct conf *c = x->w->c;
	const char *hn = conf_str(c, "scand", "hostname");
	const char *to[] = {x->r->addr, NULL};
	char *who = web_who(x);
	struct release_opts ro = {
	    .quar_dir = conf_str(c, "scand", "quarantine_dir"),
	    .forward = release_forward(c),
	    .helo = *hn ? hn : g_get_host_name(),
	    .timeout_s = (int)conf_int(c, "scand", "forward_timeout"),
	    .who = who,
	    .to = to,
	};
	struct release_outcome out;
	enum release_result res = release_run(x->st, x->m, &ro, &out);
	char *p = log_printable(x->r->addr, 200);
	msg_info("(%s) release to <%s> from the digest: %s", x->m->mail_id, p, out.msg ? out.msg : "");
	g_free(p);
	release_outcome_clear(&out);
	g_free(who);
	if (res == RELEASE_OK) {
		GString *b = web_page_start("Released");
		web_summary(b, x->m);
		web_page_p(b, "p", "The message has been released and is on its way to your mailbox.");
		if (strcmp(x->action, "allow") == 0)
			web_page_p(b, "p", "Mail from this sender to you will no longer be held as spam.");
		return web_page_send(x->conn, MHD_HTTP_OK, b);
	}
	if (res == RELEASE_FAILED)
		return web_page_error(
		    x->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Not released",
		    "The mail server did not take the message just now; please try again later.");
	return web_page_error(x->conn, MHD_HTTP_CONFLICT, "Not released",
	                      "This message cannot be released from here; please ask the postmaster.");
}

/* release, and allow (release, then the sender allowed for this recipient). */
static enum MHD_Result web_release(struct web_ctx *x)
{
	const char *cat = x->m->category;
	bool allow = strcmp(x->action, "allow") == 0;
	if (strcmp(cat, "virus") == 0)
		return web_page_error(x->conn, MHD_HTTP_FORBIDDEN, "Not released",
		                      "This message contains a virus. It is never released from the digest; "
		                      "if you need it, ask the postmaster.");
	if (!notify_digest_self_release(x->w->c, cat)) {
		char *why = g_strdup_printf(
		    "Messages of the category \"%s\" can only be released by the postmaster.", cat);
		enum MHD_Result rc = web_page_error(x->conn, MHD_HTTP_FORBIDDEN, "Not released", why);
		g_free(why);
		return rc;
	}
	if (allow && !*x->m->sender)
		return web_no_sender(x);
	bool listed = allow && web_listed(x, LIST_ALLOW);
	if (x->r->released_at && (!allow || listed)) {
		GString *b = web_page_start("Already released");
		web_summary(b, x->m);
		web_page_p(b, "p", "This message was already released to you; it is not sent twice.");
		return web_page_send(x->conn, MHD_HTTP_OK, b);
	}
	if (!x->post && !allow)
		return web_confirm(
		    x, "Release this message?",
		    "It will be delivered to your mailbox as it arrived. Release only mail you expected.",
		    "Release to me");
	if (!x->post)
		return web_confirm(
		    x, "Release this message and allow its sender?",
		    "It will be delivered to your mailbox as it arrived, and mail from this sender to "
		    "you will no longer be held as spam (viruses and banned attachments still are).",
		    "Release and allow the sender");
	if (!web_csrf_ok(x))
		return web_expired_page(x);
	if (allow && !listed && web_list_add(x, LIST_ALLOW) < 0)
		return web_page_error(x->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Not done",
		                      "The sender could not be allowed just now; please try again later.");
	if (x->r->released_at) {
		GString *b = web_page_start("Sender allowed");
		web_page_p(b, "p", "The sender is allowed; the message was already released to you.");
		return web_page_send(x->conn, MHD_HTTP_OK, b);
	}
	return web_do_release(x);
}

static enum MHD_Result web_block(struct web_ctx *x)
{
	if (!*x->m->sender)
		return web_no_sender(x);
	if (web_listed(x, LIST_BLOCK)) {
		GString *b = web_page_start("Already blocked");
		web_page_p(b, "p", "You block this sender already.");
		return web_page_send(x->conn, MHD_HTTP_OK, b);
	}
	if (!x->post)
		return web_confirm(x, "Block this sender?",
		                   "Mail from this sender to you will be held as spam from now on.",
		                   "Block the sender");
	if (!web_csrf_ok(x))
		return web_expired_page(x);
	if (web_list_add(x, LIST_BLOCK) < 0)
		return web_page_error(x->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Not done",
		                      "The sender could not be blocked just now; please try again later.");
	GString *b = web_page_start("Blocked");
	web_summary(b, x->m);
	web_page_p(b, "p", "Mail from this sender to you will be held as spam from now on.");
	return web_page_send(x->conn, MHD_HTTP_OK, b);
}

static enum MHD_Result web_delete(struct web_ctx *x)
{
	if (x->r->deleted_at) {
		GString *b = web_page_start("Already deleted");
		web_page_p(b, "p", "You deleted this message already.");
		return web_page_send(x->conn, MHD_HTTP_OK, b);
	}
	if (!x->post)
		return web_confirm(
		    x, "Delete this message?",
		    "It will no longer be listed in your digests. Other recipients keep their copy.",
		    "Delete for me");
	if (!web_csrf_ok(x))
		return web_expired_page(x);
	int rc = store_rcpt_delete(x->st, x->m->id, x->r->addr, x->w->now());
	char *who = web_who(x);
	store_event(x->st, x->m->mail_id, "delete", who, x->r->addr, rc < 0 ? store_error(x->st) : "ok");
	g_free(who);
	if (rc < 0)
		return web_page_error(x->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Not deleted",
		                      "Something went wrong on our side; please try again later.");
	GString *b = web_page_start("Deleted");
	web_page_p(b, "p", "The message was deleted for you.");
	return web_page_send(x->conn, MHD_HTTP_OK, b);
}

static enum MHD_Result web_view(struct web_ctx *x)
{
	if (x->post)
		return web_page_error(x->conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Not allowed",
		                      "Viewing is a GET.");
	GString *b = web_page_start("Quarantined message");
	web_summary(b, x->m);
	web_view_message(b, x->w->c, x->st, x->m);
	return web_page_send(x->conn, MHD_HTTP_OK, b);
}

/* The item the token names, for its recipient: 0, or the answer sent. */
static int web_item(struct web_ctx *x, enum MHD_Result *ans)
{
	int got = store_get(x->st, x->mail_id, &x->m);
	if (got < 0) {
		*ans = web_page_error(x->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Try again later",
		                      "The quarantine cannot be read just now.");
		return -1;
	}
	for (size_t i = 0; got == 0 && i < x->m->nrcpt && !x->r; i++)
		if (g_ascii_strcasecmp(x->m->rcpt[i].addr, x->rcpt) == 0)
			x->r = &x->m->rcpt[i];
	bool held =
	    x->r && x->m->quar_path &&
	    (strcmp(x->m->quar_state, "quarantined") == 0 || strcmp(x->m->quar_state, "released") == 0);
	if (!held || (x->r->deleted_at && strcmp(x->action, "delete") != 0)) {
		*ans = web_page_error(x->conn, MHD_HTTP_NOT_FOUND, "Not found",
		                      "This message is no longer held for you.");
		return -1;
	}
	return 0;
}

static enum MHD_Result web_link(struct web_ctx *x)
{
	int64_t exp;
	int ok = linktok_check(&x->w->key, x->token, x->action, x->w->now(), &x->rcpt, &x->mail_id, &exp);
	if (ok == LINKTOK_EXPIRED)
		return web_page_error(x->conn, MHD_HTTP_FORBIDDEN, "Link expired",
		                      "This link has expired. A newer digest has fresh links.");
	if (ok < 0)
		return web_page_error(x->conn, MHD_HTTP_FORBIDDEN, "Invalid link",
		                      "This link is not valid. Use the links of your digest as they are.");
	char *key = g_strdup_printf("rcpt %s", x->rcpt);
	bool allowed = web_rate_ok(x->w, key);
	g_free(key);
	if (!allowed)
		return web_page_error(x->conn, MHD_HTTP_TOO_MANY_REQUESTS, "Too many requests",
		                      "Too many requests for this address; please wait a minute.");
	enum MHD_Result ans;
	x->st = g_async_queue_pop(x->w->stores);
	if (web_item(x, &ans) == 0) {
		if (strcmp(x->action, "view") == 0)
			ans = web_view(x);
		else if (strcmp(x->action, "release") == 0 || strcmp(x->action, "allow") == 0)
			ans = web_release(x);
		else if (strcmp(x->action, "block") == 0)
			ans = web_block(x);
		else
			ans = web_delete(x);
	}
	g_async_queue_push(x->w->stores, x->st);
	return ans;
}

/* "/ACTION/TOKEN", after whatever prefix the reverse proxy left. */
static bool web_route(struct web_ctx *x, char *path)
{
	char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return false;
	*slash = '\0';
	x->token = slash + 1;
	char *prev = strrchr(path, '/');
	x->action = prev ? prev + 1 : path;
	for (size_t i = 0; i < G_N_ELEMENTS(web_actions); i++)
		if (strcmp(x->action, web_actions[i]) == 0)
			return *x->token != '\0';
	return false;
}

static enum MHD_Result web_answer(struct web *w, struct MHD_Connection *conn, const char *url,
                                  const char *method, struct web_req *rq)
{
	struct web_ctx x = {.w = w, .conn = conn, .rq = rq, .post = strcmp(method, "POST") == 0};
	if (!x.post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return web_page_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Not allowed",
		                      "Only GET and POST are answered.");
	if (MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL) > WEB_HEADERS_MAX)
		return web_page_error(conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
		                      "Too many header fields", "The request has too many header fields.");
	if (rq->too_large)
		return web_page_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "Too large",
		                      "The request body is too large.");
	if (strcmp(url, "/style.css") == 0 || g_str_has_suffix(url, "/style.css"))
		return web_style(conn);
	char *client = web_client(conn);
	bool allowed = web_rate_ok(w, client);
	g_free(client);
	if (!allowed)
		return web_page_error(conn, MHD_HTTP_TOO_MANY_REQUESTS, "Too many requests",
		                      "Too many requests from your address; please wait a minute.");
	char *path = g_strndup(url, 2048);
	enum MHD_Result rc;
	if (!web_route(&x, path))
		rc = web_page_error(conn, MHD_HTTP_NOT_FOUND, "Not found", "There is nothing here.");
	else
		rc = web_link(&x);
	store_msg_free(x.m);
	g_free(x.rcpt);
	g_free(x.mail_id);
	g_free(path);
	return rc;
}

enum MHD_Result web_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                            const char *version, const char *upload_data, size_t *upload_data_size,
                            void **con_cls)
{
	struct web_req *rq = *con_cls;
	(void)version;
	if (!rq) { /* the headers are in: keep a place for the body */
		rq = g_new0(struct web_req, 1);
		rq->body = g_string_new("");
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (rq->body->len + *upload_data_size > WEB_BODY_MAX)
			rq->too_large = true;
		else
			g_string_append_len(rq->body, upload_data, (gssize)*upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return web_answer(cls, conn, url, method, rq);
}

void web_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe)
{
	struct web_req *rq = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (!rq)
		return;
	g_string_free(rq->body, TRUE);
	g_free(rq);
	*con_cls = NULL;
}
