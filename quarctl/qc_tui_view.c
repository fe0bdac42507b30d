/*
 * qc_tui_view - the TUI's detail view and help screen
 *
 * qc_tui_detail()     verdict, envelope, recipients, the header block and a
 *                     preview of the first text part (GMime decodes it), in a
 *                     scrollable pager; r and p act on the message shown
 * qc_tui_show_help()  the keys
 *
 * Every line shown went through log_printable() (qc_msg.c): nothing from
 * the message reaches the terminal as a control character.
 */
#include "qc_tui.h"

#include "log.h"

#include <string.h>

static const char *const qc_tui_help[] = {
    "quarctl - keys",
    "",
    "  Up/Down j/k     move            PgUp/PgDn   page",
    "  Home/End        first/last      Enter       detail view",
    "  /               search: text matches the subject; prefixes",
    "                  from: to: virus: search those; empty clears",
    "  f               cycle category filter (all virus banned spam badh)",
    "  s               cycle state filter (quarantined released purged any)",
    "  r               release (confirm; o = to another address, l = learn as ham too)",
    "  p               purge (confirm)",
    "  a / b           release and allow the sender / block the sender, for the",
    "                  recipients still held (confirm)",
    "  Space           mark/unmark      R / P     release / purge all marked",
    "  ?               this help        q         quit (back, in a view)",
    "  S column: Q quarantined, R released, P purged",
    "",
    "The list refreshes every 2 seconds. Press any key.",
    NULL,
};

/* ---- detail view ---- */

static void qc_tui_lines_add(GPtrArray *lines, const char *label, const char *value)
{
	char *v = log_printable(value ? value : "", 0);
	g_ptr_array_add(lines, g_strdup_printf("%-12s %s", label, v));
	g_free(v);
}

static void qc_tui_lines_text(GPtrArray *lines, const char *text)
{
	size_t n = strlen(text);
	while (n && text[n - 1] == '\n')
		n--;
	char *trimmed = g_strndup(text, n);
	char **ls = g_strsplit(trimmed, "\n", -1);
	g_free(trimmed);
	for (int i = 0; ls[i]; i++)
		g_ptr_array_add(lines, g_strdup(ls[i])); /* already printable */
	g_strfreev(ls);
}

static void qc_tui_detail_verdict(GPtrArray *lines, const struct store_msg *m)
{
	char when[32], *detail = qc_detail(m);
	qc_fmt_time(m->time, when, sizeof(when));
	qc_tui_lines_add(lines, "Mail-ID:", m->mail_id);
	qc_tui_lines_add(lines, "Time (UTC):", when);
	qc_tui_lines_add(lines, "Category:", m->category);
	qc_tui_lines_add(lines, "Verdict:", detail);
	qc_tui_lines_add(lines, "State:", m->quar_state);
	qc_tui_lines_add(lines, "Sender:", *m->sender ? m->sender : "<>");
	qc_tui_lines_add(lines, "Client:", m->client_addr);
	qc_tui_lines_add(lines, "Subject:", m->subject);
	qc_tui_lines_add(lines, "Quarantine:", m->quar_path);
	qc_tui_lines_add(lines, "Kept in:", m->quar_backend);
	qc_tui_lines_add(lines, "Host:", m->host);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct store_rcpt *r = &m->rcpt[i];
		char *s =
		    g_strdup_printf("%s (%s)%s%s", r->addr, r->destiny, r->released_at ? " released: " : "",
		                    r->released_at ? r->release_answer : "");
		qc_tui_lines_add(lines, "Recipient:", s);
		g_free(s);
		if (r->list_entry && *r->list_entry)
			qc_tui_lines_add(lines, "Listed:", r->list_entry);
	}
	g_free(detail);
}

static GPtrArray *qc_tui_detail_lines(struct qc_tui *t, const char *id)
{
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
	struct store_msg *m = NULL;
	void *data = NULL;
	size_t len = 0;
	bool mismatch = false;
	char *err = NULL;

	if (store_get(t->qc->st, id, &m) != 0) {
		g_ptr_array_add(lines, g_strdup_printf("%s: not in the store", id));
		return lines;
	}
	qc_tui_detail_verdict(lines, m);
	if (qc_msg_load(t->qc, m, &data, &len, &mismatch, &err) < 0) {
		qc_tui_lines_add(lines, "File:", err);
	} else {
		if (mismatch)
			g_ptr_array_add(
			    lines, g_strdup("WARNING: SHA-256 mismatch: the file is not what was stored"));
		g_ptr_array_add(lines, g_strdup(""));
		g_ptr_array_add(lines, g_strdup("---- headers ----"));
		char *h = qc_msg_headers(data, len);
		qc_tui_lines_text(lines, h);
		g_free(h);
		g_ptr_array_add(lines, g_strdup("---- body (first text part) ----"));
		char *p = qc_msg_preview(data, len, 16384);
		qc_tui_lines_text(lines, p);
		g_free(p);
	}
	g_free(err);
	g_free(data);
	store_msg_free(m);
	return lines;
}

static void qc_tui_detail_draw(GPtrArray *lines, int top, const char *id, const char *status)
{
	erase();
	for (int y = 0; y < LINES - 2 && top + y < (int)lines->len; y++)
		qc_tui_put(y, 0, g_ptr_array_index(lines, top + y), COLS);
	qc_tui_put(LINES - 2, 0, status, COLS);
	char *bar = g_strdup_printf(" %s  line %d/%u | r release  p purge  q back", id, top + 1, lines->len);
	attrset(COLOR_PAIR(QC_PAIR_BAR) | A_REVERSE);
	qc_tui_put(LINES - 1, 0, bar, COLS);
	attrset(A_NORMAL);
	g_free(bar);
	refresh();
}

void qc_tui_detail(struct qc_tui *t, const char *id)
{
	GPtrArray *lines = qc_tui_detail_lines(t, id);
	int top = 0;
	char *ids[] = {(char *)id};

	t->status[0] = '\0';
	for (;;) {
		int page = LINES > 3 ? LINES - 2 : 1, maxtop = MAX(0, (int)lines->len - page);
		top = CLAMP(top, 0, maxtop);
		qc_tui_detail_draw(lines, top, id, t->status);
		int k = qc_tui_key();
		if (k == 'q' || k == 27 || k == '\n' || k == '\r' || k == QC_KEY(KEY_LEFT))
			break;
		if (k == 'r' || k == 'p') {
			(k == 'r' ? qc_tui_release : qc_tui_purge)(t, ids, 1);
			g_ptr_array_free(lines, TRUE);
			lines = qc_tui_detail_lines(t, id);
		}
		top += k == 'j' || k == QC_KEY(KEY_DOWN)    ? 1
		       : k == 'k' || k == QC_KEY(KEY_UP)    ? -1
		       : k == ' ' || k == QC_KEY(KEY_NPAGE) ? page
		       : k == QC_KEY(KEY_PPAGE)             ? -page
		       : k == QC_KEY(KEY_HOME)              ? -top
		       : k == QC_KEY(KEY_END)               ? maxtop
		                                            : 0;
	}
	g_ptr_array_free(lines, TRUE);
	qc_tui_load(t);
}

void qc_tui_show_help(void)
{
	erase();
	for (int i = 0; i < LINES && qc_tui_help[i]; i++)
		qc_tui_put(i, 0, qc_tui_help[i], COLS);
	refresh();
	timeout(-1);
	while (qc_tui_key() == QC_KEY(KEY_RESIZE))
		;
	timeout(250);
}
