/*
 * fuzz_tmpl - libFuzzer harness for the alert template parser and renderer
 *
 * The input is a template file, optionally followed by a NUL byte and
 * NUL-separated values that are handed to the placeholders in turn
 * (value i to placeholder i mod NV_COUNT): hostile text from a message
 * (a subject, a sender, a file name) meets a template written by an
 * admin. notify_tmpl_parse() either fails with "FILE:LINE: what" or gives
 * a template that is rendered. Checked beyond the sanitizers: no rendered
 * header name or value holds a CR, LF or other control character (a
 * header injection into an alert), and the body holds no CR.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "notify/notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_tmpl_no_ctl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			abort();
}

static void fuzz_tmpl_vars(struct notify_vars *v, const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size, *p = data;
	for (int i = 0; p < end && i < 64; i++) {
		const uint8_t *z = memchr(p, '\0', end - p);
		size_t n = z ? (size_t)(z - p) : (size_t)(end - p);
		char *val = g_strndup((const char *)p, n);
		notify_vars_add(v, (enum notify_var)(i % NV_COUNT), val);
		g_free(val);
		p += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	char *err = NULL;
	struct notify_tmpl *t = notify_tmpl_parse("fuzz", (const char *)data, tlen, &err);

	if (!t) {
		if (!err || strncmp(err, "fuzz", 4) != 0)
			abort();
		g_free(err);
		return 0;
	}
	struct notify_vars v;
	notify_vars_init(&v);
	if (nul)
		fuzz_tmpl_vars(&v, nul + 1, size - tlen - 1);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *values = g_ptr_array_new_with_free_func(g_free);
	notify_tmpl_render_headers(t, &v, names, values);
	if (names->len != values->len)
		abort();
	for (guint i = 0; i < names->len; i++) {
		fuzz_tmpl_no_ctl(names->pdata[i]);
		fuzz_tmpl_no_ctl(values->pdata[i]);
		if (strchr(names->pdata[i], ':') || strchr(names->pdata[i], ' '))
			abort();
	}
	char *body = notify_tmpl_render_body(t, &v);
	if (strchr(body, '\r'))
		abort();
	g_free(body);
	g_ptr_array_free(names, TRUE);
	g_ptr_array_free(values, TRUE);
	notify_vars_clear(&v);
	notify_tmpl_free(t);
	return 0;
}
