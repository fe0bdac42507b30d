/*
 * mime_walk - GMime tree walk and libarchive member listing
 * (see mime_walk.h)
 *
 * Functions: mime_doc_new, mime_doc_free, mime_doc_parts_over,
 * mime_magic_pool_new,
 * mime_magic_pool_free, mime_walk, mime_leaves.
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
 * level returns at once. GMime builds the tree of a message only after
 * mime_count_parts() found it within the walk's max_parts, and once per
 * message (struct mime_doc): the parts bound is a memory bound.
 */
#include "mime_walk.h"

#include <archive.h>
#include <archive_entry.h>
#include <gmime/gmime.h>
#include <magic.h>
#include <string.h>

#include "log.h"
#include "mailfmt.h"

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

/*
 * One message as both walks see it (struct mime_doc, see mime_walk.h).
 * Invariants: count is the number of parts counted against counted_to,
 * and when count > counted_to the count stopped there (the message has
 * more); msg is built at most once, only after a count within the caller's
 * bound, and its parts' contents are substreams reading through borrowed,
 * which only borrows data (never written to, never freed with it).
 */
struct mime_doc {
	const unsigned char *data;
	size_t len;
	int counted_to; /* -1: not counted yet */
	int count;
	bool parsed;
	GMimeMessage *msg; /* NULL when GMime could not make a message of it */
	GByteArray *borrowed;
};

struct mime_doc *mime_doc_new(const unsigned char *data, size_t len)
{
	struct mime_doc *d = g_new0(struct mime_doc, 1);
	d->data = data;
	d->len = len;
	d->counted_to = -1;
	return d;
}

void mime_doc_free(struct mime_doc *d)
{
	if (!d)
		return;
	if (d->msg)
		g_object_unref(d->msg);
	if (d->borrowed)
		g_byte_array_free(d->borrowed, FALSE); /* the wrapper only: the bytes are the caller's */
	g_free(d);
}

/* The end of the line at p (the '\n', or end), and the next line's start. */
static const unsigned char *count_eol(const unsigned char *p, const unsigned char *end,
				      const unsigned char **next)
{
	const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
	*next = nl ? nl + 1 : end;
	return nl ? nl : end;
}

/* Trailing CR, LF, spaces and tabs off [p, e): what GMime ignores after a
 * boundary (linear white space). */
static size_t count_trim(const unsigned char *p, const unsigned char *e)
{
	while (e > p && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return (size_t)(e - p);
}

/* "Content-Type" [WSP] ":" at the start of a line, any case: the value's
 * offset, or 0 when the line is not such a header. */
static size_t count_ct_header(const unsigned char *p, const unsigned char *e)
{
	static const char name[] = "content-type";
	size_t n = sizeof name - 1, i = n;
	if ((size_t)(e - p) <= n || g_ascii_strncasecmp((const char *)p, name, n) != 0)
		return 0;
	while (p + i < e && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return p + i < e && p[i] == ':' ? i + 1 : 0;
}

/*
 * A Content-Type header at p (value at offset off) with its folded lines,
 * parsed by GMime as its parser does: a boundary goes into bounds; a
 * message/... type nests a message, one more part without a boundary
 * line. Returns how many parts that counts, and moves *next past the
 * folded lines.
 */
static int count_ct(const unsigned char *p, size_t off, const unsigned char *end, const unsigned char **next,
		    GHashTable *bounds)
{
	const unsigned char *e = count_eol(p, end, next);
	while (*next < end && (**next == ' ' || **next == '\t'))
		e = count_eol(*next, end, next);
	char *value = g_strndup((const char *)p + off, (gsize)(e - p) - off);
	GMimeContentType *ct = g_mime_content_type_parse(NULL, value);
	g_free(value);
	if (!ct)
		return 0;
	const char *b = g_mime_content_type_get_parameter(ct, "boundary");
	if (b) { /* whatever the type: more boundaries only count more */
		size_t blen = count_trim((const unsigned char *)b, (const unsigned char *)b + strlen(b));
		g_hash_table_add(bounds, g_strndup(b, blen));
	}
	int n = g_mime_content_type_is_type(ct, "message", "*") ? 1 : 0;
	g_object_unref(ct);
	return n;
}

/* A line "--" boundary [WSP]: one more part (the closing "--" boundary
 * "--" starts none). */
static bool count_boundary(const unsigned char *p, const unsigned char *e, GHashTable *bounds)
{
	size_t n = count_trim(p, e);
	if (n < 2 || p[0] != '-' || p[1] != '-' || g_hash_table_size(bounds) == 0)
		return false;
	char *b = g_strndup((const char *)p + 2, n - 2);
	bool hit = g_hash_table_contains(bounds, b);
	g_free(b);
	return hit;
}

/*
 * Counts the parts GMime would build, in one pass over the bytes and
 * before it builds any: GMime's tree costs about 1.3 KB per part, 150
 * times the 9 bytes of an empty part ("--b" CRLF CRLF CRLF), so a message
 * of empty parts would take gigabytes. A part begins at a line "--"
 * boundary for a boundary that some multipart declares, or is the message
 * inside a message/... part. The count is an upper bound of what GMime
 * builds: every Content-Type line is read, header or not, and every
 * boundary counts wherever the line is, whatever the nesting (GMime only
 * sees the boundaries of the multiparts enclosing the line). Stops past
 * cap. More than cap + 1 different boundaries also stops it, as over:
 * real ones each belong to a multipart that is a part, and the set of
 * them is this pass's own memory.
 */
static int mime_count_parts(const unsigned char *data, size_t len, int cap)
{
	GHashTable *bounds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	const unsigned char *p = data, *end = data + len, *next;
	int n = 0;
	for (; p < end && n <= cap; p = next) {
		size_t off = *p == 'C' || *p == 'c' ? count_ct_header(p, end) : 0;
		if (off) {
			n += count_ct(p, off, end, &next, bounds);
			if (g_hash_table_size(bounds) > (guint)cap + 1)
				n = cap + 1;
			continue;
		}
		const unsigned char *e = count_eol(p, end, &next);
		if (*p == '-' && count_boundary(p, e, bounds))
			n++;
	}
	g_hash_table_destroy(bounds);
	return n;
}

/*
 * The parsed message for a walk bounded by max_parts: NULL with *over set
 * when the message has more parts than that (counted, not built), NULL
 * when GMime cannot make a message of it. Parsed once, whichever walk asks
 * first; the message is read in place through a GByteArray that borrows
 * the bytes, where g_mime_stream_mem_new_with_buffer() would copy them.
 */
bool mime_doc_parts_over(struct mime_doc *d, int max_parts)
{
	mailfmt_mime_init(); /* the count parses Content-Type values with GMime */
	if (d->counted_to < 0 || (d->count > d->counted_to && max_parts > d->counted_to)) {
		d->count = mime_count_parts(d->data, d->len, max_parts);
		d->counted_to = max_parts;
	}
	return d->count > max_parts;
}

static GMimeMessage *mime_doc_message(struct mime_doc *d, int max_parts, bool *over)
{
	*over = mime_doc_parts_over(d, max_parts);
	if (*over)
		return NULL;
	if (d->parsed)
		return d->msg;
	d->parsed = true;
	d->borrowed = g_byte_array_new_take((guint8 *)d->data, d->len);
	GMimeStream *s = g_mime_stream_mem_new_with_byte_array(d->borrowed);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	d->msg = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
	return d->msg;
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
	mailfmt_mime_init();
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
	const char *const names[] = {base, NULL};
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
				       .names = names,
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
	struct mime_item it = {
	    .name = base, .names = names, .path = path, .real = real, .depth = depth, .in_archive = true};
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

/* The filename and name parameters of one Content-Disposition or
 * Content-Type header value, as GMime decodes them (RFC 2231 values and
 * continuations, RFC 2047 words); GMime's parameter list keeps a
 * parameter given twice, where its get_parameter() gives the first. */
static void walk_header_names(const char *field, const char *raw, GPtrArray *names, GHashTable *seen)
{
	GObject *owner = NULL;
	GMimeParamList *pl = NULL;
	if (!g_ascii_strcasecmp(field, "Content-Disposition")) {
		GMimeContentDisposition *cd = g_mime_content_disposition_parse(NULL, raw);
		owner = G_OBJECT(cd);
		pl = cd ? g_mime_content_disposition_get_parameters(cd) : NULL;
	} else if (!g_ascii_strcasecmp(field, "Content-Type")) {
		GMimeContentType *ct = g_mime_content_type_parse(NULL, raw);
		owner = G_OBJECT(ct);
		pl = ct ? g_mime_content_type_get_parameters(ct) : NULL;
	}
	for (int i = 0; pl && i < g_mime_param_list_length(pl); i++) {
		GMimeParam *prm = g_mime_param_list_get_parameter_at(pl, i);
		const char *n = g_mime_param_get_name(prm), *v = g_mime_param_get_value(prm);
		if ((!g_ascii_strcasecmp(n, "filename") || !g_ascii_strcasecmp(n, "name")) && v && *v &&
		    g_hash_table_add(seen, g_strdup(v)))
			g_ptr_array_add(names, g_strdup(v));
	}
	if (owner)
		g_object_unref(owner);
}

/*
 * Every name a part gives itself, NULL-terminated: GMime's choice first
 * (the Content-Disposition filename, else the Content-Type name), then
 * each filename and name parameter of each Content-Disposition and
 * Content-Type header of the part, each name once. A part that says
 * filename="a.txt"; filename="a.exe", or whose name differs from its
 * filename, is judged by all of them: which one a client shows or saves
 * is the client's choice, so the most dangerous one must count.
 */
static GPtrArray *walk_names(GMimePart *part)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	const char *first = g_mime_part_get_filename(part);
	if (first && *first && g_hash_table_add(seen, g_strdup(first)))
		g_ptr_array_add(names, g_strdup(first));
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(part));
	for (int i = 0; hl && i < g_mime_header_list_get_count(hl); i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *raw = g_mime_header_get_raw_value(h);
		if (raw)
			walk_header_names(g_mime_header_get_name(h), raw, names, seen);
	}
	g_hash_table_destroy(seen);
	g_ptr_array_add(names, NULL);
	return names;
}

static void walk_part(struct walk *w, GMimePart *part, int depth)
{
	GPtrArray *names = walk_names(part);
	const char *name = names->pdata[0];
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
		struct mime_item it = {.name = name,
				       .names = (const char *const *)names->pdata,
				       .path = path,
				       .declared = declared,
				       .real = real,
				       .depth = depth};
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
	g_ptr_array_free(names, TRUE);
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

enum mime_result mime_walk(struct mime_doc *doc, const struct mime_limits *lim, struct mime_magic_pool *pool,
			   mime_item_fn fn, void *arg, GString *why)
{
	struct walk w = {.lim = lim, .pool = pool, .fn = fn, .arg = arg, .why = why};
	bool over;
	GMimeMessage *m = mime_doc_message(doc, lim->max_parts, &over);
	if (over)
		walk_bound(&w, "more than max_parts %d MIME parts (counted before parsing)", lim->max_parts);
	else if (!m)
		walk_bound(&w, "MIME structure could not be parsed");
	else
		walk_object(&w, g_mime_message_get_mime_part(m), 0);
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

enum mime_leaves_result mime_leaves(struct mime_doc *doc, const struct mime_limits *lim, mime_leaf_fn fn,
				    void *arg)
{
	if (leaves_inline_encoded(doc->data, doc->len))
		return MIME_LEAVES_WHOLE;
	bool over;
	GMimeMessage *m = mime_doc_message(doc, lim->max_parts, &over);
	if (!m)
		return MIME_LEAVES_WHOLE;
	struct leaves l = {.lim = lim, .fn = fn, .arg = arg, .buf = g_byte_array_new()};
	leaves_object(&l, g_mime_message_get_mime_part(m), 0);
	g_byte_array_free(l.buf, TRUE);
	return l.whole ? MIME_LEAVES_WHOLE : MIME_LEAVES_DONE;
}
