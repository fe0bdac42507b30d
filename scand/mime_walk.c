/*
 * mime_walk - GMime tree walk and libarchive member listing
 * (see mime_walk.h)
 *
 * Functions: mime_magic_pool_new, mime_magic_pool_free, mime_walk,
 * mime_leaves.
 *
 * Why libarchive and not libclamav's file-inspection callback: the banned
 * check must work when [clamav] enabled = no, the callback is marked
 * unstable in clamav.h and loses zip member directories, and libarchive
 * gives us the member name before any byte is decompressed, so a bound
 * can stop a zip bomb early. libclamav still unpacks everything itself
 * for the virus scan.
 *
 * Invariants: struct walk counts parts, members and decoded bytes for the
 * whole message; the first bound that trips sets walk->why and every
 * level returns at once.
 */
#include "mime_walk.h"

#include <archive.h>
#include <archive_entry.h>
#include <gmime/gmime.h>
#include <magic.h>
#include <string.h>

#include "log.h"

#define MIME_MAGIC_BYTES ((size_t)64 * 1024)
/* Text, encoding, CSV, JSON and token checks cost regex time on every text
 * part and decide nothing the default rules ban on. With a text type among
 * the banned ones (lim->magic_for_text) the text and encoding checks are on:
 * libmagic's text/x-msdos-batch and the like come only from them. */
#define MIME_MAGIC_FLAGS                                                                                     \
	(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_TEXT | MAGIC_NO_CHECK_ENCODING | MAGIC_NO_CHECK_CSV |              \
	 MAGIC_NO_CHECK_JSON | MAGIC_NO_CHECK_TOKENS)

struct mime_magic_pool {
	GAsyncQueue *q;
	int n;
	GMappedFile *db; /* the compiled magic database, shared by every handle */
};

struct walk {
	const struct mime_limits *lim;
	struct mime_magic_pool *pool;
	mime_item_fn fn;
	void *arg;
	int parts, files;
	int64_t total;
	GString *why;
	bool stop;
};

static void mime_gmime_init(void)
{
	static gsize done;
	if (g_once_init_enter(&done)) {
		g_mime_init();
		g_once_init_leave(&done, 1);
	}
}

/*
 * The message parsed in place: GMime's memory stream reads the caller's
 * bytes through a GByteArray that only borrows them (never written to,
 * never freed with it), where g_mime_stream_mem_new_with_buffer() would
 * copy the whole message for each walk. The parts' contents are
 * substreams reading through *borrowed, so the caller frees it with
 * mime_parse_done() after the message, and data must outlive both. NULL
 * (and *borrowed freed) when GMime cannot make a message of it.
 */
static GMimeMessage *mime_parse(const unsigned char *data, size_t len, GByteArray **borrowed)
{
	mime_gmime_init();
	*borrowed = g_byte_array_new_take((guint8 *)data, len);
	GMimeStream *s = g_mime_stream_mem_new_with_byte_array(*borrowed);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
	if (!m) {
		g_byte_array_free(*borrowed, FALSE);
		*borrowed = NULL;
	}
	return m;
}

static void mime_parse_done(GMimeMessage *m, GByteArray *borrowed)
{
	g_object_unref(m);
	g_byte_array_free(borrowed, FALSE); /* the wrapper only: the bytes are the caller's */
}

/* Maps the compiled magic database once: every handle loads from this one
 * read-only mapping (magic_load_buffers) instead of mapping its own copy of
 * the 8 MB file, which counted once per handle in scand's RSS. The path
 * list is libmagic's own ($MAGIC or /etc/magic:/usr/share/misc/magic);
 * the first "<entry>.mgc" that maps wins. NULL when none does: the handles
 * then load the default way. */
static GMappedFile *mime_magic_db(void)
{
	char **v = g_strsplit(magic_getpath(NULL, 0), ":", -1);
	GMappedFile *f = NULL;
	for (char **p = v; *p && !f; p++) {
		if (!**p)
			continue;
		char *mgc = g_str_has_suffix(*p, ".mgc") ? g_strdup(*p) : g_strconcat(*p, ".mgc", NULL);
		f = g_mapped_file_new(mgc, FALSE, NULL);
		g_free(mgc);
	}
	g_strfreev(v);
	return f;
}

struct mime_magic_pool *mime_magic_pool_new(int handles, char **err)
{
	mime_gmime_init();
	struct mime_magic_pool *p = g_new0(struct mime_magic_pool, 1);
	p->q = g_async_queue_new();
	p->db = mime_magic_db();
	void *buf = p->db ? g_mapped_file_get_contents(p->db) : NULL;
	size_t size = p->db ? g_mapped_file_get_length(p->db) : 0;
	for (int i = 0; i < handles; i++) {
		magic_t mg = magic_open(MIME_MAGIC_FLAGS);
		if (!mg || (buf ? magic_load_buffers(mg, &buf, &size, 1) : magic_load(mg, NULL)) != 0) {
			*err = g_strdup_printf("libmagic: %s", mg ? magic_error(mg) : "magic_open failed");
			if (mg)
				magic_close(mg);
			mime_magic_pool_free(p);
			return NULL;
		}
		g_async_queue_push(p->q, mg);
		p->n++;
	}
	return p;
}

void mime_magic_pool_free(struct mime_magic_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++)
		magic_close(g_async_queue_pop(p->q));
	g_async_queue_unref(p->q);
	if (p->db)
		g_mapped_file_unref(p->db);
	g_free(p);
}

/*
 * Plain text needs no libmagic: a magic_buffer() call walks the whole soft
 * magic list, about 400 us whatever the size, and most parts of a mail are
 * text bodies. Executables, archives, documents and images all carry bytes
 * below 0x20 (NULs in their headers) in their first 64 KiB, so a buffer
 * without such bytes is text; those starting like a script, a PDF, an RTF
 * or markup still go to libmagic, which knows those. The result is the
 * declared text type when there is one, else text/plain. NULL: ask libmagic.
 * When a banned type is a text type (text/x-msdos-batch, say: libmagic
 * finds "@echo off" in plain text), lim->magic_for_text turns this off.
 */
static const char *mime_text_type(const unsigned char *p, size_t len, const char *declared)
{
	static const char *const ask[] = {"#!", "%PDF", "{\\rtf", "<?xml"};
	size_t n = MIN(len, MIME_MAGIC_BYTES);
	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' && p[i] != '\f' &&
		     p[i] != 0x1b) ||
		    p[i] == 0x7f)
			return NULL;
	for (size_t i = 0; i < G_N_ELEMENTS(ask); i++)
		if (n >= strlen(ask[i]) && !memcmp(p, ask[i], strlen(ask[i])))
			return NULL;
	if (declared && g_str_has_prefix(declared, "text/"))
		return declared;
	return n > 0 && p[0] == '<' ? NULL : "text/plain";
}

/* The real type of a buffer; g_free the result. declared may be NULL. */
static char *mime_magic(struct walk *w, const void *buf, size_t len, const char *declared)
{
	if (len == 0)
		return g_strdup("application/x-empty");
	const char *text = w->lim->magic_for_text ? NULL : mime_text_type(buf, len, declared);
	if (text)
		return g_strdup(text);
	struct mime_magic_pool *p = w->pool;
	magic_t mg = g_async_queue_pop(p->q);
	/* The first 64 KiB decide every type we ban on (executables, archives,
	 * documents: their magic is near the start). */
	if (w->lim->magic_for_text)
		magic_setflags(mg, MIME_MAGIC_FLAGS & ~(MAGIC_NO_CHECK_TEXT | MAGIC_NO_CHECK_ENCODING));
	const char *t = magic_buffer(mg, buf, MIN(len, MIME_MAGIC_BYTES));
	char *r = g_strdup(t ? t : "application/octet-stream");
	if (w->lim->magic_for_text)
		magic_setflags(mg, MIME_MAGIC_FLAGS);
	g_async_queue_push(p->q, mg);
	return r;
}

static bool walk_bound(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool walk_bound(struct walk *w, const char *fmt, ...)
{
	if (!w->stop) {
		va_list ap;
		va_start(ap, fmt);
		g_string_append_vprintf(w->why, fmt, ap);
		va_end(ap);
	}
	w->stop = true;
	return true;
}

static bool mime_is_archive(const char *type)
{
	static const char *const types[] = {"application/zip",
					    "application/x-tar",
					    "application/gzip",
					    "application/x-gzip",
					    "application/x-bzip2",
					    "application/x-xz",
					    "application/x-7z-compressed",
					    "application/x-rar",
					    "application/vnd.rar",
					    "application/x-rar-compressed",
					    "application/vnd.ms-cab-compressed",
					    "application/x-cpio",
					    "application/x-archive",
					    "application/x-iso9660-image",
					    "application/java-archive",
					    "application/x-lzh-compressed",
					    "application/x-lzip",
					    "application/x-lzma",
					    "application/zstd",
					    "application/x-compress",
					    "application/x-xar",
					    "application/x-lha"};
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

static void walk_buffer(struct walk *w, const void *buf, size_t len, const char *path, int depth, int adepth);

/* Reads one member into memory, bounded by max_file_size and max_total. */
static GByteArray *walk_read_member(struct walk *w, struct archive *a, const char *path)
{
	GByteArray *b = g_byte_array_new();
	char chunk[16384];
	for (;;) {
		la_ssize_t n = archive_read_data(a, chunk, sizeof(chunk));
		if (n == 0)
			return b;
		if (n < 0) {
			walk_bound(w, "cannot read %s: %s", path, archive_error_string(a));
			break;
		}
		w->total += n;
		if ((int64_t)b->len + n > w->lim->max_file_size) {
			walk_bound(w, "%s: larger than max_file_size %lld", path,
				   (long long)w->lim->max_file_size);
			break;
		}
		if (w->total > w->lim->max_total) {
			walk_bound(w, "more than max_scan_size %lld bytes unpacked",
				   (long long)w->lim->max_total);
			break;
		}
		g_byte_array_append(b, (const guint8 *)chunk, (guint)n);
	}
	g_byte_array_free(b, TRUE);
	return NULL;
}

static void walk_member(struct walk *w, struct archive *a, struct archive_entry *e, const char *apath,
			int depth, int adepth)
{
	const char *mname = archive_entry_pathname_utf8(e);
	if (!mname)
		mname = archive_entry_pathname(e);
	char *path = g_strdup_printf("%s/%s", apath, mname ? mname : "?");
	const char *base = mname ? strrchr(mname, '/') : NULL;
	base = base ? base + 1 : mname;
	if (++w->files > w->lim->max_files) {
		walk_bound(w, "more than max_files %d archive members", w->lim->max_files);
		goto out;
	}
	if (archive_entry_filetype(e) != AE_IFREG)
		goto out;
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > w->lim->max_file_size) {
		walk_bound(w, "%s: larger than max_file_size %lld", path, (long long)w->lim->max_file_size);
		goto out;
	}
	if (archive_entry_is_encrypted(e)) {
		struct mime_item it = {.name = base,
				       .path = path,
				       .real = "application/octet-stream",
				       .depth = depth,
				       .in_archive = true};
		w->fn(&it, w->arg); /* the name is readable; the content is libclamav's concern */
		goto out;
	}
	GByteArray *b = walk_read_member(w, a, path);
	if (!b)
		goto out;
	char *real = mime_magic(w, b->data, b->len, NULL);
	struct mime_item it = {.name = base, .path = path, .real = real, .depth = depth, .in_archive = true};
	w->fn(&it, w->arg);
	if (mime_is_archive(real))
		walk_buffer(w, b->data, b->len, path, depth + 1, adepth + 1);
	g_free(real);
	g_byte_array_free(b, TRUE);
out:
	g_free(path);
}

/* Lists an archive (or a compressed file) held in memory. */
static void walk_buffer(struct walk *w, const void *buf, size_t len, const char *path, int depth, int adepth)
{
	if (w->stop)
		return;
	if (adepth > w->lim->max_arch_depth) {
		walk_bound(w, "%s: archives nested deeper than %d", path, w->lim->max_arch_depth);
		return;
	}
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	archive_read_support_format_raw(a); /* a lone compressed file: one member, "data" */
	if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK) {
		walk_bound(w, "%s: unreadable archive: %s", path, archive_error_string(a));
		archive_read_free(a);
		return;
	}
	struct archive_entry *e;
	int rc;
	while (!w->stop && (rc = archive_read_next_header(a, &e)) == ARCHIVE_OK)
		walk_member(w, a, e, path, depth, adepth);
	if (!w->stop && rc != ARCHIVE_EOF)
		walk_bound(w, "%s: damaged archive: %s", path, archive_error_string(a));
	archive_read_free(a);
}

static GByteArray *walk_decode(GMimePart *part)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(part);
	GByteArray *b = g_byte_array_new();
	if (!dw)
		return b;
	GMimeStream *ms = g_mime_stream_mem_new_with_byte_array(b);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(ms), FALSE);
	g_mime_data_wrapper_write_to_stream(dw, ms);
	g_object_unref(ms);
	return b;
}

/*
 * The first `limit` bytes of a part, decoded: libmagic needs no more, and
 * decoding whole attachments that are not archives was most of GMime's
 * share of a scan. *complete says whether that is all of the part; when it
 * is not, *est is an upper bound of the decoded size (3/4 of the base64 or
 * uuencoded text, the length of anything else).
 */
static GByteArray *walk_decode_head(GMimePart *part, size_t limit, bool *complete, int64_t *est)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(part);
	GMimeStream *raw = dw ? g_mime_data_wrapper_get_stream(dw) : NULL;
	gint64 rawlen = raw ? g_mime_stream_length(raw) : -1;

	*complete = true;
	*est = 0;
	if (!raw || rawlen < 0 || (guint64)rawlen <= limit)
		return walk_decode(part); /* small (or of unknown length): all of it */
	GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(dw);
	bool coded = enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
		     enc == GMIME_CONTENT_ENCODING_UUENCODE;
	GMimeEncoding st;
	GByteArray *b = g_byte_array_new();
	char in[4096];
	ssize_t n = 0;

	g_mime_encoding_init_decode(&st, enc);
	g_mime_stream_reset(raw);
	while (b->len < limit && (n = g_mime_stream_read(raw, in, sizeof(in))) > 0) {
		guint old = b->len;
		if (!coded) {
			g_byte_array_append(b, (const guint8 *)in, (guint)n);
			continue;
		}
		g_byte_array_set_size(b, old + (guint)g_mime_encoding_outlen(&st, (size_t)n));
		g_byte_array_set_size(
		    b, old + (guint)g_mime_encoding_step(&st, in, (size_t)n, (char *)b->data + old));
	}
	g_mime_stream_reset(raw);
	if (n < 0) { /* a read error: let the data wrapper decode it as before */
		g_byte_array_free(b, TRUE);
		return walk_decode(part);
	}
	if (n == 0) { /* the end came first (base64 of a part just over the limit): that is all */
		if (coded) {
			guint old = b->len;
			g_byte_array_set_size(b, old + (guint)g_mime_encoding_outlen(&st, 0));
			g_byte_array_set_size(
			    b, old + (guint)g_mime_encoding_flush(&st, "", 0, (char *)b->data + old));
		}
		return b;
	}
	*complete = false;
	*est = enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_UUENCODE
		   ? rawlen / 4 * 3 + 3
		   : rawlen;
	return b;
}

static void walk_part(struct walk *w, GMimePart *part, int depth)
{
	const char *name = g_mime_part_get_filename(part);
	char *ct = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(GMIME_OBJECT(part)));
	char *declared = g_ascii_strdown(ct, -1);
	g_free(ct);
	char *path = name ? g_strdup(name) : g_strdup_printf("part %d", w->parts);
	bool complete;
	int64_t est;
	GByteArray *b = walk_decode_head(part, MIME_MAGIC_BYTES, &complete, &est);
	if (!complete && w->total + est > w->lim->max_total) { /* near the bound: count exactly */
		g_byte_array_free(b, TRUE);
		b = walk_decode(part);
		complete = true;
	}
	w->total += complete ? (int64_t)b->len : est;
	if (w->total > w->lim->max_total) {
		walk_bound(w, "more than max_scan_size %lld bytes decoded", (long long)w->lim->max_total);
	} else {
		char *real = mime_magic(w, b->data, b->len, declared);
		struct mime_item it = {
		    .name = name, .path = path, .declared = declared, .real = real, .depth = depth};
		w->fn(&it, w->arg);
		if (mime_is_archive(real)) {
			if (!complete) { /* an archive is listed from all of it */
				g_byte_array_free(b, TRUE);
				b = walk_decode(part);
			}
			walk_buffer(w, b->data, b->len, path, depth + 1, 1);
		}
		g_free(real);
	}
	g_byte_array_free(b, TRUE);
	g_free(path);
	g_free(declared);
}

static void walk_object(struct walk *w, GMimeObject *o, int depth)
{
	if (w->stop || !o)
		return;
	if (depth > w->lim->max_depth) {
		walk_bound(w, "MIME nesting deeper than max_depth %d", w->lim->max_depth);
		return;
	}
	if (++w->parts > w->lim->max_parts) {
		walk_bound(w, "more than max_parts %d MIME parts", w->lim->max_parts);
		return;
	}
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		for (int i = 0; i < g_mime_multipart_get_count(mp) && !w->stop; i++)
			walk_object(w, g_mime_multipart_get_part(mp, i), depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (inner)
			walk_object(w, g_mime_message_get_mime_part(inner), depth + 1);
	} else if (GMIME_IS_PART(o)) {
		walk_part(w, GMIME_PART(o), depth);
	}
}

enum mime_result mime_walk(const unsigned char *data, size_t len, const struct mime_limits *lim,
			   struct mime_magic_pool *pool, mime_item_fn fn, void *arg, GString *why)
{
	struct walk w = {.lim = lim, .pool = pool, .fn = fn, .arg = arg, .why = why};
	GByteArray *borrowed;
	GMimeMessage *m = mime_parse(data, len, &borrowed);
	if (!m) {
		walk_bound(&w, "MIME structure could not be parsed");
	} else {
		walk_object(&w, g_mime_message_get_mime_part(m), 0);
		mime_parse_done(m, borrowed);
	}
	return w.stop ? MIME_UNCHECKED : MIME_OK;
}

/* The leaf walk for the virus scan: one buffer reused for every part. */
struct leaves {
	const struct mime_limits *lim;
	mime_leaf_fn fn;
	void *arg;
	GByteArray *buf;
	int parts;
	int64_t total;
	bool whole, stop;
};

/* "644 " or "0644 ": the mode of a uuencode begin line. */
static bool leaves_octal_mode(const unsigned char *p, size_t left)
{
	size_t n = 0;
	while (n < left && n < 4 && p[n] >= '0' && p[n] <= '7')
		n++;
	return n >= 3 && n < left && p[n] == ' ';
}

/* Encodings libclamav's mail parser finds inside a body and GMime does
 * not: a uuencode "begin 644 name" line, BinHex's banner, a yEnc header. */
static bool leaves_inline_encoded(const unsigned char *data, size_t len)
{
	static const char binhex[] = "(This file must be converted with BinHex";
	const unsigned char *p = data, *end = data + len;
	if (memmem(data, len, binhex, sizeof binhex - 1))
		return true;
	while ((p = memchr(p, '\n', (size_t)(end - p))) && ++p < end) {
		size_t left = (size_t)(end - p);
		if ((left > 10 && memcmp(p, "begin ", 6) == 0 && leaves_octal_mode(p + 6, left - 6)) ||
		    (left > 8 && memcmp(p, "=ybegin ", 8) == 0))
			return true;
	}
	return false;
}

static bool leaves_is_tnef(GMimePart *part)
{
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	const char *name = g_mime_part_get_filename(part);
	return (sub &&
		(g_ascii_strcasecmp(sub, "ms-tnef") == 0 || g_ascii_strcasecmp(sub, "vnd.ms-tnef") == 0)) ||
	       (name && g_ascii_strcasecmp(name, "winmail.dat") == 0);
}

static void leaves_object(struct leaves *l, GMimeObject *o, int depth)
{
	if (l->stop || !o)
		return;
	if (depth > l->lim->max_depth || ++l->parts > l->lim->max_parts || GMIME_IS_MESSAGE_PARTIAL(o)) {
		l->whole = l->stop = true;
		return;
	}
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		for (int i = 0; i < g_mime_multipart_get_count(mp) && !l->stop; i++)
			leaves_object(l, g_mime_multipart_get_part(mp, i), depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (inner)
			leaves_object(l, g_mime_message_get_mime_part(inner), depth + 1);
	} else if (GMIME_IS_PART(o)) {
		GMimePart *part = GMIME_PART(o);
		GMimeDataWrapper *dw = g_mime_part_get_content(part);
		if (leaves_is_tnef(part)) {
			l->whole = l->stop = true;
			return;
		}
		g_byte_array_set_size(l->buf, 0);
		if (dw) {
			GMimeStream *ms = g_mime_stream_mem_new_with_byte_array(l->buf);
			g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(ms), FALSE);
			g_mime_data_wrapper_write_to_stream(dw, ms);
			g_object_unref(ms);
		}
		l->total += l->buf->len;
		if (l->total > l->lim->max_total) {
			l->whole = l->stop = true;
			return;
		}
		if (!l->fn(l->buf->data, l->buf->len, l->arg))
			l->stop = true;
	}
}

enum mime_leaves_result mime_leaves(const unsigned char *data, size_t len, const struct mime_limits *lim,
				    mime_leaf_fn fn, void *arg)
{
	if (leaves_inline_encoded(data, len))
		return MIME_LEAVES_WHOLE;
	struct leaves l = {.lim = lim, .fn = fn, .arg = arg, .buf = g_byte_array_new()};
	GByteArray *borrowed;
	GMimeMessage *m = mime_parse(data, len, &borrowed);
	if (!m) {
		l.whole = true;
	} else {
		leaves_object(&l, g_mime_message_get_mime_part(m), 0);
		mime_parse_done(m, borrowed);
	}
	g_byte_array_free(l.buf, TRUE);
	return l.whole ? MIME_LEAVES_WHOLE : MIME_LEAVES_DONE;
}
