/*
 * spamc - a client of SpamAssassin's spamd (the SPAMC/1.5 protocol)
 *
 * Below the programs so that every one that needs spamd uses the same
 * client: common/spam.c (the spam engine, [spam] backend = spamd) checks
 * messages for scand's spam stage and teaches spamd for quarctl.
 *
 * spamc_new() takes an address "host:port", "[v6]:port" or "unix:/path"
 * and a timeout in milliseconds that bounds each call as a whole (connect,
 * write, read: one deadline). NULL + *err for an address it cannot use.
 * One connection per call (spamd closes after each answer); calls on one
 * struct spamc may run in parallel (it is read only).
 *
 * spamc_check() sends a message with CHECK, SYMBOLS or REPORT and fills
 * *r: is_spam, score and threshold from "Spam: True ; 15.0 / 5.0", and
 * for SYMBOLS the rule names (comma separated, filtered to
 * [A-Za-z0-9_.-] so that they can go into a header or a log line), for
 * REPORT the report text (printable). Clear *r with spamc_result_clear().
 * spamc_parse() parses a complete answer to such a command (exposed for
 * tests).
 *
 * spam_learn() teaches the engine a message as spam or ham: for spamd a
 * TELL with Message-class: spam|ham and Set: local (spamd must run with
 * --allow-tell; a spamd without it answers an error that is passed on,
 * with that hint). Learning a message again as the other class moves it.
 *
 * Every call returns 0, or -1 with *err (g_free): what went wrong and
 * where (connect, write, read timeout, spamd's own error line).
 */
#ifndef GH_SPAMC_H
#define GH_SPAMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spamc;

enum spamc_cmd { SPAMC_CHECK, SPAMC_SYMBOLS, SPAMC_REPORT };
enum spam_class { SPAM_CLASS_SPAM, SPAM_CLASS_HAM };

struct spamc_result {
	bool is_spam;
	double score, threshold;
	char *tests;  /* SYMBOLS: "RULE_A,RULE_B"; else NULL */
	char *report; /* REPORT: the report text; else NULL */
};

struct spamc *spamc_new(const char *addr, int64_t timeout_ms, char **err);
void spamc_free(struct spamc *c);
/* The address for log lines: the host or the socket path. */
const char *spamc_name(const struct spamc *c);

int spamc_check(const struct spamc *c, enum spamc_cmd cmd, const void *data, size_t len,
                struct spamc_result *r, char **err);
int spamc_parse(const char *resp, size_t len, enum spamc_cmd cmd, struct spamc_result *r, char **err);
void spamc_result_clear(struct spamc_result *r);

int spam_learn(const struct spamc *c, enum spam_class cls, const void *data, size_t len, char **err);

#endif
