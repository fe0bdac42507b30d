/*
 * scan_clamav - libclamav in-process, one shared engine (see scan_clamav.h)
 *
 * Functions: scan_clamav_stage (init, scan = clam_scan_parts, one
 * whole-message scan, or clam_scan_overparts for a part-count bomb,
 * reload, fini),
 * scan_clamav_banner, scan_clamav_sigs, scan_clamav_reload_now,
 * scan_clamav_generation.
 *
 * Invariants: s->cur is the engine new scans use (NULL only during a
 * low-memory reload or after one failed); every struct clam_engine holds
 * one reference for s->cur plus one per scan in progress, and is freed by
 * whoever drops the last one. s->live counts engines not yet freed, so a
 * low-memory reload can wait until the old one is really gone. Reloads
 * are serialised by s->reload_lock; s->lock only guards the pointer swap.
 *
 * Failures: init and reload return -1 with *err naming the directory and
 * libclamav's reason; scan reports per stage.h.
 */
#include "scan_clamav.h"

#include <clamav.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "mime_walk.h"
#include "scan_util.h"

struct clam_engine {
	struct cl_engine *eng;
	gint refs;
	unsigned sigs;
	char *date; /* YYYY-MM-DD of the database */
	time_t db_time; /* when it was built, else its newest file's mtime */
	unsigned db_version;
	/* the settings it was built with, for the part-by-part scan: a reload
	 * changes struct clam_state while scans run, never an engine */
	uint64_t max_scan_size;
	uint32_t max_recursion, max_files;
	bool decode_parts;
};

struct clam_state {
	GMutex lock;      /* guards cur, live */
	GCond cond;       /* cur set again, or an engine freed */
	struct clam_engine *cur;
	int live;
	bool loading;     /* low-memory reload in progress: scans wait */
	GMutex reload_lock; /* serialises reloads; guards the settings below */
	char *dirs;
	uint64_t max_scan_size, max_file_size;
	uint32_t max_recursion, max_files;
	bool low_memory;
	bool decode_parts; /* scand decodes the MIME parts (clam_scan_parts) */
	char *tmpdir; /* NULL = libclamav's default */
	char *fingerprint; /* of the files the current engine was built from */
	unsigned generation;
	/* the watcher thread */
	GThread *watcher;
	GMutex wlock;
	GCond wcond;
	bool stop;
	gint watching; /* the watcher has been started */
	int64_t interval;
};

static cl_error_t clam_inspect(int fd, const char *type, const char **ancestors, size_t parent_file_size,
			       const char *file_name, size_t file_size, const char *file_buffer,
			       uint32_t level, uint32_t attributes, void *context);

static void clam_global_init(void)
{
	static gsize done;
	if (g_once_init_enter(&done)) {
		cl_error_t rc = cl_init(CL_INIT_DEFAULT);
		if (rc != CL_SUCCESS)
			msg_fatal("clamav: cl_init: %s", cl_strerror(rc));
		g_once_init_leave(&done, 1);
	}
}

static void clam_settings(struct clam_state *s, const struct conf *c)
{
	g_free(s->dirs);
	s->dirs = g_strdup(conf_str(c, "clamav", "database_dirs"));
	s->max_scan_size = (uint64_t)conf_int(c, "clamav", "max_scan_size");
	s->max_file_size = (uint64_t)conf_int(c, "clamav", "max_file_size");
	s->max_recursion = (uint32_t)conf_int(c, "clamav", "max_recursion");
	s->max_files = (uint32_t)conf_int(c, "clamav", "max_files");
	s->low_memory = conf_bool(c, "clamav", "low_memory_reload");
	s->decode_parts = conf_bool(c, "clamav", "decode_parts");
	const char *t = conf_str(c, "clamav", "temp_dir"), *w = conf_str(c, "scand", "work_dir");
	g_free(s->tmpdir);
	s->tmpdir = *t ? g_strdup(t) : g_file_test(w, G_FILE_TEST_IS_DIR) ? g_strdup(w) : NULL;
	s->interval = conf_int(c, "clamav", "reload_check_interval");
}

/* g_ptr_array_sort() passes pointers to the elements, not the strings:
 * g_strcmp0 itself would order the pointers' bytes, differently each run. */
static gint clam_name_cmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* Calls fn for every regular file in every configured directory, sorted. */
static void clam_walk_files(const char *dirs, void (*fn)(const char *path, const struct stat *st, void *arg),
			    void *arg)
{
	char **v = g_strsplit(dirs, ":", -1);
	for (char **d = v; *d; d++) {
		if (!**d)
			continue;
		GDir *dir = g_dir_open(*d, 0, NULL);
		if (!dir)
			continue;
		GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
		const char *n;
		while ((n = g_dir_read_name(dir)))
			g_ptr_array_add(names, g_build_filename(*d, n, NULL));
		g_dir_close(dir);
		g_ptr_array_sort(names, clam_name_cmp);
		for (guint i = 0; i < names->len; i++) {
			struct stat st;
			const char *p = g_ptr_array_index(names, i);
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
				fn(p, &st, arg);
		}
		g_ptr_array_free(names, TRUE);
	}
	g_strfreev(v);
}

static void clam_fp_add(const char *path, const struct stat *st, void *arg)
{
	g_string_append_printf(arg, "%s:%lld.%09ld:%lld;", path, (long long)st->st_mtim.tv_sec,
			       st->st_mtim.tv_nsec, (long long)st->st_size);
}

static char *clam_fingerprint(const char *dirs)
{
	GString *fp = g_string_new("");
	clam_walk_files(dirs, clam_fp_add, fp);
	return g_string_free(fp, FALSE);
}

static void clam_newest(const char *path, const struct stat *st, void *arg)
{
	(void)path;
	time_t *t = arg;
	if (st->st_mtime > *t)
		*t = st->st_mtime;
}

static bool clam_dir_has_files(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	if (!d)
		return false;
	bool any = g_dir_read_name(d) != NULL;
	g_dir_close(d);
	return any;
}

static void clam_engine_free(struct clam_engine *e)
{
	if (e->eng)
		cl_engine_free(e->eng);
	g_free(e->date);
	g_free(e);
}

static int clam_limits(struct cl_engine *eng, const struct clam_state *s, char **err)
{
	cl_error_t rc;
	if ((rc = cl_engine_set_num(eng, CL_ENGINE_MAX_SCANSIZE, (long long)s->max_scan_size)) != CL_SUCCESS ||
	    (rc = cl_engine_set_num(eng, CL_ENGINE_MAX_FILESIZE, (long long)s->max_file_size)) != CL_SUCCESS ||
	    (rc = cl_engine_set_num(eng, CL_ENGINE_MAX_RECURSION, s->max_recursion)) != CL_SUCCESS ||
	    (rc = cl_engine_set_num(eng, CL_ENGINE_MAX_FILES, s->max_files)) != CL_SUCCESS ||
	    (s->tmpdir && (rc = cl_engine_set_str(eng, CL_ENGINE_TMPDIR, s->tmpdir)) != CL_SUCCESS)) {
		*err = g_strdup_printf("clamav: setting limits: %s", cl_strerror(rc));
		return -1;
	}
	return 0;
}

/* Builds and compiles a new engine from the configured directories. */
static struct clam_engine *clam_build(const struct clam_state *s, char **err)
{
	struct clam_engine *e = g_new0(struct clam_engine, 1);
	char **v = g_strsplit(s->dirs, ":", -1);
	int loaded = 0;
	e->refs = 1;
	e->eng = cl_engine_new();
	if (!e->eng) {
		*err = g_strdup("clamav: cl_engine_new failed");
		goto fail;
	}
	for (char **d = v; *d; d++) {
		if (!**d || !clam_dir_has_files(*d)) {
			msg_debug("clamav: skipping missing or empty %s", *d);
			continue;
		}
		unsigned n = 0;
		cl_error_t rc = cl_load(*d, e->eng, &n, CL_DB_STDOPT);
		if (rc == CL_EOPEN && n == 0) {
			msg_info("clamav: no signature databases in %s", *d);
			continue;
		}
		if (rc != CL_SUCCESS) {
			*err = g_strdup_printf("clamav: loading %s: %s", *d, cl_strerror(rc));
			goto fail;
		}
		e->sigs += n;
		loaded++;
	}
	if (loaded == 0) {
		*err = g_strdup_printf("clamav: no signatures loaded from %s", s->dirs);
		goto fail;
	}
	if (clam_limits(e->eng, s, err) < 0)
		goto fail;
	e->max_scan_size = s->max_scan_size;
	e->max_recursion = s->max_recursion;
	e->max_files = s->max_files;
	e->decode_parts = s->decode_parts;
	cl_engine_set_clcb_file_inspection(e->eng, clam_inspect);
	cl_error_t rc = cl_engine_compile(e->eng);
	if (rc != CL_SUCCESS) {
		*err = g_strdup_printf("clamav: compiling the engine: %s", cl_strerror(rc));
		goto fail;
	}
	int ferr = 0;
	time_t t = (time_t)cl_engine_get_num(e->eng, CL_ENGINE_DB_TIME, &ferr);
	e->db_version = (unsigned)cl_engine_get_num(e->eng, CL_ENGINE_DB_VERSION, &ferr);
	if (t <= 0)
		clam_walk_files(s->dirs, clam_newest, &t);
	e->db_time = t;
	GDateTime *dt = g_date_time_new_from_unix_utc(t);
	e->date = dt ? g_date_time_format(dt, "%Y-%m-%d") : g_strdup("unknown");
	if (dt)
		g_date_time_unref(dt);
	g_strfreev(v);
	return e;
fail:
	g_strfreev(v);
	clam_engine_free(e);
	return NULL;
}

static struct clam_engine *clam_acquire(struct clam_state *s)
{
	g_mutex_lock(&s->lock);
	while (!s->cur && s->loading)
		g_cond_wait(&s->cond, &s->lock);
	struct clam_engine *e = s->cur;
	if (e)
		g_atomic_int_inc(&e->refs);
	g_mutex_unlock(&s->lock);
	return e;
}

static void clam_release(struct clam_state *s, struct clam_engine *e)
{
	if (!e || !g_atomic_int_dec_and_test(&e->refs))
		return;
	clam_engine_free(e);
	g_mutex_lock(&s->lock);
	s->live--;
	g_cond_broadcast(&s->cond);
	g_mutex_unlock(&s->lock);
}

static void clam_install(struct clam_state *s, struct clam_engine *e)
{
	g_mutex_lock(&s->lock);
	struct clam_engine *old = s->cur;
	s->cur = e;
	s->live++;
	s->loading = false;
	g_cond_broadcast(&s->cond);
	g_mutex_unlock(&s->lock);
	clam_release(s, old);
}

/* Low-memory mode: drop the current engine and wait until it is freed. */
static void clam_drop_and_wait(struct clam_state *s)
{
	g_mutex_lock(&s->lock);
	struct clam_engine *old = s->cur;
	s->cur = NULL;
	s->loading = true;
	g_mutex_unlock(&s->lock);
	clam_release(s, old);
	g_mutex_lock(&s->lock);
	while (s->live > 0)
		g_cond_wait(&s->cond, &s->lock);
	g_mutex_unlock(&s->lock);
}

/* Called with reload_lock held. */
static int clam_reload_locked(struct clam_state *s, char **err)
{
	char *fp = clam_fingerprint(s->dirs);
	if (s->low_memory && s->cur)
		clam_drop_and_wait(s);
	struct clam_engine *e = clam_build(s, err);
	if (!e) {
		g_mutex_lock(&s->lock);
		s->loading = false;
		g_cond_broadcast(&s->cond);
		g_mutex_unlock(&s->lock);
		msg_warn("%s; %s", *err,
			 s->cur ? "keeping the old engine" : "no engine: scans answer tempfail until a reload works");
		g_free(s->fingerprint);
		s->fingerprint = fp; /* do not retry the same broken files every interval */
		return -1;
	}
	clam_install(s, e);
	g_free(s->fingerprint);
	s->fingerprint = fp;
	s->generation++;
	msg_info("clamav: engine loaded: libclamav %s, %u signatures, database %s", cl_retver(), e->sigs, e->date);
	return 0;
}

int scan_clamav_reload_now(void *state, char **err)
{
	struct clam_state *s = state;
	g_mutex_lock(&s->reload_lock);
	int rc = clam_reload_locked(s, err);
	g_mutex_unlock(&s->reload_lock);
	return rc;
}

static void clam_check_files(struct clam_state *s)
{
	g_mutex_lock(&s->reload_lock);
	char *fp = clam_fingerprint(s->dirs);
	if (g_strcmp0(fp, s->fingerprint) != 0) {
		char *err = NULL;
		msg_info("clamav: signature files changed, reloading");
		clam_reload_locked(s, &err);
		g_free(err);
	}
	g_free(fp);
	g_mutex_unlock(&s->reload_lock);
}

static gpointer clam_watch(gpointer arg)
{
	struct clam_state *s = arg;
	g_mutex_lock(&s->wlock);
	while (!s->stop) {
		gint64 end = g_get_monotonic_time() + s->interval * G_TIME_SPAN_SECOND;
		if (g_cond_wait_until(&s->wcond, &s->wlock, end) || s->stop)
			continue;
		g_mutex_unlock(&s->wlock);
		clam_check_files(s);
		g_mutex_lock(&s->wlock);
	}
	g_mutex_unlock(&s->wlock);
	return NULL;
}

static void clam_fini(void *state);

/* The watcher starts with the first scan, not at init: scand may fork
 * (daemon()) after init, and a thread does not survive a fork. It blocks
 * every signal so that SIGHUP and SIGTERM go to the daemon's signalfd. */
static void clam_watch_start(struct clam_state *s)
{
	g_mutex_lock(&s->wlock);
	if (!s->watching && s->interval > 0 && !s->stop) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		s->watcher = g_thread_new("clamav-watch", clam_watch, s);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		g_atomic_int_set(&s->watching, 1);
	}
	g_mutex_unlock(&s->wlock);
}

static int clam_init(const struct conf *c, void **state, char **err)
{
	clam_global_init();
	struct clam_state *s = g_new0(struct clam_state, 1);
	g_mutex_init(&s->lock);
	g_cond_init(&s->cond);
	g_mutex_init(&s->reload_lock);
	g_mutex_init(&s->wlock);
	g_cond_init(&s->wcond);
	clam_settings(s, c);
	if (scan_clamav_reload_now(s, err) < 0) {
		clam_fini(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int clam_reload(void *state, const struct conf *c, char **err)
{
	struct clam_state *s = state;
	g_mutex_lock(&s->reload_lock);
	clam_settings(s, c);
	int rc = clam_reload_locked(s, err);
	g_mutex_unlock(&s->reload_lock);
	return rc;
}

static void clam_fini(void *state)
{
	struct clam_state *s = state;
	if (!s)
		return;
	g_mutex_lock(&s->wlock);
	s->stop = true;
	g_cond_signal(&s->wcond);
	g_mutex_unlock(&s->wlock);
	if (s->watcher)
		g_thread_join(s->watcher);
	g_mutex_lock(&s->lock);
	struct clam_engine *e = s->cur;
	s->cur = NULL;
	g_mutex_unlock(&s->lock);
	clam_release(s, e);
	g_mutex_clear(&s->lock);
	g_cond_clear(&s->cond);
	g_mutex_clear(&s->reload_lock);
	g_mutex_clear(&s->wlock);
	g_cond_clear(&s->wcond);
	g_free(s->dirs);
	g_free(s->tmpdir);
	g_free(s->fingerprint);
	g_free(s);
}

/* A heuristic for a tripped limit or an encrypted container: not a virus,
 * but the message could not be checked completely. */
static bool clam_is_unchecked(const char *name)
{
	return g_str_has_prefix(name, "Heuristics.Limits.Exceeded") || g_str_has_prefix(name, "Heuristics.Encrypted");
}

static char *clam_clean_name(const char *name)
{
	char *n = g_strdup(name);
	if (g_str_has_suffix(n, ".UNOFFICIAL"))
		n[strlen(n) - strlen(".UNOFFICIAL")] = '\0';
	return n;
}

/*
 * The errors the message itself causes: a bound (recursion, size, files,
 * scan time) or content libclamav cannot unpack or parse. The message
 * could not be checked completely: UNCHECKED, and the policy decides.
 * Every other error is ours, not the message's: temporary files that
 * cannot be made or written (a full temp_dir), maps, reads, memory, the
 * engine. Those answer tempfail, so that the MTA keeps the message and
 * the retry is scanned once the fault is gone; as UNCHECKED they would
 * pass with unchecked_destiny = pass.
 */
static bool clam_content_error(cl_error_t rc)
{
	switch (rc) {
	case CL_EMAXREC:
	case CL_EMAXSIZE:
	case CL_EMAXFILES:
	case CL_ETIMEOUT:
	case CL_EFORMAT:
	case CL_EPARSE:
	case CL_EUNPACK: return true;
	default: return false;
	}
}

static enum stage_result clam_verdict(struct msg *m, cl_error_t rc, const char *virname)
{
	if (rc == CL_CLEAN)
		return STAGE_OK;
	if (rc == CL_VIRUS && virname && !clam_is_unchecked(virname)) {
		g_ptr_array_add(m->virus_names, clam_clean_name(virname));
		msg_set_category(m, CAT_VIRUS, "clamav");
		return STAGE_OK;
	}
	if (rc != CL_VIRUS && !clam_content_error(rc)) {
		msg_warn("clamav: %s: %s: answering tempfail", m->mail_id, cl_strerror(rc));
		return STAGE_TEMPFAIL;
	}
	scan_note(m, "clamav: %s", rc == CL_VIRUS && virname ? virname : cl_strerror(rc));
	msg_set_category(m, CAT_UNCHECKED, "clamav");
	return STAGE_UNCHECKED;
}

static cl_error_t clam_scan_buf(const struct clam_engine *e, const struct msg *m, const void *data,
				size_t len, struct cl_scan_options opt, const char **virname, void *parts)
{
	unsigned long scanned = 0;
	cl_fmap_t *map = cl_fmap_open_memory(data, len);
	if (!map)
		return CL_EMEM;
	cl_error_t rc = cl_scanmap_callback(map, m->mail_id, virname, &scanned, e->eng, &opt, parts);
	cl_fmap_close(map);
	return rc;
}

/* The decoded parts of one message, scanned one by one (clam_part). */
struct clam_parts {
	const struct clam_engine *e;
	const struct msg *m;
	const struct cl_scan_options *opt;
	uint64_t counted;    /* the parts and everything libclamav unpacked from them (clam_inspect) */
	bool over;           /* counted went past max_scan_size */
	cl_error_t rc;       /* CL_CLEAN, CL_VIRUS with a signature, or the error that stopped */
	const char *virname; /* the signature (engine memory) */
	char *heuristic;     /* the first limit or encryption heuristic, kept while looking for a signature */
};

/*
 * libclamav's file inspection callback, called for every file a scan
 * reaches (the part itself and each member it unpacks). Scanning one
 * message as one file, libclamav counts all of them against max_scan_size;
 * scanning it part by part, this does the counting across the parts, and
 * clam_part() stops after the part that went past the bound and reports
 * Heuristics.Limits.Exceeded. It never answers CL_BREAK (skip the file):
 * libclamav could then remember a file it never looked at as clean. Not a
 * part scan (context NULL): nothing to do. The interface is marked
 * unstable in clamav.h; a change to it breaks the build, not the scan.
 */
static cl_error_t clam_inspect(int fd, const char *type, const char **ancestors, size_t parent_file_size,
			       const char *file_name, size_t file_size, const char *file_buffer,
			       uint32_t level, uint32_t attributes, void *context)
{
	(void)fd, (void)type, (void)ancestors, (void)parent_file_size, (void)file_name, (void)file_buffer,
	    (void)level, (void)attributes;
	struct clam_parts *p = context;
	if (!p)
		return CL_CLEAN;
	p->counted += file_size;
	if (p->counted > p->e->max_scan_size)
		p->over = true;
	return CL_CLEAN;
}

/* One decoded part. A signature or an error ends the walk; a limit or an
 * encryption heuristic is remembered and the walk goes on, as libclamav
 * itself goes on after one inside a message: a signature in a later part
 * still wins. */
static bool clam_part(const unsigned char *data, size_t len, void *arg)
{
	struct clam_parts *p = arg;
	const char *virname = NULL;
	cl_error_t rc = clam_scan_buf(p->e, p->m, data, len, *p->opt, &virname, p);
	if (rc == CL_VIRUS && virname && clam_is_unchecked(virname)) {
		if (!p->heuristic)
			p->heuristic = g_strdup(virname);
	} else if (rc != CL_CLEAN) {
		p->rc = rc;
		p->virname = virname;
		return false;
	}
	if (p->over) {
		if (!p->heuristic)
			p->heuristic = g_strdup("Heuristics.Limits.Exceeded.MaxScanSize");
		return false;
	}
	return true;
}

/*
 * [clamav] decode_parts: every part as GMime decodes it, from memory, then
 * the raw message with libclamav's mail parser off (signatures for whole
 * mail and anything outside the parts). libclamav's mail parser writes
 * each part to a temporary file and reads it back through an anonymous
 * mapping; that and the parser were half of a scan's cost. A message only
 * libclamav's parser handles (mime_leaves() says which) goes to it whole.
 * The raw pass comes last because libclamav's clean cache keys on the
 * content alone, not the options: after a raw pass had cached the message
 * as clean, the whole-message scan would not look inside it.
 */
static enum stage_result clam_scan_parts(const struct clam_engine *e, struct msg *m, struct mime_doc *doc,
					 const struct cl_scan_options *opt)
{
	struct clam_parts p = {.e = e, .m = m, .opt = opt, .rc = CL_CLEAN};
	struct mime_limits lim = {.max_depth = (int)e->max_recursion,
				  .max_parts = (int)e->max_files,
				  .max_total = (int64_t)e->max_scan_size};
	const char *virname = NULL;
	cl_error_t rc;
	if (mime_leaves(doc, &lim, clam_part, &p) == MIME_LEAVES_WHOLE && p.rc == CL_CLEAN) {
		g_free(p.heuristic);
		rc = clam_scan_buf(e, m, m->data, m->len, *opt, &virname, NULL);
		return clam_verdict(m, rc, virname);
	}
	if (p.rc == CL_CLEAN) {
		struct cl_scan_options raw = *opt;
		raw.parse &= ~(unsigned)CL_SCAN_PARSE_MAIL;
		rc = clam_scan_buf(e, m, m->data, m->len, raw, &virname, NULL);
		if (rc == CL_VIRUS && virname && clam_is_unchecked(virname)) {
			if (!p.heuristic)
				p.heuristic = g_strdup(virname);
		} else if (rc != CL_CLEAN) {
			p.rc = rc;
			p.virname = virname;
		}
	}
	enum stage_result r = p.rc != CL_CLEAN ? clam_verdict(m, p.rc, p.virname)
			      : p.heuristic    ? clam_verdict(m, CL_VIRUS, p.heuristic)
					       : STAGE_OK;
	g_free(p.heuristic);
	return r;
}

/*
 * A message with more MIME parts than max_files, counted in its bytes
 * before any parser builds them (mime_doc_parts_over): libclamav's mail
 * parser would build every one of them, as GMime would, about a kilobyte
 * for each 9-byte empty part, so a part-count bomb is never given to it.
 * The raw bytes are still scanned with mail parsing off (a signature in
 * the text itself is found); without one the message is UNCHECKED, as
 * libclamav's own files limit makes it.
 */
static enum stage_result clam_scan_overparts(const struct clam_engine *e, struct msg *m,
					     const struct cl_scan_options *opt)
{
	struct cl_scan_options raw = *opt;
	const char *virname = NULL;
	raw.parse &= ~(unsigned)CL_SCAN_PARSE_MAIL;
	cl_error_t rc = clam_scan_buf(e, m, m->data, m->len, raw, &virname, NULL);
	if (rc == CL_CLEAN) {
		rc = CL_VIRUS;
		virname = "Heuristics.Limits.Exceeded.MaxFiles";
	}
	return clam_verdict(m, rc, virname);
}

static enum stage_result clam_scan(void *state, struct msg *m)
{
	struct clam_state *s = state;
	if (!g_atomic_int_get(&s->watching))
		clam_watch_start(s);
	struct clam_engine *e = clam_acquire(s);
	if (!e) {
		msg_warn("clamav: %s: no engine loaded", m->mail_id);
		return STAGE_TEMPFAIL;
	}
	struct cl_scan_options opt = {0};
	opt.general = CL_SCAN_GENERAL_HEURISTICS;
	opt.parse = ~0u;
	opt.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX | CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
			CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
	enum stage_result r;
	struct mime_doc *own, *doc = scan_mime_doc(m, &own);
	if (mime_doc_parts_over(doc, (int)e->max_files)) {
		r = clam_scan_overparts(e, m, &opt);
	} else if (e->decode_parts) {
		r = clam_scan_parts(e, m, doc, &opt);
	} else {
		const char *virname = NULL;
		cl_error_t rc = clam_scan_buf(e, m, m->data, m->len, opt, &virname, NULL);
		r = clam_verdict(m, rc, virname);
	}
	mime_doc_free(own);
	clam_release(s, e);
	return r;
}

char *scan_clamav_banner(void *state)
{
	struct clam_state *s = state;
	struct clam_engine *e = clam_acquire(s);
	if (!e)
		return g_strdup_printf("libclamav %s, no database loaded", cl_retver());
	char *b = e->db_version
			  ? g_strdup_printf("libclamav %s, %u signatures, db %u %s", cl_retver(), e->sigs, e->db_version,
					    e->date)
			  : g_strdup_printf("libclamav %s, %u signatures, %s", cl_retver(), e->sigs, e->date);
	clam_release(s, e);
	return b;
}

unsigned scan_clamav_sigs(void *state, time_t *built)
{
	struct clam_state *s = state;
	struct clam_engine *e = clam_acquire(s);
	unsigned n = e ? e->sigs : 0;
	if (built)
		*built = e ? e->db_time : 0;
	clam_release(s, e);
	return n;
}

unsigned scan_clamav_generation(void *state)
{
	struct clam_state *s = state;
	g_mutex_lock(&s->reload_lock);
	unsigned g = s->generation;
	g_mutex_unlock(&s->reload_lock);
	return g;
}

const struct stage scan_clamav_stage = {
	.name = "clamav",
	.init = clam_init,
	.scan = clam_scan,
	.reload = clam_reload,
	.fini = clam_fini,
};
