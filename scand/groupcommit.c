/*
 * groupcommit - leader/follower group commit of verdict rows (see groupcommit.h)
 *
 * Functions: gc_put, gc_settle, gc_stats.
 *
 * Invariants: a request is on `pending` until a leader takes it; only one
 * leader at a time (`leading`); a request's `done` is set, under q_lock,
 * only after its transaction ended; the requests live on their workers'
 * stacks, which wait for `done`.
 */
#include "groupcommit.h"

#include <glib.h>

#include "answers.h"
#include "metrics.h"

/* the most rows in one transaction: bounds the time the lock is held */
#define GC_BATCH_MAX 64

struct gc_req {
	struct store_put_item item;
	bool done;
};

static GMutex q_lock;
static GCond q_done;
static GPtrArray *pending;
static bool leading;
static unsigned long n_msgs, n_txns;

static void gc_write(GPtrArray *batch)
{
	struct store_put_item items[GC_BATCH_MAX];
	guint n = batch->len;

	for (guint i = 0; i < n; i++)
		items[i] = ((struct gc_req *)g_ptr_array_index(batch, i))->item;
	answers_verdict_lock(); /* the writer's handle, or the verdicts' own: see answers.h */
	gint64 t0 = g_get_monotonic_time();
	store_put_many(answers_verdict_store(), items, n);
	metrics_commit((double)(g_get_monotonic_time() - t0) / 1e6);
	answers_verdict_unlock();
	for (guint i = 0; i < n; i++)
		((struct gc_req *)g_ptr_array_index(batch, i))->item = items[i];
}

/* Queues one item and returns once the transaction holding it ended. */
static int gc_submit(const struct store_put_item *item, char *err, size_t errlen)
{
	struct gc_req r = {.item = *item};

	g_mutex_lock(&q_lock);
	if (!pending)
		pending = g_ptr_array_new();
	g_ptr_array_add(pending, &r);
	while (!r.done) {
		if (leading) {
			g_cond_wait(&q_done, &q_lock);
			continue;
		}
		leading = true;
		guint n = MIN(pending->len, GC_BATCH_MAX);
		GPtrArray *batch = g_ptr_array_sized_new(n);
		for (guint i = 0; i < n; i++)
			g_ptr_array_add(batch, g_ptr_array_index(pending, i));
		g_ptr_array_remove_range(pending, 0, n);
		g_mutex_unlock(&q_lock);
		gc_write(batch);
		g_mutex_lock(&q_lock);
		for (guint i = 0; i < batch->len; i++)
			((struct gc_req *)g_ptr_array_index(batch, i))->done = true;
		n_msgs += batch->len;
		n_txns++;
		leading = false;
		g_cond_broadcast(&q_done);
		g_ptr_array_free(batch, TRUE);
	}
	g_mutex_unlock(&q_lock);
	if (r.item.rc < 0)
		g_strlcpy(err, r.item.err, errlen);
	return r.item.rc;
}

int gc_put(struct store_msg *m, const struct store_alert *alerts, size_t nalerts, char *err, size_t errlen)
{
	return gc_submit(&(struct store_put_item){.m = m, .alerts = alerts, .nalerts = nalerts}, err, errlen);
}

int gc_settle(const char *mail_id, const char *outcome, bool purge, const struct store_alert *alerts,
              size_t nalerts, char *err, size_t errlen)
{
	return gc_submit(&(struct store_put_item){.settle_id = mail_id,
	                                          .settle_outcome = outcome,
	                                          .settle_purge = purge,
	                                          .alerts = alerts,
	                                          .nalerts = nalerts},
	                 err, errlen);
}

void gc_stats(unsigned long *messages, unsigned long *transactions)
{
	g_mutex_lock(&q_lock);
	*messages = n_msgs;
	*transactions = n_txns;
	g_mutex_unlock(&q_lock);
}
