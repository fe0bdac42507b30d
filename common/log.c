/*
 * log - syslog and stderr diagnostics (see log.h)
 *
 * Functions: log_init, log_reopen, log_set_level, log_get_level,
 * log_level_parse, msg_debug/info/warn/error/fatal/panic, log_printable.
 *
 * Whether a syslog daemon listens on /dev/log is found out when the log
 * is opened (start, SIGHUP), not on every message: glibc's syslog() tries
 * socket() + connect() + close() again on every call while it has no
 * connection, three system calls per log line for nothing.
 */
#include "log.h"

#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_stderr = 1;
static int log_syslog; /* a syslog daemon listened when the log was opened */
static enum log_level log_level = LOG_LVL_INFO;
static int log_facility = LOG_MAIL;
static char log_ident[64] = "gatehouse";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct {
	const char *name;
	int value;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
    {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
    {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

/* Does anything accept connections on _PATH_LOG (/dev/log)? */
static int log_syslog_listens(void)
{
	static const int types[] = {SOCK_DGRAM, SOCK_STREAM}; /* glibc tries both */
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	g_strlcpy(sun.sun_path, _PATH_LOG, sizeof(sun.sun_path));
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		int ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		close(fd);
		if (ok)
			return 1;
	}
	return 0;
}

/* With log_lock held. */
static void log_open_locked(void)
{
	closelog();
	g_atomic_int_set(&log_syslog, log_syslog_listens());
	/* LOG_NDELAY: connect now, so that the socket survives a chroot. */
	if (g_atomic_int_get(&log_syslog))
		openlog(log_ident, LOG_PID | LOG_NDELAY, log_facility);
}

void log_init(const char *ident, int to_stderr, enum log_level level, const char *facility)
{
	pthread_mutex_lock(&log_lock);
	g_strlcpy(log_ident, ident ? ident : "gatehouse", sizeof(log_ident));
	log_stderr = to_stderr;
	log_level = level;
	log_facility = LOG_MAIL;
	for (size_t i = 0; facility && i < G_N_ELEMENTS(facilities); i++)
		if (strcmp(facility, facilities[i].name) == 0)
			log_facility = facilities[i].value;
	log_open_locked();
	pthread_mutex_unlock(&log_lock);
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *name)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (name && strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void log_reopen(void)
{
	pthread_mutex_lock(&log_lock);
	log_open_locked();
	pthread_mutex_unlock(&log_lock);
}

static void log_emit(int prio, const char *tag, const char *fmt, va_list ap)
{
	char buf[4096];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (g_atomic_int_get(&log_syslog))
		syslog(prio, "%s%s", tag, buf);
	if (log_stderr) {
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "%s[%d]: %s%s\n", log_ident, (int)getpid(), tag, buf);
		pthread_mutex_unlock(&log_lock);
	}
}

#define LOG_FN(fn, lvl, prio, tag)                                                                           \
	void fn(const char *fmt, ...)                                                                        \
	{                                                                                                    \
		va_list ap;                                                                                  \
		if (log_level < (lvl))                                                                       \
			return;                                                                              \
		va_start(ap, fmt);                                                                           \
		log_emit(prio, tag, fmt, ap);                                                                \
		va_end(ap);                                                                                  \
	}

LOG_FN(msg_debug, LOG_LVL_DEBUG, LOG_DEBUG, "debug: ")
LOG_FN(msg_info, LOG_LVL_INFO, LOG_INFO, "")
LOG_FN(msg_warn, LOG_LVL_WARN, LOG_WARNING, "warning: ")
LOG_FN(msg_error, LOG_LVL_ERROR, LOG_ERR, "error: ")

void msg_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void msg_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_CRIT, "panic: ", fmt, ap);
	va_end(ap);
	abort();
}

/* Bidirectional controls and invisible characters: a name that carries
 * them reads other than it is (photo<RLO>gpj.exe shows as photoexe.jpg). */
static bool log_is_format(gunichar c)
{
	return (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
	       c == 0xfeff;
}

enum log_char log_char_class(gunichar c)
{
	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029)
		return LOG_CHAR_CONTROL;
	return log_is_format(c) ? LOG_CHAR_FORMAT : LOG_CHAR_PLAIN;
}

bool log_append_shown(GString *out, gunichar c)
{
	switch (log_char_class(c)) {
	case LOG_CHAR_CONTROL:
		return false;
	case LOG_CHAR_FORMAT:
		g_string_append_printf(out, "<U+%04X>", (unsigned)c);
		return true;
	case LOG_CHAR_PLAIN:
		break;
	}
	g_string_append_unichar(out, c);
	return true;
}

char *log_printable(const char *s, size_t maxlen)
{
	if (!s)
		return g_strdup("");
	GString *out = g_string_sized_new(strlen(s) + 1);
	const char *p = s, *end = s + strlen(s);
	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		int n = 1;
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append_c(out, '?'); /* not UTF-8: one byte at a time */
		} else {
			n = g_utf8_skip[*(const guchar *)p];
			if (!log_append_shown(out, c))
				g_string_append_c(out, '?');
		}
		p += n;
		if (maxlen && out->len >= maxlen) {
			if (p < end)
				g_string_append(out, "...");
			break;
		}
	}
	return g_string_free(out, FALSE);
}
