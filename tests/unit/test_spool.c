/*
 * test_spool - DATA spool: memory, then an unlinked 0600 file; the size
 * bound; leftovers removed at start, never through a link or a mount.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scand/spool.h"
#include "test_util.h"

static int count_files(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	int n = 0;
	while (d && g_dir_read_name(d))
		n++;
	if (d)
		g_dir_close(d);
	return n;
}

static void test_memory_then_file(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-spool-XXXXXX");
	struct spool *sp = spool_new(dir, 1000, 1 << 20);
	char *err = NULL;
	const unsigned char *data;
	size_t len;

	assert_int_equal(spool_write(sp, "hello ", 6, &err), 0);
	assert_int_equal(spool_write(sp, "world", 5, &err), 0);
	assert_false(spool_in_file(sp));
	assert_int_equal(spool_finish(sp, &data, &len, &err), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(data, "hello world", 11);
	spool_reset(sp);

	GString *big = g_string_new("");
	for (int i = 0; i < 50000; i++)
		g_string_append_printf(big, "line %d\r\n", i);
	for (size_t off = 0; off < big->len; off += 4000)
		assert_int_equal(spool_write(sp, big->str + off, MIN(4000, big->len - off), &err), 0);
	assert_true(spool_in_file(sp));
	assert_int_equal(count_files(dir), 0); /* the file has no name */
	assert_int_equal(spool_finish(sp, &data, &len, &err), 0);
	assert_int_equal(len, big->len);
	assert_memory_equal(data, big->str, len);
	spool_reset(sp);
	assert_false(spool_in_file(sp));
	g_string_free(big, TRUE);
	spool_free(sp);
	g_rmdir(dir);
	g_free(dir);
}

static void test_size_bound(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-spool-XXXXXX");
	struct spool *sp = spool_new(dir, 10, 20);
	char *err = NULL;
	assert_int_equal(spool_write(sp, "0123456789", 10, &err), 0);
	assert_int_equal(spool_write(sp, "0123456789", 10, &err), 0);
	assert_false(spool_over(sp));
	assert_int_equal(spool_write(sp, "x", 1, &err), 0);
	assert_true(spool_over(sp));
	assert_int_equal(spool_size(sp), 21);
	spool_free(sp);
	g_rmdir(dir);
	g_free(dir);
}

static void test_write_failure_and_cleanup(void **state)
{
	(void)state;
	char *err = NULL;
	struct spool *sp = spool_new("/nonexistent/gh-spool", 4, 100);
	assert_int_equal(spool_write(sp, "0123456789", 10, &err), -1);
	assert_non_null(err);
	g_free(err);
	spool_free(sp);

	char *dir = tu_tmpdir("gh-spool-XXXXXX");
	char *left = g_build_filename(dir, "scand-spool-abc123", NULL),
	     *other = g_build_filename(dir, "keep", NULL);
	g_file_set_contents(left, "x", 1, NULL);
	g_file_set_contents(other, "x", 1, NULL);
	assert_int_equal(spool_clean_dir(dir), 1);
	assert_false(g_file_test(left, G_FILE_TEST_EXISTS));
	assert_true(g_file_test(other, G_FILE_TEST_EXISTS));
	tu_rmtree(dir);
	g_free(left);
	g_free(other);
	g_free(dir);
}

/* libclamav's per-scan temp dirs, left by a killed scand, go too (with
 * what is inside); names that only look similar stay. */
static void test_cleanup_clamav_leftovers(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-spool-XXXXXX");
	char *scantemp = g_build_filename(dir, "20261121_132842-scantemp.e9678dae2d", NULL);
	char *inner = g_build_filename(scantemp, "20261121_132842-part.0a1b", NULL);
	char *file = g_build_filename(dir, "20261121_132843-clamav-abc", NULL);
	char *near = g_build_filename(dir, "2026112_1328420-x", NULL);
	g_mkdir(scantemp, 0700);
	g_file_set_contents(inner, "x", 1, NULL);
	g_file_set_contents(file, "x", 1, NULL);
	g_file_set_contents(near, "x", 1, NULL);
	assert_int_equal(spool_clean_dir(dir), 2);
	assert_false(g_file_test(scantemp, G_FILE_TEST_EXISTS));
	assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
	assert_true(g_file_test(near, G_FILE_TEST_EXISTS));
	tu_rmtree(dir);
	g_free(scantemp), g_free(inner), g_free(file), g_free(near), g_free(dir);
}

/* What the work directory's owner can plant leads nowhere: a leftover
 * that is a symlink to outside goes, its target stays; a leftover
 * directory with another file system mounted in it (a tmpfs here, root
 * only) is not entered, its files stay. */
static void test_cleanup_stays_in_the_tree(void **state)
{
	(void)state;
	char *dir = tu_tmpdir("gh-spool-XXXXXX"), *out = tu_tmpdir("gh-outside-XXXXXX");
	char *target = g_build_filename(out, "precious", NULL);
	assert_true(g_file_set_contents(target, "x", 1, NULL));
	char *link = g_build_filename(dir, "scand-spool-link", NULL);
	assert_int_equal(symlink(out, link), 0);
	char *scantemp = g_build_filename(dir, "20261121_132842-scantemp.mnt", NULL);
	assert_int_equal(g_mkdir(scantemp, 0700), 0);
	if (mount("tmpfs", scantemp, "tmpfs", 0, "size=64k") != 0)
		fail_msg("mount tmpfs on %s: %s (the unit tests run as root)", scantemp, g_strerror(errno));
	char *mounted = g_build_filename(scantemp, "other-fs", NULL);
	assert_true(g_file_set_contents(mounted, "x", 1, NULL));

	int n = spool_clean_dir(dir);
	bool kept = g_file_test(mounted, G_FILE_TEST_EXISTS);
	assert_int_equal(umount2(scantemp, MNT_DETACH), 0);
	assert_true(kept); /* another file system: not entered */
	assert_int_equal(n, 1);
	assert_false(g_file_test(link, G_FILE_TEST_IS_SYMLINK));
	assert_true(g_file_test(target, G_FILE_TEST_EXISTS));
	tu_rmtree(out);
	tu_rmtree(dir);
	g_free(mounted), g_free(scantemp), g_free(link), g_free(target), g_free(out), g_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_memory_then_file),          cmocka_unit_test(test_size_bound),
	    cmocka_unit_test(test_write_failure_and_cleanup), cmocka_unit_test(test_cleanup_clamav_leftovers),
	    cmocka_unit_test(test_cleanup_stays_in_the_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
