/*
 * privs - a daemon gives up root (scand, scand-web): umask, chroot, user and group
 *
 *  privs_prepare(conf, &err)  first thing in main, as whoever started
 *        scand: umask 077, TMPDIR = [scand] work_dir (libclamav and SQLite
 *        put their temporary files there, inside the jail), and the user
 *        and group looked up while /etc/passwd is still reachable.
 *  privs_drop(conf, &err)  after the listeners are bound, the signatures
 *        loaded and the store and templates opened: hands the store files
 *        to the user, chroot()s to [scand] chroot when set, then
 *        setgroups/setgid/setuid to [scand] user/group and checks that
 *        root cannot be regained. Started as root with allow_root = yes it
 *        stays root (chroot still applies); started as a user it changes
 *        nothing (a chroot then is an error).
 *  privs_target(conf, &uid, &gid)  the ids privs_drop() will switch to;
 *        left alone when it will not switch (not root, allow_root = yes).
 *        For directories the daemon must own (the spool).
 *  privs_chrooted()  whether privs_drop() changed the root: paths outside
 *        the jail (the configuration file, /dev/log) are gone.
 *  privs_summary()  "chroot DIR, uid NAME" for the one start line.
 *  privs_pidfile(path)  the pid file of a daemon that went to the background.
 *
 * Failures return -1 with *err set (g_free); the caller exits. A drop that
 * leaves a way back to root is a bug: msg_panic.
 */
#ifndef GH_PRIVS_H
#define GH_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

struct conf;

int privs_prepare(const struct conf *c, char **err);
int privs_drop(const struct conf *c, char **err);
void privs_target(const struct conf *c, uid_t *uid, gid_t *gid);
bool privs_chrooted(void);
const char *privs_summary(void);
/* Writes the daemon's pid to path ("" for none), after daemon(); a
 * failure is fatal (msg_fatal). */
void privs_pidfile(const char *path);

#endif
