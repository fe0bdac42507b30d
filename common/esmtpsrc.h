/*
 * esmtpsrc - hand a message in memory to libesmtp
 *
 * libesmtp reads a message through a callback (smtp_set_messagecb). With
 * struct esmtpsrc src = {data, len} and
 * smtp_set_messagecb(message, esmtpsrc_cb, &src) it gets the bytes in one
 * piece, and again after a rewind. The data must have CRLF line ends
 * (libesmtp sends the bytes as they are and looks for the CRLF CRLF that
 * ends the header block) and outlive the session. It cannot fail.
 */
#ifndef GH_ESMTPSRC_H
#define GH_ESMTPSRC_H

#include <stdbool.h>
#include <stddef.h>

struct esmtpsrc {
	const char *data;
	size_t len;
	bool done; /* handed over since the last rewind */
};

const char *esmtpsrc_cb(void **ctx, int *len, void *arg);

#endif
