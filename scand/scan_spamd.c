/*
 * scan_spamd - the spam stage, an adapter to common/spam (see scan_spamd.h)
 *
 * Functions: scan_spamd_stage (init, scan, reload, fini).
 *
 * The engines (spamd, rspamd), their protocols and the mapping of their
 * answers onto a verdict are common/spam's; here are the [spam] options
 * scand alone uses, the category, the headers of the forwarded copy and
 * the failure log, which says once a minute how often the engine failed
 * (a dead engine would otherwise write a line per message).
 *
 * Failures: init/reload return -1 with *err for a bad address; scan
 * reports per stage.h.
 */
#include "scan_spamd.h"

#include <string.h>

#include "log.h"
#include "mailhdr.h"
#include "scan_util.h"
#include "spam.h"

/* One configuration, shared by reference (g_atomic_rc_box): a reload swaps
 * in a new one while scans in progress keep the one they started with. */
struct spamd_conf {
	struct spam_engine *engine;
	int64_t max_size;
	char *subject_tag;
	bool tempfail;
	bool before_queue;
};

struct spamd_state {
	struct scan_live conf; /* struct spamd_conf */
	struct spam_throttle fail_log; /* outlives reloads */
};

static void spamd_conf_clear(gpointer p)
{
	struct spamd_conf *s = p;
	spam_engine_free(s->engine);
	g_free(s->subject_tag);
}

static struct spamd_conf *spamd_from_conf(const struct conf *c, char **err)
{
	struct spam_engine *e = spam_engine_from_conf(c, err);
	if (!e)
		return NULL;
	struct spamd_conf *s = g_atomic_rc_box_new0(struct spamd_conf);
	s->engine = e;
	s->max_size = conf_int(c, "spam", "max_size");
	s->subject_tag = g_strdup(conf_str(c, "spam", "subject_tag"));
	s->tempfail = strcmp(conf_str(c, "spam", "on_failure"), "tempfail") == 0;
	s->before_queue = conf_bool(c, "scand", "before_queue");
	return s;
}

static int spamd_init(const struct conf *c, void **state, char **err)
{
	struct spamd_conf *sc = spamd_from_conf(c, err);
	if (!sc)
		return -1;
	struct spamd_state *s = g_new0(struct spamd_state, 1);
	g_mutex_init(&s->fail_log.lock);
	scan_live_init(&s->conf, sc, spamd_conf_clear);
	*state = s;
	return 0;
}

static int spamd_reload(void *state, const struct conf *c, char **err)
{
	struct spamd_state *s = state;
	struct spamd_conf *n = spamd_from_conf(c, err);
	if (!n)
		return -1;
	scan_live_swap(&s->conf, n);
	return 0;
}

static void spamd_fini(void *state)
{
	struct spamd_state *s = state;
	if (!s)
		return;
	scan_live_clear(&s->conf);
	g_mutex_clear(&s->fail_log.lock);
	g_free(s);
}

/* The envelope rspamd wants, from the session and XFORWARD. */
static void spamd_envelope(const struct msg *m, struct spam_envelope *env, GPtrArray *rcpts)
{
	for (guint i = 0; i < m->rcpts->len; i++)
		g_ptr_array_add(rcpts, ((struct msg_rcpt *)g_ptr_array_index(m->rcpts, i))->addr);
	g_ptr_array_add(rcpts, NULL);
	const char *ip = m->xf_addr;
	if (ip && g_ascii_strncasecmp(ip, "IPV6:", 5) == 0)
		ip += 5;
	bool named = m->xf_name && strcmp(m->xf_name, "[UNAVAILABLE]") != 0 && strcmp(m->xf_name, "unknown") != 0;
	*env = (struct spam_envelope){
		.ip = ip && strcmp(ip, "[UNAVAILABLE]") != 0 ? ip : NULL,
		.helo = m->xf_helo && strcmp(m->xf_helo, "[UNAVAILABLE]") != 0 ? m->xf_helo : NULL,
		.hostname = named ? m->xf_name : NULL,
		.from = m->sender,
		.queue_id = m->mail_id,
		.rcpts = (const char *const *)rcpts->pdata,
		.nrcpts = rcpts->len - 1,
	};
}

static void spamd_status_header(const struct spam_levels *lv, struct msg *m, bool flagged)
{
	char **v = g_strsplit(m->spam_tests ? m->spam_tests : "", ",", -1), *tests = g_strjoinv(", ", v);
	msg_add_header(m, "X-Spam-Status: %s, score=%.3f tag=%g tag2=%g kill=%g tests=[%s]", flagged ? "Yes" : "No",
	               m->spam_score, lv->tag, lv->tag2, lv->kill, tests);
	g_free(tests);
	g_strfreev(v);
	int stars = m->spam_score <= 0 ? 0 : (int)MIN(m->spam_score, 64.0);
	char lvl[65];
	memset(lvl, '*', (size_t)stars);
	lvl[stars] = '\0';
	msg_add_header(m, "X-Spam-Level: %s", lvl);
}

static void spamd_headers(const struct spamd_conf *s, const struct spam_result *r, struct msg *m)
{
	const struct spam_levels *lv = spam_engine_levels(s->engine);
	for (guint i = 0; i < r->remove_headers->len; i++)
		msg_remove_header(m, g_ptr_array_index(r->remove_headers, i));
	for (guint i = 0; i < r->add_headers->len; i++)
		msg_add_header(m, "%s", (const char *)g_ptr_array_index(r->add_headers, i));
	if (r->verdict >= SPAM_TAG)
		spamd_status_header(lv, m, r->verdict >= SPAM_TAG2);
	if (r->verdict < SPAM_TAG2)
		return;
	msg_add_header(m, "X-Spam-Flag: YES");
	if (!*s->subject_tag)
		return;
	char *subj = mailhdr_get_raw(m->data, m->len, "Subject");
	msg_remove_header(m, "Subject");
	msg_add_header(m, "Subject: %s%s", s->subject_tag, subj ? subj : "");
	g_free(subj);
}

static enum stage_result spamd_failed(struct spamd_state *st, const struct spamd_conf *s, struct msg *m, char *err)
{
	unsigned n = 0;
	if (spam_throttle_note(&st->fail_log, g_get_monotonic_time(), &n))
		msg_warn("spam: %s %s failing: %s (%u failure%s since the last report; next report in a minute at the "
		         "earliest; last: %s)",
		         spam_engine_name(s->engine), spam_engine_where(s->engine), err, n, n == 1 ? "" : "s",
		         m->mail_id);
	scan_note(m, "spam: %s failed: %s", spam_engine_name(s->engine), err);
	g_free(err);
	return s->tempfail ? STAGE_TEMPFAIL : STAGE_OK;
}

static enum stage_result spamd_scan_with(struct spamd_state *st, const struct spamd_conf *s, struct msg *m)
{
	static const char *const ours[] = {"X-Spam-Status", "X-Spam-Level", "X-Spam-Flag", "X-Spam-Score",
	                                   "X-Spam-Report"};
	for (size_t i = 0; i < G_N_ELEMENTS(ours); i++)
		msg_remove_header(m, ours[i]);
	if (s->max_size > 0 && (int64_t)m->len > s->max_size) {
		scan_note(m, "spam: not checked, %zu bytes > max_size %lld", m->len, (long long)s->max_size);
		return STAGE_OK;
	}
	struct spam_envelope env;
	GPtrArray *rcpts = g_ptr_array_new();
	spamd_envelope(m, &env, rcpts);
	struct spam_result r;
	char *err = NULL;
	int rc = spam_engine_check(s->engine, &env, m->data, m->len, &r, &err);
	g_ptr_array_free(rcpts, TRUE);
	if (rc < 0)
		return spamd_failed(st, s, m, err);
	const char *engine = spam_engine_name(s->engine);
	m->spam_checked = true;
	m->spam_score = r.score;
	g_free(m->spam_tests);
	m->spam_tests = spam_result_tests(&r);
	if (r.soft_reject && s->before_queue) {
		/* rspamd's greylist or soft reject: only a client still in the
		 * session can come back; after the queue the score decides */
		g_free(m->tempfail_reply);
		m->tempfail_reply = g_strdup_printf("451 4.7.1 %s", r.message ? r.message : "Try again later");
		spam_result_clear(&r);
		return STAGE_TEMPFAIL;
	}
	m->spam_force_kill = r.by_action >= SPAM_KILL;
	m->spam_force_tag2 = r.by_action >= SPAM_TAG2;
	if (r.verdict >= SPAM_KILL)
		msg_set_category(m, CAT_SPAM, engine);
	if (r.verdict >= SPAM_TAG2) {
		m->is_spammy = true;
		msg_set_category(m, CAT_SPAMMY, engine);
	}
	spamd_headers(s, &r, m);
	spam_result_clear(&r);
	return STAGE_OK;
}

static enum stage_result spamd_scan(void *state, struct msg *m)
{
	struct spamd_state *s = state;
	struct spamd_conf *c = scan_live_get(&s->conf);
	enum stage_result r = spamd_scan_with(s, c, m);
	scan_live_put(&s->conf, c);
	return r;
}

const struct stage scan_spamd_stage = {
	.name = "spam",
	.init = spamd_init,
	.scan = spamd_scan,
	.reload = spamd_reload,
	.fini = spamd_fini,
};
