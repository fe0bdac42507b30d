/*
 * verdict - stages, policy, headers and quarantine for one message
 * (see verdict.h)
 *
 * Functions: verdict_init, verdict_run, verdict_reload, verdict_fini,
 * verdict_log_words, verdict_reply, verdict_banner, verdict_signatures,
 * verdict_withdraw.
 *
 * Invariants: the stage list is fixed at init (a stage turned on or off
 * in the config needs a restart; its settings reload). The policy db and
 * the quarantine settings are swapped as one scan_live (v->conf) and used
 * by reference, so a reload never changes them under a message in progress.
 * Failures: a stage or the policy failing to start fails verdict_init;
 * per message, everything that could lose mail answers TEMPFAIL.
 */
#include "verdict.h"

#include <string.h>

#include "log.h"
#include "mime_walk.h"
#include "policy.h"
#include "quar.h"
#include "scan_badh.h"
#include "scan_banned.h"
#include "scan_clamav.h"
#include "scan_spamd.h"
#include "scan_util.h"

#define VERDICT_MAX_STAGES 4

struct verdict_stage {
	const struct stage *st;
	void *state;
};

/* Settings that reload as one piece. */
struct verdict_conf {
	struct policy_db *policy;
	char *quar_dir;
	bool quar_gz;
	bool quar_db; /* quarantine_backend = database */
};

struct verdict_ctx {
	struct verdict_stage stages[VERDICT_MAX_STAGES];
	int n;
	void *clam; /* the clamav stage's state, for the banner; NULL when disabled */
	struct scan_live conf; /* struct verdict_conf */
};

static void verdict_conf_clear(gpointer p)
{
	struct verdict_conf *vc = p;
	policy_unref(vc->policy);
	g_free(vc->quar_dir);
}

static struct verdict_conf *verdict_conf_new(const struct conf *c, char **err)
{
	struct policy_db *db = policy_load(c, err);
	if (!db)
		return NULL;
	struct verdict_conf *vc = g_atomic_rc_box_new0(struct verdict_conf);
	vc->policy = db;
	vc->quar_dir = g_strdup(conf_str(c, "scand", "quarantine_dir"));
	vc->quar_gz = conf_bool(c, "scand", "quarantine_compress");
	vc->quar_db = strcmp(conf_str(c, "scand", "quarantine_backend"), "database") == 0;
	return vc;
}

int verdict_init(const struct conf *c, struct verdict_ctx **out, char **err)
{
	const struct {
		const struct stage *st;
		const char *section;
	} order[] = {{&scan_banned_stage, "banned"}, {&scan_clamav_stage, "clamav"}, {&scan_spamd_stage, "spam"},
		     {&scan_badh_stage, NULL}};
	struct verdict_ctx *v = g_new0(struct verdict_ctx, 1);
	scan_live_init(&v->conf, NULL, verdict_conf_clear);
	for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
		if (order[i].section && !conf_bool(c, order[i].section, "enabled"))
			continue;
		struct verdict_stage *s = &v->stages[v->n];
		s->st = order[i].st;
		if (s->st->init(c, &s->state, err) < 0) {
			verdict_fini(v);
			return -1;
		}
		if (s->st == &scan_clamav_stage)
			v->clam = s->state;
		v->n++;
	}
	struct verdict_conf *vc = verdict_conf_new(c, err);
	if (!vc) {
		verdict_fini(v);
		return -1;
	}
	scan_live_swap(&v->conf, vc);
	*out = v;
	return 0;
}

void verdict_fini(struct verdict_ctx *v)
{
	if (!v)
		return;
	for (int i = 0; i < v->n; i++)
		if (v->stages[i].st->fini)
			v->stages[i].st->fini(v->stages[i].state);
	scan_live_clear(&v->conf);
	g_free(v);
}

int verdict_reload(struct verdict_ctx *v, const struct conf *c, char **err)
{
	int rc = 0;
	GString *errs = g_string_new("");
	for (int i = 0; i < v->n; i++) {
		char *e = NULL;
		if (v->stages[i].st->reload && v->stages[i].st->reload(v->stages[i].state, c, &e) < 0) {
			g_string_append_printf(errs, "%s%s", errs->len ? "; " : "", e);
			rc = -1;
		}
		g_free(e);
	}
	char *e = NULL;
	struct verdict_conf *n = verdict_conf_new(c, &e);
	if (n) {
		scan_live_swap(&v->conf, n);
	} else {
		msg_warn("policy: %s; keeping the old policy", e);
		g_string_append_printf(errs, "%s%s", errs->len ? "; " : "", e);
		g_free(e);
		rc = -1;
	}
	if (rc < 0)
		*err = g_strdup(errs->str);
	g_string_free(errs, TRUE);
	return rc;
}

char *verdict_banner(struct verdict_ctx *v)
{
	if (!v->clam)
		return g_strdup_printf("Gatehouse scand %s", GH_VERSION);
	char *b = scan_clamav_banner(v->clam), *r = g_strdup_printf("Gatehouse scand %s (%s)", GH_VERSION, b);
	g_free(b);
	return r;
}

unsigned verdict_signatures(struct verdict_ctx *v, time_t *built)
{
	if (built)
		*built = 0;
	return v->clam ? scan_clamav_sigs(v->clam, built) : 0;
}

static void verdict_remove_incoming(struct msg *m)
{
	static const char *const ours[] = {"X-Virus-Scanned", "X-Quarantine-ID", "X-Spam-Status", "X-Spam-Level",
					   "X-Spam-Flag",     "X-Spam-Score",    "X-Spam-Report", "X-Gatehouse-Alert"};
	for (size_t i = 0; i < G_N_ELEMENTS(ours); i++)
		msg_remove_header(m, ours[i]);
}

/* The stages share one MIME tree (m->mime): GMime parses the message at
 * most once, for the first stage that walks it. */
static enum verdict_result verdict_stages(struct verdict_ctx *v, struct msg *m)
{
	enum verdict_result vr = VERDICT_OK;
	m->mime = mime_doc_new(m->data, m->len);
	for (int i = 0; i < v->n; i++) {
		enum stage_result r = v->stages[i].st->scan(v->stages[i].state, m);
		if (r == STAGE_TEMPFAIL) {
			if (m->tempfail_reply) /* the stage's verdict (a greylist), not a failure */
				msg_info("(%s) %s stage: answering %s", m->mail_id, v->stages[i].st->name, m->tempfail_reply);
			else
				msg_warn("(%s) %s stage failed: answering tempfail", m->mail_id, v->stages[i].st->name);
			vr = VERDICT_TEMPFAIL;
			break;
		}
	}
	mime_doc_free(m->mime);
	m->mime = NULL;
	return vr;
}

/* The quarantine directory for a category; unchecked mail that is kept
 * goes with the viruses (it may be one). */
static const char *verdict_quar_category(enum msg_category c)
{
	switch (c) {
	case CAT_VIRUS:
	case CAT_UNCHECKED: return "virus";
	case CAT_BANNED: return "banned";
	case CAT_SPAM: return "spam";
	case CAT_BADH: return "badh";
	default: return "archive";
	}
}

static int verdict_quarantine(const struct verdict_conf *vc, struct msg *m)
{
	bool keep = false;
	for (guint i = 0; i < m->rcpts->len; i++)
		keep = keep || ((struct msg_rcpt *)g_ptr_array_index(m->rcpts, i))->quarantine;
	if (!keep && !policy_archive(vc->policy))
		return 0;
	const char *cat = keep ? verdict_quar_category(m->category) : "archive";
	/* a database copy is always gzip; its name says so as a file's would */
	char *rel = quar_relpath(cat, m->received, m->mail_id, vc->quar_gz || vc->quar_db), *err = NULL;
	if (!rel) {
		msg_warn("(%s) quarantine: no path for category %s", m->mail_id, cat);
		return -1;
	}
	int rc;
	if (vc->quar_db) { /* the store writes it in the verdict's transaction */
		rc = quar_pack(m->data, m->len, &m->quar_blob, &m->quar_blob_len, m->quar_sha256, &err);
		m->quar_size = (int64_t)m->quar_blob_len;
	} else {
		rc = quar_write(vc->quar_dir, rel, m->data, m->len, vc->quar_gz, &m->quar_size, m->quar_sha256, &err);
	}
	if (rc < 0) {
		msg_warn("(%s) quarantine %s: %s", m->mail_id, rel, err);
		g_free(err);
		g_free(rel);
		return -1;
	}
	g_free(m->quar_path);
	m->quar_path = rel;
	msg_add_header(m, "X-Quarantine-ID: <%s>", m->mail_id);
	return 0;
}

void verdict_withdraw(struct verdict_ctx *v, struct msg *m)
{
	char *err = NULL;
	if (!m->quar_path || m->quar_blob) /* a database copy went with the settle */
		return;
	struct verdict_conf *vc = scan_live_get(&v->conf);
	if (quar_remove(vc->quar_dir, m->quar_path, &err) < 0) {
		/* the row says purged: fsck reports the file, which nothing releases */
		msg_warn("(%s) withdrawing %s: %s", m->mail_id, m->quar_path, err);
		g_free(err);
	}
	scan_live_put(&v->conf, vc);
}

/* The forwarded copy says when a list entry decided the spam verdict of a
 * passed recipient (the first one: the copy is shared): X-Spam-Status
 * becomes "No, ... listed=[allow #N for SCOPE: PATTERN]" without the flag
 * and the subject tag, or "Yes, ... listed=[block ...]" with the flag. The
 * entry's text was validated (lists.c): no CR, LF or space can reach the
 * header from it. */
static void verdict_list_headers(struct msg *m)
{
	const struct list_entry *le = NULL;
	for (guint i = 0; i < m->rcpts->len && !le; i++) {
		const struct msg_rcpt *r = g_ptr_array_index(m->rcpts, i);
		if (r->destiny == DESTINY_PASS)
			le = r->list;
	}
	if (!le)
		return;
	char *why = list_entry_describe(le), *old = msg_take_added(m, "X-Spam-Status"), *rest = old;
	g_free(msg_take_added(m, "X-Spam-Flag"));
	if (rest && (g_str_has_prefix(rest, "Yes, ") || g_str_has_prefix(rest, "No, ")))
		rest = strchr(rest, ' ') + 1;
	if (le->kind == LIST_ALLOW) {
		char *tagged = msg_take_added(m, "Subject");
		if (tagged)
			msg_keep_header(m, "Subject"); /* the original subject, untagged */
		g_free(tagged);
	} else {
		msg_add_header(m, "X-Spam-Flag: YES");
	}
	msg_add_header(m, "X-Spam-Status: %s, %s%slisted=[%s]", le->kind == LIST_ALLOW ? "No" : "Yes",
	               rest ? rest : "", rest ? " " : "", why);
	g_free(old);
	g_free(why);
}

enum verdict_result verdict_run(struct verdict_ctx *v, struct msg *m)
{
	gint64 t0 = g_get_monotonic_time();
	verdict_remove_incoming(m);
	if (verdict_stages(v, m) == VERDICT_TEMPFAIL)
		return VERDICT_TEMPFAIL;
	if (v->clam) {
		char *b = verdict_banner(v);
		msg_add_header(m, "X-Virus-Scanned: %s", b);
		g_free(b);
	}
	struct verdict_conf *vc = scan_live_get(&v->conf);
	policy_apply(vc->policy, m);
	verdict_list_headers(m);
	int rc = verdict_quarantine(vc, m);
	scan_live_put(&v->conf, vc);
	m->scan_ms = (g_get_monotonic_time() - t0) / 1000;
	return rc < 0 ? VERDICT_TEMPFAIL : VERDICT_OK;
}

/* What the category is about, for logs and replies: printable, bounded. */
static char *verdict_detail(const struct msg *m)
{
	GString *d = g_string_new("");
	GPtrArray *names = m->category == CAT_VIRUS ? m->virus_names : m->category == CAT_BANNED ? m->banned_names : NULL;
	for (guint i = 0; names && i < names->len; i++)
		g_string_append_printf(d, "%s%s", i ? "," : "", (char *)g_ptr_array_index(names, i));
	if (m->category == CAT_UNCHECKED)
		g_string_append(d, m->unchecked_reason->str);
	char *r = log_printable(d->str, 300);
	g_string_free(d, TRUE);
	return r;
}

static const char *verdict_action(enum msg_destiny d, bool spammy)
{
	switch (d) {
	case DESTINY_PASS: return spammy ? "RelayedTaggedInbound" : "RelayedInbound";
	case DESTINY_DISCARD: return "DiscardedInbound";
	case DESTINY_BOUNCE: return "BouncedInbound";
	case DESTINY_REJECT: return "RejectedInbound";
	default: return "TempFailedInbound";
	}
}

char *verdict_log_words(const struct msg *m)
{
	bool passed = false;
	unsigned seen = 0;
	for (guint i = 0; i < m->rcpts->len; i++) {
		const struct msg_rcpt *r = g_ptr_array_index(m->rcpts, i);
		enum msg_destiny d = r->destiny;
		/* a passed recipient the downstream MTA refused was not relayed */
		if (d == DESTINY_PASS && r->answer && (r->answer[0] == '4' || r->answer[0] == '5'))
			d = r->answer[0] == '4' ? DESTINY_TEMPFAIL : DESTINY_REJECT;
		passed = passed || d == DESTINY_PASS;
		seen |= 1u << d;
	}
	GString *s = g_string_new(passed ? "Passed " : "Blocked ");
	g_string_append(s, msg_category_log(m->category));
	char *detail = verdict_detail(m);
	if (*detail)
		g_string_append_printf(s, " (%s)", detail);
	g_free(detail);
	g_string_append(s, " {");
	const char *sep = "";
	for (int d = DESTINY_PASS; d <= DESTINY_TEMPFAIL; d++) {
		if (seen & (1u << d)) {
			g_string_append_printf(s, "%s%s", sep, verdict_action((enum msg_destiny)d, m->is_spammy));
			sep = ",";
		}
	}
	if (m->quar_path)
		g_string_append_printf(s, "%sQuarantined", sep);
	g_string_append_c(s, '}');
	return g_string_free(s, FALSE);
}

char *verdict_reply(const struct msg *m, const struct msg_rcpt *r)
{
	if (r->destiny == DESTINY_PASS)
		return NULL;
	if (r->destiny == DESTINY_TEMPFAIL)
		return g_strdup_printf("451 4.3.0 Temporary failure, id=%s - try again later", m->mail_id);
	char *detail = verdict_detail(m);
	const char *what = msg_category_log(m->category);
	/* after the queue, a 554 makes the MTA bounce to the sender: that is BOUNCE */
	char *reply = r->destiny == DESTINY_REJECT || r->destiny == DESTINY_BOUNCE
			      ? g_strdup_printf("554 5.7.0 Reject, id=%s - %s%s%s", m->mail_id, what, *detail ? ": " : "",
						detail)
			      : g_strdup_printf("250 2.7.0 Ok, discarded, id=%s - %s%s%s", m->mail_id, what,
						*detail ? ": " : "", detail);
	g_free(detail);
	return reply;
}
