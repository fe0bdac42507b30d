/*
 * metrics - scand's counters and their page (see metrics.h)
 *
 * Functions: metrics_recorded, metrics_answered, metrics_session,
 * metrics_forward_error, metrics_store_error, metrics_commit,
 * metrics_render. The HTTP side is metrics_http.c.
 *
 * Every counter is a C11 atomic updated with relaxed order: a scrape may
 * see one message's counters half updated (its bytes but not yet its
 * recipients), never a torn or lost count. A histogram keeps one
 * non-cumulative count per bucket; the page sums them, so its _count is
 * always its +Inf bucket. Sums of seconds are kept in microseconds
 * (an integer, so that an atomic add suffices).
 */
#include "metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <time.h>

#include "pipeline.h"
#include "promtext.h"

#define N_CATEGORIES (CAT_VIRUS + 1)
#define N_DESTINIES (DESTINY_TEMPFAIL + 1)
#define HIST_MAX_BOUNDS 16

struct hist {
	const double *bounds; /* ascending seconds */
	size_t nb;
	atomic_uint_fast64_t counts[HIST_MAX_BOUNDS + 1]; /* [nb] = above the last bound */
	atomic_uint_fast64_t sum_us;
};

/* A message takes milliseconds when clean and idle, seconds behind a slow
 * spamd or downstream; the forward and spamd timeouts are minutes. */
static const double latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
/* A group commit is well under a millisecond on tmpfs, a few on a disk
 * that syncs; seconds mean the store is in trouble. */
static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

/* the label values of enum metrics_store_op */
static const char *const store_ops[] = {"verdict", "settle", "answers"};

static struct {
	atomic_uint_fast64_t category[N_CATEGORIES];
	atomic_uint_fast64_t msg_destiny[N_DESTINIES];
	atomic_uint_fast64_t rcpt_destiny[N_DESTINIES];
	atomic_uint_fast64_t bytes;
	atomic_int_fast64_t sessions;
	atomic_uint_fast64_t forward_errors;
	atomic_uint_fast64_t store_errors[G_N_ELEMENTS(store_ops)];
	struct hist latency;
	struct hist commit;
} mx = {
	.latency = {.bounds = latency_bounds, .nb = G_N_ELEMENTS(latency_bounds)},
	.commit = {.bounds = commit_bounds, .nb = G_N_ELEMENTS(commit_bounds)},
};

G_STATIC_ASSERT(G_N_ELEMENTS(latency_bounds) <= HIST_MAX_BOUNDS);
G_STATIC_ASSERT(G_N_ELEMENTS(commit_bounds) <= HIST_MAX_BOUNDS);
G_STATIC_ASSERT(G_N_ELEMENTS(store_ops) == METRICS_STORE_ANSWERS + 1);

static void add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* The bucket is the first bound >= seconds ("le": less or equal). */
static void hist_observe(struct hist *h, double seconds)
{
	size_t i = 0;
	while (i < h->nb && seconds > h->bounds[i])
		i++;
	add(&h->counts[i], 1);
	add(&h->sum_us, seconds > 0 ? (uint64_t)llround(seconds * 1e6) : 0);
}

void metrics_recorded(const struct msg *m)
{
	if ((unsigned)m->category < N_CATEGORIES)
		add(&mx.category[m->category], 1);
}

void metrics_answered(const struct msg *m)
{
	unsigned seen = 0;
	struct timespec t;

	for (guint i = 0; i < m->rcpts->len; i++) {
		enum msg_destiny d = msg_rcpt_final_destiny(g_ptr_array_index(m->rcpts, i));
		add(&mx.rcpt_destiny[d], 1);
		seen |= 1u << d;
	}
	for (unsigned d = 0; d < N_DESTINIES; d++)
		if (seen & (1u << d))
			add(&mx.msg_destiny[d], 1);
	add(&mx.bytes, m->len);
	clock_gettime(CLOCK_MONOTONIC, &t);
	hist_observe(&mx.latency, (double)(t.tv_sec - m->t_start.tv_sec) + (t.tv_nsec - m->t_start.tv_nsec) / 1e9);
}

void metrics_session(int delta)
{
	atomic_fetch_add_explicit(&mx.sessions, delta, memory_order_relaxed);
}

void metrics_forward_error(void)
{
	add(&mx.forward_errors, 1);
}

void metrics_store_error(enum metrics_store_op op)
{
	if ((unsigned)op < G_N_ELEMENTS(store_ops))
		add(&mx.store_errors[op], 1);
}

void metrics_commit(double seconds)
{
	hist_observe(&mx.commit, seconds);
}

static void render_hist(GString *o, const char *name, const char *help, struct hist *h)
{
	uint64_t counts[HIST_MAX_BOUNDS + 1];
	for (size_t i = 0; i <= h->nb; i++)
		counts[i] = get(&h->counts[i]);
	prom_family(o, name, "histogram", help);
	prom_histogram(o, name, h->bounds, h->nb, counts, (double)get(&h->sum_us) / 1e6);
}

static void render_destinies(GString *o, const char *name, const char *help, atomic_uint_fast64_t *c)
{
	prom_family(o, name, "counter", help);
	for (unsigned d = 0; d < N_DESTINIES; d++)
		prom_sample(o, name, "destiny", msg_destiny_name((enum msg_destiny)d), (double)get(&c[d]));
}

static void render_signatures(GString *o)
{
	time_t db;
	unsigned n = pipeline_signatures(&db); /* one engine for both */

	prom_family(o, "gatehouse_signatures", "gauge", "Signatures in the loaded virus engine (0 without one).");
	prom_sample(o, "gatehouse_signatures", NULL, NULL, n);
	prom_family(o, "gatehouse_signatures_age_seconds", "gauge",
	            "Age of the loaded signature database (its build time, else its newest file); absent without one.");
	if (db > 0)
		prom_sample(o, "gatehouse_signatures_age_seconds", NULL, NULL, difftime(time(NULL), db));
}

void metrics_render(GString *o)
{
	prom_family(o, "gatehouse_messages_total", "counter", "Messages recorded in the store, by category.");
	for (unsigned c = 0; c < N_CATEGORIES; c++)
		prom_sample(o, "gatehouse_messages_total", "category", msg_category_name((enum msg_category)c),
		            (double)get(&mx.category[c])); /* exact below 2^53 */
	render_destinies(o, "gatehouse_messages_destiny_total",
	                 "Messages answered, once per distinct final destiny among their recipients.", mx.msg_destiny);
	render_destinies(o, "gatehouse_recipients_total", "Recipients answered, by final destiny.", mx.rcpt_destiny);
	prom_family(o, "gatehouse_received_bytes_total", "counter", "Bytes of the messages answered, as received.");
	prom_sample(o, "gatehouse_received_bytes_total", NULL, NULL, (double)get(&mx.bytes));
	render_hist(o, "gatehouse_message_duration_seconds",
	            "Time from MAIL FROM to the answer after DATA, per message answered.", &mx.latency);
	prom_family(o, "gatehouse_sessions_in_flight", "gauge", "SMTP/LMTP sessions open now.");
	prom_sample(o, "gatehouse_sessions_in_flight", NULL, NULL,
	            (double)atomic_load_explicit(&mx.sessions, memory_order_relaxed));
	prom_family(o, "gatehouse_forward_errors_total", "counter", "Messages whose reinjection failed.");
	prom_sample(o, "gatehouse_forward_errors_total", NULL, NULL, (double)get(&mx.forward_errors));
	prom_family(o, "gatehouse_store_errors_total", "counter",
	            "Failed store writes: verdict (the row; answered 451), settle (an attempt), answers.");
	for (size_t i = 0; i < G_N_ELEMENTS(store_ops); i++)
		prom_sample(o, "gatehouse_store_errors_total", "op", store_ops[i], (double)get(&mx.store_errors[i]));
	render_signatures(o);
	render_hist(o, "gatehouse_store_commit_seconds", "Duration of each group-commit transaction of the store.",
	            &mx.commit);
}
