/*
 * server - listeners, workers, signals, configuration swap (see server.h)
 *
 * Functions: srv_run, srv_conf_acquire, srv_conf_release, srv_stopping.
 *
 * Threads: the main thread owns signals (all blocked, read through a
 * signalfd) and waits; max_servers workers each poll the listeners and
 * the stop eventfd, accept one connection and run its session. A worker
 * that is busy does not accept, so concurrency never exceeds max_servers
 * and further connections wait in the kernel's backlog, as with Postfix's
 * process limit. Start-up failures are fatal (msg_fatal: exit 1) before
 * any mail is accepted; later failures are per message (4xx).
 * After "ready" the quarantine check (srv_fsck.c) runs in a thread of its
 * own, report only; shutdown waits for it (it stops early when asked).
 */
#include "server.h"
#include "privs.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "answers.h"
#include "groupcommit.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "sess.h"
#include "sockio.h"
#include "srv_fsck.h"
#include "store.h"

static GMutex conf_lock;
static struct confref *cur_conf;
static int stop_efd = -1;
static int stopping;
static int *listen_fd;
static size_t nlisten;

struct confref *srv_conf_acquire(void)
{
	g_mutex_lock(&conf_lock);
	struct confref *r = cur_conf;
	g_atomic_int_inc(&r->refs);
	g_mutex_unlock(&conf_lock);
	return r;
}

void srv_conf_release(struct confref *r)
{
	if (r && g_atomic_int_dec_and_test(&r->refs)) {
		conf_free(r->conf);
		g_free(r);
	}
}

static void srv_conf_swap(struct conf *c)
{
	struct confref *r = g_new0(struct confref, 1);
	r->conf = c;
	r->refs = 1;
	g_mutex_lock(&conf_lock);
	struct confref *old = cur_conf;
	cur_conf = r;
	g_mutex_unlock(&conf_lock);
	srv_conf_release(old);
}

bool srv_stopping(void)
{
	return g_atomic_int_get(&stopping) != 0;
}

static void srv_listen(const struct conf *c)
{
	gchar **a = g_strsplit(conf_str(c, "scand", "listen"), ",", -1);
	char *err = NULL;

	for (int i = 0; a[i]; i++) {
		char *addr = g_strstrip(a[i]);
		if (!*addr)
			continue;
		int fd = sio_listen(addr, 128, &err);
		if (fd < 0)
			msg_fatal("%s", err);
		listen_fd = g_renew(int, listen_fd, nlisten + 1);
		listen_fd[nlisten++] = fd;
	}
	g_strfreev(a);
	if (nlisten == 0)
		msg_fatal("[scand] listen is empty");
}

static char *peer_name(const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN] = "";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		return g_strdup_printf("%s:%u", host, ntohs(s4->sin_port));
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		return g_strdup_printf("[%s]:%u", host, ntohs(s6->sin6_port));
	}
	return g_strdup("local");
}

/* One accepted connection, or -1 (nothing there, or stopping). */
static int srv_accept(char **peer)
{
	struct pollfd *p = g_new0(struct pollfd, nlisten + 1);
	int fd = -1;

	for (size_t i = 0; i < nlisten; i++)
		p[i] = (struct pollfd){.fd = listen_fd[i], .events = POLLIN};
	p[nlisten] = (struct pollfd){.fd = stop_efd, .events = POLLIN};
	if (poll(p, nlisten + 1, -1) > 0 && !p[nlisten].revents) {
		for (size_t i = 0; i < nlisten && fd < 0; i++) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			if (!p[i].revents)
				continue;
			fd = accept4(listen_fd[i], (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
			if (fd < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				msg_warn("accept: %s", g_strerror(errno));
			if (fd >= 0) {
				int one = 1;
				if (ss.ss_family != AF_UNIX)
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				*peer = peer_name(&ss);
			}
		}
	}
	g_free(p);
	return fd;
}

static void *srv_worker(void *arg)
{
	struct worker *w = arg;

	while (!srv_stopping()) {
		char *peer = NULL;
		int fd = srv_accept(&peer);
		if (fd < 0)
			continue;
		struct confref *cr = srv_conf_acquire();
		const struct conf *c = cr->conf;
		spool_configure(w->spool, conf_str(c, "scand", "work_dir"),
		                (size_t)conf_int(c, "scand", "spool_memory_limit"),
		                conf_int(c, "scand", "message_size_limit"));
		srv_conf_release(cr);
		metrics_session(1);
		sess_run(w, fd, peer);
		metrics_session(-1);
		g_free(peer);
	}
	smtpc_close(w->fwd);
	w->fwd = NULL;
	return NULL;
}

static void srv_work_dir(const struct conf *c, uid_t uid, gid_t gid)
{
	const char *d = conf_str(c, "scand", "work_dir");
	if (g_mkdir_with_parents(d, 0700) < 0)
		msg_fatal("work_dir %s: %s", d, g_strerror(errno));
	if (uid != (uid_t)-1 && chown(d, uid, gid) < 0)
		msg_fatal("chown %s: %s", d, g_strerror(errno));
}

/* After the drop: the work directory is the daemon user's, who may have
 * planted links or mounts among the leftovers; removing them as that user
 * can only remove what it could remove anyway. */
static void srv_clean_work_dir(const struct conf *c)
{
	const char *d = conf_str(c, "scand", "work_dir");
	int n = spool_clean_dir(d);
	if (n < 0)
		msg_fatal("work_dir %s: %s", d, g_strerror(errno));
	if (n > 0)
		msg_info("removed %d spool file(s) left over in %s", n, d);
}

/* Started as root: chroot and become [scand] user/group for good, unless
 * allowed to stay root (privs.c); then clean the work directory. */
static void srv_drop_privileges(const struct conf *c)
{
	char *err = NULL;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	privs_target(c, &uid, &gid);
	srv_work_dir(c, uid, gid);
	if (privs_drop(c, &err) < 0)
		msg_fatal("%s", err);
	srv_clean_work_dir(c);
}

static void srv_reload(const char *path)
{
	char *err = NULL;
	struct conf *c = conf_load(path, &err);

	if (!privs_chrooted())
		log_reopen(); /* in the jail there is no /dev/log: keep the socket */
	if (!c && privs_chrooted()) {
		/* the file is outside the jail (unless its path is under it):
		 * reload the signatures with the running configuration */
		msg_info("reload: %s (chroot); reloading the signatures with the running configuration", err);
		g_free(err);
		struct confref *cur = srv_conf_acquire();
		pipeline_reload(cur->conf);
		srv_conf_release(cur);
		return;
	}
	if (!c) {
		msg_warn("reload: %s; keeping the running configuration", err);
		g_free(err);
		return;
	}
	struct confref *old = srv_conf_acquire();
	if (strcmp(conf_str(old->conf, "scand", "listen"), conf_str(c, "scand", "listen")) != 0)
		msg_warn("reload: a new [scand] listen takes effect after a restart");
	if (strcmp(conf_str(old->conf, "scand", "metrics_listen"), conf_str(c, "scand", "metrics_listen")) != 0)
		msg_warn("reload: a new [scand] metrics_listen takes effect after a restart");
	srv_conf_release(old);
	int lvl = log_level_parse(conf_str(c, "scand", "log_level"));
	log_set_level(lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl);
	pipeline_reload(c);
	srv_conf_swap(c);
	msg_info("reloaded %s", path);
}

static int srv_nworkers(const struct conf *c)
{
	int n = (int)conf_int(c, "scand", "max_servers");
	if (n <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = 2 * (int)(cpus > 0 ? cpus : 1);
	}
	return n;
}

/* Waits for signals; returns when told to stop. */
static void srv_signals(int sfd, const char *path)
{
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(si))
			msg_fatal("signalfd: %s", g_strerror(errno));
		if (si.ssi_signo == SIGHUP && path) {
			srv_reload(path);
			continue;
		}
		if (si.ssi_signo == SIGHUP)
			continue;
		msg_info("signal %d: stopping; finishing messages in flight", (int)si.ssi_signo);
		return;
	}
}

int srv_run(struct conf *c, const char *conf_path, bool foreground)
{
	char *err = NULL;
	sigset_t set;

	if (privs_prepare(c, &err) < 0)
		msg_fatal("%s", err);
	/* Before any thread exists (stages, the answers writer, workers): they
	 * all inherit the mask, and the signals go to the signalfd only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	srv_conf_swap(c);
	srv_listen(c);
	if (metrics_http_bind(c, &err) < 0)
		msg_fatal("%s", err);
	if (pipeline_init(c, &err) < 0)
		msg_fatal("%s", err);
	if (!foreground && daemon(1, 0) < 0)
		msg_fatal("daemon: %s", g_strerror(errno));
	char *pidf = g_strdup(conf_str(c, "scand", "pid_file"));
	privs_pidfile(pidf);

	int n = srv_nworkers(c);
	struct worker *w = g_new0(struct worker, n);
	const char *db = conf_str(c, "scand", "database");
	int busy = (int)conf_int(c, "scand", "busy_timeout") * 1000;
	/* every store handle is opened as root, before the chroot and the drop
	 * ([scand] database names the file from outside the jail); the drop
	 * re-owns the files they created (privs.c) */
	if (answers_start(db, busy, conf_hostname(c), &err) < 0) /* every row scand writes names it */
		msg_fatal("%s", err);
	struct store *notify_st; /* the alert sender's own handle */
	if (store_open_conf(c, &notify_st, &err) < 0)
		msg_fatal("%s", err);
	struct store *fsck_st; /* the start-up quarantine check's own handle */
	if (store_open_conf(c, &fsck_st, &err) < 0)
		msg_fatal("%s", err);
	for (int i = 0; i < n; i++) /* each worker's list lookups */
		if (store_open_conf(c, &w[i].lists, &err) < 0)
			msg_fatal("%s", err);
	srv_drop_privileges(c);
	pipeline_notify_start(c, notify_st); /* signals are blocked: it inherits the mask */
	if (metrics_http_start(&err) < 0) /* its thread too; never as root */
		msg_fatal("%s", err);

	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	stop_efd = eventfd(0, EFD_CLOEXEC);
	if (sfd < 0 || stop_efd < 0)
		msg_fatal("signalfd/eventfd: %s", g_strerror(errno));

	pthread_t *tid = g_new0(pthread_t, n);
	for (int i = 0; i < n; i++) {
		w[i].id = i;
		w[i].stop_fd = stop_efd;
		w[i].spool = spool_new(conf_str(c, "scand", "work_dir"), 0, 0);
		if (pthread_create(&tid[i], NULL, srv_worker, &w[i]) != 0)
			msg_fatal("pthread_create: %s", g_strerror(errno));
	}
	msg_info("ready: %s, %u signatures, listening on %s, forwarding to %s, %d servers, %s mode",
	         privs_summary(), pipeline_signatures(NULL), conf_str(c, "scand", "listen"),
	         conf_str(c, "scand", "forward"), n,
	         conf_bool(c, "scand", "before_queue") ? "before-queue" : "after-queue");
	srv_fsck_start(fsck_st, conf_str(c, "scand", "quarantine_dir"));

	srv_signals(sfd, conf_path);
	g_atomic_int_set(&stopping, 1);
	uint64_t one = 1;
	if (write(stop_efd, &one, sizeof(one)) < 0)
		msg_warn("eventfd: %s", g_strerror(errno));
	for (int i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		spool_free(w[i].spool);
		g_free(w[i].fwd_dest);
		store_close(w[i].lists);
	}
	srv_fsck_join();
	metrics_http_stop();
	answers_stop();
	for (size_t i = 0; i < nlisten; i++)
		close(listen_fd[i]);
	g_free(listen_fd);
	pipeline_fini();
	if (*pidf && unlink(pidf) < 0 && errno != ENOENT)
		msg_warn("pid file %s: %s", pidf, g_strerror(errno));
	unsigned long gm, gt;
	gc_stats(&gm, &gt);
	msg_info("stopped; %lu verdict rows written in %lu transactions", gm, gt);
	g_free(pidf);
	g_free(tid);
	g_free(w);
	close(sfd);
	close(stop_efd);
	g_mutex_lock(&conf_lock);
	struct confref *last = cur_conf;
	cur_conf = NULL;
	g_mutex_unlock(&conf_lock);
	srv_conf_release(last);
	return 0;
}
