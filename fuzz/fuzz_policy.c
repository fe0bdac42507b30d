/*
 * fuzz_policy - libFuzzer harness for the simcontrol policy file
 *
 * LLVMFuzzerTestOneInput() writes the input as the [policy] lookup_file
 * and loads it with policy_load(), the path scand takes at start-up and
 * on SIGHUP. A malformed file must fail with "FILE:LINE: reason"; a file
 * that loads is then used: every "key:" of the input is looked up as a
 * recipient (plain, with a +extension and with an upper-case copy) and
 * policy_apply() runs over a message with those recipients and verdict
 * facts taken from the first input byte. Checked: lookups never return
 * NULL nor a policy without its attach list; every destiny is a known
 * one; the message category stays within the enum.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "conf.h"
#include "scand/msg.h"
#include "scand/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fuzz_policy_path;
static struct conf *fuzz_policy_conf;

static void fuzz_policy_init(void)
{
	char *err = NULL;
	char *dir = g_dir_make_tmp("gh-fuzz-policy-XXXXXX", NULL);
	fuzz_policy_path = g_build_filename(dir, "simcontrol", NULL);
	char *text = g_strdup_printf("[policy]\nlookup_file = %s\n", fuzz_policy_path);
	fuzz_policy_conf = conf_load_text("fuzz_policy.conf", text, strlen(text), &err);
	if (!fuzz_policy_conf)
		abort();
	g_free(text);
	g_free(dir);
}

/* Plain write: g_file_set_contents() fsyncs, which costs 10 ms an input. */
static int fuzz_policy_write(const uint8_t *data, size_t size)
{
	int fd = open(fuzz_policy_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	ssize_t n = size ? write(fd, data, size) : 0;
	close(fd);
	return n == (ssize_t)size ? 0 : -1;
}

static void fuzz_policy_check(const struct policy *p)
{
	if (!p || !p->attach || !p->name)
		abort();
}

/* Recipients: the keys of the input's lines, and variants of them. */
static void fuzz_policy_rcpts(struct msg *m, const struct policy_db *db, const char *text)
{
	char **lines = g_strsplit(text, "\n", 64);
	for (char **l = lines; *l; l++) {
		char *colon = strchr(*l, ':');
		if (!colon)
			continue;
		char *key = g_strndup(*l, colon - *l);
		char *addr = strchr(key, '@') ? g_strdup(key) : g_strdup_printf("user@%s", key);
		char *at = strrchr(addr, '@');
		char *ext = g_strdup_printf("%.*s+x-y%s", (int)(at - addr), addr, at);
		char *up = g_ascii_strup(addr, -1);
		const char *const tries[] = {key, addr, ext, up};
		for (size_t i = 0; i < G_N_ELEMENTS(tries); i++)
			fuzz_policy_check(policy_lookup(db, tries[i]));
		if (m->rcpts->len < 16)
			msg_add_rcpt(m, addr);
		g_free(key), g_free(addr), g_free(ext), g_free(up);
	}
	g_strfreev(lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;

	if (!fuzz_policy_conf)
		fuzz_policy_init();
	if (fuzz_policy_write(data, size) < 0)
		abort();
	struct policy_db *db = policy_load(fuzz_policy_conf, &err);
	if (!db) {
		if (!err || strncmp(err, fuzz_policy_path, strlen(fuzz_policy_path)) != 0)
			abort();
		g_free(err);
		return 0;
	}
	char *text = g_strndup((const char *)data, size);
	struct msg *m = msg_new();
	m->sender = g_strdup(size && (data[0] & 1) ? "" : "sender@example.org");
	m->found = size ? data[0] : 0;
	m->spam_checked = true;
	m->spam_score = size > 1 ? data[1] / 8.0 : 0;
	msg_add_rcpt(m, "nobody@nowhere.example");
	fuzz_policy_rcpts(m, db, text);
	policy_apply(db, m);
	for (guint i = 0; i < m->rcpts->len; i++) {
		const struct msg_rcpt *r = m->rcpts->pdata[i];
		if (r->destiny > DESTINY_TEMPFAIL || !r->policy)
			abort();
	}
	if (m->category > CAT_VIRUS)
		abort();
	msg_free(m);
	g_free(text);
	policy_unref(db);
	return 0;
}
