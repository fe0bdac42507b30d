/*
 * sockio - buffered socket I/O with timeouts, and socket addresses
 *
 * struct sio wraps one connected, non-blocking socket with a read buffer
 * and a write buffer. Every wait is a poll() bounded by the timeout set
 * with sio_set_timeout(); an optional "stop" descriptor (an eventfd the
 * daemon makes readable at shutdown) interrupts waits for input that were
 * started with sio_wait_input(..., true). Used by the scand SMTP/LMTP
 * server side, by the SMTP client (smtpc) and by the bench load driver.
 *
 * Reading: sio_getline() returns the next line without its CR LF, NUL
 * terminated, pointing into the read buffer (valid until the next read
 * call); a line longer than the limit is consumed up to its LF and
 * reported as SIO_TOOLONG. sio_peek()/sio_consume() give raw access for
 * DATA transfer. Writing: sio_write()/sio_printf() buffer, sio_flush()
 * sends. All return 0 or a negative SIO_* status; sio_status() keeps the
 * first failure of the stream.
 *
 * Addresses: "host:port", "[v6addr]:port" or "unix:/path". sio_listen()
 * binds and listens (a unix socket file is replaced, mode 0666 so that the
 * MTA's unprivileged client can connect), sio_connect() connects within a
 * timeout. Both return a descriptor, or -1 with *err set (g_free).
 */
#ifndef GH_SOCKIO_H
#define GH_SOCKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum sio_status {
	SIO_OK = 0,
	SIO_EOF = -1,     /* peer closed */
	SIO_TIMEOUT = -2, /* no progress within the timeout */
	SIO_ERR = -3,     /* I/O error (errno-based) */
	SIO_STOP = -4,    /* the stop descriptor became readable while idle */
	SIO_TOOLONG = -5, /* line longer than the limit (consumed) */
};

struct sio;

struct sio *sio_new(int fd, int timeout_ms);
/* Closes the descriptor. NULL is fine. */
void sio_free(struct sio *s);
int sio_fd(const struct sio *s);
void sio_set_timeout(struct sio *s, int timeout_ms);
void sio_set_stop_fd(struct sio *s, int fd);
int sio_status(const struct sio *s);
const char *sio_strstatus(int st);

/* Bytes already buffered for reading (pipelined input). */
size_t sio_pending(const struct sio *s);
/* Waits until input is buffered (flushing output first). With idle set,
 * the stop descriptor may end the wait with SIO_STOP. */
int sio_wait_input(struct sio *s, bool idle);
/* Reads more input into the buffer; 0 or SIO_*. */
int sio_fill(struct sio *s);
int sio_getline(struct sio *s, size_t maxlen, char **line, size_t *len);
void sio_peek(struct sio *s, const unsigned char **p, size_t *n);
void sio_consume(struct sio *s, size_t n);

int sio_write(struct sio *s, const void *p, size_t n);
int sio_puts(struct sio *s, const char *str);
int sio_printf(struct sio *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sio_flush(struct sio *s);

int sio_listen(const char *addr, int backlog, char **err);
int sio_connect(const char *addr, int timeout_ms, char **err);

#endif
