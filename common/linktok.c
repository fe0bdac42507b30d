/*
 * linktok - signed, expiring digest links and their key (see linktok.h)
 *
 * The MAC input is the fields joined by newlines after a version label;
 * no field may hold a newline (linktok_make() refuses, and a payload that
 * splits into more or fewer than three fields is malformed), so two
 * different (action, recipient, id, time) never give the same input.
 */
#include "linktok.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINKTOK_LABEL "gatehouse-link-v1"

static void key_hex(const struct linktok_key *key, char out[2 * LINKTOK_KEY_LEN + 2])
{
	for (int i = 0; i < LINKTOK_KEY_LEN; i++)
		g_snprintf(out + 2 * i, 3, "%02x", key->k[i]);
	out[2 * LINKTOK_KEY_LEN] = '\n';
	out[2 * LINKTOK_KEY_LEN + 1] = '\0';
}

static int key_parse(const char *path, const char *text, size_t len, struct linktok_key *key, char **err)
{
	while (len && g_ascii_isspace(text[len - 1]))
		len--;
	if (len != 2 * LINKTOK_KEY_LEN) {
		*err = g_strdup_printf("%s: not a key (64 hex digits)", path);
		return -1;
	}
	for (int i = 0; i < LINKTOK_KEY_LEN; i++) {
		int hi = g_ascii_xdigit_value(text[2 * i]), lo = g_ascii_xdigit_value(text[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			*err = g_strdup_printf("%s: not a key (64 hex digits)", path);
			return -1;
		}
		key->k[i] = (unsigned char)(hi * 16 + lo);
	}
	return 0;
}

static int key_read(const char *path, struct linktok_key *key, char **err)
{
	char buf[256];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077)) {
		*err = g_strdup_printf(
		    "%s: the key file must be a regular file only its owner may read (mode 0600)", path);
		close(fd);
		errno = EPERM;
		return -1;
	}
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		*err = g_strdup_printf("%s: %s", path, g_strerror(errno));
		return -1;
	}
	return key_parse(path, buf, (size_t)n, key, err);
}

static int key_create(const char *path, uid_t uid, gid_t gid, struct linktok_key *key, char **err)
{
	char hex[2 * LINKTOK_KEY_LEN + 2];
	char *tmp = g_strdup_printf("%s.XXXXXX", path);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600), rc = -1;
	if (fd < 0) {
		*err = g_strdup_printf("%s: cannot create: %s", path, g_strerror(errno));
		g_free(tmp);
		return -1;
	}
	for (size_t got = 0; got < sizeof(key->k);) {
		ssize_t n = getrandom(key->k + got, sizeof(key->k) - got, 0);
		if (n < 0 && errno != EINTR)
			goto done;
		got += n > 0 ? (size_t)n : 0;
	}
	key_hex(key, hex);
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) < 0 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0))
		goto done;
	if (link(tmp, path) == 0) {
		char *dir = g_path_get_dirname(path);
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		g_free(dir);
		rc = 0;
	} else if (errno == EEXIST) {
		rc = 1; /* another program made it first: use theirs */
	}
done:
	if (rc < 0)
		*err = g_strdup_printf("%s: cannot create: %s", path, g_strerror(errno));
	close(fd);
	unlink(tmp);
	g_free(tmp);
	return rc;
}

int linktok_key_load(const char *path, uid_t uid, gid_t gid, struct linktok_key *key, char **err)
{
	*err = NULL;
	if (key_read(path, key, err) == 0)
		return 0;
	if (*err || errno != ENOENT) {
		if (!*err)
			*err = g_strdup_printf("%s: %s", path, g_strerror(errno));
		return -1;
	}
	int rc = key_create(path, uid, gid, key, err);
	if (rc == 1 && key_read(path, key, err) < 0 && !*err)
		*err = g_strdup_printf("%s: %s", path, g_strerror(errno));
	return rc < 0 || (rc == 1 && *err) ? -1 : 0;
}

static char *b64url(const void *data, size_t len)
{
	char *s = g_base64_encode(data, len);
	size_t n = strlen(s);
	while (n && s[n - 1] == '=')
		s[--n] = '\0';
	for (char *c = s; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	return s;
}

/* NULL when s is not base64url (no padding). */
static guchar *b64url_decode(const char *s, size_t n, gsize *out_len)
{
	if (n % 4 == 1)
		return NULL;
	GString *std = g_string_sized_new(n + 3);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!g_ascii_isalnum(c) && c != '-' && c != '_') {
			g_string_free(std, TRUE);
			return NULL;
		}
		g_string_append_c(std, c == '-' ? '+' : c == '_' ? '/' : c);
	}
	while (std->len % 4)
		g_string_append_c(std, '=');
	guchar *d = g_base64_decode(std->str, out_len);
	g_string_free(std, TRUE);
	return d;
}

static char *mac_b64(const struct linktok_key *key, const char *text)
{
	guint8 d[32];
	gsize dl = sizeof(d);
	GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, key->k, sizeof(key->k));
	g_hmac_update(h, (const guchar *)text, (gssize)strlen(text));
	g_hmac_get_digest(h, d, &dl);
	g_hmac_unref(h);
	return b64url(d, dl);
}

static bool field_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 320)
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c <= 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* Equal strings, in time that depends on the lengths only. */
static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static char *mac_input(const char *action, const char *rcpt, const char *mail_id, int64_t expiry)
{
	return g_strdup_printf(LINKTOK_LABEL "\n%s\n%s\n%s\n%" G_GINT64_FORMAT, action, rcpt, mail_id,
	                       expiry);
}

char *linktok_make(const struct linktok_key *key, const char *rcpt, const char *mail_id, const char *action,
                   int64_t expiry)
{
	if (!field_ok(rcpt) || !field_ok(mail_id) || !field_ok(action))
		return NULL;
	char *payload = g_strdup_printf("%s\n%s\n%" G_GINT64_FORMAT, rcpt, mail_id, expiry);
	char *p64 = b64url(payload, strlen(payload));
	char *in = mac_input(action, rcpt, mail_id, expiry);
	char *mac = mac_b64(key, in);
	char *tok = g_strdup_printf("%s.%s", p64, mac);
	g_free(payload);
	g_free(p64);
	g_free(in);
	g_free(mac);
	return tok;
}

int linktok_check(const struct linktok_key *key, const char *token, const char *action, int64_t now,
                  char **rcpt, char **mail_id, int64_t *expiry)
{
	const char *dot = strchr(token, '.');
	gsize plen = 0;
	guchar *payload = NULL;
	char **f = NULL;
	int rc = LINKTOK_BAD;

	*rcpt = *mail_id = NULL;
	if (!dot || strlen(token) > LINKTOK_MAX || !field_ok(action))
		return LINKTOK_BAD;
	if (!(payload = b64url_decode(token, (size_t)(dot - token), &plen)) || memchr(payload, '\0', plen))
		goto done;
	/* only the canonical encoding: a changed unused low bit of the last
	 * character decodes to the same bytes and must still count as tampering */
	char *again = b64url(payload, plen);
	bool canonical = strlen(again) == (size_t)(dot - token) && strncmp(again, token, strlen(again)) == 0;
	g_free(again);
	if (!canonical)
		goto done;
	char *text = g_strndup((const char *)payload, plen);
	f = g_strsplit(text, "\n", 4);
	g_free(text);
	if (g_strv_length(f) != 3 || !field_ok(f[0]) || !field_ok(f[1]) || !field_ok(f[2]))
		goto done;
	char *end = NULL;
	int64_t t = g_ascii_strtoll(f[2], &end, 10);
	if (!end || *end)
		goto done;
	char *in = mac_input(action, f[0], f[1], t);
	char *mac = mac_b64(key, in);
	bool ok = same(mac, dot + 1);
	g_free(in);
	g_free(mac);
	if (!ok)
		goto done;
	if (t < now) {
		rc = LINKTOK_EXPIRED;
		goto done;
	}
	*rcpt = g_strdup(f[0]);
	*mail_id = g_strdup(f[1]);
	*expiry = t;
	rc = 0;
done:
	g_free(payload);
	g_strfreev(f);
	return rc;
}

char *linktok_csrf(const struct linktok_key *key, const char *token, int64_t issued)
{
	char *in = g_strdup_printf(LINKTOK_LABEL "\ncsrf\n%s\n%" G_GINT64_FORMAT, token, issued);
	char *mac = mac_b64(key, in);
	char *out = g_strdup_printf("%" G_GINT64_FORMAT ".%s", issued, mac);
	g_free(in);
	g_free(mac);
	return out;
}

int linktok_csrf_check(const struct linktok_key *key, const char *token, const char *csrf, int64_t now,
                       int64_t max_age)
{
	char *end = NULL;
	if (!csrf || strlen(csrf) > 128)
		return -1;
	int64_t issued = g_ascii_strtoll(csrf, &end, 10);
	if (!end || *end != '.' || end == csrf || issued > now || now - issued > max_age)
		return -1;
	char *want = linktok_csrf(key, token, issued);
	bool ok = same(want, csrf);
	g_free(want);
	return ok ? 0 : -1;
}
