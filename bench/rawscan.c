/*
 * rawscan - the libclamav ceiling: how fast can the bare engine scan the
 * bench corpus, with no SMTP, no spooling and no store around it?
 *
 *   rawscan SIGDIR CORPUSDIR [SECONDS [TMPDIR]]
 *
 * Loads and compiles the signatures in SIGDIR (the project's signatures/),
 * reads every regular file of CORPUSDIR into memory once, then scans the
 * files from memory (cl_fmap_open_memory + cl_scanmap_callback, mail,
 * archive and HTML parsing on: what scand asks of the engine) round after
 * round for SECONDS (default 10, at least one full round). libclamav
 * writes the parts it extracts from a mail to temporary files: TMPDIR
 * (give a tmpfs, as scand's work_dir should be) or libclamav's default
 * ($TMPDIR or /tmp); on a disk that costs 20x on small mail. Prints one
 * line: files, rounds, files/s, MB/s, detections per round. Exits 1 with
 * a message on stderr if the engine cannot be set up or a scan fails.
 */
#include <clamav.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* One pass over the corpus; returns detections or -1 on a scan error. */
static int rawscan_round(const struct cl_engine *e, GPtrArray *files)
{
	struct cl_scan_options opt = {
		.general = CL_SCAN_GENERAL_HEURISTICS,
		.parse = CL_SCAN_PARSE_ARCHIVE | CL_SCAN_PARSE_MAIL | CL_SCAN_PARSE_HTML | CL_SCAN_PARSE_PDF |
			 CL_SCAN_PARSE_OLE2 | CL_SCAN_PARSE_PE | CL_SCAN_PARSE_ELF,
	};
	int found = 0;

	for (guint i = 0; i < files->len; i++) {
		const struct rawscan_file *f = files->pdata[i];
		const char *virname = NULL;
		unsigned long scanned = 0;
		cl_fmap_t *map = cl_fmap_open_memory(f->data, f->len);
		cl_error_t rc = cl_scanmap_callback(map, f->name, &virname, &scanned, e, &opt, NULL);
		cl_fmap_close(map);
		if (rc == CL_VIRUS)
			found++;
		else if (rc != CL_CLEAN) {
			fprintf(stderr, "rawscan: %s: %s\n", f->name, cl_strerror(rc));
			return -1;
		}
	}
	return found;
}

int main(int argc, char **argv)
{
	double secs = argc > 3 ? atof(argv[3]) : 10.0;
	guint64 total = 0;
	int rounds = 0, found = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: rawscan SIGDIR CORPUSDIR [SECONDS [TMPDIR]]\n");
		return 2;
	}
	struct cl_engine *e = rawscan_engine(argv[1], argc > 4 ? argv[4] : NULL);
	GPtrArray *files = e ? rawscan_corpus(argv[2], &total) : NULL;
	if (!files || files->len == 0) {
		fprintf(stderr, "rawscan: no corpus files in %s\n", argv[2]);
		return 1;
	}
	gint64 t0 = g_get_monotonic_time(), el;
	do {
		if ((found = rawscan_round(e, files)) < 0)
			break;
		rounds++;
		el = g_get_monotonic_time() - t0;
	} while (el < secs * 1e6);
	if (found < 0) {
		g_ptr_array_free(files, TRUE);
		cl_engine_free(e);
		return 1;
	}
	double s = el / 1e6;
	printf("rawscan: %u files (%.1f MB), %d rounds in %.2f s: %.1f files/s, %.1f MB/s, %d detected per round\n",
	       files->len, total / 1e6, rounds, s, files->len * rounds / s, total * (double)rounds / 1e6 / s, found);
	g_ptr_array_free(files, TRUE);
	cl_engine_free(e);
	return 0;
}
