/*
 * scand - the Gatehouse content filter daemon (entry point)
 *
 * Usage: scand [-f] [-c FILE] [-V] | scand --dump-config
 *   -f  stay in the foreground and log to stderr as well as syslog
 *   -c  configuration file (default $GATEHOUSE_CONF, else /etc/gatehouse/scand.conf)
 *   -V  print the version
 *   --dump-config  print every key with its default (the example file)
 *
 * Loads the configuration (an error is "FILE:LINE: reason" on stderr and
 * exit 1), starts logging and hands over to srv_run() (server.c), which
 * returns the exit status: 0 after SIGTERM/SIGINT once the messages in
 * flight are done.
 */
#include <glib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "server.h"

/* glibc gives each new thread its own malloc arena while there are fewer
 * than 8 per core; scand's workers each parse, decode and free messages of
 * up to megabytes, and every arena kept its own high-water mark. One arena
 * per core measured 67 -> 56 MB peak RSS at 8 workers, with no loss of
 * throughput. MALLOC_ARENA_MAX in the environment still wins. */
static void limit_arenas(void)
{
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, (int)MAX(2u, g_get_num_processors()));
}

int main(int argc, char **argv)
{
	const char *path = NULL;
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
		default: fprintf(stderr, "usage: scand [-f] [-c FILE] [-V] | scand --dump-config\n"); return 2;
		}
	}
	if (!path && !(path = conf_env_path()))
		path = CONF_DEFAULT_PATH;
	limit_arenas();
	struct conf *c = conf_load(path, &err);
	if (!c) {
		fprintf(stderr, "scand: %s\n", err);
		g_free(err);
		return 1;
	}
	int lvl = log_level_parse(conf_str(c, "scand", "log_level"));
	log_init("scand", fg, lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl, conf_str(c, "scand", "syslog_facility"));
	return srv_run(c, path, fg);
}
