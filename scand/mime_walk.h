/*
 * mime_walk - every file in a message: MIME parts and archive members
 *
 * A struct mime_doc is one message for both walks below: GMime parses it
 * once, for the first walk that needs the tree, and only after counting
 * its parts in one pass over the bytes within that walk's max_parts, so a
 * part-count bomb costs a scan of its bytes, never a tree of millions of
 * parts. mime_doc_new() only records data/len (which must outlive the
 * doc); mime_doc_free() frees the tree. mime_doc_parts_over() is the count
 * alone, for a scanner that would parse the message its own way. A doc
 * is used by one thread at a time.
 *
 * mime_walk() calls fn once for every leaf part and, through libarchive,
 * for every member of an archive (zip, tar, 7z, rar, cab, cpio,
 * gzip/bzip2/xz-compressed files, ...) at any depth. For each item: the
 * declared file name (RFC 2047 and RFC 2231 decoded by GMime) and every
 * other name the part gives itself (a second filename or name parameter,
 * a Content-Type name that differs from the Content-Disposition
 * filename), the declared Content-Type (parts only), the real type by
 * libmagic of the decoded bytes, the depth and a display path
 * ("outer.zip/inner/evil.exe", "part 2" for an unnamed part).
 *
 * Bounds (struct mime_limits): MIME depth and part count, archive depth
 * and member count, bytes per member and decoded bytes in total. A bound
 * that trips, an archive that cannot be read, or a message GMime cannot
 * parse returns MIME_UNCHECKED with the reason in *why: the caller marks
 * the message UNCHECKED. Items seen before that were already reported.
 *
 * libmagic handles come from a pool made by mime_magic_pool_new() before
 * chroot (magic_load needs the database file); the pool is thread-safe.
 */
#ifndef GH_MIME_WALK_H
#define GH_MIME_WALK_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mime_item {
	const char *name;     /* declared file name, or NULL */
	/* every name the item declares, name first, NULL-terminated (empty
	 * when name is NULL): a mail client may show or save any of them */
	const char *const *names;
	const char *path;     /* display path, never NULL */
	const char *declared; /* declared Content-Type (lower case), NULL for archive members */
	const char *real;     /* libmagic MIME type, never NULL */
	int depth;            /* 0 = top-level part; +1 per multipart, message or archive level */
	bool in_archive;
};

struct mime_limits {
	int max_depth, max_parts;       /* [banned] */
	int max_arch_depth, max_files;  /* [clamav] max_recursion, max_files */
	int64_t max_file_size;          /* [clamav] max_file_size */
	int64_t max_total;              /* [clamav] max_scan_size */
	bool magic_for_text;            /* type text with libmagic too (see mime_walk.c) */
};

enum mime_result { MIME_OK = 0, MIME_UNCHECKED = 1 };

struct mime_magic_pool;
struct mime_doc;

struct mime_doc *mime_doc_new(const unsigned char *data, size_t len);
void mime_doc_free(struct mime_doc *d);
/* More than max_parts MIME parts? Counted in the bytes, nothing built. */
bool mime_doc_parts_over(struct mime_doc *d, int max_parts);

struct mime_magic_pool *mime_magic_pool_new(int handles, char **err);
void mime_magic_pool_free(struct mime_magic_pool *p);

typedef void (*mime_item_fn)(const struct mime_item *it, void *arg);

enum mime_result mime_walk(struct mime_doc *doc, const struct mime_limits *lim, struct mime_magic_pool *pool,
			   mime_item_fn fn, void *arg, GString *why);

/*
 * mime_leaves() gives every leaf part of a message, transfer-decoded in
 * full, to fn (the virus scan's parts, scan_clamav.c); fn returns false to
 * stop. Returns MIME_LEAVES_DONE, or MIME_LEAVES_WHOLE when the message
 * must go to libclamav whole instead, because GMime cannot parse it, it
 * nests deeper than lim->max_depth, has more than lim->max_parts parts or
 * more than lim->max_total decoded bytes (libclamav then applies its own
 * limits, as it always did), or holds what only libclamav's mail parser
 * decodes: uuencoded, BinHex or yEnc text inside a body, a TNEF part
 * (winmail.dat) or a message/partial. Some parts may have been given to
 * fn before MIME_LEAVES_WHOLE.
 */
enum mime_leaves_result { MIME_LEAVES_DONE = 0, MIME_LEAVES_WHOLE = 1 };
typedef bool (*mime_leaf_fn)(const unsigned char *data, size_t len, void *arg);

enum mime_leaves_result mime_leaves(struct mime_doc *doc, const struct mime_limits *lim, mime_leaf_fn fn,
				    void *arg);

#endif
