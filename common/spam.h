/*
 * spam - the spam engine, whichever backend [spam] backend names
 *
 * Below the programs so that scand's spam stage and quarctl's learning
 * use the same engine. A struct spam_engine is a backend (spamd through
 * common/spamc.h, rspamd through common/rspamc.h) plus the [spam] levels;
 * callers never see which one answers.
 *
 * spam_engine_from_conf() builds the engine [spam] backend names
 * (spamd|rspamd) from the [spam] keys; NULL + *err for an address it
 * cannot use. spam_engine_name() is "spamd" or "rspamd" (the store's
 * engine column), spam_engine_where() the address for log lines.
 *
 * spam_engine_check() sends one message with its envelope (struct
 * spam_envelope; rspamd uses it, spamd does not) and fills struct
 * spam_result: score, symbols (name and score; spamd gives names only,
 * score NAN), rspamd's action, the header edits rspamd asks for (already
 * made safe: no CR or LF, a field name of printable ASCII, the value
 * bounded), its SMTP message, and the verdict: the score against
 * tag/tag2/kill, raised by the action when [spam] rspamd_actions = yes
 * (reject -> SPAM_KILL; add header, rewrite subject -> SPAM_TAG2; soft
 * reject, greylist -> soft_reject set, the verdict stays the score's: the
 * caller answers 451 before the queue and ignores it after).
 * spam_result_tests() joins the symbols as "NAME=1.50,OTHER=-0.10" (names
 * only for NAN), bounded to fit X-Spam-Status. Clear with
 * spam_result_clear(). spam_verdict_of() is the mapping alone (tests).
 *
 * spam_engine_learn() teaches the engine a message as spam or ham: spamd
 * TELL (spam_learn in spamc.h), rspamd controller /learnspam or
 * /learnham with the Password header when [spam] rspamd_password is set.
 *
 * struct spam_throttle keeps a failing engine from filling the log: the
 * first failure is logged, then at most one line a minute with the count
 * of failures since the last line (spam_throttle_note() says whether to
 * log now and what count to print).
 *
 * Every call returns 0, or -1 with *err (g_free). A struct spam_engine is
 * safe to use from many threads at once.
 */
#ifndef GH_SPAM_H
#define GH_SPAM_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "spamc.h"

struct spam_engine;

enum spam_action {
	SPAM_ACTION_NONE, /* the backend gives none (spamd) */
	SPAM_ACTION_NO_ACTION,
	SPAM_ACTION_GREYLIST,
	SPAM_ACTION_ADD_HEADER,
	SPAM_ACTION_REWRITE_SUBJECT,
	SPAM_ACTION_SOFT_REJECT,
	SPAM_ACTION_REJECT,
};

/* Ordered: each level implies the ones below. */
enum spam_verdict { SPAM_CLEAN, SPAM_TAG, SPAM_TAG2, SPAM_KILL };

struct spam_envelope {
	const char *ip, *helo, *hostname, *from, *queue_id, *user; /* NULL or "" when unknown */
	const char *const *rcpts;
	size_t nrcpts;
};

struct spam_symbol {
	char *name;   /* [A-Za-z0-9_.-] only */
	double score; /* NAN when the backend gives none */
};

struct spam_result {
	double score;
	enum spam_action action;
	GPtrArray *symbols;        /* struct spam_symbol*, highest score first */
	GPtrArray *add_headers;    /* char* "Name: value", safe */
	GPtrArray *remove_headers; /* char* field names, safe */
	char *message;             /* the backend's SMTP message, printable, or NULL */
	enum spam_verdict verdict;   /* the score's and the action's, the higher */
	enum spam_verdict by_action; /* the action's alone (SPAM_CLEAN unless honoured) */
	bool soft_reject;
};

struct spam_levels {
	double tag, tag2, kill;
	bool use_actions;
};

struct spam_engine *spam_engine_from_conf(const struct conf *c, char **err);
void spam_engine_free(struct spam_engine *e);
const char *spam_engine_name(const struct spam_engine *e);
const char *spam_engine_where(const struct spam_engine *e);
const struct spam_levels *spam_engine_levels(const struct spam_engine *e);

int spam_engine_check(struct spam_engine *e, const struct spam_envelope *env, const void *data, size_t len,
                      struct spam_result *r, char **err);
int spam_engine_learn(struct spam_engine *e, enum spam_class cls, const void *data, size_t len, char **err);

void spam_result_init(struct spam_result *r);
void spam_result_clear(struct spam_result *r);
char *spam_result_tests(const struct spam_result *r);
void spam_result_add_symbol(struct spam_result *r, const char *name, double score);
/* A header edit from the backend, made safe; false (and nothing added) for
 * a field name that is not printable ASCII without ':'. */
bool spam_result_add_header(struct spam_result *r, const char *name, const char *value);
bool spam_result_remove_header(struct spam_result *r, const char *name);
const char *spam_action_name(enum spam_action a);
enum spam_action spam_action_parse(const char *s);
void spam_verdict_of(const struct spam_levels *lv, struct spam_result *r);

struct spam_throttle {
	GMutex lock;
	gint64 last_log; /* monotonic µs of the last line; 0: none yet */
	unsigned count;  /* failures since the last line */
};

#define SPAM_THROTTLE_US (60 * G_USEC_PER_SEC)

/* Counts one failure at now (monotonic µs); true when it is to be logged,
 * with *count the failures it covers (itself included). */
bool spam_throttle_note(struct spam_throttle *t, gint64 now, unsigned *count);

#endif
