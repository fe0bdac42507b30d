/*
 * promtext - Prometheus text exposition format 0.0.4 (see promtext.h)
 *
 * Functions: prom_family, prom_sample, prom_histogram, prom_value.
 *
 * The format's escapes: in HELP text a backslash and a newline; in a
 * label value those two and the double quote. Nothing else needs one
 * (the format is UTF-8), but a label value from outside must never end
 * its quotes or its line early, or the scraper reads another sample.
 */
#include "promtext.h"

#include <math.h>
#include <stdbool.h>

static void prom_escape(GString *o, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			g_string_append(o, "\\\\");
		else if (*s == '\n')
			g_string_append(o, "\\n");
		else if (*s == '"' && quote)
			g_string_append(o, "\\\"");
		else
			g_string_append_c(o, *s);
	}
}

void prom_value(GString *o, double v)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (isnan(v)) {
		g_string_append(o, "NaN");
		return;
	}
	if (isinf(v)) {
		g_string_append(o, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* %.15g keeps 0.1 "0.1"; %.17g only where 15 digits would not read back */
	g_ascii_formatd(buf, sizeof buf, "%.15g", v);
	if (g_ascii_strtod(buf, NULL) != v)
		g_ascii_formatd(buf, sizeof buf, "%.17g", v);
	g_string_append(o, buf);
}

void prom_family(GString *o, const char *name, const char *type, const char *help)
{
	g_string_append_printf(o, "# HELP %s ", name);
	prom_escape(o, help, false);
	g_string_append_printf(o, "\n# TYPE %s %s\n", name, type);
}

static void prom_line(GString *o, const char *name, const char *suffix, const char *label, const char *value)
{
	g_string_append(o, name);
	g_string_append(o, suffix);
	if (label) {
		g_string_append_printf(o, "{%s=\"", label);
		prom_escape(o, value ? value : "", true);
		g_string_append(o, "\"}");
	}
	g_string_append_c(o, ' ');
}

void prom_sample(GString *o, const char *name, const char *label, const char *value, double v)
{
	prom_line(o, name, "", label, value);
	prom_value(o, v);
	g_string_append_c(o, '\n');
}

void prom_histogram(GString *o, const char *name, const double *bounds, size_t nb, const uint64_t *counts,
                    double sum)
{
	uint64_t cum = 0;

	for (size_t i = 0; i <= nb; i++) {
		GString *le = g_string_new("");
		prom_value(le, i < nb ? bounds[i] : INFINITY);
		cum += counts[i];
		prom_line(o, name, "_bucket", "le", le->str);
		g_string_append_printf(o, "%" G_GUINT64_FORMAT "\n", cum);
		g_string_free(le, TRUE);
	}
	prom_line(o, name, "_sum", NULL, NULL);
	prom_value(o, sum);
	g_string_append_printf(o, "\n%s_count %" G_GUINT64_FORMAT "\n", name, cum);
}
