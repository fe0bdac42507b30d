/*
 * scand - the Gatehouse content filter daemon (entry point)
 *
 * Placeholder entry point of the foundation: loads the configuration,
 * opens the verdict store and reports ready. The SMTP/LMTP server
 * replaces this body (issue 3).
 */
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "store.h"

int main(int argc, char **argv)
{
	const char *path = "/etc/gatehouse/scand.conf";
	int fg = 0, opt;
	char *err = NULL;

	if (argc > 1 && strcmp(argv[1], "--dump-config") == 0) {
		conf_write_example(stdout);
		return 0;
	}
	while ((opt = getopt(argc, argv, "c:fV")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'f': fg = 1; break;
		case 'V': printf("scand %s\n", GH_VERSION); return 0;
		default: fprintf(stderr, "usage: scand [-f] [-c FILE] [--dump-config]\n"); return 2;
		}
	}
	struct conf *c = conf_load(path, &err);
	if (!c) {
		fprintf(stderr, "scand: %s\n", err);
		return 1;
	}
	log_init("scand", fg, log_level_parse(conf_str(c, "scand", "log_level")),
		 conf_str(c, "scand", "syslog_facility"));
	struct store *st;
	if (store_open(conf_str(c, "scand", "database"), (int)conf_int(c, "scand", "busy_timeout") * 1000, &st,
		       &err) < 0)
		msg_fatal("%s", err);
	msg_info("ready (store %s, version %d)", conf_str(c, "scand", "database"), store_version(st));
	pause();
	store_close(st);
	conf_free(c);
	return 0;
}
