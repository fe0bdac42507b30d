/*
 * esmtpsrc - hand a message in memory to libesmtp (see esmtpsrc.h)
 */
#include "esmtpsrc.h"

const char *esmtpsrc_cb(void **ctx, int *len, void *arg)
{
	struct esmtpsrc *src = arg;
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
