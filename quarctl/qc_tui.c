/*
 * qc_tui - the interactive quarantine browser (ncursesw)
 *
 * qc_tui_run() shows a list (time, category, state, sender, recipients,
 * verdict detail, subject) coloured by category, a status bar with the
 * counts and the active filter, and a detail view (verdict, envelope,
 * headers, a text preview of the body). Keys are listed in qc_tui_help.
 *
 * Only the visible window of rows is read (store_list with LIMIT/OFFSET),
 * plus one COUNT for the scroll range, so a store of 100,000 rows opens as
 * fast as one of ten. The window, the count and the status counts are
 * re-read every QC_TUI_POLL_US so that new quarantined mail appears.
 * KEY_RESIZE (ncurses' SIGWINCH handling) recomputes the layout.
 *
 * All text that came from a message went through log_printable() when the
 * row was loaded: an escape sequence in a subject is shown as '?', never
 * sent to the terminal.
 */
#include "qc_tui.h"

#include "log.h"

#include <string.h>
#include <time.h>

#define QC_TUI_POLL_US (2 * G_USEC_PER_SEC)

static const char *const qc_tui_cats[] = {NULL, "virus", "banned", "spam", "badh"};
static const char *const qc_tui_states[] = {"quarantined", "released", "purged", NULL};
#define QC_NCATS 5
#define QC_NSTATES 4

static void qc_row_free(gpointer p)
{
	struct qc_row *r = p;
	g_free(r->when);
	g_free(r->cat);
	g_free(r->state);
	g_free(r->sender);
	g_free(r->rcpts);
	g_free(r->detail);
	g_free(r->subject);
	g_free(r->host);
	g_free(r);
}

static int qc_tui_list_h(void)
{
	return LINES > 4 ? LINES - 3 : 1; /* header, message line, status bar */
}

/* ---- the filter ---- */

struct qc_tui_search {
	char *sender, *rcpt, *subject, *virus; /* globs */
};

static void qc_tui_search_split(const char *s, struct qc_tui_search *out)
{
	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return;
	const char *prefixes[] = {"from:", "to:", "virus:"};
	char **slots[] = {&out->sender, &out->rcpt, &out->virus};
	for (int i = 0; i < 3; i++) {
		if (g_str_has_prefix(s, prefixes[i])) {
			*slots[i] = g_strdup_printf("*%s*", s + strlen(prefixes[i]));
			return;
		}
	}
	out->subject = g_strdup_printf("*%s*", s);
}

static void qc_tui_search_free(struct qc_tui_search *s)
{
	g_free(s->sender);
	g_free(s->rcpt);
	g_free(s->subject);
	g_free(s->virus);
}

static void qc_tui_filter(const struct qc_tui *t, const struct qc_tui_search *s, struct store_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->category = qc_tui_cats[t->cat];
	f->quar_state = qc_tui_states[t->state];
	f->sender = s->sender;
	f->rcpt = s->rcpt;
	f->subject = s->subject;
	f->virus = s->virus;
}

/* The rows the filter matches (store_count mirrors store_list); 0 when
 * the store cannot say. */
static int64_t qc_tui_count(struct qc_tui *t, const struct store_filter *f)
{
	int64_t n = store_count(t->qc->st, f);
	return n < 0 ? 0 : n;
}

static int qc_tui_add_row(const struct store_msg *m, void *arg)
{
	GPtrArray *rows = arg;
	struct qc_row *r = g_new0(struct qc_row, 1);
	char when[32], *rc = qc_rcpt_list(m), *detail = qc_detail(m);
	time_t tt = (time_t)m->time;
	struct tm tm;

	g_strlcpy(r->mail_id, m->mail_id, sizeof(r->mail_id));
	if (!gmtime_r(&tt, &tm) || !strftime(when, sizeof(when), "%m-%d %H:%M", &tm))
		g_strlcpy(when, "?", sizeof(when));
	r->when = g_strdup(when);
	r->cat =
	    g_strdup(m->quar_path && g_str_has_prefix(m->quar_path, "archive/") ? "archive" : m->category);
	r->state = g_strdup(m->quar_state);
	r->sender = log_printable(*m->sender ? m->sender : "<>", 200);
	r->rcpts = log_printable(rc, 200);
	r->detail = log_printable(detail, 200);
	r->subject = log_printable(m->subject, 300);
	r->host = log_printable(m->host ? m->host : "", 100);
	g_free(rc);
	g_free(detail);
	g_ptr_array_add(rows, r);
	return 0;
}

/* Re-read the count, keep the cursor in range, re-read the window. */
void qc_tui_load(struct qc_tui *t)
{
	struct qc_tui_search s;
	struct store_filter f;
	int h = qc_tui_list_h();

	qc_tui_search_split(t->search, &s);
	qc_tui_filter(t, &s, &f);
	t->total = qc_tui_count(t, &f);
	if (t->cursor >= t->total)
		t->cursor = t->total > 0 ? t->total - 1 : 0;
	if (t->cursor < t->top)
		t->top = t->cursor;
	if (t->cursor >= t->top + h)
		t->top = t->cursor - h + 1;
	if (t->top < 0)
		t->top = 0;
	f.limit = h;
	f.offset = (int)t->top;
	g_ptr_array_set_size(t->rows, 0);
	if (store_list(t->qc->st, &f, qc_tui_add_row, t->rows) < 0)
		g_snprintf(t->status, sizeof(t->status), "store: %s", store_error(t->qc->st));
	g_array_set_size(t->stats, 0);
	qc_stats(t->qc, t->stats);
	qc_tui_search_free(&s);
	t->last_poll = g_get_monotonic_time();
}

/* ---- drawing ---- */

static int qc_tui_pair(const char *cat)
{
	if (strcmp(cat, "virus") == 0)
		return QC_PAIR_VIRUS;
	if (strcmp(cat, "banned") == 0)
		return QC_PAIR_BANNED;
	if (strcmp(cat, "spam") == 0)
		return QC_PAIR_SPAM;
	if (strcmp(cat, "badh") == 0)
		return QC_PAIR_BADH;
	return QC_PAIR_OTHER;
}

/* Put at most width columns of (printable, UTF-8) s at y,x, padded. */
void qc_tui_put(int y, int x, const char *s, int width)
{
	const char *p = s;
	int used = 0;

	if (width <= 0)
		return;
	while (*p) {
		gunichar c = g_utf8_get_char(p);
		int w = g_unichar_iswide(c) ? 2 : g_unichar_iszerowidth(c) ? 0 : 1;
		if (used + w > width)
			break;
		used += w;
		p = g_utf8_next_char(p);
	}
	mvaddnstr(y, x, s, (int)(p - s));
	for (; used < width; used++)
		addch(' ');
}

/* Columns: mark, time, category, state, sender, recipients, detail,
 * subject, host. Below 100 columns the state is one letter (Q R P). */
enum { QC_C_MARK, QC_C_TIME, QC_C_CAT, QC_C_STATE, QC_C_SENDER, QC_C_RCPT, QC_C_DETAIL, QC_C_SUBJ, QC_C_HOST,
       QC_NCOLS };

struct qc_cols {
	int x[QC_NCOLS], w[QC_NCOLS];
	bool short_state;
};

static struct qc_cols qc_tui_cols(void)
{
	struct qc_cols c;
	int fixed_w[] = {1, 11, 6, COLS >= 100 ? 11 : 1};
	int x = 0, rest;

	c.short_state = COLS < 100;
	for (int i = 0; i <= QC_C_STATE; i++) {
		c.x[i] = x;
		c.w[i] = fixed_w[i];
		x += fixed_w[i] + (i ? 1 : 0);
	}
	rest = MAX(COLS - x - 4, 24);
	c.w[QC_C_SENDER] = rest * 20 / 100;
	c.w[QC_C_RCPT] = rest * 18 / 100;
	c.w[QC_C_DETAIL] = rest * 16 / 100;
	c.w[QC_C_HOST] = rest * 12 / 100;
	c.w[QC_C_SUBJ] = rest - c.w[QC_C_SENDER] - c.w[QC_C_RCPT] - c.w[QC_C_DETAIL] - c.w[QC_C_HOST];
	for (int i = QC_C_SENDER; i < QC_NCOLS; i++) {
		c.x[i] = x;
		x += c.w[i] + 1;
	}
	return c;
}

static void qc_tui_draw_row(struct qc_tui *t, int y, const struct qc_row *r, bool cur)
{
	struct qc_cols c = qc_tui_cols();
	bool mark = g_hash_table_contains(t->marked, r->mail_id);
	char flag[2] = {(char)g_ascii_toupper(r->state[0]), '\0'};
	const char *v[QC_NCOLS] = {mark ? "*" : " ", r->when,  r->cat,    c.short_state ? flag : r->state,
	                           r->sender,        r->rcpts, r->detail, r->subject, r->host};

	attrset(COLOR_PAIR(qc_tui_pair(r->cat)) | (cur ? A_REVERSE : 0) | (mark ? A_BOLD : 0));
	qc_tui_put(y, 0, "", COLS); /* the whole line in the row's colours */
	for (int i = 0; i < QC_NCOLS; i++)
		qc_tui_put(y, c.x[i], v[i], c.w[i]);
	attrset(A_NORMAL);
}

static void qc_tui_draw_bar(struct qc_tui *t)
{
	GString *s = g_string_new(NULL);
	g_string_append_printf(s, " %s/%s", qc_tui_cats[t->cat] ? qc_tui_cats[t->cat] : "all",
	                       qc_tui_states[t->state] ? qc_tui_states[t->state] : "any");
	if (t->search) {
		char *p = log_printable(t->search, 30);
		g_string_append_printf(s, " /%s", p);
		g_free(p);
	}
	g_string_append_printf(s, "  %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " |",
	                       t->total ? t->cursor + 1 : 0, t->total);
	const char *cats[] = {"virus", "banned", "spam", "badh"};
	for (int i = 0; i < 4; i++) {
		int64_t n = 0;
		for (guint j = 0; j < t->stats->len; j++) {
			struct qc_stat *st = &g_array_index(t->stats, struct qc_stat, j);
			if (strcmp(st->category, cats[i]) == 0 && strcmp(st->state, "quarantined") == 0)
				n += st->count;
		}
		g_string_append_printf(s, " %s %" G_GINT64_FORMAT, cats[i], n);
	}
	if (g_hash_table_size(t->marked))
		g_string_append_printf(s, " | marked %u", g_hash_table_size(t->marked));
	g_string_append(s, " | ? help");
	attrset(COLOR_PAIR(QC_PAIR_BAR) | A_REVERSE);
	qc_tui_put(LINES - 1, 0, s->str, COLS);
	attrset(A_NORMAL);
	g_string_free(s, TRUE);
}

static void qc_tui_draw(struct qc_tui *t)
{
	static const char *const titles[QC_NCOLS] = {"",       "TIME (UTC)", "CAT",    "STATE",
	                                             "SENDER", "RECIPIENTS", "DETAIL", "SUBJECT", "HOST"};
	struct qc_cols c = qc_tui_cols();
	int h = qc_tui_list_h();

	erase();
	attrset(A_BOLD | A_UNDERLINE);
	qc_tui_put(0, 0, "", COLS);
	for (int i = 0; i < QC_NCOLS; i++)
		qc_tui_put(0, c.x[i], i == QC_C_STATE && c.short_state ? "S" : titles[i], c.w[i]);
	attrset(A_NORMAL);
	for (int i = 0; i < h && i < (int)t->rows->len; i++)
		qc_tui_draw_row(t, 1 + i, g_ptr_array_index(t->rows, i), t->top + i == t->cursor);
	if (t->total == 0)
		mvaddstr(2, 2, "(no messages match; f/s change the filter, / searches)");
	qc_tui_put(LINES - 2, 0, t->status, COLS);
	qc_tui_draw_bar(t);
	refresh();
}

static const struct qc_row *qc_tui_current(struct qc_tui *t)
{
	int64_t i = t->cursor - t->top;
	return i >= 0 && i < (int64_t)t->rows->len ? g_ptr_array_index(t->rows, (guint)i) : NULL;
}

/* Run fn on the marked ids (or the current one), then clear the marks. */
static void qc_tui_on_ids(struct qc_tui *t, bool marked, void (*fn)(struct qc_tui *, char **, guint))
{
	GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
	if (marked) {
		GList *keys = g_hash_table_get_keys(t->marked);
		for (GList *l = keys; l; l = l->next)
			g_ptr_array_add(ids, g_strdup(l->data));
		g_list_free(keys);
	} else if (qc_tui_current(t)) {
		g_ptr_array_add(ids, g_strdup(qc_tui_current(t)->mail_id));
	}
	if (ids->len == 0) {
		g_strlcpy(t->status, marked ? "nothing marked (Space marks)" : "no message",
		          sizeof(t->status));
	} else {
		fn(t, (char **)ids->pdata, ids->len);
		if (marked)
			g_hash_table_remove_all(t->marked);
	}
	g_ptr_array_free(ids, TRUE);
	qc_tui_load(t);
}

/* ---- the loop ---- */

static void qc_tui_move(struct qc_tui *t, int64_t to)
{
	int h = qc_tui_list_h();
	int64_t old_top = t->top;
	t->cursor = CLAMP(to, 0, t->total > 0 ? t->total - 1 : 0);
	if (t->cursor < t->top)
		t->top = t->cursor;
	if (t->cursor >= t->top + h)
		t->top = t->cursor - h + 1;
	if (t->top != old_top)
		qc_tui_load(t);
}

static void qc_tui_cycle_filter(struct qc_tui *t, bool category)
{
	if (category)
		t->cat = (t->cat + 1) % QC_NCATS;
	else
		t->state = (t->state + 1) % QC_NSTATES;
	t->cursor = t->top = 0;
	qc_tui_load(t);
}

static void qc_tui_search(struct qc_tui *t)
{
	char *s = qc_tui_prompt("Search (subject; from: to: virus:): ");
	if (!s)
		return;
	g_free(t->search);
	t->search = *s ? s : NULL;
	if (!*s)
		g_free(s);
	t->cursor = t->top = 0;
	qc_tui_load(t);
}

static void qc_tui_toggle_mark(struct qc_tui *t)
{
	const struct qc_row *r = qc_tui_current(t);
	if (!r)
		return;
	if (!g_hash_table_remove(t->marked, r->mail_id))
		g_hash_table_add(t->marked, g_strdup(r->mail_id));
	qc_tui_move(t, t->cursor + 1);
}

/* One key; false to quit. */
static bool qc_tui_handle(struct qc_tui *t, int k)
{
	int h = qc_tui_list_h();
	const struct qc_row *r = qc_tui_current(t);

	switch (k) {
	case 'q':
		return false;
	case 'j':
	case QC_KEY(KEY_DOWN):
		qc_tui_move(t, t->cursor + 1);
		break;
	case 'k':
	case QC_KEY(KEY_UP):
		qc_tui_move(t, t->cursor - 1);
		break;
	case QC_KEY(KEY_NPAGE):
		qc_tui_move(t, t->cursor + h);
		break;
	case QC_KEY(KEY_PPAGE):
		qc_tui_move(t, t->cursor - h);
		break;
	case QC_KEY(KEY_HOME):
	case 'g':
		qc_tui_move(t, 0);
		break;
	case QC_KEY(KEY_END):
	case 'G':
		qc_tui_move(t, t->total - 1);
		break;
	case 'f':
		qc_tui_cycle_filter(t, true);
		break;
	case 's':
		qc_tui_cycle_filter(t, false);
		break;
	case '/':
		qc_tui_search(t);
		break;
	case ' ':
		qc_tui_toggle_mark(t);
		break;
	case '?':
		qc_tui_show_help();
		break;
	case 'r':
		qc_tui_on_ids(t, false, qc_tui_release);
		break;
	case 'p':
		qc_tui_on_ids(t, false, qc_tui_purge);
		break;
	case 'R':
		qc_tui_on_ids(t, true, qc_tui_release);
		break;
	case 'P':
		qc_tui_on_ids(t, true, qc_tui_purge);
		break;
	case 'a':
	case 'b':
		if (r) {
			char id[13];
			g_strlcpy(id, r->mail_id, sizeof(id));
			qc_tui_list_sender(t, id, k == 'a' ? LIST_ALLOW : LIST_BLOCK);
			qc_tui_load(t);
		}
		break;
	case '\n':
	case '\r':
	case QC_KEY(KEY_ENTER):
		if (r) {
			char id[13];
			g_strlcpy(id, r->mail_id, sizeof(id));
			qc_tui_detail(t, id);
		}
		break;
	case QC_KEY(KEY_RESIZE):
		qc_tui_load(t);
		break;
	default:
		break;
	}
	return true;
}

static void qc_tui_colors(void)
{
	if (!has_colors())
		return;
	start_color();
	use_default_colors();
	init_pair(QC_PAIR_VIRUS, COLOR_RED, -1);
	init_pair(QC_PAIR_BANNED, COLOR_MAGENTA, -1);
	init_pair(QC_PAIR_SPAM, COLOR_YELLOW, -1);
	init_pair(QC_PAIR_BADH, COLOR_CYAN, -1);
	init_pair(QC_PAIR_OTHER, -1, -1);
	init_pair(QC_PAIR_BAR, COLOR_BLUE, -1);
}

int qc_tui_run(struct qc *qc, bool bench_first_screen)
{
	gint64 t0 = g_get_monotonic_time();
	struct qc_tui t = {
	    .qc = qc,
	    .rows = g_ptr_array_new_with_free_func(qc_row_free),
	    .marked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
	    .stats = g_array_new(FALSE, FALSE, sizeof(struct qc_stat)),
	};

	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(50);
	qc_tui_colors();
	timeout(250);
	qc_tui_load(&t);
	qc_tui_draw(&t);
	if (bench_first_screen) {
		gint64 ms = (g_get_monotonic_time() - t0) / 1000;
		endwin();
		fprintf(stderr, "first screen: %" G_GINT64_FORMAT " ms (%" G_GINT64_FORMAT " rows match)\n",
		        ms, t.total);
		goto out;
	}
	for (;;) {
		int k = qc_tui_key();
		if (k == ERR) {
			if (g_get_monotonic_time() - t.last_poll < QC_TUI_POLL_US)
				continue;
			qc_tui_load(&t); /* new mail, other operators' actions */
		} else if (!qc_tui_handle(&t, k)) {
			break;
		}
		qc_tui_draw(&t);
	}
	endwin();
out:
	g_ptr_array_free(t.rows, TRUE);
	g_hash_table_destroy(t.marked);
	g_array_free(t.stats, TRUE);
	g_free(t.search);
	return QC_EXIT_OK;
}
