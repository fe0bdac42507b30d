/*
 * qc_json - JSON output of verdict rows (quarctl list/show/stats --json)
 *
 * qc_json_str() writes a JSON string through json_append_str()
 * (common/json.h: escapes controls and bidi characters, replaces bytes
 * that are not UTF-8 with U+FFFD, so that the output always parses).
 * qc_json_msg() writes one object with the row's fields and its recipients;
 * qc_json_list_entry() one allow/block list entry.
 */
#include "qc.h"

#include "json.h"

#include <string.h>

/* quarctl's name for the one escaper (common/json.c), kept for its callers */
void qc_json_str(GString *out, const char *s)
{
	json_append_str(out, s);
}

static void qc_json_kv(GString *out, const char *k, const char *v, bool comma)
{
	qc_json_str(out, k);
	g_string_append_c(out, ':');
	if (v)
		qc_json_str(out, v);
	else
		g_string_append(out, "null");
	if (comma)
		g_string_append_c(out, ',');
}

static void qc_json_int(GString *out, const char *k, int64_t v)
{
	qc_json_str(out, k);
	g_string_append_printf(out, ":%" G_GINT64_FORMAT ",", v);
}

void qc_json_msg(GString *out, const struct store_msg *m)
{
	char when[32];
	qc_fmt_time(m->time, when, sizeof(when));
	g_string_append_c(out, '{');
	qc_json_kv(out, "mail_id", m->mail_id, true);
	qc_json_int(out, "time", m->time);
	qc_json_kv(out, "time_utc", when, true);
	qc_json_kv(out, "category", m->category, true);
	qc_json_kv(out, "state", m->quar_state, true);
	qc_json_kv(out, "sender", m->sender, true);
	qc_json_kv(out, "from", m->from_hdr, true);
	qc_json_kv(out, "subject", m->subject, true);
	qc_json_kv(out, "message_id", m->message_id, true);
	qc_json_kv(out, "client_addr", m->client_addr, true);
	qc_json_kv(out, "client_helo", m->client_helo, true);
	qc_json_int(out, "size", m->size);
	qc_json_kv(out, "virus_names", m->virus_names, true);
	qc_json_kv(out, "banned_names", m->banned_names, true);
	qc_json_str(out, "spam_score");
	if (m->spam_checked)
		g_string_append_printf(out, ":%.3f,", m->spam_score);
	else
		g_string_append(out, ":null,");
	qc_json_kv(out, "spam_tests", m->spam_tests, true);
	qc_json_kv(out, "quar_path", m->quar_path, true);
	qc_json_int(out, "quar_size", m->quar_size);
	qc_json_kv(out, "quar_sha256", m->quar_sha256, true);
	qc_json_kv(out, "quar_backend", m->quar_backend, true);
	qc_json_kv(out, "host", m->host, true);
	qc_json_str(out, "rcpts");
	g_string_append(out, ":[");
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct store_rcpt *r = &m->rcpt[i];
		g_string_append(out, i ? ",{" : "{");
		qc_json_kv(out, "addr", r->addr, true);
		qc_json_kv(out, "destiny", r->destiny, true);
		qc_json_kv(out, "smtp_answer", r->smtp_answer, true);
		qc_json_int(out, "released_at", r->released_at);
		qc_json_kv(out, "list_entry", r->list_entry ? r->list_entry : "", true);
		qc_json_kv(out, "release_answer", r->release_answer, false);
		g_string_append_c(out, '}');
	}
	g_string_append(out, "]}");
}

void qc_json_list_entry(GString *out, const struct list_entry *e)
{
	g_string_append_c(out, '{');
	qc_json_int(out, "id", e->id);
	qc_json_kv(out, "scope", e->scope, true);
	qc_json_kv(out, "kind", list_kind_name(e->kind), true);
	qc_json_kv(out, "pattern", e->pattern, true);
	qc_json_kv(out, "note", e->note, true);
	qc_json_kv(out, "created_by", e->created_by, true);
	qc_json_int(out, "created_at", e->created_at);
	qc_json_str(out, "expires");
	g_string_append_printf(out, ":%" G_GINT64_FORMAT "}", e->expires);
}
