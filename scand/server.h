/*
 * server - scand's process: listeners, worker threads, signals, config
 *
 * srv_run() runs the daemon: it binds the listeners, initialises the
 * pipeline's stages, daemonizes (unless foreground), writes the pid file,
 * drops privileges, removes spool leftovers and starts max_servers worker
 * threads, and serves /metrics when [scand] metrics_listen is set
 * (metrics.h: bound with the listeners, served after the drop). Each
 * worker accepts one connection at a time and runs its
 * session, so concurrency is bounded by the number of workers and the
 * one libclamav engine (in the stages) is shared by all. The main thread
 * only handles signals: SIGTERM/SIGINT stop accepting, let every session
 * finish its message in flight, and exit 0; SIGHUP reopens the log, loads
 * the configuration again and swaps it in (sessions keep the one they
 * started with; listeners stay).
 *
 * struct worker is one worker thread's private state, used by the session
 * and the pipeline: its kept downstream connection, its spool buffer and
 * its read handle on the store for the allow/block list lookups (the store
 * is written through the one writer handle of answers.c).
 * srv_conf_acquire()/srv_conf_release() give a session a reference to the
 * current configuration.
 */
#ifndef GH_SERVER_H
#define GH_SERVER_H

#include <stdbool.h>

#include "conf.h"
#include "smtpc.h"
#include "spool.h"

struct confref {
	struct conf *conf;
	int refs; /* atomic */
};

struct store;

struct worker {
	int id;
	struct store *lists; /* this worker's handle for list lookups (pipeline.c) */
	struct smtpc *fwd;
	char *fwd_dest;
	struct spool *spool;
	int stop_fd; /* readable once the daemon is stopping */
};

struct confref *srv_conf_acquire(void);
void srv_conf_release(struct confref *r);
bool srv_stopping(void);

/* Returns the exit status. */
int srv_run(struct conf *c, const char *conf_path, bool foreground);

#endif
