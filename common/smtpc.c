/*
 * smtpc - SMTP/LMTP client for reinjection (see smtpc.h for the why)
 *
 * Functions: smtpc_open, smtpc_close, smtpc_set_reuse, smtpc_send,
 * smtpc_write_data, smtpc_edited_size, smtpc_xtext, smtpc_msg_clear.
 *
 * Failure reporting: smtpc_send() returns -1 with *err (g_free) for a
 * connection or protocol failure and gives every recipient without a final
 * answer a 451 4.4.x reply; a server's own refusals are results, not
 * failures (return 0, look at each recipient's code).
 *
 * Nothing from the message reaches a command line unchecked: addresses
 * with CR, LF or NUL are refused here too (the session refuses them
 * first), DSN values must be plain xtext, XFORWARD values are xtext-encoded
 * and added header fields have CR/LF/NUL turned into spaces.
 */
#include "smtpc.h"

#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>

#include "mailhdr.h"
#include "sockio.h"

#define SMTPC_REPLY_MAX 2048

/* What becomes of the connection after the current transaction. */
enum smtpc_fate {
	SMTPC_KEEP, /* reusable, within the limits */
	SMTPC_QUIT, /* the server refused the session's part: QUIT, close */
	SMTPC_DROP, /* the server said 421: close without a word */
};

struct smtpc {
	char *dest; /* without the lmtp: prefix */
	char *helo;
	bool lmtp;
	int timeout_ms;
	struct sio *sio;
	/* what the server offered */
	bool pipelining, size, eightbit, dsn, smtputf8;
	unsigned xforward; /* bit per enum smtpc_xf */
	/* The kept connection's life. Times are g_get_monotonic_time() (µs):
	 * a wall clock step must neither keep a connection forever nor drop
	 * every one. Limits 0 = none. Valid while sio is set. */
	gint64 idle_us, max_age_us;
	unsigned max_txns;
	gint64 connected_at, last_used;
	unsigned ntxns; /* transactions begun on this connection */
	enum smtpc_fate fate;
};

struct reply {
	int code;
	char *text; /* last line, with the code */
};

/* What a reply answers, for the codes that fit it (RFC 5321 4.3.2): the
 * greeting and every command 2xx/4xx/5xx (EHLO also lists extensions),
 * DATA 354/4xx/5xx. Any other reply is out of place: the server is not
 * where we think it is in the dialogue, so nothing it says can be trusted
 * to mean delivered. */
enum smtpc_step {
	SMTPC_CMD,
	SMTPC_EHLO,
	SMTPC_DATA,
};

static const char *const xf_names[XF_COUNT] = {"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"};

struct smtpc *smtpc_open(const char *dest, const char *helo_name, int timeout_s)
{
	struct smtpc *c = g_new0(struct smtpc, 1);
	c->lmtp = g_str_has_prefix(dest, "lmtp:");
	c->dest = g_strdup(c->lmtp ? dest + 5 : dest);
	c->helo = g_strdup(helo_name && *helo_name ? helo_name : "localhost");
	c->timeout_ms = timeout_s * 1000;
	return c;
}

void smtpc_set_reuse(struct smtpc *c, int idle_s, int max_age_s, int max_txns)
{
	c->idle_us = (gint64)MAX(idle_s, 0) * G_USEC_PER_SEC;
	c->max_age_us = (gint64)MAX(max_age_s, 0) * G_USEC_PER_SEC;
	c->max_txns = (unsigned)MAX(max_txns, 0);
}

static void smtpc_disconnect(struct smtpc *c)
{
	sio_free(c->sio);
	c->sio = NULL;
}

/* Ends the connection: QUIT first unless the server said 421 or the
 * connection already failed. Like Postfix, the reply to QUIT is not
 * waited for: nothing depends on it. */
static void smtpc_hangup(struct smtpc *c)
{
	if (c->sio && c->fate != SMTPC_DROP && sio_status(c->sio) == SIO_OK) {
		sio_set_timeout(c->sio, 2000);
		sio_puts(c->sio, "QUIT\r\n");
		sio_flush(c->sio);
	}
	smtpc_disconnect(c);
}

/* May the connection carry another transaction now? */
static bool smtpc_reusable(const struct smtpc *c)
{
	gint64 now = g_get_monotonic_time();

	if (c->fate != SMTPC_KEEP)
		return false;
	if (c->max_txns && c->ntxns >= c->max_txns)
		return false;
	if (c->max_age_us && now - c->connected_at >= c->max_age_us)
		return false;
	return !c->idle_us || now - c->last_used < c->idle_us;
}

/* The server refused what concerns the whole session, not a recipient:
 * whatever state it is in, a fresh connection is the safer bet. */
static void smtpc_spoil(struct smtpc *c)
{
	if (c->fate == SMTPC_KEEP)
		c->fate = SMTPC_QUIT;
}

void smtpc_close(struct smtpc *c)
{
	if (!c)
		return;
	smtpc_hangup(c);
	g_free(c->dest);
	g_free(c->helo);
	g_free(c);
}

bool smtpc_lmtp(const struct smtpc *c)
{
	return c->lmtp;
}

void smtpc_msg_clear(struct smtpc_msg *m)
{
	for (size_t i = 0; i < m->nrcpt; i++) {
		g_free(m->rcpt[i].reply);
		m->rcpt[i].reply = NULL;
		m->rcpt[i].code = 0;
	}
	m->data_sent = false;
}

static bool smtpc_fits(int code, enum smtpc_step step)
{
	int cls = code / 100;

	if (code / 10 % 10 > 5) /* x6z..x9z: no such category */
		return false;
	if (cls == 4 || cls == 5)
		return true;
	return step == SMTPC_DATA ? code == 354 : cls == 2;
}

/* Reads one (possibly multi-line) reply to step; after EHLO its keywords
 * are recorded. 0, or -1 with *err for garbage, mixed codes in one reply,
 * or a reply out of place (smtpc_fits). */
static int smtpc_reply(struct smtpc *c, struct reply *r, enum smtpc_step step, char **err)
{
	bool caps = step == SMTPC_EHLO;
	char *line;
	size_t len;

	g_free(r->text);
	r->text = NULL;
	r->code = 0;
	for (int first = 1;; first = 0) {
		int st = sio_getline(c->sio, SMTPC_REPLY_MAX, &line, &len);
		if (st) {
			*err = g_strdup_printf("%s: reading reply: %s", c->dest, sio_strstatus(st));
			return -1;
		}
		if (len < 3 || !g_ascii_isdigit(line[0]) || !g_ascii_isdigit(line[1]) ||
		    !g_ascii_isdigit(line[2]) || (len > 3 && line[3] != ' ' && line[3] != '-')) {
			char *p = g_strndup(line, MIN(len, 80));
			*err = g_strdup_printf("%s: malformed reply: %s", c->dest, p);
			g_free(p);
			return -1;
		}
		int code = atoi(line);
		if (!first && code != r->code) {
			*err = g_strdup_printf("%s: inconsistent multi-line reply", c->dest);
			return -1;
		}
		r->code = code;
		if (caps && !first && len > 4) {
			gchar **w = g_strsplit_set(line + 4, " ", -1);
			const char *k = w[0];
			if (g_ascii_strcasecmp(k, "PIPELINING") == 0)
				c->pipelining = true;
			else if (g_ascii_strcasecmp(k, "SIZE") == 0)
				c->size = true;
			else if (g_ascii_strcasecmp(k, "8BITMIME") == 0)
				c->eightbit = true;
			else if (g_ascii_strcasecmp(k, "DSN") == 0)
				c->dsn = true;
			else if (g_ascii_strcasecmp(k, "SMTPUTF8") == 0)
				c->smtputf8 = true;
			else if (g_ascii_strcasecmp(k, "XFORWARD") == 0)
				for (int i = 1; w[i]; i++)
					for (int x = 0; x < XF_COUNT; x++)
						if (g_ascii_strcasecmp(w[i], xf_names[x]) == 0)
							c->xforward |= 1u << x;
			g_strfreev(w);
		}
		if (len == 3 || line[3] == ' ') {
			if (code == 421) /* the server is closing, whatever the command */
				c->fate = SMTPC_DROP;
			/* the reply text goes back to our client: printable only */
			r->text = g_strndup(line, MIN(len, 512));
			for (char *p = r->text; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = ' ';
			if (smtpc_fits(code, step))
				return 0;
			*err = g_strdup_printf("%s: reply out of place: %.80s", c->dest, r->text);
			return -1;
		}
	}
}

static int smtpc_cmd(struct smtpc *c, struct reply *r, enum smtpc_step step, char **err, const char *cmd)
{
	if (sio_puts(c->sio, cmd) || sio_puts(c->sio, "\r\n") || sio_flush(c->sio)) {
		*err = g_strdup_printf("%s: sending: %s", c->dest, sio_strstatus(sio_status(c->sio)));
		return -1;
	}
	return smtpc_reply(c, r, step, err);
}

static int smtpc_connect(struct smtpc *c, char **err)
{
	struct reply r = {0};
	int fd = sio_connect(c->dest, c->timeout_ms, err);

	if (fd < 0)
		return -1;
	c->sio = sio_new(fd, c->timeout_ms);
	c->pipelining = c->size = c->eightbit = c->dsn = c->smtputf8 = false;
	c->xforward = 0;
	c->connected_at = c->last_used = g_get_monotonic_time();
	c->ntxns = 0;
	c->fate = SMTPC_KEEP;
	if (smtpc_reply(c, &r, SMTPC_CMD, err) < 0)
		goto fail;
	if (r.code != 220) {
		*err = g_strdup_printf("%s: greeting: %s", c->dest, r.text);
		goto fail;
	}
	char *cmd = g_strdup_printf("%s %s\r\n", c->lmtp ? "LHLO" : "EHLO", c->helo);
	int st = sio_puts(c->sio, cmd) || sio_flush(c->sio);
	g_free(cmd);
	if (st || smtpc_reply(c, &r, SMTPC_EHLO, err) < 0) {
		if (!*err)
			*err = g_strdup_printf("%s: sending EHLO failed", c->dest);
		goto fail;
	}
	if (r.code != 250) {
		*err = g_strdup_printf("%s: %s refused: %s", c->dest, c->lmtp ? "LHLO" : "EHLO", r.text);
		goto fail;
	}
	g_free(r.text);
	return 0;
fail:
	g_free(r.text);
	smtpc_disconnect(c);
	return -1;
}

/* A kept connection the server has closed (or sent 421 on) is readable. */
static bool smtpc_stale(struct smtpc *c)
{
	struct pollfd p = {.fd = sio_fd(c->sio), .events = POLLIN};
	return sio_status(c->sio) != SIO_OK || sio_pending(c->sio) || poll(&p, 1, 0) != 0;
}

char *smtpc_xtext(const char *s)
{
	GString *o = g_string_new("");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= '!' && *p <= '~' && *p != '+' && *p != '=')
			g_string_append_c(o, (char)*p);
		else
			g_string_append_printf(o, "+%02X", *p);
	}
	return g_string_free(o, FALSE);
}

static bool plain_token(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool safe_addr(const char *s)
{
	return s && !strpbrk(s, "\r\n") && !strchr(s, '<') && !strchr(s, '>');
}

/* XFORWARD attributes the server offers, packed into short commands. */
static int smtpc_put_xforward(struct smtpc *c, const struct smtpc_msg *m)
{
	int ncmd = 0;
	GString *line = g_string_new("");

	for (int x = 0; x < XF_COUNT; x++) {
		if (!(c->xforward & (1u << x)) || !m->xforward[x])
			continue;
		char *v = smtpc_xtext(m->xforward[x]);
		if (strlen(v) > 255)
			v[255] = '\0';
		if (line->len && line->len + strlen(v) + 16 > 500) {
			g_string_append(line, "\r\n");
			sio_write(c->sio, line->str, line->len);
			g_string_truncate(line, 0);
			ncmd++;
		}
		g_string_append_printf(line, "%s %s=%s", line->len ? "" : "XFORWARD", xf_names[x], v);
		g_free(v);
	}
	if (line->len) {
		g_string_append(line, "\r\n");
		sio_write(c->sio, line->str, line->len);
		ncmd++;
	}
	g_string_free(line, TRUE);
	return ncmd;
}

static void smtpc_put_mail(struct smtpc *c, const struct smtpc_msg *m)
{
	GString *l = g_string_new("");
	g_string_append_printf(l, "MAIL FROM:<%s>", m->sender);
	if (c->size)
		g_string_append_printf(l, " SIZE=%" G_GINT64_FORMAT, smtpc_edited_size(m));
	if (c->eightbit && m->body && plain_token(m->body))
		g_string_append_printf(l, " BODY=%s", m->body);
	if (c->smtputf8 && m->smtputf8)
		g_string_append(l, " SMTPUTF8");
	if (c->dsn && m->ret && plain_token(m->ret))
		g_string_append_printf(l, " RET=%s", m->ret);
	if (c->dsn && m->envid && plain_token(m->envid))
		g_string_append_printf(l, " ENVID=%s", m->envid);
	g_string_append(l, "\r\n");
	sio_write(c->sio, l->str, l->len);
	g_string_free(l, TRUE);
}

static void smtpc_put_rcpt(struct smtpc *c, const struct smtpc_rcpt *r)
{
	GString *l = g_string_new("");
	g_string_append_printf(l, "RCPT TO:<%s>", r->addr);
	if (c->dsn && r->notify && plain_token(r->notify))
		g_string_append_printf(l, " NOTIFY=%s", r->notify);
	if (c->dsn && r->orcpt && plain_token(r->orcpt))
		g_string_append_printf(l, " ORCPT=%s", r->orcpt);
	g_string_append(l, "\r\n");
	sio_write(c->sio, l->str, l->len);
	g_string_free(l, TRUE);
}

/* The reply text always starts with the code it is filed under, so that
 * whoever reads only the text (a reply passed on to our client) reads the
 * code that was decided on. */
static void set_final(struct smtpc_rcpt *r, int code, const char *text)
{
	char c3[4];

	if (r->code)
		return;
	r->code = code;
	g_free(r->reply);
	g_snprintf(c3, sizeof(c3), "%03d", code);
	if (strncmp(text, c3, 3) == 0 && (text[3] == '\0' || text[3] == ' '))
		r->reply = g_strdup(text);
	else
		r->reply = g_strdup_printf("%s %s", c3, text);
}

static void fail_pending(struct smtpc_msg *m, const char *why)
{
	char *t = g_strdup_printf("451 4.4.2 Downstream failure: %s", why);
	for (size_t i = 0; i < m->nrcpt; i++)
		set_final(&m->rcpt[i], 451, t);
	g_free(t);
}

/* DATA may go in the same packet as MAIL and RCPT (RFC 2920) only when
 * no reply to RCPT could make us want to take it back: with one
 * recipient, a refusal leaves nobody to deliver to (the server refuses
 * DATA); without abort_on_rcpt_tempfail, the accepted ones get the
 * message whatever the others were told. One round trip less per message. */
static bool smtpc_pipeline_data(const struct smtpc *c, const struct smtpc_msg *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nrcpt; i++)
		n += !m->rcpt[i].code;
	return c->pipelining && (n <= 1 || !m->abort_on_rcpt_tempfail);
}

/* The commands up to the recipients' replies, and DATA with them when
 * smtpc_pipeline_data() allows (then *data_early is true). Returns the
 * number of accepted recipients (acc[] marks them),
 * or -1 on I/O failure. *replied tells whether any reply of this
 * transaction was read. */
static int smtpc_envelope(struct smtpc *c, struct smtpc_msg *m, bool *acc, bool *replied, bool *data_early,
                          char **err)
{
	struct reply r = {0};
	int accepted = 0, nxf = smtpc_put_xforward(c, m);
	char *mail_text = NULL;

	if (!c->pipelining) {
		if (sio_flush(c->sio))
			goto ioerr;
		for (int i = 0; i < nxf; i++, *replied = true)
			if (smtpc_reply(c, &r, SMTPC_CMD, err) < 0)
				goto fail;
	}
	smtpc_put_mail(c, m);
	if (c->pipelining)
		for (size_t i = 0; i < m->nrcpt; i++)
			if (!m->rcpt[i].code) /* already refused here */
				smtpc_put_rcpt(c, &m->rcpt[i]);
	*data_early = smtpc_pipeline_data(c, m);
	if (*data_early)
		sio_puts(c->sio, "DATA\r\n");
	if (sio_flush(c->sio))
		goto ioerr;
	for (int i = 0; c->pipelining && i < nxf; i++, *replied = true)
		if (smtpc_reply(c, &r, SMTPC_CMD, err) < 0) /* an XFORWARD refusal is not fatal */
			goto fail;
	if (smtpc_reply(c, &r, SMTPC_CMD, err) < 0)
		goto fail;
	*replied = true;
	int mail_code = r.code;
	mail_text = g_strdup(r.text);
	if (mail_code / 100 != 2)
		smtpc_spoil(c);
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].code)
			continue;
		if (!c->pipelining && mail_code / 100 != 2)
			break;
		if (!c->pipelining) {
			smtpc_put_rcpt(c, &m->rcpt[i]);
			if (sio_flush(c->sio))
				goto ioerr;
		}
		if (smtpc_reply(c, &r, SMTPC_CMD, err) < 0)
			goto fail;
		if (mail_code / 100 == 2 && r.code / 100 == 2)
			acc[i] = true, accepted++;
		else
			set_final(&m->rcpt[i], mail_code / 100 != 2 ? mail_code : r.code,
			          mail_code / 100 != 2 ? mail_text : r.text);
	}
	for (size_t i = 0; mail_code / 100 != 2 && i < m->nrcpt; i++)
		set_final(&m->rcpt[i], mail_code, mail_text); /* MAIL refused, not pipelined */
	g_free(mail_text);
	g_free(r.text);
	return accepted;
ioerr:
	*err = g_strdup_printf("%s: sending: %s", c->dest, sio_strstatus(sio_status(c->sio)));
fail:
	g_free(mail_text);
	g_free(r.text);
	return -1;
}

/* The reply to a DATA sent with the envelope when no recipient is to get
 * the message. A server that says 354 all the same gets an empty message
 * it has no recipient for. */
static int smtpc_data_unwanted(struct smtpc *c, char **err)
{
	struct reply r = {0};
	int ret = smtpc_reply(c, &r, SMTPC_DATA, err);
	if (ret == 0 && r.code == 354) {
		smtpc_spoil(c); /* it should have refused */
		ret = smtpc_cmd(c, &r, SMTPC_CMD, err, ".");
	}
	g_free(r.text);
	return ret;
}

/* DATA (unless sent with the envelope) and the reply (SMTP) or one reply
 * per accepted recipient (LMTP). */
static int smtpc_data(struct smtpc *c, struct smtpc_msg *m, const bool *acc, bool data_early, char **err)
{
	struct reply r = {0};
	int ret = -1;

	if (data_early ? smtpc_reply(c, &r, SMTPC_DATA, err) < 0
	               : smtpc_cmd(c, &r, SMTPC_DATA, err, "DATA") < 0)
		goto out;
	if (r.code != 354) { /* 4xx or 5xx (smtpc_fits) */
		smtpc_spoil(c);
		for (size_t i = 0; i < m->nrcpt; i++)
			set_final(&m->rcpt[i], r.code, r.text);
		ret = 0;
		goto out;
	}
	if (smtpc_write_data(c->sio, m) || sio_flush(c->sio)) {
		*err = g_strdup_printf("%s: sending data: %s", c->dest, sio_strstatus(sio_status(c->sio)));
		goto out;
	}
	m->data_sent = true;
	if (!c->lmtp && smtpc_reply(c, &r, SMTPC_CMD, err) < 0)
		goto out;
	if (!c->lmtp && r.code / 100 != 2)
		smtpc_spoil(c);
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (!acc[i])
			continue;
		if (c->lmtp && smtpc_reply(c, &r, SMTPC_CMD, err) < 0)
			goto out;
		set_final(&m->rcpt[i], r.code, r.text);
	}
	ret = 0;
out:
	g_free(r.text);
	return ret;
}

static int smtpc_transact(struct smtpc *c, struct smtpc_msg *m, bool *replied, char **err)
{
	struct reply r = {0};
	bool *acc = g_new0(bool, m->nrcpt), data_early = false;
	int ret = -1;
	int accepted = smtpc_envelope(c, m, acc, replied, &data_early, err);

	if (accepted < 0)
		goto out;
	bool tempfail = false;
	for (size_t i = 0; i < m->nrcpt; i++)
		tempfail |= !acc[i] && m->rcpt[i].code / 100 == 4;
	if (accepted == 0 || (tempfail && m->abort_on_rcpt_tempfail)) {
		for (size_t i = 0; i < m->nrcpt; i++)
			if (acc[i])
				set_final(&m->rcpt[i], 451,
				          "451 4.3.0 Not sent: another recipient was deferred");
		if (data_early && smtpc_data_unwanted(c, err) < 0)
			goto out;
		ret = smtpc_cmd(c, &r, SMTPC_CMD, err, "RSET");
		if (ret == 0 && r.code / 100 != 2)
			smtpc_spoil(c);
		goto out;
	}
	ret = smtpc_data(c, m, acc, data_early, err);
out:
	g_free(r.text);
	g_free(acc);
	return ret;
}

int smtpc_send(struct smtpc *c, struct smtpc_msg *m, char **err)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (!safe_addr(m->rcpt[i].addr))
			set_final(&m->rcpt[i], 501, "501 5.1.3 Bad recipient address syntax");
	if (!safe_addr(m->sender)) {
		fail_pending(m, "bad sender address");
		*err = g_strdup("bad sender address");
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->sio && !smtpc_reusable(c)) /* idle or old: a fresh one */
			smtpc_hangup(c);
		bool reused = c->sio && !smtpc_stale(c), replied = false;
		if (!reused) {
			smtpc_disconnect(c);
			if (smtpc_connect(c, err) < 0)
				break;
		}
		c->ntxns++;
		int ret = smtpc_transact(c, m, &replied, err);
		c->last_used = g_get_monotonic_time();
		if (ret == 0) {
			if (!smtpc_reusable(c)) /* refused, spent or old: not kept */
				smtpc_hangup(c);
			return 0;
		}
		smtpc_hangup(c);
		/* A kept connection may die between our check and our command:
		 * try once more on a fresh one if nothing of this transaction
		 * was answered yet (so nothing can have been delivered). */
		if (!reused || replied || m->data_sent)
			break;
		g_free(*err);
		*err = NULL;
	}
	fail_pending(m, *err ? *err : "unknown");
	return -1;
}

/* --- the message on the wire --- */

struct stuffer {
	struct sio *s;
	bool bol;
	int64_t count; /* bytes of message (before stuffing) */
};

/* Writes bytes, doubling a '.' at the start of each line. */
static int stuff_write(struct stuffer *st, const unsigned char *p, size_t n)
{
	st->count += (int64_t)n;
	if (!st->s) { /* only counting */
		if (n)
			st->bol = p[n - 1] == '\n';
		return 0;
	}
	while (n > 0) {
		if (st->bol && *p == '.' && sio_write(st->s, ".", 1))
			return -1;
		/* one write up to the next line that starts with '.' (or the end) */
		const unsigned char *q = p, *end = p + n, *nl = NULL;
		while ((nl = memchr(q, '\n', (size_t)(end - q))) != NULL && nl + 1 < end && nl[1] != '.')
			q = nl + 1;
		size_t seg = nl ? (size_t)(nl - p) + 1 : n;
		if (sio_write(st->s, p, seg))
			return -1;
		st->bol = p[seg - 1] == '\n';
		p += seg;
		n -= seg;
	}
	return 0;
}

static bool removed(const struct smtpc_msg *m, const struct mailhdr_field *f)
{
	for (size_t i = 0; i < m->nremove; i++)
		if (mailhdr_is(f, m->remove_headers[i]))
			return true;
	return false;
}

/* Header edits + message through the stuffer; s NULL only counts. */
static int smtpc_emit(struct stuffer *st, const struct smtpc_msg *m)
{
	for (size_t i = 0; i < m->nadd; i++) {
		char *h = g_strdup(m->add_headers[i]);
		for (char *p = h; *p; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
		int r = stuff_write(st, (unsigned char *)h, strlen(h)) ||
		        stuff_write(st, (const unsigned char *)"\r\n", 2);
		g_free(h);
		if (r)
			return -1;
	}
	size_t pos = 0, cur = 0;
	struct mailhdr_field f;
	while (m->nremove && mailhdr_next(m->data, m->len, &pos, &f)) {
		if (!removed(m, &f))
			continue;
		size_t fs = (size_t)(f.start - m->data);
		if (stuff_write(st, m->data + cur, fs - cur))
			return -1;
		cur = fs + f.len;
	}
	if (stuff_write(st, m->data + cur, m->len - cur))
		return -1;
	if (m->len > 0 && !st->bol) /* the terminator must start a line */
		return stuff_write(st, (const unsigned char *)"\r\n", 2);
	return 0;
}

int smtpc_write_data(struct sio *s, const struct smtpc_msg *m)
{
	struct stuffer st = {.s = s, .bol = true};
	if (smtpc_emit(&st, m) < 0)
		return -1;
	return sio_write(s, ".\r\n", 3);
}

int64_t smtpc_edited_size(const struct smtpc_msg *m)
{
	struct stuffer st = {.s = NULL, .bol = true};
	smtpc_emit(&st, m);
	return st.count;
}
