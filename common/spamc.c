/*
 * spamc - SpamAssassin spamd protocol client (see spamc.h)
 *
 * Functions: spamc_new, spamc_free, spamc_name, spamc_check, spamc_parse,
 * spamc_result_clear, spam_learn.
 *
 * All I/O is non-blocking with poll() against one deadline per call, so a
 * stuck spamd costs at most the timeout. The answer is read up to a bound
 * (64 KiB: SYMBOLS and TELL answers are short, a REPORT is a few KiB).
 * Rule names and report text from spamd are made safe before they reach a
 * header or a log line.
 */
#include "spamc.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define SPAMC_MAX_ANSWER 65536
#define SPAMC_MAX_TESTS 900 /* keeps X-Spam-Status under the 998 line limit */
#define SPAMC_MAX_REPORT 16384

struct spamc {
	char *host, *port, *unix_path;
	int64_t timeout_ms;
};

static const char *const cmd_names[] = {"CHECK", "SYMBOLS", "REPORT"};

struct spamc *spamc_new(const char *addr, int64_t timeout_ms, char **err)
{
	struct spamc *c = g_new0(struct spamc, 1);
	c->timeout_ms = timeout_ms;
	if (g_str_has_prefix(addr, "unix:")) {
		c->unix_path = g_strdup(addr + 5);
		return c;
	}
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1]) {
		*err = g_strdup_printf("'%s' is not host:port or unix:/path", addr);
		g_free(c);
		return NULL;
	}
	c->host = g_strndup(addr, (gsize)(colon - addr));
	if (c->host[0] == '[' && c->host[strlen(c->host) - 1] == ']') {
		char *h = g_strndup(c->host + 1, strlen(c->host) - 2);
		g_free(c->host);
		c->host = h;
	}
	c->port = g_strdup(colon + 1);
	return c;
}

void spamc_free(struct spamc *c)
{
	if (!c)
		return;
	g_free(c->host);
	g_free(c->port);
	g_free(c->unix_path);
	g_free(c);
}

const char *spamc_name(const struct spamc *c)
{
	return c->unix_path ? c->unix_path : c->host;
}

static int spamc_wait(int fd, short events, gint64 deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	for (;;) {
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		if (left <= 0)
			return -1;
		int rc = poll(&p, 1, (int)MIN(left, (gint64)INT32_MAX));
		if (rc > 0)
			return 0;
		if (rc == 0 || errno != EINTR)
			return -1;
	}
}

static int spamc_connect_addr(const struct sockaddr *sa, socklen_t salen, gint64 deadline)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, salen) == 0)
		return fd;
	int soerr = errno;
	socklen_t sl = sizeof(soerr);
	if (soerr == EINPROGRESS && spamc_wait(fd, POLLOUT, deadline) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
		return fd;
	close(fd);
	errno = soerr == EINPROGRESS ? ETIMEDOUT : soerr;
	return -1;
}

static int spamc_connect(const struct spamc *c, gint64 deadline, char **err)
{
	if (c->unix_path) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (strlen(c->unix_path) >= sizeof(sun.sun_path)) {
			*err = g_strdup("socket path too long");
			return -1;
		}
		memcpy(sun.sun_path, c->unix_path, strlen(c->unix_path) + 1);
		int fd = spamc_connect_addr((struct sockaddr *)&sun, sizeof(sun), deadline);
		if (fd < 0)
			*err = g_strdup_printf("connect %s: %s", c->unix_path, g_strerror(errno));
		return fd;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
	int rc = getaddrinfo(c->host, c->port, &hints, &res), fd = -1;
	if (rc != 0) {
		*err = g_strdup_printf("%s: %s", c->host, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = spamc_connect_addr(ai->ai_addr, ai->ai_addrlen, deadline);
	if (fd < 0)
		*err = g_strdup_printf("connect %s:%s: %s", c->host, c->port, g_strerror(errno));
	freeaddrinfo(res);
	return fd;
}

static int spamc_send(int fd, const void *buf, size_t len, gint64 deadline)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (spamc_wait(fd, POLLOUT, deadline) < 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		} else {
			return -1;
		}
	}
	return 0;
}

static GString *spamc_recv(int fd, gint64 deadline, char **err)
{
	GString *r = g_string_new("");
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			g_string_append_len(r, buf, n);
			if (r->len > SPAMC_MAX_ANSWER) {
				*err = g_strdup("answer too long");
				break;
			}
		} else if (n == 0) {
			return r;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (spamc_wait(fd, POLLIN, deadline) < 0) {
				*err = g_strdup("read timeout");
				break;
			}
		} else {
			*err = g_strdup_printf("read: %s", g_strerror(errno));
			break;
		}
	}
	g_string_free(r, TRUE);
	return NULL;
}

/* One request (head: the command line and its headers, each CRLF, without
 * the empty line) with the message as body; the whole answer, or NULL. */
static GString *spamc_call(const struct spamc *c, const char *head, const void *data, size_t len, char **err)
{
	gint64 deadline = g_get_monotonic_time() + c->timeout_ms * 1000;
	int fd = spamc_connect(c, deadline, err);
	if (fd < 0)
		return NULL;
	char *req = g_strdup_printf("%sContent-length: %zu\r\n\r\n", head, len);
	GString *ans = NULL;
	if (spamc_send(fd, req, strlen(req), deadline) < 0 || spamc_send(fd, data, len, deadline) < 0) {
		*err = g_strdup_printf("write: %s", g_strerror(errno));
	} else {
		shutdown(fd, SHUT_WR); /* the end of the message, for an old spamd */
		ans = spamc_recv(fd, deadline, err);
	}
	g_free(req);
	close(fd);
	return ans;
}

/* The status line: 0 when it says EX_OK (code 0), else -1 with *err. */
static int spamc_status(const char *resp, size_t len, char **err)
{
	if (len < 12 || strncmp(resp, "SPAMD/", 6) != 0) {
		*err = g_strdup("not a spamd answer");
		return -1;
	}
	const char *sp = memchr(resp, ' ', len);
	if (!sp || strtol(sp + 1, NULL, 10) != 0) {
		char *line = g_strndup(resp, strcspn(resp, "\r\n"));
		char *p = log_printable(line, 200);
		*err = g_strdup_printf("spamd error: %s", p);
		g_free(p);
		g_free(line);
		return -1;
	}
	return 0;
}

/* Rule names as spamd sent them, filtered to a safe alphabet. */
static char *spamc_clean_tests(const char *s, size_t len)
{
	GString *t = g_string_new("");
	for (size_t i = 0; i < len && t->len < SPAMC_MAX_TESTS; i++) {
		char ch = s[i];
		if (g_ascii_isalnum(ch) || ch == '_' || ch == '.' || ch == '-')
			g_string_append_c(t, ch);
		else if (ch == ',' && t->len && t->str[t->len - 1] != ',')
			g_string_append_c(t, ',');
	}
	while (t->len && t->str[t->len - 1] == ',')
		g_string_truncate(t, t->len - 1);
	return g_string_free(t, FALSE);
}

/* The report text, each line made printable, LF line ends. */
static char *spamc_clean_report(const char *s, size_t len)
{
	GString *out = g_string_new("");
	char *text = g_strndup(s, MIN(len, (size_t)SPAMC_MAX_REPORT));
	char **lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_strchomp(*l);
		char *p = log_printable(*l, 0);
		g_string_append_printf(out, "%s\n", p);
		g_free(p);
	}
	g_strfreev(lines);
	g_free(text);
	while (out->len >= 2 && out->str[out->len - 1] == '\n' && out->str[out->len - 2] == '\n')
		g_string_truncate(out, out->len - 1);
	return g_string_free(out, FALSE);
}

int spamc_parse(const char *resp, size_t len, enum spamc_cmd cmd, struct spamc_result *r, char **err)
{
	memset(r, 0, sizeof(*r));
	if (spamc_status(resp, len, err) < 0)
		return -1;
	const char *end = resp + len, *body = g_strstr_len(resp, (gssize)len, "\r\n\r\n");
	if (!body) {
		*err = g_strdup("answer without a header end");
		return -1;
	}
	const char *spam = g_strstr_len(resp, body - resp, "\nSpam:");
	char *e1 = NULL, *e2 = NULL;
	if (!spam) {
		*err = g_strdup("answer without a Spam: line");
		return -1;
	}
	const char *semi = memchr(spam, ';', (size_t)(body - spam));
	const char *slash = semi ? memchr(semi, '/', (size_t)(body - semi)) : NULL;
	if (!semi || !slash) {
		*err = g_strdup("malformed Spam: line");
		return -1;
	}
	r->score = g_ascii_strtod(semi + 1, &e1);
	r->threshold = g_ascii_strtod(slash + 1, &e2);
	if (e1 == semi + 1 || e2 == slash + 1 || !isfinite(r->score)) {
		*err = g_strdup("malformed score in Spam: line");
		return -1;
	}
	const char *v = spam + 6;
	while (v < semi && (*v == ' ' || *v == '\t'))
		v++;
	r->is_spam = g_ascii_strncasecmp(v, "true", 4) == 0 || g_ascii_strncasecmp(v, "yes", 3) == 0;
	body += 4;
	if (cmd == SPAMC_SYMBOLS)
		r->tests = spamc_clean_tests(body, (size_t)(end - body));
	else if (cmd == SPAMC_REPORT)
		r->report = spamc_clean_report(body, (size_t)(end - body));
	return 0;
}

void spamc_result_clear(struct spamc_result *r)
{
	g_free(r->tests);
	g_free(r->report);
	memset(r, 0, sizeof(*r));
}

int spamc_check(const struct spamc *c, enum spamc_cmd cmd, const void *data, size_t len,
                struct spamc_result *r, char **err)
{
	char *head = g_strdup_printf("%s SPAMC/1.5\r\n", cmd_names[cmd]);
	GString *ans = spamc_call(c, head, data, len, err);
	g_free(head);
	memset(r, 0, sizeof(*r));
	if (!ans)
		return -1;
	int rc = spamc_parse(ans->str, ans->len, cmd, r, err);
	g_string_free(ans, TRUE);
	return rc;
}

int spam_learn(const struct spamc *c, enum spam_class cls, const void *data, size_t len, char **err)
{
	const char *head = cls == SPAM_CLASS_SPAM ? "TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local\r\n"
	                                          : "TELL SPAMC/1.5\r\nMessage-class: ham\r\nSet: local\r\n";
	GString *ans = spamc_call(c, head, data, len, err);
	if (!ans)
		return -1;
	int rc = spamc_status(ans->str, ans->len, err);
	if (rc < 0 && strstr(*err, " 69 ") && !strstr(*err, "--allow-tell")) { /* EX_UNAVAILABLE */
		char *e = g_strdup_printf("%s (learning needs spamd started with --allow-tell)", *err);
		g_free(*err);
		*err = e;
	}
	g_string_free(ans, TRUE);
	return rc;
}
