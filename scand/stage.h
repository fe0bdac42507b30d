/*
 * stage - the pipeline's backends
 *
 * A stage is a struct of function pointers chosen by name, as OpenSMTPD's
 * queue backends are: the pipeline runs the enabled stages in order
 * (mime -> banned -> virus -> spam -> badh), then policy, quarantine, store
 * and forward. A test can plug in a fake stage; an operator can add an
 * engine without touching the pipeline.
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
