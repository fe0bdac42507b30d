/*
 * bench_verdict - throughput of the content checks without spamd
 *
 * Usage: bench_verdict [-n MESSAGES] [-c 1,2,4,8] [-s SIGNATURE_DIRS] [-t CLAMAV_TEMP_DIR]
 * (default temp dir /dev/shm: libclamav unpacks mail parts to files)
 *
 * Builds a corpus in memory (70% plain text of 2-20 KiB, 20% a zip
 * attachment, 10% EICAR), then runs verdict_run() (banned, libclamav,
 * bad header, policy; spamd off; quarantine to a temporary directory that
 * is removed afterwards) over it with each concurrency level, and prints
 * messages/s, p50 and p99 latency and the peak RSS. Exits 1 when any
 * message gets an unexpected category, so the numbers are for correct work.
 */
#include <archive.h>
#include <archive_entry.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "scand/verdict.h"

#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

struct item {
	GString *mail;
	enum msg_category want;
};

struct run {
	struct verdict_ctx *v;
	struct item *items;
	int n;
	gint next;
	gint64 *lat; /* microseconds per message */
	gint bad;
};

static GString *bench_mail(const char *ctype, const char *extra, const char *body)
{
	GString *s = g_string_new("From: a@example.org\r\nTo: b@example.com\r\nDate: Sat, 21 Nov 2026 12:00:00 +0000\r\n"
				  "Subject: bench\r\nMessage-ID: <b@example.org>\r\nMIME-Version: 1.0\r\n");
	g_string_append_printf(s, "Content-Type: %s\r\n%s\r\n%s\r\n", ctype, extra, body);
	return s;
}

static GString *bench_zip_mail(int i)
{
	char buf[1 << 16];
	size_t used = 0;
	GString *txt = g_string_new("");
	for (int k = 0; k < 200 + i % 300; k++)
		g_string_append_printf(txt, "line %d of the attached report\n", k);
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_open_memory(a, buf, sizeof(buf), &used);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "report.txt");
	archive_entry_set_size(e, (la_int64_t)txt->len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_write_header(a, e);
	archive_write_data(a, txt->str, txt->len);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	char *b64 = g_base64_encode((const guchar *)buf, used);
	GString *body = g_string_new("--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n"
				     "Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
				     "Content-Disposition: attachment; filename=\"report.zip\"\r\n\r\n");
	for (size_t p = 0, n = strlen(b64); p < n; p += 76)
		g_string_append_printf(body, "%.*s\r\n", (int)MIN((size_t)76, n - p), b64 + p);
	g_string_append(body, "--B--\r\n");
	GString *m = bench_mail("multipart/mixed; boundary=\"B\"", "", body->str);
	g_free(b64);
	g_string_free(body, TRUE);
	g_string_free(txt, TRUE);
	return m;
}

static void bench_corpus(struct item *items, int n)
{
	for (int i = 0; i < n; i++) {
		if (i % 10 == 9) {
			items[i] = (struct item){bench_mail("text/plain", "", EICAR), CAT_VIRUS};
		} else if (i % 10 >= 7) {
			items[i] = (struct item){bench_zip_mail(i), CAT_CLEAN};
		} else {
			GString *body = g_string_new("");
			for (int k = 0; k < 40 + (i * 37) % 400; k++)
				g_string_append(body, "The quick brown fox jumps over the lazy dog again.\r\n");
			items[i] = (struct item){bench_mail("text/plain; charset=us-ascii", "", body->str), CAT_CLEAN};
			g_string_free(body, TRUE);
		}
	}
}

static gpointer bench_worker(gpointer arg)
{
	struct run *r = arg;
	int i;
	while ((i = g_atomic_int_add(&r->next, 1)) < r->n) {
		struct msg *m = msg_new();
		m->data = (const unsigned char *)r->items[i].mail->str;
		m->len = r->items[i].mail->len;
		m->sender = g_strdup("a@example.org");
		msg_add_rcpt(m, "b@example.com");
		gint64 t0 = g_get_monotonic_time();
		if (verdict_run(r->v, m) != VERDICT_OK || m->category != r->items[i].want)
			g_atomic_int_inc(&r->bad);
		r->lat[i] = g_get_monotonic_time() - t0;
		msg_free(m);
	}
	return NULL;
}

static int bench_cmp(const void *a, const void *b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
	return x < y ? -1 : x > y;
}

static int bench_level(struct verdict_ctx *v, struct item *items, int n, int conc)
{
	struct run r = {.v = v, .items = items, .n = n, .lat = g_new0(gint64, n)};
	GThread **t = g_new(GThread *, conc);
	gint64 t0 = g_get_monotonic_time();
	for (int i = 0; i < conc; i++)
		t[i] = g_thread_new("bench", bench_worker, &r);
	for (int i = 0; i < conc; i++)
		g_thread_join(t[i]);
	double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
	qsort(r.lat, (size_t)n, sizeof(gint64), bench_cmp);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("concurrency %d: %d messages in %.2f s, %.1f msg/s, p50 %.2f ms, p99 %.2f ms, peak RSS %ld MiB%s\n",
	       conc, n, secs, n / secs, r.lat[n / 2] / 1000.0, r.lat[(n * 99) / 100] / 1000.0, ru.ru_maxrss / 1024,
	       r.bad ? " (WRONG VERDICTS)" : "");
	g_free(t);
	g_free(r.lat);
	return r.bad ? -1 : 0;
}

static void bench_rmtree(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *n;
	while (d && (n = g_dir_read_name(d))) {
		char *p = g_build_filename(dir, n, NULL);
		if (g_file_test(p, G_FILE_TEST_IS_DIR))
			bench_rmtree(p);
		else
			g_unlink(p);
		g_free(p);
	}
	if (d)
		g_dir_close(d);
	g_rmdir(dir);
}

int main(int argc, char **argv)
{
	int n = 2000, opt;
	const char *levels = "1,2,4,8", *sigs = "signatures", *tmp = "/dev/shm";
	while ((opt = getopt(argc, argv, "n:c:s:t:")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'c': levels = optarg; break;
		case 's': sigs = optarg; break;
		case 't': tmp = optarg; break;
		default: fprintf(stderr, "usage: bench_verdict [-n N] [-c 1,2,4,8] [-s SIGDIRS] [-t TMPDIR]\n"); return 2;
		}
	}
	if (n < 10)
		n = 10;
	log_init("bench_verdict", 1, LOG_LVL_WARN, "mail");
	char *qdir = g_dir_make_tmp("gh-bench-XXXXXX", NULL), *err = NULL;
	char *ini = g_strdup_printf("[scand]\nquarantine_dir = %s\n[clamav]\ndatabase_dirs = %s\n"
				    "reload_check_interval = 0\ntemp_dir = %s\n[spam]\nenabled = no\n",
				    qdir, sigs, tmp);
	struct conf *c = conf_load_text("bench", ini, strlen(ini), &err);
	struct verdict_ctx *v = NULL;
	if (!c || verdict_init(c, &v, &err) < 0) {
		fprintf(stderr, "bench_verdict: %s\n", err);
		return 1;
	}
	struct item *items = g_new0(struct item, n);
	bench_corpus(items, n);
	int rc = 0;
	char **lv = g_strsplit(levels, ",", -1);
	for (char **l = lv; *l; l++)
		rc |= bench_level(v, items, n, MAX(1, atoi(*l)));
	g_strfreev(lv);
	for (int i = 0; i < n; i++)
		g_string_free(items[i].mail, TRUE);
	g_free(items);
	verdict_fini(v);
	conf_free(c);
	g_free(ini);
	bench_rmtree(qdir);
	g_free(qdir);
	return rc ? 1 : 0;
}
