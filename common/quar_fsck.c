/*
 * quar_fsck - consistency check of the quarantine tree against the store
 *
 * quar_fsck()              rows first (size and SHA-256 of each kept file),
 *                          then a walk of the category trees for orphans
 * quar_fsck_report_free()  frees what quar_fsck() collected
 *
 * Rows are read with store_quar_files(); the only writes (with fix) are
 * one store_purge_missing() per missing file, guarded by the state it was
 * read in, and its events row. Orphans are renamed into lost+found without replacing
 * anything there. scand keeps quarantining while fsck runs, and hashing a
 * big tree takes long: the clock for "young" is read before the rows are,
 * so a file written after fsck started is never an orphan, and the store
 * is asked again about each candidate right before it is moved (its row
 * may have been committed after the rows were read). Failures: -1 with *err when the store cannot be read;
 * everything else becomes a problem in the report (see quar_fsck.h).
 */
#include "quar_fsck.h"

#include "quar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QUAR_FSCK_YOUNG 60 /* seconds: a younger file without a row may be a write in progress */
#define QUAR_FSCK_DEPTH 5  /* <category>/YYYY/MM/DD/file: the file is at depth 5 */

static const char *const quar_fsck_cats[] = {"virus", "banned", "spam", "badh", "archive", NULL};

static void quar_fsck_add(struct quar_fsck_report *r, const char *kind, const char *relpath,
                          const char *mail_id, bool fixed, char *detail)
{
	struct quar_fsck_problem *p = g_new0(struct quar_fsck_problem, 1);
	g_strlcpy(p->kind, kind, sizeof(p->kind));
	p->relpath = g_strdup(relpath);
	g_strlcpy(p->mail_id, mail_id ? mail_id : "", sizeof(p->mail_id));
	p->detail = detail;
	p->fixed = fixed;
	if (fixed)
		r->nfixed++;
	g_ptr_array_add(r->problems, p);
}

static void quar_fsck_problem_free(gpointer q)
{
	struct quar_fsck_problem *p = q;
	g_free(p->relpath);
	g_free(p->detail);
	g_free(p);
}

void quar_fsck_report_free(struct quar_fsck_report *r)
{
	if (r->problems)
		g_ptr_array_free(r->problems, TRUE);
	r->problems = NULL;
}

/* SHA-256 (hex) of a file, read in blocks; false on a read error. */
static bool quar_fsck_hash(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		g_checksum_update(ck, buf, (gssize)n);
	close(fd);
	if (n == 0)
		g_strlcpy(hex, g_checksum_get_string(ck), 65);
	g_checksum_free(ck);
	return n == 0;
}

/* what: "file" (the tree) or "blob" (a database copy) */
static void quar_fsck_missing(struct store *st, const struct quar_fsck_opts *o, struct quar_fsck_report *r,
                              const char *mail_id, const char *relpath, const char *state, const char *what)
{
	if (!o->fix) {
		quar_fsck_add(r, "missing", relpath, mail_id, false,
		              g_strdup_printf("%s, %s missing", state, what));
		return;
	}
	int n = store_purge_missing(st, mail_id, state);
	if (n < 0) {
		quar_fsck_add(r, "missing", relpath, mail_id, false,
		              g_strdup_printf("%s, %s missing; not marked purged: %s", state, what, store_error(st)));
		return;
	}
	if (n == 1) { /* purged or released by someone else while we looked */
		quar_fsck_add(
		    r, "missing", relpath, mail_id, true,
		    g_strdup_printf("%s missing (was %s); the row changed meanwhile: left alone", what, state));
		return;
	}
	char *res = g_strdup_printf("%s missing (was %s): marked purged", what, state);
	if (store_event(st, mail_id, "fsck", o->who ? o->who : "fsck", relpath, res) < 0) {
		char *more = g_strdup_printf("%s (audit event not written: %s)", res, store_error(st));
		g_free(res);
		res = more;
	}
	quar_fsck_add(r, "missing", relpath, mail_id, true, res);
}

struct quar_fsck_row {
	char *mail_id, *relpath, *sha, *state;
	int64_t size;
	bool in_db; /* quar_backend database: the copy is a blob in the store */
};

static void quar_fsck_row_free(gpointer q)
{
	struct quar_fsck_row *w = q;
	g_free(w->mail_id);
	g_free(w->relpath);
	g_free(w->sha);
	g_free(w->state);
	g_free(w);
}

/* A .gz file whose SHA-256 is not the store's may still be right: since
 * schema/009 the store keeps the SHA-256 of the message, not of the gzip. */
static bool quar_fsck_gz_ok(const char *dir, const struct quar_fsck_row *w)
{
	void *data = NULL;
	size_t len = 0;
	char *err = NULL;
	if (!g_str_has_suffix(w->relpath, ".gz"))
		return false;
	int rc = quar_read(dir, w->relpath, w->sha, &data, &len, &err);
	g_free(data);
	g_free(err);
	return rc == 0;
}

/* A database copy: there, it decompresses, and it is the message whose
 * SHA-256 the row has. */
static void quar_fsck_blob(struct store *st, const struct quar_fsck_opts *o, struct quar_fsck_report *r,
                           const struct quar_fsck_row *w)
{
	void *data = NULL;
	size_t len = 0;
	char *err = NULL;
	if (quar_db_read(st, w->mail_id, w->sha, &data, &len, &err) == 0) {
		g_free(data);
		return;
	}
	if (errno == ENOENT)
		quar_fsck_missing(st, o, r, w->mail_id, w->relpath, w->state, "blob");
	else
		quar_fsck_add(r, "mismatch", w->relpath, w->mail_id, false, g_strdup_printf("blob: %s", err));
	g_free(err);
}

static void quar_fsck_row(struct store *st, const char *dir, const struct quar_fsck_opts *o,
                          struct quar_fsck_report *r, const struct quar_fsck_row *w, GHashTable *known)
{
	struct stat sb;
	char hex[65];

	r->rows++;
	if (w->in_db) {
		quar_fsck_blob(st, o, r, w);
		return;
	}
	if (!quar_relpath_safe(w->relpath)) {
		quar_fsck_add(r, "badpath", w->relpath, w->mail_id, false, g_strdup("not a quarantine path"));
		return;
	}
	g_hash_table_add(known, g_strdup(w->relpath));
	char *path = g_build_filename(dir, w->relpath, NULL);
	int st_rc = lstat(path, &sb);
	if (st_rc < 0 && errno == ENOENT)
		quar_fsck_missing(st, o, r, w->mail_id, w->relpath, w->state, "file");
	else if (st_rc < 0)
		quar_fsck_add(r, "mismatch", w->relpath, w->mail_id, false,
		              g_strdup_printf("cannot stat: %s", g_strerror(errno)));
	else if (!S_ISREG(sb.st_mode) || (int64_t)sb.st_size != w->size)
		quar_fsck_add(
		    r, "mismatch", w->relpath, w->mail_id, false,
		    g_strdup_printf("size %lld, store says %lld", (long long)sb.st_size, (long long)w->size));
	else if (!quar_fsck_hash(path, hex))
		quar_fsck_add(r, "mismatch", w->relpath, w->mail_id, false,
		              g_strdup_printf("unreadable: %s", g_strerror(errno)));
	else if (g_ascii_strcasecmp(hex, w->sha) != 0 && !quar_fsck_gz_ok(dir, w))
		quar_fsck_add(r, "mismatch", w->relpath, w->mail_id, false,
		              g_strdup_printf("sha256 %s, store says %s", hex, w->sha));
	g_free(path);
}

static int quar_fsck_keep_row(const struct store_quar_file *f, void *arg)
{
	struct quar_fsck_row *w = g_new0(struct quar_fsck_row, 1);
	w->mail_id = g_strdup(f->mail_id);
	w->relpath = g_strdup(f->relpath);
	w->sha = g_strdup(f->sha256);
	w->state = g_strdup(f->state);
	w->size = f->size;
	w->in_db = f->backend && strcmp(f->backend, "database") == 0;
	g_ptr_array_add(arg, w);
	return 0;
}

/* All rows are read first: the UPDATEs of fix run after the SELECT is done. */
static GPtrArray *quar_fsck_load(struct store *st, char **err)
{
	GPtrArray *rows = g_ptr_array_new_with_free_func(quar_fsck_row_free);
	if (store_quar_files(st, quar_fsck_keep_row, rows) < 0) {
		*err = g_strdup_printf("fsck: %s", store_error(st));
		g_ptr_array_free(rows, TRUE);
		return NULL;
	}
	return rows;
}

/* lost+found/<base>, or <base>.1, .2, ... without replacing anything. */
static int quar_fsck_lost(const char *dir, const char *path, const char *base, char **to)
{
	char *lf = g_build_filename(dir, "lost+found", NULL);
	int rc = -1;
	if (g_mkdir(lf, 0700) < 0 && errno != EEXIST)
		goto out;
	for (int i = 0; i < 1000 && rc < 0; i++) {
		char *name = i ? g_strdup_printf("%s.%d", base, i) : g_strdup(base);
		g_free(*to);
		*to = g_build_filename("lost+found", name, NULL);
		char *dst = g_build_filename(lf, name, NULL);
		rc = renameat2(AT_FDCWD, path, AT_FDCWD, dst, RENAME_NOREPLACE);
		int e = errno;
		g_free(dst);
		g_free(name);
		if (rc < 0 && e != EEXIST)
			break;
	}
out:
	g_free(lf);
	return rc;
}

static void quar_fsck_orphan(struct store *st, const char *dir, const struct quar_fsck_opts *o,
                             struct quar_fsck_report *r, const char *rel, const char *path, const char *base)
{
	char *to = NULL;
	/* the store is asked, not the rows read at the start: a row committed
	 * since then counts */
	int has = store_quar_path_kept(st, rel);
	if (has > 0) /* quarantined while fsck ran: not an orphan */
		return;
	if (has < 0)
		quar_fsck_add(r, "orphan", rel, NULL, false,
		              g_strdup_printf("no store row when read, the store not asked again: %s",
		                              store_error(st)));
	else if (!o->fix)
		quar_fsck_add(r, "orphan", rel, NULL, false, g_strdup("no store row"));
	else if (quar_fsck_lost(dir, path, base, &to) == 0)
		quar_fsck_add(r, "orphan", rel, NULL, true, g_strdup_printf("no store row: moved to %s", to));
	else
		quar_fsck_add(r, "orphan", rel, NULL, false,
		              g_strdup_printf("no store row; not moved: %s", g_strerror(errno)));
	g_free(to);
}

struct quar_fsck_walk {
	struct store *st;
	const char *dir;
	const struct quar_fsck_opts *o;
	struct quar_fsck_report *r;
	GHashTable *known;
	time_t now;
};

static void quar_fsck_entry(struct quar_fsck_walk *k, const char *rel, int depth);

static void quar_fsck_dir(struct quar_fsck_walk *k, const char *rel, int depth)
{
	char *path = g_build_filename(k->dir, rel, NULL);
	GDir *d = g_dir_open(path, 0, NULL);
	g_free(path);
	if (!d)
		return;
	const char *name;
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	while ((name = g_dir_read_name(d)))
		g_ptr_array_add(names, g_strdup(name)); /* the fix renames: read the directory first */
	g_dir_close(d);
	for (guint i = 0; i < names->len && !(k->o->stop && k->o->stop()); i++) {
		char *sub = g_build_filename(rel, (const char *)names->pdata[i], NULL);
		quar_fsck_entry(k, sub, depth + 1);
		g_free(sub);
	}
	g_ptr_array_free(names, TRUE);
}

static void quar_fsck_entry(struct quar_fsck_walk *k, const char *rel, int depth)
{
	struct stat sb;
	char *path = g_build_filename(k->dir, rel, NULL);
	char *base = g_path_get_basename(rel);
	if (lstat(path, &sb) < 0)
		goto out;
	if (S_ISDIR(sb.st_mode)) {
		if (depth < QUAR_FSCK_DEPTH)
			quar_fsck_dir(k, rel, depth);
		goto out;
	}
	k->r->files++;
	if (g_hash_table_contains(k->known, rel))
		goto out;
	/* a write in progress: its temp file, or the file renamed into place
	 * before its row is committed (and the row read before the walk) */
	if (sb.st_mtime > k->now - QUAR_FSCK_YOUNG)
		goto out;
	quar_fsck_orphan(k->st, k->dir, k->o, k->r, rel, path, base);
out:
	g_free(base);
	g_free(path);
}

int quar_fsck(struct store *st, const char *dir, const struct quar_fsck_opts *o, struct quar_fsck_report *r,
              char **err)
{
	memset(r, 0, sizeof(*r));
	r->problems = g_ptr_array_new_with_free_func(quar_fsck_problem_free);
	/* before the rows: a file younger than this is no orphan, however long the hashing takes */
	time_t now = time(NULL);
	GPtrArray *rows = quar_fsck_load(st, err);
	if (!rows)
		return -1;
	GHashTable *known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; i < rows->len && !(o->stop && o->stop()); i++)
		quar_fsck_row(st, dir, o, r, rows->pdata[i], known);
	g_ptr_array_free(rows, TRUE);
	struct quar_fsck_walk k = {.st = st, .dir = dir, .o = o, .r = r, .known = known, .now = now};
	for (int i = 0; quar_fsck_cats[i] && !(o->stop && o->stop()); i++)
		quar_fsck_entry(&k, quar_fsck_cats[i], 1);
	r->abandoned = o->stop && o->stop();
	g_hash_table_destroy(known);
	return 0;
}
