/*
 * srv_fsck - the quarantine check at scand start-up (see srv_fsck.h)
 *
 * Functions: srv_fsck_start, srv_fsck_join.
 *
 * Never fixes anything (no deletes, no moves, no store writes): problems
 * are logged as warnings with paths and details through log_printable();
 * a store that cannot be read is a warning too, never fatal.
 */
#include "srv_fsck.h"

#include "log.h"
#include "quar_fsck.h"
#include "server.h"

#include <glib.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

struct srv_fsck_job {
	struct store *st;
	char *dir;
};

static pthread_t srv_fsck_tid;
static bool srv_fsck_running;

static void srv_fsck_log(const struct quar_fsck_report *r)
{
	msg_info("quarantine check: %" G_GINT64_FORMAT " files, %" G_GINT64_FORMAT " rows, %u problems%s",
	         r->files, r->rows, r->problems->len, r->abandoned ? " (stopped early)" : "");
	for (guint i = 0; i < r->problems->len; i++) {
		const struct quar_fsck_problem *p = r->problems->pdata[i];
		char *path = log_printable(p->relpath, 300), *detail = log_printable(p->detail, 300);
		msg_warn("quarantine check: %s %s%s%s: %s", p->kind, path, *p->mail_id ? " mail_id=" : "",
		         p->mail_id, detail);
		g_free(path);
		g_free(detail);
	}
}

static void *srv_fsck_main(void *arg)
{
	struct srv_fsck_job *j = arg;
	struct quar_fsck_opts o = {.fix = false, .stop = srv_stopping};
	struct quar_fsck_report r;
	char *err = NULL;

	if (quar_fsck(j->st, j->dir, &o, &r, &err) < 0) {
		msg_warn("quarantine check: %s", err);
		g_free(err);
	} else {
		srv_fsck_log(&r);
	}
	quar_fsck_report_free(&r);
	store_close(j->st);
	g_free(j->dir);
	g_free(j);
	return NULL;
}

void srv_fsck_start(struct store *st, const char *quar_dir)
{
	struct srv_fsck_job *j = g_new0(struct srv_fsck_job, 1);
	j->st = st;
	j->dir = g_strdup(quar_dir);
	if (pthread_create(&srv_fsck_tid, NULL, srv_fsck_main, j) != 0) {
		msg_warn("quarantine check not run: pthread_create: %s", g_strerror(errno));
		store_close(st);
		g_free(j->dir);
		g_free(j);
		return;
	}
	srv_fsck_running = true;
}

void srv_fsck_join(void)
{
	if (srv_fsck_running)
		pthread_join(srv_fsck_tid, NULL);
	srv_fsck_running = false;
}
