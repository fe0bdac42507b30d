/*
 * policy - per-recipient policy from the config and a simcontrol file
 * (see policy.h)
 *
 * Functions: policy_load, policy_ref, policy_unref, policy_lookup,
 * policy_parse_line, policy_free, policy_rcpt_category, policy_apply,
 * policy_destiny, policy_quarantine, policy_archive.
 *
 * Invariants: db->lines maps lower-case keys ("user@dom", "dom", "") to
 * fully resolved policies (every key filled), so a lookup never merges.
 * Failures: policy_load returns NULL with "FILE:LINE: reason" in *err.
 */
#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define NCAT (CAT_VIRUS + 1)

struct policy_db {
	gint refs;
	struct policy base;   /* from the config only */
	GHashTable *lines;    /* char* key -> struct policy* */
	enum msg_destiny destiny[NCAT];
	bool quarantine[NCAT];
	bool archive;
	double tag2;
	char **whitelist, **blacklist; /* lower case; "@dom" entries match a domain */
};

void policy_free(struct policy *p)
{
	if (!p)
		return;
	g_free(p->name);
	g_strfreev(p->attach);
	g_free(p);
}

static struct policy *policy_copy(const struct policy *b)
{
	struct policy *p = g_new0(struct policy, 1);
	p->name = g_strdup(b->name);
	p->clam = b->clam;
	p->spam = b->spam;
	p->kill = b->kill;
	p->attach = g_strdupv(b->attach);
	return p;
}

static int policy_bool(const char *v, bool *out)
{
	if (!g_ascii_strcasecmp(v, "yes") || !g_ascii_strcasecmp(v, "on") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!g_ascii_strcasecmp(v, "no") || !g_ascii_strcasecmp(v, "off") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	return -1;
}

/* v split at sep into stripped, lower-cased, non-empty items; with dot,
 * an item without a leading '.' gets one (and keeps its case, as before).
 * "attach=.exe:.scr" (the dot is optional) -> {".exe", ".scr"}. */
static char **policy_split(const char *v, const char *sep, bool dot)
{
	char **parts = g_strsplit(v, sep, -1);
	GPtrArray *a = g_ptr_array_new();
	for (char **p = parts; *p; p++) {
		char *e = g_strstrip(*p);
		if (*e)
			g_ptr_array_add(a, dot && *e != '.' ? g_strconcat(".", e, NULL) : g_ascii_strdown(e, -1));
	}
	g_ptr_array_add(a, NULL);
	g_strfreev(parts);
	return (char **)g_ptr_array_free(a, FALSE);
}

static int policy_set(struct policy *p, const char *k, const char *v, char **err)
{
	if (!strcmp(k, "clam") || !strcmp(k, "spam")) {
		if (policy_bool(v, !strcmp(k, "clam") ? &p->clam : &p->spam) == 0)
			return 0;
		*err = g_strdup_printf("%s=%s: expected yes or no", k, v);
		return -1;
	}
	if (!strcmp(k, "spam_hits")) {
		char *end = NULL;
		double d = g_ascii_strtod(v, &end);
		if (end != v && *end == '\0' && isfinite(d)) {
			p->kill = d;
			return 0;
		}
		*err = g_strdup_printf("spam_hits=%s: not a number", v);
		return -1;
	}
	if (!strcmp(k, "attach")) {
		g_strfreev(p->attach);
		p->attach = policy_split(v, ":", true);
		return 0;
	}
	*err = g_strdup_printf("unknown key '%s'", k);
	return -1;
}

int policy_parse_line(const char *line, const struct policy *base, char **key, struct policy **out, char **err)
{
	const char *colon = strchr(line, ':');
	if (!colon) {
		*err = g_strdup("expected ADDRESS:key=value,...");
		return -1;
	}
	char *k = g_strstrip(g_ascii_strdown(line, colon - line));
	if (strchr(k, ' ') || strchr(k, ',') || strchr(k, '=') || g_str_has_prefix(k, "@") ||
	    g_str_has_suffix(k, "@")) {
		*err = g_strdup_printf("'%s' is not an address or a domain", k);
		g_free(k);
		return -1;
	}
	struct policy *p = policy_copy(base);
	g_free(p->name);
	p->name = g_strdup(k);
	char **items = g_strsplit(colon + 1, ",", -1);
	int rc = 0;
	for (char **it = items; *it && rc == 0; it++) {
		char *item = g_strstrip(*it), *eq = strchr(item, '=');
		if (!*item)
			continue;
		if (!eq || eq == item) {
			*err = g_strdup_printf("'%s' is not key=value", item);
			rc = -1;
			break;
		}
		*eq = '\0';
		rc = policy_set(p, g_strstrip(item), g_strstrip(eq + 1), err);
	}
	g_strfreev(items);
	if (rc < 0) {
		policy_free(p);
		g_free(k);
		return -1;
	}
	*key = k;
	*out = p;
	return 0;
}

static void policy_conf(struct policy_db *db, const struct conf *c)
{
	static const struct {
		enum msg_category cat;
		const char *name;
	} keys[] = {{CAT_VIRUS, "virus"}, {CAT_BANNED, "banned"}, {CAT_UNCHECKED, "unchecked"},
		    {CAT_SPAM, "spam"},   {CAT_BADH, "badh"},     {CAT_OVERSIZED, "oversized"}};
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		char *d = g_strdup_printf("%s_destiny", keys[i].name), *q = g_strdup_printf("%s_quarantine", keys[i].name);
		db->destiny[keys[i].cat] = (enum msg_destiny)msg_destiny_parse(conf_str(c, "policy", d));
		if (keys[i].cat != CAT_OVERSIZED)
			db->quarantine[keys[i].cat] = conf_bool(c, "policy", q);
		g_free(d);
		g_free(q);
	}
	db->archive = conf_bool(c, "policy", "archive");
	db->tag2 = conf_double(c, "spam", "tag2_level");
	db->whitelist = policy_split(conf_str(c, "policy", "sender_whitelist"), ",", false);
	db->blacklist = policy_split(conf_str(c, "policy", "sender_blacklist"), ",", false);
	db->base.name = g_strdup("[policy]");
	db->base.clam = conf_bool(c, "clamav", "enabled");
	db->base.spam = conf_bool(c, "spam", "enabled");
	db->base.kill = conf_double(c, "spam", "kill_level");
	db->base.attach = g_new0(char *, 1);
}

/* Reads the lookup file: the default line first (it is the base of the
 * others), then every other line. */
static int policy_read_file(struct policy_db *db, const char *path, char **err)
{
	char *text = NULL;
	GError *ge = NULL;
	if (!g_file_get_contents(path, &text, NULL, &ge)) {
		*err = g_strdup_printf("%s: %s", path, ge->message);
		g_error_free(ge);
		return -1;
	}
	char **lines = g_strsplit(text, "\n", -1);
	g_free(text);
	const struct policy *base = &db->base;
	int rc = 0;
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (int i = 0; lines[i] && rc == 0; i++) {
			char *l = g_strstrip(g_strdup(lines[i])), *k = NULL, *e = NULL;
			struct policy *p = NULL;
			bool is_default = l[0] == ':';
			if (!*l || *l == '#' || is_default != (pass == 0)) {
				g_free(l);
				continue;
			}
			if (policy_parse_line(l, base, &k, &p, &e) < 0) {
				*err = g_strdup_printf("%s:%d: %s", path, i + 1, e);
				g_free(e);
				rc = -1;
			} else if (g_hash_table_contains(db->lines, k)) {
				*err = g_strdup_printf("%s:%d: duplicate entry for '%s'", path, i + 1, k);
				policy_free(p);
				g_free(k);
				rc = -1;
			} else {
				g_hash_table_insert(db->lines, k, p);
				if (is_default)
					base = p;
			}
			g_free(l);
		}
	}
	g_strfreev(lines);
	return rc;
}

struct policy_db *policy_load(const struct conf *c, char **err)
{
	struct policy_db *db = g_new0(struct policy_db, 1);
	db->refs = 1;
	db->lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)policy_free);
	policy_conf(db, c);
	const char *path = conf_str(c, "policy", "lookup_file");
	if (*path && policy_read_file(db, path, err) < 0) {
		policy_unref(db);
		return NULL;
	}
	return db;
}

struct policy_db *policy_ref(struct policy_db *db)
{
	g_atomic_int_inc(&db->refs);
	return db;
}

void policy_unref(struct policy_db *db)
{
	if (!db || !g_atomic_int_dec_and_test(&db->refs))
		return;
	g_hash_table_destroy(db->lines);
	g_free(db->base.name);
	g_strfreev(db->base.attach);
	g_strfreev(db->whitelist);
	g_strfreev(db->blacklist);
	g_free(db);
}

const struct policy *policy_lookup(const struct policy_db *db, const char *rcpt)
{
	char *a = g_ascii_strdown(rcpt, -1), *at = strrchr(a, '@');
	const struct policy *p = g_hash_table_lookup(db->lines, a);
	if (!p && at) {
		size_t ext = strcspn(a, "+-");
		if (a + ext < at) {
			char *plain = g_strdup_printf("%.*s%s", (int)ext, a, at);
			p = g_hash_table_lookup(db->lines, plain);
			g_free(plain);
		}
		if (!p)
			p = g_hash_table_lookup(db->lines, at + 1);
	}
	if (!p)
		p = g_hash_table_lookup(db->lines, "");
	g_free(a);
	return p ? p : &db->base;
}

static bool policy_listed(char **list, const char *sender)
{
	if (!sender || !*sender)
		return false;
	const char *at = strrchr(sender, '@');
	for (char **l = list; *l; l++) {
		if (**l == '@' ? at && !g_ascii_strcasecmp(at, *l) : !g_ascii_strcasecmp(sender, *l))
			return true;
	}
	return false;
}

/* The first file name whose extension is in the recipient's attach= list. */
static const char *policy_attach_hit(const struct policy *p, const struct msg *m)
{
	for (guint i = 0; i < m->attach_names->len; i++) {
		const char *n = g_ptr_array_index(m->attach_names, i), *dot = strrchr(n, '.');
		for (char **e = p->attach; dot && *e; e++)
			if (!g_ascii_strcasecmp(dot, *e))
				return n;
	}
	return NULL;
}

static enum msg_category policy_highest(unsigned mask)
{
	for (int c = CAT_VIRUS; c > CAT_CLEAN; c--)
		if (mask & (1u << c))
			return (enum msg_category)c;
	return CAT_CLEAN;
}

/* The combined precedence (README "Allow and block lists"): the store's
 * list entry for this recipient and sender (le) decides the spam verdict
 * when there is one; else the config whitelist, then the config blacklist
 * (spam=yes only), then the score. None of them touches a virus, a banned
 * part or anything else found. */
static enum msg_category policy_rcpt_category_list(const struct policy_db *db, const struct policy *p,
                                                   struct msg *m, const struct list_entry *le)
{
	unsigned mask = m->found & ~((1u << CAT_SPAM) | (1u << CAT_SPAMMY));
	if (!p->clam)
		mask &= ~(1u << CAT_VIRUS);
	if (p->spam && m->spam_checked) {
		if (m->spam_score >= p->kill)
			mask |= 1u << CAT_SPAM;
		else if (m->spam_score >= db->tag2)
			mask |= 1u << CAT_SPAMMY;
	}
	if (p->spam && policy_listed(db->blacklist, m->sender))
		mask |= 1u << CAT_SPAM;
	if (policy_listed(db->whitelist, m->sender))
		mask &= ~((1u << CAT_SPAM) | (1u << CAT_SPAMMY));
	if (le && le->kind == LIST_ALLOW)
		mask &= ~((1u << CAT_SPAM) | (1u << CAT_SPAMMY));
	else if (le && le->kind == LIST_BLOCK)
		mask = (mask & ~(1u << CAT_SPAMMY)) | (1u << CAT_SPAM);
	const char *hit = policy_attach_hit(p, m);
	if (hit) {
		mask |= 1u << CAT_BANNED;
		char *shown = log_printable(hit, 200);
		bool seen = false;
		for (guint i = 0; i < m->banned_names->len && !seen; i++)
			seen = strcmp(g_ptr_array_index(m->banned_names, i), shown) == 0;
		if (!seen)
			g_ptr_array_add(m->banned_names, shown);
		else
			g_free(shown);
	}
	return policy_highest(mask);
}

enum msg_category policy_rcpt_category(const struct policy_db *db, const struct policy *p, struct msg *m)
{
	return policy_rcpt_category_list(db, p, m, NULL);
}

enum msg_destiny policy_destiny(const struct policy_db *db, enum msg_category c)
{
	return (unsigned)c < NCAT ? db->destiny[c] : DESTINY_PASS;
}

bool policy_quarantine(const struct policy_db *db, enum msg_category c)
{
	return (unsigned)c < NCAT && db->quarantine[c];
}

bool policy_archive(const struct policy_db *db)
{
	return db->archive;
}

int policy_apply(const struct policy_db *db, struct msg *m)
{
	enum msg_category top = CAT_CLEAN;
	unsigned destinies = 0;
	for (guint i = 0; i < m->rcpts->len; i++) {
		struct msg_rcpt *r = g_ptr_array_index(m->rcpts, i);
		const struct policy *p = policy_lookup(db, r->addr);
		enum msg_category c = policy_rcpt_category_list(db, p, m, r->list);
		r->destiny = policy_destiny(db, c);
		/* never bounce to a sender a virus has probably forged, nor to <> */
		if (r->destiny == DESTINY_BOUNCE && (c == CAT_VIRUS || !m->sender || !*m->sender))
			r->destiny = DESTINY_DISCARD;
		r->quarantine = policy_quarantine(db, c);
		g_free(r->policy);
		r->policy = g_strdup(p->name);
		r->pol = NULL; /* the db may be replaced by a reload; nothing keeps a pointer */
		destinies |= 1u << r->destiny;
		if (c > top)
			top = c;
	}
	if (top > m->category)
		msg_set_category(m, top, "policy"); /* attach=, the sender blacklist or a block list entry */
	else if (top < m->category)
		m->category = top; /* e.g. an allowed sender or clam=no for every recipient */
	return __builtin_popcount(destinies);
}
