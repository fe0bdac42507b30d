/*
 * rawscan - the libclamav ceiling: how fast can the bare engine scan the
 * bench corpus, with no SMTP, no spooling and no store around it?
 *
 *   rawscan SIGDIR CORPUSDIR [SECONDS [TMPDIR [THREADS [MODE]]]]
 *
 * Loads and compiles the signatures in SIGDIR (the project's signatures/),
 * reads every regular file of CORPUSDIR into memory once, then scans the
 * files from memory (cl_fmap_open_memory + cl_scanmap_callback, mail,
 * archive and HTML parsing on: what scand asks of the engine) round after
 * round for SECONDS (default 10, at least one full round), in THREADS
 * threads (default: one per CPU, the most the machine can scan), with the
 * scan options scand uses. libclamav's clean-file cache is off: it keys on
 * the content's hash, so from the second round on every clean message
 * would be a cache hit, while real mail (and the load driver's runs, whose
 * messages scand sees once each) is new every time; measured here, the
 * cache made the "ceiling" 14 times too high. libclamav
 * writes the parts it extracts from a mail to temporary files: TMPDIR
 * (give a tmpfs, as scand's work_dir should be) or libclamav's default
 * ($TMPDIR or /tmp); on a disk that costs 20x on small mail. Prints one
 * line: files, rounds, files/s, MB/s, detections per round. Exits 1 with
 * a message on stderr if the engine cannot be set up or a scan fails.
 *
 * MODE "engine" (the default) is the above: bench/compare's ceiling.
 * MODE "stage" or "stage-whole" scans through scand's own virus stage
 * instead (scan_clamav_stage, [clamav] decode_parts = yes or no), once
 * over the corpus (SECONDS is ignored; libclamav's cache is on, as in
 * scand, and with one pass only copies inside the corpus can hit it):
 * what the stage costs against the bare engine, and that both ways find
 * the same messages.
 */
#include <clamav.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "scand/msg.h"
#include "scand/scan_clamav.h"

struct rawscan_file {
	char *name;
	char *data;
	gsize len;
};

static void rawscan_file_free(gpointer p)
{
	struct rawscan_file *f = p;
	g_free(f->name);
	g_free(f->data);
	g_free(f);
}

static struct cl_engine *rawscan_engine(const char *sigdir, const char *tmpdir)
{
	unsigned int sigs = 0;
	cl_error_t rc = cl_init(CL_INIT_DEFAULT);
	struct cl_engine *e;

	if (rc != CL_SUCCESS || !(e = cl_engine_new())) {
		fprintf(stderr, "rawscan: cl_init: %s\n", cl_strerror(rc));
		return NULL;
	}
	if (tmpdir && (rc = cl_engine_set_str(e, CL_ENGINE_TMPDIR, tmpdir)) != CL_SUCCESS) {
		fprintf(stderr, "rawscan: %s: %s\n", tmpdir, cl_strerror(rc));
		cl_engine_free(e);
		return NULL;
	}
	if ((rc = cl_engine_set_num(e, CL_ENGINE_DISABLE_CACHE, 1)) != CL_SUCCESS) {
		fprintf(stderr, "rawscan: disabling the cache: %s\n", cl_strerror(rc));
		cl_engine_free(e);
		return NULL;
	}
	rc = cl_load(sigdir, e, &sigs, CL_DB_STDOPT);
	if (rc == CL_SUCCESS)
		rc = cl_engine_compile(e);
	if (rc != CL_SUCCESS) {
		fprintf(stderr, "rawscan: %s: %s\n", sigdir, cl_strerror(rc));
		cl_engine_free(e);
		return NULL;
	}
	fprintf(stderr, "rawscan: %u signatures from %s\n", sigs, sigdir);
	return e;
}

/* Every regular file of dir, read into memory; NULL on error. */
static GPtrArray *rawscan_corpus(const char *dir, guint64 *total)
{
	GError *err = NULL;
	GDir *d = g_dir_open(dir, 0, &err);
	const char *n;
	GPtrArray *files = NULL;

	if (!d) {
		fprintf(stderr, "rawscan: %s\n", err->message);
		g_error_free(err);
		return NULL;
	}
	files = g_ptr_array_new_with_free_func(rawscan_file_free);
	*total = 0;
	while ((n = g_dir_read_name(d))) {
		struct rawscan_file *f = g_new0(struct rawscan_file, 1);
		f->name = g_build_filename(dir, n, NULL);
		if (!g_file_test(f->name, G_FILE_TEST_IS_REGULAR) ||
		    !g_file_get_contents(f->name, &f->data, &f->len, NULL)) {
			rawscan_file_free(f);
			continue;
		}
		*total += f->len;
		g_ptr_array_add(files, f);
	}
	g_dir_close(d);
	return files;
}

struct rawscan_run {
	const struct cl_engine *e;
	GPtrArray *files;
	gint64 until; /* monotonic end time */
	guint start;  /* this thread's first file, so threads do not march in step */
	guint64 done; /* files scanned */
	int found;    /* detections in the first full round, -1 on a scan error */
};

/* Scans files round after round until the time is up and at least one full
 * round was made. The options are scand's (scan_clamav.c). */
static gpointer rawscan_thread(gpointer arg)
{
	struct rawscan_run *r = arg;
	struct cl_scan_options opt = {
	    .general = CL_SCAN_GENERAL_HEURISTICS,
	    .parse = ~0u,
	    .heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX | CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
			 CL_SCAN_HEURISTIC_ENCRYPTED_DOC,
	};
	guint n = r->files->len;
	int found = 0;

	for (guint64 k = 0; k < n || g_get_monotonic_time() < r->until; k++) {
		const struct rawscan_file *f = r->files->pdata[(r->start + k) % n];
		const char *virname = NULL;
		unsigned long scanned = 0;
		cl_fmap_t *map = cl_fmap_open_memory(f->data, f->len);
		cl_error_t rc = cl_scanmap_callback(map, f->name, &virname, &scanned, r->e, &opt, NULL);
		cl_fmap_close(map);
		if (rc != CL_CLEAN && rc != CL_VIRUS) {
			fprintf(stderr, "rawscan: %s: %s\n", f->name, cl_strerror(rc));
			r->found = -1;
			return NULL;
		}
		if (k < n && rc == CL_VIRUS)
			found++;
		r->done++;
	}
	r->found = found;
	return NULL;
}

struct rawscan_stage_run {
	void *state;
	GPtrArray *files;
	guint first, step; /* this thread scans files first, first + step, ... */
	guint64 done;
	int found; /* -1 on a tempfail */
};

static gpointer rawscan_stage_thread(gpointer arg)
{
	struct rawscan_stage_run *r = arg;
	for (guint i = r->first; i < r->files->len; i += r->step) {
		const struct rawscan_file *f = r->files->pdata[i];
		struct msg *m = msg_new();
		m->data = (const unsigned char *)f->data;
		m->len = f->len;
		enum stage_result rc = scan_clamav_stage.scan(r->state, m);
		if (rc == STAGE_TEMPFAIL) {
			fprintf(stderr, "rawscan: %s: the virus stage failed\n", f->name);
			r->found = -1;
		} else if (m->category == CAT_VIRUS && r->found >= 0) {
			r->found++;
		}
		m->data = NULL;
		m->len = 0;
		msg_free(m);
		r->done++;
	}
	return NULL;
}

/* One pass over the corpus through scand's virus stage. */
static int rawscan_stage(const char *sigdir, const char *tmpdir, GPtrArray *files, guint64 total,
			 int nthreads, bool decode_parts)
{
	char *ini = g_strdup_printf("[clamav]\ndatabase_dirs = %s\nreload_check_interval = 0\n"
				    "temp_dir = %s\ndecode_parts = %s\n",
				    sigdir, tmpdir ? tmpdir : "", decode_parts ? "yes" : "no");
	char *err = NULL;
	struct conf *c = conf_load_text("rawscan", ini, strlen(ini), &err);
	void *state = NULL;
	g_free(ini);
	if (!c || scan_clamav_stage.init(c, &state, &err) < 0) {
		fprintf(stderr, "rawscan: %s\n", err);
		g_free(err);
		conf_free(c);
		return 1;
	}
	struct rawscan_stage_run *runs = g_new0(struct rawscan_stage_run, nthreads);
	GThread **th = g_new0(GThread *, nthreads);
	gint64 t0 = g_get_monotonic_time();
	for (int i = 0; i < nthreads; i++) {
		runs[i] = (struct rawscan_stage_run){
		    .state = state, .files = files, .first = (guint)i, .step = (guint)nthreads};
		th[i] = g_thread_new("rawscan", rawscan_stage_thread, &runs[i]);
	}
	int found = 0;
	guint64 done = 0;
	for (int i = 0; i < nthreads; i++) {
		g_thread_join(th[i]);
		found = found < 0 || runs[i].found < 0 ? -1 : found + runs[i].found;
		done += runs[i].done;
	}
	double s = (g_get_monotonic_time() - t0) / 1e6;
	if (found >= 0)
		printf("rawscan: %u files (%.1f MB), %d threads, scand's virus stage (decode_parts = %s), "
		       "one pass "
		       "in %.2f s: %.1f files/s, %.1f MB/s, %d detected\n",
		       files->len, total / 1e6, nthreads, decode_parts ? "yes" : "no", s, done / s,
		       total / 1e6 / s, found);
	g_free(th);
	g_free(runs);
	scan_clamav_stage.fini(state);
	conf_free(c);
	return found >= 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	double secs = argc > 3 ? atof(argv[3]) : 10.0;
	int nthreads = argc > 5 ? atoi(argv[5]) : (int)g_get_num_processors();
	guint64 total = 0, done = 0;

	const char *mode = argc > 6 ? argv[6] : "engine";
	if (argc < 3 || nthreads < 1 ||
	    (strcmp(mode, "engine") != 0 && strcmp(mode, "stage") != 0 && strcmp(mode, "stage-whole") != 0)) {
		fprintf(stderr, "usage: rawscan SIGDIR CORPUSDIR [SECONDS [TMPDIR [THREADS "
				"[engine|stage|stage-whole]]]]\n");
		return 2;
	}
	if (strcmp(mode, "engine") != 0) {
		GPtrArray *files = rawscan_corpus(argv[2], &total);
		if (!files || files->len == 0) {
			fprintf(stderr, "rawscan: no corpus files in %s\n", argv[2]);
			return 1;
		}
		int rc = rawscan_stage(argv[1], argc > 4 ? argv[4] : NULL, files, total, nthreads,
				       strcmp(mode, "stage") == 0);
		g_ptr_array_free(files, TRUE);
		return rc;
	}
	struct cl_engine *e = rawscan_engine(argv[1], argc > 4 ? argv[4] : NULL);
	GPtrArray *files = e ? rawscan_corpus(argv[2], &total) : NULL;
	if (!files || files->len == 0) {
		fprintf(stderr, "rawscan: no corpus files in %s\n", argv[2]);
		return 1;
	}
	struct rawscan_run *runs = g_new0(struct rawscan_run, nthreads);
	GThread **th = g_new0(GThread *, nthreads);
	gint64 t0 = g_get_monotonic_time();
	for (int i = 0; i < nthreads; i++) {
		runs[i] = (struct rawscan_run){.e = e,
					       .files = files,
					       .until = t0 + (gint64)(secs * 1e6),
					       .start = files->len * (guint)i / (guint)nthreads};
		th[i] = g_thread_new("rawscan", rawscan_thread, &runs[i]);
	}
	int found = 0;
	for (int i = 0; i < nthreads; i++) {
		g_thread_join(th[i]);
		if (runs[i].found < 0 || found < 0)
			found = -1;
		else if (i == 0)
			found = runs[i].found;
		done += runs[i].done;
	}
	double s = (g_get_monotonic_time() - t0) / 1e6;
	int rc = 1;
	if (found >= 0) {
		printf("rawscan: %u files (%.1f MB), %d threads, %" G_GUINT64_FORMAT
		       " scans in %.2f s: %.1f files/s, %.1f MB/s, %d detected per round\n",
		       files->len, total / 1e6, nthreads, done, s, done / s,
		       total * (double)done / files->len / 1e6 / s, found);
		rc = 0;
	}
	g_free(th);
	g_free(runs);
	g_ptr_array_free(files, TRUE);
	cl_engine_free(e);
	return rc;
}
