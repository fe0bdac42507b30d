/*
 * scan_banned - banned names and types in the MIME tree and in archives
 * (see scan_banned.h)
 *
 * Functions: scan_banned_stage (init, scan, reload, fini),
 * scan_banned_name.
 *
 * The rules are immutable once built; a reload builds a new set and swaps
 * it under a reference (g_atomic_rc_box), as the spamd stage does. The
 * libmagic pool is made once at init (before chroot) and kept.
 * Failures: init returns -1 when libmagic cannot load its database.
 */
#include "scan_banned.h"

#include <string.h>

#include "log.h"
#include "mime_walk.h"
#include "scan_util.h"

#define BANNED_MAX_RECORDED 20

/* Extensions that make a double extension dangerous, whatever the
 * [banned] extensions list says. */
static const char *const banned_exec_ext[] = {"exe", "vbs", "pif", "scr", "bat", "cmd", "com", "cpl",
					      "dll", "js",  "jse", "wsf", "hta", "msi", "lnk", "vbe"};

/* libmagic's names for executable content. */
static const char *const banned_exec_types[] = {
	"application/x-dosexec",        "application/vnd.microsoft.portable-executable",
	"application/x-executable",     "application/x-pie-executable",
	"application/x-sharedlib",      "application/x-mach-binary",
	"application/x-msdownload",     "application/x-elf",
};

struct banned_rules {
	char **ext;   /* lower case, without the dot */
	char **types; /* lower case */
	bool double_ext, executables;
	struct mime_limits lim;
};

struct banned_state {
	struct scan_live rules; /* struct banned_rules */
	struct mime_magic_pool *pool;
};

static void banned_rules_clear(gpointer p)
{
	struct banned_rules *r = p;
	g_strfreev(r->ext);
	g_strfreev(r->types);
}

static char **banned_list(const char *v, bool strip_dot)
{
	char **l = g_strsplit(v, ",", -1);
	GPtrArray *a = g_ptr_array_new();
	for (char **p = l; *p; p++) {
		char *e = g_strstrip(*p);
		if (strip_dot && *e == '.')
			e++;
		if (*e)
			g_ptr_array_add(a, g_ascii_strdown(e, -1));
	}
	g_ptr_array_add(a, NULL);
	g_strfreev(l);
	return (char **)g_ptr_array_free(a, FALSE);
}

static struct banned_rules *banned_rules_new(const struct conf *c)
{
	struct banned_rules *r = g_atomic_rc_box_new0(struct banned_rules);
	r->ext = banned_list(conf_str(c, "banned", "extensions"), true);
	r->types = banned_list(conf_str(c, "banned", "mime_types"), false);
	r->double_ext = conf_bool(c, "banned", "double_extensions");
	r->executables = conf_bool(c, "banned", "executables");
	r->lim.max_depth = (int)conf_int(c, "banned", "max_depth");
	r->lim.max_parts = (int)conf_int(c, "banned", "max_parts");
	r->lim.max_arch_depth = (int)conf_int(c, "clamav", "max_recursion");
	r->lim.max_files = (int)conf_int(c, "clamav", "max_files");
	r->lim.max_file_size = conf_int(c, "clamav", "max_file_size");
	r->lim.max_total = conf_int(c, "clamav", "max_scan_size");
	for (char **t = r->types; t && *t; t++) /* libmagic gives text/... types to text content */
		r->lim.magic_for_text |= g_str_has_prefix(*t, "text/");
	return r;
}

static bool banned_in(char *const *list, const char *s)
{
	for (; *list; list++)
		if (!g_ascii_strcasecmp(*list, s))
			return true;
	return false;
}

static const char *banned_name_rules(const struct banned_rules *r, const char *name)
{
	/* "evil.exe. " is evil.exe to Windows */
	char *n = g_ascii_strdown(name, -1);
	size_t len = strlen(n);
	while (len && (n[len - 1] == '.' || n[len - 1] == ' ' || n[len - 1] == '\t'))
		n[--len] = '\0';
	const char *reason = NULL, *dot = strrchr(n, '.');
	if (dot && banned_in(r->ext, dot + 1))
		reason = "extension";
	if (dot && r->double_ext && dot > n) {
		const char *prev = g_strrstr_len(n, dot - n, ".");
		bool exec = false;
		for (size_t i = 0; i < G_N_ELEMENTS(banned_exec_ext); i++)
			exec = exec || !strcmp(dot + 1, banned_exec_ext[i]);
		if (prev && prev + 1 < dot && exec)
			reason = "double extension";
	}
	g_free(n);
	return reason;
}

static bool banned_exec_type(const char *type)
{
	for (size_t i = 0; i < G_N_ELEMENTS(banned_exec_types); i++)
		if (!strcmp(type, banned_exec_types[i]))
			return true;
	return false;
}

struct banned_scan {
	const struct banned_rules *r;
	struct msg *m;
};

static void banned_record(struct msg *m, const char *path, const char *type)
{
	if (m->banned_names->len >= BANNED_MAX_RECORDED)
		return;
	char *shown = type ? g_strdup_printf("%s (%s)", path, type) : g_strdup(path);
	g_ptr_array_add(m->banned_names, log_printable(shown, 200));
	g_free(shown);
}

static void banned_item(const struct mime_item *it, void *arg)
{
	struct banned_scan *bs = arg;
	const struct banned_rules *r = bs->r;
	struct msg *m = bs->m;
	const char *type = NULL, *hit = NULL;
	/* every name the part gives itself counts: the most dangerous wins */
	for (const char *const *n = it->names; n && *n; n++) {
		g_ptr_array_add(m->attach_names, g_strdup(*n));
		if (!hit && banned_name_rules(r, *n))
			hit = *n;
	}
	if (!hit && it->declared && banned_in(r->types, it->declared))
		type = it->declared;
	else if (!hit && (banned_in(r->types, it->real) || (r->executables && banned_exec_type(it->real))))
		type = it->real;
	if (!hit && !type)
		return;
	/* a part shown as "a.txt" but banned as its other name "a.exe" is
	 * recorded by the name that banned it */
	banned_record(m, hit && hit != it->name ? hit : it->path, type);
	msg_set_category(m, CAT_BANNED, "banned");
}

static int banned_init(const struct conf *c, void **state, char **err)
{
	int n = (int)MAX(4u, 2 * g_get_num_processors());
	struct mime_magic_pool *pool = mime_magic_pool_new(n, err);
	if (!pool)
		return -1;
	struct banned_state *s = g_new0(struct banned_state, 1);
	s->pool = pool;
	scan_live_init(&s->rules, banned_rules_new(c), banned_rules_clear);
	*state = s;
	return 0;
}

static int banned_reload(void *state, const struct conf *c, char **err)
{
	(void)err;
	struct banned_state *s = state;
	scan_live_swap(&s->rules, banned_rules_new(c));
	return 0;
}

static void banned_fini(void *state)
{
	struct banned_state *s = state;
	if (!s)
		return;
	scan_live_clear(&s->rules);
	mime_magic_pool_free(s->pool);
	g_free(s);
}

static enum stage_result banned_scan(void *state, struct msg *m)
{
	struct banned_state *s = state;
	struct banned_rules *r = scan_live_get(&s->rules);
	struct banned_scan bs = {.r = r, .m = m};
	GString *why = g_string_new("");
	struct mime_doc *own, *doc = scan_mime_doc(m, &own);
	enum mime_result mr = mime_walk(doc, &r->lim, s->pool, banned_item, &bs, why);
	mime_doc_free(own);
	scan_live_put(&s->rules, r);
	if (mr == MIME_OK) {
		g_string_free(why, TRUE);
		return STAGE_OK;
	}
	char *shown = log_printable(why->str, 300);
	scan_note(m, "banned: %s", shown);
	g_free(shown);
	g_string_free(why, TRUE);
	msg_set_category(m, CAT_UNCHECKED, "banned");
	return STAGE_UNCHECKED;
}

const char *scan_banned_name(void *state, const char *name)
{
	struct banned_state *s = state;
	struct banned_rules *r = scan_live_get(&s->rules);
	const char *reason = banned_name_rules(r, name);
	scan_live_put(&s->rules, r);
	return reason;
}

const struct stage scan_banned_stage = {
	.name = "banned",
	.init = banned_init,
	.scan = banned_scan,
	.reload = banned_reload,
	.fini = banned_fini,
};
