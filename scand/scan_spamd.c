/*
 * scan_spamd - the spam stage, an adapter to common/spamc (see scan_spamd.h)
 *
 * Functions: scan_spamd_stage (init, scan, reload, fini),
 * scan_spamd_kill_level, scan_spamd_tag2_level.
 *
 * The protocol (connect, one deadline per message, bounded answer, rule
 * names filtered) is spamc's; here are the [spam] options, the levels,
 * the category and the headers of the forwarded copy.
 *
 * Failures: init/reload return -1 with *err for a bad address; scan
 * reports per stage.h and logs why spamd failed.
 */
#include "scan_spamd.h"

#include <string.h>

#include "log.h"
#include "mailhdr.h"
#include "scan_util.h"
#include "spamc.h"

/* One configuration, shared by reference (g_atomic_rc_box): a reload swaps
 * in a new one while scans in progress keep the one they started with. */
struct spamd_conf {
	struct spamc *client;
	int64_t max_size;
	double tag, tag2, kill;
	char *subject_tag;
	bool tempfail;
};

struct spamd_state {
	struct scan_live conf; /* struct spamd_conf */
};

static void spamd_conf_clear(gpointer p)
{
	struct spamd_conf *s = p;
	spamc_free(s->client);
	g_free(s->subject_tag);
}

static struct spamd_conf *spamd_from_conf(const struct conf *c, char **err)
{
	char *why = NULL;
	struct spamc *client = spamc_new(conf_str(c, "spam", "spamd"), conf_int(c, "spam", "timeout") * 1000, &why);
	if (!client) {
		*err = g_strdup_printf("[spam] spamd: %s", why);
		g_free(why);
		return NULL;
	}
	struct spamd_conf *s = g_atomic_rc_box_new0(struct spamd_conf);
	s->client = client;
	s->max_size = conf_int(c, "spam", "max_size");
	s->tag = conf_double(c, "spam", "tag_level");
	s->tag2 = conf_double(c, "spam", "tag2_level");
	s->kill = conf_double(c, "spam", "kill_level");
	s->subject_tag = g_strdup(conf_str(c, "spam", "subject_tag"));
	s->tempfail = strcmp(conf_str(c, "spam", "on_failure"), "tempfail") == 0;
	return s;
}

static int spamd_init(const struct conf *c, void **state, char **err)
{
	struct spamd_conf *sc = spamd_from_conf(c, err);
	if (!sc)
		return -1;
	struct spamd_state *s = g_new0(struct spamd_state, 1);
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
	g_free(s);
}

static int spamd_check(const struct spamd_conf *s, struct msg *m, char **err)
{
	struct spamc_result r;
	if (spamc_check(s->client, SPAMC_SYMBOLS, m->data, m->len, &r, err) < 0)
		return -1;
	m->spam_score = r.score;
	g_free(m->spam_tests);
	m->spam_tests = r.tests; /* taken over */
	r.tests = NULL;
	spamc_result_clear(&r);
	return 0;
}

static void spamd_headers(const struct spamd_conf *s, struct msg *m)
{
	if (m->spam_score >= s->tag) {
		char **v = g_strsplit(m->spam_tests ? m->spam_tests : "", ",", -1), *tests = g_strjoinv(", ", v);
		msg_add_header(m, "X-Spam-Status: %s, score=%.3f tag=%g tag2=%g kill=%g tests=[%s]",
			       m->spam_score >= s->tag2 ? "Yes" : "No", m->spam_score, s->tag, s->tag2, s->kill,
			       tests);
		g_free(tests);
		g_strfreev(v);
		int stars = m->spam_score <= 0 ? 0 : (int)MIN(m->spam_score, 64.0);
		char lvl[65];
		memset(lvl, '*', (size_t)stars);
		lvl[stars] = '\0';
		msg_add_header(m, "X-Spam-Level: %s", lvl);
	}
	if (m->spam_score < s->tag2)
		return;
	msg_add_header(m, "X-Spam-Flag: YES");
	if (!*s->subject_tag)
		return;
	char *subj = mailhdr_get_raw(m->data, m->len, "Subject");
	msg_remove_header(m, "Subject");
	msg_add_header(m, "Subject: %s%s", s->subject_tag, subj ? subj : "");
	g_free(subj);
}

static enum stage_result spamd_scan_with(const struct spamd_conf *s, struct msg *m)
{
	static const char *const ours[] = {"X-Spam-Status", "X-Spam-Level", "X-Spam-Flag", "X-Spam-Score",
					   "X-Spam-Report"};
	for (size_t i = 0; i < G_N_ELEMENTS(ours); i++)
		msg_remove_header(m, ours[i]);
	if (s->max_size > 0 && (int64_t)m->len > s->max_size) {
		scan_note(m, "spam: not checked, %zu bytes > max_size %lld", m->len, (long long)s->max_size);
		return STAGE_OK;
	}
	char *err = NULL;
	if (spamd_check(s, m, &err) < 0) {
		msg_warn("spam: %s: spamd %s: %s", m->mail_id, spamc_name(s->client), err);
		scan_note(m, "spam: spamd failed: %s", err);
		g_free(err);
		return s->tempfail ? STAGE_TEMPFAIL : STAGE_OK;
	}
	m->spam_checked = true;
	if (m->spam_score >= s->kill)
		msg_set_category(m, CAT_SPAM, "spamd");
	if (m->spam_score >= s->tag2) {
		m->is_spammy = true;
		msg_set_category(m, CAT_SPAMMY, "spamd");
	}
	spamd_headers(s, m);
	return STAGE_OK;
}

static enum stage_result spamd_scan(void *state, struct msg *m)
{
	struct spamd_state *s = state;
	struct spamd_conf *c = scan_live_get(&s->conf);
	enum stage_result r = spamd_scan_with(c, m);
	scan_live_put(&s->conf, c);
	return r;
}

const struct stage scan_spamd_stage = {
	.name = "spamd",
	.init = spamd_init,
	.scan = spamd_scan,
	.reload = spamd_reload,
	.fini = spamd_fini,
};
