/*
 * qc_tui_act - the TUI's prompts and its release and purge actions
 *
 * qc_tui_key()      one key from get_wch() (function keys as QC_KEY(k))
 * qc_tui_prompt()   a line of input on the message line (Esc cancels)
 * qc_tui_ask()      one key in answer to a question
 * qc_tui_release()  confirm (y, n, or o for another address), ask again for
 *                   what was released already, then qc_release_one() each
 *                   (l: and teach the spam engine each as ham, qc_learn())
 * qc_tui_purge()    confirm, then qc_purge_one() each
 * qc_tui_list_sender() a: release and allow the sender, b: block it, for
 *                   every recipient still held (the question lists them)
 *
 * The outcome, in the server's words for a release, goes to the message line.
 */
#include "qc_tui.h"

#include <string.h>

#include "log.h"

/* ---- input ---- */

int qc_tui_key(void)
{
	wint_t ch;
	int r = get_wch(&ch);
	if (r == ERR)
		return ERR;
	return r == KEY_CODE_YES ? (int)ch + 0x100000 : (int)ch;
}

/* A one-line prompt on the message line; NULL when cancelled (Esc). */
char *qc_tui_prompt(const char *question)
{
	GString *in = g_string_new(NULL);
	timeout(-1);
	curs_set(1);
	for (;;) {
		char *shown = g_strdup_printf("%s%s", question, in->str);
		qc_tui_put(LINES - 2, 0, shown, COLS);
		g_free(shown);
		move(LINES - 2, MIN(COLS - 1, (int)(strlen(question) + g_utf8_strlen(in->str, -1))));
		refresh();
		int k = qc_tui_key();
		if (k == '\n' || k == '\r' || k == QC_KEY(KEY_ENTER))
			break;
		if (k == 27) {
			g_string_free(in, TRUE);
			in = NULL;
			break;
		}
		if ((k == QC_KEY(KEY_BACKSPACE) || k == 127 || k == 8) && in->len) {
			const char *prev = g_utf8_find_prev_char(in->str, in->str + in->len);
			g_string_truncate(in, prev ? (gsize)(prev - in->str) : 0);
		} else if (k >= 0x20 && k < 0x100000 && k != 127 && in->len < 200) {
			g_string_append_unichar(in, (gunichar)k);
		}
	}
	curs_set(0);
	timeout(250);
	return in ? g_string_free(in, FALSE) : NULL;
}

int qc_tui_ask(const char *question)
{
	timeout(-1);
	qc_tui_put(LINES - 2, 0, question, COLS);
	refresh();
	int k;
	do
		k = qc_tui_key();
	while (k == QC_KEY(KEY_RESIZE));
	timeout(250);
	return k;
}

/* ---- actions ---- */

static bool qc_tui_was_released(struct qc_tui *t, const char *id)
{
	struct store_msg *m = NULL;
	bool r = store_get(t->qc->st, id, &m) == 0 && strcmp(m->quar_state, "released") == 0;
	store_msg_free(m);
	return r;
}

void qc_tui_release(struct qc_tui *t, char **ids, guint n)
{
	char *q = n == 1 ? g_strdup_printf("Release %s? y)es  n)o  o)ther address  l)earn as ham too ", ids[0])
	                 : g_strdup_printf("Release %u marked messages? y)es  n)o  o)ther address  l)earn as ham too ",
	                                   n);
	int k = qc_tui_ask(q);
	g_free(q);
	char *to[2] = {NULL, NULL};
	bool learn = k == 'l' || k == 'L';
	if (learn) {
		k = 'y';
	} else if (k == 'o') {
		to[0] = qc_tui_prompt("Release to address: ");
		if (!to[0] || !*to[0] || strchr(to[0], ' ')) {
			g_free(to[0]);
			g_strlcpy(t->status, "release cancelled", sizeof(t->status));
			return;
		}
	} else if (k != 'y' && k != 'Y') {
		g_strlcpy(t->status, "release cancelled", sizeof(t->status));
		return;
	}
	guint ok = 0;
	char *last = NULL;
	for (guint i = 0; i < n; i++) {
		struct qc_release_opts o = {to[0] ? (const char *const *)to : NULL, false, false, false};
		if (qc_tui_was_released(t, ids[i])) {
			char *again = g_strdup_printf("%s was released already. Release again? y/N ", ids[i]);
			int a = qc_tui_ask(again);
			g_free(again);
			if (a != 'y' && a != 'Y')
				continue;
			o.force = true;
		}
		g_free(last);
		if (qc_release_one(t->qc, ids[i], &o, &last) != QC_OK)
			continue;
		ok++;
		if (learn) { /* a failed learning is said (and audited), the release stands */
			char *l = NULL, *both;
			qc_learn(t->qc, ids[i], false, &l);
			both = g_strdup_printf("%s; %s", l, last); /* a failure first: the line may be cut */
			g_free(last);
			g_free(l);
			last = both;
		}
	}
	if (n == 1 || !last)
		g_strlcpy(t->status, last ? last : "nothing released", sizeof(t->status));
	else
		g_snprintf(t->status, sizeof(t->status), "%u of %u released; last: %s", ok, n, last);
	g_free(last);
	g_free(to[0]);
}

void qc_tui_purge(struct qc_tui *t, char **ids, guint n)
{
	char *q = n == 1 ? g_strdup_printf("Purge %s? The file is removed. y/N ", ids[0])
	                 : g_strdup_printf("Purge %u marked messages? y/N ", n);
	int k = qc_tui_ask(q);
	g_free(q);
	if (k != 'y' && k != 'Y') {
		g_strlcpy(t->status, "purge cancelled", sizeof(t->status));
		return;
	}
	guint ok = 0;
	char *last = NULL;
	for (guint i = 0; i < n; i++) {
		g_free(last);
		if (qc_purge_one(t->qc, ids[i], "purge", &last) == QC_OK)
			ok++;
	}
	if (n == 1)
		g_strlcpy(t->status, last, sizeof(t->status));
	else
		g_snprintf(t->status, sizeof(t->status), "%u of %u purged; last: %s", ok, n,
		           last ? last : "");
	g_free(last);
}

void qc_tui_list_sender(struct qc_tui *t, const char *id, enum list_kind k)
{
	char *msg = NULL, *sender = NULL, *held = qc_held_rcpts(t->qc, id, &sender, &msg);
	if (!held) {
		g_strlcpy(t->status, msg ? msg : "not found", sizeof(t->status));
		g_free(msg);
		return;
	}
	char *s = log_printable(*sender ? sender : "<>", 120), *h = log_printable(*held ? held : "nobody", 300);
	char *q = k == LIST_ALLOW ? g_strdup_printf("Allow %s for %s and release? y/N ", s, h)
	                          : g_strdup_printf("Block %s for %s? y/N ", s, h);
	int key = qc_tui_ask(q);
	g_free(q);
	g_free(s);
	g_free(h);
	g_free(held);
	g_free(sender);
	if (key != 'y' && key != 'Y') {
		g_strlcpy(t->status, k == LIST_ALLOW ? "allow cancelled" : "block cancelled", sizeof(t->status));
		return;
	}
	/* the entries first: they are for the recipients held before the release */
	if (qc_list_sender(t->qc, id, k, &msg) == QC_OK && k == LIST_ALLOW) {
		struct qc_release_opts o = {NULL, false, false, false};
		char *rel = NULL, *both;
		qc_release_one(t->qc, id, &o, &rel);
		both = g_strdup_printf("%s; %s", rel, msg);
		g_free(msg);
		g_free(rel);
		msg = both;
	}
	g_strlcpy(t->status, msg, sizeof(t->status));
	g_free(msg);
}
