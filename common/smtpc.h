/*
 * smtpc - a small SMTP/LMTP client for transparent reinjection
 *
 * Why not libesmtp: a content filter must hand the message on exactly as
 * it came, with the original client's identity. libesmtp cannot send
 * XFORWARD and adds Date/Message-Id header fields when they are missing;
 * this client sends XFORWARD (only the attributes the server offers),
 * passes DSN parameters (NOTIFY, ORCPT, RET, ENVID) when the server offers
 * DSN, SIZE/BODY/SMTPUTF8 when offered, and changes nothing in the message
 * except the header edits it is given (added fields on top, named fields
 * with their continuation lines removed). The body is sent byte-identical
 * (dot-stuffed on the wire).
 *
 * smtpc_open() prepares a client for a destination ("host:port",
 * "unix:/path", prefixed with "lmtp:" for LMTP); the connection is made
 * on first use and kept for the next message (a connection the server has
 * closed meanwhile is noticed and replaced before anything is sent).
 *
 * A kept connection has a bounded life, as in Postfix's connection cache:
 * smtpc_set_reuse() limits the time it may sit unused, its age since
 * connect and the transactions it carries (all measured on the monotonic
 * clock; 0 = no limit, the default). A connection is also not reused after
 * a transaction in which the server refused MAIL, DATA or the message as
 * a whole (SMTP's reply to the final dot; LMTP's per-recipient replies
 * count like RCPT refusals), refused RSET, or failed on the way: it gets
 * QUIT and is closed. After a 421 anywhere it is just closed. A refused
 * recipient alone keeps it.
 *
 * smtpc_send() runs one transaction: EHLO/LHLO when needed, XFORWARD,
 * MAIL, RCPT (pipelined when offered), then DATA unless no recipient was
 * accepted or abort_on_rcpt_tempfail is set and a recipient got 4xx (then
 * RSET: nothing was delivered). Each recipient gets its final code and
 * reply text: its RCPT reply if refused, else the DATA reply (SMTP) or its
 * own post-DATA reply (LMTP). A connection or protocol failure sets every
 * recipient that has no final answer yet to 451 4.4.x with the reason.
 * A reply out of place in the dialogue is a protocol failure: garbage, a
 * code outside 2xx-5xx, a multi-line reply whose lines carry different
 * codes, or a class the step cannot have (a 2xx or 3xx other than 354 to
 * DATA, a 3xx to anything else, the end of data included). The server is
 * then not where we think it is, and none of its words can mean
 * "delivered". So a recipient's final code is always 2xx, 4xx or 5xx, and
 * its reply text starts with that code.
 *
 * Return: 0 when the transaction ran to its end (look at the recipients),
 * -1 when it failed on the way (recipients carry 4xx). Nothing is logged
 * here; the caller logs *err.
 */
#ifndef GH_SMTPC_H
#define GH_SMTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum smtpc_xf { XF_NAME, XF_ADDR, XF_PORT, XF_PROTO, XF_HELO, XF_IDENT, XF_SOURCE, XF_COUNT };

struct smtpc_rcpt {
	const char *addr;   /* without <> */
	const char *notify; /* DSN NOTIFY value, or NULL */
	const char *orcpt;  /* DSN ORCPT value (xtext), or NULL */
	/* results */
	int code;           /* final reply code: 2xx, 4xx or 5xx */
	char *reply;        /* final reply text starting with code: "250 2.0.0 Ok: queued as X"; g_free */
};

struct smtpc_msg {
	const char *sender; /* "" for <> */
	struct smtpc_rcpt *rcpt;
	size_t nrcpt;
	const char *ret, *envid, *body; /* DSN RET, ENVID (xtext), BODY; NULL = none */
	bool smtputf8;
	const char *xforward[XF_COUNT]; /* decoded values; NULL = not sent */
	const unsigned char *data;      /* the message, CRLF line ends */
	size_t len;
	const char *const *add_headers; /* "Name: value" without line end */
	size_t nadd;
	const char *const *remove_headers; /* field names */
	size_t nremove;
	bool abort_on_rcpt_tempfail;
	/* results */
	bool data_sent; /* the final "." went out: the server may have the message */
};

struct smtpc;

struct smtpc *smtpc_open(const char *dest, const char *helo_name, int timeout_s);
void smtpc_close(struct smtpc *c); /* sends QUIT when connected */
/* Limits on a kept connection's life; 0 = none. Applies from the next
 * smtpc_send(). */
void smtpc_set_reuse(struct smtpc *c, int idle_s, int max_age_s, int max_txns);
bool smtpc_lmtp(const struct smtpc *c);
int smtpc_send(struct smtpc *c, struct smtpc_msg *m, char **err);
void smtpc_msg_clear(struct smtpc_msg *m); /* frees the recipients' results */

/* Writes the message as it goes on the wire after DATA: header edits
 * applied, dot-stuffed, ending with ".\r\n". Exposed for tests. */
struct sio;
int smtpc_write_data(struct sio *s, const struct smtpc_msg *m);
/* Size of the message after header edits (for SIZE=). */
int64_t smtpc_edited_size(const struct smtpc_msg *m);
/* xtext (RFC 3461) encoding of a value, with CR/LF/NUL impossible in the
 * result. g_free(). */
char *smtpc_xtext(const char *s);

#endif
