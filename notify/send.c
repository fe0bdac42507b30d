/*
 * send - the one libesmtp sender (see send.h)
 *
 * Functions: notify_send, notify_send_clear.
 * Nothing is logged here; the caller logs *err.
 */
#include "send.h"

#include <stddef.h> /* libesmtp.h needs size_t */

#include <glib.h>
#include <libesmtp.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"

/* The message in memory, handed to libesmtp in one piece (and again after
 * a rewind). The data must have CRLF line ends and outlive the session. */
struct send_src {
	const char *data;
	size_t len;
	bool done; /* handed over since the last rewind */
};

static const char *send_src_cb(void **ctx, int *len, void *arg)
{
	struct send_src *src = arg;
	(void)ctx;
	if (!len) { /* libesmtp rewinds before it starts (and on a retry) */
		src->done = false;
		return NULL;
	}
	if (src->done) {
		*len = 0;
		return NULL;
	}
	src->done = true;
	*len = (int)src->len;
	return src->data;
}

/* An address goes into MAIL FROM:<...> or RCPT TO:<...> as it is: no
 * control characters, spaces or angle brackets that could end the
 * command or start another one. */
static bool send_addr_ok(const char *a, bool allow_empty)
{
	if (!a || (!*a && !allow_empty))
		return false;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return true;
}

static int send_check_addrs(const char *env_from, const struct notify_send_rcpt *r, size_t n, char **err)
{
	const char *bad = send_addr_ok(env_from, true) ? NULL : env_from;
	for (size_t i = 0; !bad && i < n; i++)
		if (!send_addr_ok(r[i].addr, false))
			bad = r[i].addr;
	if (!bad && n > 0)
		return 0;
	char *p = log_printable(bad ? bad : "(no recipient)", 80);
	*err = g_strdup_printf("bad address \"%s\"", p);
	g_free(p);
	return -1;
}

static char *send_status_text(const smtp_status_t *st)
{
	char *t = g_strdup_printf("%d %s", st ? st->code : 0, st && st->text ? st->text : "no answer");
	g_strchomp(t);
	char *p = log_printable(t, 300);
	g_free(t);
	return p;
}

/* 2, 4 or 5 from a status; anything but 2xx/5xx counts as temporary.
 * *err names the step unless 2. */
static int send_class(const smtp_status_t *st, const char *step, char **err)
{
	int code = st ? st->code : 0;
	if (code >= 200 && code < 300)
		return 2;
	char *text = send_status_text(st);
	*err = g_strdup_printf("%s: %s", step, text);
	g_free(text);
	return code >= 500 && code < 600 ? 5 : 4;
}

static void send_timeouts(smtp_session_t s, int timeout_s)
{
	static const int which[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA, Timeout_TRANSFER,
	                            Timeout_DATA2};
	if (timeout_s <= 0)
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(which); i++) /* libesmtp counts milliseconds */
		smtp_set_timeout(s, which[i] | Timeout_OVERRIDE_RFC2822_MINIMUM, (long)timeout_s * 1000);
}

/* The class of the whole transaction, MAIL, then RCPT (when none was
 * accepted), then the data; each recipient's own answer is filled in. */
static int send_outcome(smtp_message_t m, smtp_recipient_t *rr, struct notify_send_rcpt *r, size_t n,
                        char **err)
{
	int cls = send_class(smtp_reverse_path_status(m), "MAIL FROM", err);
	if (cls != 2)
		return cls;
	const smtp_status_t *data = smtp_message_transfer_status(m);
	size_t ok = 0, first_bad = n;
	for (size_t i = 0; i < n; i++) {
		const smtp_status_t *st = smtp_recipient_status(rr[i]);
		bool accepted = st && st->code >= 200 && st->code < 300;
		if (!accepted && first_bad == n)
			first_bad = i;
		ok += accepted;
		if (accepted && data && data->code)
			st = data; /* its answer is the one to the data */
		r[i].code = st ? st->code : 0;
		r[i].reply = r[i].code ? send_status_text(st) : NULL;
	}
	if (ok == 0)
		return send_class(smtp_recipient_status(rr[first_bad]), "RCPT TO", err);
	return send_class(data, "DATA", err);
}

int notify_send(const char *forward, const char *hostname, int timeout_s, const char *env_from,
                struct notify_send_rcpt *rcpts, size_t n, const void *data, size_t len, char **err)
{
	for (size_t i = 0; i < n; i++) {
		rcpts[i].code = 0;
		rcpts[i].reply = NULL;
	}
	if (send_check_addrs(env_from, rcpts, n, err) < 0)
		return 5;
	smtp_session_t session = smtp_create_session();
	smtp_message_t m = smtp_add_message(session);
	smtp_recipient_t *rr = g_new0(smtp_recipient_t, n);
	struct send_src src = {.data = data, .len = len};
	int cls = 4;

	smtp_set_server(session, forward);
	if (hostname && *hostname)
		smtp_set_hostname(session, hostname);
	send_timeouts(session, timeout_s);
	smtp_set_reverse_path(m, env_from);
	/* No header options: libesmtp passes the message's own Date and
	 * Message-Id through and would only add missing ones. */
	smtp_set_messagecb(m, send_src_cb, &src);
	for (size_t i = 0; i < n; i++)
		rr[i] = smtp_add_recipient(m, rcpts[i].addr);
	if (!smtp_start_session(session)) {
		char buf[256];
		const char *e = smtp_strerror(smtp_errno(), buf, sizeof(buf));
		*err = g_strdup_printf("%s: %s", forward, e ? e : "connection failed");
	} else {
		cls = send_outcome(m, rr, rcpts, n, err);
	}
	g_free(rr);
	smtp_destroy_session(session);
	return cls;
}

void notify_send_clear(struct notify_send_rcpt *rcpts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_free(rcpts[i].reply);
		rcpts[i].reply = NULL;
	}
}
