/*
 * bench_digest - the recipients' digest over a large quarantine
 *
 * usage: bench_digest DIR ROWS RCPTS
 *
 * Fills DIR/gatehouse.db (a new store) with ROWS quarantined spam and
 * banned messages for RCPTS recipients (row i is for recipient i mod
 * RCPTS, spread over the last 20 hours), through store_put_many() (scand's
 * group commit, 1,000 a transaction), then times one scand-notify digest
 * run (notify_digest_run(): every recipient is due, daily): the walk over
 * the rows, one multipart/alternative digest rendered per recipient with
 * its signed links, each queued in the outbox with its period mark.
 * Prints the fill time, the digest time, digests and rows a second, the
 * outbox rows written and the peak RSS (getrusage) after the fill and
 * after the run. Templates come from templates/ (run from the top
 * directory); DIR/scand.conf is written for the run.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "conf.h"
#include "log.h"
#include "mailid.h"
#include "notify/digest.h"
#include "notify/notify.h"
#include "quar.h"
#include "store.h"

#define BATCH 1000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int fill(struct store *st, long rows, long rcpts, time_t now)
{
	struct store_put_item items[BATCH];
	struct store_msg msgs[BATCH];
	struct store_rcpt rc[BATCH];
	char addr[BATCH][64];
	for (long i = 0; i < rows;) {
		int n = 0;
		for (; n < BATCH && i < rows; n++, i++) {
			struct store_msg *m = &msgs[n];
			memset(m, 0, sizeof(*m));
			mailid_new(m->mail_id);
			m->time = (int64_t)now - (i * 7) % 72000;
			m->sender = g_strdup_printf("sender%ld@example%ld.org", i % 977, i % 31);
			m->subject = g_strdup_printf("Benchmark offer %ld", i);
			m->size = 2000 + i % 50000;
			m->category = (char *)(i % 5 == 0 ? "banned" : "spam");
			m->quar_path = quar_relpath(m->category, (time_t)m->time, m->mail_id, false);
			m->quar_sha256 = (char *)"0000";
			g_snprintf(addr[n], sizeof(addr[n]), "user%ld@example.com", i % rcpts);
			rc[n] = (struct store_rcpt){.addr = addr[n], .destiny = (char *)"discard"};
			m->rcpt = &rc[n];
			m->nrcpt = 1;
			items[n] = (struct store_put_item){.m = m};
		}
		int r = store_put_many(st, items, (size_t)n);
		for (int k = 0; k < n; k++) {
			g_free(msgs[k].sender);
			g_free(msgs[k].subject);
			g_free(msgs[k].quar_path);
			if (items[k].rc != 0)
				r = -1;
		}
		if (r < 0) {
			fprintf(stderr, "bench_digest: fill: %s\n", store_error(st));
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_digest DIR ROWS RCPTS\n");
		return 2;
	}
	const char *dir = argv[1];
	long rows = atol(argv[2]), rcpts = atol(argv[3]);
	char *err = NULL;
	log_init("bench_digest", 1, LOG_LVL_ERROR, NULL);
	char *db = g_build_filename(dir, "gatehouse.db", NULL);
	char *cpath = g_build_filename(dir, "scand.conf", NULL);
	char *text =
	    g_strdup_printf("[scand]\nallow_root = yes\ndatabase = %s\nhostname = mx.example.com\n"
	                    "[notify]\nshipped_dir = templates\n[digest]\nmax_items = 50\n"
	                    "[web]\nsecret_file = %s/web.key\nbase_url = https://mail.example.com/q\n",
	                    db, dir);
	struct conf *c = NULL;
	struct notify *n = NULL;
	struct store *st = NULL;
	if (!g_file_set_contents(cpath, text, -1, NULL) || !(c = conf_load(cpath, &err)) ||
	    !(n = notify_load(c, NULL, &err)) || store_open(db, 10000, &st, &err) < 0) {
		fprintf(stderr, "bench_digest: %s\n", err ? err : "cannot write the config");
		return 1;
	}
	time_t now = time(NULL);
	double t0 = now_s();
	if (fill(st, rows, rcpts, now) < 0)
		return 1;
	double t1 = now_s();
	long rss_fill = peak_rss_kb();
	printf("fill: %ld rows for %ld recipients in %.1f s\n", rows, rcpts, t1 - t0);
	fflush(stdout);

	struct notify_digest_opts o = {.now = now, .out = stdout};
	struct notify_digest_stats s;
	double t2 = now_s();
	if (notify_digest_run(n, c, st, &o, &s, &err) < 0) {
		fprintf(stderr, "bench_digest: %s\n", err);
		return 1;
	}
	double t3 = now_s();
	printf("digest: %d digests (%d items) in %.2f s: %.0f digests/s, %.0f rows/s\n", s.queued, s.items,
	       t3 - t2, s.queued / (t3 - t2), s.items / (t3 - t2));
	printf("peak RSS: %.1f MB after the fill, %.1f MB after the digest run\n", rss_fill / 1024.0,
	       peak_rss_kb() / 1024.0);
	store_close(st);
	notify_free(n);
	conf_free(c);
	g_free(db);
	g_free(cpath);
	g_free(text);
	return s.queued == rcpts ? 0 : 1;
}
