/*
 * mkcorpus - write a seeded corpus of test messages for the benchmarks
 *
 * Usage: mkcorpus [-s SEED] [-n COUNT] -o DIR
 *
 * Writes DIR/msg-NNNNN.eml, CRLF line ends, deterministic for a seed (so
 * that two runs and two programs compare on the same mail). The size mix
 * resembles ordinary mail: 60% small text (2-8 KiB), 30% with a base64
 * attachment (8-64 KiB), 10% large (64-512 KiB); some lines start with a
 * dot so that dot-stuffing is exercised. Exits 1 on any write error.
 */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t rng(void) /* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static size_t rng_between(size_t lo, size_t hi)
{
	return lo + (size_t)(rng() % (hi - lo + 1));
}

static const char *const words[] = {"the", "report", "meeting", "invoice", "quarterly", "numbers", "please",
				    "find", "attached", "regards", "tomorrow", "project", "budget", "review",
				    "mail", "server", "filter", "thanks", "update", "schedule"};

static void text_lines(GString *m, size_t bytes)
{
	size_t start = m->len;
	while (m->len - start < bytes) {
		if (rng() % 20 == 0)
			g_string_append_c(m, '.'); /* a line the client must dot-stuff */
		size_t n = rng_between(5, 14);
		for (size_t i = 0; i < n; i++)
			g_string_append_printf(m, "%s%s", i ? " " : "", words[rng() % G_N_ELEMENTS(words)]);
		g_string_append(m, "\r\n");
	}
}

static void attachment(GString *m, size_t bytes)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	g_string_append(m, "--gh-bench-boundary\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n"
			   "Content-Transfer-Encoding: base64\r\n"
			   "Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n");
	for (size_t done = 0; done < bytes; done += 76) {
		for (int i = 0; i < 76; i++)
			g_string_append_c(m, b64[rng() % 64]);
		g_string_append(m, "\r\n");
	}
	g_string_append(m, "--gh-bench-boundary--\r\n");
}

static GString *message(unsigned idx)
{
	GString *m = g_string_new("");
	unsigned kind = (unsigned)(rng() % 10);
	g_string_append_printf(m,
			       "From: Sender %u <sender%u@example.org>\r\nTo: <rcpt%u@example.com>\r\n"
			       "Subject: bench message %u\r\nDate: Sat, 21 Nov 2026 12:00:00 +0000\r\n"
			       "Message-ID: <bench-%u@gh-bench>\r\nMIME-Version: 1.0\r\n",
			       idx % 50, idx % 50, idx % 20, idx, idx);
	if (kind < 6) {
		g_string_append(m, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
		text_lines(m, rng_between(2048, 8192));
		return m;
	}
	g_string_append(m, "Content-Type: multipart/mixed; boundary=\"gh-bench-boundary\"\r\n\r\n"
			   "--gh-bench-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
	text_lines(m, rng_between(512, 2048));
	attachment(m, kind < 9 ? rng_between(6 * 1024, 48 * 1024) : rng_between(48 * 1024, 384 * 1024));
	return m;
}

int main(int argc, char **argv)
{
	unsigned long seed = 42, count = 200;
	const char *dir = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "s:n:o:")) != -1) {
		switch (opt) {
		case 's': seed = strtoul(optarg, NULL, 10); break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'o': dir = optarg; break;
		default: dir = NULL; optind = argc; break;
		}
	}
	if (!dir) {
		fprintf(stderr, "usage: mkcorpus [-s SEED] [-n COUNT] -o DIR\n");
		return 2;
	}
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		fprintf(stderr, "mkcorpus: %s: %s\n", dir, g_strerror(errno));
		return 1;
	}
	for (unsigned long i = 0; i < count; i++) {
		GString *m = message((unsigned)i);
		char name[64];
		snprintf(name, sizeof(name), "msg-%05lu.eml", i);
		char *path = g_build_filename(dir, name, NULL);
		GError *e = NULL;
		if (!g_file_set_contents(path, m->str, (gssize)m->len, &e)) {
			fprintf(stderr, "mkcorpus: %s\n", e->message);
			return 1;
		}
		g_free(path);
		g_string_free(m, TRUE);
	}
	printf("mkcorpus: %lu messages in %s (seed %lu)\n", count, dir, seed);
	return 0;
}
