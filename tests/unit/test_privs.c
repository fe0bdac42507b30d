/*
 * test_privs - scand's privilege drop (scand/privs.c), for real
 *
 * Each case forks: the child runs privs_prepare()/privs_drop() as root
 * (the tests run as root) with a config in a fresh directory and reports
 * what it is afterwards (uid, gid, groups, root directory, umask, TMPDIR,
 * whether root comes back) through a pipe; the parent checks the report.
 * Uses the system's nobody/nogroup, which every Debian machine has.
 *
 * The db directory belongs to the daemon user, who may plant links there
 * or swap a name between root's look and root's chown: this binary is
 * linked with --wrap=lstat,fstat (Makefile) so that a test can play that
 * user and swap the name right after privs looked at it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "privs.h"
#include "test_util.h"

/* The race: when privs_drop() has looked at <swap_path> (by name or by
 * descriptor), the file is moved aside and the name becomes a symlink to
 * <swap_to>, as the daemon user could do at that moment. */
static const char *swap_path, *swap_to;

int __real_lstat(const char *path, struct stat *st);
int __real_fstat(int fd, struct stat *st);
int __wrap_lstat(const char *path, struct stat *st);
int __wrap_fstat(int fd, struct stat *st);

static void swap_if(const char *path)
{
	if (!swap_path || strcmp(path, swap_path) != 0)
		return;
	char *aside = g_strconcat(swap_path, ".aside", NULL);
	if (rename(swap_path, aside) != 0 || symlink(swap_to, swap_path) != 0)
		_exit(5);
	g_free(aside);
	swap_path = NULL; /* once */
}

int __wrap_lstat(const char *path, struct stat *st)
{
	int rc = __real_lstat(path, st);
	swap_if(path);
	return rc;
}

int __wrap_fstat(int fd, struct stat *st)
{
	int rc = __real_fstat(fd, st);
	char link[64], path[4096];
	g_snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n > 0) {
		path[n] = '\0';
		swap_if(path);
	}
	return rc;
}

/* Run privs in a child with the [scand] lines given; return its report. */
static char *privs_child(const char *dir, const char *scand_lines, bool as_nobody)
{
	int fd[2];
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		char *text = g_strdup_printf("[scand]\nwork_dir = %s/work\ndatabase = %s/db/s.db\n%s\n", dir,
		                             dir, scand_lines);
		char *err = NULL;
		struct conf *c = conf_load_text("test.conf", text, strlen(text), &err);
		GString *out = g_string_new("");
		if (!c) {
			g_string_append_printf(out, "conf: %s", err);
		} else {
			if (as_nobody && setuid(getpwnam("nobody")->pw_uid) != 0)
				_exit(3);
			uid_t target = (uid_t)-1;
			gid_t tgid = (gid_t)-1;
			if (privs_prepare(c, &err) == 0)
				privs_target(c, &target, &tgid);
			if (err || privs_drop(c, &err) < 0) {
				g_string_append_printf(out, "error: %s", err);
			} else {
				mode_t m = umask(0);
				gid_t groups[8];
				int ng = getgroups(8, groups);
				g_string_append_printf(
				    out,
				    "uid=%u gid=%u groups=%d:%u umask=%03o marker=%d tmpdir=%s "
				    "back=%d chrooted=%d target=%d summary=%s",
				    (unsigned)getuid(), (unsigned)getgid(), ng,
				    ng > 0 ? (unsigned)groups[0] : 0u, (unsigned)m,
				    access("/marker", F_OK) == 0, g_getenv("TMPDIR"),
				    setuid(0) == 0 || seteuid(0) == 0, privs_chrooted(), (int)target,
				    privs_summary());
			}
		}
		if (write(fd[1], out->str, out->len) < 0)
			_exit(4);
		_exit(0);
	}
	close(fd[1]);
	GString *buf = g_string_new("");
	char b[512];
	ssize_t n;
	while ((n = read(fd[0], b, sizeof b)) > 0)
		g_string_append_len(buf, b, n);
	close(fd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return g_string_free(buf, FALSE);
}

static char *make_dir(void)
{
	char *dir = tu_tmpdir("gh-privs-XXXXXX");
	g_chmod(dir, 0755);
	char *p = g_build_filename(dir, "db", NULL);
	g_mkdir(p, 0755);
	g_free(p);
	p = g_build_filename(dir, "db", "s.db", NULL);
	assert_true(g_file_set_contents(p, "", 0, NULL)); /* root's, as a fresh store would be */
	g_free(p);
	p = g_build_filename(dir, "marker", NULL);
	assert_true(g_file_set_contents(p, "", 0, NULL));
	g_free(p);
	return dir;
}

static void rm_dir(char *dir)
{
	tu_rmtree(dir);
	g_free(dir);
}

static void test_drop_with_chroot(void **state)
{
	(void)state;
	char *dir = make_dir();
	char *lines = g_strdup_printf("chroot = %s\nuser = nobody\ngroup = nogroup", dir);
	char *got = privs_child(dir, lines, false);
	unsigned uid = getpwnam("nobody")->pw_uid, gid = getgrnam("nogroup")->gr_gid;
	char *want = g_strdup_printf("uid=%u gid=%u groups=1:%u umask=077 marker=1 tmpdir=%s/work back=0 "
	                             "chrooted=1 target=%u summary=chroot %s, uid nobody",
	                             uid, gid, gid, dir, uid, dir);
	assert_string_equal(got, want);
	/* the store file root created is the daemon's now */
	char *db = g_build_filename(dir, "db", "s.db", NULL);
	struct stat st;
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_uid, uid);
	g_free(db);
	g_free(want);
	g_free(got);
	g_free(lines);
	rm_dir(dir);
}

/* The child's report for scand_lines (run as root) contains has, and also
 * and_has unless it is NULL. */
static void expect_child_has(const char *dir, const char *scand_lines, const char *has, const char *and_has)
{
	char *got = privs_child(dir, scand_lines, false);
	assert_non_null(strstr(got, has));
	if (and_has)
		assert_non_null(strstr(got, and_has));
	g_free(got);
}

/* The child's report for scand_lines (run as root) is want. */
static void expect_child_is(const char *dir, const char *scand_lines, const char *want)
{
	char *got = privs_child(dir, scand_lines, false);
	assert_string_equal(got, want);
	g_free(got);
}

static void test_drop_without_chroot(void **state)
{
	(void)state;
	char *dir = make_dir();
	expect_child_has(dir, "user = nobody\ngroup = nogroup", "marker=0",
	                 "back=0 chrooted=0 target=65534 summary=no chroot, uid nobody");
	rm_dir(dir);
}

static void test_allow_root_keeps_root(void **state)
{
	(void)state;
	char *dir = make_dir();
	expect_child_has(dir, "allow_root = yes", "uid=0 gid=0 ", "chrooted=0 target=-1 summary=no chroot, uid root");
	/* staying root needs no daemon user: a fresh machine has none yet */
	expect_child_has(dir, "allow_root = yes\nuser = no-such-user-gh\ngroup = no-such-group-gh",
	                 "summary=no chroot, uid root", NULL);
	rm_dir(dir);
}

static void test_refuses_root_user(void **state)
{
	(void)state;
	char *dir = make_dir();
	expect_child_is(dir, "user = root\ngroup = root",
	                "error: [scand] user root is root: refusing to run as root (allow_root = no)");
	expect_child_is(dir, "user = no-such-user-gh", "error: unknown user no-such-user-gh ([scand] user)");
	rm_dir(dir);
}

static uid_t owner(const char *dir, const char *name)
{
	char *p = g_build_filename(dir, name, NULL);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	g_free(p);
	return st.st_uid;
}

/* Root hands the store to the daemon user in a directory that user owns:
 * a -wal that is a hard link to a root file elsewhere, a -shm that is a
 * symlink to one, and a -journal swapped for a symlink right after privs
 * looked at it leave every file outside the db directory root's. */
static void test_chown_store_touches_nothing_outside(void **state)
{
	(void)state;
	char *dir = make_dir();
	const char *outside[] = {"outside-wal", "outside-shm", "outside-journal"};
	for (size_t i = 0; i < G_N_ELEMENTS(outside); i++) {
		char *p = g_build_filename(dir, outside[i], NULL);
		assert_true(g_file_set_contents(p, "root's\n", -1, NULL));
		g_free(p);
	}
	char *o = g_build_filename(dir, "outside-wal", NULL),
	     *l = g_build_filename(dir, "db", "s.db-wal", NULL);
	assert_int_equal(link(o, l), 0);
	g_free(o), g_free(l);
	o = g_build_filename(dir, "outside-shm", NULL), l = g_build_filename(dir, "db", "s.db-shm", NULL);
	assert_int_equal(symlink(o, l), 0);
	g_free(o), g_free(l);
	char *journal = g_build_filename(dir, "db", "s.db-journal", NULL);
	assert_true(g_file_set_contents(journal, "", 0, NULL));
	char *to = g_build_filename(dir, "outside-journal", NULL);
	swap_path = journal;
	swap_to = to;
	char *got = privs_child(dir, "user = nobody\ngroup = nogroup", false);
	swap_path = NULL;
	assert_non_null(strstr(got, "summary=no chroot, uid nobody"));
	uid_t nobody = getpwnam("nobody")->pw_uid;
	assert_int_equal(owner(dir, "db/s.db"), nobody);
	GString *owners = g_string_new("");
	for (size_t i = 0; i < G_N_ELEMENTS(outside); i++)
		g_string_append_printf(owners, "%s uid %u; ", outside[i], (unsigned)owner(dir, outside[i]));
	assert_string_equal(owners->str, "outside-wal uid 0; outside-shm uid 0; outside-journal uid 0; ");
	g_string_free(owners, TRUE);
	assert_int_equal(owner(dir, "db/s.db-journal.aside"), nobody); /* the store's own file */
	g_free(got);
	g_free(to);
	g_free(journal);
	rm_dir(dir);
}

static void test_chroot_needs_root(void **state)
{
	(void)state;
	char *dir = make_dir();
	char *lines = g_strdup_printf("chroot = %s", dir);
	char *got = privs_child(dir, lines, true);
	char *want = g_strdup_printf("error: [scand] chroot %s needs scand to start as root", dir);
	assert_string_equal(got, want);
	g_free(want);
	g_free(got);
	g_free(lines);
	rm_dir(dir);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("test_privs: needs root (chroot, setuid); the tests run as root\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_drop_with_chroot),
	    cmocka_unit_test(test_drop_without_chroot),
	    cmocka_unit_test(test_allow_root_keeps_root),
	    cmocka_unit_test(test_refuses_root_user),
	    cmocka_unit_test(test_chroot_needs_root),
	    cmocka_unit_test(test_chown_store_touches_nothing_outside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
