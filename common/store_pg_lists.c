/*
 * store_pg_lists - the PostgreSQL store: allow and block lists (see
 * store.h for each op's contract, store_pg.h for the helpers)
 *
 * The ops have the semantics of their SQLite twins (store_sqlite.c). A
 * probe (scand's lookup for each recipient of each message) is answered
 * from a copy of the lists kept by the handle, not by a round trip to the
 * server: on a 2-core host the lookup's statement cost the server about
 * 0.25 ms a message, as much as the answers' writes
 * (notes/issue-19/fleet-bench.txt). The copy follows the table:
 *
 *   - schema 011 puts a statement trigger on lists that sends a
 *     notification (gatehouse_lists) with every change that commits, from
 *     any writer: quarctl on any host, scand's learning, psql;
 *   - the handle LISTENs on its own connection before it loads the copy,
 *     so a change committed after the load's snapshot is always notified;
 *   - before each probe it reads what its socket holds: a notification,
 *     or a connection that was closed or replaced (its LISTEN and anything
 *     notified meanwhile gone with it), makes it load the copy again.
 *
 * So an edit applies to the next message, as with SQLite, give or take the
 * time a notification takes to arrive (it is sent as the edit commits).
 * Where none can arrive (a pooler in transaction mode between scand and
 * the server hands its connection to others) the copy is still loaded
 * again once a minute.
 * Entries are matched as the server would match them: scope and pkey equal
 * byte for byte, expires 0 or after now. A table of more than
 * SPG_LISTS_COPY_MAX entries is not copied: probes then go to the
 * server, until the next change lets the copy be tried again. Inside a
 * transaction a probe goes to the server too (it sees that transaction).
 */
#include "store_pg.h"

#include <glib.h>
#include <string.h>

#define SPG_STMT(id, text) static const struct pgc_stmt id = {"lists_" #id, text}

#define SPG_LISTS_CHANNEL "gatehouse_lists"
#define SPG_LISTS_COPY_MAX 20000
/* the copy is loaded again after this long even without a notification:
 * a bound on its age where notifications cannot arrive (a pooler that
 * hands the connection to others between statements) */
#define SPG_LISTS_COPY_MAX_AGE_US (60 * G_USEC_PER_SEC)

/* The lists' columns, in struct list_entry order. */
#define SPG_LIST_COLS "id, scope, kind, pattern, note, created_by, created_at, expires"

/* an existing entry is updated first, so that replacing it takes no
 * number from the id sequence (new entries are numbered as SQLite numbers
 * them); ON CONFLICT covers an entry another process adds meanwhile */
#define SPG_LIST_SET "kind = $2::text, note = $5::text, created_by = $6::text, created_at = $7::bigint, " \
                     "expires = $8::bigint"
SPG_STMT(list_add, "WITH u AS (UPDATE lists SET " SPG_LIST_SET " WHERE scope = $1::text AND pattern = $3::text "
                   "RETURNING id), i AS (INSERT INTO lists (scope, kind, pattern, pkey, note, created_by, "
                   "created_at, expires) SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, "
                   "$7::bigint, $8::bigint WHERE NOT EXISTS (SELECT 1 FROM u) ON CONFLICT (scope, pattern) DO "
                   "UPDATE SET " SPG_LIST_SET " RETURNING id) SELECT id FROM u UNION ALL SELECT id FROM i");
SPG_STMT(list_del, "DELETE FROM lists WHERE id = $1");
SPG_STMT(list_query, "SELECT " SPG_LIST_COLS " FROM lists WHERE ($1::text IS NULL OR scope = $1::text) AND "
                     "($2::bigint IS NULL OR id = $2::bigint) "
                     "ORDER BY scope = 'global' DESC, scope COLLATE \"C\", kind, pattern COLLATE \"C\"");
/* IN x IN on the (scope, pkey) index: LIST_PROBE_MAX (10) values each,
 * unused ones repeating the last */
SPG_STMT(list_probe, "SELECT " SPG_LIST_COLS " FROM lists WHERE scope IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                     "AND pkey IN ($11, $12, $13, $14, $15, $16, $17, $18, $19, $20) "
                     "AND (expires = 0 OR expires > $21)");
/* the copy: every entry (a probe leaves out the expired ones at its own
 * time), one more than the copy may hold */
SPG_STMT(list_copy, "SELECT " SPG_LIST_COLS ", pkey FROM lists LIMIT $1");

int spg_list_add(struct store *base, const struct list_entry *e, const char *pkey, int64_t *id)
{
	int64_t got = 0;
	int64_t *v[] = {&got, NULL};
	struct spg_args p = {0};
	spg_arg_str(&p, e->scope);
	spg_arg_str(&p, list_kind_name(e->kind));
	spg_arg_str(&p, e->pattern);
	spg_arg_str(&p, pkey ? pkey : "");
	spg_arg_str(&p, e->note ? e->note : "");
	spg_arg_str(&p, e->created_by ? e->created_by : "");
	spg_arg_i64(&p, e->created_at);
	spg_arg_i64(&p, e->expires);
	if (spg_ints((struct spg *)base, &list_add, &p, "insert list entry", v) != 0)
		return -1; /* RETURNING always gives the row */
	if (id)
		*id = got;
	return 0;
}

int spg_list_add_many(struct store *base, const struct list_entry *e, char *const *pkeys, size_t n)
{
	struct spg *st = (struct spg *)base;
	if (spg_begin(st) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (spg_list_add(base, &e[i], pkeys[i], NULL) < 0)
			return spg_abort(st);
	return spg_commit(st);
}

int spg_list_del(struct store *base, int64_t id)
{
	struct spg_args p = {0};
	spg_arg_i64(&p, id);
	return spg_change_one((struct spg *)base, &list_del, &p, "delete list entry");
}

/* Row i of a SELECT SPG_LIST_COLS, borrowing the result's text. */
static struct list_entry spg_list_entry(const PGresult *r, int i)
{
	return (struct list_entry){.id = spg_i64(r, i, 0),
	                           .scope = (char *)spg_str(r, i, 1),
	                           .kind = strcmp(spg_str(r, i, 2), "block") == 0 ? LIST_BLOCK : LIST_ALLOW,
	                           .pattern = (char *)spg_str(r, i, 3),
	                           .note = (char *)spg_str(r, i, 4),
	                           .created_by = (char *)spg_str(r, i, 5),
	                           .created_at = spg_i64(r, i, 6),
	                           .expires = spg_i64(r, i, 7)};
}

static int spg_list_row(const PGresult *r, int i, void *ctx)
{
	const struct spg_cb *c = ctx;
	struct list_entry e = spg_list_entry(r, i);
	return c->fn.list ? c->fn.list(&e, c->arg) : 0;
}

int spg_list_query(struct store *base, const char *scope, int64_t id, int (*fn)(const struct list_entry *e, void *arg),
                   void *arg)
{
	struct spg_cb c = {.fn.list = fn, .arg = arg};
	struct spg_args p = {0};
	spg_arg_str(&p, scope);
	if (id > 0)
		spg_arg_i64(&p, id);
	else
		spg_arg_str(&p, NULL);
	return spg_each((struct spg *)base, &list_query, &p, "select lists", spg_list_row, &c);
}

/* ---- the copy ---- */

struct spg_lists {
	/* scope -> (pkey -> GPtrArray of struct list_entry *, owned) */
	GHashTable *by_scope;
	unsigned gen;   /* pgc_generation() of the connection that LISTENs */
	bool listening; /* on that connection */
	bool valid;     /* by_scope is the table as notified since its load */
	bool too_big;   /* the table held more than SPG_LISTS_COPY_MAX entries */
	gint64 loaded;  /* g_get_monotonic_time() of the load */
};

static void spg_lists_clear(struct spg_lists *l)
{
	g_hash_table_remove_all(l->by_scope);
	l->valid = false;
}

void spg_lists_free(struct spg_lists *l)
{
	if (!l)
		return;
	g_hash_table_destroy(l->by_scope);
	g_free(l);
}

static void spg_lists_put(struct spg_lists *l, const struct list_entry *e, const char *pkey)
{
	GHashTable *keys = g_hash_table_lookup(l->by_scope, e->scope);
	if (!keys) {
		keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
		g_hash_table_insert(l->by_scope, g_strdup(e->scope), keys);
	}
	GPtrArray *v = g_hash_table_lookup(keys, pkey);
	if (!v) {
		v = g_ptr_array_new_with_free_func((GDestroyNotify)list_entry_free);
		g_hash_table_insert(keys, g_strdup(pkey), v);
	}
	g_ptr_array_add(v, list_entry_copy(e));
}

static int spg_lists_copy_row(const PGresult *r, int i, void *ctx)
{
	struct list_entry e = spg_list_entry(r, i);
	spg_lists_put(ctx, &e, spg_str(r, i, 8));
	return 0;
}

/* Listens (again, on a new connection) and loads the copy: 0 loaded, 1
 * not kept (too big, or the connection changed meanwhile: the caller asks
 * the server), -1 with the store's error. */
static int spg_lists_load(struct spg *st, struct spg_lists *l)
{
	spg_lists_clear(l);
	l->too_big = false;
	if (!l->listening || l->gen != pgc_generation(st->c)) {
		l->listening = false;
		if (spg_cmd(st, "LISTEN " SPG_LISTS_CHANNEL, "lists: listen") < 0)
			return -1;
		l->listening = true;
		l->gen = pgc_generation(st->c);
	}
	/* what was notified before the snapshot below is in it */
	if (pgc_notifications(st->c) < 0) {
		l->listening = false;
		return 1;
	}
	struct spg_args a = {0};
	spg_arg_i64(&a, SPG_LISTS_COPY_MAX + 1);
	int n = spg_each(st, &list_copy, &a, "lists: copy", spg_lists_copy_row, l);
	if (n < 0) {
		spg_lists_clear(l);
		return -1;
	}
	if (l->gen != pgc_generation(st->c)) { /* reconnected for the copy: not listening there */
		l->listening = false;
		spg_lists_clear(l);
		return 1;
	}
	l->loaded = g_get_monotonic_time();
	if (n > SPG_LISTS_COPY_MAX) {
		spg_lists_clear(l);
		l->too_big = true;
		return 1;
	}
	l->valid = true;
	return 0;
}

/* Whether the copy answers the probe: 0 it does, 1 the server does, -1. */
static int spg_lists_current(struct spg *st)
{
	if (st->in_tx)
		return 1;
	if (!st->lists) {
		st->lists = g_new0(struct spg_lists, 1);
		st->lists->by_scope =
		    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
	}
	struct spg_lists *l = st->lists;
	int notes = l->listening ? pgc_notifications(st->c) : -1;
	if (notes < 0 || l->gen != pgc_generation(st->c))
		l->listening = false;
	if (l->listening && notes == 0) {
		if (l->too_big) /* until a change: the server answers anyway */
			return 1;
		if (l->valid && g_get_monotonic_time() - l->loaded < SPG_LISTS_COPY_MAX_AGE_US)
			return 0;
	}
	return spg_lists_load(st, l);
}

/* The probe on the copy: each entry under a scope and a key of p (both
 * lists hold each value once: list_probe_init), live at now. */
static int spg_lists_probe_copy(const struct spg_lists *l, const struct list_probe *p, int64_t now,
                                int (*fn)(const struct list_entry *e, void *arg), void *arg)
{
	int seen = 0;
	for (int i = 0; i < p->nscopes; i++) {
		GHashTable *keys = g_hash_table_lookup(l->by_scope, p->scopes[i]);
		for (int k = 0; keys && k < p->nkeys; k++) {
			GPtrArray *v = g_hash_table_lookup(keys, p->keys[k]);
			for (guint e = 0; v && e < v->len; e++) {
				const struct list_entry *le = g_ptr_array_index(v, e);
				if (le->expires != 0 && le->expires <= now)
					continue;
				seen++;
				if (fn && fn(le, arg))
					return seen;
			}
		}
	}
	return seen;
}

int spg_list_probe(struct store *base, const struct list_probe *p, int64_t now,
                   int (*fn)(const struct list_entry *e, void *arg), void *arg)
{
	struct spg *st = (struct spg *)base;
	if (p->nscopes < 1 || p->nkeys < 1)
		return 0;
	int copy = spg_lists_current(st);
	if (copy < 0)
		return -1;
	if (copy == 0)
		return spg_lists_probe_copy(st->lists, p, now, fn, arg);
	struct spg_cb c = {.fn.list = fn, .arg = arg};
	struct spg_args a = {0};
	for (int i = 0; i < LIST_PROBE_MAX; i++)
		spg_arg_str(&a, p->scopes[MIN(i, p->nscopes - 1)]);
	for (int i = 0; i < LIST_PROBE_MAX; i++)
		spg_arg_str(&a, p->keys[MIN(i, p->nkeys - 1)]);
	spg_arg_i64(&a, now);
	return spg_each(st, &list_probe, &a, "list lookup", spg_list_row, &c);
}
