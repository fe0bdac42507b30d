/*
 * webload - requests a second from an HTTP server at a fixed concurrency
 *
 * usage: webload HOST:PORT PATH CONCURRENCY SECONDS
 *
 * CONCURRENCY threads, each on its own keep-alive connection (a new one
 * when the server closes), send "GET PATH" one after the other for
 * SECONDS and read each answer whole (Content-Length). Prints the
 * requests answered 200, the others, and requests a second. Used by
 * bench/digest-web for scand-web's confirmation page.
 */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct load {
	struct sockaddr_in sa;
	char *req;
	size_t req_len;
	double until;
	gint ok, bad;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int conn_open(const struct load *l)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0 || connect(fd, (const struct sockaddr *)&l->sa, sizeof(l->sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* One request and its whole answer: the status, or -1 (connection gone). */
static int one_request(int fd, const struct load *l, GByteArray *buf)
{
	if (write(fd, l->req, l->req_len) != (ssize_t)l->req_len)
		return -1;
	g_byte_array_set_size(buf, 0);
	char chunk[16384];
	size_t want = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			return -1;
		g_byte_array_append(buf, (guint8 *)chunk, (guint)n);
		if (!want) {
			const char *end = g_strstr_len((const char *)buf->data, buf->len, "\r\n\r\n");
			if (!end)
				continue;
			const char *cl = g_strstr_len((const char *)buf->data, end - (const char *)buf->data,
			                              "Content-Length: ");
			want = (size_t)(end + 4 - (const char *)buf->data) +
			       (cl ? strtoul(cl + 16, NULL, 10) : 0);
		}
		if (buf->len >= want)
			return atoi((const char *)buf->data + 9);
	}
}

static gpointer worker(gpointer arg)
{
	struct load *l = arg;
	GByteArray *buf = g_byte_array_new();
	int fd = -1;
	while (now_s() < l->until) {
		if (fd < 0 && (fd = conn_open(l)) < 0) {
			g_atomic_int_inc(&l->bad);
			continue;
		}
		int st = one_request(fd, l, buf);
		if (st < 0) {
			close(fd);
			fd = -1;
			continue;
		}
		g_atomic_int_inc(st == 200 ? &l->ok : &l->bad);
	}
	if (fd >= 0)
		close(fd);
	g_byte_array_free(buf, TRUE);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: webload HOST:PORT PATH CONCURRENCY SECONDS\n");
		return 2;
	}
	struct load l = {0};
	char *colon = strrchr(argv[1], ':');
	if (!colon)
		return 2;
	*colon = '\0';
	l.sa.sin_family = AF_INET;
	l.sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, argv[1], &l.sa.sin_addr) != 1)
		return 2;
	l.req =
	    g_strdup_printf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: webload\r\n\r\n", argv[2], argv[1]);
	l.req_len = strlen(l.req);
	int conc = atoi(argv[3]);
	double secs = atof(argv[4]), t0 = now_s();
	l.until = t0 + secs;
	GThread **t = g_new(GThread *, conc);
	for (int i = 0; i < conc; i++)
		t[i] = g_thread_new("webload", worker, &l);
	for (int i = 0; i < conc; i++)
		g_thread_join(t[i]);
	double took = now_s() - t0;
	printf("concurrency %d, %.1f s: %d answered 200, %d other: %.0f requests/s\n", conc, took, l.ok,
	       l.bad, l.ok / took);
	g_free(t);
	g_free(l.req);
	return l.bad ? 1 : 0;
}
