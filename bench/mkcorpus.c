/*
 * mkcorpus - write a seeded corpus of test messages for the benchmarks
 *
 * Usage: mkcorpus [-s SEED] [-n COUNT] [-p relay|mixed] -o DIR
 *
 * Writes DIR/msg-NNNNN.eml, CRLF line ends, deterministic for a seed (so
 * that two runs and two programs compare on the same mail). Profile
 * "relay" (the default) resembles ordinary mail for pass-through speed:
 * 60% small text (2-8 KiB), 30% with a base64 attachment (8-64 KiB), 10%
 * large (64-512 KiB). Profile "mixed" is what a content filter meets
 * (bench/compare, bench/soak): 67% text or HTML of 2-20 KiB, 25% with a
 * 50-500 KiB attachment, 3% EICAR attached, 2% EICAR in a zip, 3% a banned
 * attachment name. In both some lines start with a dot so that
 * dot-stuffing is exercised. Exits 1 on any write error.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <glib.h>
#include <stdbool.h>
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

/* ---- the mixed profile (-p mixed): the corpus of the scand against
 * amavisd-new comparison (README "Benchmarks") and of bench/soak ----
 * 67% text or HTML mail of 2-20 KiB (half multipart/alternative with an
 * HTML part), 25% with a 50-500 KiB attachment (pdf, docx, png names),
 * 3% an EICAR test file attached as eicar.com, 2% EICAR inside a zip,
 * 3% a banned attachment (an executable name or a double extension; the
 * content is harmless).
 * The virus profile (-p virus): the same, but half of the messages are
 * drawn again among the two EICAR kinds (about 52% viruses), for what
 * quarantining costs (bench/passthrough PROFILE=virus). */

/* The EICAR test string, kept in two halves so that this source file is
 * not itself a test-virus hit. */
static GString *eicar(void)
{
	GString *s = g_string_new("X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR");
	g_string_append(s, "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
	return s;
}

static void b64_part(GString *m, const char *type, const char *name, const void *data, size_t len)
{
	char *b = g_base64_encode(data, len);
	size_t n = strlen(b);
	g_string_append_printf(m,
			       "--gh-bench-boundary\r\nContent-Type: %s; name=\"%s\"\r\n"
			       "Content-Transfer-Encoding: base64\r\n"
			       "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n",
			       type, name, name);
	for (size_t i = 0; i < n; i += 76) {
		g_string_append_len(m, b + i, (gssize)MIN(76, n - i));
		g_string_append(m, "\r\n");
	}
	g_free(b);
}

/* A zip holding one member, built in memory with libarchive (fixed mtime:
 * the same seed gives the same bytes). NULL on a libarchive error. */
static GByteArray *zip_one(const char *member, const void *data, size_t len)
{
	GByteArray *out = NULL;
	size_t used = 0, cap = len + 4096;
	unsigned char *buf = g_malloc(cap);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, member);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, 1795000000, 0);
	if (archive_write_set_format_zip(a) == ARCHIVE_OK && archive_write_open_memory(a, buf, cap, &used) == ARCHIVE_OK &&
	    archive_write_header(a, e) == ARCHIVE_OK && archive_write_data(a, data, len) == (la_ssize_t)len &&
	    archive_write_close(a) == ARCHIVE_OK) {
		out = g_byte_array_new();
		g_byte_array_append(out, buf, (guint)used);
	}
	archive_entry_free(e);
	archive_write_free(a);
	g_free(buf);
	return out;
}

static void html_part(GString *m, size_t bytes)
{
	g_string_append(m, "--gh-bench-alt\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
			   "<html><head><title>bench</title></head><body>\r\n");
	size_t start = m->len;
	while (m->len - start < bytes) {
		g_string_append(m, "<p>");
		text_lines(m, rng_between(60, 300));
		g_string_append(m, "</p>\r\n");
	}
	g_string_append(m, "</body></html>\r\n--gh-bench-alt--\r\n");
}

static void random_bytes(GByteArray *b, size_t n)
{
	g_byte_array_set_size(b, (guint)n);
	for (size_t i = 0; i < n; i++)
		b->data[i] = (unsigned char)(rng() >> 24);
}

/* The body of a "kind" of the mixed profile after the common headers. */
static int message_mixed(GString *m, bool virus_heavy)
{
	unsigned kind = (unsigned)(rng() % 100);
	if (virus_heavy && rng() % 2) /* -p virus: half of the mail more is one of the EICAR kinds */
		kind %= 5;
	static const char *const att_names[] = {"report.pdf", "minutes.docx", "photo.png", "data.xlsx"};
	static const char *const att_types[] = {"application/pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
						"image/png", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"};
	static const char *const banned[] = {"invoice.pdf.exe", "setup.scr", "update.bat", "photo.jpg.vbs"};

	if (kind >= 33) { /* 67%: text or HTML, 2-20 KiB */
		size_t size = rng_between(2048, 20480);
		if (rng() % 2) {
			g_string_append(m, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
			text_lines(m, size);
			return 0;
		}
		g_string_append(m, "Content-Type: multipart/alternative; boundary=\"gh-bench-alt\"\r\n\r\n"
				   "--gh-bench-alt\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
		text_lines(m, size / 3);
		html_part(m, size * 2 / 3);
		return 0;
	}
	g_string_append(m, "Content-Type: multipart/mixed; boundary=\"gh-bench-boundary\"\r\n\r\n"
			   "--gh-bench-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
	text_lines(m, rng_between(1024, 6144));
	GByteArray *b = g_byte_array_new();
	if (kind < 3) { /* 3%: EICAR attached as is */
		GString *e = eicar();
		b64_part(m, "application/octet-stream", "eicar.com", e->str, e->len);
		g_string_free(e, TRUE);
	} else if (kind < 5) { /* 2%: EICAR in a zip */
		GString *e = eicar();
		GByteArray *z = zip_one("eicar.com", e->str, e->len);
		g_string_free(e, TRUE);
		if (!z)
			return -1;
		b64_part(m, "application/zip", "documents.zip", z->data, z->len);
		g_byte_array_free(z, TRUE);
	} else if (kind < 8) { /* 3%: a banned name, harmless content */
		random_bytes(b, rng_between(2048, 16384));
		b64_part(m, "application/octet-stream", banned[rng() % G_N_ELEMENTS(banned)], b->data, b->len);
	} else { /* 25%: a 50-500 KiB attachment */
		unsigned k = (unsigned)(rng() % G_N_ELEMENTS(att_names));
		random_bytes(b, rng_between(50 * 1024, 500 * 1024));
		b64_part(m, att_types[k], att_names[k], b->data, b->len);
	}
	g_byte_array_free(b, TRUE);
	g_string_append(m, "--gh-bench-boundary--\r\n");
	return 0;
}

static GString *message(unsigned idx, bool mixed, bool virus_heavy)
{
	GString *m = g_string_new("");
	g_string_append_printf(m,
			       "From: Sender %u <sender%u@example.org>\r\nTo: <rcpt%u@example.com>\r\n"
			       "Subject: bench message %u\r\nDate: Sat, 21 Nov 2026 12:00:00 +0000\r\n"
			       "Message-ID: <bench-%u@gh-bench>\r\nMIME-Version: 1.0\r\n",
			       idx % 50, idx % 50, idx % 20, idx, idx);
	if (mixed) {
		if (message_mixed(m, virus_heavy) < 0) {
			g_string_free(m, TRUE);
			return NULL;
		}
		return m;
	}
	unsigned kind = (unsigned)(rng() % 10);
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
	const char *dir = NULL, *profile = "relay";
	int opt;

	while ((opt = getopt(argc, argv, "s:n:o:p:")) != -1) {
		switch (opt) {
		case 'p': profile = optarg; break;
		case 's': seed = strtoul(optarg, NULL, 10); break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'o': dir = optarg; break;
		default: dir = NULL; optind = argc; break;
		}
	}
	bool virus_heavy = strcmp(profile, "virus") == 0;
	bool mixed = virus_heavy || strcmp(profile, "mixed") == 0;
	if (!dir || (!mixed && strcmp(profile, "relay") != 0)) {
		fprintf(stderr, "usage: mkcorpus [-s SEED] [-n COUNT] [-p relay|mixed|virus] -o DIR\n");
		return 2;
	}
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		fprintf(stderr, "mkcorpus: %s: %s\n", dir, g_strerror(errno));
		return 1;
	}
	for (unsigned long i = 0; i < count; i++) {
		GString *m = message((unsigned)i, mixed, virus_heavy);
		if (!m) {
			fprintf(stderr, "mkcorpus: cannot build a zip with libarchive\n");
			return 1;
		}
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
	printf("mkcorpus: %lu messages in %s (seed %lu, profile %s)\n", count, dir, seed, profile);
	return 0;
}
