/*
 * promtext - the Prometheus text exposition format, version 0.0.4
 *
 * Writes metric families into a GString, as a /metrics page serves them
 * (Content-Type PROMTEXT_CONTENT_TYPE). It knows the format, not the
 * metrics: the caller owns the numbers (scand/metrics.c).
 *
 *  prom_family(o, name, type, help)   the "# HELP" and "# TYPE" lines that
 *      open a family; type is "counter", "gauge" or "histogram". The help
 *      text has backslash and newline escaped.
 *  prom_sample(o, name, label, value, v)   one line: name{label="value"} v,
 *      or "name v" when label is NULL. The label value is escaped (\\, \",
 *      \n), so any text (a category name, an address) is safe in it.
 *  prom_histogram(o, name, bounds, nb, counts, sum)   the _bucket lines
 *      (cumulative, each bucket's le="bound" counting the observations
 *      <= bound, then le="+Inf"), _sum and _count. counts has nb + 1
 *      entries, NOT cumulative: counts[i] observations in
 *      (bounds[i-1], bounds[i]], counts[nb] above the last bound; bounds
 *      ascend. _count is the +Inf bucket, so the two always agree.
 *  prom_value(o, v)   a number as the format spells it: the shortest
 *      decimal that reads back exactly, "+Inf", "-Inf" or "NaN"; never a
 *      locale's decimal comma.
 */
#ifndef GH_PROMTEXT_H
#define GH_PROMTEXT_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#define PROMTEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void prom_family(GString *o, const char *name, const char *type, const char *help);
void prom_sample(GString *o, const char *name, const char *label, const char *value, double v);
void prom_histogram(GString *o, const char *name, const double *bounds, size_t nb, const uint64_t *counts,
                    double sum);
void prom_value(GString *o, double v);

#endif
