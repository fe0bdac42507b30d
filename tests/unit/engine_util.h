/*
 * engine_util - helpers shared by the engine unit tests (header only)
 *
 * eu_conf() writes an INI text to a temporary file and loads it through
 * the real conf_load(); eu_mail()/eu_mail_attach() build RFC 5322
 * messages with CRLF line ends; eu_zip() builds a zip archive in memory
 * with libarchive (optionally encrypted); eu_msg() wraps bytes in a
 * struct msg. Failures abort the test through cmocka's assertions.
 */
#ifndef GH_ENGINE_UTIL_H
#define GH_ENGINE_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <archive.h>
#include <archive_entry.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "test_util.h"
#include "scand/msg.h"
#include "scand/stage.h"

#define EU_UNUSED __attribute__((unused))
#define EU_EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#define EU_GTUBE "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

static EU_UNUSED const char *eu_root(void)
{
	const char *r = g_getenv("GH_ROOT");
	return r ? r : ".";
}

static EU_UNUSED struct conf *eu_conf(const char *ini)
{
	char *path = NULL;
	int fd = g_file_open_tmp("gh-conf-XXXXXX.conf", &path, NULL);
	assert_true(fd >= 0);
	close(fd);
	struct conf *c = tu_conf_at(path, ini);
	g_unlink(path);
	g_free(path);
	return c;
}

static EU_UNUSED GString *eu_mail(const char *extra_headers, const char *body)
{
	GString *s = g_string_new("From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
				  "Date: Sat, 21 Nov 2026 12:00:00 +0000\r\nMessage-ID: <t1@example.org>\r\n"
				  "Subject: test\r\nMIME-Version: 1.0\r\n");
	if (extra_headers)
		g_string_append(s, extra_headers);
	g_string_append(s, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	g_string_append(s, body);
	g_string_append(s, "\r\n");
	return s;
}

/* data in base64, 76 characters per CRLF-ended line. */
static EU_UNUSED void eu_append_base64(GString *s, const void *data, size_t len)
{
	char *b64 = g_base64_encode(data, len);
	for (size_t i = 0, n = strlen(b64); i < n; i += 76) {
		g_string_append_len(s, b64 + i, MIN((size_t)76, n - i));
		g_string_append(s, "\r\n");
	}
	g_free(b64);
}

/* A multipart/mixed message with one text part and one base64 attachment.
 * disposition is the whole Content-Disposition value (for RFC 2231 tests);
 * NULL means attachment; filename="name". */
static EU_UNUSED GString *eu_mail_attach(const char *name, const char *ctype, const char *disposition,
					 const void *data, size_t len)
{
	GString *s = g_string_new("From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
				  "Date: Sat, 21 Nov 2026 12:00:00 +0000\r\nMessage-ID: <t2@example.org>\r\n"
				  "Subject: attachment\r\nMIME-Version: 1.0\r\n"
				  "Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n"
				  "--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--BOUNDARY\r\n");
	g_string_append_printf(s, "Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\n", ctype);
	if (disposition)
		g_string_append_printf(s, "Content-Disposition: %s\r\n\r\n", disposition);
	else
		g_string_append_printf(s, "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", name);
	eu_append_base64(s, data, len);
	g_string_append(s, "--BOUNDARY--\r\n");
	return s;
}

/* A zip with one member; password non-NULL makes it encrypted (ZipCrypto). */
static EU_UNUSED GByteArray *eu_zip(const char *member, const void *data, size_t len, const char *password)
{
	size_t cap = len * 2 + 4096, used = 0;
	GByteArray *out = g_byte_array_sized_new((guint)cap);
	g_byte_array_set_size(out, (guint)cap);
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	if (password) {
		assert_int_equal(archive_write_set_options(a, "zip:encryption=zipcrypt"), ARCHIVE_OK);
		assert_int_equal(archive_write_set_passphrase(a, password), ARCHIVE_OK);
	}
	assert_int_equal(archive_write_open_memory(a, out->data, cap, &used), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, member);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	g_byte_array_set_size(out, (guint)used);
	return out;
}

/* A zip of a zip ... (levels >= 1) whose innermost member is member. */
static EU_UNUSED GByteArray *eu_zip_nested(const char *member, const void *data, size_t len, int levels)
{
	GByteArray *z = eu_zip(member, data, len, NULL);
	for (int i = 1; i < levels; i++) {
		GByteArray *o = eu_zip("inner.zip", z->data, z->len, NULL);
		g_byte_array_free(z, TRUE);
		z = o;
	}
	return z;
}

/* The first header to add that starts with prefix, or NULL. */
static EU_UNUSED const char *eu_find_header(struct msg *m, const char *prefix)
{
	for (guint i = 0; i < m->add_headers->len; i++)
		if (g_str_has_prefix(g_ptr_array_index(m->add_headers, i), prefix))
			return g_ptr_array_index(m->add_headers, i);
	return NULL;
}

/* Starts a stage with a config given as INI text; fails the test on error. */
static EU_UNUSED void *eu_stage_open(const struct stage *stage, const char *ini)
{
	struct conf *c = eu_conf(ini);
	void *st = NULL;
	char *err = NULL;
	if (stage->init(c, &st, &err) < 0)
		fail_msg("%s init: %s", stage->name, err);
	conf_free(c);
	return st;
}

static EU_UNUSED struct msg *eu_msg(const GString *s)
{
	struct msg *m = msg_new();
	m->data = (const unsigned char *)s->str;
	m->len = s->len;
	m->sender = g_strdup("alice@example.org");
	msg_add_rcpt(m, "bob@example.com");
	return m;
}

static EU_UNUSED bool eu_has(GPtrArray *a, const char *s)
{
	for (guint i = 0; i < a->len; i++)
		if (strcmp(g_ptr_array_index(a, i), s) == 0)
			return true;
	return false;
}

static EU_UNUSED char *eu_clam_conf(const char *extra_dirs, const char *extra)
{
	return g_strdup_printf("[clamav]\ndatabase_dirs = %s%s%s/signatures:/nonexistent/gh\n"
			       "reload_check_interval = 0\n%s\n",
			       extra_dirs ? extra_dirs : "", extra_dirs ? ":" : "", eu_root(), extra ? extra : "");
}

static EU_UNUSED int eu_spamd_port;
static EU_UNUSED char *eu_spamd_dir;
static EU_UNUSED bool eu_spamd_allow_tell; /* start it with --allow-tell (learning) */

static EU_UNUSED int eu_free_port(int *keep_fd)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	if (keep_fd)
		*keep_fd = fd;
	else
		close(fd);
	return ntohs(sin.sin_port);
}

static EU_UNUSED pid_t eu_spamd_pid(void)
{
	char *p = g_build_filename(eu_spamd_dir, "spamd.pid", NULL), *txt = NULL;
	pid_t pid = 0;
	if (g_file_get_contents(p, &txt, NULL, NULL))
		pid = (pid_t)atoi(txt);
	g_free(txt);
	g_free(p);
	return pid;
}

/* Starts a real spamd as root on a kernel-chosen port (cmocka group setup). */
static EU_UNUSED int eu_spamd_start(void **state)
{
	(void)state;
	struct passwd *pw = getpwnam("debian-spamd");
	if (!pw || geteuid() != 0) {
		fprintf(stderr, "spamd setup: needs root and the debian-spamd user\n");
		return -1;
	}
	eu_spamd_dir = g_dir_make_tmp("gh-spamd-XXXXXX", NULL);
	char *home = g_build_filename(eu_spamd_dir, "home", NULL);
	g_mkdir(home, 0700);
	if (chown(home, pw->pw_uid, pw->pw_gid) < 0 || chmod(eu_spamd_dir, 0755) < 0)
		return -1;
	eu_spamd_port = eu_free_port(NULL);
	char *listen = g_strdup_printf("127.0.0.1:%d", eu_spamd_port);
	char *pid = g_build_filename(eu_spamd_dir, "spamd.pid", NULL);
	char *log = g_build_filename(eu_spamd_dir, "spamd.log", NULL);
	char *argv[] = {"spamd", "-L", "-x", "--listen", listen, "-d", "-r", pid, "-s", log, "-u", "debian-spamd",
			"-H", home, "--max-children", "2", eu_spamd_allow_tell ? "--allow-tell" : NULL, NULL};
	GError *ge = NULL;
	int status = 0;
	gboolean ok = g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &ge);
	g_free(listen);
	g_free(pid);
	g_free(log);
	g_free(home);
	if (!ok || status != 0) {
		fprintf(stderr, "spamd setup: spamd did not start: %s\n", ge ? ge->message : "exit status");
		return -1;
	}
	/* ready when it answers PING */
	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)eu_spamd_port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		char buf[64] = "";
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    write(fd, "PING SPAMC/1.5\r\n\r\n", 18) == 18 && read(fd, buf, sizeof(buf) - 1) > 0 &&
		    strstr(buf, "PONG")) {
			close(fd);
			return 0;
		}
		close(fd);
		g_usleep(50000);
	}
	fprintf(stderr, "spamd setup: spamd not answering PING\n");
	return -1;
}

static EU_UNUSED int eu_spamd_stop(void **state)
{
	(void)state;
	pid_t pid = eu_spamd_pid();
	if (pid > 0) {
		kill(pid, SIGTERM);
		for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
			g_usleep(50000);
	}
	tu_rmtree(eu_spamd_dir);
	g_free(eu_spamd_dir);
	return 0;
}

#endif
