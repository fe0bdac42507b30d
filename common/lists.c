/*
 * lists - allow and block list entries: validation and precedence (see
 * lists.h)
 *
 * Functions: list_kind_name, list_kind_parse, list_scope_norm,
 * list_pattern_norm, list_entry_key, list_probe_init, list_probe_clear,
 * list_pick, list_entry_describe, list_entry_copy, list_entry_free.
 *
 * Failures: the *_norm functions say what was wrong and what is expected,
 * in words an operator reads on a terminal or a web page.
 */
#include "lists.h"

#include <fnmatch.h>
#include <glib.h>
#include <string.h>

#define LIST_MAX_LEN 254 /* an address's longest path (RFC 5321) */

const char *list_kind_name(enum list_kind k)
{
	return k == LIST_BLOCK ? "block" : "allow";
}

int list_kind_parse(const char *s, enum list_kind *out)
{
	if (s && !strcmp(s, "allow"))
		*out = LIST_ALLOW;
	else if (s && !strcmp(s, "block"))
		*out = LIST_BLOCK;
	else
		return -1;
	return 0;
}

/* A domain name: dot-separated non-empty labels of letters, digits, '-'
 * and '_' (and UTF-8 bytes), not starting or ending with '-'. */
static bool list_domain_ok(const char *d)
{
	size_t len = strlen(d);
	if (len == 0 || len > 253 || d[0] == '.' || d[len - 1] == '.' || strstr(d, ".."))
		return false;
	for (const char *p = d; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(g_ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c >= 0x80))
			return false;
		if (c == '-' && (p == d || p[-1] == '.' || p[1] == '.' || !p[1]))
			return false;
	}
	return true;
}

/* A local part: printable, no space, no '@', no '<' '>' ',' and no glob
 * characters (an address in a scope or as a pattern is literal). */
static bool list_local_ok(const char *l, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];
		if ((c <= 0x20 || c == 0x7f) || strchr("@<>,*?[]\\\"", c))
			return false;
	}
	return true;
}

static bool list_address_ok(const char *a)
{
	const char *at = strrchr(a, '@');
	return at && strlen(a) <= LIST_MAX_LEN && list_local_ok(a, (size_t)(at - a)) &&
	       list_domain_ok(at + 1);
}

/* NULL after freeing norm, with *err: what was typed (escaped: no line
 * break reaches a terminal or a page) and what is expected. */
static char *list_refused(char *norm, const char *what, const char *typed, const char *expected, char **err)
{
	char *shown = g_strescape(typed ? typed : "", NULL);
	*err = g_strdup_printf("%s \"%s\": expected %s", what, shown, expected);
	g_free(shown);
	g_free(norm);
	return NULL;
}

char *list_scope_norm(const char *scope, char **err)
{
	char *s = g_ascii_strdown(scope ? scope : "", -1);
	g_strstrip(s);
	bool ok = !strcmp(s, "global") || (strchr(s, '@') ? list_address_ok(s)
	                                   : s[0] == '.'  ? list_domain_ok(s + 1)
	                                                  : strchr(s, '.') && list_domain_ok(s));
	return ok ? s
	          : list_refused(
	                s, "unknown scope", scope,
	                "global, a domain (example.net), its subdomains (.example.net) or a recipient "
	                "address",
	                err);
}

/* A glob: printable, no space, not too long, '[' closed, something after
 * its last '@'. */
static bool list_glob_ok(const char *g)
{
	const char *open = NULL, *at = strrchr(g, '@');
	if (!*g || strlen(g) > LIST_MAX_LEN || (at && !at[1]))
		return false;
	for (const char *p = g; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == '\\')
			return false;
		if (c == '[' && !open)
			open = p;
		else if (c == ']' && open && p > open + 1)
			open = NULL;
	}
	return !open;
}

static bool list_has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

char *list_pattern_norm(const char *pattern, char **err)
{
	char *p = g_ascii_strdown(pattern ? pattern : "", -1);
	g_strstrip(p);
	bool ok;
	if (g_str_has_prefix(p, "*@."))
		ok = list_domain_ok(p + 3);
	else if (g_str_has_prefix(p, "*@") && !list_has_glob(p + 2))
		ok = list_domain_ok(p + 2);
	else if (list_has_glob(p))
		ok = list_glob_ok(p);
	else
		ok = list_address_ok(p);
	return ok ? p
	          : list_refused(p, "bad pattern", pattern,
	                         "a sender address (user@example.net), *@example.net, *@.example.net (its "
	                         "subdomains) or a glob (*spam*@example.net)",
	                         err);
}

enum list_pclass list_entry_key(const char *pattern, char **key)
{
	if (g_str_has_prefix(pattern, "*@.") && !list_has_glob(pattern + 3)) {
		*key = g_strdup(pattern + 1);
		return LIST_P_SUBDOMAINS;
	}
	if (g_str_has_prefix(pattern, "*@") && !list_has_glob(pattern + 2)) {
		*key = g_strdup(pattern + 1);
		return LIST_P_DOMAIN;
	}
	if (list_has_glob(pattern)) {
		*key = g_strdup("");
		return LIST_P_GLOB;
	}
	*key = g_strdup(pattern);
	return LIST_P_ADDRESS;
}

static void list_probe_add(char **v, int *n, char *s)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp(v[i], s)) {
			g_free(s);
			return;
		}
	if (*n < LIST_PROBE_MAX)
		v[(*n)++] = s;
	else
		g_free(s);
}

/* "@.b.c", "@.c" for "a.b.c" (prefix "@."), or ".b.c", ".c" (prefix "."),
 * leaving room for reserve more entries. */
static void list_probe_parents(char **v, int *n, const char *dom, const char *prefix, int reserve)
{
	for (const char *d = strchr(dom, '.'); d && *n < LIST_PROBE_MAX - reserve; d = strchr(d + 1, '.'))
		list_probe_add(v, n, g_strconcat(prefix, d + 1, NULL));
}

bool list_probe_init(struct list_probe *p, const char *rcpt, const char *sender)
{
	memset(p, 0, sizeof(*p));
	if (!sender || !*sender)
		return false;
	char *r = g_ascii_strdown(rcpt ? rcpt : "", -1), *at = strrchr(r, '@');
	list_probe_add(p->scopes, &p->nscopes, g_strdup(r));
	if (at) {
		size_t ext = strcspn(r, "+-");
		if (r + ext < at)
			list_probe_add(p->scopes, &p->nscopes, g_strdup_printf("%.*s%s", (int)ext, r, at));
		list_probe_add(p->scopes, &p->nscopes, g_strdup(at + 1));
		list_probe_parents(p->scopes, &p->nscopes, at + 1, ".", 1);
	}
	list_probe_add(p->scopes, &p->nscopes, g_strdup("global"));
	g_free(r);

	p->sender = g_ascii_strdown(sender, -1);
	const char *sat = strrchr(p->sender, '@');
	list_probe_add(p->keys, &p->nkeys, g_strdup(p->sender));
	if (sat) {
		list_probe_add(p->keys, &p->nkeys, g_strdup(sat));
		list_probe_parents(p->keys, &p->nkeys, sat + 1, "@.", 1);
	}
	list_probe_add(p->keys, &p->nkeys, g_strdup("")); /* the globs */
	return true;
}

void list_probe_clear(struct list_probe *p)
{
	for (int i = 0; i < p->nscopes; i++)
		g_free(p->scopes[i]);
	for (int i = 0; i < p->nkeys; i++)
		g_free(p->keys[i]);
	g_free(p->sender);
	memset(p, 0, sizeof(*p));
}

/* How specific a pattern is; higher wins. The class first, then the
 * length of what it names literally. */
static int64_t list_specificity(const char *pattern, enum list_pclass c)
{
	int64_t lit = 0;
	for (const char *s = pattern; *s; s++)
		lit += !strchr("*?[]", *s);
	return (int64_t)c * 1000 + lit;
}

static int list_scope_rank(const struct list_probe *p, const char *scope)
{
	for (int i = 0; i < p->nscopes; i++)
		if (!strcmp(p->scopes[i], scope))
			return i;
	return -1;
}

const struct list_entry *list_pick(const struct list_probe *p, struct list_entry *const *c, size_t n)
{
	const struct list_entry *best = NULL;
	int best_rank = 0;
	int64_t best_spec = 0;
	for (size_t i = 0; i < n; i++) {
		const struct list_entry *e = c[i];
		char *key = NULL;
		enum list_pclass cls = list_entry_key(e->pattern, &key);
		g_free(key);
		int rank = list_scope_rank(p, e->scope);
		if (rank < 0 || (cls == LIST_P_GLOB && fnmatch(e->pattern, p->sender, 0) != 0))
			continue;
		int64_t spec = list_specificity(e->pattern, cls);
		bool better = !best || rank < best_rank ||
		              (rank == best_rank &&
		               (spec > best_spec ||
		                (spec == best_spec &&
		                 (e->kind > best->kind || (e->kind == best->kind && e->id < best->id)))));
		if (better) {
			best = e;
			best_rank = rank;
			best_spec = spec;
		}
	}
	return best;
}

char *list_entry_describe(const struct list_entry *e)
{
	return g_strdup_printf("%s #%lld for %s: %s", list_kind_name(e->kind), (long long)e->id, e->scope,
	                       e->pattern);
}

struct list_entry *list_entry_copy(const struct list_entry *e)
{
	struct list_entry *c = g_new0(struct list_entry, 1);
	*c = *e;
	c->scope = g_strdup(e->scope);
	c->pattern = g_strdup(e->pattern);
	c->note = g_strdup(e->note);
	c->created_by = g_strdup(e->created_by);
	return c;
}

void list_entry_free(struct list_entry *e)
{
	if (!e)
		return;
	g_free(e->scope);
	g_free(e->pattern);
	g_free(e->note);
	g_free(e->created_by);
	g_free(e);
}
