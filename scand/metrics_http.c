/*
 * metrics_http - the /metrics page over HTTP, by libmicrohttpd
 * (see metrics.h)
 *
 * Functions: metrics_http_bind, metrics_http_start, metrics_http_stop.
 *
 * The socket is bound as the SMTP listener is (sio_listen(), before the
 * privilege drop, so that a port below 1024 works), and handed to
 * libmicrohttpd after the drop: its thread never runs as root. That thread
 * only renders counters; it takes no lock a message holds except the
 * virus engine's reference count, for the signature gauges. The page is
 * small and scrapes are rare, so one polling thread serves every
 * connection; a connection limit and a timeout keep a stuck scraper from
 * holding descriptors.
 */
#include "metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <string.h>
#include <stdarg.h>
#include <unistd.h>

#include "log.h"
#include "promtext.h"
#include "sockio.h"

#define METRICS_PATH "/metrics"
#define METRICS_MAX_CONNECTIONS 16
#define METRICS_TIMEOUT_S 10

static int http_fd = -1;
static char *http_addr;
static struct MHD_Daemon *http_daemon;

static enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status, const char *type, GString *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(body->len, body->str, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc = MHD_NO;
	if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES &&
	    (status != MHD_HTTP_METHOD_NOT_ALLOWED ||
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_GET) == MHD_YES))
		rc = MHD_queue_response(conn, status, r);
	if (r)
		MHD_destroy_response(r);
	g_string_free(body, TRUE);
	return rc;
}

static enum MHD_Result http_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload;
	(void)con_cls;
	/* a request body (a POST) is never read: the answer goes out at once
	 * and libmicrohttpd closes the connection after it */
	*upload_size = 0;
	if (strcmp(url, METRICS_PATH) != 0)
		return http_reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", g_string_new("not found\n"));
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return http_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", g_string_new("only GET\n"));
	GString *page = g_string_sized_new(8192);
	metrics_render(page);
	return http_reply(conn, MHD_HTTP_OK, PROMTEXT_CONTENT_TYPE, page);
}

/* libmicrohttpd's own complaints (a bad request, out of descriptors) go
 * to our log, made printable: they may quote what a client sent. */
static void http_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char *s = g_strchomp(g_strdup_vprintf(fmt, ap));
	char *p = log_printable(s, 300);
	msg_warn("metrics: %s", p);
	g_free(p);
	g_free(s);
}

int metrics_http_bind(const struct conf *c, char **err)
{
	const char *addr = conf_str(c, "scand", "metrics_listen");
	if (!*addr)
		return 0;
	if ((http_fd = sio_listen(addr, 16, err)) < 0)
		return -1;
	http_addr = g_strdup(addr);
	return 0;
}

int metrics_http_start(char **err)
{
	if (http_fd < 0)
		return 0;
	/* the logger first: libmicrohttpd logs the other options' problems */
	http_daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                               http_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
	                               MHD_OPTION_LISTEN_SOCKET, http_fd, MHD_OPTION_CONNECTION_LIMIT,
	                               (unsigned)METRICS_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	                               (unsigned)METRICS_TIMEOUT_S, MHD_OPTION_END);
	if (!http_daemon) {
		*err = g_strdup_printf("metrics: cannot serve on %s ([scand] metrics_listen)", http_addr);
		return -1;
	}
	msg_info("metrics: serving http://%s%s", http_addr, METRICS_PATH);
	return 0;
}

void metrics_http_stop(void)
{
	if (http_daemon)
		MHD_stop_daemon(http_daemon); /* closes http_fd as well */
	else if (http_fd >= 0)
		close(http_fd);
	http_daemon = NULL;
	http_fd = -1;
	g_free(http_addr);
	http_addr = NULL;
}
