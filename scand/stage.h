/*
 * stage - the interface of the pipeline's content checks
 *
 * A stage is a struct of function pointers, as OpenSMTPD's queue backends
 * are. The list is not chosen by name: verdict_init() (verdict.c) holds it
 * in a fixed order, banned -> clamav -> spam -> badh, and keeps each one
 * whose section says enabled = yes (badh always). verdict_stages() parses
 * the MIME tree once (msg.mime) and runs them in that order; policy,
 * quarantine, store and forward follow in verdict.c and pipeline.c. A new
 * engine is one more struct stage and one line in verdict_init()'s list;
 * a unit test calls a stage's functions directly (tests/unit/engine_util.h).
 *
 *  init(conf, &state)  once at start (as root, before chroot/privilege drop);
 *                      0 ok, -1 with *err set: scand refuses to start.
 *  scan(state, msg)    fills the verdict fields of msg. Returns STAGE_OK, or
 *                      STAGE_TEMPFAIL (answer 451 4.x.x, e.g. an engine down
 *                      with on_failure = tempfail), or STAGE_UNCHECKED when
 *                      a bound tripped (the stage has already set
 *                      CAT_UNCHECKED and the reason). Must be thread-safe.
 *  reload(state, conf) SIGHUP or a change noticed; may be NULL. Keeps the
 *                      old state on failure (and logs why).
 *  fini(state)         at exit; may be NULL.
 */
#ifndef GH_STAGE_H
#define GH_STAGE_H

#include "conf.h"
#include "msg.h"

enum stage_result { STAGE_OK = 0, STAGE_TEMPFAIL = 1, STAGE_UNCHECKED = 2 };

struct stage {
	const char *name;
	int (*init)(const struct conf *c, void **state, char **err);
	enum stage_result (*scan)(void *state, struct msg *m);
	int (*reload)(void *state, const struct conf *c, char **err);
	void (*fini)(void *state);
};

#endif
