/*
 * log - one place for diagnostics
 *
 * log_init() chooses the destinations: syslog (facility mail by default)
 * when a syslog daemon listens, stderr too when running in the foreground. msg_debug/info/warn/
 * error are filtered by the verbosity level; msg_fatal logs and exits 1;
 * msg_panic logs and aborts (an impossible state, a bug).
 *
 * log_printable() makes untrusted text (addresses, subjects, file names)
 * safe to log and to show: control characters (C0, DEL, C1, U+2028/2029)
 * and bytes that are not valid UTF-8 become '?', bidirectional and
 * invisible format characters (U+200B-200F, U+202A-202E, U+2066-2069,
 * U+FEFF) are spelled out as "<U+202E>" so that photo<RLO>gpj.exe cannot
 * pass for photoexe.jpg, and the result is cut at a maximum length.
 * Anything that came from a message goes through it before it reaches a
 * log line, a terminal (quarctl) or a report. log_append_shown() is the
 * one rule for a single character, for writers that put their own
 * stand-in for a control (alerts: a space); log_char_class() tells the
 * kinds apart (the JSON escaper). Thread-safe.
 */
#ifndef GH_LOG_H
#define GH_LOG_H

#include <glib.h>
#include <stdarg.h>
#include <stdbool.h>
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

enum log_char {
	LOG_CHAR_PLAIN,   /* shown as it is */
	LOG_CHAR_CONTROL, /* C0, DEL, C1, U+2028/2029: never shown */
	LOG_CHAR_FORMAT,  /* bidi or invisible: spelled out */
};
enum log_char log_char_class(gunichar c);
/* Appends c as a person should see it (a format character as "<U+202E>");
 * a control is not appended: false, the caller writes its stand-in. */
bool log_append_shown(GString *out, gunichar c);

#endif
