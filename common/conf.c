/*
 * conf - load and check the INI configuration (see conf.h)
 *
 * We parse the file ourselves rather than with GKeyFile because every
 * error must name the line, and GKeyFile does not keep line numbers.
 * Values are parsed once at load into a slot per conf_table row; the
 * accessors only look them up.
 */
#include "conf.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "when.h"

struct conf_val {
	char *str;
	int64_t num;
	double dbl;
	bool set; /* given in the file */
	int line;
};

struct conf {
	char *path;
	size_t n;
	struct conf_val *v;
};

const char *conf_env_path(void)
{
	const char *p = getenv("GATEHOUSE_CONF");
	return p && *p ? p : NULL;
}

static size_t conf_count(void)
{
	size_t n = 0;
	while (conf_table[n].section)
		n++;
	return n;
}

static int conf_find(const char *section, const char *key)
{
	for (int i = 0; conf_table[i].section; i++)
		if (strcmp(conf_table[i].section, section) == 0 && strcmp(conf_table[i].name, key) == 0)
			return i;
	return -1;
}

static bool conf_section_known(const char *section)
{
	for (int i = 0; conf_table[i].section; i++)
		if (strcmp(conf_table[i].section, section) == 0)
			return true;
	return false;
}

/* Number with an optional unit suffix; false if malformed. */
static bool conf_parse_scaled(const char *s, enum conf_type type, double *out)
{
	char *end;
	double mult = 1;

	if (type == CONF_TIME) { /* the one duration syntax (when.h) */
		int64_t secs;
		if (when_parse_duration(s, &secs) < 0)
			return false;
		*out = (double)secs;
		return true;
	}
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !isfinite(v))
		return false;
	if (*end) {
		if (end[1])
			return false;
		if (type == CONF_SIZE) {
			switch (*end) {
			case 'k': case 'K': mult = 1024.0; break;
			case 'm': case 'M': mult = 1024.0 * 1024; break;
			case 'g': case 'G': mult = 1024.0 * 1024 * 1024; break;
			default: return false;
			}
		} else {
			return false;
		}
	}
	*out = v * mult;
	return true;
}

static bool conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (int i = 0; i < 4; i++) {
		if (g_ascii_strcasecmp(s, yes[i]) == 0)
			return *out = true, true;
		if (g_ascii_strcasecmp(s, no[i]) == 0)
			return *out = false, true;
	}
	return false;
}

/* Parse value text for row k into val; on error returns a message (g_free). */
static char *conf_parse_value(const struct conf_key *k, const char *text, struct conf_val *val)
{
	double d;
	bool b;

	g_free(val->str);
	val->str = g_strdup(text);
	switch (k->type) {
	case CONF_STR:
		return NULL;
	case CONF_BOOL:
		if (!conf_parse_bool(text, &b))
			return g_strdup_printf("%s: expected yes or no, got \"%s\"", k->name, text);
		val->num = b;
		return NULL;
	case CONF_ENUM: {
		char **words = g_strsplit(k->choices, "|", -1);
		bool ok = g_strv_contains((const char *const *)words, text);
		g_strfreev(words);
		if (!ok)
			return g_strdup_printf("%s: expected one of %s, got \"%s\"", k->name, k->choices, text);
		return NULL;
	}
	case CONF_INT:
	case CONF_SIZE:
	case CONF_TIME:
	case CONF_DOUBLE:
		if (!conf_parse_scaled(text, k->type, &d) || (k->type == CONF_INT && d != floor(d)))
			return g_strdup_printf("%s: bad %s \"%s\"", k->name,
					       k->type == CONF_SIZE   ? "size"
					       : k->type == CONF_TIME ? "duration"
					       : k->type == CONF_INT  ? "integer"
								      : "number",
					       text);
		if (k->min != k->max && (d < k->min || d > k->max))
			return g_strdup_printf("%s: %s is out of range (%g to %g)", k->name, text, k->min, k->max);
		val->dbl = d;
		val->num = (int64_t)d;
		return NULL;
	}
	return g_strdup("internal: bad type");
}

static struct conf *conf_new_defaults(void)
{
	struct conf *c = g_new0(struct conf, 1);
	c->n = conf_count();
	c->v = g_new0(struct conf_val, c->n);
	for (size_t i = 0; i < c->n; i++) {
		char *e = conf_parse_value(&conf_table[i], conf_table[i].def, &c->v[i]);
		if (e)
			msg_panic("conftab: default of [%s] %s", conf_table[i].section, e);
	}
	return c;
}

struct conf *conf_defaults(void)
{
	return conf_new_defaults();
}

struct conf *conf_load(const char *path, char **err)
{
	char *text = NULL;
	size_t len = 0;
	GError *gerr = NULL;

	if (!path)
		return conf_new_defaults();
	if (!g_file_get_contents(path, &text, &len, &gerr)) {
		*err = g_strdup_printf("%s: %s", path, gerr->message);
		g_error_free(gerr);
		return NULL;
	}
	struct conf *c = conf_load_text(path, text, len, err);
	g_free(text);
	return c;
}

struct conf *conf_load_text(const char *name, const char *text, size_t len, char **err)
{
	const char *path = name; /* error messages say "name:line" */
	char *section = NULL;
	struct conf *c;
	char **lines;

	/* A NUL would silently end the text early and hide the rest. */
	if (memchr(text, '\0', len)) {
		*err = g_strdup_printf("%s: contains a NUL byte", name);
		return NULL;
	}
	c = conf_new_defaults();
	c->path = g_strdup(name);
	char *copy = g_strndup(text, len);
	lines = g_strsplit(copy, "\n", -1);
	g_free(copy);
	*err = NULL;
	for (int ln = 0; lines[ln] && !*err; ln++) {
		char *line = g_strstrip(lines[ln]);
		int lineno = ln + 1;

		if (!*line || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			char *close = strchr(line, ']');
			if (!close || close[1]) {
				*err = g_strdup_printf("%s:%d: malformed section header \"%s\"", path, lineno, line);
				break;
			}
			*close = '\0';
			g_free(section);
			section = g_strdup(g_strstrip(line + 1));
			if (!conf_section_known(section))
				*err = g_strdup_printf("%s:%d: unknown section [%s]", path, lineno, section);
			continue;
		}
		char *eq = strchr(line, '=');
		if (!eq) {
			*err = g_strdup_printf("%s:%d: expected \"key = value\", got \"%s\"", path, lineno, line);
			break;
		}
		if (!section) {
			*err = g_strdup_printf("%s:%d: key outside of a [section]", path, lineno);
			break;
		}
		*eq = '\0';
		char *key = g_strstrip(line), *val = g_strstrip(eq + 1);
		int k = conf_find(section, key);
		if (k < 0) {
			*err = g_strdup_printf("%s:%d: unknown key \"%s\" in [%s]", path, lineno, key, section);
			break;
		}
		if (c->v[k].set) {
			*err = g_strdup_printf("%s:%d: [%s] %s already set on line %d", path, lineno, section,
					       key, c->v[k].line);
			break;
		}
		char *e = conf_parse_value(&conf_table[k], val, &c->v[k]);
		if (e) {
			*err = g_strdup_printf("%s:%d: [%s] %s", path, lineno, section, e);
			g_free(e);
			break;
		}
		c->v[k].set = true;
		c->v[k].line = lineno;
	}
	g_strfreev(lines);
	g_free(section);
	if (*err) {
		conf_free(c);
		return NULL;
	}
	return c;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		g_free(c->v[i].str);
	g_free(c->v);
	g_free(c->path);
	g_free(c);
}

const char *conf_path(const struct conf *c)
{
	return c->path;
}

static const struct conf_val *conf_get(const struct conf *c, const char *section, const char *key,
				       enum conf_type t1, enum conf_type t2, enum conf_type t3)
{
	int k = conf_find(section, key);
	if (k < 0)
		msg_panic("conf: no key [%s] %s in the table", section, key);
	enum conf_type t = conf_table[k].type;
	if (t != t1 && t != t2 && t != t3)
		msg_panic("conf: [%s] %s read as the wrong type", section, key);
	return &c->v[k];
}

const char *conf_str(const struct conf *c, const char *section, const char *key)
{
	int k = conf_find(section, key);
	if (k < 0)
		msg_panic("conf: no key [%s] %s in the table", section, key);
	return c->v[k].str;
}

int64_t conf_int(const struct conf *c, const char *section, const char *key)
{
	return conf_get(c, section, key, CONF_INT, CONF_SIZE, CONF_TIME)->num;
}

bool conf_bool(const struct conf *c, const char *section, const char *key)
{
	return conf_get(c, section, key, CONF_BOOL, CONF_BOOL, CONF_BOOL)->num != 0;
}

double conf_double(const struct conf *c, const char *section, const char *key)
{
	return conf_get(c, section, key, CONF_DOUBLE, CONF_INT, CONF_DOUBLE)->dbl;
}

const char *conf_hostname(const struct conf *c)
{
	const char *host = conf_str(c, "scand", "hostname");
	return *host ? host : g_get_host_name();
}

void conf_write_example(FILE *out)
{
	const char *section = NULL;

	fputs("# Gatehouse configuration: /etc/gatehouse/scand.conf\n"
	      "# Every key with its default (commented out). Generated by scand --dump-config.\n"
	      "# Sizes take k/M/G, durations s/m/h/d/w; booleans yes/no.\n",
	      out);
	for (int i = 0; conf_table[i].section; i++) {
		const struct conf_key *k = &conf_table[i];
		if (!section || strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(out, "\n[%s]\n", section);
		}
		fprintf(out, "# %s", k->doc);
		if (k->type == CONF_ENUM)
			fprintf(out, " (%s)", k->choices);
		fprintf(out, "\n#%s = %s\n", k->name, k->def);
	}
}
