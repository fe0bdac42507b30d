/*
 * bench_lists - the cost of one recipient's allow/block list lookup
 *
 * Usage: bench_lists [-n ENTRIES] [-d DOMAINS] [-l LOOKUPS] [-f] DB
 *
 * Fills the store DB (a SQLite file, created when missing; left as it is
 * when it already has entries) with ENTRIES (1,000,000) entries spread over
 * DOMAINS (10,000) recipient domains, through store_list_import() in
 * batches: per domain, recipient-scoped entries (an address, *@domain or
 * *@.domain of one of 10,000 sender domains), domain-scoped ones, a few
 * globs and subdomain scopes. Then (unless -f: fill only, for bench/lists)
 * times LOOKUPS (200,000) store_list_lookup() calls for random recipients
 * of those domains and random senders, after a warm-up, on one handle, and
 * prints the mean, p50, p99 and max in microseconds per recipient and how
 * many lookups found an entry. The target (issue 17) is under 50 us.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lists.h"
#include "store.h"

#define SENDER_DOMAINS 10000
#define BATCH 50000

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Entry k of domain d (k < per domain): a fixed mix of scopes and
 * patterns; strings into the two buffers. */
static void make_entry(GRand *r, int d, int k, int per, struct list_entry *e, char *scope, char *pattern)
{
	int m = g_rand_int_range(r, 0, SENDER_DOMAINS), u = g_rand_int_range(r, 0, 1000);
	int share = k * 100 / per;
	if (share < 60)
		g_snprintf(scope, 128, "u%d@d%d.example", k, d);
	else if (share < 98)
		g_snprintf(scope, 128, "d%d.example", d);
	else
		g_snprintf(scope, 128, ".d%d.example", d);
	switch (share < 95 ? k % 3 : 3) {
	case 0:
		g_snprintf(pattern, 128, "s%d@send%d.test", u, m);
		break;
	case 1:
		g_snprintf(pattern, 128, "*@send%d.test", m);
		break;
	case 2:
		g_snprintf(pattern, 128, "*@.send%d.test", m);
		break;
	default:
		g_snprintf(pattern, 128, "*offer%d*@*", u);
		break;
	}
	*e = (struct list_entry){.scope = scope,
	                         .kind = k % 4 == 0 ? LIST_BLOCK : LIST_ALLOW,
	                         .pattern = pattern,
	                         .note = "bench",
	                         .created_by = "bench_lists"};
}

static int fill(struct store *st, int n, int domains)
{
	int per = n / domains;
	GRand *r = g_rand_new_with_seed(17);
	struct list_entry *v = g_new0(struct list_entry, BATCH);
	char(*scopes)[128] = g_malloc(BATCH * 128), (*patterns)[128] = g_malloc(BATCH * 128);
	int64_t t0 = now_ns();
	size_t used = 0, bad = 0;
	char *err = NULL;
	int rc = 0;
	for (int d = 0; d < domains && rc == 0; d++) {
		for (int k = 0; k < per; k++, used++)
			make_entry(r, d, k, per, &v[used], scopes[used], patterns[used]);
		if (used + (size_t)per > BATCH || d == domains - 1) {
			if (store_list_import(st, v, used, &bad, &err) < 0) {
				fprintf(stderr, "bench_lists: import: %s\n", err);
				rc = -1;
			}
			used = 0;
		}
	}
	printf("filled %d entries over %d domains in %.1f s\n", n, domains, (now_ns() - t0) / 1e9);
	g_free(v);
	g_free(scopes);
	g_free(patterns);
	g_free(err);
	g_rand_free(r);
	return rc;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int lookups(struct store *st, int n, int domains, int per)
{
	GRand *r = g_rand_new_with_seed(4711);
	int64_t *ns = g_new(int64_t, n), now = (int64_t)time(NULL);
	int hits = 0;
	for (int i = -1000; i < n; i++) { /* 1,000 of warm-up */
		char rcpt[64], sender[64];
		g_snprintf(rcpt, sizeof(rcpt), "u%d@d%d.example", g_rand_int_range(r, 0, per + 20),
		           g_rand_int_range(r, 0, domains));
		g_snprintf(sender, sizeof(sender), "s%d@send%d.test", g_rand_int_range(r, 0, 1000),
		           g_rand_int_range(r, 0, SENDER_DOMAINS));
		struct list_entry *hit = NULL;
		int64_t t0 = now_ns();
		int rc = store_list_lookup(st, rcpt, sender, now, &hit);
		int64_t t1 = now_ns();
		if (rc < 0) {
			fprintf(stderr, "bench_lists: lookup: %s\n", store_error(st));
			g_free(ns);
			g_rand_free(r);
			return -1;
		}
		list_entry_free(hit);
		if (i >= 0) {
			ns[i] = t1 - t0;
			hits += rc;
		}
	}
	int64_t sum = 0;
	for (int i = 0; i < n; i++)
		sum += ns[i];
	qsort(ns, (size_t)n, sizeof(*ns), cmp64);
	printf("lookup per recipient over %d lookups: mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us; "
	       "%d found an entry (target: under 50 us)\n",
	       n, sum / 1e3 / n, ns[n / 2] / 1e3, ns[(int64_t)n * 99 / 100] / 1e3, ns[n - 1] / 1e3, hits);
	g_free(ns);
	g_rand_free(r);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 1000000, domains = 10000, nl = 200000, opt;
	bool fill_only = false;
	while ((opt = getopt(argc, argv, "n:d:l:f")) != -1) {
		switch (opt) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'd':
			domains = atoi(optarg);
			break;
		case 'l':
			nl = atoi(optarg);
			break;
		case 'f':
			fill_only = true;
			break;
		default:
			fprintf(stderr,
			        "usage: bench_lists [-n ENTRIES] [-d DOMAINS] [-l LOOKUPS] [-f] DB\n");
			return 2;
		}
	}
	if (optind != argc - 1 || n <= 0 || domains <= 0 || n < domains || nl <= 0) {
		fprintf(stderr, "usage: bench_lists [-n ENTRIES] [-d DOMAINS] [-l LOOKUPS] [-f] DB\n");
		return 2;
	}
	struct store *st = NULL;
	char *err = NULL;
	if (store_open(argv[optind], 30000, &st, &err) < 0) {
		fprintf(stderr, "bench_lists: %s\n", err);
		return 1;
	}
	int have = store_list_query(st, NULL, 0, NULL, NULL);
	int rc = have < 0 ? -1 : have > 0 ? 0 : fill(st, n, domains);
	if (have > 0)
		printf("%d entries already in %s\n", have, argv[optind]);
	if (rc == 0 && !fill_only)
		rc = lookups(st, nl, domains, n / domains);
	store_close(st);
	return rc < 0 ? 1 : 0;
}
