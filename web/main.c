/*
 * scand-web - the recipients' digest pages (see web/web.h)
 *
 * Usage: scand-web [-f] [-c FILE] [-V]
 *   -f  stay in the foreground and log to stderr as well as syslog
 *   -c  configuration file (default $GATEHOUSE_CONF, else /etc/gatehouse/scand.conf)
 *
 * Start-up as scand does it: as root, bind [web] listen, read (or create,
 * given to [scand] user) [web] secret_file, open one store handle per
 * server thread, go to the background unless -f, start libmicrohttpd's
 * threads, then give up root for good (common/privs: chroot when [scand]
 * chroot is set, then [scand] user and group). The server has bounds on
 * everything a client sends: connections ([web] max_connections, 8 per
 * address), 16 KiB for a request's line and headers (more is refused by
 * libmicrohttpd), WEB_HEADERS_MAX header fields, WEB_BODY_MAX bytes of
 * body, 30 s of idleness. SIGTERM or SIGINT stops it. Exit 1 when it
 * cannot start (the reason on stderr and in the log).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "privs.h"
#include "sockio.h"
#include "web.h"

#define WEB_THREADS 4

static int64_t web_clock(void)
{
	return (int64_t)time(NULL);
}

static void web_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char *s = g_strdup_vprintf(fmt, ap);
	g_strchomp(s);
	msg_warn("httpd: %s", s);
	g_free(s);
}

static void web_open_stores(struct web *w)
{
	w->stores = g_async_queue_new();
	for (int i = 0; i < WEB_THREADS; i++) {
		struct store *st;
		char *err = NULL;
		if (store_open_conf(w->c, &st, &err) < 0) /* its events name this host */
			msg_fatal("%s", err);
		g_async_queue_push(w->stores, st);
	}
}

static void web_close_stores(struct web *w)
{
	struct store *st;
	while ((st = g_async_queue_try_pop(w->stores)))
		store_close(st);
	g_async_queue_unref(w->stores);
}

static int web_run(struct conf *c, bool fg)
{
	struct web w = {.c = c, .now = web_clock};
	char *err = NULL;
	sigset_t set;
	int sig;

	if (privs_prepare(c, &err) < 0)
		msg_fatal("%s", err);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* libmicrohttpd's threads inherit it */
	int fd = sio_listen(conf_str(c, "web", "listen"), 64, &err);
	if (fd < 0)
		msg_fatal("[web] listen: %s", err);
	uid_t uid;
	gid_t gid;
	privs_target(c, &uid, &gid);
	if (linktok_key_load(conf_str(c, "web", "secret_file"), geteuid() == 0 ? uid : (uid_t)-1,
	                     geteuid() == 0 ? gid : (gid_t)-1, &w.key, &err) < 0)
		msg_fatal("[web] secret_file: %s", err);
	web_open_stores(&w);
	w.rate = web_rate_new(conf_int(c, "web", "rate_limit"));
	if (!fg && daemon(1, 0) < 0)
		msg_fatal("daemon: %s", g_strerror(errno));
	privs_pidfile(conf_str(c, "web", "pid_file"));
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, web_handler, &w,
	    MHD_OPTION_EXTERNAL_LOGGER, web_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)WEB_THREADS, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)conf_int(c, "web", "max_connections"), MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
	    MHD_OPTION_NOTIFY_COMPLETED, web_completed, NULL, MHD_OPTION_END);
	if (!d)
		msg_fatal("cannot start the HTTP server on %s", conf_str(c, "web", "listen"));
	if (privs_drop(c, &err) < 0)
		msg_fatal("%s", err);
	msg_info("listening on %s, links for %s, %s", conf_str(c, "web", "listen"),
	         conf_str(c, "web", "base_url"), privs_summary());
	sigwait(&set, &sig);
	msg_info("stopping on signal %d", sig);
	MHD_stop_daemon(d);
	close(fd);
	web_close_stores(&w);
	web_rate_free(w.rate);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int fg = 0, opt;
	char *err = NULL;

	while ((opt = getopt(argc, argv, "c:fV")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			fg = 1;
			break;
		case 'V':
			printf("scand-web %s\n", GH_VERSION);
			return 0;
		default:
			fprintf(stderr, "usage: scand-web [-f] [-c FILE] [-V]\n");
			return 2;
		}
	}
	if (!path && !(path = conf_env_path()))
		path = CONF_DEFAULT_PATH;
	struct conf *c = conf_load(path, &err);
	if (!c) {
		fprintf(stderr, "scand-web: %s\n", err);
		g_free(err);
		return 1;
	}
	int lvl = log_level_parse(conf_str(c, "scand", "log_level"));
	log_init("scand-web", fg, lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl,
	         conf_str(c, "scand", "syslog_facility"));
	int rc = web_run(c, fg);
	conf_free(c);
	return rc;
}
