/*
 * spool - message spool: memory, then an unlinked file (see spool.h)
 *
 * Functions: spool_new, spool_configure, spool_free, spool_reset, spool_write, spool_over,
 * spool_size, spool_in_file, spool_finish, spool_clean_dir.
 *
 * Invariants: while in memory, buf[0..len) is the message so far; once
 * moved to a file (fd >= 0), the file holds the message up to flen and
 * buf is used as a write buffer (buf[0..len) not yet written). The file
 * has no name from the moment it is created.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define SPOOL_PREFIX "scand-spool-"
#define SPOOL_WBUF (256 * 1024)
#define SPOOL_CLEAN_DEPTH                                                                                    \
	64 /* one open directory per level; libclamav nests about one per [clamav] max_recursion (14) */

struct spool {
	char *dir;
	size_t mem_limit;
	int64_t max_size;
	unsigned char *buf;
	size_t len, cap;
	int fd;
	size_t flen;
	int64_t total;
	void *map;
	size_t map_len;
};

struct spool *spool_new(const char *work_dir, size_t mem_limit, int64_t max_size)
{
	struct spool *sp = g_new0(struct spool, 1);
	sp->dir = g_strdup(work_dir);
	sp->mem_limit = mem_limit;
	sp->max_size = max_size;
	sp->fd = -1;
	return sp;
}

void spool_configure(struct spool *sp, const char *work_dir, size_t mem_limit, int64_t max_size)
{
	if (g_strcmp0(sp->dir, work_dir) != 0) {
		g_free(sp->dir);
		sp->dir = g_strdup(work_dir);
	}
	sp->mem_limit = mem_limit;
	sp->max_size = max_size;
}

void spool_reset(struct spool *sp)
{
	if (sp->map)
		munmap(sp->map, sp->map_len);
	sp->map = NULL;
	sp->map_len = 0;
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	sp->flen = 0;
	sp->len = 0;
	sp->total = 0;
	if (sp->cap > 4 * sp->mem_limit + SPOOL_WBUF) { /* do not keep a huge buffer around */
		g_free(sp->buf);
		sp->buf = NULL;
		sp->cap = 0;
	}
}

void spool_free(struct spool *sp)
{
	if (!sp)
		return;
	spool_reset(sp);
	g_free(sp->buf);
	g_free(sp->dir);
	g_free(sp);
}

bool spool_over(const struct spool *sp)
{
	return sp->total > sp->max_size;
}
int64_t spool_size(const struct spool *sp)
{
	return sp->total;
}
bool spool_in_file(const struct spool *sp)
{
	return sp->fd >= 0;
}

static int spool_flush(struct spool *sp, char **err)
{
	size_t off = 0;
	while (off < sp->len) {
		ssize_t w = write(sp->fd, sp->buf + off, sp->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			*err = g_strdup_printf("spool write in %s: %s", sp->dir,
			                       g_strerror(w < 0 ? errno : ENOSPC));
			return -1;
		}
		off += (size_t)w;
	}
	sp->flen += sp->len;
	sp->len = 0;
	return 0;
}

/* From memory to an unlinked file in work_dir. */
static int spool_to_file(struct spool *sp, char **err)
{
	char *path = g_build_filename(sp->dir, SPOOL_PREFIX "XXXXXX", NULL);
	int fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		*err = g_strdup_printf("spool file in %s: %s", sp->dir, g_strerror(errno));
		g_free(path);
		return -1;
	}
	unlink(path);
	g_free(path);
	sp->fd = fd;
	return spool_flush(sp, err);
}

static void spool_grow(struct spool *sp, size_t need)
{
	if (need <= sp->cap)
		return;
	size_t cap = sp->cap ? sp->cap : 64 * 1024;
	while (cap < need)
		cap *= 2;
	sp->buf = g_realloc(sp->buf, cap);
	sp->cap = cap;
}

int spool_write(struct spool *sp, const void *p, size_t n, char **err)
{
	sp->total += (int64_t)n;
	if (spool_over(sp) || n == 0)
		return 0;
	if (sp->fd < 0 && sp->len + n > sp->mem_limit && spool_to_file(sp, err) < 0)
		return -1;
	if (sp->fd >= 0 && sp->len + n > SPOOL_WBUF) {
		if (spool_flush(sp, err) < 0)
			return -1;
	}
	spool_grow(sp, sp->len + n);
	memcpy(sp->buf + sp->len, p, n);
	sp->len += n;
	return 0;
}

int spool_finish(struct spool *sp, const unsigned char **data, size_t *len, char **err)
{
	if (sp->fd < 0) {
		*data = sp->buf ? sp->buf : (const unsigned char *)"";
		*len = sp->len;
		return 0;
	}
	if (spool_flush(sp, err) < 0)
		return -1;
	sp->map = mmap(NULL, sp->flen, PROT_READ, MAP_PRIVATE, sp->fd, 0);
	if (sp->map == MAP_FAILED) {
		sp->map = NULL;
		*err = g_strdup_printf("spool mmap: %s", g_strerror(errno));
		return -1;
	}
	sp->map_len = sp->flen;
	*data = sp->map;
	*len = sp->flen;
	return 0;
}

/* libclamav's temporary names start with the time: "20261121_132842-"
 * ("...-scantemp.XXXX" directories of unpacked parts and files). It
 * removes them after each scan, but a killed scand leaves them behind in
 * work_dir (its default temp dir), and they add up crash after crash. */
static bool spool_clamav_leftover(const char *name)
{
	for (int i = 0; i < 16; i++) {
		bool digit = name[i] >= '0' && name[i] <= '9';
		if (i == 8 ? name[i] != '_' : i == 15 ? name[i] != '-' : !digit)
			return false;
	}
	return true;
}

/* A directory stream on name (in dfd), *st what was opened; NULL with errno. */
static DIR *spool_opendir_at(int dfd, const char *name, int flags, struct stat *st)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	DIR *d = fd >= 0 && fstat(fd, st) == 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

/* Removes name (in dfd) and what is below it, by descriptor: a symlink
 * is removed, never followed, and a directory of another file system
 * (something mounted there) is not entered. The work directory is the
 * daemon user's, who may swap a name for a link while we walk: each step
 * opens the name it removes under the descriptor of its parent, so no
 * step leaves the tree. 0 when name is gone; -1 with errno. */
static int spool_rm_at(int dfd, const char *name, dev_t dev, int depth)
{
	if (unlinkat(dfd, name, 0) == 0)
		return 0;
	if (errno != EISDIR)
		return -1;
	if (depth >= SPOOL_CLEAN_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	struct stat st;
	DIR *d = spool_opendir_at(dfd, name, O_NOFOLLOW, &st);
	if (!d)
		return -1;
	if (st.st_dev != dev) {
		closedir(d);
		errno = EXDEV;
		return -1;
	}
	int rc = 0, e = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (spool_rm_at(dirfd(d), de->d_name, dev, depth + 1) < 0 && rc == 0)
			rc = -1, e = errno;
	}
	closedir(d);
	if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		rc = -1, e = errno;
	errno = e;
	return rc;
}

int spool_clean_dir(const char *work_dir)
{
	struct stat st;
	DIR *d = spool_opendir_at(AT_FDCWD, work_dir, 0, &st);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		bool ours = strncmp(e->d_name, SPOOL_PREFIX, strlen(SPOOL_PREFIX)) == 0;
		if (!ours && !spool_clamav_leftover(e->d_name))
			continue;
		if (spool_rm_at(dirfd(d), e->d_name, st.st_dev, 0) == 0)
			n++;
		else
			msg_warn("work_dir %s: cannot remove %s: %s", work_dir, e->d_name, g_strerror(errno));
	}
	closedir(d);
	return n;
}
