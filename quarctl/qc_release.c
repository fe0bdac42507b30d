/*
 * qc_release - quarctl's side of a release: options in, words out, notice
 *
 * qc_release_one() looks the id up (a bad id is refused before any
 * lookup), hands the message to common/release (checks, reinjection
 * through smtpc, per-recipient marks, audit event: see release.h) with
 * quarctl's options, and with --notify queues a release notice to each
 * recipient the release served (in notify's outbox; scand's sender thread
 * or `scand-notify send-pending` delivers it).
 */
#include "qc.h"

#include "log.h"
#include "smtpc.h"
#include "notify/notify.h"
#include "release.h"

#include <string.h>

/* Queue a release notice (templates/release) to each address the message
 * went to, in notify's durable outbox: scand's sender thread (or
 * `scand-notify send-pending`) delivers it. The release itself already
 * succeeded, so a failure here is reported in *msg, not as a failed release. */
static void qc_release_notice(struct qc *qc, const struct store_msg *m, GPtrArray *addrs, char **msg)
{
	char *err = NULL;
	struct notify *n = notify_load(qc->conf, NULL, &err);
	GArray *rows = g_array_new(FALSE, TRUE, sizeof(struct store_alert));
	int queued = -1;

	for (guint i = 0; n && i < addrs->len; i++) {
		struct store_alert a = {0};
		if (notify_render_stored(n, m, NOTIFY_RELEASE, g_ptr_array_index(addrs, i), &a, &err) < 0)
			break;
		g_array_append_val(rows, a);
	}
	if (n && !err &&
	    notify_outbox_queue(qc->st, m->mail_id, (struct store_alert *)(void *)rows->data, rows->len,
	                        &err) == 0)
		queued = (int)rows->len;
	for (guint i = 0; i < rows->len; i++)
		notify_alert_clear(&g_array_index(rows, struct store_alert, i));
	g_array_free(rows, TRUE);
	if (n)
		notify_free(n);
	char *old = *msg;
	*msg = queued >= 0 ? g_strdup_printf("%s\n%s: release notice queued for %d recipient(s)", old,
	                                     m->mail_id, queued)
	                   : g_strdup_printf("%s\n%s: release notice not queued: %s", old, m->mail_id, err);
	g_free(old);
	g_free(err);
}

enum qc_result qc_release_one(struct qc *qc, const char *mail_id, const struct qc_release_opts *o, char **msg)
{
	struct store_msg *m = NULL;
	struct release_outcome out;
	enum qc_result res;

	if ((res = qc_lookup(qc, mail_id, &m, msg)) != QC_OK)
		return res;
	const char *hn = conf_str(qc->conf, "scand", "hostname");
	const char *helo = *hn ? hn : g_get_host_name();
	int timeout_s = (int)conf_int(qc->conf, "scand", "forward_timeout");
	if (!qc->smtp && !o->dry_run) {
		qc->smtp = smtpc_open(qc->forward, helo, timeout_s);
		/* the TUI may sit for hours between releases: a connection idle
		 * for a minute is closed rather than sent on */
		smtpc_set_reuse(qc->smtp, 60, 600, 100);
	}
	struct release_opts ro = {
	    .quar_dir = qc->quar_dir,
	    .forward = qc->forward,
	    .helo = helo,
	    .timeout_s = timeout_s,
	    .conn = qc->smtp,
	    .who = qc->who,
	    .to = o->to,
	    .force = o->force,
	    .dry_run = o->dry_run,
	};
	enum release_result r = release_run(qc->st, m, &ro, &out);
	res = r == RELEASE_OK ? QC_OK : r == RELEASE_REFUSED ? QC_REFUSED : QC_FAILED;
	*msg = g_steal_pointer(&out.msg);
	if (res == QC_OK && !o->dry_run && o->notify)
		qc_release_notice(qc, m, out.served, msg);
	release_outcome_clear(&out);
	store_msg_free(m);
	return res;
}
