/*
 * quar - the quarantine tree
 *
 * Layout: <dir>/<category>/YYYY/MM/DD/<category>-YYYYMMDD-HHMMSS-<mail id>[.gz]
 * (UTC), files 0600, directories 0700. Categories: virus banned spam badh
 * archive.
 *
 * quar_relpath() builds the relative path; quar_write() stores bytes there
 * the safe way (temp name, fsync, rename, fsync of the directory) and
 * returns the size stored and the SHA-256 (hex) of the message as given,
 * before any compression; quar_read() returns the original message
 * (gunzipped when .gz) after checking it against the expected SHA-256
 * (NULL = no check; the SHA-256 of the .gz file itself, which rows written
 * before schema/009 have, is accepted too). quar_remove() deletes a file.
 * Each returns 0, or -1 with *err set (g_free).
 *
 * A copy may be kept in the store instead ([scand] quarantine_backend =
 * database, the row's quar_backend): quar_pack() gzips a message for
 * store_put (quar_blob) and gives its SHA-256; quar_db_read() reads one
 * back and checks it; quar_unpack() does that check on bytes already at
 * hand (gunzip, then the SHA-256 of the message unless expect_sha256 is
 * NULL; what names the copy in *err; EBADMSG when it does not decompress
 * or the SHA-256 differs).
 *
 * quar_message_read() is THE way to the quarantined bytes of a message,
 * whichever the backend (release, quarctl show, the web view):
 *   st        the store the row m came from (a database copy is read
 *             from it)
 *   quar_dir  [scand] quarantine_dir (a file copy is read from it)
 *   m         the row (store_get, store_list): quar_path, quar_backend,
 *             quar_sha256, quar_state
 *   check     compare the bytes with quar_sha256 (false: read anyway,
 *             for showing a damaged copy)
 * On success 0 with *data (g_free) and *len, the message as received. On
 * failure -1, *err (g_free) and errno: EINVAL not quarantined, ENOENT the
 * file or blob is gone, EBADMSG the SHA-256 differs or the copy does not
 * decompress, anything else an I/O or store error.
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

struct store;
struct store_msg;
int quar_pack(const void *data, size_t len, void **packed, size_t *packed_len, char sha256_hex[65], char **err);
int quar_unpack(const char *what, const void *packed, size_t packed_len, const char *expect_sha256, void **data,
                size_t *len, char **err);
int quar_db_read(struct store *st, const char *mail_id, const char *expect_sha256, void **data, size_t *len,
                 char **err);
int quar_message_read(struct store *st, const char *quar_dir, const struct store_msg *m, bool check,
                      void **data, size_t *len, char **err);

#endif
