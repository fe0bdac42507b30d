/*
 * qc_digest - quarctl digest: the recipients' digest, from the operator's side
 *
 * quarctl digest set ADDR|DOMAIN daily|weekly|never
 *	how often ADDR (or every address of DOMAIN without its own setting)
 *	gets the digest; "default" removes the setting, so that [digest]
 *	frequency applies again.
 * quarctl digest preview ADDR
 *	prints what ADDR's next digest would say (the text part), queueing
 *	nothing (notify_digest_preview()).
 * A target that is neither a plain address nor a domain name is refused
 * (exit 2) before the store is touched.
 */
#include "qc.h"

#include "notify/digest.h"

#include <string.h>

static const char qc_digest_usage[] = "usage: quarctl digest set ADDR|DOMAIN daily|weekly|never|default\n"
                                      "       quarctl digest preview ADDR\n";

/* A plain ASCII address (something@domain) or a domain name. */
static bool qc_digest_target_ok(const char *t, bool need_at)
{
	const char *at = strrchr(t, '@');
	if ((need_at && !at) || (at && at == t) || strlen(t) > 254 || !*t)
		return false;
	const char *dom = at ? at + 1 : t;
	if (!*dom || *dom == '.' || *dom == '-')
		return false;
	for (const char *c = t; c < dom; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || strchr("<>()[],;:\\\"", *c))
			return false;
	for (const char *c = dom; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '.' && *c != '-')
			return false;
	return true;
}

static int qc_digest_set(struct qc *qc, const char *target, const char *freq)
{
	bool clear = strcmp(freq, "default") == 0;
	if (!qc_digest_target_ok(target, false) ||
	    (!clear && strcmp(freq, "daily") && strcmp(freq, "weekly") && strcmp(freq, "never"))) {
		fputs(qc_digest_usage, stderr);
		return QC_EXIT_USAGE;
	}
	if (store_digest_pref_set(qc->st, target, clear ? NULL : freq) < 0) {
		fprintf(stderr, "quarctl: %s\n", store_error(qc->st));
		return QC_EXIT_STORE;
	}
	char *low = g_ascii_strdown(target, -1);
	printf("%s: digest %s\n", low, clear ? "as [digest] frequency says" : freq);
	g_free(low);
	return QC_EXIT_OK;
}

static int qc_digest_preview(struct qc *qc, const char *addr)
{
	char *err = NULL;
	if (!qc_digest_target_ok(addr, true)) {
		fputs(qc_digest_usage, stderr);
		return QC_EXIT_USAGE;
	}
	struct notify *n = notify_load(qc->conf, NULL, &err);
	int rc = QC_EXIT_OK;
	if (!n) {
		fprintf(stderr, "quarctl: %s\n", err);
		rc = QC_EXIT_USAGE;
	} else if (notify_digest_preview(n, qc->conf, qc->st, addr, time(NULL), stdout, &err) < 0) {
		fprintf(stderr, "quarctl: digest preview: %s\n", err);
		rc = QC_EXIT_STORE;
	}
	g_free(err);
	notify_free(n);
	return rc;
}

int qc_cmd_digest(struct qc *qc, int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "set") == 0)
		return qc_digest_set(qc, argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "preview") == 0)
		return qc_digest_preview(qc, argv[2]);
	fputs(qc_digest_usage, stderr);
	return QC_EXIT_USAGE;
}
