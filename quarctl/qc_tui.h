/*
 * qc_tui.h - the TUI's internal interface (qc_tui.c, qc_tui_act.c, qc_tui_view.c)
 *
 * struct qc_tui is the state of one session: filter, window of rows,
 * marks, counts, the message line. qc_tui_load() re-reads what is shown.
 */
#ifndef GH_QC_TUI_H
#define GH_QC_TUI_H

#include "qc.h"

#include <curses.h>

enum { QC_PAIR_VIRUS = 1, QC_PAIR_BANNED, QC_PAIR_SPAM, QC_PAIR_BADH, QC_PAIR_OTHER, QC_PAIR_BAR };

/* get_wch() result as one int: function keys above the Unicode range. */
#define QC_KEY(k) ((k) + 0x100000)

struct qc_row { /* display copy of a verdict row: every string printable */
	char mail_id[13];
	char *when, *cat, *state, *sender, *rcpts, *detail, *subject;
	char *host; /* the host that wrote the row (last column) */
};

/* Invariants: rows holds the rows at positions [top, top + rows->len) of
 * the filtered list, newest first; 0 <= cursor < total (or 0 when empty);
 * top <= cursor < top + list height. */
struct qc_tui {
	struct qc *qc;
	int cat, state;      /* indexes into qc_tui_cats / qc_tui_states */
	char *search;        /* as typed, or NULL */
	int64_t total;       /* rows matching the filter */
	int64_t cursor, top; /* absolute positions */
	GPtrArray *rows;     /* struct qc_row *, rows top.. */
	GHashTable *marked;  /* mail id -> 1 */
	GArray *stats;       /* struct qc_stat */
	char status[512];    /* last message to the operator */
	gint64 last_poll;
};

void qc_tui_load(struct qc_tui *t);
/* Put at most width columns of (printable, UTF-8) s at y,x, padded. */
void qc_tui_put(int y, int x, const char *s, int width);
int qc_tui_key(void);
char *qc_tui_prompt(const char *question); /* NULL when cancelled */
int qc_tui_ask(const char *question);      /* one key */
void qc_tui_release(struct qc_tui *t, char **ids, guint n);
void qc_tui_purge(struct qc_tui *t, char **ids, guint n);
void qc_tui_list_sender(struct qc_tui *t, const char *id, enum list_kind k);
void qc_tui_detail(struct qc_tui *t, const char *id);
void qc_tui_show_help(void);

#endif
