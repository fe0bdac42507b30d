/*
 * report_gen - fill a verdict store for the report tests and benchmark
 *
 *   report_gen load DB SPEC    one message per SPEC line, through store_put()
 *   report_gen bulk DB N SINCE UNTIL [SEED]
 *                              N pseudo-random messages in [SINCE, UNTIL)
 *                              in one transaction with prepared statements
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

static int gen_bulk(struct store *st, int64_t n, int64_t since, int64_t until, uint64_t seed)
{
	static const char *const dest[] = {"pass", "discard", "bounce", "reject"};
	sqlite3 *db = store_db(st);
	sqlite3_stmt *im, *ir;
	int rc = 1;

	if (sqlite3_prepare_v2(
	        db,
	        "INSERT INTO msgs (mail_id, time, sender, size, category, virus_names, banned_names, "
	        "spam_score, scan_ms, quar_path, quar_state, unchecked_reason) "
	        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
	        -1, &im, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO msgrcpt (msg, rseq, addr, domain, destiny) VALUES (?,?,?,?,?)",
	                       -1, &ir, NULL) != SQLITE_OK) {
		fprintf(stderr, "report_gen: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	/* Room for the random-keyed indexes (mail_id, sender, addr) while loading. */
	sqlite3_exec(db, "PRAGMA cache_size = -262144", NULL, NULL, NULL);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (int64_t i = 0; i < n; i++) {
		char id[MAILID_LEN + 1], sender[64], vname[32], rcpt[64], dom[32];
		uint64_t r = gen_rand(&seed);
		const char *cat = gen_category(r);
		bool blocked = !strcmp(cat, "virus") || !strcmp(cat, "banned") || !strcmp(cat, "spam");
		mailid_new(id);
		snprintf(sender, sizeof(sender), "user%u@sender%u.example", (unsigned)(r >> 20) % 5000,
		         (unsigned)(r >> 40) % 500);
		snprintf(vname, sizeof(vname), "Test.Virus-%u", (unsigned)(r >> 12) % 20);
		sqlite3_bind_text(im, 1, id, -1, SQLITE_TRANSIENT);
		/* Mail arrives in time order, as in a real store: ids follow time. */
		sqlite3_bind_int64(im, 2, since + (int64_t)((double)(until - since) * (double)i / (double)n));
		sqlite3_bind_text(im, 3, sender, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(im, 4, 1000 + (int64_t)(r >> 30) % 200000);
		sqlite3_bind_text(im, 5, cat, -1, SQLITE_STATIC);
		sqlite3_bind_text(im, 6, strcmp(cat, "virus") ? "" : vname, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(im, 7, strcmp(cat, "banned") ? "" : "invoice.pdf.exe", -1, SQLITE_STATIC);
		sqlite3_bind_double(im, 8, (double)((int)((r >> 8) % 300) - 50) / 10.0);
		sqlite3_bind_int64(im, 9, (int64_t)(r >> 50) % 400);
		if (blocked)
			sqlite3_bind_text(im, 10, cat, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(im, 10);
		sqlite3_bind_text(im, 11, blocked ? "quarantined" : "none", -1, SQLITE_STATIC);
		sqlite3_bind_text(im, 12, strcmp(cat, "unchecked") ? "" : "spamd: connection refused", -1,
		                  SQLITE_STATIC);
		if (sqlite3_step(im) != SQLITE_DONE)
			goto fail;
		sqlite3_reset(im);
		int64_t msg = sqlite3_last_insert_rowid(db);
		for (int k = 0; k < 1 + (int)((r >> 4) % 3); k++) {
			snprintf(dom, sizeof(dom), "dom%u.example", (unsigned)((r >> (k + 5)) % 50));
			snprintf(rcpt, sizeof(rcpt), "rcpt%u@%s", (unsigned)((r >> (k + 20)) % 2000), dom);
			sqlite3_bind_int64(ir, 1, msg);
			sqlite3_bind_int(ir, 2, k);
			sqlite3_bind_text(ir, 3, rcpt, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ir, 4, dom, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ir, 5, blocked ? dest[1 + (r >> 7) % 3] : dest[0], -1,
			                  SQLITE_STATIC);
			if (sqlite3_step(ir) != SQLITE_DONE)
				goto fail;
			sqlite3_reset(ir);
		}
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	printf("%" PRId64 " messages\n", n);
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "report_gen: %s\n", sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
done:
	sqlite3_finalize(im);
	sqlite3_finalize(ir);
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
