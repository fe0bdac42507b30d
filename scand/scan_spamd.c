/*
 * scan_spamd - SpamAssassin spamd protocol client (see scan_spamd.h)
 *
 * Functions: scan_spamd_stage (init, scan, reload, fini),
 * scan_spamd_parse, scan_spamd_kill_level, scan_spamd_tag2_level.
 *
 * One connection per message (spamd closes after each answer). All I/O is
 * non-blocking with poll() against one deadline per message, so a stuck
 * spamd costs at most [spam] timeout. The answer is read up to a bound
 * (64 KiB: SYMBOLS answers are short). Rule names from spamd are filtered
 * to [A-Za-z0-9_.-] before they reach a header or a log line.
 *
 * Failures: init/reload return -1 with *err for a bad address; scan
 * reports per stage.h and logs why spamd failed.
 */
#include "scan_spamd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "mailhdr.h"
#include "scan_util.h"

#define SPAMD_MAX_ANSWER 65536
#define SPAMD_MAX_TESTS 900 /* keeps X-Spam-Status under the 998 line limit */

/* One configuration, shared by reference (g_atomic_rc_box): a reload swaps
 * in a new one while scans in progress keep the one they started with. */
struct spamd_conf {
	char *host, *port, *unix_path;
	int64_t timeout_ms;
	int64_t max_size;
	double tag, tag2, kill;
	char *subject_tag;
	bool tempfail;
};

struct spamd_state {
	GMutex lock;
	struct spamd_conf *conf;
};

static void spamd_conf_clear(gpointer p)
{
	struct spamd_conf *s = p;
	g_free(s->host);
	g_free(s->port);
	g_free(s->unix_path);
	g_free(s->subject_tag);
}

static struct spamd_conf *spamd_from_conf(const struct conf *c, char **err)
{
	const char *addr = conf_str(c, "spam", "spamd");
	struct spamd_conf *s = g_atomic_rc_box_new0(struct spamd_conf);
	if (g_str_has_prefix(addr, "unix:")) {
		s->unix_path = g_strdup(addr + 5);
	} else {
		const char *colon = strrchr(addr, ':');
		if (!colon || colon == addr || !colon[1]) {
			*err = g_strdup_printf("[spam] spamd: '%s' is not host:port or unix:/path", addr);
			g_atomic_rc_box_release_full(s, spamd_conf_clear);
			return NULL;
		}
		s->host = g_strndup(addr, (gsize)(colon - addr));
		if (s->host[0] == '[' && s->host[strlen(s->host) - 1] == ']') {
			char *h = g_strndup(s->host + 1, strlen(s->host) - 2);
			g_free(s->host);
			s->host = h;
		}
		s->port = g_strdup(colon + 1);
	}
	s->timeout_ms = conf_int(c, "spam", "timeout") * 1000;
	s->max_size = conf_int(c, "spam", "max_size");
	s->tag = conf_double(c, "spam", "tag_level");
	s->tag2 = conf_double(c, "spam", "tag2_level");
	s->kill = conf_double(c, "spam", "kill_level");
	s->subject_tag = g_strdup(conf_str(c, "spam", "subject_tag"));
	s->tempfail = strcmp(conf_str(c, "spam", "on_failure"), "tempfail") == 0;
	return s;
}

static int spamd_init(const struct conf *c, void **state, char **err)
{
	struct spamd_conf *sc = spamd_from_conf(c, err);
	if (!sc)
		return -1;
	struct spamd_state *s = g_new0(struct spamd_state, 1);
	g_mutex_init(&s->lock);
	s->conf = sc;
	*state = s;
	return 0;
}

static struct spamd_conf *spamd_acquire(struct spamd_state *s)
{
	g_mutex_lock(&s->lock);
	struct spamd_conf *c = g_atomic_rc_box_acquire(s->conf);
	g_mutex_unlock(&s->lock);
	return c;
}

static void spamd_release(struct spamd_conf *c)
{
	g_atomic_rc_box_release_full(c, spamd_conf_clear);
}

static int spamd_reload(void *state, const struct conf *c, char **err)
{
	struct spamd_state *s = state;
	struct spamd_conf *n = spamd_from_conf(c, err);
	if (!n)
		return -1;
	g_mutex_lock(&s->lock);
	struct spamd_conf *old = s->conf;
	s->conf = n;
	g_mutex_unlock(&s->lock);
	spamd_release(old);
	return 0;
}

static void spamd_fini(void *state)
{
	struct spamd_state *s = state;
	if (!s)
		return;
	spamd_release(s->conf);
	g_mutex_clear(&s->lock);
	g_free(s);
}

static int spamd_wait(int fd, short events, gint64 deadline)
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

static int spamd_connect_addr(const struct sockaddr *sa, socklen_t salen, gint64 deadline)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, salen) == 0)
		return fd;
	int soerr = errno;
	socklen_t sl = sizeof(soerr);
	if (soerr == EINPROGRESS && spamd_wait(fd, POLLOUT, deadline) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
		return fd;
	close(fd);
	errno = soerr == EINPROGRESS ? ETIMEDOUT : soerr;
	return -1;
}

static int spamd_connect(const struct spamd_conf *s, gint64 deadline, char **err)
{
	if (s->unix_path) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (strlen(s->unix_path) >= sizeof(sun.sun_path)) {
			*err = g_strdup("socket path too long");
			return -1;
		}
		memcpy(sun.sun_path, s->unix_path, strlen(s->unix_path) + 1);
		int fd = spamd_connect_addr((struct sockaddr *)&sun, sizeof(sun), deadline);
		if (fd < 0)
			*err = g_strdup_printf("connect %s: %s", s->unix_path, g_strerror(errno));
		return fd;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
	int rc = getaddrinfo(s->host, s->port, &hints, &res), fd = -1;
	if (rc != 0) {
		*err = g_strdup_printf("%s: %s", s->host, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = spamd_connect_addr(ai->ai_addr, ai->ai_addrlen, deadline);
	if (fd < 0)
		*err = g_strdup_printf("connect %s:%s: %s", s->host, s->port, g_strerror(errno));
	freeaddrinfo(res);
	return fd;
}

static int spamd_send(int fd, const void *buf, size_t len, gint64 deadline)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (spamd_wait(fd, POLLOUT, deadline) < 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		} else {
			return -1;
		}
	}
	return 0;
}

static GString *spamd_recv(int fd, gint64 deadline, char **err)
{
	GString *r = g_string_new("");
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			g_string_append_len(r, buf, n);
			if (r->len > SPAMD_MAX_ANSWER) {
				*err = g_strdup("answer too long");
				break;
			}
		} else if (n == 0) {
			return r;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (spamd_wait(fd, POLLIN, deadline) < 0) {
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

/* Rule names as spamd sent them, filtered to a safe alphabet. */
static char *spamd_clean_tests(const char *s, size_t len)
{
	GString *t = g_string_new("");
	for (size_t i = 0; i < len && t->len < SPAMD_MAX_TESTS; i++) {
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

int scan_spamd_parse(const char *resp, size_t len, double *score, double *threshold, char **tests, char **err)
{
	const char *end = resp + len, *body = g_strstr_len(resp, (gssize)len, "\r\n\r\n");
	if (len < 12 || strncmp(resp, "SPAMD/", 6) != 0) {
		*err = g_strdup("not a spamd answer");
		return -1;
	}
	const char *sp = memchr(resp, ' ', len);
	if (!sp || strtol(sp + 1, NULL, 10) != 0) {
		char *line = g_strndup(resp, strcspn(resp, "\r\n"));
		*err = g_strdup_printf("spamd error: %s", line);
		g_free(line);
		return -1;
	}
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
	*score = g_ascii_strtod(semi + 1, &e1);
	*threshold = g_ascii_strtod(slash + 1, &e2);
	if (e1 == semi + 1 || e2 == slash + 1 || !isfinite(*score)) {
		*err = g_strdup("malformed score in Spam: line");
		return -1;
	}
	body += 4;
	*tests = spamd_clean_tests(body, (size_t)(end - body));
	return 0;
}

static int spamd_check(const struct spamd_conf *s, struct msg *m, char **err)
{
	gint64 deadline = g_get_monotonic_time() + s->timeout_ms * 1000;
	int fd = spamd_connect(s, deadline, err);
	if (fd < 0)
		return -1;
	char *req = g_strdup_printf("SYMBOLS SPAMC/1.5\r\nContent-length: %zu\r\n\r\n", m->len);
	GString *ans = NULL;
	int rc = -1;
	if (spamd_send(fd, req, strlen(req), deadline) < 0 || spamd_send(fd, m->data, m->len, deadline) < 0) {
		*err = g_strdup_printf("write: %s", g_strerror(errno));
		goto out;
	}
	shutdown(fd, SHUT_WR);
	if (!(ans = spamd_recv(fd, deadline, err)))
		goto out;
	double thr;
	g_free(m->spam_tests);
	m->spam_tests = NULL;
	rc = scan_spamd_parse(ans->str, ans->len, &m->spam_score, &thr, &m->spam_tests, err);
out:
	if (ans)
		g_string_free(ans, TRUE);
	g_free(req);
	close(fd);
	return rc;
}

static void spamd_headers(const struct spamd_conf *s, struct msg *m)
{
	if (m->spam_score >= s->tag) {
		char **v = g_strsplit(m->spam_tests ? m->spam_tests : "", ",", -1), *tests = g_strjoinv(", ", v);
		msg_add_header(m, "X-Spam-Status: %s, score=%.3f tag=%g tag2=%g kill=%g tests=[%s]",
			       m->spam_score >= s->tag2 ? "Yes" : "No", m->spam_score, s->tag, s->tag2, s->kill,
			       tests);
		g_free(tests);
		g_strfreev(v);
		int stars = m->spam_score <= 0 ? 0 : (int)MIN(m->spam_score, 64.0);
		char lvl[65];
		memset(lvl, '*', (size_t)stars);
		lvl[stars] = '\0';
		msg_add_header(m, "X-Spam-Level: %s", lvl);
	}
	if (m->spam_score < s->tag2)
		return;
	msg_add_header(m, "X-Spam-Flag: YES");
	if (!*s->subject_tag)
		return;
	char *subj = mailhdr_get_raw(m->data, m->len, "Subject");
	msg_remove_header(m, "Subject");
	msg_add_header(m, "Subject: %s%s", s->subject_tag, subj ? subj : "");
	g_free(subj);
}

static enum stage_result spamd_scan_with(const struct spamd_conf *s, struct msg *m)
{
	static const char *const ours[] = {"X-Spam-Status", "X-Spam-Level", "X-Spam-Flag", "X-Spam-Score",
					   "X-Spam-Report"};
	for (size_t i = 0; i < G_N_ELEMENTS(ours); i++)
		msg_remove_header(m, ours[i]);
	if (s->max_size > 0 && (int64_t)m->len > s->max_size) {
		scan_note(m, "spam: not checked, %zu bytes > max_size %lld", m->len, (long long)s->max_size);
		return STAGE_OK;
	}
	char *err = NULL;
	if (spamd_check(s, m, &err) < 0) {
		msg_warn("spam: %s: spamd %s: %s", m->mail_id, s->unix_path ? s->unix_path : s->host, err);
		scan_note(m, "spam: spamd failed: %s", err);
		g_free(err);
		return s->tempfail ? STAGE_TEMPFAIL : STAGE_OK;
	}
	m->spam_checked = true;
	if (m->spam_score >= s->kill)
		msg_set_category(m, CAT_SPAM, "spamd");
	if (m->spam_score >= s->tag2) {
		m->is_spammy = true;
		msg_set_category(m, CAT_SPAMMY, "spamd");
	}
	spamd_headers(s, m);
	return STAGE_OK;
}

static enum stage_result spamd_scan(void *state, struct msg *m)
{
	struct spamd_conf *c = spamd_acquire(state);
	enum stage_result r = spamd_scan_with(c, m);
	spamd_release(c);
	return r;
}

double scan_spamd_kill_level(void *state)
{
	struct spamd_conf *c = spamd_acquire(state);
	double v = c->kill;
	spamd_release(c);
	return v;
}

double scan_spamd_tag2_level(void *state)
{
	struct spamd_conf *c = spamd_acquire(state);
	double v = c->tag2;
	spamd_release(c);
	return v;
}

const struct stage scan_spamd_stage = {
	.name = "spamd",
	.init = spamd_init,
	.scan = spamd_scan,
	.reload = spamd_reload,
	.fini = spamd_fini,
};
