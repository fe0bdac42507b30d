/*
 * qc_fill - fill a verdict store with quarantined rows for quarctl benchmarks
 *
 * usage: qc_fill DATABASE N
 *
 * Writes N messages through store_put_many() (scand's group commit, 1,000
 * a transaction), spread over
 * the last 60 days, categories virus/banned/spam/badh, one to three
 * recipients, each with a quarantine path from quar_relpath(). The files
 * themselves are not written: listing never reads them. Prints the time
 * taken. Exit 1 on any store error.
 */
#include "mailid.h"
#include "quar.h"
#include "store.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fill_one(struct store_msg *m, struct store_rcpt *r, long i, time_t now)
{
	static const char *const cats[] = {"spam", "spam", "spam", "virus", "banned", "badh"};
	static const char *const viruses[] = {"Eicar-Test-Signature", "Win.Trojan.Agent-1", "Doc.Dropper.X"};
	static char names[3][64];
	const char *cat = cats[i % 6];

	mailid_new(m->mail_id);
	m->time = (int64_t)now - (i * 52) % (60 * 86400); /* 60 days, interleaved */
	m->sender = g_strdup_printf("sender%ld@example%ld.org", i % 977, i % 31);
	m->subject = g_strdup_printf("Benchmark message %ld about offer %ld", i, i % 101);
	m->size = 2000 + i % 50000;
	m->category = (char *)cat;
	m->virus_names = (char *)(g_str_equal(cat, "virus") ? viruses[i % 3] : "");
	m->banned_names = (char *)(g_str_equal(cat, "banned") ? "invoice.pdf.exe" : "");
	m->spam_checked = g_str_equal(cat, "spam");
	m->spam_score = 6.5 + (double)(i % 200) / 10;
	m->quar_path = quar_relpath(cat, (time_t)m->time, m->mail_id, i % 2 == 0);
	m->quar_size = m->size;
	m->quar_sha256 = (char *)"0000000000000000000000000000000000000000000000000000000000000000";
	m->nrcpt = 1 + (size_t)(i % 3);
	for (size_t k = 0; k < m->nrcpt; k++) {
		g_snprintf(names[k], sizeof(names[k]), "user%ld@example.com", (i + (long)k) % 5000);
		r[k].addr = names[k];
		r[k].destiny = (char *)"discard";
		r[k].smtp_answer = (char *)"250 2.7.0 Ok, discarded";
	}
	m->rcpt = r;
}

int main(int argc, char **argv)
{
	struct store *st;
	char *err = NULL;

	if (argc != 3) {
		fprintf(stderr, "usage: qc_fill DATABASE N\n");
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	if (store_open(argv[1], 10000, &st, &err) < 0) {
		fprintf(stderr, "qc_fill: %s\n", err);
		return 1;
	}
	/* Group commit (store_put_many): one fsync per batch, not per row. */
	enum { QC_FILL_BATCH = 1000 };
	struct store_msg *m = g_new0(struct store_msg, QC_FILL_BATCH);
	struct store_rcpt(*r)[3] = g_malloc0(sizeof(*r) * QC_FILL_BATCH);
	struct store_put_item *items = g_new0(struct store_put_item, QC_FILL_BATCH);
	gint64 t0 = g_get_monotonic_time();
	time_t now = time(NULL);
	int rc = 0;
	for (long i = 0; i < n && rc == 0; i += QC_FILL_BATCH) {
		size_t k, nb = (size_t)(n - i < QC_FILL_BATCH ? n - i : QC_FILL_BATCH);
		for (k = 0; k < nb; k++) {
			memset(&m[k], 0, sizeof(m[k]));
			memset(r[k], 0, sizeof(r[k]));
			fill_one(&m[k], r[k], i + (long)k, now);
			items[k] = (struct store_put_item){.m = &m[k]};
		}
		rc = store_put_many(st, items, nb);
		if (rc < 0)
			fprintf(stderr, "qc_fill: rows %ld..: %s\n", i, store_error(st));
		for (k = 0; k < nb; k++) {
			if (rc == 0 && items[k].rc < 0) {
				fprintf(stderr, "qc_fill: row %ld: %s\n", i + (long)k, items[k].err);
				rc = -1;
			}
			g_free(m[k].sender);
			g_free(m[k].subject);
			g_free(m[k].quar_path);
		}
	}
	g_free(m);
	g_free(r);
	g_free(items);
	if (rc < 0) {
		store_close(st);
		return 1;
	}
	printf("qc_fill: %ld rows in %.2f s\n", n, (double)(g_get_monotonic_time() - t0) / 1e6);
	store_close(st);
	return 0;
}
