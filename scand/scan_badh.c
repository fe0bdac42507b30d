/*
 * scan_badh - the bad-header stage
 *
 * scan_badh_stage is a struct stage (stage.h); it needs no state. scan()
 * reads the header section and finds, in this order: a line over 998
 * characters (RFC 5322 2.1.1), a control character or a bare CR, an 8-bit
 * byte (allowed as UTF-8 when the message came with SMTPUTF8), a line that
 * is neither a field nor a continuation, a missing From or Date, and a
 * field that RFC 5322 3.6 allows once appearing twice. The first finding
 * sets CAT_BADH (engine "badh") and adds, as amavisd-new does,
 * "X-Gatehouse-Alert: BAD HEADER SECTION, <finding>" for the forwarded
 * copy (the finding is plain ASCII made by us, never message text).
 * Incoming X-Gatehouse-Alert fields are always removed. It never fails.
 *
 * scan_badh_check() runs the checks alone: NULL when the header section
 * is good, else the finding (g_free).
 */
#include "scan_badh.h"

#include <string.h>
#include <strings.h>

#include "mailhdr.h"
#include "scan_util.h"

/* Fields RFC 5322 3.6 allows at most once. */
static const char *const badh_once[] = {"From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Message-ID",
					"In-Reply-To", "References", "Subject", "Date"};

static char *badh_line(const unsigned char *l, size_t n, bool utf8, GHashTable *seen)
{
	if (n > 998)
		return g_strdup("line over 998 characters");
	for (size_t i = 0; i < n; i++) {
		if ((l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f)
			return g_strdup_printf("control character 0x%02x", l[i]);
	}
	if (!utf8) {
		for (size_t i = 0; i < n; i++)
			if (l[i] >= 0x80)
				return g_strdup("8-bit character");
	} else if (!g_utf8_validate((const char *)l, (gssize)n, NULL)) {
		return g_strdup("invalid UTF-8");
	}
	if (n && (l[0] == ' ' || l[0] == '\t'))
		return NULL; /* a continuation line */
	size_t k = 0;
	while (k < n && l[k] > 0x20 && l[k] < 0x7f && l[k] != ':')
		k++;
	if (k == 0 || k >= n || l[k] != ':')
		return g_strdup("a line that is not a header field");
	char *name = g_ascii_strdown((const char *)l, (gssize)k);
	guint count = GPOINTER_TO_UINT(g_hash_table_lookup(seen, name)) + 1;
	g_hash_table_replace(seen, name, GUINT_TO_POINTER(count));
	return NULL;
}

char *scan_badh_check(const unsigned char *data, size_t len, bool utf8)
{
	size_t end = mailhdr_body_offset(data, len);
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	char *why = NULL;
	for (size_t i = 0; i < end && !why;) {
		size_t eol = i;
		while (eol < end && data[eol] != '\n')
			eol++;
		size_t n = eol - i;
		if (n && data[i + n - 1] == '\r')
			n--;
		if (n)
			why = badh_line(data + i, n, utf8, seen);
		i = eol + 1;
	}
	if (!why && !g_hash_table_contains(seen, "from"))
		why = g_strdup("missing required header field: \"From\"");
	if (!why && !g_hash_table_contains(seen, "date"))
		why = g_strdup("missing required header field: \"Date\"");
	for (size_t k = 0; !why && k < G_N_ELEMENTS(badh_once); k++) {
		char *lc = g_ascii_strdown(badh_once[k], -1);
		if (GPOINTER_TO_UINT(g_hash_table_lookup(seen, lc)) > 1)
			why = g_strdup_printf("duplicate header field: \"%s\"", badh_once[k]);
		g_free(lc);
	}
	g_hash_table_destroy(seen);
	return why;
}

static enum stage_result badh_scan(void *state, struct msg *m)
{
	(void)state;
	msg_remove_header(m, "X-Gatehouse-Alert");
	char *why = scan_badh_check(m->data, m->len, m->smtputf8);
	if (!why)
		return STAGE_OK;
	msg_set_category(m, CAT_BADH, "badh");
	msg_add_header(m, "X-Gatehouse-Alert: BAD HEADER SECTION, %s", why);
	g_free(why);
	return STAGE_OK;
}

static int badh_init(const struct conf *c, void **state, char **err)
{
	(void)c;
	(void)err;
	*state = NULL;
	return 0;
}

const struct stage scan_badh_stage = {
	.name = "badh",
	.init = badh_init,
	.scan = badh_scan,
	.reload = NULL,
	.fini = NULL,
};
