/*
 * quarctl - the operator's tool for the Gatehouse quarantine
 *
 * quarctl [-c FILE]               the ncurses interface
 * quarctl [-c FILE] COMMAND ...   list, show, release, purge, expire, stats, fsck,
 *                                 lists, learn, digest, migrate
 *
 * The configuration is -c FILE, else $GATEHOUSE_CONF, else
 * /etc/gatehouse/scand.conf (the built-in defaults if it does not exist); quarctl
 * reads [scand] database, quarantine_dir, forward, busy_timeout and
 * [quarctl] release_forward, expire_after.
 *
 * Exit codes (stable, for scripts; also in --help):
 *   0 done; 1 an action failed or was refused (hash mismatch, downstream
 *   4xx/5xx, already released without --force); 2 usage or configuration
 *   error; 3 an id is not in the store; 4 an id is not a valid mail id
 *   (refused before any lookup or path); 5 the store cannot be opened/read.
 *   fsck: 0 consistent (or every problem fixed by --fix), 1 problems remain.
 *   migrate: 0 all copied and verified, 1 a copy missing or damaged (its
 *   message not copied) or an error on the way, 5 source/target unusable.
 */
#include "qc.h"

#include "log.h"

#include <getopt.h>
#include <locale.h>
#include <string.h>
#include <unistd.h>

static const char qc_usage[] =
    "usage: quarctl [-c FILE] [COMMAND [ARGS]]\n"
    "\n"
    "Without a command: the interactive quarantine browser (? for its keys).\n"
    "\n"
    "  list [--category virus|banned|spam|badh|archive] [--since 7d] [--until WHEN]\n"
    "       [--sender PAT] [--rcpt PAT] [--subject PAT] [--virus PAT]\n"
    "       [--state quarantined|released|purged|any] [--limit N] [--json]\n"
    "       One line per message, tab-separated: mail id, time (UTC), category,\n"
    "       state, sender, recipients, detail, subject, host. PAT is a glob (* ?),\n"
    "       case-insensitive. WHEN is an age (30m 12h 7d 2w) or a UTC date\n"
    "       (YYYY-MM-DD[ HH:MM[:SS]]). The default state is quarantined.\n"
    "  show ID [--headers|--raw] [--json]\n"
    "  release ID... [--to ADDR]... [--dry-run] [--force] [--notify] [--learn]\n"
    "       Reinject to [quarctl] release_forward (or [scand] forward) with the\n"
    "       original sender, to the recipients that did not get it (or --to).\n"
    "       --notify queues a release notice (templates/release) to each of them.\n"
    "  purge ID... [--yes]      remove the file, keep the verdict row\n"
    "  expire [--older-than 30d] [--category CAT] [--dry-run]\n"
    "  stats [--json]\n"
    "  fsck [--fix] [--json]\n"
    "       Files without a store row (orphans), rows whose file is missing, files\n"
    "       whose size or SHA-256 differ from the store. --fix marks a missing\n"
    "       file's row purged (with an audit event) and moves orphans into\n"
    "       <quarantine_dir>/lost+found/; nothing is deleted, mismatches are\n"
    "       only reported.\n"
    "  lists show [--for ADDR|DOMAIN] [--json]\n"
    "  lists add allow|block PATTERN [--for ADDR|DOMAIN] [--note TEXT] [--expires 30d]\n"
    "  lists del ID...\n"
    "  lists import FILE | lists export\n"
    "       Allow and block entries: PATTERN is a sender address, *@domain,\n"
    "       *@.domain (its subdomains) or a glob; --for is global (default), a\n"
    "       domain, .domain or a recipient address. CSV: scope,kind,pattern,note,expires.\n"
    "  learn spam|ham ID...     teach the spam engine a kept message\n"
    "       (release --learn teaches ham after the release)\n"
    "  digest set ADDR|DOMAIN daily|weekly|never|default\n"
    "       How often the recipients' digest goes to ADDR or DOMAIN (default:\n"
    "       [digest] frequency).\n"
    "  digest preview ADDR      what ADDR's next digest would say\n"
    "  migrate --to postgresql://USER@HOST:PORT/DB [--batch 1000] [--max-batches N]\n"
    "       Copy the SQLite store ([scand] database) into PostgreSQL with the same\n"
    "       ids, each kept quarantine file into the store (quarantine_backend\n"
    "       database), every SHA-256 checked before writing and read back after.\n"
    "       Idempotent and resumable: rows already there are skipped. A missing or\n"
    "       damaged copy is reported and its message not copied (exit 1).\n"
    "\n"
    "Options: -c FILE  configuration (default $GATEHOUSE_CONF, else /etc/gatehouse/scand.conf)\n"
    "         -h, --help, -V, --version\n"
    "\n"
    "Exit codes: 0 done; 1 an action failed or was refused; 2 usage or\n"
    "configuration error, a bad list pattern or scope; 3 id (mail or list\n"
    "entry) not in the store; 4 not a valid mail id\n"
    "(refused before any lookup); 5 the store cannot be opened or read.\n"
    "fsck: 0 consistent (or all fixed), 1 problems remain.\n"
    "migrate: 0 all copied and verified, 1 copies missing or damaged (or an error),\n"
    "5 the source or the target cannot be opened.\n";

struct qc_command {
	const char *name;
	int (*fn)(struct qc *qc, int argc, char **argv);
};

static const struct qc_command qc_commands[] = {
    {"list", qc_cmd_list},   {"show", qc_cmd_show},       {"release", qc_cmd_release},
    {"purge", qc_cmd_purge}, {"expire", qc_cmd_expire},   {"stats", qc_cmd_stats},
    {"fsck", qc_cmd_fsck},   {"lists", qc_cmd_lists},     {"learn", qc_cmd_learn},
    {"digest", qc_cmd_digest}, {"migrate", qc_cmd_migrate},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
	const char *conf_path = NULL;
	bool bench = false;
	int opt;

	setlocale(LC_ALL, "");
	log_init("quarctl", 1, LOG_LVL_WARN, "mail");
	if (argc > 1 && strcmp(argv[1], "--bench-first-screen") == 0) {
		bench = true; /* hidden: draw the first screen, print the time, exit */
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	/* '+': stop at the command so that its options are left to it */
	while ((opt = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 'h':
			fputs(qc_usage, stdout);
			return QC_EXIT_OK;
		case 'V':
			printf("quarctl %s\n", GH_VERSION);
			return QC_EXIT_OK;
		default:
			fputs(qc_usage, stderr);
			return QC_EXIT_USAGE;
		}
	}
	const struct qc_command *cmd = NULL;
	if (optind < argc) {
		for (cmd = qc_commands; cmd->name && strcmp(cmd->name, argv[optind]) != 0; cmd++)
			;
		if (!cmd->name) {
			fprintf(stderr, "quarctl: unknown command \"%s\"\n%s", argv[optind], qc_usage);
			return QC_EXIT_USAGE;
		}
	}
	struct qc qc;
	char *err = NULL;
	if (!conf_path)
		conf_path = conf_env_path(); /* $GATEHOUSE_CONF; NULL: the default */
	int orc = qc_open(&qc, conf_path, &err);
	if (orc != 0) {
		fprintf(stderr, "quarctl: %s\n", err);
		g_free(err);
		return orc;
	}
	int rc = cmd ? cmd->fn(&qc, argc - optind, argv + optind) : qc_tui_run(&qc, bench);
	qc_close(&qc);
	return rc;
}
