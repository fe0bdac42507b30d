/*
 * store_pg - the PostgreSQL store backend (see store.h, store_backend.h,
 * store_pg.h): messages, recipients, the audit trail and the quarantine.
 * "postgresql://USER@HOST:PORT/DB" (libpq's URI; the whole location, scheme
 * included, is handed to libpq). SCAFFOLD: ops fail until written.
 */
#include "store_pg.h"
#include "store_pg_schema.h"

#include <glib.h>

static void spg_close(struct store *base)
{
	struct spg *st = (struct spg *)base;
	if (!st)
		return;
	pgc_free(st->c);
	g_free(st);
}

static int spg_open(const char *path, int busy_timeout_ms, struct store **out, char **err)
{
	(void)busy_timeout_ms;
	struct spg *st = g_new0(struct spg, 1);
	/* store_open() strips "postgresql:"; libpq wants the URI whole */
	char *url = g_strconcat("postgresql:", path, NULL);
	st->c = pgc_new(url, "");
	g_free(url);
	*out = &st->base;
	(void)err;
	return 0;
}

static int spg_version(struct store *base)
{
	return store_fail_set(base, false, "postgresql: version is not written yet");
}

static int spg_put(struct store *st, struct store_msg *m, const struct store_alert *alerts, size_t nalerts)
{
	(void)m;
	(void)alerts;
	(void)nalerts;
	return store_fail_set(st, false, "postgresql: put is not written yet");
}

static int spg_put_many(struct store *st, struct store_put_item *items, size_t n)
{
	(void)items;
	(void)n;
	return store_fail_set(st, false, "postgresql: put_many is not written yet");
}

static int spg_settle_rows(struct store *st, const char *mail_id, const char *outcome, bool purge, const struct store_alert *alerts, size_t nalerts)
{
	(void)mail_id;
	(void)outcome;
	(void)purge;
	(void)alerts;
	(void)nalerts;
	return store_fail_set(st, false, "postgresql: settle_rows is not written yet");
}

static int spg_recover_open(struct store *st, int *n)
{
	(void)n;
	return store_fail_set(st, false, "postgresql: recover_open is not written yet");
}

static int spg_put_answers(struct store *st, const struct store_answers *a, size_t n)
{
	(void)a;
	(void)n;
	return store_fail_set(st, false, "postgresql: put_answers is not written yet");
}

static int spg_get(struct store *st, const char *mail_id, struct store_msg **out)
{
	(void)mail_id;
	(void)out;
	return store_fail_set(st, false, "postgresql: get is not written yet");
}

static int spg_list(struct store *st, const struct store_filter *f, int (*fn)(const struct store_msg *m, void *arg), void *arg)
{
	(void)f;
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: list is not written yet");
}

static int64_t spg_count(struct store *st, const struct store_filter *f)
{
	(void)f;
	return store_fail_set(st, false, "postgresql: count is not written yet");
}

static int spg_event(struct store *st, const char *mail_id, const char *action, const char *who, const char *detail, const char *result)
{
	(void)mail_id;
	(void)action;
	(void)who;
	(void)detail;
	(void)result;
	return store_fail_set(st, false, "postgresql: event is not written yet");
}

static int spg_set_quar_state(struct store *st, const char *mail_id, const char *state)
{
	(void)mail_id;
	(void)state;
	return store_fail_set(st, false, "postgresql: set_quar_state is not written yet");
}

static int spg_mark_rcpt_released(struct store *st, int64_t msg_rowid, const char *addr, int64_t when, const char *answer)
{
	(void)msg_rowid;
	(void)addr;
	(void)when;
	(void)answer;
	return store_fail_set(st, false, "postgresql: mark_rcpt_released is not written yet");
}

static int spg_purge_missing(struct store *st, const char *mail_id, const char *was)
{
	(void)mail_id;
	(void)was;
	return store_fail_set(st, false, "postgresql: purge_missing is not written yet");
}

static int spg_quar_files(struct store *st, int (*fn)(const struct store_quar_file *f, void *arg), void *arg)
{
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: quar_files is not written yet");
}

static int spg_quar_path_kept(struct store *st, const char *relpath)
{
	(void)relpath;
	return store_fail_set(st, false, "postgresql: quar_path_kept is not written yet");
}

static int spg_quar_blob_get(struct store *st, const char *mail_id, void **data, size_t *len)
{
	(void)mail_id;
	(void)data;
	(void)len;
	return store_fail_set(st, false, "postgresql: quar_blob_get is not written yet");
}

static int spg_quar_blob_drop(struct store *st, const char *mail_id)
{
	(void)mail_id;
	return store_fail_set(st, false, "postgresql: quar_blob_drop is not written yet");
}

static int spg_quar_stats(struct store *st, int (*fn)(const struct store_quar_stat *s, void *arg), void *arg)
{
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: quar_stats is not written yet");
}

const struct store_backend store_backend_pg = {
    .scheme = "postgresql",
    .open = spg_open,
    .close = spg_close,
    .version = spg_version,
    .put = spg_put,
    .put_many = spg_put_many,
    .settle_rows = spg_settle_rows,
    .recover_open = spg_recover_open,
    .put_answers = spg_put_answers,
    .get = spg_get,
    .list = spg_list,
    .count = spg_count,
    .event = spg_event,
    .set_quar_state = spg_set_quar_state,
    .mark_rcpt_released = spg_mark_rcpt_released,
    .purge_missing = spg_purge_missing,
    .quar_files = spg_quar_files,
    .quar_path_kept = spg_quar_path_kept,
    .quar_blob_get = spg_quar_blob_get,
    .quar_blob_drop = spg_quar_blob_drop,
    .quar_stats = spg_quar_stats,
    .outbox_queue = spg_outbox_queue,
    .outbox_due = spg_outbox_due,
    .outbox_claim = spg_outbox_claim,
    .outbox_sent = spg_outbox_sent,
    .outbox_retry = spg_outbox_retry,
    .outbox_failed = spg_outbox_failed,
    .outbox_count_sent_admin = spg_outbox_count_sent_admin,
    .outbox_count_summaries = spg_outbox_count_summaries,
    .outbox_fold = spg_outbox_fold,
    .msgs_bounds = spg_msgs_bounds,
    .rrd_minutes = spg_rrd_minutes,
    .rrd_state_get = spg_rrd_state_get,
    .rrd_state_put = spg_rrd_state_put,
    .list_add = spg_list_add,
    .list_add_many = spg_list_add_many,
    .list_del = spg_list_del,
    .list_query = spg_list_query,
    .list_probe = spg_list_probe,
    .report_top = spg_report_top,
    .digest = &store_pg_digest,
};
