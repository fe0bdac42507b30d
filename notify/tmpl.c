/*
 * tmpl - alert templates: parse once into a tree, render many times
 *
 * notify_tmpl_parse() splits a file into its header block and body and
 * parses each header value and the body into a list of nodes: text, a
 * placeholder, {{this}}, an if block (then and else lists) or an each block.
 * Errors name the file and line: "FILE:LINE: unknown placeholder {{x}}",
 * "FILE:LINE: {{#if x}} is not closed", "FILE:LINE: {{/each}} closes
 * {{#if}} opened at line N", ... notify_tmpl_render_headers() and
 * notify_tmpl_render_body() walk the tree with a set of values; they
 * cannot fail. A template whose file name ends in ".html" is a body
 * only (no header block) and every value it prints is HTML-escaped.
 * {{#each items}} walks the digest's items; inside it the item fields
 * (time, sender, subject, ...) name the current item's values.
 * Values are made safe for where they land: header values
 * through notify_header_safe(), body values lose CRs (and, for
 * one-line placeholders, LFs); in both, controls become spaces and bidi
 * or invisible format characters are spelled out by log_append_shown()
 * (the one rule of common/log.h).
 * The notify_vars_* helpers build value sets.
 */
#include "notify.h"

#include "log.h"

#include <glib.h>
#include <stdarg.h>
#include <string.h>

static const char *const var_names[NV_COUNT] = {
    "sender",     "recipients",  "virus_names", "banned_names",    "spam_score",
    "spam_tests", "category",    "mail_id",     "quarantine_path", "subject",
    "message_id", "client_addr", "date",        "hostname",        "original_headers",
    "items",      "more",        "total",
};

/* The fields of one item of {{#each items}} (the digest's quarantined
 * messages); inside that block these names mean the item's field. */
static const char *const item_names[NI_COUNT] = {
    "time", "sender", "subject", "category", "size", "mail_id", "view_url", "release_url", "delete_url",
    "allow_url", "block_url",
};

/* Header fields the message builder owns; a template may not set them. */
static const char *const reserved_headers[] = {
    "from",           "to",       "cc",          "bcc",    "date",         "message-id", "mime-version",
    "auto-submitted", "received", "return-path", "sender", "reply-to-all",
};

enum tnode_type { TN_TEXT, TN_VAR, TN_THIS, TN_IF, TN_EACH };

struct tnode {
	enum tnode_type type;
	int var;
	bool field; /* var is an item field (enum notify_item_field), not a placeholder */
	int line;
	char *text;
	GPtrArray *kids; /* TN_IF then / TN_EACH body */
	GPtrArray *alt;  /* TN_IF else, NULL if none */
};

struct notify_tmpl {
	char *file;
	bool html; /* a .html body: every value HTML-escaped, no header block */
	GPtrArray *hnames;  /* char* */
	GPtrArray *hvalues; /* GPtrArray* of nodes, one per header */
	GPtrArray *body;    /* nodes */
};

static void tnode_free(gpointer p)
{
	struct tnode *n = p;
	if (!n)
		return;
	g_free(n->text);
	if (n->kids)
		g_ptr_array_free(n->kids, TRUE);
	if (n->alt)
		g_ptr_array_free(n->alt, TRUE);
	g_free(n);
}

static GPtrArray *tnode_list(void)
{
	return g_ptr_array_new_with_free_func(tnode_free);
}

static int var_lookup(const char *name)
{
	for (int i = 0; i < NV_COUNT; i++)
		if (strcmp(name, var_names[i]) == 0)
			return i;
	return -1;
}

static int item_lookup(const char *name)
{
	for (int i = 0; i < NI_COUNT; i++)
		if (strcmp(name, item_names[i]) == 0)
			return i;
	return -1;
}

/* Parser state: an explicit stack of open blocks. */
struct tparse {
	const char *file;
	int line;
	GPtrArray *stack; /* struct tnode* of open blocks */
	GPtrArray *top;   /* list being appended to */
	char *err;
};

static void tparse_fail(struct tparse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tparse_fail(struct tparse *p, int line, const char *fmt, ...)
{
	if (p->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	p->err = g_strdup_printf("%s:%d: %s", p->file, line, what);
	g_free(what);
}

static struct tnode *tnode_add(struct tparse *p, enum tnode_type type, int var)
{
	struct tnode *n = g_new0(struct tnode, 1);
	n->type = type;
	n->var = var;
	n->line = p->line;
	g_ptr_array_add(p->top, n);
	return n;
}

static bool tparse_in_each(struct tparse *p, int var)
{
	for (guint i = 0; i < p->stack->len; i++) {
		const struct tnode *n = p->stack->pdata[i];
		if (n->type == TN_EACH && (var < 0 || n->var == var))
			return true;
	}
	return false;
}

/* A name in a tag: an item field inside {{#each items}}, else a
 * placeholder; -1 when neither. */
static int tparse_name(struct tparse *p, const char *name, bool *field)
{
	int f = tparse_in_each(p, NV_ITEMS) ? item_lookup(name) : -1;
	*field = f >= 0;
	return f >= 0 ? f : var_lookup(name);
}

static void tparse_open(struct tparse *p, enum tnode_type type, const char *name)
{
	bool field;
	int v = tparse_name(p, name, &field);
	if (v < 0 || (field && type == TN_EACH)) {
		tparse_fail(p, p->line, "unknown placeholder {{%s}} in block", name);
		return;
	}
	struct tnode *n = tnode_add(p, type, v);
	n->field = field;
	n->kids = tnode_list();
	g_ptr_array_add(p->stack, n);
	p->top = n->kids;
}

static void tparse_reset_top(struct tparse *p, GPtrArray *root)
{
	if (p->stack->len == 0) {
		p->top = root;
		return;
	}
	struct tnode *open = p->stack->pdata[p->stack->len - 1];
	p->top = open->alt ? open->alt : open->kids;
}

static void tparse_close(struct tparse *p, enum tnode_type type, GPtrArray *root)
{
	const char *want = type == TN_IF ? "if" : "each";
	if (p->stack->len == 0) {
		tparse_fail(p, p->line, "{{/%s}} without an open block", want);
		return;
	}
	struct tnode *open = p->stack->pdata[p->stack->len - 1];
	if (open->type != type) {
		tparse_fail(p, p->line, "{{/%s}} closes {{#%s}} opened at line %d", want,
		            open->type == TN_IF ? "if" : "each", open->line);
		return;
	}
	g_ptr_array_remove_index(p->stack, p->stack->len - 1);
	tparse_reset_top(p, root);
}

static void tparse_else(struct tparse *p)
{
	struct tnode *open = p->stack->len ? p->stack->pdata[p->stack->len - 1] : NULL;
	if (!open || open->type != TN_IF || open->alt) {
		tparse_fail(p, p->line, "{{else}} outside an {{#if}} block");
		return;
	}
	open->alt = tnode_list();
	p->top = open->alt;
}

static void tparse_tag(struct tparse *p, char *tag, GPtrArray *root)
{
	g_strstrip(tag);
	if (g_str_has_prefix(tag, "#if ") || g_str_has_prefix(tag, "#each ")) {
		bool is_if = tag[1] == 'i';
		char *name = g_strstrip(tag + (is_if ? 4 : 6));
		tparse_open(p, is_if ? TN_IF : TN_EACH, name);
	} else if (strcmp(tag, "/if") == 0 || strcmp(tag, "/each") == 0) {
		tparse_close(p, tag[1] == 'i' ? TN_IF : TN_EACH, root);
	} else if (strcmp(tag, "else") == 0) {
		tparse_else(p);
	} else if (strcmp(tag, "this") == 0) {
		if (!tparse_in_each(p, -1))
			tparse_fail(p, p->line, "{{this}} outside an {{#each}} block");
		else
			tnode_add(p, TN_THIS, -1);
	} else {
		bool field;
		int v = tparse_name(p, tag, &field);
		if (v < 0)
			tparse_fail(p, p->line, "unknown placeholder {{%s}}", tag);
		else
			tnode_add(p, TN_VAR, v)->field = field;
	}
}

static int count_lines(const char *s, size_t n)
{
	int c = 0;
	for (size_t i = 0; i < n; i++)
		c += s[i] == '\n';
	return c;
}

/* Parses text[0..len) starting at line; NULL + *err on error. */
static GPtrArray *tparse_text(const char *file, const char *text, size_t len, int line, char **err)
{
	GPtrArray *root = tnode_list();
	struct tparse p = {.file = file, .line = line, .stack = g_ptr_array_new(), .top = root};
	size_t i = 0;

	while (i < len && !p.err) {
		const char *open = g_strstr_len(text + i, (gssize)(len - i), "{{");
		size_t stop = open ? (size_t)(open - text) : len;
		if (stop > i) {
			struct tnode *n = tnode_add(&p, TN_TEXT, -1);
			n->text = g_strndup(text + i, stop - i);
			p.line += count_lines(text + i, stop - i);
		}
		if (!open)
			break;
		const char *close = g_strstr_len(open + 2, (gssize)(len - stop - 2), "}}");
		if (!close) {
			tparse_fail(&p, p.line, "unterminated {{ tag");
			break;
		}
		char *tag = g_strndup(open + 2, (size_t)(close - open - 2));
		if (strchr(tag, '\n'))
			tparse_fail(&p, p.line, "a {{ tag may not span lines");
		else
			tparse_tag(&p, tag, root);
		g_free(tag);
		i = (size_t)(close + 2 - text);
	}
	if (!p.err && p.stack->len) {
		struct tnode *o = p.stack->pdata[p.stack->len - 1];
		tparse_fail(&p, o->line, "{{#%s %s}} is not closed", o->type == TN_IF ? "if" : "each",
		            var_names[o->var]);
	}
	g_ptr_array_free(p.stack, TRUE);
	if (p.err) {
		g_ptr_array_free(root, TRUE);
		*err = p.err;
		return NULL;
	}
	return root;
}

static bool header_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *c = name; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '-')
			return false;
	for (size_t i = 0; i < G_N_ELEMENTS(reserved_headers); i++)
		if (g_ascii_strcasecmp(name, reserved_headers[i]) == 0)
			return false;
	return g_ascii_strncasecmp(name, "content-", 8) != 0;
}

/* One header line "Name: value" at line; 0 or -1 with *err. */
static int tmpl_parse_header(struct notify_tmpl *t, const char *s, size_t n, int line, char **err)
{
	const char *colon = memchr(s, ':', n);
	char *name = colon ? g_strndup(s, (size_t)(colon - s)) : NULL;
	if (!name || !header_name_ok(g_strstrip(name))) {
		*err = g_strdup_printf(
		    "%s:%d: not a header line a template may set (\"Name: value\"; "
		    "From, To, Date, Message-ID, MIME and Content-* fields are set by notify)",
		    t->file, line);
		g_free(name);
		return -1;
	}
	GPtrArray *val = tparse_text(t->file, colon + 1, n - (size_t)(colon + 1 - s), line, err);
	if (!val) {
		g_free(name);
		return -1;
	}
	g_ptr_array_add(t->hnames, name);
	g_ptr_array_add(t->hvalues, val);
	return 0;
}

static bool tmpl_has_subject(const struct notify_tmpl *t)
{
	for (guint i = 0; i < t->hnames->len; i++)
		if (g_ascii_strcasecmp(t->hnames->pdata[i], "Subject") == 0)
			return true;
	return false;
}

struct notify_tmpl *notify_tmpl_parse(const char *file, const char *text, size_t len, char **err)
{
	struct notify_tmpl *t = g_new0(struct notify_tmpl, 1);
	size_t i = 0;
	int line = 1;

	t->file = g_strdup(file);
	t->html = g_str_has_suffix(file, ".html");
	t->hnames = g_ptr_array_new_with_free_func(g_free);
	t->hvalues = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
	if (memchr(text, '\0', len)) {
		*err = g_strdup_printf(
		    "%s:%d: NUL byte in template", file,
		    count_lines(text, (size_t)((const char *)memchr(text, '\0', len) - text)) + 1);
		goto fail;
	}
	while (i < len && !t->html) { /* the header block, up to the first empty line */
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - i;
		if (n && text[i + n - 1] == '\r')
			n--;
		if (n == 0) {
			i = end + 1;
			line++;
			break;
		}
		if (tmpl_parse_header(t, text + i, n, line, err) < 0)
			goto fail;
		i = nl ? end + 1 : len;
		line++;
	}
	if (!t->html && !tmpl_has_subject(t)) {
		*err = g_strdup_printf("%s:1: no Subject: line in the header block", file);
		goto fail;
	}
	t->body = tparse_text(file, text + (i < len ? i : len), i < len ? len - i : 0, line, err);
	if (!t->body)
		goto fail;
	return t;
fail:
	notify_tmpl_free(t);
	return NULL;
}

struct notify_tmpl *notify_tmpl_load(const char *path, char **err)
{
	char *text = NULL;
	gsize len = 0;
	GError *ge = NULL;

	if (!g_file_get_contents(path, &text, &len, &ge)) {
		*err = g_strdup_printf("%s: %s", path, ge->message);
		g_error_free(ge);
		return NULL;
	}
	if (!g_utf8_validate(text, (gssize)len, NULL)) {
		*err = g_strdup_printf("%s:1: not UTF-8", path);
		g_free(text);
		return NULL;
	}
	struct notify_tmpl *t = notify_tmpl_parse(path, text, len, err);
	g_free(text);
	return t;
}

void notify_tmpl_free(struct notify_tmpl *t)
{
	if (!t)
		return;
	g_free(t->file);
	g_ptr_array_free(t->hnames, TRUE);
	g_ptr_array_free(t->hvalues, TRUE);
	if (t->body)
		g_ptr_array_free(t->body, TRUE);
	g_free(t);
}

const char *notify_tmpl_file(const struct notify_tmpl *t)
{
	return t->file;
}

/* ---- values ---- */

static void notify_item_free(gpointer p)
{
	struct notify_item *it = p;
	for (int i = 0; i < NI_COUNT; i++)
		g_free(it->f[i]);
	g_free(it);
}

void notify_vars_init(struct notify_vars *v)
{
	for (int i = 0; i < NV_COUNT; i++)
		v->v[i] = g_ptr_array_new_with_free_func(g_free);
	v->items = g_ptr_array_new_with_free_func(notify_item_free);
}

void notify_vars_clear(struct notify_vars *v)
{
	for (int i = 0; i < NV_COUNT; i++) {
		if (v->v[i])
			g_ptr_array_free(v->v[i], TRUE);
		v->v[i] = NULL;
	}
	if (v->items)
		g_ptr_array_free(v->items, TRUE);
	v->items = NULL;
}

struct notify_item *notify_vars_add_item(struct notify_vars *v)
{
	struct notify_item *it = g_new0(struct notify_item, 1);
	g_ptr_array_add(v->items, it);
	return it;
}

void notify_item_set(struct notify_item *it, enum notify_item_field f, const char *value)
{
	g_free(it->f[f]);
	it->f[f] = value && *value ? g_strdup(value) : NULL;
}

void notify_vars_add(struct notify_vars *v, enum notify_var k, const char *value)
{
	if (value && *value)
		g_ptr_array_add(v->v[k], g_strdup(value));
}

void notify_vars_add_csv(struct notify_vars *v, enum notify_var k, const char *csv)
{
	char **parts = g_strsplit(csv ? csv : "", ",", -1);
	for (char **p = parts; *p; p++)
		notify_vars_add(v, k, g_strstrip(*p));
	g_strfreev(parts);
}

/* ---- rendering ---- */

char *notify_header_safe(const char *s, size_t max)
{
	char *valid = g_utf8_make_valid(s ? s : "", -1);
	GString *out = g_string_sized_new(strlen(valid));
	size_t chars = 0;

	for (const char *c = valid; *c; c = g_utf8_next_char(c)) {
		gunichar u = g_utf8_get_char(c);
		size_t at = out->len;
		if (u == ' ' ||
		    !log_append_shown(out, u)) { /* a space or a control: runs collapse; no leading space */
			if (out->len && out->str[out->len - 1] != ' ')
				g_string_append_c(out, ' ');
			continue;
		}
		size_t shown = (size_t)g_utf8_strlen(out->str + at, -1);
		if (max && chars + shown > max) {
			g_string_truncate(out, at);
			g_string_append(out, "...");
			break;
		}
		chars += shown;
	}
	while (out->len && out->str[out->len - 1] == ' ')
		g_string_truncate(out, out->len - 1);
	g_free(valid);
	return g_string_free(out, FALSE);
}

/* A body value: valid UTF-8, CRLF -> LF, other CR and controls (but tab and,
 * when multiline, LF) -> space, format characters spelled out (log.h). */
static void body_value(GString *out, const char *s, bool multiline)
{
	char *valid = g_utf8_make_valid(s, -1);
	for (const char *c = valid; *c; c = g_utf8_next_char(c)) {
		gunichar u = g_utf8_get_char(c);
		if (u == '\r' && c[1] == '\n' && multiline)
			continue;
		if ((u == '\n' && multiline) || u == '\t')
			g_string_append_c(out, (char)u);
		else if (!log_append_shown(out, u))
			g_string_append_c(out, ' ');
	}
	g_free(valid);
}

/* Where a walk is: the values, the template's kind of output, the
 * current {{this}} and the current item of {{#each items}}. */
struct render {
	GString *out;
	const struct notify_vars *v;
	bool html;
};

/* One value as body_value() makes it, HTML-escaped in an HTML template
 * (text from a message must never become markup in the digest). */
static void render_value(const struct render *r, const char *s, bool multiline)
{
	if (!r->html) {
		body_value(r->out, s, multiline);
		return;
	}
	GString *plain = g_string_new("");
	body_value(plain, s, multiline);
	char *esc = g_markup_escape_text(plain->str, (gssize)plain->len);
	g_string_append(r->out, esc);
	g_free(esc);
	g_string_free(plain, TRUE);
}

static bool var_true(const struct notify_vars *v, const struct tnode *n, const struct notify_item *item)
{
	if (n->field)
		return item && item->f[n->var];
	if (n->var == NV_ITEMS)
		return v->items && v->items->len > 0;
	return v->v[n->var] && v->v[n->var]->len > 0;
}

static void render_list(const struct render *r, const GPtrArray *nodes, const char *this_val,
                        const struct notify_item *item)
{
	const struct notify_vars *v = r->v;
	for (guint i = 0; i < nodes->len; i++) {
		const struct tnode *n = nodes->pdata[i];
		switch (n->type) {
		case TN_TEXT:
			g_string_append(r->out, n->text);
			break;
		case TN_THIS:
			render_value(r, this_val ? this_val : "", false);
			break;
		case TN_VAR:
			if (n->field) {
				render_value(r, item && item->f[n->var] ? item->f[n->var] : "", false);
				break;
			}
			for (guint j = 0; v->v[n->var] && j < v->v[n->var]->len; j++) {
				if (j)
					g_string_append(r->out, ", ");
				render_value(r, v->v[n->var]->pdata[j], n->var == NV_ORIGINAL_HEADERS);
			}
			break;
		case TN_IF:
			if (var_true(v, n, item))
				render_list(r, n->kids, this_val, item);
			else if (n->alt)
				render_list(r, n->alt, this_val, item);
			break;
		case TN_EACH:
			if (n->var == NV_ITEMS) {
				for (guint j = 0; v->items && j < v->items->len; j++)
					render_list(r, n->kids, this_val, v->items->pdata[j]);
				break;
			}
			for (guint j = 0; v->v[n->var] && j < v->v[n->var]->len; j++)
				render_list(r, n->kids, v->v[n->var]->pdata[j], item);
			break;
		}
	}
}

void notify_tmpl_render_headers(const struct notify_tmpl *t, const struct notify_vars *v, GPtrArray *names,
                                GPtrArray *values)
{
	for (guint i = 0; i < t->hnames->len; i++) {
		GString *raw = g_string_new("");
		struct render r = {.out = raw, .v = v, .html = false};
		render_list(&r, t->hvalues->pdata[i], NULL, NULL);
		bool subj = g_ascii_strcasecmp(t->hnames->pdata[i], "Subject") == 0;
		g_ptr_array_add(names, g_strdup(t->hnames->pdata[i]));
		g_ptr_array_add(values, notify_header_safe(raw->str, subj ? NOTIFY_SUBJECT_MAX : 900));
		g_string_free(raw, TRUE);
	}
}

char *notify_tmpl_render_body(const struct notify_tmpl *t, const struct notify_vars *v)
{
	GString *out = g_string_new("");
	struct render r = {.out = out, .v = v, .html = t->html};
	render_list(&r, t->body, NULL, NULL);
	/* the template itself may have CRLF line ends: keep LF only */
	GString *clean = g_string_sized_new(out->len);
	for (gsize i = 0; i < out->len; i++)
		if (out->str[i] != '\r')
			g_string_append_c(clean, out->str[i]);
	g_string_free(out, TRUE);
	return g_string_free(clean, FALSE);
}
