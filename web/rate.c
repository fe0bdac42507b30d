/*
 * rate - requests a minute per client address and per recipient
 *
 * A fixed window per key (the current minute and its count). The table
 * is pruned of past windows when it grows past RATE_PRUNE keys, so a
 * flood of addresses costs memory for one minute at most.
 */
#include "web.h"

#define RATE_PRUNE 50000

struct web_rate {
	GMutex lock;
	GHashTable *t; /* key -> struct rate_slot */
	int64_t limit;
};

struct rate_slot {
	int64_t minute, count;
};

struct web_rate *web_rate_new(int64_t limit)
{
	struct web_rate *r = g_new0(struct web_rate, 1);
	g_mutex_init(&r->lock);
	r->t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	r->limit = limit;
	return r;
}

void web_rate_free(struct web_rate *r)
{
	if (!r)
		return;
	g_hash_table_destroy(r->t);
	g_mutex_clear(&r->lock);
	g_free(r);
}

static gboolean rate_stale(gpointer k, gpointer v, gpointer minute)
{
	(void)k;
	return ((struct rate_slot *)v)->minute != *(int64_t *)minute;
}

bool web_rate_hit(struct web_rate *r, const char *key, int64_t now)
{
	int64_t minute = now / 60;
	g_mutex_lock(&r->lock);
	struct rate_slot *s = g_hash_table_lookup(r->t, key);
	if (!s) {
		if (g_hash_table_size(r->t) >= RATE_PRUNE)
			g_hash_table_foreach_remove(r->t, rate_stale, &minute);
		s = g_new0(struct rate_slot, 1);
		g_hash_table_insert(r->t, g_strdup(key), s);
	}
	if (s->minute != minute) {
		s->minute = minute;
		s->count = 0;
	}
	bool ok = ++s->count <= r->limit;
	g_mutex_unlock(&r->lock);
	return ok;
}
