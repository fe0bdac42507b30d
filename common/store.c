/*
 * store - the public store_* functions, dispatched to the backend (see
 * store.h, store_backend.h)
 *
 * store_open() picks the backend from the location's scheme ("sqlite:" or
 * none); every other function calls the same-named operation of the
 * backend the store was opened with. Nothing here knows SQL.
 */
#include "store_backend.h"

#include "conf.h"

#include <glib.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

static const struct store_backend *const store_backends[] = {&store_backend_sqlite, &store_backend_pg};
static const struct store_report_ops *const store_reports[] = {&store_sqlite_report, &store_pg_report};

int store_fail_set(struct store *st, bool busy, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	st->busy = busy;
	return -1;
}

/* The scheme of "scheme:rest" (letters, digits, + - . after a letter, no
 * '/' before the colon): its length, or 0 for a plain path ("/var/x.db",
 * "./x:y", ":memory:"). */
static size_t store_scheme_len(const char *path)
{
	size_t i = 0;
	if (!g_ascii_isalpha(path[0]))
		return 0;
	while (g_ascii_isalnum(path[i]) || path[i] == '+' || path[i] == '-' || path[i] == '.')
		i++;
	return path[i] == ':' ? i : 0;
}

const char *store_addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

int store_open(const char *path, int busy_timeout_ms, struct store **out, char **err)
{
	size_t n = store_scheme_len(path);
	const struct store_backend *be = NULL;

	*out = NULL;
	if (n == 0) {
		be = &store_backend_sqlite;
	} else {
		for (size_t i = 0; i < G_N_ELEMENTS(store_backends) && !be; i++)
			if (strlen(store_backends[i]->scheme) == n &&
			    g_ascii_strncasecmp(path, store_backends[i]->scheme, n) == 0)
				be = store_backends[i];
		if (!be) {
			*err = g_strdup_printf("%s: unknown store backend \"%.*s\" (known: sqlite, postgresql)", path, (int)n,
			                       path);
			return -1;
		}
		path += n + 1;
	}
	if (be->open(path, busy_timeout_ms, out, err) < 0)
		return -1;
	(*out)->be = be;
	return 0;
}

const char *store_file(const char *path)
{
	size_t n = store_scheme_len(path);
	if (n == 0)
		return path;
	return n == strlen("sqlite") && g_ascii_strncasecmp(path, "sqlite", n) == 0 ? path + n + 1 : NULL;
}

int store_open_conf(const struct conf *c, struct store **out, char **err)
{
	if (store_open(conf_str(c, "scand", "database"), (int)conf_int(c, "scand", "busy_timeout") * 1000, out,
	               err) < 0)
		return -1;
	store_set_host(*out, conf_hostname(c));
	return 0;
}

void store_close(struct store *st)
{
	if (st)
		st->be->close(st);
}

const char *store_error(struct store *st)
{
	return st->err;
}

void store_set_host(struct store *st, const char *host)
{
	g_strlcpy(st->host, host ? host : "", sizeof(st->host));
}

const char *store_host(struct store *st)
{
	return st->host;
}

bool store_busy(struct store *st)
{
	return st->busy;
}

char *store_strdup0(const char *s)
{
	return g_strdup(s ? s : "");
}

int store_version(struct store *st)
{
	return st->be->version(st);
}

int store_put(struct store *st, struct store_msg *m, const struct store_alert *alerts, size_t nalerts)
{
	return st->be->put(st, m, alerts, nalerts);
}

int store_put_many(struct store *st, struct store_put_item *items, size_t n)
{
	return st->be->put_many(st, items, n);
}

int store_settle_rows(struct store *st, const char *mail_id, const char *outcome, bool purge,
                      const struct store_alert *alerts, size_t nalerts)
{
	return st->be->settle_rows(st, mail_id, outcome, purge, alerts, nalerts);
}

int store_recover_open(struct store *st, int *n)
{
	return st->be->recover_open(st, n);
}

int store_put_answers(struct store *st, const struct store_answers *a, size_t n)
{
	return st->be->put_answers(st, a, n);
}

int store_get(struct store *st, const char *mail_id, struct store_msg **out)
{
	return st->be->get(st, mail_id, out);
}

int store_list(struct store *st, const struct store_filter *f,
	       int (*fn)(const struct store_msg *m, void *arg), void *arg)
{
	return st->be->list(st, f, fn, arg);
}

int64_t store_count(struct store *st, const struct store_filter *f)
{
	return st->be->count(st, f);
}

int store_event(struct store *st, const char *mail_id, const char *action, const char *who,
		const char *detail, const char *result)
{
	return st->be->event(st, mail_id, action, who, detail, result);
}

int store_set_quar_state(struct store *st, const char *mail_id, const char *state)
{
	return st->be->set_quar_state(st, mail_id, state);
}

int store_mark_rcpt_released(struct store *st, int64_t msg_rowid, const char *addr, int64_t when,
			     const char *answer)
{
	return st->be->mark_rcpt_released(st, msg_rowid, addr, when, answer);
}

int store_purge_missing(struct store *st, const char *mail_id, const char *was)
{
	return st->be->purge_missing(st, mail_id, was);
}

int store_quar_files(struct store *st, int (*fn)(const struct store_quar_file *f, void *arg), void *arg)
{
	return st->be->quar_files(st, fn, arg);
}

int store_quar_blob_get(struct store *st, const char *mail_id, void **data, size_t *len)
{
	return st->be->quar_blob_get(st, mail_id, data, len);
}

int store_quar_blob_drop(struct store *st, const char *mail_id)
{
	return st->be->quar_blob_drop(st, mail_id);
}

int store_quar_path_kept(struct store *st, const char *relpath)
{
	return st->be->quar_path_kept(st, relpath);
}

int store_quar_stats(struct store *st, int (*fn)(const struct store_quar_stat *s, void *arg), void *arg)
{
	return st->be->quar_stats(st, fn, arg);
}

int store_outbox_queue(struct store *st, const char *mail_id, const struct store_alert *a, size_t n,
                       int64_t now)
{
	return st->be->outbox_queue(st, mail_id, a, n, now);
}

int store_outbox_due(struct store *st, int64_t now, int limit,
                     int (*fn)(const struct store_outbox_row *r, void *arg), void *arg)
{
	return st->be->outbox_due(st, now, limit, fn, arg);
}

int store_outbox_claim(struct store *st, int64_t id, int64_t due_by, int64_t next_try)
{
	return st->be->outbox_claim(st, id, due_by, next_try);
}

int store_outbox_sent(struct store *st, int64_t id, int64_t when)
{
	return st->be->outbox_sent(st, id, when);
}

int store_outbox_retry(struct store *st, int64_t id, int64_t next_try, const char *why)
{
	return st->be->outbox_retry(st, id, next_try, why);
}

int store_outbox_failed(struct store *st, int64_t id, const char *why)
{
	return st->be->outbox_failed(st, id, why);
}

int64_t store_outbox_count_sent_admin(struct store *st, const char *rcpt, int64_t since)
{
	return st->be->outbox_count_sent_admin(st, rcpt, since);
}

int64_t store_outbox_count_summaries(struct store *st, const char *rcpt, int64_t since)
{
	return st->be->outbox_count_summaries(st, rcpt, since);
}

int store_outbox_fold(struct store *st, const char *rcpt, const void *body, size_t len, int64_t now,
                      const int64_t *ids, size_t nids, int64_t *summary_id)
{
	return st->be->outbox_fold(st, rcpt, body, len, now, ids, nids, summary_id);
}

int store_msgs_bounds(struct store *st, int64_t *oldest_time, int64_t *high_id)
{
	return st->be->msgs_bounds(st, oldest_time, high_id);
}

int store_rrd_minutes(struct store *st, int64_t t0, int64_t t1, int64_t id0, int64_t id1,
                      int (*fn)(const struct store_rrd_minute *m, void *arg), void *arg)
{
	return st->be->rrd_minutes(st, t0, t1, id0, id1, fn, arg);
}

int store_rrd_state_get(struct store *st, const char *path, int64_t *last_minute, int64_t *last_id)
{
	return st->be->rrd_state_get(st, path, last_minute, last_id);
}

int store_rrd_state_put(struct store *st, const char *path, int64_t last_minute, int64_t last_id)
{
	return st->be->rrd_state_put(st, path, last_minute, last_id);
}

int store_report_top(struct store *st, enum store_top which, int64_t since, int64_t until, int top,
                     int (*fn)(const char *name, int64_t count, void *arg), void *arg)
{
	if ((int)which < 0 || which >= STORE_NTOP)
		return store_fail_set(st, false, "report: no such top table %d", (int)which);
	return st->be->report_top(st, which, since, until, top, fn, arg);
}

/* The report ops of st's backend (store_backend.h), or NULL after failing st. */
static const struct store_report_ops *store_report_ops(struct store *st)
{
	for (size_t i = 0; i < G_N_ELEMENTS(store_reports); i++)
		if (store_reports[i]->be == st->be)
			return store_reports[i];
	store_fail_set(st, false, "report: the %s store has no report queries", st->be->scheme);
	return NULL;
}

int store_report_stat(struct store *st, enum store_stat which, int64_t since, int64_t until,
                      int (*fn)(const struct store_stat_row *row, void *arg), void *arg)
{
	const struct store_report_ops *r = store_report_ops(st);
	if ((int)which < 0 || which >= STORE_NSTAT)
		return store_fail_set(st, false, "report: no such statistic %d", (int)which);
	return r ? r->stat(st, which, since, until, fn, arg) : -1;
}

int store_report_begin(struct store *st)
{
	const struct store_report_ops *r = store_report_ops(st);
	return r ? r->begin(st) : -1;
}

int store_report_end(struct store *st)
{
	const struct store_report_ops *r = store_report_ops(st);
	return r ? r->end(st) : -1;
}

int store_digest_items(struct store *st, const char *cats, int64_t since, const char *rcpt,
                       int (*fn)(const struct store_digest_item *it, void *arg), void *arg)
{
	return st->be->digest->items(st, cats, since, rcpt, fn, arg);
}

int store_digest_pref_set(struct store *st, const char *target, const char *freq)
{
	return st->be->digest->pref_set(st, target, freq);
}

int store_digest_prefs(struct store *st, int (*fn)(const char *target, const char *freq, void *arg), void *arg)
{
	return st->be->digest->prefs(st, fn, arg);
}

int store_digest_last(struct store *st, const char *rcpt, int (*fn)(const char *rcpt, int64_t last, void *arg),
                      void *arg)
{
	return st->be->digest->last(st, rcpt, fn, arg);
}

int store_digest_queue(struct store *st, struct store_digest_out *d, size_t n, int64_t now)
{
	return st->be->digest->queue(st, d, n, now);
}

int store_rcpt_delete(struct store *st, int64_t msg_rowid, const char *addr, int64_t when)
{
	return st->be->digest->rcpt_delete(st, msg_rowid, addr, when);
}

/* e validated and lower-cased into *n (its scope and pattern g_free'd by
 * the caller, the rest borrowed) with its probe key: 0, or -1 with *err. */
static int store_list_norm(const struct list_entry *e, struct list_entry *n, char **pkey, char **err)
{
	*n = *e;
	n->scope = list_scope_norm(e->scope, err);
	n->pattern = n->scope ? list_pattern_norm(e->pattern, err) : NULL;
	*pkey = NULL;
	if (!n->pattern)
		return -1;
	list_entry_key(n->pattern, pkey);
	n->note = e->note ? e->note : "";
	n->created_by = e->created_by ? e->created_by : "";
	n->created_at = e->created_at ? e->created_at : (int64_t)time(NULL);
	return 0;
}

int store_list_add(struct store *st, const struct list_entry *e, int64_t *id, char **err)
{
	struct list_entry n;
	char *pkey;
	int64_t got = 0;
	int rc = store_list_norm(e, &n, &pkey, err) < 0 ? -2 : st->be->list_add(st, &n, pkey, &got);
	if (rc == -1)
		*err = g_strdup(st->err);
	if (rc == 0 && id)
		*id = got;
	g_free(n.scope);
	g_free(n.pattern);
	g_free(pkey);
	return rc;
}

int store_list_import(struct store *st, const struct list_entry *e, size_t n, size_t *bad, char **err)
{
	struct list_entry *v = g_new0(struct list_entry, n);
	char **keys = g_new0(char *, n);
	size_t done = 0;
	int rc = 0;
	for (; done < n && rc == 0; done++)
		if (store_list_norm(&e[done], &v[done], &keys[done], err) < 0) {
			*bad = done;
			rc = -2;
		}
	if (rc == 0 && st->be->list_add_many(st, v, keys, n) < 0) {
		*err = g_strdup(st->err);
		rc = -1;
	}
	for (size_t i = 0; i < done; i++) {
		g_free(v[i].scope);
		g_free(v[i].pattern);
		g_free(keys[i]);
	}
	g_free(v);
	g_free(keys);
	return rc;
}

int store_list_del(struct store *st, int64_t id)
{
	return st->be->list_del(st, id);
}

int store_list_query(struct store *st, const char *scope, int64_t id,
                     int (*fn)(const struct list_entry *e, void *arg), void *arg)
{
	return st->be->list_query(st, scope, id, fn, arg);
}

static int store_list_candidate(const struct list_entry *e, void *arg)
{
	g_ptr_array_add(arg, list_entry_copy(e));
	return 0;
}

int store_list_lookup(struct store *st, const char *rcpt, const char *sender, int64_t now,
                      struct list_entry **hit)
{
	struct list_probe p;
	*hit = NULL;
	if (!list_probe_init(&p, rcpt, sender))
		return 0;
	GPtrArray *c = g_ptr_array_new_with_free_func((GDestroyNotify)list_entry_free);
	int rc = st->be->list_probe(st, &p, now, store_list_candidate, c);
	if (rc >= 0) {
		const struct list_entry *best = list_pick(&p, (struct list_entry *const *)c->pdata, c->len);
		*hit = best ? list_entry_copy(best) : NULL;
		rc = best ? 1 : 0;
	}
	g_ptr_array_free(c, TRUE);
	list_probe_clear(&p);
	return rc;
}

void store_msg_free(struct store_msg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nrcpt; i++) {
		g_free(m->rcpt[i].addr);
		g_free(m->rcpt[i].destiny);
		g_free(m->rcpt[i].smtp_answer);
		g_free(m->rcpt[i].release_answer);
		g_free(m->rcpt[i].dsn_notify);
		g_free(m->rcpt[i].dsn_orcpt);
		g_free(m->rcpt[i].list_entry);
	}
	g_free(m->rcpt);
	g_free(m->client_addr);
	g_free(m->client_name);
	g_free(m->client_helo);
	g_free(m->sender);
	g_free(m->from_hdr);
	g_free(m->subject);
	g_free(m->message_id);
	g_free(m->category);
	g_free(m->virus_names);
	g_free(m->banned_names);
	g_free(m->spam_tests);
	g_free(m->unchecked_reason);
	g_free(m->quar_path);
	g_free(m->quar_sha256);
	g_free(m->quar_state);
	g_free(m->policy);
	g_free(m->engine);
	g_free(m->attempt);
	g_free(m->quar_backend);
	g_free(m->host);
	g_free(m->dsn_ret);
	g_free(m->dsn_envid);
	g_free(m);
}
