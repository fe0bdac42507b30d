/*
 * spool - where DATA goes while a message is received and scanned
 *
 * A message stays in memory up to mem_limit bytes; a larger one moves to
 * a file "scand-spool-XXXXXX" in work_dir (mode 0600) that is unlinked as
 * soon as it is created, so that no path (success, failure, crash) leaves
 * it behind; spool_clean_dir() removes leftovers of older runs at start
 * (spool files, and libclamav temp files and directories in work_dir).
 * Bytes beyond max_size are counted but not kept (spool_over()); the
 * session answers 552 then. spool_finish() gives the message as one
 * contiguous read-only range (the memory buffer, or the file mmap'd);
 * spool_reset() releases it and prepares the next message (the memory
 * buffer is kept for reuse by the same worker).
 *
 * Functions return 0, or -1 with *err set (g_free) for I/O failures (the
 * session answers 451 4.3.0 then).
 */
#ifndef GH_SPOOL_H
#define GH_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool;

struct spool *spool_new(const char *work_dir, size_t mem_limit, int64_t max_size);
void spool_free(struct spool *sp);
/* New limits for the next message (after a reload). */
void spool_configure(struct spool *sp, const char *work_dir, size_t mem_limit, int64_t max_size);
void spool_reset(struct spool *sp);
int spool_write(struct spool *sp, const void *p, size_t n, char **err);
bool spool_over(const struct spool *sp);
int64_t spool_size(const struct spool *sp); /* bytes received, kept or not */
bool spool_in_file(const struct spool *sp);
int spool_finish(struct spool *sp, const unsigned char **data, size_t *len, char **err);
int spool_clean_dir(const char *work_dir);

#endif
