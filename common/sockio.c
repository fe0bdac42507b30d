/*
 * sockio - buffered socket I/O with timeouts (see sockio.h)
 *
 * Functions: sio_new, sio_free, sio_wait_input, sio_fill, sio_getline,
 * sio_peek, sio_consume, sio_write, sio_printf, sio_flush, sio_listen,
 * sio_connect. Failures are returned as negative SIO_* codes (streams) or
 * -1 with a message (addresses); nothing here logs.
 *
 * Invariant of the read buffer: bytes [rpos, rlen) are unread input; the
 * buffer is compacted (moved to the front) before a read when it is full.
 */
#include "sockio.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SIO_RBUF (64 * 1024)
#define SIO_WBUF (64 * 1024)

struct sio {
	int fd;
	int stop_fd;
	int timeout_ms;
	int status;
	unsigned char *rbuf;
	size_t rpos, rlen;
	unsigned char *wbuf;
	size_t wlen;
};

struct sio *sio_new(int fd, int timeout_ms)
{
	struct sio *s = g_new0(struct sio, 1);
	s->fd = fd;
	s->stop_fd = -1;
	s->timeout_ms = timeout_ms;
	s->rbuf = g_malloc(SIO_RBUF);
	s->wbuf = g_malloc(SIO_WBUF);
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return s;
}

void sio_free(struct sio *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	g_free(s->rbuf);
	g_free(s->wbuf);
	g_free(s);
}

int sio_fd(const struct sio *s) { return s->fd; }
void sio_set_timeout(struct sio *s, int timeout_ms) { s->timeout_ms = timeout_ms; }
void sio_set_stop_fd(struct sio *s, int fd) { s->stop_fd = fd; }
int sio_status(const struct sio *s) { return s->status; }
size_t sio_pending(const struct sio *s) { return s->rlen - s->rpos; }

const char *sio_strstatus(int st)
{
	switch (st) {
	case SIO_OK: return "ok";
	case SIO_EOF: return "connection closed";
	case SIO_TIMEOUT: return "timeout";
	case SIO_STOP: return "shutting down";
	case SIO_TOOLONG: return "line too long";
	default: return "I/O error";
	}
}

static int sio_fail(struct sio *s, int st)
{
	if (s->status == SIO_OK && st != SIO_TOOLONG && st != SIO_STOP)
		s->status = st;
	return st;
}

/* Waits for events on the socket (and the stop fd when asked). */
static int sio_poll(struct sio *s, short events, bool use_stop)
{
	struct pollfd p[2] = {{.fd = s->fd, .events = events}, {.fd = s->stop_fd, .events = POLLIN}};
	nfds_t n = (use_stop && s->stop_fd >= 0) ? 2 : 1;

	for (;;) {
		int r = poll(p, n, s->timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sio_fail(s, SIO_ERR);
		if (r == 0) /* a read timeout leaves the stream usable for a last reply */
			return events == POLLOUT ? sio_fail(s, SIO_TIMEOUT) : SIO_TIMEOUT;
		if (p[0].revents)
			return SIO_OK;
		return SIO_STOP;
	}
}

int sio_fill(struct sio *s)
{
	if (s->status)
		return s->status;
	if (s->rpos == s->rlen)
		s->rpos = s->rlen = 0;
	if (s->rlen == SIO_RBUF) {
		memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
		s->rlen -= s->rpos;
		s->rpos = 0;
	}
	if (s->rlen == SIO_RBUF)
		return SIO_OK; /* full: the caller consumes first */
	for (;;) {
		ssize_t n = read(s->fd, s->rbuf + s->rlen, SIO_RBUF - s->rlen);
		if (n > 0) {
			s->rlen += (size_t)n;
			return SIO_OK;
		}
		if (n == 0)
			return sio_fail(s, SIO_EOF);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return sio_fail(s, SIO_ERR);
		int r = sio_flush(s);
		if (r == SIO_OK)
			r = sio_poll(s, POLLIN, false);
		if (r)
			return r;
	}
}

int sio_wait_input(struct sio *s, bool idle)
{
	if (sio_pending(s))
		return SIO_OK;
	int r = sio_flush(s);
	if (r)
		return r;
	r = sio_poll(s, POLLIN, idle);
	if (r)
		return r;
	return sio_fill(s);
}

int sio_getline(struct sio *s, size_t maxlen, char **line, size_t *len)
{
	size_t scanned = 0;
	bool toolong = false;

	if (maxlen > SIO_RBUF / 2)
		maxlen = SIO_RBUF / 2;

	for (;;) {
		unsigned char *p = s->rbuf + s->rpos + scanned;
		size_t avail = s->rlen - s->rpos - scanned;
		unsigned char *nl = memchr(p, '\n', avail);
		if (nl) {
			size_t n = (size_t)(nl - (s->rbuf + s->rpos));
			char *l = (char *)s->rbuf + s->rpos;
			s->rpos += n + 1;
			if (toolong || n + 1 > maxlen)
				return SIO_TOOLONG;
			if (n > 0 && l[n - 1] == '\r')
				n--;
			l[n] = '\0';
			*line = l;
			*len = n;
			return SIO_OK;
		}
		scanned += avail;
		if (scanned > maxlen) { /* drop what we have, keep looking for the LF */
			toolong = true;
			s->rpos = s->rlen;
			scanned = 0;
		}
		int r = sio_pending(s) ? sio_fill(s) : sio_wait_input(s, false);
		if (r)
			return r;
	}
}

void sio_peek(struct sio *s, const unsigned char **p, size_t *n)
{
	*p = s->rbuf + s->rpos;
	*n = s->rlen - s->rpos;
}

void sio_consume(struct sio *s, size_t n)
{
	s->rpos += n;
	if (s->rpos >= s->rlen)
		s->rpos = s->rlen = 0;
}

static int sio_send(struct sio *s, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == ENOTSOCK)
			w = write(s->fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return sio_fail(s, errno == EPIPE || errno == ECONNRESET ? SIO_EOF : SIO_ERR);
		int r = sio_poll(s, POLLOUT, false);
		if (r)
			return r;
	}
	return SIO_OK;
}

int sio_flush(struct sio *s)
{
	if (s->status)
		return s->status;
	if (s->wlen == 0)
		return SIO_OK;
	int r = sio_send(s, s->wbuf, s->wlen);
	s->wlen = 0;
	return r;
}

int sio_write(struct sio *s, const void *p, size_t n)
{
	if (s->status)
		return s->status;
	if (s->wlen + n <= SIO_WBUF) {
		memcpy(s->wbuf + s->wlen, p, n);
		s->wlen += n;
		return SIO_OK;
	}
	int r = sio_flush(s);
	if (r)
		return r;
	if (n >= SIO_WBUF)
		return sio_send(s, p, n);
	memcpy(s->wbuf, p, n);
	s->wlen = n;
	return SIO_OK;
}

int sio_puts(struct sio *s, const char *str)
{
	return sio_write(s, str, strlen(str));
}

int sio_printf(struct sio *s, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return sio_fail(s, SIO_ERR);
	if ((size_t)n < sizeof(buf))
		return sio_write(s, buf, (size_t)n);
	va_start(ap, fmt);
	char *big = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	int r = sio_write(s, big, strlen(big));
	g_free(big);
	return r;
}

/* --- addresses --- */

/* "unix:/path", "host:port" or "[v6]:port" -> one socket address
 * (numeric or resolved by name). 0, or -1 with *err. */
static int sio_sockaddr(const char *addr, bool passive, struct sockaddr_storage *ss, socklen_t *len, char **err)
{
	memset(ss, 0, sizeof(*ss));
	if (g_str_has_prefix(addr, "unix:")) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		sun->sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof(sun->sun_path)) {
			*err = g_strdup_printf("unix socket path too long: %s", addr);
			return -1;
		}
		g_strlcpy(sun->sun_path, addr + 5, sizeof(sun->sun_path));
		*len = sizeof(*sun);
		return 0;
	}
	const char *colon = strrchr(addr, ':');
	if (!colon || colon[1] == '\0') {
		*err = g_strdup_printf("bad address (want host:port or unix:/path): %s", addr);
		return -1;
	}
	char *host;
	if (addr[0] == '[' && colon > addr && colon[-1] == ']')
		host = g_strndup(addr + 1, (size_t)(colon - addr - 2));
	else
		host = g_strndup(addr, (size_t)(colon - addr));
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0}, *res = NULL;
	int r = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
	g_free(host);
	if (r != 0) {
		*err = g_strdup_printf("%s: %s", addr, gai_strerror(r));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* "what addr: why" (from errno) in *err; closes fd when it is one; -1. */
static int sio_sock_fail(int fd, const char *what, const char *addr, char **err)
{
	*err = g_strdup_printf("%s %s: %s", what, addr, g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A non-blocking stream socket of addr's family, the address in ss/len
 * (passive: for listening); -1 with *err ("what addr: ..." once the
 * address is known). */
static int sio_socket(const char *addr, bool passive, const char *what, struct sockaddr_storage *ss,
                      socklen_t *len, char **err)
{
	if (sio_sockaddr(addr, passive, ss, len, err) < 0)
		return -1;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return fd < 0 ? sio_sock_fail(fd, what, addr, err) : fd;
}

int sio_listen(const char *addr, int backlog, char **err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	int fd = sio_socket(addr, true, "listen", &ss, &len, err);

	if (fd < 0)
		return -1;
	const char *path = ss.ss_family == AF_UNIX ? ((struct sockaddr_un *)&ss)->sun_path : NULL;
	if (path)
		unlink(path); /* a socket left by an earlier run */
	else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return sio_sock_fail(fd, "listen", addr, err);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (path && chmod(path, 0666) < 0) || listen(fd, backlog) < 0)
		return sio_sock_fail(fd, "listen", addr, err);
	return fd;
}

/* Non-blocking connect bounded by timeout_ms. */
static int sio_connect_sa(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int r;
	while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (r == 0)
		errno = ETIMEDOUT;
	if (r <= 0)
		return -1;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -1;
	if (soerr) {
		errno = soerr;
		return -1;
	}
	return 0;
}

int sio_connect(const char *addr, int timeout_ms, char **err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	int fd = sio_socket(addr, false, "connect", &ss, &len, err);

	if (fd < 0)
		return -1;
	if (sio_connect_sa(fd, (struct sockaddr *)&ss, len, timeout_ms) < 0)
		return sio_sock_fail(fd, "connect", addr, err);
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}
