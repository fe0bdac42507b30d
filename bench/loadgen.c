/*
 * loadgen - parallel SMTP load driver for the benchmarks
 *
 * Usage: loadgen -s HOST:PORT -d CORPUS_DIR [-c THREADS] [-n MESSAGES] [-l]
 *
 * Loads every file of the corpus into memory, then runs THREADS threads,
 * each with its own connection (kept for all its messages), sending
 * MESSAGES in total, round-robin over the corpus (pipelined MAIL/RCPT/
 * DATA through the project's SMTP client, smtpc). -l speaks LMTP.
 * Prints one line: concurrency, messages, messages/s, p50/p95/p99 latency
 * (from MAIL to the final reply) and the number of failed messages.
 * Exit 1 if any message failed.
 */
#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpc.h"

struct corpus {
	GPtrArray *data; /* GBytes* */
};

static struct corpus corpus;
static const char *dest;
static int total;
static int next_msg;
static int failures;
static double *lat_ms;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static void *worker(void *arg)
{
	(void)arg;
	struct smtpc *c = smtpc_open(dest, "loadgen.example", 120);
	for (;;) {
		int i = g_atomic_int_add(&next_msg, 1);
		if (i >= total)
			break;
		GBytes *b = g_ptr_array_index(corpus.data, (guint)i % corpus.data->len);
		struct smtpc_rcpt r = {.addr = "rcpt@example.com"};
		struct smtpc_msg m = {.sender = "sender@example.org", .rcpt = &r, .nrcpt = 1};
		gsize len;
		m.data = g_bytes_get_data(b, &len);
		m.len = len;
		char *err = NULL;
		double t0 = now_ms();
		int rc = smtpc_send(c, &m, &err);
		lat_ms[i] = now_ms() - t0;
		if (rc < 0 || r.code / 100 != 2) {
			if (g_atomic_int_add(&failures, 1) < 5)
				fprintf(stderr, "loadgen: message %d: %s\n", i, err ? err : r.reply);
		}
		smtpc_msg_clear(&m);
		g_free(err);
	}
	smtpc_close(c);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* g_ptr_array_sort() passes pointers to the elements, not the strings:
 * g_strcmp0 itself would order the pointers' bytes, differently each run. */
static gint name_cmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static int load_corpus(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

	if (!d)
		return -1;
	while ((name = g_dir_read_name(d)) != NULL)
		g_ptr_array_add(names, g_build_filename(dir, name, NULL));
	g_dir_close(d);
	g_ptr_array_sort(names, name_cmp);
	corpus.data = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	for (guint i = 0; i < names->len; i++) {
		gchar *buf;
		gsize len;
		if (g_file_get_contents(g_ptr_array_index(names, i), &buf, &len, NULL))
			g_ptr_array_add(corpus.data, g_bytes_new_take(buf, len));
	}
	g_ptr_array_free(names, TRUE);
	return corpus.data->len ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *addr = NULL;
	int threads = 1, opt;
	bool lmtp = false;

	total = 1000;
	while ((opt = getopt(argc, argv, "s:d:c:n:l")) != -1) {
		switch (opt) {
		case 's': addr = optarg; break;
		case 'd': dir = optarg; break;
		case 'c': threads = atoi(optarg); break;
		case 'n': total = atoi(optarg); break;
		case 'l': lmtp = true; break;
		default: addr = NULL; optind = argc; break;
		}
	}
	if (!addr || !dir || threads < 1 || total < 1) {
		fprintf(stderr, "usage: loadgen -s HOST:PORT -d CORPUS_DIR [-c THREADS] [-n MESSAGES] [-l]\n");
		return 2;
	}
	if (load_corpus(dir) < 0) {
		fprintf(stderr, "loadgen: no corpus in %s\n", dir);
		return 1;
	}
	dest = lmtp ? g_strdup_printf("lmtp:%s", addr) : addr;
	lat_ms = g_new0(double, total);
	pthread_t *t = g_new0(pthread_t, threads);
	double t0 = now_ms();
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	double secs = (now_ms() - t0) / 1000.0;
	qsort(lat_ms, (size_t)total, sizeof(double), cmp_double);
	printf("concurrency %d: %d msgs in %.2f s = %.1f msg/s, latency p50 %.2f ms p95 %.2f ms p99 %.2f ms, failed %d\n",
	       threads, total, secs, total / secs, lat_ms[total / 2], lat_ms[(int)(total * 0.95)],
	       lat_ms[(int)(total * 0.99)], failures);
	g_free(lat_ms);
	g_free(t);
	g_ptr_array_free(corpus.data, TRUE);
	return failures ? 1 : 0;
}
