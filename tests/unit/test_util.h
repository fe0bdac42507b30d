/*
 * test_util - helpers shared by all unit tests (header only; GLib,
 * cmocka and common/: conf, store)
 *
 * tu_conf_at() writes a config file and loads it through the real
 * conf_load(); tu_store_open() opens a store or fails the test
 * (tu_store_fx_open/close: the same as a cmocka setup and teardown);
 * tu_tmpdir() makes a temporary directory, tu_rmtree() removes one with
 * everything below it; tu_tmp_db() names a store in a directory of its
 * own and tu_rm_db() removes that directory (the database, its -wal and
 * -shm). Failures abort the test through cmocka's assertions.
 */
#ifndef GH_TEST_UTIL_H
#define GH_TEST_UTIL_H

#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "conf.h"
#include "store.h"

#define TU_UNUSED __attribute__((unused))

/* A new directory from tmpl ("gh-x-XXXXXX") under $TMPDIR. */
static TU_UNUSED char *tu_tmpdir(const char *tmpl)
{
	char *d = g_dir_make_tmp(tmpl, NULL);
	assert_non_null(d);
	return d;
}

/* Removes dir and what is below it; symbolic links are removed, not
 * followed. */
static TU_UNUSED void tu_rmtree(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *n;
	if (!d)
		return;
	while ((n = g_dir_read_name(d))) {
		char *p = g_build_filename(dir, n, NULL);
		if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
			tu_rmtree(p);
		else
			g_unlink(p);
		g_free(p);
	}
	g_dir_close(d);
	g_rmdir(dir);
}

/* The path of a store, gatehouse.db in a new directory from tmpl. */
static TU_UNUSED char *tu_tmp_db(const char *tmpl)
{
	char *dir = tu_tmpdir(tmpl);
	char *path = g_build_filename(dir, "gatehouse.db", NULL);
	g_free(dir);
	return path;
}

/* Removes the directory of a tu_tmp_db() store and frees path. */
static TU_UNUSED void tu_rm_db(char *path)
{
	char *dir = g_path_get_dirname(path);
	tu_rmtree(dir);
	g_free(dir);
	g_free(path);
}

/* Writes text to path and loads it through the real conf_load(). */
static TU_UNUSED struct conf *tu_conf_at(const char *path, const char *text)
{
	char *err = NULL;
	assert_true(g_file_set_contents(path, text, -1, NULL));
	struct conf *c = conf_load(path, &err);
	if (!c)
		fail_msg("conf_load: %s", err);
	return c;
}

/* The store at path (busy_timeout_ms as store_open's); fails the test if
 * it does not open. */
static TU_UNUSED struct store *tu_store_open(const char *path, int busy_timeout_ms)
{
	struct store *st = NULL;
	char *err = NULL;
	if (store_open(path, busy_timeout_ms, &st, &err) < 0)
		fail_msg("store_open: %s", err);
	return st;
}

/* The cmocka fixture of store tests: a new store (struct tu_store_fx in
 * *state), closed and removed afterwards. */
struct tu_store_fx {
	char *path;
	struct store *st;
};

static TU_UNUSED int tu_store_fx_open(void **state)
{
	struct tu_store_fx *f = g_new0(struct tu_store_fx, 1);
	f->path = tu_tmp_db("gh-store-XXXXXX");
	f->st = tu_store_open(f->path, 10000);
	*state = f;
	return 0;
}

static TU_UNUSED int tu_store_fx_close(void **state)
{
	struct tu_store_fx *f = *state;
	store_close(f->st);
	tu_rm_db(f->path);
	g_free(f);
	return 0;
}

#endif
