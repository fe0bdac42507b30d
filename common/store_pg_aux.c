/*
 * store_pg_aux - the PostgreSQL store: outbox, report, lists and digest
 * (see store_pg.h). SCAFFOLD: each op fails until it is written.
 */
#include "store_pg.h"

int spg_outbox_queue(struct store *st, const char *mail_id, const struct store_alert *a, size_t n, int64_t now)
{
	(void)mail_id;
	(void)a;
	(void)n;
	(void)now;
	return store_fail_set(st, false, "postgresql: outbox_queue is not written yet");
}

int spg_outbox_due(struct store *st, int64_t now, int limit, int (*fn)(const struct store_outbox_row *r, void *arg), void *arg)
{
	(void)now;
	(void)limit;
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: outbox_due is not written yet");
}

int spg_outbox_claim(struct store *st, int64_t id, int64_t due_by, int64_t next_try)
{
	(void)id;
	(void)due_by;
	(void)next_try;
	return store_fail_set(st, false, "postgresql: outbox_claim is not written yet");
}

int spg_outbox_sent(struct store *st, int64_t id, int64_t when)
{
	(void)id;
	(void)when;
	return store_fail_set(st, false, "postgresql: outbox_sent is not written yet");
}

int spg_outbox_retry(struct store *st, int64_t id, int64_t next_try, const char *why)
{
	(void)id;
	(void)next_try;
	(void)why;
	return store_fail_set(st, false, "postgresql: outbox_retry is not written yet");
}

int spg_outbox_failed(struct store *st, int64_t id, const char *why)
{
	(void)id;
	(void)why;
	return store_fail_set(st, false, "postgresql: outbox_failed is not written yet");
}

int64_t spg_outbox_count_sent_admin(struct store *st, const char *rcpt, int64_t since)
{
	(void)rcpt;
	(void)since;
	return store_fail_set(st, false, "postgresql: outbox_count_sent_admin is not written yet");
}

int64_t spg_outbox_count_summaries(struct store *st, const char *rcpt, int64_t since)
{
	(void)rcpt;
	(void)since;
	return store_fail_set(st, false, "postgresql: outbox_count_summaries is not written yet");
}

int spg_outbox_fold(struct store *st, const char *rcpt, const void *body, size_t len, int64_t now, const int64_t *ids, size_t nids, int64_t *summary_id)
{
	(void)rcpt;
	(void)body;
	(void)len;
	(void)now;
	(void)ids;
	(void)nids;
	(void)summary_id;
	return store_fail_set(st, false, "postgresql: outbox_fold is not written yet");
}

int spg_msgs_bounds(struct store *st, int64_t *oldest_time, int64_t *high_id)
{
	(void)oldest_time;
	(void)high_id;
	return store_fail_set(st, false, "postgresql: msgs_bounds is not written yet");
}

int spg_rrd_minutes(struct store *st, int64_t t0, int64_t t1, int64_t id0, int64_t id1, int (*fn)(const struct store_rrd_minute *m, void *arg), void *arg)
{
	(void)t0;
	(void)t1;
	(void)id0;
	(void)id1;
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: rrd_minutes is not written yet");
}

int spg_rrd_state_get(struct store *st, const char *path, int64_t *last_minute, int64_t *last_id)
{
	(void)path;
	(void)last_minute;
	(void)last_id;
	return store_fail_set(st, false, "postgresql: rrd_state_get is not written yet");
}

int spg_rrd_state_put(struct store *st, const char *path, int64_t last_minute, int64_t last_id)
{
	(void)path;
	(void)last_minute;
	(void)last_id;
	return store_fail_set(st, false, "postgresql: rrd_state_put is not written yet");
}

int spg_list_add(struct store *st, const struct list_entry *e, const char *pkey, int64_t *id)
{
	(void)e;
	(void)pkey;
	(void)id;
	return store_fail_set(st, false, "postgresql: list_add is not written yet");
}

int spg_list_add_many(struct store *st, const struct list_entry *e, char *const *pkeys, size_t n)
{
	(void)e;
	(void)pkeys;
	(void)n;
	return store_fail_set(st, false, "postgresql: list_add_many is not written yet");
}

int spg_list_del(struct store *st, int64_t id)
{
	(void)id;
	return store_fail_set(st, false, "postgresql: list_del is not written yet");
}

int spg_list_query(struct store *st, const char *scope, int64_t id, int (*fn)(const struct list_entry *e, void *arg), void *arg)
{
	(void)scope;
	(void)id;
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: list_query is not written yet");
}

int spg_list_probe(struct store *st, const struct list_probe *p, int64_t now, int (*fn)(const struct list_entry *e, void *arg), void *arg)
{
	(void)p;
	(void)now;
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: list_probe is not written yet");
}

int spg_report_top(struct store *st, enum store_top which, int64_t since, int64_t until, int top, int (*fn)(const char *name, int64_t count, void *arg), void *arg)
{
	(void)which;
	(void)since;
	(void)until;
	(void)top;
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: report_top is not written yet");
}

static int spgd_items(struct store *st, const char *cats, int64_t since, const char *rcpt, int (*fn)(const struct store_digest_item *it, void *arg), void *arg)
{
	(void)cats;
	(void)since;
	(void)rcpt;
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: items is not written yet");
}

static int spgd_pref_set(struct store *st, const char *target, const char *freq)
{
	(void)target;
	(void)freq;
	return store_fail_set(st, false, "postgresql: pref_set is not written yet");
}

static int spgd_prefs(struct store *st, int (*fn)(const char *target, const char *freq, void *arg), void *arg)
{
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: prefs is not written yet");
}

static int spgd_last(struct store *st, const char *rcpt, int (*fn)(const char *rcpt, int64_t last, void *arg), void *arg)
{
	(void)rcpt;
	(void)fn;
	(void)arg;
	return store_fail_set(st, false, "postgresql: last is not written yet");
}

static int spgd_queue(struct store *st, struct store_digest_out *d, size_t n, int64_t now)
{
	(void)d;
	(void)n;
	(void)now;
	return store_fail_set(st, false, "postgresql: queue is not written yet");
}

static int spgd_rcpt_delete(struct store *st, int64_t msg_rowid, const char *addr, int64_t when)
{
	(void)msg_rowid;
	(void)addr;
	(void)when;
	return store_fail_set(st, false, "postgresql: rcpt_delete is not written yet");
}

const struct store_digest_ops store_pg_digest = {
    .items = spgd_items,
    .pref_set = spgd_pref_set,
    .prefs = spgd_prefs,
    .last = spgd_last,
    .queue = spgd_queue,
    .rcpt_delete = spgd_rcpt_delete,
};
