/*
 * conf - the one configuration file, /etc/gatehouse/scand.conf
 *
 * INI form: "[section]" lines, "key = value" lines, '#' or ';' comments.
 * Every key that any Gatehouse program reads is declared once in the
 * table in conftab.c, with its type, default, limits and a one-line doc;
 * the same table prints contrib/scand.conf.example (scand --dump-config).
 *
 * conf_load() reads a file and checks it against the table: an unknown
 * section or key, a bad value, a duplicate or a line that is not INI is an
 * error "FILE:LINE: message"; a missing file is "FILE: reason". path NULL
 * gives the embedded defaults. conf_load_text() parses text already in
 * memory (the fuzzer's entry point; conf_load reads the file and calls
 * it). The accessors take "section", "key"; asking for a key that the
 * table does not declare is a bug (msg_panic).
 * conf_env_path() is $GATEHOUSE_CONF, the path every program uses when it
 * is given no -c. A loaded config is immutable: reloads build a new one and
 * swap.
 */
#ifndef GH_CONF_H
#define GH_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum conf_type {
	CONF_STR,    /* any text */
	CONF_INT,    /* integer within [min, max] */
	CONF_SIZE,   /* bytes; suffix k, M, G (1024-based) allowed */
	CONF_TIME,   /* whole seconds; suffix s, m, h, d, w (when_parse_duration) */
	CONF_BOOL,   /* yes/no, true/false, on/off, 1/0 */
	CONF_DOUBLE, /* floating point within [min, max] */
	CONF_ENUM,   /* one of the '|'-separated words in .choices */
};

struct conf_key {
	const char *section;
	const char *name;
	enum conf_type type;
	const char *def;     /* default, in the file's syntax */
	const char *doc;     /* one line */
	double min, max;     /* CONF_INT/SIZE/TIME/DOUBLE; min == max means no limit */
	const char *choices; /* CONF_ENUM */
};

extern const struct conf_key conf_table[];

struct conf;

/* The file every program reads when no -c is given: $GATEHOUSE_CONF when set
 * and not empty (as Postfix honours MAIL_CONFIG), else NULL (the program's
 * own default, /etc/gatehouse/scand.conf). -c always wins. */
const char *conf_env_path(void);
#define CONF_DEFAULT_PATH "/etc/gatehouse/scand.conf"

/* NULL and *err (g_free) set on error. */
struct conf *conf_load(const char *path, char **err);
/* The same from text in memory (len bytes, no NUL needed); errors are
 * "NAME:LINE: message". conf_path() of the result is name. */
struct conf *conf_load_text(const char *name, const char *text, size_t len, char **err);
struct conf *conf_defaults(void);
void conf_free(struct conf *c);
const char *conf_path(const struct conf *c); /* NULL for the defaults */

const char *conf_str(const struct conf *c, const char *section, const char *key);
int64_t conf_int(const struct conf *c, const char *section, const char *key); /* INT, SIZE, TIME */
bool conf_bool(const struct conf *c, const char *section, const char *key);
double conf_double(const struct conf *c, const char *section, const char *key);
/* [scand] hostname, or gethostname() when it is empty: this host's name in
 * store rows (store_set_host) and alerts. Never NULL; not to be freed. */
const char *conf_hostname(const struct conf *c);

/* The example file: every key with its doc and default, commented out. */
void conf_write_example(FILE *out);

#endif
