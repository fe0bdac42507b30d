/*
 * digest - the recipients' digest: what was held for each of them, with
 * signed links to view, release or delete each item (scand-web answers)
 *
 * notify_digest_run() walks the quarantined items of [digest] categories
 * (store_digest_items(), newest first per recipient) and gives each
 * recipient who is due one message from templates/digest (text) and
 * templates/digest.html (HTML) as a multipart/alternative, listing at most
 * [digest] max_items items and counting the rest ("and N more"):
 *  - due: the recipient's frequency (quarctl digest set: the address, else
 *    its domain, else [digest] frequency) is daily or weekly and no digest
 *    was queued for them in this period (UTC day, ISO week); with
 *    o->rcpt only that recipient, at once, whatever the frequency;
 *  - items: those since the recipient's last digest (o->since: since
 *    then instead), so an item is listed once;
 *  - each item links view, delete and block (the sender, for this
 *    recipient), and release and allow (release, then allow the sender)
 *    when its category is in [digest] self_release and is not virus: a
 *    virus is never self-releasable, whatever the configuration says; a
 *    message from the null sender gets neither allow nor block;
 *  - the digest goes into the durable outbox with the period's mark in one
 *    transaction (store_digest_queue(), a few hundred digests to one):
 *    a second run in the same period, or a run after a crash, queues
 *    nothing twice; the outbox delivers.
 * With o->dry_run nothing is queued and no key is created: each due
 * recipient is printed to o->out as "ADDR: N item(s)".
 * notify_digest_preview() prints to out what ADDR's next digest would say
 * (the text part, with its Subject), queueing nothing.
 * Both return 0, or -1 with *err (the store failed, no key).
 */
#ifndef GH_NOTIFY_DIGEST_H
#define GH_NOTIFY_DIGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "conf.h"
#include "notify.h"
#include "store.h"

struct notify_digest_opts {
	const char *rcpt; /* NULL = every recipient who is due */
	int64_t since;    /* 0 = since each recipient's last digest */
	bool dry_run;
	time_t now;
	FILE *out; /* dry run lines */
};

struct notify_digest_stats {
	int queued, already, items;
};

int notify_digest_run(const struct notify *n, const struct conf *c, struct store *st,
                      const struct notify_digest_opts *o, struct notify_digest_stats *stats, char **err);
int notify_digest_preview(const struct notify *n, const struct conf *c, struct store *st, const char *addr,
                          time_t now, FILE *out, char **err);

/* Whether recipients may release items of category cat themselves:
 * listed in [digest] self_release and not virus. scand-web asks the same. */
bool notify_digest_self_release(const struct conf *c, const char *cat);
/* A stored Subject as a person reads it (RFC 2047 words decoded). g_free. */
char *notify_digest_subject(const char *raw);
/* Whether cat is listed in [digest] categories. */
bool notify_digest_listed(const struct conf *c, const char *cat);

#endif
