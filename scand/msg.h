/*
 * msg - one message on its way through scand
 *
 * struct msg is filled by the SMTP/LMTP session (envelope, XFORWARD
 * attributes, the spooled bytes), then by each pipeline stage (verdict
 * fields), then by policy (a destiny per recipient), and read by
 * quarantine, store, forward and notify. Invariants:
 *  - data/len is the message exactly as received after dot-unstuffing,
 *    CRLF line ends as on the wire; stages never modify it. Headers to add
 *    or remove on the forwarded copy are collected in add_headers /
 *    remove_headers and applied when forwarding.
 *  - category only ever moves up the precedence order (msg_set_category).
 */
#ifndef GH_MSG_H
#define GH_MSG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lists.h"
#include "mailcat.h"
#include "mailid.h"

struct mime_doc;

/* enum msg_category, enum msg_destiny and their store names: mailcat.h */

struct msg_rcpt {
	char *addr;    /* without <> */
	char *notify;  /* DSN NOTIFY= value or NULL */
	char *orcpt;   /* DSN ORCPT= value (xtext as received) or NULL */
	enum msg_destiny destiny;
	bool quarantine;
	char *policy;  /* name of the policy line that applied */
	char *answer;  /* SMTP reply for this recipient, once known */
	struct policy *pol; /* per-recipient policy (owned by the policy module) */
	struct list_entry *list; /* the allow/block entry for this sender, or NULL (pipeline.c) */
};

struct msg {
	char mail_id[MAILID_LEN + 1];
	struct timespec t_start;
	time_t received;

	/* envelope */
	char *sender; /* "" for <> */
	GPtrArray *rcpts; /* struct msg_rcpt* */
	char *ret;    /* DSN RET= or NULL */
	char *envid;  /* DSN ENVID= or NULL */
	char *body;   /* BODY= 7BIT/8BITMIME or NULL */
	bool smtputf8;
	int64_t declared_size;
	bool lmtp;
	char *helo;   /* HELO/EHLO/LHLO argument of the connecting MTA */

	/* XFORWARD (original client), NULL when not given */
	char *xf_name, *xf_addr, *xf_port, *xf_proto, *xf_helo, *xf_ident, *xf_source;

	/* the message */
	const unsigned char *data;
	size_t len;
	/* its MIME tree, parsed once for every stage that walks it (banned,
	 * clamav): set and freed by verdict_run() around the stages; NULL
	 * outside it, and a stage run alone parses for itself (scan_util.h) */
	struct mime_doc *mime;

	/* header fields parsed once for logs and the store (printable, may be "") */
	char *from_hdr, *subject, *message_id;

	/* verdict */
	enum msg_category category;
	char *engine;            /* which engine set the category */
	GPtrArray *virus_names;  /* char* */
	GPtrArray *banned_names; /* char* */
	bool spam_checked;
	double spam_score;
	char *spam_tests;        /* comma separated */
	GString *unchecked_reason;
	bool is_spammy;          /* >= tag2 */
	/* rspamd's action said spam / spammy ([spam] rspamd_actions = yes): the
	 * per-recipient policy honours it whatever its own kill level */
	bool spam_force_kill, spam_force_tag2;
	/* a stage's own 4xx text for STAGE_TEMPFAIL (rspamd's greylist before the
	 * queue), else NULL: the pipeline's generic 451 */
	char *tempfail_reply;
	/* facts behind the category, for the per-recipient policy (policy.c) */
	unsigned found;          /* bit (1u << c) for every category c a stage set */
	GPtrArray *attach_names; /* char*: every declared file name seen, archive members too */

	/* header edits for the forwarded copy */
	GPtrArray *add_headers;    /* char* "Name: value" without CRLF, added at the top */
	GPtrArray *remove_headers; /* char* field names, case-insensitive */

	/* quarantine result */
	char *quar_path;
	int64_t quar_size;
	char quar_sha256[65]; /* of the message as received */
	/* [scand] quarantine_backend = database: the gzip copy, written by the
	 * store with the verdict (quar_path is then only its name) */
	void *quar_blob;
	size_t quar_blob_len;

	int64_t scan_ms;
};

struct msg *msg_new(void);
void msg_free(struct msg *m);
struct msg_rcpt *msg_add_rcpt(struct msg *m, const char *addr);
/* Raises the category if c is higher; records the engine that did it. */
void msg_set_category(struct msg *m, enum msg_category c, const char *engine);
const char *msg_category_log(enum msg_category c);  /* "CLEAN", "INFECTED", "BANNED", ... (amavisd log words) */
void msg_add_header(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void msg_remove_header(struct msg *m, const char *name);
/* The destiny the store keeps once r was answered: DESTINY_TEMPFAIL when
 * its answer is 4xx (deferred, whatever the policy chose), else r->destiny. */
enum msg_destiny msg_rcpt_final_destiny(const struct msg_rcpt *r);
/* Takes back the fields name added by msg_add_header(): the value of the
 * last one (g_free), or NULL when none was added. */
char *msg_take_added(struct msg *m, const char *name);
/* Takes back msg_remove_header(m, name). */
void msg_keep_header(struct msg *m, const char *name);

#endif
