/*
 * bench_store - the store alone: group commits of verdict rows, no SMTP
 *
 * Usage: bench_store -d LOCATION [-w WRITERS] [-n ROWS] [-b 1,8,32] [-l LABEL]
 *
 * LOCATION is what [scand] database takes: a SQLite file or
 * postgresql://USER@HOST:PORT/DB. For each batch size, WRITERS processes
 * (default 2; forked, each with its own store handle, as several scand
 * hosts have) write ROWS verdict rows each (default 2000) with
 * store_put_many(), BATCH rows per transaction (group commit), all
 * starting at once. A row is what scand writes for a message: the msgs
 * row with one or two recipients, every tenth a virus with its two alerts
 * in the outbox. Prints per batch size the rows/s of all writers together
 * (rows over the time from the first writer's start to the last one's
 * end), the commits/s and the latency of one commit (one store_put_many
 * call) at p50/p95/p99/max. Then counts the rows back (store_count on this
 * run's senders): exits 1 when a commit failed or a row is missing, so the
 * numbers are for rows that are really there.
 *
 * The durability is the backend's own: SQLite commits with synchronous =
 * FULL; for PostgreSQL it is the server's (bench/store starts one with
 * fsync and synchronous_commit on).
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mailid.h"
#include "store.h"

#define BENCH_MAX_BATCH 256
#define BENCH_MAX_WRITERS 16

static const char *location;
static const char *label = "store";
static char run_tag[16];

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t); /* one clock for every process of the machine */
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* What a writer reports to the parent through its pipe. */
struct writer_head {
	double t0, t1;
	int ncommits, failed;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Message k of writer w: its row, recipients and alerts (in the caller's
 * buffers, valid until the next call with the same buffers). */
struct bench_row {
	struct store_msg m;
	struct store_rcpt rcpt[2];
	struct store_alert alert[2];
	char sender[96], subject[96], msgid[128], rcpt0[64], rcpt1[64], body[512];
};

static void bench_fill(struct bench_row *r, int w, int k, int batch)
{
	memset(r, 0, sizeof(*r));
	mailid_new(r->m.mail_id);
	bool virus = k % 10 == 9;
	g_snprintf(r->sender, sizeof(r->sender), "bench-%s-b%d-w%d-%d@example.org", run_tag, batch, w, k);
	g_snprintf(r->subject, sizeof(r->subject), "bench message %d of writer %d", k, w);
	g_snprintf(r->msgid, sizeof(r->msgid), "<%s.%d.%d@bench.example.org>", r->m.mail_id, w, k);
	g_snprintf(r->rcpt0, sizeof(r->rcpt0), "user%d@example.com", k % 97);
	g_snprintf(r->rcpt1, sizeof(r->rcpt1), "other%d@example.com", k % 89);
	r->m.time = (int64_t)time(NULL);
	r->m.client_addr = "192.0.2.25";
	r->m.client_name = "mail.example.org";
	r->m.client_helo = "mail.example.org";
	r->m.sender = r->sender;
	r->m.from_hdr = r->sender;
	r->m.subject = r->subject;
	r->m.message_id = r->msgid;
	r->m.size = 2000 + (k * 37) % 30000;
	r->m.category = virus ? "virus" : "clean";
	r->m.virus_names = virus ? "Eicar-Test-Signature" : "";
	r->m.banned_names = "";
	r->m.spam_tests = "";
	r->m.unchecked_reason = "";
	r->m.scan_ms = 3 + k % 20;
	r->m.policy = "default";
	r->m.engine = "clamav";
	r->m.nrcpt = k % 3 == 0 ? 2 : 1;
	r->m.rcpt = r->rcpt;
	r->rcpt[0] = (struct store_rcpt){.addr = r->rcpt0, .destiny = virus ? "discard" : "pass",
	                                 .smtp_answer = virus ? "250 2.7.0 discarded (virus)" : "250 2.0.0 Ok: queued"};
	r->rcpt[1] = r->rcpt[0];
	r->rcpt[1].addr = r->rcpt1;
	if (virus) { /* the admin's and the recipient's alerts, in the same transaction */
		g_snprintf(r->body, sizeof(r->body),
		           "From: postmaster@example.com\r\nTo: %s\r\nSubject: virus found\r\n"
		           "Auto-Submitted: auto-generated\r\n\r\nEicar-Test-Signature in %s\r\n", r->rcpt0, r->msgid);
		r->alert[0] = (struct store_alert){"virus-admin", "", "postmaster@example.com", r->body, strlen(r->body)};
		r->alert[1] = (struct store_alert){"virus-recipient", "", r->rcpt0, r->body, strlen(r->body)};
	}
}

/* One writer: nrows rows in transactions of batch rows; the head and the
 * commit latencies (ms) go to fd. Waits for a byte on go before starting. */
static int bench_writer(int w, int nrows, int batch, int go, int fd)
{
	struct store *st = NULL;
	char *err = NULL;
	if (store_open(location, 30000, &st, &err) < 0) {
		fprintf(stderr, "bench_store: writer %d: %s\n", w, err);
		return 1;
	}
	char host[32];
	g_snprintf(host, sizeof(host), "bench-w%d", w);
	store_set_host(st, host);
	int ncommits = (nrows + batch - 1) / batch;
	double *lat = g_new0(double, (size_t)ncommits);
	struct bench_row *rows = g_new0(struct bench_row, (size_t)batch);
	struct store_put_item items[BENCH_MAX_BATCH];
	struct writer_head h = {0};
	char c;
	if (read_all(go, &c, 1) < 0)
		return 1;
	h.t0 = now_s();
	for (int i = 0, k = 0; i < ncommits; i++) {
		int n = MIN(batch, nrows - k);
		for (int j = 0; j < n; j++, k++) {
			bench_fill(&rows[j], w, k, batch);
			items[j] = (struct store_put_item){.m = &rows[j].m, .alerts = rows[j].alert,
			                                   .nalerts = rows[j].m.virus_names[0] ? 2 : 0};
		}
		double t0 = now_s();
		int rc = store_put_many(st, items, (size_t)n);
		lat[i] = (now_s() - t0) * 1000.0;
		for (int j = 0; j < n; j++) {
			if (rc < 0 || items[j].rc < 0) {
				if (h.failed++ == 0)
					fprintf(stderr, "bench_store: writer %d: %s\n", w, items[j].err[0] ? items[j].err
					                                                                   : store_error(st));
			}
		}
	}
	h.t1 = now_s();
	h.ncommits = ncommits;
	int bad = write_all(fd, &h, sizeof(h)) < 0 || write_all(fd, lat, sizeof(double) * (size_t)ncommits) < 0;
	g_free(lat);
	g_free(rows);
	store_close(st);
	return bad || h.failed ? 1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, int p)
{
	int i = (n * p + 99) / 100 - 1;
	return v[CLAMP(i, 0, n - 1)];
}

/* One batch size: the writers forked, started together, reported, counted. */
static int bench_batch(int writers, int nrows, int batch)
{
	int go[2], fds[BENCH_MAX_WRITERS];
	pid_t pids[BENCH_MAX_WRITERS];
	if (pipe(go) < 0)
		return -1;
	fflush(NULL);
	for (int w = 0; w < writers; w++) {
		int p[2];
		if (pipe(p) < 0)
			return -1;
		pids[w] = fork();
		if (pids[w] < 0)
			return -1;
		if (pids[w] == 0) {
			close(go[1]);
			close(p[0]);
			_exit(bench_writer(w, nrows, batch, go[0], p[1]));
		}
		close(p[1]);
		fds[w] = p[0];
	}
	close(go[0]);
	usleep(300000); /* let every writer connect (PostgreSQL) before the start */
	char start[BENCH_MAX_WRITERS] = {0};
	int rc = write_all(go[1], start, (size_t)writers);
	close(go[1]);

	int ncommits = (nrows + batch - 1) / batch, total = 0, failed = 0;
	double t0 = 0, t1 = 0, *lat = g_new0(double, (size_t)(ncommits * writers));
	for (int w = 0; w < writers; w++) {
		struct writer_head h;
		if (read_all(fds[w], &h, sizeof(h)) < 0 || read_all(fds[w], lat + total, sizeof(double) * (size_t)ncommits) < 0) {
			fprintf(stderr, "bench_store: writer %d reported nothing\n", w);
			rc = -1;
		} else {
			t0 = w == 0 || h.t0 < t0 ? h.t0 : t0;
			t1 = h.t1 > t1 ? h.t1 : t1;
			total += h.ncommits;
			failed += h.failed;
		}
		close(fds[w]);
	}
	for (int w = 0; w < writers; w++) {
		int status;
		if (waitpid(pids[w], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = -1;
	}
	if (total == 0) {
		g_free(lat);
		return -1;
	}
	qsort(lat, (size_t)total, sizeof(double), cmp_double);
	double secs = t1 - t0, rows = (double)nrows * writers;
	printf("%-10s batch %3d: %d writers x %d rows in %.2f s = %7.0f rows/s, %6.0f commits/s; "
	       "commit p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms%s\n",
	       label, batch, writers, nrows, secs, rows / secs, total / secs, pct(lat, total, 50), pct(lat, total, 95),
	       pct(lat, total, 99), lat[total - 1], failed ? " (FAILED COMMITS)" : "");
	fflush(stdout);
	g_free(lat);

	/* every row is there */
	struct store *st = NULL;
	char *err = NULL, pattern[64];
	if (store_open(location, 30000, &st, &err) < 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		g_free(err);
		return -1;
	}
	g_snprintf(pattern, sizeof(pattern), "bench-%s-b%d-w*", run_tag, batch);
	struct store_filter f = {.sender = pattern};
	int64_t got = store_count(st, &f);
	if (got != (int64_t)rows) {
		fprintf(stderr, "bench_store: %s batch %d: %" G_GINT64_FORMAT " rows in the store, %.0f written (%s)\n", label,
		        batch, got, rows, got < 0 ? store_error(st) : "rows missing");
		rc = -1;
	}
	store_close(st);
	return rc < 0 || failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	int writers = 2, nrows = 2000, opt;
	const char *batches = "1,8,32";
	while ((opt = getopt(argc, argv, "d:w:n:b:l:")) != -1) {
		switch (opt) {
		case 'd': location = optarg; break;
		case 'w': writers = atoi(optarg); break;
		case 'n': nrows = atoi(optarg); break;
		case 'b': batches = optarg; break;
		case 'l': label = optarg; break;
		default:
			fprintf(stderr, "usage: bench_store -d LOCATION [-w WRITERS] [-n ROWS] [-b 1,8,32] [-l LABEL]\n");
			return 2;
		}
	}
	if (!location || writers < 1 || writers > BENCH_MAX_WRITERS || nrows < 1) {
		fprintf(stderr, "usage: bench_store -d LOCATION [-w 1..%d] [-n ROWS] [-b 1,8,32] [-l LABEL]\n",
		        BENCH_MAX_WRITERS);
		return 2;
	}
	char id[MAILID_LEN + 1];
	mailid_new(id);
	for (int i = 0; i < 8; i++) /* letters and digits: the sender pattern has no glob or LIKE character */
		run_tag[i] = g_ascii_isalnum(id[i]) ? id[i] : 'x';

	/* the migrations once, before the writers start */
	struct store *st = NULL;
	char *err = NULL;
	if (store_open(location, 30000, &st, &err) < 0 || store_version(st) < 0) {
		fprintf(stderr, "bench_store: %s: %s\n", location, err ? err : store_error(st));
		return 1;
	}
	store_close(st);

	int rc = 0;
	char **lv = g_strsplit(batches, ",", -1);
	for (char **b = lv; *b; b++) {
		int batch = atoi(*b);
		if (batch < 1 || batch > BENCH_MAX_BATCH) {
			fprintf(stderr, "bench_store: batch %s: 1..%d\n", *b, BENCH_MAX_BATCH);
			rc = 2;
			break;
		}
		if (bench_batch(writers, nrows, batch) < 0)
			rc = 1;
	}
	g_strfreev(lv);
	return rc;
}
