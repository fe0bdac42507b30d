/*
 * store_backend - the operations a store backend implements (see store.h)
 *
 * store.c keeps the public store_* functions; each dispatches through the
 * ops table of the store it is given. A backend's open() allocates its
 * own handle, whose first member is a struct store (so store.c reads err,
 * busy and be from any backend's handle), and fills in be. Every op has
 * the contract of the public function of the same name in store.h; a
 * failing op sets err (store_fail_set()) and busy for a lock timeout.
 * Backends: store_sqlite.c ("sqlite:", or a plain path). Only store*.c
 * include this header.
 */
#ifndef GH_STORE_BACKEND_H
#define GH_STORE_BACKEND_H

#include "store.h"

struct store_backend;
struct store_digest_ops;

struct store {
	const struct store_backend *be;
	char err[512];
	bool busy; /* the last failure was a lock timeout */
	char host[256]; /* store_set_host(): written into every new row */
};

struct store_backend {
	const char *scheme; /* "sqlite" */
	int (*open)(const char *path, int busy_timeout_ms, struct store **out, char **err);
	void (*close)(struct store *st);
	int (*version)(struct store *st);

	int (*put)(struct store *st, struct store_msg *m, const struct store_alert *alerts, size_t nalerts);
	int (*put_many)(struct store *st, struct store_put_item *items, size_t n);
	int (*settle_rows)(struct store *st, const char *mail_id, const char *outcome, bool purge,
	                   const struct store_alert *alerts, size_t nalerts);
	int (*recover_open)(struct store *st, int *n);
	int (*put_answers)(struct store *st, const struct store_answers *a, size_t n);
	int (*get)(struct store *st, const char *mail_id, struct store_msg **out);
	int (*list)(struct store *st, const struct store_filter *f,
	            int (*fn)(const struct store_msg *m, void *arg), void *arg);
	int64_t (*count)(struct store *st, const struct store_filter *f);
	int (*event)(struct store *st, const char *mail_id, const char *action, const char *who,
	             const char *detail, const char *result);

	int (*set_quar_state)(struct store *st, const char *mail_id, const char *state);
	int (*mark_rcpt_released)(struct store *st, int64_t msg_rowid, const char *addr, int64_t when,
	                          const char *answer);
	int (*purge_missing)(struct store *st, const char *mail_id, const char *was);
	int (*quar_files)(struct store *st, int (*fn)(const struct store_quar_file *f, void *arg), void *arg);
	int (*quar_path_kept)(struct store *st, const char *relpath);
	int (*quar_blob_get)(struct store *st, const char *mail_id, void **data, size_t *len);
	int (*quar_blob_drop)(struct store *st, const char *mail_id);
	int (*quar_stats)(struct store *st, int (*fn)(const struct store_quar_stat *s, void *arg), void *arg);

	int (*outbox_queue)(struct store *st, const char *mail_id, const struct store_alert *a, size_t n,
	                    int64_t now);
	int (*outbox_due)(struct store *st, int64_t now, int limit,
	                  int (*fn)(const struct store_outbox_row *r, void *arg), void *arg);
	int (*outbox_claim)(struct store *st, int64_t id, int64_t due_by, int64_t next_try);
	int (*outbox_sent)(struct store *st, int64_t id, int64_t when);
	int (*outbox_retry)(struct store *st, int64_t id, int64_t next_try, const char *why);
	int (*outbox_failed)(struct store *st, int64_t id, const char *why);
	int64_t (*outbox_count_sent_admin)(struct store *st, const char *rcpt, int64_t since);
	int64_t (*outbox_count_summaries)(struct store *st, const char *rcpt, int64_t since);
	int (*outbox_fold)(struct store *st, const char *rcpt, const void *body, size_t len, int64_t now,
	                   const int64_t *ids, size_t nids, int64_t *summary_id);

	int (*msgs_bounds)(struct store *st, int64_t *oldest_time, int64_t *high_id);
	int (*rrd_minutes)(struct store *st, int64_t t0, int64_t t1, int64_t id0, int64_t id1,
	                   int (*fn)(const struct store_rrd_minute *m, void *arg), void *arg);
	int (*rrd_state_get)(struct store *st, const char *path, int64_t *last_minute, int64_t *last_id);
	int (*rrd_state_put)(struct store *st, const char *path, int64_t last_minute, int64_t last_id);
	/* lists: the entry is valid and lower case, pkey its probe key */
	int (*list_add)(struct store *st, const struct list_entry *e, const char *pkey, int64_t *id);
	/* n entries with their keys in one transaction */
	int (*list_add_many)(struct store *st, const struct list_entry *e, char *const *pkeys, size_t n);
	int (*list_del)(struct store *st, int64_t id);
	int (*list_query)(struct store *st, const char *scope, int64_t id,
	                  int (*fn)(const struct list_entry *e, void *arg), void *arg);
	/* fn for each unexpired entry whose scope is one of p->scopes and
	 * whose probe key is one of p->keys */
	int (*list_probe)(struct store *st, const struct list_probe *p, int64_t now,
	                  int (*fn)(const struct list_entry *e, void *arg), void *arg);
	int (*report_top)(struct store *st, enum store_top which, int64_t since, int64_t until, int top,
	                  int (*fn)(const char *name, int64_t count, void *arg), void *arg);
	const struct store_digest_ops *digest; /* the recipients' digest, below */
};

/* The digest operations (store.h, store_digest_*), one table per backend. */
struct store_digest_ops {
	int (*items)(struct store *st, const char *cats, int64_t since, const char *rcpt,
	             int (*fn)(const struct store_digest_item *it, void *arg), void *arg);
	int (*pref_set)(struct store *st, const char *target, const char *freq);
	int (*prefs)(struct store *st, int (*fn)(const char *target, const char *freq, void *arg), void *arg);
	int (*last)(struct store *st, const char *rcpt, int (*fn)(const char *rcpt, int64_t last, void *arg),
	            void *arg);
	int (*queue)(struct store *st, struct store_digest_out *d, size_t n, int64_t now);
	int (*rcpt_delete)(struct store *st, int64_t msg_rowid, const char *addr, int64_t when);
};

/* scand-report's totals (store.h, store_report_*), one table per backend:
 * store.c finds a store's table by its be, so a backend adds these in a
 * file of its own without touching its op table. */
struct store_report_ops {
	const struct store_backend *be;
	int (*stat)(struct store *st, enum store_stat which, int64_t since, int64_t until,
	            int (*fn)(const struct store_stat_row *row, void *arg), void *arg);
	int (*begin)(struct store *st);
	int (*end)(struct store *st);
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_pg;
extern const struct store_report_ops store_sqlite_report;
extern const struct store_report_ops store_pg_report;

/* Sets st->err from a printf format; returns -1. */
int store_fail_set(struct store *st, bool busy, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The domain of a recipient's address (msgrcpt.domain): after its last
 * '@', "" without one. */
const char *store_addr_domain(const char *addr);

#endif
