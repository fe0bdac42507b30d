/*
 * quar - the quarantine tree on disk (see quar.h)
 *
 * quar_relpath()      <category>/YYYY/MM/DD/<category>-YYYYMMDD-HHMMSS-<id>[.gz]
 * quar_relpath_safe() the guard every other function applies first
 * quar_write()        temp file (0600) in the target directory, write, fsync,
 *                     rename without replacing, fsync of the directory;
 *                     directories are made 0700; optional gzip (zlib);
 *                     SHA-256 (GChecksum) of the bytes as stored
 * quar_read()         read, check SHA-256, gunzip when the name ends in .gz
 * quar_remove()       unlink and fsync of the directory
 * quar_pack()         gzip in memory, for a copy kept in the store
 * quar_unpack()       a packed copy's bytes: gunzip, check SHA-256
 * quar_db_read()      a store copy: quar_unpack() of its blob
 * quar_message_read() the one reader of quarantined bytes, either backend
 *
 * Failure: -1 with *err (g_free) saying what and why; errno is left as the
 * failing system call set it, so a caller can tell ENOENT from the rest.
 * Nothing is touched for a relative path that fails quar_relpath_safe():
 * a quarantine path comes from the database, which an operator's tool must
 * not trust to stay inside the tree.
 */
#include "quar.h"

#include "mailid.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* A released message is read into memory; this bounds a decompression bomb
 * planted in the tree. */
#define QUAR_MAX_PLAIN ((size_t)1 << 30)

static const char *const quar_categories[] = {"virus", "banned", "spam", "badh", "archive", NULL};

static bool quar_category_valid(const char *c)
{
	for (int i = 0; c && quar_categories[i]; i++)
		if (strcmp(c, quar_categories[i]) == 0)
			return true;
	return false;
}

char *quar_relpath(const char *category, time_t when, const char *mail_id, bool gz)
{
	struct tm tm;

	if (!quar_category_valid(category) || !mailid_valid(mail_id) || !gmtime_r(&when, &tm))
		return NULL;
	return g_strdup_printf("%s/%04d/%02d/%02d/%s-%04d%02d%02d-%02d%02d%02d-%s%s", category,
	                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, category, tm.tm_year + 1900,
	                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, mail_id,
	                       gz ? ".gz" : "");
}

/* The last component must end in "-<mail id>" or "-<mail id>.gz". */
static bool quar_basename_ok(const char *base)
{
	size_t n = strlen(base);
	char id[MAILID_LEN + 1];

	if (n > 3 && strcmp(base + n - 3, ".gz") == 0)
		n -= 3;
	if (n < MAILID_LEN + 2 || base[n - MAILID_LEN - 1] != '-')
		return false;
	memcpy(id, base + n - MAILID_LEN, MAILID_LEN);
	id[MAILID_LEN] = '\0';
	return mailid_valid(id);
}

bool quar_relpath_safe(const char *relpath)
{
	if (!relpath || !*relpath || relpath[0] == '/' || strlen(relpath) > 1024)
		return false;
	for (const char *p = relpath; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("._-/", *p))
			return false;
	char **parts = g_strsplit(relpath, "/", -1);
	bool ok = g_strv_length(parts) >= 2 && quar_category_valid(parts[0]);
	for (int i = 0; ok && parts[i]; i++)
		if (!*parts[i] || strcmp(parts[i], ".") == 0 || strcmp(parts[i], "..") == 0)
			ok = false;
	if (ok)
		ok = quar_basename_ok(parts[g_strv_length(parts) - 1]);
	g_strfreev(parts);
	return ok;
}

static int quar_refuse(const char *relpath, char **err)
{
	char *shown = g_strescape(relpath ? relpath : "(null)", NULL);
	*err = g_strdup_printf("unsafe quarantine path refused: \"%s\"", shown);
	g_free(shown);
	errno = EINVAL;
	return -1;
}

static int quar_fail(char **err, const char *what, const char *path)
{
	int e = errno;
	*err = g_strdup_printf("%s %s: %s", what, path, g_strerror(e));
	errno = e;
	return -1;
}

static int quar_fsync_dir(const char *dirpath, char **err)
{
	int fd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return quar_fail(err, "open directory", dirpath);
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return quar_fail(err, "fsync directory", dirpath);
	}
	close(fd);
	return 0;
}

static GByteArray *quar_gzip(const void *data, size_t len, char **err)
{
	z_stream z = {0};
	GByteArray *out;
	int rc;

	/* windowBits 15 + 16: a gzip wrapper, so that zcat reads the files. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		*err = g_strdup("deflateInit2 failed");
		return NULL;
	}
	out = g_byte_array_sized_new((guint)deflateBound(&z, len));
	g_byte_array_set_size(out, (guint)deflateBound(&z, len));
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = out->data;
	z.avail_out = out->len;
	rc = deflate(&z, Z_FINISH);
	g_byte_array_set_size(out, (guint)z.total_out);
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		*err = g_strdup_printf("deflate failed (%d)", rc);
		g_byte_array_free(out, TRUE);
		return NULL;
	}
	return out;
}

static int quar_gunzip(const void *data, size_t len, void **plain, size_t *plain_len, char **err)
{
	z_stream z = {0};
	GByteArray *out = g_byte_array_new();
	guint8 buf[65536];
	int rc;

	if (inflateInit2(&z, 15 + 16) != Z_OK) {
		*err = g_strdup("inflateInit2 failed");
		g_byte_array_free(out, TRUE);
		return -1;
	}
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END)
			break;
		g_byte_array_append(out, buf, (guint)(sizeof(buf) - z.avail_out));
		if (out->len > QUAR_MAX_PLAIN) {
			rc = Z_MEM_ERROR;
			break;
		}
	} while (rc != Z_STREAM_END);
	inflateEnd(&z);
	if (rc != Z_STREAM_END) {
		*err = g_strdup_printf("corrupt or oversized gzip data (%d)", rc);
		g_byte_array_free(out, TRUE);
		return -1;
	}
	*plain_len = out->len;
	*plain = g_byte_array_free(out, FALSE);
	return 0;
}

static void quar_sha256(const void *data, size_t len, char hex[65])
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(ck, data, (gssize)len);
	g_strlcpy(hex, g_checksum_get_string(ck), 65);
	g_checksum_free(ck);
}

/* The plain bytes against the expected SHA-256: 0, or -1 (EBADMSG) with
 * the bytes freed. what names the copy in *err. */
static int quar_check(const char *what, const char *expect, void **data, size_t *len, char **err)
{
	char got[65];
	quar_sha256(*data, *len, got);
	if (g_ascii_strcasecmp(got, expect) == 0)
		return 0;
	*err = g_strdup_printf("%s: SHA-256 mismatch: the store expects %.64s, the copy has %s", what, expect, got);
	g_free(*data);
	*data = NULL;
	*len = 0;
	errno = EBADMSG;
	return -1;
}

static int quar_write_all(int fd, const guint8 *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write bytes under a temporary name in dirpath and rename to final. */
static int quar_store_file(const char *dirpath, const char *final, const guint8 *p, size_t len, char **err)
{
	char *tmp = g_build_filename(dirpath, ".tmp-XXXXXX", NULL);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
	int rc = -1;

	if (fd < 0) {
		quar_fail(err, "create", tmp);
		goto out;
	}
	if (quar_write_all(fd, p, len) < 0 || fsync(fd) < 0) {
		quar_fail(err, "write", tmp);
		close(fd);
		goto unlink_out;
	}
	if (close(fd) < 0) {
		quar_fail(err, "close", tmp);
		goto unlink_out;
	}
	/* Never replace an existing file: a mail id is used once. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		quar_fail(err, "rename to", final);
		goto unlink_out;
	}
	rc = quar_fsync_dir(dirpath, err);
	goto out;
unlink_out : {
	int e = errno;
	g_unlink(tmp);
	errno = e;
}
out:
	g_free(tmp);
	return rc;
}

int quar_write(const char *dir, const char *relpath, const void *data, size_t len, bool gz, int64_t *size_out,
               char sha256_hex[65], char **err)
{
	GByteArray *packed = NULL;
	const guint8 *p = data;
	size_t len_plain = len;
	char *final, *dirpath;
	int rc = -1;

	if (!quar_relpath_safe(relpath))
		return quar_refuse(relpath, err);
	if (gz != g_str_has_suffix(relpath, ".gz")) {
		*err = g_strdup_printf("%s: name and compression disagree", relpath);
		return -1;
	}
	if (gz) {
		if (!(packed = quar_gzip(data, len, err)))
			return -1;
		p = packed->data;
		len = packed->len;
	}
	final = g_build_filename(dir, relpath, NULL);
	dirpath = g_path_get_dirname(final);
	if (g_mkdir_with_parents(dirpath, 0700) < 0) {
		quar_fail(err, "mkdir", dirpath);
		goto out;
	}
	if (quar_store_file(dirpath, final, p, len, err) < 0)
		goto out;
	quar_sha256(data, len_plain, sha256_hex); /* of the message, not of the gzip */
	*size_out = (int64_t)len;
	rc = 0;
out:
	g_free(final);
	g_free(dirpath);
	if (packed)
		g_byte_array_free(packed, TRUE);
	return rc;
}

static int quar_slurp(const char *path, guint8 **data, size_t *len, char **err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	GByteArray *buf;
	guint8 chunk[65536];
	ssize_t n;

	if (fd < 0)
		return quar_fail(err, "open", path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		int e = fstat(fd, &sb) < 0 ? errno : EINVAL;
		close(fd);
		errno = e;
		return quar_fail(err, "open regular file", path);
	}
	buf = g_byte_array_sized_new((guint)MIN((size_t)sb.st_size, QUAR_MAX_PLAIN));
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf->len > QUAR_MAX_PLAIN) {
			if (n >= 0)
				errno = EFBIG;
			close(fd);
			g_byte_array_free(buf, TRUE);
			return quar_fail(err, "read", path);
		}
		g_byte_array_append(buf, chunk, (guint)n);
	}
	close(fd);
	*len = buf->len;
	*data = g_byte_array_free(buf, FALSE);
	return 0;
}

int quar_read(const char *dir, const char *relpath, const char *expect_sha256, void **data, size_t *len,
              char **err)
{
	guint8 *raw = NULL;
	size_t rawlen = 0;
	char *path;
	int rc;

	if (!quar_relpath_safe(relpath))
		return quar_refuse(relpath, err);
	path = g_build_filename(dir, relpath, NULL);
	rc = quar_slurp(path, &raw, &rawlen, err);
	g_free(path);
	if (rc < 0)
		return -1;
	/* The SHA-256 is of the message (schema/009); a .gz file written
	 * before that has the SHA-256 of the file, which is accepted too. */
	char got[65] = "";
	if (expect_sha256)
		quar_sha256(raw, rawlen, got);
	bool ok = !expect_sha256 || g_ascii_strcasecmp(got, expect_sha256) == 0;
	if (!g_str_has_suffix(relpath, ".gz")) {
		*data = raw;
		*len = rawlen;
	} else {
		rc = quar_gunzip(raw, rawlen, data, len, err);
		g_free(raw);
		if (rc < 0)
			return -1;
	}
	if (!ok)
		return quar_check(relpath, expect_sha256, data, len, err);
	return 0;
}

int quar_pack(const void *data, size_t len, void **packed, size_t *packed_len, char sha256_hex[65], char **err)
{
	GByteArray *gz = quar_gzip(data, len, err);
	if (!gz)
		return -1;
	quar_sha256(data, len, sha256_hex);
	*packed_len = gz->len;
	*packed = g_byte_array_free(gz, FALSE);
	return 0;
}

int quar_unpack(const char *what, const void *packed, size_t packed_len, const char *expect_sha256, void **data,
                size_t *len, char **err)
{
	if (quar_gunzip(packed, packed_len, data, len, err) < 0) {
		char *e = *err;
		*err = g_strdup_printf("%s: %s", what, e);
		g_free(e);
		errno = EBADMSG; /* a damaged blob is as bad as a wrong hash */
		return -1;
	}
	return expect_sha256 ? quar_check(what, expect_sha256, data, len, err) : 0;
}

int quar_db_read(struct store *st, const char *mail_id, const char *expect_sha256, void **data, size_t *len,
                 char **err)
{
	void *raw = NULL;
	size_t rawlen = 0;
	int rc = store_quar_blob_get(st, mail_id, &raw, &rawlen);
	if (rc != 0) {
		*err = rc < 0 ? g_strdup_printf("%s: reading the quarantine copy: %s", mail_id, store_error(st))
		              : g_strdup_printf("%s: the store holds no quarantine copy", mail_id);
		errno = rc < 0 ? EIO : ENOENT;
		return -1;
	}
	rc = quar_unpack(mail_id, raw, rawlen, expect_sha256, data, len, err);
	g_free(raw);
	return rc;
}

int quar_message_read(struct store *st, const char *quar_dir, const struct store_msg *m, bool check,
                      void **data, size_t *len, char **err)
{
	const char *expect = check ? m->quar_sha256 : NULL;
	if (!m->quar_path || !m->quar_state || strcmp(m->quar_state, "none") == 0) {
		*err = g_strdup_printf("%s: not quarantined (no copy kept)", m->mail_id);
		errno = EINVAL;
		return -1;
	}
	if (m->quar_backend && strcmp(m->quar_backend, "database") == 0)
		return quar_db_read(st, m->mail_id, expect, data, len, err);
	return quar_read(quar_dir, m->quar_path, expect, data, len, err);
}

int quar_remove(const char *dir, const char *relpath, char **err)
{
	char *path, *dirpath;
	int rc = -1;

	if (!quar_relpath_safe(relpath))
		return quar_refuse(relpath, err);
	path = g_build_filename(dir, relpath, NULL);
	dirpath = g_path_get_dirname(path);
	if (unlink(path) < 0)
		quar_fail(err, "unlink", path);
	else
		rc = quar_fsync_dir(dirpath, err);
	g_free(path);
	g_free(dirpath);
	return rc;
}
