/*
 * privs - scand gives up root: umask, chroot, user and group
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
 *  privs_summary()  "chroot DIR, uid NAME" for the one start line.
 *
 * Failures return -1 with *err set (g_free); the caller exits. A drop that
 * leaves a way back to root is a bug: msg_panic.
 */
#ifndef GH_PRIVS_H
#define GH_PRIVS_H

struct conf;

int privs_prepare(const struct conf *c, char **err);
int privs_drop(const struct conf *c, char **err);
const char *privs_summary(void);

#endif
