/*
 * linktok - the signed, expiring action links of the recipients' digest
 *
 * A link token says "recipient R may do ACTION to message M until T":
 * the payload (R, M, T) in base64url, a dot, and HMAC-SHA256 (GLib's
 * GHmac) over (ACTION, R, M, T) with the site's secret key, base64url.
 * The action is not in the payload but in the link's path, so a token for
 * "view" checked as "release" fails like a tampered one.
 *
 * linktok_key_load()  reads [web] secret_file (64 hex digits); when it does
 *        not exist, creates it: 32 bytes from getrandom(), written to a
 *        temporary file (mode 0600, given to uid/gid when they are not -1),
 *        fsynced and link()ed into place, so that two programs creating
 *        it at once end up with one key (the loser reads the winner's).
 *        A key file that others may read or write is refused. 0 or -1 +
 *        *err.
 * linktok_make()      the token (g_free); NULL when R or M holds a control
 *        character, a space or a newline (no such link is ever made).
 * linktok_check()     0 and R, M, T when the token is well-formed, its MAC
 *        matches (compared in constant time) for ACTION and T >= now;
 *        LINKTOK_EXPIRED when only the time has passed; LINKTOK_BAD
 *        otherwise (malformed, tampered, other action, other key).
 * linktok_csrf()      the per-page token of a confirmation form:
 *        "ISSUED.MAC" over (the link token, ISSUED);
 * linktok_csrf_check() 0 when it matches the link token and was issued
 *        at most max_age seconds ago (and not in the future), else -1.
 */
#ifndef GH_LINKTOK_H
#define GH_LINKTOK_H

#include <stdint.h>
#include <sys/types.h>

#define LINKTOK_KEY_LEN 32
#define LINKTOK_MAX 1024 /* longest token accepted (an address is at most 254) */

struct linktok_key {
	unsigned char k[LINKTOK_KEY_LEN];
};

enum { LINKTOK_BAD = -1, LINKTOK_EXPIRED = -2 };

int linktok_key_load(const char *path, uid_t uid, gid_t gid, struct linktok_key *key, char **err);
char *linktok_make(const struct linktok_key *key, const char *rcpt, const char *mail_id, const char *action,
                   int64_t expiry);
int linktok_check(const struct linktok_key *key, const char *token, const char *action, int64_t now,
                  char **rcpt, char **mail_id, int64_t *expiry);
char *linktok_csrf(const struct linktok_key *key, const char *token, int64_t issued);
int linktok_csrf_check(const struct linktok_key *key, const char *token, const char *csrf, int64_t now,
                       int64_t max_age);

#endif
