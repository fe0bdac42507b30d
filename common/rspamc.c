/*
 * rspamc - rspamd HTTP protocol client (see rspamc.h)
 *
 * Functions: rspamc_new, rspamc_free, rspamc_name, rspamc_check,
 * rspamc_parse, rspamc_learn.
 *
 * libcurl does the HTTP (keep-alive, timeouts, unix sockets), json-glib
 * the JSON. The curl handle of a thread lives in a GPrivate and is reset,
 * not freed, between calls: curl_easy_reset() keeps its connection cache,
 * which is what keeps the connection to rspamd open. Everything rspamd
 * sends is made safe in spam.c before it reaches a header or a log line.
 */
#include "rspamc.h"

#include <curl/curl.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "log.h"

struct rspamc {
	char *check_url, *check_unix;   /* base URL; unix socket path or NULL */
	char *learn_url, *learn_unix;
	char *password;                 /* NULL for none */
	char *name;
	int64_t timeout_ms;
	size_t max_reply;
};

static void rspamc_handle_free(gpointer h)
{
	curl_easy_cleanup(h);
}

static GPrivate rspamc_handle = G_PRIVATE_INIT(rspamc_handle_free);

static CURL *rspamc_curl(void)
{
	CURL *h = g_private_get(&rspamc_handle);
	if (h) {
		curl_easy_reset(h);
		return h;
	}
	h = curl_easy_init();
	if (h)
		g_private_set(&rspamc_handle, h);
	return h;
}

/* "unix:/path" -> *unix_path and a URL base for it; "host:port" -> URL. */
static int rspamc_addr(const char *what, const char *addr, char **url, char **unix_path, char **err)
{
	if (g_str_has_prefix(addr, "unix:") && addr[5]) {
		*unix_path = g_strdup(addr + 5);
		*url = g_strdup("http://localhost");
		return 0;
	}
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strpbrk(addr, "/?#@ \t\r\n")) {
		*err = g_strdup_printf("%s '%s' is not host:port or unix:/path", what, addr);
		return -1;
	}
	*unix_path = NULL;
	*url = g_strdup_printf("http://%s", addr);
	return 0;
}

struct rspamc *rspamc_new(const char *check_addr, const char *controller_addr, const char *password,
                          int64_t timeout_ms, size_t max_reply, char **err)
{
	static gsize once;
	if (g_once_init_enter(&once)) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		g_once_init_leave(&once, 1);
	}
	struct rspamc *c = g_new0(struct rspamc, 1);
	if (rspamc_addr("[spam] rspamd", check_addr, &c->check_url, &c->check_unix, err) < 0 ||
	    rspamc_addr("[spam] rspamd_controller", controller_addr, &c->learn_url, &c->learn_unix, err) < 0) {
		rspamc_free(c);
		return NULL;
	}
	c->password = password && *password ? g_strdup(password) : NULL;
	c->name = g_strdup(check_addr);
	c->timeout_ms = timeout_ms;
	c->max_reply = max_reply;
	return c;
}

void rspamc_free(struct rspamc *c)
{
	if (!c)
		return;
	g_free(c->check_url);
	g_free(c->check_unix);
	g_free(c->learn_url);
	g_free(c->learn_unix);
	g_free(c->password);
	g_free(c->name);
	g_free(c);
}

const char *rspamc_name(const struct rspamc *c)
{
	return c->name;
}

/* "Name: value" with every control character of value replaced: the
 * envelope comes from the SMTP session, and a request header must not be
 * split by it. */
static struct curl_slist *rspamc_header(struct curl_slist *l, const char *name, const char *value)
{
	if (!value || !*value)
		return l;
	char *h = g_strdup_printf("%s: %s", name, value);
	for (char *p = h + strlen(name) + 2; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	struct curl_slist *n = curl_slist_append(l, h);
	g_free(h);
	return n ? n : l;
}

struct rspamc_buf {
	GString *s;
	size_t max;
	bool over;
};

static size_t rspamc_write(char *p, size_t size, size_t n, void *ud)
{
	struct rspamc_buf *b = ud;
	size_t len = size * n;
	if (b->s->len + len > b->max) {
		b->over = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR and drops the connection */
	}
	g_string_append_len(b->s, p, (gssize)len);
	return len;
}

/* One POST; the reply body (bounded) and *status, or NULL + *err. */
static GString *rspamc_post(const struct rspamc *c, const char *base, const char *unix_path, const char *path,
                            struct curl_slist *hdrs, const void *data, size_t len, long *status, char **err)
{
	CURL *h = rspamc_curl();
	if (!h) {
		*err = g_strdup("curl_easy_init failed");
		return NULL;
	}
	char *url = g_strconcat(base, path, NULL);
	struct rspamc_buf b = {.s = g_string_new(""), .max = c->max_reply};
	/* curl would add these two; rspamd needs neither */
	hdrs = curl_slist_append(hdrs, "Content-Type:");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (unix_path)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, unix_path);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, rspamc_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL); /* the list is gone */
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	} else if (b.over) {
		*err = g_strdup_printf("%s: reply larger than %zu bytes", url, c->max_reply);
	} else {
		*err = g_strdup_printf("%s: %s", url, curl_easy_strerror(rc));
	}
	g_free(url);
	if (rc == CURLE_OK)
		return b.s;
	g_string_free(b.s, TRUE);
	return NULL;
}

static JsonObject *rspamc_json(JsonParser *p, const char *json, size_t len, char **err)
{
	GError *ge = NULL;
	if (!json_parser_load_from_data(p, json, (gssize)len, &ge)) {
		char *why = log_printable(ge->message, 200);
		*err = g_strdup_printf("reply is not JSON: %s", why);
		g_free(why);
		g_error_free(ge);
		return NULL;
	}
	JsonNode *root = json_parser_get_root(p);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		*err = g_strdup("reply is not a JSON object");
		return NULL;
	}
	return json_node_get_object(root);
}

static bool rspamc_number(JsonObject *o, const char *name, double *out)
{
	JsonNode *n = json_object_get_member(o, name);
	if (!n || !JSON_NODE_HOLDS_VALUE(n))
		return false;
	GType t = json_node_get_value_type(n);
	if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
		return false;
	*out = json_node_get_double(n);
	return isfinite(*out);
}

static const char *rspamc_string(JsonObject *o, const char *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;
	return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n)
	                                                                                       : NULL;
}

static JsonObject *rspamc_object(JsonObject *o, const char *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;
	return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static void rspamc_symbol(JsonObject *o, const char *name, JsonNode *n, gpointer ud)
{
	(void)o;
	double score = 0;
	if (JSON_NODE_HOLDS_OBJECT(n))
		rspamc_number(json_node_get_object(n), "score", &score);
	spam_result_add_symbol(ud, name, score);
}

/* A milter header is "value", {"value": ..., "order": N} or a list of them. */
static void rspamc_add_one(struct spam_result *r, const char *name, JsonNode *n)
{
	if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
		spam_result_add_header(r, name, json_node_get_string(n));
	else if (JSON_NODE_HOLDS_OBJECT(n) && rspamc_string(json_node_get_object(n), "value"))
		spam_result_add_header(r, name, rspamc_string(json_node_get_object(n), "value"));
}

static void rspamc_add_header(JsonObject *o, const char *name, JsonNode *n, gpointer ud)
{
	(void)o;
	if (!JSON_NODE_HOLDS_ARRAY(n)) {
		rspamc_add_one(ud, name, n);
		return;
	}
	JsonArray *a = json_node_get_array(n);
	for (guint i = 0; i < json_array_get_length(a); i++)
		rspamc_add_one(ud, name, json_array_get_element(a, i));
}

static void rspamc_remove_header(JsonObject *o, const char *name, JsonNode *n, gpointer ud)
{
	(void)o;
	(void)n;
	spam_result_remove_header(ud, name);
}

int rspamc_parse(const char *json, size_t len, struct spam_result *r, char **err)
{
	spam_result_init(r);
	JsonParser *p = json_parser_new();
	JsonObject *o = rspamc_json(p, json, len, err);
	int rc = -1;
	if (!o)
		goto out;
	const char *e = rspamc_string(o, "error");
	if (e) {
		char *why = log_printable(e, 200);
		*err = g_strdup_printf("rspamd error: %s", why);
		g_free(why);
		goto out;
	}
	const char *action = rspamc_string(o, "action");
	if (!rspamc_number(o, "score", &r->score) || !action) {
		*err = g_strdup("reply without score or action");
		goto out;
	}
	r->action = spam_action_parse(action);
	JsonObject *syms = rspamc_object(o, "symbols");
	if (syms)
		json_object_foreach_member(syms, rspamc_symbol, r);
	const char *smtp = rspamc_string(rspamc_object(o, "messages"), "smtp_message");
	if (smtp)
		r->message = log_printable(smtp, 200);
	JsonObject *milter = rspamc_object(o, "milter"), *add = rspamc_object(milter, "add_headers"),
		   *rm = rspamc_object(milter, "remove_headers");
	if (rm)
		json_object_foreach_member(rm, rspamc_remove_header, r);
	if (add)
		json_object_foreach_member(add, rspamc_add_header, r);
	rc = 0;
out:
	g_object_unref(p);
	if (rc < 0)
		spam_result_clear(r);
	return rc;
}

/* The HTTP status, when it is not success, as an error with rspamd's reason. */
static int rspamc_status(long status, const GString *body, char **err)
{
	if (status == 200)
		return 0;
	JsonParser *p = json_parser_new();
	char *ignored = NULL;
	JsonObject *o = rspamc_json(p, body->str, body->len, &ignored);
	char *why = log_printable(o && rspamc_string(o, "error") ? rspamc_string(o, "error") : "", 200);
	*err = g_strdup_printf("HTTP %ld%s%s", status, *why ? ": " : "", why);
	g_free(why);
	g_free(ignored);
	g_object_unref(p);
	return -1;
}

int rspamc_check(const struct rspamc *c, const struct spam_envelope *env, const void *data, size_t len,
                 struct spam_result *r, char **err)
{
	struct curl_slist *h = NULL;
	spam_result_init(r);
	if (env) {
		h = rspamc_header(h, "IP", env->ip);
		h = rspamc_header(h, "Helo", env->helo);
		h = rspamc_header(h, "Hostname", env->hostname);
		h = rspamc_header(h, "From", env->from);
		for (size_t i = 0; i < env->nrcpts; i++)
			h = rspamc_header(h, "Rcpt", env->rcpts[i]);
		h = rspamc_header(h, "Queue-Id", env->queue_id);
		h = rspamc_header(h, "User", env->user);
	}
	long status = 0;
	GString *body = rspamc_post(c, c->check_url, c->check_unix, "/checkv2", h, data, len, &status, err);
	if (!body)
		return -1;
	int rc = rspamc_status(status, body, err);
	if (rc == 0)
		rc = rspamc_parse(body->str, body->len, r, err);
	g_string_free(body, TRUE);
	return rc;
}

int rspamc_learn(const struct rspamc *c, enum spam_class cls, const void *data, size_t len, char **err)
{
	struct curl_slist *h = rspamc_header(NULL, "Password", c->password);
	long status = 0;
	GString *body = rspamc_post(c, c->learn_url, c->learn_unix, cls == SPAM_CLASS_SPAM ? "/learnspam" : "/learnham",
	                            h, data, len, &status, err);
	if (!body)
		return -1;
	/* rspamd has learned this message as this class already: 208, or (3.4)
	 * 404 with "has been already learned as"; the engine knows it either way */
	bool known = status == 208 || (status == 404 && strstr(body->str, "already learned as"));
	int rc = known ? 0 : rspamc_status(status, body, err);
	g_string_free(body, TRUE);
	return rc;
}
