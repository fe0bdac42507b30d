/*
 * fuzz_smtp - libFuzzer harness for scand's SMTP/LMTP session
 *
 * The input is what a client sends: sess_run() reads it from one end of a
 * socket pair while a helper thread feeds it (then half-closes) and
 * collects the replies from the other end. Every reply line must be
 * "DDD" + ' ' or '-' + text + CR LF: a reply that carries a bare CR or
 * LF, or no code, means client text leaked into the protocol.
 *
 * The harness tests the session alone. It links the session against its
 * own pipeline_run() and srv_conf_acquire()/srv_conf_release() (so
 * server.o and pipeline.o are not pulled from libscand.a): the stand-in
 * pipeline checks what the session hands on (envelope and XFORWARD values
 * without CR or LF, at least one and at most max_recipients recipients,
 * data within message_size_limit) and answers 250. If sess.c starts to
 * use another symbol of server.c or pipeline.c, the link fails with a
 * duplicate pipeline_run: add a stand-in for it here.
 * Limits are small (16 KiB messages, 2 KiB in memory, then the spool
 * file) so that the fuzzer reaches the size and spool-file paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "conf.h"
#include "log.h"
#include "scand/msg.h"
#include "scand/pipeline.h"
#include "scand/server.h"
#include "scand/sess.h"
#include "scand/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct confref fuzz_smtp_conf = {.refs = 1};
static struct worker fuzz_smtp_worker = {.stop_fd = -1};

struct confref *srv_conf_acquire(void)
{
	return &fuzz_smtp_conf;
}

void srv_conf_release(struct confref *r)
{
	(void)r;
}

static void fuzz_smtp_clean(const char *s)
{
	if (s && strpbrk(s, "\r\n"))
		abort();
}

/* The stand-in pipeline: what the session passes on must be clean. */
char *pipeline_run(struct worker *w, const struct conf *c, struct msg *m)
{
	(void)w;
	if (m->rcpts->len == 0 || (int64_t)m->rcpts->len > conf_int(c, "scand", "max_recipients"))
		abort();
	if ((int64_t)m->len > conf_int(c, "scand", "message_size_limit") || (m->len && !m->data))
		abort();
	fuzz_smtp_clean(m->sender);
	fuzz_smtp_clean(m->helo);
	const char *xf[] = {m->xf_name, m->xf_addr, m->xf_port, m->xf_proto, m->xf_helo, m->xf_ident, m->xf_source,
			    m->ret, m->envid, m->body};
	for (size_t i = 0; i < G_N_ELEMENTS(xf); i++)
		fuzz_smtp_clean(xf[i]);
	for (guint i = 0; i < m->rcpts->len; i++) {
		const struct msg_rcpt *r = m->rcpts->pdata[i];
		fuzz_smtp_clean(r->addr);
		fuzz_smtp_clean(r->notify);
		fuzz_smtp_clean(r->orcpt);
	}
	return g_strdup("250 2.0.0 Ok: fuzz");
}

static void fuzz_smtp_init(void)
{
	char *err = NULL;
	char *dir = g_dir_make_tmp("gh-fuzz-smtp-XXXXXX", NULL);
	char *text = g_strdup_printf("[scand]\nhostname = fuzz.example\nmessage_size_limit = 16k\n"
				     "spool_memory_limit = 2k\nmax_recipients = 5\nmax_errors = 50\n"
				     "command_timeout = 5\ndata_timeout = 5\nwork_dir = %s\n",
				     dir);
	fuzz_smtp_conf.conf = conf_load_text("fuzz_smtp.conf", text, strlen(text), &err);
	if (!fuzz_smtp_conf.conf)
		abort();
	fuzz_smtp_worker.spool = spool_new(dir, 2048, 16384);
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LVL_ERROR);
	g_free(text);
	g_free(dir);
}

struct fuzz_smtp_peer {
	int fd;
	const uint8_t *data;
	size_t size;
	GString *replies;
};

/* The client: write the input, half-close, read replies until EOF. */
static void *fuzz_smtp_client(void *arg)
{
	struct fuzz_smtp_peer *p = arg;
	size_t off = 0;
	bool wr = true;
	char buf[4096];

	fcntl(p->fd, F_SETFL, O_NONBLOCK);
	if (p->size == 0) {
		shutdown(p->fd, SHUT_WR);
		wr = false;
	}
	for (;;) {
		struct pollfd pf = {.fd = p->fd, .events = POLLIN | (wr ? POLLOUT : 0)};
		if (poll(&pf, 1, 10000) <= 0)
			abort(); /* the session neither reads nor answers */
		if (wr && (pf.revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = send(p->fd, p->data + off, p->size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			if ((n < 0 && errno != EAGAIN) || off == p->size) {
				shutdown(p->fd, SHUT_WR);
				wr = false;
			}
		}
		if (pf.revents & (POLLIN | POLLHUP)) {
			ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				break;
			if (n > 0)
				g_string_append_len(p->replies, buf, n);
		}
	}
	close(p->fd);
	return NULL;
}

/* Every reply line: three digits, ' ' or '-', text without CR/LF, CR LF. */
static void fuzz_smtp_check_replies(const GString *r)
{
	const char *p = r->str, *end = r->str + r->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || nl - p < 5 || nl[-1] != '\r')
			abort();
		if (!g_ascii_isdigit(p[0]) || !g_ascii_isdigit(p[1]) || !g_ascii_isdigit(p[2]) ||
		    (p[3] != ' ' && p[3] != '-'))
			abort();
		if (memchr(p, '\r', (size_t)(nl - 1 - p)))
			abort();
		p = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	pthread_t t;

	if (!fuzz_smtp_conf.conf)
		fuzz_smtp_init();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	struct fuzz_smtp_peer peer = {.fd = sv[1], .data = data, .size = size, .replies = g_string_new("")};
	if (pthread_create(&t, NULL, fuzz_smtp_client, &peer) != 0)
		abort();
	sess_run(&fuzz_smtp_worker, sv[0], "fuzz");
	pthread_join(t, NULL);
	fuzz_smtp_check_replies(peer.replies);
	g_string_free(peer.replies, TRUE);
	return 0;
}
