/*
 * scan_banned - the banned-content stage
 *
 * scan_banned_stage is a struct stage (stage.h). scan() walks every MIME
 * part and archive member (mime_walk.h) and applies the [banned] rules:
 * the extension list, double extensions (invoice.pdf.exe), executable
 * content (PE, ELF, Mach-O by libmagic) whatever the name says, and the
 * MIME-type list against both the declared and the real type. File names
 * are compared after trailing dots and spaces are removed (Windows ignores
 * them). A hit -> CAT_BANNED, engine "banned", and one entry per hit in
 * msg->banned_names: the name ("report.pdf.exe", "outer.zip/evil.exe") or
 * the name with the type that banned it ("notes.txt (application/x-dosexec)"),
 * made printable. Every declared name also goes to msg->attach_names for
 * the per-recipient attach= lists (policy.h).
 *
 * A bound ([banned] max_depth, max_parts; [clamav] max_recursion,
 * max_files, max_file_size, max_scan_size) or unparsable MIME ->
 * CAT_UNCHECKED with the reason, STAGE_UNCHECKED.
 *
 * scan_banned_name() applies the name rules alone (tests, policy): it
 * returns the reason ("extension .exe", "double extension") or NULL.
 */
#ifndef GH_SCAN_BANNED_H
#define GH_SCAN_BANNED_H

#include "stage.h"

extern const struct stage scan_banned_stage;

const char *scan_banned_name(void *state, const char *name);

#endif
