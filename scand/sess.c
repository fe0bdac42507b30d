/*
 * sess - the SMTP/LMTP server side of scand (see sess.h)
 *
 * Functions: sess_run; internally sess_command dispatches to one handler
 * per command (sess_hello for HELO/EHLO/LHLO, sess_xforward, sess_mail,
 * sess_rcpt, sess_data), and sess_data_reply, the one place that answers
 * after the data (LMTP: once per recipient).
 *
 * Protocol errors are answered with a 5xx and counted; at max_errors the
 * session ends with 421 4.7.0. A command line longer than 1000 bytes
 * (with its CR LF) gets 500 5.5.2 and the session goes on. Command lines
 * with CR or NUL inside are refused, so no address, parameter or XFORWARD
 * value can carry a line break further. I/O failures and timeouts end the
 * session (a timeout with 421 4.4.2).
 *
 * DATA: lines are unstuffed (a leading '.' removed) and spooled; the end
 * is "." alone on a line after a CR LF line end (a bare LF does not end a
 * line for this purpose, which closes the SMTP smuggling gap), found
 * however the reads cut it.
 */
#include "sess.h"

#include <glib.h>
#include <string.h>

#include "log.h"
#include "pipeline.h"
#include "sockio.h"

#define SESS_LINE_MAX 1000 /* a command line with CR LF (RFC 5321 text line) */

struct sess {
	struct worker *w;
	const struct conf *c;
	struct sio *io;
	char *peer;
	const char *host;
	char *helo;
	bool greeted, esmtp, lmtp, quit;
	int errors, max_errors, max_rcpt;
	int64_t size_limit;
	int cmd_timeout_ms, data_timeout_ms;
	struct msg *m; /* the transaction after MAIL, else NULL */
	char *xf[XF_COUNT];
};

static const char *const xf_attr[XF_COUNT] = {"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"};

static void sess_reply(struct sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sess_reply(struct sess *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *t = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	sio_puts(s->io, t);
	sio_puts(s->io, "\r\n");
	g_free(t);
}

/* A protocol error: reply and count; too many end the session. */
static void sess_error(struct sess *s, const char *reply)
{
	sess_reply(s, "%s", reply);
	if (++s->errors >= s->max_errors) {
		sess_reply(s, "421 4.7.0 %s Error: too many errors", s->host);
		msg_info("too many errors from %s", s->peer);
		s->quit = true;
	}
}

static void sess_reset(struct sess *s)
{
	msg_free(s->m);
	s->m = NULL;
}

static void sess_xf_reset(struct sess *s)
{
	for (int i = 0; i < XF_COUNT; i++) {
		g_free(s->xf[i]);
		s->xf[i] = NULL;
	}
}

static void sess_capabilities(struct sess *s)
{
	sess_reply(s, "250-%s", s->host);
	sess_reply(s, "250-PIPELINING");
	sess_reply(s, "250-SIZE %" G_GINT64_FORMAT, s->size_limit);
	sess_reply(s, "250-8BITMIME");
	sess_reply(s, "250-ENHANCEDSTATUSCODES");
	sess_reply(s, "250-SMTPUTF8");
	sess_reply(s, "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE");
	sess_reply(s, "250 DSN");
}

static void sess_hello(struct sess *s, const char *verb, const char *arg)
{
	if (!*arg) {
		sess_error(s, strcmp(verb, "LHLO") == 0 ? "501 5.5.4 Syntax: LHLO hostname"
		                                        : "501 5.5.4 Syntax: EHLO/HELO hostname");
		return;
	}
	sess_reset(s);
	sess_xf_reset(s);
	g_free(s->helo);
	s->helo = g_strdup(arg);
	s->greeted = true;
	s->lmtp = strcmp(verb, "LHLO") == 0;
	s->esmtp = strcmp(verb, "HELO") != 0;
	if (s->esmtp)
		sess_capabilities(s);
	else
		sess_reply(s, "250 %s", s->host);
}

/* xtext (RFC 3461) decoding; NULL if malformed. */
static char *xtext_decode(const char *v)
{
	GString *o = g_string_new("");
	for (const char *p = v; *p; p++) {
		if (*p != '+') {
			g_string_append_c(o, *p);
			continue;
		}
		if (!g_ascii_isxdigit(p[1]) || !g_ascii_isxdigit(p[2])) {
			g_string_free(o, TRUE);
			return NULL;
		}
		g_string_append_c(o, (char)(g_ascii_xdigit_value(p[1]) * 16 + g_ascii_xdigit_value(p[2])));
		p += 2;
	}
	return g_string_free(o, FALSE);
}

static bool printable_value(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

static void sess_xforward(struct sess *s, const char *arg)
{
	if (s->m) {
		sess_error(s, "503 5.5.1 Error: XFORWARD not allowed in a mail transaction");
		return;
	}
	gchar **w = g_strsplit(arg, " ", -1);
	char *val[XF_COUNT] = {0};
	bool ok = *arg != '\0';
	for (int i = 0; ok && w[i]; i++) {
		char *eq = strchr(w[i], '=');
		int x = 0;
		if (!*w[i])
			continue;
		while (eq && x < XF_COUNT && g_ascii_strncasecmp(w[i], xf_attr[x], (size_t)(eq - w[i])) != 0)
			x++;
		if (!eq || x == XF_COUNT || strlen(xf_attr[x]) != (size_t)(eq - w[i])) {
			ok = false;
			break;
		}
		g_free(val[x]);
		val[x] = xtext_decode(eq + 1);
		ok = val[x] && printable_value(val[x]);
	}
	g_strfreev(w);
	if (!ok) {
		for (int x = 0; x < XF_COUNT; x++)
			g_free(val[x]);
		sess_error(s, "501 5.5.4 Syntax: XFORWARD attribute=value...");
		return;
	}
	for (int x = 0; x < XF_COUNT; x++) {
		if (!val[x])
			continue;
		g_free(s->xf[x]);
		/* Postfix sends [UNAVAILABLE] / [TEMPUNAVAIL] for unknown values */
		s->xf[x] = val[x][0] == '[' && g_str_has_suffix(val[x], "UNAVAIL]") ? NULL : val[x];
		if (!s->xf[x])
			g_free(val[x]);
	}
	sess_reply(s, "250 2.0.0 Ok");
}

/* "FROM:<addr> params" -> addr (without <>) and the parameter string.
 * Quoted local parts may contain '>' and spaces. */
static bool parse_path(const char *arg, const char *what, char **addr, const char **params)
{
	size_t wl = strlen(what);
	if (g_ascii_strncasecmp(arg, what, wl) != 0)
		return false;
	const char *p = arg + wl;
	while (*p == ' ')
		p++;
	if (*p != '<') { /* tolerate a bare address, as Postfix does */
		const char *e = strchrnul(p, ' ');
		if (e == p)
			return false;
		*addr = g_strndup(p, (size_t)(e - p));
		*params = e;
		return true;
	}
	bool quoted = false;
	const char *q = p + 1;
	for (; *q; q++) {
		if (*q == '\\' && q[1])
			q++;
		else if (*q == '"')
			quoted = !quoted;
		else if (*q == '>' && !quoted)
			break;
	}
	if (*q != '>')
		return false;
	*addr = g_strndup(p + 1, (size_t)(q - p - 1));
	*params = q + 1;
	return true;
}

static bool addr_ok(const char *a)
{
	return printable_value(a) && strlen(a) <= 512;
}

/* Calls fn for each "KEY[=VALUE]" of a MAIL/RCPT parameter string; false
 * at the first one fn refuses. */
static bool sess_params(const char *params, bool (*fn)(void *obj, const char *k, const char *v), void *obj)
{
	gchar **w = g_strsplit(params, " ", -1);
	bool ok = true;
	for (int i = 0; ok && w[i]; i++) {
		if (!*w[i])
			continue;
		char *eq = strchr(w[i], '=');
		if (eq)
			*eq++ = '\0';
		ok = fn(obj, w[i], eq);
	}
	g_strfreev(w);
	return ok;
}

static bool no_param(void *obj, const char *k, const char *v)
{
	(void)obj, (void)k, (void)v;
	return false;
}

static bool mail_param(void *obj, const char *k, const char *v)
{
	struct msg *m = obj;

	if (g_ascii_strcasecmp(k, "SIZE") == 0 && v) {
		char *end;
		m->declared_size = g_ascii_strtoll(v, &end, 10);
		return *end == '\0' && m->declared_size >= 0;
	}
	if (g_ascii_strcasecmp(k, "BODY") == 0 && v &&
	    (g_ascii_strcasecmp(v, "7BIT") == 0 || g_ascii_strcasecmp(v, "8BITMIME") == 0)) {
		g_free(m->body); /* a repeated parameter: the last one counts */
		m->body = g_ascii_strup(v, -1);
		return true;
	}
	if (g_ascii_strcasecmp(k, "SMTPUTF8") == 0 && !v)
		return (m->smtputf8 = true);
	if (g_ascii_strcasecmp(k, "RET") == 0 && v &&
	    (g_ascii_strcasecmp(v, "FULL") == 0 || g_ascii_strcasecmp(v, "HDRS") == 0)) {
		g_free(m->ret);
		m->ret = g_ascii_strup(v, -1);
		return true;
	}
	if (g_ascii_strcasecmp(k, "ENVID") == 0 && v && *v && strlen(v) <= 100) {
		g_free(m->envid);
		m->envid = g_strdup(v);
		return true;
	}
	if (g_ascii_strcasecmp(k, "AUTH") == 0 && v)
		return true; /* accepted and not passed on */
	return false;
}

static void sess_mail(struct sess *s, const char *arg)
{
	char *addr = NULL;
	const char *params;

	if (!s->greeted) {
		sess_error(s, "503 5.5.1 Error: send HELO/EHLO/LHLO first");
		return;
	}
	if (s->m) {
		sess_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (!parse_path(arg, "FROM:", &addr, &params)) {
		sess_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (!addr_ok(addr)) {
		g_free(addr);
		sess_error(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	struct msg *m = msg_new();
	m->sender = addr;
	m->lmtp = s->lmtp;
	if (!sess_params(params, s->esmtp ? mail_param : no_param, m)) {
		msg_free(m);
		sess_error(s, s->esmtp ? "555 5.5.4 Unsupported option"
		                       : "555 5.5.4 No ESMTP parameters after HELO");
		return;
	}
	if (m->declared_size > s->size_limit) {
		msg_free(m);
		sess_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	m->helo = g_strdup(s->helo);
	char **xf[XF_COUNT] = {&m->xf_name, &m->xf_addr,  &m->xf_port,  &m->xf_proto,
	                       &m->xf_helo, &m->xf_ident, &m->xf_source};
	for (int x = 0; x < XF_COUNT; x++)
		*xf[x] = g_strdup(s->xf[x]);
	s->m = m;
	sess_reply(s, "250 2.1.0 Ok");
}

static bool rcpt_param(void *obj, const char *k, const char *v)
{
	struct msg_rcpt *r = obj;
	if (g_ascii_strcasecmp(k, "NOTIFY") == 0 && v && *v && strlen(v) <= 40) {
		g_free(r->notify);
		r->notify = g_ascii_strup(v, -1);
		return true;
	}
	if (g_ascii_strcasecmp(k, "ORCPT") == 0 && v && strchr(v, ';') && strlen(v) <= 500) {
		g_free(r->orcpt);
		r->orcpt = g_strdup(v);
		return true;
	}
	return false;
}

static void sess_rcpt(struct sess *s, const char *arg)
{
	char *addr = NULL;
	const char *params;

	if (!s->m) {
		sess_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (!parse_path(arg, "TO:", &addr, &params)) {
		sess_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (!*addr || !addr_ok(addr)) {
		g_free(addr);
		sess_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	if ((int)s->m->rcpts->len >= s->max_rcpt) {
		g_free(addr);
		sess_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	struct msg_rcpt *r = msg_add_rcpt(s->m, addr);
	g_free(addr);
	if (!sess_params(params, s->esmtp ? rcpt_param : no_param, r)) {
		g_ptr_array_remove_index(s->m->rcpts, s->m->rcpts->len - 1);
		sess_error(s, "555 5.5.4 Unsupported option");
		return;
	}
	sess_reply(s, "250 2.1.5 Ok");
}

/* Length of p up to and including the next LF that is followed by '.'
 * (n if none): one spool write per run of ordinary lines. memchr is much
 * faster here than memmem for a two-byte needle. */
static size_t data_segment(const unsigned char *p, size_t n)
{
	const unsigned char *q = p, *end = p + n;
	while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		if (q + 1 < end && q[1] == '.')
			return (size_t)(q - p) + 1;
		q++;
	}
	return n;
}

/* Copies DATA into the spool, unstuffing, until the end marker.
 * 0, or an SIO_* failure. Spool write failures are remembered in *err and
 * the rest of the data is still read so that the session stays in step. */
static int sess_read_data(struct sess *s, char **err)
{
	struct spool *sp = s->w->spool;
	bool bol = true, crlf = true, prev_cr = false;

	for (;;) {
		const unsigned char *p;
		size_t n;
		sio_peek(s->io, &p, &n);
		/* A '.' at a line start with fewer bytes behind it than ".\r\n"
		 * may be the end marker cut by a read: wait for the bytes that
		 * tell, rather than take it for dot-stuffing. */
		if (n == 0 || (bol && crlf && n < 3 && memcmp(p, ".\r\n", n) == 0)) {
			int r = n ? sio_fill(s->io) : sio_wait_input(s->io, false);
			if (r)
				return r;
			continue;
		}
		if (bol && p[0] == '.') {
			if (crlf && n >= 3 && p[1] == '\r' && p[2] == '\n') {
				sio_consume(s->io, 3);
				return 0;
			}
			sio_consume(s->io, 1); /* unstuff */
			bol = false;
			prev_cr = false;
			continue;
		}
		/* everything up to the next line that starts with '.' */
		size_t seg = data_segment(p, n);
		if (!*err && spool_write(sp, p, seg, err) < 0)
			msg_warn("%s", *err);
		bol = p[seg - 1] == '\n';
		if (bol)
			crlf = seg >= 2 ? p[seg - 2] == '\r' : prev_cr;
		prev_cr = p[seg - 1] == '\r';
		sio_consume(s->io, seg);
	}
}

/* The answer after the data, for whatever became of it; the caller gives
 * it (sess_data_reply). spool_err: a spool write failed on the way. */
static char *sess_deliver(struct sess *s, const char *spool_err)
{
	char *err = NULL;
	struct msg *m = s->m;

	if (spool_err)
		return g_strdup("451 4.3.0 Error: local spool failure");
	if (spool_over(s->w->spool))
		return g_strdup("552 5.3.4 Message size exceeds fixed limit");
	if (spool_finish(s->w->spool, &m->data, &m->len, &err) < 0) {
		msg_warn("%s", err);
		g_free(err);
		return g_strdup("451 4.3.0 Error: local spool failure");
	}
	return pipeline_run(s->w, s->c, m);
}

/* Every answer after the data goes out here, whatever the outcome (spool,
 * size, content, store, downstream), so that none can skip the LMTP rule
 * (RFC 2033): one reply per accepted recipient, the recipient's own answer
 * when the pipeline gave one, else the common reply. One reply short would
 * not just stall: Postfix pipelines QUIT behind the dot and would take the
 * 221 for the next recipient's answer, marking it delivered. */
static void sess_data_reply(struct sess *s, const char *reply)
{
	struct msg *m = s->m;

	if (!m->lmtp) {
		sess_reply(s, "%s", reply);
		return;
	}
	for (guint i = 0; i < m->rcpts->len; i++) {
		struct msg_rcpt *r = g_ptr_array_index(m->rcpts, i);
		sess_reply(s, "%s", r->answer ? r->answer : reply);
	}
}

static void sess_data(struct sess *s, const char *arg)
{
	char *err = NULL;

	if (!s->m) {
		sess_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->m->rcpts->len == 0) {
		sess_error(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (*arg) {
		sess_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	sess_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	spool_reset(s->w->spool);
	sio_set_timeout(s->io, s->data_timeout_ms);
	int r = sess_read_data(s, &err);
	sio_set_timeout(s->io, s->cmd_timeout_ms);
	if (r) { /* the session ends: no transaction to answer */
		if (r == SIO_TIMEOUT)
			sess_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->host);
		msg_info("%s during DATA from %s", sio_strstatus(r), s->peer);
		s->quit = true;
	} else {
		char *reply = sess_deliver(s, err);
		sess_data_reply(s, reply);
		g_free(reply);
	}
	g_free(err);
	spool_reset(s->w->spool);
	sess_reset(s);
	sess_xf_reset(s); /* XFORWARD attributes hold for one transaction */
}

static void sess_command(struct sess *s, char *line, size_t len)
{
	char *sp = strchr(line, ' ');
	const char *arg = "";

	if (strlen(line) != len || strchr(line, '\r')) {
		sess_error(s, "500 5.5.2 Error: bad syntax (control character in command)");
		return;
	}
	if (sp) {
		*sp = '\0';
		arg = sp + 1;
		while (*arg == ' ')
			arg++;
	}
	if (!*line)
		sess_error(s, "500 5.5.2 Error: bad syntax");
	else if (!g_ascii_strcasecmp(line, "EHLO"))
		sess_hello(s, "EHLO", arg);
	else if (!g_ascii_strcasecmp(line, "HELO"))
		sess_hello(s, "HELO", arg);
	else if (!g_ascii_strcasecmp(line, "LHLO"))
		sess_hello(s, "LHLO", arg);
	else if (!g_ascii_strcasecmp(line, "MAIL"))
		sess_mail(s, arg);
	else if (!g_ascii_strcasecmp(line, "RCPT"))
		sess_rcpt(s, arg);
	else if (!g_ascii_strcasecmp(line, "DATA"))
		sess_data(s, arg);
	else if (!g_ascii_strcasecmp(line, "XFORWARD"))
		sess_xforward(s, arg);
	else if (!g_ascii_strcasecmp(line, "RSET")) {
		sess_reset(s);
		sess_reply(s, "250 2.0.0 Ok");
	} else if (!g_ascii_strcasecmp(line, "NOOP"))
		sess_reply(s, "250 2.0.0 Ok");
	else if (!g_ascii_strcasecmp(line, "VRFY"))
		sess_reply(s, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
	else if (!g_ascii_strcasecmp(line, "HELP"))
		sess_reply(
		    s, "214 2.0.0 Commands: EHLO HELO LHLO XFORWARD MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
	else if (!g_ascii_strcasecmp(line, "QUIT")) {
		sess_reply(s, "221 2.0.0 Bye");
		s->quit = true;
	} else
		sess_error(s, "502 5.5.2 Error: command not recognized");
}

void sess_run(struct worker *w, int fd, const char *peer)
{
	struct confref *cr = srv_conf_acquire();
	struct sess s = {.w = w, .c = cr->conf, .peer = g_strdup(peer)};
	const char *hn = conf_str(s.c, "scand", "hostname");

	s.host = *hn ? hn : g_get_host_name();
	s.max_errors = (int)conf_int(s.c, "scand", "max_errors");
	s.max_rcpt = (int)conf_int(s.c, "scand", "max_recipients");
	s.size_limit = conf_int(s.c, "scand", "message_size_limit");
	s.cmd_timeout_ms = (int)conf_int(s.c, "scand", "command_timeout") * 1000;
	s.data_timeout_ms = (int)conf_int(s.c, "scand", "data_timeout") * 1000;
	s.io = sio_new(fd, s.cmd_timeout_ms);
	sio_set_stop_fd(s.io, w->stop_fd);
	msg_debug("connect from %s", peer);
	sess_reply(&s, "220 %s ESMTP Gatehouse scand", s.host);
	while (!s.quit) {
		char *line;
		size_t len;
		/* idle between messages: shutdown may end the session here */
		int r = sio_wait_input(s.io, s.m == NULL);
		if (r == SIO_OK)
			r = sio_getline(s.io, SESS_LINE_MAX, &line, &len);
		if (r == SIO_TOOLONG) {
			sess_error(&s, "500 5.5.2 Error: line too long");
			continue;
		}
		if (r == SIO_STOP)
			sess_reply(&s, "421 4.3.2 %s Service shutting down", s.host);
		else if (r == SIO_TIMEOUT)
			sess_reply(&s, "421 4.4.2 %s Error: timeout exceeded", s.host);
		if (r)
			break;
		sess_command(&s, line, len);
	}
	sio_set_timeout(s.io, 1000);
	sio_flush(s.io);
	msg_debug("disconnect from %s", peer);
	sess_reset(&s);
	sess_xf_reset(&s);
	g_free(s.helo);
	g_free(s.peer);
	sio_free(s.io);
	srv_conf_release(cr);
}
