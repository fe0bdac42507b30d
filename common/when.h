/*
 * when - the one parser of durations and points in time
 *
 * Used by the configuration (CONF_TIME keys), quarctl (--since, --until,
 * --older-than) and scand-report (--since, --until), so that each accepts
 * the same words.
 *
 * when_parse_duration() reads an age: decimal digits with an optional unit
 * s, m, h, d or w ("90", "30m", "12h", "7d", "2w"). No sign, no space, no
 * fraction, nothing after the unit.
 *
 * when_parse() reads a point in time (UTC): an age as above, counted back
 * from now; YYYY-MM-DD; YYYY-MM-DD HH:MM or YYYY-MM-DD HH:MM:SS (a 'T' may
 * replace the space); or @EPOCH (seconds).
 *
 * Both return 0 and set *out, or -1 and leave *out alone when the text is
 * empty, malformed, has anything after what it parsed ("2026-01-01x",
 * "7x"), names an impossible date, or the value would overflow (ages are
 * limited to WHEN_MAX_AGE seconds).
 */
#ifndef GH_WHEN_H
#define GH_WHEN_H

#include <stdint.h>

/* About 292 million years divided by 2: room for now - age and now + age. */
#define WHEN_MAX_AGE (INT64_MAX / 4)

int when_parse_duration(const char *s, int64_t *out);
int when_parse(const char *s, int64_t now, int64_t *out);

#endif
