/*
 * privs - a daemon gives up root (scand, scand-web): umask, chroot, user and group
 *
 * See privs.h. The order matters: the user and group are resolved in
 * privs_prepare() because after chroot() there is no /etc/passwd; the
 * store files (a SQLite store's; a PostgreSQL store has none) are chowned
 * before the chroot because their paths are outside it (by descriptor,
 * never following a link: see privs_chown_store()); setgroups() and setgid() come before setuid() because
 * afterwards the process may no longer change them. Errors name the call
 * and the object (user, directory) and leave *err for the caller.
 */
#include "privs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <glib.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "store.h"

/* What privs_prepare() found; read by privs_drop() and privs_summary(). */
static struct {
	bool prepared;
	bool chrooted;
	uid_t uid;
	gid_t gid;
	char user[64];
	char summary[512];
} privs_state;

static int privs_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int privs_fail(char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*err = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	return -1;
}

int privs_prepare(const struct conf *c, char **err)
{
	const char *user = conf_str(c, "scand", "user");
	const char *group = conf_str(c, "scand", "group");
	const char *work = conf_str(c, "scand", "work_dir");

	umask(077);
	/* libclamav (cli_gettmpdir) and SQLite read TMPDIR on every temporary
	 * file: point both at the spool, which is inside the jail. */
	if (*work && setenv("TMPDIR", work, 1) != 0)
		return privs_fail(err, "setenv TMPDIR: %s", g_strerror(errno));
	privs_state.prepared = true;
	privs_state.uid = geteuid();
	privs_state.gid = getegid();
	g_strlcpy(privs_state.user, "root", sizeof privs_state.user);
	/* With allow_root = yes scand keeps root and never switches to
	 * [scand] user, so that user need not exist (make run, tests). */
	if (geteuid() != 0 || conf_bool(c, "scand", "allow_root"))
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw)
		return privs_fail(err, "unknown user %s ([scand] user)", user);
	struct group *gr = getgrnam(group);
	if (!gr)
		return privs_fail(err, "unknown group %s ([scand] group)", group);
	privs_state.uid = pw->pw_uid;
	privs_state.gid = gr->gr_gid;
	g_strlcpy(privs_state.user, user, sizeof privs_state.user);
	return 0;
}

/* The store was opened as root; a file it created (or its -wal/-shm)
 * would be root's and unwritable after the drop. The db directory is the
 * daemon user's: it may hold a symlink or a hard link to a file of root's
 * under one of these names, or swap a name between a look and a chown. So
 * each name is opened without following a link and only what was opened
 * is looked at and re-owned: a regular file with one link, owned by root.
 * O_PATH, not a real open: closing a real descriptor of the store would
 * drop the POSIX locks the open store connections hold on it (SQLite's
 * WAL index would then be deleted under them by the next one to close). */
static int privs_chown_store(const char *db, char **err)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < G_N_ELEMENTS(suffix); i++) {
		char *p = g_strconcat(db, suffix[i], NULL);
		int rc = 0;
		int fd = open(p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
		    st.st_uid == 0 && fchownat(fd, "", privs_state.uid, privs_state.gid, AT_EMPTY_PATH) != 0)
			rc = privs_fail(err, "chown %s: %s", p, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		g_free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int privs_chroot(const char *dir, char **err)
{
	if (chroot(dir) != 0)
		return privs_fail(err, "chroot %s: %s", dir, g_strerror(errno));
	if (chdir("/") != 0)
		return privs_fail(err, "chdir / in %s: %s", dir, g_strerror(errno));
	return 0;
}

static int privs_setids(char **err)
{
	gid_t gid = privs_state.gid;
	if (setgroups(1, &gid) != 0)
		return privs_fail(err, "setgroups: %s", g_strerror(errno));
	if (setresgid(gid, gid, gid) != 0)
		return privs_fail(err, "setgid %u: %s", (unsigned)gid, g_strerror(errno));
	if (setresuid(privs_state.uid, privs_state.uid, privs_state.uid) != 0)
		return privs_fail(err, "setuid %s: %s", privs_state.user, g_strerror(errno));
	/* for good: neither id may come back */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		msg_panic("privs: regained root after dropping to %s", privs_state.user);
	uid_t r, e, s;
	if (getresuid(&r, &e, &s) != 0 || r != privs_state.uid || e != privs_state.uid ||
	    s != privs_state.uid)
		msg_panic("privs: uid not dropped everywhere");
	return 0;
}

int privs_drop(const struct conf *c, char **err)
{
	const char *jail = conf_str(c, "scand", "chroot");
	bool allow_root = conf_bool(c, "scand", "allow_root");
	bool root = geteuid() == 0;

	if (!privs_state.prepared)
		msg_panic("privs_drop before privs_prepare");
	if (!root) {
		if (*jail)
			return privs_fail(err, "[scand] chroot %s needs scand to start as root", jail);
		struct passwd *me = getpwuid(geteuid());
		g_snprintf(privs_state.summary, sizeof privs_state.summary, "no chroot, uid %s",
		           me ? me->pw_name : "?");
		return 0;
	}
	bool drop = !allow_root;
	if (drop && privs_state.uid == 0)
		return privs_fail(err, "[scand] user %s is root: refusing to run as root (allow_root = no)",
		                  privs_state.user);
	const char *db_file = store_file(conf_str(c, "scand", "database")); /* NULL: no file (PostgreSQL) */
	if (drop && db_file && privs_chown_store(db_file, err) < 0)
		return -1;
	if (*jail && privs_chroot(jail, err) < 0)
		return -1;
	privs_state.chrooted = *jail != '\0';
	if (drop && privs_setids(err) < 0)
		return -1;
	if (!drop)
		msg_warn("running as root (allow_root = yes): not recommended");
	g_snprintf(privs_state.summary, sizeof privs_state.summary, "%s%s, uid %s",
	           *jail ? "chroot " : "no chroot", jail, drop ? privs_state.user : "root");
	return 0;
}

void privs_target(const struct conf *c, uid_t *uid, gid_t *gid)
{
	if (!privs_state.prepared)
		msg_panic("privs_target before privs_prepare");
	if (geteuid() != 0 || conf_bool(c, "scand", "allow_root"))
		return;
	*uid = privs_state.uid;
	*gid = privs_state.gid;
}

bool privs_chrooted(void)
{
	return privs_state.chrooted;
}

const char *privs_summary(void)
{
	return privs_state.summary[0] ? privs_state.summary : "no chroot, privileges unchanged";
}

void privs_pidfile(const char *path)
{
	if (!*path)
		return;
	char *s = g_strdup_printf("%d\n", (int)getpid());
	GError *e = NULL;
	if (!g_file_set_contents(path, s, -1, &e))
		msg_fatal("pid file %s: %s", path, e->message);
	g_free(s);
}
