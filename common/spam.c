/*
 * spam - the spam engine behind [spam] backend (see spam.h)
 *
 * Functions: spam_engine_from_conf, spam_engine_free, spam_engine_name,
 * spam_engine_where, spam_engine_levels, spam_engine_check,
 * spam_engine_learn, spam_result_init, spam_result_clear,
 * spam_result_tests, spam_result_add_symbol, spam_result_add_header,
 * spam_result_remove_header, spam_action_name, spam_action_parse,
 * spam_verdict_of, spam_throttle_note.
 *
 * A backend is a small struct of operations (as the store's are); the
 * result is the same whoever filled it. Text from the engine (symbol
 * names, milter headers) passes through spam_result_add_* only, which is
 * where it is made safe for a header: the engine may be wrong or
 * hostile, and its headers go into every message it scores.
 */
#include "spam.h"

#include <math.h>
#include <string.h>

#include "rspamc.h"

#define SPAM_MAX_TESTS 900   /* keeps X-Spam-Status under the 998 line limit */
#define SPAM_MAX_HEADER 900  /* one milter header, name and value */
#define SPAM_MAX_SYMBOLS 500 /* symbols kept from one reply */

struct spam_backend {
	const char *name;
	int (*check)(void *client, const struct spam_envelope *env, const void *data, size_t len,
	             struct spam_result *r, char **err);
	int (*learn)(void *client, enum spam_class cls, const void *data, size_t len, char **err);
	const char *(*where)(const void *client);
	void (*free)(void *client);
};

struct spam_engine {
	const struct spam_backend *be;
	void *client;
	struct spam_levels lv;
};

/* spamd: SYMBOLS gives the score and the rule names, no envelope. */
static int spamd_be_check(void *client, const struct spam_envelope *env, const void *data, size_t len,
                          struct spam_result *r, char **err)
{
	(void)env;
	struct spamc_result sr;
	spam_result_init(r);
	if (spamc_check(client, SPAMC_SYMBOLS, data, len, &sr, err) < 0)
		return -1;
	r->score = sr.score;
	char **names = g_strsplit(sr.tests ? sr.tests : "", ",", -1);
	for (char **n = names; *n; n++)
		spam_result_add_symbol(r, *n, NAN);
	g_strfreev(names);
	spamc_result_clear(&sr);
	return 0;
}

static int spamd_be_learn(void *client, enum spam_class cls, const void *data, size_t len, char **err)
{
	return spam_learn(client, cls, data, len, err);
}

static const char *spamd_be_where(const void *client)
{
	return spamc_name(client);
}

static void spamd_be_free(void *client)
{
	spamc_free(client);
}

static const struct spam_backend spamd_backend = {
	.name = "spamd",
	.check = spamd_be_check,
	.learn = spamd_be_learn,
	.where = spamd_be_where,
	.free = spamd_be_free,
};

static int rspamd_be_check(void *client, const struct spam_envelope *env, const void *data, size_t len,
                           struct spam_result *r, char **err)
{
	return rspamc_check(client, env, data, len, r, err);
}

static int rspamd_be_learn(void *client, enum spam_class cls, const void *data, size_t len, char **err)
{
	return rspamc_learn(client, cls, data, len, err);
}

static const char *rspamd_be_where(const void *client)
{
	return rspamc_name(client);
}

static void rspamd_be_free(void *client)
{
	rspamc_free(client);
}

static const struct spam_backend rspamd_backend = {
	.name = "rspamd",
	.check = rspamd_be_check,
	.learn = rspamd_be_learn,
	.where = rspamd_be_where,
	.free = rspamd_be_free,
};

struct spam_engine *spam_engine_from_conf(const struct conf *c, char **err)
{
	int64_t timeout_ms = conf_int(c, "spam", "timeout") * 1000;
	const struct spam_backend *be = &spamd_backend;
	char *why = NULL;
	void *client;
	if (strcmp(conf_str(c, "spam", "backend"), "rspamd") == 0) {
		be = &rspamd_backend;
		client = rspamc_new(conf_str(c, "spam", "rspamd"), conf_str(c, "spam", "rspamd_controller"),
		                    conf_str(c, "spam", "rspamd_password"), timeout_ms, RSPAMC_MAX_REPLY, err);
	} else {
		client = spamc_new(conf_str(c, "spam", "spamd"), timeout_ms, &why);
		if (!client)
			*err = g_strdup_printf("[spam] spamd: %s", why);
		g_free(why);
	}
	if (!client)
		return NULL;
	struct spam_engine *e = g_new0(struct spam_engine, 1);
	e->be = be;
	e->client = client;
	e->lv.tag = conf_double(c, "spam", "tag_level");
	e->lv.tag2 = conf_double(c, "spam", "tag2_level");
	e->lv.kill = conf_double(c, "spam", "kill_level");
	e->lv.use_actions = conf_bool(c, "spam", "rspamd_actions");
	return e;
}

void spam_engine_free(struct spam_engine *e)
{
	if (!e)
		return;
	e->be->free(e->client);
	g_free(e);
}

const char *spam_engine_name(const struct spam_engine *e)
{
	return e->be->name;
}

const char *spam_engine_where(const struct spam_engine *e)
{
	return e->be->where(e->client);
}

const struct spam_levels *spam_engine_levels(const struct spam_engine *e)
{
	return &e->lv;
}

int spam_engine_check(struct spam_engine *e, const struct spam_envelope *env, const void *data, size_t len,
                      struct spam_result *r, char **err)
{
	if (e->be->check(e->client, env, data, len, r, err) < 0)
		return -1;
	spam_verdict_of(&e->lv, r);
	return 0;
}

int spam_engine_learn(struct spam_engine *e, enum spam_class cls, const void *data, size_t len, char **err)
{
	return e->be->learn(e->client, cls, data, len, err);
}

static void spam_symbol_free(gpointer p)
{
	struct spam_symbol *s = p;
	g_free(s->name);
	g_free(s);
}

void spam_result_init(struct spam_result *r)
{
	memset(r, 0, sizeof(*r));
	r->symbols = g_ptr_array_new_with_free_func(spam_symbol_free);
	r->add_headers = g_ptr_array_new_with_free_func(g_free);
	r->remove_headers = g_ptr_array_new_with_free_func(g_free);
}

void spam_result_clear(struct spam_result *r)
{
	if (r->symbols)
		g_ptr_array_unref(r->symbols);
	if (r->add_headers)
		g_ptr_array_unref(r->add_headers);
	if (r->remove_headers)
		g_ptr_array_unref(r->remove_headers);
	g_free(r->message);
	memset(r, 0, sizeof(*r));
}

/* Highest score first, names without a score last, then by name. */
static gint spam_symbol_cmp(gconstpointer a, gconstpointer b)
{
	const struct spam_symbol *x = *(struct spam_symbol *const *)a, *y = *(struct spam_symbol *const *)b;
	bool xn = isnan(x->score), yn = isnan(y->score);
	if (xn != yn)
		return xn ? 1 : -1;
	if (!xn && x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return strcmp(x->name, y->name);
}

void spam_result_add_symbol(struct spam_result *r, const char *name, double score)
{
	GString *n = g_string_new("");
	for (const char *p = name; *p && n->len < 100; p++)
		if (g_ascii_isalnum(*p) || *p == '_' || *p == '.' || *p == '-')
			g_string_append_c(n, *p);
	if (!n->len || r->symbols->len >= SPAM_MAX_SYMBOLS) {
		g_string_free(n, TRUE);
		return;
	}
	struct spam_symbol *s = g_new0(struct spam_symbol, 1);
	s->name = g_string_free(n, FALSE);
	s->score = score;
	g_ptr_array_add(r->symbols, s);
	g_ptr_array_sort(r->symbols, spam_symbol_cmp);
}

char *spam_result_tests(const struct spam_result *r)
{
	GString *t = g_string_new("");
	for (guint i = 0; i < r->symbols->len; i++) {
		const struct spam_symbol *s = g_ptr_array_index(r->symbols, i);
		char one[160];
		if (isnan(s->score))
			g_snprintf(one, sizeof(one), "%s", s->name);
		else
			g_snprintf(one, sizeof(one), "%s=%.2f", s->name, s->score);
		if (t->len + strlen(one) + 1 > SPAM_MAX_TESTS)
			break;
		g_string_append_printf(t, "%s%s", t->len ? "," : "", one);
	}
	return g_string_free(t, FALSE);
}

/* A field name: printable ASCII without ':' or space (RFC 5322 ftext). */
static bool spam_field_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 76)
		return false;
	for (const char *p = name; *p; p++)
		if (*p <= 32 || *p >= 127 || *p == ':')
			return false;
	return true;
}

bool spam_result_add_header(struct spam_result *r, const char *name, const char *value)
{
	if (!spam_field_name_ok(name))
		return false;
	/* Unfold: every run of CR, LF and blanks becomes one space, so that the
	 * engine's folded value (or an injected line) stays one field. Other
	 * control characters go too. */
	GString *h = g_string_new(name);
	g_string_append(h, ": ");
	bool blank = false;
	for (const unsigned char *p = (const unsigned char *)value; *p && h->len < SPAM_MAX_HEADER; p++) {
		if (*p == '\r' || *p == '\n' || *p == ' ' || *p == '\t') {
			blank = true;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f)
			continue;
		if (blank && h->str[h->len - 1] != ' ')
			g_string_append_c(h, ' ');
		blank = false;
		g_string_append_c(h, (char)*p);
	}
	g_ptr_array_add(r->add_headers, g_string_free(h, FALSE));
	return true;
}

bool spam_result_remove_header(struct spam_result *r, const char *name)
{
	if (!spam_field_name_ok(name))
		return false;
	g_ptr_array_add(r->remove_headers, g_strdup(name));
	return true;
}

static const char *const spam_action_names[] = {
	[SPAM_ACTION_NONE] = "",
	[SPAM_ACTION_NO_ACTION] = "no action",
	[SPAM_ACTION_GREYLIST] = "greylist",
	[SPAM_ACTION_ADD_HEADER] = "add header",
	[SPAM_ACTION_REWRITE_SUBJECT] = "rewrite subject",
	[SPAM_ACTION_SOFT_REJECT] = "soft reject",
	[SPAM_ACTION_REJECT] = "reject",
};

const char *spam_action_name(enum spam_action a)
{
	return (size_t)a < G_N_ELEMENTS(spam_action_names) ? spam_action_names[a] : "";
}

/* An action rspamd may add later (or a custom one) is no action here. */
enum spam_action spam_action_parse(const char *s)
{
	for (size_t i = 1; i < G_N_ELEMENTS(spam_action_names); i++)
		if (g_ascii_strcasecmp(s, spam_action_names[i]) == 0)
			return (enum spam_action)i;
	return SPAM_ACTION_NO_ACTION;
}

void spam_verdict_of(const struct spam_levels *lv, struct spam_result *r)
{
	enum spam_verdict v = r->score >= lv->kill   ? SPAM_KILL
	                      : r->score >= lv->tag2 ? SPAM_TAG2
	                      : r->score >= lv->tag  ? SPAM_TAG
	                                             : SPAM_CLEAN;
	enum spam_verdict a = SPAM_CLEAN;
	r->soft_reject = false;
	if (lv->use_actions) {
		switch (r->action) {
		case SPAM_ACTION_REJECT: a = SPAM_KILL; break;
		case SPAM_ACTION_ADD_HEADER:
		case SPAM_ACTION_REWRITE_SUBJECT: a = SPAM_TAG2; break;
		case SPAM_ACTION_SOFT_REJECT:
		case SPAM_ACTION_GREYLIST: r->soft_reject = true; break;
		default: break;
		}
	}
	r->by_action = a;
	r->verdict = MAX(v, a);
}

bool spam_throttle_note(struct spam_throttle *t, gint64 now, unsigned *count)
{
	g_mutex_lock(&t->lock);
	t->count++;
	bool log = t->last_log == 0 || now - t->last_log >= SPAM_THROTTLE_US;
	if (log) {
		*count = t->count;
		t->count = 0;
		t->last_log = now;
	}
	g_mutex_unlock(&t->lock);
	return log;
}
