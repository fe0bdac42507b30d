/*
 * scand-notify - preview, check and send Gatehouse alerts
 *
 * scand-notify [-c FILE] [-T DIR] check
 *	loads every template (as scand does at start-up) and reports each
 *	error as FILE:LINE: what. Exit 0 when all load, 1 otherwise.
 * scand-notify [-c FILE] [-T DIR] render [-t ADDR] KIND MAIL_ID
 *	renders the alert KIND (virus-admin, release, ...) for the stored
 *	message MAIL_ID to stdout, exactly as it would be queued (CRLF), so
 *	that an administrator can preview a template edit. The To address is
 *	ADDR, or by default the sender (sender kinds), the first recipient
 *	(recipient kinds, release) or the first admin address (admin kinds).
 *	Stored messages have no original header block: {{original_headers}}
 *	is empty.
 * scand-notify [-c FILE] [-T DIR] queue [-t ADDR] KIND MAIL_ID
 *	the same alert, queued in the outbox instead (a release notice, or
 *	an alert sent again).
 * scand-notify [-c FILE] [-T DIR] simulate [-q] [-o DIR] -C CATEGORY -s SENDER
 *		-r RCPT [-r RCPT...] [-d DESTINY] [-v VIRUS...] [-b NAME...]
 *		[-S SUBJECT] [-x SPAM-SCORE] [-X SPAM,TESTS] [-m MESSAGE-FILE]
 *	decides which alerts a verdict would give (the same code as scand)
 *	and prints "KIND <rcpt>" per alert; -o DIR writes each alert to
 *	DIR/NN-KIND.eml; -q records the verdict and queues the alerts in the
 *	store (a test of the whole alert path). MESSAGE-FILE gives the
 *	original message (its header block is attached to admin alerts and
 *	checked for Auto-Submitted/Precedence).
 * scand-notify [-c FILE] send-pending
 *	delivers the due outbox rows once and prints the counts.
 * scand-notify [-c FILE] [-T DIR] digest [--dry-run] [--recipient ADDR] [--since WHEN]
 *	queues the recipients' digests that are due (notify/digest.h) in the
 *	outbox, then delivers the due outbox rows once, and prints the
 *	counts. --recipient: only ADDR, now, whatever its frequency; --since:
 *	the items since WHEN (an age like 7d, YYYY-MM-DD[ HH:MM[:SS]] UTC or
 *	@EPOCH) instead of since each recipient's last digest; --dry-run:
 *	prints "ADDR: N item(s)" per recipient who is due and changes
 *	nothing. Cron runs it hourly (contrib/cron.d/gatehouse).
 * scand-notify [-c FILE] run
 *	runs the sender thread until SIGTERM or SIGINT.
 * -T DIR is the shipped template directory (default: [notify] shipped_dir).
 * -c FILE is the configuration (default $GATEHOUSE_CONF, else
 * /etc/gatehouse/scand.conf). Errors go to stderr; exit 1 on failure, 2 on
 * bad usage.
 */
#include <getopt.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "mailcat.h"
#include "mailhdr.h"
#include "mailid.h"
#include "notify.h"
#include "notify/digest.h"
#include "store.h"
#include "when.h"

static const char usage[] =
    "usage: scand-notify [-c FILE] [-T TEMPLATE_DIR] check\n"
    "       scand-notify [-c FILE] [-T TEMPLATE_DIR] render|queue [-t ADDR] KIND MAIL_ID\n"
    "       scand-notify [-c FILE] [-T TEMPLATE_DIR] simulate [-q] [-o DIR] -C CATEGORY -s SENDER -r "
    "RCPT...\n"
    "                    [-d DESTINY] [-v VIRUS...] [-b NAME...] [-S SUBJECT] [-x SCORE] [-X TESTS] [-m "
    "FILE]\n"
    "       scand-notify [-c FILE] send-pending\n"
    "       scand-notify [-c FILE] [-T TEMPLATE_DIR] digest [--dry-run] [--recipient ADDR] [--since WHEN]\n"
    "       scand-notify [-c FILE] run\n"
    "-c FILE defaults to $GATEHOUSE_CONF, else /etc/gatehouse/scand.conf\n";

struct cli {
	struct conf *c;
	const char *tdir;
};

static int cli_usage(void)
{
	fputs(usage, stderr);
	return 2;
}

static struct store *cli_store(const struct cli *cl)
{
	struct store *st;
	char *err = NULL;
	if (store_open_conf(cl->c, &st, &err) < 0) {
		fprintf(stderr, "scand-notify: %s\n", err);
		g_free(err);
		return NULL;
	}
	return st;
}

static struct notify *cli_notify(const struct cli *cl)
{
	char *err = NULL;
	struct notify *n = notify_load(cl->c, cl->tdir, &err);
	if (!n) {
		fprintf(stderr, "scand-notify: %s\n", err);
		g_free(err);
	}
	return n;
}

static int cmd_check(struct cli *cl)
{
	struct notify *n = cli_notify(cl);
	if (!n)
		return 1;
	for (int k = 0; k < NOTIFY_NKINDS; k++)
		printf("%s: %s ok\n", notify_kind_name(k), notify_tmpl_file(notify_template(n, k)));
	notify_free(n);
	return 0;
}

/* The default To for a preview of kind k. */
static char *cli_default_to(const struct cli *cl, const struct store_msg *m, enum notify_kind k)
{
	const char *key = NULL;
	switch (k) {
	case NOTIFY_VIRUS_SENDER:
	case NOTIFY_BANNED_SENDER:
		return g_strdup(m->sender);
	case NOTIFY_VIRUS_ADMIN:
		key = "virus_admin";
		break;
	case NOTIFY_BANNED_ADMIN:
		key = "banned_admin";
		break;
	case NOTIFY_SPAM_ADMIN:
		key = "spam_admin";
		break;
	default:
		return g_strdup(m->nrcpt ? m->rcpt[0].addr : "");
	}
	char **parts = g_strsplit(conf_str(cl->c, "notify", key), ",", 2);
	char *to = g_strdup(parts[0] && *g_strstrip(parts[0]) ? parts[0] : "postmaster");
	g_strfreev(parts);
	return to;
}

/* render and queue: the alert KIND for a stored message. */
static int cmd_render(struct cli *cl, int argc, char **argv, bool queue)
{
	const char *to_opt = NULL;
	int opt, rc = 1;
	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't')
			return cli_usage();
		to_opt = optarg;
	}
	if (argc - optind != 2)
		return cli_usage();
	int k = notify_kind_parse(argv[optind]);
	if (k < 0) {
		fprintf(stderr, "scand-notify: unknown kind: %s\n", argv[optind]);
		return 2;
	}
	struct notify *n = cli_notify(cl);
	struct store *st = n ? cli_store(cl) : NULL;
	struct store_msg *m = NULL;
	struct store_alert a = {0};
	char *err = NULL, *to = NULL;
	if (!st)
		goto done;
	int found = store_get(st, argv[optind + 1], &m);
	if (found != 0) {
		fprintf(stderr, "scand-notify: %s: %s\n", argv[optind + 1],
		        found > 0 ? "no such message" : store_error(st));
		goto done;
	}
	to = to_opt ? g_strdup(to_opt) : cli_default_to(cl, m, k);
	if (notify_render_stored(n, m, k, to, &a, &err) < 0)
		fprintf(stderr, "scand-notify: %s alert: %s\n", notify_kind_name(k), err);
	else if (queue && notify_outbox_queue(st, m->mail_id, &a, 1, &err) < 0)
		fprintf(stderr, "scand-notify: %s\n", err);
	else if (queue)
		rc = printf("%s <%s> queued\n", a.kind, a.rcpt) > 0 ? 0 : 1;
	else
		rc = fwrite(a.body, 1, a.body_len, stdout) == a.body_len && fflush(stdout) == 0 ? 0 : 1;
done:
	notify_alert_clear(&a);
	g_free(err);
	g_free(to);
	store_msg_free(m);
	store_close(st);
	notify_free(n);
	return rc;
}

/* ---- simulate ---- */

static char *cli_join(const GPtrArray *a)
{
	GString *s = g_string_new("");
	for (guint i = 0; i < a->len; i++)
		g_string_append_printf(s, "%s%s", i ? "," : "", (const char *)a->pdata[i]);
	return g_string_free(s, FALSE);
}

static int cli_queue(struct cli *cl, struct store_msg *row, struct store_alert *a, size_t na)
{
	struct store *st = cli_store(cl);
	int rc = 1;
	if (!st)
		return 1;
	if (store_put(st, row, a, na) < 0)
		fprintf(stderr, "scand-notify: %s\n", store_error(st));
	else
		rc = 0;
	store_close(st);
	return rc;
}

/* What the options say about the verdict; the record is built from it. */
struct sim_opts {
	int destiny, category;
	bool queue, spam_checked;
	double spam_score;
	char *file, *outdir, *sender, *subject, *spam_tests;
	GPtrArray *rcpts, *virus, *banned;
};

/* Writes each alert to DIR/NN-KIND.eml (to look at them whole). */
static int cli_write_alerts(const char *dir, const struct store_alert *a, size_t na)
{
	for (size_t i = 0; i < na; i++) {
		char *name = g_strdup_printf("%s/%02zu-%s.eml", dir, i, a[i].kind);
		gboolean ok = g_file_set_contents(name, a[i].body, (gssize)a[i].body_len, NULL);
		if (!ok)
			fprintf(stderr, "scand-notify: cannot write %s\n", name);
		g_free(name);
		if (!ok)
			return 1;
	}
	return 0;
}

/* Replaces an owned string with a copy of v. */
static int cli_set(char **dst, const char *v)
{
	g_free(*dst);
	*dst = g_strdup(v);
	return 0;
}

static int cli_sim_opt(int opt, const char *arg, struct sim_opts *o)
{
	switch (opt) {
	case 'q':
		o->queue = true;
		return 0;
	case 'o':
		return cli_set(&o->outdir, arg);
	case 'C':
		o->category = msg_category_parse(arg);
		return o->category < 0 ? -1 : 0;
	case 's':
		return cli_set(&o->sender, arg);
	case 'r':
		g_ptr_array_add(o->rcpts, g_strdup(arg));
		return 0;
	case 'd':
		o->destiny = msg_destiny_parse(arg);
		return o->destiny < 0 ? -1 : 0;
	case 'v':
		g_ptr_array_add(o->virus, g_strdup(arg));
		return 0;
	case 'b':
		g_ptr_array_add(o->banned, g_strdup(arg));
		return 0;
	case 'S':
		return cli_set(&o->subject, arg);
	case 'x':
		o->spam_checked = true;
		o->spam_score = g_ascii_strtod(arg, NULL);
		return 0;
	case 'X':
		return cli_set(&o->spam_tests, arg);
	case 'm':
		return cli_set(&o->file, arg);
	default:
		return -1;
	}
}

/* The verdict record scand would write (what notify_alerts and store_put
 * take); the strings stay owned by o, the names and rcpt by row. */
static void cli_sim_row(const struct sim_opts *o, size_t len, struct store_msg *row)
{
	memset(row, 0, sizeof(*row));
	mailid_new(row->mail_id);
	row->time = time(NULL);
	row->sender = o->sender;
	row->subject = o->subject;
	row->spam_checked = o->spam_checked;
	row->spam_score = o->spam_score;
	row->spam_tests = o->spam_tests;
	row->size = (int64_t)len;
	row->category = (char *)msg_category_name((enum msg_category)o->category);
	row->virus_names = cli_join(o->virus);
	row->banned_names = cli_join(o->banned);
	row->engine = (char *)"simulate";
	row->nrcpt = o->rcpts->len;
	row->rcpt = g_new0(struct store_rcpt, row->nrcpt);
	for (size_t i = 0; i < row->nrcpt; i++) {
		row->rcpt[i].addr = o->rcpts->pdata[i];
		row->rcpt[i].destiny = (char *)msg_destiny_name((enum msg_destiny)o->destiny);
	}
}

static int cmd_simulate(struct cli *cl, int argc, char **argv)
{
	struct sim_opts o = {.destiny = DESTINY_DISCARD, .category = CAT_CLEAN};
	struct store_msg row = {0};
	int opt, rc = 2;
	char *data = NULL;
	gsize len = 0;
	struct notify *n = NULL;

	o.sender = g_strdup("");
	o.rcpts = g_ptr_array_new_with_free_func(g_free);
	o.virus = g_ptr_array_new_with_free_func(g_free);
	o.banned = g_ptr_array_new_with_free_func(g_free);
	while ((opt = getopt(argc, argv, "qo:C:s:r:d:v:b:S:m:x:X:")) != -1)
		if (cli_sim_opt(opt, optarg, &o) < 0)
			goto done;
	if (optind != argc || o.rcpts->len == 0)
		goto done;
	rc = 1;
	if (o.file && !g_file_get_contents(o.file, &data, &len, NULL)) {
		fprintf(stderr, "scand-notify: cannot read %s\n", o.file);
		goto done;
	}
	if (!(n = cli_notify(cl)))
		goto done;
	cli_sim_row(&o, len, &row);
	const unsigned char *d = (const unsigned char *)data;
	struct store_alert *a;
	size_t na;
	notify_alerts(n, &row, d, d ? mailhdr_body_offset(d, len) : 0, &a, &na);
	for (size_t i = 0; i < na; i++)
		printf("%s <%s>\n", a[i].kind, a[i].rcpt);
	printf("mail_id %s\n", row.mail_id);
	rc = o.outdir ? cli_write_alerts(o.outdir, a, na) : 0;
	if (rc == 0 && o.queue)
		rc = cli_queue(cl, &row, a, na);
	notify_alerts_free(a, na);
done:
	if (rc == 2)
		cli_usage();
	notify_free(n);
	g_free(row.virus_names);
	g_free(row.banned_names);
	g_free(row.rcpt);
	g_free(data);
	g_free(o.file);
	g_free(o.outdir);
	g_free(o.sender);
	g_free(o.subject);
	g_free(o.spam_tests);
	g_ptr_array_free(o.rcpts, TRUE);
	g_ptr_array_free(o.virus, TRUE);
	g_ptr_array_free(o.banned, TRUE);
	return rc;
}

/* ---- sending ---- */

static int cmd_send_pending(struct cli *cl)
{
	struct store *st = cli_store(cl);
	struct notify_run_stats s;
	struct notify_outbox_opts o;
	if (!st)
		return 1;
	notify_outbox_opts_init(&o, cl->c);
	int rc = notify_outbox_run(st, &o, time(NULL), &s);
	notify_outbox_opts_clear(&o);
	store_close(st);
	printf("sent %d, deferred %d, failed %d, folded %d, summaries %d\n", s.sent, s.retried, s.failed,
	       s.folded, s.summaries);
	return rc < 0 ? 1 : 0;
}

static int cmd_digest(struct cli *cl, int argc, char **argv)
{
	static const struct option longopts[] = {{"dry-run", no_argument, NULL, 'n'},
	                                         {"recipient", required_argument, NULL, 'r'},
	                                         {"since", required_argument, NULL, 's'},
	                                         {NULL, 0, NULL, 0}};
	struct notify_digest_opts o = {.now = time(NULL), .out = stdout};
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'n') {
			o.dry_run = true;
		} else if (opt == 'r') {
			o.rcpt = optarg;
		} else if (opt == 's' && when_parse(optarg, (int64_t)o.now, &o.since) == 0 && o.since > 0) {
			continue;
		} else {
			if (opt == 's')
				fprintf(stderr, "scand-notify: --since: not a time: %s\n", optarg);
			return cli_usage();
		}
	}
	if (optind != argc)
		return cli_usage();
	struct notify *n = cli_notify(cl);
	struct store *st = n ? cli_store(cl) : NULL;
	struct notify_digest_stats ds;
	char *err = NULL;
	int rc = 1;
	if (!st)
		goto done;
	if (notify_digest_run(n, cl->c, st, &o, &ds, &err) < 0) {
		fprintf(stderr, "scand-notify: digest: %s\n", err);
		goto done;
	}
	if (o.dry_run) {
		rc = 0;
		goto done;
	}
	printf("digests queued %d (%d items), already sent this period %d\n", ds.queued, ds.items, ds.already);
	struct notify_run_stats s;
	struct notify_outbox_opts oo;
	notify_outbox_opts_init(&oo, cl->c);
	rc = notify_outbox_run(st, &oo, time(NULL), &s) < 0 ? 1 : 0;
	notify_outbox_opts_clear(&oo);
	printf("sent %d, deferred %d, failed %d\n", s.sent, s.retried, s.failed);
done:
	g_free(err);
	store_close(st);
	notify_free(n);
	return rc;
}

static int cmd_run(struct cli *cl)
{
	sigset_t set;
	int sig;
	struct store *st = cli_store(cl);

	if (!st)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before the thread exists, so it inherits the mask */
	struct notify_sender *s = notify_sender_start(cl->c, st);
	msg_info("sender running");
	sigwait(&set, &sig);
	notify_sender_stop(s);
	return 0;
}

static int cli_dispatch(struct cli *cl, int argc, char **argv)
{
	const char *cmd = argv[0];
	optind = 1;
	if (strcmp(cmd, "check") == 0 && argc == 1)
		return cmd_check(cl);
	if (strcmp(cmd, "render") == 0 || strcmp(cmd, "queue") == 0)
		return cmd_render(cl, argc, argv, cmd[0] == 'q');
	if (strcmp(cmd, "simulate") == 0)
		return cmd_simulate(cl, argc, argv);
	if (strcmp(cmd, "send-pending") == 0 && argc == 1)
		return cmd_send_pending(cl);
	if (strcmp(cmd, "digest") == 0)
		return cmd_digest(cl, argc, argv);
	if (strcmp(cmd, "run") == 0 && argc == 1)
		return cmd_run(cl);
	return cli_usage();
}

int main(int argc, char **argv)
{
	struct cli cl = {.tdir = NULL}; /* NULL: [notify] shipped_dir */
	const char *path = NULL; /* -c, else $GATEHOUSE_CONF, else the default */
	char *err = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "+c:T:")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'T':
			cl.tdir = optarg;
			break;
		default:
			return cli_usage();
		}
	}
	if (optind >= argc)
		return cli_usage();
	if (!path && !(path = conf_env_path()))
		path = CONF_DEFAULT_PATH;
	if (!(cl.c = conf_load(path, &err))) {
		fprintf(stderr, "scand-notify: %s\n", err);
		g_free(err);
		return 1;
	}
	log_init("scand-notify", 1, log_level_parse(conf_str(cl.c, "scand", "log_level")),
	         conf_str(cl.c, "scand", "syslog_facility"));
	int rc = cli_dispatch(&cl, argc - optind, argv + optind);
	conf_free(cl.c);
	return rc;
}
