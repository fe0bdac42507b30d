/*
 * answers - queue and writer thread for recipients' answers (see answers.h)
 *
 * Functions: answers_start, answers_push, answers_stop, answers_lock,
 * answers_unlock, answers_store. A batch whose write fails (a store that
 * went away: PostgreSQL restarting, a locked SQLite file) is logged and
 * kept: it is written again after a backoff of 100 ms doubling to 5 s,
 * with what arrived meanwhile, for up to 10 minutes, so that an attempt
 * answered while the store was down is settled (and its alerts released)
 * once the store returns. Writing answers twice is harmless (the same
 * UPDATEs; settling an attempt already settled changes nothing). A batch
 * still failing after that, or at stop, is dropped with a warning: the
 * rows exist, only their answers are missing, and an attempt left open is
 * settled by store_recover_open() at the next start.
 */
#include "answers.h"

#include <glib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "store.h"

#define ANSWERS_BATCH 512
/* How long the writer lets answers pile up after the first one: a commit
 * costs about as much as the verdict row's own insert (WAL frames, locks),
 * so one per message would double the store's share of a message's cost.
 * While the writer sleeps, pushes wake nobody. */
#define ANSWERS_DELAY_US 50000
#define ANSWERS_RETRY_MIN_US (100 * 1000)
#define ANSWERS_RETRY_MAX_US (5 * 1000 * 1000)
#define ANSWERS_RETRY_FOR_US (600LL * 1000 * 1000)

struct answer_item {
	char mail_id[MAILID_LEN + 1];
	guint n;
	char **answer;
	const char **destiny;
	const char *outcome; /* "final" or "deferred": settles the attempt */
};

static GMutex write_lock;
static GAsyncQueue *queue;
static GThread *writer;
static struct store *st;
static struct answer_item stop_item; /* pushed by answers_stop() */
/* the verdicts' own handle and lock, for a store that is no file */
static GMutex verdict_lock;
static struct store *vst;

void answers_lock(void) { g_mutex_lock(&write_lock); }
struct store *answers_store(void) { return st; }
void answers_unlock(void) { g_mutex_unlock(&write_lock); }
void answers_verdict_lock(void) { g_mutex_lock(vst ? &verdict_lock : &write_lock); }
struct store *answers_verdict_store(void) { return vst ? vst : st; }
void answers_verdict_unlock(void) { g_mutex_unlock(vst ? &verdict_lock : &write_lock); }

static void item_free(struct answer_item *it)
{
	for (guint i = 0; i < it->n; i++)
		g_free(it->answer[i]);
	g_free(it->answer);
	g_free(it->destiny);
	g_free(it);
}

/* true when the batch was written */
static bool write_batch(GPtrArray *batch, bool quiet)
{
	struct store_answers *a = g_new0(struct store_answers, batch->len);
	for (guint i = 0; i < batch->len; i++) {
		const struct answer_item *it = g_ptr_array_index(batch, i);
		a[i] = (struct store_answers){.mail_id = it->mail_id,
		                              .n = it->n,
		                              .answer = it->answer,
		                              .destiny = it->destiny,
		                              .outcome = it->outcome};
	}
	answers_lock();
	/* one transaction; settling is a no-op for an attempt the pipeline
	 * settled before answering */
	bool ok = store_put_answers(st, a, batch->len) == 0;
	if (!ok) {
		if (!quiet)
			msg_warn("store: writing the answers of %u message(s): %s (kept, retried)", batch->len,
			         store_error(st));
		metrics_store_error(METRICS_STORE_ANSWERS);
	}
	answers_unlock();
	g_free(a);
	return ok;
}

/* Adds it to the batch, or notes the stop item. */
static void batch_add(GPtrArray *batch, struct answer_item *it, bool *stop)
{
	if (it == &stop_item)
		*stop = true;
	else
		g_ptr_array_add(batch, it);
}

static gpointer answers_main(gpointer unused)
{
	GPtrArray *batch = g_ptr_array_new_with_free_func((GDestroyNotify)item_free);
	bool stop = false;
	gint64 backoff = ANSWERS_RETRY_MIN_US, failing_since = 0;

	(void)unused;
	while (!stop || batch->len) {
		struct answer_item *it;
		if (!batch->len) { /* idle: wait for the first answer, then let more pile up */
			it = g_async_queue_pop(queue);
			if (it != &stop_item)
				g_usleep(ANSWERS_DELAY_US);
			batch_add(batch, it, &stop);
		} else if (!stop) { /* a failed batch: wait out the backoff, unless stopping */
			if ((it = g_async_queue_timeout_pop(queue, (guint64)backoff)) != NULL)
				batch_add(batch, it, &stop);
			backoff = MIN(backoff * 2, ANSWERS_RETRY_MAX_US);
		}
		while (!stop && batch->len < ANSWERS_BATCH && (it = g_async_queue_try_pop(queue)) != NULL)
			batch_add(batch, it, &stop);
		if (!batch->len)
			continue;
		if (write_batch(batch, failing_since != 0)) {
			if (failing_since)
				msg_info("store: the answers of %u message(s) written after the store came back",
				         batch->len);
			failing_since = 0;
			backoff = ANSWERS_RETRY_MIN_US;
			g_ptr_array_set_size(batch, 0);
			continue;
		}
		gint64 now = g_get_monotonic_time();
		if (!failing_since)
			failing_since = now;
		if (stop || now - failing_since > ANSWERS_RETRY_FOR_US) {
			msg_warn("store: the answers of %u message(s) given up: %s (their attempts are settled at the "
			         "next start)",
			         batch->len, store_error(st));
			failing_since = 0;
			g_ptr_array_set_size(batch, 0);
		}
	}
	g_ptr_array_free(batch, TRUE);
	return NULL;
}

int answers_start(const char *db_path, int busy_timeout_ms, const char *host, char **err)
{
	if (store_open(db_path, busy_timeout_ms, &st, err) < 0)
		return -1;
	/* before the first statement: a PostgreSQL store's migration rows name it */
	store_set_host(st, host);
	/* a database server takes concurrent writers: the verdicts' commits
	 * need not wait behind the answers' (a verdict's rows and its answers
	 * are never written at once: the answers are pushed after the
	 * verdict's transaction ended, so the two never lock the same row) */
	if (!store_file(db_path)) {
		if (store_open(db_path, busy_timeout_ms, &vst, err) < 0) {
			store_close(st);
			st = NULL;
			return -1;
		}
		store_set_host(vst, host);
	}
	int n;
	if (store_recover_open(st, &n) < 0)
		msg_warn("store: settling the attempts left open: %s", store_error(st));
	else if (n > 0)
		msg_info("store: %d attempt(s) left open by the last run settled as deferred (their alerts "
		         "cancelled; the client retries them)",
		         n);
	queue = g_async_queue_new();
	writer = g_thread_new("answers", answers_main, NULL);
	return 0;
}

void answers_push(const struct msg *m, bool deferred)
{
	struct answer_item *it = g_new0(struct answer_item, 1);
	g_strlcpy(it->mail_id, m->mail_id, sizeof(it->mail_id));
	it->outcome = deferred ? "deferred" : "final";
	it->n = m->rcpts->len;
	it->answer = g_new0(char *, it->n);
	it->destiny = g_new0(const char *, it->n);
	for (guint i = 0; i < it->n; i++) {
		const struct msg_rcpt *r = g_ptr_array_index(m->rcpts, i);
		it->answer[i] = g_strdup(r->answer ? r->answer : "");
		it->destiny[i] = msg_destiny_name(msg_rcpt_final_destiny(r));
	}
	g_async_queue_push(queue, it);
}

void answers_stop(void)
{
	if (!writer)
		return;
	g_async_queue_push(queue, &stop_item);
	g_thread_join(writer);
	writer = NULL;
	g_async_queue_unref(queue);
	store_close(st);
	st = NULL;
	store_close(vst);
	vst = NULL;
}
