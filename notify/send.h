/*
 * send - the one libesmtp sender: alerts from the outbox, the weekly
 * report mail, whatever the programs above notify/ mail out that is their
 * own message (a message passed on from a client goes through
 * common/smtpc instead: libesmtp adds Date/Message-Id when they are
 * missing and cannot send XFORWARD)
 *
 * notify_send() delivers one message (data/len, CRLF line ends, its own
 * Date and Message-Id) in one SMTP session to forward ("host:port"),
 * greeting as hostname (NULL: libesmtp's default), envelope sender
 * env_from ("" for <>) and the n recipients in rcpts. timeout_s bounds
 * each protocol step (0: libesmtp's RFC minimums). An address with a
 * control character, space or angle bracket is refused before anything
 * is sent (it could end the SMTP command and start another).
 *
 * Returns the class of the outcome: 2 when the server accepted the
 * message (each recipient's code and reply say whether it was accepted),
 * 4 to try again (a 4xx, no connection, a timeout), 5 when refused for
 * good (a 5xx, a bad address). Unless 2, *err says which step failed
 * and the server's words ("RCPT TO: 550 5.1.1 ..."), printable; g_free.
 * A recipient's code is its RCPT reply when refused, else the reply to
 * the data; 0 when it got no answer. notify_send_clear() frees the
 * replies.
 */
#ifndef GH_NOTIFY_SEND_H
#define GH_NOTIFY_SEND_H

#include <stddef.h>

struct notify_send_rcpt {
	const char *addr;
	/* results */
	int code;
	char *reply; /* "code text", printable; g_free */
};

int notify_send(const char *forward, const char *hostname, int timeout_s, const char *env_from,
                struct notify_send_rcpt *rcpts, size_t n, const void *data, size_t len, char **err);
void notify_send_clear(struct notify_send_rcpt *rcpts, size_t n);

#endif
