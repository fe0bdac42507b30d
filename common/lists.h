/*
 * lists - allow and block lists: entries, their validation and the rule
 * that picks the entry deciding one recipient
 *
 * An entry says, for a scope (whose mail), what to do with a sender
 * pattern. Scopes: "global"; a domain "example.net" (recipients at that
 * domain); ".example.net" (recipients at any subdomain of it, not at
 * example.net itself); a recipient address. Patterns: an address; "*@domain"
 * (senders at that domain); "*@.domain" (senders at any subdomain of it);
 * or a glob ('*', '?', '[...]', fnmatch(3)) over the whole address. Both
 * are kept in lower case and matched case-insensitively.
 *
 * list_scope_norm() and list_pattern_norm() validate and lower-case what
 * an operator typed (quarctl, the web pages): NULL with *err saying what
 * is expected. list_entry_key() gives the pattern's class and its probe
 * key (see schema/007-lists.sql).
 *
 * Lookup (store_list_lookup() in store.h): list_probe_init() lists the
 * scopes of a recipient in precedence order (the address, the address
 * without its +/- extension, the domain, the subdomain scopes of its parent
 * domains from the nearest, global) and the probe keys of a sender; the
 * backend returns the unexpired entries of those scopes with those keys;
 * list_pick() chooses: the first scope in that order with a matching entry
 * decides; inside it the more specific pattern wins (address, *@domain,
 * *@.domain with the longer domain first, then globs with more literal
 * characters first); at equal specificity block beats allow. The null
 * sender (<>) matches no entry.
 *
 * list_entry_describe() is the text recorded on the recipient's verdict
 * row and shown in headers ("block #12 for example.net: *@spam.example").
 */
#ifndef GH_LISTS_H
#define GH_LISTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum list_kind { LIST_ALLOW, LIST_BLOCK };

struct list_entry {
	int64_t id;
	char *scope; /* "global", "example.net", ".example.net" or an address */
	enum list_kind kind;
	char *pattern;
	char *note;
	char *created_by;
	int64_t created_at;
	int64_t expires; /* 0 = never */
};

/* Pattern classes, least specific first. */
enum list_pclass { LIST_P_GLOB = 1, LIST_P_SUBDOMAINS, LIST_P_DOMAIN, LIST_P_ADDRESS };

/* At most this many scopes and sender keys per lookup (deeper parent
 * domains than fit are not consulted). */
#define LIST_PROBE_MAX 10

struct list_probe {
	char *scopes[LIST_PROBE_MAX];
	int nscopes;
	char *keys[LIST_PROBE_MAX];
	int nkeys;
	char *sender; /* lower case */
};

const char *list_kind_name(enum list_kind k);            /* "allow", "block" */
int list_kind_parse(const char *s, enum list_kind *out); /* 0 or -1 */

/* Validated, lower-case copies (g_free), or NULL with *err (g_free). */
char *list_scope_norm(const char *scope, char **err);
char *list_pattern_norm(const char *pattern, char **err);
/* The class of a normalized pattern and its probe key (g_free). */
enum list_pclass list_entry_key(const char *pattern, char **key);

/* false: the null sender, nothing to look up. */
bool list_probe_init(struct list_probe *p, const char *rcpt, const char *sender);
void list_probe_clear(struct list_probe *p);
/* The entry among the candidates c[0..n) that decides (see above), or NULL. */
const struct list_entry *list_pick(const struct list_probe *p, struct list_entry *const *c, size_t n);

char *list_entry_describe(const struct list_entry *e); /* g_free */
struct list_entry *list_entry_copy(const struct list_entry *e);
void list_entry_free(struct list_entry *e);

#endif
