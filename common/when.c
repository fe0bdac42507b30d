/*
 * when - durations and points in time from text (see when.h)
 *
 * Hand-written rather than sscanf(): sscanf skips spaces, takes signs and
 * stops quietly at the first byte it does not want, which is how
 * "2026-01-01x" used to pass as a date.
 */
#include "when.h"

#include <glib.h>
#include <string.h>

/* 1..max decimal digits at *p; advances *p. -1 if none or too many. */
static int when_digits(const char **p, int min, int max, int64_t *out)
{
	int64_t v = 0;
	int n = 0;

	while (g_ascii_isdigit(**p)) {
		if (++n > max)
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	if (n < min)
		return -1;
	*out = v;
	return 0;
}

int when_parse_duration(const char *s, int64_t *out)
{
	int64_t n = 0, mult = 1;
	const char *p = s;

	if (!s)
		return -1;
	/* 18 digits always fit an int64_t; the unit check below bounds the rest */
	if (when_digits(&p, 1, 18, &n) < 0)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 's': mult = 1; p++; break;
	case 'm': mult = 60; p++; break;
	case 'h': mult = 3600; p++; break;
	case 'd': mult = 86400; p++; break;
	case 'w': mult = 7 * 86400; p++; break;
	default: return -1;
	}
	if (*p || n > WHEN_MAX_AGE / mult)
		return -1;
	*out = n * mult;
	return 0;
}

/* YYYY-MM-DD[( |T)HH:MM[:SS]]: 0 and *out, -1 if not that or no such time. */
static int when_parse_date(const char *s, int64_t *out)
{
	int64_t y, mo, d, h = 0, mi = 0, sec = 0;
	const char *p = s;

	if (when_digits(&p, 4, 4, &y) < 0 || *p++ != '-' || when_digits(&p, 1, 2, &mo) < 0 ||
	    *p++ != '-' || when_digits(&p, 1, 2, &d) < 0)
		return -1;
	if (*p == ' ' || *p == 'T') {
		p++;
		if (when_digits(&p, 1, 2, &h) < 0 || *p++ != ':' || when_digits(&p, 1, 2, &mi) < 0)
			return -1;
		if (*p == ':') {
			p++;
			if (when_digits(&p, 1, 2, &sec) < 0)
				return -1;
		}
	}
	if (*p || sec > 59)
		return -1;
	GDateTime *dt = g_date_time_new_utc((int)y, (int)mo, (int)d, (int)h, (int)mi, (gdouble)sec);
	if (!dt)
		return -1;
	*out = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	return 0;
}

int when_parse(const char *s, int64_t now, int64_t *out)
{
	int64_t v;

	if (!s || !*s)
		return -1;
	if (s[0] == '@') {
		const char *p = s + 1;
		if (when_digits(&p, 1, 18, &v) < 0 || *p)
			return -1;
		*out = v;
		return 0;
	}
	if (when_parse_date(s, out) == 0)
		return 0;
	/* an age: a date-like text that failed above must not pass as one */
	if (strchr(s, '-') || when_parse_duration(s, &v) < 0 || now < v)
		return -1;
	*out = now - v;
	return 0;
}
