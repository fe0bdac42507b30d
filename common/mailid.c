/*
 * mailid - random 12-character message ids (see mailid.h)
 */
#include "mailid.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

static const char mailid_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void mailid_new(char out[MAILID_LEN + 1])
{
	unsigned char rnd[MAILID_LEN];
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			msg_panic("getrandom: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	/* 64 symbols: each byte's low 6 bits are uniform. */
	for (int i = 0; i < MAILID_LEN; i++)
		out[i] = mailid_alphabet[rnd[i] & 63];
	out[MAILID_LEN] = '\0';
}

bool mailid_valid(const char *s)
{
	if (!s || strlen(s) != MAILID_LEN)
		return false;
	for (int i = 0; i < MAILID_LEN; i++)
		if (!strchr(mailid_alphabet, s[i]) || s[i] == '\0')
			return false;
	return true;
}
