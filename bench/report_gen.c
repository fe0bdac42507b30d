/*
 * report_gen - fill a verdict store for the report tests and benchmark
 *
 *   report_gen load DB SPEC    one message per SPEC line, through store_put()
 *   report_gen bulk DB N SINCE UNTIL [SEED]
 *                              N pseudo-random messages in [SINCE, UNTIL)
 *                              through store_put_many(), 2,000 a transaction
 *
 * A SPEC line has tab-separated fields (the tests write them and compute
 * the expected report from the same lines):
 *   time category size sender rcpts virus_names banned_names spam_score
 *   scan_ms quar_state unchecked_reason
 * rcpts is "addr=destiny;addr=destiny"; spam_score "" means not checked;
 * quar_state none|quarantined|released|purged (a path is made up for all
 * but none). Exit 0, or 1 with a message on stderr.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailid.h"
#include "store.h"

static int gen_line(struct store *st, char *line, int lineno)
{
	line[strcspn(line, "\r\n")] = '\0'; /* not g_strchomp: empty last fields end in a tab */
	char **f = g_strsplit(line, "\t", -1);
	struct store_msg m = {0};
	int rc = -1;

	if (g_strv_length(f) != 11) {
		fprintf(stderr, "report_gen: line %d: %u fields, want 11\n", lineno, g_strv_length(f));
		goto done;
	}
	mailid_new(m.mail_id);
	m.time = g_ascii_strtoll(f[0], NULL, 10);
	m.category = f[1];
	m.size = g_ascii_strtoll(f[2], NULL, 10);
	m.sender = f[3];
	m.virus_names = f[5];
	m.banned_names = f[6];
	m.spam_checked = *f[7] != '\0';
	m.spam_score = g_ascii_strtod(f[7], NULL);
	m.scan_ms = g_ascii_strtoll(f[8], NULL, 10);
	m.quar_state = f[9];
	m.unchecked_reason = f[10];
	char *qpath = g_strdup_printf("%s/%s", f[1], m.mail_id);
	if (strcmp(f[9], "none") != 0) {
		m.quar_path = qpath;
		m.quar_size = m.size;
		m.quar_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
	}
	char **rc_list = g_strsplit(f[4], ";", -1);
	m.nrcpt = g_strv_length(rc_list);
	m.rcpt = g_new0(struct store_rcpt, m.nrcpt);
	for (size_t i = 0; i < m.nrcpt; i++) {
		char *eq = strchr(rc_list[i], '=');
		if (eq)
			*eq++ = '\0';
		m.rcpt[i].addr = rc_list[i];
		m.rcpt[i].destiny = eq ? eq : "pass";
	}
	rc = store_put(st, &m, NULL, 0);
	if (rc < 0)
		fprintf(stderr, "report_gen: line %d: %s\n", lineno, store_error(st));
	g_free(m.rcpt);
	g_strfreev(rc_list);
	g_free(qpath);
done:
	g_strfreev(f);
	return rc;
}

static int gen_load(struct store *st, const char *spec)
{
	FILE *fp = fopen(spec, "r");
	char line[8192];
	int n = 0;

	if (!fp) {
		perror(spec);
		return 1;
	}
	while (fgets(line, sizeof(line), fp))
		if (gen_line(st, line, ++n) < 0) {
			fclose(fp);
			return 1;
		}
	fclose(fp);
	printf("%d messages\n", n);
	return 0;
}

/* xorshift64*: fast, reproducible */
static uint64_t gen_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static const char *gen_category(uint64_t r)
{
	static const struct {
		const char *name;
		int weight; /* per mille */
	} w[] = {{"clean", 600},    {"spam", 150}, {"spammy", 100}, {"badh", 40},
	         {"oversized", 50}, {"virus", 30}, {"banned", 20},  {"unchecked", 10}};
	int x = (int)(r % 1000);
	for (size_t i = 0; i < G_N_ELEMENTS(w); i++) {
		if (x < w[i].weight)
			return w[i].name;
		x -= w[i].weight;
	}
	return "clean";
}

/* One pseudo-random message (its strings in the caller's buffers). */
struct gen_buf {
	char sender[64], vname[32], rcpt[3][64];
	struct store_rcpt r[3];
};

static void gen_one(struct store_msg *m, struct gen_buf *b, int64_t t, uint64_t *seed)
{
	static const char *const dest[] = {"pass", "discard", "bounce", "reject"};
	uint64_t r = gen_rand(seed);
	const char *cat = gen_category(r);
	bool blocked = !strcmp(cat, "virus") || !strcmp(cat, "banned") || !strcmp(cat, "spam");

	memset(m, 0, sizeof(*m));
	mailid_new(m->mail_id);
	snprintf(b->sender, sizeof(b->sender), "user%u@sender%u.example", (unsigned)(r >> 20) % 5000,
	         (unsigned)(r >> 40) % 500);
	snprintf(b->vname, sizeof(b->vname), "Test.Virus-%u", (unsigned)(r >> 12) % 20);
	m->time = t;
	m->sender = b->sender;
	m->size = 1000 + (int64_t)(r >> 30) % 200000;
	m->category = (char *)cat;
	m->virus_names = strcmp(cat, "virus") ? "" : b->vname;
	m->banned_names = strcmp(cat, "banned") ? "" : "invoice.pdf.exe";
	m->spam_checked = true;
	m->spam_score = (double)((int)((r >> 8) % 300) - 50) / 10.0;
	m->scan_ms = (int64_t)(r >> 50) % 400;
	m->quar_path = blocked ? (char *)cat : NULL;
	m->quar_state = blocked ? "quarantined" : "none";
	m->unchecked_reason = strcmp(cat, "unchecked") ? "" : "spamd: connection refused";
	m->nrcpt = 1 + (size_t)((r >> 4) % 3);
	m->rcpt = b->r;
	for (size_t k = 0; k < m->nrcpt; k++) {
		snprintf(b->rcpt[k], sizeof(b->rcpt[k]), "rcpt%u@dom%u.example", (unsigned)((r >> (k + 20)) % 2000),
		         (unsigned)((r >> (k + 5)) % 50));
		b->r[k] = (struct store_rcpt){.addr = b->rcpt[k], .destiny = (char *)(blocked ? dest[1 + (r >> 7) % 3] : dest[0])};
	}
}

static int gen_bulk(struct store *st, int64_t n, int64_t since, int64_t until, uint64_t seed)
{
	enum { GEN_BATCH = 2000 };
	struct store_msg *m = g_new(struct store_msg, GEN_BATCH);
	struct gen_buf *b = g_new(struct gen_buf, GEN_BATCH);
	struct store_put_item *items = g_new0(struct store_put_item, GEN_BATCH);
	int rc = 0;

	for (int64_t i = 0; i < n && rc == 0; i += GEN_BATCH) {
		size_t nb = (size_t)(n - i < GEN_BATCH ? n - i : GEN_BATCH);
		for (size_t k = 0; k < nb; k++) {
			int64_t j = i + (int64_t)k;
			/* Mail arrives in time order, as in a real store: ids follow time. */
			gen_one(&m[k], &b[k], since + (int64_t)((double)(until - since) * (double)j / (double)n), &seed);
			items[k] = (struct store_put_item){.m = &m[k]};
		}
		/* group commit: one transaction a batch */
		if (store_put_many(st, items, nb) < 0) {
			fprintf(stderr, "report_gen: %s\n", store_error(st));
			rc = 1;
		}
		for (size_t k = 0; k < nb && rc == 0; k++)
			if (items[k].rc < 0) {
				fprintf(stderr, "report_gen: %s\n", items[k].err);
				rc = 1;
			}
	}
	if (rc == 0)
		printf("%" PRId64 " messages\n", n);
	g_free(m);
	g_free(b);
	g_free(items);
	return rc;
}

int main(int argc, char **argv)
{
	struct store *st;
	char *err = NULL;
	int rc;

	if (argc < 4 || (strcmp(argv[1], "load") && strcmp(argv[1], "bulk")) ||
	    (!strcmp(argv[1], "bulk") && argc < 6)) {
		fprintf(stderr, "usage: report_gen load DB SPEC | report_gen bulk DB N SINCE UNTIL [SEED]\n");
		return 2;
	}
	if (store_open(argv[2], 10000, &st, &err) < 0) {
		fprintf(stderr, "report_gen: %s\n", err);
		g_free(err);
		return 1;
	}
	if (!strcmp(argv[1], "load"))
		rc = gen_load(st, argv[3]);
	else
		rc = gen_bulk(st, g_ascii_strtoll(argv[3], NULL, 10), g_ascii_strtoll(argv[4], NULL, 10),
		              g_ascii_strtoll(argv[5], NULL, 10),
		              (argc > 6 ? g_ascii_strtoull(argv[6], NULL, 10) : 42) | 1);
	store_close(st);
	return rc;
}
