/*
 * test_quar - the quarantine tree (common/quar.c) on a real temporary directory
 *
 * Round trips plain and gzip, modes 0600/0700, the hash check (a changed
 * byte is refused), unsafe paths refused before any file is touched,
 * no overwrite of an existing file, removal. quar_fsck (common/quar_fsck.c)
 * with fix, against a real store, while messages are quarantined during
 * its hash phase: none of their files is moved to lost+found.
 * quar_message_read(), the one reader of quarantined bytes, on a file copy
 * and on a database copy (quar_pack + store_put, schema/009): the bytes
 * come back, a swapped blob is EBADMSG, a dropped one ENOENT, and
 * quar_fsck reports both (mismatch, missing) without any file in the tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailid.h"
#include "quar.h"
#include "quar_fsck.h"
#include "store.h"
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char tq_msg[] = "From: a@example.com\r\nSubject: hi\r\n\r\nbody line\r\n";

static int tq_setup(void **state)
{
	*state = g_dir_make_tmp("test_quar.XXXXXX", NULL);
	return *state ? 0 : -1;
}

static void tq_rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	if (d) {
		const char *n;
		while ((n = g_dir_read_name(d))) {
			char *p = g_build_filename(path, n, NULL);
			tq_rm_rf(p);
			g_free(p);
		}
		g_dir_close(d);
		g_rmdir(path);
	} else {
		g_unlink(path);
	}
}

static int tq_teardown(void **state)
{
	tq_rm_rf(*state);
	g_free(*state);
	return 0;
}

static void test_relpath(void **state)
{
	(void)state;
	char *p = quar_relpath("virus", 1795271793, "Xq3bV9kK2mPa", false); /* 2026-11-21 14:36:33 UTC */
	assert_string_equal(p, "virus/2026/11/21/virus-20261121-143633-Xq3bV9kK2mPa");
	assert_true(quar_relpath_safe(p));
	g_free(p);
	p = quar_relpath("spam", 1795271793, "Xq3bV9kK2mPa", true);
	assert_string_equal(p, "spam/2026/11/21/spam-20261121-143633-Xq3bV9kK2mPa.gz");
	g_free(p);
	assert_null(quar_relpath("clean", 0, "Xq3bV9kK2mPa", false));
	assert_null(quar_relpath("virus", 0, "bad/id", false));
}

static void test_unsafe_paths(void **state)
{
	const char *bad[] = {
	    "/etc/passwd",
	    "virus/../../../etc/passwd-Xq3bV9kK2mPa",
	    "virus/2026/../11/x-Xq3bV9kK2mPa",
	    "virus//x-Xq3bV9kK2mPa",
	    "virus/2026/11/21/virus-short",
	    "virus/2026/11/21/virus-20261121-143633-Xq3bV9kK2m.P",
	    "virus/2026/11/21/virus-20261121-143633-Xq3bV9kK2m\nP",
	    "etc/2026/11/21/virus-20261121-143633-Xq3bV9kK2mPa",
	    "virus-20261121-143633-Xq3bV9kK2mPa",
	    "",
	    NULL,
	};
	int64_t size;
	char hex[65];
	void *data;
	size_t len;

	for (int i = 0; bad[i]; i++) {
		char *err = NULL;
		assert_false(quar_relpath_safe(bad[i]));
		assert_int_equal(quar_write(*state, bad[i], "x", 1, false, &size, hex, &err), -1);
		assert_non_null(strstr(err, "unsafe"));
		g_free(err);
		err = NULL;
		assert_int_equal(quar_read(*state, bad[i], NULL, &data, &len, &err), -1);
		assert_non_null(strstr(err, "unsafe"));
		g_free(err);
		err = NULL;
		assert_int_equal(quar_remove(*state, bad[i], &err), -1);
		g_free(err);
	}
	assert_false(quar_relpath_safe(NULL));
	/* nothing was created outside (or inside) the tree */
	GDir *d = g_dir_open(*state, 0, NULL);
	assert_null(g_dir_read_name(d));
	g_dir_close(d);
}

static void tq_roundtrip(const char *dir, bool gz)
{
	char id[MAILID_LEN + 1], hex[65], *err = NULL;
	int64_t size = 0;
	void *data = NULL;
	size_t len = 0;
	struct stat sb;

	mailid_new(id);
	char *rel = quar_relpath("virus", time(NULL), id, gz);
	assert_int_equal(quar_write(dir, rel, tq_msg, strlen(tq_msg), gz, &size, hex, &err), 0);
	assert_int_equal(strlen(hex), 64);

	char *path = g_build_filename(dir, rel, NULL);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, size);
	char *dpath = g_path_get_dirname(path);
	assert_int_equal(stat(dpath, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);

	/* the hash is of the message as given, before compression (schema/009) */
	gchar *raw;
	gsize rawlen;
	assert_true(g_file_get_contents(path, &raw, &rawlen, NULL));
	char *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)tq_msg, strlen(tq_msg));
	assert_string_equal(want, hex);
	/* a row written before schema/009 has the hash of the file: still read */
	char *file_hash = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)raw, rawlen);
	if (gz)
		assert_true((guchar)raw[0] == 0x1f && (guchar)raw[1] == 0x8b);
	g_free(want);
	g_free(raw);

	assert_int_equal(quar_read(dir, rel, hex, &data, &len, &err), 0);
	assert_int_equal(len, strlen(tq_msg));
	assert_memory_equal(data, tq_msg, len);
	g_free(data);
	assert_int_equal(quar_read(dir, rel, file_hash, &data, &len, &err), 0);
	assert_memory_equal(data, tq_msg, len);
	g_free(data);
	g_free(file_hash);

	/* same name twice: refused, the first file stays */
	assert_int_equal(quar_write(dir, rel, "other", 5, gz, &size, hex, &err), -1);
	assert_int_equal(errno, EEXIST);
	g_free(err);
	err = NULL;

	assert_int_equal(quar_remove(dir, rel, &err), 0);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(quar_remove(dir, rel, &err), -1);
	assert_int_equal(errno, ENOENT);
	g_free(err);
	g_free(dpath);
	g_free(path);
	g_free(rel);
}

static void test_roundtrip_plain(void **state)
{
	tq_roundtrip(*state, false);
}

static void test_roundtrip_gzip(void **state)
{
	tq_roundtrip(*state, true);
}

static void test_hash_mismatch(void **state)
{
	char id[MAILID_LEN + 1], hex[65], *err = NULL;
	int64_t size;
	void *data = NULL;
	size_t len;

	mailid_new(id);
	char *rel = quar_relpath("spam", time(NULL), id, false);
	assert_int_equal(quar_write(*state, rel, tq_msg, strlen(tq_msg), false, &size, hex, &err), 0);
	/* tamper with one byte of the stored file */
	char *path = g_build_filename(*state, rel, NULL);
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	fseek(f, 10, SEEK_SET);
	fputc('X', f);
	fclose(f);
	assert_int_equal(quar_read(*state, rel, hex, &data, &len, &err), -1);
	assert_null(data);
	assert_non_null(strstr(err, "SHA-256 mismatch"));
	g_free(err);
	err = NULL;
	/* without an expected hash the bytes are returned as they are */
	assert_int_equal(quar_read(*state, rel, NULL, &data, &len, &err), 0);
	g_free(data);
	g_free(path);
	g_free(rel);
}

static void test_mismatched_suffix(void **state)
{
	char hex[65], *err = NULL;
	int64_t size;
	assert_int_equal(quar_write(*state, "virus/2026/11/21/virus-20261121-143633-Xq3bV9kK2mPa", "x", 1,
	                            true, &size, hex, &err),
	                 -1);
	g_free(err);
}

/* One quarantined message: its file (mtime set to mtime) and, with row, its
 * store row. Returns the relative path (g_free). */
static char *tq_quarantine(struct store *st, const char *dir, time_t mtime, bool row)
{
	char id[MAILID_LEN + 1], hex[65], *err = NULL;
	int64_t size;
	mailid_new(id);
	char *rel = quar_relpath("virus", mtime, id, false);
	assert_int_equal(quar_write(dir, rel, tq_msg, strlen(tq_msg), false, &size, hex, &err), 0);
	char *path = g_build_filename(dir, rel, NULL);
	struct timespec ts[2] = {{.tv_sec = mtime, .tv_nsec = 0}, {.tv_sec = mtime, .tv_nsec = 0}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	g_free(path);
	if (row) {
		struct store_rcpt r = {
		    .addr = "bob@example.com", .destiny = "discard", .smtp_answer = "250 2.7.0 Ok"};
		struct store_msg m = {.time = mtime,
		                      .sender = "a@example.com",
		                      .category = "virus",
		                      .quar_path = rel,
		                      .quar_size = size,
		                      .quar_sha256 = hex,
		                      .quar_state = "quarantined",
		                      .nrcpt = 1,
		                      .rcpt = &r};
		g_strlcpy(m.mail_id, id, sizeof m.mail_id);
		assert_int_equal(store_put(st, &m, NULL, 0), 0);
	}
	return rel;
}

/* What the fsck hook does while fsck hashes the rows it loaded. */
static struct {
	struct store *st;
	const char *dir;
	time_t t0; /* time(NULL) just before quar_fsck() */
	int calls;
	char *late_row, *slow_commit;
} tq_hook;

/* quar_fsck polls stop() before each row it hashes: the first call is in
 * the hash phase. It stands for a slow phase (a big tree): two seconds
 * pass, and meanwhile scand quarantines:
 *  - late_row: the file was written 58 s before fsck started and its row
 *    is committed only after the walk (a commit waiting for the lock):
 *    it is younger than a minute at the start of fsck, so it may be a
 *    write in progress, not an orphan (the time is taken before the rows
 *    are read, not after the hashing);
 *  - slow_commit: a file an hour old whose row is committed now, after
 *    fsck read the rows: the store is asked again before a move. */
static bool tq_hook_stop(void)
{
	if (tq_hook.calls++ == 0) {
		tq_hook.slow_commit = tq_quarantine(tq_hook.st, tq_hook.dir, tq_hook.t0 - 3600, true);
		g_usleep(2200 * 1000);
	}
	return false;
}

static void test_fsck_fix_spares_files_quarantined_meanwhile(void **state)
{
	const char *dir = *state;
	char *db = g_build_filename(dir, "fsck.db", NULL), *err = NULL;
	struct store *st;
	assert_int_equal(store_open(db, 5000, &st, &err), 0);
	char *kept = tq_quarantine(st, dir, time(NULL) - 7200, true);
	char *orphan = tq_quarantine(st, dir, time(NULL) - 7200, false);
	memset(&tq_hook, 0, sizeof tq_hook);
	tq_hook.st = st;
	tq_hook.dir = dir;
	tq_hook.t0 = time(NULL);
	tq_hook.late_row = tq_quarantine(st, dir, tq_hook.t0 - 58, false);

	struct quar_fsck_opts o = {.fix = true, .who = "test", .stop = tq_hook_stop};
	struct quar_fsck_report r;
	assert_int_equal(quar_fsck(st, dir, &o, &r, &err), 0);
	assert_true(tq_hook.calls > 0);
	GString *moved = g_string_new("");
	for (guint i = 0; i < r.problems->len; i++) {
		const struct quar_fsck_problem *p = r.problems->pdata[i];
		g_string_append_printf(moved, "%s %s %d;", p->kind, p->relpath, p->fixed);
	}
	char *want = g_strdup_printf("orphan %s 1;", orphan);
	assert_string_equal(moved->str, want); /* only the real orphan */
	const char *stay[] = {kept, tq_hook.late_row, tq_hook.slow_commit};
	for (size_t i = 0; i < G_N_ELEMENTS(stay); i++) {
		char *p = g_build_filename(dir, stay[i], NULL);
		if (!g_file_test(p, G_FILE_TEST_IS_REGULAR))
			fail_msg("%s was moved", stay[i]);
		g_free(p);
	}
	char *lf = g_build_filename(dir, "lost+found", NULL);
	GDir *d = g_dir_open(lf, 0, NULL);
	assert_non_null(d);
	char *base = g_path_get_basename(orphan);
	assert_string_equal(g_dir_read_name(d), base);
	assert_null(g_dir_read_name(d));
	g_dir_close(d);

	g_free(base);
	g_free(lf);
	g_free(want);
	g_string_free(moved, TRUE);
	quar_fsck_report_free(&r);
	store_close(st);
	g_free(tq_hook.late_row);
	g_free(tq_hook.slow_commit);
	g_free(kept);
	g_free(orphan);
	g_free(db);
}


/* A verdict row whose copy is a blob in the store (quarantine_backend =
 * database); its mail id in id. */
static void tq_put_db(struct store *st, const char *msg, char id[MAILID_LEN + 1], char hex[65])
{
	void *blob = NULL;
	size_t bloblen = 0;
	char *err = NULL;
	assert_int_equal(quar_pack(msg, strlen(msg), &blob, &bloblen, hex, &err), 0);
	assert_true(bloblen > 2 && ((guchar *)blob)[0] == 0x1f && ((guchar *)blob)[1] == 0x8b);
	char *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)msg, strlen(msg));
	assert_string_equal(hex, want); /* of the message, not of the gzip */
	g_free(want);
	mailid_new(id);
	struct store_rcpt r = {.addr = "bob@example.com", .destiny = "discard", .smtp_answer = "250 2.7.0 Ok"};
	char *rel = quar_relpath("virus", time(NULL), id, true);
	struct store_msg m = {.time = time(NULL),
	                      .sender = "a@example.com",
	                      .category = "virus",
	                      .quar_path = rel,
	                      .quar_size = (int64_t)bloblen,
	                      .quar_sha256 = hex,
	                      .quar_state = "quarantined",
	                      .quar_backend = "database",
	                      .quar_blob = blob,
	                      .quar_blob_len = bloblen,
	                      .nrcpt = 1,
	                      .rcpt = &r};
	g_strlcpy(m.mail_id, id, MAILID_LEN + 1);
	assert_int_equal(store_put(st, &m, NULL, 0), 0);
	g_free(rel);
	g_free(blob);
}

/* quar_message_read of mail_id: its return, errno, and the bytes (g_free). */
static int tq_read(struct store *st, const char *dir, const char *mail_id, bool check, void **data, size_t *len)
{
	struct store_msg *m = NULL;
	char *err = NULL;
	assert_int_equal(store_get(st, mail_id, &m), 0);
	*data = NULL;
	int rc = quar_message_read(st, dir, m, check, data, len, &err);
	int e = errno;
	g_free(err);
	store_msg_free(m);
	errno = e;
	return rc;
}

static void test_message_read_both_backends(void **state)
{
	const char *dir = *state;
	static const char other[] = "From: b@example.com\r\nSubject: other\r\n\r\nanother body\r\n";
	char *db = g_build_filename(dir, "blob.db", NULL), *err = NULL;
	char id1[MAILID_LEN + 1], id2[MAILID_LEN + 1], hex1[65], hex2[65];
	struct store *st;
	void *data;
	size_t len;

	assert_int_equal(store_open(db, 5000, &st, &err), 0);
	char *filed = tq_quarantine(st, dir, time(NULL) - 7200, true); /* a file copy */
	tq_put_db(st, tq_msg, id1, hex1);
	tq_put_db(st, other, id2, hex2);
	char *virus = g_build_filename(dir, "virus", NULL);
	GDir *d = g_dir_open(virus, 0, NULL); /* only the file copy's year */
	assert_non_null(d);
	assert_non_null(g_dir_read_name(d));
	assert_null(g_dir_read_name(d));
	g_dir_close(d);

	struct store_msg *m = NULL;
	assert_int_equal(store_get(st, id1, &m), 0);
	assert_string_equal(m->quar_backend, "database");
	assert_string_equal(m->quar_sha256, hex1);
	store_msg_free(m);
	assert_int_equal(tq_read(st, dir, id1, true, &data, &len), 0);
	assert_int_equal(len, strlen(tq_msg));
	assert_memory_equal(data, tq_msg, len);
	g_free(data);
	char id0[MAILID_LEN + 1];
	g_strlcpy(id0, filed + strlen(filed) - MAILID_LEN, sizeof id0); /* "...-<id>": plain */
	assert_int_equal(tq_read(st, dir, id0, true, &data, &len), 0);
	assert_memory_equal(data, tq_msg, strlen(tq_msg));
	g_free(data);

	struct quar_fsck_opts o = {.fix = false};
	struct quar_fsck_report r;
	assert_int_equal(quar_fsck(st, dir, &o, &r, &err), 0);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.problems->len, 0);
	quar_fsck_report_free(&r);

	/* id1's blob becomes id2's (valid gzip, another message); id2's goes */
	sqlite3 *h = store_sqlite_db(st);
	assert_int_equal(sqlite3_exec(h,
	                              "UPDATE quar_blobs SET data = (SELECT data FROM quar_blobs ORDER BY msg DESC "
	                              "LIMIT 1) WHERE msg = (SELECT min(msg) FROM quar_blobs)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(tq_read(st, dir, id1, true, &data, &len), -1);
	assert_int_equal(errno, EBADMSG);
	assert_null(data);
	assert_int_equal(tq_read(st, dir, id1, false, &data, &len), 0); /* shown anyway, unchecked */
	assert_memory_equal(data, other, strlen(other));
	g_free(data);
	assert_int_equal(store_quar_blob_drop(st, id2), 0);
	assert_int_equal(store_quar_blob_drop(st, id2), 1);
	assert_int_equal(tq_read(st, dir, id2, true, &data, &len), -1);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(quar_fsck(st, dir, &o, &r, &err), 0);
	assert_int_equal(r.problems->len, 2);
	for (guint i = 0; i < r.problems->len; i++) {
		const struct quar_fsck_problem *p = r.problems->pdata[i];
		const char *want = strcmp(p->mail_id, id1) == 0 ? "mismatch" : "missing";
		assert_true(strcmp(p->mail_id, id1) == 0 || strcmp(p->mail_id, id2) == 0);
		assert_string_equal(p->kind, want);
	}
	quar_fsck_report_free(&r);
	store_close(st);
	g_free(virus);
	g_free(filed);
	g_free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relpath),
	    cmocka_unit_test_setup_teardown(test_unsafe_paths, tq_setup, tq_teardown),
	    cmocka_unit_test_setup_teardown(test_roundtrip_plain, tq_setup, tq_teardown),
	    cmocka_unit_test_setup_teardown(test_roundtrip_gzip, tq_setup, tq_teardown),
	    cmocka_unit_test_setup_teardown(test_hash_mismatch, tq_setup, tq_teardown),
	    cmocka_unit_test_setup_teardown(test_mismatched_suffix, tq_setup, tq_teardown),
	    cmocka_unit_test_setup_teardown(test_message_read_both_backends, tq_setup, tq_teardown),
	    cmocka_unit_test_setup_teardown(test_fsck_fix_spares_files_quarantined_meanwhile, tq_setup,
	                                    tq_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
