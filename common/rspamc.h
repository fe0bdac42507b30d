/*
 * rspamc - a client of rspamd's HTTP protocol, on libcurl and json-glib
 *
 * The rspamd backend of common/spam.h (callers use that, not this).
 *
 * rspamc_new() takes the address for checks ([spam] rspamd) and for
 * learning ([spam] rspamd_controller), each "host:port", "[v6]:port" or
 * "unix:/path", the controller password (NULL or "" for none), a timeout
 * in milliseconds for each call as a whole, and the largest reply it
 * reads. NULL + *err for an address it cannot use.
 *
 * rspamc_check() POSTs the message to /checkv2 with the envelope as
 * request headers (IP, Helo, Hostname, From, one Rcpt per recipient,
 * Queue-Id, User; CR, LF and other control characters replaced) and maps
 * the JSON reply onto struct spam_result (rspamc_parse, exposed for
 * tests): score, action, symbols, messages.smtp_message,
 * milter.add_headers / remove_headers. The verdict is left to the caller.
 *
 * rspamc_learn() POSTs to the controller's /learnspam or /learnham
 * (with Password when set). rspamd's answer to a message it has already
 * learned as that class (HTTP 208, or 404 "already learned" from 3.4)
 * counts as success.
 *
 * Connections: each thread has one curl easy handle, reused for every
 * call the thread makes, so a scan worker keeps its connection to rspamd
 * open between messages whenever rspamd allows it (HTTP keep-alive).
 * rspamd 3.4's normal worker does not: it answers "Connection: close",
 * and each check then costs one loopback connect. A reply larger than the
 * bound is refused ("reply larger than N bytes") and its connection
 * dropped.
 *
 * Every call returns 0, or -1 with *err (g_free): what went wrong and
 * where (connect, timeout, HTTP status, a reply that is not rspamd's).
 */
#ifndef GH_RSPAMC_H
#define GH_RSPAMC_H

#include <stddef.h>
#include <stdint.h>

#include "spam.h"

#define RSPAMC_MAX_REPLY (1024 * 1024)

struct rspamc;

struct rspamc *rspamc_new(const char *check_addr, const char *controller_addr, const char *password,
                          int64_t timeout_ms, size_t max_reply, char **err);
void rspamc_free(struct rspamc *c);
const char *rspamc_name(const struct rspamc *c);

int rspamc_check(const struct rspamc *c, const struct spam_envelope *env, const void *data, size_t len,
                 struct spam_result *r, char **err);
int rspamc_parse(const char *json, size_t len, struct spam_result *r, char **err);
int rspamc_learn(const struct rspamc *c, enum spam_class cls, const void *data, size_t len, char **err);

#endif
