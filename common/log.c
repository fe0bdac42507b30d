/*
 * log - syslog and stderr diagnostics (see log.h)
 */
#include "log.h"

#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_stderr = 1;
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
	closelog();
	/* LOG_NDELAY: connect now, so that the socket survives a chroot. */
	openlog(log_ident, LOG_PID | LOG_NDELAY, log_facility);
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
	closelog();
	openlog(log_ident, LOG_PID | LOG_NDELAY, log_facility);
	pthread_mutex_unlock(&log_lock);
}

static void log_emit(int prio, const char *tag, const char *fmt, va_list ap)
{
	char buf[4096];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	syslog(prio, "%s%s", tag, buf);
	if (log_stderr) {
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "%s[%d]: %s%s\n", log_ident, (int)getpid(), tag, buf);
		pthread_mutex_unlock(&log_lock);
	}
}

#define LOG_FN(fn, lvl, prio, tag)                                                                 \
	void fn(const char *fmt, ...)                                                              \
	{                                                                                          \
		va_list ap;                                                                        \
		if (log_level < (lvl))                                                             \
			return;                                                                    \
		va_start(ap, fmt);                                                                 \
		log_emit(prio, tag, fmt, ap);                                                      \
		va_end(ap);                                                                        \
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

char *log_printable(const char *s, size_t maxlen)
{
	GString *out;
	const char *p, *end;

	if (!s)
		return g_strdup("");
	out = g_string_sized_new(strlen(s) + 1);
	p = s;
	end = s + strlen(s);
	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append_c(out, '?'); /* not UTF-8: one byte at a time */
			p++;
			continue;
		}
		int n = g_utf8_skip[*(const guchar *)p];
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029)
			g_string_append_c(out, '?');
		else
			g_string_append_len(out, p, n);
		p += n;
		if (maxlen && out->len >= maxlen) {
			if (p < end)
				g_string_append(out, "...");
			break;
		}
	}
	return g_string_free(out, FALSE);
}
