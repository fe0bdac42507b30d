/*
 * log - one place for diagnostics
 *
 * log_init() chooses the destinations: syslog (facility mail by default)
 * when a syslog daemon listens, stderr too when running in the foreground. msg_debug/info/warn/
 * error are filtered by the verbosity level; msg_fatal logs and exits 1;
 * msg_panic logs and aborts (an impossible state, a bug).
 *
 * log_printable() makes untrusted text (addresses, subjects, file names)
 * safe to log: control characters and bytes >= 0x7f that are not valid
 * UTF-8 become '?', and the result is cut at a maximum length. Anything
 * that came from a message goes through it before it reaches a log line.
 * Thread-safe.
 */
#ifndef GH_LOG_H
#define GH_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *ident, int to_stderr, enum log_level level, const char *facility);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *name);
/* Reopen the syslog connection (SIGHUP). Also callable before chroot.
 * Syslog is used only if a daemon listened on /dev/log when the log was
 * last opened (log_init, log_reopen); otherwise stderr alone until then. */
void log_reopen(void);

void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Printable copy of untrusted text, at most maxlen bytes (0 = no limit)
 * plus "..." when cut. g_free() the result. NULL in -> "". */
char *log_printable(const char *s, size_t maxlen);

#endif
