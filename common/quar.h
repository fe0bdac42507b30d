/*
 * quar - the quarantine tree
 *
 * Layout: <dir>/<category>/YYYY/MM/DD/<category>-YYYYMMDD-HHMMSS-<mail id>[.gz]
 * (UTC), files 0600, directories 0700. Categories: virus banned spam badh
 * archive.
 *
 * quar_relpath() builds the relative path; quar_write() stores bytes there
 * the safe way (temp name, fsync, rename, fsync of the directory) and
 * returns size and SHA-256 (hex, of the bytes as stored on disk);
 * quar_read() returns the original message (gunzipped when .gz) after
 * checking the stored file against the expected SHA-256 (NULL = no check).
 * quar_remove() deletes a file. Each returns 0, or -1 with *err set (g_free).
 * A relative path with "..", a leading '/' or a mail id that is not valid
 * is refused before any file is touched.
 */
#ifndef GH_QUAR_H
#define GH_QUAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

char *quar_relpath(const char *category, time_t when, const char *mail_id, bool gz);
int quar_write(const char *dir, const char *relpath, const void *data, size_t len, bool gz,
	       int64_t *size_out, char sha256_hex[65], char **err);
int quar_read(const char *dir, const char *relpath, const char *expect_sha256, void **data,
	      size_t *len, char **err);
int quar_remove(const char *dir, const char *relpath, char **err);
bool quar_relpath_safe(const char *relpath);

#endif
